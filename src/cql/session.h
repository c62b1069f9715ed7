/* The CQL client's runtime: session, hosts, connections, requests, deadlines
 * and the prepared-statement cache. One header because these objects point at
 * each other; each has its own source file:
 *
 *   deadline.c  one uv_timer_t per session driving a heap of deadlines
 *   conn.c      one TCP connection: handshake, stream ids, reading, writing
 *   request.c   a request's life: dispatch, queue, retry, re-prepare, completion
 *   prepared.c  the prepared-statement cache and rv_cql_prepare()
 *   schema.c    waiting for schema agreement after DDL
 *   session.c   hosts, pools, discovery, token ring, reconnection, close
 *
 * Everything runs on the session's loop thread.
 */
#ifndef RV_CQL_SESSION_H
#define RV_CQL_SESSION_H

#include <netinet/in.h>
#include <sys/socket.h>
#include <uv.h>

#include "cql/frame.h"
#include "cql/message.h"
#include "cql/response.h"
#include "cql/stmt.h"
#include "rivulet/cql.h"

typedef struct rv__cql_conn rv__cql_conn_t;
typedef struct rv__cql_host rv__cql_host_t;
typedef struct rv__cql_pentry rv__cql_pentry_t;

/* ---------------------------------------------------------------- deadlines */

typedef struct rv__cql_deadline rv__cql_deadline_t;
typedef void (*rv__cql_deadline_fn)(rv__cql_deadline_t *d);

struct rv__cql_deadline {
    uint64_t at; /* loop time, ms */
    size_t idx;  /* position in the heap + 1; 0 when not armed */
    rv__cql_deadline_fn fn;
};

typedef struct rv__cql_timers {
    rv__cql_deadline_t **heap;
    size_t n, cap;
    uv_timer_t timer;
    uint64_t armed_at; /* when the uv timer is due; UINT64_MAX when stopped */
} rv__cql_timers_t;

void rv__cql_timers_init(rv__cql_timers_t *t, uv_loop_t *loop);
/* (Re)arms d to fire at loop time `at`. False when out of memory. */
bool rv__cql_deadline_arm(rv__cql_timers_t *t, rv__cql_deadline_t *d, uint64_t at);
void rv__cql_deadline_disarm(rv__cql_timers_t *t, rv__cql_deadline_t *d);
static inline bool rv__cql_deadline_armed(const rv__cql_deadline_t *d)
{
    return d->idx != 0;
}
void rv__cql_timers_free(rv__cql_timers_t *t);

/* ----------------------------------------------------------------- requests */

typedef enum rv__cql_rq_kind {
    RV__RQ_EXECUTE, /* user statement or batch: cb */
    RV__RQ_PREPARE, /* user rv_cql_prepare: pcb, waits on a cache entry */
    RV__RQ_INTERNAL /* the session's own: done */
} rv__cql_rq_kind_t;

typedef enum rv__cql_rq_state {
    RV__RQS_NEW,
    RV__RQS_QUEUED,    /* in the session's queue */
    RV__RQS_INFLIGHT,  /* written (or being written) on conn with stream */
    RV__RQS_REPREPARE, /* waiting for a re-prepare */
    RV__RQS_SCHEMA,    /* holding a schema-change result until agreement */
    RV__RQS_WAITING,   /* a prepare waiter (entry preparing, or deferred) */
    RV__RQS_DONE
} rv__cql_rq_state_t;

typedef void (*rv__cql_done_fn)(rv_cql_request_t *rq, rv__cql_response_t *resp,
                                const rv_error_t *err);

