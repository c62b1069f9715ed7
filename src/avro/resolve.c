/* Schema resolution for the declarative codec: a plan that reads what a
 * writer schema wrote into the reader's struct, by Avro's rules. The codec's
 * own schema gets an identity plan built the same way, so the one
 * interpreter in decode.c serves both. Also the reader's defaults, parsed
 * from their JSON text.
 *
 * Names of records, enums and fixed types are not compared (a writer in
 * another language often has another namespace, and raw binary never carries
 * names); fields match by name, enum symbols by name. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "avro/internal.h"

static const char *wtype(const rv__anode_t *w)
{
    return rv__avro_type_name(w->type);
}

static const char *rkind(const rv_avro_type_t *t)
{
    static const char *names[] = {"?",      "boolean",          "int",   "long", "float",
                                  "double", "string",           "bytes", "enum", "fixed",
                                  "uuid",   "timestamp-millis", "array", "map",  "record"};
    return (unsigned)t->kind < sizeof(names) / sizeof(names[0]) ? names[t->kind] : "?";
}

/* ------------------------------------------------------------- defaults */

static const char *skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    return p;
}

static int hex4(const char *p, uint32_t *out)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        char ch = p[i];
        v <<= 4;
        if (ch >= '0' && ch <= '9')
            v |= (uint32_t)(ch - '0');
        else if (ch >= 'a' && ch <= 'f')
            v |= (uint32_t)(ch - 'a' + 10);
        else if (ch >= 'A' && ch <= 'F')
            v |= (uint32_t)(ch - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

/* A JSON string. As text (bytes = false) it becomes UTF-8; as Avro bytes or
 * fixed (bytes = true) each code point must be 0..255 and is one byte, which
 * is how Avro writes bytes defaults. */
static int json_string(const char *p, uint8_t **out, size_t *out_len, bool bytes, const char **rest)
{
    p = skip_ws(p);
    if (*p != '"') return -1;
    p++;
    size_t cap = strlen(p) * 4 + 1, n = 0;
    uint8_t *s = malloc(cap);
    if (!s) return -1;
    while (*p && *p != '"') {
        uint32_t cp;
        if (*p == '\\') {
            p++;
            switch (*p) {
            case '"':
                cp = '"';
                break;
            case '\\':
                cp = '\\';
                break;
            case '/':
                cp = '/';
                break;
            case 'b':
                cp = '\b';
                break;
            case 'f':
                cp = '\f';
                break;
            case 'n':
                cp = '\n';
                break;
            case 'r':
                cp = '\r';
                break;
            case 't':
                cp = '\t';
                break;
            case 'u':
                if (hex4(p + 1, &cp)) goto bad;
                p += 4;
                if (cp >= 0xD800 && cp <= 0xDBFF && p[1] == '\\' && p[2] == 'u') {
                    uint32_t lo;
                    if (hex4(p + 3, &lo) || lo < 0xDC00 || lo > 0xDFFF) goto bad;
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    p += 6;
                } else if (cp >= 0xD800 && cp <= 0xDFFF) {
                    goto bad;
                }
                break;
            default:
                goto bad;
            }
            p++;
            if (bytes) {
                if (cp > 255) goto bad;
                s[n++] = (uint8_t)cp;
            } else if (cp < 0x80) {
                s[n++] = (uint8_t)cp;
            } else if (cp < 0x800) {
                s[n++] = (uint8_t)(0xC0 | (cp >> 6));
                s[n++] = (uint8_t)(0x80 | (cp & 0x3F));
            } else if (cp < 0x10000) {
                s[n++] = (uint8_t)(0xE0 | (cp >> 12));
                s[n++] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
                s[n++] = (uint8_t)(0x80 | (cp & 0x3F));
            } else {
                s[n++] = (uint8_t)(0xF0 | (cp >> 18));
                s[n++] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
                s[n++] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
                s[n++] = (uint8_t)(0x80 | (cp & 0x3F));
            }
            continue;
        }
        if ((unsigned char)*p < 0x20) goto bad;
        if (bytes && (unsigned char)*p >= 0x80) {
            /* Decode one UTF-8 sequence to its code point, which must be <= 255. */
            unsigned char b0 = (unsigned char)p[0], b1 = (unsigned char)p[1];
            if (b0 < 0xC2 || b0 > 0xC3 || (b1 & 0xC0) != 0x80) goto bad;
            s[n++] = (uint8_t)(((b0 & 0x1F) << 6) | (b1 & 0x3F));
            p += 2;
            continue;
        }
        s[n++] = (uint8_t)*p++;
    }
    if (*p != '"') goto bad;
    s[n] = 0;
    if (!bytes && !rv__utf8_valid(s, n, NULL)) goto bad;
    *out = s;
    *out_len = n;
    *rest = p + 1;
    return 0;
bad:
    free(s);
    return -1;
}

static bool json_word(const char *p, const char *w, const char **rest)
{
    p = skip_ws(p);
    size_t n = strlen(w);
    if (strncmp(p, w, n) != 0) return false;
    *rest = p + n;
    return true;
}

static rv_err_t parse_default(const rv_avro_type_t *rt, const rv_avro_field_t *f, rv__dflt_t *out,
                              const char *where, rv_error_t **errp)
{
    memset(out, 0, sizeof(*out));
    out->rf = f;
    const char *p = f->dflt, *rest = NULL;
    if (!p) {
        if (f->optional) {
            out->is_null = true;
            return RV_OK;
        }
        return rv_error_set(errp, RV_ERR_INVALID, false, "%s.%s: no default", where, f->name);
    }
    if (json_word(p, "null", &rest)) {
        if (!f->optional)
            return rv_error_set(errp, RV_ERR_INVALID, false,
                                "%s.%s: default null for a field that is not optional", where,
                                f->name);
        out->is_null = true;
        goto end;
    }
    if (f->optional)
        return rv_error_set(errp, RV_ERR_INVALID, false,
                            "%s.%s: an optional field's default must be null (the union's first "
                            "branch)",
                            where, f->name);
    const rv_avro_type_t *t = f->type;
    (void)rt;
    switch (t->kind) {
    case RV_AVRO_BOOLEAN:
        if (json_word(p, "true", &rest))
            out->b = true;
        else if (json_word(p, "false", &rest))
            out->b = false;
        else
            goto bad;
        break;
    case RV_AVRO_INT:
    case RV_AVRO_LONG:
    case RV_AVRO_TIMESTAMP_MILLIS: {
        char *e;
        errno = 0;
        long long v = strtoll(skip_ws(p), &e, 10);
        if (e == skip_ws(p) || errno) goto bad;
        if (t->kind == RV_AVRO_INT && (v < INT32_MIN || v > INT32_MAX)) goto bad;
        out->i = v;
        rest = e;
        break;
    }
    case RV_AVRO_FLOAT:
    case RV_AVRO_DOUBLE: {
        char *e;
        double v = strtod(skip_ws(p), &e);
        if (e == skip_ws(p)) goto bad;
        out->d = v;
        rest = e;
        break;
    }
    case RV_AVRO_STRING:
    case RV_AVRO_UUID:
    case RV_AVRO_BYTES:
    case RV_AVRO_FIXED:
    case RV_AVRO_ENUM: {
        bool bytes = t->kind == RV_AVRO_BYTES || t->kind == RV_AVRO_FIXED;
        if (json_string(p, &out->s, &out->s_len, bytes, &rest)) goto bad;
        if (t->kind == RV_AVRO_STRING && memchr(out->s, 0, out->s_len)) goto bad_free;
        if (t->kind == RV_AVRO_UUID && !rv__uuid_valid((const char *)out->s, out->s_len))
            goto bad_free;
        if (t->kind == RV_AVRO_FIXED && out->s_len != t->fixed_size) goto bad_free;
        if (t->kind == RV_AVRO_ENUM) {
            size_t k;
            for (k = 0; k < t->nsymbols; k++)
                if (strcmp(t->symbols[k], (const char *)out->s) == 0) break;
            free(out->s);
            out->s = NULL;
            if (k == t->nsymbols) goto bad;
            out->i = (int64_t)k;
        }
        break;
    }
    case RV_AVRO_ARRAY:
        if (!json_word(p, "[", &rest) || !json_word(rest, "]", &rest)) goto unsupported;
        break;
    case RV_AVRO_MAP:
        if (!json_word(p, "{", &rest) || !json_word(rest, "}", &rest)) goto unsupported;
        break;
    case RV_AVRO_RECORD:
        goto unsupported;
    }
end:
    if (*skip_ws(rest) != 0) goto bad_free;
    return RV_OK;
bad_free:
    free(out->s);
    out->s = NULL;
bad:
    return rv_error_set(errp, RV_ERR_INVALID, false, "%s.%s: default %s is not a valid %s", where,
                        f->name, f->dflt, rkind(f->type));
unsupported:
    return rv_error_set(errp, RV_ERR_UNSUPPORTED, false,
                        "%s.%s: only empty defaults ([] or {}) are supported for a %s, and none "
                        "for a record",
                        where, f->name, rkind(f->type));
}

static rv_err_t check_defaults(const rv_avro_type_t *t, int depth, rv_error_t **errp)
{
    if (depth > RV__AVRO_DEFAULT_DEPTH) return RV_OK;
    if (t->kind == RV_AVRO_ARRAY || t->kind == RV_AVRO_MAP)
        return check_defaults(t->items, depth + 1, errp);
    if (t->kind != RV_AVRO_RECORD) return RV_OK;
    for (size_t i = 0; i < t->nfields; i++) {
        const rv_avro_field_t *f = &t->fields[i];
        if (f->dflt) {
            rv__dflt_t d;
            rv_err_t e = parse_default(t, f, &d, t->name, errp);
            free(d.s);
            if (e) return e;
        }
        rv_err_t e = check_defaults(f->type, depth + 1, errp);
        if (e) return e;
    }
    return RV_OK;
}

rv_err_t rv__avro_check_defaults(const rv_avro_type_t *t, rv_error_t **errp)
{
    return check_defaults(t, 0, errp);
}

/* ---------------------------------------------------------------- plans */

static rv__plan_t *plan_value(const rv__anode_t *w, const rv_avro_type_t *r, const char *where,
                              int depth, rv_error_t **errp);

static void vplan_fini(rv__vplan_t *vp)
{
    for (int i = 0; i < vp->nbr; i++) {
        rv__plan_free(vp->br[i].plan);
        free(vp->br[i].why);
    }
    free(vp->br);
    rv__plan_free(vp->plan);
}

void rv__plan_free(rv__plan_t *p)
{
    if (!p) return;
    free(p->enum_map);
    vplan_fini(&p->items);
    for (size_t i = 0; i < p->nsteps; i++)
        vplan_fini(&p->steps[i].vp);
    free(p->steps);
    for (size_t i = 0; i < p->ndflts; i++)
        free(p->dflts[i].s);
    free(p->dflts);
    free(p);
}

/* The plan of a value as the writer wrote it, maybe a union; r_nullable says
 * whether the reader accepts null here. */
static rv_err_t vplan_init(rv__vplan_t *vp, const rv__anode_t *w, const rv_avro_type_t *r,
                           bool r_nullable, const char *where, int depth, rv_error_t **errp)
{
    memset(vp, 0, sizeof(*vp));
    if (w->type == AVRO_NULL) {
        if (!r_nullable)
            return rv_error_set(errp, RV_ERR_INVALID, false,
                                "%s: the writer's null cannot be read as a %s that is not "
                                "optional",
                                where, rkind(r));
        vp->wnull = true;
        return RV_OK;
    }
    if (w->type != AVRO_UNION) {
        vp->plan = plan_value(w, r, where, depth, errp);
        return vp->plan ? RV_OK : RV_ERR_INVALID;
    }
    vp->wunion = true;
    vp->nbr = w->n;
    vp->br = calloc((size_t)(w->n ? w->n : 1), sizeof(*vp->br));
    if (!vp->br) return rv_error_set(errp, RV_ERR_NOMEM, true, "avro: out of memory");
    int readable = 0;
    for (int i = 0; i < w->n; i++) {
        const rv__anode_t *b = w->kids[i];
        if (b->type == AVRO_NULL) {
            vp->br[i].is_null = true;
            readable += r_nullable;
            continue;
        }
        rv_error_t *why = NULL;
        vp->br[i].plan = plan_value(b, r, where, depth, &why);
        if (vp->br[i].plan) {
            readable++;
        } else {
            if (rv_error_code(why) == RV_ERR_NOMEM) {
                rv_error_give(errp, why);
                return RV_ERR_NOMEM;
            }
            vp->br[i].why = strdup(why ? rv_error_msg(why) : "cannot be read");
            rv_error_destroy(why);
        }
    }
    if (!readable)
        return rv_error_set(errp, RV_ERR_INVALID, false,
                            "%s: no branch of the writer's union can be read as the reader's %s",
                            where, rkind(r));
    return RV_OK;
}

static rv__plan_t *plan_record(const rv__anode_t *w, const rv_avro_type_t *r, const char *where,
                               int depth, rv_error_t **errp);

static rv__plan_t *new_plan(rv__op_t op, const rv__anode_t *w, const rv_avro_type_t *r,
                            rv_error_t **errp)
{
    rv__plan_t *p = calloc(1, sizeof(*p));
    if (!p) {
        rv_error_set(errp, RV_ERR_NOMEM, true, "avro: out of memory");
        return NULL;
    }
    p->op = op;
    p->wn = w;
    p->rt = r;
    return p;
}

static rv__plan_t *plan_value(const rv__anode_t *w, const rv_avro_type_t *r, const char *where,
                              int depth, rv_error_t **errp)
{
    if (depth > RV__AVRO_MAX_DEPTH) {
        rv_error_set(errp, RV_ERR_INVALID, false, "%s: schemas nested too deeply", where);
        return NULL;
    }
    avro_type_t wt = w->type;
    int op = -1;
    switch (r->kind) {
    case RV_AVRO_BOOLEAN:
        op = wt == AVRO_BOOLEAN ? RV__OP_BOOL : -1;
        break;
    case RV_AVRO_INT:
        op = wt == AVRO_INT32 ? RV__OP_INT : -1;
        break;
    case RV_AVRO_LONG:
    case RV_AVRO_TIMESTAMP_MILLIS:
        op = wt == AVRO_INT64 ? RV__OP_LONG : wt == AVRO_INT32 ? RV__OP_INT_TO_LONG : -1;
        break;
    case RV_AVRO_FLOAT:
        op = wt == AVRO_FLOAT   ? RV__OP_FLOAT
             : wt == AVRO_INT32 ? RV__OP_INT_TO_FLOAT
             : wt == AVRO_INT64 ? RV__OP_LONG_TO_FLOAT
                                : -1;
        break;
    case RV_AVRO_DOUBLE:
        op = wt == AVRO_DOUBLE  ? RV__OP_DOUBLE
             : wt == AVRO_FLOAT ? RV__OP_FLOAT_TO_DOUBLE
             : wt == AVRO_INT32 ? RV__OP_INT_TO_DOUBLE
             : wt == AVRO_INT64 ? RV__OP_LONG_TO_DOUBLE
                                : -1;
        break;
    case RV_AVRO_STRING:
        op = (wt == AVRO_STRING || wt == AVRO_BYTES) ? RV__OP_STRING : -1;
        break;
    case RV_AVRO_BYTES:
        op = (wt == AVRO_STRING || wt == AVRO_BYTES) ? RV__OP_BYTES : -1;
        break;
    case RV_AVRO_UUID:
        op = (wt == AVRO_STRING || wt == AVRO_BYTES) ? RV__OP_UUID : -1;
        break;
    case RV_AVRO_FIXED:
        op = (wt == AVRO_FIXED && (size_t)w->fixed_size == r->fixed_size) ? RV__OP_FIXED : -1;
        break;
    case RV_AVRO_ENUM: {
        if (wt != AVRO_ENUM) break;
        bool same = (size_t)w->n == r->nsymbols;
        for (int i = 0; same && i < w->n; i++)
            same = strcmp(w->names[i], r->symbols[i]) == 0;
        rv__plan_t *p = new_plan(same ? RV__OP_ENUM : RV__OP_ENUM_MAP, w, r, errp);
        if (!p || same) return p;
        p->nwsyms = w->n;
        p->enum_map = malloc(sizeof(int32_t) * (size_t)(w->n ? w->n : 1));
        if (!p->enum_map) {
            rv__plan_free(p);
            rv_error_set(errp, RV_ERR_NOMEM, true, "avro: out of memory");
            return NULL;
        }
        for (int i = 0; i < w->n; i++) {
            p->enum_map[i] = -1;
            for (size_t k = 0; k < r->nsymbols; k++)
                if (strcmp(w->names[i], r->symbols[k]) == 0) p->enum_map[i] = (int32_t)k;
        }
        return p;
    }
    case RV_AVRO_ARRAY:
    case RV_AVRO_MAP: {
        if (wt != (r->kind == RV_AVRO_ARRAY ? AVRO_ARRAY : AVRO_MAP)) break;
        rv__plan_t *p = new_plan(r->kind == RV_AVRO_ARRAY ? RV__OP_ARRAY : RV__OP_MAP, w, r, errp);
        if (!p) return NULL;
        p->item_csize = rv__avro_csize(r->items);
        p->item_wmin = w->items->min_size;
        if (vplan_init(&p->items, w->items, r->items, false, where, depth + 1, errp)) {
            rv__plan_free(p);
            return NULL;
        }
        return p;
    }
    case RV_AVRO_RECORD:
        if (wt != AVRO_RECORD) break;
        return plan_record(w, r, where, depth + 1, errp);
    }
    if (op < 0) {
        rv_error_set(errp, RV_ERR_INVALID, false, "%s: the writer's %s cannot be read as a %s",
                     where, wtype(w), rkind(r));
        return NULL;
    }
    return new_plan((rv__op_t)op, w, r, errp);
}

static rv__plan_t *plan_record(const rv__anode_t *w, const rv_avro_type_t *r, const char *where,
                               int depth, rv_error_t **errp)
{
    rv__plan_t *p = new_plan(RV__OP_RECORD, w, r, errp);
    if (!p) return NULL;
    bool *used = calloc(r->nfields ? r->nfields : 1, sizeof(bool));
    p->steps = calloc((size_t)(w->n ? w->n : 1), sizeof(*p->steps));
    p->dflts = calloc(r->nfields ? r->nfields : 1, sizeof(*p->dflts));
    if (!used || !p->steps || !p->dflts) {
        rv_error_set(errp, RV_ERR_NOMEM, true, "avro: out of memory");
        goto fail;
    }
    for (int i = 0; i < w->n; i++) {
        rv__step_t *st = &p->steps[p->nsteps++];
        st->wnode = w->kids[i];
        st->wname = w->names[i];
        for (size_t k = 0; k < r->nfields; k++) {
            const rv_avro_field_t *f = &r->fields[k];
            if (used[k] || strcmp(f->name, w->names[i]) != 0) continue;
            used[k] = true;
            st->rf = f;
            char here[512];
            snprintf(here, sizeof(here), "%s.%s", where, f->name);
            if (vplan_init(&st->vp, w->kids[i], f->type, f->optional, here, depth, errp)) goto fail;
            break;
        }
    }
    for (size_t k = 0; k < r->nfields; k++) {
        if (used[k]) continue;
        const rv_avro_field_t *f = &r->fields[k];
        if (!f->dflt && !f->optional) {
            rv_error_set(errp, RV_ERR_INVALID, false,
                         "%s.%s: the writer has no such field and the reader gives no default",
                         where, f->name);
            goto fail;
        }
        if (parse_default(r, f, &p->dflts[p->ndflts], where, errp)) goto fail;
        p->ndflts++;
    }
    free(used);
    return p;
fail:
    free(used);
    rv__plan_free(p);
    return NULL;
}

rv__plan_t *rv__plan_new(const rv__anode_t *w, const rv_avro_type_t *r, rv_error_t **errp)
{
    if (w->type != AVRO_RECORD) {
        rv_error_set(errp, RV_ERR_INVALID, false,
                     "%s: the writer's schema is a %s, the reader's a record", r->name, wtype(w));
        return NULL;
    }
    return plan_record(w, r, r->name, 0, errp);
}
