/* The session against an in-process mock server (mock_server.c): handshake
 * and authentication, the bytes on the wire, many requests in flight with
 * answers out of order, timeouts, cancellation, the retry policy, transparent
 * re-preparation, malformed and oversized frames, reconnection with backoff,
 * heartbeats, schema agreement, round robin, closing, and configuration. */
#include <string.h>

#include "cql/murmur3.h"
#include "cql/session.h"
#include "mock_server.h"
#include "rivulet/cql.h"
#include "rv_test.h"

/* ------------------------------------------------------------------ fixture */

typedef struct fx {
    uv_loop_t loop;
    mock_server_t *m;
    rv_cql_session_t *s;
    bool connected, connect_done;
    rv_error_t *connect_err;
} fx_t;

static void log_fn(rv_cql_session_t *s, int level, const char *msg, void *opaque)
{
    (void)s;
    (void)opaque;
    if (getenv("RV_TEST_VERBOSE")) fprintf(stderr, "    [cql %d] %s\n", level, msg);
}

static rv_conf_t *conf_for(mock_server_t *m, const char *const *kv)
{
    rv_conf_t *c = rv_conf_new();
    char cp[64];
    snprintf(cp, sizeof(cp), "127.0.0.1:%d", m->port);
    rv_conf_set(c, "cql.contact.points", cp, NULL);
    rv_conf_set(c, "cql.reconnect.min", "20ms", NULL);
    rv_conf_set(c, "cql.reconnect.max", "100ms", NULL);
    rv_conf_set(c, "cql.request.timeout", "3s", NULL);
    if (m->password) {
        rv_conf_set(c, "cql.username", "cassandra", NULL);
        rv_conf_set(c, "cql.password", m->password, NULL);
    }
    for (size_t i = 0; kv && kv[i]; i += 2)
        rv_conf_set(c, kv[i], kv[i + 1], NULL);
    return c;
}

static void fx_init(fx_t *f, mock_handler_fn h, void *opaque, const char *password,
                    const char *const *kv)
{
    memset(f, 0, sizeof(*f));
    uv_loop_init(&f->loop);
    f->m = mock_new(&f->loop, h, opaque);
    f->m->password = password;
    rv_conf_t *c = conf_for(f->m, kv);
    rv_error_t *err = NULL;
    f->s = rv_cql_session_new(&f->loop, c, &err);
    if (!f->s) rv_test_fail_at(__FILE__, __LINE__, "session: %s", rv_error_msg(err));
    rv_error_destroy(err);
    rv_conf_destroy(c);
    if (f->s) rv_cql_session_set_log(f->s, log_fn, NULL);
}

static void on_connect(rv_cql_session_t *s, const rv_error_t *err, void *opaque)
{
    fx_t *f = opaque;
    (void)s;
    f->connect_done = true;
    f->connected = err == NULL;
    f->connect_err = err ? rv_error_copy(err) : NULL;
}

static bool fx_connect(fx_t *f)
{
    if (!f->s) return false;
    CHECK_EQ(rv_cql_session_connect(f->s, on_connect, f, NULL), RV_OK);
    run_until(&f->loop, &f->connect_done, 5000);
    return f->connected;
}

static void fx_fini(fx_t *f)
{
    rv_cql_session_destroy(f->s);
    if (f->m) mock_close(f->m);
    for (int i = 0; i < 2000 && uv_loop_alive(&f->loop); i++) {
        uv_run(&f->loop, UV_RUN_NOWAIT);
        uv_sleep(1);
    }
    int r = uv_loop_close(&f->loop);
    if (r != 0)
        rv_test_fail_at(__FILE__, __LINE__, "the loop still has handles: %s", uv_strerror(r));
    rv_error_destroy(f->connect_err);
}

/* One request's outcome. */
typedef struct call {
    bool done;
    int count;
    rv_cql_result_t *res;
    rv_error_t *err;
    int32_t expect;
} call_t;

static void on_result(rv_cql_session_t *s, rv_cql_result_t *res, const rv_error_t *err,
                      void *opaque)
{
    call_t *c = opaque;
    (void)s;
    c->done = true;
    c->count++;
    rv_cql_result_destroy(c->res);
    rv_error_destroy(c->err);
    c->res = res;
    c->err = err ? rv_error_copy(err) : NULL;
}

static void call_clear(call_t *c)
{
    rv_cql_result_destroy(c->res);
    rv_error_destroy(c->err);
    memset(c, 0, sizeof(*c));
}

static rv_cql_request_t *exec_q(fx_t *f, const char *q, bool idempotent, call_t *c)
{
    rv_cql_stmt_t *st = rv_cql_stmt_new(q, 0);
    rv_cql_stmt_set_idempotent(st, idempotent);
    rv_error_t *err = NULL;
    rv_cql_request_t *rq = rv_cql_execute(f->s, st, on_result, c, &err);
    if (!rq) rv_test_fail_at(__FILE__, __LINE__, "execute %s: %s", q, rv_error_msg(err));
    rv_error_destroy(err);
    rv_cql_stmt_destroy(st);
    return rq;
}

/* Runs a query and waits; true when it succeeded. */
static bool query_ok(fx_t *f, const char *q)
{
    call_t c = {0};
    exec_q(f, q, false, &c);
    run_until(&f->loop, &c.done, 5000);
    bool ok = c.done && !c.err;
    if (c.err) fprintf(stderr, "  %s: %s\n", q, rv_error_msg(c.err));
    call_clear(&c);
    return ok;
}

static bool msg_has(const rv_error_t *e, const char *text)
{
    bool ok = e && strstr(rv_error_msg(e), text);
    if (!ok) fprintf(stderr, "  error \"%s\" lacks \"%s\"\n", e ? rv_error_msg(e) : "(none)", text);
    return ok;
}

/* ------------------------------------------------------------ handshake */

static void test_connect_auth_and_query(void)
{
    fx_t f;
    fx_init(&f, NULL, NULL, "cassandra", NULL);
    REQUIRE(fx_connect(&f));
    call_t c = {0};
    exec_q(&f, "INSERT INTO t (k) VALUES (1)", false, &c);
    CHECK(!c.done); /* never from inside the call */
    REQUIRE(run_until(&f.loop, &c.done, 3000));
    CHECK(c.err == NULL);
    CHECK(c.res && rv_cql_result_kind(c.res) == RV_CQL_RESULT_VOID);
    rv_cql_stats_t st;
    rv_cql_session_stats(f.s, &st);
    CHECK_EQ(st.hosts, 1);
    CHECK_EQ(st.hosts_up, 1);
    CHECK_EQ(st.connections, 1);
    CHECK_EQ(st.in_flight, 0);
    call_clear(&c);
    fx_fini(&f);
}

static void test_wrong_password(void)
{
    fx_t f;
    static const char *const kv[] = {"cql.password", "nope", NULL};
    fx_init(&f, NULL, NULL, "cassandra", kv);
    CHECK(!fx_connect(&f));
    CHECK(f.connect_done);
    REQUIRE(f.connect_err);
    CHECK_EQ(rv_error_code(f.connect_err), RV_ERR_FROM_CQL(RV_CQL_ERR_AUTH));
    CHECK(msg_has(f.connect_err, "Authentication_error (0x0100)"));
    CHECK(msg_has(f.connect_err, "password are incorrect"));
    CHECK(!rv_error_retriable(f.connect_err));
    fx_fini(&f);
}

static void test_auth_required_without_user(void)
{
    fx_t f;
    fx_init(&f, NULL, NULL, NULL, NULL);
    f.m->password = "cassandra"; /* the server wants it; the conf has no user */
    CHECK(!fx_connect(&f));
    CHECK(msg_has(f.connect_err, "cql.username is not set"));
    fx_fini(&f);
}

static void test_connect_refused(void)
{
    fx_t f;
    fx_init(&f, NULL, NULL, NULL, NULL);
    mock_stop_listening(f.m);
    run_for(&f.loop, 20);
    CHECK(!fx_connect(&f));
    REQUIRE(f.connect_err);
    CHECK_EQ(rv_error_code(f.connect_err), RV_ERR_FROM_UV(UV_ECONNREFUSED));
    CHECK(msg_has(f.connect_err, "connect failed"));
    /* Requests queued before the failure hear it too; the session can retry. */
    CHECK_EQ(rv_cql_session_connect(f.s, on_connect, &f, NULL), RV_OK);
    fx_fini(&f);
}

