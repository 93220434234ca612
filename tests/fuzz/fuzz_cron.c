/*
 * libFuzzer target: the scheduler's cron parser takes any schedule a config
 * may hold. What it accepts can fire, and vg_cron_next() finds the first
 * firing minute: strictly after the start, on a whole minute, one that
 * vg_cron_matches(), with no firing minute skipped just before it. What it
 * refuses says why. The start time is derived from the input, kept within
 * 2000-2099 so that the 50-year horizon holds.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cron.h"

#define FROM_2000 946684800LL
#define CENTURY_S (100LL * 365 * 86400)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    char *expr = malloc(size + 1);
    memcpy(expr, data, size);
    expr[size] = '\0';
    struct vg_cron c;
    char err[256] = "";
    if (vg_cron_parse(expr, &c, err, sizeof(err)) != 0) {
        if (!err[0])
            __builtin_trap(); /* a refusal names the field and the fault */
        free(expr);
        return 0;
    }
    if (!c.minutes || !c.hours || !c.mdays || !c.months || !c.wdays || c.minutes >> 60 ||
        c.hours >> 24 || c.mdays & 1 || c.months & 1 || c.months >> 13 || c.wdays >> 7)
        __builtin_trap(); /* every field holds at least one value, all in range */

    uint64_t h = 1469598103934665603ULL; /* FNV-1a of the input picks the start */
    for (size_t i = 0; i < size; i++)
        h = (h ^ data[i]) * 1099511628211ULL;
    int64_t t = FROM_2000 + (int64_t)(h % (uint64_t)CENTURY_S) - 50LL * 365 * 86400 / 2;
    if (t < FROM_2000)
        t = FROM_2000;

    int64_t next = vg_cron_next(&c, t);
    if (next <= t || next % 60 || !vg_cron_matches(&c, next))
        __builtin_trap();
    for (int64_t m = next - 60; m > t && m >= next - 60 * 16; m -= 60)
        if (vg_cron_matches(&c, m))
            __builtin_trap(); /* a firing minute before "next" was skipped */
    int64_t last = vg_cron_last(&c, next, next + 3600);
    if (last < next || last > next + 3600 || !vg_cron_matches(&c, last))
        __builtin_trap();
    free(expr);
    return 0;
}
