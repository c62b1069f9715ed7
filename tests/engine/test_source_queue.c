/* rv_source_queue: a bounded, thread-safe queue fed from other threads. */
#include <stdatomic.h>

#include "engine_test_util.h"

enum { PRODUCERS = 4, PER_PRODUCER = 3000 };

typedef struct {
    rv_queue_t *q;
    int id;
    atomic_int *left; /* producers still running; the last closes the queue */
    int errors;
} producer_t;

static void producer(void *arg)
{
    producer_t *p = arg;
    for (int i = 0; i < PER_PRODUCER; i++) {
        void *item = box_new((int64_t)p->id * 1000000 + i);
        if (rv_queue_put(p->q, item, free, -1) != RV_OK) {
            free(item);
            p->errors++;
        }
    }
    if (atomic_fetch_sub(p->left, 1) == 1) rv_queue_close(p->q);
}

/* Several producer threads with blocking puts into a small queue: every item
 * arrives exactly once, each producer's items in its order, then completion. */
static void test_queue_producers(void)
{
    tu_t t;
    tu_init(&t, false, "graph.edge.capacity=4", NULL);
    rv_stage_t *src = rv_source_queue(t.g, 8);
    psink_t s;
    rv_link(src, psink_new(t.g, &s, true));
    s.boxed = true;
    rv_queue_t *q = rv_source_queue_get(src);
    atomic_int left = PRODUCERS;
    producer_t p[PRODUCERS];
    uv_thread_t th[PRODUCERS];
    REQUIRE(tu_start(&t) == RV_OK);
    for (int i = 0; i < PRODUCERS; i++) {
        p[i] = (producer_t){q, i, &left, 0};
        uv_thread_create(&th[i], producer, &p[i]);
    }
    TU_WAIT(&t, t.r.done, 20000);
    for (int i = 0; i < PRODUCERS; i++) {
        uv_thread_join(&th[i]);
        CHECK_EQ(p[i].errors, 0);
    }
    CHECK(t.r.done);
    CHECK_EQ(t.r.code, RV_OK);
    REQUIRE(s.n == PRODUCERS * PER_PRODUCER);
    int64_t next[PRODUCERS] = {0};
    int disorder = 0;
    for (size_t i = 0; i < s.n; i++) {
        int id = (int)(s.vals[i] / 1000000);
        if (id < 0 || id >= PRODUCERS || s.vals[i] % 1000000 != next[id]++) disorder++;
    }
    CHECK_EQ(disorder, 0);
    CHECK(s.max_avail <= 4);
    tu_fini(&t);
    psink_free(&s);
}

/* Backpressure: with a sink that takes nothing, the queue and the edge fill
 * and then offers are refused with RV_ERR_OVERFLOW (the caller keeps the item). */
static void test_queue_backpressure_offer_overflow(void)
{
    tu_t t;
    tu_init(&t, false, "graph.edge.capacity=4", NULL);
    rv_stage_t *src = rv_source_queue(t.g, 8);
    psink_t s;
    rv_link(src, psink_new(t.g, &s, false));
    rv_queue_t *q = rv_source_queue_get(src);
    REQUIRE(tu_start(&t) == RV_OK);
    int accepted = 0;
    for (int i = 0; i < 100; i++) {
        void *item = box_new(i);
        rv_err_t rc = rv_queue_offer(q, item, free);
        if (rc == RV_OK)
            accepted++;
        else {
            CHECK_EQ(rc, RV_ERR_OVERFLOW);
            free(item);
        }
        tu_settle(&t);
    }
    CHECK_EQ(accepted, 8 + 4);
    CHECK_EQ(tu_counters(src).out, 4);
    CHECK_EQ(s.n, 0);
    psink_grant(&s, 5);
    tu_settle(&t);
    CHECK_EQ(s.n, 5);
    /* Five places were freed in the queue. */
    for (int i = 0; i < 5; i++)
        CHECK_EQ(rv_queue_offer(q, box_new(100 + i), free), RV_OK);
    void *extra = box_new(999);
    CHECK_EQ(rv_queue_offer(q, extra, free), RV_ERR_OVERFLOW);
    free(extra);
    rv_queue_close(q);
    psink_grant(&s, 1000);
    tu_settle(&t);
    CHECK(t.r.done);
    CHECK_EQ(t.r.code, RV_OK);
    CHECK_EQ(s.n, 17);
    tu_fini(&t);
    psink_free(&s);
}

typedef struct {
    rv_queue_t *q;
    int64_t timeout_ms;
    atomic_int done;
    rv_err_t rc;
    uint64_t took_ms;
} put_one_t;

static void put_one(void *arg)
{
    put_one_t *p = arg;
    uint64_t t0 = uv_hrtime();
    p->rc = rv_queue_put(p->q, RV_PTR(77), NULL, p->timeout_ms);
    p->took_ms = (uv_hrtime() - t0) / 1000000;
    atomic_store(&p->done, 1);
}

