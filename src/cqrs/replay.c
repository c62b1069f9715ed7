/* The query side's core: which event ids were logged more than once, what
 * state the commands produce applied exactly once, and what state the log
 * itself describes. Compensation is the difference between the last two. */
#include <stdlib.h>
#include <string.h>

#include "rivulet/cqrs.h"

static int time_cmp(const rv_uuid_t *a, const rv_uuid_t *b);

static int by_id_then_time(const void *a, const void *b)
{
    const rv_logged_event_t *x = a, *y = b;
    int c = rv_uuid_compare(&x->event_id, &y->event_id);
    return c ? c : time_cmp(&x->time, &y->time);
}

/* Time order of timeuuids: by their timestamp, then by their bytes. */
static int time_cmp(const rv_uuid_t *a, const rv_uuid_t *b)
{
    uint64_t ta = rv_timeuuid_unix_ms(a), tb = rv_timeuuid_unix_ms(b);
    if (ta != tb) return ta < tb ? -1 : 1;
    /* Same millisecond: compare the full 60-bit timestamp (time_hi, time_mid, time_low). */
    int c = memcmp(a->b + 6, b->b + 6, 2);
    if (!c) c = memcmp(a->b + 4, b->b + 4, 2);
    if (!c) c = memcmp(a->b, b->b, 4);
    return c ? c : memcmp(a->b + 8, b->b + 8, 8);
}

static int by_time(const void *a, const void *b)
{
    const rv_logged_event_t *x = a, *y = b;
    return time_cmp(&x->time, &y->time);
}

/* Commands in the order they were published: by position, rows without one last. */
static int by_position(const void *a, const void *b)
{
    const rv_logged_event_t *x = a, *y = b;
    bool px = x->partition >= 0 && x->offset >= 0, py = y->partition >= 0 && y->offset >= 0;
    if (px != py) return px ? -1 : 1;
    if (px) {
        if (x->partition != y->partition) return x->partition < y->partition ? -1 : 1;
        if (x->offset != y->offset) return x->offset < y->offset ? -1 : 1;
    }
    return time_cmp(&x->time, &y->time);
}

rv_err_t rv_find_duplicates(const rv_logged_event_t *rows, size_t n, rv_duplicate_t **out,
                            size_t *nout, rv_error_t **errp)
{
    *out = NULL;
    *nout = 0;
    if (n == 0) return RV_OK;
    rv_logged_event_t *tmp = malloc(n * sizeof(*tmp));
    if (!tmp) return rv_error_set(errp, RV_ERR_NOMEM, true, "out of memory");
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (!rows[i].correction) tmp[m++] = rows[i];
    qsort(tmp, m, sizeof(*tmp), by_id_then_time);
    rv_duplicate_t *d = NULL;
    size_t nd = 0;
    for (size_t i = 0; i < m;) {
        size_t j = i + 1;
        while (j < m && rv_uuid_equal(&tmp[j].event_id, &tmp[i].event_id))
            j++;
        if (j - i > 1) {
            rv_duplicate_t *nd2 = realloc(d, (nd + 1) * sizeof(*d));
            if (!nd2) {
                free(d);
                free(tmp);
                return rv_error_set(errp, RV_ERR_NOMEM, true, "out of memory");
            }
            d = nd2;
            d[nd].event_id = tmp[i].event_id;
            d[nd].count = j - i;
            nd++;
        }
        i = j;
    }
    free(tmp);
    *out = d;
    *nout = nd;
    return RV_OK;
}

rv_err_t rv_replay_unique(const rv_aggregate_ops_t *ops, rv_logged_event_t *rows, size_t n,
                          void *state, size_t *unique, void *opaque, rv_error_t **errp)
{
    ops->init(state, opaque);
    *unique = 0;
    if (n == 0) return RV_OK;
    /* Keep each id's first row (by time), then apply those in command order. */
    rv_logged_event_t *firsts = malloc(n * sizeof(*firsts));
    if (!firsts) return rv_error_set(errp, RV_ERR_NOMEM, true, "out of memory");
    qsort(rows, n, sizeof(*rows), by_id_then_time);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (rows[i].correction) continue;
        if (m > 0 && rv_uuid_equal(&firsts[m - 1].event_id, &rows[i].event_id)) continue;
        firsts[m++] = rows[i];
    }
    qsort(firsts, m, sizeof(*firsts), by_position);
    rv_err_t rc = RV_OK;
    for (size_t i = 0; i < m && rc == RV_OK; i++)
        rc = ops->apply(state, firsts[i].event, false, opaque, errp);
    free(firsts);
    *unique = m;
    return rc;
}

rv_err_t rv_replay_ledger(const rv_aggregate_ops_t *ops, rv_logged_event_t *rows, size_t n,
                          void *state, void *opaque, rv_error_t **errp)
{
    ops->init(state, opaque);
    qsort(rows, n, sizeof(*rows), by_time);
    for (size_t i = 0; i < n; i++) {
        rv_err_t rc = ops->apply(state, rows[i].event, rows[i].correction, opaque, errp);
        if (rc != RV_OK) return rc;
    }
    return RV_OK;
}
