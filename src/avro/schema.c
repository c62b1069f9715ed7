/* Schemas: the ready-made scalar types, checking a record description, the
 * schema JSON derived from it, and the node tree of any avro-c schema. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "avro/internal.h"

const rv_avro_type_t rv_avro_boolean = {.kind = RV_AVRO_BOOLEAN};
const rv_avro_type_t rv_avro_int = {.kind = RV_AVRO_INT};
const rv_avro_type_t rv_avro_long = {.kind = RV_AVRO_LONG};
const rv_avro_type_t rv_avro_float = {.kind = RV_AVRO_FLOAT};
const rv_avro_type_t rv_avro_double = {.kind = RV_AVRO_DOUBLE};
const rv_avro_type_t rv_avro_string = {.kind = RV_AVRO_STRING};
const rv_avro_type_t rv_avro_bytes = {.kind = RV_AVRO_BYTES};
const rv_avro_type_t rv_avro_uuid = {.kind = RV_AVRO_UUID};
const rv_avro_type_t rv_avro_timestamp_millis = {.kind = RV_AVRO_TIMESTAMP_MILLIS};

size_t rv__avro_csize(const rv_avro_type_t *t)
{
    switch (t->kind) {
    case RV_AVRO_BOOLEAN:
        return sizeof(bool);
    case RV_AVRO_INT:
        return sizeof(int32_t);
    case RV_AVRO_LONG:
        return sizeof(int64_t);
    case RV_AVRO_FLOAT:
        return sizeof(float);
    case RV_AVRO_DOUBLE:
        return sizeof(double);
    case RV_AVRO_STRING:
        return sizeof(char *);
    case RV_AVRO_BYTES:
        return sizeof(rv_avro_bytes_t);
    case RV_AVRO_ENUM:
        return sizeof(int);
    case RV_AVRO_FIXED:
        return t->fixed_size;
    case RV_AVRO_UUID:
        return RV_AVRO_UUID_LEN;
    case RV_AVRO_TIMESTAMP_MILLIS:
        return sizeof(int64_t);
    case RV_AVRO_ARRAY:
        return sizeof(rv_avro_array_t);
    case RV_AVRO_MAP:
        return sizeof(rv_avro_map_t);
    case RV_AVRO_RECORD:
        return t->c_size;
    }
    return 0;
}

static const char *kind_name(rv_avro_kind_t k)
{
    switch (k) {
    case RV_AVRO_BOOLEAN:
        return "boolean";
    case RV_AVRO_INT:
        return "int";
    case RV_AVRO_LONG:
        return "long";
    case RV_AVRO_FLOAT:
        return "float";
    case RV_AVRO_DOUBLE:
        return "double";
    case RV_AVRO_STRING:
        return "string";
    case RV_AVRO_BYTES:
        return "bytes";
    case RV_AVRO_ENUM:
        return "enum";
    case RV_AVRO_FIXED:
        return "fixed";
    case RV_AVRO_UUID:
        return "uuid";
    case RV_AVRO_TIMESTAMP_MILLIS:
        return "timestamp-millis";
    case RV_AVRO_ARRAY:
        return "array";
    case RV_AVRO_MAP:
        return "map";
    case RV_AVRO_RECORD:
        return "record";
    }
    return "?";
}

/* Avro names: [A-Za-z_][A-Za-z0-9_]*; a namespace is dot-separated names. */
static bool valid_name(const char *s)
{
    if (!s || !*s) return false;
    if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_')) return false;
    for (s++; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_' ||
              (*s >= '0' && *s <= '9')))
            return false;
    return true;
}

static bool valid_space(const char *s)
{
    if (!s || !*s) return true;
    char buf[256];
    size_t n = strlen(s);
    if (n >= sizeof(buf)) return false;
    memcpy(buf, s, n + 1);
    for (char *save = NULL, *tok = strtok_r(buf, ".", &save); tok; tok = strtok_r(NULL, ".", &save))
        if (!valid_name(tok)) return false;
    return buf[0] != '.' && s[n - 1] != '.' && !strstr(s, "..");
}

static rv_err_t check_type(const rv_avro_type_t *t, const char *where, int depth,
                           rv_error_t **errp);

