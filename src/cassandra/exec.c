/* The request engine behind CassandraSink, CassandraRetrySink and the LWT flow.
 *
 * The stage has n slots; each holds one element (rv_cassandra_cmd_t) while its
 * attempt runs, while it waits out a backoff, and — in a flow — until its
 * output was emitted. An attempt is the stage's run function: the sink
 * executes the element's statement, the LWT flow binds and executes, the retry
 * sink calls the user's command function. Every request of an attempt goes
 * through rv_cassandra_cmd_execute, so the slot always knows the one request
 * it waits for and can cancel it: on abort, when the stage fails, and in the
 * stop hook. After a cancel the CQL client never calls back, so no callback
 * can reach the stage once it is gone.
 *
 * An attempt ends in rv__cass_exec_complete — possibly from inside the run
 * function itself — and a `pumping` flag keeps that from re-entering the loop
 * that starts attempts. A failed attempt is retried after a backoff (a
 * rv_timer_t per slot, so tests run it in virtual time) when its error is
 * retriable, or RV_ERR_NOT_APPLIED in the retry sink; otherwise, or when the
 * retries are used up, the stage's decider decides.
 *
 * Ordered flows keep the occupied slots in a ring in input order (a slot is
 * taken at (head + count) % n) and emit from the head; unordered flows queue
 * completed slots; sinks release a slot as soon as its element is done. */
#include <stdlib.h>
#include <string.h>

#include "cassandra/internal.h"

static void pump(rv__cass_exec_t *x);

static void set_held(rv__cass_exec_t *x)
{
    rv__cass_held(&x->c, x->st, (uint64_t)x->in_flight);
}

static void clear_slot(rv_cassandra_cmd_t *cmd)
{
    if (cmd->data_free && cmd->data) cmd->data_free(cmd->data);
    cmd->data = NULL;
    cmd->data_free = NULL;
    cmd->env = NULL;
    cmd->out = NULL;
    cmd->req = NULL;
    cmd->cb = NULL;
    cmd->cb_opaque = NULL;
    cmd->attempt = 0;
    cmd->failures = 0;
    cmd->state = RV__SLOT_FREE;
}

/* Gives a slot back (for sinks and unordered flows; ordered flows give slots
 * back from the head of their ring). */
static void release_slot(rv__cass_exec_t *x, rv_cassandra_cmd_t *cmd)
{
    clear_slot(cmd);
    x->in_flight--;
    x->free_q[x->free_n++] = cmd->index;
    set_held(x);
}

/* Cancels everything the stage holds and releases its elements as failed with
 * `code`: abort, failure, upstream failure, stop. */
static void drop_all(rv__cass_exec_t *x, rv_err_t code)
{
    for (int i = 0; i < x->n; i++) {
        rv_cassandra_cmd_t *cmd = &x->slots[i];
        if (cmd->state == RV__SLOT_FREE) continue;
        if (cmd->req) {
            rv_cql_request_cancel(cmd->req);
            cmd->req = NULL;
            x->c.stats.cancelled++;
        }
        rv_timer_stop(cmd->timer);
        if (cmd->out) rv_env_release_failed(cmd->out, code);
        if (cmd->env) rv_env_release_failed(cmd->env, code);
        clear_slot(cmd);
    }
    x->in_flight = 0;
    x->head = x->count = 0;
    x->done_head = x->done_n = 0;
    x->free_n = 0;
    for (int i = x->n - 1; i >= 0; i--)
        x->free_q[x->free_n++] = i;
    rv__cass_prep_cancel(&x->prep);
    set_held(x);
}

/* Fails the stage: everything held is cancelled and released as failed.
 * Ownership: takes err. */
static void fail_stage(rv__cass_exec_t *x, rv_error_t *err)
{
    drop_all(x, RV_ERR_CANCELLED);
    rv_stage_fail(x->st, err);
}

/* --------------------------------------------------------------- attempts */

