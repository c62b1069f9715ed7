/* KafkaSource: a librdkafka consumer as a backpressured source with
 * watermark commits.
 *
 * Flow of a record. librdkafka fetches into its consumer queue and writes a
 * byte into a pipe when the queue becomes non-empty (qio.c). The stage takes
 * records from the queue only as far as downstream has room
 * (rd_kafka_consume_batch_queue with a count of at most the room), wraps each
 * in a root envelope whose payload and origin are the rd_kafka_message_t, and
 * pushes it. The envelope's ack comes back when the last holder released it;
 * the partition's tracker (offsets.c) then knows whether the watermark moved,
 * and the message is destroyed there (not through the origin destructor: the
 * last message of a stopped source must be destroyed before its librdkafka
 * handle, which the ack may destroy).
 *
 * Backpressure. Records are taken only as far as downstream has room; what
 * librdkafka prefetches meanwhile is bounded by its own queued.min.messages
 * and queued.max.messages.kbytes. When downstream stays full for pause.after
 * (a stalled stream, not merely a slow one), the assigned partitions are
 * paused: librdkafka stops fetching and drops what it had prefetched, so a
 * stall holds no records in memory. While paused the stage still serves the
 * queue (a keepalive timer and the pipe), so rebalances are handled and
 * max.poll.interval.ms never expires; a record that still comes out then is
 * kept in a small stash and emitted first. When room returns the partitions
 * resume from the last record taken. Pausing is not done at every full edge
 * because librdkafka refetches what a pause dropped: pause.after keeps that
 * cost to stalls.
 *
 * Partitions. Each assignment of a partition gets a kpart_t with its own
 * tracker. A revoked (or reset) partition's kpart_t is detached: it lives on
 * until its last in-flight record is acked, but its watermark is never
 * committed again, so a late ack can never commit offsets in a partition that
 * now belongs to another consumer.
 *
 * Lifetime. The stage state (ksrc_t) outlives the stage's stop hook while
 * envelopes it made are still held (stage.h's rule): it and its librdkafka
 * handle go with the last of them. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka/internal.h"
#include "kafka/offsets.h"
#include "rivulet/clock.h"

typedef enum { S_NEW, S_RUNNING, S_DRAINING, S_CLOSING, S_CLOSED } sstate_t;

typedef struct ksrc ksrc_t;

typedef struct kpart {
    ksrc_t *src;
    char *topic;
    int32_t partition;
    const rd_kafka_topic_t *rkt; /* identity of the topic in messages, for the lookup */
    rv__koff_t trk;
    int64_t next_pos; /* offset after the last record taken from librdkafka, -1 before */
    bool attached;    /* in src->parts: assigned to us and not given up */
    bool revoking;    /* revoked; waiting for its in-flight records */
} kpart_t;

/* A topic/partition and an offset: confirmed commits, and the partitions
 * this source paused in librdkafka (offset unused). */
typedef struct tpoff {
    char *topic;
    int32_t partition;
    int64_t offset;
} tpoff_t;

typedef struct tplist {
    tpoff_t *v;
    size_t n, cap;
} tplist_t;

struct ksrc {
    rv_stage_t *st; /* NULL once the stop hook ran */
    rv_graph_t *g;
    char name[96];
    rv__kconf_t kc;
    rd_kafka_t *rk;
    rd_kafka_queue_t *q;
    rv__kqio_t *io;
    sstate_t state;
    bool subscribe;
    rd_kafka_topic_partition_list_t *topics; /* subscription, or the partitions to assign */
    /* partitions */
    kpart_t **parts;
    size_t nparts, capparts;
    kpart_t *cache;
    uint64_t live_msgs; /* records emitted and not yet acked */
    /* commits */
    uint64_t done_since;   /* records the watermarks passed since the last commit */
    int commits_in_flight; /* async commits not yet answered */
    bool commit_wanted;    /* a batch commit waits for the one in flight */
    tplist_t committed;    /* offsets the broker confirmed */
    tplist_t app_paused;   /* partitions paused in librdkafka by this source */
    /* records taken while there was no room (paused), emitted first */
    rd_kafka_message_t **stash;
    size_t stash_head, stash_n, stash_cap;
    rd_kafka_message_t **batch;
    bool paused;
    /* a revoke waiting for in-flight records */
    rd_kafka_topic_partition_list_t *revoking;
    bool revoke_coop, revoke_lost;
    rv_timer_t *commit_timer, *pause_timer, *keepalive_timer, *revoke_timer, *close_timer,
        *connect_timer, *closing_timer;
    char last_error[512];
    rv_kafka_source_stats_t stats;
    bool stopped;
};

static void begin_close(ksrc_t *s);
static void begin_drain(ksrc_t *s);
static void finish_revoke(ksrc_t *s);
static void maybe_free(ksrc_t *s);

/* ------------------------------------------------------------------ failure */

/* Fails the stage (when it still runs) and starts closing: what was done
 * stays committable, nothing else is emitted. Ownership: takes err. */
static void fail_stage(ksrc_t *s, rv_error_t *err)
{
    if (s->st && !rv_stage_finished(s->st))
        rv_stage_fail(s->st, err);
    else
        rv_error_destroy(err);
    begin_drain(s);
}

/* ---------------------------------------------------------------- partitions */

static kpart_t *part_new(ksrc_t *s, const char *topic, int32_t partition)
{
    kpart_t *p = calloc(1, sizeof(*p));
    if (!p || !(p->topic = strdup(topic))) {
        free(p);
        return NULL;
    }
    p->src = s;
    p->partition = partition;
    p->next_pos = -1;
    rv__koff_init(&p->trk);
    return p;
}

static void part_free(kpart_t *p)
{
    ksrc_t *s = p->src;
    if (s->cache == p) s->cache = NULL;
    rv__koff_free(&p->trk);
    free(p->topic);
    free(p);
}

static kpart_t *find_attached(ksrc_t *s, const char *topic, int32_t partition)
{
    for (size_t i = 0; i < s->nparts; i++)
        if (s->parts[i]->partition == partition && strcmp(s->parts[i]->topic, topic) == 0)
            return s->parts[i];
    return NULL;
}

