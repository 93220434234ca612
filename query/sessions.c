/*
 * sessions.c - GET /v1/sessions/{id}, /valid, /events and the list.
 *
 * A session is read as one mart.sessions row (sql.c) and turned into JSON
 * here, its start, expiry, status and duration kept beside it. That record
 * is what the cache keeps ("<start_us> <expires_us> <duration_ms>
 * <status>\n<json>"), under "vigil:s:<tenant>/<id>"; active_ms is added
 * when answering, so a cached record serves every instant. The ETag is a
 * hash of the row's JSON: it changes when the row does.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "listener.h"
#include "log.h"
#include "qstats.h"
#include "routes.h"
#include "sql.h"

#define DEFAULT_LIMIT 100
#define MAX_LIMIT 1000
#define FALLBACK_RECHECK_MS 5000 /* a long-poll re-reads this often even unwoken */

struct rec {
    struct vg_buf raw; /* the cache value */
    const char *json;  /* into raw */
    size_t json_len;
    int64_t start_us, expires_us, duration_ms;
    char status[16];
    char etag[24];
};

static void rec_free(struct rec *s)
{
    vg_buf_free(&s->raw);
}

static void etag_of(const char *json, size_t len, char out[24])
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)json[i]) * 1099511628211ULL;
    snprintf(out, 24, "\"%016" PRIx64 "\"", h);
}

/* Parses s->raw; 0 or -1 if it is not a record. */
static int rec_parse(struct rec *s)
{
    const char *nl = memchr(s->raw.data, '\n', s->raw.len);
    if (!nl)
        return -1;
    long long st, ex, du;
    if (sscanf(s->raw.data, "%lld %lld %lld %15s", &st, &ex, &du, s->status) != 4)
        return -1;
    s->start_us = st;
    s->expires_us = ex;
    s->duration_ms = du;
    s->json = nl + 1;
    s->json_len = s->raw.len - (size_t)(nl + 1 - s->raw.data);
    etag_of(s->json, s->json_len, s->etag);
    return 0;
}

/* PostgreSQL's ISO text of a UTC time ("2026-11-23 01:54:07.1234+00": the
 * fraction trimmed of its zeros, or absent) as vg_time_format writes it
 * ("2026-11-23T01:54:07.123400Z"), with its Unix microseconds. 0, or -1 for
 * another shape. */
static int pg_time(const char *pg, size_t n, char out[VG_TS_LEN], int64_t *us)
{
    if (n < 22 || n == 23 || n > 29 || memcmp(pg + n - 3, "+00", 3) || (n > 22 && pg[19] != '.'))
        return -1;
    memcpy(out, pg, 19);
    out[10] = 'T';
    out[19] = '.';
    size_t frac = n > 22 ? n - 23 : 0; /* digits after the point */
    memcpy(out + 20, pg + 20, frac);
    memset(out + 20 + frac, '0', 6 - frac);
    out[26] = 'Z';
    out[27] = '\0';
    return vg_time_parse(out, us);
}

/* Appends ,"key": and the row's column as JSON: a string, a time, or the
 * text as it is (numbers, jsonb); null for NULL. *us gets a time's Unix
 * microseconds, -1 for NULL. 0, or -1 for a time of another shape. */
enum col_kind { COL_TEXT, COL_TIME, COL_RAW };

static int put_col(struct vg_buf *b, const char *key, PGresult *res, int i, int col,
                   enum col_kind kind, int64_t *us)
{
    const char *v = PQgetvalue(res, i, col);
    size_t n = (size_t)PQgetlength(res, i, col);
    if (us)
        *us = -1;
    vg_buf_putc(b, b->len ? ',' : '{');
    vg_buf_json_str(b, key, strlen(key));
    vg_buf_putc(b, ':');
    int64_t t;
    char ts[VG_TS_LEN];
    if (PQgetisnull(res, i, col))
        vg_buf_puts(b, "null");
    else if (kind == COL_RAW)
        vg_buf_append(b, v, n);
    else if (kind == COL_TEXT)
        vg_buf_json_str(b, v, n);
    else if (pg_time(v, n, ts, &t))
        return -1;
    else {
        vg_buf_printf(b, "\"%s\"", ts);
        if (us)
            *us = t;
    }
    return 0;
}

