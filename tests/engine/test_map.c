/* rv_map and rv_map_env: normal flow, payload ownership, shared envelopes,
 * backpressure, completion, failure, cancellation and the deciders. */
#include "engine_test_util.h"

static void test_map_values(void)
{
    tu_t t;
    tu_init(&t, true, NULL);
    psink_t s;
    rv_chain(rv_source_range(t.g, 0, 1000), rv_map(t.g, tu_fn_add_one, NULL, NULL),
             psink_new(t.g, &s, true), NULL);
    CHECK_EQ(tu_run_all(&t, 1000), RV_OK);
    CHECK(psink_is_range(&s, 1, 1000));
    CHECK_EQ(s.finishes, 1);
    tu_fini(&t);
    psink_free(&s);
}

/* New heap payloads are freed with out_free; returning the input keeps it. */
static int frees;
static void counted_free(void *p)
{
    frees++;
    free(p);
}
static rv_err_t rebox(void *in, void **out, rv_error_t **errp, void *opaque)
{
    if (box_val(in) % 2 == 0) {
        *out = in; /* unchanged: keeps its own destructor */
        return RV_OK;
    }
    *out = box_new(box_val(in) * 100);
    return RV_OK;
}

static void test_map_payload_ownership(void)
{
    tu_t t;
    tu_init(&t, true, NULL);
    psrc_t src;
    psink_t s;
    frees = 0;
    rv_stage_t *a = psrc_new(t.g, &src, 100);
    src.boxed = true;
    rv_chain(a, rv_map(t.g, rebox, counted_free, NULL), psink_new(t.g, &s, true), NULL);
    s.boxed = true;
    CHECK_EQ(tu_run_all(&t, 1000), RV_OK);
    REQUIRE(s.n == 100);
    for (int i = 0; i < 100; i++)
        CHECK_EQ(s.vals[i], i % 2 ? i * 100 : i);
    CHECK_EQ(frees, 50); /* only the new payloads went through out_free */
    tu_fini(&t);
    psink_free(&s);
}

/* map_env sees the metadata and replaces the payload; after a broadcast the
 * envelope is shared, and mapping one branch must not change the other's. */
static rv_err_t env_fn(rv_env_t *env, rv_error_t **errp, void *opaque)
{
    const rv_meta_t *m = rv_env_meta(env);
    if (rv_env_refs(env) != 1)
        return rv_error_set(errp, RV_ERR_STATE, false, "map_env got a shared envelope");
    return rv_env_set_payload(env, box_new(m->offset * 1000 + m->partition), free);
}

static void test_map_env_and_shared_envelopes(void)
{
    tu_t t;
    tu_init(&t, true, NULL);
    psrc_t src;
    psink_t s1, s2, s3;
    rv_stage_t *a = psrc_new(t.g, &src, 50);
    rv_stage_t *b = rv_broadcast(t.g, 3, false);
    rv_link(a, b);
    rv_chain(b, rv_map_env(t.g, env_fn, NULL), psink_new(t.g, &s1, true), NULL);
    s1.boxed = true;
    rv_chain(b, rv_map(t.g, tu_fn_add_one, NULL, NULL), psink_new(t.g, &s2, true), NULL);
    rv_link(b, psink_new(t.g, &s3, true));
    CHECK_EQ(tu_run_all(&t, 1000), RV_OK);
    REQUIRE(s1.n == 50 && s2.n == 50 && s3.n == 50);
    for (int i = 0; i < 50; i++) {
        CHECK_EQ(s1.vals[i], i * 1000 + 7);
        CHECK_EQ(s1.offsets[i], i);
        CHECK_EQ(s2.vals[i], i + 1);
        CHECK_EQ(s2.offsets[i], i);
        CHECK_EQ(s3.vals[i], i);
    }
    tu_fini(&t);
    psink_free(&s1);
    psink_free(&s2);
    psink_free(&s3);
}

/* Backpressure: the map never takes more than its output has room for. */
static void test_map_backpressure(void)
{
    tu_t t;
    tu_init(&t, true, "graph.edge.capacity=4", NULL);
    psrc_t src;
    psink_t s;
    rv_stage_t *a = psrc_new(t.g, &src, 1000);
    rv_stage_t *m = rv_map(t.g, tu_fn_add_one, NULL, NULL);
    rv_chain(a, m, psink_new(t.g, &s, false), NULL);
    REQUIRE(tu_start(&t) == RV_OK);
    tu_settle(&t);
    CHECK_EQ(src.emitted, 8);
    CHECK_EQ(tu_counters(m).in, 4);
    for (int i = 0; i < 30; i++) {
        psink_grant(&s, 3);
        tu_settle(&t);
        CHECK_EQ(src.emitted, (int64_t)s.n + 8);
    }
    rv_graph_abort(t.g);
    tu_settle(&t);
    tu_fini(&t);
    psink_free(&s);
}

