/*
 * segment.h - the bodies of Segment's HTTP Tracking API (DESIGN.md section
 * 13): POST /v1/batch and the six single calls, mapped onto envelopes of
 * vigil.events as docs/segment.md's table says.
 *
 *   messageId     -> event_id (a UUID as it is; anything else its UUIDv5
 *                    under VG_SEGMENT_NAMESPACE, so a retry keeps its id)
 *   anonymousId   -> visitor_id (alias: previousId)
 *   userId        -> user_id
 *   originalTimestamp, else timestamp -> occurred_at, corrected by the skew
 *                    received_at - sentAt (the call's, else the batch's)
 *   type, event   -> type: track the event name normalized, page
 *                    page.view, screen screen.view, identify, group, alias
 *   properties    -> properties; url from properties.url or context.page.url
 *   context       -> context (enriched, ingest.h)
 *   a session id  -> session_id: context.sessionId, properties.session_id,
 *                    or the session_id of an integrations entry (Amplitude)
 *   the rest      -> segment: every field without a field of its own
 *                    (event, name, traits, integrations, timestamps, ...);
 *                    a batch's own other fields (analytics-go's type and
 *                    messageId, analytics-java's sequence) in segment.batch
 *
 * As for native events the request is all-or-nothing: on the first bad
 * call nothing is left in the outbox and the reject names its index and
 * field. Nothing here does I/O.
 */
#ifndef VG_SEGMENT_H
#define VG_SEGMENT_H

#include "ingest.h"

#define VG_SEGMENT_BATCH_MAX (500 * 1024) /* bytes of a /v1/batch body (Segment's limit) */
#define VG_SEGMENT_CALL_MAX (32 * 1024)   /* bytes of one call (Segment's limit; or
                                           * producer.max_event_bytes if smaller) */

/* The namespace of the name-based event ids: uuid5(NAMESPACE_URL,
 * "urn:vigil:segment:messageId"). Fixed forever: changing it would make a
 * retried call a new event. */
#define VG_SEGMENT_NAMESPACE "24f419cd-97de-5563-b4be-54e8a3afc341"

/* What a route receives: a batch, or one call of a type. */
enum vg_segment_call {
    VG_SEGMENT_BATCH,
    VG_SEGMENT_TRACK,
    VG_SEGMENT_IDENTIFY,
    VG_SEGMENT_PAGE,
    VG_SEGMENT_SCREEN,
    VG_SEGMENT_GROUP,
    VG_SEGMENT_ALIAS,
};

/*
 * Parses body (len bytes, decompressed) of a call route into out, which
 * must be empty. Returns the number of calls, or -1 with rej filled (400 for
 * a bad call or body, 413 past the size limits) and out emptied.
 */
long vg_segment_parse(const struct vg_ingest *in, enum vg_segment_call call, const char *body,
                      size_t len, struct vg_outbox *out, struct vg_reject *rej);

/* The event id of messageId (n bytes) into out, as the table above says. */
void vg_segment_event_id(const char *message_id, size_t n, char out[VG_UUID_STR_LEN]);

/* The type of a track call named event: lower-cased, each run of characters
 * outside [a-z0-9_.:-] one '_', no '_' at either end, at most VG_TYPE_MAX
 * characters; "track" when nothing is left. out needs VG_TYPE_MAX + 1. */
void vg_segment_track_type(const char *event, char *out);

#endif
