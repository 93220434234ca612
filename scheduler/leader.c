#include "leader.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pg.h"
#include "util.h"

/* VG_LEADER_LOCK_KEY as a statement parameter. */
static const char lock_key[] = "6217029359048672332";

void vg_leader_init(struct vg_leader *l, const char *url, int64_t retry_ms)
{
    memset(l, 0, sizeof(*l));
    l->url = vg_xstrdup(url);
    l->retry_ms = retry_ms;
}

static void on_notice(void *arg, const char *message)
{
    (void)arg;
    vg_debug("database notice: %.*s", (int)strcspn(message, "\n"), message);
}

static void drop(struct vg_leader *l, const char *why)
{
    if (l->leader)
        vg_warn("leadership lost: %s", why);
    l->leader = 0;
    if (l->conn)
        PQfinish(l->conn); /* releases the lock if the server still hears us */
    l->conn = NULL;
}

/* The dedicated connection, with keepalives on both ends so that a peer
 * that vanishes without closing its socket is noticed within seconds. */
static int connect_db(struct vg_leader *l)
{
    const char *keys[] = {"dbname",           "application_name", "connect_timeout",
                          "keepalives",       "keepalives_idle",  "keepalives_interval",
                          "keepalives_count", "tcp_user_timeout", NULL};
    const char *vals[] = {l->url, "vigil-scheduler", "3", "1", "5", "2", "3", "10000", NULL};
    l->conn = PQconnectdbParams(keys, vals, 1);
    if (PQstatus(l->conn) != CONNECTION_OK) {
        char err[512];
        vg_pg_connect_error(l->url, l->conn, err, sizeof(err));
        if (!l->warned)
            vg_warn("database unreachable, not leading; retrying every %lld ms: %s",
                    (long long)l->retry_ms, err);
        l->warned = 1;
        PQfinish(l->conn);
        l->conn = NULL;
        return -1;
    }
    PQsetNoticeProcessor(l->conn, on_notice, NULL);
    char err[512];
    if (vg_pg_exec(l->conn,
                   "SET tcp_keepalives_idle = 5; SET tcp_keepalives_interval = 2;"
                   "SET tcp_keepalives_count = 3; SET statement_timeout = '10s';"
                   "SET TimeZone = 'UTC'",
                   err, sizeof(err))) {
        vg_warn("cannot set up the leader connection: %s", err);
        drop(l, err);
        return -1;
    }
    if (l->warned)
        vg_info("database reachable again");
    l->warned = 0;
    return 0;
}

int vg_leader_confirm(struct vg_leader *l)
{
    if (!l->leader || !l->conn)
        return 0;
    const char *p[1] = {lock_key};
    PGresult *r = PQexecParams(l->conn,
                               "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = "
                               "'advisory' AND pid = pg_backend_pid() AND granted AND objsubid "
                               "= 1 AND ((classid::bigint << 32) | objid::bigint) = $1::bigint)",
                               1, NULL, p, NULL, NULL, 0);
    int held = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 &&
               !strcmp(PQgetvalue(r, 0, 0), "t");
    char err[512] = "the advisory lock is no longer held";
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        vg_pg_error(l->conn, r, err, sizeof(err));
    PQclear(r);
    if (!held) {
        drop(l, err);
        l->next_try_ms = vg_mono_ms() + l->retry_ms;
    }
    return held;
}

int vg_leader_poll(struct vg_leader *l)
{
    if (l->leader)
        return vg_leader_confirm(l);
    int64_t now = vg_mono_ms();
    if (now < l->next_try_ms)
        return 0;
    l->next_try_ms = now + l->retry_ms;
    if (l->conn && PQstatus(l->conn) != CONNECTION_OK)
        drop(l, "connection lost");
    if (!l->conn && connect_db(l))
        return 0;
    const char *p[1] = {lock_key};
    PGresult *r =
        PQexecParams(l->conn, "SELECT pg_try_advisory_lock($1::bigint)", 1, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        char err[512];
        vg_pg_error(l->conn, r, err, sizeof(err));
        PQclear(r);
        vg_warn("cannot try the leader lock: %s", err);
        drop(l, err);
        return 0;
    }
    l->leader = !strcmp(PQgetvalue(r, 0, 0), "t");
    PQclear(r);
    if (l->leader)
        vg_info("leadership acquired (advisory lock %lld)", (long long)VG_LEADER_LOCK_KEY);
    return l->leader;
}

int vg_leader_connected(const struct vg_leader *l)
{
    return l->conn && PQstatus(l->conn) == CONNECTION_OK;
}

void vg_leader_close(struct vg_leader *l)
{
    if (l->conn)
        PQfinish(l->conn);
    free(l->url);
    memset(l, 0, sizeof(*l));
}
