/*
 * vigilctl dlq list|replay: read the dead-letter topic from a point in time
 * to its end as it stood when the command started; list what is there, or
 * send the matching messages back to the topic they came from (their key
 * and value unchanged). Replayed events are deduplicated by event_id like
 * any other, so replaying twice lands nothing twice.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "envelope.h"
#include "util.h"

struct dlq_opts {
    int replay;
    int dry_run;
    int64_t since_ms; /* -1: from the beginning */
    const char *match; /* substring of value or error; NULL: all */
    long limit;
};

static const char *header(rd_kafka_message_t *m, const char *name, char *buf, size_t size)
{
    rd_kafka_headers_t *h;
    const void *v;
    size_t n;
    buf[0] = '\0';
    if (rd_kafka_message_headers(m, &h) == 0 && rd_kafka_header_get_last(h, name, &v, &n) == 0 &&
        v)
        snprintf(buf, size, "%.*s", (int)n, (const char *)v);
    return buf;
}

static int matches(rd_kafka_message_t *m, const char *error, const char *needle)
{
    if (!needle)
        return 1;
    if (strstr(error, needle))
        return 1;
    return m->payload && memmem(m->payload, m->len, needle, strlen(needle)) != NULL;
}

static int parse(struct ctl *c, struct dlq_opts *o)
{
    static const struct option opts[] = {{"since", required_argument, NULL, 's'},
                                         {"match", required_argument, NULL, 'm'},
                                         {"limit", required_argument, NULL, 'l'},
                                         {"dry-run", no_argument, NULL, 'n'},
                                         {NULL, 0, NULL, 0}};
    memset(o, 0, sizeof(*o));
    o->since_ms = -1;
    o->limit = 100;
    if (c->argc < 2 || (strcmp(c->argv[1], "list") && strcmp(c->argv[1], "replay"))) {
        fprintf(stderr, "usage: vigilctl dlq list|replay [--since RFC3339] [--match TEXT] "
                        "[--limit N] [--dry-run]\n");
        return 2;
    }
    o->replay = !strcmp(c->argv[1], "replay");
    if (o->replay)
        o->limit = -1;
    optind = 1;
    int ch;
    while ((ch = getopt_long(c->argc - 1, c->argv + 1, "", opts, NULL)) != -1) {
        int64_t v;
        switch (ch) {
        case 's':
            if (vg_time_parse(optarg, &v)) {
                fprintf(stderr, "vigilctl dlq: --since wants an RFC 3339 time\n");
                return 2;
            }
            o->since_ms = v / 1000;
            break;
        case 'm':
            o->match = optarg;
            break;
        case 'l':
            if (vg_parse_int64(optarg, 1, 1000000000, &v)) {
                fprintf(stderr, "vigilctl dlq: --limit wants a positive number\n");
                return 2;
            }
            o->limit = (long)v;
            break;
        case 'n':
            o->dry_run = 1;
            break;
        default:
            return 2;
        }
    }
    return 0;
}

