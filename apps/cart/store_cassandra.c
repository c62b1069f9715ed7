/* The Cassandra store, on rivulet's own CQL client.
 *
 * Two layouts, chosen by the topology (written down in INTRODUCTION.md):
 *
 *  split (parallel and serial topologies)
 *    carts (cart_id PRIMARY KEY, owner, items map<uuid,int>, version, deleted,
 *           positions, buckets set<bigint>)
 *      The service reads a cart and writes it back with
 *      `UPDATE ... IF version = ?` (a lightweight transaction); a lost race is
 *      RV_ERR_NOT_APPLIED, which the pipeline retries after re-reading. The
 *      write also adds the command's time bucket to `buckets`, the index of
 *      the cart's event-log partitions.
 *    cart_events ((cart_id, bucket), event_time timeuuid, event_id, ...)
 *      A cart's events of one time bucket are one partition, clustered by
 *      time: "events of this cart since T" is a slice of a few partitions,
 *      never ALLOW FILTERING. The bucket and the row's time come from the
 *      command record's timestamp (and offset), so the service and the event
 *      log agree on the bucket without talking to each other; in duplicates
 *      mode each attempt's row still gets its own time (random clock bits).
 *
 *  ledger (atomic topology)
 *    cart_ledger (cart_id, event_time, event_id, ...) with the cart's state in
 *      static columns. A conditional batch may touch one partition only, so
 *      keeping the state and the events in one partition is what lets the
 *      state change and its event row be written atomically, per attempt. The
 *      trade: no time bucket, so a cart's events are one growing partition
 *      (fine for carts; an aggregate with millions of events would want
 *      snapshots and truncation).
 *
 * Every call is asynchronous: a small state machine per operation, whose steps
 * are CQL requests with callbacks on the loop thread.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pipeline.h"
#include "rivulet/cassandra.h"
#include "rivulet/cql.h"
#include "store.h"

enum {
    Q_GET,          /* split: read a cart */
    Q_INSERT,       /* split: create a cart if it does not exist */
    Q_UPDATE,       /* split: write a cart if its version is unchanged */
    Q_EVENT,        /* split: one event row */
    Q_BUCKETS,      /* split: a cart's buckets */
    Q_EVENTS,       /* split: a cart's events in one bucket since a time */
    Q_IDS,          /* split: every cart */
    L_GET,          /* ledger: a cart's state (static columns) */
    L_INSERT_STATE, /* ledger: state of a new cart */
    L_UPDATE_STATE, /* ledger: state of an existing cart */
    L_EVENT,        /* ledger: one event row */
    L_EVENTS,       /* ledger: a cart's events since a time */
    L_IDS,          /* ledger: every cart */
    NQ
};

typedef struct cass_store {
    cart_store_t base;
    uv_loop_t *loop;
    rv_cql_session_t *session;
    rv_cql_prepared_t *q[NQ];
    bool ledger;
    int64_t bucket_ms;
    rv_timeuuid_gen_t tgen;
    uint64_t rng;
    char ks[64];
    char event_query[1024];
    void (*close_cb)(void *);
    void *close_opaque;
} cass_store_t;

static const char *table_ddl[] = {
    "CREATE TABLE IF NOT EXISTS %s.carts (cart_id uuid PRIMARY KEY, owner uuid, items map<uuid, "
    "int>, "
    "version bigint, deleted boolean, positions text, buckets set<bigint>, revision bigint)",
    "CREATE TABLE IF NOT EXISTS %s.cart_events (cart_id uuid, bucket bigint, event_time timeuuid, "
    "event_id uuid, "
    "type text, arg uuid, count int, kpartition int, koffset bigint, ts_ms bigint, correction "
    "boolean, "
    "snapshot text, PRIMARY KEY ((cart_id, bucket), event_time, event_id))",
    "CREATE TABLE IF NOT EXISTS %s.cart_ledger (cart_id uuid, owner uuid static, items map<uuid, "
    "int> static, "
    "version bigint static, deleted boolean static, positions text static, revision bigint static, "
    "event_time timeuuid, event_id uuid, "
    "type text, arg uuid, count int, kpartition int, koffset bigint, ts_ms bigint, correction "
    "boolean, "
    "snapshot text, PRIMARY KEY (cart_id, event_time, event_id))",
};

static const char *query_text[NQ] = {
    [Q_GET] = "SELECT owner, items, version, deleted, positions, revision FROM %s.carts WHERE "
              "cart_id = ?",
    [Q_INSERT] = "INSERT INTO %s.carts (cart_id, owner, items, version, deleted, positions, "
                 "buckets, revision) "
                 "VALUES (?, ?, ?, ?, ?, ?, ?, 1) IF NOT EXISTS",
    [Q_UPDATE] =
        "UPDATE %s.carts SET owner = ?, items = ?, version = ?, deleted = ?, positions = ?, "
        "buckets = buckets + ?, revision = ? WHERE cart_id = ? IF revision = ?",
    [Q_EVENT] = "INSERT INTO %s.cart_events (cart_id, bucket, event_time, event_id, type, arg, "
                "count, kpartition, "
                "koffset, ts_ms, correction, snapshot) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    [Q_BUCKETS] = "SELECT buckets FROM %s.carts WHERE cart_id = ?",
    [Q_EVENTS] =
        "SELECT event_time, event_id, type, arg, count, kpartition, koffset, ts_ms, correction, "
        "snapshot "
        "FROM %s.cart_events WHERE cart_id = ? AND bucket = ? AND event_time >= minTimeuuid(?)",
    [Q_IDS] = "SELECT DISTINCT cart_id FROM %s.carts",
    [L_GET] = "SELECT owner, items, version, deleted, positions, revision FROM %s.cart_ledger "
              "WHERE cart_id = ? "
              "LIMIT 1",
    [L_INSERT_STATE] =
        "UPDATE %s.cart_ledger SET owner = ?, items = ?, version = ?, deleted = ?, positions = ?, "
        "revision = 1 WHERE cart_id = ? IF revision = null",
    [L_UPDATE_STATE] =
        "UPDATE %s.cart_ledger SET owner = ?, items = ?, version = ?, deleted = ?, positions = ?, "
        "revision = ? WHERE cart_id = ? IF revision = ?",
    [L_EVENT] = "INSERT INTO %s.cart_ledger (cart_id, event_time, event_id, type, arg, count, "
                "kpartition, koffset, "
                "ts_ms, correction, snapshot) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    [L_EVENTS] = "SELECT event_time, event_id, type, arg, count, kpartition, koffset, ts_ms, "
                 "correction, snapshot "
                 "FROM %s.cart_ledger WHERE cart_id = ? AND event_time >= minTimeuuid(?)",
    [L_IDS] = "SELECT DISTINCT cart_id FROM %s.cart_ledger",
};

