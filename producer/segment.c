#include "segment.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "jscan.h"

/* The call types: their names in a body, and the envelope type of each but track. */
static const struct {
    const char *name;
    const char *type;
} calls[] = {
    [VG_SEGMENT_TRACK] = {"track", NULL},         [VG_SEGMENT_IDENTIFY] = {"identify", "identify"},
    [VG_SEGMENT_PAGE] = {"page", "page.view"},    [VG_SEGMENT_SCREEN] = {"screen", "screen.view"},
    [VG_SEGMENT_GROUP] = {"group", "group"},      [VG_SEGMENT_ALIAS] = {"alias", "alias"},
};

/* The fields of a /v1/batch body that are mapped (writeKey: dropped, a
 * secret). Any other is kept with each call, in segment.batch: Segment's
 * SDKs add fields of their own there (analytics-go "type" and "messageId",
 * analytics-java "sequence"), and the API takes them. */
static const char *const batch_fields[] = {"batch", "sentAt", "context", "integrations",
                                           "writeKey"};

/* An id Segment sends as a string or, from some SDKs, a number. */
struct id {
    const char *s;
    char num[24];
};

void vg_segment_event_id(const char *message_id, size_t n, char out[VG_UUID_STR_LEN])
{
    if (n == VG_EVENT_ID_LEN && vg_uuid_valid(message_id)) {
        for (size_t j = 0; j < VG_EVENT_ID_LEN; j++)
            out[j] = (char)tolower((unsigned char)message_id[j]);
        out[VG_EVENT_ID_LEN] = '\0';
        return;
    }
    vg_uuid_v5(VG_SEGMENT_NAMESPACE, message_id, n, out);
}

void vg_segment_track_type(const char *event, char *out)
{
    size_t n = 0;
    int gap = 0;
    for (const char *p = event; *p && n < VG_TYPE_MAX; p++) {
        char c = (char)tolower((unsigned char)*p);
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
            c == ':' || c == '-') {
            if (gap && n > 0 && n + 1 < VG_TYPE_MAX)
                out[n++] = '_';
            gap = 0;
            out[n++] = c;
        } else {
            gap = 1;
        }
    }
    out[n] = '\0';
    if (n == 0)
        snprintf(out, VG_TYPE_MAX + 1, "track");
}

/* An optional id field: 0 with id->s NULL when absent or null, 0 with it
 * set when a string or an integer within the rule of visitor_id and
 * user_id, else -1 with rej filled. */
static int opt_id(json_t *call, const char *name, long i, struct id *id, struct vg_reject *rej)
{
    json_t *v = json_object_get(call, name);
    id->s = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (json_is_integer(v)) {
        snprintf(id->num, sizeof(id->num), "%lld", (long long)json_integer_value(v));
        id->s = id->num;
        return 0;
    }
    if (!json_is_string(v) ||
        !vg_check_text(json_string_value(v), json_string_length(v), VG_ID_MAX))
        return vg_reject_set(rej, 400, "invalid_field", i, name,
                             "%s must be a string of 1 to %d bytes without control characters",
                             name, VG_ID_MAX);
    id->s = json_string_value(v);
    return 0;
}

/* An optional object field: NULL when absent or null; -1 with rej filled
 * when something else. */
static int opt_object(json_t *call, const char *name, long i, json_t **out,
                      struct vg_reject *rej)
{
    json_t *v = json_object_get(call, name);
    *out = v && !json_is_null(v) ? v : NULL;
    if (*out && !json_is_object(v))
        return vg_reject_set(rej, 400, "invalid_field", i, name, "%s must be an object", name);
    return 0;
}

/* The session id found at v (a string or integer), checked; field names it. */
static int session_value(json_t *v, const char *field, long i, struct id *id,
                         struct vg_reject *rej)
{
    if (json_is_integer(v)) {
        snprintf(id->num, sizeof(id->num), "%lld", (long long)json_integer_value(v));
        id->s = id->num;
    } else if (json_is_string(v)) {
        id->s = json_string_value(v);
    } else {
        return vg_reject_set(rej, 400, "invalid_field", i, field,
                             "%s must be a string or an integer", field);
    }
    if (!vg_check_name(id->s, strlen(id->s), VG_ID_MAX, 1))
        return vg_reject_set(rej, 400, "invalid_field", i, field,
                             "%s must match [A-Za-z0-9_.:-]{1,%d}", field, VG_ID_MAX);
    return 0;
}

