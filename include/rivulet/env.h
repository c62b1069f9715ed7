/* rivulet — the envelope every element travels in.
 *
 * An envelope (rv_env_t) holds one payload pointer and its destructor, and is
 * reference-counted: broadcast hands the same envelope to every branch by taking
 * one more reference, with no copy. An envelope made by a source is a *root*; it
 * carries the element's metadata (for a Kafka record: topic, partition, offset,
 * timestamp, key) and, optionally, an *ack* callback. A stage that turns a shared
 * envelope's payload into another value makes a *derived* envelope that keeps a
 * reference to its parent, so the metadata and the ack stay with the element all
 * the way down the graph.
 *
 * The ack rule: when the last reference to a root is released, its ack callback
 * runs exactly once, with RV_OK when every holder released it after success, or
 * with the first failure code when any holder released it as failed
 * (rv_env_release_failed). This is how a Kafka offset is committed only after
 * every branch finished the record: the source commits what was acked with RV_OK.
 *
 * Envelopes belong to one graph and are used only on that graph's loop thread.
 */
#ifndef RIVULET_ENV_H
#define RIVULET_ENV_H

#include <stddef.h>
#include <stdint.h>

#include "rivulet/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rv_graph rv_graph_t;
typedef struct rv_env rv_env_t;

/* A destructor for a payload or other owned memory. NULL means "nothing to free". */
typedef void (*rv_free_fn)(void *p);

/* Metadata of the record that started an element. Fields a source does not know
 * stay at their "none" values: NULL pointers, -1 for numbers. */
typedef struct rv_meta {
    const char *topic; /* Kafka topic, or another source's name */
    int32_t partition;
    int64_t offset;
    int64_t timestamp_ms;
    const void *key;
    size_t key_len;
    const char *origin_kind; /* what `origin` is, e.g. "kafka" for an rd_kafka_message_t */
    void *origin;            /* the source's own record object the fields point into */
} rv_meta_t;

/* Runs once when a root envelope's last reference goes: status is RV_OK when no
 * holder failed it, else the first failure code. Runs on the loop thread; the
 * envelope's metadata is still readable during the call. */
typedef void (*rv_ack_fn)(rv_env_t *root, rv_err_t status, void *opaque);

/* Payload helpers for small integers carried in the pointer itself. */
#define RV_INT(p) ((intptr_t)(p))
#define RV_PTR(i) ((void *)(intptr_t)(i))

/* A new root envelope holding one reference.
 * Ownership: takes payload (freed with free_payload when the envelope goes);
 * the caller owns the returned reference. Returns NULL when out of memory, in
 * which case payload has been freed. Loop thread only. */
rv_env_t *rv_env_new(rv_graph_t *g, void *payload, rv_free_fn free_payload);

/* A new envelope whose metadata and ack are the parent's. Takes one reference on
 * parent (the caller's own reference is untouched).
 * Ownership: takes payload; the caller owns the result. NULL when out of memory
 * (payload freed). */
rv_env_t *rv_env_derive(rv_env_t *parent, void *payload, rv_free_fn free_payload);

/* A new root envelope that stands for several elements at once (a group, a zip).
 * It takes over the callers' references in parts[0..n): when the result is
 * released, every part is released with the same status (success or failure).
 * Its metadata is parts[0]'s. Ownership: takes payload and the part references;
 * the caller owns the result. NULL when out of memory (payload freed, parts
 * released as failed). */
rv_env_t *rv_env_new_joined(rv_graph_t *g, void *payload, rv_free_fn free_payload,
                            rv_env_t *const *parts, size_t n);

/* Sets the ack callback of a root envelope (the one a source made). */
void rv_env_set_ack(rv_env_t *root, rv_ack_fn ack, void *opaque);

/* Gives a root envelope the record object its metadata points into; it is freed
 * with free_origin after the ack ran. Ownership: takes origin. */
void rv_env_set_origin(rv_env_t *root, void *origin, rv_free_fn free_origin);

/* One more reference. */
void rv_env_retain(rv_env_t *env);

/* Drops one reference after the holder's work on the element succeeded. */
void rv_env_release(rv_env_t *env);

/* Drops one reference and marks the element failed: the root's ack will report
 * `status` (the first failure wins). A failed element is never acked as done. */
void rv_env_release_failed(rv_env_t *env, rv_err_t status);

/* The payload. Memory: owned by the envelope. */
void *rv_env_payload(const rv_env_t *env);

/* Replaces the payload of an envelope the caller holds alone (refs == 1); the old
 * payload is freed with its destructor unless it is the same pointer.
 * Ownership: takes payload. Returns RV_ERR_STATE (and frees payload) when shared. */
rv_err_t rv_env_set_payload(rv_env_t *env, void *payload, rv_free_fn free_payload);

/* Takes the payload out of an envelope held alone: the caller owns it and the
 * envelope is left with NULL. Returns NULL when shared. */
void *rv_env_steal_payload(rv_env_t *env, rv_free_fn *free_payload);

/* The metadata of the element (its root's). Memory: owned by the root. */
const rv_meta_t *rv_env_meta(const rv_env_t *env);

/* Writable metadata of a root envelope, for the source that made it. */
rv_meta_t *rv_env_meta_mut(rv_env_t *root);

/* Number of references (for tests and assertions). */
uint32_t rv_env_refs(const rv_env_t *env);

/* RV_OK while no holder failed the element, else the first failure code. */
rv_err_t rv_env_status(const rv_env_t *env);

/* The graph an envelope belongs to. */
rv_graph_t *rv_env_graph(const rv_env_t *env);

#ifdef __cplusplus
}
#endif
#endif
