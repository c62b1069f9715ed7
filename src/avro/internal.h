/* Internal pieces shared by the Avro sources: the writer-schema tree, the
 * decoding plans, the error context and the byte primitives. */
#ifndef RV_AVRO_INTERNAL_H
#define RV_AVRO_INTERNAL_H

#include <stdarg.h>
#include <string.h>

#include "rivulet/avro.h"

#define RV__AVRO_DEFAULT_DEPTH 64
#define RV__AVRO_MAX_DEPTH     1024

/* ------------------------------------------------------------ the context */

/* What a decode or encode call carries: the cursor, the arena, the depth, and
 * the error being built. The path of an error is built while the recursion
 * unwinds (each level prepends its name), so the success path pays nothing
 * for it. */
typedef struct rv__actx {
    const uint8_t *p, *start, *end;
    rv_avro_arena_t *arena;
    int depth, max_depth;
    rv_err_t code;  /* RV_OK until a problem is found */
    size_t err_off; /* byte offset of the problem */
    char msg[160];  /* the problem, without the path */
    char *path;     /* malloc'd, built while unwinding */
    size_t path_len;
} rv__actx_t;

int rv__actx_fail(rv__actx_t *c, rv_err_t code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The same as a value the compiler can see is -1 (so it knows an output
 * parameter is set whenever the call returned 0). */
#define RV__FAIL(...) (rv__actx_fail(__VA_ARGS__), -1)
/* Prepends a path segment: ".name" style for a field, "[i]" for an index. */
void rv__actx_prepend(rv__actx_t *c, const char *seg, bool index);
void rv__actx_prepend_index(rv__actx_t *c, uint64_t i);
/* Turns the context's problem into an rv_error_t in errp; frees the path. */
rv_err_t rv__actx_finish(rv__actx_t *c, const char *root, bool with_offset, rv_error_t **errp);

/* ------------------------------------------------------ writer schema tree */

/* A writer (or any) schema as a small tree of nodes, built once from avro-c's
 * schema so that validating and skipping do not go through avro-c's lookups.
 * Named types that recur (recursive schemas) share a node, so the tree may be
 * a graph; the decoder's depth limit bounds the walk. */
typedef struct rv__anode rv__anode_t;
struct rv__anode {
    avro_type_t type;    /* never AVRO_LINK */
    const char *name;    /* named types: the name (borrowed from the schema) */
    const char *logical; /* unused by decoding; NULL */
    int n;               /* record fields, union branches, enum symbols */
    rv__anode_t **kids;  /* record fields / union branches */
    const char **names;  /* record field names / enum symbols */
    int64_t fixed_size;
    rv__anode_t *items; /* array items / map values */
    size_t min_size;    /* fewest bytes any value of this node encodes to */
};

typedef struct rv__atree {
    avro_schema_t schema; /* one reference held */
    rv__anode_t *root;
    rv__anode_t **all; /* every node, for freeing */
    size_t nall, capall;
} rv__atree_t;

/* Builds the tree of a schema (takes one new reference on it). */
rv__atree_t *rv__atree_new(avro_schema_t schema, rv_error_t **errp);
void rv__atree_free(rv__atree_t *t);
/* Parses JSON with avro-c; errors name avro-c's message. */
avro_schema_t rv__avro_parse(const char *json, size_t len, rv_error_t **errp);

/* Validates one encoded value of `root` over [data, data+len) with nothing
 * left over. Used before avro-c reads untrusted bytes (flavour 2). */
rv_err_t rv__avro_validate(const rv__anode_t *root, const uint8_t *data, size_t len, int max_depth,
                           const char *root_name, rv_error_t **errp);

/* ------------------------------------------------------ description checks */

/* Checks a record description (names, sizes, symbols, nesting). */
rv_err_t rv__avro_check_record(const rv_avro_type_t *t, rv_error_t **errp);
/* The C size of a value of type t (a record's c_size, a fixed's size, ...). */
size_t rv__avro_csize(const rv_avro_type_t *t);
/* Validates UTF-8; *has_nul tells whether a U+0000 was seen. */
bool rv__utf8_valid(const uint8_t *s, size_t n, bool *has_nul);
bool rv__uuid_valid(const char *s, size_t n);

/* ---------------------------------------------------------------- plans */

/* A decoding plan: how to read a writer's value into the reader's C form.
 * Built once per (writer schema, reader description) pair; the codec's own
 * schema has an identity plan, so one interpreter serves both cases. */
typedef enum rv__op {
    RV__OP_BOOL,
    RV__OP_INT,
    RV__OP_LONG,
    RV__OP_FLOAT,
    RV__OP_DOUBLE,
    RV__OP_STRING,   /* string or bytes on the wire -> char * */
    RV__OP_BYTES,    /* string or bytes on the wire -> rv_avro_bytes_t */
    RV__OP_UUID,     /* string or bytes on the wire -> char[37] */
    RV__OP_ENUM,     /* same symbols */
    RV__OP_ENUM_MAP, /* writer index -> reader index through a table */
    RV__OP_FIXED,
    RV__OP_INT_TO_LONG,
    RV__OP_INT_TO_FLOAT,
    RV__OP_INT_TO_DOUBLE,
    RV__OP_LONG_TO_FLOAT,
    RV__OP_LONG_TO_DOUBLE,
    RV__OP_FLOAT_TO_DOUBLE,
    RV__OP_ARRAY,
    RV__OP_MAP,
    RV__OP_RECORD
} rv__op_t;

typedef struct rv__plan rv__plan_t;
typedef struct rv__vplan rv__vplan_t;

/* A value as the writer wrote it: maybe a union, each branch with its plan. */
struct rv__vplan {
    bool wnull; /* the writer's type is null: always absent */
    bool wunion;
    int nbr;
    struct rv__branch {
        bool is_null;
        rv__plan_t *plan; /* NULL and !is_null: this branch cannot be read */
        char *why;        /* why not, for the error */
    } * br;
    rv__plan_t *plan; /* when !wunion */
};

typedef struct rv__dflt {
    const rv_avro_field_t *rf;
    bool is_null;
    bool b;
    int64_t i;
    double d;
    uint8_t *s; /* string / bytes / fixed / uuid, s_len bytes (+ NUL) */
    size_t s_len;
} rv__dflt_t;

typedef struct rv__step {
    const rv_avro_field_t *rf; /* NULL: the reader has no such field; skip it */
    const rv__anode_t *wnode;
    const char *wname;
    rv__vplan_t vp;
} rv__step_t;

struct rv__plan {
    rv__op_t op;
    const rv_avro_type_t *rt;
    const rv__anode_t *wn;
    int32_t *enum_map; /* ENUM_MAP: writer index -> reader index or -1 */
    int nwsyms;
    rv__vplan_t items; /* ARRAY, MAP */
    size_t item_csize;
    size_t item_wmin;  /* writer items' min_size */
    rv__step_t *steps; /* RECORD */
    size_t nsteps;
    rv__dflt_t *dflts;
    size_t ndflts;
};

/* Resolves writer node `w` (a record) against the reader's record description. */
rv__plan_t *rv__plan_new(const rv__anode_t *w, const rv_avro_type_t *r, rv_error_t **errp);
void rv__plan_free(rv__plan_t *p);
/* Parses every default of a description (errors name the field). */
rv_err_t rv__avro_check_defaults(const rv_avro_type_t *t, rv_error_t **errp);

/* Runs a record plan over [data, data+len) into obj (zeroed first); checks
 * that nothing is left over. */
rv_err_t rv__avro_run_plan(const rv__plan_t *plan, const uint8_t *data, size_t len, void *obj,
                           rv_avro_arena_t *arena, int max_depth, rv_error_t **errp);

/* ---------------------------------------------------------------- codec */

typedef struct rv__writer {
    int32_t id;
    char *json;
    avro_schema_t schema;
    rv__atree_t *tree;
    rv__plan_t *plan;
} rv__writer_t;

struct rv_avro_codec {
    const rv_avro_type_t *type;
    rv_avro_opts_t opts;
    char *json;
    avro_schema_t schema;
    rv__writer_t own;      /* the codec's own schema, identity plan */
    rv__writer_t *raw;     /* RAW: the writer schema set, or NULL (own) */
    rv__writer_t *writers; /* CONFLUENT: registered ids */
    size_t nwriters;
};

/* Finds the writer for the input's framing: *body points past the header. */
rv_err_t rv__avro_codec_writer(const rv_avro_codec_t *c, const uint8_t *data, size_t len,
                               const rv__writer_t **w, size_t *body, rv_error_t **errp);

/* One block holding an arena header, the struct and a first arena chunk. */
void *rv__avro_obj_alloc(size_t c_size, size_t input_len, rv_avro_arena_t **arena);

void rv__avro_opts_norm(rv_avro_opts_t *dst, const rv_avro_opts_t *src);

/* The conf table (for src/core/conf_tables.c). */
extern const rv_conf_table_t rv_avro_conf_table;

/* ---------------------------------------------------------------- stages */

/* Either flavour behind one door, for the two stages. */
typedef struct rv__avro_serde {
    const rv_avro_codec_t *codec; /* flavour 1, or NULL and: */
    rv_avro_generic_t *gen;       /* flavour 2 */
} rv__avro_serde_t;

static inline rv_err_t rv__avro_serde_decode(const rv__avro_serde_t *s, const void *data,
                                             size_t len, void **out, rv_error_t **errp)
{
    if (s->codec) {
        *out = rv_avro_decode_new(s->codec, data, len, errp);
        return *out ? RV_OK : (errp && *errp ? rv_error_code(*errp) : RV_ERR_DECODE);
    }
    return rv_avro_generic_decode(s->gen, data, len, out, errp);
}

static inline rv_free_fn rv__avro_serde_free(const rv__avro_serde_t *s)
{
    return s->codec ? rv_avro_obj_free : rv_avro_generic_free_fn(s->gen);
}

static inline rv_err_t rv__avro_serde_encode(const rv__avro_serde_t *s, const void *obj,
                                             rv_avro_buf_t *out, rv_error_t **errp)
{
    return s->codec ? rv_avro_encode(s->codec, obj, out, errp)
                    : rv_avro_generic_encode(s->gen, obj, out, errp);
}
/* The Avro name of a type ("string", "record", ...), for error messages. */
const char *rv__avro_type_name(avro_type_t t);

#endif
