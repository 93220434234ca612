#include "server.h"

#include <assert.h>
#include <arpa/inet.h>
#include <microhttpd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cfgsnap.h"
#include "deadline.h"
#include "http.h"
#include "limits.h"
#include "log.h"
#include "ratelimit.h"
#include "request.h"
#include "routes.h"
#include "stats.h"
#include "util.h"

/* A body this far past the cap is not drained any longer: the connection is cut. */
#define DRAIN_MAX_BYTES (1 << 20)

struct vg_server {
    struct MHD_Daemon *daemon;
    struct vg_deadlines *deadlines; /* of requests on their way in */
    int64_t request_ms;             /* producer.connection_timeout_s: a request's whole time in */
    int64_t header_ms;              /* producer.header_timeout_s: a connection's headers in */
    struct vg_limits *limits;       /* per-client rates and the in-flight body bytes */
    atomic_int connections;         /* open, for producer.connection_limit */
    int64_t per_address;            /* producer.per_address_connection_limit */
    struct vg_http *internal;       /* producer.metrics_port: /metrics, /healthz, /readyz */
    struct vg_routes_env env;
    unsigned char *secret;
    size_t max_body;
    struct vg_cidr *trusted; /* env.trusted_proxies, owned */

    struct vg_cfgsnaps *snaps; /* SIGHUP swaps the configuration */

    atomic_int inflight;
    atomic_int stopping;
};

void vg_server_set_config(struct vg_server *s, const struct vg_config *cfg,
                          struct vg_config *old)
{
    vg_cfgsnaps_set(s->snaps, cfg, old);
}

/* -- requests ------------------------------------------------------------ */

enum phase { PHASE_BODY, PHASE_REFUSED, PHASE_WAITING, PHASE_DONE };

/* What the server keeps of a request besides struct vg_req. */
struct req_box {
    struct vg_req r;
    struct vg_server *srv;
    struct vg_cfgsnap *snap; /* r.cfg */
    struct MHD_Connection *conn;
    enum phase phase;
    size_t body_seen; /* bytes received, kept in r.body or not */
    size_t reserved;  /* of producer.inflight_body_bytes (limits.h) */
};

/* vg_req_init() reads the request through this (see vg_req_lookup_fn). */
static const char *lookup(void *conn, int query, const char *name)
{
    return MHD_lookup_connection_value(conn, query ? MHD_GET_ARGUMENT_KIND : MHD_HEADER_KIND,
                                       name);
}

/* The connection's address as text into out ("" if unknown). */
static void peer_text(struct MHD_Connection *conn, char out[VG_ADDR_MAX])
{
    const union MHD_ConnectionInfo *i =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = i ? i->client_addr : NULL;
    out[0] = '\0';
    if (sa && sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out,
                  VG_ADDR_MAX);
    else if (sa && sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, out,
                  VG_ADDR_MAX);
}

static struct req_box *req_new(struct vg_server *s, struct MHD_Connection *conn, const char *url,
                               const char *method)
{
    struct req_box *b = vg_xcalloc(1, sizeof(*b));
    b->srv = s;
    b->snap = vg_cfgsnap_get(s->snaps);
    b->conn = conn;
    b->phase = PHASE_BODY;
    vg_req_init(&b->r, &s->env, b->snap->cfg, method, url, lookup, conn);
    char peer[VG_ADDR_MAX];
    peer_text(conn, peer);
    vg_req_set_peer(&b->r, peer);
    atomic_fetch_add(&s->inflight, 1);
    vg_gauge_add(vg_stats.inflight, 1);
    return b;
}

static void req_free(struct req_box *b)
{
    /* Only reached when no wake is armed: a suspended connection never completes. */
    vg_req_free(&b->r);
    vg_limits_release(b->srv->limits, b->reserved);
    vg_cfgsnap_put(b->srv->snaps, b->snap);
    atomic_fetch_sub(&b->srv->inflight, 1);
    vg_gauge_add(vg_stats.inflight, -1);
    free(b);
}

/* -- request deadlines (see deadline.h) ---------------------------------- */

/* Arms (at_ms) or disarms (0) the deadline of conn's next or current request. */
static void deadline_set(struct vg_server *s, struct MHD_Connection *conn, int64_t at_ms)
{
    const union MHD_ConnectionInfo *i =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    if (i && i->socket_context)
        vg_deadline_set(s->deadlines, i->socket_context, at_ms);
}

/* The client's IPv4 address in network order (0 if none). */
static uint32_t client_ipv4(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *i =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!i || !i->client_addr || i->client_addr->sa_family != AF_INET)
        return 0;
    return ((const struct sockaddr_in *)i->client_addr)->sin_addr.s_addr;
}

