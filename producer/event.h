/*
 * event.h - the body of POST /v1/events: parse, validate, enrich.
 *
 * A body is one event object, a JSON array of them, a wrapper
 * {"sent_at", "events": [...]}, or NDJSON (one object per line). Each event
 * is checked against DESIGN.md section 4 (required type, the character sets
 * and lengths of the ids, RFC 3339 times, no unknown fields, depth and size
 * limits), then enriched (event_id when absent, received_at, the clock
 * correction, the tenant) into an envelope on vigil.events with the key
 * tenant/session_id, else tenant/visitor_id, else tenant/event_id.
 *
 * The batch is all-or-nothing: on the first bad item nothing is left in the
 * outbox and the reject names the item's index and field.
 */
#ifndef VG_EVENT_H
#define VG_EVENT_H

#include "ingest.h"

enum vg_body_format {
    VG_BODY_JSON,  /* application/json, text/plain (navigator.sendBeacon) */
    VG_BODY_NDJSON /* application/x-ndjson */
};

/*
 * Parses body (len bytes, not necessarily NUL-terminated) into out, which
 * must be empty. Returns the number of events (at least 1), or -1 with rej
 * filled (400, 401 for an event outside the token's session, 413 for an
 * event over in->max_event_bytes) and out emptied.
 */
long vg_event_parse(const struct vg_ingest *in, enum vg_body_format fmt, const char *body,
                    size_t len, struct vg_outbox *out, struct vg_reject *rej);

#endif
