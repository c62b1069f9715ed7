/* rivulet — the stage API: how built-in and user stages are written.
 *
 * A stage has input ports and output ports; each port is joined to one bounded
 * edge. Demand is the free room of an output edge: a stage may push to an output
 * only as many elements as rv_out_room() allows, and so never gives downstream
 * more than it has room for. A stage is a small vtable (rv_stage_ops_t) and a
 * state pointer; the engine calls the hooks on the loop thread, never
 * re-entrantly for one stage.
 *
 * Hooks (all optional):
 *   start      the graph starts; open resources, start I/O. An error fails the run.
 *   on_input   some input port has elements (or, by default, outputs gained room
 *              while inputs hold elements). Move as many as the outputs allow:
 *              moving a batch per call is what makes the engine fast.
 *   on_room    some output port gained room. Sources emit here. Defaults to
 *              on_input.
 *   on_finish  an input's upstream completed (err NULL; called only after every
 *              element buffered on that edge was taken) or failed (err set;
 *              called in the same run after on_input was offered the elements
 *              buffered before the failure; those not taken are released as
 *              failed). Default: fail with err, or complete once every input
 *              finished.
 *   on_cancel  an output's downstream cancelled. Default: once every output is
 *              cancelled, cancel the inputs and finish.
 *   on_drain   rv_graph_stop() asked sources to finish gracefully. Default: finish.
 *   on_abort   the graph is aborting: stop I/O now. The engine then closes every
 *              port and releases buffered elements as failed.
 *   stop       free the state. Called once, when the graph is destroyed, in
 *              reverse creation order (sinks before sources). Any callback that
 *              could still arrive (a timer, a socket, a request) must be
 *              cancelled here; use rv_graph_hold() for handles whose close
 *              completes later. A source whose envelopes carry an ack callback
 *              must keep the ack's state alive until every such envelope is
 *              gone (an envelope kept by the user may outlive the stop hook).
 *
 * Termination: a stage is finished when it says so with rv_stage_finish() or
 * rv_stage_fail() (or a default hook does). Finishing completes the open
 * outputs and cancels the open inputs. An async stage finishes only after its
 * in-flight work is done. The graph completes when every stage finished.
 *
 * The three rules (INTRODUCTION.md has them with their reasons):
 *   completion — a stage completes its outputs after its last element; its
 *     downstream sees on_finish only after taking every element before it.
 *   failure    — a failing stage fails its outputs (downstream gets on_finish
 *     with the error, buffered elements are released as failed) and cancels its
 *     inputs (upstream gets on_cancel); the graph's status is the first failure.
 *   cancellation — cancelling is idempotent; a cancelled output drops (as failed)
 *     anything still pushed to it; cancel travels upstream to the source.
 * After a stage finished, nothing it pushes reaches downstream.
 */
#ifndef RIVULET_STAGE_H
#define RIVULET_STAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rivulet/env.h"
#include "rivulet/error.h"
#include "rivulet/graph.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rv_stage_ops {
    const char *kind; /* "map", "kafka-source", ...: shown in names, DOT and errors */
    rv_err_t (*start)(rv_stage_t *st, rv_error_t **errp);
    void (*on_input)(rv_stage_t *st);
    void (*on_room)(rv_stage_t *st);
    void (*on_finish)(rv_stage_t *st, int port, const rv_error_t *err);
    void (*on_cancel)(rv_stage_t *st, int port);
    void (*on_drain)(rv_stage_t *st);
    void (*on_abort)(rv_stage_t *st);
    void (*stop)(rv_stage_t *st);
} rv_stage_ops_t;

/* A new stage with n_in inputs and n_out outputs (each at most 64).
 * Ownership: the graph owns the stage; `state` stays the caller's business until
 * the stop hook runs (which normally frees it). On failure returns NULL, records
 * the error in the graph, and calls ops->stop when the stage had been made. */
rv_stage_t *rv_stage_new(rv_graph_t *g, const rv_stage_ops_t *ops, void *state, int n_in,
                         int n_out);

void *rv_stage_state(const rv_stage_t *st);
rv_graph_t *rv_stage_graph(const rv_stage_t *st);
uv_loop_t *rv_stage_loop(const rv_stage_t *st);
int rv_stage_inputs(const rv_stage_t *st);
int rv_stage_outputs(const rv_stage_t *st);

/* Records a build-time error in the graph (for constructors that fail after
 * rv_stage_new); rv_graph_run reports the first. Ownership: takes err. */
void rv_graph_record_error(rv_graph_t *g, rv_error_t *err);

/* True once rv_graph_stop() or rv_graph_abort() was called: a stage that would
 * start new work (a restart, a retry) should not. */
bool rv_graph_draining(const rv_graph_t *g);

/* ---- input ports ---- */

