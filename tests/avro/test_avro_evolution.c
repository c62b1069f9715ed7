/* Schema evolution: bytes written with an older or newer writer schema read
 * into the reader's struct, in both flavours and both framings. Each case
 * states its expected result. */
#include <stdlib.h>
#include <string.h>

#include "cart_generic.h"
#include "rv_test.h"

/* The reader of the "added fields" case: the cart command plus fields a
 * newer reader added, each with a default. */
typedef struct cart_v2 {
    char *action;
    char cart_id[RV_AVRO_UUID_LEN];
    char owner_or_item[RV_AVRO_UUID_LEN];
    bool has_count;
    int32_t count;
    char *channel;        /* default "web" */
    int64_t priority;     /* default 5 */
    rv_avro_array_t tags; /* default [] */
    char *note;           /* optional, default null */
    int level;            /* enum, default "LOW" */
    bool flag;            /* default true */
    double ratio;         /* default 0.5 */
    rv_avro_bytes_t blob; /* default "\u00ff" */
} cart_v2_t;

static const rv_avro_type_t tags_t = RV_AVRO_ARRAY_TYPE(&rv_avro_string);
static const char *const level_syms[] = {"LOW", "HIGH"};
static const rv_avro_type_t level_t = RV_AVRO_ENUM_TYPE("Level", NULL, level_syms);
static const rv_avro_field_t v2_fields[] = {
    RV_AVRO_FIELD_AS(cart_v2_t, action, "action", &rv_avro_string),
    RV_AVRO_FIELD_AS(cart_v2_t, cart_id, "cartId", &rv_avro_uuid),
    RV_AVRO_FIELD_AS(cart_v2_t, owner_or_item, "ownerOrItem", &rv_avro_uuid),
    RV_AVRO_OPTIONAL_AS(cart_v2_t, count, "count", has_count, &rv_avro_int),
    RV_AVRO_FIELD_DEFAULT(cart_v2_t, channel, "channel", &rv_avro_string, "\"web\""),
    RV_AVRO_FIELD_DEFAULT(cart_v2_t, priority, "priority", &rv_avro_long, "5"),
    RV_AVRO_FIELD_DEFAULT(cart_v2_t, tags, "tags", &tags_t, "[]"),
    RV_AVRO_OPTIONAL_PTR(cart_v2_t, note, "note", &rv_avro_string),
    RV_AVRO_FIELD_DEFAULT(cart_v2_t, level, "level", &level_t, "\"LOW\""),
    RV_AVRO_FIELD_DEFAULT(cart_v2_t, flag, "flag", &rv_avro_boolean, "true"),
    RV_AVRO_FIELD_DEFAULT(cart_v2_t, ratio, "ratio", &rv_avro_double, "0.5"),
    RV_AVRO_FIELD_DEFAULT(cart_v2_t, blob, "blob", &rv_avro_bytes, "\"\\u00ff\""),
};
static const rv_avro_type_t cart_v2_type =
    RV_AVRO_RECORD_TYPE(cart_v2_t, "ShoppingCartCmd", CART_CMD_SCHEMA_NS, v2_fields);

static rv_avro_buf_t encode_v1(size_t k)
{
    rv_avro_codec_t *c = rv_avro_codec_new(&cart_cmd_type, NULL, NULL);
    rv_avro_buf_t b = {0};
    rv_avro_encode(c, &cart_cases[k].v, &b, NULL);
    rv_avro_codec_destroy(c);
    return b;
}

/* Case 1: added fields with defaults. Writer: v1 (4 fields); reader: v2.
 * Expected: the 4 fields as written, every added field at its default. */
