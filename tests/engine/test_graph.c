/* Graph lifecycle: build errors, run, graceful stop, abort, cross-thread stop,
 * independent graphs in several threads, DOT output and per-stage counters. */
#include <unistd.h>

#include "engine_test_util.h"

/* ------------------------------------------------------------ build errors */

static void expect_run_error(rv_graph_t *g, rv_err_t code, const char *needle)
{
    rv_error_t *err = NULL;
    run_result_t r = {0};
    CHECK_EQ(rv_graph_run(g, tu_done, &r, &err), code);
    CHECK_EQ(rv_error_code(err), code);
    if (needle && (!err || !strstr(rv_error_msg(err), needle)))
        rv_test_fail_at(__FILE__, __LINE__, "message \"%s\" lacks \"%s\"", rv_error_msg(err),
                        needle);
    rv_error_destroy(err);
    CHECK(!rv_graph_running(g));
    CHECK(!r.done);
}

static void test_build_unlinked_port(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    rv_graph_t *g = rv_graph_new(&loop, NULL, NULL);
    rv_stage_t *src = rv_source_range(g, 0, 10);
    rv_stage_t *m = rv_map(g, tu_fn_add_one, NULL, NULL);
    rv_link(src, m);
    rv_stage_set_name(m, "the-map");
    expect_run_error(g, RV_ERR_INVALID, "the-map: output port 0 is not linked");
    tu_destroy(g);

    g = rv_graph_new(&loop, NULL, NULL);
    rv_stage_t *b = rv_broadcast(g, 2, false);
    rv_link(rv_source_range(g, 0, 10), b);
    rv_link(b, rv_ignore(g));
    expect_run_error(g, RV_ERR_INVALID, "output port 1 is not linked");
    tu_destroy(g);

    g = rv_graph_new(&loop, NULL, NULL);
    rv_stage_t *z = rv_zip(g);
    rv_link(rv_source_range(g, 0, 10), z);
    rv_link(z, rv_ignore(g));
    expect_run_error(g, RV_ERR_INVALID, "input port 1 is not linked");
    tu_destroy(g);
    CHECK_EQ(uv_loop_close(&loop), 0);
    TU_LEAK_CHECK();
}

static void test_build_null_stage_from_failed_constructor(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    rv_graph_t *g = rv_graph_new(&loop, NULL, NULL);
    rv_stage_t *src = rv_source_range(g, 0, 10);
    rv_stage_t *bad = rv_buffer(g, 0, RV_OVERFLOW_BACKPRESSURE); /* size 0: fails */
    CHECK(bad == NULL);
    /* rv_chain cannot see past a NULL (it is its terminator), so link by hand. */
    CHECK_EQ(rv_link(src, bad), RV_ERR_INVALID);
    CHECK_EQ(rv_link(bad, rv_ignore(g)), RV_ERR_INVALID);
    /* The constructor's own error is the first and is reported. */
    expect_run_error(g, RV_ERR_INVALID, "buffer: size must be > 0");
    tu_destroy(g);

    /* A NULL stage from a constructor that records nothing specific. */
    g = rv_graph_new(&loop, NULL, NULL);
    CHECK_EQ(rv_link(rv_source_range(g, 0, 1), NULL), RV_ERR_INVALID);
    expect_run_error(g, RV_ERR_INVALID, "downstream stage is missing");
    tu_destroy(g);

    g = rv_graph_new(&loop, NULL, NULL);
    CHECK_EQ(rv_link(NULL, rv_ignore(g)), RV_ERR_INVALID);
    expect_run_error(g, RV_ERR_INVALID, "upstream stage is missing");
    tu_destroy(g);

    /* Constructors with bad arguments, each recorded. */
    g = rv_graph_new(&loop, NULL, NULL);
    CHECK(rv_map(g, NULL, NULL, NULL) == NULL);
    expect_run_error(g, RV_ERR_INVALID, "map: function is NULL");
    tu_destroy(g);
    g = rv_graph_new(&loop, NULL, NULL);
    CHECK(rv_async_map(g, 0, true, NULL, NULL, NULL) == NULL);
    expect_run_error(g, RV_ERR_INVALID, "function is NULL");
    tu_destroy(g);
    g = rv_graph_new(&loop, NULL, NULL);
    CHECK(rv_grouped_within(g, 3, 0) == NULL);
    expect_run_error(g, RV_ERR_INVALID, "ms must be > 0");
    tu_destroy(g);
    g = rv_graph_new(&loop, NULL, NULL);
    CHECK(rv_zip_with(g, RV_ZIP_MAX_IN + 1, NULL, NULL, NULL) == NULL);
    CHECK(rv_broadcast(g, 0, false) == NULL);
    expect_run_error(g, RV_ERR_INVALID, "zip-with");
    tu_destroy(g);
    CHECK_EQ(uv_loop_close(&loop), 0);
    TU_LEAK_CHECK();
}

