/* rivulet — an asynchronous CQL client (Cassandra native protocol v4) on libuv.
 *
 * A session talks to a Cassandra cluster from one libuv loop. It keeps a small
 * pool of connections per host, finds the cluster's other hosts from
 * system.local / system.peers, spreads requests over the hosts round robin (or
 * to the partition's owner when a prepared statement binds the whole partition
 * key), reconnects with exponential backoff when a host goes away, retries
 * idempotent statements on transient failures, re-prepares statements that a
 * host forgot, and waits for schema agreement after DDL.
 *
 * Threads: everything runs on the session's loop thread. Every function here
 * must be called on that thread, and every callback is called on it. No
 * callback is ever called from inside the call that started the work: a result
 * that is known at once (a prepared statement already in the cache) is
 * delivered on a later turn of the loop.
 *
 * Requests: rv_cql_execute(), rv_cql_execute_batch() and rv_cql_prepare() start
 * a request and return a handle. Frames are written once per loop turn, just
 * before the loop polls, so the requests started during one turn (say, one
 * per answer received) leave in one write. Any number may be in flight: each connection
 * multiplexes up to cql.max.requests.per.connection of them by stream id, and
 * requests beyond what the pool can carry wait in the session's queue (at most
 * cql.queue.max). The callback is called exactly once per request, unless the
 * request is cancelled first (rv_cql_request_cancel), in which case it is never
 * called. A request's deadline (cql.request.timeout, or the statement's own)
 * covers queueing, retries and re-preparation: when it passes, the callback
 * gets RV_ERR_TIMEOUT.
 *
 * Errors: a server error arrives as an rv_error_t whose code is
 * RV_ERR_FROM_CQL(code) (e.g. RV_ERR_FROM_CQL(RV_CQL_ERR_INVALID)) and whose
 * message holds the error's name, the server's own message, and its details
 * (consistency, replica counts, write type...). Client-side failures use
 * rivulet's own codes: RV_ERR_TIMEOUT, RV_ERR_CLOSED (connection lost),
 * RV_ERR_PROTOCOL / RV_ERR_DECODE (the server sent malformed bytes; that
 * connection is closed), RV_ERR_OVERFLOW (a size limit or the queue),
 * RV_ERR_UNAVAILABLE (no host could be reached), RV_ERR_INVALID (bad statement).
 *
 * Lightweight transactions: a conditional statement (IF ..., IF NOT EXISTS)
 * succeeds with a rows result whose first column is the boolean "[applied]";
 * rv_cql_result_applied() reads it. When not applied, the other columns of that
 * result hold the current values; they are described by the result's own
 * metadata (never by the prepared statement's), and read with the usual
 * accessors. A not-applied write is not an error.
 *
 * Values: the statement binds values by position with typed rv_cql_bind_*
 * functions; a result is read through rv_cql_value_t views with typed
 * rv_cql_value_get_* functions (rv_cql_result_get_* are shorthands). A NULL
 * cell reads as RV_ERR_NOT_FOUND.
 */
#ifndef RIVULET_CQL_H
#define RIVULET_CQL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "rivulet/conf.h"
#include "rivulet/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ constants */

/* Consistency levels, with their protocol values. */
typedef enum rv_cql_consistency {
    RV_CQL_ANY = 0x0000,
    RV_CQL_ONE = 0x0001,
    RV_CQL_TWO = 0x0002,
    RV_CQL_THREE = 0x0003,
    RV_CQL_QUORUM = 0x0004,
    RV_CQL_ALL = 0x0005,
    RV_CQL_LOCAL_QUORUM = 0x0006,
    RV_CQL_EACH_QUORUM = 0x0007,
    RV_CQL_SERIAL = 0x0008,
    RV_CQL_LOCAL_SERIAL = 0x0009,
    RV_CQL_LOCAL_ONE = 0x000A,
    RV_CQL_CONSISTENCY_DEFAULT = -1 /* the session's cql.consistency / cql.serial.consistency */
} rv_cql_consistency_t;

/* "LOCAL_QUORUM" etc.; "?" for unknown values. Memory: static. */
const char *rv_cql_consistency_name(rv_cql_consistency_t c);

