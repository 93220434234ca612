/*
 * config.h - the one configuration of every Vigil program.
 *
 * One libconfig file serves the producer, the workers, the scheduler and
 * vigilctl; each reads its own section. Every setting is declared once in the
 * table in config.c (name, type, field, default, bounds, environment variable,
 * help); loading, validation, environment overrides and --help all read it.
 */
#ifndef VG_CONFIG_H
#define VG_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "err.h"
#include "notify.h"

#ifndef VG_SHA256_LEN
#define VG_SHA256_LEN 32
#endif

/* A tenant of the producer: who may send, how fast, from which origins. */
struct vg_tenant {
    char *id;
    unsigned char (*keys)[VG_SHA256_LEN]; /* SHA-256 of each accepted bearer key */
    size_t nkeys;
    double rate_per_s; /* token bucket refill, events per second */
    int64_t burst;     /* token bucket size */
    char **origins;    /* CORS origins; a trailing ":*" matches any port */
    size_t norigins;
    char **redirect_hosts; /* hosts that /t/{token} may redirect to */
    size_t nredirect_hosts;
    struct vg_notify *notify; /* where its session summaries go (notify.h) */
    size_t nnotify;
    /* Enrichment of events' context (producer/enrich.h). */
    int enrich_ip;         /* the client's address into context.ip (default on) */
    int enrich_user_agent; /* User-Agent into context.userAgent (default on) */
    int truncate_ip;       /* addresses cut to IPv4 /24, IPv6 /48 (default off) */
    /* Publishable keys: for pages without a backend (DESIGN.md section 12). */
    unsigned char (*pkeys)[VG_SHA256_LEN]; /* SHA-256 of each publishable key */
    size_t npkeys;
    double pk_rate_per_s; /* per client address, events per second */
    int64_t pk_burst;
    int link_page; /* /t/{token} answers the tracking page, not a bare redirect */
};

/* A scheduler entry: a five-field UTC cron expression and the command it emits. */
struct vg_schedule {
    char *name;
    char *cron;
    char *command;
    char *params_json; /* a JSON object, never NULL */
    int dry_run;
};

/* A list of SHA-256 key hashes (query.admin_keys_sha256). */
struct vg_keys {
    unsigned char (*sha256)[VG_SHA256_LEN];
    size_t n;
};

/* A librdkafka property passed through untouched (TLS, SASL, tuning). */
struct vg_kafka_prop {
    char *name;
    char *value;
};

struct vg_config {
    char *path; /* the file it was read from, or NULL for defaults only */

    int log_level;

    char *kafka_brokers;
    char *topic_events, *topic_heartbeats, *topic_commands, *topic_summaries, *topic_dlq;
    int64_t partitions_events, partitions_heartbeats, partitions_commands;
    int64_t partitions_summaries, partitions_dlq;
    int64_t replication_factor;
    struct vg_kafka_prop *kafka_props;
    size_t nkafka_props;

    char *database_url;

    char *command_secret;
    char *token_secret;

    char *producer_listen;
    int64_t producer_port;
    int64_t producer_threads;
    int64_t producer_max_body_bytes;
    int64_t producer_max_event_bytes;
    int64_t producer_max_batch_events;
    int64_t producer_ack_timeout_ms;
    int64_t producer_linger_ms;
    int64_t producer_queue_max_messages;
    int64_t producer_connection_limit;
    int64_t producer_connection_timeout_s;
    int64_t producer_header_timeout_s;
    int64_t producer_per_address_connection_limit;
    int64_t producer_inflight_body_bytes;
    int64_t producer_rate_per_address_per_s, producer_burst_per_address;
    int64_t producer_rate_per_session_per_s, producer_burst_per_session;
    char *producer_metrics_listen;
    int64_t producer_metrics_port;
    int64_t producer_token_ttl_s;
    char *producer_trusted_proxies; /* "addr[/bits], ...": whose X-Forwarded-For counts */
    struct vg_tenant *tenants;
    size_t ntenants;

    char *worker_id;
    char *worker_group;
    char *worker_listen;
    int64_t worker_http_port;
    int64_t batch_max_messages;
    int64_t batch_max_ms;
    int64_t worker_summary_last_events;
    int64_t worker_summary_delay_ms;
    int64_t worker_idle_tx_timeout_ms;
    int64_t worker_kafka_ack_timeout_ms;
    int64_t worker_command_max_age_s;
    int64_t worker_command_max_skew_s;

