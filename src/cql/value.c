/* Value codecs: encoding what the typed binds supply (with conversion to a
 * prepared marker's type), decoding value views, iterating collections, and
 * formatting values as text. Decoders never read outside [data, data+len). */
#include "cql/value.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------- vint */

size_t rv__cql_vint_encode(int64_t v, uint8_t out[9])
{
    /* Zigzag, then Cassandra's unsigned vint: the count of leading one bits
     * of the first byte says how many bytes follow. */
    uint64_t u = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    int lz = __builtin_clzll(u | 1);
    size_t size = (size_t)((639 - lz * 9) >> 6);
    if (size == 1) {
        out[0] = (uint8_t)u;
        return 1;
    }
    for (size_t i = size; i-- > 0;) {
        out[i] = (uint8_t)u;
        u >>= 8;
    }
    out[0] |= (uint8_t) ~(0xffu >> (size - 1));
    return size;
}

bool rv__cql_vint_decode(const uint8_t **pp, const uint8_t *end, int64_t *v)
{
    const uint8_t *p = *pp;
    if (p >= end) return false;
    uint8_t first = *p++;
    int extra = 0;
    while (extra < 8 && (first & (0x80 >> extra)))
        extra++;
    if (end - p < extra) return false;
    uint64_t u = extra == 8 ? 0 : (first & (0xffu >> extra));
    for (int i = 0; i < extra; i++)
        u = (u << 8) | *p++;
    *pp = p;
    *v = (int64_t)((u >> 1) ^ (~(u & 1) + 1));
    return true;
}

/* ----------------------------------------------------------------- encode */

size_t rv_cql_varint_from_int64(int64_t v, uint8_t out[8])
{
    uint8_t be[8];
    uint64_t u = (uint64_t)v;
    for (int i = 7; i >= 0; i--) {
        be[i] = (uint8_t)u;
        u >>= 8;
    }
    /* Drop leading bytes that only repeat the sign. */
    size_t s = 0;
    while (s < 7 &&
           ((be[s] == 0x00 && !(be[s + 1] & 0x80)) || (be[s] == 0xff && (be[s + 1] & 0x80))))
        s++;
    memcpy(out, be + s, 8 - s);
    return 8 - s;
}

const char *rv__cql_in_name(const rv__cql_in_t *in)
{
    switch (in->tag) {
    case RV__IN_NULL:
        return "null";
    case RV__IN_UNSET:
        return "unset";
    case RV__IN_BOOL:
        return "boolean";
    case RV__IN_INT:
        return rv_cql_type_kind_name((rv_cql_type_kind_t)in->src_kind);
    case RV__IN_FLOAT:
        return "float";
    case RV__IN_DOUBLE:
        return "double";
    case RV__IN_TEXT:
        return "text";
    case RV__IN_BLOB:
        return "blob";
    case RV__IN_UUID:
        return "uuid";
    case RV__IN_TIMESTAMP:
        return "timestamp";
    case RV__IN_DATE:
        return "date";
    case RV__IN_TIME:
        return "time";
    case RV__IN_INET:
        return "inet";
    case RV__IN_VARINT:
        return "varint";
    case RV__IN_DECIMAL:
        return "decimal";
    case RV__IN_DURATION:
        return "duration";
    case RV__IN_COLL:
        return in->coll ? rv_cql_type_kind_name(in->coll->kind) : "collection";
    case RV__IN_RAW:
        return "raw bytes";
    }
    return "?";
}

static void put_int_width(rv__cql_buf_t *b, int64_t v, size_t width)
{
    uint8_t be[8];
    uint64_t u = (uint64_t)v;
    for (int i = 7; i >= 0; i--) {
        be[i] = (uint8_t)u;
        u >>= 8;
    }
    rv__cql_put_raw(b, be + 8 - width, width);
}

static bool int_fits(int64_t v, int kind)
{
    switch (kind) {
    case RV_CQL_TINYINT:
        return v >= INT8_MIN && v <= INT8_MAX;
    case RV_CQL_SMALLINT:
        return v >= INT16_MIN && v <= INT16_MAX;
    case RV_CQL_INT:
        return v >= INT32_MIN && v <= INT32_MAX;
    default:
        return true;
    }
}

