#include "send.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define HEAD_MAX (64 * 1024)
#define BODY_MAX (64 * 1024 * 1024)

struct vg_httpc {
    char host[256];
    char port[8];
    char prefix[256];
    int fd;
    int timeout_ms;
    char rbuf[16384];
    size_t rpos, rlen;
};

/* -- connection ---------------------------------------------------------- */

struct vg_httpc *vg_httpc_new(const char *base_url, int timeout_ms, char *errstr,
                              size_t errstr_size)
{
    if (strncmp(base_url, "http://", 7)) {
        snprintf(errstr, errstr_size, "\"%s\" is not an http:// URL", base_url);
        return NULL;
    }
    const char *h = base_url + 7;
    size_t an = strcspn(h, "/");
    const char *colon = memchr(h, ':', an);
    size_t hn = colon ? (size_t)(colon - h) : an;
    size_t pn = colon ? an - hn - 1 : 2;
    struct vg_httpc *c = vg_xcalloc(1, sizeof(*c));
    if (hn == 0 || hn >= sizeof(c->host) || pn == 0 || pn >= sizeof(c->port) ||
        strlen(h + an) >= sizeof(c->prefix)) {
        snprintf(errstr, errstr_size, "cannot parse the URL \"%s\" (http://host:port[/prefix])",
                 base_url);
        free(c);
        return NULL;
    }
    memcpy(c->host, h, hn);
    if (colon)
        memcpy(c->port, colon + 1, pn);
    else
        strcpy(c->port, "80");
    snprintf(c->prefix, sizeof(c->prefix), "%s", h + an);
    size_t l = strlen(c->prefix);
    if (l && c->prefix[l - 1] == '/')
        c->prefix[l - 1] = '\0';
    c->fd = -1;
    c->timeout_ms = timeout_ms;
    return c;
}

static void disconnect(struct vg_httpc *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->rpos = c->rlen = 0;
}

void vg_httpc_reconnect(struct vg_httpc *c)
{
    disconnect(c);
}

void vg_httpc_free(struct vg_httpc *c)
{
    if (!c)
        return;
    disconnect(c);
    free(c);
}

static int wait_fd(int fd, short events, int timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = events};
    int rc;
    do
        rc = poll(&p, 1, timeout_ms);
    while (rc < 0 && errno == EINTR);
    return rc;
}

static int connect_to(struct vg_httpc *c, char *errstr, size_t errstr_size)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res, *ai;
    int rc = getaddrinfo(c->host, c->port, &hints, &res);
    if (rc) {
        snprintf(errstr, errstr_size, "%s:%s: %s", c->host, c->port, gai_strerror(rc));
        return VG_EIO;
    }
    int err = 0;
    for (ai = res; ai; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            continue;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 ||
            (errno == EINPROGRESS && wait_fd(fd, POLLOUT, c->timeout_ms) > 0)) {
            socklen_t len = sizeof(err);
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
            if (err == 0) {
                int one = 1;
                setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                c->fd = fd;
                break;
            }
        } else {
            err = errno ? errno : ETIMEDOUT;
        }
        close(fd);
    }
    freeaddrinfo(res);
    if (c->fd < 0) {
        snprintf(errstr, errstr_size, "cannot connect to %s:%s: %s", c->host, c->port,
                 strerror(err ? err : ETIMEDOUT));
        return VG_EIO;
    }
    return 0;
}

static int write_all(struct vg_httpc *c, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
        } else if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
            if (wait_fd(c->fd, POLLOUT, c->timeout_ms) <= 0)
                return VG_ETIMEOUT;
        } else {
            return VG_EIO;
        }
    }
    return 0;
}

/* Refills the read buffer; returns bytes read, 0 at EOF, or a VG_E* code. */
static long fill(struct vg_httpc *c)
{
    if (c->rpos == c->rlen)
        c->rpos = c->rlen = 0;
    for (;;) {
        ssize_t r = recv(c->fd, c->rbuf + c->rlen, sizeof(c->rbuf) - c->rlen, 0);
        if (r >= 0) {
            c->rlen += (size_t)r;
            return (long)r;
        }
        if (errno != EAGAIN && errno != EINTR)
            return VG_EIO;
        if (wait_fd(c->fd, POLLIN, c->timeout_ms) <= 0)
            return VG_ETIMEOUT;
    }
}

