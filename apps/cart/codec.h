/* The wire contract of cart commands: the Avro record ShoppingCartCmd,
 * compatible with the Scala original (raw Avro binary in the Kafka value, no
 * container header), described once for rivulet's declarative codec; and the
 * JSON-lines form `rivulet-cart publish` reads. */
#ifndef RV_CART_CODEC_H
#define RV_CART_CODEC_H

#include "cart.h"
#include "rivulet/avro.h"

extern const rv_avro_type_t cart_wire_cmd_type;

/* A codec for ShoppingCartCmd with the given options (NULL: raw framing).
 * Ownership: the caller destroys it with rv_avro_codec_destroy. */
rv_avro_codec_t *cart_codec_new(const rv_avro_opts_t *opts, rv_error_t **errp);

/* Parses one JSON object such as
 *   {"action":"AddItem","cartId":"…","ownerOrItem":"…","count":2}
 * ("count" may be absent or null) into b. The strings are not checked here
 * (a bad id is the pipeline's dead letter). Errors name the problem and the
 * column. */
rv_err_t cart_wire_from_json(const char *line, cart_wire_buf_t *b, rv_error_t **errp);

#endif
