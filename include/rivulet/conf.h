/* rivulet — configuration: string key/value pairs checked against tables.
 *
 * A component (the engine, the Kafka stages, the CQL client, the cart program)
 * describes its settings once, in an rv_conf_table_t: name, type, default, range
 * and a one-line description. That one table checks a user's rv_conf_t (unknown
 * keys and bad values are rejected with a message naming the key), supplies
 * defaults to the typed getters, prints `--help`, and generates CONFIGURATION.md.
 *
 * Keys are dotted and carry the component's prefix, e.g. "graph.edge.capacity".
 * A table may declare a pass-through prefix: keys under it that are not in the
 * table are handed verbatim (prefix stripped) to an underlying library, which
 * checks them itself (this is how librdkafka's properties reach librdkafka).
 */
#ifndef RIVULET_CONF_H
#define RIVULET_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "rivulet/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum rv_conf_type {
    RV_CONF_STRING,
    RV_CONF_INT,    /* 64-bit integer, range-checked */
    RV_CONF_BOOL,   /* true/false, yes/no, on/off, 1/0 */
    RV_CONF_DOUBLE, /* range-checked */
    RV_CONF_ENUM,   /* one of the '|'-separated words in `choices` */
    RV_CONF_MS      /* a duration: an integer with optional unit ms, s, m (default ms) */
} rv_conf_type_t;

typedef struct rv_conf_def {
    const char *name; /* full key, e.g. "graph.edge.capacity" */
    rv_conf_type_t type;
    const char *dflt;    /* default as text; NULL means "unset" (strings only) */
    double min, max;     /* inclusive range for INT, DOUBLE and MS; ignored when min > max */
    const char *choices; /* ENUM: "a|b|c" */
    const char *desc;    /* one line, shown by --help and CONFIGURATION.md */
} rv_conf_def_t;

typedef struct rv_conf_table {
    const char *component;       /* e.g. "engine" */
    const char *title;           /* a heading for CONFIGURATION.md */
    const char *passthrough;     /* prefix whose unknown keys pass through, or NULL */
    const char *passthrough_doc; /* what the pass-through keys are, for the docs */
    const rv_conf_def_t *defs;
    size_t ndefs;
} rv_conf_table_t;

#define RV_CONF_NDEFS(a) (sizeof(a) / sizeof((a)[0]))

typedef struct rv_conf rv_conf_t;

/* An empty configuration. Ownership: the caller owns it; free with rv_conf_destroy(). */
rv_conf_t *rv_conf_new(void);
/* A deep copy. Ownership: the caller owns it. */
rv_conf_t *rv_conf_dup(const rv_conf_t *c);
/* Frees c. NULL is a no-op. */
void rv_conf_destroy(rv_conf_t *c);

/* Sets (or replaces) key to value; both are copied. Only syntax is checked here
 * (non-empty key without spaces); rv_conf_check() checks meaning. */
rv_err_t rv_conf_set(rv_conf_t *c, const char *key, const char *value, rv_error_t **errp);
/* Removes key when present. */
void rv_conf_unset(rv_conf_t *c, const char *key);

/* Parses "key=value" (as given on a command line). */
rv_err_t rv_conf_set_pair(rv_conf_t *c, const char *pair, rv_error_t **errp);

/* Loads "key = value" lines from a file; '#' starts a comment. An error names the
 * file and line. Later keys replace earlier ones. */
rv_err_t rv_conf_load_file(rv_conf_t *c, const char *path, rv_error_t **errp);

/* The raw value, or NULL when unset. Memory: owned by c, valid until the key is
 * set again or c is destroyed. */
const char *rv_conf_get(const rv_conf_t *c, const char *key);

/* Calls fn for every key in insertion order; stops early when fn returns false. */
void rv_conf_foreach(const rv_conf_t *c,
                     bool (*fn)(const char *key, const char *value, void *opaque), void *opaque);

/* Checks every key of c against the tables: a key must be defined in one of them
 * or lie under one table's pass-through prefix, and its value must parse and be
 * in range. Keys whose first dotted word names no table at all are rejected
 * too, unless `allow_foreign` (used when several components share one file and
 * only some are checked). The first problem is reported, naming the key. */
rv_err_t rv_conf_check(const rv_conf_t *c, const rv_conf_table_t *const *tables, size_t ntables,
                       bool allow_foreign, rv_error_t **errp);

/* Typed getters: the user's value when set, else the table's default. The key
 * must be defined in the table (a programming error otherwise: aborts). Values
 * are assumed to have passed rv_conf_check(); an unparsable value yields the
 * default. */
int64_t rv_conf_int(const rv_conf_t *c, const rv_conf_table_t *t, const char *key);
bool rv_conf_bool(const rv_conf_t *c, const rv_conf_table_t *t, const char *key);
double rv_conf_double(const rv_conf_t *c, const rv_conf_table_t *t, const char *key);
/* Duration in milliseconds. */
int64_t rv_conf_ms(const rv_conf_t *c, const rv_conf_table_t *t, const char *key);
/* String or enum value; NULL when unset with no default.
 * Memory: owned by c or by the table; valid while both live. */
const char *rv_conf_str(const rv_conf_t *c, const rv_conf_table_t *t, const char *key);

/* Calls fn(inner_key, value) for every key of c under t->passthrough that the
 * table does not define, with the prefix stripped. The first non-OK return stops
 * the walk and is returned. */
rv_err_t rv_conf_passthrough(const rv_conf_t *c, const rv_conf_table_t *t,
                             rv_err_t (*fn)(const char *key, const char *value, rv_error_t **errp,
                                            void *opaque),
                             void *opaque, rv_error_t **errp);

/* Prints the table as `--help` text (one key per line with type, default, range). */
void rv_conf_print_help(FILE *out, const rv_conf_table_t *t);
/* Prints the table as a Markdown section for CONFIGURATION.md. */
void rv_conf_print_markdown(FILE *out, const rv_conf_table_t *t);

/* Every table the library defines, for tools that document or check them all.
 * Memory: static. */
const rv_conf_table_t *const *rv_conf_tables(size_t *n);

#ifdef __cplusplus
}
#endif
#endif
