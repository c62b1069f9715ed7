/* rivulet-cart publish: JSON lines in, Avro ShoppingCartCmd records out, keyed
 * by cart id so that one cart's commands stay in one partition, in order. The
 * publisher is itself a rivulet graph: a line source, an encoding map and a
 * KafkaSink. A line that is not a command is reported with its number and not
 * published; the exit code then says so. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "codec.h"

/* A command line is a few hundred bytes; a longer one is an error, and it is
 * skipped without ever being held whole in memory. */
#define PUBLISH_MAX_LINE 4096

typedef struct pub {
    FILE *in;
    char line[PUBLISH_MAX_LINE + 2];
    long lineno, published, bad;
    rv_avro_codec_t *codec;
    bool done;
    rv_error_t *status;
} pub_t;

typedef struct out_msg {
    rv_kafka_out_t out;
    rv_avro_buf_t buf;
    char key[80];
} out_msg_t;

static void out_msg_free(void *p)
{
    out_msg_t *m = p;
    rv_avro_buf_free(&m->buf);
    free(m);
}

/* One published message per good line; bad lines are reported and skipped. */
static int next_line(void **out, rv_free_fn *out_free, rv_error_t **errp, void *opaque)
{
    pub_t *p = opaque;
    for (;;) {
        if (!fgets(p->line, sizeof(p->line), p->in)) return 0;
        p->lineno++;
        size_t n = strlen(p->line);
        if (n > 0 && p->line[n - 1] != '\n' && !feof(p->in)) {
            int c;
            while ((c = fgetc(p->in)) != EOF && c != '\n')
                ; /* the rest of an over-long line */
            fprintf(stderr, "rivulet-cart: line %ld: longer than %d bytes\n", p->lineno,
                    PUBLISH_MAX_LINE);
            p->bad++;
            continue;
        }
        while (n > 0 && (p->line[n - 1] == '\n' || p->line[n - 1] == '\r'))
            p->line[--n] = '\0';
        if (n == 0) continue;
        cart_wire_buf_t b;
        rv_error_t *err = NULL;
        out_msg_t *m = calloc(1, sizeof(*m));
        if (!m) return RV_ERR_NOMEM;
        if (cart_wire_from_json(p->line, &b, &err) != RV_OK ||
            rv_avro_encode(p->codec, &b.w, &m->buf, &err) != RV_OK) {
            fprintf(stderr, "rivulet-cart: line %ld: %s\n", p->lineno, rv_error_msg(err));
            rv_error_destroy(err);
            out_msg_free(m);
            p->bad++;
            continue;
        }
        snprintf(m->key, sizeof(m->key), "%s", b.cart_id);
        m->out.partition = RV_KAFKA_PARTITION_ANY;
        m->out.key = m->key;
        m->out.key_len = strlen(m->key);
        m->out.value = m->buf.data;
        m->out.value_len = m->buf.len;
        *out = m;
        *out_free = out_msg_free;
        p->published++;
        return 1;
    }
}

static void on_done(rv_graph_t *g, const rv_error_t *status, void *opaque)
{
    pub_t *p = opaque;
    p->status = rv_error_copy(status);
    p->done = true;
}

int app_publish(app_t *a)
{
    pub_t p = {.in = stdin};
    if (a->file && !(p.in = fopen(a->file, "r"))) {
        fprintf(stderr, "rivulet-cart: cannot open %s: %s\n", a->file, strerror(errno));
        return APP_USAGE;
    }
    rv_error_t *err = NULL;
    rv_avro_opts_t aopts;
    rv_avro_opts_from_conf(a->conf, &aopts);
    p.codec = cart_codec_new(&aopts, &err);
    if (!p.codec) return app_fail(APP_FAILED, "codec", err);
    uv_loop_t loop;
    uv_loop_init(&loop);
    rv_graph_t *g = rv_graph_new(&loop, a->conf, &err);
    if (!g) {
        uv_loop_close(&loop);
        rv_avro_codec_destroy(p.codec);
        if (p.in != stdin) fclose(p.in);
        return app_fail(APP_USAGE, NULL, err);
    }
    rv_chain(
        rv_source_gen(g, next_line, &p),
        rv_kafka_sink(g, a->conf, rv_conf_str(a->conf, &cart_conf_table, "cart.topic"), NULL, NULL),
        NULL);
    int rc = APP_OK;
    if (rv_graph_run(g, on_done, &p, &err) != RV_OK) {
        rc = app_fail(APP_FAILED, "publish", err);
    } else {
        app_wait(&loop, &p.done);
        if (p.status) rc = app_fail(APP_FAILED, "publish", p.status);
    }
    rv_graph_destroy(g);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    rv_avro_codec_destroy(p.codec);
    if (p.in != stdin) fclose(p.in);
    if (!a->quiet)
        fprintf(stderr, "rivulet-cart: published %ld commands, %ld bad lines\n", p.published,
                p.bad);
    return rc != APP_OK ? rc : p.bad ? APP_USAGE : APP_OK;
}
