/* Frame header and body primitives of the CQL native protocol v4 (sections 2
 * and 3 of doc/native_protocol_v4.spec). Every read checks the remaining
 * length first; nothing here allocates for input. */
#include "cql/frame.h"

#include <stdlib.h>
#include <string.h>

const char *rv__cql_opcode_name(int opcode)
{
    switch (opcode) {
    case RV__CQL_OP_ERROR:
        return "ERROR";
    case RV__CQL_OP_STARTUP:
        return "STARTUP";
    case RV__CQL_OP_READY:
        return "READY";
    case RV__CQL_OP_AUTHENTICATE:
        return "AUTHENTICATE";
    case RV__CQL_OP_OPTIONS:
        return "OPTIONS";
    case RV__CQL_OP_SUPPORTED:
        return "SUPPORTED";
    case RV__CQL_OP_QUERY:
        return "QUERY";
    case RV__CQL_OP_RESULT:
        return "RESULT";
    case RV__CQL_OP_PREPARE:
        return "PREPARE";
    case RV__CQL_OP_EXECUTE:
        return "EXECUTE";
    case RV__CQL_OP_REGISTER:
        return "REGISTER";
    case RV__CQL_OP_EVENT:
        return "EVENT";
    case RV__CQL_OP_BATCH:
        return "BATCH";
    case RV__CQL_OP_AUTH_CHALLENGE:
        return "AUTH_CHALLENGE";
    case RV__CQL_OP_AUTH_RESPONSE:
        return "AUTH_RESPONSE";
    case RV__CQL_OP_AUTH_SUCCESS:
        return "AUTH_SUCCESS";
    default:
        return "UNKNOWN";
    }
}

/* ------------------------------------------------------------------ writing */

void rv__cql_buf_init(rv__cql_buf_t *b)
{
    memset(b, 0, sizeof(*b));
}

void rv__cql_buf_free(rv__cql_buf_t *b)
{
    free(b->data);
    memset(b, 0, sizeof(*b));
}

void rv__cql_buf_reset(rv__cql_buf_t *b)
{
    b->len = 0;
    b->oom = false;
}

bool rv__cql_buf_reserve(rv__cql_buf_t *b, size_t n)
{
    if (b->oom) return false;
    if (b->cap - b->len >= n) return true;
    if (n > SIZE_MAX / 2 - b->len) {
        b->oom = true;
        return false;
    }
    size_t cap = b->cap ? b->cap : 128;
    while (cap - b->len < n)
        cap *= 2;
    uint8_t *d = realloc(b->data, cap);
    if (!d) {
        b->oom = true;
        return false;
    }
    b->data = d;
    b->cap = cap;
    return true;
}

uint8_t *rv__cql_buf_take(rv__cql_buf_t *b, size_t *len)
{
    uint8_t *d = b->data;
    if (len) *len = b->len;
    memset(b, 0, sizeof(*b));
    return d;
}