/* Server error codes (section 9 of the protocol); use with RV_ERR_FROM_CQL(). */
enum {
    RV_CQL_ERR_SERVER = 0x0000,
    RV_CQL_ERR_PROTOCOL = 0x000A,
    RV_CQL_ERR_AUTH = 0x0100,
    RV_CQL_ERR_UNAVAILABLE = 0x1000,
    RV_CQL_ERR_OVERLOADED = 0x1001,
    RV_CQL_ERR_BOOTSTRAPPING = 0x1002,
    RV_CQL_ERR_TRUNCATE = 0x1003,
    RV_CQL_ERR_WRITE_TIMEOUT = 0x1100,
    RV_CQL_ERR_READ_TIMEOUT = 0x1200,
    RV_CQL_ERR_READ_FAILURE = 0x1300,
    RV_CQL_ERR_FUNCTION_FAILURE = 0x1400,
    RV_CQL_ERR_WRITE_FAILURE = 0x1500,
    RV_CQL_ERR_CDC_WRITE_FAILURE = 0x1600,
    RV_CQL_ERR_CAS_WRITE_UNKNOWN = 0x1700,
    RV_CQL_ERR_SYNTAX = 0x2000,
    RV_CQL_ERR_UNAUTHORIZED = 0x2100,
    RV_CQL_ERR_INVALID = 0x2200,
    RV_CQL_ERR_CONFIG = 0x2300,
    RV_CQL_ERR_ALREADY_EXISTS = 0x2400,
    RV_CQL_ERR_UNPREPARED = 0x2500
};

/* The name of a server error code, e.g. "Invalid"; "Unknown" otherwise. Memory: static. */
const char *rv_cql_error_name(int code);

/* ---------------------------------------------------------------------- types */

/* Column and value types, with their protocol option ids. */
typedef enum rv_cql_type_kind {
    RV_CQL_CUSTOM = 0x0000,
    RV_CQL_ASCII = 0x0001,
    RV_CQL_BIGINT = 0x0002,
    RV_CQL_BLOB = 0x0003,
    RV_CQL_BOOLEAN = 0x0004,
    RV_CQL_COUNTER = 0x0005,
    RV_CQL_DECIMAL = 0x0006,
    RV_CQL_DOUBLE = 0x0007,
    RV_CQL_FLOAT = 0x0008,
    RV_CQL_INT = 0x0009,
    RV_CQL_TIMESTAMP = 0x000B,
    RV_CQL_UUID = 0x000C,
    RV_CQL_VARCHAR = 0x000D, /* also "text" */
    RV_CQL_VARINT = 0x000E,
    RV_CQL_TIMEUUID = 0x000F,
    RV_CQL_INET = 0x0010,
    RV_CQL_DATE = 0x0011,
    RV_CQL_TIME = 0x0012,
    RV_CQL_SMALLINT = 0x0013,
    RV_CQL_TINYINT = 0x0014,
    RV_CQL_DURATION = 0x0015,
    RV_CQL_LIST = 0x0020,
    RV_CQL_MAP = 0x0021,
    RV_CQL_SET = 0x0022,
    RV_CQL_UDT = 0x0030,
    RV_CQL_TUPLE = 0x0031
} rv_cql_type_kind_t;

/* A type as described by the server (column of a result, bind marker of a
 * prepared statement, element of a collection). Memory: owned by the result or
 * prepared statement it came from. */
typedef struct rv_cql_type rv_cql_type_t;

rv_cql_type_kind_t rv_cql_type_kind(const rv_cql_type_t *t);
/* Number of sub-types: 1 for list and set, 2 for map (key, value), the fields of
 * a tuple or UDT, 0 otherwise. */
size_t rv_cql_type_count(const rv_cql_type_t *t);
/* Sub-type i, or NULL when out of range. */
const rv_cql_type_t *rv_cql_type_sub(const rv_cql_type_t *t, size_t i);
/* Field i's name for a UDT, else NULL. */
const char *rv_cql_type_field_name(const rv_cql_type_t *t, size_t i);
/* The UDT's name or a custom type's class name, else NULL. */
const char *rv_cql_type_name(const rv_cql_type_t *t);
/* The UDT's keyspace, else NULL. */
const char *rv_cql_type_keyspace(const rv_cql_type_t *t);
/* The CQL name of a kind ("int", "text", "list"...). Memory: static. */
const char *rv_cql_type_kind_name(rv_cql_type_kind_t k);
/* Writes the type as CQL ("map<text, frozen<list<int>>>" style, without frozen)
 * into buf (always NUL-terminated when size > 0); returns the full length. */
size_t rv_cql_type_format(const rv_cql_type_t *t, char *buf, size_t size);

/* --------------------------------------------------------------- value views */

/* A view of one serialized value: a cell of a result or an element of a
 * collection. data is NULL and len is -1 for a NULL value. type may be NULL
 * when unknown, in which case the getters decode by size only.
 * Memory: data and type point into the result that produced the view. */
typedef struct rv_cql_value {
    const rv_cql_type_t *type;
    const uint8_t *data;
    int32_t len;
} rv_cql_value_t;

/* Typed getters. Each returns RV_OK and fills *out; RV_ERR_NOT_FOUND when the
 * value is NULL (or empty, for fixed-size types); RV_ERR_INVALID when the
 * value's type does not fit the getter; RV_ERR_DECODE when the bytes are
 * malformed (wrong size); RV_ERR_OVERFLOW when the value does not fit *out.
 * Integer getters accept every integer type whose values fit (get_bigint reads
 * tinyint, smallint, int, bigint, counter and short varints); get_double reads
 * float too. Strings and byte strings are not copied and not NUL-terminated:
 * they point into the result. */
