/*
 * vigilctl command NAME [--param k=v ...] [--dry-run] [--wait] [--timeout S] [--id ID]:
 * sign and send one command by hand, as the scheduler would (common/command.h),
 * and with --wait follow its ops.command_runs row until it is done or failed.
 *
 * The command_id is "manual@<now to the second>-<8 random hex digits>" unless
 * --id names one; sending an id that ran before does nothing (a repeated
 * command_id is not run again), which --id makes easy to check.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "command.h"
#include "crypto.h"
#include "ctl.h"
#include "kafka.h"
#include "util.h"

/* How long the command's acknowledgement is waited for, and when librdkafka
 * gives the command up (before that, so that its report arrives in time). */
#define WAIT_MS 15000
#define GIVE_UP_MS 10000

struct opts {
    const struct vg_command_def *def;
    json_t *params;
    int dry_run, wait;
    int64_t timeout_s;
    const char *id;
};

void vg_ctl_command_usage(FILE *out)
{
    fprintf(out, "usage: vigilctl command NAME [--param NAME=VALUE ...] [--dry-run] [--wait]"
                 " [--timeout SECONDS] [--id COMMAND_ID]\n\ncommands and their parameters"
                 " (* required):\n");
    for (size_t i = 0; vg_command_at(i); i++) {
        const struct vg_command_def *d = vg_command_at(i);
        fprintf(out, "  %s: %s\n", d->name, d->help);
        for (const struct vg_command_param *p = d->params; p->name; p++)
            fprintf(out, "      %s%s  %s\n", p->name, p->required ? "*" : "", p->help);
    }
}

