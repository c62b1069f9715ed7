/* The fake CQL server of the Cassandra stage tests (see fake_cql.h). */
#include "fake_cql.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fake_conn {
    fake_cql_t *f;
    uv_tcp_t tcp;
    bool closed;
    uint8_t *buf;
    size_t len, cap;
    fake_conn_t *next;
};

/* ------------------------------------------------------------ byte buffers */

typedef struct {
    uint8_t *p;
    size_t len, cap;
} obuf_t;

static void put(obuf_t *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        while (cap < b->len + n)
            cap *= 2;
        b->p = realloc(b->p, cap);
        b->cap = cap;
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
}
static void put_u8(obuf_t *b, uint8_t v)
{
    put(b, &v, 1);
}
static void put_u16(obuf_t *b, uint16_t v)
{
    uint8_t x[2] = {(uint8_t)(v >> 8), (uint8_t)v};
    put(b, x, 2);
}
static void put_i32(obuf_t *b, int32_t v)
{
    uint32_t u = (uint32_t)v;
    uint8_t x[4] = {(uint8_t)(u >> 24), (uint8_t)(u >> 16), (uint8_t)(u >> 8), (uint8_t)u};
    put(b, x, 4);
}
static void put_string(obuf_t *b, const char *s)
{
    put_u16(b, (uint16_t)strlen(s));
    put(b, s, strlen(s));
}
static void put_bytes(obuf_t *b, const void *p, int32_t n)
{
    put_i32(b, n);
    if (n > 0) put(b, p, (size_t)n);
}

static uint16_t get_u16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}
static int32_t get_i32(const uint8_t *p)
{
    return (int32_t)(((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) |
                     p[3]);
}

/* ----------------------------------------------------------------- writing */

typedef struct {
    uv_write_t req;
    uint8_t *data;
} wreq_t;

static void on_written(uv_write_t *req, int status)
{
    wreq_t *w = (wreq_t *)req;
    free(w->data);
    free(w);
}

static void send_frame(fake_conn_t *c, int16_t stream, uint8_t opcode, const obuf_t *body)
{
    if (!c || c->closed) return;
    size_t n = 9 + (body ? body->len : 0);
    wreq_t *w = malloc(sizeof(*w));
    w->data = malloc(n);
    w->data[0] = 0x84;
    w->data[1] = 0;
    w->data[2] = (uint8_t)((uint16_t)stream >> 8);
    w->data[3] = (uint8_t)stream;
    w->data[4] = opcode;
    uint32_t len = (uint32_t)(n - 9);
    w->data[5] = (uint8_t)(len >> 24);
    w->data[6] = (uint8_t)(len >> 16);
    w->data[7] = (uint8_t)(len >> 8);
    w->data[8] = (uint8_t)len;
    if (body && body->len) memcpy(w->data + 9, body->p, body->len);
    uv_buf_t b = uv_buf_init((char *)w->data, (unsigned)n);
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_written) < 0) {
        free(w->data);
        free(w);
    }
}

static void answered(fake_req_t *r)
{
    if (r->answered) return;
    r->answered = true;
    if (r->opcode == FAKE_OP_EXECUTE || r->opcode == FAKE_OP_QUERY || r->opcode == FAKE_OP_BATCH)
        r->f->outstanding--;
}

static void reply(fake_req_t *r, uint8_t opcode, obuf_t *body)
{
    send_frame(r->conn, r->stream, opcode, body);
    answered(r);
    free(body->p);
}

void fake_reply_void(fake_req_t *r)
{
    obuf_t b = {0};
    put_i32(&b, 0x0001);
    reply(r, FAKE_OP_RESULT, &b);
}

void fake_reply_error(fake_req_t *r, int code, const char *msg)
{
    obuf_t b = {0};
    put_i32(&b, code);
    put_string(&b, msg);
    if (code == 0x1000) { /* Unavailable: <cl><required><alive> */
        put_u16(&b, 0x0001);
        put_i32(&b, 1);
        put_i32(&b, 0);
    } else if (code == 0x1100) { /* Write_timeout: <cl><received><blockfor><writeType> */
        put_u16(&b, 0x0001);
        put_i32(&b, 0);
        put_i32(&b, 1);
        put_string(&b, "SIMPLE");
    } else if (code == 0x1200) { /* Read_timeout: <cl><received><blockfor><data_present> */
        put_u16(&b, 0x0001);
        put_i32(&b, 0);
        put_i32(&b, 1);
        put_u8(&b, 0);
    }
    reply(r, FAKE_OP_ERROR, &b);
}

