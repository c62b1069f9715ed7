/* The declarative codec: schema JSON, round trips of every type and of the
 * cart command in both framings, encode errors, description errors. */
#include <stdlib.h>
#include <string.h>

#include "avro/internal.h"
#include "rv_test.h"
#include "test_types.h"

static rv_avro_codec_t *codec(const rv_avro_type_t *t, rv_avro_framing_t fr, int32_t id)
{
    rv_avro_opts_t o = {.framing = fr, .schema_id = id};
    rv_error_t *err = NULL;
    rv_avro_codec_t *c = rv_avro_codec_new(t, &o, &err);
    if (!c) fprintf(stderr, "codec: %s\n", rv_error_msg(err));
    rv_error_destroy(err);
    return c;
}

static void test_cart_schema_json(void)
{
    char *json = rv_avro_schema_json(&cart_cmd_type, NULL);
    REQUIRE(json);
    CHECK_STR(json,
              "{\"type\":\"record\",\"name\":\"ShoppingCartCmd\",\"namespace\":\"rivulet.cart\","
              "\"fields\":[{\"name\":\"action\",\"type\":\"string\"},"
              "{\"name\":\"cartId\",\"type\":{\"type\":\"string\",\"logicalType\":\"uuid\"}},"
              "{\"name\":\"ownerOrItem\",\"type\":{\"type\":\"string\",\"logicalType\":\"uuid\"}},"
              "{\"name\":\"count\",\"type\":[\"null\",\"int\"],\"default\":null}]}");
    free(json);
    rv_avro_codec_t *c = codec(&all_types_type, RV_AVRO_FRAMING_RAW, 0);
    REQUIRE(c);
    /* The enum is written once in full and then referred to by name. */
    const char *s = rv_avro_codec_schema_json(c);
    CHECK(strstr(s, "\"symbols\":[\"RED\",\"GREEN\",\"BLUE\"]"));
    CHECK(strstr(s, "\"values\":\"rivulet.test.Color\""));
    CHECK(rv_avro_codec_schema(c) != NULL);
    rv_avro_codec_destroy(c);
}

static void cart_roundtrip(rv_avro_framing_t fr)
{
    rv_avro_codec_t *c = codec(&cart_cmd_type, fr, 77);
    REQUIRE(c);
    rv_avro_arena_t *arena = rv_avro_arena_new();
    for (size_t k = 0; k < n_cart_cases; k++) {
        rv_avro_buf_t buf = {0};
        rv_error_t *err = NULL;
        REQUIRE(rv_avro_encode(c, &cart_cases[k].v, &buf, &err) == RV_OK);
        if (fr == RV_AVRO_FRAMING_CONFLUENT) {
            CHECK_MEM(buf.data, "\x00\x00\x00\x00\x4d", 5);
        }
        cart_cmd_t out;
        CHECK_EQ(rv_avro_decode(c, buf.data, buf.len, &out, arena, &err), RV_OK);
        if (err) fprintf(stderr, "%s\n", rv_error_msg(err));
        CHECK(rv_avro_equal(&cart_cmd_type, &out, &cart_cases[k].v));
        CHECK_STR(out.action, cart_cases[k].v.action);
        CHECK_EQ(out.has_count, cart_cases[k].v.has_count);
        cart_cmd_t *heap = rv_avro_decode_new(c, buf.data, buf.len, &err);
        REQUIRE(heap);
        CHECK(rv_avro_equal(&cart_cmd_type, heap, &cart_cases[k].v));
        rv_avro_obj_free(heap);
        rv_avro_arena_reset(arena);
        rv_avro_buf_free(&buf);
        rv_error_destroy(err);
    }
    rv_avro_arena_destroy(arena);
    rv_avro_codec_destroy(c);
}

static void test_cart_roundtrip_raw(void)
{
    cart_roundtrip(RV_AVRO_FRAMING_RAW);
}

static void test_cart_roundtrip_confluent(void)
{
    cart_roundtrip(RV_AVRO_FRAMING_CONFLUENT);
}

