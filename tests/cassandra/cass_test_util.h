/* Helpers of the Cassandra stage unit tests: a harness owning a loop, the fake
 * CQL server, a connected session and a graph (with a virtual clock when
 * asked), on top of the engine tests' probes (engine_test_util.h). */
#ifndef RV_CASS_TEST_UTIL_H
#define RV_CASS_TEST_UTIL_H

#include "../engine/engine_test_util.h"
#include "fake_cql.h"
#include "rivulet/cassandra.h"
#include "rivulet/cql.h"

typedef struct {
    tu_t t;
    fake_cql_t *fake;
    rv_cql_session_t *s;
    bool connected;
    rv_err_t connect_code;
} ch_t;

static inline void ch_on_connect(rv_cql_session_t *s, const rv_error_t *err, void *opaque)
{
    ch_t *h = opaque;
    h->connected = true;
    h->connect_code = rv_error_code(err);
    if (err) fprintf(stderr, "connect: %s\n", rv_error_msg(err));
}

/* Starts the fake server (stmts registered, handler fn) and connects a session
 * to it; extra: NULL-terminated "key=value" session settings (may be NULL). */
static inline void ch_init(ch_t *h, bool virtual_clock, const fake_stmt_t *stmts, size_t n,
                           fake_handler_fn fn, void *opaque, const char *const *extra)
{
    memset(h, 0, sizeof(*h));
    tu_init(&h->t, virtual_clock, "graph.random.seed=7", NULL);
    h->fake = fake_new(&h->t.loop, stmts, n, fn, opaque);
    rv_conf_t *c = rv_conf_new();
    char cp[64];
    snprintf(cp, sizeof(cp), "127.0.0.1:%d", h->fake->port);
    rv_conf_set(c, "cql.contact.points", cp, NULL);
    rv_conf_set(c, "cql.peers.discovery", "false", NULL);
    rv_conf_set(c, "cql.heartbeat.interval", "0", NULL);
    for (size_t i = 0; extra && extra[i]; i++)
        rv_conf_set_pair(c, extra[i], NULL);
    rv_error_t *err = NULL;
    h->s = rv_cql_session_new(&h->t.loop, c, &err);
    rv_conf_destroy(c);
    if (!h->s) {
        fprintf(stderr, "rv_cql_session_new: %s\n", rv_error_msg(err));
        abort();
    }
    rv_cql_session_connect(h->s, ch_on_connect, h, NULL);
    TU_WAIT(&h->t, h->connected, 5000);
    if (!h->connected || h->connect_code != RV_OK) {
        fprintf(stderr, "cannot connect to the fake server\n");
        abort();
    }
}

/* Turns the real loop until cond holds or ms pass; with a virtual clock the
 * graph's scheduler runs as the loop turns (its idle handle), so this is also
 * how a test waits for CQL answers in virtual-time tests. */
#define CH_WAIT(h, cond, ms) TU_WAIT(&(h)->t, cond, ms)

/* Runs the loop for ms of real time. */
static inline void ch_spin(ch_t *h, uint64_t ms)
{
    uint64_t s = uv_now(&h->t.loop);
    while (uv_now(&h->t.loop) - s < ms) {
        uv_run(&h->t.loop, UV_RUN_NOWAIT);
        uv_update_time(&h->t.loop);
        uv_sleep(1);
    }
}

/* Destroys the graph first (its stages cancel their requests), then the
 * session and the server, and closes the loop. */
static inline void ch_fini(ch_t *h)
{
    if (!h->t.destroyed) {
        rv_graph_destroy(h->t.g);
        h->t.destroyed = true;
    }
    rv_cql_session_destroy(h->s);
    fake_close(h->fake);
    tu_fini(&h->t);
}

/* A bind function for "k, v" int markers: k = the element's integer, v = 2k. */
static inline rv_err_t ch_bind_kv(rv_cql_stmt_t *stmt, rv_env_t *env, rv_error_t **errp,
                                  void *opaque)
{
    int32_t k = (int32_t)RV_INT(rv_env_payload(env));
    rv_cql_bind_int(stmt, 0, k);
    rv_cql_bind_int(stmt, 1, 2 * k);
    return RV_OK;
}

#endif
