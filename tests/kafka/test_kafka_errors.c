/* Bad input to the Kafka stages: a broker address that does not answer, a
 * topic that does not exist, invalid properties and settings. Each gives a
 * clear error naming the culprit, without a crash or a hang past the
 * configured timeout. Also: the configuration table itself, and a graph
 * destroyed while the stages run. */
#include "kafka_test_util.h"

static double now_s(void)
{
    return (double)uv_hrtime() / 1e9;
}

/* Nothing listens on 127.0.0.1:1: the source fails after
 * kafka.connect.timeout, naming the address. */
static void test_unreachable_broker_source(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    rv_conf_t *conf = rv_conf_new();
    kt_set(conf, "kafka.bootstrap.servers", "127.0.0.1:1");
    kt_set(conf, "kafka.group.id", "nobody");
    kt_set(conf, "kafka.connect.timeout", "1500");
    kt_set(conf, "kafka.log_level", "0");
    rv_graph_t *g = rv_graph_new(&loop, NULL, NULL);
    rv_chain(rv_kafka_source(g, conf, "some-topic"), rv_ignore(g), NULL);
    kt_result_t r = {0};
    double t0 = now_s();
    REQUIRE(kt_start(g, &r));
    CHECK(kt_run_until(&loop, kt_is_done, &r, 10));
    double took = now_s() - t0;
    printf("  after %.2f s: %s\n", took, r.msg);
    CHECK_EQ(r.code, RV_ERR_UNAVAILABLE);
    CHECK(strstr(r.msg, "127.0.0.1:1") != NULL);
    CHECK(strstr(r.msg, "kafka.connect.timeout") != NULL);
    CHECK(took >= 1.4 && took < 5);
    kt_destroy(g);
    CHECK_EQ(uv_loop_close(&loop), 0);
    rv_conf_destroy(conf);
}

/* The same for a sink, with elements waiting to be produced: they are
 * released as failed, and the graph completes. */
static void test_unreachable_broker_sink(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    rv_conf_t *conf = rv_conf_new();
    kt_set(conf, "kafka.bootstrap.servers", "127.0.0.1:1");
    kt_set(conf, "kafka.connect.timeout", "1500");
    kt_set(conf, "kafka.log_level", "0");
    rv_graph_t *g = rv_graph_new(&loop, NULL, NULL);
    static rv_kafka_out_t msg = {.partition = RV_KAFKA_PARTITION_ANY, .value = "x", .value_len = 1};
    static void *items[3] = {&msg, &msg, &msg};
    rv_chain(rv_source_array(g, items, 3), rv_kafka_sink(g, conf, "some-topic", NULL, NULL), NULL);
    kt_result_t r = {0};
    double t0 = now_s();
    REQUIRE(kt_start(g, &r));
    CHECK(kt_run_until(&loop, kt_is_done, &r, 10));
    double took = now_s() - t0;
    printf("  after %.2f s: %s\n", took, r.msg);
    CHECK_EQ(r.code, RV_ERR_UNAVAILABLE);
    CHECK(strstr(r.msg, "127.0.0.1:1") != NULL);
    CHECK(took < 5);
    double t1 = now_s();
    kt_destroy(g); /* purges the three messages */
    CHECK(now_s() - t1 < 3);
    CHECK_EQ(uv_loop_close(&loop), 0);
    rv_conf_destroy(conf);
}

/* A cluster without the topic (and no auto-creation): the source fails
 * naming the topic. */
static void test_unknown_topic(void)
{
    rv_kafka_mock_t *mock = rv_kafka_mock_new(1, NULL);
    REQUIRE(mock);
    uv_loop_t loop;
    uv_loop_init(&loop);
    rv_conf_t *conf = rv_conf_new();
    /* The mock creates any topic a client asks about; this one answers
     * "unknown topic or partition", as a broker does for a missing topic. */
    rd_kafka_mock_topic_set_error(rv_kafka_mock_cluster(mock), "no-such-topic-here",
                                  RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART);
    kt_set(conf, "kafka.bootstrap.servers", rv_kafka_mock_bootstraps(mock));
    kt_set(conf, "kafka.group.id", "g-unknown");
    kt_set(conf, "kafka.connect.timeout", "5000");
    if (getenv("KT_DEBUG")) kt_set(conf, "kafka.debug", getenv("KT_DEBUG"));
    rv_graph_t *g = rv_graph_new(&loop, NULL, NULL);
    rv_chain(rv_kafka_source(g, conf, "no-such-topic-here"), rv_ignore(g), NULL);
    kt_result_t r = {0};
    double t0 = now_s();
    REQUIRE(kt_start(g, &r));
    CHECK(kt_run_until(&loop, kt_is_done, &r, 15));
    printf("  after %.2f s: %s\n", now_s() - t0, r.msg);
    CHECK_EQ(r.code, RV_ERR_FROM_KAFKA(RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART));
    CHECK(strstr(r.msg, "no-such-topic-here") != NULL);
    kt_destroy(g);
    CHECK_EQ(uv_loop_close(&loop), 0);
    rv_conf_destroy(conf);
    rv_kafka_mock_destroy(mock);
}