static void test_cart_known_bytes(void)
{
    /* Hand-computed: "AddItem" (len 7 -> 0x0e), two 36-byte uuids (0x48),
     * union branch 1 (0x02), int 3 (0x06). */
    rv_avro_codec_t *c = codec(&cart_cmd_type, RV_AVRO_FRAMING_RAW, 0);
    REQUIRE(c);
    rv_avro_buf_t buf = {0};
    REQUIRE(rv_avro_encode(c, &cart_cases[2].v, &buf, NULL) == RV_OK);
    CHECK_EQ(buf.len, 1 + 7 + 1 + 36 + 1 + 36 + 1 + 1);
    CHECK_EQ(buf.data[0], 0x0e);
    CHECK_MEM(buf.data + 1, "AddItem", 7);
    CHECK_EQ(buf.data[8], 0x48);
    CHECK_EQ(buf.data[buf.len - 2], 0x02);
    CHECK_EQ(buf.data[buf.len - 1], 0x06);
    rv_avro_buf_free(&buf);
    /* count null: branch 0 and nothing after it. */
    REQUIRE(rv_avro_encode(c, &cart_cases[0].v, &buf, NULL) == RV_OK);
    CHECK_EQ(buf.data[buf.len - 1], 0x00);
    rv_avro_buf_free(&buf);
    rv_avro_codec_destroy(c);
}

static void all_roundtrip(rv_avro_framing_t fr)
{
    rv_avro_codec_t *c = codec(&all_types_type, fr, 5);
    REQUIRE(c);
    for (int k = 0; k < n_all_cases; k++) {
        all_types_t v;
        all_types_case(k, &v);
        rv_avro_buf_t buf = {0};
        rv_error_t *err = NULL;
        if (rv_avro_encode(c, &v, &buf, &err) != RV_OK) {
            fprintf(stderr, "encode %d: %s\n", k, rv_error_msg(err));
            CHECK(0);
            rv_error_destroy(err);
            continue;
        }
        all_types_t *out = rv_avro_decode_new(c, buf.data, buf.len, &err);
        if (!out) fprintf(stderr, "decode %d: %s\n", k, rv_error_msg(err));
        REQUIRE(out);
        CHECK(rv_avro_equal(&all_types_type, out, &v));
        /* Re-encoding what was decoded gives the same bytes. */
        rv_avro_buf_t again = {0};
        REQUIRE(rv_avro_encode(c, out, &again, NULL) == RV_OK);
        CHECK_EQ(again.len, buf.len);
        CHECK_MEM(again.data, buf.data, buf.len);
        /* Spot checks through the C representation. */
        if (k == 0) {
            CHECK_EQ(out->ints.n, 8);
            CHECK_EQ(((int32_t *)out->ints.items)[6], 2147483647);
            CHECK_STR(((char **)out->strs.items)[2], "h\xc3\xa9llo");
            CHECK_STR(out->longs.keys[3], "k\xc3\xa9y");
            CHECK_EQ(((int64_t *)out->longs.values)[2], INT64_MIN);
            CHECK_STR(((inner_t *)out->inners.items)[1].s, "second");
            CHECK_EQ(((rv_avro_array_t *)out->matrix.items)[1].n, 0);
            CHECK_EQ(((int *)out->colors.values)[0], 2);
            CHECK(out->f == 1.5f && out->d == -0.25);
            CHECK_EQ(out->oby.len, 2);
        }
        if (k == 1) {
            CHECK(out->os == NULL && out->oby.data == NULL && !out->has_oinner && !out->has_oi);
            CHECK(out->by.data != NULL && out->by.len == 0); /* present but empty */
        }
        if (k == 2) {
            CHECK(out->oby.data != NULL && out->oby.len == 0);
        }
        rv_avro_obj_free(out);
        rv_avro_buf_free(&again);
        rv_avro_buf_free(&buf);
    }
    rv_avro_codec_destroy(c);
}

static void test_all_types_roundtrip_raw(void)
{
    all_roundtrip(RV_AVRO_FRAMING_RAW);
}

static void test_all_types_roundtrip_confluent(void)
{
    all_roundtrip(RV_AVRO_FRAMING_CONFLUENT);
}

