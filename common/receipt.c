#include "receipt.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"

static int topic_ok(const char *t, size_t n)
{
    if (n == 0 || n > VG_RECEIPT_TOPIC_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = t[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

int vg_receipt_add(struct vg_receipt *r, const char *topic, int32_t partition, int64_t offset)
{
    if (!topic_ok(topic, strlen(topic)) || partition < 0 || offset < 0)
        return VG_EINVAL;
    for (size_t i = 0; i < r->n; i++) {
        struct vg_position *p = &r->pos[i];
        if (p->partition == partition && !strcmp(p->topic, topic)) {
            if (offset > p->offset)
                p->offset = offset;
            return 0;
        }
    }
    if (r->n == VG_RECEIPT_MAX_POSITIONS)
        return VG_EFULL;
    struct vg_position *p = &r->pos[r->n++];
    snprintf(p->topic, sizeof(p->topic), "%s", topic);
    p->partition = partition;
    p->offset = offset;
    return 0;
}

int vg_receipt_encode(const struct vg_receipt *r, char *out, size_t out_size)
{
    char plain[VG_RECEIPT_MAX_POSITIONS * (VG_RECEIPT_TOPIC_MAX + 32) + 4];
    size_t n = (size_t)snprintf(plain, sizeof(plain), "1");
    if (r->n == 0)
        return VG_EINVAL;
    for (size_t i = 0; i < r->n; i++)
        n += (size_t)snprintf(plain + n, sizeof(plain) - n, ";%s:%" PRId32 ":%" PRId64,
                              r->pos[i].topic, r->pos[i].partition, r->pos[i].offset);
    if (4 * ((n + 2) / 3) + 1 > out_size)
        return VG_EINVAL;
    vg_base64url_encode((const unsigned char *)plain, n, out);
    return 0;
}

int vg_receipt_decode(const char *s, size_t len, struct vg_receipt *r)
{
    unsigned char plain[VG_RECEIPT_MAX_LEN];
    r->n = 0;
    if (len == 0 || len >= VG_RECEIPT_MAX_LEN)
        return VG_EINVAL;
    long n = vg_base64url_decode(s, len, plain, sizeof(plain) - 1);
    if (n < 3 || plain[0] != '1' || plain[1] != ';')
        return VG_EINVAL;
    plain[n] = '\0';
    char *save = NULL;
    for (char *item = strtok_r((char *)plain + 2, ";", &save); item;
         item = strtok_r(NULL, ";", &save)) {
        char *c1 = strchr(item, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2 || !topic_ok(item, (size_t)(c1 - item)))
            return VG_EINVAL;
        *c1 = '\0';
        *c2 = '\0';
        char *end;
        long long part = strtoll(c1 + 1, &end, 10);
        if (end == c1 + 1 || *end || part < 0 || part > INT32_MAX)
            return VG_EINVAL;
        long long off = strtoll(c2 + 1, &end, 10);
        if (end == c2 + 1 || *end || off < 0)
            return VG_EINVAL;
        if (vg_receipt_add(r, item, (int32_t)part, off))
            return VG_EINVAL;
    }
    return r->n ? 0 : VG_EINVAL;
}
