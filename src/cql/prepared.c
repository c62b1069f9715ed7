/* The prepared-statement cache: one entry per query text, shared by every
 * rv_cql_prepare() of that text (concurrent ones wait for the same PREPARE;
 * later ones are answered from the cache on the next loop turn). Entries live
 * until the session is freed, so an rv_cql_prepared_t stays valid for the
 * session's whole life.
 *
 * Re-preparing: a host that does not know an id (restarted, or the table was
 * altered) answers UNPREPARED. The request then waits on its entry while one
 * PREPARE goes to that host — requests hitting the same entry meanwhile wait
 * for that same PREPARE — and is re-sent there, with the id rewritten in its
 * frame if the server returned a different one. */
#include <stdlib.h>
#include <string.h>

#include "cql/session.h"

static size_t hash(const char *q, size_t n)
{
    uint64_t h = UINT64_C(1469598103934665603);
    for (size_t i = 0; i < n; i++) {
        h ^= (uint8_t)q[i];
        h *= UINT64_C(1099511628211);
    }
    return (size_t)h;
}

rv__cql_pentry_t *rv__cql_pcache_find(rv_cql_session_t *s, const char *query, size_t len)
{
    if (!s->pcache_buckets) return NULL;
    for (rv__cql_pentry_t *e = s->pcache[hash(query, len) % s->pcache_buckets]; e; e = e->next)
        if (e->p.query_len == len && memcmp(e->p.query, query, len) == 0) return e;
    return NULL;
}

static bool pcache_insert(rv_cql_session_t *s, rv__cql_pentry_t *e)
{
    if (s->pcache_n + 1 > s->pcache_buckets * 2) {
        size_t nb = s->pcache_buckets ? s->pcache_buckets * 4 : 16;
        rv__cql_pentry_t **t = calloc(nb, sizeof(*t));
        if (!t) return false;
        for (size_t i = 0; i < s->pcache_buckets; i++) {
            rv__cql_pentry_t *x = s->pcache[i];
            while (x) {
                rv__cql_pentry_t *n = x->next;
                size_t b = hash(x->p.query, x->p.query_len) % nb;
                x->next = t[b];
                t[b] = x;
                x = n;
            }
        }
        free(s->pcache);
        s->pcache = t;
        s->pcache_buckets = nb;
    }
    size_t b = hash(e->p.query, e->p.query_len) % s->pcache_buckets;
    e->next = s->pcache[b];
    s->pcache[b] = e;
    s->pcache_n++;
    return true;
}

static void pcache_remove(rv_cql_session_t *s, rv__cql_pentry_t *e)
{
    rv__cql_pentry_t **pp = &s->pcache[hash(e->p.query, e->p.query_len) % s->pcache_buckets];
    while (*pp && *pp != e)
        pp = &(*pp)->next;
    if (*pp) {
        *pp = e->next;
        s->pcache_n--;
    }
}

static void pentry_free(rv__cql_pentry_t *e)
{
    free(e->p.query);
    free(e->p.id);
    rv_cql_result_destroy(e->p.meta);
    free(e);
}

/* The error of a PREPARE's answer, or NULL when it is a Prepared result. */
static rv_error_t *prepare_error(rv_cql_request_t *irq, rv__cql_response_t *resp,
                                 const rv_error_t *err)
{
    if (err) return rv_error_copy(err);
    if (resp->h.opcode == RV__CQL_OP_ERROR)
        return rv__cql_error_to_error(&resp->error, irq->last_host ? irq->last_host->name : NULL);
    if (resp->h.opcode != RV__CQL_OP_RESULT || !resp->result ||
        resp->result->kind != RV_CQL_RESULT_PREPARED)
        return rv_error_new(RV_ERR_PROTOCOL, false, "unexpected %s answer to PREPARE",
                            rv__cql_opcode_name(resp->h.opcode));
    if (resp->result->prep_id_len == 0)
        return rv_error_new(RV_ERR_PROTOCOL, false, "PREPARE answered with an empty id");
    return NULL;
}

static bool set_id(rv__cql_pentry_t *e, const uint8_t *id, size_t len)
{
    if (e->p.id && e->p.id_len == len && memcmp(e->p.id, id, len) == 0) return true;
    uint8_t *n = malloc(len);
    if (!n) return false;
    memcpy(n, id, len);
    free(e->p.id);
    e->p.id = n;
    e->p.id_len = len;
    return true;
}

