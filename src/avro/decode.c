/* The declarative decoder: Avro binary straight into a struct, driven by a
 * plan (see resolve.c), plus the validator that checks untrusted bytes
 * against a schema before avro-c reads them.
 *
 * Every read checks the remaining bytes first; every length is checked
 * against what is left before anything is allocated; counts of array and map
 * items are checked against the fewest bytes that many items need. Errors name
 * the field path (built while unwinding) and the byte offset. */
#include <stdlib.h>
#include <string.h>

#include "avro/internal.h"

#define AVAIL(c) ((size_t)((c)->end - (c)->p))

/* Per-message budget for items that take no bytes on the wire (null, empty
 * records, zero-size fixed): without it, a few bytes could ask for 2^63 loop
 * turns. The budget is the input length plus this. */
#define ZERO_ITEM_SLACK 4096

typedef struct dctx {
    rv__actx_t a;
    uint64_t zbudget;
} dctx_t;

static inline int truncated(rv__actx_t *c, const char *what)
{
    return RV__FAIL(c, RV_ERR_DECODE, "truncated input: %s needs more bytes than the %zu left",
                    what, AVAIL(c));
}

static inline int rd_long(rv__actx_t *c, int64_t *out)
{
    const uint8_t *p = c->p, *end = c->end;
    uint64_t v = 0;
    for (int i = 0, shift = 0; i < 10; i++, shift += 7) {
        if (p >= end) return truncated(c, "a varint");
        uint8_t b = *p++;
        v |= (uint64_t)(b & 0x7F) << shift;
        if (!(b & 0x80)) {
            if (i == 9 && b > 1) return RV__FAIL(c, RV_ERR_DECODE, "varint overflows 64 bits");
            c->p = p;
            *out = (int64_t)((v >> 1) ^ (~(v & 1) + 1));
            return 0;
        }
    }
    return RV__FAIL(c, RV_ERR_DECODE, "varint longer than 10 bytes");
}

static inline int rd_int(rv__actx_t *c, int32_t *out)
{
    const uint8_t *p = c->p, *end = c->end;
    uint32_t v = 0;
    for (int i = 0, shift = 0; i < 5; i++, shift += 7) {
        if (p >= end) return truncated(c, "a varint");
        uint8_t b = *p++;
        v |= (uint32_t)(b & 0x7F) << shift;
        if (!(b & 0x80)) {
            if (i == 4 && b > 0x0F)
                return RV__FAIL(c, RV_ERR_DECODE, "int varint overflows 32 bits");
            c->p = p;
            *out = (int32_t)((v >> 1) ^ (~(v & 1) + 1));
            return 0;
        }
    }
    return RV__FAIL(c, RV_ERR_DECODE, "int varint longer than 5 bytes");
}

/* A length prefix: not negative and not past the end. */
static inline int rd_len(rv__actx_t *c, size_t *out, const char *what)
{
    int64_t n;
    const uint8_t *at = c->p;
    if (rd_long(c, &n)) return -1;
    if (n >= 0 && (uint64_t)n <= AVAIL(c)) {
        *out = (size_t)n;
        return 0;
    }
    /* Errors point at the length prefix itself; the numbers name what is left after it. */
    size_t left = AVAIL(c);
    c->p = at;
    if (n < 0) return RV__FAIL(c, RV_ERR_DECODE, "negative %s length %lld", what, (long long)n);
    return RV__FAIL(c, RV_ERR_DECODE, "%s length %lld exceeds the %zu remaining bytes", what,
                    (long long)n, left);
}

/* A block count of an array or map: returns the item count (0 ends), having
 * checked it against the bytes left (each item needs at least min bytes) and
 * against the zero-size budget. */
