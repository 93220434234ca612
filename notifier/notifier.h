/*
 * notifier.h - vigil-notifier: session summaries to webhooks and e-mail.
 *
 * Two loops. The main thread consumes vigil.summaries as group
 * notifier.group in batches, each one transaction that records the rows of
 * ops.deliveries and moves the group's offsets (ingest.c, common/consumer.c,
 * common/offsets.c). The delivery thread sends what is due (deliver.c).
 */
#ifndef VG_NOTIFIER_H
#define VG_NOTIFIER_H

#include "config.h"

/* Runs until SIGTERM or SIGINT; returns the process exit status. */
int vg_notifier_run(const struct vg_config *cfg);

#endif
