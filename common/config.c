/*
 * config.c - the settings table and everything that reads it.
 */
#include "config.h"

#include <ctype.h>
#include <jansson.h>
#include <libconfig.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "envelope.h"
#include "log.h"
#include "util.h"

enum ctype { CT_STRING, CT_INT, CT_BOOL, CT_LEVEL, CT_PROPS, CT_KEYS, CT_TENANTS, CT_SCHEDULES };

#define F_SECRET 1     /* never printed */
#define F_RELOADABLE 2 /* takes effect on SIGHUP */

struct setting {
    const char *name; /* dotted path in the file */
    enum ctype type;
    size_t off;      /* field in struct vg_config */
    const char *def; /* default, parsed like an environment value; NULL = none */
    int64_t min, max;
    const char *env; /* NULL: VIGIL_ + the name upper-cased, dots as underscores */
    int flags;
    const char *help;
};

#define OFF(f) offsetof(struct vg_config, f)
#define NOENV "" /* lists come from the file only */

static const struct setting settings[] = {
    {"log.level", CT_LEVEL, OFF(log_level), "info", 0, 0, NULL, F_RELOADABLE,
     "error, warn, info or debug"},

    {"kafka.brokers", CT_STRING, OFF(kafka_brokers), "127.0.0.1:59092", 0, 0, NULL, 0,
     "bootstrap servers, host:port[,host:port...]"},
    {"kafka.topics.events", CT_STRING, OFF(topic_events), "vigil.events", 0, 0, NULL, 0,
     "tracking events"},
    {"kafka.topics.heartbeats", CT_STRING, OFF(topic_heartbeats), "vigil.heartbeats", 0, 0,
     NULL, 0, "session signals: start, heartbeat, activate, end"},
    {"kafka.topics.commands", CT_STRING, OFF(topic_commands), "vigil.commands", 0, 0, NULL, 0,
     "signed scheduler commands"},
    {"kafka.topics.summaries", CT_STRING, OFF(topic_summaries), "vigil.summaries", 0, 0, NULL,
     0, "one summary per ended session"},
    {"kafka.topics.dlq", CT_STRING, OFF(topic_dlq), "vigil.dlq", 0, 0, NULL, 0,
     "messages a worker refused, with the reason in headers"},
    {"kafka.partitions.events", CT_INT, OFF(partitions_events), "6", 1, 1024, NULL, 0,
     "partitions created for the events topic (bounds the worker count)"},
    {"kafka.partitions.heartbeats", CT_INT, OFF(partitions_heartbeats), "6", 1, 1024, NULL, 0,
     "partitions created for the heartbeats topic"},
    {"kafka.partitions.commands", CT_INT, OFF(partitions_commands), "1", 1, 1024, NULL, 0,
     "partitions created for the commands topic"},
    {"kafka.partitions.summaries", CT_INT, OFF(partitions_summaries), "3", 1, 1024, NULL, 0,
     "partitions created for the summaries topic"},
    {"kafka.partitions.dlq", CT_INT, OFF(partitions_dlq), "1", 1, 1024, NULL, 0,
     "partitions created for the dead-letter topic"},
    {"kafka.replication_factor", CT_INT, OFF(replication_factor), "1", 1, 16, NULL, 0,
     "replication factor of created topics"},
    {"kafka.properties", CT_PROPS, 0, NULL, 0, 0, NULL, 0,
     "librdkafka properties passed through, \"name=value\" (env: ';'-separated)"},

    {"database.url", CT_STRING, OFF(database_url), "postgresql://vigil@127.0.0.1:55432/vigil",
     0, 0, NULL, F_SECRET, "libpq connection URI"},

    {"security.command_secret", CT_STRING, OFF(command_secret), NULL, 0, 0,
     "VIGIL_COMMAND_SECRET", F_SECRET, "HMAC-SHA256 key signing scheduler commands"},
    {"security.token_secret", CT_STRING, OFF(token_secret), NULL, 0, 0, "VIGIL_TOKEN_SECRET",
     F_SECRET, "HMAC-SHA256 key signing session tokens"},

    {"producer.listen", CT_STRING, OFF(producer_listen), "127.0.0.1", 0, 0, NULL, 0,
     "address the HTTP API listens on"},
    {"producer.port", CT_INT, OFF(producer_port), "8080", 1, 65535, NULL, 0,
     "HTTP API port (/healthz and /readyz too; /metrics is on producer.metrics_port)"},
    {"producer.threads", CT_INT, OFF(producer_threads), "4", 1, 256, NULL, 0,
     "HTTP worker threads"},
    {"producer.max_body_bytes", CT_INT, OFF(producer_max_body_bytes), "1048576", 1024,
     64 << 20, NULL, 0, "largest request body accepted (413 beyond)"},
    {"producer.max_event_bytes", CT_INT, OFF(producer_max_event_bytes), "65536", 256, 1 << 20,
     NULL, 0, "largest single event accepted (413 beyond)"},
    {"producer.max_batch_events", CT_INT, OFF(producer_max_batch_events), "1000", 1, 100000,
     NULL, 0, "most events in one request"},
    {"producer.ack_timeout_ms", CT_INT, OFF(producer_ack_timeout_ms), "5000", 100, 120000,
     NULL, 0, "how long a durable request waits for Kafka before 503"},
    {"producer.linger_ms", CT_INT, OFF(producer_linger_ms), "5", 0, 1000, NULL, 0,
     "librdkafka linger.ms"},
    {"producer.queue_max_messages", CT_INT, OFF(producer_queue_max_messages), "100000", 100,
     10000000, NULL, 0, "local producer queue bound (503 when full)"},
    {"producer.connection_limit", CT_INT, OFF(producer_connection_limit), "1024", 1, 100000,
     NULL, 0, "concurrent HTTP connections"},
    {"producer.connection_timeout_s", CT_INT, OFF(producer_connection_timeout_s), "30", 1, 3600,
     NULL, 0, "idle or slow connections are closed after this"},
    {"producer.header_timeout_s", CT_INT, OFF(producer_header_timeout_s), "10", 1, 3600, NULL, 0,
     "a connection's header block must be in this long after it opened (or "
     "producer.connection_timeout_s if that is shorter); then its body has "
     "producer.connection_timeout_s"},
    {"producer.per_address_connection_limit", CT_INT, OFF(producer_per_address_connection_limit),
     "128", 1, 100000, NULL, 0,
     "concurrent HTTP connections from one client address (more are closed at once)"},
    {"producer.inflight_body_bytes", CT_INT, OFF(producer_inflight_body_bytes), "268435456",
     1024, 1LL << 40, NULL, 0,
     "request bodies being read at once, in bytes, across every connection (a chunked body "
     "counts as producer.max_body_bytes); past it, 503 with Retry-After"},
    {"producer.rate_per_address_per_s", CT_INT, OFF(producer_rate_per_address_per_s), "2000", 1,
     10000000, NULL, 0, "requests per second from one client address (429 beyond)"},
    {"producer.burst_per_address", CT_INT, OFF(producer_burst_per_address), "10000", 1,
     100000000, NULL, 0, "requests one client address may send at once"},
    {"producer.rate_per_session_per_s", CT_INT, OFF(producer_rate_per_session_per_s), "20", 1,
     10000000, NULL, 0,
     "requests per second with one session token (a browser), besides its tenant's rate"},
    {"producer.burst_per_session", CT_INT, OFF(producer_burst_per_session), "200", 1, 100000000,
     NULL, 0, "requests one session token may send at once"},
    {"producer.metrics_listen", CT_STRING, OFF(producer_metrics_listen), "127.0.0.1", 0, 0, NULL,
     0, "address of the internal listener of /metrics, /healthz and /readyz"},
    {"producer.metrics_port", CT_INT, OFF(producer_metrics_port), "9102", 0, 65535, NULL, 0,
     "port of the internal listener (0: any free port); /metrics, whose series name the "
     "tenants, is served there and never on producer.port"},
    {"producer.token_ttl_s", CT_INT, OFF(producer_token_ttl_s), "86400", 60, 31536000, NULL, 0,
     "lifetime of a session token when the session has no expires_at"},
    {"producer.trusted_proxies", CT_STRING, OFF(producer_trusted_proxies), "", 0, 0, NULL, 0,
     "proxies whose X-Forwarded-For names the client, \"addr[/bits], ...\" (default none)"},
    {"producer.tenants", CT_TENANTS, 0, NULL, 0, 0, NOENV, F_RELOADABLE,
     "tenants: id, keys_sha256, publishable_keys_sha256, rate_per_s, burst, "
     "publishable_rate_per_s, publishable_burst, origins, redirect_hosts, link_page, enrich_ip, "
     "enrich_user_agent, truncate_ip, notify"},

    {"worker.id", CT_STRING, OFF(worker_id), "", 0, 0, NULL, 0,
     "this worker's name in logs and ops tables (default: host name and pid)"},
    {"worker.group", CT_STRING, OFF(worker_group), "vigil-workers", 0, 0, NULL, 0,
     "Kafka consumer group and key of ops.consumer_offsets"},
    {"worker.listen", CT_STRING, OFF(worker_listen), "127.0.0.1", 0, 0, NULL, 0,
     "address of the health and metrics server"},
    {"worker.http_port", CT_INT, OFF(worker_http_port), "9111", 1, 65535, NULL, 0,
     "port of the health and metrics server"},
    {"worker.batch.max_messages", CT_INT, OFF(batch_max_messages), "2000", 1, 1000000, NULL, 0,
     "a batch closes at this many messages"},
    {"worker.batch.max_ms", CT_INT, OFF(batch_max_ms), "50", 1, 60000, NULL, 0,
     "or this many milliseconds after its first message"},
    {"worker.summary_last_events", CT_INT, OFF(worker_summary_last_events), "10", 0, 1000, NULL,
     0, "events listed in a session summary"},
    {"worker.summary_delay_ms", CT_INT, OFF(worker_summary_delay_ms), "2000", 0, 3600000, NULL,
     0, "a summary waits this long after the end, for signals still on their way"},
    {"worker.idle_tx_timeout_ms", CT_INT, OFF(worker_idle_tx_timeout_ms), "20000", 1000,
     3600000, NULL, 0,
     "the database ends a worker's transaction left idle this long (a stopped or hung worker), "
     "releasing its locks"},
    {"worker.kafka_ack_timeout_ms", CT_INT, OFF(worker_kafka_ack_timeout_ms), "10000", 100,
     20000, NULL, 0,
     "how long a worker waits for Kafka to acknowledge its dead letters and summaries; the wait "
     "is inside a transaction, so at most half of worker.idle_tx_timeout_ms (and at most 20 s: "
     "the worker must poll its consumer within max.poll.interval.ms, 60 s)"},
    {"worker.command_max_age_s", CT_INT, OFF(worker_command_max_age_s), "86400", 60, 31536000,
     NULL, 0,
     "a command issued longer ago than this is refused (to vigil.dlq): a captured command "
     "cannot be replayed later"},
    {"worker.command_max_skew_s", CT_INT, OFF(worker_command_max_skew_s), "300", 0, 86400, NULL,
     0, "a command issued later than now plus this is refused (clocks apart, or forged)"},

    {"notifier.id", CT_STRING, OFF(notifier_id), "", 0, 0, NULL, 0,
     "this notifier's name in logs and ops.deliveries (default: host name and pid)"},
    {"notifier.group", CT_STRING, OFF(notifier_group), "vigil-notifiers", 0, 0, NULL, 0,
     "Kafka consumer group over the summaries, and its key in ops.consumer_offsets"},
    {"notifier.listen", CT_STRING, OFF(notifier_listen), "127.0.0.1", 0, 0, NULL, 0,
     "address of the health and metrics server"},
    {"notifier.http_port", CT_INT, OFF(notifier_http_port), "9121", 1, 65535, NULL, 0,
     "port of the health and metrics server"},
    {"notifier.batch.max_messages", CT_INT, OFF(notifier_batch_max_messages), "500", 1, 100000,
     NULL, 0, "summaries recorded in one transaction, at most"},
    {"notifier.batch.max_ms", CT_INT, OFF(notifier_batch_max_ms), "100", 1, 60000, NULL, 0,
     "or this many milliseconds after the batch's first summary"},
    {"notifier.max_attempts", CT_INT, OFF(notifier_max_attempts), "12", 1, 1000, NULL, 0,
     "a delivery that failed this many times is dead"},
    {"notifier.max_age_s", CT_INT, OFF(notifier_max_age_s), "86400", 1, 31536000, NULL, 0,
     "a delivery still failing this long after it was recorded is dead"},
    {"notifier.max_summary_age_s", CT_INT, OFF(notifier_max_summary_age_s), "86400", 1,
     315360000, NULL, 0,
     "a summary of a session that ended longer ago is recorded as skipped, not sent (backfills)"},
    {"notifier.timeout_ms", CT_INT, OFF(notifier_timeout_ms), "10000", 100, 300000, NULL, 0,
     "the longest one webhook request or one e-mail may take"},
    {"notifier.backoff_base_ms", CT_INT, OFF(notifier_backoff_base_ms), "1000", 1, 3600000,
     NULL, 0, "retries wait up to base * 2^(attempt-1), with full jitter"},
    {"notifier.backoff_max_ms", CT_INT, OFF(notifier_backoff_max_ms), "600000", 1, 86400000,
     NULL, 0, "and never longer than this (a Retry-After may ask for longer)"},
    {"notifier.concurrency", CT_INT, OFF(notifier_concurrency), "64", 1, 4096, NULL, 0,
     "deliveries in flight at once"},
    {"notifier.per_destination", CT_INT, OFF(notifier_per_destination), "8", 1, 4096, NULL, 0,
     "deliveries in flight to one destination at once, so a slow one cannot take every slot"},

    {"scheduler.listen", CT_STRING, OFF(scheduler_listen), "127.0.0.1", 0, 0, NULL, 0,
     "address of the health and metrics server"},
    {"scheduler.http_port", CT_INT, OFF(scheduler_http_port), "9101", 1, 65535, NULL, 0,
     "port of the health and metrics server"},
    {"scheduler.catchup_s", CT_INT, OFF(scheduler_catchup_s), "300", 0, 86400, NULL, 0,
     "a slot missed while down is fired on start if this recent"},
    {"scheduler.schedules", CT_SCHEDULES, 0, NULL, 0, 0, NOENV, 0,
     "schedules: name, cron, command, params, dry_run"},

    {"query.listen", CT_STRING, OFF(query_listen), "127.0.0.1", 0, 0, NULL, 0,
     "address the read API listens on"},
    {"query.port", CT_INT, OFF(query_port), "8081", 1, 65535, NULL, 0,
     "read API port (dashboard, health and metrics too)"},
    {"query.connection_limit", CT_INT, OFF(query_connection_limit), "1024", 1, 100000, NULL, 0,
     "concurrent HTTP connections, waiting long-polls included (they hold no thread)"},
    {"query.threads", CT_INT, OFF(query_threads), "8", 1, 256, NULL, 0,
     "HTTP threads, each serving its connections (about the cores the process may use)"},
    {"query.pool_size", CT_INT, OFF(query_pool_size), "8", 1, 256, NULL, 0,
     "PostgreSQL connections of the pool"},
    {"query.pool_wait_ms", CT_INT, OFF(query_pool_wait_ms), "2000", 10, 60000, NULL, 0,
     "how long a request waits for a pooled connection before 503"},
    {"query.statement_timeout_ms", CT_INT, OFF(query_statement_timeout_ms), "5000", 100,
     600000, NULL, 0, "statement_timeout of the pool's connections"},
    {"query.max_wait_ms", CT_INT, OFF(query_max_wait_ms), "30000", 0, 300000, NULL,
     F_RELOADABLE, "longest ?wait_ms= of a long-poll (400 beyond)"},
    {"query.admin_keys_sha256", CT_KEYS, OFF(query_admin_keys), NULL, 0, 0, NULL, F_RELOADABLE,
     "SHA-256 (hex) of the keys that read every tenant (env: ','-separated)"},
    {"query.redis_url", CT_STRING, OFF(query_redis_url), "", 0, 0, NULL, 0,
     "redis://host:port[/db] of the shared cache; empty: in-process cache only"},
    {"query.redis_timeout_ms", CT_INT, OFF(query_redis_timeout_ms), "50", 1, 10000, NULL, 0,
     "connect and command timeout towards Redis (past it, PostgreSQL answers)"},
    {"query.cache.max_staleness_ms", CT_INT, OFF(query_cache_max_staleness_ms), "500", 0,
     60000, NULL, 0, "no cached answer is older than this; 0 turns the cache off"},
    {"query.cache.entries", CT_INT, OFF(query_cache_entries), "100000", 0, 10000000, NULL, 0,
     "sessions kept in the in-process cache; 0 turns it off (Redis alone)"},
};

