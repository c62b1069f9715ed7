/* Sessions: configuration, hosts and their connection pools, discovery of
 * peers (system.local / system.peers), the token ring, choosing a connection
 * for a request, reconnection with exponential backoff, and closing.
 *
 * Connecting: the contact points are resolved (uv_getaddrinfo for names),
 * every contact host opens its pool, and the first connection that becomes
 * ready reads system.local and system.peers; the peers join as hosts with
 * their own pools and the connect callback runs. When every contact host has
 * failed its first attempt, the connect callback gets the last error (for a
 * wrong password: the server's Authentication_error).
 *
 * Afterwards, a lost connection is reopened after cql.reconnect.min, doubling
 * per consecutive failure up to cql.reconnect.max (with a little jitter so
 * that many clients do not reconnect in lockstep). */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cql/session.h"

#define CONTAINER_OF(p, type, member) ((type *)((char *)(p)-offsetof(type, member)))

static void host_fill(rv__cql_host_t *h);
static void maybe_closed(rv_cql_session_t *s);
static void free_session(rv_cql_session_t *s);
static void check_connect_failed(rv_cql_session_t *s);
static void on_refresh(rv__cql_deadline_t *d);

void rv__cql_log(rv_cql_session_t *s, int level, const char *fmt, ...)
{
    if (!s->log_fn) return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    s->log_fn(s, level, msg, s->log_opaque);
}

/* ------------------------------------------------------------ configuration */

static int consistency_from(const char *v)
{
    static const struct {
        const char *name;
        int code;
    } map[] = {{"any", RV_CQL_ANY},
               {"one", RV_CQL_ONE},
               {"two", RV_CQL_TWO},
               {"three", RV_CQL_THREE},
               {"quorum", RV_CQL_QUORUM},
               {"all", RV_CQL_ALL},
               {"local_quorum", RV_CQL_LOCAL_QUORUM},
               {"each_quorum", RV_CQL_EACH_QUORUM},
               {"serial", RV_CQL_SERIAL},
               {"local_serial", RV_CQL_LOCAL_SERIAL},
               {"local_one", RV_CQL_LOCAL_ONE}};
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strcmp(v, map[i].name) == 0) return map[i].code;
    return RV_CQL_LOCAL_ONE;
}

static char *dup_or_null(const char *v)
{
    return v ? strdup(v) : NULL;
}

static void on_idle(uv_idle_t *h)
{
    rv__cql_deferred_run(h->data);
}

void rv__cql_session_defer(rv_cql_session_t *s)
{
    if (s->state != RV__SESS_CLOSING && s->state != RV__SESS_CLOSED)
        uv_idle_start(&s->idle, on_idle);
}

static void on_later(rv__cql_deadline_t *d);

rv_cql_session_t *rv_cql_session_new(uv_loop_t *loop, const rv_conf_t *conf, rv_error_t **errp)
{
    if (!loop) {
        rv_error_set(errp, RV_ERR_INVALID, false, "rv_cql_session_new: no loop");
        return NULL;
    }
    const rv_conf_table_t *tables[] = {&rv_cql_conf_table};
    if (conf && rv_conf_check(conf, tables, 1, true, errp) != RV_OK) return NULL;
    rv_cql_session_t *s = calloc(1, sizeof(*s));
    if (!s) {
        rv_error_set(errp, RV_ERR_NOMEM, true, "out of memory");
        return NULL;
    }
    const rv_conf_table_t *t = &rv_cql_conf_table;
    s->loop = loop;
    s->state = RV__SESS_NEW;
    s->rng =
        (uv_hrtime() ^ ((uint64_t)(uintptr_t)s << 16)) | 1; /* xorshift needs a non-zero state */
    s->contact_points = dup_or_null(rv_conf_str(conf, t, "cql.contact.points"));
    s->port = (int)rv_conf_int(conf, t, "cql.port");
    s->username = dup_or_null(rv_conf_str(conf, t, "cql.username"));
    s->password = dup_or_null(rv_conf_str(conf, t, "cql.password"));
    s->keyspace = dup_or_null(rv_conf_str(conf, t, "cql.keyspace"));
    s->per_host = (size_t)rv_conf_int(conf, t, "cql.connections.per.host");
    s->max_streams = (size_t)rv_conf_int(conf, t, "cql.max.requests.per.connection");
    s->queue_max = (size_t)rv_conf_int(conf, t, "cql.queue.max");
    s->request_timeout = (uint64_t)rv_conf_ms(conf, t, "cql.request.timeout");
    s->connect_timeout = (uint64_t)rv_conf_ms(conf, t, "cql.connect.timeout");
    s->heartbeat_ms = (uint64_t)rv_conf_ms(conf, t, "cql.heartbeat.interval");
    s->reconnect_min = (uint64_t)rv_conf_ms(conf, t, "cql.reconnect.min");
    s->reconnect_max = (uint64_t)rv_conf_ms(conf, t, "cql.reconnect.max");
    s->max_frame = (uint32_t)rv_conf_int(conf, t, "cql.max.frame.size");
    s->consistency = consistency_from(rv_conf_str(conf, t, "cql.consistency"));
    s->serial = consistency_from(rv_conf_str(conf, t, "cql.serial.consistency"));
    s->page_size = (int32_t)rv_conf_int(conf, t, "cql.page.size");
    s->retry_max = (int)rv_conf_int(conf, t, "cql.retry.max");
    s->client_timestamps = strcmp(rv_conf_str(conf, t, "cql.timestamps"), "client") == 0;
    s->schema_timeout = (uint64_t)rv_conf_ms(conf, t, "cql.schema.agreement.timeout");
    s->token_aware = rv_conf_bool(conf, t, "cql.token.aware");
    s->discovery = rv_conf_bool(conf, t, "cql.peers.discovery");
    if (s->reconnect_max < s->reconnect_min) s->reconnect_max = s->reconnect_min;
    if (s->username && !s->username[0]) {
        free(s->username);
        s->username = NULL;
    }
    if (!s->contact_points) {
        free_session(s);
        rv_error_set(errp, RV_ERR_NOMEM, true, "out of memory");
        return NULL;
    }
    rv__cql_timers_init(&s->timers, loop);
    s->open_handles++;
    uv_idle_init(loop, &s->idle);
    s->idle.data = s;
    s->open_handles++;
    uv_prepare_init(loop, &s->flusher);
    s->flusher.data = s;
    s->open_handles++;
    s->later.fn = on_later;
    s->refresh.fn = on_refresh;
    return s;
}

