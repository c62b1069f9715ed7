/* rv_take: the first n elements, then completion downstream and cancel upstream. */
#include "engine_test_util.h"

static void test_take_first_n_and_cancel(void)
{
    tu_t t;
    tu_init(&t, true, "graph.edge.capacity=8", NULL);
    psrc_t src;
    acks_t acks;
    acks_init(&acks, 100000);
    psink_t s;
    rv_stage_t *a = psrc_new(t.g, &src, -1);
    src.acks = &acks;
    rv_chain(a, rv_take(t.g, 100), psink_new(t.g, &s, true), NULL);
    CHECK_EQ(tu_run_all(&t, 1000), RV_OK);
    CHECK(psink_is_range(&s, 0, 100));
    CHECK_EQ(s.finishes, 1);
    CHECK_EQ(s.finish_code, RV_OK);
    CHECK_EQ(src.cancels, 1);
    CHECK(src.emitted <= 100 + 8 + 8);
    tu_fini(&t);
    /* What the source made beyond the 100 was not processed: failed, never OK. */
    CHECK_EQ(acks.ok, 100);
    CHECK_EQ(acks.total, (int)src.emitted);
    acks_free(&acks);
    psink_free(&s);
}

static void test_take_zero(void)
{
    tu_t t;
    tu_init(&t, true, NULL);
    psrc_t src;
    psink_t s;
    rv_chain(psrc_new(t.g, &src, -1), rv_take(t.g, 0), psink_new(t.g, &s, true), NULL);
    CHECK_EQ(tu_run_all(&t, 1000), RV_OK);
    CHECK_EQ(s.n, 0);
    CHECK_EQ(s.finishes, 1);
    CHECK_EQ(src.cancels, 1);
    tu_fini(&t);
    psink_free(&s);
}

/* Fewer elements than n: completes with upstream. */
static void test_take_more_than_available(void)
{
    tu_t t;
    tu_init(&t, true, NULL);
    psrc_t src;
    psink_t s;
    rv_chain(psrc_new(t.g, &src, 10), rv_take(t.g, 100), psink_new(t.g, &s, true), NULL);
    CHECK_EQ(tu_run_all(&t, 1000), RV_OK);
    CHECK(psink_is_range(&s, 0, 10));
    CHECK_EQ(src.cancels, 0);
    tu_fini(&t);
    psink_free(&s);
}

/* Backpressure: take completes only once its n-th element was delivered, and
 * never holds more than its output's room. */
static void test_take_backpressure(void)
{
    tu_t t;
    tu_init(&t, true, "graph.edge.capacity=4", NULL);
    psrc_t src;
    psink_t s;
    rv_stage_t *tk = rv_take(t.g, 20);
    rv_chain(psrc_new(t.g, &src, -1), tk, psink_new(t.g, &s, false), NULL);
    REQUIRE(tu_start(&t) == RV_OK);
    tu_settle(&t);
    CHECK_EQ(src.emitted, 8);
    CHECK_EQ(tu_counters(tk).out, 4);
    for (int i = 0; i < 5; i++) {
        psink_grant(&s, 3);
        tu_settle(&t);
        CHECK_EQ(src.emitted, (int64_t)s.n + 8);
    }
    CHECK(!t.r.done);
    psink_grant(&s, 100);
    tu_settle(&t);
    CHECK(t.r.done);
    CHECK(psink_is_range(&s, 0, 20));
    tu_fini(&t);
    psink_free(&s);
}

static void test_take_failure_and_downstream_cancel(void)
{
    for (int mode = 0; mode < 2; mode++) {
        tu_t t;
        tu_init(&t, true, NULL);
        psrc_t src;
        psink_t s;
        rv_stage_t *a = psrc_new(t.g, &src, -1);
        if (mode == 0) src.fail_at = 5, src.fail_code = RV_ERR_IO;
        rv_chain(a, rv_take(t.g, 50), psink_new(t.g, &s, true), NULL);
        if (mode == 1) s.cancel_after = 3;
        rv_err_t rc = tu_run_all(&t, 1000);
        if (mode == 0) {
            CHECK_EQ(rc, RV_ERR_IO);
            CHECK_EQ(s.finish_code, RV_ERR_IO);
        } else {
            CHECK_EQ(rc, RV_OK);
            CHECK_EQ(s.n, 3);
            CHECK_EQ(src.cancels, 1);
        }
        tu_fini(&t);
        psink_free(&s);
    }
}

RV_TEST_MAIN(RV_TEST_T(test_take_first_n_and_cancel, 10), RV_TEST_T(test_take_zero, 10),
             RV_TEST_T(test_take_more_than_available, 10), RV_TEST_T(test_take_backpressure, 10),
             RV_TEST_T(test_take_failure_and_downstream_cancel, 10))
