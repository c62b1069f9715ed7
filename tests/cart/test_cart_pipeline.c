/* The cart pipeline end to end on the embedded default: librdkafka's mock
 * cluster and an SQLite file. The Scala original's scenario in every
 * topology and mode, and poison records among good ones. */
#define _GNU_SOURCE /* memmem */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cart_test_util.h"
#include "codec.h"
#include "pipeline.h"
#include "query.h"

typedef struct msg {
    rv_kafka_out_t out;
    rv_avro_buf_t buf;
    char key[80];
} msg_t;

static void pub_done(rv_graph_t *g, const rv_error_t *st, void *opaque)
{
    if (st) fprintf(stderr, "  publish: %s\n", rv_error_msg(st));
    *(int *)opaque = st ? 2 : 1;
}

static msg_t *encode(const rv_avro_codec_t *codec, const cart_wire_cmd_t *w)
{
    msg_t *m = calloc(1, sizeof(*m));
    rv_err_t rc = rv_avro_encode(codec, w, &m->buf, NULL);
    CHECK_EQ(rc, RV_OK);
    snprintf(m->key, sizeof(m->key), "%s", w->cart_id);
    m->out.partition = RV_KAFKA_PARTITION_ANY;
    m->out.key = m->key;
    m->out.key_len = strlen(m->key);
    m->out.value = m->buf.data;
    m->out.value_len = m->buf.len;
    return m;
}

static bool publish(const char *bootstrap, const char *topic, msg_t **msgs, size_t n)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    rv_conf_t *conf = rv_conf_new();
    rv_conf_set(conf, "kafka.bootstrap.servers", bootstrap, NULL);
    rv_graph_t *g = rv_graph_new(&loop, conf, NULL);
    rv_chain(rv_source_array(g, (void *const *)msgs, n), rv_kafka_sink(g, conf, topic, NULL, NULL),
             NULL);
    int state = 0;
    CHECK_EQ(rv_graph_run(g, pub_done, &state, NULL), RV_OK);
    while (state == 0 && uv_run(&loop, UV_RUN_ONCE))
        ;
    rv_graph_destroy(g);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    rv_conf_destroy(conf);
    return state == 1;
}

typedef struct run {
    bool done;
    rv_err_t code;
    cart_pipeline_t *p;
    uint64_t expect;
    uv_timer_t t;
} run_t;

static void run_done(rv_graph_t *g, const rv_error_t *st, void *opaque)
{
    run_t *r = opaque;
    r->done = true;
    r->code = rv_error_code(st);
    if (st) fprintf(stderr, "  pipeline: %s\n", rv_error_msg(st));
}

/* Stops the pipeline once every record was acked. */
static void watch(uv_timer_t *t)
{
    run_t *r = t->data;
    rv_kafka_source_stats_t ks;
    rv_kafka_source_get_stats(cart_pipeline_source(r->p), &ks);
    if (ks.acked >= r->expect) {
        uv_timer_stop(t);
        rv_graph_stop(cart_pipeline_graph(r->p));
    }
}

static void closed(uv_handle_t *h) {}

/* Runs the pipeline until `expect` records were acked; returns the committed
 * offset sum over the topic's partitions. */
static int64_t run_pipeline(rv_conf_t *conf, cart_store_t *store, uv_loop_t *loop, uint64_t expect,
                            cart_stats_t *stats)
{
    rv_error_t *err = NULL;
    run_t r = {.expect = expect};
    r.p = cart_pipeline_new(loop, conf, store, &err);
    if (!r.p) {
        fprintf(stderr, "  pipeline_new: %s\n", rv_error_msg(err));
        rv_error_destroy(err);
        return -1;
    }
    CHECK_EQ(rv_graph_run(cart_pipeline_graph(r.p), run_done, &r, NULL), RV_OK);
    uv_timer_init(loop, &r.t);
    r.t.data = &r;
    uv_timer_start(&r.t, watch, 20, 20);
    uint64_t start = uv_now(loop);
    while (!r.done && uv_now(loop) - start < 30000)
        uv_run(loop, UV_RUN_ONCE);
    CHECK(r.done);
    CHECK_EQ(r.code, RV_OK);
    int64_t committed = 0;
    for (int part = 0; part < 4; part++) {
        int64_t c = rv_kafka_source_committed(cart_pipeline_source(r.p),
                                              rv_conf_get(conf, "cart.topic"), part);
        if (c > 0) committed += c;
    }
    *stats = *cart_pipeline_stats(r.p);
    uv_close((uv_handle_t *)&r.t, closed);
    cart_pipeline_destroy(r.p);
    uv_run(loop, UV_RUN_DEFAULT);
    return committed;
}

static void keep_report(rv_error_t *err, cart_report_t *r, void *opaque)
{
    CHECK(err == NULL);
    rv_error_destroy(err);
    *(cart_report_t **)opaque = r;
}

