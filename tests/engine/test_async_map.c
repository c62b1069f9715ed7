/* rv_async_map: at most `parallelism` calls in flight; ordered keeps input
 * order whatever the completion order, unordered emits in completion order. */
#include "engine_test_util.h"

/* The async driver: calls wait in a pending set; a uv_idle handle on the same
 * loop completes one of them, picked at random, per loop turn. */
typedef struct {
    uv_loop_t *loop;
    uv_idle_t idle;
    rv_async_t *pending[4096];
    int n;
    int max_pending, calls;
    uint32_t seed;
    int64_t *completed; /* values in completion order */
    int ncompleted;
    bool sync;      /* complete inside the call */
    bool boxed_out; /* return a new boxed payload value*10 */
    int fail_times; /* elements with value%10==3 fail this many calls */
    int per_elem[100000];
    void *first_ptr[100000];
    int same_ptr_violations;
    int attempts_seen[100000];
} drv_t;

static void complete(drv_t *d, rv_async_t *op)
{
    void *in = rv_env_payload(rv_async_env(op));
    int64_t v = RV_INT(in);
    if (v % 10 == 3 && d->per_elem[v] <= d->fail_times) {
        rv_async_done(op, NULL,
                      rv_error_new(RV_ERR_TIMEOUT, true, "call on %" PRId64 " timed out", v));
        return;
    }
    d->completed[d->ncompleted++] = v;
    rv_async_done(op, d->boxed_out ? box_new(v * 10) : in, NULL);
}

static void drv_fn(rv_async_t *op, void *in, void *opaque)
{
    drv_t *d = opaque;
    int64_t v = RV_INT(in);
    d->calls++;
    if (d->per_elem[v]++ == 0)
        d->first_ptr[v] = in;
    else if (d->first_ptr[v] != in || rv_async_env(op) == NULL)
        d->same_ptr_violations++;
    d->attempts_seen[v] = rv_async_attempt(op);
    if (d->sync) {
        complete(d, op);
        return;
    }
    d->pending[d->n++] = op;
    if (d->n > d->max_pending) d->max_pending = d->n;
}

static void drv_tick(uv_idle_t *h)
{
    drv_t *d = h->data;
    if (d->n == 0) return;
    int i = (int)(tu_rand(&d->seed) % (uint32_t)d->n);
    rv_async_t *op = d->pending[i];
    d->pending[i] = d->pending[--d->n];
    complete(d, op);
}

static drv_t *drv_new(uv_loop_t *loop, uint32_t seed)
{
    drv_t *d = calloc(1, sizeof(*d));
    d->loop = loop;
    d->seed = seed;
    d->completed = calloc(100000, sizeof(int64_t));
    uv_idle_init(loop, &d->idle);
    d->idle.data = d;
    uv_idle_start(&d->idle, drv_tick);
    return d;
}

static void drv_closed(uv_handle_t *h)
{
    drv_t *d = h->data;
    free(d->completed);
    free(d);
}

static void drv_free(drv_t *d)
{
    uv_close((uv_handle_t *)&d->idle, drv_closed);
}

static bool sorted(const int64_t *v, size_t n)
{
    for (size_t i = 1; i < n; i++)
        if (v[i] < v[i - 1]) return false;
    return true;
}

/* Ordered: the output is in input order although the calls complete in a
 * shuffled order; never more than `parallelism` calls at once. */
static void test_ordered_keeps_order(void)
{
    tu_t t;
    tu_init(&t, false, NULL);
    drv_t *d = drv_new(&t.loop, 99);
    psink_t s;
    rv_stage_t *m = rv_async_map(t.g, 8, true, drv_fn, NULL, d);
    rv_chain(rv_source_range(t.g, 0, 2000), m, psink_new(t.g, &s, true), NULL);
    CHECK_EQ(tu_run_all(&t, 20000), RV_OK);
    CHECK(psink_is_range(&s, 0, 2000));
    CHECK_EQ(d->ncompleted, 2000);
    CHECK(!sorted(d->completed, 2000)); /* the completions really were shuffled */
    CHECK_EQ(d->max_pending, 8);
    CHECK_EQ(tu_counters(m).in_flight, 0);
    drv_free(d);
    tu_fini(&t);
    psink_free(&s);
}

/* Unordered: the output is exactly the completion order. */
static void test_unordered_completion_order(void)
{
    tu_t t;
    tu_init(&t, false, NULL);
    drv_t *d = drv_new(&t.loop, 7);
    psink_t s;
    rv_chain(rv_source_range(t.g, 0, 2000), rv_async_map(t.g, 5, false, drv_fn, NULL, d),
             psink_new(t.g, &s, true), NULL);
    CHECK_EQ(tu_run_all(&t, 20000), RV_OK);
    REQUIRE(s.n == 2000);
    REQUIRE(d->ncompleted == 2000);
    CHECK(!sorted(d->completed, 2000));
    int diff = 0;
    for (int i = 0; i < 2000; i++)
        diff += s.vals[i] != d->completed[i];
    CHECK_EQ(diff, 0);
    CHECK_EQ(d->max_pending, 5);
    drv_free(d);
    tu_fini(&t);
    psink_free(&s);
}

