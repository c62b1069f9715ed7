/* Flow: asynchronous map with at most `parallelism` calls in flight, emitting
 * results in input order (ordered) or as they complete. Given a backoff it also
 * retries a failed call, with the same element, after an exponential delay
 * (that is rv_retry).
 *
 * Each call occupies a slot. Ordered mode keeps the occupied slots in a ring in
 * input order and emits from its head while the head is done; unordered mode
 * queues completed slots. A completion may arrive inside the user function
 * (synchronously) or later on the loop thread; both go through rv_async_done,
 * and a `pumping` flag keeps the two from re-entering each other. */
#include <stdlib.h>

#include "stages/async_map.h"
#include "stages/supervise.h"

typedef enum { SLOT_FREE, SLOT_RUNNING, SLOT_WAITING, SLOT_DONE, SLOT_DROPPED } slot_state_t;

typedef struct amap amap_t;

struct rv_async {
    amap_t *a;
    rv_stage_t *st; /* not valid once the stage stopped (see amap_t.orphans) */
    void *in;       /* the payload the call was given (for orphaned completions) */
    int index;
    slot_state_t state;
    rv_env_t *env;
    void *out;
    int attempt;  /* 0 on the first call, n on the n-th retry */
    int failures; /* failed calls so far, for the decider */
    rv_timer_t *timer;
};

struct amap {
    rv_async_fn fn;
    rv_free_fn out_free;
    void *opaque;
    int par;
    bool ordered;
    bool has_backoff;
    rv_backoff_t backoff;
    rv_async_t *slots;
    int head, count; /* ordered: ring of occupied slots, in input order */
    int *done_q;     /* unordered: completed slots, in completion order */
    int done_head, done_n;
    int *free_q; /* unordered: free slots */
    int free_n;
    int in_flight;
    bool upstream_done, cancelled, pumping;
    /* Calls still running when the stage stopped (the graph was destroyed):
     * their rv_async_done must still find valid memory, so the state outlives
     * the stage until the last of them completes. */
    int orphans;
};

static void amap_free(amap_t *a)
{
    free(a->slots);
    free(a->done_q);
    free(a->free_q);
    free(a);
}

static void free_out(amap_t *a, rv_async_t *op)
{
    if (op->out && op->env && op->out != rv_env_payload(op->env) && a->out_free)
        a->out_free(op->out);
    op->out = NULL;
}

static void release_slot(amap_t *a, rv_async_t *op)
{
    op->state = SLOT_FREE;
    op->env = NULL;
    op->out = NULL;
    a->in_flight--;
    if (!a->ordered) a->free_q[a->free_n++] = op->index;
    rv_stage_set_in_flight(op->st, (uint64_t)a->in_flight);
}

static void call(rv_async_t *op)
{
    amap_t *a = rv_stage_state(op->st);
    op->state = SLOT_RUNNING;
    op->in = rv_env_payload(op->env);
    a->fn(op, op->in, a->opaque);
}

/* Emits what is ready as far as the output has room; true when it freed a slot. */
static bool emit_ready(rv_stage_t *st)
{
    amap_t *a = rv_stage_state(st);
    bool progress = false;
    for (;;) {
        rv_async_t *op;
        if (a->ordered) {
            if (a->count == 0) break;
            op = &a->slots[a->head];
        } else {
            if (a->done_n == 0) break;
            op = &a->slots[a->done_q[a->done_head]];
        }
        if (op->state == SLOT_DONE) {
            if (rv_out_room(st, 0) == 0 && !rv_out_closed(st, 0)) break;
            rv_env_t *env = rv__env_with_payload(op->env, op->out, a->out_free);
            op->env = NULL;
            if (env) rv_out_push(st, 0, env);
        } else if (op->state != SLOT_DROPPED) {
            break; /* ordered: the head is still running */
        }
        if (a->ordered) {
            a->head = (a->head + 1) % a->par;
            a->count--;
        } else {
            a->done_head = (a->done_head + 1) % a->par;
            a->done_n--;
        }
        release_slot(a, op);
        progress = true;
    }
    return progress;
}

/* Starts calls while slots are free; true when it started any. */
static bool start_calls(rv_stage_t *st)
{
    amap_t *a = rv_stage_state(st);
    bool progress = false;
    while (a->in_flight < a->par && !a->cancelled && !rv_stage_finished(st)) {
        rv_env_t *env = rv_in_pop(st, 0);
        if (!env) break;
        int idx;
        if (a->ordered) {
            idx = (a->head + a->count) % a->par;
            a->count++;
        } else {
            idx = a->free_q[--a->free_n];
        }
        rv_async_t *op = &a->slots[idx];
        op->env = env;
        op->out = NULL;
        op->attempt = 0;
        op->failures = 0;
        a->in_flight++;
        rv_stage_set_in_flight(st, (uint64_t)a->in_flight);
        call(op);
        progress = true;
    }
    return progress;
}