/* -- errors ------------------------------------------------------------ */

struct ctx {
    const char *file;
    char *errstr;
    size_t errstr_size;
};

static int fail(struct ctx *c, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(struct ctx *c, int line, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (line > 0)
        snprintf(c->errstr, c->errstr_size, "%s:%d: %s", c->file, line, msg);
    else
        snprintf(c->errstr, c->errstr_size, "%s: %s", c->file, msg);
    return VG_ECONFIG;
}

/* -- values ------------------------------------------------------------ */

static void *field(struct vg_config *cfg, const struct setting *s)
{
    return (char *)cfg + s->off;
}

static void env_name(const struct setting *s, char *out, size_t size)
{
    if (s->env) {
        snprintf(out, size, "%s", s->env);
        return;
    }
    size_t n = (size_t)snprintf(out, size, "VIGIL_");
    for (const char *p = s->name; *p && n + 1 < size; p++)
        out[n++] = *p == '.' ? '_' : (char)toupper((unsigned char)*p);
    out[n] = '\0';
}

static int parse_bool(const char *v, int *out)
{
    if (!strcmp(v, "1") || !strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "on"))
        *out = 1;
    else if (!strcmp(v, "0") || !strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "off"))
        *out = 0;
    else
        return VG_EINVAL;
    return 0;
}

