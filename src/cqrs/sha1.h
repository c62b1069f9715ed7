/* SHA-1, only for name-based (v5) UUIDs, where RFC 4122 prescribes it. */
#ifndef RV_CQRS_SHA1_H
#define RV_CQRS_SHA1_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t h[5];
    uint64_t len;
    uint8_t buf[64];
    size_t nbuf;
} rv__sha1_t;

void rv__sha1_init(rv__sha1_t *s);
void rv__sha1_update(rv__sha1_t *s, const void *data, size_t len);
void rv__sha1_final(rv__sha1_t *s, uint8_t out[20]);

#endif
