/* rivulet — Cassandra stages on rivulet's own CQL client (rivulet/cql.h).
 *
 *   rv_cassandra_bind           element -> bound statement (a user function binds
 *                               the values of a prepared statement)
 *   rv_cassandra_sink           executes bound statements, up to N in flight;
 *                               an element is released (so acked) only after its
 *                               write succeeded
 *   rv_cassandra_retry_sink     runs a user command per element (read, insert,
 *                               conditional update, delete...) and retries it,
 *                               with the same element, after transient errors
 *                               and after a conditional write was not applied
 *   rv_cassandra_lwt_flow       executes conditional (lightweight-transaction)
 *                               statements and emits whether each applied, with
 *                               the current values when it did not
 *   rv_cassandra_query          a source of rows; fetches the next page only
 *                               when downstream asks for more
 *   rv_cassandra_mapped_paging  a source of pages of user structs (rows mapped
 *                               by a user function), of a chosen size
 *
 * Sessions. Every stage uses an rv_cql_session_t the caller made (and usually
 * connected) on the graph's loop. The session is borrowed: it must outlive the
 * graph (destroy the graph first, then the session). Stages never connect or
 * close it. Requests started before the session is connected wait in its queue.
 *
 * Prepared statements. A stage given query text prepares it when the graph
 * starts (rv_cql_prepare; the session's cache shares one PREPARE between stages
 * using the same text) and takes no element before that succeeded; a failed
 * prepare fails the stage with the server's reason. rv_cassandra_bind_prepared
 * takes a statement the caller prepared.
 *
 * Acks. Elements keep their envelope's ack all the way: Bind emits a derived
 * envelope (the input element stays held by it), the sinks release an element
 * after success only when its write succeeded, and as failed otherwise (never
 * acked, so a Kafka record is redelivered). A flow's output holds its input.
 *
 * Retries. The sink, the LWT flow and the query sources retry a request that
 * failed with a retriable error (rv_error_retriable: timeouts, unavailable,
 * overloaded, a lost connection, a full client queue) with exponential backoff
 * (rv_cassandra_set_backoff; default 100 ms doubling to 10 s, random factor
 * 0.2, 5 retries). The retry sink also retries RV_ERR_NOT_APPLIED. When the
 * retries are used up, or the error is not retriable, the stage's decider
 * (rv_stage_set_decider) decides: stop (the default: the element is released
 * as failed and the stage fails with the error), resume (the element is
 * released as failed and the stage goes on) or retry (at once).
 *
 * Stopping. On abort, on failure and in the stop hook every outstanding request
 * is cancelled (rv_cql_request_cancel), so no CQL callback reaches a stage after
 * it is gone; the elements it held are released as failed.
 *
 * Threads: everything runs on the graph's loop thread, as the session does.
 */
#ifndef RIVULET_CASSANDRA_H
#define RIVULET_CASSANDRA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rivulet/clock.h"
#include "rivulet/cql.h"
#include "rivulet/env.h"
#include "rivulet/error.h"
#include "rivulet/graph.h"
#include "rivulet/stage.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ======================================================================== bind */

/* Binds the values of one element to stmt, a fresh statement of the stage's
 * prepared statement (rv_cql_bind_*), and may set its options (consistency,
 * idempotence, timeout...). env is the element, borrowed (payload:
 * rv_env_payload(env), Kafka metadata: rv_env_meta(env)); it is NULL for the
 * query sources, which bind once. Return RV_OK, or an error (optionally with
 * *errp set) for the stage's decider. A failed rv_cql_bind_* is noticed even
 * when the function ignores its result. */
typedef rv_err_t (*rv_cassandra_bind_fn)(rv_cql_stmt_t *stmt, rv_env_t *env, rv_error_t **errp,
                                         void *opaque);

/* CassandraBind: prepares `query` on s when the graph starts, then turns each
 * element into a bound statement: it emits a derived envelope whose payload is
 * an rv_cql_stmt_t * (freed with the envelope) and which holds the input
 * element, so the input's payload stays valid and its ack waits for the
 * statement's. A failing fn goes to the decider (stop by default).
 * Ownership: the graph owns the stage; query is copied; s is borrowed. */
