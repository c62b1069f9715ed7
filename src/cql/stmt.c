/* Statements, collection builders and batches: binding typed values (checked
 * against a prepared statement's markers), options, and the batch's list of
 * encoded statements. */
#include "cql/stmt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --------------------------------------------------------------- statements */

static void stmt_defaults(rv_cql_stmt_t *st)
{
    st->consistency = RV_CQL_CONSISTENCY_DEFAULT;
    st->serial = RV_CQL_CONSISTENCY_DEFAULT;
    st->timestamp = INT64_MIN;
}

static bool reserve_vals(rv_cql_stmt_t *st, size_t n)
{
    if (n <= st->capvals) return true;
    size_t cap = st->capvals ? st->capvals : 8;
    while (cap < n)
        cap *= 2;
    rv__cql_slot_t *v = realloc(st->vals, cap * sizeof(*v));
    if (!v) return false;
    st->vals = v;
    st->capvals = cap;
    return true;
}

rv_cql_stmt_t *rv_cql_stmt_new(const char *query, size_t nvalues)
{
    if (!query) return NULL;
    rv_cql_stmt_t *st = calloc(1, sizeof(*st));
    if (!st) return NULL;
    stmt_defaults(st);
    st->query_len = strlen(query);
    st->query = strdup(query);
    if (!st->query || (nvalues && !reserve_vals(st, nvalues))) {
        rv_cql_stmt_destroy(st);
        return NULL;
    }
    return st;
}

rv_cql_stmt_t *rv_cql_stmt_new_prepared(const rv_cql_prepared_t *p)
{
    if (!p) return NULL;
    rv_cql_stmt_t *st = calloc(1, sizeof(*st));
    if (!st) return NULL;
    stmt_defaults(st);
    st->prep = p;
    if (p->meta->nbind && !reserve_vals(st, p->meta->nbind)) {
        rv_cql_stmt_destroy(st);
        return NULL;
    }
    return st;
}

void rv_cql_stmt_destroy(rv_cql_stmt_t *st)
{
    if (!st) return;
    free(st->query);
    rv__cql_buf_free(&st->data);
    free(st->vals);
    free(st->paging);
    rv_error_destroy(st->err);
    free(st);
}

void rv_cql_stmt_reset(rv_cql_stmt_t *st)
{
    if (!st) return;
    rv__cql_buf_reset(&st->data);
    st->nvals = 0;
    rv_error_destroy(st->err);
    st->err = NULL;
}

void rv_cql_stmt_set_consistency(rv_cql_stmt_t *st, rv_cql_consistency_t c)
{
    st->consistency = c;
}

void rv_cql_stmt_set_serial_consistency(rv_cql_stmt_t *st, rv_cql_consistency_t c)
{
    st->serial = c;
}

void rv_cql_stmt_set_idempotent(rv_cql_stmt_t *st, bool idempotent)
{
    st->idempotent = idempotent;
}

void rv_cql_stmt_set_page_size(rv_cql_stmt_t *st, int32_t rows)
{
    st->page_size_set = true;
    st->page_size = rows;
}

rv_err_t rv_cql_stmt_set_paging_state(rv_cql_stmt_t *st, const uint8_t *state, size_t len)
{
    free(st->paging);
    st->paging = NULL;
    st->paging_len = 0;
    if (!state || !len) return RV_OK;
    if (len > INT32_MAX) return RV_ERR_INVALID;
    st->paging = malloc(len);
    if (!st->paging) return RV_ERR_NOMEM;
    memcpy(st->paging, state, len);
    st->paging_len = len;
    return RV_OK;
}

void rv_cql_stmt_set_timestamp(rv_cql_stmt_t *st, int64_t us)
{
    st->timestamp = us;
}

void rv_cql_stmt_set_timeout(rv_cql_stmt_t *st, uint64_t ms)
{
    st->timeout_ms = ms;
}

const rv_error_t *rv_cql_stmt_error(const rv_cql_stmt_t *st)
{
    return st ? st->err : NULL;
}

