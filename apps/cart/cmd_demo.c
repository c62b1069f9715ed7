/* rivulet-cart demo: the whole story on the embedded default, no server.
 *
 *  1. starts librdkafka's mock cluster in this process and creates the topics;
 *  2. publishes sample commands for several carts (keyed by cart id), with a
 *     few poison records among them;
 *  3. runs the pipeline (parallel topology, duplicates mode: the seed's way)
 *     in a child process that SIGKILLs itself mid-stream, so the records after
 *     its last commit are delivered again to a second run, which finishes;
 *  4. finds the events logged more than once, compensates, rebuilds every cart
 *     from its log, and compares each with a reference model that applies each
 *     published command exactly once;
 *  5. ends with a one-line verdict (exit 0 when right, 3 when not). */
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "app.h"
#include "codec.h"

#define TOPIC "cart-commands"
#define DLQ   "cart-commands-dlq"

typedef struct demo_msg {
    rv_kafka_out_t out;
    rv_avro_buf_t buf;
    char key[80];
} demo_msg_t;

static uint64_t rng_state = 42;
static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)rng_state;
}

static rv_uuid_t make_id(int kind, int n)
{
    char name[64];
    int len = snprintf(name, sizeof(name), "demo/%d/%d", kind, n);
    rv_uuid_t u;
    rv_uuid_v5(&rv_uuid_ns_rivulet, name, (size_t)len, &u);
    return u;
}

static void pub_done(rv_graph_t *g, const rv_error_t *status, void *opaque)
{
    if (status) fprintf(stderr, "rivulet-cart demo: publishing failed: %s\n", rv_error_msg(status));
    *(int *)opaque = status ? 2 : 1;
}

/* Publishes the messages through a rivulet graph: array source -> KafkaSink. */
static bool publish(rv_conf_t *conf, demo_msg_t **msgs, size_t n)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    rv_graph_t *g = rv_graph_new(&loop, conf, NULL);
    rv_chain(rv_source_array(g, (void *const *)msgs, n), rv_kafka_sink(g, conf, TOPIC, NULL, NULL),
             NULL);
    int state = 0;
    rv_error_t *err = NULL;
    if (rv_graph_run(g, pub_done, &state, &err) != RV_OK) {
        fprintf(stderr, "rivulet-cart demo: %s\n", rv_error_msg(err));
        rv_error_destroy(err);
        state = 2;
    }
    while (state == 0 && uv_run(&loop, UV_RUN_ONCE))
        ;
    rv_graph_destroy(g);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    return state == 1;
}

static demo_msg_t *msg_for(const rv_avro_codec_t *codec, const cart_wire_cmd_t *w)
{
    demo_msg_t *m = calloc(1, sizeof(*m));
    if (rv_avro_encode(codec, w, &m->buf, NULL) != RV_OK) {
        free(m);
        return NULL;
    }
    snprintf(m->key, sizeof(m->key), "%s", w->cart_id);
    m->out.partition = RV_KAFKA_PARTITION_ANY;
    m->out.key = m->key;
    m->out.key_len = strlen(m->key);
    m->out.value = m->buf.data;
    m->out.value_len = m->buf.len;
    return m;
}

/* Runs `rivulet-cart run` in a child process; returns its wait status. */
static int run_child(app_t *a, const char *bootstrap, const char *db, int64_t crash_after,
                     bool quiet)
{
    char crash[32], boot[256], dbo[512];
    snprintf(crash, sizeof(crash), "%" PRId64, crash_after);
    snprintf(boot, sizeof(boot), "kafka.bootstrap.servers=%s", bootstrap);
    snprintf(dbo, sizeof(dbo), "cart.sqlite.path=%s", db);
    const char *argv[40];
    int n = 0;
    argv[n++] = "rivulet-cart";
    argv[n++] = "run";
    argv[n++] = "-o";
    argv[n++] = boot;
    argv[n++] = "-o";
    argv[n++] = dbo;
    argv[n++] = "-o";
    argv[n++] = "cart.topology=parallel";
    argv[n++] = "-o";
    argv[n++] = "cart.mode=duplicates";
    argv[n++] = "-o";
    argv[n++] =
        getenv("RV_DEMO_DEBUG") ? "cart.progress.interval=1000" : "cart.progress.interval=0";
    /* The first run commits nothing before it dies (no count trigger, a long
     * interval), so all its work is delivered again: every command it logged
     * is logged twice. The second run commits at its clean stop. */
    argv[n++] = "-o";
    argv[n++] = "kafka.source.commit.batch=1000000000";
    argv[n++] = "-o";
    argv[n++] = "kafka.source.commit.interval=1h";
    /* The mock's group coordinator waits a session timeout for a dead member. */
    argv[n++] = "-o";
    argv[n++] = "kafka.session.timeout.ms=3000";
    argv[n++] = "-o";
    argv[n++] = "kafka.heartbeat.interval.ms=500";
    argv[n++] = "-o";
    argv[n++] = "kafka.auto.offset.reset=earliest";
    argv[n++] = "-o";
    argv[n++] = "kafka.group.id=rivulet-cart-demo";
    if (crash_after > 0) {
        argv[n++] = "--crash-after";
        argv[n++] = crash;
    } else {
        argv[n++] = "--idle-exit";
        argv[n++] = "1500";
    }
    if (quiet) argv[n++] = "-q";
    argv[n] = NULL;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        execv("/proc/self/exe", (char *const *)argv);
        perror("exec rivulet-cart");
        _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return status;
}

