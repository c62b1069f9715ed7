/* rv_broadcast: every element to every open output, one shared envelope; it
 * pulls only when every open output has room. */
#include "engine_test_util.h"

static void test_broadcast_all_branches_same_envelope(void)
{
    tu_t t;
    tu_init(&t, true, NULL);
    psrc_t src;
    psink_t s[3];
    rv_stage_t *a = psrc_new(t.g, &src, 200);
    src.boxed = true;
    rv_stage_t *b = rv_broadcast(t.g, 3, false);
    rv_link(a, b);
    for (int i = 0; i < 3; i++) {
        rv_link(b, psink_new(t.g, &s[i], true));
        s[i].keep = true;
        s[i].boxed = true;
    }
    CHECK_EQ(tu_run_all(&t, 1000), RV_OK);
    for (int i = 0; i < 3; i++) {
        CHECK(psink_is_range(&s[i], 0, 200));
        CHECK_EQ(s[i].finishes, 1);
    }
    /* No copies: the three branches hold the same envelope and payload. */
    for (int k = 0; k < 200; k++) {
        CHECK(s[0].kept[k] == s[1].kept[k] && s[1].kept[k] == s[2].kept[k]);
        CHECK(s[0].ptrs[k] == s[2].ptrs[k]);
        CHECK_EQ(rv_env_refs(s[0].kept[k]), 3);
    }
    tu_fini(&t);
    for (int i = 0; i < 3; i++)
        psink_free(&s[i]);
}

/* With one branch slow, the other waits: broadcast pulls only when every
 * branch has room, so the fast branch gets exactly the slow branch's edge
 * capacity ahead, and each element the slow branch takes lets one more
 * through to both. */
static void test_broadcast_slow_branch_holds_the_other(void)
{
    tu_t t;
    tu_init(&t, true, NULL);
    psrc_t src;
    psink_t fast, slow;
    rv_stage_t *a = psrc_new(t.g, &src, 1000);
    rv_stage_t *b = rv_broadcast(t.g, 2, false);
    rv_link_ports(a, 0, b, 0, 4);
    rv_link_ports(b, 0, psink_new(t.g, &fast, true), 0, 16);
    rv_link_ports(b, 1, psink_new(t.g, &slow, false), 0, 3);
    REQUIRE(tu_start(&t) == RV_OK);
    tu_settle(&t);
    CHECK_EQ(fast.n, 3);
    CHECK_EQ(slow.n, 0);
    CHECK_EQ(tu_counters(b).in, 3);
    CHECK_EQ(src.emitted, 3 + 4);
    for (int i = 1; i <= 50; i++) {
        psink_grant(&slow, 2);
        tu_settle(&t);
        CHECK_EQ(slow.n, (size_t)(2 * i));
        CHECK_EQ(fast.n, slow.n + 3);
        CHECK_EQ(src.emitted, (int64_t)fast.n + 4);
    }
    CHECK(slow.max_avail <= 3);
    psink_grant(&slow, 10000);
    tu_settle(&t);
    CHECK(t.r.done);
    CHECK(psink_is_range(&fast, 0, 1000));
    CHECK(psink_is_range(&slow, 0, 1000));
    tu_fini(&t);
    psink_free(&fast);
    psink_free(&slow);
}

/* Non-eager cancel: one branch cancels, the others go on to the end, and a
 * cancelled slow branch no longer limits the pace. */
static void test_broadcast_non_eager_cancel(void)
{
    tu_t t;
    tu_init(&t, true, "graph.edge.capacity=4", NULL);
    psrc_t src;
    acks_t acks;
    acks_init(&acks, 500);
    psink_t s1, s2;
    rv_stage_t *a = psrc_new(t.g, &src, 500);
    src.acks = &acks;
    rv_stage_t *b = rv_broadcast(t.g, 2, false);
    rv_link(a, b);
    rv_link(b, psink_new(t.g, &s1, true));
    rv_link(b, psink_new(t.g, &s2, false));
    s2.cancel_after = 5;
    REQUIRE(tu_start(&t) == RV_OK);
    tu_settle(&t);
    CHECK_EQ(s1.n, 4); /* held back by the slow branch */
    psink_grant(&s2, 5);
    tu_settle(&t);
    CHECK(t.r.done);
    CHECK_EQ(t.r.code, RV_OK);
    CHECK(psink_is_range(&s1, 0, 500));
    CHECK_EQ(s1.finish_code, RV_OK);
    CHECK_EQ(s2.n, 5);
    CHECK_EQ(src.cancels, 0);
    tu_fini(&t);
    /* Elements the cancelled branch dropped from its edge were not processed
     * there: they are failed. Later ones went to the open branch only: OK. */
    CHECK_EQ(acks.total, 500);
    for (int i = 0; i < 5; i++)
        CHECK_EQ(acks.status[i], RV_OK);
    for (int i = 20; i < 500; i++)
        CHECK_EQ(acks.status[i], RV_OK);
    CHECK(acks.failed <= 4);
    acks_free(&acks);
    psink_free(&s1);
    psink_free(&s2);
}