static rv_err_t bind_value(rv_cql_stmt_t *st, size_t i, const rv__cql_in_t *in)
{
    if (!st) return RV_ERR_INVALID;
    const rv_cql_type_t *target = NULL;
    const char *name = NULL;
    if (st->prep) {
        const rv_cql_result_t *m = st->prep->meta;
        if (i >= m->nbind)
            return rv_error_set(&st->err, RV_ERR_INVALID, false,
                                "bind %zu: out of range, the prepared statement has %zu markers", i,
                                m->nbind);
        target = m->bind[i].type;
        name = m->bind[i].name;
    }
    if (i >= UINT16_MAX)
        return rv_error_set(&st->err, RV_ERR_INVALID, false,
                            "bind %zu: a statement has at most 65535 values", i);
    if (!reserve_vals(st, i + 1))
        return rv_error_set(&st->err, RV_ERR_NOMEM, true, "bind %zu: out of memory", i);
    while (st->nvals <= i)
        st->vals[st->nvals++].len = RV__CQL_UNBOUND;
    size_t off = st->data.len;
    int32_t len;
    char why[256];
    rv_err_t e = rv__cql_value_encode(&st->data, in, target, &len, why, sizeof(why));
    if (e != RV_OK) {
        st->data.len = off;
        st->data.oom = false;
        if (name) return rv_error_set(&st->err, e, false, "bind %zu (\"%s\"): %s", i, name, why);
        return rv_error_set(&st->err, e, false, "bind %zu: %s", i, why);
    }
    if (off > UINT32_MAX)
        return rv_error_set(&st->err, RV_ERR_OVERFLOW, false, "bind %zu: statement too large", i);
    st->vals[i].len = len;
    st->vals[i].off = (uint32_t)off;
    return RV_OK;
}

rv_err_t rv__cql_stmt_validate(const rv_cql_stmt_t *st, rv_error_t **errp)
{
    if (st->err) return rv_error_give(errp, rv_error_copy(st->err));
    if (st->data.oom) return rv_error_set(errp, RV_ERR_NOMEM, true, "out of memory binding values");
    for (size_t i = 0; i < st->nvals; i++)
        if (st->vals[i].len == RV__CQL_UNBOUND)
            return rv_error_set(errp, RV_ERR_INVALID, false,
                                "value %zu is not bound (bind it, or bind null or unset)", i);
    if (st->prep && st->nvals != st->prep->meta->nbind)
        return rv_error_set(errp, RV_ERR_INVALID, false,
                            "the prepared statement has %zu markers but %zu values are bound",
                            st->prep->meta->nbind, st->nvals);
    return RV_OK;
}

#define IN(...) (&(rv__cql_in_t){__VA_ARGS__})