static void test_contact_point_by_name(void)
{
    fx_t f;
    fx_init(&f, NULL, NULL, NULL, NULL);
    rv_cql_session_destroy(f.s);
    rv_conf_t *c = rv_conf_new();
    char cp[64];
    snprintf(cp, sizeof(cp), " localhost:%d ", f.m->port);
    rv_conf_set(c, "cql.contact.points", cp, NULL);
    rv_conf_set(c, "cql.peers.discovery", "false", NULL);
    f.s = rv_cql_session_new(&f.loop, c, NULL);
    rv_conf_destroy(c);
    REQUIRE(fx_connect(&f));
    CHECK(query_ok(&f, "INSERT by name"));
    fx_fini(&f);
}

static bool use_handler(mock_req_t *r, void *opaque)
{
    if (r->opcode == RV__CQL_OP_QUERY && !strncmp(r->query, "USE ", 4))
        snprintf(opaque, 64, "%.63s", r->query);
    return false;
}

static void test_use_keyspace_quoted(void)
{
    char seen[64] = "";
    fx_t f;
    static const char *const kv[] = {"cql.keyspace", "My\"Ks", NULL};
    fx_init(&f, use_handler, seen, NULL, kv);
    REQUIRE(fx_connect(&f));
    CHECK_STR(seen, "USE \"My\"\"Ks\"");
    fx_fini(&f);
}

/* ------------------------------------------------------------- on the wire */

typedef struct capture {
    uint8_t frame[256];
    size_t len;
    int64_t ts[200];
    size_t nts;
} capture_t;

static bool capture_handler(mock_req_t *r, void *opaque)
{
    capture_t *cap = opaque;
    if (r->opcode == RV__CQL_OP_QUERY && !strncmp(r->query, "INSERT", 6)) {
        if (r->frame_len <= sizeof(cap->frame)) {
            memcpy(cap->frame, r->frame, r->frame_len);
            cap->len = r->frame_len;
        }
        if (cap->nts < 200) cap->ts[cap->nts++] = r->timestamp;
    }
    return false;
}

static void test_golden_frame_on_the_wire(void)
{
    capture_t cap = {0};
    fx_t f;
    static const char *const kv[] = {
        "cql.timestamps", "server", "cql.page.size", "0", "cql.consistency", "quorum", NULL};
    fx_init(&f, capture_handler, &cap, NULL, kv);
    REQUIRE(fx_connect(&f));
    rv_cql_stmt_t *st = rv_cql_stmt_new("INSERT INTO t (a) VALUES (?)", 1);
    rv_cql_bind_int(st, 0, 7);
    call_t c = {0};
    REQUIRE(rv_cql_execute(f.s, st, on_result, &c, NULL));
    REQUIRE(run_until(&f.loop, &c.done, 3000));
    // clang-format off
    static const uint8_t want[] = {
        0x04, 0x00, 0xff, 0xff, 0x07, 0, 0, 0, 0x2d, /* stream id masked below */
        0, 0, 0, 0x1c, 'I', 'N', 'S', 'E', 'R', 'T', ' ', 'I', 'N', 'T', 'O', ' ', 't', ' ', '(',
        'a', ')', ' ', 'V', 'A', 'L', 'U', 'E', 'S', ' ', '(', '?', ')',
        0x00, 0x04, /* QUORUM */
        0x01,       /* values only: no page size, no timestamp */
        0x00, 0x01, 0, 0, 0, 4, 0, 0, 0, 7};
    // clang-format on
    cap.frame[2] = cap.frame[3] = 0xff;
    if (cap.len != sizeof(want) || memcmp(cap.frame, want, sizeof(want)))
        for (size_t i = 0; i < cap.len; i++)
            fprintf(stderr, "%02x%s", cap.frame[i], i % 16 == 15 ? "\n" : " ");
    REQUIRE(cap.len == sizeof(want));
    CHECK_MEM(cap.frame, want, sizeof(want));
    call_clear(&c);
    rv_cql_stmt_destroy(st);
    fx_fini(&f);
}

static bool unav_once_handler(mock_req_t *r, void *opaque);

static void test_client_timestamps(void)
{
    capture_t cap = {0};
    fx_t f;
    fx_init(&f, capture_handler, &cap, NULL, NULL);
    REQUIRE(fx_connect(&f));
    call_t c[100] = {{0}};
    for (int i = 0; i < 100; i++)
        exec_q(&f, "INSERT INTO t (a) VALUES (1)", false, &c[i]);
    REQUIRE(run_until(&f.loop, &c[99].done, 3000));
    REQUIRE(cap.nts == 100);
    /* Strictly increasing microseconds, close to now. */
    for (size_t i = 1; i < cap.nts; i++)
        CHECK(cap.ts[i] > cap.ts[i - 1]);
    CHECK(cap.ts[0] > INT64_C(1600000000000000));
    for (int i = 0; i < 100; i++)
        call_clear(&c[i]);
    fx_fini(&f);
}

/* ------------------------------------------------- many requests in flight */

typedef struct holder {
    mock_req_t *held[4096];
    size_t n, max;
} holder_t;

static bool hold_handler(mock_req_t *r, void *opaque)
{
    holder_t *h = opaque;
    if (r->opcode == RV__CQL_OP_QUERY && !strncmp(r->query, "SELECT v", 8)) {
        h->held[h->n++] = mock_hold(r);
        if (h->n > h->max) h->max = h->n;
        return true;
    }
    if (r->opcode == RV__CQL_OP_QUERY && !strncmp(r->query, "SLOW", 4)) {
        h->held[h->n++] = mock_hold(r);
        return true;
    }
    return false;
}

/* Answers the held requests in reverse order, echoing their bound value. */
static void release_reverse(holder_t *h)
{
    while (h->n) {
        mock_req_t *r = h->held[--h->n];
        int32_t v = r->nvalues ? (int32_t)((uint32_t)r->values[0][0] << 24 |
                                           (uint32_t)r->values[0][1] << 16 |
                                           (uint32_t)r->values[0][2] << 8 | r->values[0][3])
                               : -1;
        mock_reply_int_rows(r, &v, 1);
        mock_req_free(r);
    }
}

typedef struct many {
    int done, wrong;
} many_t;

typedef struct one {
    many_t *all;
    int32_t v;
} one_t;

static void on_many(rv_cql_session_t *s, rv_cql_result_t *res, const rv_error_t *err, void *opaque)
{
    one_t *o = opaque;
    (void)s;
    int32_t got = -2;
    if (err || rv_cql_result_get_int(res, 0, 0, &got) != RV_OK || got != o->v) o->all->wrong++;
    o->all->done++;
    rv_cql_result_destroy(res);
}

static void on_result_count(rv_cql_session_t *s, rv_cql_result_t *res, const rv_error_t *err,
                            void *opaque)
{
    many_t *all = opaque;
    (void)s;
    if (err) all->wrong++;
    all->done++;
    rv_cql_result_destroy(res);
}

static void test_many_in_flight_out_of_order(void)
{
    static holder_t h;
    memset(&h, 0, sizeof(h));
    fx_t f;
    static const char *const kv[] = {"cql.max.requests.per.connection", "100", NULL};
    fx_init(&f, hold_handler, &h, NULL, kv);
    REQUIRE(fx_connect(&f));
    many_t all = {0};
    static one_t ones[1000];
    rv_cql_stmt_t *st = rv_cql_stmt_new("SELECT v FROM t WHERE k = ?", 1);
    for (int i = 0; i < 1000; i++) {
        ones[i] = (one_t){&all, i};
        rv_cql_stmt_reset(st);
        rv_cql_bind_int(st, 0, i);
        REQUIRE(rv_cql_execute(f.s, st, on_many, &ones[i], NULL));
    }
    rv_cql_stats_t stats;
    rv_cql_session_stats(f.s, &stats);
    CHECK_EQ(stats.in_flight, 100);
    CHECK_EQ(stats.queued, 900);
    for (int round = 0; round < 2000 && all.done < 1000; round++) {
        run_for(&f.loop, 2);
        if (h.n == 100 || (h.n && all.done + (int)h.n == 1000)) release_reverse(&h);
    }
    CHECK_EQ(all.done, 1000);
    CHECK_EQ(all.wrong, 0);
    CHECK_EQ(h.max, 100); /* never more than the stream limit on the wire */
    rv_cql_stmt_destroy(st);
    fx_fini(&f);
}

