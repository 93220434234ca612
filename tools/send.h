/*
 * send.h - `vigilctl send`, and the small HTTP/1.1 client it runs on.
 *
 * vigilctl send reads NDJSON (one event per line) from a file or stdin and
 * publishes it through the producer's POST /v1/events in batches over one
 * keep-alive connection, retrying 429 and 503 after their Retry-After, with
 * a progress line and a summary. For backfills and batch jobs.
 *
 * The client (vg_httpc) is plain HTTP over TCP, no TLS: enough for the
 * producer on a trusted network, the integration tests and load generators.
 */
#ifndef VG_SEND_H
#define VG_SEND_H

#include <stddef.h>

#include "config.h"
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
 * A client for base_url ("http://host:port[/prefix]"); connects lazily.
 * timeout_ms bounds each connect, write and read. Returns NULL with errstr
 * filled if the URL is not of that form. Free with vg_httpc_free().
 */
struct vg_httpc *vg_httpc_new(const char *base_url, int timeout_ms, char *errstr,
                              size_t errstr_size);

/* Closes the connection and frees the client; accepts NULL. */
void vg_httpc_free(struct vg_httpc *c);

/*
 * Sends method path (appended to the base URL's prefix) with headers (whole
 * lines, each ending in "\r\n", or NULL) and body (len bytes, may be NULL
 * with len 0), and reads the answer into resp (reset first). A kept-alive
 * connection the server closed is reopened once. Returns 0, or VG_EIO /
 * VG_ETIMEOUT / VG_EPARSE with errstr filled.
 */
int vg_httpc_request(struct vg_httpc *c, const char *method, const char *path,
                     const char *headers, const void *body, size_t len,
                     struct vg_http_resp *resp, char *errstr, size_t errstr_size) VG_MUSTCHECK;

/* Opens a new connection for the next request (drops the kept-alive one). */
void vg_httpc_reconnect(struct vg_httpc *c);

/* Copies the value of header name (case-insensitive) into out; returns out or NULL. */
const char *vg_http_resp_header(const struct vg_http_resp *r, const char *name, char *out,
                                size_t out_size);

void vg_http_resp_free(struct vg_http_resp *r);

/*
 * vigilctl send [--url URL] [--key KEY] [--batch N] [--async] [--skip-invalid]
 *               [--retries N] [--quiet] FILE|-
 * argv[0] is "send". URL defaults to $VIGIL_HTTP, else the configured
 * producer address; KEY to $VIGIL_KEY, else $VIGIL_DEMO_KEY. Returns the
 * exit status: 0 when every line was accepted (or skipped with
 * --skip-invalid), 1 otherwise, 2 for bad arguments.
 */
int vg_send_run(const struct vg_config *cfg, int argc, char **argv);

#endif
