/* rivulet — time: the injectable clock, stage timers and exponential backoff.
 *
 * Stages never sleep and never read the wall clock directly: they ask the graph
 * for the time (rv_graph_now) and set rv_timer_t timers. By default time is the
 * loop's clock. A test may give the graph a virtual clock: then time stands
 * still until the test advances it, and every timer due on the way fires in
 * order, so backoff tests run in microseconds of real time.
 */
#ifndef RIVULET_CLOCK_H
#define RIVULET_CLOCK_H

#include <stdint.h>

#include "rivulet/graph.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A virtual clock starting at start_ms. Ownership: the caller owns it; it must
 * outlive every graph it is given to. */
rv_clock_t *rv_clock_virtual_new(uint64_t start_ms);
void rv_clock_destroy(rv_clock_t *c);
uint64_t rv_clock_now(const rv_clock_t *c);
/* Moves time forward by ms. Timers of every graph using the clock fire in
 * deadline order, each graph's stages running after each firing, so timers set
 * by those stages within the window fire too. Call from outside the loop's
 * callbacks (a test's main line). */
void rv_clock_advance(rv_clock_t *c, uint64_t ms);

typedef struct rv_timer rv_timer_t;
typedef void (*rv_timer_fn)(rv_timer_t *t, void *opaque);

/* A one-shot timer for a stage. Ownership: the stage; free it with
 * rv_timer_destroy() in the stage's stop hook (or earlier). NULL when out of
 * memory. The callback runs on the loop thread. */
rv_timer_t *rv_timer_new(rv_stage_t *st, rv_timer_fn fn, void *opaque);
/* (Re)arms the timer to fire delay_ms from now. */
void rv_timer_start(rv_timer_t *t, uint64_t delay_ms);
void rv_timer_stop(rv_timer_t *t);
bool rv_timer_active(const rv_timer_t *t);
/* Stops and frees the timer. NULL is a no-op. */
void rv_timer_destroy(rv_timer_t *t);

/* Exponential backoff: the delay before retry n (n = 0 for the first retry) is
 *   min(max_ms, min_ms * 2^n) * (1 + rnd * random_factor),  rnd uniform in [0, 1).
 * max_retries < 0 means no limit. */
typedef struct rv_backoff {
    uint64_t min_ms;
    uint64_t max_ms;
    double random_factor;
    int max_retries;
} rv_backoff_t;

uint64_t rv_backoff_delay(const rv_backoff_t *b, int n, double rnd);

#ifdef __cplusplus
}
#endif
#endif
