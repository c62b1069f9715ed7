/* Fan-out: every element to every open output, as one shared envelope with a
 * reference per branch (no copy). It pulls only when every open output has
 * room, so the slowest branch sets the pace and no branch is ever flooded. */
#include <stdlib.h>

#include "engine/engine.h" /* inline reference counting in the hot loop */
#include "rivulet/stages.h"

typedef struct {
    bool eager_cancel;
} broadcast_t;

static void on_input(rv_stage_t *st)
{
    int n_out = rv_stage_outputs(st);
    int open = 0;
    for (int i = 0; i < n_out; i++)
        if (!rv_out_closed(st, i)) open++;
    if (open == 0) {
        rv_stage_finish(st);
        return;
    }
    /* Batches: take what every open branch has room for, add one reference
     * per extra branch, and hand each branch the same batch. */
    rv_env_t *batch[128];
    for (;;) {
        size_t room = rv_out_room_all(st);
        size_t n = rv_in_take(st, 0, batch, room < 128 ? room : 128);
        if (n == 0) return;
        for (size_t j = 0; j < n; j++)
            for (int k = 1; k < open; k++)
                batch[j]->refs++;
        for (int i = 0; i < n_out; i++)
            if (!rv_out_closed(st, i)) rv_out_give(st, i, batch, n);
    }
}

static void on_cancel(rv_stage_t *st, int port)
{
    broadcast_t *b = rv_stage_state(st);
    if (b->eager_cancel) {
        rv_stage_finish(st);
        return;
    }
    for (int i = 0; i < rv_stage_outputs(st); i++)
        if (!rv_out_closed(st, i)) {
            rv_stage_wake(st); /* the closed branch no longer limits the pace */
            return;
        }
    rv_stage_finish(st);
}

static void stop(rv_stage_t *st)
{
    free(rv_stage_state(st));
}

static const rv_stage_ops_t ops = {
    .kind = "broadcast", .on_input = on_input, .on_cancel = on_cancel, .stop = stop};

rv_stage_t *rv_broadcast(rv_graph_t *g, int n, bool eager_cancel)
{
    broadcast_t *b = n >= 1 ? calloc(1, sizeof(*b)) : NULL;
    if (!b) {
        rv_graph_record_error(g, rv_error_new(n >= 1 ? RV_ERR_NOMEM : RV_ERR_INVALID, false,
                                              "broadcast: %s",
                                              n >= 1 ? "out of memory" : "needs n >= 1"));
        return NULL;
    }
    b->eager_cancel = eager_cancel;
    return rv_stage_new(g, &ops, b, 1, n);
}