static const struct cart_store_ops cassandra_ops;

/* ------------------------------------------------------------------ helpers */

static rv_error_t *copy_err(const rv_error_t *e, const char *what)
{
    return rv_error_new(rv_error_code(e), rv_error_retriable(e), "cassandra: %s: %s", what,
                        rv_error_msg(e));
}

static rv_err_t bind_items(rv_cql_stmt_t *st, size_t i, const cart_state_t *s)
{
    rv_cql_coll_t *c = rv_cql_coll_new(RV_CQL_MAP);
    if (!c) return RV_ERR_NOMEM;
    for (size_t k = 0; k < s->n_items; k++) {
        rv_cql_coll_add_uuid(c, s->items[k].item.b);
        rv_cql_coll_add_int(c, s->items[k].count);
    }
    rv_err_t rc = rv_cql_bind_coll(st, i, c);
    rv_cql_coll_destroy(c);
    return rc;
}

/* Binds owner, items, version, deleted, positions at i..i+4. */
static void bind_state(rv_cql_stmt_t *st, size_t i, const cart_state_t *s)
{
    char pos[RV_POSITIONS_MAX * 32 + 1];
    rv_positions_format(&s->applied, pos, sizeof(pos));
    rv_cql_bind_uuid(st, i, s->owner.b);
    bind_items(st, i + 1, s);
    rv_cql_bind_bigint(st, i + 2, s->version);
    rv_cql_bind_bool(st, i + 3, s->deleted);
    rv_cql_bind_text(st, i + 4, pos);
}

/* Reads owner, items, version, deleted, positions from columns c..c+4 of row 0. */
static rv_error_t *read_state(const rv_cql_result_t *res, size_t row, size_t c, cart_state_t *s)
{
    cart_state_init(s);
    if (rv_cql_result_row_count(res) <= row || rv_cql_result_is_null(res, row, c + 5))
        return NULL; /* no cart (or, in the ledger, a partition without state) */
    s->exists = true;
    rv_cql_result_get_uuid(res, row, c, s->owner.b);
    rv_cql_value_t v;
    if (rv_cql_result_value(res, row, c + 1, &v) == RV_OK && !rv_cql_value_is_null(&v)) {
        rv_cql_iter_t it;
        rv_cql_value_t k, n;
        if (rv_cql_iter_init(&it, &v) == RV_OK) {
            while (rv_cql_iter_next(&it, &k) == RV_OK && rv_cql_iter_next(&it, &n) == RV_OK) {
                if (s->n_items == CART_MAX_ITEMS)
                    return rv_error_new(RV_ERR_OVERFLOW, false,
                                        "cassandra: cart has more than %d items", CART_MAX_ITEMS);
                rv_cql_value_get_uuid(&k, s->items[s->n_items].item.b);
                rv_cql_value_get_int(&n, &s->items[s->n_items].count);
                s->n_items++;
            }
        }
    }
    /* The map comes back in Cassandra's uuid order; the domain keeps items in
     * byte order, so sort (insertion sort: a cart has few items). */
    for (size_t i = 1; i < s->n_items; i++)
        for (size_t j = i; j > 0 && rv_uuid_compare(&s->items[j - 1].item, &s->items[j].item) > 0;
             j--) {
            cart_item_t t = s->items[j];
            s->items[j] = s->items[j - 1];
            s->items[j - 1] = t;
        }
    rv_cql_result_get_bigint(res, row, c + 2, &s->version);
    bool del = false;
    rv_cql_result_get_bool(res, row, c + 3, &del);
    s->deleted = del;
    char *pos = rv_cql_result_get_text_dup(res, row, c + 4);
    rv_error_t *err = NULL;
    rv_positions_parse(pos ? pos : "", &s->applied, &err);
    free(pos);
    rv_cql_result_get_bigint(res, row, c + 5, &s->revision);
    return err;
}

/* Where a command's event row goes: its time bucket and its row time, both
 * from the command record's timestamp, so the service (which records the
 * bucket in the cart row) and the event log agree without talking. In
 * idempotent mode the time is a pure function of the record (logging it again
 * rewrites the row); in duplicates mode each attempt gets random clock bits,
 * hence its own row. */
static void command_row(cass_store_t *s, const cart_job_t *job, cart_mode_t mode, int64_t *bucket,
                        rv_uuid_t *t)
{
    uint64_t ts = (uint64_t)(job->ts_ms > 0 ? job->ts_ms : 0);
    *bucket = (int64_t)(ts / (uint64_t)s->bucket_ms);
    if (s->ledger && mode == CART_MODE_DUPLICATES) {
        /* The ledger has no buckets, and its rows are written with the state
         * change: ordering them by when they were written makes folding the
         * log reproduce the table exactly, replays included. */
        rv_timeuuid_next(&s->tgen, cart_wall_ms(), t);
    } else if (mode == CART_MODE_IDEMPOTENT) {
        rv_timeuuid_for(ts, (uint32_t)job->offset, &job->event_id, t);
    } else {
        uint64_t r = s->rng = s->rng * 6364136223846793005ull + 1442695040888963407ull;
        rv_timeuuid_make(ts, (uint32_t)job->offset, (uint16_t)(r >> 50),
                         (r >> 8) | 0x010000000000ull, t);
    }
}

