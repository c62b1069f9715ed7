/* The query side's subcommands: query cart|events|duplicates, compensate, rebuild. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"

typedef struct q {
    app_t *a;
    bool done;
    int rc;
    size_t count;
} q_t;

static bool parse_id(const char *s, rv_uuid_t *id)
{
    rv_error_t *err = NULL;
    if (!s || rv_uuid_parse(s, strlen(s), id, &err) != RV_OK) {
        fprintf(stderr, "rivulet-cart: cart id \"%s\": %s\n", s ? s : "",
                err ? rv_error_msg(err) : "missing");
        rv_error_destroy(err);
        return false;
    }
    return true;
}

static void print_cart(rv_error_t *err, const cart_state_t *st, void *opaque)
{
    q_t *q = opaque;
    q->done = true;
    if (err) {
        q->rc = app_fail(APP_FAILED, "query cart", err);
        return;
    }
    rv_uuid_t id;
    parse_id(q->a->args[1], &id);
    char *json = cart_state_json(&id, st);
    printf("%s\n", json ? json : "{}");
    free(json);
    if (!st->exists) q->rc = APP_MISMATCH; /* scripts can tell "no such cart" */
}

static void print_events(rv_error_t *err, cart_row_t *rows, size_t n, void *opaque)
{
    q_t *q = opaque;
    q->done = true;
    if (err) {
        q->rc = app_fail(APP_FAILED, "query events", err);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        char t[37], id[37], arg[37];
        rv_uuid_format(&rows[i].time, t);
        rv_uuid_format(&rows[i].ev.event_id, id);
        rv_uuid_format(&rows[i].ev.arg, arg);
        printf("{\"time\":\"%s\",\"timeMs\":%" PRIu64
               ",\"eventId\":\"%s\",\"type\":\"%s\",\"ownerOrItem\":\"%s\","
               "\"count\":%d,\"partition\":%d,\"offset\":%" PRId64 "%s}\n",
               t, rv_timeuuid_unix_ms(&rows[i].time), id, cart_event_name(rows[i].ev.type), arg,
               (int)rows[i].ev.count, (int)rows[i].ev.partition, rows[i].ev.offset,
               rows[i].correction ? ",\"correction\":true" : "");
    }
    q->count = n;
}

static void print_report(rv_error_t *err, cart_report_t *r, void *opaque)
{
    q_t *q = opaque;
    if (err) {
        q->done = true;
        q->rc = app_fail(APP_FAILED, NULL, err);
        return;
    }
    char id[37];
    rv_uuid_format(&r->cart_id, id);
    const char *cmd = q->a->args[0] ? q->a->args[0] : "";
    if (strcmp(cmd, "duplicates") == 0) {
        for (size_t i = 0; i < r->n_dups; i++) {
            char e[37];
            rv_uuid_format(&r->dups[i].event_id, e);
            printf("{\"cartId\":\"%s\",\"eventId\":\"%s\",\"count\":%zu}\n", id, e,
                   r->dups[i].count);
        }
    }
    q->count++;
}

typedef struct all {
    q_t *q;
    const char *what;
    bool rebuild;
} all_t;

/* Per-cart line for compensate and rebuild. opaque is the all_t of the walk. */
static void print_check(rv_error_t *err, cart_report_t *r, void *opaque)
{
    q_t *q = ((all_t *)opaque)->q;
    if (err || !r) return;
    char id[37];
    rv_uuid_format(&r->cart_id, id);
    if (r->corrected)
        printf(
            "{\"cartId\":\"%s\",\"compensated\":true,\"duplicateEvents\":%zu,\"version\":%" PRId64
            "}\n",
            id, r->n_dups, r->expected.version);
    else if (!r->table_ok || !r->ledger_ok)
        printf("{\"cartId\":\"%s\",\"tableMatchesCommands\":%s,\"logMatchesCommands\":%s,"
               "\"tableMatchesLog\":%s}\n",
               id, r->table_ok ? "true" : "false", r->ledger_ok ? "true" : "false",
               cart_state_equal(&r->table, &r->ledger) ? "true" : "false");
    q->count++;
}