static void test_timeout_and_late_answer(void)
{
    static holder_t h;
    memset(&h, 0, sizeof(h));
    fx_t f;
    static const char *const kv[] = {"cql.request.timeout", "200ms", NULL};
    fx_init(&f, hold_handler, &h, NULL, kv);
    REQUIRE(fx_connect(&f));
    call_t c = {0};
    uint64_t t0 = uv_now(&f.loop);
    exec_q(&f, "SLOW", true, &c);
    REQUIRE(run_until(&f.loop, &c.done, 3000));
    uint64_t took = uv_now(&f.loop) - t0;
    CHECK(took >= 190 && took < 1500);
    CHECK_EQ(rv_error_code(c.err), RV_ERR_TIMEOUT);
    CHECK(msg_has(c.err, "timed out"));
    CHECK(rv_error_retriable(c.err));
    rv_cql_stats_t st;
    rv_cql_session_stats(f.s, &st);
    CHECK_EQ(st.timeouts, 1);
    /* The late answer is dropped; the stream is free again afterwards. */
    REQUIRE(h.n == 1);
    mock_reply_void(h.held[0]);
    mock_req_free(h.held[0]);
    h.n = 0;
    run_for(&f.loop, 50);
    CHECK_EQ(c.count, 1);
    CHECK(query_ok(&f, "INSERT fast"));
    call_clear(&c);
    fx_fini(&f);
}

static void test_cancel(void)
{
    static holder_t h;
    memset(&h, 0, sizeof(h));
    fx_t f;
    fx_init(&f, hold_handler, &h, NULL, NULL);
    /* Queued before connecting, then cancelled: never called. */
    call_t q = {0}, a = {0}, b = {0};
    rv_cql_request_t *rq = exec_q(&f, "SLOW queued", false, &q);
    rv_cql_request_cancel(rq);
    REQUIRE(fx_connect(&f));
    rv_cql_request_t *ra = exec_q(&f, "SLOW a", false, &a);
    exec_q(&f, "SLOW b", false, &b);
    run_for(&f.loop, 50);
    CHECK_EQ(h.n, 2);
    rv_cql_request_cancel(ra); /* in flight: its answer will be dropped */
    rv_cql_request_cancel(NULL);
    release_reverse(&h);
    run_until(&f.loop, &b.done, 2000);
    run_for(&f.loop, 30);
    CHECK_EQ(q.count, 0);
    CHECK_EQ(a.count, 0);
    CHECK_EQ(b.count, 1);
    CHECK(query_ok(&f, "INSERT after"));
    call_clear(&b);
    fx_fini(&f);
}

typedef struct cancel_other {
    rv_cql_request_t *other;
    int called;
} cancel_other_t;

static void cancel_other_cb(rv_cql_session_t *s, rv_cql_result_t *res, const rv_error_t *err,
                            void *opaque)
{
    cancel_other_t *x = opaque;
    (void)s;
    (void)err;
    x->called++;
    rv_cql_result_destroy(res);
    rv_cql_request_cancel(x->other);
}

static void test_cancel_from_callback_during_connection_loss(void)
{
    static holder_t h;
    memset(&h, 0, sizeof(h));
    fx_t f;
    fx_init(&f, hold_handler, &h, NULL, NULL);
    REQUIRE(fx_connect(&f));
    cancel_other_t x = {0};
    call_t b = {0};
    rv_cql_stmt_t *st = rv_cql_stmt_new("SLOW a", 0);
    REQUIRE(rv_cql_execute(f.s, st, cancel_other_cb, &x, NULL));
    rv_cql_stmt_destroy(st);
    x.other = exec_q(&f, "SLOW b", false, &b);
    run_for(&f.loop, 30);
    REQUIRE(h.n == 2);
    /* The connection dies with both in flight; a's callback cancels b. */
    mock_drop_conns(f.m);
    run_for(&f.loop, 100);
    CHECK_EQ(x.called, 1);
    CHECK_EQ(b.count, 0);
    for (size_t i = 0; i < h.n; i++)
        mock_req_free(h.held[i]);
    h.n = 0;
    CHECK(query_ok(&f, "INSERT after"));
    fx_fini(&f);
}

static void test_unanswered_streams_retire_the_connection(void)
{
    static holder_t h;
    memset(&h, 0, sizeof(h));
    fx_t f;
    static const char *const kv[] = {"cql.max.requests.per.connection", "4", "cql.request.timeout",
                                     "100ms", NULL};
    fx_init(&f, hold_handler, &h, NULL, kv);
    REQUIRE(fx_connect(&f));
    call_t c[3] = {{0}};
    for (int i = 0; i < 3; i++)
        exec_q(&f, "SLOW", false, &c[i]);
    REQUIRE(run_until(&f.loop, &c[2].done, 2000));
    for (int i = 0; i < 3; i++) {
        CHECK_EQ(rv_error_code(c[i].err), RV_ERR_TIMEOUT);
        call_clear(&c[i]);
    }
    /* Three of four streams lost to silence: the connection is replaced. */
    run_for(&f.loop, 200);
    rv_cql_stats_t st;
    rv_cql_session_stats(f.s, &st);
    CHECK(st.connection_errors >= 1);
    CHECK(query_ok(&f, "INSERT after"));
    for (size_t i = 0; i < h.n; i++)
        mock_req_free(h.held[i]);
    h.n = 0;
    fx_fini(&f);
}

/* -------------------------------------------------------------- retry policy */

typedef struct unav {
    int seen;
    int64_t ts[4];
} unav_t;

static bool unav_once_handler(mock_req_t *r, void *opaque)
{
    unav_t *u = opaque;
    if (r->opcode == RV__CQL_OP_QUERY && !strncmp(r->query, "UNAV", 4)) {
        if (u->seen < 4) u->ts[u->seen] = r->timestamp;
        if (u->seen++ == 0)
            mock_reply_unavailable(r);
        else
            mock_reply_void(r);
        return true;
    }
    return false;
}

static void test_retry_idempotent_only(void)
{
    unav_t u = {0};
    fx_t f;
    fx_init(&f, unav_once_handler, &u, NULL, NULL);
    REQUIRE(fx_connect(&f));
    call_t c = {0};
    exec_q(&f, "UNAV idempotent", true, &c);
    REQUIRE(run_until(&f.loop, &c.done, 3000));
    CHECK(c.err == NULL);
    CHECK_EQ(u.seen, 2);
    CHECK(u.ts[0] == u.ts[1]); /* a retry re-sends the same write timestamp */
    rv_cql_stats_t st;
    rv_cql_session_stats(f.s, &st);
    CHECK_EQ(st.retries, 1);
    call_clear(&c);

    u.seen = 0;
    exec_q(&f, "UNAV not idempotent", false, &c);
    REQUIRE(run_until(&f.loop, &c.done, 3000));
    CHECK_EQ(u.seen, 1);
    REQUIRE(c.err);
    CHECK_EQ(rv_error_code(c.err), RV_ERR_FROM_CQL(RV_CQL_ERR_UNAVAILABLE));
    CHECK(msg_has(c.err, "Cannot achieve consistency level QUORUM"));
    CHECK(msg_has(c.err, "[consistency QUORUM, required 2, alive 1]"));
    CHECK(rv_error_retriable(c.err));
    call_clear(&c);
    fx_fini(&f);
}

static bool drop_once_handler(mock_req_t *r, void *opaque)
{
    int *seen = opaque;
    if (r->opcode == RV__CQL_OP_QUERY && !strncmp(r->query, "DROP", 4)) {
        if ((*seen)++ == 0)
            mock_close_conn(r->mc);
        else
            mock_reply_void(r);
        return true;
    }
    return false;
}

static void test_retry_after_connection_loss(void)
{
    int seen = 0;
    fx_t f;
    fx_init(&f, drop_once_handler, &seen, NULL, NULL);
    REQUIRE(fx_connect(&f));
    call_t c = {0};
    exec_q(&f, "DROP idempotent", true, &c);
    REQUIRE(run_until(&f.loop, &c.done, 3000));
    CHECK(c.err == NULL);
    CHECK_EQ(seen, 2);
    call_clear(&c);
    rv_cql_stats_t st;
    rv_cql_session_stats(f.s, &st);
    CHECK(st.connection_errors >= 1);

    seen = 0;
    exec_q(&f, "DROP not idempotent", false, &c);
    REQUIRE(run_until(&f.loop, &c.done, 3000));
    CHECK_EQ(seen, 1);
    CHECK_EQ(rv_error_code(c.err), RV_ERR_CLOSED);
    CHECK(msg_has(c.err, "closed by the server"));
    call_clear(&c);
    /* The session reconnects by itself. */
    run_for(&f.loop, 200);
    CHECK(query_ok(&f, "INSERT again"));
    fx_fini(&f);
}

