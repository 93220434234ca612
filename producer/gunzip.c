#include "gunzip.h"

#include <zlib.h>

/* Inflation writes into out in steps of at most this much. */
#define STEP_BYTES (64 * 1024)

/* Room for extra more bytes and a NUL in out, its capacity never past
 * limit + 1: doubling alone could reserve twice the bound. */
static void grow(struct vg_buf *out, size_t extra, size_t limit)
{
    size_t need = out->len + extra + 1;
    if (need <= out->cap)
        return;
    size_t cap = VG_MAX(need, VG_MIN(out->cap * 2, limit + 1));
    out->data = vg_xrealloc(out->data, cap);
    out->cap = cap;
}

int vg_gunzip(const void *in, size_t n, size_t max, struct vg_buf *out)
{
    z_stream z = {0};
    /* 16 + MAX_WBITS: a gzip header and trailer, nothing else. */
    if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
        return VG_ENOMEM;
    const unsigned char *p = in;
    size_t left = n;
    int rc = 0;
    for (;;) {
        /* zlib counts in uInt: feed a large body in parts. */
        if (z.avail_in == 0 && left) {
            z.next_in = (unsigned char *)p;
            z.avail_in = (uInt)VG_MIN(left, (size_t)1 << 30);
            p += z.avail_in;
            left -= z.avail_in;
        }
        /* Room for the next step, never past max + 1 bytes: one byte more
         * than max is how a bomb is told from a body of exactly max. */
        size_t room = VG_MIN((size_t)STEP_BYTES, max + 1 - out->len);
        grow(out, room, max + 1);
        z.next_out = (unsigned char *)out->data + out->len;
        z.avail_out = (uInt)room;
        int zr = inflate(&z, Z_NO_FLUSH);
        out->len += room - z.avail_out;
        out->data[VG_MIN(out->len, max)] = '\0';
        if (out->len > max) {
            out->len = max;
            rc = VG_ETOOBIG;
            break;
        }
        if (zr == Z_STREAM_END) {
            if (z.avail_in == 0 && left == 0)
                break;
            /* Another member follows. */
            if (inflateReset(&z) != Z_OK) {
                rc = VG_EPARSE;
                break;
            }
            continue;
        }
        if (zr == Z_BUF_ERROR && z.avail_in == 0 && left == 0) {
            rc = VG_EPARSE; /* the data ended inside a member */
            break;
        }
        if (zr != Z_OK && zr != Z_BUF_ERROR) {
            rc = VG_EPARSE;
            break;
        }
    }
    inflateEnd(&z);
    return rc;
}