static rv_err_t check_fields(const rv_avro_type_t *t, const char *where, int depth,
                             rv_error_t **errp)
{
    if (!t->fields && t->nfields)
        return rv_error_set(errp, RV_ERR_INVALID, false, "%s: record %s has no field table", where,
                            t->name);
    for (size_t i = 0; i < t->nfields; i++) {
        const rv_avro_field_t *f = &t->fields[i];
        char here[256];
        snprintf(here, sizeof(here), "%s.%s", t->name, f->name ? f->name : "?");
        if (!valid_name(f->name))
            return rv_error_set(errp, RV_ERR_INVALID, false, "%s: invalid Avro field name", here);
        for (size_t j = 0; j < i; j++)
            if (strcmp(t->fields[j].name, f->name) == 0)
                return rv_error_set(errp, RV_ERR_INVALID, false, "%s: duplicate field name", here);
        if (!f->type) return rv_error_set(errp, RV_ERR_INVALID, false, "%s: no type", here);
        rv_err_t e = check_type(f->type, here, depth + 1, errp);
        if (e) return e;
        size_t want = rv__avro_csize(f->type);
        if (f->size != want)
            return rv_error_set(errp, RV_ERR_INVALID, false,
                                "%s: member is %zu bytes but an Avro %s needs %zu", here, f->size,
                                kind_name(f->type->kind), want);
        if (t->c_size && (f->offset > t->c_size || f->size > t->c_size - f->offset))
            return rv_error_set(errp, RV_ERR_INVALID, false, "%s: member lies outside the struct",
                                here);
        if (f->optional && f->has_offset == RV_AVRO_NO_FLAG && f->type->kind != RV_AVRO_STRING &&
            f->type->kind != RV_AVRO_BYTES)
            return rv_error_set(errp, RV_ERR_INVALID, false,
                                "%s: an optional %s needs a bool presence member", here,
                                kind_name(f->type->kind));
        if (!f->optional && f->has_offset != RV_AVRO_NO_FLAG)
            return rv_error_set(errp, RV_ERR_INVALID, false,
                                "%s: a presence member on a field that is not optional", here);
        if (f->has_offset != RV_AVRO_NO_FLAG && t->c_size && f->has_offset >= t->c_size)
            return rv_error_set(errp, RV_ERR_INVALID, false,
                                "%s: presence member lies outside the struct", here);
    }
    return RV_OK;
}

static rv_err_t check_type(const rv_avro_type_t *t, const char *where, int depth, rv_error_t **errp)
{
    if (depth > RV__AVRO_DEFAULT_DEPTH)
        return rv_error_set(errp, RV_ERR_INVALID, false,
                            "%s: description nested deeper than %d (a cycle?)", where,
                            RV__AVRO_DEFAULT_DEPTH);
    switch (t->kind) {
    case RV_AVRO_BOOLEAN:
    case RV_AVRO_INT:
    case RV_AVRO_LONG:
    case RV_AVRO_FLOAT:
    case RV_AVRO_DOUBLE:
    case RV_AVRO_STRING:
    case RV_AVRO_BYTES:
    case RV_AVRO_UUID:
    case RV_AVRO_TIMESTAMP_MILLIS:
        return RV_OK;
    case RV_AVRO_ENUM:
    case RV_AVRO_FIXED:
    case RV_AVRO_RECORD:
        if (!valid_name(t->name) || !valid_space(t->space))
            return rv_error_set(errp, RV_ERR_INVALID, false, "%s: invalid %s name or namespace",
                                where, kind_name(t->kind));
        if (t->kind == RV_AVRO_ENUM) {
            if (!t->symbols || t->nsymbols == 0 || t->nsymbols > INT32_MAX)
                return rv_error_set(errp, RV_ERR_INVALID, false, "%s: enum %s has no symbols",
                                    where, t->name);
            for (size_t i = 0; i < t->nsymbols; i++) {
                if (!valid_name(t->symbols[i]))
                    return rv_error_set(errp, RV_ERR_INVALID, false,
                                        "%s: enum %s: invalid symbol %zu", where, t->name, i);
                for (size_t j = 0; j < i; j++)
                    if (strcmp(t->symbols[i], t->symbols[j]) == 0)
                        return rv_error_set(errp, RV_ERR_INVALID, false,
                                            "%s: enum %s: duplicate symbol %s", where, t->name,
                                            t->symbols[i]);
            }
            return RV_OK;
        }
        if (t->kind == RV_AVRO_FIXED) return RV_OK;
        if (t->c_size == 0)
            return rv_error_set(errp, RV_ERR_INVALID, false, "%s: record %s has no C size", where,
                                t->name);
        return check_fields(t, where, depth, errp);
    case RV_AVRO_ARRAY:
    case RV_AVRO_MAP:
        if (!t->items)
            return rv_error_set(errp, RV_ERR_INVALID, false, "%s: %s without an item type", where,
                                kind_name(t->kind));
        return check_type(t->items, where, depth + 1, errp);
    }
    return rv_error_set(errp, RV_ERR_INVALID, false, "%s: unknown kind %d", where, (int)t->kind);
}

