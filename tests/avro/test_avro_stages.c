/* The AvroSerializer and AvroDeserializer stages, both flavours: structs to
 * bytes and back through a graph; an undecodable record fails the stream,
 * is dropped as failed (never acked), or leaves on the dead-letter port with
 * its reason and is acked. */
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "cart_generic.h"
#include "rivulet.h"
#include "rv_test.h"

/* ---- an acking source: emits given payloads, records each element's ack */

typedef struct src {
    void **items;
    size_t n, next;
    rv_free_fn item_free;
    rv_err_t acks[64];
    int nacks;
} src_t;

static void on_ack(rv_env_t *root, rv_err_t status, void *opaque)
{
    src_t *s = opaque;
    intptr_t i = (intptr_t)rv_env_meta(root)->offset;
    s->acks[i] = status;
    s->nacks++;
}

static void src_room(rv_stage_t *st)
{
    src_t *s = rv_stage_state(st);
    size_t room = rv_out_room(st, 0);
    while (room-- > 0 && s->next < s->n) {
        size_t i = s->next++;
        rv_env_t *env = rv_env_new(rv_stage_graph(st), s->items[i], s->item_free);
        rv_meta_t *m = rv_env_meta_mut(env);
        m->topic = "cart-commands";
        m->partition = 0;
        m->offset = (int64_t)i;
        rv_env_set_ack(env, on_ack, s);
        rv_out_push(st, 0, env);
    }
    if (s->next == s->n) rv_stage_finish(st);
}

static const rv_stage_ops_t src_ops = {.kind = "test-source", .on_room = src_room};

static rv_stage_t *test_source(rv_graph_t *g, src_t *s)
{
    for (int i = 0; i < 64; i++)
        s->acks[i] = 1; /* not acked yet */
    return rv_stage_new(g, &src_ops, s, 0, 1);
}

/* ---- collecting sinks */

typedef struct sink {
    void *items[64];
    char *msgs[64];
    int n;
    rv_free_fn keep_free; /* keep payload copies of decoded objects */
    const rv_avro_type_t *type;
    bool equal[64];
    const cart_cmd_t *expect; /* compared in order */
    size_t expect_n;
} sink_t;

static rv_err_t keep_cart(void *in, rv_error_t **errp, void *opaque)
{
    (void)errp;
    sink_t *k = opaque;
    if (k->n < 64) {
        bool eq = false;
        for (size_t i = 0; i < k->expect_n; i++)
            eq = eq || rv_avro_equal(&cart_cmd_type, in, &k->expect[i]);
        k->equal[k->n++] = eq;
    }
    return RV_OK;
}

static rv_err_t keep_reason(rv_env_t *env, rv_error_t **errp, void *opaque)
{
    (void)errp;
    sink_t *k = opaque;
    if (k->n < 64) k->msgs[k->n++] = strdup(rv_error_msg(rv_env_payload(env)));
    return RV_OK;
}

typedef struct run {
    bool done;
    rv_err_t code;
    char msg[512];
} run_t;

static void on_done(rv_graph_t *g, const rv_error_t *status, void *opaque)
{
    (void)g;
    run_t *r = opaque;
    r->done = true;
    r->code = rv_error_code(status);
    snprintf(r->msg, sizeof(r->msg), "%s", status ? rv_error_msg(status) : "");
}

static void run_graph(uv_loop_t *loop, rv_graph_t *g, run_t *r)
{
    rv_error_t *err = NULL;
    if (rv_graph_run(g, on_done, r, &err) != RV_OK) {
        fprintf(stderr, "  run: %s\n", rv_error_msg(err));
        rv_error_destroy(err);
        CHECK(0);
        return;
    }
    for (int i = 0; i < 10000 && !r->done; i++)
        uv_run(loop, UV_RUN_NOWAIT);
    CHECK(r->done);
}

static void finish(uv_loop_t *loop, rv_graph_t *g)
{
    rv_graph_destroy(g);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_loop_close(loop);
}

/* Encoded cart commands as rv_avro_bytes_t payloads; with `bad` the listed
 * indexes are corrupted (union branch 5). */
static size_t make_inputs(const rv_avro_codec_t *c, void **items, const int *bad, size_t nbad)
{
    size_t n = n_cart_cases;
    for (size_t k = 0; k < n; k++) {
        rv_avro_buf_t b = {0};
        rv_avro_encode(c, &cart_cases[k].v, &b, NULL);
        for (size_t j = 0; j < nbad; j++)
            if ((size_t)bad[j] == k) b.data[b.len - (cart_cases[k].v.has_count ? 2 : 1)] = 0x0a;
        items[k] = rv_avro_bytes_new(b.data, b.len);
        rv_avro_buf_free(&b);
    }
    return n;
}

