/* Fan-out: each element to one output that has room, taking turns, so parallel
 * workers downstream share the load by their own demand. */
#include <stdlib.h>

#include "rivulet/stages.h"

typedef struct {
    int next;
} balance_t;

static void on_input(rv_stage_t *st)
{
    balance_t *b = rv_stage_state(st);
    int n_out = rv_stage_outputs(st);
    while (rv_in_avail(st, 0) > 0) {
        int pick = -1, open = 0;
        for (int k = 0; k < n_out; k++) {
            int i = (b->next + k) % n_out;
            if (rv_out_closed(st, i)) continue;
            open++;
            if (pick < 0 && rv_out_room(st, i) > 0) pick = i;
        }
        if (open == 0) {
            rv_stage_finish(st);
            return;
        }
        if (pick < 0) return;
        rv_out_push(st, pick, rv_in_pop(st, 0));
        b->next = (pick + 1) % n_out;
    }
}

static void stop(rv_stage_t *st)
{
    free(rv_stage_state(st));
}

static const rv_stage_ops_t ops = {.kind = "balance", .on_input = on_input, .stop = stop};

rv_stage_t *rv_balance(rv_graph_t *g, int n)
{
    balance_t *b = n >= 1 ? calloc(1, sizeof(*b)) : NULL;
    if (!b) {
        rv_graph_record_error(g, rv_error_new(n >= 1 ? RV_ERR_NOMEM : RV_ERR_INVALID, false,
                                              "balance: %s",
                                              n >= 1 ? "out of memory" : "needs n >= 1"));
        return NULL;
    }
    return rv_stage_new(g, &ops, b, 1, n);
}