static int rd_block(dctx_t *d, int64_t *count, size_t min)
{
    rv__actx_t *c = &d->a;
    int64_t n;
    const uint8_t *at = c->p;
    if (rd_long(c, &n)) return -1;
    if (n < 0) {
        /* A negative count is followed by the block's size in bytes. */
        if (n == INT64_MIN) return RV__FAIL(c, RV_ERR_DECODE, "block count out of range");
        n = -n;
        int64_t size;
        if (rd_long(c, &size)) return -1;
        if (size < 0 || (uint64_t)size > AVAIL(c))
            return RV__FAIL(c, RV_ERR_DECODE,
                            "block size %lld is negative or exceeds the %zu remaining bytes",
                            (long long)size, AVAIL(c));
    }
    if (min > 0) {
        if ((uint64_t)n > AVAIL(c) / min) {
            size_t left = AVAIL(c);
            c->p = at;
            return RV__FAIL(c, RV_ERR_DECODE,
                            "block of %lld items needs at least %llu bytes, %zu remain",
                            (long long)n, (unsigned long long)n * min, left);
        }
    } else {
        if ((uint64_t)n > d->zbudget) {
            c->p = at;
            return RV__FAIL(c, RV_ERR_DECODE,
                            "block of %lld zero-size items exceeds the limit for this input",
                            (long long)n);
        }
        d->zbudget -= (uint64_t)n;
    }
    *count = n;
    return 0;
}

static inline int enter(rv__actx_t *c)
{
    if (++c->depth > c->max_depth)
        return RV__FAIL(c, RV_ERR_DECODE, "nested deeper than %d levels", c->max_depth);
    return 0;
}

/* --------------------------------------------------- validate / skip */

static int skip(dctx_t *d, const rv__anode_t *n)
{
    rv__actx_t *c = &d->a;
    switch (n->type) {
    case AVRO_NULL:
        return 0;
    case AVRO_BOOLEAN:
        if (AVAIL(c) < 1) return truncated(c, "a boolean");
        if (*c->p > 1)
            return RV__FAIL(c, RV_ERR_DECODE, "boolean byte %u is neither 0 nor 1", *c->p);
        c->p++;
        return 0;
    case AVRO_INT32: {
        int32_t v;
        return rd_int(c, &v);
    }
    case AVRO_INT64: {
        int64_t v;
        return rd_long(c, &v);
    }
    case AVRO_FLOAT:
    case AVRO_DOUBLE: {
        size_t k = n->type == AVRO_FLOAT ? 4 : 8;
        if (AVAIL(c) < k) return truncated(c, rv__avro_type_name(n->type));
        c->p += k;
        return 0;
    }
    case AVRO_STRING:
    case AVRO_BYTES: {
        size_t len;
        if (rd_len(c, &len, rv__avro_type_name(n->type))) return -1;
        if (n->type == AVRO_STRING && !rv__utf8_valid(c->p, len, NULL))
            return RV__FAIL(c, RV_ERR_DECODE, "string is not valid UTF-8");
        c->p += len;
        return 0;
    }
    case AVRO_FIXED:
        if (AVAIL(c) < (size_t)n->fixed_size) return truncated(c, "a fixed");
        c->p += n->fixed_size;
        return 0;
    case AVRO_ENUM: {
        int32_t v;
        const uint8_t *at = c->p;
        if (rd_int(c, &v)) return -1;
        if (v < 0 || v >= n->n) {
            c->p = at;
            return RV__FAIL(c, RV_ERR_DECODE, "enum symbol %d out of range [0,%d]", (int)v,
                            n->n - 1);
        }
        return 0;
    }
    case AVRO_UNION: {
        int64_t i;
        const uint8_t *at = c->p;
        if (rd_long(c, &i)) return -1;
        if (i < 0 || i >= n->n) {
            c->p = at;
            return RV__FAIL(c, RV_ERR_DECODE, "union branch %lld out of range [0,%d]", (long long)i,
                            n->n - 1);
        }
        return skip(d, n->kids[i]);
    }
    case AVRO_ARRAY:
    case AVRO_MAP: {
        if (enter(c)) return -1;
        bool map = n->type == AVRO_MAP;
        uint64_t idx = 0;
        for (;;) {
            int64_t count;
            if (rd_block(d, &count, n->items->min_size + (map ? 1 : 0))) return -1;
            if (count == 0) break;
            for (int64_t k = 0; k < count; k++, idx++) {
                if (map) {
                    size_t klen;
                    if (rd_len(c, &klen, "map key")) goto fail_idx;
                    if (!rv__utf8_valid(c->p, klen, NULL)) {
                        rv__actx_fail(c, RV_ERR_DECODE, "map key is not valid UTF-8");
                        goto fail_idx;
                    }
                    c->p += klen;
                }
                if (skip(d, n->items)) goto fail_idx;
            }
        }
        c->depth--;
        return 0;
    fail_idx:
        rv__actx_prepend_index(c, idx);
        return -1;
    }
    case AVRO_RECORD:
        if (enter(c)) return -1;
        for (int i = 0; i < n->n; i++) {
            if (skip(d, n->kids[i])) {
                rv__actx_prepend(c, n->names[i], false);
                return -1;
            }
        }
        c->depth--;
        return 0;
    default:
        return RV__FAIL(c, RV_ERR_DECODE, "unsupported schema type");
    }
}

