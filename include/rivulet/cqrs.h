/* rivulet — the CQRS and Event Sourcing toolkit: UUIDs and event ids, the
 * positions an idempotent service remembers, finding events logged more than
 * once, and rebuilding an aggregate's state from its event log.
 *
 * These pieces know nothing about carts: the shopping-cart application
 * (apps/cart) is one user of them, and another aggregate can be built the same
 * way. Everything here is plain computation with no I/O and no threads.
 */
#ifndef RIVULET_CQRS_H
#define RIVULET_CQRS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rivulet/env.h"
#include "rivulet/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ UUIDs */

typedef struct rv_uuid {
    uint8_t b[16];
} rv_uuid_t;

#define RV_UUID_STRLEN 36

/* Parses the canonical form (8-4-4-4-12 hex digits, either case). Anything
 * else is RV_ERR_DECODE with a message saying what is wrong. */
rv_err_t rv_uuid_parse(const char *s, size_t len, rv_uuid_t *out, rv_error_t **errp);
/* Writes the canonical lower-case form and a NUL into out (37 bytes). */
void rv_uuid_format(const rv_uuid_t *u, char out[RV_UUID_STRLEN + 1]);
bool rv_uuid_equal(const rv_uuid_t *a, const rv_uuid_t *b);
int rv_uuid_compare(const rv_uuid_t *a, const rv_uuid_t *b);
bool rv_uuid_is_nil(const rv_uuid_t *u);

/* A name-based (version 5, SHA-1) UUID, as RFC 4122 defines it. */
void rv_uuid_v5(const rv_uuid_t *ns, const void *name, size_t len, rv_uuid_t *out);

/* rivulet's namespace for the event ids it derives (a fixed v4 UUID). */
extern const rv_uuid_t rv_uuid_ns_rivulet;

/* A time-based (version 1) UUID — Cassandra's timeuuid — for the instant
 * unix_ms plus `ticks` 100-ns ticks (0..9999), with the given 14-bit clock
 * sequence and 48-bit node. Such UUIDs sort by time in Cassandra. */
void rv_timeuuid_make(uint64_t unix_ms, uint32_t ticks, uint16_t clock_seq, uint64_t node,
                      rv_uuid_t *out);
/* The Unix time in milliseconds of a version 1 UUID. */
uint64_t rv_timeuuid_unix_ms(const rv_uuid_t *u);

/* A generator of strictly increasing timeuuids for one writer. Ownership: the
 * caller owns the struct (plain data; no destroy needed). */
typedef struct rv_timeuuid_gen {
    uint64_t last_ticks; /* 100-ns ticks since the Gregorian epoch of the last uuid */
    uint16_t clock_seq;
    uint64_t node;
} rv_timeuuid_gen_t;
/* Seeds a generator with a random clock sequence and node (multicast bit set,
 * as RFC 4122 asks of nodes that are not MAC addresses). */
void rv_timeuuid_gen_init(rv_timeuuid_gen_t *g, uint64_t seed);
/* The next timeuuid at or after unix_ms, always greater than the previous one. */
void rv_timeuuid_next(rv_timeuuid_gen_t *g, uint64_t unix_ms, rv_uuid_t *out);
/* A timeuuid that is a pure function of (unix_ms, ticks, id): the same record
 * logged twice gets the same row, which is how idempotent logging avoids
 * duplicates. ticks (taken modulo 10000) orders rows within a millisecond:
 * pass the record's offset, so one partition's records keep their order. */
void rv_timeuuid_for(uint64_t unix_ms, uint32_t ticks, const rv_uuid_t *id, rv_uuid_t *out);

/* -------------------------------------------------------------- event ids */

typedef enum rv_event_id_policy {
    /* uuid5(rivulet namespace, "topic/partition/offset"): a redelivered record
     * keeps its id whatever its key. The default. */
    RV_EVENT_ID_OFFSET = 0,
    /* The record's key, which must be a UUID (36-character text or 16 bytes):
     * for publishers that key every command with its own UUID (the Scala
     * original did). Never use it when records are keyed by aggregate id. */
    RV_EVENT_ID_KEY = 1,
    /* The value of a header (default name "event-id"), a UUID as text or bytes. */
    RV_EVENT_ID_HEADER = 2
} rv_event_id_policy_t;

