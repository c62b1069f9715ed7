/* CQL native protocol v4: frame header and the body's primitive notations
 * ([short], [int], [string], [bytes], [string map], [inet]...), for writing
 * request bodies and for reading response bodies without ever reading past
 * the end of the input.
 *
 * Writing goes into an rv__cql_buf_t whose out-of-memory condition is sticky:
 * a sequence of puts is checked once at the end (buf.oom). Reading goes
 * through an rv__cql_rd_t whose malformed-input condition is sticky the same
 * way: after the first short read every get returns zero/NULL, and rd.err
 * names what was being read and at which byte offset.
 */
#ifndef RV_CQL_FRAME_H
#define RV_CQL_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rivulet/error.h"

#define RV__CQL_HEADER_SIZE 9
#define RV__CQL_VERSION     4
#define RV__CQL_RESPONSE    0x80

/* Header flags. */
#define RV__CQL_FLAG_COMPRESSION    0x01
#define RV__CQL_FLAG_TRACING        0x02
#define RV__CQL_FLAG_CUSTOM_PAYLOAD 0x04
#define RV__CQL_FLAG_WARNING        0x08

/* Opcodes. */
enum {
    RV__CQL_OP_ERROR = 0x00,
    RV__CQL_OP_STARTUP = 0x01,
    RV__CQL_OP_READY = 0x02,
    RV__CQL_OP_AUTHENTICATE = 0x03,
    RV__CQL_OP_OPTIONS = 0x05,
    RV__CQL_OP_SUPPORTED = 0x06,
    RV__CQL_OP_QUERY = 0x07,
    RV__CQL_OP_RESULT = 0x08,
    RV__CQL_OP_PREPARE = 0x09,
    RV__CQL_OP_EXECUTE = 0x0A,
    RV__CQL_OP_REGISTER = 0x0B,
    RV__CQL_OP_EVENT = 0x0C,
    RV__CQL_OP_BATCH = 0x0D,
    RV__CQL_OP_AUTH_CHALLENGE = 0x0E,
    RV__CQL_OP_AUTH_RESPONSE = 0x0F,
    RV__CQL_OP_AUTH_SUCCESS = 0x10
};

/* The protocol's own limit on a frame body (section 2.5). */
#define RV__CQL_MAX_BODY (256u * 1024u * 1024u)

const char *rv__cql_opcode_name(int opcode);

/* ------------------------------------------------------------------ writing */

typedef struct rv__cql_buf {
    uint8_t *data;
    size_t len, cap;
    bool oom; /* sticky: an allocation failed; the content is incomplete */
} rv__cql_buf_t;

void rv__cql_buf_init(rv__cql_buf_t *b);
void rv__cql_buf_free(rv__cql_buf_t *b);
/* Forgets the content, keeps the memory. */
void rv__cql_buf_reset(rv__cql_buf_t *b);
/* Makes room for n more bytes; false (and oom) when memory ran out. */
bool rv__cql_buf_reserve(rv__cql_buf_t *b, size_t n);
/* Takes the bytes out of b (the caller frees them); b is left empty. */
uint8_t *rv__cql_buf_take(rv__cql_buf_t *b, size_t *len);

void rv__cql_put_raw(rv__cql_buf_t *b, const void *p, size_t n);
void rv__cql_put_u8(rv__cql_buf_t *b, uint8_t v);
void rv__cql_put_u16(rv__cql_buf_t *b, uint16_t v);
void rv__cql_put_i32(rv__cql_buf_t *b, int32_t v);
void rv__cql_put_i64(rv__cql_buf_t *b, int64_t v);
/* [string]: a [short] length then the bytes (n must fit 16 bits; longer is cut
 * by the callers' checks, never here). */
void rv__cql_put_string(rv__cql_buf_t *b, const char *s, size_t n);
/* [long string] */
void rv__cql_put_long_string(rv__cql_buf_t *b, const char *s, size_t n);
/* [bytes]/[value]: an [int] length then the bytes; n < 0 writes only the
 * length (-1 null, -2 unset). */
void rv__cql_put_bytes(rv__cql_buf_t *b, const void *p, int32_t n);
/* [short bytes] */
void rv__cql_put_short_bytes(rv__cql_buf_t *b, const void *p, size_t n);
/* [string map] from n key/value pairs kv[0], kv[1], kv[2]... */
void rv__cql_put_string_map(rv__cql_buf_t *b, const char *const *kv, size_t npairs);
/* [string list] */
void rv__cql_put_string_list(rv__cql_buf_t *b, const char *const *list, size_t n);

