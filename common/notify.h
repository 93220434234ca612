/*
 * notify.h - a tenant's notification destinations (tenants[].notify).
 *
 * Each destination is a webhook or an e-mail address list, with optional
 * filters on the session's kind and status (DESIGN.md section 11). In the
 * file, under a tenant of producer.tenants:
 *
 *   notify = (
 *     { name = "ops"; webhook = { url = "https://..."; secret = "...";
 *                                 kinds = [ "lesson" ]; statuses = [ "timeout" ];
 *                                 format = "slack"; }; },
 *     { name = "team"; email = { smtp_url = "smtp://mail:587"; from = "vigil@x";
 *                                to = [ "a@x" ]; }; }
 *   );
 *
 * A destination is named "<tenant>/<name>" in ops.deliveries; name defaults
 * to "webhook-N" or "email-N" (N its position, from 1). A webhook's secret
 * (or the variable named by secret_env) must hold at least 32 bytes and no
 * placeholder; an e-mail's password may come from the URL or password_env.
 */
#ifndef VG_NOTIFY_H
#define VG_NOTIFY_H

#include <libconfig.h>
#include <stddef.h>

#include "err.h"

enum vg_notify_type { VG_NOTIFY_WEBHOOK, VG_NOTIFY_EMAIL };
enum vg_notify_format { VG_NOTIFY_JSON, VG_NOTIFY_SLACK };

struct vg_notify {
    char *name;
    char *destination; /* "<tenant>/<name>", the key in ops.deliveries */
    enum vg_notify_type type;
    char **kinds; /* empty: every kind */
    size_t nkinds;
    char **statuses; /* empty: every status */
    size_t nstatuses;
    /* webhook */
    char *url;
    char *secret; /* never logged */
    enum vg_notify_format format;
    /* e-mail */
    char *smtp_url; /* may hold user:password; never logged */
    char *from;
    char **to;
    size_t nto;
    char *username, *password; /* NULL: from the URL, or none */
};

/*
 * Parses a tenant's notify list m into *out (*n entries; the caller frees
 * with vg_notify_free even on failure). On failure returns VG_EINVAL with
 * the line of the offending setting in *line and the reason in why.
 */
int vg_notify_parse(config_setting_t *m, struct vg_notify **out, size_t *n, int *line, char *why,
                    size_t why_size) VG_MUSTCHECK;

/* Names each of the n destinations "<tenant>/<name>" (their destination). */
void vg_notify_set_tenant(struct vg_notify *d, size_t n, const char *tenant);

/* Frees n destinations and the array; accepts NULL. */
void vg_notify_free(struct vg_notify *d, size_t n);

/* 1 if a summary of this kind and status goes to d (kind may be NULL). */
int vg_notify_wants(const struct vg_notify *d, const char *kind, const char *status);

#endif