/* A blocking put waits for room and goes on when the sink takes; a put with a
 * timeout gives up with RV_ERR_TIMEOUT. */
static void test_queue_blocking_put_and_timeout(void)
{
    tu_t t;
    tu_init(&t, false, "graph.edge.capacity=1", NULL);
    rv_stage_t *src = rv_source_queue(t.g, 2);
    psink_t s;
    rv_link(src, psink_new(t.g, &s, false));
    rv_queue_t *q = rv_source_queue_get(src);
    REQUIRE(tu_start(&t) == RV_OK);
    for (int i = 0; i < 3; i++) {
        CHECK_EQ(rv_queue_offer(q, RV_PTR(i), NULL), RV_OK);
        tu_settle(&t);
    }
    /* 1 in the edge, 2 in the queue: full. */
    put_one_t tp = {q, 30, 0, RV_OK, 0};
    uv_thread_t th;
    uv_thread_create(&th, put_one, &tp);
    uv_thread_join(&th);
    CHECK_EQ(tp.rc, RV_ERR_TIMEOUT);
    CHECK(tp.took_ms >= 25);
    put_one_t bp = {q, -1, 0, RV_OK, 0};
    uv_thread_create(&th, put_one, &bp);
    uv_sleep(50);
    tu_settle(&t);
    CHECK_EQ(atomic_load(&bp.done), 0); /* still blocked */
    psink_grant(&s, 1);
    TU_WAIT(&t, atomic_load(&bp.done), 5000);
    uv_thread_join(&th);
    CHECK_EQ(bp.rc, RV_OK);
    rv_queue_close(q);
    psink_grant(&s, 100);
    TU_WAIT(&t, t.r.done, 5000);
    CHECK_EQ(t.r.code, RV_OK);
    CHECK_EQ(s.n, 4);
    CHECK_EQ(s.vals[3], 77);
    tu_fini(&t);
    psink_free(&s);
}

/* Close: the items already queued still arrive, then the source completes;
 * later offers are refused with RV_ERR_CLOSED. */
static void test_queue_close(void)
{
    tu_t t;
    tu_init(&t, false, NULL);
    rv_stage_t *src = rv_source_queue(t.g, 16);
    psink_t s;
    rv_link(src, psink_new(t.g, &s, true));
    rv_queue_t *q = rv_source_queue_get(src);
    for (int i = 0; i < 10; i++)
        CHECK_EQ(rv_queue_offer(q, RV_PTR(i), NULL), RV_OK);
    rv_queue_close(q);
    rv_queue_close(q);
    CHECK_EQ(rv_queue_offer(q, RV_PTR(99), NULL), RV_ERR_CLOSED);
    CHECK_EQ(rv_queue_put(q, RV_PTR(99), NULL, 10), RV_ERR_CLOSED);
    CHECK_EQ(tu_run_all(&t, 5000), RV_OK);
    CHECK(psink_is_range(&s, 0, 10));
    CHECK_EQ(s.finishes, 1);
    tu_fini(&t);
    psink_free(&s);
}

/* Downstream cancels: producers are told RV_ERR_CLOSED, a blocked one wakes. */
static void test_queue_cancel_wakes_producer(void)
{
    tu_t t;
    tu_init(&t, false, "graph.edge.capacity=1", NULL);
    rv_stage_t *src = rv_source_queue(t.g, 1);
    psink_t s;
    rv_link(src, psink_new(t.g, &s, false));
    rv_queue_t *q = rv_source_queue_get(src);
    REQUIRE(tu_start(&t) == RV_OK);
    CHECK_EQ(rv_queue_offer(q, RV_PTR(0), NULL), RV_OK);
    tu_settle(&t);
    CHECK_EQ(rv_queue_offer(q, RV_PTR(1), NULL), RV_OK);
    put_one_t bp = {q, -1, 0, RV_OK, 0};
    uv_thread_t th;
    uv_thread_create(&th, put_one, &bp);
    uv_sleep(30);
    CHECK_EQ(atomic_load(&bp.done), 0);
    s.cancel_after = 1;
    psink_grant(&s, 1);
    TU_WAIT(&t, t.r.done && atomic_load(&bp.done), 5000);
    uv_thread_join(&th);
    CHECK_EQ(bp.rc, RV_ERR_CLOSED);
    CHECK(t.r.done);
    CHECK_EQ(t.r.code, RV_OK);
    CHECK_EQ(rv_queue_offer(q, RV_PTR(5), NULL), RV_ERR_CLOSED);
    tu_fini(&t);
    psink_free(&s);
}

/* A put with a huge timeout (INT64_MAX ms) waits for room like a blocking one;
 * it does not overflow into an immediate RV_ERR_TIMEOUT. */
