/* The error context of the Avro encoder and decoders, and the text checks
 * (UTF-8, uuid) both directions share. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "avro/internal.h"

int rv__actx_fail(rv__actx_t *c, rv_err_t code, const char *fmt, ...)
{
    /* The first problem wins: an outer level may report again while unwinding. */
    if (c->code != RV_OK) return -1;
    c->code = code;
    c->err_off = c->start ? (size_t)(c->p - c->start) : 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->msg, sizeof(c->msg), fmt, ap);
    va_end(ap);
    return -1;
}

static void prepend_raw(rv__actx_t *c, const char *s, size_t n)
{
    char *np = malloc(c->path_len + n + 1);
    if (!np) return; /* the path is a courtesy; the error itself is still reported */
    memcpy(np, s, n);
    if (c->path_len) memcpy(np + n, c->path, c->path_len);
    np[n + c->path_len] = 0;
    free(c->path);
    c->path = np;
    c->path_len += n;
}

void rv__actx_prepend(rv__actx_t *c, const char *seg, bool index)
{
    if (index) {
        size_t n = strlen(seg);
        char *tmp = malloc(n + 3);
        if (!tmp) return;
        tmp[0] = '[';
        memcpy(tmp + 1, seg, n);
        tmp[n + 1] = ']';
        tmp[n + 2] = 0;
        prepend_raw(c, tmp, n + 2);
        free(tmp);
        return;
    }
    /* A field name joins the path after a dot, except before an index. */
    if (c->path_len && c->path[0] != '[') prepend_raw(c, ".", 1);
    prepend_raw(c, seg, strlen(seg));
}

void rv__actx_prepend_index(rv__actx_t *c, uint64_t i)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "%llu", (unsigned long long)i);
    rv__actx_prepend(c, buf, true);
}

rv_err_t rv__actx_finish(rv__actx_t *c, const char *root, bool with_offset, rv_error_t **errp)
{
    rv_err_t code = c->code;
    if (code != RV_OK) {
        if (root) rv__actx_prepend(c, root, false);
        const char *path = c->path ? c->path : "";
        if (with_offset)
            rv_error_set(errp, code, false, "%s: %s at byte %zu", path, c->msg, c->err_off);
        else
            rv_error_set(errp, code, false, "%s: %s", path, c->msg);
    }
    free(c->path);
    c->path = NULL;
    c->path_len = 0;
    return code;
}

/* UTF-8 as RFC 3629 has it: no overlong forms, no surrogates, nothing past
 * U+10FFFF. ASCII runs are checked eight bytes at a time. */
bool rv__utf8_valid(const uint8_t *s, size_t n, bool *has_nul)
{
    size_t i = 0;
    bool nul = false;
    while (i < n) {
        if (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if ((w & 0x8080808080808080ULL) == 0) {
                /* A zero byte in the word? (classic has-zero-byte test) */
                if ((w - 0x0101010101010101ULL) & ~w & 0x8080808080808080ULL) nul = true;
                i += 8;
                continue;
            }
        }
        uint8_t b = s[i];
        if (b < 0x80) {
            if (b == 0) nul = true;
            i++;
            continue;
        }
        uint32_t cp;
        size_t need;
        if (b >= 0xC2 && b <= 0xDF) {
            need = 1;
            cp = b & 0x1F;
        } else if (b >= 0xE0 && b <= 0xEF) {
            need = 2;
            cp = b & 0x0F;
        } else if (b >= 0xF0 && b <= 0xF4) {
            need = 3;
            cp = b & 0x07;
        } else {
            return false;
        }
        if (n - i - 1 < need) return false;
        for (size_t k = 1; k <= need; k++) {
            uint8_t cb = s[i + k];
            if ((cb & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (cb & 0x3F);
        }
        if ((need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000) || cp > 0x10FFFF ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += need + 1;
    }
    if (has_nul) *has_nul = nul;
    return true;
}

/* Per byte of w (each < 0x80): 0x80 where lo <= byte <= hi. No carry crosses
 * a byte because every byte and constant stays below 0x80. */
static inline uint64_t in_range(uint64_t w, uint8_t lo, uint8_t hi)
{
    const uint64_t ones = 0x0101010101010101ULL;
    return (w + ones * (uint64_t)(0x80 - lo)) & ~(w + ones * (uint64_t)(0x7F - hi)) & (ones * 0x80);
}

/* The canonical text form 8-4-4-4-12. A cart command carries two, so the hex
 * digits are checked eight at a time: five (overlapping) words straight from
 * the input, with the dash bytes turned into '0' in the register (a copy in
 * memory would stall on store forwarding). */
bool rv__uuid_valid(const char *s, size_t n)
{
    if (n != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-') return false;
    static const size_t off[5] = {0, 8, 16, 24, 28};
    /* Little-endian byte lanes of the dashes: 8 and 13 in word 1, 18 and 23 in word 2. */
    static const uint64_t dash[5] = {0, 0x0000FF00000000FFULL, 0xFF00000000FF0000ULL, 0, 0};
    const uint64_t high = 0x8080808080808080ULL, lower = 0x2020202020202020ULL,
                   zeros = 0x3030303030303030ULL;
    for (int i = 0; i < 5; i++) {
        uint64_t w;
        memcpy(&w, s + off[i], 8);
        w = (w & ~dash[i]) | (zeros & dash[i]);
        if (w & high) return false;
        if ((in_range(w, '0', '9') | in_range(w | lower, 'a', 'f')) != high) return false;
    }
    return true;
}

/* The Avro name of a type, for error messages. Memory: static. */
const char *rv__avro_type_name(avro_type_t t)
{
    switch (t) {
    case AVRO_STRING:
        return "string";
    case AVRO_BYTES:
        return "bytes";
    case AVRO_INT32:
        return "int";
    case AVRO_INT64:
        return "long";
    case AVRO_FLOAT:
        return "float";
    case AVRO_DOUBLE:
        return "double";
    case AVRO_BOOLEAN:
        return "boolean";
    case AVRO_NULL:
        return "null";
    case AVRO_RECORD:
        return "record";
    case AVRO_ENUM:
        return "enum";
    case AVRO_FIXED:
        return "fixed";
    case AVRO_MAP:
        return "map";
    case AVRO_ARRAY:
        return "array";
    case AVRO_UNION:
        return "union";
    default:
        return "?";
    }
}
