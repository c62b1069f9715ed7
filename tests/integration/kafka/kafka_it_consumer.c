/* A small consumer process for the SIGKILL test (it_kafka_sigkill.c):
 *
 *   kafka_it_consumer BOOTSTRAP TOPIC GROUP OUTFILE RATE
 *
 * consumes TOPIC in GROUP with a KafkaSource, at most RATE records per
 * second, and for every record appends "partition offset\n" to OUTFILE with
 * one write(2) *before* the record is released (so a record is on file
 * before its offset can be committed). SIGTERM stops it gracefully (final
 * commit); SIGKILL is what the test sends to crash it. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rivulet.h"
#include "rivulet/kafka.h"

static int out_fd = -1;

static rv_err_t record_it(rv_env_t *env, rv_error_t **errp, void *opaque)
{
    const rv_meta_t *m = rv_env_meta(env);
    char line[64];
    int n = snprintf(line, sizeof(line), "%d %lld\n", (int)m->partition, (long long)m->offset);
    if (write(out_fd, line, (size_t)n) != n)
        return rv_error_set(errp, RV_ERR_IO, true, "writing the output file");
    return RV_OK;
}

static void on_signal(uv_signal_t *h, int signum)
{
    rv_graph_stop(h->data);
}

static int status = 1;

/* The graph finished (after SIGTERM, or a failure): leave the loop. */
static void on_done(rv_graph_t *g, const rv_error_t *err, void *opaque)
{
    uv_signal_t *sig = opaque;
    if (err) fprintf(stderr, "kafka_it_consumer: %s\n", rv_error_msg(err));
    status = err ? 1 : 0;
    uv_close((uv_handle_t *)sig, NULL);
    uv_stop(rv_graph_loop(g));
}

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: %s BOOTSTRAP TOPIC GROUP OUTFILE RATE\n", argv[0]);
        return 2;
    }
    out_fd = open(argv[4], O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (out_fd < 0) {
        perror(argv[4]);
        return 2;
    }
    uint64_t rate = strtoull(argv[5], NULL, 10);
    uv_loop_t loop;
    uv_loop_init(&loop);
    rv_conf_t *conf = rv_conf_new();
    rv_conf_set(conf, "kafka.bootstrap.servers", argv[1], NULL);
    rv_conf_set(conf, "kafka.group.id", argv[3], NULL);
    rv_conf_set(conf, "kafka.auto.offset.reset", "earliest", NULL);
    /* a killed member must leave the group soon, so the restart gets its
     * partitions without waiting the 45 s default */
    rv_conf_set(conf, "kafka.session.timeout.ms", "6000", NULL);
    rv_conf_set(conf, "kafka.heartbeat.interval.ms", "1000", NULL);
    rv_conf_set(conf, "kafka.source.commit.batch", "500", NULL);
    rv_conf_set(conf, "kafka.source.commit.interval", "200", NULL);
    rv_error_t *err = NULL;
    rv_graph_t *g = rv_graph_new(&loop, NULL, &err);
    rv_stage_t *src = rv_kafka_source(g, conf, argv[2]);
    rv_stage_t *slow =
        rate ? rv_throttle(g, rate / 100 ? rate / 100 : 1, 10, rate / 100 + 1) : NULL;
    if (slow)
        rv_chain(src, slow, rv_for_each_env(g, record_it, NULL), NULL);
    else
        rv_chain(src, rv_for_each_env(g, record_it, NULL), NULL);
    uv_signal_t sig;
    uv_signal_init(&loop, &sig);
    sig.data = g;
    uv_signal_start(&sig, on_signal, SIGTERM);
    if (rv_graph_run(g, on_done, &sig, &err) != RV_OK) {
        fprintf(stderr, "kafka_it_consumer: %s\n", rv_error_msg(err));
        return 1;
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    rv_graph_destroy(g);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    rv_conf_destroy(conf);
    close(out_fd);
    return status;
}
