/* Bad input: every malformed message is an RV_ERR_DECODE error naming the
 * field and the byte offset; nothing is read past the buffer (ASan checks
 * that in the sanitizer build) and nothing is allocated beyond what the
 * input can stand for. */
#include <stdlib.h>
#include <string.h>

#include "rv_test.h"
#include "test_types.h"

/* Decodes and expects an RV_ERR_DECODE whose message contains `want`. */
static void expect_err(const rv_avro_codec_t *c, const uint8_t *p, size_t n, const char *want)
{
    rv_avro_arena_t *arena = rv_avro_arena_new();
    uint8_t obj[4096];
    memset(obj, 0x5A, sizeof(obj));
    rv_error_t *err = NULL;
    rv_err_t e = rv_avro_decode(c, p, n, obj, arena, &err);
    CHECK_EQ(e, RV_ERR_DECODE);
    if (!err || (want && !strstr(rv_error_msg(err), want))) {
        fprintf(stderr, "  got \"%s\"\n  want \"%s\"\n", err ? rv_error_msg(err) : "(none)", want);
        CHECK(0);
    }
    /* On error the struct is zeroed: no half-decoded pointers survive. */
    size_t cs = rv_avro_codec_type(c)->c_size;
    for (size_t i = 0; i < cs; i++)
        if (obj[i] != 0) {
            CHECK(!"struct not zeroed after an error");
            break;
        }
    /* And the heap variant frees everything (LeakSanitizer checks). */
    void *h = rv_avro_decode_new(c, p, n, NULL);
    CHECK(h == NULL);
    rv_error_destroy(err);
    rv_avro_arena_destroy(arena);
}

/* A copy in a heap block of exactly n bytes, so ASan sees any over-read. */
static uint8_t *exact(const uint8_t *p, size_t n)
{
    uint8_t *q = malloc(n ? n : 1);
    memcpy(q, p, n);
    return q;
}

static rv_avro_codec_t *cart_codec(void)
{
    return rv_avro_codec_new(&cart_cmd_type, NULL, NULL);
}

/* cart_cases[2] is 84 bytes: 0x0e "AddItem" 0x48 uuid 0x48 uuid 0x02 0x06. */
static uint8_t *cart_bytes(rv_avro_codec_t *c, size_t *n)
{
    rv_avro_buf_t b = {0};
    rv_avro_encode(c, &cart_cases[2].v, &b, NULL);
    *n = b.len;
    return b.data;
}

static void test_truncated_everywhere(void)
{
    rv_avro_codec_t *c = cart_codec();
    size_t n;
    uint8_t *full = cart_bytes(c, &n);
    REQUIRE(n == 84);
    for (size_t k = 0; k < n; k++) {
        uint8_t *p = exact(full, k);
        expect_err(c, p, k, "ShoppingCartCmd");
        free(p);
    }
    uint8_t *p = exact(full, 83);
    expect_err(c, p, 83,
               "ShoppingCartCmd.count: truncated input: a varint needs more bytes than "
               "the 0 left at byte 83");
    free(p);
    p = exact(full, 40);
    expect_err(c, p, 40,
               "ShoppingCartCmd.cartId: uuid length 36 exceeds the 31 remaining bytes "
               "at byte 8");
    free(p);
    free(full);
    rv_avro_codec_destroy(c);
}

static void mutate(rv_avro_codec_t *c, size_t at, uint8_t val, const char *want)
{
    size_t n;
    uint8_t *p = cart_bytes(c, &n);
    p[at] = val;
    uint8_t *q = exact(p, n);
    expect_err(c, q, n, want);
    free(q);
    free(p);
}

static void test_lengths(void)
{
    rv_avro_codec_t *c = cart_codec();
    size_t n;
    uint8_t *p = cart_bytes(c, &n);
    p[0] = 0x7e; /* 63, with 39 bytes after the prefix */
    uint8_t *q = exact(p, 40);
    expect_err(c, q, 40,
               "ShoppingCartCmd.action: string length 63 exceeds the 39 remaining bytes at byte 0");
    free(q);
    free(p);
    mutate(c, 0, 0x01, "ShoppingCartCmd.action: negative string length -1 at byte 0");
    mutate(c, 45, 0x7f, "ShoppingCartCmd.ownerOrItem: negative uuid length -64 at byte 45");
    rv_avro_codec_destroy(c);
}