static rv_err_t mismatch(const rv__cql_in_t *in, const rv_cql_type_t *target, char *why,
                         size_t whylen)
{
    char tn[128];
    rv_cql_type_format(target, tn, sizeof(tn));
    snprintf(why, whylen, "a %s value cannot be bound to a marker of type %s", rv__cql_in_name(in),
             tn);
    return RV_ERR_INVALID;
}

static bool kind_in(int kind, int a, int b)
{
    return kind == a || kind == b;
}

rv_err_t rv__cql_value_encode(rv__cql_buf_t *b, const rv__cql_in_t *in, const rv_cql_type_t *target,
                              int32_t *len, char *why, size_t whylen)
{
    int tk = target ? target->kind : -1;
    size_t start = b->len;
    *len = 0;
    switch (in->tag) {
    case RV__IN_NULL:
        *len = -1;
        return RV_OK;
    case RV__IN_UNSET:
        *len = -2;
        return RV_OK;
    case RV__IN_BOOL:
        if (target && tk != RV_CQL_BOOLEAN) return mismatch(in, target, why, whylen);
        rv__cql_put_u8(b, in->i ? 1 : 0);
        break;
    case RV__IN_INT: {
        int k = target ? tk : in->src_kind;
        if (target && !rv__cql_kind_is_integer(tk) && tk != RV_CQL_TIMESTAMP && tk != RV_CQL_TIME)
            return mismatch(in, target, why, whylen);
        if ((tk == RV_CQL_TIMESTAMP || tk == RV_CQL_TIME) && in->src_kind != RV_CQL_BIGINT)
            return mismatch(in, target, why, whylen);
        if (!int_fits(in->i, k)) {
            snprintf(why, whylen, "%" PRId64 " does not fit a marker of type %s", in->i,
                     rv_cql_type_kind_name((rv_cql_type_kind_t)k));
            return RV_ERR_OVERFLOW;
        }
        if (k == RV_CQL_VARINT) {
            uint8_t v[8];
            rv__cql_put_raw(b, v, rv_cql_varint_from_int64(in->i, v));
        } else {
            put_int_width(b, in->i, rv__cql_kind_fixed_size(k));
        }
        break;
    }
    case RV__IN_FLOAT:
    case RV__IN_DOUBLE: {
        int k = target ? tk : (in->tag == RV__IN_FLOAT ? RV_CQL_FLOAT : RV_CQL_DOUBLE);
        if (k == RV_CQL_FLOAT) {
            float f = (float)in->d;
            uint32_t u;
            memcpy(&u, &f, 4);
            put_int_width(b, (int64_t)u, 4);
        } else if (k == RV_CQL_DOUBLE) {
            uint64_t u;
            memcpy(&u, &in->d, 8);
            put_int_width(b, (int64_t)u, 8);
        } else {
            return mismatch(in, target, why, whylen);
        }
        break;
    }
    case RV__IN_TEXT:
        if (target && !kind_in(tk, RV_CQL_VARCHAR, RV_CQL_ASCII))
            return mismatch(in, target, why, whylen);
        goto bytes;
    case RV__IN_BLOB:
        if (target && !kind_in(tk, RV_CQL_BLOB, RV_CQL_CUSTOM))
            return mismatch(in, target, why, whylen);
        goto bytes;
    case RV__IN_RAW:
    bytes:
        if (in->n > INT32_MAX) {
            snprintf(why, whylen, "a value of %zu bytes is longer than the protocol allows", in->n);
            return RV_ERR_OVERFLOW;
        }
        rv__cql_put_raw(b, in->p, in->n);
        break;
    case RV__IN_UUID:
        if (target && !kind_in(tk, RV_CQL_UUID, RV_CQL_TIMEUUID))
            return mismatch(in, target, why, whylen);
        rv__cql_put_raw(b, in->p, 16);
        break;
    case RV__IN_TIMESTAMP:
        if (target && !kind_in(tk, RV_CQL_TIMESTAMP, RV_CQL_BIGINT))
            return mismatch(in, target, why, whylen);
        put_int_width(b, in->i, 8);
        break;
    case RV__IN_DATE:
        if (target && tk != RV_CQL_DATE) return mismatch(in, target, why, whylen);
        put_int_width(b, in->i, 4);
        break;
    case RV__IN_TIME:
        if (target && tk != RV_CQL_TIME) return mismatch(in, target, why, whylen);
        if (in->i < 0 || in->i > INT64_C(86399999999999)) {
            snprintf(why, whylen, "time %" PRId64 " ns is outside 0 .. 86399999999999", in->i);
            return RV_ERR_INVALID;
        }
        put_int_width(b, in->i, 8);
        break;
    case RV__IN_INET:
        if (target && tk != RV_CQL_INET) return mismatch(in, target, why, whylen);
        if (in->n != 4 && in->n != 16) {
            snprintf(why, whylen, "an inet address has 4 or 16 bytes, not %zu", in->n);
            return RV_ERR_INVALID;
        }
        rv__cql_put_raw(b, in->p, in->n);
        break;
    case RV__IN_VARINT:
        if (target && tk != RV_CQL_VARINT) return mismatch(in, target, why, whylen);
        if (in->n == 0 || in->n > INT32_MAX) {
            snprintf(why, whylen, "a varint needs at least one byte");
            return RV_ERR_INVALID;
        }
        rv__cql_put_raw(b, in->p, in->n);
        break;
    case RV__IN_DECIMAL:
        if (target && tk != RV_CQL_DECIMAL) return mismatch(in, target, why, whylen);
        if (in->n == 0 || in->n > INT32_MAX - 4) {
            snprintf(why, whylen, "a decimal's unscaled value needs at least one byte");
            return RV_ERR_INVALID;
        }
        rv__cql_put_i32(b, in->scale);
        rv__cql_put_raw(b, in->p, in->n);
        break;
    case RV__IN_DURATION: {
        if (target && tk != RV_CQL_DURATION) return mismatch(in, target, why, whylen);
        uint8_t v[9];
        rv__cql_put_raw(b, v, rv__cql_vint_encode(in->months, v));
        rv__cql_put_raw(b, v, rv__cql_vint_encode(in->days, v));
        rv__cql_put_raw(b, v, rv__cql_vint_encode(in->i, v));
        break;
    }
    case RV__IN_COLL: {
        const rv_cql_coll_t *c = in->coll;
        if (!c) {
            snprintf(why, whylen, "no collection given");
            return RV_ERR_INVALID;
        }
        if (target && tk != (int)c->kind) return mismatch(in, target, why, whylen);
        rv_err_t e = rv__cql_coll_serialize(c, b, why, whylen);
        if (e != RV_OK) return e;
        break;
    }
    }
    if (b->oom) {
        snprintf(why, whylen, "out of memory");
        return RV_ERR_NOMEM;
    }
    if (b->len - start > INT32_MAX) {
        b->len = start;
        snprintf(why, whylen, "the value is longer than the protocol allows");
        return RV_ERR_OVERFLOW;
    }
    *len = (int32_t)(b->len - start);
    return RV_OK;
}

