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

/* The columns of a session row (VG_SQL_SESSION, and the first ones of
 * VG_SQL_SESSIONS), in order; times in PostgreSQL's ISO text (the pool sets
 * UTC and DateStyle ISO). */
enum vg_qsession_col {
    VG_SCOL_TENANT,
    VG_SCOL_SESSION,
    VG_SCOL_KIND,
    VG_SCOL_STATUS,
    VG_SCOL_CREATED,
    VG_SCOL_STARTED,
    VG_SCOL_FIRST_ACTIVITY,
    VG_SCOL_LAST_ACTIVITY,
    VG_SCOL_ENDED,
    VG_SCOL_DURATION,
    VG_SCOL_HEARTBEATS,
    VG_SCOL_EVENTS,
    VG_SCOL_END_REASON,
    VG_SCOL_EXPIRES,
    VG_SCOL_ATTRIBUTES,
    VG_SCOL_COUNT /* VG_SQL_SESSIONS adds its cursor's three after these */
};

/* The table handed to vg_qpool_new(). */
extern const struct vg_qstmt vg_qsql[];
extern const size_t vg_qsql_count;

#endif
