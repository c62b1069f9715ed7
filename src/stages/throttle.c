/* Flow: shapes the rate to `elements` per `per_ms` with bursts of up to `burst`
 * (a token bucket). Elements wait; none is dropped. Time comes from the
 * graph's clock, so a test drives it virtually. */
#include <stdlib.h>

#include "rivulet/stages.h"

typedef struct {
    double tokens, burst, per_ms_rate; /* tokens per millisecond */
    uint64_t last_ms;
    rv_timer_t *timer;
} throttle_t;

static void refill(rv_stage_t *st, throttle_t *t)
{
    uint64_t now = rv_graph_now(rv_stage_graph(st));
    if (now > t->last_ms) {
        t->tokens += (double)(now - t->last_ms) * t->per_ms_rate;
        if (t->tokens > t->burst)
            t->tokens = t->burst;
        t->last_ms = now;
    }
}

static void on_input(rv_stage_t *st)
{
    throttle_t *t = rv_stage_state(st);
    refill(st, t);
    while (t->tokens >= 1.0 && rv_in_avail(st, 0) > 0 && rv_out_room(st, 0) > 0) {
        rv_out_push(st, 0, rv_in_pop(st, 0));
        t->tokens -= 1.0;
    }
    if (rv_in_avail(st, 0) > 0 && t->tokens < 1.0 && !rv_timer_active(t->timer)) {
        double wait = (1.0 - t->tokens) / t->per_ms_rate;
        rv_timer_start(t->timer, (uint64_t)(wait + 0.999));
    }
}

static void timer_cb(rv_timer_t *tm, void *opaque)
{
    on_input(opaque);
}

static void stop(rv_stage_t *st)
{
    throttle_t *t = rv_stage_state(st);
    rv_timer_destroy(t->timer);
    free(t);
}

static rv_err_t start(rv_stage_t *st, rv_error_t **errp)
{
    throttle_t *t = rv_stage_state(st);
    t->last_ms = rv_graph_now(rv_stage_graph(st));
    return RV_OK;
}

static const rv_stage_ops_t ops = {.kind = "throttle", .start = start, .on_input = on_input, .stop = stop};

rv_stage_t *rv_throttle(rv_graph_t *g, uint64_t elements, uint64_t per_ms, uint64_t burst)
{
    if (elements == 0 || per_ms == 0) {
        rv_graph_record_error(g, rv_error_new(RV_ERR_INVALID, false,
                                              "throttle: elements and per_ms must be > 0"));
        return NULL;
    }
    throttle_t *t = calloc(1, sizeof(*t));
    if (!t) {
        rv_graph_record_error(g, rv_error_new(RV_ERR_NOMEM, true, "out of memory"));
        return NULL;
    }
    t->burst = burst > 0 ? (double)burst : 1.0;
    t->tokens = t->burst;
    t->per_ms_rate = (double)elements / (double)per_ms;
    rv_stage_t *st = rv_stage_new(g, &ops, t, 1, 1);
    if (st && !(t->timer = rv_timer_new(st, timer_cb, st))) {
        rv_graph_record_error(g, rv_error_new(RV_ERR_NOMEM, true, "out of memory"));
        return NULL;
    }
    return st;
}
