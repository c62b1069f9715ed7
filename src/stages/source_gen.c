/* Source: a generator function called once per unit of demand. */
#include <stdlib.h>

#include "rivulet/stages.h"

typedef struct {
    rv_gen_fn fn;
    void *opaque;
} source_gen_t;

static void on_room(rv_stage_t *st)
{
    source_gen_t *s = rv_stage_state(st);
    rv_graph_t *g = rv_stage_graph(st);
    size_t room = rv_out_room(st, 0);
    while (room-- > 0) {
        void *item = NULL;
        rv_free_fn item_free = NULL;
        rv_error_t *err = NULL;
        int rc = s->fn(&item, &item_free, &err, s->opaque);
        if (rc == 0) {
            rv_error_destroy(err);
            rv_stage_finish(st);
            return;
        }
        if (rc < 0) {
            if (!err)
                err = rv_error_new((rv_err_t)rc, false, "%s: generator failed: %s",
                                   rv_stage_name(st), rv_err_str((rv_err_t)rc));
            rv_stage_fail(st, err);
            return;
        }
        rv_env_t *env = rv_env_new(g, item, item_free);
        if (!env) {
            rv_stage_fail(st,
                          rv_error_new(RV_ERR_NOMEM, true, "%s: out of memory", rv_stage_name(st)));
            return;
        }
        rv_out_push(st, 0, env);
    }
}

static void stop(rv_stage_t *st)
{
    free(rv_stage_state(st));
}

static const rv_stage_ops_t ops = {.kind = "source-gen", .on_room = on_room, .stop = stop};

rv_stage_t *rv_source_gen(rv_graph_t *g, rv_gen_fn fn, void *opaque)
{
    if (!fn) {
        /* Reported by rv_graph_run, like every other constructor's problem,
         * instead of a NULL call once the graph runs. */
        rv_graph_record_error(g,
                              rv_error_new(RV_ERR_INVALID, false, "source-gen: function is NULL"));
        return NULL;
    }
    source_gen_t *s = calloc(1, sizeof(*s));
    if (!s) {
        rv_graph_record_error(g, rv_error_new(RV_ERR_NOMEM, true, "out of memory"));
        return NULL;
    }
    s->fn = fn;
    s->opaque = opaque;
    return rv_stage_new(g, &ops, s, 0, 1);
}
