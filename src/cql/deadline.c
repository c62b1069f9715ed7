/* Deadlines: request timeouts, connect timeouts, heartbeats, reconnection
 * delays and schema polls all live in one binary min-heap per session, driven
 * by a single uv_timer_t. Thousands of requests in flight then cost no libuv
 * handles (which would each need an asynchronous close) and O(log n) per
 * arm/disarm. */
#include <stdlib.h>

#include "cql/session.h"

static void swap(rv__cql_timers_t *t, size_t a, size_t b)
{
    rv__cql_deadline_t *x = t->heap[a];
    t->heap[a] = t->heap[b];
    t->heap[b] = x;
    t->heap[a]->idx = a + 1;
    t->heap[b]->idx = b + 1;
}

static void sift_up(rv__cql_timers_t *t, size_t i)
{
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (t->heap[p]->at <= t->heap[i]->at) break;
        swap(t, p, i);
        i = p;
    }
}

static void sift_down(rv__cql_timers_t *t, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < t->n && t->heap[l]->at < t->heap[m]->at) m = l;
        if (r < t->n && t->heap[r]->at < t->heap[m]->at) m = r;
        if (m == i) return;
        swap(t, i, m);
        i = m;
    }
}

static void remove_at(rv__cql_timers_t *t, size_t i)
{
    rv__cql_deadline_t *d = t->heap[i];
    t->n--;
    if (i != t->n) {
        t->heap[i] = t->heap[t->n];
        t->heap[i]->idx = i + 1;
        sift_down(t, i);
        sift_up(t, i);
    }
    d->idx = 0;
}

static void on_timer(uv_timer_t *h);

/* Keeps the uv timer due at the earliest deadline. */
static void rearm(rv__cql_timers_t *t)
{
    if (uv_is_closing((uv_handle_t *)&t->timer)) return;
    if (t->n == 0) {
        if (t->armed_at != UINT64_MAX) {
            uv_timer_stop(&t->timer);
            t->armed_at = UINT64_MAX;
        }
        return;
    }
    uint64_t at = t->heap[0]->at;
    /* A timer due earlier than needed just fires, finds nothing and re-arms:
     * cheaper than restarting it every time the earliest deadline goes away. */
    if (t->armed_at <= at) return;
    uint64_t now = uv_now(t->timer.loop);
    uv_timer_start(&t->timer, on_timer, at > now ? at - now : 0, 0);
    t->armed_at = at;
}

static void on_timer(uv_timer_t *h)
{
    rv__cql_timers_t *t = h->data;
    t->armed_at = UINT64_MAX;
    uint64_t now = uv_now(h->loop);
    /* A callback may arm or disarm others (even itself): take one at a time. */
    while (t->n && t->heap[0]->at <= now) {
        rv__cql_deadline_t *d = t->heap[0];
        remove_at(t, 0);
        d->fn(d);
        if (uv_is_closing((uv_handle_t *)&t->timer)) return;
    }
    rearm(t);
}

void rv__cql_timers_init(rv__cql_timers_t *t, uv_loop_t *loop)
{
    t->heap = NULL;
    t->n = t->cap = 0;
    uv_timer_init(loop, &t->timer);
    t->timer.data = t;
    t->armed_at = UINT64_MAX;
}

bool rv__cql_deadline_arm(rv__cql_timers_t *t, rv__cql_deadline_t *d, uint64_t at)
{
    if (d->idx) {
        size_t i = d->idx - 1;
        d->at = at;
        sift_down(t, i);
        sift_up(t, i);
        rearm(t);
        return true;
    }
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        rv__cql_deadline_t **h = realloc(t->heap, cap * sizeof(*h));
        if (!h) return false;
        t->heap = h;
        t->cap = cap;
    }
    d->at = at;
    t->heap[t->n] = d;
    d->idx = ++t->n;
    sift_up(t, t->n - 1);
    rearm(t);
    return true;
}

void rv__cql_deadline_disarm(rv__cql_timers_t *t, rv__cql_deadline_t *d)
{
    if (!d->idx) return;
    remove_at(t, d->idx - 1);
    rearm(t);
}

void rv__cql_timers_free(rv__cql_timers_t *t)
{
    for (size_t i = 0; i < t->n; i++)
        t->heap[i]->idx = 0;
    free(t->heap);
    t->heap = NULL;
    t->n = t->cap = 0;
}
