/*
 * vigil-worker: consumes events, heartbeats and commands in batches and lands
 * them in PostgreSQL with exactly-once effects.
 */
#include "app.h"
#include "log.h"
#include "metrics.h"
#include "worker.h"

int main(int argc, char **argv)
{
    struct vg_app app;
    int rc = vg_app_init(&app, "worker", argc, argv, NULL);
    if (rc)
        return rc < 0 ? 0 : rc;
    char err[512];
    if (vg_config_require_secrets(app.cfg, VG_NEED_COMMAND_SECRET, err, sizeof(err))) {
        /* without it every command would be dead-lettered as forged */
        vg_error("refusing to start: %s (commands are verified with it)", err);
        vg_app_free(&app);
        return 1;
    }
    rc = vg_worker_run(app.cfg);
    vg_app_free(&app);
    vg_metrics_reset();
    return rc;
}
