/*
 * wait.h - long-polls and receipt waits that hold no thread.
 *
 * A request that must wait (GET /v1/sessions/{id}?wait_ms= with an unchanged
 * row, GET /v1/receipts/{r}?wait_ms= not landed yet) suspends its
 * connection and is kept here; one thread wakes it when the listener's
 * generation moves (a commit, a session change) or its time is up, by
 * resuming the connection, and libmicrohttpd then runs the request again,
 * which answers or waits anew. The HTTP threads meanwhile serve others.
 * Waiters are bounded by query.connection_limit.
 */
#ifndef VG_QWAIT_H
#define VG_QWAIT_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "listener.h"

struct vg_qwait;

typedef void (*vg_qwait_fn)(void *opaque);

/* Starts the waking thread over listener l, for at most max waiters. */
struct vg_qwait *vg_qwait_start(struct vg_listener *l, size_t max);

/* Wakes every waiter (resume), refuses new ones and stops the thread;
 * accepts NULL. Call before stopping the HTTP daemon. */
void vg_qwait_stop(struct vg_qwait *w);

/* Frees a stopped waker once the HTTP daemon is stopped; accepts NULL. */
void vg_qwait_free(struct vg_qwait *w);

/*
 * Calls suspend(opaque) and keeps opaque until the listener's generation is
 * no longer gen or until_ms (monotonic) passes; then calls resume(opaque),
 * once, from the waking thread. Both run under this module's lock. Returns
 * 0, or VG_EFULL (max waiters) or VG_ETIMEOUT (stopping) having called
 * nothing: the caller answers at once.
 */
int vg_qwait_add(struct vg_qwait *w, uint64_t gen, int64_t until_ms, vg_qwait_fn suspend,
                 vg_qwait_fn resume, void *opaque) VG_MUSTCHECK;

#endif
