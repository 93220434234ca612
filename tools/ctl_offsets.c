/*
 * vigilctl offsets show|reset: the workers' positions, which live in
 * PostgreSQL (ops.consumer_offsets, moved by compare-and-set in each batch's
 * transaction), not in Kafka: Kafka's group tools cannot reset them.
 *
 * reset works out the new offset of every partition (earliest, latest, the
 * first at or after a time, or a given offset, kept within Kafka's low and
 * high watermarks), prints the plan, and writes it only with --execute, in
 * one transaction. A running worker that holds a partition finds out at its
 * next batch: the compare-and-set fails, it rereads the stored offsets and
 * seeks (worker/consumer.c).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "util.h"

#define KAFKA_TIMEOUT_MS 10000
#define MAX_PARTS 4096

enum to { TO_NONE, TO_EARLIEST, TO_LATEST, TO_TIME, TO_OFFSET };

struct offsets_opts {
    int reset, execute;
    enum to to;
    int64_t value; /* --to-time (ms since the epoch) or --to-offset */
    const char *topic;
    int partition; /* -1: all */
};

struct part {
    const char *topic;
    int partition;
    int64_t low, high, stored; /* stored -1: none */
    int64_t target;
};

static int usage_error(const char *why)
{
    fprintf(stderr, "vigilctl offsets: %s (vigilctl offsets --help)\n", why);
    return 2;
}

static int parse(struct ctl *c, struct offsets_opts *o)
{
    static const struct option opts[] = {{"to-earliest", no_argument, NULL, 'e'},
                                         {"to-latest", no_argument, NULL, 'l'},
                                         {"to-time", required_argument, NULL, 't'},
                                         {"to-offset", required_argument, NULL, 'o'},
                                         {"topic", required_argument, NULL, 'T'},
                                         {"partition", required_argument, NULL, 'p'},
                                         {"execute", no_argument, NULL, 'x'},
                                         {NULL, 0, NULL, 0}};
    memset(o, 0, sizeof(*o));
    o->partition = -1;
    if (c->argc < 2 || (strcmp(c->argv[1], "show") && strcmp(c->argv[1], "reset")))
        return usage_error("show or reset?");
    o->reset = !strcmp(c->argv[1], "reset");
    optind = 1;
    int ch, n = 0;
    while ((ch = getopt_long(c->argc - 1, c->argv + 1, "", opts, NULL)) != -1) {
        int64_t v;
        switch (ch) {
        case 'e':
        case 'l':
            o->to = ch == 'e' ? TO_EARLIEST : TO_LATEST;
            n++;
            break;
        case 't':
            if (vg_time_parse(optarg, &v))
                return usage_error("--to-time wants an RFC 3339 time");
            o->to = TO_TIME;
            o->value = v / 1000;
            n++;
            break;
        case 'o':
            if (vg_parse_int64(optarg, 0, INT64_MAX, &v))
                return usage_error("--to-offset wants an offset (0 or more)");
            o->to = TO_OFFSET;
            o->value = v;
            n++;
            break;
        case 'T':
            o->topic = optarg;
            break;
        case 'p':
            if (vg_parse_int64(optarg, 0, MAX_PARTS - 1, &v))
                return usage_error("--partition wants a partition number");
            o->partition = (int)v;
            break;
        case 'x':
            o->execute = 1;
            break;
        default:
            return 2;
        }
    }
    if (optind != c->argc - 1)
        return usage_error("unexpected argument");
    if (o->reset && n != 1)
        return usage_error("reset wants one of --to-earliest, --to-latest, --to-time, --to-offset");
    if (!o->reset && (n || o->execute))
        return usage_error("show takes only --topic and --partition");
    if (o->partition >= 0 && !o->topic)
        return usage_error("--partition wants --topic");
    return 0;
}

/* The partitions of the chosen topics with their watermarks; -1 and a
 * message if Kafka does not answer. */