static void test_confluent_header_errors(void)
{
    rv_avro_codec_t *c = codec(&cart_cmd_type, RV_AVRO_FRAMING_CONFLUENT, 1);
    REQUIRE(c);
    rv_avro_buf_t buf = {0};
    REQUIRE(rv_avro_encode(c, &cart_cases[0].v, &buf, NULL) == RV_OK);
    rv_avro_arena_t *arena = rv_avro_arena_new();
    cart_cmd_t out;
    rv_error_t *err = NULL;
    buf.data[4] = 9; /* another id, not registered */
    CHECK_EQ(rv_avro_decode(c, buf.data, buf.len, &out, arena, &err), RV_ERR_DECODE);
    CHECK(err && strstr(rv_error_msg(err), "unknown writer schema id 9"));
    rv_error_destroy(err);
    err = NULL;
    buf.data[0] = 1;
    CHECK_EQ(rv_avro_decode(c, buf.data, buf.len, &out, arena, &err), RV_ERR_DECODE);
    CHECK(err && strstr(rv_error_msg(err), "magic byte is 1"));
    rv_error_destroy(err);
    err = NULL;
    CHECK_EQ(rv_avro_decode(c, buf.data, 3, &out, arena, &err), RV_ERR_DECODE);
    CHECK(err && strstr(rv_error_msg(err), "5 header bytes"));
    rv_error_destroy(err);
    int32_t id;
    size_t off;
    CHECK_EQ(rv_avro_unframe_confluent("\x00\x12\x34\x56\x78", 5, &id, &off, NULL), RV_OK);
    CHECK_EQ(id, 0x12345678);
    CHECK_EQ(off, 5);
    rv_avro_arena_destroy(arena);
    rv_avro_buf_free(&buf);
    rv_avro_codec_destroy(c);
}

static void test_encode_errors(void)
{
    rv_avro_codec_t *c = codec(&cart_cmd_type, RV_AVRO_FRAMING_RAW, 0);
    REQUIRE(c);
    rv_avro_buf_t buf = {0};
    rv_error_t *err = NULL;
    cart_cmd_t v = cart_cases[2].v;
    v.action = "bad \xff utf8";
    CHECK_EQ(rv_avro_encode(c, &v, &buf, &err), RV_ERR_ENCODE);
    CHECK(err && strstr(rv_error_msg(err), "ShoppingCartCmd.action: string is not valid UTF-8"));
    CHECK_EQ(buf.len, 0);
    rv_error_destroy(err);
    err = NULL;
    v = cart_cases[2].v;
    strcpy(v.owner_or_item, "not-a-uuid");
    CHECK_EQ(rv_avro_encode(c, &v, &buf, &err), RV_ERR_ENCODE);
    CHECK(err && strstr(rv_error_msg(err), "ShoppingCartCmd.ownerOrItem: not a uuid"));
    rv_error_destroy(err);
    err = NULL;
    v = cart_cases[2].v;
    v.action = NULL;
    CHECK_EQ(rv_avro_encode(c, &v, &buf, &err), RV_ERR_ENCODE);
    CHECK(err && strstr(rv_error_msg(err), "action: NULL string"));
    rv_error_destroy(err);
    err = NULL;
    CHECK_EQ(buf.len, 0);
    rv_avro_codec_destroy(c);

    rv_avro_codec_t *a = codec(&all_types_type, RV_AVRO_FRAMING_RAW, 0);
    REQUIRE(a);
    all_types_t at;
    all_types_case(0, &at);
    at.color = 3;
    CHECK_EQ(rv_avro_encode(a, &at, &buf, &err), RV_ERR_ENCODE);
    CHECK(err && strstr(rv_error_msg(err), "AllTypes.color: enum index 3 out of range [0,2]"));
    rv_error_destroy(err);
    err = NULL;
    all_types_case(0, &at);
    char bad[] = "\xc0\x80"; /* overlong NUL */
    ((char **)at.strs.items)[1] = bad;
    CHECK_EQ(rv_avro_encode(a, &at, &buf, &err), RV_ERR_ENCODE);
    CHECK(err && strstr(rv_error_msg(err), "AllTypes.strs[1]: string is not valid UTF-8"));
    ((char **)at.strs.items)[1] = "a";
    rv_error_destroy(err);
    rv_avro_codec_destroy(a);
    rv_avro_buf_free(&buf);
}

typedef struct bad_s {
    int64_t x;
    bool has_y;
    int32_t y;
    char *z;
} bad_s_t;

