/* CassandraMappedPaging: a source of pages of user values. Each row of the
 * query is mapped by the user's function as soon as its CQL page arrives (the
 * result is freed right after), and the mapped values leave in pages of
 * exactly the chosen size — the server may return pages of other sizes, so
 * values wait here until a page is full (or the query ended). The next CQL
 * page is fetched only when fewer than a page of values wait and downstream
 * has room for another page. */
#include <stdlib.h>
#include <string.h>

#include "cassandra/internal.h"

typedef struct {
    rv__cass_pager_t pg; /* first: see rv__cass_common */
    rv_cassandra_row_fn map;
    rv_free_fn item_free;
    size_t size;    /* items per emitted page */
    void **pending; /* mapped values not emitted yet, in query order */
    size_t pending_n, pending_cap;
    uint64_t pages_out, rows_out, rows_in;
} mpage_t;

typedef struct {
    rv_cassandra_page_t pub; /* first: the payload pointer is this struct's */
    rv_free_fn item_free;
} page_t;

static void page_free(void *payload)
{
    page_t *p = payload;
    if (!p) return;
    if (p->item_free)
        for (size_t i = 0; i < p->pub.n; i++)
            if (p->pub.items[i]) p->item_free(p->pub.items[i]);
    free(p->pub.items);
    free(p);
}

static void drop_pending(mpage_t *m)
{
    if (m->item_free)
        for (size_t i = 0; i < m->pending_n; i++)
            if (m->pending[i]) m->item_free(m->pending[i]);
    m->pending_n = 0;
}

static void fail(mpage_t *m, rv_error_t *err)
{
    rv__cass_pager_cancel(&m->pg);
    drop_pending(m);
    rv_stage_fail(m->pg.st, err);
}

/* Maps one row with the decider's help; false when the stage failed. */
static bool map_row(mpage_t *m, rv_cql_result_t *res, size_t row)
{
    rv_stage_t *st = m->pg.st;
    for (int attempt = 1;; attempt++) {
        void *out = NULL;
        rv_error_t *err = NULL;
        rv_err_t rc = m->map(res, row, &out, &err, m->pg.opaque);
        if (rc == RV_OK && !err) {
            m->pending[m->pending_n++] = out;
            return true;
        }
        if (!err)
            err = rv_error_new(rc != RV_OK ? rc : RV_ERR_USER, false,
                               "%s: the row function failed on row %llu: %s", rv_stage_name(st),
                               (unsigned long long)(m->rows_in + row),
                               rv_err_str(rc != RV_OK ? rc : RV_ERR_USER));
        rv_directive_t d = rv_stage_decide(st, err, attempt);
        if (d == RV_RETRY) {
            rv_error_destroy(err);
            continue;
        }
        m->pg.c.stats.failed++;
        rv_stage_count_failure(st);
        if (d == RV_RESUME) {
            rv_error_destroy(err);
            return true;
        }
        fail(m, err);
        return false;
    }
}

static void on_page(rv__cass_pager_t *pg, rv_cql_result_t *res)
{
    mpage_t *m = (mpage_t *)pg;
    size_t n = rv_cql_result_row_count(res);
    if (m->pending_n + n > m->pending_cap) {
        size_t cap = m->pending_n + n;
        void **p = realloc(m->pending, cap * sizeof(*p));
        if (!p) {
            rv_cql_result_destroy(res);
            fail(m, rv_error_new(RV_ERR_NOMEM, true, "%s: out of memory", rv_stage_name(pg->st)));
            return;
        }
        m->pending = p;
        m->pending_cap = cap;
    }
    for (size_t i = 0; i < n; i++)
        if (!map_row(m, res, i)) break;
    m->rows_in += n;
    rv_cql_result_destroy(res);
}

