/* Building the command side's graph (see pipeline.h for the picture). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codec.h"
#include "pipeline.h"
#include "rivulet/cassandra.h"

static const rv_conf_def_t cart_defs[] = {
    {"cart.topic", RV_CONF_STRING, "cart-commands", 0, -1, NULL,
     "Kafka topic the commands arrive on."},
    {"cart.dlq.topic", RV_CONF_STRING, "cart-commands-dlq", 0, -1, NULL,
     "Kafka topic for records that cannot be used, with the reason in headers."},
    {"cart.topology", RV_CONF_ENUM, "parallel", 0, -1, "parallel|serial|atomic",
     "parallel: service and event log side by side (the seed's); serial: service, then log; "
     "atomic: state change and event row in one write."},
    {"cart.mode", RV_CONF_ENUM, "duplicates", 0, -1, "duplicates|idempotent",
     "duplicates: a redelivered command runs again and is logged again (compensate later); "
     "idempotent: the cart remembers applied positions and skips a redelivery."},
    {"cart.event.id", RV_CONF_ENUM, "offset", 0, -1, "offset|key|header",
     "Event id: uuid5 of topic/partition/offset, the record key (a UUID), or the event-id header."},
    {"cart.store", RV_CONF_ENUM, "sqlite", 0, -1, "sqlite|cassandra",
     "Where carts and events live: an SQLite file (embedded) or Cassandra."},
    {"cart.sqlite.path", RV_CONF_STRING, "rivulet-cart.db", 0, -1, NULL,
     "The SQLite store's file."},
    {"cart.cassandra.keyspace", RV_CONF_STRING, "rivulet_cart", 0, -1, NULL,
     "Cassandra keyspace of the carts and the event log (created when missing)."},
    {"cart.cassandra.replication", RV_CONF_STRING,
     "{'class': 'SimpleStrategy', 'replication_factor': 1}", 0, -1, NULL,
     "Replication of the keyspace when rivulet creates it."},
    {"cart.cassandra.bucket", RV_CONF_MS, "1d", 60000, 3.2e10, NULL,
     "Width of the event log's time buckets: a cart's events of one bucket are one partition."},
    {"cart.lanes", RV_CONF_INT, "16", 1, 4096, NULL,
     "Service lanes: carts apply in parallel across lanes, one at a time within a cart."},
    {"cart.log.parallelism", RV_CONF_INT, "32", 1, 65536, NULL, "Event-log writes in flight."},
    {"cart.retry.min", RV_CONF_MS, "10", 0, 3600000, NULL,
     "First retry delay of a service or log call."},
    {"cart.retry.max", RV_CONF_MS, "5000", 0, 3600000, NULL, "Longest retry delay."},
    {"cart.retry.factor", RV_CONF_DOUBLE, "0.2", 0, 10, NULL,
     "Random factor added to retry delays."},
    {"cart.retry.max.retries", RV_CONF_INT, "-1", -1, 1e9, NULL,
     "Retries of one call before the stream fails (-1: no limit)."},
    {"cart.progress.interval", RV_CONF_MS, "1000", 0, 3600000, NULL,
     "How often `run` prints its progress line (0: never)."},
};

const rv_conf_table_t cart_conf_table = {
    .component = "cart",
    .title = "The shopping-cart service (cart.*)",
    .defs = cart_defs,
    .ndefs = RV_CONF_NDEFS(cart_defs),
};

struct cart_pipeline {
    rv_graph_t *g;
    cart_store_t *store;
    rv_avro_codec_t *codec;
    cart_topology_t topology;
    cart_mode_t mode;
    rv_event_id_policy_t id_policy;
    int lanes;
    rv_stage_t *source, *dlq;
    rv_stage_t *cass_stages[4100]; /* Cassandra stages, for their counters */
    int n_cass;
    uint64_t async_retries; /* retries of the rv_retry lanes and log */
    rv_stage_t *log_sink;   /* the CassandraSink of the event log, when there is one */
    cart_stats_t stats;
    void (*observer)(cart_pipeline_t *, void *);
    void *observer_opaque;
};

rv_err_t cart_topology_parse(const char *s, cart_topology_t *out)
{
    static const char *names[] = {"parallel", "serial", "atomic"};
    for (int i = 0; i < 3; i++)
        if (s && strcmp(s, names[i]) == 0) {
            *out = (cart_topology_t)i;
            return RV_OK;
        }
    return RV_ERR_CONFIG;
}

