/* A request's life: it is encoded once (rv_cql_execute, rv_cql_execute_batch,
 * or the session's own queries), dispatched to a connection or queued, and
 * then answered, retried, re-prepared, timed out or cancelled. Its frame is
 * kept until the end so that a retry re-sends the very same bytes (including
 * the client-side timestamp).
 *
 * Completion frees the request before its callback runs, so a callback may
 * start new requests, cancel others or close the session. A request that
 * stops waiting while its frame is on the wire (timeout, cancel) becomes an
 * orphan: its stream id stays reserved, and the memory is freed when the
 * server's answer comes back or the connection closes. */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cql/session.h"

#define CONTAINER_OF(p, type, member) ((type *)((char *)(p)-offsetof(type, member)))

/* ------------------------------------------------------------------- lists */

void rv__cql_rq_list_push(rv__cql_rq_list_t *l, rv_cql_request_t *rq)
{
    rq->list = l;
    rq->next = NULL;
    rq->prev = l->tail;
    if (l->tail)
        l->tail->next = rq;
    else
        l->head = rq;
    l->tail = rq;
    l->n++;
}

void rv__cql_rq_list_remove(rv__cql_rq_list_t *l, rv_cql_request_t *rq)
{
    if (rq->prev)
        rq->prev->next = rq->next;
    else
        l->head = rq->next;
    if (rq->next)
        rq->next->prev = rq->prev;
    else
        l->tail = rq->prev;
    rq->next = rq->prev = NULL;
    rq->list = NULL;
    l->n--;
}

rv_cql_request_t *rv__cql_rq_list_pop(rv__cql_rq_list_t *l)
{
    rv_cql_request_t *rq = l->head;
    if (rq) rv__cql_rq_list_remove(l, rq);
    return rq;
}

/* ------------------------------------------------------------- life cycle */

static void on_deadline(rv__cql_deadline_t *d);

rv_cql_request_t *rv__cql_request_new(rv_cql_session_t *s, rv__cql_rq_kind_t kind,
                                      uint64_t timeout_ms)
{
    rv_cql_request_t *rq = calloc(1, sizeof(*rq));
    if (!rq) return NULL;
    rq->s = s;
    rq->kind = kind;
    rq->state = RV__RQS_NEW;
    rq->stream = -1;
    rq->deadline.fn = on_deadline;
    if (timeout_ms &&
        !rv__cql_deadline_arm(&s->timers, &rq->deadline, uv_now(s->loop) + timeout_ms)) {
        free(rq);
        return NULL;
    }
    return rq;
}

void rv__cql_request_free(rv_cql_request_t *rq)
{
    if (!rq) return;
    rv__cql_deadline_disarm(&rq->s->timers, &rq->deadline);
    rv__cql_deadline_disarm(&rq->s->timers, &rq->aux);
    rv__cql_buf_free(&rq->frame);
    free(rq->ids);
    rv_cql_result_destroy(rq->held);
    free(rq);
}

/* Takes rq out of wherever it waits. Returns true when it must stay alive as
 * an orphan (its frame is on the wire). */
static bool detach(rv_cql_request_t *rq)
{
    rv_cql_session_t *s = rq->s;
    rv__cql_deadline_disarm(&s->timers, &rq->deadline);
    rv__cql_deadline_disarm(&s->timers, &rq->aux);
    bool orphan = false;
    /* Whatever list holds it (queue, prepare waiters, re-prepare waiters,
     * deferred completions, schema waiters) knows itself: a callback may
     * cancel a request that another loop is about to take from its list. */
    if (rq->list) rv__cql_rq_list_remove(rq->list, rq);
    if (rq->state == RV__RQS_INFLIGHT && rq->conn) {
        rv__cql_conn_orphan(rq->conn, rq);
        orphan = true;
    }
    if (rq->child) {
        rq->child->ctx = NULL; /* its answer is ignored */
        rq->child = NULL;
    }
    rq->state = RV__RQS_DONE;
    return orphan;
}

void rv__cql_request_complete(rv_cql_request_t *rq, rv_cql_result_t *res, const rv_error_t *err)
{
    rv_cql_session_t *s = rq->s;
    rv__cql_rq_kind_t kind = rq->kind;
    rv_cql_result_fn cb = rq->cb;
    rv_cql_prepare_fn pcb = rq->pcb;
    rv__cql_done_fn done = rq->done;
    void *opaque = rq->opaque;
    rv_cql_prepared_t *p = rq->pentry && rq->pentry->ready ? &rq->pentry->p : NULL;
    bool orphan = detach(rq);
    if (kind == RV__RQ_INTERNAL) {
        /* Internal requests hear errors (timeouts, lost connections) here;
         * answers go through complete_internal. */
        if (done) done(rq, NULL, err);
        rv_cql_result_destroy(res);
        if (!orphan) rv__cql_request_free(rq);
        return;
    }
    if (!orphan) rv__cql_request_free(rq);
    if (s->quiet) {
        rv_cql_result_destroy(res);
        return;
    }
    if (kind == RV__RQ_EXECUTE) {
        if (err) {
            rv_cql_result_destroy(res);
            res = NULL;
        }
        if (cb)
            cb(s, res, err, opaque);
        else
            rv_cql_result_destroy(res);
    } else if (kind == RV__RQ_PREPARE && pcb) {
        pcb(s, err ? NULL : p, err, opaque);
    }
}