rv_err_t rv_cql_bind_null(rv_cql_stmt_t *st, size_t i)
{
    return bind_value(st, i, IN(.tag = RV__IN_NULL));
}
rv_err_t rv_cql_bind_unset(rv_cql_stmt_t *st, size_t i)
{
    return bind_value(st, i, IN(.tag = RV__IN_UNSET));
}
rv_err_t rv_cql_bind_bool(rv_cql_stmt_t *st, size_t i, bool v)
{
    return bind_value(st, i, IN(.tag = RV__IN_BOOL, .i = v));
}
rv_err_t rv_cql_bind_tinyint(rv_cql_stmt_t *st, size_t i, int8_t v)
{
    return bind_value(st, i, IN(.tag = RV__IN_INT, .src_kind = RV_CQL_TINYINT, .i = v));
}
rv_err_t rv_cql_bind_smallint(rv_cql_stmt_t *st, size_t i, int16_t v)
{
    return bind_value(st, i, IN(.tag = RV__IN_INT, .src_kind = RV_CQL_SMALLINT, .i = v));
}
rv_err_t rv_cql_bind_int(rv_cql_stmt_t *st, size_t i, int32_t v)
{
    return bind_value(st, i, IN(.tag = RV__IN_INT, .src_kind = RV_CQL_INT, .i = v));
}
rv_err_t rv_cql_bind_bigint(rv_cql_stmt_t *st, size_t i, int64_t v)
{
    return bind_value(st, i, IN(.tag = RV__IN_INT, .src_kind = RV_CQL_BIGINT, .i = v));
}
rv_err_t rv_cql_bind_float(rv_cql_stmt_t *st, size_t i, float v)
{
    return bind_value(st, i, IN(.tag = RV__IN_FLOAT, .d = v));
}
rv_err_t rv_cql_bind_double(rv_cql_stmt_t *st, size_t i, double v)
{
    return bind_value(st, i, IN(.tag = RV__IN_DOUBLE, .d = v));
}
rv_err_t rv_cql_bind_text(rv_cql_stmt_t *st, size_t i, const char *s)
{
    if (!s) return rv_cql_bind_null(st, i);
    return bind_value(st, i, IN(.tag = RV__IN_TEXT, .p = s, .n = strlen(s)));
}
rv_err_t rv_cql_bind_text_n(rv_cql_stmt_t *st, size_t i, const char *s, size_t len)
{
    if (!s && len) return rv_cql_bind_null(st, i);
    return bind_value(st, i, IN(.tag = RV__IN_TEXT, .p = s, .n = len));
}
rv_err_t rv_cql_bind_blob(rv_cql_stmt_t *st, size_t i, const void *p, size_t len)
{
    if (!p && len) return rv_cql_bind_null(st, i);
    return bind_value(st, i, IN(.tag = RV__IN_BLOB, .p = p, .n = len));
}
rv_err_t rv_cql_bind_uuid(rv_cql_stmt_t *st, size_t i, const uint8_t uuid[16])
{
    if (!uuid) return rv_cql_bind_null(st, i);
    return bind_value(st, i, IN(.tag = RV__IN_UUID, .p = uuid, .n = 16));
}
rv_err_t rv_cql_bind_timestamp(rv_cql_stmt_t *st, size_t i, int64_t ms)
{
    return bind_value(st, i, IN(.tag = RV__IN_TIMESTAMP, .i = ms));
}
rv_err_t rv_cql_bind_date(rv_cql_stmt_t *st, size_t i, uint32_t days)
{
    return bind_value(st, i, IN(.tag = RV__IN_DATE, .i = days));
}
rv_err_t rv_cql_bind_time(rv_cql_stmt_t *st, size_t i, int64_t ns)
{
    return bind_value(st, i, IN(.tag = RV__IN_TIME, .i = ns));
}
rv_err_t rv_cql_bind_inet(rv_cql_stmt_t *st, size_t i, const uint8_t *addr, size_t len)
{
    if (!addr) return rv_cql_bind_null(st, i);
    return bind_value(st, i, IN(.tag = RV__IN_INET, .p = addr, .n = len));
}
rv_err_t rv_cql_bind_varint(rv_cql_stmt_t *st, size_t i, const uint8_t *p, size_t len)
{
    if (!p) return rv_cql_bind_null(st, i);
    return bind_value(st, i, IN(.tag = RV__IN_VARINT, .p = p, .n = len));
}
rv_err_t rv_cql_bind_varint_int64(rv_cql_stmt_t *st, size_t i, int64_t v)
{
    uint8_t b[8];
    size_t n = rv_cql_varint_from_int64(v, b);
    return bind_value(st, i, IN(.tag = RV__IN_VARINT, .p = b, .n = n));
}
rv_err_t rv_cql_bind_decimal(rv_cql_stmt_t *st, size_t i, int32_t scale, const uint8_t *unscaled,
                             size_t len)
{
    if (!unscaled) return rv_cql_bind_null(st, i);
    return bind_value(st, i, IN(.tag = RV__IN_DECIMAL, .scale = scale, .p = unscaled, .n = len));
}
rv_err_t rv_cql_bind_duration(rv_cql_stmt_t *st, size_t i, int32_t months, int32_t days,
                              int64_t nanos)
{
    return bind_value(st, i,
                      IN(.tag = RV__IN_DURATION, .months = months, .days = days, .i = nanos));
}
rv_err_t rv_cql_bind_coll(rv_cql_stmt_t *st, size_t i, const rv_cql_coll_t *c)
{
    if (!c) return rv_cql_bind_null(st, i);
    return bind_value(st, i, IN(.tag = RV__IN_COLL, .coll = c));
}
rv_err_t rv_cql_bind_raw(rv_cql_stmt_t *st, size_t i, const void *p, size_t len)
{
    if (!p && len) return rv_cql_bind_null(st, i);
    return bind_value(st, i, IN(.tag = RV__IN_RAW, .p = p, .n = len));
}

