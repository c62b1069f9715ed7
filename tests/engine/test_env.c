/* Envelopes and the ack token: exactly once, after the last holder, failure
 * wins, derived and joined envelopes carry it, aborts never ack OK. */
#include "engine_test_util.h"

typedef struct {
    int calls;
    rv_err_t status;
    int64_t offset_seen;
    const char *topic_seen;
    int payload_freed_before; /* the payload destructor ran before the ack */
} ack1_t;

static int payload_frees;
static void count_free(void *p)
{
    payload_frees++;
    free(p);
}

static void ack1(rv_env_t *root, rv_err_t status, void *opaque)
{
    ack1_t *a = opaque;
    a->calls++;
    a->status = status;
    a->offset_seen = rv_env_meta(root)->offset;
    a->topic_seen = rv_env_meta(root)->topic;
    a->payload_freed_before = payload_frees;
}

/* A graph to own envelopes; it never runs. */
static rv_graph_t *idle_graph(uv_loop_t *loop)
{
    uv_loop_init(loop);
    return rv_graph_new(loop, NULL, NULL);
}

static void close_graph(uv_loop_t *loop, rv_graph_t *g)
{
    rv_graph_destroy(g);
    uv_run(loop, UV_RUN_DEFAULT);
    CHECK_EQ(uv_loop_close(loop), 0);
    TU_LEAK_CHECK();
}

static void test_ack_once_after_last_ref(void)
{
    uv_loop_t loop;
    rv_graph_t *g = idle_graph(&loop);
    ack1_t a = {0};
    payload_frees = 0;
    rv_env_t *e = rv_env_new(g, box_new(5), count_free);
    rv_env_meta_mut(e)->offset = 42;
    rv_env_meta_mut(e)->topic = "t";
    rv_env_set_ack(e, ack1, &a);
    rv_env_retain(e);
    rv_env_retain(e);
    CHECK_EQ(rv_env_refs(e), 3);
    rv_env_release(e);
    rv_env_release(e);
    CHECK_EQ(a.calls, 0);
    CHECK_EQ(box_val(rv_env_payload(e)), 5);
    rv_env_release(e);
    CHECK_EQ(a.calls, 1);
    CHECK_EQ(a.status, RV_OK);
    CHECK_EQ(a.offset_seen, 42);
    CHECK_STR(a.topic_seen, "t");
    CHECK_EQ(a.payload_freed_before, 1);
    close_graph(&loop, g);
}

static void test_ack_failure_wins_and_is_first(void)
{
    uv_loop_t loop;
    rv_graph_t *g = idle_graph(&loop);
    ack1_t a = {0};
    rv_env_t *e = rv_env_new(g, RV_PTR(1), NULL);
    rv_env_set_ack(e, ack1, &a);
    rv_env_retain(e);
    rv_env_retain(e);
    rv_env_release_failed(e, RV_ERR_TIMEOUT);
    CHECK_EQ(rv_env_status(e), RV_ERR_TIMEOUT);
    rv_env_release_failed(e, RV_ERR_IO);
    CHECK_EQ(rv_env_status(e), RV_ERR_TIMEOUT);
    rv_env_release(e); /* a later success does not undo a failure */
    CHECK_EQ(a.calls, 1);
    CHECK_EQ(a.status, RV_ERR_TIMEOUT);
    /* Failing "with RV_OK" still fails (as cancelled). */
    ack1_t b = {0};
    e = rv_env_new(g, RV_PTR(1), NULL);
    rv_env_set_ack(e, ack1, &b);
    rv_env_release_failed(e, RV_OK);
    CHECK_EQ(b.calls, 1);
    CHECK_EQ(b.status, RV_ERR_CANCELLED);
    close_graph(&loop, g);
}

static void free_origin(void *p)
{
    (*(int *)p)++;
}

