/* Event ids: which record an event came from, stable across redelivery. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "rivulet/cqrs.h"

rv_err_t rv_event_id_policy_parse(const char *s, rv_event_id_policy_t *out, rv_error_t **errp)
{
    if (s && strcmp(s, "offset") == 0)
        *out = RV_EVENT_ID_OFFSET;
    else if (s && strcmp(s, "key") == 0)
        *out = RV_EVENT_ID_KEY;
    else if (s && strcmp(s, "header") == 0)
        *out = RV_EVENT_ID_HEADER;
    else
        return rv_error_set(errp, RV_ERR_CONFIG, false,
                            "event id policy \"%s\" is not one of offset, key, header", s ? s : "");
    return RV_OK;
}

/* A UUID given as 36 characters of text or as 16 raw bytes. */
static rv_err_t uuid_from_bytes(const void *p, size_t len, const char *what, rv_uuid_t *out,
                                rv_error_t **errp)
{
    if (len == 16) {
        memcpy(out->b, p, 16);
        return RV_OK;
    }
    rv_error_t *e = NULL;
    if (rv_uuid_parse(p, len, out, &e) != RV_OK) {
        rv_err_t rc = rv_error_set(errp, RV_ERR_DECODE, false, "%s is not a UUID (%s)", what,
                                   rv_error_msg(e));
        rv_error_destroy(e);
        return rc;
    }
    return RV_OK;
}

rv_err_t rv_event_id(rv_event_id_policy_t policy, const rv_meta_t *meta, const void *header,
                     size_t header_len, rv_uuid_t *out, rv_error_t **errp)
{
    switch (policy) {
    case RV_EVENT_ID_OFFSET: {
        if (!meta->topic || meta->partition < 0 || meta->offset < 0)
            return rv_error_set(errp, RV_ERR_INVALID, false,
                                "event id from offset: the record has no topic/partition/offset");
        char name[512];
        int n = snprintf(name, sizeof(name), "%s/%" PRId32 "/%" PRId64, meta->topic,
                         meta->partition, meta->offset);
        if (n < 0 || (size_t)n >= sizeof(name))
            return rv_error_set(errp, RV_ERR_INVALID, false,
                                "event id from offset: topic name too long");
        rv_uuid_v5(&rv_uuid_ns_rivulet, name, (size_t)n, out);
        return RV_OK;
    }
    case RV_EVENT_ID_KEY:
        if (!meta->key || meta->key_len == 0)
            return rv_error_set(errp, RV_ERR_DECODE, false,
                                "event id from key: the record has no key");
        return uuid_from_bytes(meta->key, meta->key_len, "the record's key", out, errp);
    case RV_EVENT_ID_HEADER:
        if (!header)
            return rv_error_set(errp, RV_ERR_DECODE, false,
                                "event id from header: the record has no event-id header");
        return uuid_from_bytes(header, header_len, "the event-id header", out, errp);
    }
    return rv_error_set(errp, RV_ERR_INVALID, false, "unknown event id policy %d", (int)policy);
}
