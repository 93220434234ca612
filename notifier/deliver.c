#include "deliver.h"

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"
#include "job.h"
#include "log.h"
#include "metrics.h"
#include "pg.h"
#include "stats.h"

#define CLAIM_IDLE_MS 250    /* due retries are looked for this often without a NOTIFY */
#define GAUGES_EVERY_MS 5000 /* pending and dead counted this often */
#define LEASE_MARGIN_S 5     /* a claim outlives the request's timeout by this much */

/* Claims due rows of the known destinations ($1), at most $4 per destination
 * less those in flight ($2, $3), $5 in all: attempts counted, the row leased
 * to $7 for $6 seconds. */
static const char claim_sql[] =
    "WITH busy(destination, n) AS (SELECT * FROM unnest($2::text[], $3::int[])),"
    " ds AS (SELECT d, greatest(0, $4::int - coalesce((SELECT n FROM busy WHERE destination = d),"
    "   0)) AS free FROM unnest($1::text[]) AS d),"
    " picked AS (SELECT c.delivery_id FROM ds CROSS JOIN LATERAL ("
    "   SELECT delivery_id FROM ops.deliveries x"
    "   WHERE x.destination = ds.d AND x.status = 'pending' AND x.next_attempt_at <= now()"
    "   ORDER BY x.next_attempt_at LIMIT ds.free FOR UPDATE SKIP LOCKED) c LIMIT $5::int)"
    " UPDATE ops.deliveries x SET attempts = x.attempts + 1, claimed_by = $7,"
    "  next_attempt_at = now() + make_interval(secs => $6::int), updated_at = now()"
    " FROM picked p WHERE x.delivery_id = p.delivery_id"
    " RETURNING x.delivery_id, x.destination, x.payload::text, x.attempts,"
    "  (extract(epoch FROM x.created_at) * 1e6)::bigint,"
    "  (extract(epoch FROM x.session_ended_at) * 1e6)::bigint";

/* Outcomes of one pass, written while the row is still this claim's. */
static const char outcome_sql[] =
    "UPDATE ops.deliveries x SET status = u.status, last_status = nullif(u.code, 0),"
    "  last_error = u.err, delivered_at = CASE WHEN u.status = 'delivered' THEN now() END,"
    "  next_attempt_at = CASE WHEN u.status = 'pending'"
    "   THEN now() + make_interval(secs => u.delay_ms / 1000.0) ELSE x.next_attempt_at END,"
    "  claimed_by = NULL, updated_at = now()"
    " FROM unnest($1::uuid[], $2::text[], $3::int[], $4::text[], $5::bigint[], $6::int[])"
    "  AS u(id, status, code, err, delay_ms, attempts)"
    " WHERE x.delivery_id = u.id AND x.status = 'pending' AND x.attempts = u.attempts"
    "  AND x.claimed_by = $7";

/* Claims not sent (stopping): due again at once, the attempt not counted. */
static const char release_sql[] =
    "UPDATE ops.deliveries SET attempts = attempts - 1, next_attempt_at = now(),"
    " claimed_by = NULL, updated_at = now()"
    " WHERE delivery_id = ANY($1::uuid[]) AND claimed_by = $2 AND status = 'pending'";

static const char gauges_sql[] =
    "SELECT count(*) FILTER (WHERE status = 'pending'), count(*) FILTER (WHERE status = 'dead')"
    " FROM ops.deliveries WHERE status IN ('pending', 'dead')";

/* An outcome waiting to be written back. */
struct done {
    char id[VG_JOB_ID_LEN];
    size_t k; /* the destination's index */
    const char *status; /* "delivered", "pending", "dead" */
    long code;
    char why[256];
    int64_t delay_ms;
    int attempts;
};

struct vg_deliver {
    const struct vg_config *cfg;
    pthread_t thread;
    atomic_int stop;
    atomic_int db_ok;
    struct vg_pg pg;
    CURLM *multi;
    int started;   /* the thread runs */
    int listening; /* LISTEN issued on the current connection */
    uint64_t listen_gen;

    const struct vg_notify **dests; /* every destination of the config */
    int *busy;                      /* in flight per destination (jobs and unwritten outcomes) */
    size_t ndests;
    struct vg_buf known; /* the destinations as a text[] literal */

