/* A source that comes back: when the inner source it made fails (or, unless
 * on_failure_only, completes), it waits a backoff delay and makes a fresh one
 * with the factory, linked to the same place in the graph. Downstream sees one
 * uninterrupted stream. The attempt count resets once an inner source ran for
 * backoff.max_ms without failing, so a source that fails once a day is not
 * eventually given up on. */
#include <stdlib.h>

#include "engine/engine.h"
#include "rivulet/stages.h"

typedef struct {
    rv_source_factory_fn factory;
    void *opaque;
    rv_backoff_t backoff;
    bool on_failure_only;
    int attempt; /* restarts since the last reset */
    int made;    /* inner sources made so far */
    uint64_t started_ms;
    rv_timer_t *timer;
    bool waiting;
    rv_stage_t *st;
} restart_t;

static void on_input(rv_stage_t *st)
{
    if (!st->in[0]) return;
    size_t n = rv_in_avail(st, 0), room = rv_out_room(st, 0);
    if (n > room) n = room;
    while (n-- > 0)
        rv_out_push(st, 0, rv_in_pop(st, 0));
}

static bool make_inner(rv_stage_t *st, rv_error_t **errp)
{
    restart_t *r = rv_stage_state(st);
    rv_graph_t *g = rv_stage_graph(st);
    rv_stage_t *inner = r->factory(g, r->made, r->opaque);
    if (!inner) {
        rv_error_set(errp, RV_ERR_STATE, false, "%s: the source factory returned NULL",
                     rv_stage_name(st));
        return false;
    }
    r->made++;
    r->started_ms = rv_graph_now(g);
    /* Its failures are ours to handle: they must not end the graph's run
     * with an error when a restart recovers from them. */
    inner->contained = true;
    if (rv_link(inner, st) != RV_OK) {
        rv_error_set(errp, RV_ERR_INVALID, false, "%s: cannot link the new source",
                     rv_stage_name(st));
        return false;
    }
    return true;
}

static void timer_cb(rv_timer_t *t, void *opaque)
{
    rv_stage_t *st = opaque;
    restart_t *r = rv_stage_state(st);
    r->waiting = false;
    if (rv_stage_finished(st)) return;
    if (rv_graph_draining(rv_stage_graph(st))) {
        rv_stage_finish(st);
        return;
    }
    rv_error_t *err = NULL;
    if (!make_inner(st, &err)) rv_stage_fail(st, err);
}

static void on_finish(rv_stage_t *st, int port, const rv_error_t *err)
{
    restart_t *r = rv_stage_state(st);
    rv_graph_t *g = rv_stage_graph(st);
    if ((!err && r->on_failure_only) || rv_graph_draining(g)) {
        if (err)
            rv_stage_fail(st, rv_error_copy(err));
        else
            rv_stage_finish(st);
        return;
    }
    uint64_t now = rv_graph_now(g);
    if (now - r->started_ms >= r->backoff.max_ms) r->attempt = 0;
    if (r->backoff.max_retries >= 0 && r->attempt >= r->backoff.max_retries) {
        if (err)
            rv_stage_fail(st, rv_error_new(rv_error_code(err), false,
                                           "%s: gave up after %d restarts: %s", rv_stage_name(st),
                                           r->attempt, rv_error_msg(err)));
        else
            rv_stage_finish(st);
        return;
    }
    rv__stage_detach_input(st, 0);
    uint64_t delay = rv_backoff_delay(&r->backoff, r->attempt, rv_graph_random(g));
    r->attempt++;
    r->waiting = true;
    rv_timer_start(r->timer, delay);
}

static void on_drain(rv_stage_t *st)
{
    restart_t *r = rv_stage_state(st);
    if (r->waiting) {
        rv_timer_stop(r->timer);
        r->waiting = false;
        rv_stage_finish(st);
    }
    /* Otherwise the inner source drains and on_finish sees the drain. */
}

static void on_cancel(rv_stage_t *st, int port)
{
    restart_t *r = rv_stage_state(st);
    rv_timer_stop(r->timer);
    r->waiting = false;
    rv_stage_finish(st);
}

static void stop(rv_stage_t *st)
{
    restart_t *r = rv_stage_state(st);
    rv_timer_destroy(r->timer);
    free(r);
}

static const rv_stage_ops_t ops = {.kind = "restart-source",
                                   .on_input = on_input,
                                   .on_finish = on_finish,
                                   .on_cancel = on_cancel,
                                   .on_drain = on_drain,
                                   .stop = stop};

rv_stage_t *rv_restart_source(rv_graph_t *g, rv_source_factory_fn factory, void *opaque,
                              const rv_backoff_t *backoff, bool on_failure_only)
{
    if (!factory || !backoff) {
        rv_graph_record_error(g, rv_error_new(RV_ERR_INVALID, false,
                                              "restart-source: needs a factory and a backoff"));
        return NULL;
    }
    restart_t *r = calloc(1, sizeof(*r));
    if (!r) {
        rv_graph_record_error(g, rv_error_new(RV_ERR_NOMEM, true, "out of memory"));
        return NULL;
    }
    r->factory = factory;
    r->opaque = opaque;
    r->backoff = *backoff;
    r->on_failure_only = on_failure_only;
    rv_stage_t *st = rv_stage_new(g, &ops, r, 1, 1);
    if (!st) return NULL;
    r->st = st;
    rv_error_t *err = NULL;
    if (!(r->timer = rv_timer_new(st, timer_cb, st)) || !make_inner(st, &err)) {
        rv_graph_record_error(g, err ? err : rv_error_new(RV_ERR_NOMEM, true, "out of memory"));
        return NULL;
    }
    return st;
}
