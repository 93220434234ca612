/*
 * vigilctl group: the workers' consumer group as the broker's group
 * coordinator sees it (state, members, partitions each holds), and
 * `--wait N`, which waits until the stack can take work at once: the group
 * Stable with exactly N members holding every partition of the workers'
 * topics, and an idempotent producer given its producer id. ./dev waits on
 * it after it starts or restarts anything.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "kafka.h"
#include "util.h"

#define DESCRIBE_TIMEOUT_MS 5000

struct group_view {
    char state[32];
    int members;
    int assigned; /* partitions of the workers' topics held by some member */
    char detail[2048];
};

/* Set by the statistics callback once librdkafka reports a producer id. */
static int pid_assigned;

static int on_stats(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
    (void)rk, (void)opaque;
    static const char want[] = "\"idemp_state\": \"Assigned\"";
    if (memmem(json, len, want, sizeof(want) - 1))
        pid_assigned = 1;
    return 0; /* librdkafka frees json */
}

static rd_kafka_t *client(struct ctl *c)
{
    char err[512];
    const struct vg_kafka_producer_opts opts = {
        .client_id = "vigilctl", .on_stats = on_stats, .stats_interval_ms = 100};
    rd_kafka_t *rk = vg_kafka_producer_new(c->cfg, &opts, err, sizeof(err));
    if (!rk)
        fprintf(stderr, "vigilctl group: %s\n", err);
    return rk;
}

static int ours(const struct vg_config *cfg, const char *topic)
{
    return !strcmp(topic, cfg->topic_events) || !strcmp(topic, cfg->topic_heartbeats) ||
           !strcmp(topic, cfg->topic_commands);
}

/* Describes the workers' group into v. Returns 0, or 1 with v->detail saying why. */
static int describe(rd_kafka_t *rk, const struct vg_config *cfg, struct group_view *v)
{
    memset(v, 0, sizeof(*v));
    const char *groups[1] = {cfg->worker_group};
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *opt =
        rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS);
    char err[256];
    rd_kafka_AdminOptions_set_request_timeout(opt, DESCRIBE_TIMEOUT_MS, err, sizeof(err));
    rd_kafka_DescribeConsumerGroups(rk, groups, 1, opt, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, DESCRIBE_TIMEOUT_MS + 1000);
    int rc = 1;
    if (!ev) {
        snprintf(v->detail, sizeof(v->detail), "no answer from the group coordinator");
    } else if (rd_kafka_event_error(ev)) {
        snprintf(v->detail, sizeof(v->detail), "%s", rd_kafka_event_error_string(ev));
    } else {
        size_t n = 0;
        const rd_kafka_ConsumerGroupDescription_t **gd =
            rd_kafka_DescribeConsumerGroups_result_groups(
                rd_kafka_event_DescribeConsumerGroups_result(ev), &n);
        const rd_kafka_error_t *ge = n == 1 ? rd_kafka_ConsumerGroupDescription_error(gd[0]) : NULL;
        if (n != 1 || ge) {
            snprintf(v->detail, sizeof(v->detail), "%s",
                     ge ? rd_kafka_error_string(ge) : "no such group");
        } else {
            snprintf(v->state, sizeof(v->state), "%s",
                     rd_kafka_consumer_group_state_name(
                         rd_kafka_ConsumerGroupDescription_state(gd[0])));
            v->members = (int)rd_kafka_ConsumerGroupDescription_member_count(gd[0]);
            size_t off = 0;
            for (int i = 0; i < v->members; i++) {
                const rd_kafka_MemberDescription_t *m =
                    rd_kafka_ConsumerGroupDescription_member(gd[0], (size_t)i);
                const rd_kafka_topic_partition_list_t *parts =
                    rd_kafka_MemberAssignment_partitions(rd_kafka_MemberDescription_assignment(m));
                int held = 0;
                for (int k = 0; parts && k < parts->cnt; k++)
                    held += ours(cfg, parts->elems[k].topic);
                v->assigned += held;
                if (off < sizeof(v->detail))
                    off += (size_t)snprintf(v->detail + off, sizeof(v->detail) - off,
                                            "  %-24s %-16s %d partitions\n",
                                            rd_kafka_MemberDescription_client_id(m),
                                            rd_kafka_MemberDescription_host(m), held);
            }
            rc = 0;
        }
    }
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(opt);
    rd_kafka_queue_destroy(q);
    return rc;
}

static void print_view(struct ctl *c, const struct group_view *v, int total)
{
    const struct vg_config *cfg = c->cfg;
    if (c->json) {
        vg_ctl_out_set(c, "group",
                       v->state[0] ? json_pack("{s:s, s:s, s:i, s:i, s:i}", "group",
                                               cfg->worker_group, "state", v->state, "members",
                                               v->members, "assigned", v->assigned,
                                               "partitions", total)
                                   : json_pack("{s:s, s:s}", "group", cfg->worker_group,
                                               "error", v->detail));
        return;
    }
    if (!v->state[0]) {
        printf("group %s: %s\n", cfg->worker_group, v->detail);
        return;
    }
    printf("group %s: %s, %d member%s, %d of %d partitions assigned\n%s", cfg->worker_group,
           v->state, v->members, v->members == 1 ? "" : "s", v->assigned, total, v->detail);
}

int vg_ctl_group(struct ctl *c)
{
    int want = -1;
    long timeout_s = 120;
    for (int i = 1; i < c->argc; i++) {
        if (!strcmp(c->argv[i], "--wait") && i + 1 < c->argc) {
            want = atoi(c->argv[++i]);
        } else if (!strcmp(c->argv[i], "--timeout") && i + 1 < c->argc) {
            timeout_s = atol(c->argv[++i]);
        } else {
            fprintf(stderr, "usage: vigilctl group [--wait MEMBERS] [--timeout SECONDS]\n");
            return 2;
        }
    }
    const struct vg_config *cfg = c->cfg;
    int total = (int)(cfg->partitions_events + cfg->partitions_heartbeats +
                      cfg->partitions_commands);
    rd_kafka_t *rk = client(c);
    if (!rk)
        return 1;
    struct group_view v;
    int rc;
    if (want < 0) {
        rc = describe(rk, cfg, &v);
        print_view(c, &v, total);
    } else {
        int64_t deadline = vg_mono_ms() + timeout_s * 1000;
        for (;;) {
            rd_kafka_poll(rk, 0); /* serves the statistics callback */
            int ok = describe(rk, cfg, &v) == 0 && !strcmp(v.state, "Stable") &&
                     v.members == want && v.assigned == total && pid_assigned;
            if (ok || vg_mono_ms() >= deadline) {
                rc = !ok;
                break;
            }
            rd_kafka_poll(rk, 200);
        }
        print_view(c, &v, total);
        if (!pid_assigned && !c->json)
            printf("no producer id from the broker yet (idempotent produce would wait)\n");
        if (rc)
            fprintf(stderr, "vigilctl group: not ready within %ld s\n", timeout_s);
    }
    rd_kafka_destroy(rk);
    return rc;
}
