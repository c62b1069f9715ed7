/* The test runner. Each test runs in a forked child so that a crash or a hang
 * fails that test alone, with a clear line, and the rest still run. */
#include "rv_test.h"

#include <signal.h>
#include <stdarg.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int rv_test_failures;
const char *rv_test_current;

void rv_test_fail_at(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "  %s:%d: [%s] ", file, line, rv_test_current ? rv_test_current : "?");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    rv_test_failures++;
}

double rv_test_scale(double seconds)
{
    const char *m = getenv("RV_TEST_TIMEOUT_MULT");
    double mult = m ? atof(m) : 1.0;
    return seconds * (mult > 0 ? mult : 1.0);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int rv_test_main(int argc, char **argv, const rv_test_case_t *cases, size_t n)
{
    const char *filter = getenv("RV_TEST_FILTER");
    if (argc > 1) filter = argv[1];
    int passed = 0, failed = 0;
    bool nofork = getenv("RV_TEST_NOFORK") != NULL;
    for (size_t i = 0; i < n; i++) {
        if (filter && !strstr(cases[i].name, filter)) continue;
        double t0 = now_s();
        bool ok;
        if (nofork) {
            rv_test_failures = 0;
            rv_test_current = cases[i].name;
            cases[i].fn();
            ok = rv_test_failures == 0;
        } else {
            fflush(NULL);
            pid_t pid = fork();
            if (pid == 0) {
                rv_test_failures = 0;
                rv_test_current = cases[i].name;
                alarm((unsigned)rv_test_scale(cases[i].timeout_s));
                cases[i].fn();
                /* exit, not _exit: LeakSanitizer checks at exit, so a leak in
                 * a test fails that test under the sanitizer build. */
                exit(rv_test_failures == 0 ? 0 : 1);
            }
            int status = 0;
            waitpid(pid, &status, 0);
            ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
            if (WIFSIGNALED(status))
                fprintf(stderr, "  [%s] killed by signal %d%s\n", cases[i].name, WTERMSIG(status),
                        WTERMSIG(status) == SIGALRM ? " (timeout)" : "");
        }
        printf("%s %s (%.3f s)\n", ok ? "ok  " : "FAIL", cases[i].name, now_s() - t0);
        if (ok)
            passed++;
        else
            failed++;
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 && passed > 0 ? 0 : 1;
}
