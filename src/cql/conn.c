/* One connection to one host on a uv_tcp_t.
 *
 * Opening: TCP connect, STARTUP, then (when the server answers AUTHENTICATE)
 * one SASL PLAIN AUTH_RESPONSE, then `USE <keyspace>` when configured; all
 * within cql.connect.timeout.
 *
 * Requests: each gets a free stream id; its frame is appended to the output
 * buffer, which is written with one uv_write at a time, so frames queued
 * while a write is in progress leave together in the next one.
 *
 * Responses: bytes accumulate in a read buffer until a whole frame is there;
 * its header is checked first (direction, version, opcode, length against
 * cql.max.frame.size), so a hostile length never makes us allocate. A frame
 * that breaks the protocol — bad header, unknown stream, a body that does not
 * decode — closes the connection with an error that names the problem; the
 * requests in flight on it are then retried (idempotent ones) or failed.
 *
 * Liveness: after cql.heartbeat.interval without any frame from the server,
 * an OPTIONS is sent; no answer within cql.request.timeout closes the
 * connection. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cql/session.h"

#define CONTAINER_OF(p, type, member) ((type *)((char *)(p)-offsetof(type, member)))
#define READ_CHUNK                    65536

static void on_connect(uv_connect_t *req, int status);
static void on_connect_deadline(rv__cql_deadline_t *d);
static void on_heartbeat(rv__cql_deadline_t *d);
static void on_close(uv_handle_t *h);
static void ready(rv__cql_conn_t *c);

static void fail_code(rv__cql_conn_t *c, rv_err_t code, bool retriable, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void fail_code(rv__cql_conn_t *c, rv_err_t code, bool retriable, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    rv_error_t *e = rv_error_new(code, retriable, "connection %s: %s", c->desc, msg);
    rv__cql_conn_fail(c, e);
    rv_error_destroy(e);
}

rv__cql_conn_t *rv__cql_conn_open(rv__cql_host_t *host, size_t slot)
{
    rv_cql_session_t *s = host->s;
    rv__cql_conn_t *c = calloc(1, sizeof(*c));
    if (!c) return NULL;
    c->s = s;
    c->host = host;
    c->slot = slot;
    c->state = RV__CONN_CONNECTING;
    c->nstreams = s->max_streams;
    c->slots = calloc(c->nstreams, sizeof(*c->slots));
    c->free_ids = malloc(c->nstreams * sizeof(*c->free_ids));
    if (!c->slots || !c->free_ids) {
        free(c->slots);
        free(c->free_ids);
        free(c);
        return NULL;
    }
    /* A stack: the lowest ids are handed out first. */
    for (size_t i = 0; i < c->nstreams; i++)
        c->free_ids[i] = (uint16_t)(c->nstreams - 1 - i);
    c->nfree = c->nstreams;
    snprintf(c->desc, sizeof(c->desc), "%s#%zu", host->name, slot);
    c->connect_deadline.fn = on_connect_deadline;
    c->heartbeat.fn = on_heartbeat;
    uv_tcp_init(s->loop, &c->tcp);
    c->tcp.data = c;
    s->open_handles++;
    uv_tcp_nodelay(&c->tcp, 1);
    uv_tcp_keepalive(&c->tcp, 1, 30);
    c->creq.data = c;
    int r = uv_tcp_connect(&c->creq, &c->tcp, (const struct sockaddr *)&host->addr, on_connect);
    /* A connect that fails at once is reported on a later loop turn, like
     * every other failure, so that callers never see a callback from inside
     * their own call. */
    uint64_t now = uv_now(s->loop);
    if (r < 0) c->pending_uv_err = r;
    rv__cql_deadline_arm(&s->timers, &c->connect_deadline, r < 0 ? now : now + s->connect_timeout);
    return c;
}

static void on_connect_deadline(rv__cql_deadline_t *d)
{
    rv__cql_conn_t *c = CONTAINER_OF(d, rv__cql_conn_t, connect_deadline);
    if (c->state == RV__CONN_READY || c->state == RV__CONN_CLOSING) return;
    if (c->pending_uv_err)
        fail_code(c, RV_ERR_FROM_UV(c->pending_uv_err), true, "connect failed: %s",
                  uv_strerror(c->pending_uv_err));
    else
        fail_code(c, RV_ERR_TIMEOUT, true, "%s not completed within %llu ms (cql.connect.timeout)",
                  c->state == RV__CONN_CONNECTING ? "TCP connect" : "STARTUP/authentication",
                  (unsigned long long)c->s->connect_timeout);
}