static void test_union_and_text(void)
{
    rv_avro_codec_t *c = cart_codec();
    mutate(c, 82, 0x0a, "ShoppingCartCmd.count: union branch 5 out of range [0,1] at byte 82");
    mutate(c, 82, 0x01, "ShoppingCartCmd.count: union branch -1 out of range [0,1] at byte 82");
    mutate(c, 1, 0xff, "ShoppingCartCmd.action: string is not valid UTF-8 at byte 1");
    mutate(c, 3, 0x00, "ShoppingCartCmd.action: string holds U+0000");
    mutate(c, 9, 'g', "ShoppingCartCmd.cartId: not a uuid");
    mutate(c, 54, '_', "ShoppingCartCmd.ownerOrItem: not a uuid");
    /* A surrogate encoded in UTF-8 (ED A0 80) and an overlong '/' (C0 AF). */
    size_t n;
    uint8_t *p = cart_bytes(c, &n);
    memcpy(p + 1, "\xed\xa0\x80", 3);
    expect_err(c, p, n, "ShoppingCartCmd.action: string is not valid UTF-8");
    memcpy(p + 1, "\xc0\xaf", 2);
    expect_err(c, p, n, "ShoppingCartCmd.action: string is not valid UTF-8");
    free(p);
    rv_avro_codec_destroy(c);
}

static void test_trailing_and_varints(void)
{
    rv_avro_codec_t *c = cart_codec();
    size_t n;
    uint8_t *p = cart_bytes(c, &n);
    uint8_t buf[128];
    memcpy(buf, p, n);
    buf[n] = 0;
    expect_err(c, buf, n + 1, "ShoppingCartCmd: 1 trailing bytes after the record at byte 84");
    /* count as a 6-byte int varint. */
    memcpy(buf + 83, "\x80\x80\x80\x80\x80\x00", 6);
    expect_err(c, buf, 89, "ShoppingCartCmd.count: int varint longer than 5 bytes");
    /* count = 2^32 does not fit an int. */
    memcpy(buf + 83, "\x80\x80\x80\x80\x20", 5);
    expect_err(c, buf, 88, "ShoppingCartCmd.count: int varint overflows 32 bits");
    free(p);
    rv_avro_codec_destroy(c);
}

typedef struct arr_s {
    rv_avro_array_t a;
} arr_s_t;

static const rv_avro_type_t ints_t = RV_AVRO_ARRAY_TYPE(&rv_avro_int);
static const rv_avro_field_t arr_fields[] = {RV_AVRO_FIELD(arr_s_t, a, &ints_t)};
static const rv_avro_type_t arr_type = RV_AVRO_RECORD_TYPE(arr_s_t, "Arr", NULL, arr_fields);

