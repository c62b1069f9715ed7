/* The test harness: one executable per test file, a list of test functions, a
 * per-test timeout, and a closing line "N passed, N failed" that CTest's output
 * and CI both read.
 *
 * Environment:
 *   RV_TEST_FILTER   run only tests whose name contains this text
 *   RV_TEST_TIMEOUT_MULT  multiply every timeout (slow machines, sanitizers)
 */
#ifndef RV_TEST_H
#define RV_TEST_H

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct rv_test_case {
    const char *name;
    void (*fn)(void);
    int timeout_s;
} rv_test_case_t;

extern int rv_test_failures; /* failed checks in the current test */
extern const char *rv_test_current;

void rv_test_fail_at(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int rv_test_main(int argc, char **argv, const rv_test_case_t *cases, size_t n);
/* Seconds scaled by RV_TEST_TIMEOUT_MULT. */
double rv_test_scale(double seconds);

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) rv_test_fail_at(__FILE__, __LINE__, "CHECK(%s) failed", #cond);               \
    } while (0)

#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            rv_test_fail_at(__FILE__, __LINE__, "REQUIRE(%s) failed", #cond);                      \
            return;                                                                                \
        }                                                                                          \
    } while (0)

#define CHECK_EQ(a, b)                                                                             \
    do {                                                                                           \
        long long _a = (long long)(a), _b = (long long)(b);                                        \
        if (_a != _b)                                                                              \
            rv_test_fail_at(__FILE__, __LINE__, "CHECK_EQ(%s, %s): %lld != %lld", #a, #b, _a, _b); \
    } while (0)

#define CHECK_STR(a, b)                                                                            \
    do {                                                                                           \
        const char *_a = (a), *_b = (b);                                                           \
        if (!_a || !_b || strcmp(_a, _b) != 0)                                                     \
            rv_test_fail_at(__FILE__, __LINE__, "CHECK_STR(%s, %s): \"%s\" != \"%s\"", #a, #b,     \
                            _a ? _a : "(null)", _b ? _b : "(null)");                               \
    } while (0)

#define CHECK_MEM(a, b, n)                                                                         \
    do {                                                                                           \
        if (memcmp((a), (b), (n)) != 0)                                                            \
            rv_test_fail_at(__FILE__, __LINE__, "CHECK_MEM(%s, %s, %s) differ", #a, #b, #n);       \
    } while (0)

#define RV_TEST(fn)                                                                                \
    {                                                                                              \
#fn, fn, 30                                                                                \
    }
#define RV_TEST_T(fn, secs)                                                                        \
    {                                                                                              \
#fn, fn, secs                                                                              \
    }
#define RV_TEST_MAIN(...)                                                                          \
    int main(int argc, char **argv)                                                                \
    {                                                                                              \
        static const rv_test_case_t cases[] = {__VA_ARGS__};                                       \
        return rv_test_main(argc, argv, cases, sizeof(cases) / sizeof(cases[0]));                  \
    }

#endif