/* A connection's first header block must be in within header_ms of the
 * accept (then its body within request_ms); one past
 * producer.per_address_connection_limit is shut at once. libmicrohttpd
 * notifies the close before it closes the socket. */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    struct vg_server *s = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *i =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (i)
            *socket_context =
                vg_deadline_add(s->deadlines, i->connect_fd, vg_mono_ms() + s->header_ms);
        atomic_fetch_add(&s->connections, 1);
        if (vg_limits_connection_opened(s->limits, s->per_address, client_ipv4(conn)) && i)
            shutdown(i->connect_fd, SHUT_RDWR); /* libmicrohttpd closes it; never close(2) */
    } else if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
        vg_limits_connection_closed(s->limits, client_ipv4(conn));
        atomic_fetch_sub(&s->connections, 1);
        vg_deadline_remove(s->deadlines, *socket_context);
        *socket_context = NULL;
    }
}

/* A request is over: the next one on this connection must be in within
 * request_ms (as long as libmicrohttpd lets a connection stay idle). */
static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct vg_server *s = cls;
    if (*con_cls)
        req_free(*con_cls);
    *con_cls = NULL;
    deadline_set(s, conn, vg_mono_ms() + s->request_ms);
}

static void add_header(void *resp, const char *name, const char *value)
{
    MHD_add_response_header(resp, name, value);
}

/* Queues r->reply with its headers and counts it. */
static enum MHD_Result send_reply(struct req_box *b)
{
    struct vg_req *r = &b->r;
    struct vg_reply *y = &r->reply;
    b->phase = PHASE_DONE;
    if (atomic_load(&b->srv->stopping))
        y->close = 1;
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        y->body.len, y->body.data ? y->body.data : "", MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    vg_req_reply_headers(r, add_header, resp);
    enum MHD_Result rc = MHD_queue_response(b->conn, y->status, resp);
    MHD_destroy_response(resp);

    char num[16];
    snprintf(num, sizeof(num), "%u", y->status);
    const char *label = vg_req_label(r->route);
    vg_counter_add(vg_metric_series(vg_stats.http_requests, label, num), 1);
    vg_histogram_observe(vg_metric_series(vg_stats.http_seconds, label),
                         (double)(vg_mono_ms() - r->start_ms) / 1000.0);
    return rc;
}

static int ready_cb(void *opaque, char *reason, size_t reason_size)
{
    struct req_box *b = opaque;
    if (atomic_load(&b->srv->stopping)) {
        snprintf(reason, reason_size, "shutting down");
        b->r.reply.status = 503;
        return 0;
    }
    int ok = vg_kout_ready(b->srv->env.kout, reason, reason_size);
    b->r.reply.status = ok ? 200 : 503;
    return ok;
}

static enum MHD_Result serve_health(struct req_box *b, const char *url)
{
    struct vg_req *r = &b->r;
    r->reply.status = 200;
    int rc = vg_http_serve_common(b->conn, r->method, url, ready_cb, b);
    b->phase = PHASE_DONE;
    char num[16];
    if (strcmp(r->method, "GET") && strcmp(r->method, "HEAD"))
        r->reply.status = 405;
    snprintf(num, sizeof(num), "%u", r->reply.status);
    vg_counter_add(vg_metric_series(vg_stats.http_requests, vg_req_label(r->route), num), 1);
    return rc > 0 ? MHD_YES : MHD_NO;
}

/* kafka_out.c calls these under its lock; see vg_delivery_wait(). */
static void arm_suspend(void *opaque)
{
    struct req_box *b = opaque;
    MHD_suspend_connection(b->conn);
}

static void wake_resume(void *opaque)
{
    struct req_box *b = opaque;
    MHD_resume_connection(b->conn);
}

/* What the header block says about where the body ends. */
struct framing {
    int content_length;    /* Content-Length fields */
    int transfer_encoding; /* Transfer-Encoding fields */
    int not_chunked;       /* a Transfer-Encoding other than exactly "chunked" */
    int bad_name;          /* whitespace inside a field name ("Content-Length :") */
};

static enum MHD_Result framing_add(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    struct framing *f = cls;
    if (strpbrk(key, " \t"))
        f->bad_name = 1;
    else if (!strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH))
        f->content_length++;
    else if (!strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING))
        f->not_chunked |= f->transfer_encoding++ > 0 || !value || strcasecmp(value, "chunked");
    return MHD_YES;
}

/*
 * Why the end of the body is ambiguous, or NULL. A proxy in front may read
 * such a request differently from libmicrohttpd (which takes the first
 * Content-Length, lets chunked override it, and reads an unknown coding to
 * the end of the connection): the rest of the stream would then be another
 * request to one of them and not the other. RFC 9112 sections 5.1 and 6.3:
 * refuse with 400 and close.
 */
