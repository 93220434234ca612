/*
 * render.h - what a person reads of a summary: a Slack message, an e-mail.
 *
 * Pure functions of the summary (no I/O), so that the words are tested as
 * they are sent. The JSON format of a webhook is the summary itself and is
 * not rendered here.
 */
#ifndef VG_RENDER_H
#define VG_RENDER_H

#include <stddef.h>
#include <stdint.h>

#include "summary.h"
#include "util.h"

/* "35 s", "47 min", "2 h 05 min"; "an unknown time" when ms < 0. */
void vg_render_duration(int64_t ms, char *out, size_t size);

/* "lesson 20261201_093000_lesson_x7 ended after 47 min" (or "timed out
 * after", "expired after"); appended to out, on one line. */
void vg_render_subject(const struct vg_summary *s, struct vg_buf *out);

/* A Slack incoming-webhook body: {"text": "..."} with the session, kind,
 * status, duration and counts. Appended to out. */
void vg_render_slack(const struct vg_summary *s, struct vg_buf *out);

/* What identifies one e-mail: its envelope and the delivery it carries. */
struct vg_mail_head {
    const char *from;
    char *const *to;
    size_t nto;
    const char *delivery_id; /* Message-ID <delivery_id@vigil> and a header of its own */
    int64_t date_us;         /* the Date header */
};

/* A whole RFC 5322 message with CRLF line ends: headers, then a
 * multipart/alternative body with a text part and an HTML part (counts by
 * event type, the last events). Appended to out. */
void vg_render_email(const struct vg_summary *s, const struct vg_mail_head *h,
                     struct vg_buf *out);

#endif
