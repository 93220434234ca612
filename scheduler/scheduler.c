#include "scheduler.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "command.h"
#include "cron.h"
#include "emit.h"
#include "http.h"
#include "leader.h"
#include "log.h"
#include "metrics.h"
#include "service.h"
#include "pg.h"
#include "signals.h"
#include "util.h"

#define LEADER_RETRY_MS 1000 /* a standby tries the lock this often */
#define EMIT_TIMEOUT_MS 15000

struct entry {
    const struct vg_schedule *s; /* in the current config */
    struct vg_cron cron;
    json_t *params;
    int64_t due; /* the slot to fire next, epoch seconds; -1 until leading */
};

struct sched {
    struct vg_app *app;
    struct entry *entries;
    size_t n;
    struct vg_leader leader;
    struct vg_emitter *emitter;
    atomic_int db_ok; /* written by the loop, read by the HTTP thread (/readyz) */
    struct vg_series *leading;
    struct vg_metric *emitted, *failures, *last_slot;
};

/* -- checking the schedules -------------------------------------------- */

static int name_ok(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++) {
        char c = s[n];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return 0;
    }
    return n >= 1 && n <= 64;
}

/* Parses one schedule into e (params: a new reference). 0 or VG_ECONFIG. */
static int entry_load(const struct vg_schedule *s, struct entry *e, char *errstr,
                      size_t errstr_size)
{
    char err[256];
    memset(e, 0, sizeof(*e));
    e->s = s;
    e->due = -1;
    if (!name_ok(s->name)) {
        snprintf(errstr, errstr_size,
                 "schedule \"%s\": the name must be 1 to 64 of [A-Za-z0-9_.-] (it names its "
                 "commands)",
                 s->name);
        return VG_ECONFIG;
    }
    if (vg_cron_parse(s->cron, &e->cron, err, sizeof(err))) {
        snprintf(errstr, errstr_size, "schedule \"%s\": bad cron \"%s\": %s", s->name, s->cron,
                 err);
        return VG_ECONFIG;
    }
    const struct vg_command_def *def = vg_command_find(s->command);
    if (!def) {
        struct vg_buf known = {0};
        for (size_t i = 0; vg_command_at(i); i++)
            vg_buf_printf(&known, "%s%s", i ? ", " : "", vg_command_at(i)->name);
        snprintf(errstr, errstr_size, "schedule \"%s\": unknown command \"%s\" (known: %s)",
                 s->name, s->command, known.data);
        vg_buf_free(&known);
        return VG_ECONFIG;
    }
    json_error_t jerr;
    e->params = json_loads(s->params_json, JSON_REJECT_DUPLICATES, &jerr);
    if (!e->params) {
        snprintf(errstr, errstr_size, "schedule \"%s\": params are not JSON: %s", s->name,
                 jerr.text);
        return VG_ECONFIG;
    }
    if (vg_command_check_params(def, e->params, err, sizeof(err))) {
        snprintf(errstr, errstr_size, "schedule \"%s\": %s", s->name, err);
        json_decref(e->params);
        e->params = NULL;
        return VG_ECONFIG;
    }
    return 0;
}

static void entries_free(struct entry *entries, size_t n)
{
    for (size_t i = 0; i < n; i++)
        json_decref(entries[i].params);
    free(entries);
}

/* Every schedule of cfg as entries, or NULL with errstr filled. */
static struct entry *entries_load(const struct vg_config *cfg, char *errstr, size_t errstr_size)
{
    struct entry *entries = vg_xcalloc(cfg->nschedules + 1, sizeof(*entries));
    for (size_t i = 0; i < cfg->nschedules; i++) {
        if (entry_load(&cfg->schedules[i], &entries[i], errstr, errstr_size)) {
            entries_free(entries, i);
            return NULL;
        }
    }
    return entries;
}

int vg_scheduler_check(const struct vg_config *cfg, char *errstr, size_t errstr_size)
{
    struct entry *entries = entries_load(cfg, errstr, errstr_size);
    if (!entries)
        return VG_ECONFIG;
    entries_free(entries, cfg->nschedules);
    return 0;
}

/* -- state in PostgreSQL ----------------------------------------------- */

/* On taking the lead: for each schedule, fire the latest slot within the
 * catch-up window if it was not fired yet, else wait for the next one. */
