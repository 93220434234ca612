#include "listener.h"

#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"
#include "log.h"
#include "pg.h"
#include "util.h"

#define MAX_PARTS 4096 /* offsets rows kept; a group has as many as partitions */
#define SIGNAL_SLACK_MS 20 /* a commit's signal may reach our backend this late */
#define BUCKETS 4096       /* sessions' change times, by hash: two sharing one share it */

struct offset_row {
    char topic[VG_RECEIPT_TOPIC_MAX + 1];
    int32_t partition;
    int64_t next_offset;
};

struct vg_listener {
    char *url;
    char *group;
    int64_t confirm_ms;
    pthread_t thread;
    atomic_int stop;
    atomic_int ready;
    atomic_llong changed_ms;   /* "any session may have changed" last arrived (Unix ms) */
    atomic_llong bucket_ms[BUCKETS]; /* a notification named a session of the bucket */
    atomic_llong confirmed_ms; /* nothing written before this is unknown (Unix ms) */

    pthread_mutex_t lock;
    pthread_cond_t moved;
    uint64_t generation;
    struct offset_row *rows; /* under lock */
    size_t nrows;
};

static const char offsets_sql[] =
    "SELECT topic, partition, next_offset FROM ops.consumer_offsets WHERE consumer_group = $1";

/* Reads the snapshot; moves the generation if anything changed. */
static int reload(struct vg_listener *l, PGconn *conn)
{
    char err[512];
    PGresult *r;
    const char *p[1] = {l->group};
    int rc = vg_pg_query(conn, &r, offsets_sql, 1, p, err, sizeof(err));
    if (rc) {
        vg_warn("listener: reading ops.consumer_offsets: %s", err);
        return rc;
    }
    size_t n = (size_t)PQntuples(r);
    if (n > MAX_PARTS)
        n = MAX_PARTS;
    struct offset_row *rows = vg_xcalloc(n ? n : 1, sizeof(*rows));
    for (size_t i = 0; i < n; i++) {
        snprintf(rows[i].topic, sizeof(rows[i].topic), "%s", PQgetvalue(r, (int)i, 0));
        rows[i].partition = (int32_t)atoi(PQgetvalue(r, (int)i, 1));
        rows[i].next_offset = strtoll(PQgetvalue(r, (int)i, 2), NULL, 10);
    }
    PQclear(r);
    pthread_mutex_lock(&l->lock);
    int changed = n != l->nrows || memcmp(rows, l->rows, n * sizeof(*rows)) != 0;
    free(l->rows);
    l->rows = rows;
    l->nrows = n;
    if (changed) {
        l->generation++;
        pthread_cond_broadcast(&l->moved);
    }
    pthread_mutex_unlock(&l->lock);
    return 0;
}

static size_t bucket_of(const char *tenant, const char *session, size_t session_len)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a of "tenant/session" */
    for (const char *p = tenant; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    h = (h ^ '/') * 1099511628211ULL;
    for (size_t i = 0; i < session_len; i++)
        h = (h ^ (unsigned char)session[i]) * 1099511628211ULL;
    return (size_t)(h % BUCKETS);
}

/* A sessions notification's payload names the sessions written, a
 * "tenant/session" a line (022_notify_session_ids.sql); an empty one (or
 * one this cannot read) means any session may have changed. */
static void sessions_changed(struct vg_listener *l, const char *payload, int64_t now)
{
    if (!payload || !*payload) {
        atomic_store(&l->changed_ms, now);
        return;
    }
    for (const char *p = payload; *p;) {
        size_t len = strcspn(p, "\n");
        const char *slash = memchr(p, '/', len);
        if (!slash || slash == p || (size_t)(slash - p) > VG_TENANT_MAX) {
            atomic_store(&l->changed_ms, now);
            return;
        }
        char tenant[VG_TENANT_MAX + 1];
        memcpy(tenant, p, (size_t)(slash - p));
        tenant[slash - p] = '\0';
        atomic_store(&l->bucket_ms[bucket_of(tenant, slash + 1, len - (size_t)(slash + 1 - p))],
                     now);
        p += len;
        if (*p == '\n')
            p++;
    }
}

/* Takes the notifications that arrived; a session's moves the generation. */
static void drain(struct vg_listener *l, PGconn *conn)
{
    PGnotify *note;
    int sessions = 0;
    int64_t now = vg_now_ms();
    while ((note = PQnotifies(conn)) != NULL) {
        if (!strcmp(note->relname, VG_SESSIONS_CHANNEL)) {
            sessions = 1;
            sessions_changed(l, note->extra, now);
        }
        PQfreemem(note);
    }
    if (!sessions)
        return;
    pthread_mutex_lock(&l->lock);
    l->generation++;
    pthread_cond_broadcast(&l->moved);
    pthread_mutex_unlock(&l->lock);
}

/* One round trip (the snapshot), then what came with it: after it, nothing
 * written before it began is unknown. */
static int confirm(struct vg_listener *l, PGconn *conn)
{
    int64_t began = vg_now_ms() - SIGNAL_SLACK_MS;
    if (reload(l, conn) || !PQconsumeInput(conn))
        return -1;
    drain(l, conn);
    atomic_store(&l->confirmed_ms, began);
    return 0;
}

