/*
 * app.h - what every Vigil program does before its own work: read the
 * command line (-c FILE, --help, --check-config), load the configuration,
 * set up logging and signals, and reload on SIGHUP.
 */
#ifndef VG_APP_H
#define VG_APP_H

#include "config.h"

struct vg_app {
    const char *component; /* "producer", "worker", ... */
    const char *config_path;
    struct vg_config *cfg;
};

/*
 * Parses argv and loads the configuration (file from -c, else $VIGIL_CONFIG,
 * else defaults only). usage is the program's extra usage text (may be NULL).
 * Returns 0 to go on; otherwise the process exit status to use (0 after
 * --help, --version or a good --check-config, 1 for a bad config, 2 for a bad
 * argument), having already printed why. On 0 the caller owns app->cfg (vg_app_free).
 */
int vg_app_init(struct vg_app *app, const char *component, int argc, char **argv,
                const char *usage);

/*
 * Re-reads the file after SIGHUP. A bad file keeps the old config and logs a
 * warning. Returns 1 if a new config replaced app->cfg (the old one is
 * returned in *old for the caller to free once nothing points into it), else 0.
 */
int vg_app_reload(struct vg_app *app, struct vg_config **old);

void vg_app_free(struct vg_app *app);

#endif
