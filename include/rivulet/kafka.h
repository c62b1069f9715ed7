/* rivulet — Kafka stages on librdkafka.
 *
 *   rv_kafka_source       a consumer in a consumer group (or on assigned
 *                         partitions) that emits one record per element and
 *                         commits, per partition, the offset below which every
 *                         record is done
 *   rv_kafka_sink         an idempotent producer; an element is released (so
 *                         its record acked) only after its delivery succeeded
 *   rv_kafka_flow         the same producer, emitting each element downstream
 *                         after its delivery, with the partition and offset
 *   rv_kafka_dead_letter  a sink for rejected elements: writes the original
 *                         record to a dead-letter topic with the reason in
 *                         headers, then acks the original
 *   rv_kafka_mock_*       librdkafka's in-process mock cluster
 *
 * Configuration. Every stage takes an rv_conf_t (NULL: all defaults) checked
 * against rv_kafka_conf_table. rivulet's own keys live under "kafka.source.",
 * "kafka.sink.", "kafka.mock." and "kafka.connect."; any other "kafka.X" key
 * is handed to librdkafka as property "X" (for example "kafka.group.id",
 * "kafka.bootstrap.servers", "kafka.linger.ms"), and librdkafka's own message
 * names a bad property. One configuration can serve sources and sinks alike:
 * "kafka.consumer.X" reaches only consumers and "kafka.producer.X" only
 * producers, and the common one-sided properties (group.id, auto.offset.reset,
 * session.timeout.ms, ... and acks, linger.ms, enable.idempotence, ...) reach
 * only their side even without the prefix. Keys of other components in the
 * same rv_conf_t are ignored here.
 *
 * The embedded default. When "kafka.bootstrap.servers" is unset, empty or the
 * word "mock", the stage uses the process's shared mock cluster (see
 * rv_kafka_mock_shared): one in-process librdkafka mock broker, created on
 * first use and destroyed with its last user, on which topics are created on
 * demand with "kafka.mock.partitions" partitions. It is the one piece of
 * process-wide state in the library, and a mutex guards it.
 *
 * Elements of a source. The payload of every element a KafkaSource emits is
 * the `rd_kafka_message_t *` itself, borrowed: the root envelope owns the
 * record (the source destroys it once the element is acked), so a downstream
 * stage reads `msg->payload` / `msg->len` but never frees it. The envelope's
 * metadata (rv_env_meta) has topic, partition, offset, timestamp_ms, key and
 * key_len, origin_kind "kafka" and origin = the same rd_kafka_message_t *, so
 * a derived element (after a decoder replaced the payload) still reaches its
 * record through rv_kafka_record(env).
 *
 * Threads: everything runs on the graph's loop thread. librdkafka's queues
 * wake the loop through a pipe (rd_kafka_queue_io_event_enable) watched by a
 * uv_poll_t; the loop never blocks on Kafka, except in rv_graph_destroy, which
 * may wait briefly while a consumer that did not close cleanly leaves its
 * group and a producer's unfinished messages are purged.
 */
#ifndef RIVULET_KAFKA_H
#define RIVULET_KAFKA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "rivulet/conf.h"
#include "rivulet/env.h"
#include "rivulet/error.h"
#include "rivulet/graph.h"
#include "rivulet/stage.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ================================================================ configuration */

/* The Kafka stages' configuration table ("kafka.*"; pass-through prefix "kafka."). */
extern const rv_conf_table_t rv_kafka_conf_table;
const rv_conf_table_t *rv_kafka_conf(void);

/* ======================================================================= source */

