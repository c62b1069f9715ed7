/* Helpers shared by the engine tests: run a graph to completion on a private
 * loop, a harness that owns a loop, a graph and (optionally) a virtual clock,
 * and probe stages written with the public stage API:
 *
 *   probe source  emits RV_PTR(i) payloads (or boxed ones with a destructor),
 *                 as much as its output room allows or as much credit as the
 *                 test grants; stamps metadata; tracks every element's ack; can
 *                 fail after k elements or push beyond its room on purpose.
 *   probe sink    takes elements only while the test grants credit, records
 *                 payloads, the largest backlog it ever saw on its input, the
 *                 terminal signal and anything that arrives after it; can cancel
 *                 or fail after k elements, and can keep envelopes.
 *
 * The probes' state belongs to the test (usually on its stack): their stop
 * hooks free nothing but what the probe itself holds, so the test can read the
 * records after the graph is destroyed. */
#ifndef RV_ENGINE_TEST_UTIL_H
#define RV_ENGINE_TEST_UTIL_H

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "rivulet.h"
#include "rv_test.h"

/* ------------------------------------------------------------ leak checks */

/* Under AddressSanitizer the engine tests also ask LeakSanitizer themselves
 * once a test's graph and loop are gone (tu_fini, TU_LEAK_CHECK), so a leak is
 * reported at the line of the test that made it; the harness checks again when
 * the test's process exits. */
#if defined(__SANITIZE_ADDRESS__)
#define RV_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RV_UNDER_ASAN 1
#endif
#endif
#ifndef RV_UNDER_ASAN
#define RV_UNDER_ASAN 0
#endif

#if RV_UNDER_ASAN
#include <sanitizer/lsan_interface.h>
#define TU_LEAK_CHECK()                                                                            \
    do {                                                                                           \
        if (__lsan_do_recoverable_leak_check())                                                    \
            rv_test_fail_at(__FILE__, __LINE__, "LeakSanitizer found leaks (report above)");       \
    } while (0)
#else
#define TU_LEAK_CHECK() ((void)0)
#endif

typedef struct {
    bool done;
    int done_calls;
    rv_err_t code;
    char msg[256];
} run_result_t;

static inline void tu_done(rv_graph_t *g, const rv_error_t *status, void *opaque)
{
    run_result_t *r = opaque;
    r->done = true;
    r->done_calls++;
    r->code = rv_error_code(status);
    snprintf(r->msg, sizeof(r->msg), "%s", status ? rv_error_msg(status) : "");
}

/* Runs the loop until the graph is done (or max_ms of loop time passed).
 * Returns the final status code; RV_ERR_TIMEOUT when it did not finish. */
static inline rv_err_t tu_run(rv_graph_t *g, run_result_t *r, uint64_t max_ms)
{
    uv_loop_t *loop = rv_graph_loop(g);
    rv_error_t *err = NULL;
    if (rv_graph_run(g, tu_done, r, &err) != RV_OK) {
        r->code = rv_error_code(err);
        snprintf(r->msg, sizeof(r->msg), "%s", rv_error_msg(err));
        rv_error_destroy(err);
        return r->code;
    }
    uint64_t start = uv_now(loop);
    while (!r->done && uv_now(loop) - start < max_ms) {
        uv_run(loop, UV_RUN_NOWAIT);
        uv_update_time(loop);
        if (!r->done) uv_sleep(0);
    }
    return r->done ? r->code : RV_ERR_TIMEOUT;
}

/* Destroys the graph and lets the loop close its handles. */
static inline void tu_destroy(rv_graph_t *g)
{
    uv_loop_t *loop = rv_graph_loop(g);
    rv_graph_destroy(g);
    uv_run(loop, UV_RUN_DEFAULT);
}

static inline rv_conf_t *tu_conf(const char *k, const char *v)
{
    rv_conf_t *c = rv_conf_new();
    if (k) rv_conf_set(c, k, v, NULL);
    return c;
}

