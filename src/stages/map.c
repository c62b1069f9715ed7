/* Flow: out = f(in), one element at a time, a batch per run. Two forms: a plain
 * payload function (rv_map) and one that sees the envelope and its metadata
 * (rv_map_env). */
#include <stdlib.h>

#include "rivulet/stages.h"
#include "stages/supervise.h"

typedef struct {
    rv_map_fn fn;
    rv_map_env_fn env_fn;
    rv_free_fn out_free;
    void *opaque;
} map_t;

/* Applies the function to one element; returns the envelope to push, or NULL
 * when the element was dropped or the stage failed. */
static rv_env_t *apply(rv_stage_t *st, map_t *m, rv_env_t *env)
{
    for (int attempt = 1;; attempt++) {
        rv_error_t *err = NULL;
        rv_err_t rc;
        if (m->fn) {
            void *in = rv_env_payload(env), *out = in;
            rc = m->fn(m->opaque, in, &out, &err);
            if (rc == RV_OK)
                return rv__env_with_payload(env, out, m->out_free);
        } else {
            if (rv_env_refs(env) > 1) {
                /* The function may replace the payload: give it an envelope of
                 * its own that borrows the shared payload. */
                rv_env_t *own = rv_env_derive(env, rv_env_payload(env), NULL);
                rv_env_release(env);
                if (!own) {
                    rv_stage_fail(st, rv_error_new(RV_ERR_NOMEM, true, "%s: out of memory",
                                                   rv_stage_name(st)));
                    return NULL;
                }
                env = own;
            }
            rc = m->env_fn(m->opaque, env, &err);
            if (rc == RV_OK)
                return env;
        }
        rv_directive_t d = rv__supervise(st, env, rc, &err, attempt);
        if (d != RV_RETRY)
            return NULL;
    }
}

static void on_input(rv_stage_t *st)
{
    map_t *m = rv_stage_state(st);
    size_t n = rv_in_avail(st, 0), room = rv_out_room(st, 0);
    if (n > room)
        n = room;
    while (n-- > 0 && !rv_stage_finished(st)) {
        rv_env_t *env = apply(st, m, rv_in_pop(st, 0));
        if (env)
            rv_out_push(st, 0, env);
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
