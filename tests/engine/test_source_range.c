/* rv_source_range: consecutive integers as RV_PTR payloads. */
#include "engine_test_util.h"

static void test_range_values(void)
{
    tu_t t;
    tu_init(&t, true, NULL);
    psink_t s;
    rv_link(rv_source_range(t.g, -5, 1000), psink_new(t.g, &s, true));
    CHECK_EQ(tu_run_all(&t, 1000), RV_OK);
    CHECK(psink_is_range(&s, -5, 1000));
    CHECK_EQ(s.finishes, 1);
    CHECK_EQ(s.finish_code, RV_OK);
    tu_fini(&t);
    psink_free(&s);
}

static void test_range_empty(void)
{
    tu_t t;
    tu_init(&t, true, NULL);
    psink_t s;
    rv_link(rv_source_range(t.g, 100, 0), psink_new(t.g, &s, true));
    CHECK_EQ(tu_run_all(&t, 1000), RV_OK);
    CHECK_EQ(s.n, 0);
    CHECK_EQ(s.finishes, 1);
    tu_fini(&t);
    psink_free(&s);
}

/* An endless range with a sink that takes slowly: it produces exactly the
 * edge's capacity ahead of the sink, never more. */
static void test_range_backpressure(void)
{
    tu_t t;
    tu_init(&t, true, "graph.edge.capacity=16", NULL);
    rv_stage_t *src = rv_source_range(t.g, 0, -1);
    psink_t s;
    rv_link(src, psink_new(t.g, &s, false));
    REQUIRE(tu_start(&t) == RV_OK);
    for (int i = 0; i < 50; i++) {
        psink_grant(&s, (size_t)i % 5);
        tu_settle(&t);
        CHECK_EQ(tu_counters(src).out, s.n + 16);
    }
    CHECK(psink_is_range(&s, 0, s.n));
    CHECK(!t.r.done);
    rv_graph_abort(t.g);
    tu_settle(&t);
    CHECK_EQ(t.r.code, RV_ERR_CANCELLED);
    tu_fini(&t);
    psink_free(&s);
}

/* An endless range stops when downstream cancels (take). */
static void test_range_forever_cancelled_by_take(void)
{
    tu_t t;
    tu_init(&t, true, NULL);
    rv_stage_t *src = rv_source_range(t.g, 0, -1);
    psink_t s;
    rv_chain(src, rv_take(t.g, 12345), psink_new(t.g, &s, true), NULL);
    CHECK_EQ(tu_run_all(&t, 2000), RV_OK);
    CHECK(psink_is_range(&s, 0, 12345));
    CHECK(rv_stage_finished(src));
    CHECK(tu_counters(src).out <= 12345 + 32);
    tu_fini(&t);
    psink_free(&s);
}

/* Failure downstream stops the range and fails the graph. */
static void test_range_downstream_failure(void)
{
    tu_t t;
    tu_init(&t, true, NULL);
    rv_stage_t *src = rv_source_range(t.g, 0, -1);
    psink_t s;
    rv_link(src, psink_new(t.g, &s, true));
    s.fail_after = 100;
    s.fail_code = RV_ERR_IO;
    CHECK_EQ(tu_run_all(&t, 2000), RV_ERR_IO);
    CHECK(rv_stage_finished(src));
    CHECK_EQ(s.n, 100);
    tu_fini(&t);
    psink_free(&s);
}

/* A graceful stop ends an endless range; everything emitted arrives. */
static void test_range_graceful_stop(void)
{
    tu_t t;
    tu_init(&t, true, "graph.edge.capacity=8", NULL);
    rv_stage_t *src = rv_source_range(t.g, 0, -1);
    psink_t s;
    rv_link(src, psink_new(t.g, &s, false));
    REQUIRE(tu_start(&t) == RV_OK);
    psink_grant(&s, 10);
    tu_settle(&t);
    rv_graph_stop(t.g);
    psink_grant(&s, 1000);
    tu_settle(&t);
    CHECK(t.r.done);
    CHECK_EQ(t.r.code, RV_OK);
    CHECK(psink_is_range(&s, 0, 18));
    tu_fini(&t);
    psink_free(&s);
}

RV_TEST_MAIN(RV_TEST_T(test_range_values, 10), RV_TEST_T(test_range_empty, 10),
             RV_TEST_T(test_range_backpressure, 10),
             RV_TEST_T(test_range_forever_cancelled_by_take, 10),
             RV_TEST_T(test_range_downstream_failure, 10), RV_TEST_T(test_range_graceful_stop, 10))
