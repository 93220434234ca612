/*
 * pg.h - PostgreSQL connections that come back.
 *
 * vg_pg_open() connects once; vg_pg_ensure() reconnects a lost connection
 * with capped exponential backoff until it succeeds or a stop is requested.
 * vg_pg_classify() is the one place that decides whether a failed statement is
 * worth retrying (DESIGN.md section 7). The connection URL may hold a
 * password: it is never logged.
 */
#ifndef VG_PG_H
#define VG_PG_H

#include <libpq-fe.h>
#include <signal.h>
#include <stdint.h>

#include "err.h"
#include "util.h"

struct vg_pg {
    PGconn *conn;
    char *url;
    const char *application_name;
    struct vg_backoff backoff;
    uint64_t generation; /* counts successful connections: session state (temporary
                            tables, prepared statements) belongs to one generation */
};

/* Connects to url (copied). Returns 0, or VG_ETRANSIENT with errstr filled;
 * pg->conn is NULL then, and vg_pg_ensure() retries. */
int vg_pg_open(struct vg_pg *pg, const char *url, const char *application_name, char *errstr,
               size_t errstr_size) VG_MUSTCHECK;

/* Returns 0 once pg->conn is usable, reconnecting with backoff (logged at
 * warn) as often as needed; VG_ETIMEOUT if *stop was raised first. */
int vg_pg_ensure(struct vg_pg *pg, const volatile sig_atomic_t *stop) VG_MUSTCHECK;

/* Closes the connection and frees what vg_pg_open() kept; accepts an unopened struct. */
void vg_pg_close(struct vg_pg *pg);

/* Classifies a failure, the one place that decides (DESIGN.md section 7):
 * VG_ETRANSIENT for a lost connection, serialization failure, deadlock, lock
 * timeout, shutdown or resource exhaustion (retry the whole transaction);
 * VG_EDB for a value the database refuses (a data exception, a constraint: the
 * data's fault); VG_ESQL for a statement it refuses for any other reason (a
 * missing table, a bug: ours, never a message's). res may be NULL (then only
 * the connection is looked at). Counts the failure in
 * vigil_db_errors_total{class} (the SQLSTATE class; 08 without one). */
int vg_pg_classify(PGconn *conn, const PGresult *res);

/*
 * Runs sql and checks that it succeeded (PGRES_COMMAND_OK or
 * PGRES_TUPLES_OK): the one place for execute, check, classify, clear. With
 * nparams > 0, params holds the text of $1..$nparams (an element may be NULL:
 * SQL NULL); with nparams 0 (params NULL), sql may hold several statements
 * separated by semicolons. Returns 0 and, if res is not NULL, the result in
 * *res (the caller PQclear()s it); otherwise a classified error
 * (vg_pg_classify()) with the server's message in errstr, and *res NULL.
 */
int vg_pg_query(PGconn *conn, PGresult **res, const char *sql, int nparams,
                const char *const *params, char *errstr, size_t errstr_size) VG_MUSTCHECK;

/* vg_pg_query() without parameters or result: BEGIN, COMMIT, DDL, ... */
int vg_pg_exec(PGconn *conn, const char *sql, char *errstr, size_t errstr_size) VG_MUSTCHECK;

/* Rolls back the open transaction, if the connection is still there; a
 * failure is only logged (the server rolls back on disconnect anyway). */
void vg_pg_rollback(PGconn *conn);

/* Copies PostgreSQL's message for res (or the connection) into errstr, one line. */
void vg_pg_error(PGconn *conn, const PGresult *res, char *errstr, size_t errstr_size);

/*
 * Why connecting to url (a libpq URI or key=value string) failed, for a log,
 * without any secret: the target as "host H port P database D" only, read
 * with PQconninfoParse(), then libpq's message for conn (may be NULL) with
 * the password cut out. A url libpq cannot parse is not quoted at all:
 * libpq's own message for it holds the whole string, password included.
 */
void vg_pg_connect_error(const char *url, PGconn *conn, char *errstr, size_t errstr_size);

/* COPY ... FROM STDIN in text format, built in a buffer and sent in one go.
 * vg_copy_str() appends a field (escaped; NULL appends \N) followed by a tab
 * unless last, in which case a newline ends the row. */
void vg_copy_str(struct vg_buf *row, const char *s, int last);
void vg_copy_strn(struct vg_buf *row, const char *s, size_t n, int last);
void vg_copy_int(struct vg_buf *row, int64_t v, int last);
/* COPY copy_sql ("COPY t (cols) FROM STDIN") sent while it is built, so that
 * neither the caller's buffer nor libpq's grows to the whole input.
 * vg_pg_copy_begin() starts it. vg_pg_copy_put() sends the rows in `rows`
 * once they reach VG_COPY_CHUNK bytes, and empties it. vg_pg_copy_end()
 * sends what is left (nothing when `failed`, which aborts the COPY) and
 * reads the result; every begun COPY must be ended, a failed put included.
 * Each returns 0 or a classified error with errstr filled (end leaves errstr
 * to the failure that set `failed`). */
#define VG_COPY_CHUNK (256 * 1024)
int vg_pg_copy_begin(PGconn *conn, const char *copy_sql, char *errstr,
                     size_t errstr_size) VG_MUSTCHECK;
int vg_pg_copy_put(PGconn *conn, struct vg_buf *rows, char *errstr,
                   size_t errstr_size) VG_MUSTCHECK;
int vg_pg_copy_end(PGconn *conn, struct vg_buf *rows, int failed, char *errstr,
                   size_t errstr_size) VG_MUSTCHECK;

/* Appends s (NULL: SQL NULL) as the next element of a PostgreSQL array
 * literal built in b ("{" is written before the first, vg_pg_array_end()
 * closes it); quotes and backslashes are escaped, so any text is safe as a
 * parameter such as $1::text[]. */
void vg_pg_array_add(struct vg_buf *b, const char *s);
/* Closes the literal ("{}" when nothing was added). */
void vg_pg_array_end(struct vg_buf *b);

#endif
