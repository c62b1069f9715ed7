/* Where carts and their events live. Two implementations: SQLite (the
 * embedded default; a file, no server) and Cassandra (the real thing). The
 * pipeline and the query side only see this interface.
 *
 * All calls run on the loop thread and answer through a callback, which the
 * SQLite store calls before returning and the Cassandra store calls when the
 * server answered. An error passed to a callback is owned by the callback.
 */
#ifndef RV_CART_STORE_H
#define RV_CART_STORE_H

#include <uv.h>

#include "cart.h"
#include "rivulet/conf.h"

/* How the command side treats a redelivered command. */
typedef enum cart_mode {
    CART_MODE_DUPLICATES = 0, /* the seed's way: re-execute, log again, compensate later */
    CART_MODE_IDEMPOTENT = 1  /* remember positions with the cart and skip what was applied */
} cart_mode_t;

/* One command on its way through the pipeline. */
typedef struct cart_job {
    cart_cmd_t cmd;
    rv_uuid_t event_id;
    int32_t partition;
    int64_t offset;
    int64_t ts_ms;
} cart_job_t;

typedef enum cart_outcome {
    CART_APPLIED = 0,  /* the state changed (and, for apply_and_log, the event was logged) */
    CART_REJECTED = 1, /* the domain refused the command; nothing changed */
    CART_SKIPPED = 2   /* idempotent mode: this position was applied before */
} cart_outcome_t;

typedef void (*cart_done_fn)(rv_error_t *err, cart_outcome_t outcome, void *opaque);

/* One row of the event log as read back. */
typedef struct cart_row {
    cart_event_t ev;
    rv_uuid_t time; /* the row's timeuuid */
    bool correction;
    cart_state_t *snapshot; /* corrections only; owned by the row list */
} cart_row_t;

typedef void (*cart_state_fn)(rv_error_t *err, const cart_state_t *state, void *opaque);
/* rows are valid during the call only. */
typedef void (*cart_rows_fn)(rv_error_t *err, cart_row_t *rows, size_t n, void *opaque);
typedef void (*cart_ids_fn)(rv_error_t *err, const rv_uuid_t *ids, size_t n, void *opaque);

typedef struct cart_store cart_store_t;

typedef struct cart_store_ops {
    const char *name;
    /* The service: read the cart, apply the command, write it back with a
     * conditional update on the version. A lost race is RV_ERR_NOT_APPLIED
     * (retriable); the caller retries with backoff. */
    void (*apply)(cart_store_t *s, const cart_job_t *job, cart_mode_t mode, cart_done_fn cb,
                  void *opaque);
    /* The event log: one row for the job's event. In idempotent mode the row's
     * time is a function of the job, so logging twice writes the same row. */
    void (*log_event)(cart_store_t *s, const cart_job_t *job, cart_mode_t mode, cart_done_fn cb,
                      void *opaque);
    /* Both, atomically: the state change and its event row in one write. */
    void (*apply_and_log)(cart_store_t *s, const cart_job_t *job, cart_mode_t mode, cart_done_fn cb,
                          void *opaque);
    void (*get_cart)(cart_store_t *s, const rv_uuid_t *id, cart_state_fn cb, void *opaque);
    /* Events of a cart since since_ms (0: all), in time order. */
    void (*get_events)(cart_store_t *s, const rv_uuid_t *id, int64_t since_ms, cart_rows_fn cb,
                       void *opaque);
    void (*list_carts)(cart_store_t *s, cart_ids_fn cb, void *opaque);
    /* Compensation: replace the cart's state with `fixed` if its revision is
     * still `seen_version` (the revision the check read), and log a CartCorrected row (with event
     * id `correction_id`) in the same write when the store can (SQLite, the Cassandra ledger
     * layout) or right after. */
    void (*correct)(cart_store_t *s, const rv_uuid_t *id, int64_t seen_version,
                    const cart_state_t *fixed, const rv_uuid_t *correction_id, cart_done_fn cb,
                    void *opaque);
    /* Closes connections; cb runs when every handle is closed. */
    void (*close)(cart_store_t *s, void (*cb)(void *opaque), void *opaque);
} cart_store_ops_t;

struct cart_store {
    const cart_store_ops_t *ops;
};

/* Opens the SQLite store at path (created with its tables when missing).
 * Ownership: the caller owns the store; close it with ops->close. */
cart_store_t *cart_store_sqlite_open(uv_loop_t *loop, const char *path, rv_error_t **errp);

/* Opens the Cassandra store ("cql.*" keys for the connection and consistency,
 * "cart.cassandra.*" for the keyspace, replication and time buckets), creating
 * the keyspace and tables when missing. It runs loop until connected (call it
 * before starting anything else on the loop). The layout follows
 * "cart.topology": atomic uses the single-partition ledger table, the others
 * the carts table plus the bucketed event log.
 * Ownership: the caller owns the store; close it with ops->close. */
cart_store_t *cart_store_cassandra_open(uv_loop_t *loop, const rv_conf_t *conf, rv_error_t **errp);

/* The pieces the pipeline's Cassandra stages use (NULL / errors for another
 * store): the store's session (borrowed; it lives until the store closes),
 * the event-log INSERT for a CassandraBind stage, the function that binds a
 * job's event row to it, and the service call run as a CassandraRetrySink
 * command (its requests go through the command, so the stage can cancel them
 * and retries it; cb sees the outcome — and owns the error it is given, a
 * copy — just before the store ends the command's attempt with
 * rv_cassandra_cmd_done). */
struct rv_cql_session;
struct rv_cql_stmt;
struct rv_cassandra_cmd;
struct rv_cql_session *cart_store_cassandra_session(cart_store_t *s);
const char *cart_store_cassandra_event_query(cart_store_t *s);
rv_err_t cart_store_cassandra_bind_event(cart_store_t *s, struct rv_cql_stmt *stmt,
                                         const cart_job_t *job, cart_mode_t mode);
void cart_store_cassandra_service(cart_store_t *s, struct rv_cassandra_cmd *cmd,
                                  const cart_job_t *job, cart_mode_t mode, bool and_log,
                                  cart_done_fn cb, void *opaque);

/* Reads rows with a store call and hands them to the caller in one list
 * (helpers for the query side). */
void cart_rows_free(cart_row_t *rows, size_t n);

#endif