static void pump(rv_stage_t *st)
{
    amap_t *a = rv_stage_state(st);
    if (a->pumping) return;
    a->pumping = true;
    bool progress;
    do {
        progress = emit_ready(st);
        progress |= start_calls(st);
    } while (progress && !rv_stage_finished(st));
    a->pumping = false;
    if (a->in_flight == 0 && (a->upstream_done || a->cancelled) && !rv_stage_finished(st))
        rv_stage_finish(st);
}

static void drop_waiting(rv_stage_t *st);

static void retry_timer_cb(rv_timer_t *t, void *opaque)
{
    rv_async_t *op = opaque;
    if (op->state != SLOT_WAITING) return;
    amap_t *a = rv_stage_state(op->st);
    if (rv_stage_finished(op->st)) {
        /* The stage failed meanwhile: no new call after its end. */
        rv_env_release_failed(op->env, RV_ERR_CANCELLED);
        release_slot(a, op);
        return;
    }
    op->attempt++;
    bool was = a->pumping;
    a->pumping = true;
    call(op);
    a->pumping = was;
    pump(op->st);
}

void rv_async_done(rv_async_t *op, void *out, rv_error_t *err)
{
    amap_t *a = op->a;
    if (a->orphans > 0) {
        /* The graph is gone; only the memory of this call is left to free. */
        if (op->state == SLOT_RUNNING) {
            op->state = SLOT_FREE;
            if (!err && out && out != op->in && a->out_free) a->out_free(out);
            rv_error_destroy(err);
            if (--a->orphans == 0) amap_free(a);
        } else {
            rv_error_destroy(err);
        }
        return;
    }
    rv_stage_t *st = op->st;
    if (op->state != SLOT_RUNNING) {
        /* A second completion of one call is a caller bug; do not corrupt. */
        rv_error_destroy(err);
        return;
    }
    if (rv_stage_finished(st)) {
        /* The stage failed or was aborted meanwhile: the element goes nowhere. */
        if (!err) {
            op->out = out;
            free_out(a, op);
        }
        rv_error_destroy(err);
        rv_env_release_failed(op->env, RV_ERR_CANCELLED);
        release_slot(a, op);
        return;
    }
    if (!err) {
        op->out = out;
        op->state = SLOT_DONE;
    } else {
        op->failures++;
        rv_graph_t *g = rv_stage_graph(st);
        if (a->has_backoff && rv_error_retriable(err) &&
            (a->backoff.max_retries < 0 || op->attempt < a->backoff.max_retries)) {
            uint64_t delay = rv_backoff_delay(&a->backoff, op->attempt, rv_graph_random(g));
            rv_error_destroy(err);
            op->state = SLOT_WAITING;
            rv_timer_start(op->timer, delay);
            return;
        }
        rv_env_t *env = op->env;
        rv_env_retain(env); /* rv__supervise releases one reference on resume/stop */
        rv_directive_t d = rv__supervise(st, env, rv_error_code(err), &err, op->failures);
        if (d == RV_RETRY) {
            rv_env_release(env);
            op->state = SLOT_WAITING;
            rv_timer_start(op->timer, 0); /* not from inside the user's own call */
            return;
        }
        /* Resume or stop: the slot's reference goes as failed too. */
        rv_env_release_failed(op->env, RV_ERR_USER);
        op->env = NULL;
        if (d == RV_STOP) {
            release_slot(a, op);
            drop_waiting(st); /* the stage failed: results not emitted yet go too */
            return;
        }
        op->state = SLOT_DROPPED;
    }
    if (!a->ordered) {
        a->done_q[(a->done_head + a->done_n) % a->par] = op->index;
        a->done_n++;
    }
    pump(st);
}

rv_env_t *rv_async_env(const rv_async_t *op)
{
    return op->env;
}

int rv_async_attempt(const rv_async_t *op)
{
    return op->attempt;
}

static void on_input(rv_stage_t *st)
{
    pump(st);
}

static void on_finish(rv_stage_t *st, int port, const rv_error_t *err)
{
    amap_t *a = rv_stage_state(st);
    if (err) {
        /* Results waiting to be emitted and calls waiting for a retry will
         * never go anywhere: fail them now, not when the graph is destroyed.
         * Running calls are failed as they complete (rv_async_done). */
        drop_waiting(st);
        rv_stage_fail(st, rv_error_copy(err));
        return;
    }
    a->upstream_done = true;
    pump(st);
}

