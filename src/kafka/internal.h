/* Internal pieces shared by the files of src/kafka. */
#ifndef RV_KAFKA_INTERNAL_H
#define RV_KAFKA_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "rivulet/kafka.h"

/* ------------------------------------------------------------------ conf.c */

/* A librdkafka configuration built from a user's rv_conf_t, with rivulet's own
 * settings read from rv_kafka_conf_table. */
typedef struct rv__kconf {
    rd_kafka_conf_t *rk_conf; /* owned until handed to rd_kafka_new */
    rv_kafka_mock_t *mock;    /* the shared mock cluster when in mock mode (a reference) */
    char *bootstraps;         /* what the clients connect to */
    /* rivulet's settings */
    int64_t commit_batch;
    int64_t commit_interval_ms;
    int64_t poll_batch;
    int64_t pause_after_ms;
    int64_t revoke_timeout_ms;
    int64_t close_timeout_ms;
    int64_t connect_timeout_ms;
    int64_t max_in_flight;
    int64_t mock_partitions;
    bool unknown_topic_wait;
    int64_t max_poll_interval_ms; /* librdkafka's, read back for the keepalive */
} rv__kconf_t;

/* Checks conf against rv_kafka_conf_table, builds the librdkafka
 * configuration for a consumer or a producer (pass-through keys, rivulet's
 * forced and default properties) and resolves mock mode. `who` names the stage
 * in messages. On error nothing is left to free. */
rv_err_t rv__kconf_build(rv__kconf_t *kc, const rv_conf_t *conf, rd_kafka_type_t type,
                         const char *who, rv_error_t **errp);

/* Frees what rv__kconf_build left (the rd_kafka_conf_t unless it was handed
 * over and set to NULL, the mock reference, the strings). */
void rv__kconf_clear(rv__kconf_t *kc);

/* In mock mode, creates `topic` on the mock with kc->mock_partitions
 * partitions unless it exists. A no-op otherwise. */
void rv__kconf_mock_topic(const rv__kconf_t *kc, const char *topic);

/* ------------------------------------------------------------------- qio.c */

/* librdkafka queue wake-ups delivered to the loop: librdkafka writes a byte to
 * a pipe when the queue becomes non-empty, a uv_poll_t watches the other end,
 * and the callback runs on the loop thread. */
typedef struct rv__kqio rv__kqio_t;

/* Starts wake-ups of q on loop. Ownership: the qio is freed by rv__kqio_close.
 * q is borrowed and must outlive the qio's close call. */
rv__kqio_t *rv__kqio_new(uv_loop_t *loop, rd_kafka_queue_t *q, void (*cb)(void *opaque),
                         void *opaque, rv_error_t **errp);

/* Stops wake-ups (no callback after this call) and closes the handle; the
 * memory goes once libuv closed it, with a hold on g until then. NULL is a no-op. */
void rv__kqio_close(rv__kqio_t *io, rv_graph_t *g);

/* ------------------------------------------------------------------ mock.c */

/* The shared mock cluster for a bootstrap.servers value that asks for it
 * (NULL, empty or "mock"); NULL when the value names real brokers. */
bool rv__kafka_wants_mock(const char *bootstraps);

/* ------------------------------------------------------------- producer.c */

/* The producer stage behind rv_kafka_sink, rv_kafka_flow and
 * rv_kafka_dead_letter (kind "kafka-sink", "kafka-flow", "kafka-dead-letter").
 * Ownership: opaque is freed with opaque_free (may be NULL) when the stage
 * goes, or at once when construction fails. */
rv_stage_t *rv__kafka_producer_stage(rv_graph_t *g, const rv_conf_t *conf, const char *topic,
                                     rv_kafka_out_fn fn, void *opaque, rv_free_fn opaque_free,
                                     bool flow, const char *kind);

/* ------------------------------------------------------------------ misc */

/* An error from a librdkafka code, with rivulet's mapping and retriability. */
rv_error_t *rv__kafka_error(rd_kafka_resp_err_t err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
