#include "pipeline.h"

#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "decode.h"
#include "log.h"
#include "metrics.h"
#include "offsets.h"
#include "stats.h"
#include "util.h"

void vg_pipeline_init(struct vg_pipeline *p, const struct vg_config *cfg, struct vg_pg *pg,
                      struct vg_consumer *consumer, struct vg_out *out,
                      const volatile sig_atomic_t *stop)
{
    memset(p, 0, sizeof(*p));
    p->cfg = cfg;
    p->pg = pg;
    p->consumer = consumer;
    p->out = out;
    p->stop = stop;
    p->stage.cfg = cfg;
    p->backoff = (struct vg_backoff){.base_ms = 100, .cap_ms = 5000};
}

void vg_pipeline_free(struct vg_pipeline *p)
{
    vg_buf_free(&p->stage.copy);
    free(p->events);
    memset(p, 0, sizeof(*p));
}

/* A command refused by decoding: counted by reason and logged, as it may
 * be a forgery or one half of a secret rotation. */
static void command_refused(struct vg_msg *msg, int rc)
{
    const rd_kafka_message_t *k = msg->rkm;
    const char *reason = rc == VG_EAUTH      ? "unsigned_or_forged"
                         : rc == VG_ENOTFOUND ? "unknown"
                                              : "malformed";
    vg_counter_add(vg_metric_series(vg_worker_stats.commands_refused, reason), 1);
    struct vg_log_ctx ctx = VG_LOG_CTX_INIT;
    ctx.topic = rd_kafka_topic_name(k->rkt);
    ctx.partition = k->partition;
    ctx.offset = k->offset;
    ctx.error = msg->why.error;
    vg_logc(VG_LOG_WARN, &ctx, "command refused, to the DLQ");
}

/* Every verdict that depends on a message alone, before any transaction:
 * what is refused goes to the DLQ and takes no part in the stages. */
static void decode_all(struct vg_pipeline *p, struct vg_batch *b)
{
    if (p->events_cap < b->n) {
        free(p->events);
        p->events_cap = b->cap;
        p->events = vg_xcalloc(p->events_cap, sizeof(*p->events));
    }
    for (size_t i = 0; i < b->n; i++) {
        struct vg_msg *msg = &b->msgs[i];
        if (msg->kind == VG_MSG_COMMAND) {
            const struct vg_command_trust trust = {
                .secret = p->cfg->command_secret,
                .audience = p->cfg->worker_group,
                .now_us = vg_now_us(),
                .max_age_s = p->cfg->worker_command_max_age_s,
                .max_skew_s = p->cfg->worker_command_max_skew_s,
            };
            int rc = vg_decode_command(msg, &trust);
            if (rc)
                command_refused(msg, rc);
            continue;
        }
        if (msg->rkm->err) {
            vg_msg_refuse(msg, "decode", "%s", rd_kafka_message_errstr(msg->rkm));
            continue;
        }
        (void)vg_decode_event(msg, &p->events[i]);
    }
}

static int run_stages(struct vg_stage_ctx *s)
{
    int rc;
    if ((rc = vg_stage_raw(s)) || (rc = vg_stage_staging(s)) || (rc = vg_stage_vault(s)) ||
        (rc = vg_stage_sessions(s)) || (rc = vg_commands_accept(s)))
        return rc;
    return 0;
}

/* Message by message under savepoints, to find what the database refuses. */
static int run_isolated(struct vg_pipeline *p, struct vg_batch *b)
{
    struct vg_stage_ctx *s = &p->stage;
    int rc;
    for (size_t i = 0; i < b->n; i++) {
        if (b->msgs[i].refused)
            continue;
        if ((rc = vg__stage_exec(s, "SAVEPOINT vg_one")))
            return rc;
        s->first = i;
        s->count = 1;
        rc = run_stages(s);
        if (rc == VG_EDB) {
            vg_msg_refuse(&b->msgs[i], "database", "%s", s->errstr);
            rc = vg__stage_exec(s, "ROLLBACK TO SAVEPOINT vg_one");
        } else if (rc == 0) {
            rc = vg__stage_exec(s, "RELEASE SAVEPOINT vg_one");
        }
        if (rc)
            return rc;
    }
    /* Only a value the database refuses (VG_EDB) is pinned on a message; a
     * statement refused for any other reason (VG_ESQL) left the loop above
     * and keeps the whole batch, so good data is never dead-lettered for a
     * fault of ours. */
    /* Dead letters are acknowledged before the offsets move past them. */
    if (vg_out_send_refused(p->out, b)) {
        snprintf(s->errstr, sizeof(s->errstr), "dead letters not acknowledged");
        return VG_ETRANSIENT;
    }
    return 0;
}

