#include "pg.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "metrics.h"

static void one_line(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == ' '))
        s[--n] = '\0';
    for (char *p = s; *p; p++)
        if (*p == '\n')
            *p = ' ';
}

void vg_pg_error(PGconn *conn, const PGresult *res, char *errstr, size_t errstr_size)
{
    const char *msg = res ? PQresultErrorMessage(res) : "";
    if (!msg || !*msg)
        msg = conn ? PQerrorMessage(conn) : "no connection";
    snprintf(errstr, errstr_size, "%s", msg);
    one_line(errstr);
}

/* Overwrites every occurrence of secret in s with as many '*'. */
static void cut_out(char *s, const char *secret)
{
    size_t n = secret ? strlen(secret) : 0;
    for (char *p = n ? strstr(s, secret) : NULL; p; p = strstr(p + n, secret))
        memset(p, '*', n);
}

void vg_pg_connect_error(const char *url, PGconn *conn, char *errstr, size_t errstr_size)
{
    char *perr = NULL;
    PQconninfoOption *opts = PQconninfoParse(url ? url : "", &perr);
    if (!opts) {
        PQfreemem(perr); /* it quotes the string, password included */
        snprintf(errstr, errstr_size,
                 "database.url (VIGIL_DATABASE_URL) is not a valid libpq connection string "
                 "(not shown: it may hold a password)");
        return;
    }
    const char *host = NULL, *hostaddr = NULL, *port = NULL, *db = NULL, *password = NULL;
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        if (!o->val)
            continue;
        if (!strcmp(o->keyword, "host"))
            host = o->val;
        else if (!strcmp(o->keyword, "hostaddr"))
            hostaddr = o->val;
        else if (!strcmp(o->keyword, "port"))
            port = o->val;
        else if (!strcmp(o->keyword, "dbname"))
            db = o->val;
        else if (!strcmp(o->keyword, "password"))
            password = o->val;
    }
    char msg[512];
    vg_pg_error(conn, NULL, msg, sizeof(msg));
    cut_out(msg, password);
    snprintf(errstr, errstr_size, "cannot connect to host %s port %s database %s: %s",
             host ? host : hostaddr ? hostaddr : "(default)", port ? port : "(default)",
             db ? db : "(default)", msg);
    PQconninfoFree(opts);
}

/* Server notices go to our log at debug level, not raw to stderr. */
static void on_notice(void *arg, const char *message)
{
    (void)arg;
    vg_debug("database notice: %.*s", (int)strcspn(message, "\n"), message);
}

/* vigil_db_errors_total{class}: the first two characters of the SQLSTATE
 * (PostgreSQL's error classes: 08 connection, 40 rollback, 23 integrity,
 * ...); a failure with no SQLSTATE (connection lost or refused) counts as
 * 08. Declared on first use; the name lookup is on the error path only. */
static struct vg_metric *db_errors(void)
{
    return vg_metrics_counter("vigil_db_errors_total",
                              "Database errors by SQLSTATE class (08 connection, 40 "
                              "serialization or deadlock, 23 integrity, 42 syntax or missing "
                              "object, ...).",
                              "class");
}

static void count_error(const char *state)
{
    char cls[3] = "08";
    if (state && state[0] && state[1]) {
        cls[0] = state[0];
        cls[1] = state[1];
    }
    vg_counter_add(vg_metric_series(db_errors(), cls), 1);
}

static int connect_once(struct vg_pg *pg, char *errstr, size_t errstr_size)
{
    const char *keys[] = {"dbname", "application_name", "connect_timeout", NULL};
    const char *vals[] = {pg->url, pg->application_name, "5", NULL};
    pg->conn = PQconnectdbParams(keys, vals, 1);
    if (PQstatus(pg->conn) == CONNECTION_OK) {
        PQsetNoticeProcessor(pg->conn, on_notice, NULL);
        pg->generation++;
        return 0;
    }
    vg_pg_connect_error(pg->url, pg->conn, errstr, errstr_size);
    count_error(NULL);
    PQfinish(pg->conn);
    pg->conn = NULL;
    return VG_ETRANSIENT;
}

