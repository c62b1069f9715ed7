/* KafkaSource against the embedded mock cluster: order per partition and the
 * record's fields, the commit watermark with out-of-order acks, failed records
 * never committed, pause/resume under a slow sink, a clean stop's final commit,
 * an empty topic that fills later, and a rebalance between two consumers. */
#include "kafka_test_util.h"

typedef struct {
    const char *topic;
    int64_t next[64]; /* next expected offset per partition (-1: none yet) */
    int count, unique, bad_order, bad_field;
    bool seen[100000];
    int dups;
} check_t;

/* Checks every field of a record against what kt_produce wrote. */
static rv_err_t check_record(rv_env_t *env, rv_error_t **errp, void *opaque)
{
    check_t *c = opaque;
    const rv_meta_t *m = rv_env_meta(env);
    const rd_kafka_message_t *r = rv_env_payload(env);
    if (r != rv_kafka_record(env) || strcmp(m->origin_kind, "kafka") != 0 ||
        strcmp(m->topic, c->topic) != 0 || m->partition != r->partition || m->offset != r->offset ||
        m->timestamp_ms <= 0)
        c->bad_field++;
    if (m->partition >= 0 && m->partition < 64) {
        if (c->next[m->partition] >= 0 && m->offset < c->next[m->partition]) c->bad_order++;
        c->next[m->partition] = m->offset + 1;
    }
    size_t vl = 0, kl = 0, hl = 0;
    const char *v = rv_kafka_record_value(env, &vl);
    const char *k = rv_kafka_record_key(env, &kl);
    const void *h = NULL;
    char vbuf[64] = "", kbuf[64] = "", hbuf[32] = "";
    if (v && vl < sizeof(vbuf)) memcpy(vbuf, v, vl);
    if (k && kl < sizeof(kbuf)) memcpy(kbuf, k, kl);
    if (rv_kafka_record_header(env, "idx", &h, &hl) && hl < sizeof(hbuf)) memcpy(hbuf, h, hl);
    int i = atoi(hbuf);
    char want_k[64], want_v[64];
    snprintf(want_k, sizeof(want_k), "key-%d", i);
    snprintf(want_v, sizeof(want_v), "value-%d", i);
    if (strcmp(kbuf, want_k) != 0 || strcmp(vbuf, want_v) != 0 || m->key != r->key ||
        m->key_len != kl || rv_kafka_record_headers(env, NULL, NULL) != 1)
        c->bad_field++;
    if (i >= 0 && i < 100000) {
        if (c->seen[i])
            c->dups++;
        else
            c->unique++;
        c->seen[i] = true;
    }
    c->count++;
    return RV_OK;
}

static check_t *check_new(const char *topic)
{
    check_t *c = calloc(1, sizeof(*c));
    c->topic = topic;
    for (int i = 0; i < 64; i++)
        c->next[i] = -1;
    return c;
}

typedef struct {
    check_t *c;
    int want;
} count_arg_t;

static bool count_reached(void *a)
{
    count_arg_t *x = a;
    return x->c->unique >= x->want;
}

static rv_conf_t *base_conf(const char *group)
{
    rv_conf_t *c = rv_conf_new();
    kt_set(c, "kafka.group.id", group);
    kt_set(c, "kafka.auto.offset.reset", "earliest");
    /* the mock waits on the session timeout in rebalances */
    kt_set(c, "kafka.session.timeout.ms", "3000");
    kt_set(c, "kafka.heartbeat.interval.ms", "200");
    return c;
}

/* Subscribed through the group: every record once, in order per partition,
 * with topic, partition, offset, timestamp, key, headers and value; a clean
 * stop commits the end of every partition. */
