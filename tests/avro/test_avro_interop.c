/* Byte-for-byte agreement with implementations we did not write:
 *   - python3-avro decodes what rivulet encodes to the same values,
 *   - rivulet decodes what python3-avro encodes to the same values, and
 *     encodes those values to the very same bytes,
 *   - avro-c's generic writer produces the same bytes as the declarative
 *     encoder for the same values, and avro-c's reader reads ours.
 * The Python peer is tests/avro/avro_peer.py on /usr/bin/python3; a missing
 * python3-avro fails the test. */
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rv_test.h"
#include "test_types.h"

#ifndef RV_AVRO_PEER
#error "RV_AVRO_PEER (the path of avro_peer.py) must be defined by the build"
#endif

/* Runs the peer; returns its exit status and its stdout (caller frees). */
static int run_peer(const char *mode, const char *schema_json, const char *input, char **out)
{
    char *schema = test_write_temp(schema_json);
    char *in = test_write_temp(input);
    if (!schema || !in) return -1;
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "/usr/bin/python3 %s %s %s < %s", RV_AVRO_PEER, mode, schema, in);
    FILE *p = popen(cmd, "r");
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    size_t k;
    while (p && (k = fread(buf + n, 1, cap - n - 1, p)) > 0) {
        n += k;
        if (cap - n < 2) buf = realloc(buf, cap *= 2);
    }
    buf[n] = 0;
    int st = p ? pclose(p) : -1;
    unlink(schema);
    unlink(in);
    free(schema);
    free(in);
    *out = buf;
    int code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    if (code == 3)
        fprintf(stderr, "  python3-avro is missing: install the Debian package python3-avro\n");
    return code;
}

typedef struct acc {
    char *s;
    size_t n, cap;
} acc_t;

static void acc_add(acc_t *a, const char *s)
{
    size_t k = strlen(s);
    if (a->n + k + 1 > a->cap) {
        a->cap = (a->n + k + 1) * 2;
        a->s = realloc(a->s, a->cap);
    }
    memcpy(a->s + a->n, s, k + 1);
    a->n += k;
}

/* Encodes each value with rivulet and has Python check it against its JSON. */
static void rivulet_to_python(const rv_avro_type_t *t, const void *const *vals,
                              const char *const *jsons, size_t n)
{
    rv_avro_codec_t *c = rv_avro_codec_new(t, NULL, NULL);
    REQUIRE(c);
    acc_t in = {0};
    for (size_t k = 0; k < n; k++) {
        rv_avro_buf_t buf = {0};
        REQUIRE(rv_avro_encode(c, vals[k], &buf, NULL) == RV_OK);
        char *hex = test_hex(buf.data, buf.len);
        acc_add(&in, hex);
        acc_add(&in, "\t");
        acc_add(&in, jsons[k]);
        acc_add(&in, "\n");
        free(hex);
        rv_avro_buf_free(&buf);
    }
    char *out = NULL;
    int rc = run_peer("check", rv_avro_codec_schema_json(c), in.s, &out);
    CHECK_EQ(rc, 0);
    char want[32];
    snprintf(want, sizeof(want), "ok %zu", n);
    if (rc != 0 || strncmp(out, want, strlen(want)) != 0) {
        fprintf(stderr, "  peer said: %s\n", out);
        CHECK(0);
    }
    free(out);
    free(in.s);
    rv_avro_codec_destroy(c);
}

/* Has Python encode each JSON value; rivulet decodes it to the expected
 * struct and encodes that struct to the same bytes. */
