/*
 * leader.h - one scheduler at a time emits: the leader is whoever holds a
 * PostgreSQL session-level advisory lock on its own dedicated connection.
 *
 * A standby tries the lock (pg_try_advisory_lock, never waiting) every
 * retry_ms. The lock goes when the leader's connection goes: a process that
 * exits or is killed closes its socket and the server releases the lock at
 * once; a host that vanishes is noticed by TCP keepalives on both sides
 * within about ten seconds. A leader confirms, before each emission, that
 * its connection still answers and still holds the lock; if not it stops
 * leading, so while the database is unreachable nobody emits.
 */
#ifndef VG_LEADER_H
#define VG_LEADER_H

#include <libpq-fe.h>
#include <stdint.h>

/* "VGSCHEDL" as a big-endian integer (schemas/README.md lists the keys). */
#define VG_LEADER_LOCK_KEY 6217029359048672332LL

struct vg_leader {
    char *url;
    PGconn *conn;        /* the dedicated connection, or NULL */
    int leader;          /* 1 while the lock is ours */
    int64_t retry_ms;    /* between attempts to connect or take the lock */
    int64_t next_try_ms; /* monotonic time of the next attempt */
    int warned;          /* the database is unreachable and was logged once */
};

/* Prepares l; url is copied. Connects nothing yet. */
void vg_leader_init(struct vg_leader *l, const char *url, int64_t retry_ms);

/*
 * Called on every pass of the scheduler's loop. A leader confirms its lock
 * (as vg_leader_confirm()); a standby connects if needed and tries the lock,
 * at most once per retry_ms. Returns 1 if this process leads now, else 0.
 * Blocks at most a few seconds (connect and statement timeouts).
 */
int vg_leader_poll(struct vg_leader *l);

/* 1 if the connection answers and holds the lock; otherwise closes the
 * connection, stops leading and returns 0. Call before every emission. */
int vg_leader_confirm(struct vg_leader *l);

/* 1 if the dedicated connection is up (leader or standby). */
int vg_leader_connected(const struct vg_leader *l);

/* Closes the connection, which releases the lock; frees l's memory. */
void vg_leader_close(struct vg_leader *l);

#endif