/* A KafkaSource subscribed to `topics`, a comma-separated list of topic names
 * (a name starting with '^' is a regular expression, as in librdkafka).
 * "kafka.group.id" is required. Emits one element per record; see the file
 * comment for the payload.
 *
 * Delivery: at least once. enable.auto.commit is always false (setting it true
 * is a configuration error). Every element carries an ack; the source commits,
 * per partition, the highest offset below which every record was acked as done
 * (a watermark) — after "kafka.source.commit.batch" newly done records, after
 * "kafka.source.commit.interval", on partition revoke and on a clean stop. A
 * failed record (released with rv_env_release_failed, or dropped by a stage) is
 * never committed, nor anything after it in its partition, so it is redelivered
 * after a restart or a rebalance.
 *
 * Backpressure: records are taken from librdkafka only as far as downstream
 * has room (librdkafka's prefetch is bounded by its queued.min.messages and
 * queued.max.messages.kbytes). When downstream stays full for
 * "kafka.source.pause.after" — a stall — the source pauses its assigned
 * partitions (fetching stops and librdkafka drops what it had prefetched)
 * while it keeps serving the consumer (rebalances, errors, the
 * max.poll.interval.ms clock), so the member stays in its group; when room
 * returns it resumes them from the last record it took.
 *
 * Rebalances: on revoke the source stops emitting records of the revoked
 * partitions, waits (at most "kafka.source.revoke.timeout") until their
 * in-flight records are done, commits their watermarks and only then gives
 * the partitions up; an assignment the group already took away (lost) is given
 * up without a commit. Both the eager and the cooperative-sticky protocols.
 *
 * Stopping: on rv_graph_stop, or when downstream cancels, the source stops
 * emitting, completes its output, waits (at most "kafka.source.close.timeout")
 * for its in-flight records, commits, closes the consumer (leaving the group)
 * and only then finishes; so when the graph's done callback runs, the final
 * commit is durable. On rv_graph_abort it commits what was done and closes at
 * once.
 *
 * Errors: a topic that does not exist fails the stage naming it (unless
 * "kafka.source.unknown.topic" is "wait"); no broker answering within
 * "kafka.connect.timeout" fails it naming bootstrap.servers; a fatal consumer
 * error fails it with librdkafka's reason. Other broker errors are transient:
 * librdkafka retries them and the stream goes on when the broker is back.
 *
 * Ownership: the graph owns the stage; conf is read here and not kept.
 * Returns NULL after recording the error in the graph (bad configuration). */
rv_stage_t *rv_kafka_source(rv_graph_t *g, const rv_conf_t *conf, const char *topics);

/* A partition for rv_kafka_source_assign, and its start offset: an absolute
 * offset, or one of the RV_KAFKA_OFFSET_* values. */
typedef struct rv_kafka_partition {
    const char *topic;
    int32_t partition;
    int64_t offset;
} rv_kafka_partition_t;

#define RV_KAFKA_OFFSET_BEGINNING RD_KAFKA_OFFSET_BEGINNING /* the oldest record */
#define RV_KAFKA_OFFSET_END       RD_KAFKA_OFFSET_END       /* only new records */
#define RV_KAFKA_OFFSET_STORED                                                                     \
    RD_KAFKA_OFFSET_STORED /* the group's commit, else auto.offset.reset */

/* A KafkaSource reading the given partitions without group membership (no
 * rebalances). "kafka.group.id" is still required: it names the group whose
 * offsets are committed. Otherwise as rv_kafka_source. The array is copied.
 * Ownership: as rv_kafka_source. */
rv_stage_t *rv_kafka_source_assign(rv_graph_t *g, const rv_conf_t *conf,
                                   const rv_kafka_partition_t *parts, size_t n);

/* Counters of a source (for tests, dashboards and the benchmark). */
typedef struct rv_kafka_source_stats {
    uint64_t emitted;       /* records pushed downstream */
    uint64_t acked;         /* records acked as done */
    uint64_t failed;        /* records released as failed (never committed) */
    uint64_t dropped;       /* records taken from librdkafka but not emitted (revoked, stopping) */
    uint64_t in_flight;     /* records emitted and not yet acked or failed */
    uint64_t commits;       /* offset commits sent */
    uint64_t commits_ok;    /* offset commits the broker confirmed */
    uint64_t commit_errors; /* offset commits that failed */
    uint64_t pauses;        /* times the partitions were paused for backpressure */
    uint64_t resumes;       /* times they were resumed */
    uint64_t assigned;      /* partitions assigned, over all rebalances */
    uint64_t revoked;       /* partitions revoked (or lost), over all rebalances */
    uint64_t lost;          /* partitions lost (given up without a commit) */
    uint64_t
        queued_max; /* most records seen waiting in librdkafka's queue while downstream was full */
    bool paused;    /* the partitions are paused now */
} rv_kafka_source_stats_t;

/* Fills *out. st must be a KafkaSource. */
void rv_kafka_source_get_stats(const rv_stage_t *st, rv_kafka_source_stats_t *out);

/* The offset this source last committed successfully for topic/partition (the
 * broker confirmed it): the next record a restarted consumer reads. -1 when
 * it committed none. */