/* The session id where the SDKs put one: context.sessionId, then
 * properties.session_id, then the session_id of an integrations entry
 * (Amplitude's: {"Actions Amplitude": {"session_id": 1700000000000}}). */
static int find_session(json_t *context, json_t *props, json_t *integrations, long i,
                        struct id *id, struct vg_reject *rej)
{
    json_t *v;
    id->s = NULL;
    if (context && (v = json_object_get(context, "sessionId")) && !json_is_null(v))
        return session_value(v, "context.sessionId", i, id, rej);
    if (props && (v = json_object_get(props, "session_id")) && !json_is_null(v))
        return session_value(v, "properties.session_id", i, id, rej);
    const char *k;
    json_t *entry;
    json_object_foreach(integrations, k, entry)
    {
        if (json_is_object(entry) && (v = json_object_get(entry, "session_id")) &&
            !json_is_null(v))
            return session_value(v, "integrations.session_id", i, id, rej);
    }
    return 0;
}

/* What every call of a batch shares. */
struct batch {
    const struct vg_ingest *in;
    json_t *context;      /* the batch's context, defaults for each call's; may be NULL */
    json_t *integrations; /* likewise */
    json_t *sent_at;      /* the batch's sentAt, kept with each call that has none */
    json_t *rest;         /* the batch's other fields (owned; NULL if none), kept with each call */
    size_t inherited;     /* compact bytes of the batch's context, integrations and rest */
    const char *body;     /* the body's text (decompressed) */
    struct vg_span *spans; /* each call's span in body; NULL when the scanner refused it */
};

/* a's keys with b's added where a has none: a new reference (NULL if both NULL). */
static json_t *with_defaults(json_t *a, json_t *b)
{
    if (!b)
        return a ? json_incref(a) : NULL;
    if (!a)
        return json_incref(b);
    json_t *m = json_copy(a);
    json_object_update_missing(m, b);
    return m;
}

/* The url of a page: properties.url, else context.page.url, when it is text. */
static const char *page_url(json_t *props, json_t *context)
{
    json_t *u = props ? json_object_get(props, "url") : NULL;
    if (!json_is_string(u)) {
        json_t *page = context ? json_object_get(context, "page") : NULL;
        u = json_is_object(page) ? json_object_get(page, "url") : NULL;
    }
    if (!json_is_string(u) || !vg_check_text(json_string_value(u), json_string_length(u),
                                            VG_URL_MAX))
        return NULL;
    return json_string_value(u);
}

/*
 * The segment object of a call: every field without a field of its own in
 * the envelope, as sent (visitor is the id that became visitor_id;
 * mid_is_id: the messageId is the event_id as it is), with the batch's
 * integrations (integ, merged already) and sentAt where the call has none.
 * A new reference. writeKey is a secret: never kept.
 */
static json_t *rest_of(const struct batch *b, json_t *call, enum vg_segment_call route,
                       const char *visitor, int mid_is_id, json_t *integ)
{
    json_t *seg = json_object(), *v;
    const char *k;
    json_object_foreach(call, k, v)
    {
        const char *s = json_string_value(v);
        int mapped = !strcmp(k, "userId") || !strcmp(k, "properties") || !strcmp(k, "context") ||
                     !strcmp(k, "writeKey") || (!strcmp(k, "messageId") && mid_is_id) ||
                     ((!strcmp(k, "anonymousId") || !strcmp(k, "previousId")) && s && visitor &&
                      !strcmp(s, visitor));
        if (!mapped)
            json_object_set(seg, k, v);
    }
    if (!json_object_get(seg, "type"))
        json_object_set_new(seg, "type", json_string(calls[route].name));
    if (integ && !json_object_get(seg, "integrations"))
        json_object_set(seg, "integrations", integ);
    if (b->sent_at && !json_object_get(seg, "sentAt"))
        json_object_set(seg, "sentAt", b->sent_at);
    if (b->rest && !json_object_get(seg, "batch"))
        json_object_set(seg, "batch", b->rest);
    return seg;
}

