/*
 * vigil-query: the read API (DESIGN.md section 10).
 *
 * Wires the PostgreSQL pool (pool.c), the one LISTEN connection
 * (listener.c), the cache (cache.c) and the HTTP server (server.c), then
 * waits for SIGTERM. It reads PostgreSQL and never Kafka; replicas share
 * nothing but the database and, if configured, Redis. SIGHUP reloads the
 * tenants, their keys, query.admin_keys_sha256, query.max_wait_ms and the
 * log level; requests in flight finish on the configuration they began
 * with. Every other query setting is read at start: a change to one is
 * logged as needing a restart.
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
#include "service.h"
#include "signals.h"
#include "sql.h"
#include "util.h"

/* The settings of vigil-query read at start only (vg_config_log_restart_needed). */
static const char *const start_only[] = {"query.", "database.", "security.token_secret",
                                         "worker.group", NULL};

/* SIGHUP: a good file becomes the configuration of new requests; a bad one
 * is logged and the old one kept (vg_app_reload). */
static void reload(struct vg_app *app, struct vg_cfgsnaps *snaps)
{
    vg_reload_requested = 0;
    vg_service_reloading();
    struct vg_config *old;
    if (vg_app_reload(app, &old)) {
        vg_config_log_restart_needed(old, app->cfg, start_only);
        vg_cfgsnaps_set(snaps, app->cfg, old);
    }
    vg_service_ready("serving reads");
}

int main(int argc, char **argv)
{
    struct vg_app app;
    int rc = vg_app_init(&app, "query", argc, argv, NULL);
    if (rc)
        return rc < 0 ? 0 : rc;
    const struct vg_config *cfg = app.cfg;
    vg_qstats_init();

    char err[512];
    struct vg_qenv env = {.snaps = vg_cfgsnaps_new(cfg),
                          .worker_group = vg_xstrdup(cfg->worker_group),
                          .max_staleness_ms = cfg->query_cache_max_staleness_ms};
    env.cache = vg_cache_new(cfg->query_cache_entries, cfg->query_cache_max_staleness_ms,
                             cfg->query_redis_url, cfg->query_redis_timeout_ms,
                             (int)cfg->query_pool_size, err, sizeof(err));
    if (!env.cache) {
        vg_error("%s", err);
        vg_cfgsnaps_free(env.snaps);
        free((char *)env.worker_group);
        vg_app_free(&app);
        return 1;
    }
    if (cfg->token_secret && *cfg->token_secret) {
        /* A copy: the first reload frees cfg once no request uses it. */
        env.token_secret = (const unsigned char *)vg_xstrdup(cfg->token_secret);
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
    struct vg_qserver *srv = vg_qserver_start(&env, cfg, err, sizeof(err));
    if (!srv) {
        vg_error("%s", err);
        rc = 1;
    } else {
        vg_info("query listening on %s:%d (pool %lld, cache %s%s, staleness bound %lld ms)",
                cfg->query_listen, vg_qserver_port(srv), (long long)cfg->query_pool_size,
                cfg->query_cache_entries > 0 ? "in-process" : "off",
                *cfg->query_redis_url ? " + redis" : "",
                (long long)cfg->query_cache_max_staleness_ms);
        vg_service_ready("serving reads");
        while (!vg_stop_requested) {
            vg_service_watchdog();
            vg_sleep_ms(200, &vg_stop_requested);
            if (vg_reload_requested)
                reload(&app, env.snaps);
        }
        vg_info("query stopping");
        vg_service_stopping();
    }
    vg_qserver_stop(srv);
    vg_listener_stop(env.listener);
    vg_qpool_free(env.pool);
    vg_cache_free(env.cache);
    vg_cfgsnaps_free(env.snaps);
    if (env.token_secret) {
        memset((void *)env.token_secret, 0, env.token_secret_len);
        free((void *)env.token_secret);
    }
    free((char *)env.worker_group);
    vg_app_free(&app);
    return rc;
}