uv_loop_t *rv_cql_session_loop(const rv_cql_session_t *s)
{
    return s->loop;
}

void rv_cql_session_set_log(rv_cql_session_t *s, rv_cql_log_fn fn, void *opaque)
{
    s->log_fn = fn;
    s->log_opaque = opaque;
}

void rv_cql_session_stats(const rv_cql_session_t *s, rv_cql_stats_t *out)
{
    *out = s->stats;
    out->hosts = (uint32_t)s->nhosts;
    out->hosts_up = 0;
    out->connections = 0;
    for (size_t i = 0; i < s->nhosts; i++) {
        out->connections += (uint32_t)s->hosts[i]->nready;
        if (s->hosts[i]->nready) out->hosts_up++;
    }
    out->queued = (uint32_t)s->queue.n;
}

/* -------------------------------------------------------------------- hosts */

static bool same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    if (a->ss_family != b->ss_family) return false;
    if (a->ss_family == AF_INET) {
        const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
        return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
    return x->sin6_port == y->sin6_port && memcmp(&x->sin6_addr, &y->sin6_addr, 16) == 0;
}

static bool make_addr(struct sockaddr_storage *ss, const uint8_t *addr, size_t alen, int port)
{
    memset(ss, 0, sizeof(*ss));
    if (alen == 4) {
        struct sockaddr_in *a = (void *)ss;
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)port);
        memcpy(&a->sin_addr, addr, 4);
        return true;
    }
    if (alen == 16) {
        struct sockaddr_in6 *a = (void *)ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        memcpy(&a->sin6_addr, addr, 16);
        return true;
    }
    return false;
}

static rv__cql_host_t *find_host(rv_cql_session_t *s, const struct sockaddr_storage *ss)
{
    for (size_t i = 0; i < s->nhosts; i++)
        if (same_addr(&s->hosts[i]->addr, ss)) return s->hosts[i];
    return NULL;
}

rv__cql_host_t *rv__cql_session_find_host(rv_cql_session_t *s, const uint8_t *addr, size_t alen)
{
    struct sockaddr_storage ss;
    if (!make_addr(&ss, addr, alen, s->port)) return NULL;
    return find_host(s, &ss);
}

static void on_reconnect(rv__cql_deadline_t *d)
{
    host_fill(CONTAINER_OF(d, rv__cql_host_t, reconnect));
}