static void dctx_init(dctx_t *d, const uint8_t *data, size_t len, rv_avro_arena_t *arena,
                      int max_depth)
{
    /* Field by field: the message buffer is only written on failure, and
     * clearing it for every record would cost more than small records take. */
    d->a.p = d->a.start = data;
    d->a.end = data + len;
    d->a.arena = arena;
    d->a.depth = 0;
    d->a.max_depth = max_depth > 0 ? max_depth : RV__AVRO_DEFAULT_DEPTH;
    d->a.code = RV_OK;
    d->a.err_off = 0;
    d->a.msg[0] = 0;
    d->a.path = NULL;
    d->a.path_len = 0;
    d->zbudget = (uint64_t)len + ZERO_ITEM_SLACK;
}

static int check_trailing(rv__actx_t *c)
{
    if (c->p != c->end)
        return RV__FAIL(c, RV_ERR_DECODE, "%zu trailing bytes after the record", AVAIL(c));
    return 0;
}

rv_err_t rv__avro_validate(const rv__anode_t *root, const uint8_t *data, size_t len, int max_depth,
                           const char *root_name, rv_error_t **errp)
{
    dctx_t d;
    dctx_init(&d, data, len, NULL, max_depth);
    if (skip(&d, root) == 0) check_trailing(&d.a);
    return rv__actx_finish(&d.a, root_name, true, errp);
}

/* ------------------------------------------------------ plan interpreter */

static void *aalloc(rv__actx_t *c, size_t n)
{
    void *p = rv_avro_arena_alloc(c->arena, n);
    if (!p) rv__actx_fail(c, RV_ERR_NOMEM, "out of memory (%zu bytes)", n);
    return p;
}

/* A string (or bytes read as a string): valid UTF-8 without U+0000, copied
 * NUL-terminated into the arena. */
static int rd_cstring(rv__actx_t *c, char **out, bool check_utf8)
{
    size_t len;
    if (rd_len(c, &len, "string")) return -1;
    bool nul = false;
    if (!rv__utf8_valid(c->p, len, &nul))
        return RV__FAIL(c, RV_ERR_DECODE, "string is not valid UTF-8");
    (void)check_utf8;
    if (nul) return RV__FAIL(c, RV_ERR_DECODE, "string holds U+0000, which a C string cannot");
    char *s = aalloc(c, len + 1);
    if (!s) return -1;
    memcpy(s, c->p, len);
    s[len] = 0;
    c->p += len;
    *out = s;
    return 0;
}

static int run_plan(dctx_t *d, const rv__plan_t *pl, void *dst);

static int run_vplan(dctx_t *d, const rv__vplan_t *vp, void *dst, bool *is_null)
{
    if (!vp->wunion) {
        if (vp->wnull) {
            *is_null = true;
            return 0;
        }
        return run_plan(d, vp->plan, dst);
    }
    rv__actx_t *c = &d->a;
    int64_t i;
    const uint8_t *at = c->p;
    if (rd_long(c, &i)) return -1;
    if (i < 0 || i >= vp->nbr) {
        c->p = at;
        return RV__FAIL(c, RV_ERR_DECODE, "union branch %lld out of range [0,%d]", (long long)i,
                        vp->nbr - 1);
    }
    const struct rv__branch *br = &vp->br[i];
    if (br->is_null) {
        *is_null = true;
        return 0;
    }
    c->p = at;
    if (!br->plan)
        return RV__FAIL(c, RV_ERR_DECODE, "union branch %lld: %s", (long long)i, br->why);
    rd_long(c, &i); /* read again: cannot fail */
    return run_plan(d, br->plan, dst);
}

