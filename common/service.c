#include "service.h"

#include <stdint.h>
#include <stdlib.h>

#include "util.h"

#ifdef VG_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>

/* Half the watchdog interval in ms (0: no watchdog), read once; the next
 * keep-alive is due at next_ms. Only the main loop's thread calls these. */
static int64_t half_ms = -1, next_ms;

void vg_service_ready(const char *status)
{
    sd_notifyf(0, "READY=1\nSTATUS=%s", status ? status : "running");
}

void vg_service_reloading(void)
{
    sd_notify(0, "RELOADING=1");
}

void vg_service_stopping(void)
{
    sd_notify(0, "STOPPING=1");
}

void vg_service_watchdog(void)
{
    if (half_ms < 0) {
        uint64_t usec = 0;
        half_ms = sd_watchdog_enabled(0, &usec) > 0 ? (int64_t)(usec / 2000) : 0;
    }
    if (half_ms == 0)
        return;
    int64_t now = vg_mono_ms();
    if (now < next_ms)
        return;
    next_ms = now + half_ms;
    sd_notify(0, "WATCHDOG=1");
}

#else

void vg_service_ready(const char *status)
{
    (void)status;
}

void vg_service_reloading(void)
{
}

void vg_service_stopping(void)
{
}

void vg_service_watchdog(void)
{
}

#endif
