/* Positions: the last applied offset per partition, stored with an aggregate
 * by an idempotent service so that a redelivered command is recognised. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "rivulet/cqrs.h"

bool rv_positions_seen(const rv_positions_t *ps, int32_t partition, int64_t offset)
{
    for (size_t i = 0; i < ps->n; i++)
        if (ps->p[i].partition == partition) return offset <= ps->p[i].offset;
    return false;
}

rv_err_t rv_positions_advance(rv_positions_t *ps, int32_t partition, int64_t offset)
{
    for (size_t i = 0; i < ps->n; i++) {
        if (ps->p[i].partition == partition) {
            if (offset > ps->p[i].offset) ps->p[i].offset = offset;
            return RV_OK;
        }
    }
    if (ps->n == RV_POSITIONS_MAX) return RV_ERR_OVERFLOW;
    ps->p[ps->n].partition = partition;
    ps->p[ps->n].offset = offset;
    ps->n++;
    return RV_OK;
}

size_t rv_positions_format(const rv_positions_t *ps, char *out, size_t cap)
{
    size_t len = 0;
    if (cap) out[0] = '\0';
    for (size_t i = 0; i < ps->n; i++) {
        int n =
            snprintf(out + (len < cap ? len : cap), len < cap ? cap - len : 0,
                     "%s%" PRId32 ":%" PRId64, i ? "," : "", ps->p[i].partition, ps->p[i].offset);
        if (n > 0) len += (size_t)n;
    }
    return len;
}

rv_err_t rv_positions_parse(const char *s, rv_positions_t *out, rv_error_t **errp)
{
    out->n = 0;
    if (!s || !*s) return RV_OK;
    const char *p = s;
    while (*p) {
        char *end;
        errno = 0;
        long part = strtol(p, &end, 10);
        if (end == p || *end != ':' || errno || part < 0 || part > INT32_MAX)
            return rv_error_set(errp, RV_ERR_DECODE, false,
                                "positions \"%s\": bad partition at \"%s\"", s, p);
        p = end + 1;
        long long off = strtoll(p, &end, 10);
        if (end == p || (*end != ',' && *end != '\0') || errno || off < 0)
            return rv_error_set(errp, RV_ERR_DECODE, false,
                                "positions \"%s\": bad offset at \"%s\"", s, p);
        if (rv_positions_advance(out, (int32_t)part, off) != RV_OK)
            return rv_error_set(errp, RV_ERR_OVERFLOW, false,
                                "positions \"%s\": more than %d partitions", s, RV_POSITIONS_MAX);
        p = *end ? end + 1 : end;
    }
    return RV_OK;
}