/* --------------------------------------------------------------- re-prepare */

typedef struct reprep {
    int prepares, executes_old, executes_new;
} reprep_t;

static const uint8_t ID1[4] = {1, 1, 1, 1}, ID2[6] = {2, 2, 2, 2, 2, 2};

static bool reprep_handler(mock_req_t *r, void *opaque)
{
    reprep_t *x = opaque;
    if (r->opcode == RV__CQL_OP_PREPARE) {
        /* The first PREPARE yields ID1, later ones a longer ID2: the client
         * must rewrite the id inside the frames it re-sends. */
        if (x->prepares++ == 0)
            mock_reply_prepared(r, ID1, sizeof(ID1), 1);
        else
            mock_reply_prepared(r, ID2, sizeof(ID2), 1);
        return true;
    }
    if (r->opcode == RV__CQL_OP_EXECUTE) {
        if (r->id_len == sizeof(ID1) && !memcmp(r->id, ID1, sizeof(ID1))) {
            x->executes_old++;
            mock_reply_unprepared(r, r->id, r->id_len);
        } else if (r->id_len == sizeof(ID2) && !memcmp(r->id, ID2, sizeof(ID2))) {
            x->executes_new++;
            int32_t v = r->nvalues == 1 ? (int32_t)(r->values[0][3] | r->values[0][2] << 8) : -1;
            mock_reply_int_rows(r, &v, 1);
        } else {
            mock_reply_error(r, 0x2200, "unknown id");
        }
        return true;
    }
    return false;
}

typedef struct prep_wait {
    bool done;
    int count;
    rv_cql_prepared_t *p;
    rv_error_t *err;
} prep_wait_t;

static void on_prepared(rv_cql_session_t *s, rv_cql_prepared_t *p, const rv_error_t *err,
                        void *opaque)
{
    prep_wait_t *w = opaque;
    (void)s;
    w->done = true;
    w->count++;
    w->p = p;
    w->err = err ? rv_error_copy(err) : NULL;
}

static void test_reprepare_on_unprepared(void)
{
    reprep_t x = {0};
    fx_t f;
    fx_init(&f, reprep_handler, &x, NULL, NULL);
    REQUIRE(fx_connect(&f));
    prep_wait_t w = {0};
    REQUIRE(rv_cql_prepare(f.s, "SELECT v FROM t WHERE k = ?", on_prepared, &w, NULL));
    REQUIRE(run_until(&f.loop, &w.done, 3000));
    REQUIRE(w.p);
    CHECK_EQ(rv_cql_prepared_bind_count(w.p), 1);
    CHECK_STR(rv_cql_prepared_bind_name(w.p, 0), "b0");
    CHECK_EQ(rv_cql_prepared_bind_index(w.p, "b0"), 0);
    CHECK_EQ(rv_cql_type_kind(rv_cql_prepared_bind_type(w.p, 0)), RV_CQL_INT);
    /* 50 requests meet UNPREPARED together: one PREPARE serves them all. */
    many_t all = {0};
    static one_t ones[50];
    rv_cql_stmt_t *st = rv_cql_stmt_new_prepared(w.p);
    for (int i = 0; i < 50; i++) {
        ones[i] = (one_t){&all, i};
        rv_cql_stmt_reset(st);
        rv_cql_bind_int(st, 0, i);
        REQUIRE(rv_cql_execute(f.s, st, on_many, &ones[i], NULL));
    }
    for (int i = 0; i < 300 && all.done < 50; i++)
        run_for(&f.loop, 10);
    CHECK_EQ(all.done, 50);
    CHECK_EQ(all.wrong, 0);
    CHECK_EQ(x.prepares, 2);
    CHECK_EQ(x.executes_new, 50);
    rv_cql_stats_t stats;
    rv_cql_session_stats(f.s, &stats);
    CHECK(stats.reprepares >= 1);
    /* Later executions use the new id straight away. */
    int before = x.executes_old;
    call_t c = {0};
    rv_cql_stmt_reset(st);
    rv_cql_bind_int(st, 0, 3);
    REQUIRE(rv_cql_execute(f.s, st, on_result, &c, NULL));
    REQUIRE(run_until(&f.loop, &c.done, 3000));
    CHECK(c.err == NULL);
    CHECK_EQ(x.executes_old, before);
    call_clear(&c);
    rv_cql_stmt_destroy(st);
    rv_error_destroy(w.err);
    fx_fini(&f);
}

static bool always_unprepared(mock_req_t *r, void *opaque)
{
    (void)opaque;
    if (r->opcode == RV__CQL_OP_EXECUTE) {
        mock_reply_unprepared(r, r->id, r->id_len);
        return true;
    }
    return false;
}

static void test_reprepare_gives_up(void)
{
    fx_t f;
    fx_init(&f, always_unprepared, NULL, NULL, NULL);
    REQUIRE(fx_connect(&f));
    prep_wait_t w = {0};
    REQUIRE(rv_cql_prepare(f.s, "INSERT INTO t (k) VALUES (1)", on_prepared, &w, NULL));
    REQUIRE(run_until(&f.loop, &w.done, 3000));
    rv_cql_stmt_t *st = rv_cql_stmt_new_prepared(w.p);
    call_t c = {0};
    REQUIRE(rv_cql_execute(f.s, st, on_result, &c, NULL));
    REQUIRE(run_until(&f.loop, &c.done, 3000));
    CHECK_EQ(rv_error_code(c.err), RV_ERR_FROM_CQL(RV_CQL_ERR_UNPREPARED));
    call_clear(&c);
    rv_cql_stmt_destroy(st);
    rv_error_destroy(w.err);
    fx_fini(&f);
}

typedef struct prep_cancel {
    rv_cql_request_t *other;
    int called;
} prep_cancel_t;

static void on_prepared_cancel(rv_cql_session_t *s, rv_cql_prepared_t *p, const rv_error_t *err,
                               void *opaque)
{
    prep_cancel_t *x = opaque;
    (void)s;
    (void)p;
    (void)err;
    x->called++;
    rv_cql_request_cancel(x->other);
}

static void test_prepare_cache(void)
{
    fx_t f;
    fx_init(&f, NULL, NULL, NULL, NULL);
    REQUIRE(fx_connect(&f));
    prep_wait_t a = {0}, b = {0}, c = {0};
    REQUIRE(rv_cql_prepare(f.s, "SELECT 1", on_prepared, &a, NULL));
    REQUIRE(rv_cql_prepare(f.s, "SELECT 1", on_prepared, &b, NULL));
    REQUIRE(run_until(&f.loop, &b.done, 3000));
    CHECK(a.done && a.p == b.p);
    CHECK_EQ(f.m->prepares, 1);
    CHECK_STR(rv_cql_prepared_query(a.p), "SELECT 1");
    /* A cache hit answers on a later turn of the loop, never inside the call. */
    REQUIRE(rv_cql_prepare(f.s, "SELECT 1", on_prepared, &c, NULL));
    CHECK(!c.done);
    REQUIRE(run_until(&f.loop, &c.done, 1000));
    CHECK(c.p == a.p);
    CHECK_EQ(f.m->prepares, 1);
    /* A cancelled cache hit is never called. */
    prep_wait_t d = {0};
    rv_cql_request_cancel(rv_cql_prepare(f.s, "SELECT 1", on_prepared, &d, NULL));
    run_for(&f.loop, 30);
    CHECK_EQ(d.count, 0);
    /* Two waiting for one PREPARE: the first callback cancels the second. */
    prep_cancel_t x = {0};
    prep_wait_t e = {0};
    REQUIRE(rv_cql_prepare(f.s, "SELECT 3", on_prepared_cancel, &x, NULL));
    x.other = rv_cql_prepare(f.s, "SELECT 3", on_prepared, &e, NULL);
    run_for(&f.loop, 100);
    CHECK_EQ(x.called, 1);
    CHECK_EQ(e.count, 0);
    /* The same with cache hits, answered together on the next turn. */
    x.called = 0;
    REQUIRE(rv_cql_prepare(f.s, "SELECT 3", on_prepared_cancel, &x, NULL));
    x.other = rv_cql_prepare(f.s, "SELECT 3", on_prepared, &e, NULL);
    run_for(&f.loop, 50);
    CHECK_EQ(x.called, 1);
    CHECK_EQ(e.count, 0);
    fx_fini(&f);
}

