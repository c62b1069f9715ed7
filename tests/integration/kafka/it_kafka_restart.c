/* Integration (real Kafka broker, managed by tools/services/services): the
 * broker is stopped and started again while a consume -> produce stream
 * runs. The stream does not fail; when the broker is back it resumes, every
 * input record is committed and every one reached the output topic.
 *
 * This test restarts the shared broker: it runs alone (RUN_SERIAL) and takes
 * the broker's restart time (about 5 s quiet, up to 20 s on a loaded box). */
#include "kafka_it_util.h"

#ifndef RV_SERVICES_SCRIPT
#error "RV_SERVICES_SCRIPT must name tools/services/services"
#endif

/* The output message: the input's key and value. */
static rv_err_t copy_record(rv_env_t *env, rv_kafka_out_t *out, rv_error_t **errp, void *opaque)
{
    const rd_kafka_message_t *m = rv_kafka_record(env);
    out->key = m->key;
    out->key_len = m->key_len;
    out->value = m->payload;
    out->value_len = m->len;
    return RV_OK;
}

typedef struct {
    uv_process_t proc;
    bool done;
    int64_t status;
    double took;
    uint64_t t0;
} script_t;

static void script_exit(uv_process_t *p, int64_t status, int sig)
{
    script_t *s = p->data;
    s->done = true;
    s->status = status;
    s->took = (double)(uv_hrtime() - s->t0) / 1e9;
    uv_close((uv_handle_t *)p, NULL);
}

/* Runs `services <verb> kafka` without blocking the loop. */
static bool script_run(uv_loop_t *loop, script_t *s, const char *verb)
{
    char *args[] = {(char *)RV_SERVICES_SCRIPT, (char *)verb, (char *)"kafka", NULL};
    uv_stdio_container_t io[3] = {{.flags = UV_IGNORE},
                                  {.flags = UV_INHERIT_FD, .data.fd = 2},
                                  {.flags = UV_INHERIT_FD, .data.fd = 2}};
    uv_process_options_t o = {.exit_cb = script_exit,
                              .file = RV_SERVICES_SCRIPT,
                              .args = args,
                              .stdio_count = 3,
                              .stdio = io};
    memset(s, 0, sizeof(*s));
    s->proc.data = s;
    s->t0 = uv_hrtime();
    int rc = uv_spawn(loop, &s->proc, &o);
    if (rc) fprintf(stderr, "  spawning %s: %s\n", RV_SERVICES_SCRIPT, uv_strerror(rc));
    return rc == 0;
}

static bool script_done(void *a)
{
    return ((script_t *)a)->done;
}

typedef struct {
    rv_stage_t *src;
    uint64_t want;
    const char *topic;
    const int64_t *high; /* for committed_all */
} acked_arg_t;

static bool acked(void *a)
{
    acked_arg_t *x = a;
    rv_kafka_source_stats_t s;
    rv_kafka_source_get_stats(x->src, &s);
    return s.acked >= x->want;
}

/* The source committed the end of both partitions (acks alone would count
 * redelivered records twice). */
static bool committed_all(void *a)
{
    acked_arg_t *x = a;
    for (int p = 0; p < 2; p++)
        if (rv_kafka_source_committed(x->src, x->topic, p) != x->high[p]) return false;
    return true;
}

