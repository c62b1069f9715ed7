/* Decoding response frames recorded from a real Cassandra 5.0 node
 * (the .bin files in tests/cql/data, written by record_frames.py): rows of every type,
 * nulls, paging, lightweight transactions, prepared metadata, schema changes,
 * warnings and errors; then malformed frames — every truncation and every
 * single-byte corruption of every recording, and hand-made hostile ones —
 * which must fail cleanly (the sanitizer build checks for overreads). */
#include <math.h>
#include <string.h>

#include "cql/response.h"
#include "rv_test.h"

#ifndef RV_CQL_DATA
#error "RV_CQL_DATA must name tests/cql/data"
#endif

typedef struct rec {
    uint8_t *data;
    size_t len;
} rec_t;

static rec_t load(const char *name)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s.bin", RV_CQL_DATA, name);
    rec_t r = {0};
    FILE *f = fopen(path, "rb");
    if (!f) {
        rv_test_fail_at(__FILE__, __LINE__, "cannot open %s", path);
        return r;
    }
    fseek(f, 0, SEEK_END);
    r.len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    r.data = malloc(r.len ? r.len : 1);
    if (fread(r.data, 1, r.len, f) != r.len) r.len = 0;
    fclose(f);
    return r;
}

/* Decodes a whole recorded frame (header + body) like a connection does. */
static rv_err_t decode(const uint8_t *frame, size_t len, rv__cql_response_t *out, rv_error_t **err)
{
    memset(out, 0, sizeof(*out));
    if (len < RV__CQL_HEADER_SIZE) return rv_error_set(err, RV_ERR_DECODE, false, "short");
    rv__cql_header_t h;
    rv_err_t e = rv__cql_header_decode(frame, RV__CQL_MAX_BODY, &h, err);
    if (e != RV_OK) return e;
    if (h.length != len - RV__CQL_HEADER_SIZE)
        return rv_error_set(err, RV_ERR_DECODE, false, "length mismatch");
    uint8_t *body = malloc(h.length ? h.length : 1);
    memcpy(body, frame + RV__CQL_HEADER_SIZE, h.length);
    return rv__cql_response_decode(&h, body, out, err);
}

/* Loads and decodes a recording that must decode. */
static rv__cql_response_t must(const char *name)
{
    rec_t r = load(name);
    rv__cql_response_t resp;
    rv_error_t *err = NULL;
    if (decode(r.data, r.len, &resp, &err) != RV_OK)
        rv_test_fail_at(__FILE__, __LINE__, "%s: %s", name, err ? rv_error_msg(err) : "?");
    rv_error_destroy(err);
    free(r.data);
    return resp;
}

static const char *text(const rv_cql_result_t *res, size_t row, const char *col)
{
    static char buf[256];
    int c = rv_cql_result_column_index(res, col);
    const char *s;
    size_t n;
    if (c < 0 || rv_cql_result_get_text(res, row, (size_t)c, &s, &n) != RV_OK || n >= sizeof(buf))
        return NULL;
    memcpy(buf, s, n);
    buf[n] = '\0';
    return buf;
}

static size_t col(const rv_cql_result_t *res, const char *name)
{
    int c = rv_cql_result_column_index(res, name);
    if (c < 0) rv_test_fail_at(__FILE__, __LINE__, "no column %s", name);
    return c < 0 ? 9999 : (size_t)c;
}