/* ----------------------------------------------------------- broken frames */

static bool broken_handler(mock_req_t *r, void *opaque)
{
    (void)opaque;
    if (r->opcode != RV__CQL_OP_QUERY) return false;
    if (!strncmp(r->query, "BADVERSION", 10)) {
        static const uint8_t h[] = {0x85, 0, 0, 0, 0x08, 0, 0, 0, 0};
        mock_send_raw(r->mc, h, sizeof(h));
        return true;
    }
    if (!strncmp(r->query, "BIG", 3)) {
        static int32_t v[1000];
        mock_reply_int_rows(r, v, 1000);
        return true;
    }
    if (!strncmp(r->query, "TRUNC", 5)) {
        uint8_t h[20] = {0x84, 0,  (uint8_t)(r->stream >> 8), (uint8_t)r->stream, 0x08, 0, 0,
                         0,    100};
        mock_send_raw(r->mc, h, sizeof(h));
        mock_close_conn(r->mc);
        return true;
    }
    if (!strncmp(r->query, "GARBAGE", 7)) {
        static const uint8_t body[] = {0, 0, 0, 2, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 1};
        mock_reply(r, RV__CQL_OP_RESULT, body, sizeof(body));
        return true;
    }
    if (!strncmp(r->query, "STRAY", 5)) {
        mock_req_t copy = *r;
        copy.stream = 77;
        mock_reply_void(&copy);
        return true;
    }
    if (!strncmp(r->query, "EVENT", 5)) {
        rv__cql_buf_t b;
        rv__cql_buf_init(&b);
        rv__cql_put_string(&b, "STATUS_CHANGE", 13);
        rv__cql_put_string(&b, "UP", 2);
        rv__cql_put_u8(&b, 4);
        rv__cql_put_raw(&b, "\x7f\x00\x00\x01", 4);
        rv__cql_put_i32(&b, 9042);
        mock_req_t copy = *r;
        copy.stream = -1;
        mock_reply(&copy, RV__CQL_OP_EVENT, b.data, b.len);
        rv__cql_buf_free(&b);
        mock_reply_void(r);
        return true;
    }
    if (!strncmp(r->query, "WARN", 4)) {
        static const uint8_t body[] = {0, 1, 0, 5, 'c', 'a', 'r', 'e', '!', 0, 0, 0, 1};
        mock_reply_flags(r, RV__CQL_FLAG_WARNING, RV__CQL_OP_RESULT, body, sizeof(body));
        return true;
    }
    return false;
}

static void expect_failure(fx_t *f, const char *q, rv_err_t code, const char *text)
{
    call_t c = {0};
    exec_q(f, q, false, &c);
    if (!run_until(&f->loop, &c.done, 3000)) {
        rv_test_fail_at(__FILE__, __LINE__, "%s: no callback", q);
        return;
    }
    if (rv_error_code(c.err) != code)
        rv_test_fail_at(__FILE__, __LINE__, "%s: code %d, want %d (%s)", q, rv_error_code(c.err),
                        code, c.err ? rv_error_msg(c.err) : "success");
    CHECK(msg_has(c.err, text));
    call_clear(&c);
    /* The broken connection was replaced. */
    run_for(&f->loop, 100);
    if (!query_ok(f, "INSERT after")) rv_test_fail_at(__FILE__, __LINE__, "%s: no recovery", q);
}

static void test_malformed_frames_close_the_connection(void)
{
    fx_t f;
    static const char *const kv[] = {"cql.max.frame.size", "2048", NULL};
    fx_init(&f, broken_handler, NULL, NULL, kv);
    REQUIRE(fx_connect(&f));
    expect_failure(&f, "BADVERSION", RV_ERR_PROTOCOL, "protocol version 5");
    expect_failure(&f, "BIG", RV_ERR_OVERFLOW, "cql.max.frame.size");
    expect_failure(&f, "TRUNC", RV_ERR_CLOSED, "in the middle of a frame");
    expect_failure(&f, "GARBAGE", RV_ERR_DECODE, "undecodable RESULT");
    expect_failure(&f, "STRAY", RV_ERR_PROTOCOL, "stream 77, which has no request");
    rv_cql_stats_t st;
    rv_cql_session_stats(f.s, &st);
    CHECK(st.connection_errors >= 5);
    /* An event is not an error; warnings reach the result. */
    CHECK(query_ok(&f, "EVENT"));
    call_t c = {0};
    exec_q(&f, "WARN", false, &c);
    REQUIRE(run_until(&f.loop, &c.done, 3000));
    REQUIRE(c.res);
    CHECK_EQ(rv_cql_result_warning_count(c.res), 1);
    CHECK_STR(rv_cql_result_warning(c.res, 0), "care!");
    call_clear(&c);
    /* Too large to send: refused at once. */
    rv_cql_stmt_t *st2 = rv_cql_stmt_new("INSERT INTO t (b) VALUES (?)", 1);
    static uint8_t blob[4096];
    rv_cql_bind_blob(st2, 0, blob, sizeof(blob));
    rv_error_t *err = NULL;
    CHECK(rv_cql_execute(f.s, st2, on_result, &c, &err) == NULL);
    CHECK_EQ(rv_error_code(err), RV_ERR_OVERFLOW);
    rv_error_destroy(err);
    rv_cql_stmt_destroy(st2);
    fx_fini(&f);
}

/* ------------------------------------------------------------- reconnecting */

static void test_reconnect_with_backoff(void)
{
    fx_t f;
    static const char *const kv[] = {"cql.reconnect.min", "40ms", "cql.reconnect.max", "160ms",
                                     NULL};
    fx_init(&f, NULL, NULL, NULL, kv);
    REQUIRE(fx_connect(&f));
    mock_stop_listening(f.m);
    mock_drop_conns(f.m);
    run_for(&f.loop, 10);
    /* A request made during the outage waits for a connection. */
    call_t c = {0};
    exec_q(&f, "INSERT during outage", false, &c);
    run_for(&f.loop, 700);
    rv_cql_stats_t st;
    rv_cql_session_stats(f.s, &st);
    CHECK_EQ(st.hosts_up, 0);
    CHECK_EQ(st.queued, 1);
    /* ~40 + 80 + 160 + 160 ... ms: a handful of attempts, not hundreds. */
    CHECK(st.connection_errors >= 3 && st.connection_errors <= 10);
    CHECK(!c.done);
    REQUIRE(mock_listen(f.m) == 0);
    REQUIRE(run_until(&f.loop, &c.done, 3000));
    CHECK(c.err == NULL);
    rv_cql_session_stats(f.s, &st);
    CHECK_EQ(st.hosts_up, 1);
    CHECK(st.reconnects >= 3);
    call_clear(&c);
    fx_fini(&f);
}

/* Reconnection jitter comes from the session's own generator: the
 * application's rand() sequence is untouched (no hidden global state), and an
 * unseeded rand() would give every process the same "random" delays. */
static void test_reconnect_leaves_rand_alone(void)
{
    srand(4242);
    int expect[3] = {rand(), rand(), rand()};
    fx_t f;
    fx_init(&f, NULL, NULL, NULL, NULL);
    REQUIRE(fx_connect(&f));
    srand(4242);
    mock_stop_listening(f.m);
    mock_drop_conns(f.m);
    run_for(&f.loop, 200);
    rv_cql_stats_t st;
    rv_cql_session_stats(f.s, &st);
    CHECK(st.connection_errors >= 2); /* backoff delays were drawn */
    for (int i = 0; i < 3; i++)
        CHECK_EQ(rand(), expect[i]);
    fx_fini(&f);
}

static void test_heartbeat(void)
{
    fx_t f;
    static const char *const kv[] = {"cql.heartbeat.interval",
                                     "100ms",
                                     "cql.request.timeout",
                                     "150ms",
                                     "cql.connect.timeout",
                                     "150ms",
                                     NULL};
    fx_init(&f, NULL, NULL, NULL, kv);
    REQUIRE(fx_connect(&f));
    run_for(&f.loop, 450);
    CHECK(f.m->options >= 2);
    rv_cql_stats_t st;
    rv_cql_session_stats(f.s, &st);
    CHECK_EQ(st.connection_errors, 0);
    /* A server that stops answering is detected by its silence. */
    f.m->silent = true;
    run_for(&f.loop, 500);
    rv_cql_session_stats(f.s, &st);
    CHECK(st.connection_errors >= 1);
    f.m->silent = false;
    run_for(&f.loop, 300);
    CHECK(query_ok(&f, "INSERT after silence"));
    fx_fini(&f);
}

