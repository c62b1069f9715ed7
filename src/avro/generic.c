/* Flavour 2: the user's schema and functions over avro-c's generic values.
 * rivulet owns the buffers and the avro-c objects, checks untrusted bytes
 * with its own bounded validator before avro-c reads them (avro-c allocates
 * what a length prefix says before checking it is there, and does not check
 * UTF-8), and resolves other writer schemas with avro-c's resolved reader. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "avro/internal.h"

typedef struct gwriter {
    int32_t id;
    char *json;
    avro_schema_t schema;
    rv__atree_t *tree;
    avro_value_iface_t *wiface;
    avro_value_t wval;          /* a value of the writer's schema, reused */
    avro_value_iface_t *riface; /* resolved reader, NULL for the codec's own schema */
    avro_value_t rval;
} gwriter_t;

struct rv_avro_generic {
    rv_avro_generic_def_t def;
    rv_avro_opts_t opts;
    char *json;
    avro_schema_t schema;
    gwriter_t own;
    gwriter_t *raw;
    gwriter_t *writers;
    size_t nwriters;
    avro_value_iface_t *iface;
    avro_value_t enc_val; /* reused for encoding */
    bool enc_ready;
    avro_reader_t reader;
    avro_writer_t writer;
};

static void gwriter_fini(gwriter_t *w)
{
    if (w->riface) {
        avro_value_decref(&w->rval);
        avro_value_iface_decref(w->riface);
    }
    if (w->wiface) {
        avro_value_decref(&w->wval);
        avro_value_iface_decref(w->wiface);
    }
    rv__atree_free(w->tree);
    if (w->schema) avro_schema_decref(w->schema);
    free(w->json);
    memset(w, 0, sizeof(*w));
}

static rv_err_t avro_fail(rv_error_t **errp, rv_err_t code, const char *what)
{
    return rv_error_set(errp, code, false, "avro: %s: %s", what, avro_strerror());
}

/* avro-c 1.11's resolved reader crashes (it does not fill defaults) when a
 * reader record has a field the writer's record lacks. Such a pair is refused
 * before avro-c sees it; the declarative codec handles that case itself.
 * Walks records, arrays, maps and same-named union branches; recursive
 * schemas stop at the depth limit. */
static bool fields_covered(const rv__anode_t *w, const rv__anode_t *r, char *missing, size_t cap,
                           int depth)
{
    if (depth > RV__AVRO_DEFAULT_DEPTH || !w || !r) return true;
    if (w->type == AVRO_UNION && r->type == AVRO_UNION) {
        for (int i = 0; i < r->n; i++)
            for (int j = 0; j < w->n; j++)
                if (r->kids[i]->type == w->kids[j]->type &&
                    (!r->kids[i]->name ||
                     (w->kids[j]->name && strcmp(r->kids[i]->name, w->kids[j]->name) == 0)) &&
                    !fields_covered(w->kids[j], r->kids[i], missing, cap, depth + 1))
                    return false;
        return true;
    }
    if (w->type == AVRO_UNION) {
        for (int j = 0; j < w->n; j++)
            if (!fields_covered(w->kids[j], r, missing, cap, depth + 1)) return false;
        return true;
    }
    if (r->type == AVRO_UNION) {
        for (int i = 0; i < r->n; i++)
            if (r->kids[i]->type == w->type &&
                !fields_covered(w, r->kids[i], missing, cap, depth + 1))
                return false;
        return true;
    }
    if (w->type != r->type) return true; /* avro-c reports the mismatch itself */
    if (w->type == AVRO_ARRAY || w->type == AVRO_MAP)
        return fields_covered(w->items, r->items, missing, cap, depth + 1);
    if (w->type != AVRO_RECORD) return true;
    for (int i = 0; i < r->n; i++) {
        int j;
        for (j = 0; j < w->n; j++)
            if (strcmp(r->names[i], w->names[j]) == 0) break;
        if (j == w->n) {
            snprintf(missing, cap, "%s.%s", r->name ? r->name : "?", r->names[i]);
            return false;
        }
        if (!fields_covered(w->kids[j], r->kids[i], missing, cap, depth + 1)) return false;
    }
    return true;
}