/* Reads one CRLF-terminated line (without it) into out. */
static int read_line(struct vg_httpc *c, struct vg_buf *out, size_t max)
{
    vg_buf_reset(out);
    for (;;) {
        while (c->rpos < c->rlen) {
            char ch = c->rbuf[c->rpos++];
            if (ch == '\n') {
                if (out->len && out->data[out->len - 1] == '\r')
                    out->data[--out->len] = '\0';
                return 0;
            }
            if (out->len >= max)
                return VG_EPARSE;
            vg_buf_putc(out, ch);
        }
        long r = fill(c);
        if (r <= 0)
            return r == 0 ? VG_EIO : (int)r;
    }
}

/* Appends n bytes of body (or everything up to EOF if n is -1). */
static int read_body(struct vg_httpc *c, struct vg_buf *out, long long n)
{
    for (;;) {
        size_t avail = c->rlen - c->rpos;
        size_t take = n < 0 ? avail : (size_t)VG_MIN((long long)avail, n);
        vg_buf_append(out, c->rbuf + c->rpos, take);
        c->rpos += take;
        if (n >= 0) {
            n -= (long long)take;
            if (n == 0)
                return 0;
        }
        if (out->len > BODY_MAX)
            return VG_EPARSE;
        long r = fill(c);
        if (r == 0)
            return n < 0 ? 0 : VG_EIO;
        if (r < 0)
            return (int)r;
    }
}

const char *vg_http_resp_header(const struct vg_http_resp *r, const char *name, char *out,
                                size_t out_size)
{
    size_t nn = strlen(name);
    const char *p = r->head.data;
    while (p && *p) {
        const char *eol = strstr(p, "\r\n");
        size_t ln = eol ? (size_t)(eol - p) : strlen(p);
        if (ln > nn && p[nn] == ':' && !strncasecmp(p, name, nn)) {
            const char *v = p + nn + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            size_t vn = (size_t)(p + ln - v);
            if (vn >= out_size)
                vn = out_size - 1;
            memcpy(out, v, vn);
            out[vn] = '\0';
            return out;
        }
        p = eol ? eol + 2 : p + ln;
    }
    return NULL;
}

void vg_http_resp_free(struct vg_http_resp *r)
{
    vg_buf_free(&r->head);
    vg_buf_free(&r->body);
}

/* Reads one answer; with interim, a 100 Continue is returned as such. */
static int read_response(struct vg_httpc *c, const char *method, int interim,
                         struct vg_http_resp *resp, int *got_any, char *errstr,
                         size_t errstr_size)
{
    struct vg_buf line = {0};
    int rc;
    char v[64];
    do { /* skip 1xx answers */
        if ((rc = read_line(c, &line, 1024)))
            goto fail;
        *got_any = 1;
        if (sscanf(line.data ? line.data : "", "HTTP/1.%*d %d", &resp->status) != 1) {
            rc = VG_EPARSE;
            goto fail;
        }
        vg_buf_reset(&resp->head);
        for (;;) {
            if ((rc = read_line(c, &line, 8192)))
                goto fail;
            if (line.len == 0)
                break;
            vg_buf_append(&resp->head, line.data, line.len);
            vg_buf_puts(&resp->head, "\r\n");
            if (resp->head.len > HEAD_MAX) {
                rc = VG_EPARSE;
                goto fail;
            }
        }
        if (interim && resp->status == 100) {
            vg_buf_free(&line);
            return 0;
        }
    } while (resp->status >= 100 && resp->status < 200);

    int close_after = vg_http_resp_header(resp, "Connection", v, sizeof(v)) &&
                      !strcasecmp(v, "close");
    if (!strcmp(method, "HEAD") || resp->status == 204 || resp->status == 304) {
        /* no body */
    } else if (vg_http_resp_header(resp, "Transfer-Encoding", v, sizeof(v)) &&
               strcasestr(v, "chunked")) {
        for (;;) {
            if ((rc = read_line(c, &line, 1024)))
                goto fail;
            long long size = strtoll(line.data ? line.data : "", NULL, 16);
            if (size < 0 || size > BODY_MAX) {
                rc = VG_EPARSE;
                goto fail;
            }
            if (size == 0) {
                do /* trailers */
                    if ((rc = read_line(c, &line, 8192)))
                        goto fail;
                while (line.len);
                break;
            }
            if ((rc = read_body(c, &resp->body, size)) || (rc = read_line(c, &line, 2)))
                goto fail;
        }
    } else if (vg_http_resp_header(resp, "Content-Length", v, sizeof(v))) {
        long long n = strtoll(v, NULL, 10);
        if (n < 0 || n > BODY_MAX) {
            rc = VG_EPARSE;
            goto fail;
        }
        if (n && (rc = read_body(c, &resp->body, n)))
            goto fail;
    } else {
        if ((rc = read_body(c, &resp->body, -1)))
            goto fail;
        close_after = 1;
    }
    if (close_after)
        disconnect(c);
    vg_buf_free(&line);
    return 0;
fail:
    vg_buf_free(&line);
    disconnect(c);
    snprintf(errstr, errstr_size, "%s:%s: %s", c->host, c->port,
             rc == VG_ETIMEOUT ? "no answer in time"
             : rc == VG_EPARSE ? "malformed HTTP answer"
                               : "connection closed");
    return rc;
}