static void test_rows_every_type(void)
{
    rv__cql_response_t resp = must("rows_types");
    const rv_cql_result_t *res = resp.result;
    REQUIRE(res);
    CHECK_EQ(rv_cql_result_kind(res), RV_CQL_RESULT_ROWS);
    CHECK_EQ(rv_cql_result_row_count(res), 1);
    CHECK_EQ(rv_cql_result_column_count(res), 25);
    CHECK(!rv_cql_result_has_more_pages(res));
    CHECK_EQ(rv_cql_result_applied(res), -1);

    int32_t i32;
    int64_t i64;
    int16_t i16;
    int8_t i8;
    bool b;
    float f;
    double d;
    uint8_t u[16];
    const uint8_t *p;
    size_t n;
    rv_cql_value_t v;
    char fmt[256];

    CHECK_EQ(rv_cql_result_get_int(res, 0, col(res, "k"), &i32), RV_OK);
    CHECK_EQ(i32, 1);
    CHECK_STR(text(res, 0, "a"), "ascii");
    CHECK_EQ(rv_cql_type_kind(rv_cql_result_column_type(res, col(res, "a"))), RV_CQL_ASCII);
    CHECK_EQ(rv_cql_result_get_bigint(res, 0, col(res, "b"), &i64), RV_OK);
    CHECK(i64 == INT64_MIN);
    CHECK_EQ(rv_cql_result_get_bytes(res, 0, col(res, "bl"), &p, &n), RV_OK);
    CHECK(n == 4 && !memcmp(p, "\xca\xfe\xba\xbe", 4));
    CHECK_EQ(rv_cql_result_get_bool(res, 0, col(res, "bo"), &b), RV_OK);
    CHECK(b);
    rv_cql_result_value(res, 0, col(res, "d"), &v);
    int32_t scale;
    CHECK_EQ(rv_cql_value_get_decimal(&v, &scale, &p, &n), RV_OK);
    CHECK_EQ(scale, 4);
    rv_cql_value_format(&v, fmt, sizeof(fmt));
    CHECK_STR(fmt, "-1234500E-4");
    CHECK_EQ(rv_cql_result_get_double(res, 0, col(res, "db"), &d), RV_OK);
    CHECK(d == 3.141592653589793);
    CHECK_EQ(rv_cql_result_get_float(res, 0, col(res, "f"), &f), RV_OK);
    CHECK(f == 1.5f);
    rv_cql_result_value(res, 0, col(res, "i"), &v);
    rv_cql_value_format(&v, fmt, sizeof(fmt));
    CHECK_STR(fmt, "192.168.1.20");
    CHECK_EQ(rv_cql_result_get_timestamp(res, 0, col(res, "ts"), &i64), RV_OK);
    CHECK_EQ(i64, 1700000000123);
    CHECK_EQ(rv_cql_result_get_uuid(res, 0, col(res, "u"), u), RV_OK);
    CHECK(u[0] == 0x01 && u[15] == 0xef);
    rv_cql_result_value(res, 0, col(res, "tu"), &v);
    rv_cql_value_format(&v, fmt, sizeof(fmt));
    CHECK_STR(fmt, "d2177dd0-eaa2-11de-a572-001b779c76e3");
    CHECK_EQ(rv_cql_type_kind(v.type), RV_CQL_TIMEUUID);
    CHECK_STR(text(res, 0, "t"), "h\xc3\xa9llo \xe2\x9c\x93");
    rv_cql_result_value(res, 0, col(res, "v"), &v);
    CHECK_EQ(rv_cql_value_get_varint(&v, &p, &n), RV_OK);
    CHECK(n == 16 && p[0] == 0x80 && p[15] == 0);
    CHECK_EQ(rv_cql_value_get_bigint(&v, &i64), RV_ERR_OVERFLOW);
    rv_cql_result_value(res, 0, col(res, "dt"), &v);
    uint32_t days;
    CHECK_EQ(rv_cql_value_get_date(&v, &days), RV_OK);
    CHECK_EQ(days, 0x80004d46u);
    rv_cql_result_value(res, 0, col(res, "tm"), &v);
    CHECK_EQ(rv_cql_value_get_time(&v, &i64), RV_OK);
    CHECK_EQ(i64, 86399999999999);
    CHECK_EQ(rv_cql_result_get_smallint(res, 0, col(res, "si"), &i16), RV_OK);
    CHECK_EQ(i16, -32768);
    CHECK_EQ(rv_cql_result_get_tinyint(res, 0, col(res, "ti"), &i8), RV_OK);
    CHECK_EQ(i8, -128);
    /* Duration arrives as a custom class in v4 and reads as a duration. */
    rv_cql_result_value(res, 0, col(res, "du"), &v);
    CHECK_EQ(rv_cql_type_kind(v.type), RV_CQL_DURATION);
    int32_t mo, dd;
    int64_t ns;
    CHECK_EQ(rv_cql_value_get_duration(&v, &mo, &dd, &ns), RV_OK);
    CHECK(mo == 1 && dd == 2 && ns == 3);

    struct {
        const char *col, *want, *type;
    } cells[] = {{"l", "[1, 2, 3]", "list<int>"},
                 {"s", "{'a', 'b'}", "set<text>"},
                 {"m", "{'x': 1, 'y': -1}", "map<text, bigint>"},
                 {"tp", "(7, 'seven', false)", "tuple<int, text, boolean>"},
                 {"ad", "{street: 'Main', zip: 12345, tags: ['t1', 't2']}", "rv_record.addr"}};
    for (size_t i = 0; i < sizeof(cells) / sizeof(cells[0]); i++) {
        char tn[128];
        rv_cql_result_value(res, 0, col(res, cells[i].col), &v);
        rv_cql_value_format(&v, fmt, sizeof(fmt));
        CHECK_STR(fmt, cells[i].want);
        rv_cql_type_format(v.type, tn, sizeof(tn));
        CHECK_STR(tn, cells[i].type);
    }
    const rv_cql_type_t *ad = rv_cql_result_column_type(res, col(res, "ad"));
    CHECK_EQ(rv_cql_type_kind(ad), RV_CQL_UDT);
    CHECK_EQ(rv_cql_type_count(ad), 3);
    CHECK_STR(rv_cql_type_field_name(ad, 2), "tags");
    CHECK_STR(rv_cql_type_keyspace(ad), "rv_record");
    CHECK_STR(rv_cql_type_name(ad), "addr");
    CHECK_EQ(rv_cql_type_kind(rv_cql_type_sub(rv_cql_type_sub(ad, 2), 0)), RV_CQL_VARCHAR);
    /* n was never written: null. */
    CHECK(rv_cql_result_is_null(res, 0, col(res, "n")));
    CHECK_EQ(rv_cql_result_get_int(res, 0, col(res, "n"), &i32), RV_ERR_NOT_FOUND);
    /* Out of range. */
    CHECK_EQ(rv_cql_result_get_int(res, 1, 0, &i32), RV_ERR_INVALID);
    CHECK_EQ(rv_cql_result_get_int(res, 0, 25, &i32), RV_ERR_INVALID);
    CHECK(rv_cql_result_column_name(res, 25) == NULL);
    char *dup = rv_cql_result_get_text_dup(res, 0, col(res, "a"));
    CHECK_STR(dup, "ascii");
    free(dup);
    rv__cql_response_free(&resp);
}

