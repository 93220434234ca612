#include "http.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "util.h"

struct vg_http {
    struct MHD_Daemon *daemon;
    vg_ready_fn ready;
    void *opaque;
    struct sockaddr_in addr;
};

int vg_http_respond(struct MHD_Connection *conn, unsigned status, const char *content_type,
                    const char *body, size_t len)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    if (content_type)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    enum MHD_Result rc = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return rc;
}

int vg_http_serve_common(struct MHD_Connection *conn, const char *method, const char *url,
                         vg_ready_fn ready, void *opaque)
{
    int get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
    if (!strcmp(url, "/healthz")) {
        if (!get)
            return vg_http_respond(conn, 405, "text/plain", "method not allowed\n", 19);
        return vg_http_respond(conn, 200, "text/plain", "ok\n", 3);
    }
    if (!strcmp(url, "/readyz")) {
        if (!get)
            return vg_http_respond(conn, 405, "text/plain", "method not allowed\n", 19);
        char reason[256] = "not ready";
        if (!ready || ready(opaque, reason, sizeof(reason)))
            return vg_http_respond(conn, 200, "text/plain", "ready\n", 6);
        struct vg_buf b = {0};
        vg_buf_printf(&b, "%s\n", reason);
        int rc = vg_http_respond(conn, 503, "text/plain", b.data, b.len);
        vg_buf_free(&b);
        return rc;
    }
    if (!strcmp(url, "/metrics")) {
        if (!get)
            return vg_http_respond(conn, 405, "text/plain", "method not allowed\n", 19);
        struct vg_buf b = {0};
        vg_metrics_render(&b);
        vg_metrics_render_process(&b);
        int rc = vg_http_respond(conn, 200, "text/plain; version=0.0.4; charset=utf-8",
                                 b.data ? b.data : "", b.len);
        vg_buf_free(&b);
        return rc;
    }
    return -1;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **req)
{
    struct vg_http *h = cls;
    if (*req == NULL) { /* first call: headers only */
        *req = h;
        return MHD_YES;
    }
    *upload_size = 0; /* these routes take no body; discard any */
    int rc = vg_http_serve_common(conn, method, url, h->ready, h->opaque);
    if (rc < 0)
        rc = vg_http_respond(conn, 404, "text/plain", "not found\n", 10);
    return rc ? MHD_YES : MHD_NO;
}

int vg_http_sockaddr(const char *listen, int port, void *out)
{
    struct sockaddr_in *sa = out;
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)port);
    if (!listen || !*listen || !strcmp(listen, "*"))
        listen = "0.0.0.0";
    if (inet_pton(AF_INET, listen, &sa->sin_addr) != 1)
        return VG_EINVAL;
    return 0;
}

struct vg_http *vg_http_start(const char *listen, int port, vg_ready_fn ready, void *opaque,
                              char *errstr, size_t errstr_size)
{
    struct vg_http *h = vg_xcalloc(1, sizeof(*h));
    h->ready = ready;
    h->opaque = opaque;
    if (vg_http_sockaddr(listen, port, &h->addr)) {
        snprintf(errstr, errstr_size, "bad listen address \"%s\" (an IPv4 address)", listen);
        free(h);
        return NULL;
    }
    h->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO, (uint16_t)port,
                                 NULL, NULL, handle, h, MHD_OPTION_SOCK_ADDR, &h->addr,
                                 MHD_OPTION_CONNECTION_LIMIT, 64U, MHD_OPTION_CONNECTION_TIMEOUT,
                                 10U, MHD_OPTION_END);
    if (!h->daemon) {
        snprintf(errstr, errstr_size, "cannot listen on %s:%d (port in use?)", listen, port);
        free(h);
        return NULL;
    }
    return h;
}

void vg_http_stop(struct vg_http *h)
{
    if (!h)
        return;
    MHD_stop_daemon(h->daemon);
    free(h);
}
