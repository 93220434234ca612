/*
 * deliver.h - the delivery loop: due rows of ops.deliveries sent, outcomes
 * written back.
 *
 * Runs on its own thread with its own PostgreSQL connection and a libcurl
 * multi handle. It claims due rows of the destinations it knows with FOR
 * UPDATE SKIP LOCKED, at most notifier.concurrency in flight and
 * notifier.per_destination per destination (so one slow receiver cannot
 * take every slot), each claim a lease: attempts counted, next_attempt_at
 * pushed past the request's timeout, so a notifier killed mid-request leaves
 * the row due again once the lease ends. Outcomes (outcome.h) are written in
 * one statement per pass, only while the row is still ours. The ingest
 * transaction NOTIFYs vigil_deliveries, which wakes the loop at once.
 */
#ifndef VG_DELIVER_H
#define VG_DELIVER_H

#include "config.h"

struct vg_deliver;

/* Starts the loop's thread. cfg is borrowed and must outlive
 * vg_deliver_stop(). Returns NULL with errstr filled if the thread or
 * libcurl cannot start (an unreachable database is retried, not an error). */
struct vg_deliver *vg_deliver_start(const struct vg_config *cfg, char *errstr,
                                    size_t errstr_size);

/* 1 while the loop's database connection is up. */
int vg_deliver_ready(struct vg_deliver *d);

/* Stops claiming, waits up to notifier.timeout_ms for the transfers in
 * flight, hands back what is left (due again at once), joins the thread and
 * frees everything; accepts NULL. */
void vg_deliver_stop(struct vg_deliver *d);

/* The PostgreSQL channel the ingest transaction notifies. */
#define VG_DELIVER_CHANNEL "vigil_deliveries"

#endif