static void test_broker_restart_mid_stream(void)
{
    IT_REQUIRE_BROKER();
    const int n = 20000;
    char in[128], out[128], group[160];
    kt_topic(in, sizeof(in), "rs-in");
    kt_topic(out, sizeof(out), "rs-out");
    snprintf(group, sizeof(group), "g-%s", in);
    REQUIRE(it_create_topic(in, 2));
    REQUIRE(it_create_topic(out, 2));
    REQUIRE(kt_produce(it_bootstrap(), in, 0, n, -1) == 0);
    int64_t high_in[2], high_out[2];
    REQUIRE(it_high_watermarks(in, 2, high_in));

    uv_loop_t loop;
    uv_loop_init(&loop);
    rv_conf_t *conf = it_conf(group);
    kt_set(conf, "kafka.session.timeout.ms", "30000");
    kt_set(conf, "kafka.reconnect.backoff.max.ms", "500");
    rv_graph_t *g = rv_graph_new(&loop, NULL, NULL);
    rv_stage_t *src = rv_kafka_source(g, conf, in);
    rv_stage_t *flow = rv_kafka_flow(g, conf, out, copy_record, NULL);
    /* 2 000 records per second: the broker goes away a few seconds in */
    rv_chain(src, rv_throttle(g, 20, 10, 20), flow, rv_ignore(g), NULL);
    kt_result_t r = {0};
    REQUIRE(kt_start(g, &r));
    acked_arg_t a = {src, 3000, NULL, NULL};
    CHECK(kt_run_until(&loop, acked, &a, 60));

    script_t s;
    REQUIRE(script_run(&loop, &s, "stop"));
    CHECK(kt_run_until(&loop, script_done, &s, 120));
    CHECK_EQ(s.status, 0);
    rv_kafka_source_stats_t ss;
    rv_kafka_source_get_stats(src, &ss);
    printf("  broker stopped in %.1f s at %" PRIu64 " records acked\n", s.took, ss.acked);
    /* The stream keeps running without a broker for a while. */
    kt_run_until(&loop, kt_is_done, &r, 3);
    CHECK(!r.done);
    REQUIRE(script_run(&loop, &s, "start"));
    CHECK(kt_run_until(&loop, script_done, &s, 180));
    CHECK_EQ(s.status, 0);
    rv_kafka_source_get_stats(src, &ss);
    printf("  broker started again in %.1f s; %" PRIu64 " acked by then\n", s.took, ss.acked);
    CHECK(!r.done);
    uint64_t before = ss.acked;
    a.topic = in;
    a.high = high_in;
    double t0 = uv_hrtime() / 1e9;
    CHECK(kt_run_until(&loop, committed_all, &a, 180));
    rv_kafka_source_get_stats(src, &ss);
    printf("  resumed: the end of the input committed %.1f s after the restart (%" PRIu64
           " acks after it, %" PRIu64 " revoked, %" PRIu64 " lost, %" PRIu64 " pauses)\n",
           uv_hrtime() / 1e9 - t0, ss.acked - before, ss.revoked, ss.lost, ss.pauses);
    rv_graph_stop(g);
    CHECK(kt_run_until(&loop, kt_is_done, &r, 60));
    CHECK_EQ(r.code, RV_OK);
    rv_kafka_sink_stats_t fs;
    rv_kafka_sink_get_stats(flow, &fs);
    CHECK(fs.delivered >= (uint64_t)n);
    CHECK_EQ(fs.failed, 0);
    REQUIRE(it_high_watermarks(out, 2, high_out));
    for (int p = 0; p < 2; p++)
        CHECK_EQ(kt_committed(it_bootstrap(), group, in, p), high_in[p]);
    printf("  output holds %lld records for %d inputs\n", (long long)(high_out[0] + high_out[1]),
           n);
    CHECK(high_out[0] + high_out[1] >= n);
    uint8_t *seen = calloc((size_t)n, 1);
    int got = it_read_keys(out, 2, (int)(high_out[0] + high_out[1]), n, seen);
    int missing = 0, twice = 0;
    for (int i = 0; i < n; i++) {
        missing += seen[i] == 0;
        twice += seen[i] > 1;
    }
    printf("  read back %d: %d keys missing, %d written more than once\n", got, missing, twice);
    CHECK_EQ(missing, 0);
    free(seen);
    kt_destroy(g);
    CHECK_EQ(uv_loop_close(&loop), 0);
    rv_conf_destroy(conf);
}

RV_TEST_MAIN(RV_TEST_T(test_broker_restart_mid_stream, 600))
