/* CassandraBind and CassandraSink against the fake CQL server: binding, acks
 * only after the write succeeded, the in-flight limit, retries of transient
 * errors in virtual time, failure on a non-retriable error, and cancellation
 * on abort and on destroy (no callback reaches a freed stage: ASan checks). */
#include "cass_test_util.h"
#include "stmts.h"

#define MAXH 256

/* Holds every EXECUTE; the test answers them. */
typedef struct {
    fake_req_t *reqs[MAXH];
    size_t n, answered;
    int32_t keys[MAXH];
} held_t;

static bool hold_exec(fake_req_t *r, void *opaque)
{
    held_t *hd = opaque;
    if (r->opcode != FAKE_OP_EXECUTE || hd->n == MAXH) return false;
    hd->keys[hd->n] = fake_value_int(r, 0, -1);
    hd->reqs[hd->n++] = fake_hold(r);
    return true;
}

static void answer_void(held_t *hd, size_t i)
{
    fake_reply_void(hd->reqs[i]);
    fake_req_free(hd->reqs[i]);
    hd->reqs[i] = NULL;
    hd->answered++;
}

/* Source -> bind -> sink, with acks tracked per element. */
static void build(ch_t *h, psrc_t *src, acks_t *acks, int64_t n, int in_flight, rv_stage_t **sink)
{
    psrc_new(h->t.g, src, n);
    src->acks = acks;
    rv_stage_t *bind =
        rv_cassandra_bind(h->t.g, h->s, test_stmts[ST_INSERT].query, ch_bind_kv, NULL);
    *sink = rv_cassandra_sink(h->t.g, h->s, in_flight);
    rv_chain(src->st, bind, *sink, NULL);
}

/* ------------------------------------------------------------------ tests */

static void test_sink_writes_and_acks_after_success(void)
{
    ch_t h;
    held_t hd = {0};
    ch_init(&h, false, test_stmts, ST_COUNT, hold_exec, &hd, NULL);
    psrc_t src;
    acks_t acks;
    acks_init(&acks, 20);
    rv_stage_t *sink;
    build(&h, &src, &acks, 20, 4, &sink);
    REQUIRE(tu_start(&h.t) == RV_OK);

    /* Exactly 4 in flight, none acked before its answer. */
    CH_WAIT(&h, hd.n == 4, 3000);
    ch_spin(&h, 30);
    CHECK_EQ(hd.n, 4);
    CHECK_EQ(h.fake->outstanding, 4);
    CHECK_EQ(acks.total, 0);

    /* Answer one at a time: each answer acks exactly that element and lets
     * exactly one more statement go. */
    for (size_t i = 0; i < 20; i++) {
        int32_t k = hd.keys[i];
        answer_void(&hd, i);
        CH_WAIT(&h, acks.total == (int)i + 1, 3000);
        CHECK_EQ(acks.total, (int)i + 1);
        CHECK(k >= 0 && k < 20 && acks.calls[k] == 1 && acks.status[k] == RV_OK);
        size_t want = i + 5 < 20 ? i + 5 : 20;
        CH_WAIT(&h, hd.n == want, 3000);
        CHECK_EQ(hd.n, want);
        CHECK(h.fake->outstanding <= 4);
    }
    CH_WAIT(&h, h.t.r.done, 3000);
    CHECK(h.t.r.done);
    CHECK_EQ(h.t.r.code, RV_OK);
    CHECK_EQ(acks.ok, 20);
    CHECK(acks_at_most_once(&acks));
    CHECK_EQ(h.fake->max_outstanding, 4);
    /* The values were bound from the elements: every key once. */
    int seen[20] = {0};
    for (size_t i = 0; i < 20; i++)
        if (hd.keys[i] >= 0 && hd.keys[i] < 20) seen[hd.keys[i]]++;
    for (int i = 0; i < 20; i++)
        CHECK_EQ(seen[i], 1);
    rv_cassandra_stats_t stats;
    rv_cassandra_get_stats(sink, &stats);
    CHECK_EQ(stats.requests, 20);
    CHECK_EQ(stats.succeeded, 20);
    CHECK_EQ(stats.in_flight_max, 4);
    CHECK_EQ(stats.in_flight, 0);
    CHECK_EQ(h.fake->prepares, 1);
    ch_fini(&h);
    acks_free(&acks);
}

/* The values the fake received: k and v = 2k. */
typedef struct {
    int32_t k[64], v[64];
    size_t n;
} seen_t;

