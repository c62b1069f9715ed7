/* Integration tests against a real Cassandra (tools/services/services start
 * cassandra): every type written by rivulet is read back identically by the
 * DataStax Python driver and the other way round; paging through 10,000 rows;
 * lightweight transactions; logged, unlogged, counter and conditional
 * batches; a prepared statement that survives ALTER TABLE; 1,000 concurrent
 * requests on one connection; authentication; server errors; tokens computed
 * like the server's. */
#include <stdio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cql/murmur3.h"
#include "cql_it.h"

#ifndef RV_CQL_PY
#error "RV_CQL_PY must name tests/cql/py"
#endif

/* ------------------------------------------------------------------ types */

static void types_schema(it_t *t)
{
    it_keyspace(t);
    it_run(t, "CREATE TYPE IF NOT EXISTS rv_test_cql.addr (street text, zip int, "
              "tags frozen<list<text>>)");
    static const char *const tables[] = {"types_rv", "types_py"};
    for (size_t i = 0; i < 2; i++) {
        char q[1024];
        snprintf(q, sizeof(q), "DROP TABLE IF EXISTS rv_test_cql.%s", tables[i]);
        it_run(t, q);
        snprintf(q, sizeof(q), "DROP TABLE IF EXISTS rv_test_cql.%s_counter", tables[i]);
        it_run(t, q);
        snprintf(q, sizeof(q),
                 "CREATE TABLE rv_test_cql.%s (k int PRIMARY KEY, a ascii, b bigint, bl blob, "
                 "bo boolean, d decimal, db double, f float, i4 inet, i6 inet, n int, si smallint, "
                 "ti tinyint, t text, ts timestamp, dt date, tm time, u uuid, tu timeuuid, "
                 "v varint, du duration, l list<int>, s set<text>, m map<text, bigint>, "
                 "tp tuple<int, text, boolean>, ad frozen<addr>, nl list<int>)",
                 tables[i]);
        it_run(t, q);
        snprintf(q, sizeof(q), "CREATE TABLE rv_test_cql.%s_counter (k int PRIMARY KEY, c counter)",
                 tables[i]);
        it_run(t, q);
    }
}

static const char *const COLS = "k, a, b, bl, bo, d, db, f, i4, i6, n, si, ti, t, ts, dt, tm, u, "
                                "tu, v, du, l, s, m, tp, ad, nl";

/* The canonical rows, as rv_cql_value_format prints them (floats are checked
 * with their getters). Same values as tests/cql/py/types_roundtrip.py. */
static const char *const EXPECT[2][27] = {{"1",
                                           "'ascii!'",
                                           "-9223372036854775808",
                                           "0xcafe00babe",
                                           "true",
                                           "-1234500E-4",
                                           NULL,
                                           NULL,
                                           "192.168.1.20",
                                           "::1",
                                           "null",
                                           "-32768",
                                           "-128",
                                           "'h\xc3\xa9llo \xe2\x9c\x93 \xe6\x97\xa5\xe6\x9c\xac'",
                                           "1700000000123",
                                           "19782",
                                           "86399999999999",
                                           "01234567-89ab-cdef-0123-456789abcdef",
                                           "d2177dd0-eaa2-11de-a572-001b779c76e3",
                                           "0x80000000000000000000000000000000",
                                           "1mo2d3ns",
                                           "[1, 2, 3]",
                                           "{'a', 'b'}",
                                           "{'x': 1, 'y': -1}",
                                           "(7, 'seven', false)",
                                           "{street: 'Main', zip: 12345, tags: ['t1', 't2']}",
                                           "null"},
                                          {"2",
                                           "''",
                                           "9223372036854775807",
                                           "0x",
                                           "false",
                                           "0E0",
                                           NULL,
                                           NULL,
                                           "0.0.0.0",
                                           "2001:db8::ff00:42:8329",
                                           "2147483647",
                                           "32767",
                                           "127",
                                           "''",
                                           "-1",
                                           "-25567",
                                           "0",
                                           "00000000-0000-0000-0000-000000000000",
                                           "00000000-0000-1000-8000-000000000000",
                                           "0x010000000000000000",
                                           "-1mo-2d-3ns",
                                           "[-2147483648]",
                                           "{''}",
                                           "{'': 0}",
                                           "(null, '', null)",
                                           "{street: 'S', zip: null, tags: ['']}",
                                           "null"}};
static const double EXPECT_DB[2] = {3.141592653589793, -1e308};
static const float EXPECT_F[2] = {1.5f, -3.40282347e38f};

