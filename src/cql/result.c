/* RESULT bodies: Void, Rows (metadata, cells, paging state), Set_keyspace,
 * Prepared (bind markers, partition key indexes, result metadata) and
 * Schema_change; and the public accessors of rv_cql_result_t.
 *
 * Every count read from the input is checked against the bytes left before
 * anything is allocated for it: a column spec takes at least 4 bytes, a cell
 * 4 bytes, a partition-key index 2 bytes. */
#include "cql/result.h"

#include <stdlib.h>
#include <string.h>

rv_err_t rv__cql_body_prefix(uint8_t flags, const uint8_t *body, size_t len, size_t *off,
                             const uint8_t **warn, size_t *warn_len, rv_error_t **errp)
{
    rv__cql_rd_t r;
    rv__cql_rd_init(&r, body, len);
    *warn = NULL;
    *warn_len = 0;
    if (flags & RV__CQL_FLAG_TRACING) rv__cql_get_raw(&r, 16, "tracing id");
    if (flags & RV__CQL_FLAG_WARNING) {
        const uint8_t *w = r.p;
        rv__cql_skip_string_list(&r);
        if (!r.err) {
            *warn = w;
            *warn_len = (size_t)(r.p - w);
        }
    }
    if (flags & RV__CQL_FLAG_CUSTOM_PAYLOAD) rv__cql_skip_bytes_map(&r);
    *off = rv__cql_rd_off(&r);
    return rv__cql_rd_check(&r, "frame body prefix", errp);
}

static char *dup_string(rv__cql_rd_t *r, rv__cql_arena_t *a, bool *oom)
{
    size_t n;
    const char *s = rv__cql_get_string(r, &n);
    if (r->err) return NULL;
    char *d = rv__cql_arena_strndup(a, s, n);
    if (!d) *oom = true;
    return d;
}

/* Reads column specs (with or without a global table spec) into cols[0..n). */
static void read_col_specs(rv__cql_rd_t *r, rv__cql_arena_t *a, uint32_t flags, size_t n,
                           rv__cql_col_t **out, bool *oom)
{
    const char *gks = NULL, *gtable = NULL;
    if (flags & RV__CQL_META_GLOBAL_SPEC) {
        gks = dup_string(r, a, oom);
        gtable = dup_string(r, a, oom);
    }
    if (r->err || *oom) return;
    if (n > rv__cql_rd_left(r) / 4) {
        rv__cql_rd_fail(r, "column count (more columns than bytes)");
        return;
    }
    rv__cql_col_t *cols = n ? rv__cql_arena_alloc(a, n * sizeof(*cols)) : NULL;
    if (n && !cols) {
        *oom = true;
        return;
    }
    for (size_t i = 0; i < n && !r->err && !*oom; i++) {
        if (flags & RV__CQL_META_GLOBAL_SPEC) {
            cols[i].ks = gks;
            cols[i].table = gtable;
        } else {
            cols[i].ks = dup_string(r, a, oom);
            cols[i].table = dup_string(r, a, oom);
        }
        cols[i].name = dup_string(r, a, oom);
        if (r->err || *oom) break;
        cols[i].type = rv__cql_type_read(r, a, oom);
    }
    *out = cols;
}

/* <flags><columns_count>[<paging_state>][<global_table_spec>?<col_spec_1>...] */
static void read_rows_metadata(rv__cql_rd_t *r, rv_cql_result_t *res, bool *oom)
{
    uint32_t flags = (uint32_t)rv__cql_get_i32(r);
    int32_t ncols = rv__cql_get_i32(r);
    if (r->err) return;
    if (ncols < 0) {
        rv__cql_rd_fail(r, "column count (negative)");
        return;
    }
    /* Without column specs nothing bounds the count by the input's size; no
     * real table comes near this. */
    if ((flags & RV__CQL_META_NO_METADATA) && ncols > 65535) {
        rv__cql_rd_fail(r, "column count (over 65535 without metadata)");
        return;
    }
    res->meta_flags = flags;
    res->ncols = (size_t)ncols;
    if (flags & RV__CQL_META_HAS_MORE) {
        const uint8_t *p;
        int32_t n = rv__cql_get_bytes(r, &p);
        res->has_more = true;
        if (n >= 0) {
            res->paging = p;
            res->paging_len = (size_t)n;
        }
    }
    if (!(flags & RV__CQL_META_NO_METADATA))
        read_col_specs(r, &res->arena, flags, res->ncols, &res->cols, oom);
}

