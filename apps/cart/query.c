/* The query side. Compensation is a replay: the expected state of a cart is
 * its commands applied exactly once each (the first row of every event id, in
 * the order of the commands' Kafka positions), computed with the same apply
 * function the service uses. That is right for any number of duplicates, for
 * removals and owner changes, and whatever the order in which replays were
 * logged; and when the log itself (folded row by row) disagrees, a
 * CartCorrected row holding the expected state is appended, so that the log
 * and the table agree again. */
#include <stdlib.h>
#include <string.h>

#include "query.h"

typedef struct check_op {
    cart_store_t *s;
    bool compensate;
    cart_report_t *r;
    cart_report_fn cb;
    void *opaque;
} check_op_t;

void cart_report_free(cart_report_t *r)
{
    if (r) {
        free(r->dups);
        free(r);
    }
}

static void finish(check_op_t *op, rv_error_t *err)
{
    cart_report_t *r = op->r;
    cart_report_fn cb = op->cb;
    void *opaque = op->opaque;
    free(op);
    if (err) {
        cart_report_free(r);
        r = NULL;
    }
    cb(err, r, opaque);
}

static void corrected(rv_error_t *err, cart_outcome_t outcome, void *opaque)
{
    check_op_t *op = opaque;
    if (!err) {
        op->r->corrected = true;
        op->r->table = op->r->expected;
        op->r->ledger = op->r->expected;
    }
    finish(op, err);
}

static void got_events(rv_error_t *err, cart_row_t *rows, size_t n, void *opaque)
{
    check_op_t *op = opaque;
    cart_report_t *r = op->r;
    if (err) {
        finish(op, err);
        return;
    }
    rv_logged_event_t *le = n ? malloc(n * sizeof(*le)) : NULL;
    if (n && !le) {
        finish(op, rv_error_new(RV_ERR_NOMEM, true, "out of memory"));
        return;
    }
    r->rows = n;
    for (size_t i = 0; i < n; i++) {
        le[i] = (rv_logged_event_t){.event_id = rows[i].ev.event_id,
                                    .time = rows[i].time,
                                    .partition = rows[i].ev.partition,
                                    .offset = rows[i].ev.offset,
                                    .correction = rows[i].correction,
                                    .event = &rows[i].ev};
        if (rows[i].correction) r->corrections++;
    }
    rv_error_t *e = NULL;
    if (rv_find_duplicates(le, n, &r->dups, &r->n_dups, &e) != RV_OK ||
        rv_replay_unique(&cart_aggregate_ops, le, n, &r->expected, &r->unique, NULL, &e) != RV_OK ||
        rv_replay_ledger(&cart_aggregate_ops, le, n, &r->ledger, NULL, &e) != RV_OK) {
        free(le);
        finish(op, e);
        return;
    }
    free(le);
    r->table_ok = cart_state_equal(&r->table, &r->expected);
    r->ledger_ok = cart_state_equal(&r->ledger, &r->expected);
    if (!op->compensate || (r->table_ok && r->ledger_ok)) {
        finish(op, NULL);
        return;
    }
    /* The correction's id is a function of the cart and the state it corrects,
     * so a retried compensation writes the same row. */
    char name[64 + 37];
    char id[37];
    rv_uuid_format(&r->cart_id, id);
    int len = snprintf(name, sizeof(name), "correction/%s/%lld/%zu", id,
                       (long long)r->table.revision, r->rows);
    rv_uuid_t cid;
    rv_uuid_v5(&rv_uuid_ns_rivulet, name, (size_t)len, &cid);
    op->s->ops->correct(op->s, &r->cart_id, r->table.revision, &r->expected, &cid, corrected, op);
}

static void got_cart(rv_error_t *err, const cart_state_t *state, void *opaque)
{
    check_op_t *op = opaque;
    if (err) {
        finish(op, err);
        return;
    }
    op->r->table = *state;
    op->s->ops->get_events(op->s, &op->r->cart_id, 0, got_events, op);
}

