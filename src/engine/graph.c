/* The graph: stages, edges, the run queue and the lifecycle (run, stop, abort,
 * completion, destroy).
 *
 * Scheduling: pushing into an edge marks its downstream stage as having input;
 * taking from a full edge marks its upstream stage as having room. A marked
 * stage is queued once; the queue is run from a uv_idle_t handle (so hooks
 * never run inside another stage's hook) for at most `graph.scheduler.budget`
 * stage runs per loop iteration, after which the loop gets to poll for I/O. A
 * stage's hook moves a whole batch (all its input, limited by its outputs'
 * room), which is what keeps the cost per element low.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/engine.h"

static const rv_conf_def_t graph_defs[] = {
    {"graph.edge.capacity", RV_CONF_INT, "32", 1, RV_EDGE_MAX_CAPACITY, NULL,
     "Elements an edge holds: the demand a stage may signal upstream at once."},
    {"graph.scheduler.budget", RV_CONF_INT, "1024", 1, 1000000, NULL,
     "Stage runs per loop iteration before the loop polls for I/O again."},
    {"graph.random.seed", RV_CONF_INT, "0", 0, 9.2e18, NULL,
     "Seed of the graph's random numbers (backoff jitter); 0 seeds from the time."},
};

const rv_conf_table_t rv_graph_conf_table = {
    .component = "graph",
    .title = "Stream engine (graph.*)",
    .defs = graph_defs,
    .ndefs = RV_CONF_NDEFS(graph_defs),
};

const rv_conf_table_t *rv_graph_conf(void)
{
    return &rv_graph_conf_table;
}

/* ------------------------------------------------------------------ helpers */

static void graph_error(rv_graph_t *g, rv_error_t *err)
{
    if (!g->build_error)
        g->build_error = err;
    else
        rv_error_destroy(err);
}

void rv_graph_record_error(rv_graph_t *g, rv_error_t *err)
{
    if (g)
        graph_error(g, err);
    else
        rv_error_destroy(err);
}

void rv__graph_set_status(rv_graph_t *g, const rv_error_t *err)
{
    if (!g->status && err) g->status = rv_error_copy(err);
}

static void idle_cb(uv_idle_t *h);

static void ensure_idle(rv_graph_t *g)
{
    if (!g->idle_active && !g->destroyed) {
        g->idle_active = true;
        uv_idle_start(&g->idle, idle_cb);
    }
}

void rv__schedule(rv_stage_t *st)
{
    if (st->scheduled || st->finished) return;
    rv_graph_t *g = st->g;
    st->scheduled = true;
    st->next_run = NULL;
    if (g->runq_tail)
        g->runq_tail->next_run = st;
    else
        g->runq_head = st;
    g->runq_tail = st;
    if (!g->in_scheduler) ensure_idle(g);
}

void rv_stage_wake(rv_stage_t *st)
{
    st->want_room = true;
    st->want_input = true;
    st->want_events = true;
    rv__schedule(st);
}

/* ------------------------------------------------------------------- graph */

static void async_cb(uv_async_t *h);

rv_graph_t *rv_graph_new(uv_loop_t *loop, const rv_conf_t *conf, rv_error_t **errp)
{
    if (!loop) {
        rv_error_set(errp, RV_ERR_INVALID, false, "rv_graph_new: loop is NULL");
        return NULL;
    }
    const rv_conf_table_t *t = &rv_graph_conf_table;
    if (conf && rv_conf_check(conf, &t, 1, true, errp) != RV_OK) return NULL;
    rv_graph_t *g = calloc(1, sizeof(*g));
    if (!g) {
        rv_error_set(errp, RV_ERR_NOMEM, true, "out of memory");
        return NULL;
    }
    g->loop = loop;
    g->edge_capacity = (uint32_t)rv_conf_int(conf, t, "graph.edge.capacity");
    g->budget = (uint32_t)rv_conf_int(conf, t, "graph.scheduler.budget");
    uint64_t seed = (uint64_t)rv_conf_int(conf, t, "graph.random.seed");
    if (seed == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        seed = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ (uintptr_t)g;
    }
    g->rng = seed ? seed : 0x9E3779B97F4A7C15ull;
    uv_idle_init(loop, &g->idle);
    g->idle.data = g;
    uv_async_init(loop, &g->async, async_cb);
    g->async.data = g;
    uv_unref((uv_handle_t *)&g->async); /* an idle graph must not keep the loop alive */
    uv_mutex_init(&g->mu);
    rv__timers_init(g);
    return g;
}

