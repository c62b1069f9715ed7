/* Duplicates and replays on a toy aggregate: a counter whose events add a
 * delta or (as corrections) set the value. */
#include <stdlib.h>

#include "rivulet/cqrs.h"
#include "rv_test.h"

typedef struct {
    long value;
} counter_t;

typedef struct {
    long delta; /* for corrections: the value to set */
} ev_t;

static void c_init(void *s, void *o)
{
    ((counter_t *)s)->value = 0;
}
static rv_err_t c_apply(void *s, const void *e, bool correction, void *o, rv_error_t **errp)
{
    counter_t *c = s;
    const ev_t *ev = e;
    if (correction)
        c->value = ev->delta;
    else
        c->value += ev->delta;
    return RV_OK;
}
static bool c_equal(const void *a, const void *b, void *o)
{
    return ((const counter_t *)a)->value == ((const counter_t *)b)->value;
}
static void c_clear(void *s, void *o) {}
static const rv_aggregate_ops_t ops = {sizeof(counter_t), c_init, c_apply, c_equal, c_clear};

static rv_logged_event_t row(int id, uint64_t ms, int64_t offset, const ev_t *ev, bool correction)
{
    rv_logged_event_t r = {0};
    r.event_id.b[15] = (uint8_t)id;
    rv_timeuuid_make(ms, 0, 1, 1, &r.time);
    r.partition = offset < 0 ? -1 : 0;
    r.offset = offset;
    r.event = ev;
    r.correction = correction;
    return r;
}

static void test_duplicates_any_count(void)
{
    ev_t plus = {1}, minus = {-2};
    rv_logged_event_t rows[] = {
        row(1, 10, 0, &plus, false), row(2, 11, 1, &minus, false), row(1, 12, 0, &plus, false),
        row(1, 13, 0, &plus, false), row(3, 14, 2, &plus, false),  row(2, 15, 1, &minus, false),
        row(9, 16, -1, &plus, true),
    };
    rv_duplicate_t *d;
    size_t nd;
    CHECK_EQ(rv_find_duplicates(rows, 7, &d, &nd, NULL), RV_OK);
    REQUIRE(nd == 2);
    CHECK_EQ(d[0].event_id.b[15], 1);
    CHECK_EQ(d[0].count, 3);
    CHECK_EQ(d[1].event_id.b[15], 2);
    CHECK_EQ(d[1].count, 2);
    free(d);
}

static void test_unique_replay_vs_ledger(void)
{
    ev_t plus = {1}, minus = {-2}, three = {3};
    /* Commands at offsets 0,1,2 = +1, -2, +3 → correct value 2. Rows logged with
     * replays: offset 1 twice, offset 2 three times. */
    rv_logged_event_t rows[] = {
        row(1, 10, 0, &plus, false),  row(2, 11, 1, &minus, false), row(2, 12, 1, &minus, false),
        row(3, 13, 2, &three, false), row(3, 14, 2, &three, false), row(3, 15, 2, &three, false),
    };
    counter_t expect, ledger;
    size_t unique;
    CHECK_EQ(rv_replay_unique(&ops, rows, 6, &expect, &unique, NULL, NULL), RV_OK);
    CHECK_EQ(unique, 3);
    CHECK_EQ(expect.value, 2);
    CHECK_EQ(rv_replay_ledger(&ops, rows, 6, &ledger, NULL, NULL), RV_OK);
    CHECK_EQ(ledger.value, 1 - 2 - 2 + 3 + 3 + 3);
    CHECK(!c_equal(&expect, &ledger, NULL));
    /* A correction row written after the duplicates brings the ledger in line,
     * and the unique replay ignores it. */
    ev_t fix = {2};
    rv_logged_event_t rows2[7];
    memcpy(rows2, rows, sizeof(rows));
    rows2[6] = row(50, 20, -1, &fix, true);
    CHECK_EQ(rv_replay_ledger(&ops, rows2, 7, &ledger, NULL, NULL), RV_OK);
    CHECK_EQ(ledger.value, 2);
    CHECK_EQ(rv_replay_unique(&ops, rows2, 7, &expect, &unique, NULL, NULL), RV_OK);
    CHECK_EQ(expect.value, 2);
}

/* An order-sensitive toy: value = value * 10 + delta. */
static rv_err_t digits_apply(void *s, const void *e, bool correction, void *o, rv_error_t **errp)
{
    counter_t *c = s;
    c->value = c->value * 10 + ((const ev_t *)e)->delta;
    return RV_OK;
}
static const rv_aggregate_ops_t digits = {sizeof(counter_t), c_init, digits_apply, c_equal,
                                          c_clear};

static void test_command_order_not_row_order(void)
{
    /* Offset 1 was logged first, then offset 0 twice (a replay): the unique
     * replay must apply offset 0 before offset 1, once. */
    ev_t a = {1}, b = {2};
    rv_logged_event_t rows[] = {row(2, 5, 1, &b, false), row(1, 6, 0, &a, false),
                                row(1, 7, 0, &a, false)};
    size_t unique;
    counter_t s;
    CHECK_EQ(rv_replay_unique(&digits, rows, 3, &s, &unique, NULL, NULL), RV_OK);
    CHECK_EQ(unique, 2);
    CHECK_EQ(s.value, 12);
    CHECK_EQ(rv_replay_ledger(&digits, rows, 3, &s, NULL, NULL), RV_OK);
    CHECK_EQ(s.value, 211); /* the log's own time order, duplicates included */
}

RV_TEST_MAIN(RV_TEST(test_duplicates_any_count), RV_TEST(test_unique_replay_vs_ledger),
             RV_TEST(test_command_order_not_row_order))
