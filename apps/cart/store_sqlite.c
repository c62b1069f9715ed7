/* The SQLite store: the embedded default. One file, two tables, and every
 * write in a transaction, so apply_and_log is atomic and the service's
 * optimistic check is a plain `UPDATE ... WHERE revision = ?`.
 *
 * SQLite calls block, and they run on the loop thread: that is the trade of an
 * embedded store (a local file in WAL mode answers in microseconds); the
 * Cassandra store is the one for real deployments.
 *
 * Layout:
 *   carts(cart_id PRIMARY KEY, owner, items, version, deleted, positions, revision)
 *   cart_events(cart_id, time_ticks, time_uuid, event_id, type, arg, count,
 *               partition, offset, ts_ms, correction, snapshot)
 *     PRIMARY KEY (cart_id, time_ticks, time_uuid, event_id): a cart's events
 *     are one index range, in time order (no bucket needed in one file).
 */
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store.h"

typedef struct sqlite_store {
    cart_store_t base;
    sqlite3 *db;
    sqlite3_stmt *get, *insert_cart, *update_cart, *insert_event, *events, *ids;
    rv_timeuuid_gen_t tgen;
    uv_loop_t *loop;
} sqlite_store_t;

static const char *schema =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=NORMAL;"
    "CREATE TABLE IF NOT EXISTS carts ("
    "  cart_id TEXT PRIMARY KEY, owner TEXT NOT NULL, items TEXT NOT NULL, version INTEGER NOT "
    "NULL,"
    "  deleted INTEGER NOT NULL, positions TEXT NOT NULL, revision INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS cart_events ("
    "  cart_id TEXT NOT NULL, time_ticks INTEGER NOT NULL, time_uuid TEXT NOT NULL, event_id TEXT "
    "NOT NULL,"
    "  type TEXT NOT NULL, arg TEXT NOT NULL, count INTEGER NOT NULL, partition INTEGER NOT NULL,"
    "  offset INTEGER NOT NULL, ts_ms INTEGER NOT NULL, correction INTEGER NOT NULL, snapshot TEXT,"
    "  PRIMARY KEY (cart_id, time_ticks, time_uuid, event_id)) WITHOUT ROWID;";

static rv_error_t *db_error(sqlite_store_t *s, const char *what)
{
    int code = sqlite3_extended_errcode(s->db);
    bool busy = (code & 0xff) == SQLITE_BUSY || (code & 0xff) == SQLITE_LOCKED;
    return rv_error_new(busy ? RV_ERR_UNAVAILABLE : RV_ERR_IO, busy, "sqlite: %s: %s", what,
                        sqlite3_errmsg(s->db));
}

static rv_error_t *exec(sqlite_store_t *s, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        rv_error_t *e = rv_error_new(RV_ERR_IO, false, "sqlite: %s: %s", sql, msg ? msg : "?");
        sqlite3_free(msg);
        return e;
    }
    return NULL;
}

static void bind_uuid(sqlite3_stmt *st, int i, const rv_uuid_t *u)
{
    char s[37];
    rv_uuid_format(u, s);
    sqlite3_bind_text(st, i, s, 36, SQLITE_TRANSIENT);
}

static void column_uuid(sqlite3_stmt *st, int i, rv_uuid_t *u)
{
    const char *s = (const char *)sqlite3_column_text(st, i);
    if (!s || rv_uuid_parse(s, strlen(s), u, NULL) != RV_OK) memset(u, 0, sizeof(*u));
}

/* Loads a cart; a missing cart is a fresh state. */
static rv_error_t *load(sqlite_store_t *s, const rv_uuid_t *id, cart_state_t *st)
{
    cart_state_init(st);
    sqlite3_reset(s->get);
    bind_uuid(s->get, 1, id);
    int rc = sqlite3_step(s->get);
    if (rc == SQLITE_DONE) return NULL;
    if (rc != SQLITE_ROW) return db_error(s, "read cart");
    st->exists = true;
    column_uuid(s->get, 0, &st->owner);
    rv_error_t *err = NULL;
    if (cart_items_parse((const char *)sqlite3_column_text(s->get, 1), st, &err) != RV_OK)
        return err;
    st->version = sqlite3_column_int64(s->get, 2);
    st->deleted = sqlite3_column_int(s->get, 3) != 0;
    if (rv_positions_parse((const char *)sqlite3_column_text(s->get, 4), &st->applied, &err) !=
        RV_OK)
        return err;
    st->revision = sqlite3_column_int64(s->get, 5);
    return NULL;
}

