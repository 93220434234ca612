/*
 * signals.h - graceful shutdown and reload flags.
 *
 * The handlers only set flags; main loops poll vg_stop_requested and
 * vg_reload_requested. A second SIGINT or SIGTERM exits at once (status 130).
 */
#ifndef VG_SIGNALS_H
#define VG_SIGNALS_H

#include <signal.h>

extern volatile sig_atomic_t vg_stop_requested;
extern volatile sig_atomic_t vg_reload_requested;

/* Installs handlers for SIGINT, SIGTERM and SIGHUP and ignores SIGPIPE. */
void vg_signals_install(void);

#endif