int64_t rv_kafka_source_committed(const rv_stage_t *st, const char *topic, int32_t partition);

/* The librdkafka consumer handle, for what rivulet does not wrap (metadata,
 * watermarks, statistics). Do not poll it, close it, destroy it, or change its
 * assignment. Memory: owned by the stage. NULL after a failed construction. */
rd_kafka_t *rv_kafka_source_handle(const rv_stage_t *st);

/* ====================================================== reading a source's records */

/* The Kafka record an element came from: its root envelope's origin when
 * origin_kind is "kafka", else NULL. Works on derived envelopes too.
 * Memory: owned by the root envelope; valid while env is held. */
const rd_kafka_message_t *rv_kafka_record(const rv_env_t *env);

/* The record's value bytes (*len set; NULL with *len 0 for a null value or a
 * non-Kafka element). Memory: as rv_kafka_record. */
const void *rv_kafka_record_value(const rv_env_t *env, size_t *len);

/* The record's key bytes, as rv_kafka_record_value. */
const void *rv_kafka_record_key(const rv_env_t *env, size_t *len);

/* The value of the record's last header named `name`. Returns true and sets
 * *value / *len when found (a null header value gives NULL and 0); false when
 * the element has no such header or is not a Kafka record.
 * Memory: as rv_kafka_record. */
bool rv_kafka_record_header(const rv_env_t *env, const char *name, const void **value, size_t *len);

/* Calls fn for every header of the record, in order; stops early when fn
 * returns false. Returns the number of headers visited. */
size_t rv_kafka_record_headers(const rv_env_t *env,
                               bool (*fn)(const char *name, const void *value, size_t len,
                                          void *opaque),
                               void *opaque);

/* ============================================================== sink and flow */

/* One message to produce. Pointers are borrowed: `value` must stay valid until
 * the message is delivered (point into the element's payload, which the stage
 * holds until then) unless copy_value is set; key, topic and headers are copied
 * when the message is produced. */
typedef struct rv_kafka_out {
    const char *topic; /* NULL: the stage's topic */
    int32_t partition; /* RV_KAFKA_PARTITION_ANY: the partitioner (by key) picks */
    const void *key;
    size_t key_len;
    const void *value;
    size_t value_len;
    int64_t timestamp_ms;              /* 0: now */
    const rd_kafka_headers_t *headers; /* NULL: none; copied */
    bool copy_value;                   /* copy the value when producing */
} rv_kafka_out_t;

#define RV_KAFKA_PARTITION_ANY RD_KAFKA_PARTITION_UA

/* Fills *out (pre-set to zeros and RV_KAFKA_PARTITION_ANY) for the element env.
 * Return RV_OK, or an error (optionally with *errp set): the element fails and
 * the stage's decider decides (stop by default; resume drops it as failed). */
typedef rv_err_t (*rv_kafka_out_fn)(rv_env_t *env, rv_kafka_out_t *out, rv_error_t **errp,
                                    void *opaque);

/* A KafkaSink producing every element to `topic` (may be NULL when fn names
 * each message's topic). fn maps an element to a message; NULL means each
 * payload is an `rv_kafka_out_t *`.
 *
 * Producer: enable.idempotence=true unless configured otherwise; at most
 * "kafka.sink.max.in.flight" messages wait for their delivery report, and the
 * sink pulls no more while that many do. An element is released after success
 * when its delivery succeeded (so a Kafka input record is acked only when the
 * output is durable), as failed when it did not. A failed delivery goes to the
 * decider: by default the stage fails with the broker's reason, naming the
 * topic and partition. A fatal producer error fails the stage with
 * librdkafka's reason. On completion the sink finishes after the last delivery
 * report.
 *
 * Ownership: the graph owns the stage; conf is read here, topic copied. */
rv_stage_t *rv_kafka_sink(rv_graph_t *g, const rv_conf_t *conf, const char *topic,
                          rv_kafka_out_fn fn, void *opaque);

/* What a KafkaFlow emits for each element: a derived envelope whose payload is
 * this (the input element stays held by it, so the input record is acked only
 * when the emitted element is released). Memory: owned by the envelope. */
typedef struct rv_kafka_delivery {
    const char *topic; /* where the message went */
    int32_t partition;
    int64_t offset;
    int64_t timestamp_ms; /* -1 when unknown */
    void *input;          /* the input element's payload, borrowed */
} rv_kafka_delivery_t;

