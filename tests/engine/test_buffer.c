/* rv_buffer and its overflow strategies. The setup: a source of 20, a buffer
 * of 4, and a sink edge of capacity 2 whose sink takes nothing until the
 * source is done; then the sink takes everything. */
#include "engine_test_util.h"

typedef struct {
    tu_t t;
    psrc_t src;
    acks_t acks;
    psink_t s;
    rv_stage_t *b;
} fixture_t;

static void setup(fixture_t *f, rv_overflow_t strategy, int64_t n)
{
    tu_init(&f->t, true, "graph.edge.capacity=2", NULL);
    acks_init(&f->acks, (size_t)n);
    rv_stage_t *a = psrc_new(f->t.g, &f->src, n);
    f->src.acks = &f->acks;
    f->src.boxed = true;
    f->b = rv_buffer(f->t.g, 4, strategy);
    rv_chain(a, f->b, psink_new(f->t.g, &f->s, false), NULL);
    f->s.boxed = true;
}

/* Destroys the graph (the buffer releases what it still holds) and checks
 * that every element was acked exactly once; free with release(). */
static void teardown(fixture_t *f)
{
    tu_fini(&f->t);
    CHECK(acks_at_most_once(&f->acks));
    CHECK_EQ(f->acks.total, (int)f->src.emitted);
}

static void release(fixture_t *f)
{
    acks_free(&f->acks);
    psink_free(&f->s);
}

static void check_seen(fixture_t *f, const int64_t *expect, size_t n)
{
    CHECK_EQ(f->s.n, n);
    for (size_t i = 0; i < n && i < f->s.n; i++)
        if (f->s.vals[i] != expect[i])
            rv_test_fail_at(__FILE__, __LINE__, "element %zu is %" PRId64 ", expected %" PRId64, i,
                            f->s.vals[i], expect[i]);
}

/* Backpressure: nothing dropped; the source is held back at exactly the room
 * on the way (2 + 4 + 2). */
static void test_buffer_backpressure(void)
{
    fixture_t f;
    setup(&f, RV_OVERFLOW_BACKPRESSURE, 20);
    REQUIRE(tu_start(&f.t) == RV_OK);
    tu_settle(&f.t);
    CHECK_EQ(f.src.emitted, 8);
    CHECK_EQ(tu_counters(f.b).in_flight, 4);
    psink_grant(&f.s, 100);
    tu_settle(&f.t);
    CHECK(f.t.r.done);
    CHECK_EQ(f.t.r.code, RV_OK);
    CHECK(psink_is_range(&f.s, 0, 20));
    CHECK_EQ(f.acks.ok, 20);
    teardown(&f);
    release(&f);
}

static void test_buffer_drop_head(void)
{
    fixture_t f;
    setup(&f, RV_OVERFLOW_DROP_HEAD, 20);
    REQUIRE(tu_start(&f.t) == RV_OK);
    tu_settle(&f.t);
    CHECK_EQ(f.src.emitted, 20); /* it kept pulling */
    psink_grant(&f.s, 100);
    tu_settle(&f.t);
    CHECK(f.t.r.done);
    const int64_t expect[] = {0, 1, 16, 17, 18, 19}; /* the newest four were kept */
    check_seen(&f, expect, 6);
    CHECK_EQ(tu_counters(f.b).failures, 14);
    for (int i = 2; i < 16; i++)
        CHECK_EQ(f.acks.status[i], RV_ERR_OVERFLOW);
    CHECK_EQ(f.acks.ok, 6);
    teardown(&f);
    release(&f);
}

static void test_buffer_drop_tail(void)
{
    fixture_t f;
    setup(&f, RV_OVERFLOW_DROP_TAIL, 20);
    REQUIRE(tu_start(&f.t) == RV_OK);
    tu_settle(&f.t);
    psink_grant(&f.s, 100);
    tu_settle(&f.t);
    CHECK(f.t.r.done);
    const int64_t expect[] = {0, 1, 2, 3, 4, 19}; /* the newest replaced the last each time */
    check_seen(&f, expect, 6);
    for (int i = 5; i < 19; i++)
        CHECK_EQ(f.acks.status[i], RV_ERR_OVERFLOW);
    CHECK_EQ(f.acks.ok, 6);
    teardown(&f);
    release(&f);
}

static void test_buffer_drop_new(void)
{
    fixture_t f;
    setup(&f, RV_OVERFLOW_DROP_NEW, 20);
    REQUIRE(tu_start(&f.t) == RV_OK);
    tu_settle(&f.t);
    psink_grant(&f.s, 100);
    tu_settle(&f.t);
    CHECK(f.t.r.done);
    const int64_t expect[] = {0, 1, 2, 3, 4, 5}; /* arrivals at a full buffer were dropped */
    check_seen(&f, expect, 6);
    for (int i = 6; i < 20; i++)
        CHECK_EQ(f.acks.status[i], RV_ERR_OVERFLOW);
    CHECK_EQ(f.acks.ok, 6);
    teardown(&f);
    release(&f);
}