/* The row's JSON into json; its start (started_at, else created_at) and
 * expiry in Unix microseconds (-1: none). 0, or -1 if a time is unreadable. */
static int row_json(struct vg_buf *json, PGresult *res, int i, int64_t *start_us,
                    int64_t *expires_us)
{
    int64_t created, started;
    int rc = put_col(json, "tenant", res, i, VG_SCOL_TENANT, COL_TEXT, NULL) |
             put_col(json, "session_id", res, i, VG_SCOL_SESSION, COL_TEXT, NULL) |
             put_col(json, "kind", res, i, VG_SCOL_KIND, COL_TEXT, NULL) |
             put_col(json, "status", res, i, VG_SCOL_STATUS, COL_TEXT, NULL) |
             put_col(json, "created_at", res, i, VG_SCOL_CREATED, COL_TIME, &created) |
             put_col(json, "started_at", res, i, VG_SCOL_STARTED, COL_TIME, &started) |
             put_col(json, "first_activity_at", res, i, VG_SCOL_FIRST_ACTIVITY, COL_TIME, NULL) |
             put_col(json, "last_activity_at", res, i, VG_SCOL_LAST_ACTIVITY, COL_TIME, NULL) |
             put_col(json, "ended_at", res, i, VG_SCOL_ENDED, COL_TIME, NULL) |
             put_col(json, "duration_ms", res, i, VG_SCOL_DURATION, COL_RAW, NULL) |
             put_col(json, "heartbeat_count", res, i, VG_SCOL_HEARTBEATS, COL_RAW, NULL) |
             put_col(json, "event_count", res, i, VG_SCOL_EVENTS, COL_RAW, NULL) |
             put_col(json, "end_reason", res, i, VG_SCOL_END_REASON, COL_TEXT, NULL) |
             put_col(json, "expires_at", res, i, VG_SCOL_EXPIRES, COL_TIME, expires_us) |
             put_col(json, "attributes", res, i, VG_SCOL_ATTRIBUTES, COL_RAW, NULL);
    vg_buf_putc(json, '}');
    *start_us = started >= 0 ? started : created;
    return rc ? -1 : 0;
}

/* Fills s from row i of a session result: 0, or -1 with a 500 answered
 * (a time PostgreSQL wrote in a shape not read here: a bug, not input). */
static int rec_from_row(struct vg_qreq *r, struct rec *s, PGresult *res, int i)
{
    struct vg_buf json = {0};
    int64_t start_us, expires_us;
    int rc = row_json(&json, res, i, &start_us, &expires_us);
    if (rc == 0) {
        const char *duration = PQgetisnull(res, i, VG_SCOL_DURATION)
                                   ? "-1"
                                   : PQgetvalue(res, i, VG_SCOL_DURATION);
        vg_buf_reset(&s->raw);
        vg_buf_printf(&s->raw, "%lld %lld %s %s\n", (long long)start_us, (long long)expires_us,
                      duration, PQgetvalue(res, i, VG_SCOL_STATUS));
        vg_buf_append(&s->raw, json.data, json.len);
        rc = rec_parse(s);
    }
    vg_buf_free(&json);
    if (rc) {
        vg_error("session %s/%s: a row not read as expected", PQgetvalue(res, i, VG_SCOL_TENANT),
                 PQgetvalue(res, i, VG_SCOL_SESSION));
        vg_qreq_error(r, 500, "internal", NULL, "the session could not be read");
    }
    return rc;
}

