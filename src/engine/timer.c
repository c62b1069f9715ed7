/* Timers and the clock. Each graph keeps its timers in a binary heap ordered by
 * deadline (ties by arming order). With the loop's clock one uv_timer_t is armed
 * for the earliest deadline; with a virtual clock nothing is armed and
 * rv_clock_advance() fires due timers itself. Either way timer callbacks run on
 * the loop thread, and the stages they wake run right after. */
#include <math.h>
#include <stdlib.h>

#include "engine/engine.h"

struct rv_clock {
    uint64_t now;
    rv_graph_t *graphs; /* linked through vclock_next */
};

/* ---------------------------------------------------------------- the heap */

static bool earlier(const rv_timer_t *a, const rv_timer_t *b)
{
    return a->deadline < b->deadline || (a->deadline == b->deadline && a->seq < b->seq);
}

static void heap_swap(rv_graph_t *g, size_t i, size_t j)
{
    rv_timer_t *t = g->heap[i];
    g->heap[i] = g->heap[j];
    g->heap[j] = t;
    g->heap[i]->heap_idx = (int)i;
    g->heap[j]->heap_idx = (int)j;
}

static void sift_up(rv_graph_t *g, size_t i)
{
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!earlier(g->heap[i], g->heap[p])) break;
        heap_swap(g, i, p);
        i = p;
    }
}

static void sift_down(rv_graph_t *g, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < g->heap_n && earlier(g->heap[l], g->heap[m])) m = l;
        if (r < g->heap_n && earlier(g->heap[r], g->heap[m])) m = r;
        if (m == i) return;
        heap_swap(g, i, m);
        i = m;
    }
}

static void heap_remove(rv_graph_t *g, rv_timer_t *t)
{
    size_t i = (size_t)t->heap_idx;
    t->heap_idx = -1;
    g->heap_n--;
    if (i == g->heap_n) return;
    g->heap[i] = g->heap[g->heap_n];
    g->heap[i]->heap_idx = (int)i;
    sift_up(g, i);
    sift_down(g, (size_t)g->heap[i]->heap_idx);
}

static bool heap_push(rv_graph_t *g, rv_timer_t *t)
{
    if (g->heap_n == g->heap_cap) {
        size_t cap = g->heap_cap ? g->heap_cap * 2 : 16;
        rv_timer_t **h = realloc(g->heap, cap * sizeof(*h));
        if (!h) return false;
        g->heap = h;
        g->heap_cap = cap;
    }
    t->heap_idx = (int)g->heap_n;
    g->heap[g->heap_n++] = t;
    sift_up(g, g->heap_n - 1);
    return true;
}

/* ------------------------------------------------------------- graph side */

uint64_t rv_graph_now(const rv_graph_t *g)
{
    return g->vclock ? g->vclock->now : uv_now(g->loop);
}

static void uvtimer_cb(uv_timer_t *h)
{
    rv_graph_t *g = h->data;
    rv__timers_fire_due(g);
    rv__timers_rearm(g);
}

void rv__timers_init(rv_graph_t *g)
{
    uv_timer_init(g->loop, &g->uvtimer);
    g->uvtimer.data = g;
}

uint64_t rv__timers_next(const rv_graph_t *g)
{
    return g->heap_n ? g->heap[0]->deadline : UINT64_MAX;
}

void rv__timers_rearm(rv_graph_t *g)
{
    if (g->destroyed || g->vclock) return;
    if (g->heap_n == 0) {
        uv_timer_stop(&g->uvtimer);
        return;
    }
    uint64_t now = uv_now(g->loop), next = g->heap[0]->deadline;
    uv_timer_start(&g->uvtimer, uvtimer_cb, next > now ? next - now : 0, 0);
}

void rv__timers_fire_due(rv_graph_t *g)
{
    uint64_t now = rv_graph_now(g);
    while (g->heap_n && g->heap[0]->deadline <= now && !g->destroyed) {
        rv_timer_t *t = g->heap[0];
        heap_remove(g, t);
        t->fn(t, t->opaque);
    }
}

void rv__timers_close(rv_graph_t *g)
{
    /* Timers belong to their stages, which free them (rv_timer_destroy) in
     * their stop hooks; nothing is freed here. The heap only references armed
     * ones: disarm those, so that a timer stopped or destroyed later does not
     * touch the heap. */
    for (size_t i = 0; i < g->heap_n; i++)
        g->heap[i]->heap_idx = -1;
    g->heap_n = 0;
    uv_timer_stop(&g->uvtimer);
}

