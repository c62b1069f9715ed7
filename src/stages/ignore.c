/* Sink: takes everything and releases it after success (its acks fire). */
#include "engine/engine.h" /* inline reference counting in the hot loop */
#include "rivulet/stages.h"

static void on_input(rv_stage_t *st)
{
    rv_env_t *batch[128];
    size_t n;
    while ((n = rv_in_take(st, 0, batch, 128)) > 0)
        for (size_t i = 0; i < n; i++)
            rv__env_release(batch[i]);
}

static const rv_stage_ops_t ops = {.kind = "ignore", .on_input = on_input};

rv_stage_t *rv_ignore(rv_graph_t *g)
{
    return rv_stage_new(g, &ops, NULL, 1, 0);
}