static void test_build_too_many_links(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    rv_graph_t *g = rv_graph_new(&loop, NULL, NULL);
    rv_stage_t *src = rv_source_range(g, 0, 10);
    rv_stage_set_name(src, "numbers");
    CHECK_EQ(rv_link(src, rv_ignore(g)), RV_OK);
    CHECK_EQ(rv_link(src, rv_ignore(g)), RV_ERR_INVALID);
    expect_run_error(g, RV_ERR_INVALID, "numbers has no free output port");
    tu_destroy(g);

    g = rv_graph_new(&loop, NULL, NULL);
    rv_stage_t *sink = rv_ignore(g);
    CHECK_EQ(rv_link(rv_source_range(g, 0, 1), sink), RV_OK);
    CHECK_EQ(rv_link(rv_source_range(g, 0, 1), sink), RV_ERR_INVALID);
    expect_run_error(g, RV_ERR_INVALID, "no free input port");
    tu_destroy(g);

    g = rv_graph_new(&loop, NULL, NULL);
    src = rv_source_range(g, 0, 1);
    CHECK_EQ(rv_link_ports(src, 3, rv_ignore(g), 0, 0), RV_ERR_INVALID);
    expect_run_error(g, RV_ERR_INVALID, "no free output port 3");
    tu_destroy(g);

    /* Linking stages of two graphs. */
    rv_graph_t *g1 = rv_graph_new(&loop, NULL, NULL), *g2 = rv_graph_new(&loop, NULL, NULL);
    CHECK_EQ(rv_link(rv_source_range(g1, 0, 1), rv_ignore(g2)), RV_ERR_INVALID);
    expect_run_error(g1, RV_ERR_INVALID, "different graphs");
    rv_graph_destroy(g1);
    rv_graph_destroy(g2);
    uv_run(&loop, UV_RUN_DEFAULT);

    /* Too many ports. */
    g = rv_graph_new(&loop, NULL, NULL);
    CHECK(rv_merge(g, 65, false) == NULL);
    expect_run_error(g, RV_ERR_INVALID, "port count out of range");
    tu_destroy(g);
    CHECK_EQ(uv_loop_close(&loop), 0);
    TU_LEAK_CHECK();
}

static void test_build_misc_errors(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    /* An empty graph. */
    rv_graph_t *g = rv_graph_new(&loop, NULL, NULL);
    expect_run_error(g, RV_ERR_INVALID, "no stages");
    tu_destroy(g);
    /* Unknown and invalid keys. */
    rv_error_t *err = NULL;
    rv_conf_t *c = tu_conf("graph.no.such.key", "1");
    CHECK(rv_graph_new(&loop, c, &err) == NULL);
    CHECK_EQ(rv_error_code(err), RV_ERR_CONFIG);
    CHECK(strstr(rv_error_msg(err), "graph.no.such.key") != NULL);
    rv_error_destroy(err);
    rv_conf_destroy(c);
    err = NULL;
    CHECK(rv_graph_new(NULL, NULL, &err) == NULL);
    CHECK_EQ(rv_error_code(err), RV_ERR_INVALID);
    rv_error_destroy(err);
    /* Running twice. */
    g = rv_graph_new(&loop, NULL, NULL);
    rv_link(rv_source_range(g, 0, 3), rv_ignore(g));
    run_result_t r = {0};
    CHECK_EQ(tu_run(g, &r, 1000), RV_OK);
    err = NULL;
    CHECK_EQ(rv_graph_run(g, tu_done, &r, &err), RV_ERR_STATE);
    rv_error_destroy(err);
    CHECK_EQ(r.done_calls, 1);
    tu_destroy(g);
    rv_graph_destroy(NULL);
    /* Destroying a graph that never ran. */
    g = rv_graph_new(&loop, NULL, NULL);
    rv_chain(rv_source_range(g, 0, 3), rv_map(g, tu_fn_add_one, NULL, NULL), rv_collect(g), NULL);
    tu_destroy(g);
    CHECK_EQ(uv_loop_close(&loop), 0);
    TU_LEAK_CHECK();
}

