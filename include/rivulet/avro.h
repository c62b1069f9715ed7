/* rivulet — Avro on the wire: a declarative struct codec, a schema-plus-function
 * codec on avro-c, the two framings, schema evolution, and the stream stages.
 *
 * FLAVOUR 1 — DECLARATIVE (rv_avro_codec_t)
 *   Describe a struct once, as a table of fields; from that one description the
 *   codec derives the Avro schema JSON, an encoder and a decoder that move bytes
 *   straight to and from the struct (no generic value tree in between).
 *
 *     typedef struct cart_cmd {
 *         char *action;          // string
 *         char cart_id[37];      // string, logicalType uuid
 *         char owner_or_item[37];
 *         bool has_count;        // presence of the optional field below
 *         int32_t count;         // union [null, int]
 *     } cart_cmd_t;
 *
 *     static const rv_avro_field_t cart_cmd_fields[] = {
 *         RV_AVRO_FIELD_AS(cart_cmd_t, action, "action", &rv_avro_string),
 *         RV_AVRO_FIELD_AS(cart_cmd_t, cart_id, "cartId", &rv_avro_uuid),
 *         RV_AVRO_FIELD_AS(cart_cmd_t, owner_or_item, "ownerOrItem", &rv_avro_uuid),
 *         RV_AVRO_OPTIONAL_AS(cart_cmd_t, count, "count", has_count, &rv_avro_int),
 *     };
 *     static const rv_avro_type_t cart_cmd_type =
 *         RV_AVRO_RECORD_TYPE(cart_cmd_t, "ShoppingCartCmd", "rivulet.cart", cart_cmd_fields);
 *
 *   C representation of each Avro type (the member the row points at):
 *     boolean            bool
 *     int                int32_t
 *     long               int64_t
 *     float / double     float / double
 *     string             char *: NUL-terminated, valid UTF-8. Avro allows U+0000
 *                        inside a string, a C string cannot hold it: such input is
 *                        rejected with RV_ERR_DECODE naming the field.
 *     bytes              rv_avro_bytes_t {data, len}
 *     enum               int (or a C enum of int size): the symbol's index
 *     fixed              uint8_t[size], inline
 *     uuid               char[RV_AVRO_UUID_LEN]: "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"
 *                        (Avro string with logicalType uuid; checked both ways)
 *     timestamp-millis   int64_t milliseconds since the Unix epoch (Avro long)
 *     array              rv_avro_array_t {items, n}: items[i] has the item's C type
 *     map                rv_avro_map_t {keys, values, n}: keys[i] is a char *,
 *                        values has the value's C type, in wire order
 *     record             the nested struct itself, inline
 *   Optional fields are the Avro union ["null", T] with default null. Presence is
 *   a `bool` member named in the row (RV_AVRO_OPTIONAL): false means null. A
 *   string or bytes field may instead use RV_AVRO_OPTIONAL_PTR: a NULL pointer
 *   (bytes: data == NULL) means null. Other unions are not supported by the
 *   declarative codec (use flavour 2), though they are understood in a writer's
 *   schema when resolving (see evolution).
 *
 *   Memory of decoded values (the ownership rule): every string, bytes, array
 *   and map the decoder makes lives in an arena, never in separate malloc
 *   blocks. rv_avro_decode() takes a caller's arena (reset it between messages,
 *   or keep one per message); rv_avro_decode_new() returns a heap object that
 *   carries its own arena, freed in one call with rv_avro_obj_free(). The
 *   encoder only reads the struct.
 *
 * FLAVOUR 2 — YOUR SCHEMA, YOUR FUNCTION (rv_avro_generic_t)
 *   Give a schema (JSON text or a file) and two functions that map avro-c's
 *   generic value (avro_value_t) to your object and back. rivulet reads and
 *   writes the bytes, owns the buffers, checks the input before avro-c sees it,
 *   and reports errors.
 *
 * BOTH FLAVOURS
 *   Framing (rv_avro_opts_t.framing): RV_AVRO_FRAMING_RAW is plain Avro binary,
 *   no container header (the Scala original's Kafka values; the default).
 *   RV_AVRO_FRAMING_CONFLUENT is magic byte 0, a 4-byte big-endian schema id,
 *   then the binary. rivulet has no schema-registry client: ids are mapped to
 *   writer schemas with *_add_writer_schema().
 *
 *   Evolution: bytes written with another writer schema are read into the
 *   reader's struct by Avro's resolution rules: writer fields the reader lacks
 *   are skipped, reader fields the writer lacks take the reader's default (a
 *   field with neither is an error when the writer schema is added), int is
 *   promoted to long, float or double, long to float or double, float to
 *   double, string and bytes convert, enum symbols map by name, unions resolve
 *   by branch. Record, enum and fixed names are not compared (a writer in
 *   another language often has another namespace, and raw binary carries
 *   none); fields and enum symbols match by name; aliases are not supported.
 *   The declarative codec does this itself (a resolving decoder
 *   driven by the writer schema); flavour 2 uses avro-c's resolved reader,
 *   which in avro-c 1.11 cannot fill a reader field from its default (it
 *   crashes), so flavour 2 refuses such a writer schema with
 *   RV_ERR_UNSUPPORTED when it is added; every other rule above works there.
 *
 *   Bad input never crashes and never reads past the buffer: truncated data,
 *   a length longer than the remaining bytes, negative lengths, union or enum
 *   indexes out of range, invalid UTF-8, over-long varints, nesting deeper than
 *   max_depth and trailing bytes are RV_ERR_DECODE errors whose message names
 *   the field path and the byte offset, e.g.
 *   "ShoppingCartCmd.count: union branch 5 out of range [0,1] at byte 82".
 *   Nothing is allocated before the bytes it stands for are known to be there:
 *   a count of array or map items is checked against the fewest bytes that
 *   many items need, so an allocation is at most the item's C size times the
 *   input length. Items that take no bytes at all (null, an empty record) are
 *   limited to the input length plus 4096 per message.
 *
 * Threads: a codec is built and given its writer schemas on one thread; after
 *   that rv_avro_decode/encode of a declarative codec may run on any number of
 *   threads at once. A flavour-2 codec keeps reusable avro-c values inside, so
 *   it is used by one thread at a time (one per graph).
 */
