/* The cart domain: validation, the apply function, events, and the aggregate
 * operations the replays use. Pure computation: no I/O. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cart.h"

static const char *const action_names[CART_ACTIONS] = {"Insert", "SetOwner", "AddItem",
                                                       "RemoveItem", "Delete"};
static const char *const event_names[EV_TYPES] = {"CartCreated", "OwnerChanged", "ItemAdded",
                                                  "ItemRemoved", "CartDeleted",  "CartCorrected"};

const char *cart_action_name(cart_action_t a)
{
    return a < CART_ACTIONS ? action_names[a] : "?";
}

const char *cart_event_name(cart_event_type_t t)
{
    return t < EV_TYPES ? event_names[t] : "?";
}

rv_err_t cart_event_type_parse(const char *s, cart_event_type_t *out)
{
    for (int i = 0; i < EV_TYPES; i++)
        if (s && strcmp(s, event_names[i]) == 0) {
            *out = (cart_event_type_t)i;
            return RV_OK;
        }
    return RV_ERR_DECODE;
}

static rv_err_t parse_uuid_field(const char *field, const char *s, rv_uuid_t *out,
                                 rv_error_t **errp)
{
    rv_error_t *e = NULL;
    if (!s) s = "";
    if (rv_uuid_parse(s, strnlen(s, 64), out, &e) != RV_OK) {
        rv_err_t rc =
            rv_error_set(errp, RV_ERR_DECODE, false, "ShoppingCartCmd.%s: \"%.36s\" is %s", field,
                         s, rv_error_msg(e));
        rv_error_destroy(e);
        return rc;
    }
    return RV_OK;
}

rv_err_t cart_cmd_from_wire(const cart_wire_cmd_t *w, cart_cmd_t *out, rv_error_t **errp)
{
    memset(out, 0, sizeof(*out));
    int a = -1;
    for (int i = 0; i < CART_ACTIONS; i++)
        if (w->action && strcmp(w->action, action_names[i]) == 0) a = i;
    if (a < 0)
        return rv_error_set(
            errp, RV_ERR_DECODE, false,
            "ShoppingCartCmd.action: unknown action \"%.64s\" (expected Insert, SetOwner, "
            "AddItem, RemoveItem or Delete)",
            w->action ? w->action : "");
    out->action = (cart_action_t)a;
    if (parse_uuid_field("cartId", w->cart_id, &out->cart_id, errp) != RV_OK) return RV_ERR_DECODE;
    if (out->action != CART_DELETE &&
        parse_uuid_field("ownerOrItem", w->owner_or_item, &out->arg, errp) != RV_OK)
        return RV_ERR_DECODE;
    if (out->action == CART_ADD_ITEM || out->action == CART_REMOVE_ITEM) {
        if (!w->has_count)
            return rv_error_set(errp, RV_ERR_DECODE, false, "ShoppingCartCmd.count: missing for %s",
                                action_names[a]);
        if (w->count < 1)
            return rv_error_set(errp, RV_ERR_DECODE, false,
                                "ShoppingCartCmd.count: %d for %s, must be >= 1", (int)w->count,
                                action_names[a]);
        out->count = w->count;
    }
    return RV_OK;
}

void cart_cmd_to_wire(const cart_cmd_t *c, cart_wire_buf_t *b)
{
    memset(b, 0, sizeof(*b));
    snprintf(b->action, sizeof(b->action), "%s", action_names[c->action]);
    rv_uuid_format(&c->cart_id, b->cart_id);
    rv_uuid_format(&c->arg, b->owner_or_item);
    b->w.action = b->action;
    b->w.cart_id = b->cart_id;
    b->w.owner_or_item = b->owner_or_item;
    b->w.has_count = c->action == CART_ADD_ITEM || c->action == CART_REMOVE_ITEM;
    b->w.count = c->count;
}

void cart_state_init(cart_state_t *s)
{
    memset(s, 0, sizeof(*s));
    s->version = -1;
}

static size_t find_item(const cart_state_t *s, const rv_uuid_t *item, bool *found)
{
    size_t lo = 0, hi = s->n_items;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = rv_uuid_compare(&s->items[mid].item, item);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

int32_t cart_state_item(const cart_state_t *s, const rv_uuid_t *item)
{
    bool found;
    size_t i = find_item(s, item, &found);
    return found ? s->items[i].count : 0;
}

bool cart_state_equal(const cart_state_t *a, const cart_state_t *b)
{
    if (a->exists != b->exists) return false;
    if (!a->exists) return true;
    if (a->deleted != b->deleted || a->version != b->version ||
        !rv_uuid_equal(&a->owner, &b->owner) || a->n_items != b->n_items)
        return false;
    for (size_t i = 0; i < a->n_items; i++)
        if (!rv_uuid_equal(&a->items[i].item, &b->items[i].item) ||
            a->items[i].count != b->items[i].count)
            return false;
    return true;
}

static bool add_item(cart_state_t *s, const rv_uuid_t *item, int64_t delta)
{
    bool found;
    size_t i = find_item(s, item, &found);
    if (found) {
        int64_t v = s->items[i].count + delta;
        if (v > INT32_MAX) v = INT32_MAX;
        if (v <= 0) {
            memmove(&s->items[i], &s->items[i + 1], (s->n_items - i - 1) * sizeof(cart_item_t));
            s->n_items--;
        } else {
            s->items[i].count = (int32_t)v;
        }
        return true;
    }
    if (delta <= 0) return true; /* removing what is not there leaves nothing to remove */
    if (s->n_items == CART_MAX_ITEMS) return false;
    memmove(&s->items[i + 1], &s->items[i], (s->n_items - i) * sizeof(cart_item_t));
    s->items[i].item = *item;
    s->items[i].count = delta > INT32_MAX ? INT32_MAX : (int32_t)delta;
    s->n_items++;
    return true;
}

