/* Envelopes: allocation from a per-graph pool, reference counting, and the ack
 * rule (the root's ack runs once, when its last reference goes). */
#include <stdlib.h>

#include "engine/engine.h"

static rv_env_t *env_alloc(rv_graph_t *g)
{
    rv_env_t *e = g->free_envs;
    if (e) {
        g->free_envs = e->next_free;
    } else {
        e = malloc(sizeof(*e));
        if (!e) return NULL;
    }
    g->live_envs++;
    e->refs = 1;
    e->status = RV_OK;
    e->payload = NULL;
    e->free_payload = NULL;
    e->parent = NULL;
    e->g = g;
    e->meta = (rv_meta_t){.partition = -1, .offset = -1, .timestamp_ms = -1};
    e->free_origin = NULL;
    e->ack = NULL;
    e->ack_opaque = NULL;
    return e;
}

/* Envelopes are recycled rather than freed: a long run allocates only as many as
 * the edges and stages can hold at once. */
static void env_recycle(rv_env_t *e)
{
    rv_graph_t *g = e->g;
    g->live_envs--;
    e->next_free = g->free_envs;
    g->free_envs = e;
    if (g->destroyed && g->live_envs == 0) rv__graph_try_free(g);
}

void rv__env_pool_drain(rv_graph_t *g)
{
    rv_env_t *e = g->free_envs;
    while (e) {
        rv_env_t *n = e->next_free;
        free(e);
        e = n;
    }
    g->free_envs = NULL;
}

rv_env_t *rv_env_new(rv_graph_t *g, void *payload, rv_free_fn free_payload)
{
    rv_env_t *e = env_alloc(g);
    if (!e) {
        if (free_payload) free_payload(payload);
        return NULL;
    }
    e->payload = payload;
    e->free_payload = free_payload;
    return e;
}

rv_env_t *rv_env_derive(rv_env_t *parent, void *payload, rv_free_fn free_payload)
{
    rv_env_t *e = env_alloc(parent->g);
    if (!e) {
        if (free_payload) free_payload(payload);
        return NULL;
    }
    e->payload = payload;
    e->free_payload = free_payload;
    e->parent = parent;
    parent->refs++;
    return e;
}

typedef struct joined {
    size_t n;
    rv_env_t *parts[];
} joined_t;

/* The joined envelope's ack passes its status on to every part. */
static void joined_ack(rv_env_t *root, rv_err_t status, void *opaque)
{
    joined_t *j = opaque;
    for (size_t i = 0; i < j->n; i++) {
        if (status == RV_OK)
            rv_env_release(j->parts[i]);
        else
            rv_env_release_failed(j->parts[i], status);
    }
    free(j);
}

rv_env_t *rv_env_new_joined(rv_graph_t *g, void *payload, rv_free_fn free_payload,
                            rv_env_t *const *parts, size_t n)
{
    joined_t *j = malloc(sizeof(*j) + n * sizeof(rv_env_t *));
    rv_env_t *e = j ? rv_env_new(g, payload, free_payload) : NULL;
    if (!e) {
        if (!j && free_payload) free_payload(payload);
        free(j);
        for (size_t i = 0; i < n; i++)
            rv_env_release_failed(parts[i], RV_ERR_NOMEM);
        return NULL;
    }
    j->n = n;
    for (size_t i = 0; i < n; i++)
        j->parts[i] = parts[i];
    if (n > 0) e->meta = *rv_env_meta(parts[0]);
    e->ack = joined_ack;
    e->ack_opaque = j;
    return e;
}

static rv_env_t *root_of(const rv_env_t *e)
{
    while (e->parent)
        e = e->parent;
    return (rv_env_t *)e;
}

void rv_env_set_ack(rv_env_t *root, rv_ack_fn ack, void *opaque)
{
    root = root_of(root);
    root->ack = ack;
    root->ack_opaque = opaque;
}

void rv_env_set_origin(rv_env_t *root, void *origin, rv_free_fn free_origin)
{
    root = root_of(root);
    root->meta.origin = origin;
    root->free_origin = free_origin;
}

void rv_env_retain(rv_env_t *env)
{
    env->refs++;
}

/* The last reference went: free the payload, then either release the parent or,
 * for a root, run the ack and free the origin. Iterative, so a long chain of
 * derived envelopes cannot overflow the stack. */
void rv__env_last_ref(rv_env_t *e)
{
    while (e) {
        if (e->free_payload && e->payload) e->free_payload(e->payload);
        rv_env_t *parent = e->parent;
        if (!parent) {
            if (e->ack) e->ack(e, e->status, e->ack_opaque);
            if (e->free_origin && e->meta.origin) e->free_origin(e->meta.origin);
            env_recycle(e);
            return;
        }
        env_recycle(e);
        e = --parent->refs == 0 ? parent : NULL;
    }
}

void rv_env_release(rv_env_t *env)
{
    if (env && --env->refs == 0) rv__env_last_ref(env);
}

void rv_env_release_failed(rv_env_t *env, rv_err_t status)
{
    if (!env) return;
    rv_env_t *root = root_of(env);
    if (root->status == RV_OK) root->status = status == RV_OK ? RV_ERR_CANCELLED : status;
    rv_env_release(env);
}

void *rv_env_payload(const rv_env_t *env)
{
    return env->payload;
}

rv_err_t rv_env_set_payload(rv_env_t *env, void *payload, rv_free_fn free_payload)
{
    if (env->refs != 1) {
        if (free_payload && payload != env->payload) free_payload(payload);
        return RV_ERR_STATE;
    }
    if (payload != env->payload) {
        if (env->free_payload && env->payload) env->free_payload(env->payload);
        env->payload = payload;
    }
    env->free_payload = free_payload;
    return RV_OK;
}

void *rv_env_steal_payload(rv_env_t *env, rv_free_fn *free_payload)
{
    if (env->refs != 1) return NULL;
    void *p = env->payload;
    if (free_payload) *free_payload = env->free_payload;
    env->payload = NULL;
    env->free_payload = NULL;
    return p;
}

const rv_meta_t *rv_env_meta(const rv_env_t *env)
{
    return &root_of(env)->meta;
}

rv_meta_t *rv_env_meta_mut(rv_env_t *root)
{
    return &root_of(root)->meta;
}

uint32_t rv_env_refs(const rv_env_t *env)
{
    return env->refs;
}

rv_err_t rv_env_status(const rv_env_t *env)
{
    return root_of(env)->status;
}

rv_graph_t *rv_env_graph(const rv_env_t *env)
{
    return env->g;
}