static void bind_row(rv_cql_stmt_t *st, int row)
{
    size_t i = 0;
    static const uint8_t uu[2][16] = {{0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x01, 0x23,
                                       0x45, 0x67, 0x89, 0xab, 0xcd, 0xef},
                                      {0}};
    static const uint8_t tu[2][16] = {{0xd2, 0x17, 0x7d, 0xd0, 0xea, 0xa2, 0x11, 0xde, 0xa5, 0x72,
                                       0x00, 0x1b, 0x77, 0x9c, 0x76, 0xe3},
                                      {0, 0, 0, 0, 0, 0, 0x10, 0, 0x80, 0, 0, 0, 0, 0, 0, 0}};
    static const uint8_t v4[2][4] = {{192, 168, 1, 20}, {0, 0, 0, 0}};
    static const uint8_t v6[2][16] = {
        {[15] = 1}, {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0xff, 0x00, 0x00, 0x42, 0x83, 0x29}};
    static const uint8_t big[2][17] = {{0x80}, {0x01}};
    uint8_t unscaled[8];
    rv_cql_bind_int(st, i++, row + 1);
    rv_cql_bind_text(st, i++, row ? "" : "ascii!");
    rv_cql_bind_bigint(st, i++, row ? INT64_MAX : INT64_MIN);
    rv_cql_bind_blob(st, i++, row ? "" : "\xca\xfe\x00\xba\xbe", row ? 0 : 5);
    rv_cql_bind_bool(st, i++, !row);
    rv_cql_bind_decimal(st, i++, row ? 0 : 4, unscaled,
                        rv_cql_varint_from_int64(row ? 0 : -1234500, unscaled));
    rv_cql_bind_double(st, i++, EXPECT_DB[row]);
    rv_cql_bind_float(st, i++, EXPECT_F[row]);
    rv_cql_bind_inet(st, i++, v4[row], 4);
    rv_cql_bind_inet(st, i++, v6[row], 16);
    if (row)
        rv_cql_bind_int(st, i++, INT32_MAX);
    else
        rv_cql_bind_null(st, i++);
    rv_cql_bind_smallint(st, i++, row ? INT16_MAX : INT16_MIN);
    rv_cql_bind_tinyint(st, i++, row ? INT8_MAX : INT8_MIN);
    rv_cql_bind_text(st, i++, row ? "" : "h\xc3\xa9llo \xe2\x9c\x93 \xe6\x97\xa5\xe6\x9c\xac");
    rv_cql_bind_timestamp(st, i++, row ? -1 : INT64_C(1700000000123));
    rv_cql_bind_date(st, i++, row ? (1u << 31) - 25567 : (1u << 31) + 19782);
    rv_cql_bind_time(st, i++, row ? 0 : INT64_C(86399999999999));
    rv_cql_bind_uuid(st, i++, uu[row]);
    rv_cql_bind_uuid(st, i++, tu[row]);
    rv_cql_bind_varint(st, i++, big[row], row ? 9 : 16);
    rv_cql_bind_duration(st, i++, row ? -1 : 1, row ? -2 : 2, row ? -3 : 3);
    rv_cql_coll_t *l = rv_cql_coll_new(RV_CQL_LIST), *s = rv_cql_coll_new(RV_CQL_SET),
                  *m = rv_cql_coll_new(RV_CQL_MAP), *tp = rv_cql_coll_new(RV_CQL_TUPLE),
                  *ad = rv_cql_coll_new(RV_CQL_UDT), *tags = rv_cql_coll_new(RV_CQL_LIST);
    if (row) {
        rv_cql_coll_add_int(l, INT32_MIN);
        rv_cql_coll_add_text(s, "");
        rv_cql_coll_add_text(m, "");
        rv_cql_coll_add_bigint(m, 0);
        rv_cql_coll_add_null(tp);
        rv_cql_coll_add_text(tp, "");
        rv_cql_coll_add_null(tp);
        rv_cql_coll_add_text(tags, "");
        rv_cql_coll_add_text(ad, "S");
        rv_cql_coll_add_null(ad);
        rv_cql_coll_add_coll(ad, tags);
    } else {
        for (int k = 1; k <= 3; k++)
            rv_cql_coll_add_int(l, k);
        rv_cql_coll_add_text(s, "a");
        rv_cql_coll_add_text(s, "b");
        rv_cql_coll_add_text(m, "x");
        rv_cql_coll_add_bigint(m, 1);
        rv_cql_coll_add_text(m, "y");
        rv_cql_coll_add_bigint(m, -1);
        rv_cql_coll_add_int(tp, 7);
        rv_cql_coll_add_text(tp, "seven");
        rv_cql_coll_add_bool(tp, false);
        rv_cql_coll_add_text(tags, "t1");
        rv_cql_coll_add_text(tags, "t2");
        rv_cql_coll_add_text(ad, "Main");
        rv_cql_coll_add_int(ad, 12345);
        rv_cql_coll_add_coll(ad, tags);
    }
    rv_cql_bind_coll(st, i++, l);
    rv_cql_bind_coll(st, i++, s);
    rv_cql_bind_coll(st, i++, m);
    rv_cql_bind_coll(st, i++, tp);
    rv_cql_bind_coll(st, i++, ad);
    rv_cql_bind_null(st, i++);
    rv_cql_coll_destroy(l);
    rv_cql_coll_destroy(s);
    rv_cql_coll_destroy(m);
    rv_cql_coll_destroy(tp);
    rv_cql_coll_destroy(ad);
    rv_cql_coll_destroy(tags);
}

