/* The Reactive Streams rules, used as an outside oracle for the engine. In our
 * API demand is an edge's free room: a stage may push only rv_out_room()
 * elements, an edge holds at most its capacity, and a slow consumer therefore
 * bounds what every upstream stage can have produced.
 *
 * Rule numbers are the RS specification's (1.x publisher, 2.x subscriber,
 * 3.x subscription, 4.x processor). */
#include "engine_test_util.h"

/* ------------------------------------------------------------- probe flow */

/* A pass-through stage written with the stage API that checks, at every hook,
 * what the engine offers it: never more input than the edge capacity, never
 * more room than the capacity, never a re-entrant hook. It moves only
 * min(avail, room), as a correct stage must. */
typedef struct {
    size_t cap_in, cap_out;
    size_t max_avail, max_room;
    int violations;
    bool in_hook;
    int reentries;
    uint64_t moved;
} pflow_t;

static void pflow_on_input(rv_stage_t *st)
{
    pflow_t *p = rv_stage_state(st);
    if (p->in_hook) p->reentries++;
    p->in_hook = true;
    size_t avail = rv_in_avail(st, 0), room = rv_out_room(st, 0);
    if (avail > p->max_avail) p->max_avail = avail;
    if (room > p->max_room) p->max_room = room;
    if (avail > p->cap_in || room > p->cap_out) p->violations++;
    size_t n = avail < room ? avail : room;
    for (size_t i = 0; i < n; i++) {
        rv_out_push(st, 0, rv_in_pop(st, 0));
        p->moved++;
    }
    p->in_hook = false;
}

static const rv_stage_ops_t pflow_ops = {.kind = "probe-flow", .on_input = pflow_on_input};

static rv_stage_t *pflow_new(rv_graph_t *g, pflow_t *p, size_t cap_in, size_t cap_out)
{
    memset(p, 0, sizeof(*p));
    p->cap_in = cap_in;
    p->cap_out = cap_out;
    return rv_stage_new(g, &pflow_ops, p, 1, 1);
}

static bool pass_all(void *in, void *opaque)
{
    return true;
}

/* 1.1: the number of elements a publisher signals never exceeds the total
 * demand. Through a chain of stages with mixed edge capacities and a buffer,
 * what the source has produced minus what the sink has taken never exceeds
 * the sum of the capacities on the way (plus the buffer's size), whatever
 * pace the sink takes. */
static void test_rule_1_1_demand_never_exceeded(void)
{
    tu_t t;
    tu_init(&t, true, "graph.edge.capacity=4", NULL);
    psrc_t src;
    pflow_t f1, f2;
    psink_t s;
    rv_stage_t *a = psrc_new(t.g, &src, 5000);
    rv_stage_t *m = rv_map(t.g, tu_fn_identity, NULL, NULL);
    rv_stage_t *p1 = pflow_new(t.g, &f1, 3, 5);
    rv_stage_t *fl = rv_filter(t.g, pass_all, NULL);
    rv_stage_t *b = rv_buffer(t.g, 10, RV_OVERFLOW_BACKPRESSURE);
    rv_stage_t *p2 = pflow_new(t.g, &f2, 4, 2);
    rv_stage_t *k = psink_new(t.g, &s, false);
    /* capacities: a-m 4, m-p1 3, p1-fl 5, fl-b 4, b-p2 4, p2-k 2 */
    rv_link(a, m);
    rv_link_ports(m, 0, p1, 0, 3);
    rv_link_ports(p1, 0, fl, 0, 5);
    rv_link(fl, b);
    rv_link(b, p2);
    rv_link_ports(p2, 0, k, 0, 2);
    const int64_t bound = 4 + 3 + 5 + 4 + 10 + 4 + 2;
    REQUIRE(tu_start(&t) == RV_OK);
    tu_settle(&t);
    /* Nothing taken: the pipeline fills exactly to its capacity. */
    CHECK_EQ(src.emitted, bound);
    uint32_t seed = 12345;
    int steps = 0;
    while (!t.r.done && steps++ < 20000) {
        psink_grant(&s, tu_rand(&seed) % 7);
        tu_settle(&t);
        CHECK(src.emitted - (int64_t)s.n <= bound);
        if (src.emitted - (int64_t)s.n > bound) break;
    }
    CHECK(t.r.done);
    CHECK_EQ(t.r.code, RV_OK);
    CHECK(psink_is_range(&s, 0, 5000));
    CHECK_EQ(f1.violations, 0);
    CHECK_EQ(f2.violations, 0);
    CHECK(f1.max_avail <= 3 && f1.max_room <= 5);
    CHECK(f2.max_avail <= 4 && f2.max_room <= 2);
    CHECK(s.max_avail <= 2);
    CHECK(src.max_room <= 4);
    CHECK_EQ(f1.reentries + f2.reentries, 0);
    tu_fini(&t);
    psink_free(&s);
}