static void all_done(rv_error_t *err, const cart_totals_t *t, void *opaque)
{
    all_t *al = opaque;
    q_t *q = al->q;
    q->done = true;
    if (err) {
        q->rc = app_fail(APP_FAILED, al->what, err);
        return;
    }
    fprintf(stderr,
            "rivulet-cart: %s: %zu carts, %zu with duplicates (%zu event ids, %zu extra rows), %zu "
            "tables and %zu "
            "logs differ from their commands, %zu compensated\n",
            al->what, t->carts, t->carts_with_dups, t->dup_events, t->extra_rows, t->table_differs,
            t->ledger_differs, t->corrected);
    if (al->rebuild) {
        /* Rebuild's verdict: the fold of the log must equal the table. */
        q->rc = (t->table_differs || t->ledger_differs) ? APP_MISMATCH : APP_OK;
    }
}

static void one_done(rv_error_t *err, cart_report_t *r, void *opaque)
{
    all_t *al = opaque;
    print_check(err, r, al);
    cart_totals_t t = {0};
    if (r) {
        t.carts = 1;
        t.carts_with_dups = r->n_dups > 0;
        t.dup_events = r->n_dups;
        t.table_differs = !r->table_ok;
        t.ledger_differs = !r->ledger_ok;
        t.corrected = r->corrected;
        for (size_t i = 0; i < r->n_dups; i++)
            t.extra_rows += r->dups[i].count - 1;
    }
    if (r && strcmp(al->what, "duplicates") == 0) print_report(NULL, r, al->q);
    all_done(err, &t, al);
    cart_report_free(r);
}

static void dup_each(rv_error_t *err, cart_report_t *r, void *opaque)
{
    all_t *al = opaque;
    print_report(err, r, al->q);
}

static int with_store(app_t *a, int (*fn)(app_t *, cart_store_t *, uv_loop_t *))
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    rv_error_t *err = NULL;
    cart_store_t *s = app_open_store(a, &loop, &err);
    if (!s) {
        uv_loop_close(&loop);
        return app_fail(APP_FAILED, "store", err);
    }
    int rc = fn(a, s, &loop);
    app_close_store(s, &loop);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    return rc;
}

static int do_query(app_t *a, cart_store_t *s, uv_loop_t *loop)
{
    q_t q = {.a = a};
    const char *what = a->nargs > 0 ? a->args[0] : "";
    rv_uuid_t id;
    if (strcmp(what, "cart") == 0 || strcmp(what, "events") == 0) {
        if (a->nargs != 2 || !parse_id(a->args[1], &id)) return APP_USAGE;
        if (what[0] == 'c')
            s->ops->get_cart(s, &id, print_cart, &q);
        else
            s->ops->get_events(s, &id, a->since_ms, print_events, &q);
        app_wait(loop, &q.done);
        return q.rc;
    }
    if (strcmp(what, "duplicates") == 0) {
        all_t al = {&q, "duplicates", false};
        if (a->nargs == 2) {
            if (!parse_id(a->args[1], &id)) return APP_USAGE;
            cart_check(s, &id, one_done, &al);
        } else if (a->nargs == 1) {
            cart_check_all(s, false, dup_each, all_done, &al);
        } else {
            return APP_USAGE;
        }
        app_wait(loop, &q.done);
        return q.rc;
    }
    fprintf(stderr, "rivulet-cart: query what? (cart ID | events ID | duplicates [ID])\n");
    return APP_USAGE;
}

static int check(app_t *a, cart_store_t *s, uv_loop_t *loop, bool compensate)
{
    q_t q = {.a = a};
    all_t al = {&q, compensate ? "compensate" : "rebuild", !compensate};
    rv_uuid_t id;
    if (a->nargs == 1) {
        if (!parse_id(a->args[0], &id)) return APP_USAGE;
        if (compensate)
            cart_compensate(s, &id, one_done, &al);
        else
            cart_check(s, &id, one_done, &al);
    } else if (a->nargs == 0) {
        cart_check_all(s, compensate, print_check, all_done, &al);
    } else {
        fprintf(stderr, "rivulet-cart: %s takes at most one cart id\n", al.what);
        return APP_USAGE;
    }
    app_wait(loop, &q.done);
    return q.rc;
}

static int do_compensate(app_t *a, cart_store_t *s, uv_loop_t *loop)
{
    return check(a, s, loop, true);
}

static int do_rebuild(app_t *a, cart_store_t *s, uv_loop_t *loop)
{
    return check(a, s, loop, false);
}

int app_query(app_t *a)
{
    return with_store(a, do_query);
}

int app_compensate(app_t *a)
{
    return with_store(a, do_compensate);
}

int app_rebuild(app_t *a)
{
    return with_store(a, do_rebuild);
}
