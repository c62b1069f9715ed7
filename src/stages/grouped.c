/* Flow: groups of up to n elements; with a time limit (grouped-within) a group
 * also closes `ms` after its first element. A group travels in a joined
 * envelope, so releasing the group releases (and acks) its members. */
#include <stdlib.h>

#include "rivulet/stages.h"

typedef struct {
    size_t n;
    uint64_t ms; /* 0: no time limit */
    rv_env_t **items;
    size_t count;
    bool ready; /* the current group must be emitted (full, timed out, or last) */
    bool upstream_done;
    rv_timer_t *timer;
} grouped_t;

static void group_free(void *p)
{
    free(p);
}

/* Releases the members of the current group as failed. Called as soon as the
 * stage ends without emitting them (failure, cancel, abort), so their acks
 * report it then, not only when the graph is destroyed. */
static void release_all(rv_stage_t *st, grouped_t *gr)
{
    for (size_t i = 0; i < gr->count; i++)
        rv_env_release_failed(gr->items[i], RV_ERR_CANCELLED);
    gr->count = 0;
    gr->ready = false;
    rv_timer_stop(gr->timer);
    if (st) rv_stage_set_in_flight(st, 0);
}

/* Emits the current group when it is ready and the output has room. */
static bool flush(rv_stage_t *st)
{
    grouped_t *gr = rv_stage_state(st);
    if (!gr->ready || gr->count == 0 || rv_out_room(st, 0) == 0) return false;
    rv_group_t *grp = malloc(sizeof(*grp) + gr->count * sizeof(rv_env_t *));
    if (!grp) {
        rv_stage_fail(st, rv_error_new(RV_ERR_NOMEM, true, "%s: out of memory", rv_stage_name(st)));
        return false;
    }
    grp->n = gr->count;
    grp->items = (rv_env_t **)(grp + 1);
    for (size_t i = 0; i < gr->count; i++)
        grp->items[i] = gr->items[i];
    rv_env_t *env = rv_env_new_joined(rv_stage_graph(st), grp, group_free, gr->items, gr->count);
    gr->count = 0;
    gr->ready = false;
    rv_timer_stop(gr->timer);
    if (!env) {
        rv_stage_fail(st, rv_error_new(RV_ERR_NOMEM, true, "%s: out of memory", rv_stage_name(st)));
        return false;
    }
    rv_out_push(st, 0, env);
    return true;
}

static void pump(rv_stage_t *st)
{
    grouped_t *gr = rv_stage_state(st);
    for (;;) {
        flush(st);
        if (gr->ready || rv_stage_finished(st)) break; /* waiting for room */
        rv_env_t *env = rv_in_pop(st, 0);
        if (!env) break;
        if (gr->count == 0 && gr->ms > 0) rv_timer_start(gr->timer, gr->ms);
        gr->items[gr->count++] = env;
        if (gr->count == gr->n) gr->ready = true;
    }
    rv_stage_set_in_flight(st, gr->count);
    if (gr->upstream_done && !rv_stage_finished(st)) {
        if (gr->count > 0) {
            gr->ready = true;
            flush(st);
        }
        if (gr->count == 0) rv_stage_finish(st);
    }
}

static void timer_cb(rv_timer_t *t, void *opaque)
{
    rv_stage_t *st = opaque;
    grouped_t *gr = rv_stage_state(st);
    if (gr->count > 0 && !rv_stage_finished(st)) {
        gr->ready = true;
        pump(st);
    }
}

static void on_finish(rv_stage_t *st, int port, const rv_error_t *err)
{
    if (err) {
        release_all(st, rv_stage_state(st));
        rv_stage_fail(st, rv_error_copy(err));
        return;
    }
    ((grouped_t *)rv_stage_state(st))->upstream_done = true;
    pump(st);
}

static void on_cancel(rv_stage_t *st, int port)
{
    release_all(st, rv_stage_state(st));
    rv_stage_finish(st);
}

static void on_abort(rv_stage_t *st)
{
    release_all(st, rv_stage_state(st));
}

static void stop(rv_stage_t *st)
{
    grouped_t *gr = rv_stage_state(st);
    release_all(NULL, gr);
    rv_timer_destroy(gr->timer);
    free(gr->items);
    free(gr);
}

static const rv_stage_ops_t ops = {.kind = "grouped",
                                   .on_input = pump,
                                   .on_room = pump,
                                   .on_finish = on_finish,
                                   .on_cancel = on_cancel,
                                   .on_abort = on_abort,
                                   .stop = stop};
static const rv_stage_ops_t ops_within = {.kind = "grouped-within",
                                          .on_input = pump,
                                          .on_room = pump,
                                          .on_finish = on_finish,
                                          .on_cancel = on_cancel,
                                          .on_abort = on_abort,
                                          .stop = stop};

static rv_stage_t *make(rv_graph_t *g, size_t n, uint64_t ms)
{
    grouped_t *gr = n > 0 ? calloc(1, sizeof(*gr)) : NULL;
    if (gr) gr->items = calloc(n, sizeof(rv_env_t *));
    if (!gr || !gr->items) {
        free(gr);
        rv_graph_record_error(g,
                              rv_error_new(n ? RV_ERR_NOMEM : RV_ERR_INVALID, false, "grouped: %s",
                                           n ? "out of memory" : "group size must be > 0"));
        return NULL;
    }
    gr->n = n;
    gr->ms = ms;
    rv_stage_t *st = rv_stage_new(g, ms ? &ops_within : &ops, gr, 1, 1);
    if (st && !(gr->timer = rv_timer_new(st, timer_cb, st))) {
        rv_graph_record_error(g, rv_error_new(RV_ERR_NOMEM, true, "out of memory"));
        return NULL;
    }
    return st;
}

rv_stage_t *rv_grouped(rv_graph_t *g, size_t n)
{
    return make(g, n, 0);
}

rv_stage_t *rv_grouped_within(rv_graph_t *g, size_t n, uint64_t ms)
{
    if (ms == 0) {
        rv_graph_record_error(
            g, rv_error_new(RV_ERR_INVALID, false, "grouped-within: ms must be > 0"));
        return NULL;
    }
    return make(g, n, ms);
}