static void test_rows_nulls(void)
{
    rv__cql_response_t resp = must("rows_nulls");
    const rv_cql_result_t *res = resp.result;
    REQUIRE(res);
    CHECK_EQ(rv_cql_result_column_count(res), 5);
    rv_cql_value_t v;
    char fmt[64];
    rv_cql_result_value(res, 0, 1, &v);
    rv_cql_value_format(&v, fmt, sizeof(fmt));
    CHECK_STR(fmt, "::1");
    for (size_t c = 2; c < 5; c++)
        CHECK(rv_cql_result_is_null(res, 0, c));
    const char *s;
    size_t n;
    CHECK_EQ(rv_cql_result_get_text(res, 0, 3, &s, &n), RV_ERR_NOT_FOUND);
    rv_cql_iter_t it;
    rv_cql_result_value(res, 0, 4, &v);
    CHECK_EQ(rv_cql_iter_init(&it, &v), RV_ERR_NOT_FOUND);
    rv__cql_response_free(&resp);
}

static void test_rows_paging(void)
{
    rv__cql_response_t p1 = must("rows_page1"), p2 = must("rows_page2");
    REQUIRE(p1.result && p2.result);
    CHECK(rv_cql_result_has_more_pages(p1.result));
    const uint8_t *state;
    size_t n;
    CHECK(rv_cql_result_paging_state(p1.result, &state, &n));
    CHECK(n > 0);
    CHECK_EQ(rv_cql_result_row_count(p1.result), 4);
    CHECK_EQ(rv_cql_result_row_count(p2.result), 4);
    int32_t c;
    for (size_t r = 0; r < 4; r++) {
        CHECK_EQ(rv_cql_result_get_int(p1.result, r, 0, &c), RV_OK);
        CHECK_EQ(c, (int32_t)r);
        CHECK_EQ(rv_cql_result_get_int(p2.result, r, 0, &c), RV_OK);
        CHECK_EQ(c, (int32_t)r + 4);
    }
    CHECK_STR(text(p2.result, 3, "v"), "v7");
    /* The statement copies the state for the next request. */
    rv_cql_stmt_t *st = rv_cql_stmt_new("SELECT c, v FROM rv_record.kv WHERE p = 1", 0);
    CHECK_EQ(rv_cql_stmt_set_paging_state(st, state, n), RV_OK);
    rv_cql_stmt_destroy(st);
    rv__cql_response_free(&p1);
    rv__cql_response_free(&p2);
}

