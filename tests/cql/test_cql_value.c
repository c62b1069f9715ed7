/* Value codecs for every CQL type, null and unset: the bytes the encoders
 * write (checked against the protocol's examples and the DataStax Python
 * driver's serializers), the getters reading them back, conversions to a
 * prepared marker's type, collections, tuples and UDTs, and malformed values. */
#include <math.h>
#include <string.h>

#include "cql/arena.h"
#include "cql/stmt.h"
#include "cql/type.h"
#include "cql/value.h"
#include "rv_test.h"

/* Encodes one input (as a bind would) and returns its bytes in *b. */
static rv_err_t enc(rv__cql_buf_t *b, rv__cql_in_t in, int target_kind, int32_t *len)
{
    char why[256];
    rv__cql_buf_reset(b);
    const rv_cql_type_t *t = target_kind >= 0 ? rv__cql_type_simple(target_kind) : NULL;
    return rv__cql_value_encode(b, &in, t, len, why, sizeof(why));
}

static rv_cql_value_t view(const rv__cql_buf_t *b, int kind)
{
    rv_cql_value_t v = {rv__cql_type_simple(kind), b->data, (int32_t)b->len};
    return v;
}

static void hex_is(const rv__cql_buf_t *b, const char *hex, int line)
{
    char got[256] = "";
    for (size_t i = 0; i < b->len && i < 120; i++)
        sprintf(got + 2 * i, "%02x", b->data[i]);
    if (strcmp(got, hex) != 0) rv_test_fail_at(__FILE__, line, "encoded %s, want %s", got, hex);
}
#define HEX_IS(b, hex) hex_is(b, hex, __LINE__)