static int is_open(const struct rec *s)
{
    return !strcmp(s->status, "draft") || !strcmp(s->status, "active");
}

/* Appends the record's JSON with active_ms: so far while open, else the duration. */
static void put_session(struct vg_buf *b, const struct rec *s)
{
    int64_t active = s->duration_ms;
    if (is_open(s)) {
        active = (vg_now_us() - s->start_us) / 1000;
        if (active < 0)
            active = 0;
    }
    vg_buf_append(b, s->json, s->json_len - 1);
    if (active >= 0)
        vg_buf_printf(b, ",\"active_ms\":%lld}", (long long)active);
    else
        vg_buf_puts(b, ",\"active_ms\":null}");
}

/* The tenant and session the path names, as the caller may read them:
 * 0, or 1 with the reply set (404 for a session token's other sessions). */
static int target(struct vg_qreq *r)
{
    if (r->who == VG_WHO_SESSION && strcmp(r->arg, r->session))
        return vg_qreq_error(r, 404, "not_found", NULL, "no such session");
    if (!r->tenant[0])
        return vg_qreq_error(r, 400, "missing_parameter", "tenant",
                             "an admin key names the session's tenant: ?tenant=");
    return 0;
}

/*
 * Loads the session of the path into s, from the cache if allowed (and then
 * through the pipeline: a long-poll reads its row after the generation it
 * waits on, so it reads at once). Returns 0, 1 with the reply set (404,
 * 503), or 2 when the read was deferred (vg_qreq_db_deferred: no reply yet).
 */
static int load(struct vg_qreq *r, struct rec *s, int cached)
{
    char key[VG_TENANT_MAX + VG_ID_MAX + 16];
    snprintf(key, sizeof(key), "vigil:s:%s/%s", r->tenant, r->arg);
    int64_t read_ms;
    vg_buf_reset(&s->raw);
    if (cached && r->job_state != VG_JOB_DONE &&
        vg_cache_get(r->env->cache, key, &s->raw, &read_ms,
                     vg_listener_unchanged_since(r->env->listener, r->env->max_staleness_ms,
                                                 r->tenant, r->arg)) &&
        rec_parse(s) == 0)
        return 0;
    const char *p[2] = {r->tenant, r->arg};
    PGresult *res;
    int rc;
    if (cached) {
        rc = vg_qreq_db_deferred(r, VG_SQL_SESSION, 2, p, &res, &read_ms);
    } else {
        read_ms = vg_now_ms();
        rc = vg_qreq_db(r, VG_SQL_SESSION, 2, p, &res);
    }
    if (rc)
        return rc;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return vg_qreq_error(r, 404, "not_found", NULL, "no such session");
    }
    int bad = rec_from_row(r, s, res, 0);
    PQclear(res);
    if (bad)
        return 1;
    if (cached)
        vg_cache_put(r->env->cache, key, s->raw.data, s->raw.len, read_ms);
    return 0;
}

static void answer_session(struct vg_qreq *r, const struct rec *s)
{
    r->reply.status = 200;
    snprintf(r->reply.etag, sizeof(r->reply.etag), "%s", s->etag);
    r->reply.cache_control = "no-cache";
    put_session(&r->reply.body, s);
}

static void not_modified(struct vg_qreq *r, const struct rec *s)
{
    r->reply.status = 304;
    snprintf(r->reply.etag, sizeof(r->reply.etag), "%s", s->etag);
    r->reply.cache_control = "no-cache";
}