static void props_free(struct vg_config *cfg)
{
    for (size_t i = 0; i < cfg->nkafka_props; i++) {
        free(cfg->kafka_props[i].name);
        free(cfg->kafka_props[i].value);
    }
    free(cfg->kafka_props);
    cfg->kafka_props = NULL;
    cfg->nkafka_props = 0;
}

static int props_add(struct vg_config *cfg, const char *nv, size_t len, char *why, size_t whysz)
{
    const char *eq = memchr(nv, '=', len);
    if (!eq || eq == nv) {
        /* not quoted: the piece may be "sasl.password:..." */
        snprintf(why, whysz,
                 "piece %zu is not \"name=value\" (not shown: it may hold a secret)",
                 cfg->nkafka_props + 1);
        return VG_EINVAL;
    }
    cfg->kafka_props =
        vg_xrealloc(cfg->kafka_props, (cfg->nkafka_props + 1) * sizeof(*cfg->kafka_props));
    struct vg_kafka_prop *p = &cfg->kafka_props[cfg->nkafka_props++];
    p->name = vg_xstrndup(nv, (size_t)(eq - nv));
    p->value = vg_xstrndup(eq + 1, len - (size_t)(eq - nv) - 1);
    return 0;
}

static int is_hex64(const char *s)
{
    if (strlen(s) != 64)
        return 0;
    for (; *s; s++)
        if (!isxdigit((unsigned char)*s))
            return 0;
    return 1;
}