static int plan_after_election(struct sched *s)
{
    PGresult *r = PQexec(s->leader.conn, "SELECT schedule, extract(epoch FROM last_slot)::bigint"
                                         " FROM ops.schedule_state");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        char err[512];
        vg_pg_error(s->leader.conn, r, err, sizeof(err));
        PQclear(r);
        vg_warn("cannot read ops.schedule_state: %s", err);
        return -1;
    }
    int64_t now = vg_now_ms() / 1000;
    int64_t window = s->app->cfg->scheduler_catchup_s;
    for (size_t i = 0; i < s->n; i++) {
        struct entry *e = &s->entries[i];
        int64_t fired = -1;
        for (int k = 0; k < PQntuples(r); k++)
            if (!strcmp(PQgetvalue(r, k, 0), e->s->name))
                fired = strtoll(PQgetvalue(r, k, 1), NULL, 10);
        int64_t missed = window > 0 ? vg_cron_last(&e->cron, now - window, now) : -1;
        if (missed >= 0 && missed > fired) {
            vg_info("schedule %s: slot %lld was not fired, firing it now (catch-up)", e->s->name,
                    (long long)missed);
            e->due = missed;
        } else {
            e->due = vg_cron_next(&e->cron, now);
        }
    }
    PQclear(r);
    return 0;
}

static void record_fired(struct sched *s, const struct entry *e, const char *command_id)
{
    char slot[24];
    snprintf(slot, sizeof(slot), "%lld", (long long)e->due);
    const char *p[3] = {e->s->name, slot, command_id};
    PGresult *r =
        PQexecParams(s->leader.conn,
                     "INSERT INTO ops.schedule_state (schedule, last_slot, command_id, emitted_at)"
                     " VALUES ($1, to_timestamp($2::bigint), $3, now())"
                     " ON CONFLICT (schedule) DO UPDATE SET last_slot = excluded.last_slot,"
                     "   command_id = excluded.command_id, emitted_at = excluded.emitted_at"
                     " WHERE ops.schedule_state.last_slot <= excluded.last_slot",
                     3, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        char err[512];
        vg_pg_error(s->leader.conn, r, err, sizeof(err));
        /* The command went out; at worst a next leader fires the slot again,
         * which its command_id makes a no-op. */
        vg_warn("schedule %s: %s emitted but not recorded: %s", e->s->name, command_id, err);
    }
    PQclear(r);
}

/* -- firing ------------------------------------------------------------ */

static void fire_due(struct sched *s)
{
    int64_t window = VG_MAX(s->app->cfg->scheduler_catchup_s, 59);
    for (size_t i = 0; i < s->n && !vg_stop_requested; i++) {
        struct entry *e = &s->entries[i];
        int64_t now = vg_now_ms() / 1000;
        if (e->due < 0 || e->due > now)
            continue;
        /* Only the latest slot that is due fires: a leader that could not
         * emit for a while does not fire every slot it missed. */
        int64_t latest = vg_cron_last(&e->cron, e->due + 1, now);
        if (latest > e->due)
            e->due = latest;
        if (now - e->due > window) {
            vg_warn("schedule %s: slot %lld is %lld s late, past the catch-up window; skipped",
                    e->s->name, (long long)e->due, (long long)(now - e->due));
            e->due = vg_cron_next(&e->cron, now);
            continue;
        }
        if (!vg_leader_confirm(&s->leader))
            return; /* not leading any more: nobody emits from here */
        char id[VG_EMIT_ID_LEN], err[512];
        vg_emit_command_id(e->s->name, e->due, id, sizeof(id));
        if (vg_emitter_send(s->emitter, id, e->s->command, e->params, e->s->dry_run,
                            EMIT_TIMEOUT_MS, err, sizeof(err))) {
            vg_counter_add(vg_metric_series(s->failures, e->s->command), 1);
            vg_warn("schedule %s: %s not emitted, retrying: %s", e->s->name, id, err);
            continue; /* the slot stays due; the loop comes back within a second */
        }
        vg_counter_add(vg_metric_series(s->emitted, e->s->command), 1);
        vg_gauge_set(vg_metric_series(s->last_slot, e->s->name), (double)e->due);
        vg_info("schedule %s: emitted %s (%s%s)", e->s->name, id, e->s->command,
                e->s->dry_run ? ", dry run" : "");
        record_fired(s, e, id);
        e->due = vg_cron_next(&e->cron, VG_MAX(e->due, vg_now_ms() / 1000));
    }
}

/* Milliseconds until the earliest due slot, at most cap_ms. */
static int64_t until_due(const struct sched *s, int64_t cap_ms)
{
    int64_t now = vg_now_ms(), wait = cap_ms;
    for (size_t i = 0; i < s->n; i++)
        if (s->entries[i].due >= 0)
            wait = VG_MIN(wait, s->entries[i].due * 1000 - now);
    return VG_MAX(wait, 0);
}

/* -- the loop ---------------------------------------------------------- */

static int ready(void *opaque, char *reason, size_t reason_size)
{
    struct sched *s = opaque;
    if (!atomic_load(&s->db_ok)) {
        snprintf(reason, reason_size, "database unreachable");
        return 0;
    }
    if (!vg_emitter_reachable(s->emitter, 1000)) {
        snprintf(reason, reason_size, "kafka unreachable");
        return 0;
    }
    return 1;
}

