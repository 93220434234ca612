/*
 * vigilctl: the operator's command line. Each subcommand is a function of
 * the table below; they share the configuration (same file and environment
 * as the daemons). Global options (-c, -o, --version, --help) may stand
 * anywhere on the line; `vigilctl COMMAND --help` prints without loading the
 * configuration or connecting anywhere.
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
    return VG_SQL_DIR; /* where `cmake --install` puts them */
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
    if (!c->json)
        printf("migrate: %d migration%s applied from %s\n", applied, applied == 1 ? "" : "s",
               dir);
    vg_ctl_out_set(c, "migrate", json_pack("{s:i, s:s}", "applied", applied, "dir", dir));
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
    if (!c->json)
        printf("topics: %d created, %d already present\n", created, 5 - created);
    vg_ctl_out_set(c, "topics",
                   json_pack("{s:i, s:i}", "created", created, "present", 5 - created));
    return 0;
}

static int cmd_send(struct ctl *c)
{
    json_t *report = c->json ? json_object() : NULL;
    int rc = vg_send_run(c->cfg, c->argc, c->argv, report);
    if (report && json_object_size(report))
        vg_ctl_out_set(c, "send", report);
    else
        json_decref(report);
    return rc;
}

static const struct {
    const char *name;
    int (*run)(struct ctl *c);
    const char *summary; /* one line of `vigilctl --help` */
    const char *usage;   /* `vigilctl NAME --help`; NULL: its own function below */
} commands[] = {
    {"migrate", cmd_migrate, "migrate [DIR]     apply schemas/sql migrations (idempotent)",
     "usage: vigilctl migrate [DIR]\n"
     "  Applies the migrations of DIR (default: $VIGIL_SCHEMAS_DIR, the source tree's\n"
     "  schemas/sql, else " VG_SQL_DIR ") not yet in ops.schema_migrations, each\n"
     "  in its own transaction. Run it as the owner role (docs/operations.md).\n"},
    {"topics", cmd_topics, "topics            create the Kafka topics (idempotent)",
     "usage: vigilctl topics\n"
     "  Creates vigil.events, vigil.heartbeats, vigil.commands, vigil.summaries and\n"
     "  vigil.dlq with kafka.partitions.* and kafka.replication_factor; existing\n"
     "  topics are left as they are.\n"},
    {"send", cmd_send,
     "send FILE|-       publish NDJSON events through the producer (HTTP or HTTPS)", NULL},
    {"status", vg_ctl_status,
     "status            lag per partition, rows per layer, command runs, DLQ",
     "usage: vigilctl status\n"
     "  Consumer lag per partition (Kafka's high watermark against ops.consumer_offsets),\n"
     "  rows per layer (mart.pipeline_status: exact for small tables, the planner's\n"
     "  estimate for large ones), the last command runs and the dead letters waiting.\n"},
    {"group", vg_ctl_group,
     "group             [--wait N [--timeout S]]: the workers' consumer group, or wait\n"
     "                    until it is Stable with N members holding every partition",
     "usage: vigilctl group [--wait MEMBERS] [--timeout SECONDS]\n"
     "  Describes the workers' consumer group; with --wait, waits (default 120 s) until\n"
     "  it is Stable with MEMBERS members holding every partition (exit 1 if not).\n"},
    {"offsets", vg_ctl_offsets,
     "offsets show|reset  the workers' stored offsets; reset to earliest, latest, a time or\n"
     "                    an offset (a dry run unless --execute)",
     "usage: vigilctl offsets show [--topic T]\n"
     "       vigilctl offsets reset --to-earliest|--to-latest|--to-time RFC3339|--to-offset N\n"
     "                              [--topic T [--partition P]] [--execute]\n"
     "  The workers' positions live in PostgreSQL (ops.consumer_offsets), not in Kafka,\n"
     "  so Kafka's group tools cannot move them: this does. show prints, per topic and\n"
     "  partition, Kafka's low and high watermarks, the stored offset and the lag.\n"
     "  reset prints the plan (current and new offset per partition) and changes\n"
     "  nothing unless --execute is given; then it writes every new offset in one\n"
     "  transaction. Without --topic: vigil.events, vigil.heartbeats and vigil.commands.\n"
     "  --to-time takes, per partition, the first offset at or after that time (the\n"
     "  end if none). Offsets are kept within [low, high]. Running workers notice at\n"
     "  their next batch (its compare-and-set fails, they reread the offsets); to be\n"
     "  certain nothing is in flight, scale the workers to 0 first.\n"},
    {"keys", vg_ctl_keys, "keys new --tenant T  a new random tenant key and its keys_sha256 line",
     "usage: vigilctl keys new --tenant TENANT\n"
     "  Prints a new random key (256 bits, base64url) for TENANT and the SHA-256 to\n"
     "  add to that tenant's keys_sha256 in producer.tenants. The key itself is\n"
     "  printed once and stored nowhere: hand it to the tenant. Connects nowhere.\n"},
    {"sessions", vg_ctl_sessions,
     "sessions          [--tenant T] [--status S] [--since TIME] [--limit N]: recent sessions",
     "usage: vigilctl sessions [--tenant T] [--status S] [--since RFC3339] [--limit N]\n"
     "  The most recent sessions of mart.sessions (default 50).\n"},
    {"stats", vg_ctl_stats, "stats             [--tenant T]: sessions per kind, durations, drafts",
     "usage: vigilctl stats [--tenant T]\n"
     "  Per tenant and kind: sessions, timeout rate and durations (mart.session_stats),\n"
     "  and draft conversion by day (mart.draft_conversion).\n"},
    {"command", vg_ctl_command,
     "command NAME      [--param K=V ...] [--dry-run] [--wait]: sign and send one command", NULL},
    {"dlq", vg_ctl_dlq,
     "dlq list|replay   [--since TIME] [--match TEXT] [--limit N] [--dry-run]: dead letters",
     "usage: vigilctl dlq list|replay [--since RFC3339] [--match TEXT] [--limit N] [--dry-run]\n"
     "  list prints the dead letters of vigil.dlq (from --since, default the beginning;\n"
     "  at most --limit, default 100) with their stage, origin and error; replay sends\n"
     "  the matching ones back to the topic they came from (--dry-run: only say which).\n"},
    {"deliveries", vg_ctl_deliveries,
     "deliveries list|retry [--status S] [--tenant T] [--limit N] | ID | --dead: deliveries",
     "usage: vigilctl deliveries list [--status S] [--tenant T] [--limit N]\n"
     "       vigilctl deliveries retry ID | --dead [--tenant T]\n"
     "  list prints webhook and e-mail deliveries (ops.deliveries), newest first; retry\n"
     "  makes one delivery, or every dead one, due now with its attempts from zero.\n"},
};

