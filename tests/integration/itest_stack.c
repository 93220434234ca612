#include "itest_stack.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "crypto.h"
#include "itest.h"
#include "kafka.h"
#include "util.h"

static int delivery_failures;

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    if (m->err)
        delivery_failures++;
}

void itest_open(struct itest *t, const char *tenant_prefix)
{
    char err[512];
    memset(t, 0, sizeof(*t));
    itest_env("VIGIL_KAFKA_BROKERS");
    /* Whatever ran before (a test that restarted Kafka or a worker), start
     * on a stack whose partitions are led and whose group holds them all. */
    if (itest_dev("ready") != 0)
        fail_msg("the stack is not ready (./dev ready failed): see the output above");
    if (vg_config_load(NULL, &t->cfg, err, sizeof(err)))
        fail_msg("config: %s", err);
    t->db = PQconnectdb(itest_env("VIGIL_DATABASE_URL"));
    if (PQstatus(t->db) != CONNECTION_OK)
        fail_msg("database: %s", PQerrorMessage(t->db));
    PQclear(PQexec(t->db, "SET TimeZone = 'UTC'"));
    unsigned char r[4];
    vg_random_bytes(r, sizeof(r));
    snprintf(t->tenant, sizeof(t->tenant), "%s-%02x%02x%02x%02x", tenant_prefix, r[0], r[1], r[2],
             r[3]);
    rd_kafka_conf_t *conf = vg_kafka_conf(t->cfg, "vigil-itest", err, sizeof(err));
    assert_non_null(conf);
    assert_int_equal(vg_kafka_set(conf, "enable.idempotence", "true", err, sizeof(err)), 0);
    assert_int_equal(vg_kafka_set(conf, "linger.ms", "5", err, sizeof(err)), 0);
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    t->producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    assert_non_null(t->producer);
}

void itest_close(struct itest *t)
{
    if (t->producer) {
        rd_kafka_flush(t->producer, 10000);
        rd_kafka_destroy(t->producer);
    }
    PQfinish(t->db);
    vg_config_free(t->cfg);
    memset(t, 0, sizeof(*t));
}

void itest_produce(struct itest *t, const char *topic, const char *key, const char *value)
{
    for (;;) {
        rd_kafka_resp_err_t e = rd_kafka_producev(
            t->producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)),
            RD_KAFKA_V_VALUE((void *)value, strlen(value)),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            rd_kafka_poll(t->producer, 50);
            continue;
        }
        if (e)
            fail_msg("produce: %s", rd_kafka_err2str(e));
        rd_kafka_poll(t->producer, 0);
        return;
    }
}

void itest_flush(struct itest *t)
{
    assert_int_equal(rd_kafka_flush(t->producer, 30000), RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(delivery_failures, 0);
}

void itest_event(struct itest *t, char *out, size_t size, const char *event_id, const char *type,
                 const char *session_id, const char *visitor_id, const char *occurred_at,
                 const char *properties_json)
{
    char now[VG_TS_LEN];
    vg_time_format(vg_now_us(), now);
    struct vg_buf b = {0};
    vg_buf_printf(&b, "{\"v\":1,\"tenant\":\"%s\",\"event_id\":\"%s\",\"type\":\"%s\"", t->tenant,
                  event_id, type);
    if (session_id)
        vg_buf_printf(&b, ",\"session_id\":\"%s\"", session_id);
    if (visitor_id)
        vg_buf_printf(&b, ",\"visitor_id\":\"%s\"", visitor_id);
    vg_buf_printf(&b, ",\"occurred_at\":\"%s\",\"received_at\":\"%s\"",
                  occurred_at ? occurred_at : now, now);
    if (properties_json)
        vg_buf_printf(&b, ",\"properties\":%s", properties_json);
    vg_buf_putc(&b, '}');
    if (b.len + 1 > size)
        fail_msg("event of %zu bytes does not fit %zu", b.len, size);
    memcpy(out, b.data, b.len + 1);
    vg_buf_free(&b);
}

long long itest_count(struct itest *t, const char *sql, int nparams, const char *const *params)
{
    PGresult *r = PQexecParams(t->db, sql, nparams, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) < 1) {
        char msg[512];
        snprintf(msg, sizeof(msg), "%s", PQresultErrorMessage(r));
        PQclear(r);
        fail_msg("query failed: %s: %s", sql, msg);
    }
    long long v = PQgetisnull(r, 0, 0) ? -1 : strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return v;
}

