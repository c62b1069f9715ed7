/* rivulet — CQRS, Event Sourcing and event-logging streams in C.
 *
 * The one header a user includes. Each module also has its own header under
 * rivulet/, for a translation unit that needs only part of the library:
 *   error.h    the one error type
 *   conf.h     key/value configuration checked against tables
 *   env.h      the reference-counted envelope elements travel in
 *   graph.h    building, running and inspecting a pipeline
 *   stage.h    the stage API (for writing your own stages)
 *   stages.h   the built-in stages
 *   clock.h    the injectable clock, timers and backoff
 *   kafka.h    Kafka source, sink, flow, dead letters, the mock cluster (librdkafka)
 *   avro.h     Avro codecs (declarative and generic) and the (de)serializer stages
 *   cql.h      the asynchronous CQL native-protocol client
 *   cassandra.h  Cassandra stages: bind, sink, retry sink, LWT flow, paged queries
 *   cqrs.h     UUIDs and event ids, positions, duplicates, replays
 */
#ifndef RIVULET_H
#define RIVULET_H

#include "rivulet/error.h"
#include "rivulet/conf.h"
#include "rivulet/env.h"
#include "rivulet/graph.h"
#include "rivulet/stage.h"
#include "rivulet/stages.h"
#include "rivulet/clock.h"
#include "rivulet/kafka.h"
#include "rivulet/avro.h"
#include "rivulet/cql.h"
#include "rivulet/cassandra.h"
#include "rivulet/cqrs.h"

#define RIVULET_VERSION "0.1.0"

#endif
