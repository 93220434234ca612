/*
 * itest_stack.h - integration-test helpers for the real stack: produce
 * envelopes straight to Kafka, query PostgreSQL, stop and start parts of
 * the test stack through ./dev.
 */
#ifndef VG_ITEST_STACK_H
#define VG_ITEST_STACK_H

#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"

struct itest {
    struct vg_config *cfg;
    PGconn *db;
    rd_kafka_t *producer;
    char tenant[48]; /* a tenant id of this run, so tests can share the stack */
};

/* Waits until the stack is ready (./dev ready: Kafka's partitions led, the
 * workers' group holding every partition), loads the config from the
 * environment, connects, makes a fresh tenant id. */
void itest_open(struct itest *t, const char *tenant_prefix);
void itest_close(struct itest *t);

/* Produces value with key to topic (copied); aborts the test on a queue error. */
void itest_produce(struct itest *t, const char *topic, const char *key, const char *value);
/* Waits until every produced message is acknowledged (fails the test otherwise). */
void itest_flush(struct itest *t);

/* Formats an event envelope for this tenant into out (static layout, for tests). */
void itest_event(struct itest *t, char *out, size_t size, const char *event_id, const char *type,
                 const char *session_id, const char *visitor_id, const char *occurred_at,
                 const char *properties_json);

/* The first column of the first row of a query with text parameters, as an integer. */
long long itest_count(struct itest *t, const char *sql, int nparams, const char *const *params);

/* Runs `./dev ARGS` of the stack under test; returns its exit status. */
int itest_dev(const char *args);

/* Sends sig to the process named in the stack's pid file (worker-1, ...); 0 if sent. */
int itest_signal(const char *name, int sig);

/* Fills out[i] with the end offset of each partition of topic (one of the
 * stack's topics; at most max); returns the partition count. */
int itest_end_offsets(struct itest *t, const char *topic, int64_t *out, int max);

/* Messages on the DLQ topic so far, every partition. */
int64_t itest_dlq_total(struct itest *t);

/* Starts a worker outside ./dev's parts, with its own id and health port;
 * the caller stops and reaps it. */
pid_t itest_start_worker(const char *id, const char *port);

/* GET base/metrics (base "http://127.0.0.1:PORT") and the value of one
 * series, its labels included ("name{l=\"v\"}"); 0 when absent or when
 * nothing listens there. */
double itest_metric(const char *base, const char *series);

/* The sum of one series (as itest_metric()) over the stack's workers
 * (VIGIL_WORKER_HTTP). */
double itest_workers_metric(const char *series);

/* A new random UUIDv4 string. */
void itest_uuid(char out[37]);

#endif