/* ---------------------------------------------------------- schema agreement */

typedef struct schema {
    int peer_polls, agree_after;
} schema_t;

static bool schema_handler(mock_req_t *r, void *opaque)
{
    schema_t *x = opaque;
    if (r->opcode != RV__CQL_OP_QUERY) return false;
    if (!strncmp(r->query, "CREATE", 6)) {
        mock_reply_schema_change(r);
        return true;
    }
    if (strstr(r->query, "FROM system.peers") && strstr(r->query, "schema_version")) {
        rv__cql_buf_t b;
        rv__cql_buf_init(&b);
        rv__cql_put_i32(&b, 2);
        rv__cql_put_i32(&b, 1);
        rv__cql_put_i32(&b, 3);
        rv__cql_put_string(&b, "system", 6);
        rv__cql_put_string(&b, "peers", 5);
        rv__cql_put_string(&b, "peer", 4);
        rv__cql_put_u16(&b, 0x10);
        rv__cql_put_string(&b, "rpc_address", 11);
        rv__cql_put_u16(&b, 0x10);
        rv__cql_put_string(&b, "schema_version", 14);
        rv__cql_put_u16(&b, 0x0c);
        rv__cql_put_i32(&b, 1);
        rv__cql_put_bytes(&b, "\x7f\x00\x00\x02", 4);
        rv__cql_put_bytes(&b, "\x7f\x00\x00\x02", 4);
        uint8_t v[16];
        memcpy(v, r->m->schema_version, 16);
        if (x->agree_after < 0 || x->peer_polls++ < x->agree_after) v[0] ^= 1;
        rv__cql_put_bytes(&b, v, 16);
        mock_reply(r, RV__CQL_OP_RESULT, b.data, b.len);
        rv__cql_buf_free(&b);
        return true;
    }
    return false;
}

static void test_schema_agreement(void)
{
    schema_t x = {0, 2};
    fx_t f;
    static const char *const kv[] = {"cql.peers.discovery", "false", NULL};
    fx_init(&f, schema_handler, &x, NULL, kv);
    REQUIRE(fx_connect(&f));
    call_t c = {0};
    uint64_t t0 = uv_now(&f.loop);
    exec_q(&f, "CREATE TABLE t (k int PRIMARY KEY)", false, &c);
    REQUIRE(run_until(&f.loop, &c.done, 5000));
    REQUIRE(c.res);
    CHECK_EQ(rv_cql_result_kind(c.res), RV_CQL_RESULT_SCHEMA_CHANGE);
    CHECK(rv_cql_result_schema_agreed(c.res));
    CHECK_EQ(x.peer_polls, 3);
    CHECK(uv_now(&f.loop) - t0 >= 380); /* two polls 200 ms apart */
    call_clear(&c);
    fx_fini(&f);

    /* Never agreeing: the result still comes, marked as not agreed. */
    schema_t y = {0, -1};
    static const char *const kv2[] = {"cql.peers.discovery", "false",
                                      "cql.schema.agreement.timeout", "300ms", NULL};
    fx_init(&f, schema_handler, &y, NULL, kv2);
    REQUIRE(fx_connect(&f));
    exec_q(&f, "CREATE TABLE t2 (k int PRIMARY KEY)", false, &c);
    REQUIRE(run_until(&f.loop, &c.done, 5000));
    REQUIRE(c.res);
    CHECK(!rv_cql_result_schema_agreed(c.res));
    call_clear(&c);
    fx_fini(&f);
}

/* ---------------------------------------------------------------- two hosts */

static bool count_handler(mock_req_t *r, void *opaque)
{
    int *n = opaque;
    if (r->opcode == RV__CQL_OP_QUERY && !strncmp(r->query, "INSERT", 6)) (*n)++;
    if (r->opcode == RV__CQL_OP_QUERY && !strncmp(r->query, "UNAV", 4)) {
        mock_reply_unavailable(r);
        return true;
    }
    return false;
}

static bool ok_unav_handler(mock_req_t *r, void *opaque)
{
    int *n = opaque;
    if (r->opcode == RV__CQL_OP_QUERY && !strncmp(r->query, "INSERT", 6)) (*n)++;
    if (r->opcode == RV__CQL_OP_QUERY && !strncmp(r->query, "UNAV", 4)) {
        (*n) += 1000;
        mock_reply_void(r);
        return true;
    }
    return false;
}

static void test_round_robin_and_next_host(void)
{
    int na = 0, nb = 0;
    uv_loop_t loop;
    uv_loop_init(&loop);
    mock_server_t *a = mock_new(&loop, count_handler, &na),
                  *b = mock_new(&loop, ok_unav_handler, &nb);
    rv_conf_t *c = rv_conf_new();
    char cp[128];
    snprintf(cp, sizeof(cp), "127.0.0.1:%d, 127.0.0.1:%d", a->port, b->port);
    rv_conf_set(c, "cql.contact.points", cp, NULL);
    rv_conf_set(c, "cql.peers.discovery", "false", NULL);
    rv_conf_set(c, "cql.reconnect.min", "1s", NULL);
    fx_t f;
    memset(&f, 0, sizeof(f));
    f.s = rv_cql_session_new(&loop, c, NULL);
    rv_conf_destroy(c);
    REQUIRE(f.s);
    REQUIRE(rv_cql_session_connect(f.s, on_connect, &f, NULL) == RV_OK);
    REQUIRE(run_until(&loop, &f.connect_done, 3000) && f.connected);
    run_for(&loop, 50); /* both pools open */
    rv_cql_stats_t st;
    rv_cql_session_stats(f.s, &st);
    CHECK_EQ(st.hosts_up, 2);
    call_t calls[10] = {{0}};
    for (int i = 0; i < 10; i++) {
        rv_cql_stmt_t *s1 = rv_cql_stmt_new("INSERT INTO t (k) VALUES (1)", 0);
        REQUIRE(rv_cql_execute(f.s, s1, on_result, &calls[i], NULL));
        rv_cql_stmt_destroy(s1);
    }
    REQUIRE(run_until(&loop, &calls[9].done, 3000));
    run_for(&loop, 20);
    CHECK_EQ(na, 5);
    CHECK_EQ(nb, 5);
    /* Unavailable on one host: an idempotent statement moves to the other. */
    for (int i = 0; i < 4; i++) {
        call_t u = {0};
        rv_cql_stmt_t *s2 = rv_cql_stmt_new("UNAV", 0);
        rv_cql_stmt_set_idempotent(s2, true);
        REQUIRE(rv_cql_execute(f.s, s2, on_result, &u, NULL));
        REQUIRE(run_until(&loop, &u.done, 3000));
        CHECK(u.err == NULL);
        call_clear(&u);
        rv_cql_stmt_destroy(s2);
    }
    /* One host goes away: everything goes to the other. */
    mock_stop_listening(a);
    mock_drop_conns(a);
    run_for(&loop, 50);
    na = nb = 0;
    for (int i = 0; i < 10; i++) {
        call_clear(&calls[i]);
        rv_cql_stmt_t *s1 = rv_cql_stmt_new("INSERT INTO t (k) VALUES (1)", 0);
        REQUIRE(rv_cql_execute(f.s, s1, on_result, &calls[i], NULL));
        rv_cql_stmt_destroy(s1);
    }
    REQUIRE(run_until(&loop, &calls[9].done, 3000));
    run_for(&loop, 20);
    CHECK_EQ(na, 0);
    CHECK_EQ(nb, 10);
    for (int i = 0; i < 10; i++)
        call_clear(&calls[i]);
    rv_cql_session_destroy(f.s);
    mock_close(a);
    mock_close(b);
    for (int i = 0; i < 2000 && uv_loop_alive(&loop); i++) {
        uv_run(&loop, UV_RUN_NOWAIT);
        uv_sleep(1);
    }
    CHECK_EQ(uv_loop_close(&loop), 0);
    rv_error_destroy(f.connect_err);
}

/* ------------------------------------------------------------ token aware */

typedef struct ring_mock {
    bool is_a;
    int peer_port;
    int executes;
} ring_mock_t;