/* Adds a host (no-op when known). Returns it, or NULL when out of memory. */
static rv__cql_host_t *add_host(rv_cql_session_t *s, const struct sockaddr_storage *ss,
                                bool contact)
{
    rv__cql_host_t *h = find_host(s, ss);
    if (h) return h;
    rv__cql_host_t **hosts = realloc(s->hosts, (s->nhosts + 1) * sizeof(*hosts));
    if (!hosts) return NULL;
    s->hosts = hosts;
    h = calloc(1, sizeof(*h));
    if (!h || !(h->conns = calloc(s->per_host, sizeof(*h->conns)))) {
        free(h);
        return NULL;
    }
    h->s = s;
    h->addr = *ss;
    h->is_contact = contact;
    h->reconnect.fn = on_reconnect;
    char ip[INET6_ADDRSTRLEN] = "?";
    int port;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const void *)ss;
        inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
        port = ntohs(a->sin_port);
        snprintf(h->name, sizeof(h->name), "%s:%d", ip, port);
    } else {
        const struct sockaddr_in6 *a = (const void *)ss;
        inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip));
        port = ntohs(a->sin6_port);
        snprintf(h->name, sizeof(h->name), "[%s]:%d", ip, port);
    }
    s->hosts[s->nhosts++] = h;
    return h;
}

static void host_free(rv__cql_host_t *h)
{
    rv__cql_deadline_disarm(&h->s->timers, &h->reconnect);
    rv_error_destroy(h->last_error);
    free(h->tokens);
    free(h->conns);
    free(h);
}

/* Opens the connections the host's pool lacks, unless it waits for a
 * reconnection delay. */
static void host_fill(rv__cql_host_t *h)
{
    rv_cql_session_t *s = h->s;
    if (s->state != RV__SESS_CONNECTING && s->state != RV__SESS_CONNECTED) return;
    if (rv__cql_deadline_armed(&h->reconnect)) return;
    for (size_t i = 0; i < s->per_host; i++) {
        if (h->conns[i]) continue;
        if (h->attempts) s->stats.reconnects++;
        h->conns[i] = rv__cql_conn_open(h, i);
        if (!h->conns[i]) {
            rv__cql_log(s, 0, "%s: out of memory opening a connection", h->name);
            rv__cql_deadline_arm(&s->timers, &h->reconnect, uv_now(s->loop) + s->reconnect_max);
            return;
        }
    }
}

static uint64_t backoff(rv_cql_session_t *s, int attempt)
{
    uint64_t d = s->reconnect_min;
    for (int i = 1; i < attempt && d < s->reconnect_max; i++)
        d *= 2;
    if (d > s->reconnect_max) d = s->reconnect_max;
    /* Up to 20% jitter, from the session's own generator (xorshift64*): not
     * rand(), whose hidden global state is shared with the application and,
     * never seeded, gives every process the same "random" delays — which is
     * what jitter is meant to prevent after an outage. */
    uint64_t x = s->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    s->rng = x;
    double r = (double)((x * 0x2545F4914F6CDD1Dull) >> 11) / 9007199254740992.0;
    return d + (uint64_t)((double)d * 0.2 * r);
}

/* ------------------------------------------------------------------- ring */

static int ring_cmp(const void *a, const void *b)
{
    const rv__cql_ring_entry_t *x = a, *y = b;
    return x->token < y->token ? -1 : x->token > y->token;
}

static void build_ring(rv_cql_session_t *s)
{
    size_t n = 0;
    for (size_t i = 0; i < s->nhosts; i++)
        n += s->hosts[i]->ntokens;
    free(s->ring);
    s->ring = NULL;
    s->nring = 0;
    if (!n) return;
    s->ring = malloc(n * sizeof(*s->ring));
    if (!s->ring) return;
    for (size_t i = 0; i < s->nhosts; i++)
        for (size_t k = 0; k < s->hosts[i]->ntokens; k++)
            s->ring[s->nring++] = (rv__cql_ring_entry_t){s->hosts[i]->tokens[k], s->hosts[i]};
    qsort(s->ring, s->nring, sizeof(*s->ring), ring_cmp);
}

/* The host owning token t: the first with a token >= t, wrapping around. */
static rv__cql_host_t *ring_owner(rv_cql_session_t *s, int64_t t)
{
    size_t lo = 0, hi = s->nring;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->ring[mid].token < t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return s->ring[lo == s->nring ? 0 : lo].host;
}

/* ------------------------------------------------------------------ picking */

static rv__cql_conn_t *host_conn(rv__cql_host_t *h)
{
    rv__cql_conn_t *best = NULL;
    for (size_t i = 0; i < h->s->per_host; i++) {
        rv__cql_conn_t *c = h->conns[i];
        if (c && rv__cql_conn_has_room(c) && (!best || c->inflight < best->inflight)) best = c;
    }
    return best;
}

rv__cql_conn_t *rv__cql_session_pick(rv_cql_session_t *s, rv_cql_request_t *rq)
{
    rv__cql_conn_t *c;
    if (rq->prefer && (c = host_conn(rq->prefer))) return c;
    if (rq->has_token && s->nring && (c = host_conn(ring_owner(s, rq->token)))) return c;
    size_t n = s->nhosts;
    if (n == 0) return NULL;
    if (n == 1) return host_conn(s->hosts[0]);
    /* Round robin; a retry first tries the hosts the last attempt did not use. */
    size_t start = s->rr++;
    rv__cql_host_t *skipped = NULL;
    for (size_t i = 0; i < n; i++) {
        rv__cql_host_t *h = s->hosts[(start + i) % n];
        if (rq->attempts > 0 && h == rq->last_host) {
            skipped = h;
            continue;
        }
        if ((c = host_conn(h))) return c;
    }
    return skipped ? host_conn(skipped) : NULL;
}