/* ------------------------------------------------------------------ harness */

/* A loop, a graph on it and, when asked, a virtual clock. */
typedef struct {
    uv_loop_t loop;
    rv_graph_t *g;
    rv_clock_t *clock;
    run_result_t r;
    bool destroyed;
} tu_t;

/* conf: NULL-terminated "key=value" strings (may be NULL). */
static inline void tu_init_v(tu_t *t, bool virtual_clock, const char *const *pairs)
{
    memset(t, 0, sizeof(*t));
    uv_loop_init(&t->loop);
    rv_conf_t *c = rv_conf_new();
    for (size_t i = 0; pairs && pairs[i]; i++)
        rv_conf_set_pair(c, pairs[i], NULL);
    rv_error_t *err = NULL;
    t->g = rv_graph_new(&t->loop, c, &err);
    if (!t->g) {
        fprintf(stderr, "rv_graph_new: %s\n", rv_error_msg(err));
        abort();
    }
    rv_conf_destroy(c);
    if (virtual_clock) {
        t->clock = rv_clock_virtual_new(0);
        rv_graph_set_clock(t->g, t->clock);
    }
}

/* tu_init(&t, virtual_clock, "key=value", ..., NULL) */
static inline void tu_init(tu_t *t, bool virtual_clock, ...) __attribute__((sentinel));
static inline void tu_init(tu_t *t, bool virtual_clock, ...)
{
    const char *pairs[16];
    size_t n = 0;
    va_list ap;
    va_start(ap, virtual_clock);
    const char *s;
    while ((s = va_arg(ap, const char *)) != NULL && n < 15)
        pairs[n++] = s;
    va_end(ap);
    pairs[n] = NULL;
    tu_init_v(t, virtual_clock, pairs);
}

/* Starts the graph; returns rv_graph_run's result (the message goes to r.msg). */
static inline rv_err_t tu_start(tu_t *t)
{
    rv_error_t *err = NULL;
    rv_err_t rc = rv_graph_run(t->g, tu_done, &t->r, &err);
    if (rc != RV_OK) snprintf(t->r.msg, sizeof(t->r.msg), "%s", rv_error_msg(err));
    rv_error_destroy(err);
    return rc;
}

/* Lets every pending stage run: with a virtual clock by advancing it by 0 (which
 * runs the scheduler to quiescence), else by turning the loop a few times. */
static inline void tu_settle(tu_t *t)
{
    if (t->clock) {
        rv_clock_advance(t->clock, 0);
    } else {
        for (int i = 0; i < 64; i++)
            uv_run(&t->loop, UV_RUN_NOWAIT);
    }
}

static inline void tu_advance(tu_t *t, uint64_t ms)
{
    rv_clock_advance(t->clock, ms);
}

/* Runs until done (real loop) or settles (virtual clock); returns the status. */
static inline rv_err_t tu_run_all(tu_t *t, uint64_t max_ms)
{
    if (tu_start(t) != RV_OK) return RV_ERR_INVALID;
    if (t->clock) {
        tu_settle(t);
        return t->r.done ? t->r.code : RV_ERR_TIMEOUT;
    }
    uint64_t start = uv_now(&t->loop);
    while (!t->r.done && uv_now(&t->loop) - start < max_ms) {
        uv_run(&t->loop, UV_RUN_NOWAIT);
        uv_update_time(&t->loop);
        if (!t->r.done) uv_sleep(0);
    }
    return t->r.done ? t->r.code : RV_ERR_TIMEOUT;
}

/* Spins the real loop until cond holds or max_ms passed. */
#define TU_WAIT(t, cond, max_ms)                                                                   \
    do {                                                                                           \
        uint64_t tu_s_ = uv_now(&(t)->loop);                                                       \
        while (!(cond) && uv_now(&(t)->loop) - tu_s_ < (max_ms)) {                                 \
            uv_run(&(t)->loop, UV_RUN_NOWAIT);                                                     \
            uv_update_time(&(t)->loop);                                                            \
            if (!(cond)) uv_sleep(0);                                                              \
        }                                                                                          \
    } while (0)

