/* Statements, batches and prepared statements as the encoders see them. */
#ifndef RV_CQL_STMT_H
#define RV_CQL_STMT_H

#include "cql/frame.h"
#include "cql/result.h"
#include "cql/value.h"
#include "rivulet/cql.h"

#define RV__CQL_UNBOUND (-3)

typedef struct rv__cql_slot {
    int32_t len;  /* -1 null, -2 unset, RV__CQL_UNBOUND */
    uint32_t off; /* into the statement's data */
} rv__cql_slot_t;

struct rv_cql_stmt {
    char *query; /* simple statements */
    size_t query_len;
    const rv_cql_prepared_t *prep; /* prepared statements */
    rv__cql_buf_t data;
    rv__cql_slot_t *vals;
    size_t nvals, capvals;
    int consistency, serial; /* RV_CQL_CONSISTENCY_DEFAULT: the session's */
    bool idempotent;
    bool page_size_set;
    int32_t page_size;
    uint8_t *paging;
    size_t paging_len;
    int64_t timestamp; /* INT64_MIN: the default */
    uint64_t timeout_ms;
    rv_error_t *err;
};

typedef struct rv__cql_id_slot {
    size_t off; /* of the [short bytes] id, from the start of the batch body */
    const rv_cql_prepared_t *prep;
} rv__cql_id_slot_t;

struct rv_cql_batch {
    rv_cql_batch_type_t type;
    rv__cql_buf_t body; /* the <query_i> list */
    size_t count;
    rv__cql_id_slot_t *ids;
    size_t nids, capids;
    int consistency, serial;
    bool idempotent;
    int64_t timestamp;
    uint64_t timeout_ms;
};

/* A prepared statement in the session's cache. */
struct rv_cql_prepared {
    char *query;
    size_t query_len;
    uint8_t *id; /* the current id (a re-prepare may change it) */
    size_t id_len;
    rv_cql_result_t *meta; /* the PREPARED result: bind markers, partition key */
};

/* Checks that a statement can be sent: no bind error, every value bound, the
 * right number of values for a prepared statement. */
rv_err_t rv__cql_stmt_validate(const rv_cql_stmt_t *st, rv_error_t **errp);

#endif