void rv__cql_put_raw(rv__cql_buf_t *b, const void *p, size_t n)
{
    if (n == 0 || !rv__cql_buf_reserve(b, n)) return;
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

void rv__cql_store_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

void rv__cql_store_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

void rv__cql_put_u8(rv__cql_buf_t *b, uint8_t v)
{
    if (!rv__cql_buf_reserve(b, 1)) return;
    b->data[b->len++] = v;
}

void rv__cql_put_u16(rv__cql_buf_t *b, uint16_t v)
{
    if (!rv__cql_buf_reserve(b, 2)) return;
    rv__cql_store_u16(b->data + b->len, v);
    b->len += 2;
}

void rv__cql_put_i32(rv__cql_buf_t *b, int32_t v)
{
    if (!rv__cql_buf_reserve(b, 4)) return;
    rv__cql_store_u32(b->data + b->len, (uint32_t)v);
    b->len += 4;
}

void rv__cql_put_i64(rv__cql_buf_t *b, int64_t v)
{
    if (!rv__cql_buf_reserve(b, 8)) return;
    uint64_t u = (uint64_t)v;
    rv__cql_store_u32(b->data + b->len, (uint32_t)(u >> 32));
    rv__cql_store_u32(b->data + b->len + 4, (uint32_t)u);
    b->len += 8;
}

void rv__cql_put_string(rv__cql_buf_t *b, const char *s, size_t n)
{
    rv__cql_put_u16(b, (uint16_t)n);
    rv__cql_put_raw(b, s, n);
}

void rv__cql_put_long_string(rv__cql_buf_t *b, const char *s, size_t n)
{
    rv__cql_put_i32(b, (int32_t)n);
    rv__cql_put_raw(b, s, n);
}

void rv__cql_put_bytes(rv__cql_buf_t *b, const void *p, int32_t n)
{
    rv__cql_put_i32(b, n);
    if (n > 0) rv__cql_put_raw(b, p, (size_t)n);
}

void rv__cql_put_short_bytes(rv__cql_buf_t *b, const void *p, size_t n)
{
    rv__cql_put_u16(b, (uint16_t)n);
    rv__cql_put_raw(b, p, n);
}

void rv__cql_put_string_map(rv__cql_buf_t *b, const char *const *kv, size_t npairs)
{
    rv__cql_put_u16(b, (uint16_t)npairs);
    for (size_t i = 0; i < 2 * npairs; i++)
        rv__cql_put_string(b, kv[i], strlen(kv[i]));
}

void rv__cql_put_string_list(rv__cql_buf_t *b, const char *const *list, size_t n)
{
    rv__cql_put_u16(b, (uint16_t)n);
    for (size_t i = 0; i < n; i++)
        rv__cql_put_string(b, list[i], strlen(list[i]));
}

size_t rv__cql_frame_begin(rv__cql_buf_t *b, uint8_t opcode, uint8_t flags)
{
    size_t start = b->len;
    if (!rv__cql_buf_reserve(b, RV__CQL_HEADER_SIZE)) return start;
    rv__cql_header_t h = {RV__CQL_VERSION, flags, 0, opcode, 0};
    rv__cql_header_encode(b->data + b->len, &h);
    b->len += RV__CQL_HEADER_SIZE;
    return start;
}

void rv__cql_frame_end(rv__cql_buf_t *b, size_t start)
{
    if (b->oom || b->len < start + RV__CQL_HEADER_SIZE) return;
    rv__cql_store_u32(b->data + start + 5, (uint32_t)(b->len - start - RV__CQL_HEADER_SIZE));
}

void rv__cql_frame_set_stream(uint8_t *p, int16_t stream)
{
    rv__cql_store_u16(p + 2, (uint16_t)stream);
}

/* ------------------------------------------------------------------ reading */

void rv__cql_rd_init(rv__cql_rd_t *r, const uint8_t *buf, size_t len)
{
    r->base = r->p = buf;
    r->end = buf + len;
    r->err = NULL;
    r->err_off = 0;
}

void rv__cql_rd_fail(rv__cql_rd_t *r, const char *what)
{
    if (r->err) return;
    r->err = what;
    r->err_off = rv__cql_rd_off(r);
    /* Nothing more can be read once the input is known to be bad. */
    r->p = r->end;
}

static bool need(rv__cql_rd_t *r, size_t n, const char *what)
{
    if (r->err) return false;
    if (rv__cql_rd_left(r) < n) {
        rv__cql_rd_fail(r, what);
        return false;
    }
    return true;
}

uint8_t rv__cql_get_u8(rv__cql_rd_t *r)
{
    if (!need(r, 1, "[byte]")) return 0;
    return *r->p++;
}

uint16_t rv__cql_get_u16(rv__cql_rd_t *r)
{
    if (!need(r, 2, "[short]")) return 0;
    uint16_t v = (uint16_t)((r->p[0] << 8) | r->p[1]);
    r->p += 2;
    return v;
}

int32_t rv__cql_get_i32(rv__cql_rd_t *r)
{
    if (!need(r, 4, "[int]")) return 0;
    uint32_t v =
        ((uint32_t)r->p[0] << 24) | ((uint32_t)r->p[1] << 16) | ((uint32_t)r->p[2] << 8) | r->p[3];
    r->p += 4;
    return (int32_t)v;
}

int64_t rv__cql_get_i64(rv__cql_rd_t *r)
{
    if (!need(r, 8, "[long]")) return 0;
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | r->p[i];
    r->p += 8;
    return (int64_t)v;
}

const uint8_t *rv__cql_get_raw(rv__cql_rd_t *r, size_t n, const char *what)
{
    if (!need(r, n, what)) return NULL;
    const uint8_t *p = r->p;
    r->p += n;
    return p;
}

const char *rv__cql_get_string(rv__cql_rd_t *r, size_t *n)
{
    size_t len = rv__cql_get_u16(r);
    const char *s = (const char *)rv__cql_get_raw(r, len, "[string] bytes");
    *n = s ? len : 0;
    return s ? s : (r->err ? NULL : "");
}

const char *rv__cql_get_long_string(rv__cql_rd_t *r, size_t *n)
{
    int32_t len = rv__cql_get_i32(r);
    *n = 0;
    if (r->err) return NULL;
    if (len < 0) {
        rv__cql_rd_fail(r, "[long string] length");
        return NULL;
    }
    const char *s = (const char *)rv__cql_get_raw(r, (size_t)len, "[long string] bytes");
    if (s) *n = (size_t)len;
    return s;
}

int32_t rv__cql_get_bytes(rv__cql_rd_t *r, const uint8_t **p)
{
    int32_t len = rv__cql_get_i32(r);
    *p = NULL;
    if (r->err) return -1;
    if (len < 0) return -1;
    *p = rv__cql_get_raw(r, (size_t)len, "[bytes] content");
    return *p ? len : -1;
}

const uint8_t *rv__cql_get_short_bytes(rv__cql_rd_t *r, size_t *n)
{
    size_t len = rv__cql_get_u16(r);
    const uint8_t *p = rv__cql_get_raw(r, len, "[short bytes] content");
    *n = p ? len : 0;
    return p;
}

bool rv__cql_get_inet(rv__cql_rd_t *r, uint8_t addr[16], size_t *alen, int32_t *port)
{
    uint8_t n = rv__cql_get_u8(r);
    if (r->err) return false;
    if (n != 4 && n != 16) {
        rv__cql_rd_fail(r, "[inet] address size (not 4 or 16)");
        return false;
    }
    const uint8_t *p = rv__cql_get_raw(r, n, "[inet] address");
    int32_t pt = rv__cql_get_i32(r);
    if (r->err) return false;
    memcpy(addr, p, n);
    *alen = n;
    *port = pt;
    return true;
}

void rv__cql_skip_string_list(rv__cql_rd_t *r)
{
    size_t n = rv__cql_get_u16(r), len;
    for (size_t i = 0; i < n && !r->err; i++)
        rv__cql_get_string(r, &len);
}

void rv__cql_skip_string_map(rv__cql_rd_t *r)
{
    size_t n = rv__cql_get_u16(r), len;
    for (size_t i = 0; i < n && !r->err; i++) {
        rv__cql_get_string(r, &len);
        rv__cql_get_string(r, &len);
    }
}

void rv__cql_skip_string_multimap(rv__cql_rd_t *r)
{
    size_t n = rv__cql_get_u16(r), len;
    for (size_t i = 0; i < n && !r->err; i++) {
        rv__cql_get_string(r, &len);
        rv__cql_skip_string_list(r);
    }
}

void rv__cql_skip_bytes_map(rv__cql_rd_t *r)
{
    size_t n = rv__cql_get_u16(r), len;
    const uint8_t *p;
    for (size_t i = 0; i < n && !r->err; i++) {
        rv__cql_get_string(r, &len);
        rv__cql_get_bytes(r, &p);
    }
}

rv_err_t rv__cql_rd_check(const rv__cql_rd_t *r, const char *ctx, rv_error_t **errp)
{
    if (!r->err) return RV_OK;
    return rv_error_set(errp, RV_ERR_DECODE, false,
                        "malformed %s: bad or truncated %s at byte %zu of %zu", ctx, r->err,
                        r->err_off, (size_t)(r->end - r->base));
}

/* ------------------------------------------------------------------- header */

void rv__cql_header_encode(uint8_t out[RV__CQL_HEADER_SIZE], const rv__cql_header_t *h)
{
    out[0] = h->version;
    out[1] = h->flags;
    rv__cql_store_u16(out + 2, (uint16_t)h->stream);
    out[4] = h->opcode;
    rv__cql_store_u32(out + 5, h->length);
}

static bool is_response_opcode(uint8_t op)
{
    switch (op) {
    case RV__CQL_OP_ERROR:
    case RV__CQL_OP_READY:
    case RV__CQL_OP_AUTHENTICATE:
    case RV__CQL_OP_SUPPORTED:
    case RV__CQL_OP_RESULT:
    case RV__CQL_OP_EVENT:
    case RV__CQL_OP_AUTH_CHALLENGE:
    case RV__CQL_OP_AUTH_SUCCESS:
        return true;
    default:
        return false;
    }
}

rv_err_t rv__cql_header_decode(const uint8_t in[RV__CQL_HEADER_SIZE], uint32_t max_body,
                               rv__cql_header_t *h, rv_error_t **errp)
{
    h->version = in[0];
    h->flags = in[1];
    h->stream = (int16_t)(uint16_t)((in[2] << 8) | in[3]);
    h->opcode = in[4];
    h->length = ((uint32_t)in[5] << 24) | ((uint32_t)in[6] << 16) | ((uint32_t)in[7] << 8) | in[8];
    if (!(h->version & RV__CQL_RESPONSE))
        return rv_error_set(errp, RV_ERR_PROTOCOL, false,
                            "protocol error: frame header byte 0 is 0x%02x, not a response", in[0]);
    if ((h->version & 0x7f) != RV__CQL_VERSION)
        return rv_error_set(errp, RV_ERR_PROTOCOL, false,
                            "protocol error: the server answered with protocol version %d "
                            "(this client speaks v%d)",
                            h->version & 0x7f, RV__CQL_VERSION);
    if (!is_response_opcode(h->opcode))
        return rv_error_set(errp, RV_ERR_PROTOCOL, false,
                            "protocol error: frame header has opcode 0x%02x (%s), not a response",
                            h->opcode, rv__cql_opcode_name(h->opcode));
    if (h->flags & RV__CQL_FLAG_COMPRESSION)
        return rv_error_set(errp, RV_ERR_PROTOCOL, false,
                            "protocol error: compressed frame, but no compression was negotiated");
    if (h->length > max_body || h->length > RV__CQL_MAX_BODY)
        return rv_error_set(errp, RV_ERR_OVERFLOW, false,
                            "frame of %u bytes exceeds the limit of %u bytes (cql.max.frame.size)",
                            h->length, max_body < RV__CQL_MAX_BODY ? max_body : RV__CQL_MAX_BODY);
    return RV_OK;
}