static void test_counts_do_not_allocate(void)
{
    rv_avro_codec_t *c = rv_avro_codec_new(&arr_type, NULL, NULL);
    REQUIRE(c);
    /* 2^40 items promised in 6 bytes. */
    const uint8_t huge[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x40};
    rv_avro_arena_t *arena = rv_avro_arena_new();
    arr_s_t out;
    rv_error_t *err = NULL;
    CHECK_EQ(rv_avro_decode(c, huge, sizeof(huge), &out, arena, &err), RV_ERR_DECODE);
    CHECK(err && strstr(rv_error_msg(err), "Arr.a: block of 1099511627776 items needs at least "
                                           "1099511627776 bytes, 0 remain at byte 0"));
    CHECK_EQ(rv_avro_arena_used(arena), 0);
    rv_error_destroy(err);
    err = NULL;
    /* A negative count (-2) with a block size larger than the input. */
    const uint8_t neg[] = {0x03, 0x7e, 0x02, 0x04, 0x00};
    expect_err(c, neg, sizeof(neg), "Arr.a: block size 63 is negative or exceeds the 3 remaining");
    /* The smallest count, whose negation overflows. */
    const uint8_t minc[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    expect_err(c, minc, sizeof(minc), "Arr.a: block count out of range");
    /* A long varint of 11 bytes. */
    const uint8_t longv[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00};
    expect_err(c, longv, sizeof(longv), "Arr.a: varint longer than 10 bytes");
    /* Items: the second item's int is cut. */
    const uint8_t cut[] = {0x04, 0x02, 0x80};
    expect_err(c, cut, sizeof(cut), "Arr.a[1]: truncated input");
    /* Negative count in a good block: decodes. */
    const uint8_t good[] = {0x03, 0x04, 0x02, 0x04, 0x00};
    CHECK_EQ(rv_avro_decode(c, good, sizeof(good), &out, arena, NULL), RV_OK);
    CHECK_EQ(out.a.n, 2);
    CHECK_EQ(((int32_t *)out.a.items)[1], 2);
    /* Two blocks join into one array. */
    const uint8_t two[] = {0x02, 0x02, 0x04, 0x04, 0x06, 0x00};
    CHECK_EQ(rv_avro_decode(c, two, sizeof(two), &out, arena, NULL), RV_OK);
    CHECK_EQ(out.a.n, 3);
    CHECK_EQ(((int32_t *)out.a.items)[2], 3);
    rv_avro_arena_destroy(arena);
    rv_avro_codec_destroy(c);
}

static void test_enum_and_bool(void)
{
    rv_avro_codec_t *c = rv_avro_codec_new(&all_types_type, NULL, NULL);
    REQUIRE(c);
    all_types_t v;
    all_types_case(1, &v);
    rv_avro_buf_t b = {0};
    REQUIRE(rv_avro_encode(c, &v, &b, NULL) == RV_OK);
    /* b=0 (byte 0), i, l, f(4), d(8), s(1), by(1), color at byte 17. */
    CHECK_EQ(b.data[17], 0);
    b.data[17] = 0x06;
    expect_err(c, b.data, b.len, "AllTypes.color: enum symbol 3 out of range [0,2] at byte 17");
    b.data[17] = 0;
    b.data[0] = 2;
    expect_err(c, b.data, b.len, "AllTypes.b: boolean byte 2 is neither 0 nor 1 at byte 0");
    rv_avro_buf_free(&b);
    rv_avro_codec_destroy(c);
}

typedef struct deep {
    rv_avro_array_t m; /* array<array<array<int>>> */
} deep_t;
static const rv_avro_type_t d1 = RV_AVRO_ARRAY_TYPE(&rv_avro_int);
static const rv_avro_type_t d2 = RV_AVRO_ARRAY_TYPE(&d1);
static const rv_avro_type_t d3 = RV_AVRO_ARRAY_TYPE(&d2);
static const rv_avro_field_t deep_fields[] = {RV_AVRO_FIELD(deep_t, m, &d3)};
static const rv_avro_type_t deep_type = RV_AVRO_RECORD_TYPE(deep_t, "Deep", NULL, deep_fields);

static void test_depth_limit(void)
{
    /* [[[7]]]: record + 3 arrays = 4 levels. */
    const uint8_t in[] = {0x02, 0x02, 0x02, 0x0e, 0x00, 0x00, 0x00};
    rv_avro_opts_t o = {.max_depth = 3};
    rv_avro_codec_t *c = rv_avro_codec_new(&deep_type, &o, NULL);
    REQUIRE(c);
    expect_err(c, in, sizeof(in), "Deep.m[0][0]: nested deeper than 3 levels at byte 2");
    rv_avro_codec_destroy(c);
    o.max_depth = 4;
    c = rv_avro_codec_new(&deep_type, &o, NULL);
    rv_avro_arena_t *arena = rv_avro_arena_new();
    deep_t out;
    CHECK_EQ(rv_avro_decode(c, in, sizeof(in), &out, arena, NULL), RV_OK);
    rv_avro_arena_destroy(arena);
    rv_avro_codec_destroy(c);
}

/* A writer with an extra recursive field the reader skips: deeply nested
 * input stops at the depth limit instead of exhausting the stack. */
static void test_deep_recursive_writer(void)
{
    const char *writer =
        "{\"type\":\"record\",\"name\":\"ShoppingCartCmd\",\"fields\":["
        "{\"name\":\"action\",\"type\":\"string\"},"
        "{\"name\":\"tree\",\"type\":{\"type\":\"record\",\"name\":\"Node\",\"fields\":["
        "{\"name\":\"next\",\"type\":[\"null\",\"Node\"]}]}},"
        "{\"name\":\"cartId\",\"type\":\"string\"},"
        "{\"name\":\"ownerOrItem\",\"type\":\"string\"},"
        "{\"name\":\"count\",\"type\":[\"null\",\"int\"]}]}";
    rv_avro_codec_t *c = cart_codec();
    rv_error_t *err = NULL;
    CHECK_EQ(rv_avro_codec_set_writer_schema(c, writer, &err), RV_OK);
    if (err) fprintf(stderr, "%s\n", rv_error_msg(err));
    size_t depth = 200000;
    uint8_t *p = malloc(depth + 64);
    size_t n = 0;
    p[n++] = 0x02;
    p[n++] = 'x';
    for (size_t i = 0; i < depth; i++)
        p[n++] = 0x02; /* branch Node, again and again */
    expect_err(c, p, n, "ShoppingCartCmd.tree.next.next");
    expect_err(c, p, n, "nested deeper than 64 levels");
    /* A shallow tree is skipped and the cart fields still decode. */
    n = 0;
    p[n++] = 0x02;
    p[n++] = 'x';
    p[n++] = 0x02;
    p[n++] = 0x00; /* tree.next.next = null */
    p[n++] = 0x48;
    memcpy(p + n, cart_cases[0].v.cart_id, 36);
    n += 36;
    p[n++] = 0x48;
    memcpy(p + n, cart_cases[0].v.owner_or_item, 36);
    n += 36;
    p[n++] = 0x00;
    cart_cmd_t *out = rv_avro_decode_new(c, p, n, NULL);
    CHECK(out != NULL);
    if (out) {
        CHECK_STR(out->action, "x");
        CHECK_STR(out->cart_id, cart_cases[0].v.cart_id);
        CHECK(!out->has_count);
    }
    rv_avro_obj_free(out);
    free(p);
    rv_error_destroy(err);
    rv_avro_codec_destroy(c);
}

/* Zero-size items (null) cannot make a few bytes loop 2^62 times. */
static void test_zero_size_items(void)
{
    const char *writer = "{\"type\":\"record\",\"name\":\"Arr\",\"fields\":["
                         "{\"name\":\"nulls\",\"type\":{\"type\":\"array\",\"items\":\"null\"}},"
                         "{\"name\":\"a\",\"type\":{\"type\":\"array\",\"items\":\"int\"}}]}";
    rv_avro_codec_t *c = rv_avro_codec_new(&arr_type, NULL, NULL);
    REQUIRE(c);
    REQUIRE(rv_avro_codec_set_writer_schema(c, writer, NULL) == RV_OK);
    const uint8_t many[] = {0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0x00, 0x00};
    expect_err(c, many, sizeof(many), "Arr.nulls: block of 4611686018427387903 zero-size items");
    const uint8_t few[] = {0x0a, 0x00, 0x02, 0x08, 0x00};
    arr_s_t out;
    rv_avro_arena_t *arena = rv_avro_arena_new();
    CHECK_EQ(rv_avro_decode(c, few, sizeof(few), &out, arena, NULL), RV_OK);
    CHECK_EQ(out.a.n, 1);
    rv_avro_arena_destroy(arena);
    rv_avro_codec_destroy(c);
}

RV_TEST_MAIN(RV_TEST(test_truncated_everywhere), RV_TEST(test_lengths),
             RV_TEST(test_union_and_text), RV_TEST(test_trailing_and_varints),
             RV_TEST(test_counts_do_not_allocate), RV_TEST(test_enum_and_bool),
             RV_TEST(test_depth_limit), RV_TEST(test_deep_recursive_writer),
             RV_TEST(test_zero_size_items))