static int apply_defaults(dctx_t *d, const rv__plan_t *pl, uint8_t *base)
{
    for (size_t i = 0; i < pl->ndflts; i++) {
        const rv__dflt_t *df = &pl->dflts[i];
        const rv_avro_field_t *f = df->rf;
        void *dst = base + f->offset;
        if (df->is_null) continue; /* zeroed: absent */
        if (f->optional && f->has_offset != RV_AVRO_NO_FLAG) *(bool *)(base + f->has_offset) = true;
        switch (f->type->kind) {
        case RV_AVRO_BOOLEAN:
            *(bool *)dst = df->b;
            break;
        case RV_AVRO_INT:
            *(int32_t *)dst = (int32_t)df->i;
            break;
        case RV_AVRO_LONG:
        case RV_AVRO_TIMESTAMP_MILLIS:
            *(int64_t *)dst = df->i;
            break;
        case RV_AVRO_FLOAT:
            *(float *)dst = (float)df->d;
            break;
        case RV_AVRO_DOUBLE:
            *(double *)dst = df->d;
            break;
        case RV_AVRO_ENUM:
            *(int *)dst = (int)df->i;
            break;
        case RV_AVRO_STRING: {
            char *s = aalloc(&d->a, df->s_len + 1);
            if (!s) return -1;
            memcpy(s, df->s, df->s_len + 1);
            *(char **)dst = s;
            break;
        }
        case RV_AVRO_BYTES: {
            uint8_t *s = aalloc(&d->a, df->s_len + 1);
            if (!s) return -1;
            memcpy(s, df->s, df->s_len);
            ((rv_avro_bytes_t *)dst)->data = s;
            ((rv_avro_bytes_t *)dst)->len = df->s_len;
            break;
        }
        case RV_AVRO_UUID:
        case RV_AVRO_FIXED:
            memcpy(dst, df->s, rv__avro_csize(f->type));
            break;
        case RV_AVRO_ARRAY:
        case RV_AVRO_MAP:
        case RV_AVRO_RECORD:
            break; /* only empty defaults are accepted: zeroed */
        }
    }
    return 0;
}

static int run_record(dctx_t *d, const rv__plan_t *pl, uint8_t *base)
{
    rv__actx_t *c = &d->a;
    if (enter(c)) return -1;
    if (pl->ndflts && apply_defaults(d, pl, base)) return -1;
    for (size_t i = 0; i < pl->nsteps; i++) {
        const rv__step_t *st = &pl->steps[i];
        const rv_avro_field_t *f = st->rf;
        if (!f) {
            if (skip(d, st->wnode)) {
                rv__actx_prepend(c, st->wname, false);
                return -1;
            }
            continue;
        }
        bool is_null = false;
        if (run_vplan(d, &st->vp, base + f->offset, &is_null)) {
            rv__actx_prepend(c, f->name, false);
            return -1;
        }
        if (f->optional) {
            if (f->has_offset != RV_AVRO_NO_FLAG) *(bool *)(base + f->has_offset) = !is_null;
        } else if (is_null) {
            rv__actx_fail(c, RV_ERR_DECODE, "null written for a field that is not optional");
            rv__actx_prepend(c, f->name, false);
            return -1;
        }
    }
    c->depth--;
    return 0;
}

