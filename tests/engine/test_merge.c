/* rv_merge: elements of several inputs as they come, inputs taken in turn. */
#include "engine_test_util.h"

static void test_merge_all_elements_each_in_order(void)
{
    tu_t t;
    tu_init(&t, true, NULL);
    psink_t s;
    rv_stage_t *m = rv_merge(t.g, 3, false);
    rv_link(rv_source_range(t.g, 0, 100), m);
    rv_link(rv_source_range(t.g, 1000, 50), m);
    rv_link(rv_source_range(t.g, 2000, 200), m);
    rv_link(m, psink_new(t.g, &s, true));
    CHECK_EQ(tu_run_all(&t, 1000), RV_OK);
    REQUIRE(s.n == 350);
    int64_t next[3] = {0, 1000, 2000};
    int bad = 0;
    for (size_t i = 0; i < s.n; i++) {
        int k = (int)(s.vals[i] / 1000);
        if (k > 2 || s.vals[i] != next[k]++) bad++;
    }
    CHECK_EQ(bad, 0);
    CHECK_EQ(s.finishes, 1);
    tu_fini(&t);
    psink_free(&s);
}

/* Fairness: no input starves another; the first elements alternate. */
static void test_merge_fair(void)
{
    tu_t t;
    tu_init(&t, true, "graph.edge.capacity=4", NULL);
    psink_t s;
    rv_stage_t *m = rv_merge(t.g, 2, false);
    rv_link(rv_source_range(t.g, 0, -1), m);
    rv_link(rv_source_range(t.g, 1000000, -1), m);
    rv_link(m, psink_new(t.g, &s, false));
    REQUIRE(tu_start(&t) == RV_OK);
    for (int i = 0; i < 100; i++) {
        psink_grant(&s, 3);
        tu_settle(&t);
    }
    int a = 0, b = 0;
    for (size_t i = 0; i < s.n; i++)
        *(s.vals[i] < 1000000 ? &a : &b) += 1;
    CHECK(a + b >= 290);
    CHECK(a - b <= 2 && b - a <= 2); /* strictly in turn */
    rv_graph_abort(t.g);
    tu_settle(&t);
    tu_fini(&t);
    psink_free(&s);
}

/* Backpressure: each source is held at its edge's capacity (plus the output). */
static void test_merge_backpressure(void)
{
    tu_t t;
    tu_init(&t, true, "graph.edge.capacity=4", NULL);
    psrc_t p1, p2;
    psink_t s;
    rv_stage_t *m = rv_merge(t.g, 2, false);
    rv_link(psrc_new(t.g, &p1, 1000), m);
    rv_link(psrc_new(t.g, &p2, 1000), m);
    rv_link(m, psink_new(t.g, &s, false));
    REQUIRE(tu_start(&t) == RV_OK);
    tu_settle(&t);
    CHECK_EQ(p1.emitted + p2.emitted, 4 + 4 + 4);
    for (int i = 0; i < 20; i++) {
        psink_grant(&s, 5);
        tu_settle(&t);
        CHECK_EQ(p1.emitted + p2.emitted, (int64_t)s.n + 12);
    }
    rv_graph_abort(t.g);
    tu_settle(&t);
    tu_fini(&t);
    psink_free(&s);
}

/* Completion: waits for every input (or the first, with eager_complete,
 * which cancels the others). */
static void test_merge_completion(void)
{
    for (int eager = 0; eager < 2; eager++) {
        tu_t t;
        tu_init(&t, true, NULL);
        psrc_t p1, p2;
        psink_t s;
        rv_stage_t *m = rv_merge(t.g, 2, eager);
        rv_link(psrc_new(t.g, &p1, 10), m);
        rv_link(psrc_new(t.g, &p2, -1), m);
        p2.credit_mode = true;
        rv_link(m, psink_new(t.g, &s, true));
        REQUIRE(tu_start(&t) == RV_OK);
        psrc_grant(&p2, 5);
        tu_settle(&t);
        if (eager) {
            CHECK(t.r.done);
            CHECK_EQ(p2.cancels, 1);
        } else {
            CHECK(!t.r.done);
            CHECK_EQ(s.n, 15);
            p2.n = p2.emitted + 3; /* let it complete after 3 more */
            psrc_grant(&p2, 3);
            tu_settle(&t);
            CHECK(t.r.done);
            CHECK_EQ(s.n, 18);
        }
        CHECK_EQ(t.r.code, RV_OK);
        CHECK_EQ(s.finishes, 1);
        tu_fini(&t);
        psink_free(&s);
    }
}

/* A failing input fails the merge and cancels the other inputs; a cancel
 * downstream cancels every input. */
static void test_merge_failure_and_cancel(void)
{
    for (int mode = 0; mode < 2; mode++) {
        tu_t t;
        tu_init(&t, true, NULL);
        psrc_t p1, p2;
        psink_t s;
        rv_stage_t *m = rv_merge(t.g, 2, false);
        rv_link(psrc_new(t.g, &p1, -1), m);
        rv_link(psrc_new(t.g, &p2, -1), m);
        if (mode == 0) p1.fail_at = 20, p1.fail_code = RV_ERR_IO;
        rv_link(m, psink_new(t.g, &s, true));
        if (mode == 1) s.cancel_after = 10;
        rv_err_t rc = tu_run_all(&t, 1000);
        CHECK_EQ(p2.cancels, 1);
        if (mode == 0) {
            CHECK_EQ(rc, RV_ERR_IO);
            CHECK_EQ(s.finish_code, RV_ERR_IO);
        } else {
            CHECK_EQ(rc, RV_OK);
            CHECK_EQ(p1.cancels, 1);
            CHECK_EQ(s.n, 10);
        }
        tu_fini(&t);
        psink_free(&s);
    }
}

RV_TEST_MAIN(RV_TEST_T(test_merge_all_elements_each_in_order, 10), RV_TEST_T(test_merge_fair, 10),
             RV_TEST_T(test_merge_backpressure, 10), RV_TEST_T(test_merge_completion, 10),
             RV_TEST_T(test_merge_failure_and_cancel, 10))