int vg_httpc_request(struct vg_httpc *c, const char *method, const char *path,
                     const char *headers, const void *body, size_t len,
                     struct vg_http_resp *resp, char *errstr, size_t errstr_size)
{
    struct vg_buf req = {0};
    vg_buf_printf(&req, "%s %s%s HTTP/1.1\r\nHost: %s:%s\r\n", method, c->prefix, path, c->host,
                  c->port);
    if (len || !strcmp(method, "POST") || !strcmp(method, "PUT"))
        vg_buf_printf(&req, "Content-Length: %zu\r\n", len);
    if (headers)
        vg_buf_puts(&req, headers);
    vg_buf_puts(&req, "\r\n");
    /* With Expect: 100-continue the body waits for the server's go-ahead,
     * so a refusal on the headers costs no upload. */
    int expect = len && headers && strcasestr(headers, "Expect: 100-continue");
    if (len && !expect)
        vg_buf_append(&req, body, len);

    int rc = 0;
    for (int attempt = 0; attempt < 2; attempt++) {
        int reused = c->fd >= 0, got_any = 0;
        resp->status = 0;
        vg_buf_reset(&resp->head);
        vg_buf_reset(&resp->body);
        if (!reused && (rc = connect_to(c, errstr, errstr_size)))
            break;
        rc = write_all(c, req.data, req.len);
        if (rc == 0 && expect) {
            /* RFC 9110: send the body anyway if no answer comes within a second. */
            if (c->rpos < c->rlen || wait_fd(c->fd, POLLIN, 1000) > 0) {
                rc = read_response(c, method, 1, resp, &got_any, errstr, errstr_size);
                if (rc == 0 && resp->status != 100) {
                    disconnect(c); /* the body was not sent: the connection is spent */
                    break;
                }
            }
            if (rc == 0)
                rc = write_all(c, body, len);
        }
        if (rc == 0)
            rc = read_response(c, method, 0, resp, &got_any, errstr, errstr_size);
        else if (!got_any)
            snprintf(errstr, errstr_size, "%s:%s: cannot send the request", c->host, c->port);
        /* A kept-alive connection the server had closed: try once on a new one. */
        if (rc && reused && !got_any) {
            disconnect(c);
            continue;
        }
        break;
    }
    if (rc)
        disconnect(c);
    vg_buf_free(&req);
    return rc;
}

/* -- vigilctl send ------------------------------------------------------- */

struct batch {
    struct vg_buf body;
    long *lines; /* the input line number of each event */
    size_t n, cap;
};

struct sender {
    struct vg_httpc *http;
    char headers[1024];
    int retries;
    int skip_invalid;
    int quiet;
    int tty;
    long long sent, skipped, batches, retried;
    int64_t start_ms, last_progress_ms;
};

static void progress(struct sender *s, int final)
{
    int64_t now = vg_mono_ms();
    if (s->quiet || (!final && now - s->last_progress_ms < (s->tty ? 250 : 5000)))
        return;
    s->last_progress_ms = now;
    double secs = (double)(now - s->start_ms) / 1000.0;
    fprintf(stderr, "%s%s %lld events in %lld batches, %lld skipped, %lld retries, %.1f s, %.0f "
                    "events/s%s",
            s->tty && !final ? "\r" : "", final ? "send: done:" : "send:", s->sent, s->batches,
            s->skipped, s->retried, secs, secs > 0 ? (double)s->sent / secs : 0.0,
            s->tty && !final ? "" : "\n");
    if (final && s->tty)
        fputc('\n', stderr);
}