/* 1.1 with a real loop and a sink that takes one element per loop turn: the
 * same bound holds at every element the sink sees. */
typedef struct {
    psrc_t *src;
    psink_t *sink;
    int64_t bound;
    int violations;
} bound_check_t;

static void check_bound(void *opaque, rv_env_t *env)
{
    bound_check_t *b = opaque;
    if (b->src->emitted - (int64_t)b->sink->n > b->bound) b->violations++;
}

static void slow_tick(uv_idle_t *h)
{
    psink_grant(h->data, 1);
}

static void test_rule_1_1_slow_sink_real_loop(void)
{
    tu_t t;
    tu_init(&t, false, "graph.edge.capacity=16", NULL);
    psrc_t src;
    psink_t s;
    rv_stage_t *a = psrc_new(t.g, &src, 3000);
    rv_chain(a, rv_map(t.g, tu_fn_add_one, NULL, NULL),
             rv_buffer(t.g, 100, RV_OVERFLOW_BACKPRESSURE), psink_new(t.g, &s, false), NULL);
    bound_check_t bc = {&src, &s, 16 * 3 + 100, 0};
    s.on_elem = check_bound;
    s.opaque = &bc;
    uv_idle_t idle;
    uv_idle_init(&t.loop, &idle);
    idle.data = &s;
    uv_idle_start(&idle, slow_tick);
    CHECK_EQ(tu_run_all(&t, 20000), RV_OK);
    CHECK_EQ(bc.violations, 0);
    CHECK_EQ(s.n, 3000);
    CHECK(s.max_avail <= 16);
    uv_close((uv_handle_t *)&idle, NULL);
    tu_fini(&t);
    psink_free(&s);
}

/* 1.7: once a terminal signal was given, no further signal. Completion,
 * failure and cancellation each reach the sink (or the source) exactly once
 * and nothing follows; the done callback runs once. */
static void test_rule_1_7_no_signal_after_terminal(void)
{
    for (int mode = 0; mode < 3; mode++) {
        tu_t t;
        tu_init(&t, true, "graph.edge.capacity=4", NULL);
        psrc_t src;
        psink_t s;
        rv_stage_t *a = psrc_new(t.g, &src, 50);
        if (mode == 1) src.fail_at = 20, src.fail_code = RV_ERR_IO;
        rv_chain(a, rv_map(t.g, tu_fn_identity, NULL, NULL), rv_filter(t.g, pass_all, NULL),
                 psink_new(t.g, &s, false), NULL);
        if (mode == 2) s.cancel_after = 10;
        REQUIRE(tu_start(&t) == RV_OK);
        for (int i = 0; i < 100; i++) {
            psink_grant(&s, 3);
            tu_settle(&t);
        }
        CHECK(t.r.done);
        CHECK_EQ(t.r.done_calls, 1);
        /* Poke every stage after the end: hooks must not run again. */
        rv_stage_wake(a);
        rv_stage_wake(s.st);
        tu_settle(&t);
        CHECK_EQ(t.r.done_calls, 1);
        CHECK_EQ(s.after_terminal, 0);
        CHECK_EQ(src.after_terminal, 0);
        if (mode == 0) {
            CHECK_EQ(t.r.code, RV_OK);
            CHECK_EQ(s.finishes, 1);
            CHECK_EQ(s.finish_code, RV_OK);
            CHECK_EQ(s.n, 50);
        } else if (mode == 1) {
            CHECK_EQ(t.r.code, RV_ERR_IO);
            CHECK_EQ(s.finishes, 1);
            CHECK_EQ(s.finish_code, RV_ERR_IO);
            CHECK(s.n <= 20);
        } else {
            CHECK_EQ(t.r.code, RV_OK);
            CHECK_EQ(s.finishes, 0);
            CHECK_EQ(src.cancels, 1);
            CHECK_EQ(s.n, 10);
        }
        tu_fini(&t);
        psink_free(&s);
    }
}

/* 1.7 from the pushing side: what a stage pushes after it finished never
 * reaches downstream; the element is released as failed. */
static int late_pushes;
static void late_on_room(rv_stage_t *st)
{
    acks_t *a = rv_stage_state(st);
    rv_env_t *env = rv_env_new(rv_stage_graph(st), RV_PTR(1), NULL);
    rv_env_meta_mut(env)->offset = 0;
    rv_env_set_ack(env, acks_cb, a);
    rv_out_push(st, 0, env);
    rv_stage_finish(st);
    /* After the terminal signal: */
    env = rv_env_new(rv_stage_graph(st), RV_PTR(2), NULL);
    rv_env_meta_mut(env)->offset = 1;
    rv_env_set_ack(env, acks_cb, a);
    rv_out_push(st, 0, env);
    late_pushes++;
}
static const rv_stage_ops_t late_ops = {.kind = "late-pusher", .on_room = late_on_room};

