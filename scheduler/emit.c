#include "emit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "command.h"
#include "kafka.h"
#include "log.h"
#include "util.h"

/* librdkafka gives a command up after this, before the caller stops waiting;
 * a slot whose command was not acknowledged is fired again. */
#define MESSAGE_TIMEOUT_MS 10000

struct vg_emitter {
    rd_kafka_t *rk;
    char *topic;
    char *secret;
    char *audience; /* worker.group: the workers the commands are for */
    int outstanding;                /* sent, not yet reported */
    rd_kafka_resp_err_t last_error; /* of the last report */
};

void vg_emit_command_id(const char *schedule, int64_t slot_s, char *out, size_t size)
{
    time_t t = (time_t)slot_s;
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(out, size, "%s@%04d-%02d-%02dT%02d:%02d:00Z", schedule, tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min);
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    struct vg_emitter *e = opaque;
    e->outstanding--;
    e->last_error = m->err;
}

struct vg_emitter *vg_emitter_new(const struct vg_config *cfg, char *errstr, size_t errstr_size)
{
    struct vg_emitter *e = vg_xcalloc(1, sizeof(*e));
    const struct vg_kafka_producer_opts opts = {.client_id = "vigil-scheduler",
                                                .message_timeout_ms = MESSAGE_TIMEOUT_MS,
                                                .on_delivery = on_delivery,
                                                .opaque = e};
    e->rk = vg_kafka_producer_new(cfg, &opts, errstr, errstr_size);
    if (!e->rk) {
        free(e);
        return NULL;
    }
    e->topic = vg_xstrdup(cfg->topic_commands);
    e->secret = vg_xstrdup(cfg->command_secret ? cfg->command_secret : "");
    e->audience = vg_xstrdup(cfg->worker_group);
    return e;
}

/* Polls until every sent message is reported; past the deadline the rest are
 * purged (and then reported as failed). */
static void wait_reports(struct vg_emitter *e, int64_t deadline)
{
    while (e->outstanding > 0 && vg_mono_ms() < deadline)
        rd_kafka_poll(e->rk, 50);
    if (e->outstanding > 0) {
        rd_kafka_purge(e->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        while (e->outstanding > 0)
            rd_kafka_poll(e->rk, 50);
        e->last_error = RD_KAFKA_RESP_ERR__TIMED_OUT;
    }
}

int vg_emitter_send(struct vg_emitter *e, const char *command_id, const char *name,
                    const json_t *params, int dry_run, int timeout_ms, char *errstr,
                    size_t errstr_size)
{
    json_t *msg = vg_command_new(command_id, name, params, dry_run, vg_now_us(), e->audience);
    char *value = NULL;
    int rc = vg_command_sign(msg, e->secret);
    if (rc == 0)
        value = json_dumps(msg, JSON_COMPACT);
    json_decref(msg);
    if (!value) {
        snprintf(errstr, errstr_size, "command %s cannot be serialized", command_id);
        return VG_EINVAL;
    }
    int64_t deadline = vg_mono_ms() + timeout_ms;
    rd_kafka_resp_err_t err;
    while ((err = rd_kafka_producev(
                e->rk, RD_KAFKA_V_TOPIC(e->topic), RD_KAFKA_V_KEY(name, strlen(name)),
                RD_KAFKA_V_VALUE(value, strlen(value)), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                RD_KAFKA_V_END)) == RD_KAFKA_RESP_ERR__QUEUE_FULL &&
           vg_mono_ms() < deadline)
        rd_kafka_poll(e->rk, 50);
    free(value);
    if (err) {
        snprintf(errstr, errstr_size, "cannot produce to %s: %s", e->topic, rd_kafka_err2str(err));
        return VG_EKAFKA;
    }
    e->outstanding++;
    wait_reports(e, deadline);
    if (e->last_error) {
        snprintf(errstr, errstr_size, "%s not acknowledged: %s", e->topic,
                 rd_kafka_err2str(e->last_error));
        return e->last_error == RD_KAFKA_RESP_ERR__TIMED_OUT ? VG_ETIMEOUT : VG_EKAFKA;
    }
    return 0;
}

int vg_emitter_reachable(struct vg_emitter *e, int timeout_ms)
{
    return vg_kafka_reachable(e->rk, timeout_ms);
}

void vg_emitter_free(struct vg_emitter *e)
{
    if (!e)
        return;
    wait_reports(e, vg_mono_ms() + 5000);
    rd_kafka_destroy(e->rk);
    free(e->topic);
    free(e->secret);
    free(e->audience);
    free(e);
}