struct rv_cql_request {
    rv_cql_session_t *s;
    rv__cql_rq_kind_t kind;
    rv__cql_rq_state_t state;
    rv__cql_buf_t frame;    /* the whole request frame, kept for re-sends */
    rv__cql_id_slot_t *ids; /* prepared ids inside frame (offsets from its start) */
    size_t nids;
    bool idempotent;
    bool orphan;  /* its caller is gone; freed when the stream comes back */
    int attempts; /* re-sends by the retry policy */
    int reprepares;
    rv__cql_deadline_t deadline;
    rv__cql_deadline_t aux; /* schema agreement polling */
    uint64_t schema_until;
    rv__cql_conn_t *conn; /* in flight on */
    int16_t stream;
    rv__cql_conn_t *pin;       /* must go on this connection (handshake, heartbeat) */
    rv__cql_host_t *prefer;    /* try this host first (re-prepared there) */
    rv__cql_host_t *last_host; /* where the previous attempt went */
    bool has_token;
    int64_t token;
    rv_cql_request_t *next, *prev; /* in `list` */
    struct rv__cql_rq_list *list;  /* the queue or waiter list it is in, or NULL */
    rv_cql_result_fn cb;
    rv_cql_prepare_fn pcb;
    void *opaque;
    rv__cql_done_fn done;     /* internal requests */
    void *ctx;                /* internal requests' context */
    rv__cql_pentry_t *pentry; /* prepare waiters, re-prepare waiters */
    rv_cql_result_t *held;    /* schema agreement: the result to deliver */
    rv_cql_request_t *child;  /* schema agreement: the system query in flight */
    uint8_t schema_local[16]; /* schema agreement: the coordinator's version */
};

/* Intrusive FIFO of requests (via next/prev). */
typedef struct rv__cql_rq_list {
    rv_cql_request_t *head, *tail;
    size_t n;
} rv__cql_rq_list_t;

void rv__cql_rq_list_push(rv__cql_rq_list_t *l, rv_cql_request_t *rq);
void rv__cql_rq_list_remove(rv__cql_rq_list_t *l, rv_cql_request_t *rq);
rv_cql_request_t *rv__cql_rq_list_pop(rv__cql_rq_list_t *l);

/* A new request frame holder with a deadline timeout_ms from now.
 * Ownership: the session's until completion. */
rv_cql_request_t *rv__cql_request_new(rv_cql_session_t *s, rv__cql_rq_kind_t kind,
                                      uint64_t timeout_ms);
/* Starts an internal request whose frame is already encoded: sent on pin when
 * given, else to any host. done is called once (with resp or err). */
void rv__cql_request_start(rv_cql_request_t *rq);
void rv__cql_request_free(rv_cql_request_t *rq);
/* A response for an in-flight request (the stream is already released). */
void rv__cql_request_on_response(rv_cql_request_t *rq, rv__cql_response_t *resp);
/* The connection carrying rq failed. */
void rv__cql_request_on_conn_error(rv_cql_request_t *rq, const rv_error_t *err);
/* Completes a user request with a result or an error (calls its callback
 * unless cancelled) and frees it. Ownership: takes res. */
void rv__cql_request_complete(rv_cql_request_t *rq, rv_cql_result_t *res, const rv_error_t *err);
/* Re-dispatches after a retriable failure, or completes with err. */
void rv__cql_request_retry_or_fail(rv_cql_request_t *rq, const rv_error_t *err, bool retry);
/* Sends rq now if a connection can take it, else queues it. */
void rv__cql_request_dispatch(rv_cql_request_t *rq);
/* Sends queued requests while connections have room. */
void rv__cql_session_drain(rv_cql_session_t *s);
/* Rewrites the prepared ids inside rq's frame that differ from their
 * statement's current id (after a re-prepare changed it). False when out of
 * memory. */
bool rv__cql_request_update_ids(rv_cql_request_t *rq);
/* Cancels without a callback (see rv_cql_request_cancel); internal requests too. */
void rv__cql_request_abandon(rv_cql_request_t *rq);

/* ------------------------------------------------------------- connections */

typedef enum rv__cql_conn_state {
    RV__CONN_CONNECTING,
    RV__CONN_HANDSHAKE,
    RV__CONN_READY,
    RV__CONN_CLOSING
} rv__cql_conn_state_t;

