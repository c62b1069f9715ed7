/* CassandraRetrySink: runs the user's command for each element (insert,
 * conditional update, delete; often a read first) and retries it with
 * exponential backoff after a transient error or after a conditional write was
 * not applied (RV_ERR_NOT_APPLIED: another writer won the race, so the next
 * attempt re-reads and tries again) — always with the same element; the old
 * Scala original retried with no element at all. When the retries are used up
 * the decider sees the last error (stop: the stage fails with it).
 *
 * The command's requests go through rv_cassandra_cmd_execute, so the stage can
 * cancel them on abort and in its stop hook. The engine is exec.c's. */
#include <string.h>

#include "cassandra/internal.h"

static void run(rv_cassandra_cmd_t *cmd)
{
    rv__cass_exec_t *x = cmd->x;
    x->fn(cmd, cmd->env, x->opaque);
}

rv_stage_t *rv_cassandra_retry_sink(rv_graph_t *g, rv_cql_session_t *s, int in_flight,
                                    rv_cassandra_cmd_fn fn, const rv_backoff_t *backoff,
                                    void *opaque)
{
    if (!fn)
        return rv__cass_build_error(g, rv_error_new(RV_ERR_INVALID, false,
                                                    "cassandra-retry-sink: the command function "
                                                    "is NULL"));
    if (!backoff)
        return rv__cass_build_error(
            g, rv_error_new(RV_ERR_INVALID, false, "cassandra-retry-sink: backoff is NULL"));
    rv__cass_exec_t *x =
        rv__cass_exec_new(g, s, "cassandra-retry-sink", in_flight, false, false, run);
    if (!x) return NULL;
    x->fn = fn;
    x->opaque = opaque;
    x->retry_not_applied = true;
    x->c.backoff = *backoff;
    return x->st;
}

int rv_cassandra_retry_sink_prepare(rv_stage_t *st, const char *query)
{
    if (!st) return -1;
    rv_graph_t *g = rv_stage_graph(st);
    if (strcmp(rv_stage_kind(st), "cassandra-retry-sink") != 0 || !query) {
        rv_graph_record_error(
            g, rv_error_new(RV_ERR_INVALID, false, "rv_cassandra_retry_sink_prepare: %s",
                            query ? "the stage is not a retry sink" : "query is NULL"));
        return -1;
    }
    rv__cass_exec_t *x = rv_stage_state(st);
    if (x->prep.started || rv_graph_running(g)) {
        rv_graph_record_error(g, rv_error_new(RV_ERR_STATE, false,
                                              "rv_cassandra_retry_sink_prepare: %s already runs",
                                              rv_stage_name(st)));
        return -1;
    }
    int i = rv__cass_prep_add(&x->prep, query);
    if (i < 0)
        rv_graph_record_error(
            g, rv_error_new(RV_ERR_NOMEM, true, "%s: out of memory", rv_stage_name(st)));
    return i;
}
