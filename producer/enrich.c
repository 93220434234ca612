#include "enrich.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* Parses an address (no range) into family and 16 bytes; 0 or -1. */
static int parse_addr(const char *s, int *family, unsigned char addr[16])
{
    memset(addr, 0, 16);
    if (inet_pton(AF_INET, s, addr) == 1) {
        *family = AF_INET;
        return 0;
    }
    if (inet_pton(AF_INET6, s, addr) == 1) {
        *family = AF_INET6;
        return 0;
    }
    return -1;
}

/* Copies s (n bytes) without surrounding blanks into out; 0, or -1 if too long. */
static int trimmed(const char *s, size_t n, char *out, size_t out_size)
{
    while (n && (*s == ' ' || *s == '\t'))
        s++, n--;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    if (n >= out_size)
        return -1;
    memcpy(out, s, n);
    out[n] = '\0';
    return 0;
}

static int parse_cidr(const char *s, struct vg_cidr *c)
{
    char addr[VG_ADDR_MAX];
    const char *slash = strchr(s, '/');
    size_t n = slash ? (size_t)(slash - s) : strlen(s);
    if (n >= sizeof(addr))
        return -1;
    memcpy(addr, s, n);
    addr[n] = '\0';
    if (parse_addr(addr, &c->family, c->addr))
        return -1;
    int max = c->family == AF_INET ? 32 : 128;
    c->bits = max;
    if (slash) {
        int64_t bits;
        if (vg_parse_int64(slash + 1, 0, max, &bits))
            return -1;
        c->bits = (int)bits;
    }
    return 0;
}

int vg_cidr_parse_list(const char *s, struct vg_cidr **out, size_t *n, char *errstr,
                       size_t errstr_size)
{
    *out = NULL;
    *n = 0;
    struct vg_cidr *list = NULL;
    size_t count = 0;
    while (s && *s) {
        size_t len = strcspn(s, ",");
        char item[VG_ADDR_MAX + 8];
        if (trimmed(s, len, item, sizeof(item)) == 0 && !item[0]) {
            s += len + (s[len] == ',');
            continue;
        }
        struct vg_cidr c;
        if (trimmed(s, len, item, sizeof(item)) || parse_cidr(item, &c)) {
            snprintf(errstr, errstr_size, "\"%.*s\" is no address or address/bits",
                     (int)VG_MIN(len, (size_t)64), s);
            free(list);
            return VG_EINVAL;
        }
        list = vg_xrealloc(list, (count + 1) * sizeof(*list));
        list[count++] = c;
        s += len + (s[len] == ',');
    }
    *out = list;
    *n = count;
    return 0;
}

static int in_range(const struct vg_cidr *c, int family, const unsigned char addr[16])
{
    if (c->family != family)
        return 0;
    int full = c->bits / 8, rest = c->bits % 8;
    if (memcmp(c->addr, addr, (size_t)full))
        return 0;
    unsigned char mask = (unsigned char)(0xff00 >> rest);
    return rest == 0 || (c->addr[full] & mask) == (addr[full] & mask);
}

static int trusted_addr(const char *s, const struct vg_cidr *trusted, size_t n)
{
    int family;
    unsigned char addr[16];
    if (parse_addr(s, &family, addr))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (in_range(&trusted[i], family, addr))
            return 1;
    return 0;
}

void vg_enrich_client_addr(const char *peer, const char *xff, const struct vg_cidr *trusted,
                           size_t n, char out[VG_ADDR_MAX])
{
    snprintf(out, VG_ADDR_MAX, "%s", peer);
    if (!xff)
        return;
    size_t end = strlen(xff);
    while (trusted_addr(out, trusted, n) && end > 0) {
        size_t start = end;
        while (start > 0 && xff[start - 1] != ',')
            start--;
        char hop[VG_ADDR_MAX];
        int family;
        unsigned char addr[16];
        if (trimmed(xff + start, end - start, hop, sizeof(hop)) ||
            parse_addr(hop, &family, addr))
            return;
        /* One spelling per address, whatever the proxy wrote. */
        inet_ntop(family, addr, out, VG_ADDR_MAX);
        end = start ? start - 1 : 0;
    }
}

int vg_enrich_truncate(const char *addr, char out[VG_ADDR_MAX])
{
    int family;
    unsigned char a[16];
    if (parse_addr(addr, &family, a))
        return VG_EINVAL;
    if (family == AF_INET)
        a[3] = 0;
    else
        memset(a + 6, 0, 10);
    inet_ntop(family, a, out, VG_ADDR_MAX);
    return 0;
}
