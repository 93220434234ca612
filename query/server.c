#include "server.h"

#include <microhttpd.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "log.h"
#include "qstats.h"
#include "wait.h"

#define CONNECTION_TIMEOUT_S 60 /* idle keep-alive */

struct vg_qserver {
    const struct vg_qenv *env;
    struct MHD_Daemon *daemon;
    struct sockaddr_in addr;
    struct vg_qwait *waits;
    struct vg_qpipe *pipe; /* session reads, several to a round trip */
    atomic_int inflight;   /* requests begun and not completed */
};

#define STOP_GRACE_MS 2000 /* for woken waiters to answer at shutdown */

/* One request across the calls libmicrohttpd makes for it (con_cls). */
struct box {
    struct vg_qreq r;
    struct vg_cfgsnap *snap; /* r.cfg, held until the request completes */
    struct MHD_Connection *conn;
    int64_t start_ms;
};

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct vg_qserver *s = cls;
    struct box *b = *con_cls;
    if (b && *con_cls != cls) {
        vg_qreq_free(&b->r);
        vg_cfgsnap_put(s->env->snaps, b->snap);
        free(b);
        atomic_fetch_sub(&s->inflight, 1);
    }
    *con_cls = NULL;
}

static void suspend(void *opaque)
{
    MHD_suspend_connection(((struct box *)opaque)->conn);
}

static void resume(void *opaque)
{
    MHD_resume_connection(((struct box *)opaque)->conn);
}

/* A pipelined read is done (the dispatcher's thread): run the request again. */
static void job_done(void *opaque)
{
    struct box *b = opaque;
    b->r.job_state = VG_JOB_DONE;
    MHD_resume_connection(b->conn);
}

/* Queues the read r deferred; its connection is suspended first, so the
 * resume can never come before it. */
static void defer(struct vg_qserver *s, struct box *b)
{
    b->r.defer = 0;
    b->r.job.done = job_done;
    b->r.job.opaque = b;
    MHD_suspend_connection(b->conn);
    if (vg_qpipe_submit(s->pipe, &b->r.job) == 0)
        return;
    b->r.can_defer = 0; /* stopping: read without the pipeline */
    b->r.job_state = VG_JOB_NONE;
    MHD_resume_connection(b->conn);
}

static int ready(void *opaque, char *reason, size_t reason_size)
{
    const struct vg_qenv *env = opaque;
    if (vg_listener_ready(env->listener))
        return 1;
    snprintf(reason, reason_size, "database unreachable");
    return 0;
}

static const char *lookup(void *ctx, int query, const char *name)
{
    return MHD_lookup_connection_value(ctx, query ? MHD_GET_ARGUMENT_KIND : MHD_HEADER_KIND,
                                       name);
}

