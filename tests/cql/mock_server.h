/* An in-process CQL server for the session tests: it listens on 127.0.0.1 on
 * the test's own libuv loop, parses request frames, and lets each test decide
 * the answers (or hold them, or send malformed bytes, or drop connections).
 * Anything a test's handler leaves alone gets a default answer: READY or
 * AUTHENTICATE to STARTUP, SASL PLAIN checking, SUPPORTED to OPTIONS, rows for
 * system.local / system.peers, a prepared id for PREPARE, VOID otherwise. */
#ifndef RV_CQL_MOCK_SERVER_H
#define RV_CQL_MOCK_SERVER_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "cql/frame.h"

typedef struct mock_server mock_server_t;
typedef struct mock_conn mock_conn_t;

/* One request as the mock received it. Memory: valid during the handler
 * (mock_hold() keeps a copy). */
typedef struct mock_req {
    mock_server_t *m;
    mock_conn_t *mc;
    uint8_t version, flags, opcode;
    int16_t stream;
    uint8_t *frame; /* the whole frame, header included */
    size_t frame_len;
    const uint8_t *body;
    size_t len;
    char query[2048];  /* QUERY and PREPARE text; "" otherwise */
    const uint8_t *id; /* EXECUTE: the prepared id */
    size_t id_len;
    uint16_t consistency; /* QUERY/EXECUTE */
    uint8_t qflags;
    size_t nvalues;
    const uint8_t *values[16];
    int32_t value_lens[16];
    int64_t timestamp; /* INT64_MIN when absent */
    bool held;
} mock_req_t;

/* Returns true when it took care of the request (answered, held or ignored). */
typedef bool (*mock_handler_fn)(mock_req_t *r, void *opaque);

struct mock_server {
    uv_loop_t *loop;
    uv_tcp_t server;
    bool listening;
    int port;
    mock_handler_fn handler;
    void *opaque;
    const char *password; /* non-NULL: PasswordAuthenticator with user "cassandra" */
    bool silent;          /* answer nothing at all (a stopped server) */
    uint8_t schema_version[16];
    int accepted, requests, prepares, options;
    mock_conn_t *conns;
    size_t open_handles;
};

mock_server_t *mock_new(uv_loop_t *loop, mock_handler_fn fn, void *opaque);
/* Listens again (on the same port) after mock_stop_listening. */
int mock_listen(mock_server_t *m);
void mock_stop_listening(mock_server_t *m);
/* Closes every client connection (the host "goes away"). */
void mock_drop_conns(mock_server_t *m);
/* Closes everything; the memory goes when the loop has run the close callbacks. */
void mock_close(mock_server_t *m);
size_t mock_conn_count(const mock_server_t *m);

/* Answers. */
void mock_reply(mock_req_t *r, uint8_t opcode, const void *body, size_t len);
void mock_reply_flags(mock_req_t *r, uint8_t flags, uint8_t opcode, const void *body, size_t len);
void mock_reply_void(mock_req_t *r);
void mock_reply_error(mock_req_t *r, int code, const char *msg);
/* Unavailable, with its details. */
void mock_reply_unavailable(mock_req_t *r);
void mock_reply_unprepared(mock_req_t *r, const uint8_t *id, size_t id_len);
/* A rows result with one int column "v" and the given values. */
void mock_reply_int_rows(mock_req_t *r, const int32_t *vals, size_t n);
/* A prepared result: id, nbind int markers (the first is the partition key). */
void mock_reply_prepared(mock_req_t *r, const uint8_t *id, size_t id_len, size_t nbind);
void mock_reply_schema_change(mock_req_t *r);
/* Arbitrary bytes on the request's connection. */
void mock_send_raw(mock_conn_t *mc, const void *p, size_t n);
/* Closes the request's connection. */
void mock_close_conn(mock_conn_t *mc);

/* Keeps a copy of the request to answer later; free with mock_req_free. */
mock_req_t *mock_hold(mock_req_t *r);
void mock_req_free(mock_req_t *r);

/* Runs the loop until *flag is true or ms pass; returns *flag. */
bool run_until(uv_loop_t *loop, const bool *flag, uint64_t ms);
/* Runs the loop for ms. */
void run_for(uv_loop_t *loop, uint64_t ms);

#endif
