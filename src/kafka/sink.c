/* KafkaSink: elements out to a Kafka topic; each is released only after its
 * delivery report, so an input record is acked only when its output is
 * durable. The producer logic is shared with KafkaFlow (producer.c). */
#include "kafka/internal.h"

rv_stage_t *rv_kafka_sink(rv_graph_t *g, const rv_conf_t *conf, const char *topic,
                          rv_kafka_out_fn fn, void *opaque)
{
    return rv__kafka_producer_stage(g, conf, topic, fn, opaque, NULL, false, "kafka-sink");
}