bool rv__cql_conn_has_room(const rv__cql_conn_t *c)
{
    return c->state == RV__CONN_READY && c->nfree > 0;
}

/* ------------------------------------------------------------------ write */

static void flush(rv__cql_conn_t *c);

static void on_flush(uv_prepare_t *h)
{
    rv__cql_conn_flush_dirty(h->data);
}

/* Frames are not written when queued but once per loop turn, from the
 * session's prepare handle, just before the loop polls: all the requests
 * that callbacks started during one turn (typically one per answer read)
 * leave in one write. */
static void mark_dirty(rv__cql_conn_t *c)
{
    rv_cql_session_t *s = c->s;
    if (c->dirty || c->writing || c->state == RV__CONN_CLOSING) return;
    c->dirty = true;
    c->dirty_prev = NULL;
    c->dirty_next = s->dirty;
    if (s->dirty) s->dirty->dirty_prev = c;
    s->dirty = c;
    if (!uv_is_active((uv_handle_t *)&s->flusher) && !uv_is_closing((uv_handle_t *)&s->flusher))
        uv_prepare_start(&s->flusher, on_flush);
}

static void unmark_dirty(rv__cql_conn_t *c)
{
    if (!c->dirty) return;
    if (c->dirty_prev)
        c->dirty_prev->dirty_next = c->dirty_next;
    else
        c->s->dirty = c->dirty_next;
    if (c->dirty_next) c->dirty_next->dirty_prev = c->dirty_prev;
    c->dirty = false;
    c->dirty_next = c->dirty_prev = NULL;
}

void rv__cql_conn_flush_dirty(rv_cql_session_t *s)
{
    while (s->dirty) {
        rv__cql_conn_t *c = s->dirty;
        unmark_dirty(c);
        flush(c);
    }
    uv_prepare_stop(&s->flusher);
}

static void on_write(uv_write_t *req, int status)
{
    rv__cql_conn_t *c = req->data;
    c->writing = false;
    rv__cql_buf_reset(&c->wbuf);
    if (c->state == RV__CONN_CLOSING) return;
    if (status < 0) {
        fail_code(c, RV_ERR_FROM_UV(status), true, "write failed: %s", uv_strerror(status));
        return;
    }
    if (c->out.len) mark_dirty(c);
}

static void flush(rv__cql_conn_t *c)
{
    if (c->writing || c->out.len == 0 || c->state == RV__CONN_CLOSING) return;
    /* Try the socket directly first: when it takes everything (the common
     * case) there is no write request, no deferred callback and no poll
     * registration change. Only what is left waits for uv_write. */
    uv_buf_t b = uv_buf_init((char *)c->out.data, (unsigned)c->out.len);
    int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    if (n == (int)c->out.len) {
        rv__cql_buf_reset(&c->out);
        return;
    }
    if (n < 0 && n != UV_EAGAIN) {
        fail_code(c, RV_ERR_FROM_UV(n), true, "write failed: %s", uv_strerror(n));
        return;
    }
    size_t done = n > 0 ? (size_t)n : 0;
    rv__cql_buf_t t = c->wbuf;
    c->wbuf = c->out;
    c->out = t;
    b = uv_buf_init((char *)c->wbuf.data + done, (unsigned)(c->wbuf.len - done));
    c->wreq.data = c;
    int r = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_write);
    if (r < 0) {
        fail_code(c, RV_ERR_FROM_UV(r), true, "write failed: %s", uv_strerror(r));
        return;
    }
    c->writing = true;
}

bool rv__cql_conn_send(rv__cql_conn_t *c, rv_cql_request_t *rq)
{
    if (c->nfree == 0 || c->state == RV__CONN_CLOSING) return false;
    if (!rv__cql_buf_reserve(&c->out, rq->frame.len)) {
        c->out.oom = false;
        return false;
    }
    uint16_t id = c->free_ids[--c->nfree];
    c->slots[id] = rq;
    c->inflight++;
    rq->conn = c;
    rq->stream = (int16_t)id;
    rq->state = RV__RQS_INFLIGHT;
    rq->last_host = c->host;
    rv__cql_frame_set_stream(rq->frame.data, (int16_t)id);
    rv__cql_put_raw(&c->out, rq->frame.data, rq->frame.len);
    c->s->stats.in_flight++;
    mark_dirty(c);
    return true;
}

