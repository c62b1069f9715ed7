/* Sink: keeps every element, for tests and small jobs. The envelopes are held
 * until the graph is destroyed, so their payloads stay readable after the run. */
#include <stdlib.h>

#include "rivulet/stages.h"

typedef struct {
    rv_env_t **items;
    size_t n, cap;
} collect_t;

static void on_input(rv_stage_t *st)
{
    collect_t *c = rv_stage_state(st);
    rv_env_t *env;
    while ((env = rv_in_pop(st, 0)) != NULL) {
        if (c->n == c->cap) {
            size_t cap = c->cap ? c->cap * 2 : 64;
            rv_env_t **items = realloc(c->items, cap * sizeof(*items));
            if (!items) {
                rv_env_release_failed(env, RV_ERR_NOMEM);
                rv_stage_fail(
                    st, rv_error_new(RV_ERR_NOMEM, true, "%s: out of memory", rv_stage_name(st)));
                return;
            }
            c->items = items;
            c->cap = cap;
        }
        c->items[c->n++] = env;
    }
}

static void stop(rv_stage_t *st)
{
    collect_t *c = rv_stage_state(st);
    for (size_t i = 0; i < c->n; i++)
        rv_env_release(c->items[i]);
    free(c->items);
    free(c);
}

static const rv_stage_ops_t ops = {.kind = "collect", .on_input = on_input, .stop = stop};

rv_stage_t *rv_collect(rv_graph_t *g)
{
    collect_t *c = calloc(1, sizeof(*c));
    if (!c) {
        rv_graph_record_error(g, rv_error_new(RV_ERR_NOMEM, true, "out of memory"));
        return NULL;
    }
    return rv_stage_new(g, &ops, c, 1, 0);
}

size_t rv_collect_count(const rv_stage_t *st)
{
    return st ? ((collect_t *)rv_stage_state(st))->n : 0;
}

void *rv_collect_item(const rv_stage_t *st, size_t i)
{
    collect_t *c = rv_stage_state(st);
    return i < c->n ? rv_env_payload(c->items[i]) : NULL;
}
