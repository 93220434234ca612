/*
 * vigil-loadgen - an HTTP load generator for vigil-producer.
 *
 * N keep-alive connections driven by one poll() loop on plain non-blocking
 * sockets (no dependency beyond libvigil). Each connection sends one request
 * at a time; the target rate, if any, is shared evenly between connections.
 * The workload is generated: sessions of 5 to 50 events of a few types, each
 * event with properties of a few hundred bytes, and, in the sessions mode,
 * the session's start, heartbeats and end (or none: abandoned).
 *
 *   events      POST /v1/events, --batch events per request (1: one event
 *               object per request, else NDJSON)
 *   sessions    per session: POST /v1/sessions, event batches with a
 *               heartbeat after each, POST .../end (one in five abandoned)
 *   heartbeats  POST /v1/sessions/{id}/heartbeat round-robin over --sessions
 *               ids <prefix>-<n> (the sessions must exist to be live)
 *   segment     POST /v1/batch, Segment's Tracking API as its SDKs send it:
 *               --batch track calls per request (the same events, in
 *               Segment's fields, with message ids that are not UUIDs, as
 *               the Node SDK's), gzip-compressed, the key as Basic user name
 *
 * With --out FILE nothing is sent: the events mode's events are written as
 * the producer's envelopes, one "key<TAB>value" line each, for
 * `kcat -P -K '\t'` to the same topic (the producer's own Kafka load).
 *
 * Reports requests, messages, answers by status, rates, and latency
 * percentiles (from a log histogram of 1% resolution: memory is fixed
 * however long it runs), as text or as one JSON line (--json). Latency is
 * measured from the moment a request is written, not from its scheduled
 * time: with --rate, a producer that falls behind shows as a lower rate.
 *
 * Exit status: 0 when every request got a 2xx answer, 1 otherwise, 2 for
 * bad arguments.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <zlib.h>

#include "crypto.h"
#include "envelope.h"
#include "util.h"

#define MAX_CONNS 1024
#define MAX_KEYS 8
#define HEAD_MAX 16384        /* response header block */
#define HIST_BUCKETS 2048     /* 1.01^2048 us is about 2 hours */
#define HIST_BASE 1.01
#define LESSON_URL "https://example.com/lesson/%d"

enum mode { MODE_EVENTS, MODE_SESSIONS, MODE_HEARTBEATS, MODE_SEGMENT };
static const char *const mode_names[] = {"events", "sessions", "heartbeats", "segment"};

struct opts {
    const char *url, *out, *prefix, *tenant;
    const char *keys[MAX_KEYS];
    int nkeys;
    int conns, batch, json, async, quiet;
    enum mode mode;
    double rate, duration_s;
    long long count, sessions;
    int timeout_ms;
};

/* Latency histogram in microseconds: bucket i holds [1.01^i, 1.01^(i+1)). */
struct hist {
    uint64_t n[HIST_BUCKETS];
    uint64_t total;
    int64_t max_us;
};

static void hist_add(struct hist *h, int64_t us)
{
    int i = us < 1 ? 0 : (int)(log((double)us) / log(HIST_BASE));
    if (i >= HIST_BUCKETS)
        i = HIST_BUCKETS - 1;
    h->n[i]++;
    h->total++;
    if (us > h->max_us)
        h->max_us = us;
}

/* The q-quantile in milliseconds: the upper bound of its bucket, at most the max. */
static double hist_ms(const struct hist *h, double q)
{
    if (h->total == 0)
        return 0;
    uint64_t want = (uint64_t)ceil(q * (double)h->total), seen = 0;
    if (want == 0)
        want = 1;
    for (int i = 0; i < HIST_BUCKETS; i++) {
        seen += h->n[i];
        if (seen >= want) {
            double v = pow(HIST_BASE, i + 1);
            return VG_MIN(v, (double)h->max_us) / 1000.0;
        }
    }
    return (double)h->max_us / 1000.0;
}

/* What every connection adds to. */
struct totals {
    uint64_t requests, messages, signals, accepted, errors, timeouts;
    uint64_t status[600];
    struct hist lat;
};

/* A generated session: its ids and how many events it still has. */
struct gen_session {
    char id[96], visitor[64];
    int events_left;
    int phase; /* sessions mode: 0 start, 1 events, 2 heartbeat, 3 end */
    int abandoned;
};

enum conn_state { C_IDLE, C_WRITING, C_READING };