static int run_python(const char *mode, const char *table)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "/usr/bin/python3 %s/types_roundtrip.py %s %s 2>&1", RV_CQL_PY, mode,
             table);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    char line[1024];
    while (fgets(line, sizeof(line), p))
        fprintf(stderr, "    [python] %s", line);
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void check_rows(it_t *t, const char *table)
{
    char q[256];
    for (int row = 0; row < 2; row++) {
        snprintf(q, sizeof(q), "SELECT %s FROM rv_test_cql.%s WHERE k = %d", COLS, table, row + 1);
        rv_cql_result_t *res = it_query(t, q);
        REQUIRE(res);
        REQUIRE(rv_cql_result_row_count(res) == 1);
        for (size_t c = 0; c < 27; c++) {
            rv_cql_value_t v;
            rv_cql_result_value(res, 0, c, &v);
            if (!EXPECT[row][c]) continue;
            char got[256];
            rv_cql_value_format(&v, got, sizeof(got));
            if (strcmp(got, EXPECT[row][c]) != 0)
                rv_test_fail_at(__FILE__, __LINE__, "%s k=%d %s: got %s, want %s", table, row + 1,
                                rv_cql_result_column_name(res, c), got, EXPECT[row][c]);
        }
        double db;
        float f;
        CHECK_EQ(rv_cql_result_get_double(res, 0, 6, &db), RV_OK);
        CHECK(db == EXPECT_DB[row]);
        CHECK_EQ(rv_cql_result_get_float(res, 0, 7, &f), RV_OK);
        CHECK(f == EXPECT_F[row]);
        rv_cql_result_destroy(res);
    }
    snprintf(q, sizeof(q), "SELECT c FROM rv_test_cql.%s_counter WHERE k = 1", table);
    rv_cql_result_t *res = it_query(t, q);
    int64_t cnt = 0;
    CHECK_EQ(rv_cql_result_get_bigint(res, 0, 0, &cnt), RV_OK);
    CHECK_EQ(cnt, 42);
    rv_cql_result_destroy(res);
}

static void test_types_rivulet_to_python(void)
{
    it_t t;
    IT_OPEN(&t, NULL);
    types_schema(&t);
    char q[512];
    snprintf(q, sizeof(q),
             "INSERT INTO rv_test_cql.types_rv (%s) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
             "?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
             COLS);
    rv_cql_prepared_t *p = it_prepare(&t, q);
    REQUIRE(p);
    CHECK_EQ(rv_cql_prepared_bind_count(p), 27);
    rv_cql_stmt_t *st = rv_cql_stmt_new_prepared(p);
    for (int row = 0; row < 2; row++) {
        rv_cql_stmt_reset(st);
        bind_row(st, row);
        CHECK(rv_cql_stmt_error(st) == NULL);
        rv_error_t *err = NULL;
        rv_cql_result_t *res = it_exec(&t, st, &err);
        if (!res) rv_test_fail_at(__FILE__, __LINE__, "insert row %d: %s", row, rv_error_msg(err));
        rv_error_destroy(err);
        rv_cql_result_destroy(res);
    }
    rv_cql_stmt_destroy(st);
    /* "Unset" leaves a column alone: n of row 2 keeps its value. */
    rv_cql_prepared_t *up =
        it_prepare(&t, "UPDATE rv_test_cql.types_rv SET n = ?, a = ? WHERE k = 2");
    st = rv_cql_stmt_new_prepared(up);
    rv_cql_bind_unset(st, 0);
    rv_cql_bind_text(st, 1, "");
    rv_cql_result_destroy(it_exec(&t, st, NULL));
    rv_cql_stmt_destroy(st);
    /* The counter: 40 + 2 through a simple statement with a bound bigint. */
    for (int k = 0; k < 2; k++) {
        st = rv_cql_stmt_new("UPDATE rv_test_cql.types_rv_counter SET c = c + ? WHERE k = 1", 1);
        rv_cql_bind_bigint(st, 0, k ? 2 : 40);
        rv_cql_result_destroy(it_exec(&t, st, NULL));
        rv_cql_stmt_destroy(st);
    }
    /* rivulet reads its own rows back, then the Python driver checks them. */
    check_rows(&t, "types_rv");
    CHECK_EQ(run_python("check", "types_rv"), 0);
    it_close(&t);
}

