/* Fan-out: each element to the output a function picks. The head element waits
 * for room on its output, so one slow output holds back the others (order is
 * kept). An element for a cancelled output is released as failed: nobody
 * processed it. */
#include <stdlib.h>

#include "rivulet/stages.h"
#include "stages/supervise.h"

typedef struct {
    rv_partition_fn fn;
    void *opaque;
    int pending; /* output chosen for the head element, -1 when not chosen yet */
} partition_t;

static void on_input(rv_stage_t *st)
{
    partition_t *p = rv_stage_state(st);
    int n_out = rv_stage_outputs(st);
    while (!rv_stage_finished(st) && rv_in_avail(st, 0) > 0) {
        if (p->pending < 0) {
            int idx = p->fn(rv_env_payload(rv_in_peek(st, 0)), p->opaque);
            if (idx < 0 || idx >= n_out) {
                rv_env_t *env = rv_in_pop(st, 0);
                rv_error_t *err = rv_error_new(
                    RV_ERR_INVALID, false, "%s: partition function returned %d, outputs are 0..%d",
                    rv_stage_name(st), idx, n_out - 1);
                if (rv__supervise(st, env, RV_ERR_INVALID, &err, 1) == RV_RETRY)
                    rv_env_release_failed(
                        env, RV_ERR_INVALID); /* retrying cannot change a pure function */
                continue;
            }
            p->pending = idx;
        }
        if (rv_out_closed(st, p->pending)) {
            rv_env_release_failed(rv_in_pop(st, 0), RV_ERR_CANCELLED);
            p->pending = -1;
            continue;
        }
        if (rv_out_room(st, p->pending) == 0) return;
        rv_out_push(st, p->pending, rv_in_pop(st, 0));
        p->pending = -1;
    }
}

static void stop(rv_stage_t *st)
{
    free(rv_stage_state(st));
}

static const rv_stage_ops_t ops = {.kind = "partition", .on_input = on_input, .stop = stop};

rv_stage_t *rv_partition(rv_graph_t *g, int n, rv_partition_fn fn, void *opaque)
{
    partition_t *p = (n >= 1 && fn) ? calloc(1, sizeof(*p)) : NULL;
    if (!p) {
        rv_graph_record_error(
            g, rv_error_new((n >= 1 && fn) ? RV_ERR_NOMEM : RV_ERR_INVALID, false, "partition: %s",
                            (n >= 1 && fn) ? "out of memory" : "needs n >= 1 and a function"));
        return NULL;
    }
    p->fn = fn;
    p->opaque = opaque;
    p->pending = -1;
    return rv_stage_new(g, &ops, p, 1, n);
}
