/* Source: the items of an array, in order, then completion. */
#include <stdlib.h>

#include "rivulet/stages.h"

typedef struct {
    void *const *items;
    size_t n, next;
} source_array_t;

static void on_room(rv_stage_t *st)
{
    source_array_t *s = rv_stage_state(st);
    rv_graph_t *g = rv_stage_graph(st);
    size_t room = rv_out_room(st, 0);
    while (room-- > 0 && s->next < s->n) {
        rv_env_t *env = rv_env_new(g, s->items[s->next], NULL);
        if (!env) {
            rv_stage_fail(st,
                          rv_error_new(RV_ERR_NOMEM, true, "%s: out of memory", rv_stage_name(st)));
            return;
        }
        s->next++;
        rv_out_push(st, 0, env);
    }
    if (s->next == s->n) rv_stage_finish(st);
}

static void stop(rv_stage_t *st)
{
    free(rv_stage_state(st));
}

static const rv_stage_ops_t ops = {.kind = "source-array", .on_room = on_room, .stop = stop};

rv_stage_t *rv_source_array(rv_graph_t *g, void *const *items, size_t n)
{
    source_array_t *s = calloc(1, sizeof(*s));
    if (!s) {
        rv_graph_record_error(g, rv_error_new(RV_ERR_NOMEM, true, "out of memory"));
        return NULL;
    }
    s->items = items;
    s->n = n;
    return rv_stage_new(g, &ops, s, 0, 1);
}
