/* UUIDs: parsing and formatting, name-based (v5) ids for events, and
 * time-based (v1) ids — Cassandra's timeuuid — for event-log rows. */
#include <stdio.h>
#include <string.h>

#include "cqrs/sha1.h"
#include "rivulet/cqrs.h"

/* 5f6b0b5e-5d8c-4c1e-9a43-7c1f2b1f0e01: fixed forever, or every derived event id changes. */
const rv_uuid_t rv_uuid_ns_rivulet = {{0x5f, 0x6b, 0x0b, 0x5e, 0x5d, 0x8c, 0x4c, 0x1e, 0x9a, 0x43,
                                       0x7c, 0x1f, 0x2b, 0x1f, 0x0e, 0x01}};

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

rv_err_t rv_uuid_parse(const char *s, size_t len, rv_uuid_t *out, rv_error_t **errp)
{
    if (!s || len != RV_UUID_STRLEN)
        return rv_error_set(errp, RV_ERR_DECODE, false, "not a UUID: %zu characters, expected 36",
                            s ? len : 0);
    int k = 0;
    for (size_t i = 0; i < len; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return rv_error_set(errp, RV_ERR_DECODE, false,
                                    "not a UUID: expected '-' at position %zu", i);
            continue;
        }
        int hi = hexval(s[i]), lo = i + 1 < len ? hexval(s[i + 1]) : -1;
        if (hi < 0 || lo < 0)
            return rv_error_set(errp, RV_ERR_DECODE, false,
                                "not a UUID: non-hex character at position %zu",
                                hi < 0 ? i : i + 1);
        out->b[k++] = (uint8_t)(hi << 4 | lo);
        i++;
    }
    return RV_OK;
}

void rv_uuid_format(const rv_uuid_t *u, char out[RV_UUID_STRLEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    int k = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) out[k++] = '-';
        out[k++] = hex[u->b[i] >> 4];
        out[k++] = hex[u->b[i] & 15];
    }
    out[k] = '\0';
}

bool rv_uuid_equal(const rv_uuid_t *a, const rv_uuid_t *b)
{
    return memcmp(a->b, b->b, 16) == 0;
}

int rv_uuid_compare(const rv_uuid_t *a, const rv_uuid_t *b)
{
    return memcmp(a->b, b->b, 16);
}

bool rv_uuid_is_nil(const rv_uuid_t *u)
{
    static const rv_uuid_t nil;
    return rv_uuid_equal(u, &nil);
}

void rv_uuid_v5(const rv_uuid_t *ns, const void *name, size_t len, rv_uuid_t *out)
{
    rv__sha1_t s;
    uint8_t h[20];
    rv__sha1_init(&s);
    rv__sha1_update(&s, ns->b, 16);
    rv__sha1_update(&s, name, len);
    rv__sha1_final(&s, h);
    memcpy(out->b, h, 16);
    out->b[6] = (uint8_t)((out->b[6] & 0x0f) | 0x50);
    out->b[8] = (uint8_t)((out->b[8] & 0x3f) | 0x80);
}

/* 100-ns intervals between 1582-10-15 (the Gregorian reform, UUID's epoch) and 1970-01-01. */
#define GREGORIAN_OFFSET 0x01B21DD213814000ull

static void v1_from_ticks(uint64_t ticks, uint16_t clock_seq, uint64_t node, rv_uuid_t *out)
{
    uint32_t time_low = (uint32_t)ticks;
    uint16_t time_mid = (uint16_t)(ticks >> 32);
    uint16_t time_hi = (uint16_t)((ticks >> 48) & 0x0fff) | 0x1000;
    out->b[0] = (uint8_t)(time_low >> 24);
    out->b[1] = (uint8_t)(time_low >> 16);
    out->b[2] = (uint8_t)(time_low >> 8);
    out->b[3] = (uint8_t)time_low;
    out->b[4] = (uint8_t)(time_mid >> 8);
    out->b[5] = (uint8_t)time_mid;
    out->b[6] = (uint8_t)(time_hi >> 8);
    out->b[7] = (uint8_t)time_hi;
    out->b[8] = (uint8_t)(((clock_seq >> 8) & 0x3f) | 0x80);
    out->b[9] = (uint8_t)clock_seq;
    for (int i = 0; i < 6; i++)
        out->b[10 + i] = (uint8_t)(node >> (40 - 8 * i));
}

void rv_timeuuid_make(uint64_t unix_ms, uint32_t ticks, uint16_t clock_seq, uint64_t node,
                      rv_uuid_t *out)
{
    v1_from_ticks(unix_ms * 10000u + (ticks % 10000u) + GREGORIAN_OFFSET, clock_seq, node, out);
}

uint64_t rv_timeuuid_unix_ms(const rv_uuid_t *u)
{
    uint64_t ticks = ((uint64_t)(u->b[6] & 0x0f) << 56) | ((uint64_t)u->b[7] << 48) |
                     ((uint64_t)u->b[4] << 40) | ((uint64_t)u->b[5] << 32) |
                     ((uint64_t)u->b[0] << 24) | ((uint64_t)u->b[1] << 16) |
                     ((uint64_t)u->b[2] << 8) | u->b[3];
    return ticks < GREGORIAN_OFFSET ? 0 : (ticks - GREGORIAN_OFFSET) / 10000u;
}

static uint64_t splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void rv_timeuuid_gen_init(rv_timeuuid_gen_t *g, uint64_t seed)
{
    g->last_ticks = 0;
    g->clock_seq = (uint16_t)(splitmix(&seed) & 0x3fff);
    g->node = (splitmix(&seed) & 0xffffffffffffull) | 0x010000000000ull;
}

void rv_timeuuid_next(rv_timeuuid_gen_t *g, uint64_t unix_ms, rv_uuid_t *out)
{
    uint64_t ticks = unix_ms * 10000u + GREGORIAN_OFFSET;
    if (ticks <= g->last_ticks) ticks = g->last_ticks + 1;
    g->last_ticks = ticks;
    v1_from_ticks(ticks, g->clock_seq, g->node, out);
}

void rv_timeuuid_for(uint64_t unix_ms, uint32_t ticks, const rv_uuid_t *id, rv_uuid_t *out)
{
    uint32_t sub = ticks % 10000u;
    uint16_t seq = (uint16_t)((id->b[2] << 8 | id->b[3]) & 0x3fff);
    uint64_t node = 0;
    for (int i = 10; i < 16; i++)
        node = node << 8 | id->b[i];
    node |= 0x010000000000ull;
    v1_from_ticks(unix_ms * 10000u + sub + GREGORIAN_OFFSET, seq, node, out);
}
