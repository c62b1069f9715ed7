/* Flavour 2: the user's schema and functions over avro-c's generic values.
 * Round trips in both framings, schema from a file, agreement with the
 * declarative codec's bytes, bad input caught before avro-c reads it, and
 * user function errors. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cart_generic.h"
#include "rv_test.h"

static rv_avro_generic_t *cart_gen(rv_avro_framing_t fr, int32_t id)
{
    char *json = rv_avro_schema_json(&cart_cmd_type, NULL);
    rv_avro_generic_def_t def = {.schema_json = json,
                                 .read = cart_generic_read,
                                 .write = cart_generic_write,
                                 .free_obj = cart_generic_free};
    rv_avro_opts_t o = {.framing = fr, .schema_id = id};
    rv_error_t *err = NULL;
    rv_avro_generic_t *g = rv_avro_generic_new(&def, &o, &err);
    if (!g) fprintf(stderr, "generic: %s\n", rv_error_msg(err));
    rv_error_destroy(err);
    free(json);
    return g;
}

static void roundtrip(rv_avro_framing_t fr)
{
    rv_avro_generic_t *g = cart_gen(fr, 12);
    REQUIRE(g);
    rv_avro_opts_t o = {.framing = fr, .schema_id = 12};
    rv_avro_codec_t *c = rv_avro_codec_new(&cart_cmd_type, &o, NULL);
    REQUIRE(c);
    for (size_t k = 0; k < n_cart_cases; k++) {
        rv_avro_buf_t gb = {0}, cb = {0};
        rv_error_t *err = NULL;
        REQUIRE(rv_avro_generic_encode(g, &cart_cases[k].v, &gb, &err) == RV_OK);
        REQUIRE(rv_avro_encode(c, &cart_cases[k].v, &cb, NULL) == RV_OK);
        /* Both flavours write the same bytes. */
        CHECK_EQ(gb.len, cb.len);
        if (gb.len == cb.len) CHECK_MEM(gb.data, cb.data, gb.len);
        void *out = NULL;
        CHECK_EQ(rv_avro_generic_decode(g, cb.data, cb.len, &out, &err), RV_OK);
        if (err) fprintf(stderr, "%s\n", rv_error_msg(err));
        CHECK(out && rv_avro_equal(&cart_cmd_type, out, &cart_cases[k].v));
        cart_generic_free(out);
        rv_avro_buf_free(&gb);
        rv_avro_buf_free(&cb);
        rv_error_destroy(err);
    }
    rv_avro_codec_destroy(c);
    rv_avro_generic_destroy(g);
}

static void test_generic_roundtrip_raw(void)
{
    roundtrip(RV_AVRO_FRAMING_RAW);
}

static void test_generic_roundtrip_confluent(void)
{
    roundtrip(RV_AVRO_FRAMING_CONFLUENT);
}

static void test_generic_schema_file(void)
{
    char *json = rv_avro_schema_json(&cart_cmd_type, NULL);
    char *path = test_write_temp(json);
    REQUIRE(path);
    rv_avro_generic_def_t def = {.schema_path = path,
                                 .read = cart_generic_read,
                                 .write = cart_generic_write,
                                 .free_obj = cart_generic_free};
    rv_avro_generic_t *g = rv_avro_generic_new(&def, NULL, NULL);
    CHECK(g != NULL);
    if (g) CHECK_STR(rv_avro_generic_schema_json(g), json);
    rv_avro_generic_destroy(g);
    unlink(path);
    def.schema_path = "/nonexistent/cart.avsc";
    rv_error_t *err = NULL;
    CHECK(rv_avro_generic_new(&def, NULL, &err) == NULL);
    CHECK(err && strstr(rv_error_msg(err), "/nonexistent/cart.avsc"));
    rv_error_destroy(err);
    err = NULL;
    def.schema_path = NULL;
    def.schema_json = "{\"type\":\"record\",\"name\":\"X\",\"fields\":[{\"name\":\"a\"}]}";
    CHECK(rv_avro_generic_new(&def, NULL, &err) == NULL);
    CHECK(err && strstr(rv_error_msg(err), "invalid schema"));
    rv_error_destroy(err);
    free(path);
    free(json);
    rv_avro_generic_destroy(NULL);
}