static const char global_help[] =
    "\nGlobal options, anywhere on the line:\n"
    "  -c, --config FILE   configuration file (default $VIGIL_CONFIG, else built-in defaults;\n"
    "                      after `send`, -c is send's --cacert: use --config there)\n"
    "  -o, --output FORMAT text (default) or json: one JSON object on stdout\n"
    "  -h, --help          this text; `vigilctl COMMAND --help` for one command\n"
    "  -V, --version       the version, as every Vigil program reports it\n"
    "\nExit status: 0 success; 1 the command failed (unreachable database or Kafka,\n"
    "a wait that timed out, a failed run, lines refused by the producer); 2 bad usage.\n"
    "\nVIGIL_* environment variables override the configuration (vigil-worker --help\n"
    "lists them).\n";

static void usage(FILE *out)
{
    fprintf(out, "usage: vigilctl [-c FILE] [-o json] COMMAND [ARGS]\n\ncommands:\n");
    for (size_t i = 0; i < VG_ARRAY_LEN(commands); i++)
        fprintf(out, "  %s\n", commands[i].summary);
    fputs(global_help, out);
}

static void command_usage(size_t k)
{
    if (!strcmp(commands[k].name, "send"))
        vg_send_usage(stdout);
    else if (!strcmp(commands[k].name, "command"))
        vg_ctl_command_usage(stdout);
    else
        fputs(commands[k].usage, stdout);
    fputs(global_help, stdout);
}

struct global {
    const char *config;
    int json, help, version;
};

