/* rv_restart_source: a source re-made with exponential backoff after it fails
 * (or completes), in virtual time. */
#include "engine_test_util.h"

typedef struct {
    tu_t *t;
    int made;
    uint64_t made_at[64];
    int attempts[64];
    int64_t per_run;     /* elements each inner source emits before it ends */
    int fail_runs;       /* the first fail_runs inner sources fail; later ones complete */
    bool forever;        /* inner sources never end by themselves */
    bool return_null_at; /* the factory returns NULL on its 3rd call */
    bool credit;         /* inner sources emit only once the test lets them */
    acks_t *acks;
    psrc_t inner[64];
} factory_t;

static rv_stage_t *factory(rv_graph_t *g, int attempt, void *opaque)
{
    factory_t *f = opaque;
    int k = f->made;
    if (f->return_null_at && k == 2) return NULL;
    f->made_at[k] = rv_clock_now(f->t->clock);
    f->attempts[k] = attempt;
    f->made++;
    rv_stage_t *st = psrc_new(g, &f->inner[k], f->forever ? -1 : f->per_run);
    f->inner[k].topic = "inner";
    f->inner[k].credit_mode = f->credit;
    f->inner[k].acks = f->acks;
    if (k < f->fail_runs && !f->forever) {
        f->inner[k].n = -1;
        f->inner[k].fail_at = f->per_run;
        f->inner[k].fail_code = RV_ERR_UNAVAILABLE;
    }
    return st;
}

/* Failing sources are re-made after min(max, min * 2^n) ms; once one
 * completes, so does the stream, with status OK although earlier inner
 * sources failed. Elements of every run reach the sink in one stream. */
static void test_restart_after_failures_then_complete(void)
{
    tu_t t;
    tu_init(&t, true, "graph.edge.capacity=64", NULL);
    factory_t f = {.t = &t, .per_run = 3, .fail_runs = 4};
    rv_backoff_t bo = {.min_ms = 100, .max_ms = 10000, .random_factor = 0, .max_retries = 10};
    psink_t s;
    rv_stage_t *r = rv_restart_source(t.g, factory, &f, &bo, true);
    rv_link(r, psink_new(t.g, &s, true));
    REQUIRE(tu_start(&t) == RV_OK);
    for (int ms = 0; ms < 5000 && !t.r.done; ms += 10)
        tu_advance(&t, 10);
    CHECK(t.r.done);
    CHECK_EQ(t.r.code, RV_OK); /* recovered: the inner failures are not the graph's */
    CHECK_EQ(f.made, 5);
    const uint64_t expect[] = {0, 100, 300, 700, 1500};
    for (int i = 0; i < 5; i++) {
        CHECK_EQ(f.made_at[i], expect[i]);
        CHECK_EQ(f.attempts[i], i);
    }
    /* The elements that the last source emitted arrived, and the stream
     * completed once (elements buffered by a failing run may be lost: they are
     * failed, so an at-least-once source re-reads them). */
    CHECK(s.n >= 3);
    CHECK_EQ(s.finishes, 1);
    CHECK_EQ(s.finish_code, RV_OK);
    CHECK_EQ(s.after_terminal, 0);
    tu_fini(&t);
    psink_free(&s);
}

/* Gives up after max_retries restarts with the last error. */
static void test_restart_gives_up(void)
{
    tu_t t;
    tu_init(&t, true, NULL);
    factory_t f = {.t = &t, .per_run = 1, .fail_runs = 100};
    rv_backoff_t bo = {.min_ms = 10, .max_ms = 1000, .random_factor = 0, .max_retries = 3};
    psink_t s;
    rv_link(rv_restart_source(t.g, factory, &f, &bo, true), psink_new(t.g, &s, true));
    REQUIRE(tu_start(&t) == RV_OK);
    tu_advance(&t, 10000);
    CHECK(t.r.done);
    CHECK_EQ(t.r.code, RV_ERR_UNAVAILABLE);
    CHECK(strstr(t.r.msg, "gave up after 3 restarts") != NULL);
    CHECK_EQ(f.made, 4);
    CHECK_EQ(s.finish_code, RV_ERR_UNAVAILABLE);
    tu_fini(&t);
    psink_free(&s);
}

/* The clock is set after the stages were built (allowed: "before run"); the
 * attempt count still works from the run's time. */
static void test_restart_clock_set_after_build(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    rv_graph_t *g = rv_graph_new(&loop, NULL, NULL);
    tu_t t = {0};
    t.clock = rv_clock_virtual_new(0);
    factory_t f = {.t = &t, .per_run = 1, .fail_runs = 100};
    rv_backoff_t bo = {.min_ms = 10, .max_ms = 1000, .random_factor = 0, .max_retries = 2};
    psink_t s;
    rv_link(rv_restart_source(g, factory, &f, &bo, true), psink_new(g, &s, true));
    rv_graph_set_clock(g, t.clock);
    run_result_t r = {0};
    REQUIRE(rv_graph_run(g, tu_done, &r, NULL) == RV_OK);
    rv_clock_advance(t.clock, 10000);
    CHECK(r.done);
    CHECK_EQ(r.code, RV_ERR_UNAVAILABLE);
    CHECK_EQ(f.made, 3);
    if (!r.done) rv_graph_abort(g);
    tu_destroy(g);
    CHECK_EQ(uv_loop_close(&loop), 0);
    TU_LEAK_CHECK();
    rv_clock_destroy(t.clock);
    psink_free(&s);
}