static const char *framing_fault(struct MHD_Connection *conn)
{
    struct framing f = {0};
    MHD_get_connection_values(conn, MHD_HEADER_KIND, framing_add, &f);
    if (f.bad_name)
        return "whitespace in a header field name";
    if (f.content_length > 1)
        return "more than one Content-Length";
    if (f.transfer_encoding && f.content_length)
        return "Content-Length and Transfer-Encoding together";
    if (f.not_chunked)
        return "Transfer-Encoding other than a single chunked";
    return NULL;
}

/* /healthz and /readyz: common/http.h answers them, not routes.c. /metrics
 * names the tenants: it is served on the internal listener only. */
static int is_health(enum vg_route route)
{
    return route == VG_ROUTE_HEALTHZ || route == VG_ROUTE_READYZ;
}

/* The internal listener's readiness: the same as /readyz on the API port. */
static int internal_ready(void *opaque, char *reason, size_t reason_size)
{
    struct vg_server *s = opaque;
    if (atomic_load(&s->stopping)) {
        snprintf(reason, reason_size, "shutting down");
        return 0;
    }
    return vg_kout_ready(s->env.kout, reason, reason_size);
}

static void refuse_too_large(struct vg_req *r)
{
    vg_req_refuse(r, 413, "body_too_large", NULL, 0, "the body exceeds producer.max_body_bytes");
}

/* The client's address as text, for its rate (limits.h). */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    struct vg_server *s = cls;
    struct req_box *b = *con_cls;

    if (!b) { /* headers only */
        b = req_new(s, conn, url, method);
        *con_cls = b;
        struct vg_req *r = &b->r;
        const char *ambiguous = framing_fault(conn);
        if (ambiguous) {
            vg_req_refuse(r, 400, "ambiguous_framing", NULL, 0, "%s", ambiguous);
            r->reply.close = 1;
            b->phase = PHASE_REFUSED;
            return send_reply(b); /* now: the body, whatever it is, is not read */
        }
        if (is_health(r->route))
            return MHD_YES; /* answered on the last call, which keeps the connection */
        deadline_set(s, conn, vg_mono_ms() + s->request_ms); /* headers in: now the body */
        if (r->route == VG_ROUTE_METRICS)
            vg_req_refuse(r, 404, "not_found", NULL, 0,
                          "/metrics is served on producer.metrics_port, not on the API port");
        else if (atomic_load(&s->stopping))
            vg_req_refuse(r, 503, "shutting_down", NULL, 1, "the producer is shutting down");
        else if (vg_limits_admit_connection(r, atomic_load(&s->connections)) ||
                 vg_limits_admit_address(s->limits, r))
            ; /* refused before anything else is looked at */
        else if (!vg_routes_begin(r) && r->head.body_length > (int64_t)s->max_body)
            refuse_too_large(r);
        else if (!r->reply.status && !vg_limits_admit_body(s->limits, r, &b->reserved))
            return MHD_YES; /* read the body */
        /* Refused. With a body on its way, answer now (libmicrohttpd then
         * closes rather than read it); without, on the last call. */
        b->phase = PHASE_REFUSED;
        return r->head.body_length ? send_reply(b) : MHD_YES;
    }

    struct vg_req *r = &b->r;
    if (!*upload_size)
        deadline_set(s, conn, 0); /* all in: waiting for Kafka is not the client's time */
    if (is_health(r->route)) {
        *upload_size = 0;
        return b->phase == PHASE_DONE ? MHD_YES : serve_health(b, url);
    }
    switch (b->phase) {
    case PHASE_REFUSED:
        if (*upload_size) {
            *upload_size = 0;
            return MHD_YES;
        }
        return send_reply(b);
    case PHASE_BODY:
        if (*upload_size) {
            b->body_seen += *upload_size;
            if (b->body_seen <= s->max_body)
                vg_buf_append(&r->body, upload, *upload_size);
            else if (b->body_seen > s->max_body + DRAIN_MAX_BYTES)
                return MHD_NO; /* drained enough of it: cut the connection */
            *upload_size = 0;
            return MHD_YES;
        }
        if (b->body_seen > s->max_body) {
            refuse_too_large(r);
            return send_reply(b);
        }
        if (vg_routes_finish(r))
            return send_reply(b);
        b->phase = PHASE_WAITING;
        if (vg_delivery_wait(r->dl, arm_suspend, wake_resume, b))
            break; /* settled already */
        return MHD_YES; /* suspended until wake_resume() */
    case PHASE_WAITING:
        break;
    case PHASE_DONE:
        *upload_size = 0;
        return MHD_YES;
    }
    vg_routes_delivered(r);
    return send_reply(b);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n && msg[n - 1] == '\n')
        msg[--n] = '\0';
    vg_warn("http: %s", msg);
}

/* -- life cycle ---------------------------------------------------------- */

