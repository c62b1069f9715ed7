/* rv_retry: a failed call is retried with the same element after an
 * exponential backoff, in virtual time:
 *   delay(n) = min(max, min * 2^n) * (1 + rnd * random_factor). */
#include "engine_test_util.h"

typedef struct {
    rv_graph_t *g;
    int fails; /* calls on each failing element that fail */
    bool retriable;
    int64_t fail_mod;   /* elements with v % fail_mod == 0 fail (0: only element 0) */
    uint64_t times[64]; /* graph time of each call on element 0 */
    int attempts[64];
    int n; /* calls on element 0 */
    void *ptr0;
    int64_t offset0;
    int identity_violations;
    int calls_total;
    int per_elem[1000];
} flaky_t;

static void flaky_call(rv_async_t *op, void *in, void *opaque)
{
    flaky_t *f = opaque;
    int64_t v = RV_INT(in);
    f->calls_total++;
    int k = f->per_elem[v]++;
    if (v == 0 && f->n < 64) {
        f->times[f->n] = rv_graph_now(f->g);
        f->attempts[f->n] = rv_async_attempt(op);
        if (f->n == 0) {
            f->ptr0 = in;
            f->offset0 = rv_env_meta(rv_async_env(op))->offset;
        } else if (in != f->ptr0 || rv_env_meta(rv_async_env(op))->offset != f->offset0) {
            f->identity_violations++;
        }
        f->n++;
    }
    bool failing = f->fail_mod ? v % f->fail_mod == 0 : v == 0;
    if (failing && (f->fails < 0 || k < f->fails)) {
        rv_async_done(op, NULL, rv_error_new(RV_ERR_UNAVAILABLE, f->retriable, "try %d failed", k));
        return;
    }
    rv_async_done(op, in, NULL);
}

/* Exact delays with no jitter; retries stop at the limit, then the decider
 * (stop by default) fails the stream with the last error. The retried
 * element is the same: same payload pointer, same metadata. */
static void test_retry_delays_and_limit(void)
{
    tu_t t;
    tu_init(&t, true, NULL);
    flaky_t f = {.g = t.g, .fails = -1, .retriable = true};
    rv_backoff_t bo = {.min_ms = 100, .max_ms = 1000, .random_factor = 0, .max_retries = 5};
    psrc_t src;
    acks_t acks;
    acks_init(&acks, 10);
    psink_t s;
    rv_stage_t *a = psrc_new(t.g, &src, 10);
    src.acks = &acks;
    rv_chain(a, rv_retry(t.g, 1, true, flaky_call, NULL, &bo, &f), psink_new(t.g, &s, true), NULL);
    REQUIRE(tu_start(&t) == RV_OK);
    tu_settle(&t);
    CHECK_EQ(f.n, 1);
    for (int ms = 0; ms < 5000 && !t.r.done; ms += 10)
        tu_advance(&t, 10);
    CHECK(t.r.done);
    CHECK_EQ(t.r.code, RV_ERR_UNAVAILABLE);
    CHECK(strstr(t.r.msg, "try 5 failed") != NULL);
    REQUIRE(f.n == 6); /* the call and 5 retries */
    const uint64_t expect[] = {0, 100, 300, 700, 1500, 2500};
    for (int i = 0; i < 6; i++) {
        CHECK_EQ(f.times[i], expect[i]);
        CHECK_EQ(f.attempts[i], i);
    }
    CHECK_EQ(f.identity_violations, 0);
    CHECK_EQ(f.offset0, 0);
    CHECK_EQ(s.n, 0);
    tu_advance(&t, 10000);
    CHECK_EQ(f.n, 6); /* nothing after the limit */
    tu_fini(&t);
    CHECK_EQ(acks.status[0], RV_ERR_UNAVAILABLE);
    acks_free(&acks);
    psink_free(&s);
}

/* rv_backoff_delay itself, including the cap and big n. */
static void test_backoff_formula(void)
{
    rv_backoff_t b = {.min_ms = 3, .max_ms = 5000, .random_factor = 0.5, .max_retries = 10};
    for (int n = 0; n < 100; n++) {
        double base = 3.0 * (n < 62 ? (double)(1ull << (n < 62 ? n : 0)) : 4.6e18);
        if (base > 5000) base = 5000;
        CHECK_EQ(rv_backoff_delay(&b, n, 0.0), (uint64_t)base);
        CHECK_EQ(rv_backoff_delay(&b, n, 0.5), (uint64_t)(base * 1.25));
        uint64_t d = rv_backoff_delay(&b, n, 0.999999);
        CHECK(d >= (uint64_t)base && d <= (uint64_t)(base * 1.5));
    }
}

