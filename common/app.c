#include "app.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "metrics.h"
#include "signals.h"
#include "util.h"

static void usage_print(FILE *out, const struct vg_app *app, const char *usage)
{
    fprintf(out,
            "usage: vigil-%s [-c FILE] [--check-config] [--help] [--version]\n"
            "  -c, --config FILE   configuration file (default: $VIGIL_CONFIG, else built-in "
            "defaults)\n"
            "      --check-config  load and validate the configuration, then exit\n"
            "  -h, --help          this text and every setting\n"
            "  -V, --version       the version, then exit\n%s\n",
            app->component, usage ? usage : "");
    vg_config_print_help(out);
}

int vg_app_init(struct vg_app *app, const char *component, int argc, char **argv,
                const char *usage)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"check-config", no_argument, NULL, 'C'},
                                         {"help", no_argument, NULL, 'h'},
                                         {"version", no_argument, NULL, 'V'},
                                         {NULL, 0, NULL, 0}};
    memset(app, 0, sizeof(*app));
    app->component = component;
    app->config_path = getenv("VIGIL_CONFIG");
    if (app->config_path && !*app->config_path)
        app->config_path = NULL;
    int check = 0, c;
    vg_log_init(component);
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:hV", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            app->config_path = optarg;
            break;
        case 'C':
            check = 1;
            break;
        case 'h':
            usage_print(stdout, app, usage);
            return -1;
        case 'V':
            printf("vigil-%s %s\n", component, VG_VERSION);
            return -1;
        default:
            usage_print(stderr, app, usage);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "vigil-%s: unexpected argument \"%s\"\n", component, argv[optind]);
        return 2;
    }
    char err[1024];
    if (vg_config_load(app->config_path, &app->cfg, err, sizeof(err))) {
        vg_error("bad configuration: %s", err);
        return 1;
    }
    vg_log_level = app->cfg->log_level;
    if (check) {
        printf("%s: ok\n", app->config_path ? app->config_path : "defaults");
        vg_config_free(app->cfg);
        app->cfg = NULL;
        return -1;
    }
    vg_signals_install();
    vg_gauge_set(vg_metric_series(vg_metrics_gauge("vigil_build_info",
                                                   "Always 1; labels name the program and version.",
                                                   "component,version"),
                                  component, VG_VERSION),
                 1);
    vg_gauge_set(vg_metric_plain(vg_metrics_gauge("vigil_start_time_seconds",
                                                  "When the process started, Unix time.", NULL)),
                 (double)vg_now_ms() / 1000.0);
    return 0;
}

int vg_app_reload(struct vg_app *app, struct vg_config **old)
{
    struct vg_config *cfg;
    char err[1024];
    *old = NULL;
    if (vg_config_load(app->config_path, &cfg, err, sizeof(err))) {
        vg_warn("configuration not reloaded, keeping the old one: %s", err);
        return 0;
    }
    *old = app->cfg;
    app->cfg = cfg;
    vg_log_level = cfg->log_level;
    vg_info("configuration reloaded from %s", app->config_path ? app->config_path : "defaults");
    return 1;
}

void vg_app_free(struct vg_app *app)
{
    vg_config_free(app->cfg);
    app->cfg = NULL;
}