static void read_rows(rv__cql_rd_t *r, rv_cql_result_t *res, bool *oom)
{
    read_rows_metadata(r, res, oom);
    int32_t nrows = rv__cql_get_i32(r);
    if (r->err || *oom) return;
    if (nrows < 0) {
        rv__cql_rd_fail(r, "row count (negative)");
        return;
    }
    uint64_t ncells = (uint64_t)nrows * res->ncols;
    /* Rows without columns take no bytes, so nothing would bound their count. */
    if (nrows > 0 && res->ncols == 0) {
        rv__cql_rd_fail(r, "row count (rows without columns)");
        return;
    }
    if (ncells > rv__cql_rd_left(r) / 4) {
        rv__cql_rd_fail(r, "row count (more cells than bytes)");
        return;
    }
    res->nrows = (size_t)nrows;
    if (ncells == 0) return;
    res->cells = malloc((size_t)ncells * sizeof(*res->cells));
    if (!res->cells) {
        *oom = true;
        return;
    }
    for (size_t i = 0; i < ncells; i++) {
        const uint8_t *p;
        int32_t n = rv__cql_get_bytes(r, &p);
        if (r->err) return;
        res->cells[i].len = n;
        res->cells[i].off = p ? (uint32_t)(p - r->base) : 0;
    }
}

static void read_prepared(rv__cql_rd_t *r, rv_cql_result_t *res, bool *oom)
{
    res->prep_id = rv__cql_get_short_bytes(r, &res->prep_id_len);
    uint32_t flags = (uint32_t)rv__cql_get_i32(r);
    int32_t nbind = rv__cql_get_i32(r);
    int32_t npk = rv__cql_get_i32(r);
    if (r->err) return;
    if (nbind < 0 || npk < 0 || (size_t)npk > rv__cql_rd_left(r) / 2) {
        rv__cql_rd_fail(r, "prepared metadata counts");
        return;
    }
    res->npk = (size_t)npk;
    if (npk) {
        res->pk = rv__cql_arena_alloc(&res->arena, res->npk * sizeof(*res->pk));
        if (!res->pk) {
            *oom = true;
            return;
        }
        for (size_t i = 0; i < res->npk; i++) {
            res->pk[i] = rv__cql_get_u16(r);
            if (res->pk[i] >= (uint32_t)nbind) {
                rv__cql_rd_fail(r, "partition key index (beyond the bind markers)");
                return;
            }
        }
    }
    res->nbind = (size_t)nbind;
    read_col_specs(r, &res->arena, flags, res->nbind, &res->bind, oom);
    if (r->err || *oom) return;
    read_rows_metadata(r, res, oom);
}

static void read_schema_change(rv__cql_rd_t *r, rv_cql_result_t *res, bool *oom)
{
    res->change = dup_string(r, &res->arena, oom);
    res->target = dup_string(r, &res->arena, oom);
    if (r->err || *oom) return;
    res->keyspace = dup_string(r, &res->arena, oom);
    if (strcmp(res->target, "KEYSPACE") != 0) res->name = dup_string(r, &res->arena, oom);
    if (!strcmp(res->target, "FUNCTION") || !strcmp(res->target, "AGGREGATE"))
        rv__cql_skip_string_list(r);
}

static void read_warnings(rv_cql_result_t *res, const uint8_t *warn, size_t warn_len, bool *oom)
{
    rv__cql_rd_t r;
    rv__cql_rd_init(&r, warn, warn_len);
    size_t n = rv__cql_get_u16(&r);
    if (!n || n > warn_len / 2) return;
    res->warn = rv__cql_arena_alloc(&res->arena, n * sizeof(*res->warn));
    if (!res->warn) {
        *oom = true;
        return;
    }
    for (size_t i = 0; i < n && !r.err && !*oom; i++) {
        char *w = dup_string(&r, &res->arena, oom);
        if (w) res->warn[res->nwarn++] = w;
    }
}

