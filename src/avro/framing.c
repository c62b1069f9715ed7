/* The two wire framings: raw Avro binary, and Confluent's (magic byte 0, a
 * 4-byte big-endian schema id, then the binary). */
#include "avro/internal.h"

rv_err_t rv_avro_frame_confluent(rv_avro_buf_t *out, int32_t id)
{
    if (rv_avro_buf_reserve(out, 5)) return RV_ERR_NOMEM;
    uint32_t u = (uint32_t)id;
    uint8_t *p = out->data + out->len;
    p[0] = 0;
    p[1] = (uint8_t)(u >> 24);
    p[2] = (uint8_t)(u >> 16);
    p[3] = (uint8_t)(u >> 8);
    p[4] = (uint8_t)u;
    out->len += 5;
    return RV_OK;
}

rv_err_t rv_avro_unframe_confluent(const void *data, size_t len, int32_t *id, size_t *body_off,
                                   rv_error_t **errp)
{
    const uint8_t *p = data;
    if (len < 5)
        return rv_error_set(errp, RV_ERR_DECODE, false,
                            "avro: Confluent framing needs 5 header bytes, got %zu", len);
    if (p[0] != 0)
        return rv_error_set(errp, RV_ERR_DECODE, false,
                            "avro: Confluent magic byte is %u, want 0 at byte 0", p[0]);
    *id = (int32_t)(((uint32_t)p[1] << 24) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 8) |
                    (uint32_t)p[4]);
    *body_off = 5;
    return RV_OK;
}

rv_err_t rv__avro_codec_writer(const rv_avro_codec_t *c, const uint8_t *data, size_t len,
                               const rv__writer_t **w, size_t *body, rv_error_t **errp)
{
    if (c->opts.framing == RV_AVRO_FRAMING_RAW) {
        *w = c->raw ? c->raw : &c->own;
        *body = 0;
        return RV_OK;
    }
    int32_t id;
    rv_err_t e = rv_avro_unframe_confluent(data, len, &id, body, errp);
    if (e) return e;
    if (id == c->opts.schema_id) {
        *w = &c->own;
        return RV_OK;
    }
    for (size_t i = 0; i < c->nwriters; i++) {
        if (c->writers[i].id == id) {
            *w = &c->writers[i];
            return RV_OK;
        }
    }
    return rv_error_set(errp, RV_ERR_DECODE, false,
                        "%s: unknown writer schema id %d in the Confluent header at byte 1",
                        c->type->name, (int)id);
}
