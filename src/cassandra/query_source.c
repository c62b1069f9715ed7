/* CassandraQuery: a source of rows. It emits every row of a query as an
 * rv_cassandra_row_t *, fetching one CQL page at a time and the next one only
 * when every row of the current page was emitted and downstream has room
 * again, so at most one page waits here however slow the consumer is.
 *
 * The rows of one page share its result: each row's payload points into a
 * reference-counted page, freed when the last of its rows is released (which
 * may be after the graph is gone: the page does not depend on the stage). */
#include <stdlib.h>

#include "cassandra/internal.h"

typedef struct page page_t;

typedef struct {
    rv_cassandra_row_t pub; /* first: the payload pointer is this struct's */
    page_t *page;
} row_t;

struct page {
    size_t refs;
    rv_cql_result_t *res;
    size_t n;
    row_t rows[];
};

typedef struct {
    rv__cass_pager_t pg; /* first: see rv__cass_common */
    page_t *cur;         /* the page being emitted; the stage holds one reference */
    size_t next;         /* its next row */
    uint64_t index;      /* rows emitted so far */
} qsrc_t;

static void page_unref(page_t *p)
{
    if (p && --p->refs == 0) {
        rv_cql_result_destroy(p->res);
        free(p);
    }
}

static void row_free(void *payload)
{
    row_t *r = payload;
    page_unref(r->page);
}

static void drop_page(qsrc_t *q)
{
    page_unref(q->cur);
    q->cur = NULL;
    q->next = 0;
}

static void on_page(rv__cass_pager_t *pg, rv_cql_result_t *res)
{
    qsrc_t *q = (qsrc_t *)pg;
    size_t n = rv_cql_result_row_count(res);
    if (n == 0) {
        rv_cql_result_destroy(res);
        return;
    }
    page_t *p = malloc(sizeof(*p) + n * sizeof(row_t));
    if (!p) {
        rv_cql_result_destroy(res);
        rv__cass_pager_cancel(pg);
        rv_stage_fail(pg->st,
                      rv_error_new(RV_ERR_NOMEM, true, "%s: out of memory", rv_stage_name(pg->st)));
        return;
    }
    p->refs = 1;
    p->res = res;
    p->n = n;
    for (size_t i = 0; i < n; i++) {
        p->rows[i].pub.result = res;
        p->rows[i].pub.row = i;
        p->rows[i].pub.index = q->index + i;
        p->rows[i].page = p;
    }
    q->cur = p;
    q->next = 0;
}

static void on_room(rv_stage_t *st)
{
    qsrc_t *q = rv_stage_state(st);
    rv__cass_pager_t *pg = &q->pg;
    rv_graph_t *g = rv_stage_graph(st);
    if (rv_stage_finished(st)) return;
    size_t room = rv_out_room(st, 0);
    while (q->cur && room > 0) {
        row_t *r = &q->cur->rows[q->next];
        q->cur->refs++;
        rv_env_t *env = rv_env_new(g, r, row_free);
        if (!env) {
            rv__cass_pager_cancel(pg);
            drop_page(q);
            rv_stage_fail(st,
                          rv_error_new(RV_ERR_NOMEM, true, "%s: out of memory", rv_stage_name(st)));
            return;
        }
        rv_meta_t *m = rv_env_meta_mut(env);
        m->topic = "cassandra-query"; /* static: an element may outlive the stage */
        m->offset = (int64_t)r->pub.index;
        m->origin_kind = "cassandra";
        q->index++;
        q->next++;
        room--;
        pg->c.stats.succeeded++;
        rv_out_push(st, 0, env);
        if (q->next == q->cur->n) drop_page(q);
    }
    if (q->cur) return;
    if (pg->last_page && !rv__cass_pager_busy(pg)) {
        rv_stage_finish(st);
        return;
    }
    if (room > 0) rv__cass_pager_fetch(pg);
}

static rv_err_t on_start(rv_stage_t *st, rv_error_t **errp)
{
    qsrc_t *q = rv_stage_state(st);
    return rv__cass_pager_start(&q->pg, errp);
}

/* Graceful stop and downstream's cancel: no more rows. */
static void on_drain(rv_stage_t *st)
{
    qsrc_t *q = rv_stage_state(st);
    rv__cass_pager_cancel(&q->pg);
    drop_page(q);
    rv_stage_finish(st);
}

static void on_cancel(rv_stage_t *st, int port)
{
    on_drain(st);
}

static void on_abort(rv_stage_t *st)
{
    qsrc_t *q = rv_stage_state(st);
    rv__cass_pager_cancel(&q->pg);
    drop_page(q);
}

static void on_stop(rv_stage_t *st)
{
    qsrc_t *q = rv_stage_state(st);
    rv__cass_pager_free(&q->pg);
    drop_page(q);
    free(q);
}

static const rv_stage_ops_t ops = {.kind = "cassandra-query",
                                   .start = on_start,
                                   .on_room = on_room,
                                   .on_cancel = on_cancel,
                                   .on_drain = on_drain,
                                   .on_abort = on_abort,
                                   .stop = on_stop};

rv_stage_t *rv_cassandra_query(rv_graph_t *g, rv_cql_session_t *s, const char *query,
                               int32_t page_size, rv_cassandra_bind_fn bind, void *opaque)
{
    if (rv__cass_bad_session(g, s, "cassandra-query")) return NULL;
    if (!query || page_size <= 0)
        return rv__cass_build_error(
            g, rv_error_new(RV_ERR_INVALID, false, "cassandra-query: %s",
                            query ? "page_size must be > 0" : "query is NULL"));
    qsrc_t *q = calloc(1, sizeof(*q));
    if (!q)
        return rv__cass_build_error(
            g, rv_error_new(RV_ERR_NOMEM, true, "cassandra-query: out of memory"));
    rv__cass_common_init(&q->pg.c);
    rv_stage_t *st = rv_stage_new(g, &ops, q, 0, 1);
    if (!st) return NULL; /* the stop hook freed q */
    if (rv__cass_pager_init(&q->pg, st, s, query, page_size, bind, opaque, on_page) != RV_OK)
        return rv__cass_build_error(
            g, rv_error_new(RV_ERR_NOMEM, true, "cassandra-query: out of memory"));
    return st;
}
