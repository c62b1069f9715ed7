/* rv_collect: keeps every element until the graph is destroyed. */
#include "engine_test_util.h"

static void test_collect_items_readable_after_run(void)
{
    tu_t t;
    tu_init(&t, true, NULL);
    psrc_t src;
    acks_t acks;
    acks_init(&acks, 300);
    rv_stage_t *a = psrc_new(t.g, &src, 300);
    src.acks = &acks;
    src.boxed = true;
    rv_stage_t *c = rv_collect(t.g);
    rv_link(a, c);
    CHECK_EQ(tu_run_all(&t, 1000), RV_OK);
    REQUIRE(rv_collect_count(c) == 300);
    for (size_t i = 0; i < 300; i++)
        CHECK_EQ(box_val(rv_collect_item(c, i)), (int64_t)i);
    CHECK(rv_collect_item(c, 300) == NULL);
    CHECK_EQ(rv_collect_count(NULL), 0);
    /* The collector holds the envelopes: no ack yet. */
    CHECK_EQ(acks.total, 0);
    tu_fini(&t);
    CHECK_EQ(acks.ok, 300);
    acks_free(&acks);
}

/* Failure upstream: what arrived stays collected, the graph fails. */
static void test_collect_upstream_failure(void)
{
    tu_t t;
    tu_init(&t, true, NULL);
    psrc_t src;
    rv_stage_t *a = psrc_new(t.g, &src, 100);
    src.fail_at = 10, src.fail_code = RV_ERR_IO;
    rv_stage_t *c = rv_collect(t.g);
    rv_link(a, c);
    CHECK_EQ(tu_run_all(&t, 1000), RV_ERR_IO);
    CHECK(rv_collect_count(c) <= 10);
    tu_fini(&t);
}

/* Collect takes everything at once: the source runs at its own pace, bounded
 * only by the edge between collector turns. */
static void test_collect_many(void)
{
    tu_t t;
    tu_init(&t, true, "graph.edge.capacity=2", NULL);
    rv_stage_t *c = rv_collect(t.g);
    rv_chain(rv_source_range(t.g, 0, 20000), rv_map(t.g, tu_fn_add_one, NULL, NULL), c, NULL);
    CHECK_EQ(tu_run_all(&t, 2000), RV_OK);
    REQUIRE(rv_collect_count(c) == 20000);
    CHECK_EQ(RV_INT(rv_collect_item(c, 19999)), 20000);
    tu_fini(&t);
}

RV_TEST_MAIN(RV_TEST_T(test_collect_items_readable_after_run, 10),
             RV_TEST_T(test_collect_upstream_failure, 10), RV_TEST_T(test_collect_many, 10))
