/* libFuzzer target for both Avro decoders.
 *
 * The first input byte picks a decoder, the rest is the message:
 *   0  declarative, cart command, own schema (identity plan)
 *   1  declarative, every type, own schema
 *   2  declarative, cart command, resolving a writer schema with an extra
 *      recursive field, a union-typed count and an enum action
 *   3  flavour 2 (validator + avro-c + user function), cart command
 *   4  flavour 2, every type (the read function walks the whole value)
 *   5  declarative, cart command, Confluent framing with two writer ids
 * Invariants checked beyond "no crash, no leak, no over-read": a successful
 * declarative decode re-encodes, and that encoding decodes to an equal
 * struct. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rivulet/avro.h"
#include "test_types.h"

static const char *writer2 =
    "{\"type\":\"record\",\"name\":\"ShoppingCartCmd\",\"fields\":["
    "{\"name\":\"action\",\"type\":[\"null\",\"string\",\"bytes\"]},"
    "{\"name\":\"tree\",\"type\":{\"type\":\"record\",\"name\":\"Node\",\"fields\":["
    "{\"name\":\"v\",\"type\":{\"type\":\"map\",\"values\":\"float\"}},"
    "{\"name\":\"next\",\"type\":[\"null\",\"Node\"]}]}},"
    "{\"name\":\"cartId\",\"type\":\"string\"},"
    "{\"name\":\"ownerOrItem\",\"type\":\"bytes\"},"
    "{\"name\":\"e\",\"type\":{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\",\"B\"]}},"
    "{\"name\":\"count\",\"type\":[\"int\",\"null\",\"long\"]}]}";

static rv_avro_codec_t *cart, *all, *cart_resolving, *cart_confluent;
static rv_avro_generic_t *gen_cart, *gen_all;

/* Reads every leaf of a generic value, so avro-c's accessors run over it. */
static void walk(avro_value_t *v, int depth)
{
    if (depth > 100) return;
    size_t n = 0;
    const char *s;
    const void *b;
    int32_t i;
    int64_t l;
    avro_value_t child, branch;
    switch (avro_value_get_type(v)) {
    case AVRO_STRING:
        avro_value_get_string(v, &s, &n);
        break;
    case AVRO_BYTES:
        avro_value_get_bytes(v, &b, &n);
        break;
    case AVRO_FIXED:
        avro_value_get_fixed(v, &b, &n);
        break;
    case AVRO_INT32:
        avro_value_get_int(v, &i);
        break;
    case AVRO_INT64:
        avro_value_get_long(v, &l);
        break;
    case AVRO_ENUM:
        avro_value_get_enum(v, &i);
        break;
    case AVRO_UNION:
        if (avro_value_get_current_branch(v, &branch) == 0) walk(&branch, depth + 1);
        break;
    case AVRO_RECORD:
    case AVRO_ARRAY:
    case AVRO_MAP:
        avro_value_get_size(v, &n);
        for (size_t k = 0; k < n; k++)
            if (avro_value_get_by_index(v, k, &child, NULL) == 0) walk(&child, depth + 1);
        break;
    default:
        break;
    }
}

static rv_err_t walk_read(rv_avro_generic_t *g, avro_value_t *v, void **out, rv_error_t **errp,
                          void *opaque)
{
    (void)g;
    (void)errp;
    (void)opaque;
    walk(v, 0);
    *out = malloc(1);
    return RV_OK;
}

static rv_avro_generic_t *gen_for(const rv_avro_type_t *t)
{
    char *json = rv_avro_schema_json(t, NULL);
    rv_avro_generic_def_t def = {.schema_json = json, .read = walk_read, .free_obj = free};
    rv_avro_generic_t *g = rv_avro_generic_new(&def, NULL, NULL);
    free(json);
    return g;
}

static void cleanup(void)
{
    rv_avro_codec_destroy(cart);
    rv_avro_codec_destroy(all);
    rv_avro_codec_destroy(cart_resolving);
    rv_avro_codec_destroy(cart_confluent);
    rv_avro_generic_destroy(gen_cart);
    rv_avro_generic_destroy(gen_all);
}

static void init(void)
{
    atexit(cleanup);
    rv_error_t *err = NULL;
    cart = rv_avro_codec_new(&cart_cmd_type, NULL, &err);
    all = rv_avro_codec_new(&all_types_type, NULL, &err);
    cart_resolving = rv_avro_codec_new(&cart_cmd_type, NULL, &err);
    if (cart_resolving && rv_avro_codec_set_writer_schema(cart_resolving, writer2, &err))
        cart_resolving = NULL;
    rv_avro_opts_t o = {.framing = RV_AVRO_FRAMING_CONFLUENT, .schema_id = 1};
    cart_confluent = rv_avro_codec_new(&cart_cmd_type, &o, &err);
    if (cart_confluent && rv_avro_codec_add_writer_schema(cart_confluent, 2, writer2, &err))
        cart_confluent = NULL;
    gen_cart = gen_for(&cart_cmd_type);
    gen_all = gen_for(&all_types_type);
    if (!cart || !all || !cart_resolving || !cart_confluent || !gen_cart || !gen_all) {
        fprintf(stderr, "fuzz init: %s\n", rv_error_msg(err));
        abort();
    }
}

static void declarative(const rv_avro_codec_t *c, const uint8_t *p, size_t n, bool reencode)
{
    rv_error_t *err = NULL;
    void *obj = rv_avro_decode_new(c, p, n, &err);
    if (!obj) {
        if (rv_error_code(err) != RV_ERR_DECODE) {
            fprintf(stderr, "unexpected error code: %s\n", rv_error_msg(err));
            abort();
        }
        rv_error_destroy(err);
        return;
    }
    if (reencode) {
        const rv_avro_type_t *t = rv_avro_codec_type(c);
        rv_avro_buf_t b = {0};
        if (rv_avro_encode(c, obj, &b, &err) != RV_OK) {
            fprintf(stderr, "decoded value does not encode: %s\n", rv_error_msg(err));
            abort();
        }
        void *again = rv_avro_decode_new(c, b.data, b.len, &err);
        if (!again || !rv_avro_equal(t, obj, again)) {
            fprintf(stderr, "re-encoded value decodes differently\n");
            abort();
        }
        rv_avro_obj_free(again);
        rv_avro_buf_free(&b);
    }
    rv_avro_obj_free(obj);
}

static void generic(rv_avro_generic_t *g, const uint8_t *p, size_t n)
{
    void *out = NULL;
    rv_error_t *err = NULL;
    if (rv_avro_generic_decode(g, p, n, &out, &err) == RV_OK) free(out);
    rv_error_destroy(err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!cart) init();
    if (size < 1) return 0;
    /* A copy of exactly the message's size, so any over-read is caught. */
    size_t n = size - 1;
    uint8_t *p = malloc(n ? n : 1);
    memcpy(p, data + 1, n);
    switch (data[0] % 6) {
    case 0:
        declarative(cart, p, n, true);
        break;
    case 1:
        declarative(all, p, n, true);
        break;
    case 2:
        declarative(cart_resolving, p, n, false);
        break;
    case 3:
        generic(gen_cart, p, n);
        break;
    case 4:
        generic(gen_all, p, n);
        break;
    case 5:
        declarative(cart_confluent, p, n, false);
        break;
    }
    free(p);
    return 0;
}
