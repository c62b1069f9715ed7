/* Configuration store and table checks. A configuration is a small ordered list
 * of copied key/value strings; components read it through their own tables. */
#include "rivulet/conf.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct rv_conf_kv {
    char *key;
    char *value;
} rv_conf_kv_t;

struct rv_conf {
    rv_conf_kv_t *kv;
    size_t n, cap;
};

rv_conf_t *rv_conf_new(void)
{
    return calloc(1, sizeof(rv_conf_t));
}

void rv_conf_destroy(rv_conf_t *c)
{
    if (!c) return;
    for (size_t i = 0; i < c->n; i++) {
        free(c->kv[i].key);
        free(c->kv[i].value);
    }
    free(c->kv);
    free(c);
}

rv_conf_t *rv_conf_dup(const rv_conf_t *c)
{
    rv_conf_t *d = rv_conf_new();
    if (!d || !c) return d;
    for (size_t i = 0; i < c->n; i++) {
        if (rv_conf_set(d, c->kv[i].key, c->kv[i].value, NULL) != RV_OK) {
            rv_conf_destroy(d);
            return NULL;
        }
    }
    return d;
}

static rv_conf_kv_t *find(const rv_conf_t *c, const char *key)
{
    for (size_t i = 0; c && i < c->n; i++)
        if (strcmp(c->kv[i].key, key) == 0) return &c->kv[i];
    return NULL;
}

rv_err_t rv_conf_set(rv_conf_t *c, const char *key, const char *value, rv_error_t **errp)
{
    if (!c || !key || !*key || !value)
        return rv_error_set(errp, RV_ERR_INVALID, false,
                            "configuration key and value are required");
    for (const char *p = key; *p; p++)
        if (isspace((unsigned char)*p) || *p == '=')
            return rv_error_set(errp, RV_ERR_CONFIG, false,
                                "configuration key \"%s\" contains a space or '='", key);
    char *v = strdup(value);
    if (!v) return rv_error_set(errp, RV_ERR_NOMEM, true, "out of memory");
    rv_conf_kv_t *kv = find(c, key);
    if (kv) {
        free(kv->value);
        kv->value = v;
        return RV_OK;
    }
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 8;
        rv_conf_kv_t *nkv = realloc(c->kv, cap * sizeof(*nkv));
        if (!nkv) {
            free(v);
            return rv_error_set(errp, RV_ERR_NOMEM, true, "out of memory");
        }
        c->kv = nkv;
        c->cap = cap;
    }
    char *k = strdup(key);
    if (!k) {
        free(v);
        return rv_error_set(errp, RV_ERR_NOMEM, true, "out of memory");
    }
    c->kv[c->n].key = k;
    c->kv[c->n].value = v;
    c->n++;
    return RV_OK;
}

void rv_conf_unset(rv_conf_t *c, const char *key)
{
    rv_conf_kv_t *kv = find(c, key);
    if (!kv) return;
    free(kv->key);
    free(kv->value);
    size_t i = (size_t)(kv - c->kv);
    memmove(&c->kv[i], &c->kv[i + 1], (c->n - i - 1) * sizeof(*kv));
    c->n--;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

rv_err_t rv_conf_set_pair(rv_conf_t *c, const char *pair, rv_error_t **errp)
{
    const char *eq = pair ? strchr(pair, '=') : NULL;
    if (!eq || eq == pair)
        return rv_error_set(errp, RV_ERR_CONFIG, false,
                            "configuration \"%s\" is not of the form key=value", pair ? pair : "");
    char *dup = strdup(pair);
    if (!dup) return rv_error_set(errp, RV_ERR_NOMEM, true, "out of memory");
    dup[eq - pair] = '\0';
    rv_err_t rc = rv_conf_set(c, trim(dup), trim(dup + (eq - pair) + 1), errp);
    free(dup);
    return rc;
}

rv_err_t rv_conf_load_file(rv_conf_t *c, const char *path, rv_error_t **errp)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return rv_error_set(errp, RV_ERR_FROM_ERRNO(errno), false, "cannot open config file %s: %s",
                            path, strerror(errno));
    char line[4096];
    int lineno = 0;
    rv_err_t rc = RV_OK;
    while (fgets(line, sizeof(line), f)) {
        lineno++;
        size_t len = strlen(line);
        if (len == sizeof(line) - 1 && line[len - 1] != '\n') {
            rc = rv_error_set(errp, RV_ERR_CONFIG, false, "%s:%d: line longer than %zu bytes", path,
                              lineno, sizeof(line) - 2);
            break;
        }
        char *hash = strchr(line, '#');
        if (hash) *hash = '\0';
        char *s = trim(line);
        if (!*s) continue;
        char *eq = strchr(s, '=');
        if (!eq || eq == s) {
            rc = rv_error_set(errp, RV_ERR_CONFIG, false, "%s:%d: expected key = value, got \"%s\"",
                              path, lineno, s);
            break;
        }
        *eq = '\0';
        rv_error_t *e = NULL;
        if (rv_conf_set(c, trim(s), trim(eq + 1), &e) != RV_OK) {
            rc = rv_error_set(errp, rv_error_code(e), false, "%s:%d: %s", path, lineno,
                              rv_error_msg(e));
            rv_error_destroy(e);
            break;
        }
    }
    fclose(f);
    return rc;
}

