/*
 * policy.h - what a tenant allows: its keys, its browser origins, the hosts
 * its tracking links may redirect to (producer.tenants in the config).
 */
#ifndef VG_POLICY_H
#define VG_POLICY_H

#include <stddef.h>

#include "config.h"

/*
 * The one check of a key (Bearer, or a write key): the tenant whose key is
 * key (len bytes), or NULL. The key's SHA-256 is compared in constant time
 * with every configured hash, secret and publishable, all of them, so the
 * time taken says nothing about which key came close.
 *
 * publishable: NULL accepts secret keys (keys_sha256) only, so a caller that
 * does not ask never lets a publishable key in (reads, commands). Non-NULL
 * accepts publishable keys (publishable_keys_sha256) too and sets
 * *publishable to 1 for one, 0 for a secret key; the caller then limits what
 * a publishable key may do (DESIGN.md section 12).
 */
const struct vg_tenant *vg_policy_tenant_by_key(const struct vg_config *cfg, const char *key,
                                                size_t len, int *publishable);

/*
 * 1 if origin (a browser's Origin header, "scheme://host[:port]") is one of
 * t's origins. A configured origin ending in ":*" matches any port and no
 * port; "*" alone matches every origin. Scheme and host compare without case.
 */
int vg_policy_origin_allowed(const struct vg_tenant *t, const char *origin);

/* 1 if some tenant of cfg allows origin (for preflights, which carry no key). */
int vg_policy_origin_any(const struct vg_config *cfg, const char *origin);

/*
 * 1 if url is an absolute http or https URL whose host is one of t's
 * redirect_hosts: an exact host (case-insensitive), or "*.example.com" for
 * any subdomain of example.com. URLs with user info, backslashes, control
 * characters, spaces or non-ASCII bytes are refused outright, as browsers
 * and servers disagree on where their host is.
 */
int vg_policy_redirect_allowed(const struct vg_tenant *t, const char *url);

#endif
