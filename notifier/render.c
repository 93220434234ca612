#include "render.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define URL_SHOWN_MAX 200 /* a long URL is cut: mail lines stay well under 998 bytes */

void vg_render_duration(int64_t ms, char *out, size_t size)
{
    if (ms < 0)
        snprintf(out, size, "an unknown time");
    else if (ms < 60000)
        snprintf(out, size, "%" PRId64 " s", (ms + 500) / 1000);
    else if (ms < 120 * 60000)
        snprintf(out, size, "%" PRId64 " min", (ms + 30000) / 60000);
    else
        snprintf(out, size, "%" PRId64 " h %02" PRId64 " min", ms / 3600000,
                 (ms % 3600000 + 30000) / 60000 % 60);
}

static const char *verb(const char *status)
{
    if (!strcmp(status, "timeout"))
        return "timed out after";
    if (!strcmp(status, "expired"))
        return "expired after";
    if (!strcmp(status, "ended"))
        return "ended after";
    return "closed after";
}

/* Appends s with CR and LF replaced: it goes into a header line. */
static void put_line(struct vg_buf *out, const char *s)
{
    for (; *s; s++)
        vg_buf_putc(out, *s == '\r' || *s == '\n' ? ' ' : *s);
}

void vg_render_subject(const struct vg_summary *s, struct vg_buf *out)
{
    char d[48];
    vg_render_duration(s->duration_ms, d, sizeof(d));
    put_line(out, s->kind ? s->kind : "session");
    vg_buf_putc(out, ' ');
    put_line(out, s->session_id);
    vg_buf_printf(out, " %s %s", verb(s->status), d);
}

/* The counts by type, largest first (ties by name). */
struct count {
    const char *type;
    int64_t n;
};

static int by_count(const void *a, const void *b)
{
    const struct count *x = a, *y = b;
    if (x->n != y->n)
        return x->n > y->n ? -1 : 1;
    return strcmp(x->type, y->type);
}

static struct count *sorted_counts(const struct vg_summary *s, size_t *n)
{
    size_t cap = json_object_size(s->counts);
    struct count *c = vg_xcalloc(cap + 1, sizeof(*c));
    const char *key;
    json_t *v;
    *n = 0;
    json_object_foreach(s->counts, key, v)
    {
        c[*n].type = key;
        c[(*n)++].n = json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
    }
    qsort(c, *n, sizeof(*c), by_count);
    return c;
}

static const char *event_field(json_t *e, const char *key)
{
    const char *v = json_string_value(json_object_get(e, key));
    return v ? v : "";
}

void vg_render_slack(const struct vg_summary *s, struct vg_buf *out)
{
    struct vg_buf t = {0};
    vg_buf_puts(&t, "*");
    vg_render_subject(s, &t);
    vg_buf_printf(&t, "*\nTenant `%s` · session `%s` · kind %s · status %s", s->tenant,
                  s->session_id, s->kind ? s->kind : "-", s->status);
    if (s->end_reason)
        vg_buf_printf(&t, " (%s)", s->end_reason);
    vg_buf_printf(&t, "\n%" PRId64 " events, %" PRId64 " heartbeats", s->event_count,
                  s->heartbeat_count);
    size_t n;
    struct count *c = sorted_counts(s, &n);
    for (size_t i = 0; i < n; i++)
        vg_buf_printf(&t, "%s %s %" PRId64, i ? "," : ":", c[i].type, c[i].n);
    free(c);
    json_t *body = json_pack("{s:s%}", "text", t.data, t.len);
    char *text = json_dumps(body, JSON_COMPACT);
    vg_buf_puts(out, text ? text : "{}");
    free(text);
    json_decref(body);
    vg_buf_free(&t);
}

static void html_escaped(struct vg_buf *out, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<':
            vg_buf_puts(out, "&lt;");
            break;
        case '>':
            vg_buf_puts(out, "&gt;");
            break;
        case '&':
            vg_buf_puts(out, "&amp;");
            break;
        case '"':
            vg_buf_puts(out, "&quot;");
            break;
        case '\r':
        case '\n':
            vg_buf_putc(out, ' ');
            break;
        default:
            vg_buf_putc(out, *s);
        }
    }
}

/* The report's rows, label and value, shared by both parts. */
struct row {
    const char *label;
    char value[160];
};

static size_t report_rows(const struct vg_summary *s, struct row *r)
{
    size_t n = 0;
    char d[48];
    vg_render_duration(s->duration_ms, d, sizeof(d));
    snprintf(r[n].value, sizeof(r[n].value), "%s", s->tenant);
    r[n++].label = "Tenant";
    snprintf(r[n].value, sizeof(r[n].value), "%s", s->session_id);
    r[n++].label = "Session";
    snprintf(r[n].value, sizeof(r[n].value), "%s", s->kind ? s->kind : "-");
    r[n++].label = "Kind";
    snprintf(r[n].value, sizeof(r[n].value), "%s%s%s%s", s->status, s->end_reason ? " (" : "",
             s->end_reason ? s->end_reason : "", s->end_reason ? ")" : "");
    r[n++].label = "Status";
    const char *started = event_field(s->root, "started_at");
    snprintf(r[n].value, sizeof(r[n].value), "%s", *started ? started : "-");
    r[n++].label = "Started";
    snprintf(r[n].value, sizeof(r[n].value), "%s", s->ended_at ? s->ended_at : "-");
    r[n++].label = "Ended";
    snprintf(r[n].value, sizeof(r[n].value), "%s", d);
    r[n++].label = "Duration";
    snprintf(r[n].value, sizeof(r[n].value), "%" PRId64 " events, %" PRId64 " heartbeats",
             s->event_count, s->heartbeat_count);
    r[n++].label = "Activity";
    return n;
}