static void test_fixed_types(void)
{
    rv__cql_buf_t b;
    rv__cql_buf_init(&b);
    int32_t len;
    rv_cql_value_t v;

    CHECK_EQ(enc(&b, (rv__cql_in_t){.tag = RV__IN_BOOL, .i = 1}, -1, &len), RV_OK);
    HEX_IS(&b, "01");
    bool bo = false;
    v = view(&b, RV_CQL_BOOLEAN);
    CHECK_EQ(rv_cql_value_get_bool(&v, &bo), RV_OK);
    CHECK(bo);

    CHECK_EQ(
        enc(&b, (rv__cql_in_t){.tag = RV__IN_INT, .src_kind = RV_CQL_TINYINT, .i = -128}, -1, &len),
        RV_OK);
    HEX_IS(&b, "80");
    int8_t i8;
    v = view(&b, RV_CQL_TINYINT);
    CHECK_EQ(rv_cql_value_get_tinyint(&v, &i8), RV_OK);
    CHECK_EQ(i8, -128);

    CHECK_EQ(enc(&b, (rv__cql_in_t){.tag = RV__IN_INT, .src_kind = RV_CQL_SMALLINT, .i = -32768},
                 -1, &len),
             RV_OK);
    HEX_IS(&b, "8000");
    int16_t i16;
    v = view(&b, RV_CQL_SMALLINT);
    CHECK_EQ(rv_cql_value_get_smallint(&v, &i16), RV_OK);
    CHECK_EQ(i16, -32768);

    CHECK_EQ(enc(&b, (rv__cql_in_t){.tag = RV__IN_INT, .src_kind = RV_CQL_INT, .i = 0x12345678}, -1,
                 &len),
             RV_OK);
    HEX_IS(&b, "12345678");
    int32_t i32;
    v = view(&b, RV_CQL_INT);
    CHECK_EQ(rv_cql_value_get_int(&v, &i32), RV_OK);
    CHECK_EQ(i32, 0x12345678);
    /* An int does not fit a smallint getter. */
    CHECK_EQ(rv_cql_value_get_smallint(&v, &i16), RV_ERR_OVERFLOW);

    CHECK_EQ(enc(&b, (rv__cql_in_t){.tag = RV__IN_INT, .src_kind = RV_CQL_BIGINT, .i = INT64_MIN},
                 -1, &len),
             RV_OK);
    HEX_IS(&b, "8000000000000000");
    int64_t i64;
    v = view(&b, RV_CQL_BIGINT);
    CHECK_EQ(rv_cql_value_get_bigint(&v, &i64), RV_OK);
    CHECK(i64 == INT64_MIN);
    v = view(&b, RV_CQL_COUNTER);
    CHECK_EQ(rv_cql_value_get_bigint(&v, &i64), RV_OK);

    CHECK_EQ(enc(&b, (rv__cql_in_t){.tag = RV__IN_FLOAT, .d = 1.5}, -1, &len), RV_OK);
    HEX_IS(&b, "3fc00000");
    float f;
    double d;
    v = view(&b, RV_CQL_FLOAT);
    CHECK_EQ(rv_cql_value_get_float(&v, &f), RV_OK);
    CHECK(f == 1.5f);
    CHECK_EQ(rv_cql_value_get_double(&v, &d), RV_OK); /* float reads as double too */
    CHECK(d == 1.5);

    CHECK_EQ(enc(&b, (rv__cql_in_t){.tag = RV__IN_DOUBLE, .d = -0.1}, -1, &len), RV_OK);
    HEX_IS(&b, "bfb999999999999a");
    v = view(&b, RV_CQL_DOUBLE);
    CHECK_EQ(rv_cql_value_get_double(&v, &d), RV_OK);
    CHECK(d == -0.1);
    CHECK_EQ(enc(&b, (rv__cql_in_t){.tag = RV__IN_DOUBLE, .d = INFINITY}, -1, &len), RV_OK);
    HEX_IS(&b, "7ff0000000000000");

    static const uint8_t u[16] = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
                                  0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef};
    CHECK_EQ(enc(&b, (rv__cql_in_t){.tag = RV__IN_UUID, .p = u, .n = 16}, RV_CQL_TIMEUUID, &len),
             RV_OK);
    uint8_t u2[16];
    v = view(&b, RV_CQL_TIMEUUID);
    CHECK_EQ(rv_cql_value_get_uuid(&v, u2), RV_OK);
    CHECK_MEM(u, u2, 16);

    CHECK_EQ(enc(&b, (rv__cql_in_t){.tag = RV__IN_TIMESTAMP, .i = 1700000000123}, -1, &len), RV_OK);
    HEX_IS(&b, "0000018bcfe5687b");
    v = view(&b, RV_CQL_TIMESTAMP);
    CHECK_EQ(rv_cql_value_get_timestamp(&v, &i64), RV_OK);
    CHECK_EQ(i64, 1700000000123);

    /* date and time: the Python driver's bytes for 2024-02-29 and 23:59:59.999999999. */
    CHECK_EQ(enc(&b, (rv__cql_in_t){.tag = RV__IN_DATE, .i = 0x80004d46}, -1, &len), RV_OK);
    HEX_IS(&b, "80004d46");
    uint32_t days;
    v = view(&b, RV_CQL_DATE);
    CHECK_EQ(rv_cql_value_get_date(&v, &days), RV_OK);
    CHECK_EQ(days, 0x80004d46u);
    CHECK_EQ(enc(&b, (rv__cql_in_t){.tag = RV__IN_TIME, .i = 86399999999999}, -1, &len), RV_OK);
    HEX_IS(&b, "00004e94914effff");
    v = view(&b, RV_CQL_TIME);
    CHECK_EQ(rv_cql_value_get_time(&v, &i64), RV_OK);
    CHECK_EQ(i64, 86399999999999);
    CHECK_EQ(enc(&b, (rv__cql_in_t){.tag = RV__IN_TIME, .i = 86400000000000}, -1, &len),
             RV_ERR_INVALID);

    static const uint8_t v6[16] = {[15] = 1};
    CHECK_EQ(enc(&b, (rv__cql_in_t){.tag = RV__IN_INET, .p = v6, .n = 16}, -1, &len), RV_OK);
    HEX_IS(&b, "00000000000000000000000000000001");
    uint8_t a[16];
    size_t alen;
    v = view(&b, RV_CQL_INET);
    CHECK_EQ(rv_cql_value_get_inet(&v, a, &alen), RV_OK);
    CHECK_EQ(alen, 16);
    CHECK_EQ(enc(&b, (rv__cql_in_t){.tag = RV__IN_INET, .p = v6, .n = 5}, -1, &len),
             RV_ERR_INVALID);
    rv__cql_buf_free(&b);
}

