/*
 * migrate.h - applies the schemas/sql migrations (DESIGN.md section 6).
 *
 * A migration is a file NNN_name.sql (three digits, then [a-z0-9_]) of plain
 * SQL without BEGIN/COMMIT. Each is applied once, in its own transaction,
 * and recorded in ops.schema_migrations with the SHA-256 of its bytes; an
 * applied file that changed afterwards is refused. Concurrent runs serialize
 * on a session-level advisory lock.
 */
#ifndef VG_MIGRATE_H
#define VG_MIGRATE_H

#include <libpq-fe.h>
#include <stddef.h>

/* pg_advisory_lock key held for a whole run: "VGMIGRAT" in ASCII. */
#define VG_MIGRATE_LOCK_KEY "6217022787732783444"

/* Files larger than this are refused. */
#define VG_MIGRATE_MAX_FILE_BYTES (16u << 20)

/*
 * Applies every NNN_name.sql file of dir not yet recorded in
 * ops.schema_migrations, in order of NNN, each in its own transaction,
 * creating ops.schema_migrations first if needed.
 *
 * conn must be connected and outside any transaction; it is left outside a
 * transaction, unlocked, with its notice receiver as it was. dir is read,
 * never written. *applied (applied may be NULL) gets how many files were
 * applied by this call, also when it fails part way.
 *
 * Fails, before applying anything, if a .sql file in dir is not named
 * NNN_name.sql, if two files share a number, if a file is unreadable, larger
 * than VG_MIGRATE_MAX_FILE_BYTES or holds a NUL byte, or if an applied file
 * was changed or renamed since. A failing migration is rolled back and named
 * with PostgreSQL's message and, when known, the line in the file.
 *
 * Returns 0, or -1 with a one-line message in errstr (errstr may be NULL).
 */
int vg_migrate_run(PGconn *conn, const char *dir, int *applied, char *errstr,
                   size_t errstr_size) __attribute__((warn_unused_result));

#endif
