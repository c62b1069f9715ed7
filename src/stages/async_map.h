/* The async map engine, shared by rv_async_map and rv_retry. */
#ifndef RV_STAGES_ASYNC_MAP_H
#define RV_STAGES_ASYNC_MAP_H

#include "rivulet/stages.h"

rv_stage_t *rv__async_map_new(rv_graph_t *g, const char *kind, int parallelism, bool ordered,
                              rv_async_fn fn, rv_free_fn out_free, const rv_backoff_t *backoff,
                              void *opaque);

#endif
