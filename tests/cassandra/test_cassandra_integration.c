/* Integration tests of the Cassandra stages against a real Cassandra 5.0
 * (tools/services/services start cassandra; CQL on 127.0.0.1:9042 with
 * PasswordAuthenticator cassandra/cassandra, or RV_CQL_HOST / RV_CQL_PORT /
 * RV_CQL_USER / RV_CQL_PASSWORD). They FAIL when Cassandra is unreachable.
 * Keyspace: rv_test_cass_stages.
 *
 *   sink       10,000 rows with 64 in flight; every element acked exactly once,
 *              after success; the rows read back
 *   retry      a second session bumps a row's version between the command's
 *              read and its conditional write: the write is not applied, and
 *              the same element is retried and applied
 *   query      10,000 rows in pages of 100 to a slow consumer: never more than
 *              a page and an edge buffered; mapped pages of exactly 250
 *   lwt        applied / not applied with the current values
 *   pause      Cassandra SIGSTOPped for 10 s mid-stream: the retry sink retries
 *              and finishes with nothing lost
 */
#include <signal.h>
#include <sys/types.h>

#include "cass_it.h"

static rv_err_t bind_kv(rv_cql_stmt_t *stmt, rv_env_t *env, rv_error_t **errp, void *opaque)
{
    int32_t k = (int32_t)RV_INT(rv_env_payload(env));
    rv_cql_bind_int(stmt, 0, k);
    rv_cql_bind_int(stmt, 1, 2 * k);
    return RV_OK;
}

/* ------------------------------------------------------------ reading back */

typedef struct {
    int32_t n;    /* keys 0..n-1 expected */
    int *count;   /* rows seen per key */
    int32_t mult; /* v must be mult * k */
    int bad, rows;
} readback_t;

static rv_err_t readback_row(void *in, rv_error_t **errp, void *opaque)
{
    readback_t *r = opaque;
    const rv_cassandra_row_t *row = in;
    int32_t k = -1, v = -1;
    rv_cql_result_get_int(row->result, row->row, 0, &k);
    rv_cql_result_get_int(row->result, row->row, 1, &v);
    r->rows++;
    if (k < 0 || k >= r->n || v != r->mult * k)
        r->bad++;
    else
        r->count[k]++;
    return RV_OK;
}

/* Reads every (k, v) of table with a CassandraQuery on a graph of its own and
 * checks that each key 0..n-1 is there once with v = mult * k. */
static void check_table(it_t *it, const char *table, int32_t n, int32_t mult)
{
    char q[256];
    snprintf(q, sizeof(q), "SELECT k, v FROM " IT_KEYSPACE ".%s", table);
    readback_t r = {n, calloc((size_t)n, sizeof(int)), mult, 0, 0};
    rv_graph_t *g = rv_graph_new(&it->t.loop, NULL, NULL);
    rv_stage_t *src = rv_cassandra_query(g, it->s, q, 1000, NULL, NULL);
    rv_stage_t *sink = rv_for_each(g, readback_row, &r);
    rv_link(src, sink);
    run_result_t res = {0};
    CHECK_EQ(tu_run(g, &res, 60000), RV_OK);
    if (res.code != RV_OK) fprintf(stderr, "    read back: %s\n", res.msg);
    rv_graph_destroy(g);
    for (int i = 0; i < 8; i++)
        uv_run(&it->t.loop, UV_RUN_NOWAIT);
    CHECK_EQ(r.rows, n);
    CHECK_EQ(r.bad, 0);
    int missing = 0;
    for (int32_t k = 0; k < n; k++)
        missing += r.count[k] != 1;
    CHECK_EQ(missing, 0);
    free(r.count);
}