uv_loop_t *rv_graph_loop(const rv_graph_t *g)
{
    return g->loop;
}

void rv_graph_set_clock(rv_graph_t *g, rv_clock_t *clock)
{
    if (g->vclock) rv__vclock_detach(g->vclock, g);
    g->vclock = clock;
    if (clock) rv__vclock_attach(clock, g);
}

bool rv_graph_running(const rv_graph_t *g)
{
    return g->running;
}

bool rv_graph_draining(const rv_graph_t *g)
{
    return g->stopping || g->aborting;
}

double rv_graph_random(rv_graph_t *g)
{
    /* xorshift64*: fast, good enough for jitter, and per graph (no global state). */
    uint64_t x = g->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    g->rng = x;
    return (double)((x * 0x2545F4914F6CDD1Dull) >> 11) / 9007199254740992.0;
}

/* ------------------------------------------------------------------- stages */

rv_stage_t *rv_stage_new(rv_graph_t *g, const rv_stage_ops_t *ops, void *state, int n_in, int n_out)
{
    if (!g) return NULL;
    if (n_in < 0 || n_out < 0 || n_in > RV_MAX_PORTS || n_out > RV_MAX_PORTS) {
        graph_error(g, rv_error_new(RV_ERR_INVALID, false,
                                    "%s: port count out of range (%d in, %d out)", ops->kind, n_in,
                                    n_out));
        if (ops->stop) {
            rv_stage_t tmp = {.g = g, .ops = ops, .state = state};
            ops->stop(&tmp);
        }
        return NULL;
    }
    rv_stage_t *st = calloc(1, sizeof(*st));
    rv_edge_t **ports = calloc((size_t)(n_in + n_out) + 1, sizeof(rv_edge_t *));
    char name[96];
    snprintf(name, sizeof(name), "%s#%d", ops->kind, g->nstages + 1);
    char *dup = strdup(name);
    if (!st || !ports || !dup) {
        free(st);
        free(ports);
        free(dup);
        graph_error(g, rv_error_new(RV_ERR_NOMEM, true, "out of memory creating %s", ops->kind));
        if (ops->stop) {
            rv_stage_t tmp = {.g = g, .ops = ops, .state = state};
            ops->stop(&tmp);
        }
        return NULL;
    }
    st->g = g;
    st->ops = ops;
    st->state = state;
    st->name = dup;
    st->id = ++g->nstages;
    st->n_in = n_in;
    st->n_out = n_out;
    st->in = ports;
    st->out = ports + n_in;
    if (g->stages_tail)
        g->stages_tail->next_all = st;
    else
        g->stages = st;
    g->stages_tail = st;
    /* A stage added while the graph runs (restart-with-backoff does this) starts
     * when it is first linked; see rv_link_ports. */
    return st;
}

void *rv_stage_state(const rv_stage_t *st)
{
    return st->state;
}
rv_graph_t *rv_stage_graph(const rv_stage_t *st)
{
    return st->g;
}
uv_loop_t *rv_stage_loop(const rv_stage_t *st)
{
    return st->g->loop;
}
int rv_stage_inputs(const rv_stage_t *st)
{
    return st->n_in;
}
int rv_stage_outputs(const rv_stage_t *st)
{
    return st->n_out;
}
const char *rv_stage_name(const rv_stage_t *st)
{
    return st->name;
}
const char *rv_stage_kind(const rv_stage_t *st)
{
    return st->ops->kind;
}

rv_stage_t *rv_stage_set_name(rv_stage_t *st, const char *name)
{
    if (!st || !name) return st;
    char *dup = strdup(name);
    if (dup) {
        free(st->name);
        st->name = dup;
    }
    return st;
}

void rv_stage_set_in_flight(rv_stage_t *st, uint64_t n)
{
    st->c.in_flight = n;
}

void rv_stage_count_failure(rv_stage_t *st)
{
    st->c.failures++;
}

bool rv_stage_finished(const rv_stage_t *st)
{
    return st->finished;
}