static void test_variable_types(void)
{
    rv__cql_buf_t b;
    rv__cql_buf_init(&b);
    int32_t len;
    rv_cql_value_t v;
    const char *s;
    size_t n;

    const char *utf = "h\xc3\xa9llo \xe2\x9c\x93";
    CHECK_EQ(enc(&b, (rv__cql_in_t){.tag = RV__IN_TEXT, .p = utf, .n = strlen(utf)}, RV_CQL_VARCHAR,
                 &len),
             RV_OK);
    CHECK_EQ(len, (int32_t)strlen(utf));
    v = view(&b, RV_CQL_VARCHAR);
    CHECK_EQ(rv_cql_value_get_text(&v, &s, &n), RV_OK);
    CHECK(n == strlen(utf) && !memcmp(s, utf, n));
    /* The empty string is a value, not null. */
    CHECK_EQ(enc(&b, (rv__cql_in_t){.tag = RV__IN_TEXT, .p = "", .n = 0}, RV_CQL_ASCII, &len),
             RV_OK);
    CHECK_EQ(len, 0);
    v = view(&b, RV_CQL_ASCII);
    v.data = (const uint8_t *)"";
    CHECK_EQ(rv_cql_value_get_text(&v, &s, &n), RV_OK);
    CHECK_EQ(n, 0);

    static const uint8_t blob[] = {0xca, 0xfe, 0x00, 0xba, 0xbe};
    CHECK_EQ(enc(&b, (rv__cql_in_t){.tag = RV__IN_BLOB, .p = blob, .n = 5}, RV_CQL_BLOB, &len),
             RV_OK);
    HEX_IS(&b, "cafe00babe");
    const uint8_t *p;
    v = view(&b, RV_CQL_BLOB);
    CHECK_EQ(rv_cql_value_get_bytes(&v, &p, &n), RV_OK);
    CHECK(n == 5 && !memcmp(p, blob, 5));

    /* varint: the protocol's table and the Python driver's bytes. */
    static const struct {
        int64_t v;
        const char *hex;
    } vi[] = {{0, "00"},
              {1, "01"},
              {127, "7f"},
              {128, "0080"},
              {129, "0081"},
              {-1, "ff"},
              {-128, "80"},
              {-129, "ff7f"},
              {INT64_MAX, "7fffffffffffffff"},
              {INT64_MIN, "8000000000000000"}};
    for (size_t i = 0; i < sizeof(vi) / sizeof(vi[0]); i++) {
        CHECK_EQ(enc(&b, (rv__cql_in_t){.tag = RV__IN_INT, .src_kind = RV_CQL_BIGINT, .i = vi[i].v},
                     RV_CQL_VARINT, &len),
                 RV_OK);
        hex_is(&b, vi[i].hex, __LINE__);
        int64_t back;
        v = view(&b, RV_CQL_VARINT);
        CHECK_EQ(rv_cql_value_get_bigint(&v, &back), RV_OK);
        CHECK(back == vi[i].v);
    }
    /* A varint wider than 64 bits reads as bytes, and overflows bigint. */
    static const uint8_t wide[] = {0x01, 0, 0, 0, 0, 0, 0, 0, 0};
    CHECK_EQ(enc(&b, (rv__cql_in_t){.tag = RV__IN_VARINT, .p = wide, .n = 9}, RV_CQL_VARINT, &len),
             RV_OK);
    int64_t x;
    v = view(&b, RV_CQL_VARINT);
    CHECK_EQ(rv_cql_value_get_bigint(&v, &x), RV_ERR_OVERFLOW);
    CHECK_EQ(rv_cql_value_get_varint(&v, &p, &n), RV_OK);
    CHECK_EQ(n, 9);
    /* Redundant sign bytes are fine. */
    static const uint8_t padded[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x80};
    v.data = padded;
    v.len = sizeof(padded);
    CHECK_EQ(rv_cql_value_get_bigint(&v, &x), RV_OK);
    CHECK_EQ(x, -128);
    CHECK_EQ(enc(&b, (rv__cql_in_t){.tag = RV__IN_VARINT, .p = wide, .n = 0}, -1, &len),
             RV_ERR_INVALID);

    /* decimal -123.4500: scale 4, unscaled -1234500 (Python: 00000004ed29bc). */
    uint8_t un[8];
    size_t unl = rv_cql_varint_from_int64(-1234500, un);
    CHECK_EQ(enc(&b, (rv__cql_in_t){.tag = RV__IN_DECIMAL, .scale = 4, .p = un, .n = unl},
                 RV_CQL_DECIMAL, &len),
             RV_OK);
    HEX_IS(&b, "00000004ed29bc");
    int32_t scale;
    v = view(&b, RV_CQL_DECIMAL);
    CHECK_EQ(rv_cql_value_get_decimal(&v, &scale, &p, &n), RV_OK);
    CHECK_EQ(scale, 4);
    CHECK(n == 3 && p[0] == 0xed);

    /* duration: Cassandra's zigzag vints (Python driver's bytes). */
    static const struct {
        int32_t mo, d;
        int64_t ns;
        const char *hex;
    } du[] = {{1, 2, 3, "020406"},
              {-1, -2, -3, "010305"},
              {64, -65, 8192, "80808081c04000"},
              {INT32_MAX, INT32_MIN, INT64_C(1) << 62, "f0fffffffef0ffffffffff8000000000000000"},
              {0, 0, INT64_MIN, "0000ffffffffffffffffff"}};
    for (size_t i = 0; i < sizeof(du) / sizeof(du[0]); i++) {
        CHECK_EQ(
            enc(&b,
                (rv__cql_in_t){
                    .tag = RV__IN_DURATION, .months = du[i].mo, .days = du[i].d, .i = du[i].ns},
                RV_CQL_DURATION, &len),
            RV_OK);
        hex_is(&b, du[i].hex, __LINE__);
        int32_t mo, dd;
        int64_t ns;
        v = view(&b, RV_CQL_DURATION);
        CHECK_EQ(rv_cql_value_get_duration(&v, &mo, &dd, &ns), RV_OK);
        CHECK(mo == du[i].mo && dd == du[i].d && ns == du[i].ns);
    }
    /* A truncated duration. */
    static const uint8_t bad_du[] = {0x02, 0x04, 0xc0};
    v.data = bad_du;
    v.len = 3;
    int32_t mo, dd;
    int64_t ns;
    CHECK_EQ(rv_cql_value_get_duration(&v, &mo, &dd, &ns), RV_ERR_DECODE);
    rv__cql_buf_free(&b);
}

