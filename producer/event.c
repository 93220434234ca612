#include "event.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "jscan.h"

/* The items of a request and where their text lies in the body. */
struct items {
    const struct vg_ingest *in;
    const char *body;
    struct vg_span *spans; /* one per item; NULL when the scanner refused the body */
};

static const char *const known_fields[] = {"type",        "event_id", "session_id", "visitor_id",
                                           "user_id",     "occurred_at", "url",      "properties",
                                           "context"};

static int known_field(const char *name)
{
    for (size_t i = 0; i < VG_ARRAY_LEN(known_fields); i++)
        if (!strcmp(name, known_fields[i]))
            return 1;
    return 0;
}

/*
 * The string value of an optional field: 0 and *out NULL when absent or null,
 * 0 and *out set when a string, -1 (rej filled) otherwise.
 */
static int opt_string(json_t *ev, const char *name, long index, const char **out, size_t *len,
                      struct vg_reject *rej)
{
    json_t *v = json_object_get(ev, name);
    *out = NULL;
    *len = 0;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return vg_reject_set(rej, 400, "invalid_field", index, name, "%s must be a string",
                             name);
    *out = json_string_value(v);
    *len = json_string_length(v);
    return 0;
}

/* Validates one event (its text at span in body, when span is not NULL)
 * and appends its envelope. */
static int one_event(const struct vg_ingest *in, json_t *ev, const char *body,
                     const struct vg_span *span, long i, struct vg_outbox *out,
                     struct vg_reject *rej)
{
    if (!json_is_object(ev))
        return vg_reject_set(rej, 400, "invalid_event", i, NULL, "an event must be a JSON object");
    size_t size = vg_ingest_item_size(ev, body, span);
    if (size > in->max_event_bytes)
        return vg_reject_set(rej, 413, "event_too_large", i, NULL,
                             "event of %zu bytes exceeds %zu", size, in->max_event_bytes);
    const char *k;
    json_t *val;
    json_object_foreach(ev, k, val)
    {
        if (!known_field(k))
            return vg_reject_set(rej, 400, "unknown_field", i, k, "unknown field \"%.64s\"", k);
    }

    const char *type, *event_id, *session_id, *visitor_id, *user_id, *occurred_at, *url;
    size_t type_n, event_id_n, session_n, visitor_n, user_n, occurred_n, url_n;
    if (opt_string(ev, "type", i, &type, &type_n, rej) ||
        opt_string(ev, "event_id", i, &event_id, &event_id_n, rej) ||
        opt_string(ev, "session_id", i, &session_id, &session_n, rej) ||
        opt_string(ev, "visitor_id", i, &visitor_id, &visitor_n, rej) ||
        opt_string(ev, "user_id", i, &user_id, &user_n, rej) ||
        opt_string(ev, "occurred_at", i, &occurred_at, &occurred_n, rej) ||
        opt_string(ev, "url", i, &url, &url_n, rej))
        return -1;
    if (!type)
        return vg_reject_set(rej, 400, "missing_field", i, "type", "type is required");
    if (!vg_check_name(type, type_n, VG_TYPE_MAX, 0))
        return vg_reject_set(rej, 400, "invalid_field", i, "type",
                             "type must match [a-z0-9_.:-]{1,%d}", VG_TYPE_MAX);
    char id[VG_UUID_STR_LEN];
    if (event_id) {
        if (event_id_n != VG_EVENT_ID_LEN || !vg_uuid_valid(event_id))
            return vg_reject_set(rej, 400, "invalid_field", i, "event_id",
                                 "event_id must be a UUID (8-4-4-4-12 hex digits)");
        /* One spelling per id, so that a retry is a duplicate downstream. */
        for (size_t j = 0; j < VG_EVENT_ID_LEN; j++)
            id[j] = (char)tolower((unsigned char)event_id[j]);
        id[VG_EVENT_ID_LEN] = '\0';
    } else {
        vg_uuid_v7(in->received_us / 1000, id);
    }
    if (session_id && !vg_check_name(session_id, session_n, VG_ID_MAX, 1))
        return vg_reject_set(rej, 400, "invalid_field", i, "session_id",
                             "session_id must match [A-Za-z0-9_.:-]{1,%d}", VG_ID_MAX);
    if (in->scope_session) {
        if (!session_id)
            session_id = in->scope_session;
        else if (strcmp(session_id, in->scope_session))
            return vg_reject_set(rej, 401, "session_scope", i, "session_id",
                                 "the session token does not cover session \"%s\"", session_id);
    }
    if (visitor_id && !vg_check_text(visitor_id, visitor_n, VG_ID_MAX))
        return vg_reject_set(rej, 400, "invalid_field", i, "visitor_id",
                             "visitor_id must be 1 to %d bytes without control characters",
                             VG_ID_MAX);
    if (user_id && !vg_check_text(user_id, user_n, VG_ID_MAX))
        return vg_reject_set(rej, 400, "invalid_field", i, "user_id",
                             "user_id must be 1 to %d bytes without control characters",
                             VG_ID_MAX);
    struct vg_ctime t;
    if (occurred_at) {
        int rc = vg_ctime_parse(in, occurred_at, 1, &t);
        if (rc == VG_EPARSE)
            return vg_reject_set(rej, 400, "invalid_field", i, "occurred_at",
                                 "occurred_at must be an RFC 3339 time with an offset");
        if (rc)
            return vg_reject_set(rej, 400, "invalid_field", i, "occurred_at",
                                 "occurred_at falls before 1970 after correcting the clock skew");
    }
    if (url && !vg_check_text(url, url_n, VG_URL_MAX))
        return vg_reject_set(rej, 400, "invalid_field", i, "url",
                             "url must be 1 to %d bytes without control characters", VG_URL_MAX);
    json_t *props = json_object_get(ev, "properties");
    if (props && json_is_null(props))
        props = NULL;
    if (props && !json_is_object(props))
        return vg_reject_set(rej, 400, "invalid_field", i, "properties",
                             "properties must be an object");
    if (props && vg_json_too_deep(props, VG_JSON_MAX_DEPTH - 1))
        return vg_reject_set(rej, 400, "too_deep", i, "properties",
                             "an event nests deeper than %d levels", VG_JSON_MAX_DEPTH);

