/*
 * decode.h - a consumed message to a typed event, or to a verified command.
 *
 * The envelope and its rules are common/envelope.h's, shared with the
 * producer that writes them; this puts a refusal on the message (stage
 * "decode" when the value is no envelope at all, "validate" when a field
 * breaks a rule, "command" for a command that is not signed, well formed
 * and known), to go to the DLQ instead of failing its whole batch.
 */
#ifndef VG_DECODE_H
#define VG_DECODE_H

#include "batch.h"
#include "command.h"
#include "envelope.h"

/*
 * Decodes m's value as an event (VG_MSG_EVENT) or a session signal
 * (VG_MSG_SIGNAL). On success m->body holds the JSON (the batch's) and *ev
 * points into it; returns 0. Otherwise marks m refused with the reason and
 * returns VG_EPARSE.
 */
int vg_decode_event(struct vg_msg *m, struct vg_event *ev);

/*
 * Parses and verifies m's value as a signed command of vigil.commands
 * (common/command.h) under trust (the secret, this worker's group, the
 * window of issue times). On success m->body holds the message; returns 0.
 * Otherwise marks m refused (stage "command") with the reason and returns
 * VG_EAUTH (unsigned, forged, for another group, or outside its window),
 * VG_ENOTFOUND (a command this worker does not know) or VG_EPARSE (anything
 * else). The verdict depends on the message and the clock alone, so it is
 * reached before any transaction.
 */
int vg_decode_command(struct vg_msg *m, const struct vg_command_trust *trust);

#endif