static rv_err_t gwriter_init(gwriter_t *w, const gwriter_t *reader_w, avro_schema_t reader,
                             int32_t id, const char *json, rv_error_t **errp)
{
    memset(w, 0, sizeof(*w));
    w->id = id;
    w->json = json ? strdup(json) : NULL;
    if (!w->json) return rv_error_set(errp, RV_ERR_INVALID, false, "avro: no schema given");
    rv_err_t e = RV_ERR_INVALID;
    w->schema = rv__avro_parse(w->json, strlen(w->json), errp);
    if (!w->schema) goto fail;
    w->tree = rv__atree_new(w->schema, errp);
    if (!w->tree) goto fail;
    w->wiface = avro_generic_class_from_schema(w->schema);
    if (!w->wiface) {
        avro_fail(errp, RV_ERR_INVALID, "cannot make a value class for the schema");
        goto fail;
    }
    if (avro_generic_value_new(w->wiface, &w->wval)) {
        avro_value_iface_decref(w->wiface);
        w->wiface = NULL;
        e = avro_fail(errp, RV_ERR_NOMEM, "cannot make a value");
        goto fail;
    }
    if (reader) {
        char missing[256];
        if (!fields_covered(w->tree->root, reader_w->tree->root, missing, sizeof(missing), 0)) {
            e = rv_error_set(errp, RV_ERR_UNSUPPORTED, false,
                             "avro: the reader field %s is not in the writer's schema, and "
                             "avro-c's resolved reader cannot fill defaults (use the "
                             "declarative codec for this evolution)",
                             missing);
            goto fail;
        }
        w->riface = avro_resolved_reader_new(w->schema, reader);
        if (!w->riface) {
            avro_fail(errp, RV_ERR_INVALID, "the writer schema cannot be resolved to the reader's");
            goto fail;
        }
        if (avro_resolved_reader_new_value(w->riface, &w->rval)) {
            avro_value_iface_decref(w->riface);
            w->riface = NULL;
            e = avro_fail(errp, RV_ERR_NOMEM, "cannot make a resolved value");
            goto fail;
        }
        avro_resolved_reader_set_source(&w->rval, &w->wval);
    }
    return RV_OK;
fail:
    gwriter_fini(w);
    return e;
}

static char *slurp(const char *path, rv_error_t **errp)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        rv_error_set(errp, RV_ERR_NOT_FOUND, false, "avro: cannot open schema file %s", path);
        return NULL;
    }
    size_t cap = 4096, n = 0;
    char *s = malloc(cap);
    while (s) {
        if (cap - n < 2) {
            char *ns = cap < (64u << 20) ? realloc(s, cap * 2) : NULL;
            if (!ns) {
                free(s);
                s = NULL;
                break;
            }
            s = ns;
            cap *= 2;
        }
        size_t k = fread(s + n, 1, cap - n - 1, f);
        n += k;
        if (k == 0) break;
    }
    bool err = ferror(f);
    fclose(f);
    if (!s || err) {
        free(s);
        rv_error_set(errp, RV_ERR_IO, false, "avro: cannot read schema file %s", path);
        return NULL;
    }
    s[n] = 0;
    return s;
}