static void test_order_and_fields(void)
{
    rv_kafka_mock_t *mock = rv_kafka_mock_shared(NULL);
    REQUIRE(mock);
    char topic[128], group[160];
    kt_topic(topic, sizeof(topic), "order");
    snprintf(group, sizeof(group), "g-%s", topic);
    REQUIRE(rv_kafka_mock_create_topic(mock, topic, 4, NULL) == RV_OK);
    REQUIRE(kt_produce(rv_kafka_mock_bootstraps(mock), topic, 0, 2000, -1) == 0);

    uv_loop_t loop;
    uv_loop_init(&loop);
    rv_conf_t *conf = base_conf(group);
    rv_graph_t *g = rv_graph_new(&loop, NULL, NULL);
    check_t *c = check_new(topic);
    rv_stage_t *src = rv_kafka_source(g, conf, topic);
    rv_chain(src, rv_for_each_env(g, check_record, c), NULL);
    kt_result_t r = {0};
    REQUIRE(kt_start(g, &r));
    count_arg_t a = {c, 2000};
    CHECK(kt_run_until(&loop, count_reached, &a, 20));
    rv_graph_stop(g);
    CHECK(kt_run_until(&loop, kt_is_done, &r, 20));
    CHECK_EQ(r.code, RV_OK);
    CHECK_EQ(c->count, 2000);
    CHECK_EQ(c->dups, 0);
    CHECK_EQ(c->bad_order, 0);
    CHECK_EQ(c->bad_field, 0);
    rv_kafka_source_stats_t s;
    rv_kafka_source_get_stats(src, &s);
    CHECK_EQ(s.emitted, 2000);
    CHECK_EQ(s.acked, 2000);
    CHECK_EQ(s.in_flight, 0);
    CHECK_EQ(s.assigned, 4);
    int64_t total = 0;
    for (int p = 0; p < 4; p++) {
        int64_t mine = rv_kafka_source_committed(src, topic, p);
        CHECK_EQ(mine, c->next[p] < 0 ? -1 : c->next[p]);
        int64_t broker = kt_committed(rv_kafka_mock_bootstraps(mock), group, topic, p);
        CHECK_EQ(broker, mine < 0 ? RD_KAFKA_OFFSET_INVALID : mine);
        total += mine > 0 ? mine : 0;
    }
    CHECK_EQ(total, 2000);
    kt_destroy(g);
    CHECK_EQ(uv_loop_close(&loop), 0);
    rv_conf_destroy(conf);
    free(c);
    rv_kafka_mock_destroy(mock);
}

typedef struct {
    rv_stage_t *src;
    const char *topic;
    int32_t partition;
    int64_t want;
} committed_arg_t;

static bool committed_is(void *a)
{
    committed_arg_t *x = a;
    return rv_kafka_source_committed(x->src, x->topic, x->partition) == x->want;
}

static bool holder_has(void *a)
{
    kt_holder_t *h = ((void **)a)[0];
    size_t want = (size_t)(uintptr_t)((void **)a)[1];
    return h->n >= want;
}

static bool never(void *a)
{
    return false;
}

/* A graph of source (assigned partition 0 from the start) -> holder. */
static rv_graph_t *holder_graph(uv_loop_t *loop, rv_conf_t *conf, const char *topic, kt_holder_t *h,
                                rv_stage_t **src, int64_t from)
{
    rv_graph_t *g = rv_graph_new(loop, NULL, NULL);
    rv_kafka_partition_t part = {topic, 0, from};
    *src = rv_kafka_source_assign(g, conf, &part, 1);
    rv_link(*src, kt_holder(g, h));
    return g;
}

/* Records 1, 2, 3 (offsets 0, 1, 2) acked 3, 1, 2: no commit after 3, offset 1
 * committed after 1, offset 3 after 2. The broker agrees. */
