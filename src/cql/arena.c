/* Bump allocator: chunks of at least 1 KiB, each allocation 8-byte aligned. */
#include "cql/arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct rv__cql_chunk {
    rv__cql_chunk_t *next;
    size_t used, cap;
    _Alignas(8) unsigned char mem[];
};

void *rv__cql_arena_alloc(rv__cql_arena_t *a, size_t size)
{
    size = (size + 7) & ~(size_t)7;
    if (size == 0) size = 8;
    rv__cql_chunk_t *c = a->head;
    if (!c || c->cap - c->used < size) {
        size_t cap = size > 1024 ? size : 1024;
        if (c && cap < c->cap * 2 && c->cap * 2 <= 65536) cap = c->cap * 2;
        if (cap > SIZE_MAX - sizeof(*c)) return NULL;
        rv__cql_chunk_t *n = malloc(sizeof(*n) + cap);
        if (!n) return NULL;
        n->next = c;
        n->used = 0;
        n->cap = cap;
        a->head = c = n;
    }
    void *p = c->mem + c->used;
    c->used += size;
    memset(p, 0, size);
    return p;
}

char *rv__cql_arena_strndup(rv__cql_arena_t *a, const char *s, size_t n)
{
    if (n == SIZE_MAX) return NULL;
    char *d = rv__cql_arena_alloc(a, n + 1);
    if (d && n) memcpy(d, s, n);
    return d;
}

void rv__cql_arena_free(rv__cql_arena_t *a)
{
    rv__cql_chunk_t *c = a->head;
    while (c) {
        rv__cql_chunk_t *n = c->next;
        free(c);
        c = n;
    }
    a->head = NULL;
}