static void prepare_done(rv_cql_request_t *irq, rv__cql_response_t *resp, const rv_error_t *err)
{
    rv__cql_pentry_t *e = irq->ctx;
    rv_cql_session_t *s = irq->s;
    rv_error_t *fail = prepare_error(irq, resp, err);
    if (!fail && !set_id(e, resp->result->prep_id, resp->result->prep_id_len))
        fail = rv_error_new(RV_ERR_NOMEM, true, "out of memory");
    if (!fail) {
        e->p.meta = resp->result;
        resp->result = NULL;
        e->ready = true;
        rv_cql_request_t *w;
        while ((w = rv__cql_rq_list_pop(&e->waiters))) {
            w->state = RV__RQS_NEW;
            rv__cql_request_complete(w, NULL, NULL);
        }
        return;
    }
    /* Forget the entry, so that a later rv_cql_prepare tries again. */
    pcache_remove(s, e);
    rv_cql_request_t *w;
    while ((w = rv__cql_rq_list_pop(&e->waiters))) {
        w->state = RV__RQS_NEW;
        w->pentry = NULL;
        rv__cql_request_complete(w, NULL, fail);
    }
    rv_error_destroy(fail);
    pentry_free(e);
}

rv_cql_request_t *rv_cql_prepare(rv_cql_session_t *s, const char *query, rv_cql_prepare_fn cb,
                                 void *opaque, rv_error_t **errp)
{
    if (!s || !query) {
        rv_error_set(errp, RV_ERR_INVALID, false, "rv_cql_prepare: no session or query");
        return NULL;
    }
    if (s->state == RV__SESS_CLOSING || s->state == RV__SESS_CLOSED) {
        rv_error_set(errp, RV_ERR_CLOSED, false, "the CQL session is closed");
        return NULL;
    }
    size_t len = strlen(query);
    if (len > s->max_frame - 4) {
        rv_error_set(errp, RV_ERR_OVERFLOW, false, "query of %zu bytes exceeds cql.max.frame.size",
                     len);
        return NULL;
    }
    rv_cql_request_t *rq = rv__cql_request_new(s, RV__RQ_PREPARE, s->request_timeout);
    if (!rq) {
        rv_error_set(errp, RV_ERR_NOMEM, true, "out of memory");
        return NULL;
    }
    rq->pcb = cb;
    rq->opaque = opaque;
    rq->state = RV__RQS_WAITING;
    s->stats.requests++;
    rv__cql_pentry_t *e = rv__cql_pcache_find(s, query, len);
    if (e) {
        rq->pentry = e;
        if (e->ready) {
            rv__cql_rq_list_push(&s->deferred, rq);
            rv__cql_session_defer(s);
        } else {
            rv__cql_rq_list_push(&e->waiters, rq);
        }
        return rq;
    }
    e = calloc(1, sizeof(*e));
    rv_cql_request_t *irq = rv__cql_request_new(s, RV__RQ_INTERNAL, s->request_timeout);
    if (!e || !irq || !(e->p.query = malloc(len + 1))) {
        free(e);
        rv__cql_request_free(irq);
        rq->state = RV__RQS_NEW;
        rv__cql_request_free(rq);
        rv_error_set(errp, RV_ERR_NOMEM, true, "out of memory");
        return NULL;
    }
    memcpy(e->p.query, query, len + 1);
    e->p.query_len = len;
    rv__cql_encode_prepare(&irq->frame, query, len);
    if (irq->frame.oom || !pcache_insert(s, e)) {
        free(e->p.query);
        free(e);
        rv__cql_request_free(irq);
        rq->state = RV__RQS_NEW;
        rv__cql_request_free(rq);
        rv_error_set(errp, RV_ERR_NOMEM, true, "out of memory");
        return NULL;
    }
    irq->done = prepare_done;
    irq->ctx = e;
    irq->idempotent = true;
    rq->pentry = e;
    rv__cql_rq_list_push(&e->waiters, rq);
    rv__cql_request_start(irq);
    return rq;
}

void rv__cql_deferred_run(rv_cql_session_t *s)
{
    uv_idle_stop(&s->idle);
    /* Only those already waiting: callbacks may add more for the next turn. */
    size_t n = s->deferred.n;
    rv_cql_request_t *w;
    while (n-- && (w = rv__cql_rq_list_pop(&s->deferred))) {
        w->state = RV__RQS_NEW;
        rv__cql_request_complete(w, NULL, NULL);
    }
    if (s->deferred.n && s->state != RV__SESS_CLOSING && s->state != RV__SESS_CLOSED)
        rv__cql_session_defer(s);
}

/* ------------------------------------------------------------- re-prepare */

