/* Configuration: tables check keys and values and supply defaults. */
#include <unistd.h>

#include "rivulet/conf.h"
#include "rv_test.h"

static const rv_conf_def_t defs[] = {
    {"demo.count", RV_CONF_INT, "10", 1, 100, NULL, "How many."},
    {"demo.name", RV_CONF_STRING, NULL, 0, -1, NULL, "A name."},
    {"demo.fast", RV_CONF_BOOL, "false", 0, -1, NULL, "Go fast."},
    {"demo.ratio", RV_CONF_DOUBLE, "0.5", 0, 1, NULL, "A ratio."},
    {"demo.mode", RV_CONF_ENUM, "a", 0, -1, "a|b|c", "A mode."},
    {"demo.wait", RV_CONF_MS, "1s", 0, 60000, NULL, "A wait."},
    {"demo.big", RV_CONF_MS, "1s", 0, 1e12, NULL, "A long wait."},
};
static const rv_conf_table_t table = {
    "demo", "Demo", "demo.lib.", "passed to the library", defs, RV_CONF_NDEFS(defs)};

static rv_err_t check(rv_conf_t *c, rv_error_t **err)
{
    const rv_conf_table_t *t = &table;
    return rv_conf_check(c, &t, 1, false, err);
}

static void test_defaults(void)
{
    rv_conf_t *c = rv_conf_new();
    CHECK_EQ(check(c, NULL), RV_OK);
    CHECK_EQ(rv_conf_int(c, &table, "demo.count"), 10);
    CHECK(rv_conf_str(c, &table, "demo.name") == NULL);
    CHECK(!rv_conf_bool(c, &table, "demo.fast"));
    CHECK(rv_conf_double(c, &table, "demo.ratio") == 0.5);
    CHECK_STR(rv_conf_str(c, &table, "demo.mode"), "a");
    CHECK_EQ(rv_conf_ms(c, &table, "demo.wait"), 1000);
    rv_conf_destroy(c);
}

static void expect_error(const char *key, const char *value, const char *needle)
{
    rv_conf_t *c = rv_conf_new();
    rv_conf_set(c, key, value, NULL);
    rv_error_t *err = NULL;
    CHECK_EQ(check(c, &err), RV_ERR_CONFIG);
    CHECK(err && strstr(rv_error_msg(err), needle));
    if (err && !strstr(rv_error_msg(err), needle))
        fprintf(stderr, "  message was: %s\n", rv_error_msg(err));
    rv_error_destroy(err);
    rv_conf_destroy(c);
}

static void test_bad_values_named(void)
{
    expect_error("demo.count", "1000", "demo.count");
    expect_error("demo.count", "ten", "not an integer");
    expect_error("demo.fast", "maybe", "not a boolean");
    expect_error("demo.ratio", "2", "out of range");
    expect_error("demo.mode", "d", "not one of a|b|c");
    expect_error("demo.wait", "5 hours", "duration");
    /* 213503982335 days overflow 64 bits of milliseconds; wrapped, they
     * would be 34448384 ms. */
    expect_error("demo.wait", "213503982335d", "duration");
    expect_error("demo.big", "213503982335d", "duration");
    /* Integers are decimal: a leading zero is not octal. */
    expect_error("demo.count", "0x10", "not an integer");
    expect_error("demo.colour", "red", "unknown configuration key \"demo.colour\"");
    expect_error("other.key", "1", "unknown configuration key \"other.key\"");
}

static rv_err_t collect(const char *k, const char *v, rv_error_t **errp, void *opaque)
{
    char *buf = opaque;
    strcat(buf, k);
    strcat(buf, "=");
    strcat(buf, v);
    strcat(buf, ";");
    return RV_OK;
}

static void test_values_and_passthrough(void)
{
    rv_conf_t *c = rv_conf_new();
    CHECK_EQ(rv_conf_set_pair(c, "demo.count = 42", NULL), RV_OK);
    CHECK_EQ(rv_conf_set_pair(c, "demo.wait=2s", NULL), RV_OK);
    CHECK_EQ(rv_conf_set_pair(c, "demo.fast=yes", NULL), RV_OK);
    CHECK_EQ(rv_conf_set_pair(c, "demo.lib.socket.timeout.ms=100", NULL), RV_OK);
    CHECK_EQ(rv_conf_set_pair(c, "novalue", NULL), RV_ERR_CONFIG);
    CHECK_EQ(check(c, NULL), RV_OK);
    CHECK_EQ(rv_conf_int(c, &table, "demo.count"), 42);
    CHECK_EQ(rv_conf_ms(c, &table, "demo.wait"), 2000);
    rv_conf_t *z = rv_conf_new();
    CHECK_EQ(rv_conf_set_pair(z, "demo.count=010", NULL), RV_OK);
    CHECK_EQ(check(z, NULL), RV_OK);
    CHECK_EQ(rv_conf_int(z, &table, "demo.count"), 10); /* decimal, not octal 8 */
    rv_conf_destroy(z);
    CHECK(rv_conf_bool(c, &table, "demo.fast"));
    char buf[256] = "";
    CHECK_EQ(rv_conf_passthrough(c, &table, collect, buf, NULL), RV_OK);
    CHECK_STR(buf, "socket.timeout.ms=100;");
    rv_conf_t *d = rv_conf_dup(c);
    CHECK_STR(rv_conf_get(d, "demo.count"), "42");
    rv_conf_unset(d, "demo.count");
    CHECK(rv_conf_get(d, "demo.count") == NULL);
    rv_conf_destroy(d);
    rv_conf_destroy(c);
}

static void test_file(void)
{
    char path[] = "/tmp/rv_conf_XXXXXX";
    int fd = mkstemp(path);
    const char *text = "# comment\ndemo.count = 7 # trailing\n\ndemo.mode=b\nbroken line\n";
    CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    close(fd);
    rv_conf_t *c = rv_conf_new();
    rv_error_t *err = NULL;
    CHECK_EQ(rv_conf_load_file(c, path, &err), RV_ERR_CONFIG);
    CHECK(err && strstr(rv_error_msg(err), ":5:"));
    rv_error_destroy(err);
    CHECK_STR(rv_conf_get(c, "demo.count"), "7");
    CHECK_STR(rv_conf_get(c, "demo.mode"), "b");
    err = NULL;
    CHECK(rv_conf_load_file(c, "/nonexistent/rv.conf", &err) != RV_OK);
    CHECK(err && strstr(rv_error_msg(err), "/nonexistent/rv.conf"));
    rv_error_destroy(err);
    rv_conf_destroy(c);
    unlink(path);
}

static void test_docs(void)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    rv_conf_print_markdown(f, &table);
    rv_conf_print_help(f, &table);
    fclose(f);
    CHECK(strstr(buf, "| `demo.count` | integer | `10` | 1 .. 100 | How many. |"));
    CHECK(strstr(buf, "demo.lib.*"));
    free(buf);
}

RV_TEST_MAIN(RV_TEST(test_defaults), RV_TEST(test_bad_values_named),
             RV_TEST(test_values_and_passthrough), RV_TEST(test_file), RV_TEST(test_docs))