/* Elements waiting on input port `port`. */
size_t rv_in_avail(const rv_stage_t *st, int port);
/* The next element without taking it, or NULL. Memory: the edge keeps it. */
rv_env_t *rv_in_peek(const rv_stage_t *st, int port);
/* Takes the next element, or NULL when none. Ownership: the caller now holds
 * the edge's reference. */
rv_env_t *rv_in_pop(rv_stage_t *st, int port);
/* Takes up to max elements at once into out[] and returns how many: the batch
 * form of rv_in_pop, for stages that move many elements per run.
 * Ownership: the caller now holds each taken element's reference. */
size_t rv_in_take(rv_stage_t *st, int port, rv_env_t **out, size_t max);
/* True when no element will ever arrive on the port again (upstream finished and
 * the edge is empty, or the stage cancelled it). */
bool rv_in_closed(const rv_stage_t *st, int port);
/* Cancels one input: buffered elements are released as failed and upstream is
 * told (on_cancel). Idempotent. */
void rv_in_cancel(rv_stage_t *st, int port);

/* ---- output ports ---- */

/* Free room on output `port`: how many elements may be pushed now. 0 when the
 * output is closed. */
size_t rv_out_room(const rv_stage_t *st, int port);
/* Minimum room over every open output (0 when any open output is full, or when
 * all are closed). */
size_t rv_out_room_all(const rv_stage_t *st);
/* True when downstream cancelled the port (or the stage completed it). */
bool rv_out_closed(const rv_stage_t *st, int port);
/* Pushes one element. Ownership: takes the caller's reference. Pushing to a
 * closed port releases env as failed (RV_ERR_CANCELLED); pushing past the room
 * is a programming error (the element is released as failed, RV_ERR_OVERFLOW,
 * and the stage fails). */
void rv_out_push(rv_stage_t *st, int port, rv_env_t *env);
/* Pushes envs[0..n) at once (n must not exceed rv_out_room): the batch form of
 * rv_out_push, with the same rules. Ownership: takes the n references. */
void rv_out_give(rv_stage_t *st, int port, rv_env_t *const *envs, size_t n);
/* Completes one output: downstream finishes after taking what is buffered. */
void rv_out_complete(rv_stage_t *st, int port);

/* ---- termination ---- */

/* The stage finished successfully: completes open outputs, cancels open inputs. */
void rv_stage_finish(rv_stage_t *st);
/* The stage failed: fails open outputs, cancels open inputs; the graph's status
 * becomes err unless an earlier failure came first. Ownership: takes err. */
void rv_stage_fail(rv_stage_t *st, rv_error_t *err);
bool rv_stage_finished(const rv_stage_t *st);

/* Asks the engine to run the stage's hooks soon (after an async completion that
 * changed what the stage can do). Safe to call at any time on the loop thread. */
void rv_stage_wake(rv_stage_t *st);

/* Reports how many elements the stage holds outside its edges (for counters). */
void rv_stage_set_in_flight(rv_stage_t *st, uint64_t n);
/* Counts an element the stage released as failed. */
void rv_stage_count_failure(rv_stage_t *st);

/* Keeps the graph's memory alive until a matching rv_graph_unhold: for uv handles
 * whose close callback runs after rv_graph_destroy. */
void rv_graph_hold(rv_graph_t *g);
void rv_graph_unhold(rv_graph_t *g);

/* ---- supervision ---- */

typedef enum rv_directive {
    RV_STOP = 0,   /* fail the stage with the error (the default) */
    RV_RESUME = 1, /* drop the element (released as failed, so never acked) and go on */
    RV_RETRY = 2   /* call the user function again with the same element */
} rv_directive_t;

/* Decides what a stage does when its user function fails on an element.
 * attempt counts the calls already made for this element (1 on the first failure). */
typedef rv_directive_t (*rv_decider_fn)(rv_stage_t *st, const rv_error_t *err, int attempt,
                                        void *opaque);

/* Installs a decider on a stage that calls user functions that can fail (map,
 * for-each, fold, async map, retry, partition, zip-with; a filter's predicate
 * cannot fail). Returns st for chaining. */
rv_stage_t *rv_stage_set_decider(rv_stage_t *st, rv_decider_fn fn, void *opaque);

/* What the stage's decider says (RV_STOP without a decider). For stage authors. */
rv_directive_t rv_stage_decide(rv_stage_t *st, const rv_error_t *err, int attempt);

/* Ready-made deciders. */
rv_directive_t rv_decider_stop(rv_stage_t *st, const rv_error_t *err, int attempt, void *opaque);
rv_directive_t rv_decider_resume(rv_stage_t *st, const rv_error_t *err, int attempt, void *opaque);
/* Retries up to (intptr_t)opaque attempts, then stops. */
rv_directive_t rv_decider_retry(rv_stage_t *st, const rv_error_t *err, int attempt, void *opaque);

#ifdef __cplusplus
}
#endif
#endif