/* Rows with the columns discovery reads: tokens, and for peers their address. */
static void reply_ring_rows(mock_req_t *r, bool peers, const char *token)
{
    rv__cql_buf_t b;
    rv__cql_buf_init(&b);
    rv__cql_put_i32(&b, 2);
    rv__cql_put_i32(&b, 1);
    rv__cql_put_i32(&b, peers ? 3 : 1);
    rv__cql_put_string(&b, "system", 6);
    rv__cql_put_string(&b, peers ? "peers" : "local", peers ? 5 : 5);
    if (peers) {
        rv__cql_put_string(&b, "peer", 4);
        rv__cql_put_u16(&b, 0x10);
        rv__cql_put_string(&b, "rpc_address", 11);
        rv__cql_put_u16(&b, 0x10);
    }
    rv__cql_put_string(&b, "tokens", 6);
    rv__cql_put_u16(&b, 0x22);
    rv__cql_put_u16(&b, 0x0d);
    rv__cql_put_i32(&b, 1);
    if (peers) {
        rv__cql_put_bytes(&b, "\x7f\x00\x00\x01", 4);
        rv__cql_put_bytes(&b, "\x7f\x00\x00\x01", 4);
    }
    size_t tl = strlen(token);
    rv__cql_put_i32(&b, (int32_t)(4 + 4 + tl));
    rv__cql_put_i32(&b, 1);
    rv__cql_put_bytes(&b, token, (int32_t)tl);
    mock_reply(r, RV__CQL_OP_RESULT, b.data, b.len);
    rv__cql_buf_free(&b);
}

static bool ring_handler(mock_req_t *r, void *opaque)
{
    ring_mock_t *x = opaque;
    if (r->opcode == RV__CQL_OP_EXECUTE) {
        x->executes++;
        mock_reply_void(r);
        return true;
    }
    if (r->opcode == RV__CQL_OP_PREPARE) {
        static const uint8_t id[4] = {9, 9, 9, 9};
        mock_reply_prepared(r, id, 4, 1); /* marker 0 is the partition key */
        return true;
    }
    if (r->opcode == RV__CQL_OP_QUERY && strstr(r->query, "system.local")) {
        reply_ring_rows(r, false, x->is_a ? "-3000000000000000000" : "3000000000000000000");
        return true;
    }
    if (r->opcode == RV__CQL_OP_QUERY && strstr(r->query, "system.peers")) {
        reply_ring_rows(r, true, x->is_a ? "3000000000000000000" : "-3000000000000000000");
        return true;
    }
    return false;
}

static void test_token_aware_routing(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    ring_mock_t ra = {true, 0, 0}, rb = {false, 0, 0};
    mock_server_t *a = mock_new(&loop, ring_handler, &ra), *b = mock_new(&loop, ring_handler, &rb);
    /* Only A is a contact point; B is found in A's system.peers (same
     * address, cql.port = B's port). */
    rv_conf_t *c = rv_conf_new();
    char cp[64], port[16];
    snprintf(cp, sizeof(cp), "127.0.0.1:%d", a->port);
    snprintf(port, sizeof(port), "%d", b->port);
    rv_conf_set(c, "cql.contact.points", cp, NULL);
    rv_conf_set(c, "cql.port", port, NULL);
    fx_t f;
    memset(&f, 0, sizeof(f));
    f.s = rv_cql_session_new(&loop, c, NULL);
    rv_conf_destroy(c);
    REQUIRE(f.s);
    REQUIRE(rv_cql_session_connect(f.s, on_connect, &f, NULL) == RV_OK);
    REQUIRE(run_until(&loop, &f.connect_done, 3000) && f.connected);
    run_for(&loop, 50);
    rv_cql_stats_t st;
    rv_cql_session_stats(f.s, &st);
    CHECK_EQ(st.hosts, 2);
    CHECK_EQ(st.hosts_up, 2);
    prep_wait_t w = {0};
    REQUIRE(rv_cql_prepare(f.s, "INSERT INTO t (k) VALUES (?)", on_prepared, &w, NULL));
    REQUIRE(run_until(&loop, &w.done, 3000) && w.p);
    int want_a = 0, want_b = 0;
    many_t all = {0};
    rv_cql_stmt_t *stmt = rv_cql_stmt_new_prepared(w.p);
    for (int32_t k = 0; k < 40; k++) {
        uint8_t be[4] = {(uint8_t)(k >> 24), (uint8_t)(k >> 16), (uint8_t)(k >> 8), (uint8_t)k};
        int64_t t = rv__cql_murmur3_token(be, 4);
        /* B owns (-3e18, 3e18]; A owns the rest of the ring. */
        if (t > INT64_C(-3000000000000000000) && t <= INT64_C(3000000000000000000))
            want_b++;
        else
            want_a++;
        rv_cql_stmt_reset(stmt);
        rv_cql_bind_int(stmt, 0, k);
        REQUIRE(rv_cql_execute(f.s, stmt, on_result_count, &all, NULL));
    }
    for (int i = 0; i < 300 && all.done < 40; i++)
        run_for(&loop, 5);
    CHECK_EQ(all.done, 40);
    CHECK(want_a > 0 && want_b > 0);
    CHECK_EQ(ra.executes, want_a);
    CHECK_EQ(rb.executes, want_b);
    rv_cql_stmt_destroy(stmt);
    rv_cql_session_destroy(f.s);
    mock_close(a);
    mock_close(b);
    for (int i = 0; i < 2000 && uv_loop_alive(&loop); i++) {
        uv_run(&loop, UV_RUN_NOWAIT);
        uv_sleep(1);
    }
    CHECK_EQ(uv_loop_close(&loop), 0);
    rv_error_destroy(w.err);
}

/* ------------------------------------------------------------------- events */

static bool push_up_handler(mock_req_t *r, void *opaque)
{
    int *registers = opaque;
    if (r->opcode == RV__CQL_OP_REGISTER) (*registers)++;
    if (r->opcode == RV__CQL_OP_QUERY && !strncmp(r->query, "PUSH_UP", 7)) {
        rv__cql_buf_t b;
        rv__cql_buf_init(&b);
        rv__cql_put_string(&b, "STATUS_CHANGE", 13);
        rv__cql_put_string(&b, "UP", 2);
        rv__cql_put_u8(&b, 4);
        rv__cql_put_raw(&b, "\x7f\x00\x00\x01", 4);
        rv__cql_put_i32(&b, 9042);
        mock_req_t ev = *r;
        ev.stream = -1;
        mock_reply(&ev, RV__CQL_OP_EVENT, b.data, b.len);
        rv__cql_buf_free(&b);
        mock_reply_void(r);
        return true;
    }
    return false;
}

static void test_status_up_event_shortens_backoff(void)
{
    int reg_a = 0, reg_b = 0;
    uv_loop_t loop;
    uv_loop_init(&loop);
    mock_server_t *a = mock_new(&loop, push_up_handler, &reg_a),
                  *b = mock_new(&loop, push_up_handler, &reg_b);
    rv_conf_t *c = rv_conf_new();
    char cp[128], port[16];
    snprintf(cp, sizeof(cp), "127.0.0.1:%d,127.0.0.1:%d", a->port, b->port);
    snprintf(port, sizeof(port), "%d", a->port); /* events name hosts by address + cql.port */
    rv_conf_set(c, "cql.contact.points", cp, NULL);
    rv_conf_set(c, "cql.port", port, NULL);
    rv_conf_set(c, "cql.peers.discovery", "false", NULL);
    rv_conf_set(c, "cql.reconnect.min", "8s", NULL);
    rv_conf_set(c, "cql.reconnect.max", "8s", NULL);
    fx_t f;
    memset(&f, 0, sizeof(f));
    f.s = rv_cql_session_new(&loop, c, NULL);
    rv_conf_destroy(c);
    REQUIRE(f.s);
    rv_cql_session_set_log(f.s, log_fn, NULL);
    REQUIRE(rv_cql_session_connect(f.s, on_connect, &f, NULL) == RV_OK);
    REQUIRE(run_until(&loop, &f.connect_done, 3000) && f.connected);
    run_for(&loop, 50);
    CHECK_EQ(reg_a + reg_b, 1); /* one connection listens to events */
    /* A goes away; B takes over the events. */
    mock_stop_listening(a);
    mock_drop_conns(a);
    run_for(&loop, 100);
    CHECK_EQ(reg_a + reg_b, reg_a == 1 ? 2 : 1);
    REQUIRE(mock_listen(a) == 0);
    /* B says A is UP: A is retried within about a second, not after 8 s. */
    call_t up = {0};
    rv_cql_stmt_t *st = rv_cql_stmt_new("PUSH_UP", 0);
    REQUIRE(rv_cql_execute(f.s, st, on_result, &up, NULL));
    rv_cql_stmt_destroy(st);
    REQUIRE(run_until(&loop, &up.done, 2000));
    call_clear(&up);
    rv_cql_stats_t stats;
    uint64_t t0 = uv_now(&loop);
    do {
        run_for(&loop, 50);
        rv_cql_session_stats(f.s, &stats);
    } while (stats.hosts_up < 2 && uv_now(&loop) - t0 < 4000);
    CHECK_EQ(stats.hosts_up, 2);
    CHECK(uv_now(&loop) - t0 < 2500);
    rv_cql_session_destroy(f.s);
    mock_close(a);
    mock_close(b);
    for (int i = 0; i < 2000 && uv_loop_alive(&loop); i++) {
        uv_run(&loop, UV_RUN_NOWAIT);
        uv_sleep(1);
    }
    CHECK_EQ(uv_loop_close(&loop), 0);
    rv_error_destroy(f.connect_err);
}