void rv__cql_conn_orphan(rv__cql_conn_t *c, rv_cql_request_t *rq)
{
    rq->orphan = true;
    rq->conn = c;
    c->orphans++;
    c->inflight--;
    c->s->stats.in_flight--;
    /* Answers that never come pin stream ids forever: a connection that has
     * lost most of its streams this way is treated as dead — on the next timer
     * turn, since the caller still holds rq (which closing would free). */
    uint32_t limit = (uint32_t)c->nstreams * 3 / 4;
    if (limit == 0) limit = 1;
    if (c->orphans >= limit && c->state == RV__CONN_READY && !c->defunct) {
        c->defunct = true;
        rv__cql_deadline_arm(&c->s->timers, &c->heartbeat, uv_now(c->s->loop));
    }
}

/* ------------------------------------------------------------------ close */

void rv__cql_conn_fail(rv__cql_conn_t *c, const rv_error_t *err)
{
    if (c->state == RV__CONN_CLOSING) return;
    rv_cql_session_t *s = c->s;
    unmark_dirty(c);
    c->state = RV__CONN_CLOSING;
    rv__cql_deadline_disarm(&s->timers, &c->connect_deadline);
    rv__cql_deadline_disarm(&s->timers, &c->heartbeat);
    uv_close((uv_handle_t *)&c->tcp, on_close);
    if (err)
        rv__cql_log(s,
                    s->state == RV__SESS_CLOSING ? 3
                    : c->was_ready               ? 1
                                                 : 2,
                    "%s", rv_error_msg(err));

    /* The session's bookkeeping first: the connection must be gone before
     * any of its requests is retried elsewhere. */
    rv__cql_session_on_conn_closed(c, err);

    /* Then the requests, one at a time, straight from their slots: a callback
     * may cancel one still waiting here (it then becomes an orphan, freed
     * below) or close the whole session (this connection is already closing,
     * and its memory stays until uv_close calls back). */
    rv_error_t *e = err ? rv_error_copy(err)
                        : rv_error_new(RV_ERR_CLOSED, true, "connection %s closed", c->desc);
    for (size_t i = 0; i < c->nstreams; i++) {
        rv_cql_request_t *rq = c->slots[i];
        if (!rq) continue;
        c->slots[i] = NULL;
        if (rq->orphan) {
            c->orphans--;
            rv__cql_request_free(rq);
            continue;
        }
        c->inflight--;
        s->stats.in_flight--;
        rv__cql_request_on_conn_error(rq, e);
    }
    rv_error_destroy(e);
}

static void on_close(uv_handle_t *h)
{
    rv__cql_conn_t *c = h->data;
    rv_cql_session_t *s = c->s;
    rv__cql_buf_free(&c->out);
    rv__cql_buf_free(&c->wbuf);
    free(c->rbuf);
    free(c->slots);
    free(c->free_ids);
    free(c);
    s->open_handles--;
    rv__cql_session_on_conn_freed(s);
}

/* ------------------------------------------------------------------- read */