/* Rows metadata with a global table spec; int columns unless types given. */
static void put_rows_meta(obuf_t *b, const char *const *cols, const uint16_t *types, size_t ncols,
                          const void *paging, int32_t paging_len)
{
    put_i32(b, 0x0001 | (paging_len >= 0 ? 0x0002 : 0));
    put_i32(b, (int32_t)ncols);
    if (paging_len >= 0) put_bytes(b, paging, paging_len);
    put_string(b, "ks");
    put_string(b, "t");
    for (size_t i = 0; i < ncols; i++) {
        put_string(b, cols[i]);
        put_u16(b, types ? types[i] : 0x0009);
    }
}

void fake_reply_int_rows(fake_req_t *r, const char *const *cols, size_t ncols, const int32_t *vals,
                         size_t nrows, const void *paging, int32_t paging_len)
{
    obuf_t b = {0};
    put_i32(&b, 0x0002);
    put_rows_meta(&b, cols, NULL, ncols, paging, paging_len);
    put_i32(&b, (int32_t)nrows);
    for (size_t i = 0; i < nrows * ncols; i++) {
        uint8_t x[4] = {(uint8_t)((uint32_t)vals[i] >> 24), (uint8_t)((uint32_t)vals[i] >> 16),
                        (uint8_t)((uint32_t)vals[i] >> 8), (uint8_t)vals[i]};
        put_bytes(&b, x, 4);
    }
    reply(r, FAKE_OP_RESULT, &b);
}

void fake_reply_lwt(fake_req_t *r, bool applied, int32_t version)
{
    static const char *const cols[] = {"[applied]", "version"};
    static const uint16_t types[] = {0x0004, 0x0009};
    size_t ncols = applied ? 1 : 2;
    obuf_t b = {0};
    put_i32(&b, 0x0002);
    put_rows_meta(&b, cols, types, ncols, NULL, -1);
    put_i32(&b, 1);
    uint8_t a = applied ? 1 : 0;
    put_bytes(&b, &a, 1);
    if (!applied) {
        uint8_t x[4] = {(uint8_t)((uint32_t)version >> 24), (uint8_t)((uint32_t)version >> 16),
                        (uint8_t)((uint32_t)version >> 8), (uint8_t)version};
        put_bytes(&b, x, 4);
    }
    reply(r, FAKE_OP_RESULT, &b);
}

static void reply_prepared(fake_req_t *r, int idx)
{
    const fake_stmt_t *s = &r->f->stmts[idx];
    obuf_t b = {0};
    put_i32(&b, 0x0004);
    uint8_t id[2] = {0xCA, (uint8_t)idx};
    put_u16(&b, 2);
    put(&b, id, 2);
    /* <metadata>: flags (global table spec), markers, no partition key info. */
    put_i32(&b, 0x0001);
    put_i32(&b, s->nbind);
    put_i32(&b, 0);
    put_string(&b, "ks");
    put_string(&b, "t");
    for (int i = 0; i < s->nbind; i++) {
        char name[16];
        snprintf(name, sizeof(name), "b%d", i);
        put_string(&b, name);
        put_u16(&b, s->bind_types[i]);
    }
    /* <result_metadata>: the columns of a SELECT, else No_metadata. */
    if (s->ncols > 0) {
        put_rows_meta(&b, s->col_names, s->col_types, (size_t)s->ncols, NULL, -1);
    } else {
        put_i32(&b, 0x0004);
        put_i32(&b, 0);
    }
    reply(r, FAKE_OP_RESULT, &b);
}

int32_t fake_value_int(const fake_req_t *r, size_t i, int32_t def)
{
    if (i >= r->nvalues || r->value_lens[i] != 4) return def;
    return get_i32(r->values[i]);
}

fake_req_t *fake_hold(fake_req_t *r)
{
    fake_req_t *h = malloc(sizeof(*h));
    *h = *r;
    r->answered = true; /* the copy answers */
    return h;
}

