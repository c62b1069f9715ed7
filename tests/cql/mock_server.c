/* The session tests' in-process CQL server (see mock_server.h). It writes
 * response frames by hand, with the frame primitives, so each test can shape
 * exactly the bytes the client receives. */
#include "mock_server.h"

#include <stdlib.h>
#include <string.h>

struct mock_conn {
    uv_tcp_t tcp;
    mock_server_t *m;
    uint8_t *buf;
    size_t len, cap;
    bool closing;
    mock_conn_t *next;
};

typedef struct wreq {
    uv_write_t req;
    uint8_t data[];
} wreq_t;

/* The server's memory goes with its last handle once mock_close was called
 * (port set to -1). */
static void on_handle_closed(uv_handle_t *h)
{
    mock_server_t *m = h->data;
    if (--m->open_handles == 0 && m->port < 0) free(m);
}

static void on_conn_closed(uv_handle_t *h)
{
    mock_conn_t *c = h->data;
    mock_server_t *m = c->m;
    free(c->buf);
    free(c);
    if (--m->open_handles == 0 && m->port < 0) free(m);
}

static bool conn_alive(mock_server_t *m, mock_conn_t *c)
{
    for (mock_conn_t *x = m->conns; x; x = x->next)
        if (x == c) return !c->closing;
    return false;
}

void mock_close_conn(mock_conn_t *c)
{
    if (c->closing) return;
    c->closing = true;
    mock_server_t *m = c->m;
    mock_conn_t **pp = &m->conns;
    while (*pp && *pp != c)
        pp = &(*pp)->next;
    if (*pp) *pp = c->next;
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

static void on_write(uv_write_t *req, int status)
{
    (void)status;
    free(req);
}

void mock_send_raw(mock_conn_t *c, const void *p, size_t n)
{
    if (c->closing) return;
    wreq_t *w = malloc(sizeof(*w) + n);
    memcpy(w->data, p, n);
    uv_buf_t b = uv_buf_init((char *)w->data, (unsigned)n);
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_write) < 0) free(w);
}

void mock_reply_flags(mock_req_t *r, uint8_t flags, uint8_t opcode, const void *body, size_t len)
{
    if (r->m->silent || !conn_alive(r->m, r->mc)) return;
    uint8_t *f = malloc(RV__CQL_HEADER_SIZE + len);
    rv__cql_header_t h = {0x84, flags, r->stream, opcode, (uint32_t)len};
    rv__cql_header_encode(f, &h);
    if (len) memcpy(f + RV__CQL_HEADER_SIZE, body, len);
    mock_send_raw(r->mc, f, RV__CQL_HEADER_SIZE + len);
    free(f);
}

void mock_reply(mock_req_t *r, uint8_t opcode, const void *body, size_t len)
{
    mock_reply_flags(r, 0, opcode, body, len);
}

static void reply_buf(mock_req_t *r, uint8_t opcode, rv__cql_buf_t *b)
{
    mock_reply(r, opcode, b->data, b->len);
    rv__cql_buf_free(b);
}

void mock_reply_void(mock_req_t *r)
{
    static const uint8_t body[] = {0, 0, 0, 1};
    mock_reply(r, RV__CQL_OP_RESULT, body, 4);
}

void mock_reply_error(mock_req_t *r, int code, const char *msg)
{
    rv__cql_buf_t b;
    rv__cql_buf_init(&b);
    rv__cql_put_i32(&b, code);
    rv__cql_put_string(&b, msg, strlen(msg));
    reply_buf(r, RV__CQL_OP_ERROR, &b);
}

void mock_reply_unavailable(mock_req_t *r)
{
    rv__cql_buf_t b;
    rv__cql_buf_init(&b);
    rv__cql_put_i32(&b, 0x1000);
    rv__cql_put_string(&b, "Cannot achieve consistency level QUORUM", 39);
    rv__cql_put_u16(&b, 4);
    rv__cql_put_i32(&b, 2);
    rv__cql_put_i32(&b, 1);
    reply_buf(r, RV__CQL_OP_ERROR, &b);
}

void mock_reply_unprepared(mock_req_t *r, const uint8_t *id, size_t id_len)
{
    rv__cql_buf_t b;
    rv__cql_buf_init(&b);
    rv__cql_put_i32(&b, 0x2500);
    rv__cql_put_string(&b, "Prepared query with ID not found", 32);
    rv__cql_put_short_bytes(&b, id, id_len);
    reply_buf(r, RV__CQL_OP_ERROR, &b);
}