    char *notifier_id;
    char *notifier_group;
    char *notifier_listen;
    int64_t notifier_http_port;
    int64_t notifier_batch_max_messages;
    int64_t notifier_batch_max_ms;
    int64_t notifier_max_attempts;
    int64_t notifier_max_age_s;
    int64_t notifier_max_summary_age_s;
    int64_t notifier_timeout_ms;
    int64_t notifier_backoff_base_ms;
    int64_t notifier_backoff_max_ms;
    int64_t notifier_concurrency;
    int64_t notifier_per_destination;

    char *scheduler_listen;
    int64_t scheduler_http_port;
    int64_t scheduler_catchup_s;
    struct vg_schedule *schedules;
    size_t nschedules;

    char *query_listen;
    int64_t query_port;
    int64_t query_connection_limit;
    int64_t query_threads;
    int64_t query_pool_size;
    int64_t query_pool_wait_ms;
    int64_t query_statement_timeout_ms;
    int64_t query_max_wait_ms;
    struct vg_keys query_admin_keys;
    char *query_redis_url;
    int64_t query_redis_timeout_ms;
    int64_t query_cache_max_staleness_ms;
    int64_t query_cache_entries;
};

/*
 * Reads path (NULL: defaults only), then applies VIGIL_* environment overrides
 * and validates. On success returns 0 and a new config in *out, freed with
 * vg_config_free(). On failure returns VG_ECONFIG and writes one line naming
 * the file, line and setting (or the environment variable) into errstr.
 */
int vg_config_load(const char *path, struct vg_config **out, char *errstr,
                   size_t errstr_size) VG_MUSTCHECK;

/* Frees a config; accepts NULL. */
void vg_config_free(struct vg_config *cfg);

/* The tenant with this id, or NULL. */
const struct vg_tenant *vg_config_tenant(const struct vg_config *cfg, const char *id);

/*
 * After a reload: warns once for each setting whose name begins with one of
 * prefixes (NULL-terminated, e.g. "query.", "database.") that changed in the
 * file but is read at start only, so needs a restart. The value is never
 * logged (it may be a secret). Returns how many there were.
 */
size_t vg_config_log_restart_needed(const struct vg_config *old, const struct vg_config *cfg,
                                    const char *const *prefixes);

/* Prints every setting with its type, default, environment variable and help. */
void vg_config_print_help(FILE *out);

/* Number of declared settings, and the i-th one's dotted name (for tests and docs). */
size_t vg_config_setting_count(void);
const char *vg_config_setting_name(size_t i);

/* The secrets a program needs (vg_config_require_secrets). */
#define VG_NEED_COMMAND_SECRET 1 /* security.command_secret */
#define VG_NEED_TOKEN_SECRET   2 /* security.token_secret */

/* The shortest secret accepted, in bytes (DESIGN.md section 3). */
#define VG_SECRET_MIN_BYTES 32

/*
 * Checks one secret's value: NULL or empty is VG_ENOTFOUND; shorter than
 * VG_SECRET_MIN_BYTES, or a placeholder ("CHANGE-ME...", "changeme",
 * "replace-me", "openssl rand", a value of a few repeated characters) is
 * VG_EINVAL. errstr then says why, naming the setting as label (e.g.
 * "security.token_secret (VIGIL_TOKEN_SECRET)"), never the value. Returns 0
 * for a usable secret.
 */
int vg_config_check_secret(const char *label, const char *value, char *errstr,
                           size_t errstr_size) VG_MUSTCHECK;

/*
 * The one start-up check of every program's secrets: each secret that is set
 * must pass vg_config_check_secret(), and each one named in needs (a mask of
 * VG_NEED_*) must be set. vg_config_load() already refuses a bad secret that
 * is set; this adds the ones a program cannot run without. Returns 0, or
 * VG_ECONFIG with errstr naming the setting and its environment variable.
 */
int vg_config_require_secrets(const struct vg_config *cfg, int needs, char *errstr,
                              size_t errstr_size) VG_MUSTCHECK;

/* Writes "\"secret\"" as "(set)" or "(unset)": what a log may say of a secret. */
const char *vg_config_secret_state(const char *secret);

#endif
