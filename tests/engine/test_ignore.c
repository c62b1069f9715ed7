/* rv_ignore: takes and releases everything (after success). */
#include "engine_test_util.h"

static void test_ignore_acks_everything(void)
{
    tu_t t;
    tu_init(&t, true, "graph.edge.capacity=4", NULL);
    psrc_t src;
    acks_t acks;
    acks_init(&acks, 5000);
    rv_stage_t *a = psrc_new(t.g, &src, 5000);
    src.acks = &acks;
    src.boxed = true;
    rv_stage_t *k = rv_ignore(t.g);
    rv_link(a, k);
    CHECK_EQ(tu_run_all(&t, 1000), RV_OK);
    CHECK_EQ(acks.ok, 5000);
    CHECK_EQ(tu_counters(k).in, 5000);
    CHECK(acks_at_most_once(&acks));
    CHECK(src.max_room <= 4);
    tu_fini(&t);
    acks_free(&acks);
}

static void test_ignore_upstream_failure(void)
{
    tu_t t;
    tu_init(&t, true, NULL);
    psrc_t src;
    rv_stage_t *a = psrc_new(t.g, &src, 100);
    src.fail_at = 10, src.fail_code = RV_ERR_IO;
    rv_link(a, rv_ignore(t.g));
    CHECK_EQ(tu_run_all(&t, 1000), RV_ERR_IO);
    tu_fini(&t);
}

/* Graceful stop of an endless source into ignore: everything emitted acked.
 * (On the real loop: with a virtual clock, settling an endless pipeline that
 * nothing slows down would never end.) */
static void test_ignore_graceful_stop(void)
{
    tu_t t;
    tu_init(&t, false, NULL);
    psrc_t src;
    acks_t acks;
    acks_init(&acks, 100000);
    rv_stage_t *a = psrc_new(t.g, &src, -1);
    src.acks = &acks;
    rv_link(a, rv_ignore(t.g));
    REQUIRE(tu_start(&t) == RV_OK);
    tu_settle(&t);
    CHECK(!t.r.done);
    rv_graph_stop(t.g);
    TU_WAIT(&t, t.r.done, 5000);
    CHECK(t.r.done);
    CHECK_EQ(t.r.code, RV_OK);
    CHECK(src.emitted > 0);
    CHECK_EQ(acks.ok, (int)src.emitted);
    tu_fini(&t);
    acks_free(&acks);
}

RV_TEST_MAIN(RV_TEST_T(test_ignore_acks_everything, 10),
             RV_TEST_T(test_ignore_upstream_failure, 10), RV_TEST_T(test_ignore_graceful_stop, 10))