    struct vg_job **flying; /* the transfers in the multi handle */
    size_t njobs;
    struct done *done;
    size_t ndone;
    int64_t next_claim_ms, next_gauges_ms, next_connect_ms;
};

static size_t dest_index(const struct vg_deliver *d, const char *destination)
{
    for (size_t i = 0; i < d->ndests; i++)
        if (!strcmp(d->dests[i]->destination, destination))
            return i;
    return d->ndests;
}

/* Slots free for new claims: transfers and unwritten outcomes hold theirs. */
static int64_t room(const struct vg_deliver *d)
{
    return d->cfg->notifier_concurrency - (int64_t)(d->njobs + d->ndone);
}

static void index_destinations(struct vg_deliver *d)
{
    const struct vg_config *cfg = d->cfg;
    size_t n = 0;
    for (size_t t = 0; t < cfg->ntenants; t++)
        n += cfg->tenants[t].nnotify;
    d->dests = vg_xcalloc(n + 1, sizeof(*d->dests));
    d->busy = vg_xcalloc(n + 1, sizeof(*d->busy));
    d->done = vg_xcalloc((size_t)cfg->notifier_concurrency, sizeof(*d->done));
    d->flying = vg_xcalloc((size_t)cfg->notifier_concurrency, sizeof(*d->flying));
    for (size_t t = 0; t < cfg->ntenants; t++)
        for (size_t k = 0; k < cfg->tenants[t].nnotify; k++) {
            d->dests[d->ndests++] = &cfg->tenants[t].notify[k];
            vg_pg_array_add(&d->known, cfg->tenants[t].notify[k].destination);
        }
    vg_pg_array_end(&d->known);
}

/* The connection, with LISTEN on it: 0, or non-zero while the database is away. */
static int connected(struct vg_deliver *d)
{
    if (!d->pg.conn || PQstatus(d->pg.conn) != CONNECTION_OK) {
        atomic_store(&d->db_ok, 0);
        char err[512];
        if (vg_mono_ms() < d->next_connect_ms)
            return VG_ETRANSIENT;
        vg_pg_close(&d->pg);
        d->listening = 0;
        if (vg_pg_open(&d->pg, d->cfg->database_url, d->cfg->notifier_id, err, sizeof(err))) {
            vg_warn("delivery loop: database unreachable, retrying in 1 s: %s", err);
            d->next_connect_ms = vg_mono_ms() + 1000;
            return VG_ETRANSIENT;
        }
    }
    if (d->listen_gen != d->pg.generation || !d->listening) {
        char err[512];
        if (vg_pg_exec(d->pg.conn, "LISTEN " VG_DELIVER_CHANNEL, err, sizeof(err))) {
            vg_warn("delivery loop: cannot LISTEN: %s", err);
            return VG_ETRANSIENT;
        }
        d->listening = 1;
        d->listen_gen = d->pg.generation;
    }
    atomic_store(&d->db_ok, 1);
    return 0;
}

/* Reads pending notifications; 1 if any arrived. */
static int notified(struct vg_deliver *d)
{
    if (!d->pg.conn || !PQconsumeInput(d->pg.conn))
        return 0;
    int any = 0;
    PGnotify *n;
    while ((n = PQnotifies(d->pg.conn))) {
        any = 1;
        PQfreemem(n);
    }
    return any;
}

