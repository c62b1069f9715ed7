/* CassandraRetrySink against the fake CQL server, in virtual time: a command
 * reads a row's version and writes it back with a conditional update; a
 * concurrent writer (simulated by the server bumping the version right after a
 * read) makes the update not apply, and the stage retries the SAME element
 * (the old Scala original retried with none) after the backoff; retries end
 * with the last error; transient errors are retried; abort cancels. */
#include "cass_test_util.h"
#include "stmts.h"

#define NK 16

/* The fake "table": a version per key, and a concurrent writer. */
typedef struct {
    int32_t version[NK];
    int bump_reads_of;     /* key whose reads are followed by a concurrent write (-1: none) */
    int bumps_left;        /* how many times */
    int unavailable_reads; /* answer this many reads with Unavailable first */
    bool hold_reads;
    fake_req_t *held[64];
    size_t nheld;
    int reads, writes;
} table_t;

static bool table_handler(fake_req_t *r, void *opaque)
{
    table_t *t = opaque;
    if (r->opcode != FAKE_OP_EXECUTE) return false;
    if (r->stmt == ST_READ_VERSION) {
        t->reads++;
        int32_t k = fake_value_int(r, 0, -1);
        if (k < 0 || k >= NK) {
            fake_reply_error(r, 0x2200, "bad key");
            return true;
        }
        if (t->hold_reads && t->nheld < 64) {
            t->held[t->nheld++] = fake_hold(r);
            return true;
        }
        if (t->unavailable_reads > 0) {
            t->unavailable_reads--;
            fake_reply_error(r, 0x1000, "not enough replicas");
            return true;
        }
        const char *cols[] = {"version"};
        fake_reply_int_rows(r, cols, 1, &t->version[k], 1, NULL, -1);
        if (k == t->bump_reads_of && t->bumps_left != 0) {
            t->bumps_left--;
            t->version[k]++; /* another writer got in between the read and our write */
        }
        return true;
    }
    if (r->stmt == ST_UPDATE_IF) {
        t->writes++;
        int32_t nv = fake_value_int(r, 1, -1), k = fake_value_int(r, 2, -1),
                expect = fake_value_int(r, 3, -1);
        if (k < 0 || k >= NK) {
            fake_reply_error(r, 0x2200, "bad key");
            return true;
        }
        if (t->version[k] != expect) {
            fake_reply_lwt(r, false, t->version[k]);
        } else {
            t->version[k] = nv;
            fake_reply_lwt(r, true, 0);
        }
        return true;
    }
    return false;
}

/* What the command function saw, per key and attempt. */
typedef struct {
    int calls[NK];
    int attempts[NK][8];
    rv_env_t *envs[NK][8];
    void *payloads[NK][8];
    void *data[NK][8];
    int reads_done;
    bool double_execute_refused;
} seen_t;

static void on_write(rv_cassandra_cmd_t *cmd, rv_cql_result_t *res, const rv_error_t *err,
                     void *opaque)
{
    rv_cassandra_cmd_finish(cmd, res, err);
}

static void on_read(rv_cassandra_cmd_t *cmd, rv_cql_result_t *res, const rv_error_t *err,
                    void *opaque)
{
    seen_t *s = opaque;
    s->reads_done++;
    if (err) {
        rv_cassandra_cmd_finish(cmd, NULL, err);
        return;
    }
    int32_t version = -1;
    rv_cql_result_get_int(res, 0, 0, &version);
    rv_cql_result_destroy(res);
    int32_t k = (int32_t)RV_INT(rv_env_payload(rv_cassandra_cmd_env(cmd)));
    rv_cql_stmt_t *st = rv_cql_stmt_new_prepared(rv_cassandra_cmd_prepared(cmd, 1));
    rv_cql_bind_int(st, 0, k * 10);
    rv_cql_bind_int(st, 1, version + 1);
    rv_cql_bind_int(st, 2, k);
    rv_cql_bind_int(st, 3, version);
    rv_error_t *e = NULL;
    if (rv_cassandra_cmd_execute(cmd, st, on_write, s, &e) != RV_OK) rv_cassandra_cmd_done(cmd, e);
    rv_cql_stmt_destroy(st);
}