static void handle_frame(rv__cql_conn_t *c, const rv__cql_header_t *h, const uint8_t *src)
{
    rv_cql_session_t *s = c->s;
    uint8_t *body = malloc(h->length ? h->length : 1);
    if (!body) {
        fail_code(c, RV_ERR_NOMEM, true, "out of memory for a %u-byte frame", h->length);
        return;
    }
    memcpy(body, src, h->length);
    if (h->stream < 0) {
        rv__cql_response_t resp;
        rv_error_t *err = NULL;
        if (h->opcode != RV__CQL_OP_EVENT) {
            free(body);
            fail_code(c, RV_ERR_PROTOCOL, false, "protocol error: %s frame on stream %d",
                      rv__cql_opcode_name(h->opcode), h->stream);
            return;
        }
        if (rv__cql_response_decode(h, body, &resp, &err) == RV_OK)
            rv__cql_session_on_event(c, &resp);
        else
            rv__cql_log(s, 1, "connection %s: ignoring an EVENT: %s", c->desc, rv_error_msg(err));
        rv_error_destroy(err);
        rv__cql_response_free(&resp);
        return;
    }
    if ((size_t)h->stream >= c->nstreams || !c->slots[h->stream]) {
        free(body);
        fail_code(c, RV_ERR_PROTOCOL, false,
                  "protocol error: %s frame for stream %d, which has no request",
                  rv__cql_opcode_name(h->opcode), h->stream);
        return;
    }
    rv_cql_request_t *rq = c->slots[h->stream];
    c->slots[h->stream] = NULL;
    c->free_ids[c->nfree++] = (uint16_t)h->stream;
    rq->conn = NULL;
    if (rq->orphan) {
        c->orphans--;
        free(body);
        rv__cql_request_free(rq);
        return;
    }
    c->inflight--;
    s->stats.in_flight--;
    rv__cql_response_t resp;
    rv_error_t *err = NULL;
    if (rv__cql_response_decode(h, body, &resp, &err) != RV_OK) {
        rv_error_t *e = rv_error_new(rv_error_code(err), false,
                                     "connection %s: undecodable %s response on stream %d (%u "
                                     "bytes): %s",
                                     c->desc, rv__cql_opcode_name(h->opcode), h->stream, h->length,
                                     rv_error_msg(err));
        rv_error_destroy(err);
        rv__cql_response_free(&resp);
        /* The request fails with the decode error (the same server would
         * answer the same way), then the connection goes. */
        rq->state = RV__RQS_NEW;
        rv__cql_request_complete(rq, NULL, e);
        rv__cql_conn_fail(c, e);
        rv_error_destroy(e);
        return;
    }
    rv__cql_request_on_response(rq, &resp);
    rv__cql_response_free(&resp);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    rv__cql_conn_t *c = h->data;
    (void)suggested;
    if (c->rcap - c->rlen < READ_CHUNK) {
        size_t cap = c->rcap ? c->rcap : READ_CHUNK;
        while (cap - c->rlen < READ_CHUNK)
            cap *= 2;
        uint8_t *b = realloc(c->rbuf, cap);
        if (!b) {
            *buf = uv_buf_init(NULL, 0);
            return;
        }
        c->rbuf = b;
        c->rcap = cap;
    }
    *buf = uv_buf_init((char *)c->rbuf + c->rlen, (unsigned)(c->rcap - c->rlen));
}

static void process(rv__cql_conn_t *c)
{
    rv_cql_session_t *s = c->s;
    size_t pos = 0;
    while (c->state != RV__CONN_CLOSING && c->rlen - pos >= RV__CQL_HEADER_SIZE) {
        rv__cql_header_t h;
        rv_error_t *err = NULL;
        if (rv__cql_header_decode(c->rbuf + pos, s->max_frame, &h, &err) != RV_OK) {
            fail_code(c, rv_error_code(err), false, "%s", rv_error_msg(err));
            rv_error_destroy(err);
            return;
        }
        size_t need = RV__CQL_HEADER_SIZE + (size_t)h.length;
        if (c->rlen - pos < need) {
            /* Make room for the whole frame now (its length was checked). */
            if (c->rcap < need + READ_CHUNK) {
                uint8_t *b = realloc(c->rbuf, need + READ_CHUNK);
                if (!b) {
                    fail_code(c, RV_ERR_NOMEM, true, "out of memory for a %zu-byte frame", need);
                    return;
                }
                c->rbuf = b;
                c->rcap = need + READ_CHUNK;
            }
            break;
        }
        handle_frame(c, &h, c->rbuf + pos + RV__CQL_HEADER_SIZE);
        pos += need;
    }
    if (c->state == RV__CONN_CLOSING) return;
    if (pos) {
        memmove(c->rbuf, c->rbuf + pos, c->rlen - pos);
        c->rlen -= pos;
    }
    /* A large buffer that has been drained shrinks back. */
    if (c->rlen == 0 && c->rcap > 4 * READ_CHUNK) {
        free(c->rbuf);
        c->rbuf = NULL;
        c->rcap = 0;
    }
    if (s->queue.n) rv__cql_session_drain(s);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    rv__cql_conn_t *c = stream->data;
    (void)buf;
    if (c->state == RV__CONN_CLOSING) return;
    if (nread < 0) {
        if (nread == UV_EOF && c->rlen > 0)
            fail_code(c, RV_ERR_CLOSED, true,
                      "closed by the server in the middle of a frame (%zu bytes of it received)",
                      c->rlen);
        else if (nread == UV_EOF)
            fail_code(c, RV_ERR_CLOSED, true, "closed by the server");
        else if (nread == UV_ENOBUFS)
            fail_code(c, RV_ERR_NOMEM, true, "out of memory for the read buffer");
        else
            fail_code(c, RV_ERR_FROM_UV((int)nread), true, "read failed: %s",
                      uv_strerror((int)nread));
        return;
    }
    if (nread == 0) return;
    c->rlen += (size_t)nread;
    c->last_read = uv_now(c->s->loop);
    process(c);
}

