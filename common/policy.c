#include "policy.h"

#include <string.h>
#include <strings.h>

#include "crypto.h"
#include "envelope.h"

const struct vg_tenant *vg_policy_tenant_by_key(const struct vg_config *cfg, const char *key,
                                                size_t len, int *publishable)
{
    unsigned char h[VG_SHA256_LEN];
    vg_sha256(key, len, h);
    const struct vg_tenant *found = NULL, *found_pk = NULL;
    for (size_t i = 0; i < cfg->ntenants; i++) {
        const struct vg_tenant *t = &cfg->tenants[i];
        for (size_t j = 0; j < t->nkeys; j++)
            if (vg_equal_ct(h, t->keys[j], VG_SHA256_LEN) && !found)
                found = t;
        for (size_t j = 0; j < t->npkeys; j++)
            if (vg_equal_ct(h, t->pkeys[j], VG_SHA256_LEN) && !found_pk)
                found_pk = t;
    }
    if (publishable)
        *publishable = !found && found_pk;
    if (found || !publishable)
        return found;
    return found_pk;
}

static int all_digits(const char *s)
{
    if (!*s || strlen(s) > 5)
        return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return 0;
    return 1;
}

static int origin_match(const char *pattern, const char *origin)
{
    if (!strcmp(pattern, "*"))
        return 1;
    size_t pn = strlen(pattern);
    if (pn >= 2 && !strcmp(pattern + pn - 2, ":*")) {
        size_t base = pn - 2;
        if (strncasecmp(pattern, origin, base))
            return 0;
        if (origin[base] == '\0')
            return 1;
        return origin[base] == ':' && all_digits(origin + base + 1);
    }
    return !strcasecmp(pattern, origin);
}

int vg_policy_origin_allowed(const struct vg_tenant *t, const char *origin)
{
    if (!origin || !*origin || !strcmp(origin, "null"))
        return 0;
    for (size_t i = 0; i < t->norigins; i++)
        if (origin_match(t->origins[i], origin))
            return 1;
    return 0;
}

int vg_policy_origin_any(const struct vg_config *cfg, const char *origin)
{
    for (size_t i = 0; i < cfg->ntenants; i++)
        if (vg_policy_origin_allowed(&cfg->tenants[i], origin))
            return 1;
    return 0;
}

static int host_match(const char *pattern, const char *host, size_t hn)
{
    size_t pn = strlen(pattern);
    if (pn > 2 && pattern[0] == '*' && pattern[1] == '.') {
        /* "*.example.com": "a.example.com" and deeper, never "example.com" */
        size_t sn = pn - 1; /* ".example.com" */
        return hn > sn && !strncasecmp(host + hn - sn, pattern + 1, sn);
    }
    return hn == pn && !strncasecmp(host, pattern, hn);
}

int vg_policy_redirect_allowed(const struct vg_tenant *t, const char *url)
{
    size_t n = strlen(url);
    if (n == 0 || n > VG_URL_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)url[i];
        if (c <= 0x20 || c >= 0x7f || c == '\\')
            return 0;
    }
    const char *p;
    if (!strncasecmp(url, "https://", 8))
        p = url + 8;
    else if (!strncasecmp(url, "http://", 7))
        p = url + 7;
    else
        return 0;
    size_t an = strcspn(p, "/?#"); /* the authority */
    if (an == 0 || memchr(p, '@', an))
        return 0;
    size_t hn = an;
    const char *colon = memchr(p, ':', an);
    if (colon) {
        hn = (size_t)(colon - p);
        char port[8];
        size_t portn = an - hn - 1;
        if (portn == 0 || portn >= sizeof(port))
            return 0;
        memcpy(port, colon + 1, portn);
        port[portn] = '\0';
        if (!all_digits(port))
            return 0;
    }
    if (hn == 0 || hn > 253)
        return 0;
    for (size_t i = 0; i < hn; i++) {
        char c = p[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.'))
            return 0;
    }
    for (size_t i = 0; i < t->nredirect_hosts; i++)
        if (host_match(t->redirect_hosts[i], p, hn))
            return 1;
    return 0;
}