rv_err_t rv__avro_check_record(const rv_avro_type_t *t, rv_error_t **errp)
{
    if (!t || t->kind != RV_AVRO_RECORD)
        return rv_error_set(errp, RV_ERR_INVALID, false, "avro: the top type must be a record");
    return check_type(t, t->name ? t->name : "?", 0, errp);
}

/* ------------------------------------------------------------ schema JSON */

typedef struct sbuf {
    char *s;
    size_t len, cap;
    bool oom;
    const rv_avro_type_t *named[256]; /* named types already written in full */
    size_t nnamed;
} sbuf_t;

static void put(sbuf_t *b, const char *s, size_t n)
{
    if (b->oom) return;
    if (b->cap - b->len <= n) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap - b->len <= n)
            cap *= 2;
        char *ns = realloc(b->s, cap);
        if (!ns) {
            b->oom = true;
            return;
        }
        b->s = ns;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = 0;
}

static void puts_(sbuf_t *b, const char *s)
{
    put(b, s, strlen(s));
}

static void put_jstr(sbuf_t *b, const char *s)
{
    put(b, "\"", 1);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') {
            char e[2] = {'\\', (char)ch};
            put(b, e, 2);
        } else if (ch < 0x20) {
            char e[8];
            snprintf(e, sizeof(e), "\\u%04x", ch);
            puts_(b, e);
        } else {
            put(b, s, 1);
        }
    }
    put(b, "\"", 1);
}

static void put_fullname(sbuf_t *b, const rv_avro_type_t *t)
{
    put(b, "\"", 1);
    if (t->space && *t->space) {
        puts_(b, t->space);
        put(b, ".", 1);
    }
    puts_(b, t->name);
    put(b, "\"", 1);
}

static void put_type(sbuf_t *b, const rv_avro_type_t *t);

static void put_named_head(sbuf_t *b, const rv_avro_type_t *t, const char *kind)
{
    puts_(b, "{\"type\":\"");
    puts_(b, kind);
    puts_(b, "\",\"name\":");
    put_jstr(b, t->name);
    if (t->space && *t->space) {
        puts_(b, ",\"namespace\":");
        put_jstr(b, t->space);
    }
    if (t->doc) {
        puts_(b, ",\"doc\":");
        put_jstr(b, t->doc);
    }
}

/* A named type is written in full once; later uses refer to it by name, as
 * Avro requires. */
static bool named_seen(sbuf_t *b, const rv_avro_type_t *t)
{
    for (size_t i = 0; i < b->nnamed; i++)
        if (b->named[i] == t) return true;
    if (b->nnamed < sizeof(b->named) / sizeof(b->named[0])) b->named[b->nnamed++] = t;
    return false;
}