/* Removes event i (its line) from the batch body. */
static void drop_event(struct batch *b, size_t i)
{
    /* Events are separated by '\n'; find the i-th line and cut it. */
    char *p = b->body.data, *end = b->body.data + b->body.len;
    for (size_t k = 0; k < i && p < end; k++)
        p = memchr(p, '\n', (size_t)(end - p)) + 1;
    char *nl = memchr(p, '\n', (size_t)(end - p));
    char *q = nl ? nl + 1 : end;
    memmove(p, q, (size_t)(end - q));
    b->body.len -= (size_t)(q - p);
    b->body.data[b->body.len] = '\0';
    memmove(&b->lines[i], &b->lines[i + 1], (b->n - i - 1) * sizeof(long));
    b->n--;
}

/* Sends one batch until accepted; returns 0, or 1 after printing why not. */
static int send_batch(struct sender *s, struct batch *b)
{
    struct vg_http_resp resp = {0};
    char err[512], v[32];
    int attempts = 0, rc = 1;
    while (b->n) {
        if (vg_httpc_request(s->http, "POST", "/v1/events", s->headers, b->body.data, b->body.len,
                             &resp, err, sizeof(err))) {
            if (attempts++ < s->retries) {
                s->retried++;
                vg_sleep_ms(1000, NULL);
                continue;
            }
            fprintf(stderr, "\nsend: %s\n", err);
            goto out;
        }
        if (resp.status / 100 == 2) {
            s->sent += (long long)b->n;
            s->batches++;
            rc = 0;
            goto out;
        }
        if ((resp.status == 429 || resp.status == 503) && attempts++ < s->retries) {
            int64_t wait = 1;
            if (vg_http_resp_header(&resp, "Retry-After", v, sizeof(v)))
                wait = VG_MAX(1, VG_MIN(atoll(v), 60));
            s->retried++;
            vg_sleep_ms(wait * 1000, NULL);
            continue;
        }
        json_t *j = json_loadb(resp.body.data ? resp.body.data : "", resp.body.len, 0, NULL);
        json_t *e = json_object_get(j, "error");
        json_t *idx = json_object_get(e, "index");
        const char *msg = json_string_value(json_object_get(e, "message"));
        const char *field = json_string_value(json_object_get(e, "field"));
        long index = -1, line = -1;
        if (json_is_integer(idx) && json_integer_value(idx) >= 0 &&
            (size_t)json_integer_value(idx) < b->n) {
            index = (long)json_integer_value(idx);
            line = b->lines[index];
        }
        char where[64] = "";
        if (line >= 0)
            snprintf(where, sizeof(where), " for input line %ld", line);
        fprintf(stderr, "%ssend: HTTP %d%s: %s%s%s%s\n", s->tty ? "\n" : "", resp.status, where,
                msg ? msg : "(no error message)", field ? " (field " : "", field ? field : "",
                field ? ")" : "");
        json_decref(j);
        int skippable = (resp.status == 400 || resp.status == 413) && index >= 0;
        if (!(s->skip_invalid && skippable))
            goto out;
        drop_event(b, (size_t)index);
        s->skipped++;
        attempts = 0;
    }
    rc = 0;
out:
    vg_http_resp_free(&resp);
    return rc;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: vigilctl send [--url URL] [--key KEY] [--batch N] [--async] "
               "[--skip-invalid] [--retries N] [--quiet] FILE|-\n"
               "  Publishes NDJSON events (one per line) through the producer's /v1/events.\n"
               "  --url URL       producer base URL (default $VIGIL_HTTP, else the config's)\n"
               "  --key KEY       tenant key (default $VIGIL_KEY, else $VIGIL_DEMO_KEY)\n"
               "  --batch N       events per request (default 500, at most "
               "producer.max_batch_events)\n"
               "  --async         answer on enqueue (Prefer: respond-async), not on Kafka's ack\n"
               "  --skip-invalid  drop a line the producer refuses (400, 413) and go on\n"
               "  --retries N     retries of a batch on 429, 503 or a lost connection (default "
               "10)\n"
               "  --quiet         no progress line or summary\n");
}

