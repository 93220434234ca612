/*
 * gunzip.h - request bodies sent with Content-Encoding: gzip.
 *
 * A compressed body is already bounded by producer.max_body_bytes as it
 * arrives; its decompressed size is bounded by the same limit, checked while
 * inflating, so a decompression bomb costs at most that much memory and is
 * refused (413) as a body too large would be. Nothing here does I/O.
 */
#ifndef VG_GUNZIP_H
#define VG_GUNZIP_H

#include <stddef.h>

#include "err.h"
#include "util.h"

/*
 * Inflates the gzip data in (n bytes; one gzip member or several
 * concatenated, as RFC 1952 allows) into out, which must be empty. Returns
 * 0; VG_ETOOBIG as soon as the output would pass max bytes (out then holds
 * at most max bytes); VG_EPARSE when in is not gzip, is truncated, or fails
 * its checksum. out is the caller's to free in every case.
 */
int vg_gunzip(const void *in, size_t n, size_t max, struct vg_buf *out) VG_MUSTCHECK;

#endif
