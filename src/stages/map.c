/* Flow: out = f(in), one element at a time, a batch per run. Two forms: a plain
 * payload function (rv_map) and one that sees the envelope and its metadata
 * (rv_map_env). */
#include <stdlib.h>

#include "engine/engine.h" /* the envelope's fields, for the in-place fast path */
#include "rivulet/stages.h"
#include "stages/supervise.h"

#define MAP_BATCH 128

typedef struct {
    rv_map_fn fn;
    rv_map_env_fn env_fn;
    rv_free_fn out_free;
    void *opaque;
} map_t;

/* Applies the function to one element; returns the envelope to push, or NULL
 * when the element was dropped or the stage failed. */
static rv_env_t *apply(rv_stage_t *st, map_t *m, rv_env_t *env, int first_attempt)
{
    for (int attempt = first_attempt;; attempt++) {
        rv_error_t *err = NULL;
        rv_err_t rc;
        if (m->fn) {
            void *in = rv_env_payload(env), *out = in;
            rc = m->fn(in, &out, &err, m->opaque);
            if (rc == RV_OK) return rv__env_with_payload(env, out, m->out_free);
        } else {
            if (rv_env_refs(env) > 1) {
                /* The function may replace the payload: give it an envelope of
                 * its own that borrows the shared payload. */
                rv_env_t *own = rv_env_derive(env, rv_env_payload(env), NULL);
                if (!own) {
                    /* Not processed: released as failed, so it is never acked. */
                    rv_env_release_failed(env, RV_ERR_NOMEM);
                    rv_stage_fail(st, rv_error_new(RV_ERR_NOMEM, true, "%s: out of memory",
                                                   rv_stage_name(st)));
                    return NULL;
                }
                rv_env_release(env);
                env = own;
            }
            rc = m->env_fn(env, &err, m->opaque);
            if (rc == RV_OK) return env;
        }
        rv_directive_t d = rv__supervise(st, env, rc, &err, attempt);
        if (d != RV_RETRY) return NULL;
    }
}

/* The hot loop: a batch of elements in, the function on each, the batch out.
 * An element held alone (the common case) has its payload replaced in place,
 * without touching the allocator; the general path handles the rest. */
static void on_input(rv_stage_t *st)
{
    map_t *m = rv_stage_state(st);
    /* Locals, so the compiler need not reload them after each user call. */
    rv_map_fn fn = m->fn;
    rv_free_fn out_free = m->out_free;
    void *opaque = m->opaque;
    rv_env_t *batch[MAP_BATCH];
    for (;;) {
        size_t room = rv_out_room(st, 0);
        if (room > MAP_BATCH) room = MAP_BATCH;
        size_t n = room ? rv_in_take(st, 0, batch, room) : 0;
        if (n == 0) return;
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            rv_env_t *env = batch[i];
            if (fn && env->refs == 1) {
                void *in = env->payload, *out = in;
                rv_error_t *err = NULL;
                rv_err_t frc = fn(in, &out, &err, opaque);
                if (frc == RV_OK) {
                    if (out != in) {
                        if (env->free_payload && in) env->free_payload(in);
                        env->payload = out;
                        env->free_payload = out_free;
                    }
                    batch[k++] = env;
                    continue;
                }
                /* The elements before this one succeeded: they leave first,
                 * whatever supervision decides for this one. */
                rv_out_give(st, 0, batch, k);
                k = 0;
                if (rv__supervise(st, env, frc, &err, 1) != RV_RETRY)
                    env = NULL; /* dropped or failed: supervision released it */
                else
                    env = apply(st, m, env, 2);
            } else {
                rv_out_give(st, 0, batch, k);
                k = 0;
                env = apply(st, m, env, 1);
            }
            if (rv_stage_finished(st)) {
                rv_env_release_failed(env, RV_ERR_CANCELLED);
                for (size_t j = i + 1; j < n; j++)
                    rv_env_release_failed(batch[j], RV_ERR_CANCELLED);
                return;
            }
            if (env) batch[k++] = env;
        }
        rv_out_give(st, 0, batch, k);
    }
}

static void stop(rv_stage_t *st)
{
    free(rv_stage_state(st));
}

static const rv_stage_ops_t ops = {.kind = "map", .on_input = on_input, .stop = stop};

static rv_stage_t *make(rv_graph_t *g, rv_map_fn fn, rv_map_env_fn env_fn, rv_free_fn out_free,
                        void *opaque)
{
    if (!fn && !env_fn) {
        rv_graph_record_error(g, rv_error_new(RV_ERR_INVALID, false, "map: function is NULL"));
        return NULL;
    }
    map_t *m = calloc(1, sizeof(*m));
    if (!m) {
        rv_graph_record_error(g, rv_error_new(RV_ERR_NOMEM, true, "out of memory"));
        return NULL;
    }
    *m = (map_t){fn, env_fn, out_free, opaque};
    return rv_stage_new(g, &ops, m, 1, 1);
}

rv_stage_t *rv_map(rv_graph_t *g, rv_map_fn fn, rv_free_fn out_free, void *opaque)
{
    return make(g, fn, NULL, out_free, opaque);
}

rv_stage_t *rv_map_env(rv_graph_t *g, rv_map_env_fn fn, void *opaque)
{
    return make(g, NULL, fn, NULL, opaque);
}
