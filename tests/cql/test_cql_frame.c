/* Frame primitives, header checks and golden request frames: every request
 * the client sends is compared byte for byte with a frame written out by hand
 * from doc/native_protocol_v4.spec. */
#include <string.h>

#include "cql/frame.h"
#include "cql/message.h"
#include "cql/stmt.h"
#include "rv_test.h"

static void dump(const char *what, const uint8_t *p, size_t n)
{
    fprintf(stderr, "  %s (%zu bytes):", what, n);
    for (size_t i = 0; i < n; i++)
        fprintf(stderr, "%s%02x", i % 16 ? " " : "\n    ", p[i]);
    fprintf(stderr, "\n");
}

#define CHECK_FRAME(buf, expected)                                                                 \
    do {                                                                                           \
        if ((buf)->len != sizeof(expected) || memcmp((buf)->data, expected, sizeof(expected))) {   \
            rv_test_fail_at(__FILE__, __LINE__, "frame differs from the golden frame");            \
            dump("got", (buf)->data, (buf)->len);                                                  \
            dump("want", expected, sizeof(expected));                                              \
        }                                                                                          \
    } while (0)

static void test_put_primitives(void)
{
    rv__cql_buf_t b;
    rv__cql_buf_init(&b);
    rv__cql_put_u8(&b, 0xab);
    rv__cql_put_u16(&b, 0x1234);
    rv__cql_put_i32(&b, -2);
    rv__cql_put_i64(&b, 0x0102030405060708);
    rv__cql_put_string(&b, "ab", 2);
    rv__cql_put_long_string(&b, "c", 1);
    rv__cql_put_bytes(&b, NULL, -1);
    rv__cql_put_bytes(&b, "xy", 2);
    rv__cql_put_short_bytes(&b, "z", 1);
    // clang-format off
    static const uint8_t want[] = {0xab, 0x12, 0x34, 0xff, 0xff, 0xff, 0xfe, 1, 2, 3, 4, 5, 6, 7,
                                   8,    0,    2,    'a',  'b',  0,    0,    0, 1, 'c', 0xff, 0xff,
                                   0xff, 0xff, 0, 0, 0, 2, 'x', 'y', 0, 1, 'z'};
    // clang-format on
    CHECK(!b.oom);
    CHECK_FRAME(&b, want);
    rv__cql_buf_free(&b);
}

static void test_get_primitives(void)
{
    // clang-format off
    static const uint8_t in[] = {0xab, 0x12, 0x34, 0xff, 0xff, 0xff, 0xfe, 0, 2, 'a', 'b',
                                 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1, 'q', 4, 127, 0, 0, 1,
                                 0, 0, 0x23, 0x52};
    // clang-format on
    rv__cql_rd_t r;
    rv__cql_rd_init(&r, in, sizeof(in));
    CHECK_EQ(rv__cql_get_u8(&r), 0xab);
    CHECK_EQ(rv__cql_get_u16(&r), 0x1234);
    CHECK_EQ(rv__cql_get_i32(&r), -2);
    size_t n;
    const char *s = rv__cql_get_string(&r, &n);
    CHECK_EQ(n, 2);
    CHECK(s && !memcmp(s, "ab", 2));
    const uint8_t *p;
    CHECK_EQ(rv__cql_get_bytes(&r, &p), -1);
    CHECK(p == NULL);
    CHECK_EQ(rv__cql_get_bytes(&r, &p), 1);
    CHECK(p && *p == 'q');
    uint8_t addr[16];
    size_t alen;
    int32_t port;
    CHECK(rv__cql_get_inet(&r, addr, &alen, &port));
    CHECK_EQ(alen, 4);
    CHECK_EQ(addr[0], 127);
    CHECK_EQ(port, 9042);
    CHECK(r.err == NULL);
    CHECK_EQ(rv__cql_rd_left(&r), 0);
    /* Past the end: sticky error, zeros, the offset of the failure. */
    CHECK_EQ(rv__cql_get_u16(&r), 0);
    CHECK(r.err != NULL);
    CHECK_EQ(r.err_off, sizeof(in));
    rv_error_t *e = NULL;
    CHECK_EQ(rv__cql_rd_check(&r, "test input", &e), RV_ERR_DECODE);
    CHECK(e && strstr(rv_error_msg(e), "test input") && strstr(rv_error_msg(e), "byte 29"));
    rv_error_destroy(e);
}

