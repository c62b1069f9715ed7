/* Flow: an async call retried with exponential backoff, always with the same
 * element (the old Scala original's retry sink retried with no element). The
 * delay before retry n is min(max, min * 2^n) * (1 + rnd * random_factor). The
 * machinery is the async map's (async_map.c); this file is its name. */
#include "stages/async_map.h"

rv_stage_t *rv_retry(rv_graph_t *g, int parallelism, bool ordered, rv_async_fn fn,
                     rv_free_fn out_free, const rv_backoff_t *backoff, void *opaque)
{
    if (!backoff) {
        rv_graph_record_error(g, rv_error_new(RV_ERR_INVALID, false, "retry: backoff is NULL"));
        return NULL;
    }
    return rv__async_map_new(g, "retry", parallelism, ordered, fn, out_free, backoff, opaque);
}
