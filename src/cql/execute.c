/* Starting requests: rv_cql_execute() and rv_cql_execute_batch() encode the
 * statement once — values, resolved defaults, the client-side timestamp —
 * compute its routing token, and hand it to the dispatcher. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cql/murmur3.h"
#include "cql/session.h"

/* Microseconds since the epoch, strictly increasing within the session, so
 * that two writes of one session never share a timestamp. */
static int64_t next_timestamp(rv_cql_session_t *s)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
    if (us <= s->last_ts) us = s->last_ts + 1;
    s->last_ts = us;
    return us;
}

void rv__cql_session_params(rv_cql_session_t *s, int consistency, int serial, bool page_size_set,
                            int32_t page_size, int64_t timestamp, rv__cql_params_t *p)
{
    memset(p, 0, sizeof(*p));
    p->consistency = (uint16_t)(consistency >= 0 ? consistency : s->consistency);
    /* SERIAL is the server's default: sent only when something else is asked. */
    p->serial = serial >= 0 ? serial : (s->serial != RV_CQL_SERIAL ? s->serial : -1);
    p->page_size = page_size_set ? page_size : s->page_size;
    p->timestamp =
        timestamp != INT64_MIN ? timestamp : (s->client_timestamps ? next_timestamp(s) : INT64_MIN);
}

bool rv__cql_session_token(rv_cql_session_t *s, const rv_cql_stmt_t *st, int64_t *token)
{
    if (!s->token_aware || !st->prep || s->nring == 0 || s->nhosts < 2) return false;
    const rv_cql_result_t *m = st->prep->meta;
    if (m->npk == 0) return false;
    if (m->npk == 1) {
        const rv__cql_slot_t *v = &st->vals[m->pk[0]];
        if (v->len < 0) return false;
        *token = rv__cql_murmur3_token(st->data.data + v->off, (size_t)v->len);
        return true;
    }
    /* A composite key: each component as [short length][bytes][0]. */
    rv__cql_buf_t b;
    rv__cql_buf_init(&b);
    bool ok = true;
    for (size_t i = 0; i < m->npk && ok; i++) {
        const rv__cql_slot_t *v = &st->vals[m->pk[i]];
        ok = v->len >= 0 && v->len <= 0xffff;
        if (!ok) break;
        rv__cql_put_u16(&b, (uint16_t)v->len);
        rv__cql_put_raw(&b, st->data.data + v->off, (size_t)v->len);
        rv__cql_put_u8(&b, 0);
    }
    ok = ok && !b.oom;
    if (ok) *token = rv__cql_murmur3_token(b.data, b.len);
    rv__cql_buf_free(&b);
    return ok;
}

static bool can_start(rv_cql_session_t *s, rv_error_t **errp)
{
    if (s->state == RV__SESS_CLOSING || s->state == RV__SESS_CLOSED) {
        rv_error_set(errp, RV_ERR_CLOSED, false, "the CQL session is closed");
        return false;
    }
    if (s->queue.n >= s->queue_max) {
        rv_error_set(errp, RV_ERR_OVERFLOW, true,
                     "%zu requests already wait for a connection (cql.queue.max)", s->queue.n);
        return false;
    }
    return true;
}

/* Checks the encoded frame; frees rq and returns false when it cannot go. */
static bool frame_ok(rv_cql_session_t *s, rv_cql_request_t *rq, rv_error_t **errp)
{
    if (rq->frame.oom) {
        rv_error_set(errp, RV_ERR_NOMEM, true, "out of memory encoding the request");
    } else if (rq->frame.len - RV__CQL_HEADER_SIZE > s->max_frame) {
        rv_error_set(errp, RV_ERR_OVERFLOW, false,
                     "request frame of %zu bytes exceeds cql.max.frame.size (%u bytes)",
                     rq->frame.len - RV__CQL_HEADER_SIZE, s->max_frame);
    } else {
        return true;
    }
    rv__cql_request_free(rq);
    return false;
}