static bool record_exec(fake_req_t *r, void *opaque)
{
    seen_t *s = opaque;
    if (r->opcode == FAKE_OP_EXECUTE && s->n < 64) {
        s->k[s->n] = fake_value_int(r, 0, -1);
        s->v[s->n] = fake_value_int(r, 1, -1);
        s->n++;
    }
    return false;
}

static void test_bind_values_reach_the_server(void)
{
    ch_t h;
    seen_t seen = {0};
    ch_init(&h, false, test_stmts, ST_COUNT, record_exec, &seen, NULL);
    psrc_t src;
    acks_t acks;
    acks_init(&acks, 10);
    rv_stage_t *sink;
    build(&h, &src, &acks, 10, 1, &sink);
    CHECK_EQ(tu_run_all(&h.t, 5000), RV_OK);
    REQUIRE(seen.n == 10);
    for (size_t i = 0; i < 10; i++) {
        CHECK_EQ(seen.k[i], (int32_t)i); /* one in flight: in order */
        CHECK_EQ(seen.v[i], 2 * (int32_t)i);
    }
    CHECK_EQ(acks.ok, 10);
    ch_fini(&h);
    acks_free(&acks);
}

/* Element 3 is refused by the server with Invalid (not retriable). */
static bool invalid_on_3(fake_req_t *r, void *opaque)
{
    if (r->opcode == FAKE_OP_EXECUTE && fake_value_int(r, 0, -1) == 3) {
        fake_reply_error(r, 0x2200, "bad value for k");
        return true;
    }
    return false;
}

static void test_sink_fails_on_non_retriable_error(void)
{
    ch_t h;
    ch_init(&h, false, test_stmts, ST_COUNT, invalid_on_3, NULL, NULL);
    psrc_t src;
    acks_t acks;
    acks_init(&acks, 10);
    rv_stage_t *sink;
    build(&h, &src, &acks, 10, 1, &sink);
    CHECK_EQ(tu_run_all(&h.t, 5000), RV_ERR_FROM_CQL(RV_CQL_ERR_INVALID));
    CHECK(strstr(h.t.r.msg, "bad value for k") != NULL);
    CHECK(strstr(h.t.r.msg, "cassandra-sink") != NULL);
    for (int i = 0; i < 3; i++)
        CHECK(acks.calls[i] == 1 && acks.status[i] == RV_OK);
    CHECK_EQ(acks.calls[3], 1);
    CHECK(acks.status[3] != RV_OK);
    for (int i = 4; i < 10; i++)
        CHECK(acks.calls[i] == 0 || acks.status[i] != RV_OK);
    CHECK(acks_at_most_once(&acks));
    ch_fini(&h);
    acks_free(&acks);
}

static void test_sink_resume_decider_drops_and_goes_on(void)
{
    ch_t h;
    ch_init(&h, false, test_stmts, ST_COUNT, invalid_on_3, NULL, NULL);
    psrc_t src;
    acks_t acks;
    acks_init(&acks, 10);
    rv_stage_t *sink;
    build(&h, &src, &acks, 10, 2, &sink);
    rv_stage_set_decider(sink, rv_decider_resume, NULL);
    CHECK_EQ(tu_run_all(&h.t, 5000), RV_OK);
    CHECK_EQ(acks.ok, 9);
    CHECK_EQ(acks.failed, 1);
    CHECK(acks.status[3] == RV_ERR_FROM_CQL(RV_CQL_ERR_INVALID));
    rv_cassandra_stats_t stats;
    rv_cassandra_get_stats(sink, &stats);
    CHECK_EQ(stats.failed, 1);
    CHECK_EQ(stats.succeeded, 9);
    ch_fini(&h);
    acks_free(&acks);
}

/* Write_timeout (retriable) for the first `fails` attempts of element 2. */
typedef struct {
    int fails;
    int attempts2;
} flaky_t;

static bool flaky_2(fake_req_t *r, void *opaque)
{
    flaky_t *f = opaque;
    if (r->opcode == FAKE_OP_EXECUTE && fake_value_int(r, 0, -1) == 2) {
        if (f->attempts2++ < f->fails) {
            fake_reply_error(r, 0x1100, "write timed out");
            return true;
        }
    }
    return false;
}

