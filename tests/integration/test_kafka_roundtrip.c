/* A message makes a round trip through the real broker with the project's
 * Kafka helpers: idempotent produce with acks=all, then consume it back with
 * key, value and headers intact. A consumer whose stored offset lies past the
 * log's end says so. Uses its own topic, deleted afterwards. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "batch.h"
#include "config.h"
#include "consumer.h"
#include "itest.h"
#include "kafka.h"
#include "pg.h"

static struct vg_config *cfg;
static char topic[64];

static void admin_topic(int create)
{
    char err[512];
    rd_kafka_conf_t *conf = vg_kafka_conf(cfg, "vigil-test-admin", err, sizeof(err));
    assert_non_null(conf);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    assert_non_null(rk);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    if (create) {
        rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(topic, 1, 1, err, sizeof(err));
        rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
        rd_kafka_NewTopic_destroy(nt);
    } else {
        rd_kafka_DeleteTopic_t *dt = rd_kafka_DeleteTopic_new(topic);
        rd_kafka_DeleteTopics(rk, &dt, 1, NULL, q);
        rd_kafka_DeleteTopic_destroy(dt);
    }
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 15000);
    assert_non_null(ev);
    if (rd_kafka_event_error(ev))
        fail_msg("admin: %s", rd_kafka_event_error_string(ev));
    if (create) {
        size_t n;
        const rd_kafka_topic_result_t **res =
            rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
        assert_int_equal(n, 1);
        if (rd_kafka_topic_result_error(res[0]))
            fail_msg("create %s: %s", topic, rd_kafka_topic_result_error_string(res[0]));
    }
    rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
}

static int setup(void **state)
{
    (void)state;
    char err[512];
    itest_env("VIGIL_KAFKA_BROKERS");
    if (vg_config_load(NULL, &cfg, err, sizeof(err))) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    snprintf(topic, sizeof(topic), "vigil.test.roundtrip.%d", (int)getpid());
    admin_topic(1);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    admin_topic(0);
    vg_config_free(cfg);
    return 0;
}

static rd_kafka_resp_err_t delivered = RD_KAFKA_RESP_ERR__IN_PROGRESS;

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    delivered = m->err;
}

static void test_message_round_trips_with_key_value_and_headers(void **state)
{
    char err[512];
    rd_kafka_conf_t *conf = vg_kafka_conf(cfg, "vigil-test-producer", err, sizeof(err));
    assert_non_null(conf);
    assert_int_equal(vg_kafka_set(conf, "enable.idempotence", "true", err, sizeof(err)), 0);
    assert_int_equal(vg_kafka_set(conf, "acks", "all", err, sizeof(err)), 0);
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    assert_non_null(p);

    const char *key = "demo/s-1", *value = "{\"v\":1,\"tenant\":\"demo\",\"text\":\"h\xc3\xa9\"}";
    rd_kafka_resp_err_t e = rd_kafka_producev(
        p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)),
        RD_KAFKA_V_VALUE((void *)value, strlen(value)), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_HEADER("vigil-tenant", "demo", 4), RD_KAFKA_V_END);
    assert_int_equal(e, RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(rd_kafka_flush(p, 15000), RD_KAFKA_RESP_ERR_NO_ERROR);
    if (delivered != RD_KAFKA_RESP_ERR_NO_ERROR)
        fail_msg("delivery failed: %s", rd_kafka_err2str(delivered));
    rd_kafka_destroy(p);

    conf = vg_kafka_conf(cfg, "vigil-test-consumer", err, sizeof(err));
    assert_non_null(conf);
    assert_int_equal(vg_kafka_set(conf, "group.id", topic, err, sizeof(err)), 0);
    rd_kafka_t *c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    assert_non_null(c);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(parts, topic, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    assert_int_equal(rd_kafka_assign(c, parts), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(parts);

    rd_kafka_message_t *m = NULL;
    int64_t deadline = vg_mono_ms() + 20000;
    while (!m && vg_mono_ms() < deadline) {
        m = rd_kafka_consumer_poll(c, 200);
        if (m && m->err) {
            rd_kafka_message_destroy(m);
            m = NULL;
        }
    }
    if (!m)
        fail_msg("no message came back within 20 s");
    assert_int_equal(m->key_len, strlen(key));
    assert_memory_equal(m->key, key, m->key_len);
    assert_int_equal(m->len, strlen(value));
    assert_memory_equal(m->payload, value, m->len);
    rd_kafka_headers_t *hdrs;
    assert_int_equal(rd_kafka_message_headers(m, &hdrs), RD_KAFKA_RESP_ERR_NO_ERROR);
    const void *hv;
    size_t hlen;
    assert_int_equal(rd_kafka_header_get_last(hdrs, "vigil-tenant", &hv, &hlen),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(hlen, 4);
    assert_memory_equal(hv, "demo", 4);
    rd_kafka_message_destroy(m);
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
}

/* Offsets stored in PostgreSQL past the end of the topic's log (the topic
 * was made again, or the database came with offsets of another Kafka): the
 * consumer skips what lies below them as processed, and says so once, with
 * the way out, instead of dropping messages in silence. Runs after the round
 * trip, so the log holds a message. */
