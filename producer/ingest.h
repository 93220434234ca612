/*
 * ingest.h - what one request makes of its messages, and why it is refused.
 *
 * The parsers in event.c and session.c validate a request's body completely,
 * fill one envelope (common/envelope.h: the wire format and its field rules)
 * per message, enriched with the request's tenant, times and clock
 * correction, and append it to an outbox; kafka_out.c produces the outbox
 * only when the whole request is valid, so a batch is all-or-nothing. A
 * refused request fills a struct vg_reject: the HTTP status and the JSON
 * error body of DESIGN.md section 4.
 *
 * Nothing here does I/O or takes a lock: it is unit-tested on its own.
 */
#ifndef VG_INGEST_H
#define VG_INGEST_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto.h"
#include "envelope.h"
#include "err.h"
#include "jscan.h"
#include "util.h"

/* An occurred_at further than this ahead of receipt is replaced and flagged. */
#define VG_FUTURE_LIMIT_US (86400LL * 1000000LL)
/* 9999-12-31T23:59:59.999999Z: the latest time any envelope field holds. */
#define VG_TIME_MAX_US 253402300799999999LL

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

/* Appends {"error":{"code","message","index"?,"field"?}} to out; with
 * top_level (Segment's routes, whose SDKs read them there) "code" and
 * "message" stand beside "error" too. */
void vg_reject_json(const struct vg_reject *r, int top_level, struct vg_buf *out);

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

/* Appends ev to o for topic: encoded as the value, keyed "<tenant>/<key id>"
 * (common/envelope.h). ev is borrowed; its event_id is copied. */
void vg_outbox_add(struct vg_outbox *o, enum vg_topic topic, const struct vg_event *ev);

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
    /* Enrichment (enrich.h), as the tenant allows: what goes into an
     * event's context when the client did not set it; NULL: nothing. */
    const char *client_ip;  /* the client's address, truncated if the tenant asks */
    const char *user_agent; /* the User-Agent header */
    int truncate_ip;        /* truncate a context.ip the client set, too */
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

/* 1 if v nests objects and arrays deeper than limit levels (v is level 1). */
int vg_json_too_deep(const json_t *v, int limit);

/* Compact serialized size of v in bytes: with the event's text as sent
 * (blanks aside, jscan.h), what max_event_bytes bounds. */
size_t vg_json_size(const json_t *v);

/* The size max_event_bytes bounds for an item: the larger of jansson's
 * rendering of item and, when its span in body is known (span not NULL),
 * its text as sent, blanks aside: the envelope carries the client's text
 * of properties, which may be the longer (a long decimal, \u escapes). */
size_t vg_ingest_item_size(const json_t *item, const char *body, const struct vg_span *span);

/* The spans in body of the count elements of the array at arr (allocated;
 * the caller frees them), or NULL when the scanner does not find exactly
 * count there (what jansson took and the scanner refuses, jscan.h): the
 * caller then writes the items' trees, as before. */
struct vg_span *vg_ingest_spans(const char *body, struct vg_span arr, size_t count);

/* Empties ev, then sets the tenant of in, event_id and type; the caller
 * sets the rest. ev borrows every string. */
void vg_ingest_event(struct vg_event *ev, const struct vg_ingest *in, const char *event_id,
                     const char *type);

/* Sets ev's occurred_at, received_at and, when the client's time was
 * changed, client_occurred_at (client_text), clock_skew_ms and clock_flag.
 * t NULL: the receipt time. */
void vg_ingest_times(struct vg_event *ev, const struct vg_ingest *in, const struct vg_ctime *t,
                     const char *client_text);

/*
 * The context of an event: client (the client's "context" object, or NULL)
 * with the request's enrichment added where the client set nothing (keys
 * "ip" and "userAgent", Segment's names). Returns a new reference, or NULL
 * when there is neither. client is borrowed and left unchanged.
 */
json_t *vg_ingest_context(const struct vg_ingest *in, json_t *client);

/* Validates one item of a batch (index i) and appends its envelopes to
 * out; returns 0, or -1 with rej filled. */
typedef int vg_ingest_item_fn(void *ctx, json_t *item, long i, struct vg_outbox *out,
                              struct vg_reject *rej);

/*
 * A batch, all-or-nothing: refuses an empty items array or one of more than
 * max items (400, naming field, which may be NULL, and counting them as
 * noun: "event", "call"), then runs one(ctx, ...) on each item in order.
 * Returns the number of items, or -1 with rej filled and out emptied.
 */
long vg_ingest_each(json_t *items, size_t max, const char *field, const char *noun,
                    vg_ingest_item_fn *one, void *ctx, struct vg_outbox *out,
                    struct vg_reject *rej);

/* Parses a body that must be a JSON object, or empty (then *out is an empty
 * object). Returns 0 or fills rej (400) and returns -1. */
int vg_json_body_object(const char *body, size_t len, json_t **out, struct vg_reject *rej);

#endif
