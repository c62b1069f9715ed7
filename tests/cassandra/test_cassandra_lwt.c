/* CassandraLwtFlow against the fake CQL server: applied / not applied with the
 * current values, input order (ordered) or completion order, statements from
 * CassandraBind, a result that is not conditional, and acks that wait for the
 * output's release. */
#include "cass_test_util.h"
#include "stmts.h"

#define MAXH 64

/* Holds every EXECUTE (the test answers), or answers at once when !hold:
 * even keys apply, odd keys do not (current version 1000 + k). */
typedef struct {
    bool hold;
    bool void_result;
    fake_req_t *held[MAXH];
    int32_t keys[MAXH];
    size_t n;
} lwt_srv_t;

static bool lwt_handler(fake_req_t *r, void *opaque)
{
    lwt_srv_t *l = opaque;
    if (r->opcode != FAKE_OP_EXECUTE) return false;
    int32_t k = fake_value_int(r, 0, -1);
    if (l->void_result) {
        fake_reply_void(r);
        return true;
    }
    if (l->hold && l->n < MAXH) {
        l->keys[l->n] = k;
        l->held[l->n++] = fake_hold(r);
        return true;
    }
    fake_reply_lwt(r, k % 2 == 0, 1000 + k);
    return true;
}

static void answer(lwt_srv_t *l, size_t i)
{
    int32_t k = l->keys[i];
    fake_reply_lwt(l->held[i], k % 2 == 0, 1000 + k);
    fake_req_free(l->held[i]);
    l->held[i] = NULL;
}

/* What the downstream sink saw. */
typedef struct {
    int n;
    int64_t offset[MAXH];
    bool applied[MAXH];
    int32_t version[MAXH];
    int32_t input_k[MAXH];
    int acks_before_release[MAXH];
    acks_t *acks;
} out_t;

static void on_out(void *opaque, rv_env_t *env)
{
    out_t *o = opaque;
    rv_cassandra_lwt_t *l = rv_env_payload(env);
    int i = o->n++;
    o->offset[i] = rv_env_meta(env)->offset;
    o->applied[i] = l->applied;
    o->version[i] = -1;
    int col = rv_cql_result_column_index(l->result, "version");
    if (!l->applied && col >= 0) rv_cql_result_get_int(l->result, 0, (size_t)col, &o->version[i]);
    o->input_k[i] = (int32_t)RV_INT(l->input);
    o->acks_before_release[i] = o->acks->total;
}

static void check_outputs(out_t *o, int n)
{
    for (int i = 0; i < o->n; i++) {
        int64_t k = o->offset[i];
        CHECK_EQ(o->input_k[i], k);
        CHECK_EQ(o->applied[i], k % 2 == 0);
        CHECK_EQ(o->version[i], k % 2 == 0 ? -1 : 1000 + k);
    }
    CHECK_EQ(o->n, n);
}

static void run_order_test(bool ordered)
{
    ch_t h;
    lwt_srv_t srv = {.hold = true};
    ch_init(&h, false, test_stmts, ST_COUNT, lwt_handler, &srv, NULL);
    psrc_t src;
    acks_t acks;
    acks_init(&acks, 8);
    psrc_new(h.t.g, &src, 8);
    src.acks = &acks;
    rv_stage_t *flow = rv_cassandra_lwt_flow(h.t.g, h.s, 4, ordered, test_stmts[ST_INSERT_IF].query,
                                             ch_bind_kv, NULL);
    psink_t sink;
    psink_new(h.t.g, &sink, true);
    out_t o = {.acks = &acks};
    sink.on_elem = on_out;
    sink.opaque = &o;
    rv_chain(src.st, flow, sink.st, NULL);
    REQUIRE(tu_start(&h.t) == RV_OK);
    /* Two rounds of 4 in flight, answered in reverse order. */
    for (int round = 0; round < 2; round++) {
        CH_WAIT(&h, srv.n == (size_t)(4 * (round + 1)), 3000);
        ch_spin(&h, 20);
        REQUIRE(srv.n == (size_t)(4 * (round + 1)));
        for (int i = 3; i >= 0; i--) {
            answer(&srv, (size_t)(4 * round + i));
            CH_WAIT(&h,
                    ordered ? (i == 0 ? o.n == 4 * (round + 1) : true) : o.n == 4 * round + (4 - i),
                    3000);
        }
        CH_WAIT(&h, o.n == 4 * (round + 1), 3000);
    }
    CH_WAIT(&h, h.t.r.done, 3000);
    CHECK_EQ(h.t.r.code, RV_OK);
    check_outputs(&o, 8);
    for (int i = 0; i < 8; i++) {
        if (ordered)
            CHECK_EQ(o.offset[i], i);
        else
            CHECK_EQ(o.offset[i], (i / 4) * 4 + 3 - i % 4);
    }
    /* Each input was acked only when its output was released, after success. */
    CHECK_EQ(acks.ok, 8);
    CHECK(acks_at_most_once(&acks));
    for (int i = 0; i < 8; i++)
        CHECK(o.acks_before_release[i] <= i);
    rv_cassandra_stats_t st;
    rv_cassandra_get_stats(flow, &st);
    CHECK_EQ(st.not_applied, 4);
    CHECK_EQ(st.in_flight_max, 4);
    ch_fini(&h);
    acks_free(&acks);
    psink_free(&sink);
}

static void test_lwt_ordered(void)
{
    run_order_test(true);
}

static void test_lwt_unordered(void)
{
    run_order_test(false);
}

