/* rv_source_array: emits borrowed items in order, then completes. */
#include "engine_test_util.h"

static int items_storage[100];

/* Normal flow: the very pointers of the array arrive in order, then completion. */
static void test_array_in_order(void)
{
    void *items[100];
    for (int i = 0; i < 100; i++)
        items[i] = &items_storage[i];
    tu_t t;
    tu_init(&t, false, NULL);
    rv_stage_t *src = rv_source_array(t.g, items, 100);
    psink_t s;
    rv_link(src, psink_new(t.g, &s, true));
    CHECK_EQ(tu_run_all(&t, 5000), RV_OK);
    REQUIRE(s.n == 100);
    for (int i = 0; i < 100; i++)
        CHECK(s.ptrs[i] == &items_storage[i]);
    CHECK_EQ(s.finishes, 1);
    CHECK_EQ(s.finish_code, RV_OK);
    CHECK_EQ(s.after_terminal, 0);
    CHECK_EQ(tu_counters(src).out, 100);
    tu_fini(&t);
    psink_free(&s);
}

/* An empty array completes at once. */
static void test_array_empty(void)
{
    tu_t t;
    tu_init(&t, true, NULL);
    psink_t s;
    rv_link(rv_source_array(t.g, NULL, 0), psink_new(t.g, &s, true));
    CHECK_EQ(tu_run_all(&t, 5000), RV_OK);
    CHECK(t.r.done);
    CHECK_EQ(s.n, 0);
    CHECK_EQ(s.finishes, 1);
    tu_fini(&t);
    psink_free(&s);
}

/* Backpressure: with a sink that takes nothing, the source emits exactly the
 * edge's capacity; each element the sink takes lets exactly one more through. */
static void test_array_backpressure(void)
{
    void *items[1000];
    for (int i = 0; i < 1000; i++)
        items[i] = RV_PTR(i);
    tu_t t;
    tu_init(&t, true, "graph.edge.capacity=8", NULL);
    rv_stage_t *src = rv_source_array(t.g, items, 1000);
    psink_t s;
    rv_link(src, psink_new(t.g, &s, false));
    REQUIRE(tu_start(&t) == RV_OK);
    tu_settle(&t);
    CHECK_EQ(tu_counters(src).out, 8);
    CHECK_EQ(s.n, 0);
    psink_grant(&s, 5);
    tu_settle(&t);
    CHECK_EQ(s.n, 5);
    CHECK_EQ(tu_counters(src).out, 13);
    CHECK(s.max_avail <= 8);
    CHECK(!t.r.done);
    psink_grant(&s, 2000);
    tu_settle(&t);
    CHECK(t.r.done);
    CHECK(psink_is_range(&s, 0, 1000));
    CHECK(s.max_avail <= 8);
    tu_fini(&t);
    psink_free(&s);
}

/* Cancellation: the sink cancels after 3 elements; the source stops (it does
 * not emit the rest) and the graph completes successfully. */
static void test_array_cancel(void)
{
    void *items[1000];
    for (int i = 0; i < 1000; i++)
        items[i] = RV_PTR(i);
    tu_t t;
    tu_init(&t, true, "graph.edge.capacity=4", NULL);
    rv_stage_t *src = rv_source_array(t.g, items, 1000);
    psink_t s;
    rv_link(src, psink_new(t.g, &s, true));
    s.cancel_after = 3;
    CHECK_EQ(tu_run_all(&t, 5000), RV_OK);
    CHECK_EQ(s.n, 3);
    CHECK(rv_stage_finished(src));
    CHECK(tu_counters(src).out <= 3 + 4);
    tu_fini(&t);
    psink_free(&s);
}

/* Failure downstream: a failing map cancels the source, and the graph reports
 * the map's error. */
static rv_err_t fail_on_5(void *in, void **out, rv_error_t **errp, void *opaque)
{
    if (RV_INT(in) == 5) return rv_error_set(errp, RV_ERR_DECODE, false, "bad element 5");
    *out = in;
    return RV_OK;
}

static void test_array_downstream_failure(void)
{
    void *items[1000];
    for (int i = 0; i < 1000; i++)
        items[i] = RV_PTR(i);
    tu_t t;
    tu_init(&t, true, "graph.edge.capacity=4", NULL);
    rv_stage_t *src = rv_source_array(t.g, items, 1000);
    psink_t s;
    rv_chain(src, rv_map(t.g, fail_on_5, NULL, NULL), psink_new(t.g, &s, true), NULL);
    CHECK_EQ(tu_run_all(&t, 5000), RV_ERR_DECODE);
    CHECK(strstr(t.r.msg, "bad element 5") != NULL);
    CHECK(rv_stage_finished(src));
    CHECK(tu_counters(src).out < 20);
    CHECK_EQ(s.finish_code, RV_ERR_DECODE);
    CHECK(s.n <= 5);
    tu_fini(&t);
    psink_free(&s);
}

RV_TEST_MAIN(RV_TEST_T(test_array_in_order, 10), RV_TEST_T(test_array_empty, 10),
             RV_TEST_T(test_array_backpressure, 10), RV_TEST_T(test_array_cancel, 10),
             RV_TEST_T(test_array_downstream_failure, 10))
