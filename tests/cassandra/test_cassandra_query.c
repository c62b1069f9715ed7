/* CassandraQuery and CassandraMappedPaging against the fake CQL server: all
 * rows in order across pages, the next page fetched only on demand (a slow
 * consumer never has more than a page and an edge buffered), retried fetches
 * in virtual time, stop and abort with a fetch outstanding, pages of an exact
 * size from server pages of another size, and the row function's errors. */
#include "cass_test_util.h"
#include "stmts.h"

/* The fake table behind "SELECT v FROM t": rows v = 0..n-1, paged with a
 * 4-byte offset as paging state. */
typedef struct {
    int32_t n;
    int32_t fixed_page; /* > 0: pages of this size whatever was asked */
    int read_timeouts;  /* answer this many fetches with Read_timeout first */
    bool hold;
    fake_req_t *held;
    int32_t asked_page_size;
    int32_t bound_k;
} rows_srv_t;

static bool rows_handler(fake_req_t *r, void *opaque)
{
    rows_srv_t *t = opaque;
    if (r->opcode != FAKE_OP_EXECUTE) return false;
    if (r->stmt == ST_READ_VERSION) {
        t->bound_k = fake_value_int(r, 0, -1);
        const char *cols[] = {"version"};
        int32_t v = 42;
        fake_reply_int_rows(r, cols, 1, &v, 1, NULL, -1);
        return true;
    }
    if (r->stmt != ST_SELECT_ALL) return false;
    t->asked_page_size = r->page_size;
    if (t->hold && !t->held) {
        t->held = fake_hold(r);
        return true;
    }
    if (t->read_timeouts > 0) {
        t->read_timeouts--;
        fake_reply_error(r, 0x1200, "read timed out");
        return true;
    }
    int32_t off = 0;
    if (r->paging_len == 4)
        off = (int32_t)(((uint32_t)r->paging[0] << 24) | ((uint32_t)r->paging[1] << 16) |
                        ((uint32_t)r->paging[2] << 8) | r->paging[3]);
    int32_t size = t->fixed_page > 0 ? t->fixed_page : (r->page_size > 0 ? r->page_size : t->n);
    int32_t n = t->n - off < size ? t->n - off : size;
    if (n < 0) n = 0;
    int32_t *vals = malloc(((size_t)n + 1) * sizeof(*vals));
    for (int32_t i = 0; i < n; i++)
        vals[i] = off + i;
    const char *cols[] = {"v"};
    int32_t next = off + n;
    uint8_t ps[4] = {(uint8_t)((uint32_t)next >> 24), (uint8_t)((uint32_t)next >> 16),
                     (uint8_t)((uint32_t)next >> 8), (uint8_t)next};
    fake_reply_int_rows(r, cols, 1, vals, (size_t)n, ps, next < t->n ? 4 : -1);
    free(vals);
    return true;
}

/* Checks each row as it arrives: its index and its value. */
typedef struct {
    int64_t n;
    int bad;
} rows_seen_t;

static void on_row(void *opaque, rv_env_t *env)
{
    rows_seen_t *s = opaque;
    const rv_cassandra_row_t *row = rv_env_payload(env);
    int32_t v = -1;
    rv_cql_result_get_int(row->result, row->row, 0, &v);
    if ((int64_t)row->index != s->n || v != s->n || rv_env_meta(env)->offset != s->n) s->bad++;
    s->n++;
}

static rv_cassandra_stats_t stats_of(rv_stage_t *st)
{
    rv_cassandra_stats_t s;
    rv_cassandra_get_stats(st, &s);
    return s;
}

static void test_query_emits_every_row_in_order(void)
{
    ch_t h;
    rows_srv_t srv = {.n = 250};
    ch_init(&h, false, test_stmts, ST_COUNT, rows_handler, &srv, NULL);
    rv_stage_t *q =
        rv_cassandra_query(h.t.g, h.s, test_stmts[ST_SELECT_ALL].query, 100, NULL, NULL);
    psink_t sink;
    psink_new(h.t.g, &sink, true);
    rows_seen_t seen = {0};
    sink.on_elem = on_row;
    sink.opaque = &seen;
    rv_link(q, sink.st);
    CHECK_EQ(tu_run_all(&h.t, 5000), RV_OK);
    CHECK_EQ(seen.n, 250);
    CHECK_EQ(seen.bad, 0);
    CHECK_EQ(srv.asked_page_size, 100);
    CHECK_EQ(h.fake->executes, 3);
    rv_cassandra_stats_t st = stats_of(q);
    CHECK_EQ(st.pages, 3);
    CHECK_EQ(st.rows, 250);
    CHECK_EQ(st.succeeded, 250);
    ch_fini(&h);
    psink_free(&sink);
}