static void test_watermark_out_of_order(void)
{
    rv_kafka_mock_t *mock = rv_kafka_mock_shared(NULL);
    REQUIRE(mock);
    char topic[128], group[160];
    kt_topic(topic, sizeof(topic), "wm");
    snprintf(group, sizeof(group), "g-%s", topic);
    REQUIRE(rv_kafka_mock_create_topic(mock, topic, 1, NULL) == RV_OK);
    REQUIRE(kt_produce(rv_kafka_mock_bootstraps(mock), topic, 0, 3, 0) == 0);

    uv_loop_t loop;
    uv_loop_init(&loop);
    rv_conf_t *conf = base_conf(group);
    kt_set(conf, "kafka.source.commit.batch", "1");
    kt_holder_t h = {0};
    rv_stage_t *src;
    rv_graph_t *g = holder_graph(&loop, conf, topic, &h, &src, RV_KAFKA_OFFSET_BEGINNING);
    kt_result_t r = {0};
    REQUIRE(kt_start(g, &r));
    void *ha[2] = {&h, (void *)(uintptr_t)3};
    REQUIRE(kt_run_until(&loop, holder_has, ha, 10));
    CHECK_EQ(rv_env_meta(h.envs[2])->offset, 2);

    kt_holder_release(&h, 2, true); /* record 3 */
    kt_run_until(&loop, never, NULL, 0.3);
    rv_kafka_source_stats_t s;
    rv_kafka_source_get_stats(src, &s);
    CHECK_EQ(s.commits, 0);
    CHECK_EQ(rv_kafka_source_committed(src, topic, 0), -1);

    kt_holder_release(&h, 0, true); /* record 1 */
    committed_arg_t ca = {src, topic, 0, 1};
    CHECK(kt_run_until(&loop, committed_is, &ca, 5));
    CHECK_EQ(kt_committed(rv_kafka_mock_bootstraps(mock), group, topic, 0), 1);

    kt_holder_release(&h, 1, true); /* record 2 */
    ca.want = 3;
    CHECK(kt_run_until(&loop, committed_is, &ca, 5));
    CHECK_EQ(kt_committed(rv_kafka_mock_bootstraps(mock), group, topic, 0), 3);
    rv_kafka_source_get_stats(src, &s);
    CHECK_EQ(s.commits, 2);
    CHECK_EQ(s.commit_errors, 0);

    rv_graph_stop(g);
    CHECK(kt_run_until(&loop, kt_is_done, &r, 10));
    CHECK_EQ(r.code, RV_OK);
    kt_destroy(g);
    CHECK_EQ(uv_loop_close(&loop), 0);
    kt_holder_free(&h);
    rv_conf_destroy(conf);
    rv_kafka_mock_destroy(mock);
}

/* A commit the broker refuses is sent again (nothing else would move the
 * watermark at the end of a topic). */
static void test_commit_retried_after_error(void)
{
    rv_kafka_mock_t *mock = rv_kafka_mock_shared(NULL);
    REQUIRE(mock);
    char topic[128], group[160];
    kt_topic(topic, sizeof(topic), "cretry");
    snprintf(group, sizeof(group), "g-%s", topic);
    REQUIRE(rv_kafka_mock_create_topic(mock, topic, 1, NULL) == RV_OK);
    REQUIRE(kt_produce(rv_kafka_mock_bootstraps(mock), topic, 0, 3, 0) == 0);
    uv_loop_t loop;
    uv_loop_init(&loop);
    rv_conf_t *conf = base_conf(group);
    kt_set(conf, "kafka.source.commit.batch", "3");
    kt_set(conf, "kafka.source.commit.interval", "100");
    kt_holder_t h = {0};
    rv_stage_t *src;
    rv_graph_t *g = holder_graph(&loop, conf, topic, &h, &src, RV_KAFKA_OFFSET_BEGINNING);
    kt_result_t r = {0};
    REQUIRE(kt_start(g, &r));
    void *ha[2] = {&h, (void *)(uintptr_t)3};
    REQUIRE(kt_run_until(&loop, holder_has, ha, 10));
    rd_kafka_mock_push_request_errors(rv_kafka_mock_cluster(mock), 8 /* OffsetCommit */, 1,
                                      RD_KAFKA_RESP_ERR_OFFSET_METADATA_TOO_LARGE);
    for (size_t i = 0; i < 3; i++)
        kt_holder_release(&h, i, true);
    committed_arg_t ca = {src, topic, 0, 3};
    CHECK(kt_run_until(&loop, committed_is, &ca, 5));
    rv_kafka_source_stats_t s;
    rv_kafka_source_get_stats(src, &s);
    CHECK_EQ(s.commit_errors, 1);
    CHECK(s.commits >= 2);
    CHECK_EQ(kt_committed(rv_kafka_mock_bootstraps(mock), group, topic, 0), 3);
    rv_graph_stop(g);
    CHECK(kt_run_until(&loop, kt_is_done, &r, 10));
    kt_destroy(g);
    CHECK_EQ(uv_loop_close(&loop), 0);
    kt_holder_free(&h);
    rv_conf_destroy(conf);
    rv_kafka_mock_destroy(mock);
}

