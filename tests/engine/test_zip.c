/* rv_zip and rv_zip_with: the i-th elements of the inputs combined; the result
 * is a joined envelope that acks its parts. */
#include "engine_test_util.h"

typedef struct {
    int npairs;
    int64_t a[1000], b[1000];
} pairs_t;

static void record_pair(void *opaque, rv_env_t *env)
{
    pairs_t *p = opaque;
    const rv_pair_t *pr = rv_env_payload(env);
    p->a[p->npairs] = RV_INT(pr->a);
    p->b[p->npairs] = RV_INT(pr->b);
    p->npairs++;
}

/* Pairs in order; completes with the shorter input; the longer one's extra
 * elements are cancelled (failed, never OK). */
static void test_zip_pairs_and_completion(void)
{
    tu_t t;
    tu_init(&t, true, "graph.edge.capacity=4", NULL);
    psrc_t p1, p2;
    acks_t a1, a2;
    acks_init(&a1, 100);
    acks_init(&a2, 100000);
    psink_t s;
    pairs_t pr = {0};
    rv_stage_t *z = rv_zip(t.g);
    rv_link(psrc_new(t.g, &p1, 100), z);
    rv_link(psrc_new(t.g, &p2, -1), z);
    p1.acks = &a1;
    p2.acks = &a2;
    rv_link(z, psink_new(t.g, &s, true));
    s.on_elem = record_pair;
    s.opaque = &pr;
    CHECK_EQ(tu_run_all(&t, 1000), RV_OK);
    REQUIRE(pr.npairs == 100);
    for (int i = 0; i < 100; i++) {
        CHECK_EQ(pr.a[i], i);
        CHECK_EQ(pr.b[i], i);
        CHECK_EQ(s.offsets[i], i); /* the pair's metadata is its first part's */
    }
    CHECK_EQ(p2.cancels, 1);
    CHECK_EQ(s.finishes, 1);
    tu_fini(&t);
    CHECK_EQ(a1.ok, 100);
    CHECK_EQ(a2.ok, 100);
    CHECK_EQ(a2.total, (int)p2.emitted);
    CHECK(acks_at_most_once(&a2));
    acks_free(&a1);
    acks_free(&a2);
    psink_free(&s);
}

/* Backpressure: zip waits for both inputs; a slow input holds the fast one
 * at its edge's capacity. */
static void test_zip_backpressure(void)
{
    tu_t t;
    tu_init(&t, true, "graph.edge.capacity=4", NULL);
    psrc_t fast, slow;
    psink_t s;
    rv_stage_t *z = rv_zip(t.g);
    rv_link(psrc_new(t.g, &fast, -1), z);
    rv_link(psrc_new(t.g, &slow, -1), z);
    slow.credit_mode = true;
    rv_link(z, psink_new(t.g, &s, true));
    REQUIRE(tu_start(&t) == RV_OK);
    tu_settle(&t);
    CHECK_EQ(fast.emitted, 4);
    CHECK_EQ(s.n, 0);
    for (int i = 1; i <= 10; i++) {
        psrc_grant(&slow, 2);
        tu_settle(&t);
        CHECK_EQ(s.n, (size_t)(2 * i));
        CHECK_EQ(fast.emitted, (int64_t)s.n + 4);
    }
    rv_graph_abort(t.g);
    tu_settle(&t);
    tu_fini(&t);
    psink_free(&s);
}

static void test_zip_failure_and_cancel(void)
{
    for (int mode = 0; mode < 2; mode++) {
        tu_t t;
        tu_init(&t, true, NULL);
        psrc_t p1, p2;
        psink_t s;
        rv_stage_t *z = rv_zip(t.g);
        rv_link(psrc_new(t.g, &p1, -1), z);
        rv_link(psrc_new(t.g, &p2, -1), z);
        if (mode == 0) p2.fail_at = 10, p2.fail_code = RV_ERR_IO;
        rv_link(z, psink_new(t.g, &s, true));
        if (mode == 1) s.cancel_after = 5;
        rv_err_t rc = tu_run_all(&t, 1000);
        CHECK_EQ(p1.cancels, 1);
        if (mode == 0) {
            CHECK_EQ(rc, RV_ERR_IO);
            CHECK_EQ(s.finish_code, RV_ERR_IO);
        } else {
            CHECK_EQ(rc, RV_OK);
            CHECK_EQ(p2.cancels, 1);
            CHECK_EQ(s.n, 5);
        }
        tu_fini(&t);
        psink_free(&s);
    }
}

/* zip_with over three inputs. */
static rv_err_t sum3(void *const *ins, int n, void **out, rv_error_t **errp, void *opaque)
{
    int64_t sum = 0;
    for (int i = 0; i < n; i++)
        sum += RV_INT(ins[i]);
    *out = box_new(sum);
    return RV_OK;
}