static void test_types_python_to_rivulet(void)
{
    it_t t;
    IT_OPEN(&t, NULL);
    types_schema(&t);
    REQUIRE(run_python("write", "types_py") == 0);
    check_rows(&t, "types_py");
    it_close(&t);
}

/* ------------------------------------------------------------------ paging */

typedef struct window {
    it_t *t;
    int inflight, done, errors;
} window_t;

static void on_windowed(rv_cql_session_t *s, rv_cql_result_t *res, const rv_error_t *err,
                        void *opaque)
{
    window_t *w = opaque;
    (void)s;
    if (err) {
        if (w->errors++ < 3) fprintf(stderr, "    %s\n", rv_error_msg(err));
    }
    rv_cql_result_destroy(res);
    w->inflight--;
    w->done++;
}

static void test_paging_10000_rows(void)
{
    it_t t;
    IT_OPEN(&t, NULL);
    it_keyspace(&t);
    it_run(&t, "CREATE TABLE IF NOT EXISTS rv_test_cql.paging (p int, c int, v text, "
               "PRIMARY KEY (p, c))");
    rv_cql_prepared_t *ins =
        it_prepare(&t, "INSERT INTO rv_test_cql.paging (p, c, v) VALUES (1, ?, ?)");
    REQUIRE(ins);
    window_t w = {&t, 0, 0, 0};
    rv_cql_stmt_t *st = rv_cql_stmt_new_prepared(ins);
    rv_cql_stmt_set_idempotent(st, true);
    for (int c = 0; c < 10000; c++) {
        while (w.inflight >= 256)
            uv_run(&t.loop, UV_RUN_ONCE);
        char v[16];
        snprintf(v, sizeof(v), "v%d", c);
        rv_cql_stmt_reset(st);
        rv_cql_bind_int(st, 0, c);
        rv_cql_bind_text(st, 1, v);
        REQUIRE(rv_cql_execute(t.s, st, on_windowed, &w, NULL));
        w.inflight++;
    }
    while (w.inflight > 0)
        uv_run(&t.loop, UV_RUN_ONCE);
    rv_cql_stmt_destroy(st);
    CHECK_EQ(w.errors, 0);

    st = rv_cql_stmt_new("SELECT c, v FROM rv_test_cql.paging WHERE p = 1", 0);
    rv_cql_stmt_set_page_size(st, 100);
    int rows = 0, pages = 0, next = 0, wrong = 0;
    for (;;) {
        rv_error_t *err = NULL;
        rv_cql_result_t *res = it_exec(&t, st, &err);
        if (!res) {
            rv_test_fail_at(__FILE__, __LINE__, "page %d: %s", pages, rv_error_msg(err));
            rv_error_destroy(err);
            break;
        }
        pages++;
        CHECK(rv_cql_result_row_count(res) <= 100);
        for (size_t r = 0; r < rv_cql_result_row_count(res); r++, rows++) {
            int32_t c = -1;
            const char *v;
            size_t n;
            char want[16];
            snprintf(want, sizeof(want), "v%d", next);
            if (rv_cql_result_get_int(res, r, 0, &c) != RV_OK || c != next ||
                rv_cql_result_get_text(res, r, 1, &v, &n) != RV_OK || n != strlen(want) ||
                memcmp(v, want, n))
                wrong++;
            next++;
        }
        const uint8_t *state;
        size_t len;
        bool more = rv_cql_result_paging_state(res, &state, &len);
        if (more) rv_cql_stmt_set_paging_state(st, state, len);
        rv_cql_result_destroy(res);
        if (!more) break;
    }
    rv_cql_stmt_destroy(st);
    CHECK_EQ(rows, 10000);
    CHECK_EQ(wrong, 0);
    /* 100 full pages; the server may add one empty page at the end. */
    CHECK(pages == 100 || pages == 101);
    it_close(&t);
}

/* -------------------------------------------------------------------- LWT */

static const char *cell_text(const rv_cql_result_t *res, const char *col)
{
    static char buf[128];
    int c = rv_cql_result_column_index(res, col);
    const char *s;
    size_t n;
    if (c < 0 || rv_cql_result_get_text(res, 0, (size_t)c, &s, &n) != RV_OK || n >= sizeof(buf))
        return "(none)";
    memcpy(buf, s, n);
    buf[n] = '\0';
    return buf;
}

