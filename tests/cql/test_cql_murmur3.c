/* Murmur3Partitioner tokens, checked against the DataStax Python driver's
 * murmur3 (the same values Cassandra's token() returns; the integration test
 * compares with the server directly) for every tail length, and the routing
 * key of composite partition keys. */
#include <string.h>

#include "cql/murmur3.h"
#include "rv_test.h"

static void test_known_keys(void)
{
    CHECK(rv__cql_murmur3_token((const uint8_t *)"", 0) == 0);
    CHECK(rv__cql_murmur3_token((const uint8_t *)"a", 1) == INT64_C(-8839064797231613815));
    CHECK(rv__cql_murmur3_token((const uint8_t *)"hello", 5) == INT64_C(-3758069500696749310));
    static const uint8_t int1[] = {0, 0, 0, 1}, int42[] = {0, 0, 0, 42};
    CHECK(rv__cql_murmur3_token(int1, 4) == INT64_C(-4069959284402364209));
    CHECK(rv__cql_murmur3_token(int42, 4) == INT64_C(-7160136740246525330));
    static const uint8_t minus1[8] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    CHECK(rv__cql_murmur3_token(minus1, 8) == INT64_C(7071048584287372947));
}

/* Bytes with the high bit set in every tail position exercise Cassandra's
 * sign-extension of tail bytes. */
static void test_every_length(void)
{
    static const int64_t want[34] = {INT64_C(0),
                                     INT64_C(8767593904841234184),
                                     INT64_C(4404565633966553562),
                                     INT64_C(3360815430260917352),
                                     INT64_C(-620854974821282453),
                                     INT64_C(2358554034960036757),
                                     INT64_C(-6013199726869694967),
                                     INT64_C(6848258939198013424),
                                     INT64_C(6825294896896719330),
                                     INT64_C(712808515514910092),
                                     INT64_C(2191066051894306468),
                                     INT64_C(-4673795996072160337),
                                     INT64_C(8950166686994512205),
                                     INT64_C(3114265477266355416),
                                     INT64_C(-3421362532935520974),
                                     INT64_C(-6264688551098331046),
                                     INT64_C(98493579079920379),
                                     INT64_C(468209433970893934),
                                     INT64_C(-5392407157453564661),
                                     INT64_C(6166294579111480802),
                                     INT64_C(-5601928453503323687),
                                     INT64_C(7790259223999475574),
                                     INT64_C(7142400945347608507),
                                     INT64_C(3575278787307344037),
                                     INT64_C(-7820917022413328062),
                                     INT64_C(-3138480301959228827),
                                     INT64_C(-5043898629676150093),
                                     INT64_C(6893181342285309456),
                                     INT64_C(-2834769081185784227),
                                     INT64_C(-60608620664882271),
                                     INT64_C(3799801908474491645),
                                     INT64_C(7904706896177658798),
                                     INT64_C(6903858879627398310),
                                     INT64_C(-1327470326574766236)};
    uint8_t b[40];
    for (size_t n = 0; n < 34; n++) {
        for (size_t i = 0; i < n; i++)
            b[i] = (uint8_t)((i * 37 + 200) & 0xff);
        int64_t t = rv__cql_murmur3_token(b, n);
        if (t != want[n])
            rv_test_fail_at(__FILE__, __LINE__, "length %zu: %lld, want %lld", n, (long long)t,
                            (long long)want[n]);
    }
}

static void test_composite_key(void)
{
    /* (int 1, text 'abc') as [short len][bytes][0] per component. */
    static const uint8_t key[] = {0, 4, 0, 0, 0, 1, 0, 0, 3, 'a', 'b', 'c', 0};
    CHECK(rv__cql_murmur3_token(key, sizeof(key)) == INT64_C(8771735466527499816));
}

RV_TEST_MAIN(RV_TEST(test_known_keys), RV_TEST(test_every_length), RV_TEST(test_composite_key))