rv_err_t rv__cql_coll_serialize(const rv_cql_coll_t *c, rv__cql_buf_t *b, char *why, size_t whylen)
{
    if (c->err != RV_OK) {
        snprintf(why, whylen, "an element could not be added to the %s (%s)",
                 rv_cql_type_kind_name(c->kind), rv_err_str(c->err));
        return c->err;
    }
    switch (c->kind) {
    case RV_CQL_MAP:
        if (c->n % 2) {
            snprintf(why, whylen, "the map has a key without a value");
            return RV_ERR_INVALID;
        }
        rv__cql_put_i32(b, (int32_t)(c->n / 2));
        break;
    case RV_CQL_LIST:
    case RV_CQL_SET:
        rv__cql_put_i32(b, (int32_t)c->n);
        break;
    default:
        break; /* tuples and UDTs carry no count */
    }
    rv__cql_put_raw(b, c->buf.data, c->buf.len);
    return b->oom ? RV_ERR_NOMEM : RV_OK;
}

/* ----------------------------------------------------------------- decode */

bool rv_cql_value_is_null(const rv_cql_value_t *v)
{
    return !v || v->len < 0 || !v->data;
}

/* Checks the common preconditions: not null (or empty, for fixed-size
 * kinds), and the type among the accepted kinds (any kind when type is NULL). */
