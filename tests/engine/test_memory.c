/* Memory stays flat over a long run: source_range -> map -> broadcast(2) ->
 * two sinks, 10 million elements. Resident memory (VmRSS) is read from inside
 * a sink at 10% and at 100% of the run; it must not grow by more than a few
 * MB (envelopes are recycled from a per-graph pool, edges are fixed rings).
 *
 * RV_MEMTEST_N overrides the element count. Under AddressSanitizer the
 * default is smaller (5 million) to keep the run under a minute. */
#include "engine_test_util.h"

static long vm_rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    long kb = -1;
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kb = strtol(line + 6, NULL, 10);
            break;
        }
    fclose(f);
    return kb;
}

typedef struct {
    int64_t n, seen, sum;
    int64_t mark; /* read the first figure here */
    long rss_mark, rss_end;
} meter_t;

static rv_err_t meter(void *in, rv_error_t **errp, void *opaque)
{
    meter_t *m = opaque;
    m->sum += RV_INT(in);
    m->seen++;
    if (m->seen == m->mark) m->rss_mark = vm_rss_kb();
    if (m->seen == m->n) m->rss_end = vm_rss_kb();
    return RV_OK;
}

static rv_err_t count_only(void *in, rv_error_t **errp, void *opaque)
{
    (*(int64_t *)opaque)++;
    return RV_OK;
}

static void test_memory_flat_over_long_run(void)
{
    int64_t n = RV_UNDER_ASAN ? 5000000 : 10000000;
    const char *env = getenv("RV_MEMTEST_N");
    if (env && atoll(env) >= 100) n = atoll(env);
    tu_t t;
    tu_init(&t, false, NULL);
    meter_t m = {.n = n, .mark = n / 10};
    int64_t other = 0;
    rv_stage_t *b = rv_broadcast(t.g, 2, false);
    rv_chain(rv_source_range(t.g, 0, n), rv_map(t.g, tu_fn_add_one, NULL, NULL), b, NULL);
    rv_link(b, rv_for_each(t.g, meter, &m));
    rv_link(b, rv_for_each(t.g, count_only, &other));
    uint64_t t0 = uv_hrtime();
    CHECK_EQ(tu_run_all(&t, 600000), RV_OK);
    double secs = (double)(uv_hrtime() - t0) / 1e9;
    CHECK_EQ(m.seen, n);
    CHECK_EQ(other, n);
    CHECK_EQ(m.sum, n * (n + 1) / 2);
    REQUIRE(m.rss_mark > 0 && m.rss_end > 0);
    long growth = m.rss_end - m.rss_mark;
    fprintf(stderr,
            "  %" PRId64 " elements in %.2f s; VmRSS %ld kB at %" PRId64
            ", %ld kB at the end (%+ld kB)\n",
            n, secs, m.rss_mark, m.mark, m.rss_end, growth);
    CHECK(growth < 4 * 1024);
    tu_fini(&t);
}

RV_TEST_MAIN(RV_TEST_T(test_memory_flat_over_long_run, 300))
