/* A custom sink written with the stage API, the same vtable the built-in
 * stages use: it writes each element to a FILE as text, a batch at a time, and
 * shows the three rules a stage follows:
 *   - take only what is there (rv_in_pop until NULL) and release each element
 *     after success, so its ack can fire;
 *   - when a write fails, release the element as failed and fail the stage,
 *     so the error reaches the graph's done callback and nothing is acked;
 *   - let the default on_finish complete the stage after the last element.
 *
 * Build: part of the project (examples/), or against an installed rivulet:
 *   cc custom_sink.c $(pkg-config --cflags --libs rivulet)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "rivulet.h"

/* ------------------------------------------------------- the custom stage */

typedef struct {
    FILE *out;
    unsigned long written;
} print_sink_t;

static void print_on_input(rv_stage_t *st)
{
    print_sink_t *p = rv_stage_state(st);
    rv_env_t *env;
    while ((env = rv_in_pop(st, 0)) != NULL) {
        if (fprintf(p->out, "%ld\n", (long)RV_INT(rv_env_payload(env))) < 0) {
            int e = errno;
            rv_env_release_failed(env, RV_ERR_FROM_ERRNO(e));
            rv_stage_fail(st, rv_error_new(RV_ERR_FROM_ERRNO(e), false, "%s: write failed: %s",
                                           rv_stage_name(st), strerror(e)));
            return;
        }
        p->written++;
        rv_env_release(env);
    }
}

static void print_stop(rv_stage_t *st)
{
    free(rv_stage_state(st));
}

static const rv_stage_ops_t print_sink_ops = {
    .kind = "print-sink",
    .on_input = print_on_input,
    .stop = print_stop,
};

/* A sink with one input and no outputs. Ownership: the graph owns the stage;
 * `out` stays the caller's. */
static rv_stage_t *print_sink(rv_graph_t *g, FILE *out)
{
    print_sink_t *p = calloc(1, sizeof(*p));
    if (!p) {
        rv_graph_record_error(g, rv_error_new(RV_ERR_NOMEM, true, "out of memory"));
        return NULL;
    }
    p->out = out;
    return rv_stage_new(g, &print_sink_ops, p, 1, 0);
}

/* ------------------------------------------------------------- using it */

static bool odd(void *in, void *opaque)
{
    return RV_INT(in) % 2 == 1;
}

static void done(rv_graph_t *g, const rv_error_t *status, void *opaque)
{
    *(int *)opaque = status ? 1 : 0;
    if (status) fprintf(stderr, "pipeline failed: %s\n", rv_error_msg(status));
}

int main(void)
{
    uv_loop_t *loop = uv_default_loop();
    rv_error_t *err = NULL;
    rv_graph_t *g = rv_graph_new(loop, NULL, &err);
    if (!g) {
        fprintf(stderr, "%s\n", rv_error_msg(err));
        return 1;
    }
    rv_chain(rv_source_range(g, 1, 10), rv_filter(g, odd, NULL), print_sink(g, stdout), NULL);
    int rc = 1;
    if (rv_graph_run(g, done, &rc, &err) != RV_OK) {
        fprintf(stderr, "%s\n", rv_error_msg(err));
        rv_error_destroy(err);
        rv_graph_destroy(g);
        return 1;
    }
    uv_run(loop, UV_RUN_DEFAULT);
    rv_graph_destroy(g);
    uv_run(loop, UV_RUN_DEFAULT);
    return rc;
}
