/* KafkaSink, KafkaFlow and the dead-letter sink against the embedded mock
 * cluster: per-message key, headers, partition and timestamp; backpressure at
 * max in flight; a failed delivery surfaces the broker's reason; a flow emits
 * after delivery with partition and offset; consume -> produce acks the input
 * only after the output is durable; rejected records go to a dead-letter
 * topic before they are acked. */
#include "kafka_test_util.h"

/* A payload for the sink: the message and the bytes it points into. */
typedef struct {
    rv_kafka_out_t out;
    rd_kafka_headers_t *hdrs;
    char key[32], value[64];
} outmsg_t;

static void outmsg_free(void *p)
{
    outmsg_t *m = p;
    rd_kafka_headers_destroy(m->hdrs);
    free(m);
}

#define TS0 1700000000000LL

static rv_err_t make_out(void *in, void **out, rv_error_t **errp, void *opaque)
{
    int i = (int)RV_INT(in);
    int nparts = (int)(intptr_t)opaque;
    outmsg_t *m = calloc(1, sizeof(*m));
    int kl = snprintf(m->key, sizeof(m->key), "key-%d", i);
    int vl = snprintf(m->value, sizeof(m->value), "value-%d", i);
    m->hdrs = rd_kafka_headers_new(1);
    rd_kafka_header_add(m->hdrs, "idx", -1, m->key + 4, kl - 4);
    m->out = (rv_kafka_out_t){.partition = nparts > 0 ? i % nparts : RV_KAFKA_PARTITION_ANY,
                              .key = m->key,
                              .key_len = (size_t)kl,
                              .value = m->value,
                              .value_len = (size_t)vl,
                              .timestamp_ms = TS0 + i,
                              .headers = m->hdrs};
    *out = m;
    return RV_OK;
}

/* Reads n records of topic (all partitions, from the start) with a plain
 * librdkafka consumer and checks each against make_out. Returns the records
 * read; *bad counts mismatches. */
static int read_back(const char *bs, const char *topic, int nparts, int n, bool check_ts, int *bad)
{
    char errstr[512];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_set(c, "bootstrap.servers", bs, errstr, sizeof(errstr));
    rd_kafka_conf_set(c, "group.id", "reader", errstr, sizeof(errstr));
    rd_kafka_conf_set(c, "enable.auto.commit", "false", errstr, sizeof(errstr));
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, errstr, sizeof(errstr));
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(nparts);
    for (int p = 0; p < nparts; p++)
        rd_kafka_topic_partition_list_add(l, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    int got = 0;
    *bad = 0;
    bool *seen = calloc((size_t)n, 1);
    uint64_t deadline = uv_hrtime() + 20000000000ull;
    while (got < n && uv_hrtime() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m) continue;
        if (!m->err) {
            const void *h;
            size_t hl;
            rd_kafka_headers_t *hdrs = NULL;
            char hb[16] = "";
            if (rd_kafka_message_headers(m, &hdrs) == 0 &&
                rd_kafka_header_get_last(hdrs, "idx", &h, &hl) == 0 && hl < sizeof(hb))
                memcpy(hb, h, hl);
            int i = atoi(hb);
            char k[32], v[64];
            int kl = snprintf(k, sizeof(k), "key-%d", i);
            int vl = snprintf(v, sizeof(v), "value-%d", i);
            rd_kafka_timestamp_type_t tt;
            int64_t ts = rd_kafka_message_timestamp(m, &tt);
            if (i < 0 || i >= n || seen[i] || m->key_len != (size_t)kl ||
                memcmp(m->key, k, (size_t)kl) != 0 || m->len != (size_t)vl ||
                memcmp(m->payload, v, (size_t)vl) != 0 ||
                (nparts > 1 && m->partition != i % nparts) || (check_ts && ts != TS0 + i))
                (*bad)++;
            else
                seen[i] = true;
            got++;
        }
        rd_kafka_message_destroy(m);
    }
    free(seen);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return got;
}