int vg_ctl_dlq(struct ctl *c)
{
    struct dlq_opts o;
    int rc = parse(c, &o);
    if (rc)
        return rc;
    rd_kafka_t *consumer = vg_ctl_kafka(c, RD_KAFKA_CONSUMER);
    rd_kafka_t *producer = o.replay && !o.dry_run ? vg_ctl_kafka(c, RD_KAFKA_PRODUCER) : NULL;
    if (!consumer || (o.replay && !o.dry_run && !producer)) {
        if (consumer)
            rd_kafka_destroy(consumer);
        return 1;
    }
    const char *dlq = c->cfg->topic_dlq;
    int nparts = (int)c->cfg->partitions_dlq;
    int64_t *end = vg_xcalloc((size_t)nparts, sizeof(*end));
    int64_t *start = vg_xcalloc((size_t)nparts, sizeof(*start));
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(nparts);
    for (int p = 0; p < nparts; p++) {
        if (rd_kafka_query_watermark_offsets(consumer, dlq, p, &start[p], &end[p], 10000)) {
            fprintf(stderr, "vigilctl dlq: cannot read %s partition %d\n", dlq, p);
            rc = 1;
            goto out;
        }
        rd_kafka_topic_partition_list_add(parts, dlq, p)->offset =
            o.since_ms >= 0 ? o.since_ms : start[p];
    }
    if (o.since_ms >= 0 && rd_kafka_offsets_for_times(consumer, parts, 10000)) {
        fprintf(stderr, "vigilctl dlq: cannot look up offsets for --since\n");
        rc = 1;
        goto out;
    }
    for (int p = 0; p < nparts; p++)
        if (parts->elems[p].offset < 0 || parts->elems[p].offset >= end[p])
            parts->elems[p].offset = end[p]; /* nothing to read there */
    rd_kafka_assign(consumer, parts);

    long seen = 0, shown = 0, replayed = 0;
    json_t *listed = json_array();
    int open_parts = 0;
    for (int p = 0; p < nparts; p++)
        open_parts += parts->elems[p].offset < end[p];
    int64_t deadline = vg_mono_ms() + 60000;
    while (open_parts > 0 && vg_mono_ms() < deadline && (o.limit < 0 || shown < o.limit)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(consumer, 500);
        if (!m)
            continue;
        if (m->err || m->partition >= nparts || m->offset >= end[m->partition]) {
            rd_kafka_message_destroy(m);
            continue;
        }
        if (m->offset + 1 >= end[m->partition])
            open_parts--;
        seen++;
        char error[256], stage[32], topic[128], origin[200], part[16], off[24];
        header(m, VG_HEADER_ERROR, error, sizeof(error));
        header(m, VG_HEADER_STAGE, stage, sizeof(stage));
        header(m, VG_HEADER_TOPIC, topic, sizeof(topic));
        snprintf(origin, sizeof(origin), "%s/%s@%s", topic,
                 header(m, VG_HEADER_PARTITION, part, sizeof(part)),
                 header(m, VG_HEADER_OFFSET, off, sizeof(off)));
        if (!matches(m, error, o.match)) {
            rd_kafka_message_destroy(m);
            continue;
        }
        shown++;
        if (!o.replay && c->json) {
            json_array_append_new(
                listed, json_pack("{s:i, s:I, s:s, s:s, s:s#, s:s, s:s#}", "partition",
                                  (int)m->partition, "offset", (json_int_t)m->offset, "stage",
                                  stage, "origin", origin, "key",
                                  m->key ? (const char *)m->key : "", (int)m->key_len, "error",
                                  error, "value", m->payload ? (const char *)m->payload : "",
                                  (int)m->len));
        } else if (!o.replay) {
            printf("%d@%lld  %s  %s  key=%.*s\n  error: %s\n  value: %.*s%s\n", m->partition,
                   (long long)m->offset, stage, origin, (int)m->key_len,
                   m->key ? (const char *)m->key : "", error, (int)VG_MIN(m->len, 300),
                   m->payload ? (const char *)m->payload : "", m->len > 300 ? "..." : "");
        } else if (!*topic) {
            fprintf(stderr, "skipping %d@%lld: no " VG_HEADER_TOPIC " header\n", m->partition,
                    (long long)m->offset);
        } else if (o.dry_run && c->json) {
            json_array_append_new(listed, json_pack("{s:i, s:I, s:s, s:s}", "partition",
                                                    (int)m->partition, "offset",
                                                    (json_int_t)m->offset, "topic", topic,
                                                    "error", error));
        } else if (o.dry_run) {
            printf("would replay %d@%lld to %s (%s)\n", m->partition, (long long)m->offset, topic,
                   error);
        } else {
            rd_kafka_resp_err_t e;
            while ((e = rd_kafka_producev(producer, RD_KAFKA_V_TOPIC(topic),
                                          RD_KAFKA_V_KEY(m->key, m->key_len),
                                          RD_KAFKA_V_VALUE(m->payload, m->len),
                                          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                          RD_KAFKA_V_HEADER(VG_HEADER_REPLAYED_FROM, origin, -1),
                                          RD_KAFKA_V_END)) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
                rd_kafka_poll(producer, 100);
            if (e) {
                fprintf(stderr, "vigilctl dlq: replay failed: %s\n", rd_kafka_err2str(e));
                rc = 1;
            } else {
                replayed++;
            }
        }
        rd_kafka_message_destroy(m);
    }
    if (producer && rd_kafka_flush(producer, 30000)) {
        fprintf(stderr, "vigilctl dlq: %d replayed messages not acknowledged\n",
                rd_kafka_outq_len(producer));
        rc = 1;
    }
    if (c->json) {
        vg_ctl_out_set(c, o.replay ? (o.dry_run ? "would_replay" : "replayed") : "dead_letters",
                       listed);
        listed = NULL;
        vg_ctl_out_set(c, "summary",
                       json_pack("{s:I, s:I, s:I, s:b}", "read", (json_int_t)seen, "matched",
                                 (json_int_t)shown, "sent", (json_int_t)replayed, "dry_run",
                                 o.dry_run));
    } else if (o.replay) {
        printf("replay: %ld read, %ld matched, %ld %s\n", seen, shown, o.dry_run ? shown : replayed,
               o.dry_run ? "would be sent (dry run)" : "sent back");
    } else {
        printf("%ld dead letters shown of %ld read\n", shown, seen);
    }
    json_decref(listed);
out:
    rd_kafka_topic_partition_list_destroy(parts);
    free(end);
    free(start);
    rd_kafka_consumer_close(consumer);
    rd_kafka_destroy(consumer);
    if (producer)
        rd_kafka_destroy(producer);
    return rc;
}