static void test_get_truncated(void)
{
    /* A [string] claiming 5 bytes with 2 present, a [bytes] with a huge
     * length, an [inet] of size 7: each fails without reading past the end. */
    static const uint8_t s1[] = {0, 5, 'a', 'b'};
    rv__cql_rd_t r;
    size_t n;
    rv__cql_rd_init(&r, s1, sizeof(s1));
    CHECK(rv__cql_get_string(&r, &n) == NULL);
    CHECK(r.err != NULL);
    static const uint8_t s2[] = {0x7f, 0xff, 0xff, 0xff, 1};
    const uint8_t *p;
    rv__cql_rd_init(&r, s2, sizeof(s2));
    CHECK_EQ(rv__cql_get_bytes(&r, &p), -1);
    CHECK(r.err != NULL);
    static const uint8_t s3[] = {7, 1, 2, 3, 4, 5, 6, 7, 0, 0, 0, 1};
    uint8_t addr[16];
    int32_t port;
    rv__cql_rd_init(&r, s3, sizeof(s3));
    CHECK(!rv__cql_get_inet(&r, addr, &n, &port));
    CHECK(r.err != NULL);
    static const uint8_t s4[] = {0x80, 0, 0, 0};
    rv__cql_rd_init(&r, s4, sizeof(s4));
    CHECK(rv__cql_get_long_string(&r, &n) == NULL);
    CHECK(r.err != NULL);
}

static void test_header_decode(void)
{
    rv__cql_header_t h;
    rv_error_t *e = NULL;
    static const uint8_t ok[] = {0x84, 0x08, 0xff, 0xff, 0x0c, 0, 0, 0, 10};
    CHECK_EQ(rv__cql_header_decode(ok, 1024, &h, &e), RV_OK);
    CHECK_EQ(h.stream, -1);
    CHECK_EQ(h.opcode, RV__CQL_OP_EVENT);
    CHECK_EQ(h.length, 10);
    CHECK_EQ(h.flags, RV__CQL_FLAG_WARNING);

    static const uint8_t request[] = {0x04, 0, 0, 1, 0x08, 0, 0, 0, 0};
    CHECK_EQ(rv__cql_header_decode(request, 1024, &h, &e), RV_ERR_PROTOCOL);
    CHECK(e && strstr(rv_error_msg(e), "not a response"));
    rv_error_destroy(e);
    e = NULL;
    static const uint8_t v3[] = {0x83, 0, 0, 1, 0x00, 0, 0, 0, 0};
    CHECK_EQ(rv__cql_header_decode(v3, 1024, &h, &e), RV_ERR_PROTOCOL);
    CHECK(e && strstr(rv_error_msg(e), "version 3"));
    rv_error_destroy(e);
    e = NULL;
    static const uint8_t opq[] = {0x84, 0, 0, 1, 0x07, 0, 0, 0, 0};
    CHECK_EQ(rv__cql_header_decode(opq, 1024, &h, &e), RV_ERR_PROTOCOL);
    CHECK(e && strstr(rv_error_msg(e), "QUERY"));
    rv_error_destroy(e);
    e = NULL;
    static const uint8_t comp[] = {0x84, 0x01, 0, 1, 0x08, 0, 0, 0, 0};
    CHECK_EQ(rv__cql_header_decode(comp, 1024, &h, &e), RV_ERR_PROTOCOL);
    rv_error_destroy(e);
    e = NULL;
    static const uint8_t big[] = {0x84, 0, 0, 1, 0x08, 0, 0, 4, 1};
    CHECK_EQ(rv__cql_header_decode(big, 1024, &h, &e), RV_ERR_OVERFLOW);
    CHECK(e && strstr(rv_error_msg(e), "1025") && strstr(rv_error_msg(e), "cql.max.frame.size"));
    rv_error_destroy(e);
    e = NULL;
    static const uint8_t huge[] = {0x84, 0, 0, 1, 0x08, 0x7f, 0xff, 0xff, 0xff};
    CHECK_EQ(rv__cql_header_decode(huge, UINT32_MAX, &h, &e), RV_ERR_OVERFLOW);
    rv_error_destroy(e);
}

/* ------------------------------------------------------------ golden frames */

static void test_golden_startup(void)
{
    rv__cql_buf_t b;
    rv__cql_buf_init(&b);
    rv__cql_encode_startup(&b);
    // clang-format off
    static const uint8_t want[] = {
        0x04, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x43, /* header, 67-byte body */
        0x00, 0x03,                                           /* [string map] of 3 */
        0x00, 0x0b, 'C', 'Q', 'L', '_', 'V', 'E', 'R', 'S', 'I', 'O', 'N',
        0x00, 0x05, '3', '.', '0', '.', '0',
        0x00, 0x0b, 'D', 'R', 'I', 'V', 'E', 'R', '_', 'N', 'A', 'M', 'E',
        0x00, 0x07, 'r', 'i', 'v', 'u', 'l', 'e', 't',
        0x00, 0x0e, 'D', 'R', 'I', 'V', 'E', 'R', '_', 'V', 'E', 'R', 'S', 'I', 'O', 'N',
        0x00, 0x05, '0', '.', '1', '.', '0'};
    // clang-format on
    CHECK_FRAME(&b, want);
    rv__cql_buf_free(&b);
}