static int load_parts(struct ctl *c, rd_kafka_t *rk, const struct offsets_opts *o,
                      struct part **out)
{
    const char *all[] = {c->cfg->topic_events, c->cfg->topic_heartbeats, c->cfg->topic_commands};
    const char *one[] = {o->topic};
    const char **topics = o->topic ? one : all;
    size_t ntopics = o->topic ? 1 : VG_ARRAY_LEN(all);
    struct part *parts = NULL;
    int n = 0;
    for (size_t t = 0; t < ntopics; t++) {
        const struct rd_kafka_metadata *md;
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topics[t], NULL);
        rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, rkt, &md, KAFKA_TIMEOUT_MS);
        rd_kafka_topic_destroy(rkt);
        if (e || md->topic_cnt != 1 || md->topics[0].err) {
            fprintf(stderr, "vigilctl offsets: no metadata for %s: %s\n", topics[t],
                    rd_kafka_err2str(e ? e : md->topics[0].err));
            if (!e)
                rd_kafka_metadata_destroy(md);
            free(parts);
            return -1;
        }
        int cnt = VG_MIN(md->topics[0].partition_cnt, MAX_PARTS);
        rd_kafka_metadata_destroy(md);
        for (int p = 0; p < cnt; p++) {
            if (o->partition >= 0 && p != o->partition)
                continue;
            parts = vg_xrealloc(parts, (size_t)(n + 1) * sizeof(*parts));
            struct part *x = &parts[n++];
            memset(x, 0, sizeof(*x));
            x->topic = topics[t];
            x->partition = p;
            x->stored = -1;
            if ((e = rd_kafka_query_watermark_offsets(rk, x->topic, p, &x->low, &x->high,
                                                      KAFKA_TIMEOUT_MS))) {
                fprintf(stderr, "vigilctl offsets: watermarks of %s/%d: %s\n", x->topic, p,
                        rd_kafka_err2str(e));
                free(parts);
                return -1;
            }
        }
    }
    if (n == 0) {
        fprintf(stderr, "vigilctl offsets: no such partition\n");
        free(parts);
        return -1;
    }
    *out = parts;
    return n;
}

static int load_stored(struct ctl *c, PGconn *db, struct part *parts, int n)
{
    PGresult *r = PQexecParams(db,
                               "SELECT topic, partition, next_offset FROM ops.consumer_offsets"
                               " WHERE consumer_group = $1",
                               1, NULL, (const char *const[]){c->cfg->worker_group}, NULL,
                               NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "vigilctl offsets: %s", PQresultErrorMessage(r));
        PQclear(r);
        return 1;
    }
    for (int i = 0; i < PQntuples(r); i++)
        for (int k = 0; k < n; k++)
            if (!strcmp(parts[k].topic, PQgetvalue(r, i, 0)) &&
                parts[k].partition == atoi(PQgetvalue(r, i, 1)))
                parts[k].stored = strtoll(PQgetvalue(r, i, 2), NULL, 10);
    PQclear(r);
    return 0;
}

/* The new offset of each partition, within [low, high]. */
static int plan(rd_kafka_t *rk, const struct offsets_opts *o, struct part *parts, int n)
{
    if (o->to == TO_TIME) {
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(n);
        for (int k = 0; k < n; k++)
            rd_kafka_topic_partition_list_add(l, parts[k].topic, parts[k].partition)->offset =
                o->value;
        rd_kafka_resp_err_t e = rd_kafka_offsets_for_times(rk, l, KAFKA_TIMEOUT_MS);
        if (e) {
            fprintf(stderr, "vigilctl offsets: offsets for --to-time: %s\n", rd_kafka_err2str(e));
            rd_kafka_topic_partition_list_destroy(l);
            return 1;
        }
        for (int k = 0; k < n; k++) {
            int64_t off = l->elems[k].offset;
            /* No message at or after the time: the end of the partition. */
            parts[k].target = off < 0 ? parts[k].high : off;
        }
        rd_kafka_topic_partition_list_destroy(l);
    }
    for (int k = 0; k < n; k++) {
        struct part *x = &parts[k];
        if (o->to == TO_EARLIEST)
            x->target = x->low;
        else if (o->to == TO_LATEST)
            x->target = x->high;
        else if (o->to == TO_OFFSET)
            x->target = o->value;
        x->target = VG_MAX(x->low, VG_MIN(x->target, x->high));
    }
    return 0;
}

