#include "cron.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "util.h"

struct field {
    const char *name;
    int min, max;
    const char *const *names; /* names[i] is value min + i; NULL: numbers only */
};

static const char *const month_names[] = {"jan", "feb", "mar", "apr", "may", "jun", "jul",
                                          "aug", "sep", "oct", "nov", "dec", NULL};
static const char *const wday_names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL};

enum { F_MINUTE, F_HOUR, F_MDAY, F_MONTH, F_WDAY, F_COUNT };

/* clang-format off */
static const struct field fields[F_COUNT] = {
    {"minute", 0, 59, NULL},
    {"hour", 0, 23, NULL},
    {"day-of-month", 1, 31, NULL},
    {"month", 1, 12, month_names},
    {"day-of-week", 0, 7, wday_names},
};

/* clang-format on */
static const struct {
    const char *name, *expansion;
} macros[] = {
    {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
    {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
    {"@hourly", "0 * * * *"},
};

/* A number or a name of field f at *p (advanced past it). */
static int value(const struct field *f, const char **p, int *out, char *errstr, size_t errstr_size)
{
    const char *s = *p;
    if (isdigit((unsigned char)*s)) {
        long v = 0;
        while (isdigit((unsigned char)*s)) {
            v = v * 10 + (*s++ - '0');
            if (v > 1000)
                break;
        }
        if (v < f->min || v > f->max)
            return vg_einval(errstr, errstr_size, "%s: %ld is outside %d-%d", f->name, v, f->min,
                        f->max);
        *out = (int)v;
        *p = s;
        return 0;
    }
    if (isalpha((unsigned char)*s)) {
        size_t n = 0;
        while (isalpha((unsigned char)s[n]))
            n++;
        for (int i = 0; f->names && f->names[i]; i++) {
            if (n == 3 && !strncasecmp(s, f->names[i], 3)) {
                *out = f->min + i;
                *p = s + n;
                return 0;
            }
        }
        if (!f->names)
            return vg_einval(errstr, errstr_size, "%s: \"%.*s\" is not a number", f->name, (int)n, s);
        return vg_einval(errstr, errstr_size, "%s: unknown name \"%.*s\"", f->name, (int)n, s);
    }
    if (!*s || *s == ',')
        return vg_einval(errstr, errstr_size, "%s: a value is missing", f->name);
    return vg_einval(errstr, errstr_size, "%s: unexpected \"%c\"", f->name, *s);
}

/* One list item of field f in [s, end): sets its bits in *bits. */
static int item(const struct field *f, const char *s, const char *end, uint64_t *bits, char *errstr,
                size_t errstr_size)
{
    int lo, hi, step = 1;
    if (s == end)
        return vg_einval(errstr, errstr_size, "%s: empty list item", f->name);
    if (*s == '*') {
        lo = f->min;
        hi = f->max;
        s++;
    } else {
        int rc;
        if ((rc = value(f, &s, &lo, errstr, errstr_size)))
            return rc;
        hi = lo;
        if (s < end && *s == '-') {
            s++;
            if ((rc = value(f, &s, &hi, errstr, errstr_size)))
                return rc;
            if (hi < lo)
                return vg_einval(errstr, errstr_size, "%s: range %d-%d runs backwards", f->name, lo, hi);
        } else if (s < end && *s == '/') {
            hi = f->max; /* "5/15": from 5 to the end */
        }
    }
    if (s < end && *s == '/') {
        s++;
        if (s == end || !isdigit((unsigned char)*s))
            return vg_einval(errstr, errstr_size, "%s: a step must be a number", f->name);
        long v = 0;
        while (s < end && isdigit((unsigned char)*s) && v <= 1000)
            v = v * 10 + (*s++ - '0');
        if (v < 1 || v > f->max - f->min + 1)
            return vg_einval(errstr, errstr_size, "%s: step %ld is outside 1-%d", f->name, v,
                        f->max - f->min + 1);
        step = (int)v;
    }
    if (s != end)
        return vg_einval(errstr, errstr_size, "%s: unexpected \"%.*s\"", f->name, (int)(end - s), s);
    for (int v = lo; v <= hi; v += step)
        *bits |= (uint64_t)1 << v;
    return 0;
}

/* Field f from [s, end) into *bits; *star: it starts with '*'. */
static int parse_field(const struct field *f, const char *s, const char *end, uint64_t *bits,
                       int *star, char *errstr, size_t errstr_size)
{
    *bits = 0;
    *star = *s == '*';
    for (;;) {
        const char *comma = memchr(s, ',', (size_t)(end - s));
        const char *stop = comma ? comma : end;
        int rc = item(f, s, stop, bits, errstr, errstr_size);
        if (rc)
            return rc;
        if (!comma)
            return 0;
        s = comma + 1;
    }
}

static const int month_days[13] = {0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

int vg_cron_parse(const char *expr, struct vg_cron *out, char *errstr, size_t errstr_size)
{
    memset(out, 0, sizeof(*out));
    if (!expr)
        return vg_einval(errstr, errstr_size, "no expression");
    while (isspace((unsigned char)*expr))
        expr++;
    if (*expr == '@') {
        size_t n = strcspn(expr, " \t\n");
        for (size_t i = 0; i < VG_ARRAY_LEN(macros); i++) {
            if (strlen(macros[i].name) == n && !strncasecmp(expr, macros[i].name, n)) {
                const char *rest = expr + n;
                while (isspace((unsigned char)*rest))
                    rest++;
                if (*rest)
                    return vg_einval(errstr, errstr_size, "%s takes no fields after it", macros[i].name);
                return vg_cron_parse(macros[i].expansion, out, errstr, errstr_size);
            }
        }
        return vg_einval(errstr, errstr_size, "unknown macro \"%.*s\"", (int)n, expr);
    }
    const char *start[F_COUNT + 1], *end[F_COUNT + 1];
    int n = 0;
    for (const char *p = expr; *p;) {
        while (isspace((unsigned char)*p))
            p++;
        if (!*p)
            break;
        if (n == F_COUNT)
            return vg_einval(errstr, errstr_size,
                        "expected 5 fields (minute hour day-of-month month day-of-week), got "
                        "more");
        start[n] = p;
        while (*p && !isspace((unsigned char)*p))
            p++;
        end[n++] = p;
    }
    if (n != F_COUNT)
        return vg_einval(errstr, errstr_size,
                    "expected 5 fields (minute hour day-of-month month day-of-week), got %d", n);
    uint64_t bits[F_COUNT];
    int star[F_COUNT];
    for (int i = 0; i < F_COUNT; i++) {
        int rc = parse_field(&fields[i], start[i], end[i], &bits[i], &star[i], errstr, errstr_size);
        if (rc)
            return rc;
    }
    out->minutes = bits[F_MINUTE];
    out->hours = (uint32_t)bits[F_HOUR];
    out->mdays = (uint32_t)bits[F_MDAY];
    out->months = (uint16_t)bits[F_MONTH];
    out->wdays = (uint8_t)((bits[F_WDAY] | (bits[F_WDAY] >> 7)) & 0x7f); /* 7 is Sunday */
    out->mday_star = star[F_MDAY] != 0;
    out->wday_star = star[F_WDAY] != 0;

    /* Days chosen by day-of-month alone must exist in some chosen month. */
    if (out->wday_star) {
        int exists = 0;
        for (int m = 1; m <= 12 && !exists; m++)
            for (int d = 1; d <= month_days[m] && out->months >> m & 1 && !exists; d++)
                exists = out->mdays >> d & 1;
        if (!exists)
            return vg_einval(errstr, errstr_size,
                        "never fires: no chosen day-of-month exists in the chosen months");
    }
    return 0;
}

static int day_matches(const struct vg_cron *c, const struct tm *tm)
{
    int md = c->mdays >> tm->tm_mday & 1;
    int wd = c->wdays >> tm->tm_wday & 1;
    if (c->mday_star || c->wday_star)
        return md && wd;
    return md || wd;
}

int vg_cron_matches(const struct vg_cron *c, int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    return (c->months >> (tm.tm_mon + 1) & 1) && day_matches(c, &tm) &&
           (c->hours >> tm.tm_hour & 1) && (c->minutes >> tm.tm_min & 1);
}

/* Normalizes tm (fields may overflow) and returns its time. */
static int64_t normalize(struct tm *tm)
{
    time_t t = timegm(tm);
    gmtime_r(&t, tm);
    return (int64_t)t;
}

int64_t vg_cron_next(const struct vg_cron *c, int64_t t)
{
    int64_t start = t - ((t % 60) + 60) % 60 + 60; /* the next whole minute */
    time_t tt = (time_t)start;
    struct tm tm;
    gmtime_r(&tt, &tm);
    int last_year = tm.tm_year + 50;
    /* Each step jumps to the start of the next month, day, hour or minute
     * that could match: a few hundred steps per year at most. */
    while (tm.tm_year <= last_year) {
        if (!(c->months >> (tm.tm_mon + 1) & 1)) {
            tm.tm_mon++;
            tm.tm_mday = 1;
            tm.tm_hour = tm.tm_min = 0;
        } else if (!day_matches(c, &tm)) {
            tm.tm_mday++;
            tm.tm_hour = tm.tm_min = 0;
        } else if (!(c->hours >> tm.tm_hour & 1)) {
            tm.tm_hour++;
            tm.tm_min = 0;
        } else if (!(c->minutes >> tm.tm_min & 1)) {
            tm.tm_min++;
        } else {
            return normalize(&tm);
        }
        tm.tm_sec = 0;
        normalize(&tm);
    }
    return -1;
}

int64_t vg_cron_last(const struct vg_cron *c, int64_t from, int64_t to)
{
    int64_t last = -1;
    for (int64_t t = vg_cron_next(c, from - 1); t >= 0 && t <= to; t = vg_cron_next(c, t))
        last = t;
    return last;
}
