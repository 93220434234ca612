/*
 * vigilctl deliveries list [--status S] [--tenant T] [--limit N]
 * vigilctl deliveries retry ID | --dead [--tenant T]
 *
 * The notifier's ops.deliveries: what was sent where, what is pending, what
 * is dead and why; and sending again. A retry makes the row due now with
 * its attempts and its age counted from zero; its delivery id stays, so a
 * receiver that already has it deduplicates (DESIGN.md section 11).
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "crypto.h"
#include "ctl.h"
#include "pg.h"
#include "util.h"

static const char retry_sql[] =
    "UPDATE ops.deliveries SET status = 'pending', attempts = 0, next_attempt_at = now(),"
    " created_at = now(), delivered_at = NULL, claimed_by = NULL, updated_at = now()"
    " WHERE (($1::uuid IS NOT NULL AND delivery_id = $1::uuid)"
    "     OR ($1::uuid IS NULL AND status = 'dead'))"
    "   AND ($2::text IS NULL OR tenant_id = $2)"
    "   AND status <> 'pending'"
    " RETURNING delivery_id";

struct dopts {
    const char *status, *tenant, *limit, *id;
    int dead;
};

static int usage(void)
{
    fprintf(stderr, "usage: vigilctl deliveries list [--status pending|delivered|dead|skipped] "
                    "[--tenant T] [--limit N]\n"
                    "       vigilctl deliveries retry ID | --dead [--tenant T]\n");
    return 2;
}

static int parse(struct ctl *c, struct dopts *o)
{
    static const struct option opts[] = {{"status", required_argument, NULL, 's'},
                                         {"tenant", required_argument, NULL, 't'},
                                         {"limit", required_argument, NULL, 'l'},
                                         {"dead", no_argument, NULL, 'd'},
                                         {NULL, 0, NULL, 0}};
    memset(o, 0, sizeof(*o));
    o->limit = "50";
    optind = 1;
    int ch;
    while ((ch = getopt_long(c->argc - 1, c->argv + 1, "", opts, NULL)) != -1) {
        int64_t v;
        switch (ch) {
        case 's':
            if (strcmp(optarg, "pending") && strcmp(optarg, "delivered") &&
                strcmp(optarg, "dead") && strcmp(optarg, "skipped")) {
                fprintf(stderr, "vigilctl deliveries: --status is pending, delivered, dead or "
                                "skipped\n");
                return 2;
            }
            o->status = optarg;
            break;
        case 't':
            o->tenant = optarg;
            break;
        case 'l':
            if (vg_parse_int64(optarg, 1, 100000, &v)) {
                fprintf(stderr, "vigilctl deliveries: --limit wants 1 to 100000\n");
                return 2;
            }
            o->limit = optarg;
            break;
        case 'd':
            o->dead = 1;
            break;
        default:
            return usage();
        }
    }
    if (optind < c->argc - 1)
        o->id = c->argv[1 + optind];
    return 0;
}

static int list(struct ctl *c, const struct dopts *o)
{
    const char *p[3] = {o->status, o->tenant, o->limit};
    return vg_ctl_report(
        c, "deliveries", NULL,
        "SELECT delivery_id, tenant_id, destination, type, status, attempts, last_status,"
        " left(last_error, 60) AS last_error, session_id, created_at, next_attempt_at,"
        " delivered_at FROM ops.deliveries"
        " WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR tenant_id = $2)"
        " ORDER BY created_at DESC LIMIT $3::int",
        3, p);
}

static int retry(struct ctl *c, const struct dopts *o)
{
    if (!o->dead == !o->id) {
        fprintf(stderr, "vigilctl deliveries retry: give one delivery id, or --dead\n");
        return 2;
    }
    if (o->id && !vg_uuid_valid(o->id)) {
        fprintf(stderr, "vigilctl deliveries retry: \"%s\" is not a delivery id (a UUID)\n",
                o->id);
        return 2;
    }
    PGconn *db = vg_ctl_db(c);
    if (!db)
        return 1;
    const char *p[2] = {o->id, o->tenant};
    PGresult *r;
    char err[512];
    int rc = vg_pg_query(db, &r, retry_sql, 2, p, err, sizeof(err));
    PQfinish(db);
    if (rc) {
        fprintf(stderr, "vigilctl deliveries retry: %s\n", err);
        return 1;
    }
    int n = PQntuples(r);
    PQclear(r);
    if (o->id && n == 0) {
        fprintf(stderr, "vigilctl deliveries retry: no delivery %s that is not pending\n", o->id);
        return 1;
    }
    printf("%d deliveries due again\n", n);
    return 0;
}

int vg_ctl_deliveries(struct ctl *c)
{
    if (c->argc < 2)
        return usage();
    struct dopts o;
    int rc = parse(c, &o);
    if (rc)
        return rc;
    if (!strcmp(c->argv[1], "list"))
        return o.id ? usage() : list(c, &o);
    if (!strcmp(c->argv[1], "retry"))
        return retry(c, &o);
    return usage();
}