#ifndef RIVULET_AVRO_H
#define RIVULET_AVRO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <avro.h>

#include "rivulet/conf.h"
#include "rivulet/error.h"
#include "rivulet/stage.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ============================================================ plain data */

/* Bytes: the C form of Avro `bytes`, and the payload the serializer emits and
 * the deserializer reads by default. */
typedef struct rv_avro_bytes {
    uint8_t *data;
    size_t len;
} rv_avro_bytes_t;

/* A new rv_avro_bytes_t holding a copy of data[0..len) in the same allocation.
 * Ownership: the caller owns it; free with rv_avro_bytes_free (or free()).
 * NULL when out of memory. */
rv_avro_bytes_t *rv_avro_bytes_new(const void *data, size_t len);
void rv_avro_bytes_free(void *bytes);

typedef struct rv_avro_array {
    void *items; /* n items of the item type's C representation */
    size_t n;
} rv_avro_array_t;

typedef struct rv_avro_map {
    char **keys;  /* n keys, NUL-terminated UTF-8 */
    void *values; /* n values of the value type's C representation */
    size_t n;
} rv_avro_map_t;

/* 36 characters and the NUL. */
#define RV_AVRO_UUID_LEN 37

/* A growable output buffer: encoders append to it.
 * Ownership: the buffer owns data; free with rv_avro_buf_free. A zeroed struct
 * is an empty buffer. */
typedef struct rv_avro_buf {
    uint8_t *data;
    size_t len, cap;
} rv_avro_buf_t;
void rv_avro_buf_free(rv_avro_buf_t *b);
/* Makes room for n more bytes. */
rv_err_t rv_avro_buf_reserve(rv_avro_buf_t *b, size_t n);

/* A bump allocator for decoded strings, bytes, arrays and maps.
 * Ownership: the caller owns it; memory handed out lives until reset or destroy. */