/* Parses "offset", "key" or "header". */
rv_err_t rv_event_id_policy_parse(const char *s, rv_event_id_policy_t *out, rv_error_t **errp);

/* The event id of a record. header/header_len is the header's value for
 * RV_EVENT_ID_HEADER (NULL when the record has none). Errors name the problem
 * (no key, a key that is not a UUID, ...). */
rv_err_t rv_event_id(rv_event_id_policy_t policy, const rv_meta_t *meta, const void *header,
                     size_t header_len, rv_uuid_t *out, rv_error_t **errp);

/* --------------------------------------------------------------- positions */

/* The last applied offset per partition, which an idempotent service stores
 * with the aggregate (in the same conditional write) to skip redeliveries. */
#define RV_POSITIONS_MAX 64
typedef struct rv_positions {
    size_t n;
    struct {
        int32_t partition;
        int64_t offset;
    } p[RV_POSITIONS_MAX];
} rv_positions_t;

/* True when (partition, offset) is at or below the stored offset of its partition. */
bool rv_positions_seen(const rv_positions_t *ps, int32_t partition, int64_t offset);
/* Records (partition, offset) when it is newer. RV_ERR_OVERFLOW past RV_POSITIONS_MAX partitions.
 */
rv_err_t rv_positions_advance(rv_positions_t *ps, int32_t partition, int64_t offset);
/* Text form "p:o,p:o" (for a text column); parsing checks every number. */
size_t rv_positions_format(const rv_positions_t *ps, char *out, size_t cap);
rv_err_t rv_positions_parse(const char *s, rv_positions_t *out, rv_error_t **errp);

/* ------------------------------------------------- logged events, replays */

/* One row of an event log, as the toolkit sees it. `event` is the
 * application's own event struct. */
typedef struct rv_logged_event {
    rv_uuid_t event_id;
    rv_uuid_t time;    /* a timeuuid: when this row was written */
    int32_t partition; /* where the command came from, -1 when unknown */
    int64_t offset;
    bool correction; /* a compensating row written by the query side */
    const void *event;
} rv_logged_event_t;

/* An event id that appears in more than one row. */
typedef struct rv_duplicate {
    rv_uuid_t event_id;
    size_t count;
} rv_duplicate_t;

/* Finds the event ids logged more than once (corrections are not counted).
 * Ownership: *out is the caller's, freed with free(); NULL when none. */
rv_err_t rv_find_duplicates(const rv_logged_event_t *rows, size_t n, rv_duplicate_t **out,
                            size_t *nout, rv_error_t **errp);

/* An aggregate's state as the replay sees it: the application supplies how to
 * start, apply an event, compare, and free. */
typedef struct rv_aggregate_ops {
    size_t state_size;
    void (*init)(void *state, void *opaque);
    /* Applies one event; a correction row's event replaces the whole state. */
    rv_err_t (*apply)(void *state, const void *event, bool correction, void *opaque,
                      rv_error_t **errp);
    bool (*equal)(const void *a, const void *b, void *opaque);
    void (*clear)(void *state, void *opaque);
} rv_aggregate_ops_t;

/* The state the commands would have produced applied exactly once each: every
 * event id counts once (its first row), in the order of the commands'
 * positions (partition, offset; rows without a position keep their time
 * order after them), correction rows ignored. `state` must hold
 * ops->state_size bytes; it is initialised here. *unique gets the number of
 * events applied. rows may be reordered. */
rv_err_t rv_replay_unique(const rv_aggregate_ops_t *ops, rv_logged_event_t *rows, size_t n,
                          void *state, size_t *unique, void *opaque, rv_error_t **errp);

/* The state the log itself describes: every row in time order, duplicates
 * included, a correction row resetting the state. After a correct
 * compensation this equals rv_replay_unique's state (Event Sourcing's check).
 * rows may be reordered. */
rv_err_t rv_replay_ledger(const rv_aggregate_ops_t *ops, rv_logged_event_t *rows, size_t n,
                          void *state, void *opaque, rv_error_t **errp);

#ifdef __cplusplus
}
#endif
#endif
