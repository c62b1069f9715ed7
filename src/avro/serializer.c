/* AvroSerializer: an object -> rv_avro_bytes_t * (one allocation, freed with
 * rv_avro_bytes_free), for either flavour. An object that cannot be encoded
 * goes to the stage's decider (stop by default, or resume: released as
 * failed, never acked). */
#include <stdlib.h>
#include <string.h>

#include "avro/internal.h"

typedef struct ser {
    rv__avro_serde_t serde;
} ser_t;

/* Encodes behind a header, so the bytes and their rv_avro_bytes_t share one
 * block and nothing is copied. */
static rv_avro_bytes_t *encode(ser_t *s, const void *obj, rv_error_t **errp)
{
    rv_avro_buf_t b = {0};
    const size_t hdr = sizeof(rv_avro_bytes_t);
    if (rv_avro_buf_reserve(&b, hdr + 128)) {
        rv_error_set(errp, RV_ERR_NOMEM, true, "out of memory");
        return NULL;
    }
    b.len = hdr;
    if (rv__avro_serde_encode(&s->serde, obj, &b, errp) != RV_OK) {
        rv_avro_buf_free(&b);
        return NULL;
    }
    rv_avro_bytes_t *out = (rv_avro_bytes_t *)b.data;
    out->data = b.data + hdr;
    out->len = b.len - hdr;
    return out;
}

static bool one(rv_stage_t *st, ser_t *s, rv_env_t *env)
{
    for (int attempt = 1;; attempt++) {
        rv_error_t *err = NULL;
        rv_avro_bytes_t *bytes = encode(s, rv_env_payload(env), &err);
        if (bytes) {
            rv_env_t *out = rv_env_derive(env, bytes, rv_avro_bytes_free);
            if (!out) {
                rv_env_release_failed(env, RV_ERR_NOMEM);
                rv_stage_fail(
                    st, rv_error_new(RV_ERR_NOMEM, true, "%s: out of memory", rv_stage_name(st)));
                return false;
            }
            rv_env_release(env);
            rv_out_push(st, 0, out);
            return true;
        }
        if (!err) err = rv_error_new(RV_ERR_ENCODE, false, "cannot encode");
        rv_error_t *r =
            rv_error_new(rv_error_code(err), false, "%s: %s", rv_stage_name(st), rv_error_msg(err));
        rv_error_destroy(err);
        rv_directive_t dir = rv_stage_decide(st, r, attempt);
        if (dir == RV_RETRY) {
            rv_error_destroy(r);
            continue;
        }
        rv_stage_count_failure(st);
        rv_env_release_failed(env, rv_error_code(r));
        if (dir == RV_RESUME) {
            rv_error_destroy(r);
            return true;
        }
        rv_stage_fail(st, r);
        return false;
    }
}

static void on_input(rv_stage_t *st)
{
    ser_t *s = rv_stage_state(st);
    size_t n = rv_in_avail(st, 0), room = rv_out_room(st, 0);
    if (n > room) n = room;
    while (n-- > 0 && !rv_stage_finished(st)) {
        rv_env_t *env = rv_in_pop(st, 0);
        if (!env || !one(st, s, env)) return;
    }
}

static void stop(rv_stage_t *st)
{
    free(rv_stage_state(st));
}

static const rv_stage_ops_t ops = {.kind = "avro-serializer", .on_input = on_input, .stop = stop};

static rv_stage_t *make(rv_graph_t *g, rv__avro_serde_t serde)
{
    if (!serde.codec && !serde.gen) {
        rv_graph_record_error(
            g, rv_error_new(RV_ERR_INVALID, false, "avro-serializer: no codec given"));
        return NULL;
    }
    ser_t *s = calloc(1, sizeof(*s));
    if (!s) {
        rv_graph_record_error(g, rv_error_new(RV_ERR_NOMEM, true, "out of memory"));
        return NULL;
    }
    s->serde = serde;
    return rv_stage_new(g, &ops, s, 1, 1);
}

rv_stage_t *rv_avro_serializer(rv_graph_t *g, const rv_avro_codec_t *codec)
{
    return make(g, (rv__avro_serde_t){.codec = codec});
}

rv_stage_t *rv_avro_generic_serializer(rv_graph_t *g, rv_avro_generic_t *gen)
{
    return make(g, (rv__avro_serde_t){.gen = gen});
}
