/*
 * session.h - session signals: the bodies of POST /v1/sessions,
 * /v1/sessions/{id}/heartbeat and /end, and the click of a tracking link.
 *
 * Each request becomes one envelope on vigil.heartbeats, keyed
 * tenant/session_id, of type session.start, session.heartbeat,
 * session.activate or session.end (DESIGN.md sections 4 and 5). The signal's
 * own time is its occurred_at, corrected for the client's clock like an
 * event's. Like event.c: no I/O, and the outbox is left empty on a refusal.
 */
#ifndef VG_SESSION_H
#define VG_SESSION_H

#include "ingest.h"

/* "YYYYMMDD_HHMMSS_" + kind + "_" + 8 random characters, and the NUL. */
#define VG_SESSION_ID_SIZE (VG_ID_MAX + 1)
#define VG_SESSION_KIND_DEFAULT "session"

/* What POST /v1/sessions answers besides the token. */
struct vg_session_new {
    char session_id[VG_SESSION_ID_SIZE];
    int64_t token_expires_s; /* expires_at if given (at most a year ahead), else now + ttl */
};

/*
 * POST /v1/sessions: {"session_id"?, "kind"?, "status"?: "draft"|"active",
 * "started_at"?, "expires_at"?, "attributes"?}; an empty body takes every
 * default (a generated id, kind "session", status "active", started now).
 * token_ttl_s is the token lifetime when expires_at is absent. Returns 0 or
 * -1 with rej filled.
 */
int vg_session_start(const struct vg_ingest *in, const char *body, size_t len,
                    int64_t token_ttl_s, struct vg_session_new *res, struct vg_outbox *out,
                    struct vg_reject *rej);

/* POST /v1/sessions/{id}/heartbeat: optional {"at"}. Returns 0 or -1. */
int vg_session_heartbeat(const struct vg_ingest *in, const char *session_id, const char *body,
                        size_t len, struct vg_outbox *out, struct vg_reject *rej);

/* POST /v1/sessions/{id}/end: optional {"at", "reason"}. Returns 0 or -1. */
int vg_session_end(const struct vg_ingest *in, const char *session_id, const char *body,
                  size_t len, struct vg_outbox *out, struct vg_reject *rej);

/* GET /t/{token}?to=url: the click, at receipt, with the target as url. */
void vg_session_activate(const struct vg_ingest *in, const char *session_id, const char *url,
                        struct vg_outbox *out);

/* Writes a new readable session id for kind (which must pass vg_check_name)
 * at epoch microseconds now_us. */
void vg_session_id_generate(int64_t now_us, const char *kind, char out[VG_SESSION_ID_SIZE]);

/* 1 if s is a valid session id: [A-Za-z0-9_.:-]{1,128}. */
int vg_session_id_valid(const char *s);

#endif
