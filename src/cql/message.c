/* Request encoders. Each writes a complete frame: the 9-byte header (stream
 * id filled in later, when the frame is given a stream on a connection) and
 * the body laid out as section 4.1 of the protocol describes. */
#include "cql/message.h"

#include <string.h>

void rv__cql_encode_startup(rv__cql_buf_t *b)
{
    static const char *const kv[] = {"CQL_VERSION", "3.0.0",          "DRIVER_NAME",
                                     "rivulet",     "DRIVER_VERSION", "0.1.0"};
    size_t f = rv__cql_frame_begin(b, RV__CQL_OP_STARTUP, 0);
    rv__cql_put_string_map(b, kv, 3);
    rv__cql_frame_end(b, f);
}

void rv__cql_encode_options(rv__cql_buf_t *b)
{
    size_t f = rv__cql_frame_begin(b, RV__CQL_OP_OPTIONS, 0);
    rv__cql_frame_end(b, f);
}

void rv__cql_encode_auth_plain(rv__cql_buf_t *b, const char *user, const char *password)
{
    size_t ul = strlen(user), pl = strlen(password);
    size_t f = rv__cql_frame_begin(b, RV__CQL_OP_AUTH_RESPONSE, 0);
    rv__cql_put_i32(b, (int32_t)(ul + pl + 2));
    rv__cql_put_u8(b, 0);
    rv__cql_put_raw(b, user, ul);
    rv__cql_put_u8(b, 0);
    rv__cql_put_raw(b, password, pl);
    rv__cql_frame_end(b, f);
}

void rv__cql_encode_register(rv__cql_buf_t *b, const char *const *events, size_t n)
{
    size_t f = rv__cql_frame_begin(b, RV__CQL_OP_REGISTER, 0);
    rv__cql_put_string_list(b, events, n);
    rv__cql_frame_end(b, f);
}

void rv__cql_encode_prepare(rv__cql_buf_t *b, const char *query, size_t len)
{
    size_t f = rv__cql_frame_begin(b, RV__CQL_OP_PREPARE, 0);
    rv__cql_put_long_string(b, query, len);
    rv__cql_frame_end(b, f);
}

/* <consistency><flags>[<n><value_1>...<value_n>][<result_page_size>][<paging_state>]
 * [<serial_consistency>][<timestamp>] */
static void put_params(rv__cql_buf_t *b, const rv_cql_stmt_t *st, const rv__cql_params_t *p)
{
    uint8_t flags = 0;
    if (st && st->nvals) flags |= RV__CQL_Q_VALUES;
    if (p->page_size > 0) flags |= RV__CQL_Q_PAGE_SIZE;
    if (p->paging) flags |= RV__CQL_Q_PAGING_STATE;
    if (p->serial >= 0) flags |= RV__CQL_Q_SERIAL;
    if (p->timestamp != INT64_MIN) flags |= RV__CQL_Q_TIMESTAMP;
    rv__cql_put_u16(b, p->consistency);
    rv__cql_put_u8(b, flags);
    if (flags & RV__CQL_Q_VALUES) {
        rv__cql_put_u16(b, (uint16_t)st->nvals);
        for (size_t i = 0; i < st->nvals; i++)
            rv__cql_put_bytes(b, st->data.data + st->vals[i].off, st->vals[i].len);
    }
    if (flags & RV__CQL_Q_PAGE_SIZE) rv__cql_put_i32(b, p->page_size);
    if (flags & RV__CQL_Q_PAGING_STATE) rv__cql_put_bytes(b, p->paging, (int32_t)p->paging_len);
    if (flags & RV__CQL_Q_SERIAL) rv__cql_put_u16(b, (uint16_t)p->serial);
    if (flags & RV__CQL_Q_TIMESTAMP) rv__cql_put_i64(b, p->timestamp);
}

void rv__cql_encode_query_text(rv__cql_buf_t *b, const char *query, size_t len,
                               const rv__cql_params_t *p)
{
    size_t f = rv__cql_frame_begin(b, RV__CQL_OP_QUERY, 0);
    rv__cql_put_long_string(b, query, len);
    put_params(b, NULL, p);
    rv__cql_frame_end(b, f);
}

void rv__cql_encode_stmt(rv__cql_buf_t *b, const rv_cql_stmt_t *st, const rv__cql_params_t *p,
                         size_t *id_off)
{
    size_t f;
    if (st->prep) {
        f = rv__cql_frame_begin(b, RV__CQL_OP_EXECUTE, 0);
        if (id_off) *id_off = b->len;
        rv__cql_put_short_bytes(b, st->prep->id, st->prep->id_len);
    } else {
        f = rv__cql_frame_begin(b, RV__CQL_OP_QUERY, 0);
        rv__cql_put_long_string(b, st->query, st->query_len);
    }
    put_params(b, st, p);
    rv__cql_frame_end(b, f);
}

/* <type><n><query_1>...<query_n><consistency><flags>[<serial_consistency>][<timestamp>] */
void rv__cql_encode_batch(rv__cql_buf_t *b, const rv_cql_batch_t *batch, const rv__cql_params_t *p,
                          size_t *body_off)
{
    size_t f = rv__cql_frame_begin(b, RV__CQL_OP_BATCH, 0);
    rv__cql_put_u8(b, (uint8_t)batch->type);
    rv__cql_put_u16(b, (uint16_t)batch->count);
    if (body_off) *body_off = b->len;
    rv__cql_put_raw(b, batch->body.data, batch->body.len);
    uint8_t flags = 0;
    if (p->serial >= 0) flags |= RV__CQL_Q_SERIAL;
    if (p->timestamp != INT64_MIN) flags |= RV__CQL_Q_TIMESTAMP;
    rv__cql_put_u16(b, p->consistency);
    rv__cql_put_u8(b, flags);
    if (flags & RV__CQL_Q_SERIAL) rv__cql_put_u16(b, (uint16_t)p->serial);
    if (flags & RV__CQL_Q_TIMESTAMP) rv__cql_put_i64(b, p->timestamp);
    rv__cql_frame_end(b, f);
}