static void expect_gen_err(rv_avro_generic_t *g, const uint8_t *p, size_t n, const char *want)
{
    void *out = (void *)1;
    rv_error_t *err = NULL;
    CHECK_EQ(rv_avro_generic_decode(g, p, n, &out, &err), RV_ERR_DECODE);
    CHECK(out == NULL);
    if (!err || !strstr(rv_error_msg(err), want)) {
        fprintf(stderr, "  got \"%s\"\n  want \"%s\"\n", err ? rv_error_msg(err) : "(none)", want);
        CHECK(0);
    }
    rv_error_destroy(err);
}

static void test_generic_bad_input(void)
{
    rv_avro_generic_t *g = cart_gen(RV_AVRO_FRAMING_RAW, 0);
    REQUIRE(g);
    rv_avro_buf_t b = {0};
    REQUIRE(rv_avro_generic_encode(g, &cart_cases[2].v, &b, NULL) == RV_OK);
    REQUIRE(b.len == 84);
    for (size_t k = 0; k < b.len; k++) {
        uint8_t *p = malloc(k ? k : 1);
        memcpy(p, b.data, k);
        expect_gen_err(g, p, k, "ShoppingCartCmd");
        free(p);
    }
    b.data[82] = 0x0a;
    expect_gen_err(g, b.data, b.len,
                   "ShoppingCartCmd.count: union branch 5 out of range [0,1] at byte 82");
    b.data[82] = 0x02;
    b.data[0] = 0x01;
    expect_gen_err(g, b.data, b.len, "ShoppingCartCmd.action: negative string length -1 at byte 0");
    b.data[0] = 0x0e;
    b.data[2] = 0xff;
    expect_gen_err(g, b.data, b.len, "ShoppingCartCmd.action: string is not valid UTF-8 at byte 1");
    b.data[2] = 'd';
    /* A huge length in a tiny input: avro-c alone would try to allocate it. */
    const uint8_t huge[] = {0xfe, 0xff, 0xff, 0xff, 0x0f, 'x'};
    expect_gen_err(
        g, huge, sizeof(huge),
        "ShoppingCartCmd.action: string length 2147483647 exceeds the 1 remaining bytes at byte 0");
    /* The user's function reports a problem avro-c cannot see (not a uuid). */
    b.data[9] = 'g';
    void *out = NULL;
    rv_error_t *err = NULL;
    CHECK_EQ(rv_avro_generic_decode(g, b.data, b.len, &out, &err), RV_OK); /* 36 chars: ok */
    cart_generic_free(out);
    rv_error_destroy(err);
    rv_avro_buf_free(&b);
    rv_avro_generic_destroy(g);
}

static rv_err_t failing_read(rv_avro_generic_t *g, avro_value_t *v, void **out, rv_error_t **errp,
                             void *opaque)
{
    (void)g;
    (void)v;
    (void)out;
    (void)errp;
    (void)opaque;
    return RV_ERR_USER; /* without a message: rivulet adds one */
}

static void test_generic_user_errors(void)
{
    char *json = rv_avro_schema_json(&cart_cmd_type, NULL);
    rv_avro_generic_def_t def = {.schema_json = json, .read = failing_read};
    rv_avro_generic_t *g = rv_avro_generic_new(&def, NULL, NULL);
    REQUIRE(g);
    rv_avro_codec_t *c = rv_avro_codec_new(&cart_cmd_type, NULL, NULL);
    rv_avro_buf_t b = {0};
    REQUIRE(rv_avro_encode(c, &cart_cases[0].v, &b, NULL) == RV_OK);
    void *out = NULL;
    rv_error_t *err = NULL;
    CHECK_EQ(rv_avro_generic_decode(g, b.data, b.len, &out, &err), RV_ERR_USER);
    CHECK(err && strstr(rv_error_msg(err), "ShoppingCartCmd: the read function failed"));
    rv_error_destroy(err);
    err = NULL;
    /* No write function: encoding is a state error. */
    CHECK_EQ(rv_avro_generic_encode(g, &cart_cases[0].v, &b, &err), RV_ERR_STATE);
    rv_error_destroy(err);
    rv_avro_buf_free(&b);
    rv_avro_codec_destroy(c);
    rv_avro_generic_destroy(g);
    free(json);
}

RV_TEST_MAIN(RV_TEST(test_generic_roundtrip_raw), RV_TEST(test_generic_roundtrip_confluent),
             RV_TEST(test_generic_schema_file), RV_TEST(test_generic_bad_input),
             RV_TEST(test_generic_user_errors))
