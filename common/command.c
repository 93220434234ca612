#include "command.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "util.h"

/* -- the commands ------------------------------------------------------ */

/* clang-format off */
#define YEAR_S 31536000
#define BATCH_SIZE                                                                               \
    {"batch_size", VG_PARAM_INT, 0, 1, 100000,                                                   \
     "rows per transaction (default 1000)"}
#define TENANT_SCOPE                                                                             \
    {"tenant", VG_PARAM_STRING, 0, 1, 64, "only this tenant's sessions (default: every tenant)"}
#define END {NULL, VG_PARAM_INT, 0, 0, 0, NULL}

/* clang-format on */
static const struct vg_command_param timeout_params[] = {
    {"idle_seconds", VG_PARAM_INT, 1, 1, YEAR_S,
     "active sessions idle longer than this time out, ending at their last activity"},
    {"max_seconds", VG_PARAM_INT, 0, 1, YEAR_S,
     "sessions started longer ago than this time out with end_reason max_duration"},
    BATCH_SIZE,
    TENANT_SCOPE,
    END,
};

static const struct vg_command_param drafts_params[] = {
    {"older_than_hours", VG_PARAM_INT, 1, 0, 87600, "drafts created longer ago are deleted"},
    BATCH_SIZE,
    TENANT_SCOPE,
    END,
};

static const struct vg_command_param expire_params[] = {
    BATCH_SIZE,
    TENANT_SCOPE,
    END,
};

static const struct vg_command_param purge_params[] = {
    {"older_than_days", VG_PARAM_INT, 1, 1, 36500,
     "raw partitions of UTC days entirely before today minus this many days are dropped"},
    END,
};

static const struct vg_command_param erase_params[] = {
    {"tenant", VG_PARAM_STRING, 1, 1, 64, "the subject's tenant"},
    {"visitor_id", VG_PARAM_STRING, 0, 1, 128, "the visitor to erase"},
    {"user_id", VG_PARAM_STRING, 0, 1, 128, "the user to erase"},
    END,
};

static const struct vg_command_param reprocess_params[] = {
    {"from", VG_PARAM_TIME, 1, 0, 0, "first received_at included (RFC 3339)"},
    {"to", VG_PARAM_TIME, 1, 0, 0, "first received_at excluded (RFC 3339)"},
    BATCH_SIZE,
    {"tenant", VG_PARAM_STRING, 0, 1, 64, "only this tenant's events (default: every tenant)"},
    END,
};

static int erase_check(const json_t *params, char *errstr, size_t errstr_size)
{
    int v = json_object_get(params, "visitor_id") != NULL;
    int u = json_object_get(params, "user_id") != NULL;
    if (v == u)
        return vg_einval(errstr, errstr_size, "exactly one of visitor_id and user_id is required");
    return 0;
}

static int reprocess_check(const json_t *params, char *errstr, size_t errstr_size)
{
    int64_t from, to;
    if (vg_time_parse(json_string_value(json_object_get(params, "from")), &from) ||
        vg_time_parse(json_string_value(json_object_get(params, "to")), &to))
        return vg_einval(errstr, errstr_size, "from and to must be RFC 3339 times");
    if (from >= to)
        return vg_einval(errstr, errstr_size, "from must be before to");
    return 0;
}

static const struct vg_command_def commands[] = {
    {"timeout_sessions", timeout_params, NULL,
     "active sessions idle past idle_seconds (or older than max_seconds) become timeout"},
    {"cleanup_drafts", drafts_params, NULL,
     "deletes drafts created more than older_than_hours ago that never became active"},
    {"expire_sessions", expire_params, NULL,
     "draft and active sessions past their expires_at become expired"},
    {"purge_raw", purge_params, NULL, "drops the raw.events partitions of old days"},
    {"erase_subject", erase_params, erase_check,
     "right to erasure: a visitor's or user's events in raw, staging and vault"},
    {"reprocess", reprocess_params, reprocess_check,
     "rebuilds staging and vault rows from raw.events received in [from, to)"},
};

const struct vg_command_def *vg_command_find(const char *name)
{
    for (size_t i = 0; name && i < VG_ARRAY_LEN(commands); i++)
        if (!strcmp(commands[i].name, name))
            return &commands[i];
    return NULL;
}

