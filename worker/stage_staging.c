/*
 * The staging stage: the batch's new events (vg_fresh) become typed rows of
 * staging.events with their hash keys and hash diff, and are kept in
 * vg_staged for the vault stage. The statement is landing.c's, which
 * reprocess runs too.
 */
#include "landing.h"
#include "stages.h"

int vg_stage_staging(struct vg_stage_ctx *s)
{
    if (s->slice_new == 0)
        return 0;
    return vg__stage_exec(s, vg_landing_staging_sql);
}