static void test_added_fields_take_defaults(void)
{
    rv_avro_codec_t *r = rv_avro_codec_new(&cart_v2_type, NULL, NULL);
    REQUIRE(r);
    char *v1 = rv_avro_schema_json(&cart_cmd_type, NULL);
    rv_error_t *err = NULL;
    REQUIRE(rv_avro_codec_set_writer_schema(r, v1, &err) == RV_OK);
    for (size_t k = 0; k < n_cart_cases; k++) {
        rv_avro_buf_t b = encode_v1(k);
        cart_v2_t *o = rv_avro_decode_new(r, b.data, b.len, &err);
        REQUIRE(o);
        const cart_cmd_t *w = &cart_cases[k].v;
        CHECK_STR(o->action, w->action);
        CHECK_STR(o->cart_id, w->cart_id);
        CHECK_STR(o->owner_or_item, w->owner_or_item);
        CHECK_EQ(o->has_count, w->has_count);
        CHECK_EQ(o->count, w->count);
        CHECK_STR(o->channel, "web");
        CHECK_EQ(o->priority, 5);
        CHECK_EQ(o->tags.n, 0);
        CHECK(o->note == NULL);
        CHECK_EQ(o->level, 0);
        CHECK_EQ(o->flag, true);
        CHECK(o->ratio == 0.5);
        CHECK_EQ(o->blob.len, 1);
        CHECK_EQ(o->blob.data[0], 0xff);
        rv_avro_obj_free(o);
        rv_avro_buf_free(&b);
    }
    free(v1);
    rv_error_destroy(err);
    rv_avro_codec_destroy(r);
}

/* Case 2: removed fields. Writer: v2 (more fields, some set); reader: v1.
 * Expected: the v1 fields; the others are skipped. */
static void test_removed_fields_are_skipped(void)
{
    rv_avro_codec_t *w = rv_avro_codec_new(&cart_v2_type, NULL, NULL);
    rv_avro_codec_t *r = rv_avro_codec_new(&cart_cmd_type, NULL, NULL);
    REQUIRE(w && r);
    REQUIRE(rv_avro_codec_set_writer_schema(r, rv_avro_codec_schema_json(w), NULL) == RV_OK);
    char *tags[] = {"a", "bb"};
    cart_v2_t v = {.action = "AddItem",
                   .has_count = true,
                   .count = 9,
                   .channel = "app",
                   .priority = 1LL << 40,
                   .tags = {tags, 2},
                   .note = "n",
                   .level = 1,
                   .flag = false,
                   .ratio = 2.0,
                   .blob = {(uint8_t *)"xyz", 3}};
    strcpy(v.cart_id, cart_cases[0].v.cart_id);
    strcpy(v.owner_or_item, cart_cases[0].v.owner_or_item);
    rv_avro_buf_t b = {0};
    REQUIRE(rv_avro_encode(w, &v, &b, NULL) == RV_OK);
    cart_cmd_t *o = rv_avro_decode_new(r, b.data, b.len, NULL);
    REQUIRE(o);
    CHECK_STR(o->action, "AddItem");
    CHECK_STR(o->cart_id, v.cart_id);
    CHECK_EQ(o->has_count, true);
    CHECK_EQ(o->count, 9);
    rv_avro_obj_free(o);
    rv_avro_buf_free(&b);
    rv_avro_codec_destroy(w);
    rv_avro_codec_destroy(r);
}

/* Case 3: widened numbers. Writer {qty int, price float, n long, when int};
 * reader {qty long, price double, n double, when timestamp-millis}, fields
 * in another order. Expected: the same values, widened. */
typedef struct nums_w {
    int32_t qty;
    float price;
    int64_t n;
    int32_t when;
} nums_w_t;
typedef struct nums_r {
    double n;
    int64_t when;
    int64_t qty;
    double price;
} nums_r_t;
static const rv_avro_field_t nw_fields[] = {
    RV_AVRO_FIELD(nums_w_t, qty, &rv_avro_int), RV_AVRO_FIELD(nums_w_t, price, &rv_avro_float),
    RV_AVRO_FIELD(nums_w_t, n, &rv_avro_long), RV_AVRO_FIELD(nums_w_t, when, &rv_avro_int)};
static const rv_avro_field_t nr_fields[] = {
    RV_AVRO_FIELD(nums_r_t, n, &rv_avro_double),
    RV_AVRO_FIELD(nums_r_t, when, &rv_avro_timestamp_millis),
    RV_AVRO_FIELD(nums_r_t, qty, &rv_avro_long), RV_AVRO_FIELD(nums_r_t, price, &rv_avro_double)};
