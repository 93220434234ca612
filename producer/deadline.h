/*
 * deadline.h - a request must arrive whole within a deadline, however slowly
 * it trickles in.
 *
 * libmicrohttpd's connection timeout counts idle time only: a client that
 * sends a header line every few seconds holds its connection, one of
 * producer.connection_limit, for ever (slowloris). The server registers each
 * connection's socket here and arms a deadline while a request is on its way
 * in; a reaper thread shuts down the socket of a connection whose deadline
 * passed (shutdown(2), never close(2): the descriptor stays
 * libmicrohttpd's, which then closes the connection in its own thread).
 */
#ifndef VG_DEADLINE_H
#define VG_DEADLINE_H

#include <stdint.h>

struct vg_deadlines;
struct vg_deadline; /* one connection */

/* Starts the reaper, which looks every period_ms. Aborts on failure. */
struct vg_deadlines *vg_deadlines_start(int64_t period_ms);

/* Stops the reaper and frees what is still registered; accepts NULL. */
void vg_deadlines_stop(struct vg_deadlines *d);

/*
 * Registers socket fd with a deadline at_ms (monotonic; 0: none). The
 * caller owns fd and must vg_deadline_remove() the entry before closing it.
 */
struct vg_deadline *vg_deadline_add(struct vg_deadlines *d, int fd, int64_t at_ms);

/* Arms (at_ms, monotonic) or disarms (0) the deadline of e; e may be NULL. */
void vg_deadline_set(struct vg_deadlines *d, struct vg_deadline *e, int64_t at_ms);

/* Unregisters and frees e (NULL accepted); after it, fd is never touched. */
void vg_deadline_remove(struct vg_deadlines *d, struct vg_deadline *e);

#endif
