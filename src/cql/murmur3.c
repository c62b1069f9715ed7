/* MurmurHash3 x64_128 as Cassandra's Murmur3Partitioner computes it. It
 * differs from the reference algorithm in one place: the tail bytes are read
 * as Java's signed bytes and sign-extended before being shifted into place,
 * and tokens must match the server's bit for bit. */
#include "cql/murmur3.h"

static uint64_t rotl64(uint64_t x, int r)
{
    return (x << r) | (x >> (64 - r));
}

static uint64_t fmix64(uint64_t k)
{
    k ^= k >> 33;
    k *= UINT64_C(0xff51afd7ed558ccd);
    k ^= k >> 33;
    k *= UINT64_C(0xc4ceb9fe1a85ec53);
    k ^= k >> 33;
    return k;
}

static uint64_t load_le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* A tail byte as Java sees it: signed, then widened to a long. */
static uint64_t sbyte(uint8_t b)
{
    return (uint64_t)(int64_t)(int8_t)b;
}

int64_t rv__cql_murmur3_token(const uint8_t *key, size_t len)
{
    const uint64_t c1 = UINT64_C(0x87c37b91114253d5), c2 = UINT64_C(0x4cf5ad432745937f);
    uint64_t h1 = 0, h2 = 0;
    size_t nblocks = len / 16;
    for (size_t i = 0; i < nblocks; i++) {
        uint64_t k1 = load_le64(key + 16 * i), k2 = load_le64(key + 16 * i + 8);
        k1 *= c1;
        k1 = rotl64(k1, 31);
        k1 *= c2;
        h1 ^= k1;
        h1 = rotl64(h1, 27);
        h1 += h2;
        h1 = h1 * 5 + 0x52dce729;
        k2 *= c2;
        k2 = rotl64(k2, 33);
        k2 *= c1;
        h2 ^= k2;
        h2 = rotl64(h2, 31);
        h2 += h1;
        h2 = h2 * 5 + 0x38495ab5;
    }
    const uint8_t *tail = key + 16 * nblocks;
    uint64_t k1 = 0, k2 = 0;
    switch (len & 15) {
    case 15:
        k2 ^= sbyte(tail[14]) << 48; /* fall through */
    case 14:
        k2 ^= sbyte(tail[13]) << 40; /* fall through */
    case 13:
        k2 ^= sbyte(tail[12]) << 32; /* fall through */
    case 12:
        k2 ^= sbyte(tail[11]) << 24; /* fall through */
    case 11:
        k2 ^= sbyte(tail[10]) << 16; /* fall through */
    case 10:
        k2 ^= sbyte(tail[9]) << 8; /* fall through */
    case 9:
        k2 ^= sbyte(tail[8]);
        k2 *= c2;
        k2 = rotl64(k2, 33);
        k2 *= c1;
        h2 ^= k2;
        /* fall through */
    case 8:
        k1 ^= sbyte(tail[7]) << 56; /* fall through */
    case 7:
        k1 ^= sbyte(tail[6]) << 48; /* fall through */
    case 6:
        k1 ^= sbyte(tail[5]) << 40; /* fall through */
    case 5:
        k1 ^= sbyte(tail[4]) << 32; /* fall through */
    case 4:
        k1 ^= sbyte(tail[3]) << 24; /* fall through */
    case 3:
        k1 ^= sbyte(tail[2]) << 16; /* fall through */
    case 2:
        k1 ^= sbyte(tail[1]) << 8; /* fall through */
    case 1:
        k1 ^= sbyte(tail[0]);
        k1 *= c1;
        k1 = rotl64(k1, 31);
        k1 *= c2;
        h1 ^= k1;
        break;
    default:
        break;
    }
    h1 ^= (uint64_t)len;
    h2 ^= (uint64_t)len;
    h1 += h2;
    h2 += h1;
    h1 = fmix64(h1);
    h2 = fmix64(h2);
    h1 += h2;
    int64_t t = (int64_t)h1;
    return t == INT64_MIN ? INT64_MAX : t;
}
