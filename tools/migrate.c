/*
 * migrate.c - the schemas/sql migration runner behind `vigilctl migrate`.
 *
 * A run reads every NNN_name.sql file of the directory and checks them
 * before touching the database, takes the advisory lock, compares the files
 * with ops.schema_migrations (an applied file must be byte for byte what was
 * applied), then applies the rest in order, one transaction each: the file
 * in one simple-query round trip, its row in ops.schema_migrations, COMMIT.
 *
 * Depends on libc, libpq and libcrypto only, so that it can be linked into
 * anything that needs the schema.
 */
#include "migrate.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/evp.h>

#define MIGRATE_NAME_MAX 128

struct migration {
    int version;                  /* NNN */
    char name[MIGRATE_NAME_MAX];  /* file name, e.g. 003_raw.sql */
    char *sql;                    /* the file's bytes, NUL-terminated */
    size_t len;
    char checksum[65];            /* SHA-256, lowercase hex */
    int applied;                  /* recorded in ops.schema_migrations */
};

struct plan {
    struct migration *m;
    size_t n, cap;
};

/* Creates what the runner itself needs; safe to repeat (under the lock). */
static const char bootstrap_sql[] =
    "BEGIN;"
    "SET LOCAL client_min_messages = warning;"
    "CREATE SCHEMA IF NOT EXISTS ops;"
    "CREATE TABLE IF NOT EXISTS ops.schema_migrations ("
    "  version    int         PRIMARY KEY,"
    "  name       text        NOT NULL,"
    "  checksum   text        NOT NULL,"
    "  applied_at timestamptz NOT NULL DEFAULT now());"
    "COMMIT";

static void set_err(char *errstr, size_t errstr_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *errstr, size_t errstr_size, const char *fmt, ...)
{
    if (!errstr || errstr_size == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errstr, errstr_size, fmt, ap);
    va_end(ap);
}

/* Out of memory aborts, as everywhere in the project. */
static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) {
        fprintf(stderr, "vigil: out of memory (%zu bytes)\n", n);
        abort();
    }
    return q;
}