static const rv_avro_type_t nw_type = RV_AVRO_RECORD_TYPE(nums_w_t, "Nums", NULL, nw_fields);
static const rv_avro_type_t nr_type = RV_AVRO_RECORD_TYPE(nums_r_t, "Nums", NULL, nr_fields);

static void test_widened_numbers(void)
{
    rv_avro_codec_t *w = rv_avro_codec_new(&nw_type, NULL, NULL);
    rv_avro_codec_t *r = rv_avro_codec_new(&nr_type, NULL, NULL);
    REQUIRE(w && r);
    REQUIRE(rv_avro_codec_set_writer_schema(r, rv_avro_codec_schema_json(w), NULL) == RV_OK);
    nums_w_t v = {-2147483647 - 1, 0.375f, 1LL << 53, 123456};
    rv_avro_buf_t b = {0};
    REQUIRE(rv_avro_encode(w, &v, &b, NULL) == RV_OK);
    nums_r_t o;
    rv_avro_arena_t *a = rv_avro_arena_new();
    CHECK_EQ(rv_avro_decode(r, b.data, b.len, &o, a, NULL), RV_OK);
    CHECK_EQ(o.qty, -2147483648LL);
    CHECK(o.price == 0.375);
    CHECK(o.n == 9007199254740992.0);
    CHECK_EQ(o.when, 123456);
    rv_avro_arena_destroy(a);
    rv_avro_buf_free(&b);
    rv_avro_codec_destroy(w);
    rv_avro_codec_destroy(r);
}

/* Case 4: enum symbols by name, unions on either side. */
typedef struct ev {
    int e;
    int32_t x;
    bool has_y;
    int32_t y;
} ev_t;
static const char *const ev_syms[] = {"C", "B", "A"};
static const rv_avro_type_t ev_enum = RV_AVRO_ENUM_TYPE("E", NULL, ev_syms);
static const rv_avro_field_t ev_fields[] = {RV_AVRO_FIELD(ev_t, e, &ev_enum),
                                            RV_AVRO_FIELD(ev_t, x, &rv_avro_int),
                                            RV_AVRO_OPTIONAL(ev_t, y, has_y, &rv_avro_int)};
static const rv_avro_type_t ev_type = RV_AVRO_RECORD_TYPE(ev_t, "Ev", NULL, ev_fields);

static void test_enums_and_unions(void)
{
    /* Writer: e enum [A,B,C,D]; x ["null","int"]; y plain int. */
    const char *writer = "{\"type\":\"record\",\"name\":\"Ev\",\"fields\":["
                         "{\"name\":\"e\",\"type\":{\"type\":\"enum\",\"name\":\"E\","
                         "\"symbols\":[\"A\",\"B\",\"C\",\"D\"]}},"
                         "{\"name\":\"x\",\"type\":[\"null\",\"int\"]},"
                         "{\"name\":\"y\",\"type\":\"int\"}]}";
    rv_avro_codec_t *r = rv_avro_codec_new(&ev_type, NULL, NULL);
    REQUIRE(r);
    rv_error_t *err = NULL;
    REQUIRE(rv_avro_codec_set_writer_schema(r, writer, &err) == RV_OK);
    rv_avro_arena_t *a = rv_avro_arena_new();
    ev_t o;
    /* e = A (0 -> reader 2), x = branch 1 int 3, y = 4. Expected: e 2, x 3, y present 4. */
    const uint8_t ok[] = {0x00, 0x02, 0x06, 0x08};
    CHECK_EQ(rv_avro_decode(r, ok, sizeof(ok), &o, a, &err), RV_OK);
    CHECK_EQ(o.e, 2);
    CHECK_EQ(o.x, 3);
    CHECK(o.has_y && o.y == 4);
    /* e = D: unknown to the reader. Expected: a decode error naming the symbol. */
    const uint8_t d[] = {0x06, 0x02, 0x06, 0x08};
    CHECK_EQ(rv_avro_decode(r, d, sizeof(d), &o, a, &err), RV_ERR_DECODE);
    CHECK(err &&
          strstr(rv_error_msg(err), "Ev.e: enum symbol D is unknown to the reader's E at byte 0"));
    rv_error_destroy(err);
    err = NULL;
    /* x = null, but the reader's x is not optional. Expected: a decode error. */
    const uint8_t n[] = {0x02, 0x00, 0x08};
    CHECK_EQ(rv_avro_decode(r, n, sizeof(n), &o, a, &err), RV_ERR_DECODE);
    CHECK(err && strstr(rv_error_msg(err), "Ev.x: null written for a field that is not optional"));
    rv_error_destroy(err);
    rv_avro_arena_destroy(a);
    rv_avro_codec_destroy(r);
}

