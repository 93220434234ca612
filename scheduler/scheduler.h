/*
 * scheduler.h - the scheduler's loop: when each schedule is due, who leads,
 * what was fired.
 *
 * Every schedule of the config is checked at start. Only the leader
 * (leader.h) emits; each slot of a schedule becomes one command with the
 * deterministic id "<schedule>@<slot>" (emit.h), so emitting a slot twice,
 * by two leaders in turn or after a lost acknowledgement, is a no-op for the
 * workers. The last slot fired per schedule is kept in ops.schedule_state;
 * on taking the lead, a scheduler fires once the latest slot of each
 * schedule that lies within scheduler.catchup_s and was not fired yet (a
 * slot missed while no scheduler ran), then follows the cron. A slot later
 * than its catch-up window (at least a minute) is skipped with a warning.
 */
#ifndef VG_SCHEDULER_H
#define VG_SCHEDULER_H

#include <stddef.h>

#include "app.h"
#include "config.h"
#include "err.h"

/*
 * Checks every schedule of cfg: its name ([A-Za-z0-9_.-], 1 to 64
 * characters), its cron expression (cron.h), its command (known, see
 * common/command.h) and the command's params. Returns 0, or VG_ECONFIG with
 * errstr naming the schedule and the reason.
 */
int vg_scheduler_check(const struct vg_config *cfg, char *errstr, size_t errstr_size) VG_MUSTCHECK;

/*
 * Runs the scheduler on app's configuration until SIGTERM or SIGINT, then
 * releases the lead (by closing its connection). SIGHUP reloads the file:
 * new schedules apply if they all pass vg_scheduler_check(), else the old
 * ones stay. Returns the exit status: 0, or 1 if it could not start (no
 * command secret, a bad schedule, a port in use).
 */
int vg_scheduler_run(struct vg_app *app);

#endif