static void print_parts(struct ctl *c, const struct offsets_opts *o, const struct part *parts,
                        int n)
{
    json_t *rows = json_array();
    if (!c->json) {
        printf("group %s (ops.consumer_offsets)\n", c->cfg->worker_group);
        printf("  %-20s %9s %12s %12s %12s %10s%s\n", "topic", "partition", "low", "high",
               "stored", "lag", o->reset ? "          new" : "");
    }
    for (int k = 0; k < n; k++) {
        const struct part *x = &parts[k];
        int64_t from = x->stored >= 0 ? x->stored : x->low;
        int64_t lag = VG_MAX(x->high - from, 0);
        char stored[24] = "-", target[40] = "";
        if (x->stored >= 0)
            snprintf(stored, sizeof(stored), "%lld", (long long)x->stored);
        if (o->reset)
            snprintf(target, sizeof(target), " %12lld%s", (long long)x->target,
                     x->target == x->stored ? " (same)" : "");
        if (!c->json)
            printf("  %-20s %9d %12lld %12lld %12s %10lld%s\n", x->topic, x->partition,
                   (long long)x->low, (long long)x->high, stored, (long long)lag, target);
        json_t *row = json_pack("{s:s, s:i, s:I, s:I, s:o, s:I}", "topic", x->topic, "partition",
                                x->partition, "low", (json_int_t)x->low, "high",
                                (json_int_t)x->high, "stored",
                                x->stored >= 0 ? json_integer(x->stored) : json_null(), "lag",
                                (json_int_t)lag);
        if (o->reset)
            json_object_set_new(row, "new", json_integer(x->target));
        json_array_append_new(rows, row);
    }
    vg_ctl_out_set(c, "offsets", rows);
}

/* Writes every new offset in one transaction. */
static int apply(struct ctl *c, PGconn *db, const struct part *parts, int n)
{
    PGresult *r = PQexec(db, "BEGIN");
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    for (int k = 0; ok && k < n; k++) {
        char part[16], off[24];
        snprintf(part, sizeof(part), "%d", parts[k].partition);
        snprintf(off, sizeof(off), "%lld", (long long)parts[k].target);
        const char *p[4] = {c->cfg->worker_group, parts[k].topic, part, off};
        r = PQexecParams(db,
                         "INSERT INTO ops.consumer_offsets (consumer_group, topic, partition,"
                         " next_offset) VALUES ($1, $2, $3, $4)"
                         " ON CONFLICT (consumer_group, topic, partition)"
                         " DO UPDATE SET next_offset = EXCLUDED.next_offset, updated_at = now()",
                         4, NULL, p, NULL, NULL, 0);
        ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        if (!ok)
            fprintf(stderr, "vigilctl offsets: %s", PQresultErrorMessage(r));
        PQclear(r);
    }
    r = PQexec(db, ok ? "COMMIT" : "ROLLBACK");
    ok = ok && PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    return !ok;
}

int vg_ctl_offsets(struct ctl *c)
{
    struct offsets_opts o;
    int rc = parse(c, &o);
    if (rc)
        return rc;
    rd_kafka_t *rk = vg_ctl_kafka(c, RD_KAFKA_CONSUMER);
    if (!rk)
        return 1;
    PGconn *db = vg_ctl_db(c);
    struct part *parts = NULL;
    int n = db ? load_parts(c, rk, &o, &parts) : -1;
    rc = n < 0 || load_stored(c, db, parts, n) || (o.reset && plan(rk, &o, parts, n));
    if (rc == 0) {
        print_parts(c, &o, parts, n);
        if (o.reset && !o.execute) {
            if (!c->json)
                printf("\ndry run: nothing changed; add --execute to store the new offsets\n");
            vg_ctl_out_set(c, "executed", json_false());
        } else if (o.reset) {
            rc = apply(c, db, parts, n);
            if (rc == 0 && !c->json)
                printf("\nstored: %d partition%s; running workers reread at their next batch\n",
                       n, n == 1 ? "" : "s");
            vg_ctl_out_set(c, "executed", json_boolean(rc == 0));
        }
    }
    free(parts);
    if (db)
        PQfinish(db);
    rd_kafka_destroy(rk);
    return rc;
}
