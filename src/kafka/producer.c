/* The producer stage shared by KafkaSink (sink.c), KafkaFlow (flow.c) and the
 * dead-letter sink (dead_letter.c): an idempotent librdkafka producer whose
 * delivery reports come back to the loop through the main queue's wake-up
 * pipe (qio.c).
 *
 * An element is taken from the input only while fewer than max.in.flight are
 * held; it is held from the produce call until its delivery report, and in a
 * flow until it is emitted. Values are not copied: librdkafka reads them
 * straight from the element's payload, which the held envelope keeps alive.
 * On success the sink releases the element (acking its record when it was the
 * last holder) and the flow emits a derived element carrying partition and
 * offset; on failure the element is released as failed and the decider
 * decides. Completion waits for the last delivery report. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka/internal.h"
#include "rivulet/clock.h"

typedef struct kprod {
    rv_stage_t *st; /* NULL once the stop hook ran */
    rv_graph_t *g;
    char name[96];
    rv__kconf_t kc;
    rd_kafka_t *rk;
    rd_kafka_queue_t *mainq;
    rv__kqio_t *io;
    char *topic;
    rd_kafka_topic_t *rkt;
    rv_kafka_out_fn fn;
    void *opaque;
    rv_free_fn opaque_free;
    bool flow;
    size_t in_flight;  /* produced, delivery report not seen yet */
    rv_env_t *pending; /* taken, waiting for room in librdkafka's queue */
    rv_env_t **ready;  /* flow: delivered, waiting for room downstream */
    size_t ready_head, ready_n, ready_cap;
    bool upstream_done, failed, cancelled;
    bool reported; /* a delivery report came during the current poll */
    rv_error_t *upstream_err;
    rv_timer_t *connect_timer;
    char last_error[512];
    rv_kafka_sink_stats_t stats;
} kprod_t;

/* The payload a flow emits: the public struct plus the topic name's bytes. */
typedef struct delivery {
    rv_kafka_delivery_t d;
    char topic[];
} delivery_t;

static size_t held(const kprod_t *p)
{
    return p->in_flight + p->ready_n + (p->pending ? 1 : 0);
}

static void note_held(kprod_t *p)
{
    size_t h = held(p);
    p->stats.in_flight = h;
    if (h > p->stats.in_flight_max) p->stats.in_flight_max = h;
    if (p->st) rv_stage_set_in_flight(p->st, h);
}

static void fail_stage(kprod_t *p, rv_error_t *err)
{
    p->failed = true;
    if (p->st && !rv_stage_finished(p->st))
        rv_stage_fail(p->st, err);
    else
        rv_error_destroy(err);
}

/* An element failed (mapping, produce or delivery): it is released as failed,
 * so its record is never acked, and the decider says whether the stage goes on. */
static void element_failed(kprod_t *p, rv_env_t *env, rv_error_t *err)
{
    p->stats.failed++;
    rv_env_release_failed(env, rv_error_code(err));
    if (!p->st || p->failed) {
        rv_error_destroy(err);
        return;
    }
    rv_stage_count_failure(p->st);
    if (rv_stage_decide(p->st, err, 1) == RV_RESUME) {
        rv_error_destroy(err);
        return;
    }
    fail_stage(p, err);
}

static bool ready_push(kprod_t *p, rv_env_t *env)
{
    if (p->ready_n == p->ready_cap) {
        size_t cap = p->ready_cap ? p->ready_cap * 2 : 64;
        rv_env_t **nr = malloc(cap * sizeof(*nr));
        if (!nr) return false;
        for (size_t i = 0; i < p->ready_n; i++)
            nr[i] = p->ready[(p->ready_head + i) % p->ready_cap];
        free(p->ready);
        p->ready = nr;
        p->ready_cap = cap;
        p->ready_head = 0;
    }
    p->ready[(p->ready_head + p->ready_n) % p->ready_cap] = env;
    p->ready_n++;
    return true;
}

static rv_env_t *ready_pop(kprod_t *p)
{
    if (p->ready_n == 0) return NULL;
    rv_env_t *env = p->ready[p->ready_head];
    p->ready_head = (p->ready_head + 1) % p->ready_cap;
    p->ready_n--;
    return env;
}