/* The envelope of one call, type checked already (route is its type), its
 * text at span in b->body (NULL: not known). */
static int one_call(const struct batch *b, json_t *call, const struct vg_span *span,
                    enum vg_segment_call route, long i, struct vg_outbox *out,
                    struct vg_reject *rej)
{
    struct vg_ingest in = *b->in;
    struct id user, anon, previous, session;
    json_t *props, *context, *integrations, *traits;
    if (opt_id(call, "userId", i, &user, rej) || opt_id(call, "anonymousId", i, &anon, rej) ||
        opt_id(call, "previousId", i, &previous, rej) ||
        opt_object(call, "properties", i, &props, rej) ||
        opt_object(call, "context", i, &context, rej) ||
        opt_object(call, "integrations", i, &integrations, rej) ||
        opt_object(call, "traits", i, &traits, rej))
        return -1;
    const char *visitor = anon.s;
    if (route == VG_SEGMENT_ALIAS) {
        if (!previous.s || !user.s)
            return vg_reject_set(rej, 400, "missing_field", i, previous.s ? "userId" : "previousId",
                                 "an alias needs previousId and userId");
        visitor = previous.s;
    } else if (!user.s && !anon.s) {
        return vg_reject_set(rej, 400, "missing_field", i, "userId",
                             "a call needs userId or anonymousId");
    }

    char type[VG_TYPE_MAX + 1];
    if (route == VG_SEGMENT_TRACK) {
        json_t *ev = json_object_get(call, "event");
        if (!json_is_string(ev) || json_string_length(ev) == 0)
            return vg_reject_set(rej, 400, "missing_field", i, "event",
                                 "a track call needs event, a non-empty string");
        vg_segment_track_type(json_string_value(ev), type);
    } else {
        snprintf(type, sizeof(type), "%s", calls[route].type);
    }

    json_t *mid = json_object_get(call, "messageId");
    if (mid && !json_is_null(mid) && (!json_is_string(mid) || json_string_length(mid) == 0))
        return vg_reject_set(rej, 400, "invalid_field", i, "messageId",
                             "messageId must be a non-empty string");
    char id[VG_UUID_STR_LEN];
    if (json_is_string(mid))
        vg_segment_event_id(json_string_value(mid), json_string_length(mid), id);
    else
        vg_uuid_v7(in.received_us / 1000, id);
    /* The messageId is the event_id, or kept for the spelling it had. */
    int mid_is_id = json_is_string(mid) && !strcmp(json_string_value(mid), id);

    json_t *v = json_object_get(call, "sentAt");
    if (v && !json_is_null(v)) {
        if (!json_is_string(v) || vg_time_parse(json_string_value(v), &in.sent_at_us))
            return vg_reject_set(rej, 400, "invalid_field", i, "sentAt",
                                 "sentAt must be an ISO 8601 time with an offset");
        in.has_sent_at = 1;
    }
    const char *time_field = json_object_get(call, "originalTimestamp") ? "originalTimestamp"
                                                                          : "timestamp";
    const char *when = NULL;
    struct vg_ctime t;
    v = json_object_get(call, time_field);
    if (v && !json_is_null(v)) {
        int rc = json_is_string(v) ? vg_ctime_parse(&in, json_string_value(v), 1, &t) : VG_EPARSE;
        if (rc == VG_EPARSE)
            return vg_reject_set(rej, 400, "invalid_field", i, time_field,
                                 "%s must be an ISO 8601 time with an offset", time_field);
        if (rc)
            return vg_reject_set(rej, 400, "invalid_field", i, time_field,
                                 "%s falls before 1970 after correcting the clock skew",
                                 time_field);
        when = json_string_value(v);
    }

