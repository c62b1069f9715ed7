/* rv_partition: each element to the output a function picks; the head waits
 * for room on its output, so order is kept. */
#include "engine_test_util.h"

static int mod3(void *in, void *opaque)
{
    return (int)(RV_INT(in) % 3);
}

static void test_partition_routes(void)
{
    tu_t t;
    tu_init(&t, true, NULL);
    psink_t s[3];
    rv_stage_t *p = rv_partition(t.g, 3, mod3, NULL);
    rv_link(rv_source_range(t.g, 0, 300), p);
    for (int i = 0; i < 3; i++)
        rv_link(p, psink_new(t.g, &s[i], true));
    CHECK_EQ(tu_run_all(&t, 1000), RV_OK);
    for (int i = 0; i < 3; i++) {
        REQUIRE(s[i].n == 100);
        for (size_t k = 0; k < 100; k++)
            CHECK_EQ(s[i].vals[k], (int64_t)(3 * k) + i);
    }
    tu_fini(&t);
    for (int i = 0; i < 3; i++)
        psink_free(&s[i]);
}

/* A full output holds back the others: the element at the head waits. */
static void test_partition_slow_output_holds_back(void)
{
    tu_t t;
    tu_init(&t, true, "graph.edge.capacity=2", NULL);
    psrc_t src;
    psink_t s[3];
    rv_stage_t *p = rv_partition(t.g, 3, mod3, NULL);
    rv_link(psrc_new(t.g, &src, 300), p);
    rv_link(p, psink_new(t.g, &s[0], false));
    rv_link(p, psink_new(t.g, &s[1], true));
    rv_link(p, psink_new(t.g, &s[2], true));
    REQUIRE(tu_start(&t) == RV_OK);
    tu_settle(&t);
    /* Output 0 holds 0 and 3; element 6 waits at the head. */
    CHECK_EQ(s[1].n, 2);          /* 1, 4 */
    CHECK_EQ(s[2].n, 2);          /* 2, 5 */
    CHECK_EQ(src.emitted, 6 + 2); /* 6 waits on the input edge, with 7 */
    psink_grant(&s[0], 1);
    tu_settle(&t);
    CHECK_EQ(s[1].n, 3);
    psink_grant(&s[0], 1000);
    tu_settle(&t);
    CHECK(t.r.done);
    CHECK_EQ(s[0].n + s[1].n + s[2].n, 300);
    tu_fini(&t);
    for (int i = 0; i < 3; i++)
        psink_free(&s[i]);
}

/* A cancelled output: its elements are released as failed, the rest go on. */
static void test_partition_cancelled_output(void)
{
    tu_t t;
    tu_init(&t, true, NULL);
    psrc_t src;
    acks_t acks;
    acks_init(&acks, 300);
    psink_t s[3];
    rv_stage_t *p = rv_partition(t.g, 3, mod3, NULL);
    rv_stage_t *a = psrc_new(t.g, &src, 300);
    src.acks = &acks;
    rv_link(a, p);
    for (int i = 0; i < 3; i++)
        rv_link(p, psink_new(t.g, &s[i], true));
    s[2].cancel_after = 5;
    CHECK_EQ(tu_run_all(&t, 1000), RV_OK);
    CHECK_EQ(s[0].n, 100);
    CHECK_EQ(s[1].n, 100);
    CHECK_EQ(s[2].n, 5);
    tu_fini(&t);
    CHECK_EQ(acks.ok, 205);
    CHECK_EQ(acks.failed, 95);
    CHECK_EQ(acks.status[299], RV_ERR_CANCELLED);
    acks_free(&acks);
    for (int i = 0; i < 3; i++)
        psink_free(&s[i]);
}

/* A bad index: stop fails the stream; resume drops the element (failed);
 * retry cannot help a pure function: the element is dropped as failed. */
static int bad_for_7(void *in, void *opaque)
{
    (*(int *)opaque)++;
    return RV_INT(in) % 10 == 7 ? 5 : (int)(RV_INT(in) % 2);
}

static void test_partition_deciders(void)
{
    rv_decider_fn fns[] = {rv_decider_stop, rv_decider_resume, rv_decider_retry};
    for (int d = 0; d < 3; d++) {
        tu_t t;
        tu_init(&t, true, NULL);
        psrc_t src;
        acks_t acks;
        acks_init(&acks, 100);
        psink_t s[2];
        int calls = 0;
        rv_stage_t *p =
            rv_stage_set_decider(rv_partition(t.g, 2, bad_for_7, &calls), fns[d], RV_PTR(3));
        rv_stage_t *a = psrc_new(t.g, &src, 100);
        src.acks = &acks;
        rv_link(a, p);
        rv_link(p, psink_new(t.g, &s[0], true));
        rv_link(p, psink_new(t.g, &s[1], true));
        rv_err_t rc = tu_run_all(&t, 1000);
        if (d == 0) {
            CHECK_EQ(rc, RV_ERR_INVALID);
            CHECK(strstr(t.r.msg, "partition function returned 5") != NULL);
            CHECK_EQ(s[0].n + s[1].n, 7);
            CHECK_EQ(src.cancels, 1);
        } else {
            CHECK_EQ(rc, RV_OK);
            CHECK_EQ(s[0].n + s[1].n, 90);
            CHECK_EQ(calls, 100);
        }
        tu_fini(&t);
        CHECK_EQ(acks.status[7], RV_ERR_INVALID);
        if (d != 0) CHECK_EQ(acks.failed, 10);
        acks_free(&acks);
        psink_free(&s[0]);
        psink_free(&s[1]);
    }
}

static void test_partition_failure_and_all_cancelled(void)
{
    for (int mode = 0; mode < 2; mode++) {
        tu_t t;
        tu_init(&t, true, NULL);
        psrc_t src;
        psink_t s[2];
        rv_stage_t *a = psrc_new(t.g, &src, mode == 0 ? 100 : -1);
        if (mode == 0) src.fail_at = 30, src.fail_code = RV_ERR_IO;
        rv_stage_t *p = rv_partition(t.g, 2, mod3, NULL); /* mod3 gives 0..2: 2 is a bad index */
        rv_stage_set_decider(p, rv_decider_resume, NULL);
        rv_link(a, p);
        rv_link(p, psink_new(t.g, &s[0], true));
        rv_link(p, psink_new(t.g, &s[1], true));
        if (mode == 1) s[0].cancel_after = 3, s[1].cancel_after = 4;
        rv_err_t rc = tu_run_all(&t, 1000);
        if (mode == 0) {
            CHECK_EQ(rc, RV_ERR_IO);
            CHECK_EQ(s[0].finish_code, RV_ERR_IO);
            CHECK_EQ(s[1].finish_code, RV_ERR_IO);
        } else {
            CHECK_EQ(rc, RV_OK);
            CHECK_EQ(src.cancels, 1);
        }
        tu_fini(&t);
        psink_free(&s[0]);
        psink_free(&s[1]);
    }
}

RV_TEST_MAIN(RV_TEST_T(test_partition_routes, 10),
             RV_TEST_T(test_partition_slow_output_holds_back, 10),
             RV_TEST_T(test_partition_cancelled_output, 10), RV_TEST_T(test_partition_deciders, 10),
             RV_TEST_T(test_partition_failure_and_all_cancelled, 10))