static int unhex(char c)
{
    return c <= '9' ? c - '0' : (tolower((unsigned char)c) - 'a' + 10);
}

/* Parses 64 hex digits into out; 0 or VG_EINVAL. */
static int parse_sha256_hex(const char *hex, size_t len, unsigned char out[VG_SHA256_LEN])
{
    char buf[65];
    if (len != 64)
        return VG_EINVAL;
    memcpy(buf, hex, 64);
    buf[64] = '\0';
    if (!is_hex64(buf))
        return VG_EINVAL;
    for (int b = 0; b < VG_SHA256_LEN; b++)
        out[b] = (unsigned char)(unhex(buf[2 * b]) << 4 | unhex(buf[2 * b + 1]));
    return 0;
}

static void keys_free(struct vg_keys *k)
{
    free(k->sha256);
    k->sha256 = NULL;
    k->n = 0;
}

static int keys_add(struct vg_keys *k, const char *hex, size_t len)
{
    unsigned char key[VG_SHA256_LEN];
    if (parse_sha256_hex(hex, len, key))
        return VG_EINVAL;
    k->sha256 = vg_xrealloc(k->sha256, (k->n + 1) * VG_SHA256_LEN);
    memcpy(k->sha256[k->n++], key, VG_SHA256_LEN);
    return 0;
}

/* Sets a scalar from its text form (defaults and the environment). */
static int set_text(struct vg_config *cfg, const struct setting *s, const char *v, char *why,
                    size_t whysz)
{
    switch (s->type) {
    case CT_STRING: {
        char **dst = field(cfg, s);
        free(*dst);
        *dst = vg_xstrdup(v);
        return 0;
    }
    case CT_INT: {
        int64_t n;
        if (vg_parse_int64(v, s->min, s->max, &n)) {
            snprintf(why, whysz, "must be an integer from %lld to %lld, got \"%.40s\"",
                     (long long)s->min, (long long)s->max, v);
            return VG_EINVAL;
        }
        *(int64_t *)field(cfg, s) = n;
        return 0;
    }
    case CT_BOOL: {
        int b;
        if (parse_bool(v, &b)) {
            snprintf(why, whysz, "must be true or false, got \"%.40s\"", v);
            return VG_EINVAL;
        }
        *(int *)field(cfg, s) = b;
        return 0;
    }
    case CT_LEVEL:
        if (vg_log_parse_level(v, field(cfg, s))) {
            snprintf(why, whysz, "must be error, warn, info or debug, got \"%.40s\"", v);
            return VG_EINVAL;
        }
        return 0;
    case CT_PROPS: {
        props_free(cfg);
        const char *p = v;
        while (*p) {
            size_t len = strcspn(p, ";");
            if (len > 0 && props_add(cfg, p, len, why, whysz))
                return VG_EINVAL;
            p += len;
            if (*p == ';')
                p++;
        }
        return 0;
    }
    case CT_KEYS: {
        struct vg_keys *k = field(cfg, s);
        keys_free(k);
        for (const char *p = v; *p;) {
            size_t len = strcspn(p, ",");
            if (len > 0 && keys_add(k, p, len)) {
                snprintf(why, whysz, "each key must be 64 hex digits (sha256sum of the key)");
                return VG_EINVAL;
            }
            p += len;
            if (*p == ',')
                p++;
        }
        return 0;
    }
    default:
        snprintf(why, whysz, "cannot be set from the environment");
        return VG_EINVAL;
    }
}

/* -- lists: tenants and schedules ------------------------------------- */

static int string_array(struct ctx *c, config_setting_t *arr, const char *what, char ***out,
                        size_t *n)
{
    if (!config_setting_is_array(arr) && !config_setting_is_list(arr))
        return fail(c, config_setting_source_line(arr), "%s: must be an array of strings", what);
    int len = config_setting_length(arr);
    *out = vg_xcalloc((size_t)len + 1, sizeof(char *));
    *n = 0;
    for (int i = 0; i < len; i++) {
        const char *v = config_setting_get_string_elem(arr, i);
        if (!v)
            return fail(c, config_setting_source_line(arr), "%s: element %d is not a string",
                        what, i);
        (*out)[(*n)++] = vg_xstrdup(v);
    }
    return 0;
}

/* A list of 64-hex-digit SHA-256 hashes (of keys) into *out, *n of them. */
static int key_hashes(struct ctx *c, config_setting_t *m, const char *what,
                      unsigned char (**out)[VG_SHA256_LEN], size_t *n)
{
    char **keys = NULL; /* left NULL when it is no array */
    size_t nk = 0;
    int ml = config_setting_source_line(m);
    int rc = string_array(c, m, what, &keys, &nk);
    if (rc == 0) {
        *out = vg_xcalloc(nk ? nk : 1, VG_SHA256_LEN);
        for (size_t k = 0; k < nk; k++) {
            if (!is_hex64(keys[k]) && rc == 0)
                rc = fail(c, ml, "%s: each key must be 64 hex digits (sha256sum of the key)",
                          what);
            for (int b = 0; rc == 0 && b < VG_SHA256_LEN; b++)
                (*out)[k][b] =
                    (unsigned char)(unhex(keys[k][2 * b]) << 4 | unhex(keys[k][2 * b + 1]));
        }
        *n = nk;
    }
    for (size_t k = 0; keys && keys[k]; k++)
        free(keys[k]);
    free(keys);
    return rc;
}