/* -------------------------------------------------------------- collections */

rv_cql_coll_t *rv_cql_coll_new(rv_cql_type_kind_t kind)
{
    if (kind != RV_CQL_LIST && kind != RV_CQL_SET && kind != RV_CQL_MAP && kind != RV_CQL_TUPLE &&
        kind != RV_CQL_UDT)
        return NULL;
    rv_cql_coll_t *c = calloc(1, sizeof(*c));
    if (c) c->kind = kind;
    return c;
}

void rv_cql_coll_destroy(rv_cql_coll_t *c)
{
    if (!c) return;
    rv__cql_buf_free(&c->buf);
    free(c);
}

void rv_cql_coll_reset(rv_cql_coll_t *c)
{
    rv__cql_buf_reset(&c->buf);
    c->n = 0;
    c->err = RV_OK;
}

rv_cql_type_kind_t rv_cql_coll_kind(const rv_cql_coll_t *c)
{
    return c->kind;
}

size_t rv_cql_coll_size(const rv_cql_coll_t *c)
{
    return c->n;
}

static rv_err_t add(rv_cql_coll_t *c, const rv__cql_in_t *in)
{
    if (!c) return RV_ERR_INVALID;
    if (c->n >= INT32_MAX) {
        if (c->err == RV_OK) c->err = RV_ERR_OVERFLOW;
        return RV_ERR_OVERFLOW;
    }
    if (in->coll == c) {
        if (c->err == RV_OK) c->err = RV_ERR_INVALID;
        return RV_ERR_INVALID;
    }
    size_t start = c->buf.len;
    rv__cql_put_i32(&c->buf, 0);
    int32_t len;
    char why[256];
    rv_err_t e =
        c->buf.oom ? RV_ERR_NOMEM : rv__cql_value_encode(&c->buf, in, NULL, &len, why, sizeof(why));
    if (e == RV_OK && len == -2)
        e = RV_ERR_INVALID; /* "unset" has no meaning inside a collection */
    if (e != RV_OK) {
        c->buf.len = start;
        c->buf.oom = false;
        if (c->err == RV_OK) c->err = e;
        return e;
    }
    rv__cql_store_u32(c->buf.data + start, (uint32_t)len);
    c->n++;
    return RV_OK;
}

