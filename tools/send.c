#include "send.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http_client.h"

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
    /* -o json: what the run prints, also as JSON (NULL: text only). */
    json_t *ids;      /* every accepted event's id, in input order */
    json_t *receipts; /* the receipt of each durable batch */
    json_t *errors;   /* each refusal or failure, with its input line */
};

/* Records a refusal or failure for -o json: line is the input line (-1:
 * none), http the status (0: no answer), code, field may be NULL. */
static void note_error(struct sender *s, long line, int http, const char *code,
                       const char *message, const char *field, int skipped)
{
    if (!s->errors)
        return;
    json_t *e = json_object();
    if (line >= 0)
        json_object_set_new(e, "line", json_integer(line));
    if (http)
        json_object_set_new(e, "http_status", json_integer(http));
    if (code)
        json_object_set_new(e, "code", json_string(code));
    json_object_set_new(e, "message", json_string(message ? message : ""));
    if (field)
        json_object_set_new(e, "field", json_string(field));
    json_object_set_new(e, "skipped", json_boolean(skipped));
    json_array_append_new(s->errors, e);
}

/* Keeps the event ids and receipt of an accepted batch's answer for -o json. */
static void note_accepted(struct sender *s, const struct vg_http_resp *resp)
{
    if (!s->ids)
        return;
    json_t *j = json_loadb(resp->body.data ? resp->body.data : "", resp->body.len, 0, NULL);
    json_t *ids = json_object_get(j, "event_ids");
    json_t *receipt = json_object_get(j, "receipt");
    size_t i;
    json_t *id;
    json_array_foreach(ids, i, id)
        if (json_is_string(id))
            json_array_append(s->ids, id);
    if (json_is_string(receipt))
        json_array_append(s->receipts, receipt);
    json_decref(j);
}

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
        int fail = vg_httpc_request(s->http, "POST", "/v1/events", s->headers, b->body.data,
                                       b->body.len, &resp, err, sizeof(err));
        if (fail) {
            if (fail != VG_EAUTH && attempts++ < s->retries) {
                s->retried++;
                vg_sleep_ms(1000, NULL);
                continue;
            }
            fprintf(stderr, "\nsend: %s\n", err);
            note_error(s, b->lines[0], 0, NULL, err, NULL, 0);
            goto out;
        }
        if (resp.status / 100 == 2) {
            note_accepted(s, &resp);
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
        const char *code = json_string_value(json_object_get(e, "code"));
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
        int skippable = (resp.status == 400 || resp.status == 413) && index >= 0;
        int skip = s->skip_invalid && skippable;
        note_error(s, line >= 0 ? line : b->lines[0], resp.status, code,
                   msg ? msg : "(no error message)", field, skip);
        json_decref(j);
        if (!skip)
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

void vg_send_usage(FILE *f)
{
    fputs("usage: vigilctl send [--url URL] [--key KEY] [--cacert FILE] [--batch N] [--async]\n"
          "                     [--skip-invalid] [--retries N] [--quiet] FILE|-\n"
          "  Publishes NDJSON events (one per line) through the producer's /v1/events.\n"
          "  --url URL       producer base URL, http:// or https:// (default $VIGIL_HTTP,\n"
          "                  else the config's producer.listen and producer.port)\n"
          "  --key KEY       tenant key (default $VIGIL_KEY, else $VIGIL_DEMO_KEY)\n"
          "  --cacert FILE   CA certificates (PEM) that verify an https:// producer,\n"
          "                  instead of the system's\n"
          "  --batch N       events per request (default 500, at most "
          "producer.max_batch_events)\n"
          "  --async         answer on enqueue (Prefer: respond-async), not on Kafka's ack\n"
          "  --skip-invalid  drop a line the producer refuses (400, 413) and go on\n"
          "  --retries N     retries of a batch on 429, 503 or a lost connection (default 10)\n"
          "  --quiet         no progress line or summary\n"
          "  -o json         also print the outcome as one JSON object on stdout: status,\n"
          "                  accepted, skipped, batches, retries, seconds, event_ids,\n"
          "                  receipts, errors (line, http_status, code, message, field)\n"
          "                  and, when it failed, stopped_at_line\n"
          "  HTTPS: the producer speaks plain HTTP; behind a TLS proxy or load balancer,\n"
          "  send to https://HOST[:PORT][/PREFIX]. The server's certificate and host name\n"
          "  are verified; no proxy from the environment is used.\n",
          f);
}

/* Fills report with the run's outcome, as the summary line and the errors
 * on stderr tell it; takes the arrays of s. */
static void fill_report(json_t *report, struct sender *s, int rc, long stopped_at)
{
    double secs = (double)(vg_mono_ms() - s->start_ms) / 1000.0;
    json_object_set_new(report, "status", json_string(rc ? "failed" : "ok"));
    json_object_set_new(report, "accepted", json_integer(s->sent));
    json_object_set_new(report, "skipped", json_integer(s->skipped));
    json_object_set_new(report, "batches", json_integer(s->batches));
    json_object_set_new(report, "retries", json_integer(s->retried));
    json_object_set_new(report, "seconds", json_real(secs));
    if (rc && stopped_at >= 0)
        json_object_set_new(report, "stopped_at_line", json_integer(stopped_at));
    json_object_set_new(report, "event_ids", s->ids);
    json_object_set_new(report, "receipts", s->receipts);
    json_object_set_new(report, "errors", s->errors);
    s->ids = s->receipts = s->errors = NULL;
}

int vg_send_run(const struct vg_config *cfg, int argc, char **argv, json_t *report)
{
    static const struct option opts[] = {{"url", required_argument, NULL, 'u'},
                                         {"key", required_argument, NULL, 'k'},
                                         {"cacert", required_argument, NULL, 'c'},
                                         {"batch", required_argument, NULL, 'b'},
                                         {"async", no_argument, NULL, 'a'},
                                         {"skip-invalid", no_argument, NULL, 's'},
                                         {"retries", required_argument, NULL, 'r'},
                                         {"quiet", no_argument, NULL, 'q'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    struct sender s = {.retries = 10, .tty = isatty(2)};
    const char *url = getenv("VIGIL_HTTP"), *key = getenv("VIGIL_KEY"), *cacert = NULL;
    if (!key || !*key)
        key = getenv("VIGIL_DEMO_KEY");
    int64_t batch_max = VG_MIN(500, cfg->producer_max_batch_events);
    int async = 0, c;
    char fallback[300];
    optind = 1;
    while ((c = getopt_long(argc, argv, "u:k:c:b:asr:qh", opts, NULL)) != -1) {
        switch (c) {
        case 'u':
            url = optarg;
            break;
        case 'k':
            key = optarg;
            break;
        case 'c':
            cacert = optarg;
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
            vg_send_usage(stdout);
            return 0;
        default:
            vg_send_usage(stderr);
            return 2;
        }
    }
    if (optind != argc - 1) {
        vg_send_usage(stderr);
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
    char err[512];
    s.http = vg_httpc_new(url, 30000 + (int)cfg->producer_ack_timeout_ms, err, sizeof(err));
    if (!s.http) {
        fprintf(stderr, "send: %s\n", err);
        return 2;
    }
    if (report) {
        s.ids = json_array();
        s.receipts = json_array();
        s.errors = json_array();
    }
    s.start_ms = s.last_progress_ms = vg_mono_ms();
    FILE *in = strcmp(path, "-") ? fopen(path, "r") : stdin;
    if (!in) {
        snprintf(err, sizeof(err), "%s: %s", path, strerror(errno));
        fprintf(stderr, "send: %s\n", err);
        note_error(&s, -1, 0, NULL, err, NULL, 0);
        if (report)
            fill_report(report, &s, 1, -1);
        vg_httpc_free(s.http);
        return 1;
    }
    if (cacert)
        vg_httpc_set_cafile(s.http, cacert);
    snprintf(s.headers, sizeof(s.headers),
             "Authorization: Bearer %s\r\nContent-Type: application/x-ndjson\r\n%s", key,
             async ? "Prefer: respond-async\r\n" : "");

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
        snprintf(err, sizeof(err), "reading %s: %s", path, strerror(errno));
        fprintf(stderr, "send: %s\n", err);
        note_error(&s, lineno, 0, NULL, err, NULL, 0);
        rc = 1;
    }
    if (!rc && b.n)
        rc = send_batch(&s, &b);
    progress(&s, 1);
    long stopped_at = b.n ? b.lines[0] : lineno;
    if (rc && !s.quiet)
        fprintf(stderr, "send: stopped at input line %ld; the %lld events before it were "
                        "accepted\n",
                stopped_at, s.sent);
    if (report)
        fill_report(report, &s, rc, stopped_at);
    free(line);
    free(b.lines);
    vg_buf_free(&b.body);
    vg_httpc_free(s.http);
    if (in != stdin)
        fclose(in);
    return rc;
}