static void test_sink_retries_transient_errors_in_virtual_time(void)
{
    ch_t h;
    flaky_t fl = {2, 0};
    ch_init(&h, true, test_stmts, ST_COUNT, flaky_2, &fl, NULL);
    psrc_t src;
    acks_t acks;
    acks_init(&acks, 5);
    rv_stage_t *sink;
    build(&h, &src, &acks, 5, 1, &sink);
    rv_backoff_t b = {1000, 60000, 0.0, 5};
    rv_cassandra_set_backoff(sink, &b);
    REQUIRE(tu_start(&h.t) == RV_OK);
    rv_cassandra_stats_t stats;
    CH_WAIT(&h, (rv_cassandra_get_stats(sink, &stats), stats.retries == 1), 3000);
    CHECK_EQ(stats.retries, 1);
    ch_spin(&h, 20);
    /* The retry waits for the graph's (virtual) clock: nothing happens in real time. */
    CHECK_EQ(fl.attempts2, 1);
    CHECK_EQ(acks.total, 2);
    tu_advance(&h.t, 999);
    ch_spin(&h, 20);
    CHECK_EQ(fl.attempts2, 1);
    tu_advance(&h.t, 1);
    CH_WAIT(&h, (rv_cassandra_get_stats(sink, &stats), stats.retries == 2), 3000);
    CHECK_EQ(fl.attempts2, 2);
    /* The second retry waits twice as long. */
    tu_advance(&h.t, 1999);
    ch_spin(&h, 20);
    CHECK_EQ(fl.attempts2, 2);
    tu_advance(&h.t, 1);
    CH_WAIT(&h, h.t.r.done, 3000);
    CHECK_EQ(fl.attempts2, 3);
    CHECK(h.t.r.done);
    CHECK_EQ(h.t.r.code, RV_OK);
    CHECK_EQ(acks.ok, 5);
    CHECK(acks_at_most_once(&acks));
    rv_cassandra_get_stats(sink, &stats);
    CHECK_EQ(stats.retries, 2);
    ch_fini(&h);
    acks_free(&acks);
}

static void test_sink_gives_up_after_max_retries(void)
{
    ch_t h;
    flaky_t fl = {1000, 0};
    ch_init(&h, true, test_stmts, ST_COUNT, flaky_2, &fl, NULL);
    psrc_t src;
    acks_t acks;
    acks_init(&acks, 5);
    rv_stage_t *sink;
    build(&h, &src, &acks, 5, 1, &sink);
    rv_backoff_t b = {10, 100, 0.0, 3};
    rv_cassandra_set_backoff(sink, &b);
    REQUIRE(tu_start(&h.t) == RV_OK);
    rv_cassandra_stats_t stats;
    for (uint64_t r = 1; r <= 3; r++) {
        CH_WAIT(&h, (rv_cassandra_get_stats(sink, &stats), stats.retries == r), 3000);
        CHECK_EQ(stats.retries, r);
        tu_advance(&h.t, 100);
    }
    CH_WAIT(&h, h.t.r.done, 3000);
    CHECK(h.t.r.done);
    CHECK_EQ(h.t.r.code, RV_ERR_FROM_CQL(RV_CQL_ERR_WRITE_TIMEOUT));
    CHECK_EQ(fl.attempts2, 4); /* the first call and 3 retries */
    CHECK(acks.status[2] == RV_ERR_FROM_CQL(RV_CQL_ERR_WRITE_TIMEOUT));
    CHECK(acks_at_most_once(&acks));
    ch_fini(&h);
    acks_free(&acks);
}

static void test_sink_abort_cancels_requests(void)
{
    ch_t h;
    held_t hd = {0};
    ch_init(&h, false, test_stmts, ST_COUNT, hold_exec, &hd, NULL);
    psrc_t src;
    acks_t acks;
    acks_init(&acks, 50);
    rv_stage_t *sink;
    build(&h, &src, &acks, 50, 8, &sink);
    REQUIRE(tu_start(&h.t) == RV_OK);
    CH_WAIT(&h, hd.n == 8, 3000);
    REQUIRE(hd.n == 8);
    rv_graph_abort(h.t.g);
    CH_WAIT(&h, h.t.r.done, 3000);
    CHECK(h.t.r.done);
    CHECK_EQ(h.t.r.code, RV_ERR_CANCELLED);
    CHECK_EQ(acks.ok, 0);
    CHECK(acks_at_most_once(&acks));
    rv_cassandra_stats_t stats;
    rv_cassandra_get_stats(sink, &stats);
    CHECK_EQ(stats.cancelled, 8);
    CHECK_EQ(stats.in_flight, 0);
    /* The server answers now: nothing reaches the stage, nothing is acked. */
    int total = acks.total;
    for (size_t i = 0; i < hd.n; i++)
        answer_void(&hd, i);
    ch_spin(&h, 50);
    CHECK_EQ(acks.total, total);
    CHECK_EQ(acks.ok, 0);
    ch_fini(&h);
    acks_free(&acks);
}

