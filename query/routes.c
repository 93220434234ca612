#include "routes.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "crypto.h"
#include "dashboard.h"
#include "log.h"
#include "policy.h"
#include "qstats.h"
#include "receipt.h"
#include "token.h"

#define RETRY_DB_S 1

/* Who may call a route: everyone (no credentials), or any credential, or
 * keys only (tenant or admin: no session token). */
enum access { OPEN, ANY, KEYS };

struct route {
    const char *prefix; /* the path up to {arg}, or the whole path */
    const char *suffix; /* after {arg}; NULL: no {arg} */
    const char *label;
    enum access access;
    void (*handle)(struct vg_qreq *r);
};

static void get_dashboard(struct vg_qreq *r);

static const struct route routes[] = {
    {"/v1/sessions/", "/valid", "/v1/sessions/{id}/valid", ANY, vg_qsession_valid},
    {"/v1/sessions/", "/events", "/v1/sessions/{id}/events", ANY, vg_qsession_events},
    {"/v1/sessions/", "", "/v1/sessions/{id}", ANY, vg_qsession_get},
    {"/v1/sessions", NULL, "/v1/sessions", KEYS, vg_qsession_list},
    {"/v1/stats", NULL, "/v1/stats", KEYS, vg_qreport_stats},
    {"/v1/status", NULL, "/v1/status", KEYS, vg_qreport_status},
    {"/v1/receipts/", "", "/v1/receipts/{receipt}", ANY, vg_qreport_receipt},
    {"/", NULL, "/", OPEN, get_dashboard},
};

/* -- answers --------------------------------------------------------------- */

int vg_qreq_error(struct vg_qreq *r, unsigned status, const char *code, const char *field,
                  const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    struct vg_qreply *y = &r->reply;
    y->status = status;
    y->content_type = NULL;
    y->etag[0] = '\0';
    vg_buf_reset(&y->body);
    vg_buf_printf(&y->body, "{\"error\":{\"code\":\"%s\",\"message\":", code);
    vg_buf_json_str(&y->body, msg, strlen(msg));
    if (field) {
        vg_buf_puts(&y->body, ",\"field\":");
        vg_buf_json_str(&y->body, field, strlen(field));
    }
    vg_buf_puts(&y->body, "}}");
    return 1;
}

const char *vg_qreq_header(const struct vg_qreq *r, const char *name)
{
    return r->lookup(r->lookup_ctx, 0, name);
}

const char *vg_qreq_arg(const struct vg_qreq *r, const char *name)
{
    return r->lookup(r->lookup_ctx, 1, name);
}

int vg_qreq_int(struct vg_qreq *r, const char *name, int64_t def, int64_t min, int64_t max,
                int64_t *out)
{
    const char *v = vg_qreq_arg(r, name);
    *out = def;
    if (!v)
        return 0;
    if (vg_parse_int64(v, min, max, out))
        return vg_qreq_error(r, 400, "invalid_parameter", name,
                             "%s must be an integer from %lld to %lld", name, (long long)min,
                             (long long)max);
    return 0;
}

int vg_qreq_time(struct vg_qreq *r, const char *name, const char **out)
{
    int64_t us;
    *out = vg_qreq_arg(r, name);
    if (*out && vg_time_parse(*out, &us))
        return vg_qreq_error(r, 400, "invalid_parameter", name,
                             "%s must be an RFC 3339 time with an offset", name);
    return 0;
}

int vg_qreq_text(struct vg_qreq *r, const char *name, size_t max, int name_rule,
                 const char **out)
{
    *out = vg_qreq_arg(r, name);
    if (!*out)
        return 0;
    size_t n = strlen(*out);
    int ok = name_rule ? vg_check_name(*out, n, max, 1) : vg_check_text(*out, n, max);
    if (!ok)
        return vg_qreq_error(r, 400, "invalid_parameter", name,
                             name_rule ? "%s must be 1 to %zu characters of [A-Za-z0-9_.:-]"
                                       : "%s must be 1 to %zu bytes without control characters",
                             name, max);
    return 0;
}