/* Big-endian stores into a fixed place. */
void rv__cql_store_u16(uint8_t *p, uint16_t v);
void rv__cql_store_u32(uint8_t *p, uint32_t v);

/* Starts a request frame: writes a header (stream 0, length 0) and returns its
 * offset; rv__cql_frame_end() fills the length once the body is written. */
size_t rv__cql_frame_begin(rv__cql_buf_t *b, uint8_t opcode, uint8_t flags);
void rv__cql_frame_end(rv__cql_buf_t *b, size_t start);
/* Sets the stream id of a frame that starts at p. */
void rv__cql_frame_set_stream(uint8_t *p, int16_t stream);

/* ------------------------------------------------------------------ reading */

typedef struct rv__cql_rd {
    const uint8_t *base, *p, *end;
    const char *err; /* sticky: what could not be read (NULL while fine) */
    size_t err_off;  /* its byte offset from base */
} rv__cql_rd_t;

void rv__cql_rd_init(rv__cql_rd_t *r, const uint8_t *buf, size_t len);
static inline size_t rv__cql_rd_left(const rv__cql_rd_t *r)
{
    return (size_t)(r->end - r->p);
}
static inline size_t rv__cql_rd_off(const rv__cql_rd_t *r)
{
    return (size_t)(r->p - r->base);
}
/* Marks the input malformed (first call wins) at the current offset. */
void rv__cql_rd_fail(rv__cql_rd_t *r, const char *what);

uint8_t rv__cql_get_u8(rv__cql_rd_t *r);
uint16_t rv__cql_get_u16(rv__cql_rd_t *r);
int32_t rv__cql_get_i32(rv__cql_rd_t *r);
int64_t rv__cql_get_i64(rv__cql_rd_t *r);
/* n bytes in place; NULL when fewer remain. */
const uint8_t *rv__cql_get_raw(rv__cql_rd_t *r, size_t n, const char *what);
/* [string] / [long string]: pointer into the input (not NUL-terminated). */
const char *rv__cql_get_string(rv__cql_rd_t *r, size_t *n);
const char *rv__cql_get_long_string(rv__cql_rd_t *r, size_t *n);
/* [bytes]: returns the length (negative for null) and *p (NULL for null). */
int32_t rv__cql_get_bytes(rv__cql_rd_t *r, const uint8_t **p);
/* [short bytes] */
const uint8_t *rv__cql_get_short_bytes(rv__cql_rd_t *r, size_t *n);
/* [inet]: the address (4 or 16 bytes) and the port. */
bool rv__cql_get_inet(rv__cql_rd_t *r, uint8_t addr[16], size_t *alen, int32_t *port);
/* Skips a [string list] / [string map] / [string multimap] / [bytes map]. */
void rv__cql_skip_string_list(rv__cql_rd_t *r);
void rv__cql_skip_string_map(rv__cql_rd_t *r);
void rv__cql_skip_string_multimap(rv__cql_rd_t *r);
void rv__cql_skip_bytes_map(rv__cql_rd_t *r);

/* When r failed: an RV_ERR_DECODE error "malformed <ctx>: truncated <what> at
 * byte <off> of <len>" into errp, returning its code; RV_OK otherwise. */
rv_err_t rv__cql_rd_check(const rv__cql_rd_t *r, const char *ctx, rv_error_t **errp);

/* ------------------------------------------------------------------- header */

typedef struct rv__cql_header {
    uint8_t version; /* with the direction bit */
    uint8_t flags;
    int16_t stream;
    uint8_t opcode;
    uint32_t length;
} rv__cql_header_t;

void rv__cql_header_encode(uint8_t out[RV__CQL_HEADER_SIZE], const rv__cql_header_t *h);
/* Decodes a response header from 9 bytes and checks it: the direction bit,
 * version 4, a response opcode, no compression, and length <= max_body.
 * RV_ERR_PROTOCOL (or RV_ERR_OVERFLOW for the length) with a message otherwise. */
rv_err_t rv__cql_header_decode(const uint8_t in[RV__CQL_HEADER_SIZE], uint32_t max_body,
                               rv__cql_header_t *h, rv_error_t **errp);

#endif