/* A failed record is never committed, nor anything after it in its
 * partition, even on a clean stop; a new consumer of the group gets it again. */
static void test_failure_not_committed(void)
{
    rv_kafka_mock_t *mock = rv_kafka_mock_shared(NULL);
    REQUIRE(mock);
    char topic[128], group[160];
    kt_topic(topic, sizeof(topic), "fail");
    snprintf(group, sizeof(group), "g-%s", topic);
    REQUIRE(rv_kafka_mock_create_topic(mock, topic, 1, NULL) == RV_OK);
    REQUIRE(kt_produce(rv_kafka_mock_bootstraps(mock), topic, 0, 4, 0) == 0);

    uv_loop_t loop;
    uv_loop_init(&loop);
    rv_conf_t *conf = base_conf(group);
    kt_set(conf, "kafka.source.commit.batch", "1");
    kt_holder_t h = {0};
    rv_stage_t *src;
    rv_graph_t *g = holder_graph(&loop, conf, topic, &h, &src, RV_KAFKA_OFFSET_BEGINNING);
    kt_result_t r = {0};
    REQUIRE(kt_start(g, &r));
    void *ha[2] = {&h, (void *)(uintptr_t)4};
    REQUIRE(kt_run_until(&loop, holder_has, ha, 10));
    kt_holder_release(&h, 0, true);
    kt_holder_release(&h, 1, false); /* offset 1 fails */
    kt_holder_release(&h, 2, true);
    kt_holder_release(&h, 3, true);
    committed_arg_t ca = {src, topic, 0, 1};
    CHECK(kt_run_until(&loop, committed_is, &ca, 5));
    kt_run_until(&loop, never, NULL, 0.3);
    rv_graph_stop(g);
    CHECK(kt_run_until(&loop, kt_is_done, &r, 10));
    CHECK_EQ(r.code, RV_OK);
    rv_kafka_source_stats_t s;
    rv_kafka_source_get_stats(src, &s);
    CHECK_EQ(s.acked, 3);
    CHECK_EQ(s.failed, 1);
    CHECK_EQ(rv_kafka_source_committed(src, topic, 0), 1);
    CHECK_EQ(kt_committed(rv_kafka_mock_bootstraps(mock), group, topic, 0), 1);
    kt_destroy(g);

    /* The group resumes at the failed record: offsets 1, 2, 3 come again. */
    kt_holder_t h2 = {0};
    g = holder_graph(&loop, conf, topic, &h2, &src, RV_KAFKA_OFFSET_STORED);
    kt_result_t r2 = {0};
    REQUIRE(kt_start(g, &r2));
    void *ha2[2] = {&h2, (void *)(uintptr_t)3};
    CHECK(kt_run_until(&loop, holder_has, ha2, 10));
    kt_run_until(&loop, never, NULL, 0.2);
    CHECK_EQ(h2.n, 3);
    if (h2.n == 3) CHECK_EQ(rv_env_meta(h2.envs[0])->offset, 1);
    for (size_t i = 0; i < h2.n; i++)
        kt_holder_release(&h2, i, true);
    rv_graph_stop(g);
    CHECK(kt_run_until(&loop, kt_is_done, &r2, 10));
    CHECK_EQ(kt_committed(rv_kafka_mock_bootstraps(mock), group, topic, 0), 4);
    kt_destroy(g);
    CHECK_EQ(uv_loop_close(&loop), 0);
    kt_holder_free(&h);
    kt_holder_free(&h2);
    rv_conf_destroy(conf);
    rv_kafka_mock_destroy(mock);
}