/* One attempt: BEGIN .. COMMIT. isolate: message by message. */
static int attempt(struct vg_pipeline *p, struct vg_batch *b, int isolate)
{
    struct vg_stage_ctx *s = &p->stage;
    int rc = vg_pg_ensure(p->pg, p->stop);
    if (rc)
        return VG_ETIMEOUT;
    s->conn = p->pg->conn;
    /* Compared by generation, not by pointer: a new connection may well get
     * the address of the one it replaces. */
    if (p->prepared_gen != p->pg->generation) {
        if ((rc = vg_stages_prepare(s)))
            return rc == VG_EDB || rc == VG_ESQL ? VG_ETRANSIENT : rc;
        p->prepared_gen = p->pg->generation;
        s->nknown_days = 0;
    }
    if ((rc = vg_consumer_expect(p->consumer, b))) {
        snprintf(s->errstr, sizeof(s->errstr),
                 "a partition of the batch was revoked, or the batch does not start at its "
                 "stored offset");
        return rc;
    }
    int64_t t0 = vg_mono_ms();
    if ((rc = vg__stage_exec(s, "BEGIN")))
        return rc;
    s->batch = b;
    s->events = p->events;
    s->new_events = 0;
    s->session_rows = 0;
    if (isolate) {
        rc = run_isolated(p, b);
    } else {
        s->first = 0;
        s->count = b->n;
        rc = run_stages(s);
    }
    if (rc == 0)
        rc = vg_offsets_advance(s->conn, p->cfg->worker_group, b, s->errstr,
                                sizeof(s->errstr));
    if (rc == 0)
        rc = vg__stage_exec(s, "COMMIT");
    if (rc) {
        vg_pg_rollback(s->conn);
        return rc;
    }
    vg_histogram_observe(vg_worker_stats.commit_seconds, (double)(vg_mono_ms() - t0) / 1e3);
    return 0;
}

static void observe_commit(struct vg_pipeline *p, struct vg_batch *b)
{
    int64_t now_us = vg_now_us();
    const struct vg_worker_stats *m = &vg_worker_stats;
    const char *last_topic = NULL;
    struct vg_series *topic_series = NULL;
    for (size_t i = 0; i < b->n; i++) {
        const char *topic = rd_kafka_topic_name(b->msgs[i].rkm->rkt);
        if (topic != last_topic) {
            topic_series = vg_metric_series(m->messages, topic);
            last_topic = topic;
        }
        vg_counter_add(topic_series, 1);
        if (!b->msgs[i].refused && b->msgs[i].kind != VG_MSG_COMMAND &&
            p->events[i].received_us != VG_NO_TIME)
            vg_histogram_observe(m->e2e_seconds, (double)(now_us - p->events[i].received_us) / 1e6);
    }
    vg_counter_add(m->events_new, (uint64_t)p->stage.new_events);
    vg_counter_add(m->session_rows, (uint64_t)p->stage.session_rows);
    vg_histogram_observe(m->batch_messages, (double)b->n);
    vg_histogram_observe(m->batch_seconds, (double)(vg_mono_ms() - b->opened_ms) / 1e3);
}

int vg_pipeline_process(struct vg_pipeline *p, struct vg_batch *b)
{
    int isolate = 0;
    int64_t held_until = 0; /* set at the first failure: retries in place end there */
    decode_all(p, b);
    for (;;) {
        int rc = vg_out_send_refused(p->out, b);
        if (rc)
            snprintf(p->stage.errstr, sizeof(p->stage.errstr),
                     "dead letters not acknowledged by Kafka");
        else
            rc = attempt(p, b, isolate);
        if (rc == 0) {
            vg_backoff_reset(&p->backoff);
            vg_consumer_committed(p->consumer, b);
            observe_commit(p, b);
            return 0;
        }
        if (rc == VG_ECONFLICT) {
            vg_counter_add(vg_worker_stats.conflicts, 1);
            vg_warn("batch of %zu dropped: %s", b->n, p->stage.errstr);
            vg_consumer_rewind(p->consumer, b);
            return VG_ECONFLICT;
        }
        if (rc == VG_ETIMEOUT || *p->stop)
            return VG_ETIMEOUT;
        if (rc == VG_EDB && !isolate) {
            vg_warn("batch refused by the database (%s); retrying message by message",
                    p->stage.errstr);
            isolate = 1;
            continue;
        }
        /* Transient, or a statement of ours the database refuses: retry, and
         * say loudly when the fault is ours (a migration not applied, a bug). */
        vg_counter_add(vg_worker_stats.retries, 1);
        int64_t delay = vg_backoff_next(&p->backoff);
        if (rc == VG_ESQL)
            vg_error("batch of %zu not committed, a statement was refused (not the data's "
                     "fault); retrying in %lld ms: %s",
                     b->n, (long long)delay, p->stage.errstr);
        else
            vg_warn("batch of %zu not committed, retrying in %lld ms: %s", b->n, (long long)delay,
                    p->stage.errstr);
        if (!held_until)
            held_until = vg_mono_ms() + VG_BATCH_HOLD_MS;
        if (vg_mono_ms() + delay > held_until) {
            /* Give the consumer back to the loop: a rebalance waits for
             * every member to poll, so a batch retried here for long would
             * stall the whole group. Its messages are read again. */
            vg_consumer_seek_back(p->consumer, b);
            return VG_ETRANSIENT;
        }
        vg_sleep_ms(delay, p->stop);
        if (*p->stop)
            return VG_ETIMEOUT;
    }
}