/* Detaches p from the assignment; it is freed now or with its last record. */
static void detach(ksrc_t *s, kpart_t *p)
{
    for (size_t i = 0; i < s->nparts; i++) {
        if (s->parts[i] == p) {
            s->parts[i] = s->parts[--s->nparts];
            break;
        }
    }
    if (s->cache == p) s->cache = NULL;
    p->attached = false;
    if (rv__koff_pending(&p->trk) == 0) part_free(p);
}

static kpart_t *attach(ksrc_t *s, const char *topic, int32_t partition)
{
    kpart_t *old = find_attached(s, topic, partition);
    if (old) detach(s, old);
    if (s->nparts == s->capparts) {
        size_t cap = s->capparts ? s->capparts * 2 : 16;
        kpart_t **np = realloc(s->parts, cap * sizeof(*np));
        if (!np) return NULL;
        s->parts = np;
        s->capparts = cap;
    }
    kpart_t *p = part_new(s, topic, partition);
    if (!p) return NULL;
    p->attached = true;
    s->parts[s->nparts++] = p;
    return p;
}

/* The attached partition of a message; the cache makes the common case (many
 * records of one partition in a row) one comparison. */
static kpart_t *lookup(ksrc_t *s, const rd_kafka_message_t *m)
{
    kpart_t *p = s->cache;
    if (p && p->rkt == m->rkt && p->partition == m->partition) return p;
    p = find_attached(s, rd_kafka_topic_name(m->rkt), m->partition);
    if (p) {
        p->rkt = m->rkt;
        s->cache = p;
    }
    return p;
}

/* ---------------------------------------------------------------- commits */

static tpoff_t *tp_find(const tplist_t *l, const char *topic, int32_t partition)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i].partition == partition && strcmp(l->v[i].topic, topic) == 0) return &l->v[i];
    return NULL;
}

static tpoff_t *tp_add(tplist_t *l, const char *topic, int32_t partition)
{
    tpoff_t *c = tp_find(l, topic, partition);
    if (c) return c;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        tpoff_t *nv = realloc(l->v, cap * sizeof(*nv));
        if (!nv) return NULL;
        l->v = nv;
        l->cap = cap;
    }
    char *t = strdup(topic);
    if (!t) return NULL;
    l->v[l->n] = (tpoff_t){t, partition, -1};
    return &l->v[l->n++];
}

/* Removes an entry; true when it was there. */
static bool tp_remove(tplist_t *l, const char *topic, int32_t partition)
{
    tpoff_t *c = tp_find(l, topic, partition);
    if (!c) return false;
    free(c->topic);
    *c = l->v[--l->n];
    return true;
}

static void tp_free(tplist_t *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].topic);
    free(l->v);
    memset(l, 0, sizeof(*l));
}

static void set_committed(ksrc_t *s, const char *topic, int32_t partition, int64_t offset)
{
    tpoff_t *c = tp_add(&s->committed, topic, partition);
    if (c) c->offset = offset; /* the latest answer: a reset may move it back */
}

static int64_t committed_of(const ksrc_t *s, const char *topic, int32_t partition)
{
    const tpoff_t *c = tp_find(&s->committed, topic, partition);
    return c ? c->offset : -1;
}

/* Pauses (or resumes) partitions in librdkafka and remembers which ones this
 * source paused: librdkafka keeps an application pause across unassign and
 * reassign, and a resume of a partition that is not paused still restarts its
 * fetch, so each partition is resumed only when it was paused. */
static void pause_list(ksrc_t *s, rd_kafka_topic_partition_list_t *l)
{
    for (int i = 0; i < l->cnt; i++)
        tp_add(&s->app_paused, l->elems[i].topic, l->elems[i].partition);
    if (l->cnt > 0) rd_kafka_pause_partitions(s->rk, l);
}

/* Resumes those of l this source had paused; returns how many. */
static int resume_list(ksrc_t *s, const rd_kafka_topic_partition_list_t *l)
{
    rd_kafka_topic_partition_list_t *r = rd_kafka_topic_partition_list_new(l->cnt + 1);
    if (!r) return 0;
    for (int i = 0; i < l->cnt; i++)
        if (tp_remove(&s->app_paused, l->elems[i].topic, l->elems[i].partition))
            rd_kafka_topic_partition_list_add(r, l->elems[i].topic, l->elems[i].partition);
    int n = r->cnt;
    if (n > 0) rd_kafka_resume_partitions(s->rk, r);
    rd_kafka_topic_partition_list_destroy(r);
    return n;
}

/* Sends one async commit of the watermarks that moved in parts[0..n) (all
 * attached partitions when parts is NULL). */
static void commit_parts(ksrc_t *s, kpart_t *const *parts, size_t n)
{
    if (!parts) {
        parts = s->parts;
        n = s->nparts;
    }
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new((int)(n ? n : 1));
    if (!list) return;
    for (size_t i = 0; i < n; i++) {
        int64_t off = rv__koff_take_commit(&parts[i]->trk);
        if (off >= 0)
            rd_kafka_topic_partition_list_add(list, parts[i]->topic, parts[i]->partition)->offset =
                off;
    }
    if (list->cnt > 0) {
        rd_kafka_resp_err_t err = rd_kafka_commit(s->rk, list, 1);
        s->stats.commits++;
        if (err) {
            s->stats.commit_errors++;
            snprintf(s->last_error, sizeof(s->last_error), "commit: %s", rd_kafka_err2str(err));
        } else {
            s->commits_in_flight++;
        }
    }
    rd_kafka_topic_partition_list_destroy(list);
}

/* A batch commit of every attached partition. At most one batch commit is in
 * flight: under load the next one waits for the answer and then carries
 * everything done meanwhile, so the broker sees a commit rate it can take. */