/* A backoff that overflows (rv_backoff_delay gives UINT64_MAX) waits "for
 * ever"; it must not wrap around to a deadline in the past and retry at once.
 * The clock is not at 0, so now + UINT64_MAX would wrap. A negative random
 * factor gives no delay rather than an undefined conversion. */
static void test_huge_delay_does_not_wrap(void)
{
    rv_backoff_t neg = {.min_ms = 100, .max_ms = 1000, .random_factor = -3, .max_retries = 1};
    CHECK_EQ(rv_backoff_delay(&neg, 0, 0.9), 0);
    tu_t t;
    tu_init(&t, true, NULL);
    tu_advance(&t, 5);
    flaky_t f = {.g = t.g, .fails = 3, .retriable = true};
    rv_backoff_t bo = {
        .min_ms = UINT64_MAX, .max_ms = UINT64_MAX, .random_factor = 0, .max_retries = -1};
    CHECK(rv_backoff_delay(&bo, 0, 0.0) == UINT64_MAX);
    psink_t s;
    rv_chain(rv_source_range(t.g, 0, 1), rv_retry(t.g, 1, true, flaky_call, NULL, &bo, &f),
             psink_new(t.g, &s, true), NULL);
    REQUIRE(tu_start(&t) == RV_OK);
    tu_settle(&t);
    CHECK_EQ(f.n, 1);
    tu_advance(&t, 100000);
    CHECK_EQ(f.n, 1); /* still waiting for the first retry */
    CHECK(!t.r.done);
    CHECK_EQ(s.n, 0);
    rv_graph_abort(t.g);
    tu_settle(&t);
    CHECK(t.r.done);
    CHECK_EQ(t.r.code, RV_ERR_CANCELLED);
    tu_fini(&t);
    psink_free(&s);
}

/* With jitter: each delay lies in [base, base * (1 + factor)), the same seed
 * gives the same delays, and another seed other ones. */
static void run_jittered(uint64_t seed, uint64_t *times, int *n)
{
    char seed_kv[64];
    snprintf(seed_kv, sizeof(seed_kv), "graph.random.seed=%" PRIu64, seed);
    tu_t t;
    tu_init(&t, true, seed_kv, NULL);
    flaky_t f = {.g = t.g, .fails = 8, .retriable = true};
    rv_backoff_t bo = {.min_ms = 50, .max_ms = 2000, .random_factor = 0.8, .max_retries = 10};
    psink_t s;
    rv_chain(rv_source_range(t.g, 0, 3), rv_retry(t.g, 2, true, flaky_call, NULL, &bo, &f),
             psink_new(t.g, &s, true), NULL);
    REQUIRE(tu_start(&t) == RV_OK);
    for (int ms = 0; ms < 100000 && !t.r.done; ms++)
        tu_advance(&t, 1);
    CHECK(t.r.done);
    CHECK_EQ(t.r.code, RV_OK);
    CHECK(psink_is_range(&s, 0, 3));
    CHECK_EQ(f.n, 9);
    for (int i = 0; i < f.n; i++)
        times[i] = f.times[i];
    *n = f.n;
    tu_fini(&t);
    psink_free(&s);
}

static void test_retry_jitter_bounds_and_seed(void)
{
    uint64_t a[64], b[64], c[64];
    int na = 0, nb = 0, nc = 0;
    run_jittered(4242, a, &na);
    run_jittered(4242, b, &nb);
    run_jittered(999, c, &nc);
    REQUIRE(na == 9 && nb == 9 && nc == 9);
    int same = 0, differ = 0;
    for (int i = 1; i < 9; i++) {
        uint64_t d = a[i] - a[i - 1];
        double base = 50.0 * (double)(1u << (i - 1));
        if (base > 2000) base = 2000;
        CHECK(d >= (uint64_t)base);
        CHECK(d < (uint64_t)(base * 1.8) + 1);
        same += a[i] == b[i];
        differ += a[i] != c[i];
    }
    CHECK_EQ(same, 8);
    CHECK(differ > 0);
}

