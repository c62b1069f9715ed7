/* Kafka stages against the raw librdkafka library, on the real broker, in one
 * run and over the same records:
 *
 *   produce   raw: an rd_kafka_produce loop (no copy of the value) with a
 *             delivery-report callback that counts, flushed at the end
 *             stage: source_range -> KafkaSink (same producer settings),
 *             until the sink finished (every delivery report in)
 *   consume   raw: the canonical rd_kafka_consumer_poll loop that destroys
 *             each record (the library's own rate; "raw+commit" also commits
 *             asynchronously every commit.batch records, as a plain
 *             at-least-once loop does)
 *             stage: KafkaSource -> ignore (every element acked), with the
 *             source's watermark commits, until every record was acked
 *
 *   bench_kafka [RECORDS [ROUNDS [KEY=VALUE...]]]   (default 1 000 000 and 3)
 *
 * The broker is RV_KAFKA_BOOTSTRAP (default 127.0.0.1:9092; start it with
 * tools/services/services start kafka). Each round writes a new topic with
 * the raw producer and with the sink, and reads the raw producer's topic with
 * both consumers (each in its own group, on assigned partitions, so no group
 * join is timed). Rounds alternate raw and stage; the best rate of each is
 * reported with the ratio stage / raw, and the process's CPU time per record
 * (all threads), which the load of a shared machine disturbs less than the
 * rates. Extra arguments KEY=VALUE go into the stages' configuration (e.g.
 * graph.edge.capacity=1024 kafka.sink.max.in.flight=30000).
 *
 * For profiling: BENCH_PART=produce|consume runs half of each round,
 * BENCH_ONLY=0..4 one measurement (raw produce, sink, raw consume, source,
 * raw+commit), BENCH_VERBOSE=1 prints how long the sink's upstream waited for
 * room (time spent at kafka.sink.max.in.flight). */
#include <inttypes.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "rivulet.h"
#include "rivulet/kafka.h"

#define PARTS     4
#define VALUE_LEN 64

static const char *bootstrap(void)
{
    const char *bs = getenv("RV_KAFKA_BOOTSTRAP");
    return bs && *bs ? bs : "127.0.0.1:9092";
}

static double now(void)
{
    return (double)uv_hrtime() / 1e9;
}

/* CPU seconds used by the whole process (every librdkafka thread too). */
static double cpu(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
           ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) / 1e6;
}

static char value[VALUE_LEN];
static uint64_t raw_delivered;

static void raw_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    if (!m->err) raw_delivered++;
}

static rd_kafka_t *client(rd_kafka_type_t type, const char *group)
{
    char errstr[512];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_set(c, "bootstrap.servers", bootstrap(), errstr, sizeof(errstr));
    rd_kafka_conf_set(c, "client.id", "rivulet-bench-raw", errstr, sizeof(errstr));
    if (type == RD_KAFKA_PRODUCER) {
        rd_kafka_conf_set(c, "enable.idempotence", "true", errstr, sizeof(errstr));
        rd_kafka_conf_set_dr_msg_cb(c, raw_dr);
    } else {
        rd_kafka_conf_set(c, "group.id", group, errstr, sizeof(errstr));
        rd_kafka_conf_set(c, "enable.auto.commit", "false", errstr, sizeof(errstr));
        rd_kafka_conf_set(c, "enable.auto.offset.store", "false", errstr, sizeof(errstr));
    }
    rd_kafka_t *rk = rd_kafka_new(type, c, errstr, sizeof(errstr));
    if (!rk) {
        fprintf(stderr, "bench_kafka: %s\n", errstr);
        exit(1);
    }
    return rk;
}

