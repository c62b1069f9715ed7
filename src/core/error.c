/* The error object and the code-to-text table. */
#include "rivulet/error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

struct rv_error {
    rv_err_t code;
    bool retriable;
    char msg[]; /* NUL-terminated, allocated with the object */
};

/* Returned when an error object itself cannot be allocated: immutable, never freed. */
static const struct {
    rv_err_t code;
    bool retriable;
    char msg[32];
} rv__oom_error = {RV_ERR_NOMEM, true, "out of memory"};
#define RV_OOM_ERROR ((rv_error_t *)&rv__oom_error)

bool rv_err_is_sys(rv_err_t code)
{
    return code <= RV_ERR_SYS_BASE && code > RV_ERR_SYS_BASE - 100000;
}

bool rv_err_is_kafka(rv_err_t code)
{
    return code > RV_ERR_KAFKA_BASE - 10000 && code < RV_ERR_KAFKA_BASE + 10000;
}

bool rv_err_is_cql(rv_err_t code)
{
    return code >= RV_ERR_CQL_BASE && code < RV_ERR_CQL_BASE + 0x10000;
}

static const char *cql_err_str(int c)
{
    switch (c) {
    case 0x0000:
        return "CQL server error";
    case 0x000A:
        return "CQL protocol error";
    case 0x0100:
        return "CQL authentication error";
    case 0x1000:
        return "CQL unavailable";
    case 0x1001:
        return "CQL overloaded";
    case 0x1002:
        return "CQL bootstrapping";
    case 0x1003:
        return "CQL truncate error";
    case 0x1100:
        return "CQL write timeout";
    case 0x1200:
        return "CQL read timeout";
    case 0x1300:
        return "CQL read failure";
    case 0x1400:
        return "CQL function failure";
    case 0x1500:
        return "CQL write failure";
    case 0x1600:
        return "CQL CDC write failure";
    case 0x1700:
        return "CQL CAS write unknown";
    case 0x2000:
        return "CQL syntax error";
    case 0x2100:
        return "CQL unauthorized";
    case 0x2200:
        return "CQL invalid query";
    case 0x2300:
        return "CQL config error";
    case 0x2400:
        return "CQL already exists";
    case 0x2500:
        return "CQL unprepared";
    default:
        return "CQL error";
    }
}

const char *rv_err_str(rv_err_t code)
{
    switch (code) {
    case RV_OK:
        return "success";
    case RV_ERR_NOMEM:
        return "out of memory";
    case RV_ERR_INVALID:
        return "invalid argument";
    case RV_ERR_CONFIG:
        return "invalid configuration";
    case RV_ERR_STATE:
        return "not allowed in this state";
    case RV_ERR_TIMEOUT:
        return "timed out";
    case RV_ERR_CANCELLED:
        return "cancelled";
    case RV_ERR_OVERFLOW:
        return "buffer or size limit exceeded";
    case RV_ERR_DECODE:
        return "malformed input";
    case RV_ERR_ENCODE:
        return "cannot encode value";
    case RV_ERR_IO:
        return "I/O error";
    case RV_ERR_PROTOCOL:
        return "protocol violation by peer";
    case RV_ERR_NOT_FOUND:
        return "not found";
    case RV_ERR_USER:
        return "user callback failed";
    case RV_ERR_NOT_APPLIED:
        return "conditional write not applied";
    case RV_ERR_CLOSED:
        return "closed";
    case RV_ERR_UNSUPPORTED:
        return "not supported";
    case RV_ERR_UNAVAILABLE:
        return "unavailable";
    default:
        break;
    }
    if (rv_err_is_sys(code))
        return strerror(RV_ERR_SYS_BASE - code); /* glibc: static table, thread-safe */
    if (rv_err_is_kafka(code))
        return rd_kafka_err2str((rd_kafka_resp_err_t)(code - RV_ERR_KAFKA_BASE));
    if (rv_err_is_cql(code)) return cql_err_str(code - RV_ERR_CQL_BASE);
    return "unknown error";
}

bool rv_err_retriable(rv_err_t code)
{
    switch (code) {
    case RV_ERR_NOMEM:
    case RV_ERR_TIMEOUT:
    case RV_ERR_IO:
    case RV_ERR_NOT_APPLIED:
    case RV_ERR_CLOSED:
    case RV_ERR_UNAVAILABLE:
        return true;
    default:
        break;
    }
    if (rv_err_is_sys(code)) {
        int e = RV_ERR_SYS_BASE - code;
        return e == EAGAIN || e == ECONNREFUSED || e == ECONNRESET || e == ETIMEDOUT ||
               e == EPIPE || e == EHOSTUNREACH || e == ENETUNREACH || e == EINTR;
    }
    if (rv_err_is_cql(code)) {
        int c = code - RV_ERR_CQL_BASE;
        return c == 0x1000 || c == 0x1001 || c == 0x1002 || c == 0x1100 || c == 0x1200 ||
               c == 0x2500;
    }
    return false;
}

rv_error_t *rv_error_newv(rv_err_t code, bool retriable, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt ? fmt : "", ap2);
    va_end(ap2);
    if (n < 0) n = 0;
    rv_error_t *e = malloc(sizeof(*e) + (size_t)n + 1);
    if (!e) return RV_OOM_ERROR;
    e->code = code;
    e->retriable = retriable;
    vsnprintf(e->msg, (size_t)n + 1, fmt ? fmt : "", ap);
    return e;
}

rv_error_t *rv_error_new(rv_err_t code, bool retriable, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    rv_error_t *e = rv_error_newv(code, retriable, fmt, ap);
    va_end(ap);
    return e;
}

rv_error_t *rv_error_copy(const rv_error_t *e)
{
    if (!e) return NULL;
    return rv_error_new(e->code, e->retriable, "%s", e->msg);
}

void rv_error_destroy(rv_error_t *e)
{
    if (e && e != RV_OOM_ERROR) free(e);
}

rv_err_t rv_error_code(const rv_error_t *e)
{
    return e ? e->code : RV_OK;
}

const char *rv_error_msg(const rv_error_t *e)
{
    return e ? e->msg : "success";
}

bool rv_error_retriable(const rv_error_t *e)
{
    return e && e->retriable;
}

rv_err_t rv_error_give(rv_error_t **errp, rv_error_t *e)
{
    rv_err_t code = rv_error_code(e);
    if (errp && !*errp)
        *errp = e;
    else
        rv_error_destroy(e);
    return code;
}

rv_err_t rv_error_set(rv_error_t **errp, rv_err_t code, bool retriable, const char *fmt, ...)
{
    if (errp && !*errp) {
        va_list ap;
        va_start(ap, fmt);
        *errp = rv_error_newv(code, retriable, fmt, ap);
        va_end(ap);
    }
    return code;
}