static void test_derived_keeps_ack_and_meta(void)
{
    uv_loop_t loop;
    rv_graph_t *g = idle_graph(&loop);
    ack1_t a = {0};
    int origin_freed = 0;
    rv_env_t *root = rv_env_new(g, RV_PTR(1), NULL);
    rv_meta_t *m = rv_env_meta_mut(root);
    m->offset = 9;
    m->partition = 3;
    m->topic = "orders";
    rv_env_set_ack(root, ack1, &a);
    rv_env_set_origin(root, &origin_freed, free_origin);
    rv_env_t *d1 = rv_env_derive(root, box_new(2), free);
    rv_env_t *d2 = rv_env_derive(d1, box_new(3), free);
    rv_env_release(d1);
    rv_env_release(root);
    CHECK_EQ(a.calls, 0);
    CHECK_EQ(rv_env_meta(d2)->offset, 9);
    CHECK_EQ(rv_env_meta(d2)->partition, 3);
    CHECK_STR(rv_env_meta(d2)->topic, "orders");
    CHECK(rv_env_meta(d2)->origin == &origin_freed);
    CHECK_EQ(box_val(rv_env_payload(d2)), 3);
    CHECK(rv_env_graph(d2) == g);
    rv_env_release_failed(d2, RV_ERR_ENCODE);
    CHECK_EQ(a.calls, 1);
    CHECK_EQ(a.status, RV_ERR_ENCODE);
    CHECK_EQ(origin_freed, 1);
    close_graph(&loop, g);
}

/* A long chain of derivations is released without recursion. */
static void test_deep_derive_chain(void)
{
    uv_loop_t loop;
    rv_graph_t *g = idle_graph(&loop);
    ack1_t a = {0};
    rv_env_t *e = rv_env_new(g, RV_PTR(0), NULL);
    rv_env_set_ack(e, ack1, &a);
    for (int i = 0; i < 200000; i++) {
        rv_env_t *d = rv_env_derive(e, RV_PTR(i), NULL);
        rv_env_release(e);
        e = d;
    }
    rv_env_release(e);
    CHECK_EQ(a.calls, 1);
    CHECK_EQ(a.status, RV_OK);
    close_graph(&loop, g);
}

static void test_joined_acks_parts(void)
{
    uv_loop_t loop;
    rv_graph_t *g = idle_graph(&loop);
    ack1_t a[3] = {{0}}, b[3] = {{0}};
    rv_env_t *parts[3];
    for (int i = 0; i < 3; i++) {
        parts[i] = rv_env_new(g, RV_PTR(i), NULL);
        rv_env_meta_mut(parts[i])->offset = 10 + i;
        rv_env_set_ack(parts[i], ack1, &a[i]);
    }
    rv_env_t *j = rv_env_new_joined(g, box_new(1), free, parts, 3);
    CHECK_EQ(rv_env_meta(j)->offset, 10); /* parts[0]'s metadata */
    rv_env_retain(j);
    rv_env_release(j);
    for (int i = 0; i < 3; i++)
        CHECK_EQ(a[i].calls, 0);
    rv_env_release(j);
    for (int i = 0; i < 3; i++) {
        CHECK_EQ(a[i].calls, 1);
        CHECK_EQ(a[i].status, RV_OK);
    }
    /* A failed join fails every part; a derived envelope of a join too. */
    for (int i = 0; i < 3; i++) {
        parts[i] = rv_env_new(g, RV_PTR(i), NULL);
        rv_env_set_ack(parts[i], ack1, &b[i]);
    }
    j = rv_env_new_joined(g, NULL, NULL, parts, 3);
    rv_env_t *d = rv_env_derive(j, RV_PTR(5), NULL);
    rv_env_release(j);
    rv_env_release_failed(d, RV_ERR_DECODE);
    for (int i = 0; i < 3; i++) {
        CHECK_EQ(b[i].calls, 1);
        CHECK_EQ(b[i].status, RV_ERR_DECODE);
    }
    close_graph(&loop, g);
}