static void commit_all(ksrc_t *s, bool force)
{
    if (s->state >= S_CLOSED || !s->rk) return;
    if (s->commits_in_flight > 0 && !force) {
        s->commit_wanted = true;
        return;
    }
    s->commit_wanted = false;
    s->done_since = 0;
    if (s->commit_timer) rv_timer_stop(s->commit_timer);
    commit_parts(s, NULL, 0);
}

static void commit_timer_cb(rv_timer_t *t, void *opaque)
{
    commit_all(opaque, false);
}

static void offset_commit_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                             rd_kafka_topic_partition_list_t *offsets, void *opaque)
{
    ksrc_t *s = opaque;
    if (s->commits_in_flight > 0) s->commits_in_flight--;
    if (err == RD_KAFKA_RESP_ERR__NO_OFFSET) return;
    rd_kafka_resp_err_t first = err;
    bool retry = false;
    for (int i = 0; offsets && i < offsets->cnt; i++) {
        rd_kafka_topic_partition_t *tp = &offsets->elems[i];
        if (!err && !tp->err && tp->offset >= 0) {
            set_committed(s, tp->topic, tp->partition, tp->offset);
            continue;
        }
        if (!first) first = tp->err;
        /* Not committed (the coordinator moved or was loading, say): unless
         * a later commit already carries more, this partition's watermark is
         * sent again with the next commit. */
        kpart_t *p = find_attached(s, tp->topic, tp->partition);
        if (p && !p->revoking && p->trk.committed == tp->offset) {
            int64_t ok = committed_of(s, tp->topic, tp->partition);
            p->trk.committed = ok;
            retry = true;
        }
    }
    if (retry && s->state < S_CLOSING) {
        s->done_since++;
        if (s->commit_timer && !rv_timer_active(s->commit_timer))
            rv_timer_start(s->commit_timer, (uint64_t)s->kc.commit_interval_ms);
    }
    if (first) {
        s->stats.commit_errors++;
        snprintf(s->last_error, sizeof(s->last_error), "offset commit failed: %s",
                 rd_kafka_err2str(first));
    } else {
        s->stats.commits_ok++;
    }
    if (s->commit_wanted && s->commits_in_flight == 0) commit_all(s, false);
}

/* ----------------------------------------------------------------- pausing */

/* The attached partitions that are not being revoked, as a list. */
static rd_kafka_topic_partition_list_t *active_list(ksrc_t *s)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)s->nparts + 1);
    for (size_t i = 0; l && i < s->nparts; i++)
        if (!s->parts[i]->revoking)
            rd_kafka_topic_partition_list_add(l, s->parts[i]->topic, s->parts[i]->partition);
    return l;
}

static uint64_t keepalive_ms(const ksrc_t *s)
{
    int64_t ms = s->kc.max_poll_interval_ms / 4;
    return (uint64_t)(ms < 10 ? 10 : ms > 1000 ? 1000 : ms);
}

static void pause_all(ksrc_t *s)
{
    if (s->paused) return;
    rd_kafka_topic_partition_list_t *l = active_list(s);
    if (l) {
        pause_list(s, l);
        rd_kafka_topic_partition_list_destroy(l);
    }
    s->paused = true;
    s->stats.pauses++;

    if (s->keepalive_timer) rv_timer_start(s->keepalive_timer, keepalive_ms(s));
}

/* Resumes the active partitions. librdkafka 2.0.2 does not wake the broker
 * thread on resume, so fetching would restart only at its next idle timeout
 * (up to a second); a seek to the position we stopped at wakes it at once
 * and fetches from exactly there. */
static void resume_all(ksrc_t *s)
{
    if (!s->paused) return;
    rd_kafka_topic_partition_list_t *l = active_list(s);
    if (l) {
        resume_list(s, l);
        rd_kafka_topic_partition_list_t *seek = rd_kafka_topic_partition_list_new(l->cnt + 1);
        for (size_t i = 0; seek && i < s->nparts; i++) {
            kpart_t *p = s->parts[i];
            if (!p->revoking && p->next_pos >= 0)
                rd_kafka_topic_partition_list_add(seek, p->topic, p->partition)->offset =
                    p->next_pos;
        }
        if (seek && seek->cnt > 0) {
            rd_kafka_error_t *e = rd_kafka_seek_partitions(s->rk, seek, 0);
            if (e) rd_kafka_error_destroy(e);
        }
        if (seek) rd_kafka_topic_partition_list_destroy(seek);
        rd_kafka_topic_partition_list_destroy(l);
    }
    s->paused = false;
    s->stats.resumes++;

    if (s->keepalive_timer) rv_timer_stop(s->keepalive_timer);
}

/* ----------------------------------------------------------------- the ack */

/* The last holder released a record: update its partition's watermark,
 * destroy the message, and commit when a batch is full. */
static void on_ack(rv_env_t *root, rv_err_t status, void *opaque)
{
    kpart_t *p = opaque;
    ksrc_t *s = p->src;
    const rv_meta_t *m = rv_env_meta(root);
    bool ok = status == RV_OK;
    size_t passed = rv__koff_done(&p->trk, m->offset, ok);
    rd_kafka_message_destroy(m->origin);
    rv_env_set_origin(root, NULL, NULL);
    s->live_msgs--;
    if (ok)
        s->stats.acked++;
    else
        s->stats.failed++;
    if (passed && p->attached && !p->revoking && s->state < S_CLOSING) {
        s->done_since += passed;
        if (s->done_since >= (uint64_t)s->kc.commit_batch)
            commit_all(s, false);
        else if (s->commit_timer && !rv_timer_active(s->commit_timer) && s->st)
            rv_timer_start(s->commit_timer, (uint64_t)s->kc.commit_interval_ms);
    }
    if (!p->attached) {
        if (rv__koff_pending(&p->trk) == 0) part_free(p);
    } else if (p->revoking && s->revoking) {
        bool idle = true;
        for (size_t i = 0; i < s->nparts && idle; i++)
            if (s->parts[i]->revoking && rv__koff_pending(&s->parts[i]->trk) > 0) idle = false;
        if (idle) finish_revoke(s);
    }
    if (s->state == S_DRAINING && s->live_msgs == 0) begin_close(s);
    if (s->stopped) maybe_free(s);
}