static rv_err_t check(const rv_cql_value_t *v, const int *kinds, size_t nkinds, bool fixed)
{
    if (!v) return RV_ERR_INVALID;
    if (v->type) {
        size_t i;
        for (i = 0; i < nkinds; i++)
            if (v->type->kind == kinds[i]) break;
        if (i == nkinds) return RV_ERR_INVALID;
    }
    if (v->len < 0 || !v->data || (fixed && v->len == 0)) return RV_ERR_NOT_FOUND;
    return RV_OK;
}

#define CHECK_KINDS(v, fixed, ...)                                                                 \
    do {                                                                                           \
        static const int ks_[] = {__VA_ARGS__};                                                    \
        rv_err_t e_ = check(v, ks_, sizeof(ks_) / sizeof(ks_[0]), fixed);                          \
        if (e_ != RV_OK) return e_;                                                                \
    } while (0)

static uint64_t load_be(const uint8_t *p, size_t n)
{
    uint64_t u = 0;
    for (size_t i = 0; i < n; i++)
        u = (u << 8) | p[i];
    return u;
}

/* Sign-extends a big-endian two's complement integer of n bytes (n >= 1). */
static rv_err_t load_signed(const uint8_t *p, size_t n, int64_t *out)
{
    if (n == 0) return RV_ERR_DECODE;
    /* Leading bytes beyond 8 must only repeat the sign. */
    while (n > 8) {
        uint8_t sign = (p[1] & 0x80) ? 0xff : 0x00;
        if (p[0] != sign) return RV_ERR_OVERFLOW;
        p++;
        n--;
    }
    uint64_t u = load_be(p, n);
    if (n < 8 && (p[0] & 0x80)) u |= ~UINT64_C(0) << (8 * n);
    *out = (int64_t)u;
    return RV_OK;
}

static rv_err_t get_integer(const rv_cql_value_t *v, int64_t *out)
{
    CHECK_KINDS(v, true, RV_CQL_TINYINT, RV_CQL_SMALLINT, RV_CQL_INT, RV_CQL_BIGINT, RV_CQL_COUNTER,
                RV_CQL_VARINT);
    size_t n = (size_t)v->len;
    if (v->type) {
        size_t want = rv__cql_kind_fixed_size(v->type->kind);
        if (want && n != want) return RV_ERR_DECODE;
    }
    return load_signed(v->data, n, out);
}

static rv_err_t narrow(rv_err_t e, int64_t x, int64_t lo, int64_t hi)
{
    if (e != RV_OK) return e;
    return x < lo || x > hi ? RV_ERR_OVERFLOW : RV_OK;
}

rv_err_t rv_cql_value_get_bool(const rv_cql_value_t *v, bool *out)
{
    CHECK_KINDS(v, true, RV_CQL_BOOLEAN);
    if (v->len != 1) return RV_ERR_DECODE;
    *out = v->data[0] != 0;
    return RV_OK;
}

rv_err_t rv_cql_value_get_tinyint(const rv_cql_value_t *v, int8_t *out)
{
    int64_t x = 0;
    rv_err_t e = get_integer(v, &x);
    e = narrow(e, x, INT8_MIN, INT8_MAX);
    if (e == RV_OK) *out = (int8_t)x;
    return e;
}