static void test_serializer_then_deserializer(void)
{
    for (int flavour = 1; flavour <= 2; flavour++) {
        uv_loop_t loop;
        uv_loop_init(&loop);
        rv_graph_t *g = rv_graph_new(&loop, NULL, NULL);
        REQUIRE(g);
        rv_avro_codec_t *c = rv_avro_codec_new(&cart_cmd_type, NULL, NULL);
        char *json = rv_avro_schema_json(&cart_cmd_type, NULL);
        rv_avro_generic_def_t def = {.schema_json = json,
                                     .read = cart_generic_read,
                                     .write = cart_generic_write,
                                     .free_obj = cart_generic_free};
        rv_avro_generic_t *gen = rv_avro_generic_new(&def, NULL, NULL);
        REQUIRE(c && gen);
        void *items[16];
        for (size_t k = 0; k < n_cart_cases; k++)
            items[k] = (void *)&cart_cases[k].v;
        src_t s = {.items = items, .n = n_cart_cases};
        sink_t k = {.expect = NULL};
        cart_cmd_t expect[16];
        for (size_t i = 0; i < n_cart_cases; i++)
            expect[i] = cart_cases[i].v;
        k.expect = expect;
        k.expect_n = n_cart_cases;
        rv_stage_t *ser =
            flavour == 1 ? rv_avro_serializer(g, c) : rv_avro_generic_serializer(g, gen);
        rv_stage_t *des = flavour == 1 ? rv_avro_deserializer(g, c, NULL)
                                       : rv_avro_generic_deserializer(g, gen, NULL);
        rv_chain(test_source(g, &s), ser, des, rv_for_each(g, keep_cart, &k), NULL);
        run_t r = {0};
        run_graph(&loop, g, &r);
        CHECK_EQ(r.code, RV_OK);
        CHECK_EQ(k.n, (int)n_cart_cases);
        for (int i = 0; i < k.n; i++)
            CHECK(k.equal[i]);
        finish(&loop, g);
        CHECK_EQ(s.nacks, (int)n_cart_cases);
        for (size_t i = 0; i < n_cart_cases; i++)
            CHECK_EQ(s.acks[i], RV_OK);
        rv_avro_generic_destroy(gen);
        rv_avro_codec_destroy(c);
        free(json);
    }
}

static void test_bad_record_fails_the_stream(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    rv_graph_t *g = rv_graph_new(&loop, NULL, NULL);
    rv_avro_codec_t *c = rv_avro_codec_new(&cart_cmd_type, NULL, NULL);
    void *items[16];
    int bad[] = {2};
    src_t s = {.items = items, .item_free = rv_avro_bytes_free};
    s.n = make_inputs(c, items, bad, 1);
    sink_t k = {0};
    rv_chain(test_source(g, &s), rv_avro_deserializer(g, c, NULL), rv_for_each(g, keep_cart, &k),
             NULL);
    run_t r = {0};
    run_graph(&loop, g, &r);
    CHECK_EQ(r.code, RV_ERR_DECODE);
    CHECK(strstr(r.msg, "ShoppingCartCmd.count: union branch 5 out of range [0,1] at byte 82"));
    CHECK(strstr(r.msg, "(record cart-commands [0] @ 2)"));
    finish(&loop, g);
    /* The bad record is never acked as done. */
    CHECK(s.acks[2] != RV_OK);
    rv_avro_codec_destroy(c);
}

static rv_directive_t resume(rv_stage_t *st, const rv_error_t *err, int attempt, void *opaque)
{
    (void)st;
    (void)err;
    (void)attempt;
    (*(int *)opaque)++;
    return RV_RESUME;
}

static void test_bad_record_resumed_is_not_acked(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    rv_graph_t *g = rv_graph_new(&loop, NULL, NULL);
    rv_avro_codec_t *c = rv_avro_codec_new(&cart_cmd_type, NULL, NULL);
    void *items[16];
    int bad[] = {1, 5};
    src_t s = {.items = items, .item_free = rv_avro_bytes_free};
    s.n = make_inputs(c, items, bad, 2);
    sink_t k = {0};
    int decided = 0;
    rv_stage_t *des = rv_stage_set_decider(rv_avro_deserializer(g, c, NULL), resume, &decided);
    rv_chain(test_source(g, &s), des, rv_for_each(g, keep_cart, &k), NULL);
    run_t r = {0};
    run_graph(&loop, g, &r);
    CHECK_EQ(r.code, RV_OK);
    CHECK_EQ(k.n, (int)n_cart_cases - 2);
    CHECK_EQ(decided, 2);
    rv_stage_counters_t cnt;
    rv_stage_get_counters(des, &cnt);
    CHECK_EQ(cnt.failures, 2);
    finish(&loop, g);
    CHECK_EQ(s.nacks, (int)n_cart_cases);
    for (size_t i = 0; i < n_cart_cases; i++)
        CHECK_EQ(s.acks[i], (i == 1 || i == 5) ? RV_ERR_DECODE : RV_OK);
    rv_avro_codec_destroy(c);
}

