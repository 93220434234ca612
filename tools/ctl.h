/*
 * ctl.h - what vigilctl's subcommands share.
 */
#ifndef VG_CTL_H
#define VG_CTL_H

#include <stdio.h>

#include <jansson.h>
#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>

#include "config.h"

struct ctl {
    struct vg_config *cfg;
    int argc;
    char **argv; /* argv[0] is the subcommand */
    int json;    /* -o json: sections go to out, printed once at the end */
    json_t *out;
};

/* Connects to the configured database; prints why and returns NULL on failure. */
PGconn *vg_ctl_db(struct ctl *c);
/* A Kafka client of the given type (consumer: with group.id unset, for assign()). */
rd_kafka_t *vg_ctl_kafka(struct ctl *c, rd_kafka_type_t type);
/*
 * Runs a query and prints its result as an aligned table under title, or
 * with -o json stores its rows (objects, typed by column) as section key.
 * Returns 0 or 1 (printed why).
 */
int vg_ctl_print_query(struct ctl *c, PGconn *db, const char *key, const char *title,
                       const char *sql, int nparams, const char *const *params);
/* With -o json, stores v (taking ownership) as section key; else frees it. */
void vg_ctl_out_set(struct ctl *c, const char *key, json_t *v);
/* Prints the sections stored by -o json as one object, and frees them. */
void vg_ctl_out_flush(struct ctl *c);
/* One row of a result as a JSON object (numbers, booleans and json typed). */
json_t *vg_ctl_row_json(const PGresult *r, int row);

/* Connects, prints one query's result, disconnects: 0, or 1 (printed why). */
int vg_ctl_report(struct ctl *c, const char *key, const char *title, const char *sql,
                  int nparams, const char *const *params);

int vg_ctl_status(struct ctl *c);
int vg_ctl_dlq(struct ctl *c);
int vg_ctl_command(struct ctl *c);
/* The commands vigilctl command signs, with their parameters. */
void vg_ctl_command_usage(FILE *out);
int vg_ctl_sessions(struct ctl *c);
int vg_ctl_stats(struct ctl *c);
int vg_ctl_group(struct ctl *c);
int vg_ctl_offsets(struct ctl *c);
int vg_ctl_keys(struct ctl *c);
int vg_ctl_deliveries(struct ctl *c);

#endif