const char *cart_topology_name(cart_topology_t t)
{
    return t == CART_PARALLEL ? "parallel" : t == CART_SERIAL ? "serial" : "atomic";
}

/* ------------------------------------------------------ the validate stage */

/* Decoded wire command -> cart_job_t, or a reject on port 1 naming the
 * problem. One element in, one element out, so it moves a batch per run. */
static void validate_on_input(rv_stage_t *st)
{
    cart_pipeline_t *p = rv_stage_state(st);
    while (rv_in_avail(st, 0) > 0) {
        rv_env_t *env = rv_in_peek(st, 0);
        const cart_wire_cmd_t *w = rv_env_payload(env);
        cart_job_t *job = malloc(sizeof(*job));
        rv_error_t *err = NULL;
        if (!job) {
            rv_stage_fail(st, rv_error_new(RV_ERR_NOMEM, true, "out of memory"));
            return;
        }
        const rv_meta_t *m = rv_env_meta(env);
        rv_err_t rc = cart_cmd_from_wire(w, &job->cmd, &err);
        if (rc == RV_OK) {
            const void *hv = NULL;
            size_t hl = 0;
            if (p->id_policy == RV_EVENT_ID_HEADER)
                rv_kafka_record_header(env, "event-id", &hv, &hl);
            rc = rv_event_id(p->id_policy, m, hv, hl, &job->event_id, &err);
        }
        int port = rc == RV_OK ? 0 : 1;
        if (rv_out_room(st, port) == 0 && !rv_out_closed(st, port)) {
            free(job);
            rv_error_destroy(err);
            return; /* wait for room on the port this element needs */
        }
        env = rv_in_pop(st, 0);
        rv_env_t *out;
        if (rc == RV_OK) {
            job->partition = m->partition;
            job->offset = m->offset;
            /* A record without a timestamp (only very old producers send
             * none) is stamped with the time it was read. */
            job->ts_ms = m->timestamp_ms >= 0 ? m->timestamp_ms : (int64_t)cart_wall_ms();
            out = rv_env_derive(env, job, free);
        } else {
            free(job);
            out = rv_env_derive(env, err, (rv_free_fn)rv_error_destroy);
        }
        if (!out) {
            rv_env_release_failed(env, RV_ERR_NOMEM); /* not processed: never acked */
            rv_stage_fail(st, rv_error_new(RV_ERR_NOMEM, true, "out of memory"));
            return;
        }
        rv_env_release(env);
        rv_out_push(st, port, out);
    }
}

static const rv_stage_ops_t validate_ops = {.kind = "cart-validate", .on_input = validate_on_input};

/* ------------------------------------------------------ service and log calls */

typedef struct call {
    rv_async_t *op;
    cart_pipeline_t *p;
    bool log;
} call_t;

static void call_done(rv_error_t *err, cart_outcome_t outcome, void *opaque)
{
    call_t *c = opaque;
    cart_pipeline_t *p = c->p;
    rv_async_t *op = c->op;
    bool log = c->log;
    free(c);
    if (err) {
        if (rv_error_retriable(err)) p->async_retries++;
    } else if (log) {
        p->stats.logged++;
    } else {
        if (outcome == CART_APPLIED)
            p->stats.applied++;
        else if (outcome == CART_REJECTED)
            p->stats.rejected++;
        else
            p->stats.skipped++;
        if (p->topology == CART_ATOMIC && outcome == CART_APPLIED) p->stats.logged++;
        if (p->observer) p->observer(p, p->observer_opaque);
    }
    rv_async_done(op, rv_env_payload(rv_async_env(op)), err);
}

static void start_call(rv_async_t *op, void *in, cart_pipeline_t *p, int what)
{
    call_t *c = malloc(sizeof(*c));
    if (!c) {
        rv_async_done(op, NULL, rv_error_new(RV_ERR_NOMEM, true, "out of memory"));
        return;
    }
    *c = (call_t){op, p, what == 1};
    const cart_job_t *job = in;
    cart_store_t *s = p->store;
    if (what == 0)
        s->ops->apply(s, job, p->mode, call_done, c);
    else if (what == 1)
        s->ops->log_event(s, job, p->mode, call_done, c);
    else
        s->ops->apply_and_log(s, job, p->mode, call_done, c);
}

