/*
 * pool.h - vigil-query's bounded pool of PostgreSQL connections.
 *
 * query.pool_size connections, opened on first use and reopened after a
 * failure (at most one attempt a second per connection, so a database
 * outage answers 503 at once instead of queueing). Every connection runs
 * with statement_timeout = query.statement_timeout_ms, in a read-only
 * default transaction mode, and has every statement of the table given to
 * vg_qpool_new() prepared, once per connection, by name. A request takes a
 * connection with vg_qpool_take(), waiting at most query.pool_wait_ms: the
 * pool is the bound on concurrent database work, whatever the number of
 * HTTP connections.
 */
#ifndef VG_QPOOL_H
#define VG_QPOOL_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct vg_qpool;

/* A statement prepared on every connection: its name and text ($1..$n). */
struct vg_qstmt {
    const char *name;
    const char *sql;
    int nparams;
};

/*
 * A pool of size connections to url (copied). stmts (n entries) must outlive
 * the pool. Connects nothing yet. Free with vg_qpool_free().
 */
struct vg_qpool *vg_qpool_new(const char *url, int size, int64_t wait_ms,
                              int64_t statement_timeout_ms, const struct vg_qstmt *stmts,
                              size_t nstmts);

/* Closes every connection and frees the pool; accepts NULL. No connection may be taken. */
void vg_qpool_free(struct vg_qpool *p);

/*
 * Takes a connected connection. Returns 0 and *conn; VG_ETIMEOUT if none
 * came free within the pool's wait; VG_ETRANSIENT if the database cannot be
 * reached (errstr filled). Give it back with vg_qpool_give().
 */
int vg_qpool_take(struct vg_qpool *p, PGconn **conn, char *errstr, size_t errstr_size) VG_MUSTCHECK;

/* Gives conn back; broken (a transient failure seen on it) closes it. */
void vg_qpool_give(struct vg_qpool *p, PGconn *conn, int broken);

/*
 * Runs prepared statement `name` with params (text, NULL for SQL NULL) on
 * conn. Returns 0 and *res (PGRES_TUPLES_OK or COMMAND_OK; the caller
 * PQclear()s it), or a vg_pg_classify() code with errstr filled.
 */
int vg_qpool_exec(PGconn *conn, const char *name, int nparams, const char *const *params,
                  PGresult **res, char *errstr, size_t errstr_size) VG_MUSTCHECK;

/* Connections open now, and in use now (for /metrics and /readyz). */
void vg_qpool_counts(struct vg_qpool *p, int *open, int *busy);

#endif