static void scenario(const char *topology, const char *mode)
{
    rv_error_t *err = NULL;
    rv_kafka_mock_t *mock = rv_kafka_mock_new(1, &err);
    REQUIRE(mock);
    const char *bootstrap = rv_kafka_mock_bootstraps(mock);
    char topic[64];
    snprintf(topic, sizeof(topic), "cmds-%s-%s", topology, mode);
    CHECK_EQ(rv_kafka_mock_create_topic(mock, topic, 4, NULL), RV_OK);
    CHECK_EQ(rv_kafka_mock_create_topic(mock, "dlq", 1, NULL), RV_OK);
    rv_avro_codec_t *codec = cart_codec_new(NULL, NULL);
    cart_cmd_t cmds[16];
    size_t n = scala_scenario(cmds);
    msg_t *msgs[16];
    for (size_t i = 0; i < n; i++) {
        cart_wire_buf_t b;
        cart_cmd_to_wire(&cmds[i], &b);
        msgs[i] = encode(codec, &b.w);
    }
    REQUIRE(publish(bootstrap, topic, msgs, n));

    char path[] = "/tmp/rv_cart_pipe_XXXXXX";
    close(mkstemp(path));
    unlink(path);
    uv_loop_t loop;
    uv_loop_init(&loop);
    cart_store_t *store = cart_store_sqlite_open(&loop, path, NULL);
    REQUIRE(store);
    rv_conf_t *conf = rv_conf_new();
    rv_conf_set(conf, "kafka.bootstrap.servers", bootstrap, NULL);
    rv_conf_set(conf, "kafka.group.id", "test", NULL);
    rv_conf_set(conf, "kafka.auto.offset.reset", "earliest", NULL);
    rv_conf_set(conf, "kafka.session.timeout.ms", "3000", NULL);
    rv_conf_set(conf, "cart.topic", topic, NULL);
    rv_conf_set(conf, "cart.dlq.topic", "dlq", NULL);
    rv_conf_set(conf, "cart.topology", topology, NULL);
    rv_conf_set(conf, "cart.mode", mode, NULL);
    cart_stats_t stats = {0};
    int64_t committed = run_pipeline(conf, store, &loop, n, &stats);
    CHECK_EQ(committed, (int64_t)n); /* the committed offsets reach the end of the topic */
    CHECK_EQ(stats.applied, n);
    CHECK_EQ(stats.logged, n);

    cart_report_t *r = NULL;
    rv_uuid_t id = uid(1);
    cart_check(store, &id, keep_report, &r);
    REQUIRE(r);
    rv_uuid_t first_owner = uid(100), first = uid(200), second = uid(201);
    CHECK(rv_uuid_equal(&r->table.owner, &first_owner));
    CHECK_EQ(cart_state_item(&r->table, &first), 1);
    CHECK_EQ(cart_state_item(&r->table, &second), 2);
    CHECK_EQ(r->table.version, 9);
    CHECK_EQ(r->rows, 10);
    CHECK(r->table_ok && r->ledger_ok);
    cart_report_free(r);

    store->ops->close(store, NULL, NULL);
    uv_loop_close(&loop);
    rv_conf_destroy(conf);
    for (size_t i = 0; i < n; i++) {
        rv_avro_buf_free(&msgs[i]->buf);
        free(msgs[i]);
    }
    rv_avro_codec_destroy(codec);
    rv_kafka_mock_destroy(mock);
    unlink(path);
}

static void test_scala_parallel_duplicates(void)
{
    scenario("parallel", "duplicates");
}
static void test_scala_serial_duplicates(void)
{
    scenario("serial", "duplicates");
}
static void test_scala_atomic_duplicates(void)
{
    scenario("atomic", "duplicates");
}
static void test_scala_serial_idempotent(void)
{
    scenario("serial", "idempotent");
}
static void test_scala_parallel_idempotent(void)
{
    scenario("parallel", "idempotent");
}
static void test_scala_atomic_idempotent(void)
{
    scenario("atomic", "idempotent");
}

/* Reads every record of a topic; returns how many carry the rivulet.error
 * header, and checks each reason against the expected needles. */
static int dead_letters(const char *bootstrap, const char *topic, const char *const *needles,
                        int n_needles)
{
    char errstr[256];
    rd_kafka_conf_t *kc = rd_kafka_conf_new();
    rd_kafka_conf_set(kc, "bootstrap.servers", bootstrap, errstr, sizeof(errstr));
    rd_kafka_conf_set(kc, "enable.partition.eof", "true", errstr, sizeof(errstr));
    rd_kafka_conf_set(kc, "group.id", "dlq-reader", errstr, sizeof(errstr));
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, errstr, sizeof(errstr));
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(parts, topic, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(rk, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    int n = 0;
    bool found[8] = {false};
    for (int tries = 0; tries < 100; tries++) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m) continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            rd_kafka_message_destroy(m);
            break;
        }
        rd_kafka_headers_t *h = NULL;
        const void *v = NULL;
        size_t len = 0;
        if (!m->err && rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR &&
            rd_kafka_header_get_last(h, RV_KAFKA_DLQ_ERROR, &v, &len) ==
                RD_KAFKA_RESP_ERR_NO_ERROR) {
            n++;
            for (int i = 0; i < n_needles; i++)
                if (memmem(v, len, needles[i], strlen(needles[i]))) found[i] = true;
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    for (int i = 0; i < n_needles; i++)
        if (!found[i]) fprintf(stderr, "  no dead letter mentions \"%s\"\n", needles[i]);
    for (int i = 0; i < n_needles; i++)
        CHECK(found[i]);
    return n;
}