static void test_query_fetches_only_on_demand(void)
{
    ch_t h;
    rows_srv_t srv = {.n = 1000};
    ch_init(&h, false, test_stmts, ST_COUNT, rows_handler, &srv, NULL);
    rv_stage_t *q =
        rv_cassandra_query(h.t.g, h.s, test_stmts[ST_SELECT_ALL].query, 100, NULL, NULL);
    psink_t sink;
    psink_new(h.t.g, &sink, false);
    rows_seen_t seen = {0};
    sink.on_elem = on_row;
    sink.opaque = &seen;
    rv_link_ports(q, 0, sink.st, 0, 16);
    REQUIRE(tu_start(&h.t) == RV_OK);
    /* Nobody consumes: one page is fetched, 16 rows wait on the edge, the rest
     * of the page in the stage, and nothing more is asked for. */
    CH_WAIT(&h, stats_of(q).pages == 1, 3000);
    ch_spin(&h, 50);
    CHECK_EQ(h.fake->executes, 1);
    CHECK_EQ(stats_of(q).rows, 100);
    /* A slow consumer: never more than a page plus the edge buffered. */
    uint64_t max_buffered = 0;
    while (!h.t.r.done && seen.n < 1000) {
        psink_grant(&sink, 7);
        int64_t want = seen.n + 7 > 1000 ? 1000 : seen.n + 7;
        CH_WAIT(&h, seen.n == want, 3000);
        REQUIRE(seen.n == want);
        ch_spin(&h, 1);
        uint64_t buffered = stats_of(q).rows - (uint64_t)seen.n;
        if (buffered > max_buffered) max_buffered = buffered;
        CHECK(buffered <= 100 + 16);
        CHECK((uint64_t)h.fake->executes <= (uint64_t)seen.n / 100 + 2);
    }
    CH_WAIT(&h, h.t.r.done, 3000);
    CHECK_EQ(h.t.r.code, RV_OK);
    CHECK_EQ(seen.n, 1000);
    CHECK_EQ(seen.bad, 0);
    CHECK_EQ(h.fake->executes, 10);
    CHECK(max_buffered >= 16);
    ch_fini(&h);
    psink_free(&sink);
}

static void test_query_retries_a_failed_fetch(void)
{
    ch_t h;
    rows_srv_t srv = {.n = 30, .read_timeouts = 1};
    /* The CQL client retries idempotent reads itself; off, to see the stage's. */
    const char *no_client_retry[] = {"cql.retry.max=0", NULL};
    ch_init(&h, true, test_stmts, ST_COUNT, rows_handler, &srv, no_client_retry);
    rv_stage_t *q = rv_cassandra_query(h.t.g, h.s, test_stmts[ST_SELECT_ALL].query, 10, NULL, NULL);
    rv_backoff_t b = {200, 1000, 0.0, 2};
    rv_cassandra_set_backoff(q, &b);
    psink_t sink;
    psink_new(h.t.g, &sink, true);
    rows_seen_t seen = {0};
    sink.on_elem = on_row;
    sink.opaque = &seen;
    rv_link(q, sink.st);
    REQUIRE(tu_start(&h.t) == RV_OK);
    CH_WAIT(&h, stats_of(q).retries == 1, 3000);
    CHECK_EQ(seen.n, 0);
    tu_advance(&h.t, 199);
    ch_spin(&h, 20);
    CHECK_EQ(h.fake->executes, 1);
    tu_advance(&h.t, 1);
    CH_WAIT(&h, h.t.r.done, 3000);
    CHECK_EQ(h.t.r.code, RV_OK);
    CHECK_EQ(seen.n, 30);
    CHECK_EQ(seen.bad, 0);
    ch_fini(&h);
    psink_free(&sink);
}