static void python_to_rivulet(const rv_avro_type_t *t, const void *const *vals,
                              const char *const *jsons, size_t n)
{
    rv_avro_codec_t *c = rv_avro_codec_new(t, NULL, NULL);
    REQUIRE(c);
    acc_t in = {0};
    for (size_t k = 0; k < n; k++) {
        acc_add(&in, jsons[k]);
        acc_add(&in, "\n");
    }
    char *out = NULL;
    int rc = run_peer("encode", rv_avro_codec_schema_json(c), in.s, &out);
    CHECK_EQ(rc, 0);
    REQUIRE(rc == 0);
    char *save = NULL, *line = strtok_r(out, "\n", &save);
    size_t k = 0;
    for (; line && k < n; line = strtok_r(NULL, "\n", &save), k++) {
        size_t len;
        uint8_t *bytes = test_unhex(line, &len);
        rv_error_t *err = NULL;
        void *obj = rv_avro_decode_new(c, bytes, len, &err);
        if (!obj) fprintf(stderr, "  record %zu: %s\n", k, rv_error_msg(err));
        CHECK(obj != NULL);
        if (obj) {
            if (!rv_avro_equal(t, obj, vals[k])) {
                fprintf(stderr, "  record %zu decodes to other values\n", k);
                CHECK(0);
            }
            rv_avro_obj_free(obj);
        }
        rv_avro_buf_t mine = {0};
        REQUIRE(rv_avro_encode(c, vals[k], &mine, NULL) == RV_OK);
        CHECK_EQ(mine.len, len);
        if (mine.len == len) CHECK_MEM(mine.data, bytes, len);
        rv_avro_buf_free(&mine);
        rv_error_destroy(err);
        free(bytes);
    }
    CHECK_EQ(k, n);
    free(out);
    free(in.s);
    rv_avro_codec_destroy(c);
}

static void cart_arrays(const void **vals, const char **jsons)
{
    for (size_t k = 0; k < n_cart_cases; k++) {
        vals[k] = &cart_cases[k].v;
        jsons[k] = cart_cases[k].json;
    }
}

static void test_cart_rivulet_to_python(void)
{
    const void *vals[16];
    const char *jsons[16];
    cart_arrays(vals, jsons);
    rivulet_to_python(&cart_cmd_type, vals, jsons, n_cart_cases);
}

static void test_cart_python_to_rivulet(void)
{
    const void *vals[16];
    const char *jsons[16];
    cart_arrays(vals, jsons);
    python_to_rivulet(&cart_cmd_type, vals, jsons, n_cart_cases);
}

static all_types_t all_vals[8];

static void all_arrays(const void **vals, const char **jsons)
{
    for (int k = 0; k < n_all_cases; k++) {
        jsons[k] = all_types_case(k, &all_vals[k]);
        vals[k] = &all_vals[k];
    }
}

static void test_all_types_rivulet_to_python(void)
{
    const void *vals[8];
    const char *jsons[8];
    all_arrays(vals, jsons);
    rivulet_to_python(&all_types_type, vals, jsons, (size_t)n_all_cases);
}

static void test_all_types_python_to_rivulet(void)
{
    const void *vals[8];
    const char *jsons[8];
    all_arrays(vals, jsons);
    python_to_rivulet(&all_types_type, vals, jsons, (size_t)n_all_cases);
}

/* ---------------------------------------------------------------- avro-c */

/* Fills an avro-c generic value from a described struct. This walks the
 * description (ours) but every byte is then written by avro-c. */
static int fill(avro_value_t *v, const rv_avro_type_t *t, const void *src);

static int fill_record(avro_value_t *v, const rv_avro_type_t *t, const uint8_t *base)
{
    for (size_t i = 0; i < t->nfields; i++) {
        const rv_avro_field_t *f = &t->fields[i];
        avro_value_t fv, bv;
        if (avro_value_get_by_index(v, i, &fv, NULL)) return -1;
        const void *src = base + f->offset;
        if (f->optional) {
            bool present = f->has_offset != RV_AVRO_NO_FLAG ? *(const bool *)(base + f->has_offset)
                           : f->type->kind == RV_AVRO_STRING
                               ? *(char *const *)src != NULL
                               : ((const rv_avro_bytes_t *)src)->data != NULL;
            if (avro_value_set_branch(&fv, present ? 1 : 0, &bv)) return -1;
            if (!present) {
                avro_value_set_null(&bv);
                continue;
            }
            if (fill(&bv, f->type, src)) return -1;
        } else if (fill(&fv, f->type, src)) {
            return -1;
        }
    }
    return 0;
}