static void on_deadline(rv__cql_deadline_t *d)
{
    rv_cql_request_t *rq = CONTAINER_OF(d, rv_cql_request_t, deadline);
    rv_cql_session_t *s = rq->s;
    if (rq->state == RV__RQS_SCHEMA) {
        /* The DDL was applied; only the agreement is unknown. */
        rv_cql_result_t *res = rq->held;
        rq->held = NULL;
        if (res) res->schema_agreed = false;
        rv__cql_request_complete(rq, res, NULL);
        return;
    }
    if (rq->kind != RV__RQ_INTERNAL) s->stats.timeouts++;
    const char *where;
    switch (rq->state) {
    case RV__RQS_QUEUED:
        where = "while waiting for a connection (no host available)";
        break;
    case RV__RQS_INFLIGHT:
        where = "waiting for the server's answer";
        break;
    case RV__RQS_REPREPARE:
        where = "while re-preparing the statement";
        break;
    case RV__RQS_WAITING:
        where = "while preparing the statement";
        break;
    default:
        where = "";
    }
    char host[96] = "";
    if (rq->state == RV__RQS_INFLIGHT && rq->conn)
        snprintf(host, sizeof(host), " from %s", rq->conn->desc);
    rv_error_t *err = rv_error_new(RV_ERR_TIMEOUT, true,
                                   "request timed out %s%s (attempt %d, cql.request.timeout or the "
                                   "statement's timeout)",
                                   where, host, rq->attempts + 1);
    rv__cql_request_complete(rq, NULL, err);
    rv_error_destroy(err);
}

void rv__cql_request_abandon(rv_cql_request_t *rq)
{
    if (!rq || rq->state == RV__RQS_DONE) return;
    rq->cb = NULL;
    rq->pcb = NULL;
    rq->done = NULL;
    if (!detach(rq)) rv__cql_request_free(rq);
}

void rv_cql_request_cancel(rv_cql_request_t *rq)
{
    if (!rq || rq->kind == RV__RQ_INTERNAL) return;
    rv__cql_request_abandon(rq);
}

/* ------------------------------------------------------------- dispatching */

void rv__cql_request_dispatch(rv_cql_request_t *rq)
{
    rv_cql_session_t *s = rq->s;
    rq->state = RV__RQS_NEW;
    if (s->state == RV__SESS_CLOSING || s->state == RV__SESS_CLOSED) {
        rv_error_t *err = rv_error_new(RV_ERR_CLOSED, false, "the CQL session is closed");
        rv__cql_request_complete(rq, NULL, err);
        rv_error_destroy(err);
        return;
    }
    if (rq->pin) {
        rv__cql_conn_t *c = rq->pin;
        if (c->state != RV__CONN_CLOSING && rv__cql_conn_send(c, rq)) return;
        rv_error_t *err = rv_error_new(RV_ERR_CLOSED, true, "connection %s is not usable", c->desc);
        rv__cql_request_complete(rq, NULL, err);
        rv_error_destroy(err);
        return;
    }
    /* Keep the queue's order: only go straight to a connection when nothing
     * waits before this request. */
    if (s->queue.n == 0) {
        rv__cql_conn_t *c = rv__cql_session_pick(s, rq);
        if (c && rv__cql_conn_send(c, rq)) return;
    }
    rq->state = RV__RQS_QUEUED;
    rv__cql_rq_list_push(&s->queue, rq);
}

void rv__cql_request_start(rv_cql_request_t *rq)
{
    rv__cql_request_dispatch(rq);
}

void rv__cql_session_drain(rv_cql_session_t *s)
{
    while (s->queue.n && s->state != RV__SESS_CLOSING && s->state != RV__SESS_CLOSED) {
        rv_cql_request_t *rq = s->queue.head;
        rv__cql_conn_t *c = rv__cql_session_pick(s, rq);
        if (!c) return;
        rv__cql_rq_list_remove(&s->queue, rq);
        rq->state = RV__RQS_NEW;
        if (!rv__cql_conn_send(c, rq)) {
            rq->state = RV__RQS_QUEUED;
            rv__cql_rq_list_push(&s->queue, rq);
            return;
        }
    }
}