/* ^[0-9]{3}_[a-z0-9_]+\.sql$ */
static int is_migration_name(const char *s)
{
    size_t len = strlen(s);
    if (len < 9 || len >= MIGRATE_NAME_MAX || strcmp(s + len - 4, ".sql") != 0)
        return 0;
    for (int i = 0; i < 3; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    if (s[3] != '_')
        return 0;
    for (size_t i = 4; i < len - 4; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return 0;
    return 1;
}

static int has_sql_suffix(const char *s)
{
    size_t len = strlen(s);
    return len >= 4 && strcmp(s + len - 4, ".sql") == 0;
}

static int sha256_hex(const void *data, size_t len, char out[65])
{
    static const char digits[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
        return -1;
    for (unsigned int i = 0; i < mdlen; i++) {
        out[2 * i] = digits[md[i] >> 4];
        out[2 * i + 1] = digits[md[i] & 15];
    }
    out[64] = '\0';
    return 0;
}

/* Reads path whole into m->sql, bounded, and checksums it. */
static int read_migration(const char *path, struct migration *m, char *errstr,
                          size_t errstr_size)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        set_err(errstr, errstr_size, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    size_t cap = 8192, len = 0;
    char *buf = xrealloc(NULL, cap + 1);
    for (;;) {
        if (len == cap) {
            /* at the limit: fine only if the file ends exactly here */
            if (cap == VG_MIGRATE_MAX_FILE_BYTES) {
                if (fgetc(f) == EOF)
                    break;
                set_err(errstr, errstr_size, "migration %s is larger than %u bytes", m->name,
                        VG_MIGRATE_MAX_FILE_BYTES);
                goto fail;
            }
            cap = cap * 2 > VG_MIGRATE_MAX_FILE_BYTES ? VG_MIGRATE_MAX_FILE_BYTES : cap * 2;
            buf = xrealloc(buf, cap + 1);
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        set_err(errstr, errstr_size, "cannot read %s: %s", path, strerror(errno));
        goto fail;
    }
    fclose(f);
    f = NULL;
    if (memchr(buf, '\0', len)) {
        set_err(errstr, errstr_size, "migration %s contains a NUL byte", m->name);
        goto fail;
    }
    buf[len] = '\0';
    if (sha256_hex(buf, len, m->checksum)) {
        set_err(errstr, errstr_size, "cannot compute the SHA-256 of %s", m->name);
        goto fail;
    }
    m->sql = buf;
    m->len = len;
    return 0;
fail:
    if (f)
        fclose(f);
    free(buf);
    return -1;
}

static int cmp_migration(const void *a, const void *b)
{
    const struct migration *x = a, *y = b;
    return x->version != y->version ? (x->version < y->version ? -1 : 1)
                                    : strcmp(x->name, y->name);
}

static void plan_free(struct plan *p)
{
    for (size_t i = 0; i < p->n; i++)
        free(p->m[i].sql);
    free(p->m);
    memset(p, 0, sizeof(*p));
}

/* Lists, reads and sorts the migrations of dir; refuses stray .sql names and
 * duplicate numbers. */
static int plan_load(struct plan *p, const char *dir, char *errstr, size_t errstr_size)
{
    DIR *d = opendir(dir);
    if (!d) {
        set_err(errstr, errstr_size, "cannot open migrations directory %s: %s", dir,
                strerror(errno));
        return -1;
    }
    int rc = 0;
    struct dirent *de;
    while (rc == 0 && (errno = 0, de = readdir(d)) != NULL) {
        const char *name = de->d_name;
        if (name[0] == '.' || !has_sql_suffix(name))
            continue;
        if (!is_migration_name(name)) {
            set_err(errstr, errstr_size,
                    "%s/%s is not a migration name (expected NNN_name.sql, name in [a-z0-9_])",
                    dir, name);
            rc = -1;
            break;
        }
        char path[4096];
        if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path)) {
            set_err(errstr, errstr_size, "path too long: %s/%s", dir, name);
            rc = -1;
            break;
        }
        struct stat st;
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
            set_err(errstr, errstr_size, "%s is not a regular file", path);
            rc = -1;
            break;
        }
        if (p->n == p->cap) {
            p->cap = p->cap ? p->cap * 2 : 16;
            p->m = xrealloc(p->m, p->cap * sizeof(*p->m));
        }
        struct migration *m = &p->m[p->n];
        memset(m, 0, sizeof(*m));
        m->version = (name[0] - '0') * 100 + (name[1] - '0') * 10 + (name[2] - '0');
        memcpy(m->name, name, strlen(name) + 1);
        if (read_migration(path, m, errstr, errstr_size)) {
            rc = -1;
            break;
        }
        p->n++;
    }
    if (rc == 0 && errno != 0) {
        set_err(errstr, errstr_size, "cannot list %s: %s", dir, strerror(errno));
        rc = -1;
    }
    closedir(d);
    if (rc)
        return rc;
    if (p->n)
        qsort(p->m, p->n, sizeof(*p->m), cmp_migration);
    for (size_t i = 1; i < p->n; i++) {
        if (p->m[i].version == p->m[i - 1].version) {
            set_err(errstr, errstr_size, "migrations %s and %s share the number %03d",
                    p->m[i - 1].name, p->m[i].name, p->m[i].version);
            return -1;
        }
    }
    return 0;
}

/* Copies s into out with every run of whitespace made one space. */
static void one_line(char *out, size_t out_size, const char *s)
{
    size_t o = 0;
    int space = 0;
    if (out_size == 0)
        return;
    for (; s && *s && o + 1 < out_size; s++) {
        if (*s == '\n' || *s == '\r' || *s == '\t' || *s == ' ') {
            space = o > 0;
            continue;
        }
        if (space && o + 2 < out_size)
            out[o++] = ' ';
        space = 0;
        out[o++] = *s;
    }
    out[o] = '\0';
}

/* Line (1-based) of the character at 1-based position pos in sql (UTF-8). */
static int line_of(const char *sql, long pos)
{
    int line = 1;
    long chars = 0;
    for (const unsigned char *c = (const unsigned char *)sql; *c; c++) {
        if ((*c & 0xC0) == 0x80)
            continue; /* UTF-8 continuation byte: same character */
        if (++chars >= pos)
            break;
        if (*c == '\n')
            line++;
    }
    return line;
}

/* Formats the failure of res (NULL: the connection's) for what, on one line:
 * PostgreSQL's message, SQLSTATE, line in sql if known, detail, hint, context. */
static void pg_failure(PGconn *conn, const PGresult *res, const char *what, const char *sql,
                       char *errstr, size_t errstr_size)
{
    char msg[512], detail[512] = "", hint[256] = "", context[512] = "", where[32] = "";
    const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    if (primary) {
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        const char *pos = PQresultErrorField(res, PG_DIAG_STATEMENT_POSITION);
        const char *f;
        one_line(msg, sizeof(msg), primary);
        if (sql && pos && atol(pos) > 0)
            snprintf(where, sizeof(where), " at line %d", line_of(sql, atol(pos)));
        if ((f = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL))) {
            one_line(detail + 10, sizeof(detail) - 10, f);
            memcpy(detail, "; detail: ", 10);
        }
        if ((f = PQresultErrorField(res, PG_DIAG_MESSAGE_HINT))) {
            one_line(hint + 8, sizeof(hint) - 8, f);
            memcpy(hint, "; hint: ", 8);
        }
        if ((f = PQresultErrorField(res, PG_DIAG_CONTEXT))) {
            one_line(context + 11, sizeof(context) - 11, f);
            memcpy(context, "; context: ", 11);
        }
        set_err(errstr, errstr_size, "%s failed%s: %s (SQLSTATE %s)%s%s%s", what, where, msg,
                state ? state : "?????", detail, hint, context);
    } else {
        one_line(msg, sizeof(msg), PQerrorMessage(conn));
        set_err(errstr, errstr_size, "%s failed: %s", what, *msg ? msg : "unknown error");
    }
}