/* Finishes the stage once upstream is done and nothing is held. */
static void check_done(kprod_t *p)
{
    if (!p->st || rv_stage_finished(p->st) || !p->upstream_done || held(p) > 0) return;
    if (p->upstream_err) {
        rv_error_t *e = p->upstream_err;
        p->upstream_err = NULL;
        rv_stage_fail(p->st, e);
    } else {
        rv_stage_finish(p->st);
    }
}

/* -------------------------------------------------------- delivery reports */

static void dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    kprod_t *p = opaque;
    rv_env_t *env = m->_private;
    p->in_flight--;
    if (m->err) {
        const char *topic = m->rkt ? rd_kafka_topic_name(m->rkt) : "?";
        element_failed(p, env,
                       rv__kafka_error(m->err, "%s: delivery to %s [%" PRId32 "] failed: %s",
                                       p->name, topic, m->partition, rd_kafka_err2str(m->err)));
    } else if (!p->flow) {
        p->stats.delivered++;
        rv_env_release(env);
    } else if (!p->st) {
        /* A flow being torn down: delivered, but nothing downstream will
         * take it, so the element is not done. */
        p->stats.delivered++;
        rv_env_release_failed(env, RV_ERR_CANCELLED);
    } else {
        p->stats.delivered++;
        const char *topic = rd_kafka_topic_name(m->rkt);
        size_t tl = strlen(topic);
        delivery_t *d = malloc(sizeof(*d) + tl + 1);
        rv_env_t *out = NULL;
        if (d) {
            memcpy(d->topic, topic, tl + 1);
            d->d.topic = d->topic;
            d->d.partition = m->partition;
            d->d.offset = m->offset;
            d->d.timestamp_ms = rd_kafka_message_timestamp(m, NULL);
            d->d.input = rv_env_payload(env);
            out = rv_env_derive(env, d, free);
        }
        if (!out || !ready_push(p, out)) {
            if (out) rv_env_release_failed(out, RV_ERR_NOMEM);
            rv_env_release_failed(env, RV_ERR_NOMEM);
            fail_stage(p, rv_error_new(RV_ERR_NOMEM, true, "%s: out of memory", p->name));
        } else {
            rv_env_release(env); /* the derived element holds it now */
        }
    }
    p->reported = true;
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    kprod_t *p = opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char buf[512];
        rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, buf, sizeof(buf));
        fail_stage(p, rv__kafka_error(orig, "%s: fatal producer error: %s", p->name, buf));
        return;
    }
    snprintf(p->last_error, sizeof(p->last_error), "%s", reason);
}

/* Delivery reports and errors, served on this thread; the stage runs once
 * after a batch of reports rather than once per report. */
static void on_queue(void *opaque)
{
    kprod_t *p = opaque;
    p->reported = false;
    rd_kafka_poll(p->rk, 0);
    if (p->reported) {
        note_held(p);
        if (p->st && !rv_stage_finished(p->st)) rv_stage_wake(p->st);
    }
}

/* ---------------------------------------------------------------- producing */

/* Hands one element to librdkafka. RD_KAFKA_RESP_ERR__QUEUE_FULL leaves it
 * with the caller; any other failure is returned in *errp. */
