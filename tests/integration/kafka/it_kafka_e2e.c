/* Integration (real Kafka broker): 100 000 records end to end through
 * KafkaSink and KafkaSource; interop with clients we did not write (kcat
 * produces, KafkaSource consumes byte for byte; KafkaSink produces,
 * python3-confluent-kafka and kcat read back); an unknown topic. */
#include <sys/stat.h>
#include <sys/wait.h>

#include "kafka_it_util.h"

/* ------------------------------------------------------------ payloads */

typedef struct {
    rv_kafka_out_t out;
    rd_kafka_headers_t *hdrs;
    char key[32], value[64];
} outmsg_t;

static void outmsg_free(void *p)
{
    outmsg_t *m = p;
    rd_kafka_headers_destroy(m->hdrs);
    free(m);
}

static rv_err_t make_out(void *in, void **out, rv_error_t **errp, void *opaque)
{
    int i = (int)RV_INT(in);
    outmsg_t *m = malloc(sizeof(*m));
    int kl = snprintf(m->key, sizeof(m->key), "key-%d", i);
    int vl = snprintf(m->value, sizeof(m->value), "value-%d", i);
    m->hdrs = rd_kafka_headers_new(1);
    rd_kafka_header_add(m->hdrs, "idx", -1, m->key + 4, kl - 4);
    m->out = (rv_kafka_out_t){.partition = RV_KAFKA_PARTITION_ANY,
                              .key = m->key,
                              .key_len = (size_t)kl,
                              .value = m->value,
                              .value_len = (size_t)vl,
                              .headers = m->hdrs};
    *out = m;
    return RV_OK;
}

typedef struct {
    int n, unique, dups, bad, bad_order;
    bool *seen;
    int64_t next[16];
} seen_t;

static rv_err_t note_record(rv_env_t *env, rv_error_t **errp, void *opaque)
{
    seen_t *s = opaque;
    const rv_meta_t *m = rv_env_meta(env);
    size_t vl = 0, kl = 0, hl = 0;
    const char *v = rv_kafka_record_value(env, &vl);
    const char *k = rv_kafka_record_key(env, &kl);
    const void *h = NULL;
    char hb[16] = "";
    if (rv_kafka_record_header(env, "idx", &h, &hl) && hl < sizeof(hb)) memcpy(hb, h, hl);
    int i = atoi(hb);
    char wk[32], wv[64];
    int wkl = snprintf(wk, sizeof(wk), "key-%d", i), wvl = snprintf(wv, sizeof(wv), "value-%d", i);
    if (i < 0 || i >= s->n || kl != (size_t)wkl || memcmp(k, wk, kl) != 0 || vl != (size_t)wvl ||
        memcmp(v, wv, vl) != 0) {
        s->bad++;
        return RV_OK;
    }
    if (m->partition < 16) {
        if (m->offset < s->next[m->partition]) s->bad_order++;
        s->next[m->partition] = m->offset + 1;
    }
    if (s->seen[i])
        s->dups++;
    else
        s->unique++;
    s->seen[i] = true;
    return RV_OK;
}

static bool all_seen(void *a)
{
    seen_t *s = a;
    return s->unique >= s->n;
}

/* 100 000 records: KafkaSink writes them, KafkaSource reads every one once,
 * in order per partition, and a clean stop commits the end of the topic. */
static void test_e2e_100k(void)
{
    IT_REQUIRE_BROKER();
    const int n = 100000, parts = 4;
    char topic[128], group[160];
    kt_topic(topic, sizeof(topic), "e2e");
    snprintf(group, sizeof(group), "g-%s", topic);
    REQUIRE(it_create_topic(topic, parts));
    uv_loop_t loop;
    uv_loop_init(&loop);
    rv_conf_t *conf = it_conf(group);

    double t0 = uv_hrtime() / 1e9;
    rv_graph_t *g = rv_graph_new(&loop, NULL, NULL);
    rv_stage_t *sink = rv_kafka_sink(g, conf, topic, NULL, NULL);
    rv_chain(rv_source_range(g, 0, n), rv_map(g, make_out, outmsg_free, NULL), sink, NULL);
    kt_result_t r = {0};
    REQUIRE(kt_start(g, &r));
    CHECK(kt_run_until(&loop, kt_is_done, &r, 60));
    CHECK_EQ(r.code, RV_OK);
    rv_kafka_sink_stats_t ks;
    rv_kafka_sink_get_stats(sink, &ks);
    CHECK_EQ(ks.delivered, n);
    kt_destroy(g);
    double t1 = uv_hrtime() / 1e9;

    seen_t s = {.n = n, .seen = calloc((size_t)n, 1)};
    g = rv_graph_new(&loop, NULL, NULL);
    rv_stage_t *src = rv_kafka_source(g, conf, topic);
    rv_chain(src, rv_for_each_env(g, note_record, &s), NULL);
    kt_result_t r2 = {0};
    REQUIRE(kt_start(g, &r2));
    CHECK(kt_run_until(&loop, all_seen, &s, 60));
    rv_graph_stop(g);
    CHECK(kt_run_until(&loop, kt_is_done, &r2, 30));
    double t2 = uv_hrtime() / 1e9;
    printf("  produced %d in %.2f s, consumed in %.2f s (incl. group join)\n", n, t1 - t0, t2 - t1);
    CHECK_EQ(r2.code, RV_OK);
    CHECK_EQ(s.unique, n);
    CHECK_EQ(s.dups, 0);
    CHECK_EQ(s.bad, 0);
    CHECK_EQ(s.bad_order, 0);
    int64_t high[4], total = 0;
    REQUIRE(it_high_watermarks(topic, parts, high));
    for (int p = 0; p < parts; p++) {
        int64_t c = kt_committed(it_bootstrap(), group, topic, p);
        CHECK_EQ(c, high[p]);
        total += high[p];
    }
    CHECK_EQ(total, n);
    kt_destroy(g);
    CHECK_EQ(uv_loop_close(&loop), 0);
    rv_conf_destroy(conf);
    free(s.seen);
}