bool rv_cql_value_is_null(const rv_cql_value_t *v);
rv_err_t rv_cql_value_get_bool(const rv_cql_value_t *v, bool *out);
rv_err_t rv_cql_value_get_tinyint(const rv_cql_value_t *v, int8_t *out);
rv_err_t rv_cql_value_get_smallint(const rv_cql_value_t *v, int16_t *out);
rv_err_t rv_cql_value_get_int(const rv_cql_value_t *v, int32_t *out);
rv_err_t rv_cql_value_get_bigint(const rv_cql_value_t *v, int64_t *out);
rv_err_t rv_cql_value_get_float(const rv_cql_value_t *v, float *out);
rv_err_t rv_cql_value_get_double(const rv_cql_value_t *v, double *out);
/* ascii, text/varchar. */
rv_err_t rv_cql_value_get_text(const rv_cql_value_t *v, const char **out, size_t *len);
/* The raw serialized bytes of any non-NULL value (blob, custom types...). */
rv_err_t rv_cql_value_get_bytes(const rv_cql_value_t *v, const uint8_t **out, size_t *len);
/* uuid and timeuuid: 16 bytes in network order. */
rv_err_t rv_cql_value_get_uuid(const rv_cql_value_t *v, uint8_t out[16]);
/* Milliseconds since the Unix epoch. */
rv_err_t rv_cql_value_get_timestamp(const rv_cql_value_t *v, int64_t *ms);
/* Days with the epoch at 2^31 (1970-01-01 is 2147483648), as on the wire. */
rv_err_t rv_cql_value_get_date(const rv_cql_value_t *v, uint32_t *days);
/* Nanoseconds since midnight. */
rv_err_t rv_cql_value_get_time(const rv_cql_value_t *v, int64_t *ns);
/* *len becomes 4 (IPv4) or 16 (IPv6); out must have room for 16 bytes. */
rv_err_t rv_cql_value_get_inet(const rv_cql_value_t *v, uint8_t out[16], size_t *len);
/* varint: big-endian two's complement bytes (pointing into the result). */
rv_err_t rv_cql_value_get_varint(const rv_cql_value_t *v, const uint8_t **out, size_t *len);
/* decimal: unscaled varint bytes and the scale; value = unscaled * 10^-scale. */
rv_err_t rv_cql_value_get_decimal(const rv_cql_value_t *v, int32_t *scale, const uint8_t **unscaled,
                                  size_t *len);
rv_err_t rv_cql_value_get_duration(const rv_cql_value_t *v, int32_t *months, int32_t *days,
                                   int64_t *nanos);

/* Number of elements: items of a list or set, entries of a map, the values
 * present in a tuple or UDT value. */
rv_err_t rv_cql_value_count(const rv_cql_value_t *v, size_t *n);

/* Iterates over a list, set, map (key, value, key, value...), tuple or UDT
 * value (one element per field present). Memory: on the stack, no cleanup. The
 * fields are private. */
typedef struct rv_cql_iter {
    const rv_cql_type_t *type;
    const uint8_t *p, *end;
    uint32_t left; /* elements left to read */
    uint32_t index;
} rv_cql_iter_t;

/* RV_ERR_INVALID when v is NULL or not a collection, tuple or UDT. */
rv_err_t rv_cql_iter_init(rv_cql_iter_t *it, const rv_cql_value_t *v);
/* RV_OK and the next element in *out; RV_ERR_NOT_FOUND after the last;
 * RV_ERR_DECODE when the bytes are malformed (never reads past the value). */
rv_err_t rv_cql_iter_next(rv_cql_iter_t *it, rv_cql_value_t *out);

/* Formats a value as CQL-like text for logs and tests: 'text', 42, 0xcafe,
 * [1, 2], {'k': 1}, (1, 'a'), {f: 1}, null. Always NUL-terminates when
 * size > 0; returns the full length. Malformed bytes print as "<malformed>". */
size_t rv_cql_value_format(const rv_cql_value_t *v, char *buf, size_t size);

/* -------------------------------------------------------------------- results */

typedef enum rv_cql_result_kind {
    RV_CQL_RESULT_VOID = 0x0001,
    RV_CQL_RESULT_ROWS = 0x0002,
    RV_CQL_RESULT_SET_KEYSPACE = 0x0003,
    RV_CQL_RESULT_PREPARED = 0x0004,
    RV_CQL_RESULT_SCHEMA_CHANGE = 0x0005
} rv_cql_result_kind_t;

/* A successful response. Ownership: given to the request's callback, which owns
 * it and frees it with rv_cql_result_destroy() (it may keep it as long as it
 * likes; it does not depend on the session). */
typedef struct rv_cql_result rv_cql_result_t;

