/* The declarative codec object: its schema, its identity plan, and the
 * writer schemas it can resolve. Also deep equality of described structs. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "avro/internal.h"

static void writer_fini(rv__writer_t *w)
{
    rv__plan_free(w->plan);
    rv__atree_free(w->tree);
    if (w->schema) avro_schema_decref(w->schema);
    free(w->json);
    memset(w, 0, sizeof(*w));
}

/* Parses a writer schema and resolves it against the reader's description. */
static rv_err_t writer_init(rv__writer_t *w, const rv_avro_type_t *r, int32_t id, const char *json,
                            rv_error_t **errp)
{
    memset(w, 0, sizeof(*w));
    w->id = id;
    w->json = json ? strdup(json) : NULL;
    if (!w->json) return rv_error_set(errp, RV_ERR_INVALID, false, "avro: no writer schema given");
    w->schema = rv__avro_parse(w->json, strlen(w->json), errp);
    if (!w->schema) goto fail;
    w->tree = rv__atree_new(w->schema, errp);
    if (!w->tree) goto fail;
    w->plan = rv__plan_new(w->tree->root, r, errp);
    if (!w->plan) goto fail;
    return RV_OK;
fail:
    writer_fini(w);
    return errp && *errp ? rv_error_code(*errp) : RV_ERR_INVALID;
}

rv_avro_codec_t *rv_avro_codec_new(const rv_avro_type_t *record, const rv_avro_opts_t *opts,
                                   rv_error_t **errp)
{
    if (rv__avro_check_record(record, errp) || rv__avro_check_defaults(record, errp)) return NULL;
    rv_avro_codec_t *c = calloc(1, sizeof(*c));
    if (!c) {
        rv_error_set(errp, RV_ERR_NOMEM, true, "avro: out of memory");
        return NULL;
    }
    c->type = record;
    rv__avro_opts_norm(&c->opts, opts);
    c->json = rv_avro_schema_json(record, errp);
    if (!c->json) goto fail;
    /* Parsing our own JSON with avro-c proves it is a schema other tools accept,
     * and gives the identity plan the same path as any writer schema. */
    if (writer_init(&c->own, record, c->opts.schema_id, c->json, errp)) goto fail;
    c->schema = c->own.schema;
    return c;
fail:
    rv_avro_codec_destroy(c);
    return NULL;
}

void rv_avro_codec_destroy(rv_avro_codec_t *c)
{
    if (!c) return;
    writer_fini(&c->own);
    if (c->raw) {
        writer_fini(c->raw);
        free(c->raw);
    }
    for (size_t i = 0; i < c->nwriters; i++)
        writer_fini(&c->writers[i]);
    free(c->writers);
    free(c->json);
    free(c);
}

const char *rv_avro_codec_schema_json(const rv_avro_codec_t *c)
{
    return c->json;
}

avro_schema_t rv_avro_codec_schema(const rv_avro_codec_t *c)
{
    return c->schema;
}

const rv_avro_type_t *rv_avro_codec_type(const rv_avro_codec_t *c)
{
    return c->type;
}

const rv_avro_opts_t *rv_avro_codec_opts(const rv_avro_codec_t *c)
{
    return &c->opts;
}

rv_err_t rv_avro_codec_set_writer_schema(rv_avro_codec_t *c, const char *json, rv_error_t **errp)
{
    rv__writer_t *w = malloc(sizeof(*w));
    if (!w) return rv_error_set(errp, RV_ERR_NOMEM, true, "avro: out of memory");
    rv_err_t e = writer_init(w, c->type, 0, json, errp);
    if (e) {
        free(w);
        return e;
    }
    if (c->raw) {
        writer_fini(c->raw);
        free(c->raw);
    }
    c->raw = w;
    return RV_OK;
}