static enum MHD_Result send_reply(struct MHD_Connection *conn, const struct vg_qreply *y)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        y->body.len, y->body.data ? y->body.data : (char *)"", MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    if (y->status != 304)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                                y->content_type ? y->content_type : "application/json");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
                            y->cache_control ? y->cache_control : "no-store");
    if (y->etag[0])
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, y->etag);
    if (y->retry_after_s > 0) {
        char ra[16];
        snprintf(ra, sizeof(ra), "%d", y->retry_after_s);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, ra);
    }
    enum MHD_Result rc = MHD_queue_response(conn, y->status, resp);
    MHD_destroy_response(resp);
    return rc;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    struct vg_qserver *s = cls;
    /* The first call brings the headers only; s marks the request until its
     * last call, which answers. An answer queued on the first call makes
     * libmicrohttpd (0.9.7x) discard the rest of the connection's input and
     * close it after the reply: every request would cost a new connection.
     * A body (none is expected) is read and dropped before answering. */
    if (*con_cls == NULL) {
        *con_cls = s;
        return MHD_YES;
    }
    if (*upload_data_size) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (!strcmp(url, "/metrics")) {
        int open, busy;
        vg_qpool_counts(s->env->pool, &open, &busy);
        vg_gauge_set(vg_qstats.pool_open, open);
        vg_gauge_set(vg_qstats.pool_busy, busy);
    }
    int rc = vg_http_serve_common(conn, method, url, ready, (void *)s->env);
    if (rc >= 0)
        return rc ? MHD_YES : MHD_NO;

    struct box *b = *con_cls != s ? *con_cls : NULL;
    if (!b) {
        b = vg_xcalloc(1, sizeof(*b));
        atomic_fetch_add(&s->inflight, 1);
        b->conn = conn;
        b->start_ms = vg_mono_ms();
        b->snap = vg_cfgsnap_get(s->env->snaps);
        b->r = (struct vg_qreq){.env = s->env, .cfg = b->snap->cfg, .method = method,
                                .path = url, .lookup = lookup, .lookup_ctx = conn,
                                .can_defer = 1};
        *con_cls = b;
    }
    struct vg_qreq *r = &b->r;
    vg_qroutes_handle(r);
    if (r->defer) {
        defer(s, b);
        return MHD_YES; /* run again when the read is done */
    }
    if (r->suspend) {
        if (vg_qwait_add(s->waits, r->wait_gen, r->wake_ms, suspend, resume, b) == 0)
            return MHD_YES; /* run again when woken */
        r->no_wait = 1;
        vg_qroutes_handle(r);
    }
    enum MHD_Result res = send_reply(conn, &r->reply);
    vg_qstats_answer(r->route_index, r->route_label, r->reply.status,
                     (double)(vg_mono_ms() - b->start_ms) / 1000.0);
    return res;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[256];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    vg_debug("http: %s", msg);
}

struct vg_qserver *vg_qserver_start(const struct vg_qenv *env, const struct vg_config *cfg,
                                    char *errstr, size_t errstr_size)
{
    struct vg_qserver *s = vg_xcalloc(1, sizeof(*s));
    s->env = env;
    if (vg_http_sockaddr(cfg->query_listen, (int)cfg->query_port, &s->addr)) {
        snprintf(errstr, errstr_size, "query.listen: not an IPv4 address: %s", cfg->query_listen);
        free(s);
        return NULL;
    }
    s->waits = vg_qwait_start(env->listener, (size_t)cfg->query_connection_limit);
    s->pipe = vg_qpipe_start(env->pool, (int)cfg->query_threads);
    unsigned threads = (unsigned)cfg->query_threads;
    s->daemon = MHD_start_daemon(
        MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG,
        (uint16_t)cfg->query_port, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_log,
        NULL, MHD_OPTION_SOCK_ADDR, &s->addr, MHD_OPTION_LISTENING_ADDRESS_REUSE, 1U,
        MHD_OPTION_THREAD_POOL_SIZE, threads > 1 ? threads : 0U, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)cfg->query_connection_limit, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)CONNECTION_TIMEOUT_S, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
        MHD_OPTION_END);
    if (!s->daemon) {
        snprintf(errstr, errstr_size, "cannot listen on %s:%lld (port in use?)", cfg->query_listen,
                 (long long)cfg->query_port);
        vg_qwait_free(s->waits);
        vg_qpipe_stop(s->pipe);
        vg_qpipe_free(s->pipe);
        free(s);
        return NULL;
    }
    return s;
}

int vg_qserver_port(struct vg_qserver *s)
{
    const union MHD_DaemonInfo *i = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    return i ? i->port : -1;
}

void vg_qserver_stop(struct vg_qserver *s)
{
    if (!s)
        return;
    /* Waiting requests answer first (woken, they find no more waiting and
     * answer now): a suspended connection would hold the daemon's stop. */
    vg_qwait_stop(s->waits);
    for (int64_t end = vg_mono_ms() + STOP_GRACE_MS;
         atomic_load(&s->inflight) > 0 && vg_mono_ms() < end;)
        vg_sleep_ms(10, NULL);
    /* Reads still queued run and resume their connections while the daemon
     * runs; later ones are read without the pipeline. */
    vg_qpipe_stop(s->pipe);
    MHD_stop_daemon(s->daemon);
    vg_qpipe_free(s->pipe);
    vg_qwait_free(s->waits);
    free(s);
}