static rd_kafka_resp_err_t produce(kprod_t *p, rv_env_t *env, rv_error_t **errp)
{
    rv_kafka_out_t out = {.partition = RV_KAFKA_PARTITION_ANY};
    if (p->fn) {
        rv_err_t rc = p->fn(env, &out, errp, p->opaque);
        if (rc != RV_OK) {
            if (errp && !*errp)
                rv_error_set(errp, rc, false, "%s: the message function failed: %s", p->name,
                             rv_err_str(rc));
            return RD_KAFKA_RESP_ERR__FAIL;
        }
    } else {
        const rv_kafka_out_t *o = rv_env_payload(env);
        if (!o) {
            rv_error_set(errp, RV_ERR_INVALID, false,
                         "%s: an element has no payload (expected an rv_kafka_out_t)", p->name);
            return RD_KAFKA_RESP_ERR__INVALID_ARG;
        }
        out = *o;
    }
    if (!out.topic && !p->rkt) {
        rv_error_set(errp, RV_ERR_INVALID, false,
                     "%s: a message names no topic and the stage has none", p->name);
        return RD_KAFKA_RESP_ERR__INVALID_ARG;
    }
    if (!out.topic && !out.headers && !out.timestamp_ms) {
        /* The common case takes librdkafka's plain produce call, the one a
         * hand-written producer loop uses. */
        if (rd_kafka_produce(p->rkt, out.partition, out.copy_value ? RD_KAFKA_MSG_F_COPY : 0,
                             (void *)out.value, out.value ? out.value_len : 0, out.key,
                             out.key ? out.key_len : 0, env) == 0)
            return RD_KAFKA_RESP_ERR_NO_ERROR;
        rd_kafka_resp_err_t err = rd_kafka_last_error();
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rv_error_give(errp, rv__kafka_error(err, "%s: producing to %s: %s", p->name, p->topic,
                                                rd_kafka_err2str(err)));
        return err;
    }
    rd_kafka_headers_t *hdrs = out.headers ? rd_kafka_headers_copy(out.headers) : NULL;
    rd_kafka_vu_t vu[9];
    size_t n = 0;
    if (out.topic) {
        vu[n].vtype = RD_KAFKA_VTYPE_TOPIC;
        vu[n++].u.cstr = out.topic;
    } else {
        vu[n].vtype = RD_KAFKA_VTYPE_RKT;
        vu[n++].u.rkt = p->rkt;
    }
    vu[n].vtype = RD_KAFKA_VTYPE_PARTITION;
    vu[n++].u.i32 = out.partition;
    vu[n].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
    vu[n++].u.i = out.copy_value ? RD_KAFKA_MSG_F_COPY : 0;
    vu[n].vtype = RD_KAFKA_VTYPE_VALUE;
    vu[n].u.mem.ptr = (void *)out.value;
    vu[n++].u.mem.size = out.value ? out.value_len : 0;
    if (out.key) {
        vu[n].vtype = RD_KAFKA_VTYPE_KEY;
        vu[n].u.mem.ptr = (void *)out.key;
        vu[n++].u.mem.size = out.key_len;
    }
    if (out.timestamp_ms) {
        vu[n].vtype = RD_KAFKA_VTYPE_TIMESTAMP;
        vu[n++].u.i64 = out.timestamp_ms;
    }
    if (hdrs) {
        vu[n].vtype = RD_KAFKA_VTYPE_HEADERS;
        vu[n++].u.headers = hdrs;
    }
    vu[n].vtype = RD_KAFKA_VTYPE_OPAQUE;
    vu[n++].u.ptr = env;
    rd_kafka_error_t *e = rd_kafka_produceva(p->rk, vu, n);
    if (!e) return RD_KAFKA_RESP_ERR_NO_ERROR;
    rd_kafka_resp_err_t err = rd_kafka_error_code(e);
    if (hdrs) rd_kafka_headers_destroy(hdrs); /* not taken on failure */
    if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
        rv_error_give(errp,
                      rv__kafka_error(err, "%s: producing to %s: %s", p->name,
                                      out.topic ? out.topic : p->topic, rd_kafka_error_string(e)));
    rd_kafka_error_destroy(e);
    return err;
}

static void emit_ready(kprod_t *p)
{
    while (p->ready_n > 0) {
        if (rv_out_closed(p->st, 0)) {
            rv_env_release_failed(ready_pop(p), RV_ERR_CANCELLED);
            continue;
        }
        if (rv_out_room(p->st, 0) == 0) break;
        rv_out_push(p->st, 0, ready_pop(p));
    }
}

static void pull(kprod_t *p)
{
    if (p->flow) emit_ready(p);
    size_t max = (size_t)p->kc.max_in_flight;
    while (!p->failed && !rv_stage_finished(p->st) && p->in_flight + p->ready_n < max) {
        rv_env_t *env = p->pending;
        p->pending = NULL;
        if (!env && !(p->cancelled || rv_in_closed(p->st, 0))) env = rv_in_pop(p->st, 0);
        if (!env) break;
        rv_error_t *err = NULL;
        rd_kafka_resp_err_t rc = produce(p, env, &err);
        if (rc == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            /* librdkafka's own queue is full: wait for delivery reports. */
            p->pending = env;
            p->stats.queue_full++;
            break;
        }
        if (rc != RD_KAFKA_RESP_ERR_NO_ERROR) {
            element_failed(p, env, err);
            continue;
        }
        p->in_flight++;
        p->stats.produced++;
    }
    note_held(p);
    check_done(p);
}

/* -------------------------------------------------------------------- hooks */

