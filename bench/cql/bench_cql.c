/* bench_cql: inserts per second of a small row (bigint key, short text) into
 * a local Cassandra at concurrency 1, 32 and 256, rivulet's CQL client
 * against the DataStax Python driver (execute_concurrent_with_args, Cython
 * build with libev) and the Apache Cassandra Java driver 4.19 (async
 * requests, at most <concurrency> outstanding), all measured in the same run
 * against the same node (RV_BENCH_JAVA=0 leaves Java out).
 * Also prints each client's CPU seconds (user + system, every thread) per
 * 100,000 inserts, and the ratios rivulet / Python.
 *
 *   bench_cql [rivulet-count [python-count]]     (python-count 0: rivulet only)
 *
 * Counts default to 100000 (rivulet) and 30000 (Python) per concurrency,
 * a fifth of that at concurrency 1. Connection: RV_CQL_HOST, RV_CQL_PORT,
 * RV_CQL_USER, RV_CQL_PASSWORD (defaults 127.0.0.1:9042, cassandra). Start the
 * node with tools/services/services start cassandra. Not a test: the numbers
 * depend on the machine and on what else runs on it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <uv.h>

#include "rivulet/cql.h"

#ifndef RV_BENCH_PY
#error "RV_BENCH_PY must name bench/cql/bench_py.py"
#endif
#ifndef RV_BENCH_JAVA
#error "RV_BENCH_JAVA must name bench/cql/bench_java.sh"
#endif

static const char *env(const char *n, const char *d)
{
    const char *v = getenv(n);
    return v && *v ? v : d;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
    struct rusage r;
    getrusage(RUSAGE_SELF, &r);
    return (double)r.ru_utime.tv_sec + (double)r.ru_utime.tv_usec / 1e6 +
           (double)r.ru_stime.tv_sec + (double)r.ru_stime.tv_usec / 1e6;
}

typedef struct bench {
    uv_loop_t loop;
    rv_cql_session_t *s;
    rv_cql_prepared_t *p;
    rv_cql_stmt_t *st;
    bool done;
    rv_error_t *err;
    long target, started, completed, failed;
    int window, inflight;
} bench_t;

static void on_connect(rv_cql_session_t *s, const rv_error_t *err, void *opaque)
{
    bench_t *b = opaque;
    (void)s;
    b->done = true;
    b->err = err ? rv_error_copy(err) : NULL;
}

static void on_result(rv_cql_session_t *s, rv_cql_result_t *res, const rv_error_t *err,
                      void *opaque)
{
    bench_t *b = opaque;
    (void)s;
    if (err && b->failed++ == 0) fprintf(stderr, "bench: insert failed: %s\n", rv_error_msg(err));
    rv_cql_result_destroy(res);
    b->inflight--;
    b->completed++;
}

/* Keeps `window` inserts in flight until `target` have completed. The stage
 * pattern: start the next request from the loop, never block. */
static void run(bench_t *b, long first_key)
{
    char v[32];
    while (b->completed < b->target) {
        while (b->inflight < b->window && b->started < b->target) {
            long k = first_key + b->started;
            rv_cql_stmt_reset(b->st);
            rv_cql_bind_bigint(b->st, 0, k);
            int n = snprintf(v, sizeof(v), "value-%ld", k);
            rv_cql_bind_text_n(b->st, 1, v, (size_t)n);
            rv_error_t *err = NULL;
            if (!rv_cql_execute(b->s, b->st, on_result, b, &err)) {
                fprintf(stderr, "bench: %s\n", rv_error_msg(err));
                exit(1);
            }
            b->started++;
            b->inflight++;
        }
        uv_run(&b->loop, UV_RUN_ONCE);
    }
}

static void simple(bench_t *b, const char *q)
{
    rv_cql_stmt_t *st = rv_cql_stmt_new(q, 0);
    b->target = b->completed + 1;
    b->started = b->completed;
    b->window = 1;
    b->done = false;
    rv_error_t *err = NULL;
    if (!rv_cql_execute(b->s, st, on_result, b, &err)) {
        fprintf(stderr, "bench: %s: %s\n", q, rv_error_msg(err));
        exit(1);
    }
    b->inflight++;
    b->started++;
    while (b->completed < b->target)
        uv_run(&b->loop, UV_RUN_ONCE);
    rv_cql_stmt_destroy(st);
}