/* A stage whose start hook fails: rv_graph_run reports it, the done callback
 * runs once with the same error, nothing else is left running. */
static rv_err_t failing_start(rv_stage_t *st, rv_error_t **errp)
{
    return rv_error_set(errp, RV_ERR_UNAVAILABLE, true, "cannot connect to the broker");
}
static const rv_stage_ops_t failing_start_ops = {.kind = "bad-start", .start = failing_start};

static void test_start_hook_failure(void)
{
    tu_t t;
    tu_init(&t, true, NULL);
    psrc_t src;
    rv_stage_t *a = psrc_new(t.g, &src, 100);
    rv_stage_t *bad = rv_stage_new(t.g, &failing_start_ops, NULL, 1, 1);
    psink_t s;
    rv_chain(a, bad, psink_new(t.g, &s, true), NULL);
    CHECK_EQ(tu_start(&t), RV_ERR_UNAVAILABLE);
    CHECK(strstr(t.r.msg, "cannot connect") != NULL);
    tu_settle(&t);
    CHECK_EQ(t.r.done_calls, 1);
    CHECK_EQ(t.r.code, RV_ERR_UNAVAILABLE);
    CHECK(!rv_graph_running(t.g));
    CHECK_EQ(s.n, 0);
    tu_fini(&t);
    psink_free(&s);
}

/* ------------------------------------------------------------ stop / abort */

/* An async step whose calls complete on uv timers of 1..3 ms. */
typedef struct {
    uv_loop_t *loop;
    int pending;
    int started;
} slow_async_t;

typedef struct {
    uv_timer_t timer;
    rv_async_t *op;
    void *in;
    slow_async_t *owner;
} slow_call_t;

static void slow_call_closed(uv_handle_t *h)
{
    free(h->data);
}

static void slow_call_fire(uv_timer_t *t)
{
    slow_call_t *c = t->data;
    c->owner->pending--;
    rv_async_done(c->op, c->in, NULL);
    t->data = c;
    uv_close((uv_handle_t *)t, slow_call_closed);
}

static void slow_async(rv_async_t *op, void *in, void *opaque)
{
    slow_async_t *s = opaque;
    slow_call_t *c = calloc(1, sizeof(*c));
    c->op = op;
    c->in = in;
    c->owner = s;
    s->pending++;
    s->started++;
    uv_timer_init(s->loop, &c->timer);
    c->timer.data = c;
    uv_timer_start(&c->timer, slow_call_fire, 1 + (uint64_t)(s->started % 3), 0);
}

typedef struct {
    rv_graph_t *g;
    size_t after;
    bool graceful;
    size_t seen;
} stopper_t;

static rv_err_t stop_after(void *in, rv_error_t **errp, void *opaque)
{
    stopper_t *s = opaque;
    if (++s->seen == s->after) {
        if (s->graceful)
            rv_graph_stop(s->g);
        else
            rv_graph_abort(s->g);
    }
    return RV_OK;
}

/* Graceful stop: sources stop, every element in flight (in the edges and in
 * async calls) reaches the sink, all are acked OK, status OK. */
