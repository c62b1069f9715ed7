/* Encode and decode of the cart command, records per second, in one run:
 *   declarative    rv_avro_encode / rv_avro_decode (reused struct + arena)
 *   declarative/heap  rv_avro_decode_new + rv_avro_obj_free per record
 *   flavour 2      rv_avro_generic_encode / _decode (validator + avro-c + user fn)
 *   avro-c generic the library baseline: avro-c's generic value API used
 *                  directly, reading into a reused avro_value_t and copying
 *                  the fields into the same struct (strings into a reused
 *                  arena), writing from the struct into a reused value.
 * Ratios are against the avro-c baseline measured in the same run.
 *
 *   bench_avro [seconds per case, default 1; spread over 5 interleaved rounds]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cart_generic.h"
#include "test_types.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Keeps results alive so the compiler cannot drop the work. */
static volatile uint64_t sink;

#define NMSG 6
static uint8_t *msgs[NMSG];
static size_t lens[NMSG];

typedef struct ctx {
    rv_avro_codec_t *codec;
    rv_avro_generic_t *gen;
    rv_avro_arena_t *arena;
    rv_avro_buf_t buf;
    cart_cmd_t obj;
    avro_value_iface_t *iface;
    avro_value_t val;
    avro_reader_t reader;
    avro_writer_t writer;
    char wbuf[512];
} ctx_t;

typedef void (*op_fn)(ctx_t *c, size_t i);

static void dec_decl(ctx_t *c, size_t i)
{
    rv_avro_arena_reset(c->arena);
    if (rv_avro_decode(c->codec, msgs[i], lens[i], &c->obj, c->arena, NULL) != RV_OK) abort();
    sink += (uint64_t)c->obj.count + (uint8_t)c->obj.action[0];
}

static void dec_decl_heap(ctx_t *c, size_t i)
{
    cart_cmd_t *o = rv_avro_decode_new(c->codec, msgs[i], lens[i], NULL);
    if (!o) abort();
    sink += (uint64_t)o->count + (uint8_t)o->action[0];
    rv_avro_obj_free(o);
}

static void dec_gen(ctx_t *c, size_t i)
{
    void *out;
    if (rv_avro_generic_decode(c->gen, msgs[i], lens[i], &out, NULL) != RV_OK) abort();
    sink += (uint64_t)((cart_cmd_t *)out)->count;
    cart_generic_free(out);
}

/* The baseline: avro-c's generic value, then the fields into the struct. */
static void dec_avroc(ctx_t *c, size_t i)
{
    avro_reader_memory_set_source(c->reader, (const char *)msgs[i], (int64_t)lens[i]);
    avro_value_reset(&c->val);
    if (avro_value_read(c->reader, &c->val)) abort();
    rv_avro_arena_reset(c->arena);
    avro_value_t f, b;
    const char *s;
    size_t n;
    avro_value_get_by_index(&c->val, 0, &f, NULL);
    avro_value_get_string(&f, &s, &n);
    c->obj.action = rv_avro_arena_alloc(c->arena, n);
    memcpy(c->obj.action, s, n);
    avro_value_get_by_index(&c->val, 1, &f, NULL);
    avro_value_get_string(&f, &s, &n);
    memcpy(c->obj.cart_id, s, RV_AVRO_UUID_LEN);
    avro_value_get_by_index(&c->val, 2, &f, NULL);
    avro_value_get_string(&f, &s, &n);
    memcpy(c->obj.owner_or_item, s, RV_AVRO_UUID_LEN);
    avro_value_get_by_index(&c->val, 3, &f, NULL);
    int disc;
    avro_value_get_discriminant(&f, &disc);
    c->obj.has_count = disc == 1;
    if (disc == 1) {
        avro_value_get_current_branch(&f, &b);
        avro_value_get_int(&b, &c->obj.count);
    }
    sink += (uint64_t)c->obj.count + (uint8_t)c->obj.action[0];
}

static void enc_decl(ctx_t *c, size_t i)
{
    c->buf.len = 0;
    if (rv_avro_encode(c->codec, &cart_cases[i].v, &c->buf, NULL) != RV_OK) abort();
    sink += c->buf.len;
}

static void enc_gen(ctx_t *c, size_t i)
{
    c->buf.len = 0;
    if (rv_avro_generic_encode(c->gen, &cart_cases[i].v, &c->buf, NULL) != RV_OK) abort();
    sink += c->buf.len;
}

