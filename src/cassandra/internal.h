/* Internals shared by the Cassandra stages:
 *
 *   common.c  the state header every stage starts with (stats, backoff), and
 *             preparing statements when the graph starts
 *   exec.c    the request engine of the sink, the retry sink and the LWT flow:
 *             N slots, one element each, retries with backoff, cancellation
 *   pager.c   the paged fetch of the query sources
 *
 * Every stage's state begins with rv__cass_common_t, and every kind name
 * begins with "cassandra-", which is how rv_cassandra_get_stats and
 * rv_cassandra_set_backoff recognise a stage of this folder. */
#ifndef RV_CASSANDRA_INTERNAL_H
#define RV_CASSANDRA_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rivulet/cassandra.h"
#include "rivulet/stages.h"

/* ------------------------------------------------------------------ common */

typedef struct rv__cass_common {
    rv_cassandra_stats_t stats;
    bool has_backoff;
    rv_backoff_t backoff;
} rv__cass_common_t;

/* The default backoff of retriable errors (see cassandra.h). */
extern const rv_backoff_t rv__cass_default_backoff;

void rv__cass_common_init(rv__cass_common_t *c);
/* The common header of a Cassandra stage, or NULL for another kind. */
rv__cass_common_t *rv__cass_common(const rv_stage_t *st);
/* Counts one more element or request held, for in_flight / in_flight_max. */
void rv__cass_held(rv__cass_common_t *c, rv_stage_t *st, uint64_t now_held);

/* Records err (with the stage's name) in the graph and returns NULL: for
 * constructors. Ownership: takes err. */
rv_stage_t *rv__cass_build_error(rv_graph_t *g, rv_error_t *err);
/* True (and the error recorded) when s is not usable by a stage of g. */
bool rv__cass_bad_session(rv_graph_t *g, rv_cql_session_t *s, const char *kind);

/* ------------------------------------------------------- preparing at start */

typedef struct rv__cass_prep_item {
    struct rv__cass_prep *p;
    char *query;
    const rv_cql_prepared_t *prepared;
    rv_cql_request_t *req;
} rv__cass_prep_item_t;

typedef struct rv__cass_prep {
    rv_stage_t *st;
    rv_cql_session_t *s;
    rv__cass_prep_item_t *items;
    size_t n, pending;
    bool started;
    /* Runs once every statement is prepared (possibly never). */
    void (*ready)(rv_stage_t *st);
} rv__cass_prep_t;

/* Adds a query; returns its index, or -1 when out of memory. */
int rv__cass_prep_add(rv__cass_prep_t *p, const char *query);
/* Sends the PREPAREs (the start hook). With nothing to prepare, ready runs on
 * the stage's next wake (the caller checks rv__cass_prep_ready). A prepare
 * that fails fails the stage. */
rv_err_t rv__cass_prep_start(rv__cass_prep_t *p, rv_stage_t *st, rv_cql_session_t *s,
                             void (*ready)(rv_stage_t *st), rv_error_t **errp);
bool rv__cass_prep_ready(const rv__cass_prep_t *p);
/* Cancels outstanding PREPAREs (abort, failure, stop). */
void rv__cass_prep_cancel(rv__cass_prep_t *p);
void rv__cass_prep_free(rv__cass_prep_t *p);

/* Makes a statement of p, calls bind on it and checks the statement's own bind
 * error. Returns the statement, or NULL with *errp set (which names the
 * stage). Ownership: the caller owns the statement. */
rv_cql_stmt_t *rv__cass_bind(rv_stage_t *st, const rv_cql_prepared_t *p, rv_cassandra_bind_fn fn,
                             rv_env_t *env, void *opaque, rv_error_t **errp);

/* ---------------------------------------------------------- request engine */

typedef struct rv__cass_exec rv__cass_exec_t;

/* Starts one attempt of a slot's element: ends with rv__cass_exec_complete
 * (directly or from a request's callback). */
typedef void (*rv__cass_run_fn)(rv_cassandra_cmd_t *cmd);