/* Completion inside the call itself (synchronous), in both modes; new
 * payloads are handed over and freed with out_free. */
static void test_sync_completion_and_payloads(void)
{
    for (int ordered = 0; ordered < 2; ordered++) {
        tu_t t;
        tu_init(&t, true, NULL);
        drv_t *d = drv_new(&t.loop, 1);
        d->sync = true;
        d->boxed_out = true;
        psink_t s;
        rv_chain(rv_source_range(t.g, 0, 500), rv_async_map(t.g, 4, ordered, drv_fn, free, d),
                 psink_new(t.g, &s, true), NULL);
        s.boxed = true;
        CHECK_EQ(tu_run_all(&t, 1000), RV_OK);
        REQUIRE(s.n == 500);
        for (int i = 0; i < 500; i++)
            CHECK_EQ(s.vals[i], i * 10);
        drv_free(d);
        tu_fini(&t);
        psink_free(&s);
    }
}

/* Backpressure: a sink that takes nothing bounds the calls started: the
 * output edge, the slots and the input edge. */
static void test_backpressure_bounds_calls(void)
{
    tu_t t;
    tu_init(&t, false, "graph.edge.capacity=4", NULL);
    drv_t *d = drv_new(&t.loop, 3);
    psrc_t src;
    psink_t s;
    rv_stage_t *m = rv_async_map(t.g, 6, true, drv_fn, NULL, d);
    rv_chain(psrc_new(t.g, &src, 1000), m, psink_new(t.g, &s, false), NULL);
    REQUIRE(tu_start(&t) == RV_OK);
    for (int i = 0; i < 300; i++)
        uv_run(&t.loop, UV_RUN_NOWAIT);
    CHECK_EQ(d->calls, 4 + 6);        /* 4 delivered into the full edge, 6 done in slots */
    CHECK_EQ(src.emitted, 4 + 6 + 4); /* and 4 waiting on the input edge */
    CHECK_EQ(tu_counters(m).in_flight, 6);
    for (int k = 0; k < 50; k++) {
        psink_grant(&s, 7);
        for (int i = 0; i < 50; i++)
            uv_run(&t.loop, UV_RUN_NOWAIT);
        CHECK(src.emitted <= (int64_t)s.n + 14);
        CHECK(d->max_pending <= 6);
    }
    psink_grant(&s, 100000);
    TU_WAIT(&t, t.r.done, 10000);
    CHECK_EQ(t.r.code, RV_OK);
    CHECK(psink_is_range(&s, 0, 1000));
    drv_free(d);
    tu_fini(&t);
    psink_free(&s);
}

/* The deciders on a failed call: stop fails the stream with the call's error,
 * resume drops the element (acked as failed), retry calls again with the same
 * element and an increasing attempt number. */
static void test_deciders(void)
{
    for (int mode = 0; mode < 3; mode++) {
        for (int ordered = 0; ordered < 2; ordered++) {
            tu_t t;
            tu_init(&t, false, NULL);
            drv_t *d = drv_new(&t.loop, 5);
            d->fail_times = 2;
            psrc_t src;
            acks_t acks;
            acks_init(&acks, 200);
            psink_t s;
            rv_stage_t *a = psrc_new(t.g, &src, 200);
            src.acks = &acks;
            rv_stage_t *m = rv_async_map(t.g, 4, ordered, drv_fn, NULL, d);
            rv_decider_fn fns[] = {rv_decider_stop, rv_decider_resume, rv_decider_retry};
            rv_stage_set_decider(m, fns[mode], RV_PTR(2));
            rv_chain(a, m, psink_new(t.g, &s, true), NULL);
            rv_err_t rc = tu_run_all(&t, 10000);
            TU_WAIT(&t, d->n == 0, 5000);           /* calls still running after a stop */
            CHECK_EQ(acks.total, (int)src.emitted); /* nothing held once they completed */
            if (mode == 0) {
                CHECK_EQ(rc, RV_ERR_TIMEOUT);
                CHECK(strstr(t.r.msg, "timed out") != NULL);
                CHECK(s.n < 200);
                CHECK_EQ(src.cancels, 1);
            } else if (mode == 1) {
                CHECK_EQ(rc, RV_OK);
                CHECK_EQ(s.n, 180);
                CHECK_EQ(tu_counters(m).failures, 20);
            } else {
                CHECK_EQ(rc, RV_OK);
                CHECK_EQ(s.n, 200);
                CHECK_EQ(d->per_elem[13], 3);
                CHECK_EQ(d->attempts_seen[13], 2);
                CHECK_EQ(d->same_ptr_violations, 0);
                if (ordered) CHECK(psink_is_range(&s, 0, 200));
            }
            drv_free(d);
            tu_fini(&t);
            if (mode == 1) {
                CHECK_EQ(acks.ok, 180);
                CHECK_EQ(acks.status[3], RV_ERR_TIMEOUT);
            }
            if (mode == 2) CHECK_EQ(acks.ok, 200);
            CHECK_EQ(acks.total, (int)src.emitted);
            CHECK(acks_at_most_once(&acks));
            acks_free(&acks);
            psink_free(&s);
        }
    }
}