rv_err_t rv__cql_result_decode(uint8_t *body, size_t len, size_t off, const uint8_t *warn,
                               size_t warn_len, rv_cql_result_t **out, rv_error_t **errp)
{
    *out = NULL;
    rv_cql_result_t *res = calloc(1, sizeof(*res));
    if (!res) {
        free(body);
        return rv_error_set(errp, RV_ERR_NOMEM, true, "out of memory decoding a RESULT");
    }
    res->body = body;
    res->body_len = len;
    rv__cql_rd_t r;
    rv__cql_rd_init(&r, body, len);
    rv__cql_get_raw(&r, off, "frame body prefix");
    int32_t kind = rv__cql_get_i32(&r);
    bool oom = false;
    if (!r.err) {
        switch (kind) {
        case RV_CQL_RESULT_VOID:
            break;
        case RV_CQL_RESULT_ROWS:
            read_rows(&r, res, &oom);
            break;
        case RV_CQL_RESULT_SET_KEYSPACE:
            res->keyspace = dup_string(&r, &res->arena, &oom);
            break;
        case RV_CQL_RESULT_PREPARED:
            read_prepared(&r, res, &oom);
            break;
        case RV_CQL_RESULT_SCHEMA_CHANGE:
            read_schema_change(&r, res, &oom);
            break;
        default:
            r.p -= 4;
            rv__cql_rd_fail(&r, "RESULT kind (unknown)");
            break;
        }
    }
    res->kind = (rv_cql_result_kind_t)kind;
    if (warn && !r.err && !oom) read_warnings(res, warn, warn_len, &oom);
    rv_err_t e = rv__cql_rd_check(&r, "RESULT body", errp);
    if (e == RV_OK && oom)
        e = rv_error_set(errp, RV_ERR_NOMEM, true, "out of memory decoding a RESULT");
    if (e != RV_OK) {
        rv_cql_result_destroy(res);
        return e;
    }
    /* Only rows and prepared results point into the body; the rest keep
     * copies in the arena. */
    if (kind != RV_CQL_RESULT_ROWS && kind != RV_CQL_RESULT_PREPARED) {
        free(res->body);
        res->body = NULL;
    }
    *out = res;
    return RV_OK;
}

/* ------------------------------------------------------------------ public */

void rv_cql_result_destroy(rv_cql_result_t *res)
{
    if (!res) return;
    rv__cql_arena_free(&res->arena);
    free(res->cells);
    free(res->body);
    free(res);
}

rv_cql_result_kind_t rv_cql_result_kind(const rv_cql_result_t *res)
{
    return res->kind;
}

size_t rv_cql_result_row_count(const rv_cql_result_t *res)
{
    return res && res->kind == RV_CQL_RESULT_ROWS ? res->nrows : 0;
}

size_t rv_cql_result_column_count(const rv_cql_result_t *res)
{
    return res && res->kind == RV_CQL_RESULT_ROWS ? res->ncols : 0;
}

const char *rv_cql_result_column_name(const rv_cql_result_t *res, size_t col)
{
    return res && res->cols && col < res->ncols ? res->cols[col].name : NULL;
}

const rv_cql_type_t *rv_cql_result_column_type(const rv_cql_result_t *res, size_t col)
{
    return res && res->cols && col < res->ncols ? res->cols[col].type : NULL;
}

int rv_cql_result_column_index(const rv_cql_result_t *res, const char *name)
{
    if (!res || !res->cols || !name) return -1;
    for (size_t i = 0; i < res->ncols; i++)
        if (strcmp(res->cols[i].name, name) == 0) return (int)i;
    return -1;
}

rv_err_t rv_cql_result_value(const rv_cql_result_t *res, size_t row, size_t col,
                             rv_cql_value_t *out)
{
    if (!res || res->kind != RV_CQL_RESULT_ROWS || row >= res->nrows || col >= res->ncols)
        return RV_ERR_INVALID;
    const rv__cql_cell_t *c = &res->cells[row * res->ncols + col];
    out->type = res->cols ? res->cols[col].type : NULL;
    out->len = c->len < 0 ? -1 : c->len;
    out->data = c->len < 0 ? NULL : res->body + c->off;
    return RV_OK;
}