void rv_cql_result_destroy(rv_cql_result_t *res);
rv_cql_result_kind_t rv_cql_result_kind(const rv_cql_result_t *res);

/* Rows results (0 for other kinds). */
size_t rv_cql_result_row_count(const rv_cql_result_t *res);
size_t rv_cql_result_column_count(const rv_cql_result_t *res);
/* Column name / type; NULL when col is out of range. Memory: owned by res. */
const char *rv_cql_result_column_name(const rv_cql_result_t *res, size_t col);
const rv_cql_type_t *rv_cql_result_column_type(const rv_cql_result_t *res, size_t col);
/* The index of the named column, or -1. */
int rv_cql_result_column_index(const rv_cql_result_t *res, const char *name);

/* A view of one cell; RV_ERR_INVALID when row or col is out of range. */
rv_err_t rv_cql_result_value(const rv_cql_result_t *res, size_t row, size_t col,
                             rv_cql_value_t *out);
bool rv_cql_result_is_null(const rv_cql_result_t *res, size_t row, size_t col);
/* Shorthands: rv_cql_result_value() then the rv_cql_value_get_* of the same name. */
rv_err_t rv_cql_result_get_bool(const rv_cql_result_t *res, size_t row, size_t col, bool *out);
rv_err_t rv_cql_result_get_tinyint(const rv_cql_result_t *res, size_t row, size_t col, int8_t *out);
rv_err_t rv_cql_result_get_smallint(const rv_cql_result_t *res, size_t row, size_t col,
                                    int16_t *out);
rv_err_t rv_cql_result_get_int(const rv_cql_result_t *res, size_t row, size_t col, int32_t *out);
rv_err_t rv_cql_result_get_bigint(const rv_cql_result_t *res, size_t row, size_t col, int64_t *out);
rv_err_t rv_cql_result_get_float(const rv_cql_result_t *res, size_t row, size_t col, float *out);
rv_err_t rv_cql_result_get_double(const rv_cql_result_t *res, size_t row, size_t col, double *out);
rv_err_t rv_cql_result_get_text(const rv_cql_result_t *res, size_t row, size_t col,
                                const char **out, size_t *len);
rv_err_t rv_cql_result_get_bytes(const rv_cql_result_t *res, size_t row, size_t col,
                                 const uint8_t **out, size_t *len);
rv_err_t rv_cql_result_get_uuid(const rv_cql_result_t *res, size_t row, size_t col,
                                uint8_t out[16]);
rv_err_t rv_cql_result_get_timestamp(const rv_cql_result_t *res, size_t row, size_t col,
                                     int64_t *ms);
/* A NUL-terminated copy of a text cell. Ownership: the caller frees it with free().
 * NULL when the cell is NULL, not text, or memory ran out. */
char *rv_cql_result_get_text_dup(const rv_cql_result_t *res, size_t row, size_t col);

/* Paging: whether more pages follow, and the state to ask for the next one
 * (rv_cql_stmt_set_paging_state). Memory: *state points into res. */
bool rv_cql_result_has_more_pages(const rv_cql_result_t *res);
bool rv_cql_result_paging_state(const rv_cql_result_t *res, const uint8_t **state, size_t *len);

/* Lightweight transactions: 1 when the conditional statement was applied, 0
 * when it was not (the row then holds the current values after column 0), -1
 * when res is not an LWT result (its first column is not boolean "[applied]"). */
int rv_cql_result_applied(const rv_cql_result_t *res);

/* Set_keyspace results: the keyspace; Schema_change results: the keyspace
 * changed. NULL otherwise. Memory: owned by res. */
const char *rv_cql_result_keyspace(const rv_cql_result_t *res);
/* Schema_change results: change ("CREATED", "UPDATED", "DROPPED"), target
 * ("KEYSPACE", "TABLE", "TYPE", "FUNCTION", "AGGREGATE") and the object's name
 * (NULL for a keyspace). Returns false for other kinds. Memory: owned by res. */
bool rv_cql_result_schema_change(const rv_cql_result_t *res, const char **change,
                                 const char **target, const char **name);
/* Schema_change results: whether every host reported the same schema version
 * before the callback (false when cql.schema.agreement.timeout passed first). */
bool rv_cql_result_schema_agreed(const rv_cql_result_t *res);

/* Warnings the server attached to the response. Memory: owned by res. */
size_t rv_cql_result_warning_count(const rv_cql_result_t *res);
const char *rv_cql_result_warning(const rv_cql_result_t *res, size_t i);

/* -------------------------------------------------------- collection builder */

/* Builds a list, set, map, tuple or UDT value to bind. Add elements in order:
 * for a map, key then value, key then value...; for a tuple or UDT, one value
 * per field in declaration order (fields left out at the end read as NULL).
 * Ownership: the caller owns it; free with rv_cql_coll_destroy(). Binding
 * copies it. An add that fails (out of memory, bad argument) is remembered and
 * reported by the bind that uses the builder. */