/* Writes keys 0..n-1 (v = 2k) with a bind + sink graph of its own. */
static void fill_table(it_t *it, const char *table, int32_t n)
{
    char q[256];
    snprintf(q, sizeof(q), "INSERT INTO " IT_KEYSPACE ".%s (k, v) VALUES (?, ?)", table);
    rv_graph_t *g = rv_graph_new(&it->t.loop, NULL, NULL);
    rv_stage_t *src = rv_source_range(g, 0, n);
    rv_stage_t *bind = rv_cassandra_bind(g, it->s, q, bind_kv, NULL);
    rv_stage_t *sink = rv_cassandra_sink(g, it->s, 64);
    rv_chain(src, bind, sink, NULL);
    run_result_t res = {0};
    CHECK_EQ(tu_run(g, &res, 120000), RV_OK);
    if (res.code != RV_OK) fprintf(stderr, "    fill: %s\n", res.msg);
    rv_graph_destroy(g);
    for (int i = 0; i < 8; i++)
        uv_run(&it->t.loop, UV_RUN_NOWAIT);
}

/* ------------------------------------------------------------------- sink */

static void test_it_sink_10000_rows_acked_once(void)
{
    it_t it;
    IT_OPEN(&it, NULL);
    it_table(&it, "sink_rows", "k int PRIMARY KEY, v int");
    psrc_t src;
    acks_t acks;
    acks_init(&acks, 10000);
    psrc_new(it.t.g, &src, 10000);
    src.acks = &acks;
    rv_stage_t *bind = rv_cassandra_bind(
        it.t.g, it.s, "INSERT INTO " IT_KEYSPACE ".sink_rows (k, v) VALUES (?, ?)", bind_kv, NULL);
    rv_stage_t *sink = rv_cassandra_sink(it.t.g, it.s, 64);
    rv_chain(src.st, bind, sink, NULL);
    uint64_t t0 = uv_now(&it.t.loop);
    CHECK_EQ(it_run_graph(&it, 120000), RV_OK);
    if (it.t.r.code != RV_OK) fprintf(stderr, "    %s\n", it.t.r.msg);
    fprintf(stderr, "    10000 rows in %llu ms\n", (unsigned long long)(uv_now(&it.t.loop) - t0));
    CHECK_EQ(acks.total, 10000);
    CHECK_EQ(acks.ok, 10000);
    int not_once = 0;
    for (int i = 0; i < 10000; i++)
        not_once += acks.calls[i] != 1 || acks.status[i] != RV_OK;
    CHECK_EQ(not_once, 0);
    rv_cassandra_stats_t st;
    rv_cassandra_get_stats(sink, &st);
    CHECK_EQ(st.succeeded, 10000);
    CHECK_EQ(st.failed, 0);
    CHECK(st.in_flight_max <= 64);
    CHECK(st.in_flight_max > 1);
    check_table(&it, "sink_rows", 10000, 2);
    it_fini(&it);
    acks_free(&acks);
}

/* ----------------------------------------------------- retry with a writer */

#define RK 10

typedef struct {
    rv_cql_session_t *other; /* the concurrent writer's session */
    const rv_cql_prepared_t *bump;
    int race_key;
    bool raced;
    int calls[RK];
    rv_env_t *envs[RK][4];
    int attempts[RK][4];
} retry_ctx_t;

typedef struct {
    rv_cassandra_cmd_t *cmd;
    retry_ctx_t *ctx;
    int32_t k, version;
} step_t;

static void on_update(rv_cassandra_cmd_t *cmd, rv_cql_result_t *res, const rv_error_t *err,
                      void *opaque)
{
    rv_cassandra_cmd_finish(cmd, res, err);
}

static void conditional_update(rv_cassandra_cmd_t *cmd, int32_t k, int32_t version)
{
    rv_cql_stmt_t *st = rv_cql_stmt_new_prepared(rv_cassandra_cmd_prepared(cmd, 1));
    rv_cql_bind_int(st, 0, k * 10);
    rv_cql_bind_int(st, 1, version + 1);
    rv_cql_bind_int(st, 2, k);
    rv_cql_bind_int(st, 3, version);
    rv_error_t *err = NULL;
    if (rv_cassandra_cmd_execute(cmd, st, on_update, NULL, &err) != RV_OK)
        rv_cassandra_cmd_done(cmd, err);
    rv_cql_stmt_destroy(st);
}