static void job_start(struct vg_deliver *d, PGresult *r, int row)
{
    size_t k = dest_index(d, PQgetvalue(r, row, 1));
    assert(k < d->ndests); /* the claim asked for known destinations only */
    struct vg_job *j = vg_xcalloc(1, sizeof(*j));
    snprintf(j->id, sizeof(j->id), "%s", PQgetvalue(r, row, 0));
    j->dest = d->dests[k];
    j->k = k;
    j->payload = vg_xstrdup(PQgetvalue(r, row, 2));
    j->attempts = atoi(PQgetvalue(r, row, 3));
    j->created_us = strtoll(PQgetvalue(r, row, 4), NULL, 10);
    j->ended_us = PQgetisnull(r, row, 5) ? VG_NO_TIME : strtoll(PQgetvalue(r, row, 5), NULL, 10);
    j->retry_after_ms = -1;
    j->started_ms = vg_mono_ms();
    j->easy = curl_easy_init();
    if (!j->easy) {
        fprintf(stderr, "vigil: out of memory (curl_easy_init)\n");
        abort();
    }
    curl_easy_setopt(j->easy, CURLOPT_PRIVATE, j);
    curl_easy_setopt(j->easy, CURLOPT_ERRORBUFFER, j->error);
    curl_easy_setopt(j->easy, CURLOPT_NOSIGNAL, 1L);
    int64_t timeout = d->cfg->notifier_timeout_ms;
    int rc = j->dest->type == VG_NOTIFY_WEBHOOK
                 ? vg_webhook_prepare(j, timeout, vg_now_ms() / 1000)
                 : vg_email_prepare(j, timeout, vg_now_us());
    d->busy[k]++;
    if (rc) {
        /* A payload that cannot be rendered never will be. */
        struct done *o = &d->done[d->ndone++];
        snprintf(o->id, sizeof(o->id), "%s", j->id);
        o->k = k;
        o->status = "dead";
        o->code = 0;
        snprintf(o->why, sizeof(o->why), "the summary cannot be rendered");
        o->attempts = j->attempts;
        o->delay_ms = 0;
        vg_job_free(j);
        return;
    }
    curl_multi_add_handle(d->multi, j->easy);
    d->flying[d->njobs++] = j;
}

static void claim(struct vg_deliver *d)
{
    const struct vg_config *cfg = d->cfg;
    int64_t free_slots = room(d);
    if (free_slots <= 0 || d->ndests == 0)
        return;
    struct vg_buf names = {0}, counts = {0};
    for (size_t i = 0; i < d->ndests; i++) {
        if (!d->busy[i])
            continue;
        vg_pg_array_add(&names, d->dests[i]->destination);
        vg_buf_printf(&counts, "%c%d", counts.len ? ',' : '{', d->busy[i]);
    }
    vg_pg_array_end(&names);
    if (counts.len == 0)
        vg_buf_putc(&counts, '{');
    vg_buf_putc(&counts, '}');
    char per[24], lim[24], lease[24], err[512];
    snprintf(per, sizeof(per), "%lld", (long long)cfg->notifier_per_destination);
    snprintf(lim, sizeof(lim), "%lld", (long long)free_slots);
    snprintf(lease, sizeof(lease), "%lld",
             (long long)(cfg->notifier_timeout_ms / 1000 + LEASE_MARGIN_S));
    const char *p[7] = {d->known.data, names.data, counts.data, per, lim, lease,
                        cfg->notifier_id};
    PGresult *r;
    int rc = vg_pg_query(d->pg.conn, &r, claim_sql, 7, p, err, sizeof(err));
    vg_buf_free(&names);
    vg_buf_free(&counts);
    if (rc) {
        vg_warn("delivery loop: cannot claim deliveries: %s", err);
        d->next_claim_ms = vg_mono_ms() + 1000;
        return;
    }
    for (int i = 0; i < PQntuples(r); i++)
        job_start(d, r, i);
    /* A full claim means more may be due: look again as soon as there is room. */
    d->next_claim_ms = vg_mono_ms() + (PQntuples(r) == (int)free_slots ? 0 : CLAIM_IDLE_MS);
    PQclear(r);
    vg_gauge_set(vg_notifier_stats.in_flight, (double)d->njobs);
}