static void test_lwt(void)
{
    rv__cql_response_t ok = must("rows_lwt_applied"), no = must("rows_lwt_not_applied"),
                       upd = must("rows_lwt_update_not_applied");
    REQUIRE(ok.result && no.result && upd.result);
    CHECK_EQ(rv_cql_result_applied(ok.result), 1);
    CHECK_EQ(rv_cql_result_column_count(ok.result), 1);
    /* Not applied: [applied] false, then the current values, described by
     * the result's own metadata. */
    CHECK_EQ(rv_cql_result_applied(no.result), 0);
    CHECK_EQ(rv_cql_result_column_count(no.result), 4);
    CHECK_STR(rv_cql_result_column_name(no.result, 0), "[applied]");
    CHECK_STR(text(no.result, 0, "v"), "first");
    int32_t p;
    CHECK_EQ(rv_cql_result_get_int(no.result, 0, col(no.result, "p"), &p), RV_OK);
    CHECK_EQ(p, 2);
    CHECK_EQ(rv_cql_result_applied(upd.result), 0);
    CHECK_STR(text(upd.result, 0, "v"), "first");
    rv__cql_response_free(&ok);
    rv__cql_response_free(&no);
    rv__cql_response_free(&upd);
}

static void test_prepared(void)
{
    rv__cql_response_t ins = must("prepared_insert"), sel = must("prepared_select");
    REQUIRE(ins.result && sel.result);
    const rv_cql_result_t *r = ins.result;
    CHECK_EQ(rv_cql_result_kind(r), RV_CQL_RESULT_PREPARED);
    CHECK_EQ(r->prep_id_len, 16);
    CHECK_EQ(r->nbind, 3);
    CHECK_STR(r->bind[0].name, "p");
    CHECK_STR(r->bind[2].name, "v");
    CHECK_EQ(r->bind[2].type->kind, RV_CQL_VARCHAR);
    CHECK_STR(r->bind[0].ks, "rv_record");
    CHECK_STR(r->bind[0].table, "kv");
    CHECK_EQ(r->npk, 1);
    CHECK_EQ(r->pk[0], 0);
    CHECK(r->meta_flags & 0x4); /* no result metadata for an INSERT */
    r = sel.result;
    CHECK_EQ(r->nbind, 1);
    CHECK_EQ(r->npk, 1);
    CHECK_EQ(r->ncols, 25); /* the result metadata, kept for the statement */
    CHECK_EQ(rv_cql_result_column_count(r), 0);
    rv__cql_response_free(&ins);
    rv__cql_response_free(&sel);
}