/* The other writer's bump is done: now our (stale) conditional write. */
static void on_bumped(rv_cql_session_t *s, rv_cql_result_t *res, const rv_error_t *err,
                      void *opaque)
{
    step_t *sp = rv_cassandra_cmd_data(opaque);
    if (err || rv_cql_result_applied(res) != 1)
        fprintf(stderr, "    the concurrent bump failed: %s\n",
                err ? rv_error_msg(err) : "not applied");
    rv_cql_result_destroy(res);
    conditional_update(sp->cmd, sp->k, sp->version);
}

static void on_read(rv_cassandra_cmd_t *cmd, rv_cql_result_t *res, const rv_error_t *err,
                    void *opaque)
{
    retry_ctx_t *ctx = opaque;
    if (err) {
        rv_cassandra_cmd_finish(cmd, NULL, err);
        return;
    }
    int32_t version = -1;
    rv_cql_result_get_int(res, 0, 0, &version);
    rv_cql_result_destroy(res);
    int32_t k = (int32_t)RV_INT(rv_env_payload(rv_cassandra_cmd_env(cmd)));
    if (k == ctx->race_key && !ctx->raced) {
        /* Another writer gets in between our read and our write. */
        ctx->raced = true;
        step_t *sp = rv_cassandra_cmd_data(cmd);
        sp->cmd = cmd;
        sp->k = k;
        sp->version = version;
        rv_cql_stmt_t *st = rv_cql_stmt_new_prepared(ctx->bump);
        rv_cql_bind_int(st, 0, version + 1);
        rv_cql_bind_int(st, 1, k);
        rv_cql_bind_int(st, 2, version);
        rv_error_t *e = NULL;
        if (!rv_cql_execute(ctx->other, st, on_bumped, cmd, &e)) rv_cassandra_cmd_done(cmd, e);
        rv_cql_stmt_destroy(st);
        return;
    }
    conditional_update(cmd, k, version);
}

static void retry_command(rv_cassandra_cmd_t *cmd, rv_env_t *env, void *opaque)
{
    retry_ctx_t *ctx = opaque;
    int k = (int)RV_INT(rv_env_payload(env));
    int a = rv_cassandra_cmd_attempt(cmd);
    if (k >= 0 && k < RK && ctx->calls[k] < 4) {
        ctx->envs[k][ctx->calls[k]] = env;
        ctx->attempts[k][ctx->calls[k]] = a;
        ctx->calls[k]++;
    }
    if (a == 0) rv_cassandra_cmd_set_data(cmd, calloc(1, sizeof(step_t)), free);
    rv_cql_stmt_t *st = rv_cql_stmt_new_prepared(rv_cassandra_cmd_prepared(cmd, 0));
    rv_cql_bind_int(st, 0, k);
    rv_error_t *err = NULL;
    if (rv_cassandra_cmd_execute(cmd, st, on_read, ctx, &err) != RV_OK)
        rv_cassandra_cmd_done(cmd, err);
    rv_cql_stmt_destroy(st);
}

typedef struct {
    bool done;
    rv_cql_prepared_t *p;
    rv_error_t *err;
} prep_wait_t;

static void on_prep(rv_cql_session_t *s, rv_cql_prepared_t *p, const rv_error_t *err, void *opaque)
{
    prep_wait_t *w = opaque;
    w->done = true;
    w->p = p;
    w->err = err ? rv_error_copy(err) : NULL;
}

