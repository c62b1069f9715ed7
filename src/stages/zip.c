/* Fan-in: combines the i-th element of each input into one. The result travels
 * in a joined envelope holding every part, so each part is acked when the
 * combined element is. Completes as soon as any input is exhausted. */
#include <stdlib.h>

#include "rivulet/stages.h"
#include "stages/supervise.h"

typedef struct {
    rv_zip_fn fn; /* NULL: plain zip into an rv_pair_t */
    rv_free_fn out_free;
    void *opaque;
} zip_t;

static void on_input(rv_stage_t *st)
{
    zip_t *z = rv_stage_state(st);
    int n = rv_stage_inputs(st);
    rv_graph_t *g = rv_stage_graph(st);
    while (!rv_stage_finished(st) && rv_out_room(st, 0) > 0) {
        for (int i = 0; i < n; i++)
            if (rv_in_avail(st, i) == 0) return;
        rv_env_t *parts[RV_ZIP_MAX_IN];
        void *ins[RV_ZIP_MAX_IN];
        for (int i = 0; i < n; i++) {
            parts[i] = rv_in_pop(st, i);
            ins[i] = rv_env_payload(parts[i]);
        }
        void *out = NULL;
        rv_free_fn out_free = free;
        if (z->fn) {
            rv_err_t rc = RV_OK;
            rv_directive_t d = RV_RETRY;
            rv_env_t *joint = NULL;
            /* The decider may ask to call again with the same inputs. */
            for (int attempt = 1; d == RV_RETRY; attempt++) {
                rv_error_t *err = NULL;
                out = NULL;
                rc = z->fn(ins, n, &out, &err, z->opaque);
                if (rc == RV_OK) break;
                /* Supervise through a joined envelope so every part shares
                 * the outcome (resume and stop release it as failed). */
                if (!joint) joint = rv_env_new_joined(g, NULL, NULL, parts, (size_t)n);
                if (!joint) {
                    rv_error_destroy(err);
                    rv_stage_fail(st, rv_error_new(RV_ERR_NOMEM, true, "%s: out of memory",
                                                   rv_stage_name(st)));
                    return;
                }
                d = rv__supervise(st, joint, rc, &err, attempt);
            }
            if (rc != RV_OK) continue; /* dropped (resume) or the stage failed (stop) */
            if (joint) {
                /* A retry succeeded: the parts go on inside the result. */
                rv_env_t *env = rv_env_derive(joint, out, z->out_free);
                if (!env) {
                    /* The parts were not emitted: never ack them as done. */
                    rv_env_release_failed(joint, RV_ERR_NOMEM);
                    rv_stage_fail(st, rv_error_new(RV_ERR_NOMEM, true, "%s: out of memory",
                                                   rv_stage_name(st)));
                    return;
                }
                rv_env_release(joint);
                rv_out_push(st, 0, env);
                continue;
            }
            out_free = z->out_free;
        } else {
            rv_pair_t *p = malloc(sizeof(*p));
            if (!p) {
                for (int i = 0; i < n; i++)
                    rv_env_release_failed(parts[i], RV_ERR_NOMEM);
                rv_stage_fail(
                    st, rv_error_new(RV_ERR_NOMEM, true, "%s: out of memory", rv_stage_name(st)));
                return;
            }
            p->a = ins[0];
            p->b = ins[1];
            out = p;
        }
        rv_env_t *env = rv_env_new_joined(g, out, out_free, parts, (size_t)n);
        if (!env) {
            rv_stage_fail(st,
                          rv_error_new(RV_ERR_NOMEM, true, "%s: out of memory", rv_stage_name(st)));
            return;
        }
        rv_out_push(st, 0, env);
    }
}

static void on_finish(rv_stage_t *st, int port, const rv_error_t *err)
{
    if (err)
        rv_stage_fail(st, rv_error_copy(err));
    else
        rv_stage_finish(st); /* this input is exhausted: no more complete tuples */
}

static void stop(rv_stage_t *st)
{
    free(rv_stage_state(st));
}

static const rv_stage_ops_t ops = {
    .kind = "zip", .on_input = on_input, .on_finish = on_finish, .stop = stop};
static const rv_stage_ops_t ops_with = {
    .kind = "zip-with", .on_input = on_input, .on_finish = on_finish, .stop = stop};

rv_stage_t *rv_zip(rv_graph_t *g)
{
    zip_t *z = calloc(1, sizeof(*z));
    if (!z) {
        rv_graph_record_error(g, rv_error_new(RV_ERR_NOMEM, true, "out of memory"));
        return NULL;
    }
    return rv_stage_new(g, &ops, z, 2, 1);
}

rv_stage_t *rv_zip_with(rv_graph_t *g, int n, rv_zip_fn fn, rv_free_fn out_free, void *opaque)
{
    zip_t *z = (fn && n >= 1 && n <= RV_ZIP_MAX_IN) ? calloc(1, sizeof(*z)) : NULL;
    if (!z) {
        rv_graph_record_error(g, rv_error_new(RV_ERR_INVALID, false,
                                              "zip-with: needs a function and 1..%d inputs",
                                              RV_ZIP_MAX_IN));
        return NULL;
    }
    *z = (zip_t){fn, out_free, opaque};
    return rv_stage_new(g, &ops_with, z, n, 1);
}