/* A KafkaFlow: a KafkaSink that emits each element after its delivery
 * succeeded (in delivery order), as an rv_kafka_delivery_t. Completes after
 * the last delivery. As rv_kafka_sink otherwise. */
rv_stage_t *rv_kafka_flow(rv_graph_t *g, const rv_conf_t *conf, const char *topic,
                          rv_kafka_out_fn fn, void *opaque);

typedef struct rv_kafka_sink_stats {
    uint64_t produced;      /* messages handed to librdkafka */
    uint64_t delivered;     /* delivery reports with success */
    uint64_t failed;        /* elements that failed (mapping, produce or delivery) */
    uint64_t in_flight;     /* elements held now (produced, not yet delivered or emitted) */
    uint64_t in_flight_max; /* the most ever held at once */
    uint64_t queue_full;    /* times librdkafka's own queue was full */
} rv_kafka_sink_stats_t;

/* Fills *out. st must be a KafkaSink, KafkaFlow or dead-letter sink. */
void rv_kafka_sink_get_stats(const rv_stage_t *st, rv_kafka_sink_stats_t *out);

/* The librdkafka producer handle (as rv_kafka_source_handle). */
rd_kafka_t *rv_kafka_sink_handle(const rv_stage_t *st);

/* ================================================================ dead letters */

/* Header names the dead-letter sink adds (values are text). */
#define RV_KAFKA_DLQ_TOPIC      "rivulet.original.topic"
#define RV_KAFKA_DLQ_PARTITION  "rivulet.original.partition"
#define RV_KAFKA_DLQ_OFFSET     "rivulet.original.offset"
#define RV_KAFKA_DLQ_ERROR      "rivulet.error"      /* the reason's message */
#define RV_KAFKA_DLQ_ERROR_CODE "rivulet.error.code" /* the rv_err_t code, decimal */

/* A dead-letter sink writing to `topic`. It takes rejected elements: derived
 * envelopes whose payload is the rv_error_t * reason (NULL: "rejected") and
 * whose root is the original Kafka record (see the conventions: a stage's
 * reject port emits rv_env_derive(env, err, rv_error_destroy)). It produces
 * the original key and value with the original headers plus the RV_KAFKA_DLQ_*
 * headers, and releases the element after success — acking the original — only
 * once the dead-letter write was delivered. An element that did not come from
 * Kafka is written with an empty key and value and the reason headers.
 * Ownership: as rv_kafka_sink. */
rv_stage_t *rv_kafka_dead_letter(rv_graph_t *g, const rv_conf_t *conf, const char *topic);

/* ================================================================ mock cluster */

typedef struct rv_kafka_mock rv_kafka_mock_t;

/* A new in-process mock cluster with `brokers` brokers (1..9) listening on
 * 127.0.0.1. Point stages (or kcat) at it with rv_kafka_mock_bootstraps().
 * Ownership: the caller owns one reference; drop it with rv_kafka_mock_destroy. */
rv_kafka_mock_t *rv_kafka_mock_new(int brokers, rv_error_t **errp);

/* The process's shared mock cluster (one broker), the one stages use when
 * bootstrap.servers is empty or "mock": created on first use, destroyed when
 * its last reference goes. Thread-safe.
 * Ownership: the caller owns one more reference; drop it with rv_kafka_mock_destroy. */
rv_kafka_mock_t *rv_kafka_mock_shared(rv_error_t **errp);

/* Drops one reference; the cluster goes with the last. NULL is a no-op. */
void rv_kafka_mock_destroy(rv_kafka_mock_t *m);

/* "host:port,..." of the mock's brokers. Memory: owned by m. */
const char *rv_kafka_mock_bootstraps(const rv_kafka_mock_t *m);

/* Creates a topic; an existing topic is not an error (its partitions stay). */
rv_err_t rv_kafka_mock_create_topic(rv_kafka_mock_t *m, const char *topic, int partitions,
                                    rv_error_t **errp);

/* librdkafka's mock cluster, for fault injection (rdkafka_mock.h).
 * Memory: owned by m. */
rd_kafka_mock_cluster_t *rv_kafka_mock_cluster(rv_kafka_mock_t *m);

#ifdef __cplusplus
}
#endif
#endif