static void test_queue_put_huge_timeout_waits(void)
{
    tu_t t;
    tu_init(&t, false, "graph.edge.capacity=1", NULL);
    rv_stage_t *src = rv_source_queue(t.g, 1);
    psink_t s;
    rv_link(src, psink_new(t.g, &s, false));
    rv_queue_t *q = rv_source_queue_get(src);
    REQUIRE(tu_start(&t) == RV_OK);
    CHECK_EQ(rv_queue_offer(q, RV_PTR(0), NULL), RV_OK);
    tu_settle(&t);
    CHECK_EQ(rv_queue_offer(q, RV_PTR(1), NULL), RV_OK); /* edge and queue full */
    put_one_t bp = {q, INT64_MAX, 0, RV_OK, 0};
    uv_thread_t th;
    uv_thread_create(&th, put_one, &bp);
    uv_sleep(50);
    CHECK_EQ(atomic_load(&bp.done), 0); /* still waiting for room */
    psink_grant(&s, 1);
    TU_WAIT(&t, atomic_load(&bp.done), 5000);
    uv_thread_join(&th);
    CHECK_EQ(bp.rc, RV_OK);
    rv_queue_close(q);
    psink_grant(&s, 100);
    TU_WAIT(&t, t.r.done, 5000);
    CHECK_EQ(t.r.code, RV_OK);
    CHECK_EQ(s.n, 3);
    tu_fini(&t);
    psink_free(&s);
}

/* Abort: queued items are freed (LeakSanitizer checks), a blocked producer
 * wakes with RV_ERR_CLOSED, the status is RV_ERR_CANCELLED. */
static void test_queue_abort_frees_items(void)
{
    tu_t t;
    tu_init(&t, false, "graph.edge.capacity=2", NULL);
    rv_stage_t *src = rv_source_queue(t.g, 4);
    psink_t s;
    rv_link(src, psink_new(t.g, &s, false));
    rv_queue_t *q = rv_source_queue_get(src);
    REQUIRE(tu_start(&t) == RV_OK);
    int accepted = 0;
    for (int i = 0; i < 6; i++) {
        accepted += rv_queue_offer(q, box_new(i), free) == RV_OK;
        tu_settle(&t);
    }
    CHECK_EQ(accepted, 6);
    put_one_t bp = {q, -1, 0, RV_OK, 0};
    uv_thread_t th;
    uv_thread_create(&th, put_one, &bp);
    uv_sleep(30);
    CHECK_EQ(atomic_load(&bp.done), 0);
    rv_graph_abort(t.g);
    TU_WAIT(&t, t.r.done && atomic_load(&bp.done), 5000);
    uv_thread_join(&th);
    CHECK_EQ(bp.rc, RV_ERR_CLOSED);
    CHECK_EQ(t.r.code, RV_ERR_CANCELLED);
    tu_fini(&t);
    psink_free(&s);
}

/* Graceful stop: what is queued still arrives; then the source completes. */
static void test_queue_graceful_stop(void)
{
    tu_t t;
    tu_init(&t, false, NULL);
    rv_stage_t *src = rv_source_queue(t.g, 64);
    psink_t s;
    rv_link(src, psink_new(t.g, &s, true));
    rv_queue_t *q = rv_source_queue_get(src);
    REQUIRE(tu_start(&t) == RV_OK);
    for (int i = 0; i < 50; i++)
        CHECK_EQ(rv_queue_offer(q, RV_PTR(i), NULL), RV_OK);
    rv_graph_stop(t.g);
    CHECK_EQ(rv_queue_offer(q, RV_PTR(50), NULL), RV_ERR_CLOSED);
    TU_WAIT(&t, t.r.done, 5000);
    CHECK_EQ(t.r.code, RV_OK);
    CHECK(psink_is_range(&s, 0, 50));
    tu_fini(&t);
    psink_free(&s);
}

static void test_queue_bad_capacity(void)
{
    tu_t t;
    tu_init(&t, false, NULL);
    CHECK(rv_source_queue(t.g, 0) == NULL);
    CHECK(rv_source_queue_get(NULL) == NULL);
    rv_link(rv_source_range(t.g, 0, 1), rv_ignore(t.g));
    CHECK_EQ(tu_start(&t), RV_ERR_INVALID);
    CHECK(strstr(t.r.msg, "capacity must be > 0") != NULL);
    tu_fini(&t);
}

RV_TEST_MAIN(RV_TEST_T(test_queue_producers, 30),
             RV_TEST_T(test_queue_backpressure_offer_overflow, 10),
             RV_TEST_T(test_queue_blocking_put_and_timeout, 10), RV_TEST_T(test_queue_close, 10),
             RV_TEST_T(test_queue_cancel_wakes_producer, 10),
             RV_TEST_T(test_queue_abort_frees_items, 10), RV_TEST_T(test_queue_graceful_stop, 10),
             RV_TEST_T(test_queue_bad_capacity, 10),
             RV_TEST_T(test_queue_put_huge_timeout_waits, 10))