static void test_null_unset_empty(void)
{
    rv__cql_buf_t b;
    rv__cql_buf_init(&b);
    int32_t len;
    CHECK_EQ(enc(&b, (rv__cql_in_t){.tag = RV__IN_NULL}, RV_CQL_INT, &len), RV_OK);
    CHECK_EQ(len, -1);
    CHECK_EQ(b.len, 0);
    CHECK_EQ(enc(&b, (rv__cql_in_t){.tag = RV__IN_UNSET}, RV_CQL_VARCHAR, &len), RV_OK);
    CHECK_EQ(len, -2);

    rv_cql_value_t null = {rv__cql_type_simple(RV_CQL_INT), NULL, -1};
    int32_t i;
    CHECK(rv_cql_value_is_null(&null));
    CHECK_EQ(rv_cql_value_get_int(&null, &i), RV_ERR_NOT_FOUND);
    const char *s;
    size_t n;
    null.type = rv__cql_type_simple(RV_CQL_VARCHAR);
    CHECK_EQ(rv_cql_value_get_text(&null, &s, &n), RV_ERR_NOT_FOUND);
    /* An empty int (legacy) reads like null; a 3-byte int is malformed. */
    static const uint8_t three[] = {1, 2, 3};
    rv_cql_value_t empty = {rv__cql_type_simple(RV_CQL_INT), three, 0};
    CHECK_EQ(rv_cql_value_get_int(&empty, &i), RV_ERR_NOT_FOUND);
    empty.len = 3;
    CHECK_EQ(rv_cql_value_get_int(&empty, &i), RV_ERR_DECODE);
    /* A getter of the wrong kind. */
    rv_cql_value_t txt = {rv__cql_type_simple(RV_CQL_VARCHAR), three, 3};
    CHECK_EQ(rv_cql_value_get_int(&txt, &i), RV_ERR_INVALID);
    bool bo;
    CHECK_EQ(rv_cql_value_get_bool(&txt, &bo), RV_ERR_INVALID);
    /* Without a type the getters go by size. */
    rv_cql_value_t untyped = {NULL, three, 3};
    CHECK_EQ(rv_cql_value_get_int(&untyped, &i), RV_OK);
    CHECK_EQ(i, 0x010203);
    rv__cql_buf_free(&b);
}

