/* ShoppingCartCmd on the wire, and its JSON-lines form. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"

/* The field names are the Scala original's, so its publishers work unchanged.
 * cartId and ownerOrItem are plain Avro strings, as in the original; rivulet
 * checks them as UUIDs after decoding, so that a malformed id becomes a dead
 * letter whose reason names the field. */
static const rv_avro_field_t cart_wire_cmd_fields[] = {
    RV_AVRO_FIELD_AS(cart_wire_cmd_t, action, "action", &rv_avro_string),
    RV_AVRO_FIELD_AS(cart_wire_cmd_t, cart_id, "cartId", &rv_avro_string),
    RV_AVRO_FIELD_AS(cart_wire_cmd_t, owner_or_item, "ownerOrItem", &rv_avro_string),
    RV_AVRO_OPTIONAL_AS(cart_wire_cmd_t, count, "count", has_count, &rv_avro_int),
};

const rv_avro_type_t cart_wire_cmd_type =
    RV_AVRO_RECORD_TYPE(cart_wire_cmd_t, "ShoppingCartCmd", "rivulet.cart", cart_wire_cmd_fields);

rv_avro_codec_t *cart_codec_new(const rv_avro_opts_t *opts, rv_error_t **errp)
{
    return rv_avro_codec_new(&cart_wire_cmd_type, opts, errp);
}

/* ----------------------------------------------------------- JSON lines */

typedef struct {
    const char *s, *p;
    rv_error_t **errp;
} json_t;

static void ws(json_t *j)
{
    while (isspace((unsigned char)*j->p))
        j->p++;
}

static rv_err_t jerr(json_t *j, const char *what)
{
    return rv_error_set(j->errp, RV_ERR_DECODE, false, "JSON: %s at column %d", what,
                        (int)(j->p - j->s) + 1);
}

/* A JSON string without escapes beyond \" \\ \/ (ids and action names need no more). */
static rv_err_t jstring(json_t *j, char *out, size_t cap)
{
    if (*j->p != '"') return jerr(j, "expected a string");
    j->p++;
    size_t n = 0;
    while (*j->p && *j->p != '"') {
        char c = *j->p++;
        if (c == '\\') {
            c = *j->p++;
            if (c != '"' && c != '\\' && c != '/') return jerr(j, "unsupported escape in string");
        }
        if (n + 1 >= cap) return jerr(j, "string too long");
        out[n++] = c;
    }
    if (*j->p != '"') return jerr(j, "unterminated string");
    j->p++;
    out[n] = '\0';
    return RV_OK;
}

rv_err_t cart_wire_from_json(const char *line, cart_wire_buf_t *b, rv_error_t **errp)
{
    json_t j = {line, line, errp};
    memset(b, 0, sizeof(*b));
    cart_wire_cmd_t *w = &b->w;
    w->action = b->action;
    w->cart_id = b->cart_id;
    w->owner_or_item = b->owner_or_item;
    ws(&j);
    if (*j.p != '{') return jerr(&j, "expected '{'");
    j.p++;
    bool seen_action = false, seen_cart = false;
    for (;;) {
        ws(&j);
        if (*j.p == '}') break;
        char key[32];
        if (jstring(&j, key, sizeof(key)) != RV_OK) return RV_ERR_DECODE;
        ws(&j);
        if (*j.p != ':') return jerr(&j, "expected ':'");
        j.p++;
        ws(&j);
        if (strcmp(key, "action") == 0) {
            if (jstring(&j, b->action, sizeof(b->action)) != RV_OK) return RV_ERR_DECODE;
            seen_action = true;
        } else if (strcmp(key, "cartId") == 0) {
            if (jstring(&j, b->cart_id, sizeof(b->cart_id)) != RV_OK) return RV_ERR_DECODE;
            seen_cart = true;
        } else if (strcmp(key, "ownerOrItem") == 0) {
            if (jstring(&j, b->owner_or_item, sizeof(b->owner_or_item)) != RV_OK)
                return RV_ERR_DECODE;
        } else if (strcmp(key, "count") == 0) {
            if (strncmp(j.p, "null", 4) == 0) {
                j.p += 4;
                w->has_count = false;
            } else {
                char *end;
                long v = strtol(j.p, &end, 10);
                if (end == j.p || v < INT32_MIN || v > INT32_MAX)
                    return jerr(&j, "count is not a 32-bit integer");
                j.p = end;
                w->has_count = true;
                w->count = (int32_t)v;
            }
        } else {
            return rv_error_set(errp, RV_ERR_DECODE, false, "JSON: unknown field \"%s\"", key);
        }
        ws(&j);
        if (*j.p == ',') {
            j.p++;
            continue;
        }
        if (*j.p != '}') return jerr(&j, "expected ',' or '}'");
    }
    j.p++;
    ws(&j);
    if (*j.p) return jerr(&j, "trailing characters");
    if (!seen_action || !seen_cart)
        return rv_error_set(errp, RV_ERR_DECODE, false, "JSON: \"%s\" is required",
                            seen_action ? "cartId" : "action");
    return RV_OK;
}
