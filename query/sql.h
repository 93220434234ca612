/*
 * sql.h - every statement vigil-query runs, prepared by name on each pooled
 * connection (pool.h). All values travel as parameters; none is pasted.
 */
#ifndef VG_QSQL_H
#define VG_QSQL_H

#include <stddef.h>

#include "pool.h"

#define VG_SQL_SESSION "session"
#define VG_SQL_SESSIONS "sessions"
#define VG_SQL_EVENTS "events"
#define VG_SQL_STATS "stats"
#define VG_SQL_STATUS "status"

/* The table handed to vg_qpool_new(). */
extern const struct vg_qstmt vg_qsql[];
extern const size_t vg_qsql_count;

#endif