/* Every message arrives with its key, value, header, partition and timestamp. */
static void test_sink_fields(void)
{
    rv_kafka_mock_t *mock = rv_kafka_mock_shared(NULL);
    REQUIRE(mock);
    char topic[128];
    kt_topic(topic, sizeof(topic), "sink");
    REQUIRE(rv_kafka_mock_create_topic(mock, topic, 4, NULL) == RV_OK);
    const int n = 5000;
    uv_loop_t loop;
    uv_loop_init(&loop);
    rv_graph_t *g = rv_graph_new(&loop, NULL, NULL);
    rv_stage_t *sink = rv_kafka_sink(g, NULL, topic, NULL, NULL);
    rv_chain(rv_source_range(g, 0, n), rv_map(g, make_out, outmsg_free, (void *)(intptr_t)4), sink,
             NULL);
    kt_result_t r = {0};
    REQUIRE(kt_start(g, &r));
    CHECK(kt_run_until(&loop, kt_is_done, &r, 20));
    CHECK_EQ(r.code, RV_OK);
    rv_kafka_sink_stats_t s;
    rv_kafka_sink_get_stats(sink, &s);
    CHECK_EQ(s.produced, n);
    CHECK_EQ(s.delivered, n);
    CHECK_EQ(s.failed, 0);
    CHECK_EQ(s.in_flight, 0);
    kt_destroy(g);
    CHECK_EQ(uv_loop_close(&loop), 0);
    int bad = 0;
    CHECK_EQ(read_back(rv_kafka_mock_bootstraps(mock), topic, 4, n, true, &bad), n);
    CHECK_EQ(bad, 0);
    rv_kafka_mock_destroy(mock);
}

/* A slow broker (300 ms per request): the sink never holds more than
 * kafka.sink.max.in.flight messages, so upstream is held back. */
static void test_sink_backpressure(void)
{
    rv_kafka_mock_t *mock = rv_kafka_mock_shared(NULL);
    REQUIRE(mock);
    char topic[128];
    kt_topic(topic, sizeof(topic), "bp");
    REQUIRE(rv_kafka_mock_create_topic(mock, topic, 1, NULL) == RV_OK);
    rd_kafka_mock_broker_set_rtt(rv_kafka_mock_cluster(mock), 1, 300);
    uv_loop_t loop;
    uv_loop_init(&loop);
    rv_conf_t *conf = rv_conf_new();
    kt_set(conf, "kafka.sink.max.in.flight", "50");
    kt_set(conf, "kafka.linger.ms", "0");
    rv_graph_t *g = rv_graph_new(&loop, NULL, NULL);
    rv_stage_t *src = rv_source_range(g, 0, 400);
    rv_stage_t *sink = rv_kafka_sink(g, conf, topic, NULL, NULL);
    rv_chain(src, rv_map(g, make_out, outmsg_free, (void *)(intptr_t)0), sink, NULL);
    kt_result_t r = {0};
    REQUIRE(kt_start(g, &r));
    /* After a second the broker answered a few requests: upstream has
     * produced no more than what the sink holds plus the edges' room. */
    kt_run_until(&loop, kt_is_done, &r, 1.0);
    rv_stage_counters_t sc;
    rv_stage_get_counters(src, &sc);
    rv_kafka_sink_stats_t s;
    rv_kafka_sink_get_stats(sink, &s);
    CHECK(s.in_flight <= 50);
    CHECK(s.in_flight_max <= 50);
    CHECK(sc.out <= s.delivered + 50 + 2 * 32 + 1);
    printf("  after 1 s: %" PRIu64 " delivered, %" PRIu64 " held, source emitted %" PRIu64 "\n",
           s.delivered, s.in_flight, sc.out);
    CHECK(kt_run_until(&loop, kt_is_done, &r, 30));
    CHECK_EQ(r.code, RV_OK);
    rv_kafka_sink_get_stats(sink, &s);
    CHECK_EQ(s.delivered, 400);
    CHECK_EQ(s.in_flight_max, 50);
    kt_destroy(g);
    CHECK_EQ(uv_loop_close(&loop), 0);
    rv_conf_destroy(conf);
    rv_kafka_mock_destroy(mock);
}

