#include "ingest.h"

#include <stdio.h>
#include <string.h>

#include "deliver.h"
#include "envelope.h"
#include "log.h"
#include "pg.h"
#include "summary.h"
#include "util.h"

static const char insert_sql[] =
    "WITH added AS (INSERT INTO ops.deliveries (summary_id, tenant_id, destination, type,"
    "  status, session_id, session_ended_at, payload)"
    " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],"
    "  $6::text[], $7::timestamptz[], $8::jsonb[])"
    " ON CONFLICT (summary_id, destination) DO NOTHING RETURNING status)"
    " SELECT count(*) FILTER (WHERE status = 'pending'), count(*) FILTER (WHERE status = 'skipped'),"
    "  CASE WHEN count(*) FILTER (WHERE status = 'pending') > 0"
    "   THEN pg_notify('" VG_DELIVER_CHANNEL "', '') END"
    " FROM added";

enum { C_SUMMARY, C_TENANT, C_DEST, C_TYPE, C_STATUS, C_SESSION, C_ENDED, C_PAYLOAD, NCOLS };

static void refuse(struct vg_msg *m, const char *why)
{
    struct vg_log_ctx ctx = VG_LOG_CTX_INIT;
    ctx.topic = rd_kafka_topic_name(m->rkm->rkt);
    ctx.partition = m->rkm->partition;
    ctx.offset = m->rkm->offset;
    ctx.error = why;
    vg_logc(VG_LOG_WARN, &ctx, "summary refused, not delivered");
    vg_msg_refuse(m, "decode", "%s", why);
}

/* The rows of one summary: one per destination of its tenant that wants it. */
static size_t add_rows(const struct vg_config *cfg, const struct vg_summary *s, const char *text,
                       int skipped, struct vg_buf *cols)
{
    const struct vg_tenant *t = vg_config_tenant(cfg, s->tenant);
    size_t n = 0;
    for (size_t i = 0; t && i < t->nnotify; i++) {
        const struct vg_notify *d = &t->notify[i];
        if (!vg_notify_wants(d, s->kind, s->status))
            continue;
        vg_pg_array_add(&cols[C_SUMMARY], s->summary_id);
        vg_pg_array_add(&cols[C_TENANT], s->tenant);
        vg_pg_array_add(&cols[C_DEST], d->destination);
        vg_pg_array_add(&cols[C_TYPE], d->type == VG_NOTIFY_WEBHOOK ? "webhook" : "email");
        vg_pg_array_add(&cols[C_STATUS], skipped ? "skipped" : "pending");
        vg_pg_array_add(&cols[C_SESSION], s->session_id);
        vg_pg_array_add(&cols[C_ENDED], s->ended_us == VG_NO_TIME ? NULL : s->ended_at);
        vg_pg_array_add(&cols[C_PAYLOAD], text);
        n++;
    }
    return n;
}

int vg_ingest_rows(PGconn *conn, const struct vg_config *cfg, struct vg_batch *b,
                   struct vg_ingest_counts *n, char *errstr, size_t errstr_size)
{
    struct vg_buf cols[NCOLS] = {{0}};
    struct vg_buf text = {0};
    int64_t now_us = vg_now_us();
    size_t rows = 0;
    memset(n, 0, sizeof(*n));
    for (size_t i = 0; i < b->n; i++) {
        struct vg_msg *m = &b->msgs[i];
        if (m->refused) {
            n->refused++;
            continue;
        }
        struct vg_summary s;
        char why[256];
        if (m->rkm->err) {
            refuse(m, rd_kafka_message_errstr(m->rkm));
            n->refused++;
            continue;
        }
        if (vg_summary_parse(m->rkm->payload, m->rkm->len, &s, why, sizeof(why))) {
            refuse(m, why);
            n->refused++;
            continue;
        }
        int skipped = s.ended_us != VG_NO_TIME &&
                      now_us - s.ended_us > cfg->notifier_max_summary_age_s * 1000000;
        vg_buf_reset(&text);
        vg_buf_append(&text, m->rkm->payload, m->rkm->len);
        size_t added = add_rows(cfg, &s, text.data, skipped, cols);
        rows += added;
        if (added == 0)
            n->unrouted++;
        vg_summary_free(&s);
    }
    vg_buf_free(&text);
    int rc = 0;
    if (rows > 0) {
        const char *p[NCOLS];
        for (int c = 0; c < NCOLS; c++) {
            vg_pg_array_end(&cols[c]);
            p[c] = cols[c].data;
        }
        PGresult *r;
        rc = vg_pg_query(conn, &r, insert_sql, NCOLS, p, errstr, errstr_size);
        if (rc == 0) {
            n->recorded = strtoull(PQgetvalue(r, 0, 0), NULL, 10);
            n->skipped = strtoull(PQgetvalue(r, 0, 1), NULL, 10);
            PQclear(r);
        }
    }
    for (int c = 0; c < NCOLS; c++)
        vg_buf_free(&cols[c]);
    return rc;
}