typedef struct rv_avro_arena rv_avro_arena_t;
rv_avro_arena_t *rv_avro_arena_new(void);
/* Forgets every allocation but keeps the first block for reuse. */
void rv_avro_arena_reset(rv_avro_arena_t *a);
/* NULL is a no-op. */
void rv_avro_arena_destroy(rv_avro_arena_t *a);
/* n bytes aligned for any type; NULL when out of memory. Memory: the arena's. */
void *rv_avro_arena_alloc(rv_avro_arena_t *a, size_t n);
/* Bytes handed out since the last reset (for tests). */
size_t rv_avro_arena_used(const rv_avro_arena_t *a);

/* ================================================= flavour 1: description */

typedef enum rv_avro_kind {
    RV_AVRO_BOOLEAN = 1,
    RV_AVRO_INT,
    RV_AVRO_LONG,
    RV_AVRO_FLOAT,
    RV_AVRO_DOUBLE,
    RV_AVRO_STRING,
    RV_AVRO_BYTES,
    RV_AVRO_ENUM,
    RV_AVRO_FIXED,
    RV_AVRO_UUID,
    RV_AVRO_TIMESTAMP_MILLIS,
    RV_AVRO_ARRAY,
    RV_AVRO_MAP,
    RV_AVRO_RECORD
} rv_avro_kind_t;

typedef struct rv_avro_type rv_avro_type_t;
typedef struct rv_avro_field rv_avro_field_t;

/* One Avro type. Scalars have ready-made constants (rv_avro_int, ...); the
 * others are written with the RV_AVRO_*_TYPE macros below. Descriptions are
 * static data the codec borrows: they must outlive it. */
struct rv_avro_type {
    rv_avro_kind_t kind;
    const char *name;           /* ENUM, FIXED, RECORD: the Avro name (required) */
    const char *space;          /* ENUM, FIXED, RECORD: namespace, or NULL */
    const char *doc;            /* optional */
    const char *const *symbols; /* ENUM */
    size_t nsymbols;
    size_t fixed_size;             /* FIXED */
    const rv_avro_type_t *items;   /* ARRAY: the items; MAP: the values */
    const rv_avro_field_t *fields; /* RECORD */
    size_t nfields;
    size_t c_size; /* RECORD: sizeof the struct */
};

#define RV_AVRO_NO_FLAG ((size_t)-1)

/* One field of a record: where it lives in the struct and how it looks on the wire. */
struct rv_avro_field {
    const char *name; /* the Avro field name */
    const rv_avro_type_t *type;
    size_t offset;     /* offsetof the member */
    size_t size;       /* sizeof the member (checked against the type) */
    bool optional;     /* union ["null", type] */
    size_t has_offset; /* offsetof the bool presence member, or RV_AVRO_NO_FLAG */
    const char *dflt;  /* the default as JSON text, or NULL (optional: null) */
    const char *doc;   /* optional */
};

extern const rv_avro_type_t rv_avro_boolean, rv_avro_int, rv_avro_long, rv_avro_float,
    rv_avro_double, rv_avro_string, rv_avro_bytes, rv_avro_uuid, rv_avro_timestamp_millis;

#define RV__AVRO_MSIZE(T, m) sizeof(((T *)0)->m)

/* A field whose Avro name is the member's name. */
#define RV_AVRO_FIELD(T, m, ty) RV_AVRO_FIELD_AS(T, m, #m, ty)
/* A field with its own Avro name. */
#define RV_AVRO_FIELD_AS(T, m, avro_name, ty)                                                      \
    {                                                                                              \
        .name = (avro_name), .type = (ty), .offset = offsetof(T, m), .size = RV__AVRO_MSIZE(T, m), \
        .optional = false, .has_offset = RV_AVRO_NO_FLAG, .dflt = NULL, .doc = NULL                \
    }
/* A field with a default (JSON text), used when a writer's schema lacks it. */
#define RV_AVRO_FIELD_DEFAULT(T, m, avro_name, ty, json)                                           \
    {                                                                                              \
        .name = (avro_name), .type = (ty), .offset = offsetof(T, m), .size = RV__AVRO_MSIZE(T, m), \
        .optional = false, .has_offset = RV_AVRO_NO_FLAG, .dflt = (json), .doc = NULL              \
    }