/* ---------------------------------------------------------------- records */

static void handle_msg_error(ksrc_t *s, rd_kafka_message_t *m)
{
    rd_kafka_resp_err_t err = m->err;
    switch (err) {
    case RD_KAFKA_RESP_ERR__PARTITION_EOF:
        return;
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
        if (s->kc.unknown_topic_wait) break;
        /* fall through */
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
        fail_stage(s, rv__kafka_error(err, "%s: topic \"%s\": %s", s->name,
                                      m->rkt ? rd_kafka_topic_name(m->rkt) : "?",
                                      rd_kafka_message_errstr(m)));
        return;
    case RD_KAFKA_RESP_ERR__FATAL: {
        char buf[512];
        rd_kafka_resp_err_t orig = rd_kafka_fatal_error(s->rk, buf, sizeof(buf));
        fail_stage(s, rv__kafka_error(orig, "%s: fatal consumer error: %s", s->name, buf));
        return;
    }
    default:
        break;
    }
    snprintf(s->last_error, sizeof(s->last_error), "%s", rd_kafka_message_errstr(m));
}

static bool stash_push(ksrc_t *s, rd_kafka_message_t *m)
{
    if (s->stash_n == s->stash_cap) {
        size_t cap = s->stash_cap ? s->stash_cap * 2 : 64;
        rd_kafka_message_t **ns = malloc(cap * sizeof(*ns));
        if (!ns) return false;
        for (size_t i = 0; i < s->stash_n; i++)
            ns[i] = s->stash[(s->stash_head + i) % s->stash_cap];
        free(s->stash);
        s->stash = ns;
        s->stash_cap = cap;
        s->stash_head = 0;
    }
    s->stash[(s->stash_head + s->stash_n) % s->stash_cap] = m;
    s->stash_n++;
    return true;
}

static rd_kafka_message_t *stash_pop(ksrc_t *s)
{
    if (s->stash_n == 0) return NULL;
    rd_kafka_message_t *m = s->stash[s->stash_head];
    s->stash_head = (s->stash_head + 1) % s->stash_cap;
    s->stash_n--;
    return m;
}

/* Drops stashed records (of one partition, or all when topic is NULL): they
 * were never emitted, so never committed, and are fetched again later. */
static void stash_drop(ksrc_t *s, const char *topic, int32_t partition)
{
    size_t n = s->stash_n;
    for (size_t i = 0; i < n; i++) {
        rd_kafka_message_t *m = stash_pop(s);
        if (!topic ||
            (m->partition == partition && strcmp(rd_kafka_topic_name(m->rkt), topic) == 0)) {
            rd_kafka_message_destroy(m);
            s->stats.dropped++;
        } else {
            stash_push(s, m); /* room exists: one was just popped */
        }
    }
}

/* Emits one record; false when it was not emitted (and is destroyed). */
static bool emit(ksrc_t *s, rd_kafka_message_t *m)
{
    if (m->err) {
        handle_msg_error(s, m);
        rd_kafka_message_destroy(m);
        return false;
    }
    kpart_t *p = s->state == S_RUNNING ? lookup(s, m) : NULL;
    if (!p || p->revoking) {
        rd_kafka_message_destroy(m);
        s->stats.dropped++;
        return false;
    }
    rv_err_t rc = rv__koff_track(&p->trk, m->offset);
    if (rc == RV_ERR_INVALID) {
        /* The partition went back (an offset reset): a new tracker, so the
         * old records' acks cannot move the new watermark. */
        p = attach(s, rd_kafka_topic_name(m->rkt), m->partition);
        rc = p ? rv__koff_track(&p->trk, m->offset) : RV_ERR_NOMEM;
    }
    rv_env_t *env = rc == RV_OK ? rv_env_new(s->g, m, NULL) : NULL;
    if (!env) {
        if (rc == RV_OK) rv__koff_done(&p->trk, m->offset, false);
        rd_kafka_message_destroy(m);
        fail_stage(s, rv_error_new(RV_ERR_NOMEM, true, "%s: out of memory", s->name));
        return false;
    }
    rv_meta_t *meta = rv_env_meta_mut(env);
    meta->topic = rd_kafka_topic_name(m->rkt);
    meta->partition = m->partition;
    meta->offset = m->offset;
    meta->timestamp_ms = rd_kafka_message_timestamp(m, NULL);
    meta->key = m->key;
    meta->key_len = m->key_len;
    meta->origin_kind = "kafka";
    rv_env_set_origin(env, m, NULL);
    rv_env_set_ack(env, on_ack, p);
    p->next_pos = m->offset + 1;
    s->live_msgs++;
    s->stats.emitted++;
    rv_out_push(s->st, 0, env);
    return true;
}

/* Serves the queue without room downstream (paused, draining or closing):
 * rebalances and errors are handled; a record of an active partition is
 * stashed while running, dropped otherwise. */
static void serve_without_room(ksrc_t *s)
{
    for (;;) {
        ssize_t n = rd_kafka_consume_batch_queue(s->q, 0, s->batch, (size_t)s->kc.poll_batch);
        if (n <= 0) break;
        for (ssize_t i = 0; i < n; i++) {
            rd_kafka_message_t *m = s->batch[i];
            if (m->err) {
                handle_msg_error(s, m);
                rd_kafka_message_destroy(m);
                continue;
            }
            kpart_t *p = s->state == S_RUNNING ? lookup(s, m) : NULL;
            if (p && !p->revoking && stash_push(s, m)) {
                p->next_pos = m->offset + 1;
                continue;
            }
            rd_kafka_message_destroy(m);
            s->stats.dropped++;
        }
        if ((size_t)n < (size_t)s->kc.poll_batch) break;
    }
}

static void note_queued(ksrc_t *s)
{
    uint64_t q = (uint64_t)rd_kafka_queue_length(s->q) + s->stash_n;
    if (q > s->stats.queued_max) s->stats.queued_max = q;
}

/* Moves records downstream as far as there is room; with none, arms the
 * pause timer (or serves the queue when already paused). */