rv_err_t rv_cql_value_get_smallint(const rv_cql_value_t *v, int16_t *out)
{
    int64_t x = 0;
    rv_err_t e = get_integer(v, &x);
    e = narrow(e, x, INT16_MIN, INT16_MAX);
    if (e == RV_OK) *out = (int16_t)x;
    return e;
}

rv_err_t rv_cql_value_get_int(const rv_cql_value_t *v, int32_t *out)
{
    int64_t x = 0;
    rv_err_t e = get_integer(v, &x);
    e = narrow(e, x, INT32_MIN, INT32_MAX);
    if (e == RV_OK) *out = (int32_t)x;
    return e;
}

rv_err_t rv_cql_value_get_bigint(const rv_cql_value_t *v, int64_t *out)
{
    return get_integer(v, out);
}

rv_err_t rv_cql_value_get_float(const rv_cql_value_t *v, float *out)
{
    CHECK_KINDS(v, true, RV_CQL_FLOAT);
    if (v->len != 4) return RV_ERR_DECODE;
    uint32_t u = (uint32_t)load_be(v->data, 4);
    memcpy(out, &u, 4);
    return RV_OK;
}

rv_err_t rv_cql_value_get_double(const rv_cql_value_t *v, double *out)
{
    CHECK_KINDS(v, true, RV_CQL_DOUBLE, RV_CQL_FLOAT);
    if (v->len == 4 && (!v->type || v->type->kind == RV_CQL_FLOAT)) {
        float f;
        uint32_t u = (uint32_t)load_be(v->data, 4);
        memcpy(&f, &u, 4);
        *out = f;
        return RV_OK;
    }
    if (v->len != 8 || (v->type && v->type->kind != RV_CQL_DOUBLE)) return RV_ERR_DECODE;
    uint64_t u = load_be(v->data, 8);
    memcpy(out, &u, 8);
    return RV_OK;
}

rv_err_t rv_cql_value_get_text(const rv_cql_value_t *v, const char **out, size_t *len)
{
    CHECK_KINDS(v, false, RV_CQL_VARCHAR, RV_CQL_ASCII);
    *out = (const char *)v->data;
    *len = (size_t)v->len;
    return RV_OK;
}

rv_err_t rv_cql_value_get_bytes(const rv_cql_value_t *v, const uint8_t **out, size_t *len)
{
    if (!v) return RV_ERR_INVALID;
    if (v->len < 0 || !v->data) return RV_ERR_NOT_FOUND;
    *out = v->data;
    *len = (size_t)v->len;
    return RV_OK;
}

rv_err_t rv_cql_value_get_uuid(const rv_cql_value_t *v, uint8_t out[16])
{
    CHECK_KINDS(v, true, RV_CQL_UUID, RV_CQL_TIMEUUID);
    if (v->len != 16) return RV_ERR_DECODE;
    memcpy(out, v->data, 16);
    return RV_OK;
}

static rv_err_t get_fixed64(const rv_cql_value_t *v, int64_t *out)
{
    if (v->len != 8) return RV_ERR_DECODE;
    *out = (int64_t)load_be(v->data, 8);
    return RV_OK;
}

rv_err_t rv_cql_value_get_timestamp(const rv_cql_value_t *v, int64_t *ms)
{
    CHECK_KINDS(v, true, RV_CQL_TIMESTAMP);
    return get_fixed64(v, ms);
}

rv_err_t rv_cql_value_get_date(const rv_cql_value_t *v, uint32_t *days)
{
    CHECK_KINDS(v, true, RV_CQL_DATE);
    if (v->len != 4) return RV_ERR_DECODE;
    *days = (uint32_t)load_be(v->data, 4);
    return RV_OK;
}

rv_err_t rv_cql_value_get_time(const rv_cql_value_t *v, int64_t *ns)
{
    CHECK_KINDS(v, true, RV_CQL_TIME);
    return get_fixed64(v, ns);
}

rv_err_t rv_cql_value_get_inet(const rv_cql_value_t *v, uint8_t out[16], size_t *len)
{
    CHECK_KINDS(v, true, RV_CQL_INET);
    if (v->len != 4 && v->len != 16) return RV_ERR_DECODE;
    memcpy(out, v->data, (size_t)v->len);
    *len = (size_t)v->len;
    return RV_OK;
}

