/* The command side: the graph that takes cart commands from Kafka and applies
 * them, in one of three topologies:
 *
 *   parallel  source -> decode -> validate -> broadcast -+-> service (lanes) ---> done
 *             (the seed's)                                +-> event log ---------> done
 *   serial    source -> decode -> validate -> service (lanes) -> event log -> done
 *   atomic    source -> decode -> validate -> service+log in one write (lanes) -> done
 *
 * decode and validate send what they cannot use (undecodable bytes, unknown
 * actions, bad ids, a missing count) to the dead-letter topic with the reason;
 * the record is acked once the dead letter is durable. A record's Kafka offset
 * is committed only when every branch has finished with it (the ack rule).
 *
 * "Lanes": commands of one cart must apply one at a time and in order, while
 * different carts may go in parallel. The service stage is a partition by cart
 * id into N lanes, each a retrying async stage with one call in flight,
 * merged again: a cart always takes the same lane.
 */
#ifndef RV_CART_PIPELINE_H
#define RV_CART_PIPELINE_H

#include "rivulet.h"
#include "rivulet/kafka.h"
#include "store.h"

typedef enum cart_topology { CART_PARALLEL = 0, CART_SERIAL = 1, CART_ATOMIC = 2 } cart_topology_t;

/* The "cart.*" configuration table of the application. */
extern const rv_conf_table_t cart_conf_table;

typedef struct cart_stats {
    uint64_t applied, rejected, skipped; /* service outcomes */
    uint64_t logged;                     /* event rows written */
    uint64_t retries;                    /* service or log calls retried */
    uint64_t dead_letters;               /* records sent to the dead-letter topic */
} cart_stats_t;

typedef struct cart_pipeline cart_pipeline_t;

/* Builds the graph on loop from conf (checked against every table it uses).
 * The store is borrowed and must outlive the pipeline. Ownership: the caller
 * owns the pipeline (cart_pipeline_destroy). */
cart_pipeline_t *cart_pipeline_new(uv_loop_t *loop, const rv_conf_t *conf, cart_store_t *store,
                                   rv_error_t **errp);
void cart_pipeline_destroy(cart_pipeline_t *p);

rv_graph_t *cart_pipeline_graph(cart_pipeline_t *p);
rv_stage_t *cart_pipeline_source(cart_pipeline_t *p);
const cart_stats_t *cart_pipeline_stats(cart_pipeline_t *p);
cart_topology_t cart_pipeline_topology(const cart_pipeline_t *p);
cart_mode_t cart_pipeline_mode(const cart_pipeline_t *p);

/* Commands the service finished (applied + rejected + skipped): cheap, unlike
 * cart_pipeline_stats, which also reads every Cassandra stage's counters. */
uint64_t cart_pipeline_commands_done(const cart_pipeline_t *p);

/* Calls fn after every service outcome (for progress and for --crash-after,
 * which must stop at an exact count). */
void cart_pipeline_set_observer(cart_pipeline_t *p, void (*fn)(cart_pipeline_t *p, void *opaque),
                                void *opaque);

rv_err_t cart_topology_parse(const char *s, cart_topology_t *out);
const char *cart_topology_name(cart_topology_t t);

#endif
