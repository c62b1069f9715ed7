/* rv_source_gen: a generator called once per unit of demand. */
#include "engine_test_util.h"

typedef struct {
    int64_t calls, limit;
    int64_t fail_at;
    bool set_err;
} gen_t;

static int gen(void **out, rv_free_fn *out_free, rv_error_t **errp, void *opaque)
{
    gen_t *g = opaque;
    if (g->calls == g->fail_at) {
        g->calls++;
        if (g->set_err)
            rv_error_set(errp, RV_ERR_DECODE, false, "generator broke at %" PRId64, g->fail_at);
        return RV_ERR_DECODE;
    }
    if (g->limit >= 0 && g->calls >= g->limit) {
        g->calls++;
        return 0;
    }
    *out = box_new(g->calls++);
    *out_free = free;
    return 1;
}

/* Normal flow with heap payloads (LeakSanitizer checks they are all freed). */
static void test_gen_values(void)
{
    tu_t t;
    tu_init(&t, true, NULL);
    gen_t g = {0, 500, -1, false};
    psink_t s;
    rv_link(rv_source_gen(t.g, gen, &g), psink_new(t.g, &s, true));
    s.boxed = true;
    CHECK_EQ(tu_run_all(&t, 1000), RV_OK);
    CHECK(psink_is_range(&s, 0, 500));
    CHECK_EQ(g.calls, 501); /* 500 elements and the call that said "done" */
    CHECK_EQ(s.finishes, 1);
    tu_fini(&t);
    psink_free(&s);
}

/* The generator is called only for demand: never more than the consumer took
 * plus the edge's capacity. */
static void test_gen_backpressure(void)
{
    tu_t t;
    tu_init(&t, true, "graph.edge.capacity=4", NULL);
    gen_t g = {0, -1, -1, false};
    psink_t s;
    rv_link(rv_source_gen(t.g, gen, &g), psink_new(t.g, &s, false));
    s.boxed = true;
    REQUIRE(tu_start(&t) == RV_OK);
    tu_settle(&t);
    CHECK_EQ(g.calls, 4);
    for (int i = 1; i <= 20; i++) {
        psink_grant(&s, 3);
        tu_settle(&t);
        CHECK_EQ(g.calls, 4 + 3 * i);
        CHECK(s.max_avail <= 4);
    }
    CHECK(psink_is_range(&s, 0, 60));
    rv_graph_abort(t.g);
    tu_settle(&t);
    tu_fini(&t);
    psink_free(&s);
}

/* A negative return fails the stage; with *errp set its message is kept. */
static void test_gen_failure(void)
{
    for (int with_err = 0; with_err < 2; with_err++) {
        tu_t t;
        tu_init(&t, true, "graph.edge.capacity=4", NULL);
        gen_t g = {0, -1, 10, with_err};
        psink_t s;
        rv_link(rv_source_gen(t.g, gen, &g), psink_new(t.g, &s, true));
        s.boxed = true;
        CHECK_EQ(tu_run_all(&t, 1000), RV_ERR_DECODE);
        if (with_err)
            CHECK(strstr(t.r.msg, "generator broke at 10") != NULL);
        else
            CHECK(strstr(t.r.msg, "generator failed") != NULL);
        CHECK_EQ(s.finish_code, RV_ERR_DECODE);
        CHECK(s.n <= 10);
        CHECK_EQ(g.calls, 11); /* never called again after the failure */
        tu_fini(&t);
        psink_free(&s);
    }
}

/* Downstream cancels: the generator is not called any more. */
static void test_gen_cancel(void)
{
    tu_t t;
    tu_init(&t, true, "graph.edge.capacity=4", NULL);
    gen_t g = {0, -1, -1, false};
    psink_t s;
    rv_stage_t *src = rv_source_gen(t.g, gen, &g);
    rv_link(src, psink_new(t.g, &s, true));
    s.boxed = true;
    s.cancel_after = 7;
    CHECK_EQ(tu_run_all(&t, 1000), RV_OK);
    CHECK_EQ(s.n, 7);
    CHECK(rv_stage_finished(src));
    int64_t calls = g.calls;
    CHECK(calls <= 7 + 4 + 4);
    tu_settle(&t);
    CHECK_EQ(g.calls, calls);
    tu_fini(&t);
    psink_free(&s);
}

/* Completion right away (the first call says done). */
static void test_gen_empty(void)
{
    tu_t t;
    tu_init(&t, true, NULL);
    gen_t g = {0, 0, -1, false};
    psink_t s;
    rv_link(rv_source_gen(t.g, gen, &g), psink_new(t.g, &s, true));
    CHECK_EQ(tu_run_all(&t, 1000), RV_OK);
    CHECK_EQ(s.n, 0);
    CHECK_EQ(g.calls, 1);
    CHECK_EQ(s.finishes, 1);
    tu_fini(&t);
    psink_free(&s);
}

/* A NULL generator is a build error reported by rv_graph_run, not a call
 * through NULL once the graph runs. */
static void test_gen_null_function(void)
{
    tu_t t;
    tu_init(&t, true, NULL);
    psink_t s;
    rv_link(rv_source_gen(t.g, NULL, NULL), psink_new(t.g, &s, true));
    CHECK_EQ(tu_start(&t), RV_ERR_INVALID);
    CHECK(strstr(t.r.msg, "source-gen: function is NULL") != NULL);
    tu_fini(&t);
    psink_free(&s);
}

RV_TEST_MAIN(RV_TEST_T(test_gen_values, 10), RV_TEST_T(test_gen_backpressure, 10),
             RV_TEST_T(test_gen_failure, 10), RV_TEST_T(test_gen_cancel, 10),
             RV_TEST_T(test_gen_empty, 10), RV_TEST_T(test_gen_null_function, 10))