int vg_send_run(const struct vg_config *cfg, int argc, char **argv)
{
    static const struct option opts[] = {{"url", required_argument, NULL, 'u'},
                                         {"key", required_argument, NULL, 'k'},
                                         {"batch", required_argument, NULL, 'b'},
                                         {"async", no_argument, NULL, 'a'},
                                         {"skip-invalid", no_argument, NULL, 's'},
                                         {"retries", required_argument, NULL, 'r'},
                                         {"quiet", no_argument, NULL, 'q'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    struct sender s = {.retries = 10, .tty = isatty(2)};
    const char *url = getenv("VIGIL_HTTP"), *key = getenv("VIGIL_KEY");
    if (!key || !*key)
        key = getenv("VIGIL_DEMO_KEY");
    int64_t batch_max = VG_MIN(500, cfg->producer_max_batch_events);
    int async = 0, c;
    char fallback[300];
    optind = 1;
    while ((c = getopt_long(argc, argv, "u:k:b:asr:qh", opts, NULL)) != -1) {
        switch (c) {
        case 'u':
            url = optarg;
            break;
        case 'k':
            key = optarg;
            break;
        case 'b':
            if (vg_parse_int64(optarg, 1, cfg->producer_max_batch_events, &batch_max)) {
                fprintf(stderr, "send: --batch must be 1 to %lld\n",
                        (long long)cfg->producer_max_batch_events);
                return 2;
            }
            break;
        case 'a':
            async = 1;
            break;
        case 's':
            s.skip_invalid = 1;
            break;
        case 'r': {
            int64_t r;
            if (vg_parse_int64(optarg, 0, 1000, &r)) {
                fprintf(stderr, "send: --retries must be 0 to 1000\n");
                return 2;
            }
            s.retries = (int)r;
            break;
        }
        case 'q':
            s.quiet = 1;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc - 1) {
        usage(stderr);
        return 2;
    }
    if (!key || !*key) {
        fprintf(stderr, "send: no key: pass --key, or set VIGIL_KEY\n");
        return 2;
    }
    if (!url || !*url) {
        const char *host = cfg->producer_listen;
        if (!strcmp(host, "0.0.0.0") || !*host)
            host = "127.0.0.1";
        snprintf(fallback, sizeof(fallback), "http://%s:%lld", host,
                 (long long)cfg->producer_port);
        url = fallback;
    }
    const char *path = argv[optind];
    FILE *in = strcmp(path, "-") ? fopen(path, "r") : stdin;
    if (!in) {
        fprintf(stderr, "send: %s: %s\n", path, strerror(errno));
        return 1;
    }
    char err[512];
    s.http = vg_httpc_new(url, 30000 + (int)cfg->producer_ack_timeout_ms, err, sizeof(err));
    if (!s.http) {
        fprintf(stderr, "send: %s\n", err);
        if (in != stdin)
            fclose(in);
        return 2;
    }
    snprintf(s.headers, sizeof(s.headers),
             "Authorization: Bearer %s\r\nContent-Type: application/x-ndjson\r\n%s", key,
             async ? "Prefer: respond-async\r\n" : "");
    s.start_ms = s.last_progress_ms = vg_mono_ms();

    /* A batch closes at batch_max events or near the body limit. */
    size_t byte_max = (size_t)cfg->producer_max_body_bytes * 9 / 10;
    struct batch b = {0};
    char *line = NULL;
    size_t cap = 0;
    long lineno = 0;
    int rc = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, in)) >= 0) {
        lineno++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        size_t i = 0;
        while (i < (size_t)n && (line[i] == ' ' || line[i] == '\t'))
            i++;
        if (i == (size_t)n)
            continue;
        if (b.n && (b.n >= (size_t)batch_max || b.body.len + (size_t)n + 1 > byte_max)) {
            if ((rc = send_batch(&s, &b)))
                break;
            vg_buf_reset(&b.body);
            b.n = 0;
            progress(&s, 0);
        }
        if (b.n == b.cap) {
            b.cap = b.cap ? b.cap * 2 : 256;
            b.lines = vg_xrealloc(b.lines, b.cap * sizeof(*b.lines));
        }
        b.lines[b.n++] = lineno;
        vg_buf_append(&b.body, line, (size_t)n);
        vg_buf_putc(&b.body, '\n');
    }
    if (!rc && ferror(in)) {
        fprintf(stderr, "send: reading %s: %s\n", path, strerror(errno));
        rc = 1;
    }
    if (!rc && b.n)
        rc = send_batch(&s, &b);
    progress(&s, 1);
    if (rc && !s.quiet)
        fprintf(stderr, "send: stopped at input line %ld; the %lld events before it were "
                        "accepted\n",
                b.n ? b.lines[0] : lineno, s.sent);
    free(line);
    free(b.lines);
    vg_buf_free(&b.body);
    vg_httpc_free(s.http);
    if (in != stdin)
        fclose(in);
    return rc;
}
