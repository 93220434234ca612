/*
 * cfgsnap.h - the configuration a request was begun with, across a reload.
 *
 * A server that reloads on SIGHUP hands each request the snapshot current
 * when it began (vg_cfgsnap_get) and gives it back when the request ends
 * (vg_cfgsnap_put); vg_cfgsnaps_set() makes a reloaded configuration current
 * for new requests, and the old one is freed once the last request using it
 * ends. So a request never sees two configurations, and none is freed under it.
 */
#ifndef VG_CFGSNAP_H
#define VG_CFGSNAP_H

#include "config.h"

struct vg_cfgsnaps;

/* One configuration and the requests using it. */
struct vg_cfgsnap {
    const struct vg_config *cfg;
};

/* Snapshots starting with cfg (still owned by the caller). */
struct vg_cfgsnaps *vg_cfgsnaps_new(const struct vg_config *cfg);

/* The current snapshot, held until vg_cfgsnap_put(). Thread-safe. */
struct vg_cfgsnap *vg_cfgsnap_get(struct vg_cfgsnaps *s);
void vg_cfgsnap_put(struct vg_cfgsnaps *s, struct vg_cfgsnap *p);

/*
 * A reloaded configuration: new requests get cfg (still owned by the
 * caller); old, the previous one, is taken over and freed once no request
 * holds it.
 */
void vg_cfgsnaps_set(struct vg_cfgsnaps *s, const struct vg_config *cfg, struct vg_config *old);

/* Frees the snapshots and the retired configurations; none may be held. Accepts NULL. */
void vg_cfgsnaps_free(struct vg_cfgsnaps *s);

#endif
