/* Flow: folds all elements into one accumulator, emitted when upstream completes. */
#include <stdlib.h>

#include "rivulet/stages.h"
#include "stages/supervise.h"

typedef struct {
    void *acc;
    rv_free_fn acc_free;
    rv_fold_fn fn;
    void *opaque;
    bool upstream_done;
} fold_t;

static void on_input(rv_stage_t *st)
{
    fold_t *f = rv_stage_state(st);
    rv_env_t *env;
    while (!rv_stage_finished(st) && (env = rv_in_pop(st, 0)) != NULL) {
        for (int attempt = 1;; attempt++) {
            rv_error_t *err = NULL;
            void *out = f->acc;
            rv_err_t rc = f->fn(f->acc, rv_env_payload(env), &out, &err, f->opaque);
            if (rc == RV_OK) {
                if (out != f->acc && f->acc_free) f->acc_free(f->acc);
                f->acc = out;
                rv_env_release(env);
                break;
            }
            if (rv__supervise(st, env, rc, &err, attempt) != RV_RETRY) break;
        }
    }
}

static void emit(rv_stage_t *st)
{
    fold_t *f = rv_stage_state(st);
    if (!f->upstream_done || rv_out_room(st, 0) == 0) return;
    rv_env_t *env = rv_env_new(rv_stage_graph(st), f->acc, f->acc_free);
    f->acc = NULL;
    if (!env) {
        rv_stage_fail(st, rv_error_new(RV_ERR_NOMEM, true, "%s: out of memory", rv_stage_name(st)));
        return;
    }
    rv_out_push(st, 0, env);
    rv_stage_finish(st);
}

static void on_finish(rv_stage_t *st, int port, const rv_error_t *err)
{
    if (err) {
        rv_stage_fail(st, rv_error_copy(err));
        return;
    }
    ((fold_t *)rv_stage_state(st))->upstream_done = true;
    emit(st);
}

static void stop(rv_stage_t *st)
{
    fold_t *f = rv_stage_state(st);
    if (f->acc && f->acc_free) f->acc_free(f->acc);
    free(f);
}

static const rv_stage_ops_t ops = {
    .kind = "fold", .on_input = on_input, .on_room = emit, .on_finish = on_finish, .stop = stop};

rv_stage_t *rv_fold(rv_graph_t *g, void *init, rv_free_fn acc_free, rv_fold_fn fn, void *opaque)
{
    fold_t *f = fn ? calloc(1, sizeof(*f)) : NULL;
    if (!f) {
        if (acc_free) acc_free(init);
        rv_graph_record_error(g, rv_error_new(fn ? RV_ERR_NOMEM : RV_ERR_INVALID, false, "fold: %s",
                                              fn ? "out of memory" : "function is NULL"));
        return NULL;
    }
    *f = (fold_t){init, acc_free, fn, opaque, false};
    return rv_stage_new(g, &ops, f, 1, 1);
}