/* A failed statement's answer: 503 for unavailable or busy, else 500. Returns 1. */
static int db_failed(struct vg_qreq *r, const char *name, int rc, const char *err)
{
    vg_counter_add(vg_qstats.db_errors, 1);
    if (rc == VG_ETRANSIENT || rc == VG_ETIMEOUT) {
        vg_debug("%s: database unavailable: %s", r->route_label, err);
        vg_qreq_error(r, 503, "database_unavailable", NULL, "the database is unavailable or busy");
        r->reply.retry_after_s = RETRY_DB_S;
        return 1;
    }
    vg_error("%s: statement %s failed: %s", r->route_label, name, err);
    return vg_qreq_error(r, 500, "internal", NULL, "the query failed");
}

int vg_qreq_db(struct vg_qreq *r, const char *name, int nparams, const char *const *params,
               PGresult **res)
{
    char err[512];
    PGconn *conn;
    int rc = vg_qpool_take(r->env->pool, &conn, err, sizeof(err));
    if (rc == 0) {
        rc = vg_qpool_exec(conn, name, nparams, params, res, err, sizeof(err));
        vg_qpool_give(r->env->pool, conn, rc == VG_ETRANSIENT);
    }
    return rc == 0 ? 0 : db_failed(r, name, rc, err);
}

int vg_qreq_db_deferred(struct vg_qreq *r, const char *name, int nparams,
                        const char *const *params, PGresult **res, int64_t *read_ms)
{
    if (r->job_state == VG_JOB_DONE) {
        r->job_state = VG_JOB_NONE;
        *read_ms = r->job_read_ms;
        *res = r->job.res;
        r->job.res = NULL;
        return r->job.rc == 0 ? 0 : db_failed(r, name, r->job.rc, r->job.err);
    }
    if (!r->can_defer || nparams > VG_QPIPE_PARAMS) {
        *read_ms = vg_now_ms();
        return vg_qreq_db(r, name, nparams, params, res);
    }
    r->job = (struct vg_qpipe_job){.stmt = name, .nparams = nparams};
    for (int i = 0; i < nparams; i++) {
        snprintf(r->job_args[i], sizeof(r->job_args[i]), "%s", params[i]);
        r->job.params[i] = r->job_args[i];
    }
    r->job_read_ms = vg_now_ms();
    r->job_state = VG_JOB_QUEUED;
    r->defer = 1;
    return 2;
}

const char *vg_qreq_tenant(const struct vg_qreq *r)
{
    return r->tenant[0] ? r->tenant : NULL;
}

/* -- who asks -------------------------------------------------------------- */

static int is_admin(const struct vg_config *cfg, const char *key, size_t len)
{
    unsigned char h[VG_SHA256_LEN];
    vg_sha256(key, len, h);
    int found = 0;
    for (size_t i = 0; i < cfg->query_admin_keys.n; i++)
        found |= vg_equal_ct(h, cfg->query_admin_keys.sha256[i], VG_SHA256_LEN);
    return found;
}

static int authenticate(struct vg_qreq *r)
{
    const struct vg_qenv *e = r->env;
    const char *auth = vg_qreq_header(r, "Authorization");
    const char *token = vg_qreq_arg(r, "token");
    if (auth && !strncasecmp(auth, "Bearer ", 7)) {
        const char *key = auth + 7;
        size_t len = strlen(key);
        if (is_admin(r->cfg, key, len)) {
            r->who = VG_WHO_ADMIN;
            return 0;
        }
        /* Secret keys only: a publishable key (it sits in a page) never reads. */
        const struct vg_tenant *t = vg_policy_tenant_by_key(r->cfg, key, len, NULL);
        if (t) {
            r->who = VG_WHO_TENANT;
            snprintf(r->tenant, sizeof(r->tenant), "%s", t->id);
            return 0;
        }
        return vg_qreq_error(r, 401, "unauthorized", NULL, "unknown key");
    }
    if (auth && !strncasecmp(auth, "Session ", 8))
        token = auth + 8;
    else if (auth)
        return vg_qreq_error(r, 401, "unauthorized", NULL,
                             "Authorization must be \"Bearer <key>\" or \"Session <token>\"");
    if (!token)
        return vg_qreq_error(r, 401, "unauthorized", NULL, "no credentials");
    struct vg_token t;
    if (!e->token_secret || vg_token_verify(e->token_secret, e->token_secret_len, token,
                                            strlen(token), vg_now_ms() / 1000, &t))
        return vg_qreq_error(r, 401, "unauthorized", NULL, "invalid or expired session token");
    if (t.kind != VG_TOKEN_SESSION) /* a link token opens its tracking link, nothing else */
        return vg_qreq_error(r, 401, "unauthorized", NULL,
                             "a link token opens its tracking link only: use the session token");
    r->who = VG_WHO_SESSION;
    snprintf(r->tenant, sizeof(r->tenant), "%s", t.tenant);
    snprintf(r->session, sizeof(r->session), "%s", t.session_id);
    return 0;
}