/* Case 5: incompatible writers are refused when they are added. */
static void test_incompatible_writers(void)
{
    rv_avro_codec_t *r = rv_avro_codec_new(&cart_cmd_type, NULL, NULL);
    rv_error_t *err = NULL;
    const char *w1 = "{\"type\":\"record\",\"name\":\"C\",\"fields\":["
                     "{\"name\":\"action\",\"type\":\"int\"},"
                     "{\"name\":\"cartId\",\"type\":\"string\"},"
                     "{\"name\":\"ownerOrItem\",\"type\":\"string\"}]}";
    CHECK(rv_avro_codec_set_writer_schema(r, w1, &err) != RV_OK);
    CHECK(err && strstr(rv_error_msg(err),
                        "ShoppingCartCmd.action: the writer's int cannot be read as a string"));
    rv_error_destroy(err);
    err = NULL;
    /* Expected: a reader field with no default that the writer lacks. */
    const char *w2 = "{\"type\":\"record\",\"name\":\"C\",\"fields\":["
                     "{\"name\":\"action\",\"type\":\"string\"},"
                     "{\"name\":\"cartId\",\"type\":\"string\"}]}";
    CHECK(rv_avro_codec_set_writer_schema(r, w2, &err) != RV_OK);
    CHECK(err && strstr(rv_error_msg(err), "ShoppingCartCmd.ownerOrItem: the writer has no such "
                                           "field and the reader gives no default"));
    rv_error_destroy(err);
    err = NULL;
    /* Expected: not JSON Avro accepts. */
    CHECK(rv_avro_codec_set_writer_schema(r, "{\"type\":", &err) != RV_OK);
    CHECK(err && strstr(rv_error_msg(err), "invalid schema"));
    rv_error_destroy(err);
    rv_avro_codec_destroy(r);
}

/* Case 6: Confluent framing picks the writer by id: id 1 is v1, the codec's
 * own id (2) is v2. Expected: both decode into v2. */
static void test_confluent_ids_pick_the_writer(void)
{
    rv_avro_opts_t o = {.framing = RV_AVRO_FRAMING_CONFLUENT, .schema_id = 2};
    rv_avro_codec_t *r = rv_avro_codec_new(&cart_v2_type, &o, NULL);
    REQUIRE(r);
    char *v1 = rv_avro_schema_json(&cart_cmd_type, NULL);
    REQUIRE(rv_avro_codec_add_writer_schema(r, 1, v1, NULL) == RV_OK);
    CHECK(rv_avro_codec_add_writer_schema(r, 1, v1, NULL) == RV_ERR_INVALID);
    rv_avro_buf_t b = {0};
    rv_avro_frame_confluent(&b, 1);
    rv_avro_buf_t body = encode_v1(2);
    rv_avro_buf_reserve(&b, body.len);
    memcpy(b.data + b.len, body.data, body.len);
    b.len += body.len;
    cart_v2_t *x = rv_avro_decode_new(r, b.data, b.len, NULL);
    REQUIRE(x);
    CHECK_STR(x->channel, "web");
    CHECK_EQ(x->count, 3);
    rv_avro_obj_free(x);
    rv_avro_buf_t b2 = {0};
    cart_v2_t y = {.action = "Delete", .channel = "c", .blob = {(uint8_t *)"", 0}};
    strcpy(y.cart_id, cart_cases[0].v.cart_id);
    strcpy(y.owner_or_item, cart_cases[0].v.owner_or_item);
    REQUIRE(rv_avro_encode(r, &y, &b2, NULL) == RV_OK);
    CHECK_EQ(b2.data[4], 2);
    cart_v2_t *z = rv_avro_decode_new(r, b2.data, b2.len, NULL);
    CHECK(z && rv_avro_equal(&cart_v2_type, z, &y));
    rv_avro_obj_free(z);
    rv_avro_buf_free(&b);
    rv_avro_buf_free(&b2);
    rv_avro_buf_free(&body);
    free(v1);
    rv_avro_codec_destroy(r);
}