static void test_it_retry_sink_after_concurrent_writer(void)
{
    it_t it;
    IT_OPEN(&it, NULL);
    it_table(&it, "versions", "k int PRIMARY KEY, v int, version int");
    for (int k = 0; k < RK; k++) {
        char q[160];
        snprintf(q, sizeof(q),
                 "INSERT INTO " IT_KEYSPACE ".versions (k, v, version) VALUES (%d, 0, 0)", k);
        it_run(&it, q);
    }
    rv_error_t *err = NULL;
    rv_cql_session_t *other = it_session(&it, NULL, &err);
    REQUIRE(other != NULL);
    prep_wait_t w = {0};
    rv_cql_prepare(other,
                   "UPDATE " IT_KEYSPACE ".versions SET version = ? WHERE k = ? IF version = ?",
                   on_prep, &w, NULL);
    it_wait(&it, &w.done, 20000);
    REQUIRE(w.p != NULL);

    retry_ctx_t ctx = {.other = other, .bump = w.p, .race_key = 5};
    psrc_t src;
    acks_t acks;
    acks_init(&acks, RK);
    psrc_new(it.t.g, &src, RK);
    src.acks = &acks;
    rv_backoff_t b = {50, 1000, 0.2, 5};
    rv_stage_t *sink = rv_cassandra_retry_sink(it.t.g, it.s, 4, retry_command, &b, &ctx);
    rv_cassandra_retry_sink_prepare(sink,
                                    "SELECT version FROM " IT_KEYSPACE ".versions WHERE k = ?");
    rv_cassandra_retry_sink_prepare(
        sink, "UPDATE " IT_KEYSPACE ".versions SET v = ?, version = ? WHERE k = ? IF version = ?");
    rv_link(src.st, sink);
    CHECK_EQ(it_run_graph(&it, 60000), RV_OK);
    if (it.t.r.code != RV_OK) fprintf(stderr, "    %s\n", it.t.r.msg);
    CHECK(ctx.raced);
    CHECK_EQ(ctx.calls[5], 2);
    CHECK_EQ(ctx.attempts[5][0], 0);
    CHECK_EQ(ctx.attempts[5][1], 1);
    CHECK(ctx.envs[5][0] == ctx.envs[5][1]); /* the same element was retried */
    for (int k = 0; k < RK; k++)
        if (k != 5) CHECK_EQ(ctx.calls[k], 1);
    CHECK_EQ(acks.ok, RK);
    CHECK(acks_at_most_once(&acks));
    rv_cassandra_stats_t st;
    rv_cassandra_get_stats(sink, &st);
    CHECK_EQ(st.not_applied, 1);
    CHECK_EQ(st.retries, 1);
    /* Key 5: the other writer's bump and ours; the rest: ours. */
    rv_cql_result_t *res = it_query(&it, "SELECT k, v, version FROM " IT_KEYSPACE ".versions");
    REQUIRE(res != NULL);
    CHECK_EQ(rv_cql_result_row_count(res), RK);
    for (size_t r = 0; r < rv_cql_result_row_count(res); r++) {
        int32_t k = -1, v = -1, version = -1;
        rv_cql_result_get_int(res, r, 0, &k);
        rv_cql_result_get_int(res, r, 1, &v);
        rv_cql_result_get_int(res, r, 2, &version);
        CHECK_EQ(v, k * 10);
        CHECK_EQ(version, k == 5 ? 2 : 1);
    }
    rv_cql_result_destroy(res);
    rv_error_destroy(w.err);
    rv_graph_destroy(it.t.g);
    it.t.destroyed = true;
    rv_cql_session_destroy(other);
    it_fini(&it);
    acks_free(&acks);
}

/* ------------------------------------------------------------------ query */

typedef struct {
    int32_t n;
    int *count;
    int bad;
    int64_t seen;
} qseen_t;

static void on_query_row(void *opaque, rv_env_t *env)
{
    qseen_t *q = opaque;
    const rv_cassandra_row_t *row = rv_env_payload(env);
    int32_t k = -1, v = -1;
    rv_cql_result_get_int(row->result, row->row, 0, &k);
    rv_cql_result_get_int(row->result, row->row, 1, &v);
    if (k < 0 || k >= q->n || v != 2 * k || (int64_t)row->index != q->seen)
        q->bad++;
    else
        q->count[k]++;
    q->seen++;
}

typedef struct {
    int pages, bad;
    size_t items;
} mseen_t;

static rv_err_t map_kv(const rv_cql_result_t *res, size_t row, void **out, rv_error_t **errp,
                       void *opaque)
{
    int32_t *kv = malloc(2 * sizeof(*kv));
    rv_cql_result_get_int(res, row, 0, &kv[0]);
    rv_cql_result_get_int(res, row, 1, &kv[1]);
    *out = kv;
    return RV_OK;
}