static void test_golden_options_auth_register_prepare(void)
{
    rv__cql_buf_t b;
    rv__cql_buf_init(&b);
    rv__cql_encode_options(&b);
    static const uint8_t options[] = {0x04, 0, 0, 0, 0x05, 0, 0, 0, 0};
    CHECK_FRAME(&b, options);

    rv__cql_buf_reset(&b);
    rv__cql_encode_auth_plain(&b, "cassandra", "pw");
    // clang-format off
    static const uint8_t auth[] = {0x04, 0, 0, 0, 0x0f, 0, 0, 0, 17, 0, 0, 0, 13,
                                   0,    'c', 'a', 's', 's', 'a', 'n', 'd', 'r', 'a', 0, 'p', 'w'};
    // clang-format on
    CHECK_FRAME(&b, auth);

    rv__cql_buf_reset(&b);
    static const char *const ev[] = {"STATUS_CHANGE"};
    rv__cql_encode_register(&b, ev, 1);
    // clang-format off
    static const uint8_t reg[] = {0x04, 0,   0,   0,   0x0b, 0,   0,   0,   17,  0,
                                  1,    0,   13,  'S', 'T',  'A', 'T', 'U', 'S', '_',
                                  'C',  'H', 'A', 'N', 'G',  'E'};
    // clang-format on
    CHECK_FRAME(&b, reg);

    rv__cql_buf_reset(&b);
    rv__cql_encode_prepare(&b, "SELECT 1", 8);
    // clang-format off
    static const uint8_t prep[] = {0x04, 0,   0,   0,   0x09, 0,   0,   0,   12, 0,
                                   0,    0,   8,   'S', 'E',  'L', 'E', 'C', 'T', ' ', '1'};
    // clang-format on
    CHECK_FRAME(&b, prep);

    /* Stream ids are written into the header when a frame is sent. */
    rv__cql_frame_set_stream(b.data, 0x0102);
    CHECK_EQ(b.data[2], 1);
    CHECK_EQ(b.data[3], 2);
    rv__cql_buf_free(&b);
}

static void test_golden_query_all_params(void)
{
    rv_cql_stmt_t *st = rv_cql_stmt_new("SELECT * FROM t WHERE a=? AND b=?", 2);
    REQUIRE(st);
    CHECK_EQ(rv_cql_bind_int(st, 0, 42), RV_OK);
    CHECK_EQ(rv_cql_bind_text(st, 1, "hi"), RV_OK);
    CHECK_EQ(rv__cql_stmt_validate(st, NULL), RV_OK);
    static const uint8_t paging[] = {'a', 'b'};
    rv__cql_params_t p = {RV_CQL_QUORUM, RV_CQL_LOCAL_SERIAL, 100, paging, 2, 0x0102030405060708};
    rv__cql_buf_t b;
    rv__cql_buf_init(&b);
    rv__cql_encode_stmt(&b, st, &p, NULL);
    // clang-format off
    static const uint8_t want[] = {
        0x04, 0x00, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00, 0x4c, /* QUERY, 76-byte body */
        0x00, 0x00, 0x00, 0x21, 'S', 'E', 'L', 'E', 'C', 'T', ' ', '*', ' ', 'F', 'R', 'O', 'M',
        ' ', 't', ' ', 'W', 'H', 'E', 'R', 'E', ' ', 'a', '=', '?', ' ', 'A', 'N', 'D', ' ', 'b',
        '=', '?',
        0x00, 0x04,             /* QUORUM */
        0x3d,                   /* values | page size | paging state | serial | timestamp */
        0x00, 0x02,             /* 2 values */
        0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x2a, /* int 42 */
        0x00, 0x00, 0x00, 0x02, 'h', 'i',               /* text "hi" */
        0x00, 0x00, 0x00, 0x64,                         /* page size 100 */
        0x00, 0x00, 0x00, 0x02, 'a', 'b',               /* paging state */
        0x00, 0x09,                                     /* LOCAL_SERIAL */
        0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08  /* timestamp */
    };
    // clang-format on
    CHECK_FRAME(&b, want);
    rv__cql_buf_free(&b);
    rv_cql_stmt_destroy(st);
}