/* Completion waits for every buffered element; failure upstream fails the
 * map and reaches the sink; cancellation downstream reaches the source. */
static void test_map_completion_failure_cancel(void)
{
    for (int mode = 0; mode < 3; mode++) {
        tu_t t;
        tu_init(&t, true, "graph.edge.capacity=4", NULL);
        psrc_t src;
        psink_t s;
        rv_stage_t *a = psrc_new(t.g, &src, 100);
        if (mode == 1) src.fail_at = 30, src.fail_code = RV_ERR_IO;
        rv_stage_t *m = rv_map(t.g, tu_fn_add_one, NULL, NULL);
        rv_chain(a, m, psink_new(t.g, &s, false), NULL);
        if (mode == 2) s.cancel_after = 10;
        REQUIRE(tu_start(&t) == RV_OK);
        for (int i = 0; i < 200 && !t.r.done; i++) {
            psink_grant(&s, 1);
            tu_settle(&t);
        }
        CHECK(t.r.done);
        CHECK(rv_stage_finished(m));
        if (mode == 0) {
            CHECK_EQ(t.r.code, RV_OK);
            CHECK(psink_is_range(&s, 1, 100));
            CHECK_EQ(s.finish_code, RV_OK);
        } else if (mode == 1) {
            CHECK_EQ(t.r.code, RV_ERR_IO);
            CHECK_EQ(s.finish_code, RV_ERR_IO);
            CHECK(s.n <= 30);
        } else {
            CHECK_EQ(t.r.code, RV_OK);
            CHECK_EQ(src.cancels, 1);
            CHECK_EQ(s.n, 10);
            CHECK(src.emitted <= 10 + 8);
        }
        CHECK_EQ(s.after_terminal, 0);
        tu_fini(&t);
        psink_free(&s);
    }
}

/* ---------------------------------------------------------- supervision */

typedef struct {
    int calls;
    int fail_times; /* fail this many calls of each "bad" element */
    int per_elem[1000];
    void *seen_ptr[1000][8];
} flaky_t;

static rv_err_t flaky(void *in, void **out, rv_error_t **errp, void *opaque)
{
    flaky_t *f = opaque;
    int64_t v = box_val(in);
    f->calls++;
    int k = f->per_elem[v]++;
    if (k < 8) f->seen_ptr[v][k] = in;
    if (v % 10 == 3 && k < f->fail_times)
        return rv_error_set(errp, RV_ERR_TIMEOUT, true, "element %" PRId64 " timed out", v);
    *out = in;
    return RV_OK;
}

static void test_map_decider_stop(void)
{
    tu_t t;
    tu_init(&t, true, NULL);
    psrc_t src;
    acks_t acks;
    acks_init(&acks, 100);
    psink_t s;
    flaky_t f = {.fail_times = 1};
    rv_stage_t *a = psrc_new(t.g, &src, 100);
    src.boxed = true;
    src.acks = &acks;
    rv_stage_t *m = rv_stage_set_decider(rv_map(t.g, flaky, NULL, &f), rv_decider_stop, NULL);
    rv_chain(a, m, psink_new(t.g, &s, true), NULL);
    s.boxed = true;
    CHECK_EQ(tu_run_all(&t, 1000), RV_ERR_TIMEOUT);
    CHECK(strstr(t.r.msg, "element 3 timed out") != NULL);
    CHECK(psink_is_range(&s, 0, 3));
    CHECK_EQ(src.cancels, 1);
    CHECK_EQ(tu_counters(m).failures, 1);
    tu_fini(&t);
    CHECK_EQ(acks.status[3], RV_ERR_TIMEOUT);
    CHECK_EQ(acks.ok, 3);
    acks_free(&acks);
    psink_free(&s);
}

static void test_map_decider_resume(void)
{
    tu_t t;
    tu_init(&t, true, NULL);
    psrc_t src;
    acks_t acks;
    acks_init(&acks, 100);
    psink_t s;
    flaky_t f = {.fail_times = 1};
    rv_stage_t *a = psrc_new(t.g, &src, 100);
    src.boxed = true;
    src.acks = &acks;
    rv_stage_t *m = rv_stage_set_decider(rv_map(t.g, flaky, NULL, &f), rv_decider_resume, NULL);
    rv_chain(a, m, psink_new(t.g, &s, true), NULL);
    s.boxed = true;
    CHECK_EQ(tu_run_all(&t, 1000), RV_OK);
    CHECK_EQ(s.n, 90);
    for (size_t i = 0; i < s.n; i++)
        CHECK(s.vals[i] % 10 != 3);
    CHECK_EQ(tu_counters(m).failures, 10);
    CHECK_EQ(f.calls, 100);
    tu_fini(&t);
    CHECK_EQ(acks.ok, 90);
    CHECK_EQ(acks.failed, 10);
    CHECK_EQ(acks.status[13], RV_ERR_TIMEOUT);
    acks_free(&acks);
    psink_free(&s);
}

