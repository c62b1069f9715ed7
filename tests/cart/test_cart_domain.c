/* The cart domain: validation, the apply rules, and replays that compensate
 * duplicates of any count. */
#include <stdlib.h>

#include "cart_test_util.h"

static void test_scala_scenario(void)
{
    cart_cmd_t cmds[16];
    size_t n = scala_scenario(cmds);
    cart_state_t s;
    cart_state_init(&s);
    for (size_t i = 0; i < n; i++)
        CHECK(cart_apply(&s, &cmds[i]));
    rv_uuid_t first_owner = uid(100), first = uid(200), second = uid(201);
    CHECK(rv_uuid_equal(&s.owner, &first_owner));
    CHECK_EQ(cart_state_item(&s, &first), 1);
    CHECK_EQ(cart_state_item(&s, &second), 2);
    CHECK_EQ(s.version, 9);
    CHECK(!s.deleted);
}

static void test_rules(void)
{
    cart_state_t s;
    cart_state_init(&s);
    cart_cmd_t c = cmd(CART_ADD_ITEM, 1, 200, 2);
    CHECK(!cart_apply(&s, &c)); /* no cart yet: rejected */
    CHECK(!s.exists);
    c = cmd(CART_INSERT, 1, 100, 0);
    CHECK(cart_apply(&s, &c));
    CHECK_EQ(s.version, 0);
    c = cmd(CART_ADD_ITEM, 1, 200, 2);
    CHECK(cart_apply(&s, &c));
    c = cmd(CART_REMOVE_ITEM, 1, 200, 5); /* more than there is: the item goes */
    CHECK(cart_apply(&s, &c));
    CHECK_EQ(s.n_items, 0);
    c = cmd(CART_DELETE, 1, 0, 0);
    CHECK(cart_apply(&s, &c));
    CHECK(s.deleted);
    c = cmd(CART_SET_OWNER, 1, 101, 0);
    CHECK(!cart_apply(&s, &c)); /* deleted: rejected, version unchanged */
    CHECK_EQ(s.version, 3);
    c = cmd(CART_INSERT, 1, 102, 0); /* re-insert */
    CHECK(cart_apply(&s, &c));
    CHECK(!s.deleted);
    CHECK_EQ(s.version, 4);
}

static void expect_invalid(const char *action, const char *cart, const char *arg, bool has_count,
                           int count, const char *needle)
{
    cart_wire_cmd_t w = {0};
    w.action = (char *)action;
    w.cart_id = (char *)cart;
    w.owner_or_item = (char *)arg;
    w.has_count = has_count;
    w.count = count;
    cart_cmd_t c;
    rv_error_t *err = NULL;
    CHECK_EQ(cart_cmd_from_wire(&w, &c, &err), RV_ERR_DECODE);
    CHECK(err && strstr(rv_error_msg(err), needle));
    if (err && !strstr(rv_error_msg(err), needle))
        fprintf(stderr, "  message: %s\n", rv_error_msg(err));
    rv_error_destroy(err);
}

static void test_validation(void)
{
    const char *ok = "10000000-0000-4000-8000-000000000001";
    expect_invalid("Explode", ok, ok, false, 0, "unknown action \"Explode\"");
    expect_invalid("Insert", "not-a-uuid", ok, false, 0, "ShoppingCartCmd.cartId");
    expect_invalid("SetOwner", ok, "1234", false, 0, "ShoppingCartCmd.ownerOrItem");
    expect_invalid("AddItem", ok, ok, false, 0, "count: missing for AddItem");
    expect_invalid("RemoveItem", ok, ok, true, 0, "must be >= 1");
    cart_wire_cmd_t w = {
        .action = "Delete", .cart_id = (char *)ok, .owner_or_item = "", .has_count = false};
    cart_cmd_t c;
    CHECK_EQ(cart_cmd_from_wire(&w, &c, NULL), RV_OK); /* Delete needs no owner or item */
    cart_cmd_t orig = cmd(CART_REMOVE_ITEM, 7, 8, 3), back;
    cart_wire_buf_t b;
    cart_cmd_to_wire(&orig, &b);
    CHECK_EQ(cart_cmd_from_wire(&b.w, &back, NULL), RV_OK);
    CHECK(memcmp(&orig, &back, sizeof(orig)) == 0);
}

/* A deterministic pseudo-random generator for the property test. */
static uint64_t rng = 0x1234567;
static uint32_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)rng;
}

