/*
 * kafka.h - librdkafka configuration, topics and readiness.
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

/*
 * Creates the topics of DESIGN.md section 5 with the configured partition
 * counts; existing topics are left as they are. *created gets how many were
 * new. Returns 0 or VG_EKAFKA with errstr filled.
 */
int vg_kafka_create_topics(const struct vg_config *cfg, int timeout_ms, int *created,
                           char *errstr, size_t errstr_size) VG_MUSTCHECK;

/* 1 if the cluster answers a metadata request within timeout_ms, else 0. */
int vg_kafka_reachable(rd_kafka_t *rk, int timeout_ms);

#endif