static void on_prepared(rv_cql_session_t *s, rv_cql_prepared_t *p, const rv_error_t *err,
                        void *opaque)
{
    bench_t *b = opaque;
    (void)s;
    b->done = true;
    b->p = p;
    if (err) b->err = rv_error_copy(err);
}

typedef struct row {
    int conc;
    long n;
    double secs, cpu;
} row_t;

/* Runs a peer client program that prints "<name> <conc> <count> <secs> <cpu>". */
static bool peer(const char *prog, const char *name, int conc, long n, row_t *out)
{
    char cmd[1024], fmt[64];
    snprintf(cmd, sizeof(cmd), "%s %d %ld", prog, conc, n);
    snprintf(fmt, sizeof(fmt), "%s %%d %%ld %%lf %%lf", name);
    FILE *p = popen(cmd, "r");
    if (!p) return false;
    char line[256];
    bool ok = false;
    while (fgets(line, sizeof(line), p))
        if (sscanf(line, fmt, &out->conc, &out->n, &out->secs, &out->cpu) == 4) ok = true;
    return pclose(p) == 0 && ok;
}

static bool python(int conc, long n, row_t *out)
{
    return peer("/usr/bin/python3 " RV_BENCH_PY, "python", conc, n, out);
}

/* The Java driver peer; RV_BENCH_JAVA=0 leaves it out. */
static bool java(int conc, long n, row_t *out)
{
    return peer(RV_BENCH_JAVA, "java", conc, n, out);
}

