#include "pipe.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "pg.h"
#include "util.h"

#define BATCH_MAX 64 /* jobs in one pipeline */

struct vg_qpipe {
    struct vg_qpool *pool;
    pthread_mutex_t lock;
    pthread_cond_t queued;
    struct vg_qpipe_job *head, *tail;
    int stopping;
    int nthreads;
    pthread_t *threads;
};

static void fail_all(struct vg_qpipe_job *j, int rc, const char *err)
{
    for (; j; j = j->next) {
        j->res = NULL;
        j->rc = rc;
        snprintf(j->err, sizeof(j->err), "%s", err);
    }
}

/* Sends batch on conn in one pipeline and reads its results. Returns 1 if
 * the connection is broken. */
static int run_batch(PGconn *conn, struct vg_qpipe_job *batch)
{
    if (!PQenterPipelineMode(conn)) {
        fail_all(batch, VG_ETRANSIENT, PQerrorMessage(conn));
        return 1;
    }
    for (struct vg_qpipe_job *j = batch; j; j = j->next)
        if (!PQsendQueryPrepared(conn, j->stmt, j->nparams, j->params, NULL, NULL, 0)) {
            fail_all(batch, VG_ETRANSIENT, PQerrorMessage(conn));
            return 1;
        }
    if (!PQpipelineSync(conn) || PQflush(conn) != 0) {
        fail_all(batch, VG_ETRANSIENT, PQerrorMessage(conn));
        return 1;
    }
    for (struct vg_qpipe_job *j = batch; j; j = j->next) {
        PGresult *r = PQgetResult(conn);
        if (!r) {
            fail_all(j, VG_ETRANSIENT, PQerrorMessage(conn));
            return 1;
        }
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
            j->res = r;
            j->rc = 0;
        } else {
            vg_pg_error(conn, r, j->err, sizeof(j->err));
            j->rc = st == PGRES_PIPELINE_ABORTED ? VG_ETRANSIENT : vg_pg_classify(conn, r);
            j->res = NULL;
            PQclear(r);
        }
        while ((r = PQgetResult(conn)) != NULL) /* the end of this query's results */
            PQclear(r);
    }
    PGresult *sync = PQgetResult(conn);
    int ok = sync && PQresultStatus(sync) == PGRES_PIPELINE_SYNC;
    PQclear(sync);
    return !ok || !PQexitPipelineMode(conn);
}

static void *dispatch(void *arg)
{
    struct vg_qpipe *p = arg;
    for (;;) {
        pthread_mutex_lock(&p->lock);
        while (!p->head && !p->stopping)
            pthread_cond_wait(&p->queued, &p->lock);
        if (!p->head) {
            pthread_mutex_unlock(&p->lock);
            return NULL;
        }
        struct vg_qpipe_job *batch = p->head, *last = batch;
        for (int n = 1; n < BATCH_MAX && last->next; n++)
            last = last->next;
        p->head = last->next;
        if (!p->head)
            p->tail = NULL;
        last->next = NULL;
        pthread_mutex_unlock(&p->lock);

        PGconn *conn;
        char err[256];
        int rc = vg_qpool_take(p->pool, &conn, err, sizeof(err));
        if (rc)
            fail_all(batch, rc, err);
        else
            vg_qpool_give(p->pool, conn, run_batch(conn, batch));
        while (batch) {
            struct vg_qpipe_job *next = batch->next; /* done may free the job */
            batch->next = NULL;
            batch->done(batch->opaque);
            batch = next;
        }
    }
}

struct vg_qpipe *vg_qpipe_start(struct vg_qpool *pool, int nthreads)
{
    struct vg_qpipe *p = vg_xcalloc(1, sizeof(*p));
    p->pool = pool;
    p->nthreads = nthreads > 0 ? nthreads : 1;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->queued, NULL);
    p->threads = vg_xcalloc((size_t)p->nthreads, sizeof(*p->threads));
    for (int i = 0; i < p->nthreads; i++)
        if (pthread_create(&p->threads[i], NULL, dispatch, p) != 0)
            abort(); /* no thread at start-up: nothing to recover */
    return p;
}

int vg_qpipe_submit(struct vg_qpipe *p, struct vg_qpipe_job *job)
{
    job->next = NULL;
    pthread_mutex_lock(&p->lock);
    if (p->stopping) {
        pthread_mutex_unlock(&p->lock);
        return -1;
    }
    if (p->tail)
        p->tail->next = job;
    else
        p->head = job;
    p->tail = job;
    pthread_cond_signal(&p->queued);
    pthread_mutex_unlock(&p->lock);
    return 0;
}

void vg_qpipe_stop(struct vg_qpipe *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    p->stopping = 1;
    pthread_cond_broadcast(&p->queued);
    pthread_mutex_unlock(&p->lock);
    for (int i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    p->nthreads = 0;
}

void vg_qpipe_free(struct vg_qpipe *p)
{
    if (!p)
        return;
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->queued);
    free(p->threads);
    free(p);
}
