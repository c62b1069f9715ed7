/* Decoding one whole response frame by opcode (section 4.2 of the protocol):
 * the entry point shared by connections and the fuzz target. */
#ifndef RV_CQL_RESPONSE_H
#define RV_CQL_RESPONSE_H

#include "cql/error.h"
#include "cql/frame.h"
#include "cql/result.h"

typedef struct rv__cql_event {
    const char *type, *change; /* pointers into the body */
    size_t type_len, change_len;
    uint8_t addr[16]; /* TOPOLOGY_CHANGE, STATUS_CHANGE */
    size_t addr_len;
    int32_t port;
} rv__cql_event_t;

typedef struct rv__cql_response {
    rv__cql_header_t h;
    uint8_t *body; /* owned, unless handed to result */
    size_t len;
    rv_cql_result_t *result;   /* RESULT (owns the body; the caller takes it) */
    rv__cql_srv_error_t error; /* ERROR */
    const char *text;          /* AUTHENTICATE: the authenticator class */
    size_t text_len;
    const uint8_t *token; /* AUTH_CHALLENGE, AUTH_SUCCESS */
    int32_t token_len;
    rv__cql_event_t event; /* EVENT */
} rv__cql_response_t;

/* Decodes body (h->length bytes, malloc'd) by h->opcode. Ownership: takes body
 * in every case; free the response with rv__cql_response_free(). */
rv_err_t rv__cql_response_decode(const rv__cql_header_t *h, uint8_t *body, rv__cql_response_t *out,
                                 rv_error_t **errp);
/* Frees the body and a result not taken (set out->result to NULL to take it). */
void rv__cql_response_free(rv__cql_response_t *r);

#endif
