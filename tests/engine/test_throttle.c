/* rv_throttle: at most `elements` per `per_ms`, bursts up to `burst`; elements
 * wait, none is dropped. In virtual time. */
#include "engine_test_util.h"

typedef struct {
    tu_t *t;
    uint64_t at[100000];
    size_t n;
} times_t;

static void record_time(void *opaque, rv_env_t *env)
{
    times_t *tm = opaque;
    tm->at[tm->n++] = rv_clock_now(tm->t->clock);
}

/* 10 per second with a burst of 1: one element every 100 ms. */
static void test_throttle_rate(void)
{
    tu_t t;
    tu_init(&t, true, NULL);
    psink_t s;
    times_t *tm = calloc(1, sizeof(*tm));
    tm->t = &t;
    rv_chain(rv_source_range(t.g, 0, 20), rv_throttle(t.g, 10, 1000, 1), psink_new(t.g, &s, true),
             NULL);
    s.on_elem = record_time;
    s.opaque = tm;
    REQUIRE(tu_start(&t) == RV_OK);
    for (int ms = 0; ms < 3000 && !t.r.done; ms++)
        tu_advance(&t, 1);
    CHECK(t.r.done);
    CHECK(psink_is_range(&s, 0, 20));
    REQUIRE(tm->n == 20);
    for (size_t i = 0; i < 20; i++)
        CHECK_EQ(tm->at[i], 100 * i);
    tu_fini(&t);
    psink_free(&s);
    free(tm);
}

/* A burst of 5 passes at once; then the rate applies. */
static void test_throttle_burst(void)
{
    tu_t t;
    tu_init(&t, true, NULL);
    psink_t s;
    times_t *tm = calloc(1, sizeof(*tm));
    tm->t = &t;
    rv_chain(rv_source_range(t.g, 0, 8), rv_throttle(t.g, 1, 10, 5), psink_new(t.g, &s, true),
             NULL);
    s.on_elem = record_time;
    s.opaque = tm;
    REQUIRE(tu_start(&t) == RV_OK);
    tu_settle(&t);
    CHECK_EQ(tm->n, 5);
    for (int ms = 0; ms < 1000 && !t.r.done; ms++)
        tu_advance(&t, 1);
    REQUIRE(tm->n == 8);
    CHECK_EQ(tm->at[4], 0);
    CHECK_EQ(tm->at[5], 10);
    CHECK_EQ(tm->at[6], 20);
    CHECK_EQ(tm->at[7], 30);
    tu_fini(&t);
    psink_free(&s);
    free(tm);
}

/* Over a long run, the count in any window respects the rate; rates that are
 * not whole milliseconds per element work too (and the stage never spins in
 * zero-delay timers: every step of virtual time is bounded). */
static void test_throttle_long_run_rates(void)
{
    const struct {
        uint64_t elements, per_ms, burst;
    } cases[] = {{3, 10, 1}, {7, 100, 2}, {1, 3, 1}, {10, 1000, 3}, {33, 1000, 1}, {1000, 1000, 1}};
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        tu_t t;
        tu_init(&t, true, NULL);
        psink_t s;
        times_t *tm = calloc(1, sizeof(*tm));
        tm->t = &t;
        rv_chain(rv_source_range(t.g, 0, 300),
                 rv_throttle(t.g, cases[c].elements, cases[c].per_ms, cases[c].burst),
                 psink_new(t.g, &s, true), NULL);
        s.on_elem = record_time;
        s.opaque = tm;
        REQUIRE(tu_start(&t) == RV_OK);
        uint64_t limit = 300 * cases[c].per_ms / cases[c].elements + 2 * cases[c].per_ms;
        for (uint64_t ms = 0; ms < limit && !t.r.done; ms += 7)
            tu_advance(&t, 7);
        if (!t.r.done || tm->n != 300)
            fprintf(stderr, "  case %zu: n=%zu last=%" PRIu64 " now=%" PRIu64 "\n", c, tm->n,
                    tm->n ? tm->at[tm->n - 1] : 0, rv_clock_now(t.clock));
        CHECK(t.r.done);
        CHECK_EQ(tm->n, 300);
        /* In every window of per_ms, at most elements + burst arrived. */
        size_t j = 0;
        for (size_t i = 0; i < tm->n; i++) {
            while (tm->at[i] - tm->at[j] >= cases[c].per_ms)
                j++;
            CHECK(i - j + 1 <= cases[c].elements + cases[c].burst);
        }
        /* And the whole run took about as long as the rate says. */
        double expect =
            (300.0 - (double)cases[c].burst) * (double)cases[c].per_ms / (double)cases[c].elements;
        CHECK((double)tm->at[299] >= expect - 1);
        CHECK((double)tm->at[299] <=
              expect + (double)cases[c].per_ms / (double)cases[c].elements + 2);
        tu_fini(&t);
        psink_free(&s);
        free(tm);
    }
}

