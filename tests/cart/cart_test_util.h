/* Shared by the cart tests: fixed ids and command builders. */
#ifndef RV_CART_TEST_UTIL_H
#define RV_CART_TEST_UTIL_H

#include "cart.h"
#include "rv_test.h"

static inline rv_uuid_t uid(int n)
{
    rv_uuid_t u;
    memset(&u, 0, sizeof(u));
    u.b[0] = 0x10;
    u.b[6] = 0x40; /* version 4 shape, so it prints like a real id */
    u.b[8] = 0x80;
    u.b[14] = (uint8_t)(n >> 8);
    u.b[15] = (uint8_t)n;
    return u;
}

static inline cart_cmd_t cmd(cart_action_t a, int cart, int arg, int count)
{
    cart_cmd_t c = {a, uid(cart), uid(arg), count};
    return c;
}

/* The Scala original's scenario: one cart, ten commands. */
static inline size_t scala_scenario(cart_cmd_t *out)
{
    enum { CART = 1, FIRST_OWNER = 100, SECOND_OWNER = 101, FIRST_ITEM = 200, SECOND_ITEM = 201 };
    size_t n = 0;
    out[n++] = cmd(CART_INSERT, CART, FIRST_OWNER, 0);
    out[n++] = cmd(CART_SET_OWNER, CART, SECOND_OWNER, 0);
    out[n++] = cmd(CART_ADD_ITEM, CART, FIRST_ITEM, 1);
    out[n++] = cmd(CART_ADD_ITEM, CART, SECOND_ITEM, 1);
    out[n++] = cmd(CART_ADD_ITEM, CART, FIRST_ITEM, 1);
    out[n++] = cmd(CART_ADD_ITEM, CART, SECOND_ITEM, 1);
    out[n++] = cmd(CART_ADD_ITEM, CART, SECOND_ITEM, 1);
    out[n++] = cmd(CART_SET_OWNER, CART, FIRST_OWNER, 0);
    out[n++] = cmd(CART_REMOVE_ITEM, CART, FIRST_ITEM, 1);
    out[n++] = cmd(CART_REMOVE_ITEM, CART, SECOND_ITEM, 1);
    return n;
}

#endif