static void test_golden_query_plain(void)
{
    rv_cql_stmt_t *st = rv_cql_stmt_new("USE ks", 0);
    rv__cql_params_t p = {RV_CQL_ONE, -1, 0, NULL, 0, INT64_MIN};
    rv__cql_buf_t b;
    rv__cql_buf_init(&b);
    rv__cql_encode_stmt(&b, st, &p, NULL);
    // clang-format off
    static const uint8_t want[] = {0x04, 0, 0, 0, 0x07, 0, 0, 0, 13, 0, 0, 0, 6,
                                   'U', 'S', 'E', ' ', 'k', 's', 0, 1, 0};
    // clang-format on
    CHECK_FRAME(&b, want);
    rv__cql_buf_free(&b);
    rv_cql_stmt_destroy(st);
}

/* A prepared statement as the cache would hold it, with two markers. */
typedef struct fake_prepared {
    rv_cql_prepared_t p;
    rv_cql_result_t meta;
    rv__cql_col_t bind[2];
} fake_prepared_t;

static void fake_prepared_init(fake_prepared_t *f)
{
    static uint8_t id[4] = {0xde, 0xad, 0xbe, 0xef};
    memset(f, 0, sizeof(*f));
    f->bind[0].name = "k";
    f->bind[0].type = rv__cql_type_simple(RV_CQL_BIGINT);
    f->bind[1].name = "v";
    f->bind[1].type = rv__cql_type_simple(RV_CQL_VARCHAR);
    f->meta.kind = RV_CQL_RESULT_PREPARED;
    f->meta.nbind = 2;
    f->meta.bind = f->bind;
    f->p.query = "INSERT INTO t (k, v) VALUES (?, ?)";
    f->p.query_len = strlen(f->p.query);
    f->p.id = id;
    f->p.id_len = 4;
    f->p.meta = &f->meta;
}