rv_stage_t *rv_cassandra_bind(rv_graph_t *g, rv_cql_session_t *s, const char *query,
                              rv_cassandra_bind_fn fn, void *opaque);

/* As rv_cassandra_bind with a statement the caller prepared (it lives as long
 * as its session). */
rv_stage_t *rv_cassandra_bind_prepared(rv_graph_t *g, const rv_cql_prepared_t *p,
                                       rv_cassandra_bind_fn fn, void *opaque);

/* ======================================================================== sink */

/* CassandraSink: executes every element's payload, an rv_cql_stmt_t * (as Bind
 * emits), with at most in_flight (1..65536) requests outstanding; it pulls no
 * more while that many are. An element is released after success once its
 * statement succeeded (a conditional statement that was not applied counts as
 * executed: use the retry sink or the LWT flow to act on it), as failed when it
 * failed for good (see "Retries" above). Completes after the last response.
 * Ownership: the graph owns the stage; s is borrowed. */
rv_stage_t *rv_cassandra_sink(rv_graph_t *g, rv_cql_session_t *s, int in_flight);

/* ================================================================== retry sink */

/* One element's command in a retry sink. Valid from the call of the stage's
 * command function until rv_cassandra_cmd_done (and inside callbacks of
 * requests started with rv_cassandra_cmd_execute); never use it after the
 * graph was destroyed. */
typedef struct rv_cassandra_cmd rv_cassandra_cmd_t;

/* Starts (attempt 0) or retries (attempt 1, 2, ...) the command for env, the
 * same element every time. The function runs its requests through
 * rv_cassandra_cmd_execute — typically: read the current version, then a
 * conditional write — and ends every attempt with rv_cassandra_cmd_done or
 * rv_cassandra_cmd_finish, possibly before it returns. Other asynchronous work
 * (its own timers, sessions) cannot be cancelled by the stage: do not. */
typedef void (*rv_cassandra_cmd_fn)(rv_cassandra_cmd_t *cmd, rv_env_t *env, void *opaque);

/* CassandraRetrySink: runs fn for every element, at most in_flight (1..65536)
 * commands at once. A command that ends with an error that is retriable
 * (rv_error_retriable) or RV_ERR_NOT_APPLIED (a conditional write lost a race:
 * the next attempt re-reads) is run again with the same element after
 * rv_backoff_delay(backoff, retry, random) ms on the graph's clock, at most
 * backoff->max_retries times (< 0: no limit); then the decider sees the last
 * error (stop by default: the stage fails with it). An element is released
 * after success when its command succeeded. `backoff` is copied.
 * Ownership: the graph owns the stage; s is borrowed. */
rv_stage_t *rv_cassandra_retry_sink(rv_graph_t *g, rv_cql_session_t *s, int in_flight,
                                    rv_cassandra_cmd_fn fn, const rv_backoff_t *backoff,
                                    void *opaque);

/* Asks the retry sink st to prepare `query` when the graph starts (before any
 * command runs). Returns the index for rv_cassandra_cmd_prepared (0, 1, ... in
 * call order), or -1 after recording the error in the graph (st is not a retry
 * sink, or the graph already runs). Ownership: query is copied. */
int rv_cassandra_retry_sink_prepare(rv_stage_t *st, const char *query);

/* Result callback of a command's request: exactly one of res (owned by the
 * callback: free it with rv_cql_result_destroy or hand it to
 * rv_cassandra_cmd_finish) and err (valid during the call) is set. Not called
 * when the stage cancels the request (abort, failure, graph destroyed). */
typedef void (*rv_cassandra_cmd_result_fn)(rv_cassandra_cmd_t *cmd, rv_cql_result_t *res,
                                           const rv_error_t *err, void *opaque);

/* Executes st (or the batch b) for the command; cb runs on a later loop turn.
 * One request at a time per command: RV_ERR_STATE while one is outstanding.
 * When the request cannot start (rv_cql_execute's reasons) returns the error
 * (and *errp): end the attempt with it, e.g. rv_cassandra_cmd_done(cmd, *errp).
 * Ownership: st / b stay the caller's (they are encoded here). */