static void connect_timer_cb(rv_timer_t *t, void *opaque)
{
    kprod_t *p = opaque;
    if (rd_kafka_controllerid(p->rk, 0) >= 0 || !p->st || rv_stage_finished(p->st)) return;
    fail_stage(p,
               rv_error_new(RV_ERR_UNAVAILABLE, true,
                            "%s: no Kafka broker answered at %s within %" PRId64
                            " ms (kafka.connect.timeout)%s%s",
                            p->name, p->kc.bootstraps ? p->kc.bootstraps : "?",
                            p->kc.connect_timeout_ms, p->last_error[0] ? ": " : "", p->last_error));
}

static rv_err_t start(rv_stage_t *st, rv_error_t **errp)
{
    kprod_t *p = rv_stage_state(st);
    snprintf(p->name, sizeof(p->name), "%s", rv_stage_name(st));
    p->io = rv__kqio_new(rv_stage_loop(st), p->mainq, on_queue, p, errp);
    if (!p->io) return RV_ERR_IO;
    if (p->kc.connect_timeout_ms > 0)
        rv_timer_start(p->connect_timer, (uint64_t)p->kc.connect_timeout_ms);
    return RV_OK;
}

static void on_input(rv_stage_t *st)
{
    pull(rv_stage_state(st));
}

static void on_finish(rv_stage_t *st, int port, const rv_error_t *err)
{
    kprod_t *p = rv_stage_state(st);
    p->upstream_done = true;
    if (err && !p->upstream_err) p->upstream_err = rv_error_copy(err);
    check_done(p);
}

/* Downstream of a flow cancelled: take nothing more, finish once every
 * delivery report is in (those elements are released as failed: downstream
 * did not take them). */
static void on_cancel(rv_stage_t *st, int port)
{
    kprod_t *p = rv_stage_state(st);
    p->cancelled = true;
    p->upstream_done = true;
    rv_in_cancel(st, 0);
    if (p->pending) {
        rv_env_release_failed(p->pending, RV_ERR_CANCELLED);
        p->pending = NULL;
    }
    pull(p);
}

static void on_abort(rv_stage_t *st)
{
    kprod_t *p = rv_stage_state(st);
    /* Messages not sent yet fail now; their reports release the elements. */
    rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_NON_BLOCKING);
}

static void stop(rv_stage_t *st)
{
    kprod_t *p = rv_stage_state(st);
    rv_timer_destroy(p->connect_timer);
    p->connect_timer = NULL;
    p->st = NULL;
    if (p->pending) {
        rv_env_release_failed(p->pending, RV_ERR_CANCELLED);
        p->pending = NULL;
    }
    while (p->ready_n > 0)
        rv_env_release_failed(ready_pop(p), RV_ERR_CANCELLED);
    if (p->rk && p->in_flight > 0) {
        /* Every held element must be released before the graph goes: purge
         * what librdkafka still has and serve the reports (they release the
         * elements as failed, or after success when they made it). */
        rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        uint64_t deadline = uv_hrtime() + 10000000000ull;
        while (p->in_flight > 0 && uv_hrtime() < deadline)
            rd_kafka_poll(p->rk, 50);
    }
    while (p->ready_n > 0) /* (none: reports after the stop release at once) */
        rv_env_release_failed(ready_pop(p), RV_ERR_CANCELLED);
    rv__kqio_close(p->io, p->g);
    if (p->mainq) rd_kafka_queue_destroy(p->mainq);
    if (p->rkt) rd_kafka_topic_destroy(p->rkt);
    if (p->rk) rd_kafka_destroy(p->rk);
    rv__kconf_clear(&p->kc);
    if (p->opaque_free) p->opaque_free(p->opaque);
    rv_error_destroy(p->upstream_err);
    free(p->ready);
    free(p->topic);
    free(p);
}

static const rv_stage_ops_t sink_ops = {.kind = "kafka-sink",
                                        .start = start,
                                        .on_input = on_input,
                                        .on_room = on_input,
                                        .on_finish = on_finish,
                                        .on_abort = on_abort,
                                        .stop = stop};
static const rv_stage_ops_t flow_ops = {.kind = "kafka-flow",
                                        .start = start,
                                        .on_input = on_input,
                                        .on_room = on_input,
                                        .on_finish = on_finish,
                                        .on_cancel = on_cancel,
                                        .on_abort = on_abort,
                                        .stop = stop};