void fake_req_free(fake_req_t *r)
{
    free(r);
}

/* ----------------------------------------------------------------- parsing */

/* <consistency><flags>[<n><value>...][<page_size>][<paging_state>]... */
static void parse_params(fake_req_t *r, const uint8_t *p, const uint8_t *end)
{
    if (end - p < 3) return;
    r->consistency = get_u16(p);
    uint8_t flags = p[2];
    p += 3;
    if (flags & 0x01) {
        if (end - p < 2) return;
        size_t n = get_u16(p);
        p += 2;
        for (size_t i = 0; i < n && end - p >= 4; i++) {
            int32_t len = get_i32(p);
            p += 4;
            if (i < FAKE_MAX_VALUES) {
                r->value_lens[i] = len;
                if (len > 0 && len <= FAKE_MAX_VALUE_LEN && end - p >= len)
                    memcpy(r->values[i], p, (size_t)len);
                r->nvalues = i + 1;
            }
            if (len > 0) p += len;
        }
    }
    if (flags & 0x04) {
        if (end - p < 4) return;
        r->page_size = get_i32(p);
        p += 4;
    }
    if (flags & 0x08) {
        if (end - p < 4) return;
        int32_t len = get_i32(p);
        p += 4;
        if (len >= 0 && len <= (int32_t)sizeof(r->paging) && end - p >= len) {
            r->paging_len = len;
            memcpy(r->paging, p, (size_t)len);
        }
    }
}

static int find_stmt(fake_cql_t *f, const char *q)
{
    for (size_t i = 0; i < f->nstmts; i++)
        if (strcmp(f->stmts[i].query, q) == 0) return (int)i;
    return -1;
}

static void handle(fake_conn_t *c, const uint8_t *h, const uint8_t *body, size_t len)
{
    fake_cql_t *f = c->f;
    fake_req_t r;
    memset(&r, 0, sizeof(r));
    r.f = f;
    r.conn = c;
    r.stream = (int16_t)get_u16(h + 2);
    r.opcode = h[4];
    r.stmt = -1;
    r.page_size = -1;
    r.paging_len = -1;
    const uint8_t *end = body + len;
    switch (r.opcode) {
    case FAKE_OP_STARTUP:
    case FAKE_OP_REGISTER: {
        obuf_t b = {0};
        reply(&r, FAKE_OP_READY, &b);
        return;
    }
    case FAKE_OP_OPTIONS: {
        obuf_t b = {0};
        put_u16(&b, 0);
        reply(&r, FAKE_OP_SUPPORTED, &b);
        return;
    }
    case FAKE_OP_QUERY:
    case FAKE_OP_PREPARE: {
        if (len >= 4) {
            int32_t n = get_i32(body);
            if (n >= 0 && (size_t)n <= len - 4) {
                size_t k = (size_t)n < sizeof(r.query) - 1 ? (size_t)n : sizeof(r.query) - 1;
                memcpy(r.query, body + 4, k);
                if (r.opcode == FAKE_OP_QUERY) parse_params(&r, body + 4 + n, end);
            }
        }
        break;
    }
    case FAKE_OP_EXECUTE: {
        if (len >= 2) {
            size_t n = get_u16(body);
            if (n == 2 && len >= 4 && body[2] == 0xCA && body[3] < f->nstmts) r.stmt = body[3];
            if (2 + n <= len) parse_params(&r, body + 2 + n, end);
        }
        break;
    }
    default:
        break;
    }
    if (r.opcode == FAKE_OP_PREPARE) {
        f->prepares++;
    } else if (r.opcode == FAKE_OP_EXECUTE || r.opcode == FAKE_OP_QUERY ||
               r.opcode == FAKE_OP_BATCH) {
        if (r.opcode == FAKE_OP_EXECUTE)
            f->executes++;
        else if (r.opcode == FAKE_OP_QUERY)
            f->queries++;
        else
            f->batches++;
        f->outstanding++;
        if (f->outstanding > f->max_outstanding) f->max_outstanding = f->outstanding;
    }
    if (f->handler && f->handler(&r, f->opaque)) return;
    /* Default answers. */
    if (r.opcode == FAKE_OP_PREPARE) {
        int idx = find_stmt(f, r.query);
        if (idx < 0)
            fake_reply_error(&r, 0x2200, "unknown statement");
        else
            reply_prepared(&r, idx);
    } else if (r.opcode == FAKE_OP_EXECUTE && r.stmt < 0) {
        fake_reply_error(&r, 0x2200, "unknown prepared id");
    } else {
        fake_reply_void(&r);
    }
}

