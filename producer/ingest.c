#include "ingest.h"

#include "enrich.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int vg_reject_set(struct vg_reject *r, int status, const char *code, long index,
                  const char *field, const char *fmt, ...)
{
    va_list ap;
    r->status = status;
    r->code = code;
    r->index = index;
    r->retry_after_s = 0;
    snprintf(r->field, sizeof(r->field), "%s", field ? field : "");
    va_start(ap, fmt);
    vsnprintf(r->message, sizeof(r->message), fmt, ap);
    va_end(ap);
    return -1;
}

void vg_reject_json(const struct vg_reject *r, int top_level, struct vg_buf *out)
{
    vg_buf_putc(out, '{');
    if (top_level) {
        vg_buf_puts(out, "\"code\":");
        vg_buf_json_str(out, r->code, strlen(r->code));
        vg_buf_puts(out, ",\"message\":");
        vg_buf_json_str(out, r->message, strlen(r->message));
        vg_buf_putc(out, ',');
    }
    vg_buf_puts(out, "\"error\":{\"code\":");
    vg_buf_json_str(out, r->code, strlen(r->code));
    vg_buf_puts(out, ",\"message\":");
    vg_buf_json_str(out, r->message, strlen(r->message));
    if (r->index >= 0)
        vg_buf_printf(out, ",\"index\":%ld", r->index);
    if (r->field[0]) {
        vg_buf_puts(out, ",\"field\":");
        vg_buf_json_str(out, r->field, strlen(r->field));
    }
    vg_buf_puts(out, "}}");
}

void vg_outbox_reset(struct vg_outbox *o)
{
    vg_buf_reset(&o->data);
    o->n = 0;
}

void vg_outbox_free(struct vg_outbox *o)
{
    vg_buf_free(&o->data);
    free(o->msgs);
    memset(o, 0, sizeof(*o));
}

void vg_outbox_add(struct vg_outbox *o, enum vg_topic topic, const struct vg_event *ev)
{
    if (o->n == o->cap) {
        o->cap = o->cap ? o->cap * 2 : 16;
        o->msgs = vg_xrealloc(o->msgs, o->cap * sizeof(*o->msgs));
    }
    struct vg_outmsg *m = &o->msgs[o->n++];
    m->topic = topic;
    snprintf(m->event_id, sizeof(m->event_id), "%s", ev->event_id);
    /* Key and value are NUL-terminated inside the buffer, for logs and tests. */
    m->key_off = o->data.len;
    vg_envelope_key(&o->data, ev->tenant, vg_envelope_key_id(ev));
    m->key_len = o->data.len - m->key_off;
    vg_buf_putc(&o->data, '\0');
    m->val_off = o->data.len;
    vg_envelope_encode(ev, &o->data);
    m->val_len = o->data.len - m->val_off;
    vg_buf_putc(&o->data, '\0');
}

int vg_ctime_parse(const struct vg_ingest *in, const char *s, int future_rule,
                   struct vg_ctime *out)
{
    int64_t us;
    if (vg_time_parse(s, &us))
        return VG_EPARSE;
    out->client_us = us;
    out->adjusted = 0;
    out->future = 0;
    if (in->has_sent_at) {
        /* Both ends are within years 1970..9999, so no overflow here. */
        us += in->received_us - in->sent_at_us;
        if (us < 0)
            return VG_EINVAL;
        /* A clock far behind moves a late time past year 9999, which no
         * envelope field holds: clamp, as the future rule clamps below. */
        if (us > VG_TIME_MAX_US)
            us = VG_TIME_MAX_US;
    }
    if (future_rule && us > in->received_us + VG_FUTURE_LIMIT_US) {
        us = in->received_us;
        out->future = 1;
    }
    out->us = us;
    out->adjusted = us != out->client_us;
    return 0;
}