/* ------------------------------------------------------------ interop */

static int run(const char *cmd)
{
    int rc = system(cmd);
    if (rc != 0) fprintf(stderr, "  command failed (%d): %s\n", rc, cmd);
    return rc;
}

static const char *kcat_bin(void)
{
    return access("/usr/bin/kcat", X_OK) == 0 ? "/usr/bin/kcat" : "kafkacat";
}

/* Deterministic bytes for message i: every byte value, NULs included, 1 to
 * 1 500 bytes (kcat skips empty files). */
static size_t blob(int i, unsigned char *buf)
{
    size_t len = 1 + (size_t)((i * 97) % 1500);
    uint32_t x = (uint32_t)i * 2654435761u + 1;
    for (size_t j = 0; j < len; j++) {
        x = x * 1103515245u + 12345u;
        buf[j] = (unsigned char)(x >> 16);
    }
    return len;
}

typedef struct {
    int got, bad;
    int n;
} blob_check_t;

static rv_err_t check_blob(rv_env_t *env, rv_error_t **errp, void *opaque)
{
    blob_check_t *c = opaque;
    const rv_meta_t *m = rv_env_meta(env);
    unsigned char want[1600];
    size_t wl = blob((int)m->offset, want), vl = 0, kl = 0, hl = 0;
    const void *v = rv_kafka_record_value(env, &vl);
    const void *k = rv_kafka_record_key(env, &kl);
    const void *h = NULL;
    bool ok = vl == wl && (wl == 0 || memcmp(v, want, wl) == 0) && kl == 7 &&
              memcmp(k, "kcatkey", 7) == 0 && rv_kafka_record_header(env, "origin", &h, &hl) &&
              hl == 4 && memcmp(h, "kcat", 4) == 0;
    if (!ok && c->bad++ < 3)
        printf("  record at offset %lld differs (value %zu bytes, want %zu)\n",
               (long long)m->offset, vl, wl);
    c->got++;
    return RV_OK;
}

static bool blobs_done(void *a)
{
    blob_check_t *c = a;
    return c->got >= c->n;
}

/* kcat produces binary records (one file each, so every byte value is
 * allowed); KafkaSource hands them over byte for byte, with key and header. */