bool cart_apply(cart_state_t *s, const cart_cmd_t *c)
{
    bool live = s->exists && !s->deleted;
    switch (c->action) {
    case CART_INSERT:
        s->version = s->exists ? s->version + 1 : 0;
        s->exists = true;
        s->deleted = false;
        s->owner = c->arg;
        s->n_items = 0;
        return true;
    case CART_SET_OWNER:
        if (!live) return false;
        s->owner = c->arg;
        break;
    case CART_ADD_ITEM:
        if (!live || c->count < 1 || !add_item(s, &c->arg, c->count)) return false;
        break;
    case CART_REMOVE_ITEM:
        if (!live || c->count < 1) return false;
        add_item(s, &c->arg, -(int64_t)c->count);
        break;
    case CART_DELETE:
        if (!live) return false;
        s->deleted = true;
        s->n_items = 0;
        break;
    default:
        return false;
    }
    s->version++;
    return true;
}

void cart_event_from_cmd(const cart_cmd_t *c, const rv_uuid_t *event_id, int32_t partition,
                         int64_t offset, int64_t ts_ms, cart_event_t *out)
{
    static const cart_event_type_t types[CART_ACTIONS] = {
        EV_CART_CREATED, EV_OWNER_CHANGED, EV_ITEM_ADDED, EV_ITEM_REMOVED, EV_CART_DELETED};
    memset(out, 0, sizeof(*out));
    out->type = types[c->action];
    out->cart_id = c->cart_id;
    out->event_id = *event_id;
    out->arg = c->arg;
    out->count = c->action == CART_ADD_ITEM      ? c->count
                 : c->action == CART_REMOVE_ITEM ? -c->count
                                                 : 0;
    out->partition = partition;
    out->offset = offset;
    out->ts_ms = ts_ms;
}

void cart_cmd_from_event(const cart_event_t *e, cart_cmd_t *out)
{
    static const cart_action_t actions[EV_TYPES] = {CART_INSERT,      CART_SET_OWNER, CART_ADD_ITEM,
                                                    CART_REMOVE_ITEM, CART_DELETE,    CART_INSERT};
    memset(out, 0, sizeof(*out));
    out->action = actions[e->type];
    out->cart_id = e->cart_id;
    out->arg = e->arg;
    out->count = e->count < 0 ? -e->count : e->count;
}

/* ---------------------------------------------- the aggregate for replays */

static void agg_init(void *state, void *opaque)
{
    cart_state_init(state);
}

static rv_err_t agg_apply(void *state, const void *event, bool correction, void *opaque,
                          rv_error_t **errp)
{
    const cart_event_t *e = event;
    if (correction || e->type == EV_CART_CORRECTED) {
        if (!e->snapshot)
            return rv_error_set(errp, RV_ERR_DECODE, false,
                                "CartCorrected event without its state");
        rv_positions_t keep = ((cart_state_t *)state)->applied;
        int64_t revision = ((cart_state_t *)state)->revision;
        *(cart_state_t *)state = *e->snapshot;
        ((cart_state_t *)state)->applied = keep;
        ((cart_state_t *)state)->revision = revision;
        return RV_OK;
    }
    cart_cmd_t c;
    cart_cmd_from_event(e, &c);
    cart_apply(state, &c);
    return RV_OK;
}

static bool agg_equal(const void *a, const void *b, void *opaque)
{
    return cart_state_equal(a, b);
}

