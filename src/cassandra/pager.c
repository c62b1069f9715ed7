/* The paged fetch behind CassandraQuery and CassandraMappedPaging.
 *
 * The query is prepared when the graph starts and bound once; each fetch
 * re-sends that statement with the paging state of the previous page. The
 * source asks for the next page only when it has emitted the current one and
 * downstream has room again, so a slow consumer holds the query, not memory.
 * Re-sending a page is harmless (the statement is marked idempotent, so the
 * CQL client may also retry it itself); a fetch that failed with a retriable
 * error is retried here after a backoff on the graph's clock, then fails the
 * stage. */
#include <stdlib.h>

#include "cassandra/internal.h"

static void fail(rv__cass_pager_t *pg, rv_error_t *err)
{
    rv__cass_pager_cancel(pg);
    rv_stage_fail(pg->st, err);
}

static void on_ready(rv_stage_t *st)
{
    rv__cass_pager_t *pg = rv_stage_state(st);
    rv_error_t *err = NULL;
    pg->stmt = rv__cass_bind(st, pg->prep.items[0].prepared, pg->bind, NULL, pg->opaque, &err);
    if (!pg->stmt) {
        fail(pg, err);
        return;
    }
    rv_cql_stmt_set_page_size(pg->stmt, pg->page_size);
    rv_cql_stmt_set_idempotent(pg->stmt, true);
}

static void on_error(rv__cass_pager_t *pg, rv_error_t *err)
{
    const rv_backoff_t *b = &pg->c.backoff;
    if (rv_error_retriable(err) && pg->c.has_backoff &&
        (b->max_retries < 0 || pg->attempt < b->max_retries)) {
        uint64_t delay = rv_backoff_delay(b, pg->attempt, rv_graph_random(rv_stage_graph(pg->st)));
        pg->attempt++;
        pg->waiting = true;
        pg->c.stats.retries++;
        rv_error_destroy(err);
        rv_timer_start(pg->timer, delay);
        return;
    }
    fail(pg, err);
}

static void on_result(rv_cql_session_t *s, rv_cql_result_t *res, const rv_error_t *err,
                      void *opaque)
{
    rv__cass_pager_t *pg = opaque;
    pg->req = NULL;
    rv__cass_held(&pg->c, pg->st, 0);
    if (err) {
        on_error(pg, rv_error_new(rv_error_code(err), rv_error_retriable(err),
                                  "%s: fetching page %llu failed: %s", rv_stage_name(pg->st),
                                  (unsigned long long)pg->c.stats.pages, rv_error_msg(err)));
        return;
    }
    if (rv_cql_result_kind(res) != RV_CQL_RESULT_ROWS) {
        rv_cql_result_destroy(res);
        fail(pg, rv_error_new(RV_ERR_INVALID, false, "%s: the query returned no rows result",
                              rv_stage_name(pg->st)));
        return;
    }
    pg->attempt = 0;
    pg->c.stats.pages++;
    pg->c.stats.rows += rv_cql_result_row_count(res);
    const uint8_t *state;
    size_t len;
    if (rv_cql_result_has_more_pages(res) && rv_cql_result_paging_state(res, &state, &len)) {
        rv_err_t rc = rv_cql_stmt_set_paging_state(pg->stmt, state, len);
        if (rc != RV_OK) {
            rv_cql_result_destroy(res);
            fail(pg, rv_error_new(rc, false, "%s: cannot keep the paging state",
                                  rv_stage_name(pg->st)));
            return;
        }
    } else {
        pg->last_page = true;
    }
    pg->on_page(pg, res);
    rv_stage_wake(pg->st);
}

static void on_timer(rv_timer_t *t, void *opaque)
{
    rv__cass_pager_t *pg = opaque;
    if (!pg->waiting) return;
    pg->waiting = false;
    rv__cass_pager_fetch(pg);
}

rv_err_t rv__cass_pager_init(rv__cass_pager_t *pg, rv_stage_t *st, rv_cql_session_t *s,
                             const char *query, int32_t page_size, rv_cassandra_bind_fn bind,
                             void *opaque, void (*on_page)(rv__cass_pager_t *, rv_cql_result_t *))
{
    pg->st = st;
    pg->s = s;
    pg->page_size = page_size;
    pg->bind = bind;
    pg->opaque = opaque;
    pg->on_page = on_page;
    pg->timer = rv_timer_new(st, on_timer, pg);
    if (!pg->timer || rv__cass_prep_add(&pg->prep, query) < 0) return RV_ERR_NOMEM;
    return RV_OK;
}

rv_err_t rv__cass_pager_start(rv__cass_pager_t *pg, rv_error_t **errp)
{
    return rv__cass_prep_start(&pg->prep, pg->st, pg->s, on_ready, errp);
}

void rv__cass_pager_fetch(rv__cass_pager_t *pg)
{
    if (!pg->stmt || pg->req || pg->waiting || pg->last_page || rv_stage_finished(pg->st)) return;
    rv_error_t *err = NULL;
    pg->req = rv_cql_execute(pg->s, pg->stmt, on_result, pg, &err);
    if (!pg->req) {
        on_error(pg, rv_error_new(rv_error_code(err), rv_error_retriable(err),
                                  "%s: cannot fetch page %llu: %s", rv_stage_name(pg->st),
                                  (unsigned long long)pg->c.stats.pages, rv_error_msg(err)));
        rv_error_destroy(err);
        return;
    }
    pg->c.stats.requests++;
    rv__cass_held(&pg->c, pg->st, 1);
}

bool rv__cass_pager_busy(const rv__cass_pager_t *pg)
{
    return pg->req || pg->waiting || !rv__cass_prep_ready(&pg->prep) || !pg->stmt;
}

void rv__cass_pager_cancel(rv__cass_pager_t *pg)
{
    if (pg->req) {
        rv_cql_request_cancel(pg->req);
        pg->req = NULL;
        pg->c.stats.cancelled++;
        rv__cass_held(&pg->c, pg->st, 0);
    }
    pg->waiting = false;
    if (pg->timer) rv_timer_stop(pg->timer);
    rv__cass_prep_cancel(&pg->prep);
}

void rv__cass_pager_free(rv__cass_pager_t *pg)
{
    rv__cass_pager_cancel(pg);
    rv_timer_destroy(pg->timer);
    pg->timer = NULL;
    rv__cass_prep_free(&pg->prep);
    rv_cql_stmt_destroy(pg->stmt);
    pg->stmt = NULL;
}
