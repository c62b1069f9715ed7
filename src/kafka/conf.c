/* The Kafka stages' configuration: rivulet's own keys (rv_kafka_conf_table)
 * and the librdkafka properties that pass through under "kafka.". */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka/internal.h"

static const rv_conf_def_t kafka_defs[] = {
    {"kafka.source.commit.batch", RV_CONF_INT, "1000", 1, 1e9, NULL,
     "KafkaSource: commit offsets once this many records were newly done."},
    {"kafka.source.commit.interval", RV_CONF_MS, "1000", 1, 3600000, NULL,
     "KafkaSource: longest time a done record waits for its offset to be committed."},
    {"kafka.source.poll.batch", RV_CONF_INT, "256", 1, 100000, NULL,
     "KafkaSource: most records taken from librdkafka's queue in one call."},
    {"kafka.source.pause.after", RV_CONF_MS, "500", 0, 3600000, NULL,
     "KafkaSource: pause the assigned partitions when downstream stayed full this long."},
    {"kafka.source.revoke.timeout", RV_CONF_MS, "30000", 0, 3600000, NULL,
     "KafkaSource: on revoke, longest wait for in-flight records before giving the "
     "partitions up without committing them."},
    {"kafka.source.close.timeout", RV_CONF_MS, "30000", 0, 3600000, NULL,
     "KafkaSource: on a clean stop, longest wait for in-flight records before the final "
     "commit and close."},
    {"kafka.source.unknown.topic", RV_CONF_ENUM, "fail", 0, -1, "fail|wait",
     "KafkaSource: a subscribed topic that does not exist fails the stage, or is waited for."},
    {"kafka.sink.max.in.flight", RV_CONF_INT, "100000", 1, 10000000, NULL,
     "KafkaSink/KafkaFlow: most messages awaiting their delivery report (as librdkafka's "
     "queue.buffering.max.messages); beyond it the stage stops pulling."},
    {"kafka.connect.timeout", RV_CONF_MS, "30000", 0, 3600000, NULL,
     "Kafka stages: fail when no broker answered this long after start (0: wait forever)."},
    {"kafka.mock.partitions", RV_CONF_INT, "4", 1, 10000, NULL,
     "Embedded mock cluster: partitions of the topics it creates on demand."},
};

const rv_conf_table_t rv_kafka_conf_table = {
    .component = "kafka",
    .title = "Kafka stages (kafka.*)",
    .passthrough = "kafka.",
    .passthrough_doc = "handed to librdkafka with the `kafka.` prefix removed, e.g. "
                       "`kafka.bootstrap.servers`, `kafka.group.id`, `kafka.linger.ms` (see "
                       "librdkafka's CONFIGURATION.md). `kafka.consumer.X` and "
                       "`kafka.producer.X` reach only consumers (sources) or only producers "
                       "(sinks); common one-sided properties such as group.id or linger.ms "
                       "reach only their side anyway. An empty or `mock` bootstrap.servers "
                       "selects the embedded mock cluster.",
    .defs = kafka_defs,
    .ndefs = RV_CONF_NDEFS(kafka_defs),
};

const rv_conf_table_t *rv_kafka_conf(void)
{
    return &rv_kafka_conf_table;
}

/* Whether a librdkafka error is worth retrying when nothing more is known. */
static bool kafka_retriable(rd_kafka_resp_err_t err)
{
    switch (err) {
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
    case RD_KAFKA_RESP_ERR__QUEUE_FULL:
    case RD_KAFKA_RESP_ERR__RESOLVE:
    case RD_KAFKA_RESP_ERR__WAIT_COORD:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
    case RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION:
    case RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND:
    case RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_COORDINATOR:
    case RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS:
    case RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS:
    case RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION:
        return true;
    default:
        return false;
    }
}

rv_error_t *rv__kafka_error(rd_kafka_resp_err_t err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    rv_error_t *e = rv_error_newv(RV_ERR_FROM_KAFKA(err), kafka_retriable(err), fmt, ap);
    va_end(ap);
    return e;
}

typedef struct {
    rd_kafka_conf_t *rk_conf;
    const char *who;
    int type; /* rd_kafka_type_t, or -1 for "set as given" */
} pass_ctx_t;

/* librdkafka properties of one client type that often sit in a configuration
 * shared by sources and sinks: each is handed only to the clients it is for,
 * so a producer does not warn about group.id (and a consumer about acks). */