/* -------------------------------------------------------------- handshake */

static rv_cql_request_t *hs_request(rv__cql_conn_t *c, rv__cql_done_fn done)
{
    rv_cql_request_t *rq = rv__cql_request_new(c->s, RV__RQ_INTERNAL, 0);
    if (!rq) {
        fail_code(c, RV_ERR_NOMEM, true, "out of memory");
        return NULL;
    }
    rq->pin = c;
    rq->done = done;
    rq->ctx = c;
    return rq;
}

static void hs_send(rv__cql_conn_t *c, rv_cql_request_t *rq)
{
    if (rq->frame.oom) {
        rv__cql_request_free(rq);
        fail_code(c, RV_ERR_NOMEM, true, "out of memory");
        return;
    }
    rv__cql_request_start(rq);
}

/* Common to every handshake answer: a closing connection ignores it, an error
 * (server ERROR, timeout, lost connection) fails the connection. True when the
 * step may go on. */
static bool hs_common(rv__cql_conn_t *c, rv__cql_response_t *resp, const rv_error_t *err)
{
    if (c->state == RV__CONN_CLOSING) return false;
    if (err) {
        rv__cql_conn_fail(c, err);
        return false;
    }
    if (resp->h.opcode == RV__CQL_OP_ERROR) {
        rv_error_t *e = rv__cql_error_to_error(&resp->error, c->desc);
        rv__cql_conn_fail(c, e);
        rv_error_destroy(e);
        return false;
    }
    return true;
}

static void hs_use_done(rv_cql_request_t *rq, rv__cql_response_t *resp, const rv_error_t *err)
{
    rv__cql_conn_t *c = rq->ctx;
    if (!hs_common(c, resp, err)) return;
    if (resp->h.opcode != RV__CQL_OP_RESULT || !resp->result ||
        resp->result->kind != RV_CQL_RESULT_SET_KEYSPACE) {
        fail_code(c, RV_ERR_PROTOCOL, false, "unexpected %s answer to USE",
                  rv__cql_opcode_name(resp->h.opcode));
        return;
    }
    ready(c);
}

static void after_auth(rv__cql_conn_t *c)
{
    rv_cql_session_t *s = c->s;
    if (!s->keyspace) {
        ready(c);
        return;
    }
    rv_cql_request_t *rq = hs_request(c, hs_use_done);
    if (!rq) return;
    /* USE "ks" with the name quoted, so that case is kept. */
    rv__cql_buf_t q;
    rv__cql_buf_init(&q);
    rv__cql_put_raw(&q, "USE \"", 5);
    for (const char *p = s->keyspace; *p; p++) {
        if (*p == '"')
            rv__cql_put_raw(&q, "\"\"", 2);
        else
            rv__cql_put_raw(&q, p, 1);
    }
    rv__cql_put_raw(&q, "\"", 1);
    rv__cql_params_t prm = {RV_CQL_ONE, -1, 0, NULL, 0, INT64_MIN};
    rv__cql_encode_query_text(&rq->frame, (const char *)q.data, q.len, &prm);
    rq->frame.oom |= q.oom;
    rv__cql_buf_free(&q);
    hs_send(c, rq);
}

static void hs_auth_done(rv_cql_request_t *rq, rv__cql_response_t *resp, const rv_error_t *err)
{
    rv__cql_conn_t *c = rq->ctx;
    if (!hs_common(c, resp, err)) return;
    if (resp->h.opcode == RV__CQL_OP_AUTH_SUCCESS) {
        after_auth(c);
        return;
    }
    fail_code(c, RV_ERR_FROM_CQL(RV_CQL_ERR_AUTH), false,
              "authentication: unexpected %s (SASL PLAIN takes one step)",
              rv__cql_opcode_name(resp->h.opcode));
}