rv_err_t rv_cql_value_get_varint(const rv_cql_value_t *v, const uint8_t **out, size_t *len)
{
    CHECK_KINDS(v, true, RV_CQL_VARINT, RV_CQL_TINYINT, RV_CQL_SMALLINT, RV_CQL_INT, RV_CQL_BIGINT,
                RV_CQL_COUNTER);
    *out = v->data;
    *len = (size_t)v->len;
    return RV_OK;
}

rv_err_t rv_cql_value_get_decimal(const rv_cql_value_t *v, int32_t *scale, const uint8_t **unscaled,
                                  size_t *len)
{
    CHECK_KINDS(v, true, RV_CQL_DECIMAL);
    if (v->len < 5) return RV_ERR_DECODE;
    *scale = (int32_t)load_be(v->data, 4);
    *unscaled = v->data + 4;
    *len = (size_t)v->len - 4;
    return RV_OK;
}

rv_err_t rv_cql_value_get_duration(const rv_cql_value_t *v, int32_t *months, int32_t *days,
                                   int64_t *nanos)
{
    CHECK_KINDS(v, true, RV_CQL_DURATION);
    const uint8_t *p = v->data, *end = v->data + v->len;
    int64_t m, d, n;
    if (!rv__cql_vint_decode(&p, end, &m) || !rv__cql_vint_decode(&p, end, &d) ||
        !rv__cql_vint_decode(&p, end, &n) || p != end)
        return RV_ERR_DECODE;
    if (m < INT32_MIN || m > INT32_MAX || d < INT32_MIN || d > INT32_MAX) return RV_ERR_DECODE;
    *months = (int32_t)m;
    *days = (int32_t)d;
    *nanos = n;
    return RV_OK;
}

/* ------------------------------------------------------------- collections */

rv_err_t rv_cql_iter_init(rv_cql_iter_t *it, const rv_cql_value_t *v)
{
    memset(it, 0, sizeof(*it));
    if (!v || !v->type) return RV_ERR_INVALID;
    int k = v->type->kind;
    if (k != RV_CQL_LIST && k != RV_CQL_SET && k != RV_CQL_MAP && k != RV_CQL_TUPLE &&
        k != RV_CQL_UDT)
        return RV_ERR_INVALID;
    if (v->len < 0 || !v->data) return RV_ERR_NOT_FOUND;
    it->type = v->type;
    it->p = v->data;
    it->end = v->data + v->len;
    if (k == RV_CQL_TUPLE || k == RV_CQL_UDT) {
        it->left = v->type->n;
        return RV_OK;
    }
    if (v->len < 4) return RV_ERR_DECODE;
    int32_t n = (int32_t)load_be(it->p, 4);
    it->p += 4;
    size_t per = k == RV_CQL_MAP ? 8 : 4; /* every element has at least its [int] length */
    if (n < 0 || (size_t)n > (size_t)(it->end - it->p) / per) return RV_ERR_DECODE;
    it->left = (uint32_t)n * (k == RV_CQL_MAP ? 2 : 1);
    return RV_OK;
}

rv_err_t rv_cql_iter_next(rv_cql_iter_t *it, rv_cql_value_t *out)
{
    if (!it->type || it->left == 0) return RV_ERR_NOT_FOUND;
    int k = it->type->kind;
    if ((k == RV_CQL_TUPLE || k == RV_CQL_UDT) && it->p == it->end)
        return RV_ERR_NOT_FOUND; /* a UDT value may omit trailing fields */
    if (it->end - it->p < 4) return RV_ERR_DECODE;
    int32_t n = (int32_t)load_be(it->p, 4);
    it->p += 4;
    switch (k) {
    case RV_CQL_LIST:
    case RV_CQL_SET:
        out->type = it->type->sub[0];
        break;
    case RV_CQL_MAP:
        out->type = it->type->sub[it->index % 2];
        break;
    default:
        out->type = it->type->sub[it->index];
        break;
    }
    if (n < 0) {
        out->data = NULL;
        out->len = -1;
    } else {
        if ((size_t)n > (size_t)(it->end - it->p)) return RV_ERR_DECODE;
        out->data = it->p;
        out->len = n;
        it->p += n;
    }
    it->left--;
    it->index++;
    return RV_OK;
}