/* The broker rejects the produce requests: the stage fails with the broker's
 * reason, naming the topic. */
static void test_delivery_failure_reason(void)
{
    rv_kafka_mock_t *mock = rv_kafka_mock_shared(NULL);
    REQUIRE(mock);
    char topic[128];
    kt_topic(topic, sizeof(topic), "dfail");
    REQUIRE(rv_kafka_mock_create_topic(mock, topic, 1, NULL) == RV_OK);
    rd_kafka_mock_push_request_errors(
        rv_kafka_mock_cluster(mock), 0 /* ApiKey Produce */, 10,
        RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE, RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE,
        RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE, RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE,
        RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE, RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE,
        RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE, RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE,
        RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE, RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE);
    uv_loop_t loop;
    uv_loop_init(&loop);
    rv_graph_t *g = rv_graph_new(&loop, NULL, NULL);
    rv_stage_t *sink = rv_kafka_sink(g, NULL, topic, NULL, NULL);
    rv_chain(rv_source_range(g, 0, 10), rv_map(g, make_out, outmsg_free, (void *)(intptr_t)0), sink,
             NULL);
    kt_result_t r = {0};
    REQUIRE(kt_start(g, &r));
    CHECK(kt_run_until(&loop, kt_is_done, &r, 20));
    printf("  status: %s\n", r.msg);
    CHECK_EQ(r.code, RV_ERR_FROM_KAFKA(RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE));
    CHECK(strstr(r.msg, topic) != NULL);
    CHECK(strstr(r.msg, rd_kafka_err2str(RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE)) != NULL);
    rv_kafka_sink_stats_t s;
    rv_kafka_sink_get_stats(sink, &s);
    CHECK(s.failed >= 1);
    kt_destroy(g);
    CHECK_EQ(uv_loop_close(&loop), 0);
    rv_kafka_mock_destroy(mock);
}

/* With the resume decider a failed element is dropped (released as failed)
 * and the stream goes on. */
static void test_delivery_failure_resume(void)
{
    rv_kafka_mock_t *mock = rv_kafka_mock_shared(NULL);
    REQUIRE(mock);
    char topic[128];
    kt_topic(topic, sizeof(topic), "dresume");
    REQUIRE(rv_kafka_mock_create_topic(mock, topic, 1, NULL) == RV_OK);
    rv_conf_t *conf = rv_conf_new();
    /* one message per request, so the one injected error fails one message */
    kt_set(conf, "kafka.linger.ms", "0");
    kt_set(conf, "kafka.batch.num.messages", "1");
    kt_set(conf, "kafka.sink.max.in.flight", "1");
    rd_kafka_mock_push_request_errors(rv_kafka_mock_cluster(mock), 0 /* ApiKey Produce */, 1,
                                      RD_KAFKA_RESP_ERR_INVALID_RECORD);
    uv_loop_t loop;
    uv_loop_init(&loop);
    rv_graph_t *g = rv_graph_new(&loop, NULL, NULL);
    rv_stage_t *sink = rv_kafka_sink(g, conf, topic, NULL, NULL);
    rv_stage_set_decider(sink, rv_decider_resume, NULL);
    rv_chain(rv_source_range(g, 0, 10), rv_map(g, make_out, outmsg_free, (void *)(intptr_t)0), sink,
             NULL);
    kt_result_t r = {0};
    REQUIRE(kt_start(g, &r));
    CHECK(kt_run_until(&loop, kt_is_done, &r, 20));
    CHECK_EQ(r.code, RV_OK);
    rv_kafka_sink_stats_t s;
    rv_kafka_sink_get_stats(sink, &s);
    CHECK_EQ(s.failed, 1);
    CHECK_EQ(s.delivered, 9);
    kt_destroy(g);
    CHECK_EQ(uv_loop_close(&loop), 0);
    rv_conf_destroy(conf);
    rv_kafka_mock_destroy(mock);
}

/* ------------------------------------------------------------------ flow */

