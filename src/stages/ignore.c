/* Sink: takes everything and releases it after success (its acks fire). */
#include "rivulet/stages.h"

static void on_input(rv_stage_t *st)
{
    rv_env_t *env;
    while ((env = rv_in_pop(st, 0)) != NULL)
        rv_env_release(env);
}

static const rv_stage_ops_t ops = {.kind = "ignore", .on_input = on_input};

rv_stage_t *rv_ignore(rv_graph_t *g)
{
    return rv_stage_new(g, &ops, NULL, 1, 0);
}