static void test_rule_1_7_push_after_finish_is_dropped(void)
{
    tu_t t;
    tu_init(&t, true, NULL);
    acks_t acks;
    acks_init(&acks, 2);
    psink_t s;
    rv_link(rv_stage_new(t.g, &late_ops, &acks, 0, 1), psink_new(t.g, &s, true));
    CHECK_EQ(tu_run_all(&t, 1000), RV_OK);
    CHECK_EQ(late_pushes, 1);
    CHECK_EQ(s.n, 1);
    CHECK_EQ(s.vals[0], 1);
    CHECK_EQ(acks.calls[0], 1);
    CHECK_EQ(acks.status[0], RV_OK);
    CHECK_EQ(acks.calls[1], 1);
    CHECK_EQ(acks.status[1], RV_ERR_CANCELLED);
    tu_fini(&t);
    acks_free(&acks);
    psink_free(&s);
}

/* 3.5 / 3.7 / 3.12: cancel is idempotent and eventually stops the source, through
 * a chain of stages. The source hears of it exactly once and emits nothing
 * afterwards; elements in flight are released as failed, never acked OK. */
static void test_rule_3_5_3_12_cancel_idempotent_stops_source(void)
{
    tu_t t;
    tu_init(&t, true, "graph.edge.capacity=4", NULL);
    psrc_t src;
    acks_t acks;
    acks_init(&acks, 100000);
    psink_t s;
    rv_stage_t *a = psrc_new(t.g, &src, -1);
    src.acks = &acks;
    rv_stage_t *bc = rv_broadcast(t.g, 1, false);
    rv_chain(a, rv_map(t.g, tu_fn_identity, NULL, NULL),
             rv_buffer(t.g, 8, RV_OVERFLOW_BACKPRESSURE), bc, rv_filter(t.g, pass_all, NULL),
             psink_new(t.g, &s, true), NULL);
    s.cancel_after = 25;
    CHECK_EQ(tu_run_all(&t, 1000), RV_OK);
    CHECK(t.r.done);
    CHECK_EQ(src.cancels, 1);
    CHECK_EQ(src.after_terminal, 0);
    CHECK(rv_stage_finished(a));
    int64_t emitted = src.emitted;
    CHECK(emitted <= 25 + 4 * 5 + 8);
    tu_settle(&t);
    CHECK_EQ(src.emitted, emitted);
    /* Every element is acked exactly once: 25 OK (taken), the rest failed. */
    CHECK_EQ(acks.total, (int)emitted);
    CHECK_EQ(acks.ok, 25);
    CHECK(acks_at_most_once(&acks));
    for (int i = 25; i < emitted; i++)
        CHECK(acks.status[i] != RV_OK);
    tu_fini(&t);
    acks_free(&acks);
    psink_free(&s);
}

/* 1.4 / 4.2: a failure reaches downstream (as on_finish with the error) and
 * cancels upstream; the graph's status is that failure; nothing still buffered
 * is acked OK. */
static rv_err_t fail_at_7(void *in, void **out, rv_error_t **errp, void *opaque)
{
    if (RV_INT(in) == 7) return rv_error_set(errp, RV_ERR_PROTOCOL, false, "element 7 is bad");
    *out = in;
    return RV_OK;
}

static void test_rule_1_4_4_2_failure_down_cancel_up(void)
{
    tu_t t;
    tu_init(&t, true, "graph.edge.capacity=4", NULL);
    psrc_t src;
    acks_t acks;
    acks_init(&acks, 1000);
    psink_t s;
    rv_stage_t *a = psrc_new(t.g, &src, 1000);
    src.acks = &acks;
    rv_chain(a, rv_filter(t.g, pass_all, NULL), rv_map(t.g, fail_at_7, NULL, NULL),
             rv_map(t.g, tu_fn_identity, NULL, NULL), psink_new(t.g, &s, true), NULL);
    CHECK_EQ(tu_run_all(&t, 1000), RV_ERR_PROTOCOL);
    CHECK(strstr(t.r.msg, "element 7 is bad") != NULL);
    CHECK_EQ(s.finishes, 1);
    CHECK_EQ(s.finish_code, RV_ERR_PROTOCOL);
    CHECK_EQ(src.cancels, 1);
    CHECK(src.emitted < 40);
    CHECK(s.n <= 7);
    tu_fini(&t);
    CHECK_EQ(acks.total, (int)src.emitted);
    CHECK_EQ(acks.ok, (int)s.n);
    CHECK_EQ(acks.status[7], RV_ERR_PROTOCOL);
    CHECK(acks_at_most_once(&acks));
    acks_free(&acks);
    psink_free(&s);
}