static void test_lightweight_transactions(void)
{
    it_t t;
    IT_OPEN(&t, NULL);
    it_keyspace(&t);
    it_run(&t, "CREATE TABLE IF NOT EXISTS rv_test_cql.lwt (k int PRIMARY KEY, v text, n int)");
    it_run(&t, "DELETE FROM rv_test_cql.lwt WHERE k IN (1, 2)");
    rv_cql_result_t *r =
        it_query(&t, "INSERT INTO rv_test_cql.lwt (k, v, n) VALUES (1, 'first', 7) "
                     "IF NOT EXISTS");
    CHECK_EQ(rv_cql_result_applied(r), 1);
    rv_cql_result_destroy(r);
    r = it_query(&t, "INSERT INTO rv_test_cql.lwt (k, v, n) VALUES (1, 'second', 8) IF NOT EXISTS");
    CHECK_EQ(rv_cql_result_applied(r), 0);
    CHECK_STR(cell_text(r, "v"), "first");
    int32_t n = 0;
    CHECK_EQ(rv_cql_result_get_int(r, 0, (size_t)rv_cql_result_column_index(r, "n"), &n), RV_OK);
    CHECK_EQ(n, 7);
    rv_cql_result_destroy(r);

    /* Prepared: the prepared result metadata only announces [applied]; the
     * not-applied answer carries more columns, read from its own metadata. */
    rv_cql_prepared_t *p =
        it_prepare(&t, "INSERT INTO rv_test_cql.lwt (k, v, n) VALUES (?, ?, ?) IF NOT EXISTS");
    rv_cql_stmt_t *st = rv_cql_stmt_new_prepared(p);
    rv_cql_stmt_set_serial_consistency(st, RV_CQL_LOCAL_SERIAL);
    rv_cql_bind_int(st, 0, 1);
    rv_cql_bind_text(st, 1, "third");
    rv_cql_bind_int(st, 2, 9);
    r = it_exec(&t, st, NULL);
    REQUIRE(r);
    CHECK_EQ(rv_cql_result_applied(r), 0);
    CHECK(rv_cql_result_column_count(r) >= 4);
    CHECK_STR(cell_text(r, "v"), "first");
    rv_cql_result_destroy(r);
    rv_cql_stmt_reset(st);
    rv_cql_bind_int(st, 0, 2);
    rv_cql_bind_text(st, 1, "two");
    rv_cql_bind_int(st, 2, 2);
    r = it_exec(&t, st, NULL);
    CHECK_EQ(rv_cql_result_applied(r), 1);
    CHECK_EQ(rv_cql_result_column_count(r), 1);
    rv_cql_result_destroy(r);
    rv_cql_stmt_destroy(st);

    r = it_query(&t, "UPDATE rv_test_cql.lwt SET v = 'x' WHERE k = 1 IF v = 'nope'");
    CHECK_EQ(rv_cql_result_applied(r), 0);
    CHECK_STR(cell_text(r, "v"), "first");
    rv_cql_result_destroy(r);
    r = it_query(&t, "UPDATE rv_test_cql.lwt SET v = 'x' WHERE k = 1 IF v = 'first'");
    CHECK_EQ(rv_cql_result_applied(r), 1);
    rv_cql_result_destroy(r);
    r = it_query(&t, "SELECT v FROM rv_test_cql.lwt WHERE k = 1");
    CHECK_STR(cell_text(r, "v"), "x");
    CHECK_EQ(rv_cql_result_applied(r), -1); /* a plain SELECT is no LWT */
    rv_cql_result_destroy(r);
    it_close(&t);
}

/* ---------------------------------------------------------------- batches */

static int64_t count_rows(it_t *t, const char *q)
{
    rv_cql_result_t *r = it_query(t, q);
    int64_t n = -1;
    if (r) rv_cql_result_get_bigint(r, 0, 0, &n);
    rv_cql_result_destroy(r);
    return n;
}

