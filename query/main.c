/*
 * vigil-query: the read API (DESIGN.md section 10).
 *
 * Wires the PostgreSQL pool (pool.c), the one LISTEN connection
 * (listener.c), the cache (cache.c) and the HTTP server (server.c), then
 * waits for SIGTERM. It reads PostgreSQL and never Kafka; replicas share
 * nothing but the database and, if configured, Redis.
 */
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "cache.h"
#include "listener.h"
#include "log.h"
#include "pool.h"
#include "qstats.h"
#include "server.h"
#include "signals.h"
#include "sql.h"
#include "util.h"

int main(int argc, char **argv)
{
    struct vg_app app;
    int rc = vg_app_init(&app, "query", argc, argv, NULL);
    if (rc)
        return rc < 0 ? 0 : rc;
    const struct vg_config *cfg = app.cfg;
    vg_qstats_init();

    char err[512];
    struct vg_qenv env = {.cfg = cfg};
    env.cache = vg_cache_new(cfg->query_cache_entries, cfg->query_cache_max_staleness_ms,
                             cfg->query_redis_url, cfg->query_redis_timeout_ms,
                             (int)cfg->query_pool_size, err, sizeof(err));
    if (!env.cache) {
        vg_error("%s", err);
        vg_app_free(&app);
        return 1;
    }
    if (cfg->token_secret && *cfg->token_secret) {
        env.token_secret = (const unsigned char *)cfg->token_secret;
        env.token_secret_len = strlen(cfg->token_secret);
    } else {
        vg_warn("security.token_secret is not set (VIGIL_TOKEN_SECRET): session tokens are "
                "refused");
    }
    env.pool = vg_qpool_new(cfg->database_url, (int)cfg->query_pool_size,
                            cfg->query_pool_wait_ms, cfg->query_statement_timeout_ms, vg_qsql,
                            vg_qsql_count);
    /* Confirmed four times within the staleness bound (listener.h). */
    int64_t confirm_ms = VG_MAX(cfg->query_cache_max_staleness_ms / 4, 50);
    env.listener = vg_listener_start(cfg->database_url, cfg->worker_group,
                                     VG_MIN(confirm_ms, 1000));
    struct vg_qserver *srv = vg_qserver_start(&env, err, sizeof(err));
    if (!srv) {
        vg_error("%s", err);
        rc = 1;
    } else {
        vg_info("query listening on %s:%d (pool %lld, cache %s%s, staleness bound %lld ms)",
                cfg->query_listen, vg_qserver_port(srv), (long long)cfg->query_pool_size,
                cfg->query_cache_entries > 0 ? "in-process" : "off",
                *cfg->query_redis_url ? " + redis" : "",
                (long long)cfg->query_cache_max_staleness_ms);
        while (!vg_stop_requested)
            vg_sleep_ms(200, &vg_stop_requested);
        vg_info("query stopping");
    }
    vg_qserver_stop(srv);
    vg_listener_stop(env.listener);
    vg_qpool_free(env.pool);
    vg_cache_free(env.cache);
    vg_app_free(&app);
    return rc;
}
