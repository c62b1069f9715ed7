/* Fan-in: elements of several inputs as they come, taking inputs in turn so
 * that no input starves another. */
#include <stdlib.h>

#include "rivulet/stages.h"

typedef struct {
    bool eager_complete;
    int next;
} merge_t;

static void on_input(rv_stage_t *st)
{
    merge_t *m = rv_stage_state(st);
    int n_in = rv_stage_inputs(st);
    size_t room = rv_out_room(st, 0);
    while (room > 0) {
        bool moved = false;
        /* One pass visits each input once, starting after the last one taken
         * (m->next moves during the pass, so the start is kept apart). */
        int start = m->next;
        for (int k = 0; k < n_in && room > 0; k++) {
            int i = (start + k) % n_in;
            rv_env_t *env = rv_in_pop(st, i);
            if (env) {
                rv_out_push(st, 0, env);
                room--;
                moved = true;
                m->next = (i + 1) % n_in;
            }
        }
        if (!moved) break;
    }
}

static void on_finish(rv_stage_t *st, int port, const rv_error_t *err)
{
    merge_t *m = rv_stage_state(st);
    if (err) {
        rv_stage_fail(st, rv_error_copy(err));
        return;
    }
    if (m->eager_complete) {
        rv_stage_finish(st);
        return;
    }
    for (int i = 0; i < rv_stage_inputs(st); i++)
        if (!rv_in_closed(st, i)) return;
    rv_stage_finish(st);
}

static void stop(rv_stage_t *st)
{
    free(rv_stage_state(st));
}

static const rv_stage_ops_t ops = {
    .kind = "merge", .on_input = on_input, .on_finish = on_finish, .stop = stop};

rv_stage_t *rv_merge(rv_graph_t *g, int n, bool eager_complete)
{
    merge_t *m = n >= 1 ? calloc(1, sizeof(*m)) : NULL;
    if (!m) {
        rv_graph_record_error(g,
                              rv_error_new(n >= 1 ? RV_ERR_NOMEM : RV_ERR_INVALID, false,
                                           "merge: %s", n >= 1 ? "out of memory" : "needs n >= 1"));
        return NULL;
    }
    m->eager_complete = eager_complete;
    return rv_stage_new(g, &ops, m, n, 1);
}