static void test_batches(void)
{
    it_t t;
    IT_OPEN(&t, NULL);
    it_keyspace(&t);
    it_run(&t, "CREATE TABLE IF NOT EXISTS rv_test_cql.bt (p int, c int, v text, "
               "PRIMARY KEY (p, c))");
    it_run(&t, "CREATE TABLE IF NOT EXISTS rv_test_cql.btc (k int PRIMARY KEY, n counter)");
    it_run(&t, "DELETE FROM rv_test_cql.bt WHERE p IN (1, 2, 3)");
    rv_cql_prepared_t *p = it_prepare(&t, "INSERT INTO rv_test_cql.bt (p, c, v) VALUES (?, ?, ?)");
    REQUIRE(p);
    static const rv_cql_batch_type_t types[] = {RV_CQL_BATCH_LOGGED, RV_CQL_BATCH_UNLOGGED};
    for (int b = 0; b < 2; b++) {
        rv_cql_batch_t *batch = rv_cql_batch_new(types[b]);
        rv_cql_stmt_t *st = rv_cql_stmt_new_prepared(p);
        for (int c = 0; c < 3; c++) {
            rv_cql_stmt_reset(st);
            rv_cql_bind_int(st, 0, b + 1);
            rv_cql_bind_int(st, 1, c);
            rv_cql_bind_text(st, 2, "prepared");
            CHECK_EQ(rv_cql_batch_add(batch, st, NULL), RV_OK);
        }
        rv_cql_stmt_t *simple =
            rv_cql_stmt_new("INSERT INTO rv_test_cql.bt (p, c, v) VALUES (?, 3, 'simple')", 1);
        rv_cql_bind_int(simple, 0, b + 1);
        CHECK_EQ(rv_cql_batch_add(batch, simple, NULL), RV_OK);
        rv_cql_batch_set_consistency(batch, RV_CQL_ONE);
        it_call_t c = {0};
        REQUIRE(rv_cql_execute_batch(t.s, batch, it_on_result, &c, NULL));
        it_wait(&t, &c.done);
        CHECK(c.err == NULL);
        CHECK(c.res && rv_cql_result_kind(c.res) == RV_CQL_RESULT_VOID);
        rv_cql_result_destroy(c.res);
        rv_error_destroy(c.err);
        rv_cql_stmt_destroy(st);
        rv_cql_stmt_destroy(simple);
        rv_cql_batch_destroy(batch);
    }
    CHECK_EQ(count_rows(&t, "SELECT COUNT(*) FROM rv_test_cql.bt WHERE p = 1"), 4);
    CHECK_EQ(count_rows(&t, "SELECT COUNT(*) FROM rv_test_cql.bt WHERE p = 2"), 4);

    /* A counter batch. */
    /* Counters cannot be reset by deleting them: a fresh key per run. */
    int32_t key = (int32_t)((uint32_t)time(NULL) ^ ((uint32_t)getpid() << 16));
    rv_cql_batch_t *cb = rv_cql_batch_new(RV_CQL_BATCH_COUNTER);
    rv_cql_stmt_t *inc = rv_cql_stmt_new("UPDATE rv_test_cql.btc SET n = n + ? WHERE k = ?", 2);
    for (int i = 1; i <= 3; i++) {
        rv_cql_stmt_reset(inc);
        rv_cql_bind_bigint(inc, 0, i);
        rv_cql_bind_int(inc, 1, key);
        rv_cql_batch_add(cb, inc, NULL);
    }
    it_call_t c = {0};
    REQUIRE(rv_cql_execute_batch(t.s, cb, it_on_result, &c, NULL));
    it_wait(&t, &c.done);
    CHECK(c.err == NULL);
    rv_cql_result_destroy(c.res);
    rv_error_destroy(c.err);
    rv_cql_stmt_destroy(inc);
    rv_cql_batch_destroy(cb);
    char q[128];
    snprintf(q, sizeof(q), "SELECT n FROM rv_test_cql.btc WHERE k = %d", key);
    CHECK_EQ(count_rows(&t, q), 6);

    /* A conditional batch on one partition: applied, then not. */
    for (int round = 0; round < 2; round++) {
        rv_cql_batch_t *lb = rv_cql_batch_new(RV_CQL_BATCH_LOGGED);
        rv_cql_stmt_t *a = rv_cql_stmt_new(
            "INSERT INTO rv_test_cql.bt (p, c, v) VALUES (3, 1, 'a') IF NOT EXISTS", 0);
        rv_cql_stmt_t *b2 =
            rv_cql_stmt_new("INSERT INTO rv_test_cql.bt (p, c, v) VALUES (3, 2, 'b')", 0);
        rv_cql_batch_add(lb, a, NULL);
        rv_cql_batch_add(lb, b2, NULL);
        it_call_t lc = {0};
        REQUIRE(rv_cql_execute_batch(t.s, lb, it_on_result, &lc, NULL));
        it_wait(&t, &lc.done);
        if (lc.err) fprintf(stderr, "    %s\n", rv_error_msg(lc.err));
        CHECK_EQ(rv_cql_result_applied(lc.res), round == 0 ? 1 : 0);
        if (round == 1) CHECK_STR(cell_text(lc.res, "v"), "a");
        rv_cql_result_destroy(lc.res);
        rv_error_destroy(lc.err);
        rv_cql_stmt_destroy(a);
        rv_cql_stmt_destroy(b2);
        rv_cql_batch_destroy(lb);
    }
    it_close(&t);
}