/* Binds an event row's columns from `first` on, in the order of Q_EVENT after
 * its bucket (event_time, event_id, type, arg, count, kpartition, koffset,
 * ts_ms, correction, snapshot). */
static void bind_event(rv_cql_stmt_t *st, size_t first, const cart_event_t *ev,
                       const rv_uuid_t *time, const cart_state_t *snapshot)
{
    rv_cql_bind_uuid(st, first, time->b);
    rv_cql_bind_uuid(st, first + 1, ev->event_id.b);
    rv_cql_bind_text(st, first + 2, cart_event_name(ev->type));
    rv_cql_bind_uuid(st, first + 3, ev->arg.b);
    rv_cql_bind_int(st, first + 4, ev->count);
    rv_cql_bind_int(st, first + 5, ev->partition);
    rv_cql_bind_bigint(st, first + 6, ev->offset);
    rv_cql_bind_bigint(st, first + 7, ev->ts_ms);
    rv_cql_bind_bool(st, first + 8, snapshot != NULL);
    char *snap = snapshot ? cart_snapshot_format(snapshot) : NULL;
    if (snap)
        rv_cql_bind_text(st, first + 9, snap);
    else
        rv_cql_bind_null(st, first + 9);
    free(snap);
}

static void bind_bucket_set(rv_cql_stmt_t *st, size_t i, int64_t bucket)
{
    rv_cql_coll_t *c = rv_cql_coll_new(RV_CQL_SET);
    if (c) rv_cql_coll_add_bigint(c, bucket);
    rv_cql_bind_coll(st, i, c);
    rv_cql_coll_destroy(c);
}

/* ------------------------------------------------------- one write operation */

/* A service call, a log write or a correction: a read, then a write, each a
 * CQL request. A request goes straight to the session, or — when the pipeline
 * runs the call inside a CassandraRetrySink — through the stage's command, so
 * that the stage can cancel it and owns the retries. */

typedef enum { OP_APPLY, OP_LOG, OP_APPLY_LOG, OP_CORRECT } op_kind_t;

typedef struct op op_t;
typedef void (*op_step_fn)(op_t *op, rv_cql_result_t *res, const rv_error_t *err);

/* Memory: an op is freed when it finishes, except one run inside a retry sink's
 * command: that one is the command's data, freed by the stage when the
 * element leaves it (also when the stage cancels the request: no callback
 * comes then, so nothing else could free it). */
struct op {
    cass_store_t *s;
    op_kind_t kind;
    cart_job_t job;
    cart_mode_t mode;
    cart_done_fn cb;
    void *opaque;
    rv_cassandra_cmd_t *cmd; /* NULL: requests go to the session directly */
    cart_state_t state;
    cart_state_t fixed; /* OP_CORRECT */
    int64_t seen_revision;
    rv_uuid_t correction_id;
    rv_uuid_t correction_time; /* one time for the correction's bucket and row */
    cart_outcome_t outcome;
    bool existed;
    int step;
    op_step_fn next; /* what the outstanding request's answer goes to */
};

static void op_finish(op_t *op, rv_error_t *err)
{
    cart_done_fn cb = op->cb;
    void *opaque = op->opaque;
    cart_outcome_t outcome = op->outcome;
    if (op->cmd) {
        /* The stage owns op (its command data) and ends the attempt. */
        rv_cassandra_cmd_t *cmd = op->cmd;
        cb(err ? rv_error_copy(err) : NULL, outcome, opaque);
        rv_cassandra_cmd_done(cmd, err);
        return;
    }
    free(op);
    cb(err, outcome, opaque);
}

static void session_step(rv_cql_session_t *ss, rv_cql_result_t *res, const rv_error_t *err,
                         void *opaque)
{
    op_t *op = opaque;
    op->next(op, res, err);
}

static void cmd_step(rv_cassandra_cmd_t *cmd, rv_cql_result_t *res, const rv_error_t *err,
                     void *opaque)
{
    op_t *op = opaque;
    op->next(op, res, err);
}

/* Sends a statement or a batch; the op ends here when it cannot start. */
static void exec_step(op_t *op, rv_cql_stmt_t *st, rv_cql_batch_t *b, bool idempotent,
                      op_step_fn fn)
{
    rv_error_t *err = NULL;
    bool started;
    op->next = fn;
    if (b)
        rv_cql_batch_set_idempotent(b, idempotent);
    else
        rv_cql_stmt_set_idempotent(st, idempotent);
    if (op->cmd)
        started = (b ? rv_cassandra_cmd_execute_batch(op->cmd, b, cmd_step, op, &err)
                     : rv_cassandra_cmd_execute(op->cmd, st, cmd_step, op, &err)) == RV_OK;
    else
        started = (b ? rv_cql_execute_batch(op->s->session, b, session_step, op, &err)
                     : rv_cql_execute(op->s->session, st, session_step, op, &err)) != NULL;
    rv_cql_stmt_destroy(st);
    rv_cql_batch_destroy(b);
    if (!started)
        op_finish(op, err ? err
                          : rv_error_new(RV_ERR_STATE, false, "cassandra: request did not start"));
}

static void after_write(op_t *op, rv_cql_result_t *res, const rv_error_t *err);

