/* rivulet-cart run: the command side until stopped (SIGINT/SIGTERM drain the
 * graph, commit and exit), until idle (--idle-exit), or until it fails. */
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app.h"

typedef struct run_state {
    app_t *a;
    cart_pipeline_t *p;
    uv_loop_t *loop;
    bool done, tty, stopping;
    rv_error_t *status;
    uv_signal_t sigint, sigterm;
    uv_timer_t progress;
    uint64_t last_emitted, last_change_ms, start_ms, last_line_ms, last_line_count, first_ms;
    int64_t interval_ms;
} run_state_t;

static void on_done(rv_graph_t *g, const rv_error_t *status, void *opaque)
{
    run_state_t *r = opaque;
    r->status = rv_error_copy(status);
    r->done = true;
}

static void on_signal(uv_signal_t *h, int signum)
{
    run_state_t *r = h->data;
    if (!r->stopping) {
        r->stopping = true;
        fprintf(stderr, "%srivulet-cart: %s: draining, committing and stopping\n",
                r->tty ? "\n" : "", signum == SIGINT ? "SIGINT" : "SIGTERM");
        rv_graph_stop(cart_pipeline_graph(r->p));
    } else {
        rv_graph_abort(cart_pipeline_graph(r->p));
    }
}

/* Consumer lag: for each assigned partition, the high watermark librdkafka has
 * seen minus the consumer's position. Cached values only: never blocks. */
static int64_t consumer_lag(rd_kafka_t *rk)
{
    if (!rk) return -1;
    rd_kafka_topic_partition_list_t *parts = NULL;
    if (rd_kafka_assignment(rk, &parts) != RD_KAFKA_RESP_ERR_NO_ERROR || !parts) return -1;
    rd_kafka_position(rk, parts);
    int64_t lag = 0;
    for (int i = 0; i < parts->cnt; i++) {
        int64_t lo, hi;
        if (rd_kafka_get_watermark_offsets(rk, parts->elems[i].topic, parts->elems[i].partition,
                                           &lo, &hi) == RD_KAFKA_RESP_ERR_NO_ERROR &&
            hi >= 0 && parts->elems[i].offset >= 0 && hi > parts->elems[i].offset)
            lag += hi - parts->elems[i].offset;
    }
    rd_kafka_topic_partition_list_destroy(parts);
    return lag;
}

static void print_progress(run_state_t *r, bool final)
{
    rv_kafka_source_stats_t ks;
    rv_kafka_source_get_stats(cart_pipeline_source(r->p), &ks);
    const cart_stats_t *cs = cart_pipeline_stats(r->p);
    uint64_t now = uv_now(r->loop);
    double secs = (double)(now - r->last_line_ms) / 1000.0;
    double rate = secs > 0 ? (double)(ks.acked - r->last_line_count) / secs : 0;
    if (final && r->first_ms &&
        r->last_change_ms > r->first_ms) /* the final line: over the busy span */
        rate = (double)ks.acked / ((double)(r->last_change_ms - r->first_ms) / 1000.0);
    r->last_line_ms = now;
    r->last_line_count = ks.acked;
    int64_t lag = consumer_lag(rv_kafka_source_handle(cart_pipeline_source(r->p)));
    char lagbuf[32];
    if (lag < 0)
        snprintf(lagbuf, sizeof(lagbuf), "?");
    else
        snprintf(lagbuf, sizeof(lagbuf), "%" PRId64, lag);
    fprintf(stderr,
            "%sprocessed %" PRIu64 " (%.0f/s) | lag %s | in flight %" PRIu64 " | retries %" PRIu64
            " | dead letters %" PRIu64 " | applied %" PRIu64 " rejected %" PRIu64
            " skipped %" PRIu64 " | commits %" PRIu64 "%s",
            r->tty && !final ? "\r" : "", ks.acked, rate, lagbuf, ks.in_flight, cs->retries,
            cs->dead_letters, cs->applied, cs->rejected, cs->skipped, ks.commits_ok,
            r->tty && !final ? "\033[K" : "\n");
    fflush(stderr);
}