rv_err_t rv_cql_value_count(const rv_cql_value_t *v, size_t *n)
{
    rv_cql_iter_t it;
    rv_err_t e = rv_cql_iter_init(&it, v);
    if (e != RV_OK) return e;
    int k = it.type->kind;
    if (k == RV_CQL_LIST || k == RV_CQL_SET || k == RV_CQL_MAP) {
        *n = k == RV_CQL_MAP ? it.left / 2 : it.left;
        return RV_OK;
    }
    size_t c = 0;
    rv_cql_value_t el;
    while ((e = rv_cql_iter_next(&it, &el)) == RV_OK)
        c++;
    if (e != RV_ERR_NOT_FOUND) return e;
    *n = c;
    return RV_OK;
}

/* ----------------------------------------------------------------- format */

typedef struct fmt {
    char *buf;
    size_t size, len;
} fmt_t;

static void emitn(fmt_t *o, const char *s, size_t n)
{
    if (o->size && o->len < o->size - 1) {
        size_t room = o->size - 1 - o->len;
        size_t k = n < room ? n : room;
        memcpy(o->buf + o->len, s, k);
        o->buf[o->len + k] = '\0';
    }
    o->len += n;
}

static void emit(fmt_t *o, const char *s)
{
    emitn(o, s, strlen(s));
}