static void pump(ksrc_t *s)
{
    if (s->state != S_RUNNING || !s->st) return;
    size_t room = rv_out_room(s->st, 0);
    if (room > 0) {
        if (s->pause_timer) rv_timer_stop(s->pause_timer);
        resume_all(s);
        while (room > 0 && s->stash_n > 0 && s->state == S_RUNNING)
            if (emit(s, stash_pop(s))) room--;
        while (room > 0 && s->state == S_RUNNING) {
            size_t want = room < (size_t)s->kc.poll_batch ? room : (size_t)s->kc.poll_batch;
            ssize_t n = rd_kafka_consume_batch_queue(s->q, 0, s->batch, want);
            if (n < 0) {
                rd_kafka_resp_err_t err = rd_kafka_last_error();
                fail_stage(
                    s, rv__kafka_error(err, "%s: consuming: %s", s->name, rd_kafka_err2str(err)));
                return;
            }
            for (ssize_t i = 0; i < n; i++) {
                /* emit() always takes the message, emitted or not; one that
                 * stopped the stream (an error) leaves the rest to drop. */
                if (s->state != S_RUNNING) {
                    rd_kafka_message_destroy(s->batch[i]);
                    s->stats.dropped++;
                } else if (emit(s, s->batch[i])) {
                    room--;
                }
            }
            if ((size_t)n < want) break;
        }
    }
    if (room == 0 && s->state == S_RUNNING) {
        note_queued(s);
        if (s->paused) {
            serve_without_room(s);
        } else if (s->kc.pause_after_ms == 0) {
            pause_all(s);
            serve_without_room(s);
        } else if (s->pause_timer && !rv_timer_active(s->pause_timer)) {
            rv_timer_start(s->pause_timer, (uint64_t)s->kc.pause_after_ms);
        }
    }
}

static void pause_timer_cb(rv_timer_t *t, void *opaque)
{
    ksrc_t *s = opaque;
    if (s->state != S_RUNNING || !s->st || rv_out_room(s->st, 0) > 0) return;
    note_queued(s);
    pause_all(s);
    serve_without_room(s);
}

static void keepalive_timer_cb(rv_timer_t *t, void *opaque)
{
    ksrc_t *s = opaque;
    if (!s->paused || s->state != S_RUNNING) return;
    note_queued(s);
    serve_without_room(s);
    rv_timer_start(t, keepalive_ms(s));
}

/* --------------------------------------------------------------- rebalance */

static bool is_coop(ksrc_t *s)
{
    const char *p = rd_kafka_rebalance_protocol(s->rk);
    return p && strcmp(p, "COOPERATIVE") == 0;
}

/* Gives up the partitions of the pending revoke: commits their watermarks
 * (unless the assignment was lost), detaches them, and tells librdkafka. */
static void finish_revoke(ksrc_t *s)
{
    rd_kafka_topic_partition_list_t *list = s->revoking;
    if (!list) return;
    s->revoking = NULL;
    if (s->revoke_timer) rv_timer_stop(s->revoke_timer);
    kpart_t **ps = calloc((size_t)list->cnt + 1, sizeof(*ps));
    size_t n = 0;
    for (int i = 0; ps && i < list->cnt; i++) {
        kpart_t *p = find_attached(s, list->elems[i].topic, list->elems[i].partition);
        if (p) ps[n++] = p;
    }
    if (!s->revoke_lost && n > 0) commit_parts(s, ps, n);
    for (size_t i = 0; i < n; i++)
        detach(s, ps[i]);
    free(ps);
    if (s->revoke_coop) {
        rd_kafka_error_t *e = rd_kafka_incremental_unassign(s->rk, list);
        if (e) {
            snprintf(s->last_error, sizeof(s->last_error), "unassign: %s",
                     rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
        }
    } else {
        rd_kafka_assign(s->rk, NULL);
    }
    rd_kafka_topic_partition_list_destroy(list);
    if (s->state == S_DRAINING && s->live_msgs == 0) begin_close(s);
}

static void revoke_timer_cb(rv_timer_t *t, void *opaque)
{
    finish_revoke(opaque);
}

static void on_assign(ksrc_t *s, rd_kafka_topic_partition_list_t *parts, bool coop)
{
    for (int i = 0; i < parts->cnt; i++) {
        if (!attach(s, parts->elems[i].topic, parts->elems[i].partition)) {
            fail_stage(s, rv_error_new(RV_ERR_NOMEM, true, "%s: out of memory", s->name));
            break;
        }
    }
    if (coop) {
        rd_kafka_error_t *e = rd_kafka_incremental_assign(s->rk, parts);
        if (e) {
            fail_stage(s, rv_error_new(RV_ERR_FROM_KAFKA(rd_kafka_error_code(e)), true,
                                       "%s: assigning partitions: %s", s->name,
                                       rd_kafka_error_string(e)));
            rd_kafka_error_destroy(e);
        }
    } else {
        rd_kafka_assign(s->rk, parts);
    }
    /* A partition paused before (by backpressure or an earlier revoke) is
     * still paused in librdkafka: resume it, unless we are paused now. */
    if (s->paused || s->state != S_RUNNING)
        pause_list(s, parts);
    else
        resume_list(s, parts);
    s->stats.assigned += (uint64_t)parts->cnt;
}

static void on_revoke(ksrc_t *s, rd_kafka_topic_partition_list_t *parts, bool coop)
{
    if (s->revoking) finish_revoke(s);
    bool lost = rd_kafka_assignment_lost(s->rk) != 0;
    s->revoking = rd_kafka_topic_partition_list_copy(parts);
    if (!s->revoking) {
        /* No memory to wait: give the partitions up at once, uncommitted. */
        for (int i = 0; i < parts->cnt; i++) {
            kpart_t *p = find_attached(s, parts->elems[i].topic, parts->elems[i].partition);
            if (p) detach(s, p);
        }
        if (coop) {
            rd_kafka_error_t *e = rd_kafka_incremental_unassign(s->rk, parts);
            if (e) rd_kafka_error_destroy(e);
        } else {
            rd_kafka_assign(s->rk, NULL);
        }
        return;
    }
    s->revoke_coop = coop;
    s->revoke_lost = lost;
    bool idle = true;
    for (int i = 0; i < parts->cnt; i++) {
        kpart_t *p = find_attached(s, parts->elems[i].topic, parts->elems[i].partition);
        if (p) {
            p->revoking = true;
            if (rv__koff_pending(&p->trk) > 0) idle = false;
        }
        stash_drop(s, parts->elems[i].topic, parts->elems[i].partition);
    }
    s->stats.revoked += (uint64_t)parts->cnt;
    if (lost) s->stats.lost += (uint64_t)parts->cnt;
    if (lost || idle || s->state >= S_CLOSING || !s->st || !s->revoke_timer ||
        s->kc.revoke_timeout_ms == 0) {
        finish_revoke(s);
        return;
    }
    /* Stop fetching what we are about to give up while the in-flight records
     * finish; the partitions are resumed (or paused) again when reassigned. */
    pause_list(s, parts);
    rv_timer_start(s->revoke_timer, (uint64_t)s->kc.revoke_timeout_ms);
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    ksrc_t *s = opaque;
    bool coop = is_coop(s);
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        on_assign(s, parts, coop);
    } else if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
        on_revoke(s, parts, coop);
    } else {
        snprintf(s->last_error, sizeof(s->last_error), "rebalance: %s", rd_kafka_err2str(err));
        if (coop) {
            rd_kafka_error_t *e = rd_kafka_incremental_unassign(rk, parts);
            if (e) rd_kafka_error_destroy(e);
        } else {
            rd_kafka_assign(rk, NULL);
        }
    }
}