static void put_type(sbuf_t *b, const rv_avro_type_t *t)
{
    switch (t->kind) {
    case RV_AVRO_BOOLEAN:
        puts_(b, "\"boolean\"");
        return;
    case RV_AVRO_INT:
        puts_(b, "\"int\"");
        return;
    case RV_AVRO_LONG:
        puts_(b, "\"long\"");
        return;
    case RV_AVRO_FLOAT:
        puts_(b, "\"float\"");
        return;
    case RV_AVRO_DOUBLE:
        puts_(b, "\"double\"");
        return;
    case RV_AVRO_STRING:
        puts_(b, "\"string\"");
        return;
    case RV_AVRO_BYTES:
        puts_(b, "\"bytes\"");
        return;
    case RV_AVRO_UUID:
        puts_(b, "{\"type\":\"string\",\"logicalType\":\"uuid\"}");
        return;
    case RV_AVRO_TIMESTAMP_MILLIS:
        puts_(b, "{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}");
        return;
    case RV_AVRO_ARRAY:
        puts_(b, "{\"type\":\"array\",\"items\":");
        put_type(b, t->items);
        puts_(b, "}");
        return;
    case RV_AVRO_MAP:
        puts_(b, "{\"type\":\"map\",\"values\":");
        put_type(b, t->items);
        puts_(b, "}");
        return;
    case RV_AVRO_ENUM:
        if (named_seen(b, t)) {
            put_fullname(b, t);
            return;
        }
        put_named_head(b, t, "enum");
        puts_(b, ",\"symbols\":[");
        for (size_t i = 0; i < t->nsymbols; i++) {
            if (i) puts_(b, ",");
            put_jstr(b, t->symbols[i]);
        }
        puts_(b, "]}");
        return;
    case RV_AVRO_FIXED: {
        if (named_seen(b, t)) {
            put_fullname(b, t);
            return;
        }
        put_named_head(b, t, "fixed");
        char n[32];
        snprintf(n, sizeof(n), ",\"size\":%zu}", t->fixed_size);
        puts_(b, n);
        return;
    }
    case RV_AVRO_RECORD:
        if (named_seen(b, t)) {
            put_fullname(b, t);
            return;
        }
        put_named_head(b, t, "record");
        puts_(b, ",\"fields\":[");
        for (size_t i = 0; i < t->nfields; i++) {
            const rv_avro_field_t *f = &t->fields[i];
            if (i) puts_(b, ",");
            puts_(b, "{\"name\":");
            put_jstr(b, f->name);
            if (f->doc) {
                puts_(b, ",\"doc\":");
                put_jstr(b, f->doc);
            }
            puts_(b, ",\"type\":");
            if (f->optional) {
                puts_(b, "[\"null\",");
                put_type(b, f->type);
                puts_(b, "]");
            } else {
                put_type(b, f->type);
            }
            if (f->dflt) {
                puts_(b, ",\"default\":");
                puts_(b, f->dflt);
            } else if (f->optional) {
                puts_(b, ",\"default\":null");
            }
            puts_(b, "}");
        }
        puts_(b, "]}");
        return;
    }
}

char *rv_avro_schema_json(const rv_avro_type_t *record, rv_error_t **errp)
{
    if (rv__avro_check_record(record, errp)) return NULL;
    sbuf_t b = {0};
    put_type(&b, record);
    if (b.oom) {
        free(b.s);
        rv_error_set(errp, RV_ERR_NOMEM, true, "avro: out of memory writing the schema");
        return NULL;
    }
    return b.s;
}

/* ------------------------------------------------------------ node trees */

avro_schema_t rv__avro_parse(const char *json, size_t len, rv_error_t **errp)
{
    avro_schema_t s = NULL;
    if (!json) {
        rv_error_set(errp, RV_ERR_INVALID, false, "avro: no schema given");
        return NULL;
    }
    if (avro_schema_from_json_length(json, len, &s) != 0 || !s) {
        rv_error_set(errp, RV_ERR_INVALID, false, "avro: invalid schema: %s", avro_strerror());
        return NULL;
    }
    return s;
}

typedef struct memo {
    avro_schema_t s;
    rv__anode_t *n;
} memo_t;

typedef struct builder {
    rv__atree_t *t;
    memo_t *memo;
    size_t nmemo, capmemo;
    bool oom;
} builder_t;

static rv__anode_t *node_alloc(builder_t *b)
{
    rv__atree_t *t = b->t;
    if (t->nall == t->capall) {
        size_t cap = t->capall ? t->capall * 2 : 16;
        rv__anode_t **na = realloc(t->all, cap * sizeof(*na));
        if (!na) return NULL;
        t->all = na;
        t->capall = cap;
    }
    rv__anode_t *n = calloc(1, sizeof(*n));
    if (n) t->all[t->nall++] = n;
    return n;
}

