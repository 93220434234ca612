/*
 * cron.h - five-field cron expressions in UTC, and when they fire.
 *
 *   minute hour day-of-month month day-of-week
 *   0-59   0-23 1-31         1-12  0-7 (0 and 7 are Sunday)
 *
 * Each field is a comma-separated list of items; an item is `*`, a value
 * `5`, a range `1-5`, a step over everything `*` + `/15`, a stepped range
 * `1-31/2`, or `5/15` (from 5 to the field's maximum, every 15, as cronie
 * reads it). Months may be named jan-dec and days of the week sun-sat, in any
 * case, also in ranges (`mon-fri`). @yearly, @annually, @monthly, @weekly,
 * @daily, @midnight and @hourly stand for their usual five fields.
 *
 * Days follow the rule of Vixie cron and POSIX: when both day-of-month and
 * day-of-week are restricted (neither field starts with `*`), a day matches
 * if either does; otherwise it must match both (so with `*` in one field the
 * other alone decides).
 */
#ifndef VG_CRON_H
#define VG_CRON_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct vg_cron {
    uint64_t minutes;       /* bit m set: minute m (0-59) */
    uint32_t hours;         /* bit h: hour h (0-23) */
    uint32_t mdays;         /* bit d: day of month d (1-31) */
    uint16_t months;        /* bit m: month m (1-12) */
    uint8_t wdays;          /* bit d: day of week d (0-6, Sunday 0; 7 is folded into 0) */
    unsigned mday_star : 1; /* the day-of-month field starts with '*' */
    unsigned wday_star : 1; /* the day-of-week field starts with '*' */
};

/*
 * Parses expr into *out. Returns 0, or VG_EINVAL with errstr naming the
 * field and what is wrong with it ("day-of-month: 32 is outside 1-31"). An
 * expression that can never fire (`0 0 30 2 *`) is refused too.
 */
int vg_cron_parse(const char *expr, struct vg_cron *out, char *errstr,
                  size_t errstr_size) VG_MUSTCHECK;

/* 1 if c fires at the minute holding t (epoch seconds, UTC). */
int vg_cron_matches(const struct vg_cron *c, int64_t t);

/* The first minute strictly after t (epoch seconds) at which c fires, as
 * epoch seconds (a multiple of 60); -1 if none in the next 50 years. */
int64_t vg_cron_next(const struct vg_cron *c, int64_t t);

/* The last minute at which c fires within [from, to] (epoch seconds), or -1. */
int64_t vg_cron_last(const struct vg_cron *c, int64_t from, int64_t to);

#endif
