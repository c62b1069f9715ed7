/* ERROR bodies: the code, the server's message and the code's extra fields,
 * turned into an rv_error_t that keeps all of them in its message. */
#include "cql/error.h"

#include <stdio.h>
#include <string.h>

const char *rv_cql_error_name(int code)
{
    switch (code) {
    case RV_CQL_ERR_SERVER:
        return "Server_error";
    case RV_CQL_ERR_PROTOCOL:
        return "Protocol_error";
    case RV_CQL_ERR_AUTH:
        return "Authentication_error";
    case RV_CQL_ERR_UNAVAILABLE:
        return "Unavailable";
    case RV_CQL_ERR_OVERLOADED:
        return "Overloaded";
    case RV_CQL_ERR_BOOTSTRAPPING:
        return "Is_bootstrapping";
    case RV_CQL_ERR_TRUNCATE:
        return "Truncate_error";
    case RV_CQL_ERR_WRITE_TIMEOUT:
        return "Write_timeout";
    case RV_CQL_ERR_READ_TIMEOUT:
        return "Read_timeout";
    case RV_CQL_ERR_READ_FAILURE:
        return "Read_failure";
    case RV_CQL_ERR_FUNCTION_FAILURE:
        return "Function_failure";
    case RV_CQL_ERR_WRITE_FAILURE:
        return "Write_failure";
    case RV_CQL_ERR_CDC_WRITE_FAILURE:
        return "CDC_write_failure";
    case RV_CQL_ERR_CAS_WRITE_UNKNOWN:
        return "CAS_write_unknown";
    case RV_CQL_ERR_SYNTAX:
        return "Syntax_error";
    case RV_CQL_ERR_UNAUTHORIZED:
        return "Unauthorized";
    case RV_CQL_ERR_INVALID:
        return "Invalid";
    case RV_CQL_ERR_CONFIG:
        return "Config_error";
    case RV_CQL_ERR_ALREADY_EXISTS:
        return "Already_exists";
    case RV_CQL_ERR_UNPREPARED:
        return "Unprepared";
    default:
        return "Unknown";
    }
}

const char *rv_cql_consistency_name(rv_cql_consistency_t c)
{
    switch (c) {
    case RV_CQL_ANY:
        return "ANY";
    case RV_CQL_ONE:
        return "ONE";
    case RV_CQL_TWO:
        return "TWO";
    case RV_CQL_THREE:
        return "THREE";
    case RV_CQL_QUORUM:
        return "QUORUM";
    case RV_CQL_ALL:
        return "ALL";
    case RV_CQL_LOCAL_QUORUM:
        return "LOCAL_QUORUM";
    case RV_CQL_EACH_QUORUM:
        return "EACH_QUORUM";
    case RV_CQL_SERIAL:
        return "SERIAL";
    case RV_CQL_LOCAL_SERIAL:
        return "LOCAL_SERIAL";
    case RV_CQL_LOCAL_ONE:
        return "LOCAL_ONE";
    default:
        return "?";
    }
}

rv_err_t rv__cql_error_decode(const uint8_t *buf, size_t len, rv__cql_srv_error_t *e,
                              rv_error_t **errp)
{
    rv__cql_rd_t r;
    rv__cql_rd_init(&r, buf, len);
    memset(e, 0, sizeof(*e));
    e->data_present = -1;
    e->code = rv__cql_get_i32(&r);
    e->msg = rv__cql_get_string(&r, &e->msg_len);
    switch (e->code) {
    case RV_CQL_ERR_UNAVAILABLE:
        e->cl = rv__cql_get_u16(&r);
        e->blockfor = rv__cql_get_i32(&r); /* <required> */
        e->alive = rv__cql_get_i32(&r);
        break;
    case RV_CQL_ERR_WRITE_TIMEOUT:
        e->cl = rv__cql_get_u16(&r);
        e->received = rv__cql_get_i32(&r);
        e->blockfor = rv__cql_get_i32(&r);
        e->write_type = rv__cql_get_string(&r, &e->write_type_len);
        break;
    case RV_CQL_ERR_READ_TIMEOUT:
        e->cl = rv__cql_get_u16(&r);
        e->received = rv__cql_get_i32(&r);
        e->blockfor = rv__cql_get_i32(&r);
        e->data_present = rv__cql_get_u8(&r);
        break;
    case RV_CQL_ERR_READ_FAILURE:
        e->cl = rv__cql_get_u16(&r);
        e->received = rv__cql_get_i32(&r);
        e->blockfor = rv__cql_get_i32(&r);
        e->failures = rv__cql_get_i32(&r);
        e->data_present = rv__cql_get_u8(&r);
        break;
    case RV_CQL_ERR_WRITE_FAILURE:
        e->cl = rv__cql_get_u16(&r);
        e->received = rv__cql_get_i32(&r);
        e->blockfor = rv__cql_get_i32(&r);
        e->failures = rv__cql_get_i32(&r);
        e->write_type = rv__cql_get_string(&r, &e->write_type_len);
        break;
    case RV_CQL_ERR_FUNCTION_FAILURE:
        e->ks = rv__cql_get_string(&r, &e->ks_len);
        e->table = rv__cql_get_string(&r, &e->table_len);
        rv__cql_skip_string_list(&r);
        break;
    case RV_CQL_ERR_ALREADY_EXISTS:
        e->ks = rv__cql_get_string(&r, &e->ks_len);
        e->table = rv__cql_get_string(&r, &e->table_len);
        break;
    case RV_CQL_ERR_UNPREPARED:
        e->id = rv__cql_get_short_bytes(&r, &e->id_len);
        break;
    default:
        break;
    }
    return rv__cql_rd_check(&r, "ERROR body", errp);
}