static bool create_topic(const char *topic)
{
    rd_kafka_t *rk = client(RD_KAFKA_PRODUCER, NULL);
    char errstr[256];
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(topic, PARTS, 1, errstr, sizeof(errstr));
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);
    bool ok = ev && !rd_kafka_event_error(ev);
    if (ev) rd_kafka_event_destroy(ev);
    rd_kafka_NewTopic_destroy(nt);
    rd_kafka_queue_destroy(q);
    /* leaders known before anything is timed */
    for (int tries = 0; ok && tries < 100; tries++) {
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
        const struct rd_kafka_metadata *md = NULL;
        bool ready = rd_kafka_metadata(rk, 0, rkt, &md, 5000) == 0 && md->topic_cnt == 1 &&
                     md->topics[0].partition_cnt == PARTS;
        for (int i = 0; ready && i < PARTS; i++)
            ready = md->topics[0].partitions[i].leader >= 0;
        if (md) rd_kafka_metadata_destroy(md);
        rd_kafka_topic_destroy(rkt);
        if (ready) break;
        usleep(100000);
    }
    rd_kafka_destroy(rk);
    return ok;
}

/* ---------------------------------------------------------------- produce */

static double raw_produce(const char *topic, int n)
{
    rd_kafka_t *rk = client(RD_KAFKA_PRODUCER, NULL);
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    rd_kafka_poll(rk, 100); /* connect before the clock starts */
    raw_delivered = 0;
    double t0 = now();
    for (int i = 0; i < n; i++) {
        while (rd_kafka_produce(rkt, RD_KAFKA_PARTITION_UA, 0, value, VALUE_LEN, NULL, 0, NULL) !=
               0) {
            if (rd_kafka_last_error() != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                fprintf(stderr, "bench_kafka: produce: %s\n",
                        rd_kafka_err2str(rd_kafka_last_error()));
                exit(1);
            }
            rd_kafka_poll(rk, 1);
        }
        if ((i & 1023) == 0) rd_kafka_poll(rk, 0);
    }
    rd_kafka_flush(rk, 60000);
    double t = now() - t0;
    if (raw_delivered != (uint64_t)n)
        fprintf(stderr, "bench_kafka: raw producer: %llu of %d delivered\n",
                (unsigned long long)raw_delivered, n);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
    return n / t;
}

static rv_err_t bench_out(rv_env_t *env, rv_kafka_out_t *out, rv_error_t **errp, void *opaque)
{
    out->value = value;
    out->value_len = VALUE_LEN;
    return RV_OK;
}

typedef struct {
    bool done;
    char msg[512];
} result_t;

static void on_done(rv_graph_t *g, const rv_error_t *st, void *opaque)
{
    result_t *r = opaque;
    r->done = true;
    if (st) snprintf(r->msg, sizeof(r->msg), "%s", rv_error_msg(st));
}

static double stage_produce(const char *topic, int n, const rv_conf_t *conf)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    rv_error_t *err = NULL;
    rv_graph_t *g = rv_graph_new(&loop, conf, &err);
    rv_stage_t *sink = rv_kafka_sink(g, conf, topic, bench_out, NULL);
    rv_stage_t *range = rv_source_range(g, 0, n);
    rv_chain(range, sink, NULL);
    result_t r = {0};
    /* connect before the clock starts, as the raw loop does */
    rd_kafka_poll(rv_kafka_sink_handle(sink), 100);
    double t0 = now();
    if (rv_graph_run(g, on_done, &r, &err) != RV_OK) {
        fprintf(stderr, "bench_kafka: %s\n", rv_error_msg(err));
        exit(1);
    }
    while (!r.done)
        uv_run(&loop, UV_RUN_ONCE);
    double t = now() - t0;
    if (r.msg[0]) {
        fprintf(stderr, "bench_kafka: sink: %s\n", r.msg);
        exit(1);
    }
    if (getenv("BENCH_VERBOSE")) {
        rv_stage_counters_t c;
        rv_stage_get_counters(range, &c);
        rv_kafka_sink_stats_t ks;
        rv_kafka_sink_get_stats(sink, &ks);
        fprintf(stderr, "  sink: %.2f s, upstream waited %.2f s for room, most in flight %llu\n", t,
                c.wait_ns / 1e9, (unsigned long long)ks.in_flight_max);
    }
    rv_graph_destroy(g);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    return n / t;
}

