/* The per-partition offset tracker behind KafkaSource's commits: pure logic,
 * no librdkafka, unit-tested on its own (tests/kafka/test_offsets.c).
 *
 * A source tells the tracker every offset it emits (in increasing order, as a
 * partition delivers them) and later whether each record was done or failed,
 * in any order. The tracker answers the watermark: the offset to commit, such
 * that every emitted record below it is done. A failed record stops the
 * watermark for good (for this assignment of the partition): it and everything
 * after it are redelivered after a restart or a rebalance.
 *
 * Records are kept in a ring in emission order from the oldest one not yet
 * passed by the watermark, so memory follows the records in flight. */
#ifndef RV_KAFKA_OFFSETS_H
#define RV_KAFKA_OFFSETS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rivulet/error.h"

typedef struct rv__koff {
    int64_t *offs;  /* ring of offsets, increasing from head */
    uint8_t *state; /* per slot: 0 pending, 1 done, 2 failed */
    size_t cap, head, n;
    size_t pending;    /* records neither done nor failed */
    int64_t last;      /* last offset tracked, -1 before the first */
    int64_t watermark; /* every tracked record below it is done; -1 before any */
    int64_t fail_at;   /* lowest failed offset, INT64_MAX when none */
    int64_t committed; /* the watermark last handed to a commit, -1 when none */
} rv__koff_t;

void rv__koff_init(rv__koff_t *t);
void rv__koff_free(rv__koff_t *t);

/* Records that `offset` was emitted. Offsets must increase; a smaller or equal
 * one is RV_ERR_INVALID. RV_ERR_NOMEM when the ring cannot grow. */
rv_err_t rv__koff_track(rv__koff_t *t, int64_t offset);

/* Marks a tracked record done (ok) or failed. Returns how many records the
 * watermark passed because of it (0 for an unknown offset). */
size_t rv__koff_done(rv__koff_t *t, int64_t offset, bool ok);

/* The offset to commit (every tracked record below it is done), or -1 when no
 * record was done yet. */
int64_t rv__koff_watermark(const rv__koff_t *t);

/* The watermark when it moved past what was last committed, else -1; marks it
 * committed (the caller commits it). */
int64_t rv__koff_take_commit(rv__koff_t *t);

/* Records neither done nor failed. */
size_t rv__koff_pending(const rv__koff_t *t);

/* True when a record failed: the watermark can no longer pass it. */
bool rv__koff_blocked(const rv__koff_t *t);

#endif