static void service_call(rv_async_t *op, void *in, void *opaque)
{
    start_call(op, in, opaque, 0);
}

static void log_call(rv_async_t *op, void *in, void *opaque)
{
    start_call(op, in, opaque, 1);
}

static void atomic_call(rv_async_t *op, void *in, void *opaque)
{
    start_call(op, in, opaque, 2);
}

/* ------------------------------------ the same calls as Cassandra stages */

/* The outcome of a service command run by a CassandraRetrySink (the store
 * ends the command's attempt right after). */
static void svc_done(rv_error_t *err, cart_outcome_t outcome, void *opaque)
{
    cart_pipeline_t *p = opaque;
    if (!err) {
        if (outcome == CART_APPLIED)
            p->stats.applied++;
        else if (outcome == CART_REJECTED)
            p->stats.rejected++;
        else
            p->stats.skipped++;
        if (p->topology == CART_ATOMIC && outcome == CART_APPLIED) p->stats.logged++;
        if (p->observer) p->observer(p, p->observer_opaque);
    }
    rv_error_destroy(err);
}

/* A CassandraRetrySink command: read the cart, apply, conditional write (and,
 * in the atomic topology, the event row in the same batch). A lost race ends
 * the attempt with RV_ERR_NOT_APPLIED and the stage retries the same element. */
static void svc_cmd(rv_cassandra_cmd_t *cmd, rv_env_t *env, void *opaque)
{
    cart_pipeline_t *p = opaque;
    cart_store_cassandra_service(p->store, cmd, rv_env_payload(env), p->mode,
                                 p->topology == CART_ATOMIC, svc_done, p);
}

/* CassandraBind: a job becomes its bound event-row INSERT. */
static rv_err_t bind_event(rv_cql_stmt_t *stmt, rv_env_t *env, rv_error_t **errp, void *opaque)
{
    cart_pipeline_t *p = opaque;
    return cart_store_cassandra_bind_event(p->store, stmt, rv_env_payload(env), p->mode);
}

static int lane_of(void *in, void *opaque)
{
    cart_pipeline_t *p = opaque;
    const cart_job_t *job = in;
    uint32_t h = 2166136261u;
    for (int i = 0; i < 16; i++)
        h = (h ^ job->cmd.cart_id.b[i]) * 16777619u;
    return (int)(h % (uint32_t)p->lanes);
}

/* partition(lanes) -> lanes x retry(1) -> merge(lanes). Returns the merge
 * (whose output the caller links) and sets *in to the partition. */
static rv_stage_t *lanes(cart_pipeline_t *p, rv_async_fn fn, const rv_backoff_t *b, rv_stage_t **in)
{
    rv_graph_t *g = p->g;
    rv_stage_t *part = rv_stage_set_name(rv_partition(g, p->lanes, lane_of, p), "cart-lanes");
    rv_stage_t *merge = rv_stage_set_name(rv_merge(g, p->lanes, false), "cart-lanes-merge");
    for (int i = 0; i < p->lanes; i++) {
        char name[32];
        snprintf(name, sizeof(name), "service-lane-%d", i);
        rv_stage_t *r = rv_stage_set_name(rv_retry(g, 1, true, fn, NULL, b, p), name);
        rv_link(part, r);
        rv_link(r, merge);
    }
    *in = part;
    return merge;
}

/* partition(lanes) -> lanes x CassandraRetrySink(1): one command of a cart at
 * a time, carts in parallel. */
static void cassandra_lanes(cart_pipeline_t *p, rv_cql_session_t *session, const rv_backoff_t *b,
                            rv_stage_t **in)
{
    rv_graph_t *g = p->g;
    rv_stage_t *part = rv_stage_set_name(rv_partition(g, p->lanes, lane_of, p), "cart-lanes");
    for (int i = 0; i < p->lanes; i++) {
        char name[40];
        snprintf(name, sizeof(name), "cassandra-retry-sink-%d", i);
        rv_stage_t *r =
            rv_stage_set_name(rv_cassandra_retry_sink(g, session, 1, svc_cmd, b, p), name);
        if (p->n_cass < (int)(sizeof(p->cass_stages) / sizeof(p->cass_stages[0])))
            p->cass_stages[p->n_cass++] = r;
        rv_link(part, r);
    }
    *in = part;
}

/* map -> CassandraBind -> CassandraSink: the event log written by the
 * library's own stages. Returns the bind (whose input the caller links). */
