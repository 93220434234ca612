#include "envelope.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "jscan.h"

void vg_envelope_init(struct vg_event *ev)
{
    memset(ev, 0, sizeof(*ev));
    ev->occurred_us = ev->received_us = VG_NO_TIME;
    ev->started_us = ev->expires_us = VG_NO_TIME;
}

const char *vg_envelope_schema(enum vg_topic topic)
{
    return topic == VG_TOPIC_HEARTBEATS ? VG_SCHEMA_SIGNAL : VG_SCHEMA_EVENT;
}

/* -- field rules ------------------------------------------------------- */

int vg_check_name(const char *s, size_t n, size_t max, int upper)
{
    if (n < 1 || n > max)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
              c == ':' || c == '-' || (upper && c >= 'A' && c <= 'Z')))
            return 0;
    }
    return 1;
}

int vg_check_text(const char *s, size_t n, size_t max)
{
    if (n < 1 || n > max)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return 0;
    return 1;
}

int vg_check_tenant(const char *s, size_t n)
{
    /* Tenants are configured ids: the name rule without '.' and ':'. */
    return vg_check_name(s, n, VG_TENANT_MAX, 0) && !memchr(s, '.', n) && !memchr(s, ':', n);
}

int vg_check_status(const char *s)
{
    return !strcmp(s, "draft") || !strcmp(s, "active");
}

/* -- keys and encoding ------------------------------------------------- */

const char *vg_envelope_key_id(const struct vg_event *ev)
{
    return ev->session_id ? ev->session_id : ev->visitor_id ? ev->visitor_id : ev->event_id;
}

void vg_envelope_key(struct vg_buf *out, const char *tenant, const char *id)
{
    vg_buf_printf(out, "%s/%s", tenant, id);
}

/* -- the fields --------------------------------------------------------- */

enum ftype {
    F_STR,    /* const char *, at most max bytes, no NUL */
    F_TIME,   /* int64_t epoch microseconds as RFC 3339 UTC; VG_NO_TIME: absent */
    F_OBJECT, /* json_t *, an object */
    F_SKEW,   /* clock_skew_ms: an integer, present when has_clock_skew */
    F_FLAG,   /* clock_flag: "future", present when clock_future */
};

#define OFF(f) offsetof(struct vg_event, f)

/* Every field after "v", in the order written; the decoder reads signal
 * fields from vigil.heartbeats only. */
static const struct field {
    const char *name;
    enum ftype type;
    size_t off;
    size_t max;
    int required;
    int signal;
} fields[] = {
    {"tenant", F_STR, OFF(tenant), VG_TENANT_MAX, 1, 0},
    {"event_id", F_STR, OFF(event_id), VG_EVENT_ID_LEN, 1, 0},
    {"type", F_STR, OFF(type), VG_TYPE_MAX, 1, 0},
    {"session_id", F_STR, OFF(session_id), VG_ID_MAX, 0, 0},
    {"visitor_id", F_STR, OFF(visitor_id), VG_ID_MAX, 0, 0},
    {"user_id", F_STR, OFF(user_id), VG_ID_MAX, 0, 0},
    {"occurred_at", F_TIME, OFF(occurred_us), 0, 1, 0},
    {"received_at", F_TIME, OFF(received_us), 0, 1, 0},
    {"client_occurred_at", F_STR, OFF(client_occurred_at), VG_TIME_TEXT_MAX, 0, 0},
    {"clock_skew_ms", F_SKEW, OFF(clock_skew_ms), 0, 0, 0},
    {"clock_flag", F_FLAG, OFF(clock_future), 0, 0, 0},
    {"url", F_STR, OFF(url), VG_URL_MAX, 0, 0},
    {"properties", F_OBJECT, OFF(properties), 0, 0, 0},
    {"context", F_OBJECT, OFF(context), 0, 0, 0},
    {"segment", F_OBJECT, OFF(segment), 0, 0, 0},
    {"kind", F_STR, OFF(kind), VG_TYPE_MAX, 0, 1},
    {"status", F_STR, OFF(status), VG_TYPE_MAX, 0, 1},
    {"started_at", F_TIME, OFF(started_us), 0, 0, 1},
    {"expires_at", F_TIME, OFF(expires_us), 0, 0, 1},
    {"reason", F_STR, OFF(reason), VG_REASON_MAX, 0, 1},
    {"attributes", F_OBJECT, OFF(attributes), 0, 0, 1},
};

/* -- encoding ------------------------------------------------------------ */

/* The JSON value of field f of ev, or NULL when absent. */
static json_t *put(const struct vg_event *ev, const struct field *f)
{
    const void *at = (const char *)ev + f->off;
    char ts[VG_TS_LEN];
    switch (f->type) {
    case F_STR: {
        const char *v = *(const char *const *)at;
        return v ? json_string(v) : NULL;
    }
    case F_TIME: {
        int64_t us = *(const int64_t *)at;
        if (us == VG_NO_TIME)
            return NULL;
        vg_time_format(us, ts);
        return json_string(ts);
    }
    case F_OBJECT:
        return json_incref(*(json_t *const *)at);
    case F_SKEW:
        return ev->has_clock_skew ? json_integer(*(const int64_t *)at) : NULL;
    case F_FLAG:
        return *(const int *)at ? json_string("future") : NULL;
    }
    return NULL;
}

