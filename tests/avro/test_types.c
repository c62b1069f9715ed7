#include "test_types.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const rv_avro_field_t cart_cmd_fields[] = {
    RV_AVRO_FIELD_AS(cart_cmd_t, action, "action", &rv_avro_string),
    RV_AVRO_FIELD_AS(cart_cmd_t, cart_id, "cartId", &rv_avro_uuid),
    RV_AVRO_FIELD_AS(cart_cmd_t, owner_or_item, "ownerOrItem", &rv_avro_uuid),
    RV_AVRO_OPTIONAL_AS(cart_cmd_t, count, "count", has_count, &rv_avro_int),
};
const rv_avro_type_t cart_cmd_type =
    RV_AVRO_RECORD_TYPE(cart_cmd_t, "ShoppingCartCmd", CART_CMD_SCHEMA_NS, cart_cmd_fields);

static const char *const color_symbols[] = {"RED", "GREEN", "BLUE"};
static const rv_avro_type_t color_type = RV_AVRO_ENUM_TYPE("Color", "rivulet.test", color_symbols);
static const rv_avro_type_t fixed4_type = RV_AVRO_FIXED_TYPE("Four", "rivulet.test", 4);

static const rv_avro_field_t inner_fields[] = {
    RV_AVRO_FIELD(inner_t, a, &rv_avro_int),
    RV_AVRO_FIELD(inner_t, s, &rv_avro_string),
};
const rv_avro_type_t inner_type =
    RV_AVRO_RECORD_TYPE(inner_t, "Inner", "rivulet.test", inner_fields);

static const rv_avro_type_t ints_type = RV_AVRO_ARRAY_TYPE(&rv_avro_int);
static const rv_avro_type_t strs_type = RV_AVRO_ARRAY_TYPE(&rv_avro_string);
static const rv_avro_type_t longs_type = RV_AVRO_MAP_TYPE(&rv_avro_long);
static const rv_avro_type_t inners_type = RV_AVRO_ARRAY_TYPE(&inner_type);
static const rv_avro_type_t matrix_type = RV_AVRO_ARRAY_TYPE(&ints_type);
static const rv_avro_type_t colors_type = RV_AVRO_MAP_TYPE(&color_type);

static const rv_avro_field_t all_fields[] = {
    RV_AVRO_FIELD(all_types_t, b, &rv_avro_boolean),
    RV_AVRO_FIELD(all_types_t, i, &rv_avro_int),
    RV_AVRO_FIELD(all_types_t, l, &rv_avro_long),
    RV_AVRO_FIELD(all_types_t, f, &rv_avro_float),
    RV_AVRO_FIELD(all_types_t, d, &rv_avro_double),
    RV_AVRO_FIELD(all_types_t, s, &rv_avro_string),
    RV_AVRO_FIELD(all_types_t, by, &rv_avro_bytes),
    RV_AVRO_FIELD(all_types_t, color, &color_type),
    RV_AVRO_FIELD(all_types_t, fx, &fixed4_type),
    RV_AVRO_FIELD(all_types_t, id, &rv_avro_uuid),
    RV_AVRO_FIELD(all_types_t, ts, &rv_avro_timestamp_millis),
    RV_AVRO_FIELD(all_types_t, ints, &ints_type),
    RV_AVRO_FIELD(all_types_t, strs, &strs_type),
    RV_AVRO_FIELD(all_types_t, longs, &longs_type),
    RV_AVRO_FIELD(all_types_t, inner, &inner_type),
    RV_AVRO_FIELD(all_types_t, inners, &inners_type),
    RV_AVRO_FIELD(all_types_t, matrix, &matrix_type),
    RV_AVRO_FIELD(all_types_t, colors, &colors_type),
    RV_AVRO_OPTIONAL(all_types_t, oi, has_oi, &rv_avro_int),
    RV_AVRO_OPTIONAL_PTR(all_types_t, os, "os", &rv_avro_string),
    RV_AVRO_OPTIONAL(all_types_t, oinner, has_oinner, &inner_type),
    RV_AVRO_OPTIONAL_PTR(all_types_t, oby, "oby", &rv_avro_bytes),
    RV_AVRO_OPTIONAL(all_types_t, od, has_od, &rv_avro_double),
};
const rv_avro_type_t all_types_type =
    RV_AVRO_RECORD_TYPE(all_types_t, "AllTypes", "rivulet.test", all_fields);

