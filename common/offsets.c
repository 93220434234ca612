#include "offsets.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg.h"
#include "receipt.h"
#include "util.h"

int vg_offsets_load(PGconn *conn, const char *group, rd_kafka_topic_partition_list_t *parts,
                    char *errstr, size_t errstr_size)
{
    for (int i = 0; i < parts->cnt; i++)
        parts->elems[i].offset = RD_KAFKA_OFFSET_BEGINNING;
    if (parts->cnt == 0)
        return 0;
    const char *p[1] = {group};
    PGresult *r;
    int rc = vg_pg_query(conn, &r,
                         "SELECT topic, partition, next_offset FROM ops.consumer_offsets "
                         "WHERE consumer_group = $1",
                         1, p, errstr, errstr_size);
    if (rc)
        return rc;
    for (int row = 0; row < PQntuples(r); row++) {
        const char *topic = PQgetvalue(r, row, 0);
        int32_t partition = (int32_t)atoi(PQgetvalue(r, row, 1));
        rd_kafka_topic_partition_t *tp =
            rd_kafka_topic_partition_list_find(parts, topic, partition);
        if (tp)
            tp->offset = strtoll(PQgetvalue(r, row, 2), NULL, 10);
    }
    PQclear(r);
    return 0;
}

/* One statement moves every partition: rows that moved are counted, and a
 * partition without a row yet is inserted only if still absent. The batch's
 * dead letters are counted per topic in ops.dead_letters, in the same
 * transaction, so exactly once (vigil-query shows them). Its
 * pg_notify() reaches vigil-query's listener at commit, not before, so a
 * receipt waiter wakes when the offsets it waits for are visible
 * (common/receipt.h); a rolled-back batch notifies no one. */
static const char advance_sql[] =
    "WITH want(topic, partition, expected, next, high) AS ("
    "  SELECT t, p, e, n, nullif(h, -1)"
    "  FROM unnest($2::text[], $3::int[], $4::bigint[], $5::bigint[], $6::bigint[])"
    "   AS u(t, p, e, n, h)),"
    " moved AS ("
    "  UPDATE ops.consumer_offsets o SET next_offset = w.next, updated_at = now(),"
    "   high_watermark = coalesce(w.high, o.high_watermark)"
    "  FROM want w WHERE o.consumer_group = $1 AND o.topic = w.topic"
    "   AND o.partition = w.partition AND w.expected >= 0 AND o.next_offset = w.expected"
    "  RETURNING 1),"
    " added AS ("
    "  INSERT INTO ops.consumer_offsets (consumer_group, topic, partition, next_offset,"
    "   updated_at, high_watermark)"
    "  SELECT $1, w.topic, w.partition, w.next, now(), w.high FROM want w WHERE w.expected < 0"
    "  ON CONFLICT DO NOTHING RETURNING 1),"
    " dead AS ("
    "  INSERT INTO ops.dead_letters AS d (consumer_group, topic, refused, updated_at)"
    "  SELECT $1, t, n, now() FROM unnest($7::text[], $8::bigint[]) AS u(t, n)"
    "  ON CONFLICT (consumer_group, topic)"
    "  DO UPDATE SET refused = d.refused + excluded.refused, updated_at = now() RETURNING 1)"
    "SELECT (SELECT count(*) FROM moved) + (SELECT count(*) FROM added),"
    " pg_notify('" VG_RECEIPT_CHANNEL "', $1), (SELECT count(*) FROM dead)";

/* The batch's dead letters per topic, as two array literals ({} when none). */
static void dead_letters(const struct vg_batch *b, struct vg_buf *topics, struct vg_buf *counts)
{
    vg_buf_putc(topics, '{');
    vg_buf_putc(counts, '{');
    for (size_t p = 0; p < b->nparts; p++) {
        const char *topic = b->parts[p].topic;
        int seen = 0;
        for (size_t q = 0; q < p && !seen; q++)
            seen = !strcmp(b->parts[q].topic, topic);
        long long n = 0;
        for (size_t i = 0; i < b->n && !seen; i++)
            n += b->msgs[i].refused && !strcmp(rd_kafka_topic_name(b->msgs[i].rkm->rkt), topic);
        if (n == 0)
            continue;
        vg_buf_printf(topics, "%s\"%s\"", topics->len > 1 ? "," : "", topic);
        vg_buf_printf(counts, "%s%lld", counts->len > 1 ? "," : "", n);
    }
    vg_buf_putc(topics, '}');
    vg_buf_putc(counts, '}');
}

int vg_offsets_advance(PGconn *conn, const char *group, const struct vg_batch *b, char *errstr,
                       size_t errstr_size)
{
    struct vg_buf topics = {0}, parts = {0}, expected = {0}, next = {0}, high = {0};
    struct vg_buf dead_topics = {0}, dead_counts = {0};
    vg_buf_putc(&topics, '{');
    vg_buf_putc(&parts, '{');
    vg_buf_putc(&expected, '{');
    vg_buf_putc(&next, '{');
    vg_buf_putc(&high, '{');
    for (size_t i = 0; i < b->nparts; i++) {
        const struct vg_part *p = &b->parts[i];
        const char *sep = i ? "," : "";
        /* topic names are [a-zA-Z0-9._-], safe inside a quoted array element */
        vg_buf_printf(&topics, "%s\"%s\"", sep, p->topic);
        vg_buf_printf(&parts, "%s%d", sep, (int)p->partition);
        vg_buf_printf(&expected, "%s%lld", sep, (long long)p->expected);
        vg_buf_printf(&next, "%s%lld", sep, (long long)p->next);
        vg_buf_printf(&high, "%s%lld", sep, (long long)p->high);
    }
    vg_buf_putc(&topics, '}');
    vg_buf_putc(&parts, '}');
    vg_buf_putc(&expected, '}');
    vg_buf_putc(&next, '}');
    vg_buf_putc(&high, '}');
    dead_letters(b, &dead_topics, &dead_counts);
    const char *params[8] = {group,     topics.data, parts.data,       expected.data,
                             next.data, high.data,   dead_topics.data, dead_counts.data};
    PGresult *r;
    int rc = vg_pg_query(conn, &r, advance_sql, 8, params, errstr, errstr_size);
    if (rc == 0 && strtoull(PQgetvalue(r, 0, 0), NULL, 10) != b->nparts) {
        snprintf(errstr, errstr_size, "stored offsets moved under us: %s of %zu partitions matched",
                 PQgetvalue(r, 0, 0), b->nparts);
        rc = VG_ECONFLICT;
    }
    PQclear(r);
    vg_buf_free(&topics);
    vg_buf_free(&parts);
    vg_buf_free(&expected);
    vg_buf_free(&next);
    vg_buf_free(&high);
    vg_buf_free(&dead_topics);
    vg_buf_free(&dead_counts);
    return rc;
}
