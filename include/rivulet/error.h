/* rivulet — one error type for the whole library.
 *
 * Every fallible call returns an rv_err_t code. Calls that can say more take an
 * optional `rv_error_t **errp`: on failure, when errp is not NULL, *errp receives
 * a new error object (code, message, whether a retry can help) that the caller
 * owns and frees with rv_error_destroy(). There is no errno side channel and no
 * thread-local "last error".
 *
 * Codes live in ranges, so a wrapped error keeps its origin:
 *   0                 success
 *   -1 .. -999        rivulet's own (local) errors
 *   -1000 - errno     operating-system errors (libuv's negative codes map here)
 *   100000 + e        librdkafka's rd_kafka_resp_err_t e (which spans about -200..+200)
 *   200000 + c        a CQL server error code c (0x0000 .. 0x2500)
 */
#ifndef RIVULET_ERROR_H
#define RIVULET_ERROR_H

#include <stdarg.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum rv_err {
    RV_OK = 0,
    RV_ERR_NOMEM = -1,        /* an allocation failed */
    RV_ERR_INVALID = -2,      /* an argument is invalid */
    RV_ERR_CONFIG = -3,       /* a configuration key or value is invalid */
    RV_ERR_STATE = -4,        /* the call is not allowed in the object's current state */
    RV_ERR_TIMEOUT = -5,      /* a deadline passed */
    RV_ERR_CANCELLED = -6,    /* the work was cancelled or the graph aborted */
    RV_ERR_OVERFLOW = -7,     /* a bounded buffer or a size limit was exceeded */
    RV_ERR_DECODE = -8,       /* input bytes are malformed */
    RV_ERR_ENCODE = -9,       /* a value cannot be encoded */
    RV_ERR_IO = -10,          /* an I/O operation failed */
    RV_ERR_PROTOCOL = -11,    /* a peer broke its protocol */
    RV_ERR_NOT_FOUND = -12,   /* a named thing does not exist */
    RV_ERR_USER = -13,        /* a user callback reported failure */
    RV_ERR_NOT_APPLIED = -14, /* a conditional (lightweight-transaction) write was not applied */
    RV_ERR_CLOSED = -15,      /* the connection or object is closed */
    RV_ERR_UNSUPPORTED = -16, /* the feature or type is not supported */
    RV_ERR_UNAVAILABLE = -17, /* no server or resource is available right now */
    RV_ERR_SYS_BASE = -1000,
    RV_ERR_KAFKA_BASE = 100000,
    RV_ERR_CQL_BASE = 200000
} rv_err_t;

/* Maps an errno value (positive) or a libuv code (negative errno) into rivulet's range. */
#define RV_ERR_FROM_ERRNO(e) ((rv_err_t)(RV_ERR_SYS_BASE - (e)))
#define RV_ERR_FROM_UV(e)    ((rv_err_t)(RV_ERR_SYS_BASE + (e)))
/* Maps an rd_kafka_resp_err_t into rivulet's range. */
#define RV_ERR_FROM_KAFKA(e) ((rv_err_t)(RV_ERR_KAFKA_BASE + (int)(e)))
/* Maps a CQL server error code into rivulet's range. */
#define RV_ERR_FROM_CQL(c) ((rv_err_t)(RV_ERR_CQL_BASE + (int)(c)))

/* True when the code came from the operating system, librdkafka or a CQL server. */
bool rv_err_is_sys(rv_err_t code);
bool rv_err_is_kafka(rv_err_t code);
bool rv_err_is_cql(rv_err_t code);

/* A short static description of a code; never NULL. Memory: static, do not free. */
const char *rv_err_str(rv_err_t code);

/* Whether a retry can help for this code when nothing more is known. */
bool rv_err_retriable(rv_err_t code);

typedef struct rv_error rv_error_t;

/* A new error object with a printf-style message.
 * Ownership: the caller owns the result and frees it with rv_error_destroy().
 * Never returns NULL: when memory runs out it returns a shared out-of-memory
 * object that rv_error_destroy() recognises and does not free. */
rv_error_t *rv_error_new(rv_err_t code, bool retriable, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
rv_error_t *rv_error_newv(rv_err_t code, bool retriable, const char *fmt, va_list ap);

/* A copy of e (NULL gives NULL). Ownership: the caller owns the copy. */
rv_error_t *rv_error_copy(const rv_error_t *e);

/* Frees e. NULL is a no-op. */
void rv_error_destroy(rv_error_t *e);

rv_err_t rv_error_code(const rv_error_t *e);
/* The message. Memory: owned by e, valid until e is destroyed. */
const char *rv_error_msg(const rv_error_t *e);
bool rv_error_retriable(const rv_error_t *e);

/* Convenience for the `errp` convention: when errp is not NULL and *errp is still
 * NULL, store a new error there (the first error wins; a later one is dropped).
 * Returns code, so a function can `return rv_error_set(errp, RV_ERR_CONFIG, false, "...")`. */
rv_err_t rv_error_set(rv_error_t **errp, rv_err_t code, bool retriable, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Moves e into errp under the same first-wins rule (e is freed when not stored);
 * returns e's code. Ownership: takes e. */
rv_err_t rv_error_give(rv_error_t **errp, rv_error_t *e);

#ifdef __cplusplus
}
#endif
#endif