static void test_conversions(void)
{
    rv__cql_buf_t b;
    rv__cql_buf_init(&b);
    int32_t len;
    /* int -> bigint marker: widened; bigint -> int marker: narrowed when it fits. */
    CHECK_EQ(enc(&b, (rv__cql_in_t){.tag = RV__IN_INT, .src_kind = RV_CQL_INT, .i = -2},
                 RV_CQL_BIGINT, &len),
             RV_OK);
    HEX_IS(&b, "fffffffffffffffe");
    CHECK_EQ(enc(&b, (rv__cql_in_t){.tag = RV__IN_INT, .src_kind = RV_CQL_BIGINT, .i = 300},
                 RV_CQL_SMALLINT, &len),
             RV_OK);
    HEX_IS(&b, "012c");
    CHECK_EQ(enc(&b, (rv__cql_in_t){.tag = RV__IN_INT, .src_kind = RV_CQL_BIGINT, .i = 300},
                 RV_CQL_TINYINT, &len),
             RV_ERR_OVERFLOW);
    CHECK_EQ(enc(&b, (rv__cql_in_t){.tag = RV__IN_INT, .src_kind = RV_CQL_INT, .i = 5},
                 RV_CQL_COUNTER, &len),
             RV_OK);
    HEX_IS(&b, "0000000000000005");
    /* bigint for a timestamp marker is accepted (same representation); int is not. */
    CHECK_EQ(enc(&b, (rv__cql_in_t){.tag = RV__IN_INT, .src_kind = RV_CQL_BIGINT, .i = 5},
                 RV_CQL_TIMESTAMP, &len),
             RV_OK);
    CHECK_EQ(enc(&b, (rv__cql_in_t){.tag = RV__IN_INT, .src_kind = RV_CQL_INT, .i = 5},
                 RV_CQL_TIMESTAMP, &len),
             RV_ERR_INVALID);
    /* double <-> float. */
    CHECK_EQ(enc(&b, (rv__cql_in_t){.tag = RV__IN_DOUBLE, .d = 0.5}, RV_CQL_FLOAT, &len), RV_OK);
    HEX_IS(&b, "3f000000");
    CHECK_EQ(enc(&b, (rv__cql_in_t){.tag = RV__IN_FLOAT, .d = 0.5}, RV_CQL_DOUBLE, &len), RV_OK);
    HEX_IS(&b, "3fe0000000000000");
    /* Mismatches name both types. */
    char why[256];
    rv__cql_in_t in = {.tag = RV__IN_TEXT, .p = "x", .n = 1};
    CHECK_EQ(
        rv__cql_value_encode(&b, &in, rv__cql_type_simple(RV_CQL_UUID), &len, why, sizeof(why)),
        RV_ERR_INVALID);
    CHECK(strstr(why, "text") && strstr(why, "uuid"));
    in = (rv__cql_in_t){.tag = RV__IN_BOOL};
    CHECK_EQ(rv__cql_value_encode(&b, &in, rv__cql_type_simple(RV_CQL_INT), &len, why, sizeof(why)),
             RV_ERR_INVALID);
    /* Raw bytes go anywhere. */
    in = (rv__cql_in_t){.tag = RV__IN_RAW, .p = "\x00\x00\x00\x01", .n = 4};
    CHECK_EQ(rv__cql_value_encode(&b, &in, rv__cql_type_simple(RV_CQL_INT), &len, why, sizeof(why)),
             RV_OK);
    rv__cql_buf_free(&b);
}

/* Builds a type from a compact description, for collection tests. */
static const rv_cql_type_t *mk(rv__cql_arena_t *a, int kind, int n, const rv_cql_type_t **subs,
                               const char **fields)
{
    rv_cql_type_t *t = rv__cql_arena_alloc(a, sizeof(*t));
    t->kind = (uint16_t)kind;
    t->n = (uint16_t)n;
    t->sub = rv__cql_arena_alloc(a, (size_t)n * sizeof(*t->sub) + 1);
    for (int i = 0; i < n; i++)
        t->sub[i] = subs[i];
    if (fields) {
        t->fields = rv__cql_arena_alloc(a, (size_t)n * sizeof(*t->fields));
        for (int i = 0; i < n; i++)
            t->fields[i] = fields[i];
        t->name = "addr";
        t->keyspace = "ks";
    }
    return t;
}