static void run_attempt(rv_cassandra_cmd_t *cmd)
{
    rv__cass_exec_t *x = cmd->x;
    cmd->state = RV__SLOT_RUNNING;
    bool was = x->pumping;
    x->pumping = true;
    x->run(cmd);
    x->pumping = was;
}

static void retry_timer_cb(rv_timer_t *t, void *opaque)
{
    rv_cassandra_cmd_t *cmd = opaque;
    rv__cass_exec_t *x = cmd->x;
    if (cmd->state != RV__SLOT_WAITING || rv_stage_finished(x->st)) return;
    cmd->attempt++;
    run_attempt(cmd);
    pump(x);
}

void rv__cass_exec_complete(rv_cassandra_cmd_t *cmd, rv_env_t *out, rv_error_t *err)
{
    rv__cass_exec_t *x = cmd->x;
    rv_stage_t *st = x->st;
    if (cmd->state != RV__SLOT_RUNNING || rv_stage_finished(st)) {
        /* A second completion of one attempt, or a stage already ended. */
        if (out) rv_env_release_failed(out, RV_ERR_CANCELLED);
        rv_error_destroy(err);
        return;
    }
    if (cmd->req) {
        /* The attempt ended without waiting for its request. */
        rv_cql_request_cancel(cmd->req);
        cmd->req = NULL;
        x->c.stats.cancelled++;
    }
    if (!err) {
        x->c.stats.succeeded++;
        if (!x->flow) {
            rv_env_release(cmd->env);
            cmd->env = NULL;
            release_slot(x, cmd);
        } else {
            /* The output holds the input element now. */
            rv_env_release(cmd->env);
            cmd->env = NULL;
            cmd->out = out;
            cmd->state = RV__SLOT_DONE;
            if (!x->ordered) {
                x->done_q[(x->done_head + x->done_n) % x->n] = cmd->index;
                x->done_n++;
            }
        }
        pump(x);
        return;
    }
    if (out) rv_env_release_failed(out, rv_error_code(err));
    cmd->failures++;
    rv_err_t code = rv_error_code(err);
    bool retriable =
        rv_error_retriable(err) || (x->retry_not_applied && code == RV_ERR_NOT_APPLIED);
    if (retriable && x->c.has_backoff &&
        (x->c.backoff.max_retries < 0 || cmd->attempt < x->c.backoff.max_retries)) {
        uint64_t delay =
            rv_backoff_delay(&x->c.backoff, cmd->attempt, rv_graph_random(rv_stage_graph(st)));
        rv_error_destroy(err);
        cmd->state = RV__SLOT_WAITING;
        x->c.stats.retries++;
        rv_timer_start(cmd->timer, delay);
        return;
    }
    rv_directive_t d = rv_stage_decide(st, err, cmd->attempt + 1);
    if (d == RV_RETRY) {
        rv_error_destroy(err);
        cmd->state = RV__SLOT_WAITING;
        rv_timer_start(cmd->timer, 0); /* never from inside the attempt itself */
        return;
    }
    x->c.stats.failed++;
    rv_stage_count_failure(st);
    rv_env_release_failed(cmd->env, code);
    cmd->env = NULL;
    if (d == RV_RESUME) {
        rv_error_destroy(err);
        if (x->flow && x->ordered) {
            /* Its place in the ring is given back when the head reaches it. */
            cmd->state = RV__SLOT_DONE;
        } else {
            release_slot(x, cmd);
        }
        pump(x);
        return;
    }
    fail_stage(x, err);
}

/* ------------------------------------------------------------------ pump */

