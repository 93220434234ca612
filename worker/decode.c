#include "decode.h"

#include <stdio.h>
#include <string.h>

#include "command.h"
#include "crypto.h"
#include "err.h"
#include "util.h"

/* Field rules shared with the producer (DESIGN.md section 4). */
static int charset_ok(const char *s, size_t max, int upper)
{
    size_t n = 0;
    for (; *s; s++, n++) {
        char c = *s;
        int ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
                 c == ':' || c == '-' || (upper && c >= 'A' && c <= 'Z');
        if (!ok)
            return 0;
    }
    return n >= 1 && n <= max;
}

static int refuse(struct vg_msg *m, const char *fmt, const char *field)
{
    vg_msg_refuse(m, "validate", fmt, field);
    return VG_EPARSE;
}

static int get_str(struct vg_msg *m, const char *name, int required, size_t max,
                   const char **out)
{
    json_t *v = json_object_get(m->body, name);
    *out = NULL;
    if (!v || json_is_null(v))
        return required ? refuse(m, "missing field %s", name) : 0;
    if (!json_is_string(v))
        return refuse(m, "field %s must be a string", name);
    if (json_string_length(v) > max)
        return refuse(m, "field %s is too long", name);
    *out = json_string_value(v);
    if (strlen(*out) != json_string_length(v))
        return refuse(m, "field %s contains a NUL character", name);
    return 0;
}

static int get_time(struct vg_msg *m, const char *name, int required, int64_t *out)
{
    const char *s;
    *out = VG_NO_TIME;
    if (get_str(m, name, required, 64, &s))
        return VG_EPARSE;
    if (s && vg_time_parse(s, out))
        return refuse(m, "field %s is not an RFC 3339 time", name);
    return 0;
}

static int get_object(struct vg_msg *m, const char *name, json_t **out)
{
    json_t *v = json_object_get(m->body, name);
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_object(v))
        return refuse(m, "field %s must be an object", name);
    *out = v;
    return 0;
}

int vg_decode_event(struct vg_msg *m, struct vg_event *ev)
{
    const rd_kafka_message_t *rkm = m->rkm;
    memset(ev, 0, sizeof(*ev));
    if (!rkm->payload || rkm->len == 0) {
        vg_msg_refuse(m, "decode", "empty message");
        return VG_EPARSE;
    }
    if (rkm->len > VG_DECODE_MAX_BYTES) {
        vg_msg_refuse(m, "decode", "message of %zu bytes exceeds %d", rkm->len,
                      VG_DECODE_MAX_BYTES);
        return VG_EPARSE;
    }
    json_error_t jerr;
    /* NUL escapes are let through to be judged where they land: the ids above
     * refuse them, and PostgreSQL's jsonb refuses them inside properties. */
    m->body = json_loadb(rkm->payload, rkm->len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
    if (!m->body) {
        vg_msg_refuse(m, "decode", "not JSON: %s at byte %d", jerr.text, jerr.position);
        return VG_EPARSE;
    }
    if (!json_is_object(m->body)) {
        vg_msg_refuse(m, "decode", "envelope is not a JSON object");
        return VG_EPARSE;
    }
    json_t *v = json_object_get(m->body, "v");
    if (!json_is_integer(v) || json_integer_value(v) != 1)
        return refuse(m, "unsupported envelope version (field %s must be 1)", "v");

    if (get_str(m, "tenant", 1, 64, &ev->tenant) || get_str(m, "event_id", 1, 36, &ev->event_id) ||
        get_str(m, "type", 1, 64, &ev->type) ||
        get_str(m, "session_id", 0, 128, &ev->session_id) ||
        get_str(m, "visitor_id", 0, 128, &ev->visitor_id) ||
        get_str(m, "user_id", 0, 128, &ev->user_id) || get_str(m, "url", 0, 2048, &ev->url) ||
        get_time(m, "occurred_at", 1, &ev->occurred_us) ||
        get_time(m, "received_at", 1, &ev->received_us) ||
        get_object(m, "properties", &ev->properties))
        return VG_EPARSE;
    if (!charset_ok(ev->tenant, 64, 0))
        return refuse(m, "field %s has characters outside [a-z0-9_.:-]", "tenant");
    if (!vg_uuid_valid(ev->event_id))
        return refuse(m, "field %s is not a UUID", "event_id");
    if (!charset_ok(ev->type, 64, 0))
        return refuse(m, "field %s must match [a-z0-9_.:-]{1,64}", "type");
    if (ev->session_id && !charset_ok(ev->session_id, 128, 1))
        return refuse(m, "field %s must match [A-Za-z0-9_.:-]{1,128}", "session_id");

    ev->started_us = ev->expires_us = VG_NO_TIME;
    if (m->kind == VG_MSG_SIGNAL) {
        if (strncmp(ev->type, "session.", 8) != 0)
            return refuse(m, "field %s of a session signal must start with session.", "type");
        if (!ev->session_id)
            return refuse(m, "missing field %s", "session_id");
        if (get_str(m, "kind", 0, 64, &ev->kind) || get_str(m, "status", 0, 16, &ev->status) ||
            get_str(m, "reason", 0, 256, &ev->reason) ||
            get_time(m, "started_at", 0, &ev->started_us) ||
            get_time(m, "expires_at", 0, &ev->expires_us) ||
            get_object(m, "attributes", &ev->attributes))
            return VG_EPARSE;
        if (ev->status && strcmp(ev->status, "draft") && strcmp(ev->status, "active"))
            return refuse(m, "field %s must be draft or active", "status");
        if (ev->kind && !charset_ok(ev->kind, 64, 0))
            return refuse(m, "field %s must match [a-z0-9_.:-]{1,64}", "kind");
    }
    return 0;
}

int vg_decode_command(struct vg_msg *m, const char *secret)
{
    const rd_kafka_message_t *rkm = m->rkm;
    struct vg_command c = {0};
    char err[256];
    int rc;
    if (rkm->err) {
        snprintf(err, sizeof(err), "%s", rd_kafka_message_errstr(rkm));
        rc = VG_EPARSE;
    } else {
        rc = vg_command_parse(rkm->payload, rkm->len, secret, &c, err, sizeof(err));
    }
    if (rc) {
        vg_msg_refuse(m, "command", "%s", err);
        return rc;
    }
    m->body = c.msg; /* the batch owns it from here; the rest points into it */
    return 0;
}