/* Eager cancel: the first cancelled branch cancels the stage: the source is
 * cancelled and the other branches complete early. */
static void test_broadcast_eager_cancel(void)
{
    tu_t t;
    tu_init(&t, true, "graph.edge.capacity=4", NULL);
    psrc_t src;
    psink_t s1, s2;
    rv_stage_t *a = psrc_new(t.g, &src, -1);
    rv_stage_t *b = rv_broadcast(t.g, 2, true);
    rv_link(a, b);
    rv_link(b, psink_new(t.g, &s1, true));
    rv_link(b, psink_new(t.g, &s2, true));
    s2.cancel_after = 10;
    CHECK_EQ(tu_run_all(&t, 1000), RV_OK);
    CHECK_EQ(src.cancels, 1);
    CHECK_EQ(s2.n, 10);
    CHECK(s1.n >= 10 && s1.n <= 10 + 4);
    CHECK_EQ(s1.finishes, 1);
    CHECK_EQ(s1.finish_code, RV_OK);
    CHECK(src.emitted <= 10 + 4 + 4);
    tu_fini(&t);
    psink_free(&s1);
    psink_free(&s2);
}

/* Every branch cancelled (non-eager): upstream is cancelled. */
static void test_broadcast_all_cancelled(void)
{
    tu_t t;
    tu_init(&t, true, NULL);
    psrc_t src;
    psink_t s1, s2;
    rv_stage_t *a = psrc_new(t.g, &src, -1);
    rv_stage_t *b = rv_broadcast(t.g, 2, false);
    rv_link(a, b);
    rv_link(b, psink_new(t.g, &s1, true));
    rv_link(b, psink_new(t.g, &s2, true));
    s1.cancel_after = 3;
    s2.cancel_after = 50;
    CHECK_EQ(tu_run_all(&t, 1000), RV_OK);
    CHECK_EQ(src.cancels, 1);
    CHECK_EQ(s1.n, 3);
    CHECK_EQ(s2.n, 50);
    tu_fini(&t);
    psink_free(&s1);
    psink_free(&s2);
}

/* Upstream failure reaches every branch. A failing branch fails the graph;
 * it cancels only its own branch unless the broadcast is eager, in which case
 * it cancels upstream too. */
static void test_broadcast_failures(void)
{
    for (int mode = 0; mode < 3; mode++) {
        tu_t t;
        tu_init(&t, true, NULL);
        psrc_t src;
        psink_t s1, s2;
        rv_stage_t *a = psrc_new(t.g, &src, 100);
        if (mode == 0) src.fail_at = 10, src.fail_code = RV_ERR_IO;
        rv_stage_t *b = rv_broadcast(t.g, 2, mode == 2);
        rv_link(a, b);
        rv_link(b, psink_new(t.g, &s1, true));
        rv_link(b, psink_new(t.g, &s2, true));
        if (mode > 0) s2.fail_after = 5, s2.fail_code = RV_ERR_ENCODE;
        rv_err_t rc = tu_run_all(&t, 1000);
        if (mode == 0) {
            CHECK_EQ(rc, RV_ERR_IO);
            CHECK_EQ(s1.finish_code, RV_ERR_IO);
            CHECK_EQ(s2.finish_code, RV_ERR_IO);
        } else if (mode == 1) {
            CHECK_EQ(rc, RV_ERR_ENCODE);
            CHECK_EQ(src.cancels, 0);
            CHECK(psink_is_range(&s1, 0, 100));
            CHECK_EQ(s1.finish_code, RV_OK);
        } else {
            CHECK_EQ(rc, RV_ERR_ENCODE);
            CHECK_EQ(src.cancels, 1);
            CHECK(s1.n < 100);
            CHECK_EQ(s1.finishes, 1);
        }
        tu_fini(&t);
        psink_free(&s1);
        psink_free(&s2);
    }
}

static void test_broadcast_bad_n(void)
{
    tu_t t;
    tu_init(&t, true, NULL);
    CHECK(rv_broadcast(t.g, 0, false) == NULL);
    rv_link(rv_source_range(t.g, 0, 1), rv_ignore(t.g));
    CHECK_EQ(tu_start(&t), RV_ERR_INVALID);
    CHECK(strstr(t.r.msg, "needs n >= 1") != NULL);
    tu_fini(&t);
}

RV_TEST_MAIN(RV_TEST_T(test_broadcast_all_branches_same_envelope, 10),
             RV_TEST_T(test_broadcast_slow_branch_holds_the_other, 10),
             RV_TEST_T(test_broadcast_non_eager_cancel, 10),
             RV_TEST_T(test_broadcast_eager_cancel, 10),
             RV_TEST_T(test_broadcast_all_cancelled, 10), RV_TEST_T(test_broadcast_failures, 10),
             RV_TEST_T(test_broadcast_bad_n, 10))