struct conn {
    int fd;
    int index;
    enum conn_state state;
    const char *key;
    char auth[256]; /* the Authorization header's value */
    struct vg_buf req, body, raw;
    size_t woff;
    int64_t next_us, sent_us;
    /* what the request in flight carries */
    int req_messages, req_signals;
    /* answer parsing */
    char head[HEAD_MAX];
    size_t hlen;
    int in_body, close_after;
    long long body_left;
    char body_start[64];
    size_t body_start_len;
    int status;
    struct gen_session s;
    uint64_t seq;
};

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* xorshift64*: cheap, and reproducible runs are not a goal. */
static uint64_t rng_state = 88172645463325252ULL;

static uint64_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ULL;
}

static int rnd_range(int lo, int hi)
{
    return lo + (int)(rnd() % (uint64_t)(hi - lo + 1));
}

/* -- the workload -------------------------------------------------------- */

static const char *const event_types[] = {"page.view", "page.view",    "page.view",
                                          "button.click", "lesson.progress", "video.play",
                                          "form.submit", "search"};

static const char *const titles[] = {
    "Introduction to fractions", "Reading comprehension: the lighthouse",
    "Photosynthesis, step by step", "The French Revolution in ten dates",
    "Loops and conditions in Python", "Practice quiz: verbs of motion"};

static void session_new(struct conn *c, const struct opts *o)
{
    struct gen_session *s = &c->s;
    c->seq++;
    snprintf(s->id, sizeof(s->id), "%s_%d_%llu", o->prefix, c->index, (unsigned long long)c->seq);
    snprintf(s->visitor, sizeof(s->visitor), "v-%s-%d-%llu", o->prefix, c->index,
             (unsigned long long)(c->seq % 7 == 0 ? c->seq - 1 : c->seq));
    s->events_left = rnd_range(5, 50);
    s->phase = 0;
    s->abandoned = rnd() % 5 == 0;
}

/* The properties of one event: a few hundred bytes of plausible JSON. */
static void put_properties(struct vg_buf *b, int lesson)
{
    vg_buf_printf(b,
                  "{\"path\":\"/lesson/%d\",\"title\":\"%s\",\"referrer\":"
                  "\"https://example.com/course/%d?utm_source=newsletter&utm_medium=email\","
                  "\"viewport\":{\"w\":%d,\"h\":%d},\"locale\":\"en-GB\",\"duration_ms\":%d,"
                  "\"ua\":\"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 "
                  "Firefox/128.0\","
                  "\"tags\":[\"course-%d\",\"level-%d\"],\"progress\":%d.%02d}",
                  lesson, titles[lesson % VG_ARRAY_LEN(titles)], lesson / 10, 1280 + lesson % 640,
                  720 + lesson % 360, rnd_range(50, 60000), lesson / 10, lesson % 5,
                  rnd_range(0, 99), rnd_range(0, 99));
}

/* Appends one event of session s, as a client sends it. */
static void put_event(struct vg_buf *b, const struct gen_session *s)
{
    const char *type = event_types[rnd() % VG_ARRAY_LEN(event_types)];
    int lesson = rnd_range(1, 999);
    vg_buf_printf(b,
                  "{\"type\":\"%s\",\"session_id\":\"%s\",\"visitor_id\":\"%s\","
                  "\"url\":\"" LESSON_URL "\",\"properties\":",
                  type, s->id, s->visitor, lesson);
    put_properties(b, lesson);
    vg_buf_putc(b, '}');
}

/* Appends one event of session s as a Segment track call. */
static void put_segment_call(struct vg_buf *b, const struct gen_session *s, const char *prefix,
                             uint64_t n)
{
    const char *type = event_types[rnd() % VG_ARRAY_LEN(event_types)];
    int lesson = rnd_range(1, 999);
    char ts[VG_TS_LEN];
    vg_time_format(vg_now_us(), ts);
    vg_buf_printf(b,
                  "{\"type\":\"track\",\"event\":\"%s\",\"anonymousId\":\"%s\","
                  "\"messageId\":\"%s-%llu-%016llx\",\"timestamp\":\"%s\","
                  "\"context\":{\"library\":{\"name\":\"vigil-loadgen\"},\"page\":{\"url\":\""
                  LESSON_URL "\"}},\"properties\":",
                  type, s->visitor, prefix, (unsigned long long)n, (unsigned long long)rnd(), ts,
                  lesson);
    put_properties(b, lesson);
    b->len--; /* the properties' closing brace: the session id goes in too */
    vg_buf_printf(b, ",\"session_id\":\"%s\"}}", s->id);
}