static void agg_clear(void *state, void *opaque) {}

const rv_aggregate_ops_t cart_aggregate_ops = {sizeof(cart_state_t), agg_init, agg_apply, agg_equal,
                                               agg_clear};

/* ----------------------------------------------------------- text forms */

size_t cart_items_format(const cart_state_t *s, char *out, size_t cap)
{
    size_t len = 0;
    if (cap) out[0] = '\0';
    for (size_t i = 0; i < s->n_items; i++) {
        char id[37];
        rv_uuid_format(&s->items[i].item, id);
        int n = snprintf(out + (len < cap ? len : cap), len < cap ? cap - len : 0, "%s%s:%d",
                         i ? "," : "", id, (int)s->items[i].count);
        if (n > 0) len += (size_t)n;
    }
    return len;
}

rv_err_t cart_items_parse(const char *text, cart_state_t *s, rv_error_t **errp)
{
    s->n_items = 0;
    const char *p = text;
    while (p && *p) {
        rv_uuid_t id;
        if (strlen(p) < 38 || p[36] != ':' || rv_uuid_parse(p, 36, &id, NULL) != RV_OK)
            return rv_error_set(errp, RV_ERR_DECODE, false,
                                "items \"%.80s\": bad item at \"%.40s\"", text, p);
        char *end;
        long n = strtol(p + 37, &end, 10);
        if (end == p + 37 || (*end != ',' && *end) || n < 1 || n > INT32_MAX)
            return rv_error_set(errp, RV_ERR_DECODE, false,
                                "items \"%.80s\": bad count at \"%.40s\"", text, p);
        if (!add_item(s, &id, n))
            return rv_error_set(errp, RV_ERR_OVERFLOW, false, "items: more than %d",
                                CART_MAX_ITEMS);
        p = *end ? end + 1 : end;
    }
    return RV_OK;
}

char *cart_state_json(const rv_uuid_t *cart_id, const cart_state_t *s)
{
    char id[37], owner[37];
    rv_uuid_format(cart_id, id);
    rv_uuid_format(&s->owner, owner);
    size_t cap = 256 + s->n_items * 64;
    char *out = malloc(cap);
    if (!out) return NULL;
    if (!s->exists) {
        snprintf(out, cap, "{\"cartId\":\"%s\",\"exists\":false}", id);
        return out;
    }
    size_t len = (size_t)snprintf(
        out, cap, "{\"cartId\":\"%s\",\"owner\":\"%s\",\"version\":%lld,\"deleted\":%s,\"items\":{",
        id, owner, (long long)s->version, s->deleted ? "true" : "false");
    for (size_t i = 0; i < s->n_items; i++) {
        char item[37];
        rv_uuid_format(&s->items[i].item, item);
        len += (size_t)snprintf(out + len, cap - len, "%s\"%s\":%d", i ? "," : "", item,
                                (int)s->items[i].count);
    }
    snprintf(out + len, cap - len, "}}");
    return out;
}

/* A cart's whole state as one line, for the CartCorrected row's snapshot:
 * "exists|deleted|owner|version|items". */
char *cart_snapshot_format(const cart_state_t *st)
{
    size_t cap = CART_MAX_ITEMS * 50 + 128;
    char *out = malloc(cap);
    if (!out) return NULL;
    char owner[37];
    rv_uuid_format(&st->owner, owner);
    int n = snprintf(out, cap, "%d|%d|%s|%lld|", st->exists, st->deleted, owner,
                     (long long)st->version);
    cart_items_format(st, out + n, cap - (size_t)n);
    return out;
}

rv_err_t cart_snapshot_parse(const char *text, cart_state_t *st)
{
    cart_state_init(st);
    int exists, deleted, off = 0;
    char owner[37];
    long long version;
    if (!text ||
        sscanf(text, "%d|%d|%36[^|]|%lld|%n", &exists, &deleted, owner, &version, &off) != 4)
        return RV_ERR_DECODE;
    st->exists = exists;
    st->deleted = deleted;
    st->version = version;
    if (rv_uuid_parse(owner, strlen(owner), &st->owner, NULL) != RV_OK) return RV_ERR_DECODE;
    return cart_items_parse(text + off, st, NULL);
}

uint64_t cart_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void cart_correction_event(const rv_uuid_t *cart_id, const rv_uuid_t *event_id, cart_event_t *out)
{
    *out = (cart_event_t){.type = EV_CART_CORRECTED,
                          .cart_id = *cart_id,
                          .event_id = *event_id,
                          .partition = -1,
                          .offset = -1,
                          .ts_ms = (int64_t)cart_wall_ms()};
}
