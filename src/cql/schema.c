/* Schema agreement: after a DDL statement's Schema_change result, the
 * callback is held until the coordinator's system.local and every live peer
 * in system.peers report the same schema_version (polled every 200 ms), or
 * cql.schema.agreement.timeout passes; rv_cql_result_schema_agreed() tells
 * which. Without this, a table created through one host may not exist yet
 * when the next statement reaches another. */
#include <stddef.h>
#include <string.h>

#include "cql/session.h"

#define CONTAINER_OF(p, type, member) ((type *)((char *)(p)-offsetof(type, member)))
#define POLL_MS                       200

static const char LOCAL_Q[] = "SELECT schema_version FROM system.local WHERE key='local'";
static const char PEERS_Q[] = "SELECT peer, rpc_address, schema_version FROM system.peers";

static void check(rv_cql_request_t *rq);

static void deliver(rv_cql_request_t *rq, bool agreed)
{
    rv_cql_result_t *res = rq->held;
    rq->held = NULL;
    res->schema_agreed = agreed;
    if (!agreed)
        rv__cql_log(rq->s, 1, "schema agreement not reached within cql.schema.agreement.timeout");
    rv__cql_request_complete(rq, res, NULL);
}

static void poll_later(rv_cql_request_t *rq)
{
    uint64_t now = uv_now(rq->s->loop);
    if (now >= rq->schema_until || rq->s->state == RV__SESS_CLOSING) {
        deliver(rq, false);
        return;
    }
    rv__cql_deadline_arm(&rq->s->timers, &rq->aux, now + POLL_MS);
}

static void on_poll(rv__cql_deadline_t *d)
{
    check(CONTAINER_OF(d, rv_cql_request_t, aux));
}

/* The single uuid of column `name` in row `row`, or false. */
static bool version_of(const rv_cql_result_t *res, size_t row, int col, uint8_t out[16])
{
    return col >= 0 && rv_cql_result_get_uuid(res, row, (size_t)col, out) == RV_OK;
}

static bool rows(rv__cql_response_t *resp, const rv_error_t *err)
{
    return !err && resp && resp->h.opcode == RV__CQL_OP_RESULT && resp->result &&
           resp->result->kind == RV_CQL_RESULT_ROWS;
}

static void peers_done(rv_cql_request_t *irq, rv__cql_response_t *resp, const rv_error_t *err)
{
    rv_cql_request_t *rq = irq->ctx;
    if (!rq) return;
    rq->child = NULL;
    if (!rows(resp, err)) {
        poll_later(rq);
        return;
    }
    const rv_cql_result_t *res = resp->result;
    int cv = rv_cql_result_column_index(res, "schema_version");
    int cr = rv_cql_result_column_index(res, "rpc_address");
    int cp = rv_cql_result_column_index(res, "peer");
    for (size_t r = 0; r < rv_cql_result_row_count(res); r++) {
        uint8_t v[16], addr[16];
        size_t alen = 0;
        rv_cql_value_t val;
        if (!version_of(res, r, cv, v)) continue;
        /* A peer we know to be down cannot agree: it does not count. */
        if ((cr >= 0 && rv_cql_result_value(res, r, (size_t)cr, &val) == RV_OK &&
             rv_cql_value_get_inet(&val, addr, &alen) == RV_OK) ||
            (cp >= 0 && rv_cql_result_value(res, r, (size_t)cp, &val) == RV_OK &&
             rv_cql_value_get_inet(&val, addr, &alen) == RV_OK)) {
            rv__cql_host_t *h = rv__cql_session_find_host(rq->s, addr, alen);
            if (h && h->nready == 0) continue;
        }
        if (memcmp(v, rq->schema_local, 16) != 0) {
            poll_later(rq);
            return;
        }
    }
    deliver(rq, true);
}

static void local_done(rv_cql_request_t *irq, rv__cql_response_t *resp, const rv_error_t *err)
{
    rv_cql_request_t *rq = irq->ctx;
    if (!rq) return;
    rq->child = NULL;
    if (!rows(resp, err) || !version_of(resp->result, 0, 0, rq->schema_local)) {
        poll_later(rq);
        return;
    }
    rv_cql_request_t *p = rv__cql_internal_query(rq->s, PEERS_Q, peers_done, rq);
    if (!p) {
        poll_later(rq);
        return;
    }
    p->prefer = irq->last_host;
    rq->child = p;
    rv__cql_request_start(p);
}

static void check(rv_cql_request_t *rq)
{
    rv_cql_request_t *irq = rv__cql_internal_query(rq->s, LOCAL_Q, local_done, rq);
    if (!irq) {
        poll_later(rq);
        return;
    }
    irq->prefer = rq->last_host;
    rq->child = irq;
    rv__cql_request_start(irq);
}

void rv__cql_schema_wait(rv_cql_request_t *rq, rv_cql_result_t *res)
{
    rv_cql_session_t *s = rq->s;
    rq->held = res;
    rq->state = RV__RQS_SCHEMA;
    rv__cql_rq_list_push(&s->parked, rq);
    rq->schema_until = uv_now(s->loop) + s->schema_timeout;
    rq->aux.fn = on_poll;
    check(rq);
}
