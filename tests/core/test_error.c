/* The error type: codes, ranges, messages, the first-error-wins rule. */
#include <errno.h>

#include "rivulet/error.h"
#include "rv_test.h"

static void test_codes_and_ranges(void)
{
    CHECK_STR(rv_err_str(RV_OK), "success");
    CHECK(rv_err_is_sys(RV_ERR_FROM_ERRNO(ECONNREFUSED)));
    CHECK(rv_err_is_sys(RV_ERR_FROM_UV(-ECONNREFUSED)));
    CHECK_EQ(RV_ERR_FROM_UV(-ECONNREFUSED), RV_ERR_FROM_ERRNO(ECONNREFUSED));
    CHECK(rv_err_retriable(RV_ERR_FROM_ERRNO(ECONNREFUSED)));
    CHECK(!rv_err_is_sys(RV_ERR_DECODE));
    CHECK(rv_err_is_kafka(RV_ERR_FROM_KAFKA(-185)));
    CHECK(rv_err_is_cql(RV_ERR_FROM_CQL(0x2200)));
    CHECK_STR(rv_err_str(RV_ERR_FROM_CQL(0x2200)), "CQL invalid query");
    CHECK(rv_err_retriable(RV_ERR_FROM_CQL(0x1100)));  /* write timeout */
    CHECK(!rv_err_retriable(RV_ERR_FROM_CQL(0x2000))); /* syntax error */
    CHECK(strlen(rv_err_str(RV_ERR_FROM_KAFKA(3))) > 0);
}

static void test_error_object(void)
{
    rv_error_t *e = rv_error_new(RV_ERR_CONFIG, false, "key %s: bad value %d", "x.y", 42);
    CHECK_EQ(rv_error_code(e), RV_ERR_CONFIG);
    CHECK_STR(rv_error_msg(e), "key x.y: bad value 42");
    CHECK(!rv_error_retriable(e));
    rv_error_t *c = rv_error_copy(e);
    CHECK_STR(rv_error_msg(c), rv_error_msg(e));
    rv_error_destroy(e);
    rv_error_destroy(c);
    rv_error_destroy(NULL);
    CHECK(rv_error_copy(NULL) == NULL);
}

static void test_first_error_wins(void)
{
    rv_error_t *err = NULL;
    CHECK_EQ(rv_error_set(&err, RV_ERR_IO, true, "first"), RV_ERR_IO);
    CHECK_EQ(rv_error_set(&err, RV_ERR_DECODE, false, "second"), RV_ERR_DECODE);
    CHECK_STR(rv_error_msg(err), "first");
    CHECK_EQ(rv_error_give(&err, rv_error_new(RV_ERR_TIMEOUT, true, "third")), RV_ERR_TIMEOUT);
    CHECK_STR(rv_error_msg(err), "first");
    rv_error_destroy(err);
    CHECK_EQ(rv_error_set(NULL, RV_ERR_IO, true, "nobody listens"), RV_ERR_IO);
}

RV_TEST_MAIN(RV_TEST(test_codes_and_ranges), RV_TEST(test_error_object),
             RV_TEST(test_first_error_wins))
