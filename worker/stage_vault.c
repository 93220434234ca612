/*
 * The vault stage: hubs, the session-visitor link and the event links of
 * what the staging stage staged (vg_staged), insert-only. The statement is
 * landing.c's, which reprocess runs too.
 */
#include "landing.h"
#include "stages.h"

int vg_stage_vault(struct vg_stage_ctx *s)
{
    if (s->slice_new == 0)
        return 0;
    return vg__stage_exec(s, vg_landing_vault_sql);
}
