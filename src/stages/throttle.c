/* Flow: shapes the rate to `elements` per `per_ms` with bursts of up to `burst`
 * (a token bucket). Elements wait; none is dropped. Time comes from the
 * graph's clock, so a test drives it virtually.
 *
 * Timers fire on whole milliseconds, usually a little after the instant the
 * next token is due. Capping the bucket at `burst` when the timer fires would
 * throw away that overshoot every time (3 per 10 ms would come out as one per
 * 4 ms), so the timer path accounts as a continuous-time bucket would: the
 * waiting element leaves at its due instant and the bucket refills from empty
 * from then on. */
#include <math.h>
#include <stdlib.h>

#include "rivulet/stages.h"

typedef struct {
    double tokens, burst, per_ms_rate; /* tokens per millisecond */
    double last_ms;                    /* time the tokens were counted up to */
    double due_ms;                     /* when the waited-for token is complete */
    bool waiting;                      /* the timer runs for due_ms */
    rv_timer_t *timer;
} throttle_t;

static void refill(rv_stage_t *st, throttle_t *t)
{
    double now = (double)rv_graph_now(rv_stage_graph(st));
    if (now > t->last_ms) {
        t->tokens += (now - t->last_ms) * t->per_ms_rate;
        if (t->tokens > t->burst) t->tokens = t->burst;
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
        t->due_ms = t->last_ms + wait;
        t->waiting = true;
        /* At least 1 ms: a 0 ms timer would fire at the same instant, find
         * no new token and re-arm itself forever (in virtual time). */
        double ms = ceil(wait);
        rv_timer_start(t->timer, ms < 1.0 ? 1 : (uint64_t)ms);
    }
}

static void timer_cb(rv_timer_t *tm, void *opaque)
{
    rv_stage_t *st = opaque;
    throttle_t *t = rv_stage_state(st);
    double now = (double)rv_graph_now(rv_stage_graph(st));
    if (t->waiting && now >= t->due_ms) {
        /* One token was complete at due_ms; from then the bucket refilled
         * from empty, up to `burst`. */
        double more = (now - t->due_ms) * t->per_ms_rate;
        t->tokens = 1.0 + (more < t->burst ? more : t->burst);
        t->last_ms = now;
    }
    t->waiting = false;
    on_input(st);
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
    t->last_ms = (double)rv_graph_now(rv_stage_graph(st));
    return RV_OK;
}

static const rv_stage_ops_t ops = {
    .kind = "throttle", .start = start, .on_input = on_input, .stop = stop};

rv_stage_t *rv_throttle(rv_graph_t *g, uint64_t elements, uint64_t per_ms, uint64_t burst)
{
    if (elements == 0 || per_ms == 0) {
        rv_graph_record_error(
            g, rv_error_new(RV_ERR_INVALID, false, "throttle: elements and per_ms must be > 0"));
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