int itest_dev(const char *args)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "%s %s >&2", itest_env("VIGIL_DEV"), args);
    int rc = system(cmd);
    return rc == -1 ? -1 : WEXITSTATUS(rc);
}

int itest_signal(const char *name, int sig)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/run/%s.pid", itest_env("VIGIL_STATE_DIR"), name);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    int pid = 0;
    int ok = fscanf(f, "%d", &pid) == 1;
    fclose(f);
    if (!ok || pid <= 1)
        return -1;
    return kill(pid, sig);
}

void itest_uuid(char out[37])
{
    unsigned char b[16];
    vg_random_bytes(b, sizeof(b));
    b[6] = (unsigned char)(0x40 | (b[6] & 0x0f));
    b[8] = (unsigned char)(0x80 | (b[8] & 0x3f));
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}

double itest_metric(const char *base, const char *series)
{
    unsigned port;
    char host[64];
    if (sscanf(base, "http://%63[^:]:%u", host, &port) != 2)
        fail_msg("bad metrics address %s", base);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, host, &a.sin_addr);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a))) {
        close(fd); /* not listening (yet, or any more): no value */
        return 0;
    }
    const char req[] = "GET /metrics HTTP/1.0\r\nHost: itest\r\n\r\n";
    assert_int_equal(write(fd, req, sizeof(req) - 1), (ssize_t)(sizeof(req) - 1));
    struct vg_buf b = {0};
    char chunk[8192];
    ssize_t n;
    while ((n = read(fd, chunk, sizeof(chunk))) > 0)
        vg_buf_append(&b, chunk, (size_t)n);
    close(fd);
    double v = 0;
    size_t len = strlen(series);
    for (const char *s = b.data; s && *s;) {
        const char *eol = strchr(s, '\n');
        if (!strncmp(s, series, len) && s[len] == ' ')
            v = strtod(s + len + 1, NULL);
        s = eol ? eol + 1 : NULL;
    }
    vg_buf_free(&b);
    return v;
}

double itest_workers_metric(const char *series)
{
    char *urls = vg_xstrdup(itest_env("VIGIL_WORKER_HTTP")), *save = NULL;
    double total = 0;
    for (char *u = strtok_r(urls, " ", &save); u; u = strtok_r(NULL, " ", &save))
        total += itest_metric(u, series);
    free(urls);
    return total;
}

int itest_end_offsets(struct itest *t, const char *topic, int64_t *out, int max)
{
    const struct vg_config *c = t->cfg;
    int n = (int)(!strcmp(topic, c->topic_dlq)          ? c->partitions_dlq
                  : !strcmp(topic, c->topic_summaries)  ? c->partitions_summaries
                  : !strcmp(topic, c->topic_events)     ? c->partitions_events
                  : !strcmp(topic, c->topic_heartbeats) ? c->partitions_heartbeats
                                                        : c->partitions_commands);
    if (n > max)
        fail_msg("%s has %d partitions, more than the %d asked for", topic, n, max);
    for (int i = 0; i < n; i++) {
        int64_t lo;
        rd_kafka_resp_err_t e =
            rd_kafka_query_watermark_offsets(t->producer, topic, i, &lo, &out[i], 10000);
        if (e)
            fail_msg("watermarks of %s/%d: %s", topic, i, rd_kafka_err2str(e));
    }
    return n;
}

int64_t itest_dlq_total(struct itest *t)
{
    int64_t ends[64], total = 0;
    int n = itest_end_offsets(t, t->cfg->topic_dlq, ends, 64);
    for (int i = 0; i < n; i++)
        total += ends[i];
    return total;
}

pid_t itest_start_worker(const char *id, const char *port)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char bin[1024];
        snprintf(bin, sizeof(bin), "%s/vigil-worker", itest_env("VIGIL_BIN_DIR"));
        setenv("VIGIL_WORKER_HTTP_PORT", port, 1);
        setenv("VIGIL_WORKER_ID", id, 1);
        execl(bin, bin, (char *)NULL);
        _exit(127);
    }
    return pid;
}
