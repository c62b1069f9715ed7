/* The query side: a cart's state, its events, the events logged more than
 * once, the state its commands would have produced applied exactly once, and
 * the compensation that restores it. Works on any store. */
#ifndef RV_CART_QUERY_H
#define RV_CART_QUERY_H

#include "store.h"

/* What the query side knows of one cart. */
typedef struct cart_report {
    rv_uuid_t cart_id;
    cart_state_t table;    /* as the cart table holds it */
    cart_state_t expected; /* every command applied exactly once, in order */
    cart_state_t ledger;   /* the fold of every log row (Event Sourcing's rebuild) */
    size_t rows, unique, corrections;
    size_t n_dups;
    rv_duplicate_t *dups; /* owned; free() */
    bool table_ok;        /* table == expected */
    bool ledger_ok;       /* ledger == expected */
    bool corrected;       /* compensation wrote a correction */
} cart_report_t;

typedef void (*cart_report_fn)(rv_error_t *err, cart_report_t *report, void *opaque);

/* Reads a cart and its log and fills a report (no writes). */
void cart_check(cart_store_t *s, const rv_uuid_t *id, cart_report_fn cb, void *opaque);

/* As cart_check, then, when the table or the ledger differs from the expected
 * state, writes the expected state with a CartCorrected row. Idempotent: a
 * second run finds nothing to do. The report's `corrected` says what happened. */
void cart_compensate(cart_store_t *s, const rv_uuid_t *id, cart_report_fn cb, void *opaque);

/* Runs check or compensate over every cart, one at a time; per_cart (may be
 * NULL) sees each report, done sees the totals. */
typedef struct cart_totals {
    size_t carts, carts_with_dups, dup_events, extra_rows, table_differs, ledger_differs, corrected;
} cart_totals_t;
void cart_check_all(cart_store_t *s, bool compensate, cart_report_fn per_cart,
                    void (*done)(rv_error_t *err, const cart_totals_t *t, void *opaque),
                    void *opaque);

void cart_report_free(cart_report_t *r);

#endif