/* A token bucket's refill, events per second. */
static int rate(struct ctx *c, config_setting_t *m, const char *what, double *out)
{
    int ml = config_setting_source_line(m), type = config_setting_type(m);
    if (type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64 && type != CONFIG_TYPE_FLOAT)
        return fail(c, ml, "%s: must be a number", what);
    *out = type == CONFIG_TYPE_FLOAT ? config_setting_get_float(m)
                                     : (double)config_setting_get_int64(m);
    if (*out <= 0 || *out > 1e7)
        return fail(c, ml, "%s: must be in (0, 10000000]", what);
    return 0;
}

/* A token bucket's size. */
static int burst(struct ctx *c, config_setting_t *m, const char *what, int64_t *out)
{
    int ml = config_setting_source_line(m), type = config_setting_type(m);
    if (type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64)
        return fail(c, ml, "%s: must be an integer", what);
    *out = config_setting_get_int64(m);
    if (*out < 1 || *out > 100000000)
        return fail(c, ml, "%s: must be from 1 to 100000000", what);
    return 0;
}

static int parse_tenant(struct ctx *c, config_setting_t *g, struct vg_tenant *t)
{
    int line = config_setting_source_line(g);
    if (!config_setting_is_group(g))
        return fail(c, line, "producer.tenants: each tenant must be a group { id = ...; }");
    t->rate_per_s = 1000;
    t->burst = 2000;
    t->enrich_ip = t->enrich_user_agent = 1;
    t->pk_rate_per_s = 10;
    t->pk_burst = 100;
    for (int i = 0; i < config_setting_length(g); i++) {
        config_setting_t *m = config_setting_get_elem(g, (unsigned)i);
        const char *name = config_setting_name(m);
        int ml = config_setting_source_line(m);
        int type = config_setting_type(m);
        if (!strcmp(name, "id")) {
            const char *v = config_setting_get_string(m);
            if (!v || !vg_check_tenant(v, strlen(v)))
                return fail(c, ml, "producer.tenants.id: must match [a-z0-9_-]{1,%d}",
                            VG_TENANT_MAX);
            t->id = vg_xstrdup(v);
        } else if (!strcmp(name, "keys_sha256")) {
            int rc = key_hashes(c, m, "producer.tenants.keys_sha256", &t->keys, &t->nkeys);
            if (rc)
                return rc;
        } else if (!strcmp(name, "publishable_keys_sha256")) {
            int rc = key_hashes(c, m, "producer.tenants.publishable_keys_sha256", &t->pkeys,
                                &t->npkeys);
            if (rc)
                return rc;
        } else if (!strcmp(name, "publishable_rate_per_s")) {
            int rc = rate(c, m, "producer.tenants.publishable_rate_per_s", &t->pk_rate_per_s);
            if (rc)
                return rc;
        } else if (!strcmp(name, "publishable_burst")) {
            int rc = burst(c, m, "producer.tenants.publishable_burst", &t->pk_burst);
            if (rc)
                return rc;
        } else if (!strcmp(name, "link_page")) {
            if (type != CONFIG_TYPE_BOOL)
                return fail(c, ml, "producer.tenants.link_page: must be true or false");
            t->link_page = config_setting_get_bool(m);
        } else if (!strcmp(name, "rate_per_s")) {
            int rc = rate(c, m, "producer.tenants.rate_per_s", &t->rate_per_s);
            if (rc)
                return rc;
        } else if (!strcmp(name, "burst")) {
            int rc = burst(c, m, "producer.tenants.burst", &t->burst);
            if (rc)
                return rc;
        } else if (!strcmp(name, "origins")) {
            int rc = string_array(c, m, "producer.tenants.origins", &t->origins, &t->norigins);
            if (rc)
                return rc;
        } else if (!strcmp(name, "redirect_hosts")) {
            int rc = string_array(c, m, "producer.tenants.redirect_hosts", &t->redirect_hosts,
                                  &t->nredirect_hosts);
            if (rc)
                return rc;
        } else if (!strcmp(name, "notify")) {
            char why[256];
            int wl = ml;
            if (vg_notify_parse(m, &t->notify, &t->nnotify, &wl, why, sizeof(why)))
                return fail(c, wl, "producer.tenants.%s", why);
        } else if (!strcmp(name, "enrich_ip") || !strcmp(name, "enrich_user_agent") ||
                   !strcmp(name, "truncate_ip")) {
            if (type != CONFIG_TYPE_BOOL)
                return fail(c, ml, "producer.tenants.%s: must be true or false", name);
            int v = config_setting_get_bool(m);
            *(name[0] == 't' ? &t->truncate_ip : name[7] == 'i' ? &t->enrich_ip
                                                                : &t->enrich_user_agent) = v;
        } else {
            return fail(c, ml, "producer.tenants.%s: unknown setting", name);
        }
    }
    if (!t->id)
        return fail(c, line, "producer.tenants: a tenant has no id");
    vg_notify_set_tenant(t->notify, t->nnotify, t->id);
    return 0;
}

static int params_to_json(struct ctx *c, config_setting_t *g, char **out)
{
    if (!config_setting_is_group(g))
        return fail(c, config_setting_source_line(g),
                    "scheduler.schedules.params: must be a group { key = value; }");
    json_t *obj = json_object();
    for (int i = 0; i < config_setting_length(g); i++) {
        config_setting_t *m = config_setting_get_elem(g, (unsigned)i);
        json_t *v;
        switch (config_setting_type(m)) {
        case CONFIG_TYPE_INT:
        case CONFIG_TYPE_INT64:
            v = json_integer(config_setting_get_int64(m));
            break;
        case CONFIG_TYPE_FLOAT:
            v = json_real(config_setting_get_float(m));
            break;
        case CONFIG_TYPE_BOOL:
            v = json_boolean(config_setting_get_bool(m));
            break;
        case CONFIG_TYPE_STRING:
            v = json_string(config_setting_get_string(m));
            break;
        default:
            json_decref(obj);
            return fail(c, config_setting_source_line(m),
                        "scheduler.schedules.params.%s: must be a number, boolean or string",
                        config_setting_name(m));
        }
        json_object_set_new(obj, config_setting_name(m), v);
    }
    *out = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(obj);
    if (!*out)
        return fail(c, config_setting_source_line(g), "scheduler.schedules.params: not UTF-8");
    return 0;
}

