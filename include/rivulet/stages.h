/* rivulet — the built-in stages.
 *
 * Every constructor returns a stage owned by the graph, or NULL after recording
 * the error in the graph (rv_graph_run then reports it). User functions run on
 * the loop thread. Unless said otherwise, a user function that fails is handled
 * by the stage's decider (rv_stage_set_decider): stop (default), resume (the
 * element is dropped as failed: it is never acked) or retry.
 *
 * Payload ownership: the payload of an element belongs to its envelope. A user
 * function receives it borrowed (valid during the call). A function that
 * returns a new payload hands it over; the stage frees it later with the
 * destructor given at construction (`out_free`, may be NULL). Returning the
 * input pointer itself keeps it with its original destructor.
 */
#ifndef RIVULET_STAGES_H
#define RIVULET_STAGES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rivulet/clock.h"
#include "rivulet/stage.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ====================================================================== sources */

/* Emits items[0..n) in order, then completes. The items are borrowed (no
 * destructor): they must outlive the graph's run. */
rv_stage_t *rv_source_array(rv_graph_t *g, void *const *items, size_t n);

/* Emits the integers start, start+1, ... (count of them; count < 0: forever) as
 * RV_PTR(i) payloads. */
rv_stage_t *rv_source_range(rv_graph_t *g, int64_t start, int64_t count);

/* A generator: called each time downstream has room for one more element.
 * Return 1 with *out (and *out_free) set to emit, 0 to complete, or a negative
 * rv_err_t (with *errp optionally set) to fail the stage. */
typedef int (*rv_gen_fn)(void **out, rv_free_fn *out_free, rv_error_t **errp, void *opaque);
rv_stage_t *rv_source_gen(rv_graph_t *g, rv_gen_fn fn, void *opaque);

/* A source fed from other threads through a bounded, thread-safe queue. */
typedef struct rv_queue rv_queue_t;
/* The queue holds at most `capacity` items. Its handle: rv_source_queue_get(). */
rv_stage_t *rv_source_queue(rv_graph_t *g, size_t capacity);
/* The queue of a queue source. Memory: owned by the stage (freed with the
 * graph): every producer thread must have returned from rv_queue_* before
 * rv_graph_destroy (close or abort first: a blocked put then returns). */
rv_queue_t *rv_source_queue_get(rv_stage_t *st);
/* Thread-safe. Offers an item: RV_OK (the queue owns it), RV_ERR_OVERFLOW when
 * full, RV_ERR_CLOSED when closed (both: the caller keeps the item). */
rv_err_t rv_queue_offer(rv_queue_t *q, void *item, rv_free_fn item_free);
/* Thread-safe. As offer, but waits up to timeout_ms (< 0: forever) for room. */
rv_err_t rv_queue_put(rv_queue_t *q, void *item, rv_free_fn item_free, int64_t timeout_ms);
/* Thread-safe. No more items: the source completes once the queue is empty. */
void rv_queue_close(rv_queue_t *q);

/* ======================================================================= flows */

/* out = fn(in). On error return non-OK (optionally with *errp). */
typedef rv_err_t (*rv_map_fn)(void *in, void **out, rv_error_t **errp, void *opaque);
rv_stage_t *rv_map(rv_graph_t *g, rv_map_fn fn, rv_free_fn out_free, void *opaque);

/* As map, with the envelope itself: the function may read the metadata and must
 * set the result with rv_env_set_payload (the engine hands it an envelope it
 * holds alone). */
typedef rv_err_t (*rv_map_env_fn)(rv_env_t *env, rv_error_t **errp, void *opaque);
rv_stage_t *rv_map_env(rv_graph_t *g, rv_map_env_fn fn, void *opaque);

/* Keeps elements for which pred returns true; a dropped element is released
 * after success (so it is acked: filtering out is processing). */
typedef bool (*rv_pred_fn)(void *in, void *opaque);
rv_stage_t *rv_filter(rv_graph_t *g, rv_pred_fn pred, void *opaque);

/* Passes the first n elements, then completes and cancels upstream. */
rv_stage_t *rv_take(rv_graph_t *g, uint64_t n);

/* Folds every element into an accumulator and emits it once when upstream
 * completes. fn: *acc_out = f(acc, in); it may update acc in place and return it.
 * The initial accumulator is taken over (freed with acc_free). */
typedef rv_err_t (*rv_fold_fn)(void *acc, void *in, void **acc_out, rv_error_t **errp,
                               void *opaque);
rv_stage_t *rv_fold(rv_graph_t *g, void *init, rv_free_fn acc_free, rv_fold_fn fn, void *opaque);

/* Async map with at most `parallelism` calls in flight. fn starts the work and
 * later (on the loop thread, possibly before returning) calls rv_async_done
 * exactly once. ordered: results leave in input order; else in completion order. */
typedef struct rv_async rv_async_t;
typedef void (*rv_async_fn)(rv_async_t *op, void *in, void *opaque);
rv_stage_t *rv_async_map(rv_graph_t *g, int parallelism, bool ordered, rv_async_fn fn,
                         rv_free_fn out_free, void *opaque);
/* Completes an async call. On success err is NULL and out is the result
 * (ownership passes to the stage; return the input pointer to keep it). On
 * failure err is set (ownership passes) and out is ignored. */
void rv_async_done(rv_async_t *op, void *out, rv_error_t *err);
/* The element's envelope (for metadata). Memory: owned by the stage. */
rv_env_t *rv_async_env(const rv_async_t *op);
/* Retry attempt of this call: 0 for the first (see rv_retry). */
int rv_async_attempt(const rv_async_t *op);