/* Fail: the stream fails with RV_ERR_OVERFLOW when the buffer would overflow;
 * the sink hears the failure; nothing in the buffer is acked OK. */
static void test_buffer_fail(void)
{
    fixture_t f;
    setup(&f, RV_OVERFLOW_FAIL, 20);
    REQUIRE(tu_start(&f.t) == RV_OK);
    tu_settle(&f.t);
    CHECK(f.t.r.done);
    CHECK_EQ(f.t.r.code, RV_ERR_OVERFLOW);
    CHECK(strstr(f.t.r.msg, "buffer of 4 overflowed") != NULL);
    CHECK_EQ(f.s.finish_code, RV_ERR_OVERFLOW);
    CHECK_EQ(f.src.cancels, 1);
    /* Everything is failed by now, not only when the graph is destroyed. */
    CHECK_EQ(f.acks.total, (int)f.src.emitted);
    CHECK_EQ(tu_counters(f.b).in_flight, 0);
    psink_grant(&f.s, 100);
    tu_settle(&f.t);
    CHECK_EQ(f.s.n, 0);
    teardown(&f);
    CHECK_EQ(f.acks.ok, 0);
    CHECK_EQ(f.acks.status[6], RV_ERR_OVERFLOW);
    CHECK_EQ(f.acks.status[0], RV_ERR_OVERFLOW);  /* in the sink's edge */
    CHECK_EQ(f.acks.status[2], RV_ERR_CANCELLED); /* held in the buffer when it failed */
    release(&f);
}

/* Completion: upstream completes while the buffer holds elements; they are
 * all delivered before the sink sees completion. */
static void test_buffer_completion_flushes(void)
{
    fixture_t f;
    setup(&f, RV_OVERFLOW_BACKPRESSURE, 6);
    REQUIRE(tu_start(&f.t) == RV_OK);
    tu_settle(&f.t);
    CHECK(rv_stage_finished(f.src.st));
    CHECK(!rv_stage_finished(f.b));
    CHECK_EQ(f.s.finishes, 0);
    psink_grant(&f.s, 1);
    tu_settle(&f.t);
    CHECK_EQ(f.s.finishes, 0);
    psink_grant(&f.s, 5);
    tu_settle(&f.t);
    CHECK_EQ(f.s.finishes, 1);
    CHECK(psink_is_range(&f.s, 0, 6));
    CHECK(f.t.r.done);
    teardown(&f);
    release(&f);
}

/* Upstream failure and downstream cancel; abort releases the buffered
 * elements as failed. */
static void test_buffer_failure_cancel_abort(void)
{
    for (int mode = 0; mode < 3; mode++) {
        fixture_t f;
        setup(&f, RV_OVERFLOW_BACKPRESSURE, 100);
        if (mode == 0) f.src.fail_at = 7, f.src.fail_code = RV_ERR_IO;
        if (mode == 1) f.s.cancel_after = 3;
        REQUIRE(tu_start(&f.t) == RV_OK);
        tu_settle(&f.t);
        if (mode == 2) {
            CHECK_EQ(tu_counters(f.b).in_flight, 4);
            rv_graph_abort(f.t.g);
        }
        psink_grant(&f.s, 100);
        tu_settle(&f.t);
        CHECK(f.t.r.done);
        CHECK(rv_stage_finished(f.b));
        CHECK_EQ(f.acks.total, (int)f.src.emitted); /* nothing left held */
        if (mode == 0) {
            CHECK_EQ(f.t.r.code, RV_ERR_IO);
            CHECK_EQ(f.s.finish_code, RV_ERR_IO);
        } else if (mode == 1) {
            CHECK_EQ(f.t.r.code, RV_OK);
            CHECK_EQ(f.s.n, 3);
            CHECK_EQ(f.src.cancels, 1);
        } else {
            CHECK_EQ(f.t.r.code, RV_ERR_CANCELLED);
            CHECK_EQ(f.acks.ok, 0);
            CHECK_EQ(f.acks.total, (int)f.src.emitted); /* all released at the abort */
        }
        teardown(&f);
        CHECK_EQ(f.acks.ok, (int)f.s.n);
        release(&f);
    }
}

static void test_buffer_size_zero(void)
{
    tu_t t;
    tu_init(&t, true, NULL);
    CHECK(rv_buffer(t.g, 0, RV_OVERFLOW_DROP_NEW) == NULL);
    rv_link(rv_source_range(t.g, 0, 1), rv_ignore(t.g));
    CHECK_EQ(tu_start(&t), RV_ERR_INVALID);
    tu_fini(&t);
}

RV_TEST_MAIN(RV_TEST_T(test_buffer_backpressure, 10), RV_TEST_T(test_buffer_drop_head, 10),
             RV_TEST_T(test_buffer_drop_tail, 10), RV_TEST_T(test_buffer_drop_new, 10),
             RV_TEST_T(test_buffer_fail, 10), RV_TEST_T(test_buffer_completion_flushes, 10),
             RV_TEST_T(test_buffer_failure_cancel_abort, 10), RV_TEST_T(test_buffer_size_zero, 10))
