/*
 * summary.h - a session summary as the worker emits it to vigil.summaries.
 *
 * The wire format is defined once, by the worker's SQL (worker/summaries.c)
 * and described by schemas/json/summary.json; this is the notifier's reading
 * of it, checked at the edge: a summary without its ids or status is refused.
 */
#ifndef VG_SUMMARY_H
#define VG_SUMMARY_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct vg_summary {
    json_t *root; /* owned; every pointer below points into it */
    const char *summary_id, *tenant, *session_id, *status;
    const char *kind;       /* may be NULL */
    const char *end_reason; /* may be NULL */
    const char *ended_at;   /* RFC 3339 text, or NULL */
    int64_t ended_us;       /* INT64_MIN when unknown */
    int64_t duration_ms;    /* -1 when unknown */
    int64_t event_count, heartbeat_count;
    json_t *counts;      /* object type -> count; never NULL */
    json_t *last_events; /* array of {event_id, type, occurred_at, url}; never NULL */
};

/* Parses len bytes of JSON into s. Returns 0, or VG_EPARSE with the reason in
 * errstr (s then holds nothing to free). */
int vg_summary_parse(const char *text, size_t len, struct vg_summary *s, char *errstr,
                     size_t errstr_size) VG_MUSTCHECK;

/* Frees what a successful parse holds; accepts a zeroed struct. */
void vg_summary_free(struct vg_summary *s);

#endif