static const char *const consumer_only[] = {"group.id",
                                            "group.instance.id",
                                            "auto.offset.reset",
                                            "session.timeout.ms",
                                            "heartbeat.interval.ms",
                                            "max.poll.interval.ms",
                                            "partition.assignment.strategy",
                                            "isolation.level",
                                            "enable.partition.eof",
                                            "fetch.wait.max.ms",
                                            "fetch.min.bytes",
                                            "fetch.max.bytes",
                                            "max.partition.fetch.bytes",
                                            "queued.min.messages",
                                            "queued.max.messages.kbytes",
                                            "enable.auto.commit",
                                            "enable.auto.offset.store",
                                            "auto.commit.interval.ms",
                                            "check.crcs"};
static const char *const producer_only[] = {"acks",
                                            "request.required.acks",
                                            "linger.ms",
                                            "queue.buffering.max.ms",
                                            "enable.idempotence",
                                            "compression.type",
                                            "compression.codec",
                                            "compression.level",
                                            "batch.num.messages",
                                            "batch.size",
                                            "message.timeout.ms",
                                            "delivery.timeout.ms",
                                            "queue.buffering.max.messages",
                                            "queue.buffering.max.kbytes",
                                            "transactional.id",
                                            "retries",
                                            "message.send.max.retries",
                                            "partitioner",
                                            "enable.gapless.guarantee"};

static bool in_list(const char *const *list, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], key) == 0) return true;
    return false;
}

