/* Sink: calls a function for each element, then releases it after success.
 * A failed call goes to the decider. */
#include <stdlib.h>

#include "engine/engine.h" /* inline reference counting in the hot loop */
#include "rivulet/stages.h"
#include "stages/supervise.h"

typedef struct {
    rv_each_fn fn;
    rv_each_env_fn env_fn;
    void *opaque;
} each_t;

static void on_input(rv_stage_t *st)
{
    each_t *e = rv_stage_state(st);
    rv_env_t *batch[128];
    size_t n = 0, i = 0;
    while (!rv_stage_finished(st)) {
        if (i == n) {
            n = rv_in_take(st, 0, batch, 128);
            i = 0;
            if (n == 0) return;
        }
        rv_env_t *env = batch[i++];
        for (int attempt = 1;; attempt++) {
            rv_error_t *err = NULL;
            rv_err_t rc = e->fn ? e->fn(rv_env_payload(env), &err, e->opaque)
                                : e->env_fn(env, &err, e->opaque);
            if (rc == RV_OK) {
                rv__env_release(env);
                break;
            }
            if (rv__supervise(st, env, rc, &err, attempt) != RV_RETRY) break;
        }
    }
    while (i < n) /* the stage failed mid-batch: the rest was not processed */
        rv_env_release_failed(batch[i++], RV_ERR_CANCELLED);
}

static void stop(rv_stage_t *st)
{
    free(rv_stage_state(st));
}

static const rv_stage_ops_t ops = {.kind = "for-each", .on_input = on_input, .stop = stop};

static rv_stage_t *make(rv_graph_t *g, rv_each_fn fn, rv_each_env_fn env_fn, void *opaque)
{
    each_t *e = (fn || env_fn) ? calloc(1, sizeof(*e)) : NULL;
    if (!e) {
        rv_graph_record_error(
            g, rv_error_new((fn || env_fn) ? RV_ERR_NOMEM : RV_ERR_INVALID, false, "for-each: %s",
                            (fn || env_fn) ? "out of memory" : "function is NULL"));
        return NULL;
    }
    *e = (each_t){fn, env_fn, opaque};
    return rv_stage_new(g, &ops, e, 1, 0);
}

rv_stage_t *rv_for_each(rv_graph_t *g, rv_each_fn fn, void *opaque)
{
    return make(g, fn, NULL, opaque);
}

rv_stage_t *rv_for_each_env(rv_graph_t *g, rv_each_env_fn fn, void *opaque)
{
    return make(g, NULL, fn, opaque);
}
