#include "pool.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pg.h"
#include "util.h"

#define RECONNECT_MIN_MS 1000

struct slot {
    struct vg_pg pg;
    int opened; /* pg holds a url (vg_pg_open ran) */
    int busy;
    int64_t failed_ms; /* monotonic time of the last failed connect */
};

struct vg_qpool {
    char *url;
    int64_t wait_ms;
    int64_t statement_timeout_ms;
    const struct vg_qstmt *stmts;
    size_t nstmts;
    pthread_mutex_t lock;
    pthread_cond_t freed;
    int n;
    struct slot *slots;
};

struct vg_qpool *vg_qpool_new(const char *url, int size, int64_t wait_ms,
                              int64_t statement_timeout_ms, const struct vg_qstmt *stmts,
                              size_t nstmts)
{
    struct vg_qpool *p = vg_xcalloc(1, sizeof(*p));
    p->url = vg_xstrdup(url);
    p->wait_ms = wait_ms;
    p->statement_timeout_ms = statement_timeout_ms;
    p->stmts = stmts;
    p->nstmts = nstmts;
    p->n = size;
    p->slots = vg_xcalloc((size_t)size, sizeof(*p->slots));
    pthread_mutex_init(&p->lock, NULL);
    vg_cond_init_mono(&p->freed);
    return p;
}

static void slot_close(struct slot *s)
{
    if (s->opened)
        vg_pg_close(&s->pg);
    memset(&s->pg, 0, sizeof(s->pg));
    s->opened = 0;
}

void vg_qpool_free(struct vg_qpool *p)
{
    if (!p)
        return;
    for (int i = 0; i < p->n; i++)
        slot_close(&p->slots[i]);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->freed);
    free(p->slots);
    free(p->url);
    free(p);
}

/* Session settings and the prepared statements of a new connection. */
static int slot_setup(struct vg_qpool *p, PGconn *conn, char *errstr, size_t errstr_size)
{
    char sql[192];
    snprintf(sql, sizeof(sql),
             "SET statement_timeout = %lld; SET default_transaction_read_only = on; "
             "SET TIME ZONE 'UTC'; SET DateStyle = ISO",
             (long long)p->statement_timeout_ms);
    int rc = vg_pg_exec(conn, sql, errstr, errstr_size);
    for (size_t i = 0; rc == 0 && i < p->nstmts; i++) {
        PGresult *r = PQprepare(conn, p->stmts[i].name, p->stmts[i].sql, p->stmts[i].nparams,
                                NULL);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            char why[512];
            vg_pg_error(conn, r, why, sizeof(why));
            snprintf(errstr, errstr_size, "preparing %s: %s", p->stmts[i].name, why);
            rc = vg_pg_classify(conn, r);
        }
        PQclear(r);
    }
    return rc;
}

/* Connects slot s outside the lock (the caller has marked it busy). */
static int slot_connect(struct vg_qpool *p, struct slot *s, char *errstr, size_t errstr_size)
{
    if (s->pg.conn && PQstatus(s->pg.conn) == CONNECTION_OK)
        return 0;
    int64_t now = vg_mono_ms();
    if (s->failed_ms && now - s->failed_ms < RECONNECT_MIN_MS) {
        snprintf(errstr, errstr_size, "database unreachable (retrying at most once a second)");
        return VG_ETRANSIENT;
    }
    slot_close(s);
    s->opened = 1;
    int rc = vg_pg_open(&s->pg, p->url, "vigil-query", errstr, errstr_size);
    if (rc == 0)
        rc = slot_setup(p, s->pg.conn, errstr, errstr_size);
    if (rc) {
        slot_close(s);
        s->failed_ms = now;
        return VG_ETRANSIENT;
    }
    s->failed_ms = 0;
    return 0;
}

int vg_qpool_take(struct vg_qpool *p, PGconn **conn, char *errstr, size_t errstr_size)
{
    int64_t deadline = vg_mono_ms() + p->wait_ms;
    struct slot *s = NULL;
    pthread_mutex_lock(&p->lock);
    while (!s) {
        /* A connected free slot first, else any free one. */
        for (int i = 0; i < p->n && !s; i++)
            if (!p->slots[i].busy && p->slots[i].pg.conn)
                s = &p->slots[i];
        for (int i = 0; i < p->n && !s; i++)
            if (!p->slots[i].busy)
                s = &p->slots[i];
        if (s)
            break;
        int64_t left = deadline - vg_mono_ms();
        if (left <= 0) {
            pthread_mutex_unlock(&p->lock);
            snprintf(errstr, errstr_size, "no database connection free within %lld ms",
                     (long long)p->wait_ms);
            return VG_ETIMEOUT;
        }
        vg_cond_wait_until(&p->freed, &p->lock, deadline);
    }
    s->busy = 1;
    pthread_mutex_unlock(&p->lock);
    int rc = slot_connect(p, s, errstr, errstr_size);
    if (rc) {
        pthread_mutex_lock(&p->lock);
        s->busy = 0;
        pthread_cond_signal(&p->freed);
        pthread_mutex_unlock(&p->lock);
        return rc;
    }
    *conn = s->pg.conn;
    return 0;
}

void vg_qpool_give(struct vg_qpool *p, PGconn *conn, int broken)
{
    pthread_mutex_lock(&p->lock);
    for (int i = 0; i < p->n; i++) {
        struct slot *s = &p->slots[i];
        if (s->busy && s->pg.conn == conn) {
            if (broken || PQstatus(conn) != CONNECTION_OK ||
                PQtransactionStatus(conn) != PQTRANS_IDLE)
                slot_close(s);
            s->busy = 0;
            break;
        }
    }
    pthread_cond_signal(&p->freed);
    pthread_mutex_unlock(&p->lock);
}

int vg_qpool_exec(PGconn *conn, const char *name, int nparams, const char *const *params,
                  PGresult **res, char *errstr, size_t errstr_size)
{
    PGresult *r = PQexecPrepared(conn, name, nparams, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
        *res = r;
        return 0;
    }
    vg_pg_error(conn, r, errstr, errstr_size);
    int rc = vg_pg_classify(conn, r);
    PQclear(r);
    *res = NULL;
    return rc;
}

void vg_qpool_counts(struct vg_qpool *p, int *open, int *busy)
{
    int o = 0, b = 0;
    pthread_mutex_lock(&p->lock);
    for (int i = 0; i < p->n; i++) {
        o += p->slots[i].pg.conn != NULL;
        b += p->slots[i].busy;
    }
    pthread_mutex_unlock(&p->lock);
    *open = o;
    *busy = b;
}