static void test_collections(void)
{
    rv__cql_arena_t a = {0};
    const rv_cql_type_t *ti = rv__cql_type_simple(RV_CQL_INT);
    const rv_cql_type_t *tt = rv__cql_type_simple(RV_CQL_VARCHAR);
    const rv_cql_type_t *tb = rv__cql_type_simple(RV_CQL_BIGINT);
    const rv_cql_type_t *list_int = mk(&a, RV_CQL_LIST, 1, &ti, NULL);
    const rv_cql_type_t *kv[2] = {tt, tb};
    const rv_cql_type_t *map_tb = mk(&a, RV_CQL_MAP, 2, kv, NULL);
    const rv_cql_type_t *tup_subs[3] = {ti, tt, rv__cql_type_simple(RV_CQL_BOOLEAN)};
    const rv_cql_type_t *tup = mk(&a, RV_CQL_TUPLE, 3, tup_subs, NULL);
    const rv_cql_type_t *list_text = mk(&a, RV_CQL_LIST, 1, &tt, NULL);
    const rv_cql_type_t *udt_subs[3] = {tt, ti, list_text};
    const char *fields[3] = {"street", "zip", "tags"};
    const rv_cql_type_t *udt = mk(&a, RV_CQL_UDT, 3, udt_subs, fields);

    /* list<int> [1, 2, 3] */
    rv_cql_coll_t *l = rv_cql_coll_new(RV_CQL_LIST);
    rv_cql_coll_add_int(l, 1);
    rv_cql_coll_add_int(l, 2);
    rv_cql_coll_add_int(l, 3);
    CHECK_EQ(rv_cql_coll_size(l), 3);
    rv__cql_buf_t b;
    rv__cql_buf_init(&b);
    int32_t len;
    char why[256];
    rv__cql_in_t in = {.tag = RV__IN_COLL, .coll = l};
    CHECK_EQ(rv__cql_value_encode(&b, &in, list_int, &len, why, sizeof(why)), RV_OK);
    HEX_IS(&b, "00000003000000040000000100000004000000020000000400000003");
    rv_cql_value_t v = {list_int, b.data, len}, el;
    size_t n;
    CHECK_EQ(rv_cql_value_count(&v, &n), RV_OK);
    CHECK_EQ(n, 3);
    rv_cql_iter_t it;
    CHECK_EQ(rv_cql_iter_init(&it, &v), RV_OK);
    int32_t want = 1, x;
    while (rv_cql_iter_next(&it, &el) == RV_OK) {
        CHECK_EQ(rv_cql_value_get_int(&el, &x), RV_OK);
        CHECK_EQ(x, want++);
    }
    CHECK_EQ(want, 4);
    char txt[128];
    rv_cql_value_format(&v, txt, sizeof(txt));
    CHECK_STR(txt, "[1, 2, 3]");
    /* A set may not carry a list's builder. */
    CHECK_EQ(
        rv__cql_value_encode(&b, &in, mk(&a, RV_CQL_SET, 1, &ti, NULL), &len, why, sizeof(why)),
        RV_ERR_INVALID);

    /* map<text, bigint> {'x': 1, 'y': -1} */
    rv_cql_coll_t *m = rv_cql_coll_new(RV_CQL_MAP);
    rv_cql_coll_add_text(m, "x");
    rv_cql_coll_add_bigint(m, 1);
    rv_cql_coll_add_text(m, "y");
    rv__cql_buf_reset(&b);
    in.coll = m;
    CHECK_EQ(rv__cql_value_encode(&b, &in, map_tb, &len, why, sizeof(why)), RV_ERR_INVALID);
    CHECK(strstr(why, "key without a value"));
    rv_cql_coll_add_bigint(m, -1);
    rv__cql_buf_reset(&b);
    CHECK_EQ(rv__cql_value_encode(&b, &in, map_tb, &len, why, sizeof(why)), RV_OK);
    v = (rv_cql_value_t){map_tb, b.data, len};
    CHECK_EQ(rv_cql_value_count(&v, &n), RV_OK);
    CHECK_EQ(n, 2);
    rv_cql_value_format(&v, txt, sizeof(txt));
    CHECK_STR(txt, "{'x': 1, 'y': -1}");

    /* tuple<int, text, boolean> (7, 'seven', null) */
    rv_cql_coll_t *t = rv_cql_coll_new(RV_CQL_TUPLE);
    rv_cql_coll_add_int(t, 7);
    rv_cql_coll_add_text(t, "seven");
    rv_cql_coll_add_null(t);
    rv__cql_buf_reset(&b);
    in.coll = t;
    CHECK_EQ(rv__cql_value_encode(&b, &in, tup, &len, why, sizeof(why)), RV_OK);
    HEX_IS(&b, "000000040000000700000005736576656effffffff");
    v = (rv_cql_value_t){tup, b.data, len};
    rv_cql_value_format(&v, txt, sizeof(txt));
    CHECK_STR(txt, "(7, 'seven', null)");

    /* UDT addr {street: 'Main', zip: 12345, tags: ['t1']} with a nested list. */
    rv_cql_coll_t *u = rv_cql_coll_new(RV_CQL_UDT), *tags = rv_cql_coll_new(RV_CQL_LIST);
    rv_cql_coll_add_text(tags, "t1");
    rv_cql_coll_add_text(u, "Main");
    rv_cql_coll_add_int(u, 12345);
    rv_cql_coll_add_coll(u, tags);
    CHECK_EQ(rv_cql_coll_add_coll(u, u), RV_ERR_INVALID); /* not into itself */
    rv_cql_coll_reset(u);
    rv_cql_coll_add_text(u, "Main");
    rv_cql_coll_add_int(u, 12345);
    rv_cql_coll_add_coll(u, tags);
    rv__cql_buf_reset(&b);
    in.coll = u;
    CHECK_EQ(rv__cql_value_encode(&b, &in, udt, &len, why, sizeof(why)), RV_OK);
    v = (rv_cql_value_t){udt, b.data, len};
    rv_cql_value_format(&v, txt, sizeof(txt));
    CHECK_STR(txt, "{street: 'Main', zip: 12345, tags: ['t1']}");
    /* A UDT value may stop before its last fields. */
    v.len = 4 + 4 + 4 + 4; /* street and zip only */
    CHECK_EQ(rv_cql_value_count(&v, &n), RV_OK);
    CHECK_EQ(n, 2);

    rv_cql_coll_destroy(l);
    rv_cql_coll_destroy(m);
    rv_cql_coll_destroy(t);
    rv_cql_coll_destroy(u);
    rv_cql_coll_destroy(tags);
    rv__cql_buf_free(&b);
    rv__cql_arena_free(&a);
}