static void hs_startup_done(rv_cql_request_t *rq, rv__cql_response_t *resp, const rv_error_t *err)
{
    rv__cql_conn_t *c = rq->ctx;
    rv_cql_session_t *s = c->s;
    if (!hs_common(c, resp, err)) return;
    if (resp->h.opcode == RV__CQL_OP_READY) {
        after_auth(c);
        return;
    }
    if (resp->h.opcode != RV__CQL_OP_AUTHENTICATE) {
        fail_code(c, RV_ERR_PROTOCOL, false, "unexpected %s answer to STARTUP",
                  rv__cql_opcode_name(resp->h.opcode));
        return;
    }
    if (!s->username) {
        fail_code(c, RV_ERR_FROM_CQL(RV_CQL_ERR_AUTH), false,
                  "the server requires authentication (%.*s) but cql.username is not set",
                  (int)(resp->text_len > 200 ? 200 : resp->text_len), resp->text);
        return;
    }
    rv_cql_request_t *a = hs_request(c, hs_auth_done);
    if (!a) return;
    rv__cql_encode_auth_plain(&a->frame, s->username, s->password ? s->password : "");
    hs_send(c, a);
}

static void on_connect(uv_connect_t *req, int status)
{
    rv__cql_conn_t *c = req->data;
    if (c->state == RV__CONN_CLOSING) return;
    if (status < 0) {
        fail_code(c, RV_ERR_FROM_UV(status), true, "connect failed: %s", uv_strerror(status));
        return;
    }
    c->state = RV__CONN_HANDSHAKE;
    int r = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (r < 0) {
        fail_code(c, RV_ERR_FROM_UV(r), true, "read failed: %s", uv_strerror(r));
        return;
    }
    rv_cql_request_t *rq = hs_request(c, hs_startup_done);
    if (!rq) return;
    rv__cql_encode_startup(&rq->frame);
    hs_send(c, rq);
}

static void ready(rv__cql_conn_t *c)
{
    rv_cql_session_t *s = c->s;
    c->state = RV__CONN_READY;
    c->was_ready = true;
    c->last_read = uv_now(s->loop);
    rv__cql_deadline_disarm(&s->timers, &c->connect_deadline);
    if (s->heartbeat_ms)
        rv__cql_deadline_arm(&s->timers, &c->heartbeat, c->last_read + s->heartbeat_ms);
    rv__cql_session_on_conn_ready(c);
}

/* -------------------------------------------------------------- heartbeat */

static void hb_done(rv_cql_request_t *rq, rv__cql_response_t *resp, const rv_error_t *err)
{
    rv__cql_conn_t *c = rq->ctx;
    if (!c || c->state == RV__CONN_CLOSING) return;
    c->heartbeat_inflight = false;
    if (err) {
        fail_code(c, rv_error_code(err), true, "heartbeat failed: %s", rv_error_msg(err));
        return;
    }
    (void)resp;
}

static void on_heartbeat(rv__cql_deadline_t *d)
{
    rv__cql_conn_t *c = CONTAINER_OF(d, rv__cql_conn_t, heartbeat);
    rv_cql_session_t *s = c->s;
    if (c->state != RV__CONN_READY) return;
    if (c->defunct) {
        fail_code(c, RV_ERR_TIMEOUT, true,
                  "%zu requests went unanswered past their deadline; reconnecting", c->orphans);
        return;
    }
    uint64_t now = uv_now(s->loop);
    if (!c->heartbeat_inflight && now - c->last_read >= s->heartbeat_ms) {
        rv_cql_request_t *rq = rv__cql_request_new(s, RV__RQ_INTERNAL, s->request_timeout);
        if (rq) {
            rq->pin = c;
            rq->done = hb_done;
            rq->ctx = c;
            rv__cql_encode_options(&rq->frame);
            c->heartbeat_inflight = true;
            rv__cql_request_start(rq);
            if (c->state != RV__CONN_READY) return;
        }
        rv__cql_deadline_arm(&s->timers, &c->heartbeat, now + s->heartbeat_ms);
        return;
    }
    /* Never in the past: a heartbeat still in flight is judged by its own
     * deadline. */
    uint64_t at = c->last_read + s->heartbeat_ms;
    rv__cql_deadline_arm(&s->timers, &c->heartbeat, at > now ? at : now + s->heartbeat_ms);
}