    json_t *context = json_object_get(ev, "context");
    if (context && json_is_null(context))
        context = NULL;
    if (context && !json_is_object(context))
        return vg_reject_set(rej, 400, "invalid_field", i, "context", "context must be an object");
    if (context && vg_json_too_deep(context, VG_JSON_MAX_DEPTH - 1))
        return vg_reject_set(rej, 400, "too_deep", i, "context",
                             "an event nests deeper than %d levels", VG_JSON_MAX_DEPTH);

    struct vg_event env;
    vg_ingest_event(&env, in, id, type);
    env.session_id = session_id;
    env.visitor_id = visitor_id;
    env.user_id = user_id;
    vg_ingest_times(&env, in, occurred_at ? &t : NULL, occurred_at);
    env.url = url;
    env.properties = props;
    if (span)
        vg_envelope_properties_from(&env, body, *span);
    env.context = vg_ingest_context(in, context);
    vg_outbox_add(out, VG_TOPIC_EVENTS, &env);
    json_decref(env.context);
    return 0;
}

static int one_item(void *ctx, json_t *ev, long i, struct vg_outbox *out, struct vg_reject *rej)
{
    const struct items *it = ctx;
    return one_event(it->in, ev, it->body, it->spans ? &it->spans[i] : NULL, i, out, rej);
}

/* NDJSON: one object per non-blank line; the index counts events, not lines.
 * Each line's span goes into spans (max_events of them). */
static json_t *parse_ndjson(const char *body, size_t len, size_t max_events,
                            struct vg_span *spans, struct vg_reject *rej)
{
    json_t *items = json_array();
    size_t pos = 0;
    while (pos < len) {
        const char *nl = memchr(body + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - body) : len;
        size_t a = pos, b = end;
        pos = end + 1;
        while (a < b && isspace((unsigned char)body[a]))
            a++;
        while (b > a && isspace((unsigned char)body[b - 1]))
            b--;
        if (a == b)
            continue;
        long index = (long)json_array_size(items);
        if ((size_t)index >= max_events) {
            vg_reject_set(rej, 400, "too_many_events", index, NULL,
                          "a request carries at most %zu events", max_events);
            json_decref(items);
            return NULL;
        }
        json_error_t jerr;
        json_t *ev = json_loadb(body + a, b - a, JSON_REJECT_DUPLICATES, &jerr);
        if (!ev) {
            vg_reject_set(rej, 400, "invalid_json", index, NULL,
                          "NDJSON line of event %ld is not JSON: %s at byte %d", index,
                          jerr.text, jerr.position);
            json_decref(items);
            return NULL;
        }
        json_array_append_new(items, ev);
        spans[index] = (struct vg_span){a, b - a};
    }
    return items;
}