static void test_malformed_collections(void)
{
    rv__cql_arena_t a = {0};
    const rv_cql_type_t *ti = rv__cql_type_simple(RV_CQL_INT);
    const rv_cql_type_t *list_int = mk(&a, RV_CQL_LIST, 1, &ti, NULL);
    rv_cql_iter_t it;
    rv_cql_value_t el;
    /* A count larger than the bytes could hold is refused up front. */
    static const uint8_t huge[] = {0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 4, 0, 0, 0, 1};
    rv_cql_value_t v = {list_int, huge, sizeof(huge)};
    CHECK_EQ(rv_cql_iter_init(&it, &v), RV_ERR_DECODE);
    static const uint8_t neg[] = {0xff, 0xff, 0xff, 0xff};
    v = (rv_cql_value_t){list_int, neg, 4};
    CHECK_EQ(rv_cql_iter_init(&it, &v), RV_ERR_DECODE);
    /* An element claiming more bytes than remain. */
    static const uint8_t over[] = {0, 0, 0, 1, 0, 0, 0, 9, 0, 0, 0, 1};
    v = (rv_cql_value_t){list_int, over, sizeof(over)};
    CHECK_EQ(rv_cql_iter_init(&it, &v), RV_OK);
    CHECK_EQ(rv_cql_iter_next(&it, &el), RV_ERR_DECODE);
    char txt[64];
    rv_cql_value_format(&v, txt, sizeof(txt));
    CHECK_STR(txt, "<malformed>");
    /* Iterating a scalar is refused. */
    v = (rv_cql_value_t){ti, over, 4};
    CHECK_EQ(rv_cql_iter_init(&it, &v), RV_ERR_INVALID);
    rv__cql_arena_free(&a);
}