static void expect_invalid(const rv_avro_type_t *t, const char *frag)
{
    rv_error_t *err = NULL;
    rv_avro_codec_t *c = rv_avro_codec_new(t, NULL, &err);
    CHECK(c == NULL);
    CHECK(err != NULL);
    if (err && !strstr(rv_error_msg(err), frag)) {
        fprintf(stderr, "  got \"%s\", want \"%s\"\n", rv_error_msg(err), frag);
        CHECK(0);
    }
    rv_error_destroy(err);
    rv_avro_codec_destroy(c);
}

static void test_description_errors(void)
{
    static const rv_avro_field_t wrong_size[] = {RV_AVRO_FIELD(bad_s_t, x, &rv_avro_int)};
    static const rv_avro_type_t t1 = RV_AVRO_RECORD_TYPE(bad_s_t, "Bad", NULL, wrong_size);
    expect_invalid(&t1, "Bad.x: member is 8 bytes but an Avro int needs 4");

    static const rv_avro_field_t opt_no_flag[] = {
        RV_AVRO_OPTIONAL_PTR(bad_s_t, y, "y", &rv_avro_int)};
    static const rv_avro_type_t t2 = RV_AVRO_RECORD_TYPE(bad_s_t, "Bad", NULL, opt_no_flag);
    expect_invalid(&t2, "Bad.y: an optional int needs a bool presence member");

    static const rv_avro_field_t dup[] = {RV_AVRO_FIELD(bad_s_t, x, &rv_avro_long),
                                          RV_AVRO_FIELD_AS(bad_s_t, x, "x", &rv_avro_long)};
    static const rv_avro_type_t t3 = RV_AVRO_RECORD_TYPE(bad_s_t, "Bad", NULL, dup);
    expect_invalid(&t3, "Bad.x: duplicate field name");

    static const rv_avro_field_t badname[] = {RV_AVRO_FIELD_AS(bad_s_t, x, "9x", &rv_avro_long)};
    static const rv_avro_type_t t4 = RV_AVRO_RECORD_TYPE(bad_s_t, "Bad", NULL, badname);
    expect_invalid(&t4, "invalid Avro field name");

    static const rv_avro_field_t baddefault[] = {
        RV_AVRO_FIELD_DEFAULT(bad_s_t, x, "x", &rv_avro_long, "\"seven\"")};
    static const rv_avro_type_t t5 = RV_AVRO_RECORD_TYPE(bad_s_t, "Bad", NULL, baddefault);
    expect_invalid(&t5, "Bad.x: default \"seven\" is not a valid long");

    static const rv_avro_field_t ok[] = {
        RV_AVRO_FIELD_DEFAULT(bad_s_t, x, "x", &rv_avro_long, "-12"),
        RV_AVRO_OPTIONAL(bad_s_t, y, has_y, &rv_avro_int),
        RV_AVRO_FIELD_DEFAULT(bad_s_t, z, "z", &rv_avro_string, "\"caf\\u00e9\""),
    };
    static const rv_avro_type_t t6 = RV_AVRO_RECORD_TYPE(bad_s_t, "Good", "a.b", ok);
    rv_error_t *err = NULL;
    rv_avro_codec_t *c = rv_avro_codec_new(&t6, NULL, &err);
    CHECK(c != NULL);
    if (err) fprintf(stderr, "%s\n", rv_error_msg(err));
    rv_error_destroy(err);
    rv_avro_codec_destroy(c);
}

static void test_arena(void)
{
    rv_avro_arena_t *a = rv_avro_arena_new();
    REQUIRE(a);
    for (int i = 0; i < 1000; i++) {
        char *p = rv_avro_arena_alloc(a, (size_t)(i % 50) + 1);
        REQUIRE(p);
        memset(p, 1, (size_t)(i % 50) + 1);
    }
    void *big = rv_avro_arena_alloc(a, 1 << 20);
    CHECK(big != NULL);
    CHECK(rv_avro_arena_used(a) >= (1 << 20));
    rv_avro_arena_reset(a);
    CHECK_EQ(rv_avro_arena_used(a), 0);
    CHECK(rv_avro_arena_alloc(a, 10) != NULL);
    rv_avro_arena_destroy(a);
    rv_avro_arena_destroy(NULL);
    rv_avro_codec_destroy(NULL);
    rv_avro_obj_free(NULL);
}