static void put_rows_head(rv__cql_buf_t *b, const char *const *names, const uint16_t *types,
                          size_t ncols)
{
    rv__cql_put_i32(b, 2); /* Rows */
    rv__cql_put_i32(b, 1); /* global table spec */
    rv__cql_put_i32(b, (int32_t)ncols);
    rv__cql_put_string(b, "ks", 2);
    rv__cql_put_string(b, "t", 1);
    for (size_t i = 0; i < ncols; i++) {
        rv__cql_put_string(b, names[i], strlen(names[i]));
        rv__cql_put_u16(b, types[i]);
        if (types[i] == 0x22) /* set<text> */
            rv__cql_put_u16(b, 0x0d);
    }
}

void mock_reply_int_rows(mock_req_t *r, const int32_t *vals, size_t n)
{
    rv__cql_buf_t b;
    rv__cql_buf_init(&b);
    static const char *const names[] = {"v"};
    static const uint16_t types[] = {0x09};
    put_rows_head(&b, names, types, 1);
    rv__cql_put_i32(&b, (int32_t)n);
    for (size_t i = 0; i < n; i++) {
        rv__cql_put_i32(&b, 4);
        rv__cql_put_i32(&b, vals[i]);
    }
    reply_buf(r, RV__CQL_OP_RESULT, &b);
}

void mock_reply_prepared(mock_req_t *r, const uint8_t *id, size_t id_len, size_t nbind)
{
    rv__cql_buf_t b;
    rv__cql_buf_init(&b);
    rv__cql_put_i32(&b, 4);
    rv__cql_put_short_bytes(&b, id, id_len);
    rv__cql_put_i32(&b, 1); /* global table spec */
    rv__cql_put_i32(&b, (int32_t)nbind);
    rv__cql_put_i32(&b, nbind ? 1 : 0);
    if (nbind) rv__cql_put_u16(&b, 0);
    rv__cql_put_string(&b, "ks", 2);
    rv__cql_put_string(&b, "t", 1);
    for (size_t i = 0; i < nbind; i++) {
        char name[24];
        snprintf(name, sizeof(name), "b%zu", i);
        rv__cql_put_string(&b, name, strlen(name));
        rv__cql_put_u16(&b, 0x09);
    }
    rv__cql_put_i32(&b, 4); /* result metadata: no metadata */
    rv__cql_put_i32(&b, 0);
    reply_buf(r, RV__CQL_OP_RESULT, &b);
}

void mock_reply_schema_change(mock_req_t *r)
{
    rv__cql_buf_t b;
    rv__cql_buf_init(&b);
    rv__cql_put_i32(&b, 5);
    rv__cql_put_string(&b, "CREATED", 7);
    rv__cql_put_string(&b, "TABLE", 5);
    rv__cql_put_string(&b, "ks", 2);
    rv__cql_put_string(&b, "t", 1);
    reply_buf(r, RV__CQL_OP_RESULT, &b);
}

/* ---------------------------------------------------------------- defaults */

static void reply_local(mock_req_t *r)
{
    rv__cql_buf_t b;
    rv__cql_buf_init(&b);
    static const char *const names[] = {"schema_version", "tokens"};
    static const uint16_t types[] = {0x0c, 0x22};
    put_rows_head(&b, names, types, 2);
    rv__cql_put_i32(&b, 1);
    rv__cql_put_bytes(&b, r->m->schema_version, 16);
    rv__cql_put_i32(&b, 4 + 4 + 1);
    rv__cql_put_i32(&b, 1);
    rv__cql_put_bytes(&b, "0", 1);
    reply_buf(r, RV__CQL_OP_RESULT, &b);
}

static void reply_no_peers(mock_req_t *r)
{
    rv__cql_buf_t b;
    rv__cql_buf_init(&b);
    static const char *const names[] = {"peer", "rpc_address", "schema_version"};
    static const uint16_t types[] = {0x10, 0x10, 0x0c};
    put_rows_head(&b, names, types, 3);
    rv__cql_put_i32(&b, 0);
    reply_buf(r, RV__CQL_OP_RESULT, &b);
}

