/* A tiny fake CQL server (native protocol v4) for the Cassandra stage tests.
 * It listens on 127.0.0.1 (an ephemeral port) on the test's own libuv loop and
 * answers what a session without peer discovery sends: STARTUP (READY),
 * OPTIONS (SUPPORTED), PREPARE (a prepared result for a statement the test
 * registered), EXECUTE / QUERY / BATCH (VOID unless the test's handler answers
 * otherwise). The handler may answer at once (rows, an LWT result, an error),
 * or hold the request to answer it later (a stalled server), or never.
 *
 * Written from the protocol specification (doc/native_protocol_v4.spec in
 * apache/cassandra): frame header, notations, RESULT and ERROR bodies. */
#ifndef RV_TEST_FAKE_CQL_H
#define RV_TEST_FAKE_CQL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define FAKE_OP_ERROR     0x00
#define FAKE_OP_STARTUP   0x01
#define FAKE_OP_READY     0x02
#define FAKE_OP_OPTIONS   0x05
#define FAKE_OP_SUPPORTED 0x06
#define FAKE_OP_QUERY     0x07
#define FAKE_OP_RESULT    0x08
#define FAKE_OP_PREPARE   0x09
#define FAKE_OP_EXECUTE   0x0A
#define FAKE_OP_REGISTER  0x0B
#define FAKE_OP_BATCH     0x0D

/* A statement the server knows how to prepare: its bind markers (type ids of
 * the spec, e.g. 0x0009 int) and, for a SELECT, its result columns. */
typedef struct fake_stmt {
    const char *query;
    int nbind;
    uint16_t bind_types[8];
    int ncols;
    const char *col_names[8];
    uint16_t col_types[8];
} fake_stmt_t;

typedef struct fake_cql fake_cql_t;
typedef struct fake_conn fake_conn_t;

#define FAKE_MAX_VALUES    16
#define FAKE_MAX_VALUE_LEN 64

/* One request as received (a copy: it may be kept to answer later). */
typedef struct fake_req {
    fake_cql_t *f;
    fake_conn_t *conn;
    int16_t stream;
    uint8_t opcode;
    char query[1024]; /* QUERY and PREPARE text */
    int stmt;         /* EXECUTE: the index of the registered statement, -1 when unknown */
    uint16_t consistency;
    size_t nvalues;
    int32_t value_lens[FAKE_MAX_VALUES]; /* -1 null, -2 unset */
    uint8_t values[FAKE_MAX_VALUES][FAKE_MAX_VALUE_LEN];
    int32_t page_size;  /* -1 when absent */
    int32_t paging_len; /* -1 when absent */
    uint8_t paging[64];
    bool answered;
} fake_req_t;

/* Decides about one request. Return true when it answered it (fake_reply_*),
 * held it (fake_hold) or wants it ignored; false for the default answer. */
typedef bool (*fake_handler_fn)(fake_req_t *r, void *opaque);

struct fake_cql {
    uv_loop_t *loop;
    uv_tcp_t server;
    int port;
    const fake_stmt_t *stmts;
    size_t nstmts;
    fake_handler_fn handler;
    void *opaque;
    fake_conn_t *conns;
    int open_handles;
    /* counters */
    int prepares, executes, queries, batches;
    int outstanding; /* EXECUTE/QUERY/BATCH received and not answered */
    int max_outstanding;
};

/* Starts listening. stmts (n of them) must outlive the server. */
fake_cql_t *fake_new(uv_loop_t *loop, const fake_stmt_t *stmts, size_t n, fake_handler_fn fn,
                     void *opaque);
/* Closes the listener and every connection; memory goes once the loop ran the
 * close callbacks. */
void fake_close(fake_cql_t *f);
/* Closes every client connection (the server "goes away"). */
void fake_drop_conns(fake_cql_t *f);

/* A heap copy of r to answer later; free with fake_req_free (after answering,
 * or to forget it). */
fake_req_t *fake_hold(fake_req_t *r);
void fake_req_free(fake_req_t *r);

/* Answers (to a request as received, or to a held one). */
void fake_reply_void(fake_req_t *r);
/* An ERROR; for Unavailable, Write_timeout and Read_timeout the spec's extra
 * fields are added with made-up values. */
void fake_reply_error(fake_req_t *r, int code, const char *msg);
/* A rows result with int columns cols[0..ncols) and nrows rows (vals row by
 * row); with paging state when paging_len >= 0. */
void fake_reply_int_rows(fake_req_t *r, const char *const *cols, size_t ncols, const int32_t *vals,
                         size_t nrows, const void *paging, int32_t paging_len);
/* An LWT result: "[applied]" and, when not applied, an int column "version". */
void fake_reply_lwt(fake_req_t *r, bool applied, int32_t version);

/* Big-endian int of a bound value (4 bytes), or def when absent / not 4 bytes. */
int32_t fake_value_int(const fake_req_t *r, size_t i, int32_t def);

#endif
