/* libFuzzer target for everything that reads bytes from the server: the frame
 * header check, the body prefix (tracing, warnings, custom payload), and the
 * ERROR, RESULT (rows, prepared, schema change...), EVENT, AUTHENTICATE,
 * SUPPORTED and AUTH_* decoders, followed by a walk over every decoded cell
 * (typed getters, collection iterators, text formatting).
 *
 * The input is read as a connection reads its socket: frame after frame, each
 * header checked before its body is taken. When a header is refused, the rest
 * of the input is also tried as a bare RESULT, ERROR and EVENT body, so that
 * mutations of bodies reach the decoders without a valid header. Each body is
 * copied into an allocation of exactly its size, so AddressSanitizer catches
 * any read past its end.
 *
 * Build: CC=clang cmake -DRV_FUZZ=ON ...; run bounded:
 *   fuzz_cql_frame -max_total_time=60 <scratch corpus dir> fuzz/cql/corpus
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cql/response.h"

static void walk_value(const rv_cql_value_t *v, int depth)
{
    char buf[256];
    rv_cql_value_format(v, buf, sizeof(buf));
    int64_t i64;
    double d;
    const char *s;
    const uint8_t *p;
    size_t n;
    uint8_t u[16];
    int32_t a, b;
    uint32_t days;
    bool bo;
    (void)rv_cql_value_get_bigint(v, &i64);
    (void)rv_cql_value_get_double(v, &d);
    (void)rv_cql_value_get_text(v, &s, &n);
    (void)rv_cql_value_get_bytes(v, &p, &n);
    (void)rv_cql_value_get_uuid(v, u);
    (void)rv_cql_value_get_inet(v, u, &n);
    (void)rv_cql_value_get_decimal(v, &a, &p, &n);
    (void)rv_cql_value_get_duration(v, &a, &b, &i64);
    (void)rv_cql_value_get_date(v, &days);
    (void)rv_cql_value_get_bool(v, &bo);
    (void)rv_cql_value_count(v, &n);
    if (depth > 40) return;
    rv_cql_iter_t it;
    rv_cql_value_t el;
    if (rv_cql_iter_init(&it, v) == RV_OK)
        while (rv_cql_iter_next(&it, &el) == RV_OK)
            walk_value(&el, depth + 1);
}

static void walk_result(const rv_cql_result_t *res)
{
    for (size_t c = 0; c < rv_cql_result_column_count(res); c++) {
        char t[256];
        rv_cql_type_format(rv_cql_result_column_type(res, c), t, sizeof(t));
        (void)rv_cql_result_column_name(res, c);
    }
    for (size_t r = 0; r < rv_cql_result_row_count(res); r++)
        for (size_t c = 0; c < rv_cql_result_column_count(res); c++) {
            rv_cql_value_t v;
            if (rv_cql_result_value(res, r, c, &v) == RV_OK) walk_value(&v, 0);
        }
    const uint8_t *state;
    size_t n;
    (void)rv_cql_result_paging_state(res, &state, &n);
    (void)rv_cql_result_applied(res);
    for (size_t i = 0; i < rv_cql_result_warning_count(res); i++)
        (void)rv_cql_result_warning(res, i);
}

static void decode_body(const rv__cql_header_t *h, const uint8_t *src, size_t len)
{
    uint8_t *body = malloc(len ? len : 1);
    if (!body) return;
    memcpy(body, src, len);
    rv__cql_header_t hh = *h;
    hh.length = (uint32_t)len;
    rv__cql_response_t resp;
    rv_error_t *err = NULL;
    if (rv__cql_response_decode(&hh, body, &resp, &err) == RV_OK) {
        if (resp.result) walk_result(resp.result);
        if (hh.opcode == RV__CQL_OP_ERROR) {
            rv_error_t *e = rv__cql_error_to_error(&resp.error, "fuzz");
            rv_error_destroy(e);
        }
    }
    rv_error_destroy(err);
    rv__cql_response_free(&resp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t pos = 0;
    while (size - pos >= RV__CQL_HEADER_SIZE) {
        rv__cql_header_t h;
        rv_error_t *err = NULL;
        if (rv__cql_header_decode(data + pos, 1u << 20, &h, &err) != RV_OK ||
            h.length > size - pos - RV__CQL_HEADER_SIZE) {
            rv_error_destroy(err);
            /* Try the rest as bare bodies, with the flags byte of the input. */
            const uint8_t *rest = data + pos + RV__CQL_HEADER_SIZE;
            size_t n = size - pos - RV__CQL_HEADER_SIZE;
            static const uint8_t ops[] = {RV__CQL_OP_RESULT, RV__CQL_OP_ERROR, RV__CQL_OP_EVENT};
            for (size_t i = 0; i < sizeof(ops); i++) {
                rv__cql_header_t bare = {0x84, (uint8_t)(data[pos + 1] & 0x0e), 0, ops[i], 0};
                decode_body(&bare, rest, n);
            }
            return 0;
        }
        decode_body(&h, data + pos + RV__CQL_HEADER_SIZE, h.length);
        pos += RV__CQL_HEADER_SIZE + h.length;
    }
    return 0;
}