static int fill(avro_value_t *v, const rv_avro_type_t *t, const void *src)
{
    switch (t->kind) {
    case RV_AVRO_BOOLEAN:
        return avro_value_set_boolean(v, *(const bool *)src);
    case RV_AVRO_INT:
        return avro_value_set_int(v, *(const int32_t *)src);
    case RV_AVRO_LONG:
    case RV_AVRO_TIMESTAMP_MILLIS:
        return avro_value_set_long(v, *(const int64_t *)src);
    case RV_AVRO_FLOAT:
        return avro_value_set_float(v, *(const float *)src);
    case RV_AVRO_DOUBLE:
        return avro_value_set_double(v, *(const double *)src);
    case RV_AVRO_STRING:
        return avro_value_set_string(v, *(char *const *)src);
    case RV_AVRO_UUID:
        return avro_value_set_string(v, (const char *)src);
    case RV_AVRO_BYTES: {
        const rv_avro_bytes_t *b = src;
        return avro_value_set_bytes(v, b->data ? b->data : (void *)"", b->len);
    }
    case RV_AVRO_ENUM:
        return avro_value_set_enum(v, *(const int *)src);
    case RV_AVRO_FIXED:
        return avro_value_set_fixed(v, (void *)src, t->fixed_size);
    case RV_AVRO_ARRAY: {
        const rv_avro_array_t *a = src;
        size_t sz = t->items->kind == RV_AVRO_RECORD   ? t->items->c_size
                    : t->items->kind == RV_AVRO_ARRAY  ? sizeof(rv_avro_array_t)
                    : t->items->kind == RV_AVRO_STRING ? sizeof(char *)
                                                       : sizeof(int32_t);
        for (size_t i = 0; i < a->n; i++) {
            avro_value_t e;
            if (avro_value_append(v, &e, NULL) ||
                fill(&e, t->items, (const uint8_t *)a->items + i * sz))
                return -1;
        }
        return 0;
    }
    case RV_AVRO_MAP: {
        const rv_avro_map_t *m = src;
        size_t sz = t->items->kind == RV_AVRO_LONG ? sizeof(int64_t) : sizeof(int);
        for (size_t i = 0; i < m->n; i++) {
            avro_value_t e;
            if (avro_value_add(v, m->keys[i], &e, NULL, NULL) ||
                fill(&e, t->items, (const uint8_t *)m->values + i * sz))
                return -1;
        }
        return 0;
    }
    case RV_AVRO_RECORD:
        return fill_record(v, t, src);
    }
    return -1;
}

static void avro_c_agrees(const rv_avro_type_t *t, const void *val)
{
    rv_avro_codec_t *c = rv_avro_codec_new(t, NULL, NULL);
    REQUIRE(c);
    avro_value_iface_t *iface = avro_generic_class_from_schema(rv_avro_codec_schema(c));
    REQUIRE(iface);
    avro_value_t v;
    REQUIRE(avro_generic_value_new(iface, &v) == 0);
    CHECK_EQ(fill(&v, t, val), 0);
    static char wbuf[1 << 16];
    avro_writer_t w = avro_writer_memory(wbuf, sizeof(wbuf));
    CHECK_EQ(avro_value_write(w, &v), 0);
    size_t wlen = (size_t)avro_writer_tell(w);

    rv_avro_buf_t mine = {0};
    REQUIRE(rv_avro_encode(c, val, &mine, NULL) == RV_OK);
    CHECK_EQ(mine.len, wlen);
    if (mine.len == wlen) CHECK_MEM(mine.data, wbuf, wlen);

    /* avro-c reads rivulet's bytes back to an equal value. */
    avro_value_t back;
    REQUIRE(avro_generic_value_new(iface, &back) == 0);
    avro_reader_t r = avro_reader_memory((const char *)mine.data, (int64_t)mine.len);
    CHECK_EQ(avro_value_read(r, &back), 0);
    CHECK(avro_value_equal(&v, &back));

    /* rivulet decodes avro-c's bytes to the same struct. */
    void *obj = rv_avro_decode_new(c, wbuf, wlen, NULL);
    CHECK(obj && rv_avro_equal(t, obj, val));
    rv_avro_obj_free(obj);

    avro_reader_free(r);
    avro_writer_free(w);
    avro_value_decref(&back);
    avro_value_decref(&v);
    avro_value_iface_decref(iface);
    rv_avro_buf_free(&mine);
    rv_avro_codec_destroy(c);
}

static void test_avro_c_generic_writer_agrees(void)
{
    for (size_t k = 0; k < n_cart_cases; k++)
        avro_c_agrees(&cart_cmd_type, &cart_cases[k].v);
    for (int k = 0; k < n_all_cases; k++) {
        all_types_t v;
        all_types_case(k, &v);
        avro_c_agrees(&all_types_type, &v);
    }
}

RV_TEST_MAIN(RV_TEST(test_cart_rivulet_to_python), RV_TEST(test_cart_python_to_rivulet),
             RV_TEST(test_all_types_rivulet_to_python), RV_TEST(test_all_types_python_to_rivulet),
             RV_TEST(test_avro_c_generic_writer_agrees))