static void test_graceful_stop_drains(void)
{
    tu_t t;
    tu_init(&t, false, "graph.edge.capacity=8", NULL);
    psrc_t src;
    acks_t acks;
    acks_init(&acks, 1000000);
    rv_stage_t *a = psrc_new(t.g, &src, -1);
    src.acks = &acks;
    rv_stage_t *r2 = rv_source_range(t.g, 1000, -1); /* a source without a drain hook */
    rv_stage_t *m = rv_merge(t.g, 2, false);
    rv_link(a, m);
    rv_link(r2, m);
    slow_async_t sa = {&t.loop, 0, 0};
    stopper_t stp = {t.g, 200, true, 0};
    rv_chain(m, rv_async_map(t.g, 4, true, slow_async, NULL, &sa),
             rv_buffer(t.g, 8, RV_OVERFLOW_BACKPRESSURE), rv_for_each(t.g, stop_after, &stp), NULL);
    CHECK_EQ(tu_run_all(&t, 10000), RV_OK);
    CHECK_EQ(src.drains, 1);
    CHECK_EQ(sa.pending, 0);
    CHECK(stp.seen > 200); /* what was in flight after the stop still arrived */
    CHECK(rv_graph_draining(t.g));
    CHECK_EQ(acks.failed, 0);
    CHECK_EQ(acks.ok, (int)src.emitted);
    /* Every element the sources made reached the sink. */
    CHECK_EQ((int64_t)stp.seen, src.emitted + (int64_t)tu_counters(r2).out);
    rv_graph_stop(t.g); /* idempotent, and harmless after the end */
    tu_fini(&t);
    acks_free(&acks);
}

/* Abort: status RV_ERR_CANCELLED, every element not yet taken by the sink is
 * acked as failed, and nothing is acked OK after the abort. */
static void test_abort_fails_in_flight(void)
{
    tu_t t;
    tu_init(&t, false, "graph.edge.capacity=8", NULL);
    psrc_t src;
    acks_t acks;
    acks_init(&acks, 1000000);
    rv_stage_t *a = psrc_new(t.g, &src, -1);
    src.acks = &acks;
    slow_async_t sa = {&t.loop, 0, 0};
    stopper_t stp = {t.g, 100, false, 0};
    rv_chain(a, rv_async_map(t.g, 4, false, slow_async, NULL, &sa),
             rv_buffer(t.g, 8, RV_OVERFLOW_BACKPRESSURE), rv_for_each(t.g, stop_after, &stp), NULL);
    CHECK_EQ(tu_run_all(&t, 10000), RV_ERR_CANCELLED);
    CHECK_EQ(t.r.done_calls, 1);
    CHECK_EQ(src.aborts, 1);
    CHECK_EQ(stp.seen, 100);
    /* Async calls still running complete later; their elements fail too. */
    TU_WAIT(&t, sa.pending == 0, 5000);
    CHECK_EQ(sa.pending, 0);
    CHECK_EQ(acks.ok, 100);
    CHECK_EQ(acks.total, (int)src.emitted);
    CHECK(acks_at_most_once(&acks));
    tu_fini(&t);
    acks_free(&acks);
}

/* Destroying a graph with async calls still running: the calls complete after
 * the graph is gone, and nothing breaks (AddressSanitizer checks). */
static void test_destroy_with_async_calls_in_flight(void)
{
    tu_t t;
    tu_init(&t, false, NULL);
    psrc_t src;
    acks_t acks;
    acks_init(&acks, 1000000);
    rv_stage_t *a = psrc_new(t.g, &src, -1);
    src.acks = &acks;
    slow_async_t sa = {&t.loop, 0, 0};
    rv_chain(a, rv_async_map(t.g, 8, true, slow_async, NULL, &sa), rv_ignore(t.g), NULL);
    REQUIRE(tu_start(&t) == RV_OK);
    TU_WAIT(&t, acks.ok > 50, 5000);
    CHECK(sa.pending > 0);
    rv_graph_destroy(t.g);
    t.destroyed = true;
    CHECK_EQ(acks.total, (int)src.emitted); /* the in-flight ones were failed */
    uv_run(&t.loop, UV_RUN_DEFAULT);        /* the pending calls complete now */
    CHECK_EQ(sa.pending, 0);
    CHECK_EQ(acks.total, (int)src.emitted);
    CHECK(acks_at_most_once(&acks));
    tu_fini(&t);
    acks_free(&acks);
}

/* Destroying a running graph (no abort first): no done callback, every
 * element failed. */