/* SIGHUP: new schedules if they all check, else the old ones. */
static void reload(struct sched *s)
{
    struct vg_config *old;
    vg_reload_requested = 0;
    if (!vg_app_reload(s->app, &old))
        return;
    char err[512];
    struct entry *entries = entries_load(s->app->cfg, err, sizeof(err));
    if (!entries) {
        vg_warn("configuration not reloaded, keeping the old schedules: %s", err);
        vg_config_free(s->app->cfg);
        s->app->cfg = old;
        return;
    }
    entries_free(s->entries, s->n);
    s->entries = entries;
    s->n = s->app->cfg->nschedules;
    vg_config_free(old);
    int64_t now = vg_now_ms() / 1000;
    for (size_t i = 0; i < s->n; i++)
        s->entries[i].due = s->leader.leader ? vg_cron_next(&s->entries[i].cron, now) : -1;
    vg_info("%zu schedules loaded (Kafka and database settings need a restart)", s->n);
}

static void loop(struct sched *s)
{
    int was_leading = 0;
    vg_service_ready("scheduling");
    while (!vg_stop_requested) {
        vg_service_watchdog();
        if (vg_reload_requested)
            reload(s);
        int leading = vg_leader_poll(&s->leader);
        if (leading && !was_leading && plan_after_election(s))
            leading = 0; /* state unreadable: try again on the next pass */
        atomic_store(&s->db_ok, vg_leader_connected(&s->leader));
        vg_gauge_set(s->leading, leading);
        if (!leading) {
            if (was_leading)
                for (size_t i = 0; i < s->n; i++)
                    s->entries[i].due = -1;
            was_leading = 0;
            vg_sleep_ms(250, &vg_stop_requested);
            continue;
        }
        was_leading = 1;
        fire_due(s);
        vg_gauge_set(s->leading, s->leader.leader);
        vg_sleep_ms(until_due(s, 1000), &vg_stop_requested);
    }
}

int vg_scheduler_run(struct vg_app *app)
{
    const struct vg_config *cfg = app->cfg;
    char err[512];
    if (vg_config_require_secrets(cfg, VG_NEED_COMMAND_SECRET, err, sizeof(err))) {
        vg_error("refusing to start: %s (every command is signed with it)", err);
        return 1;
    }
    struct sched s;
    memset(&s, 0, sizeof(s));
    atomic_init(&s.db_ok, 0);
    s.app = app;
    s.entries = entries_load(cfg, err, sizeof(err));
    if (!s.entries) {
        vg_error("%s", err);
        return 1;
    }
    s.n = cfg->nschedules;
    s.leading = vg_metric_plain(vg_metrics_gauge(
        "vigil_scheduler_leader", "1 while this scheduler holds the leader lock, else 0.", NULL));
    s.emitted =
        vg_metrics_counter("vigil_scheduler_commands_emitted_total",
                           "Commands emitted and acknowledged by Kafka, by command.", "command");
    s.failures =
        vg_metrics_counter("vigil_scheduler_emit_failures_total",
                           "Emissions that Kafka did not acknowledge, by command.", "command");
    s.last_slot =
        vg_metrics_gauge("vigil_scheduler_last_fired_slot_seconds",
                         "Slot (Unix time) of the last command emitted, by schedule.", "schedule");
    /* Every scheduled command's counters start at 0, so that increase()
     * sees the first failure (the slot gauges stay absent until a slot fires). */
    for (size_t i = 0; i < cfg->nschedules; i++) {
        (void)vg_metric_series(s.emitted, cfg->schedules[i].command);
        (void)vg_metric_series(s.failures, cfg->schedules[i].command);
    }
    vg_gauge_set(s.leading, 0);
    int status = 0;
    struct vg_http *http = NULL;
    s.emitter = vg_emitter_new(cfg, err, sizeof(err));
    if (!s.emitter) {
        vg_error("cannot start the Kafka producer: %s", err);
        status = 1;
        goto out;
    }
    http = vg_http_start(cfg->scheduler_listen, (int)cfg->scheduler_http_port, ready, &s, err,
                         sizeof(err));
    if (!http) {
        vg_error("%s", err);
        status = 1;
        goto out;
    }
    vg_leader_init(&s.leader, cfg->database_url, LEADER_RETRY_MS);
    vg_info("scheduler started with %zu schedules, catch-up %lld s; health and metrics on "
            "%s:%lld",
            s.n, (long long)cfg->scheduler_catchup_s, cfg->scheduler_listen,
            (long long)cfg->scheduler_http_port);
    loop(&s);
    vg_service_stopping();
    vg_info("scheduler stopping%s", s.leader.leader ? ": releasing the lead" : "");
    vg_leader_close(&s.leader);
out:
    vg_http_stop(http);
    vg_emitter_free(s.emitter);
    entries_free(s.entries, s.n);
    return status;
}