static rv__anode_t *build(builder_t *b, avro_schema_t s, int depth)
{
    if (depth > RV__AVRO_MAX_DEPTH) return NULL;
    while (avro_typeof(s) == AVRO_LINK)
        s = avro_schema_link_target(s);
    avro_type_t ty = avro_typeof(s);
    bool named = ty == AVRO_RECORD || ty == AVRO_ENUM || ty == AVRO_FIXED;
    if (named)
        for (size_t i = 0; i < b->nmemo; i++)
            if (b->memo[i].s == s) return b->memo[i].n;
    rv__anode_t *n = node_alloc(b);
    if (!n) return NULL;
    n->type = ty;
    if (named) {
        if (b->nmemo == b->capmemo) {
            size_t cap = b->capmemo ? b->capmemo * 2 : 8;
            memo_t *nm = realloc(b->memo, cap * sizeof(*nm));
            if (!nm) return NULL;
            b->memo = nm;
            b->capmemo = cap;
        }
        b->memo[b->nmemo++] = (memo_t){s, n};
        n->name = avro_schema_name(s);
    }
    switch (ty) {
    case AVRO_NULL:
        n->min_size = 0;
        break;
    case AVRO_BOOLEAN:
    case AVRO_INT32:
    case AVRO_INT64:
    case AVRO_STRING:
    case AVRO_BYTES:
        n->min_size = 1;
        break;
    case AVRO_FLOAT:
        n->min_size = 4;
        break;
    case AVRO_DOUBLE:
        n->min_size = 8;
        break;
    case AVRO_ENUM:
        n->min_size = 1;
        n->n = avro_schema_enum_number_of_symbols(s);
        n->names = calloc((size_t)(n->n ? n->n : 1), sizeof(char *));
        if (!n->names) return NULL;
        for (int i = 0; i < n->n; i++)
            n->names[i] = avro_schema_enum_get(s, i);
        break;
    case AVRO_FIXED:
        n->fixed_size = avro_schema_fixed_size(s);
        n->min_size = (size_t)n->fixed_size;
        break;
    case AVRO_ARRAY:
    case AVRO_MAP:
        n->min_size = 1;
        n->items =
            build(b, ty == AVRO_ARRAY ? avro_schema_array_items(s) : avro_schema_map_values(s),
                  depth + 1);
        if (!n->items) return NULL;
        break;
    case AVRO_UNION: {
        n->min_size = 1;
        n->n = (int)avro_schema_union_size(s);
        n->kids = calloc((size_t)(n->n ? n->n : 1), sizeof(*n->kids));
        if (!n->kids) return NULL;
        for (int i = 0; i < n->n; i++) {
            n->kids[i] = build(b, avro_schema_union_branch(s, i), depth + 1);
            if (!n->kids[i]) return NULL;
        }
        break;
    }
    case AVRO_RECORD: {
        int nf = (int)avro_schema_record_size(s);
        n->n = nf;
        n->kids = calloc((size_t)(nf ? nf : 1), sizeof(*n->kids));
        n->names = calloc((size_t)(nf ? nf : 1), sizeof(char *));
        if (!n->kids || !n->names) return NULL;
        size_t min = 0;
        for (int i = 0; i < nf; i++) {
            n->names[i] = avro_schema_record_field_name(s, i);
            n->kids[i] = build(b, avro_schema_record_field_get_by_index(s, i), depth + 1);
            if (!n->kids[i]) return NULL;
            /* A recursive field's node may still be under construction (size 0):
             * that only makes the bound looser, never wrong. */
            min += n->kids[i]->min_size;
        }
        n->min_size = min;
        break;
    }
    default:
        return NULL;
    }
    return n;
}

rv__atree_t *rv__atree_new(avro_schema_t schema, rv_error_t **errp)
{
    rv__atree_t *t = calloc(1, sizeof(*t));
    if (!t) {
        rv_error_set(errp, RV_ERR_NOMEM, true, "avro: out of memory");
        return NULL;
    }
    t->schema = avro_schema_incref(schema);
    builder_t b = {.t = t};
    t->root = build(&b, schema, 0);
    free(b.memo);
    if (!t->root) {
        rv__atree_free(t);
        rv_error_set(errp, RV_ERR_INVALID, false,
                     "avro: cannot build the schema tree (out of memory or nested too deeply)");
        return NULL;
    }
    return t;
}

void rv__atree_free(rv__atree_t *t)
{
    if (!t) return;
    for (size_t i = 0; i < t->nall; i++) {
        free(t->all[i]->kids);
        free(t->all[i]->names);
        free(t->all[i]);
    }
    free(t->all);
    if (t->schema) avro_schema_decref(t->schema);
    free(t);
}
