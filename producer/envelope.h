/*
 * envelope.h - what the producer writes to Kafka, and why it refuses a request.
 *
 * Every Kafka value is a versioned JSON envelope (DESIGN.md section 5; the
 * JSON Schemas are schemas/json/event.json and schemas/json/signal.json).
 * The parsers in event.c and session.c validate a request's body completely
 * and append one envelope per message to an outbox; kafka_out.c produces the
 * outbox only when the whole request is valid, so a batch is all-or-nothing.
 * A refused request fills a struct vg_reject: the HTTP status and the JSON
 * error body of DESIGN.md section 4.
 *
 * Nothing here does I/O or takes a lock: it is unit-tested on its own.
 */
#ifndef VG_ENVELOPE_H
#define VG_ENVELOPE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto.h"
#include "err.h"
#include "util.h"

#define VG_ENVELOPE_VERSION 1
#define VG_SCHEMA_EVENT "event/1"   /* the vigil-schema header of vigil.events */
#define VG_SCHEMA_SIGNAL "signal/1" /* ... and of vigil.heartbeats */

/* Field rules of DESIGN.md section 4. */
#define VG_TYPE_MAX 64     /* type, kind, reason: [a-z0-9_.:-]{1,64} */
#define VG_ID_MAX 128      /* session_id, visitor_id, user_id */
#define VG_URL_MAX 2048    /* url, and the target of a tracking link */
#define VG_TENANT_MAX 64   /* tenant ids, as config.c checks them */
#define VG_JSON_MAX_DEPTH 32 /* nesting of one event or session body, itself level 1 */

/* An occurred_at further than this ahead of receipt is replaced and flagged. */
#define VG_FUTURE_LIMIT_US (86400LL * 1000000LL)

enum vg_topic { VG_TOPIC_EVENTS, VG_TOPIC_HEARTBEATS, VG_TOPIC_COUNT };

/* Why a request is refused: DESIGN.md section 4's error body and its status. */
struct vg_reject {
    int status;       /* 400, 401, 405, 413, 415, 429, 503 */
    const char *code; /* static, machine-readable: "invalid_field", "rate_limited", ... */
    char message[256];
    long index;     /* the first bad item of a batch, or -1 */
    char field[64]; /* the bad field, or "" */
    int retry_after_s; /* for 429 and 503, else 0 */
};

/* Fills r; index -1 and field NULL when they do not apply. Always returns -1,
 * so that a parser can `return vg_reject_set(...)`. */
int vg_reject_set(struct vg_reject *r, int status, const char *code, long index,
                  const char *field, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* Appends {"error":{"code","message","index"?,"field"?}} to out. */
void vg_reject_json(const struct vg_reject *r, struct vg_buf *out);

/* One message of an outbox: key and value live in the outbox's data buffer. */
struct vg_outmsg {
    enum vg_topic topic;
    size_t key_off, key_len;
    size_t val_off, val_len;
    char event_id[VG_UUID_STR_LEN];
};

/* The messages of one request, in order. Zero-initialise; reusable after
 * vg_outbox_reset(); freed with vg_outbox_free(). */
struct vg_outbox {
    struct vg_buf data;
    struct vg_outmsg *msgs;
    size_t n, cap;
};

void vg_outbox_reset(struct vg_outbox *o);
void vg_outbox_free(struct vg_outbox *o);

static inline const char *vg_outmsg_key(const struct vg_outbox *o, const struct vg_outmsg *m)
{
    return o->data.data + m->key_off;
}

static inline const char *vg_outmsg_value(const struct vg_outbox *o, const struct vg_outmsg *m)
{
    return o->data.data + m->val_off;
}

/*
 * Appends one message: env serialized compactly as the value, and the key
 * "<tenant>/<key_id>". env is not consumed. event_id is copied.
 */
void vg_outbox_add(struct vg_outbox *o, enum vg_topic topic, const char *tenant,
                   const char *key_id, json_t *env, const char *event_id);

/* What every envelope of one request shares. */
struct vg_ingest {
    const char *tenant;
    /* A session token's session: every message must belong to it (events
     * without a session_id get it). NULL when a tenant key authenticated. */
    const char *scope_session;
    int64_t received_us;
    /* The client's clock when it sent the request (X-Sent-At, or a batch's
     * sent_at, which event.c applies over this one). */
    int has_sent_at;
    int64_t sent_at_us;
    size_t max_event_bytes;
    size_t max_batch_events;
};

/* A client's timestamp after clock correction. */
struct vg_ctime {
    int64_t us;       /* what goes into the envelope */
    int64_t client_us; /* what the client sent, parsed */
    int adjusted;     /* us != client_us: the skew was applied or the time replaced */
    int future;       /* more than a day ahead of receipt: replaced by the receipt time */
};

/*
 * Parses an RFC 3339 time from the client and corrects it by the request's
 * skew (received_at - sent_at). With future_rule, a result more than a day
 * ahead of receipt becomes the receipt time, flagged. Returns 0, VG_EPARSE
 * for a malformed time, or VG_EINVAL when the correction lands before 1970.
 */
int vg_ctime_parse(const struct vg_ingest *in, const char *s, int future_rule,
                   struct vg_ctime *out) VG_MUSTCHECK;

/* 1 if s (n bytes) is 1..max characters of [a-z0-9_.:-], with A-Z too if upper. */
int vg_check_name(const char *s, size_t n, size_t max, int upper);

/* 1 if s (n bytes) is 1..max bytes without control characters. */
int vg_check_text(const char *s, size_t n, size_t max);

/* 1 if v nests objects and arrays deeper than limit levels (v is level 1). */
int vg_json_too_deep(const json_t *v, int limit);

/* Compact serialized size of v in bytes (what max_event_bytes bounds). */
size_t vg_json_size(const json_t *v);

/* A new envelope {"v":1,"tenant","event_id","type"}; the caller adds the rest. */
json_t *vg_envelope_new(const struct vg_ingest *in, const char *event_id, const char *type);

/* Sets field to the RFC 3339 UTC form of epoch microseconds. */
void vg_envelope_time(json_t *env, const char *field, int64_t us);

/* Sets occurred_at, received_at and, when the client's time was changed,
 * client_occurred_at, clock_skew_ms and clock_flag. t NULL: receipt time. */
void vg_envelope_times(json_t *env, const struct vg_ingest *in, const struct vg_ctime *t,
                       const char *client_text);

/* Parses a body that must be a JSON object, or empty (then *out is an empty
 * object). Returns 0 or fills rej (400) and returns -1. */
int vg_json_body_object(const char *body, size_t len, json_t **out, struct vg_reject *rej);

#endif