/* ------------------------------------------------------------ timer objects */

rv_timer_t *rv_timer_new(rv_stage_t *st, rv_timer_fn fn, void *opaque)
{
    rv_timer_t *t = calloc(1, sizeof(*t));
    if (!t) return NULL;
    t->g = st->g;
    t->st = st;
    t->fn = fn;
    t->opaque = opaque;
    t->heap_idx = -1;
    return t;
}

void rv_timer_start(rv_timer_t *t, uint64_t delay_ms)
{
    rv_graph_t *g = t->g;
    if (g->destroyed) return;
    if (t->heap_idx >= 0) heap_remove(g, t);
    /* Saturate: a huge delay (rv_backoff_delay gives UINT64_MAX when the
     * backoff overflows) must mean "not for a very long time", never wrap
     * around to a deadline in the past that fires at once. */
    uint64_t now = rv_graph_now(g);
    t->deadline = delay_ms > UINT64_MAX - now ? UINT64_MAX : now + delay_ms;
    t->seq = ++g->timer_seq;
    if (!heap_push(g, t)) return;
    if (!g->vclock && g->heap[0] == t) rv__timers_rearm(g);
}

void rv_timer_stop(rv_timer_t *t)
{
    if (t && t->heap_idx >= 0 && !t->g->destroyed) heap_remove(t->g, t);
}

bool rv_timer_active(const rv_timer_t *t)
{
    return t && t->heap_idx >= 0;
}

void rv_timer_destroy(rv_timer_t *t)
{
    if (!t) return;
    rv_timer_stop(t);
    free(t);
}

/* ----------------------------------------------------------- virtual clock */

rv_clock_t *rv_clock_virtual_new(uint64_t start_ms)
{
    rv_clock_t *c = calloc(1, sizeof(*c));
    if (c) c->now = start_ms;
    return c;
}

void rv_clock_destroy(rv_clock_t *c)
{
    free(c);
}

uint64_t rv_clock_now(const rv_clock_t *c)
{
    return c->now;
}

void rv__vclock_attach(rv_clock_t *c, rv_graph_t *g)
{
    g->vclock_next = c->graphs;
    c->graphs = g;
}

void rv__vclock_detach(rv_clock_t *c, rv_graph_t *g)
{
    for (rv_graph_t **p = &c->graphs; *p; p = &(*p)->vclock_next) {
        if (*p == g) {
            *p = g->vclock_next;
            g->vclock_next = NULL;
            return;
        }
    }
}

/* Runs every attached graph's queued stages. A done callback may destroy its
 * graph (which detaches it), so the next link is read first. */
static void settle(rv_clock_t *c)
{
    rv_graph_t *g = c->graphs;
    while (g) {
        rv_graph_t *next = g->vclock_next;
        rv__run_scheduler(g);
        g = next;
    }
}

void rv_clock_advance(rv_clock_t *c, uint64_t ms)
{
    uint64_t target = c->now + ms;
    for (;;) {
        /* Let pending stage work settle at the current instant first. */
        settle(c);
        uint64_t next = UINT64_MAX;
        for (rv_graph_t *g = c->graphs; g; g = g->vclock_next) {
            uint64_t n = rv__timers_next(g);
            if (n < next) next = n;
        }
        if (next > target) break;
        if (next > c->now) c->now = next;
        for (rv_graph_t *g = c->graphs; g; g = g->vclock_next)
            rv__timers_fire_due(g);
    }
    c->now = target;
    settle(c);
}

/* ----------------------------------------------------------------- backoff */

uint64_t rv_backoff_delay(const rv_backoff_t *b, int n, double rnd)
{
    double base = (double)b->min_ms * ldexp(1.0, n < 0 ? 0 : (n > 62 ? 62 : n));
    if (base > (double)b->max_ms) base = (double)b->max_ms;
    double d = base * (1.0 + rnd * b->random_factor);
    /* A negative random factor (or a NaN) must not turn into a huge or
     * undefined conversion: no delay is the sane floor. */
    if (!(d > 0)) return 0;
    return d >= 1.8e19 ? UINT64_MAX : (uint64_t)d;
}