struct vg_server *vg_server_start(const struct vg_config *cfg, struct vg_kout *kout,
                                  char *errstr, size_t errstr_size)
{
    struct sockaddr_in addr;
    if (vg_http_sockaddr(cfg->producer_listen, (int)cfg->producer_port, &addr)) {
        snprintf(errstr, errstr_size, "bad producer.listen \"%s\" (an IPv4 address)",
                 cfg->producer_listen);
        return NULL;
    }
    struct vg_cidr *trusted;
    size_t ntrusted;
    char why[256];
    if (vg_cidr_parse_list(cfg->producer_trusted_proxies, &trusted, &ntrusted, why,
                           sizeof(why))) {
        snprintf(errstr, errstr_size, "bad producer.trusted_proxies: %s", why);
        return NULL;
    }
    struct vg_server *s = vg_xcalloc(1, sizeof(*s));
    s->trusted = trusted;
    s->env.trusted_proxies = trusted;
    s->env.ntrusted_proxies = ntrusted;
    s->snaps = vg_cfgsnaps_new(cfg);
    s->max_body = (size_t)cfg->producer_max_body_bytes;
    s->request_ms = cfg->producer_connection_timeout_s * 1000;
    s->header_ms = VG_MIN(cfg->producer_header_timeout_s, cfg->producer_connection_timeout_s) * 1000;
    s->limits = vg_limits_new(cfg);
    s->env.limits = s->limits;
    s->per_address = cfg->producer_per_address_connection_limit;
    atomic_init(&s->connections, 0);
    s->deadlines = vg_deadlines_start(250);
    s->env.kout = kout;
    s->env.max_body_bytes = s->max_body;
    s->env.max_event_bytes = (size_t)cfg->producer_max_event_bytes;
    s->env.max_batch_events = (size_t)cfg->producer_max_batch_events;
    s->env.ack_timeout_ms = cfg->producer_ack_timeout_ms;
    s->env.token_ttl_s = cfg->producer_token_ttl_s;
    s->env.rl = vg_ratelimit_new();
    /* main() refused to start without a usable one (vg_config_require_secrets):
     * every replica signs with the same key, so any of them checks a token. */
    assert(cfg->token_secret && *cfg->token_secret);
    s->env.token_secret_len = strlen(cfg->token_secret);
    s->secret = (unsigned char *)vg_xstrdup(cfg->token_secret);
    s->env.token_secret = s->secret;

    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    unsigned threads = (unsigned)cfg->producer_threads;
    s->daemon = MHD_start_daemon(
        flags, (uint16_t)cfg->producer_port, NULL, NULL, on_request, s,
        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_SOCK_ADDR, &addr,
        MHD_OPTION_LISTENING_ADDRESS_REUSE, 1U, MHD_OPTION_THREAD_POOL_SIZE,
        threads > 1 ? threads : 0U, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)(cfg->producer_connection_limit + VG_LIMITS_CONNECTION_SLACK),
        MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)cfg->producer_connection_timeout_s, MHD_OPTION_NOTIFY_COMPLETED, on_completed,
        s, MHD_OPTION_NOTIFY_CONNECTION, on_connection, s, MHD_OPTION_END);
    if (!s->daemon) {
        snprintf(errstr, errstr_size, "cannot listen on %s:%lld (port in use?)",
                 cfg->producer_listen, (long long)cfg->producer_port);
        vg_server_stop(s);
        return NULL;
    }
    s->internal = vg_http_start(cfg->producer_metrics_listen, (int)cfg->producer_metrics_port,
                                internal_ready, s, why, sizeof(why));
    if (!s->internal) {
        snprintf(errstr, errstr_size, "internal listener (producer.metrics_listen, "
                                      "producer.metrics_port): %s", why);
        vg_server_stop(s);
        return NULL;
    }
    return s;
}

int vg_server_port(struct vg_server *s)
{
    const union MHD_DaemonInfo *i = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    return i ? i->port : -1;
}

void vg_server_quiesce(struct vg_server *s)
{
    atomic_store(&s->stopping, 1);
    MHD_socket fd = MHD_quiesce_daemon(s->daemon);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
}

int vg_server_drain(struct vg_server *s, int64_t deadline_ms)
{
    int n;
    while ((n = atomic_load(&s->inflight)) > 0 && vg_mono_ms() < deadline_ms)
        vg_sleep_ms(10, NULL);
    return n;
}

void vg_server_stop(struct vg_server *s)
{
    if (!s)
        return;
    vg_http_stop(s->internal);
    if (s->daemon)
        MHD_stop_daemon(s->daemon); /* closes every connection: none left registered */
    vg_deadlines_stop(s->deadlines);
    vg_ratelimit_free(s->env.rl);
    vg_limits_free(s->limits);
    if (s->secret) {
        memset(s->secret, 0, s->env.token_secret_len);
        free(s->secret);
    }
    vg_cfgsnaps_free(s->snaps);
    free(s->trusted);
    free(s);
}