void rv__cql_request_retry_or_fail(rv_cql_request_t *rq, const rv_error_t *err, bool retry)
{
    rv_cql_session_t *s = rq->s;
    if (retry && rq->attempts < s->retry_max && s->state != RV__SESS_CLOSING &&
        s->state != RV__SESS_CLOSED) {
        rq->attempts++;
        if (rq->kind != RV__RQ_INTERNAL) s->stats.retries++;
        rv__cql_log(s, 3, "retrying request (attempt %d) after: %s", rq->attempts + 1,
                    rv_error_msg(err));
        rv__cql_request_dispatch(rq);
        return;
    }
    rv__cql_request_complete(rq, NULL, err);
}

/* --------------------------------------------------------------- answers */

void rv__cql_request_on_conn_error(rv_cql_request_t *rq, const rv_error_t *err)
{
    rq->conn = NULL;
    rq->stream = -1;
    rq->state = RV__RQS_NEW;
    /* The server may or may not have executed it: only idempotent requests
     * (and the session's own reads) may be sent again. Pinned requests
     * belong to the lost connection. */
    bool retry = rq->idempotent && !rq->pin;
    rv__cql_request_retry_or_fail(rq, err, retry);
}

static void complete_internal(rv_cql_request_t *rq, rv__cql_response_t *resp)
{
    rv__cql_done_fn done = rq->done;
    detach(rq);
    if (done) done(rq, resp, NULL);
    rv__cql_request_free(rq);
}

void rv__cql_request_on_response(rv_cql_request_t *rq, rv__cql_response_t *resp)
{
    rv_cql_session_t *s = rq->s;
    rq->state = RV__RQS_NEW;
    rq->stream = -1;
    if (rq->kind == RV__RQ_INTERNAL) {
        complete_internal(rq, resp);
        return;
    }
    if (resp->h.opcode == RV__CQL_OP_RESULT) {
        rv_cql_result_t *res = resp->result;
        resp->result = NULL;
        if (res->kind == RV_CQL_RESULT_SCHEMA_CHANGE && s->schema_timeout > 0) {
            rv__cql_schema_wait(rq, res);
            return;
        }
        rv__cql_request_complete(rq, res, NULL);
        return;
    }
    if (resp->h.opcode == RV__CQL_OP_ERROR) {
        const rv__cql_srv_error_t *e = &resp->error;
        rv_error_t *err = rv__cql_error_to_error(e, rq->last_host ? rq->last_host->name : NULL);
        if (e->code == RV_CQL_ERR_UNPREPARED && rq->nids > 0) {
            rv__cql_reprepare(rq, e, err);
        } else {
            bool retry = rq->idempotent && rv__cql_error_is_retriable(e->code);
            rv__cql_request_retry_or_fail(rq, err, retry);
        }
        rv_error_destroy(err);
        return;
    }
    rv_error_t *err = rv_error_new(RV_ERR_PROTOCOL, false, "unexpected %s response to a request",
                                   rv__cql_opcode_name(resp->h.opcode));
    rv__cql_request_complete(rq, NULL, err);
    rv_error_destroy(err);
}

/* ------------------------------------------------------------- re-prepare */

bool rv__cql_request_update_ids(rv_cql_request_t *rq)
{
    bool changed = false;
    for (size_t i = 0; i < rq->nids && !changed; i++) {
        const rv__cql_id_slot_t *sl = &rq->ids[i];
        size_t old = ((size_t)rq->frame.data[sl->off] << 8) | rq->frame.data[sl->off + 1];
        changed =
            old != sl->prep->id_len || memcmp(rq->frame.data + sl->off + 2, sl->prep->id, old) != 0;
    }
    if (!changed) return true;
    rv__cql_buf_t nb;
    rv__cql_buf_init(&nb);
    size_t pos = 0;
    for (size_t i = 0; i < rq->nids; i++) {
        rv__cql_id_slot_t *sl = &rq->ids[i];
        size_t old = ((size_t)rq->frame.data[sl->off] << 8) | rq->frame.data[sl->off + 1];
        rv__cql_put_raw(&nb, rq->frame.data + pos, sl->off - pos);
        pos = sl->off + 2 + old;
        sl->off = nb.len;
        rv__cql_put_short_bytes(&nb, sl->prep->id, sl->prep->id_len);
    }
    rv__cql_put_raw(&nb, rq->frame.data + pos, rq->frame.len - pos);
    if (nb.oom) {
        rv__cql_buf_free(&nb);
        return false;
    }
    rv__cql_frame_end(&nb, 0);
    rv__cql_buf_free(&rq->frame);
    rq->frame = nb;
    return true;
}