/* Retry calls the function again with the very same payload, up to the limit
 * of rv_decider_retry; beyond it the stage stops. */
static void test_map_decider_retry(void)
{
    for (int over = 0; over < 2; over++) {
        tu_t t;
        tu_init(&t, true, NULL);
        psrc_t src;
        acks_t acks;
        acks_init(&acks, 100);
        psink_t s;
        flaky_t *f = calloc(1, sizeof(*f));
        f->fail_times = over ? 4 : 3;
        rv_stage_t *a = psrc_new(t.g, &src, 100);
        src.boxed = true;
        src.acks = &acks;
        rv_stage_t *m =
            rv_stage_set_decider(rv_map(t.g, flaky, NULL, f), rv_decider_retry, RV_PTR(3));
        rv_chain(a, m, psink_new(t.g, &s, true), NULL);
        s.boxed = true;
        if (!over) {
            CHECK_EQ(tu_run_all(&t, 1000), RV_OK);
            CHECK(psink_is_range(&s, 0, 100));
            CHECK_EQ(f->per_elem[3], 4); /* 3 failures, then success */
            CHECK_EQ(f->per_elem[4], 1);
            for (int k = 1; k < 4; k++)
                CHECK(f->seen_ptr[3][k] == f->seen_ptr[3][0]);
            CHECK_EQ(tu_counters(m).failures, 0);
        } else {
            CHECK_EQ(tu_run_all(&t, 1000), RV_ERR_TIMEOUT);
            CHECK_EQ(f->per_elem[3], 4); /* 1 call and 3 retries */
            CHECK(psink_is_range(&s, 0, 3));
        }
        tu_fini(&t);
        CHECK_EQ(acks.status[3], over ? RV_ERR_TIMEOUT : RV_OK);
        acks_free(&acks);
        psink_free(&s);
        free(f);
    }
}

/* A decider that sees the attempt numbers and the error. */
typedef struct {
    int attempts[16];
    int n;
    rv_err_t code;
} decider_log_t;

static rv_directive_t logging_decider(rv_stage_t *st, const rv_error_t *err, int attempt,
                                      void *opaque)
{
    decider_log_t *l = opaque;
    if (l->n < 16) l->attempts[l->n++] = attempt;
    l->code = rv_error_code(err);
    return attempt < 3 ? RV_RETRY : RV_RESUME;
}

static rv_err_t always_fail_env(rv_env_t *env, rv_error_t **errp, void *opaque)
{
    return RV_INT(rv_env_payload(env)) == 5 ? RV_ERR_NOT_FOUND : RV_OK;
}

static void test_map_env_decider_attempts(void)
{
    tu_t t;
    tu_init(&t, true, NULL);
    psink_t s;
    decider_log_t log = {0};
    rv_chain(rv_source_range(t.g, 0, 10),
             rv_stage_set_decider(rv_map_env(t.g, always_fail_env, NULL), logging_decider, &log),
             psink_new(t.g, &s, true), NULL);
    CHECK_EQ(tu_run_all(&t, 1000), RV_OK);
    CHECK_EQ(log.n, 3);
    CHECK_EQ(log.attempts[0], 1);
    CHECK_EQ(log.attempts[1], 2);
    CHECK_EQ(log.attempts[2], 3);
    CHECK_EQ(log.code, RV_ERR_NOT_FOUND); /* a bare code becomes an error with that code */
    CHECK_EQ(s.n, 9);
    tu_fini(&t);
    psink_free(&s);
}

RV_TEST_MAIN(RV_TEST_T(test_map_values, 10), RV_TEST_T(test_map_payload_ownership, 10),
             RV_TEST_T(test_map_env_and_shared_envelopes, 10), RV_TEST_T(test_map_backpressure, 10),
             RV_TEST_T(test_map_completion_failure_cancel, 10),
             RV_TEST_T(test_map_decider_stop, 10), RV_TEST_T(test_map_decider_resume, 10),
             RV_TEST_T(test_map_decider_retry, 10), RV_TEST_T(test_map_env_decider_attempts, 10))