static void test_sink_destroy_with_requests_outstanding(void)
{
    ch_t h;
    held_t hd = {0};
    ch_init(&h, false, test_stmts, ST_COUNT, hold_exec, &hd, NULL);
    psrc_t src;
    acks_t acks;
    acks_init(&acks, 20);
    rv_stage_t *sink;
    build(&h, &src, &acks, 20, 4, &sink);
    REQUIRE(tu_start(&h.t) == RV_OK);
    CH_WAIT(&h, hd.n == 4, 3000);
    REQUIRE(hd.n == 4);
    /* Destroying the running graph runs the stop hooks: the requests are
     * cancelled there, so the answers below find no stage (ASan would see a
     * callback into freed memory). */
    rv_graph_destroy(h.t.g);
    h.t.destroyed = true;
    for (size_t i = 0; i < hd.n; i++)
        answer_void(&hd, i);
    ch_spin(&h, 50);
    CHECK_EQ(acks.ok, 0);
    CHECK(acks_at_most_once(&acks));
    ch_fini(&h);
    acks_free(&acks);
}

static void test_sink_graceful_stop_waits_for_writes(void)
{
    ch_t h;
    held_t hd = {0};
    ch_init(&h, false, test_stmts, ST_COUNT, hold_exec, &hd, NULL);
    psrc_t src;
    acks_t acks;
    acks_init(&acks, 1000);
    rv_stage_t *sink;
    build(&h, &src, &acks, -1, 4, &sink); /* an endless source */
    REQUIRE(tu_start(&h.t) == RV_OK);
    CH_WAIT(&h, hd.n == 4, 3000);
    REQUIRE(hd.n == 4);
    /* The source stops; what is buffered and in flight drains, then done. */
    rv_graph_stop(h.t.g);
    ch_spin(&h, 20);
    CHECK(!h.t.r.done);
    int64_t emitted = src.emitted;
    for (size_t i = 0; !h.t.r.done && i < (size_t)emitted; i++) {
        CH_WAIT(&h, hd.n > i, 3000);
        if (hd.n <= i) break;
        answer_void(&hd, i);
    }
    CH_WAIT(&h, h.t.r.done, 3000);
    CHECK(h.t.r.done);
    CHECK_EQ(h.t.r.code, RV_OK);
    CHECK_EQ(acks.ok, (int)emitted);
    CHECK_EQ(hd.n, (size_t)emitted);
    CHECK(acks_at_most_once(&acks));
    ch_fini(&h);
    acks_free(&acks);
}

/* A bind function that binds a text to the int marker k (a type error the
 * CQL client reports), and ignores the result. */
static rv_err_t bind_wrong_type(rv_cql_stmt_t *stmt, rv_env_t *env, rv_error_t **errp, void *opaque)
{
    rv_cql_bind_text(stmt, 0, "not an int");
    rv_cql_bind_int(stmt, 1, 1);
    return RV_OK;
}

static void test_bind_error_is_noticed(void)
{
    ch_t h;
    ch_init(&h, false, test_stmts, ST_COUNT, NULL, NULL, NULL);
    psrc_t src;
    acks_t acks;
    acks_init(&acks, 5);
    psrc_new(h.t.g, &src, 5);
    src.acks = &acks;
    rv_stage_t *bind =
        rv_cassandra_bind(h.t.g, h.s, test_stmts[ST_INSERT].query, bind_wrong_type, NULL);
    rv_stage_t *sink = rv_cassandra_sink(h.t.g, h.s, 2);
    rv_chain(src.st, bind, sink, NULL);
    CHECK_EQ(tu_run_all(&h.t, 5000), RV_ERR_INVALID);
    CHECK(strstr(h.t.r.msg, "cassandra-bind") != NULL);
    CHECK_EQ(acks.ok, 0);
    CHECK(acks.status[0] == RV_ERR_INVALID);
    CHECK_EQ(h.fake->executes, 0);
    ch_fini(&h);
    acks_free(&acks);
}

/* A bind function that fails on element 2 with its own error. */
static rv_err_t bind_fail_2(rv_cql_stmt_t *stmt, rv_env_t *env, rv_error_t **errp, void *opaque)
{
    if (RV_INT(rv_env_payload(env)) == 2)
        return rv_error_set(errp, RV_ERR_USER, false, "element 2 cannot be bound");
    return ch_bind_kv(stmt, env, errp, opaque);
}

