/*
 * vigilctl sessions [--tenant T] [--status S] [--since TIME] [--limit N]
 * vigilctl stats [--tenant T]
 *
 * The session mart as tables: recent sessions, and per tenant and kind the
 * counts, timeout rate, durations and draft conversion.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "ctl.h"
#include "util.h"

struct filter {
    const char *tenant, *status, *since, *limit;
};

static int parse(struct ctl *c, struct filter *f)
{
    static const struct option opts[] = {{"tenant", required_argument, NULL, 't'},
                                         {"status", required_argument, NULL, 's'},
                                         {"since", required_argument, NULL, 'S'},
                                         {"limit", required_argument, NULL, 'l'},
                                         {NULL, 0, NULL, 0}};
    memset(f, 0, sizeof(*f));
    f->limit = "50";
    optind = 1;
    int ch;
    while ((ch = getopt_long(c->argc, c->argv, "", opts, NULL)) != -1) {
        int64_t v;
        switch (ch) {
        case 't':
            f->tenant = optarg;
            break;
        case 's':
            f->status = optarg;
            break;
        case 'S':
            if (vg_time_parse(optarg, &v)) {
                fprintf(stderr, "vigilctl: --since wants an RFC 3339 time\n");
                return 2;
            }
            f->since = optarg;
            break;
        case 'l':
            if (vg_parse_int64(optarg, 1, 100000, &v)) {
                fprintf(stderr, "vigilctl: --limit wants 1 to 100000\n");
                return 2;
            }
            f->limit = optarg;
            break;
        default:
            return 2;
        }
    }
    return 0;
}

int vg_ctl_sessions(struct ctl *c)
{
    struct filter f;
    int rc = parse(c, &f);
    if (rc)
        return rc;
    const char *p[4] = {f.tenant, f.status, f.since, f.limit};
    return vg_ctl_report(
        c, "sessions", NULL,
        "SELECT tenant_id, session_id, kind, status, started_at, last_activity_at, ended_at,"
        " duration_ms, heartbeat_count AS heartbeats, event_count AS events, end_reason"
        " FROM mart.sessions"
        " WHERE ($1::text IS NULL OR tenant_id = $1) AND ($2::text IS NULL OR status = $2)"
        "   AND ($3::timestamptz IS NULL OR created_at >= $3)"
        " ORDER BY coalesce(last_activity_at, created_at) DESC LIMIT $4::int",
        4, p);
}

int vg_ctl_stats(struct ctl *c)
{
    struct filter f;
    int rc = parse(c, &f);
    if (rc)
        return rc;
    PGconn *db = vg_ctl_db(c);
    if (!db)
        return 1;
    const char *p[1] = {f.tenant};
    rc = vg_ctl_print_query(c, db, "kinds",
                            "Sessions by tenant and kind (durations in ms, finished sessions)",
                            "SELECT tenant_id, kind, sessions, active, ended, timed_out,"
                            " timeout_rate, avg_duration_ms AS avg, min_duration_ms AS min,"
                            " max_duration_ms AS max, p50_duration_ms AS p50,"
                            " p95_duration_ms AS p95 FROM mart.session_stats"
                            " WHERE $1::text IS NULL OR tenant_id = $1 ORDER BY 1, 2",
                            1, p);
    rc |= vg_ctl_print_query(c, db, "draft_conversion", "Draft conversion by day",
                             "SELECT tenant_id, day, drafts, activated, conversion_rate"
                             " FROM mart.draft_conversion"
                             " WHERE $1::text IS NULL OR tenant_id = $1 ORDER BY 1, 2 DESC",
                             1, p);
    PQfinish(db);
    return rc;
}
