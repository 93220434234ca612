/*
 * routes.h - one request of vigil-query's API, and the route table.
 *
 * server.c (libmicrohttpd, query.threads threads over epoll) fills a struct vg_qreq
 * for every request and calls vg_qroutes_handle(), which authenticates,
 * validates the parameters, answers from the cache or PostgreSQL and fills
 * r->reply. Handlers live in sessions.c (the session routes), reports.c
 * (stats, status, receipts); this file owns who may read what:
 *
 *   Authorization: Bearer <key>   a tenant key reads its tenant; a key of
 *                                 query.admin_keys_sha256 reads every tenant
 *                                 (?tenant= narrows to one)
 *   Authorization: Session <tok>  (or ?token=) a session token reads its
 *                                 own session, and nothing else
 *
 * Another tenant's session is a 404, never a 403.
 */
#ifndef VG_QROUTES_H
#define VG_QROUTES_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#include "cache.h"
#include "cfgsnap.h"
#include "config.h"
#include "envelope.h"
#include "listener.h"
#include "pipe.h"
#include "pool.h"
#include "util.h"

/* What every request shares, set up once by main.c. */
struct vg_qenv {
    struct vg_cfgsnaps *snaps; /* the configuration, swapped on SIGHUP (r->cfg) */
    const char *worker_group;  /* the settings read at start only */
    int64_t max_staleness_ms;
    struct vg_qpool *pool;
    struct vg_listener *listener;
    struct vg_cache *cache;
    const unsigned char *token_secret; /* NULL: session tokens are refused */
    size_t token_secret_len;
};

enum vg_who { VG_WHO_NONE, VG_WHO_ADMIN, VG_WHO_TENANT, VG_WHO_SESSION };

/* Looks up a request header (query 0) or query argument (query 1); NULL if absent. */
typedef const char *(*vg_qlookup_fn)(void *ctx, int query, const char *name);

struct vg_qreply {
    unsigned status;
    struct vg_buf body;
    const char *content_type;  /* NULL: application/json */
    char etag[24];             /* "\"<16 hex>\"" or empty */
    int retry_after_s;         /* > 0: Retry-After */
    const char *cache_control; /* NULL: no-store */
};

struct vg_qreq {
    const struct vg_qenv *env;
    const struct vg_config *cfg; /* as the request began: tenants, keys, max_wait_ms */
    const char *method;
    const char *path;
    char arg[VG_ID_MAX + 1]; /* the {id} or {receipt} of the path (receipts: see arg_long) */
    char *arg_long;          /* a receipt, malloc'd */
    vg_qlookup_fn lookup;
    void *lookup_ctx;
    const char *route_label; /* for metrics */
    int route_index;         /* for metrics: the route's place in the table, -1 for none */

    /* A long-poll or a receipt wait runs again each time it is woken
     * (wait.h): its deadline is set by the first run; a run that must wait
     * sets suspend, wait_gen (the listener generation its check saw) and
     * wake_ms (when to look again at the latest); no_wait asks for the
     * answer now (the waiters are full, or stopping). */
    int64_t wait_until;
    int suspend;
    uint64_t wait_gen;
    int64_t wake_ms;
    int no_wait;

    /* A read through the pipeline (pipe.h): vg_qreq_db_deferred() fills
     * job and sets defer; the server suspends the connection, queues the
     * job, and runs the request again once it is done (job_state). */
    int can_defer; /* set by the server when it has a pipeline */
    int defer;
    enum { VG_JOB_NONE, VG_JOB_QUEUED, VG_JOB_DONE } job_state;
    struct vg_qpipe_job job;
    char job_args[VG_QPIPE_PARAMS][VG_ID_MAX + 1];
    int64_t job_read_ms;

    enum vg_who who;
    char tenant[VG_TENANT_MAX + 1]; /* the tenant read, "" for an admin over all */
    char session[VG_ID_MAX + 1];    /* VG_WHO_SESSION: the only session it may read */

    struct vg_qreply reply;
};

/* Answers r (its reply filled), or asks to wait (r->suspend). Never fails:
 * every outcome is an answer. May run again on the same r after a wait. */
void vg_qroutes_handle(struct vg_qreq *r);

/* Frees what r holds, not r. */
void vg_qreq_free(struct vg_qreq *r);

/* -- for the handlers ------------------------------------------------------ */

/* Fills r->reply with the JSON error {"error":{"code","message","field"?}}; returns 1. */
int vg_qreq_error(struct vg_qreq *r, unsigned status, const char *code, const char *field,
                  const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* A header or query argument of r; NULL if absent. */
const char *vg_qreq_header(const struct vg_qreq *r, const char *name);
const char *vg_qreq_arg(const struct vg_qreq *r, const char *name);

/*
 * Reads the integer query argument name into *out (def if absent). Returns 0,
 * or 1 with a 400 naming the parameter if it is no integer in [min, max].
 */
int vg_qreq_int(struct vg_qreq *r, const char *name, int64_t def, int64_t min, int64_t max,
                int64_t *out);

/*
 * Reads an optional RFC 3339 query argument into *out (text for SQL, or NULL
 * if absent). Returns 0, or 1 with a 400 naming the parameter.
 */
int vg_qreq_time(struct vg_qreq *r, const char *name, const char **out);

/*
 * Reads an optional query argument into *out (NULL if absent): with name_rule,
 * 1..max characters of [A-Za-z0-9_.:-] (session ids, kinds); else 1..max
 * bytes without control characters (visitor and user ids). Returns 0, or 1
 * with a 400 naming the parameter.
 */
int vg_qreq_text(struct vg_qreq *r, const char *name, size_t max, int name_rule,
                 const char **out);

/*
 * Runs prepared statement name with params on a pooled connection. Returns 0
 * and *res (the caller PQclear()s it), or 1 with r->reply a 503 (database
 * unavailable or busy, with Retry-After) or a 500.
 */
int vg_qreq_db(struct vg_qreq *r, const char *name, int nparams, const char *const *params,
               PGresult **res);

/*
 * As vg_qreq_db(), and *read_ms when the read began (Unix ms), but through
 * the pipeline when the server has one: then the first run returns 2
 * (r->defer set: return without an answer) and the run after the read
 * returns its outcome. nparams <= VG_QPIPE_PARAMS, each shorter than
 * VG_ID_MAX.
 */
int vg_qreq_db_deferred(struct vg_qreq *r, const char *name, int nparams,
                        const char *const *params, PGresult **res, int64_t *read_ms);

/* The tenant to read as SQL text: NULL for an admin reading every tenant. */
const char *vg_qreq_tenant(const struct vg_qreq *r);

/* Handlers: each fills r->reply. */
void vg_qsession_get(struct vg_qreq *r);
void vg_qsession_valid(struct vg_qreq *r);
void vg_qsession_list(struct vg_qreq *r);
void vg_qsession_events(struct vg_qreq *r);
void vg_qreport_stats(struct vg_qreq *r);
void vg_qreport_status(struct vg_qreq *r);
void vg_qreport_receipt(struct vg_qreq *r);

#endif
