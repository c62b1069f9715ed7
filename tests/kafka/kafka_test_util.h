/* Helpers for the Kafka tests: running a loop until something holds, a
 * "holder" sink that keeps elements for the test to release in any order, and
 * a plain librdkafka producer and consumer to put records in and read them back
 * without the stages under test. */
#ifndef RV_KAFKA_TEST_UTIL_H
#define RV_KAFKA_TEST_UTIL_H

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "rivulet.h"
#include "rivulet/kafka.h"
#include "rv_test.h"

/* ------------------------------------------------------------ running */

typedef struct {
    bool done;
    rv_err_t code;
    char msg[512];
} kt_result_t;

static inline void kt_done(rv_graph_t *g, const rv_error_t *status, void *opaque)
{
    kt_result_t *r = opaque;
    r->done = true;
    r->code = rv_error_code(status);
    snprintf(r->msg, sizeof(r->msg), "%s", status ? rv_error_msg(status) : "");
}

static inline void kt_tick(uv_timer_t *t) {}

/* Runs the loop until pred(arg) holds or `seconds` passed; true when it held.
 * A ticking timer keeps uv_run from blocking past the deadline. */
static inline bool kt_run_until(uv_loop_t *loop, bool (*pred)(void *), void *arg, double seconds)
{
    uv_timer_t tick;
    uv_timer_init(loop, &tick);
    uv_timer_start(&tick, kt_tick, 5, 5);
    uint64_t deadline = uv_hrtime() + (uint64_t)(rv_test_scale(seconds) * 1e9);
    bool ok;
    while (!(ok = pred(arg)) && uv_hrtime() < deadline)
        uv_run(loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&tick, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    return ok;
}

static inline bool kt_is_done(void *r)
{
    return ((kt_result_t *)r)->done;
}

/* Starts g; the result lands in *r. */
static inline bool kt_start(rv_graph_t *g, kt_result_t *r)
{
    rv_error_t *err = NULL;
    if (rv_graph_run(g, kt_done, r, &err) != RV_OK) {
        r->done = true;
        r->code = rv_error_code(err);
        snprintf(r->msg, sizeof(r->msg), "%s", rv_error_msg(err));
        rv_error_destroy(err);
        fprintf(stderr, "  rv_graph_run: %s\n", r->msg);
        return false;
    }
    return true;
}

/* Destroys g and lets the loop close what it had open. */
static inline void kt_destroy(rv_graph_t *g)
{
    uv_loop_t *loop = rv_graph_loop(g);
    rv_graph_destroy(g);
    uv_run(loop, UV_RUN_DEFAULT);
}

/* A topic name no other test (or earlier run) used. */
static inline void kt_topic(char *buf, size_t n, const char *what)
{
    snprintf(buf, n, "rv-%s-%d-%llu", what, (int)getpid(), (unsigned long long)uv_hrtime());
}

static inline void kt_set(rv_conf_t *c, const char *k, const char *v)
{
    rv_error_t *err = NULL;
    if (rv_conf_set(c, k, v, &err) != RV_OK) {
        fprintf(stderr, "conf %s=%s: %s\n", k, v, rv_error_msg(err));
        rv_error_destroy(err);
    }
}

/* ------------------------------------------------------- the holder sink */

/* Takes every element and keeps it until the test releases it. */
typedef struct {
    rv_env_t **envs;
    size_t n, cap;
    size_t limit; /* takes at most this many in total (0: no limit) */
} kt_holder_t;

static inline void kt_holder_input(rv_stage_t *st)
{
    kt_holder_t *h = rv_stage_state(st);
    while (!h->limit || h->n < h->limit) {
        rv_env_t *env = rv_in_pop(st, 0);
        if (!env) break;
        if (h->n == h->cap) {
            h->cap = h->cap ? h->cap * 2 : 64;
            h->envs = realloc(h->envs, h->cap * sizeof(*h->envs));
        }
        h->envs[h->n++] = env;
    }
}

static inline void kt_holder_stop(rv_stage_t *st)
{
    kt_holder_t *h = rv_stage_state(st);
    for (size_t i = 0; i < h->n; i++)
        if (h->envs[i]) rv_env_release_failed(h->envs[i], RV_ERR_CANCELLED);
    h->n = 0;
}

static const rv_stage_ops_t kt_holder_ops = {
    .kind = "holder", .on_input = kt_holder_input, .stop = kt_holder_stop};

/* The holder's state is the test's (it must outlive the graph). */
static inline rv_stage_t *kt_holder(rv_graph_t *g, kt_holder_t *h)
{
    return rv_stage_new(g, &kt_holder_ops, h, 1, 0);
}

static inline void kt_holder_release(kt_holder_t *h, size_t i, bool ok)
{
    if (!h->envs[i]) return;
    if (ok)
        rv_env_release(h->envs[i]);
    else
        rv_env_release_failed(h->envs[i], RV_ERR_USER);
    h->envs[i] = NULL;
}

static inline void kt_holder_free(kt_holder_t *h)
{
    free(h->envs);
    memset(h, 0, sizeof(*h));
}

/* ------------------------------------------------- plain librdkafka clients */

/* Produces n records "key-<i>" / "value-<i>" (i from `first`) to topic and
 * waits for every delivery. partition < 0: by key. Returns the failures. */
static inline int kt_produce(const char *bootstraps, const char *topic, int first, int n,
                             int32_t partition)
{
    char errstr[512];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_set(c, "bootstrap.servers", bootstraps, errstr, sizeof(errstr));
    rd_kafka_conf_set(c, "linger.ms", "5", errstr, sizeof(errstr));
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, errstr, sizeof(errstr));
    if (!rk) {
        fprintf(stderr, "kt_produce: %s\n", errstr);
        return n;
    }
    int fails = 0;
    for (int i = first; i < first + n; i++) {
        char k[32], v[64];
        int kl = snprintf(k, sizeof(k), "key-%d", i);
        int vl = snprintf(v, sizeof(v), "value-%d", i);
        rd_kafka_resp_err_t err;
        do {
            err = rd_kafka_producev(
                rk, RD_KAFKA_V_TOPIC(topic),
                RD_KAFKA_V_PARTITION(partition < 0 ? RD_KAFKA_PARTITION_UA : partition),
                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY(k, (size_t)kl),
                RD_KAFKA_V_VALUE(v, (size_t)vl), RD_KAFKA_V_HEADER("idx", k + 4, (ssize_t)(kl - 4)),
                RD_KAFKA_V_END);
            if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) rd_kafka_poll(rk, 10);
        } while (err == RD_KAFKA_RESP_ERR__QUEUE_FULL);
        if (err) fails++;
    }
    if (rd_kafka_flush(rk, 30000) != RD_KAFKA_RESP_ERR_NO_ERROR) fails = n;
    rd_kafka_destroy(rk);
    return fails;
}

/* The committed offset of group for topic/partition as the broker has it
 * (-1001 when none), -2000 on error. */
static inline int64_t kt_committed(const char *bootstraps, const char *group, const char *topic,
                                   int32_t partition)
{
    char errstr[512];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_set(c, "bootstrap.servers", bootstraps, errstr, sizeof(errstr));
    rd_kafka_conf_set(c, "group.id", group, errstr, sizeof(errstr));
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, errstr, sizeof(errstr));
    if (!rk) return -2000;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, partition);
    int64_t off = -2000;
    if (rd_kafka_committed(rk, l, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR && !l->elems[0].err)
        off = l->elems[0].offset;
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_destroy(rk);
    return off;
}

#endif
