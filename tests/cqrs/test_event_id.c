/* Event ids per policy, positions, and their errors. */
#include "rivulet/cqrs.h"
#include "rv_test.h"

static void test_offset_policy(void)
{
    rv_meta_t m = {
        .topic = "cart-commands", .partition = 3, .offset = 123456789, .timestamp_ms = -1};
    rv_uuid_t id;
    char s[37];
    CHECK_EQ(rv_event_id(RV_EVENT_ID_OFFSET, &m, NULL, 0, &id, NULL), RV_OK);
    rv_uuid_format(&id, s);
    CHECK_STR(s, "d120aa98-0f35-568a-af6f-c5fdf7bc1463"); /* Python: uuid5(ns,
                                                             "cart-commands/3/123456789") */
    /* Whatever the key, the same record gets the same id. */
    m.key = "a-cart-id";
    m.key_len = 9;
    rv_uuid_t id2;
    CHECK_EQ(rv_event_id(RV_EVENT_ID_OFFSET, &m, NULL, 0, &id2, NULL), RV_OK);
    CHECK(rv_uuid_equal(&id, &id2));
    rv_meta_t none = {.partition = -1, .offset = -1};
    rv_error_t *err = NULL;
    CHECK_EQ(rv_event_id(RV_EVENT_ID_OFFSET, &none, NULL, 0, &id, &err), RV_ERR_INVALID);
    CHECK(err && strstr(rv_error_msg(err), "no topic"));
    rv_error_destroy(err);
}

static void test_key_and_header_policies(void)
{
    const char *key = "b4cc84d2-a838-11ee-9234-0123456789ab";
    rv_meta_t m = {.topic = "t", .partition = 0, .offset = 1, .key = key, .key_len = strlen(key)};
    rv_uuid_t id;
    char s[37];
    CHECK_EQ(rv_event_id(RV_EVENT_ID_KEY, &m, NULL, 0, &id, NULL), RV_OK);
    rv_uuid_format(&id, s);
    CHECK_STR(s, key);
    uint8_t raw[16];
    memcpy(raw, id.b, 16);
    m.key = raw;
    m.key_len = 16;
    rv_uuid_t id2;
    CHECK_EQ(rv_event_id(RV_EVENT_ID_KEY, &m, NULL, 0, &id2, NULL), RV_OK);
    CHECK(rv_uuid_equal(&id, &id2));
    rv_error_t *err = NULL;
    m.key = "cart-17";
    m.key_len = 7;
    CHECK_EQ(rv_event_id(RV_EVENT_ID_KEY, &m, NULL, 0, &id, &err), RV_ERR_DECODE);
    CHECK(err && strstr(rv_error_msg(err), "key is not a UUID"));
    rv_error_destroy(err);
    err = NULL;
    CHECK_EQ(rv_event_id(RV_EVENT_ID_HEADER, &m, NULL, 0, &id, &err), RV_ERR_DECODE);
    CHECK(err && strstr(rv_error_msg(err), "no event-id header"));
    rv_error_destroy(err);
    CHECK_EQ(rv_event_id(RV_EVENT_ID_HEADER, &m, key, strlen(key), &id, NULL), RV_OK);
    rv_event_id_policy_t p;
    CHECK_EQ(rv_event_id_policy_parse("header", &p, NULL), RV_OK);
    CHECK_EQ(p, RV_EVENT_ID_HEADER);
    CHECK_EQ(rv_event_id_policy_parse("random", &p, NULL), RV_ERR_CONFIG);
}

static void test_positions(void)
{
    rv_positions_t ps = {0};
    CHECK(!rv_positions_seen(&ps, 0, 0));
    CHECK_EQ(rv_positions_advance(&ps, 0, 10), RV_OK);
    CHECK_EQ(rv_positions_advance(&ps, 2, 5), RV_OK);
    CHECK_EQ(rv_positions_advance(&ps, 0, 7), RV_OK); /* older: ignored */
    CHECK(rv_positions_seen(&ps, 0, 10));
    CHECK(rv_positions_seen(&ps, 0, 3));
    CHECK(!rv_positions_seen(&ps, 0, 11));
    CHECK(!rv_positions_seen(&ps, 1, 0));
    char buf[64];
    rv_positions_format(&ps, buf, sizeof(buf));
    CHECK_STR(buf, "0:10,2:5");
    rv_positions_t back;
    CHECK_EQ(rv_positions_parse(buf, &back, NULL), RV_OK);
    CHECK_EQ(back.n, 2);
    CHECK(rv_positions_seen(&back, 2, 5) && !rv_positions_seen(&back, 2, 6));
    rv_error_t *err = NULL;
    CHECK_EQ(rv_positions_parse("0:10,x:1", &back, &err), RV_ERR_DECODE);
    CHECK(err && strstr(rv_error_msg(err), "bad partition"));
    rv_error_destroy(err);
    CHECK_EQ(rv_positions_parse("", &back, NULL), RV_OK);
    CHECK_EQ(back.n, 0);
    for (int i = 0; i < RV_POSITIONS_MAX; i++)
        CHECK_EQ(rv_positions_advance(&back, i, 1), RV_OK);
    CHECK_EQ(rv_positions_advance(&back, RV_POSITIONS_MAX, 1), RV_ERR_OVERFLOW);
}

RV_TEST_MAIN(RV_TEST(test_offset_policy), RV_TEST(test_key_and_header_policies),
             RV_TEST(test_positions))