/* The state write (and, for the ledger, the event row in the same batch). */
static void write_state(op_t *op, bool with_event, const cart_state_t *snapshot)
{
    cass_store_t *s = op->s;
    const rv_uuid_t *id = &op->job.cmd.cart_id;
    const cart_state_t *st = op->kind == OP_CORRECT ? &op->fixed : &op->state;
    int64_t bucket;
    rv_uuid_t t;
    if (op->kind == OP_CORRECT) {
        rv_timeuuid_next(&s->tgen, cart_wall_ms(), &t);
        op->correction_time = t;
        bucket = (int64_t)(rv_timeuuid_unix_ms(&t) / (uint64_t)s->bucket_ms);
    } else {
        command_row(s, &op->job, op->mode, &bucket, &t);
    }
    rv_cql_stmt_t *q;
    if (s->ledger && op->existed) {
        q = rv_cql_stmt_new_prepared(s->q[L_UPDATE_STATE]);
        bind_state(q, 0, st);
        rv_cql_bind_bigint(q, 5, op->seen_revision + 1);
        rv_cql_bind_uuid(q, 6, id->b);
        rv_cql_bind_bigint(q, 7, op->seen_revision);
    } else if (s->ledger) {
        q = rv_cql_stmt_new_prepared(s->q[L_INSERT_STATE]);
        bind_state(q, 0, st);
        rv_cql_bind_uuid(q, 5, id->b);
    } else if (op->existed) {
        q = rv_cql_stmt_new_prepared(s->q[Q_UPDATE]);
        bind_state(q, 0, st);
        bind_bucket_set(q, 5, bucket);
        rv_cql_bind_bigint(q, 6, op->seen_revision + 1);
        rv_cql_bind_uuid(q, 7, id->b);
        rv_cql_bind_bigint(q, 8, op->seen_revision);
    } else {
        q = rv_cql_stmt_new_prepared(s->q[Q_INSERT]);
        rv_cql_bind_uuid(q, 0, id->b);
        bind_state(q, 1, st);
        bind_bucket_set(q, 6, bucket);
    }
    if (!with_event) {
        exec_step(op, q, NULL, false, after_write);
        return;
    }
    /* Ledger: the conditional state write and the event row, one partition, one batch. */
    cart_event_t ev;
    if (op->kind == OP_CORRECT)
        cart_correction_event(id, &op->correction_id, &ev);
    else
        cart_event_from_cmd(&op->job.cmd, &op->job.event_id, op->job.partition, op->job.offset,
                            op->job.ts_ms, &ev);
    rv_cql_stmt_t *e = rv_cql_stmt_new_prepared(s->q[L_EVENT]);
    rv_cql_bind_uuid(e, 0, id->b);
    bind_event(e, 1, &ev, &t, snapshot);
    rv_cql_batch_t *b = rv_cql_batch_new(RV_CQL_BATCH_LOGGED);
    rv_error_t *err = NULL;
    if (rv_cql_batch_add(b, q, &err) != RV_OK || rv_cql_batch_add(b, e, &err) != RV_OK) {
        rv_cql_stmt_destroy(q);
        rv_cql_stmt_destroy(e);
        rv_cql_batch_destroy(b);
        op_finish(op, err);
        return;
    }
    rv_cql_stmt_destroy(e);
    rv_cql_stmt_destroy(q);
    exec_step(op, NULL, b, false, after_write);
}

/* The split layout's event row: one idempotent INSERT. */
/* Binds a job's event row to an INSERT of Q_EVENT's shape: the one place both
 * the store's own log write and the pipeline's CassandraBind stage use. */
static void bind_job_event(cass_store_t *s, rv_cql_stmt_t *stmt, const cart_job_t *job,
                           cart_mode_t mode)
{
    cart_event_t ev;
    cart_event_from_cmd(&job->cmd, &job->event_id, job->partition, job->offset, job->ts_ms, &ev);
    int64_t bucket;
    rv_uuid_t t;
    command_row(s, job, mode, &bucket, &t);
    rv_cql_bind_uuid(stmt, 0, ev.cart_id.b);
    rv_cql_bind_bigint(stmt, 1, bucket);
    bind_event(stmt, 2, &ev, &t, NULL);
}

/* The split layout's CartCorrected row, in the bucket of now. */
static void write_correction_row(op_t *op)
{
    cass_store_t *s = op->s;
    cart_event_t ev;
    cart_correction_event(&op->job.cmd.cart_id, &op->correction_id, &ev);
    rv_uuid_t t = op->correction_time;
    rv_cql_stmt_t *e = rv_cql_stmt_new_prepared(s->q[Q_EVENT]);
    rv_cql_bind_uuid(e, 0, ev.cart_id.b);
    rv_cql_bind_bigint(e, 1, (int64_t)(rv_timeuuid_unix_ms(&t) / (uint64_t)s->bucket_ms));
    bind_event(e, 2, &ev, &t, &op->fixed);
    exec_step(op, e, NULL, false, after_write);
}

static void after_read(op_t *op, rv_cql_result_t *res, const rv_error_t *err)
{
    if (err) {
        op_finish(op, copy_err(err, "read cart"));
        return;
    }
    cart_state_t read;
    rv_error_t *e = read_state(res, 0, 0, &read);
    rv_cql_result_destroy(res);
    if (e) {
        op_finish(op, e);
        return;
    }
    op->existed = read.exists;
    op->seen_revision = read.revision;
    if (op->kind == OP_CORRECT) {
        /* The command side owns positions: keep them. */
        op->fixed.applied = read.applied;
        if (read.revision != op->state.revision) {
            op_finish(op,
                      rv_error_new(RV_ERR_NOT_APPLIED, true, "cart changed since it was checked"));
            return;
        }
        op->step = 1;
        write_state(op, op->s->ledger, op->s->ledger ? &op->fixed : NULL);
        return;
    }
    op->state = read;
    if (op->mode == CART_MODE_IDEMPOTENT && op->job.partition >= 0 &&
        rv_positions_seen(&op->state.applied, op->job.partition, op->job.offset)) {
        op->outcome = CART_SKIPPED;
        op_finish(op, NULL);
        return;
    }
    bool applied = cart_apply(&op->state, &op->job.cmd);
    op->outcome = applied ? CART_APPLIED : CART_REJECTED;
    bool write = applied;
    if (op->mode == CART_MODE_IDEMPOTENT && op->job.partition >= 0) {
        rv_positions_advance(&op->state.applied, op->job.partition, op->job.offset);
        write = write || op->existed;
    }
    op->step = 1;
    if (op->kind == OP_APPLY_LOG) {
        if (op->state.exists)
            write_state(op, true, NULL); /* even a rejected command leaves its row */
        else
            op_finish(op, NULL); /* a command for a cart that never existed: nothing holds it */
        return;
    }
    if (write && op->state.exists)
        write_state(op, false, NULL);
    else
        op_finish(op, NULL);
}