/* Emits what is ready as far as the output has room; true when it freed a slot. */
static bool emit_ready(rv__cass_exec_t *x)
{
    rv_stage_t *st = x->st;
    bool progress = false;
    for (;;) {
        rv_cassandra_cmd_t *cmd;
        if (x->ordered) {
            if (x->count == 0) break;
            cmd = &x->slots[x->head];
            if (cmd->state != RV__SLOT_DONE) break;
        } else {
            if (x->done_n == 0) break;
            cmd = &x->slots[x->done_q[x->done_head]];
        }
        if (cmd->out) {
            if (rv_out_room(st, 0) == 0 && !rv_out_closed(st, 0)) break;
            rv_env_t *out = cmd->out;
            cmd->out = NULL;
            rv_out_push(st, 0, out);
        }
        if (x->ordered) {
            x->head = (x->head + 1) % x->n;
            x->count--;
            clear_slot(cmd);
            x->in_flight--;
            set_held(x);
        } else {
            x->done_head = (x->done_head + 1) % x->n;
            x->done_n--;
            release_slot(x, cmd);
        }
        progress = true;
    }
    return progress;
}

/* Starts attempts while slots are free; true when it started any. */
static bool start_calls(rv__cass_exec_t *x)
{
    rv_stage_t *st = x->st;
    bool progress = false;
    while (x->in_flight < x->n && !x->cancelled && !rv_stage_finished(st) &&
           rv__cass_prep_ready(&x->prep)) {
        rv_env_t *env = rv_in_pop(st, 0);
        if (!env) break;
        int idx;
        if (x->flow && x->ordered) {
            idx = (x->head + x->count) % x->n;
            x->count++;
        } else {
            idx = x->free_q[--x->free_n];
        }
        rv_cassandra_cmd_t *cmd = &x->slots[idx];
        cmd->env = env;
        cmd->attempt = 0;
        cmd->failures = 0;
        x->in_flight++;
        set_held(x);
        run_attempt(cmd);
        progress = true;
    }
    return progress;
}

static void pump(rv__cass_exec_t *x)
{
    rv_stage_t *st = x->st;
    if (x->pumping || rv_stage_finished(st)) return;
    x->pumping = true;
    bool progress;
    do {
        progress = x->flow ? emit_ready(x) : false;
        progress |= start_calls(x);
    } while (progress && !rv_stage_finished(st));
    x->pumping = false;
    if (x->in_flight == 0 && (x->upstream_done || x->cancelled) && !rv_stage_finished(st))
        rv_stage_finish(st);
}

/* ------------------------------------------------------------------ hooks */

static rv_err_t on_start(rv_stage_t *st, rv_error_t **errp)
{
    rv__cass_exec_t *x = rv_stage_state(st);
    return rv__cass_prep_start(&x->prep, st, x->s, NULL, errp);
}

static void on_input(rv_stage_t *st)
{
    pump(rv_stage_state(st));
}

static void on_finish(rv_stage_t *st, int port, const rv_error_t *err)
{
    rv__cass_exec_t *x = rv_stage_state(st);
    if (err) {
        fail_stage(x, rv_error_copy(err));
        return;
    }
    x->upstream_done = true;
    pump(x);
}

static void on_cancel(rv_stage_t *st, int port)
{
    rv__cass_exec_t *x = rv_stage_state(st);
    x->cancelled = true;
    rv_in_cancel(st, 0);
    pump(x);
}

static void on_abort(rv_stage_t *st)
{
    drop_all(rv_stage_state(st), RV_ERR_CANCELLED);
}

static void on_stop(rv_stage_t *st)
{
    rv__cass_exec_t *x = rv_stage_state(st);
    drop_all(x, RV_ERR_CANCELLED);
    for (int i = 0; i < x->n; i++)
        rv_timer_destroy(x->slots[i].timer);
    rv__cass_prep_free(&x->prep);
    free(x->slots);
    free(x->free_q);
    free(x->done_q);
    free(x);
}

/* One vtable per kind, so each stage shows its own name. */
#define EXEC_OPS(name, k)                                                                          \
    static const rv_stage_ops_t name = {.kind = k,                                                 \
                                        .start = on_start,                                         \
                                        .on_input = on_input,                                      \
                                        .on_room = on_input,                                       \
                                        .on_finish = on_finish,                                    \
                                        .on_cancel = on_cancel,                                    \
                                        .on_abort = on_abort,                                      \
                                        .stop = on_stop}