/* The user's command: read the version, then update if it is unchanged. */
static void command(rv_cassandra_cmd_t *cmd, rv_env_t *env, void *opaque)
{
    seen_t *s = opaque;
    int k = (int)RV_INT(rv_env_payload(env));
    int a = rv_cassandra_cmd_attempt(cmd);
    if (k >= 0 && k < NK && a < 8) {
        s->calls[k]++;
        s->attempts[k][s->calls[k] - 1] = a;
        s->envs[k][a] = env;
        s->payloads[k][a] = rv_env_payload(env);
        if (a == 0) rv_cassandra_cmd_set_data(cmd, malloc(16), free); /* kept across attempts */
        s->data[k][a] = rv_cassandra_cmd_data(cmd);
    }
    rv_cql_stmt_t *st = rv_cql_stmt_new_prepared(rv_cassandra_cmd_prepared(cmd, 0));
    rv_cql_bind_int(st, 0, k);
    rv_error_t *e = NULL;
    if (rv_cassandra_cmd_execute(cmd, st, on_read, s, &e) != RV_OK) {
        rv_cql_stmt_destroy(st);
        rv_cassandra_cmd_done(cmd, e);
        return;
    }
    /* One request at a time per command. */
    rv_error_t *e2 = NULL;
    if (rv_cassandra_cmd_execute(cmd, st, on_read, s, &e2) == RV_ERR_STATE)
        s->double_execute_refused = true;
    rv_error_destroy(e2);
    rv_cql_stmt_destroy(st);
}

static rv_stage_t *build(ch_t *h, psrc_t *src, acks_t *acks, int64_t n, int in_flight,
                         const rv_backoff_t *b, seen_t *seen)
{
    psrc_new(h->t.g, src, n);
    src->acks = acks;
    rv_stage_t *sink = rv_cassandra_retry_sink(h->t.g, h->s, in_flight, command, b, seen);
    CHECK_EQ(rv_cassandra_retry_sink_prepare(sink, test_stmts[ST_READ_VERSION].query), 0);
    CHECK_EQ(rv_cassandra_retry_sink_prepare(sink, test_stmts[ST_UPDATE_IF].query), 1);
    rv_link(src->st, sink);
    return sink;
}

static uint64_t retries_of(rv_stage_t *st)
{
    rv_cassandra_stats_t s;
    rv_cassandra_get_stats(st, &s);
    return s.retries;
}

/* ------------------------------------------------------------------ tests */