static cart_cmd_t random_cmd(int cart)
{
    static const cart_action_t mix[] = {CART_ADD_ITEM,    CART_ADD_ITEM,    CART_ADD_ITEM,
                                        CART_REMOVE_ITEM, CART_REMOVE_ITEM, CART_SET_OWNER,
                                        CART_DELETE,      CART_INSERT};
    cart_action_t a = mix[next_rand() % 8];
    int arg = a == CART_SET_OWNER || a == CART_INSERT ? 100 + (int)(next_rand() % 5)
                                                      : 200 + (int)(next_rand() % 6);
    return cmd(a, cart, arg,
               a == CART_ADD_ITEM || a == CART_REMOVE_ITEM ? 1 + (int)(next_rand() % 5) : 0);
}

/* Random commands, with random replays of recent tails (as a crash causes):
 * the unique replay equals exactly-once application, for any duplicate count. */
static void test_replay_compensates_any_duplicates(void)
{
    for (int round = 0; round < 200; round++) {
        size_t n = 60;
        cart_cmd_t cmds[60];
        cmds[0] = cmd(CART_INSERT, 1, 100, 0);
        for (size_t i = 1; i < n; i++)
            cmds[i] = random_cmd(1);
        cart_state_t exact, live;
        cart_state_init(&exact);
        cart_state_init(&live);
        for (size_t i = 0; i < n; i++)
            cart_apply(&exact, &cmds[i]);
        /* The log as a crashing pipeline writes it: after some commands, the
         * tail since the last "commit" is delivered and logged again. */
        cart_event_t *evs = malloc(4 * n * sizeof(*evs));
        rv_logged_event_t *rows = malloc(4 * n * sizeof(*rows));
        size_t m = 0, committed = 0;
        uint64_t t = 1000;
        for (size_t i = 0; i < n; i++) {
            rv_uuid_t id = uid(1000 + (int)i);
            cart_event_from_cmd(&cmds[i], &id, 0, (int64_t)i, 0, &evs[m]);
            cart_apply(&live, &cmds[i]);
            rows[m] = (rv_logged_event_t){
                .event_id = id, .partition = 0, .offset = (int64_t)i, .event = &evs[m]};
            rv_timeuuid_make(t++, 0, 1, 1, &rows[m].time);
            m++;
            if (next_rand() % 7 == 0) committed = i;
            if (next_rand() % 15 == 0 && i > committed) { /* crash: replay the uncommitted tail */
                for (size_t k = committed + 1; k <= i && m < 4 * n; k++) {
                    rv_uuid_t rid = uid(1000 + (int)k);
                    cart_event_from_cmd(&cmds[k], &rid, 0, (int64_t)k, 0, &evs[m]);
                    cart_apply(&live, &cmds[k]);
                    rows[m] = (rv_logged_event_t){
                        .event_id = rid, .partition = 0, .offset = (int64_t)k, .event = &evs[m]};
                    rv_timeuuid_make(t++, 0, 1, 1, &rows[m].time);
                    m++;
                }
            }
        }
        cart_state_t replayed;
        size_t unique;
        CHECK_EQ(rv_replay_unique(&cart_aggregate_ops, rows, m, &replayed, &unique, NULL, NULL),
                 RV_OK);
        CHECK_EQ(unique, n);
        CHECK(cart_state_equal(&replayed, &exact));
        /* The ledger of a log with replays reproduces the live (wrong) state. */
        cart_state_t ledger;
        CHECK_EQ(rv_replay_ledger(&cart_aggregate_ops, rows, m, &ledger, NULL, NULL), RV_OK);
        CHECK(cart_state_equal(&ledger, &live));
        free(evs);
        free(rows);
    }
}

static void test_text_forms(void)
{
    cart_state_t s, back;
    cart_state_init(&s);
    cart_cmd_t c = cmd(CART_INSERT, 1, 100, 0);
    cart_apply(&s, &c);
    for (int i = 0; i < 5; i++) {
        c = cmd(CART_ADD_ITEM, 1, 300 - i, i + 1);
        cart_apply(&s, &c);
    }
    char buf[1024];
    cart_items_format(&s, buf, sizeof(buf));
    cart_state_init(&back);
    CHECK_EQ(cart_items_parse(buf, &back, NULL), RV_OK);
    CHECK_EQ(back.n_items, 5);
    for (size_t i = 0; i < 5; i++)
        CHECK_EQ(back.items[i].count, s.items[i].count);
    rv_error_t *err = NULL;
    CHECK_EQ(cart_items_parse("garbage", &back, &err), RV_ERR_DECODE);
    rv_error_destroy(err);
    char *json = cart_state_json(&s.owner, &s);
    CHECK(json && strstr(json, "\"version\":5"));
    free(json);
}

RV_TEST_MAIN(RV_TEST(test_scala_scenario), RV_TEST(test_rules), RV_TEST(test_validation),
             RV_TEST(test_replay_compensates_any_duplicates), RV_TEST(test_text_forms))