const char *rv_conf_get(const rv_conf_t *c, const char *key)
{
    rv_conf_kv_t *kv = find(c, key);
    return kv ? kv->value : NULL;
}

void rv_conf_foreach(const rv_conf_t *c, bool (*fn)(const char *, const char *, void *),
                     void *opaque)
{
    for (size_t i = 0; c && i < c->n; i++)
        if (!fn(c->kv[i].key, c->kv[i].value, opaque)) return;
}

/* ---- parsing of typed values ---- */

/* Decimal only: with base 0, "010" would silently be 8 and "08" an error. */
static bool parse_int(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end) return false;
    *out = v;
    return true;
}

static bool parse_bool(const char *s, bool *out)
{
    static const char *yes[] = {"true", "yes", "on", "1"}, *no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0) return (*out = true), true;
        if (strcasecmp(s, no[i]) == 0) return (*out = false), true;
    }
    return false;
}

static bool parse_double(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v)) return false;
    *out = v;
    return true;
}

static bool parse_ms(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s) return false;
    int64_t mul = 1;
    if (*end == '\0' || strcmp(end, "ms") == 0)
        mul = 1;
    else if (strcmp(end, "s") == 0)
        mul = 1000;
    else if (strcmp(end, "m") == 0 || strcmp(end, "min") == 0)
        mul = 60000;
    else if (strcmp(end, "h") == 0)
        mul = 3600000;
    else if (strcmp(end, "d") == 0)
        mul = 86400000;
    else
        return false;
    /* "9999999999999d" would overflow: an unrepresentable duration is not a
     * duration (and a wrapped one could land inside the key's range). */
    if (v > INT64_MAX / mul || v < INT64_MIN / mul) return false;
    *out = (int64_t)v * mul;
    return true;
}

static bool enum_has(const char *choices, const char *v)
{
    size_t n = strlen(v);
    const char *p = choices;
    while (p && *p) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && strncmp(p, v, n) == 0) return true;
        p = bar ? bar + 1 : NULL;
    }
    return false;
}

static const char *type_name(rv_conf_type_t t)
{
    switch (t) {
    case RV_CONF_STRING:
        return "string";
    case RV_CONF_INT:
        return "integer";
    case RV_CONF_BOOL:
        return "boolean";
    case RV_CONF_DOUBLE:
        return "number";
    case RV_CONF_ENUM:
        return "enum";
    case RV_CONF_MS:
        return "duration";
    }
    return "?";
}