typedef struct rv_cql_coll rv_cql_coll_t;

/* kind is RV_CQL_LIST, RV_CQL_SET, RV_CQL_MAP, RV_CQL_TUPLE or RV_CQL_UDT;
 * NULL for any other kind or when out of memory. */
rv_cql_coll_t *rv_cql_coll_new(rv_cql_type_kind_t kind);
void rv_cql_coll_destroy(rv_cql_coll_t *c);
/* Empties the builder for reuse. */
void rv_cql_coll_reset(rv_cql_coll_t *c);
rv_cql_type_kind_t rv_cql_coll_kind(const rv_cql_coll_t *c);
/* Elements added so far (a map's key and value count as two). */
size_t rv_cql_coll_size(const rv_cql_coll_t *c);

/* -------------------------------------------------------------- typed values */

/* The typed encoders shared by statements and collection builders. Every
 * rv_cql_bind_T(stmt, i, ...) has a twin rv_cql_coll_add_T(coll, ...).
 *
 * Statements bind by position (0-based). On a prepared statement the bind is
 * checked against the marker's type: integers are converted to the marker's
 * width when they fit (RV_ERR_OVERFLOW otherwise), double and float convert to
 * each other, and any other mismatch is RV_ERR_INVALID naming the marker. On a
 * simple statement the value is sent as given. The first failed bind is also
 * kept in the statement and fails rv_cql_execute(). Values are copied. */
typedef struct rv_cql_stmt rv_cql_stmt_t;

rv_err_t rv_cql_bind_null(rv_cql_stmt_t *st, size_t i);
/* "Not set": the column keeps its current value. */
rv_err_t rv_cql_bind_unset(rv_cql_stmt_t *st, size_t i);
rv_err_t rv_cql_bind_bool(rv_cql_stmt_t *st, size_t i, bool v);
rv_err_t rv_cql_bind_tinyint(rv_cql_stmt_t *st, size_t i, int8_t v);
rv_err_t rv_cql_bind_smallint(rv_cql_stmt_t *st, size_t i, int16_t v);
rv_err_t rv_cql_bind_int(rv_cql_stmt_t *st, size_t i, int32_t v);
/* bigint and counter. */
rv_err_t rv_cql_bind_bigint(rv_cql_stmt_t *st, size_t i, int64_t v);
rv_err_t rv_cql_bind_float(rv_cql_stmt_t *st, size_t i, float v);
rv_err_t rv_cql_bind_double(rv_cql_stmt_t *st, size_t i, double v);
/* text, varchar and ascii; s is NUL-terminated (NULL binds NULL). */
rv_err_t rv_cql_bind_text(rv_cql_stmt_t *st, size_t i, const char *s);
rv_err_t rv_cql_bind_text_n(rv_cql_stmt_t *st, size_t i, const char *s, size_t len);
rv_err_t rv_cql_bind_blob(rv_cql_stmt_t *st, size_t i, const void *p, size_t len);
/* uuid and timeuuid: 16 bytes in network order. */
rv_err_t rv_cql_bind_uuid(rv_cql_stmt_t *st, size_t i, const uint8_t uuid[16]);
/* Milliseconds since the Unix epoch. */
rv_err_t rv_cql_bind_timestamp(rv_cql_stmt_t *st, size_t i, int64_t ms);
/* Days with the epoch at 2^31, as rv_cql_value_get_date returns them. */
rv_err_t rv_cql_bind_date(rv_cql_stmt_t *st, size_t i, uint32_t days);
/* Nanoseconds since midnight, 0 .. 86399999999999. */
rv_err_t rv_cql_bind_time(rv_cql_stmt_t *st, size_t i, int64_t ns);
/* len is 4 (IPv4) or 16 (IPv6). */
rv_err_t rv_cql_bind_inet(rv_cql_stmt_t *st, size_t i, const uint8_t *addr, size_t len);
/* Big-endian two's complement bytes (len >= 1). */
rv_err_t rv_cql_bind_varint(rv_cql_stmt_t *st, size_t i, const uint8_t *p, size_t len);
rv_err_t rv_cql_bind_varint_int64(rv_cql_stmt_t *st, size_t i, int64_t v);
/* value = unscaled * 10^-scale; unscaled as for varint. */
rv_err_t rv_cql_bind_decimal(rv_cql_stmt_t *st, size_t i, int32_t scale, const uint8_t *unscaled,
                             size_t len);
rv_err_t rv_cql_bind_duration(rv_cql_stmt_t *st, size_t i, int32_t months, int32_t days,
                              int64_t nanos);
/* A list, set, map, tuple or UDT built with rv_cql_coll_t (copied). */
rv_err_t rv_cql_bind_coll(rv_cql_stmt_t *st, size_t i, const rv_cql_coll_t *c);
/* Already serialized bytes, sent as they are (no type check). */
rv_err_t rv_cql_bind_raw(rv_cql_stmt_t *st, size_t i, const void *p, size_t len);

