/* Helpers for the Kafka integration tests. They need the real broker that
 * tools/services/services starts (Kafka 4.x on 127.0.0.1:9092, or the
 * address in RV_KAFKA_BOOTSTRAP) and fail, never skip, when it does not
 * answer. Each test makes its own uniquely named topics. */
#ifndef RV_KAFKA_IT_UTIL_H
#define RV_KAFKA_IT_UTIL_H

#include "../../kafka/kafka_test_util.h"

static inline const char *it_bootstrap(void)
{
    const char *bs = getenv("RV_KAFKA_BOOTSTRAP");
    return bs && *bs ? bs : "127.0.0.1:9092";
}

static inline rd_kafka_t *it_admin(void)
{
    char errstr[512];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_set(c, "bootstrap.servers", it_bootstrap(), errstr, sizeof(errstr));
    rd_kafka_conf_set(c, "log_level", "3", errstr, sizeof(errstr));
    return rd_kafka_new(RD_KAFKA_PRODUCER, c, errstr, sizeof(errstr));
}

/* True when the broker answers a metadata request within 15 s; says what to
 * do when it does not. */
static inline bool it_broker_up(void)
{
    rd_kafka_t *rk = it_admin();
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err =
        rk ? rd_kafka_metadata(rk, 0, NULL, &md, 15000) : RD_KAFKA_RESP_ERR__FAIL;
    if (md) rd_kafka_metadata_destroy(md);
    if (rk) rd_kafka_destroy(rk);
    if (err) {
        fprintf(stderr,
                "  this integration test needs the real Kafka broker at %s, which did not answer "
                "(%s); start it with: tools/services/services start kafka\n",
                it_bootstrap(), rd_kafka_err2str(err));
        return false;
    }
    return true;
}

#define IT_REQUIRE_BROKER() REQUIRE(it_broker_up())

/* Creates a topic with `partitions` partitions and waits until every
 * partition has a leader. */
static inline bool it_create_topic(const char *topic, int partitions)
{
    rd_kafka_t *rk = it_admin();
    if (!rk) return false;
    char errstr[512];
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(topic, partitions, 1, errstr, sizeof(errstr));
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);
    bool ok = false;
    if (ev) {
        const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
        size_t n = 0;
        const rd_kafka_topic_result_t **tr =
            res ? rd_kafka_CreateTopics_result_topics(res, &n) : NULL;
        ok = n == 1 &&
             (rd_kafka_topic_result_error(tr[0]) == 0 ||
              rd_kafka_topic_result_error(tr[0]) == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS);
        if (!ok)
            fprintf(stderr, "  creating topic %s: %s\n", topic,
                    n ? rd_kafka_topic_result_error_string(tr[0])
                      : rd_kafka_event_error_string(ev));
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_NewTopic_destroy(nt);
    rd_kafka_queue_destroy(q);
    /* Wait for the leaders, so a client that starts now sees the topic. */
    uint64_t deadline = uv_hrtime() + 30000000000ull;
    bool ready = false;
    while (ok && !ready && uv_hrtime() < deadline) {
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
        const struct rd_kafka_metadata *md = NULL;
        if (rd_kafka_metadata(rk, 0, rkt, &md, 5000) == 0 && md->topic_cnt == 1 &&
            !md->topics[0].err && md->topics[0].partition_cnt == partitions) {
            ready = true;
            for (int i = 0; i < partitions; i++)
                if (md->topics[0].partitions[i].leader < 0) ready = false;
        }
        if (md) rd_kafka_metadata_destroy(md);
        rd_kafka_topic_destroy(rkt);
        if (!ready) usleep(100000);
    }
    rd_kafka_destroy(rk);
    return ok && ready;
}

/* The end offset of every partition of topic; false on error. */
static inline bool it_high_watermarks(const char *topic, int partitions, int64_t *high)
{
    rd_kafka_t *rk = it_admin();
    bool ok = rk != NULL;
    for (int p = 0; ok && p < partitions; p++) {
        int64_t lo = 0;
        ok = rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &high[p], 10000) == 0;
    }
    if (rk) rd_kafka_destroy(rk);
    return ok;
}

/* Reads topic from the start with a plain librdkafka consumer until `want`
 * records came (or 30 s of silence); counts keys "key-<i>" (0 <= i < n) in
 * seen[]. Returns the records read. */
static inline int it_read_keys(const char *topic, int partitions, int want, int n, uint8_t *seen)
{
    char errstr[512];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_set(c, "bootstrap.servers", it_bootstrap(), errstr, sizeof(errstr));
    rd_kafka_conf_set(c, "group.id", "it-reader", errstr, sizeof(errstr));
    rd_kafka_conf_set(c, "enable.auto.commit", "false", errstr, sizeof(errstr));
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, errstr, sizeof(errstr));
    if (!rk) return 0;
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(partitions);
    for (int p = 0; p < partitions; p++)
        rd_kafka_topic_partition_list_add(l, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    int got = 0;
    uint64_t last = uv_hrtime();
    while (got < want && uv_hrtime() - last < 30000000000ull) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
        if (!m) continue;
        if (!m->err) {
            char k[32] = "";
            if (m->key && m->key_len < sizeof(k)) memcpy(k, m->key, m->key_len);
            int i = strncmp(k, "key-", 4) == 0 ? atoi(k + 4) : -1;
            if (i >= 0 && i < n && seen[i] < 255) seen[i]++;
            got++;
            last = uv_hrtime();
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return got;
}

/* A configuration pointing at the real broker. */
static inline rv_conf_t *it_conf(const char *group)
{
    rv_conf_t *c = rv_conf_new();
    kt_set(c, "kafka.bootstrap.servers", it_bootstrap());
    if (group) kt_set(c, "kafka.group.id", group);
    kt_set(c, "kafka.auto.offset.reset", "earliest");
    kt_set(c, "kafka.connect.timeout", "15000");
    return c;
}

#endif