void rv_stage_get_counters(const rv_stage_t *st, rv_stage_counters_t *out)
{
    *out = st->c;
    out->queued = 0;
    for (int i = 0; i < st->n_in; i++)
        if (st->in[i]) out->queued += st->in[i]->tail - st->in[i]->head;
}

void rv_graph_foreach_stage(rv_graph_t *g, void (*fn)(rv_stage_t *, void *), void *opaque)
{
    for (rv_stage_t *st = g->stages; st; st = st->next_all)
        fn(st, opaque);
}

/* -------------------------------------------------------------------- edges */

static uint32_t pow2_at_least(uint32_t n)
{
    uint32_t p = 1;
    while (p < n)
        p <<= 1;
    return p;
}

static rv_err_t start_stage(rv_stage_t *st, rv_error_t **errp);

rv_err_t rv_link_ports(rv_stage_t *from, int out_port, rv_stage_t *to, int in_port,
                       uint32_t capacity)
{
    rv_graph_t *g = from ? from->g : to ? to->g : NULL;
    if (!from || !to) {
        if (g)
            graph_error(g, rv_error_new(RV_ERR_INVALID, false,
                                        "link: %s stage is missing (its constructor failed)",
                                        from ? "downstream" : "upstream"));
        return RV_ERR_INVALID;
    }
    if (from->g != to->g) {
        graph_error(g,
                    rv_error_new(RV_ERR_INVALID, false, "link: %s and %s are in different graphs",
                                 from->name, to->name));
        return RV_ERR_INVALID;
    }
    if (out_port < 0 || out_port >= from->n_out || from->out[out_port]) {
        graph_error(g, rv_error_new(RV_ERR_INVALID, false, "link: %s has no free output port %d",
                                    from->name, out_port));
        return RV_ERR_INVALID;
    }
    if (in_port < 0 || in_port >= to->n_in || to->in[in_port]) {
        graph_error(g, rv_error_new(RV_ERR_INVALID, false, "link: %s has no free input port %d",
                                    to->name, in_port));
        return RV_ERR_INVALID;
    }
    if (capacity == 0) capacity = g->edge_capacity;
    /* The same bound as graph.edge.capacity. Beyond 2^31 pow2_at_least would
     * never terminate, and a huge value is usually a negative number cast to
     * unsigned: demand that is not positive must be rejected, not honoured. */
    if (capacity > RV_EDGE_MAX_CAPACITY) {
        graph_error(g,
                    rv_error_new(RV_ERR_INVALID, false,
                                 "link: capacity %" PRIu32 " of %s -> %s is out of range [1, %u]",
                                 capacity, from->name, to->name, (unsigned)RV_EDGE_MAX_CAPACITY));
        return RV_ERR_INVALID;
    }
    rv_edge_t *e = calloc(1, sizeof(*e));
    uint32_t size = pow2_at_least(capacity);
    rv_env_t **ring = calloc(size, sizeof(rv_env_t *));
    if (!e || !ring) {
        free(e);
        free(ring);
        graph_error(g, rv_error_new(RV_ERR_NOMEM, true, "out of memory linking %s to %s",
                                    from->name, to->name));
        return RV_ERR_NOMEM;
    }
    e->ring = ring;
    e->mask = size - 1;
    e->cap = capacity;
    e->up = from;
    e->down = to;
    e->up_port = out_port;
    e->down_port = in_port;
    from->out[out_port] = e;
    to->in[in_port] = e;
    /* Linking into a running graph (a restarted source): start the new stage
     * once all its ports are linked. */
    if (g->running) {
        rv_stage_t *sts[2] = {from, to};
        for (int k = 0; k < 2; k++) {
            rv_stage_t *st = sts[k];
            bool complete = true;
            for (int i = 0; i < st->n_in + st->n_out; i++)
                if (!st->in[i]) complete = false;
            if (complete && !st->started) {
                rv_error_t *err = NULL;
                if (start_stage(st, &err) != RV_OK) rv_stage_fail(st, err);
            }
        }
    }
    return RV_OK;
}

