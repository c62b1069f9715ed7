/* rv_filter: keeps what the predicate accepts; a rejected element counts as
 * processed (acked OK). */
#include "engine_test_util.h"

static bool is_even(void *in, void *opaque)
{
    (*(int *)opaque)++;
    return RV_INT(in) % 2 == 0;
}

static bool none(void *in, void *opaque)
{
    return false;
}

static void test_filter_values_and_acks(void)
{
    tu_t t;
    tu_init(&t, true, NULL);
    psrc_t src;
    acks_t acks;
    acks_init(&acks, 1000);
    psink_t s;
    int calls = 0;
    rv_stage_t *a = psrc_new(t.g, &src, 1000);
    src.acks = &acks;
    rv_chain(a, rv_filter(t.g, is_even, &calls), psink_new(t.g, &s, true), NULL);
    CHECK_EQ(tu_run_all(&t, 1000), RV_OK);
    REQUIRE(s.n == 500);
    for (int i = 0; i < 500; i++)
        CHECK_EQ(s.vals[i], 2 * i);
    CHECK_EQ(calls, 1000);
    CHECK_EQ(acks.ok, 1000); /* dropped ones too: filtering out is processing */
    tu_fini(&t);
    acks_free(&acks);
    psink_free(&s);
}

/* Backpressure: a filter that passes everything never takes more than its
 * output's room; one that passes nothing keeps pulling (no output needed). */
static void test_filter_backpressure(void)
{
    tu_t t;
    tu_init(&t, true, "graph.edge.capacity=4", NULL);
    psrc_t src;
    psink_t s;
    int calls = 0;
    rv_stage_t *a = psrc_new(t.g, &src, 1000);
    rv_chain(a, rv_filter(t.g, is_even, &calls), psink_new(t.g, &s, false), NULL);
    REQUIRE(tu_start(&t) == RV_OK);
    tu_settle(&t);
    /* The sink's edge holds 4 even elements (0..6), the filter stopped there. */
    CHECK_EQ(calls, 7);
    CHECK(src.emitted <= 7 + 4);
    for (int i = 0; i < 20; i++) {
        psink_grant(&s, 2);
        tu_settle(&t);
        CHECK(src.emitted <= 2 * (int64_t)s.n + 8 + 4);
    }
    rv_graph_abort(t.g);
    tu_settle(&t);
    tu_fini(&t);
    psink_free(&s);

    tu_init(&t, true, "graph.edge.capacity=4", NULL);
    a = psrc_new(t.g, &src, 1000);
    rv_chain(a, rv_filter(t.g, none, NULL), psink_new(t.g, &s, false), NULL);
    CHECK_EQ(tu_run_all(&t, 1000), RV_OK);
    CHECK_EQ(src.emitted, 1000);
    CHECK_EQ(s.n, 0);
    CHECK_EQ(s.finishes, 1);
    tu_fini(&t);
    psink_free(&s);
}

static void test_filter_failure_and_cancel(void)
{
    for (int mode = 0; mode < 2; mode++) {
        tu_t t;
        tu_init(&t, true, "graph.edge.capacity=4", NULL);
        psrc_t src;
        psink_t s;
        int calls = 0;
        rv_stage_t *a = psrc_new(t.g, &src, -1);
        if (mode == 0) src.fail_at = 50, src.fail_code = RV_ERR_PROTOCOL;
        rv_stage_t *f = rv_filter(t.g, is_even, &calls);
        rv_chain(a, f, psink_new(t.g, &s, true), NULL);
        if (mode == 1) s.cancel_after = 5;
        rv_err_t rc = tu_run_all(&t, 1000);
        CHECK(rv_stage_finished(f));
        if (mode == 0) {
            CHECK_EQ(rc, RV_ERR_PROTOCOL);
            CHECK_EQ(s.finish_code, RV_ERR_PROTOCOL);
        } else {
            CHECK_EQ(rc, RV_OK);
            CHECK_EQ(src.cancels, 1);
            CHECK_EQ(s.n, 5);
        }
        tu_fini(&t);
        psink_free(&s);
    }
}

static void test_filter_null_predicate(void)
{
    tu_t t;
    tu_init(&t, true, NULL);
    CHECK(rv_filter(t.g, NULL, NULL) == NULL);
    rv_link(rv_source_range(t.g, 0, 1), rv_ignore(t.g));
    CHECK_EQ(tu_start(&t), RV_ERR_INVALID);
    CHECK(strstr(t.r.msg, "predicate is NULL") != NULL);
    tu_fini(&t);
}

RV_TEST_MAIN(RV_TEST_T(test_filter_values_and_acks, 10), RV_TEST_T(test_filter_backpressure, 10),
             RV_TEST_T(test_filter_failure_and_cancel, 10),
             RV_TEST_T(test_filter_null_predicate, 10))