/* Flavour 2 with avro-c's resolved reader: a newer writer (extra fields,
 * count widened to long is NOT allowed in this direction, so the writer adds
 * fields only) read with the v1 schema; and a v1 writer read with a reader
 * that adds a field with a default. */
static void test_generic_evolution(void)
{
    char *v1 = rv_avro_schema_json(&cart_cmd_type, NULL);
    char *v2 = rv_avro_schema_json(&cart_v2_type, NULL);
    rv_avro_generic_def_t def = {
        .schema_json = v1, .read = cart_generic_read, .free_obj = cart_generic_free};
    rv_avro_generic_t *g = rv_avro_generic_new(&def, NULL, NULL);
    REQUIRE(g);
    rv_error_t *err = NULL;
    CHECK_EQ(rv_avro_generic_set_writer_schema(g, v2, &err), RV_OK);
    if (err) fprintf(stderr, "%s\n", rv_error_msg(err));
    rv_avro_codec_t *w = rv_avro_codec_new(&cart_v2_type, NULL, NULL);
    char *tags[] = {"t"};
    cart_v2_t v = {.action = "RemoveItem",
                   .has_count = true,
                   .count = -4,
                   .channel = "app",
                   .priority = 7,
                   .tags = {tags, 1},
                   .blob = {(uint8_t *)"b", 1}};
    strcpy(v.cart_id, cart_cases[1].v.cart_id);
    strcpy(v.owner_or_item, cart_cases[1].v.owner_or_item);
    rv_avro_buf_t b = {0};
    REQUIRE(rv_avro_encode(w, &v, &b, NULL) == RV_OK);
    void *out = NULL;
    CHECK_EQ(rv_avro_generic_decode(g, b.data, b.len, &out, &err), RV_OK);
    if (err) fprintf(stderr, "%s\n", rv_error_msg(err));
    cart_cmd_t *c = out;
    CHECK(c && strcmp(c->action, "RemoveItem") == 0 && c->count == -4 && c->has_count);
    cart_generic_free(out);
    rv_error_destroy(err);
    err = NULL;
    /* Bad bytes under the writer schema are caught by rivulet's validator. */
    CHECK_EQ(rv_avro_generic_decode(g, b.data, b.len - 1, &out, &err), RV_ERR_DECODE);
    CHECK(err && strstr(rv_error_msg(err),
                        "ShoppingCartCmd.blob: bytes length 1 exceeds the 0 remaining bytes"));
    rv_error_destroy(err);
    err = NULL;
    /* A reader that adds fields with defaults: avro-c 1.11's resolved reader
     * does not fill defaults, so the writer is refused when it is added. */
    rv_avro_generic_def_t def2 = {
        .schema_json = v2, .read = cart_generic_read, .free_obj = cart_generic_free};
    rv_avro_generic_t *g2 = rv_avro_generic_new(&def2, NULL, NULL);
    REQUIRE(g2);
    CHECK_EQ(rv_avro_generic_set_writer_schema(g2, v1, &err), RV_ERR_UNSUPPORTED);
    CHECK(err && strstr(rv_error_msg(err), "the reader field ShoppingCartCmd.channel is not in "
                                           "the writer's schema"));
    rv_error_destroy(err);
    rv_avro_generic_destroy(g2);
    rv_avro_buf_free(&b);
    rv_avro_codec_destroy(w);
    rv_avro_generic_destroy(g);
    free(v1);
    free(v2);
}

RV_TEST_MAIN(RV_TEST(test_added_fields_take_defaults), RV_TEST(test_removed_fields_are_skipped),
             RV_TEST(test_widened_numbers), RV_TEST(test_enums_and_unions),
             RV_TEST(test_incompatible_writers), RV_TEST(test_confluent_ids_pick_the_writer),
             RV_TEST(test_generic_evolution))