static void test_destroy_while_running(void)
{
    tu_t t;
    tu_init(&t, true, "graph.edge.capacity=4", NULL);
    psrc_t src;
    acks_t acks;
    acks_init(&acks, 1000);
    psink_t s;
    rv_stage_t *a = psrc_new(t.g, &src, 1000);
    src.acks = &acks;
    rv_chain(a, rv_map(t.g, tu_fn_identity, NULL, NULL), psink_new(t.g, &s, false), NULL);
    REQUIRE(tu_start(&t) == RV_OK);
    psink_grant(&s, 3);
    tu_settle(&t);
    CHECK(rv_graph_running(t.g));
    tu_fini(&t);
    CHECK(!t.r.done);
    CHECK_EQ(acks.ok, 3);
    CHECK_EQ(acks.total, (int)src.emitted);
    acks_free(&acks);
    psink_free(&s);
}

/* The done callback may destroy its graph. */
static void done_destroys(rv_graph_t *g, const rv_error_t *status, void *opaque)
{
    *(int *)opaque += 1;
    rv_graph_destroy(g);
}

static void test_done_callback_destroys_graph(void)
{
    for (int vclock = 0; vclock < 2; vclock++) {
        uv_loop_t loop;
        uv_loop_init(&loop);
        rv_clock_t *c = vclock ? rv_clock_virtual_new(0) : NULL;
        rv_graph_t *g = rv_graph_new(&loop, NULL, NULL);
        if (c) rv_graph_set_clock(g, c);
        rv_chain(rv_source_range(g, 0, 100), rv_grouped_within(g, 7, 5), rv_ignore(g), NULL);
        int calls = 0;
        REQUIRE(rv_graph_run(g, done_destroys, &calls, NULL) == RV_OK);
        if (c) rv_clock_advance(c, 10);
        uv_run(&loop, UV_RUN_DEFAULT);
        CHECK_EQ(calls, 1);
        CHECK_EQ(uv_loop_close(&loop), 0);
        TU_LEAK_CHECK();
        rv_clock_destroy(c);
    }
}

/* ---------------------------------------------------------- other threads */

typedef struct {
    rv_graph_t *g;
    bool graceful;
    int delay_ms;
} async_stop_t;

static void stop_thread(void *arg)
{
    async_stop_t *a = arg;
    uv_sleep((unsigned)a->delay_ms);
    rv_graph_stop_async(a->g, a->graceful);
    rv_graph_stop_async(a->g, a->graceful);
}

static void test_stop_async_from_another_thread(void)
{
    for (int graceful = 0; graceful < 2; graceful++) {
        tu_t t;
        tu_init(&t, false, NULL);
        acks_t acks;
        acks_init(&acks, 1000); /* totals count every element; per-element records the first 1000 */
        psrc_t src;
        rv_stage_t *a = psrc_new(t.g, &src, -1);
        src.acks = &acks;
        rv_chain(a, rv_map(t.g, tu_fn_add_one, NULL, NULL), rv_ignore(t.g), NULL);
        async_stop_t as = {t.g, graceful, 20};
        uv_thread_t th;
        uv_thread_create(&th, stop_thread, &as);
        rv_err_t rc = tu_run_all(&t, 10000);
        uv_thread_join(&th);
        CHECK(t.r.done);
        CHECK_EQ(rc, graceful ? RV_OK : RV_ERR_CANCELLED);
        CHECK(src.emitted > 0);
        if (graceful) {
            CHECK_EQ(src.drains, 1);
            CHECK_EQ(acks.ok, (int)src.emitted);
        } else {
            CHECK_EQ(src.aborts, 1);
            CHECK(acks.ok < (int)src.emitted || src.emitted == 0);
        }
        tu_fini(&t);
        acks_free(&acks);
    }
}

typedef struct {
    int id;
    int64_t s1, s2;
    rv_err_t rc;
    int64_t n;
} pipeline_t;

static rv_err_t sum_into(void *in, rv_error_t **errp, void *opaque)
{
    *(int64_t *)opaque += RV_INT(in);
    return RV_OK;
}

static rv_err_t times_id(void *in, void **out, rv_error_t **errp, void *opaque)
{
    *out = RV_PTR(RV_INT(in) * ((pipeline_t *)opaque)->id);
    return RV_OK;
}

