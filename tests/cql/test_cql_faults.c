/* Fault tests against a real Cassandra managed by tools/services/services:
 *
 *   SIGSTOP for 10 s, then SIGCONT: requests in flight and new ones time out
 *   at their deadline (none hangs), and the client recovers on its own once
 *   the server runs again.
 *
 *   A full stop and start (services restart cassandra): connections are
 *   lost, reconnection backs off, and the same session — with its prepared
 *   statement — works again after the restart.
 *
 * Both keep a steady load of idempotent prepared inserts running and print
 * what the client saw, second by second. A watchdog process sends SIGCONT
 * after 12 s whatever happens to the test, so a frozen server never stays
 * frozen. */
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cql_it.h"

#ifndef RV_SERVICES
#error "RV_SERVICES must name tools/services/services"
#endif

static pid_t cassandra_pid(void)
{
    FILE *p = popen(RV_SERVICES " pid cassandra 2>/dev/null", "r");
    if (!p) return -1;
    long pid = -1;
    if (fscanf(p, "%ld", &pid) != 1) pid = -1;
    pclose(p);
    return (pid_t)pid;
}

typedef struct load {
    it_t *t;
    rv_cql_prepared_t *p;
    rv_cql_stmt_t *st;
    int window, inflight, next;
    bool stop;
    /* totals and per-second counts */
    int ok, timeouts, other;
    int sec_ok, sec_timeouts, sec_other;
    uint64_t last_ok_at;
    char last_error[256];
} load_t;

static void pump(load_t *l);

static void on_load(rv_cql_session_t *s, rv_cql_result_t *res, const rv_error_t *err, void *opaque)
{
    load_t *l = opaque;
    (void)s;
    l->inflight--;
    if (!err) {
        l->ok++;
        l->sec_ok++;
        l->last_ok_at = uv_now(&l->t->loop);
    } else if (rv_error_code(err) == RV_ERR_TIMEOUT) {
        l->timeouts++;
        l->sec_timeouts++;
    } else {
        l->other++;
        l->sec_other++;
        snprintf(l->last_error, sizeof(l->last_error), "%s", rv_error_msg(err));
    }
    rv_cql_result_destroy(res);
    pump(l);
}

static void pump(load_t *l)
{
    while (!l->stop && l->inflight < l->window) {
        rv_cql_stmt_reset(l->st);
        rv_cql_bind_int(l->st, 0, l->next % 1000);
        rv_cql_bind_int(l->st, 1, l->next);
        l->next++;
        rv_error_t *err = NULL;
        if (!rv_cql_execute(l->t->s, l->st, on_load, l, &err)) {
            snprintf(l->last_error, sizeof(l->last_error), "%s", rv_error_msg(err));
            rv_error_destroy(err);
            return;
        }
        l->inflight++;
    }
}

/* Runs the loop for ms while printing a line per second. */
static void run_load(load_t *l, uint64_t ms, const char *phase)
{
    uint64_t end = uv_now(&l->t->loop) + ms, sec = uv_now(&l->t->loop) + 1000;
    while (uv_now(&l->t->loop) < end) {
        uv_run(&l->t->loop, UV_RUN_NOWAIT);
        usleep(1000);
        uv_update_time(&l->t->loop);
        if (uv_now(&l->t->loop) >= sec) {
            rv_cql_stats_t st;
            rv_cql_session_stats(l->t->s, &st);
            fprintf(stderr,
                    "    %-9s ok %5d  timeouts %3d  errors %3d | conns %u in flight %u queued %u\n",
                    phase, l->sec_ok, l->sec_timeouts, l->sec_other, st.connections, st.in_flight,
                    st.queued);
            l->sec_ok = l->sec_timeouts = l->sec_other = 0;
            sec += 1000;
        }
    }
}

static void drain(load_t *l)
{
    l->stop = true;
    while (l->inflight > 0)
        uv_run(&l->t->loop, UV_RUN_ONCE);
}

static bool load_init(load_t *l, it_t *t)
{
    memset(l, 0, sizeof(*l));
    l->t = t;
    it_keyspace(t);
    it_run(t, "CREATE TABLE IF NOT EXISTS rv_test_cql.faults (k int PRIMARY KEY, v int)");
    l->p = it_prepare(t, "INSERT INTO rv_test_cql.faults (k, v) VALUES (?, ?)");
    if (!l->p) return false;
    l->st = rv_cql_stmt_new_prepared(l->p);
    rv_cql_stmt_set_idempotent(l->st, true);
    l->window = 32;
    return true;
}

static const char *const FAULT_CONF[] = {"cql.request.timeout",
                                         "2s",
                                         "cql.connect.timeout",
                                         "2s",
                                         "cql.reconnect.min",
                                         "100ms",
                                         "cql.reconnect.max",
                                         "1s",
                                         "cql.heartbeat.interval",
                                         "1s",
                                         NULL};