rv_err_t rv_link(rv_stage_t *from, rv_stage_t *to)
{
    int op = -1, ip = -1;
    if (from)
        for (int i = 0; i < from->n_out && op < 0; i++)
            if (!from->out[i]) op = i;
    if (to)
        for (int i = 0; i < to->n_in && ip < 0; i++)
            if (!to->in[i]) ip = i;
    if (from && op < 0 && to) {
        graph_error(from->g, rv_error_new(RV_ERR_INVALID, false,
                                          "link: %s has no free output port (it has %d)",
                                          from->name, from->n_out));
        return RV_ERR_INVALID;
    }
    if (to && ip < 0 && from) {
        graph_error(to->g, rv_error_new(RV_ERR_INVALID, false,
                                        "link: %s has no free input port (it has %d)", to->name,
                                        to->n_in));
        return RV_ERR_INVALID;
    }
    return rv_link_ports(from, op, to, ip, 0);
}

rv_stage_t *rv_chain(rv_stage_t *first, ...)
{
    va_list ap;
    va_start(ap, first);
    rv_stage_t *prev = first, *next;
    bool ok = first != NULL;
    while ((next = va_arg(ap, rv_stage_t *)) != NULL) {
        if (rv_link(prev, next) != RV_OK) ok = false;
        prev = next;
    }
    va_end(ap);
    return ok ? prev : NULL;
}

/* ------------------------------------------------------------------- ports */

static inline uint32_t edge_count(const rv_edge_t *e)
{
    return e->tail - e->head;
}

size_t rv_in_avail(const rv_stage_t *st, int port)
{
    const rv_edge_t *e = st->in[port];
    return e->cancelled ? 0 : edge_count(e);
}

rv_env_t *rv_in_peek(const rv_stage_t *st, int port)
{
    const rv_edge_t *e = st->in[port];
    return (e->cancelled || edge_count(e) == 0) ? NULL : e->ring[e->head & e->mask];
}

rv_env_t *rv_in_pop(rv_stage_t *st, int port)
{
    rv_edge_t *e = st->in[port];
    uint32_t n = edge_count(e);
    if (n == 0 || e->cancelled) return NULL;
    rv_env_t *env = e->ring[e->head & e->mask];
    e->head++;
    st->c.in++;
    if (n == e->cap) {
        /* The edge was full, so upstream may be waiting for demand. */
        rv_stage_t *up = e->up;
        if (e->full_since) {
            up->c.wait_ns += uv_hrtime() - e->full_since;
            e->full_since = 0;
        }
        up->want_room = true;
        rv__schedule(up);
    }
    if (n == 1 && e->up_state != RV_UP_OPEN) {
        st->want_events = true;
        rv__schedule(st);
    }
    return env;
}

size_t rv_in_take(rv_stage_t *st, int port, rv_env_t **out, size_t max)
{
    rv_edge_t *e = st->in[port];
    uint32_t n = edge_count(e);
    if (n == 0 || e->cancelled || max == 0) return 0;
    uint32_t k = max < n ? (uint32_t)max : n;
    /* The taken span is at most two contiguous runs of the ring. */
    uint32_t at = e->head & e->mask, first = e->mask + 1 - at;
    if (first > k) first = k;
    memcpy(out, e->ring + at, first * sizeof(*out));
    memcpy(out + first, e->ring, (k - first) * sizeof(*out));
    e->head += k;
    st->c.in += k;
    if (n == e->cap) {
        rv_stage_t *up = e->up;
        if (e->full_since) {
            up->c.wait_ns += uv_hrtime() - e->full_since;
            e->full_since = 0;
        }
        up->want_room = true;
        rv__schedule(up);
    }
    if (n == k && e->up_state != RV_UP_OPEN) {
        st->want_events = true;
        rv__schedule(st);
    }
    return k;
}

bool rv_in_closed(const rv_stage_t *st, int port)
{
    const rv_edge_t *e = st->in[port];
    return e->cancelled || (e->up_state != RV_UP_OPEN && edge_count(e) == 0) ||
           e->up_state == RV_UP_FAILED;
}

static void edge_drop_buffered(rv_edge_t *e, rv_err_t why)
{
    while (edge_count(e) > 0) {
        rv_env_t *env = e->ring[e->head & e->mask];
        e->head++;
        rv_env_release_failed(env, why);
    }
}

void rv_in_cancel(rv_stage_t *st, int port)
{
    rv_edge_t *e = st->in[port];
    if (!e || e->cancelled) return;
    e->cancelled = true;
    uint32_t n = edge_count(e);
    edge_drop_buffered(e, RV_ERR_CANCELLED);
    if (e->up_state == RV_UP_OPEN) {
        e->up->want_events = true;
        if (n == e->cap) e->up->want_room = true;
        rv__schedule(e->up);
    }
}