typedef struct {
    int count, bad;
    int64_t last[4];
} flow_check_t;

static rv_err_t check_delivery(rv_env_t *env, rv_error_t **errp, void *opaque)
{
    flow_check_t *c = opaque;
    const rv_kafka_delivery_t *d = rv_env_payload(env);
    const outmsg_t *in = d->input;
    int i = atoi(in->key + 4);
    /* (The mock reports a fixed log-append time, so the timestamp is not
     * checked here; test_sink_fields reads the real ones back.) */
    if (d->partition != i % 4 || d->offset <= c->last[d->partition] || !d->topic) {
        if (c->bad++ < 3)
            printf("  bad delivery: %d -> %s [%d] @%lld ts %lld\n", i, d->topic, (int)d->partition,
                   (long long)d->offset, (long long)d->timestamp_ms);
    }
    c->last[d->partition] = d->offset;
    c->count++;
    return RV_OK;
}

/* A flow emits each element once delivered, with where it landed. */
static void test_flow_emits_after_delivery(void)
{
    rv_kafka_mock_t *mock = rv_kafka_mock_shared(NULL);
    REQUIRE(mock);
    char topic[128];
    kt_topic(topic, sizeof(topic), "flow");
    REQUIRE(rv_kafka_mock_create_topic(mock, topic, 4, NULL) == RV_OK);
    uv_loop_t loop;
    uv_loop_init(&loop);
    rv_graph_t *g = rv_graph_new(&loop, NULL, NULL);
    flow_check_t c = {0, 0, {-1, -1, -1, -1}};
    rv_stage_t *flow = rv_kafka_flow(g, NULL, topic, NULL, NULL);
    rv_chain(rv_source_range(g, 0, 2000), rv_map(g, make_out, outmsg_free, (void *)(intptr_t)4),
             flow, rv_for_each_env(g, check_delivery, &c), NULL);
    kt_result_t r = {0};
    REQUIRE(kt_start(g, &r));
    CHECK(kt_run_until(&loop, kt_is_done, &r, 20));
    CHECK_EQ(r.code, RV_OK);
    CHECK_EQ(c.count, 2000);
    CHECK_EQ(c.bad, 0);
    for (int p = 0; p < 4; p++)
        CHECK_EQ(c.last[p], 499);
    kt_destroy(g);
    CHECK_EQ(uv_loop_close(&loop), 0);
    rv_kafka_mock_destroy(mock);
}

/* Maps a Kafka record to a message with the same key, value and headers. */
static rv_err_t copy_record(rv_env_t *env, rv_kafka_out_t *out, rv_error_t **errp, void *opaque)
{
    const rd_kafka_message_t *m = rv_kafka_record(env);
    rd_kafka_headers_t *h = NULL;
    rd_kafka_message_headers((rd_kafka_message_t *)m, &h);
    out->key = m->key;
    out->key_len = m->key_len;
    out->value = m->payload;
    out->value_len = m->len;
    out->headers = h;
    return RV_OK;
}

static bool all_acked(void *a)
{
    rv_kafka_source_stats_t s;
    rv_kafka_source_get_stats(a, &s);
    return s.acked >= 3000;
}

/* consume -> produce -> ack: the input offsets are committed only for
 * records whose output was delivered, and all of them at the end. */
