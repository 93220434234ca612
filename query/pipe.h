/*
 * pipe.h - reads sent to PostgreSQL several at a time (libpq pipeline mode).
 *
 * With the cache off, every read of a session was one blocking round trip
 * from an HTTP thread: the thread slept on the database while its other
 * connections waited, and the database woke once per read. Here a request
 * that needs a row suspends its connection and queues a job; a few
 * dispatcher threads each take every job queued, send them on one pooled
 * connection in one pipeline, read the results in order and resume the
 * connections, which then answer from the results. Under load a round trip
 * (and a wakeup of each side) serves many reads; alone, a job costs the
 * round trip it always did, plus a hand-over between threads.
 */
#ifndef VG_QPIPE_H
#define VG_QPIPE_H

#include <libpq-fe.h>
#include <stddef.h>

#include "pool.h"

#define VG_QPIPE_PARAMS 2

struct vg_qpipe;

typedef void (*vg_qpipe_done_fn)(void *opaque);

/* One statement to run. The submitter fills the first fields; the
 * dispatcher the results, then calls done (from its own thread). */
struct vg_qpipe_job {
    const char *stmt; /* a prepared statement of the pool */
    int nparams;
    const char *params[VG_QPIPE_PARAMS]; /* must live until done */
    vg_qpipe_done_fn done;
    void *opaque;

    PGresult *res; /* on rc 0, for the submitter to PQclear() */
    int rc;        /* 0, VG_ETRANSIENT, VG_ETIMEOUT or another error */
    char err[256];
    struct vg_qpipe_job *next;
};

/* nthreads dispatchers over pool (which must outlive them). */
struct vg_qpipe *vg_qpipe_start(struct vg_qpool *pool, int nthreads);

/* Queues job; 0, or -1 if the pipe is stopping (job untouched, done never called). */
int vg_qpipe_submit(struct vg_qpipe *p, struct vg_qpipe_job *job);

/* Runs what is queued and stops the threads; later submits are refused.
 * Accepts NULL. */
void vg_qpipe_stop(struct vg_qpipe *p);

/* Frees a stopped pipe; accepts NULL. */
void vg_qpipe_free(struct vg_qpipe *p);

#endif