static void test_payload_set_steal_shared(void)
{
    uv_loop_t loop;
    rv_graph_t *g = idle_graph(&loop);
    payload_frees = 0;
    rv_env_t *e = rv_env_new(g, box_new(1), count_free);
    CHECK_EQ(rv_env_set_payload(e, box_new(2), count_free), RV_OK);
    CHECK_EQ(payload_frees, 1);
    CHECK_EQ(box_val(rv_env_payload(e)), 2);
    rv_env_retain(e);
    /* Shared: refused, and the offered payload is freed. */
    CHECK_EQ(rv_env_set_payload(e, box_new(3), count_free), RV_ERR_STATE);
    CHECK_EQ(payload_frees, 2);
    CHECK(rv_env_steal_payload(e, NULL) == NULL);
    CHECK_EQ(box_val(rv_env_payload(e)), 2);
    rv_env_release(e);
    rv_free_fn f = NULL;
    void *p = rv_env_steal_payload(e, &f);
    REQUIRE(p != NULL);
    CHECK(f == count_free);
    CHECK(rv_env_payload(e) == NULL);
    rv_env_release(e);
    CHECK_EQ(payload_frees, 2); /* stolen: not freed by the envelope */
    f(p);
    CHECK_EQ(payload_frees, 3);
    close_graph(&loop, g);
}

/* In a graph: broadcast to three branches of different speeds. Each element's
 * ack fires once, only after the slowest branch released it. */
static void test_ack_after_last_branch(void)
{
    tu_t t;
    tu_init(&t, true, "graph.edge.capacity=4", NULL);
    psrc_t src;
    acks_t acks;
    acks_init(&acks, 40);
    psink_t s[3];
    rv_stage_t *a = psrc_new(t.g, &src, 40);
    src.acks = &acks;
    rv_stage_t *b = rv_broadcast(t.g, 3, false);
    rv_link(a, b);
    for (int i = 0; i < 3; i++)
        rv_link(b, psink_new(t.g, &s[i], false));
    REQUIRE(tu_start(&t) == RV_OK);
    for (int round = 0; round < 40; round++) {
        psink_grant(&s[0], 4);
        psink_grant(&s[1], 2);
        psink_grant(&s[2], 1);
        tu_settle(&t);
        /* Acked OK exactly the elements the slowest branch took. */
        size_t slow = s[2].n;
        CHECK_EQ(acks.ok, (int)slow);
        CHECK_EQ(acks.total, (int)slow);
    }
    CHECK(t.r.done);
    CHECK_EQ(acks.ok, 40);
    CHECK(acks_at_most_once(&acks));
    tu_fini(&t);
    acks_free(&acks);
    for (int i = 0; i < 3; i++)
        psink_free(&s[i]);
}

/* A branch that fails its copy makes the element's ack report the failure,
 * though the other branches succeeded. */
static rv_err_t fail_odd(void *in, rv_error_t **errp, void *opaque)
{
    return RV_INT(in) % 2 ? RV_ERR_IO : RV_OK;
}

static void test_ack_failure_in_one_branch(void)
{
    tu_t t;
    tu_init(&t, true, NULL);
    psrc_t src;
    acks_t acks;
    acks_init(&acks, 10);
    psink_t s;
    rv_stage_t *a = psrc_new(t.g, &src, 10);
    src.acks = &acks;
    rv_stage_t *b = rv_broadcast(t.g, 2, false);
    rv_link(a, b);
    rv_link(b, psink_new(t.g, &s, true));
    rv_link(b, rv_stage_set_decider(rv_for_each(t.g, fail_odd, NULL), rv_decider_resume, NULL));
    CHECK_EQ(tu_run_all(&t, 1000), RV_OK);
    CHECK_EQ(s.n, 10);
    for (int i = 0; i < 10; i++) {
        CHECK_EQ(acks.calls[i], 1);
        CHECK_EQ(acks.status[i], i % 2 ? RV_ERR_IO : RV_OK);
    }
    tu_fini(&t);
    acks_free(&acks);
    psink_free(&s);
}

/* Through map (in place and derived after a broadcast), map_env, grouped and
 * zip, the element keeps its metadata and its ack. */
static rv_err_t to_box(void *in, void **out, rv_error_t **errp, void *opaque)
{
    *out = box_new(RV_INT(in) * 10);
    return RV_OK;
}

static rv_err_t check_meta_env(rv_env_t *env, rv_error_t **errp, void *opaque)
{
    int *bad = opaque;
    const rv_meta_t *m = rv_env_meta(env);
    if (!m->topic || strcmp(m->topic, "probe") != 0 || m->partition != 7 ||
        m->offset * 10 != box_val(rv_env_payload(env)))
        (*bad)++;
    return RV_OK;
}