static void test_query_fails_after_retries(void)
{
    ch_t h;
    rows_srv_t srv = {.n = 30, .read_timeouts = 100};
    const char *no_client_retry[] = {"cql.retry.max=0", NULL};
    ch_init(&h, true, test_stmts, ST_COUNT, rows_handler, &srv, no_client_retry);
    rv_stage_t *q = rv_cassandra_query(h.t.g, h.s, test_stmts[ST_SELECT_ALL].query, 10, NULL, NULL);
    rv_backoff_t b = {10, 10, 0.0, 2};
    rv_cassandra_set_backoff(q, &b);
    psink_t sink;
    psink_new(h.t.g, &sink, true);
    rv_link(q, sink.st);
    REQUIRE(tu_start(&h.t) == RV_OK);
    for (uint64_t r = 1; r <= 2; r++) {
        CH_WAIT(&h, stats_of(q).retries == r, 3000);
        tu_advance(&h.t, 10);
    }
    CH_WAIT(&h, h.t.r.done, 3000);
    CHECK_EQ(h.t.r.code, RV_ERR_FROM_CQL(RV_CQL_ERR_READ_TIMEOUT));
    CHECK(strstr(h.t.r.msg, "fetching page 0") != NULL);
    CHECK_EQ(h.fake->executes, 3);
    ch_fini(&h);
    psink_free(&sink);
}

static void test_query_stop_cancels_the_fetch(void)
{
    ch_t h;
    rows_srv_t srv = {.n = 30, .hold = true};
    ch_init(&h, false, test_stmts, ST_COUNT, rows_handler, &srv, NULL);
    rv_stage_t *q = rv_cassandra_query(h.t.g, h.s, test_stmts[ST_SELECT_ALL].query, 10, NULL, NULL);
    psink_t sink;
    psink_new(h.t.g, &sink, true);
    rv_link(q, sink.st);
    REQUIRE(tu_start(&h.t) == RV_OK);
    CH_WAIT(&h, srv.held != NULL, 3000);
    REQUIRE(srv.held != NULL);
    rv_graph_stop(h.t.g);
    CH_WAIT(&h, h.t.r.done, 3000);
    CHECK_EQ(h.t.r.code, RV_OK);
    CHECK_EQ(stats_of(q).cancelled, 1);
    /* The late answer reaches nobody. */
    const char *cols[] = {"v"};
    int32_t v[2] = {0, 1};
    fake_reply_int_rows(srv.held, cols, 1, v, 2, NULL, -1);
    fake_req_free(srv.held);
    ch_spin(&h, 30);
    CHECK_EQ(sink.n, 0);
    ch_fini(&h);
    psink_free(&sink);
}

static void test_query_rows_outlive_the_graph(void)
{
    ch_t h;
    rows_srv_t srv = {.n = 25};
    ch_init(&h, false, test_stmts, ST_COUNT, rows_handler, &srv, NULL);
    rv_stage_t *q = rv_cassandra_query(h.t.g, h.s, test_stmts[ST_SELECT_ALL].query, 10, NULL, NULL);
    psink_t sink;
    psink_new(h.t.g, &sink, true);
    sink.keep = true; /* holds every row until the graph is destroyed */
    rv_link(q, sink.st);
    CHECK_EQ(tu_run_all(&h.t, 5000), RV_OK);
    CHECK_EQ(sink.n, 25);
    /* The kept rows still read their page's result. */
    int bad = 0;
    for (size_t i = 0; i < sink.n; i++) {
        const rv_cassandra_row_t *row = sink.ptrs[i];
        int32_t v = -1;
        rv_cql_result_get_int(row->result, row->row, 0, &v);
        bad += v != (int32_t)i;
    }
    CHECK_EQ(bad, 0);
    ch_fini(&h); /* LeakSanitizer: every page freed with its last row */
    psink_free(&sink);
}

static rv_err_t bind_k7(rv_cql_stmt_t *stmt, rv_env_t *env, rv_error_t **errp, void *opaque)
{
    CHECK(env == NULL);
    return rv_cql_bind_int(stmt, 0, 7);
}

static void test_query_binds_once(void)
{
    ch_t h;
    rows_srv_t srv = {.n = 0};
    ch_init(&h, false, test_stmts, ST_COUNT, rows_handler, &srv, NULL);
    rv_stage_t *q =
        rv_cassandra_query(h.t.g, h.s, test_stmts[ST_READ_VERSION].query, 10, bind_k7, NULL);
    psink_t sink;
    psink_new(h.t.g, &sink, true);
    rv_link(q, sink.st);
    CHECK_EQ(tu_run_all(&h.t, 5000), RV_OK);
    CHECK_EQ(srv.bound_k, 7);
    CHECK_EQ(sink.n, 1);
    ch_fini(&h);
    psink_free(&sink);
}

