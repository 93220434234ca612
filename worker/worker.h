/*
 * worker.h - the worker's loop: consume -> batch -> pipeline -> offsets.
 */
#ifndef VG_WORKER_H
#define VG_WORKER_H

#include "config.h"

/* Runs until SIGTERM/SIGINT; the last batch is finished and committed first.
 * Returns the process exit status. */
int vg_worker_run(const struct vg_config *cfg);

#endif