static void on_mpage(void *opaque, rv_env_t *env)
{
    mseen_t *m = opaque;
    const rv_cassandra_page_t *p = rv_env_payload(env);
    if (p->n != 250 || p->index != (uint64_t)m->pages) m->bad++;
    for (size_t i = 0; i < p->n; i++) {
        const int32_t *kv = p->items[i];
        if (kv[1] != 2 * kv[0]) m->bad++;
    }
    m->items += p->n;
    m->pages++;
}

static void test_it_query_10000_rows_paged_with_backpressure(void)
{
    it_t it;
    IT_OPEN(&it, NULL);
    it_table(&it, "query_rows", "k int PRIMARY KEY, v int");
    fill_table(&it, "query_rows", 10000);

    rv_stage_t *q = rv_cassandra_query(it.t.g, it.s, "SELECT k, v FROM " IT_KEYSPACE ".query_rows",
                                       100, NULL, NULL);
    psink_t sink;
    psink_new(it.t.g, &sink, false); /* slow: takes only what the test grants */
    qseen_t seen = {10000, calloc(10000, sizeof(int)), 0, 0};
    sink.on_elem = on_query_row;
    sink.opaque = &seen;
    rv_link_ports(q, 0, sink.st, 0, 16);
    REQUIRE(tu_start(&it.t) == RV_OK);
    uint64_t max_buffered = 0;
    rv_cassandra_stats_t st;
    while (!it.t.r.done && seen.seen < 10000) {
        int64_t want = seen.seen + 50 > 10000 ? 10000 : seen.seen + 50;
        psink_grant(&sink, 50);
        TU_WAIT(&it.t, seen.seen == want, 20000);
        REQUIRE(seen.seen == want);
        for (int i = 0; i < 4; i++)
            uv_run(&it.t.loop, UV_RUN_NOWAIT);
        rv_cassandra_get_stats(q, &st);
        uint64_t buffered = st.rows - (uint64_t)seen.seen;
        if (buffered > max_buffered) max_buffered = buffered;
    }
    TU_WAIT(&it.t, it.t.r.done, 20000);
    CHECK_EQ(it.t.r.code, RV_OK);
    if (it.t.r.code != RV_OK) fprintf(stderr, "    %s\n", it.t.r.msg);
    fprintf(stderr, "    at most %llu rows buffered (a page is 100, the edge 16)\n",
            (unsigned long long)max_buffered);
    CHECK(max_buffered <= 100 + 16);
    CHECK_EQ(seen.seen, 10000);
    CHECK_EQ(seen.bad, 0);
    int missing = 0;
    for (int k = 0; k < 10000; k++)
        missing += seen.count[k] != 1;
    CHECK_EQ(missing, 0);
    rv_cassandra_get_stats(q, &st);
    CHECK(st.pages == 100 || st.pages == 101); /* the server may end with an empty page */
    CHECK_EQ(st.rows, 10000);
    free(seen.count);

    /* The same rows as pages of exactly 250 mapped values. */
    rv_graph_t *g = rv_graph_new(&it.t.loop, NULL, NULL);
    rv_stage_t *mp = rv_cassandra_mapped_paging(
        g, it.s, "SELECT k, v FROM " IT_KEYSPACE ".query_rows", 250, NULL, map_kv, free, NULL);
    psink_t ms;
    psink_new(g, &ms, true);
    mseen_t m = {0};
    ms.on_elem = on_mpage;
    ms.opaque = &m;
    rv_link(mp, ms.st);
    run_result_t res = {0};
    CHECK_EQ(tu_run(g, &res, 60000), RV_OK);
    CHECK_EQ(m.pages, 40);
    CHECK_EQ(m.items, 10000);
    CHECK_EQ(m.bad, 0);
    rv_graph_destroy(g);
    psink_free(&ms);
    it_fini(&it);
    psink_free(&sink);
}

/* -------------------------------------------------------------------- lwt */

typedef struct {
    int n, bad;
    int applied, not_applied;
} lwt_seen_t;

