/* Shared by the built-in stages that call user functions: what to do when the
 * function fails on an element. */
#ifndef RV_STAGES_SUPERVISE_H
#define RV_STAGES_SUPERVISE_H

#include "rivulet/stage.h"

/* Consults the stage's decider about a failed call on env (attempt counts the
 * failed calls so far, from 1). rc and *err describe the failure; *err may be
 * NULL and is consumed. Outcomes:
 *   RV_RETRY  nothing done: call again with the same element;
 *   RV_RESUME env was released as failed and counted; go on with the next;
 *   RV_STOP   env was released as failed and the stage failed. */
rv_directive_t rv__supervise(rv_stage_t *st, rv_env_t *env, rv_err_t rc, rv_error_t **err,
                             int attempt);

/* Replaces env's payload with out as a map stage does: nothing when out is the
 * current payload, in place when env is held alone, else through a derived
 * envelope. Returns the envelope to push, or NULL when out of memory (env then
 * released as failed). Ownership: takes env and out. */
rv_env_t *rv__env_with_payload(rv_env_t *env, void *out, rv_free_fn out_free);

#endif