static void pipeline_thread(void *arg)
{
    pipeline_t *p = arg;
    uv_loop_t loop;
    uv_loop_init(&loop);
    rv_graph_t *g = rv_graph_new(&loop, NULL, NULL);
    rv_stage_t *b = rv_broadcast(g, 2, false);
    rv_chain(rv_source_range(g, 0, p->n), rv_map(g, times_id, NULL, p), b, NULL);
    rv_link(b, rv_for_each(g, sum_into, &p->s1));
    rv_stage_t *buf = rv_buffer(g, 64, RV_OVERFLOW_BACKPRESSURE);
    rv_link(b, buf);
    rv_link(buf, rv_for_each(g, sum_into, &p->s2));
    run_result_t r = {0};
    p->rc = tu_run(g, &r, 30000);
    tu_destroy(g);
    uv_loop_close(&loop);
}

static void test_independent_graphs_in_threads(void)
{
    enum { N = 4 };
    pipeline_t p[N];
    uv_thread_t th[N];
    for (int i = 0; i < N; i++) {
        p[i] = (pipeline_t){.id = i + 1, .n = 100000};
        uv_thread_create(&th[i], pipeline_thread, &p[i]);
    }
    for (int i = 0; i < N; i++) {
        uv_thread_join(&th[i]);
        int64_t expect = (p[i].n * (p[i].n - 1) / 2) * p[i].id;
        CHECK_EQ(p[i].rc, RV_OK);
        CHECK_EQ(p[i].s1, expect);
        CHECK_EQ(p[i].s2, expect);
    }
    TU_LEAK_CHECK();
}

/* Several graphs may share a loop, and a virtual clock: each runs to its own
 * end, and advancing the clock fires the timers of both. */
static void test_graphs_share_loop_and_clock(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    rv_clock_t *c = rv_clock_virtual_new(1000);
    rv_graph_t *g[2];
    run_result_t r[2] = {{0}};
    int64_t sums[2] = {0, 0};
    for (int i = 0; i < 2; i++) {
        g[i] = rv_graph_new(&loop, NULL, NULL);
        rv_graph_set_clock(g[i], c);
        rv_chain(rv_source_range(g[i], 0, 10 * (i + 1)),
                 rv_throttle(g[i], 1, 10 * (uint64_t)(i + 1), 1),
                 rv_for_each(g[i], sum_into, &sums[i]), NULL);
        REQUIRE(rv_graph_run(g[i], tu_done, &r[i], NULL) == RV_OK);
    }
    CHECK_EQ(rv_graph_now(g[0]), 1000);
    rv_clock_advance(c, 95);
    CHECK(r[0].done);  /* 10 elements, one per 10 ms: done at 90 ms */
    CHECK(!r[1].done); /* 20 elements, one per 20 ms: 380 ms */
    rv_clock_advance(c, 300);
    CHECK(r[1].done);
    CHECK_EQ(sums[0], 45);
    CHECK_EQ(sums[1], 190);
    CHECK_EQ(rv_clock_now(c), 1395);
    for (int i = 0; i < 2; i++)
        rv_graph_destroy(g[i]);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ(uv_loop_close(&loop), 0);
    rv_clock_destroy(c);
    TU_LEAK_CHECK();
}

/* -------------------------------------------------------------- inspection */

