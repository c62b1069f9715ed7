/* The per-partition watermark tracker (see offsets.h). */
#include "kafka/offsets.h"

#include <stdlib.h>
#include <string.h>

enum { ST_PENDING = 0, ST_DONE = 1, ST_FAILED = 2 };

void rv__koff_init(rv__koff_t *t)
{
    memset(t, 0, sizeof(*t));
    t->last = -1;
    t->watermark = -1;
    t->fail_at = INT64_MAX;
    t->committed = -1;
}

void rv__koff_free(rv__koff_t *t)
{
    free(t->offs);
    free(t->state);
    t->offs = NULL;
    t->state = NULL;
    t->cap = t->n = t->head = 0;
}

static bool grow(rv__koff_t *t)
{
    size_t cap = t->cap ? t->cap * 2 : 64; /* a power of two: slots are masked */
    int64_t *offs = malloc(cap * sizeof(*offs));
    uint8_t *state = malloc(cap);
    if (!offs || !state) {
        free(offs);
        free(state);
        return false;
    }
    for (size_t i = 0; i < t->n; i++) {
        size_t j = (t->head + i) & (t->cap - 1);
        offs[i] = t->offs[j];
        state[i] = t->state[j];
    }
    free(t->offs);
    free(t->state);
    t->offs = offs;
    t->state = state;
    t->cap = cap;
    t->head = 0;
    return true;
}

rv_err_t rv__koff_track(rv__koff_t *t, int64_t offset)
{
    if (offset < 0 || offset <= t->last) return RV_ERR_INVALID;
    if (t->n == t->cap && !grow(t)) return RV_ERR_NOMEM;
    size_t j = (t->head + t->n) & (t->cap - 1);
    t->offs[j] = offset;
    t->state[j] = ST_PENDING;
    t->n++;
    t->pending++;
    t->last = offset;
    return RV_OK;
}

/* The slot of `offset`, or SIZE_MAX. The ring is sorted, and acks mostly come
 * in order, so the head is checked before a binary search. */
static size_t find(const rv__koff_t *t, int64_t offset)
{
    if (t->n == 0) return SIZE_MAX;
    if (t->offs[t->head] == offset) return 0;
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int64_t o = t->offs[(t->head + mid) & (t->cap - 1)];
        if (o == offset) return mid;
        if (o < offset)
            lo = mid + 1;
        else
            hi = mid;
    }
    return SIZE_MAX;
}

/* Pops finished records off the head. A done record below the first failure
 * moves the watermark past it; a record at or after the first failure is only
 * forgotten (it can never be committed in this assignment), which keeps the
 * ring as small as what is still in flight. */
static size_t advance(rv__koff_t *t)
{
    size_t passed = 0;
    while (t->n > 0 && t->state[t->head] != ST_PENDING) {
        int64_t o = t->offs[t->head];
        if (t->state[t->head] == ST_DONE && o < t->fail_at) {
            t->watermark = o + 1;
            passed++;
        }
        t->head = (t->head + 1) & (t->cap - 1);
        t->n--;
    }
    return passed;
}

size_t rv__koff_done(rv__koff_t *t, int64_t offset, bool ok)
{
    size_t i = find(t, offset);
    if (i == SIZE_MAX) return 0;
    size_t j = (t->head + i) & (t->cap - 1);
    if (t->state[j] != ST_PENDING) return 0;
    t->state[j] = ok ? ST_DONE : ST_FAILED;
    t->pending--;
    if (!ok && offset < t->fail_at) t->fail_at = offset;
    return i == 0 ? advance(t) : 0;
}

int64_t rv__koff_watermark(const rv__koff_t *t)
{
    return t->watermark;
}

int64_t rv__koff_take_commit(rv__koff_t *t)
{
    if (t->watermark < 0 || t->watermark <= t->committed) return -1;
    t->committed = t->watermark;
    return t->watermark;
}

size_t rv__koff_pending(const rv__koff_t *t)
{
    return t->pending;
}

bool rv__koff_blocked(const rv__koff_t *t)
{
    return t->fail_at != INT64_MAX;
}
