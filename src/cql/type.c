/* Type trees: decoding [option] (with a depth limit, and allocation bounded by
 * the input: every node consumes at least two input bytes), accessors and CQL
 * formatting. */
#include "cql/type.h"

#include <stdio.h>
#include <string.h>

static const rv_cql_type_t *read_type(rv__cql_rd_t *r, rv__cql_arena_t *a, bool *oom, int depth)
{
    if (depth > RV__CQL_MAX_TYPE_DEPTH) {
        rv__cql_rd_fail(r, "type option (nested too deeply)");
        return NULL;
    }
    uint16_t id = rv__cql_get_u16(r);
    if (r->err) return NULL;
    rv_cql_type_t *t = rv__cql_arena_alloc(a, sizeof(*t));
    if (!t) {
        *oom = true;
        return NULL;
    }
    t->kind = id;
    size_t len;
    const char *s;
    switch (id) {
    case RV_CQL_CUSTOM:
        s = rv__cql_get_string(r, &len);
        if (r->err) return NULL;
        if (!(t->name = rv__cql_arena_strndup(a, s, len))) goto nomem;
        /* Protocol v4 has no duration id: the server sends it as this
         * custom class. It is a duration all the same. */
        if (strcmp(t->name, "org.apache.cassandra.db.marshal.DurationType") == 0)
            t->kind = RV_CQL_DURATION;
        return t;
    case RV_CQL_ASCII:
    case RV_CQL_BIGINT:
    case RV_CQL_BLOB:
    case RV_CQL_BOOLEAN:
    case RV_CQL_COUNTER:
    case RV_CQL_DECIMAL:
    case RV_CQL_DOUBLE:
    case RV_CQL_FLOAT:
    case RV_CQL_INT:
    case RV_CQL_TIMESTAMP:
    case RV_CQL_UUID:
    case RV_CQL_VARCHAR:
    case RV_CQL_VARINT:
    case RV_CQL_TIMEUUID:
    case RV_CQL_INET:
    case RV_CQL_DATE:
    case RV_CQL_TIME:
    case RV_CQL_SMALLINT:
    case RV_CQL_TINYINT:
    case RV_CQL_DURATION:
        return t;
    case RV_CQL_LIST:
    case RV_CQL_SET:
    case RV_CQL_MAP: {
        t->n = id == RV_CQL_MAP ? 2 : 1;
        t->sub = rv__cql_arena_alloc(a, t->n * sizeof(*t->sub));
        if (!t->sub) goto nomem;
        for (size_t i = 0; i < t->n; i++)
            if (!(t->sub[i] = read_type(r, a, oom, depth + 1))) return NULL;
        return t;
    }
    case RV_CQL_UDT:
    case RV_CQL_TUPLE: {
        if (id == RV_CQL_UDT) {
            s = rv__cql_get_string(r, &len);
            if (r->err) return NULL;
            if (!(t->keyspace = rv__cql_arena_strndup(a, s, len))) goto nomem;
            s = rv__cql_get_string(r, &len);
            if (r->err) return NULL;
            if (!(t->name = rv__cql_arena_strndup(a, s, len))) goto nomem;
        }
        uint16_t n = rv__cql_get_u16(r);
        if (r->err) return NULL;
        /* Each field needs at least two bytes (its type id; a UDT field two
         * more for its name): check before allocating. */
        if ((size_t)n * (id == RV_CQL_UDT ? 4 : 2) > rv__cql_rd_left(r)) {
            rv__cql_rd_fail(r, id == RV_CQL_UDT ? "UDT field count" : "tuple field count");
            return NULL;
        }
        t->n = n;
        if (n) {
            t->sub = rv__cql_arena_alloc(a, n * sizeof(*t->sub));
            if (!t->sub) goto nomem;
            if (id == RV_CQL_UDT && !(t->fields = rv__cql_arena_alloc(a, n * sizeof(*t->fields))))
                goto nomem;
        }
        for (size_t i = 0; i < n; i++) {
            if (id == RV_CQL_UDT) {
                s = rv__cql_get_string(r, &len);
                if (r->err) return NULL;
                if (!(t->fields[i] = rv__cql_arena_strndup(a, s, len))) goto nomem;
            }
            if (!(t->sub[i] = read_type(r, a, oom, depth + 1))) return NULL;
        }
        return t;
    }
    default:
        r->p -= 2; /* point the error at the id */
        rv__cql_rd_fail(r, "type option id (unknown)");
        return NULL;
    }
nomem:
    *oom = true;
    return NULL;
}

const rv_cql_type_t *rv__cql_type_read(rv__cql_rd_t *r, rv__cql_arena_t *a, bool *oom)
{
    return read_type(r, a, oom, 0);
}

size_t rv__cql_kind_fixed_size(int kind)
{
    switch (kind) {
    case RV_CQL_BOOLEAN:
    case RV_CQL_TINYINT:
        return 1;
    case RV_CQL_SMALLINT:
        return 2;
    case RV_CQL_INT:
    case RV_CQL_FLOAT:
    case RV_CQL_DATE:
        return 4;
    case RV_CQL_BIGINT:
    case RV_CQL_COUNTER:
    case RV_CQL_DOUBLE:
    case RV_CQL_TIMESTAMP:
    case RV_CQL_TIME:
        return 8;
    case RV_CQL_UUID:
    case RV_CQL_TIMEUUID:
        return 16;
    default:
        return 0;
    }
}

bool rv__cql_kind_is_integer(int kind)
{
    switch (kind) {
    case RV_CQL_TINYINT:
    case RV_CQL_SMALLINT:
    case RV_CQL_INT:
    case RV_CQL_BIGINT:
    case RV_CQL_COUNTER:
    case RV_CQL_VARINT:
        return true;
    default:
        return false;
    }
}

