#include "lag.h"

#include <stdio.h>

#include "metrics.h"
#include "stats.h"

static struct vg_series *lag_series(const struct vg_assigned *a)
{
    char part[16];
    snprintf(part, sizeof(part), "%d", (int)a->partition);
    return vg_metric_series(vg_worker_stats.consumer_lag, a->topic, part);
}

void vg_lag_report(const struct vg_consumer *c)
{
    if (!c->rk)
        return;
    for (size_t i = 0; i < c->nassigned; i++) {
        const struct vg_assigned *a = &c->assigned[i];
        int64_t lo = -1, hi = -1;
        if (rd_kafka_get_watermark_offsets(c->rk, a->topic, a->partition, &lo, &hi) ||
            hi < 0)
            continue;
        /* Nothing stored yet: the group starts at the earliest offset. */
        int64_t from = a->stored >= 0 ? a->stored : VG_MAX(lo, 0);
        vg_gauge_set(lag_series(a), (double)VG_MAX(hi - from, 0));
    }
}

void vg_lag_forget(const struct vg_consumer *c)
{
    for (size_t i = 0; i < c->nassigned; i++)
        vg_gauge_set(lag_series(&c->assigned[i]), 0);
}