static void emitf(fmt_t *o, const char *f, ...) __attribute__((format(printf, 2, 3)));
static void emitf(fmt_t *o, const char *f, ...)
{
    char tmp[128];
    va_list ap;
    va_start(ap, f);
    int n = vsnprintf(tmp, sizeof(tmp), f, ap);
    va_end(ap);
    if (n > 0) emitn(o, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

static void emit_hex(fmt_t *o, const uint8_t *p, size_t n)
{
    static const char hx[] = "0123456789abcdef";
    emit(o, "0x");
    for (size_t i = 0; i < n; i++) {
        char c[2] = {hx[p[i] >> 4], hx[p[i] & 15]};
        emitn(o, c, 2);
    }
}

static bool format_value(fmt_t *o, const rv_cql_value_t *v, int depth)
{
    if (rv_cql_value_is_null(v)) {
        emit(o, "null");
        return true;
    }
    int k = v->type ? v->type->kind : RV_CQL_BLOB;
    if (v->len == 0 && (rv__cql_kind_fixed_size(k) || k == RV_CQL_VARINT || k == RV_CQL_DECIMAL ||
                        k == RV_CQL_INET || k == RV_CQL_DURATION)) {
        emit(o, "empty");
        return true;
    }
    int64_t i64;
    double d;
    switch (k) {
    case RV_CQL_ASCII:
    case RV_CQL_VARCHAR:
        emit(o, "'");
        for (int32_t i = 0; i < v->len; i++)
            emitn(o, v->data[i] == '\'' ? "''" : (const char *)&v->data[i],
                  v->data[i] == '\'' ? 2 : 1);
        emit(o, "'");
        return true;
    case RV_CQL_BOOLEAN: {
        bool b;
        if (rv_cql_value_get_bool(v, &b) != RV_OK) return false;
        emit(o, b ? "true" : "false");
        return true;
    }
    case RV_CQL_TINYINT:
    case RV_CQL_SMALLINT:
    case RV_CQL_INT:
    case RV_CQL_BIGINT:
    case RV_CQL_COUNTER:
        if (get_integer(v, &i64) != RV_OK) return false;
        emitf(o, "%" PRId64, i64);
        return true;
    case RV_CQL_VARINT:
        if (load_signed(v->data, (size_t)v->len, &i64) == RV_OK)
            emitf(o, "%" PRId64, i64);
        else
            emit_hex(o, v->data, (size_t)v->len);
        return true;
    case RV_CQL_DECIMAL: {
        int32_t scale;
        const uint8_t *u;
        size_t n;
        if (rv_cql_value_get_decimal(v, &scale, &u, &n) != RV_OK) return false;
        /* The exponent is -scale, computed wide: scale may be INT32_MIN. */
        if (load_signed(u, n, &i64) == RV_OK)
            emitf(o, "%" PRId64 "E%" PRId64, i64, -(int64_t)scale);
        else {
            emit_hex(o, u, n);
            emitf(o, "E%" PRId64, -(int64_t)scale);
        }
        return true;
    }
    case RV_CQL_FLOAT:
    case RV_CQL_DOUBLE:
        if (rv_cql_value_get_double(v, &d) != RV_OK) return false;
        emitf(o, k == RV_CQL_FLOAT ? "%.9g" : "%.17g", d);
        return true;
    case RV_CQL_TIMESTAMP:
    case RV_CQL_TIME:
        if (get_fixed64(v, &i64) != RV_OK) return false;
        emitf(o, "%" PRId64, i64);
        return true;
    case RV_CQL_DATE: {
        uint32_t days;
        if (rv_cql_value_get_date(v, &days) != RV_OK) return false;
        emitf(o, "%" PRId64, (int64_t)days - (INT64_C(1) << 31));
        return true;
    }
    case RV_CQL_UUID:
    case RV_CQL_TIMEUUID: {
        uint8_t u[16];
        if (rv_cql_value_get_uuid(v, u) != RV_OK) return false;
        emitf(o, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1],
              u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14],
              u[15]);
        return true;
    }
    case RV_CQL_INET: {
        uint8_t a[16];
        size_t n;
        char s[64];
        if (rv_cql_value_get_inet(v, a, &n) != RV_OK) return false;
        inet_ntop(n == 4 ? AF_INET : AF_INET6, a, s, sizeof(s));
        emit(o, s);
        return true;
    }
    case RV_CQL_DURATION: {
        int32_t mo, dd;
        int64_t ns;
        if (rv_cql_value_get_duration(v, &mo, &dd, &ns) != RV_OK) return false;
        emitf(o, "%" PRId32 "mo%" PRId32 "d%" PRId64 "ns", mo, dd, ns);
        return true;
    }
    case RV_CQL_LIST:
    case RV_CQL_SET:
    case RV_CQL_MAP:
    case RV_CQL_TUPLE:
    case RV_CQL_UDT: {
        if (depth > RV__CQL_MAX_TYPE_DEPTH) return false;
        rv_cql_iter_t it;
        if (rv_cql_iter_init(&it, v) != RV_OK) return false;
        const char *open = k == RV_CQL_LIST ? "[" : k == RV_CQL_TUPLE ? "(" : "{";
        const char *close = k == RV_CQL_LIST ? "]" : k == RV_CQL_TUPLE ? ")" : "}";
        emit(o, open);
        rv_cql_value_t el;
        rv_err_t e;
        size_t i = 0;
        while ((e = rv_cql_iter_next(&it, &el)) == RV_OK) {
            if (i) emit(o, k == RV_CQL_MAP && i % 2 ? ": " : ", ");
            if (k == RV_CQL_UDT) {
                emit(o, v->type->fields[i]);
                emit(o, ": ");
            }
            if (!format_value(o, &el, depth + 1)) return false;
            i++;
        }
        if (e != RV_ERR_NOT_FOUND) return false;
        emit(o, close);
        return true;
    }
    default:
        emit_hex(o, v->data, (size_t)v->len);
        return true;
    }
}

size_t rv_cql_value_format(const rv_cql_value_t *v, char *buf, size_t size)
{
    fmt_t o = {buf, size, 0};
    if (size) buf[0] = '\0';
    if (!format_value(&o, v, 0)) {
        o.len = 0;
        if (size) buf[0] = '\0';
        emit(&o, "<malformed>");
    }
    return o.len;
}
