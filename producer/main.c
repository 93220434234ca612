/*
 * vigil-producer: authenticated HTTP ingestion into Kafka (DESIGN.md section 4).
 *
 * Wires the Kafka producer (kafka_out.c) to the HTTP server (server.c), then
 * waits for SIGTERM, SIGHUP or a fatal Kafka error. Shutdown: stop accepting,
 * answer the requests in flight (each bounded by producer.ack_timeout_ms),
 * flush Kafka, report what is left, exit 0 only if nothing acknowledged to a
 * client was lost.
 */
#include <stdlib.h>

#include "app.h"
#include "kafka_out.h"
#include "log.h"
#include "server.h"
#include "signals.h"
#include "service.h"
#include "stats.h"
#include "util.h"

#define FLUSH_TIMEOUT_MS 10000
#define DRAIN_SLACK_MS 2000

int main(int argc, char **argv)
{
    struct vg_app app;
    int rc = vg_app_init(&app, "producer", argc, argv, NULL);
    if (rc)
        return rc < 0 ? 0 : rc;
    char err[512];
    if (vg_config_require_secrets(app.cfg, VG_NEED_TOKEN_SECRET, err, sizeof(err))) {
        vg_error("refusing to start: %s (session tokens are signed with it)", err);
        vg_app_free(&app);
        return 1;
    }
    vg_stats_init();
    vg_stats_tenants(app.cfg);

    struct vg_kout *kout = vg_kout_new(app.cfg, err, sizeof(err));
    if (!kout) {
        vg_error("kafka producer: %s", err);
        vg_app_free(&app);
        return 1;
    }
    struct vg_server *srv = vg_server_start(app.cfg, kout, err, sizeof(err));
    if (!srv) {
        vg_error("%s", err);
        vg_kout_free(kout);
        vg_app_free(&app);
        return 1;
    }
    vg_info("producer listening on %s:%d, /metrics on %s:%lld (brokers %s, %lld threads, ack "
            "timeout %lld ms)",
            app.cfg->producer_listen, vg_server_port(srv), app.cfg->producer_metrics_listen,
            (long long)app.cfg->producer_metrics_port, app.cfg->kafka_brokers,
            (long long)app.cfg->producer_threads, (long long)app.cfg->producer_ack_timeout_ms);

    int status = 0;
    vg_service_ready("accepting events");
    while (!vg_stop_requested) {
        vg_service_watchdog();
        vg_sleep_ms(100, &vg_stop_requested);
        if (vg_reload_requested) {
            vg_reload_requested = 0;
            vg_service_reloading();
            struct vg_config *old;
            if (vg_app_reload(&app, &old)) {
                vg_stats_tenants(app.cfg);
                vg_server_set_config(srv, app.cfg, old);
            }
            vg_service_ready("accepting events");
        }
        if (vg_kout_fatal(kout, err, sizeof(err))) {
            vg_error("kafka producer fatal error, shutting down: %s", err);
            status = 1;
            break;
        }
    }

    vg_info("producer stopping: no new connections, answering requests in flight");
    vg_service_stopping();
    vg_server_quiesce(srv);
    int64_t grace = vg_mono_ms() + app.cfg->producer_ack_timeout_ms + DRAIN_SLACK_MS;
    int left = vg_server_drain(srv, grace);
    if (left) {
        vg_warn("%d requests still in flight after the grace period: answering 503", left);
        vg_kout_wake_all(kout);
        vg_server_drain(srv, vg_mono_ms() + DRAIN_SLACK_MS);
    }
    int unflushed = vg_kout_flush(kout, FLUSH_TIMEOUT_MS);
    vg_server_stop(srv);
    uint64_t lost = vg_kout_lost(kout);
    vg_kout_free(kout);
    if (unflushed || lost) {
        vg_error("producer stopped with %d messages not flushed and %llu lost after an "
                 "asynchronous answer",
                 unflushed, (unsigned long long)lost);
        status = 1;
    } else {
        vg_info("producer stopped: every message delivered");
    }
    vg_app_free(&app);
    return status;
}