static void reprep_done(rv_cql_request_t *irq, rv__cql_response_t *resp, const rv_error_t *err)
{
    rv__cql_pentry_t *e = irq->ctx;
    e->reprep_inflight = false;
    rv_error_t *fail = prepare_error(irq, resp, err);
    if (!fail && !set_id(e, resp->result->prep_id, resp->result->prep_id_len))
        fail = rv_error_new(RV_ERR_NOMEM, true, "out of memory");
    /* Taken one at a time from the entry's own list: a callback may cancel
     * the others meanwhile. Re-sent requests do not come back to it here. */
    rv_cql_request_t *w;
    while ((w = rv__cql_rq_list_pop(&e->repreparing))) {
        w->state = RV__RQS_NEW;
        if (fail) {
            rv__cql_request_complete(w, NULL, fail);
        } else if (!rv__cql_request_update_ids(w)) {
            rv_error_t *nomem = rv_error_new(RV_ERR_NOMEM, true, "out of memory");
            rv__cql_request_complete(w, NULL, nomem);
            rv_error_destroy(nomem);
        } else {
            w->prefer = irq->last_host;
            rv__cql_request_dispatch(w);
        }
    }
    rv_error_destroy(fail);
}

void rv__cql_reprepare(rv_cql_request_t *rq, const rv__cql_srv_error_t *se, const rv_error_t *err)
{
    rv_cql_session_t *s = rq->s;
    const rv_cql_prepared_t *p = rq->ids[0].prep;
    for (size_t i = 0; i < rq->nids; i++)
        if (rq->ids[i].prep->id_len == se->id_len &&
            memcmp(rq->ids[i].prep->id, se->id, se->id_len) == 0)
            p = rq->ids[i].prep;
    /* The public handle is the first member of its cache entry. */
    rv__cql_pentry_t *e = (rv__cql_pentry_t *)p;
    if (rq->reprepares >= 3 || s->state == RV__SESS_CLOSING) {
        rv__cql_request_retry_or_fail(rq, err, false);
        return;
    }
    rq->reprepares++;
    s->stats.reprepares++;
    rv__cql_log(s, 2, "re-preparing \"%.80s\" on %s (the host answered UNPREPARED)", p->query,
                rq->last_host ? rq->last_host->name : "?");
    rq->pentry = e;
    rq->state = RV__RQS_REPREPARE;
    rv__cql_rq_list_push(&e->repreparing, rq);
    if (e->reprep_inflight) return;
    rv_cql_request_t *irq = rv__cql_request_new(s, RV__RQ_INTERNAL, s->request_timeout);
    if (irq) rv__cql_encode_prepare(&irq->frame, p->query, p->query_len);
    if (!irq || irq->frame.oom) {
        rv__cql_request_free(irq);
        rv_error_t *nomem = rv_error_new(RV_ERR_NOMEM, true, "out of memory");
        rv__cql_request_complete(rq, NULL, nomem);
        rv_error_destroy(nomem);
        return;
    }
    irq->done = reprep_done;
    irq->ctx = e;
    irq->idempotent = true;
    irq->prefer = rq->last_host;
    e->reprep_inflight = true;
    rv__cql_request_start(irq);
}

/* ----------------------------------------------------------------- close */

void rv__cql_pcache_fail_all(rv_cql_session_t *s, const rv_error_t *err)
{
    rv_cql_request_t *w;
    while ((w = rv__cql_rq_list_pop(&s->deferred))) {
        w->state = RV__RQS_NEW;
        rv__cql_request_complete(w, NULL, err);
    }
    for (size_t b = 0; b < s->pcache_buckets; b++) {
        for (rv__cql_pentry_t *e = s->pcache[b]; e; e = e->next) {
            while ((w = rv__cql_rq_list_pop(&e->waiters))) {
                w->state = RV__RQS_NEW;
                rv__cql_request_complete(w, NULL, err);
            }
            while ((w = rv__cql_rq_list_pop(&e->repreparing))) {
                w->state = RV__RQS_NEW;
                rv__cql_request_complete(w, NULL, err);
            }
        }
    }
}

void rv__cql_pcache_free(rv_cql_session_t *s)
{
    for (size_t b = 0; b < s->pcache_buckets; b++) {
        rv__cql_pentry_t *e = s->pcache[b];
        while (e) {
            rv__cql_pentry_t *n = e->next;
            pentry_free(e);
            e = n;
        }
    }
    free(s->pcache);
    s->pcache = NULL;
    s->pcache_buckets = s->pcache_n = 0;
}
