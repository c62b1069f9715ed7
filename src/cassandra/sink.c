/* CassandraSink: executes each element's bound statement (an rv_cql_stmt_t *,
 * as CassandraBind emits) with up to N requests in flight, and releases the
 * element after success only when its write succeeded, so a Kafka record is
 * acked only once its row is written. (The old Scala original allowed one
 * statement in flight.) The slots, retries and cancellation are the request
 * engine's (exec.c). */
#include "cassandra/internal.h"

static void on_result(rv_cassandra_cmd_t *cmd, rv_cql_result_t *res, const rv_error_t *err,
                      void *opaque)
{
    if (err) {
        rv__cass_exec_complete(cmd, NULL,
                               rv_error_new(rv_error_code(err), rv_error_retriable(err), "%s: %s",
                                            rv_stage_name(cmd->x->st), rv_error_msg(err)));
        return;
    }
    /* A conditional statement that was not applied still executed; count it. */
    if (rv_cql_result_applied(res) == 0) cmd->x->c.stats.not_applied++;
    rv_cql_result_destroy(res);
    rv__cass_exec_complete(cmd, NULL, NULL);
}

static void run(rv_cassandra_cmd_t *cmd)
{
    const rv_cql_stmt_t *stmt = rv_env_payload(cmd->env);
    if (!stmt) {
        rv__cass_exec_complete(cmd, NULL,
                               rv_error_new(RV_ERR_INVALID, false,
                                            "%s: the element's payload is NULL, not a statement",
                                            rv_stage_name(cmd->x->st)));
        return;
    }
    rv_error_t *err = NULL;
    if (rv_cassandra_cmd_execute(cmd, stmt, on_result, NULL, &err) != RV_OK)
        rv__cass_exec_complete(cmd, NULL, err);
}

rv_stage_t *rv_cassandra_sink(rv_graph_t *g, rv_cql_session_t *s, int in_flight)
{
    rv__cass_exec_t *x = rv__cass_exec_new(g, s, "cassandra-sink", in_flight, false, false, run);
    return x ? x->st : NULL;
}