size_t rv_out_room(const rv_stage_t *st, int port)
{
    const rv_edge_t *e = st->out[port];
    if (e->cancelled || e->up_state != RV_UP_OPEN) return 0;
    return e->cap - edge_count(e);
}

size_t rv_out_room_all(const rv_stage_t *st)
{
    size_t room = SIZE_MAX;
    bool any = false;
    for (int i = 0; i < st->n_out; i++) {
        const rv_edge_t *e = st->out[i];
        if (e->cancelled || e->up_state != RV_UP_OPEN) continue;
        any = true;
        size_t r = e->cap - edge_count(e);
        if (r < room) room = r;
    }
    return any ? room : 0;
}

bool rv_out_closed(const rv_stage_t *st, int port)
{
    const rv_edge_t *e = st->out[port];
    return e->cancelled || e->up_state != RV_UP_OPEN;
}

void rv_out_push(rv_stage_t *st, int port, rv_env_t *env)
{
    rv_edge_t *e = st->out[port];
    if (st->finished || e->cancelled || e->up_state != RV_UP_OPEN) {
        rv_env_release_failed(env, RV_ERR_CANCELLED);
        return;
    }
    uint32_t n = edge_count(e);
    if (n >= e->cap) {
        rv_env_release_failed(env, RV_ERR_OVERFLOW);
        rv_stage_fail(st, rv_error_new(RV_ERR_OVERFLOW, false,
                                       "%s pushed to output %d beyond its demand (a stage bug)",
                                       st->name, port));
        return;
    }
    e->ring[e->tail & e->mask] = env;
    e->tail++;
    st->c.out++;
    if (n + 1 == e->cap) e->full_since = uv_hrtime();
    rv_stage_t *down = e->down;
    down->want_input = true;
    rv__schedule(down);
}

void rv_out_give(rv_stage_t *st, int port, rv_env_t *const *envs, size_t k)
{
    if (k == 0) return;
    rv_edge_t *e = st->out[port];
    uint32_t n = edge_count(e);
    if (st->finished || e->cancelled || e->up_state != RV_UP_OPEN || n + k > e->cap) {
        /* Rare paths keep the one-at-a-time rules (and their errors). */
        for (size_t i = 0; i < k; i++)
            rv_out_push(st, port, envs[i]);
        return;
    }
    uint32_t at = e->tail & e->mask, first = e->mask + 1 - at;
    if (first > k) first = (uint32_t)k;
    memcpy(e->ring + at, envs, first * sizeof(*envs));
    memcpy(e->ring, envs + first, (k - first) * sizeof(*envs));
    e->tail += (uint32_t)k;
    st->c.out += k;
    if (n + k == e->cap) e->full_since = uv_hrtime();
    rv_stage_t *down = e->down;
    down->want_input = true;
    rv__schedule(down);
}

void rv_out_complete(rv_stage_t *st, int port)
{
    rv_edge_t *e = st->out[port];
    if (!e || e->up_state != RV_UP_OPEN) return;
    e->up_state = RV_UP_COMPLETED;
    e->down->want_events = true;
    rv__schedule(e->down);
}

/* ------------------------------------------------------------- termination */

static void mark_finished(rv_stage_t *st)
{
    if (st->finished) return;
    st->finished = true;
    st->g->nfinished++;
    rv__maybe_done(st->g);
}

void rv_stage_finish(rv_stage_t *st)
{
    if (st->finished) return;
    for (int i = 0; i < st->n_out; i++)
        rv_out_complete(st, i);
    for (int i = 0; i < st->n_in; i++)
        rv_in_cancel(st, i);
    mark_finished(st);
}

void rv_stage_fail(rv_stage_t *st, rv_error_t *err)
{
    if (st->finished) {
        rv_error_destroy(err);
        return;
    }
    if (!err) err = rv_error_new(RV_ERR_USER, false, "%s failed", st->name);
    if (!st->contained) rv__graph_set_status(st->g, err);
    for (int i = 0; i < st->n_out; i++) {
        rv_edge_t *e = st->out[i];
        if (!e || e->up_state != RV_UP_OPEN) continue;
        e->up_state = RV_UP_FAILED;
        e->err = rv_error_copy(err);
        e->down->want_events = true;
        rv__schedule(e->down);
    }
    for (int i = 0; i < st->n_in; i++)
        rv_in_cancel(st, i);
    rv_error_destroy(err);
    mark_finished(st);
}