static void dead_letter(int flavour)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    rv_graph_t *g = rv_graph_new(&loop, NULL, NULL);
    rv_avro_codec_t *c = rv_avro_codec_new(&cart_cmd_type, NULL, NULL);
    char *json = rv_avro_schema_json(&cart_cmd_type, NULL);
    rv_avro_generic_def_t def = {
        .schema_json = json, .read = cart_generic_read, .free_obj = cart_generic_free};
    rv_avro_generic_t *gen = rv_avro_generic_new(&def, NULL, NULL);
    void *items[16];
    int bad[] = {0, 2};
    src_t s = {.items = items, .item_free = rv_avro_bytes_free};
    s.n = make_inputs(c, items, bad, 2);
    sink_t good = {0}, rejects = {0};
    rv_avro_deser_opts_t o = {.dead_letter = true};
    rv_stage_t *des =
        flavour == 1 ? rv_avro_deserializer(g, c, &o) : rv_avro_generic_deserializer(g, gen, &o);
    CHECK_EQ(rv_stage_outputs(des), 2);
    rv_link(test_source(g, &s), des);
    rv_link(des, rv_for_each(g, keep_cart, &good));          /* port 0 */
    rv_link(des, rv_for_each_env(g, keep_reason, &rejects)); /* port 1 */
    run_t r = {0};
    run_graph(&loop, g, &r);
    CHECK_EQ(r.code, RV_OK);
    CHECK_EQ(good.n, (int)n_cart_cases - 2);
    CHECK_EQ(rejects.n, 2);
    for (int i = 0; i < rejects.n; i++) {
        CHECK(strstr(rejects.msgs[i], "ShoppingCartCmd.count: union branch 5 out of range"));
        CHECK(strstr(rejects.msgs[i], "cart-commands"));
        free(rejects.msgs[i]);
    }
    finish(&loop, g);
    /* Every record is acked: the rejects once the dead-letter path took them. */
    CHECK_EQ(s.nacks, (int)n_cart_cases);
    for (size_t i = 0; i < n_cart_cases; i++)
        CHECK_EQ(s.acks[i], RV_OK);
    rv_avro_generic_destroy(gen);
    rv_avro_codec_destroy(c);
    free(json);
}

static void test_dead_letter_port_declarative(void)
{
    dead_letter(1);
}

static void test_dead_letter_port_generic(void)
{
    dead_letter(2);
}

static void test_encode_error_goes_to_decider(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    rv_graph_t *g = rv_graph_new(&loop, NULL, NULL);
    rv_avro_codec_t *c = rv_avro_codec_new(&cart_cmd_type, NULL, NULL);
    cart_cmd_t bad = cart_cases[0].v;
    strcpy(bad.cart_id, "nope");
    void *items[] = {(void *)&cart_cases[0].v, &bad, (void *)&cart_cases[1].v};
    src_t s = {.items = items, .n = 3};
    int decided = 0;
    rv_stage_t *ser = rv_stage_set_decider(rv_avro_serializer(g, c), resume, &decided);
    rv_chain(test_source(g, &s), ser, rv_ignore(g), NULL);
    run_t r = {0};
    run_graph(&loop, g, &r);
    CHECK_EQ(r.code, RV_OK);
    CHECK_EQ(decided, 1);
    finish(&loop, g);
    CHECK_EQ(s.acks[0], RV_OK);
    CHECK_EQ(s.acks[1], RV_ERR_ENCODE);
    CHECK_EQ(s.acks[2], RV_OK);
    rv_avro_codec_destroy(c);
}

RV_TEST_MAIN(RV_TEST(test_serializer_then_deserializer), RV_TEST(test_bad_record_fails_the_stream),
             RV_TEST(test_bad_record_resumed_is_not_acked),
             RV_TEST(test_dead_letter_port_declarative), RV_TEST(test_dead_letter_port_generic),
             RV_TEST(test_encode_error_goes_to_decider))
