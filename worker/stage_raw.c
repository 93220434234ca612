/*
 * The raw stage: the batch goes into the session-local table vg_in in one
 * COPY; raw.event_ids decides which events are new (its primary key is the
 * exactly-once guard); the new ones, one row per event, are kept in vg_fresh
 * for the later stages and landed in raw.events.
 */
#include <stdlib.h>
#include <string.h>

#include "landing.h"
#include "pg.h"
#include "stages.h"

int vg__stage_exec(struct vg_stage_ctx *s, const char *sql)
{
    return vg_pg_exec(s->conn, sql, s->errstr, sizeof(s->errstr));
}

int vg_stages_prepare(struct vg_stage_ctx *s)
{
    /* A batch sends its statements back to back; the longest wait inside one
     * is for dead letters to be acknowledged (10 s). A transaction idle for
     * longer belongs to a stopped or hung worker: the server ends it, so its
     * row locks do not stall the worker that took its partitions over, and
     * the stopped one, once resumed, finds its connection gone and its
     * offsets moved (refused by the compare-and-set). */
    char ms[24];
    snprintf(ms, sizeof(ms), "%lld", (long long)s->cfg->worker_idle_tx_timeout_ms);
    const char *p[1] = {ms};
    int rc = vg_pg_query(s->conn, NULL,
                         "SELECT set_config('idle_in_transaction_session_timeout', $1, false)", 1,
                         p, s->errstr, sizeof(s->errstr));
    if (rc == 0)
        rc = vg__stage_exec(s, "SET TimeZone = 'UTC'");
    return rc ? rc : vg__stage_exec(s, vg_landing_tables_sql);
}

static void copy_time(struct vg_buf *row, int64_t us, int last)
{
    char ts[VG_TS_LEN];
    if (us == VG_NO_TIME) {
        vg_copy_str(row, NULL, last);
        return;
    }
    vg_time_format(us, ts);
    vg_copy_str(row, ts, last);
}

static void copy_json(struct vg_buf *row, json_t *j, int last)
{
    if (!j) {
        vg_copy_str(row, NULL, last);
        return;
    }
    struct vg_buf text = {0};
    vg_json_dump(j, &text); /* 0.1 stays 0.1 */
    vg_copy_strn(row, text.data, text.len, last);
    vg_buf_free(&text);
}

/* Days since the epoch of a time in microseconds. */
static int64_t day_of(int64_t us)
{
    return us >= 0 ? us / 86400000000LL : (us - 86399999999LL) / 86400000000LL;
}

/* raw.events is partitioned by day of received_at: make sure the batch's days exist. */
static int ensure_partitions(struct vg_stage_ctx *s)
{
    for (size_t i = s->first; i < s->first + s->count; i++) {
        if (s->batch->msgs[i].refused || s->batch->msgs[i].kind == VG_MSG_COMMAND)
            continue;
        int64_t day = day_of(s->events[i].received_us);
        int known = 0;
        for (size_t k = 0; k < s->nknown_days && !known; k++)
            known = s->known_days[k] == day;
        if (known)
            continue;
        char ts[VG_TS_LEN];
        vg_time_format(s->events[i].received_us, ts);
        const char *p[1] = {ts};
        int rc = vg_pg_query(s->conn, NULL, "SELECT raw.ensure_partition($1::timestamptz)", 1, p,
                             s->errstr, sizeof(s->errstr));
        if (rc)
            return rc;
        if (s->nknown_days == VG_ARRAY_LEN(s->known_days)) {
            memmove(s->known_days, s->known_days + 1,
                    sizeof(s->known_days) - sizeof(s->known_days[0]));
            s->nknown_days--;
        }
        s->known_days[s->nknown_days++] = day;
    }
    return 0;
}

