/* UUIDs against Python's uuid module (vectors computed with CPython 3.11's
 * uuid.uuid5 and uuid.UUID(fields=...), an implementation we did not write). */
#include "rivulet/cqrs.h"
#include "rv_test.h"

static rv_uuid_t parse(const char *s)
{
    rv_uuid_t u;
    rv_err_t rc = rv_uuid_parse(s, strlen(s), &u, NULL);
    CHECK_EQ(rc, RV_OK);
    return u;
}

static void check_v5(const char *ns, const char *name, const char *expect)
{
    rv_uuid_t n = parse(ns), out;
    char s[37];
    rv_uuid_v5(&n, name, strlen(name), &out);
    rv_uuid_format(&out, s);
    CHECK_STR(s, expect);
}

static void test_v5_matches_python(void)
{
    check_v5("6ba7b810-9dad-11d1-80b4-00c04fd430c8", "python.org",
             "886313e1-3b8a-5372-9b90-0c9aee199e5d");
    check_v5("6ba7b811-9dad-11d1-80b4-00c04fd430c8", "", "1b4db7eb-4057-5ddf-91e0-36dec72071f5");
    check_v5("5f6b0b5e-5d8c-4c1e-9a43-7c1f2b1f0e01", "cart-commands/0/0",
             "525b8df7-7778-5702-b806-73925a3c6def");
    char ns[37];
    rv_uuid_format(&rv_uuid_ns_rivulet, ns);
    CHECK_STR(ns, "5f6b0b5e-5d8c-4c1e-9a43-7c1f2b1f0e01");
}

static void test_parse_and_format(void)
{
    rv_uuid_t u = parse("B4CC84D2-A838-11EE-9234-0123456789AB");
    char s[37];
    rv_uuid_format(&u, s);
    CHECK_STR(s, "b4cc84d2-a838-11ee-9234-0123456789ab");
    const char *bad[] = {
        "", "b4cc84d2a83811ee92340123456789ab", "b4cc84d2-a838-11ee-9234-0123456789aX",
        "b4cc84d2-a838-11ee-9234_0123456789ab", "b4cc84d2-a838-11ee-9234-0123456789abc"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        rv_error_t *err = NULL;
        CHECK_EQ(rv_uuid_parse(bad[i], strlen(bad[i]), &u, &err), RV_ERR_DECODE);
        CHECK(err && strstr(rv_error_msg(err), "not a UUID"));
        rv_error_destroy(err);
    }
}

static void test_timeuuid_matches_python(void)
{
    rv_uuid_t u;
    char s[37];
    /* 2024-01-01T00:00:00Z + 1234 ticks, clock seq 0x1234, node 0x0123456789ab */
    rv_timeuuid_make(1704067200000ull, 1234, 0x1234, 0x0123456789abull, &u);
    rv_uuid_format(&u, s);
    CHECK_STR(s, "b4cc84d2-a838-11ee-9234-0123456789ab");
    CHECK_EQ(rv_timeuuid_unix_ms(&u), 1704067200000ull);
}

static void test_generator_increases(void)
{
    rv_timeuuid_gen_t g;
    rv_timeuuid_gen_init(&g, 42);
    rv_uuid_t prev, cur;
    rv_timeuuid_next(&g, 1000, &prev);
    for (int i = 0; i < 20000; i++) {
        rv_timeuuid_next(&g, 1000 + (uint64_t)(i / 5000), &cur); /* many per millisecond */
        CHECK(rv_timeuuid_unix_ms(&cur) >= rv_timeuuid_unix_ms(&prev));
        CHECK(!rv_uuid_equal(&cur, &prev));
        prev = cur;
    }
    /* Deterministic timeuuids: a function of (time, id) only. */
    rv_uuid_t id = parse("525b8df7-7778-5702-b806-73925a3c6def"), a, b;
    rv_timeuuid_for(5000, 7, &id, &a);
    rv_timeuuid_for(5000, 7, &id, &b);
    CHECK(rv_uuid_equal(&a, &b));
    CHECK_EQ(rv_timeuuid_unix_ms(&a), 5000);
    CHECK_EQ(a.b[6] >> 4, 1); /* version 1 */
    rv_uuid_t c;
    rv_timeuuid_for(5000, 8, &id, &c); /* the next offset sorts after */
    CHECK(rv_uuid_compare(&a, &c) < 0 || rv_timeuuid_unix_ms(&c) == 5000);
}

RV_TEST_MAIN(RV_TEST(test_v5_matches_python), RV_TEST(test_parse_and_format),
             RV_TEST(test_timeuuid_matches_python), RV_TEST(test_generator_increases))
