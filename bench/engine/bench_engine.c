/* bench/engine: the engine against a plain C loop doing the same work.
 *
 * Pipeline: a source of N integers -> 10 map stages -> broadcast(2) -> two
 * for-each sinks. The baseline calls the very same map and sink functions,
 * through the same function pointers, in a plain loop: the physical limit for
 * this work on this machine. Prints both rates, their ratio, and the engine's
 * cost per element per stage (the difference over the stage count).
 *
 * Usage: bench_engine [N] [edge_capacity] [repeats]
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <uv.h>

#include "rivulet.h"

#define MAPS 10

static rv_err_t step(void *in, void **out, rv_error_t **errp, void *opaque)
{
    /* A little arithmetic so the work is not nothing; the same in both runs. */
    *out = RV_PTR((RV_INT(in) * 31 + (intptr_t)opaque) & 0xffffff);
    return RV_OK;
}

static rv_err_t sink(void *in, rv_error_t **errp, void *opaque)
{
    *(int64_t *)opaque += RV_INT(in);
    return RV_OK;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The baseline: the same functions through pointers the compiler cannot see through. */
static rv_map_fn volatile map_fns[MAPS];
static rv_each_fn volatile sink_fn;

static double run_plain(int64_t n, int64_t *s1, int64_t *s2)
{
    double t0 = now_s();
    for (int64_t i = 0; i < n; i++) {
        void *x = RV_PTR(i);
        for (int k = 0; k < MAPS; k++) {
            void *out;
            map_fns[k](x, &out, NULL, (void *)(intptr_t)k);
            x = out;
        }
        sink_fn(x, NULL, s1);
        sink_fn(x, NULL, s2);
    }
    return now_s() - t0;
}

static void done(rv_graph_t *g, const rv_error_t *st, void *opaque)
{
    if (st) fprintf(stderr, "graph failed: %s\n", rv_error_msg(st));
    *(int *)opaque = 1;
}

static double run_engine(int64_t n, const char *cap, int64_t *s1, int64_t *s2)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    rv_conf_t *conf = rv_conf_new();
    rv_conf_set(conf, "graph.edge.capacity", cap, NULL);
    rv_graph_t *g = rv_graph_new(&loop, conf, NULL);
    rv_conf_destroy(conf);
    rv_stage_t *prev = rv_source_range(g, 0, n);
    for (int k = 0; k < MAPS; k++) {
        rv_stage_t *m = rv_map(g, step, NULL, (void *)(intptr_t)k);
        rv_link(prev, m);
        prev = m;
    }
    rv_stage_t *b = rv_broadcast(g, 2, false);
    rv_link(prev, b);
    rv_link(b, rv_for_each(g, sink, s1));
    rv_link(b, rv_for_each(g, sink, s2));
    int finished = 0;
    double t0 = now_s();
    rv_error_t *err = NULL;
    if (rv_graph_run(g, done, &finished, &err) != RV_OK) {
        fprintf(stderr, "run: %s\n", rv_error_msg(err));
        exit(1);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    double t = now_s() - t0;
    rv_graph_destroy(g);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    return t;
}

int main(int argc, char **argv)
{
    int64_t n = argc > 1 ? atoll(argv[1]) : 10000000;
    const char *cap = argc > 2 ? argv[2] : "128";
    int repeats = argc > 3 ? atoi(argv[3]) : 3;
    for (int k = 0; k < MAPS; k++)
        map_fns[k] = step;
    sink_fn = sink;
    const int stages = 1 + MAPS + 1 + 2;
    double best_plain = 1e9, best_engine = 1e9;
    int64_t p1 = 0, p2 = 0, e1 = 0, e2 = 0;
    for (int r = 0; r < repeats; r++) {
        p1 = p2 = e1 = e2 = 0;
        double tp = run_plain(n, &p1, &p2);
        double te = run_engine(n, cap, &e1, &e2);
        if (tp < best_plain) best_plain = tp;
        if (te < best_engine) best_engine = te;
    }
    if (p1 != e1 || p2 != e2) {
        fprintf(stderr, "results differ: plain %" PRId64 " engine %" PRId64 "\n", p1, e1);
        return 1;
    }
    double rp = n / best_plain, re = n / best_engine;
    printf("elements            %" PRId64 " (best of %d runs, edge capacity %s)\n", n, repeats,
           cap);
    printf("plain loop          %12.0f elements/s  (%.2f ns/element)\n", rp, 1e9 / rp);
    printf("engine              %12.0f elements/s  (%.2f ns/element, %d stages)\n", re, 1e9 / re,
           stages);
    printf("ratio engine/plain  %12.3f\n", re / rp);
    printf("engine cost         %12.2f ns per element per stage (over the plain loop)\n",
           (1e9 / re - 1e9 / rp) / stages);
    return 0;
}
