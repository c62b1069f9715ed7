/* Reading the Kafka record behind an element: value, key and headers, through
 * the root envelope's origin, so they work on derived envelopes too. */
#include <string.h>

#include "kafka/internal.h"

const rd_kafka_message_t *rv_kafka_record(const rv_env_t *env)
{
    if (!env) return NULL;
    const rv_meta_t *m = rv_env_meta(env);
    if (!m->origin || !m->origin_kind || strcmp(m->origin_kind, "kafka") != 0) return NULL;
    return m->origin;
}

const void *rv_kafka_record_value(const rv_env_t *env, size_t *len)
{
    const rd_kafka_message_t *r = rv_kafka_record(env);
    if (len) *len = r && r->payload ? r->len : 0;
    return r ? r->payload : NULL;
}

const void *rv_kafka_record_key(const rv_env_t *env, size_t *len)
{
    const rd_kafka_message_t *r = rv_kafka_record(env);
    if (len) *len = r && r->key ? r->key_len : 0;
    return r ? r->key : NULL;
}

/* librdkafka parses headers lazily into the message, hence the cast: the
 * record itself is not changed. */
static rd_kafka_headers_t *headers_of(const rv_env_t *env)
{
    const rd_kafka_message_t *r = rv_kafka_record(env);
    rd_kafka_headers_t *h = NULL;
    if (!r || rd_kafka_message_headers((rd_kafka_message_t *)r, &h) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return NULL;
    return h;
}

bool rv_kafka_record_header(const rv_env_t *env, const char *name, const void **value, size_t *len)
{
    rd_kafka_headers_t *h = headers_of(env);
    const void *v = NULL;
    size_t n = 0;
    if (!h || !name || rd_kafka_header_get_last(h, name, &v, &n) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return false;
    if (value) *value = v;
    if (len) *len = v ? n : 0;
    return true;
}

size_t rv_kafka_record_headers(const rv_env_t *env,
                               bool (*fn)(const char *name, const void *value, size_t len,
                                          void *opaque),
                               void *opaque)
{
    rd_kafka_headers_t *h = headers_of(env);
    size_t i = 0;
    const char *name;
    const void *v;
    size_t n;
    while (h && rd_kafka_header_get_all(h, i, &name, &v, &n) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        i++;
        if (fn && !fn(name, v, v ? n : 0, opaque)) break;
    }
    return i;
}
