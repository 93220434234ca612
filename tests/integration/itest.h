/*
 * itest.h - what integration tests share: the stack's address from the
 * environment that ./dev test exports, and waiting on a condition.
 */
#ifndef VG_ITEST_H
#define VG_ITEST_H

#include <stdio.h>
#include <stdlib.h>

#include "util.h"

/* The value of a VIGIL_* variable that ./dev test sets; exits 1 if missing. */
static inline const char *itest_env(const char *name)
{
    const char *v = getenv(name);
    if (!v || !*v) {
        fprintf(stderr, "%s is not set: run integration tests through ./dev test "
                        "(or eval \"$(./dev env)\" first)\n", name);
        exit(1);
    }
    return v;
}

/* Evaluates cond every 50 ms until it holds (returns 1) or timeout_ms passes (0). */
#define ITEST_WAIT(cond, timeout_ms)                                                             \
    ({                                                                                           \
        int64_t itest_deadline_ = vg_mono_ms() + (timeout_ms);                                   \
        int itest_ok_;                                                                           \
        while (!(itest_ok_ = !!(cond)) && vg_mono_ms() < itest_deadline_)                        \
            vg_sleep_ms(50, NULL);                                                               \
        itest_ok_;                                                                               \
    })

#endif
