/*
 * ingest.h - summaries to ops.deliveries, exactly once.
 *
 * A batch of summaries read from vigil.summaries becomes one row per
 * matching destination of its tenant (tenants[].notify), inserted in the
 * same transaction that moves the notifier's offsets by compare-and-set
 * (common/offsets.h, DESIGN.md section 7). A summary read twice finds its
 * rows (unique on summary_id and destination) and adds nothing. A summary
 * of a session that ended longer ago than notifier.max_summary_age_s is
 * recorded as skipped: a backfill does not flood anyone.
 */
#ifndef VG_INGEST_H
#define VG_INGEST_H

#include <libpq-fe.h>

#include "batch.h"
#include "config.h"
#include "err.h"

/* What one batch held, for the metrics once it is committed. */
struct vg_ingest_counts {
    size_t recorded, skipped, unrouted, refused;
};

/*
 * Inside the caller's open transaction: inserts the rows of b's summaries
 * (refused ones are marked in b and logged here, once) and asks the delivery
 * loop to look (NOTIFY). Returns 0, or a vg_pg_classify() code with errstr
 * filled.
 */
int vg_ingest_rows(PGconn *conn, const struct vg_config *cfg, struct vg_batch *b,
                   struct vg_ingest_counts *n, char *errstr, size_t errstr_size) VG_MUSTCHECK;

#endif
