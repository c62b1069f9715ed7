/* The declarative encoder: a struct straight to Avro binary, by walking the
 * record description. The output is what avro-c's generic writer produces
 * for the same values (arrays and maps as one block followed by 0). */
#include <stdlib.h>
#include <string.h>

#include "avro/internal.h"

static inline uint8_t *put_long(uint8_t *p, int64_t v)
{
    uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    while (z > 0x7F) {
        *p++ = (uint8_t)((z & 0x7F) | 0x80);
        z >>= 7;
    }
    *p++ = (uint8_t)z;
    return p;
}

static inline int reserve(rv__actx_t *c, rv_avro_buf_t *b, size_t n)
{
    if (b->cap - b->len >= n) return 0;
    if (rv_avro_buf_reserve(b, n) != RV_OK) return RV__FAIL(c, RV_ERR_NOMEM, "out of memory");
    return 0;
}

static inline int enc_long(rv__actx_t *c, rv_avro_buf_t *b, int64_t v)
{
    if (reserve(c, b, 10)) return -1;
    b->len = (size_t)(put_long(b->data + b->len, v) - b->data);
    return 0;
}

static inline int enc_raw(rv__actx_t *c, rv_avro_buf_t *b, const void *p, size_t n)
{
    if (reserve(c, b, n + 10)) return -1;
    b->len = (size_t)(put_long(b->data + b->len, (int64_t)n) - b->data);
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

static int enc_value(rv__actx_t *c, rv_avro_buf_t *b, const rv_avro_type_t *t, const void *src);

static int enc_record(rv__actx_t *c, rv_avro_buf_t *b, const rv_avro_type_t *t, const void *obj)
{
    const uint8_t *base = obj;
    for (size_t i = 0; i < t->nfields; i++) {
        const rv_avro_field_t *f = &t->fields[i];
        const void *src = base + f->offset;
        if (f->optional) {
            bool present;
            if (f->has_offset != RV_AVRO_NO_FLAG)
                present = *(const bool *)(base + f->has_offset);
            else if (f->type->kind == RV_AVRO_STRING)
                present = *(char *const *)src != NULL;
            else
                present = ((const rv_avro_bytes_t *)src)->data != NULL;
            if (enc_long(c, b, present ? 1 : 0)) goto fail;
            if (!present) continue;
        }
        if (enc_value(c, b, f->type, src)) goto fail;
        continue;
    fail:
        rv__actx_prepend(c, f->name, false);
        return -1;
    }
    return 0;
}

static int enc_value(rv__actx_t *c, rv_avro_buf_t *b, const rv_avro_type_t *t, const void *src)
{
    switch (t->kind) {
    case RV_AVRO_BOOLEAN:
        if (reserve(c, b, 1)) return -1;
        b->data[b->len++] = *(const bool *)src ? 1 : 0;
        return 0;
    case RV_AVRO_INT:
        return enc_long(c, b, *(const int32_t *)src);
    case RV_AVRO_LONG:
    case RV_AVRO_TIMESTAMP_MILLIS:
        return enc_long(c, b, *(const int64_t *)src);
    case RV_AVRO_FLOAT:
        if (reserve(c, b, 4)) return -1;
        memcpy(b->data + b->len, src, 4); /* little-endian hosts only (see CMake check) */
        b->len += 4;
        return 0;
    case RV_AVRO_DOUBLE:
        if (reserve(c, b, 8)) return -1;
        memcpy(b->data + b->len, src, 8);
        b->len += 8;
        return 0;
    case RV_AVRO_STRING: {
        const char *s = *(char *const *)src;
        if (!s) return RV__FAIL(c, RV_ERR_ENCODE, "NULL string in a field that is not optional");
        size_t n = strlen(s);
        if (!rv__utf8_valid((const uint8_t *)s, n, NULL))
            return RV__FAIL(c, RV_ERR_ENCODE, "string is not valid UTF-8");
        return enc_raw(c, b, s, n);
    }
    case RV_AVRO_BYTES: {
        const rv_avro_bytes_t *v = src;
        if (!v->data && v->len)
            return RV__FAIL(c, RV_ERR_ENCODE, "bytes with NULL data and length %zu", v->len);
        return enc_raw(c, b, v->data, v->len);
    }
    case RV_AVRO_UUID: {
        const char *s = src;
        size_t n = strnlen(s, RV_AVRO_UUID_LEN);
        if (!rv__uuid_valid(s, n))
            return RV__FAIL(c, RV_ERR_ENCODE, "not a uuid (want 8-4-4-4-12 hex digits)");
        return enc_raw(c, b, s, n);
    }
    case RV_AVRO_ENUM: {
        int v = *(const int *)src;
        if (v < 0 || (size_t)v >= t->nsymbols)
            return RV__FAIL(c, RV_ERR_ENCODE, "enum index %d out of range [0,%zu]", v,
                            t->nsymbols - 1);
        return enc_long(c, b, v);
    }
    case RV_AVRO_FIXED:
        if (reserve(c, b, t->fixed_size)) return -1;
        memcpy(b->data + b->len, src, t->fixed_size);
        b->len += t->fixed_size;
        return 0;
    case RV_AVRO_ARRAY: {
        const rv_avro_array_t *a = src;
        if (a->n) {
            if (!a->items)
                return RV__FAIL(c, RV_ERR_ENCODE, "array with NULL items and %zu items", a->n);
            if (enc_long(c, b, (int64_t)a->n)) return -1;
            size_t sz = rv__avro_csize(t->items);
            for (size_t i = 0; i < a->n; i++) {
                if (enc_value(c, b, t->items, (const uint8_t *)a->items + i * sz)) {
                    rv__actx_prepend_index(c, i);
                    return -1;
                }
            }
        }
        return enc_long(c, b, 0);
    }
    case RV_AVRO_MAP: {
        const rv_avro_map_t *m = src;
        if (m->n) {
            if (!m->keys || !m->values)
                return RV__FAIL(c, RV_ERR_ENCODE, "map with NULL keys or values");
            if (enc_long(c, b, (int64_t)m->n)) return -1;
            size_t sz = rv__avro_csize(t->items);
            for (size_t i = 0; i < m->n; i++) {
                const char *k = m->keys[i];
                if (!k) {
                    rv__actx_fail(c, RV_ERR_ENCODE, "NULL map key");
                    rv__actx_prepend_index(c, i);
                    return -1;
                }
                size_t kn = strlen(k);
                if (!rv__utf8_valid((const uint8_t *)k, kn, NULL)) {
                    rv__actx_fail(c, RV_ERR_ENCODE, "map key is not valid UTF-8");
                    rv__actx_prepend_index(c, i);
                    return -1;
                }
                if (enc_raw(c, b, k, kn)) return -1;
                if (enc_value(c, b, t->items, (const uint8_t *)m->values + i * sz)) {
                    rv__actx_prepend(c, k, true);
                    return -1;
                }
            }
        }
        return enc_long(c, b, 0);
    }
    case RV_AVRO_RECORD: {
        if (enc_record(c, b, t, src)) return -1;
        return 0;
    }
    }
    return RV__FAIL(c, RV_ERR_ENCODE, "unknown kind %d", (int)t->kind);
}

rv_err_t rv_avro_encode(const rv_avro_codec_t *codec, const void *obj, rv_avro_buf_t *out,
                        rv_error_t **errp)
{
    if (!codec || !obj || !out)
        return rv_error_set(errp, RV_ERR_INVALID, false, "avro: encode: NULL argument");
    size_t start = out->len;
    if (codec->opts.framing == RV_AVRO_FRAMING_CONFLUENT) {
        rv_err_t e = rv_avro_frame_confluent(out, codec->opts.schema_id);
        if (e) return rv_error_set(errp, e, true, "avro: out of memory");
    }
    rv__actx_t c = {0};
    if (enc_record(&c, out, codec->type, obj)) {
        out->len = start;
        return rv__actx_finish(&c, codec->type->name, false, errp);
    }
    return RV_OK;
}
