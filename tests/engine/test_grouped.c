/* rv_grouped: groups of n elements (the last may be smaller), each travelling
 * in a joined envelope that releases its members with it. */
#include "engine_test_util.h"

typedef struct {
    int ngroups;
    size_t sizes[1000];
    int64_t members[1000][8];
    int meta_violations;
} groups_t;

static void record_group(void *opaque, rv_env_t *env)
{
    groups_t *gs = opaque;
    const rv_group_t *grp = rv_env_payload(env);
    int k = gs->ngroups++;
    gs->sizes[k] = grp->n;
    for (size_t i = 0; i < grp->n && i < 8; i++)
        gs->members[k][i] = RV_INT(rv_env_payload(grp->items[i]));
    if (grp->n > 0 && rv_env_meta(env)->offset != rv_env_meta(grp->items[0])->offset)
        gs->meta_violations++;
}

static void test_grouped_sizes_and_members(void)
{
    tu_t t;
    tu_init(&t, true, NULL);
    psrc_t src;
    acks_t acks;
    acks_init(&acks, 10);
    psink_t s;
    groups_t gs = {0};
    rv_stage_t *a = psrc_new(t.g, &src, 10);
    src.acks = &acks;
    rv_chain(a, rv_grouped(t.g, 3), psink_new(t.g, &s, true), NULL);
    s.on_elem = record_group;
    s.opaque = &gs;
    CHECK_EQ(tu_run_all(&t, 1000), RV_OK);
    REQUIRE(gs.ngroups == 4);
    const size_t sizes[] = {3, 3, 3, 1};
    int64_t next = 0;
    for (int k = 0; k < 4; k++) {
        CHECK_EQ(gs.sizes[k], sizes[k]);
        for (size_t i = 0; i < gs.sizes[k]; i++)
            CHECK_EQ(gs.members[k][i], next++);
    }
    CHECK_EQ(gs.meta_violations, 0);
    CHECK_EQ(acks.ok, 10);
    CHECK_EQ(s.finishes, 1);
    tu_fini(&t);
    acks_free(&acks);
    psink_free(&s);
}

/* Backpressure: with the sink taking nothing, the stage holds one ready
 * group and stops pulling. */
static void test_grouped_backpressure(void)
{
    tu_t t;
    tu_init(&t, true, "graph.edge.capacity=2", NULL);
    psrc_t src;
    psink_t s;
    groups_t gs = {0};
    rv_stage_t *gr = rv_grouped(t.g, 3);
    rv_chain(psrc_new(t.g, &src, 1000), gr, psink_new(t.g, &s, false), NULL);
    s.on_elem = record_group;
    s.opaque = &gs;
    REQUIRE(tu_start(&t) == RV_OK);
    tu_settle(&t);
    /* 2 groups in the sink's edge, one ready group held, 2 on the input edge. */
    CHECK_EQ(src.emitted, 2 * 3 + 3 + 2);
    CHECK_EQ(tu_counters(gr).in_flight, 3);
    for (int i = 0; i < 40; i++) {
        psink_grant(&s, 1);
        tu_settle(&t);
        CHECK(src.emitted <= 3 * (int64_t)s.n + 11);
    }
    psink_grant(&s, 1000);
    tu_settle(&t);
    CHECK(t.r.done);
    CHECK_EQ(gs.ngroups, 334);
    tu_fini(&t);
    psink_free(&s);
}

/* Upstream failure: the partial group is released as failed, at once, and
 * the sink hears the failure. Downstream cancel: the source is cancelled and
 * the partial group is released as failed too. */
static void test_grouped_failure_and_cancel(void)
{
    for (int mode = 0; mode < 2; mode++) {
        tu_t t;
        tu_init(&t, true, NULL);
        psrc_t src;
        acks_t acks;
        acks_init(&acks, 100);
        psink_t s;
        rv_stage_t *a = psrc_new(t.g, &src, 100);
        src.acks = &acks;
        if (mode == 0) src.fail_at = 7, src.fail_code = RV_ERR_IO;
        rv_stage_t *gr = rv_grouped(t.g, 3);
        rv_chain(a, gr, psink_new(t.g, &s, true), NULL);
        if (mode == 1) s.cancel_after = 2;
        rv_err_t rc = tu_run_all(&t, 1000);
        CHECK(rv_stage_finished(gr));
        if (mode == 0) {
            CHECK_EQ(rc, RV_ERR_IO);
            CHECK_EQ(s.finish_code, RV_ERR_IO);
            CHECK(acks.calls[6] == 1 && acks.status[6] != RV_OK); /* the partial group [6] */
        } else {
            CHECK_EQ(rc, RV_OK);
            CHECK_EQ(s.n, 2);
            CHECK_EQ(src.cancels, 1);
        }
        /* Nothing is left held once the graph is done. */
        CHECK_EQ(acks.total, (int)src.emitted);
        CHECK_EQ(acks.ok, (int)s.n * 3);
        tu_fini(&t);
        CHECK(acks_at_most_once(&acks));
        acks_free(&acks);
        psink_free(&s);
    }
}

static void test_grouped_size_zero(void)
{
    tu_t t;
    tu_init(&t, true, NULL);
    CHECK(rv_grouped(t.g, 0) == NULL);
    rv_link(rv_source_range(t.g, 0, 1), rv_ignore(t.g));
    CHECK_EQ(tu_start(&t), RV_ERR_INVALID);
    CHECK(strstr(t.r.msg, "group size must be > 0") != NULL);
    tu_fini(&t);
}

RV_TEST_MAIN(RV_TEST_T(test_grouped_sizes_and_members, 10),
             RV_TEST_T(test_grouped_backpressure, 10),
             RV_TEST_T(test_grouped_failure_and_cancel, 10), RV_TEST_T(test_grouped_size_zero, 10))
