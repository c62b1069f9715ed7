/* Flow: keeps the elements a predicate accepts. A rejected element counts as
 * processed, so it is released after success and its ack can fire. */
#include <stdlib.h>

#include "rivulet/stages.h"

typedef struct {
    rv_pred_fn pred;
    void *opaque;
} filter_t;

static void on_input(rv_stage_t *st)
{
    filter_t *f = rv_stage_state(st);
    while (rv_in_avail(st, 0) > 0 && rv_out_room(st, 0) > 0) {
        rv_env_t *env = rv_in_pop(st, 0);
        if (f->pred(rv_env_payload(env), f->opaque))
            rv_out_push(st, 0, env);
        else
            rv_env_release(env);
    }
}

static void stop(rv_stage_t *st)
{
    free(rv_stage_state(st));
}

static const rv_stage_ops_t ops = {.kind = "filter", .on_input = on_input, .stop = stop};

rv_stage_t *rv_filter(rv_graph_t *g, rv_pred_fn pred, void *opaque)
{
    filter_t *f = pred ? calloc(1, sizeof(*f)) : NULL;
    if (!f) {
        rv_graph_record_error(g, rv_error_new(pred ? RV_ERR_NOMEM : RV_ERR_INVALID, false,
                                              "filter: %s",
                                              pred ? "out of memory" : "predicate is NULL"));
        return NULL;
    }
    f->pred = pred;
    f->opaque = opaque;
    return rv_stage_new(g, &ops, f, 1, 1);
}