rv_err_t rv_cassandra_cmd_execute(rv_cassandra_cmd_t *cmd, const rv_cql_stmt_t *st,
                                  rv_cassandra_cmd_result_fn cb, void *opaque, rv_error_t **errp);
rv_err_t rv_cassandra_cmd_execute_batch(rv_cassandra_cmd_t *cmd, const rv_cql_batch_t *b,
                                        rv_cassandra_cmd_result_fn cb, void *opaque,
                                        rv_error_t **errp);

/* Ends the attempt: err NULL for success, else the reason (retried as
 * described above). Ownership: takes err. A second call for one attempt is
 * ignored. */
void rv_cassandra_cmd_done(rv_cassandra_cmd_t *cmd, rv_error_t *err);

/* Ends the attempt from a request's outcome: err set -> that error (copied);
 * an LWT result that was not applied -> RV_ERR_NOT_APPLIED (retriable); else
 * success. Ownership: takes res (destroyed here). */
void rv_cassandra_cmd_finish(rv_cassandra_cmd_t *cmd, rv_cql_result_t *res, const rv_error_t *err);

/* The element (borrowed; held by the stage until the command ends). */
rv_env_t *rv_cassandra_cmd_env(const rv_cassandra_cmd_t *cmd);
/* 0 on the first attempt, n on the n-th retry. */
int rv_cassandra_cmd_attempt(const rv_cassandra_cmd_t *cmd);
rv_cql_session_t *rv_cassandra_cmd_session(const rv_cassandra_cmd_t *cmd);
/* The i-th statement of rv_cassandra_retry_sink_prepare (NULL when out of
 * range). Memory: owned by the session. */
const rv_cql_prepared_t *rv_cassandra_cmd_prepared(const rv_cassandra_cmd_t *cmd, int i);
/* Per-element state kept across attempts (e.g. what the read found). It is
 * freed with free_data when the element leaves the stage (success, failure,
 * abort, graph destroyed); setting it again frees the previous one.
 * Ownership: takes data. */
void rv_cassandra_cmd_set_data(rv_cassandra_cmd_t *cmd, void *data, rv_free_fn free_data);
void *rv_cassandra_cmd_data(const rv_cassandra_cmd_t *cmd);

/* ==================================================================== LWT flow */

/* What the LWT flow emits per element. Memory: owned by the emitted envelope,
 * which holds the input element (so `input` stays valid and the input's ack
 * waits for the output's release). */
typedef struct rv_cassandra_lwt {
    bool applied;
    /* The statement's rows result: column 0 is "[applied]"; when not applied,
     * row 0 holds the current values in the columns after it (read them with
     * rv_cql_result_column_index and the rv_cql_result_get_* accessors). */
    rv_cql_result_t *result;
    void *input; /* the input element's payload, borrowed */
} rv_cassandra_lwt_t;

/* CassandraLwtFlow: executes one conditional statement per element, at most
 * in_flight (1..65536) at once, and emits an rv_cassandra_lwt_t for each, in
 * input order when `ordered`, else as they complete. With query NULL each
 * payload must be an rv_cql_stmt_t * (as Bind emits); otherwise the stage
 * prepares `query` at start and binds each element with fn. A not-applied
 * statement is a result, not an error; a statement that is not conditional
 * (no "[applied]" column) fails the element with RV_ERR_INVALID. Errors: see
 * "Retries". Ownership: the graph owns the stage; query copied; s borrowed. */
rv_stage_t *rv_cassandra_lwt_flow(rv_graph_t *g, rv_cql_session_t *s, int in_flight, bool ordered,
                                  const char *query, rv_cassandra_bind_fn fn, void *opaque);

/* ===================================================================== sources */

/* One row of a CassandraQuery. Memory: owned by the element; the result is
 * shared by the rows of one page and lives until the last of them is released. */
