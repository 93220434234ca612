/*
 * vigil-worker: consumes events, heartbeats and commands in batches and lands
 * them in PostgreSQL with exactly-once effects.
 */
#include <stdlib.h>

#include "app.h"
#include "http.h"
#include "log.h"
#include "signals.h"
#include "util.h"

int main(int argc, char **argv)
{
    struct vg_app app;
    int rc = vg_app_init(&app, "worker", argc, argv, NULL);
    if (rc)
        return rc < 0 ? 0 : rc;
    char err[256];
    struct vg_http *http = vg_http_start(app.cfg->worker_listen, (int)app.cfg->worker_http_port,
                                         NULL, NULL, err, sizeof(err));
    if (!http) {
        vg_error("%s", err);
        vg_app_free(&app);
        return 1;
    }
    vg_info("worker %s started, health and metrics on %s:%lld", app.cfg->worker_id,
            app.cfg->worker_listen, (long long)app.cfg->worker_http_port);
    while (!vg_stop_requested)
        vg_sleep_ms(1000, &vg_stop_requested);
    vg_info("worker stopping");
    vg_http_stop(http);
    vg_app_free(&app);
    return 0;
}
