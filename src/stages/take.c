/* Flow: the first n elements, then completion downstream and cancel upstream. */
#include <stdlib.h>

#include "rivulet/stages.h"

typedef struct {
    uint64_t left;
} take_t;

static void on_input(rv_stage_t *st)
{
    take_t *t = rv_stage_state(st);
    while (t->left > 0 && rv_in_avail(st, 0) > 0 && rv_out_room(st, 0) > 0) {
        rv_out_push(st, 0, rv_in_pop(st, 0));
        t->left--;
    }
    if (t->left == 0) rv_stage_finish(st);
}

static void on_room(rv_stage_t *st)
{
    take_t *t = rv_stage_state(st);
    if (t->left == 0)
        rv_stage_finish(st);
    else
        on_input(st);
}

static void stop(rv_stage_t *st)
{
    free(rv_stage_state(st));
}

static const rv_stage_ops_t ops = {
    .kind = "take", .on_input = on_input, .on_room = on_room, .stop = stop};

rv_stage_t *rv_take(rv_graph_t *g, uint64_t n)
{
    take_t *t = calloc(1, sizeof(*t));
    if (!t) {
        rv_graph_record_error(g, rv_error_new(RV_ERR_NOMEM, true, "out of memory"));
        return NULL;
    }
    t->left = n;
    return rv_stage_new(g, &ops, t, 1, 1);
}