struct rv__cql_conn {
    rv_cql_session_t *s;
    rv__cql_host_t *host;
    size_t slot; /* index in host->conns */
    rv__cql_conn_state_t state;
    uv_tcp_t tcp;
    uv_connect_t creq;
    uv_write_t wreq;
    rv__cql_buf_t out;  /* frames waiting to be written */
    rv__cql_buf_t wbuf; /* frames being written */
    bool writing;
    uint8_t *rbuf;
    size_t rlen, rcap;
    rv_cql_request_t **slots; /* by stream id */
    uint16_t *free_ids;
    size_t nfree, nstreams;
    size_t inflight; /* live requests on the wire */
    size_t orphans;  /* abandoned requests still holding a stream */
    rv__cql_deadline_t connect_deadline;
    rv__cql_deadline_t heartbeat;
    uint64_t last_read; /* loop time of the last frame received */
    bool heartbeat_inflight;
    bool was_ready;
    bool defunct; /* too many orphans: closed on the next timer turn */
    bool dirty;   /* in the session's list of connections to flush */
    rv__cql_conn_t *dirty_next, *dirty_prev;
    int pending_uv_err; /* a connect that failed at once, reported later */
    char desc[80];      /* "127.0.0.1:9042#0" for messages */
};

/* Opens a connection to host for pool slot `slot` (handshake included).
 * The session hears back through rv__cql_session_on_conn_ready/closed. */
rv__cql_conn_t *rv__cql_conn_open(rv__cql_host_t *host, size_t slot);
/* Whether the connection can take one more request now. */
bool rv__cql_conn_has_room(const rv__cql_conn_t *c);
/* Gives rq a stream id and writes its frame; false when no stream is free. */
bool rv__cql_conn_send(rv__cql_conn_t *c, rv_cql_request_t *rq);
/* Closes the connection with a reason: every in-flight request hears err
 * (retried or failed), then the socket closes. NULL err: a quiet close. */
void rv__cql_conn_fail(rv__cql_conn_t *c, const rv_error_t *err);
/* Writes the frames of every connection that has some (the session's
 * uv_prepare_t calls it just before the loop polls). */
void rv__cql_conn_flush_dirty(rv_cql_session_t *s);
/* The request gives up its stream (timeout or cancel); the stream stays
 * reserved until the server answers. */
void rv__cql_conn_orphan(rv__cql_conn_t *c, rv_cql_request_t *rq);

/* -------------------------------------------------------------------- hosts */

struct rv__cql_host {
    rv_cql_session_t *s;
    struct sockaddr_storage addr;
    char name[64];          /* "127.0.0.1:9042" */
    rv__cql_conn_t **conns; /* per_host slots, NULL when empty */
    size_t nready;
    size_t rr;    /* round robin among its connections */
    int attempts; /* consecutive failed connection attempts */
    bool tried;   /* one connection attempt completed (connect phase) */
    bool fatal;   /* authentication failed: do not retry */
    bool is_contact;
    rv__cql_deadline_t reconnect;
    rv_error_t *last_error;
    int64_t *tokens; /* from system.local / system.peers */
    size_t ntokens;
};

/* ---------------------------------------------------------- prepared cache */

struct rv__cql_pentry {
    rv_cql_prepared_t p; /* first: the public handle is the entry */
    bool ready;
    rv__cql_rq_list_t waiters;     /* user prepares waiting for the first PREPARE */
    rv__cql_rq_list_t repreparing; /* requests waiting for a re-prepare */
    rv__cql_host_t *reprep_host;   /* where the re-prepare in flight goes */
    bool reprep_inflight;
    rv__cql_pentry_t *next; /* hash chain */
};

rv__cql_pentry_t *rv__cql_pcache_find(rv_cql_session_t *s, const char *query, size_t len);
/* A request was answered UNPREPARED for the entry whose id is id: re-prepare
 * on the same host (coalesced with other requests), then re-send rq. */
void rv__cql_reprepare(rv_cql_request_t *rq, const rv__cql_srv_error_t *e, const rv_error_t *err);
/* Fails and frees every cache entry's waiters (session close). */
void rv__cql_pcache_fail_all(rv_cql_session_t *s, const rv_error_t *err);
void rv__cql_pcache_free(rv_cql_session_t *s);
/* Deferred prepare completions (cache hits), run from the idle handle. */
void rv__cql_deferred_run(rv_cql_session_t *s);
/* Makes rv__cql_deferred_run run on the next loop turn. */
void rv__cql_session_defer(rv_cql_session_t *s);

/* --------------------------------------------------------- schema agreement */

/* Holds rq's schema-change result until the hosts agree (or the timeout), then
 * completes rq. Ownership: takes res. */
