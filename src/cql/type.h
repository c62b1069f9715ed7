/* CQL types as the server describes them ([option] trees, section 4.2.5.2). */
#ifndef RV_CQL_TYPE_H
#define RV_CQL_TYPE_H

#include "cql/arena.h"
#include "cql/frame.h"
#include "rivulet/cql.h"

/* Deeper nesting than this is treated as malformed input (it bounds the
 * decoder's recursion). */
#define RV__CQL_MAX_TYPE_DEPTH 32

struct rv_cql_type {
    uint16_t kind;
    uint16_t n;                /* sub-types */
    const rv_cql_type_t **sub; /* n sub-types */
    const char **fields;       /* UDT: n field names */
    const char *name;          /* UDT name or custom class */
    const char *keyspace;      /* UDT keyspace */
};

/* Reads one [option] type from r into the arena; NULL when r fails (r->err is
 * set) or memory ran out (*oom is set). */
const rv_cql_type_t *rv__cql_type_read(rv__cql_rd_t *r, rv__cql_arena_t *a, bool *oom);

/* Fixed value size of a kind (4 for int...), 0 for variable-size kinds. */
size_t rv__cql_kind_fixed_size(int kind);
bool rv__cql_kind_is_integer(int kind);
/* Static type nodes for kinds without parameters (NULL for the others). */
const rv_cql_type_t *rv__cql_type_simple(int kind);

#endif