static rv_stage_t *cassandra_log(cart_pipeline_t *p, rv_cql_session_t *session,
                                 const rv_backoff_t *b, int in_flight)
{
    rv_graph_t *g = p->g;
    rv_stage_t *bind = rv_stage_set_name(
        rv_cassandra_bind(g, session, cart_store_cassandra_event_query(p->store), bind_event, p),
        "cassandra-bind");
    rv_stage_t *sink =
        rv_stage_set_name(rv_cassandra_sink(g, session, in_flight), "cassandra-sink");
    if (sink) rv_cassandra_set_backoff(sink, b);
    rv_link(bind, sink);
    p->log_sink = sink;
    if (sink && p->n_cass < (int)(sizeof(p->cass_stages) / sizeof(p->cass_stages[0])))
        p->cass_stages[p->n_cass++] = sink;
    return bind;
}

static const void *kafka_value(void *payload, size_t *len, void *opaque)
{
    const rd_kafka_message_t *m = payload;
    *len = m->len;
    return m->payload;
}

cart_pipeline_t *cart_pipeline_new(uv_loop_t *loop, const rv_conf_t *conf, cart_store_t *store,
                                   rv_error_t **errp)
{
    const rv_conf_table_t *tables[] = {&cart_conf_table, rv_kafka_conf(), rv_graph_conf(),
                                       rv_avro_conf()};
    if (rv_conf_check(conf, tables, 4, true, errp) != RV_OK) return NULL;
    const rv_conf_table_t *t = &cart_conf_table;
    cart_pipeline_t *p = calloc(1, sizeof(*p));
    if (!p) {
        rv_error_set(errp, RV_ERR_NOMEM, true, "out of memory");
        return NULL;
    }
    p->store = store;
    cart_topology_parse(rv_conf_str(conf, t, "cart.topology"), &p->topology);
    p->mode = strcmp(rv_conf_str(conf, t, "cart.mode"), "idempotent") == 0 ? CART_MODE_IDEMPOTENT
                                                                           : CART_MODE_DUPLICATES;
    rv_event_id_policy_parse(rv_conf_str(conf, t, "cart.event.id"), &p->id_policy, NULL);
    p->lanes = (int)rv_conf_int(conf, t, "cart.lanes");
    rv_avro_opts_t aopts;
    rv_avro_opts_from_conf(conf, &aopts);
    p->codec = cart_codec_new(&aopts, errp);
    if (!p->codec) {
        free(p);
        return NULL;
    }
    p->g = rv_graph_new(loop, conf, errp);
    if (!p->g) {
        rv_avro_codec_destroy(p->codec);
        free(p);
        return NULL;
    }
    rv_graph_t *g = p->g;
    rv_backoff_t backoff = {
        .min_ms = (uint64_t)rv_conf_ms(conf, t, "cart.retry.min"),
        .max_ms = (uint64_t)rv_conf_ms(conf, t, "cart.retry.max"),
        .random_factor = rv_conf_double(conf, t, "cart.retry.factor"),
        .max_retries = (int)rv_conf_int(conf, t, "cart.retry.max.retries"),
    };
    const char *topic = rv_conf_str(conf, t, "cart.topic");

    p->source = rv_stage_set_name(rv_kafka_source(g, conf, topic), "kafka-source");
    rv_avro_deser_opts_t dopts = {.get = kafka_value, .dead_letter = true};
    rv_stage_t *decode =
        rv_stage_set_name(rv_avro_deserializer(g, p->codec, &dopts), "avro-decode");
    rv_stage_t *validate =
        rv_stage_set_name(rv_stage_new(g, &validate_ops, p, 1, 2), "cart-validate");
    rv_stage_t *rejects = rv_stage_set_name(rv_merge(g, 2, false), "rejects");
    rv_stage_t *dlq = rv_stage_set_name(
        rv_kafka_dead_letter(g, conf, rv_conf_str(conf, t, "cart.dlq.topic")), "dead-letters");
    rv_link(p->source, decode);
    rv_link_ports(decode, 0, validate, 0, 0);
    rv_link_ports(decode, 1, rejects, 0, 0);
    rv_link_ports(validate, 1, rejects, 1, 0);
    rv_link(rejects, dlq);
    p->dlq = dlq;

    rv_stage_t *in, *out;
    int log_par = (int)rv_conf_int(conf, t, "cart.log.parallelism");
    rv_cql_session_t *session = cart_store_cassandra_session(store);
    if (session) {
        /* Cassandra: the service lanes are CassandraRetrySinks, the event log
         * is CassandraBind -> CassandraSink (serial: the service must pass its
         * elements on, so its lanes are retrying async stages). */
        switch (p->topology) {
        case CART_PARALLEL: {
            rv_stage_t *fan = rv_stage_set_name(rv_broadcast(g, 2, true), "fan-out");
            rv_link_ports(validate, 0, fan, 0, 0);
            cassandra_lanes(p, session, &backoff, &in);
            rv_link(fan, in);
            rv_link(fan, cassandra_log(p, session, &backoff, log_par));
            break;
        }
        case CART_SERIAL:
            out = lanes(p, service_call, &backoff, &in);
            rv_link_ports(validate, 0, in, 0, 0);
            rv_link(out, cassandra_log(p, session, &backoff, log_par));
            break;
        default:
            cassandra_lanes(p, session, &backoff, &in);
            rv_link_ports(validate, 0, in, 0, 0);
            break;
        }
        return p;
    }
    switch (p->topology) {
    case CART_PARALLEL: {
        rv_stage_t *fan = rv_stage_set_name(rv_broadcast(g, 2, true), "fan-out");
        rv_link_ports(validate, 0, fan, 0, 0);
        out = lanes(p, service_call, &backoff, &in);
        rv_link(fan, in);
        rv_link(out, rv_stage_set_name(rv_ignore(g), "service-done"));
        rv_stage_t *log = rv_stage_set_name(
            rv_retry(g, log_par, false, log_call, NULL, &backoff, p), "event-log");
        rv_link(fan, log);
        rv_link(log, rv_stage_set_name(rv_ignore(g), "log-done"));
        break;
    }
    case CART_SERIAL: {
        out = lanes(p, service_call, &backoff, &in);
        rv_link_ports(validate, 0, in, 0, 0);
        rv_stage_t *log =
            rv_stage_set_name(rv_retry(g, log_par, true, log_call, NULL, &backoff, p), "event-log");
        rv_link(out, log);
        rv_link(log, rv_stage_set_name(rv_ignore(g), "done"));
        break;
    }
    default: {
        out = lanes(p, atomic_call, &backoff, &in);
        rv_link_ports(validate, 0, in, 0, 0);
        rv_link(out, rv_stage_set_name(rv_ignore(g), "done"));
        break;
    }
    }
    return p;
}