static void after_write(op_t *op, rv_cql_result_t *res, const rv_error_t *err)
{
    if (err) {
        op_finish(op, copy_err(err, op->kind == OP_LOG ? "log event" : "write cart"));
        return;
    }
    int applied = rv_cql_result_applied(res);
    rv_cql_result_destroy(res);
    if (applied == 0) {
        op_finish(op,
                  rv_error_new(RV_ERR_NOT_APPLIED, true, "cart %s: version changed concurrently",
                               op->existed ? "update" : "insert"));
        return;
    }
    /* Split layout correction: the state is written, now the CartCorrected row. */
    if (op->kind == OP_CORRECT && !op->s->ledger && op->step == 1) {
        op->step = 2;
        write_correction_row(op);
        return;
    }
    op_finish(op, NULL);
}

static op_t *op_new(cass_store_t *s, op_kind_t kind, const cart_job_t *job, cart_mode_t mode,
                    cart_done_fn cb, void *opaque)
{
    op_t *op = calloc(1, sizeof(*op));
    if (!op) {
        cb(rv_error_new(RV_ERR_NOMEM, true, "out of memory"), CART_APPLIED, opaque);
        return NULL;
    }
    op->s = s;
    op->kind = kind;
    if (job) op->job = *job;
    op->mode = mode;
    op->cb = cb;
    op->opaque = opaque;
    return op;
}

static void read_cart(op_t *op, const rv_uuid_t *id)
{
    rv_cql_stmt_t *q = rv_cql_stmt_new_prepared(op->s->q[op->s->ledger ? L_GET : Q_GET]);
    rv_cql_bind_uuid(q, 0, id->b);
    exec_step(op, q, NULL, true, after_read);
}

static void c_apply(cart_store_t *base, const cart_job_t *job, cart_mode_t mode, cart_done_fn cb,
                    void *opaque)
{
    cass_store_t *s = (cass_store_t *)base;
    op_t *op = op_new(s, OP_APPLY, job, mode, cb, opaque);
    if (op) read_cart(op, &job->cmd.cart_id);
}

static void c_log_event(cart_store_t *base, const cart_job_t *job, cart_mode_t mode,
                        cart_done_fn cb, void *opaque)
{
    cass_store_t *s = (cass_store_t *)base;
    op_t *op = op_new(s, OP_LOG, job, mode, cb, opaque);
    if (!op) return;
    if (s->ledger) {
        /* The ledger has no separate log write: apply_and_log does both. */
        op_finish(op, rv_error_new(RV_ERR_STATE, false,
                                   "the ledger layout logs only with apply_and_log"));
        return;
    }
    /* Idempotent mode writes the same row again on a retry; duplicates mode
     * logs a new row per attempt, which is what that mode is about. */
    rv_cql_stmt_t *e = rv_cql_stmt_new_prepared(s->q[Q_EVENT]);
    bind_job_event(s, e, job, mode);
    exec_step(op, e, NULL, mode == CART_MODE_IDEMPOTENT, after_write);
}

static void c_apply_and_log(cart_store_t *base, const cart_job_t *job, cart_mode_t mode,
                            cart_done_fn cb, void *opaque)
{
    cass_store_t *s = (cass_store_t *)base;
    op_t *op = op_new(s, OP_APPLY_LOG, job, mode, cb, opaque);
    if (!op) return;
    if (!s->ledger) {
        op_finish(op, rv_error_new(RV_ERR_STATE, false,
                                   "apply_and_log needs the ledger layout (cart.topology=atomic)"));
        return;
    }
    read_cart(op, &job->cmd.cart_id);
}

static void c_correct(cart_store_t *base, const rv_uuid_t *id, int64_t seen_version,
                      const cart_state_t *fixed, const rv_uuid_t *correction_id, cart_done_fn cb,
                      void *opaque)
{
    op_t *op = op_new((cass_store_t *)base, OP_CORRECT, NULL, CART_MODE_DUPLICATES, cb, opaque);
    if (!op) return;
    op->job.cmd.cart_id = *id;
    op->fixed = *fixed;
    op->state.revision = seen_version; /* the revision the check read */
    op->correction_id = *correction_id;
    read_cart(op, id);
}

/* ------------------------------------------- the pipeline's Cassandra stages */

rv_cql_session_t *cart_store_cassandra_session(cart_store_t *base)
{
    return base->ops == &cassandra_ops ? ((cass_store_t *)base)->session : NULL;
}

const char *cart_store_cassandra_event_query(cart_store_t *base)
{
    return base->ops == &cassandra_ops ? ((cass_store_t *)base)->event_query : NULL;
}

void cart_store_cassandra_service(cart_store_t *base, rv_cassandra_cmd_t *cmd,
                                  const cart_job_t *job, cart_mode_t mode, bool and_log,
                                  cart_done_fn cb, void *opaque)
{
    cass_store_t *s = (cass_store_t *)base;
    op_t *op = calloc(1, sizeof(*op));
    if (!op) {
        rv_cassandra_cmd_done(cmd, rv_error_new(RV_ERR_NOMEM, true, "out of memory"));
        return;
    }
    *op = (op_t){.s = s,
                 .kind = and_log ? OP_APPLY_LOG : OP_APPLY,
                 .job = *job,
                 .mode = mode,
                 .cb = cb,
                 .opaque = opaque,
                 .cmd = cmd};
    rv_cassandra_cmd_set_data(cmd, op, free); /* a previous attempt's op goes now */
    if (and_log != s->ledger) {
        op_finish(
            op, rv_error_new(RV_ERR_STATE, false, "cassandra: %s does not match the %s layout",
                             and_log ? "apply_and_log" : "apply", s->ledger ? "ledger" : "split"));
        return;
    }
    read_cart(op, &job->cmd.cart_id);
}

rv_err_t cart_store_cassandra_bind_event(cart_store_t *base, rv_cql_stmt_t *stmt,
                                         const cart_job_t *job, cart_mode_t mode)
{
    bind_job_event((cass_store_t *)base, stmt, job, mode);
    rv_cql_stmt_set_idempotent(stmt, mode == CART_MODE_IDEMPOTENT);
    return RV_OK;
}

/* --------------------------------------------------------------- reading */