rv_err_t rv_cql_coll_add_null(rv_cql_coll_t *c);
rv_err_t rv_cql_coll_add_bool(rv_cql_coll_t *c, bool v);
rv_err_t rv_cql_coll_add_tinyint(rv_cql_coll_t *c, int8_t v);
rv_err_t rv_cql_coll_add_smallint(rv_cql_coll_t *c, int16_t v);
rv_err_t rv_cql_coll_add_int(rv_cql_coll_t *c, int32_t v);
rv_err_t rv_cql_coll_add_bigint(rv_cql_coll_t *c, int64_t v);
rv_err_t rv_cql_coll_add_float(rv_cql_coll_t *c, float v);
rv_err_t rv_cql_coll_add_double(rv_cql_coll_t *c, double v);
rv_err_t rv_cql_coll_add_text(rv_cql_coll_t *c, const char *s);
rv_err_t rv_cql_coll_add_text_n(rv_cql_coll_t *c, const char *s, size_t len);
rv_err_t rv_cql_coll_add_blob(rv_cql_coll_t *c, const void *p, size_t len);
rv_err_t rv_cql_coll_add_uuid(rv_cql_coll_t *c, const uint8_t uuid[16]);
rv_err_t rv_cql_coll_add_timestamp(rv_cql_coll_t *c, int64_t ms);
rv_err_t rv_cql_coll_add_date(rv_cql_coll_t *c, uint32_t days);
rv_err_t rv_cql_coll_add_time(rv_cql_coll_t *c, int64_t ns);
rv_err_t rv_cql_coll_add_inet(rv_cql_coll_t *c, const uint8_t *addr, size_t len);
rv_err_t rv_cql_coll_add_varint(rv_cql_coll_t *c, const uint8_t *p, size_t len);
rv_err_t rv_cql_coll_add_varint_int64(rv_cql_coll_t *c, int64_t v);
rv_err_t rv_cql_coll_add_decimal(rv_cql_coll_t *c, int32_t scale, const uint8_t *unscaled,
                                 size_t len);
rv_err_t rv_cql_coll_add_duration(rv_cql_coll_t *c, int32_t months, int32_t days, int64_t nanos);
/* A nested collection, tuple or UDT (copied). */
rv_err_t rv_cql_coll_add_coll(rv_cql_coll_t *c, const rv_cql_coll_t *inner);
rv_err_t rv_cql_coll_add_raw(rv_cql_coll_t *c, const void *p, size_t len);

/* Encodes a varint from an int64 in the fewest bytes into out (room for 8);
 * returns the length. */
size_t rv_cql_varint_from_int64(int64_t v, uint8_t out[8]);

/* ---------------------------------------------------------------- statements */

typedef struct rv_cql_session rv_cql_session_t;
typedef struct rv_cql_prepared rv_cql_prepared_t;
typedef struct rv_cql_request rv_cql_request_t;

/* A simple statement from query text (with ? markers, or none). nvalues is a
 * hint of how many values will be bound (0 is fine).
 * Ownership: the caller owns it; free with rv_cql_stmt_destroy(). A statement
 * can be executed many times; rv_cql_execute() copies what it needs, so the
 * statement may be changed or destroyed right after. NULL when out of memory. */
rv_cql_stmt_t *rv_cql_stmt_new(const char *query, size_t nvalues);
/* A statement executing a prepared statement; bind exactly
 * rv_cql_prepared_bind_count(p) values (unset ones with rv_cql_bind_unset).
 * Execute it only on the session that prepared p. When the prepared
 * statement binds its whole partition key, the session sends it to the
 * key's owner (cql.token.aware).
 * Ownership: as above; p is not copied and must outlive the statement (it
 * lives as long as its session). */
rv_cql_stmt_t *rv_cql_stmt_new_prepared(const rv_cql_prepared_t *p);
void rv_cql_stmt_destroy(rv_cql_stmt_t *st);
/* Forgets the bound values and the recorded bind error (keeps the options and
 * the paging state), to bind the next row. */
void rv_cql_stmt_reset(rv_cql_stmt_t *st);

/* Options. Defaults: the session's consistency and serial consistency, not
 * idempotent, the session's page size, no paging state, a client-side
 * timestamp (cql.timestamps), the session's request timeout. */
void rv_cql_stmt_set_consistency(rv_cql_stmt_t *st, rv_cql_consistency_t c);
/* SERIAL or LOCAL_SERIAL, for the Paxos phase of conditional statements. */
void rv_cql_stmt_set_serial_consistency(rv_cql_stmt_t *st, rv_cql_consistency_t c);
/* An idempotent statement may be retried (cql.retry.max) after Unavailable,
 * Overloaded, a read/write timeout or a lost connection; others never are. */
