#include "commands.h"

int vg_commands_accept(struct vg_stage_ctx *s)
{
    (void)s;
    return 0;
}

int vg_commands_work(PGconn *conn, const struct vg_config *cfg, int budget_ms)
{
    (void)conn;
    (void)cfg;
    (void)budget_ms;
    return 0;
}