/* ---------------------------------------------------------------- connecting */

static void connect_done(rv_cql_session_t *s, const rv_error_t *err)
{
    rv_cql_session_fn cb = s->connect_cb;
    void *opaque = s->connect_opaque;
    s->connect_cb = NULL;
    if (err) {
        /* Back to NEW: stop every attempt, forget the hosts, fail what waits. */
        s->state = RV__SESS_NEW;
        for (size_t i = 0; i < s->nhosts; i++) {
            rv__cql_host_t *h = s->hosts[i];
            for (size_t k = 0; k < s->per_host; k++)
                if (h->conns[k]) rv__cql_conn_fail(h->conns[k], NULL);
            host_free(h);
        }
        s->nhosts = 0;
        free(s->ring);
        s->ring = NULL;
        s->nring = 0;
        /* Only those waiting now: a callback may start new ones, which then
         * wait for the next connect. */
        size_t n = s->queue.n;
        rv_cql_request_t *rq;
        while (n-- && (rq = rv__cql_rq_list_pop(&s->queue))) {
            rq->state = RV__RQS_NEW;
            rv__cql_request_complete(rq, NULL, err);
        }
    } else {
        s->state = RV__SESS_CONNECTED;
        rv__cql_log(s, 2, "connected: %zu host(s) known", s->nhosts);
    }
    if (cb) cb(s, err, opaque);
}

/* Connect failures are judged here, on a later loop turn, when the failed
 * connection has finished handing back its requests. */
static void on_later(rv__cql_deadline_t *d)
{
    check_connect_failed(CONTAINER_OF(d, rv_cql_session_t, later));
}

/* Every contact host made its first attempt and none is ready: give up. */
static void check_connect_failed(rv_cql_session_t *s)
{
    if (s->state != RV__SESS_CONNECTING || s->resolving || s->discovered) return;
    for (size_t i = 0; i < s->nhosts; i++)
        if (!s->hosts[i]->tried || s->hosts[i]->nready) return;
    rv_error_t *e = s->connect_error
                        ? rv_error_copy(s->connect_error)
                        : rv_error_new(RV_ERR_UNAVAILABLE, true, "no contact point is reachable");
    connect_done(s, e);
    rv_error_destroy(e);
}

static void start_pools(rv_cql_session_t *s)
{
    if (s->nhosts == 0) {
        /* Reported on the next turn: the caller may still be in connect(). */
        rv__cql_deadline_arm(&s->timers, &s->later, uv_now(s->loop));
        return;
    }
    for (size_t i = 0; i < s->nhosts; i++)
        host_fill(s->hosts[i]);
}

typedef struct resolve {
    uv_getaddrinfo_t req;
    rv_cql_session_t *s;
    int port;
    char name[256];
} resolve_t;

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    resolve_t *r = req->data;
    rv_cql_session_t *s = r->s;
    s->resolving--;
    s->open_handles--;
    if (status < 0) {
        rv_error_t *e =
            rv_error_new(RV_ERR_FROM_UV(status), true, "cannot resolve contact point %s: %s",
                         r->name, uv_strerror(status));
        if (s->state == RV__SESS_CONNECTING) {
            rv_error_destroy(s->connect_error);
            s->connect_error = e;
        } else {
            rv_error_destroy(e);
        }
    } else if (s->state == RV__SESS_CONNECTING) {
        for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
            struct sockaddr_storage ss;
            if (ai->ai_family == AF_INET)
                make_addr(&ss, (const uint8_t *)&((struct sockaddr_in *)ai->ai_addr)->sin_addr, 4,
                          r->port);
            else if (ai->ai_family == AF_INET6)
                make_addr(&ss, (const uint8_t *)&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr,
                          16, r->port);
            else
                continue;
            add_host(s, &ss, true);
        }
    }
    uv_freeaddrinfo(res);
    free(r);
    if (s->state == RV__SESS_CONNECTING && s->resolving == 0) start_pools(s);
    maybe_closed(s);
}

/* Parses one "host", "host:port", "[v6]" or "[v6]:port" and adds it (numeric
 * addresses at once, names through the resolver). */