static void test_schema_keyspace_void_warnings(void)
{
    rv__cql_response_t ks = must("schema_change_keyspace"), tb = must("schema_change_table"),
                       use = must("set_keyspace"), v = must("void"), w = must("void_with_warning");
    REQUIRE(ks.result && tb.result && use.result && v.result && w.result);
    const char *change, *target, *name;
    CHECK(rv_cql_result_schema_change(ks.result, &change, &target, &name));
    CHECK_STR(change, "CREATED");
    CHECK_STR(target, "KEYSPACE");
    CHECK(name == NULL);
    CHECK_STR(rv_cql_result_keyspace(ks.result), "rv_record");
    CHECK(rv_cql_result_schema_change(tb.result, &change, &target, &name));
    CHECK_STR(target, "TABLE");
    CHECK_STR(name, "types");
    CHECK_EQ(rv_cql_result_kind(use.result), RV_CQL_RESULT_SET_KEYSPACE);
    CHECK_STR(rv_cql_result_keyspace(use.result), "rv_record");
    CHECK(!rv_cql_result_schema_change(use.result, NULL, NULL, NULL));
    CHECK_EQ(rv_cql_result_kind(v.result), RV_CQL_RESULT_VOID);
    CHECK_EQ(rv_cql_result_row_count(v.result), 0);
    CHECK_EQ(rv_cql_result_warning_count(v.result), 0);
    CHECK_EQ(rv_cql_result_kind(w.result), RV_CQL_RESULT_VOID);
    CHECK_EQ(rv_cql_result_warning_count(w.result), 1);
    CHECK(strstr(rv_cql_result_warning(w.result, 0), "exceeding specified threshold"));
    rv__cql_response_free(&ks);
    rv__cql_response_free(&tb);
    rv__cql_response_free(&use);
    rv__cql_response_free(&v);
    rv__cql_response_free(&w);
}