/* The attempt count resets once a source ran for max_ms without failing. */
static void test_restart_attempts_reset(void)
{
    tu_t t;
    tu_init(&t, true, NULL);
    factory_t f = {.t = &t, .per_run = 1, .fail_runs = 100, .credit = true};
    rv_backoff_t bo = {.min_ms = 10, .max_ms = 100, .random_factor = 0, .max_retries = 2};
    psink_t s;
    rv_link(rv_restart_source(t.g, factory, &f, &bo, true), psink_new(t.g, &s, true));
    REQUIRE(tu_start(&t) == RV_OK);
    /* Runs 0 and 1 fail at once; run 2 lives 500 ms (> max_ms) and then
     * fails: the count resets, so two more restarts follow although
     * max_retries is 2. */
    for (int k = 0; k < 8 && !t.r.done; k++) {
        for (int i = 0; i < 1000 && f.made <= k && !t.r.done; i++)
            tu_advance(&t, 1);
        if (f.made <= k) break;
        if (k == 2) tu_advance(&t, 500);
        f.inner[k].credit_mode = false; /* let it emit its element and fail */
        rv_stage_wake(f.inner[k].st);
        tu_settle(&t);
    }
    CHECK(t.r.done);
    CHECK_EQ(t.r.code, RV_ERR_UNAVAILABLE);
    REQUIRE(f.made == 5);
    const uint64_t expect[] = {0, 10, 30, 540, 560};
    for (int i = 0; i < 5; i++)
        CHECK_EQ(f.made_at[i], expect[i]);
    tu_fini(&t);
    psink_free(&s);
}

/* on_failure_only = false: a completed source is re-made too. */
static void test_restart_after_completion(void)
{
    tu_t t;
    tu_init(&t, true, NULL);
    factory_t f = {.t = &t, .per_run = 2};
    rv_backoff_t bo = {.min_ms = 5, .max_ms = 1000, .random_factor = 0, .max_retries = 3};
    psink_t s;
    rv_link(rv_restart_source(t.g, factory, &f, &bo, false), psink_new(t.g, &s, true));
    REQUIRE(tu_start(&t) == RV_OK);
    tu_advance(&t, 1000);
    CHECK(t.r.done);
    CHECK_EQ(t.r.code, RV_OK);
    CHECK_EQ(f.made, 4);
    CHECK_EQ(s.n, 8); /* nothing lost: completion keeps what was buffered */
    CHECK_EQ(f.made_at[1], 5);
    CHECK_EQ(f.made_at[2], 15);
    CHECK_EQ(f.made_at[3], 35);
    tu_fini(&t);
    psink_free(&s);
}

/* with on_failure_only, a completing source completes the stream at once. */
static void test_restart_on_failure_only_completes(void)
{
    tu_t t;
    tu_init(&t, true, NULL);
    factory_t f = {.t = &t, .per_run = 5};
    rv_backoff_t bo = {.min_ms = 5, .max_ms = 1000, .random_factor = 0, .max_retries = 3};
    psink_t s;
    rv_link(rv_restart_source(t.g, factory, &f, &bo, true), psink_new(t.g, &s, true));
    CHECK_EQ(tu_run_all(&t, 1000), RV_OK);
    CHECK_EQ(f.made, 1);
    CHECK(psink_is_range(&s, 0, 5));
    tu_fini(&t);
    psink_free(&s);
}

/* Graceful stop during a backoff: no new source, the stream completes.
 * Graceful stop while a source runs: it drains, and no restart follows. */
static void test_restart_graceful_stop(void)
{
    for (int during_backoff = 0; during_backoff < 2; during_backoff++) {
        tu_t t;
        tu_init(&t, true, NULL);
        factory_t f = {.t = &t,
                       .per_run = 1,
                       .fail_runs = during_backoff ? 100 : 0,
                       .forever = !during_backoff};
        rv_backoff_t bo = {.min_ms = 100, .max_ms = 1000, .random_factor = 0, .max_retries = 5};
        psink_t s;
        rv_link(rv_restart_source(t.g, factory, &f, &bo, false), psink_new(t.g, &s, false));
        REQUIRE(tu_start(&t) == RV_OK);
        tu_advance(&t, 50);
        CHECK_EQ(f.made, 1);
        rv_graph_stop(t.g);
        psink_grant(&s, 1000);
        tu_advance(&t, 5000);
        CHECK(t.r.done);
        CHECK_EQ(t.r.code, RV_OK);
        CHECK_EQ(f.made, 1);
        if (!during_backoff) CHECK_EQ(f.inner[0].drains, 1);
        tu_fini(&t);
        psink_free(&s);
    }
}

