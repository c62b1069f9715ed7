/* One response frame, decoded by opcode. The body's prefix (tracing id,
 * warnings, custom payload) is skipped for every opcode; RESULT keeps the
 * warnings. */
#include "cql/response.h"

#include <stdlib.h>
#include <string.h>

static rv_err_t decode_event(rv__cql_rd_t *r, rv__cql_event_t *ev, rv_error_t **errp)
{
    ev->type = rv__cql_get_string(r, &ev->type_len);
    ev->change = rv__cql_get_string(r, &ev->change_len);
    if (!r->err && ((ev->type_len == 15 && !memcmp(ev->type, "TOPOLOGY_CHANGE", 15)) ||
                    (ev->type_len == 13 && !memcmp(ev->type, "STATUS_CHANGE", 13))))
        rv__cql_get_inet(r, ev->addr, &ev->addr_len, &ev->port);
    /* SCHEMA_CHANGE details are not needed: the rest is ignored. */
    return rv__cql_rd_check(r, "EVENT body", errp);
}

rv_err_t rv__cql_response_decode(const rv__cql_header_t *h, uint8_t *body, rv__cql_response_t *out,
                                 rv_error_t **errp)
{
    memset(out, 0, sizeof(*out));
    out->h = *h;
    out->body = body;
    out->len = h->length;
    size_t off;
    const uint8_t *warn;
    size_t warn_len;
    rv_err_t e = rv__cql_body_prefix(h->flags, body, h->length, &off, &warn, &warn_len, errp);
    if (e != RV_OK) return e;
    rv__cql_rd_t r;
    rv__cql_rd_init(&r, body + off, h->length - off);
    switch (h->opcode) {
    case RV__CQL_OP_RESULT:
        out->body = NULL; /* the result takes it, even on failure */
        return rv__cql_result_decode(body, h->length, off, warn, warn_len, &out->result, errp);
    case RV__CQL_OP_ERROR:
        return rv__cql_error_decode(body + off, h->length - off, &out->error, errp);
    case RV__CQL_OP_READY:
        return RV_OK;
    case RV__CQL_OP_AUTHENTICATE:
        out->text = rv__cql_get_string(&r, &out->text_len);
        return rv__cql_rd_check(&r, "AUTHENTICATE body", errp);
    case RV__CQL_OP_AUTH_CHALLENGE:
    case RV__CQL_OP_AUTH_SUCCESS:
        out->token_len = rv__cql_get_bytes(&r, &out->token);
        return rv__cql_rd_check(&r, "AUTH token", errp);
    case RV__CQL_OP_SUPPORTED:
        rv__cql_skip_string_multimap(&r);
        return rv__cql_rd_check(&r, "SUPPORTED body", errp);
    case RV__CQL_OP_EVENT:
        return decode_event(&r, &out->event, errp);
    default:
        return rv_error_set(errp, RV_ERR_PROTOCOL, false, "unexpected opcode 0x%02x (%s)",
                            h->opcode, rv__cql_opcode_name(h->opcode));
    }
}

void rv__cql_response_free(rv__cql_response_t *r)
{
    free(r->body);
    r->body = NULL;
    rv_cql_result_destroy(r->result);
    r->result = NULL;
}