typedef enum { RV__SLOT_FREE, RV__SLOT_RUNNING, RV__SLOT_WAITING, RV__SLOT_DONE } rv__slot_state_t;

struct rv_cassandra_cmd {
    rv__cass_exec_t *x;
    int index;
    rv__slot_state_t state;
    rv_env_t *env; /* the element; the slot holds one reference */
    rv_env_t *out; /* flows: the envelope to emit once DONE */
    int attempt;   /* 0 on the first call, n on the n-th retry */
    int failures;  /* failed attempts, for the decider */
    rv_cql_request_t *req;
    rv_cassandra_cmd_result_fn cb;
    void *cb_opaque;
    void *data;
    rv_free_fn data_free;
    rv_timer_t *timer;
};

struct rv__cass_exec {
    rv__cass_common_t c; /* first: see rv__cass_common */
    rv_stage_t *st;
    rv_cql_session_t *s;
    int n;
    rv_cassandra_cmd_t *slots;
    int *free_q, free_n;
    bool flow, ordered;
    int head, count; /* ordered flows: ring of occupied slots in input order */
    int *done_q;     /* unordered flows: completed slots in completion order */
    int done_head, done_n;
    int in_flight;
    bool retry_not_applied;
    rv__cass_run_fn run;
    rv__cass_prep_t prep;
    /* The stage's own arguments. */
    rv_cassandra_cmd_fn fn;
    rv_cassandra_bind_fn bind;
    void *opaque;
    bool upstream_done, cancelled, pumping;
};

/* A new engine stage of kind `kind` with n slots, flow (one output) or sink. */
rv__cass_exec_t *rv__cass_exec_new(rv_graph_t *g, rv_cql_session_t *s, const char *kind, int n,
                                   bool flow, bool ordered, rv__cass_run_fn run);
/* Ends an attempt: err NULL and out (flows: the envelope to emit, taken) on
 * success. Ownership: takes err and out. */
void rv__cass_exec_complete(rv_cassandra_cmd_t *cmd, rv_env_t *out, rv_error_t *err);

/* ---------------------------------------------------------------- pager */

typedef struct rv__cass_pager rv__cass_pager_t;

struct rv__cass_pager {
    rv__cass_common_t c; /* first: see rv__cass_common */
    rv_stage_t *st;
    rv_cql_session_t *s;
    rv__cass_prep_t prep;
    int32_t page_size;
    rv_cassandra_bind_fn bind;
    void *opaque;
    rv_cql_stmt_t *stmt; /* bound once, then re-sent with each paging state */
    rv_cql_request_t *req;
    rv_timer_t *timer;
    int attempt;
    bool last_page; /* the last page arrived: nothing more to fetch */
    bool waiting;   /* a retry is scheduled */
    /* The stage's page handler: takes res. */
    void (*on_page)(rv__cass_pager_t *pg, rv_cql_result_t *res);
};

/* Initialises the pager part of a source's state (after rv_stage_new). */
rv_err_t rv__cass_pager_init(rv__cass_pager_t *pg, rv_stage_t *st, rv_cql_session_t *s,
                             const char *query, int32_t page_size, rv_cassandra_bind_fn bind,
                             void *opaque, void (*on_page)(rv__cass_pager_t *, rv_cql_result_t *));
/* The start hook's part: prepares the query. */
rv_err_t rv__cass_pager_start(rv__cass_pager_t *pg, rv_error_t **errp);
/* Fetches the next page unless one is on its way, a retry waits, the last
 * page arrived or the statement is not prepared yet. */
void rv__cass_pager_fetch(rv__cass_pager_t *pg);
/* True while a fetch is outstanding or scheduled. */
bool rv__cass_pager_busy(const rv__cass_pager_t *pg);
/* Cancels the outstanding request and timer (drain, abort, failure). */
void rv__cass_pager_cancel(rv__cass_pager_t *pg);
/* Frees what the pager holds (the stop hook). */
void rv__cass_pager_free(rv__cass_pager_t *pg);

#endif
