/* A bump allocator for the many small pieces of one decoded response (column
 * names, type trees, warnings): everything is freed at once with the result
 * or prepared statement that owns the arena. */
#ifndef RV_CQL_ARENA_H
#define RV_CQL_ARENA_H

#include <stddef.h>

typedef struct rv__cql_chunk rv__cql_chunk_t;

typedef struct rv__cql_arena {
    rv__cql_chunk_t *head;
} rv__cql_arena_t;

/* Zeroed, 8-byte aligned memory owned by the arena; NULL when out of memory. */
void *rv__cql_arena_alloc(rv__cql_arena_t *a, size_t size);
/* A NUL-terminated copy of s[0..n). */
char *rv__cql_arena_strndup(rv__cql_arena_t *a, const char *s, size_t n);
void rv__cql_arena_free(rv__cql_arena_t *a);

#endif
