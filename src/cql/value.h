/* Value codecs (section 6 of the protocol): the encoders behind the
 * rv_cql_bind_* and rv_cql_coll_add_* functions, and the vint of durations. */
#ifndef RV_CQL_VALUE_H
#define RV_CQL_VALUE_H

#include "cql/frame.h"
#include "cql/type.h"
#include "rivulet/cql.h"

/* What a typed bind or add supplies. */
typedef enum rv__cql_in_tag {
    RV__IN_NULL,
    RV__IN_UNSET,
    RV__IN_BOOL,
    RV__IN_INT, /* i, as the integer kind src_kind (tinyint ... bigint, varint) */
    RV__IN_FLOAT,
    RV__IN_DOUBLE,
    RV__IN_TEXT,
    RV__IN_BLOB,
    RV__IN_UUID,
    RV__IN_TIMESTAMP,
    RV__IN_DATE,
    RV__IN_TIME,
    RV__IN_INET,
    RV__IN_VARINT,
    RV__IN_DECIMAL,
    RV__IN_DURATION,
    RV__IN_COLL,
    RV__IN_RAW
} rv__cql_in_tag_t;

typedef struct rv__cql_in {
    rv__cql_in_tag_t tag;
    int src_kind;
    int64_t i;
    double d;
    const void *p;
    size_t n;
    int32_t scale, months, days;
    const rv_cql_coll_t *coll;
} rv__cql_in_t;

/* The name of what an input supplies ("int", "text", "list"...), for messages. */
const char *rv__cql_in_name(const rv__cql_in_t *in);

/* Appends in's serialized form (without a length prefix) to b and sets *len to
 * its length, or to -1 (null) / -2 (unset) with nothing appended. target is the
 * bind marker's type, or NULL when unknown (then the value is encoded as
 * given). On a mismatch returns RV_ERR_INVALID or RV_ERR_OVERFLOW and writes
 * the reason into why; RV_ERR_NOMEM when b ran out of memory. */
rv_err_t rv__cql_value_encode(rv__cql_buf_t *b, const rv__cql_in_t *in, const rv_cql_type_t *target,
                              int32_t *len, char *why, size_t whylen);

/* Cassandra's variable-length integers (durations). */
size_t rv__cql_vint_encode(int64_t v, uint8_t out[9]);
/* Reads one signed vint; false when the input is short. */
bool rv__cql_vint_decode(const uint8_t **p, const uint8_t *end, int64_t *v);

/* A collection builder's content, for the statement code. */
struct rv_cql_coll {
    rv_cql_type_kind_t kind;
    rv__cql_buf_t buf; /* the elements, each as [bytes] */
    size_t n;          /* elements */
    rv_err_t err;      /* first failed add */
};

/* Appends the collection's serialized form (count prefix for list, set, map). */
rv_err_t rv__cql_coll_serialize(const rv_cql_coll_t *c, rv__cql_buf_t *b, char *why, size_t whylen);

#endif
