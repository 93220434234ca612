/*
 * jscan.h - byte spans of the values inside a JSON text.
 *
 * jansson parses a request but keeps no offsets, and writing a parsed tree
 * back changes the client's text (1.50 becomes 1.5, 1e2 1e+02, a long
 * decimal loses digits, "\u00e9" becomes "é"). The producer therefore
 * validates a body with jansson as before, then finds here the bytes of the
 * values it forwards as sent (an event's properties) and splices them into
 * the envelope.
 *
 * The scanner is strict (RFC 8259's grammar: literals, numbers, string
 * escapes, no trailing commas, blanks only where the grammar allows them)
 * but checks neither UTF-8 nor \u0000, which jansson has refused already
 * where it matters. It refuses a raw NUL byte, which jansson 2.14 skips
 * after a number or literal ("[1<NUL>]" loads as [1]): a caller then falls
 * back on jansson's tree, so no NUL reaches an envelope. Every function
 * reads only within the span or length it is given: arbitrary bytes give
 * VG_EPARSE, never a read past the end.
 * Nesting is bounded by VG_JSCAN_MAX_DEPTH, jansson's own default limit, so
 * whatever jansson accepted is scanned. Nothing here allocates or does I/O.
 */
#ifndef VG_JSCAN_H
#define VG_JSCAN_H

#include <stddef.h>

#include "err.h"
#include "util.h"

#define VG_JSCAN_MAX_DEPTH 2048 /* JSON_PARSER_DEFAULT_MAX_DEPTH of jansson */

/* Bytes off .. off + len - 1 of some text. */
struct vg_span {
    size_t off, len;
};

/*
 * The span of the value that starts at the first non-blank byte of
 * s[pos .. len - 1] (blanks before and after it are not part of it).
 * Returns 0, or VG_EPARSE when no well-formed value starts there. Bytes
 * after the value are not looked at.
 */
int vg_jscan_value(const char *s, size_t len, size_t pos, struct vg_span *out) VG_MUSTCHECK;

/*
 * The span of the value of member key (NUL-terminated, compared with each
 * member's name unescaped, so "propert\u0069es" is "properties") of the
 * object at obj in s. When a name repeats the last one wins, as in jansson.
 * Returns 0 with *out set, VG_ENOTFOUND when the object has no such member,
 * VG_EPARSE when obj is no well-formed object.
 */
int vg_jscan_member(const char *s, struct vg_span obj, const char *key,
                    struct vg_span *out) VG_MUSTCHECK;

/*
 * The spans of the elements of the array at arr in s, in order, into
 * out[0 .. max - 1]; their number into *n. Returns 0, or VG_EPARSE when arr
 * is no well-formed array or has more than max elements.
 */
int vg_jscan_elements(const char *s, struct vg_span arr, struct vg_span *out, size_t max,
                      size_t *n) VG_MUSTCHECK;

/* The length of the value at v in s (a span this module returned) without
 * the blanks between its tokens: what vg_jscan_compact() appends. */
size_t vg_jscan_compact_len(const char *s, struct vg_span v);

/* Appends the value at v in s (a span this module returned) to out with
 * the blanks between its tokens left out; every other byte, those of
 * strings and numbers included, as it is. */
void vg_jscan_compact(const char *s, struct vg_span v, struct vg_buf *out);

#endif
