/* Source: a bounded queue that other threads fill. The queue is the only
 * shared state: a mutex guards it, a condition variable lets blocked producers
 * wait for room, and a uv_async_t tells the loop thread that items arrived. */
#include <stdlib.h>

#include "rivulet/stages.h"

typedef struct {
    void *item;
    rv_free_fn item_free;
} qitem_t;

struct rv_queue {
    uv_mutex_t mu;
    uv_cond_t not_full;
    qitem_t *ring;
    size_t cap, head, count;
    bool closed; /* no more items will be offered */
    bool shut;   /* the stage is gone or aborted: offers fail */
    uv_async_t async;
    rv_stage_t *st;
    rv_graph_t *g;
};

static void shut(rv_queue_t *q)
{
    uv_mutex_lock(&q->mu);
    q->shut = true;
    q->closed = true;
    uv_cond_broadcast(&q->not_full);
    uv_mutex_unlock(&q->mu);
}

/* The async handle keeps the loop alive while the source may still receive
 * items; once the stage is done, it must not (a plain uv_run would never
 * return after the graph completed). Loop thread only. */
static void release_loop(rv_queue_t *q)
{
    uv_unref((uv_handle_t *)&q->async);
}

static void drain_to_output(rv_stage_t *st)
{
    rv_queue_t *q = rv_stage_state(st);
    rv_graph_t *g = rv_stage_graph(st);
    for (;;) {
        size_t room = rv_out_room(st, 0);
        qitem_t batch[64];
        size_t n = 0;
        bool finished = false;
        uv_mutex_lock(&q->mu);
        while (n < room && n < 64 && q->count > 0) {
            batch[n++] = q->ring[q->head];
            q->head = (q->head + 1) % q->cap;
            q->count--;
        }
        if (n > 0) uv_cond_broadcast(&q->not_full);
        finished = q->closed && q->count == 0;
        uv_mutex_unlock(&q->mu);
        for (size_t i = 0; i < n; i++) {
            rv_env_t *env = rv_env_new(g, batch[i].item, batch[i].item_free);
            if (!env) {
                for (size_t j = i + 1; j < n; j++)
                    if (batch[j].item_free) batch[j].item_free(batch[j].item);
                shut(q);
                release_loop(q);
                rv_stage_fail(
                    st, rv_error_new(RV_ERR_NOMEM, true, "%s: out of memory", rv_stage_name(st)));
                return;
            }
            rv_out_push(st, 0, env);
        }
        if (finished) {
            release_loop(q);
            rv_stage_finish(st);
            return;
        }
        if (n < 64) return;
    }
}

static void async_cb(uv_async_t *h)
{
    rv_queue_t *q = h->data;
    if (q->st && !rv_stage_finished(q->st)) rv_stage_wake(q->st);
}

static void on_room(rv_stage_t *st)
{
    drain_to_output(st);
}

static void on_cancel(rv_stage_t *st, int port)
{
    shut(rv_stage_state(st));
    release_loop(rv_stage_state(st));
    rv_stage_finish(st);
}

static void on_drain(rv_stage_t *st)
{
    rv_queue_close(rv_stage_state(st));
    rv_stage_wake(st);
}

static void on_abort(rv_stage_t *st)
{
    shut(rv_stage_state(st));
    release_loop(rv_stage_state(st));
}

static void closed_cb(uv_handle_t *h)
{
    rv_queue_t *q = h->data;
    rv_graph_t *g = q->g;
    uv_cond_destroy(&q->not_full);
    uv_mutex_destroy(&q->mu);
    free(q->ring);
    free(q);
    rv_graph_unhold(g);
}

static void stop(rv_stage_t *st)
{
    rv_queue_t *q = rv_stage_state(st);
    shut(q);
    for (size_t i = 0; i < q->count; i++) {
        qitem_t *it = &q->ring[(q->head + i) % q->cap];
        if (it->item_free) it->item_free(it->item);
    }
    q->count = 0;
    rv_graph_hold(rv_stage_graph(st));
    uv_close((uv_handle_t *)&q->async, closed_cb);
}