/* ---------------------------------------------------------------- consume */

static rd_kafka_topic_partition_list_t *all_parts(const char *topic)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(PARTS);
    for (int p = 0; p < PARTS; p++)
        rd_kafka_topic_partition_list_add(l, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    return l;
}

/* The canonical librdkafka consumer loop: rd_kafka_consumer_poll, one record
 * at a time, destroyed at once; with commit_batch > 0 it also commits the
 * position asynchronously every commit_batch records. */
static double raw_consume(const char *topic, int n, int commit_batch)
{
    char group[256];
    snprintf(group, sizeof(group), "bench-raw-%s-%llu", topic, (unsigned long long)uv_hrtime());
    rd_kafka_t *rk = client(RD_KAFKA_CONSUMER, group);
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *l = all_parts(topic);
    int64_t next[PARTS] = {0};
    double t0 = now();
    rd_kafka_assign(rk, l);
    int got = 0, since = 0;
    while (got < n) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 1000);
        if (!m) continue;
        if (!m->err) {
            got++;
            since++;
            next[m->partition] = m->offset + 1;
        }
        rd_kafka_message_destroy(m);
        if (commit_batch > 0 && (since >= commit_batch || got >= n)) {
            for (int p = 0; p < PARTS; p++)
                l->elems[p].offset = next[p];
            rd_kafka_commit(rk, l, 1);
            since = 0;
        }
    }
    double t = now() - t0;
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return n / t;
}

