/* RESULT response bodies (section 4.2.5 of the protocol). */
#ifndef RV_CQL_RESULT_H
#define RV_CQL_RESULT_H

#include "cql/arena.h"
#include "cql/frame.h"
#include "cql/type.h"
#include "rivulet/cql.h"

typedef struct rv__cql_col {
    const char *name;
    const char *ks, *table;
    const rv_cql_type_t *type;
} rv__cql_col_t;

typedef struct rv__cql_cell {
    uint32_t off; /* from the start of the body */
    int32_t len;  /* negative: null */
} rv__cql_cell_t;

struct rv_cql_result {
    rv_cql_result_kind_t kind;
    uint8_t *body; /* owned; NULL for results that need nothing from it */
    size_t body_len;
    rv__cql_arena_t arena;

    /* Rows (and a Prepared result's result metadata). */
    uint32_t meta_flags;
    size_t ncols;
    rv__cql_col_t *cols; /* NULL with the No_metadata flag */
    size_t nrows;
    rv__cql_cell_t *cells; /* nrows * ncols */
    const uint8_t *paging;
    size_t paging_len;
    bool has_more;

    /* Prepared. */
    const uint8_t *prep_id;
    size_t prep_id_len;
    size_t nbind;
    rv__cql_col_t *bind;
    size_t npk;
    uint16_t *pk; /* bind indexes of the partition key's columns, in key order */

    /* Set_keyspace, Schema_change. */
    const char *keyspace, *change, *target, *name;
    bool schema_agreed;

    size_t nwarn;
    const char **warn;
};

/* Metadata flags. */
#define RV__CQL_META_GLOBAL_SPEC 0x0001
#define RV__CQL_META_HAS_MORE    0x0002
#define RV__CQL_META_NO_METADATA 0x0004

/* Reads the frame body's optional prefix (tracing id, warnings, custom
 * payload, per the header flags). *off becomes the offset of the message
 * proper; warn and warn_len the warnings' [string list] (NULL when none). */
rv_err_t rv__cql_body_prefix(uint8_t flags, const uint8_t *body, size_t len, size_t *off,
                             const uint8_t **warn, size_t *warn_len, rv_error_t **errp);

/* Decodes a RESULT body starting at body+off. Ownership: takes body (malloc'd)
 * in every case; on success *out owns it (or has freed it). warn/warn_len as
 * from rv__cql_body_prefix (they point into body). */
rv_err_t rv__cql_result_decode(uint8_t *body, size_t len, size_t off, const uint8_t *warn,
                               size_t warn_len, rv_cql_result_t **out, rv_error_t **errp);

#endif
