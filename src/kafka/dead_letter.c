/* The dead-letter sink: rejected elements (a derived envelope whose payload is
 * the rv_error_t * reason, whose root is the original Kafka record) are written
 * to a dead-letter topic with the original key, value and headers, plus
 * headers naming where the record came from and why it was rejected. The
 * element is released after success only when that write was delivered, which
 * acks the original record: a rejected record is committed only once it is
 * safe in the dead-letter topic. It is a KafkaSink (producer.c) with its own
 * message function. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka/internal.h"

typedef struct dlq {
    rd_kafka_headers_t *hdrs; /* the current message's headers; the producer copies them */
} dlq_t;

static void dlq_free(void *opaque)
{
    dlq_t *d = opaque;
    if (d->hdrs) rd_kafka_headers_destroy(d->hdrs);
    free(d);
}

static void add_text(rd_kafka_headers_t *h, const char *name, const char *text)
{
    rd_kafka_header_add(h, name, -1, text, (ssize_t)strlen(text));
}

static rv_err_t dlq_out(rv_env_t *env, rv_kafka_out_t *out, rv_error_t **errp, void *opaque)
{
    dlq_t *d = opaque;
    const rd_kafka_message_t *orig = rv_kafka_record(env);
    const rv_meta_t *meta = rv_env_meta(env);
    const rv_error_t *reason = rv_env_payload(env);
    if (d->hdrs) {
        rd_kafka_headers_destroy(d->hdrs);
        d->hdrs = NULL;
    }
    rd_kafka_headers_t *oh = NULL;
    if (orig &&
        rd_kafka_message_headers((rd_kafka_message_t *)orig, &oh) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        oh)
        d->hdrs = rd_kafka_headers_copy(oh);
    else
        d->hdrs = rd_kafka_headers_new(5);
    if (!d->hdrs) return rv_error_set(errp, RV_ERR_NOMEM, true, "kafka-dead-letter: out of memory");
    char num[32];
    if (meta->topic) add_text(d->hdrs, RV_KAFKA_DLQ_TOPIC, meta->topic);
    if (meta->partition >= 0) {
        snprintf(num, sizeof(num), "%" PRId32, meta->partition);
        add_text(d->hdrs, RV_KAFKA_DLQ_PARTITION, num);
    }
    if (meta->offset >= 0) {
        snprintf(num, sizeof(num), "%" PRId64, meta->offset);
        add_text(d->hdrs, RV_KAFKA_DLQ_OFFSET, num);
    }
    add_text(d->hdrs, RV_KAFKA_DLQ_ERROR, reason ? rv_error_msg(reason) : "rejected");
    snprintf(num, sizeof(num), "%d", (int)(reason ? rv_error_code(reason) : RV_ERR_USER));
    add_text(d->hdrs, RV_KAFKA_DLQ_ERROR_CODE, num);
    out->headers = d->hdrs;
    if (orig) {
        /* The original record lives as long as the element: no copy. */
        out->key = orig->key;
        out->key_len = orig->key_len;
        out->value = orig->payload;
        out->value_len = orig->len;
    }
    return RV_OK;
}

rv_stage_t *rv_kafka_dead_letter(rv_graph_t *g, const rv_conf_t *conf, const char *topic)
{
    if (g && (!topic || !*topic)) {
        rv_graph_record_error(
            g, rv_error_new(RV_ERR_INVALID, false, "kafka-dead-letter: no dead-letter topic"));
        return NULL;
    }
    dlq_t *d = calloc(1, sizeof(*d));
    if (!d) {
        if (g)
            rv_graph_record_error(
                g, rv_error_new(RV_ERR_NOMEM, true, "kafka-dead-letter: out of memory"));
        return NULL;
    }
    return rv__kafka_producer_stage(g, conf, topic, dlq_out, d, dlq_free, false,
                                    "kafka-dead-letter");
}