/* out = in gzip-compressed (zlib's default level, as the SDKs that compress use). */
static void gzip_into(const struct vg_buf *in, struct vg_buf *out)
{
    z_stream z = {0};
    if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8,
                     Z_DEFAULT_STRATEGY) != Z_OK)
        abort();
    vg_buf_reset(out);
    vg_buf_reserve(out, deflateBound(&z, in->len));
    z.next_in = (unsigned char *)in->data;
    z.avail_in = (uInt)in->len;
    z.next_out = (unsigned char *)out->data;
    z.avail_out = (uInt)(out->cap - 1);
    if (deflate(&z, Z_FINISH) != Z_STREAM_END)
        abort();
    out->len = z.total_out;
    deflateEnd(&z);
}

/* Appends one event of session s as the producer writes it to vigil.events:
 * key, a tab, the envelope (common/envelope.h). scratch is working space. */
static void put_envelope(struct vg_buf *b, struct vg_buf *scratch, const struct gen_session *s,
                         const char *tenant)
{
    int lesson = rnd_range(1, 999);
    char id[VG_UUID_STR_LEN], url[64];
    int64_t now = vg_now_us();
    vg_uuid_v7(now / 1000, id);
    snprintf(url, sizeof(url), LESSON_URL, lesson);
    vg_buf_reset(scratch);
    put_properties(scratch, lesson);
    struct vg_event ev;
    vg_envelope_init(&ev);
    ev.tenant = tenant;
    ev.event_id = id;
    ev.type = event_types[rnd() % VG_ARRAY_LEN(event_types)];
    ev.session_id = s->id;
    ev.visitor_id = s->visitor;
    ev.url = url;
    ev.occurred_us = ev.received_us = now;
    ev.properties = json_loadb(scratch->data, scratch->len, 0, NULL);
    vg_envelope_key(b, tenant, vg_envelope_key_id(&ev));
    vg_buf_putc(b, '\t');
    vg_envelope_encode(&ev, b);
    json_decref(ev.properties);
}

/* Fills c->body with the next request's body; sets path, content type and
 * what the request carries. Returns 0 when there is nothing left to send. */
static int next_request(struct conn *c, const struct opts *o, long long budget, char *path,
                        size_t path_size, const char **ctype)
{
    struct gen_session *s = &c->s;
    vg_buf_reset(&c->body);
    c->req_messages = c->req_signals = 0;
    *ctype = "application/json";
    if (budget <= 0)
        return 0;
    if (o->mode == MODE_HEARTBEATS) {
        snprintf(path, path_size, "/v1/sessions/%s-%lld/heartbeat", o->prefix,
                 (long long)(c->seq++ % (uint64_t)o->sessions));
        vg_buf_puts(&c->body, "{}");
        c->req_messages = c->req_signals = 1;
        return 1;
    }
    if (o->mode == MODE_SESSIONS) {
        if (s->events_left <= 0 && s->phase == 1)
            s->phase = 3;
        if (s->phase == 3 && s->abandoned) /* never ends: left to timeout_sessions */
            session_new(c, o);
        switch (s->phase) {
        case 0:
            snprintf(path, path_size, "/v1/sessions");
            vg_buf_printf(&c->body, "{\"session_id\":\"%s\",\"kind\":\"lesson\",\"status\":"
                                    "\"active\",\"attributes\":{\"course\":%d}}",
                          s->id, rnd_range(1, 99));
            s->phase = 1;
            c->req_messages = c->req_signals = 1;
            return 1;
        case 2:
            snprintf(path, path_size, "/v1/sessions/%s/heartbeat", s->id);
            vg_buf_puts(&c->body, "{}");
            s->phase = 1;
            c->req_messages = c->req_signals = 1;
            return 1;
        case 3:
            snprintf(path, path_size, "/v1/sessions/%s/end", s->id);
            vg_buf_puts(&c->body, "{\"reason\":\"completed\"}");
            session_new(c, o);
            c->req_messages = c->req_signals = 1;
            return 1;
        default:
            break;
        }
    }
    if (o->mode == MODE_SEGMENT) {
        snprintf(path, path_size, "/v1/batch");
        int n = (int)VG_MIN((long long)o->batch, budget);
        char ts[VG_TS_LEN];
        vg_buf_reset(&c->raw);
        vg_buf_puts(&c->raw, "{\"batch\":[");
        for (int i = 0; i < n; i++) {
            if (s->events_left <= 0)
                session_new(c, o);
            if (i)
                vg_buf_putc(&c->raw, ',');
            put_segment_call(&c->raw, s, o->prefix, c->seq * 1000 + (uint64_t)i);
            s->events_left--;
        }
        vg_time_format(vg_now_us(), ts);
        vg_buf_printf(&c->raw, "],\"sentAt\":\"%s\"}", ts);
        gzip_into(&c->raw, &c->body);
        c->seq++;
        c->req_messages = n;
        return 1;
    }
    /* events: a batch drawn from the connection's current session, then the next */
    snprintf(path, path_size, "/v1/events");
    int n = (int)VG_MIN((long long)o->batch, budget);
    if (o->mode == MODE_SESSIONS)
        n = VG_MIN(n, s->events_left);
    if (o->batch > 1)
        *ctype = "application/x-ndjson";
    for (int i = 0; i < n; i++) {
        if (s->events_left <= 0)
            session_new(c, o);
        put_event(&c->body, s);
        if (o->batch > 1)
            vg_buf_putc(&c->body, '\n');
        s->events_left--;
    }
    if (o->mode == MODE_SESSIONS)
        s->phase = 2;
    c->req_messages = n;
    return 1;
}