#define U1 "6f1c2b7e-8a0d-4c55-9d3e-2f4b5a6c7d8e"
#define U2 "0b9a8c7d-6e5f-4a3b-8c2d-1e0f9a8b7c6d"
#define U3 "FFFFFFFF-0000-4000-8000-ABCDEFabcdef"

const cart_case_t cart_cases[] = {
    {{"Insert", U1, U2, false, 0},
     "{\"action\":\"Insert\",\"cartId\":\"" U1 "\",\"ownerOrItem\":\"" U2 "\",\"count\":null}"},
    {{"SetOwner", U1, U3, false, 0},
     "{\"action\":\"SetOwner\",\"cartId\":\"" U1 "\",\"ownerOrItem\":\"" U3 "\",\"count\":null}"},
    {{"AddItem", U1, U2, true, 3},
     "{\"action\":\"AddItem\",\"cartId\":\"" U1 "\",\"ownerOrItem\":\"" U2 "\",\"count\":3}"},
    {{"RemoveItem", U1, U2, true, -2147483647 - 1},
     "{\"action\":\"RemoveItem\",\"cartId\":\"" U1 "\",\"ownerOrItem\":\"" U2
     "\",\"count\":-2147483648}"},
    {{"AddItem", U2, U1, true, 2147483647},
     "{\"action\":\"AddItem\",\"cartId\":\"" U2 "\",\"ownerOrItem\":\"" U1
     "\",\"count\":2147483647}"},
    {{"Delete", U1, U1, true, 0},
     "{\"action\":\"Delete\",\"cartId\":\"" U1 "\",\"ownerOrItem\":\"" U1 "\",\"count\":0}"},
};
const size_t n_cart_cases = sizeof(cart_cases) / sizeof(cart_cases[0]);

/* Static storage for the all-types values. */
static int32_t ints_a[] = {0, 1, -1, 63, -64, 64, 2147483647, -2147483647 - 1};
static char *strs_a[] = {"", "a", "h\xc3\xa9llo", "\xe2\x82\xac\xf0\x9f\x98\x80"};
static char *long_keys[] = {"zero", "max", "min", "k\xc3\xa9y"};
static int64_t long_vals[] = {0, INT64_MAX, INT64_MIN, 1234567890123LL};
static char inner_s1[] = "first", inner_s2[] = "second";
static inner_t inners_a[] = {{1, inner_s1}, {-7, inner_s2}};
static int32_t row0[] = {1, 2, 3}, row2[] = {-5};
static rv_avro_array_t rows[] = {{row0, 3}, {NULL, 0}, {row2, 1}};
static char *color_keys[] = {"sky", "grass"};
static int color_vals[] = {2, 1};
static uint8_t bytes_a[] = {0x00, 0xff, 0x10, 0x80, 0x7f};

const int n_all_cases = 3;

