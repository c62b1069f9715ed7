/* The SQLite store and the query side together: the Scala scenario, replays in
 * duplicates mode and their compensation (idempotent), idempotent mode. */
#include <stdlib.h>
#include <unistd.h>

#include "cart_test_util.h"
#include "query.h"
#include "store.h"

typedef struct {
    rv_error_t *err;
    cart_outcome_t outcome;
    int calls;
} done_t;

static void on_done(rv_error_t *err, cart_outcome_t outcome, void *opaque)
{
    done_t *d = opaque;
    d->calls++;
    d->outcome = outcome;
    if (err && !d->err)
        d->err = err;
    else
        rv_error_destroy(err);
}

static cart_store_t *open_store(uv_loop_t *loop, char *path)
{
    strcpy(path, "/tmp/rv_cart_XXXXXX");
    int fd = mkstemp(path);
    close(fd);
    unlink(path);
    rv_error_t *err = NULL;
    cart_store_t *s = cart_store_sqlite_open(loop, path, &err);
    if (!s) fprintf(stderr, "open: %s\n", rv_error_msg(err));
    rv_error_destroy(err);
    return s;
}

static void close_store(cart_store_t *s, const char *path)
{
    s->ops->close(s, NULL, NULL);
    char p[300];
    unlink(path);
    snprintf(p, sizeof(p), "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof(p), "%s-shm", path);
    unlink(p);
}

static cart_job_t job(const cart_cmd_t *c, int64_t offset)
{
    cart_job_t j = {.cmd = *c, .partition = 0, .offset = offset, .ts_ms = 1700000000000 + offset};
    rv_meta_t m = {.topic = "cart-commands", .partition = 0, .offset = offset};
    rv_event_id(RV_EVENT_ID_OFFSET, &m, NULL, 0, &j.event_id, NULL);
    return j;
}

static cart_outcome_t run(cart_store_t *s, const cart_job_t *j, cart_mode_t mode, int which)
{
    done_t d = {0};
    if (which == 0)
        s->ops->apply(s, j, mode, on_done, &d);
    else if (which == 1)
        s->ops->log_event(s, j, mode, on_done, &d);
    else
        s->ops->apply_and_log(s, j, mode, on_done, &d);
    CHECK_EQ(d.calls, 1);
    CHECK(d.err == NULL);
    if (d.err) fprintf(stderr, "  store: %s\n", rv_error_msg(d.err));
    rv_error_destroy(d.err);
    return d.outcome;
}

static void keep_report(rv_error_t *err, cart_report_t *r, void *opaque)
{
    CHECK(err == NULL);
    rv_error_destroy(err);
    *(cart_report_t **)opaque = r;
}

static cart_report_t *report(cart_store_t *s, int cart, bool compensate)
{
    cart_report_t *r = NULL;
    rv_uuid_t id = uid(cart);
    if (compensate)
        cart_compensate(s, &id, keep_report, &r);
    else
        cart_check(s, &id, keep_report, &r);
    return r;
}

static void test_scala_scenario_atomic(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    char path[64];
    cart_store_t *s = open_store(&loop, path);
    REQUIRE(s);
    cart_cmd_t cmds[16];
    size_t n = scala_scenario(cmds);
    for (size_t i = 0; i < n; i++) {
        cart_job_t j = job(&cmds[i], (int64_t)i);
        CHECK_EQ(run(s, &j, CART_MODE_DUPLICATES, 2), CART_APPLIED);
    }
    cart_report_t *r = report(s, 1, false);
    REQUIRE(r);
    rv_uuid_t first_owner = uid(100), first = uid(200), second = uid(201);
    CHECK(rv_uuid_equal(&r->table.owner, &first_owner));
    CHECK_EQ(cart_state_item(&r->table, &first), 1);
    CHECK_EQ(cart_state_item(&r->table, &second), 2);
    CHECK_EQ(r->table.version, 9);
    CHECK_EQ(r->rows, 10);
    CHECK_EQ(r->n_dups, 0);
    CHECK(r->table_ok && r->ledger_ok);
    cart_report_free(r);
    close_store(s, path);
    uv_loop_close(&loop);
}

/* The parallel topology's failure: the service applied a tail twice, the log
 * has some rows twice. Compensation fixes the table and the ledger, and is
 * idempotent. */
static void test_duplicates_then_compensation(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    char path[64];
    cart_store_t *s = open_store(&loop, path);
    REQUIRE(s);
    cart_cmd_t cmds[16];
    size_t n = scala_scenario(cmds);
    for (size_t i = 0; i < n; i++) {
        cart_job_t j = job(&cmds[i], (int64_t)i);
        run(s, &j, CART_MODE_DUPLICATES, 0);
        run(s, &j, CART_MODE_DUPLICATES, 1);
        if (i == 6) { /* a crash after offset 6: offsets 3..6 are delivered again */
            for (int64_t k = 3; k <= 6; k++) {
                cart_job_t again = job(&cmds[k], k);
                run(s, &again, CART_MODE_DUPLICATES, 0);
                if (k != 5) /* the crash hit between the service and the log for offset 5 */
                    run(s, &again, CART_MODE_DUPLICATES, 1);
            }
        }
    }
    cart_report_t *r = report(s, 1, false);
    REQUIRE(r);
    CHECK_EQ(r->rows, 13);
    CHECK_EQ(r->n_dups, 3);
    CHECK(!r->table_ok);
    CHECK(!r->ledger_ok);
    CHECK_EQ(r->expected.version, 9);
    cart_report_free(r);

    int64_t revision_before = r ? 0 : 0;
    r = report(s, 1, false);
    REQUIRE(r);
    revision_before = r->table.revision;
    cart_report_free(r);
    r = report(s, 1, true);
    REQUIRE(r);
    CHECK(r->corrected);
    cart_report_free(r);
    r = report(s, 1, false);
    REQUIRE(r);
    /* The version goes back to the commands' count; the revision, which the
     * conditional writes check, only grows. */
    CHECK(r->table.revision > revision_before);
    cart_report_free(r);

    r = report(s, 1, false);
    REQUIRE(r);
    CHECK(r->table_ok && r->ledger_ok); /* the rebuild equals the table again */
    CHECK_EQ(r->table.version, 9);
    rv_uuid_t first = uid(200), second = uid(201);
    CHECK_EQ(cart_state_item(&r->table, &first), 1);
    CHECK_EQ(cart_state_item(&r->table, &second), 2);
    CHECK_EQ(r->corrections, 1);
    cart_report_free(r);

    r = report(s, 1, true); /* idempotent: nothing more to do */
    REQUIRE(r);
    CHECK(!r->corrected);
    CHECK_EQ(r->corrections, 1);
    cart_report_free(r);
    close_store(s, path);
    uv_loop_close(&loop);
}

static void test_idempotent_mode(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    char path[64];
    cart_store_t *s = open_store(&loop, path);
    REQUIRE(s);
    cart_cmd_t cmds[16];
    size_t n = scala_scenario(cmds);
    for (size_t i = 0; i < n; i++) {
        cart_job_t j = job(&cmds[i], (int64_t)i);
        CHECK_EQ(run(s, &j, CART_MODE_IDEMPOTENT, 0), CART_APPLIED);
        run(s, &j, CART_MODE_IDEMPOTENT, 1);
    }
    for (int64_t k = 2; k < (int64_t)n; k++) { /* everything since offset 2 again */
        cart_job_t again = job(&cmds[k], k);
        CHECK_EQ(run(s, &again, CART_MODE_IDEMPOTENT, 0), CART_SKIPPED);
        run(s, &again, CART_MODE_IDEMPOTENT, 1);
        CHECK_EQ(run(s, &again, CART_MODE_IDEMPOTENT, 2), CART_SKIPPED);
    }
    cart_report_t *r = report(s, 1, false);
    REQUIRE(r);
    CHECK_EQ(r->rows, 10); /* logging again rewrote the same rows */
    CHECK_EQ(r->n_dups, 0);
    CHECK(r->table_ok && r->ledger_ok);
    CHECK_EQ(r->table.version, 9);
    cart_report_free(r);
    close_store(s, path);
    uv_loop_close(&loop);
}

static void count_rows(rv_error_t *err, cart_row_t *rows, size_t n, void *opaque)
{
    CHECK(err == NULL);
    rv_error_destroy(err);
    *(size_t *)opaque = n;
}

static void test_events_since(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    char path[64];
    cart_store_t *s = open_store(&loop, path);
    REQUIRE(s);
    cart_cmd_t cmds[16];
    size_t n = scala_scenario(cmds);
    for (size_t i = 0; i < n; i++) {
        cart_job_t j = job(&cmds[i], (int64_t)i);
        run(s, &j, CART_MODE_IDEMPOTENT, 2); /* row time = the record's timestamp */
    }
    rv_uuid_t id = uid(1);
    size_t got = 0;
    s->ops->get_events(s, &id, 1700000000000 + 7, count_rows, &got);
    CHECK_EQ(got, 3);
    s->ops->get_events(s, &id, 0, count_rows, &got);
    CHECK_EQ(got, 10);
    close_store(s, path);
    uv_loop_close(&loop);
}

RV_TEST_MAIN(RV_TEST(test_scala_scenario_atomic), RV_TEST(test_duplicates_then_compensation),
             RV_TEST(test_idempotent_mode), RV_TEST(test_events_since))