static void default_answer(mock_req_t *r)
{
    mock_server_t *m = r->m;
    switch (r->opcode) {
    case RV__CQL_OP_STARTUP:
        if (m->password) {
            static const char cls[] = "org.apache.cassandra.auth.PasswordAuthenticator";
            rv__cql_buf_t b;
            rv__cql_buf_init(&b);
            rv__cql_put_string(&b, cls, sizeof(cls) - 1);
            reply_buf(r, RV__CQL_OP_AUTHENTICATE, &b);
        } else {
            mock_reply(r, RV__CQL_OP_READY, NULL, 0);
        }
        return;
    case RV__CQL_OP_AUTH_RESPONSE: {
        char want[128];
        int n =
            snprintf(want, sizeof(want), "%ccassandra%c%s", 0, 0, m->password ? m->password : "");
        if (r->len == (size_t)n + 4 && !memcmp(r->body + 4, want, (size_t)n)) {
            static const uint8_t tok[] = {0xff, 0xff, 0xff, 0xff};
            mock_reply(r, RV__CQL_OP_AUTH_SUCCESS, tok, 4);
        } else {
            mock_reply_error(r, 0x0100,
                             "Provided username cassandra and/or password are incorrect");
        }
        return;
    }
    case RV__CQL_OP_OPTIONS: {
        static const uint8_t none[] = {0, 0};
        m->options++;
        mock_reply(r, RV__CQL_OP_SUPPORTED, none, 2);
        return;
    }
    case RV__CQL_OP_REGISTER:
        mock_reply(r, RV__CQL_OP_READY, NULL, 0);
        return;
    case RV__CQL_OP_PREPARE: {
        uint8_t id[16] = {0};
        for (size_t i = 0; r->query[i]; i++)
            id[i % 16] = (uint8_t)(id[i % 16] * 31 + (uint8_t)r->query[i]);
        m->prepares++;
        mock_reply_prepared(r, id, 16, 0);
        return;
    }
    case RV__CQL_OP_QUERY:
        if (strstr(r->query, "system.local")) {
            reply_local(r);
        } else if (strstr(r->query, "system.peers")) {
            reply_no_peers(r);
        } else if (!strncmp(r->query, "USE ", 4)) {
            rv__cql_buf_t b;
            rv__cql_buf_init(&b);
            rv__cql_put_i32(&b, 3);
            rv__cql_put_string(&b, "ks", 2);
            reply_buf(r, RV__CQL_OP_RESULT, &b);
        } else {
            mock_reply_void(r);
        }
        return;
    default:
        mock_reply_void(r);
        return;
    }
}

/* ------------------------------------------------------------------ parsing */

static void parse_params(mock_req_t *r, rv__cql_rd_t *rd)
{
    r->consistency = rv__cql_get_u16(rd);
    r->qflags = rv__cql_get_u8(rd);
    r->timestamp = INT64_MIN;
    if (r->qflags & 0x01) {
        size_t n = rv__cql_get_u16(rd);
        for (size_t i = 0; i < n && !rd->err; i++) {
            const uint8_t *p;
            int32_t len = rv__cql_get_i32(rd);
            p = len > 0 ? rv__cql_get_raw(rd, (size_t)len, "value") : NULL;
            if (i < 16) {
                r->values[i] = p;
                r->value_lens[i] = len;
            }
        }
        r->nvalues = n < 16 ? n : 16;
    }
    if (r->qflags & 0x04) rv__cql_get_i32(rd);
    if (r->qflags & 0x08) {
        const uint8_t *p;
        rv__cql_get_bytes(rd, &p);
    }
    if (r->qflags & 0x10) rv__cql_get_u16(rd);
    if (r->qflags & 0x20) r->timestamp = rv__cql_get_i64(rd);
}

static void handle(mock_conn_t *c, const uint8_t *frame, size_t len)
{
    mock_server_t *m = c->m;
    mock_req_t r;
    memset(&r, 0, sizeof(r));
    r.m = m;
    r.mc = c;
    r.version = frame[0];
    r.flags = frame[1];
    r.stream = (int16_t)((frame[2] << 8) | frame[3]);
    r.opcode = frame[4];
    r.frame = (uint8_t *)frame;
    r.frame_len = len;
    r.body = frame + RV__CQL_HEADER_SIZE;
    r.len = len - RV__CQL_HEADER_SIZE;
    r.timestamp = INT64_MIN;
    rv__cql_rd_t rd;
    rv__cql_rd_init(&rd, r.body, r.len);
    size_t n;
    const char *q;
    switch (r.opcode) {
    case RV__CQL_OP_QUERY:
    case RV__CQL_OP_PREPARE:
        q = rv__cql_get_long_string(&rd, &n);
        if (q && n < sizeof(r.query)) {
            memcpy(r.query, q, n);
            r.query[n] = '\0';
        }
        if (r.opcode == RV__CQL_OP_QUERY) parse_params(&r, &rd);
        break;
    case RV__CQL_OP_EXECUTE:
        r.id = rv__cql_get_short_bytes(&rd, &r.id_len);
        parse_params(&r, &rd);
        break;
    default:
        break;
    }
    m->requests++;
    if (m->silent) return;
    if (m->handler && m->handler(&r, m->opaque)) return;
    default_answer(&r);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    mock_conn_t *c = h->data;
    (void)suggested;
    if (c->cap - c->len < 65536) {
        c->cap = c->len + 65536;
        c->buf = realloc(c->buf, c->cap);
    }
    *buf = uv_buf_init((char *)c->buf + c->len, (unsigned)(c->cap - c->len));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    mock_conn_t *c = s->data;
    (void)buf;
    if (nread < 0) {
        mock_close_conn(c);
        return;
    }
    c->len += (size_t)nread;
    size_t pos = 0;
    while (!c->closing && c->len - pos >= RV__CQL_HEADER_SIZE) {
        const uint8_t *f = c->buf + pos;
        size_t blen = ((size_t)f[5] << 24) | ((size_t)f[6] << 16) | ((size_t)f[7] << 8) | f[8];
        if (c->len - pos < RV__CQL_HEADER_SIZE + blen) break;
        handle(c, f, RV__CQL_HEADER_SIZE + blen);
        pos += RV__CQL_HEADER_SIZE + blen;
    }
    if (c->closing) return;
    memmove(c->buf, c->buf + pos, c->len - pos);
    c->len -= pos;
}