static int run_items(dctx_t *d, const rv__plan_t *pl, void *dst, bool map)
{
    rv__actx_t *c = &d->a;
    if (enter(c)) return -1;
    size_t sz = pl->item_csize, n = 0, cap = 0;
    uint8_t *items = NULL;
    char **keys = NULL;
    for (;;) {
        int64_t count;
        if (rd_block(d, &count, pl->item_wmin + (map ? 1 : 0))) return -1;
        if (count == 0) break;
        if ((uint64_t)count > cap - n) {
            /* Grow geometrically; the count was checked against the input. */
            size_t ncap = n + (size_t)count;
            if (ncap < cap * 2) ncap = cap * 2;
            if (sz && ncap > SIZE_MAX / sz) return RV__FAIL(c, RV_ERR_DECODE, "too many items");
            uint8_t *ni = aalloc(c, ncap * (sz ? sz : 1));
            if (!ni) return -1;
            if (n) memcpy(ni, items, n * sz);
            items = ni;
            if (map) {
                char **nk = aalloc(c, ncap * sizeof(char *));
                if (!nk) return -1;
                if (n) memcpy(nk, keys, n * sizeof(char *));
                keys = nk;
            }
            cap = ncap;
        }
        for (int64_t k = 0; k < count; k++, n++) {
            uint8_t *slot = items + n * sz;
            memset(slot, 0, sz);
            if (map && rd_cstring(c, &keys[n], true)) {
                rv__actx_prepend_index(c, n);
                return -1;
            }
            bool is_null = false;
            if (run_vplan(d, &pl->items, slot, &is_null) == 0 && is_null)
                rv__actx_fail(c, RV_ERR_DECODE, "null written for an item that cannot be null");
            if (c->code) {
                if (map)
                    rv__actx_prepend(c, keys[n], true);
                else
                    rv__actx_prepend_index(c, n);
                return -1;
            }
        }
    }
    if (map) {
        rv_avro_map_t *m = dst;
        m->keys = keys;
        m->values = items;
        m->n = n;
    } else {
        rv_avro_array_t *a = dst;
        a->items = items;
        a->n = n;
    }
    c->depth--;
    return 0;
}

static int run_plan(dctx_t *d, const rv__plan_t *pl, void *dst)
{
    rv__actx_t *c = &d->a;
    switch (pl->op) {
    case RV__OP_BOOL:
        if (AVAIL(c) < 1) return truncated(c, "a boolean");
        if (*c->p > 1)
            return RV__FAIL(c, RV_ERR_DECODE, "boolean byte %u is neither 0 nor 1", *c->p);
        *(bool *)dst = *c->p++;
        return 0;
    case RV__OP_INT:
        return rd_int(c, dst);
    case RV__OP_LONG:
        return rd_long(c, dst);
    case RV__OP_FLOAT:
        if (AVAIL(c) < 4) return truncated(c, "a float");
        memcpy(dst, c->p, 4);
        c->p += 4;
        return 0;
    case RV__OP_DOUBLE:
        if (AVAIL(c) < 8) return truncated(c, "a double");
        memcpy(dst, c->p, 8);
        c->p += 8;
        return 0;
    case RV__OP_STRING:
        return rd_cstring(c, dst, true);
    case RV__OP_BYTES: {
        size_t len;
        if (rd_len(c, &len, "bytes")) return -1;
        uint8_t *b = aalloc(c, len ? len : 1); /* never NULL: NULL means null */
        if (!b) return -1;
        memcpy(b, c->p, len);
        c->p += len;
        ((rv_avro_bytes_t *)dst)->data = b;
        ((rv_avro_bytes_t *)dst)->len = len;
        return 0;
    }
    case RV__OP_UUID: {
        size_t len;
        if (rd_len(c, &len, "uuid")) return -1;
        if (!rv__uuid_valid((const char *)c->p, len))
            return RV__FAIL(c, RV_ERR_DECODE,
                            "not a uuid (want 36 characters 8-4-4-4-12, got %zu bytes)", len);
        memcpy(dst, c->p, 36);
        ((char *)dst)[36] = 0;
        c->p += len;
        return 0;
    }
    case RV__OP_ENUM:
    case RV__OP_ENUM_MAP: {
        int32_t v;
        const uint8_t *at = c->p;
        if (rd_int(c, &v)) return -1;
        int nsym = pl->op == RV__OP_ENUM ? (int)pl->rt->nsymbols : pl->nwsyms;
        if (v < 0 || v >= nsym) {
            c->p = at;
            return RV__FAIL(c, RV_ERR_DECODE, "enum symbol %d out of range [0,%d]", (int)v,
                            nsym - 1);
        }
        if (pl->op == RV__OP_ENUM_MAP) {
            int32_t r = pl->enum_map[v];
            if (r < 0)
                return (c->p = at),
                       RV__FAIL(c, RV_ERR_DECODE, "enum symbol %s is unknown to the reader's %s",
                                pl->wn->names[v], pl->rt->name);
            v = r;
        }
        *(int *)dst = v;
        return 0;
    }
    case RV__OP_FIXED:
        if (AVAIL(c) < pl->rt->fixed_size) return truncated(c, "a fixed");
        memcpy(dst, c->p, pl->rt->fixed_size);
        c->p += pl->rt->fixed_size;
        return 0;
    case RV__OP_INT_TO_LONG:
    case RV__OP_INT_TO_FLOAT:
    case RV__OP_INT_TO_DOUBLE: {
        int32_t v;
        if (rd_int(c, &v)) return -1;
        if (pl->op == RV__OP_INT_TO_LONG)
            *(int64_t *)dst = v;
        else if (pl->op == RV__OP_INT_TO_FLOAT)
            *(float *)dst = (float)v;
        else
            *(double *)dst = v;
        return 0;
    }
    case RV__OP_LONG_TO_FLOAT:
    case RV__OP_LONG_TO_DOUBLE: {
        int64_t v;
        if (rd_long(c, &v)) return -1;
        if (pl->op == RV__OP_LONG_TO_FLOAT)
            *(float *)dst = (float)v;
        else
            *(double *)dst = (double)v;
        return 0;
    }
    case RV__OP_FLOAT_TO_DOUBLE: {
        float f;
        if (AVAIL(c) < 4) return truncated(c, "a float");
        memcpy(&f, c->p, 4);
        c->p += 4;
        *(double *)dst = f;
        return 0;
    }
    case RV__OP_ARRAY:
        return run_items(d, pl, dst, false);
    case RV__OP_MAP:
        return run_items(d, pl, dst, true);
    case RV__OP_RECORD:
        return run_record(d, pl, dst);
    }
    return RV__FAIL(c, RV_ERR_DECODE, "bad plan");
}