static void test_kcat_to_source(void)
{
    IT_REQUIRE_BROKER();
    const int n = 200;
    char topic[128], group[160], dir[] = "/tmp/rv-kcat-XXXXXX";
    kt_topic(topic, sizeof(topic), "kcat-in");
    snprintf(group, sizeof(group), "g-%s", topic);
    REQUIRE(it_create_topic(topic, 1));
    REQUIRE(mkdtemp(dir));
    size_t cmdsz = 64 * 1024;
    char *cmd = malloc(cmdsz);
    int off = snprintf(cmd, cmdsz, "cd %s && %s -P -b %s -t %s -p 0 -k kcatkey -H origin=kcat", dir,
                       kcat_bin(), it_bootstrap(), topic);
    for (int i = 0; i < n; i++) {
        unsigned char buf[1600];
        size_t len = blob(i, buf);
        char path[512];
        snprintf(path, sizeof(path), "%s/m%04d", dir, i);
        FILE *f = fopen(path, "wb");
        REQUIRE(f);
        fwrite(buf, 1, len, f);
        fclose(f);
        off += snprintf(cmd + off, cmdsz - (size_t)off, " m%04d", i);
    }
    /* kcat sends empty files as empty values; one partition keeps the order,
     * so record i sits at offset i. */
    CHECK_EQ(run(cmd), 0);
    snprintf(cmd, cmdsz, "rm -rf %s", dir);
    run(cmd);
    free(cmd);

    uv_loop_t loop;
    uv_loop_init(&loop);
    rv_conf_t *conf = it_conf(group);
    rv_graph_t *g = rv_graph_new(&loop, NULL, NULL);
    blob_check_t c = {.n = n};
    rv_kafka_partition_t part = {topic, 0, RV_KAFKA_OFFSET_BEGINNING};
    rv_chain(rv_kafka_source_assign(g, conf, &part, 1), rv_for_each_env(g, check_blob, &c), NULL);
    kt_result_t r = {0};
    REQUIRE(kt_start(g, &r));
    CHECK(kt_run_until(&loop, blobs_done, &c, 30));
    rv_graph_stop(g);
    CHECK(kt_run_until(&loop, kt_is_done, &r, 30));
    CHECK_EQ(r.code, RV_OK);
    CHECK_EQ(c.got, n);
    CHECK_EQ(c.bad, 0);
    kt_destroy(g);
    CHECK_EQ(uv_loop_close(&loop), 0);
    rv_conf_destroy(conf);
}

/* Binary payloads for the sink: key and value from blob(), a header. */
typedef struct {
    rv_kafka_out_t out;
    rd_kafka_headers_t *hdrs;
    char key[16];
    unsigned char value[1600];
} blobmsg_t;

static void blobmsg_free(void *p)
{
    blobmsg_t *m = p;
    rd_kafka_headers_destroy(m->hdrs);
    free(m);
}

static rv_err_t make_blob(void *in, void **out, rv_error_t **errp, void *opaque)
{
    int i = (int)RV_INT(in);
    blobmsg_t *m = malloc(sizeof(*m));
    int kl = snprintf(m->key, sizeof(m->key), "k\x01%d", i);
    size_t vl = blob(i, m->value);
    char idx[16];
    int il = snprintf(idx, sizeof(idx), "%d", i);
    m->hdrs = rd_kafka_headers_new(2);
    rd_kafka_header_add(m->hdrs, "idx", -1, idx, il);
    rd_kafka_header_add(m->hdrs, "bin", -1, "\x00\xff\x7f", 3);
    m->out = (rv_kafka_out_t){.partition = i % 3,
                              .key = m->key,
                              .key_len = (size_t)kl,
                              .value = m->value,
                              .value_len = vl,
                              .timestamp_ms = 1600000000000LL + i,
                              .headers = m->hdrs};
    *out = m;
    return RV_OK;
}

static const char *py_reader =
    "import sys\n"
    "from confluent_kafka import Consumer, TopicPartition\n"
    "bs, topic, n = sys.argv[1], sys.argv[2], int(sys.argv[3])\n"
    "c = Consumer({'bootstrap.servers': bs, 'group.id': 'py-' + topic,\n"
    "              'enable.auto.commit': False})\n"
    "c.assign([TopicPartition(topic, p, 0) for p in range(3)])\n"
    "got = 0\n"
    "while got < n:\n"
    "    m = c.poll(15)\n"
    "    if m is None: break\n"
    "    if m.error(): continue\n"
    "    h = ' '.join('%s=%s' % (k, (v or b'').hex()) for k, v in (m.headers() or []))\n"
    "    print(m.partition(), m.timestamp()[1], (m.key() or b'').hex() or '-',\n"
    "          (m.value() or b'').hex() or '-', h)\n"
    "    got += 1\n"
    "c.close()\n";

static void hex(const unsigned char *p, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", p[i]);
    out[2 * n] = '\0';
}

/* KafkaSink writes binary keys, values, headers, partitions and timestamps;
 * python3-confluent-kafka reads exactly those back, and kcat counts them. */