/* A slow sink that stalls: takes `burst` elements, then nothing for `gap_ms`. */
typedef struct {
    check_t *c;
    int burst, taken;
    uint64_t gap_ms;
    rv_timer_t *timer;
    rv_stage_t *src;
    uint64_t paused_queue_max; /* librdkafka's queue while the source is paused */
} stall_t;

static void stall_input(rv_stage_t *st)
{
    stall_t *s = rv_stage_state(st);
    rv_env_t *env;
    while (s->taken < s->burst && (env = rv_in_pop(st, 0)) != NULL) {
        check_record(env, NULL, s->c);
        rv_env_release(env);
        s->taken++;
    }
    if (s->taken >= s->burst && !rv_timer_active(s->timer)) rv_timer_start(s->timer, s->gap_ms);
}

static void stall_timer(rv_timer_t *t, void *opaque)
{
    rv_stage_t *st = opaque;
    stall_t *s = rv_stage_state(st);
    /* Sampled at the end of each stall: the source has been paused a while. */
    rv_kafka_source_stats_t ss;
    rv_kafka_source_get_stats(s->src, &ss);
    if (ss.paused) {
        rd_kafka_queue_t *q = rd_kafka_queue_get_consumer(rv_kafka_source_handle(s->src));
        uint64_t len = rd_kafka_queue_length(q);
        rd_kafka_queue_destroy(q);
        if (len > s->paused_queue_max) s->paused_queue_max = len;
    }
    s->taken = 0;
    rv_stage_wake(st);
}

static void stall_stop(rv_stage_t *st)
{
    stall_t *s = rv_stage_state(st);
    rv_timer_destroy(s->timer);
}

static const rv_stage_ops_t stall_ops = {
    .kind = "stall", .on_input = stall_input, .on_room = stall_input, .stop = stall_stop};

/* A sink that stalls for 60 ms after every 2 000 records: the source pauses
 * its partitions (librdkafka drops its prefetch) instead of holding the
 * topic in memory, resumes when room returns, and loses or repeats nothing. */
static void test_pause_resume_slow_sink(void)
{
    rv_kafka_mock_t *mock = rv_kafka_mock_shared(NULL);
    REQUIRE(mock);
    char topic[128], group[160];
    kt_topic(topic, sizeof(topic), "pause");
    snprintf(group, sizeof(group), "g-%s", topic);
    const int n = 20000;
    REQUIRE(rv_kafka_mock_create_topic(mock, topic, 1, NULL) == RV_OK);
    REQUIRE(kt_produce(rv_kafka_mock_bootstraps(mock), topic, 0, n, 0) == 0);

    uv_loop_t loop;
    uv_loop_init(&loop);
    rv_conf_t *conf = base_conf(group);
    kt_set(conf, "kafka.source.pause.after", "20");
    if (getenv("KT_DEBUG")) kt_set(conf, "kafka.debug", getenv("KT_DEBUG"));
    rv_graph_t *g = rv_graph_new(&loop, NULL, NULL);
    check_t *c = check_new(topic);
    rv_kafka_partition_t part = {topic, 0, RV_KAFKA_OFFSET_BEGINNING};
    rv_stage_t *src = rv_kafka_source_assign(g, conf, &part, 1);
    stall_t stall = {.c = c, .burst = 2000, .gap_ms = 60, .src = src};
    rv_stage_t *sink = rv_stage_new(g, &stall_ops, &stall, 1, 0);
    stall.timer = rv_timer_new(sink, stall_timer, sink);
    rv_link(src, sink);
    kt_result_t r = {0};
    REQUIRE(kt_start(g, &r));
    count_arg_t a = {c, n};
    CHECK(kt_run_until(&loop, count_reached, &a, 30));
    rv_graph_stop(g);
    CHECK(kt_run_until(&loop, kt_is_done, &r, 10));
    CHECK_EQ(r.code, RV_OK);
    rv_kafka_source_stats_t s;
    rv_kafka_source_get_stats(src, &s);
    CHECK_EQ(c->count, n);
    CHECK_EQ(c->dups, 0);
    CHECK_EQ(c->bad_order, 0);
    CHECK(s.pauses >= 5);
    CHECK(s.resumes >= 5);
    printf("  pauses %" PRIu64 ", resumes %" PRIu64 ", most queued when full %" PRIu64
           ", most queued while paused %" PRIu64 " (of %d)\n",
           s.pauses, s.resumes, s.queued_max, stall.paused_queue_max, n);
    /* Paused, librdkafka neither fetches nor keeps what it had prefetched. */
    CHECK(stall.paused_queue_max < 100);
    CHECK_EQ(kt_committed(rv_kafka_mock_bootstraps(mock), group, topic, 0), n);
    kt_destroy(g);
    CHECK_EQ(uv_loop_close(&loop), 0);
    rv_conf_destroy(conf);
    free(c);
    rv_kafka_mock_destroy(mock);
}