/* ------------------------------------------------------------- supervision */

rv_stage_t *rv_stage_set_decider(rv_stage_t *st, rv_decider_fn fn, void *opaque)
{
    if (st) {
        st->decider = fn;
        st->decider_opaque = opaque;
    }
    return st;
}

rv_directive_t rv_stage_decide(rv_stage_t *st, const rv_error_t *err, int attempt)
{
    if (!st->decider) return RV_STOP;
    return st->decider(st, err, attempt, st->decider_opaque);
}

rv_directive_t rv_decider_stop(rv_stage_t *st, const rv_error_t *err, int attempt, void *opaque)
{
    return RV_STOP;
}

rv_directive_t rv_decider_resume(rv_stage_t *st, const rv_error_t *err, int attempt, void *opaque)
{
    return RV_RESUME;
}

rv_directive_t rv_decider_retry(rv_stage_t *st, const rv_error_t *err, int attempt, void *opaque)
{
    return attempt <= (int)(intptr_t)opaque ? RV_RETRY : RV_STOP;
}

/* --------------------------------------------------------------- scheduler */

static bool any_input(const rv_stage_t *st)
{
    for (int i = 0; i < st->n_in; i++) {
        const rv_edge_t *e = st->in[i];
        if (e && !e->cancelled && edge_count(e) > 0) return true;
    }
    return false;
}

static void default_on_finish(rv_stage_t *st, int port, const rv_error_t *err)
{
    if (err) {
        rv_stage_fail(st, rv_error_copy(err));
        return;
    }
    for (int i = 0; i < st->n_in; i++)
        if (st->in[i] && !rv_in_closed(st, i)) return;
    rv_stage_finish(st);
}

static void default_on_cancel(rv_stage_t *st, int port)
{
    for (int i = 0; i < st->n_out; i++)
        if (!rv_out_closed(st, i)) return;
    rv_stage_finish(st);
}

static void run_stage(rv_stage_t *st)
{
    const rv_stage_ops_t *ops = st->ops;
    st->in_hook = true;
    if (st->want_events) {
        st->want_events = false;
        for (int i = 0; i < st->n_out && !st->finished; i++) {
            rv_edge_t *e = st->out[i];
            if (e && e->cancelled && !e->cancel_seen) {
                e->cancel_seen = true;
                if (ops->on_cancel)
                    ops->on_cancel(st, i);
                else
                    default_on_cancel(st, i);
            }
        }
        /* Events seen before the input below is handled are re-checked after. */
        st->want_events = true;
    }
    bool room = st->want_room, input = st->want_input;
    st->want_room = st->want_input = false;
    if (room && !st->finished && ops->on_room) ops->on_room(st);
    if ((input || room) && !st->finished && ops->on_input && any_input(st)) ops->on_input(st);
    if (st->want_events && !st->finished) {
        st->want_events = false;
        for (int i = 0; i < st->n_in && !st->finished; i++) {
            rv_edge_t *e = st->in[i];
            if (!e || e->cancelled || e->finish_seen || e->up_state == RV_UP_OPEN) continue;
            if (e->up_state == RV_UP_FAILED) {
                edge_drop_buffered(e, rv_error_code(e->err));
            } else if (edge_count(e) > 0) {
                continue; /* completion is told after the last buffered element */
            }
            e->finish_seen = true;
            const rv_error_t *err = e->up_state == RV_UP_FAILED ? e->err : NULL;
            if (ops->on_finish)
                ops->on_finish(st, i, err);
            else
                default_on_finish(st, i, err);
        }
    }
    st->in_hook = false;
}

/* Runs queued stages until the queue is empty or the budget is spent. Returns
 * true when work remains. */
static bool scheduler_pass(rv_graph_t *g, uint32_t budget)
{
    g->in_scheduler = true;
    while (g->runq_head && budget-- > 0) {
        rv_stage_t *st = g->runq_head;
        g->runq_head = st->next_run;
        if (!g->runq_head) g->runq_tail = NULL;
        st->scheduled = false;
        if (!st->finished && st->started) run_stage(st);
    }
    g->in_scheduler = false;
    return g->runq_head != NULL;
}