void rv__cql_schema_wait(rv_cql_request_t *rq, rv_cql_result_t *res);

/* ----------------------------------------------------------------- session */

typedef enum rv__cql_session_state {
    RV__SESS_NEW,
    RV__SESS_CONNECTING,
    RV__SESS_CONNECTED,
    RV__SESS_CLOSING,
    RV__SESS_CLOSED
} rv__cql_session_state_t;

typedef struct rv__cql_ring_entry {
    int64_t token;
    rv__cql_host_t *host;
} rv__cql_ring_entry_t;

struct rv_cql_session {
    uv_loop_t *loop;
    rv__cql_session_state_t state;

    /* Configuration, read once. */
    char *contact_points;
    int port;
    char *username, *password, *keyspace;
    size_t per_host;
    size_t max_streams;
    size_t queue_max;
    uint64_t request_timeout, connect_timeout, heartbeat_ms;
    uint64_t reconnect_min, reconnect_max;
    uint32_t max_frame;
    int consistency, serial;
    int32_t page_size;
    int retry_max;
    bool client_timestamps;
    uint64_t schema_timeout;
    bool token_aware;
    bool discovery;

    rv__cql_timers_t timers;
    uv_idle_t idle;
    uv_prepare_t flusher;  /* writes what requests queued, once per loop turn */
    rv__cql_conn_t *dirty; /* connections with frames to write */
    size_t open_handles;

    rv__cql_host_t **hosts;
    size_t nhosts;
    size_t rr;
    rv__cql_ring_entry_t *ring;
    size_t nring;

    rv__cql_rq_list_t queue;    /* waiting for a connection */
    rv__cql_rq_list_t deferred; /* prepare callbacks for the next loop turn */
    rv__cql_rq_list_t parked;   /* holding a result until schema agreement */
    rv__cql_pentry_t **pcache;
    size_t pcache_buckets, pcache_n;

    int64_t last_ts; /* client-side timestamps */
    uint64_t rng;    /* the session's own generator for reconnection jitter */

    rv_cql_session_fn connect_cb;
    void *connect_opaque;
    size_t resolving;           /* contact points being resolved */
    rv__cql_deadline_t later;   /* reports a connect failure on a later loop turn */
    rv__cql_conn_t *control;    /* the connection REGISTERed for cluster events */
    rv__cql_deadline_t refresh; /* re-reads system.peers after a topology event */
    bool refreshing;
    bool discovered;
    rv_error_t *connect_error; /* the last error while connecting */

    rv_cql_session_fn close_cb;
    void *close_opaque;
    bool quiet; /* destroying: no request callbacks */
    bool free_when_closed;

    rv_cql_log_fn log_fn;
    void *log_opaque;
    rv_cql_stats_t stats;
};

void rv__cql_log(rv_cql_session_t *s, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Hooks from connections. */
void rv__cql_session_on_conn_ready(rv__cql_conn_t *c);
void rv__cql_session_on_conn_closed(rv__cql_conn_t *c, const rv_error_t *err);
void rv__cql_session_on_conn_freed(rv_cql_session_t *s);
void rv__cql_session_on_event(rv__cql_conn_t *c, const rv__cql_response_t *resp);

/* The known host at addr (4 or 16 bytes) and the session's port, or NULL. */
rv__cql_host_t *rv__cql_session_find_host(rv_cql_session_t *s, const uint8_t *addr, size_t alen);
/* The connection to use for rq (NULL when none has room). */
rv__cql_conn_t *rv__cql_session_pick(rv_cql_session_t *s, rv_cql_request_t *rq);
/* Resolved query parameters for a statement. */
void rv__cql_session_params(rv_cql_session_t *s, int consistency, int serial, bool page_size_set,
                            int32_t page_size, int64_t timestamp, rv__cql_params_t *p);
/* The routing token of a prepared statement's bound partition key. */
bool rv__cql_session_token(rv_cql_session_t *s, const rv_cql_stmt_t *st, int64_t *token);

/* Encodes a plain-text QUERY for the session's own use (system tables). */
rv_cql_request_t *rv__cql_internal_query(rv_cql_session_t *s, const char *query,
                                         rv__cql_done_fn done, void *ctx);

#endif