void vg_qsession_get(struct vg_qreq *r)
{
    int64_t wait_ms;
    if (target(r) || vg_qreq_int(r, "wait_ms", 0, 0, r->cfg->query_max_wait_ms, &wait_ms))
        return;
    const char *inm = vg_qreq_header(r, "If-None-Match");
    struct rec s = {0};
    if (!inm || wait_ms == 0) {
        if (load(r, &s, 1) == 0) {
            if (inm && !strcmp(inm, s.etag))
                not_modified(r, &s);
            else
                answer_session(r, &s);
        }
        rec_free(&s);
        return;
    }
    /* Long-poll: answer as soon as the row differs from the client's copy,
     * else wait (wait.h) and run again when woken. The generation is read
     * before the row, so a change in between is never missed. */
    int64_t now = vg_mono_ms();
    if (!r->wait_until)
        r->wait_until = now + wait_ms;
    uint64_t gen = vg_listener_generation(r->env->listener);
    if (load(r, &s, 0) == 0) {
        if (strcmp(inm, s.etag))
            answer_session(r, &s);
        else if (now >= r->wait_until || r->no_wait)
            not_modified(r, &s);
        else {
            r->suspend = 1;
            r->wait_gen = gen;
            r->wake_ms = VG_MIN(r->wait_until, now + FALLBACK_RECHECK_MS);
        }
    }
    rec_free(&s);
}

void vg_qsession_valid(struct vg_qreq *r)
{
    struct rec s = {0};
    if (target(r) || load(r, &s, 1)) {
        rec_free(&s);
        return;
    }
    const char *reason = NULL;
    if (!is_open(&s))
        reason = s.status;
    else if (s.expires_us >= 0 && s.expires_us <= vg_now_us())
        reason = "expired";
    struct vg_buf *b = &r->reply.body;
    r->reply.status = 200;
    vg_buf_printf(b, "{\"valid\":%s,\"status\":\"%s\",\"expires_at\":", reason ? "false" : "true",
                  s.status);
    if (s.expires_us >= 0) {
        char ts[VG_TS_LEN];
        vg_time_format(s.expires_us, ts);
        vg_buf_printf(b, "\"%s\"", ts);
    } else {
        vg_buf_puts(b, "null");
    }
    if (reason)
        vg_buf_printf(b, ",\"reason\":\"%s\"", reason);
    vg_buf_putc(b, '}');
    rec_free(&s);
}

/* -- cursors: base64url("<text>|<text>|<text>"), opaque to clients ---------- */

static void cursor_put(struct vg_buf *b, const char *a, const char *c, const char *d)
{
    char plain[512], enc[700];
    int n = snprintf(plain, sizeof(plain), "%s|%s|%s", a, c, d);
    if (n <= 0 || (size_t)n >= sizeof(plain)) {
        vg_buf_puts(b, "null");
        return;
    }
    vg_base64url_encode((const unsigned char *)plain, (size_t)n, enc);
    vg_buf_printf(b, "\"%s\"", enc);
}

/* Splits ?cursor= into three parts (in buf); 0, or 1 with a 400. */
static int cursor_get(struct vg_qreq *r, char *buf, size_t size, const char *part[3])
{
    const char *c = vg_qreq_arg(r, "cursor");
    part[0] = part[1] = part[2] = NULL;
    if (!c)
        return 0;
    long n = vg_base64url_decode(c, strlen(c), (unsigned char *)buf, size - 1);
    char *save = NULL;
    if (n > 0) {
        buf[n] = '\0';
        part[0] = strtok_r(buf, "|", &save);
        part[1] = part[0] ? strtok_r(NULL, "|", &save) : NULL;
        part[2] = part[1] ? strtok_r(NULL, "|", &save) : NULL;
    }
    int64_t us;
    if (!part[2] || vg_time_parse(part[0], &us))
        return vg_qreq_error(r, 400, "invalid_parameter", "cursor",
                             "cursor must be a next_cursor of an earlier answer");
    return 0;
}

static int check_status(struct vg_qreq *r, const char *s)
{
    static const char *const statuses[] = {"draft", "active", "ended", "timeout", "expired"};
    for (size_t i = 0; s && i < VG_ARRAY_LEN(statuses); i++)
        if (!strcmp(s, statuses[i]))
            return 0;
    if (!s)
        return 0;
    return vg_qreq_error(r, 400, "invalid_parameter", "status",
                         "status must be draft, active, ended, timeout or expired");
}