/* ------------------------------------------------------------------ closing */

static bool closed_flag;
static void on_closed(rv_cql_session_t *s, const rv_error_t *err, void *opaque)
{
    (void)s;
    (void)err;
    (void)opaque;
    closed_flag = true;
}

static void test_close_fails_outstanding(void)
{
    static holder_t h;
    memset(&h, 0, sizeof(h));
    fx_t f;
    fx_init(&f, hold_handler, &h, NULL, NULL);
    REQUIRE(fx_connect(&f));
    call_t c[3] = {{0}};
    for (int i = 0; i < 3; i++)
        exec_q(&f, "SLOW", false, &c[i]);
    prep_wait_t w = {0};
    rv_cql_prepare(f.s, "SELECT 2", on_prepared, &w, NULL);
    run_for(&f.loop, 30);
    closed_flag = false;
    rv_cql_session_close(f.s, on_closed, NULL);
    for (int i = 0; i < 3; i++) {
        CHECK_EQ(c[i].count, 1);
        CHECK_EQ(rv_error_code(c[i].err), RV_ERR_CLOSED);
    }
    rv_error_t *err = NULL;
    call_t late = {0};
    rv_cql_stmt_t *st = rv_cql_stmt_new("x", 0);
    CHECK(rv_cql_execute(f.s, st, on_result, &late, &err) == NULL);
    CHECK_EQ(rv_error_code(err), RV_ERR_CLOSED);
    rv_error_destroy(err);
    rv_cql_stmt_destroy(st);
    REQUIRE(run_until(&f.loop, &closed_flag, 2000));
    for (int i = 0; i < 3; i++)
        call_clear(&c[i]);
    release_reverse(&h);
    rv_error_destroy(w.err);
    fx_fini(&f);
}

static void destroy_in_callback(rv_cql_session_t *s, rv_cql_result_t *res, const rv_error_t *err,
                                void *opaque)
{
    (void)err;
    *(bool *)opaque = true;
    rv_cql_result_destroy(res);
    rv_cql_session_destroy(s);
}

static void test_destroy_inside_callback(void)
{
    fx_t f;
    fx_init(&f, NULL, NULL, NULL, NULL);
    REQUIRE(fx_connect(&f));
    bool called = false;
    call_t other = {0};
    rv_cql_stmt_t *st = rv_cql_stmt_new("INSERT a", 0);
    REQUIRE(rv_cql_execute(f.s, st, destroy_in_callback, &called, NULL));
    REQUIRE(rv_cql_execute(f.s, st, on_result, &other, NULL));
    rv_cql_stmt_destroy(st);
    REQUIRE(run_until(&f.loop, &called, 3000));
    f.s = NULL; /* destroyed by the callback */
    run_for(&f.loop, 50);
    /* A destroyed session calls nothing more. */
    CHECK_EQ(other.count, 0);
    fx_fini(&f);
}

static void test_destroy_unconnected(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    rv_cql_session_t *s = rv_cql_session_new(&loop, NULL, NULL);
    REQUIRE(s);
    rv_cql_session_destroy(s);
    rv_cql_session_destroy(NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ(uv_loop_close(&loop), 0);
}

/* ----------------------------------------------------------- configuration */

static void test_conf_checked(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    rv_conf_t *c = rv_conf_new();
    rv_conf_set(c, "cql.bogus", "1", NULL);
    rv_error_t *err = NULL;
    CHECK(rv_cql_session_new(&loop, c, &err) == NULL);
    CHECK(msg_has(err, "cql.bogus"));
    rv_error_destroy(err);
    rv_conf_unset(c, "cql.bogus");
    rv_conf_set(c, "cql.port", "0", NULL);
    err = NULL;
    CHECK(rv_cql_session_new(&loop, c, &err) == NULL);
    CHECK(msg_has(err, "cql.port"));
    rv_error_destroy(err);
    rv_conf_unset(c, "cql.port");
    rv_conf_set(c, "cql.consistency", "eventually", NULL);
    err = NULL;
    CHECK(rv_cql_session_new(&loop, c, &err) == NULL);
    rv_error_destroy(err);
    rv_conf_unset(c, "cql.consistency");
    /* Other components' keys are not this table's business. */
    rv_conf_set(c, "graph.edge.capacity", "8", NULL);
    rv_conf_set(c, "cql.contact.points", "[::1", NULL);
    rv_cql_session_t *s = rv_cql_session_new(&loop, c, NULL);
    REQUIRE(s);
    err = NULL;
    CHECK_EQ(rv_cql_session_connect(s, NULL, NULL, &err), RV_ERR_CONFIG);
    CHECK(msg_has(err, "cql.contact.points"));
    rv_error_destroy(err);
    rv_cql_session_destroy(s);
    rv_conf_destroy(c);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ(uv_loop_close(&loop), 0);
    /* The table documents itself. */
    CHECK(rv_cql_conf_table.ndefs >= 20);
    CHECK_STR(rv_cql_conf_table.component, "cql");
}

static void test_queue_full(void)
{
    fx_t f;
    static const char *const kv[] = {"cql.queue.max", "3", NULL};
    fx_init(&f, NULL, NULL, NULL, kv);
    call_t c[3] = {{0}};
    for (int i = 0; i < 3; i++)
        exec_q(&f, "INSERT early", false, &c[i]);
    rv_cql_stmt_t *st = rv_cql_stmt_new("INSERT one too many", 0);
    rv_error_t *err = NULL;
    CHECK(rv_cql_execute(f.s, st, on_result, NULL, &err) == NULL);
    CHECK_EQ(rv_error_code(err), RV_ERR_OVERFLOW);
    CHECK(rv_error_retriable(err));
    rv_error_destroy(err);
    rv_cql_stmt_destroy(st);
    /* Once connected the queue drains. */
    REQUIRE(fx_connect(&f));
    REQUIRE(run_until(&f.loop, &c[2].done, 3000));
    for (int i = 0; i < 3; i++) {
        CHECK(c[i].err == NULL);
        call_clear(&c[i]);
    }
    fx_fini(&f);
}

RV_TEST_MAIN(RV_TEST(test_connect_auth_and_query), RV_TEST(test_wrong_password),
             RV_TEST(test_auth_required_without_user), RV_TEST(test_connect_refused),
             RV_TEST(test_use_keyspace_quoted), RV_TEST(test_contact_point_by_name),
             RV_TEST(test_golden_frame_on_the_wire), RV_TEST(test_client_timestamps),
             RV_TEST(test_many_in_flight_out_of_order), RV_TEST(test_timeout_and_late_answer),
             RV_TEST(test_cancel), RV_TEST(test_cancel_from_callback_during_connection_loss),
             RV_TEST(test_unanswered_streams_retire_the_connection),
             RV_TEST(test_retry_idempotent_only), RV_TEST(test_retry_after_connection_loss),
             RV_TEST(test_reprepare_on_unprepared), RV_TEST(test_reprepare_gives_up),
             RV_TEST(test_prepare_cache), RV_TEST(test_malformed_frames_close_the_connection),
             RV_TEST(test_reconnect_with_backoff), RV_TEST(test_reconnect_leaves_rand_alone),
             RV_TEST(test_heartbeat), RV_TEST(test_schema_agreement),
             RV_TEST(test_round_robin_and_next_host), RV_TEST(test_token_aware_routing),
             RV_TEST(test_status_up_event_shortens_backoff), RV_TEST(test_close_fails_outstanding),
             RV_TEST(test_destroy_inside_callback), RV_TEST(test_destroy_unconnected),
             RV_TEST(test_conf_checked), RV_TEST(test_queue_full))