static void on_connection(uv_stream_t *server, int status)
{
    mock_server_t *m = server->data;
    if (status < 0) return;
    mock_conn_t *c = calloc(1, sizeof(*c));
    c->m = m;
    uv_tcp_init(m->loop, &c->tcp);
    c->tcp.data = c;
    m->open_handles++;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0) {
        c->closing = true;
        uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
        return;
    }
    m->accepted++;
    c->next = m->conns;
    m->conns = c;
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

int mock_listen(mock_server_t *m)
{
    uv_tcp_init(m->loop, &m->server);
    m->server.data = m;
    m->open_handles++;
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", m->port, &a);
    int r = uv_tcp_bind(&m->server, (const struct sockaddr *)&a, 0);
    if (r == 0) r = uv_listen((uv_stream_t *)&m->server, 128, on_connection);
    if (r == 0 && m->port == 0) {
        struct sockaddr_in got;
        int len = sizeof(got);
        uv_tcp_getsockname(&m->server, (struct sockaddr *)&got, &len);
        m->port = ntohs(got.sin_port);
    }
    m->listening = r == 0;
    if (r != 0) uv_close((uv_handle_t *)&m->server, on_handle_closed);
    return r;
}

void mock_stop_listening(mock_server_t *m)
{
    if (!m->listening) return;
    m->listening = false;
    uv_close((uv_handle_t *)&m->server, on_handle_closed);
}

mock_server_t *mock_new(uv_loop_t *loop, mock_handler_fn fn, void *opaque)
{
    mock_server_t *m = calloc(1, sizeof(*m));
    m->loop = loop;
    m->handler = fn;
    m->opaque = opaque;
    for (int i = 0; i < 16; i++)
        m->schema_version[i] = (uint8_t)(0xa0 + i);
    if (mock_listen(m) != 0) {
        free(m);
        return NULL;
    }
    return m;
}

void mock_drop_conns(mock_server_t *m)
{
    while (m->conns)
        mock_close_conn(m->conns);
}

size_t mock_conn_count(const mock_server_t *m)
{
    size_t n = 0;
    for (mock_conn_t *c = m->conns; c; c = c->next)
        n++;
    return n;
}

void mock_close(mock_server_t *m)
{
    mock_drop_conns(m);
    m->port = -1;
    if (m->listening) {
        m->listening = false;
        uv_close((uv_handle_t *)&m->server, on_handle_closed);
    } else if (m->open_handles == 0) {
        free(m);
    }
}

mock_req_t *mock_hold(mock_req_t *r)
{
    mock_req_t *h = malloc(sizeof(*h));
    *h = *r;
    h->frame = malloc(r->frame_len);
    memcpy(h->frame, r->frame, r->frame_len);
    h->body = h->frame + RV__CQL_HEADER_SIZE;
    if (r->id) h->id = h->frame + (r->id - r->frame);
    for (size_t i = 0; i < r->nvalues; i++)
        if (r->values[i]) h->values[i] = h->frame + (r->values[i] - r->frame);
    h->held = true;
    return h;
}

void mock_req_free(mock_req_t *r)
{
    if (!r) return;
    free(r->frame);
    free(r);
}

/* --------------------------------------------------------------- running */

bool run_until(uv_loop_t *loop, const bool *flag, uint64_t ms)
{
    uint64_t end = uv_now(loop) + ms;
    while (!*flag) {
        uv_update_time(loop);
        if (uv_now(loop) >= end) break;
        uv_run(loop, UV_RUN_NOWAIT);
        if (!*flag) uv_sleep(1);
    }
    return *flag;
}

void run_for(uv_loop_t *loop, uint64_t ms)
{
    bool never = false;
    run_until(loop, &never, ms);
}
