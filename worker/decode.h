/*
 * decode.h - Kafka message values to typed events and verified commands.
 *
 * Every event or signal is a versioned JSON envelope (schemas/json/).
 * Decoding checks it as thoroughly as the database would, so that a message
 * the database would reject is refused here, alone, with a reason, instead
 * of failing its whole batch. Strings point into the parsed JSON, which the
 * batch owns.
 */
#ifndef VG_DECODE_H
#define VG_DECODE_H

#include <jansson.h>
#include <stdint.h>

#include "batch.h"

/* An event or session signal, as the stages need it. Absent strings are NULL;
 * absent times are INT64_MIN. */
struct vg_event {
    const char *tenant, *event_id, *type;
    const char *session_id, *visitor_id, *user_id, *url;
    int64_t occurred_us, received_us;
    json_t *properties; /* borrowed; NULL if absent */
    /* session fields (signals and POST /v1/sessions) */
    const char *kind, *status, *reason;
    int64_t started_us, expires_us;
    json_t *attributes; /* borrowed */
};

#define VG_NO_TIME INT64_MIN

/* Largest value decoded; larger messages are refused. */
#define VG_DECODE_MAX_BYTES (1 << 20)

/*
 * Parses and checks m's value as an event or signal envelope. On success
 * m->body holds the JSON and *ev points into it; returns 0. Otherwise marks m
 * refused with the reason and returns VG_EPARSE.
 */
int vg_decode_event(struct vg_msg *m, struct vg_event *ev);

/*
 * Parses and verifies m's value as a signed command of vigil.commands
 * (common/command.h) with secret. On success m->body holds the message;
 * returns 0. Otherwise marks m refused (stage "command") with the reason and
 * returns VG_EAUTH (unsigned or forged), VG_ENOTFOUND (a command this worker
 * does not know) or VG_EPARSE (anything else). The verdict depends on the
 * message alone, so it is reached before any transaction.
 */
int vg_decode_command(struct vg_msg *m, const char *secret);

#endif