static void test_consume_produce_ack(void)
{
    rv_kafka_mock_t *mock = rv_kafka_mock_shared(NULL);
    REQUIRE(mock);
    char in[128], out[128], group[160];
    kt_topic(in, sizeof(in), "cpa-in");
    kt_topic(out, sizeof(out), "cpa-out");
    snprintf(group, sizeof(group), "g-%s", in);
    REQUIRE(rv_kafka_mock_create_topic(mock, in, 1, NULL) == RV_OK);
    REQUIRE(rv_kafka_mock_create_topic(mock, out, 1, NULL) == RV_OK);
    REQUIRE(kt_produce(rv_kafka_mock_bootstraps(mock), in, 0, 3000, 0) == 0);
    rv_conf_t *conf = rv_conf_new();
    kt_set(conf, "kafka.group.id", group);
    uv_loop_t loop;
    uv_loop_init(&loop);
    rv_graph_t *g = rv_graph_new(&loop, NULL, NULL);
    rv_kafka_partition_t part = {in, 0, RV_KAFKA_OFFSET_BEGINNING};
    rv_stage_t *src = rv_kafka_source_assign(g, conf, &part, 1);
    rv_stage_t *flow = rv_kafka_flow(g, conf, out, copy_record, NULL);
    rv_chain(src, flow, rv_ignore(g), NULL);
    kt_result_t r = {0};
    REQUIRE(kt_start(g, &r));
    CHECK(kt_run_until(&loop, all_acked, src, 20));
    rv_kafka_sink_stats_t fs;
    rv_kafka_sink_get_stats(flow, &fs);
    rv_kafka_source_stats_t ss;
    rv_kafka_source_get_stats(src, &ss);
    CHECK(ss.acked <= fs.delivered); /* never an ack before its delivery */
    rv_graph_stop(g);
    CHECK(kt_run_until(&loop, kt_is_done, &r, 10));
    CHECK_EQ(r.code, RV_OK);
    CHECK_EQ(kt_committed(rv_kafka_mock_bootstraps(mock), group, in, 0), 3000);
    kt_destroy(g);
    CHECK_EQ(uv_loop_close(&loop), 0);
    int bad = 0;
    CHECK_EQ(read_back(rv_kafka_mock_bootstraps(mock), out, 1, 3000, false, &bad), 3000);
    CHECK_EQ(bad, 0);
    rv_conf_destroy(conf);
    rv_kafka_mock_destroy(mock);
}

/* ------------------------------------------------------------ dead letter */

/* A validator with a reject port: odd records are rejected with a reason. */
static void validate_input(rv_stage_t *st)
{
    rv_env_t *env;
    while (rv_out_room(st, 0) > 0 && rv_out_room(st, 1) > 0 && (env = rv_in_pop(st, 0))) {
        size_t hl = 0;
        const void *h = NULL;
        char hb[16] = "";
        if (rv_kafka_record_header(env, "idx", &h, &hl) && hl < sizeof(hb)) memcpy(hb, h, hl);
        int i = atoi(hb);
        if (i % 2 == 0) {
            rv_out_push(st, 0, env);
        } else {
            rv_error_t *why = rv_error_new(RV_ERR_DECODE, false, "record %d is odd", i);
            rv_env_t *rej = rv_env_derive(env, why, (rv_free_fn)rv_error_destroy);
            rv_env_release(env);
            rv_out_push(st, 1, rej);
        }
    }
}

static const rv_stage_ops_t validate_ops = {.kind = "validate", .on_input = validate_input};

static bool hdr_is(rd_kafka_headers_t *h, const char *name, const char *want)
{
    const void *v;
    size_t n;
    return rd_kafka_header_get_last(h, name, &v, &n) == 0 && n == strlen(want) &&
           memcmp(v, want, n) == 0;
}

/* Rejected records land in the dead-letter topic with their key, value and
 * headers and the reason; the input is committed in full only because each
 * rejected record was acked after its dead-letter write. */