static const rv_stage_ops_t ops = {.kind = "source-queue",
                                   .on_room = on_room,
                                   .on_cancel = on_cancel,
                                   .on_drain = on_drain,
                                   .on_abort = on_abort,
                                   .stop = stop};

rv_stage_t *rv_source_queue(rv_graph_t *g, size_t capacity)
{
    rv_queue_t *q = calloc(1, sizeof(*q));
    if (q && capacity > 0) q->ring = calloc(capacity, sizeof(qitem_t));
    if (!q || !q->ring) {
        free(q);
        rv_graph_record_error(g, rv_error_new(capacity ? RV_ERR_NOMEM : RV_ERR_INVALID, false,
                                              "source-queue: %s",
                                              capacity ? "out of memory" : "capacity must be > 0"));
        return NULL;
    }
    q->cap = capacity;
    q->g = g;
    uv_mutex_init(&q->mu);
    uv_cond_init(&q->not_full);
    uv_async_init(rv_graph_loop(g), &q->async, async_cb);
    q->async.data = q;
    rv_stage_t *st = rv_stage_new(g, &ops, q, 0, 1);
    if (st) q->st = st;
    return st;
}

rv_queue_t *rv_source_queue_get(rv_stage_t *st)
{
    return st ? rv_stage_state(st) : NULL;
}

static rv_err_t enqueue(rv_queue_t *q, void *item, rv_free_fn item_free, int64_t timeout_ms)
{
    uv_mutex_lock(&q->mu);
    /* Saturated: a huge timeout (INT64_MAX as "practically for ever") must not
     * wrap around to a deadline in the past and time out at once. */
    uint64_t deadline = 0;
    if (timeout_ms > 0) {
        uint64_t now = uv_hrtime(), ns = (uint64_t)timeout_ms;
        ns = ns > UINT64_MAX / 1000000u ? UINT64_MAX : ns * 1000000u;
        deadline = ns > UINT64_MAX - now ? UINT64_MAX : now + ns;
    }
    while (!q->closed && q->count == q->cap && timeout_ms != 0) {
        if (timeout_ms < 0) {
            uv_cond_wait(&q->not_full, &q->mu);
        } else {
            uint64_t now = uv_hrtime();
            if (now >= deadline) break;
            /* In slices of at most an hour: libuv adds the wait to the current
             * time, which a far deadline would overflow. The loop re-checks
             * the deadline after every wake-up or timed-out slice. */
            uint64_t wait = deadline - now;
            uv_cond_timedwait(&q->not_full, &q->mu,
                              wait < 3600000000000ull ? wait : 3600000000000ull);
        }
    }
    rv_err_t rc;
    if (q->closed) {
        rc = RV_ERR_CLOSED;
    } else if (q->count == q->cap) {
        rc = timeout_ms == 0 ? RV_ERR_OVERFLOW : RV_ERR_TIMEOUT;
    } else {
        q->ring[(q->head + q->count) % q->cap] = (qitem_t){item, item_free};
        q->count++;
        rc = RV_OK;
        uv_async_send(&q->async); /* under the lock: see rv_queue_close */
    }
    uv_mutex_unlock(&q->mu);
    return rc;
}

rv_err_t rv_queue_offer(rv_queue_t *q, void *item, rv_free_fn item_free)
{
    return enqueue(q, item, item_free, 0);
}

rv_err_t rv_queue_put(rv_queue_t *q, void *item, rv_free_fn item_free, int64_t timeout_ms)
{
    return enqueue(q, item, item_free, timeout_ms);
}

void rv_queue_close(rv_queue_t *q)
{
    uv_mutex_lock(&q->mu);
    q->closed = true;
    uv_cond_broadcast(&q->not_full);
    /* Once shut, the stage is gone or going and its async handle may be
     * closing: sending to it then is undefined. The stop hook shuts under this
     * lock before it closes the handle, so sending while holding it is safe. */
    if (!q->shut) uv_async_send(&q->async);
    uv_mutex_unlock(&q->mu);
}