static void test_zip_with_three(void)
{
    tu_t t;
    tu_init(&t, true, NULL);
    psink_t s;
    rv_stage_t *z = rv_zip_with(t.g, 3, sum3, free, NULL);
    rv_link(rv_source_range(t.g, 0, 50), z);
    rv_link(rv_source_range(t.g, 100, 60), z);
    rv_link(rv_source_range(t.g, 1000, 70), z);
    rv_link(z, psink_new(t.g, &s, true));
    s.boxed = true;
    CHECK_EQ(tu_run_all(&t, 1000), RV_OK);
    REQUIRE(s.n == 50);
    for (int i = 0; i < 50; i++)
        CHECK_EQ(s.vals[i], 3 * i + 1100);
    tu_fini(&t);
    psink_free(&s);
}

/* The deciders on zip_with: stop fails, resume drops the tuple (each part
 * failed), retry calls the function again with the same inputs. */
typedef struct {
    int calls_on_4;
    int fail_times;
    const void *first_ins[2];
    int same_inputs;
} zflaky_t;

static rv_err_t zflaky(void *const *ins, int n, void **out, rv_error_t **errp, void *opaque)
{
    zflaky_t *z = opaque;
    if (RV_INT(ins[0]) == 4) {
        if (z->calls_on_4 == 0) {
            z->first_ins[0] = ins[0];
            z->first_ins[1] = ins[1];
        } else if (z->first_ins[0] == ins[0] && z->first_ins[1] == ins[1]) {
            z->same_inputs++;
        }
        if (z->calls_on_4++ < z->fail_times)
            return rv_error_set(errp, RV_ERR_UNAVAILABLE, true, "not now");
    }
    *out = box_new(RV_INT(ins[0]) + RV_INT(ins[1]));
    return RV_OK;
}

static void test_zip_with_deciders(void)
{
    rv_decider_fn fns[] = {rv_decider_stop, rv_decider_resume, rv_decider_retry};
    for (int d = 0; d < 3; d++) {
        tu_t t;
        tu_init(&t, true, NULL);
        psrc_t p1, p2;
        acks_t a1, a2;
        acks_init(&a1, 10);
        acks_init(&a2, 10);
        psink_t s;
        zflaky_t zf = {.fail_times = 2};
        rv_stage_t *z =
            rv_stage_set_decider(rv_zip_with(t.g, 2, zflaky, free, &zf), fns[d], RV_PTR(5));
        rv_link(psrc_new(t.g, &p1, 10), z);
        rv_link(psrc_new(t.g, &p2, 10), z);
        p1.acks = &a1;
        p2.acks = &a2;
        rv_link(z, psink_new(t.g, &s, true));
        s.boxed = true;
        rv_err_t rc = tu_run_all(&t, 1000);
        if (d == 0) {
            CHECK_EQ(rc, RV_ERR_UNAVAILABLE);
            CHECK(strstr(t.r.msg, "not now") != NULL);
            CHECK_EQ(s.n, 4);
            CHECK_EQ(zf.calls_on_4, 1);
        } else if (d == 1) {
            CHECK_EQ(rc, RV_OK);
            CHECK_EQ(s.n, 9);
            CHECK_EQ(zf.calls_on_4, 1);
        } else {
            CHECK_EQ(rc, RV_OK);
            CHECK_EQ(s.n, 10);
            CHECK_EQ(zf.calls_on_4, 3);
            CHECK_EQ(zf.same_inputs, 2);
            for (size_t i = 0; i < s.n; i++)
                CHECK_EQ(s.vals[i], 2 * (int64_t)i);
        }
        tu_fini(&t);
        rv_err_t expect4 = d == 2 ? RV_OK : RV_ERR_UNAVAILABLE;
        CHECK_EQ(a1.status[4], expect4);
        CHECK_EQ(a2.status[4], expect4);
        CHECK_EQ(a1.calls[4], 1);
        acks_free(&a1);
        acks_free(&a2);
        psink_free(&s);
    }
}

static void test_zip_with_bad_args(void)
{
    tu_t t;
    tu_init(&t, true, NULL);
    CHECK(rv_zip_with(t.g, 0, sum3, NULL, NULL) == NULL);
    CHECK(rv_zip_with(t.g, 2, NULL, NULL, NULL) == NULL);
    rv_link(rv_source_range(t.g, 0, 1), rv_ignore(t.g));
    CHECK_EQ(tu_start(&t), RV_ERR_INVALID);
    tu_fini(&t);
}

RV_TEST_MAIN(RV_TEST_T(test_zip_pairs_and_completion, 10), RV_TEST_T(test_zip_backpressure, 10),
             RV_TEST_T(test_zip_failure_and_cancel, 10), RV_TEST_T(test_zip_with_three, 10),
             RV_TEST_T(test_zip_with_deciders, 10), RV_TEST_T(test_zip_with_bad_args, 10))
