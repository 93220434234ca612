/*
 * vigil-worker: consumes events, heartbeats and commands in batches and lands
 * them in PostgreSQL with exactly-once effects.
 */
#include "app.h"
#include "metrics.h"
#include "worker.h"

int main(int argc, char **argv)
{
    struct vg_app app;
    int rc = vg_app_init(&app, "worker", argc, argv, NULL);
    if (rc)
        return rc < 0 ? 0 : rc;
    rc = vg_worker_run(app.cfg);
    vg_app_free(&app);
    vg_metrics_reset();
    return rc;
}