/* Downstream cancels: the running inner source is cancelled, no restart. */
static void test_restart_cancel(void)
{
    tu_t t;
    tu_init(&t, true, NULL);
    factory_t f = {.t = &t, .forever = true};
    rv_backoff_t bo = {.min_ms = 100, .max_ms = 1000, .random_factor = 0, .max_retries = 5};
    psink_t s;
    rv_link(rv_restart_source(t.g, factory, &f, &bo, false), psink_new(t.g, &s, true));
    s.cancel_after = 10;
    REQUIRE(tu_start(&t) == RV_OK);
    tu_advance(&t, 5000);
    CHECK(t.r.done);
    CHECK_EQ(t.r.code, RV_OK);
    CHECK_EQ(f.made, 1);
    CHECK_EQ(f.inner[0].cancels, 1);
    CHECK_EQ(s.n, 10);
    tu_fini(&t);
    psink_free(&s);
}

/* Backpressure: the restart stage passes on only what its output has room
 * for; the inner source is bounded by the two edges. */
static void test_restart_backpressure(void)
{
    tu_t t;
    tu_init(&t, true, "graph.edge.capacity=4", NULL);
    factory_t f = {.t = &t, .forever = true};
    rv_backoff_t bo = {.min_ms = 100, .max_ms = 1000, .random_factor = 0, .max_retries = 5};
    psink_t s;
    rv_link(rv_restart_source(t.g, factory, &f, &bo, false), psink_new(t.g, &s, false));
    REQUIRE(tu_start(&t) == RV_OK);
    tu_settle(&t);
    CHECK_EQ(f.inner[0].emitted, 8);
    for (int i = 0; i < 10; i++) {
        psink_grant(&s, 3);
        tu_settle(&t);
        CHECK_EQ(f.inner[0].emitted, (int64_t)s.n + 8);
    }
    CHECK(psink_is_range(&s, 0, 30));
    rv_graph_abort(t.g);
    tu_settle(&t);
    CHECK_EQ(t.r.code, RV_ERR_CANCELLED);
    tu_fini(&t);
    psink_free(&s);
}

/* A factory that returns NULL when asked to restart fails the stream. */
static void test_restart_factory_null(void)
{
    tu_t t;
    tu_init(&t, true, NULL);
    factory_t f = {.t = &t, .per_run = 1, .fail_runs = 100, .return_null_at = true};
    rv_backoff_t bo = {.min_ms = 10, .max_ms = 1000, .random_factor = 0, .max_retries = 5};
    psink_t s;
    rv_link(rv_restart_source(t.g, factory, &f, &bo, true), psink_new(t.g, &s, true));
    REQUIRE(tu_start(&t) == RV_OK);
    tu_advance(&t, 1000);
    CHECK(t.r.done);
    CHECK_EQ(t.r.code, RV_ERR_STATE);
    CHECK(strstr(t.r.msg, "factory returned NULL") != NULL);
    tu_fini(&t);
    psink_free(&s);
}

/* With jitter: the delays stay within [base, base * (1 + factor)]. */
static void test_restart_jitter_bounds(void)
{
    tu_t t;
    tu_init(&t, true, "graph.random.seed=31337", NULL);
    factory_t f = {.t = &t, .per_run = 1, .fail_runs = 6};
    rv_backoff_t bo = {.min_ms = 100, .max_ms = 1000, .random_factor = 0.5, .max_retries = 10};
    psink_t s;
    rv_link(rv_restart_source(t.g, factory, &f, &bo, true), psink_new(t.g, &s, true));
    REQUIRE(tu_start(&t) == RV_OK);
    for (int ms = 0; ms < 20000 && !t.r.done; ms++)
        tu_advance(&t, 1);
    CHECK(t.r.done);
    REQUIRE(f.made == 7);
    int jittered = 0;
    for (int i = 1; i < 7; i++) {
        uint64_t d = f.made_at[i] - f.made_at[i - 1];
        uint64_t base = 100u << (i - 1);
        if (base > 1000) base = 1000;
        CHECK(d >= base && d <= base + base / 2);
        jittered += d != base;
    }
    CHECK(jittered > 0);
    tu_fini(&t);
    psink_free(&s);
}

RV_TEST_MAIN(RV_TEST_T(test_restart_after_failures_then_complete, 10),
             RV_TEST_T(test_restart_gives_up, 10),
             RV_TEST_T(test_restart_clock_set_after_build, 10),
             RV_TEST_T(test_restart_attempts_reset, 10),
             RV_TEST_T(test_restart_after_completion, 10),
             RV_TEST_T(test_restart_on_failure_only_completes, 10),
             RV_TEST_T(test_restart_graceful_stop, 10), RV_TEST_T(test_restart_cancel, 10),
             RV_TEST_T(test_restart_backpressure, 10), RV_TEST_T(test_restart_factory_null, 10),
             RV_TEST_T(test_restart_jitter_bounds, 10))