static void test_not_applied_retries_the_same_element(void)
{
    ch_t h;
    table_t tab = {.bump_reads_of = 3, .bumps_left = 1};
    for (int i = 0; i < NK; i++)
        tab.version[i] = 100 + i;
    ch_init(&h, true, test_stmts, ST_COUNT, table_handler, &tab, NULL);
    psrc_t src;
    acks_t acks;
    acks_init(&acks, 6);
    seen_t seen = {0};
    rv_backoff_t b = {500, 8000, 0.0, 5};
    rv_stage_t *sink = build(&h, &src, &acks, 6, 2, &b, &seen);
    REQUIRE(tu_start(&h.t) == RV_OK);

    /* Everything but key 3 goes through; key 3 lost its race and waits. */
    CH_WAIT(&h, acks.ok == 5 && retries_of(sink) == 1, 3000);
    CHECK_EQ(acks.ok, 5);
    CHECK_EQ(retries_of(sink), 1);
    CHECK_EQ(seen.calls[3], 1);
    CHECK_EQ(acks.calls[3], 0);
    CHECK(!h.t.r.done);
    CHECK(seen.double_execute_refused);

    /* Not before the backoff has passed on the graph's clock. */
    tu_advance(&h.t, 499);
    ch_spin(&h, 20);
    CHECK_EQ(seen.calls[3], 1);
    tu_advance(&h.t, 1);
    CH_WAIT(&h, h.t.r.done, 3000);
    CHECK(h.t.r.done);
    CHECK_EQ(h.t.r.code, RV_OK);

    /* The retry had the very same element: envelope, payload, state. */
    CHECK_EQ(seen.calls[3], 2);
    CHECK_EQ(seen.attempts[3][0], 0);
    CHECK_EQ(seen.attempts[3][1], 1);
    CHECK(seen.envs[3][0] != NULL && seen.envs[3][0] == seen.envs[3][1]);
    CHECK(seen.payloads[3][0] == seen.payloads[3][1]);
    CHECK_EQ(RV_INT(seen.payloads[3][1]), 3);
    CHECK(seen.data[3][0] != NULL && seen.data[3][0] == seen.data[3][1]);
    /* The re-read saw the concurrent write: ours came on top of it. */
    CHECK_EQ(tab.version[3], 103 + 2);
    for (int k = 0; k < 6; k++)
        if (k != 3) CHECK_EQ(tab.version[k], 100 + k + 1);
    CHECK_EQ(acks.ok, 6);
    CHECK(acks_at_most_once(&acks));
    rv_cassandra_stats_t st;
    rv_cassandra_get_stats(sink, &st);
    CHECK_EQ(st.not_applied, 1);
    CHECK_EQ(st.succeeded, 6);
    CHECK_EQ(st.requests, 14); /* 7 reads, 7 writes */
    ch_fini(&h);
    acks_free(&acks);
}

static void test_retries_end_with_the_last_error(void)
{
    ch_t h;
    table_t tab = {.bump_reads_of = 2, .bumps_left = -1}; /* always loses */
    ch_init(&h, true, test_stmts, ST_COUNT, table_handler, &tab, NULL);
    psrc_t src;
    acks_t acks;
    acks_init(&acks, 4);
    seen_t seen = {0};
    rv_backoff_t b = {100, 1000, 0.5, 3};
    rv_stage_t *sink = build(&h, &src, &acks, 4, 1, &b, &seen);
    REQUIRE(tu_start(&h.t) == RV_OK);
    for (uint64_t r = 1; r <= 3; r++) {
        CH_WAIT(&h, retries_of(sink) == r, 3000);
        CHECK_EQ(retries_of(sink), r);
        tu_advance(&h.t, 1500); /* past the longest delay with jitter */
    }
    CH_WAIT(&h, h.t.r.done, 3000);
    CHECK(h.t.r.done);
    CHECK_EQ(h.t.r.code, RV_ERR_NOT_APPLIED);
    CHECK(strstr(h.t.r.msg, "not applied") != NULL);
    CHECK_EQ(seen.calls[2], 4);
    for (int a = 0; a < 4; a++)
        CHECK(seen.envs[2][a] == seen.envs[2][0]);
    CHECK(acks.status[2] == RV_ERR_NOT_APPLIED);
    CHECK(acks.calls[0] == 1 && acks.status[0] == RV_OK);
    CHECK(acks.calls[1] == 1 && acks.status[1] == RV_OK);
    CHECK_EQ(acks.calls[3] > 0 && acks.status[3] == RV_OK, 0);
    ch_fini(&h);
    acks_free(&acks);
}

static void test_transient_error_is_retried(void)
{
    ch_t h;
    table_t tab = {.bump_reads_of = -1, .unavailable_reads = 2};
    ch_init(&h, true, test_stmts, ST_COUNT, table_handler, &tab, NULL);
    psrc_t src;
    acks_t acks;
    acks_init(&acks, 1);
    seen_t seen = {0};
    rv_backoff_t b = {50, 1000, 0.0, 5};
    rv_stage_t *sink = build(&h, &src, &acks, 1, 1, &b, &seen);
    REQUIRE(tu_start(&h.t) == RV_OK);
    for (uint64_t r = 1; r <= 2; r++) {
        CH_WAIT(&h, retries_of(sink) == r, 3000);
        tu_advance(&h.t, 1000);
    }
    CH_WAIT(&h, h.t.r.done, 3000);
    CHECK_EQ(h.t.r.code, RV_OK);
    CHECK_EQ(seen.calls[0], 3);
    CHECK_EQ(acks.ok, 1);
    CHECK_EQ(tab.version[0], 1);
    ch_fini(&h);
    acks_free(&acks);
}