/* Construction errors are reported by rv_graph_run, naming the key. */
static void expect_build_error(const char *key, const char *value, const char *want, bool source)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    rv_conf_t *conf = rv_conf_new();
    kt_set(conf, "kafka.group.id", "g");
    if (key) kt_set(conf, key, value);
    rv_graph_t *g = rv_graph_new(&loop, NULL, NULL);
    if (source)
        rv_chain(rv_kafka_source(g, conf, "t"), rv_ignore(g), NULL);
    else
        rv_chain(rv_source_range(g, 0, 1), rv_kafka_sink(g, conf, "t", NULL, NULL), NULL);
    rv_error_t *err = NULL;
    CHECK(rv_graph_run(g, NULL, NULL, &err) != RV_OK);
    const char *msg = err ? rv_error_msg(err) : "";
    printf("  %s=%s: %s\n", key ? key : "(none)", value ? value : "", msg);
    CHECK(strstr(msg, want) != NULL);
    rv_error_destroy(err);
    kt_destroy(g);
    CHECK_EQ(uv_loop_close(&loop), 0);
    rv_conf_destroy(conf);
}

static void test_invalid_properties(void)
{
    /* an unknown librdkafka property, on both sides */
    expect_build_error("kafka.no.such.property", "1", "no.such.property", true);
    expect_build_error("kafka.no.such.property", "1", "no.such.property", false);
    /* a bad value for a librdkafka property */
    expect_build_error("kafka.session.timeout.ms", "soon", "session.timeout.ms", true);
    expect_build_error("kafka.acks", "some", "acks", false);
    /* a typo under rivulet's own prefix reaches librdkafka, which names it */
    expect_build_error("kafka.source.commit.bacth", "5", "source.commit.bacth", true);
    /* rivulet's own keys are range-checked */
    expect_build_error("kafka.source.commit.batch", "0", "kafka.source.commit.batch", true);
    expect_build_error("kafka.sink.max.in.flight", "many", "kafka.sink.max.in.flight", false);
    /* auto commit would commit unfinished records */
    expect_build_error("kafka.enable.auto.commit", "true", "enable.auto.commit", true);
    /* properties librdkafka rejects together */
    expect_build_error("kafka.max.poll.interval.ms", "1000", "max.poll.interval.ms", true);
}

static void test_group_id_required(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    rv_graph_t *g = rv_graph_new(&loop, NULL, NULL);
    rv_chain(rv_kafka_source(g, NULL, "t"), rv_ignore(g), NULL);
    rv_error_t *err = NULL;
    CHECK_EQ(rv_graph_run(g, NULL, NULL, &err), RV_ERR_CONFIG);
    CHECK(err && strstr(rv_error_msg(err), "kafka.group.id") != NULL);
    rv_error_destroy(err);
    kt_destroy(g);
    CHECK_EQ(uv_loop_close(&loop), 0);
}

static void test_conf_table(void)
{
    const rv_conf_table_t *t = rv_kafka_conf();
    CHECK(t == &rv_kafka_conf_table);
    CHECK_STR(t->component, "kafka");
    CHECK_STR(t->passthrough, "kafka.");
    rv_conf_t *c = rv_conf_new();
    kt_set(c, "kafka.source.commit.interval", "2s");
    kt_set(c, "kafka.linger.ms", "7");
    kt_set(c, "graph.edge.capacity", "8");
    CHECK_EQ(rv_conf_check(c, &t, 1, true, NULL), RV_OK);
    CHECK_EQ(rv_conf_ms(c, t, "kafka.source.commit.interval"), 2000);
    CHECK_EQ(rv_conf_int(c, t, "kafka.source.commit.batch"), 1000);
    CHECK_EQ(rv_conf_ms(c, t, "kafka.source.pause.after"), 500);
    CHECK_EQ(rv_conf_int(c, t, "kafka.sink.max.in.flight"), 100000);
    CHECK_STR(rv_conf_str(c, t, "kafka.source.unknown.topic"), "fail");
    kt_set(c, "kafka.source.unknown.topic", "sometimes");
    rv_error_t *err = NULL;
    CHECK_EQ(rv_conf_check(c, &t, 1, true, &err), RV_ERR_CONFIG);
    CHECK(err && strstr(rv_error_msg(err), "kafka.source.unknown.topic"));
    rv_error_destroy(err);
    rv_conf_destroy(c);
}