typedef struct compare compare_t;

typedef struct totals_out {
    bool done;
    rv_error_t *err;
    cart_totals_t t;
    compare_t *cmp; /* for the per-cart comparison */
} totals_out_t;

static void totals_done(rv_error_t *err, const cart_totals_t *t, void *opaque)
{
    totals_out_t *o = opaque;
    o->done = true;
    o->err = err;
    if (t) o->t = *t;
}

struct compare {
    const rv_uuid_t *ids;
    const cart_state_t *ref;
    int n;
    int mismatches, shown;
};

static void compare_cart(rv_error_t *err, cart_report_t *r, void *opaque)
{
    compare_t *c = ((totals_out_t *)opaque)->cmp;
    if (err || !r) return;
    for (int i = 0; i < c->n; i++) {
        if (!rv_uuid_equal(&c->ids[i], &r->cart_id)) continue;
        bool ok =
            cart_state_equal(&r->table, &c->ref[i]) && cart_state_equal(&r->ledger, &c->ref[i]);
        if (!ok) c->mismatches++;
        if (c->shown < 3 || !ok) {
            char *json = cart_state_json(&r->cart_id, &r->table);
            printf("  %s %s\n", ok ? "ok  " : "DIFF", json ? json : "");
            free(json);
            c->shown++;
        }
    }
}

/* Reads the dead-letter topic and prints each record's reason. */
static int show_dead_letters(const char *bootstrap)
{
    char errstr[256];
    rd_kafka_conf_t *kc = rd_kafka_conf_new();
    rd_kafka_conf_set(kc, "bootstrap.servers", bootstrap, errstr, sizeof(errstr));
    rd_kafka_conf_set(kc, "enable.partition.eof", "true", errstr, sizeof(errstr));
    rd_kafka_conf_set(kc, "group.id", "rivulet-cart-demo-dlq-reader", errstr, sizeof(errstr));
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, errstr, sizeof(errstr));
    if (!rk) return 0;
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(parts, DLQ, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(rk, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    int n = 0, again = 0;
    char seen_at[64][64];
    for (int tries = 0; tries < 100; tries++) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m) continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            rd_kafka_message_destroy(m);
            break;
        }
        if (!m->err) {
            rd_kafka_headers_t *h = NULL;
            const void *v = NULL, *pv = NULL, *ov = NULL;
            size_t len = 0, plen = 0, olen = 0;
            if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR &&
                rd_kafka_header_get_last(h, RV_KAFKA_DLQ_ERROR, &v, &len) ==
                    RD_KAFKA_RESP_ERR_NO_ERROR &&
                rd_kafka_header_get_last(h, RV_KAFKA_DLQ_PARTITION, &pv, &plen) ==
                    RD_KAFKA_RESP_ERR_NO_ERROR &&
                rd_kafka_header_get_last(h, RV_KAFKA_DLQ_OFFSET, &ov, &olen) ==
                    RD_KAFKA_RESP_ERR_NO_ERROR) {
                /* A dead letter is written at least once: a record redelivered
                 * after the crash is dead-lettered again. Count originals. */
                char where[64];
                snprintf(where, sizeof(where), "%.*s@%.*s", (int)plen, (const char *)pv, (int)olen,
                         (const char *)ov);
                bool seen = false;
                for (int i = 0; i < n; i++)
                    if (strcmp(seen_at[i], where) == 0) seen = true;
                if (!seen && n < 64) {
                    snprintf(seen_at[n++], sizeof(seen_at[0]), "%s", where);
                    printf("  dead letter (partition %.*s, offset %.*s of %s): %.*s\n", (int)plen,
                           (const char *)pv, (int)olen, (const char *)ov, TOPIC, (int)len,
                           (const char *)v);
                } else if (seen) {
                    again++;
                }
            }
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    if (again)
        printf("  (%d of them were dead-lettered again after the restart: at least once)\n", again);
    return n;
}

