#include "cfgsnap.h"

#include <pthread.h>
#include <stdlib.h>

#include "util.h"

struct snap {
    struct vg_cfgsnap pub; /* first: a struct vg_cfgsnap * is a struct snap * */
    struct vg_config *owned; /* freed with the snapshot once retired */
    int refs;
    int retired;
    struct snap *next; /* retired snapshots still in use */
};

struct vg_cfgsnaps {
    pthread_mutex_t lock;
    struct snap *cur, *retired;
};

static struct snap *snap_new(const struct vg_config *cfg)
{
    struct snap *p = vg_xcalloc(1, sizeof(*p));
    p->pub.cfg = cfg;
    return p;
}

struct vg_cfgsnaps *vg_cfgsnaps_new(const struct vg_config *cfg)
{
    struct vg_cfgsnaps *s = vg_xcalloc(1, sizeof(*s));
    pthread_mutex_init(&s->lock, NULL);
    s->cur = snap_new(cfg);
    return s;
}

struct vg_cfgsnap *vg_cfgsnap_get(struct vg_cfgsnaps *s)
{
    pthread_mutex_lock(&s->lock);
    struct snap *p = s->cur;
    p->refs++;
    pthread_mutex_unlock(&s->lock);
    return &p->pub;
}

static void snap_free_locked(struct vg_cfgsnaps *s, struct snap *p)
{
    struct snap **pp = &s->retired;
    while (*pp && *pp != p)
        pp = &(*pp)->next;
    if (*pp)
        *pp = p->next;
    vg_config_free(p->owned);
    free(p);
}

void vg_cfgsnap_put(struct vg_cfgsnaps *s, struct vg_cfgsnap *pub)
{
    struct snap *p = (struct snap *)pub;
    pthread_mutex_lock(&s->lock);
    if (--p->refs == 0 && p->retired)
        snap_free_locked(s, p);
    pthread_mutex_unlock(&s->lock);
}

void vg_cfgsnaps_set(struct vg_cfgsnaps *s, const struct vg_config *cfg, struct vg_config *old)
{
    struct snap *p = snap_new(cfg);
    pthread_mutex_lock(&s->lock);
    struct snap *prev = s->cur;
    s->cur = p;
    prev->owned = old;
    prev->retired = 1;
    if (prev->refs == 0) {
        vg_config_free(prev->owned);
        free(prev);
    } else {
        prev->next = s->retired;
        s->retired = prev;
    }
    pthread_mutex_unlock(&s->lock);
}

void vg_cfgsnaps_free(struct vg_cfgsnaps *s)
{
    if (!s)
        return;
    while (s->retired) {
        struct snap *p = s->retired;
        s->retired = p->next;
        vg_config_free(p->owned);
        free(p);
    }
    free(s->cur);
    pthread_mutex_destroy(&s->lock);
    free(s);
}