/* One row of vg_in: the columns of EVENT_COLUMNS after ord, in order. */
static void copy_row(struct vg_buf *row, const struct vg_msg *m, const struct vg_event *e, int ord)
{
    const rd_kafka_message_t *k = m->rkm;
    const char *ids[] = {e->tenant, e->event_id, e->type, e->session_id, e->visitor_id, e->user_id};
    const char *session[] = {e->kind, e->status, e->reason};
    vg_copy_int(row, ord, 0);
    vg_copy_str(row, m->kind == VG_MSG_SIGNAL ? "t" : "f", 0);
    for (size_t i = 0; i < VG_ARRAY_LEN(ids); i++)
        vg_copy_str(row, ids[i], 0);
    copy_time(row, e->occurred_us, 0);
    copy_time(row, e->received_us, 0);
    vg_copy_str(row, e->url, 0);
    /* properties from the envelope's text, as the client sent it (1.50,
     * 1e2, long decimals, escapes), so staging and the vault hold what
     * raw.events holds; the tree only if the text was not found. */
    if (e->properties_text)
        vg_copy_strn(row, e->properties_text, e->properties_len, 0);
    else
        copy_json(row, e->properties, 0);
    vg_copy_strn(row, k->payload, k->len, 0);
    vg_copy_str(row, rd_kafka_topic_name(k->rkt), 0);
    vg_copy_int(row, k->partition, 0);
    vg_copy_int(row, k->offset, 0);
    for (size_t i = 0; i < VG_ARRAY_LEN(session); i++)
        vg_copy_str(row, session[i], 0);
    copy_time(row, e->started_us, 0);
    copy_time(row, e->expires_us, 0);
    copy_json(row, e->attributes, 1);
}

/* The columns of vg_in, in the order of copy_row(), but ord. */
#define EVENT_COLUMNS                                                                              \
    "signal, tenant_id, event_id, type, session_id, visitor_id, user_id, occurred_at,"             \
    " received_at, url, properties, body, topic, partition, \"offset\", kind, status, reason,"     \
    " started_at, expires_at, attributes"

/* Whether a message gives vg_in a row: events and signals not refused. */
static int lands(const struct vg_msg *m)
{
    return !m->refused && m->kind != VG_MSG_COMMAND;
}

/* The COPY of the slice into vg_in, sent a chunk (VG_COPY_CHUNK) at a time
 * as its rows are built, so that the buffer holds a chunk, not a batch.
 * Returns 0 or a classified error. */
static int copy_slice(struct vg_stage_ctx *s)
{
    int rc = vg_pg_copy_begin(s->conn, "COPY vg_in (ord, " EVENT_COLUMNS ") FROM STDIN",
                              s->errstr, sizeof(s->errstr));
    if (rc)
        return rc;
    vg_buf_reset(&s->copy);
    for (size_t i = s->first; i < s->first + s->count && rc == 0; i++) {
        if (!lands(&s->batch->msgs[i]))
            continue;
        copy_row(&s->copy, &s->batch->msgs[i], &s->events[i], (int)i);
        rc = vg_pg_copy_put(s->conn, &s->copy, s->errstr, sizeof(s->errstr));
    }
    int end = vg_pg_copy_end(s->conn, &s->copy, rc != 0, s->errstr, sizeof(s->errstr));
    return rc ? rc : end;
}

/* Within the batch, the first copy of an event (by ord) is the one kept. */
static const char keep_new_sql[] =
    "WITH ids AS ("
    "  INSERT INTO raw.event_ids (tenant_id, event_id, received_at)"
    "  SELECT DISTINCT ON (tenant_id, event_id) tenant_id, event_id, received_at FROM vg_in"
    "  ORDER BY tenant_id, event_id, ord"
    "  ON CONFLICT DO NOTHING RETURNING tenant_id, event_id)"
    "INSERT INTO vg_fresh (" EVENT_COLUMNS ")"
    "  SELECT DISTINCT ON (tenant_id, event_id) " EVENT_COLUMNS
    "  FROM vg_in JOIN ids USING (tenant_id, event_id)"
    "  ORDER BY tenant_id, event_id, ord;"
    "INSERT INTO raw.events (tenant_id, event_id, topic, partition, \"offset\", received_at, body)"
    "  SELECT tenant_id, event_id, topic, partition, \"offset\", received_at, body FROM vg_fresh;";

int vg_stage_raw(struct vg_stage_ctx *s)
{
    int rc;
    /* A slice after the first (message-by-message retry) starts from empty tables. */
    if (s->first > 0 || s->count < s->batch->n)
        if ((rc = vg__stage_exec(s, vg_landing_clear_sql)))
            return rc;
    if ((rc = ensure_partitions(s)))
        return rc;
    s->slice_new = 0;
    size_t rows = 0;
    for (size_t i = s->first; i < s->first + s->count; i++)
        rows += (size_t)lands(&s->batch->msgs[i]);
    if (rows == 0)
        return 0;
    if ((rc = copy_slice(s)) || (rc = vg__stage_exec(s, keep_new_sql)))
        return rc;
    PGresult *r;
    if ((rc = vg_pg_query(s->conn, &r, "SELECT count(*) FROM vg_fresh", 0, NULL, s->errstr,
                          sizeof(s->errstr))))
        return rc;
    s->slice_new = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    s->new_events += s->slice_new;
    return 0;
}