static void on_cancel(rv_stage_t *st, int port)
{
    amap_t *a = rv_stage_state(st);
    a->cancelled = true;
    rv_in_cancel(st, 0);
    pump(st);
}

static void drop_waiting(rv_stage_t *st)
{
    amap_t *a = rv_stage_state(st);
    for (int i = 0; i < a->par; i++) {
        rv_async_t *op = &a->slots[i];
        if (op->state == SLOT_WAITING || op->state == SLOT_DONE) {
            rv_timer_stop(op->timer);
            free_out(a, op);
            rv_env_release_failed(op->env, RV_ERR_CANCELLED);
            release_slot(a, op);
        }
    }
}

static void on_abort(rv_stage_t *st)
{
    drop_waiting(st);
}

static void stop(rv_stage_t *st)
{
    amap_t *a = rv_stage_state(st);
    int running = 0;
    for (int i = 0; i < a->par; i++) {
        rv_async_t *op = &a->slots[i];
        if (op->env && op->state != SLOT_FREE) {
            free_out(a, op);
            rv_env_release_failed(op->env, RV_ERR_CANCELLED);
            op->env = NULL;
        }
        if (op->state == SLOT_RUNNING) running++;
        rv_timer_destroy(op->timer);
        op->timer = NULL;
        op->st = NULL;
    }
    if (running > 0)
        a->orphans = running; /* freed by the last rv_async_done */
    else
        amap_free(a);
}

static const rv_stage_ops_t ops_async = {.kind = "async-map",
                                         .on_input = on_input,
                                         .on_room = on_input,
                                         .on_finish = on_finish,
                                         .on_cancel = on_cancel,
                                         .on_abort = on_abort,
                                         .stop = stop};
static const rv_stage_ops_t ops_retry = {.kind = "retry",
                                         .on_input = on_input,
                                         .on_room = on_input,
                                         .on_finish = on_finish,
                                         .on_cancel = on_cancel,
                                         .on_abort = on_abort,
                                         .stop = stop};

rv_stage_t *rv__async_map_new(rv_graph_t *g, const char *kind, int parallelism, bool ordered,
                              rv_async_fn fn, rv_free_fn out_free, const rv_backoff_t *backoff,
                              void *opaque)
{
    if (!fn || parallelism < 1 || parallelism > 65536) {
        rv_graph_record_error(
            g, rv_error_new(RV_ERR_INVALID, false, "%s: %s", kind,
                            fn ? "parallelism must be 1..65536" : "function is NULL"));
        return NULL;
    }
    amap_t *a = calloc(1, sizeof(*a));
    if (a) {
        a->slots = calloc((size_t)parallelism, sizeof(rv_async_t));
        a->done_q = calloc((size_t)parallelism, sizeof(int));
        a->free_q = calloc((size_t)parallelism, sizeof(int));
    }
    if (!a || !a->slots || !a->done_q || !a->free_q) {
        if (a) {
            free(a->slots);
            free(a->done_q);
            free(a->free_q);
        }
        free(a);
        rv_graph_record_error(g, rv_error_new(RV_ERR_NOMEM, true, "out of memory"));
        return NULL;
    }
    a->fn = fn;
    a->out_free = out_free;
    a->opaque = opaque;
    a->par = parallelism;
    a->ordered = ordered;
    if (backoff) {
        a->has_backoff = true;
        a->backoff = *backoff;
    }
    rv_stage_t *st = rv_stage_new(g, backoff ? &ops_retry : &ops_async, a, 1, 1);
    if (!st) return NULL;
    for (int i = 0; i < parallelism; i++) {
        rv_async_t *op = &a->slots[i];
        op->a = a;
        op->st = st;
        op->index = i;
        op->timer = rv_timer_new(st, retry_timer_cb, op);
        a->free_q[a->free_n++] = parallelism - 1 - i;
        if (!op->timer) {
            rv_graph_record_error(g, rv_error_new(RV_ERR_NOMEM, true, "out of memory"));
            return NULL;
        }
    }
    return st;
}

rv_stage_t *rv_async_map(rv_graph_t *g, int parallelism, bool ordered, rv_async_fn fn,
                         rv_free_fn out_free, void *opaque)
{
    return rv__async_map_new(g, "async-map", parallelism, ordered, fn, out_free, NULL, opaque);
}
