#include "stages/supervise.h"

rv_directive_t rv__supervise(rv_stage_t *st, rv_env_t *env, rv_err_t rc, rv_error_t **err,
                             int attempt)
{
    if (!*err)
        *err = rv_error_new(rc == RV_OK ? RV_ERR_USER : rc, false, "%s: user function failed: %s",
                            rv_stage_name(st), rv_err_str(rc == RV_OK ? RV_ERR_USER : rc));
    rv_directive_t d = rv_stage_decide(st, *err, attempt);
    rv_err_t code = rv_error_code(*err);
    switch (d) {
    case RV_RETRY:
        rv_error_destroy(*err);
        break;
    case RV_RESUME:
        rv_error_destroy(*err);
        rv_stage_count_failure(st);
        rv_env_release_failed(env, code);
        break;
    default:
        d = RV_STOP;
        rv_stage_count_failure(st);
        rv_env_release_failed(env, code);
        rv_stage_fail(st, *err);
        break;
    }
    *err = NULL;
    return d;
}

rv_env_t *rv__env_with_payload(rv_env_t *env, void *out, rv_free_fn out_free)
{
    if (out == rv_env_payload(env)) return env;
    if (rv_env_refs(env) == 1) {
        rv_env_set_payload(env, out, out_free);
        return env;
    }
    rv_env_t *d = rv_env_derive(env, out, out_free);
    if (!d) {
        rv_env_release_failed(env, RV_ERR_NOMEM);
        return NULL;
    }
    rv_env_release(env);
    return d;
}