static void text_part(const struct vg_summary *s, const struct row *r, size_t nr,
                      const struct count *c, size_t nc, struct vg_buf *out)
{
    vg_render_subject(s, out);
    vg_buf_puts(out, "\r\n\r\n");
    for (size_t i = 0; i < nr; i++) {
        vg_buf_printf(out, "%-10s ", r[i].label);
        put_line(out, r[i].value);
        vg_buf_puts(out, "\r\n");
    }
    vg_buf_puts(out, "\r\nEvents by type:\r\n");
    if (nc == 0)
        vg_buf_puts(out, "  (none)\r\n");
    for (size_t i = 0; i < nc; i++)
        vg_buf_printf(out, "  %-32.64s %8" PRId64 "\r\n", c[i].type, c[i].n);
    vg_buf_puts(out, "\r\nLast events:\r\n");
    size_t i;
    json_t *e;
    json_array_foreach(s->last_events, i, e)
    {
        vg_buf_printf(out, "  %-32s %-24.64s %.*s\r\n", event_field(e, "occurred_at"),
                      event_field(e, "type"), URL_SHOWN_MAX, event_field(e, "url"));
    }
    if (json_array_size(s->last_events) == 0)
        vg_buf_puts(out, "  (none)\r\n");
}

static void html_part(const struct vg_summary *s, const struct row *r, size_t nr,
                      const struct count *c, size_t nc, struct vg_buf *out)
{
    struct vg_buf subject = {0};
    vg_render_subject(s, &subject);
    vg_buf_puts(out, "<!DOCTYPE html>\r\n<html><body style=\"font-family:sans-serif\">\r\n<h2>");
    html_escaped(out, subject.data);
    vg_buf_puts(out, "</h2>\r\n<table>\r\n");
    vg_buf_free(&subject);
    for (size_t i = 0; i < nr; i++) {
        vg_buf_printf(out, "<tr><th align=\"left\">%s</th><td>", r[i].label);
        html_escaped(out, r[i].value);
        vg_buf_puts(out, "</td></tr>\r\n");
    }
    vg_buf_puts(out, "</table>\r\n<h3>Events by type</h3>\r\n<table>\r\n");
    for (size_t i = 0; i < nc; i++) {
        vg_buf_puts(out, "<tr><td>");
        html_escaped(out, c[i].type);
        vg_buf_printf(out, "</td><td align=\"right\">%" PRId64 "</td></tr>\r\n", c[i].n);
    }
    vg_buf_puts(out, "</table>\r\n<h3>Last events</h3>\r\n<table>\r\n");
    size_t i;
    json_t *e;
    json_array_foreach(s->last_events, i, e)
    {
        char url[URL_SHOWN_MAX + 1];
        snprintf(url, sizeof(url), "%s", event_field(e, "url"));
        const char *cells[3] = {event_field(e, "occurred_at"), event_field(e, "type"), url};
        vg_buf_puts(out, "<tr>");
        for (size_t k = 0; k < 3; k++) {
            vg_buf_puts(out, "<td>");
            html_escaped(out, cells[k]);
            vg_buf_puts(out, "</td>");
        }
        vg_buf_puts(out, "</tr>\r\n");
    }
    vg_buf_puts(out, "</table>\r\n</body></html>\r\n");
}

void vg_render_email(const struct vg_summary *s, const struct vg_mail_head *h,
                     struct vg_buf *out)
{
    char date[64];
    time_t t = (time_t)(h->date_us / 1000000);
    struct tm tm;
    gmtime_r(&t, &tm);
    static const char *days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    snprintf(date, sizeof(date), "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday],
             tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);

    vg_buf_puts(out, "From: ");
    put_line(out, h->from);
    vg_buf_puts(out, "\r\nTo: ");
    for (size_t i = 0; i < h->nto; i++) {
        if (i)
            vg_buf_puts(out, ", ");
        put_line(out, h->to[i]);
    }
    vg_buf_puts(out, "\r\nSubject: ");
    vg_render_subject(s, out);
    vg_buf_printf(out,
                  "\r\nDate: %s\r\nMessage-ID: <%s@vigil>\r\nVigil-Delivery: %s\r\n"
                  "MIME-Version: 1.0\r\n"
                  "Content-Type: multipart/alternative; boundary=\"vigil-%s\"\r\n\r\n",
                  date, h->delivery_id, h->delivery_id, h->delivery_id);

    struct row rows[12];
    size_t nr = report_rows(s, rows), nc;
    struct count *c = sorted_counts(s, &nc);
    vg_buf_printf(out,
                  "--vigil-%s\r\nContent-Type: text/plain; charset=utf-8\r\n"
                  "Content-Transfer-Encoding: 8bit\r\n\r\n",
                  h->delivery_id);
    text_part(s, rows, nr, c, nc, out);
    vg_buf_printf(out,
                  "\r\n--vigil-%s\r\nContent-Type: text/html; charset=utf-8\r\n"
                  "Content-Transfer-Encoding: 8bit\r\n\r\n",
                  h->delivery_id);
    html_part(s, rows, nr, c, nc, out);
    vg_buf_printf(out, "\r\n--vigil-%s--\r\n", h->delivery_id);
    free(c);
}
