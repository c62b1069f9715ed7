/* Helpers shared by the CQL integration tests: a session on a real Cassandra
 * (RV_CQL_HOST, RV_CQL_PORT, RV_CQL_USER, RV_CQL_PASSWORD; defaults
 * 127.0.0.1:9042, cassandra/cassandra), and synchronous wrappers that run the
 * loop until a request's callback. A test fails — it never skips — when the
 * server cannot be reached. */
#ifndef RV_CQL_IT_H
#define RV_CQL_IT_H

#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "rivulet/cql.h"
#include "rv_test.h"

typedef struct it {
    uv_loop_t loop;
    rv_cql_session_t *s;
    bool done;
    rv_error_t *err;
} it_t;

static inline const char *it_env(const char *name, const char *dflt)
{
    const char *v = getenv(name);
    return v && *v ? v : dflt;
}

static void it_log(rv_cql_session_t *s, int level, const char *msg, void *opaque)
{
    (void)s;
    (void)opaque;
    if (level <= 1 || getenv("RV_TEST_VERBOSE")) fprintf(stderr, "    [cql %d] %s\n", level, msg);
}

static void it_on_connect(rv_cql_session_t *s, const rv_error_t *err, void *opaque)
{
    it_t *t = opaque;
    (void)s;
    t->done = true;
    t->err = err ? rv_error_copy(err) : NULL;
}

static inline void it_wait(it_t *t, bool *flag)
{
    while (!*flag && uv_run(&t->loop, UV_RUN_ONCE))
        ;
}

/* Opens a session with the environment's server and extra key/value pairs.
 * password NULL: RV_CQL_PASSWORD. Returns false (and *err holds the reason)
 * when connecting failed. */
static inline bool it_open_with(it_t *t, const char *password, const char *const *kv,
                                rv_error_t **err)
{
    memset(t, 0, sizeof(*t));
    uv_loop_init(&t->loop);
    rv_conf_t *c = rv_conf_new();
    char cp[256];
    snprintf(cp, sizeof(cp), "%s", it_env("RV_CQL_HOST", "127.0.0.1"));
    rv_conf_set(c, "cql.contact.points", cp, NULL);
    rv_conf_set(c, "cql.port", it_env("RV_CQL_PORT", "9042"), NULL);
    rv_conf_set(c, "cql.username", it_env("RV_CQL_USER", "cassandra"), NULL);
    rv_conf_set(c, "cql.password", password ? password : it_env("RV_CQL_PASSWORD", "cassandra"),
                NULL);
    rv_conf_set(c, "cql.request.timeout", "20s", NULL);
    for (size_t i = 0; kv && kv[i]; i += 2)
        rv_conf_set(c, kv[i], kv[i + 1], NULL);
    t->s = rv_cql_session_new(&t->loop, c, err);
    rv_conf_destroy(c);
    if (!t->s) return false;
    rv_cql_session_set_log(t->s, it_log, NULL);
    if (rv_cql_session_connect(t->s, it_on_connect, t, err) != RV_OK) return false;
    it_wait(t, &t->done);
    if (t->err) {
        *err = t->err;
        t->err = NULL;
        return false;
    }
    return true;
}

#define IT_OPEN(t, kv)                                                                             \
    do {                                                                                           \
        rv_error_t *e_ = NULL;                                                                     \
        if (!it_open_with(t, NULL, kv, &e_)) {                                                     \
            rv_test_fail_at(__FILE__, __LINE__,                                                    \
                            "Cassandra is not reachable at %s:%s as %s (start it with "            \
                            "tools/services/services start cassandra): %s",                        \
                            it_env("RV_CQL_HOST", "127.0.0.1"), it_env("RV_CQL_PORT", "9042"),     \
                            it_env("RV_CQL_USER", "cassandra"), e_ ? rv_error_msg(e_) : "?");      \
            rv_error_destroy(e_);                                                                  \
            it_close(t);                                                                           \
            return;                                                                                \
        }                                                                                          \
    } while (0)

static inline void it_close(it_t *t)
{
    rv_cql_session_destroy(t->s);
    t->s = NULL;
    uv_run(&t->loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&t->loop) != 0)
        rv_test_fail_at(__FILE__, __LINE__, "loop still has handles after the session closed");
    rv_error_destroy(t->err);
}

typedef struct it_call {
    bool done;
    rv_cql_result_t *res;
    rv_error_t *err;
    rv_cql_prepared_t *p;
} it_call_t;

static void it_on_result(rv_cql_session_t *s, rv_cql_result_t *res, const rv_error_t *err,
                         void *opaque)
{
    it_call_t *c = opaque;
    (void)s;
    c->done = true;
    c->res = res;
    c->err = err ? rv_error_copy(err) : NULL;
}

static void it_on_prepared(rv_cql_session_t *s, rv_cql_prepared_t *p, const rv_error_t *err,
                           void *opaque)
{
    it_call_t *c = opaque;
    (void)s;
    c->done = true;
    c->p = p;
    c->err = err ? rv_error_copy(err) : NULL;
}

/* Executes st and waits. Returns the result (caller frees) or NULL with *err. */
static inline rv_cql_result_t *it_exec(it_t *t, const rv_cql_stmt_t *st, rv_error_t **err)
{
    it_call_t c = {0};
    if (!rv_cql_execute(t->s, st, it_on_result, &c, err)) return NULL;
    it_wait(t, &c.done);
    if (c.err) {
        if (err)
            *err = c.err;
        else
            rv_error_destroy(c.err);
    }
    return c.res;
}

/* Runs a simple query that must succeed; returns its result (caller frees). */
static inline rv_cql_result_t *it_query_at(it_t *t, const char *q, const char *file, int line)
{
    rv_cql_stmt_t *st = rv_cql_stmt_new(q, 0);
    rv_error_t *err = NULL;
    rv_cql_result_t *res = it_exec(t, st, &err);
    rv_cql_stmt_destroy(st);
    if (!res) rv_test_fail_at(file, line, "%s: %s", q, err ? rv_error_msg(err) : "?");
    rv_error_destroy(err);
    return res;
}
#define it_query(t, q) it_query_at(t, q, __FILE__, __LINE__)
#define it_run(t, q)   rv_cql_result_destroy(it_query_at(t, q, __FILE__, __LINE__))

static inline rv_cql_prepared_t *it_prepare_at(it_t *t, const char *q, const char *file, int line)
{
    it_call_t c = {0};
    rv_error_t *err = NULL;
    if (!rv_cql_prepare(t->s, q, it_on_prepared, &c, &err)) {
        rv_test_fail_at(file, line, "prepare %s: %s", q, rv_error_msg(err));
        rv_error_destroy(err);
        return NULL;
    }
    it_wait(t, &c.done);
    if (c.err) rv_test_fail_at(file, line, "prepare %s: %s", q, rv_error_msg(c.err));
    rv_error_destroy(c.err);
    return c.p;
}
#define it_prepare(t, q) it_prepare_at(t, q, __FILE__, __LINE__)

/* The keyspace every CQL integration test uses. */
static inline void it_keyspace(it_t *t)
{
    it_run(t, "CREATE KEYSPACE IF NOT EXISTS rv_test_cql WITH replication = "
              "{'class': 'SimpleStrategy', 'replication_factor': 1}");
}

#endif
