/*
 * kafka_out.c's delivery tracking, on librdkafka's mock cluster: it stages
 * what a real broker cannot on demand (a broker gone for exactly one test,
 * produce errors and slow answers injected into the protocol, a fatal
 * idempotence error). The real broker is exercised by
 * tests/integration/test_producer.c.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "config.h"
#include "ingest.h"
#include "kafka_out.h"
#include "log.h"
#include "stats.h"

static struct vg_config *cfg;

#define API_PRODUCE 0 /* the Kafka protocol's ApiKey of Produce */

/* A waiter like the HTTP server's: arm and wake signal a condition. */
struct waiter {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int armed, woken;
};

static void arm(void *opaque)
{
    struct waiter *w = opaque;
    w->armed = 1; /* under kafka_out's lock, as MHD_suspend_connection would be */
}

static void wake(void *opaque)
{
    struct waiter *w = opaque;
    pthread_mutex_lock(&w->lock);
    w->woken++;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

/* Waits for d like a durable request; returns how it ended. */
static enum vg_delivery_result wait_for(struct vg_delivery *d, int timeout_ms)
{
    struct waiter w = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
    if (!vg_delivery_wait(d, arm, wake, &w)) {
        assert_true(w.armed);
        int64_t deadline = vg_mono_ms() + timeout_ms;
        pthread_mutex_lock(&w.lock);
        while (!w.woken && vg_mono_ms() < deadline) {
            pthread_mutex_unlock(&w.lock);
            vg_sleep_ms(5, NULL);
            pthread_mutex_lock(&w.lock);
        }
        int woken = w.woken;
        pthread_mutex_unlock(&w.lock);
        if (woken != 1)
            fail_msg("wake called %d times", woken);
    }
    return vg_delivery_result(d, NULL, 0);
}

static void fill(struct vg_outbox *o, size_t n, enum vg_topic topic)
{
    struct vg_ingest in = {.tenant = "demo", .received_us = vg_now_us()};
    for (size_t i = 0; i < n; i++) {
        char id[VG_UUID_STR_LEN];
        vg_uuid_v7(vg_now_ms(), id);
        struct vg_event ev;
        vg_ingest_event(&ev, &in, id, "test");
        vg_outbox_add(o, topic, &ev);
    }
}

static struct vg_kout *kout_new(void)
{
    char err[512];
    struct vg_kout *k = vg_kout_new(cfg, err, sizeof(err));
    if (!k)
        fail_msg("vg_kout_new: %s", err);
    return k;
}

static void test_durable_delivery_settles_ok(void **state)
{
    struct vg_kout *k = kout_new();
    struct vg_outbox o = {0};
    fill(&o, 3, VG_TOPIC_EVENTS);
    fill(&o, 1, VG_TOPIC_HEARTBEATS);
    struct vg_series *acc = vg_metric_series(vg_stats.accepted, "demo", "events");
    double before = vg_series_value(acc);
    struct vg_delivery *d = vg_delivery_new(k, "demo", vg_mono_ms() + 20000, 0);
    assert_int_equal(vg_kout_send(k, d, &o), 0);
    assert_int_equal(wait_for(d, 20000), VG_DELIVERY_OK);
    vg_delivery_release(d);
    assert_true(vg_series_value(acc) - before == 3);
    assert_int_equal(vg_kout_flush(k, 5000), 0);
    assert_int_equal(vg_kout_lost(k), 0);
    vg_outbox_free(&o);
    vg_kout_free(k);
}

static void test_queue_bound_refuses_a_whole_batch(void **state)
{
    struct vg_kout *k = kout_new();
    struct vg_outbox big = {0}, fits = {0};
    fill(&big, (size_t)cfg->producer_queue_max_messages + 1, VG_TOPIC_EVENTS);
    struct vg_delivery *d = vg_delivery_new(k, "demo", vg_mono_ms() + 20000, 0);
    assert_int_equal(vg_kout_send(k, d, &big), VG_EFULL);
    assert_int_equal(rd_kafka_outq_len(vg_kout_handle(k)), 0); /* nothing of it enqueued */
    assert_int_equal(wait_for(d, 1000), VG_DELIVERY_FAILED);   /* nothing to wait for */
    vg_delivery_release(d);
    fill(&fits, (size_t)cfg->producer_queue_max_messages, VG_TOPIC_EVENTS);
    d = vg_delivery_new(k, "demo", vg_mono_ms() + 20000, 0);
    assert_int_equal(vg_kout_send(k, d, &fits), 0);
    assert_int_equal(wait_for(d, 20000), VG_DELIVERY_OK);
    vg_delivery_release(d);
    vg_outbox_free(&big);
    vg_outbox_free(&fits);
    assert_int_equal(vg_kout_flush(k, 5000), 0);
    vg_kout_free(k);
}

static void test_deadline_wakes_a_waiter_when_the_broker_is_gone(void **state)
{
    struct vg_kout *k = kout_new();
    rd_kafka_mock_cluster_t *mc = rd_kafka_handle_mock_cluster(vg_kout_handle(k));
    assert_non_null(mc);
    /* one delivery first, so that the producer has its id and metadata */
    struct vg_outbox o = {0};
    fill(&o, 1, VG_TOPIC_EVENTS);
    struct vg_delivery *d = vg_delivery_new(k, "demo", vg_mono_ms() + 20000, 0);
    assert_int_equal(vg_kout_send(k, d, &o), 0);
    assert_int_equal(wait_for(d, 20000), VG_DELIVERY_OK);
    vg_delivery_release(d);

    assert_int_equal(rd_kafka_mock_broker_set_down(mc, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
    int64_t t0 = vg_mono_ms();
    d = vg_delivery_new(k, "demo", t0 + 300, 0);
    assert_int_equal(vg_kout_send(k, d, &o), 0);
    assert_int_equal(wait_for(d, 5000), VG_DELIVERY_TIMEOUT);
    int64_t took = vg_mono_ms() - t0;
    if (took < 290 || took > 2000)
        fail_msg("woken after %lld ms for a 300 ms deadline", (long long)took);
    vg_delivery_release(d); /* its message is still in flight: the delivery outlives us */

    /* asynchronous: answered at once; the message is lost if it never gets out */
    struct vg_delivery *a = vg_delivery_new(k, "demo", vg_mono_ms() + 300, 1);
    assert_int_equal(vg_kout_send(k, a, &o), 0);
    vg_delivery_release(a);
    int left = vg_kout_flush(k, 300);
    assert_true(left >= 2);
    assert_int_equal(vg_kout_lost(k), 1); /* the async one; the durable one got its 503 */
    vg_outbox_free(&o);
    vg_kout_free(k);
}

/* Messages on the mock cluster's events topic, all partitions. */
static int64_t messages_on_events(struct vg_kout *k)
{
    rd_kafka_t *rk = vg_kout_handle(k);
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, cfg->topic_events, NULL);
    const struct rd_kafka_metadata *md = NULL;
    assert_int_equal(rd_kafka_metadata(rk, 0, rkt, &md, 5000), RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(md->topic_cnt, 1);
    int64_t total = 0;
    for (int i = 0; i < md->topics[0].partition_cnt; i++) {
        int64_t lo, hi;
        assert_int_equal(rd_kafka_query_watermark_offsets(
                             rk, cfg->topic_events, md->topics[0].partitions[i].id, &lo, &hi, 5000),
                         RD_KAFKA_RESP_ERR_NO_ERROR);
        total += hi - lo;
    }
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    return total;
}

/* A broker that answers "not enough replicas" three times: the producer
 * retries, the request succeeds, and the idempotent producer writes the
 * messages once, not once per attempt. */
static void test_retried_produce_errors_deliver_each_message_once(void **state)
{
    struct vg_kout *k = kout_new();
    rd_kafka_mock_cluster_t *mc = rd_kafka_handle_mock_cluster(vg_kout_handle(k));
    assert_int_equal(messages_on_events(k), 0);
    rd_kafka_mock_push_request_errors(mc, API_PRODUCE, 3, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
                                      RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
                                      RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS);
    struct vg_outbox o = {0};
    fill(&o, 5, VG_TOPIC_EVENTS);
    struct vg_delivery *d = vg_delivery_new(k, "demo", vg_mono_ms() + 20000, 0);
    assert_int_equal(vg_kout_send(k, d, &o), 0);
    assert_int_equal(wait_for(d, 20000), VG_DELIVERY_OK);
    vg_delivery_release(d);
    assert_int_equal(messages_on_events(k), 5);
    assert_int_equal(vg_kout_flush(k, 5000), 0);
    vg_outbox_free(&o);
    vg_kout_free(k);
}

/* An error no retry can fix: the request fails (a 503, never a 202). */
static void test_a_produce_error_that_retries_cannot_fix_fails_the_request(void **state)
{
    struct vg_kout *k = kout_new();
    rd_kafka_mock_cluster_t *mc = rd_kafka_handle_mock_cluster(vg_kout_handle(k));
    rd_kafka_mock_push_request_errors(mc, API_PRODUCE, 1,
                                      RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
    struct vg_outbox o = {0};
    fill(&o, 2, VG_TOPIC_EVENTS);
    struct vg_delivery *d = vg_delivery_new(k, "demo", vg_mono_ms() + 20000, 0);
    assert_int_equal(vg_kout_send(k, d, &o), 0);
    assert_int_equal(wait_for(d, 20000), VG_DELIVERY_FAILED);
    char why[256] = "";
    assert_int_equal(vg_delivery_result(d, why, sizeof(why)), VG_DELIVERY_FAILED);
    if (!strstr(why, "uthoriz"))
        fail_msg("failure reason \"%s\" does not name the error", why);
    vg_delivery_release(d);
    vg_kout_flush(k, 1000);
    vg_outbox_free(&o);
    vg_kout_free(k);
}

/* A broker that answers after 2 s: the durable request gets its timeout
 * (503) at its own deadline, and the message still arrives afterwards. */
static void test_a_slow_broker_times_the_request_out_at_its_deadline(void **state)
{
    struct vg_kout *k = kout_new();
    rd_kafka_mock_cluster_t *mc = rd_kafka_handle_mock_cluster(vg_kout_handle(k));
    struct vg_outbox o = {0};
    fill(&o, 1, VG_TOPIC_EVENTS);
    struct vg_delivery *d = vg_delivery_new(k, "demo", vg_mono_ms() + 20000, 0);
    assert_int_equal(vg_kout_send(k, d, &o), 0); /* metadata and producer id first */
    assert_int_equal(wait_for(d, 20000), VG_DELIVERY_OK);
    vg_delivery_release(d);
    assert_int_equal(rd_kafka_mock_broker_push_request_error_rtts(mc, 1, API_PRODUCE, 1,
                                                                  RD_KAFKA_RESP_ERR_NO_ERROR, 2000),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
    int64_t t0 = vg_mono_ms();
    d = vg_delivery_new(k, "demo", t0 + 400, 0);
    assert_int_equal(vg_kout_send(k, d, &o), 0);
    assert_int_equal(wait_for(d, 5000), VG_DELIVERY_TIMEOUT);
    int64_t took = vg_mono_ms() - t0;
    if (took < 390 || took > 1500)
        fail_msg("timed out after %lld ms for a 400 ms deadline", (long long)took);
    vg_delivery_release(d);
    assert_int_equal(vg_kout_flush(k, 10000), 0); /* then it gets through */
    assert_int_equal(messages_on_events(k), 2);
    vg_outbox_free(&o);
    vg_kout_free(k);
}

static void test_fatal_error_stops_production(void **state)
{
    struct vg_kout *k = kout_new();
    char why[256];
    assert_int_equal(vg_kout_fatal(k, why, sizeof(why)), 0);
    assert_int_equal(rd_kafka_test_fatal_error(vg_kout_handle(k),
                                               RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER,
                                               "injected by test_kafka_out"),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
    int64_t deadline = vg_mono_ms() + 5000;
    while (!vg_kout_fatal(k, why, sizeof(why)) && vg_mono_ms() < deadline)
        vg_sleep_ms(10, NULL);
    if (!vg_kout_fatal(k, why, sizeof(why)))
        fail_msg("the fatal error was not noticed");
    assert_non_null(strstr(why, "OUT_OF_ORDER_SEQUENCE_NUMBER"));
    assert_int_equal(vg_kout_ready(k, why, sizeof(why)), 0);
    struct vg_outbox o = {0};
    fill(&o, 1, VG_TOPIC_EVENTS);
    struct vg_delivery *d = vg_delivery_new(k, "demo", vg_mono_ms() + 1000, 0);
    assert_int_equal(vg_kout_send(k, d, &o), VG_EKAFKA);
    vg_delivery_release(d);
    vg_outbox_free(&o);
    vg_kout_flush(k, 100);
    vg_kout_free(k);
}

static void test_wake_all_releases_every_waiter(void **state)
{
    struct vg_kout *k = kout_new();
    rd_kafka_mock_cluster_t *mc = rd_kafka_handle_mock_cluster(vg_kout_handle(k));
    assert_int_equal(rd_kafka_mock_broker_set_down(mc, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
    struct vg_outbox o = {0};
    fill(&o, 2, VG_TOPIC_HEARTBEATS);
    struct waiter w = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
    struct vg_delivery *d = vg_delivery_new(k, "demo", vg_mono_ms() + 60000, 0);
    assert_int_equal(vg_kout_send(k, d, &o), 0);
    assert_int_equal(vg_delivery_wait(d, arm, wake, &w), 0);
    vg_kout_wake_all(k);
    assert_int_equal(w.woken, 1);
    assert_int_equal(vg_delivery_result(d, NULL, 0), VG_DELIVERY_TIMEOUT);
    vg_delivery_release(d);
    vg_kout_flush(k, 100);
    vg_outbox_free(&o);
    vg_kout_free(k);
}

static void test_readiness_never_blocks_the_caller_when_the_broker_is_gone(void **state)
{
    /* /readyz runs on an HTTP thread: it reads what the poll thread last
     * found, and never makes the (blocking) metadata request itself. */
    struct vg_kout *k = kout_new();
    rd_kafka_mock_cluster_t *mc = rd_kafka_handle_mock_cluster(vg_kout_handle(k));
    assert_non_null(mc);
    char reason[256];
    int ready = 0;
    for (int64_t until = vg_mono_ms() + 5000; !ready && vg_mono_ms() < until;)
        ready = vg_kout_ready(k, reason, sizeof(reason));
    assert_int_equal(ready, 1);
    assert_int_equal(rd_kafka_mock_broker_set_down(mc, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
    int64_t slowest = 0, t_end = vg_mono_ms() + 3500;
    while (vg_mono_ms() < t_end) {
        int64_t t0 = vg_mono_ms();
        ready = vg_kout_ready(k, reason, sizeof(reason));
        slowest = VG_MAX(slowest, vg_mono_ms() - t0);
        vg_sleep_ms(20, NULL);
    }
    if (slowest > 100)
        fail_msg("a readiness check blocked its caller for %lld ms", (long long)slowest);
    if (ready)
        fail_msg("still ready 3.5 s after the only broker went down");
    assert_int_equal(rd_kafka_mock_broker_set_up(mc, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
    vg_kout_free(k);
}

static int setup(void **state)
{
    char err[512];
    setenv("VIGIL_KAFKA_PROPERTIES", "test.mock.num.brokers=1", 1);
    setenv("VIGIL_PRODUCER_QUEUE_MAX_MESSAGES", "100", 1);
    setenv("VIGIL_LOG_LEVEL", "error", 1);
    if (vg_config_load(NULL, &cfg, err, sizeof(err))) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    vg_log_level = cfg->log_level;
    vg_stats_init();
    return 0;
}

static int teardown(void **state)
{
    vg_config_free(cfg);
    vg_metrics_reset();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_durable_delivery_settles_ok),
        cmocka_unit_test(test_queue_bound_refuses_a_whole_batch),
        cmocka_unit_test(test_deadline_wakes_a_waiter_when_the_broker_is_gone),
        cmocka_unit_test(test_retried_produce_errors_deliver_each_message_once),
        cmocka_unit_test(test_a_produce_error_that_retries_cannot_fix_fails_the_request),
        cmocka_unit_test(test_a_slow_broker_times_the_request_out_at_its_deadline),
        cmocka_unit_test(test_fatal_error_stops_production),
        cmocka_unit_test(test_wake_all_releases_every_waiter),
        cmocka_unit_test(test_readiness_never_blocks_the_caller_when_the_broker_is_gone),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