static void test_derived_in_graph_keep_ack_and_meta(void)
{
    tu_t t;
    tu_init(&t, true, NULL);
    psrc_t src;
    acks_t acks;
    acks_init(&acks, 100);
    psink_t s1, s2;
    int bad = 0;
    rv_stage_t *a = psrc_new(t.g, &src, 100);
    src.acks = &acks;
    rv_stage_t *b = rv_broadcast(t.g, 2, false);
    rv_link(a, b);
    s1.boxed = true;
    rv_chain(b, rv_map(t.g, to_box, free, NULL), rv_map_env(t.g, check_meta_env, &bad),
             psink_new(t.g, &s1, false), NULL);
    s1.unlimited = true;
    s1.boxed = true;
    rv_chain(b, rv_map(t.g, to_box, free, NULL), psink_new(t.g, &s2, true), NULL);
    s2.boxed = true;
    CHECK_EQ(tu_run_all(&t, 1000), RV_OK);
    CHECK_EQ(bad, 0);
    CHECK_EQ(s1.n, 100);
    CHECK_EQ(s2.n, 100);
    for (size_t i = 0; i < s1.n; i++) {
        CHECK_EQ(s1.offsets[i], (int64_t)i);
        CHECK_EQ(s1.vals[i], (int64_t)i * 10);
    }
    CHECK_EQ(acks.ok, 100);
    CHECK(acks_at_most_once(&acks));
    tu_fini(&t);
    acks_free(&acks);
    psink_free(&s1);
    psink_free(&s2);
}

static void test_joined_in_graph_ack_parts(void)
{
    /* grouped: a group's members are acked when the group is released. */
    tu_t t;
    tu_init(&t, true, NULL);
    psrc_t src;
    acks_t acks;
    acks_init(&acks, 10);
    psink_t s;
    rv_stage_t *a = psrc_new(t.g, &src, 10);
    src.acks = &acks;
    rv_chain(a, rv_grouped(t.g, 4), psink_new(t.g, &s, true), NULL);
    s.keep = true;
    CHECK_EQ(tu_run_all(&t, 1000), RV_OK);
    CHECK_EQ(s.n, 3);
    CHECK_EQ(acks.total, 0);   /* the sink still holds the groups */
    CHECK_EQ(s.offsets[1], 4); /* a group's metadata is its first member's */
    rv_env_release(s.kept[1]);
    s.kept[1] = NULL;
    CHECK_EQ(acks.ok, 4);
    for (int i = 4; i < 8; i++)
        CHECK_EQ(acks.calls[i], 1);
    rv_env_release_failed(s.kept[0], RV_ERR_IO);
    s.kept[0] = NULL;
    for (int i = 0; i < 4; i++)
        CHECK_EQ(acks.status[i], RV_ERR_IO);
    tu_fini(&t); /* releases the last group */
    CHECK_EQ(acks.total, 10);
    CHECK_EQ(acks.ok, 6);
    CHECK(acks_at_most_once(&acks));
    acks_free(&acks);
    psink_free(&s);

    /* zip: a pair's two parts are acked with the pair. */
    tu_init(&t, true, NULL);
    psrc_t p1, p2;
    acks_t a1, a2;
    acks_init(&a1, 5);
    acks_init(&a2, 5);
    rv_stage_t *z = rv_zip(t.g);
    rv_link(psrc_new(t.g, &p1, 5), z);
    rv_link(psrc_new(t.g, &p2, 5), z);
    p1.acks = &a1;
    p2.acks = &a2;
    rv_link(z, psink_new(t.g, &s, true));
    s.keep = true;
    CHECK_EQ(tu_run_all(&t, 1000), RV_OK);
    CHECK_EQ(s.n, 5);
    CHECK_EQ(a1.total + a2.total, 0);
    rv_env_release_failed(s.kept[2], RV_ERR_TIMEOUT);
    s.kept[2] = NULL;
    CHECK_EQ(a1.status[2], RV_ERR_TIMEOUT);
    CHECK_EQ(a2.status[2], RV_ERR_TIMEOUT);
    tu_fini(&t);
    CHECK_EQ(a1.ok, 4);
    CHECK_EQ(a2.ok, 4);
    acks_free(&a1);
    acks_free(&a2);
    psink_free(&s);
}