void rv_cql_stmt_set_idempotent(rv_cql_stmt_t *st, bool idempotent);
/* Rows per page; <= 0 turns paging off (all rows in one result). */
void rv_cql_stmt_set_page_size(rv_cql_stmt_t *st, int32_t rows);
/* The state from a previous page's result (copied); NULL/0 starts over. */
rv_err_t rv_cql_stmt_set_paging_state(rv_cql_stmt_t *st, const uint8_t *state, size_t len);
/* Microseconds since the epoch for the writes' default timestamp; INT64_MIN
 * restores the default (client-side or server-side, per cql.timestamps). */
void rv_cql_stmt_set_timestamp(rv_cql_stmt_t *st, int64_t us);
/* This statement's deadline in milliseconds; 0 restores cql.request.timeout. */
void rv_cql_stmt_set_timeout(rv_cql_stmt_t *st, uint64_t ms);
/* The first bind error kept by the statement (NULL when none).
 * Memory: owned by st, valid until the next reset. */
const rv_error_t *rv_cql_stmt_error(const rv_cql_stmt_t *st);

/* ------------------------------------------------------------------- batches */

typedef enum rv_cql_batch_type {
    RV_CQL_BATCH_LOGGED = 0,
    RV_CQL_BATCH_UNLOGGED = 1,
    RV_CQL_BATCH_COUNTER = 2
} rv_cql_batch_type_t;

/* A batch of statements (simple or prepared), sent as one BATCH request.
 * Ownership: the caller owns it; free with rv_cql_batch_destroy(). Like a
 * statement it is copied by rv_cql_execute_batch(). NULL when out of memory. */
typedef struct rv_cql_batch rv_cql_batch_t;

rv_cql_batch_t *rv_cql_batch_new(rv_cql_batch_type_t type);
void rv_cql_batch_destroy(rv_cql_batch_t *b);
/* Appends st's query (or prepared id) and bound values; st's own options are
 * ignored (the batch's apply). Fails with st's bind error, if any.
 * Ownership: st is copied and stays the caller's. */
rv_err_t rv_cql_batch_add(rv_cql_batch_t *b, const rv_cql_stmt_t *st, rv_error_t **errp);
size_t rv_cql_batch_count(const rv_cql_batch_t *b);
/* Removes every statement (keeps the options). */
void rv_cql_batch_reset(rv_cql_batch_t *b);
void rv_cql_batch_set_consistency(rv_cql_batch_t *b, rv_cql_consistency_t c);
void rv_cql_batch_set_serial_consistency(rv_cql_batch_t *b, rv_cql_consistency_t c);
void rv_cql_batch_set_idempotent(rv_cql_batch_t *b, bool idempotent);
void rv_cql_batch_set_timestamp(rv_cql_batch_t *b, int64_t us);
void rv_cql_batch_set_timeout(rv_cql_batch_t *b, uint64_t ms);

/* ---------------------------------------------------------- prepared statements */

/* Prepared statements live in the session's cache, keyed by query text, and
 * are valid until the session is destroyed. The session re-prepares them on
 * any host that answers UNPREPARED, and then re-sends the request. */
const char *rv_cql_prepared_query(const rv_cql_prepared_t *p);
size_t rv_cql_prepared_bind_count(const rv_cql_prepared_t *p);
/* Marker i's name (the column's name for an anonymous '?') and type. */
const char *rv_cql_prepared_bind_name(const rv_cql_prepared_t *p, size_t i);
const rv_cql_type_t *rv_cql_prepared_bind_type(const rv_cql_prepared_t *p, size_t i);
/* The index of the named marker, or -1. */
int rv_cql_prepared_bind_index(const rv_cql_prepared_t *p, const char *name);

/* ------------------------------------------------------------------ sessions */

/* The configuration table ("cql.*" keys): rv_cql_conf_table.
 *
 * Keyspaces: every connection of the pool runs `USE <cql.keyspace>` when it
 * opens. A `USE` statement executed through the session would change one
 * connection only: set cql.keyspace instead, or qualify table names. */
extern const rv_conf_table_t rv_cql_conf_table;

typedef void (*rv_cql_session_fn)(rv_cql_session_t *s, const rv_error_t *err, void *opaque);

/* A result callback. On success res is the result (the callback owns it and
 * frees it with rv_cql_result_destroy) and err is NULL; on failure res is NULL
 * and err says why. Memory: err is owned by the session and valid during the
 * call (rv_error_copy to keep it). */
typedef void (*rv_cql_result_fn)(rv_cql_session_t *s, rv_cql_result_t *res, const rv_error_t *err,
                                 void *opaque);
/* A prepare callback: p is the prepared statement (owned by the session) or NULL
 * with err set. */
typedef void (*rv_cql_prepare_fn)(rv_cql_session_t *s, rv_cql_prepared_t *p, const rv_error_t *err,
                                  void *opaque);