/* An optional field (["null", type], default null) with a bool presence member. */
#define RV_AVRO_OPTIONAL(T, m, has, ty) RV_AVRO_OPTIONAL_AS(T, m, #m, has, ty)
#define RV_AVRO_OPTIONAL_AS(T, m, avro_name, has, ty)                                              \
    {                                                                                              \
        .name = (avro_name), .type = (ty), .offset = offsetof(T, m), .size = RV__AVRO_MSIZE(T, m), \
        .optional = true, .has_offset = offsetof(T, has), .dflt = NULL, .doc = NULL                \
    }
/* An optional string or bytes field whose NULL pointer means null. */
#define RV_AVRO_OPTIONAL_PTR(T, m, avro_name, ty)                                                  \
    {                                                                                              \
        .name = (avro_name), .type = (ty), .offset = offsetof(T, m), .size = RV__AVRO_MSIZE(T, m), \
        .optional = true, .has_offset = RV_AVRO_NO_FLAG, .dflt = NULL, .doc = NULL                 \
    }

#define RV__AVRO_NELEMS(a) (sizeof(a) / sizeof((a)[0]))
#define RV_AVRO_RECORD_TYPE(T, avro_name, ns, field_array)                                         \
    {                                                                                              \
        .kind = RV_AVRO_RECORD, .name = (avro_name), .space = (ns), .fields = (field_array),       \
        .nfields = RV__AVRO_NELEMS(field_array), .c_size = sizeof(T)                               \
    }
#define RV_AVRO_ENUM_TYPE(avro_name, ns, symbol_array)                                             \
    {                                                                                              \
        .kind = RV_AVRO_ENUM, .name = (avro_name), .space = (ns), .symbols = (symbol_array),       \
        .nsymbols = RV__AVRO_NELEMS(symbol_array)                                                  \
    }
#define RV_AVRO_FIXED_TYPE(avro_name, ns, n)                                                       \
    {                                                                                              \
        .kind = RV_AVRO_FIXED, .name = (avro_name), .space = (ns), .fixed_size = (n)               \
    }
#define RV_AVRO_ARRAY_TYPE(item_type)                                                              \
    {                                                                                              \
        .kind = RV_AVRO_ARRAY, .items = (item_type)                                                \
    }
#define RV_AVRO_MAP_TYPE(value_type)                                                               \
    {                                                                                              \
        .kind = RV_AVRO_MAP, .items = (value_type)                                                 \
    }

/* The Avro schema JSON of a record description, or NULL after setting *errp
 * (RV_ERR_INVALID naming the bad row). Ownership: the caller frees it with free(). */
char *rv_avro_schema_json(const rv_avro_type_t *record, rv_error_t **errp);

/* ================================================================= options */

typedef enum rv_avro_framing {
    RV_AVRO_FRAMING_RAW = 0,      /* plain Avro binary (the default) */
    RV_AVRO_FRAMING_CONFLUENT = 1 /* 0x00, 4-byte big-endian schema id, binary */
} rv_avro_framing_t;

/* Options shared by both flavours; a zeroed struct (or NULL) means the defaults. */
typedef struct rv_avro_opts {
    rv_avro_framing_t framing;
    int32_t schema_id; /* CONFLUENT: the id the encoder writes and the reader's own id */
    int max_depth;     /* nesting limit while decoding; 0 means 64 */
} rv_avro_opts_t;

/* The "avro.*" configuration table: avro.framing (raw|confluent),
 * avro.schema.id, avro.max.depth, avro.on.error (fail|skip|dead-letter; see
 * rv_avro_deser_opts_from_conf). */
const rv_conf_table_t *rv_avro_conf(void);
/* Fills opts from conf (NULL: defaults); conf should have passed rv_conf_check. */
void rv_avro_opts_from_conf(const rv_conf_t *conf, rv_avro_opts_t *opts);

/* ======================================================= flavour 1: codec */

typedef struct rv_avro_codec rv_avro_codec_t;

/* A codec for a record description. The schema JSON is generated and parsed
 * back with avro-c (so a description avro-c rejects is rejected here).
 * Ownership: the caller owns the codec; record (and what it points to) is
 * borrowed and must outlive the codec; opts is copied (NULL: defaults). */
rv_avro_codec_t *rv_avro_codec_new(const rv_avro_type_t *record, const rv_avro_opts_t *opts,
                                   rv_error_t **errp);
/* NULL is a no-op. */
void rv_avro_codec_destroy(rv_avro_codec_t *c);