/* Destroys the graph, runs the loop's close callbacks and closes the loop
 * (checking that nothing was left on it). */
static inline void tu_fini(tu_t *t)
{
    if (!t->destroyed) {
        rv_graph_destroy(t->g);
        t->destroyed = true;
    }
    uv_run(&t->loop, UV_RUN_DEFAULT);
    CHECK_EQ(uv_loop_close(&t->loop), 0);
    rv_clock_destroy(t->clock);
    t->clock = NULL;
    TU_LEAK_CHECK();
}

static inline rv_stage_counters_t tu_counters(const rv_stage_t *st)
{
    rv_stage_counters_t c;
    rv_stage_get_counters(st, &c);
    return c;
}

/* ---------------------------------------------------------- ack tracking */

/* Records each element's ack by its metadata offset. */
typedef struct {
    size_t n;
    int *calls;       /* ack calls per element */
    rv_err_t *status; /* last status per element */
    int ok, failed, total;
} acks_t;

static inline void acks_init(acks_t *a, size_t n)
{
    memset(a, 0, sizeof(*a));
    a->n = n;
    a->calls = calloc(n ? n : 1, sizeof(int));
    a->status = calloc(n ? n : 1, sizeof(rv_err_t));
}

static inline void acks_free(acks_t *a)
{
    free(a->calls);
    free(a->status);
    a->calls = NULL;
    a->status = NULL;
}

static inline void acks_cb(rv_env_t *root, rv_err_t status, void *opaque)
{
    acks_t *a = opaque;
    int64_t i = rv_env_meta(root)->offset;
    a->total++;
    if (status == RV_OK)
        a->ok++;
    else
        a->failed++;
    if (i >= 0 && (size_t)i < a->n) {
        a->calls[i]++;
        a->status[i] = status;
    }
}

/* Every element was acked at most once. */
static inline bool acks_at_most_once(const acks_t *a)
{
    for (size_t i = 0; i < a->n; i++)
        if (a->calls[i] > 1) return false;
    return true;
}

/* --------------------------------------------------------------- box payload */

/* A heap payload holding an integer, freed with free(): LeakSanitizer then
 * checks that every element's payload was released exactly once. */
static inline void *box_new(int64_t v)
{
    int64_t *p = malloc(sizeof(*p));
    *p = v;
    return p;
}
static inline int64_t box_val(const void *p)
{
    return *(const int64_t *)p;
}

/* -------------------------------------------------------------- probe source */

typedef struct {
    rv_stage_t *st;
    int64_t n; /* elements to emit; < 0: forever */
    int64_t emitted;
    bool boxed;       /* payload box_new(i) instead of RV_PTR(i) */
    bool no_complete; /* stay open after the last element */
    bool credit_mode; /* emit only while credit > 0 */
    int64_t credit;
    int64_t fail_at; /* fail when this many were emitted (-1: never) */
    rv_err_t fail_code;
    size_t overpush; /* push this many more than the room allows, once */
    acks_t *acks;    /* set each element's ack to acks_cb */
    const char *topic;
    /* records */
    size_t max_room;
    int cancels;        /* on_cancel calls */
    int after_terminal; /* hooks called after the stage finished or was cancelled */
    bool terminal;
    int drains;
    int aborts;
} psrc_t;

