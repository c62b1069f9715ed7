/* rv_grouped_within: a group leaves when it holds n elements or when `ms`
 * passed since its first element, in virtual time. */
#include "engine_test_util.h"

typedef struct {
    tu_t *t;
    int ngroups;
    size_t sizes[1000];
    int64_t first[1000];
    uint64_t at[1000];
} groups_t;

static void record_group(void *opaque, rv_env_t *env)
{
    groups_t *gs = opaque;
    const rv_group_t *grp = rv_env_payload(env);
    int k = gs->ngroups++;
    gs->sizes[k] = grp->n;
    gs->first[k] = grp->n ? RV_INT(rv_env_payload(grp->items[0])) : -1;
    gs->at[k] = rv_clock_now(gs->t->clock);
}

typedef struct {
    tu_t t;
    psrc_t src;
    psink_t s;
    groups_t gs;
    rv_stage_t *gw;
} fixture_t;

static void setup(fixture_t *f, size_t n, uint64_t ms, bool sink_unlimited)
{
    memset(f, 0, sizeof(*f));
    tu_init(&f->t, true, "graph.edge.capacity=2", NULL);
    rv_stage_t *a = psrc_new(f->t.g, &f->src, -1);
    f->src.credit_mode = true;
    f->gw = rv_grouped_within(f->t.g, n, ms);
    rv_chain(a, f->gw, psink_new(f->t.g, &f->s, sink_unlimited), NULL);
    f->s.on_elem = record_group;
    f->s.opaque = &f->gs;
    f->gs.t = &f->t;
    REQUIRE(tu_start(&f->t) == RV_OK);
}

static void teardown(fixture_t *f)
{
    tu_fini(&f->t);
    psink_free(&f->s);
}

/* A group of 2 (< n) leaves exactly `ms` after its first element. */
static void test_within_time_limit(void)
{
    fixture_t f;
    setup(&f, 5, 100, true);
    tu_advance(&f.t, 10);
    psrc_grant(&f.src, 1);
    tu_advance(&f.t, 30);
    psrc_grant(&f.src, 1);
    tu_advance(&f.t, 69);
    CHECK_EQ(f.gs.ngroups, 0); /* t = 109 */
    tu_advance(&f.t, 1);
    REQUIRE(f.gs.ngroups == 1); /* t = 110 = 10 + 100 */
    CHECK_EQ(f.gs.sizes[0], 2);
    CHECK_EQ(f.gs.at[0], 110);
    /* No element, no group, however long. */
    tu_advance(&f.t, 10000);
    CHECK_EQ(f.gs.ngroups, 1);
    /* The next group's clock starts at its own first element. */
    psrc_grant(&f.src, 1);
    tu_advance(&f.t, 100);
    REQUIRE(f.gs.ngroups == 2);
    CHECK_EQ(f.gs.at[1], 10110 + 100);
    CHECK_EQ(f.gs.first[1], 2);
    rv_graph_stop(f.t.g);
    tu_settle(&f.t);
    CHECK(f.t.r.done);
    teardown(&f);
}

/* A full group leaves at once, before its time; the rest waits for its time. */
static void test_within_size_limit(void)
{
    fixture_t f;
    setup(&f, 3, 100, true);
    psrc_grant(&f.src, 5);
    tu_settle(&f.t);
    REQUIRE(f.gs.ngroups == 1);
    CHECK_EQ(f.gs.sizes[0], 3);
    CHECK_EQ(f.gs.at[0], 0);
    tu_advance(&f.t, 99);
    CHECK_EQ(f.gs.ngroups, 1);
    tu_advance(&f.t, 1);
    REQUIRE(f.gs.ngroups == 2);
    CHECK_EQ(f.gs.sizes[1], 2);
    CHECK_EQ(f.gs.first[1], 3);
    rv_graph_stop(f.t.g);
    tu_settle(&f.t);
    teardown(&f);
}

/* Completion flushes the partial group at once, without waiting. */
static void test_within_completion_flushes(void)
{
    fixture_t f;
    setup(&f, 10, 1000, true);
    psrc_grant(&f.src, 4);
    tu_advance(&f.t, 5);
    CHECK_EQ(f.gs.ngroups, 0);
    rv_graph_stop(f.t.g); /* the source completes */
    tu_settle(&f.t);
    REQUIRE(f.gs.ngroups == 1);
    CHECK_EQ(f.gs.sizes[0], 4);
    CHECK_EQ(f.gs.at[0], 5);
    CHECK(f.t.r.done);
    CHECK_EQ(f.t.r.code, RV_OK);
    teardown(&f);
}

/* Backpressure: a timed-out group waits for room, and meanwhile the stage
 * takes no more elements than its group (and its input edge) can hold. */
static void test_within_backpressure(void)
{
    fixture_t f;
    setup(&f, 3, 50, false);
    psrc_grant(&f.src, 1000);
    tu_advance(&f.t, 1000);
    /* 2 groups in the sink's edge, a ready group held, 2 on the input edge. */
    CHECK_EQ(f.src.emitted, 3 + 3 + 3 + 2);
    CHECK_EQ(tu_counters(f.gw).in_flight, 3);
    psink_grant(&f.s, 1);
    tu_advance(&f.t, 0);
    CHECK_EQ(f.src.emitted, 3 + 3 + 3 + 2 + 3);
    psink_grant(&f.s, 100000);
    tu_advance(&f.t, 1000);
    CHECK_EQ(f.src.emitted, 1000);
    rv_graph_stop(f.t.g);
    tu_advance(&f.t, 1000);
    CHECK(f.t.r.done);
    size_t total = 0;
    for (int k = 0; k < f.gs.ngroups; k++)
        total += f.gs.sizes[k];
    CHECK_EQ(total, 1000);
    teardown(&f);
}

/* Failure upstream while a group waits for its time: the members are failed,
 * and the timer does not emit anything afterwards. */
static void test_within_failure(void)
{
    fixture_t f;
    memset(&f, 0, sizeof(f));
    tu_init(&f.t, true, NULL);
    acks_t acks;
    acks_init(&acks, 10);
    rv_stage_t *a = psrc_new(f.t.g, &f.src, 10);
    f.src.credit_mode = true;
    f.src.fail_at = 2;
    f.src.acks = &acks;
    rv_chain(a, rv_grouped_within(f.t.g, 5, 100), psink_new(f.t.g, &f.s, true), NULL);
    f.s.on_elem = record_group;
    f.s.opaque = &f.gs;
    f.gs.t = &f.t;
    REQUIRE(tu_start(&f.t) == RV_OK);
    psrc_grant(&f.src, 2);
    tu_advance(&f.t, 10);
    psrc_grant(&f.src, 1);
    tu_advance(&f.t, 1000);
    CHECK(f.t.r.done);
    CHECK_EQ(f.t.r.code, RV_ERR_IO);
    CHECK_EQ(f.gs.ngroups, 0);
    CHECK_EQ(acks.total, 2);
    CHECK_EQ(acks.ok, 0);
    teardown(&f);
    acks_free(&acks);
}

RV_TEST_MAIN(RV_TEST_T(test_within_time_limit, 10), RV_TEST_T(test_within_size_limit, 10),
             RV_TEST_T(test_within_completion_flushes, 10), RV_TEST_T(test_within_backpressure, 10),
             RV_TEST_T(test_within_failure, 10))
