/* Cassandra's Murmur3Partitioner token of a partition key. */
#ifndef RV_CQL_MURMUR3_H
#define RV_CQL_MURMUR3_H

#include <stddef.h>
#include <stdint.h>

/* The token: the first 64 bits of Cassandra's MurmurHash3 x64_128 (seed 0),
 * INT64_MIN mapped to INT64_MAX as the partitioner does. */
int64_t rv__cql_murmur3_token(const uint8_t *key, size_t len);

#endif