/* One connection's life: LISTEN, then confirm on every notification and
 * every confirm_ms. */
static void listen_on(struct vg_listener *l, PGconn *conn)
{
    char err[512];
    if (vg_pg_exec(conn, "LISTEN " VG_RECEIPT_CHANNEL "; LISTEN " VG_SESSIONS_CHANNEL, err,
                   sizeof(err))) {
        vg_warn("listener: LISTEN failed: %s", err);
        return;
    }
    /* Whatever changed while no one listened is unknown: everything cached
     * before now is suspect. */
    atomic_store(&l->changed_ms, vg_now_ms());
    if (confirm(l, conn))
        return;
    atomic_store(&l->ready, 1);
    while (!atomic_load(&l->stop)) {
        struct pollfd pfd = {.fd = PQsocket(conn), .events = POLLIN};
        int n = poll(&pfd, 1, (int)l->confirm_ms);
        if (n < 0 && errno != EINTR)
            break;
        if (n > 0 && !PQconsumeInput(conn))
            break;
        drain(l, conn);
        if (PQstatus(conn) != CONNECTION_OK || confirm(l, conn))
            break;
    }
    atomic_store(&l->ready, 0);
}

static void *run(void *arg)
{
    struct vg_listener *l = arg;
    struct vg_backoff backoff = {.base_ms = 100, .cap_ms = 5000};
    while (!atomic_load(&l->stop)) {
        struct vg_pg pg;
        char err[512];
        if (vg_pg_open(&pg, l->url, "vigil-query-listener", err, sizeof(err)) == 0) {
            vg_backoff_reset(&backoff);
            listen_on(l, pg.conn);
            if (!atomic_load(&l->stop))
                vg_warn("listener: connection lost, reconnecting");
        } else {
            vg_warn("listener: database unreachable: %s", err);
        }
        vg_pg_close(&pg);
        int64_t delay = vg_backoff_next(&backoff);
        for (int64_t end = vg_mono_ms() + delay; !atomic_load(&l->stop) && vg_mono_ms() < end;)
            vg_sleep_ms(50, NULL);
    }
    return NULL;
}

struct vg_listener *vg_listener_start(const char *url, const char *group, int64_t confirm_ms)
{
    struct vg_listener *l = vg_xcalloc(1, sizeof(*l));
    l->confirm_ms = confirm_ms > 0 ? confirm_ms : 1;
    l->url = vg_xstrdup(url);
    l->group = vg_xstrdup(group);
    pthread_mutex_init(&l->lock, NULL);
    vg_cond_init_mono(&l->moved);
    if (pthread_create(&l->thread, NULL, run, l) != 0)
        abort(); /* no thread at start-up: nothing to recover */
    return l;
}

void vg_listener_stop(struct vg_listener *l)
{
    if (!l)
        return;
    atomic_store(&l->stop, 1);
    pthread_join(l->thread, NULL);
    pthread_mutex_destroy(&l->lock);
    pthread_cond_destroy(&l->moved);
    free(l->rows);
    free(l->url);
    free(l->group);
    free(l);
}

uint64_t vg_listener_generation(struct vg_listener *l)
{
    pthread_mutex_lock(&l->lock);
    uint64_t g = l->generation;
    pthread_mutex_unlock(&l->lock);
    return g;
}

int vg_listener_wait(struct vg_listener *l, uint64_t seen, int64_t deadline_ms)
{
    pthread_mutex_lock(&l->lock);
    while (l->generation == seen) {
        int64_t left = deadline_ms - vg_mono_ms();
        if (left <= 0)
            break;
        vg_cond_wait_until(&l->moved, &l->lock, deadline_ms);
    }
    int moved = l->generation != seen;
    pthread_mutex_unlock(&l->lock);
    return moved;
}

int vg_listener_landed(struct vg_listener *l, const struct vg_receipt *r)
{
    size_t landed = 0;
    pthread_mutex_lock(&l->lock);
    for (size_t i = 0; i < r->n; i++)
        for (size_t j = 0; j < l->nrows; j++)
            if (l->rows[j].partition == r->pos[i].partition &&
                !strcmp(l->rows[j].topic, r->pos[i].topic)) {
                landed += l->rows[j].next_offset > r->pos[i].offset;
                break;
            }
    pthread_mutex_unlock(&l->lock);
    return landed == r->n;
}

int vg_listener_ready(struct vg_listener *l)
{
    return atomic_load(&l->ready);
}

int64_t vg_listener_unchanged_since(struct vg_listener *l, int64_t max_age_ms,
                                    const char *tenant, const char *session)
{
    int64_t confirmed = atomic_load(&l->confirmed_ms);
    if (!atomic_load(&l->ready) || vg_now_ms() - confirmed > max_age_ms)
        return INT64_MAX;
    int64_t any = atomic_load(&l->changed_ms);
    int64_t mine = atomic_load(&l->bucket_ms[bucket_of(tenant, session, strlen(session))]);
    return VG_MAX(any, mine);
}