static void on_lwt(void *opaque, rv_env_t *env)
{
    lwt_seen_t *s = opaque;
    const rv_cassandra_lwt_t *l = rv_env_payload(env);
    int32_t k = (int32_t)RV_INT(l->input);
    if (rv_env_meta(env)->offset != s->n || k != s->n) s->bad++;
    s->n++;
    if (l->applied) {
        s->applied++;
        if (k % 2 == 0) s->bad++;
        return;
    }
    s->not_applied++;
    int col = rv_cql_result_column_index(l->result, "v");
    int32_t v = -1;
    if (k % 2 != 0 || col < 0 || rv_cql_result_get_int(l->result, 0, (size_t)col, &v) != RV_OK ||
        v != 1000 + k)
        s->bad++;
}

static rv_err_t bind_k_k(rv_cql_stmt_t *stmt, rv_env_t *env, rv_error_t **errp, void *opaque)
{
    int32_t k = (int32_t)RV_INT(rv_env_payload(env));
    rv_cql_bind_int(stmt, 0, k);
    rv_cql_bind_int(stmt, 1, k);
    return RV_OK;
}

static void test_it_lwt_flow_reports_applied_and_current_values(void)
{
    it_t it;
    IT_OPEN(&it, NULL);
    it_table(&it, "lwt_rows", "k int PRIMARY KEY, v int");
    for (int k = 0; k < 20; k += 2) {
        char q[128];
        snprintf(q, sizeof(q), "INSERT INTO " IT_KEYSPACE ".lwt_rows (k, v) VALUES (%d, %d)", k,
                 1000 + k);
        it_run(&it, q);
    }
    psrc_t src;
    acks_t acks;
    acks_init(&acks, 20);
    psrc_new(it.t.g, &src, 20);
    src.acks = &acks;
    rv_stage_t *flow = rv_cassandra_lwt_flow(
        it.t.g, it.s, 4, true,
        "INSERT INTO " IT_KEYSPACE ".lwt_rows (k, v) VALUES (?, ?) IF NOT EXISTS", bind_k_k, NULL);
    psink_t sink;
    psink_new(it.t.g, &sink, true);
    lwt_seen_t s = {0};
    sink.on_elem = on_lwt;
    sink.opaque = &s;
    rv_chain(src.st, flow, sink.st, NULL);
    CHECK_EQ(it_run_graph(&it, 60000), RV_OK);
    if (it.t.r.code != RV_OK) fprintf(stderr, "    %s\n", it.t.r.msg);
    CHECK_EQ(s.n, 20);
    CHECK_EQ(s.applied, 10);
    CHECK_EQ(s.not_applied, 10);
    CHECK_EQ(s.bad, 0);
    CHECK_EQ(acks.ok, 20);
    it_fini(&it);
    acks_free(&acks);
    psink_free(&sink);
}

/* ------------------------------------------------------------------ pause */

#ifndef RV_SOURCE_DIR
#define RV_SOURCE_DIR "."
#endif

static long cassandra_pid(void)
{
    FILE *p = popen(RV_SOURCE_DIR "/tools/services/services pid cassandra 2>/dev/null", "r");
    long pid = -1;
    if (p) {
        if (fscanf(p, "%ld", &pid) != 1) pid = -1;
        pclose(p);
    }
    return pid;
}

typedef struct {
    long pid;
    int32_t pause_at;
    bool paused;
    uint64_t paused_at_ms;
    int calls;
} pause_ctx_t;

/* SIGSTOP now, and SIGCONT from an independent process after `secs`, so the
 * server resumes even if this test dies meanwhile. */
static void freeze_for(long pid, int secs)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "(sleep %d; kill -CONT %ld) >/dev/null 2>&1 &", secs, pid);
    if (system(cmd) != 0) fprintf(stderr, "    could not arrange the SIGCONT\n");
    kill((pid_t)pid, SIGSTOP);
}

static void on_insert(rv_cassandra_cmd_t *cmd, rv_cql_result_t *res, const rv_error_t *err,
                      void *opaque)
{
    rv_cassandra_cmd_finish(cmd, res, err);
}