/* Poison records among good ones: each goes to the dead-letter topic with its
 * reason, every good command is applied, and every offset is committed. */
static void test_poison_among_good(void)
{
    rv_kafka_mock_t *mock = rv_kafka_mock_new(1, NULL);
    REQUIRE(mock);
    const char *bootstrap = rv_kafka_mock_bootstraps(mock);
    CHECK_EQ(rv_kafka_mock_create_topic(mock, "poison", 4, NULL), RV_OK);
    CHECK_EQ(rv_kafka_mock_create_topic(mock, "poison-dlq", 1, NULL), RV_OK);
    rv_avro_codec_t *codec = cart_codec_new(NULL, NULL);
    cart_cmd_t cmds[16];
    size_t n = scala_scenario(cmds);
    msg_t *msgs[32];
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        cart_wire_buf_t b;
        cart_cmd_to_wire(&cmds[i], &b);
        msgs[k++] = encode(codec, &b.w);
        if (i == 4) {
            cart_wire_buf_t p;
            cart_cmd_to_wire(&cmds[i], &p);
            snprintf(p.action, sizeof(p.action), "Explode");
            msgs[k++] = encode(codec, &p.w);
            cart_cmd_to_wire(&cmds[i], &p);
            snprintf(p.owner_or_item, sizeof(p.owner_or_item), "not-a-uuid");
            msgs[k++] = encode(codec, &p.w);
            cart_cmd_to_wire(&cmds[i], &p);
            p.w.has_count = false;
            msgs[k++] = encode(codec, &p.w);
            msg_t *junk = calloc(1, sizeof(*junk));
            static const uint8_t bytes[] = {0x0e, 'I', 'n', 's', 'e', 'r', 't', 0x99};
            junk->out.partition = RV_KAFKA_PARTITION_ANY;
            snprintf(junk->key, sizeof(junk->key), "%s", b.cart_id);
            junk->out.key = junk->key;
            junk->out.key_len = strlen(junk->key);
            junk->out.value = bytes;
            junk->out.value_len = sizeof(bytes);
            msgs[k++] = junk;
        }
    }
    REQUIRE(publish(bootstrap, "poison", msgs, k));
    char path[] = "/tmp/rv_cart_poison_XXXXXX";
    close(mkstemp(path));
    unlink(path);
    uv_loop_t loop;
    uv_loop_init(&loop);
    cart_store_t *store = cart_store_sqlite_open(&loop, path, NULL);
    REQUIRE(store);
    rv_conf_t *conf = rv_conf_new();
    rv_conf_set(conf, "kafka.bootstrap.servers", bootstrap, NULL);
    rv_conf_set(conf, "kafka.group.id", "test", NULL);
    rv_conf_set(conf, "kafka.auto.offset.reset", "earliest", NULL);
    rv_conf_set(conf, "kafka.session.timeout.ms", "3000", NULL);
    rv_conf_set(conf, "cart.topic", "poison", NULL);
    rv_conf_set(conf, "cart.dlq.topic", "poison-dlq", NULL);
    cart_stats_t stats = {0};
    int64_t committed = run_pipeline(conf, store, &loop, k, &stats);
    CHECK_EQ(committed, (int64_t)k); /* poison records are committed too, once dead-lettered */
    CHECK_EQ(stats.applied, n);
    CHECK_EQ(stats.dead_letters, 4);
    static const char *const needles[] = {"UTF-8", "unknown action \"Explode\"", "not a UUID",
                                          "count: missing"};
    CHECK_EQ(dead_letters(bootstrap, "poison-dlq", needles, 4), 4);
    cart_report_t *r = NULL;
    rv_uuid_t id = uid(1);
    cart_check(store, &id, keep_report, &r);
    REQUIRE(r);
    CHECK_EQ(r->table.version, 9);
    cart_report_free(r);
    store->ops->close(store, NULL, NULL);
    uv_loop_close(&loop);
    rv_conf_destroy(conf);
    for (size_t i = 0; i < k; i++) {
        rv_avro_buf_free(&msgs[i]->buf);
        free(msgs[i]);
    }
    rv_avro_codec_destroy(codec);
    rv_kafka_mock_destroy(mock);
    unlink(path);
}

RV_TEST_MAIN(RV_TEST_T(test_scala_parallel_duplicates, 60),
             RV_TEST_T(test_scala_serial_duplicates, 60),
             RV_TEST_T(test_scala_atomic_duplicates, 60),
             RV_TEST_T(test_scala_parallel_idempotent, 60),
             RV_TEST_T(test_scala_serial_idempotent, 60),
             RV_TEST_T(test_scala_atomic_idempotent, 60), RV_TEST_T(test_poison_among_good, 60))