/* Writes a cart if its revision is still seen_revision (when it existed), with
 * the next revision. */
static rv_error_t *save(sqlite_store_t *s, const rv_uuid_t *id, const cart_state_t *st,
                        bool existed, int64_t seen_revision)
{
    char items[CART_MAX_ITEMS * 50 + 1], pos[RV_POSITIONS_MAX * 32 + 1];
    cart_items_format(st, items, sizeof(items));
    rv_positions_format(&st->applied, pos, sizeof(pos));
    sqlite3_stmt *q = existed ? s->update_cart : s->insert_cart;
    sqlite3_reset(q);
    bind_uuid(q, 1, id);
    bind_uuid(q, 2, &st->owner);
    sqlite3_bind_text(q, 3, items, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(q, 4, st->version);
    sqlite3_bind_int(q, 5, st->deleted);
    sqlite3_bind_text(q, 6, pos, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(q, 8, existed ? seen_revision + 1 : 1);
    if (existed) sqlite3_bind_int64(q, 7, seen_revision);
    if (sqlite3_step(q) != SQLITE_DONE) return db_error(s, "write cart");
    if (sqlite3_changes(s->db) != 1)
        return rv_error_new(RV_ERR_NOT_APPLIED, true,
                            "cart changed concurrently (revision %" PRId64 ")", seen_revision);
    return NULL;
}

static rv_error_t *insert_event(sqlite_store_t *s, const cart_event_t *ev, const rv_uuid_t *time,
                                const cart_state_t *snapshot)
{
    sqlite3_stmt *q = s->insert_event;
    sqlite3_reset(q);
    uint64_t ms = rv_timeuuid_unix_ms(time);
    /* The full 60-bit timestamp orders rows written within one millisecond. */
    uint64_t ticks = ((uint64_t)(time->b[6] & 0x0f) << 56) | ((uint64_t)time->b[7] << 48) |
                     ((uint64_t)time->b[4] << 40) | ((uint64_t)time->b[5] << 32) |
                     ((uint64_t)time->b[0] << 24) | ((uint64_t)time->b[1] << 16) |
                     ((uint64_t)time->b[2] << 8) | time->b[3];
    (void)ms;
    bind_uuid(q, 1, &ev->cart_id);
    sqlite3_bind_int64(q, 2, (sqlite3_int64)ticks);
    bind_uuid(q, 3, time);
    bind_uuid(q, 4, &ev->event_id);
    sqlite3_bind_text(q, 5, cart_event_name(ev->type), -1, SQLITE_STATIC);
    bind_uuid(q, 6, &ev->arg);
    sqlite3_bind_int(q, 7, ev->count);
    sqlite3_bind_int(q, 8, ev->partition);
    sqlite3_bind_int64(q, 9, ev->offset);
    sqlite3_bind_int64(q, 10, ev->ts_ms);
    sqlite3_bind_int(q, 11, snapshot != NULL);
    char *snap = snapshot ? cart_snapshot_format(snapshot) : NULL;
    if (snap)
        sqlite3_bind_text(q, 12, snap, -1, free);
    else
        sqlite3_bind_null(q, 12);
    if (sqlite3_step(q) != SQLITE_DONE) return db_error(s, "insert event");
    return NULL;
}

static void event_time(sqlite_store_t *s, const cart_job_t *job, cart_mode_t mode, rv_uuid_t *t)
{
    if (mode == CART_MODE_IDEMPOTENT)
        rv_timeuuid_for((uint64_t)(job->ts_ms > 0 ? job->ts_ms : 0), (uint32_t)job->offset,
                        &job->event_id, t);
    else
        rv_timeuuid_next(&s->tgen, cart_wall_ms(), t);
}

/* The job's event row (inside the caller's transaction). */
static rv_error_t *log_job(sqlite_store_t *s, const cart_job_t *job, cart_mode_t mode)
{
    cart_event_t ev;
    rv_uuid_t t;
    cart_event_from_cmd(&job->cmd, &job->event_id, job->partition, job->offset, job->ts_ms, &ev);
    event_time(s, job, mode, &t);
    return insert_event(s, &ev, &t, NULL);
}

/* The body of apply / apply_and_log, inside a transaction. */
static rv_error_t *do_apply(sqlite_store_t *s, const cart_job_t *job, cart_mode_t mode, bool log,
                            cart_outcome_t *outcome)
{
    cart_state_t *st = malloc(sizeof(*st));
    if (!st) return rv_error_new(RV_ERR_NOMEM, true, "out of memory");
    rv_error_t *err = load(s, &job->cmd.cart_id, st);
    if (err) {
        free(st);
        return err;
    }
    bool existed = st->exists;
    int64_t seen = st->revision;
    if (mode == CART_MODE_IDEMPOTENT && job->partition >= 0 &&
        rv_positions_seen(&st->applied, job->partition, job->offset)) {
        *outcome = CART_SKIPPED;
        free(st);
        return NULL;
    }
    bool applied = cart_apply(st, &job->cmd);
    *outcome = applied ? CART_APPLIED : CART_REJECTED;
    bool write = applied;
    if (mode == CART_MODE_IDEMPOTENT && job->partition >= 0) {
        rv_positions_advance(&st->applied, job->partition, job->offset);
        write = write || existed; /* remember the position even of a rejected command */
    }
    if (write && st->exists) err = save(s, &job->cmd.cart_id, st, existed, seen);
    if (!err && log) {
        err = log_job(s, job, mode);
    }
    free(st);
    return err;
}

static void in_tx(sqlite_store_t *s, const cart_job_t *job, cart_mode_t mode, bool apply, bool log,
                  cart_done_fn cb, void *opaque)
{
    rv_error_t *err = exec(s, "BEGIN IMMEDIATE");
    cart_outcome_t outcome = CART_APPLIED;
    if (!err) {
        if (apply) {
            err = do_apply(s, job, mode, log, &outcome);
        } else {
            err = log_job(s, job, mode);
        }
        rv_error_t *e2 = exec(s, err ? "ROLLBACK" : "COMMIT");
        if (!err)
            err = e2;
        else
            rv_error_destroy(e2);
    }
    cb(err, outcome, opaque);
}

static void s_apply(cart_store_t *base, const cart_job_t *job, cart_mode_t mode, cart_done_fn cb,
                    void *opaque)
{
    in_tx((sqlite_store_t *)base, job, mode, true, false, cb, opaque);
}

static void s_log_event(cart_store_t *base, const cart_job_t *job, cart_mode_t mode,
                        cart_done_fn cb, void *opaque)
{
    in_tx((sqlite_store_t *)base, job, mode, false, true, cb, opaque);
}

static void s_apply_and_log(cart_store_t *base, const cart_job_t *job, cart_mode_t mode,
                            cart_done_fn cb, void *opaque)
{
    in_tx((sqlite_store_t *)base, job, mode, true, true, cb, opaque);
}

static void s_get_cart(cart_store_t *base, const rv_uuid_t *id, cart_state_fn cb, void *opaque)
{
    sqlite_store_t *s = (sqlite_store_t *)base;
    cart_state_t *st = malloc(sizeof(*st));
    if (!st) {
        cb(rv_error_new(RV_ERR_NOMEM, true, "out of memory"), NULL, opaque);
        return;
    }
    rv_error_t *err = load(s, id, st);
    sqlite3_reset(s->get);
    cb(err, err ? NULL : st, opaque);
    free(st);
}

void cart_rows_free(cart_row_t *rows, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(rows[i].snapshot);
    free(rows);
}

static void s_get_events(cart_store_t *base, const rv_uuid_t *id, int64_t since_ms, cart_rows_fn cb,
                         void *opaque)
{
    sqlite_store_t *s = (sqlite_store_t *)base;
    sqlite3_stmt *q = s->events;
    sqlite3_reset(q);
    bind_uuid(q, 1, id);
    /* ticks of since_ms: (ms * 10000 + Gregorian offset) */
    sqlite3_bind_int64(
        q, 2,
        since_ms > 0 ? (sqlite3_int64)((uint64_t)since_ms * 10000u + 0x01B21DD213814000ull) : 0);
    cart_row_t *rows = NULL;
    size_t n = 0, cap = 0;
    rv_error_t *err = NULL;
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 32;
            cart_row_t *r2 = realloc(rows, cap * sizeof(*rows));
            if (!r2) {
                err = rv_error_new(RV_ERR_NOMEM, true, "out of memory");
                break;
            }
            rows = r2;
        }
        cart_row_t *r = &rows[n];
        memset(r, 0, sizeof(*r));
        column_uuid(q, 0, &r->time);
        column_uuid(q, 1, &r->ev.event_id);
        if (cart_event_type_parse((const char *)sqlite3_column_text(q, 2), &r->ev.type) != RV_OK) {
            err = rv_error_new(RV_ERR_DECODE, false, "event log: unknown event type \"%s\"",
                               sqlite3_column_text(q, 2));
            break;
        }
        r->ev.cart_id = *id;
        column_uuid(q, 3, &r->ev.arg);
        r->ev.count = sqlite3_column_int(q, 4);
        r->ev.partition = sqlite3_column_int(q, 5);
        r->ev.offset = sqlite3_column_int64(q, 6);
        r->ev.ts_ms = sqlite3_column_int64(q, 7);
        r->correction = sqlite3_column_int(q, 8) != 0;
        if (r->correction) {
            r->snapshot = malloc(sizeof(cart_state_t));
            if (!r->snapshot || cart_snapshot_parse((const char *)sqlite3_column_text(q, 9),
                                                    r->snapshot) != RV_OK) {
                free(r->snapshot);
                err = rv_error_new(RV_ERR_DECODE, false, "event log: bad correction snapshot");
                break;
            }
            r->ev.snapshot = r->snapshot;
        }
        n++;
    }
    if (!err && rc != SQLITE_DONE && rc != SQLITE_ROW) err = db_error(s, "read events");
    sqlite3_reset(q);
    cb(err, err ? NULL : rows, err ? 0 : n, opaque);
    cart_rows_free(rows, n);
}