static rv_err_t check_value(const rv_conf_def_t *d, const char *v, rv_error_t **errp)
{
    int64_t i;
    double x;
    bool b;
    bool ranged = d->min <= d->max;
    switch (d->type) {
    case RV_CONF_STRING:
        return RV_OK;
    case RV_CONF_BOOL:
        if (!parse_bool(v, &b))
            return rv_error_set(errp, RV_ERR_CONFIG, false,
                                "%s: \"%s\" is not a boolean (true/false)", d->name, v);
        return RV_OK;
    case RV_CONF_ENUM:
        if (!enum_has(d->choices, v))
            return rv_error_set(errp, RV_ERR_CONFIG, false, "%s: \"%s\" is not one of %s", d->name,
                                v, d->choices);
        return RV_OK;
    case RV_CONF_INT:
    case RV_CONF_MS:
        if (!(d->type == RV_CONF_INT ? parse_int(v, &i) : parse_ms(v, &i)))
            return rv_error_set(errp, RV_ERR_CONFIG, false, "%s: \"%s\" is not %s", d->name, v,
                                d->type == RV_CONF_INT ? "an integer"
                                                       : "a duration (e.g. 500ms, 5s, 1m, 2h, 1d)");
        if (ranged && ((double)i < d->min || (double)i > d->max))
            return rv_error_set(errp, RV_ERR_CONFIG, false, "%s: %s is out of range [%.0f, %.0f]",
                                d->name, v, d->min, d->max);
        return RV_OK;
    case RV_CONF_DOUBLE:
        if (!parse_double(v, &x))
            return rv_error_set(errp, RV_ERR_CONFIG, false, "%s: \"%s\" is not a number", d->name,
                                v);
        if (ranged && (x < d->min || x > d->max))
            return rv_error_set(errp, RV_ERR_CONFIG, false, "%s: %s is out of range [%g, %g]",
                                d->name, v, d->min, d->max);
        return RV_OK;
    }
    return RV_OK;
}

static const rv_conf_def_t *table_find(const rv_conf_table_t *t, const char *key)
{
    for (size_t i = 0; i < t->ndefs; i++)
        if (strcmp(t->defs[i].name, key) == 0) return &t->defs[i];
    return NULL;
}

/* The first dotted word of a key ("kafka" for "kafka.bootstrap.servers"). */
static size_t first_word_len(const char *key)
{
    const char *dot = strchr(key, '.');
    return dot ? (size_t)(dot - key) : strlen(key);
}

static bool table_owns_word(const rv_conf_table_t *t, const char *key, size_t wlen)
{
    for (size_t i = 0; i < t->ndefs; i++)
        if (strncmp(t->defs[i].name, key, wlen) == 0 &&
            (t->defs[i].name[wlen] == '.' || t->defs[i].name[wlen] == '\0'))
            return true;
    if (t->passthrough && strncmp(t->passthrough, key, wlen) == 0 &&
        (t->passthrough[wlen] == '.' || t->passthrough[wlen] == '\0'))
        return true;
    return false;
}

rv_err_t rv_conf_check(const rv_conf_t *c, const rv_conf_table_t *const *tables, size_t ntables,
                       bool allow_foreign, rv_error_t **errp)
{
    for (size_t k = 0; c && k < c->n; k++) {
        const char *key = c->kv[k].key, *val = c->kv[k].value;
        const rv_conf_def_t *d = NULL;
        bool passes = false, word_known = false;
        size_t wlen = first_word_len(key);
        for (size_t t = 0; t < ntables && !d; t++) {
            d = table_find(tables[t], key);
            const char *pp = tables[t]->passthrough;
            if (!d && pp && strncmp(key, pp, strlen(pp)) == 0 && key[strlen(pp)] != '\0')
                passes = true;
            if (table_owns_word(tables[t], key, wlen)) word_known = true;
        }
        if (d) {
            rv_err_t rc = check_value(d, val, errp);
            if (rc != RV_OK) return rc;
            continue;
        }
        if (passes || (allow_foreign && !word_known)) continue;
        return rv_error_set(errp, RV_ERR_CONFIG, false, "unknown configuration key \"%s\"", key);
    }
    return RV_OK;
}

static const rv_conf_def_t *must_find(const rv_conf_table_t *t, const char *key)
{
    const rv_conf_def_t *d = table_find(t, key);
    if (!d) {
        fprintf(stderr, "rivulet: internal error: key %s not in table %s\n", key, t->component);
        abort();
    }
    return d;
}

static const char *value_or_default(const rv_conf_t *c, const rv_conf_def_t *d)
{
    const char *v = rv_conf_get(c, d->name);
    return v ? v : d->dflt;
}

int64_t rv_conf_int(const rv_conf_t *c, const rv_conf_table_t *t, const char *key)
{
    const rv_conf_def_t *d = must_find(t, key);
    int64_t v = 0;
    if (!parse_int(value_or_default(c, d), &v)) parse_int(d->dflt ? d->dflt : "0", &v);
    return v;
}