static void test_uuid_and_utf8_checks(void)
{
    const char *good = "0123abcd-ABCD-ef01-9876-543210FEDCba";
    CHECK(rv__uuid_valid(good, 36));
    CHECK(!rv__uuid_valid(good, 35));
    char u[37];
    for (int pos = 0; pos < 36; pos++) {
        for (int b = 0; b < 256; b++) {
            memcpy(u, good, 37);
            u[pos] = (char)b;
            bool dash = pos == 8 || pos == 13 || pos == 18 || pos == 23;
            bool want =
                dash ? b == '-'
                     : (b >= '0' && b <= '9') || (b >= 'a' && b <= 'f') || (b >= 'A' && b <= 'F');
            if (rv__uuid_valid(u, 36) != want) {
                fprintf(stderr, "  uuid byte %d at %d\n", b, pos);
                CHECK(0);
            }
        }
    }
    bool nul;
    CHECK(rv__utf8_valid((const uint8_t *)"plain ascii text here", 21, &nul) && !nul);
    CHECK(rv__utf8_valid((const uint8_t *)"ascii\0with nul", 15, &nul) && nul);
    CHECK(rv__utf8_valid((const uint8_t *)"0123456789abcde\0", 16, &nul) && nul);
    CHECK(rv__utf8_valid((const uint8_t *)"\xf4\x8f\xbf\xbf", 4, NULL));  /* U+10FFFF */
    CHECK(!rv__utf8_valid((const uint8_t *)"\xf4\x90\x80\x80", 4, NULL)); /* past it */
    CHECK(!rv__utf8_valid((const uint8_t *)"\xe0\x9f\xbf", 3, NULL));     /* overlong */
    CHECK(!rv__utf8_valid((const uint8_t *)"\xed\xbf\xbf", 3, NULL));     /* surrogate */
    CHECK(!rv__utf8_valid((const uint8_t *)"abc\xe2\x82", 5, NULL));      /* cut */
    CHECK(!rv__utf8_valid((const uint8_t *)"\x80", 1, NULL));
    CHECK(rv__utf8_valid((const uint8_t *)"\xe2\x82\xac", 3, NULL));
}

static void test_conf_table(void)
{
    rv_conf_t *conf = rv_conf_new();
    const rv_conf_table_t *t = rv_avro_conf();
    rv_avro_opts_t o;
    rv_avro_opts_from_conf(NULL, &o);
    CHECK_EQ(o.framing, RV_AVRO_FRAMING_RAW);
    CHECK_EQ(o.max_depth, 64);
    rv_conf_set(conf, "avro.framing", "confluent", NULL);
    rv_conf_set(conf, "avro.schema.id", "42", NULL);
    rv_conf_set(conf, "avro.on.error", "dead-letter", NULL);
    CHECK_EQ(rv_conf_check(conf, &t, 1, false, NULL), RV_OK);
    rv_avro_opts_from_conf(conf, &o);
    CHECK_EQ(o.framing, RV_AVRO_FRAMING_CONFLUENT);
    CHECK_EQ(o.schema_id, 42);
    rv_avro_deser_opts_t d;
    rv_avro_deser_opts_from_conf(conf, &d);
    CHECK(d.dead_letter && !d.skip_bad);
    rv_conf_set(conf, "avro.framing", "xml", NULL);
    rv_error_t *err = NULL;
    CHECK(rv_conf_check(conf, &t, 1, false, &err) != RV_OK);
    CHECK(err && strstr(rv_error_msg(err), "avro.framing"));
    rv_error_destroy(err);
    rv_conf_destroy(conf);
}

RV_TEST_MAIN(RV_TEST(test_uuid_and_utf8_checks), RV_TEST(test_conf_table),
             RV_TEST(test_cart_schema_json), RV_TEST(test_cart_roundtrip_raw),
             RV_TEST(test_cart_roundtrip_confluent), RV_TEST(test_cart_known_bytes),
             RV_TEST(test_all_types_roundtrip_raw), RV_TEST(test_all_types_roundtrip_confluent),
             RV_TEST(test_confluent_header_errors), RV_TEST(test_encode_errors),
             RV_TEST(test_description_errors), RV_TEST(test_arena))
