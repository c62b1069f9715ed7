/* Memory for the Avro codecs: the per-message arena, the output buffer, and
 * the owned-bytes payload. */
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

#include "avro/internal.h"

#define ALIGN_UP(n, a)  (((n) + ((a)-1)) & ~((size_t)(a)-1))
#define ARENA_ALIGN     alignof(max_align_t)
#define ARENA_MIN_CHUNK 512

typedef struct chunk {
    struct chunk *next;
    size_t cap, used;
    alignas(max_align_t) unsigned char data[];
} chunk_t;

struct rv_avro_arena {
    chunk_t *head;     /* the chunk being filled; the list runs to older ones */
    chunk_t *first;    /* kept across resets */
    bool first_inline; /* first lives inside a bigger block (rv_avro_decode_new) */
    size_t used;
};

static chunk_t *chunk_new(size_t cap)
{
    if (cap > SIZE_MAX - sizeof(chunk_t)) return NULL;
    chunk_t *c = malloc(sizeof(chunk_t) + cap);
    if (!c) return NULL;
    c->next = NULL;
    c->cap = cap;
    c->used = 0;
    return c;
}

static void arena_init(rv_avro_arena_t *a, chunk_t *first, bool inline_first)
{
    a->head = first;
    a->first = first;
    a->first_inline = inline_first;
    a->used = 0;
}

static void arena_fini(rv_avro_arena_t *a)
{
    chunk_t *c = a->head;
    while (c) {
        chunk_t *next = c->next;
        if (c != a->first || !a->first_inline) free(c);
        c = next;
    }
    a->head = a->first = NULL;
}

rv_avro_arena_t *rv_avro_arena_new(void)
{
    rv_avro_arena_t *a = malloc(sizeof(*a));
    if (!a) return NULL;
    arena_init(a, NULL, false);
    return a;
}

void rv_avro_arena_reset(rv_avro_arena_t *a)
{
    chunk_t *c = a->head;
    while (c && c != a->first) {
        chunk_t *next = c->next;
        free(c);
        c = next;
    }
    a->head = a->first;
    if (a->first) {
        a->first->used = 0;
        a->first->next = NULL;
    }
    a->used = 0;
}

void rv_avro_arena_destroy(rv_avro_arena_t *a)
{
    if (!a) return;
    arena_fini(a);
    free(a);
}

size_t rv_avro_arena_used(const rv_avro_arena_t *a)
{
    return a->used;
}

void *rv_avro_arena_alloc(rv_avro_arena_t *a, size_t n)
{
    if (n > SIZE_MAX / 2) return NULL;
    n = ALIGN_UP(n ? n : 1, ARENA_ALIGN);
    chunk_t *c = a->head;
    if (!c || c->cap - c->used < n) {
        /* Chunks double, so a message needs few of them; a large request gets
         * a chunk of its own size. */
        size_t cap = c ? c->cap * 2 : ARENA_MIN_CHUNK;
        if (cap < n) cap = n;
        chunk_t *nc = chunk_new(cap);
        if (!nc) return NULL;
        nc->next = c;
        a->head = nc;
        if (!a->first) a->first = nc;
        c = nc;
    }
    void *p = c->data + c->used;
    c->used += n;
    a->used += n;
    return p;
}

/* ------------------------------------------------- self-contained objects */

/* An object from rv_avro_decode_new is one block: this header (holding the
 * arena), the struct, then the arena's first chunk, sized from the input so
 * that a typical message needs one malloc. */
typedef struct objhdr {
    rv_avro_arena_t arena;
} objhdr_t;
#define OBJ_HDR ALIGN_UP(sizeof(objhdr_t), ARENA_ALIGN)

void *rv__avro_obj_alloc(size_t c_size, size_t input_len, rv_avro_arena_t **arena)
{
    size_t body = ALIGN_UP(c_size ? c_size : 1, ARENA_ALIGN);
    size_t first = input_len < 4096 ? 2 * input_len + 64 : input_len + 1024;
    first = ALIGN_UP(first, ARENA_ALIGN);
    unsigned char *block = malloc(OBJ_HDR + body + sizeof(chunk_t) + first);
    if (!block) return NULL;
    objhdr_t *h = (objhdr_t *)block;
    chunk_t *c = (chunk_t *)(block + OBJ_HDR + body);
    c->next = NULL;
    c->cap = first;
    c->used = 0;
    arena_init(&h->arena, c, true);
    *arena = &h->arena;
    return block + OBJ_HDR;
}

void rv_avro_obj_free(void *obj)
{
    if (!obj) return;
    objhdr_t *h = (objhdr_t *)((unsigned char *)obj - OBJ_HDR);
    arena_fini(&h->arena);
    free(h);
}

/* ----------------------------------------------------------------- buffers */

rv_err_t rv_avro_buf_reserve(rv_avro_buf_t *b, size_t n)
{
    if (b->cap - b->len >= n) return RV_OK;
    if (n > SIZE_MAX / 2 - b->len) return RV_ERR_NOMEM;
    size_t cap = b->cap ? b->cap : 128;
    while (cap - b->len < n)
        cap *= 2;
    uint8_t *d = realloc(b->data, cap);
    if (!d) return RV_ERR_NOMEM;
    b->data = d;
    b->cap = cap;
    return RV_OK;
}

void rv_avro_buf_free(rv_avro_buf_t *b)
{
    if (!b) return;
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

rv_avro_bytes_t *rv_avro_bytes_new(const void *data, size_t len)
{
    if (len > SIZE_MAX - sizeof(rv_avro_bytes_t)) return NULL;
    rv_avro_bytes_t *b = malloc(sizeof(*b) + len + 1);
    if (!b) return NULL;
    b->data = (uint8_t *)(b + 1);
    b->len = len;
    if (len) memcpy(b->data, data, len);
    b->data[len] = 0;
    return b;
}

void rv_avro_bytes_free(void *bytes)
{
    free(bytes);
}