int vg_json_too_deep(const json_t *v, int limit)
{
    if (!json_is_object(v) && !json_is_array(v))
        return 0; /* scalars do not nest */
    if (limit < 1)
        return 1;
    if (json_is_object(v)) {
        const char *k;
        json_t *m;
        json_object_foreach((json_t *)v, k, m)
        {
            if (vg_json_too_deep(m, limit - 1))
                return 1;
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *m;
        json_array_foreach(v, i, m)
        {
            if (vg_json_too_deep(m, limit - 1))
                return 1;
        }
    }
    return 0;
}

static int count_cb(const char *buf, size_t size, void *data)
{
    (void)buf;
    *(size_t *)data += size;
    return 0;
}

size_t vg_json_size(const json_t *v)
{
    size_t n = 0;
    json_dump_callback(v, count_cb, &n, JSON_COMPACT | JSON_ENCODE_ANY);
    return n;
}

size_t vg_ingest_item_size(const json_t *item, const char *body, const struct vg_span *span)
{
    size_t size = vg_json_size(item);
    return span ? VG_MAX(size, vg_jscan_compact_len(body, *span)) : size;
}

struct vg_span *vg_ingest_spans(const char *body, struct vg_span arr, size_t count)
{
    size_t n;
    if (count == 0)
        return NULL;
    struct vg_span *spans = vg_xmalloc(count * sizeof(*spans));
    if (vg_jscan_elements(body, arr, spans, count, &n) || n != count) {
        free(spans);
        return NULL;
    }
    return spans;
}

void vg_ingest_event(struct vg_event *ev, const struct vg_ingest *in, const char *event_id,
                     const char *type)
{
    vg_envelope_init(ev);
    ev->tenant = in->tenant;
    ev->event_id = event_id;
    ev->type = type;
}

void vg_ingest_times(struct vg_event *ev, const struct vg_ingest *in, const struct vg_ctime *t,
                     const char *client_text)
{
    ev->occurred_us = t ? t->us : in->received_us;
    ev->received_us = in->received_us;
    if (t && t->adjusted && client_text)
        ev->client_occurred_at = client_text;
    if (in->has_sent_at) {
        ev->has_clock_skew = 1;
        ev->clock_skew_ms = (in->received_us - in->sent_at_us) / 1000;
    }
    ev->clock_future = t && t->future;
}

json_t *vg_ingest_context(const struct vg_ingest *in, json_t *client)
{
    int add_ip = in->client_ip && !(client && json_object_get(client, "ip"));
    int add_ua = in->user_agent && !(client && json_object_get(client, "userAgent"));
    json_t *ip = client ? json_object_get(client, "ip") : NULL;
    char cut[VG_ADDR_MAX];
    int cut_ip = in->truncate_ip && json_is_string(ip) &&
                 vg_enrich_truncate(json_string_value(ip), cut) == 0 &&
                 strcmp(cut, json_string_value(ip));
    if (!add_ip && !add_ua && !cut_ip)
        return client ? json_incref(client) : NULL;
    json_t *ctx = client ? json_copy(client) : json_object();
    if (add_ip)
        json_object_set_new(ctx, "ip", json_string(in->client_ip));
    if (cut_ip)
        json_object_set_new(ctx, "ip", json_string(cut));
    json_t *ua = add_ua ? json_string(in->user_agent) : NULL;
    if (ua) /* NULL when the header is no UTF-8 text: left out */
        json_object_set_new(ctx, "userAgent", ua);
    return ctx;
}

long vg_ingest_each(json_t *items, size_t max, const char *field, const char *noun,
                    vg_ingest_item_fn *one, void *ctx, struct vg_outbox *out,
                    struct vg_reject *rej)
{
    size_t count = json_array_size(items);
    if (count == 0)
        return vg_reject_set(rej, 400, "empty_batch", -1, field, "the request carries no %s",
                             noun);
    if (count > max)
        return vg_reject_set(rej, 400, "too_many_events", -1, field,
                             "%zu %ss exceed the limit of %zu per request", count, noun, max);
    for (size_t i = 0; i < count; i++) {
        if (one(ctx, json_array_get(items, i), (long)i, out, rej)) {
            vg_outbox_reset(out);
            return -1;
        }
    }
    return (long)count;
}

int vg_json_body_object(const char *body, size_t len, json_t **out, struct vg_reject *rej)
{
    size_t i = 0;
    while (i < len && (body[i] == ' ' || body[i] == '\t' || body[i] == '\r' || body[i] == '\n'))
        i++;
    if (i == len) {
        *out = json_object();
        return 0;
    }
    json_error_t jerr;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return vg_reject_set(rej, 400, "invalid_json", -1, NULL, "body is not JSON: %s at byte %d",
                             jerr.text, jerr.position);
    if (!json_is_object(root)) {
        json_decref(root);
        return vg_reject_set(rej, 400, "invalid_json", -1, NULL, "body must be a JSON object");
    }
    if (vg_json_too_deep(root, VG_JSON_MAX_DEPTH)) {
        json_decref(root);
        return vg_reject_set(rej, 400, "too_deep", -1, NULL, "body nests deeper than %d levels",
                             VG_JSON_MAX_DEPTH);
    }
    *out = root;
    return 0;
}