static void s_list_carts(cart_store_t *base, cart_ids_fn cb, void *opaque)
{
    sqlite_store_t *s = (sqlite_store_t *)base;
    sqlite3_reset(s->ids);
    rv_uuid_t *ids = NULL;
    size_t n = 0, cap = 0;
    rv_error_t *err = NULL;
    int rc;
    while ((rc = sqlite3_step(s->ids)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            rv_uuid_t *i2 = realloc(ids, cap * sizeof(*ids));
            if (!i2) {
                err = rv_error_new(RV_ERR_NOMEM, true, "out of memory");
                break;
            }
            ids = i2;
        }
        column_uuid(s->ids, 0, &ids[n++]);
    }
    if (!err && rc != SQLITE_DONE && rc != SQLITE_ROW) err = db_error(s, "list carts");
    sqlite3_reset(s->ids);
    cb(err, ids, err ? 0 : n, opaque);
    free(ids);
}

static void s_correct(cart_store_t *base, const rv_uuid_t *id, int64_t seen_revision,
                      const cart_state_t *fixed, const rv_uuid_t *correction_id, cart_done_fn cb,
                      void *opaque)
{
    sqlite_store_t *s = (sqlite_store_t *)base;
    rv_error_t *err = exec(s, "BEGIN IMMEDIATE");
    if (!err) {
        cart_state_t *cur = malloc(sizeof(*cur));
        err = cur ? load(s, id, cur) : rv_error_new(RV_ERR_NOMEM, true, "out of memory");
        if (!err) {
            cart_state_t copy = *fixed;
            copy.applied = cur->applied; /* positions belong to the command side */
            if (cur->revision != seen_revision)
                err = rv_error_new(RV_ERR_NOT_APPLIED, true, "cart changed since it was checked");
            else if (copy.exists)
                err = save(s, id, &copy, cur->exists, seen_revision);
            if (!err) {
                cart_event_t ev;
                cart_correction_event(id, correction_id, &ev);
                rv_uuid_t t;
                rv_timeuuid_next(&s->tgen, cart_wall_ms(), &t);
                err = insert_event(s, &ev, &t, &copy);
            }
        }
        free(cur);
        rv_error_t *e2 = exec(s, err ? "ROLLBACK" : "COMMIT");
        if (!err)
            err = e2;
        else
            rv_error_destroy(e2);
    }
    cb(err, CART_APPLIED, opaque);
}