/* ?tenant=: an admin narrows to one tenant; anyone else may only name their own. */
static int choose_tenant(struct vg_qreq *r)
{
    const char *t = vg_qreq_arg(r, "tenant");
    if (!t)
        return 0;
    if (!vg_check_tenant(t, strlen(t)))
        return vg_qreq_error(r, 400, "invalid_parameter", "tenant",
                             "tenant must match [a-z0-9_-]{1,64}");
    if (r->who == VG_WHO_ADMIN)
        snprintf(r->tenant, sizeof(r->tenant), "%s", t);
    else if (strcmp(t, r->tenant))
        return vg_qreq_error(r, 404, "not_found", NULL, "no such tenant");
    return 0;
}

/* -- the table ------------------------------------------------------------- */

/* Matches path against rt; copies the {arg} (never empty, never holding '/'). */
static int match(struct vg_qreq *r, const struct route *rt)
{
    size_t pl = strlen(rt->prefix);
    if (!rt->suffix)
        return !strcmp(r->path, rt->prefix);
    if (strncmp(r->path, rt->prefix, pl))
        return 0;
    const char *arg = r->path + pl;
    size_t sl = strlen(rt->suffix), al = strlen(arg);
    if (al <= sl || strcmp(arg + al - sl, rt->suffix))
        return 0;
    al -= sl;
    if (memchr(arg, '/', al))
        return 0;
    if (rt->handle == vg_qreport_receipt) {
        r->arg_long = vg_xstrndup(arg, al);
        return 1;
    }
    if (al >= sizeof(r->arg) || !vg_check_name(arg, al, VG_ID_MAX, 1)) {
        vg_qreq_error(r, 400, "invalid_parameter", "id",
                      "a session id is 1 to 128 characters of [A-Za-z0-9_.:-]");
        return -1;
    }
    memcpy(r->arg, arg, al);
    r->arg[al] = '\0';
    return 1;
}

void vg_qroutes_handle(struct vg_qreq *r)
{
    const struct route *rt = NULL;
    r->route_label = "other";
    r->route_index = -1;
    r->suspend = 0;
    r->defer = 0;
    r->who = VG_WHO_NONE;
    r->tenant[0] = r->session[0] = '\0';
    free(r->arg_long);
    r->arg_long = NULL;
    vg_buf_reset(&r->reply.body);
    r->reply.status = 0;
    r->reply.content_type = NULL;
    r->reply.etag[0] = '\0';
    r->reply.retry_after_s = 0;
    r->reply.cache_control = NULL;
    for (size_t i = 0; i < VG_ARRAY_LEN(routes) && !rt; i++) {
        int m = match(r, &routes[i]);
        if (m < 0)
            return;
        if (m) {
            rt = &routes[i];
            r->route_index = (int)i;
        }
    }
    if (!rt) {
        vg_qreq_error(r, 404, "not_found", NULL, "no such route");
        return;
    }
    r->route_label = rt->label;
    if (strcmp(r->method, "GET") && strcmp(r->method, "HEAD")) {
        vg_qreq_error(r, 405, "method_not_allowed", NULL, "only GET is served here");
        return;
    }
    if (rt->access != OPEN && authenticate(r))
        return;
    if (rt->access == KEYS && r->who == VG_WHO_SESSION) {
        vg_qreq_error(r, 403, "forbidden", NULL, "a session token reads its own session only");
        return;
    }
    if (rt->access != OPEN && choose_tenant(r))
        return;
    rt->handle(r);
}

void vg_qreq_free(struct vg_qreq *r)
{
    PQclear(r->job.res); /* a read done for a client that left */
    free(r->arg_long);
    vg_buf_free(&r->reply.body);
}

static void get_dashboard(struct vg_qreq *r)
{
    r->reply.status = 200;
    r->reply.content_type = "text/html; charset=utf-8";
    r->reply.cache_control = "no-cache";
    vg_buf_append(&r->reply.body, vg_dashboard_html, vg_dashboard_html_len);
}
