/*
 * What vigilctl prints: aligned tables for people, or with -o json one JSON
 * object per run (as kubectl -o json and kcat -J), whose keys are the
 * sections a command prints ("lag", "layers", "sessions", ...).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "util.h"

/* PostgreSQL type oids (pg_type.h is a server header). */
enum { OID_BOOL = 16, OID_INT8 = 20, OID_INT2 = 21, OID_INT4 = 23, OID_JSON = 114,
       OID_FLOAT4 = 700, OID_FLOAT8 = 701, OID_NUMERIC = 1700, OID_JSONB = 3802 };

void vg_ctl_out_set(struct ctl *c, const char *key, json_t *v)
{
    if (!c->json) {
        json_decref(v);
        return;
    }
    if (!c->out)
        c->out = json_object();
    json_object_set_new(c->out, key, v);
}

void vg_ctl_out_flush(struct ctl *c)
{
    if (c->out) {
        json_dumpf(c->out, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        fputc('\n', stdout);
        json_decref(c->out);
        c->out = NULL;
    }
}

static json_t *value_json(const PGresult *r, int i, int j)
{
    if (PQgetisnull(r, i, j))
        return json_null();
    const char *v = PQgetvalue(r, i, j);
    switch (PQftype(r, j)) {
    case OID_BOOL:
        return json_boolean(v[0] == 't');
    case OID_INT2:
    case OID_INT4:
    case OID_INT8:
        return json_integer(strtoll(v, NULL, 10));
    case OID_FLOAT4:
    case OID_FLOAT8:
    case OID_NUMERIC:
        return json_real(strtod(v, NULL));
    case OID_JSON:
    case OID_JSONB: {
        json_t *parsed = json_loads(v, JSON_DECODE_ANY, NULL);
        return parsed ? parsed : json_string(v);
    }
    default:
        return json_string(v);
    }
}

json_t *vg_ctl_row_json(const PGresult *r, int row)
{
    json_t *o = json_object();
    for (int j = 0; j < PQnfields(r); j++)
        json_object_set_new(o, PQfname(r, j), value_json(r, row, j));
    return o;
}

static void print_table(const PGresult *r, const char *title)
{
    int rows = PQntuples(r), cols = PQnfields(r);
    size_t width[64] = {0};
    for (int j = 0; j < cols && j < 64; j++) {
        width[j] = strlen(PQfname(r, j));
        for (int i = 0; i < rows; i++)
            width[j] = VG_MAX(width[j], strlen(PQgetvalue(r, i, j)));
    }
    if (title)
        printf("%s\n", title);
    for (int j = 0; j < cols && j < 64; j++)
        printf("  %-*s", (int)width[j], PQfname(r, j));
    printf("\n");
    for (int i = 0; i < rows; i++) {
        for (int j = 0; j < cols && j < 64; j++)
            printf("  %-*s", (int)width[j], PQgetisnull(r, i, j) ? "-" : PQgetvalue(r, i, j));
        printf("\n");
    }
    if (rows == 0)
        printf("  (none)\n");
    printf("\n");
}

int vg_ctl_print_query(struct ctl *c, PGconn *db, const char *key, const char *title,
                       const char *sql, int nparams, const char *const *params)
{
    PGresult *r = PQexecParams(db, sql, nparams, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "vigilctl: %s", PQresultErrorMessage(r));
        PQclear(r);
        return 1;
    }
    if (c->json) {
        json_t *rows = json_array();
        for (int i = 0; i < PQntuples(r); i++)
            json_array_append_new(rows, vg_ctl_row_json(r, i));
        vg_ctl_out_set(c, key, rows);
    } else {
        print_table(r, title);
    }
    PQclear(r);
    return 0;
}