/* Runs sql expecting success; on failure fills errstr naming what. */
static int exec_ok(PGconn *conn, const char *sql, const char *what, char *errstr,
                   size_t errstr_size)
{
    PGresult *r = PQexec(conn, sql);
    ExecStatusType st = PQresultStatus(r);
    int rc = 0;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        pg_failure(conn, r, what, NULL, errstr, errstr_size);
        rc = -1;
    }
    PQclear(r);
    return rc;
}

static void rollback_quietly(PGconn *conn)
{
    if (PQtransactionStatus(conn) != PQTRANS_IDLE)
        PQclear(PQexec(conn, "ROLLBACK"));
}

/* Matches the recorded migrations with the files: same name, same bytes. */
static int check_applied(PGconn *conn, struct plan *p, char *errstr, size_t errstr_size)
{
    PGresult *r = PQexec(conn, "SELECT version, name, checksum FROM ops.schema_migrations "
                               "ORDER BY version");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        pg_failure(conn, r, "reading ops.schema_migrations", NULL, errstr, errstr_size);
        PQclear(r);
        return -1;
    }
    int rc = 0;
    for (int row = 0; row < PQntuples(r) && rc == 0; row++) {
        int version = atoi(PQgetvalue(r, row, 0));
        const char *name = PQgetvalue(r, row, 1);
        const char *checksum = PQgetvalue(r, row, 2);
        for (size_t i = 0; i < p->n; i++) {
            struct migration *m = &p->m[i];
            if (m->version != version)
                continue;
            if (strcmp(m->name, name) != 0) {
                set_err(errstr, errstr_size,
                        "migration %03d was applied as %s but the file is now %s", version,
                        name, m->name);
                rc = -1;
            } else if (strcmp(m->checksum, checksum) != 0) {
                set_err(errstr, errstr_size,
                        "migration %s was changed after it was applied (checksum %s of the "
                        "file != %s applied); add a new migration instead",
                        m->name, m->checksum, checksum);
                rc = -1;
            }
            m->applied = 1;
            break;
        }
        /* A recorded version without a file is a newer schema than this tree: fine. */
    }
    PQclear(r);
    return rc;
}