static rv_err_t add_contact(rv_cql_session_t *s, const char *item, rv_error_t **errp)
{
    char host[256];
    int port = s->port;
    const char *colon;
    size_t hl;
    if (item[0] == '[') {
        const char *end = strchr(item, ']');
        if (!end)
            return rv_error_set(errp, RV_ERR_CONFIG, false,
                                "cql.contact.points: \"%s\" lacks its ']'", item);
        hl = (size_t)(end - item - 1);
        item++;
        colon = end[1] == ':' ? end + 1 : NULL;
    } else {
        colon = strrchr(item, ':');
        if (colon && strchr(item, ':') != colon) colon = NULL; /* a bare IPv6 address */
        hl = colon ? (size_t)(colon - item) : strlen(item);
    }
    if (hl == 0 || hl >= sizeof(host))
        return rv_error_set(errp, RV_ERR_CONFIG, false, "cql.contact.points: bad host in \"%s\"",
                            item);
    memcpy(host, item, hl);
    host[hl] = '\0';
    if (colon) {
        char *end;
        long p = strtol(colon + 1, &end, 10);
        if (*end || p < 1 || p > 65535)
            return rv_error_set(errp, RV_ERR_CONFIG, false,
                                "cql.contact.points: bad port in \"%s\"", item);
        port = (int)p;
    }
    uint8_t a[16];
    struct sockaddr_storage ss;
    if (inet_pton(AF_INET, host, a) == 1 || inet_pton(AF_INET6, host, a) == 1) {
        make_addr(&ss, a, strchr(host, ':') ? 16 : 4, port);
        if (!add_host(s, &ss, true)) return rv_error_set(errp, RV_ERR_NOMEM, true, "out of memory");
        return RV_OK;
    }
    resolve_t *r = calloc(1, sizeof(*r));
    if (!r) return rv_error_set(errp, RV_ERR_NOMEM, true, "out of memory");
    r->s = s;
    r->port = port;
    snprintf(r->name, sizeof(r->name), "%s", host);
    r->req.data = r;
    struct addrinfo hints = {0};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int rc = uv_getaddrinfo(s->loop, &r->req, on_resolved, host, NULL, &hints);
    if (rc < 0) {
        free(r);
        return rv_error_set(errp, RV_ERR_FROM_UV(rc), true, "cannot resolve %s: %s", host,
                            uv_strerror(rc));
    }
    s->resolving++;
    s->open_handles++;
    return RV_OK;
}

rv_err_t rv_cql_session_connect(rv_cql_session_t *s, rv_cql_session_fn cb, void *opaque,
                                rv_error_t **errp)
{
    if (!s) return rv_error_set(errp, RV_ERR_INVALID, false, "rv_cql_session_connect: no session");
    if (s->state != RV__SESS_NEW)
        return rv_error_set(errp, RV_ERR_STATE, false,
                            "the CQL session is already connecting, connected or closed");
    s->state = RV__SESS_CONNECTING;
    s->connect_cb = cb;
    s->connect_opaque = opaque;
    s->discovered = false;
    rv_error_destroy(s->connect_error);
    s->connect_error = NULL;
    char *list = strdup(s->contact_points);
    if (!list) {
        s->state = RV__SESS_NEW;
        return rv_error_set(errp, RV_ERR_NOMEM, true, "out of memory");
    }
    rv_err_t e = RV_OK;
    size_t items = 0;
    char *save = NULL;
    for (char *tok = strtok_r(list, ",", &save); tok && e == RV_OK;
         tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ' || *tok == '\t')
            tok++;
        char *end = tok + strlen(tok);
        while (end > tok && (end[-1] == ' ' || end[-1] == '\t'))
            *--end = '\0';
        if (!*tok) continue;
        items++;
        e = add_contact(s, tok, errp);
    }
    free(list);
    if (e == RV_OK && items == 0)
        e = rv_error_set(errp, RV_ERR_CONFIG, false, "cql.contact.points names no host");
    if (e != RV_OK) {
        /* Resolutions already started finish on their own (counted handles). */
        for (size_t i = 0; i < s->nhosts; i++)
            host_free(s->hosts[i]);
        s->nhosts = 0;
        s->state = RV__SESS_NEW;
        s->connect_cb = NULL;
        return e;
    }
    if (s->resolving == 0) start_pools(s);
    return RV_OK;
}

/* ---------------------------------------------------------------- discovery */

/* Reads the text tokens of a set<text> cell into h->tokens. */
static void read_tokens(rv__cql_host_t *h, const rv_cql_result_t *res, size_t row)
{
    int col = rv_cql_result_column_index(res, "tokens");
    rv_cql_value_t v, el;
    rv_cql_iter_t it;
    size_t n;
    if (col < 0 || rv_cql_result_value(res, row, (size_t)col, &v) != RV_OK ||
        rv_cql_value_count(&v, &n) != RV_OK || rv_cql_iter_init(&it, &v) != RV_OK)
        return;
    int64_t *t = n ? malloc(n * sizeof(*t)) : NULL;
    if (n && !t) return;
    size_t k = 0;
    while (k < n && rv_cql_iter_next(&it, &el) == RV_OK) {
        char buf[32];
        const char *p;
        size_t len;
        if (rv_cql_value_get_text(&el, &p, &len) != RV_OK || len >= sizeof(buf)) continue;
        memcpy(buf, p, len);
        buf[len] = '\0';
        char *end;
        long long x = strtoll(buf, &end, 10);
        if (*end == '\0' && end != buf) t[k++] = x;
    }
    free(h->tokens);
    h->tokens = t;
    h->ntokens = k;
}