static inline void psrc_on_room(rv_stage_t *st)
{
    psrc_t *p = rv_stage_state(st);
    if (p->terminal) p->after_terminal++;
    size_t room = rv_out_room(st, 0);
    if (room > p->max_room) p->max_room = room;
    if (p->overpush) {
        room += p->overpush;
        p->overpush = 0;
    }
    rv_graph_t *g = rv_stage_graph(st);
    while (room > 0 && (p->n < 0 || p->emitted < p->n) && !rv_stage_finished(st)) {
        if (p->credit_mode && p->credit <= 0) break;
        if (p->fail_at >= 0 && p->emitted == p->fail_at) {
            p->terminal = true;
            rv_stage_fail(st, rv_error_new(p->fail_code ? p->fail_code : RV_ERR_IO, false,
                                           "probe source failed at %" PRId64, p->emitted));
            return;
        }
        int64_t i = p->emitted;
        rv_env_t *env = p->boxed ? rv_env_new(g, box_new(i), free) : rv_env_new(g, RV_PTR(i), NULL);
        rv_meta_t *m = rv_env_meta_mut(env);
        m->offset = i;
        m->partition = 7;
        m->topic = p->topic ? p->topic : "probe";
        if (p->acks) rv_env_set_ack(env, acks_cb, p->acks);
        p->emitted++;
        if (p->credit_mode) p->credit--;
        room--;
        rv_out_push(st, 0, env);
    }
    if (p->n >= 0 && p->emitted == p->n && !p->no_complete && !rv_stage_finished(st)) {
        p->terminal = true;
        rv_stage_finish(st);
    }
}

static inline void psrc_on_cancel(rv_stage_t *st, int port)
{
    psrc_t *p = rv_stage_state(st);
    if (p->terminal) p->after_terminal++;
    p->cancels++;
    p->terminal = true;
    rv_stage_finish(st);
}

static inline void psrc_on_drain(rv_stage_t *st)
{
    psrc_t *p = rv_stage_state(st);
    p->drains++;
    p->terminal = true;
    rv_stage_finish(st);
}

static inline void psrc_on_abort(rv_stage_t *st)
{
    psrc_t *p = rv_stage_state(st);
    p->aborts++;
    p->terminal = true;
}

static const rv_stage_ops_t psrc_ops = {.kind = "probe-source",
                                        .on_room = psrc_on_room,
                                        .on_cancel = psrc_on_cancel,
                                        .on_drain = psrc_on_drain,
                                        .on_abort = psrc_on_abort};

static inline rv_stage_t *psrc_new(rv_graph_t *g, psrc_t *p, int64_t n)
{
    memset(p, 0, sizeof(*p));
    p->n = n;
    p->fail_at = -1;
    p->st = rv_stage_new(g, &psrc_ops, p, 0, 1);
    return p->st;
}

static inline void psrc_grant(psrc_t *p, int64_t k)
{
    p->credit += k;
    rv_stage_wake(p->st);
}

/* ---------------------------------------------------------------- probe sink */

typedef struct {
    rv_stage_t *st;
    bool unlimited;
    size_t credit;
    size_t cancel_after; /* cancel (and finish) after this many (0: never) */
    size_t fail_after;   /* fail after this many (0: never) */
    rv_err_t fail_code;
    bool keep;           /* hold the envelopes until the stage stops */
    bool release_failed; /* release as failed instead of after success */
    /* records */
    size_t n;
    int64_t *vals; /* RV_INT(payload), or box_val when boxed */
    void **ptrs;   /* payload pointers */
    int64_t *offsets;
    rv_env_t **kept;
    size_t cap;
    bool boxed;
    size_t max_avail;
    int finishes; /* on_finish calls */
    rv_err_t finish_code;
    int after_terminal;
    bool terminal;
    void (*on_elem)(void *opaque, rv_env_t *env); /* optional, called per element */
    void *opaque;
} psink_t;

static inline void psink_record(psink_t *p, rv_env_t *env)
{
    if (p->n == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 64;
        p->vals = realloc(p->vals, p->cap * sizeof(*p->vals));
        p->ptrs = realloc(p->ptrs, p->cap * sizeof(*p->ptrs));
        p->offsets = realloc(p->offsets, p->cap * sizeof(*p->offsets));
        p->kept = realloc(p->kept, p->cap * sizeof(*p->kept));
    }
    void *pl = rv_env_payload(env);
    p->ptrs[p->n] = pl;
    p->vals[p->n] = p->boxed ? (pl ? box_val(pl) : -1) : RV_INT(pl);
    p->offsets[p->n] = rv_env_meta(env)->offset;
    p->kept[p->n] = p->keep ? env : NULL;
    p->n++;
}

