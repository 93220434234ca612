/*
 * vigil-scheduler: fires cron schedules as signed commands; one leader at a time.
 */
#include "app.h"
#include "metrics.h"
#include "scheduler.h"

int main(int argc, char **argv)
{
    struct vg_app app;
    int rc = vg_app_init(&app, "scheduler", argc, argv, NULL);
    if (rc)
        return rc < 0 ? 0 : rc;
    rc = vg_scheduler_run(&app);
    vg_app_free(&app);
    vg_metrics_reset();
    return rc;
}