static void test_dead_letter(void)
{
    rv_kafka_mock_t *mock = rv_kafka_mock_shared(NULL);
    REQUIRE(mock);
    char in[128], dlq[128], group[160];
    kt_topic(in, sizeof(in), "dl-in");
    kt_topic(dlq, sizeof(dlq), "dl-dlq");
    snprintf(group, sizeof(group), "g-%s", in);
    REQUIRE(rv_kafka_mock_create_topic(mock, in, 1, NULL) == RV_OK);
    REQUIRE(rv_kafka_mock_create_topic(mock, dlq, 1, NULL) == RV_OK);
    REQUIRE(kt_produce(rv_kafka_mock_bootstraps(mock), in, 0, 100, 0) == 0);
    rv_conf_t *conf = rv_conf_new();
    kt_set(conf, "kafka.group.id", group);
    uv_loop_t loop;
    uv_loop_init(&loop);
    rv_graph_t *g = rv_graph_new(&loop, NULL, NULL);
    rv_kafka_partition_t part = {in, 0, RV_KAFKA_OFFSET_BEGINNING};
    rv_stage_t *src = rv_kafka_source_assign(g, conf, &part, 1);
    rv_stage_t *val = rv_stage_new(g, &validate_ops, NULL, 1, 2);
    rv_stage_t *dl = rv_kafka_dead_letter(g, conf, dlq);
    rv_link(src, val);
    rv_link_ports(val, 0, rv_ignore(g), 0, 0);
    rv_link_ports(val, 1, dl, 0, 0);
    kt_result_t r = {0};
    REQUIRE(kt_start(g, &r));
    uint64_t deadline = uv_hrtime() + 20000000000ull;
    rv_kafka_source_stats_t ss = {0};
    while (ss.acked < 100 && uv_hrtime() < deadline) {
        uv_run(&loop, UV_RUN_NOWAIT);
        rv_kafka_source_get_stats(src, &ss);
    }
    CHECK_EQ(ss.acked, 100);
    rv_graph_stop(g);
    CHECK(kt_run_until(&loop, kt_is_done, &r, 10));
    CHECK_EQ(r.code, RV_OK);
    CHECK_EQ(kt_committed(rv_kafka_mock_bootstraps(mock), group, in, 0), 100);
    rv_kafka_sink_stats_t ds;
    rv_kafka_sink_get_stats(dl, &ds);
    CHECK_EQ(ds.delivered, 50);
    kt_destroy(g);
    CHECK_EQ(uv_loop_close(&loop), 0);

    /* What the dead-letter topic holds. */
    char errstr[512];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_set(c, "bootstrap.servers", rv_kafka_mock_bootstraps(mock), errstr,
                      sizeof(errstr));
    rd_kafka_conf_set(c, "group.id", "dlq-reader", errstr, sizeof(errstr));
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, errstr, sizeof(errstr));
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, dlq, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    int got = 0, bad = 0;
    deadline = uv_hrtime() + 10000000000ull;
    while (got < 50 && uv_hrtime() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m) continue;
        if (!m->err) {
            rd_kafka_headers_t *h = NULL;
            rd_kafka_message_headers(m, &h);
            const void *v;
            size_t n;
            char idx[16] = "", want_k[32], want_v[64], off[16], reason[64];
            if (h && rd_kafka_header_get_last(h, "idx", &v, &n) == 0 && n < sizeof(idx))
                memcpy(idx, v, n);
            int i = atoi(idx);
            snprintf(want_k, sizeof(want_k), "key-%d", i);
            snprintf(want_v, sizeof(want_v), "value-%d", i);
            snprintf(off, sizeof(off), "%d", i); /* one partition: offset == index */
            snprintf(reason, sizeof(reason), "record %d is odd", i);
            if (!h || i % 2 != 1 || m->key_len != strlen(want_k) ||
                memcmp(m->key, want_k, m->key_len) != 0 || m->len != strlen(want_v) ||
                memcmp(m->payload, want_v, m->len) != 0 || !hdr_is(h, RV_KAFKA_DLQ_TOPIC, in) ||
                !hdr_is(h, RV_KAFKA_DLQ_PARTITION, "0") || !hdr_is(h, RV_KAFKA_DLQ_OFFSET, off) ||
                !hdr_is(h, RV_KAFKA_DLQ_ERROR, reason))
                bad++;
            got++;
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    CHECK_EQ(got, 50);
    CHECK_EQ(bad, 0);
    rv_conf_destroy(conf);
    rv_kafka_mock_destroy(mock);
}

RV_TEST_MAIN(RV_TEST(test_sink_fields), RV_TEST(test_sink_backpressure),
             RV_TEST(test_delivery_failure_reason), RV_TEST(test_delivery_failure_resume),
             RV_TEST(test_flow_emits_after_delivery), RV_TEST(test_consume_produce_ack),
             RV_TEST(test_dead_letter))