static void enc_avroc(ctx_t *c, size_t i)
{
    const cart_cmd_t *v = &cart_cases[i].v;
    avro_value_reset(&c->val);
    avro_value_t f, b;
    avro_value_get_by_index(&c->val, 0, &f, NULL);
    avro_value_set_string(&f, v->action);
    avro_value_get_by_index(&c->val, 1, &f, NULL);
    avro_value_set_string(&f, v->cart_id);
    avro_value_get_by_index(&c->val, 2, &f, NULL);
    avro_value_set_string(&f, v->owner_or_item);
    avro_value_get_by_index(&c->val, 3, &f, NULL);
    avro_value_set_branch(&f, v->has_count ? 1 : 0, &b);
    if (v->has_count)
        avro_value_set_int(&b, v->count);
    else
        avro_value_set_null(&b);
    avro_writer_memory_set_dest(c->writer, c->wbuf, sizeof(c->wbuf));
    if (avro_value_write(c->writer, &c->val)) abort();
    sink += (uint64_t)avro_writer_tell(c->writer);
}

static double measure(ctx_t *c, op_fn fn, double seconds)
{
    /* Warm up, then run in batches of 10000 until the time is spent. */
    for (size_t k = 0; k < 2000; k++)
        fn(c, k % NMSG);
    uint64_t n = 0;
    double t0 = now(), t;
    do {
        for (size_t k = 0; k < 10000; k++)
            fn(c, k % NMSG);
        n += 10000;
        t = now();
    } while (t - t0 < seconds);
    return (double)n / (t - t0);
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 1.0;
    ctx_t c = {0};
    c.codec = rv_avro_codec_new(&cart_cmd_type, NULL, NULL);
    char *json = rv_avro_schema_json(&cart_cmd_type, NULL);
    rv_avro_generic_def_t def = {.schema_json = json,
                                 .read = cart_generic_read,
                                 .write = cart_generic_write,
                                 .free_obj = cart_generic_free};
    c.gen = rv_avro_generic_new(&def, NULL, NULL);
    c.arena = rv_avro_arena_new();
    c.iface = avro_generic_class_from_schema(rv_avro_codec_schema(c.codec));
    avro_generic_value_new(c.iface, &c.val);
    c.reader = avro_reader_memory("", 0);
    c.writer = avro_writer_memory(c.wbuf, sizeof(c.wbuf));
    if (!c.codec || !c.gen || !c.arena || !c.iface) return 1;
    size_t total = 0;
    for (size_t i = 0; i < NMSG; i++) {
        rv_avro_buf_t b = {0};
        rv_avro_encode(c.codec, &cart_cases[i % n_cart_cases].v, &b, NULL);
        msgs[i] = b.data;
        lens[i] = b.len;
        total += b.len;
    }

    struct {
        const char *name;
        op_fn fn;
    } dec[] = {{"avro-c generic (baseline)", dec_avroc},
               {"declarative", dec_decl},
               {"declarative, heap object", dec_decl_heap},
               {"flavour 2 (schema + function)", dec_gen}},
      enc[] = {{"avro-c generic (baseline)", enc_avroc},
               {"declarative", enc_decl},
               {"flavour 2 (schema + function)", enc_gen}};

    printf("rivulet Avro benchmark: ShoppingCartCmd, %zu messages of %.1f bytes on average, "
           "%.1f s per case\n\n",
           (size_t)NMSG, (double)total / NMSG, seconds);
    /* The cases take turns in 5 rounds and each keeps its best round, so a
     * burst of load on the machine does not skew one case against another. */
    enum { ROUNDS = 5 };
    size_t nd = sizeof(dec) / sizeof(dec[0]), ne = sizeof(enc) / sizeof(enc[0]);
    double best_d[8] = {0}, best_e[8] = {0};
    for (int r = 0; r < ROUNDS; r++) {
        for (size_t k = 0; k < nd; k++) {
            double x = measure(&c, dec[k].fn, seconds / ROUNDS);
            if (x > best_d[k]) best_d[k] = x;
        }
        for (size_t k = 0; k < ne; k++) {
            double x = measure(&c, enc[k].fn, seconds / ROUNDS);
            if (x > best_e[k]) best_e[k] = x;
        }
    }
    printf("%-8s %-32s %14s %10s\n", "", "codec", "records/s", "vs avro-c");
    for (size_t k = 0; k < nd; k++)
        printf("%-8s %-32s %14.0f %9.2fx\n", "decode", dec[k].name, best_d[k],
               best_d[k] / best_d[0]);
    for (size_t k = 0; k < ne; k++)
        printf("%-8s %-32s %14.0f %9.2fx\n", "encode", enc[k].name, best_e[k],
               best_e[k] / best_e[0]);

    for (size_t i = 0; i < NMSG; i++)
        free(msgs[i]);
    avro_reader_free(c.reader);
    avro_writer_free(c.writer);
    avro_value_decref(&c.val);
    avro_value_iface_decref(c.iface);
    rv_avro_buf_free(&c.buf);
    rv_avro_arena_destroy(c.arena);
    rv_avro_generic_destroy(c.gen);
    rv_avro_codec_destroy(c.codec);
    free(json);
    return 0;
}
