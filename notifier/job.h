/*
 * job.h - one delivery attempt: the claimed row of ops.deliveries and its
 * libcurl transfer (a webhook request in webhook.c, an e-mail in email.c).
 *
 * A job is owned by the delivery loop (deliver.c) from its claim until its
 * outcome is written back; the easy handle runs in the loop's multi handle.
 */
#ifndef VG_JOB_H
#define VG_JOB_H

#include <curl/curl.h>
#include <stdint.h>

#include "notify.h"
#include "outcome.h"
#include "util.h"

#define VG_JOB_ID_LEN 37 /* a UUID and its NUL */

struct vg_job {
    char id[VG_JOB_ID_LEN];      /* ops.deliveries.delivery_id, sent as Vigil-Delivery */
    const struct vg_notify *dest; /* borrowed from the configuration */
    size_t k;                     /* its index in the delivery loop's list */
    char *payload;                /* owned: the summary's JSON text */
    int attempts;                 /* including this one */
    int64_t created_us, ended_us; /* ended_us: INT64_MIN when unknown */

    CURL *easy;
    struct curl_slist *list; /* request headers, or the mail's recipients */
    struct vg_buf body;      /* what is sent: the request body, or the whole message */
    size_t sent;             /* bytes of body uploaded (SMTP) */
    int64_t retry_after_ms;  /* from the answer; -1: none */
    int64_t started_ms;      /* monotonic */
    char error[CURL_ERROR_SIZE];
};

/*
 * Builds the webhook request of j: POST of the summary (or its Slack
 * rendering) with Vigil-Delivery and Vigil-Signature "t=<now_s>,v1=<hex
 * HMAC-SHA256(secret, "<t>.<body>")>", limited to timeout_ms. Returns 0, or
 * VG_EPARSE if the payload cannot be rendered (the delivery is then dead).
 */
int vg_webhook_prepare(struct vg_job *j, int64_t timeout_ms, int64_t now_s) VG_MUSTCHECK;

/* The signature header's value for body, signed at t, into out. */
void vg_webhook_signature(const char *secret, int64_t t, const char *body, size_t len,
                          struct vg_buf *out);

/*
 * Builds the e-mail of j over SMTP (STARTTLS when the server offers it on
 * smtp://, TLS from the start on smtps://; credentials from the URL or the
 * destination), limited to timeout_ms. Returns 0, or VG_EPARSE if the
 * payload cannot be rendered.
 */
int vg_email_prepare(struct vg_job *j, int64_t timeout_ms, int64_t now_us) VG_MUSTCHECK;

/* After the transfer: its outcome (outcome.h), the HTTP status or SMTP
 * reply in *status (0: none) and, unless delivered, why in words. */
enum vg_outcome vg_job_result(struct vg_job *j, CURLcode rc, long *status, char *why,
                              size_t why_size);

/* Frees the transfer and the job; accepts NULL. The easy handle must be out
 * of any multi handle. */
void vg_job_free(struct vg_job *j);

#endif
