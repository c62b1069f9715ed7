/* rv_for_each and rv_for_each_env: a sink calling a function per element. */
#include "engine_test_util.h"

typedef struct {
    int64_t sum;
    int calls;
    psrc_t *src;
    int64_t max_ahead; /* emitted - called, at each call */
    int fail_times;
    int per_elem[1000];
} each_t;

static rv_err_t each(void *in, rv_error_t **errp, void *opaque)
{
    each_t *e = opaque;
    int64_t v = RV_INT(in);
    e->calls++;
    if (e->src && e->src->emitted - e->calls > e->max_ahead)
        e->max_ahead = e->src->emitted - e->calls;
    if (v % 10 == 9 && e->per_elem[v]++ < e->fail_times)
        return rv_error_set(errp, RV_ERR_IO, true, "write of %" PRId64 " failed", v);
    e->sum += v;
    return RV_OK;
}

/* Normal flow, acks OK, and backpressure: the sink's pace bounds the source
 * (here the function itself is the pace: at every call the source is at most
 * the edge's capacity ahead). */
static void test_for_each_calls_and_bound(void)
{
    tu_t t;
    tu_init(&t, true, "graph.edge.capacity=8", NULL);
    psrc_t src;
    acks_t acks;
    acks_init(&acks, 1000);
    each_t e = {.src = &src};
    rv_stage_t *a = psrc_new(t.g, &src, 1000);
    src.acks = &acks;
    rv_stage_t *k = rv_for_each(t.g, each, &e);
    rv_link(a, k);
    CHECK_EQ(tu_run_all(&t, 1000), RV_OK);
    CHECK_EQ(e.calls, 1000);
    CHECK_EQ(e.sum, 999 * 1000 / 2);
    CHECK(e.max_ahead <= 8);
    CHECK_EQ(tu_counters(k).in, 1000);
    tu_fini(&t);
    CHECK_EQ(acks.ok, 1000);
    acks_free(&acks);
}

static void test_for_each_deciders(void)
{
    rv_decider_fn fns[] = {rv_decider_stop, rv_decider_resume, rv_decider_retry};
    for (int d = 0; d < 3; d++) {
        tu_t t;
        tu_init(&t, true, NULL);
        psrc_t src;
        acks_t acks;
        acks_init(&acks, 100);
        each_t e = {.fail_times = 2};
        rv_stage_t *a = psrc_new(t.g, &src, 100);
        src.acks = &acks;
        rv_stage_t *k = rv_stage_set_decider(rv_for_each(t.g, each, &e), fns[d], RV_PTR(4));
        rv_link(a, k);
        rv_err_t rc = tu_run_all(&t, 1000);
        if (d == 0) {
            CHECK_EQ(rc, RV_ERR_IO);
            CHECK(strstr(t.r.msg, "write of 9 failed") != NULL);
            CHECK_EQ(e.sum, 36);
            CHECK_EQ(src.cancels, 1);
        } else if (d == 1) {
            CHECK_EQ(rc, RV_OK);
            CHECK_EQ(e.sum, 4950 - (9 + 19 + 29 + 39 + 49 + 59 + 69 + 79 + 89 + 99));
            CHECK_EQ(tu_counters(k).failures, 10);
        } else {
            CHECK_EQ(rc, RV_OK);
            CHECK_EQ(e.sum, 4950);
            CHECK_EQ(e.per_elem[9], 3); /* two failed calls and the good one */
            CHECK_EQ(e.calls, 100 + 20);
        }
        tu_fini(&t);
        CHECK_EQ(acks.status[9], d == 2 ? RV_OK : RV_ERR_IO);
        CHECK(acks_at_most_once(&acks));
        acks_free(&acks);
    }
}

/* for_each_env sees the metadata; the envelope is borrowed. */
static rv_err_t each_env(rv_env_t *env, rv_error_t **errp, void *opaque)
{
    int *bad = opaque;
    const rv_meta_t *m = rv_env_meta(env);
    if (m->offset != RV_INT(rv_env_payload(env)) || strcmp(m->topic, "probe") != 0 ||
        rv_env_refs(env) != 1)
        (*bad)++;
    return RV_OK;
}

static void test_for_each_env_metadata(void)
{
    tu_t t;
    tu_init(&t, true, NULL);
    psrc_t src;
    acks_t acks;
    acks_init(&acks, 100);
    int bad = 0;
    rv_stage_t *a = psrc_new(t.g, &src, 100);
    src.acks = &acks;
    rv_link(a, rv_for_each_env(t.g, each_env, &bad));
    CHECK_EQ(tu_run_all(&t, 1000), RV_OK);
    CHECK_EQ(bad, 0);
    CHECK_EQ(acks.ok, 100);
    tu_fini(&t);
    acks_free(&acks);
}

/* Upstream failure reaches the sink (the graph fails); abort stops it. */
static void test_for_each_upstream_failure(void)
{
    tu_t t;
    tu_init(&t, true, NULL);
    psrc_t src;
    each_t e = {0};
    rv_stage_t *a = psrc_new(t.g, &src, 100);
    src.fail_at = 50, src.fail_code = RV_ERR_PROTOCOL;
    rv_link(a, rv_for_each(t.g, each, &e));
    CHECK_EQ(tu_run_all(&t, 1000), RV_ERR_PROTOCOL);
    CHECK(e.calls <= 50);
    tu_fini(&t);
}

/* A sink that stops the graph from inside its function: the element being
 * handled still counts, nothing after the stop's drain is lost. */
static rv_err_t stop_at_10(void *in, rv_error_t **errp, void *opaque)
{
    rv_graph_t *g = opaque;
    if (RV_INT(in) == 10) rv_graph_stop(g);
    return RV_OK;
}

static void test_for_each_stops_graph(void)
{
    tu_t t;
    tu_init(&t, true, "graph.edge.capacity=4", NULL);
    psrc_t src;
    acks_t acks;
    acks_init(&acks, 100000);
    rv_stage_t *a = psrc_new(t.g, &src, -1);
    src.acks = &acks;
    rv_link(a, rv_for_each(t.g, stop_at_10, t.g));
    CHECK_EQ(tu_run_all(&t, 1000), RV_OK);
    CHECK_EQ(src.drains, 1);
    CHECK_EQ(acks.ok, (int)src.emitted);
    tu_fini(&t);
    acks_free(&acks);
}

static void test_for_each_null_fn(void)
{
    tu_t t;
    tu_init(&t, true, NULL);
    CHECK(rv_for_each(t.g, NULL, NULL) == NULL);
    CHECK(rv_for_each_env(t.g, NULL, NULL) == NULL);
    rv_link(rv_source_range(t.g, 0, 1), rv_ignore(t.g));
    CHECK_EQ(tu_start(&t), RV_ERR_INVALID);
    tu_fini(&t);
}

RV_TEST_MAIN(RV_TEST_T(test_for_each_calls_and_bound, 10), RV_TEST_T(test_for_each_deciders, 10),
             RV_TEST_T(test_for_each_env_metadata, 10),
             RV_TEST_T(test_for_each_upstream_failure, 10),
             RV_TEST_T(test_for_each_stops_graph, 10), RV_TEST_T(test_for_each_null_fn, 10))