/* The reader's (own) schema. Memory: owned by the codec. */
const char *rv_avro_codec_schema_json(const rv_avro_codec_t *c);
avro_schema_t rv_avro_codec_schema(const rv_avro_codec_t *c);
const rv_avro_type_t *rv_avro_codec_type(const rv_avro_codec_t *c);
const rv_avro_opts_t *rv_avro_codec_opts(const rv_avro_codec_t *c);

/* RAW framing: every input was written with this writer schema (instead of the
 * codec's own). Resolution is checked now: an incompatible schema is an error.
 * json is copied. Not thread-safe against concurrent decodes. */
rv_err_t rv_avro_codec_set_writer_schema(rv_avro_codec_t *c, const char *json, rv_error_t **errp);
/* CONFLUENT framing: input carrying schema id `id` was written with `json`.
 * The codec's own id needs no registration. */
rv_err_t rv_avro_codec_add_writer_schema(rv_avro_codec_t *c, int32_t id, const char *json,
                                         rv_error_t **errp);

/* Encodes *obj with the codec's framing, appending to out. A value that cannot
 * be encoded (invalid UTF-8, a malformed uuid, an enum index out of range, a
 * NULL non-optional string) is RV_ERR_ENCODE naming the field; out's length is
 * then unchanged. Ownership: obj is read only. */
rv_err_t rv_avro_encode(const rv_avro_codec_t *c, const void *obj, rv_avro_buf_t *out,
                        rv_error_t **errp);

/* Decodes one message into *obj (c_size bytes, fully overwritten). Strings,
 * bytes, arrays and maps are allocated from arena (required); on error *obj is
 * zeroed and the arena may hold garbage from this call (reset it).
 * Ownership: data is only read; obj's pointers point into arena. */
rv_err_t rv_avro_decode(const rv_avro_codec_t *c, const void *data, size_t len, void *obj,
                        rv_avro_arena_t *arena, rv_error_t **errp);

/* Decodes one message into a new heap object carrying its own arena.
 * Ownership: the caller owns the result and frees it (and everything it points
 * to) with rv_avro_obj_free(). NULL on error. */
void *rv_avro_decode_new(const rv_avro_codec_t *c, const void *data, size_t len, rv_error_t **errp);
/* Frees an object from rv_avro_decode_new. NULL is a no-op. Usable as rv_free_fn. */
void rv_avro_obj_free(void *obj);

/* Deep equality of two structs of the description (strings by content, floats
 * by bits, optional fields by presence). For tests and checks. */
bool rv_avro_equal(const rv_avro_type_t *record, const void *a, const void *b);

/* ================================================ flavour 2: your function */

typedef struct rv_avro_generic rv_avro_generic_t;

/* Maps a decoded value (reader schema) to a new object.
 * Ownership: *out passes to the caller of rv_avro_generic_decode (freed with
 * the definition's free_obj); value is borrowed for the call. */
typedef rv_err_t (*rv_avro_read_fn)(rv_avro_generic_t *gen, avro_value_t *value, void **out,
                                    rv_error_t **errp, void *opaque);
/* Fills value (a fresh, reset value of the schema) from obj. */
typedef rv_err_t (*rv_avro_write_fn)(rv_avro_generic_t *gen, const void *obj, avro_value_t *value,
                                     rv_error_t **errp, void *opaque);

typedef struct rv_avro_generic_def {
    const char *schema_json; /* the schema as JSON text, or NULL and: */
    const char *schema_path; /* a file holding it */
    rv_avro_read_fn read;    /* may be NULL for an encode-only codec */
    rv_avro_write_fn write;  /* may be NULL for a decode-only codec */
    rv_free_fn free_obj;     /* frees what read returns */
    void *opaque;
} rv_avro_generic_def_t;

/* Ownership: the caller owns the result; def and opts are copied (the JSON
 * too; opaque stays the caller's). */
rv_avro_generic_t *rv_avro_generic_new(const rv_avro_generic_def_t *def, const rv_avro_opts_t *opts,
                                       rv_error_t **errp);
