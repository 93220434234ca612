#include "session.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define TOKEN_LIFETIME_MAX_S (366LL * 86400)

int vg_session_id_valid(const char *s)
{
    return vg_check_name(s, strlen(s), VG_ID_MAX, 1);
}

void vg_session_id_generate(int64_t now_us, const char *kind, char out[VG_SESSION_ID_SIZE])
{
    static const char b32[] = "abcdefghijklmnopqrstuvwxyz234567";
    unsigned char r[5];
    char rnd[9];
    vg_random_bytes(r, sizeof(r));
    uint64_t bits = 0;
    for (size_t i = 0; i < sizeof(r); i++)
        bits = bits << 8 | r[i];
    for (int i = 0; i < 8; i++)
        rnd[i] = b32[(bits >> (35 - 5 * i)) & 31];
    rnd[8] = '\0';
    time_t secs = (time_t)(now_us / 1000000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    snprintf(out, VG_SESSION_ID_SIZE, "%04d%02d%02d_%02d%02d%02d_%.64s_%s", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, kind, rnd);
}

/* Refuses any field of body not in allowed (a NULL-terminated list). */
static int only_fields(json_t *body, const char *const *allowed, struct vg_reject *rej)
{
    const char *k;
    json_t *v;
    json_object_foreach(body, k, v)
    {
        size_t i = 0;
        while (allowed[i] && strcmp(allowed[i], k))
            i++;
        if (!allowed[i])
            return vg_reject_set(rej, 400, "unknown_field", -1, k, "unknown field \"%.64s\"", k);
    }
    return 0;
}

/* An optional string field: 0 with *out NULL if absent or null, -1 if not a string. */
static int opt_string(json_t *body, const char *name, const char **out, struct vg_reject *rej)
{
    json_t *v = json_object_get(body, name);
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return vg_reject_set(rej, 400, "invalid_field", -1, name, "%s must be a string", name);
    *out = json_string_value(v);
    return 0;
}

/* An optional client time; *present says whether it was given. */
static int opt_time(const struct vg_ingest *in, json_t *body, const char *name, int future_rule,
                    struct vg_ctime *t, const char **text, struct vg_reject *rej)
{
    if (opt_string(body, name, text, rej))
        return -1;
    if (!*text)
        return 0;
    int rc = vg_ctime_parse(in, *text, future_rule, t);
    if (rc == VG_EPARSE)
        return vg_reject_set(rej, 400, "invalid_field", -1, name,
                             "%s must be an RFC 3339 time with an offset", name);
    if (rc)
        return vg_reject_set(rej, 400, "invalid_field", -1, name,
                             "%s falls before 1970 after correcting the clock skew", name);
    return 0;
}

static int check_session(const struct vg_ingest *in, const char *session_id,
                         struct vg_reject *rej)
{
    if (!vg_session_id_valid(session_id))
        return vg_reject_set(rej, 400, "invalid_field", -1, "session_id",
                             "session_id must match [A-Za-z0-9_.:-]{1,%d}", VG_ID_MAX);
    if (in->scope_session && strcmp(in->scope_session, session_id))
        return vg_reject_set(rej, 401, "session_scope", -1, "session_id",
                             "the session token does not cover session \"%s\"", session_id);
    return 0;
}

/* Starts env, a signal of type for session_id at t (NULL: at receipt), with
 * a new event id written to id. */
static void signal_new(struct vg_event *env, char id[VG_UUID_STR_LEN],
                       const struct vg_ingest *in, const char *type, const char *session_id,
                       const struct vg_ctime *t, const char *client_text)
{
    vg_uuid_v7(in->received_us / 1000, id);
    vg_ingest_event(env, in, id, type);
    env->session_id = session_id;
    vg_ingest_times(env, in, t, client_text);
}

static int body_object(const struct vg_ingest *in, const char *body, size_t len, json_t **out,
                       struct vg_reject *rej)
{
    if (len > in->max_event_bytes)
        return vg_reject_set(rej, 413, "event_too_large", -1, NULL,
                             "body of %zu bytes exceeds %zu", len, in->max_event_bytes);
    return vg_json_body_object(body, len, out, rej);
}

int vg_session_start(const struct vg_ingest *in, const char *body, size_t len,
                    int64_t token_ttl_s, struct vg_session_new *res, struct vg_outbox *out,
                    struct vg_reject *rej)
{
    static const char *const fields[] = {"session_id", "kind",       "status",
                                         "started_at", "expires_at", "attributes", NULL};
    json_t *b;
    if (body_object(in, body, len, &b, rej))
        return -1;
    int rc = -1;
    const char *session_id, *kind, *status, *started_text, *expires_text;
    struct vg_ctime started = {0}, expires = {0};
    if (only_fields(b, fields, rej) || opt_string(b, "session_id", &session_id, rej) ||
        opt_string(b, "kind", &kind, rej) || opt_string(b, "status", &status, rej) ||
        opt_time(in, b, "started_at", 0, &started, &started_text, rej) ||
        opt_time(in, b, "expires_at", 0, &expires, &expires_text, rej))
        goto out;
    if (kind && !vg_check_name(kind, strlen(kind), VG_TYPE_MAX, 0)) {
        vg_reject_set(rej, 400, "invalid_field", -1, "kind", "kind must match [a-z0-9_.:-]{1,%d}",
                      VG_TYPE_MAX);
        goto out;
    }
    if (!kind)
        kind = VG_SESSION_KIND_DEFAULT;
    if (status && !vg_check_status(status)) {
        vg_reject_set(rej, 400, "invalid_field", -1, "status", "status must be draft or active");
        goto out;
    }
    if (!status)
        status = "active";
    json_t *attrs = json_object_get(b, "attributes");
    if (attrs && json_is_null(attrs))
        attrs = NULL;
    if (attrs && !json_is_object(attrs)) {
        vg_reject_set(rej, 400, "invalid_field", -1, "attributes", "attributes must be an object");
        goto out;
    }
    if (session_id) {
        if (check_session(in, session_id, rej))
            goto out;
        snprintf(res->session_id, sizeof(res->session_id), "%s", session_id);
    } else {
        vg_session_id_generate(in->received_us, kind, res->session_id);
    }
    /* A draft has not started; an active session starts now unless told. */
    int has_started = started_text != NULL;
    if (!has_started && !strcmp(status, "active")) {
        started.us = started.client_us = in->received_us;
        started.adjusted = started.future = 0;
        has_started = 1;
    }
    if (expires_text && has_started && expires.us <= started.us) {
        vg_reject_set(rej, 400, "invalid_field", -1, "expires_at",
                      "expires_at must be later than started_at");
        goto out;
    }
    int64_t now_s = in->received_us / 1000000;
    if (expires_text) {
        int64_t exp_s = (expires.us + 999999) / 1000000;
        res->token_expires_s = VG_MIN(exp_s, now_s + TOKEN_LIFETIME_MAX_S);
    } else {
        res->token_expires_s = now_s + token_ttl_s;
    }

    /* The start happened at started_at; a time a day ahead is a clock error. */
    struct vg_ctime occurred = started;
    if (has_started && occurred.us > in->received_us + VG_FUTURE_LIMIT_US) {
        occurred.us = in->received_us;
        occurred.future = occurred.adjusted = 1;
    }
    char id[VG_UUID_STR_LEN];
    struct vg_event env;
    signal_new(&env, id, in, VG_SIGNAL_START, res->session_id, has_started ? &occurred : NULL,
               started_text);
    env.kind = kind;
    env.status = status;
    if (has_started)
        env.started_us = started.us;
    if (expires_text)
        env.expires_us = expires.us;
    env.attributes = attrs;
    vg_outbox_add(out, VG_TOPIC_HEARTBEATS, &env);
    rc = 0;
out:
    json_decref(b);
    return rc;
}

/* heartbeat and end: {"at"} and, for the end, {"reason"}. */
static int simple_signal(const struct vg_ingest *in, const char *type, const char *session_id,
                         const char *body, size_t len, int with_reason, struct vg_outbox *out,
                         struct vg_reject *rej)
{
    static const char *const hb_fields[] = {"at", NULL};
    static const char *const end_fields[] = {"at", "reason", NULL};
    if (check_session(in, session_id, rej))
        return -1;
    json_t *b;
    if (body_object(in, body, len, &b, rej))
        return -1;
    int rc = -1;
    const char *at_text, *reason = NULL;
    struct vg_ctime at;
    if (only_fields(b, with_reason ? end_fields : hb_fields, rej) ||
        opt_time(in, b, "at", 1, &at, &at_text, rej) ||
        (with_reason && opt_string(b, "reason", &reason, rej)))
        goto out;
    if (reason && !vg_check_text(reason, strlen(reason), VG_REASON_MAX)) {
        vg_reject_set(rej, 400, "invalid_field", -1, "reason",
                      "reason must be 1 to %d bytes without control characters", VG_REASON_MAX);
        goto out;
    }
    char id[VG_UUID_STR_LEN];
    struct vg_event env;
    signal_new(&env, id, in, type, session_id, at_text ? &at : NULL, at_text);
    env.reason = reason;
    vg_outbox_add(out, VG_TOPIC_HEARTBEATS, &env);
    rc = 0;
out:
    json_decref(b);
    return rc;
}

int vg_session_heartbeat(const struct vg_ingest *in, const char *session_id, const char *body,
                        size_t len, struct vg_outbox *out, struct vg_reject *rej)
{
    return simple_signal(in, VG_SIGNAL_HEARTBEAT, session_id, body, len, 0, out, rej);
}

int vg_session_end(const struct vg_ingest *in, const char *session_id, const char *body,
                  size_t len, struct vg_outbox *out, struct vg_reject *rej)
{
    return simple_signal(in, VG_SIGNAL_END, session_id, body, len, 1, out, rej);
}

void vg_session_activate(const struct vg_ingest *in, const char *session_id, const char *url,
                        struct vg_outbox *out)
{
    char id[VG_UUID_STR_LEN];
    struct vg_event env;
    signal_new(&env, id, in, VG_SIGNAL_ACTIVATE, session_id, NULL, NULL);
    env.url = url;
    vg_outbox_add(out, VG_TOPIC_HEARTBEATS, &env);
}