/* Backpressure: a throttle never holds elements itself; it takes from its input
 * only what it passes on, and it waits for room as well as for tokens. */
static void test_throttle_backpressure(void)
{
    tu_t t;
    tu_init(&t, true, "graph.edge.capacity=4", NULL);
    psrc_t src;
    psink_t s;
    rv_stage_t *th = rv_throttle(t.g, 1, 1, 100);
    rv_chain(psrc_new(t.g, &src, 1000), th, psink_new(t.g, &s, false), NULL);
    REQUIRE(tu_start(&t) == RV_OK);
    tu_advance(&t, 100);
    CHECK_EQ(src.emitted, 8);
    CHECK_EQ(tu_counters(th).out, 4);
    psink_grant(&s, 2);
    tu_advance(&t, 0);
    CHECK_EQ(src.emitted, 10);
    psink_grant(&s, 100000);
    for (int i = 0; i < 2000 && !t.r.done; i++)
        tu_advance(&t, 1);
    CHECK(t.r.done);
    CHECK(psink_is_range(&s, 0, 1000));
    tu_fini(&t);
    psink_free(&s);
}

/* Completion comes after the last shaped element; failure and cancel go
 * through at once, whatever the tokens. */
static void test_throttle_completion_failure_cancel(void)
{
    for (int mode = 0; mode < 3; mode++) {
        tu_t t;
        tu_init(&t, true, NULL);
        psrc_t src;
        psink_t s;
        rv_stage_t *a = psrc_new(t.g, &src, mode == 0 ? 5 : -1);
        if (mode == 1) src.fail_at = 10, src.fail_code = RV_ERR_IO;
        rv_chain(a, rv_throttle(t.g, 1, 100, 1), psink_new(t.g, &s, true), NULL);
        if (mode == 2) s.cancel_after = 2;
        REQUIRE(tu_start(&t) == RV_OK);
        tu_advance(&t, 150);
        if (mode == 0) {
            CHECK_EQ(s.n, 2);
            CHECK(!t.r.done);
            tu_advance(&t, 240); /* t = 390: elements left at 0, 100, 200, 300 */
            CHECK_EQ(s.n, 4);
            CHECK(!t.r.done);
            tu_advance(&t, 10);
            CHECK(t.r.done);
            CHECK_EQ(s.n, 5);
            CHECK_EQ(t.r.code, RV_OK);
        } else if (mode == 1) {
            CHECK(t.r.done);
            CHECK_EQ(t.r.code, RV_ERR_IO);
            CHECK(s.n <= 2);
        } else {
            tu_advance(&t, 100);
            CHECK(t.r.done);
            CHECK_EQ(t.r.code, RV_OK);
            CHECK_EQ(src.cancels, 1);
        }
        tu_fini(&t);
        psink_free(&s);
    }
}

static void test_throttle_bad_args(void)
{
    tu_t t;
    tu_init(&t, true, NULL);
    CHECK(rv_throttle(t.g, 0, 10, 1) == NULL);
    CHECK(rv_throttle(t.g, 1, 0, 1) == NULL);
    rv_link(rv_source_range(t.g, 0, 1), rv_ignore(t.g));
    CHECK_EQ(tu_start(&t), RV_ERR_INVALID);
    tu_fini(&t);
}

RV_TEST_MAIN(RV_TEST_T(test_throttle_rate, 10), RV_TEST_T(test_throttle_burst, 10),
             RV_TEST_T(test_throttle_long_run_rates, 20), RV_TEST_T(test_throttle_backpressure, 10),
             RV_TEST_T(test_throttle_completion_failure_cancel, 10),
             RV_TEST_T(test_throttle_bad_args, 10))