rv_avro_generic_t *rv_avro_generic_new(const rv_avro_generic_def_t *def, const rv_avro_opts_t *opts,
                                       rv_error_t **errp)
{
    if (!def || (!def->schema_json && !def->schema_path)) {
        rv_error_set(errp, RV_ERR_INVALID, false, "avro: generic codec needs a schema");
        return NULL;
    }
    rv_avro_generic_t *g = calloc(1, sizeof(*g));
    if (!g) {
        rv_error_set(errp, RV_ERR_NOMEM, true, "avro: out of memory");
        return NULL;
    }
    g->def = *def;
    rv__avro_opts_norm(&g->opts, opts);
    g->json = def->schema_json ? strdup(def->schema_json) : slurp(def->schema_path, errp);
    g->def.schema_json = g->json;
    g->def.schema_path = NULL;
    if (!g->json) goto fail;
    if (gwriter_init(&g->own, NULL, NULL, g->opts.schema_id, g->json, errp)) goto fail;
    g->schema = g->own.schema;
    g->iface = avro_generic_class_from_schema(g->schema);
    if (!g->iface || avro_generic_value_new(g->iface, &g->enc_val)) {
        avro_fail(errp, RV_ERR_NOMEM, "cannot make a value");
        goto fail;
    }
    g->enc_ready = true;
    static const char empty[1] = {0};
    g->reader = avro_reader_memory(empty, 0);
    g->writer = avro_writer_memory(empty, 0);
    if (!g->reader || !g->writer) {
        rv_error_set(errp, RV_ERR_NOMEM, true, "avro: out of memory");
        goto fail;
    }
    return g;
fail:
    rv_avro_generic_destroy(g);
    return NULL;
}

void rv_avro_generic_destroy(rv_avro_generic_t *g)
{
    if (!g) return;
    if (g->enc_ready) avro_value_decref(&g->enc_val);
    if (g->iface) avro_value_iface_decref(g->iface);
    if (g->reader) avro_reader_free(g->reader);
    if (g->writer) avro_writer_free(g->writer);
    gwriter_fini(&g->own);
    if (g->raw) {
        gwriter_fini(g->raw);
        free(g->raw);
    }
    for (size_t i = 0; i < g->nwriters; i++)
        gwriter_fini(&g->writers[i]);
    free(g->writers);
    free(g->json);
    free(g);
}

avro_schema_t rv_avro_generic_schema(const rv_avro_generic_t *g)
{
    return g->schema;
}

const char *rv_avro_generic_schema_json(const rv_avro_generic_t *g)
{
    return g->json;
}

rv_free_fn rv_avro_generic_free_fn(const rv_avro_generic_t *g)
{
    return g->def.free_obj;
}

rv_err_t rv_avro_generic_set_writer_schema(rv_avro_generic_t *g, const char *json,
                                           rv_error_t **errp)
{
    gwriter_t *w = malloc(sizeof(*w));
    if (!w) return rv_error_set(errp, RV_ERR_NOMEM, true, "avro: out of memory");
    rv_err_t e = gwriter_init(w, &g->own, g->schema, 0, json, errp);
    if (e) {
        free(w);
        return e;
    }
    if (g->raw) {
        gwriter_fini(g->raw);
        free(g->raw);
    }
    g->raw = w;
    return RV_OK;
}

rv_err_t rv_avro_generic_add_writer_schema(rv_avro_generic_t *g, int32_t id, const char *json,
                                           rv_error_t **errp)
{
    if (id == g->opts.schema_id)
        return rv_error_set(errp, RV_ERR_INVALID, false, "avro: schema id %d is the codec's own",
                            (int)id);
    for (size_t i = 0; i < g->nwriters; i++)
        if (g->writers[i].id == id)
            return rv_error_set(errp, RV_ERR_INVALID, false,
                                "avro: schema id %d is already registered", (int)id);
    gwriter_t *nw = realloc(g->writers, (g->nwriters + 1) * sizeof(*nw));
    if (!nw) return rv_error_set(errp, RV_ERR_NOMEM, true, "avro: out of memory");
    g->writers = nw;
    rv_err_t e = gwriter_init(&g->writers[g->nwriters], &g->own, g->schema, id, json, errp);
    if (e) return e;
    g->nwriters++;
    return RV_OK;
}

static const char *root_name(const gwriter_t *w)
{
    avro_type_t t = avro_typeof(w->schema);
    if (t == AVRO_RECORD || t == AVRO_ENUM || t == AVRO_FIXED) return avro_schema_name(w->schema);
    return avro_schema_type_name(w->schema);
}

