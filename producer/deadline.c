#include "deadline.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#include "util.h"

struct vg_deadline {
    int fd;
    int64_t at_ms; /* 0: none */
    struct vg_deadline *prev, *next;
};

struct vg_deadlines {
    pthread_mutex_t lock; /* the list, every at_ms, stopping */
    pthread_cond_t wake;
    pthread_t thread;
    int64_t period_ms;
    int stopping;
    struct vg_deadline *head;
};

/* The reaper holds the lock while it shuts a socket down, and removal takes
 * the lock before the owner closes it: a descriptor number reused by a new
 * connection is never shut down by mistake. */
static void *reap(void *arg)
{
    struct vg_deadlines *d = arg;
    pthread_mutex_lock(&d->lock);
    while (!d->stopping) {
        int64_t now = vg_mono_ms();
        for (struct vg_deadline *e = d->head; e; e = e->next) {
            if (e->at_ms && now >= e->at_ms) {
                shutdown(e->fd, SHUT_RDWR);
                e->at_ms = 0;
            }
        }
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        int64_t ns = ts.tv_nsec + d->period_ms % 1000 * 1000000;
        ts.tv_sec += (time_t)(d->period_ms / 1000 + ns / 1000000000);
        ts.tv_nsec = (long)(ns % 1000000000);
        pthread_cond_timedwait(&d->wake, &d->lock, &ts);
    }
    pthread_mutex_unlock(&d->lock);
    return NULL;
}

struct vg_deadlines *vg_deadlines_start(int64_t period_ms)
{
    struct vg_deadlines *d = vg_xcalloc(1, sizeof(*d));
    d->period_ms = period_ms > 0 ? period_ms : 1;
    pthread_mutex_init(&d->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&d->wake, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&d->thread, NULL, reap, d)) {
        fprintf(stderr, "vigil: cannot start the request deadline thread\n");
        abort(); /* as for out of memory: nothing sensible to go on with */
    }
    return d;
}

void vg_deadlines_stop(struct vg_deadlines *d)
{
    if (!d)
        return;
    pthread_mutex_lock(&d->lock);
    d->stopping = 1;
    pthread_cond_signal(&d->wake);
    pthread_mutex_unlock(&d->lock);
    pthread_join(d->thread, NULL);
    while (d->head) {
        struct vg_deadline *e = d->head;
        d->head = e->next;
        free(e);
    }
    pthread_cond_destroy(&d->wake);
    pthread_mutex_destroy(&d->lock);
    free(d);
}

struct vg_deadline *vg_deadline_add(struct vg_deadlines *d, int fd, int64_t at_ms)
{
    struct vg_deadline *e = vg_xcalloc(1, sizeof(*e));
    e->fd = fd;
    e->at_ms = at_ms;
    pthread_mutex_lock(&d->lock);
    e->next = d->head;
    if (d->head)
        d->head->prev = e;
    d->head = e;
    pthread_mutex_unlock(&d->lock);
    return e;
}

void vg_deadline_set(struct vg_deadlines *d, struct vg_deadline *e, int64_t at_ms)
{
    if (!e)
        return;
    pthread_mutex_lock(&d->lock);
    e->at_ms = at_ms;
    pthread_mutex_unlock(&d->lock);
}

void vg_deadline_remove(struct vg_deadlines *d, struct vg_deadline *e)
{
    if (!e)
        return;
    pthread_mutex_lock(&d->lock);
    if (e->prev)
        e->prev->next = e->next;
    else
        d->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    pthread_mutex_unlock(&d->lock);
    free(e);
}
