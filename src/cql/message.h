/* Request messages (section 4.1 of the protocol): each encoder appends one
 * whole frame (header with stream id 0, to be set when sent) to a buffer. */
#ifndef RV_CQL_MESSAGE_H
#define RV_CQL_MESSAGE_H

#include "cql/frame.h"
#include "cql/stmt.h"

/* Query parameters resolved against the session's defaults. */
typedef struct rv__cql_params {
    uint16_t consistency;
    int serial;            /* < 0: not sent (the server's default, SERIAL) */
    int32_t page_size;     /* <= 0: not sent */
    const uint8_t *paging; /* NULL: not sent */
    size_t paging_len;
    int64_t timestamp; /* INT64_MIN: not sent */
} rv__cql_params_t;

/* QUERY flags. */
#define RV__CQL_Q_VALUES        0x01
#define RV__CQL_Q_SKIP_METADATA 0x02
#define RV__CQL_Q_PAGE_SIZE     0x04
#define RV__CQL_Q_PAGING_STATE  0x08
#define RV__CQL_Q_SERIAL        0x10
#define RV__CQL_Q_TIMESTAMP     0x20

void rv__cql_encode_startup(rv__cql_buf_t *b);
void rv__cql_encode_options(rv__cql_buf_t *b);
/* SASL PLAIN: "\0user\0password". */
void rv__cql_encode_auth_plain(rv__cql_buf_t *b, const char *user, const char *password);
void rv__cql_encode_register(rv__cql_buf_t *b, const char *const *events, size_t n);
void rv__cql_encode_prepare(rv__cql_buf_t *b, const char *query, size_t len);
/* A simple query without values. */
void rv__cql_encode_query_text(rv__cql_buf_t *b, const char *query, size_t len,
                               const rv__cql_params_t *p);

/* QUERY or EXECUTE for a validated statement (rv__cql_stmt_validate). For
 * EXECUTE, *id_off receives the offset of the prepared id's [short bytes] from
 * the start of b (for a re-prepare that changes the id). */
void rv__cql_encode_stmt(rv__cql_buf_t *b, const rv_cql_stmt_t *st, const rv__cql_params_t *p,
                         size_t *id_off);

/* BATCH; the id slots' offsets are relative to the batch's body and move by
 * *body_off (the offset of the first <query_i> from the start of b). */
void rv__cql_encode_batch(rv__cql_buf_t *b, const rv_cql_batch_t *batch, const rv__cql_params_t *p,
                          size_t *body_off);

#endif