/* The shortest %g text of d that strtod reads back as d; a real stays a
 * real ("2.0", not "2"). */
static void dump_real(struct vg_buf *out, double d)
{
    char s[40];
    for (int p = 1; p <= 17; p++) {
        snprintf(s, sizeof(s) - 2, "%.*g", p, d);
        if (strtod(s, NULL) == d)
            break;
    }
    if (!strpbrk(s, ".eE"))
        strcat(s, ".0");
    vg_buf_puts(out, s);
}

void vg_json_dump(const json_t *v, struct vg_buf *out)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char *k;
        json_t *m;
        int first = 1;
        vg_buf_putc(out, '{');
        json_object_foreach((json_t *)v, k, m)
        {
            if (!first)
                vg_buf_putc(out, ',');
            first = 0;
            vg_buf_json_str(out, k, strlen(k));
            vg_buf_putc(out, ':');
            vg_json_dump(m, out);
        }
        vg_buf_putc(out, '}');
        return;
    }
    case JSON_ARRAY:
        vg_buf_putc(out, '[');
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (i)
                vg_buf_putc(out, ',');
            vg_json_dump(json_array_get(v, i), out);
        }
        vg_buf_putc(out, ']');
        return;
    case JSON_STRING:
        vg_buf_json_str(out, json_string_value(v), json_string_length(v));
        return;
    case JSON_INTEGER:
        vg_buf_printf(out, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return;
    case JSON_REAL:
        dump_real(out, json_real_value(v));
        return;
    case JSON_TRUE:
        vg_buf_puts(out, "true");
        return;
    case JSON_FALSE:
        vg_buf_puts(out, "false");
        return;
    case JSON_NULL:
        vg_buf_puts(out, "null");
        return;
    }
}

void vg_envelope_properties_from(struct vg_event *ev, const char *text, struct vg_span obj)
{
    struct vg_span props;
    if (ev->properties && vg_jscan_member(text, obj, "properties", &props) == 0) {
        ev->properties_text = text + props.off;
        ev->properties_len = props.len;
    }
}

void vg_envelope_encode(const struct vg_event *ev, struct vg_buf *out)
{
    vg_buf_printf(out, "{\"v\":%d", VG_ENVELOPE_VERSION);
    for (size_t i = 0; i < VG_ARRAY_LEN(fields); i++) {
        const struct field *f = &fields[i];
        /* The client's text of properties, spliced as sent. Blanks between
         * tokens are left out: the envelope is compact (its size is what
         * max_event_bytes and the reader's limit bound, and a client's
         * indentation is no data; jsonb drops it too), while every byte of
         * every string and number is kept. */
        if (f->off == OFF(properties) && ev->properties_text) {
            vg_buf_puts(out, ",\"properties\":");
            vg_jscan_compact(ev->properties_text, (struct vg_span){0, ev->properties_len}, out);
            continue;
        }
        json_t *v = put(ev, f);
        if (!v)
            continue;
        vg_buf_putc(out, ',');
        vg_buf_json_str(out, f->name, strlen(f->name));
        vg_buf_putc(out, ':');
        vg_json_dump(v, out);
        json_decref(v);
    }
    vg_buf_putc(out, '}');
}

/* -- decoding ------------------------------------------------------------ */

struct reader {
    json_t *body;
    char *errstr;
    size_t errstr_size;
};

static int refuse(struct reader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Says why a field breaks a rule; returns VG_EINVAL. */
static int refuse(struct reader *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->errstr, r->errstr_size, fmt, ap);
    va_end(ap);
    return VG_EINVAL;
}

/* Reads field f into ev; an absent or null field stays absent. */
static int get(struct reader *r, const struct field *f, struct vg_event *ev)
{
    void *at = (char *)ev + f->off;
    json_t *v = json_object_get(r->body, f->name);
    if (!v || json_is_null(v))
        return f->required ? refuse(r, "missing field %s", f->name) : 0;
    switch (f->type) {
    case F_STR:
    case F_TIME: {
        if (!json_is_string(v))
            return refuse(r, "field %s must be a string", f->name);
        const char *s = json_string_value(v);
        if (json_string_length(v) > (f->type == F_TIME ? VG_TIME_TEXT_MAX : f->max))
            return refuse(r, "field %s is too long", f->name);
        if (strlen(s) != json_string_length(v))
            return refuse(r, "field %s contains a NUL character", f->name);
        if (f->type == F_STR)
            *(const char **)at = s;
        else if (vg_time_parse(s, at))
            return refuse(r, "field %s is not an RFC 3339 time", f->name);
        return 0;
    }
    case F_OBJECT:
        if (!json_is_object(v))
            return refuse(r, "field %s must be an object", f->name);
        *(json_t **)at = v;
        return 0;
    case F_SKEW:
        if (!json_is_integer(v))
            return refuse(r, "field %s must be an integer", f->name);
        ev->has_clock_skew = 1;
        *(int64_t *)at = json_integer_value(v);
        return 0;
    case F_FLAG:
        if (!json_is_string(v) || strcmp(json_string_value(v), "future"))
            return refuse(r, "field %s must be \"future\"", f->name);
        *(int *)at = 1;
        return 0;
    }
    return 0;
}

