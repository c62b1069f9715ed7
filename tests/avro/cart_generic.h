/* Flavour-2 functions for the cart command: avro-c's generic value to
 * cart_cmd_t and back, as a user of rv_avro_generic_t would write them.
 * Shared by the generic test, the stage test and the benchmark. */
#ifndef RV_AVRO_CART_GENERIC_H
#define RV_AVRO_CART_GENERIC_H

#include <stdlib.h>
#include <string.h>

#include "test_types.h"

/* One allocation: the struct, then the action text. */
static inline void cart_generic_free(void *p)
{
    free(p);
}

static inline rv_err_t cart_get_uuid(avro_value_t *v, const char *name, char *dst,
                                     rv_error_t **errp)
{
    avro_value_t f;
    const char *s;
    size_t n;
    if (avro_value_get_by_name(v, name, &f, NULL) || avro_value_get_string(&f, &s, &n) || n != 37)
        return rv_error_set(errp, RV_ERR_DECODE, false, "ShoppingCartCmd.%s: not a uuid", name);
    memcpy(dst, s, 37);
    return RV_OK;
}

static inline rv_err_t cart_generic_read(rv_avro_generic_t *g, avro_value_t *v, void **out,
                                         rv_error_t **errp, void *opaque)
{
    (void)g;
    (void)opaque;
    avro_value_t f, b;
    const char *action;
    size_t alen;
    if (avro_value_get_by_name(v, "action", &f, NULL) || avro_value_get_string(&f, &action, &alen))
        return rv_error_set(errp, RV_ERR_DECODE, false, "ShoppingCartCmd.action: missing");
    cart_cmd_t *c = malloc(sizeof(*c) + alen);
    if (!c) return RV_ERR_NOMEM;
    c->action = (char *)(c + 1);
    memcpy(c->action, action, alen); /* alen counts the NUL */
    if (cart_get_uuid(v, "cartId", c->cart_id, errp) ||
        cart_get_uuid(v, "ownerOrItem", c->owner_or_item, errp)) {
        free(c);
        return RV_ERR_DECODE;
    }
    int disc = 0;
    c->has_count = false;
    c->count = 0;
    if (avro_value_get_by_name(v, "count", &f, NULL) == 0 &&
        avro_value_get_discriminant(&f, &disc) == 0 && disc == 1 &&
        avro_value_get_current_branch(&f, &b) == 0) {
        c->has_count = true;
        avro_value_get_int(&b, &c->count);
    }
    *out = c;
    return RV_OK;
}

static inline rv_err_t cart_generic_write(rv_avro_generic_t *g, const void *obj, avro_value_t *v,
                                          rv_error_t **errp, void *opaque)
{
    (void)g;
    (void)opaque;
    const cart_cmd_t *c = obj;
    avro_value_t f, b;
    if (avro_value_get_by_name(v, "action", &f, NULL) || avro_value_set_string(&f, c->action) ||
        avro_value_get_by_name(v, "cartId", &f, NULL) || avro_value_set_string(&f, c->cart_id) ||
        avro_value_get_by_name(v, "ownerOrItem", &f, NULL) ||
        avro_value_set_string(&f, c->owner_or_item) ||
        avro_value_get_by_name(v, "count", &f, NULL) ||
        avro_value_set_branch(&f, c->has_count ? 1 : 0, &b))
        return rv_error_set(errp, RV_ERR_ENCODE, false, "ShoppingCartCmd: %s", avro_strerror());
    if (c->has_count)
        avro_value_set_int(&b, c->count);
    else
        avro_value_set_null(&b);
    return RV_OK;
}

#endif
