/* AvroDeserializer: bytes -> a decoded object, for either flavour.
 *
 * An undecodable record is never a crash and never a silent drop. With the
 * dead-letter port (two outputs) it leaves on port 1 as an envelope derived
 * from the input whose payload is the rv_error_t * reason, so the dead-letter
 * sink acks it once the reason is stored. Without it (one output) the stage's
 * decider chooses: RV_STOP fails the stream, RV_RESUME releases the record as
 * failed (so it is never acked and comes back after a restart), RV_RETRY
 * decodes it again. */
#include <inttypes.h>
#include <stdlib.h>

#include "avro/internal.h"

typedef struct deser {
    rv__avro_serde_t serde;
    rv_free_fn out_free;
    rv_avro_get_bytes_fn get;
    void *get_opaque;
    bool dead_letter;
} deser_t;

const void *rv_avro_get_bytes(void *payload, size_t *len, void *opaque)
{
    (void)opaque;
    const rv_avro_bytes_t *b = payload;
    if (!b) {
        *len = 0;
        return NULL;
    }
    *len = b->len;
    return b->data ? (const void *)b->data : (const void *)"";
}

static void free_error(void *e)
{
    rv_error_destroy(e);
}

/* The reason, with where the record came from when the source said so. */
static rv_error_t *reason(rv_stage_t *st, rv_env_t *env, rv_error_t *err)
{
    const rv_meta_t *m = rv_env_meta(env);
    rv_error_t *r;
    if (m && m->topic)
        r = rv_error_new(rv_error_code(err), false,
                         "%s: %s (record %s [%" PRId32 "] @ %" PRId64 ")", rv_stage_name(st),
                         rv_error_msg(err), m->topic, m->partition, m->offset);
    else
        r = rv_error_new(rv_error_code(err), false, "%s: %s", rv_stage_name(st), rv_error_msg(err));
    rv_error_destroy(err);
    return r;
}

/* Handles one element; false when the stage failed. */
static bool one(rv_stage_t *st, deser_t *d, rv_env_t *env)
{
    for (int attempt = 1;; attempt++) {
        size_t len = 0;
        const void *bytes = d->get(rv_env_payload(env), &len, d->get_opaque);
        rv_error_t *err = NULL;
        void *obj = NULL;
        if (!bytes)
            rv_error_set(&err, RV_ERR_DECODE, false, "the element holds no bytes");
        else if (rv__avro_serde_decode(&d->serde, bytes, len, &obj, &err) != RV_OK && !err)
            err = rv_error_new(RV_ERR_DECODE, false, "undecodable record");
        if (!err) {
            rv_env_t *out = rv_env_derive(env, obj, d->out_free);
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
        err = reason(st, env, err);
        if (d->dead_letter) {
            rv_err_t code = rv_error_code(err);
            rv_env_t *rej = rv_env_derive(env, err, free_error);
            if (!rej) {
                rv_env_release_failed(env, code);
                rv_stage_fail(
                    st, rv_error_new(RV_ERR_NOMEM, true, "%s: out of memory", rv_stage_name(st)));
                return false;
            }
            rv_env_release(env);
            rv_out_push(st, 1, rej);
            return true;
        }
        rv_directive_t dir = rv_stage_decide(st, err, attempt);
        if (dir == RV_RETRY) {
            rv_error_destroy(err);
            continue;
        }
        rv_stage_count_failure(st);
        rv_env_release_failed(env, rv_error_code(err));
        if (dir == RV_RESUME) {
            rv_error_destroy(err);
            return true;
        }
        rv_stage_fail(st, err);
        return false;
    }
}

static void on_input(rv_stage_t *st)
{
    deser_t *d = rv_stage_state(st);
    /* Each element goes to one port, so the smallest room bounds the batch. */
    size_t n = rv_in_avail(st, 0), room = rv_out_room_all(st);
    if (n > room) n = room;
    while (n-- > 0 && !rv_stage_finished(st)) {
        rv_env_t *env = rv_in_pop(st, 0);
        if (!env || !one(st, d, env)) return;
    }
}

static void stop(rv_stage_t *st)
{
    free(rv_stage_state(st));
}

static const rv_stage_ops_t ops = {.kind = "avro-deserializer", .on_input = on_input, .stop = stop};

static rv_stage_t *make(rv_graph_t *g, rv__avro_serde_t serde, const rv_avro_deser_opts_t *opts)
{
    if (!serde.codec && !serde.gen) {
        rv_graph_record_error(
            g, rv_error_new(RV_ERR_INVALID, false, "avro-deserializer: no codec given"));
        return NULL;
    }
    deser_t *d = calloc(1, sizeof(*d));
    if (!d) {
        rv_graph_record_error(g, rv_error_new(RV_ERR_NOMEM, true, "out of memory"));
        return NULL;
    }
    d->serde = serde;
    d->out_free = rv__avro_serde_free(&serde);
    d->get = opts && opts->get ? opts->get : rv_avro_get_bytes;
    d->get_opaque = opts ? opts->get_opaque : NULL;
    d->dead_letter = opts && opts->dead_letter;
    rv_stage_t *st = rv_stage_new(g, &ops, d, 1, d->dead_letter ? 2 : 1);
    if (st && !d->dead_letter && opts && opts->skip_bad)
        rv_stage_set_decider(st, rv_decider_resume, NULL);
    return st;
}

rv_stage_t *rv_avro_deserializer(rv_graph_t *g, const rv_avro_codec_t *codec,
                                 const rv_avro_deser_opts_t *opts)
{
    return make(g, (rv__avro_serde_t){.codec = codec}, opts);
}

rv_stage_t *rv_avro_generic_deserializer(rv_graph_t *g, rv_avro_generic_t *gen,
                                         const rv_avro_deser_opts_t *opts)
{
    if (gen && !rv_avro_generic_free_fn(gen)) {
        /* Decoded objects would leak: the definition must say how to free them. */
        rv_graph_record_error(g, rv_error_new(RV_ERR_INVALID, false,
                                              "avro-deserializer: the generic codec has no "
                                              "free_obj"));
        return NULL;
    }
    return make(g, (rv__avro_serde_t){.gen = gen}, opts);
}
