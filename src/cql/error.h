/* ERROR response bodies (sections 4.2.1 and 9 of the protocol). */
#ifndef RV_CQL_ERROR_H
#define RV_CQL_ERROR_H

#include "cql/frame.h"
#include "rivulet/cql.h"

/* A decoded ERROR body. Memory: the pointers point into the body. */
typedef struct rv__cql_srv_error {
    int32_t code;
    const char *msg;
    size_t msg_len;
    /* Details, by code (zero when absent). */
    int cl; /* consistency */
    int32_t received, blockfor, alive, failures;
    int data_present; /* -1 when absent */
    const char *write_type;
    size_t write_type_len;
    const char *ks, *table; /* Already_exists; Function_failure: keyspace, function */
    size_t ks_len, table_len;
    const uint8_t *id; /* Unprepared: the unknown id */
    size_t id_len;
} rv__cql_srv_error_t;

/* Decodes an ERROR body (after the frame's tracing/warning prefix). */
rv_err_t rv__cql_error_decode(const uint8_t *buf, size_t len, rv__cql_srv_error_t *out,
                              rv_error_t **errp);

/* Whether the retry policy may re-send an idempotent request after this error. */
bool rv__cql_error_is_retriable(int32_t code);

/* The rv_error_t for a server error: code RV_ERR_FROM_CQL(code); message
 * "<Name> (0x....) from <host>: <server message> [details]".
 * Ownership: the caller owns the result. */
rv_error_t *rv__cql_error_to_error(const rv__cql_srv_error_t *e, const char *host);

#endif