bool rv__cql_error_is_retriable(int32_t code)
{
    switch (code) {
    case RV_CQL_ERR_UNAVAILABLE:
    case RV_CQL_ERR_OVERLOADED:
    case RV_CQL_ERR_BOOTSTRAPPING:
    case RV_CQL_ERR_WRITE_TIMEOUT:
    case RV_CQL_ERR_READ_TIMEOUT:
        return true;
    default:
        return false;
    }
}

rv_error_t *rv__cql_error_to_error(const rv__cql_srv_error_t *e, const char *host)
{
    char details[256] = "";
    const char *cl = rv_cql_consistency_name((rv_cql_consistency_t)e->cl);
    int wt = (int)(e->write_type_len > 64 ? 64 : e->write_type_len);
    switch (e->code) {
    case RV_CQL_ERR_UNAVAILABLE:
        snprintf(details, sizeof(details), " [consistency %s, required %d, alive %d]", cl,
                 e->blockfor, e->alive);
        break;
    case RV_CQL_ERR_WRITE_TIMEOUT:
        snprintf(details, sizeof(details), " [consistency %s, received %d of %d, write type %.*s]",
                 cl, e->received, e->blockfor, wt, e->write_type ? e->write_type : "");
        break;
    case RV_CQL_ERR_READ_TIMEOUT:
        snprintf(details, sizeof(details), " [consistency %s, received %d of %d, data %s]", cl,
                 e->received, e->blockfor, e->data_present ? "present" : "absent");
        break;
    case RV_CQL_ERR_READ_FAILURE:
        snprintf(details, sizeof(details),
                 " [consistency %s, received %d of %d, %d failures, data %s]", cl, e->received,
                 e->blockfor, e->failures, e->data_present ? "present" : "absent");
        break;
    case RV_CQL_ERR_WRITE_FAILURE:
        snprintf(details, sizeof(details),
                 " [consistency %s, received %d of %d, %d failures, write type %.*s]", cl,
                 e->received, e->blockfor, e->failures, wt, e->write_type ? e->write_type : "");
        break;
    case RV_CQL_ERR_ALREADY_EXISTS:
        snprintf(details, sizeof(details), " [keyspace %.*s%s%.*s]",
                 (int)(e->ks_len > 64 ? 64 : e->ks_len), e->ks ? e->ks : "",
                 e->table_len ? ", table " : "", (int)(e->table_len > 64 ? 64 : e->table_len),
                 e->table ? e->table : "");
        break;
    default:
        break;
    }
    /* Codes are 16-bit in practice; anything else cannot be mapped into
     * rivulet's CQL range without overflowing it. */
    rv_err_t code = e->code >= 0 && e->code <= 0xffff ? RV_ERR_FROM_CQL(e->code) : RV_ERR_PROTOCOL;
    return rv_error_new(code, rv__cql_error_is_retriable(e->code), "%s (0x%04x) from %s: %.*s%s",
                        rv_cql_error_name(e->code), (unsigned)e->code, host ? host : "server",
                        (int)(e->msg_len > 4096 ? 4096 : e->msg_len), e->msg ? e->msg : "",
                        details);
}