static int parse_schedule(struct ctx *c, config_setting_t *g, struct vg_schedule *s)
{
    int line = config_setting_source_line(g);
    if (!config_setting_is_group(g))
        return fail(c, line, "scheduler.schedules: each schedule must be a group { name = ...; }");
    for (int i = 0; i < config_setting_length(g); i++) {
        config_setting_t *m = config_setting_get_elem(g, (unsigned)i);
        const char *name = config_setting_name(m);
        int ml = config_setting_source_line(m);
        char **dst = !strcmp(name, "name")      ? &s->name
                     : !strcmp(name, "cron")    ? &s->cron
                     : !strcmp(name, "command") ? &s->command
                                                : NULL;
        if (dst) {
            const char *v = config_setting_get_string(m);
            if (!v || !*v)
                return fail(c, ml, "scheduler.schedules.%s: must be a non-empty string", name);
            *dst = vg_xstrdup(v);
        } else if (!strcmp(name, "params")) {
            int rc = params_to_json(c, m, &s->params_json);
            if (rc)
                return rc;
        } else if (!strcmp(name, "dry_run")) {
            if (config_setting_type(m) != CONFIG_TYPE_BOOL)
                return fail(c, ml, "scheduler.schedules.dry_run: must be true or false");
            s->dry_run = config_setting_get_bool(m);
        } else {
            return fail(c, ml, "scheduler.schedules.%s: unknown setting", name);
        }
    }
    if (!s->name || !s->cron || !s->command)
        return fail(c, line, "scheduler.schedules: name, cron and command are required");
    if (!s->params_json)
        s->params_json = vg_xstrdup("{}");
    return 0;
}

typedef int (*item_parser)(struct ctx *c, config_setting_t *g, void *item);

/*
 * A list of groups ( {...}, {...} ): each parsed into an array of `size`-byte
 * items by parse, whose char * name at name_off must be unique. The array has
 * one spare zeroed item; *n counts every item started, so a failure part-way
 * leaves everything for vg_config_free().
 */
static int parse_list(struct ctx *c, config_setting_t *list, const char *setting,
                      const char *noun, void **items, size_t *n, size_t size, item_parser parse,
                      size_t name_off)
{
    if (!config_setting_is_list(list))
        return fail(c, config_setting_source_line(list), "%s: must be a list ( {...}, {...} )",
                    setting);
    int len = config_setting_length(list);
    char *arr = vg_xcalloc((size_t)len + 1, size);
    *items = arr;
    for (int i = 0; i < len; i++) {
        config_setting_t *g = config_setting_get_elem(list, (unsigned)i);
        char *item = arr + size * (*n)++;
        int rc = parse(c, g, item);
        if (rc)
            return rc;
        const char *name = *(char **)(item + name_off);
        for (size_t j = 0; j + 1 < *n; j++)
            if (!strcmp(*(char **)(arr + size * j + name_off), name))
                return fail(c, config_setting_source_line(g), "%s: %s \"%s\" is defined twice",
                            setting, noun, name);
    }
    return 0;
}

static int tenant_item(struct ctx *c, config_setting_t *g, void *item)
{
    return parse_tenant(c, g, item);
}

static int schedule_item(struct ctx *c, config_setting_t *g, void *item)
{
    return parse_schedule(c, g, item);
}

/* -- the file ---------------------------------------------------------- */

static const struct setting *find(const char *name)
{
    for (size_t i = 0; i < VG_ARRAY_LEN(settings); i++)
        if (!strcmp(settings[i].name, name))
            return &settings[i];
    return NULL;
}

/* True if some declared setting lives under the group prefix ("kafka.topics"). */
static int known_group(const char *prefix)
{
    size_t n = strlen(prefix);
    for (size_t i = 0; i < VG_ARRAY_LEN(settings); i++)
        if (!strncmp(settings[i].name, prefix, n) && settings[i].name[n] == '.')
            return 1;
    return 0;
}

static const char *type_name(enum ctype t)
{
    switch (t) {
    case CT_STRING:
    case CT_LEVEL:
        return "a string";
    case CT_INT:
        return "an integer";
    case CT_BOOL:
        return "true or false";
    case CT_PROPS:
        return "an array of \"name=value\" strings";
    case CT_KEYS:
        return "an array of 64-hex-digit strings";
    default:
        return "a list of groups";
    }
}

static int apply_file_setting(struct ctx *c, struct vg_config *cfg, const struct setting *s,
                              config_setting_t *m)
{
    int line = config_setting_source_line(m), type = config_setting_type(m);
    char why[256];
    switch (s->type) {
    case CT_STRING:
    case CT_LEVEL:
        if (type != CONFIG_TYPE_STRING)
            break;
        if (set_text(cfg, s, config_setting_get_string(m), why, sizeof(why)))
            return fail(c, line, "%s: %s", s->name, why);
        return 0;
    case CT_INT: {
        if (type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64)
            break;
        long long v = config_setting_get_int64(m);
        if (v < s->min || v > s->max)
            return fail(c, line, "%s: must be from %lld to %lld, got %lld", s->name,
                        (long long)s->min, (long long)s->max, v);
        *(int64_t *)field(cfg, s) = v;
        return 0;
    }
    case CT_BOOL:
        if (type != CONFIG_TYPE_BOOL)
            break;
        *(int *)field(cfg, s) = config_setting_get_bool(m);
        return 0;
    case CT_PROPS: {
        if (type != CONFIG_TYPE_ARRAY && type != CONFIG_TYPE_LIST)
            break;
        props_free(cfg);
        for (int i = 0; i < config_setting_length(m); i++) {
            const char *v = config_setting_get_string_elem(m, i);
            if (!v)
                break;
            if (props_add(cfg, v, strlen(v), why, sizeof(why)))
                return fail(c, line, "%s: %s", s->name, why);
        }
        return 0;
    }
    case CT_KEYS: {
        if (type != CONFIG_TYPE_ARRAY && type != CONFIG_TYPE_LIST)
            break;
        struct vg_keys *k = field(cfg, s);
        keys_free(k);
        for (int i = 0; i < config_setting_length(m); i++) {
            const char *v = config_setting_get_string_elem(m, i);
            if (!v || keys_add(k, v, strlen(v)))
                return fail(c, line, "%s: each key must be 64 hex digits (sha256sum of the key)",
                            s->name);
        }
        return 0;
    }
    case CT_TENANTS:
        return parse_list(c, m, s->name, "tenant", (void **)&cfg->tenants, &cfg->ntenants,
                          sizeof(*cfg->tenants), tenant_item, offsetof(struct vg_tenant, id));
    case CT_SCHEDULES:
        return parse_list(c, m, s->name, "schedule", (void **)&cfg->schedules, &cfg->nschedules,
                          sizeof(*cfg->schedules), schedule_item,
                          offsetof(struct vg_schedule, name));
    }
    return fail(c, line, "%s: must be %s", s->name, type_name(s->type));
}