void vg_qsession_list(struct vg_qreq *r)
{
    const char *status = vg_qreq_arg(r, "status"), *kind, *visitor, *user, *since, *cur[3];
    int64_t limit;
    char cbuf[512], lim[24];
    if (check_status(r, status) || vg_qreq_text(r, "kind", 64, 1, &kind) ||
        vg_qreq_text(r, "visitor_id", VG_ID_MAX, 0, &visitor) ||
        vg_qreq_text(r, "user_id", VG_ID_MAX, 0, &user) ||
        vg_qreq_time(r, "updated_since", &since) ||
        vg_qreq_int(r, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT, &limit) ||
        cursor_get(r, cbuf, sizeof(cbuf), cur))
        return;
    snprintf(lim, sizeof(lim), "%lld", (long long)limit + 1);
    const char *p[10] = {vg_qreq_tenant(r), status, kind, visitor, user, since,
                         cur[0], cur[1], cur[2], lim};
    PGresult *res;
    if (vg_qreq_db(r, VG_SQL_SESSIONS, 10, p, &res))
        return;
    int n = PQntuples(res), shown = n > limit ? (int)limit : n;
    struct vg_buf *b = &r->reply.body;
    struct rec s = {0};
    r->reply.status = 200;
    vg_buf_puts(b, "{\"sessions\":[");
    for (int i = 0; i < shown; i++) {
        if (rec_from_row(r, &s, res, i)) {
            rec_free(&s);
            PQclear(res);
            return;
        }
        if (i)
            vg_buf_putc(b, ',');
        put_session(b, &s);
    }
    vg_buf_puts(b, "],\"next_cursor\":");
    if (n > limit)
        cursor_put(b, PQgetvalue(res, shown - 1, VG_SCOL_COUNT),
                   PQgetvalue(res, shown - 1, VG_SCOL_COUNT + 1),
                   PQgetvalue(res, shown - 1, VG_SCOL_COUNT + 2));
    else
        vg_buf_puts(b, "null");
    vg_buf_putc(b, '}');
    rec_free(&s);
    PQclear(res);
}

void vg_qsession_events(struct vg_qreq *r)
{
    int64_t limit;
    const char *cur[3];
    char cbuf[512], lim[24];
    struct rec s = {0};
    if (target(r) || vg_qreq_int(r, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT, &limit) ||
        cursor_get(r, cbuf, sizeof(cbuf), cur) || load(r, &s, 1)) {
        rec_free(&s);
        return;
    }
    rec_free(&s);
    if (cur[0] && !vg_uuid_valid(cur[1]))
        return (void)vg_qreq_error(r, 400, "invalid_parameter", "cursor",
                                   "cursor must be a next_cursor of an earlier answer");
    snprintf(lim, sizeof(lim), "%lld", (long long)limit + 1);
    const char *p[5] = {r->tenant, r->arg, cur[0], cur[1], lim};
    PGresult *res;
    if (vg_qreq_db(r, VG_SQL_EVENTS, 5, p, &res))
        return;
    int n = PQntuples(res), shown = n > limit ? (int)limit : n;
    struct vg_buf *b = &r->reply.body;
    r->reply.status = 200;
    vg_buf_puts(b, "{\"events\":[");
    for (int i = 0; i < shown; i++) {
        if (i)
            vg_buf_putc(b, ',');
        vg_buf_append(b, PQgetvalue(res, i, 0), (size_t)PQgetlength(res, i, 0));
    }
    vg_buf_puts(b, "],\"next_cursor\":");
    if (n > limit)
        cursor_put(b, PQgetvalue(res, shown - 1, 1), PQgetvalue(res, shown - 1, 2), "-");
    else
        vg_buf_puts(b, "null");
    vg_buf_putc(b, '}');
    PQclear(res);
}