static void test_abort_during_backoff(void)
{
    ch_t h;
    table_t tab = {.bump_reads_of = 0, .bumps_left = -1};
    ch_init(&h, true, test_stmts, ST_COUNT, table_handler, &tab, NULL);
    psrc_t src;
    acks_t acks;
    acks_init(&acks, 1);
    seen_t seen = {0};
    rv_backoff_t b = {100, 1000, 0.0, -1};
    rv_stage_t *sink = build(&h, &src, &acks, 1, 1, &b, &seen);
    REQUIRE(tu_start(&h.t) == RV_OK);
    CH_WAIT(&h, retries_of(sink) == 1, 3000);
    rv_graph_abort(h.t.g);
    CH_WAIT(&h, h.t.r.done, 3000);
    CHECK_EQ(h.t.r.code, RV_ERR_CANCELLED);
    CHECK_EQ(acks.failed, 1);
    tu_advance(&h.t, 10000);
    ch_spin(&h, 20);
    CHECK_EQ(seen.calls[0], 1); /* no attempt after the abort */
    ch_fini(&h);
    acks_free(&acks);
}

static void test_abort_cancels_the_commands_request(void)
{
    ch_t h;
    table_t tab = {.bump_reads_of = -1, .hold_reads = true};
    ch_init(&h, false, test_stmts, ST_COUNT, table_handler, &tab, NULL);
    psrc_t src;
    acks_t acks;
    acks_init(&acks, 10);
    seen_t seen = {0};
    rv_backoff_t b = {100, 1000, 0.0, 3};
    rv_stage_t *sink = build(&h, &src, &acks, 10, 3, &b, &seen);
    REQUIRE(tu_start(&h.t) == RV_OK);
    CH_WAIT(&h, tab.nheld == 3, 3000);
    ch_spin(&h, 20);
    CHECK_EQ(tab.nheld, 3); /* in_flight commands at once */
    rv_graph_abort(h.t.g);
    CH_WAIT(&h, h.t.r.done, 3000);
    CHECK_EQ(h.t.r.code, RV_ERR_CANCELLED);
    rv_cassandra_stats_t st;
    rv_cassandra_get_stats(sink, &st);
    CHECK_EQ(st.cancelled, 3);
    /* The reads are answered now: the commands' callbacks are never called. */
    const char *cols[] = {"version"};
    int32_t v = 0;
    for (size_t i = 0; i < tab.nheld; i++) {
        fake_reply_int_rows(tab.held[i], cols, 1, &v, 1, NULL, -1);
        fake_req_free(tab.held[i]);
    }
    ch_spin(&h, 50);
    CHECK_EQ(seen.reads_done, 0);
    CHECK_EQ(acks.ok, 0);
    ch_fini(&h);
    acks_free(&acks);
}

/* A command that ends at once: odd keys succeed, key 4 fails for good. */
static void sync_command(rv_cassandra_cmd_t *cmd, rv_env_t *env, void *opaque)
{
    int k = (int)RV_INT(rv_env_payload(env));
    if (k == 4)
        rv_cassandra_cmd_done(cmd, rv_error_new(RV_ERR_USER, false, "key 4 is invalid"));
    else
        rv_cassandra_cmd_done(cmd, NULL);
    rv_cassandra_cmd_done(cmd, NULL); /* a second end is ignored */
}