const struct vg_command_def *vg_command_at(size_t i)
{
    return i < VG_ARRAY_LEN(commands) ? &commands[i] : NULL;
}

/* -- parameters -------------------------------------------------------- */

static const struct vg_command_param *param_find(const struct vg_command_def *def, const char *name)
{
    for (const struct vg_command_param *p = def->params; p->name; p++)
        if (!strcmp(p->name, name))
            return p;
    return NULL;
}

static int text_ok(const char *s, size_t n)
{
    if (strlen(s) != n)
        return 0; /* an embedded NUL */
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return 0;
    return 1;
}

static int param_check(const struct vg_command_param *p, const json_t *v, char *errstr,
                       size_t errstr_size)
{
    switch (p->type) {
    case VG_PARAM_INT: {
        if (!json_is_integer(v))
            return vg_einval(errstr, errstr_size, "parameter %s must be an integer", p->name);
        json_int_t n = json_integer_value(v);
        if (n < p->min || n > p->max)
            return vg_einval(errstr, errstr_size, "parameter %s must be within [%lld, %lld]", p->name,
                        (long long)p->min, (long long)p->max);
        return 0;
    }
    case VG_PARAM_STRING: {
        if (!json_is_string(v))
            return vg_einval(errstr, errstr_size, "parameter %s must be a string", p->name);
        size_t n = json_string_length(v);
        if ((int64_t)n < p->min || (int64_t)n > p->max || !text_ok(json_string_value(v), n))
            return vg_einval(errstr, errstr_size,
                        "parameter %s must be %lld to %lld characters, none of them control "
                        "characters",
                        p->name, (long long)p->min, (long long)p->max);
        return 0;
    }
    case VG_PARAM_TIME: {
        int64_t us;
        if (!json_is_string(v) || json_string_length(v) > 64 ||
            vg_time_parse(json_string_value(v), &us))
            return vg_einval(errstr, errstr_size, "parameter %s must be an RFC 3339 time", p->name);
        return 0;
    }
    }
    return vg_einval(errstr, errstr_size, "parameter %s has an unknown type", p->name);
}

int vg_command_check_params(const struct vg_command_def *def, const json_t *params, char *errstr,
                            size_t errstr_size)
{
    if (!json_is_object(params))
        return vg_einval(errstr, errstr_size, "params must be an object");
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)params, key, v)
    {
        const struct vg_command_param *p = param_find(def, key);
        if (!p)
            return vg_einval(errstr, errstr_size, "%s has no parameter \"%.64s\"", def->name, key);
        int rc = param_check(p, v, errstr, errstr_size);
        if (rc)
            return rc;
    }
    for (const struct vg_command_param *p = def->params; p->name; p++)
        if (p->required && !json_object_get(params, p->name))
            return vg_einval(errstr, errstr_size, "%s requires parameter %s", def->name, p->name);
    return def->check ? def->check(params, errstr, errstr_size) : 0;
}

int vg_command_param_parse(const struct vg_command_def *def, const char *name, const char *text,
                           json_t **out, char *errstr, size_t errstr_size)
{
    const struct vg_command_param *p = param_find(def, name);
    *out = NULL;
    if (!p)
        return vg_einval(errstr, errstr_size, "%s has no parameter \"%s\"", def->name, name);
    json_t *v;
    if (p->type == VG_PARAM_INT) {
        int64_t n;
        if (vg_parse_int64(text, INT64_MIN, INT64_MAX, &n))
            return vg_einval(errstr, errstr_size, "parameter %s must be an integer, not \"%s\"", name,
                        text);
        v = json_integer((json_int_t)n);
    } else {
        v = json_string(text);
        if (!v)
            return vg_einval(errstr, errstr_size, "parameter %s is not UTF-8", name);
    }
    int rc = param_check(p, v, errstr, errstr_size);
    if (rc) {
        json_decref(v);
        return rc;
    }
    *out = v;
    return 0;
}

int vg_command_id_valid(const char *id)
{
    size_t n = 0;
    for (; id[n]; n++)
        if ((unsigned char)id[n] <= 0x20 || (unsigned char)id[n] >= 0x7f)
            return 0;
    return n >= 1 && n <= VG_COMMAND_ID_MAX;
}

/* -- message and signature --------------------------------------------- */