rv_err_t rv_avro_generic_decode(rv_avro_generic_t *g, const void *data, size_t len, void **out,
                                rv_error_t **errp)
{
    *out = NULL;
    if (!g->def.read)
        return rv_error_set(errp, RV_ERR_STATE, false,
                            "avro: this generic codec has no read function");
    if (!data && len) return rv_error_set(errp, RV_ERR_INVALID, false, "avro: decode: NULL data");
    gwriter_t *w = NULL;
    size_t body = 0;
    if (g->opts.framing == RV_AVRO_FRAMING_RAW) {
        w = g->raw ? g->raw : &g->own;
    } else {
        int32_t id;
        rv_err_t e = rv_avro_unframe_confluent(data, len, &id, &body, errp);
        if (e) return e;
        if (id == g->opts.schema_id) w = &g->own;
        for (size_t i = 0; !w && i < g->nwriters; i++)
            if (g->writers[i].id == id) w = &g->writers[i];
        if (!w)
            return rv_error_set(errp, RV_ERR_DECODE, false,
                                "%s: unknown writer schema id %d in the Confluent header at byte 1",
                                root_name(&g->own), (int)id);
    }
    const uint8_t *p = (const uint8_t *)data + body;
    size_t n = len - body;
    rv_err_t e = rv__avro_validate(w->tree->root, p, n, g->opts.max_depth, root_name(w), errp);
    if (e) return e;
    avro_value_reset(&w->wval);
    avro_reader_memory_set_source(g->reader, (const char *)p, (int64_t)n);
    if (avro_value_read(g->reader, &w->wval))
        return avro_fail(errp, RV_ERR_DECODE, "avro-c could not read the value");
    rv_error_t *uerr = NULL;
    e = g->def.read(g, w->riface ? &w->rval : &w->wval, out, &uerr, g->def.opaque);
    if (e != RV_OK) {
        *out = NULL;
        if (!uerr)
            uerr = rv_error_new(e, false, "%s: the read function failed (%s)", root_name(w),
                                rv_err_str(e));
        return rv_error_give(errp, uerr);
    }
    rv_error_destroy(uerr);
    return RV_OK;
}

rv_err_t rv_avro_generic_encode(rv_avro_generic_t *g, const void *obj, rv_avro_buf_t *out,
                                rv_error_t **errp)
{
    if (!g->def.write)
        return rv_error_set(errp, RV_ERR_STATE, false,
                            "avro: this generic codec has no write function");
    size_t start = out->len;
    avro_value_reset(&g->enc_val);
    rv_error_t *uerr = NULL;
    rv_err_t e = g->def.write(g, obj, &g->enc_val, &uerr, g->def.opaque);
    if (e != RV_OK) {
        if (!uerr)
            uerr = rv_error_new(e, false, "%s: the write function failed (%s)", root_name(&g->own),
                                rv_err_str(e));
        return rv_error_give(errp, uerr);
    }
    rv_error_destroy(uerr);
    size_t size = 0;
    if (avro_value_sizeof(&g->enc_val, &size))
        return avro_fail(errp, RV_ERR_ENCODE, "cannot size the value");
    if (g->opts.framing == RV_AVRO_FRAMING_CONFLUENT &&
        rv_avro_frame_confluent(out, g->opts.schema_id))
        return rv_error_set(errp, RV_ERR_NOMEM, true, "avro: out of memory");
    if (rv_avro_buf_reserve(out, size + 1)) {
        out->len = start;
        return rv_error_set(errp, RV_ERR_NOMEM, true, "avro: out of memory");
    }
    avro_writer_memory_set_dest(g->writer, (const char *)out->data + out->len, (int64_t)size);
    if (avro_value_write(g->writer, &g->enc_val)) {
        out->len = start;
        return avro_fail(errp, RV_ERR_ENCODE, "avro-c could not write the value");
    }
    out->len += size;
    return RV_OK;
}