static void test_synchronous_completion(void)
{
    ch_t h;
    ch_init(&h, false, test_stmts, ST_COUNT, NULL, NULL, NULL);
    psrc_t src;
    acks_t acks;
    acks_init(&acks, 10);
    psrc_new(h.t.g, &src, 10);
    src.acks = &acks;
    rv_backoff_t b = {100, 1000, 0.0, 3};
    rv_stage_t *sink = rv_cassandra_retry_sink(h.t.g, h.s, 4, sync_command, &b, NULL);
    rv_link(src.st, sink);
    CHECK_EQ(tu_run_all(&h.t, 5000), RV_ERR_USER);
    CHECK(strstr(h.t.r.msg, "key 4 is invalid") != NULL);
    for (int i = 0; i < 4; i++)
        CHECK(acks.calls[i] == 1 && acks.status[i] == RV_OK);
    CHECK(acks.status[4] == RV_ERR_USER);
    CHECK(acks_at_most_once(&acks));
    ch_fini(&h);
    acks_free(&acks);
}

static void test_prepare_only_before_run(void)
{
    ch_t h;
    ch_init(&h, false, test_stmts, ST_COUNT, NULL, NULL, NULL);
    rv_stage_t *sink = rv_cassandra_sink(h.t.g, h.s, 1);
    CHECK_EQ(rv_cassandra_retry_sink_prepare(sink, "SELECT v FROM t"), -1);
    ch_fini(&h);
}

/* A command that writes a batch of two inserts. */
static void on_batch(rv_cassandra_cmd_t *cmd, rv_cql_result_t *res, const rv_error_t *err,
                     void *opaque)
{
    rv_cassandra_cmd_finish(cmd, res, err);
}

static void batch_command(rv_cassandra_cmd_t *cmd, rv_env_t *env, void *opaque)
{
    int k = (int)RV_INT(rv_env_payload(env));
    rv_cql_batch_t *b = rv_cql_batch_new(RV_CQL_BATCH_LOGGED);
    rv_cql_stmt_t *st = rv_cql_stmt_new_prepared(rv_cassandra_cmd_prepared(cmd, 0));
    for (int i = 0; i < 2; i++) {
        rv_cql_stmt_reset(st);
        rv_cql_bind_int(st, 0, k * 2 + i);
        rv_cql_bind_int(st, 1, k);
        rv_cql_batch_add(b, st, NULL);
    }
    rv_error_t *e = NULL;
    if (rv_cassandra_cmd_execute_batch(cmd, b, on_batch, NULL, &e) != RV_OK)
        rv_cassandra_cmd_done(cmd, e);
    rv_cql_stmt_destroy(st);
    rv_cql_batch_destroy(b);
}

static void test_batch_commands(void)
{
    ch_t h;
    ch_init(&h, false, test_stmts, ST_COUNT, NULL, NULL, NULL);
    psrc_t src;
    acks_t acks;
    acks_init(&acks, 10);
    psrc_new(h.t.g, &src, 10);
    src.acks = &acks;
    rv_backoff_t b = {100, 1000, 0.0, 3};
    rv_stage_t *sink = rv_cassandra_retry_sink(h.t.g, h.s, 3, batch_command, &b, NULL);
    rv_cassandra_retry_sink_prepare(sink, test_stmts[ST_INSERT].query);
    rv_link(src.st, sink);
    CHECK_EQ(tu_run_all(&h.t, 5000), RV_OK);
    CHECK_EQ(h.fake->batches, 10);
    CHECK_EQ(acks.ok, 10);
    ch_fini(&h);
    acks_free(&acks);
}

RV_TEST_MAIN(RV_TEST(test_not_applied_retries_the_same_element),
             RV_TEST(test_retries_end_with_the_last_error),
             RV_TEST(test_transient_error_is_retried), RV_TEST(test_abort_during_backoff),
             RV_TEST(test_abort_cancels_the_commands_request), RV_TEST(test_synchronous_completion),
             RV_TEST(test_prepare_only_before_run), RV_TEST(test_batch_commands))
