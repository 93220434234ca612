/*
 * command.h - the signed commands of vigil.commands (DESIGN.md section 8):
 * which commands exist and the parameters each takes, the message, its
 * canonical form and its signature. The scheduler signs, the workers verify,
 * vigilctl signs by hand: all three go through this file, so they agree byte
 * for byte.
 *
 * The message (schemas/json/command.json):
 *
 *   {"v":1,"command_id":"<schedule>@<slot>","name":"timeout_sessions",
 *    "params":{...},"dry_run":false,"issued_at":"<RFC 3339 UTC>",
 *    "aud":"<worker group>","sig":"<hex>"}
 *
 * "aud" (the audience) names the workers' group (worker.group) the command is
 * for, and is signed like the rest: two deployments that share a secret
 * cannot run each other's commands. A worker also refuses a command issued
 * longer ago than worker.command_max_age_s (default 24 h) or later than now
 * plus worker.command_max_skew_s: a captured command cannot be replayed
 * after its window.
 *
 * The canonical form, which is what "sig" signs, is the message without its
 * "sig" member serialized as jansson's
 * json_dumps(JSON_COMPACT | JSON_SORT_KEYS) writes it:
 *
 *   - UTF-8, no whitespace at all: separators are "," and ":";
 *   - the members of every object, at every depth, sorted by the bytes of
 *     their names (strcmp);
 *   - strings escape '"' and '\' with a backslash, \b \f \n \r \t as such,
 *     other characters below U+0020 as \u00XX (upper-case hex); everything
 *     else, '/' and non-ASCII included, is written as is;
 *   - integers in plain decimal; true, false, null.
 *
 * For example {"aud":"vigil-workers","command_id":"drafts@2026-01-01T00:17:00Z",
 * "dry_run":true,"issued_at":"2026-01-01T00:17:00.000412Z","name":"cleanup_drafts",
 * "params":{"batch_size":1000,"older_than_hours":48},"v":1}.
 *
 * "sig" is the lower-case hex of HMAC-SHA256(VIGIL_COMMAND_SECRET, canonical
 * form): 64 characters. Parameters are integers and strings only (no real
 * numbers, whose text forms differ between JSON libraries), so another
 * implementation can produce the same bytes.
 */
#ifndef VG_COMMAND_H
#define VG_COMMAND_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define VG_COMMAND_VERSION       1
#define VG_COMMAND_ID_MAX        200   /* bytes of a command_id */
#define VG_COMMAND_MAX_BYTES     65536 /* largest message accepted */
#define VG_COMMAND_SIG_HEX       64    /* characters of "sig" */
#define VG_COMMAND_SAMPLE_MAX    100   /* keys kept in ops.command_runs.sample */
#define VG_COMMAND_BATCH_DEFAULT 1000
#define VG_COMMAND_AUD_MAX       200 /* bytes of "aud", as a consumer group name */

enum vg_param_type {
    VG_PARAM_INT,    /* a JSON integer within [min, max] */
    VG_PARAM_STRING, /* a JSON string of min..max bytes, no control characters */
    VG_PARAM_TIME,   /* a JSON string holding an RFC 3339 time */
};

struct vg_command_param {
    const char *name;
    enum vg_param_type type;
    int required;
    int64_t min, max;
    const char *help;
};

/* A command the workers know. params ends with an entry whose name is NULL. */
struct vg_command_def {
    const char *name;
    const struct vg_command_param *params;
    /* Rules across parameters, after each one passed its own; may be NULL.
     * Returns 0 or VG_EINVAL with errstr filled. */
    int (*check)(const json_t *params, char *errstr, size_t errstr_size);
    const char *help;
};

/* The definition of the command called name, or NULL. */
const struct vg_command_def *vg_command_find(const char *name);
/* The i-th known command, or NULL past the last (for --help and docs). */
const struct vg_command_def *vg_command_at(size_t i);

/* Checks that params (a JSON object) holds only parameters of def, each of
 * its type and within bounds, every required one, and def's own rules.
 * Returns 0 or VG_EINVAL with errstr naming the parameter. */
int vg_command_check_params(const struct vg_command_def *def, const json_t *params, char *errstr,
                            size_t errstr_size) VG_MUSTCHECK;

/* Converts text given for parameter name of def ("--param name=text") into
 * the JSON value of its type, in *out (a new reference). Returns 0 or
 * VG_EINVAL with errstr filled (unknown parameter, not an integer, ...). */
int vg_command_param_parse(const struct vg_command_def *def, const char *name, const char *text,
                           json_t **out, char *errstr, size_t errstr_size) VG_MUSTCHECK;

/* 1 if id can be a command_id: 1..VG_COMMAND_ID_MAX printable ASCII
 * characters without spaces. */
int vg_command_id_valid(const char *id);

/* A new unsigned message. params may be NULL ({}); it is copied, not taken.
 * issued_us is the issue time in epoch microseconds; audience is the
 * workers' group it is for (worker.group). Never NULL. */
json_t *vg_command_new(const char *command_id, const char *name, const json_t *params, int dry_run,
                       int64_t issued_us, const char *audience);

/* The canonical form of msg (see above): msg without "sig", a new string
 * for free(). NULL only if msg is not an object or holds invalid UTF-8. */
char *vg_command_canonical(const json_t *msg);

/* Sets msg's "sig" for secret (a NUL-terminated string, used as its bytes).
 * Returns 0, or VG_EINVAL if msg has no canonical form. */
int vg_command_sign(json_t *msg, const char *secret) VG_MUSTCHECK;

/* Checks msg's "sig" against secret in constant time. Returns 0, or VG_EAUTH
 * with errstr saying why: no secret, unsigned, malformed or wrong sig. */
int vg_command_verify(const json_t *msg, const char *secret, char *errstr,
                      size_t errstr_size) VG_MUSTCHECK;

/* What a worker trusts: the key, its own group, and the window of issue
 * times it accepts around now_us (epoch microseconds). */
struct vg_command_trust {
    const char *secret;   /* security.command_secret */
    const char *audience; /* worker.group */
    int64_t now_us;
    int64_t max_age_s;  /* issued_at older than now - max_age_s is refused */
    int64_t max_skew_s; /* issued_at later than now + max_skew_s is refused */
};

/* A command as the workers receive it. Strings and params point into msg. */
struct vg_command {
    json_t *msg; /* owned */
    const struct vg_command_def *def;
    const char *command_id;
    const char *name;
    json_t *params;
    int dry_run;
    int64_t issued_us;
    const char *audience;
};

/*
 * Parses and checks one message value: JSON (at most VG_COMMAND_MAX_BYTES),
 * signed with trust->secret, then well formed (v 1, every member of its
 * type, no other members), a known name and valid params, for
 * trust->audience and issued within trust's window. On success fills *out
 * (free it with vg_command_free()) and returns 0. Otherwise returns VG_EAUTH
 * (unsigned, forged, for another audience, or outside its window: a replay),
 * VG_EPARSE (not a well-formed command), or VG_ENOTFOUND (a command no worker
 * knows), with errstr filled; *out is left empty.
 */
int vg_command_parse(const void *data, size_t len, const struct vg_command_trust *trust,
                     struct vg_command *out, char *errstr, size_t errstr_size) VG_MUSTCHECK;

/* Frees what vg_command_parse() filled; accepts an empty struct. */
void vg_command_free(struct vg_command *c);

#endif