static void call_done_if_finished(rv_graph_t *g)
{
    if (!g->running || g->done_called || g->nfinished < g->nstages || g->runq_head) return;
    g->done_called = true;
    g->running = false;
    if (g->idle_active) {
        g->idle_active = false;
        uv_idle_stop(&g->idle);
    }
    uv_timer_stop(&g->uvtimer);
    if (g->done) g->done(g, g->status, g->done_opaque); /* may destroy g: nothing after this */
}

void rv__run_scheduler(rv_graph_t *g)
{
    while (scheduler_pass(g, UINT32_MAX))
        ;
    call_done_if_finished(g);
}

static void idle_cb(uv_idle_t *h)
{
    rv_graph_t *g = h->data;
    if (scheduler_pass(g, g->budget)) return; /* more to do after the loop polled once */
    g->idle_active = false;
    uv_idle_stop(&g->idle);
    rv__timers_rearm(g);
    call_done_if_finished(g);
}

void rv__maybe_done(rv_graph_t *g)
{
    if (g->running && g->nfinished >= g->nstages) ensure_idle(g);
}

/* --------------------------------------------------------------- lifecycle */

static rv_err_t start_stage(rv_stage_t *st, rv_error_t **errp)
{
    st->started = true;
    if (st->ops->start) {
        rv_err_t rc = st->ops->start(st, errp);
        if (rc != RV_OK) return rc;
    }
    rv_stage_wake(st);
    return RV_OK;
}

rv_err_t rv_graph_run(rv_graph_t *g, rv_graph_done_fn done, void *opaque, rv_error_t **errp)
{
    if (g->running || g->done_called)
        return rv_error_set(errp, RV_ERR_STATE, false, "graph already ran");
    if (g->build_error) return rv_error_give(errp, rv_error_copy(g->build_error));
    if (!g->stages) return rv_error_set(errp, RV_ERR_INVALID, false, "graph has no stages");
    for (rv_stage_t *st = g->stages; st; st = st->next_all) {
        for (int i = 0; i < st->n_in; i++)
            if (!st->in[i])
                return rv_error_set(errp, RV_ERR_INVALID, false, "%s: input port %d is not linked",
                                    st->name, i);
        for (int i = 0; i < st->n_out; i++)
            if (!st->out[i])
                return rv_error_set(errp, RV_ERR_INVALID, false, "%s: output port %d is not linked",
                                    st->name, i);
    }
    g->done = done;
    g->done_opaque = opaque;
    g->running = true;
    for (rv_stage_t *st = g->stages; st; st = st->next_all) {
        rv_error_t *err = NULL;
        if (start_stage(st, &err) != RV_OK) {
            if (!err) err = rv_error_new(RV_ERR_STATE, false, "%s failed to start", st->name);
            rv_error_t *copy = rv_error_copy(err);
            rv_stage_fail(st, err);
            rv_graph_abort(g);
            /* The run did start (hooks ran), so the done callback reports it too;
             * the caller also gets the reason here. */
            return rv_error_give(errp, copy);
        }
    }
    ensure_idle(g);
    return RV_OK;
}

void rv_graph_stop(rv_graph_t *g)
{
    if (!g->running || g->stopping || g->aborting) return;
    g->stopping = true;
    /* Sources finish (or run their own drain hook); other stages with a drain
     * hook hear of it too (a restart stage waiting out a backoff). */
    for (rv_stage_t *st = g->stages; st; st = st->next_all) {
        if (st->finished) continue;
        if (st->ops->on_drain)
            st->ops->on_drain(st);
        else if (st->n_in == 0)
            rv_stage_finish(st);
    }
    ensure_idle(g);
}

void rv_graph_abort(rv_graph_t *g)
{
    if (!g->running || g->aborting) return;
    g->aborting = true;
    rv_error_t *err = rv_error_new(RV_ERR_CANCELLED, false, "graph aborted");
    rv__graph_set_status(g, err);
    for (rv_stage_t *st = g->stages; st; st = st->next_all) {
        if (st->finished) continue;
        if (st->ops->on_abort) st->ops->on_abort(st);
        rv_stage_fail(st, rv_error_copy(err));
    }
    rv_error_destroy(err);
    ensure_idle(g);
}