static void on_progress(uv_timer_t *t)
{
    run_state_t *r = t->data;
    rv_kafka_source_stats_t ks;
    rv_kafka_source_get_stats(cart_pipeline_source(r->p), &ks);
    uint64_t now = uv_now(r->loop);
    /* Idle means: assigned partitions, and nothing new for a while (joining a
     * group, or waiting out a dead member's session, is not idle). */
    if (ks.emitted > 0 && !r->first_ms) r->first_ms = now;
    if (ks.emitted != r->last_emitted || ks.in_flight > 0 || ks.assigned == ks.revoked) {
        r->last_emitted = ks.emitted;
        r->last_change_ms = now;
    }
    if (!r->a->quiet && r->interval_ms > 0 && now - r->last_line_ms >= (uint64_t)r->interval_ms)
        print_progress(r, false);
    if (r->a->idle_exit_ms > 0 && !r->stopping &&
        now - r->last_change_ms >= (uint64_t)r->a->idle_exit_ms) {
        r->stopping = true;
        rv_graph_stop(cart_pipeline_graph(r->p));
    }
}

/* --crash-after: the process dies the hard way, mid-stream, as a test of what
 * an uncommitted tail does. */
static void on_outcome(cart_pipeline_t *p, void *opaque)
{
    run_state_t *r = opaque;
    if ((int64_t)cart_pipeline_commands_done(p) >= r->a->crash_after) {
        fprintf(stderr, "rivulet-cart: --crash-after %" PRId64 " reached: SIGKILL\n",
                r->a->crash_after);
        fflush(stderr);
        raise(SIGKILL);
    }
}

static void closed(uv_handle_t *h) {}

int app_run(app_t *a)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    rv_error_t *err = NULL;
    cart_store_t *store = app_open_store(a, &loop, &err);
    if (!store) return app_fail(APP_FAILED, "store", err);
    cart_pipeline_t *p = cart_pipeline_new(&loop, a->conf, store, &err);
    if (!p) {
        app_close_store(store, &loop);
        return app_fail(rv_error_code(err) == RV_ERR_CONFIG ? APP_USAGE : APP_FAILED, NULL, err);
    }
    run_state_t r = {.a = a, .p = p, .loop = &loop, .tty = isatty(2)};
    r.interval_ms = rv_conf_ms(a->conf, &cart_conf_table, "cart.progress.interval");
    r.start_ms = r.last_change_ms = r.last_line_ms = uv_now(&loop);
    if (rv_graph_run(cart_pipeline_graph(p), on_done, &r, &err) != RV_OK) {
        cart_pipeline_destroy(p);
        app_close_store(store, &loop);
        uv_run(&loop, UV_RUN_DEFAULT);
        return app_fail(rv_error_code(err) == RV_ERR_CONFIG || rv_error_code(err) == RV_ERR_INVALID
                            ? APP_USAGE
                            : APP_FAILED,
                        "start", err);
    }
    if (!a->quiet)
        fprintf(stderr,
                "rivulet-cart: running (%s topology, %s mode, %s store); Ctrl-C stops cleanly\n",
                cart_topology_name(cart_pipeline_topology(p)),
                cart_pipeline_mode(p) == CART_MODE_IDEMPOTENT ? "idempotent" : "duplicates",
                store->ops->name);
    uv_signal_init(&loop, &r.sigint);
    uv_signal_init(&loop, &r.sigterm);
    r.sigint.data = r.sigterm.data = &r;
    uv_signal_start(&r.sigint, on_signal, SIGINT);
    uv_signal_start(&r.sigterm, on_signal, SIGTERM);
    uv_timer_init(&loop, &r.progress);
    r.progress.data = &r;
    uv_timer_start(&r.progress, on_progress, 100, 100);
    if (a->crash_after > 0) cart_pipeline_set_observer(p, on_outcome, &r);
    app_wait(&loop, &r.done);
    if (!a->quiet) print_progress(&r, true);
    uv_close((uv_handle_t *)&r.sigint, closed);
    uv_close((uv_handle_t *)&r.sigterm, closed);
    uv_close((uv_handle_t *)&r.progress, closed);
    cart_pipeline_destroy(p);
    /* The store's connections keep the loop alive: close it before the loop
     * runs out the remaining close callbacks. */
    app_close_store(store, &loop);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    if (r.status) return app_fail(APP_FAILED, "the pipeline failed", r.status);
    return APP_OK;
}