static void test_a_stored_offset_past_the_log_end_is_said(void **state)
{
    char err[512], group[96];
    snprintf(group, sizeof(group), "%s.past-end", topic);
    struct vg_pg pg;
    if (vg_pg_open(&pg, itest_env("VIGIL_DATABASE_URL"), "vigil-test", err, sizeof(err)))
        fail_msg("database: %s", err);
    const char *p[2] = {group, topic};
    PGresult *r = PQexecParams(pg.conn,
                               "INSERT INTO ops.consumer_offsets (consumer_group, topic, partition, "
                               "next_offset) VALUES ($1, $2, 0, 1000)",
                               2, NULL, p, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);

    static volatile sig_atomic_t stop = 0;
    const char *topics[] = {topic};
    struct vg_consumer_opts o = {.group = group, .client_id = "vigil-test-past-end",
                                 .topics = topics, .ntopics = 1};
    struct vg_consumer c;
    assert_int_equal(vg_consumer_open(&c, cfg, &o, &pg, &stop, err, sizeof(err)), 0);
    struct vg_batch b;
    vg_batch_init(&b, 16);
    size_t gathered = 0;
    int said = ITEST_WAIT((vg_consumer_gather(&c, &b, 100, NULL, NULL), gathered += b.n,
                           vg_batch_clear(&b), c.nassigned == 1 && c.assigned[0].past_end_said),
                          60000);
    int64_t stored = c.nassigned == 1 ? c.assigned[0].stored : -2;
    vg_batch_free(&b);
    vg_consumer_close(&c);
    r = PQexecParams(pg.conn, "DELETE FROM ops.consumer_offsets WHERE consumer_group = $1", 1,
                     NULL, p, NULL, NULL, 0);
    PQclear(r);
    vg_pg_close(&pg);
    if (!said)
        fail_msg("no word of the stored offset past the log's end within 60 s");
    assert_int_equal(stored, 1000);
    assert_int_equal(gathered, 0); /* below the stored offset: skipped, not processed */
}

static void test_vigil_topics_exist_with_configured_partitions(void **state)
{
    char err[512];
    rd_kafka_conf_t *conf = vg_kafka_conf(cfg, "vigil-test-md", err, sizeof(err));
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    assert_non_null(rk);
    const struct rd_kafka_metadata *md;
    assert_int_equal(rd_kafka_metadata(rk, 1, NULL, &md, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
    const struct {
        const char *name;
        int64_t partitions;
    } want[] = {{cfg->topic_events, cfg->partitions_events},
                {cfg->topic_heartbeats, cfg->partitions_heartbeats},
                {cfg->topic_commands, cfg->partitions_commands},
                {cfg->topic_summaries, cfg->partitions_summaries},
                {cfg->topic_dlq, cfg->partitions_dlq}};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        int found = -1;
        for (int t = 0; t < md->topic_cnt; t++)
            if (!strcmp(md->topics[t].topic, want[i].name))
                found = md->topics[t].partition_cnt;
        if (found != want[i].partitions)
            fail_msg("topic %s: %d partitions, want %lld", want[i].name, found,
                     (long long)want[i].partitions);
    }
    rd_kafka_metadata_destroy(md);
    rd_kafka_destroy(rk);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_message_round_trips_with_key_value_and_headers),
        cmocka_unit_test(test_a_stored_offset_past_the_log_end_is_said),
        cmocka_unit_test(test_vigil_topics_exist_with_configured_partitions),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