/* A finished transfer: its outcome decided and queued for writing back. */
static void job_done(struct vg_deliver *d, struct vg_job *j, CURLcode result)
{
    const struct vg_config *cfg = d->cfg;
    int type = j->dest->type;
    struct done *o = &d->done[d->ndone++];
    snprintf(o->id, sizeof(o->id), "%s", j->id);
    o->k = j->k;
    o->attempts = j->attempts;
    enum vg_outcome out = vg_job_result(j, result, &o->code, o->why, sizeof(o->why));
    uint64_t rnd;
    vg_random_bytes(&rnd, sizeof(rnd));
    o->delay_ms = vg_outcome_delay_ms(j->attempts, cfg->notifier_backoff_base_ms,
                                      cfg->notifier_backoff_max_ms, j->retry_after_ms, rnd);
    int64_t now_us = vg_now_us();
    out = vg_outcome_final(out, j->attempts, cfg->notifier_max_attempts, j->created_us,
                           cfg->notifier_max_age_s, now_us, o->delay_ms);
    o->status = out == VG_DELIVERED ? "delivered" : out == VG_RETRY ? "pending" : "dead";
    const struct vg_notifier_stats *m = &vg_notifier_stats;
    vg_counter_add(m->deliveries[type][out], 1);
    vg_histogram_observe(m->request_seconds[type], (double)(vg_mono_ms() - j->started_ms) / 1e3);
    if (out != VG_RETRY)
        vg_histogram_observe(m->attempts, (double)j->attempts);
    if (out == VG_DELIVERED && j->ended_us != VG_NO_TIME)
        vg_histogram_observe(m->latency[type], (double)(now_us - j->ended_us) / 1e6);
    if (out == VG_DEAD)
        vg_warn("delivery %s to %s is dead after %d attempts: %s", j->id, j->dest->destination,
                j->attempts, o->why);
    else if (out == VG_RETRY)
        vg_debug("delivery %s to %s: attempt %d failed (%s), next in %lld ms", j->id,
                 j->dest->destination, j->attempts, o->why, (long long)o->delay_ms);
}

static void collect(struct vg_deliver *d)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(d->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        struct vg_job *j = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&j);
        CURLcode result = msg->data.result;
        curl_multi_remove_handle(d->multi, j->easy);
        for (size_t i = 0; i < d->njobs; i++)
            if (d->flying[i] == j) {
                d->flying[i] = d->flying[--d->njobs];
                break;
            }
        job_done(d, j, result);
        vg_job_free(j);
    }
    vg_gauge_set(vg_notifier_stats.in_flight, (double)d->njobs);
}

/* Writes the queued outcomes in one statement; kept for the next pass if
 * the database is away (they still hold their slots, so this is bounded). */
static void write_outcomes(struct vg_deliver *d)
{
    if (d->ndone == 0 || connected(d))
        return;
    struct vg_buf ids = {0}, st = {0}, codes = {0}, why = {0}, delays = {0}, att = {0};
    for (size_t i = 0; i < d->ndone; i++) {
        const struct done *o = &d->done[i];
        char sep = i ? ',' : '{';
        vg_pg_array_add(&ids, o->id);
        vg_pg_array_add(&st, o->status);
        vg_pg_array_add(&why, strcmp(o->status, "delivered") ? o->why : NULL);
        vg_buf_printf(&codes, "%c%ld", sep, o->code);
        vg_buf_printf(&delays, "%c%lld", sep, (long long)o->delay_ms);
        vg_buf_printf(&att, "%c%d", sep, o->attempts);
    }
    vg_pg_array_end(&ids);
    vg_pg_array_end(&st);
    vg_pg_array_end(&why);
    vg_buf_putc(&codes, '}');
    vg_buf_putc(&delays, '}');
    vg_buf_putc(&att, '}');
    const char *p[7] = {ids.data,   st.data,  codes.data,          why.data,
                        delays.data, att.data, d->cfg->notifier_id};
    char err[512];
    int rc = vg_pg_query(d->pg.conn, NULL, outcome_sql, 7, p, err, sizeof(err));
    vg_buf_free(&ids);
    vg_buf_free(&st);
    vg_buf_free(&codes);
    vg_buf_free(&why);
    vg_buf_free(&delays);
    vg_buf_free(&att);
    if (rc) {
        vg_warn("delivery loop: cannot record %zu outcomes, keeping them: %s", d->ndone, err);
        return;
    }
    /* A destination's slot is free once its outcome is written. */
    for (size_t i = 0; i < d->ndone; i++)
        d->busy[d->done[i].k]--;
    d->ndone = 0;
}

static void refresh_gauges(struct vg_deliver *d)
{
    int64_t now = vg_mono_ms();
    if (now < d->next_gauges_ms)
        return;
    d->next_gauges_ms = now + GAUGES_EVERY_MS;
    PGresult *r;
    char err[512];
    if (vg_pg_query(d->pg.conn, &r, gauges_sql, 0, NULL, err, sizeof(err)))
        return;
    vg_gauge_set(vg_notifier_stats.pending, atof(PQgetvalue(r, 0, 0)));
    vg_gauge_set(vg_notifier_stats.dead, atof(PQgetvalue(r, 0, 1)));
    PQclear(r);
}