void cart_pipeline_destroy(cart_pipeline_t *p)
{
    if (!p) return;
    rv_graph_destroy(p->g);
    rv_avro_codec_destroy(p->codec);
    free(p);
}

uint64_t cart_pipeline_commands_done(const cart_pipeline_t *p)
{
    return p->stats.applied + p->stats.rejected + p->stats.skipped;
}

void cart_pipeline_set_observer(cart_pipeline_t *p, void (*fn)(cart_pipeline_t *, void *),
                                void *opaque)
{
    p->observer = fn;
    p->observer_opaque = opaque;
}

rv_graph_t *cart_pipeline_graph(cart_pipeline_t *p)
{
    return p->g;
}

rv_stage_t *cart_pipeline_source(cart_pipeline_t *p)
{
    return p->source;
}

const cart_stats_t *cart_pipeline_stats(cart_pipeline_t *p)
{
    p->stats.retries = p->async_retries;
    if (p->n_cass > 0) {
        uint64_t retries = p->async_retries;
        for (int i = 0; i < p->n_cass; i++) {
            rv_cassandra_stats_t cs;
            rv_cassandra_get_stats(p->cass_stages[i], &cs);
            retries += cs.retries;
        }
        p->stats.retries = retries;
        if (p->log_sink) {
            rv_cassandra_stats_t cs;
            rv_cassandra_get_stats(p->log_sink, &cs);
            p->stats.logged = cs.succeeded;
        }
    }
    if (p->dlq) {
        rv_kafka_sink_stats_t ks;
        rv_kafka_sink_get_stats(p->dlq, &ks);
        p->stats.dead_letters = ks.delivered;
    }
    return &p->stats;
}

cart_topology_t cart_pipeline_topology(const cart_pipeline_t *p)
{
    return p->topology;
}

cart_mode_t cart_pipeline_mode(const cart_pipeline_t *p)
{
    return p->mode;
}
