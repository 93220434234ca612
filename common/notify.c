/*
 * notify.c - parsing and matching of tenants[].notify.
 */
#include "notify.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "util.h"

/* What a parse carries: where the error is, and its words. */
struct np {
    int *line;
    char *why;
    size_t why_size;
};

static int bad(struct np *p, config_setting_t *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int bad(struct np *p, config_setting_t *at, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->why, p->why_size, fmt, ap);
    va_end(ap);
    *p->line = config_setting_source_line(at);
    return VG_EINVAL;
}

/* A destination's name: [A-Za-z0-9_.-]{1,64}, so "<tenant>/<name>" reads plainly. */
static int valid_name(const char *s)
{
    size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-");
    return n > 0 && n <= 64 && s[n] == '\0';
}

/* A value written into a header or an SMTP envelope: no line breaks. */
static int one_line(const char *s)
{
    return strpbrk(s, "\r\n") == NULL;
}

static int text(struct np *p, config_setting_t *m, const char *what, char **dst)
{
    const char *v = config_setting_get_string(m);
    if (!v || !*v || !one_line(v))
        return bad(p, m, "%s: must be a non-empty string on one line", what);
    free(*dst);
    *dst = vg_xstrdup(v);
    return 0;
}

static int texts(struct np *p, config_setting_t *m, const char *what, char ***dst, size_t *n)
{
    if (!config_setting_is_array(m) && !config_setting_is_list(m))
        return bad(p, m, "%s: must be an array of strings", what);
    int len = config_setting_length(m);
    *dst = vg_xcalloc((size_t)len + 1, sizeof(char *));
    for (int i = 0; i < len; i++) {
        const char *v = config_setting_get_string_elem(m, i);
        if (!v || !*v || !one_line(v))
            return bad(p, m, "%s: element %d is not a non-empty string", what, i + 1);
        (*dst)[(*n)++] = vg_xstrdup(v);
    }
    return 0;
}

/* A secret given inline or through the environment variable named by m. */
static int secret_from_env(struct np *p, config_setting_t *m, const char *what, char **dst)
{
    const char *var = config_setting_get_string(m);
    if (!var || !*var)
        return bad(p, m, "%s: must name an environment variable", what);
    const char *v = getenv(var);
    if (!v || !*v)
        return bad(p, m, "%s: the environment variable %s is not set", what, var);
    free(*dst);
    *dst = vg_xstrdup(v);
    return 0;
}

static int filters(struct np *p, config_setting_t *m, const char *name, struct vg_notify *d,
                   int *handled)
{
    *handled = 1;
    if (!strcmp(name, "kinds"))
        return texts(p, m, "notify.kinds", &d->kinds, &d->nkinds);
    if (!strcmp(name, "statuses")) {
        int rc = texts(p, m, "notify.statuses", &d->statuses, &d->nstatuses);
        for (size_t i = 0; rc == 0 && i < d->nstatuses; i++)
            if (strcmp(d->statuses[i], "ended") && strcmp(d->statuses[i], "timeout") &&
                strcmp(d->statuses[i], "expired"))
                rc = bad(p, m, "notify.statuses: \"%s\" is none of ended, timeout, expired",
                         d->statuses[i]);
        return rc;
    }
    *handled = 0;
    return 0;
}

typedef int (*member_fn)(struct np *p, config_setting_t *m, const char *name,
                         struct vg_notify *d);

/* Every member of g: a filter, else what fn knows (VG_ENOTFOUND: nothing). */
static int members(struct np *p, config_setting_t *g, const char *what, struct vg_notify *d,
                   member_fn fn)
{
    for (int i = 0; i < config_setting_length(g); i++) {
        config_setting_t *m = config_setting_get_elem(g, (unsigned)i);
        const char *name = config_setting_name(m);
        int handled, rc = filters(p, m, name, d, &handled);
        if (!handled)
            rc = fn(p, m, name, d);
        if (rc == VG_ENOTFOUND)
            return bad(p, m, "notify.%s.%s: unknown setting", what, name);
        if (rc)
            return rc;
    }
    return 0;
}

static int webhook_member(struct np *p, config_setting_t *m, const char *name,
                          struct vg_notify *d)
{
    int rc;
    if (!strcmp(name, "url")) {
        if ((rc = text(p, m, "notify.webhook.url", &d->url)))
            return rc;
        if (strncmp(d->url, "http://", 7) && strncmp(d->url, "https://", 8))
            return bad(p, m, "notify.webhook.url: must start with http:// or https://");
        return 0;
    }
    if (!strcmp(name, "secret") || !strcmp(name, "secret_env")) {
        rc = name[6] ? secret_from_env(p, m, "notify.webhook.secret_env", &d->secret)
                     : text(p, m, "notify.webhook.secret", &d->secret);
        /* The rule of every secret (common/config.c): long enough, no placeholder. */
        char why[256], label[48];
        snprintf(label, sizeof(label), "notify.webhook.%s", name);
        if (rc == 0 && vg_config_check_secret(label, d->secret, why, sizeof(why)))
            rc = bad(p, m, "%s", why);
        return rc;
    }
    if (!strcmp(name, "format")) {
        const char *v = config_setting_get_string(m);
        if (v && !strcmp(v, "json"))
            d->format = VG_NOTIFY_JSON;
        else if (v && !strcmp(v, "slack"))
            d->format = VG_NOTIFY_SLACK;
        else
            return bad(p, m, "notify.webhook.format: must be \"json\" or \"slack\"");
        return 0;
    }
    return VG_ENOTFOUND;
}