static bool inet_cell(const rv_cql_result_t *res, size_t row, const char *name, uint8_t a[16],
                      size_t *alen)
{
    int col = rv_cql_result_column_index(res, name);
    rv_cql_value_t v;
    return col >= 0 && rv_cql_result_value(res, row, (size_t)col, &v) == RV_OK &&
           rv_cql_value_get_inet(&v, a, alen) == RV_OK;
}

static void discovery_finished(rv_cql_session_t *s)
{
    s->refreshing = false;
    build_ring(s);
    for (size_t i = 0; i < s->nhosts; i++)
        host_fill(s->hosts[i]);
    if (s->state == RV__SESS_CONNECTING) connect_done(s, NULL);
    rv__cql_session_drain(s);
}

static bool rows_ok(rv_cql_session_t *s, const char *what, rv__cql_response_t *resp,
                    const rv_error_t *err)
{
    if (err) {
        rv__cql_log(s, 1, "discovery: reading %s failed: %s", what, rv_error_msg(err));
        return false;
    }
    if (resp->h.opcode != RV__CQL_OP_RESULT || !resp->result ||
        resp->result->kind != RV_CQL_RESULT_ROWS) {
        if (resp->h.opcode == RV__CQL_OP_ERROR)
            rv__cql_log(s, 1, "discovery: reading %s failed: %.*s", what, (int)resp->error.msg_len,
                        resp->error.msg);
        return false;
    }
    return true;
}

static void peers_done(rv_cql_request_t *irq, rv__cql_response_t *resp, const rv_error_t *err)
{
    rv_cql_session_t *s = irq->s;
    if (s->state == RV__SESS_CLOSING || s->state == RV__SESS_CLOSED) return;
    if (rows_ok(s, "system.peers", resp, err)) {
        const rv_cql_result_t *res = resp->result;
        for (size_t r = 0; r < rv_cql_result_row_count(res); r++) {
            uint8_t a[16];
            size_t alen;
            static const uint8_t any4[4] = {0}, any6[16] = {0};
            bool ok = inet_cell(res, r, "rpc_address", a, &alen);
            if (!ok || (alen == 4 && !memcmp(a, any4, 4)) || (alen == 16 && !memcmp(a, any6, 16)))
                ok = inet_cell(res, r, "peer", a, &alen);
            struct sockaddr_storage ss;
            if (!ok || !make_addr(&ss, a, alen, s->port)) continue;
            rv__cql_host_t *h = add_host(s, &ss, false);
            if (h) read_tokens(h, res, r);
        }
    }
    discovery_finished(s);
}

static void local_done(rv_cql_request_t *irq, rv__cql_response_t *resp, const rv_error_t *err)
{
    rv_cql_session_t *s = irq->s;
    rv__cql_host_t *h = irq->ctx;
    if (s->state == RV__SESS_CLOSING || s->state == RV__SESS_CLOSED) return;
    if (rows_ok(s, "system.local", resp, err) && rv_cql_result_row_count(resp->result) > 0)
        read_tokens(h, resp->result, 0);
    rv_cql_request_t *p = rv__cql_internal_query(s, "SELECT * FROM system.peers", peers_done, NULL);
    if (!p) {
        discovery_finished(s);
        return;
    }
    p->prefer = h;
    rv__cql_request_start(p);
}

static void discover(rv_cql_session_t *s, rv__cql_conn_t *c)
{
    if (!s->discovery) {
        discovery_finished(s);
        return;
    }
    rv_cql_request_t *rq = rv__cql_internal_query(s, "SELECT * FROM system.local WHERE key='local'",
                                                  local_done, c->host);
    if (!rq) {
        discovery_finished(s);
        return;
    }
    rq->prefer = c->host;
    rv__cql_request_start(rq);
}

/* --------------------------------------------------------- connection hooks */

/* ------------------------------------------------------------------ events */

static void register_done(rv_cql_request_t *rq, rv__cql_response_t *resp, const rv_error_t *err)
{
    rv_cql_session_t *s = rq->s;
    if (err)
        rv__cql_log(s, 2, "REGISTER for cluster events failed: %s", rv_error_msg(err));
    else if (resp->h.opcode != RV__CQL_OP_READY)
        rv__cql_log(s, 1, "REGISTER answered with %s", rv__cql_opcode_name(resp->h.opcode));
}