static void test_dot_mentions_every_stage_and_edge(void)
{
    tu_t t;
    tu_init(&t, true, NULL);
    rv_stage_t *src = rv_stage_set_name(rv_source_range(t.g, 0, 10), "numbers");
    rv_stage_t *m = rv_stage_set_name(rv_map(t.g, tu_fn_add_one, NULL, NULL), "plus \"one\"");
    rv_stage_t *b = rv_broadcast(t.g, 2, false);
    rv_stage_t *k1 = rv_collect(t.g), *k2 = rv_ignore(t.g);
    rv_chain(src, m, b, NULL);
    rv_link(b, k1);
    rv_link(b, k2);
    CHECK_EQ(tu_run_all(&t, 1000), RV_OK);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    rv_graph_dot(t.g, f);
    fclose(f);
    CHECK(strncmp(buf, "digraph", 7) == 0);
    CHECK(strstr(buf, "numbers") != NULL);
    CHECK(strstr(buf, "plus \\\"one\\\"") != NULL); /* quotes escaped */
    CHECK(strstr(buf, "broadcast#3") != NULL);
    CHECK(strstr(buf, "collect#4") != NULL);
    CHECK(strstr(buf, "ignore#5") != NULL);
    CHECK(strstr(buf, "(source-range)") != NULL);
    const char *edges[] = {"s1 -> s2", "s2 -> s3", "s3 -> s4", "s3 -> s5"};
    for (int i = 0; i < 4; i++)
        CHECK(strstr(buf, edges[i]) != NULL);
    int arrows = 0;
    for (char *p = buf; (p = strstr(p, "->")) != NULL; p += 2)
        arrows++;
    CHECK_EQ(arrows, 4);
    CHECK(strstr(buf, "in=10 out=10") != NULL); /* the map's counters */
    free(buf);
    CHECK_STR(rv_stage_kind(m), "map");
    CHECK_STR(rv_stage_name(b), "broadcast#3");
    tu_fini(&t);
}

static void count_stage(rv_stage_t *st, void *opaque)
{
    char *names = opaque;
    strcat(names, rv_stage_kind(st));
    strcat(names, ",");
}

static void test_counters(void)
{
    tu_t t;
    tu_init(&t, false, "graph.edge.capacity=4", NULL);
    psrc_t src;
    psink_t s;
    rv_stage_t *a = psrc_new(t.g, &src, 100);
    rv_stage_t *m = rv_map(t.g, tu_fn_identity, NULL, NULL);
    rv_stage_t *b = rv_buffer(t.g, 3, RV_OVERFLOW_DROP_NEW);
    rv_chain(a, m, b, psink_new(t.g, &s, false), NULL);
    REQUIRE(tu_start(&t) == RV_OK);
    tu_settle(&t);
    /* The sink took nothing: its edge is full, the buffer holds 3 and drops the rest. */
    rv_stage_counters_t cs = tu_counters(s.st), cb = tu_counters(b), cm = tu_counters(m),
                        ca = tu_counters(a);
    CHECK_EQ(cs.queued, 4);
    CHECK_EQ(cs.in, 0);
    CHECK_EQ(cb.in_flight, 3);
    CHECK_EQ(cb.out, 4);
    CHECK_EQ(cb.in, 100);
    CHECK_EQ(cb.failures, 100 - 4 - 3);
    CHECK_EQ(cm.in, 100);
    CHECK_EQ(cm.out, 100);
    CHECK_EQ(ca.out, 100);
    CHECK_EQ(cm.queued, 0);
    CHECK_EQ(cb.wait_ns, 0); /* nobody took from its full output yet */
    uv_sleep(30);
    uv_update_time(&t.loop);
    psink_grant(&s, 1000);
    tu_settle(&t);
    CHECK(t.r.done);
    cb = tu_counters(b);
    CHECK(cb.wait_ns >= 20 * 1000000ull); /* it waited ~30 ms for demand */
    CHECK(cb.wait_ns < 5000 * 1000000ull);
    CHECK_EQ(cb.in_flight, 0);
    CHECK_EQ(cb.out, 7);
    CHECK_EQ(tu_counters(s.st).in, 7);
    char names[256] = "";
    rv_graph_foreach_stage(t.g, count_stage, names);
    CHECK_STR(names, "probe-source,map,buffer,probe-sink,");
    tu_fini(&t);
    psink_free(&s);
}

/* ------------------------------------------------------------- scheduling */

/* With a budget of one stage run per loop turn, the graph still completes and
 * other handles on the loop get their turns in between. */
static void count_turn(uv_check_t *h)
{
    (*(int *)h->data)++;
}

static void test_budget_yields_to_loop(void)
{
    tu_t t;
    tu_init(&t, false, "graph.scheduler.budget=1", NULL);
    int64_t sum = 0;
    rv_chain(rv_source_range(t.g, 0, 2000), rv_map(t.g, tu_fn_add_one, NULL, NULL),
             rv_for_each(t.g, sum_into, &sum), NULL);
    uv_check_t chk;
    int turns = 0;
    uv_check_init(&t.loop, &chk);
    chk.data = &turns;
    uv_check_start(&chk, count_turn);
    uv_unref((uv_handle_t *)&chk);
    CHECK_EQ(tu_run_all(&t, 10000), RV_OK);
    CHECK_EQ(sum, 2000LL * 2001 / 2);
    CHECK(turns > 100); /* many loop turns, not one long run */
    uv_close((uv_handle_t *)&chk, NULL);
    tu_fini(&t);
}