void rv_avro_generic_destroy(rv_avro_generic_t *g);
/* Memory: owned by g. */
avro_schema_t rv_avro_generic_schema(const rv_avro_generic_t *g);
const char *rv_avro_generic_schema_json(const rv_avro_generic_t *g);
rv_free_fn rv_avro_generic_free_fn(const rv_avro_generic_t *g);

rv_err_t rv_avro_generic_set_writer_schema(rv_avro_generic_t *g, const char *json,
                                           rv_error_t **errp);
rv_err_t rv_avro_generic_add_writer_schema(rv_avro_generic_t *g, int32_t id, const char *json,
                                           rv_error_t **errp);

/* Decodes one message: checks the bytes against the writer schema, reads them
 * with avro-c, and calls def->read. Ownership: *out is the caller's. */
rv_err_t rv_avro_generic_decode(rv_avro_generic_t *g, const void *data, size_t len, void **out,
                                rv_error_t **errp);
/* Calls def->write and appends the framed bytes to out. */
rv_err_t rv_avro_generic_encode(rv_avro_generic_t *g, const void *obj, rv_avro_buf_t *out,
                                rv_error_t **errp);

/* ================================================================ framing */

/* Appends the Confluent header (0x00 and id, big-endian). */
rv_err_t rv_avro_frame_confluent(rv_avro_buf_t *out, int32_t id);
/* Parses a Confluent header: on success *id and *body_off are set (5). A short
 * buffer or a wrong magic byte is RV_ERR_DECODE. */
rv_err_t rv_avro_unframe_confluent(const void *data, size_t len, int32_t *id, size_t *body_off,
                                   rv_error_t **errp);

/* ================================================================= stages */

/* Reads the Avro bytes of an element's payload: returns a pointer to them and
 * sets *len, or NULL when the payload holds none (a reject). Memory: borrowed
 * from the payload. */
typedef const void *(*rv_avro_get_bytes_fn)(void *payload, size_t *len, void *opaque);
/* The default getter: the payload is an rv_avro_bytes_t *. */
const void *rv_avro_get_bytes(void *payload, size_t *len, void *opaque);

typedef struct rv_avro_deser_opts {
    rv_avro_get_bytes_fn get; /* NULL: rv_avro_get_bytes */
    void *get_opaque;
    /* true: two outputs, port 0 the decoded objects, port 1 the rejects: an
     * envelope derived from the input whose payload is the rv_error_t * reason
     * (rv_env_meta gives the original record; the dead-letter sink acks it).
     * false: one output; an undecodable record goes to the stage's decider
     * (rv_stage_set_decider): RV_STOP (default) fails the stream, RV_RESUME
     * drops the record as failed (never acked), RV_RETRY decodes again. */
    bool dead_letter;
    /* false with dead_letter false: installs rv_decider_resume on the stage, so
     * undecodable records are dropped as failed (never acked) instead of
     * failing the stream. A decider set later replaces it. */
    bool skip_bad;
} rv_avro_deser_opts_t;

/* Fills the stage options from "avro.on.error": fail (the default), skip
 * (skip_bad) or dead-letter (dead_letter). The getter is left unset. */
void rv_avro_deser_opts_from_conf(const rv_conf_t *conf, rv_avro_deser_opts_t *opts);

/* AvroDeserializer: bytes -> a decoded object (rv_avro_decode_new; payload
 * freed with rv_avro_obj_free). Ownership: codec is borrowed and must outlive
 * the graph; opts copied (NULL: defaults). */
rv_stage_t *rv_avro_deserializer(rv_graph_t *g, const rv_avro_codec_t *codec,
                                 const rv_avro_deser_opts_t *opts);
/* As above with flavour 2 (payload freed with the definition's free_obj). */
rv_stage_t *rv_avro_generic_deserializer(rv_graph_t *g, rv_avro_generic_t *gen,
                                         const rv_avro_deser_opts_t *opts);

/* AvroSerializer: an object -> rv_avro_bytes_t * (freed with rv_avro_bytes_free).
 * An encoding error goes to the stage's decider. Ownership: codec borrowed. */
rv_stage_t *rv_avro_serializer(rv_graph_t *g, const rv_avro_codec_t *codec);
rv_stage_t *rv_avro_generic_serializer(rv_graph_t *g, rv_avro_generic_t *gen);

#ifdef __cplusplus
}
#endif
#endif