/* Upstream fails while calls are running: the stage fails at once; the calls
 * complete later and their elements are released as failed. */
static void test_upstream_failure_with_calls_in_flight(void)
{
    tu_t t;
    tu_init(&t, false, NULL);
    drv_t *d = drv_new(&t.loop, 11);
    psrc_t src;
    acks_t acks;
    acks_init(&acks, 100);
    psink_t s;
    rv_stage_t *a = psrc_new(t.g, &src, 100);
    src.acks = &acks;
    src.fail_at = 40;
    src.fail_code = RV_ERR_IO;
    rv_chain(a, rv_async_map(t.g, 8, true, drv_fn, NULL, d), psink_new(t.g, &s, true), NULL);
    CHECK_EQ(tu_run_all(&t, 10000), RV_ERR_IO);
    CHECK_EQ(s.finish_code, RV_ERR_IO);
    TU_WAIT(&t, d->n == 0, 5000);
    CHECK_EQ(d->n, 0);
    /* Once the calls completed, nothing is held any more (not only at destroy). */
    CHECK_EQ(acks.total, 40);
    drv_free(d);
    tu_fini(&t);
    CHECK_EQ(acks.total, 40);
    CHECK_EQ(acks.ok, (int)s.n);
    CHECK(acks_at_most_once(&acks));
    acks_free(&acks);
    psink_free(&s);
}

/* Downstream cancels: the stage waits for its running calls, then finishes
 * and cancels upstream; the late results are released as failed. */
static void test_downstream_cancel_waits_for_calls(void)
{
    tu_t t;
    tu_init(&t, false, NULL);
    drv_t *d = drv_new(&t.loop, 13);
    psrc_t src;
    acks_t acks;
    acks_init(&acks, 100000);
    psink_t s;
    rv_stage_t *a = psrc_new(t.g, &src, -1);
    src.acks = &acks;
    rv_stage_t *m = rv_async_map(t.g, 8, false, drv_fn, NULL, d);
    rv_chain(a, m, psink_new(t.g, &s, true), NULL);
    s.cancel_after = 50;
    CHECK_EQ(tu_run_all(&t, 10000), RV_OK);
    CHECK_EQ(d->n, 0); /* done only after every call completed */
    CHECK_EQ(src.cancels, 1);
    CHECK_EQ(s.n, 50);
    drv_free(d);
    tu_fini(&t);
    CHECK_EQ(acks.ok, 50);
    CHECK_EQ(acks.total, (int)src.emitted);
    acks_free(&acks);
    psink_free(&s);
}

/* A second completion of one call is ignored. */
static void double_done(rv_async_t *op, void *in, void *opaque)
{
    rv_async_done(op, in, NULL);
    rv_async_done(op, in, NULL);
    rv_async_done(op, NULL, rv_error_new(RV_ERR_IO, false, "late"));
}

static void test_double_completion_ignored(void)
{
    tu_t t;
    tu_init(&t, true, NULL);
    psink_t s;
    rv_chain(rv_source_range(t.g, 0, 100), rv_async_map(t.g, 2, true, double_done, NULL, NULL),
             psink_new(t.g, &s, true), NULL);
    CHECK_EQ(tu_run_all(&t, 1000), RV_OK);
    CHECK(psink_is_range(&s, 0, 100));
    tu_fini(&t);
    psink_free(&s);
}

static void test_bad_parallelism(void)
{
    tu_t t;
    tu_init(&t, true, NULL);
    CHECK(rv_async_map(t.g, 0, true, double_done, NULL, NULL) == NULL);
    CHECK(rv_async_map(t.g, 70000, true, double_done, NULL, NULL) == NULL);
    rv_link(rv_source_range(t.g, 0, 1), rv_ignore(t.g));
    CHECK_EQ(tu_start(&t), RV_ERR_INVALID);
    CHECK(strstr(t.r.msg, "parallelism must be 1..65536") != NULL);
    tu_fini(&t);
}

RV_TEST_MAIN(RV_TEST_T(test_ordered_keeps_order, 30),
             RV_TEST_T(test_unordered_completion_order, 30),
             RV_TEST_T(test_sync_completion_and_payloads, 10),
             RV_TEST_T(test_backpressure_bounds_calls, 30), RV_TEST_T(test_deciders, 30),
             RV_TEST_T(test_upstream_failure_with_calls_in_flight, 20),
             RV_TEST_T(test_downstream_cancel_waits_for_calls, 20),
             RV_TEST_T(test_double_completion_ignored, 10), RV_TEST_T(test_bad_parallelism, 10))
