/*
 * service.h - the service manager's protocol (systemd's sd_notify): ready,
 * reloading, stopping, and the watchdog's keep-alive. Units with
 * Type=notify and WatchdogSec= (deploy/systemd/) rely on it. Every call is
 * a no-op when the process was not started by systemd (no NOTIFY_SOCKET) or
 * when Vigil was built without libsystemd.
 */
#ifndef VG_SERVICE_H
#define VG_SERVICE_H

/* Start-up is complete: the program serves (READY=1), with a status line. */
void vg_service_ready(const char *status);

/* A SIGHUP reload begins (RELOADING=1); vg_service_ready() ends it. */
void vg_service_reloading(void);

/* Shutdown begins (STOPPING=1). */
void vg_service_stopping(void);

/*
 * The main loop is alive: sends WATCHDOG=1 when the unit has a watchdog, at
 * most every half of its interval, so it can be called on every pass of a
 * loop. Call it only from the loop whose progress it vouches for.
 */
void vg_service_watchdog(void);

#endif
