/* CassandraBind: element -> bound statement. Each element's values are bound
 * by the user's function to a fresh statement of a prepared statement; the
 * stage emits a derived envelope whose payload is that rv_cql_stmt_t *, which
 * holds the input element: the input's payload stays valid as long as the
 * statement, and the input's ack (its Kafka offset) waits until the statement
 * was executed and released by the sink.
 *
 * The statement is prepared when the graph starts (given query text), or was
 * prepared by the caller. Until it is ready no element is taken. */
#include <stdlib.h>

#include "cassandra/internal.h"

typedef struct {
    rv__cass_common_t c; /* first: see rv__cass_common */
    rv_cql_session_t *s;
    rv__cass_prep_t prep;
    const rv_cql_prepared_t *given;
    rv_cassandra_bind_fn fn;
    void *opaque;
} bind_t;

static void stmt_free(void *p)
{
    rv_cql_stmt_destroy(p);
}

static const rv_cql_prepared_t *prepared(const bind_t *b)
{
    if (b->given) return b->given;
    return rv__cass_prep_ready(&b->prep) ? b->prep.items[0].prepared : NULL;
}

/* Binds one element; returns the envelope to push, or NULL when the element
 * was dropped (resume) or the stage failed (stop). */
static rv_env_t *apply(rv_stage_t *st, bind_t *b, const rv_cql_prepared_t *p, rv_env_t *env)
{
    for (int attempt = 1;; attempt++) {
        rv_error_t *err = NULL;
        rv_cql_stmt_t *stmt = rv__cass_bind(st, p, b->fn, env, b->opaque, &err);
        if (stmt) {
            rv_env_t *out = rv_env_derive(env, stmt, stmt_free);
            if (out) {
                rv_env_release(env); /* the statement's envelope holds it now */
                b->c.stats.succeeded++;
                return out;
            }
            err = rv_error_new(RV_ERR_NOMEM, true, "%s: out of memory", rv_stage_name(st));
        }
        rv_directive_t d = rv_stage_decide(st, err, attempt);
        if (d == RV_RETRY) {
            rv_error_destroy(err);
            continue;
        }
        b->c.stats.failed++;
        rv_stage_count_failure(st);
        rv_env_release_failed(env, rv_error_code(err));
        if (d == RV_RESUME)
            rv_error_destroy(err);
        else
            rv_stage_fail(st, err);
        return NULL;
    }
}

static void on_input(rv_stage_t *st)
{
    bind_t *b = rv_stage_state(st);
    const rv_cql_prepared_t *p = prepared(b);
    if (!p) return;
    size_t n = rv_in_avail(st, 0), room = rv_out_room(st, 0);
    if (n > room) n = room;
    while (n-- > 0 && !rv_stage_finished(st)) {
        rv_env_t *out = apply(st, b, p, rv_in_pop(st, 0));
        if (out) rv_out_push(st, 0, out);
    }
}

static rv_err_t on_start(rv_stage_t *st, rv_error_t **errp)
{
    bind_t *b = rv_stage_state(st);
    if (b->given) return RV_OK;
    return rv__cass_prep_start(&b->prep, st, b->s, NULL, errp);
}

static void on_abort(rv_stage_t *st)
{
    bind_t *b = rv_stage_state(st);
    rv__cass_prep_cancel(&b->prep);
}

static void on_finish(rv_stage_t *st, int port, const rv_error_t *err)
{
    bind_t *b = rv_stage_state(st);
    rv__cass_prep_cancel(&b->prep);
    if (err)
        rv_stage_fail(st, rv_error_copy(err));
    else
        rv_stage_finish(st);
}

static void on_cancel(rv_stage_t *st, int port)
{
    bind_t *b = rv_stage_state(st);
    rv__cass_prep_cancel(&b->prep);
    rv_stage_finish(st);
}

static void on_stop(rv_stage_t *st)
{
    bind_t *b = rv_stage_state(st);
    rv__cass_prep_free(&b->prep);
    free(b);
}

static const rv_stage_ops_t ops = {.kind = "cassandra-bind",
                                   .start = on_start,
                                   .on_input = on_input,
                                   .on_finish = on_finish,
                                   .on_cancel = on_cancel,
                                   .on_abort = on_abort,
                                   .stop = on_stop};

static rv_stage_t *make(rv_graph_t *g, rv_cql_session_t *s, const char *query,
                        const rv_cql_prepared_t *given, rv_cassandra_bind_fn fn, void *opaque)
{
    if (!fn)
        return rv__cass_build_error(
            g, rv_error_new(RV_ERR_INVALID, false, "cassandra-bind: the bind function is NULL"));
    bind_t *b = calloc(1, sizeof(*b));
    if (!b)
        return rv__cass_build_error(
            g, rv_error_new(RV_ERR_NOMEM, true, "cassandra-bind: out of memory"));
    rv__cass_common_init(&b->c);
    b->s = s;
    b->given = given;
    b->fn = fn;
    b->opaque = opaque;
    if (query && rv__cass_prep_add(&b->prep, query) < 0) {
        free(b);
        return rv__cass_build_error(
            g, rv_error_new(RV_ERR_NOMEM, true, "cassandra-bind: out of memory"));
    }
    return rv_stage_new(g, &ops, b, 1, 1);
}

rv_stage_t *rv_cassandra_bind(rv_graph_t *g, rv_cql_session_t *s, const char *query,
                              rv_cassandra_bind_fn fn, void *opaque)
{
    if (rv__cass_bad_session(g, s, "cassandra-bind")) return NULL;
    if (!query)
        return rv__cass_build_error(
            g, rv_error_new(RV_ERR_INVALID, false, "cassandra-bind: query is NULL"));
    return make(g, s, query, NULL, fn, opaque);
}

rv_stage_t *rv_cassandra_bind_prepared(rv_graph_t *g, const rv_cql_prepared_t *p,
                                       rv_cassandra_bind_fn fn, void *opaque)
{
    if (!p)
        return rv__cass_build_error(g, rv_error_new(RV_ERR_INVALID, false,
                                                    "cassandra-bind: the prepared statement is "
                                                    "NULL"));
    return make(g, NULL, NULL, p, fn, opaque);
}