static void start(cart_store_t *s, const rv_uuid_t *id, bool compensate, cart_report_fn cb,
                  void *opaque)
{
    check_op_t *op = calloc(1, sizeof(*op));
    cart_report_t *r = calloc(1, sizeof(*r));
    if (!op || !r) {
        free(op);
        free(r);
        cb(rv_error_new(RV_ERR_NOMEM, true, "out of memory"), NULL, opaque);
        return;
    }
    r->cart_id = *id;
    *op = (check_op_t){s, compensate, r, cb, opaque};
    s->ops->get_cart(s, id, got_cart, op);
}

void cart_check(cart_store_t *s, const rv_uuid_t *id, cart_report_fn cb, void *opaque)
{
    start(s, id, false, cb, opaque);
}

void cart_compensate(cart_store_t *s, const rv_uuid_t *id, cart_report_fn cb, void *opaque)
{
    start(s, id, true, cb, opaque);
}

/* ------------------------------------------------------------ every cart */

typedef struct all_op {
    cart_store_t *s;
    bool compensate;
    cart_report_fn per_cart;
    void (*done)(rv_error_t *, const cart_totals_t *, void *);
    void *opaque;
    rv_uuid_t *ids;
    size_t n, next;
    bool in_loop, again;
    rv_error_t *err;
    cart_totals_t t;
} all_op_t;

static void next_cart(all_op_t *a);

static void one_done(rv_error_t *err, cart_report_t *r, void *opaque)
{
    all_op_t *a = opaque;
    if (err) {
        a->err = err;
        next_cart(a);
        return;
    }
    a->t.carts++;
    if (r->n_dups) {
        a->t.carts_with_dups++;
        a->t.dup_events += r->n_dups;
        for (size_t i = 0; i < r->n_dups; i++)
            a->t.extra_rows += r->dups[i].count - 1;
    }
    if (!r->table_ok) a->t.table_differs++;
    if (!r->ledger_ok) a->t.ledger_differs++;
    if (r->corrected) a->t.corrected++;
    if (a->per_cart) a->per_cart(NULL, r, a->opaque);
    cart_report_free(r);
    next_cart(a);
}

/* One cart at a time. The SQLite store answers synchronously, so a plain
 * recursive walk would grow the stack with the number of carts: a trampoline
 * turns synchronous completions into iterations of this loop. */
static void next_cart(all_op_t *a)
{
    if (a->in_loop) {
        a->again = true;
        return;
    }
    a->in_loop = true;
    do {
        a->again = false;
        if (a->err || a->next == a->n) {
            a->done(a->err, &a->t, a->opaque);
            free(a->ids);
            free(a);
            return;
        }
        rv_uuid_t id = a->ids[a->next++];
        start(a->s, &id, a->compensate, one_done, a);
    } while (a->again);
    a->in_loop = false;
}

static void got_ids(rv_error_t *err, const rv_uuid_t *ids, size_t n, void *opaque)
{
    all_op_t *a = opaque;
    if (err) {
        a->done(err, &a->t, a->opaque);
        free(a);
        return;
    }
    a->ids = n ? malloc(n * sizeof(*ids)) : NULL;
    if (n && !a->ids) {
        a->done(rv_error_new(RV_ERR_NOMEM, true, "out of memory"), &a->t, a->opaque);
        free(a);
        return;
    }
    if (n) memcpy(a->ids, ids, n * sizeof(*ids));
    a->n = n;
    next_cart(a);
}

void cart_check_all(cart_store_t *s, bool compensate, cart_report_fn per_cart,
                    void (*done)(rv_error_t *, const cart_totals_t *, void *), void *opaque)
{
    all_op_t *a = calloc(1, sizeof(*a));
    if (!a) {
        done(rv_error_new(RV_ERR_NOMEM, true, "out of memory"), NULL, opaque);
        return;
    }
    a->s = s;
    a->compensate = compensate;
    a->per_cart = per_cart;
    a->done = done;
    a->opaque = opaque;
    s->ops->list_carts(s, got_ids, a);
}