static const rv_stage_ops_t dlq_ops = {.kind = "kafka-dead-letter",
                                       .start = start,
                                       .on_input = on_input,
                                       .on_room = on_input,
                                       .on_finish = on_finish,
                                       .on_abort = on_abort,
                                       .stop = stop};

rv_stage_t *rv__kafka_producer_stage(rv_graph_t *g, const rv_conf_t *conf, const char *topic,
                                     rv_kafka_out_fn fn, void *opaque, rv_free_fn opaque_free,
                                     bool flow, const char *kind)
{
    if (!g) {
        if (opaque_free) opaque_free(opaque);
        return NULL;
    }
    rv_error_t *err = NULL;
    kprod_t *p = calloc(1, sizeof(*p));
    if (!p) {
        if (opaque_free) opaque_free(opaque);
        rv_graph_record_error(g, rv_error_new(RV_ERR_NOMEM, true, "%s: out of memory", kind));
        return NULL;
    }
    p->g = g;
    p->fn = fn;
    p->opaque = opaque;
    p->opaque_free = opaque_free;
    p->flow = flow;
    snprintf(p->name, sizeof(p->name), "%s", kind);
    if (topic && *topic && !(p->topic = strdup(topic))) {
        rv_error_set(&err, RV_ERR_NOMEM, true, "%s: out of memory", kind);
        goto fail;
    }
    if (!p->topic && !fn) {
        rv_error_set(&err, RV_ERR_INVALID, false,
                     "%s: no topic (give one, or a function that names each message's topic)",
                     kind);
        goto fail;
    }
    if (rv__kconf_build(&p->kc, conf, RD_KAFKA_PRODUCER, kind, &err) != RV_OK) goto fail;
    rd_kafka_conf_set_opaque(p->kc.rk_conf, p);
    rd_kafka_conf_set_dr_msg_cb(p->kc.rk_conf, dr_msg_cb);
    rd_kafka_conf_set_error_cb(p->kc.rk_conf, error_cb);
    char errstr[512];
    p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, p->kc.rk_conf, errstr, sizeof(errstr));
    if (!p->rk) {
        rv_error_set(&err, RV_ERR_CONFIG, false, "%s: %s", kind, errstr);
        goto fail;
    }
    p->kc.rk_conf = NULL; /* rd_kafka_new took it */
    p->mainq = rd_kafka_queue_get_main(p->rk);
    if (p->topic) {
        rv__kconf_mock_topic(&p->kc, p->topic);
        p->rkt = rd_kafka_topic_new(p->rk, p->topic, NULL);
        if (!p->rkt) {
            rd_kafka_resp_err_t e = rd_kafka_last_error();
            err = rv__kafka_error(e, "%s: topic \"%s\": %s", kind, p->topic, rd_kafka_err2str(e));
            goto fail;
        }
    }
    const rv_stage_ops_t *ops = flow                                     ? &flow_ops
                                : strcmp(kind, "kafka-dead-letter") == 0 ? &dlq_ops
                                                                         : &sink_ops;
    rv_stage_t *st = rv_stage_new(g, ops, p, 1, flow ? 1 : 0);
    if (!st) return NULL; /* the stop hook freed p */
    p->st = st;
    p->connect_timer = rv_timer_new(st, connect_timer_cb, p);
    if (!p->connect_timer)
        rv_graph_record_error(g, rv_error_new(RV_ERR_NOMEM, true, "%s: out of memory", kind));
    return st;
fail:
    rv_graph_record_error(g, err ? err : rv_error_new(RV_ERR_CONFIG, false, "%s: failed", kind));
    if (p->mainq) rd_kafka_queue_destroy(p->mainq);
    if (p->rkt) rd_kafka_topic_destroy(p->rkt);
    if (p->rk) rd_kafka_destroy(p->rk);
    rv__kconf_clear(&p->kc);
    if (p->opaque_free) p->opaque_free(p->opaque);
    free(p->topic);
    free(p);
    return NULL;
}

/* ------------------------------------------------------------------ queries */

void rv_kafka_sink_get_stats(const rv_stage_t *st, rv_kafka_sink_stats_t *out)
{
    const kprod_t *p = rv_stage_state(st);
    *out = p->stats;
}

rd_kafka_t *rv_kafka_sink_handle(const rv_stage_t *st)
{
    const kprod_t *p = st ? rv_stage_state(st) : NULL;
    return p ? p->rk : NULL;
}
