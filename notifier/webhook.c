/*
 * webhook.c - a summary POSTed to a receiver, signed (DESIGN.md section 11).
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "crypto.h"
#include "job.h"
#include "render.h"

#define ANSWER_MAX 4096 /* bytes of a receiver's answer read; the rest is ignored */

void vg_webhook_signature(const char *secret, int64_t t, const char *body, size_t len,
                          struct vg_buf *out)
{
    struct vg_buf signed_text = {0};
    unsigned char mac[VG_SHA256_LEN];
    char hex[2 * VG_SHA256_LEN + 1];
    vg_buf_printf(&signed_text, "%lld.", (long long)t);
    vg_buf_append(&signed_text, body, len);
    vg_hmac_sha256(secret, strlen(secret), signed_text.data, signed_text.len, mac);
    vg_hex(mac, sizeof(mac), hex);
    vg_buf_printf(out, "t=%lld,v1=%s", (long long)t, hex);
    vg_buf_free(&signed_text);
}

static size_t discard(char *p, size_t size, size_t n, void *opaque)
{
    (void)p;
    (void)opaque;
    return size * n; /* the answer's body means nothing to us */
}

static size_t on_header(char *p, size_t size, size_t n, void *opaque)
{
    struct vg_job *j = opaque;
    size_t len = size * n;
    static const char name[] = "retry-after:";
    if (len > sizeof(name) - 1 && len < 256 && !strncasecmp(p, name, sizeof(name) - 1)) {
        char v[256];
        memcpy(v, p + sizeof(name) - 1, len - (sizeof(name) - 1));
        v[len - (sizeof(name) - 1)] = '\0';
        j->retry_after_ms = vg_outcome_retry_after_ms(v, vg_now_ms() / 1000);
    }
    return len;
}

int vg_webhook_prepare(struct vg_job *j, int64_t timeout_ms, int64_t now_s)
{
    const struct vg_notify *d = j->dest;
    vg_buf_reset(&j->body);
    if (d->format == VG_NOTIFY_SLACK) {
        struct vg_summary s;
        char why[128];
        if (vg_summary_parse(j->payload, strlen(j->payload), &s, why, sizeof(why)))
            return VG_EPARSE;
        vg_render_slack(&s, &j->body);
        vg_summary_free(&s);
    } else {
        vg_buf_puts(&j->body, j->payload);
    }
    struct vg_buf h = {0};
    vg_buf_printf(&h, "Vigil-Delivery: %s", j->id);
    j->list = curl_slist_append(j->list, h.data);
    vg_buf_reset(&h);
    vg_buf_puts(&h, "Vigil-Signature: ");
    vg_webhook_signature(d->secret, now_s, j->body.data, j->body.len, &h);
    j->list = curl_slist_append(j->list, h.data);
    vg_buf_reset(&h);
    vg_buf_printf(&h, "Vigil-Attempt: %d", j->attempts);
    j->list = curl_slist_append(j->list, h.data);
    vg_buf_free(&h);
    j->list = curl_slist_append(j->list, "Content-Type: application/json");
    j->list = curl_slist_append(j->list, "Expect:");

    CURL *e = j->easy;
    curl_easy_setopt(e, CURLOPT_URL, d->url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, j->body.data);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)j->body.len);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, j->list);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "vigil-notifier/" VG_VERSION);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)VG_MIN(timeout_ms, 5000));
    curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)ANSWER_MAX);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, j);
    return 0;
}