EXEC_OPS(ops_sink, "cassandra-sink");
EXEC_OPS(ops_retry_sink, "cassandra-retry-sink");
EXEC_OPS(ops_lwt_flow, "cassandra-lwt-flow");

static const rv_stage_ops_t *ops_for(const char *kind)
{
    if (strcmp(kind, "cassandra-sink") == 0) return &ops_sink;
    if (strcmp(kind, "cassandra-retry-sink") == 0) return &ops_retry_sink;
    return &ops_lwt_flow;
}

rv__cass_exec_t *rv__cass_exec_new(rv_graph_t *g, rv_cql_session_t *s, const char *kind, int n,
                                   bool flow, bool ordered, rv__cass_run_fn run)
{
    if (rv__cass_bad_session(g, s, kind)) return NULL;
    if (n < 1 || n > 65536) {
        rv__cass_build_error(g, rv_error_new(RV_ERR_INVALID, false,
                                             "%s: in_flight must be 1..65536, not %d", kind, n));
        return NULL;
    }
    rv__cass_exec_t *x = calloc(1, sizeof(*x));
    if (x) {
        x->slots = calloc((size_t)n, sizeof(*x->slots));
        x->free_q = calloc((size_t)n, sizeof(int));
        x->done_q = calloc((size_t)n, sizeof(int));
    }
    if (!x || !x->slots || !x->free_q || !x->done_q) {
        if (x) {
            free(x->slots);
            free(x->free_q);
            free(x->done_q);
            free(x);
        }
        rv__cass_build_error(g, rv_error_new(RV_ERR_NOMEM, true, "%s: out of memory", kind));
        return NULL;
    }
    rv__cass_common_init(&x->c);
    x->s = s;
    x->n = n;
    x->flow = flow;
    x->ordered = flow && ordered;
    x->run = run;
    for (int i = n - 1; i >= 0; i--)
        x->free_q[x->free_n++] = i;
    rv_stage_t *st = rv_stage_new(g, ops_for(kind), x, 1, flow ? 1 : 0);
    if (!st) return NULL; /* the stop hook freed x */
    x->st = st;
    for (int i = 0; i < n; i++) {
        rv_cassandra_cmd_t *cmd = &x->slots[i];
        cmd->x = x;
        cmd->index = i;
        cmd->timer = rv_timer_new(st, retry_timer_cb, cmd);
        if (!cmd->timer) {
            rv__cass_build_error(g, rv_error_new(RV_ERR_NOMEM, true, "%s: out of memory", kind));
            return NULL;
        }
    }
    return x;
}

/* ------------------------------------------------------- the command API */

static void on_result(rv_cql_session_t *s, rv_cql_result_t *res, const rv_error_t *err,
                      void *opaque)
{
    rv_cassandra_cmd_t *cmd = opaque;
    rv_cassandra_cmd_result_fn cb = cmd->cb;
    void *cb_opaque = cmd->cb_opaque;
    cmd->req = NULL;
    cmd->cb = NULL;
    cmd->cb_opaque = NULL;
    if (cb)
        cb(cmd, res, err, cb_opaque);
    else
        rv_cql_result_destroy(res);
}

static rv_err_t check_can_execute(rv_cassandra_cmd_t *cmd, rv_error_t **errp)
{
    if (!cmd || cmd->state != RV__SLOT_RUNNING)
        return rv_error_set(errp, RV_ERR_STATE, false,
                            "rv_cassandra_cmd_execute: the command is not running");
    if (cmd->req)
        return rv_error_set(errp, RV_ERR_STATE, false,
                            "%s: a command has one request outstanding at a time",
                            rv_stage_name(cmd->x->st));
    return RV_OK;
}