/* A new session on loop. conf may be NULL (all defaults); its "cql.*" keys are
 * checked against rv_cql_conf_table (other components' keys are ignored), read
 * here and not kept. Nothing connects before rv_cql_session_connect().
 * Ownership: the caller owns the session; free with rv_cql_session_destroy(). */
rv_cql_session_t *rv_cql_session_new(uv_loop_t *loop, const rv_conf_t *conf, rv_error_t **errp);

/* Connects: resolves the contact points, opens the first connection
 * (authenticating when the server asks), reads the cluster's hosts, opens the
 * pools, and calls cb once — with err NULL when at least one connection is
 * ready, or with the reason when no contact point could be used (e.g. a wrong
 * password: RV_ERR_FROM_CQL(RV_CQL_ERR_AUTH) with the server's message).
 * Requests may be started before the callback; they wait in the queue. After
 * a successful connect the session keeps reconnecting to lost hosts by itself.
 * Returns RV_ERR_STATE when already connecting or connected. */
rv_err_t rv_cql_session_connect(rv_cql_session_t *s, rv_cql_session_fn cb, void *opaque,
                                rv_error_t **errp);

/* Graceful close: stops accepting requests, fails every queued and in-flight
 * request with RV_ERR_CLOSED (their callbacks are called), closes every socket
 * and timer, and calls cb (may be NULL) once all handles are closed. Destroy the
 * session afterwards (from cb or later). Idempotent; cb is only kept from the
 * first call. */
void rv_cql_session_close(rv_cql_session_t *s, rv_cql_session_fn cb, void *opaque);

/* Frees the session. When it is still open this closes it first without calling
 * any request callback, and the memory is returned once the loop has run the
 * close callbacks (run the loop once more, as with uv_close). Prepared
 * statements and request handles of the session become invalid; results do
 * not (they never depend on the session). NULL is a no-op. May be called from
 * inside one of the session's callbacks. */
void rv_cql_session_destroy(rv_cql_session_t *s);

uv_loop_t *rv_cql_session_loop(const rv_cql_session_t *s);

/* Optional diagnostics: connection, host and retry events as one line each.
 * level: 0 error, 1 warning, 2 info, 3 debug. Memory: msg is valid during the call. */
typedef void (*rv_cql_log_fn)(rv_cql_session_t *s, int level, const char *msg, void *opaque);
void rv_cql_session_set_log(rv_cql_session_t *s, rv_cql_log_fn fn, void *opaque);

/* Counters for monitoring and tests. */
typedef struct rv_cql_stats {
    uint32_t hosts;             /* known hosts */
    uint32_t hosts_up;          /* hosts with at least one ready connection */
    uint32_t connections;       /* ready connections */
    uint32_t in_flight;         /* requests written and awaiting a response */
    uint32_t queued;            /* requests waiting for a connection */
    uint64_t requests;          /* requests started */
    uint64_t retries;           /* re-sends by the retry policy */
    uint64_t timeouts;          /* requests failed by their deadline */
    uint64_t reprepares;        /* PREPAREs sent after UNPREPARED */
    uint64_t reconnects;        /* connections opened after a loss */
    uint64_t connection_errors; /* connections lost or failed */
} rv_cql_stats_t;
void rv_cql_session_stats(const rv_cql_session_t *s, rv_cql_stats_t *out);

/* --------------------------------------------------------------------- requests */

/* Executes a statement. Ownership: st stays the caller's (it is encoded here).
 * Returns the request's handle (valid until its callback returns or it is
 * cancelled), or NULL with *errp set when it cannot start: the statement has a
 * bind error or a wrong value count (RV_ERR_INVALID), the frame would exceed
 * cql.max.frame.size (RV_ERR_OVERFLOW), the queue is full (RV_ERR_OVERFLOW,
 * retriable), or the session is closed (RV_ERR_CLOSED); cb is then never called. */
rv_cql_request_t *rv_cql_execute(rv_cql_session_t *s, const rv_cql_stmt_t *st, rv_cql_result_fn cb,
                                 void *opaque, rv_error_t **errp);

/* Executes a batch; as rv_cql_execute. */
rv_cql_request_t *rv_cql_execute_batch(rv_cql_session_t *s, const rv_cql_batch_t *b,
                                       rv_cql_result_fn cb, void *opaque, rv_error_t **errp);

/* Prepares query (or finds it in the cache); as rv_cql_execute. Concurrent
 * prepares of the same text share one PREPARE. */
rv_cql_request_t *rv_cql_prepare(rv_cql_session_t *s, const char *query, rv_cql_prepare_fn cb,
                                 void *opaque, rv_error_t **errp);

/* Cancels a request whose callback has not run yet: the callback will not be
 * called, and the handle is invalid afterwards. A request already written to
 * a connection still occupies its stream id until the server answers (the
 * answer is then dropped). NULL is a no-op. */
void rv_cql_request_cancel(rv_cql_request_t *req);

#ifdef __cplusplus
}
#endif
#endif