static void test_builder_binds(void)
{
    /* Every typed bind has a working twin in the builder and the statement. */
    rv_cql_stmt_t *st = rv_cql_stmt_new("INSERT ...", 0);
    rv_cql_coll_t *c = rv_cql_coll_new(RV_CQL_TUPLE);
    static const uint8_t u[16] = {1}, a4[4] = {127, 0, 0, 1}, vb[1] = {5};
    size_t i = 0;
    CHECK_EQ(rv_cql_bind_null(st, i++), RV_OK);
    CHECK_EQ(rv_cql_bind_unset(st, i++), RV_OK);
    CHECK_EQ(rv_cql_bind_bool(st, i++, true), RV_OK);
    CHECK_EQ(rv_cql_bind_tinyint(st, i++, 1), RV_OK);
    CHECK_EQ(rv_cql_bind_smallint(st, i++, 1), RV_OK);
    CHECK_EQ(rv_cql_bind_int(st, i++, 1), RV_OK);
    CHECK_EQ(rv_cql_bind_bigint(st, i++, 1), RV_OK);
    CHECK_EQ(rv_cql_bind_float(st, i++, 1), RV_OK);
    CHECK_EQ(rv_cql_bind_double(st, i++, 1), RV_OK);
    CHECK_EQ(rv_cql_bind_text(st, i++, "t"), RV_OK);
    CHECK_EQ(rv_cql_bind_text_n(st, i++, "tt", 1), RV_OK);
    CHECK_EQ(rv_cql_bind_blob(st, i++, "b", 1), RV_OK);
    CHECK_EQ(rv_cql_bind_uuid(st, i++, u), RV_OK);
    CHECK_EQ(rv_cql_bind_timestamp(st, i++, 1), RV_OK);
    CHECK_EQ(rv_cql_bind_date(st, i++, 1u << 31), RV_OK);
    CHECK_EQ(rv_cql_bind_time(st, i++, 1), RV_OK);
    CHECK_EQ(rv_cql_bind_inet(st, i++, a4, 4), RV_OK);
    CHECK_EQ(rv_cql_bind_varint(st, i++, vb, 1), RV_OK);
    CHECK_EQ(rv_cql_bind_varint_int64(st, i++, 5), RV_OK);
    CHECK_EQ(rv_cql_bind_decimal(st, i++, 2, vb, 1), RV_OK);
    CHECK_EQ(rv_cql_bind_duration(st, i++, 1, 2, 3), RV_OK);
    CHECK_EQ(rv_cql_coll_add_null(c), RV_OK);
    CHECK_EQ(rv_cql_coll_add_bool(c, true), RV_OK);
    CHECK_EQ(rv_cql_coll_add_tinyint(c, 1), RV_OK);
    CHECK_EQ(rv_cql_coll_add_smallint(c, 1), RV_OK);
    CHECK_EQ(rv_cql_coll_add_int(c, 1), RV_OK);
    CHECK_EQ(rv_cql_coll_add_bigint(c, 1), RV_OK);
    CHECK_EQ(rv_cql_coll_add_float(c, 1), RV_OK);
    CHECK_EQ(rv_cql_coll_add_double(c, 1), RV_OK);
    CHECK_EQ(rv_cql_coll_add_text(c, "t"), RV_OK);
    CHECK_EQ(rv_cql_coll_add_text_n(c, "t", 1), RV_OK);
    CHECK_EQ(rv_cql_coll_add_blob(c, "b", 1), RV_OK);
    CHECK_EQ(rv_cql_coll_add_uuid(c, u), RV_OK);
    CHECK_EQ(rv_cql_coll_add_timestamp(c, 1), RV_OK);
    CHECK_EQ(rv_cql_coll_add_date(c, 1), RV_OK);
    CHECK_EQ(rv_cql_coll_add_time(c, 1), RV_OK);
    CHECK_EQ(rv_cql_coll_add_inet(c, a4, 4), RV_OK);
    CHECK_EQ(rv_cql_coll_add_varint(c, vb, 1), RV_OK);
    CHECK_EQ(rv_cql_coll_add_varint_int64(c, 1), RV_OK);
    CHECK_EQ(rv_cql_coll_add_decimal(c, 1, vb, 1), RV_OK);
    CHECK_EQ(rv_cql_coll_add_duration(c, 1, 2, 3), RV_OK);
    CHECK_EQ(rv_cql_coll_add_raw(c, "\0\0\0\1", 4), RV_OK);
    CHECK_EQ(rv_cql_bind_coll(st, i++, c), RV_OK);
    CHECK_EQ(rv_cql_bind_raw(st, i++, "r", 1), RV_OK);
    CHECK_EQ(rv__cql_stmt_validate(st, NULL), RV_OK);
    CHECK_EQ(st->nvals, i);
    CHECK_EQ(st->vals[0].len, -1);
    CHECK_EQ(st->vals[1].len, -2);
    /* Unset inside a collection has no meaning. */
    rv_cql_coll_destroy(c);
    rv_cql_stmt_destroy(st);
}

static void test_vint_roundtrip(void)
{
    static const int64_t vals[] = {0,
                                   1,
                                   -1,
                                   63,
                                   -64,
                                   64,
                                   -65,
                                   8191,
                                   8192,
                                   INT32_MAX,
                                   INT32_MIN,
                                   INT64_MAX,
                                   INT64_MIN,
                                   (INT64_C(1) << 55) - 1,
                                   INT64_C(1) << 55};
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        uint8_t b[9];
        size_t n = rv__cql_vint_encode(vals[i], b);
        const uint8_t *p = b;
        int64_t back = 0;
        CHECK(rv__cql_vint_decode(&p, b + n, &back));
        CHECK(back == vals[i]);
        CHECK(p == b + n);
        /* Every shorter prefix is a truncation. */
        for (size_t k = 0; k < n; k++) {
            p = b;
            CHECK(!rv__cql_vint_decode(&p, b + k, &back));
        }
    }
}

RV_TEST_MAIN(RV_TEST(test_fixed_types), RV_TEST(test_variable_types),
             RV_TEST(test_null_unset_empty), RV_TEST(test_conversions), RV_TEST(test_collections),
             RV_TEST(test_malformed_collections), RV_TEST(test_builder_binds),
             RV_TEST(test_vint_roundtrip))