static int webhook(struct np *p, config_setting_t *g, struct vg_notify *d)
{
    d->type = VG_NOTIFY_WEBHOOK;
    int rc = members(p, g, "webhook", d, webhook_member);
    if (rc)
        return rc;
    if (!d->url)
        return bad(p, g, "notify.webhook: url is required");
    if (!d->secret)
        return bad(p, g, "notify.webhook: secret (or secret_env) is required");
    return 0;
}

static int email_member(struct np *p, config_setting_t *m, const char *name, struct vg_notify *d)
{
    if (!strcmp(name, "smtp_url")) {
        int rc = text(p, m, "notify.email.smtp_url", &d->smtp_url);
        if (rc == 0 && strncmp(d->smtp_url, "smtp://", 7) && strncmp(d->smtp_url, "smtps://", 8))
            rc = bad(p, m, "notify.email.smtp_url: must start with smtp:// or smtps://");
        return rc;
    }
    if (!strcmp(name, "from"))
        return text(p, m, "notify.email.from", &d->from);
    if (!strcmp(name, "to"))
        return texts(p, m, "notify.email.to", &d->to, &d->nto);
    if (!strcmp(name, "username"))
        return text(p, m, "notify.email.username", &d->username);
    if (!strcmp(name, "password_env"))
        return secret_from_env(p, m, "notify.email.password_env", &d->password);
    return VG_ENOTFOUND;
}

static int email(struct np *p, config_setting_t *g, struct vg_notify *d)
{
    d->type = VG_NOTIFY_EMAIL;
    int rc = members(p, g, "email", d, email_member);
    if (rc)
        return rc;
    if (!d->smtp_url || !d->from || d->nto == 0)
        return bad(p, g, "notify.email: smtp_url, from and a non-empty to are required");
    if (!strchr(d->from, '@'))
        return bad(p, g, "notify.email.from: \"%s\" is not an address", d->from);
    for (size_t i = 0; i < d->nto; i++)
        if (!strchr(d->to[i], '@'))
            return bad(p, g, "notify.email.to: \"%s\" is not an address", d->to[i]);
    return 0;
}

static int destination(struct np *p, config_setting_t *g, size_t pos, struct vg_notify *d)
{
    if (!config_setting_is_group(g))
        return bad(p, g, "notify: each destination must be a group { webhook = {...}; }");
    config_setting_t *kind = NULL;
    for (int i = 0; i < config_setting_length(g); i++) {
        config_setting_t *m = config_setting_get_elem(g, (unsigned)i);
        const char *name = config_setting_name(m);
        if (!strcmp(name, "name")) {
            int rc = text(p, m, "notify.name", &d->name);
            if (rc)
                return rc;
            if (!valid_name(d->name))
                return bad(p, m, "notify.name: must match [A-Za-z0-9_.-]{1,64}");
        } else if (!strcmp(name, "webhook") || !strcmp(name, "email")) {
            if (kind)
                return bad(p, m, "notify: a destination is one webhook or one email, not both");
            if (!config_setting_is_group(m))
                return bad(p, m, "notify.%s: must be a group { ... }", name);
            kind = m;
        } else {
            return bad(p, m, "notify.%s: unknown setting", name);
        }
    }
    if (!kind)
        return bad(p, g, "notify: a destination needs a webhook = {...} or an email = {...}");
    int is_hook = !strcmp(config_setting_name(kind), "webhook");
    int rc = is_hook ? webhook(p, kind, d) : email(p, kind, d);
    if (rc == 0 && !d->name)
        d->name = vg_xasprintf("%s-%zu", is_hook ? "webhook" : "email", pos + 1);
    return rc;
}

int vg_notify_parse(config_setting_t *m, struct vg_notify **out, size_t *n, int *line, char *why,
                    size_t why_size)
{
    struct np p = {.line = line, .why = why, .why_size = why_size};
    *out = NULL;
    *n = 0;
    if (!config_setting_is_list(m))
        return bad(&p, m, "notify: must be a list ( {...}, {...} )");
    int len = config_setting_length(m);
    *out = vg_xcalloc((size_t)len + 1, sizeof(**out));
    for (int i = 0; i < len; i++) {
        config_setting_t *g = config_setting_get_elem(m, (unsigned)i);
        struct vg_notify *d = &(*out)[(*n)++];
        int rc = destination(&p, g, (size_t)i, d);
        if (rc)
            return rc;
        for (size_t j = 0; j + 1 < *n; j++)
            if (!strcmp((*out)[j].name, d->name))
                return bad(&p, g, "notify: destination \"%s\" is defined twice", d->name);
    }
    return 0;
}

void vg_notify_set_tenant(struct vg_notify *d, size_t n, const char *tenant)
{
    for (size_t i = 0; i < n; i++) {
        free(d[i].destination);
        d[i].destination = vg_xasprintf("%s/%s", tenant, d[i].name);
    }
}

static void strv_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void vg_notify_free(struct vg_notify *d, size_t n)
{
    if (!d)
        return;
    for (size_t i = 0; i < n; i++) {
        free(d[i].name);
        free(d[i].destination);
        strv_free(d[i].kinds, d[i].nkinds);
        strv_free(d[i].statuses, d[i].nstatuses);
        free(d[i].url);
        free(d[i].secret);
        free(d[i].smtp_url);
        free(d[i].from);
        strv_free(d[i].to, d[i].nto);
        free(d[i].username);
        free(d[i].password);
    }
    free(d);
}

static int listed(char *const *v, size_t n, const char *s)
{
    if (n == 0)
        return 1;
    for (size_t i = 0; s && i < n; i++)
        if (!strcmp(v[i], s))
            return 1;
    return 0;
}

int vg_notify_wants(const struct vg_notify *d, const char *kind, const char *status)
{
    return listed(d->kinds, d->nkinds, kind) && listed(d->statuses, d->nstatuses, status);
}