typedef struct read_op {
    cass_store_t *s;
    rv_uuid_t id;
    int64_t since_ms;
    cart_state_fn state_cb;
    cart_rows_fn rows_cb;
    cart_ids_fn ids_cb;
    void *opaque;
    /* rows */
    cart_row_t *rows;
    size_t n, cap;
    int64_t *buckets;
    size_t nbuckets, next_bucket;
    /* ids */
    rv_uuid_t *ids;
    size_t nids, capids;
    /* paging */
    uint8_t *paging;
    size_t paging_len;
} read_op_t;

static void read_op_free(read_op_t *r)
{
    cart_rows_free(r->rows, r->n);
    free(r->buckets);
    free(r->ids);
    free(r->paging);
    free(r);
}

static void got_cart(rv_cql_session_t *ss, rv_cql_result_t *res, const rv_error_t *err,
                     void *opaque)
{
    read_op_t *r = opaque;
    cart_state_t st;
    rv_error_t *e = err ? copy_err(err, "read cart") : read_state(res, 0, 0, &st);
    rv_cql_result_destroy(res);
    r->state_cb(e, e ? NULL : &st, r->opaque);
    read_op_free(r);
}

static void c_get_cart(cart_store_t *base, const rv_uuid_t *id, cart_state_fn cb, void *opaque)
{
    cass_store_t *s = (cass_store_t *)base;
    read_op_t *r = calloc(1, sizeof(*r));
    if (!r) {
        cb(rv_error_new(RV_ERR_NOMEM, true, "out of memory"), NULL, opaque);
        return;
    }
    r->s = s;
    r->state_cb = cb;
    r->opaque = opaque;
    rv_cql_stmt_t *q = rv_cql_stmt_new_prepared(s->q[s->ledger ? L_GET : Q_GET]);
    rv_cql_bind_uuid(q, 0, id->b);
    rv_cql_stmt_set_idempotent(q, true);
    rv_error_t *err = NULL;
    if (!rv_cql_execute(s->session, q, got_cart, r, &err)) {
        cb(err, NULL, opaque);
        read_op_free(r);
    }
    rv_cql_stmt_destroy(q);
}

static void rows_done(read_op_t *r, rv_error_t *err)
{
    r->rows_cb(err, err ? NULL : r->rows, err ? 0 : r->n, r->opaque);
    read_op_free(r);
}

static void next_events_page(read_op_t *r);

/* Appends the event rows of one page; their columns are those of Q_EVENTS. */
static rv_error_t *take_rows(read_op_t *r, const rv_cql_result_t *res)
{
    size_t rows = rv_cql_result_row_count(res);
    for (size_t i = 0; i < rows; i++) {
        if (rv_cql_result_is_null(res, i, 0))
            continue; /* ledger: the static-only row of a cart without events */
        if (r->n == r->cap) {
            size_t cap = r->cap ? r->cap * 2 : 64;
            cart_row_t *nr = realloc(r->rows, cap * sizeof(*nr));
            if (!nr) return rv_error_new(RV_ERR_NOMEM, true, "out of memory");
            r->rows = nr;
            r->cap = cap;
        }
        cart_row_t *row = &r->rows[r->n];
        memset(row, 0, sizeof(*row));
        rv_cql_result_get_uuid(res, i, 0, row->time.b);
        rv_cql_result_get_uuid(res, i, 1, row->ev.event_id.b);
        char *type = rv_cql_result_get_text_dup(res, i, 2);
        rv_err_t trc = cart_event_type_parse(type, &row->ev.type);
        if (trc != RV_OK) {
            rv_error_t *e = rv_error_new(RV_ERR_DECODE, false,
                                         "event log: unknown event type \"%s\"", type ? type : "");
            free(type);
            return e;
        }
        free(type);
        row->ev.cart_id = r->id;
        rv_cql_result_get_uuid(res, i, 3, row->ev.arg.b);
        rv_cql_result_get_int(res, i, 4, &row->ev.count);
        rv_cql_result_get_int(res, i, 5, &row->ev.partition);
        rv_cql_result_get_bigint(res, i, 6, &row->ev.offset);
        rv_cql_result_get_bigint(res, i, 7, &row->ev.ts_ms);
        bool corr = false;
        rv_cql_result_get_bool(res, i, 8, &corr);
        row->correction = corr;
        r->n++;
        if (corr) {
            char *snap = rv_cql_result_get_text_dup(res, i, 9);
            row->snapshot = malloc(sizeof(cart_state_t));
            rv_err_t rc = row->snapshot ? cart_snapshot_parse(snap, row->snapshot) : RV_ERR_NOMEM;
            free(snap);
            if (rc != RV_OK)
                return rv_error_new(RV_ERR_DECODE, false, "event log: bad correction snapshot");
            row->ev.snapshot = row->snapshot;
        }
    }
    return NULL;
}

static bool keep_paging(read_op_t *r, const rv_cql_result_t *res)
{
    free(r->paging);
    r->paging = NULL;
    r->paging_len = 0;
    const uint8_t *state;
    size_t len;
    if (!rv_cql_result_has_more_pages(res) || !rv_cql_result_paging_state(res, &state, &len))
        return false;
    r->paging = malloc(len);
    if (!r->paging) return false;
    memcpy(r->paging, state, len);
    r->paging_len = len;
    return true;
}

static void got_events_page(rv_cql_session_t *ss, rv_cql_result_t *res, const rv_error_t *err,
                            void *opaque)
{
    read_op_t *r = opaque;
    if (err) {
        rows_done(r, copy_err(err, "read events"));
        return;
    }
    rv_error_t *e = take_rows(r, res);
    bool more = !e && keep_paging(r, res);
    rv_cql_result_destroy(res);
    if (e) {
        rows_done(r, e);
        return;
    }
    if (!more) r->next_bucket++;
    next_events_page(r);
}