typedef struct rv_cassandra_row {
    const rv_cql_result_t *result; /* the page the row belongs to */
    size_t row;                    /* the row's index in result */
    uint64_t index;                /* the row's position in the whole query, from 0 */
} rv_cassandra_row_t;

/* CassandraQuery: a source emitting every row of `query` (prepared at start;
 * bind, when not NULL, binds its values once, with env NULL) as an
 * rv_cassandra_row_t *. It fetches page_size rows (> 0) per request, and asks
 * for the next page only when every row of the current one was emitted and
 * downstream has room again: at most one page waits in the stage. Each row's
 * metadata: topic "cassandra-query", offset = the row's index, origin_kind
 * "cassandra" (no ack). Completes after the last page; a failed fetch (after retries)
 * fails it. rv_graph_stop completes it at once: the request in flight is
 * cancelled and rows fetched but not yet emitted are dropped.
 * Ownership: the graph owns the stage; query copied; s borrowed. */
rv_stage_t *rv_cassandra_query(rv_graph_t *g, rv_cql_session_t *s, const char *query,
                               int32_t page_size, rv_cassandra_bind_fn bind, void *opaque);

/* Maps row `row` of res to a new user value *out (owned by the page; freed with
 * the stage's item_free). Return RV_OK, or an error for the decider (resume
 * skips the row). res is borrowed for the call. */
typedef rv_err_t (*rv_cassandra_row_fn)(const rv_cql_result_t *res, size_t row, void **out,
                                        rv_error_t **errp, void *opaque);

/* What CassandraMappedPaging emits: one page of mapped rows. Memory: owned by
 * the element (items freed with the stage's item_free). */
typedef struct rv_cassandra_page {
    size_t n;           /* page_size, except for the last page */
    void **items;       /* the mapped rows, in query order */
    uint64_t index;     /* the page's number, from 0 */
    uint64_t first_row; /* the position of items[0] in the whole query */
} rv_cassandra_page_t;

/* CassandraMappedPaging: a source emitting the rows of `query`, mapped by map,
 * in pages of exactly page_size (> 0) items (the last page may be smaller; a
 * query without rows emits nothing). One element per page; the next CQL page
 * is fetched only when fewer than page_size values wait and downstream has
 * room for another element, so less than two pages of values wait in the
 * stage. Each page's metadata: topic
 * "cassandra-mapped-paging", offset = the page's index, origin_kind
 * "cassandra". Query, bind and errors as rv_cassandra_query.
 * Ownership: the graph owns the stage; query copied; s borrowed. */
rv_stage_t *rv_cassandra_mapped_paging(rv_graph_t *g, rv_cql_session_t *s, const char *query,
                                       int32_t page_size, rv_cassandra_bind_fn bind,
                                       rv_cassandra_row_fn map, rv_free_fn item_free, void *opaque);

/* ==================================================================== settings */

/* Sets the backoff of retriable errors for any stage above that executes
 * requests (copied; NULL: never retry). Before rv_graph_run. Returns st. */
rv_stage_t *rv_cassandra_set_backoff(rv_stage_t *st, const rv_backoff_t *backoff);

/* Counters of a Cassandra stage (for tests and dashboards). */
typedef struct rv_cassandra_stats {
    uint64_t requests;      /* CQL requests started (prepares excluded) */
    uint64_t succeeded;     /* elements done successfully (sources: rows or pages emitted) */
    uint64_t failed;        /* elements released as failed */
    uint64_t retries;       /* retries scheduled (after a backoff) */
    uint64_t not_applied;   /* conditional results that were not applied */
    uint64_t in_flight;     /* elements (or page requests) held now */
    uint64_t in_flight_max; /* the most ever held at once */
    uint64_t pages;         /* sources: CQL pages fetched */
    uint64_t rows;          /* sources: rows fetched */
    uint64_t cancelled;     /* requests cancelled (abort, failure, stop) */
} rv_cassandra_stats_t;

/* Fills *out (zeros when st is not a Cassandra stage). */
void rv_cassandra_get_stats(const rv_stage_t *st, rv_cassandra_stats_t *out);

#ifdef __cplusplus
}
#endif
#endif
