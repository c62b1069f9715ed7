/* rv_fold: one accumulator, emitted once when upstream completes. */
#include "engine_test_util.h"

static rv_err_t sum(void *acc, void *in, void **acc_out, rv_error_t **errp, void *opaque)
{
    *(int64_t *)acc += RV_INT(in);
    *acc_out = acc;
    return RV_OK;
}

static int acc_frees;
static void acc_free(void *p)
{
    acc_frees++;
    free(p);
}

/* A function that returns a new accumulator each time: the old one is freed. */
static rv_err_t sum_new(void *acc, void *in, void **acc_out, rv_error_t **errp, void *opaque)
{
    *acc_out = box_new(box_val(acc) + RV_INT(in));
    return RV_OK;
}

static void test_fold_sum(void)
{
    for (int fresh = 0; fresh < 2; fresh++) {
        tu_t t;
        tu_init(&t, true, NULL);
        psink_t s;
        acc_frees = 0;
        rv_chain(rv_source_range(t.g, 1, 100),
                 rv_fold(t.g, box_new(0), acc_free, fresh ? sum_new : sum, NULL),
                 psink_new(t.g, &s, true), NULL);
        s.boxed = true;
        CHECK_EQ(tu_run_all(&t, 1000), RV_OK);
        REQUIRE(s.n == 1);
        CHECK_EQ(s.vals[0], 5050);
        CHECK_EQ(s.finishes, 1);
        tu_fini(&t);
        CHECK_EQ(acc_frees, fresh ? 101 : 1); /* each replaced one, and the emitted one */
        psink_free(&s);
    }
}

/* An empty stream folds to the initial accumulator. */
static void test_fold_empty(void)
{
    tu_t t;
    tu_init(&t, true, NULL);
    psink_t s;
    rv_chain(rv_source_range(t.g, 1, 0), rv_fold(t.g, box_new(42), free, sum, NULL),
             psink_new(t.g, &s, true), NULL);
    s.boxed = true;
    CHECK_EQ(tu_run_all(&t, 1000), RV_OK);
    REQUIRE(s.n == 1);
    CHECK_EQ(s.vals[0], 42);
    tu_fini(&t);
    psink_free(&s);
}

/* Backpressure: the fold's result waits in its output edge until the sink
 * takes it, and the sink completes only after that. */
static void test_fold_result_waits_for_sink(void)
{
    tu_t t;
    tu_init(&t, true, "graph.edge.capacity=1", NULL);
    psrc_t src;
    psink_t s;
    rv_stage_t *f = rv_fold(t.g, box_new(0), free, sum, NULL);
    rv_chain(psrc_new(t.g, &src, 10), f, psink_new(t.g, &s, false), NULL);
    s.boxed = true;
    REQUIRE(tu_start(&t) == RV_OK);
    tu_settle(&t);
    CHECK_EQ(src.emitted, 10);
    CHECK(rv_stage_finished(f));
    CHECK(!t.r.done);
    CHECK_EQ(s.finishes, 0);
    CHECK_EQ(tu_counters(s.st).queued, 1);
    psink_grant(&s, 1);
    tu_settle(&t);
    CHECK(t.r.done);
    REQUIRE(s.n == 1);
    CHECK_EQ(s.vals[0], 45);
    CHECK_EQ(s.offsets[0], -1); /* a new root: no source metadata */
    tu_fini(&t);
    psink_free(&s);
}

/* Upstream failure: nothing is emitted, the error reaches the sink. */
static void test_fold_upstream_failure(void)
{
    tu_t t;
    tu_init(&t, true, NULL);
    psrc_t src;
    psink_t s;
    rv_stage_t *a = psrc_new(t.g, &src, 100);
    src.fail_at = 50, src.fail_code = RV_ERR_IO;
    rv_chain(a, rv_fold(t.g, box_new(0), free, sum, NULL), psink_new(t.g, &s, true), NULL);
    CHECK_EQ(tu_run_all(&t, 1000), RV_ERR_IO);
    CHECK_EQ(s.n, 0);
    CHECK_EQ(s.finish_code, RV_ERR_IO);
    tu_fini(&t);
    psink_free(&s);
}

/* Downstream cancels before the result: upstream is cancelled. */
static void test_fold_cancel(void)
{
    tu_t t;
    tu_init(&t, true, NULL);
    psrc_t src;
    rv_stage_t *a = psrc_new(t.g, &src, -1);
    rv_stage_t *f = rv_fold(t.g, box_new(0), free, sum, NULL);
    rv_stage_t *z = rv_zip(t.g);
    rv_chain(a, f, z, NULL);
    rv_link(rv_source_range(t.g, 0, 0), z); /* completes at once: zip cancels the fold */
    rv_link(z, rv_ignore(t.g));
    CHECK_EQ(tu_run_all(&t, 1000), RV_OK);
    CHECK(rv_stage_finished(f));
    CHECK_EQ(src.cancels, 1);
    tu_fini(&t);
}

/* The deciders. */
static rv_err_t sum_fail_7(void *acc, void *in, void **acc_out, rv_error_t **errp, void *opaque)
{
    int *calls_on_7 = opaque;
    if (RV_INT(in) == 7 && (*calls_on_7)++ < 2)
        return rv_error_set(errp, RV_ERR_USER, false, "no sevens");
    *(int64_t *)acc += RV_INT(in);
    *acc_out = acc;
    return RV_OK;
}

static void test_fold_deciders(void)
{
    rv_decider_fn deciders[] = {rv_decider_stop, rv_decider_resume, rv_decider_retry};
    for (int d = 0; d < 3; d++) {
        tu_t t;
        tu_init(&t, true, NULL);
        psrc_t src;
        acks_t acks;
        acks_init(&acks, 10);
        psink_t s;
        int calls_on_7 = 0;
        rv_stage_t *a = psrc_new(t.g, &src, 10);
        src.acks = &acks;
        rv_stage_t *f = rv_stage_set_decider(
            rv_fold(t.g, box_new(0), free, sum_fail_7, &calls_on_7), deciders[d], RV_PTR(5));
        rv_chain(a, f, psink_new(t.g, &s, true), NULL);
        s.boxed = true;
        rv_err_t rc = tu_run_all(&t, 1000);
        if (d == 0) {
            CHECK_EQ(rc, RV_ERR_USER);
            CHECK(strstr(t.r.msg, "no sevens") != NULL);
            CHECK_EQ(s.n, 0);
            CHECK_EQ(calls_on_7, 1);
        } else if (d == 1) {
            CHECK_EQ(rc, RV_OK);
            REQUIRE(s.n == 1);
            CHECK_EQ(s.vals[0], 45 - 7);
            CHECK_EQ(calls_on_7, 1);
        } else {
            CHECK_EQ(rc, RV_OK);
            REQUIRE(s.n == 1);
            CHECK_EQ(s.vals[0], 45);
            CHECK_EQ(calls_on_7, 3);
        }
        tu_fini(&t);
        CHECK_EQ(acks.status[7], d == 2 ? RV_OK : RV_ERR_USER);
        if (d != 0) CHECK_EQ(acks.ok, d == 1 ? 9 : 10);
        acks_free(&acks);
        psink_free(&s);
    }
}

RV_TEST_MAIN(RV_TEST_T(test_fold_sum, 10), RV_TEST_T(test_fold_empty, 10),
             RV_TEST_T(test_fold_result_waits_for_sink, 10),
             RV_TEST_T(test_fold_upstream_failure, 10), RV_TEST_T(test_fold_cancel, 10),
             RV_TEST_T(test_fold_deciders, 10))