const char *all_types_case(int k, all_types_t *v)
{
    memset(v, 0, sizeof(*v));
    switch (k) {
    case 0: /* everything populated */
        v->b = true;
        v->i = -123456;
        v->l = 9007199254740993LL;
        v->f = 1.5f;
        v->d = -0.25;
        v->s = "h\xc3\xa9llo w\xc3\xb6rld";
        v->by = (rv_avro_bytes_t){bytes_a, sizeof(bytes_a)};
        v->color = 1;
        memcpy(v->fx, "\x01\x02\xfe\xff", 4);
        strcpy(v->id, U1);
        v->ts = 1700000000123LL;
        v->ints = (rv_avro_array_t){ints_a, 8};
        v->strs = (rv_avro_array_t){strs_a, 4};
        v->longs = (rv_avro_map_t){long_keys, long_vals, 4};
        v->inner = (inner_t){42, "in"};
        v->inners = (rv_avro_array_t){inners_a, 2};
        v->matrix = (rv_avro_array_t){rows, 3};
        v->colors = (rv_avro_map_t){color_keys, color_vals, 2};
        v->has_oi = true;
        v->oi = 7;
        v->os = "opt";
        v->has_oinner = true;
        v->oinner = (inner_t){-1, ""};
        v->oby = (rv_avro_bytes_t){bytes_a, 2};
        v->has_od = true;
        v->od = 1e300;
        return "{\"b\":true,\"i\":-123456,\"l\":9007199254740993,\"f\":1.5,\"d\":-0.25,"
               "\"s\":\"h\\u00e9llo w\\u00f6rld\",\"by\":\"00ff10807f\",\"color\":\"GREEN\","
               "\"fx\":\"0102feff\",\"id\":\"" U1 "\",\"ts\":1700000000123,"
               "\"ints\":[0,1,-1,63,-64,64,2147483647,-2147483648],"
               "\"strs\":[\"\",\"a\",\"h\\u00e9llo\",\"\\u20ac\\ud83d\\ude00\"],"
               "\"longs\":{\"zero\":0,\"max\":9223372036854775807,\"min\":-9223372036854775808,"
               "\"k\\u00e9y\":1234567890123},"
               "\"inner\":{\"a\":42,\"s\":\"in\"},"
               "\"inners\":[{\"a\":1,\"s\":\"first\"},{\"a\":-7,\"s\":\"second\"}],"
               "\"matrix\":[[1,2,3],[],[-5]],\"colors\":{\"sky\":\"BLUE\",\"grass\":\"GREEN\"},"
               "\"oi\":7,\"os\":\"opt\",\"oinner\":{\"a\":-1,\"s\":\"\"},\"oby\":\"00ff\","
               "\"od\":1e+300}";
    case 1: /* empties and nulls */
        v->s = "";
        v->by = (rv_avro_bytes_t){bytes_a, 0};
        strcpy(v->id, U2);
        v->ts = -1;
        v->inner = (inner_t){0, ""};
        return "{\"b\":false,\"i\":0,\"l\":0,\"f\":0.0,\"d\":0.0,\"s\":\"\",\"by\":\"\","
               "\"color\":\"RED\",\"fx\":\"00000000\",\"id\":\"" U2 "\",\"ts\":-1,"
               "\"ints\":[],\"strs\":[],\"longs\":{},\"inner\":{\"a\":0,\"s\":\"\"},"
               "\"inners\":[],\"matrix\":[],\"colors\":{},\"oi\":null,\"os\":null,"
               "\"oinner\":null,\"oby\":null,\"od\":null}";
    default: /* extremes */
        v->b = false;
        v->i = 2147483647;
        v->l = INT64_MIN;
        v->f = -3.0e38f;
        v->d = 2.5e-308;
        v->s = "x";
        v->by = (rv_avro_bytes_t){bytes_a, 1};
        v->color = 2;
        memset(v->fx, 0xAA, 4);
        strcpy(v->id, U3);
        v->ts = 0;
        v->inner = (inner_t){-2147483647 - 1, "z"};
        v->has_oi = true;
        v->oi = 0;
        v->oby = (rv_avro_bytes_t){bytes_a, 0};
        v->has_od = false;
        return "{\"b\":false,\"i\":2147483647,\"l\":-9223372036854775808,"
               "\"f\":-3.0000000054977558e+38,\"d\":2.5e-308,\"s\":\"x\",\"by\":\"00\","
               "\"color\":\"BLUE\",\"fx\":\"aaaaaaaa\",\"id\":\"" U3 "\",\"ts\":0,"
               "\"ints\":[],\"strs\":[],\"longs\":{},\"inner\":{\"a\":-2147483648,\"s\":\"z\"},"
               "\"inners\":[],\"matrix\":[],\"colors\":{},\"oi\":0,\"os\":null,"
               "\"oinner\":null,\"oby\":\"\",\"od\":null}";
    }
}

char *test_hex(const uint8_t *p, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    char *s = malloc(2 * n + 1);
    for (size_t i = 0; i < n; i++) {
        s[2 * i] = digits[p[i] >> 4];
        s[2 * i + 1] = digits[p[i] & 15];
    }
    s[2 * n] = 0;
    return s;
}

static int nib(char c)
{
    return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

uint8_t *test_unhex(const char *hex, size_t *n)
{
    size_t len = strlen(hex);
    while (len && (hex[len - 1] == '\n' || hex[len - 1] == '\r'))
        len--;
    *n = len / 2;
    uint8_t *p = malloc(*n + 1);
    for (size_t i = 0; i < *n; i++)
        p[i] = (uint8_t)(nib(hex[2 * i]) << 4 | nib(hex[2 * i + 1]));
    return p;
}

char *test_write_temp(const char *s)
{
    char *path = strdup("/tmp/rv_avro_test_XXXXXX");
    int fd = mkstemp(path);
    if (fd < 0) {
        free(path);
        return NULL;
    }
    size_t n = strlen(s);
    if (write(fd, s, n) != (ssize_t)n) {
        close(fd);
        free(path);
        return NULL;
    }
    close(fd);
    return path;
}
