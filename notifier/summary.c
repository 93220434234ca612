#include "summary.h"

#include <stdio.h>
#include <string.h>

#include "envelope.h"
#include "util.h"

static const char *str(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) && json_string_length(v) > 0 ? json_string_value(v) : NULL;
}

static int64_t num(json_t *o, const char *key, int64_t absent)
{
    json_t *v = json_object_get(o, key);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : absent;
}

int vg_summary_parse(const char *text, size_t len, struct vg_summary *s, char *errstr,
                     size_t errstr_size)
{
    memset(s, 0, sizeof(*s));
    json_error_t je;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(root)) {
        snprintf(errstr, errstr_size, "not a JSON object: %s", root ? "" : je.text);
        json_decref(root);
        return VG_EPARSE;
    }
    s->root = root;
    s->summary_id = str(root, "summary_id");
    s->tenant = str(root, "tenant");
    s->session_id = str(root, "session_id");
    s->status = str(root, "status");
    const char *missing = num(root, "v", 0) != 1 ? "v (1)"
                          : !s->summary_id       ? "summary_id"
                          : !s->tenant           ? "tenant"
                          : !s->session_id       ? "session_id"
                          : !s->status           ? "status"
                                                 : NULL;
    if (missing) {
        snprintf(errstr, errstr_size, "no %s", missing);
        vg_summary_free(s);
        return VG_EPARSE;
    }
    s->kind = str(root, "kind");
    s->end_reason = str(root, "end_reason");
    s->ended_at = str(root, "ended_at");
    if (!s->ended_at)
        s->ended_at = str(root, "last_activity_at");
    if (!s->ended_at || vg_time_parse(s->ended_at, &s->ended_us))
        s->ended_us = VG_NO_TIME;
    s->duration_ms = num(root, "duration_ms", -1);
    s->event_count = num(root, "event_count", 0);
    s->heartbeat_count = num(root, "heartbeat_count", 0);
    s->counts = json_object_get(root, "counts");
    if (!json_is_object(s->counts)) {
        s->counts = json_object();
        json_object_set_new(root, "counts", s->counts);
    }
    s->last_events = json_object_get(root, "last_events");
    if (!json_is_array(s->last_events)) {
        s->last_events = json_array();
        json_object_set_new(root, "last_events", s->last_events);
    }
    return 0;
}

void vg_summary_free(struct vg_summary *s)
{
    json_decref(s->root);
    memset(s, 0, sizeof(*s));
}