/* Downstream cancels (take 10): the source stops, records it emitted that
 * were dropped unprocessed are not committed, the ten taken are, and the
 * graph completes once the consumer closed. */
static void test_downstream_cancel(void)
{
    rv_kafka_mock_t *mock = rv_kafka_mock_shared(NULL);
    REQUIRE(mock);
    char topic[128], group[160];
    kt_topic(topic, sizeof(topic), "cancel");
    snprintf(group, sizeof(group), "g-%s", topic);
    REQUIRE(rv_kafka_mock_create_topic(mock, topic, 1, NULL) == RV_OK);
    REQUIRE(kt_produce(rv_kafka_mock_bootstraps(mock), topic, 0, 500, 0) == 0);
    uv_loop_t loop;
    uv_loop_init(&loop);
    rv_conf_t *conf = base_conf(group);
    rv_graph_t *g = rv_graph_new(&loop, NULL, NULL);
    rv_kafka_partition_t part = {topic, 0, RV_KAFKA_OFFSET_BEGINNING};
    rv_stage_t *src = rv_kafka_source_assign(g, conf, &part, 1);
    rv_chain(src, rv_take(g, 10), rv_ignore(g), NULL);
    kt_result_t r = {0};
    REQUIRE(kt_start(g, &r));
    CHECK(kt_run_until(&loop, kt_is_done, &r, 10));
    CHECK_EQ(r.code, RV_OK);
    rv_kafka_source_stats_t s;
    rv_kafka_source_get_stats(src, &s);
    CHECK_EQ(s.acked, 10);
    CHECK_EQ(s.in_flight, 0);
    CHECK(s.emitted >= 10 && s.emitted <= 10 + 64);
    CHECK_EQ(s.acked + s.failed, s.emitted);
    CHECK_EQ(kt_committed(rv_kafka_mock_bootstraps(mock), group, topic, 0), 10);
    kt_destroy(g);
    CHECK_EQ(uv_loop_close(&loop), 0);
    rv_conf_destroy(conf);
    rv_kafka_mock_destroy(mock);
}

/* An empty topic does not stall the source: records produced a while after
 * the start still arrive. */
static void test_empty_then_records(void)
{
    rv_kafka_mock_t *mock = rv_kafka_mock_shared(NULL);
    REQUIRE(mock);
    char topic[128], group[160];
    kt_topic(topic, sizeof(topic), "empty");
    snprintf(group, sizeof(group), "g-%s", topic);
    REQUIRE(rv_kafka_mock_create_topic(mock, topic, 1, NULL) == RV_OK);
    uv_loop_t loop;
    uv_loop_init(&loop);
    rv_conf_t *conf = base_conf(group);
    rv_graph_t *g = rv_graph_new(&loop, NULL, NULL);
    check_t *c = check_new(topic);
    rv_kafka_partition_t part = {topic, 0, RV_KAFKA_OFFSET_BEGINNING};
    rv_stage_t *src = rv_kafka_source_assign(g, conf, &part, 1);
    rv_chain(src, rv_for_each_env(g, check_record, c), NULL);
    kt_result_t r = {0};
    REQUIRE(kt_start(g, &r));
    kt_run_until(&loop, never, NULL, 1.0);
    CHECK_EQ(c->count, 0);
    REQUIRE(kt_produce(rv_kafka_mock_bootstraps(mock), topic, 0, 10, 0) == 0);
    count_arg_t a = {c, 10};
    CHECK(kt_run_until(&loop, count_reached, &a, 10));
    kt_run_until(&loop, never, NULL, 0.5);
    REQUIRE(kt_produce(rv_kafka_mock_bootstraps(mock), topic, 10, 10, 0) == 0);
    a.want = 20;
    CHECK(kt_run_until(&loop, count_reached, &a, 10));
    rv_graph_stop(g);
    CHECK(kt_run_until(&loop, kt_is_done, &r, 10));
    CHECK_EQ(r.code, RV_OK);
    CHECK_EQ(c->count, 20);
    CHECK_EQ(c->bad_field, 0);
    CHECK_EQ(kt_committed(rv_kafka_mock_bootstraps(mock), group, topic, 0), 20);
    kt_destroy(g);
    CHECK_EQ(uv_loop_close(&loop), 0);
    rv_conf_destroy(conf);
    free(c);
    rv_kafka_mock_destroy(mock);
}