rv_err_t rv__avro_run_plan(const rv__plan_t *plan, const uint8_t *data, size_t len, void *obj,
                           rv_avro_arena_t *arena, int max_depth, rv_error_t **errp)
{
    dctx_t d;
    dctx_init(&d, data, len, arena, max_depth);
    memset(obj, 0, plan->rt->c_size);
    if (run_record(&d, plan, obj) == 0 && check_trailing(&d.a) == 0) return RV_OK;
    memset(obj, 0, plan->rt->c_size);
    return rv__actx_finish(&d.a, plan->rt->name, true, errp);
}

/* ------------------------------------------------------------ public API */

rv_err_t rv_avro_decode(const rv_avro_codec_t *codec, const void *data, size_t len, void *obj,
                        rv_avro_arena_t *arena, rv_error_t **errp)
{
    if (!codec || !obj || !arena || (!data && len))
        return rv_error_set(errp, RV_ERR_INVALID, false, "avro: decode: NULL argument");
    const rv__writer_t *w;
    size_t body;
    rv_err_t e = rv__avro_codec_writer(codec, data, len, &w, &body, errp);
    if (e) {
        memset(obj, 0, codec->type->c_size);
        return e;
    }
    return rv__avro_run_plan(w->plan, (const uint8_t *)data + body, len - body, obj, arena,
                             codec->opts.max_depth, errp);
}

void *rv_avro_decode_new(const rv_avro_codec_t *codec, const void *data, size_t len,
                         rv_error_t **errp)
{
    if (!codec || (!data && len)) {
        rv_error_set(errp, RV_ERR_INVALID, false, "avro: decode: NULL argument");
        return NULL;
    }
    rv_avro_arena_t *arena;
    void *obj = rv__avro_obj_alloc(codec->type->c_size, len, &arena);
    if (!obj) {
        rv_error_set(errp, RV_ERR_NOMEM, true, "avro: out of memory");
        return NULL;
    }
    if (rv_avro_decode(codec, data, len, obj, arena, errp) != RV_OK) {
        rv_avro_obj_free(obj);
        return NULL;
    }
    return obj;
}