static void async_cb(uv_async_t *h)
{
    rv_graph_t *g = h->data;
    uv_mutex_lock(&g->mu);
    int req = g->async_request;
    g->async_request = 0;
    uv_mutex_unlock(&g->mu);
    if (req == 1)
        rv_graph_stop(g);
    else if (req == 2)
        rv_graph_abort(g);
}

void rv_graph_stop_async(rv_graph_t *g, bool graceful)
{
    uv_mutex_lock(&g->mu);
    if (g->async_request != 2) g->async_request = graceful ? 1 : 2;
    uv_mutex_unlock(&g->mu);
    uv_async_send(&g->async);
}

void rv_graph_hold(rv_graph_t *g)
{
    g->holds++;
}

void rv_graph_unhold(rv_graph_t *g)
{
    g->holds--;
    if (g->destroyed) rv__graph_try_free(g);
}

void rv__graph_try_free(rv_graph_t *g)
{
    if (!g->destroyed || g->holds > 0 || g->closing > 0 || g->live_envs > 0) return;
    rv__env_pool_drain(g);
    uv_mutex_destroy(&g->mu);
    free(g->heap);
    free(g);
}

static void handle_closed(uv_handle_t *h)
{
    rv_graph_t *g = h->data;
    g->closing--;
    rv__graph_try_free(g);
}

void rv_graph_destroy(rv_graph_t *g)
{
    if (!g || g->destroyed) return;
    if (g->running && !g->done_called) {
        g->done = NULL; /* the caller is tearing down: no callback into it */
        rv_graph_abort(g);
    }
    g->running = false;
    /* Buffered elements go first, while every stage (and so every ack callback's
     * state) is still alive. */
    for (rv_stage_t *st = g->stages; st; st = st->next_all)
        for (int i = 0; i < st->n_out; i++)
            if (st->out[i]) edge_drop_buffered(st->out[i], RV_ERR_CANCELLED);
    /* Then the stop hooks, sinks first: a sink may still hold envelopes whose
     * acks reach a source created before it. */
    rv_stage_t **order = malloc((size_t)g->nstages * sizeof(*order));
    int n = 0;
    for (rv_stage_t *st = g->stages; st; st = st->next_all)
        if (order)
            order[n++] = st;
        else if (!st->stopped && st->ops->stop) /* no memory for the order: creation order */
            st->stopped = true, st->ops->stop(st);
    for (int i = n - 1; i >= 0; i--) {
        if (!order[i]->stopped && order[i]->ops->stop) {
            order[i]->stopped = true;
            order[i]->ops->stop(order[i]);
        }
    }
    free(order);
    g->destroyed = true;
    rv_stage_t *st = g->stages;
    while (st) {
        rv_stage_t *next = st->next_all;
        for (int i = 0; i < st->n_out; i++) {
            rv_edge_t *e = st->out[i];
            if (!e) continue;
            edge_drop_buffered(e, RV_ERR_CANCELLED);
            rv_error_destroy(e->err);
            free(e->ring);
            free(e);
        }
        free(st->in);
        free(st->name);
        free(st);
        st = next;
    }
    g->stages = g->stages_tail = NULL;
    g->runq_head = g->runq_tail = NULL;
    rv_error_destroy(g->status);
    rv_error_destroy(g->build_error);
    g->status = g->build_error = NULL;
    if (g->vclock) rv__vclock_detach(g->vclock, g);
    rv__timers_close(g);
    g->closing += 3;
    uv_close((uv_handle_t *)&g->idle, handle_closed);
    uv_close((uv_handle_t *)&g->async, handle_closed);
    uv_close((uv_handle_t *)&g->uvtimer, handle_closed);
}

/* Unlinks input `port` after its upstream finished, so a new upstream can be
 * linked there (restart-with-backoff). The old edge stays owned by the old
 * upstream stage and is freed with it. */
void rv__stage_detach_input(rv_stage_t *st, int port)
{
    rv_edge_t *e = st->in[port];
    if (!e) return;
    edge_drop_buffered(e, RV_ERR_CANCELLED);
    e->cancelled = true;
    st->in[port] = NULL;
}
