/* CassandraLwtFlow: executes conditional (lightweight-transaction) statements
 * and emits, for each element, whether it applied and — when it did not — the
 * row's current values, which the server returns in the same result. A lost
 * race is thus a result downstream can act on, not an error. The output holds
 * the input element, so the input's ack waits for the output's release.
 *
 * The statement is the element's payload (an rv_cql_stmt_t * from
 * CassandraBind), or is bound here from a query prepared at start. The slots,
 * ordering, retries of transient errors and cancellation are the request
 * engine's (exec.c). */
#include <stdlib.h>

#include "cassandra/internal.h"

static void lwt_free(void *p)
{
    rv_cassandra_lwt_t *l = p;
    if (!l) return;
    rv_cql_result_destroy(l->result);
    free(l);
}

static void on_result(rv_cassandra_cmd_t *cmd, rv_cql_result_t *res, const rv_error_t *err,
                      void *opaque)
{
    rv__cass_exec_t *x = cmd->x;
    const char *name = rv_stage_name(x->st);
    if (err) {
        rv__cass_exec_complete(cmd, NULL,
                               rv_error_new(rv_error_code(err), rv_error_retriable(err), "%s: %s",
                                            name, rv_error_msg(err)));
        return;
    }
    int applied = rv_cql_result_applied(res);
    if (applied < 0) {
        rv_cql_result_destroy(res);
        rv__cass_exec_complete(cmd, NULL,
                               rv_error_new(RV_ERR_INVALID, false,
                                            "%s: the statement is not conditional (its result "
                                            "has no \"[applied]\" column)",
                                            name));
        return;
    }
    if (applied == 0) x->c.stats.not_applied++;
    rv_cassandra_lwt_t *l = calloc(1, sizeof(*l));
    if (!l) {
        rv_cql_result_destroy(res);
        rv__cass_exec_complete(cmd, NULL,
                               rv_error_new(RV_ERR_NOMEM, true, "%s: out of memory", name));
        return;
    }
    l->applied = applied == 1;
    l->result = res;
    l->input = rv_env_payload(cmd->env);
    rv_env_t *out = rv_env_derive(cmd->env, l, lwt_free);
    if (!out) {
        rv__cass_exec_complete(cmd, NULL,
                               rv_error_new(RV_ERR_NOMEM, true, "%s: out of memory", name));
        return;
    }
    rv__cass_exec_complete(cmd, out, NULL);
}

static void run(rv_cassandra_cmd_t *cmd)
{
    rv__cass_exec_t *x = cmd->x;
    rv_error_t *err = NULL;
    if (x->prep.n > 0) {
        rv_cql_stmt_t *stmt =
            rv__cass_bind(x->st, x->prep.items[0].prepared, x->bind, cmd->env, x->opaque, &err);
        if (!stmt) {
            rv__cass_exec_complete(cmd, NULL, err);
            return;
        }
        rv_err_t rc = rv_cassandra_cmd_execute(cmd, stmt, on_result, NULL, &err);
        rv_cql_stmt_destroy(stmt); /* encoded by the execute */
        if (rc != RV_OK) rv__cass_exec_complete(cmd, NULL, err);
        return;
    }
    const rv_cql_stmt_t *stmt = rv_env_payload(cmd->env);
    if (!stmt) {
        rv__cass_exec_complete(cmd, NULL,
                               rv_error_new(RV_ERR_INVALID, false,
                                            "%s: the element's payload is NULL, not a statement",
                                            rv_stage_name(x->st)));
        return;
    }
    if (rv_cassandra_cmd_execute(cmd, stmt, on_result, NULL, &err) != RV_OK)
        rv__cass_exec_complete(cmd, NULL, err);
}

rv_stage_t *rv_cassandra_lwt_flow(rv_graph_t *g, rv_cql_session_t *s, int in_flight, bool ordered,
                                  const char *query, rv_cassandra_bind_fn fn, void *opaque)
{
    if (!query && fn)
        return rv__cass_build_error(g, rv_error_new(RV_ERR_INVALID, false,
                                                    "cassandra-lwt-flow: a bind function needs "
                                                    "a query"));
    rv__cass_exec_t *x =
        rv__cass_exec_new(g, s, "cassandra-lwt-flow", in_flight, true, ordered, run);
    if (!x) return NULL;
    x->bind = fn;
    x->opaque = opaque;
    if (query && rv__cass_prep_add(&x->prep, query) < 0)
        return rv__cass_build_error(
            g, rv_error_new(RV_ERR_NOMEM, true, "cassandra-lwt-flow: out of memory"));
    return x->st;
}
