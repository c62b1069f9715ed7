/* Flow: a buffer of `size` elements between a fast upstream and a slow
 * downstream. With backpressure it is simply more room; with a drop strategy it
 * keeps pulling and sheds elements (released as failed, RV_ERR_OVERFLOW: they
 * were not processed, so their acks never report success); with `fail` the
 * stream fails when it would overflow. */
#include <stdlib.h>

#include "rivulet/stages.h"

typedef struct {
    rv_env_t **ring;
    size_t size, head, count;
    rv_overflow_t strategy;
    bool upstream_done;
} buffer_t;

/* Releases what the buffer holds as failed. Called as soon as the stage ends
 * without delivering them (failure, cancel, abort), so their acks report it
 * then, not only when the graph is destroyed. */
static void release_all(buffer_t *b)
{
    while (b->count > 0) {
        rv_env_release_failed(b->ring[b->head], RV_ERR_CANCELLED);
        b->head = (b->head + 1) % b->size;
        b->count--;
    }
}

static void emit(rv_stage_t *st)
{
    buffer_t *b = rv_stage_state(st);
    while (b->count > 0 && rv_out_room(st, 0) > 0) {
        rv_env_t *env = b->ring[b->head];
        b->head = (b->head + 1) % b->size;
        b->count--;
        rv_out_push(st, 0, env);
    }
    rv_stage_set_in_flight(st, b->count);
    if (b->upstream_done && b->count == 0) rv_stage_finish(st);
}

static void on_input(rv_stage_t *st)
{
    buffer_t *b = rv_stage_state(st);
    emit(st); /* room first, so fewer elements meet a full buffer */
    while (!rv_stage_finished(st) && rv_in_avail(st, 0) > 0) {
        if (b->count == b->size) {
            if (b->strategy == RV_OVERFLOW_BACKPRESSURE) break;
            rv_env_t *env = rv_in_pop(st, 0);
            switch (b->strategy) {
            case RV_OVERFLOW_DROP_HEAD: {
                rv_env_t *old = b->ring[b->head];
                b->ring[b->head] = env;
                b->head = (b->head + 1) % b->size;
                rv_stage_count_failure(st);
                rv_env_release_failed(old, RV_ERR_OVERFLOW);
                break;
            }
            case RV_OVERFLOW_DROP_TAIL: {
                size_t last = (b->head + b->count - 1) % b->size;
                rv_env_t *old = b->ring[last];
                b->ring[last] = env;
                rv_stage_count_failure(st);
                rv_env_release_failed(old, RV_ERR_OVERFLOW);
                break;
            }
            case RV_OVERFLOW_DROP_NEW:
                rv_stage_count_failure(st);
                rv_env_release_failed(env, RV_ERR_OVERFLOW);
                break;
            default:
                rv_env_release_failed(env, RV_ERR_OVERFLOW);
                release_all(b);
                rv_stage_set_in_flight(st, 0);
                rv_stage_fail(st,
                              rv_error_new(RV_ERR_OVERFLOW, false, "%s: buffer of %zu overflowed",
                                           rv_stage_name(st), b->size));
                return;
            }
            continue;
        }
        b->ring[(b->head + b->count) % b->size] = rv_in_pop(st, 0);
        b->count++;
    }
    if (!rv_stage_finished(st)) emit(st);
}

static void on_finish(rv_stage_t *st, int port, const rv_error_t *err)
{
    buffer_t *b = rv_stage_state(st);
    if (err) {
        release_all(b);
        rv_stage_set_in_flight(st, 0);
        rv_stage_fail(st, rv_error_copy(err));
        return;
    }
    b->upstream_done = true;
    emit(st);
}

static void on_cancel(rv_stage_t *st, int port)
{
    release_all(rv_stage_state(st));
    rv_stage_set_in_flight(st, 0);
    rv_stage_finish(st);
}

static void on_abort(rv_stage_t *st)
{
    release_all(rv_stage_state(st));
    rv_stage_set_in_flight(st, 0);
}

static void stop(rv_stage_t *st)
{
    buffer_t *b = rv_stage_state(st);
    release_all(b);
    free(b->ring);
    free(b);
}

static const rv_stage_ops_t ops = {.kind = "buffer",
                                   .on_input = on_input,
                                   .on_room = on_input,
                                   .on_finish = on_finish,
                                   .on_cancel = on_cancel,
                                   .on_abort = on_abort,
                                   .stop = stop};

rv_stage_t *rv_buffer(rv_graph_t *g, size_t size, rv_overflow_t strategy)
{
    buffer_t *b = size > 0 ? calloc(1, sizeof(*b)) : NULL;
    if (b) b->ring = calloc(size, sizeof(rv_env_t *));
    if (!b || !b->ring) {
        free(b);
        rv_graph_record_error(g, rv_error_new(size ? RV_ERR_NOMEM : RV_ERR_INVALID, false,
                                              "buffer: %s",
                                              size ? "out of memory" : "size must be > 0"));
        return NULL;
    }
    b->size = size;
    b->strategy = strategy;
    return rv_stage_new(g, &ops, b, 1, 1);
}