static void test_sigstop_10s(void)
{
    pid_t pid = cassandra_pid();
    if (pid <= 0) {
        rv_test_fail_at(__FILE__, __LINE__,
                        "no Cassandra pid from " RV_SERVICES " pid cassandra (start it first)");
        return;
    }
    it_t t;
    IT_OPEN(&t, FAULT_CONF);
    load_t l;
    REQUIRE(load_init(&l, &t));
    pump(&l);
    run_load(&l, 2000, "before");
    int ok_before = l.ok;
    CHECK(ok_before > 0);

    /* The watchdog resumes the server after 12 s no matter what. */
    pid_t dog = fork();
    if (dog == 0) {
        sleep(12);
        kill(pid, SIGCONT);
        _exit(0);
    }
    REQUIRE(kill(pid, SIGSTOP) == 0);
    uint64_t t_stop = uv_now(&t.loop);
    run_load(&l, 10000, "stopped");
    int timeouts_frozen = l.timeouts;
    kill(pid, SIGCONT);
    uint64_t t_cont = uv_now(&t.loop);
    fprintf(stderr, "    SIGCONT after %.1f s\n", (double)(t_cont - t_stop) / 1000);
    int ok_at_cont = l.ok;
    while (l.ok == ok_at_cont && uv_now(&t.loop) - t_cont < 30000)
        run_load(&l, 200, "resumed");
    uint64_t recovered = uv_now(&t.loop) - t_cont;
    run_load(&l, 3000, "after");
    drain(&l);
    waitpid(dog, NULL, 0);

    fprintf(stderr,
            "    totals: ok %d, timeouts %d, other errors %d (last: %s); first success "
            "%.1f s after SIGCONT\n",
            l.ok, l.timeouts, l.other, l.last_error, (double)recovered / 1000);
    CHECK(timeouts_frozen > 0);     /* requests met their deadline */
    CHECK(recovered < 15000);       /* and the client recovered by itself */
    CHECK(l.ok > ok_at_cont + 100); /* with a steady flow afterwards */
    rv_cql_stats_t st;
    rv_cql_session_stats(t.s, &st);
    CHECK_EQ(st.in_flight, 0);
    CHECK_EQ(st.hosts_up, 1);
    rv_cql_stmt_destroy(l.st);
    it_close(&t);
}

typedef struct child {
    bool done;
    int64_t status;
} child_t;

static void on_exit_cb(uv_process_t *p, int64_t status, int sig)
{
    child_t *c = p->data;
    (void)sig;
    c->done = true;
    c->status = status;
    uv_close((uv_handle_t *)p, NULL);
}

static void test_stop_and_start(void)
{
    it_t t;
    IT_OPEN(&t, FAULT_CONF);
    load_t l;
    REQUIRE(load_init(&l, &t));
    l.window = 8;
    pump(&l);
    run_load(&l, 2000, "before");
    CHECK(l.ok > 0);

    /* services restart runs beside the loop, which keeps the load going. */
    uv_process_t proc;
    child_t ch = {0};
    proc.data = &ch;
    char *args[] = {RV_SERVICES, "restart", "cassandra", NULL};
    uv_process_options_t opt = {0};
    opt.file = RV_SERVICES;
    opt.args = args;
    opt.exit_cb = on_exit_cb;
    uv_stdio_container_t stdio[3] = {
        {UV_IGNORE, {0}}, {UV_INHERIT_FD, {.fd = 2}}, {UV_INHERIT_FD, {.fd = 2}}};
    opt.stdio = stdio;
    opt.stdio_count = 3;
    uint64_t t0 = uv_now(&t.loop);
    REQUIRE(uv_spawn(&t.loop, &proc, &opt) == 0);
    while (!ch.done && uv_now(&t.loop) - t0 < 240000)
        run_load(&l, 1000, "restart");
    uint64_t t_up = uv_now(&t.loop);
    fprintf(stderr, "    services restart took %.1f s (exit %lld)\n", (double)(t_up - t0) / 1000,
            (long long)ch.status);
    REQUIRE(ch.done && ch.status == 0);
    int ok_at_up = l.ok;
    while (l.ok == ok_at_up && uv_now(&t.loop) - t_up < 30000)
        run_load(&l, 200, "back");
    uint64_t recovered = uv_now(&t.loop) - t_up;
    run_load(&l, 3000, "after");
    drain(&l);
    rv_cql_stats_t st;
    rv_cql_session_stats(t.s, &st);
    fprintf(stderr,
            "    totals: ok %d, timeouts %d, other errors %d (last: %s); first success "
            "%.1f s after the restart; reconnects %llu, connection errors %llu, "
            "re-prepares %llu\n",
            l.ok, l.timeouts, l.other, l.last_error, (double)recovered / 1000,
            (unsigned long long)st.reconnects, (unsigned long long)st.connection_errors,
            (unsigned long long)st.reprepares);
    CHECK(recovered < 15000);
    CHECK(l.ok > ok_at_up + 50);
    CHECK(st.connection_errors >= 1);
    CHECK(st.reconnects >= 1);
    CHECK_EQ(st.hosts_up, 1);
    rv_cql_stmt_destroy(l.st);
    it_close(&t);
}

RV_TEST_MAIN(RV_TEST_T(test_sigstop_10s, 120), RV_TEST_T(test_stop_and_start, 360))
