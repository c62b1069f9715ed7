/* Internal structures of the stream engine, shared by the files of src/engine.
 * Stages (src/stages and connectors) use only the public stage API. */
#ifndef RV_ENGINE_ENGINE_H
#define RV_ENGINE_ENGINE_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "rivulet/clock.h"
#include "rivulet/env.h"
#include "rivulet/graph.h"
#include "rivulet/stage.h"

#define RV_MAX_PORTS 64
/* Largest edge capacity (graph.edge.capacity and rv_link_ports). */
#define RV_EDGE_MAX_CAPACITY 65536

struct rv_env {
    uint32_t refs;
    rv_err_t status; /* root: first failure code; derived: unused */
    void *payload;
    rv_free_fn free_payload;
    rv_env_t *parent; /* derived envelopes point at their parent */
    rv_graph_t *g;
    rv_env_t *next_free; /* pool link while free */
    /* Root-only fields. */
    rv_meta_t meta;
    rv_free_fn free_origin;
    rv_ack_fn ack;
    void *ack_opaque;
};

typedef enum { RV_UP_OPEN, RV_UP_COMPLETED, RV_UP_FAILED } rv_up_state_t;

typedef struct rv_edge {
    rv_env_t **ring;
    uint32_t mask;       /* ring size - 1 (ring size is a power of two) */
    uint32_t cap;        /* usable capacity, <= ring size */
    uint32_t head, tail; /* free-running counters: count = tail - head */
    rv_stage_t *up, *down;
    int up_port, down_port;
    uint8_t up_state;    /* rv_up_state_t */
    bool cancelled;      /* downstream cancelled */
    bool finish_seen;    /* downstream was told of completion/failure */
    bool cancel_seen;    /* upstream was told of the cancel */
    rv_error_t *err;     /* failure of upstream, owned */
    uint64_t full_since; /* hrtime when the edge became full, 0 when not full */
} rv_edge_t;

struct rv_stage {
    rv_graph_t *g;
    const rv_stage_ops_t *ops;
    void *state;
    char *name;
    int id;
    int n_in, n_out;
    rv_edge_t **in, **out;
    bool scheduled, finished, started, stopped, in_hook;
    bool want_room;   /* outputs gained room since the last run */
    bool want_input;  /* inputs gained elements since the last run */
    bool want_events; /* finish/cancel notifications may be pending */
    /* Its failure is handled by the stage it feeds (the inner source of a
     * restart-with-backoff): it fails its outputs as usual but does not become
     * the graph's status; the supervising stage decides that. */
    bool contained;
    rv_stage_t *next_run;
    rv_stage_t *next_all;
    rv_decider_fn decider;
    void *decider_opaque;
    rv_stage_counters_t c;
};

struct rv_timer {
    rv_graph_t *g;
    rv_stage_t *st;
    rv_timer_fn fn;
    void *opaque;
    uint64_t deadline;
    uint64_t seq;
    int heap_idx; /* -1 when not armed */
};

struct rv_graph {
    uv_loop_t *loop;
    uint32_t edge_capacity;
    uint32_t budget;
    uint64_t rng;
    /* stages */
    rv_stage_t *stages, *stages_tail;
    int nstages, nfinished;
    /* run queue */
    rv_stage_t *runq_head, *runq_tail;
    bool in_scheduler;
    uv_idle_t idle;
    bool idle_active;
    /* lifecycle */
    bool running, done_called, stopping, aborting, destroyed;
    rv_graph_done_fn done;
    void *done_opaque;
    rv_error_t *status;      /* first failure */
    rv_error_t *build_error; /* first build problem */
    /* timers */
    rv_timer_t **heap;
    size_t heap_n, heap_cap;
    uint64_t timer_seq;
    uv_timer_t uvtimer;
    rv_clock_t *vclock;
    rv_graph_t *vclock_next; /* list of graphs on the same virtual clock */
    /* cross-thread stop */
    uv_async_t async;
    int async_request; /* 0 none, 1 stop, 2 abort; guarded by mu */
    uv_mutex_t mu;
    /* envelope pool */
    rv_env_t *free_envs;
    size_t live_envs;
    /* handles whose close is pending */
    int holds;
    int closing; /* uv handles of the graph whose close callback is pending */
};

/* env.c */
void rv__env_pool_drain(rv_graph_t *g);
void rv__env_last_ref(rv_env_t *e);

/* rv_env_release without the call, for the built-in stages' hot loops. */
static inline void rv__env_release(rv_env_t *e)
{
    if (--e->refs == 0) rv__env_last_ref(e);
}

/* graph.c */
void rv__schedule(rv_stage_t *st);
void rv__run_scheduler(rv_graph_t *g);
void rv__graph_set_status(rv_graph_t *g, const rv_error_t *err);
void rv__maybe_done(rv_graph_t *g);
/* Frees a destroyed graph once no envelope, hold or handle close is pending. */
void rv__graph_try_free(rv_graph_t *g);

/* Unlinks a finished input so another upstream may be linked (restart). */
void rv__stage_detach_input(rv_stage_t *st, int port);

/* timer.c */
void rv__timers_init(rv_graph_t *g);
void rv__timers_fire_due(rv_graph_t *g);
uint64_t rv__timers_next(const rv_graph_t *g); /* UINT64_MAX when none */
void rv__timers_rearm(rv_graph_t *g);
void rv__timers_close(rv_graph_t *g);
void rv__vclock_attach(rv_clock_t *c, rv_graph_t *g);
void rv__vclock_detach(rv_clock_t *c, rv_graph_t *g);

#endif
