/* Helpers of the Cassandra stage integration tests: a graph harness (real
 * clock) plus a session on a real Cassandra (RV_CQL_HOST, RV_CQL_PORT,
 * RV_CQL_USER, RV_CQL_PASSWORD; defaults 127.0.0.1:9042, cassandra/cassandra)
 * on the same loop, and synchronous statements for setup and checks. A test
 * FAILS — it never skips — when Cassandra cannot be reached. */
#ifndef RV_CASS_IT_H
#define RV_CASS_IT_H

#include "../engine/engine_test_util.h"
#include "rivulet/cassandra.h"
#include "rivulet/cql.h"

#define IT_KEYSPACE "rv_test_cass_stages"

typedef struct {
    tu_t t;
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
    if (level <= 1 || getenv("RV_TEST_VERBOSE")) fprintf(stderr, "    [cql %d] %s\n", level, msg);
}

static void it_on_connect(rv_cql_session_t *s, const rv_error_t *err, void *opaque)
{
    it_t *it = opaque;
    it->done = true;
    it->err = err ? rv_error_copy(err) : NULL;
}

/* Turns the loop until *flag or ms pass. */
static inline bool it_wait(it_t *it, const bool *flag, uint64_t ms)
{
    TU_WAIT(&it->t, *flag, ms);
    return *flag;
}

/* A new session on it's loop with the environment's server; kv: NULL-ended
 * "key=value" extras. NULL with *err when it cannot connect. */
static inline rv_cql_session_t *it_session(it_t *it, const char *const *kv, rv_error_t **err)
{
    rv_conf_t *c = rv_conf_new();
    rv_conf_set(c, "cql.contact.points", it_env("RV_CQL_HOST", "127.0.0.1"), NULL);
    rv_conf_set(c, "cql.port", it_env("RV_CQL_PORT", "9042"), NULL);
    rv_conf_set(c, "cql.username", it_env("RV_CQL_USER", "cassandra"), NULL);
    rv_conf_set(c, "cql.password", it_env("RV_CQL_PASSWORD", "cassandra"), NULL);
    rv_conf_set(c, "cql.request.timeout", "20s", NULL);
    for (size_t i = 0; kv && kv[i]; i++)
        rv_conf_set_pair(c, kv[i], NULL);
    rv_cql_session_t *s = rv_cql_session_new(&it->t.loop, c, err);
    rv_conf_destroy(c);
    if (!s) return NULL;
    rv_cql_session_set_log(s, it_log, NULL);
    it->done = false;
    if (rv_cql_session_connect(s, it_on_connect, it, err) != RV_OK) {
        rv_cql_session_destroy(s);
        return NULL;
    }
    it_wait(it, &it->done, 30000);
    if (!it->done || it->err) {
        if (err)
            *err =
                it->err ? it->err : rv_error_new(RV_ERR_TIMEOUT, true, "no connect answer in 30 s");
        else
            rv_error_destroy(it->err);
        it->err = NULL;
        rv_cql_session_destroy(s);
        return NULL;
    }
    return s;
}

static inline bool it_open(it_t *it, const char *const *kv, rv_error_t **err)
{
    memset(it, 0, sizeof(*it));
    tu_init(&it->t, false, NULL);
    it->s = it_session(it, kv, err);
    return it->s != NULL;
}

static inline void it_fini(it_t *it)
{
    if (!it->t.destroyed) {
        rv_graph_destroy(it->t.g);
        it->t.destroyed = true;
    }
    rv_cql_session_destroy(it->s);
    it->s = NULL;
    tu_fini(&it->t);
}

#define IT_OPEN(it, kv)                                                                            \
    do {                                                                                           \
        rv_error_t *e_ = NULL;                                                                     \
        if (!it_open(it, kv, &e_)) {                                                               \
            rv_test_fail_at(__FILE__, __LINE__,                                                    \
                            "Cassandra is not reachable at %s:%s as %s (start it with "            \
                            "tools/services/services start cassandra): %s",                        \
                            it_env("RV_CQL_HOST", "127.0.0.1"), it_env("RV_CQL_PORT", "9042"),     \
                            it_env("RV_CQL_USER", "cassandra"), e_ ? rv_error_msg(e_) : "?");      \
            rv_error_destroy(e_);                                                                  \
            it_fini(it);                                                                           \
            return;                                                                                \
        }                                                                                          \
    } while (0)

typedef struct {
    bool done;
    rv_cql_result_t *res;
    rv_error_t *err;
} it_call_t;

static void it_on_result(rv_cql_session_t *s, rv_cql_result_t *res, const rv_error_t *err,
                         void *opaque)
{
    it_call_t *c = opaque;
    c->done = true;
    c->res = res;
    c->err = err ? rv_error_copy(err) : NULL;
}

/* Executes st on s and waits; the result (caller frees) or NULL with *err. */
static inline rv_cql_result_t *it_exec_on(it_t *it, rv_cql_session_t *s, const rv_cql_stmt_t *st,
                                          rv_error_t **err)
{
    it_call_t c = {0};
    if (!rv_cql_execute(s, st, it_on_result, &c, err)) return NULL;
    it_wait(it, &c.done, 60000);
    if (!c.done) {
        rv_error_set(err, RV_ERR_TIMEOUT, true, "no answer in 60 s");
        return NULL;
    }
    if (c.err) rv_error_give(err, c.err);
    return c.res;
}

/* Runs a simple statement that must succeed; returns its result (caller frees). */
static inline rv_cql_result_t *it_query_at(it_t *it, const char *q, const char *file, int line)
{
    rv_cql_stmt_t *st = rv_cql_stmt_new(q, 0);
    rv_error_t *err = NULL;
    rv_cql_result_t *res = it_exec_on(it, it->s, st, &err);
    rv_cql_stmt_destroy(st);
    if (!res) rv_test_fail_at(file, line, "%s: %s", q, err ? rv_error_msg(err) : "?");
    rv_error_destroy(err);
    return res;
}
#define it_query(it, q) it_query_at(it, q, __FILE__, __LINE__)
#define it_run(it, q)   rv_cql_result_destroy(it_query_at(it, q, __FILE__, __LINE__))

/* The keyspace and a fresh, empty table `name` with the given columns. */
static inline void it_table(it_t *it, const char *name, const char *columns)
{
    char q[512];
    it_run(it, "CREATE KEYSPACE IF NOT EXISTS " IT_KEYSPACE " WITH replication = "
               "{'class': 'SimpleStrategy', 'replication_factor': 1}");
    snprintf(q, sizeof(q), "CREATE TABLE IF NOT EXISTS " IT_KEYSPACE ".%s (%s)", name, columns);
    it_run(it, q);
    snprintf(q, sizeof(q), "TRUNCATE " IT_KEYSPACE ".%s", name);
    it_run(it, q);
}

/* Runs the graph until done (or ms). */
static inline rv_err_t it_run_graph(it_t *it, uint64_t ms)
{
    return tu_run_all(&it->t, ms);
}

#endif
