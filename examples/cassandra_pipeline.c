/* The Cassandra stages in use: numbers are bound into an INSERT and written
 * with 32 statements in flight, then read back page by page with a query
 * source. Every element is released (so acked) only after its write
 * succeeded: with a Kafka source instead of the range, the record's offset
 * would be committed only then.
 *
 *   range(0..999) -> CassandraBind -> CassandraSink(32)
 *   CassandraQuery(pages of 100) -> for-each (sum)
 *
 * Needs a Cassandra: tools/services/services start cassandra. Environment:
 * RV_CQL_HOST (127.0.0.1), RV_CQL_PORT (9042), RV_CQL_USER / RV_CQL_PASSWORD
 * (cassandra / cassandra). Build: part of the project (examples/), or
 *   cc cassandra_pipeline.c $(pkg-config --cflags --libs rivulet)
 */
#include <stdio.h>
#include <stdlib.h>
#include <uv.h>

#include "rivulet.h"
#include "rivulet/cassandra.h"

static const char *env_or(const char *name, const char *dflt)
{
    const char *v = getenv(name);
    return v && *v ? v : dflt;
}

/* ------------------------------------------------ waiting for a callback */

typedef struct {
    bool done;
    rv_error_t *err;
} wait_t;

static void on_connected(rv_cql_session_t *s, const rv_error_t *err, void *opaque)
{
    wait_t *w = opaque;
    w->done = true;
    w->err = rv_error_copy(err);
}

static void on_result(rv_cql_session_t *s, rv_cql_result_t *res, const rv_error_t *err,
                      void *opaque)
{
    wait_t *w = opaque;
    w->done = true;
    w->err = rv_error_copy(err);
    rv_cql_result_destroy(res);
}

static void on_graph_done(rv_graph_t *g, const rv_error_t *status, void *opaque)
{
    wait_t *w = opaque;
    w->done = true;
    w->err = rv_error_copy(status);
}

static bool wait_for(uv_loop_t *loop, wait_t *w, const char *what)
{
    while (!w->done && uv_run(loop, UV_RUN_ONCE))
        ;
    if (w->err) {
        fprintf(stderr, "%s: %s\n", what, rv_error_msg(w->err));
        rv_error_destroy(w->err);
        return false;
    }
    return true;
}

/* Runs one statement (schema setup) and waits for it. */
static bool run_cql(uv_loop_t *loop, rv_cql_session_t *s, const char *q)
{
    wait_t w = {0};
    rv_cql_stmt_t *st = rv_cql_stmt_new(q, 0);
    rv_cql_request_t *rq = rv_cql_execute(s, st, on_result, &w, &w.err);
    rv_cql_stmt_destroy(st);
    if (!rq) w.done = true;
    return wait_for(loop, &w, q);
}

/* ---------------------------------------------------------- the stages' user code */

/* CassandraBind: one element (an integer) -> the INSERT's values. */
static rv_err_t bind_square(rv_cql_stmt_t *stmt, rv_env_t *env, rv_error_t **errp, void *opaque)
{
    int32_t k = (int32_t)RV_INT(rv_env_payload(env));
    rv_cql_bind_int(stmt, 0, k);
    rv_cql_bind_bigint(stmt, 1, (int64_t)k * k);
    return RV_OK;
}

/* For-each after CassandraQuery: each element is one row. */
static rv_err_t add_row(void *in, rv_error_t **errp, void *opaque)
{
    int64_t *sum = opaque;
    const rv_cassandra_row_t *row = in;
    int64_t square = 0;
    rv_cql_result_get_bigint(row->result, row->row, 1, &square);
    *sum += square;
    return RV_OK;
}

int main(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    int rc = 1;

    rv_conf_t *conf = rv_conf_new();
    rv_conf_set(conf, "cql.contact.points", env_or("RV_CQL_HOST", "127.0.0.1"), NULL);
    rv_conf_set(conf, "cql.port", env_or("RV_CQL_PORT", "9042"), NULL);
    rv_conf_set(conf, "cql.username", env_or("RV_CQL_USER", "cassandra"), NULL);
    rv_conf_set(conf, "cql.password", env_or("RV_CQL_PASSWORD", "cassandra"), NULL);
    rv_error_t *err = NULL;
    rv_cql_session_t *s = rv_cql_session_new(&loop, conf, &err);
    rv_conf_destroy(conf);
    if (!s) {
        fprintf(stderr, "session: %s\n", rv_error_msg(err));
        rv_error_destroy(err);
        return 1;
    }
    wait_t w = {0};
    if (rv_cql_session_connect(s, on_connected, &w, &w.err) != RV_OK) w.done = true;
    if (!wait_for(&loop, &w, "connect") ||
        !run_cql(&loop, s,
                 "CREATE KEYSPACE IF NOT EXISTS rv_example WITH replication = "
                 "{'class': 'SimpleStrategy', 'replication_factor': 1}") ||
        !run_cql(
            &loop, s,
            "CREATE TABLE IF NOT EXISTS rv_example.squares (k int PRIMARY KEY, square bigint)"))
        goto out;

    /* Write: the session is borrowed by the stages and outlives the graph. */
    rv_graph_t *g = rv_graph_new(&loop, NULL, NULL);
    rv_stage_t *nums = rv_source_range(g, 0, 1000);
    rv_stage_t *bind = rv_cassandra_bind(
        g, s, "INSERT INTO rv_example.squares (k, square) VALUES (?, ?)", bind_square, NULL);
    rv_stage_t *sink = rv_cassandra_sink(g, s, 32);
    rv_chain(nums, bind, sink, NULL);
    w = (wait_t){0};
    if (rv_graph_run(g, on_graph_done, &w, &w.err) != RV_OK) w.done = true;
    bool ok = wait_for(&loop, &w, "writing");
    rv_cassandra_stats_t st;
    rv_cassandra_get_stats(sink, &st);
    printf("wrote %llu rows, at most %llu in flight\n", (unsigned long long)st.succeeded,
           (unsigned long long)st.in_flight_max);
    rv_graph_destroy(g);
    if (!ok) goto out;

    /* Read back, one page of 100 rows at a time. */
    int64_t sum = 0;
    g = rv_graph_new(&loop, NULL, NULL);
    rv_stage_t *rows =
        rv_cassandra_query(g, s, "SELECT k, square FROM rv_example.squares", 100, NULL, NULL);
    rv_link(rows, rv_for_each(g, add_row, &sum));
    w = (wait_t){0};
    if (rv_graph_run(g, on_graph_done, &w, &w.err) != RV_OK) w.done = true;
    ok = wait_for(&loop, &w, "reading");
    rv_cassandra_get_stats(rows, &st);
    rv_graph_destroy(g);
    if (!ok) goto out;
    printf("read %llu rows in %llu pages; sum of squares %lld (expected %lld)\n",
           (unsigned long long)st.rows, (unsigned long long)st.pages, (long long)sum,
           (long long)(999LL * 1000 * 1999 / 6));
    rc = sum == 999LL * 1000 * 1999 / 6 ? 0 : 1;

out:
    rv_cql_session_destroy(s);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    return rc;
}