rv_err_t rv_cql_coll_add_null(rv_cql_coll_t *c)
{
    return add(c, IN(.tag = RV__IN_NULL));
}
rv_err_t rv_cql_coll_add_bool(rv_cql_coll_t *c, bool v)
{
    return add(c, IN(.tag = RV__IN_BOOL, .i = v));
}
rv_err_t rv_cql_coll_add_tinyint(rv_cql_coll_t *c, int8_t v)
{
    return add(c, IN(.tag = RV__IN_INT, .src_kind = RV_CQL_TINYINT, .i = v));
}
rv_err_t rv_cql_coll_add_smallint(rv_cql_coll_t *c, int16_t v)
{
    return add(c, IN(.tag = RV__IN_INT, .src_kind = RV_CQL_SMALLINT, .i = v));
}
rv_err_t rv_cql_coll_add_int(rv_cql_coll_t *c, int32_t v)
{
    return add(c, IN(.tag = RV__IN_INT, .src_kind = RV_CQL_INT, .i = v));
}
rv_err_t rv_cql_coll_add_bigint(rv_cql_coll_t *c, int64_t v)
{
    return add(c, IN(.tag = RV__IN_INT, .src_kind = RV_CQL_BIGINT, .i = v));
}
rv_err_t rv_cql_coll_add_float(rv_cql_coll_t *c, float v)
{
    return add(c, IN(.tag = RV__IN_FLOAT, .d = v));
}
rv_err_t rv_cql_coll_add_double(rv_cql_coll_t *c, double v)
{
    return add(c, IN(.tag = RV__IN_DOUBLE, .d = v));
}
rv_err_t rv_cql_coll_add_text(rv_cql_coll_t *c, const char *s)
{
    if (!s) return rv_cql_coll_add_null(c);
    return add(c, IN(.tag = RV__IN_TEXT, .p = s, .n = strlen(s)));
}
rv_err_t rv_cql_coll_add_text_n(rv_cql_coll_t *c, const char *s, size_t len)
{
    if (!s && len) return rv_cql_coll_add_null(c);
    return add(c, IN(.tag = RV__IN_TEXT, .p = s, .n = len));
}
rv_err_t rv_cql_coll_add_blob(rv_cql_coll_t *c, const void *p, size_t len)
{
    if (!p && len) return rv_cql_coll_add_null(c);
    return add(c, IN(.tag = RV__IN_BLOB, .p = p, .n = len));
}
rv_err_t rv_cql_coll_add_uuid(rv_cql_coll_t *c, const uint8_t uuid[16])
{
    if (!uuid) return rv_cql_coll_add_null(c);
    return add(c, IN(.tag = RV__IN_UUID, .p = uuid, .n = 16));
}
rv_err_t rv_cql_coll_add_timestamp(rv_cql_coll_t *c, int64_t ms)
{
    return add(c, IN(.tag = RV__IN_TIMESTAMP, .i = ms));
}
rv_err_t rv_cql_coll_add_date(rv_cql_coll_t *c, uint32_t days)
{
    return add(c, IN(.tag = RV__IN_DATE, .i = days));
}
rv_err_t rv_cql_coll_add_time(rv_cql_coll_t *c, int64_t ns)
{
    return add(c, IN(.tag = RV__IN_TIME, .i = ns));
}
rv_err_t rv_cql_coll_add_inet(rv_cql_coll_t *c, const uint8_t *addr, size_t len)
{
    if (!addr) return rv_cql_coll_add_null(c);
    return add(c, IN(.tag = RV__IN_INET, .p = addr, .n = len));
}
rv_err_t rv_cql_coll_add_varint(rv_cql_coll_t *c, const uint8_t *p, size_t len)
{
    if (!p) return rv_cql_coll_add_null(c);
    return add(c, IN(.tag = RV__IN_VARINT, .p = p, .n = len));
}
rv_err_t rv_cql_coll_add_varint_int64(rv_cql_coll_t *c, int64_t v)
{
    uint8_t b[8];
    size_t n = rv_cql_varint_from_int64(v, b);
    return add(c, IN(.tag = RV__IN_VARINT, .p = b, .n = n));
}
rv_err_t rv_cql_coll_add_decimal(rv_cql_coll_t *c, int32_t scale, const uint8_t *unscaled,
                                 size_t len)
{
    if (!unscaled) return rv_cql_coll_add_null(c);
    return add(c, IN(.tag = RV__IN_DECIMAL, .scale = scale, .p = unscaled, .n = len));
}
rv_err_t rv_cql_coll_add_duration(rv_cql_coll_t *c, int32_t months, int32_t days, int64_t nanos)
{
    return add(c, IN(.tag = RV__IN_DURATION, .months = months, .days = days, .i = nanos));
}
rv_err_t rv_cql_coll_add_coll(rv_cql_coll_t *c, const rv_cql_coll_t *inner)
{
    if (!inner) return rv_cql_coll_add_null(c);
    return add(c, IN(.tag = RV__IN_COLL, .coll = inner));
}
rv_err_t rv_cql_coll_add_raw(rv_cql_coll_t *c, const void *p, size_t len)
{
    if (!p && len) return rv_cql_coll_add_null(c);
    return add(c, IN(.tag = RV__IN_RAW, .p = p, .n = len));
}

/* ------------------------------------------------------------------ batches */

rv_cql_batch_t *rv_cql_batch_new(rv_cql_batch_type_t type)
{
    if (type != RV_CQL_BATCH_LOGGED && type != RV_CQL_BATCH_UNLOGGED &&
        type != RV_CQL_BATCH_COUNTER)
        return NULL;
    rv_cql_batch_t *b = calloc(1, sizeof(*b));
    if (!b) return NULL;
    b->type = type;
    b->consistency = RV_CQL_CONSISTENCY_DEFAULT;
    b->serial = RV_CQL_CONSISTENCY_DEFAULT;
    b->timestamp = INT64_MIN;
    return b;
}