/* Abort and destroy release every buffered element as failed: none is acked
 * OK, every one is acked exactly once, and their payloads are freed. */
static void test_abort_and_destroy_release_as_failed(void)
{
    for (int mode = 0; mode < 2; mode++) {
        tu_t t;
        tu_init(&t, true, "graph.edge.capacity=4", NULL);
        psrc_t src;
        acks_t acks;
        acks_init(&acks, 1000);
        psink_t s;
        rv_stage_t *a = psrc_new(t.g, &src, 1000);
        src.acks = &acks;
        src.boxed = true;
        rv_chain(a, rv_map(t.g, tu_fn_identity, NULL, NULL),
                 rv_buffer(t.g, 16, RV_OVERFLOW_BACKPRESSURE), rv_grouped(t.g, 3),
                 psink_new(t.g, &s, false), NULL);
        REQUIRE(tu_start(&t) == RV_OK);
        tu_settle(&t);
        CHECK(src.emitted > 16);
        CHECK_EQ(acks.total, 0);
        if (mode == 0) {
            rv_graph_abort(t.g);
            rv_graph_abort(t.g); /* idempotent */
            tu_settle(&t);
            CHECK(t.r.done);
            CHECK_EQ(t.r.code, RV_ERR_CANCELLED);
            CHECK_EQ(src.aborts, 1);
            CHECK_EQ(acks.total, (int)src.emitted);
        }
        tu_fini(&t);
        CHECK_EQ(acks.total, (int)src.emitted);
        CHECK_EQ(acks.ok, 0);
        CHECK(acks_at_most_once(&acks));
        acks_free(&acks);
        psink_free(&s);
    }
}

/* An envelope the user keeps may outlive the graph: its ack still runs once
 * when it is released, and the graph's memory goes after it (LeakSanitizer and
 * AddressSanitizer check both). */
static rv_env_t *kept_env;
static rv_err_t keep_one(rv_env_t *env, rv_error_t **errp, void *opaque)
{
    if (!kept_env) {
        rv_env_retain(env);
        kept_env = env;
    }
    return RV_OK;
}

static void test_envelope_outlives_graph(void)
{
    tu_t t;
    tu_init(&t, true, NULL);
    psrc_t src;
    acks_t acks;
    acks_init(&acks, 5);
    rv_stage_t *a = psrc_new(t.g, &src, 5);
    src.acks = &acks;
    src.boxed = true;
    rv_link(a, rv_for_each_env(t.g, keep_one, NULL));
    CHECK_EQ(tu_run_all(&t, 1000), RV_OK);
    CHECK_EQ(acks.ok, 4);
    tu_fini(&t);
    REQUIRE(kept_env != NULL);
    CHECK_EQ(acks.total, 4);
    CHECK_EQ(box_val(rv_env_payload(kept_env)), 0);
    rv_env_release(kept_env);
    CHECK_EQ(acks.total, 5);
    CHECK_EQ(acks.status[0], RV_OK);
    acks_free(&acks);
}

RV_TEST_MAIN(RV_TEST_T(test_ack_once_after_last_ref, 10),
             RV_TEST_T(test_ack_failure_wins_and_is_first, 10),
             RV_TEST_T(test_derived_keeps_ack_and_meta, 10), RV_TEST_T(test_deep_derive_chain, 20),
             RV_TEST_T(test_joined_acks_parts, 10), RV_TEST_T(test_payload_set_steal_shared, 10),
             RV_TEST_T(test_ack_after_last_branch, 10),
             RV_TEST_T(test_ack_failure_in_one_branch, 10),
             RV_TEST_T(test_derived_in_graph_keep_ack_and_meta, 10),
             RV_TEST_T(test_joined_in_graph_ack_parts, 10),
             RV_TEST_T(test_abort_and_destroy_release_as_failed, 10),
             RV_TEST_T(test_envelope_outlives_graph, 10))