static void s_close(cart_store_t *base, void (*cb)(void *), void *opaque)
{
    sqlite_store_t *s = (sqlite_store_t *)base;
    sqlite3_finalize(s->get);
    sqlite3_finalize(s->insert_cart);
    sqlite3_finalize(s->update_cart);
    sqlite3_finalize(s->insert_event);
    sqlite3_finalize(s->events);
    sqlite3_finalize(s->ids);
    sqlite3_close(s->db);
    free(s);
    if (cb) cb(opaque);
}

static const cart_store_ops_t sqlite_ops = {
    .name = "sqlite",
    .apply = s_apply,
    .log_event = s_log_event,
    .apply_and_log = s_apply_and_log,
    .get_cart = s_get_cart,
    .get_events = s_get_events,
    .list_carts = s_list_carts,
    .correct = s_correct,
    .close = s_close,
};

cart_store_t *cart_store_sqlite_open(uv_loop_t *loop, const char *path, rv_error_t **errp)
{
    sqlite_store_t *s = calloc(1, sizeof(*s));
    if (!s) {
        rv_error_set(errp, RV_ERR_NOMEM, true, "out of memory");
        return NULL;
    }
    s->base.ops = &sqlite_ops;
    s->loop = loop;
    rv_timeuuid_gen_init(&s->tgen, uv_hrtime() ^ (uintptr_t)s);
    if (sqlite3_open(path, &s->db) != SQLITE_OK) {
        rv_error_set(errp, RV_ERR_IO, false, "sqlite: cannot open %s: %s", path,
                     s->db ? sqlite3_errmsg(s->db) : "out of memory");
        sqlite3_close(s->db);
        free(s);
        return NULL;
    }
    sqlite3_busy_timeout(s->db, 5000);
    rv_error_t *err = exec(s, schema);
    struct {
        sqlite3_stmt **st;
        const char *sql;
    } stmts[] = {
        {&s->get, "SELECT owner, items, version, deleted, positions, revision FROM carts WHERE "
                  "cart_id = ?1"},
        {&s->insert_cart,
         "INSERT INTO carts (cart_id, owner, items, version, deleted, positions, revision) "
         "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?8)"},
        {&s->update_cart,
         "UPDATE carts SET owner = ?2, items = ?3, version = ?4, deleted = ?5, positions = ?6, "
         "revision = ?8 WHERE cart_id = ?1 AND revision = ?7"},
        {&s->insert_event,
         "INSERT OR REPLACE INTO cart_events (cart_id, time_ticks, time_uuid, event_id, type, "
         "arg, count, partition, offset, ts_ms, correction, snapshot) "
         "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"},
        {&s->events,
         "SELECT time_uuid, event_id, type, arg, count, partition, offset, ts_ms, correction, "
         "snapshot FROM cart_events WHERE cart_id = ?1 AND time_ticks >= ?2 ORDER BY time_ticks"},
        {&s->ids,
         "SELECT cart_id FROM carts UNION SELECT DISTINCT cart_id FROM cart_events ORDER BY 1"},
    };
    for (size_t i = 0; !err && i < sizeof(stmts) / sizeof(stmts[0]); i++)
        if (sqlite3_prepare_v2(s->db, stmts[i].sql, -1, stmts[i].st, NULL) != SQLITE_OK)
            err = db_error(s, stmts[i].sql);
    if (err) {
        rv_error_give(errp, err);
        s_close(&s->base, NULL, NULL);
        return NULL;
    }
    return &s->base;
}
