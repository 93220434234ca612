/*
 * vigilctl: the operator's command line. Each subcommand is a function of
 * the table below; they share the configuration (same file and environment
 * as the daemons).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "ctl.h"
#include "kafka.h"
#include "log.h"
#include "migrate.h"
#include "pg.h"
#include "send.h"
#include "util.h"

static int connect_db(struct ctl *c, PGconn **out)
{
    struct vg_pg pg;
    char err[512];
    if (vg_pg_open(&pg, c->cfg->database_url, "vigilctl", err, sizeof(err))) {
        fprintf(stderr, "vigilctl: cannot connect to the database: %s\n", err);
        vg_pg_close(&pg);
        return 1;
    }
    *out = pg.conn;
    pg.conn = NULL;
    vg_pg_close(&pg);
    return 0;
}

static const char *schemas_dir(void)
{
    const char *d = getenv("VIGIL_SCHEMAS_DIR");
    if (d && *d)
        return d;
    if (access(VG_SOURCE_DIR "/schemas/sql", R_OK) == 0)
        return VG_SOURCE_DIR "/schemas/sql";
    return "/usr/share/vigil/sql";
}

static int cmd_migrate(struct ctl *c)
{
    const char *dir = c->argc > 1 ? c->argv[1] : schemas_dir();
    PGconn *conn;
    if (connect_db(c, &conn))
        return 1;
    int applied = 0;
    char err[1024];
    int rc = vg_migrate_run(conn, dir, &applied, err, sizeof(err));
    PQfinish(conn);
    if (rc) {
        fprintf(stderr, "vigilctl migrate: %s\n", err);
        return 1;
    }
    printf("migrate: %d migration%s applied from %s\n", applied, applied == 1 ? "" : "s", dir);
    return 0;
}

static int cmd_topics(struct ctl *c)
{
    int created = 0;
    char err[512];
    if (vg_kafka_create_topics(c->cfg, 15000, &created, err, sizeof(err))) {
        fprintf(stderr, "vigilctl topics: %s\n", err);
        return 1;
    }
    printf("topics: %d created, %d already present\n", created, 5 - created);
    return 0;
}

static int cmd_send(struct ctl *c)
{
    return vg_send_run(c->cfg, c->argc, c->argv);
}

static const struct {
    const char *name;
    int (*run)(struct ctl *c);
    const char *help;
} commands[] = {
    {"migrate", cmd_migrate, "migrate [DIR]     apply schemas/sql migrations (idempotent)"},
    {"topics", cmd_topics, "topics            create the Kafka topics (idempotent)"},
    {"send", cmd_send, "send FILE|-       publish NDJSON events through the producer (--help)"},
    {"status", vg_ctl_status, "status            lag per partition, rows per layer, command runs, DLQ"},
    {"group", vg_ctl_group,
     "group             [--wait N [--timeout S]]: the workers' consumer group, or wait\n"
     "                    until it is Stable with N members holding every partition"},
    {"sessions", vg_ctl_sessions,
     "sessions          [--tenant T] [--status S] [--since TIME] [--limit N]: recent sessions"},
    {"stats", vg_ctl_stats, "stats             [--tenant T]: sessions per kind, durations, drafts"},
    {"command", vg_ctl_command,
     "command NAME      [--param K=V ...] [--dry-run] [--wait]: sign and send one command"},
    {"dlq", vg_ctl_dlq,
     "dlq list|replay   [--since TIME] [--match TEXT] [--limit N] [--dry-run]: dead letters"},
    {"deliveries", vg_ctl_deliveries,
     "deliveries list   [--status S] [--tenant T] [--limit N]: webhook and e-mail deliveries\n"
     "deliveries retry  ID | --dead [--tenant T]: send again, due now, attempts from zero"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: vigilctl [-c FILE] COMMAND [ARGS]\n\ncommands:\n");
    for (size_t i = 0; i < VG_ARRAY_LEN(commands); i++)
        fprintf(out, "  %s\n", commands[i].help);
    fprintf(out, "\nThe configuration comes from -c, else $VIGIL_CONFIG, else defaults;\n"
                 "VIGIL_* environment variables override it (vigil-worker --help lists them).\n");
}

int main(int argc, char **argv)
{
    const char *path = getenv("VIGIL_CONFIG");
    int i = 1;
    if (path && !*path)
        path = NULL;
    if (i + 1 < argc && (!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config"))) {
        path = argv[i + 1];
        i += 2;
    }
    if (i >= argc || !strcmp(argv[i], "-h") || !strcmp(argv[i], "--help") ||
        !strcmp(argv[i], "help")) {
        usage(i >= argc ? stderr : stdout);
        return i >= argc ? 2 : 0;
    }
    vg_log_init("vigilctl");
    vg_log_level = VG_LOG_WARN;
    struct ctl c = {.argc = argc - i, .argv = argv + i};
    for (size_t k = 0; k < VG_ARRAY_LEN(commands); k++) {
        if (strcmp(argv[i], commands[k].name))
            continue;
        char err[1024];
        if (vg_config_load(path, &c.cfg, err, sizeof(err))) {
            fprintf(stderr, "vigilctl: bad configuration: %s\n", err);
            return 1;
        }
        int rc = commands[k].run(&c);
        vg_config_free(c.cfg);
        return rc;
    }
    fprintf(stderr, "vigilctl: unknown command \"%s\"\n", argv[i]);
    usage(stderr);
    return 2;
}