rv_err_t rv_avro_codec_add_writer_schema(rv_avro_codec_t *c, int32_t id, const char *json,
                                         rv_error_t **errp)
{
    if (id == c->opts.schema_id)
        return rv_error_set(errp, RV_ERR_INVALID, false, "avro: schema id %d is the codec's own",
                            (int)id);
    for (size_t i = 0; i < c->nwriters; i++)
        if (c->writers[i].id == id)
            return rv_error_set(errp, RV_ERR_INVALID, false,
                                "avro: schema id %d is already registered", (int)id);
    rv__writer_t *nw = realloc(c->writers, (c->nwriters + 1) * sizeof(*nw));
    if (!nw) return rv_error_set(errp, RV_ERR_NOMEM, true, "avro: out of memory");
    c->writers = nw;
    rv_err_t e = writer_init(&c->writers[c->nwriters], c->type, id, json, errp);
    if (e) return e;
    c->nwriters++;
    return RV_OK;
}

/* ---------------------------------------------------------------- equality */

static bool eq_value(const rv_avro_type_t *t, const void *a, const void *b);

static bool eq_record(const rv_avro_type_t *t, const uint8_t *a, const uint8_t *b)
{
    for (size_t i = 0; i < t->nfields; i++) {
        const rv_avro_field_t *f = &t->fields[i];
        if (f->optional && f->has_offset != RV_AVRO_NO_FLAG) {
            bool pa = *(const bool *)(a + f->has_offset), pb = *(const bool *)(b + f->has_offset);
            if (pa != pb) return false;
            if (!pa) continue;
        }
        if (!eq_value(f->type, a + f->offset, b + f->offset)) return false;
    }
    return true;
}

static bool eq_value(const rv_avro_type_t *t, const void *a, const void *b)
{
    switch (t->kind) {
    case RV_AVRO_BOOLEAN:
        return *(const bool *)a == *(const bool *)b;
    case RV_AVRO_INT:
        return *(const int32_t *)a == *(const int32_t *)b;
    case RV_AVRO_LONG:
    case RV_AVRO_TIMESTAMP_MILLIS:
        return *(const int64_t *)a == *(const int64_t *)b;
    case RV_AVRO_FLOAT:
        return memcmp(a, b, sizeof(float)) == 0;
    case RV_AVRO_DOUBLE:
        return memcmp(a, b, sizeof(double)) == 0;
    case RV_AVRO_ENUM:
        return *(const int *)a == *(const int *)b;
    case RV_AVRO_STRING: {
        const char *x = *(char *const *)a, *y = *(char *const *)b;
        if (!x || !y) return x == y;
        return strcmp(x, y) == 0;
    }
    case RV_AVRO_BYTES: {
        const rv_avro_bytes_t *x = a, *y = b;
        if (!x->data || !y->data) return x->data == y->data && x->len == y->len;
        return x->len == y->len && (x->len == 0 || memcmp(x->data, y->data, x->len) == 0);
    }
    case RV_AVRO_UUID:
        return strncmp(a, b, RV_AVRO_UUID_LEN) == 0;
    case RV_AVRO_FIXED:
        return memcmp(a, b, t->fixed_size) == 0;
    case RV_AVRO_ARRAY: {
        const rv_avro_array_t *x = a, *y = b;
        if (x->n != y->n) return false;
        size_t sz = rv__avro_csize(t->items);
        for (size_t i = 0; i < x->n; i++)
            if (!eq_value(t->items, (const uint8_t *)x->items + i * sz,
                          (const uint8_t *)y->items + i * sz))
                return false;
        return true;
    }
    case RV_AVRO_MAP: {
        const rv_avro_map_t *x = a, *y = b;
        if (x->n != y->n) return false;
        size_t sz = rv__avro_csize(t->items);
        for (size_t i = 0; i < x->n; i++)
            if (strcmp(x->keys[i], y->keys[i]) != 0 ||
                !eq_value(t->items, (const uint8_t *)x->values + i * sz,
                          (const uint8_t *)y->values + i * sz))
                return false;
        return true;
    }
    case RV_AVRO_RECORD:
        return eq_record(t, a, b);
    }
    return false;
}

bool rv_avro_equal(const rv_avro_type_t *record, const void *a, const void *b)
{
    return eq_value(record, a, b);
}