int app_demo(app_t *a)
{
    int ncarts = a->carts > 0 ? a->carts : 12, ncmds = a->commands > 0 ? a->commands : 360;
    char dir[] = "/tmp/rivulet-cart-demo-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("rivulet-cart demo: mkdtemp");
        return APP_FAILED;
    }
    char db[600];
    snprintf(db, sizeof(db), "%s/carts.db", dir);
    rv_error_t *err = NULL;
    rv_kafka_mock_t *mock = rv_kafka_mock_new(1, &err);
    if (!mock) return app_fail(APP_FAILED, "mock cluster", err);
    const char *bootstrap = rv_kafka_mock_bootstraps(mock);
    if (rv_kafka_mock_create_topic(mock, TOPIC, 4, &err) != RV_OK ||
        rv_kafka_mock_create_topic(mock, DLQ, 1, &err) != RV_OK)
        return app_fail(APP_FAILED, "mock topics", err);
    printf("rivulet-cart demo\n");
    printf("1. embedded Kafka (librdkafka's mock cluster) at %s; store: SQLite %s\n", bootstrap,
           db);

    /* The commands, and the reference: each applied exactly once, in order. */
    rv_avro_codec_t *codec = cart_codec_new(NULL, &err);
    if (!codec) return app_fail(APP_FAILED, "codec", err);
    rv_uuid_t *ids = calloc((size_t)ncarts, sizeof(*ids));
    cart_state_t *ref = calloc((size_t)ncarts, sizeof(*ref));
    demo_msg_t **msgs = calloc((size_t)ncmds + 8, sizeof(*msgs));
    size_t nmsgs = 0;
    for (int i = 0; i < ncarts; i++) {
        ids[i] = make_id(0, i);
        cart_state_init(&ref[i]);
    }
    int valid = 0;
    for (int k = 0; k < ncmds; k++) {
        int c = k < ncarts ? k : (int)(rnd() % (uint32_t)ncarts);
        static const cart_action_t mix[] = {CART_ADD_ITEM,  CART_ADD_ITEM,    CART_ADD_ITEM,
                                            CART_ADD_ITEM,  CART_REMOVE_ITEM, CART_REMOVE_ITEM,
                                            CART_SET_OWNER, CART_DELETE,      CART_INSERT};
        cart_cmd_t cmd = {.action = k < ncarts ? CART_INSERT : mix[rnd() % 9], .cart_id = ids[c]};
        bool item = cmd.action == CART_ADD_ITEM || cmd.action == CART_REMOVE_ITEM;
        cmd.arg = make_id(item ? 2 : 1, (int)(rnd() % (item ? 8u : 4u)));
        cmd.count = item ? 1 + (int32_t)(rnd() % 5) : 0;
        if (cmd.action == CART_DELETE && rnd() % 3 != 0)
            cmd.action = CART_ADD_ITEM, cmd.count = 1; /* deletes are rarer */
        cart_apply(&ref[c], &cmd);
        cart_wire_buf_t b;
        cart_cmd_to_wire(&cmd, &b);
        msgs[nmsgs++] = msg_for(codec, &b.w);
        valid++;
        if (k == ncmds / 3) { /* poison among the good ones */
            cart_wire_buf_t p;
            cart_cmd_to_wire(&cmd, &p);
            snprintf(p.action, sizeof(p.action), "Explode");
            msgs[nmsgs++] = msg_for(codec, &p.w);
            cart_cmd_to_wire(&cmd, &p);
            snprintf(p.owner_or_item, sizeof(p.owner_or_item), "not-a-uuid");
            msgs[nmsgs++] = msg_for(codec, &p.w);
            cart_cmd_t add = cmd;
            add.action = CART_ADD_ITEM;
            cart_cmd_to_wire(&add, &p);
            p.w.has_count = false;
            msgs[nmsgs++] = msg_for(codec, &p.w);
            demo_msg_t *garbage = calloc(1, sizeof(*garbage));
            static const uint8_t junk[] = {0x0e, 'I', 'n', 's', 'e', 'r', 't', 0x99};
            garbage->out.partition = RV_KAFKA_PARTITION_ANY;
            snprintf(garbage->key, sizeof(garbage->key), "%s", b.cart_id);
            garbage->out.key = garbage->key;
            garbage->out.key_len = strlen(garbage->key);
            garbage->out.value = junk;
            garbage->out.value_len = sizeof(junk);
            msgs[nmsgs++] = garbage;
        }
    }
    rv_conf_t *pconf = rv_conf_new();
    rv_conf_set(pconf, "kafka.bootstrap.servers", bootstrap, NULL);
    bool published = publish(pconf, msgs, nmsgs);
    rv_conf_destroy(pconf);
    for (size_t i = 0; i < nmsgs; i++) {
        if (msgs[i]) rv_avro_buf_free(&msgs[i]->buf);
        free(msgs[i]);
    }
    free(msgs);
    rv_avro_codec_destroy(codec);
    if (!published) return APP_FAILED;
    printf("2. published %d commands for %d carts (keyed by cart id) and 4 poison records\n", valid,
           ncarts);

    int64_t crash_at = valid / 2;
    printf("3. pipeline (parallel topology, duplicates mode) crashes with SIGKILL after %" PRId64
           " commands...\n",
           crash_at);
    int st = run_child(a, bootstrap, db, crash_at, getenv("RV_DEMO_DEBUG") == NULL);
    if (!(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL)) {
        fprintf(stderr,
                "rivulet-cart demo: the first run should have died by SIGKILL (status %d)\n", st);
        return APP_FAILED;
    }
    printf("   ...before its first offset commit, and restarts: everything it did is delivered "
           "again\n   ");
    fflush(stdout);
    st = run_child(a, bootstrap, db, 0, false);
    if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
        fprintf(stderr, "rivulet-cart demo: the second run failed (status %d)\n", st);
        return APP_FAILED;
    }

    uv_loop_t loop;
    uv_loop_init(&loop);
    cart_store_t *store = cart_store_sqlite_open(&loop, db, &err);
    if (!store) return app_fail(APP_FAILED, "store", err);
    totals_out_t before = {0}, comp = {0}, after = {0};
    cart_check_all(store, false, NULL, totals_done, &before);
    app_wait(&loop, &before.done);
    if (before.err) return app_fail(APP_FAILED, "check", before.err);
    printf("4. duplicates found: %zu event ids logged more than once (%zu extra rows) in %zu of "
           "%zu carts; "
           "%zu carts differ from their commands\n",
           before.t.dup_events, before.t.extra_rows, before.t.carts_with_dups, before.t.carts,
           before.t.table_differs);
    cart_check_all(store, true, NULL, totals_done, &comp);
    app_wait(&loop, &comp.done);
    if (comp.err) return app_fail(APP_FAILED, "compensate", comp.err);
    printf("5. compensation applied to %zu carts (state restored, CartCorrected rows logged)\n",
           comp.t.corrected);
    compare_t cmp = {ids, ref, ncarts, 0, 0};
    after.cmp = &cmp;
    printf("6. rebuild from the event log and compare with the exactly-once reference:\n");
    cart_check_all(store, false, compare_cart, totals_done, &after);
    app_wait(&loop, &after.done);
    if (after.err) return app_fail(APP_FAILED, "rebuild", after.err);
    if (cmp.shown < ncarts) printf("  ... (%d more carts)\n", ncarts - cmp.shown);
    totals_out_t again = {0};
    cart_check_all(store, true, NULL, totals_done, &again);
    app_wait(&loop, &again.done);
    int dlq = show_dead_letters(bootstrap);
    app_close_store(store, &loop);
    uv_loop_close(&loop);
    rv_kafka_mock_destroy(mock);
    bool ok = cmp.mismatches == 0 && after.t.carts == (size_t)ncarts &&
              after.t.table_differs == 0 && after.t.ledger_differs == 0 && again.t.corrected == 0 &&
              dlq == 4 && before.t.dup_events > 0;
    if (ok)
        printf("verdict: OK — %d carts equal the exactly-once reference after compensating %zu "
               "duplicated "
               "events; compensation is idempotent; 4 poison records dead-lettered with reasons\n",
               ncarts, before.t.dup_events);
    else
        printf("verdict: FAILED — %d carts differ, %zu still differ after rebuild, second "
               "compensation changed "
               "%zu, %d dead letters (4 expected), %zu duplicates seen\n",
               cmp.mismatches, after.t.table_differs + after.t.ledger_differs, again.t.corrected,
               dlq, before.t.dup_events);
    free(ids);
    free(ref);
    return ok ? APP_OK : APP_MISMATCH;
}