/* A non-retriable error is not retried: the decider sees it at once. */
static void test_non_retriable_not_retried(void)
{
    tu_t t;
    tu_init(&t, true, NULL);
    flaky_t f = {.g = t.g, .fails = -1, .retriable = false};
    rv_backoff_t bo = {.min_ms = 10, .max_ms = 100, .random_factor = 0, .max_retries = 5};
    psink_t s;
    rv_stage_t *r = rv_retry(t.g, 1, true, flaky_call, NULL, &bo, &f);
    rv_stage_set_decider(r, rv_decider_resume, NULL);
    rv_chain(rv_source_range(t.g, 0, 5), r, psink_new(t.g, &s, true), NULL);
    CHECK_EQ(tu_run_all(&t, 1000), RV_OK);
    CHECK_EQ(f.n, 1);
    CHECK(psink_is_range(&s, 1, 4));
    CHECK_EQ(tu_counters(r).failures, 1);
    tu_fini(&t);
    psink_free(&s);
}

/* Success after a few failures: the element goes on, in order, acked OK;
 * max_retries < 0 means no limit. */
static void test_retry_then_success(void)
{
    tu_t t;
    tu_init(&t, true, NULL);
    flaky_t f = {.g = t.g, .fails = 20, .retriable = true, .fail_mod = 4};
    rv_backoff_t bo = {.min_ms = 1, .max_ms = 8, .random_factor = 0, .max_retries = -1};
    psrc_t src;
    acks_t acks;
    acks_init(&acks, 40);
    psink_t s;
    rv_stage_t *a = psrc_new(t.g, &src, 40);
    src.acks = &acks;
    rv_chain(a, rv_retry(t.g, 4, true, flaky_call, NULL, &bo, &f), psink_new(t.g, &s, true), NULL);
    REQUIRE(tu_start(&t) == RV_OK);
    for (int i = 0; i < 10000 && !t.r.done; i++)
        tu_advance(&t, 1);
    CHECK(t.r.done);
    CHECK_EQ(t.r.code, RV_OK);
    CHECK(psink_is_range(&s, 0, 40));
    CHECK_EQ(f.per_elem[0], 21);
    CHECK_EQ(f.per_elem[4], 21);
    CHECK_EQ(f.per_elem[5], 1);
    tu_fini(&t);
    CHECK_EQ(acks.ok, 40);
    acks_free(&acks);
    psink_free(&s);
}

/* While a call waits for its retry, upstream fails: the stage fails, and the
 * waiting element is not called again (nothing after the terminal signal). */
static void test_no_retry_after_failure(void)
{
    tu_t t;
    tu_init(&t, true, NULL);
    flaky_t f = {.g = t.g, .fails = -1, .retriable = true};
    rv_backoff_t bo = {.min_ms = 100, .max_ms = 1000, .random_factor = 0, .max_retries = 10};
    psrc_t src;
    acks_t acks;
    acks_init(&acks, 10);
    rv_stage_t *a = psrc_new(t.g, &src, 10);
    src.acks = &acks;
    src.credit_mode = true;
    src.fail_at = 2;
    psink_t s;
    rv_chain(a, rv_retry(t.g, 1, true, flaky_call, NULL, &bo, &f), psink_new(t.g, &s, true), NULL);
    REQUIRE(tu_start(&t) == RV_OK);
    psrc_grant(&src, 2);
    tu_advance(&t, 50);
    CHECK_EQ(f.n, 1);
    psrc_grant(&src, 1); /* the source fails now */
    tu_advance(&t, 10);
    CHECK(t.r.done);
    CHECK_EQ(t.r.code, RV_ERR_IO);
    tu_advance(&t, 5000);
    CHECK_EQ(f.n, 1);
    CHECK_EQ(f.calls_total, 1);
    tu_fini(&t);
    CHECK_EQ(acks.total, 2);
    CHECK_EQ(acks.ok, 0);
    acks_free(&acks);
    psink_free(&s);
}

/* Abort while waiting: the element is failed at once, no more calls. Graceful
 * stop while waiting: the retry still happens and the element is delivered. */