/* -- connections --------------------------------------------------------- */

struct target {
    char host[256], port[8];
    struct sockaddr_storage addr;
    socklen_t addrlen;
};

static int parse_url(const char *url, struct target *t)
{
    if (strncmp(url, "http://", 7))
        return -1;
    const char *h = url + 7;
    size_t an = strcspn(h, "/");
    const char *colon = memchr(h, ':', an);
    size_t hn = colon ? (size_t)(colon - h) : an;
    size_t pn = colon ? an - hn - 1 : 0;
    if (hn == 0 || hn >= sizeof(t->host) || pn >= sizeof(t->port) || (colon && pn == 0))
        return -1;
    memcpy(t->host, h, hn);
    t->host[hn] = '\0';
    if (colon) {
        memcpy(t->port, colon + 1, pn);
        t->port[pn] = '\0';
    } else {
        strcpy(t->port, "80");
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res;
    if (getaddrinfo(t->host, t->port, &hints, &res))
        return -1;
    memcpy(&t->addr, res->ai_addr, res->ai_addrlen);
    t->addrlen = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

static void conn_close(struct conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

/* Opens a non-blocking connection; the connect completes while the request waits to be written. */
static int conn_open(struct conn *c, const struct target *t)
{
    c->fd = socket(t->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return -1;
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(c->fd, (const struct sockaddr *)&t->addr, t->addrlen) < 0 &&
        errno != EINPROGRESS) {
        conn_close(c);
        return -1;
    }
    return 0;
}

/* Builds the request in c->req from c->body. */
static void build_request(struct conn *c, const struct target *t, const struct opts *o,
                          const char *path, const char *ctype)
{
    vg_buf_reset(&c->req);
    vg_buf_printf(&c->req,
                  "POST %s HTTP/1.1\r\nHost: %s:%s\r\nAuthorization: %s\r\n"
                  "Content-Type: %s\r\nContent-Length: %zu\r\n%s%s\r\n",
                  path, t->host, t->port, c->auth, ctype, c->body.len,
                  o->async ? "Prefer: respond-async\r\n" : "",
                  o->mode == MODE_SEGMENT ? "Content-Encoding: gzip\r\n" : "");
    vg_buf_append(&c->req, c->body.data, c->body.len);
    c->woff = 0;
    c->hlen = 0;
    c->in_body = 0;
    c->close_after = 0;
    c->body_start_len = 0;
    c->status = 0;
}

/* Counts a finished request (status 0: a transport error or a timeout). */
static void finish(struct conn *c, struct totals *tot, int64_t now)
{
    tot->requests++;
    if (c->status >= 100 && c->status < 600) {
        tot->status[c->status]++;
        hist_add(&tot->lat, now - c->sent_us);
    } else {
        tot->errors++;
    }
    if (c->status >= 200 && c->status < 300) {
        tot->messages += (uint64_t)c->req_messages;
        tot->signals += (uint64_t)c->req_signals;
        const char *a = memmem(c->body_start, c->body_start_len, "\"accepted\":", 11);
        if (a)
            tot->accepted += strtoull(a + 11, NULL, 10);
        else
            tot->accepted += (uint64_t)c->req_messages; /* sessions, heartbeats: 201/202 */
    }
    c->state = C_IDLE;
    if (c->close_after || c->status == 0)
        conn_close(c);
}

/* Parses the status line and headers once the blank line is in c->head. */
static int parse_head(struct conn *c)
{
    c->head[c->hlen] = '\0';
    if (sscanf(c->head, "HTTP/1.%*d %d", &c->status) != 1)
        return -1;
    c->body_left = 0;
    for (char *p = strstr(c->head, "\r\n"); p && p[2] != '\r'; p = strstr(p + 2, "\r\n")) {
        char *line = p + 2;
        if (!strncasecmp(line, "Content-Length:", 15))
            c->body_left = strtoll(line + 15, NULL, 10);
        else if (!strncasecmp(line, "Transfer-Encoding:", 18))
            return -1; /* the producer always sends a length */
        else if (!strncasecmp(line, "Connection:", 11)) {
            const char *v = line + 11;
            while (*v == ' ')
                v++;
            c->close_after = !strncasecmp(v, "close", 5);
        }
    }
    return c->body_left < 0 ? -1 : 0;
}

/* Reads what is there; returns 1 when the answer is complete, 0 for more, -1 on error. */
static int conn_read(struct conn *c)
{
    char buf[65536];
    for (;;) {
        ssize_t r = recv(c->fd, buf, sizeof(buf), 0);
        if (r == 0)
            return -1;
        if (r < 0)
            return errno == EAGAIN || errno == EINTR ? 0 : -1;
        size_t off = 0, n = (size_t)r;
        while (off < n) {
            if (!c->in_body) {
                /* header bytes one at a time up to the blank line: headers are small */
                if (c->hlen + 1 >= sizeof(c->head))
                    return -1;
                c->head[c->hlen++] = buf[off++];
                if (c->hlen >= 4 && !memcmp(c->head + c->hlen - 4, "\r\n\r\n", 4)) {
                    if (parse_head(c))
                        return -1;
                    c->in_body = 1;
                }
                continue;
            }
            size_t take = (size_t)VG_MIN((long long)(n - off), c->body_left);
            size_t keep = VG_MIN(take, sizeof(c->body_start) - c->body_start_len);
            memcpy(c->body_start + c->body_start_len, buf + off, keep);
            c->body_start_len += keep;
            off += take;
            c->body_left -= (long long)take;
            if (c->body_left == 0)
                break;
        }
        if (c->in_body && c->body_left == 0)
            return off < n ? -1 : 1; /* nothing pipelined is ever expected */
    }
}

static int conn_write(struct conn *c)
{
    while (c->woff < c->req.len) {
        ssize_t w = send(c->fd, c->req.data + c->woff, c->req.len - c->woff, MSG_NOSIGNAL);
        if (w < 0)
            return errno == EAGAIN || errno == EINTR ? 0 : -1;
        c->woff += (size_t)w;
    }
    return 1;
}

/* -- the run ------------------------------------------------------------- */

static int run_http(const struct opts *o, struct totals *tot, double *elapsed_s)
{
    struct target t;
    if (parse_url(o->url, &t)) {
        fprintf(stderr, "vigil-loadgen: cannot use the URL \"%s\" (http://host:port)\n", o->url);
        return 2;
    }
    struct conn *conns = vg_xcalloc((size_t)o->conns, sizeof(*conns));
    struct pollfd *pfd = vg_xcalloc((size_t)o->conns, sizeof(*pfd));
    int64_t start = mono_us();
    int64_t end = o->duration_s > 0 ? start + (int64_t)(o->duration_s * 1e6) : INT64_MAX;
    /* microseconds of one connection's share of the rate per message sent */
    double interval = o->rate > 0 ? 1e6 * o->conns / o->rate : 0;
    long long issued = 0;
    for (int i = 0; i < o->conns; i++) {
        struct conn *c = &conns[i];
        c->fd = -1;
        c->index = i;
        c->key = o->keys[i % o->nkeys];
        if (o->mode == MODE_SEGMENT) {
            /* HTTP Basic, the key as user name: what Segment's SDKs send. */
            char user[128];
            int n = snprintf(user, sizeof(user), "%.100s:", c->key);
            memcpy(c->auth, "Basic ", 6);
            EVP_EncodeBlock((unsigned char *)c->auth + 6, (const unsigned char *)user, n);
        } else {
            snprintf(c->auth, sizeof(c->auth), "Bearer %.200s", c->key);
        }
        c->seq = (uint64_t)i * (o->mode == MODE_HEARTBEATS ? (uint64_t)o->sessions / o->conns : 0);
        c->next_us = start + (int64_t)(interval * o->batch * i / o->conns); /* spread them */
        session_new(c, o);
    }
    int active = o->conns;
    while (active > 0) {
        int64_t now = mono_us();
        int64_t wait_us = 100000;
        int nfd = 0;
        active = 0;
        for (int i = 0; i < o->conns; i++) {
            struct conn *c = &conns[i];
            if (c->state == C_IDLE && !stop_flag && now < end && issued < o->count &&
                c->next_us <= now) {
                char path[256];
                const char *ctype;
                if (!next_request(c, o, o->count - issued, path, sizeof(path), &ctype))
                    continue;
                if (o->mode != MODE_SESSIONS || c->req_signals == 0)
                    issued += c->req_messages;
                if (c->fd < 0 && conn_open(c, &t)) {
                    c->status = 0;
                    c->sent_us = now;
                    finish(c, tot, now);
                    c->next_us = now + 100000; /* no busy loop while the server is away */
                    continue;
                }
                build_request(c, &t, o, path, ctype);
                c->state = C_WRITING;
                c->sent_us = now;
                if (interval > 0) {
                    c->next_us += (int64_t)(interval * c->req_messages);
                    if (c->next_us < now - 1000000) /* more than 1 s behind: do not burst */
                        c->next_us = now;
                }
            }
            if (c->state == C_IDLE) {
                if (!stop_flag && now < end && issued < o->count) {
                    active++;
                    if (c->next_us > now)
                        wait_us = VG_MIN(wait_us, c->next_us - now);
                    else
                        wait_us = 0;
                }
                continue;
            }
            active++;
            if (now - c->sent_us > (int64_t)o->timeout_ms * 1000) {
                tot->timeouts++;
                c->status = 0;
                finish(c, tot, now);
                continue;
            }
            pfd[nfd].fd = c->fd;
            pfd[nfd].events = c->state == C_WRITING ? POLLOUT : POLLIN;
            pfd[nfd].revents = 0;
            nfd++;
        }
        if (active == 0)
            break;
        int rc = poll(pfd, (nfds_t)nfd, (int)((wait_us + 999) / 1000));
        if (rc < 0 && errno != EINTR)
            break;
        now = mono_us();
        for (int k = 0, i = 0; k < nfd && rc > 0; k++) {
            if (!pfd[k].revents)
                continue;
            while (conns[i].fd != pfd[k].fd)
                i++;
            struct conn *c = &conns[i];
            int r = 0;
            if (c->state == C_WRITING) {
                r = conn_write(c);
                if (r == 1) {
                    c->state = C_READING;
                    r = 0;
                }
            } else if (c->state == C_READING) {
                r = conn_read(c);
            }
            if (r != 0) {
                if (r < 0)
                    c->status = 0;
                finish(c, tot, now);
            }
        }
    }
    *elapsed_s = (double)(mono_us() - start) / 1e6;
    for (int i = 0; i < o->conns; i++) {
        conn_close(&conns[i]);
        vg_buf_free(&conns[i].req);
        vg_buf_free(&conns[i].body);
        vg_buf_free(&conns[i].raw);
    }
    free(conns);
    free(pfd);
    return 0;
}

/* --out: the events as envelopes, "key<TAB>value" lines. */
static int run_file(const struct opts *o, struct totals *tot, double *elapsed_s)
{
    FILE *f = strcmp(o->out, "-") ? fopen(o->out, "w") : stdout;
    if (!f) {
        fprintf(stderr, "vigil-loadgen: cannot write %s: %s\n", o->out, strerror(errno));
        return 1;
    }
    int64_t start = mono_us();
    struct conn c = {.fd = -1};
    struct vg_buf line = {0}, scratch = {0};
    session_new(&c, o);
    long long n = o->count == LLONG_MAX ? 100000 : o->count;
    for (long long i = 0; i < n && !stop_flag; i++) {
        if (c.s.events_left <= 0)
            session_new(&c, o);
        vg_buf_reset(&line);
        put_envelope(&line, &scratch, &c.s, o->tenant);
        vg_buf_putc(&line, '\n');
        c.s.events_left--;
        if (fwrite(line.data, 1, line.len, f) != line.len)
            break;
        tot->messages++;
    }
    vg_buf_free(&line);
    vg_buf_free(&scratch);
    int bad = ferror(f);
    if (f != stdout)
        bad |= fclose(f);
    else
        bad |= fflush(f);
    *elapsed_s = (double)(mono_us() - start) / 1e6;
    if (bad) {
        fprintf(stderr, "vigil-loadgen: writing %s failed\n", o->out);
        return 1;
    }
    return 0;
}

static void report(const struct opts *o, const struct totals *t, double elapsed)
{
    double eps = elapsed > 0 ? (double)t->messages / elapsed : 0;
    double rps = elapsed > 0 ? (double)t->requests / elapsed : 0;
    if (o->json) {
        printf("{\"mode\":\"%s\",\"concurrency\":%d,\"batch\":%d,\"rate\":%.0f,"
               "\"requests\":%llu,\"events\":%llu,\"signals\":%llu,\"accepted\":%llu,"
               "\"errors\":%llu,\"timeouts\":%llu,\"elapsed_s\":%.3f,\"events_per_s\":%.1f,"
               "\"requests_per_s\":%.1f,\"status\":{",
               o->out ? "file" : mode_names[o->mode], o->conns, o->batch, o->rate,
               (unsigned long long)t->requests, (unsigned long long)t->messages,
               (unsigned long long)t->signals, (unsigned long long)t->accepted,
               (unsigned long long)t->errors, (unsigned long long)t->timeouts, elapsed, eps, rps);
        const char *sep = "";
        for (int s = 100; s < 600; s++)
            if (t->status[s]) {
                printf("%s\"%d\":%llu", sep, s, (unsigned long long)t->status[s]);
                sep = ",";
            }
        printf("},\"latency_ms\":{\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"max\":%.3f}}\n",
               hist_ms(&t->lat, 0.5), hist_ms(&t->lat, 0.9), hist_ms(&t->lat, 0.99),
               (double)t->lat.max_us / 1000.0);
        return;
    }
    printf("mode %s, %d connections, batch %d, rate %s\n", o->out ? "file" : mode_names[o->mode],
           o->conns, o->batch, o->rate > 0 ? "limited" : "unlimited");
    printf("requests %llu  events %llu (signals %llu)  accepted %llu  errors %llu (timeouts %llu)"
           "  in %.2f s\n",
           (unsigned long long)t->requests, (unsigned long long)t->messages,
           (unsigned long long)t->signals, (unsigned long long)t->accepted,
           (unsigned long long)t->errors, (unsigned long long)t->timeouts, elapsed);
    for (int s = 100; s < 600; s++)
        if (t->status[s])
            printf("  status %d: %llu\n", s, (unsigned long long)t->status[s]);
    printf("events/s %.1f  requests/s %.1f\n", eps, rps);
    if (!o->out)
        printf("latency ms  p50 %.2f  p90 %.2f  p99 %.2f  max %.2f\n", hist_ms(&t->lat, 0.5),
               hist_ms(&t->lat, 0.9), hist_ms(&t->lat, 0.99), (double)t->lat.max_us / 1000.0);
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: vigil-loadgen [options]\n"
            "  --url URL          producer base URL\n"
            "                     (default $VIGIL_HTTP, else http://127.0.0.1:8080)\n"
            "  --key KEY          tenant key; repeat to spread connections over keys\n"
            "                     (default $VIGIL_DEMO_KEY, else demo-key)\n"
            "  --mode MODE        events (default), sessions, heartbeats or segment\n"
            "                     (segment: POST /v1/batch, gzip, Basic write key)\n"
            "  --concurrency N    keep-alive connections (default 8)\n"
            "  --batch N          events per request, 1 = one event per request (default 100)\n"
            "  --rate R           target events/s over all connections, 0 = unlimited (default)\n"
            "  --duration S       stop sending after S seconds\n"
            "  --count N          stop after N events (default 10000 unless --duration)\n"
            "  --sessions N       heartbeats mode: session ids PREFIX-0 .. PREFIX-(N-1)\n"
            "  --prefix P         session id prefix (default lg<random hex>)\n"
            "  --async            send Prefer: respond-async (answer once queued)\n"
            "  --timeout-ms N     per request (default 10000)\n"
            "  --out FILE         write --count envelopes as key<TAB>value lines for\n"
            "                     kcat -P -K '\\t' instead of sending (- for stdout)\n"
            "  --tenant T         tenant of the envelopes of --out (default demo)\n"
            "  --json             one JSON line instead of text\n");
}

static int parse_args(int argc, char **argv, struct opts *o)
{
    static const struct option longopts[] = {{"url", required_argument, NULL, 'u'},
                                             {"key", required_argument, NULL, 'k'},
                                             {"mode", required_argument, NULL, 'm'},
                                             {"concurrency", required_argument, NULL, 'c'},
                                             {"batch", required_argument, NULL, 'b'},
                                             {"rate", required_argument, NULL, 'r'},
                                             {"duration", required_argument, NULL, 'd'},
                                             {"count", required_argument, NULL, 'n'},
                                             {"sessions", required_argument, NULL, 's'},
                                             {"prefix", required_argument, NULL, 'p'},
                                             {"async", no_argument, NULL, 'a'},
                                             {"timeout-ms", required_argument, NULL, 't'},
                                             {"out", required_argument, NULL, 'o'},
                                             {"tenant", required_argument, NULL, 'T'},
                                             {"json", no_argument, NULL, 'j'},
                                             {"help", no_argument, NULL, 'h'},
                                             {"version", no_argument, NULL, 'V'},
                                             {NULL, 0, NULL, 0}};
    static char prefix[32];
    int64_t v;
    int ch;
    memset(o, 0, sizeof(*o));
    o->conns = 8;
    o->batch = 100;
    o->count = -1;
    o->timeout_ms = 10000;
    o->tenant = "demo";
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case 'u':
            o->url = optarg;
            break;
        case 'k':
            if (o->nkeys == MAX_KEYS) {
                fprintf(stderr, "vigil-loadgen: at most %d keys\n", MAX_KEYS);
                return 2;
            }
            o->keys[o->nkeys++] = optarg;
            break;
        case 'm':
        {
            int m = 0;
            while (m < (int)VG_ARRAY_LEN(mode_names) && strcmp(optarg, mode_names[m]))
                m++;
            if (m == (int)VG_ARRAY_LEN(mode_names)) {
                fprintf(stderr, "vigil-loadgen: unknown mode \"%s\"\n", optarg);
                return 2;
            }
            o->mode = (enum mode)m;
            break;
        }
        case 'c':
        case 'b':
        case 't': {
            int64_t max = ch == 'c' ? MAX_CONNS : ch == 'b' ? 1000 : 3600000;
            if (vg_parse_int64(optarg, 1, max, &v)) {
                fprintf(stderr, "vigil-loadgen: bad number \"%s\"\n", optarg);
                return 2;
            }
            *(ch == 'c' ? &o->conns : ch == 'b' ? &o->batch : &o->timeout_ms) = (int)v;
            break;
        }
        case 'n':
        case 's':
            if (vg_parse_int64(optarg, 1, INT64_MAX / 2, &v)) {
                fprintf(stderr, "vigil-loadgen: bad number \"%s\"\n", optarg);
                return 2;
            }
            *(ch == 'n' ? &o->count : &o->sessions) = v;
            break;
        case 'r':
        case 'd': {
            char *end;
            double d = strtod(optarg, &end);
            if (*end || !(d >= 0) || d > 1e9) {
                fprintf(stderr, "vigil-loadgen: bad number \"%s\"\n", optarg);
                return 2;
            }
            *(ch == 'r' ? &o->rate : &o->duration_s) = d;
            break;
        }
        case 'p':
            o->prefix = optarg;
            break;
        case 'a':
            o->async = 1;
            break;
        case 'o':
            o->out = optarg;
            break;
        case 'T':
            o->tenant = optarg;
            break;
        case 'j':
            o->json = 1;
            break;
        case 'h':
            usage(stdout);
            return -1;
        case 'V':
            printf("vigil-loadgen %s\n", VG_VERSION);
            return -1;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        usage(stderr);
        return 2;
    }
    if (o->mode == MODE_HEARTBEATS && o->sessions <= 0) {
        fprintf(stderr, "vigil-loadgen: --mode heartbeats needs --sessions N\n");
        return 2;
    }
    if (o->out && o->mode != MODE_EVENTS) {
        fprintf(stderr, "vigil-loadgen: --out writes the events mode only\n");
        return 2;
    }
    if (o->count < 0)
        o->count = o->duration_s > 0 ? LLONG_MAX : 10000;
    if (!o->url)
        o->url = getenv("VIGIL_HTTP") ? getenv("VIGIL_HTTP") : "http://127.0.0.1:8080";
    if (o->nkeys == 0)
        o->keys[o->nkeys++] = getenv("VIGIL_DEMO_KEY") ? getenv("VIGIL_DEMO_KEY") : "demo-key";
    if (!o->prefix) {
        unsigned char r[4];
        vg_random_bytes(r, sizeof(r));
        snprintf(prefix, sizeof(prefix), "lg%02x%02x%02x%02x", r[0], r[1], r[2], r[3]);
        o->prefix = prefix;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct opts o;
    int rc = parse_args(argc, argv, &o);
    if (rc)
        return rc < 0 ? 0 : rc;
    vg_random_bytes(&rng_state, sizeof(rng_state));
    rng_state |= 1;
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    struct totals *tot = vg_xcalloc(1, sizeof(*tot));
    double elapsed = 0;
    rc = o.out ? run_file(&o, tot, &elapsed) : run_http(&o, tot, &elapsed);
    if (rc == 0) {
        report(&o, tot, elapsed);
        uint64_t ok = 0;
        for (int s = 200; s < 300; s++)
            ok += tot->status[s];
        if (!o.out && (tot->errors || ok != tot->requests))
            rc = 1;
    }
    free(tot);
    return rc;
}
