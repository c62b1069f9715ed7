/* Integration (real Kafka broker): a consumer process killed with SIGKILL
 * halfway through a topic, then restarted. Every record is processed at
 * least once; a record processed twice was not committed when the first
 * process died; every committed record had been processed; the restarted
 * process sees nothing below the committed offsets.
 *
 * The consumer is a separate program (kafka_it_consumer, path given by the
 * build as RV_IT_CONSUMER) that appends "partition offset" to a file before
 * releasing each record. */
#include <signal.h>
#include <sys/wait.h>

#include "kafka_it_util.h"

#ifndef RV_IT_CONSUMER
#error "RV_IT_CONSUMER must name the kafka_it_consumer program"
#endif

enum { PARTS = 4, N = 20000, PER = N / PARTS };

static pid_t spawn_consumer(const char *topic, const char *group, const char *out)
{
    pid_t pid = fork();
    if (pid == 0) {
        execl(RV_IT_CONSUMER, RV_IT_CONSUMER, it_bootstrap(), topic, group, out, "4000",
              (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* Reads "partition offset" lines into seen[partition][offset] counts;
 * returns the number of lines. */
static int read_lines(const char *path, uint8_t seen[PARTS][PER])
{
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    int p, n = 0;
    long long o;
    while (fscanf(f, "%d %lld", &p, &o) == 2) {
        if (p >= 0 && p < PARTS && o >= 0 && o < PER && seen[p][o] < 255) seen[p][o]++;
        n++;
    }
    fclose(f);
    return n;
}

static int count_lines(const char *path)
{
    static uint8_t scratch[PARTS][PER];
    memset(scratch, 0, sizeof(scratch));
    return read_lines(path, scratch);
}

static bool wait_lines(const char *path, int want, double seconds)
{
    uint64_t deadline = uv_hrtime() + (uint64_t)(rv_test_scale(seconds) * 1e9);
    while (uv_hrtime() < deadline) {
        if (count_lines(path) >= want) return true;
        usleep(20000);
    }
    return false;
}

static void test_sigkill_and_restart(void)
{
    IT_REQUIRE_BROKER();
    char topic[128], group[160], out1[256], out2[256];
    kt_topic(topic, sizeof(topic), "kill");
    snprintf(group, sizeof(group), "g-%s", topic);
    snprintf(out1, sizeof(out1), "/tmp/%s.run1", topic);
    snprintf(out2, sizeof(out2), "/tmp/%s.run2", topic);
    REQUIRE(it_create_topic(topic, PARTS));
    for (int p = 0; p < PARTS; p++)
        REQUIRE(kt_produce(it_bootstrap(), topic, p * PER, PER, p) == 0);

    /* Run 1: killed halfway. */
    double t0 = uv_hrtime() / 1e9;
    pid_t pid = spawn_consumer(topic, group, out1);
    REQUIRE(pid > 0);
    CHECK(wait_lines(out1, N / 2, 60));
    kill(pid, SIGKILL);
    int st = 0;
    waitpid(pid, &st, 0);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    int64_t committed[PARTS];
    for (int p = 0; p < PARTS; p++) {
        committed[p] = kt_committed(it_bootstrap(), group, topic, p);
        if (committed[p] == RD_KAFKA_OFFSET_INVALID) committed[p] = 0;
        CHECK(committed[p] >= 0 && committed[p] <= PER);
    }
    int lines1 = count_lines(out1);
    printf("  run 1 killed after %.1f s with %d records on file; committed %lld %lld %lld %lld\n",
           uv_hrtime() / 1e9 - t0, lines1, (long long)committed[0], (long long)committed[1],
           (long long)committed[2], (long long)committed[3]);
    CHECK(lines1 < N);

    /* Run 2: to the end, then a clean stop. */
    double t1 = uv_hrtime() / 1e9;
    pid = spawn_consumer(topic, group, out2);
    REQUIRE(pid > 0);
    static uint8_t s1[PARTS][PER], s2[PARTS][PER];
    memset(s1, 0, sizeof(s1));
    read_lines(out1, s1);
    uint64_t deadline = uv_hrtime() + (uint64_t)(rv_test_scale(90) * 1e9);
    int covered = 0;
    while (uv_hrtime() < deadline) {
        memset(s2, 0, sizeof(s2));
        read_lines(out2, s2);
        covered = 0;
        for (int p = 0; p < PARTS; p++)
            for (int o = 0; o < PER; o++)
                covered += s1[p][o] || s2[p][o];
        if (covered == N) break;
        usleep(50000);
    }
    kill(pid, SIGTERM);
    waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    memset(s2, 0, sizeof(s2));
    read_lines(out2, s2);
    printf("  run 2 took %.1f s\n", uv_hrtime() / 1e9 - t1);

    int missing = 0, twice = 0, twice_committed = 0, below_in_run2 = 0, committed_unprocessed = 0,
        dup_within_run = 0;
    for (int p = 0; p < PARTS; p++) {
        for (int o = 0; o < PER; o++) {
            if (!s1[p][o] && !s2[p][o]) missing++;
            if (s1[p][o] > 1 || s2[p][o] > 1) dup_within_run++;
            if (s1[p][o] && s2[p][o]) {
                twice++;
                if (o < committed[p]) twice_committed++;
            }
            if (o < committed[p] && s2[p][o]) below_in_run2++;
            if (o < committed[p] && !s1[p][o]) committed_unprocessed++;
        }
    }
    printf("  %d records: %d missing, %d seen in both runs (all at or above the commit), %d "
           "duplicated within a run\n",
           N, missing, twice, dup_within_run);
    CHECK_EQ(missing, 0);               /* at least once */
    CHECK_EQ(twice_committed, 0);       /* only uncommitted records twice */
    CHECK_EQ(below_in_run2, 0);         /* run 2 starts at the commit */
    CHECK_EQ(committed_unprocessed, 0); /* nothing committed before it was processed */
    CHECK_EQ(dup_within_run, 0);
    /* After the clean stop the group's commit is the end of every partition. */
    for (int p = 0; p < PARTS; p++)
        CHECK_EQ(kt_committed(it_bootstrap(), group, topic, p), PER);
    unlink(out1);
    unlink(out2);
}

RV_TEST_MAIN(RV_TEST_T(test_sigkill_and_restart, 300))