    json_t *ctx_in = with_defaults(context, b->context);
    json_t *integ = with_defaults(integrations, b->integrations);
    if (find_session(ctx_in, props, integ, i, &session, rej)) {
        json_decref(ctx_in);
        json_decref(integ);
        return -1;
    }

    json_t *seg = rest_of(b, call, route, visitor, mid_is_id, integ);
    struct vg_event env;
    vg_ingest_event(&env, &in, id, type);
    env.session_id = session.s;
    env.visitor_id = visitor;
    env.user_id = user.s;
    vg_ingest_times(&env, &in, when ? &t : NULL, when);
    env.url = page_url(props, ctx_in);
    env.properties = props;
    /* Nothing is merged into a call's properties (the enrichment goes to
     * context), so its text is the client's, spliced as sent. */
    if (span)
        vg_envelope_properties_from(&env, b->body, *span);
    env.context = vg_ingest_context(&in, ctx_in);
    env.segment = seg;
    vg_outbox_add(out, VG_TOPIC_EVENTS, &env);
    json_decref(env.context);
    json_decref(seg);
    json_decref(ctx_in);
    json_decref(integ);
    return 0;
}

/* Checks one call's shape and type, then maps it. */
static int check_call(const struct batch *b, json_t *call, const struct vg_span *span,
                      enum vg_segment_call route, long i, struct vg_outbox *out,
                      struct vg_reject *rej)
{
    if (!json_is_object(call))
        return vg_reject_set(rej, 400, "invalid_event", i, NULL, "a call must be a JSON object");
    /* Segment's limit, or the producer's own if it is smaller, on the call
     * with what it takes of the batch's fields: without them, a large batch
     * context copied into each of many small calls would multiply the
     * body many times over in memory and in every layer. */
    size_t size = vg_ingest_item_size(call, b->body, span) + b->inherited;
    size_t max = VG_MIN(b->in->max_event_bytes, VG_SEGMENT_CALL_MAX);
    if (size > max)
        return vg_reject_set(rej, 413, "event_too_large", i, NULL,
                             "a call of %zu bytes (with the batch's context, integrations and "
                             "other fields) exceeds %zu",
                             size, max);
    if (vg_json_too_deep(call, VG_JSON_MAX_DEPTH))
        return vg_reject_set(rej, 400, "too_deep", i, NULL, "a call nests deeper than %d levels",
                             VG_JSON_MAX_DEPTH);
    json_t *t = json_object_get(call, "type");
    if (route == VG_SEGMENT_BATCH) {
        if (!json_is_string(t))
            return vg_reject_set(rej, 400, "missing_field", i, "type",
                                 "each call of a batch needs a type");
        for (size_t c = VG_SEGMENT_TRACK; c < VG_ARRAY_LEN(calls); c++)
            if (!strcmp(json_string_value(t), calls[c].name))
                route = (enum vg_segment_call)c;
        if (route == VG_SEGMENT_BATCH)
            return vg_reject_set(rej, 400, "invalid_field", i, "type",
                                 "type must be track, identify, page, screen, group or alias");
    } else if (t && !json_is_null(t) &&
               (!json_is_string(t) || strcmp(json_string_value(t), calls[route].name))) {
        return vg_reject_set(rej, 400, "invalid_field", i, "type",
                             "this route takes %s calls", calls[route].name);
    }
    return one_call(b, call, span, route, i, out, rej);
}

static int batch_item(void *ctx, json_t *call, long i, struct vg_outbox *out,
                      struct vg_reject *rej)
{
    const struct batch *b = ctx;
    return check_call(b, call, b->spans ? &b->spans[i] : NULL, VG_SEGMENT_BATCH, i, out, rej);
}

/* The spans in body (whole: the root object's) of the calls of a batch,
 * count of them; NULL when the scanner refuses what jansson took (a raw NUL
 * jansson skips, jscan.h): the tree is then written, as before. */
static struct vg_span *call_spans(const char *body, struct vg_span whole, size_t count)
{
    struct vg_span arr;
    if (vg_jscan_member(body, whole, "batch", &arr))
        return NULL;
    return vg_ingest_spans(body, arr, count);
}