/*
 * The spans in body of the events of items (a JSON body, as parsed into
 * root): the root itself when it is one event, else the elements of the
 * root array or of its "events". NULL when the scanner refuses what jansson
 * took (only a raw NUL byte after a number or literal, which jansson skips,
 * jscan.h): the tree is then written, as before.
 */
static struct vg_span *event_spans(const char *body, size_t len, json_t *items)
{
    size_t count = json_array_size(items);
    struct vg_span whole, arr;
    if (count == 0 || vg_jscan_value(body, len, 0, &whole))
        return NULL;
    arr = whole;
    if (body[whole.off] == '{') {
        int rc = vg_jscan_member(body, whole, "events", &arr);
        if (rc == VG_ENOTFOUND && count == 1) { /* one event object */
            struct vg_span *spans = vg_xmalloc(sizeof(*spans));
            spans[0] = whole;
            return spans;
        }
        if (rc)
            return NULL;
    }
    return vg_ingest_spans(body, arr, count);
}

long vg_event_parse(const struct vg_ingest *in_, enum vg_body_format fmt, const char *body,
                    size_t len, struct vg_outbox *out, struct vg_reject *rej)
{
    struct vg_ingest in = *in_;
    json_t *root = NULL, *items = NULL;
    struct items it = {.in = &in, .body = body};
    long n = -1;

    if (fmt == VG_BODY_NDJSON) {
        it.spans = vg_xmalloc(VG_MAX(in.max_batch_events, 1) * sizeof(*it.spans));
        items = parse_ndjson(body, len, in.max_batch_events, it.spans, rej);
        if (!items) {
            free(it.spans);
            return -1;
        }
        root = items;
    } else {
        json_error_t jerr;
        root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!root)
            return vg_reject_set(rej, 400, "invalid_json", -1, NULL,
                                 "body is not JSON: %s at byte %d", jerr.text, jerr.position);
        if (json_is_array(root)) {
            items = root;
        } else if (json_is_object(root) && json_object_get(root, "events")) {
            const char *k;
            json_t *v;
            json_object_foreach(root, k, v)
            {
                if (strcmp(k, "events") && strcmp(k, "sent_at")) {
                    vg_reject_set(rej, 400, "unknown_field", -1, k,
                                  "unknown field \"%.64s\" in a batch (sent_at, events)", k);
                    goto out;
                }
            }
            items = json_object_get(root, "events");
            if (!json_is_array(items)) {
                vg_reject_set(rej, 400, "invalid_field", -1, "events", "events must be an array");
                goto out;
            }
            json_t *sent = json_object_get(root, "sent_at");
            if (sent && !json_is_null(sent)) {
                if (!json_is_string(sent) || vg_time_parse(json_string_value(sent), &in.sent_at_us)) {
                    vg_reject_set(rej, 400, "invalid_field", -1, "sent_at",
                                  "sent_at must be an RFC 3339 time with an offset");
                    goto out;
                }
                in.has_sent_at = 1;
            }
        } else if (json_is_object(root)) {
            items = json_array();
            json_array_append(items, root);
            json_decref(root);
            root = items;
        } else {
            vg_reject_set(rej, 400, "invalid_json", -1, NULL,
                          "body must be an event object, an array of events, or NDJSON");
            goto out;
        }
    }

    /* Spans only for a batch within the limit: vg_ingest_each refuses the rest. */
    if (!it.spans && json_array_size(items) <= in.max_batch_events)
        it.spans = event_spans(body, len, items);
    n = vg_ingest_each(items, in.max_batch_events, NULL, "event", one_item, &it, out, rej);
out:
    free(it.spans);
    json_decref(root);
    return n;
}