static void test_random_seeded(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    rv_conf_t *c = tu_conf("graph.random.seed", "777");
    rv_graph_t *g1 = rv_graph_new(&loop, c, NULL), *g2 = rv_graph_new(&loop, c, NULL);
    rv_conf_destroy(c);
    c = tu_conf("graph.random.seed", "778");
    rv_graph_t *g3 = rv_graph_new(&loop, c, NULL);
    rv_conf_destroy(c);
    int same = 0, differ = 0;
    double sum = 0;
    for (int i = 0; i < 10000; i++) {
        double a = rv_graph_random(g1), b = rv_graph_random(g2), d = rv_graph_random(g3);
        CHECK(a >= 0.0 && a < 1.0);
        same += a == b;
        differ += a != d;
        sum += a;
    }
    CHECK_EQ(same, 10000);
    CHECK(differ > 9900);
    CHECK(sum / 10000 > 0.45 && sum / 10000 < 0.55);
    rv_graph_destroy(g1);
    rv_graph_destroy(g2);
    rv_graph_destroy(g3);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ(uv_loop_close(&loop), 0);
    TU_LEAK_CHECK();
}

/* A graph that completed leaves nothing that keeps the loop alive: a plain
 * uv_run(UV_RUN_DEFAULT) returns once it is done. */
static void test_uv_run_default_returns_when_done(void)
{
    for (int kind = 0; kind < 3; kind++) {
        uv_loop_t loop;
        uv_loop_init(&loop);
        rv_graph_t *g = rv_graph_new(&loop, NULL, NULL);
        rv_stage_t *src;
        if (kind == 0) {
            src = rv_source_range(g, 0, 1000);
        } else if (kind == 1) {
            src = rv_chain(rv_source_range(g, 0, 1000), rv_grouped_within(g, 10, 1000), NULL);
        } else {
            src = rv_source_queue(g, 16);
            rv_queue_t *q = rv_source_queue_get(src);
            for (int i = 0; i < 10; i++)
                rv_queue_offer(q, RV_PTR(i), NULL);
            rv_queue_close(q);
        }
        rv_link(src, rv_ignore(g));
        run_result_t r = {0};
        REQUIRE(rv_graph_run(g, tu_done, &r, NULL) == RV_OK);
        uv_run(&loop, UV_RUN_DEFAULT);
        CHECK(r.done);
        CHECK_EQ(r.code, RV_OK);
        tu_destroy(g);
        CHECK_EQ(uv_loop_close(&loop), 0);
        TU_LEAK_CHECK();
    }
}

RV_TEST_MAIN(RV_TEST_T(test_build_unlinked_port, 10),
             RV_TEST_T(test_build_null_stage_from_failed_constructor, 10),
             RV_TEST_T(test_build_too_many_links, 10), RV_TEST_T(test_build_misc_errors, 10),
             RV_TEST_T(test_start_hook_failure, 10), RV_TEST_T(test_graceful_stop_drains, 20),
             RV_TEST_T(test_abort_fails_in_flight, 20),
             RV_TEST_T(test_destroy_with_async_calls_in_flight, 20),
             RV_TEST_T(test_destroy_while_running, 10),
             RV_TEST_T(test_done_callback_destroys_graph, 10),
             RV_TEST_T(test_stop_async_from_another_thread, 20),
             RV_TEST_T(test_independent_graphs_in_threads, 60),
             RV_TEST_T(test_graphs_share_loop_and_clock, 10),
             RV_TEST_T(test_dot_mentions_every_stage_and_edge, 10), RV_TEST_T(test_counters, 10),
             RV_TEST_T(test_budget_yields_to_loop, 20), RV_TEST_T(test_random_seeded, 10),
             RV_TEST_T(test_uv_run_default_returns_when_done, 10))
