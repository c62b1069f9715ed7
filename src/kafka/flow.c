/* KafkaFlow: a KafkaSink with an output. Each element is emitted after its
 * delivery succeeded, as a derived element whose payload (rv_kafka_delivery_t)
 * says where the message landed; the input element stays held by it, so a
 * consume -> transform -> produce stream acks its input only after the output
 * is durable and whatever follows the flow is done. The producer logic is
 * shared with KafkaSink (producer.c). */
#include "kafka/internal.h"

rv_stage_t *rv_kafka_flow(rv_graph_t *g, const rv_conf_t *conf, const char *topic,
                          rv_kafka_out_fn fn, void *opaque)
{
    return rv__kafka_producer_stage(g, conf, topic, fn, opaque, NULL, true, "kafka-flow");
}
