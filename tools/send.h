/*
 * send.h - `vigilctl send`: NDJSON backfills through the producer.
 *
 * vigilctl send reads NDJSON (one event per line) from a file or stdin and
 * publishes it through the producer's POST /v1/events in batches over one
 * keep-alive connection (http_client.h: HTTP or HTTPS), retrying 429 and
 * 503 after their Retry-After, with a progress line and a summary. For
 * backfills and batch jobs.
 */
#ifndef VG_SEND_H
#define VG_SEND_H

#include <stdio.h>

#include <jansson.h>

#include "config.h"

/*
 * vigilctl send [--url URL] [--key KEY] [--cacert FILE] [--batch N] [--async]
 *               [--skip-invalid] [--retries N] [--quiet] FILE|-
 * argv[0] is "send". URL (http:// or https://) defaults to $VIGIL_HTTP,
 * else the configured producer address; KEY to $VIGIL_KEY, else
 * $VIGIL_DEMO_KEY; FILE of --cacert verifies an https:// producer instead
 * of the system's CA certificates. Returns the exit status: 0 when every
 * line was accepted (or skipped with --skip-invalid), 1 otherwise, 2 for
 * bad arguments.
 *
 * report (vigilctl -o json) is NULL, or an empty object that gets, unless
 * the arguments were bad (2), what the run tells on stderr: "status" ("ok"
 * or "failed"), "accepted", "skipped", "batches", "retries", "seconds",
 * "stopped_at_line" (failed only), "event_ids" (every accepted event's, in
 * input order), "receipts" (one per durable batch; none with --async) and
 * "errors" (each refusal or failure: "line", "http_status", "code",
 * "message", "field" as known, and "skipped"). The caller keeps ownership.
 */
int vg_send_run(const struct vg_config *cfg, int argc, char **argv, json_t *report);

/* Prints vigilctl send's options to f (vigilctl send --help). */
void vg_send_usage(FILE *f);

#endif
