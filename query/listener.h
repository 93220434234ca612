/*
 * listener.h - the one LISTEN connection of a vigil-query process.
 *
 * A thread holds a dedicated PostgreSQL connection that LISTENs on
 * VG_RECEIPT_CHANNEL (common/receipt.h), which the workers notify in the
 * transaction that moves their offsets, and on VG_SESSIONS_CHANNEL, which
 * every statement writing mart.sessions notifies with the sessions it wrote,
 * or with an empty payload for "any" when they do not fit (a trigger of
 * schemas/sql/022_notify_session_ids.sql). On each notification, and every confirm_ms
 * regardless, it reads ops.consumer_offsets of the workers' group into a
 * snapshot: one query per commit for the whole process, whatever the
 * number of waiters. When the snapshot changes or a session does, the
 * generation counter moves and every waiter wakes: receipt waiters check
 * the snapshot, session long-polls re-read their row.
 *
 * The same round trips tell the cache how current it is: a notification
 * sent before a round trip began has arrived by the time it ends, so after
 * one that brought none, nothing written before it began is unknown here.
 */
#ifndef VG_LISTENER_H
#define VG_LISTENER_H

#include <stdint.h>

#include "receipt.h"

#define VG_SESSIONS_CHANNEL "vigil_sessions" /* notified by 022_notify_session_ids.sql */

struct vg_listener;

/* Starts the thread on url for consumer group `group` (both copied),
 * confirming every confirm_ms. Never fails for an unreachable database: it
 * retries with backoff. */
struct vg_listener *vg_listener_start(const char *url, const char *group, int64_t confirm_ms);

/* Stops the thread and frees; accepts NULL. No waiter may remain. */
void vg_listener_stop(struct vg_listener *l);

/* The current generation: read it before checking a condition, then wait on it. */
uint64_t vg_listener_generation(struct vg_listener *l);

/* Waits until the generation differs from seen or deadline_ms (monotonic)
 * passes. Returns 1 if it moved, else 0. */
int vg_listener_wait(struct vg_listener *l, uint64_t seen, int64_t deadline_ms);

/* 1 if, in the snapshot, every position of r is committed (next_offset > offset). */
int vg_listener_landed(struct vg_listener *l, const struct vg_receipt *r);

/* 1 while the LISTEN connection is up and a snapshot was read. */
int vg_listener_ready(struct vg_listener *l);

/*
 * When session `session` of `tenant` last changed, as far as this process
 * knows (Unix ms, the time the notification naming it arrived, or one
 * saying any session may have changed), provided the listener confirmed
 * within max_age_ms that nothing else is pending; else INT64_MAX (nothing
 * can be vouched for: the connection is down or slow). A session read from
 * PostgreSQL after this time is still what PostgreSQL holds, but for changes
 * made in the last max_age_ms. Sessions are told apart by a hash: another
 * session's change may count as this one's too (never the reverse).
 */
int64_t vg_listener_unchanged_since(struct vg_listener *l, int64_t max_age_ms,
                                    const char *tenant, const char *session);

#endif