/* Async map that retries a failed call with exponential backoff, with the same
 * element, while the error is retriable (rv_error_retriable) and fewer than
 * backoff->max_retries retries were made; then the decider sees the last error.
 * `backoff` is copied. */
rv_stage_t *rv_retry(rv_graph_t *g, int parallelism, bool ordered, rv_async_fn fn,
                     rv_free_fn out_free, const rv_backoff_t *backoff, void *opaque);

typedef enum rv_overflow {
    RV_OVERFLOW_BACKPRESSURE, /* stop pulling when full */
    RV_OVERFLOW_DROP_HEAD,    /* drop the oldest buffered element */
    RV_OVERFLOW_DROP_TAIL,    /* drop the newest buffered element */
    RV_OVERFLOW_DROP_NEW,     /* drop the element that arrived */
    RV_OVERFLOW_FAIL          /* fail the stage with RV_ERR_OVERFLOW */
} rv_overflow_t;
/* A buffer of `size` elements. Dropped elements are released as failed
 * (RV_ERR_OVERFLOW): they were not processed, so never acked. */
rv_stage_t *rv_buffer(rv_graph_t *g, size_t size, rv_overflow_t strategy);

/* A group of elements, the payload of grouped and grouped-within. */
typedef struct rv_group {
    size_t n;
    rv_env_t **items; /* borrowed: the group's envelope holds them */
} rv_group_t;
/* Emits groups of n elements (the last may be smaller). Releasing a group
 * releases its members with the same status. */
rv_stage_t *rv_grouped(rv_graph_t *g, size_t n);
/* Emits a group when it holds n elements or when ms passed since its first
 * element, whichever comes first. */
rv_stage_t *rv_grouped_within(rv_graph_t *g, size_t n, uint64_t ms);

/* At most `elements` per `per_ms` with bursts up to `burst` (token bucket);
 * elements wait (shaping), nothing is dropped. */
rv_stage_t *rv_throttle(rv_graph_t *g, uint64_t elements, uint64_t per_ms, uint64_t burst);

/* A source that is re-made with backoff after it fails (or, when on_failure_only
 * is false, also after it completes). factory makes a fresh source stage in g
 * (its one output is linked by the restart stage). The attempt count resets
 * after the source ran for backoff->max_ms without failing. Gives up after
 * max_retries restarts with the last error. `backoff` is copied. */
typedef rv_stage_t *(*rv_source_factory_fn)(rv_graph_t *g, int attempt, void *opaque);
rv_stage_t *rv_restart_source(rv_graph_t *g, rv_source_factory_fn factory, void *opaque,
                              const rv_backoff_t *backoff, bool on_failure_only);

/* ==================================================================== fan-out */

/* Emits every element to each of n outputs (the same envelope, one reference
 * each); pulls only when every open output has room. eager_cancel: the first
 * cancelled output cancels the whole stage; else it goes on while any is open. */
rv_stage_t *rv_broadcast(rv_graph_t *g, int n, bool eager_cancel);

/* Emits each element to one of n outputs that has room (round robin). */
rv_stage_t *rv_balance(rv_graph_t *g, int n);

/* Emits each element to the output fn picks (0..n-1); a bad index is a failure.
 * An element waits until its output has room. */
typedef int (*rv_partition_fn)(void *in, void *opaque);
rv_stage_t *rv_partition(rv_graph_t *g, int n, rv_partition_fn fn, void *opaque);

/* ===================================================================== fan-in */

/* Emits elements of n inputs as they come; completes when all inputs completed
 * (eager_complete: when any did). */
rv_stage_t *rv_merge(rv_graph_t *g, int n, bool eager_complete);

/* The payload of zip: a pair of borrowed payloads (the envelope holds both). */
typedef struct rv_pair {
    void *a, *b;
} rv_pair_t;
/* Most inputs of a zip-with. */
#define RV_ZIP_MAX_IN 64

/* Pairs the i-th elements of its two inputs; completes when either completes. */
rv_stage_t *rv_zip(rv_graph_t *g);
/* Combines the i-th elements of n inputs with fn(ins[0..n)). */
typedef rv_err_t (*rv_zip_fn)(void *const *ins, int n, void **out, rv_error_t **errp, void *opaque);
rv_stage_t *rv_zip_with(rv_graph_t *g, int n, rv_zip_fn fn, rv_free_fn out_free, void *opaque);

/* ====================================================================== sinks */

/* Calls fn for each element; an error goes to the decider. */
typedef rv_err_t (*rv_each_fn)(void *in, rv_error_t **errp, void *opaque);
rv_stage_t *rv_for_each(rv_graph_t *g, rv_each_fn fn, void *opaque);

/* As for-each, with the envelope (metadata); the envelope is borrowed. */
typedef rv_err_t (*rv_each_env_fn)(rv_env_t *env, rv_error_t **errp, void *opaque);
rv_stage_t *rv_for_each_env(rv_graph_t *g, rv_each_env_fn fn, void *opaque);

/* Takes and releases everything (after success). */
rv_stage_t *rv_ignore(rv_graph_t *g);

/* Collects every element. The collector keeps each envelope (and so delays its
 * ack) until the graph is destroyed; read the payloads with rv_collect_item. */
rv_stage_t *rv_collect(rv_graph_t *g);
size_t rv_collect_count(const rv_stage_t *st);
/* Memory: owned by the collector. */
void *rv_collect_item(const rv_stage_t *st, size_t i);

#ifdef __cplusplus
}
#endif
#endif
