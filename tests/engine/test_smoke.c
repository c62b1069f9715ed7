/* A first end-to-end check of the engine: source -> map -> broadcast -> sinks. */
#include "engine_test_util.h"

static rv_err_t add_one(void *in, void **out, rv_error_t **errp, void *opaque)
{
    *out = RV_PTR(RV_INT(in) + 1);
    return RV_OK;
}

static rv_err_t sum_each(void *in, rv_error_t **errp, void *opaque)
{
    *(int64_t *)opaque += RV_INT(in);
    return RV_OK;
}

static void test_linear_and_broadcast(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    rv_graph_t *g = rv_graph_new(&loop, NULL, NULL);
    int64_t s1 = 0, s2 = 0;
    rv_stage_t *src = rv_source_range(g, 0, 100000);
    rv_stage_t *m = rv_map(g, add_one, NULL, NULL);
    rv_stage_t *b = rv_broadcast(g, 2, false);
    rv_chain(src, m, b, NULL);
    rv_link(b, rv_for_each(g, sum_each, &s1));
    rv_link(b, rv_for_each(g, sum_each, &s2));
    run_result_t r = {0};
    CHECK_EQ(tu_run(g, &r, 10000), RV_OK);
    CHECK_EQ(s1, 100000LL * 100001 / 2);
    CHECK_EQ(s2, s1);
    tu_destroy(g);
    CHECK_EQ(uv_loop_close(&loop), 0);
    TU_LEAK_CHECK();
}

RV_TEST_MAIN(RV_TEST(test_linear_and_broadcast))
