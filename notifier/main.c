/*
 * vigil-notifier: delivers session summaries to webhooks and e-mail, at
 * least once, with a stable delivery id (DESIGN.md section 11).
 */
#include "app.h"
#include "metrics.h"
#include "notifier.h"

int main(int argc, char **argv)
{
    struct vg_app app;
    int rc = vg_app_init(&app, "notifier", argc, argv, NULL);
    if (rc)
        return rc < 0 ? 0 : rc;
    rc = vg_notifier_run(app.cfg);
    vg_app_free(&app);
    vg_metrics_reset();
    return rc;
}