/* Maps a Kafka record to a message with the same key and value. */
static rv_err_t copy_record(rv_env_t *env, rv_kafka_out_t *out, rv_error_t **errp, void *opaque)
{
    const rd_kafka_message_t *m = rv_kafka_record(env);
    out->key = m->key;
    out->key_len = m->key_len;
    out->value = m->payload;
    out->value_len = m->len;
    return RV_OK;
}

/* A graph destroyed while a source and a sink run (no stop): nothing leaks,
 * nothing hangs, the loop closes. */
static void test_destroy_while_running(void)
{
    rv_kafka_mock_t *mock = rv_kafka_mock_shared(NULL);
    REQUIRE(mock);
    char in[128], out[128];
    kt_topic(in, sizeof(in), "dr-in");
    kt_topic(out, sizeof(out), "dr-out");
    REQUIRE(rv_kafka_mock_create_topic(mock, in, 2, NULL) == RV_OK);
    REQUIRE(kt_produce(rv_kafka_mock_bootstraps(mock), in, 0, 5000, -1) == 0);
    uv_loop_t loop;
    uv_loop_init(&loop);
    rv_conf_t *conf = rv_conf_new();
    kt_set(conf, "kafka.group.id", "g-dr");
    kt_set(conf, "kafka.auto.offset.reset", "earliest");
    kt_set(conf, "kafka.session.timeout.ms", "3000");
    rv_graph_t *g = rv_graph_new(&loop, NULL, NULL);
    rv_stage_t *src = rv_kafka_source(g, conf, in);
    rv_chain(src, rv_throttle(g, 10, 10, 10), rv_kafka_flow(g, conf, out, copy_record, NULL),
             rv_ignore(g), NULL);
    (void)src;
    kt_result_t r = {0};
    REQUIRE(kt_start(g, &r));
    rv_kafka_source_stats_t s = {0};
    uint64_t deadline = uv_hrtime() + 15000000000ull;
    while (s.emitted < 200 && uv_hrtime() < deadline) {
        uv_run(&loop, UV_RUN_NOWAIT);
        rv_kafka_source_get_stats(src, &s);
    }
    CHECK(s.emitted >= 200);
    double t0 = now_s();
    kt_destroy(g);
    printf("  destroy took %.2f s\n", now_s() - t0);
    CHECK(now_s() - t0 < 10);
    CHECK_EQ(uv_loop_close(&loop), 0);
    rv_conf_destroy(conf);
    rv_kafka_mock_destroy(mock);
}

/* The payload of a flow element is wrong (no rv_kafka_out_t): mapping fails,
 * and the stage names the problem. */
static void test_sink_without_payload(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    rv_graph_t *g = rv_graph_new(&loop, NULL, NULL);
    static void *items[1] = {NULL};
    rv_chain(rv_source_array(g, items, 1), rv_kafka_sink(g, NULL, "t-null", NULL, NULL), NULL);
    kt_result_t r = {0};
    REQUIRE(kt_start(g, &r));
    CHECK(kt_run_until(&loop, kt_is_done, &r, 10));
    CHECK_EQ(r.code, RV_ERR_INVALID);
    CHECK(strstr(r.msg, "rv_kafka_out_t") != NULL);
    kt_destroy(g);
    CHECK_EQ(uv_loop_close(&loop), 0);
}

RV_TEST_MAIN(RV_TEST(test_unreachable_broker_source), RV_TEST(test_unreachable_broker_sink),
             RV_TEST(test_unknown_topic), RV_TEST(test_invalid_properties),
             RV_TEST(test_group_id_required), RV_TEST(test_conf_table),
             RV_TEST(test_destroy_while_running), RV_TEST(test_sink_without_payload))