static void test_sink_to_python_and_kcat(void)
{
    IT_REQUIRE_BROKER();
    const int n = 300;
    char topic[128];
    kt_topic(topic, sizeof(topic), "py-out");
    REQUIRE(it_create_topic(topic, 3));
    uv_loop_t loop;
    uv_loop_init(&loop);
    rv_conf_t *conf = it_conf(NULL);
    rv_graph_t *g = rv_graph_new(&loop, NULL, NULL);
    rv_chain(rv_source_range(g, 0, n), rv_map(g, make_blob, blobmsg_free, NULL),
             rv_kafka_sink(g, conf, topic, NULL, NULL), NULL);
    kt_result_t r = {0};
    REQUIRE(kt_start(g, &r));
    CHECK(kt_run_until(&loop, kt_is_done, &r, 30));
    CHECK_EQ(r.code, RV_OK);
    kt_destroy(g);
    CHECK_EQ(uv_loop_close(&loop), 0);
    rv_conf_destroy(conf);

    char script[] = "/tmp/rv-pyread-XXXXXX";
    int fd = mkstemp(script);
    REQUIRE(fd >= 0);
    REQUIRE(write(fd, py_reader, strlen(py_reader)) == (ssize_t)strlen(py_reader));
    close(fd);
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "/usr/bin/python3 %s %s %s %d", script, it_bootstrap(), topic, n);
    FILE *p = popen(cmd, "r");
    REQUIRE(p);
    char *line = NULL;
    size_t cap = 0;
    int got = 0, bad = 0;
    bool *seen = calloc((size_t)n, 1);
    char *want = malloc(4000);
    while (getline(&line, &cap, p) > 0) {
        int part = -1;
        long long ts = 0;
        char *khex = calloc(1, 4000), *vhex = calloc(1, 4000), *hdrs = calloc(1, 4000);
        if (sscanf(line, "%d %lld %3999s %3999s %3999[^\n]", &part, &ts, khex, vhex, hdrs) < 3) {
            bad++;
        } else {
            /* an empty key or value prints as "-" */
            if (strcmp(khex, "-") == 0) khex[0] = '\0';
            if (strcmp(vhex, "-") == 0) vhex[0] = '\0';
            char *ix = strstr(hdrs, "idx=");
            int i = -1;
            if (ix) {
                char dec[16] = "";
                for (int j = 0; j < 15 && ix[4 + 2 * j] && ix[4 + 2 * j] != ' '; j++) {
                    unsigned v;
                    sscanf(ix + 4 + 2 * j, "%2x", &v);
                    dec[j] = (char)v;
                }
                i = atoi(dec);
            }
            unsigned char vb[1600];
            char kb[16];
            size_t vl = i >= 0 ? blob(i, vb) : 0;
            int kl = snprintf(kb, sizeof(kb), "k\x01%d", i);
            bool ok = i >= 0 && i < n && !seen[i] && part == i % 3 && ts == 1600000000000LL + i;
            if (ok) {
                hex((unsigned char *)kb, (size_t)kl, want);
                ok = strcmp(want, khex) == 0;
            }
            if (ok) {
                hex(vb, vl, want);
                ok = strcmp(want, vhex) == 0;
            }
            ok = ok && strstr(hdrs, "bin=00ff7f") != NULL;
            if (ok)
                seen[i] = true;
            else if (bad++ < 3)
                printf("  python read a different record: %.200s", line);
        }
        free(khex);
        free(vhex);
        free(hdrs);
        got++;
    }
    CHECK_EQ(pclose(p), 0);
    unlink(script);
    free(line);
    free(want);
    free(seen);
    CHECK_EQ(got, n);
    CHECK_EQ(bad, 0);

    /* kcat sees the same count with the same keys' lengths. */
    snprintf(cmd, sizeof(cmd), "%s -C -b %s -t %s -o beginning -e -q -f '%%p %%K\\n' | wc -l",
             kcat_bin(), it_bootstrap(), topic);
    p = popen(cmd, "r");
    REQUIRE(p);
    int lines = 0;
    CHECK(fscanf(p, "%d", &lines) == 1);
    pclose(p);
    CHECK_EQ(lines, n);
}

/* A topic the broker does not have: the source fails naming it, quickly. */
static void test_unknown_topic_real(void)
{
    IT_REQUIRE_BROKER();
    char topic[128], group[160];
    kt_topic(topic, sizeof(topic), "missing");
    snprintf(group, sizeof(group), "g-%s", topic);
    uv_loop_t loop;
    uv_loop_init(&loop);
    rv_conf_t *conf = it_conf(group);
    rv_graph_t *g = rv_graph_new(&loop, NULL, NULL);
    rv_chain(rv_kafka_source(g, conf, topic), rv_ignore(g), NULL);
    kt_result_t r = {0};
    double t0 = uv_hrtime() / 1e9;
    REQUIRE(kt_start(g, &r));
    CHECK(kt_run_until(&loop, kt_is_done, &r, 30));
    printf("  after %.2f s: %s\n", uv_hrtime() / 1e9 - t0, r.msg);
    CHECK_EQ(r.code, RV_ERR_FROM_KAFKA(RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART));
    CHECK(strstr(r.msg, topic) != NULL);
    kt_destroy(g);
    CHECK_EQ(uv_loop_close(&loop), 0);
    rv_conf_destroy(conf);
}

RV_TEST_MAIN(RV_TEST_T(test_e2e_100k, 180), RV_TEST_T(test_kcat_to_source, 90),
             RV_TEST_T(test_sink_to_python_and_kcat, 90), RV_TEST_T(test_unknown_topic_real, 60))