void rv_cql_batch_destroy(rv_cql_batch_t *b)
{
    if (!b) return;
    rv__cql_buf_free(&b->body);
    free(b->ids);
    free(b);
}

/* <kind><string_or_id><n><value_1>...<value_n> */
rv_err_t rv_cql_batch_add(rv_cql_batch_t *b, const rv_cql_stmt_t *st, rv_error_t **errp)
{
    if (!b || !st)
        return rv_error_set(errp, RV_ERR_INVALID, false, "rv_cql_batch_add: no batch or statement");
    rv_err_t e = rv__cql_stmt_validate(st, errp);
    if (e != RV_OK) return e;
    if (b->count >= UINT16_MAX)
        return rv_error_set(errp, RV_ERR_OVERFLOW, false, "a batch holds at most 65535 statements");
    size_t start = b->body.len;
    if (st->prep) {
        if (b->nids == b->capids) {
            size_t cap = b->capids ? b->capids * 2 : 8;
            rv__cql_id_slot_t *ids = realloc(b->ids, cap * sizeof(*ids));
            if (!ids) return rv_error_set(errp, RV_ERR_NOMEM, true, "out of memory");
            b->ids = ids;
            b->capids = cap;
        }
        rv__cql_put_u8(&b->body, 1);
        b->ids[b->nids].off = b->body.len;
        b->ids[b->nids].prep = st->prep;
        rv__cql_put_short_bytes(&b->body, st->prep->id, st->prep->id_len);
    } else {
        rv__cql_put_u8(&b->body, 0);
        rv__cql_put_long_string(&b->body, st->query, st->query_len);
    }
    rv__cql_put_u16(&b->body, (uint16_t)st->nvals);
    for (size_t i = 0; i < st->nvals; i++)
        rv__cql_put_bytes(&b->body, st->data.data + st->vals[i].off, st->vals[i].len);
    if (b->body.oom) {
        b->body.len = start;
        b->body.oom = false;
        return rv_error_set(errp, RV_ERR_NOMEM, true, "out of memory");
    }
    if (st->prep) b->nids++;
    b->count++;
    return RV_OK;
}

size_t rv_cql_batch_count(const rv_cql_batch_t *b)
{
    return b ? b->count : 0;
}

void rv_cql_batch_reset(rv_cql_batch_t *b)
{
    rv__cql_buf_reset(&b->body);
    b->count = 0;
    b->nids = 0;
}

void rv_cql_batch_set_consistency(rv_cql_batch_t *b, rv_cql_consistency_t c)
{
    b->consistency = c;
}
void rv_cql_batch_set_serial_consistency(rv_cql_batch_t *b, rv_cql_consistency_t c)
{
    b->serial = c;
}
void rv_cql_batch_set_idempotent(rv_cql_batch_t *b, bool idempotent)
{
    b->idempotent = idempotent;
}
void rv_cql_batch_set_timestamp(rv_cql_batch_t *b, int64_t us)
{
    b->timestamp = us;
}
void rv_cql_batch_set_timeout(rv_cql_batch_t *b, uint64_t ms)
{
    b->timeout_ms = ms;
}

/* ----------------------------------------------------- prepared accessors */

const char *rv_cql_prepared_query(const rv_cql_prepared_t *p)
{
    return p ? p->query : NULL;
}

size_t rv_cql_prepared_bind_count(const rv_cql_prepared_t *p)
{
    return p ? p->meta->nbind : 0;
}

const char *rv_cql_prepared_bind_name(const rv_cql_prepared_t *p, size_t i)
{
    return p && i < p->meta->nbind ? p->meta->bind[i].name : NULL;
}

const rv_cql_type_t *rv_cql_prepared_bind_type(const rv_cql_prepared_t *p, size_t i)
{
    return p && i < p->meta->nbind ? p->meta->bind[i].type : NULL;
}

int rv_cql_prepared_bind_index(const rv_cql_prepared_t *p, const char *name)
{
    if (!p || !name) return -1;
    for (size_t i = 0; i < p->meta->nbind; i++)
        if (strcmp(p->meta->bind[i].name, name) == 0) return (int)i;
    return -1;
}