/* ------------------------------------------------------------- rebalance */

typedef struct {
    check_t *all; /* shared by both consumers */
    int mine;
} member_t;

static rv_err_t member_record(rv_env_t *env, rv_error_t **errp, void *opaque)
{
    member_t *m = opaque;
    m->mine++;
    return check_record(env, errp, m->all);
}

typedef struct {
    rv_stage_t *src;
    uint64_t assigned;
} assigned_arg_t;

typedef struct {
    rv_stage_t *src;
    uint64_t held;
} held_arg_t;

/* The source holds exactly this many partitions now. */
static bool holds(void *a)
{
    held_arg_t *x = a;
    rv_kafka_source_stats_t s;
    rv_kafka_source_get_stats(x->src, &s);
    return s.assigned - s.revoked == x->held;
}

static bool assigned_at_least(void *a)
{
    assigned_arg_t *x = a;
    rv_kafka_source_stats_t s;
    rv_kafka_source_get_stats(x->src, &s);
    return s.assigned >= x->assigned;
}

/* Two consumers of one group: the second joining takes partitions from the
 * first (which commits what it finished before giving them up); together they
 * see every record, none twice. */
static void rebalance_two_consumers(const char *strategy)
{
    rv_kafka_mock_t *mock = rv_kafka_mock_shared(NULL);
    REQUIRE(mock);
    char topic[128], group[160];
    kt_topic(topic, sizeof(topic), "rebal");
    snprintf(group, sizeof(group), "g-%s", topic);
    const int n = 6000;
    REQUIRE(rv_kafka_mock_create_topic(mock, topic, 4, NULL) == RV_OK);
    for (int p = 0; p < 4; p++) /* record i is at partition i / 1500, offset i % 1500 */
        REQUIRE(kt_produce(rv_kafka_mock_bootstraps(mock), topic, p * n / 4, n / 4, p) == 0);

    uv_loop_t loop;
    uv_loop_init(&loop);
    rv_conf_t *conf = base_conf(group);
    kt_set(conf, "kafka.source.commit.batch", "100");
    if (strategy) kt_set(conf, "kafka.partition.assignment.strategy", strategy);
    check_t *all = check_new(topic);
    member_t ma = {all, 0}, mb = {all, 0};
    rv_graph_t *ga = rv_graph_new(&loop, NULL, NULL);
    rv_stage_t *sa = rv_kafka_source(ga, conf, topic);
    /* 1 000 records per second each, so the second joins mid-stream */
    rv_chain(sa, rv_throttle(ga, 10, 10, 10), rv_for_each_env(ga, member_record, &ma), NULL);
    rv_graph_t *gb = rv_graph_new(&loop, NULL, NULL);
    rv_stage_t *sb = rv_kafka_source(gb, conf, topic);
    rv_chain(sb, rv_throttle(gb, 10, 10, 10), rv_for_each_env(gb, member_record, &mb), NULL);
    kt_result_t ra = {0}, rb = {0};
    REQUIRE(kt_start(ga, &ra));
    assigned_arg_t aa = {sa, 4};
    REQUIRE(kt_run_until(&loop, assigned_at_least, &aa, 15));
    count_arg_t some = {all, 300};
    REQUIRE(kt_run_until(&loop, count_reached, &some, 10));
    REQUIRE(kt_start(gb, &rb));
    assigned_arg_t ab = {sb, 1};
    CHECK(kt_run_until(&loop, assigned_at_least, &ab, 15));
    count_arg_t every = {all, n};
    CHECK(kt_run_until(&loop, count_reached, &every, 30));
    /* One member leaves, then the other, once it holds every partition
     * again: the mock refuses commits while the group rebalances, so the
     * final commits are made in a settled group. */
    rv_graph_stop(gb);
    CHECK(kt_run_until(&loop, kt_is_done, &rb, 15));
    held_arg_t all4 = {sa, 4};
    CHECK(kt_run_until(&loop, holds, &all4, 15));
    /* The survivor reads again what the leaver had not committed: let it
     * reach the end (its batch commits land meanwhile) before it stops. */
    int64_t total = 0;
    for (int tries = 0; tries < 50 && total != n; tries++) {
        kt_run_until(&loop, never, NULL, 0.3);
        total = 0;
        for (int p = 0; p < 4; p++)
            total += kt_committed(rv_kafka_mock_bootstraps(mock), group, topic, p);
    }
    rv_graph_stop(ga);
    CHECK(kt_run_until(&loop, kt_is_done, &ra, 15));
    CHECK_EQ(ra.code, RV_OK);
    CHECK_EQ(rb.code, RV_OK);
    rv_kafka_source_stats_t s1, s2;
    rv_kafka_source_get_stats(sa, &s1);
    rv_kafka_source_get_stats(sb, &s2);
    printf("  a: %d records, assigned %" PRIu64 ", revoked %" PRIu64 "; b: %d records, assigned "
           "%" PRIu64 "\n",
           ma.mine, s1.assigned, s1.revoked, mb.mine, s2.assigned);
    int missing = 0;
    for (int i = 0; i < n; i++) {
        if (!all->seen[i] && missing++ < 5)
            printf("  missing: partition %d offset %d\n", i / (n / 4), i % (n / 4));
    }
    CHECK_EQ(missing, 0);
    /* The mock refuses commits while the group rebalances (a real broker
     * takes them: the integration test sees no duplicate), so the records
     * finished since the last batch commit before a rebalance come again; in
     * the cooperative protocol that is whatever a moved partition did while
     * the mock held the group in its join phase. Nothing may be missing. */
    printf("  duplicates: %d (uncommitted at the rebalance)\n", all->dups);
    if (!strategy) CHECK(all->dups <= 4 * (100 + 32 + 32));
    CHECK(s1.revoked >= 1);
    CHECK(ma.mine > 0 && mb.mine > 0);
    total = 0;
    for (int p = 0; p < 4; p++)
        total += kt_committed(rv_kafka_mock_bootstraps(mock), group, topic, p);
    CHECK_EQ(total, n);
    rv_graph_destroy(ga);
    rv_graph_destroy(gb);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ(uv_loop_close(&loop), 0);
    rv_conf_destroy(conf);
    free(all);
    rv_kafka_mock_destroy(mock);
}

static void test_rebalance_two_consumers(void)
{
    rebalance_two_consumers(NULL); /* eager: range,roundrobin */
}

/* The incremental protocol: only the moved partitions are revoked. */
static void test_rebalance_cooperative(void)
{
    rebalance_two_consumers("cooperative-sticky");
}

RV_TEST_MAIN(RV_TEST(test_order_and_fields), RV_TEST(test_watermark_out_of_order),
             RV_TEST(test_commit_retried_after_error), RV_TEST(test_failure_not_committed),
             RV_TEST_T(test_pause_resume_slow_sink, 60), RV_TEST(test_downstream_cancel),
             RV_TEST(test_empty_then_records), RV_TEST_T(test_rebalance_two_consumers, 90),
             RV_TEST_T(test_rebalance_cooperative, 90))
