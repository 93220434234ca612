#include "wait.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "qstats.h"
#include "util.h"

#define TICK_MS 50 /* deadlines are kept to within this */

struct waiter {
    uint64_t gen;
    int64_t until_ms;
    vg_qwait_fn resume;
    void *opaque;
};

struct vg_qwait {
    struct vg_listener *l;
    pthread_t thread;
    pthread_mutex_t lock;
    int stopping; /* under lock */
    struct waiter *w;
    size_t n, max;
};

/* Resumes waiter i (lock held) and takes it off the list. */
static void wake(struct vg_qwait *q, size_t i)
{
    q->w[i].resume(q->w[i].opaque);
    q->w[i] = q->w[--q->n];
    vg_gauge_add(vg_qstats.waiters, -1);
}

static void *run(void *arg)
{
    struct vg_qwait *q = arg;
    for (;;) {
        uint64_t gen = vg_listener_generation(q->l);
        int64_t now = vg_mono_ms();
        pthread_mutex_lock(&q->lock);
        int stopping = q->stopping;
        for (size_t i = 0; i < q->n;)
            if (stopping || q->w[i].gen != gen || now >= q->w[i].until_ms)
                wake(q, i);
            else
                i++;
        pthread_mutex_unlock(&q->lock);
        if (stopping)
            return NULL;
        vg_listener_wait(q->l, gen, vg_mono_ms() + TICK_MS);
    }
}

struct vg_qwait *vg_qwait_start(struct vg_listener *l, size_t max)
{
    struct vg_qwait *q = vg_xcalloc(1, sizeof(*q));
    q->l = l;
    q->max = max;
    q->w = vg_xcalloc(max ? max : 1, sizeof(*q->w));
    pthread_mutex_init(&q->lock, NULL);
    if (pthread_create(&q->thread, NULL, run, q) != 0)
        abort(); /* no thread at start-up: nothing to recover */
    return q;
}

void vg_qwait_stop(struct vg_qwait *q)
{
    if (!q)
        return;
    pthread_mutex_lock(&q->lock);
    int was = q->stopping;
    q->stopping = 1;
    pthread_mutex_unlock(&q->lock);
    if (!was)
        pthread_join(q->thread, NULL);
}

void vg_qwait_free(struct vg_qwait *q)
{
    if (!q)
        return;
    vg_qwait_stop(q);
    pthread_mutex_destroy(&q->lock);
    free(q->w);
    free(q);
}

int vg_qwait_add(struct vg_qwait *q, uint64_t gen, int64_t until_ms, vg_qwait_fn suspend,
                 vg_qwait_fn resume, void *opaque)
{
    int rc = 0;
    pthread_mutex_lock(&q->lock);
    if (q->stopping)
        rc = VG_ETIMEOUT;
    else if (q->n == q->max)
        rc = VG_EFULL;
    else {
        suspend(opaque);
        q->w[q->n++] = (struct waiter){gen, until_ms, resume, opaque};
        vg_gauge_add(vg_qstats.waiters, 1);
    }
    pthread_mutex_unlock(&q->lock);
    return rc;
}