static void test_abort_and_stop_while_waiting(void)
{
    for (int graceful = 0; graceful < 2; graceful++) {
        tu_t t;
        tu_init(&t, true, NULL);
        flaky_t f = {.g = t.g, .fails = 2, .retriable = true};
        rv_backoff_t bo = {.min_ms = 100, .max_ms = 1000, .random_factor = 0, .max_retries = 10};
        psrc_t src;
        acks_t acks;
        acks_init(&acks, 1000);
        rv_stage_t *a = psrc_new(t.g, &src, -1);
        src.acks = &acks;
        psink_t s;
        rv_chain(a, rv_retry(t.g, 1, true, flaky_call, NULL, &bo, &f), psink_new(t.g, &s, true),
                 NULL);
        REQUIRE(tu_start(&t) == RV_OK);
        tu_advance(&t, 50);
        CHECK_EQ(f.n, 1);
        if (graceful)
            rv_graph_stop(t.g);
        else
            rv_graph_abort(t.g);
        tu_advance(&t, 5000);
        CHECK(t.r.done);
        if (graceful) {
            CHECK_EQ(t.r.code, RV_OK);
            CHECK_EQ(f.n, 3);
            CHECK_EQ(acks.failed, 0);
            CHECK(s.n >= 1 && s.vals[0] == 0);
            CHECK_EQ(acks.ok, (int)src.emitted);
        } else {
            CHECK_EQ(t.r.code, RV_ERR_CANCELLED);
            CHECK_EQ(f.n, 1);
            CHECK_EQ(acks.status[0], RV_ERR_CANCELLED);
        }
        tu_fini(&t);
        CHECK_EQ(acks.total, (int)src.emitted);
        acks_free(&acks);
        psink_free(&s);
    }
}

/* Backpressure: a retry stage holds at most `parallelism` elements, so a sink
 * that takes nothing bounds the source at the two edges and the slots. */
static void test_retry_backpressure(void)
{
    tu_t t;
    tu_init(&t, true, "graph.edge.capacity=4", NULL);
    flaky_t f = {.g = t.g, .fails = 0, .retriable = true};
    rv_backoff_t bo = {.min_ms = 10, .max_ms = 100, .random_factor = 0, .max_retries = 3};
    psrc_t src;
    psink_t s;
    rv_stage_t *r = rv_retry(t.g, 3, false, flaky_call, NULL, &bo, &f);
    rv_chain(psrc_new(t.g, &src, 500), r, psink_new(t.g, &s, false), NULL);
    REQUIRE(tu_start(&t) == RV_OK);
    tu_advance(&t, 100);
    CHECK_EQ(src.emitted, 4 + 3 + 4);
    CHECK_EQ(tu_counters(r).in_flight, 3);
    for (int i = 0; i < 20; i++) {
        psink_grant(&s, 5);
        tu_advance(&t, 1);
        CHECK_EQ(src.emitted, (int64_t)s.n + 11);
    }
    psink_grant(&s, 1000);
    tu_advance(&t, 1);
    CHECK(t.r.done);
    CHECK_EQ(s.n, 500);
    tu_fini(&t);
    psink_free(&s);
}

static void test_retry_needs_backoff(void)
{
    tu_t t;
    tu_init(&t, true, NULL);
    CHECK(rv_retry(t.g, 1, true, flaky_call, NULL, NULL, NULL) == NULL);
    rv_link(rv_source_range(t.g, 0, 1), rv_ignore(t.g));
    CHECK_EQ(tu_start(&t), RV_ERR_INVALID);
    CHECK(strstr(t.r.msg, "backoff is NULL") != NULL);
    tu_fini(&t);
}

RV_TEST_MAIN(RV_TEST_T(test_retry_delays_and_limit, 10), RV_TEST_T(test_backoff_formula, 10),
             RV_TEST_T(test_huge_delay_does_not_wrap, 10),
             RV_TEST_T(test_retry_jitter_bounds_and_seed, 20),
             RV_TEST_T(test_non_retriable_not_retried, 10), RV_TEST_T(test_retry_then_success, 10),
             RV_TEST_T(test_no_retry_after_failure, 10),
             RV_TEST_T(test_abort_and_stop_while_waiting, 10),
             RV_TEST_T(test_retry_backpressure, 10), RV_TEST_T(test_retry_needs_backoff, 10))