static void test_query_without_rows_completes(void)
{
    ch_t h;
    rows_srv_t srv = {.n = 0};
    ch_init(&h, false, test_stmts, ST_COUNT, rows_handler, &srv, NULL);
    rv_stage_t *q = rv_cassandra_query(h.t.g, h.s, test_stmts[ST_SELECT_ALL].query, 10, NULL, NULL);
    psink_t sink;
    psink_new(h.t.g, &sink, true);
    rv_link(q, sink.st);
    CHECK_EQ(tu_run_all(&h.t, 5000), RV_OK);
    CHECK_EQ(sink.n, 0);
    ch_fini(&h);
    psink_free(&sink);
}

/* ------------------------------------------------------------ mapped paging */

typedef struct {
    int32_t v;
    uint64_t row;
} item_t;

typedef struct {
    int fail_row; /* -1: none */
} map_ctx_t;

static rv_err_t map_row(const rv_cql_result_t *res, size_t row, void **out, rv_error_t **errp,
                        void *opaque)
{
    map_ctx_t *c = opaque;
    item_t *it = malloc(sizeof(*it));
    rv_cql_result_get_int(res, row, 0, &it->v);
    if (c && it->v == c->fail_row) {
        free(it);
        return rv_error_set(errp, RV_ERR_DECODE, false, "row %d is malformed", c->fail_row);
    }
    *out = it;
    return RV_OK;
}

typedef struct {
    int pages;
    size_t sizes[64];
    uint64_t index[64], first[64];
    int32_t next_v;
    int bad;
} pages_seen_t;

static void on_page(void *opaque, rv_env_t *env)
{
    pages_seen_t *s = opaque;
    const rv_cassandra_page_t *p = rv_env_payload(env);
    if (s->pages < 64) {
        s->sizes[s->pages] = p->n;
        s->index[s->pages] = p->index;
        s->first[s->pages] = p->first_row;
    }
    s->pages++;
    for (size_t i = 0; i < p->n; i++) {
        const item_t *it = p->items[i];
        if (it->v < s->next_v) s->bad++;
        s->next_v = it->v + 1;
    }
}

static void test_mapped_paging_exact_page_sizes(void)
{
    ch_t h;
    rows_srv_t srv = {.n = 250, .fixed_page = 30}; /* the server pages by 30 */
    ch_init(&h, false, test_stmts, ST_COUNT, rows_handler, &srv, NULL);
    rv_stage_t *mp = rv_cassandra_mapped_paging(h.t.g, h.s, test_stmts[ST_SELECT_ALL].query, 40,
                                                NULL, map_row, free, NULL);
    psink_t sink;
    psink_new(h.t.g, &sink, true);
    pages_seen_t seen = {0};
    sink.on_elem = on_page;
    sink.opaque = &seen;
    rv_link(mp, sink.st);
    CHECK_EQ(tu_run_all(&h.t, 5000), RV_OK);
    CHECK_EQ(seen.pages, 7);
    for (int i = 0; i < 6; i++) {
        CHECK_EQ(seen.sizes[i], 40);
        CHECK_EQ(seen.index[i], i);
        CHECK_EQ(seen.first[i], 40 * i);
    }
    CHECK_EQ(seen.sizes[6], 10);
    CHECK_EQ(seen.next_v, 250);
    CHECK_EQ(seen.bad, 0);
    CHECK_EQ(srv.asked_page_size, 40);
    ch_fini(&h); /* LeakSanitizer: every item freed with its page */
    psink_free(&sink);
}