static int walk(struct ctx *c, struct vg_config *cfg, config_setting_t *group, const char *prefix)
{
    for (int i = 0; i < config_setting_length(group); i++) {
        config_setting_t *m = config_setting_get_elem(group, (unsigned)i);
        char name[256];
        snprintf(name, sizeof(name), "%s%s%s", prefix, *prefix ? "." : "",
                 config_setting_name(m));
        const struct setting *s = find(name);
        int rc;
        if (s)
            rc = apply_file_setting(c, cfg, s, m);
        else if (config_setting_is_group(m) && known_group(name))
            rc = walk(c, cfg, m, name);
        else
            rc = fail(c, config_setting_source_line(m), "%s: unknown setting", name);
        if (rc)
            return rc;
    }
    return 0;
}

static int read_file(struct ctx *c, struct vg_config *cfg, const char *path)
{
    config_t lc;
    config_init(&lc);
    config_set_auto_convert(&lc, 1);
    int rc = 0;
    if (config_read_file(&lc, path) != CONFIG_TRUE) {
        if (config_error_type(&lc) == CONFIG_ERR_FILE_IO)
            rc = fail(c, 0, "cannot read file");
        else
            rc = fail(c, config_error_line(&lc), "syntax error: %s", config_error_text(&lc));
    } else {
        rc = walk(c, cfg, config_root_setting(&lc), "");
    }
    config_destroy(&lc);
    return rc;
}

/* Settings that bound one another, checked once every source is read. */
static int check_relations(struct ctx *c, const struct vg_config *cfg)
{
    /* The worker waits for Kafka inside its batch transaction (dead letters
     * under savepoints, summaries while their rows are locked); the database
     * ends a transaction idle for worker.idle_tx_timeout_ms, so the wait must
     * end well before. */
    if (cfg->worker_kafka_ack_timeout_ms * 2 > cfg->worker_idle_tx_timeout_ms)
        return fail(c, 0,
                    "worker.kafka_ack_timeout_ms (%lld) must be at most half of "
                    "worker.idle_tx_timeout_ms (%lld): the worker waits for Kafka inside its "
                    "batch transaction, which the database ends after worker.idle_tx_timeout_ms",
                    (long long)cfg->worker_kafka_ack_timeout_ms,
                    (long long)cfg->worker_idle_tx_timeout_ms);
    if (cfg->producer_inflight_body_bytes < cfg->producer_max_body_bytes)
        return fail(c, 0,
                    "producer.inflight_body_bytes (%lld) must be at least "
                    "producer.max_body_bytes (%lld)",
                    (long long)cfg->producer_inflight_body_bytes,
                    (long long)cfg->producer_max_body_bytes);
    return 0;
}

/* -- secrets --------------------------------------------------------- */

/* Words that mark a value as an example rather than a key (lower case). */
static const char *const placeholder_words[] = {
    "change-me", "change_me", "changeme", "replace-me", "replace_me", "replaceme",
    "placeholder", "openssl rand", "<secret>", "your-secret", "your_secret",
};

static int is_placeholder(const char *v)
{
    size_t n = strlen(v);
    char low[256];
    size_t k = VG_MIN(n, sizeof(low) - 1);
    for (size_t i = 0; i < k; i++)
        low[i] = (char)tolower((unsigned char)v[i]);
    low[k] = '\0';
    for (size_t i = 0; i < VG_ARRAY_LEN(placeholder_words); i++)
        if (strstr(low, placeholder_words[i]))
            return 1;
    /* "aaaa...", "0000...", "abababab...": a few distinct bytes is no key */
    unsigned char seen[256] = {0};
    int distinct = 0;
    for (size_t i = 0; i < n; i++)
        if (!seen[(unsigned char)v[i]]++)
            distinct++;
    return distinct < 6;
}

int vg_config_check_secret(const char *label, const char *value, char *errstr,
                           size_t errstr_size)
{
    if (!value || !*value) {
        snprintf(errstr, errstr_size, "%s is required and not set", label);
        return VG_ENOTFOUND;
    }
    if (is_placeholder(value)) {
        snprintf(errstr, errstr_size,
                 "%s is a placeholder, not a key: set it to a random value of at least %d "
                 "bytes (openssl rand -hex 32)",
                 label, VG_SECRET_MIN_BYTES);
        return VG_EINVAL;
    }
    if (strlen(value) < VG_SECRET_MIN_BYTES) {
        snprintf(errstr, errstr_size,
                 "%s must be at least %d bytes (it has %zu): openssl rand -hex 32 makes one", label,
                 VG_SECRET_MIN_BYTES, strlen(value));
        return VG_EINVAL;
    }
    return 0;
}

/* The secrets in the table, with the VG_NEED_* bit of each. */
static const struct {
    int need;
    const char *label;
    size_t off;
} secrets[] = {
    {VG_NEED_COMMAND_SECRET, "security.command_secret (VIGIL_COMMAND_SECRET)",
     OFF(command_secret)},
    {VG_NEED_TOKEN_SECRET, "security.token_secret (VIGIL_TOKEN_SECRET)", OFF(token_secret)},
};

int vg_config_require_secrets(const struct vg_config *cfg, int needs, char *errstr,
                              size_t errstr_size)
{
    for (size_t i = 0; i < VG_ARRAY_LEN(secrets); i++) {
        const char *v = *(char *const *)((const char *)cfg + secrets[i].off);
        int set = v && *v;
        if (!set && !(needs & secrets[i].need))
            continue;
        if (vg_config_check_secret(secrets[i].label, v, errstr, errstr_size))
            return VG_ECONFIG;
    }
    return 0;
}

