/* Helpers shared by the engine tests: run a graph to completion on a private
 * loop, and a probe sink that takes elements at a pace the test controls. */
#ifndef RV_ENGINE_TEST_UTIL_H
#define RV_ENGINE_TEST_UTIL_H

#include <uv.h>

#include "rivulet.h"
#include "rv_test.h"

typedef struct {
    bool done;
    rv_err_t code;
    char msg[256];
} run_result_t;

static inline void tu_done(rv_graph_t *g, const rv_error_t *status, void *opaque)
{
    run_result_t *r = opaque;
    r->done = true;
    r->code = rv_error_code(status);
    snprintf(r->msg, sizeof(r->msg), "%s", status ? rv_error_msg(status) : "");
}

/* Runs the loop until the graph is done (or max_ms of loop time passed).
 * Returns the final status code; RV_ERR_TIMEOUT when it did not finish. */
static inline rv_err_t tu_run(rv_graph_t *g, run_result_t *r, uint64_t max_ms)
{
    uv_loop_t *loop = rv_graph_loop(g);
    rv_error_t *err = NULL;
    if (rv_graph_run(g, tu_done, r, &err) != RV_OK) {
        r->code = rv_error_code(err);
        snprintf(r->msg, sizeof(r->msg), "%s", rv_error_msg(err));
        rv_error_destroy(err);
        return r->code;
    }
    uint64_t start = uv_now(loop);
    while (!r->done && uv_now(loop) - start < max_ms) {
        uv_run(loop, UV_RUN_NOWAIT);
        uv_update_time(loop);
        if (!r->done)
            uv_sleep(0);
    }
    return r->done ? r->code : RV_ERR_TIMEOUT;
}

/* Destroys the graph and lets the loop close its handles. */
static inline void tu_destroy(rv_graph_t *g)
{
    uv_loop_t *loop = rv_graph_loop(g);
    rv_graph_destroy(g);
    uv_run(loop, UV_RUN_DEFAULT);
}

static inline rv_conf_t *tu_conf(const char *k, const char *v)
{
    rv_conf_t *c = rv_conf_new();
    if (k)
        rv_conf_set(c, k, v, NULL);
    return c;
}

#endif
