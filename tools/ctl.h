/*
 * ctl.h - what vigilctl's subcommands share.
 */
#ifndef VG_CTL_H
#define VG_CTL_H

#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>

#include "config.h"

struct ctl {
    struct vg_config *cfg;
    int argc;
    char **argv; /* argv[0] is the subcommand */
};

/* Connects to the configured database; prints why and returns NULL on failure. */
PGconn *vg_ctl_db(struct ctl *c);
/* A Kafka client of the given type (consumer: with group.id unset, for assign()). */
rd_kafka_t *vg_ctl_kafka(struct ctl *c, rd_kafka_type_t type);
/* Prints a query's result as an aligned table; returns 0 or 1 (printed why). */
int vg_ctl_print_query(PGconn *db, const char *title, const char *sql, int nparams,
                       const char *const *params);

/* Connects, prints one query's result, disconnects: 0, or 1 (printed why). */
int vg_ctl_report(struct ctl *c, const char *title, const char *sql, int nparams,
                  const char *const *params);

int vg_ctl_status(struct ctl *c);
int vg_ctl_dlq(struct ctl *c);
int vg_ctl_command(struct ctl *c);
int vg_ctl_sessions(struct ctl *c);
int vg_ctl_stats(struct ctl *c);
int vg_ctl_group(struct ctl *c);
int vg_ctl_deliveries(struct ctl *c);

#endif
