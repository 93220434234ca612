/*
 * envelope.h - the wire format of vigil.events and vigil.heartbeats, owned here.
 *
 * Every Kafka value on those topics is a versioned JSON envelope (DESIGN.md
 * section 5; the JSON Schemas are schemas/json/event.json and signal.json):
 *
 *   {"v":1, "tenant", "event_id", "type", "session_id"?, "visitor_id"?,
 *    "user_id"?, "occurred_at", "received_at", "client_occurred_at"?,
 *    "clock_skew_ms"?, "clock_flag"?, "url"?, "properties"?, "context"?, "segment"?,
 *    "kind"?, "status"?, "started_at"?, "expires_at"?, "reason"?, "attributes"?}
 *
 * written in that order, compact, times in RFC 3339 UTC with microseconds.
 * Signals (vigil.heartbeats) are of type session.start, session.heartbeat,
 * session.activate or session.end and always name their session; the last
 * six fields belong to them. The key is "<tenant>/<id>" with the id of
 * vg_envelope_key_id(); the headers are VG_HEADER_TENANT and VG_HEADER_SCHEMA.
 *
 * The producer encodes (vg_envelope_encode), the worker decodes
 * (vg_envelope_decode). The field rules below state DESIGN.md section 4
 * once, for them and for the configuration and vigilctl. Nothing here does
 * I/O.
 */
#ifndef VG_ENVELOPE_H
#define VG_ENVELOPE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "jscan.h"
#include "util.h"

#define VG_ENVELOPE_VERSION 1

/* Field rules of DESIGN.md section 4. */
#define VG_TENANT_MAX 64      /* tenant ids: [a-z0-9_-]{1,64} (vg_check_tenant) */
#define VG_EVENT_ID_LEN 36    /* a UUID, 8-4-4-4-12 hex digits */
#define VG_TYPE_MAX 64        /* type, kind: [a-z0-9_.:-]{1,64} */
#define VG_ID_MAX 128         /* session_id ([A-Za-z0-9_.:-]), visitor_id, user_id */
#define VG_URL_MAX 2048       /* url, and the target of a tracking link */
#define VG_REASON_MAX 256     /* the reason of a session.end */
#define VG_TIME_TEXT_MAX 64   /* an RFC 3339 time as text */
#define VG_JSON_MAX_DEPTH 32  /* nesting of one event or session body, itself level 1 */
#define VG_ENVELOPE_MAX_BYTES (1 << 20) /* the largest value a reader accepts */

/* The signals, and the prefix every signal type has. */
#define VG_SIGNAL_PREFIX "session."
#define VG_SIGNAL_START "session.start"
#define VG_SIGNAL_HEARTBEAT "session.heartbeat"
#define VG_SIGNAL_ACTIVATE "session.activate"
#define VG_SIGNAL_END "session.end"

/* Kafka headers. The producer's messages carry the first two; a dead
 * letter carries the next seven (worker/out.c); vigilctl dlq replay adds
 * the last. */
#define VG_HEADER_TENANT "vigil-tenant"
#define VG_HEADER_SCHEMA "vigil-schema"         /* VG_SCHEMA_EVENT or VG_SCHEMA_SIGNAL */
#define VG_HEADER_ERROR "vigil-error"           /* why the message was refused */
#define VG_HEADER_STAGE "vigil-stage"           /* decode, validate, database, command */
#define VG_HEADER_TOPIC "vigil-topic"           /* where it was read */
#define VG_HEADER_PARTITION "vigil-partition"
#define VG_HEADER_OFFSET "vigil-offset"
#define VG_HEADER_WORKER "vigil-worker"         /* worker.id of the refusing worker */
#define VG_HEADER_REFUSED_AT "vigil-refused-at" /* RFC 3339 */
#define VG_HEADER_REPLAYED_FROM "vigil-replayed-from" /* "topic/partition@offset" */

#define VG_SCHEMA_EVENT "event/1"
#define VG_SCHEMA_SIGNAL "signal/1"

/* The topics that carry envelopes, and so the two kinds of envelope. */
enum vg_topic { VG_TOPIC_EVENTS, VG_TOPIC_HEARTBEATS, VG_TOPIC_COUNT };

