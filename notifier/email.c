/*
 * email.c - a summary as an e-mail over SMTP, through libcurl.
 */
#include <string.h>

#include "job.h"
#include "render.h"

static size_t upload(char *p, size_t size, size_t n, void *opaque)
{
    struct vg_job *j = opaque;
    size_t len = VG_MIN(size * n, j->body.len - j->sent);
    memcpy(p, j->body.data + j->sent, len);
    j->sent += len;
    return len;
}

int vg_email_prepare(struct vg_job *j, int64_t timeout_ms, int64_t now_us)
{
    const struct vg_notify *d = j->dest;
    struct vg_summary s;
    char why[128];
    if (vg_summary_parse(j->payload, strlen(j->payload), &s, why, sizeof(why)))
        return VG_EPARSE;
    struct vg_mail_head head = {.from = d->from,
                                .to = d->to,
                                .nto = d->nto,
                                .delivery_id = j->id,
                                .date_us = now_us};
    vg_buf_reset(&j->body);
    vg_render_email(&s, &head, &j->body);
    vg_summary_free(&s);
    j->sent = 0;
    for (size_t i = 0; i < d->nto; i++)
        j->list = curl_slist_append(j->list, d->to[i]);

    CURL *e = j->easy;
    curl_easy_setopt(e, CURLOPT_URL, d->smtp_url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    /* STARTTLS when the server offers it; smtps:// is TLS from the start. */
    curl_easy_setopt(e, CURLOPT_USE_SSL, (long)CURLUSESSL_TRY);
    if (d->username)
        curl_easy_setopt(e, CURLOPT_USERNAME, d->username);
    if (d->password)
        curl_easy_setopt(e, CURLOPT_PASSWORD, d->password);
    curl_easy_setopt(e, CURLOPT_MAIL_FROM, d->from);
    curl_easy_setopt(e, CURLOPT_MAIL_RCPT, j->list);
    curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)j->body.len);
    curl_easy_setopt(e, CURLOPT_READFUNCTION, upload);
    curl_easy_setopt(e, CURLOPT_READDATA, j);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)VG_MIN(timeout_ms, 5000));
    return 0;
}