bool rv_cql_result_is_null(const rv_cql_result_t *res, size_t row, size_t col)
{
    rv_cql_value_t v;
    return rv_cql_result_value(res, row, col, &v) != RV_OK || v.len < 0;
}

#define GETTER(name, type)                                                                         \
    rv_err_t rv_cql_result_get_##name(const rv_cql_result_t *res, size_t row, size_t col,          \
                                      type *out)                                                   \
    {                                                                                              \
        rv_cql_value_t v;                                                                          \
        rv_err_t e = rv_cql_result_value(res, row, col, &v);                                       \
        return e != RV_OK ? e : rv_cql_value_get_##name(&v, out);                                  \
    }
GETTER(bool, bool)
GETTER(tinyint, int8_t)
GETTER(smallint, int16_t)
GETTER(int, int32_t)
GETTER(bigint, int64_t)
GETTER(float, float)
GETTER(double, double)
GETTER(timestamp, int64_t)
#undef GETTER

rv_err_t rv_cql_result_get_text(const rv_cql_result_t *res, size_t row, size_t col,
                                const char **out, size_t *len)
{
    rv_cql_value_t v;
    rv_err_t e = rv_cql_result_value(res, row, col, &v);
    return e != RV_OK ? e : rv_cql_value_get_text(&v, out, len);
}

rv_err_t rv_cql_result_get_bytes(const rv_cql_result_t *res, size_t row, size_t col,
                                 const uint8_t **out, size_t *len)
{
    rv_cql_value_t v;
    rv_err_t e = rv_cql_result_value(res, row, col, &v);
    return e != RV_OK ? e : rv_cql_value_get_bytes(&v, out, len);
}

rv_err_t rv_cql_result_get_uuid(const rv_cql_result_t *res, size_t row, size_t col, uint8_t out[16])
{
    rv_cql_value_t v;
    rv_err_t e = rv_cql_result_value(res, row, col, &v);
    return e != RV_OK ? e : rv_cql_value_get_uuid(&v, out);
}

char *rv_cql_result_get_text_dup(const rv_cql_result_t *res, size_t row, size_t col)
{
    const char *s;
    size_t n;
    if (rv_cql_result_get_text(res, row, col, &s, &n) != RV_OK) return NULL;
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

bool rv_cql_result_has_more_pages(const rv_cql_result_t *res)
{
    return res && res->has_more;
}

bool rv_cql_result_paging_state(const rv_cql_result_t *res, const uint8_t **state, size_t *len)
{
    if (!res || !res->has_more || !res->paging) return false;
    *state = res->paging;
    *len = res->paging_len;
    return true;
}

int rv_cql_result_applied(const rv_cql_result_t *res)
{
    if (!res || res->kind != RV_CQL_RESULT_ROWS || !res->cols || res->ncols < 1 || res->nrows < 1 ||
        !res->cols[0].type || res->cols[0].type->kind != RV_CQL_BOOLEAN ||
        strcmp(res->cols[0].name, "[applied]") != 0)
        return -1;
    bool b;
    if (rv_cql_result_get_bool(res, 0, 0, &b) != RV_OK) return -1;
    return b ? 1 : 0;
}

const char *rv_cql_result_keyspace(const rv_cql_result_t *res)
{
    return res ? res->keyspace : NULL;
}

bool rv_cql_result_schema_change(const rv_cql_result_t *res, const char **change,
                                 const char **target, const char **name)
{
    if (!res || res->kind != RV_CQL_RESULT_SCHEMA_CHANGE) return false;
    if (change) *change = res->change;
    if (target) *target = res->target;
    if (name) *name = res->name;
    return true;
}

bool rv_cql_result_schema_agreed(const rv_cql_result_t *res)
{
    return res && res->schema_agreed;
}

size_t rv_cql_result_warning_count(const rv_cql_result_t *res)
{
    return res ? res->nwarn : 0;
}

const char *rv_cql_result_warning(const rv_cql_result_t *res, size_t i)
{
    return res && i < res->nwarn ? res->warn[i] : NULL;
}
