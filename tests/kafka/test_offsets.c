/* The per-partition watermark tracker, in isolation: in-order and
 * out-of-order acks, failures, gaps in offsets, growth, commits. */
#include "kafka/offsets.h"
#include "rv_test.h"

static void track(rv__koff_t *t, int64_t from, int64_t to)
{
    for (int64_t o = from; o <= to; o++)
        CHECK_EQ(rv__koff_track(t, o), RV_OK);
}

static void test_in_order(void)
{
    rv__koff_t t;
    rv__koff_init(&t);
    CHECK_EQ(rv__koff_watermark(&t), -1);
    CHECK_EQ(rv__koff_take_commit(&t), -1);
    track(&t, 10, 14);
    CHECK_EQ(rv__koff_pending(&t), 5);
    CHECK_EQ(rv__koff_done(&t, 10, true), 1);
    CHECK_EQ(rv__koff_watermark(&t), 11);
    CHECK_EQ(rv__koff_done(&t, 11, true), 1);
    CHECK_EQ(rv__koff_take_commit(&t), 12);
    CHECK_EQ(rv__koff_take_commit(&t), -1); /* nothing new */
    CHECK_EQ(rv__koff_done(&t, 12, true), 1);
    CHECK_EQ(rv__koff_done(&t, 13, true), 1);
    CHECK_EQ(rv__koff_done(&t, 14, true), 1);
    CHECK_EQ(rv__koff_watermark(&t), 15);
    CHECK_EQ(rv__koff_take_commit(&t), 15);
    CHECK_EQ(rv__koff_pending(&t), 0);
    CHECK(!rv__koff_blocked(&t));
    rv__koff_free(&t);
}

/* The example: records 1, 2, 3 acked 3, 1, 2: nothing is committable
 * after 3, offset 2 after 1 (record 1 done), then 4 after 2 (all done). */
static void test_out_of_order_3_1_2(void)
{
    rv__koff_t t;
    rv__koff_init(&t);
    track(&t, 1, 3);
    CHECK_EQ(rv__koff_done(&t, 3, true), 0);
    CHECK_EQ(rv__koff_watermark(&t), -1);
    CHECK_EQ(rv__koff_take_commit(&t), -1);
    CHECK_EQ(rv__koff_done(&t, 1, true), 1);
    CHECK_EQ(rv__koff_take_commit(&t), 2);
    CHECK_EQ(rv__koff_done(&t, 2, true), 2); /* 2 and the earlier 3 */
    CHECK_EQ(rv__koff_take_commit(&t), 4);
    CHECK_EQ(rv__koff_pending(&t), 0);
    rv__koff_free(&t);
}

static void test_failure_blocks_for_good(void)
{
    rv__koff_t t;
    rv__koff_init(&t);
    track(&t, 0, 5);
    CHECK_EQ(rv__koff_done(&t, 0, true), 1);
    CHECK_EQ(rv__koff_done(&t, 2, false), 0); /* 2 failed while 1 is in flight */
    CHECK(rv__koff_blocked(&t));
    CHECK_EQ(rv__koff_done(&t, 3, true), 0);
    CHECK_EQ(rv__koff_watermark(&t), 1);
    CHECK_EQ(rv__koff_done(&t, 1, true), 1); /* 1 can still be committed... */
    CHECK_EQ(rv__koff_watermark(&t), 2);     /* ...but never the failed 2 */
    CHECK_EQ(rv__koff_done(&t, 4, true), 0);
    CHECK_EQ(rv__koff_done(&t, 5, true), 0);
    CHECK_EQ(rv__koff_watermark(&t), 2);
    CHECK_EQ(rv__koff_pending(&t), 0);
    /* Later records after the failure are tracked and forgotten as they end:
     * memory stays bounded by what is in flight. */
    track(&t, 6, 1005);
    for (int64_t o = 6; o <= 1005; o++)
        rv__koff_done(&t, o, true);
    CHECK_EQ(t.n, 0);
    CHECK_EQ(rv__koff_watermark(&t), 2);
    CHECK_EQ(rv__koff_take_commit(&t), 2);
    rv__koff_free(&t);
}

static void test_failed_first(void)
{
    rv__koff_t t;
    rv__koff_init(&t);
    track(&t, 7, 9);
    CHECK_EQ(rv__koff_done(&t, 7, false), 0);
    CHECK_EQ(rv__koff_done(&t, 8, true), 0);
    CHECK_EQ(rv__koff_done(&t, 9, true), 0);
    CHECK_EQ(rv__koff_watermark(&t), -1);
    CHECK_EQ(rv__koff_take_commit(&t), -1);
    rv__koff_free(&t);
}

/* Offsets with gaps (compaction, transaction markers): the watermark is the
 * last done offset + 1, which is what a consumer restarting there needs. */
static void test_gaps(void)
{
    rv__koff_t t;
    rv__koff_init(&t);
    CHECK_EQ(rv__koff_track(&t, 5), RV_OK);
    CHECK_EQ(rv__koff_track(&t, 9), RV_OK);
    CHECK_EQ(rv__koff_track(&t, 20), RV_OK);
    CHECK_EQ(rv__koff_track(&t, 20), RV_ERR_INVALID); /* offsets only increase */
    CHECK_EQ(rv__koff_track(&t, 3), RV_ERR_INVALID);
    CHECK_EQ(rv__koff_done(&t, 9, true), 0);
    CHECK_EQ(rv__koff_done(&t, 5, true), 2);
    CHECK_EQ(rv__koff_watermark(&t), 10);
    CHECK_EQ(rv__koff_done(&t, 6, true), 0); /* never tracked */
    CHECK_EQ(rv__koff_done(&t, 9, true), 0); /* already done */
    CHECK_EQ(rv__koff_done(&t, 20, true), 1);
    CHECK_EQ(rv__koff_watermark(&t), 21);
    rv__koff_free(&t);
}

/* Many in flight, acked in reverse: the ring grows and the binary search
 * finds every record; the watermark jumps once at the end. */
static void test_growth_and_reverse(void)
{
    rv__koff_t t;
    rv__koff_init(&t);
    const int64_t n = 100000;
    track(&t, 0, n - 1);
    for (int64_t o = n - 1; o >= 1; o--)
        CHECK_EQ(rv__koff_done(&t, o, true), 0);
    CHECK_EQ(rv__koff_watermark(&t), -1);
    CHECK_EQ(rv__koff_done(&t, 0, true), (size_t)n);
    CHECK_EQ(rv__koff_watermark(&t), n);
    /* The ring wraps around while it is in use. */
    for (int64_t o = n; o < n + 500; o++) {
        CHECK_EQ(rv__koff_track(&t, o), RV_OK);
        if (o >= n + 3) CHECK_EQ(rv__koff_done(&t, o - 3, true), 1);
    }
    CHECK_EQ(rv__koff_pending(&t), 3);
    CHECK_EQ(rv__koff_watermark(&t), n + 497);
    rv__koff_free(&t);
}

RV_TEST_MAIN(RV_TEST(test_in_order), RV_TEST(test_out_of_order_3_1_2),
             RV_TEST(test_failure_blocks_for_good), RV_TEST(test_failed_first), RV_TEST(test_gaps),
             RV_TEST(test_growth_and_reverse))