static void next_events_page(read_op_t *r)
{
    cass_store_t *s = r->s;
    if (s->ledger ? (r->next_bucket > 0) : (r->next_bucket >= r->nbuckets)) {
        rows_done(r, NULL);
        return;
    }
    rv_cql_stmt_t *q = rv_cql_stmt_new_prepared(s->q[s->ledger ? L_EVENTS : Q_EVENTS]);
    rv_cql_bind_uuid(q, 0, r->id.b);
    size_t i = 1;
    if (!s->ledger) rv_cql_bind_bigint(q, i++, r->buckets[r->next_bucket]);
    rv_cql_bind_timestamp(q, i, r->since_ms);
    rv_cql_stmt_set_idempotent(q, true);
    rv_cql_stmt_set_page_size(q, 1000);
    if (r->paging) rv_cql_stmt_set_paging_state(q, r->paging, r->paging_len);
    rv_error_t *err = NULL;
    rv_cql_request_t *req = rv_cql_execute(s->session, q, got_events_page, r, &err);
    rv_cql_stmt_destroy(q);
    if (!req) rows_done(r, err);
}

static void got_buckets(rv_cql_session_t *ss, rv_cql_result_t *res, const rv_error_t *err,
                        void *opaque)
{
    read_op_t *r = opaque;
    if (err) {
        rows_done(r, copy_err(err, "read buckets"));
        return;
    }
    /* One row: the cart's set of buckets, in ascending order. */
    int64_t first = r->since_ms > 0 ? r->since_ms / r->s->bucket_ms : 0;
    rv_cql_value_t v;
    size_t n = 0;
    if (rv_cql_result_row_count(res) > 0 && rv_cql_result_value(res, 0, 0, &v) == RV_OK &&
        !rv_cql_value_is_null(&v) && rv_cql_value_count(&v, &n) == RV_OK && n > 0) {
        r->buckets = malloc(n * sizeof(int64_t));
        rv_cql_iter_t it;
        rv_cql_value_t b;
        if (r->buckets && rv_cql_iter_init(&it, &v) == RV_OK) {
            while (rv_cql_iter_next(&it, &b) == RV_OK) {
                int64_t x = 0;
                rv_cql_value_get_bigint(&b, &x);
                if (x >= first) r->buckets[r->nbuckets++] = x;
            }
        }
    }
    rv_cql_result_destroy(res);
    next_events_page(r);
}

static void c_get_events(cart_store_t *base, const rv_uuid_t *id, int64_t since_ms, cart_rows_fn cb,
                         void *opaque)
{
    cass_store_t *s = (cass_store_t *)base;
    read_op_t *r = calloc(1, sizeof(*r));
    if (!r) {
        cb(rv_error_new(RV_ERR_NOMEM, true, "out of memory"), NULL, 0, opaque);
        return;
    }
    r->s = s;
    r->id = *id;
    r->since_ms = since_ms;
    r->rows_cb = cb;
    r->opaque = opaque;
    if (s->ledger) {
        next_events_page(r);
        return;
    }
    rv_cql_stmt_t *q = rv_cql_stmt_new_prepared(s->q[Q_BUCKETS]);
    rv_cql_bind_uuid(q, 0, id->b);
    rv_cql_stmt_set_idempotent(q, true);
    rv_cql_stmt_set_page_size(q, 0);
    rv_error_t *err = NULL;
    rv_cql_request_t *req = rv_cql_execute(s->session, q, got_buckets, r, &err);
    rv_cql_stmt_destroy(q);
    if (!req) rows_done(r, err);
}

static void next_ids_page(read_op_t *r);

static void ids_done(read_op_t *r, rv_error_t *err)
{
    r->ids_cb(err, err ? NULL : r->ids, err ? 0 : r->nids, r->opaque);
    read_op_free(r);
}

static void got_ids_page(rv_cql_session_t *ss, rv_cql_result_t *res, const rv_error_t *err,
                         void *opaque)
{
    read_op_t *r = opaque;
    if (err) {
        ids_done(r, copy_err(err, "list carts"));
        return;
    }
    size_t n = rv_cql_result_row_count(res);
    for (size_t i = 0; i < n; i++) {
        if (r->nids == r->capids) {
            size_t cap = r->capids ? r->capids * 2 : 256;
            rv_uuid_t *ni = realloc(r->ids, cap * sizeof(*ni));
            if (!ni) {
                rv_cql_result_destroy(res);
                ids_done(r, rv_error_new(RV_ERR_NOMEM, true, "out of memory"));
                return;
            }
            r->ids = ni;
            r->capids = cap;
        }
        rv_cql_result_get_uuid(res, i, 0, r->ids[r->nids++].b);
    }
    bool more = keep_paging(r, res);
    rv_cql_result_destroy(res);
    if (more)
        next_ids_page(r);
    else
        ids_done(r, NULL);
}

static void next_ids_page(read_op_t *r)
{
    cass_store_t *s = r->s;
    rv_cql_stmt_t *q = rv_cql_stmt_new_prepared(s->q[s->ledger ? L_IDS : Q_IDS]);
    rv_cql_stmt_set_idempotent(q, true);
    rv_cql_stmt_set_page_size(q, 1000);
    if (r->paging) rv_cql_stmt_set_paging_state(q, r->paging, r->paging_len);
    rv_error_t *err = NULL;
    rv_cql_request_t *req = rv_cql_execute(s->session, q, got_ids_page, r, &err);
    rv_cql_stmt_destroy(q);
    if (!req) ids_done(r, err);
}

static void c_list_carts(cart_store_t *base, cart_ids_fn cb, void *opaque)
{
    read_op_t *r = calloc(1, sizeof(*r));
    if (!r) {
        cb(rv_error_new(RV_ERR_NOMEM, true, "out of memory"), NULL, 0, opaque);
        return;
    }
    r->s = (cass_store_t *)base;
    r->ids_cb = cb;
    r->opaque = opaque;
    next_ids_page(r);
}

/* ---------------------------------------------------------- open and close */

static void session_closed(rv_cql_session_t *ss, const rv_error_t *err, void *opaque)
{
    cass_store_t *s = opaque;
    void (*cb)(void *) = s->close_cb;
    void *cbo = s->close_opaque;
    rv_cql_session_destroy(ss);
    free(s);
    if (cb) cb(cbo);
}

