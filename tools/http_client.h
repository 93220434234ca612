/*
 * http_client.h - a small HTTP/1.1 client over libcurl, for vigilctl send
 * and the integration tests.
 *
 * One client talks to one base URL, http:// or https://, over one
 * kept-alive connection that it reopens when the server has closed it.
 * HTTPS verifies the server's certificate and host name against the
 * system's CA certificates, or those of vg_httpc_set_cafile(). No proxy is
 * used, whatever the environment says: the producer is reached directly.
 * Not thread-safe: one client per thread.
 */
#ifndef VG_HTTP_CLIENT_H
#define VG_HTTP_CLIENT_H

#include <stddef.h>

#include "err.h"
#include "util.h"

struct vg_httpc;

/* An answer: status, the raw header block and the body. Zero-initialise. */
struct vg_http_resp {
    int status;
    struct vg_buf head; /* header lines after the status line, CRLF-separated */
    struct vg_buf body;
};

/*
 * A client for base_url ("http[s]://host[:port][/prefix]"); connects
 * lazily. timeout_ms bounds each connect, and each wait for the server to
 * take or send a byte. Returns NULL with errstr filled if the URL is not of
 * that form. Free with vg_httpc_free().
 */
struct vg_httpc *vg_httpc_new(const char *base_url, int timeout_ms, char *errstr,
                              size_t errstr_size);

/* Closes the connection and frees the client; accepts NULL. */
void vg_httpc_free(struct vg_httpc *c);

/* Verifies an https:// server against the CA certificates in path (PEM,
 * copied) rather than the system's. */
void vg_httpc_set_cafile(struct vg_httpc *c, const char *path);

/*
 * Sends method path (appended to the base URL's prefix, sent as written)
 * with headers (whole lines, each ending in "\r\n", or NULL) and body (len
 * bytes, may be NULL with len 0), and reads the answer into resp (reset
 * first). Only the headers given are sent besides Host and Content-Length:
 * no Content-Type, Accept or Expect of the client's own. With
 * "Expect: 100-continue" among headers the body waits up to a second for
 * the server's go-ahead, so a refusal on the headers costs no upload.
 * Returns 0, or VG_EIO / VG_ETIMEOUT / VG_EPARSE with errstr filled, or
 * VG_EAUTH when an https:// server's certificate does not verify (trying
 * again will not help).
 */
int vg_httpc_request(struct vg_httpc *c, const char *method, const char *path,
                     const char *headers, const void *body, size_t len,
                     struct vg_http_resp *resp, char *errstr, size_t errstr_size) VG_MUSTCHECK;

/* Closes the kept-alive connection now; the next request opens a new one. */
void vg_httpc_reconnect(struct vg_httpc *c);

/* Copies the value of header name (case-insensitive) into out; returns out or NULL. */
const char *vg_http_resp_header(const struct vg_http_resp *r, const char *name, char *out,
                                size_t out_size);

/* Frees the buffers of r (not r itself). */
void vg_http_resp_free(struct vg_http_resp *r);

#endif
