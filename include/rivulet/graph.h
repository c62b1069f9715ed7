/* rivulet — graphs: building, running, stopping and inspecting a pipeline.
 *
 * A graph is a set of stages joined by bounded edges, run on one libuv loop.
 * Everything about a graph happens on that loop's thread; the only ways in from
 * other threads are the thread-safe queue source (rv_source_queue) and
 * rv_graph_stop_async(). Several graphs may share a loop, and independent graphs
 * may run on independent loops in independent threads: there is no global state.
 *
 * Building never needs error checks at every line: a stage constructor that
 * fails returns NULL and records the problem in the graph, linking a NULL stage
 * is a recorded error too, and rv_graph_run() reports the first such problem.
 *
 * Lifecycle: rv_graph_new → stage constructors and rv_link → rv_graph_run →
 * (the loop runs; the done callback reports the final status) →
 * rv_graph_destroy. Destroying closes libuv handles, so run the loop once more
 * afterwards (as with uv_close) before closing the loop.
 */
#ifndef RIVULET_GRAPH_H
#define RIVULET_GRAPH_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <uv.h>

#include "rivulet/conf.h"
#include "rivulet/env.h"
#include "rivulet/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rv_stage rv_stage_t;
typedef struct rv_clock rv_clock_t;

/* The engine's configuration table ("graph.*" keys). */
const rv_conf_table_t *rv_graph_conf(void);

/* A new, empty graph on loop. conf may be NULL (all defaults); it is read here
 * and not kept. Unknown or invalid "graph.*" keys are an error.
 * Ownership: the caller owns the graph; free with rv_graph_destroy(). */
rv_graph_t *rv_graph_new(uv_loop_t *loop, const rv_conf_t *conf, rv_error_t **errp);

/* Destroys the graph: aborts it when still running, frees every stage (calling
 * each stage's stop hook) and every envelope still buffered (released as
 * failed). Memory is fully returned once the loop has run the pending close
 * callbacks. NULL is a no-op. Must not be called from inside a stage callback. */
void rv_graph_destroy(rv_graph_t *g);

/* Uses a virtual clock (see clock.h) instead of the loop's clock. Before run. */
void rv_graph_set_clock(rv_graph_t *g, rv_clock_t *clock);

uv_loop_t *rv_graph_loop(const rv_graph_t *g);

/* Joins the next free output port of `from` to the next free input port of `to`
 * with an edge of the graph's default capacity. Returns RV_OK, or an error that
 * is also recorded in the graph (NULL stages, no free port, different graphs). */
rv_err_t rv_link(rv_stage_t *from, rv_stage_t *to);

/* As rv_link with explicit ports and capacity (0 = the graph's default). */
rv_err_t rv_link_ports(rv_stage_t *from, int out_port, rv_stage_t *to, int in_port,
                       uint32_t capacity);

/* Links a NULL-terminated chain: rv_chain(a, b, c, NULL) is rv_link(a,b); rv_link(b,c).
 * Returns the last stage (NULL when any link failed). */
rv_stage_t *rv_chain(rv_stage_t *first, ...) __attribute__((sentinel));

/* Called once when every stage has finished. status is NULL on success, else the
 * error that ended the graph. Memory: status is owned by the graph, valid during
 * the call (copy it with rv_error_copy to keep it). */
typedef void (*rv_graph_done_fn)(rv_graph_t *g, const rv_error_t *status, void *opaque);

/* Checks the graph (every port linked, no build errors) and starts it. The
 * stages run as the loop runs. Returns an error (and starts nothing) when the
 * graph is invalid. */
rv_err_t rv_graph_run(rv_graph_t *g, rv_graph_done_fn done, void *opaque, rv_error_t **errp);

/* Graceful stop: every source stops emitting and completes; what is in flight
 * drains through the graph; then the graph completes. Idempotent. */
void rv_graph_stop(rv_graph_t *g);

/* Abort: every stage stops now; buffered elements are released as failed (so
 * none is acked); the graph completes with RV_ERR_CANCELLED. Idempotent. */
void rv_graph_abort(rv_graph_t *g);

/* Thread-safe: asks the graph's loop to call rv_graph_stop (graceful = true) or
 * rv_graph_abort. Call it from any ordinary thread, not from a signal handler
 * (for signals use a uv_signal_t on the loop). The graph must still exist:
 * once rv_graph_destroy has started, its handle is closing and its memory may
 * be gone, so the caller must make sure no thread calls this any more. */
void rv_graph_stop_async(rv_graph_t *g, bool graceful);

/* True between rv_graph_run and the done callback. */
bool rv_graph_running(const rv_graph_t *g);

/* The graph's clock in milliseconds (virtual or the loop's). */
uint64_t rv_graph_now(const rv_graph_t *g);

/* A uniform random number in [0, 1) from the graph's own generator (seeded by
 * "graph.random.seed"; 0 means from the time). */
double rv_graph_random(rv_graph_t *g);

/* Per-stage counters. */
typedef struct rv_stage_counters {
    uint64_t in;        /* elements taken from the stage's inputs */
    uint64_t out;       /* elements pushed to its outputs */
    uint64_t queued;    /* elements now buffered on its input edges */
    uint64_t in_flight; /* elements the stage holds (async work, buffers) as it reports */
    uint64_t wait_ns;   /* time spent with an output full, waiting for demand */
    uint64_t failures;  /* elements released as failed by this stage */
} rv_stage_counters_t;

void rv_stage_get_counters(const rv_stage_t *st, rv_stage_counters_t *out);

/* Calls fn for every stage, in creation order. */
void rv_graph_foreach_stage(rv_graph_t *g, void (*fn)(rv_stage_t *st, void *opaque), void *opaque);

/* Writes the graph as Graphviz DOT, with each stage's counters and each edge's
 * fill level. */
void rv_graph_dot(rv_graph_t *g, FILE *out);

/* The stage's name (defaults to its kind and a number) and kind.
 * Memory: owned by the stage. */
const char *rv_stage_name(const rv_stage_t *st);
const char *rv_stage_kind(const rv_stage_t *st);
/* Renames a stage; the name is copied. Returns the stage for chaining. */
rv_stage_t *rv_stage_set_name(rv_stage_t *st, const char *name);

#ifdef __cplusplus
}
#endif
#endif