static void c_close(cart_store_t *base, void (*cb)(void *), void *opaque)
{
    cass_store_t *s = (cass_store_t *)base;
    s->close_cb = cb;
    s->close_opaque = opaque;
    rv_cql_session_close(s->session, session_closed, s);
}

static const cart_store_ops_t cassandra_ops = {
    .name = "cassandra",
    .apply = c_apply,
    .log_event = c_log_event,
    .apply_and_log = c_apply_and_log,
    .get_cart = c_get_cart,
    .get_events = c_get_events,
    .list_carts = c_list_carts,
    .correct = c_correct,
    .close = c_close,
};

/* Opening runs the loop through a short sequence: connect, create the
 * keyspace and tables, prepare every statement. */
typedef struct opening {
    bool done;
    rv_error_t *err;
    cass_store_t *s;
    int pending;
} opening_t;

static void opened_connect(rv_cql_session_t *ss, const rv_error_t *err, void *opaque)
{
    opening_t *o = opaque;
    if (err) o->err = copy_err(err, "connect");
    o->done = true;
}

static void opened_ddl(rv_cql_session_t *ss, rv_cql_result_t *res, const rv_error_t *err,
                       void *opaque)
{
    opening_t *o = opaque;
    if (err && !o->err) o->err = copy_err(err, "create schema");
    rv_cql_result_destroy(res);
    o->done = true;
}

static bool wait_for(uv_loop_t *loop, opening_t *o)
{
    while (!o->done && uv_run(loop, UV_RUN_ONCE))
        ;
    bool ok = o->done && !o->err;
    o->done = false;
    return ok;
}

static bool ddl(cass_store_t *s, uv_loop_t *loop, opening_t *o, const char *text)
{
    rv_cql_stmt_t *q = rv_cql_stmt_new(text, 0);
    rv_cql_stmt_set_timeout(q, 60000);
    rv_error_t *err = NULL;
    rv_cql_request_t *req = rv_cql_execute(s->session, q, opened_ddl, o, &err);
    rv_cql_stmt_destroy(q);
    if (!req) {
        o->err = err;
        return false;
    }
    return wait_for(loop, o);
}

typedef struct prep_slot {
    opening_t *o;
    rv_cql_prepared_t **slot;
} prep_slot_t;

static void prepared_one(rv_cql_session_t *ss, rv_cql_prepared_t *p, const rv_error_t *err,
                         void *opaque)
{
    prep_slot_t *ps = opaque;
    if (err && !ps->o->err) ps->o->err = copy_err(err, "prepare");
    *ps->slot = p;
    if (--ps->o->pending == 0) ps->o->done = true;
}

cart_store_t *cart_store_cassandra_open(uv_loop_t *loop, const rv_conf_t *conf, rv_error_t **errp)
{
    const rv_conf_table_t *t = &cart_conf_table;
    const char *ks = rv_conf_str(conf, t, "cart.cassandra.keyspace");
    for (const char *p = ks; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_') ||
            strlen(ks) > 48) {
            rv_error_set(errp, RV_ERR_CONFIG, false,
                         "cart.cassandra.keyspace: \"%s\" must be lower-case letters, digits and _",
                         ks);
            return NULL;
        }
    cass_store_t *s = calloc(1, sizeof(*s));
    if (!s) {
        rv_error_set(errp, RV_ERR_NOMEM, true, "out of memory");
        return NULL;
    }
    s->base.ops = &cassandra_ops;
    s->loop = loop;
    snprintf(s->ks, sizeof(s->ks), "%s", ks);
    s->ledger = strcmp(rv_conf_str(conf, t, "cart.topology"), "atomic") == 0;
    s->bucket_ms = rv_conf_ms(conf, t, "cart.cassandra.bucket");
    rv_timeuuid_gen_init(&s->tgen, uv_hrtime() ^ (uintptr_t)s);
    s->rng = uv_hrtime() ^ ((uint64_t)(uintptr_t)s << 16);
    snprintf(s->event_query, sizeof(s->event_query), query_text[Q_EVENT], s->ks);
    s->session = rv_cql_session_new(loop, conf, errp);
    if (!s->session) {
        free(s);
        return NULL;
    }
    opening_t o = {.s = s};
    rv_error_t *err = NULL;
    if (rv_cql_session_connect(s->session, opened_connect, &o, &err) != RV_OK) o.err = err;
    char text[1024];
    bool ok = !o.err && wait_for(loop, &o);
    if (ok) {
        snprintf(text, sizeof(text), "CREATE KEYSPACE IF NOT EXISTS %s WITH replication = %s",
                 s->ks, rv_conf_str(conf, t, "cart.cassandra.replication"));
        ok = ddl(s, loop, &o, text);
    }
    for (size_t i = 0; ok && i < sizeof(table_ddl) / sizeof(table_ddl[0]); i++) {
        snprintf(text, sizeof(text), table_ddl[i], s->ks);
        ok = ddl(s, loop, &o, text);
    }
    prep_slot_t slots[NQ];
    if (ok) {
        o.pending = NQ;
        for (int i = 0; i < NQ; i++) {
            snprintf(text, sizeof(text), query_text[i], s->ks);
            slots[i] = (prep_slot_t){&o, &s->q[i]};
            if (!rv_cql_prepare(s->session, text, prepared_one, &slots[i], &err)) {
                o.err = err;
                o.pending -= NQ - i;
                break;
            }
        }
        ok = !o.err && (o.pending == 0 ? (o.done = false, true) : wait_for(loop, &o));
        if (o.pending > 0) /* an early failure: let the rest answer before the slots go */
            while (o.pending > 0 && uv_run(loop, UV_RUN_ONCE))
                ;
    }
    if (!ok) {
        rv_error_give(errp,
                      o.err ? o.err
                            : rv_error_new(RV_ERR_UNAVAILABLE, true, "cassandra: not reachable"));
        rv_cql_session_destroy(s->session);
        uv_run(loop, UV_RUN_NOWAIT);
        free(s);
        return NULL;
    }
    return &s->base;
}