/* Applies one migration in its own transaction and records it. */
static int apply_one(PGconn *conn, const struct migration *m, char *errstr, size_t errstr_size)
{
    char what[MIGRATE_NAME_MAX + 32];
    snprintf(what, sizeof(what), "migration %s", m->name);
    if (exec_ok(conn, "BEGIN; SET LOCAL client_min_messages = warning", what, errstr,
                errstr_size)) {
        rollback_quietly(conn);
        return -1;
    }

    PGresult *r = PQexec(conn, m->sql);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_EMPTY_QUERY) {
        pg_failure(conn, r, what, m->sql, errstr, errstr_size);
        PQclear(r);
        rollback_quietly(conn);
        return -1;
    }
    PQclear(r);
    if (PQtransactionStatus(conn) != PQTRANS_INTRANS) {
        set_err(errstr, errstr_size,
                "migration %s ended the transaction itself: migrations must not contain "
                "BEGIN, COMMIT or ROLLBACK",
                m->name);
        rollback_quietly(conn);
        return -1;
    }

    char version[16];
    snprintf(version, sizeof(version), "%d", m->version);
    const char *params[3] = {version, m->name, m->checksum};
    r = PQexecParams(conn,
                     "INSERT INTO ops.schema_migrations (version, name, checksum) "
                     "VALUES ($1::int, $2, $3)",
                     3, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        pg_failure(conn, r, what, NULL, errstr, errstr_size);
        PQclear(r);
        rollback_quietly(conn);
        return -1;
    }
    PQclear(r);

    /* COMMIT of an aborted transaction reports success with tag ROLLBACK: check the state. */
    r = PQexec(conn, "COMMIT");
    st = PQresultStatus(r);
    int committed = st == PGRES_COMMAND_OK && strcmp(PQcmdStatus(r), "COMMIT") == 0;
    if (!committed) {
        pg_failure(conn, r, what, NULL, errstr, errstr_size);
        PQclear(r);
        rollback_quietly(conn);
        return -1;
    }
    PQclear(r);
    return 0;
}

/* 1 if ops.schema_migrations does not exist yet, 0 if it does, -1 on error. */
static int bookkeeping_missing(PGconn *conn, char *errstr, size_t errstr_size)
{
    PGresult *r = PQexec(conn, "SELECT to_regclass('ops.schema_migrations') IS NULL");
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        pg_failure(conn, r, "looking for ops.schema_migrations", NULL, errstr, errstr_size);
        PQclear(r);
        return -1;
    }
    int missing = PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    return missing;
}

/*
 * Applies the pending migrations of dir; the contract is in migrate.h. The
 * order of the steps matters: the files are checked before the lock, so a
 * broken tree costs the database nothing, and the lock is taken before the
 * bootstrap DDL, so that concurrent first runs do not race on
 * CREATE TABLE IF NOT EXISTS.
 */
int vg_migrate_run(PGconn *conn, const char *dir, int *applied, char *errstr,
                   size_t errstr_size)
{
    struct plan p = {0};
    int locked = 0, rc = -1;

    if (applied)
        *applied = 0;
    if (errstr && errstr_size)
        errstr[0] = '\0';
    if (!conn || PQstatus(conn) != CONNECTION_OK) {
        set_err(errstr, errstr_size, "not connected to the database");
        return -1;
    }
    if (PQtransactionStatus(conn) != PQTRANS_IDLE) {
        set_err(errstr, errstr_size, "the connection is inside a transaction");
        return -1;
    }
    if (!dir || !*dir) {
        set_err(errstr, errstr_size, "no migrations directory given");
        return -1;
    }

    /* Every file is read and checked before the database is touched. */
    if (plan_load(&p, dir, errstr, errstr_size))
        goto out;

    if (exec_ok(conn, "SELECT pg_advisory_lock(" VG_MIGRATE_LOCK_KEY ")",
                "taking the migration lock", errstr, errstr_size))
        goto out;
    locked = 1;

    /* Only when missing: a runtime role (no CREATE on the database or on
     * ops) may run this to check that the schema is current, as the
     * Kubernetes init containers do. */
    int missing = bookkeeping_missing(conn, errstr, errstr_size);
    if (missing < 0)
        goto out;
    if (missing &&
        exec_ok(conn, bootstrap_sql, "creating ops.schema_migrations", errstr, errstr_size)) {
        rollback_quietly(conn);
        goto out;
    }
    if (check_applied(conn, &p, errstr, errstr_size))
        goto out;

    for (size_t i = 0; i < p.n; i++) {
        if (p.m[i].applied)
            continue;
        if (apply_one(conn, &p.m[i], errstr, errstr_size))
            goto out;
        if (applied)
            (*applied)++;
    }
    rc = 0;

out:
    if (locked) {
        char unlock_err[256];
        if (exec_ok(conn, "SELECT pg_advisory_unlock(" VG_MIGRATE_LOCK_KEY ")",
                    "releasing the migration lock", unlock_err, sizeof(unlock_err)) &&
            rc == 0) {
            set_err(errstr, errstr_size, "%s", unlock_err);
            rc = -1;
        }
    }
    plan_free(&p);
    return rc;
}
