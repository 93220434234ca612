/*
 * enrich.h - what the producer adds to an event's context: the client's
 * address and user agent (DESIGN.md section 13, docs/segment.md).
 *
 * The address is the connection's peer, unless the peer is one of the
 * trusted proxies (producer.trusted_proxies): then X-Forwarded-For is read
 * from its right end, each proxy vouching for the hop before it, and the
 * first address not itself a trusted proxy is the client's. A header from
 * anyone else is ignored, so a client cannot choose its own address.
 * Tenants may have addresses truncated (IPv4 to /24, IPv6 to /48).
 *
 * Nothing here does I/O.
 */
#ifndef VG_ENRICH_H
#define VG_ENRICH_H

#include <stddef.h>

#include "err.h"

#define VG_ADDR_MAX 46 /* INET6_ADDRSTRLEN: the text of an address, NUL included */

/* An address range: family AF_INET or AF_INET6, the first bits of addr. */
struct vg_cidr {
    int family;
    unsigned char addr[16];
    int bits;
};

/*
 * Parses s, a comma-separated list of addresses and ranges ("10.0.0.0/8,
 * 127.0.0.1, ::1, fd00::/8"; blanks allowed, "" for none), into *out
 * (malloc'd, the caller frees it) and *n. Returns 0, or VG_EINVAL with
 * errstr naming the bad entry (and *out NULL).
 */
int vg_cidr_parse_list(const char *s, struct vg_cidr **out, size_t *n, char *errstr,
                       size_t errstr_size) VG_MUSTCHECK;

/*
 * The client's address, as text in out: peer (the connection's address as
 * text) or, when peer is in trusted (n ranges), what xff (the
 * X-Forwarded-For header, may be NULL) says as described above. An entry
 * that is no address ends the walk: the last trusted hop's word is taken.
 */
void vg_enrich_client_addr(const char *peer, const char *xff, const struct vg_cidr *trusted,
                           size_t n, char out[VG_ADDR_MAX]);

/* addr truncated into out: an IPv4 address to its /24 (a.b.c.0), an IPv6
 * one to its /48. Returns 0, or VG_EINVAL if addr is no address. */
int vg_enrich_truncate(const char *addr, char out[VG_ADDR_MAX]) VG_MUSTCHECK;

#endif
