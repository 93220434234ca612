/*
 * unit_metrics.h - what the unit tests of metrics share: a teardown that
 * empties the registry, and an assertion that the exposition holds a line.
 * Include after cmocka.h.
 */
#ifndef VG_UNIT_METRICS_H
#define VG_UNIT_METRICS_H

#include <string.h>

#include "metrics.h"

static inline int metrics_teardown(void **state)
{
    (void)state;
    vg_metrics_reset();
    return 0;
}

/* Fails, printing both, unless text holds line. */
static inline void assert_exposes(const char *text, const char *line)
{
    if (!text || !strstr(text, line))
        fail_msg("missing \"%s\" in\n%s", line, text ? text : "(nothing)");
}

#endif