static void test_mapped_paging_on_demand(void)
{
    ch_t h;
    rows_srv_t srv = {.n = 1000};
    ch_init(&h, false, test_stmts, ST_COUNT, rows_handler, &srv, NULL);
    rv_stage_t *mp = rv_cassandra_mapped_paging(h.t.g, h.s, test_stmts[ST_SELECT_ALL].query, 50,
                                                NULL, map_row, free, NULL);
    psink_t sink;
    psink_new(h.t.g, &sink, false);
    pages_seen_t seen = {0};
    sink.on_elem = on_page;
    sink.opaque = &seen;
    rv_link_ports(mp, 0, sink.st, 0, 2);
    REQUIRE(tu_start(&h.t) == RV_OK);
    /* Two pages fill the edge: then nothing more is fetched. */
    CH_WAIT(&h, h.fake->executes == 2, 3000);
    ch_spin(&h, 50);
    CHECK_EQ(h.fake->executes, 2);
    for (int i = 1; i <= 20; i++) {
        psink_grant(&sink, 1);
        CH_WAIT(&h, seen.pages == i, 3000);
        ch_spin(&h, 1);
        CHECK(h.fake->executes <= i + 2);
    }
    CH_WAIT(&h, h.t.r.done, 3000);
    CHECK_EQ(h.t.r.code, RV_OK);
    CHECK_EQ(seen.pages, 20);
    CHECK_EQ(seen.next_v, 1000);
    ch_fini(&h);
    psink_free(&sink);
}

static void test_mapped_paging_row_errors(void)
{
    /* Resume: the bad row is skipped. */
    ch_t h;
    rows_srv_t srv = {.n = 25};
    ch_init(&h, false, test_stmts, ST_COUNT, rows_handler, &srv, NULL);
    map_ctx_t ctx = {.fail_row = 5};
    rv_stage_t *mp = rv_cassandra_mapped_paging(h.t.g, h.s, test_stmts[ST_SELECT_ALL].query, 10,
                                                NULL, map_row, free, &ctx);
    rv_stage_set_decider(mp, rv_decider_resume, NULL);
    psink_t sink;
    psink_new(h.t.g, &sink, true);
    pages_seen_t seen = {0};
    sink.on_elem = on_page;
    sink.opaque = &seen;
    rv_link(mp, sink.st);
    CHECK_EQ(tu_run_all(&h.t, 5000), RV_OK);
    CHECK_EQ(seen.pages, 3);
    CHECK_EQ(seen.sizes[0] + seen.sizes[1] + seen.sizes[2], 24);
    ch_fini(&h);
    psink_free(&sink);

    /* Stop (the default): the stage fails with the function's error. */
    rows_srv_t srv2 = {.n = 25};
    ch_init(&h, false, test_stmts, ST_COUNT, rows_handler, &srv2, NULL);
    mp = rv_cassandra_mapped_paging(h.t.g, h.s, test_stmts[ST_SELECT_ALL].query, 10, NULL, map_row,
                                    free, &ctx);
    psink_new(h.t.g, &sink, true);
    rv_link(mp, sink.st);
    CHECK_EQ(tu_run_all(&h.t, 5000), RV_ERR_DECODE);
    CHECK(strstr(h.t.r.msg, "row 5 is malformed") != NULL);
    ch_fini(&h);
    psink_free(&sink);
}

static void test_mapped_paging_abort_frees_pending(void)
{
    ch_t h;
    rows_srv_t srv = {.n = 100};
    ch_init(&h, false, test_stmts, ST_COUNT, rows_handler, &srv, NULL);
    rv_stage_t *mp = rv_cassandra_mapped_paging(h.t.g, h.s, test_stmts[ST_SELECT_ALL].query, 30,
                                                NULL, map_row, free, NULL);
    psink_t sink;
    psink_new(h.t.g, &sink, false);
    rv_link_ports(mp, 0, sink.st, 0, 1);
    REQUIRE(tu_start(&h.t) == RV_OK);
    ch_spin(&h, 50);
    rv_graph_abort(h.t.g);
    CH_WAIT(&h, h.t.r.done, 3000);
    CHECK_EQ(h.t.r.code, RV_ERR_CANCELLED);
    ch_fini(&h); /* LeakSanitizer: mapped values not emitted were freed */
    psink_free(&sink);
}

RV_TEST_MAIN(RV_TEST(test_query_emits_every_row_in_order),
             RV_TEST(test_query_fetches_only_on_demand), RV_TEST(test_query_retries_a_failed_fetch),
             RV_TEST(test_query_fails_after_retries), RV_TEST(test_query_stop_cancels_the_fetch),
             RV_TEST(test_query_rows_outlive_the_graph), RV_TEST(test_query_binds_once),
             RV_TEST(test_query_without_rows_completes),
             RV_TEST(test_mapped_paging_exact_page_sizes), RV_TEST(test_mapped_paging_on_demand),
             RV_TEST(test_mapped_paging_row_errors),
             RV_TEST(test_mapped_paging_abort_frees_pending))