static void test_bind_user_error_and_resume(void)
{
    ch_t h;
    ch_init(&h, false, test_stmts, ST_COUNT, NULL, NULL, NULL);
    psrc_t src;
    acks_t acks;
    acks_init(&acks, 5);
    psrc_new(h.t.g, &src, 5);
    src.acks = &acks;
    rv_stage_t *bind =
        rv_cassandra_bind(h.t.g, h.s, test_stmts[ST_INSERT].query, bind_fail_2, NULL);
    rv_stage_set_decider(bind, rv_decider_resume, NULL);
    rv_stage_t *sink = rv_cassandra_sink(h.t.g, h.s, 2);
    rv_chain(src.st, bind, sink, NULL);
    CHECK_EQ(tu_run_all(&h.t, 5000), RV_OK);
    CHECK_EQ(acks.ok, 4);
    CHECK_EQ(acks.failed, 1);
    CHECK(acks.status[2] == RV_ERR_USER);
    CHECK_EQ(h.fake->executes, 4);
    ch_fini(&h);
    acks_free(&acks);
}

static void test_prepare_failure_fails_the_stage(void)
{
    ch_t h;
    ch_init(&h, false, test_stmts, ST_COUNT, NULL, NULL, NULL);
    psrc_t src;
    acks_t acks;
    acks_init(&acks, 5);
    psrc_new(h.t.g, &src, 5);
    src.acks = &acks;
    rv_stage_t *bind =
        rv_cassandra_bind(h.t.g, h.s, "INSERT INTO nowhere (x) VALUES (?)", ch_bind_kv, NULL);
    rv_stage_t *sink = rv_cassandra_sink(h.t.g, h.s, 2);
    rv_chain(src.st, bind, sink, NULL);
    CHECK_EQ(tu_run_all(&h.t, 5000), RV_ERR_FROM_CQL(RV_CQL_ERR_INVALID));
    CHECK(strstr(h.t.r.msg, "INSERT INTO nowhere") != NULL);
    CHECK_EQ(acks.ok, 0);
    ch_fini(&h);
    acks_free(&acks);
}

static void test_constructor_errors(void)
{
    ch_t h;
    ch_init(&h, false, test_stmts, ST_COUNT, NULL, NULL, NULL);
    CHECK(rv_cassandra_sink(h.t.g, h.s, 0) == NULL);
    CHECK(rv_cassandra_sink(h.t.g, NULL, 1) == NULL);
    CHECK(rv_cassandra_bind(h.t.g, h.s, NULL, ch_bind_kv, NULL) == NULL);
    CHECK(rv_cassandra_bind(h.t.g, h.s, "x", NULL, NULL) == NULL);
    CHECK(rv_cassandra_query(h.t.g, h.s, "SELECT v FROM t", 0, NULL, NULL) == NULL);
    rv_backoff_t b = {1, 2, 0, 1};
    CHECK(rv_cassandra_retry_sink(h.t.g, h.s, 1, NULL, &b, NULL) == NULL);
    /* A session of another loop. */
    uv_loop_t other;
    uv_loop_init(&other);
    rv_cql_session_t *s2 = rv_cql_session_new(&other, NULL, NULL);
    CHECK(rv_cassandra_sink(h.t.g, s2, 1) == NULL);
    rv_cql_session_destroy(s2);
    uv_run(&other, UV_RUN_DEFAULT);
    CHECK_EQ(uv_loop_close(&other), 0);
    /* The first build error is reported by run. */
    rv_error_t *err = NULL;
    CHECK_EQ(rv_graph_run(h.t.g, NULL, NULL, &err), RV_ERR_INVALID);
    CHECK(err && strstr(rv_error_msg(err), "in_flight") != NULL);
    rv_error_destroy(err);
    /* Stats of a stage of another kind are zeros. */
    rv_cassandra_stats_t st;
    memset(&st, 0xff, sizeof(st));
    rv_cassandra_get_stats(NULL, &st);
    CHECK_EQ(st.requests, 0);
    ch_fini(&h);
}

RV_TEST_MAIN(RV_TEST(test_sink_writes_and_acks_after_success),
             RV_TEST(test_bind_values_reach_the_server),
             RV_TEST(test_sink_fails_on_non_retriable_error),
             RV_TEST(test_sink_resume_decider_drops_and_goes_on),
             RV_TEST(test_sink_retries_transient_errors_in_virtual_time),
             RV_TEST(test_sink_gives_up_after_max_retries),
             RV_TEST(test_sink_abort_cancels_requests),
             RV_TEST(test_sink_destroy_with_requests_outstanding),
             RV_TEST(test_sink_graceful_stop_waits_for_writes), RV_TEST(test_bind_error_is_noticed),
             RV_TEST(test_bind_user_error_and_resume),
             RV_TEST(test_prepare_failure_fails_the_stage), RV_TEST(test_constructor_errors))
