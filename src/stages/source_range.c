/* Source: consecutive integers carried in the payload pointer (RV_PTR). */
#include <stdlib.h>

#include "rivulet/stages.h"

typedef struct {
    int64_t next;
    int64_t left; /* < 0: forever */
} source_range_t;

static void on_room(rv_stage_t *st)
{
    source_range_t *s = rv_stage_state(st);
    rv_graph_t *g = rv_stage_graph(st);
    size_t room = rv_out_room(st, 0);
    rv_env_t *batch[128];
    while (room > 0 && s->left != 0) {
        size_t k = 0;
        while (k < room && k < 128 && s->left != 0) {
            rv_env_t *env = rv_env_new(g, RV_PTR(s->next), NULL);
            if (!env) {
                rv_out_give(st, 0, batch, k);
                rv_stage_fail(
                    st, rv_error_new(RV_ERR_NOMEM, true, "%s: out of memory", rv_stage_name(st)));
                return;
            }
            batch[k++] = env;
            s->next++;
            if (s->left > 0) s->left--;
        }
        rv_out_give(st, 0, batch, k);
        room -= k;
    }
    if (s->left == 0) rv_stage_finish(st);
}

static void stop(rv_stage_t *st)
{
    free(rv_stage_state(st));
}

static const rv_stage_ops_t ops = {.kind = "source-range", .on_room = on_room, .stop = stop};

rv_stage_t *rv_source_range(rv_graph_t *g, int64_t start, int64_t count)
{
    source_range_t *s = calloc(1, sizeof(*s));
    if (!s) {
        rv_graph_record_error(g, rv_error_new(RV_ERR_NOMEM, true, "out of memory"));
        return NULL;
    }
    s->next = start;
    s->left = count < 0 ? -1 : count;
    return rv_stage_new(g, &ops, s, 0, 1);
}