int vg_pg_open(struct vg_pg *pg, const char *url, const char *application_name, char *errstr,
               size_t errstr_size)
{
    memset(pg, 0, sizeof(*pg));
    pg->url = vg_xstrdup(url);
    pg->application_name = application_name ? application_name : "vigil";
    pg->backoff.base_ms = 100;
    pg->backoff.cap_ms = 5000;
    static const char *const classes[] = {"08", "22", "23", "25", "40", "42",
                                          "53", "54", "55", "57", "XX"};
    vg_metric_init_series(db_errors(), classes, VG_ARRAY_LEN(classes));
    return connect_once(pg, errstr, errstr_size);
}

int vg_pg_ensure(struct vg_pg *pg, const volatile sig_atomic_t *stop)
{
    if (pg->conn && PQstatus(pg->conn) == CONNECTION_OK)
        return 0;
    if (pg->conn) {
        PQfinish(pg->conn);
        pg->conn = NULL;
    }
    for (;;) {
        char err[512];
        if (connect_once(pg, err, sizeof(err)) == 0) {
            if (pg->backoff.attempt > 0)
                vg_info("database connection restored after %d attempts", pg->backoff.attempt);
            vg_backoff_reset(&pg->backoff);
            return 0;
        }
        int64_t delay = vg_backoff_next(&pg->backoff);
        vg_warn("database unreachable, retrying in %lld ms: %s", (long long)delay, err);
        vg_sleep_ms(delay, stop);
        if (stop && *stop)
            return VG_ETIMEOUT;
    }
}

void vg_pg_close(struct vg_pg *pg)
{
    if (pg->conn)
        PQfinish(pg->conn);
    free(pg->url);
    memset(pg, 0, sizeof(*pg));
}

int vg_pg_classify(PGconn *conn, const PGresult *res)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    count_error(state);
    if (!conn || PQstatus(conn) != CONNECTION_OK)
        return VG_ETRANSIENT;
    if (!state)
        return res ? VG_EDB : VG_ETRANSIENT;
    /* 08 connection, 40 transaction rollback (serialization, deadlock),
     * 53 insufficient resources, 57 operator intervention (shutdown),
     * 55P03 lock not available, 58 system error. */
    if (!strncmp(state, "08", 2) || !strncmp(state, "40", 2) || !strncmp(state, "53", 2) ||
        !strncmp(state, "57", 2) || !strncmp(state, "58", 2) || !strcmp(state, "55P03"))
        return VG_ETRANSIENT;
    /* 22 data exception, 23 integrity constraint, 54 a value past a limit
     * (a jsonb too large): the data's fault. The rest (42 a missing table or
     * a bad statement, XX internal, ...) is ours and no message's. */
    if (!strncmp(state, "22", 2) || !strncmp(state, "23", 2) || !strncmp(state, "54", 2))
        return VG_EDB;
    return VG_ESQL;
}

int vg_pg_query(PGconn *conn, PGresult **res, const char *sql, int nparams,
                const char *const *params, char *errstr, size_t errstr_size)
{
    /* Only the simple protocol takes several statements in one string. */
    PGresult *r = nparams > 0 ? PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0)
                              : PQexec(conn, sql);
    ExecStatusType st = PQresultStatus(r);
    int rc = 0;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        vg_pg_error(conn, r, errstr, errstr_size);
        rc = vg_pg_classify(conn, r);
    }
    if (res && rc == 0) {
        *res = r;
        return 0;
    }
    if (res)
        *res = NULL;
    PQclear(r);
    return rc;
}

int vg_pg_exec(PGconn *conn, const char *sql, char *errstr, size_t errstr_size)
{
    return vg_pg_query(conn, NULL, sql, 0, NULL, errstr, errstr_size);
}

/* The escape COPY's text format wants for c, or NULL when c goes as it is. */
static const char *copy_escape(char c)
{
    switch (c) {
    case '\\':
        return "\\\\";
    case '\t':
        return "\\t";
    case '\n':
        return "\\n";
    case '\r':
        return "\\r";
    default:
        return NULL;
    }
}