/* One connection of the session listens to topology and status events, as
 * the protocol advises (not all of them: each event would come N times). */
static void choose_control(rv_cql_session_t *s, rv__cql_conn_t *c)
{
    if (s->control || !c || c->state != RV__CONN_READY) return;
    rv_cql_request_t *rq = rv__cql_request_new(s, RV__RQ_INTERNAL, s->request_timeout);
    if (!rq) return;
    static const char *const events[] = {"TOPOLOGY_CHANGE", "STATUS_CHANGE"};
    rv__cql_encode_register(&rq->frame, events, 2);
    if (rq->frame.oom) {
        rv__cql_request_free(rq);
        return;
    }
    rq->pin = c;
    rq->done = register_done;
    s->control = c;
    rv__cql_request_start(rq);
}

static void discover(rv_cql_session_t *s, rv__cql_conn_t *c);

static void on_refresh(rv__cql_deadline_t *d)
{
    rv_cql_session_t *s = CONTAINER_OF(d, rv_cql_session_t, refresh);
    if (s->state != RV__SESS_CONNECTED || s->refreshing) return;
    for (size_t i = 0; i < s->nhosts; i++)
        for (size_t k = 0; k < s->per_host; k++) {
            rv__cql_conn_t *c = s->hosts[i]->conns[k];
            if (c && c->state == RV__CONN_READY) {
                s->refreshing = true;
                discover(s, c);
                return;
            }
        }
}

void rv__cql_session_on_event(rv__cql_conn_t *c, const rv__cql_response_t *resp)
{
    rv_cql_session_t *s = c->s;
    const rv__cql_event_t *ev = &resp->event;
    rv__cql_log(s, 2, "event %.*s %.*s", (int)ev->type_len, ev->type, (int)ev->change_len,
                ev->change);
    if (s->state != RV__SESS_CONNECTED) return;
    uint64_t now = uv_now(s->loop);
    if (ev->type_len == 15 && !memcmp(ev->type, "TOPOLOGY_CHANGE", 15)) {
        /* Nodes announce themselves before their native port is open: look
         * again in a second. */
        if (s->discovery) rv__cql_deadline_arm(&s->timers, &s->refresh, now + 1000);
        return;
    }
    if (ev->type_len == 13 && !memcmp(ev->type, "STATUS_CHANGE", 13) && ev->change_len == 2 &&
        !memcmp(ev->change, "UP", 2)) {
        /* A host we are backing off from is back: try it soon, not at the
         * end of its current delay. */
        rv__cql_host_t *h = rv__cql_session_find_host(s, ev->addr, ev->addr_len);
        if (h && rv__cql_deadline_armed(&h->reconnect)) {
            h->attempts = 0;
            rv__cql_deadline_arm(&s->timers, &h->reconnect,
                                 now + 1000 < h->reconnect.at ? now + 1000 : h->reconnect.at);
        }
    }
}

void rv__cql_session_on_conn_ready(rv__cql_conn_t *c)
{
    rv_cql_session_t *s = c->s;
    rv__cql_host_t *h = c->host;
    h->nready++;
    h->tried = true;
    if (h->attempts)
        rv__cql_log(s, 2, "%s: reconnected after %d failed attempt(s)", h->name, h->attempts);
    h->attempts = 0;
    rv_error_destroy(h->last_error);
    h->last_error = NULL;
    if (s->state == RV__SESS_CONNECTING && !s->discovered) {
        s->discovered = true;
        discover(s, c);
    }
    choose_control(s, c);
    rv__cql_session_drain(s);
}

void rv__cql_session_on_conn_closed(rv__cql_conn_t *c, const rv_error_t *err)
{
    rv_cql_session_t *s = c->s;
    rv__cql_host_t *h = c->host;
    if (h->conns[c->slot] == c) h->conns[c->slot] = NULL;
    if (c->was_ready) h->nready--;
    if (s->control == c) {
        /* Another ready connection takes over listening to events. */
        s->control = NULL;
        for (size_t i = 0; i < s->nhosts && !s->control; i++)
            for (size_t k = 0; k < s->per_host && !s->control; k++)
                if (s->hosts[i]->conns[k] && s->hosts[i]->conns[k] != c &&
                    s->state == RV__SESS_CONNECTED)
                    choose_control(s, s->hosts[i]->conns[k]);
    }
    if (s->state == RV__SESS_CLOSING || s->state == RV__SESS_CLOSED || s->state == RV__SESS_NEW)
        return;
    if (err) {
        s->stats.connection_errors++;
        rv_error_destroy(h->last_error);
        h->last_error = rv_error_copy(err);
        if (s->state == RV__SESS_CONNECTING) {
            rv_error_destroy(s->connect_error);
            s->connect_error = rv_error_copy(err);
        }
    }
    h->tried = true;
    /* A working connection that broke is retried after the shortest delay;
     * consecutive failures to reconnect double it. */
    h->attempts = c->was_ready ? 1 : h->attempts + 1;
    uint64_t delay = backoff(s, h->attempts);
    rv__cql_log(s, 2, "%s: reconnecting in %llu ms (attempt %d)", h->name,
                (unsigned long long)delay, h->attempts);
    rv__cql_deadline_arm(&s->timers, &h->reconnect, uv_now(s->loop) + delay);
    if (s->state == RV__SESS_CONNECTING)
        rv__cql_deadline_arm(&s->timers, &s->later, uv_now(s->loop));
}