/* ------------------------------------------------------------------ errors */

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    ksrc_t *s = opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char buf[512];
        rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, buf, sizeof(buf));
        fail_stage(s, rv__kafka_error(orig, "%s: fatal consumer error: %s", s->name, buf));
        return;
    }
    snprintf(s->last_error, sizeof(s->last_error), "%s", reason);
}

static void connect_timer_cb(rv_timer_t *t, void *opaque)
{
    ksrc_t *s = opaque;
    if (s->state != S_RUNNING || rd_kafka_controllerid(s->rk, 0) >= 0) return;
    fail_stage(s,
               rv_error_new(RV_ERR_UNAVAILABLE, true,
                            "%s: no Kafka broker answered at %s within %" PRId64
                            " ms (kafka.connect.timeout)%s%s",
                            s->name, s->kc.bootstraps ? s->kc.bootstraps : "?",
                            s->kc.connect_timeout_ms, s->last_error[0] ? ": " : "", s->last_error));
}

/* ---------------------------------------------------------------- stopping */

static void close_done(ksrc_t *s)
{
    if (s->state == S_CLOSED) return;
    s->state = S_CLOSED;
    if (s->closing_timer) rv_timer_stop(s->closing_timer);
    if (s->close_timer) rv_timer_stop(s->close_timer);
    /* A final commit that failed (typically because the group is
     * rebalancing as members leave) does not fail the stream: its records
     * are redelivered, which at-least-once allows; commit_errors counts it. */
    if (s->st && !rv_stage_finished(s->st)) rv_stage_finish(s->st);
}

/* Serves the queue while librdkafka closes the consumer, until it is closed. */
static void serve_closing(ksrc_t *s)
{
    if (s->state != S_CLOSING) return;
    serve_without_room(s);
    if (rd_kafka_consumer_closed(s->rk))
        close_done(s);
    else if (s->closing_timer && !rv_timer_active(s->closing_timer))
        rv_timer_start(s->closing_timer, 20);
}

static void closing_timer_cb(rv_timer_t *t, void *opaque)
{
    serve_closing(opaque);
}

/* The final commit, then librdkafka's asynchronous close (the group is left;
 * rebalance callbacks of the close come through our queue). */