/* ----------------------------------------------------------- connections */

static void conn_closed(uv_handle_t *h)
{
    fake_conn_t *c = h->data;
    c->f->open_handles--;
    free(c->buf);
    c->buf = NULL;
    if (c->f->open_handles == 0 && !c->f->loop) {
        /* fake_close ran: the last handle frees everything. */
        fake_cql_t *f = c->f;
        fake_conn_t *x = f->conns;
        while (x) {
            fake_conn_t *n = x->next;
            free(x);
            x = n;
        }
        free(f);
    }
}

static void close_conn(fake_conn_t *c)
{
    if (c->closed) return;
    c->closed = true;
    uv_close((uv_handle_t *)&c->tcp, conn_closed);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    fake_conn_t *c = h->data;
    if (c->cap - c->len < 65536) {
        c->cap = c->cap ? c->cap * 2 : 65536;
        while (c->cap - c->len < 65536)
            c->cap *= 2;
        c->buf = realloc(c->buf, c->cap);
    }
    *buf = uv_buf_init((char *)c->buf + c->len, (unsigned)(c->cap - c->len));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    fake_conn_t *c = s->data;
    if (n < 0) {
        close_conn(c);
        return;
    }
    c->len += (size_t)n;
    size_t off = 0;
    while (c->len - off >= 9) {
        const uint8_t *h = c->buf + off;
        uint32_t blen = (uint32_t)get_i32(h + 5);
        if (c->len - off < 9 + (size_t)blen) break;
        handle(c, h, h + 9, blen);
        if (c->closed) return;
        off += 9 + blen;
    }
    memmove(c->buf, c->buf + off, c->len - off);
    c->len -= off;
}

static void on_connection(uv_stream_t *server, int status)
{
    fake_cql_t *f = server->data;
    if (status < 0) return;
    fake_conn_t *c = calloc(1, sizeof(*c));
    c->f = f;
    uv_tcp_init(f->loop, &c->tcp);
    c->tcp.data = c;
    f->open_handles++;
    c->next = f->conns;
    f->conns = c;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0) {
        close_conn(c);
        return;
    }
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

fake_cql_t *fake_new(uv_loop_t *loop, const fake_stmt_t *stmts, size_t n, fake_handler_fn fn,
                     void *opaque)
{
    fake_cql_t *f = calloc(1, sizeof(*f));
    f->loop = loop;
    f->stmts = stmts;
    f->nstmts = n;
    f->handler = fn;
    f->opaque = opaque;
    uv_tcp_init(loop, &f->server);
    f->server.data = f;
    f->open_handles = 1;
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", 0, &a);
    if (uv_tcp_bind(&f->server, (const struct sockaddr *)&a, 0) < 0 ||
        uv_listen((uv_stream_t *)&f->server, 64, on_connection) < 0) {
        fprintf(stderr, "fake_cql: cannot listen on 127.0.0.1\n");
        abort();
    }
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    uv_tcp_getsockname(&f->server, (struct sockaddr *)&ss, &len);
    f->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    return f;
}

void fake_drop_conns(fake_cql_t *f)
{
    for (fake_conn_t *c = f->conns; c; c = c->next)
        close_conn(c);
}

static void server_closed(uv_handle_t *h)
{
    fake_cql_t *f = h->data;
    f->open_handles--;
    if (f->open_handles == 0) {
        fake_conn_t *x = f->conns;
        while (x) {
            fake_conn_t *n = x->next;
            free(x);
            x = n;
        }
        free(f);
    }
}

void fake_close(fake_cql_t *f)
{
    fake_drop_conns(f);
    f->loop = NULL; /* marks "closing" for conn_closed */
    uv_close((uv_handle_t *)&f->server, server_closed);
}