static void test_lwt_from_bound_statements(void)
{
    ch_t h;
    lwt_srv_t srv = {0};
    ch_init(&h, false, test_stmts, ST_COUNT, lwt_handler, &srv, NULL);
    psrc_t src;
    acks_t acks;
    acks_init(&acks, 20);
    psrc_new(h.t.g, &src, 20);
    src.acks = &acks;
    rv_stage_t *bind =
        rv_cassandra_bind(h.t.g, h.s, test_stmts[ST_INSERT_IF].query, ch_bind_kv, NULL);
    rv_stage_t *flow = rv_cassandra_lwt_flow(h.t.g, h.s, 3, true, NULL, NULL, NULL);
    psink_t sink;
    psink_new(h.t.g, &sink, true);
    out_t o = {.acks = &acks};
    sink.on_elem = on_out;
    sink.opaque = &o;
    rv_chain(src.st, bind, flow, sink.st, NULL);
    CHECK_EQ(tu_run_all(&h.t, 5000), RV_OK);
    CHECK_EQ(o.n, 20);
    for (int i = 0; i < o.n; i++) {
        CHECK_EQ(o.offset[i], i);
        CHECK_EQ(o.applied[i], i % 2 == 0);
        CHECK_EQ(o.version[i], i % 2 == 0 ? -1 : 1000 + i);
    }
    CHECK_EQ(acks.ok, 20);
    ch_fini(&h);
    acks_free(&acks);
    psink_free(&sink);
}

static void test_lwt_rejects_unconditional_results(void)
{
    ch_t h;
    lwt_srv_t srv = {.void_result = true};
    ch_init(&h, false, test_stmts, ST_COUNT, lwt_handler, &srv, NULL);
    psrc_t src;
    acks_t acks;
    acks_init(&acks, 3);
    psrc_new(h.t.g, &src, 3);
    src.acks = &acks;
    rv_stage_t *flow =
        rv_cassandra_lwt_flow(h.t.g, h.s, 1, true, test_stmts[ST_INSERT].query, ch_bind_kv, NULL);
    psink_t sink;
    psink_new(h.t.g, &sink, true);
    rv_chain(src.st, flow, sink.st, NULL);
    CHECK_EQ(tu_run_all(&h.t, 5000), RV_ERR_INVALID);
    CHECK(strstr(h.t.r.msg, "not conditional") != NULL);
    CHECK_EQ(acks.ok, 0);
    CHECK_EQ(sink.n, 0);
    ch_fini(&h);
    acks_free(&acks);
    psink_free(&sink);
}

static void test_lwt_backpressure(void)
{
    ch_t h;
    lwt_srv_t srv = {0};
    ch_init(&h, false, test_stmts, ST_COUNT, lwt_handler, &srv, NULL);
    psrc_t src;
    acks_t acks;
    acks_init(&acks, 100);
    psrc_new(h.t.g, &src, 100);
    src.acks = &acks;
    rv_stage_t *flow = rv_cassandra_lwt_flow(h.t.g, h.s, 4, false, test_stmts[ST_INSERT_IF].query,
                                             ch_bind_kv, NULL);
    psink_t sink;
    psink_new(h.t.g, &sink, false); /* takes nothing until granted */
    rv_link(src.st, flow);
    rv_link_ports(flow, 0, sink.st, 0, 2);
    REQUIRE(tu_start(&h.t) == RV_OK);
    CH_WAIT(&h, h.fake->executes == 6 && h.fake->outstanding == 0, 3000);
    ch_spin(&h, 50);
    /* The output edge holds 2, the flow holds at most 4 more: then it stops. */
    CHECK_EQ(h.fake->executes, 6);
    CHECK_EQ(sink.n, 0);
    psink_grant(&sink, 100);
    CH_WAIT(&h, h.t.r.done, 3000);
    CHECK_EQ(h.t.r.code, RV_OK);
    CHECK_EQ(sink.n, 100);
    CHECK_EQ(acks.ok, 100);
    ch_fini(&h);
    acks_free(&acks);
    psink_free(&sink);
}

static void test_lwt_downstream_cancel(void)
{
    ch_t h;
    lwt_srv_t srv = {0};
    ch_init(&h, false, test_stmts, ST_COUNT, lwt_handler, &srv, NULL);
    psrc_t src;
    acks_t acks;
    acks_init(&acks, 1000);
    psrc_new(h.t.g, &src, -1);
    src.acks = &acks;
    rv_stage_t *flow = rv_cassandra_lwt_flow(h.t.g, h.s, 4, true, test_stmts[ST_INSERT_IF].query,
                                             ch_bind_kv, NULL);
    psink_t sink;
    psink_new(h.t.g, &sink, true);
    rv_chain(src.st, flow, rv_take(h.t.g, 10), sink.st, NULL);
    CHECK_EQ(tu_run_all(&h.t, 5000), RV_OK);
    CHECK_EQ(sink.n, 10);
    CHECK_EQ(acks.ok, 10);
    CHECK(acks_at_most_once(&acks));
    CHECK_EQ(src.cancels, 1);
    ch_fini(&h);
    acks_free(&acks);
    psink_free(&sink);
}

RV_TEST_MAIN(RV_TEST(test_lwt_ordered), RV_TEST(test_lwt_unordered),
             RV_TEST(test_lwt_from_bound_statements),
             RV_TEST(test_lwt_rejects_unconditional_results), RV_TEST(test_lwt_backpressure),
             RV_TEST(test_lwt_downstream_cancel))