/* Hands back the claims still in flight when stopping: due again at once. */
static void release(struct vg_deliver *d)
{
    if (d->njobs == 0 || connected(d))
        return;
    struct vg_buf ids = {0};
    for (size_t i = 0; i < d->njobs; i++)
        vg_pg_array_add(&ids, d->flying[i]->id);
    vg_pg_array_end(&ids);
    const char *p[2] = {ids.data, d->cfg->notifier_id};
    char err[512];
    if (vg_pg_query(d->pg.conn, NULL, release_sql, 2, p, err, sizeof(err)))
        vg_warn("cannot hand back %zu deliveries (due again when their lease ends): %s",
                d->njobs, err);
    vg_buf_free(&ids);
}

/* One pass: claim what is due and fits, move the transfers, write outcomes. */
static void pass(struct vg_deliver *d, int claiming)
{
    int64_t now = vg_mono_ms();
    if (claiming && connected(d) == 0) {
        int woken = notified(d);
        if (room(d) > 0 && (woken || now >= d->next_claim_ms))
            claim(d);
        refresh_gauges(d);
    }
    int running;
    curl_multi_perform(d->multi, &running);
    collect(d);
    write_outcomes(d);
    /* Sleep until a transfer moves, a NOTIFY arrives or the next claim is due
     * (with no slot free, only a transfer's end matters). */
    int wait = 100;
    if (claiming && room(d) > 0)
        wait = (int)VG_MAX(0, VG_MIN(d->next_claim_ms - vg_mono_ms(), 100));
    struct curl_waitfd extra = {.fd = -1, .events = CURL_WAIT_POLLIN};
    if (claiming && d->pg.conn && PQstatus(d->pg.conn) == CONNECTION_OK)
        extra.fd = PQsocket(d->pg.conn);
    curl_multi_poll(d->multi, &extra, extra.fd >= 0 ? 1 : 0, wait, NULL);
}

static void *run(void *opaque)
{
    struct vg_deliver *d = opaque;
    while (!atomic_load(&d->stop))
        pass(d, 1);
    /* Stopping: the transfers under way may finish, within their timeout. */
    int64_t deadline = vg_mono_ms() + d->cfg->notifier_timeout_ms + 1000;
    while (d->njobs > 0 && vg_mono_ms() < deadline)
        pass(d, 0);
    write_outcomes(d);
    release(d);
    return NULL;
}

struct vg_deliver *vg_deliver_start(const struct vg_config *cfg, char *errstr, size_t errstr_size)
{
    struct vg_deliver *d = vg_xcalloc(1, sizeof(*d));
    d->cfg = cfg;
    atomic_init(&d->stop, 0);
    atomic_init(&d->db_ok, 0);
    index_destinations(d);
    d->multi = curl_multi_init();
    if (!d->multi) {
        snprintf(errstr, errstr_size, "curl_multi_init failed");
        vg_deliver_stop(d);
        return NULL;
    }
    /* Connections to one receiver are reused between deliveries. */
    curl_multi_setopt(d->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)cfg->notifier_per_destination);
    int rc = pthread_create(&d->thread, NULL, run, d);
    if (rc) {
        snprintf(errstr, errstr_size, "cannot start the delivery thread: %s", strerror(rc));
        curl_multi_cleanup(d->multi);
        d->multi = NULL;
        vg_deliver_stop(d);
        return NULL;
    }
    d->started = 1;
    return d;
}

int vg_deliver_ready(struct vg_deliver *d)
{
    return atomic_load(&d->db_ok);
}

void vg_deliver_stop(struct vg_deliver *d)
{
    if (!d)
        return;
    atomic_store(&d->stop, 1);
    if (d->started)
        pthread_join(d->thread, NULL);
    for (size_t i = 0; i < d->njobs; i++) {
        curl_multi_remove_handle(d->multi, d->flying[i]->easy);
        vg_job_free(d->flying[i]);
    }
    if (d->multi)
        curl_multi_cleanup(d->multi);
    vg_pg_close(&d->pg);
    vg_buf_free(&d->known);
    free(d->flying);
    free(d->done);
    free(d->busy);
    free(d->dests);
    free(d);
}