rv_cql_request_t *rv_cql_execute(rv_cql_session_t *s, const rv_cql_stmt_t *st, rv_cql_result_fn cb,
                                 void *opaque, rv_error_t **errp)
{
    if (!s || !st) {
        rv_error_set(errp, RV_ERR_INVALID, false, "rv_cql_execute: no session or statement");
        return NULL;
    }
    if (!can_start(s, errp) || rv__cql_stmt_validate(st, errp) != RV_OK) return NULL;
    if (st->prep && !st->prep->id) {
        rv_error_set(errp, RV_ERR_INVALID, false, "the prepared statement is not ready");
        return NULL;
    }
    rv_cql_request_t *rq = rv__cql_request_new(
        s, RV__RQ_EXECUTE, st->timeout_ms ? st->timeout_ms : s->request_timeout);
    if (!rq) {
        rv_error_set(errp, RV_ERR_NOMEM, true, "out of memory");
        return NULL;
    }
    rv__cql_params_t p;
    rv__cql_session_params(s, st->consistency, st->serial, st->page_size_set, st->page_size,
                           st->timestamp, &p);
    p.paging = st->paging;
    p.paging_len = st->paging_len;
    size_t id_off = 0;
    rv__cql_encode_stmt(&rq->frame, st, &p, &id_off);
    if (st->prep) {
        rq->ids = malloc(sizeof(*rq->ids));
        if (!rq->ids)
            rq->frame.oom = true;
        else {
            rq->ids[0].off = id_off;
            rq->ids[0].prep = st->prep;
            rq->nids = 1;
        }
    }
    if (!frame_ok(s, rq, errp)) return NULL;
    rq->idempotent = st->idempotent;
    rq->has_token = rv__cql_session_token(s, st, &rq->token);
    rq->cb = cb;
    rq->opaque = opaque;
    s->stats.requests++;
    rv__cql_request_dispatch(rq);
    return rq;
}

rv_cql_request_t *rv_cql_execute_batch(rv_cql_session_t *s, const rv_cql_batch_t *b,
                                       rv_cql_result_fn cb, void *opaque, rv_error_t **errp)
{
    if (!s || !b) {
        rv_error_set(errp, RV_ERR_INVALID, false, "rv_cql_execute_batch: no session or batch");
        return NULL;
    }
    if (!can_start(s, errp)) return NULL;
    if (b->count == 0) {
        rv_error_set(errp, RV_ERR_INVALID, false, "the batch is empty");
        return NULL;
    }
    if (b->body.oom) {
        rv_error_set(errp, RV_ERR_NOMEM, true, "out of memory building the batch");
        return NULL;
    }
    rv_cql_request_t *rq =
        rv__cql_request_new(s, RV__RQ_EXECUTE, b->timeout_ms ? b->timeout_ms : s->request_timeout);
    if (!rq) {
        rv_error_set(errp, RV_ERR_NOMEM, true, "out of memory");
        return NULL;
    }
    rv__cql_params_t p;
    rv__cql_session_params(s, b->consistency, b->serial, true, 0, b->timestamp, &p);
    size_t body_off = 0;
    rv__cql_encode_batch(&rq->frame, b, &p, &body_off);
    if (b->nids) {
        rq->ids = malloc(b->nids * sizeof(*rq->ids));
        if (!rq->ids)
            rq->frame.oom = true;
        else {
            for (size_t i = 0; i < b->nids; i++) {
                rq->ids[i].off = body_off + b->ids[i].off;
                rq->ids[i].prep = b->ids[i].prep;
            }
            rq->nids = b->nids;
        }
    }
    if (!frame_ok(s, rq, errp)) return NULL;
    rq->idempotent = b->idempotent;
    rq->cb = cb;
    rq->opaque = opaque;
    s->stats.requests++;
    rv__cql_request_dispatch(rq);
    return rq;
}

rv_cql_request_t *rv__cql_internal_query(rv_cql_session_t *s, const char *query,
                                         rv__cql_done_fn done, void *ctx)
{
    rv_cql_request_t *rq = rv__cql_request_new(s, RV__RQ_INTERNAL, s->request_timeout);
    if (!rq) return NULL;
    rv__cql_params_t p = {RV_CQL_ONE, -1, 0, NULL, 0, INT64_MIN};
    rv__cql_encode_query_text(&rq->frame, query, strlen(query), &p);
    if (rq->frame.oom) {
        rv__cql_request_free(rq);
        return NULL;
    }
    rq->done = done;
    rq->ctx = ctx;
    rq->idempotent = true;
    return rq;
}