static rv_err_t pass_one(const char *key, const char *value, rv_error_t **errp, void *opaque)
{
    pass_ctx_t *ctx = opaque;
    char errstr[512];
    if (ctx->type >= 0) {
        /* "kafka.consumer.X" and "kafka.producer.X" reach one client type only. */
        if (strncmp(key, "consumer.", 9) == 0) {
            if (ctx->type != RD_KAFKA_CONSUMER) return RV_OK;
            key += 9;
        } else if (strncmp(key, "producer.", 9) == 0) {
            if (ctx->type != RD_KAFKA_PRODUCER) return RV_OK;
            key += 9;
        } else if ((ctx->type == RD_KAFKA_PRODUCER &&
                    in_list(consumer_only, RV_CONF_NDEFS(consumer_only), key)) ||
                   (ctx->type == RD_KAFKA_CONSUMER &&
                    in_list(producer_only, RV_CONF_NDEFS(producer_only), key))) {
            return RV_OK;
        }
    }
    if (rd_kafka_conf_set(ctx->rk_conf, key, value, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK)
        return rv_error_set(errp, RV_ERR_CONFIG, false, "%s: kafka.%s=%s: %s", ctx->who, key, value,
                            errstr);
    return RV_OK;
}

static rv_err_t set_prop(rd_kafka_conf_t *c, const char *who, const char *key, const char *value,
                         rv_error_t **errp)
{
    pass_ctx_t ctx = {c, who, -1};
    return pass_one(key, value, errp, &ctx);
}

static char *conf_get_dup(rd_kafka_conf_t *c, const char *key)
{
    size_t sz = 0;
    if (rd_kafka_conf_get(c, key, NULL, &sz) != RD_KAFKA_CONF_OK) return NULL;
    char *buf = malloc(sz + 1);
    if (buf && rd_kafka_conf_get(c, key, buf, &sz) != RD_KAFKA_CONF_OK) {
        free(buf);
        return NULL;
    }
    return buf;
}

void rv__kconf_clear(rv__kconf_t *kc)
{
    if (kc->rk_conf) rd_kafka_conf_destroy(kc->rk_conf);
    kc->rk_conf = NULL;
    rv_kafka_mock_destroy(kc->mock);
    kc->mock = NULL;
    free(kc->bootstraps);
    kc->bootstraps = NULL;
}

/* Whether the user set librdkafka property `prop` (as "kafka.<prop>"). */
static bool user_set(const rv_conf_t *conf, const char *prop)
{
    char key[256];
    snprintf(key, sizeof(key), "kafka.%s", prop);
    return conf && rv_conf_get(conf, key) != NULL;
}

rv_err_t rv__kconf_build(rv__kconf_t *kc, const rv_conf_t *conf, rd_kafka_type_t type,
                         const char *who, rv_error_t **errp)
{
    memset(kc, 0, sizeof(*kc));
    const rv_conf_table_t *t = &rv_kafka_conf_table;
    if (conf && rv_conf_check(conf, &t, 1, true, errp) != RV_OK) return RV_ERR_CONFIG;
    kc->commit_batch = rv_conf_int(conf, t, "kafka.source.commit.batch");
    kc->commit_interval_ms = rv_conf_ms(conf, t, "kafka.source.commit.interval");
    kc->poll_batch = rv_conf_int(conf, t, "kafka.source.poll.batch");
    kc->pause_after_ms = rv_conf_ms(conf, t, "kafka.source.pause.after");
    kc->revoke_timeout_ms = rv_conf_ms(conf, t, "kafka.source.revoke.timeout");
    kc->close_timeout_ms = rv_conf_ms(conf, t, "kafka.source.close.timeout");
    kc->unknown_topic_wait =
        strcmp(rv_conf_str(conf, t, "kafka.source.unknown.topic"), "wait") == 0;
    kc->max_in_flight = rv_conf_int(conf, t, "kafka.sink.max.in.flight");
    kc->connect_timeout_ms = rv_conf_ms(conf, t, "kafka.connect.timeout");
    kc->mock_partitions = rv_conf_int(conf, t, "kafka.mock.partitions");

    rd_kafka_conf_t *c = rd_kafka_conf_new();
    if (!c) return rv_error_set(errp, RV_ERR_NOMEM, true, "%s: out of memory", who);
    kc->rk_conf = c;
    rv_err_t rc = RV_OK;
    /* rivulet's defaults, which the user's keys may replace. */
    rc = set_prop(c, who, "client.id", "rivulet", errp);
    if (rc == RV_OK && type == RD_KAFKA_PRODUCER)
        rc = set_prop(c, who, "enable.idempotence", "true", errp);
    if (rc == RV_OK && type == RD_KAFKA_CONSUMER)
        rc = set_prop(c, who, "enable.auto.commit", "false", errp);
    /* The user's librdkafka properties. */
    if (rc == RV_OK && conf) {
        pass_ctx_t ctx = {c, who, (int)type};
        rc = rv_conf_passthrough(conf, t, pass_one, &ctx, errp);
    }
    if (rc != RV_OK) goto fail;
    if (type == RD_KAFKA_CONSUMER) {
        /* Offsets are committed by the source's watermark only: librdkafka's
         * automatic commit would commit records that are not done yet. It was
         * set false above, so true here is the user's. */
        char *ac = conf_get_dup(c, "enable.auto.commit");
        bool on = ac && strcmp(ac, "true") == 0;
        free(ac);
        if (on) {
            rc = rv_error_set(errp, RV_ERR_CONFIG, false,
                              "%s: kafka.enable.auto.commit must be false: KafkaSource commits "
                              "only records that are done",
                              who);
            goto fail;
        }
        rc = set_prop(c, who, "enable.auto.commit", "false", errp);
        if (rc == RV_OK) rc = set_prop(c, who, "enable.auto.offset.store", "false", errp);
        if (rc != RV_OK) goto fail;
        char *mpi = conf_get_dup(c, "max.poll.interval.ms");
        kc->max_poll_interval_ms = mpi ? atoll(mpi) : 300000;
        free(mpi);
    }
    char *bs = conf_get_dup(c, "bootstrap.servers");
    if (rv__kafka_wants_mock(bs)) {
        free(bs);
        kc->mock = rv_kafka_mock_shared(errp);
        if (!kc->mock) {
            rc = RV_ERR_UNAVAILABLE;
            goto fail;
        }
        kc->bootstraps = strdup(rv_kafka_mock_bootstraps(kc->mock));
        if (!kc->bootstraps) {
            rc = rv_error_set(errp, RV_ERR_NOMEM, true, "%s: out of memory", who);
            goto fail;
        }
        rc = set_prop(c, who, "bootstrap.servers", kc->bootstraps, errp);
        /* The mock creates a topic a client asks for, like a broker with
         * auto.create.topics.enable: "topics created on demand". */
        if (rc == RV_OK && type == RD_KAFKA_CONSUMER && !user_set(conf, "allow.auto.create.topics"))
            rc = set_prop(c, who, "allow.auto.create.topics", "true", errp);
        if (rc != RV_OK) goto fail;
    } else {
        kc->bootstraps = bs;
    }
    return RV_OK;
fail:
    rv__kconf_clear(kc);
    return rc != RV_OK ? rc : RV_ERR_CONFIG;
}

void rv__kconf_mock_topic(const rv__kconf_t *kc, const char *topic)
{
    if (kc->mock && topic && *topic && topic[0] != '^')
        rv_kafka_mock_create_topic(kc->mock, topic, (int)kc->mock_partitions, NULL);
}