/* ----------------------------------------------------------- ALTER TABLE */

static void test_prepared_survives_alter_table(void)
{
    it_t t;
    IT_OPEN(&t, NULL);
    it_keyspace(&t);
    it_run(&t, "DROP TABLE IF EXISTS rv_test_cql.alt");
    rv_cql_result_t *r = it_query(&t, "CREATE TABLE rv_test_cql.alt (k int PRIMARY KEY, a int)");
    CHECK(rv_cql_result_schema_agreed(r));
    rv_cql_result_destroy(r);
    rv_cql_prepared_t *sel = it_prepare(&t, "SELECT * FROM rv_test_cql.alt WHERE k = ?");
    rv_cql_prepared_t *ins = it_prepare(&t, "INSERT INTO rv_test_cql.alt (k, a) VALUES (?, ?)");
    REQUIRE(sel && ins);
    rv_cql_stmt_t *si = rv_cql_stmt_new_prepared(ins), *ss = rv_cql_stmt_new_prepared(sel);
    rv_cql_bind_int(si, 0, 1);
    rv_cql_bind_int(si, 1, 10);
    rv_cql_result_destroy(it_exec(&t, si, NULL));
    rv_cql_bind_int(ss, 0, 1);
    r = it_exec(&t, ss, NULL);
    CHECK_EQ(rv_cql_result_column_count(r), 2);
    rv_cql_result_destroy(r);

    it_run(&t, "ALTER TABLE rv_test_cql.alt ADD b text");
    it_run(&t, "UPDATE rv_test_cql.alt SET b = 'new' WHERE k = 1");
    rv_error_t *err = NULL;
    rv_cql_stmt_reset(si);
    rv_cql_bind_int(si, 0, 2);
    rv_cql_bind_int(si, 1, 20);
    r = it_exec(&t, si, &err);
    if (!r) rv_test_fail_at(__FILE__, __LINE__, "insert after ALTER: %s", rv_error_msg(err));
    rv_error_destroy(err);
    rv_cql_result_destroy(r);
    err = NULL;
    r = it_exec(&t, ss, &err);
    if (!r) rv_test_fail_at(__FILE__, __LINE__, "select after ALTER: %s", rv_error_msg(err));
    rv_error_destroy(err);
    /* The new column is there: results carry their own metadata. */
    CHECK_EQ(rv_cql_result_column_count(r), 3);
    CHECK_STR(cell_text(r, "b"), "new");
    rv_cql_result_destroy(r);
    rv_cql_stats_t stats;
    rv_cql_session_stats(t.s, &stats);
    fprintf(stderr, "    re-prepares after ALTER TABLE: %llu\n",
            (unsigned long long)stats.reprepares);
    rv_cql_stmt_destroy(si);
    rv_cql_stmt_destroy(ss);
    it_close(&t);
}

/* -------------------------------------------------------------- concurrency */

static void test_1000_concurrent_requests(void)
{
    it_t t;
    static const char *const kv[] = {"cql.connections.per.host", "1", NULL};
    IT_OPEN(&t, kv);
    it_keyspace(&t);
    it_run(&t, "CREATE TABLE IF NOT EXISTS rv_test_cql.conc (k int PRIMARY KEY, v int)");
    rv_cql_prepared_t *p = it_prepare(&t, "INSERT INTO rv_test_cql.conc (k, v) VALUES (?, ?)");
    REQUIRE(p);
    window_t w = {&t, 0, 0, 0};
    rv_cql_stmt_t *st = rv_cql_stmt_new_prepared(p);
    for (int k = 0; k < 1000; k++) {
        rv_cql_stmt_reset(st);
        rv_cql_bind_int(st, 0, k);
        rv_cql_bind_int(st, 1, k * 2);
        REQUIRE(rv_cql_execute(t.s, st, on_windowed, &w, NULL));
        w.inflight++;
    }
    rv_cql_stats_t stats;
    rv_cql_session_stats(t.s, &stats);
    CHECK_EQ(stats.connections, 1);
    CHECK_EQ(stats.in_flight, 1000); /* all on the wire at once, on one connection */
    while (w.inflight > 0)
        uv_run(&t.loop, UV_RUN_ONCE);
    CHECK_EQ(w.done, 1000);
    CHECK_EQ(w.errors, 0);
    rv_cql_stmt_destroy(st);
    CHECK_EQ(count_rows(&t, "SELECT COUNT(*) FROM rv_test_cql.conc"), 1000);
    it_close(&t);
}