/* The rules between and within fields, once every field is read. */
static int check_rules(struct reader *r, enum vg_topic topic, const struct vg_event *ev)
{
    if (!vg_check_tenant(ev->tenant, strlen(ev->tenant)))
        return refuse(r, "field %s must match [a-z0-9_-]{1,%d}", "tenant", VG_TENANT_MAX);
    if (!vg_uuid_valid(ev->event_id))
        return refuse(r, "field %s is not a UUID", "event_id");
    if (!vg_check_name(ev->type, strlen(ev->type), VG_TYPE_MAX, 0))
        return refuse(r, "field %s must match [a-z0-9_.:-]{1,%d}", "type", VG_TYPE_MAX);
    if (ev->session_id && !vg_check_name(ev->session_id, strlen(ev->session_id), VG_ID_MAX, 1))
        return refuse(r, "field %s must match [A-Za-z0-9_.:-]{1,%d}", "session_id", VG_ID_MAX);
    if (topic != VG_TOPIC_HEARTBEATS)
        return 0;
    if (strncmp(ev->type, VG_SIGNAL_PREFIX, strlen(VG_SIGNAL_PREFIX)) != 0)
        return refuse(r, "field %s of a session signal must start with %s", "type",
                      VG_SIGNAL_PREFIX);
    if (!ev->session_id)
        return refuse(r, "missing field %s", "session_id");
    if (ev->status && !vg_check_status(ev->status))
        return refuse(r, "field %s must be draft or active", "status");
    if (ev->kind && !vg_check_name(ev->kind, strlen(ev->kind), VG_TYPE_MAX, 0))
        return refuse(r, "field %s must match [a-z0-9_.:-]{1,%d}", "kind", VG_TYPE_MAX);
    return 0;
}

static int read_fields(struct reader *r, enum vg_topic topic, struct vg_event *ev)
{
    json_t *v = json_object_get(r->body, "v");
    if (!json_is_integer(v) || json_integer_value(v) != VG_ENVELOPE_VERSION)
        return refuse(r, "unsupported envelope version (field %s must be %d)", "v",
                      VG_ENVELOPE_VERSION);
    for (size_t i = 0; i < VG_ARRAY_LEN(fields); i++) {
        if (fields[i].signal && topic != VG_TOPIC_HEARTBEATS)
            continue;
        int rc = get(r, &fields[i], ev);
        if (rc)
            return rc;
    }
    return check_rules(r, topic, ev);
}

int vg_envelope_decode(const void *data, size_t len, enum vg_topic topic, struct vg_event *ev,
                       json_t **body, char *errstr, size_t errstr_size)
{
    vg_envelope_init(ev);
    *body = NULL;
    if (!data || len == 0) {
        snprintf(errstr, errstr_size, "empty message");
        return VG_EPARSE;
    }
    if (len > VG_ENVELOPE_MAX_BYTES) {
        snprintf(errstr, errstr_size, "message of %zu bytes exceeds %d", len,
                 VG_ENVELOPE_MAX_BYTES);
        return VG_EPARSE;
    }
    json_error_t jerr;
    /* NUL escapes are let through to be judged where they land: the ids
     * refuse them, and PostgreSQL's jsonb refuses them inside properties. */
    struct reader r = {.errstr = errstr, .errstr_size = errstr_size};
    r.body = json_loadb(data, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
    if (!r.body) {
        snprintf(errstr, errstr_size, "not JSON: %s at byte %d", jerr.text, jerr.position);
        return VG_EPARSE;
    }
    if (!json_is_object(r.body)) {
        json_decref(r.body);
        snprintf(errstr, errstr_size, "envelope is not a JSON object");
        return VG_EPARSE;
    }
    int rc = read_fields(&r, topic, ev);
    /* The worker lands properties from their text, not from the tree, so
     * that 1.50 reaches staging and the vault as 1.50. (The member scan
     * walks the whole envelope object; jansson refused anything after it.) */
    if (rc == 0)
        vg_envelope_properties_from(ev, data, (struct vg_span){0, len});
    if (rc) {
        json_decref(r.body);
        vg_envelope_init(ev);
        return rc;
    }
    *body = r.body;
    return 0;
}