int vg_config_load(const char *path, struct vg_config **out, char *errstr, size_t errstr_size)
{
    struct vg_config *cfg = vg_xcalloc(1, sizeof(*cfg));
    struct ctx c = {.file = "defaults", .errstr = errstr, .errstr_size = errstr_size};
    char why[256];
    int rc = 0;

    for (size_t i = 0; i < VG_ARRAY_LEN(settings) && rc == 0; i++)
        if (settings[i].def && set_text(cfg, &settings[i], settings[i].def, why, sizeof(why)))
            rc = fail(&c, 0, "%s: bad default: %s", settings[i].name, why);

    if (rc == 0 && path) {
        cfg->path = vg_xstrdup(path);
        c.file = path;
        rc = read_file(&c, cfg, path);
    }

    for (size_t i = 0; i < VG_ARRAY_LEN(settings) && rc == 0; i++) {
        const struct setting *s = &settings[i];
        char env[96];
        if (s->env && !*s->env)
            continue;
        env_name(s, env, sizeof(env));
        const char *v = getenv(env);
        if (v && set_text(cfg, s, v, why, sizeof(why))) {
            c.file = "environment";
            rc = fail(&c, 0, "%s (%s): %s", env, s->name, why);
        }
    }

    if (rc == 0) {
        c.file = path ? path : "configuration";
        rc = check_relations(&c, cfg);
    }
    if (rc == 0 && vg_config_require_secrets(cfg, 0, why, sizeof(why)))
        rc = fail(&c, 0, "%s", why);
    char **ids[] = {&cfg->worker_id, &cfg->notifier_id};
    for (size_t i = 0; i < VG_ARRAY_LEN(ids) && rc == 0; i++) {
        if ((*ids[i])[0] != '\0')
            continue;
        char host[128] = "vigil";
        gethostname(host, sizeof(host) - 1);
        free(*ids[i]);
        *ids[i] = vg_xasprintf("%s-%d", host, (int)getpid());
    }
    if (rc) {
        vg_config_free(cfg);
        return rc;
    }
    *out = cfg;
    return 0;
}

/* -- the rest ---------------------------------------------------------- */

static void strv_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void vg_config_free(struct vg_config *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < VG_ARRAY_LEN(settings); i++)
        if (settings[i].type == CT_STRING)
            free(*(char **)field(cfg, &settings[i]));
    props_free(cfg);
    keys_free(&cfg->query_admin_keys);
    for (size_t i = 0; i < cfg->ntenants; i++) {
        struct vg_tenant *t = &cfg->tenants[i];
        free(t->id);
        free(t->keys);
        free(t->pkeys);
        strv_free(t->origins, t->norigins);
        strv_free(t->redirect_hosts, t->nredirect_hosts);
        vg_notify_free(t->notify, t->nnotify);
    }
    free(cfg->tenants);
    for (size_t i = 0; i < cfg->nschedules; i++) {
        struct vg_schedule *s = &cfg->schedules[i];
        free(s->name);
        free(s->cron);
        free(s->command);
        free(s->params_json);
    }
    free(cfg->schedules);
    free(cfg->path);
    free(cfg);
}

const struct vg_tenant *vg_config_tenant(const struct vg_config *cfg, const char *id)
{
    for (size_t i = 0; i < cfg->ntenants; i++)
        if (!strcmp(cfg->tenants[i].id, id))
            return &cfg->tenants[i];
    return NULL;
}

void vg_config_print_help(FILE *out)
{
    fprintf(out, "Settings (file path, type, default, environment variable):\n");
    for (size_t i = 0; i < VG_ARRAY_LEN(settings); i++) {
        const struct setting *s = &settings[i];
        char env[96] = "";
        if (!(s->env && !*s->env))
            env_name(s, env, sizeof(env));
        fprintf(out, "  %-30s %-8s default %-12s %s\n      %s%s\n", s->name,
                s->type == CT_INT    ? "int"
                : s->type == CT_BOOL ? "bool"
                : s->type >= CT_PROPS ? "list"
                                      : "string",
                (s->flags & F_SECRET) ? "(secret)" : s->def ? (*s->def ? s->def : "\"\"") : "-",
                env, s->help, (s->flags & F_RELOADABLE) ? " (reloaded on SIGHUP)" : "");
    }
}

/* Whether setting s holds the same value in a and b. Lists of tenants and
 * schedules count as the same: their programs reload them. */
static int same_value(const struct vg_config *a, const struct vg_config *b,
                      const struct setting *s)
{
    const void *fa = (const char *)a + s->off, *fb = (const char *)b + s->off;
    switch (s->type) {
    case CT_STRING: {
        const char *x = *(char *const *)fa, *y = *(char *const *)fb;
        return (!x && !y) || (x && y && !strcmp(x, y));
    }
    case CT_INT:
        return *(const int64_t *)fa == *(const int64_t *)fb;
    case CT_BOOL:
    case CT_LEVEL:
        return *(const int *)fa == *(const int *)fb;
    case CT_PROPS:
        if (a->nkafka_props != b->nkafka_props)
            return 0;
        for (size_t i = 0; i < a->nkafka_props; i++)
            if (strcmp(a->kafka_props[i].name, b->kafka_props[i].name) ||
                strcmp(a->kafka_props[i].value, b->kafka_props[i].value))
                return 0;
        return 1;
    case CT_KEYS: {
        const struct vg_keys *x = fa, *y = fb;
        return x->n == y->n && (!x->n || !memcmp(x->sha256, y->sha256, x->n * VG_SHA256_LEN));
    }
    case CT_TENANTS:
    case CT_SCHEDULES:
        return 1;
    }
    return 1;
}

size_t vg_config_log_restart_needed(const struct vg_config *old, const struct vg_config *cfg,
                                    const char *const *prefixes)
{
    size_t n = 0;
    for (size_t i = 0; i < VG_ARRAY_LEN(settings); i++) {
        const struct setting *s = &settings[i];
        if (s->flags & F_RELOADABLE)
            continue;
        int mine = 0;
        for (const char *const *p = prefixes; *p && !mine; p++)
            mine = !strncmp(s->name, *p, strlen(*p));
        if (mine && !same_value(old, cfg, s)) {
            vg_warn("%s changed in the file: it is read at start, restart to apply it", s->name);
            n++;
        }
    }
    return n;
}

size_t vg_config_setting_count(void)
{
    return VG_ARRAY_LEN(settings);
}

const char *vg_config_setting_name(size_t i)
{
    return i < VG_ARRAY_LEN(settings) ? settings[i].name : NULL;
}

const char *vg_config_secret_state(const char *secret)
{
    return secret && *secret ? "(set)" : "(unset)";
}
