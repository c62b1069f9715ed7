/* The shopping-cart domain: commands, events, the cart's state, and the one
 * function that applies a command to a state. Everything else in the
 * application (stores, pipelines, the query side, the CLI) is built on these,
 * and the replay of the event log uses the very same apply function, which is
 * what makes compensation exact.
 *
 * Rules (deterministic, so a replay reproduces the live run):
 *   Insert(owner)          creates the cart, or resets a live or deleted one:
 *                          owner set, items cleared, not deleted.
 *   SetOwner(owner)        live cart only.
 *   AddItem(item, n)       live cart only, n >= 1; the item's count grows by n.
 *   RemoveItem(item, n)    live cart only, n >= 1; the count shrinks by n, and
 *                          the item goes at 0 or below.
 *   Delete                 live cart only: deleted, items cleared.
 * Every applied command increments the version (the first Insert gives 0). A
 * command on a missing or deleted cart (other than Insert) is *rejected*: the
 * state does not change, and the replay rejects it the same way.
 */
#ifndef RV_CART_H
#define RV_CART_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rivulet/cqrs.h"
#include "rivulet/error.h"

#define CART_MAX_ITEMS 256

typedef enum cart_action {
    CART_INSERT = 0,
    CART_SET_OWNER,
    CART_ADD_ITEM,
    CART_REMOVE_ITEM,
    CART_DELETE,
    CART_ACTIONS
} cart_action_t;

/* The wire form of a command (Avro ShoppingCartCmd), as the decoder fills it. */
typedef struct cart_wire_cmd {
    char *action;
    char *cart_id;
    char *owner_or_item;
    bool has_count;
    int32_t count;
} cart_wire_cmd_t;

/* A wire command with room for its strings (for building one by hand). */
typedef struct cart_wire_buf {
    cart_wire_cmd_t w;
    char action[32];
    char cart_id[80];
    char owner_or_item[80];
} cart_wire_buf_t;

/* A validated command. */
typedef struct cart_cmd {
    cart_action_t action;
    rv_uuid_t cart_id;
    rv_uuid_t arg; /* owner (Insert, SetOwner) or item (AddItem, RemoveItem) */
    int32_t count; /* AddItem/RemoveItem: >= 1; else 0 */
} cart_cmd_t;

typedef struct cart_item {
    rv_uuid_t item;
    int32_t count;
} cart_item_t;

typedef struct cart_state {
    bool exists;
    bool deleted;
    rv_uuid_t owner;
    int64_t version;  /* commands applied (the domain's count; a replay recomputes it) */
    int64_t revision; /* the store's concurrency token: grows with every write, never
                         compared as state (compensation may lower `version`, so
                         conditional writes check this instead) */
    size_t n_items;
    cart_item_t items[CART_MAX_ITEMS]; /* sorted by item id */
    rv_positions_t applied;            /* idempotent mode: last applied offset per partition */
} cart_state_t;

typedef enum cart_event_type {
    EV_CART_CREATED = 0,
    EV_OWNER_CHANGED,
    EV_ITEM_ADDED,
    EV_ITEM_REMOVED,
    EV_CART_DELETED,
    EV_CART_CORRECTED, /* written by compensation: carries the corrected state */
    EV_TYPES
} cart_event_type_t;

/* An event-log row's content. An event is the command it came from, in the
 * past tense: removals carry a negative count. */
typedef struct cart_event {
    cart_event_type_t type;
    rv_uuid_t cart_id;
    rv_uuid_t event_id;
    rv_uuid_t arg;
    int32_t count;     /* ItemAdded: +n; ItemRemoved: -n; else 0 */
    int32_t partition; /* the command's position, -1 when none */
    int64_t offset;
    int64_t ts_ms;                /* the command record's timestamp */
    const cart_state_t *snapshot; /* EV_CART_CORRECTED only; borrowed */
} cart_event_t;

const char *cart_action_name(cart_action_t a);
const char *cart_event_name(cart_event_type_t t);
rv_err_t cart_event_type_parse(const char *s, cart_event_type_t *out);

/* Validates a wire command: unknown action, bad UUIDs, a missing or
 * non-positive count where one is needed are RV_ERR_DECODE errors that name
 * the field (such records go to the dead-letter topic). */
rv_err_t cart_cmd_from_wire(const cart_wire_cmd_t *w, cart_cmd_t *out, rv_error_t **errp);
/* The wire form of a command, in b (b->w points into b). */
void cart_cmd_to_wire(const cart_cmd_t *c, cart_wire_buf_t *b);

/* A fresh, non-existent cart. */
void cart_state_init(cart_state_t *s);
int32_t cart_state_item(const cart_state_t *s, const rv_uuid_t *item);
bool cart_state_equal(const cart_state_t *a, const cart_state_t *b);

/* Applies a command. Returns true when applied (state changed, version
 * incremented), false when rejected (state untouched). */
bool cart_apply(cart_state_t *s, const cart_cmd_t *c);

/* The event a command becomes (without state: the parallel topology's event
 * branch sees only the command). */
void cart_event_from_cmd(const cart_cmd_t *c, const rv_uuid_t *event_id, int32_t partition,
                         int64_t offset, int64_t ts_ms, cart_event_t *out);
/* The CartCorrected event compensation logs for a cart (no position; stamped
 * now). Its snapshot is set by the store that writes it. */
void cart_correction_event(const rv_uuid_t *cart_id, const rv_uuid_t *event_id, cart_event_t *out);

/* The command an event came from (for replays). Not for EV_CART_CORRECTED. */
void cart_cmd_from_event(const cart_event_t *e, cart_cmd_t *out);

/* The aggregate operations for rv_replay_unique / rv_replay_ledger; events are
 * cart_event_t. */
extern const rv_aggregate_ops_t cart_aggregate_ops;

/* Items as text "uuid:count,uuid:count" (sorted), for the SQLite store and
 * for display; parse checks everything. */
size_t cart_items_format(const cart_state_t *s, char *out, size_t cap);
rv_err_t cart_items_parse(const char *text, cart_state_t *s, rv_error_t **errp);

/* The state as one line ("exists|deleted|owner|version|items") for a
 * CartCorrected row, and back. Ownership: the caller frees the text. */
char *cart_snapshot_format(const cart_state_t *st);
rv_err_t cart_snapshot_parse(const char *text, cart_state_t *st);

/* Wall-clock Unix milliseconds: event-log times are Unix times (a timeuuid's
 * timestamp), never the loop's monotonic clock. */
uint64_t cart_wall_ms(void);

/* One line of JSON describing the cart. Ownership: caller frees. */
char *cart_state_json(const rv_uuid_t *cart_id, const cart_state_t *s);

#endif