#define SIMPLE(k)                                                                                  \
    {                                                                                              \
        k, 0, NULL, NULL, NULL, NULL                                                               \
    }
static const rv_cql_type_t simple_types[] = {
    SIMPLE(RV_CQL_ASCII),     SIMPLE(RV_CQL_BIGINT),   SIMPLE(RV_CQL_BLOB),
    SIMPLE(RV_CQL_BOOLEAN),   SIMPLE(RV_CQL_COUNTER),  SIMPLE(RV_CQL_DECIMAL),
    SIMPLE(RV_CQL_DOUBLE),    SIMPLE(RV_CQL_FLOAT),    SIMPLE(RV_CQL_INT),
    SIMPLE(RV_CQL_TIMESTAMP), SIMPLE(RV_CQL_UUID),     SIMPLE(RV_CQL_VARCHAR),
    SIMPLE(RV_CQL_VARINT),    SIMPLE(RV_CQL_TIMEUUID), SIMPLE(RV_CQL_INET),
    SIMPLE(RV_CQL_DATE),      SIMPLE(RV_CQL_TIME),     SIMPLE(RV_CQL_SMALLINT),
    SIMPLE(RV_CQL_TINYINT),   SIMPLE(RV_CQL_DURATION),
};

const rv_cql_type_t *rv__cql_type_simple(int kind)
{
    for (size_t i = 0; i < sizeof(simple_types) / sizeof(simple_types[0]); i++)
        if (simple_types[i].kind == kind) return &simple_types[i];
    return NULL;
}

rv_cql_type_kind_t rv_cql_type_kind(const rv_cql_type_t *t)
{
    return t ? (rv_cql_type_kind_t)t->kind : RV_CQL_CUSTOM;
}

size_t rv_cql_type_count(const rv_cql_type_t *t)
{
    return t ? t->n : 0;
}

const rv_cql_type_t *rv_cql_type_sub(const rv_cql_type_t *t, size_t i)
{
    return t && i < t->n ? t->sub[i] : NULL;
}

const char *rv_cql_type_field_name(const rv_cql_type_t *t, size_t i)
{
    return t && t->fields && i < t->n ? t->fields[i] : NULL;
}

const char *rv_cql_type_name(const rv_cql_type_t *t)
{
    return t ? t->name : NULL;
}

const char *rv_cql_type_keyspace(const rv_cql_type_t *t)
{
    return t ? t->keyspace : NULL;
}

const char *rv_cql_type_kind_name(rv_cql_type_kind_t k)
{
    switch (k) {
    case RV_CQL_CUSTOM:
        return "custom";
    case RV_CQL_ASCII:
        return "ascii";
    case RV_CQL_BIGINT:
        return "bigint";
    case RV_CQL_BLOB:
        return "blob";
    case RV_CQL_BOOLEAN:
        return "boolean";
    case RV_CQL_COUNTER:
        return "counter";
    case RV_CQL_DECIMAL:
        return "decimal";
    case RV_CQL_DOUBLE:
        return "double";
    case RV_CQL_FLOAT:
        return "float";
    case RV_CQL_INT:
        return "int";
    case RV_CQL_TIMESTAMP:
        return "timestamp";
    case RV_CQL_UUID:
        return "uuid";
    case RV_CQL_VARCHAR:
        return "text";
    case RV_CQL_VARINT:
        return "varint";
    case RV_CQL_TIMEUUID:
        return "timeuuid";
    case RV_CQL_INET:
        return "inet";
    case RV_CQL_DATE:
        return "date";
    case RV_CQL_TIME:
        return "time";
    case RV_CQL_SMALLINT:
        return "smallint";
    case RV_CQL_TINYINT:
        return "tinyint";
    case RV_CQL_DURATION:
        return "duration";
    case RV_CQL_LIST:
        return "list";
    case RV_CQL_MAP:
        return "map";
    case RV_CQL_SET:
        return "set";
    case RV_CQL_UDT:
        return "udt";
    case RV_CQL_TUPLE:
        return "tuple";
    }
    return "unknown";
}

typedef struct out {
    char *buf;
    size_t size, len;
} out_t;

static void emit(out_t *o, const char *s)
{
    size_t n = strlen(s);
    if (o->len < o->size) {
        size_t room = o->size - o->len - 1;
        memcpy(o->buf + o->len, s, n < room ? n : room);
        o->buf[o->len + (n < room ? n : room)] = '\0';
    }
    o->len += n;
}

static void format_type(out_t *o, const rv_cql_type_t *t)
{
    if (!t) {
        emit(o, "?");
        return;
    }
    switch (t->kind) {
    case RV_CQL_CUSTOM:
        emit(o, "'");
        emit(o, t->name ? t->name : "");
        emit(o, "'");
        return;
    case RV_CQL_UDT:
        if (t->keyspace && *t->keyspace) {
            emit(o, t->keyspace);
            emit(o, ".");
        }
        emit(o, t->name ? t->name : "");
        return;
    case RV_CQL_LIST:
    case RV_CQL_SET:
    case RV_CQL_MAP:
    case RV_CQL_TUPLE:
        emit(o, rv_cql_type_kind_name((rv_cql_type_kind_t)t->kind));
        emit(o, "<");
        for (size_t i = 0; i < t->n; i++) {
            if (i) emit(o, ", ");
            format_type(o, t->sub[i]);
        }
        emit(o, ">");
        return;
    default:
        emit(o, rv_cql_type_kind_name((rv_cql_type_kind_t)t->kind));
    }
}

size_t rv_cql_type_format(const rv_cql_type_t *t, char *buf, size_t size)
{
    out_t o = {buf, size, 0};
    if (size) buf[0] = '\0';
    format_type(&o, t);
    return o.len;
}