void vg_copy_strn(struct vg_buf *row, const char *s, size_t n, int last)
{
    if (!s) {
        vg_buf_append(row, "\\N", 2);
    } else {
        /* Plain runs go in with one copy each, not byte by byte: a row is
         * mostly the envelope and its properties text, and appending them a
         * byte at a time was a fifth of the worker's instructions. */
        vg_buf_reserve(row, n + 2);
        size_t run = 0;
        for (size_t i = 0; i < n; i++) {
            const char *esc = copy_escape(s[i]);
            if (!esc)
                continue;
            vg_buf_append(row, s + run, i - run);
            vg_buf_append(row, esc, 2);
            run = i + 1;
        }
        vg_buf_append(row, s + run, n - run);
    }
    vg_buf_putc(row, last ? '\n' : '\t');
}

void vg_copy_str(struct vg_buf *row, const char *s, int last)
{
    vg_copy_strn(row, s, s ? strlen(s) : 0, last);
}

void vg_copy_int(struct vg_buf *row, int64_t v, int last)
{
    /* One format into a local, not vg_buf_printf's measuring pass and second format. */
    char text[24];
    int n = snprintf(text, sizeof(text), "%lld%c", (long long)v, last ? '\n' : '\t');
    vg_buf_append(row, text, (size_t)n);
}

int vg_pg_copy_begin(PGconn *conn, const char *copy_sql, char *errstr, size_t errstr_size)
{
    PGresult *r = PQexec(conn, copy_sql);
    int rc = 0;
    if (PQresultStatus(r) != PGRES_COPY_IN) {
        vg_pg_error(conn, r, errstr, errstr_size);
        rc = vg_pg_classify(conn, r);
    }
    PQclear(r);
    return rc;
}

/* Sends all of rows and empties it. */
static int copy_send(PGconn *conn, struct vg_buf *rows, char *errstr, size_t errstr_size)
{
    int ok = rows->len == 0 || PQputCopyData(conn, rows->data, (int)rows->len) == 1;
    vg_buf_reset(rows);
    if (ok)
        return 0;
    vg_pg_error(conn, NULL, errstr, errstr_size);
    return VG_ETRANSIENT;
}

int vg_pg_copy_put(PGconn *conn, struct vg_buf *rows, char *errstr, size_t errstr_size)
{
    return rows->len < VG_COPY_CHUNK ? 0 : copy_send(conn, rows, errstr, errstr_size);
}

int vg_pg_copy_end(PGconn *conn, struct vg_buf *rows, int failed, char *errstr,
                   size_t errstr_size)
{
    int rc = failed ? 0 : copy_send(conn, rows, errstr, errstr_size);
    vg_buf_reset(rows);
    int ok = !failed && rc == 0;
    if (PQputCopyEnd(conn, ok ? NULL : "client failed to send data") != 1)
        ok = 0;
    PGresult *r;
    while ((r = PQgetResult(conn)) != NULL) {
        if (PQresultStatus(r) != PGRES_COMMAND_OK && rc == 0 && !failed) {
            vg_pg_error(conn, r, errstr, errstr_size);
            rc = vg_pg_classify(conn, r);
        }
        PQclear(r);
    }
    if (!ok && rc == 0 && !failed) {
        vg_pg_error(conn, NULL, errstr, errstr_size);
        rc = VG_ETRANSIENT;
    }
    return rc;
}

void vg_pg_rollback(PGconn *conn)
{
    char err[256];
    if (conn && PQstatus(conn) == CONNECTION_OK && vg_pg_exec(conn, "ROLLBACK", err, sizeof(err)))
        vg_warn("rollback failed: %s", err);
}

void vg_pg_array_add(struct vg_buf *b, const char *s)
{
    vg_buf_putc(b, b->len == 0 ? '{' : ',');
    if (!s) {
        vg_buf_puts(b, "NULL");
        return;
    }
    vg_buf_putc(b, '"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            vg_buf_putc(b, '\\');
        vg_buf_putc(b, *s);
    }
    vg_buf_putc(b, '"');
}

void vg_pg_array_end(struct vg_buf *b)
{
    if (b->len == 0)
        vg_buf_putc(b, '{');
    vg_buf_putc(b, '}');
}