static double stage_consume(const char *topic, int n, const rv_conf_t *base)
{
    char group[256];
    snprintf(group, sizeof(group), "bench-stage-%s-%llu", topic, (unsigned long long)uv_hrtime());
    rv_conf_t *conf = rv_conf_dup(base);
    rv_conf_set(conf, "kafka.group.id", group, NULL);
    uv_loop_t loop;
    uv_loop_init(&loop);
    rv_error_t *err = NULL;
    rv_graph_t *g = rv_graph_new(&loop, conf, &err);
    rv_kafka_partition_t parts[PARTS];
    for (int p = 0; p < PARTS; p++)
        parts[p] = (rv_kafka_partition_t){topic, p, RV_KAFKA_OFFSET_BEGINNING};
    rv_stage_t *src = rv_kafka_source_assign(g, conf, parts, PARTS);
    rv_chain(src, rv_ignore(g), NULL);
    result_t r = {0};
    double t0 = now();
    if (rv_graph_run(g, on_done, &r, &err) != RV_OK) {
        fprintf(stderr, "bench_kafka: %s\n", rv_error_msg(err));
        exit(1);
    }
    rv_kafka_source_stats_t s = {0};
    while (s.acked < (uint64_t)n && !r.done) {
        uv_run(&loop, UV_RUN_ONCE);
        rv_kafka_source_get_stats(src, &s);
    }
    double t = now() - t0;
    rv_graph_stop(g);
    while (!r.done)
        uv_run(&loop, UV_RUN_ONCE);
    if (r.msg[0]) {
        fprintf(stderr, "bench_kafka: source: %s\n", r.msg);
        exit(1);
    }
    rv_kafka_source_get_stats(src, &s);
    rv_graph_destroy(g);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    rv_conf_destroy(conf);
    return n / t;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 1000000;
    int rounds = argc > 2 ? atoi(argv[2]) : 3;
    rv_conf_t *conf = rv_conf_new();
    rv_conf_set(conf, "kafka.bootstrap.servers", bootstrap(), NULL);
    for (int i = 3; i < argc; i++) {
        rv_error_t *err = NULL;
        if (rv_conf_set_pair(conf, argv[i], &err) != RV_OK) {
            fprintf(stderr, "bench_kafka: %s\n", rv_error_msg(err));
            return 2;
        }
    }
    const rv_conf_table_t *t = rv_kafka_conf();
    int commit_batch = (int)rv_conf_int(conf, t, "kafka.source.commit.batch");
    memset(value, 'v', sizeof(value));
    printf("bench_kafka: %d records of %d bytes, %d partitions, broker %s, %d rounds\n", n,
           VALUE_LEN, PARTS, bootstrap(), rounds);
    double best[5] = {0, 0, 0, 0, 0}, bestc[5] = {0, 0, 0, 0, 0};
    for (int round = 0; round < rounds; round++) {
        char t_raw[128], t_stage[128];
        snprintf(t_raw, sizeof(t_raw), "bench-raw-%d-%llu", (int)getpid(),
                 (unsigned long long)uv_hrtime());
        snprintf(t_stage, sizeof(t_stage), "bench-sink-%d-%llu", (int)getpid(),
                 (unsigned long long)uv_hrtime());
        if (!create_topic(t_raw) || !create_topic(t_stage)) {
            fprintf(stderr, "bench_kafka: cannot create topics on %s\n", bootstrap());
            return 1;
        }
        double r[5], c[5];
        /* alternate which goes first, so neither always gets the warm cache */
        /* BENCH_PART=produce or consume runs half of it (for profiling) */
        const char *part = getenv("BENCH_PART");
        bool prod = !part || strcmp(part, "consume") != 0,
             cons = !part || strcmp(part, "produce") != 0;
        /* BENCH_ONLY=0..4 runs one measurement (for a profiler) */
        const char *only = getenv("BENCH_ONLY");
#define RUN(i, call)                                                                               \
    (((i) < 2 ? prod : cons) && (!only || atoi(only) == (i)))                                      \
        ? (c[i] = cpu(), r[i] = (call), c[i] = (cpu() - c[i]) * 1e9 / n)                           \
        : (r[i] = 1, c[i] = 0)
        if (round % 2 == 0) {
            if (!prod && cons) raw_produce(t_raw, n);
            RUN(0, raw_produce(t_raw, n));
            RUN(1, stage_produce(t_stage, n, conf));
            RUN(2, raw_consume(t_raw, n, 0));
            RUN(3, stage_consume(t_raw, n, conf));
            RUN(4, raw_consume(t_raw, n, commit_batch));
        } else {
            RUN(1, stage_produce(t_stage, n, conf));
            if (!prod && cons) raw_produce(t_raw, n); /* the consumers need records */
            RUN(0, raw_produce(t_raw, n));
            RUN(3, stage_consume(t_raw, n, conf));
            RUN(2, raw_consume(t_raw, n, 0));
            RUN(4, raw_consume(t_raw, n, commit_batch));
        }
        printf("round %d: produce raw %.0f/s (%.0f ns cpu/rec) sink %.0f/s (%.0f) ratio %.2f; "
               "consume raw %.0f/s (%.0f) source %.0f/s (%.0f) ratio %.2f; raw+commit %.0f/s "
               "(%.0f)\n",
               round + 1, r[0], c[0], r[1], c[1], r[1] / r[0], r[2], c[2], r[3], c[3], r[3] / r[2],
               r[4], c[4]);
        fflush(stdout);
        for (int i = 0; i < 5; i++) {
            if (r[i] > best[i]) best[i] = r[i];
            if (bestc[i] == 0 || c[i] < bestc[i]) bestc[i] = c[i];
        }
    }
    printf("best: produce raw %.0f records/s, KafkaSink %.0f records/s, ratio %.2f "
           "(cpu per record: raw %.0f ns, sink %.0f ns)\n",
           best[0], best[1], best[1] / best[0], bestc[0], bestc[1]);
    printf("best: consume raw %.0f records/s, KafkaSource->ack->commit %.0f records/s, ratio "
           "%.2f (cpu per record: raw %.0f ns, source %.0f ns); raw loop with a commit per %d "
           "records: %.0f records/s\n",
           best[2], best[3], best[3] / best[2], bestc[2], bestc[3], commit_batch, best[4]);
    rv_conf_destroy(conf);
    return 0;
}