/* ------------------------------------------------------------------ closing */

static void free_session(rv_cql_session_t *s)
{
    for (size_t i = 0; i < s->nhosts; i++)
        host_free(s->hosts[i]);
    free(s->hosts);
    free(s->ring);
    rv__cql_pcache_free(s);
    rv__cql_timers_free(&s->timers);
    rv_error_destroy(s->connect_error);
    free(s->contact_points);
    free(s->username);
    free(s->password);
    free(s->keyspace);
    free(s);
}

static void maybe_closed(rv_cql_session_t *s)
{
    if (s->state != RV__SESS_CLOSING || s->open_handles > 0) return;
    s->state = RV__SESS_CLOSED;
    rv_cql_session_fn cb = s->close_cb;
    void *opaque = s->close_opaque;
    s->close_cb = NULL;
    if (s->free_when_closed) {
        free_session(s);
        return;
    }
    /* The callback may destroy the session: nothing touches s after it. */
    if (cb) cb(s, NULL, opaque);
}

void rv__cql_session_on_conn_freed(rv_cql_session_t *s)
{
    maybe_closed(s);
}

static void on_handle_closed(uv_handle_t *h)
{
    rv_cql_session_t *s = h->data;
    s->open_handles--;
    maybe_closed(s);
}

void rv_cql_session_close(rv_cql_session_t *s, rv_cql_session_fn cb, void *opaque)
{
    if (!s || s->state == RV__SESS_CLOSING || s->state == RV__SESS_CLOSED) return;
    bool connecting = s->state == RV__SESS_CONNECTING;
    rv_cql_session_fn ccb = s->connect_cb;
    void *copaque = s->connect_opaque;
    s->connect_cb = NULL;
    s->state = RV__SESS_CLOSING;
    s->close_cb = cb;
    s->close_opaque = opaque;
    rv_error_t *err = rv_error_new(RV_ERR_CLOSED, false, "the CQL session was closed");

    /* Everything that waits hears RV_ERR_CLOSED (no callbacks when quiet). */
    rv_cql_request_t *rq;
    while ((rq = rv__cql_rq_list_pop(&s->queue))) {
        rq->state = RV__RQS_NEW;
        rv__cql_request_complete(rq, NULL, err);
    }
    while ((rq = rv__cql_rq_list_pop(&s->parked))) {
        rq->state = RV__RQS_NEW;
        if (rq->child) {
            rq->child->ctx = NULL;
            rq->child = NULL;
        }
        rv__cql_request_complete(rq, NULL, err);
    }
    rv__cql_pcache_fail_all(s, err);
    for (size_t i = 0; i < s->nhosts; i++) {
        rv__cql_host_t *h = s->hosts[i];
        rv__cql_deadline_disarm(&s->timers, &h->reconnect);
        for (size_t k = 0; k < s->per_host; k++)
            if (h->conns[k]) rv__cql_conn_fail(h->conns[k], err);
    }
    rv__cql_deadline_disarm(&s->timers, &s->later);
    rv__cql_deadline_disarm(&s->timers, &s->refresh);
    if (connecting && ccb && !s->quiet) ccb(s, err, copaque);
    rv_error_destroy(err);

    /* Closing the resolver requests: cancelled ones still call back. The
     * timer and the idle handle close now. */
    s->timers.timer.data = s;
    uv_close((uv_handle_t *)&s->timers.timer, on_handle_closed);
    uv_close((uv_handle_t *)&s->idle, on_handle_closed);
    uv_close((uv_handle_t *)&s->flusher, on_handle_closed);
}

void rv_cql_session_destroy(rv_cql_session_t *s)
{
    if (!s) return;
    if (s->state == RV__SESS_CLOSED) {
        free_session(s);
        return;
    }
    s->quiet = true;
    s->free_when_closed = true;
    if (s->state != RV__SESS_CLOSING)
        rv_cql_session_close(s, NULL, NULL);
    else
        s->close_cb = NULL;
}