/* ---------------------------------------------------------- auth and errors */

static void test_wrong_password(void)
{
    it_t t;
    rv_error_t *err = NULL;
    CHECK(!it_open_with(&t, "definitely-not-the-password", NULL, &err));
    REQUIRE(err);
    CHECK_EQ(rv_error_code(err), RV_ERR_FROM_CQL(RV_CQL_ERR_AUTH));
    if (!strstr(rv_error_msg(err), "Authentication_error") ||
        !strstr(rv_error_msg(err), "password are incorrect"))
        rv_test_fail_at(__FILE__, __LINE__, "unclear message: %s", rv_error_msg(err));
    fprintf(stderr, "    wrong password: %s\n", rv_error_msg(err));
    rv_error_destroy(err);
    it_close(&t);
}

static void test_server_errors(void)
{
    it_t t;
    IT_OPEN(&t, NULL);
    it_keyspace(&t);
    struct {
        const char *q;
        int code;
        const char *text;
    } cases[] = {{"SELEKT 1", RV_CQL_ERR_SYNTAX, "no viable alternative"},
                 {"SELECT * FROM rv_test_cql.no_such_table", RV_CQL_ERR_INVALID, "no_such_table"},
                 {"CREATE KEYSPACE rv_test_cql WITH replication = {'class': 'SimpleStrategy', "
                  "'replication_factor': 1}",
                  RV_CQL_ERR_ALREADY_EXISTS, "[keyspace rv_test_cql"}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        rv_cql_stmt_t *st = rv_cql_stmt_new(cases[i].q, 0);
        rv_error_t *err = NULL;
        rv_cql_result_t *r = it_exec(&t, st, &err);
        CHECK(r == NULL);
        CHECK_EQ(rv_error_code(err), RV_ERR_FROM_CQL(cases[i].code));
        if (!err || !strstr(rv_error_msg(err), cases[i].text))
            rv_test_fail_at(__FILE__, __LINE__, "%s: %s", cases[i].q,
                            err ? rv_error_msg(err) : "no error");
        rv_error_destroy(err);
        rv_cql_stmt_destroy(st);
    }
    it_close(&t);
}

/* ----------------------------------------------------------------- tokens */

static void test_tokens_match_the_server(void)
{
    it_t t;
    IT_OPEN(&t, NULL);
    it_keyspace(&t);
    it_run(&t, "CREATE TABLE IF NOT EXISTS rv_test_cql.tok (k text PRIMARY KEY)");
    char q[256], key[40];
    for (int n = 1; n <= 33; n++) {
        for (int i = 0; i < n; i++)
            key[i] = (char)('a' + (i * 7 + n) % 26);
        key[n] = '\0';
        /* Non-ASCII bytes exercise the sign-extended tail. */
        if (n > 2) memcpy(key + n - 2, "\xc3\xa9", 2);
        snprintf(q, sizeof(q), "INSERT INTO rv_test_cql.tok (k) VALUES ('%s')", key);
        it_run(&t, q);
        snprintf(q, sizeof(q), "SELECT token(k) FROM rv_test_cql.tok WHERE k = '%s'", key);
        rv_cql_result_t *r = it_query(&t, q);
        int64_t server = 0;
        CHECK_EQ(rv_cql_result_get_bigint(r, 0, 0, &server), RV_OK);
        int64_t ours = rv__cql_murmur3_token((const uint8_t *)key, (size_t)n);
        if (server != ours)
            rv_test_fail_at(__FILE__, __LINE__, "key of %d bytes: server %lld, rivulet %lld", n,
                            (long long)server, (long long)ours);
        rv_cql_result_destroy(r);
    }
    rv_cql_stats_t stats;
    rv_cql_session_stats(t.s, &stats);
    CHECK(stats.hosts >= 1);
    it_close(&t);
}

RV_TEST_MAIN(RV_TEST_T(test_types_rivulet_to_python, 120),
             RV_TEST_T(test_types_python_to_rivulet, 120), RV_TEST_T(test_paging_10000_rows, 180),
             RV_TEST_T(test_lightweight_transactions, 60), RV_TEST_T(test_batches, 60),
             RV_TEST_T(test_prepared_survives_alter_table, 60),
             RV_TEST_T(test_1000_concurrent_requests, 120), RV_TEST_T(test_wrong_password, 30),
             RV_TEST_T(test_server_errors, 30), RV_TEST_T(test_tokens_match_the_server, 60))