int main(int argc, char **argv)
{
    long rv_n = argc > 1 ? atol(argv[1]) : 100000;
    long py_n = argc > 2 ? atol(argv[2]) : 30000;
    static const int concs[] = {1, 32, 256};
    bench_t b;
    memset(&b, 0, sizeof(b));
    uv_loop_init(&b.loop);
    rv_conf_t *c = rv_conf_new();
    rv_conf_set(c, "cql.contact.points", env("RV_CQL_HOST", "127.0.0.1"), NULL);
    rv_conf_set(c, "cql.port", env("RV_CQL_PORT", "9042"), NULL);
    rv_conf_set(c, "cql.username", env("RV_CQL_USER", "cassandra"), NULL);
    rv_conf_set(c, "cql.password", env("RV_CQL_PASSWORD", "cassandra"), NULL);
    rv_conf_set(c, "cql.request.timeout", "30s", NULL);
    rv_conf_set(c, "cql.consistency", "one", NULL);
    rv_error_t *err = NULL;
    b.s = rv_cql_session_new(&b.loop, c, &err);
    rv_conf_destroy(c);
    if (!b.s || rv_cql_session_connect(b.s, on_connect, &b, &err) != RV_OK) {
        fprintf(stderr, "bench: %s\n", rv_error_msg(err));
        return 1;
    }
    while (!b.done)
        uv_run(&b.loop, UV_RUN_ONCE);
    if (b.err) {
        fprintf(stderr, "bench: cannot connect (tools/services/services start cassandra): %s\n",
                rv_error_msg(b.err));
        return 1;
    }
    simple(&b, "CREATE KEYSPACE IF NOT EXISTS rv_bench WITH replication = "
               "{'class': 'SimpleStrategy', 'replication_factor': 1}");
    simple(&b, "CREATE TABLE IF NOT EXISTS rv_bench.small (k bigint PRIMARY KEY, v text)");
    b.done = false;
    rv_cql_prepare(b.s, "INSERT INTO rv_bench.small (k, v) VALUES (?, ?)", on_prepared, &b, NULL);
    while (!b.done)
        uv_run(&b.loop, UV_RUN_ONCE);
    if (!b.p) {
        fprintf(stderr, "bench: prepare failed: %s\n", b.err ? rv_error_msg(b.err) : "?");
        return 1;
    }
    b.st = rv_cql_stmt_new_prepared(b.p);
    rv_cql_stmt_set_idempotent(b.st, true);

    row_t rv[3], py[3], jv[3];
    bool with_java = strcmp(env("RV_BENCH_JAVA", "1"), "0") != 0;
    for (int i = 0; i < 3; i++) {
        long n = concs[i] == 1 ? rv_n / 5 : rv_n;
        /* Warm-up, then the measured run. */
        b.window = concs[i];
        b.completed = b.started = 0;
        b.target = 2000;
        run(&b, 0);
        b.completed = b.started = 0;
        b.target = n;
        double c0 = cpu_s(), t0 = now_s();
        run(&b, 1000000L * (i + 1));
        rv[i] = (row_t){concs[i], n, now_s() - t0, cpu_s() - c0};
        fprintf(stderr, "rivulet  concurrency %3d: %8.0f inserts/s\n", concs[i], n / rv[i].secs);
        long pn = concs[i] == 1 ? py_n / 5 : py_n;
        if (py_n <= 0) {
            py[i] = (row_t){concs[i], 0, 0, 0}; /* rivulet only (profiling) */
        } else if (!python(concs[i], pn, &py[i])) {
            fprintf(stderr, "bench: the Python driver run failed\n");
            py[i] = (row_t){concs[i], 0, 0, 0};
        } else {
            fprintf(stderr, "python   concurrency %3d: %8.0f inserts/s\n", concs[i],
                    py[i].n / py[i].secs);
        }
        jv[i] = (row_t){concs[i], 0, 0, 0};
        if (with_java && py_n > 0) {
            /* The Java driver is fast: give it as many inserts as rivulet. */
            if (!java(concs[i], n, &jv[i])) {
                fprintf(stderr, "bench: the Java driver run failed\n");
                jv[i] = (row_t){concs[i], 0, 0, 0};
            } else {
                fprintf(stderr, "java     concurrency %3d: %8.0f inserts/s\n", concs[i],
                        jv[i].n / jv[i].secs);
            }
        }
    }
    if (b.failed) fprintf(stderr, "bench: %ld rivulet inserts failed\n", b.failed);

    printf("\nsmall-row inserts into Cassandra at %s:%s (consistency ONE, prepared)\n",
           env("RV_CQL_HOST", "127.0.0.1"), env("RV_CQL_PORT", "9042"));
    printf("%-11s %-22s %9s %12s %13s\n", "concurrency", "client", "inserts", "inserts/s",
           "CPU s/100k");
    for (int i = 0; i < 3; i++) {
        printf("%-11d %-22s %9ld %12.0f %13.2f\n", concs[i], "rivulet", rv[i].n,
               rv[i].n / rv[i].secs, rv[i].cpu / rv[i].n * 100000);
        if (py[i].n)
            printf("%-11d %-22s %9ld %12.0f %13.2f\n", concs[i], "python-driver", py[i].n,
                   py[i].n / py[i].secs, py[i].cpu / py[i].n * 100000);
        if (jv[i].n)
            printf("%-11d %-22s %9ld %12.0f %13.2f\n", concs[i], "java-driver", jv[i].n,
                   jv[i].n / jv[i].secs, jv[i].cpu / jv[i].n * 100000);
    }
    printf("\n%-11s %22s %22s\n", "concurrency", "throughput rv/java", "CPU per insert rv/java");
    for (int i = 0; i < 3; i++)
        if (jv[i].n)
            printf("%-11d %21.2fx %21.2fx\n", concs[i],
                   (rv[i].n / rv[i].secs) / (jv[i].n / jv[i].secs),
                   (rv[i].cpu / rv[i].n) / (jv[i].cpu / jv[i].n));
    printf("\n%-11s %22s %22s\n", "concurrency", "throughput rv/python", "CPU per insert rv/py");
    for (int i = 0; i < 3; i++)
        if (py[i].n)
            printf("%-11d %21.2fx %21.2fx\n", concs[i],
                   (rv[i].n / rv[i].secs) / (py[i].n / py[i].secs),
                   (rv[i].cpu / rv[i].n) / (py[i].cpu / py[i].n));
    rv_cql_stmt_destroy(b.st);
    rv_cql_session_destroy(b.s);
    uv_run(&b.loop, UV_RUN_DEFAULT);
    uv_loop_close(&b.loop);
    rv_error_destroy(b.err);
    return b.failed ? 1 : 0;
}