static int parse(struct ctl *c, struct opts *o)
{
    static const struct option longopts[] = {{"param", required_argument, NULL, 'p'},
                                             {"dry-run", no_argument, NULL, 'n'},
                                             {"wait", no_argument, NULL, 'w'},
                                             {"timeout", required_argument, NULL, 't'},
                                             {"id", required_argument, NULL, 'i'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    memset(o, 0, sizeof(*o));
    o->timeout_s = 300;
    if (c->argc < 2 || c->argv[1][0] == '-') {
        vg_ctl_command_usage(c->argc >= 2 && !strcmp(c->argv[1], "--help") ? stdout : stderr);
        return c->argc >= 2 && !strcmp(c->argv[1], "--help") ? -1 : 2;
    }
    o->def = vg_command_find(c->argv[1]);
    if (!o->def) {
        fprintf(stderr, "vigilctl command: unknown command \"%s\"\n", c->argv[1]);
        vg_ctl_command_usage(stderr);
        return 2;
    }
    o->params = json_object();
    optind = 1;
    int ch;
    char err[256];
    while ((ch = getopt_long(c->argc - 1, c->argv + 1, "", longopts, NULL)) != -1) {
        switch (ch) {
        case 'p': {
            const char *eq = strchr(optarg, '=');
            if (!eq || eq == optarg) {
                fprintf(stderr, "vigilctl command: --param wants NAME=VALUE, not \"%s\"\n", optarg);
                return 2;
            }
            char *name = vg_xstrndup(optarg, (size_t)(eq - optarg));
            json_t *v;
            int rc = vg_command_param_parse(o->def, name, eq + 1, &v, err, sizeof(err));
            if (rc == 0)
                json_object_set_new(o->params, name, v);
            free(name);
            if (rc) {
                fprintf(stderr, "vigilctl command: %s\n", err);
                return 2;
            }
            break;
        }
        case 'n':
            o->dry_run = 1;
            break;
        case 'w':
            o->wait = 1;
            break;
        case 't':
            if (vg_parse_int64(optarg, 1, 86400, &o->timeout_s)) {
                fprintf(stderr, "vigilctl command: --timeout wants seconds (1-86400)\n");
                return 2;
            }
            break;
        case 'i':
            if (!vg_command_id_valid(optarg)) {
                fprintf(stderr,
                        "vigilctl command: --id wants 1 to %d printable characters "
                        "without spaces\n",
                        VG_COMMAND_ID_MAX);
                return 2;
            }
            o->id = optarg;
            break;
        case 'h':
            vg_ctl_command_usage(stdout);
            return -1;
        default:
            return 2;
        }
    }
    if (optind < c->argc - 1) {
        fprintf(stderr, "vigilctl command: unexpected argument \"%s\"\n", c->argv[optind + 1]);
        return 2;
    }
    if (vg_command_check_params(o->def, o->params, err, sizeof(err))) {
        fprintf(stderr, "vigilctl command: %s\n", err);
        return 2;
    }
    return 0;
}

static int delivery_error;

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    if (m->err)
        delivery_error = m->err;
}

/* A producer that reports every delivery. */
static rd_kafka_t *producer(struct ctl *c)
{
    char err[512];
    const struct vg_kafka_producer_opts opts = {
        .client_id = "vigilctl", .message_timeout_ms = GIVE_UP_MS, .on_delivery = on_delivery};
    rd_kafka_t *rk = vg_kafka_producer_new(c->cfg, &opts, err, sizeof(err));
    if (!rk)
        fprintf(stderr, "vigilctl command: %s\n", err);
    return rk;
}

/* Signs and produces the command; 0 once Kafka acknowledged it. */
static int send_command(struct ctl *c, const struct opts *o, const char *id)
{
    json_t *msg = vg_command_new(id, o->def->name, o->params, o->dry_run, vg_now_us(),
                                 c->cfg->worker_group);
    char *value = NULL;
    if (vg_command_sign(msg, c->cfg->command_secret) == 0)
        value = json_dumps(msg, JSON_COMPACT);
    json_decref(msg);
    if (!value) {
        fprintf(stderr, "vigilctl command: cannot serialize the command\n");
        return 1;
    }
    rd_kafka_t *rk = producer(c);
    if (!rk) {
        free(value);
        return 1;
    }
    rd_kafka_resp_err_t e = rd_kafka_producev(
        rk, RD_KAFKA_V_TOPIC(c->cfg->topic_commands),
        RD_KAFKA_V_KEY(o->def->name, strlen(o->def->name)), RD_KAFKA_V_VALUE(value, strlen(value)),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    free(value);
    int rc = 0;
    if (e) {
        fprintf(stderr, "vigilctl command: cannot produce: %s\n", rd_kafka_err2str(e));
        rc = 1;
    } else if (rd_kafka_flush(rk, WAIT_MS) != RD_KAFKA_RESP_ERR_NO_ERROR ||
               rd_kafka_outq_len(rk) > 0) {
        fprintf(stderr, "vigilctl command: %s did not acknowledge the command in %d s\n",
                c->cfg->topic_commands, WAIT_MS / 1000);
        rc = 1;
    } else if (delivery_error) {
        fprintf(stderr, "vigilctl command: not delivered: %s\n",
                rd_kafka_err2str((rd_kafka_resp_err_t)delivery_error));
        rc = 1;
    }
    rd_kafka_destroy(rk);
    return rc;
}

/* Prints the run's row, one field per line (-o json: as section "run"). */
static void print_run(struct ctl *c, PGresult *r)
{
    if (c->json) {
        vg_ctl_out_set(c, "run", vg_ctl_row_json(r, 0));
        return;
    }
    for (int j = 0; j < PQnfields(r); j++)
        printf("%-12s %s\n", PQfname(r, j), PQgetisnull(r, 0, j) ? "-" : PQgetvalue(r, 0, j));
}

/* Polls ops.command_runs until the run is finished; 0 if done, 1 otherwise. */
static int wait_run(struct ctl *c, const char *id, int64_t timeout_s)
{
    PGconn *db = vg_ctl_db(c);
    if (!db)
        return 1;
    const char *p[1] = {id};
    int64_t deadline = vg_mono_ms() + timeout_s * 1000;
    int rc = 1;
    for (;;) {
        PGresult *r = PQexecParams(db,
                                   "SELECT command_id, name, status, dry_run, params::text,"
                                   " affected, started_at, finished_at, worker, error,"
                                   " sample::text FROM ops.command_runs WHERE command_id = $1",
                                   1, NULL, p, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            fprintf(stderr, "vigilctl command: %s", PQresultErrorMessage(r));
            PQclear(r);
            break;
        }
        const char *status = PQntuples(r) == 1 ? PQgetvalue(r, 0, 2) : "";
        if (!strcmp(status, "done") || !strcmp(status, "failed")) {
            print_run(c, r);
            rc = strcmp(status, "done") != 0;
            PQclear(r);
            break;
        }
        if (vg_mono_ms() >= deadline) {
            fprintf(stderr,
                    "vigilctl command: %s is %s after %lld s; still waiting is up to "
                    "you (vigilctl status)\n",
                    id, *status ? status : "not recorded yet", (long long)timeout_s);
            if (*status)
                print_run(c, r);
            PQclear(r);
            break;
        }
        PQclear(r);
        vg_sleep_ms(250, NULL);
    }
    PQfinish(db);
    return rc;
}

int vg_ctl_command(struct ctl *c)
{
    struct opts o;
    int rc = parse(c, &o);
    if (rc) {
        json_decref(o.params);
        return rc < 0 ? 0 : rc;
    }
    char err[512];
    if (vg_config_require_secrets(c->cfg, VG_NEED_COMMAND_SECRET, err, sizeof(err))) {
        fprintf(stderr, "vigilctl command: %s: commands must be signed\n", err);
        json_decref(o.params);
        return 1;
    }
    char id[VG_COMMAND_ID_MAX + 1];
    if (o.id) {
        snprintf(id, sizeof(id), "%s", o.id);
    } else {
        unsigned char r[4];
        char hex[9];
        vg_random_bytes(r, sizeof(r));
        vg_hex(r, sizeof(r), hex);
        time_t now = time(NULL);
        struct tm tm;
        gmtime_r(&now, &tm);
        snprintf(id, sizeof(id), "manual@%04d-%02d-%02dT%02d:%02d:%02dZ-%s", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, hex);
    }
    rc = send_command(c, &o, id);
    json_decref(o.params);
    if (rc)
        return rc;
    if (!c->json) {
        printf("sent %s (%s%s)\n", id, o.def->name, o.dry_run ? ", dry run" : "");
        fflush(stdout);
    }
    vg_ctl_out_set(c, "sent", json_pack("{s:s, s:s, s:b}", "command_id", id, "name",
                                        o.def->name, "dry_run", o.dry_run));
    return o.wait ? wait_run(c, id, o.timeout_s) : 0;
}