static void test_golden_execute_null_unset(void)
{
    fake_prepared_t f;
    fake_prepared_init(&f);
    rv_cql_stmt_t *st = rv_cql_stmt_new_prepared(&f.p);
    REQUIRE(st);
    /* An int bound to a bigint marker is widened to 8 bytes. */
    CHECK_EQ(rv_cql_bind_int(st, 0, 7), RV_OK);
    CHECK_EQ(rv_cql_bind_unset(st, 1), RV_OK);
    rv__cql_params_t p = {RV_CQL_LOCAL_ONE, -1, 5000, NULL, 0, INT64_MIN};
    rv__cql_buf_t b;
    rv__cql_buf_init(&b);
    size_t id_off = 0;
    rv__cql_encode_stmt(&b, st, &p, &id_off);
    // clang-format off
    static const uint8_t want[] = {
        0x04, 0, 0, 0, 0x0a, 0, 0, 0, 0x1f, /* EXECUTE, 31-byte body */
        0x00, 0x04, 0xde, 0xad, 0xbe, 0xef, /* [short bytes] id */
        0x00, 0x0a,                         /* LOCAL_ONE */
        0x05,                               /* values | page size */
        0x00, 0x02, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 7, /* bigint 7 */
        0xff, 0xff, 0xff, 0xfe,             /* unset */
        0x00, 0x00, 0x13, 0x88              /* page size 5000 */
    };
    // clang-format on
    CHECK_FRAME(&b, want);
    CHECK_EQ(id_off, 9);

    rv__cql_buf_reset(&b);
    rv_cql_stmt_reset(st);
    CHECK_EQ(rv_cql_bind_bigint(st, 0, -1), RV_OK);
    CHECK_EQ(rv_cql_bind_null(st, 1), RV_OK);
    p.page_size = 0;
    rv__cql_encode_stmt(&b, st, &p, NULL);
    // clang-format off
    static const uint8_t want2[] = {0x04, 0,    0,    0,    0x0a, 0, 0, 0, 0x1b, 0x00,
                                    0x04, 0xde, 0xad, 0xbe, 0xef, 0x00, 0x0a, 0x01, 0x00, 0x02,
                                    0,    0,    0,    8,    0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                    0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    // clang-format on
    CHECK_FRAME(&b, want2);
    rv__cql_buf_free(&b);
    rv_cql_stmt_destroy(st);
}

static void test_golden_batch(void)
{
    fake_prepared_t f;
    fake_prepared_init(&f);
    rv_cql_batch_t *batch = rv_cql_batch_new(RV_CQL_BATCH_UNLOGGED);
    rv_cql_stmt_t *s1 = rv_cql_stmt_new("DELETE FROM t WHERE k = 1", 0);
    rv_cql_stmt_t *s2 = rv_cql_stmt_new_prepared(&f.p);
    rv_cql_bind_bigint(s2, 0, 2);
    rv_cql_bind_text(s2, 1, "x");
    CHECK_EQ(rv_cql_batch_add(batch, s1, NULL), RV_OK);
    CHECK_EQ(rv_cql_batch_add(batch, s2, NULL), RV_OK);
    CHECK_EQ(rv_cql_batch_count(batch), 2);
    rv__cql_params_t p = {RV_CQL_ONE, RV_CQL_LOCAL_SERIAL, 0, NULL, 0, 0x10};
    rv__cql_buf_t b;
    rv__cql_buf_init(&b);
    size_t body_off = 0;
    rv__cql_encode_batch(&b, batch, &p, &body_off);
    // clang-format off
    static const uint8_t want[] = {
        0x04, 0, 0, 0, 0x0d, 0, 0, 0, 0x4a, /* BATCH, 74-byte body */
        0x01, 0x00, 0x02,                   /* unlogged, 2 statements */
        0x00, 0, 0, 0, 25, 'D', 'E', 'L', 'E', 'T', 'E', ' ', 'F', 'R', 'O', 'M', ' ', 't', ' ',
        'W', 'H', 'E', 'R', 'E', ' ', 'k', ' ', '=', ' ', '1', 0x00, 0x00, /* no values */
        0x01, 0x00, 0x04, 0xde, 0xad, 0xbe, 0xef,                         /* prepared id */
        0x00, 0x02, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 1, 'x',
        0x00, 0x01,                                     /* ONE */
        0x30,                                           /* serial | timestamp */
        0x00, 0x09, 0, 0, 0, 0, 0, 0, 0, 0x10};
    // clang-format on
    CHECK_FRAME(&b, want);
    /* The prepared id's position, for a re-prepare that changes it. */
    CHECK_EQ(body_off + batch->ids[0].off, 45);
    rv__cql_buf_free(&b);
    rv_cql_stmt_destroy(s1);
    rv_cql_stmt_destroy(s2);
    rv_cql_batch_destroy(batch);
}

static void test_bind_errors(void)
{
    fake_prepared_t f;
    fake_prepared_init(&f);
    rv_cql_stmt_t *st = rv_cql_stmt_new_prepared(&f.p);
    CHECK_EQ(rv_cql_bind_text(st, 0, "not a number"), RV_ERR_INVALID);
    const rv_error_t *e = rv_cql_stmt_error(st);
    CHECK(e && strstr(rv_error_msg(e), "bind 0 (\"k\")") && strstr(rv_error_msg(e), "bigint"));
    CHECK_EQ(rv_cql_bind_int(st, 2, 1), RV_ERR_INVALID); /* out of range */
    rv_error_t *err = NULL;
    CHECK_EQ(rv__cql_stmt_validate(st, &err), RV_ERR_INVALID);
    rv_error_destroy(err);
    rv_cql_stmt_reset(st);
    CHECK(rv_cql_stmt_error(st) == NULL);
    CHECK_EQ(rv_cql_bind_int(st, 0, 1), RV_OK);
    err = NULL;
    CHECK_EQ(rv__cql_stmt_validate(st, &err), RV_ERR_INVALID); /* 1 of 2 values */
    CHECK(err && strstr(rv_error_msg(err), "2 markers"));
    rv_error_destroy(err);
    rv_cql_stmt_destroy(st);

    /* Simple statements: a gap in the positions is reported. */
    st = rv_cql_stmt_new("INSERT INTO t (a, b) VALUES (?, ?)", 0);
    rv_cql_bind_int(st, 1, 1);
    err = NULL;
    CHECK_EQ(rv__cql_stmt_validate(st, &err), RV_ERR_INVALID);
    CHECK(err && strstr(rv_error_msg(err), "value 0 is not bound"));
    rv_error_destroy(err);
    rv_cql_stmt_destroy(st);
}

RV_TEST_MAIN(RV_TEST(test_put_primitives), RV_TEST(test_get_primitives),
             RV_TEST(test_get_truncated), RV_TEST(test_header_decode), RV_TEST(test_golden_startup),
             RV_TEST(test_golden_options_auth_register_prepare),
             RV_TEST(test_golden_query_all_params), RV_TEST(test_golden_query_plain),
             RV_TEST(test_golden_execute_null_unset), RV_TEST(test_golden_batch),
             RV_TEST(test_bind_errors))