#define VG_NO_TIME INT64_MIN

/*
 * One envelope, typed: an event or a session signal. Absent strings and
 * objects are NULL, absent times VG_NO_TIME. What vg_envelope_decode() fills
 * points into the parsed JSON it returns; what vg_envelope_encode() reads is
 * borrowed.
 */
struct vg_event {
    const char *tenant, *event_id, *type;
    const char *session_id, *visitor_id, *user_id, *url;
    int64_t occurred_us, received_us;
    json_t *properties;
    /* The text of properties as the client sent it, when known: the
     * encoder writes these bytes (blanks between tokens left out, see
     * envelope.c) in place of the tree, so that 1.50 stays 1.50 and
     * "\u00e9" stays "\u00e9". A JSON object, whole, checked already.
     * The decoder points it at the envelope's own text. */
    const char *properties_text;
    size_t properties_len;
    json_t *context; /* the client's context (Segment's names), with what the producer adds */
    json_t *segment; /* a Segment call's fields without a field here (docs/segment.md) */
    /* The client's clock, when the producer corrected it (DESIGN.md section 4). */
    const char *client_occurred_at; /* the client's time as sent */
    int has_clock_skew;
    int64_t clock_skew_ms; /* received_at - sent_at */
    int clock_future;      /* the client's time was a day ahead and was replaced */
    /* Signals only. */
    const char *kind, *status, *reason;
    int64_t started_us, expires_us;
    json_t *attributes;
};

/* Empties ev: every field absent. */
void vg_envelope_init(struct vg_event *ev);

/* The topic's vigil-schema header value. */
const char *vg_envelope_schema(enum vg_topic topic);

/* 1 if s (n bytes) is 1..max characters of [a-z0-9_.:-], with A-Z too if upper. */
int vg_check_name(const char *s, size_t n, size_t max, int upper);

/* 1 if s (n bytes) is 1..max bytes without control characters. */
int vg_check_text(const char *s, size_t n, size_t max);

/* 1 if s (n bytes) is a tenant id: [a-z0-9_-]{1,64}. */
int vg_check_tenant(const char *s, size_t n);

/* 1 if s is a session status a client may set: draft or active. */
int vg_check_status(const char *s);

/* The id a message is keyed by: its session, else its visitor, else itself. */
const char *vg_envelope_key_id(const struct vg_event *ev);

/* Appends the key "<tenant>/<id>" to out. */
void vg_envelope_key(struct vg_buf *out, const char *tenant, const char *id);

/* Points ev->properties_text at the value of member "properties" of the
 * object at obj in text, when ev has properties and the scanner finds them
 * there (jscan.h); else leaves it, and the tree is written. text must
 * outlive ev's use of it. */
void vg_envelope_properties_from(struct vg_event *ev, const char *text, struct vg_span obj);

/* Appends ev as compact JSON in the order above. ev must be whole: tenant,
 * event_id, type and both times set. properties is written from
 * properties_text when that is set, else from the tree. */
void vg_envelope_encode(const struct vg_event *ev, struct vg_buf *out);

/*
 * Appends v as compact JSON, members in their order, like jansson's
 * json_dumps(JSON_COMPACT | JSON_ENCODE_ANY) but for real numbers, which are
 * written as the shortest text that reads back as the same double (0.1, not
 * jansson's 0.10000000000000001). Properties do not go through here (their
 * text is kept as sent); context, segment and attributes do.
 */
void vg_json_dump(const json_t *v, struct vg_buf *out);

/*
 * Parses and checks data (len bytes, as read from topic) as thoroughly as the
 * database would, so that a message the database would refuse is refused
 * here, alone, with a reason. On success returns 0, *body holds the parsed
 * JSON (the caller's, freed with json_decref) and *ev points into it, but
 * for properties_text, which points into data (so data must outlive ev's
 * use of it). On failure *body is NULL, errstr says why, and the result is
 * VG_EPARSE when data is no envelope at all (empty, too large, not a JSON
 * object) or VG_EINVAL when a field breaks a rule.
 */
int vg_envelope_decode(const void *data, size_t len, enum vg_topic topic, struct vg_event *ev,
                       json_t **body, char *errstr, size_t errstr_size) VG_MUSTCHECK;

#endif