static inline void psink_on_input(rv_stage_t *st)
{
    psink_t *p = rv_stage_state(st);
    if (p->terminal) p->after_terminal++;
    size_t a = rv_in_avail(st, 0);
    if (a > p->max_avail) p->max_avail = a;
    while (p->unlimited || p->credit > 0) {
        rv_env_t *env = rv_in_pop(st, 0);
        if (!env) break;
        if (!p->unlimited) p->credit--;
        psink_record(p, env);
        if (p->on_elem) p->on_elem(p->opaque, env);
        if (!p->keep) {
            if (p->release_failed)
                rv_env_release_failed(env, RV_ERR_IO);
            else
                rv_env_release(env);
        }
        if (p->cancel_after && p->n == p->cancel_after) {
            p->terminal = true;
            rv_in_cancel(st, 0);
            rv_in_cancel(st, 0); /* idempotent */
            rv_stage_finish(st);
            return;
        }
        if (p->fail_after && p->n == p->fail_after) {
            p->terminal = true;
            rv_stage_fail(st, rv_error_new(p->fail_code ? p->fail_code : RV_ERR_IO, false,
                                           "probe sink failed after %zu", p->n));
            return;
        }
    }
}

static inline void psink_on_finish(rv_stage_t *st, int port, const rv_error_t *err)
{
    psink_t *p = rv_stage_state(st);
    if (p->terminal) p->after_terminal++;
    p->terminal = true;
    p->finishes++;
    p->finish_code = rv_error_code(err);
    if (err)
        rv_stage_fail(st, rv_error_copy(err));
    else
        rv_stage_finish(st);
}

static inline void psink_stop(rv_stage_t *st)
{
    psink_t *p = rv_stage_state(st);
    for (size_t i = 0; i < p->n; i++)
        if (p->kept[i]) {
            rv_env_release(p->kept[i]);
            p->kept[i] = NULL;
        }
}

static const rv_stage_ops_t psink_ops = {.kind = "probe-sink",
                                         .on_input = psink_on_input,
                                         .on_finish = psink_on_finish,
                                         .stop = psink_stop};

static inline rv_stage_t *psink_new(rv_graph_t *g, psink_t *p, bool unlimited)
{
    memset(p, 0, sizeof(*p));
    p->unlimited = unlimited;
    p->st = rv_stage_new(g, &psink_ops, p, 1, 0);
    return p->st;
}

static inline void psink_grant(psink_t *p, size_t k)
{
    p->credit += k;
    rv_stage_wake(p->st);
}

static inline void psink_free(psink_t *p)
{
    free(p->vals);
    free(p->ptrs);
    free(p->offsets);
    free(p->kept);
    p->vals = NULL;
    p->ptrs = NULL;
    p->offsets = NULL;
    p->kept = NULL;
}

/* True when the sink saw exactly 0..n-1 in order. */
static inline bool psink_is_range(const psink_t *p, int64_t start, size_t n)
{
    if (p->n != n) return false;
    for (size_t i = 0; i < n; i++)
        if (p->vals[i] != start + (int64_t)i) return false;
    return true;
}

/* -------------------------------------------------------------- misc helpers */

static inline rv_err_t tu_fn_add_one(void *in, void **out, rv_error_t **errp, void *opaque)
{
    *out = RV_PTR(RV_INT(in) + 1);
    return RV_OK;
}

static inline rv_err_t tu_fn_identity(void *in, void **out, rv_error_t **errp, void *opaque)
{
    *out = in;
    return RV_OK;
}

/* A small deterministic generator for shuffles (xorshift32). */
static inline uint32_t tu_rand(uint32_t *s)
{
    uint32_t x = *s ? *s : 2463534242u;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *s = x;
}

#endif