/* Emits one page of up to k values; false when the stage failed. */
static bool emit(mpage_t *m, size_t k)
{
    rv_stage_t *st = m->pg.st;
    page_t *p = calloc(1, sizeof(*p));
    void **items = p ? malloc(k * sizeof(*items)) : NULL;
    if (!items) {
        free(p);
        fail(m, rv_error_new(RV_ERR_NOMEM, true, "%s: out of memory", rv_stage_name(st)));
        return false;
    }
    memcpy(items, m->pending, k * sizeof(*items));
    memmove(m->pending, m->pending + k, (m->pending_n - k) * sizeof(*items));
    m->pending_n -= k;
    p->pub.n = k;
    p->pub.items = items;
    p->pub.index = m->pages_out;
    p->pub.first_row = m->rows_out;
    p->item_free = m->item_free;
    rv_env_t *env = rv_env_new(rv_stage_graph(st), p, page_free);
    if (!env) {
        fail(m, rv_error_new(RV_ERR_NOMEM, true, "%s: out of memory", rv_stage_name(st)));
        return false;
    }
    rv_meta_t *meta = rv_env_meta_mut(env);
    meta->topic = "cassandra-mapped-paging"; /* static: an element may outlive the stage */
    meta->offset = (int64_t)m->pages_out;
    meta->origin_kind = "cassandra";
    m->pages_out++;
    m->rows_out += k;
    m->pg.c.stats.succeeded++;
    rv_out_push(st, 0, env);
    return true;
}

static void on_room(rv_stage_t *st)
{
    mpage_t *m = rv_stage_state(st);
    rv__cass_pager_t *pg = &m->pg;
    if (rv_stage_finished(st)) return;
    size_t room = rv_out_room(st, 0);
    bool ended = pg->last_page && !rv__cass_pager_busy(pg);
    while (room > 0 && (m->pending_n >= m->size || (ended && m->pending_n > 0))) {
        if (!emit(m, m->pending_n < m->size ? m->pending_n : m->size)) return;
        room--;
    }
    if (ended && m->pending_n == 0) {
        rv_stage_finish(st);
        return;
    }
    if (room > 0 && m->pending_n < m->size) rv__cass_pager_fetch(pg);
}

static rv_err_t on_start(rv_stage_t *st, rv_error_t **errp)
{
    mpage_t *m = rv_stage_state(st);
    return rv__cass_pager_start(&m->pg, errp);
}

static void on_drain(rv_stage_t *st)
{
    mpage_t *m = rv_stage_state(st);
    rv__cass_pager_cancel(&m->pg);
    drop_pending(m);
    rv_stage_finish(st);
}

static void on_cancel(rv_stage_t *st, int port)
{
    on_drain(st);
}

static void on_abort(rv_stage_t *st)
{
    mpage_t *m = rv_stage_state(st);
    rv__cass_pager_cancel(&m->pg);
    drop_pending(m);
}

static void on_stop(rv_stage_t *st)
{
    mpage_t *m = rv_stage_state(st);
    rv__cass_pager_free(&m->pg);
    drop_pending(m);
    free(m->pending);
    free(m);
}

static const rv_stage_ops_t ops = {.kind = "cassandra-mapped-paging",
                                   .start = on_start,
                                   .on_room = on_room,
                                   .on_cancel = on_cancel,
                                   .on_drain = on_drain,
                                   .on_abort = on_abort,
                                   .stop = on_stop};

rv_stage_t *rv_cassandra_mapped_paging(rv_graph_t *g, rv_cql_session_t *s, const char *query,
                                       int32_t page_size, rv_cassandra_bind_fn bind,
                                       rv_cassandra_row_fn map, rv_free_fn item_free, void *opaque)
{
    const char *kind = "cassandra-mapped-paging";
    if (rv__cass_bad_session(g, s, kind)) return NULL;
    if (!query || !map || page_size <= 0)
        return rv__cass_build_error(g, rv_error_new(RV_ERR_INVALID, false, "%s: %s", kind,
                                                    !query ? "query is NULL"
                                                    : !map ? "the row function is NULL"
                                                           : "page_size must be > 0"));
    mpage_t *m = calloc(1, sizeof(*m));
    if (!m)
        return rv__cass_build_error(g, rv_error_new(RV_ERR_NOMEM, true, "%s: out of memory", kind));
    rv__cass_common_init(&m->pg.c);
    m->map = map;
    m->item_free = item_free;
    m->size = (size_t)page_size;
    rv_stage_t *st = rv_stage_new(g, &ops, m, 0, 1);
    if (!st) return NULL; /* the stop hook freed m */
    if (rv__cass_pager_init(&m->pg, st, s, query, page_size, bind, opaque, on_page) != RV_OK)
        return rv__cass_build_error(g, rv_error_new(RV_ERR_NOMEM, true, "%s: out of memory", kind));
    return st;
}