static void begin_close(ksrc_t *s)
{
    if (s->state >= S_CLOSING) return;
    if (s->state == S_NEW) {
        s->state = S_CLOSED;
        return;
    }
    if (s->revoking) finish_revoke(s);
    commit_all(s, true);
    s->state = S_CLOSING;
    if (s->close_timer) rv_timer_stop(s->close_timer);
    rd_kafka_error_t *e = rd_kafka_consumer_close_queue(s->rk, s->q);
    if (e) {
        snprintf(s->last_error, sizeof(s->last_error), "close: %s", rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
    }
    serve_closing(s);
}

static void close_timer_cb(rv_timer_t *t, void *opaque)
{
    begin_close(opaque);
}

/* Stops emitting and completes the output; closes once the records in flight
 * are done (or close.timeout passed). */
static void begin_drain(ksrc_t *s)
{
    if (s->state >= S_DRAINING) return;
    if (s->state == S_NEW) {
        s->state = S_CLOSED;
        return;
    }
    s->state = S_DRAINING;
    if (s->st && !rv_stage_finished(s->st)) rv_out_complete(s->st, 0);
    if (s->pause_timer) rv_timer_stop(s->pause_timer);
    if (s->keepalive_timer) rv_timer_stop(s->keepalive_timer);
    if (!s->paused) {
        /* Stop fetching: nothing more will be emitted. */
        rd_kafka_topic_partition_list_t *l = active_list(s);
        if (l) {
            pause_list(s, l);
            rd_kafka_topic_partition_list_destroy(l);
        }
        s->paused = true;
    }
    stash_drop(s, NULL, 0);
    if (s->live_msgs == 0 || !s->st) {
        begin_close(s);
        return;
    }
    commit_all(s, true);
    if (s->close_timer) rv_timer_start(s->close_timer, (uint64_t)s->kc.close_timeout_ms);
}

/* ------------------------------------------------------------------- hooks */

static void on_queue(void *opaque)
{
    ksrc_t *s = opaque;
    switch (s->state) {
    case S_RUNNING:
        if (s->st && !rv_stage_finished(s->st)) rv_stage_wake(s->st);
        break;
    case S_DRAINING:
        serve_without_room(s);
        break;
    case S_CLOSING:
        serve_closing(s);
        break;
    default:
        break;
    }
}

static rv_err_t start(rv_stage_t *st, rv_error_t **errp)
{
    ksrc_t *s = rv_stage_state(st);
    snprintf(s->name, sizeof(s->name), "%s", rv_stage_name(st));
    s->io = rv__kqio_new(rv_stage_loop(st), s->q, on_queue, s, errp);
    if (!s->io) return RV_ERR_IO;
    s->state = S_RUNNING;
    if (s->subscribe) {
        for (int i = 0; i < s->topics->cnt; i++)
            rv__kconf_mock_topic(&s->kc, s->topics->elems[i].topic);
        rd_kafka_resp_err_t err = rd_kafka_subscribe(s->rk, s->topics);
        if (err) {
            s->state = S_CLOSED;
            return rv_error_give(
                errp, rv__kafka_error(err, "%s: subscribing: %s", s->name, rd_kafka_err2str(err)));
        }
    } else {
        for (int i = 0; i < s->topics->cnt; i++) {
            rv__kconf_mock_topic(&s->kc, s->topics->elems[i].topic);
            if (!attach(s, s->topics->elems[i].topic, s->topics->elems[i].partition))
                return rv_error_set(errp, RV_ERR_NOMEM, true, "%s: out of memory", s->name);
        }
        rd_kafka_resp_err_t err = rd_kafka_assign(s->rk, s->topics);
        if (err) {
            s->state = S_CLOSED;
            return rv_error_give(
                errp, rv__kafka_error(err, "%s: assigning: %s", s->name, rd_kafka_err2str(err)));
        }
        s->stats.assigned += (uint64_t)s->topics->cnt;
    }
    if (s->kc.connect_timeout_ms > 0)
        rv_timer_start(s->connect_timer, (uint64_t)s->kc.connect_timeout_ms);
    return RV_OK;
}

static void on_room(rv_stage_t *st)
{
    pump(rv_stage_state(st));
}

static void on_cancel(rv_stage_t *st, int port)
{
    begin_drain(rv_stage_state(st));
}

static void on_drain(rv_stage_t *st)
{
    begin_drain(rv_stage_state(st));
}

static void on_abort(rv_stage_t *st)
{
    ksrc_t *s = rv_stage_state(st);
    if (s->state == S_RUNNING) {
        s->state = S_DRAINING;
        stash_drop(s, NULL, 0);
    }
    begin_close(s);
}

/* Frees the state once the stop hook ran and no record it made is alive. */
static void maybe_free(ksrc_t *s)
{
    if (!s->stopped || s->live_msgs > 0) return;
    while (s->nparts > 0)
        detach(s, s->parts[s->nparts - 1]);
    free(s->parts);
    s->parts = NULL;
    if (s->q) rd_kafka_queue_destroy(s->q);
    if (s->rk) /* closed already (or never subscribed) */
        rd_kafka_destroy_flags(s->rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    if (s->topics) rd_kafka_topic_partition_list_destroy(s->topics);
    rv__kconf_clear(&s->kc);
    tp_free(&s->committed);
    tp_free(&s->app_paused);
    free(s->stash);
    free(s->batch);
    free(s);
}

static void stop(rv_stage_t *st)
{
    ksrc_t *s = rv_stage_state(st);
    rv_timer_t **timers[] = {&s->commit_timer, &s->pause_timer, &s->keepalive_timer,
                             &s->revoke_timer, &s->close_timer, &s->connect_timer,
                             &s->closing_timer};
    for (size_t i = 0; i < sizeof(timers) / sizeof(timers[0]); i++) {
        rv_timer_destroy(*timers[i]);
        *timers[i] = NULL;
    }
    s->st = NULL;
    if (s->rk && s->state != S_CLOSED && s->state != S_NEW) {
        /* The graph is torn down before the consumer closed (an abort, or a
         * destroy while running): commit what is done, close, and wait here
         * for the close (it leaves the group: about one round trip). */
        begin_close(s);
        uint64_t deadline = uv_hrtime() + 30000000000ull;
        while (s->state == S_CLOSING && !rd_kafka_consumer_closed(s->rk) &&
               uv_hrtime() < deadline) {
            ssize_t n = rd_kafka_consume_batch_queue(s->q, 100, s->batch, (size_t)s->kc.poll_batch);
            for (ssize_t i = 0; i < n; i++) {
                rd_kafka_message_destroy(s->batch[i]);
                s->stats.dropped++;
            }
        }
    }
    s->state = S_CLOSED;
    stash_drop(s, NULL, 0);
    rv__kqio_close(s->io, s->g);
    s->io = NULL;
    s->stopped = true;
    maybe_free(s);
}

static const rv_stage_ops_t source_ops = {.kind = "kafka-source",
                                          .start = start,
                                          .on_room = on_room,
                                          .on_cancel = on_cancel,
                                          .on_drain = on_drain,
                                          .on_abort = on_abort,
                                          .stop = stop};

/* -------------------------------------------------------------- constructors */

static rv_stage_t *source_new(rv_graph_t *g, const rv_conf_t *conf,
                              rd_kafka_topic_partition_list_t *topics, bool subscribe)
{
    const char *who = "kafka-source";
    rv_error_t *err = NULL;
    ksrc_t *s = calloc(1, sizeof(*s));
    if (!s) {
        rd_kafka_topic_partition_list_destroy(topics);
        rv_graph_record_error(g, rv_error_new(RV_ERR_NOMEM, true, "%s: out of memory", who));
        return NULL;
    }
    s->g = g;
    s->topics = topics;
    s->subscribe = subscribe;
    snprintf(s->name, sizeof(s->name), "%s", who);
    if (rv__kconf_build(&s->kc, conf, RD_KAFKA_CONSUMER, who, &err) != RV_OK) goto fail;
    char gid[256];
    size_t gsz = sizeof(gid);
    if (rd_kafka_conf_get(s->kc.rk_conf, "group.id", gid, &gsz) != RD_KAFKA_CONF_OK || !gid[0]) {
        rv_error_set(&err, RV_ERR_CONFIG, false,
                     "%s: kafka.group.id is required (it names the group whose offsets are "
                     "committed)",
                     who);
        goto fail;
    }
    /* A rebalance can be seen coming before the first poll; the keepalive
     * runs well inside max.poll.interval.ms, which must fit pause.after. */
    if (s->kc.pause_after_ms > s->kc.max_poll_interval_ms / 2)
        s->kc.pause_after_ms = s->kc.max_poll_interval_ms / 2;
    rd_kafka_conf_set_opaque(s->kc.rk_conf, s);
    if (subscribe) rd_kafka_conf_set_rebalance_cb(s->kc.rk_conf, rebalance_cb);
    rd_kafka_conf_set_offset_commit_cb(s->kc.rk_conf, offset_commit_cb);
    rd_kafka_conf_set_error_cb(s->kc.rk_conf, error_cb);
    char errstr[512];
    s->rk = rd_kafka_new(RD_KAFKA_CONSUMER, s->kc.rk_conf, errstr, sizeof(errstr));
    if (!s->rk) {
        rv_error_set(&err, RV_ERR_CONFIG, false, "%s: %s", who, errstr);
        goto fail;
    }
    s->kc.rk_conf = NULL; /* rd_kafka_new took it */
    rd_kafka_poll_set_consumer(s->rk);
    s->q = rd_kafka_queue_get_consumer(s->rk);
    s->batch = malloc((size_t)s->kc.poll_batch * sizeof(*s->batch));
    if (!s->q || !s->batch) {
        rv_error_set(&err, RV_ERR_NOMEM, true, "%s: out of memory", who);
        goto fail;
    }
    rv_stage_t *st = rv_stage_new(g, &source_ops, s, 0, 1);
    if (!st) return NULL; /* the stop hook freed s */
    s->st = st;
    s->commit_timer = rv_timer_new(st, commit_timer_cb, s);
    s->pause_timer = rv_timer_new(st, pause_timer_cb, s);
    s->keepalive_timer = rv_timer_new(st, keepalive_timer_cb, s);
    s->revoke_timer = rv_timer_new(st, revoke_timer_cb, s);
    s->close_timer = rv_timer_new(st, close_timer_cb, s);
    s->connect_timer = rv_timer_new(st, connect_timer_cb, s);
    s->closing_timer = rv_timer_new(st, closing_timer_cb, s);
    if (!s->commit_timer || !s->pause_timer || !s->keepalive_timer || !s->revoke_timer ||
        !s->close_timer || !s->connect_timer || !s->closing_timer)
        rv_graph_record_error(g, rv_error_new(RV_ERR_NOMEM, true, "%s: out of memory", who));
    return st;
fail:
    rv_graph_record_error(g, err ? err : rv_error_new(RV_ERR_CONFIG, false, "%s: failed", who));
    s->stopped = true;
    maybe_free(s);
    return NULL;
}

rv_stage_t *rv_kafka_source(rv_graph_t *g, const rv_conf_t *conf, const char *topics)
{
    if (!g) return NULL;
    if (!topics || !*topics) {
        rv_graph_record_error(
            g, rv_error_new(RV_ERR_INVALID, false, "kafka-source: no topic to subscribe to"));
        return NULL;
    }
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(4);
    char *copy = strdup(topics);
    if (!l || !copy) {
        free(copy);
        if (l) rd_kafka_topic_partition_list_destroy(l);
        rv_graph_record_error(g, rv_error_new(RV_ERR_NOMEM, true, "kafka-source: out of memory"));
        return NULL;
    }
    char *save = NULL;
    for (char *t = strtok_r(copy, ", ", &save); t; t = strtok_r(NULL, ", ", &save))
        rd_kafka_topic_partition_list_add(l, t, RD_KAFKA_PARTITION_UA);
    free(copy);
    if (l->cnt == 0) {
        rd_kafka_topic_partition_list_destroy(l);
        rv_graph_record_error(g, rv_error_new(RV_ERR_INVALID, false,
                                              "kafka-source: no topic to subscribe to in \"%s\"",
                                              topics));
        return NULL;
    }
    return source_new(g, conf, l, true);
}

rv_stage_t *rv_kafka_source_assign(rv_graph_t *g, const rv_conf_t *conf,
                                   const rv_kafka_partition_t *parts, size_t n)
{
    if (!g) return NULL;
    if (!parts || n == 0) {
        rv_graph_record_error(
            g, rv_error_new(RV_ERR_INVALID, false, "kafka-source: no partition to assign"));
        return NULL;
    }
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)n);
    if (!l) {
        rv_graph_record_error(g, rv_error_new(RV_ERR_NOMEM, true, "kafka-source: out of memory"));
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        if (!parts[i].topic || !*parts[i].topic || parts[i].partition < 0) {
            rd_kafka_topic_partition_list_destroy(l);
            rv_graph_record_error(g, rv_error_new(RV_ERR_INVALID, false,
                                                  "kafka-source: partition %zu has no topic or "
                                                  "a negative number",
                                                  i));
            return NULL;
        }
        rd_kafka_topic_partition_list_add(l, parts[i].topic, parts[i].partition)->offset =
            parts[i].offset;
    }
    return source_new(g, conf, l, false);
}

/* ------------------------------------------------------------------ queries */

void rv_kafka_source_get_stats(const rv_stage_t *st, rv_kafka_source_stats_t *out)
{
    const ksrc_t *s = rv_stage_state(st);
    *out = s->stats;
    out->in_flight = s->live_msgs;
    out->paused = s->paused && s->state == S_RUNNING;
}

int64_t rv_kafka_source_committed(const rv_stage_t *st, const char *topic, int32_t partition)
{
    return committed_of(rv_stage_state(st), topic, partition);
}

rd_kafka_t *rv_kafka_source_handle(const rv_stage_t *st)
{
    const ksrc_t *s = st ? rv_stage_state(st) : NULL;
    return s ? s->rk : NULL;
}