/* The batch-level fields of a /v1/batch body; its calls into *items. */
static int read_batch(json_t *root, struct batch *b, struct vg_ingest *in, json_t **items,
                      struct vg_reject *rej)
{
    const char *k;
    json_t *v;
    json_object_foreach(root, k, v)
    {
        int known = 0;
        for (size_t j = 0; j < VG_ARRAY_LEN(batch_fields); j++)
            known |= !strcmp(k, batch_fields[j]);
        if (known)
            continue;
        if (!b->rest)
            b->rest = json_object();
        json_object_set(b->rest, k, v);
    }
    *items = json_object_get(root, "batch");
    if (!json_is_array(*items))
        return vg_reject_set(rej, 400, "invalid_field", -1, "batch", "batch must be an array");
    if (opt_object(root, "context", -1, &b->context, rej) ||
        opt_object(root, "integrations", -1, &b->integrations, rej))
        return -1;
    v = json_object_get(root, "sentAt");
    if (v && !json_is_null(v)) {
        if (!json_is_string(v) || vg_time_parse(json_string_value(v), &in->sent_at_us))
            return vg_reject_set(rej, 400, "invalid_field", -1, "sentAt",
                                 "sentAt must be an ISO 8601 time with an offset");
        in->has_sent_at = 1;
        b->sent_at = v;
    }
    /* Each call nests them one level down, as event.c bounds a context. */
    json_t *shared[] = {b->context, b->integrations, b->rest};
    for (size_t j = 0; j < VG_ARRAY_LEN(shared); j++)
        if (shared[j] && vg_json_too_deep(shared[j], VG_JSON_MAX_DEPTH - 1))
            return vg_reject_set(rej, 400, "too_deep", -1, NULL,
                                 "the batch's fields nest deeper than %d levels",
                                 VG_JSON_MAX_DEPTH - 1);
    /* sentAt, a few bytes every SDK puts here, multiplies nothing. */
    b->inherited = (b->context ? vg_json_size(b->context) : 0) +
                   (b->integrations ? vg_json_size(b->integrations) : 0) +
                   (b->rest ? vg_json_size(b->rest) : 0);
    return 0;
}

long vg_segment_parse(const struct vg_ingest *in_, enum vg_segment_call call, const char *body,
                      size_t len, struct vg_outbox *out, struct vg_reject *rej)
{
    struct vg_ingest in = *in_;
    struct batch b = {.in = &in, .body = body};
    size_t limit = call == VG_SEGMENT_BATCH ? VG_SEGMENT_BATCH_MAX : VG_SEGMENT_CALL_MAX;
    if (len > limit)
        return vg_reject_set(rej, 413, "body_too_large", -1, NULL,
                             "a body of %zu bytes exceeds %zu", len, limit);
    json_error_t jerr;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return vg_reject_set(rej, 400, "invalid_json", -1, NULL, "body is not JSON: %s at byte %d",
                             jerr.text, jerr.position);
    long n = -1;
    json_t *items = NULL;
    struct vg_span whole;
    int have_whole = vg_jscan_value(body, len, 0, &whole) == 0;
    if (!json_is_object(root)) {
        vg_reject_set(rej, 400, "invalid_json", -1, NULL, "body must be a JSON object");
        goto out;
    }
    if (call != VG_SEGMENT_BATCH) {
        n = check_call(&b, root, have_whole ? &whole : NULL, call, 0, out, rej) ? -1 : 1;
        goto out;
    }
    if (read_batch(root, &b, &in, &items, rej))
        goto out;
    /* Spans only for a batch within the limit: vg_ingest_each refuses the rest. */
    if (have_whole && json_array_size(items) <= in.max_batch_events)
        b.spans = call_spans(body, whole, json_array_size(items));
    n = vg_ingest_each(items, in.max_batch_events, "batch", "call", batch_item, &b, out, rej);
out:
    free(b.spans);
    json_decref(b.rest);
    json_decref(root);
    return n;
}