static rv_err_t started(rv_cassandra_cmd_t *cmd, rv_cql_request_t *req, rv_error_t *e,
                        rv_cassandra_cmd_result_fn cb, void *opaque, rv_error_t **errp)
{
    if (!req) {
        rv_err_t code = rv_error_code(e);
        if (code == RV_OK) code = RV_ERR_STATE;
        rv_error_give(errp, e);
        return code;
    }
    cmd->req = req;
    cmd->cb = cb;
    cmd->cb_opaque = opaque;
    cmd->x->c.stats.requests++;
    return RV_OK;
}

rv_err_t rv_cassandra_cmd_execute(rv_cassandra_cmd_t *cmd, const rv_cql_stmt_t *st,
                                  rv_cassandra_cmd_result_fn cb, void *opaque, rv_error_t **errp)
{
    rv_err_t rc = check_can_execute(cmd, errp);
    if (rc != RV_OK) return rc;
    rv_error_t *e = NULL;
    rv_cql_request_t *req = rv_cql_execute(cmd->x->s, st, on_result, cmd, &e);
    return started(cmd, req, e, cb, opaque, errp);
}

rv_err_t rv_cassandra_cmd_execute_batch(rv_cassandra_cmd_t *cmd, const rv_cql_batch_t *b,
                                        rv_cassandra_cmd_result_fn cb, void *opaque,
                                        rv_error_t **errp)
{
    rv_err_t rc = check_can_execute(cmd, errp);
    if (rc != RV_OK) return rc;
    rv_error_t *e = NULL;
    rv_cql_request_t *req = rv_cql_execute_batch(cmd->x->s, b, on_result, cmd, &e);
    return started(cmd, req, e, cb, opaque, errp);
}

void rv_cassandra_cmd_done(rv_cassandra_cmd_t *cmd, rv_error_t *err)
{
    if (!cmd) {
        rv_error_destroy(err);
        return;
    }
    rv__cass_exec_complete(cmd, NULL, err);
}

void rv_cassandra_cmd_finish(rv_cassandra_cmd_t *cmd, rv_cql_result_t *res, const rv_error_t *err)
{
    if (err) {
        rv_cql_result_destroy(res);
        rv_cassandra_cmd_done(cmd, rv_error_copy(err));
        return;
    }
    int applied = rv_cql_result_applied(res);
    rv_cql_result_destroy(res);
    if (applied == 0) {
        if (cmd) cmd->x->c.stats.not_applied++;
        rv_cassandra_cmd_done(cmd, rv_error_new(RV_ERR_NOT_APPLIED, true,
                                                "%s: the conditional write was not applied",
                                                cmd ? rv_stage_name(cmd->x->st) : "cassandra"));
        return;
    }
    rv_cassandra_cmd_done(cmd, NULL);
}

rv_env_t *rv_cassandra_cmd_env(const rv_cassandra_cmd_t *cmd)
{
    return cmd ? cmd->env : NULL;
}

int rv_cassandra_cmd_attempt(const rv_cassandra_cmd_t *cmd)
{
    return cmd ? cmd->attempt : 0;
}

rv_cql_session_t *rv_cassandra_cmd_session(const rv_cassandra_cmd_t *cmd)
{
    return cmd ? cmd->x->s : NULL;
}

const rv_cql_prepared_t *rv_cassandra_cmd_prepared(const rv_cassandra_cmd_t *cmd, int i)
{
    if (!cmd || i < 0 || (size_t)i >= cmd->x->prep.n) return NULL;
    return cmd->x->prep.items[i].prepared;
}

void rv_cassandra_cmd_set_data(rv_cassandra_cmd_t *cmd, void *data, rv_free_fn free_data)
{
    if (!cmd) {
        if (free_data && data) free_data(data);
        return;
    }
    if (cmd->data != data && cmd->data_free && cmd->data) cmd->data_free(cmd->data);
    cmd->data = data;
    cmd->data_free = free_data;
}

void *rv_cassandra_cmd_data(const rv_cassandra_cmd_t *cmd)
{
    return cmd ? cmd->data : NULL;
}