static void pause_command(rv_cassandra_cmd_t *cmd, rv_env_t *env, void *opaque)
{
    pause_ctx_t *p = opaque;
    int32_t k = (int32_t)RV_INT(rv_env_payload(env));
    p->calls++;
    if (k == p->pause_at && !p->paused) {
        p->paused = true;
        fprintf(stderr, "    SIGSTOP cassandra (pid %ld) for 10 s at element %d\n", p->pid, k);
        freeze_for(p->pid, 10);
    }
    rv_cql_stmt_t *st = rv_cql_stmt_new_prepared(rv_cassandra_cmd_prepared(cmd, 0));
    rv_cql_bind_int(st, 0, k);
    rv_cql_bind_int(st, 1, 2 * k);
    rv_cql_stmt_set_idempotent(st, true);
    rv_error_t *err = NULL;
    if (rv_cassandra_cmd_execute(cmd, st, on_insert, NULL, &err) != RV_OK)
        rv_cassandra_cmd_done(cmd, err);
    rv_cql_stmt_destroy(st);
}

static void test_it_retry_sink_survives_a_paused_cassandra(void)
{
    pause_ctx_t p = {.pid = cassandra_pid(), .pause_at = 1500};
    if (p.pid <= 0) {
        rv_test_fail_at(__FILE__, __LINE__,
                        "this test freezes the Cassandra of tools/services/services, and "
                        "`services pid cassandra` found none (start it)");
        return;
    }
    /* Short request deadlines, so that the frozen server shows up as timeouts. */
    const char *kv[] = {"cql.request.timeout=1s", "cql.retry.max=0", NULL};
    it_t it;
    IT_OPEN(&it, kv);
    it_table(&it, "pause_rows", "k int PRIMARY KEY, v int");
    psrc_t src;
    acks_t acks;
    acks_init(&acks, 4000);
    psrc_new(it.t.g, &src, 4000);
    src.acks = &acks;
    /* 500 elements per second: the pause falls in the middle of the stream. */
    rv_stage_t *thr = rv_throttle(it.t.g, 50, 100, 50);
    rv_backoff_t b = {200, 2000, 0.2, 40};
    rv_stage_t *sink = rv_cassandra_retry_sink(it.t.g, it.s, 16, pause_command, &b, &p);
    rv_cassandra_retry_sink_prepare(sink,
                                    "INSERT INTO " IT_KEYSPACE ".pause_rows (k, v) VALUES (?, ?)");
    rv_chain(src.st, thr, sink, NULL);
    uint64_t t0 = uv_now(&it.t.loop);
    CHECK_EQ(it_run_graph(&it, 90000), RV_OK);
    kill((pid_t)p.pid, SIGCONT); /* in any case */
    if (it.t.r.code != RV_OK) fprintf(stderr, "    %s\n", it.t.r.msg);
    uint64_t took = uv_now(&it.t.loop) - t0;
    rv_cassandra_stats_t st;
    rv_cassandra_get_stats(sink, &st);
    fprintf(stderr, "    4000 commands in %llu ms, %llu retries\n", (unsigned long long)took,
            (unsigned long long)st.retries);
    CHECK(p.paused);
    CHECK(st.retries > 0);
    CHECK(took >= 10000);
    CHECK_EQ(acks.ok, 4000);
    int not_once = 0;
    for (int i = 0; i < 4000; i++)
        not_once += acks.calls[i] != 1 || acks.status[i] != RV_OK;
    CHECK_EQ(not_once, 0);
    check_table(&it, "pause_rows", 4000, 2);
    it_fini(&it);
    acks_free(&acks);
}

RV_TEST_MAIN(RV_TEST_T(test_it_sink_10000_rows_acked_once, 120),
             RV_TEST_T(test_it_retry_sink_after_concurrent_writer, 60),
             RV_TEST_T(test_it_query_10000_rows_paged_with_backpressure, 120),
             RV_TEST_T(test_it_lwt_flow_reports_applied_and_current_values, 60),
             RV_TEST_T(test_it_retry_sink_survives_a_paused_cassandra, 90))
