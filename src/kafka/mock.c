/* The embedded mock cluster: librdkafka's in-process mock brokers
 * (rdkafka_mock.h), and the one shared instance that stages use when
 * bootstrap.servers is empty or "mock".
 *
 * A mock cluster needs a librdkafka handle to live on; each rv_kafka_mock_t
 * has its own small producer handle for that. The shared instance is the only
 * process-wide state of the library: stages of different graphs (and
 * threads) that ask for "mock" must reach the same cluster, or a producer and
 * a consumer in one program could not see each other. A mutex guards it and a
 * reference count ends it with its last user. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "kafka/internal.h"

struct rv_kafka_mock {
    rd_kafka_t *rk;
    rd_kafka_mock_cluster_t *mc;
    char *bootstraps;
    int refs; /* guarded by shared_mu */
    bool shared;
};

static pthread_mutex_t shared_mu = PTHREAD_MUTEX_INITIALIZER;
static rv_kafka_mock_t *shared_mock; /* guarded by shared_mu */

bool rv__kafka_wants_mock(const char *bootstraps)
{
    return !bootstraps || !*bootstraps || strcmp(bootstraps, "mock") == 0;
}

rv_kafka_mock_t *rv_kafka_mock_new(int brokers, rv_error_t **errp)
{
    if (brokers < 1 || brokers > 9) {
        rv_error_set(errp, RV_ERR_INVALID, false, "kafka mock: brokers must be 1..9, not %d",
                     brokers);
        return NULL;
    }
    rv_kafka_mock_t *m = calloc(1, sizeof(*m));
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    char errstr[512];
    if (!m || !c) {
        free(m);
        if (c) rd_kafka_conf_destroy(c);
        rv_error_set(errp, RV_ERR_NOMEM, true, "kafka mock: out of memory");
        return NULL;
    }
    rd_kafka_conf_set(c, "client.id", "rivulet-mock", NULL, 0);
    /* The handle only hosts the cluster; its "no bootstrap.servers" notice
     * would only confuse. */
    rd_kafka_conf_set(c, "log_level", "4", NULL, 0);
    m->rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, errstr, sizeof(errstr));
    if (!m->rk) {
        rd_kafka_conf_destroy(c);
        free(m);
        rv_error_set(errp, RV_ERR_UNAVAILABLE, false, "kafka mock: %s", errstr);
        return NULL;
    }
    m->mc = rd_kafka_mock_cluster_new(m->rk, brokers);
    const char *bs = m->mc ? rd_kafka_mock_cluster_bootstraps(m->mc) : NULL;
    m->bootstraps = bs ? strdup(bs) : NULL;
    if (!m->bootstraps) {
        if (m->mc) rd_kafka_mock_cluster_destroy(m->mc);
        rd_kafka_destroy(m->rk);
        free(m);
        rv_error_set(errp, RV_ERR_UNAVAILABLE, false, "kafka mock: could not start the cluster");
        return NULL;
    }
    m->refs = 1;
    return m;
}

rv_kafka_mock_t *rv_kafka_mock_shared(rv_error_t **errp)
{
    pthread_mutex_lock(&shared_mu);
    rv_kafka_mock_t *m = shared_mock;
    if (m) {
        m->refs++;
    } else {
        m = rv_kafka_mock_new(1, errp);
        if (m) {
            m->shared = true;
            shared_mock = m;
        }
    }
    pthread_mutex_unlock(&shared_mu);
    return m;
}

void rv_kafka_mock_destroy(rv_kafka_mock_t *m)
{
    if (!m) return;
    pthread_mutex_lock(&shared_mu);
    bool last = --m->refs == 0;
    if (last && m->shared) shared_mock = NULL;
    pthread_mutex_unlock(&shared_mu);
    if (!last) return;
    rd_kafka_mock_cluster_destroy(m->mc);
    rd_kafka_destroy(m->rk);
    free(m->bootstraps);
    free(m);
}

const char *rv_kafka_mock_bootstraps(const rv_kafka_mock_t *m)
{
    return m->bootstraps;
}

rd_kafka_mock_cluster_t *rv_kafka_mock_cluster(rv_kafka_mock_t *m)
{
    return m->mc;
}

rv_err_t rv_kafka_mock_create_topic(rv_kafka_mock_t *m, const char *topic, int partitions,
                                    rv_error_t **errp)
{
    if (!topic || !*topic || partitions < 1)
        return rv_error_set(errp, RV_ERR_INVALID, false,
                            "kafka mock: a topic needs a name and at least one partition");
    rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(m->mc, topic, partitions, 1);
    if (err && err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
        rv_error_t *e = rv__kafka_error(err, "kafka mock: creating topic \"%s\": %s", topic,
                                        rd_kafka_err2str(err));
        return rv_error_give(errp, e);
    }
    return RV_OK;
}
