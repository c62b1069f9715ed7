/* What every Cassandra stage shares: the state header (counters, backoff),
 * the checks of a constructor's session, and preparing statements when the
 * graph starts. */
#include <stdlib.h>
#include <string.h>

#include "cassandra/internal.h"

const rv_backoff_t rv__cass_default_backoff = {100, 10000, 0.2, 5};

void rv__cass_common_init(rv__cass_common_t *c)
{
    memset(c, 0, sizeof(*c));
    c->has_backoff = true;
    c->backoff = rv__cass_default_backoff;
}

rv__cass_common_t *rv__cass_common(const rv_stage_t *st)
{
    if (!st) return NULL;
    const char *kind = rv_stage_kind(st);
    if (!kind || strncmp(kind, "cassandra-", 10) != 0) return NULL;
    return rv_stage_state(st);
}

void rv__cass_held(rv__cass_common_t *c, rv_stage_t *st, uint64_t now_held)
{
    c->stats.in_flight = now_held;
    if (now_held > c->stats.in_flight_max) c->stats.in_flight_max = now_held;
    rv_stage_set_in_flight(st, now_held);
}

rv_stage_t *rv__cass_build_error(rv_graph_t *g, rv_error_t *err)
{
    rv_graph_record_error(g, err);
    return NULL;
}

bool rv__cass_bad_session(rv_graph_t *g, rv_cql_session_t *s, const char *kind)
{
    if (!s) {
        rv__cass_build_error(
            g, rv_error_new(RV_ERR_INVALID, false, "%s: the CQL session is NULL", kind));
        return true;
    }
    if (rv_cql_session_loop(s) != rv_graph_loop(g)) {
        rv__cass_build_error(g, rv_error_new(RV_ERR_INVALID, false,
                                             "%s: the CQL session runs on another loop than the "
                                             "graph",
                                             kind));
        return true;
    }
    return false;
}

rv_stage_t *rv_cassandra_set_backoff(rv_stage_t *st, const rv_backoff_t *backoff)
{
    rv__cass_common_t *c = rv__cass_common(st);
    if (!c) return st;
    c->has_backoff = backoff != NULL;
    if (backoff) c->backoff = *backoff;
    return st;
}

void rv_cassandra_get_stats(const rv_stage_t *st, rv_cassandra_stats_t *out)
{
    const rv__cass_common_t *c = rv__cass_common(st);
    if (c)
        *out = c->stats;
    else
        memset(out, 0, sizeof(*out));
}

/* ------------------------------------------------------- preparing at start */

int rv__cass_prep_add(rv__cass_prep_t *p, const char *query)
{
    rv__cass_prep_item_t *items = realloc(p->items, (p->n + 1) * sizeof(*items));
    if (!items) return -1;
    p->items = items;
    rv__cass_prep_item_t *it = &items[p->n];
    memset(it, 0, sizeof(*it));
    it->query = strdup(query);
    if (!it->query) return -1;
    return (int)p->n++;
}

static void on_prepared(rv_cql_session_t *s, rv_cql_prepared_t *prepared, const rv_error_t *err,
                        void *opaque)
{
    rv__cass_prep_item_t *it = opaque;
    rv__cass_prep_t *p = it->p;
    it->req = NULL;
    if (err) {
        rv_stage_t *st = p->st;
        rv__cass_prep_cancel(p);
        rv_stage_fail(st, rv_error_new(rv_error_code(err), rv_error_retriable(err),
                                       "%s: preparing \"%s\" failed: %s", rv_stage_name(st),
                                       it->query, rv_error_msg(err)));
        return;
    }
    it->prepared = prepared;
    if (--p->pending == 0) {
        if (p->ready) p->ready(p->st);
        rv_stage_wake(p->st);
    }
}

rv_err_t rv__cass_prep_start(rv__cass_prep_t *p, rv_stage_t *st, rv_cql_session_t *s,
                             void (*ready)(rv_stage_t *st), rv_error_t **errp)
{
    p->st = st;
    p->s = s;
    p->ready = ready;
    p->started = true;
    p->pending = p->n;
    for (size_t i = 0; i < p->n; i++) {
        rv__cass_prep_item_t *it = &p->items[i];
        it->p = p;
        rv_error_t *err = NULL;
        it->req = rv_cql_prepare(s, it->query, on_prepared, it, &err);
        if (!it->req) {
            rv__cass_prep_cancel(p);
            rv_error_set(errp, rv_error_code(err), rv_error_retriable(err),
                         "%s: cannot prepare \"%s\": %s", rv_stage_name(st), it->query,
                         rv_error_msg(err));
            rv_err_t code = rv_error_code(err);
            rv_error_destroy(err);
            return code;
        }
    }
    if (p->n == 0 && ready) ready(st);
    return RV_OK;
}

bool rv__cass_prep_ready(const rv__cass_prep_t *p)
{
    return p->started && p->pending == 0;
}

void rv__cass_prep_cancel(rv__cass_prep_t *p)
{
    for (size_t i = 0; i < p->n; i++) {
        if (p->items[i].req) {
            rv_cql_request_cancel(p->items[i].req);
            p->items[i].req = NULL;
        }
    }
}

void rv__cass_prep_free(rv__cass_prep_t *p)
{
    rv__cass_prep_cancel(p);
    for (size_t i = 0; i < p->n; i++)
        free(p->items[i].query);
    free(p->items);
    p->items = NULL;
    p->n = 0;
}

/* ------------------------------------------------------------------ binding */

rv_cql_stmt_t *rv__cass_bind(rv_stage_t *st, const rv_cql_prepared_t *p, rv_cassandra_bind_fn fn,
                             rv_env_t *env, void *opaque, rv_error_t **errp)
{
    rv_cql_stmt_t *stmt = rv_cql_stmt_new_prepared(p);
    if (!stmt) {
        rv_error_set(errp, RV_ERR_NOMEM, true, "%s: out of memory", rv_stage_name(st));
        return NULL;
    }
    if (fn) {
        rv_error_t *err = NULL;
        rv_err_t rc = fn(stmt, env, &err, opaque);
        if (rc != RV_OK || err) {
            if (!err)
                err = rv_error_new(rc != RV_OK ? rc : RV_ERR_USER, false,
                                   "%s: the bind function failed: %s", rv_stage_name(st),
                                   rv_err_str(rc != RV_OK ? rc : RV_ERR_USER));
            rv_error_give(errp, err);
            rv_cql_stmt_destroy(stmt);
            return NULL;
        }
    }
    const rv_error_t *be = rv_cql_stmt_error(stmt);
    if (be) {
        rv_error_set(errp, rv_error_code(be), false, "%s: binding \"%s\" failed: %s",
                     rv_stage_name(st), rv_cql_prepared_query(p), rv_error_msg(be));
        rv_cql_stmt_destroy(stmt);
        return NULL;
    }
    return stmt;
}
