/*
 * kafka.h - librdkafka configuration, producers, topics and readiness.
 */
#ifndef VG_KAFKA_H
#define VG_KAFKA_H

#include <librdkafka/rdkafka.h>

#include "config.h"
#include "err.h"

/*
 * A new librdkafka configuration: bootstrap.servers from the config, every
 * kafka.properties entry passed through, librdkafka's logs routed into our
 * JSON log, client.id set to client_id. Returns NULL and fills errstr if a
 * property is refused. The caller owns the result until rd_kafka_new() takes it.
 */
rd_kafka_conf_t *vg_kafka_conf(const struct vg_config *cfg, const char *client_id, char *errstr,
                               size_t errstr_size);

/* 1 if kafka.properties sets name (so a default of ours must not). */
int vg_kafka_prop_given(const struct vg_config *cfg, const char *name);

/* Sets one property; returns 0 or VG_EKAFKA with errstr filled. */
int vg_kafka_set(rd_kafka_conf_t *conf, const char *name, const char *value, char *errstr,
                 size_t errstr_size) VG_MUSTCHECK;

typedef void (*vg_kafka_delivery_fn)(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque);
typedef void (*vg_kafka_error_fn)(rd_kafka_t *rk, int err, const char *reason, void *opaque);
typedef int (*vg_kafka_stats_fn)(rd_kafka_t *rk, char *json, size_t len, void *opaque);

/* What sets one of Vigil's producers apart from the others. Zero-initialise. */
struct vg_kafka_producer_opts {
    const char *client_id;
    /* > 0: message.timeout.ms, whatever kafka.properties says, for an owner
     * that waits no longer than this for a report; 0: librdkafka's default. */
    int message_timeout_ms;
    /* "name", "value", ..., NULL: set unless kafka.properties names them; may be NULL. */
    const char *const *defaults;
    vg_kafka_delivery_fn on_delivery; /* delivery reports, or NULL */
    vg_kafka_error_fn on_error;       /* errors, or NULL (librdkafka logs them) */
    vg_kafka_stats_fn on_stats;       /* statistics every stats_interval_ms, or NULL */
    int stats_interval_ms;
    void *opaque; /* passed to the callbacks */
};

/*
 * A new producer, idempotent with acks=all whatever kafka.properties says
 * (every message Vigil produces must land once and durably), configured by
 * vg_kafka_conf() and then o. Returns the handle, which the caller destroys,
 * or NULL with errstr filled.
 */
rd_kafka_t *vg_kafka_producer_new(const struct vg_config *cfg,
                                  const struct vg_kafka_producer_opts *o, char *errstr,
                                  size_t errstr_size);

/*
 * min.insync.replicas for topics of this replication factor: 2 from 3
 * replicas on (an acknowledged write survives the loss of one broker, and
 * one broker may be down for writes to go on), else the broker's default
 * (0: not set).
 */
int vg_kafka_min_insync(int64_t replication_factor);

/*
 * Creates the topics of DESIGN.md section 5 with the configured partition
 * counts and replication factor, and min.insync.replicas by
 * vg_kafka_min_insync(); existing topics are left as they are. *created gets
 * how many were new. Returns 0 or VG_EKAFKA with errstr filled.
 */
int vg_kafka_create_topics(const struct vg_config *cfg, int timeout_ms, int *created,
                           char *errstr, size_t errstr_size) VG_MUSTCHECK;

/* 1 if the cluster answers a metadata request within timeout_ms, else 0. */
int vg_kafka_reachable(rd_kafka_t *rk, int timeout_ms);

#endif
