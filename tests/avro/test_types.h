/* Descriptions the Avro tests share: the shopping-cart command (the wire
 * contract of the cart application) and a record holding every type. */
#ifndef RV_AVRO_TEST_TYPES_H
#define RV_AVRO_TEST_TYPES_H

#include <stdbool.h>
#include <stdint.h>

#include "rivulet/avro.h"

/* ShoppingCartCmd, namespace rivulet.cart (raw binary does not carry it). */
typedef struct cart_cmd {
    char *action; /* Insert, SetOwner, AddItem, RemoveItem, Delete */
    char cart_id[RV_AVRO_UUID_LEN];
    char owner_or_item[RV_AVRO_UUID_LEN];
    bool has_count;
    int32_t count;
} cart_cmd_t;

extern const rv_avro_type_t cart_cmd_type;
#define CART_CMD_SCHEMA_NS "rivulet.cart"

typedef struct inner {
    int32_t a;
    char *s;
} inner_t;

typedef struct all_types {
    bool b;
    int32_t i;
    int64_t l;
    float f;
    double d;
    char *s;
    rv_avro_bytes_t by;
    int color; /* enum Color { RED, GREEN, BLUE } */
    uint8_t fx[4];
    char id[RV_AVRO_UUID_LEN];
    int64_t ts;
    rv_avro_array_t ints; /* int32_t */
    rv_avro_array_t strs; /* char * */
    rv_avro_map_t longs;  /* int64_t */
    inner_t inner;
    rv_avro_array_t inners; /* inner_t */
    rv_avro_array_t matrix; /* rv_avro_array_t of int32_t */
    rv_avro_map_t colors;   /* int (enum, the same named type again) */
    bool has_oi;
    int32_t oi;
    char *os; /* optional, NULL is null */
    bool has_oinner;
    inner_t oinner;
    rv_avro_bytes_t oby; /* optional, data NULL is null */
    bool has_od;
    double od;
} all_types_t;

extern const rv_avro_type_t all_types_type;
extern const rv_avro_type_t inner_type;

/* A set of cart commands and all-types values with their JSON (test
 * conventions of avro_peer.py). */
typedef struct cart_case {
    cart_cmd_t v;
    const char *json;
} cart_case_t;
extern const cart_case_t cart_cases[];
extern const size_t n_cart_cases;

/* Fills *v with the k-th all-types value (k < n_all_cases) and returns its
 * JSON. Memory: v points into static storage. */
const char *all_types_case(int k, all_types_t *v);
extern const int n_all_cases;

/* Hex helpers. Ownership: the caller frees the results. */
char *test_hex(const uint8_t *p, size_t n);
uint8_t *test_unhex(const char *hex, size_t *n);

/* Writes s to a new temporary file; returns its path (caller frees/unlinks). */
char *test_write_temp(const char *s);

#endif