json_t *vg_command_new(const char *command_id, const char *name, const json_t *params, int dry_run,
                       int64_t issued_us, const char *audience)
{
    char at[VG_TS_LEN];
    vg_time_format(issued_us, at);
    json_t *msg = json_object();
    json_object_set_new(msg, "v", json_integer(VG_COMMAND_VERSION));
    json_object_set_new(msg, "command_id", json_string(command_id));
    json_object_set_new(msg, "name", json_string(name));
    json_object_set_new(msg, "params", params ? json_deep_copy(params) : json_object());
    json_object_set_new(msg, "dry_run", json_boolean(dry_run));
    json_object_set_new(msg, "issued_at", json_string(at));
    json_object_set_new(msg, "aud", json_string(audience));
    return msg;
}

char *vg_command_canonical(const json_t *msg)
{
    if (!json_is_object(msg))
        return NULL;
    json_t *rest = json_copy((json_t *)msg); /* shallow: the members are shared */
    json_object_del(rest, "sig");
    char *s = json_dumps(rest, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(rest);
    return s;
}

/* The expected signature of msg as lower-case hex; 0, or VG_EINVAL. */
static int signature(const json_t *msg, const char *secret, char hex[VG_COMMAND_SIG_HEX + 1])
{
    char *canon = vg_command_canonical(msg);
    if (!canon)
        return VG_EINVAL;
    unsigned char mac[VG_SHA256_LEN];
    vg_hmac_sha256(secret, strlen(secret), canon, strlen(canon), mac);
    vg_hex(mac, sizeof(mac), hex);
    free(canon);
    return 0;
}

int vg_command_sign(json_t *msg, const char *secret)
{
    char hex[VG_COMMAND_SIG_HEX + 1];
    int rc = signature(msg, secret, hex);
    if (rc)
        return rc;
    json_object_set_new(msg, "sig", json_string(hex));
    return 0;
}

int vg_command_verify(const json_t *msg, const char *secret, char *errstr, size_t errstr_size)
{
    if (!secret || !*secret) {
        snprintf(errstr, errstr_size, "no command secret is configured (VIGIL_COMMAND_SECRET)");
        return VG_EAUTH;
    }
    json_t *sig = json_object_get(msg, "sig");
    if (!sig) {
        snprintf(errstr, errstr_size, "unsigned command (no sig)");
        return VG_EAUTH;
    }
    if (!json_is_string(sig) || json_string_length(sig) != VG_COMMAND_SIG_HEX) {
        snprintf(errstr, errstr_size, "sig must be %d hex characters", VG_COMMAND_SIG_HEX);
        return VG_EAUTH;
    }
    char want[VG_COMMAND_SIG_HEX + 1];
    if (signature(msg, secret, want)) {
        snprintf(errstr, errstr_size, "command has no canonical form");
        return VG_EAUTH;
    }
    if (!vg_equal_ct(want, json_string_value(sig), VG_COMMAND_SIG_HEX)) {
        snprintf(errstr, errstr_size, "bad signature");
        return VG_EAUTH;
    }
    return 0;
}

/* -- receiving --------------------------------------------------------- */

static int malformed(char *errstr, size_t errstr_size, const char *what)
{
    snprintf(errstr, errstr_size, "malformed command: %s", what);
    return VG_EPARSE;
}

/* The audience and the window of issue times, once the signature held. */
static int check_trust(const struct vg_command *c, const struct vg_command_trust *trust,
                       char *errstr, size_t errstr_size)
{
    if (!trust->audience || strcmp(c->audience, trust->audience)) {
        snprintf(errstr, errstr_size, "command for another audience (\"%.64s\", this is \"%.64s\")",
                 c->audience, trust->audience ? trust->audience : "");
        return VG_EAUTH;
    }
    int64_t age_s = (trust->now_us - c->issued_us) / 1000000;
    if (age_s > trust->max_age_s) {
        snprintf(errstr, errstr_size,
                 "command issued %lld s ago, past the window of %lld s (a replay?)",
                 (long long)age_s, (long long)trust->max_age_s);
        return VG_EAUTH;
    }
    if (-age_s > trust->max_skew_s) {
        snprintf(errstr, errstr_size,
                 "command issued %lld s in the future, past the clock skew of %lld s",
                 (long long)-age_s, (long long)trust->max_skew_s);
        return VG_EAUTH;
    }
    return 0;
}

int vg_command_parse(const void *data, size_t len, const struct vg_command_trust *trust,
                     struct vg_command *out, char *errstr, size_t errstr_size)
{
    const char *secret = trust->secret;
    memset(out, 0, sizeof(*out));
    if (!data || len == 0)
        return malformed(errstr, errstr_size, "empty message");
    if (len > VG_COMMAND_MAX_BYTES)
        return malformed(errstr, errstr_size, "larger than 64 KiB");
    json_error_t jerr;
    json_t *msg = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!msg) {
        snprintf(errstr, errstr_size, "malformed command: not JSON: %s at byte %d", jerr.text,
                 jerr.position);
        return VG_EPARSE;
    }
    int rc = VG_EPARSE;
    if (!json_is_object(msg)) {
        malformed(errstr, errstr_size, "not a JSON object");
        goto bad;
    }
    /* Authenticity first: nothing else about an unsigned message matters. */
    if ((rc = vg_command_verify(msg, secret, errstr, errstr_size)))
        goto bad;
    rc = VG_EPARSE;
    const char *key;
    json_t *v;
    json_object_foreach(msg, key, v)
    {
        static const char *const members[] = {"v",         "command_id", "name", "params",
                                              "dry_run",   "issued_at",  "aud",  "sig"};
        int known = 0;
        for (size_t i = 0; i < VG_ARRAY_LEN(members) && !known; i++)
            known = !strcmp(key, members[i]);
        if (!known) {
            snprintf(errstr, errstr_size, "malformed command: unknown member \"%.64s\"", key);
            goto bad;
        }
    }
    v = json_object_get(msg, "v");
    if (!json_is_integer(v) || json_integer_value(v) != VG_COMMAND_VERSION) {
        malformed(errstr, errstr_size, "v must be 1");
        goto bad;
    }
    v = json_object_get(msg, "command_id");
    if (!json_is_string(v) || !vg_command_id_valid(json_string_value(v)) ||
        strlen(json_string_value(v)) != json_string_length(v)) {
        malformed(errstr, errstr_size,
                  "command_id must be 1 to 200 printable ASCII characters without spaces");
        goto bad;
    }
    out->command_id = json_string_value(v);
    v = json_object_get(msg, "name");
    if (!json_is_string(v)) {
        malformed(errstr, errstr_size, "name must be a string");
        goto bad;
    }
    out->name = json_string_value(v);
    out->params = json_object_get(msg, "params");
    if (!json_is_object(out->params)) {
        malformed(errstr, errstr_size, "params must be an object");
        goto bad;
    }
    v = json_object_get(msg, "dry_run");
    if (!json_is_boolean(v)) {
        malformed(errstr, errstr_size, "dry_run must be true or false");
        goto bad;
    }
    out->dry_run = json_is_true(v);
    v = json_object_get(msg, "issued_at");
    if (!json_is_string(v) || vg_time_parse(json_string_value(v), &out->issued_us)) {
        malformed(errstr, errstr_size, "issued_at must be an RFC 3339 time");
        goto bad;
    }
    v = json_object_get(msg, "aud");
    if (!json_is_string(v) || json_string_length(v) < 1 ||
        json_string_length(v) > VG_COMMAND_AUD_MAX ||
        strlen(json_string_value(v)) != json_string_length(v)) {
        malformed(errstr, errstr_size, "aud must name the workers' group");
        goto bad;
    }
    out->audience = json_string_value(v);
    if ((rc = check_trust(out, trust, errstr, errstr_size)))
        goto bad;
    rc = VG_EPARSE;
    out->def = vg_command_find(out->name);
    if (!out->def) {
        snprintf(errstr, errstr_size, "unknown command \"%.64s\"", out->name);
        rc = VG_ENOTFOUND;
        goto bad;
    }
    char perr[256];
    if (vg_command_check_params(out->def, out->params, perr, sizeof(perr))) {
        snprintf(errstr, errstr_size, "malformed command: %s", perr);
        goto bad;
    }
    out->msg = msg;
    return 0;
bad:
    json_decref(msg);
    memset(out, 0, sizeof(*out));
    return rc;
}

void vg_command_free(struct vg_command *c)
{
    json_decref(c->msg);
    memset(c, 0, sizeof(*c));
}