static void test_errors(void)
{
    struct {
        const char *file;
        int code;
        const char *in_msg;
    } cases[] = {
        {"error_syntax", RV_CQL_ERR_SYNTAX, "Syntax_error (0x2000) from h1: line 1:0"},
        {"error_invalid", RV_CQL_ERR_INVALID, "Invalid (0x2200) from h1: table missing does not"},
        {"error_already_exists", RV_CQL_ERR_ALREADY_EXISTS, "[keyspace rv_record, table types]"},
        {"error_unprepared", RV_CQL_ERR_UNPREPARED, "Unprepared (0x2500)"},
        {"error_auth", RV_CQL_ERR_AUTH, "Authentication_error (0x0100) from h1: Provided username"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        rv__cql_response_t r = must(cases[i].file);
        CHECK_EQ(r.h.opcode, RV__CQL_OP_ERROR);
        CHECK_EQ(r.error.code, cases[i].code);
        rv_error_t *e = rv__cql_error_to_error(&r.error, "h1");
        CHECK_EQ(rv_error_code(e), RV_ERR_FROM_CQL(cases[i].code));
        CHECK(rv_err_is_cql(rv_error_code(e)));
        if (!strstr(rv_error_msg(e), cases[i].in_msg))
            rv_test_fail_at(__FILE__, __LINE__, "%s: \"%s\" lacks \"%s\"", cases[i].file,
                            rv_error_msg(e), cases[i].in_msg);
        CHECK(!rv_error_retriable(e));
        if (cases[i].code == RV_CQL_ERR_UNPREPARED) {
            CHECK_EQ(r.error.id_len, 16);
            CHECK(r.error.id[0] == 1 && r.error.id[15] == 1);
        }
        rv_error_destroy(e);
        rv__cql_response_free(&r);
    }
    /* Unavailable and timeouts carry their details and are retriable. */
    static const uint8_t unavail[] = {0, 0, 0x10, 0, 0, 3, 'n', 'o', '!', 0,
                                      4, 0, 0,    0, 2, 0, 0,   0,   1};
    rv__cql_srv_error_t se;
    CHECK_EQ(rv__cql_error_decode(unavail, sizeof(unavail), &se, NULL), RV_OK);
    rv_error_t *e = rv__cql_error_to_error(&se, "h");
    CHECK(strstr(rv_error_msg(e),
                 "Unavailable (0x1000) from h: no! [consistency QUORUM, required 2, alive 1]"));
    CHECK(rv_error_retriable(e));
    rv_error_destroy(e);
    static const uint8_t wto[] = {0, 0, 0x11, 0, 0, 0, 0,   1,   0,   0,   0,   0,
                                  0, 0, 0,    1, 0, 6, 'S', 'I', 'M', 'P', 'L', 'E'};
    CHECK_EQ(rv__cql_error_decode(wto, sizeof(wto), &se, NULL), RV_OK);
    e = rv__cql_error_to_error(&se, "h");
    CHECK(strstr(rv_error_msg(e), "write type SIMPLE"));
    rv_error_destroy(e);
    /* Truncated details are malformed. */
    rv_error_t *err = NULL;
    CHECK_EQ(rv__cql_error_decode(wto, sizeof(wto) - 1, &se, &err), RV_ERR_DECODE);
    rv_error_destroy(err);
}

static void test_other_opcodes(void)
{
    rv__cql_response_t sup = must("supported"), au = must("authenticate"),
                       ok = must("auth_success");
    CHECK_EQ(sup.h.opcode, RV__CQL_OP_SUPPORTED);
    CHECK_EQ(au.h.opcode, RV__CQL_OP_AUTHENTICATE);
    CHECK(au.text_len > 0 && strstr(au.text, "PasswordAuthenticator"));
    CHECK_EQ(ok.h.opcode, RV__CQL_OP_AUTH_SUCCESS);
    rv__cql_response_free(&sup);
    rv__cql_response_free(&au);
    rv__cql_response_free(&ok);
}

static const char *const all_recordings[] = {"supported",
                                             "authenticate",
                                             "auth_success",
                                             "error_auth",
                                             "schema_change_keyspace",
                                             "set_keyspace",
                                             "schema_change_table",
                                             "error_already_exists",
                                             "void",
                                             "rows_types",
                                             "rows_nulls",
                                             "rows_page1",
                                             "rows_page2",
                                             "rows_lwt_applied",
                                             "rows_lwt_not_applied",
                                             "rows_lwt_update_not_applied",
                                             "error_syntax",
                                             "error_invalid",
                                             "prepared_insert",
                                             "prepared_select",
                                             "error_unprepared",
                                             "void_with_warning"};

/* Decodes a body of exactly len bytes, in a buffer of exactly that size. */
static rv_err_t decode_body(const rv__cql_header_t *h0, const uint8_t *src, size_t len)
{
    rv__cql_header_t h = *h0;
    h.length = (uint32_t)len;
    uint8_t *body = malloc(len ? len : 1);
    memcpy(body, src, len);
    rv__cql_response_t resp;
    rv_error_t *err = NULL;
    rv_err_t e = rv__cql_response_decode(&h, body, &resp, &err);
    /* A successful decode must be readable end to end. */
    if (e == RV_OK && resp.result) {
        for (size_t r = 0; r < rv_cql_result_row_count(resp.result); r++)
            for (size_t c = 0; c < rv_cql_result_column_count(resp.result); c++) {
                rv_cql_value_t v;
                char fmt[512];
                if (rv_cql_result_value(resp.result, r, c, &v) == RV_OK)
                    rv_cql_value_format(&v, fmt, sizeof(fmt));
            }
    }
    if (e != RV_OK && !err) rv_test_fail_at(__FILE__, __LINE__, "failure without an error message");
    rv_error_destroy(err);
    rv__cql_response_free(&resp);
    return e;
}

static void test_every_truncation_fails_cleanly(void)
{
    for (size_t i = 0; i < sizeof(all_recordings) / sizeof(all_recordings[0]); i++) {
        rec_t r = load(all_recordings[i]);
        REQUIRE(r.data);
        rv__cql_header_t h;
        REQUIRE(rv__cql_header_decode(r.data, RV__CQL_MAX_BODY, &h, NULL) == RV_OK);
        const uint8_t *body = r.data + RV__CQL_HEADER_SIZE;
        size_t full = r.len - RV__CQL_HEADER_SIZE;
        CHECK_EQ(decode_body(&h, body, full), RV_OK);
        size_t ok_prefixes = 0;
        for (size_t n = 0; n < full; n++)
            if (decode_body(&h, body, n) == RV_OK) ok_prefixes++;
        /* Only bodies whose tail is optional may decode when cut (READY-like
         * bodies, an error without details...). Rows never do. */
        if (!strncmp(all_recordings[i], "rows_", 5) || !strncmp(all_recordings[i], "prepared", 8))
            CHECK_EQ(ok_prefixes, 0);
        free(r.data);
    }
}

static void test_every_byte_flip_is_safe(void)
{
    for (size_t i = 0; i < sizeof(all_recordings) / sizeof(all_recordings[0]); i++) {
        rec_t r = load(all_recordings[i]);
        REQUIRE(r.data);
        rv__cql_header_t h;
        REQUIRE(rv__cql_header_decode(r.data, RV__CQL_MAX_BODY, &h, NULL) == RV_OK);
        uint8_t *body = r.data + RV__CQL_HEADER_SIZE;
        size_t full = r.len - RV__CQL_HEADER_SIZE;
        static const uint8_t flips[] = {0xff, 0x80, 0x01, 0x7f};
        for (size_t k = 0; k < full; k++) {
            uint8_t orig = body[k];
            for (size_t f = 0; f < sizeof(flips); f++) {
                body[k] = orig ^ flips[f];
                decode_body(&h, body, full);
            }
            body[k] = orig;
        }
        free(r.data);
    }
}

static void test_hostile_bodies(void)
{
    rv__cql_header_t h = {0x84, 0, 1, RV__CQL_OP_RESULT, 0};
    /* Rows claiming 2^31-1 columns and rows with a few bytes behind them. */
    static const uint8_t many_cols[] = {0,    0,    0,    2,    0,    0,    0, 4, 0x7f, 0xff,
                                        0xff, 0xff, 0x7f, 0xff, 0xff, 0xff, 0, 0, 0,    0};
    CHECK_EQ(decode_body(&h, many_cols, sizeof(many_cols)), RV_ERR_DECODE);
    static const uint8_t many_rows[] = {0, 0, 0,    2,    0,    0,    0, 4, 0, 0,
                                        0, 1, 0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0};
    CHECK_EQ(decode_body(&h, many_rows, sizeof(many_rows)), RV_ERR_DECODE);
    /* Without metadata nothing bounds the column count: over 65535 is refused. */
    static const uint8_t nometa[] = {0, 0, 0, 2, 0, 0, 0, 4, 0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0};
    CHECK_EQ(decode_body(&h, nometa, sizeof(nometa)), RV_ERR_DECODE);
    static const uint8_t nometa_ok[] = {0, 0, 0, 2, 0, 0, 0, 4, 0, 0, 0xff, 0xff, 0, 0, 0, 0};
    CHECK_EQ(decode_body(&h, nometa_ok, sizeof(nometa_ok)), RV_OK);
    /* A list nested 40 deep. */
    uint8_t deep[4 + 4 + 4 + 2 + 2 + 2 + 40 * 2 + 2 + 4];
    size_t n = 0;
    static const uint8_t head[] = {0, 0, 0, 2,   0, 0, 0,   1, 0, 0,  0,
                                   1, 0, 1, 'k', 0, 1, 't', 0, 1, 'c'};
    memcpy(deep, head, sizeof(head));
    n = sizeof(head);
    for (int i = 0; i < 40 && n + 2 <= sizeof(deep); i++) {
        deep[n++] = 0;
        deep[n++] = 0x20;
    }
    CHECK_EQ(decode_body(&h, deep, n), RV_ERR_DECODE);
    /* An unknown type id, an unknown result kind, a negative row count. */
    static const uint8_t badtype[] = {0,   0, 0, 2,   0, 0, 0,   1,    0,    0, 0, 1, 0, 1,
                                      'k', 0, 1, 't', 0, 1, 'c', 0x00, 0x99, 0, 0, 0, 0};
    CHECK_EQ(decode_body(&h, badtype, sizeof(badtype)), RV_ERR_DECODE);
    static const uint8_t badkind[] = {0, 0, 0, 9};
    CHECK_EQ(decode_body(&h, badkind, sizeof(badkind)), RV_ERR_DECODE);
    static const uint8_t negrows[] = {0, 0, 0, 2, 0, 0, 0, 4, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff};
    CHECK_EQ(decode_body(&h, negrows, sizeof(negrows)), RV_ERR_DECODE);
    /* A UDT claiming 65535 fields in 10 bytes. */
    static const uint8_t udt[] = {0, 0,   0,   2,    0,    0, 0, 1,   0, 0,    0, 1, 0,
                                  1, 'k', 0,   1,    't',  0, 1, 'c', 0, 0x30, 0, 1, 'k',
                                  0, 1,   'u', 0xff, 0xff, 0, 0, 0,   0, 0,    0};
    CHECK_EQ(decode_body(&h, udt, sizeof(udt)), RV_ERR_DECODE);
    /* A prepared result whose partition key index points past its markers. */
    static const uint8_t pk[] = {0, 0, 0, 4, 0, 1, 7, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 5};
    CHECK_EQ(decode_body(&h, pk, sizeof(pk)), RV_ERR_DECODE);
    /* Tracing and warning prefixes that run off the end. */
    h.flags = RV__CQL_FLAG_TRACING;
    CHECK_EQ(decode_body(&h, badkind, sizeof(badkind)), RV_ERR_DECODE);
    h.flags = RV__CQL_FLAG_WARNING;
    static const uint8_t warn[] = {0, 5, 0, 1, 'x'};
    CHECK_EQ(decode_body(&h, warn, sizeof(warn)), RV_ERR_DECODE);
    /* An EVENT with a bad inet, an AUTHENTICATE with a short string. */
    h.flags = 0;
    h.opcode = RV__CQL_OP_EVENT;
    static const uint8_t ev[] = {0,   13,  'S', 'T', 'A', 'T', 'U', 'S', '_', 'C', 'H', 'A',
                                 'N', 'G', 'E', 0,   2,   'U', 'P', 9,   1,   2,   3};
    CHECK_EQ(decode_body(&h, ev, sizeof(ev)), RV_ERR_DECODE);
    h.opcode = RV__CQL_OP_AUTHENTICATE;
    CHECK_EQ(decode_body(&h, warn, 1), RV_ERR_DECODE);
}

RV_TEST_MAIN(RV_TEST(test_rows_every_type), RV_TEST(test_rows_nulls), RV_TEST(test_rows_paging),
             RV_TEST(test_lwt), RV_TEST(test_prepared), RV_TEST(test_schema_keyspace_void_warnings),
             RV_TEST(test_errors), RV_TEST(test_other_opcodes),
             RV_TEST(test_every_truncation_fails_cleanly),
             RV_TEST_T(test_every_byte_flip_is_safe, 120), RV_TEST(test_hostile_bodies))