/* Option value: "--opt=V", or "-o" "V", or "-oV". Returns the value or NULL
 * and advances *i over what it used. */
static const char *opt_value(int argc, char **argv, int *i, const char *shortopt,
                             const char *longopt)
{
    const char *a = argv[*i];
    size_t n = strlen(longopt);
    if (!strncmp(a, longopt, n) && a[n] == '=')
        return a + n + 1;
    if (!strcmp(a, longopt) || !strcmp(a, shortopt))
        return *i + 1 < argc ? argv[++*i] : NULL;
    if (!strncmp(a, shortopt, 2) && a[2])
        return a + 2;
    return NULL;
}

static int is_opt(const char *a, const char *shortopt, const char *longopt)
{
    size_t n = strlen(longopt);
    return !strcmp(a, shortopt) || !strcmp(a, longopt) ||
           (!strncmp(a, longopt, n) && a[n] == '=') ||
           (!strncmp(a, shortopt, 2) && a[2] && shortopt[1] != 'h' && shortopt[1] != 'V');
}

/*
 * Takes the global options out of argv wherever they stand (up to "--"),
 * leaving the command and its own arguments in order. Returns 0, or 2 with
 * a message for a bad value.
 */
static int take_globals(int *argc, char **argv, struct global *g)
{
    int out = 1, command_seen = 0;
    const char *command = NULL;
    for (int i = 1; i < *argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--")) {
            while (i < *argc)
                argv[out++] = argv[i++];
            break;
        }
        /* After send, -c is its --cacert. */
        int send_c = command && !strcmp(command, "send") && !strncmp(a, "-c", 2);
        if (!send_c && is_opt(a, "-c", "--config")) {
            if (!(g->config = opt_value(*argc, argv, &i, "-c", "--config"))) {
                fprintf(stderr, "vigilctl: %s needs a file\n", a);
                return 2;
            }
        } else if (is_opt(a, "-o", "--output")) {
            const char *v = opt_value(*argc, argv, &i, "-o", "--output");
            if (!v || (strcmp(v, "json") && strcmp(v, "text"))) {
                fprintf(stderr, "vigilctl: -o takes json or text\n");
                return 2;
            }
            g->json = !strcmp(v, "json");
        } else if (!strcmp(a, "-V") || !strcmp(a, "--version")) {
            g->version = 1;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help") ||
                   (!command_seen && !strcmp(a, "help"))) {
            g->help = 1;
        } else {
            if (!command_seen && a[0] != '-') {
                command_seen = 1;
                command = a;
            }
            argv[out++] = argv[i];
        }
    }
    *argc = out;
    argv[out] = NULL;
    return 0;
}

int main(int argc, char **argv)
{
    struct global g = {.config = getenv("VIGIL_CONFIG")};
    if (g.config && !*g.config)
        g.config = NULL;
    int rc = take_globals(&argc, argv, &g);
    if (rc)
        return rc;
    if (g.version) {
        if (g.json)
            printf("{\"program\": \"vigilctl\", \"version\": \"%s\"}\n", VG_VERSION);
        else
            printf("vigilctl %s\n", VG_VERSION);
        return 0;
    }
    if (argc < 2) {
        usage(g.help ? stdout : stderr);
        return g.help ? 0 : 2;
    }
    for (size_t k = 0; k < VG_ARRAY_LEN(commands); k++) {
        if (strcmp(argv[1], commands[k].name))
            continue;
        if (g.help) {
            command_usage(k);
            return 0;
        }
        vg_log_init("vigilctl");
        vg_log_level = VG_LOG_WARN;
        struct ctl c = {.argc = argc - 1, .argv = argv + 1, .json = g.json};
        char err[1024];
        if (vg_config_load(g.config, &c.cfg, err, sizeof(err))) {
            fprintf(stderr, "vigilctl: bad configuration: %s\n", err);
            return 1;
        }
        rc = commands[k].run(&c);
        vg_ctl_out_flush(&c);
        vg_config_free(c.cfg);
        return rc;
    }
    fprintf(stderr, "vigilctl: unknown command \"%s\"\n", argv[1]);
    usage(stderr);
    return 2;
}