/* 3.9: non-positive demand is rejected. Our demand is an edge's capacity:
 * a capacity of 0 or a negative one is a configuration error, a huge one (a
 * negative number cast to unsigned) is rejected by rv_link_ports. */
static void test_rule_3_9_zero_or_negative_demand_rejected(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    const char *bad[] = {"0", "-1", "-100", "1000000000"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        rv_conf_t *c = tu_conf("graph.edge.capacity", bad[i]);
        rv_error_t *err = NULL;
        rv_graph_t *g = rv_graph_new(&loop, c, &err);
        CHECK(g == NULL);
        CHECK_EQ(rv_error_code(err), RV_ERR_CONFIG);
        CHECK(strstr(rv_error_msg(err), "graph.edge.capacity") != NULL);
        rv_error_destroy(err);
        rv_conf_destroy(c);
    }
    rv_graph_t *g = rv_graph_new(&loop, NULL, NULL);
    rv_stage_t *a = rv_source_range(g, 0, 10), *b = rv_ignore(g);
    CHECK_EQ(rv_link_ports(a, 0, b, 0, (uint32_t)-1), RV_ERR_INVALID);
    CHECK_EQ(rv_link_ports(a, 0, b, 0, 5), RV_OK);
    run_result_t r = {0};
    CHECK_EQ(tu_run(g, &r, 1000), RV_ERR_INVALID); /* the bad link was recorded */
    tu_destroy(g);
    CHECK_EQ(uv_loop_close(&loop), 0);
    TU_LEAK_CHECK();
}

/* 3.9 from the pushing side: pushing beyond rv_out_room fails the stage with
 * RV_ERR_OVERFLOW, the extra element is released as failed, and downstream
 * never sees more than its capacity. */
static void test_rule_3_9_push_beyond_room_fails(void)
{
    tu_t t;
    tu_init(&t, true, "graph.edge.capacity=4", NULL);
    psrc_t src;
    acks_t acks;
    acks_init(&acks, 100);
    psink_t s;
    rv_link(psrc_new(t.g, &src, 100), psink_new(t.g, &s, false));
    src.acks = &acks;
    src.overpush = 1;
    CHECK_EQ(tu_run_all(&t, 1000), RV_ERR_OVERFLOW);
    CHECK(strstr(t.r.msg, "beyond its demand") != NULL);
    CHECK_EQ(src.emitted, 5);
    CHECK(s.max_avail <= 4);
    CHECK_EQ(s.finish_code, RV_ERR_OVERFLOW);
    tu_fini(&t);
    CHECK_EQ(acks.total, 5);
    CHECK_EQ(acks.status[4], RV_ERR_OVERFLOW);
    CHECK_EQ(acks.ok, 0);
    acks_free(&acks);
    psink_free(&s);
}

/* 3.6 / 3.7: after the subscription was cancelled, waking the stage or
 * granting more demand is a no-op. */
static void test_rule_3_6_requests_after_cancel_are_noops(void)
{
    tu_t t;
    tu_init(&t, true, "graph.edge.capacity=2", NULL);
    psrc_t src;
    psink_t s;
    rv_stage_t *a = psrc_new(t.g, &src, -1);
    rv_link(a, psink_new(t.g, &s, false));
    s.cancel_after = 1;
    REQUIRE(tu_start(&t) == RV_OK);
    psink_grant(&s, 1);
    tu_settle(&t);
    CHECK(t.r.done);
    int64_t emitted = src.emitted;
    psink_grant(&s, 100);
    rv_stage_wake(a);
    tu_settle(&t);
    CHECK_EQ(src.emitted, emitted);
    CHECK_EQ(s.n, 1);
    CHECK_EQ(src.after_terminal, 0);
    CHECK_EQ(s.after_terminal, 0);
    tu_fini(&t);
    psink_free(&s);
}

RV_TEST_MAIN(RV_TEST_T(test_rule_1_1_demand_never_exceeded, 20),
             RV_TEST_T(test_rule_1_1_slow_sink_real_loop, 30),
             RV_TEST_T(test_rule_1_7_no_signal_after_terminal, 10),
             RV_TEST_T(test_rule_1_7_push_after_finish_is_dropped, 10),
             RV_TEST_T(test_rule_3_5_3_12_cancel_idempotent_stops_source, 10),
             RV_TEST_T(test_rule_1_4_4_2_failure_down_cancel_up, 10),
             RV_TEST_T(test_rule_3_9_zero_or_negative_demand_rejected, 10),
             RV_TEST_T(test_rule_3_9_push_beyond_room_fails, 10),
             RV_TEST_T(test_rule_3_6_requests_after_cancel_are_noops, 10))
