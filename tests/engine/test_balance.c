/* rv_balance: each element to one output with room, taking turns. */
#include "engine_test_util.h"

static void test_balance_round_robin(void)
{
    tu_t t;
    tu_init(&t, true, NULL);
    psink_t s[3];
    rv_stage_t *b = rv_balance(t.g, 3);
    rv_link(rv_source_range(t.g, 0, 300), b);
    for (int i = 0; i < 3; i++)
        rv_link(b, psink_new(t.g, &s[i], true));
    CHECK_EQ(tu_run_all(&t, 1000), RV_OK);
    /* Every element exactly once over all outputs. */
    int seen[300] = {0};
    for (int i = 0; i < 3; i++) {
        CHECK(s[i].n > 0);
        for (size_t k = 0; k < s[i].n; k++)
            seen[s[i].vals[k]]++;
        CHECK_EQ(s[i].finishes, 1);
    }
    for (int k = 0; k < 300; k++)
        CHECK_EQ(seen[k], 1);
    tu_fini(&t);
    for (int i = 0; i < 3; i++)
        psink_free(&s[i]);
}

/* A stuck output does not hold back the others; it gets exactly its edge's
 * capacity. */
static void test_balance_slow_output_does_not_block(void)
{
    tu_t t;
    tu_init(&t, true, "graph.edge.capacity=4", NULL);
    psrc_t src;
    psink_t fast, stuck;
    rv_stage_t *b = rv_balance(t.g, 2);
    rv_link(psrc_new(t.g, &src, 1000), b);
    rv_link(b, psink_new(t.g, &stuck, false));
    rv_link(b, psink_new(t.g, &fast, true));
    REQUIRE(tu_start(&t) == RV_OK);
    tu_settle(&t);
    CHECK_EQ(tu_counters(stuck.st).queued, 4);
    CHECK_EQ(fast.n, 996);
    CHECK(!t.r.done);
    psink_grant(&stuck, 10);
    tu_settle(&t);
    CHECK(t.r.done);
    CHECK_EQ(stuck.n, 4);
    tu_fini(&t);
    psink_free(&fast);
    psink_free(&stuck);
}

/* Backpressure: with every output stuck, the source is held at the sum of
 * the capacities. */
static void test_balance_backpressure(void)
{
    tu_t t;
    tu_init(&t, true, "graph.edge.capacity=4", NULL);
    psrc_t src;
    psink_t s[3];
    rv_stage_t *b = rv_balance(t.g, 3);
    rv_link(psrc_new(t.g, &src, 1000), b);
    for (int i = 0; i < 3; i++)
        rv_link(b, psink_new(t.g, &s[i], false));
    REQUIRE(tu_start(&t) == RV_OK);
    tu_settle(&t);
    CHECK_EQ(src.emitted, 4 * 3 + 4);
    psink_grant(&s[1], 5);
    tu_settle(&t);
    CHECK_EQ(src.emitted, 4 * 3 + 4 + 5);
    CHECK_EQ(s[1].n, 5);
    rv_graph_abort(t.g);
    tu_settle(&t);
    tu_fini(&t);
    for (int i = 0; i < 3; i++)
        psink_free(&s[i]);
}

/* One output cancels: the others take the rest; all cancel: upstream too. */
static void test_balance_cancel(void)
{
    for (int all = 0; all < 2; all++) {
        tu_t t;
        tu_init(&t, true, NULL);
        psrc_t src;
        psink_t s1, s2;
        rv_stage_t *b = rv_balance(t.g, 2);
        rv_link(psrc_new(t.g, &src, all ? -1 : 500), b);
        rv_link(b, psink_new(t.g, &s1, true));
        rv_link(b, psink_new(t.g, &s2, true));
        s1.cancel_after = 3;
        if (all) s2.cancel_after = 7;
        CHECK_EQ(tu_run_all(&t, 1000), RV_OK);
        CHECK_EQ(s1.n, 3);
        if (all) {
            CHECK_EQ(s2.n, 7);
            CHECK_EQ(src.cancels, 1);
        } else {
            CHECK(s2.n >= 500 - 3 - 32);
            CHECK_EQ(s2.finishes, 1);
        }
        tu_fini(&t);
        psink_free(&s1);
        psink_free(&s2);
    }
}

static void test_balance_failure(void)
{
    tu_t t;
    tu_init(&t, true, NULL);
    psrc_t src;
    psink_t s1, s2;
    rv_stage_t *a = psrc_new(t.g, &src, 100);
    src.fail_at = 20, src.fail_code = RV_ERR_IO;
    rv_stage_t *b = rv_balance(t.g, 2);
    rv_link(a, b);
    rv_link(b, psink_new(t.g, &s1, true));
    rv_link(b, psink_new(t.g, &s2, true));
    CHECK_EQ(tu_run_all(&t, 1000), RV_ERR_IO);
    CHECK_EQ(s1.finish_code, RV_ERR_IO);
    CHECK_EQ(s2.finish_code, RV_ERR_IO);
    tu_fini(&t);
    psink_free(&s1);
    psink_free(&s2);
}

RV_TEST_MAIN(RV_TEST_T(test_balance_round_robin, 10),
             RV_TEST_T(test_balance_slow_output_does_not_block, 10),
             RV_TEST_T(test_balance_backpressure, 10), RV_TEST_T(test_balance_cancel, 10),
             RV_TEST_T(test_balance_failure, 10))