bool rv_conf_bool(const rv_conf_t *c, const rv_conf_table_t *t, const char *key)
{
    const rv_conf_def_t *d = must_find(t, key);
    bool v = false;
    const char *s = value_or_default(c, d);
    if (!s || !parse_bool(s, &v)) parse_bool(d->dflt ? d->dflt : "false", &v);
    return v;
}

double rv_conf_double(const rv_conf_t *c, const rv_conf_table_t *t, const char *key)
{
    const rv_conf_def_t *d = must_find(t, key);
    double v = 0;
    const char *s = value_or_default(c, d);
    if (!s || !parse_double(s, &v)) parse_double(d->dflt ? d->dflt : "0", &v);
    return v;
}

int64_t rv_conf_ms(const rv_conf_t *c, const rv_conf_table_t *t, const char *key)
{
    const rv_conf_def_t *d = must_find(t, key);
    int64_t v = 0;
    const char *s = value_or_default(c, d);
    if (!s || !parse_ms(s, &v)) parse_ms(d->dflt ? d->dflt : "0", &v);
    return v;
}

const char *rv_conf_str(const rv_conf_t *c, const rv_conf_table_t *t, const char *key)
{
    return value_or_default(c, must_find(t, key));
}

rv_err_t rv_conf_passthrough(const rv_conf_t *c, const rv_conf_table_t *t,
                             rv_err_t (*fn)(const char *, const char *, rv_error_t **, void *),
                             void *opaque, rv_error_t **errp)
{
    if (!t->passthrough) return RV_OK;
    size_t plen = strlen(t->passthrough);
    for (size_t k = 0; c && k < c->n; k++) {
        const char *key = c->kv[k].key;
        if (strncmp(key, t->passthrough, plen) != 0 || key[plen] == '\0' || table_find(t, key))
            continue;
        rv_err_t rc = fn(key + plen, c->kv[k].value, errp, opaque);
        if (rc != RV_OK) return rc;
    }
    return RV_OK;
}

static void range_text(const rv_conf_def_t *d, char *buf, size_t n)
{
    buf[0] = '\0';
    if (d->type == RV_CONF_ENUM)
        snprintf(buf, n, "%s", d->choices);
    else if (d->min <= d->max && d->type == RV_CONF_DOUBLE)
        snprintf(buf, n, "%g .. %g", d->min, d->max);
    else if (d->min <= d->max && (d->type == RV_CONF_INT || d->type == RV_CONF_MS))
        snprintf(buf, n, "%.0f .. %.0f%s", d->min, d->max, d->type == RV_CONF_MS ? " ms" : "");
}

void rv_conf_print_help(FILE *out, const rv_conf_table_t *t)
{
    fprintf(out, "%s:\n", t->title);
    for (size_t i = 0; i < t->ndefs; i++) {
        const rv_conf_def_t *d = &t->defs[i];
        char range[128];
        range_text(d, range, sizeof(range));
        fprintf(out, "  %-34s %s\n", d->name, d->desc);
        fprintf(out, "  %-34s (%s, default %s%s%s)\n", "", type_name(d->type),
                d->dflt ? d->dflt : "unset", range[0] ? ", " : "", range);
    }
    if (t->passthrough)
        fprintf(out, "  %s*%*s%s\n", t->passthrough, (int)(33 - strlen(t->passthrough)), "",
                t->passthrough_doc ? t->passthrough_doc : "passed through");
}

void rv_conf_print_markdown(FILE *out, const rv_conf_table_t *t)
{
    fprintf(out, "## %s\n\n", t->title);
    fprintf(out, "| key | type | default | range | description |\n|---|---|---|---|---|\n");
    for (size_t i = 0; i < t->ndefs; i++) {
        const rv_conf_def_t *d = &t->defs[i];
        char range[128];
        range_text(d, range, sizeof(range));
        fprintf(out, "| `%s` | %s | %s%s%s | %s | %s |\n", d->name, type_name(d->type),
                d->dflt ? "`" : "", d->dflt ? d->dflt : "unset", d->dflt ? "`" : "", range,
                d->desc);
    }
    if (t->passthrough)
        fprintf(out, "\nKeys starting with `%s` that are not listed above: %s\n", t->passthrough,
                t->passthrough_doc ? t->passthrough_doc : "passed through.");
    fprintf(out, "\n");
}
