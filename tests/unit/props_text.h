/*
 * props_text.h - the text of an envelope's "properties" member, found by
 * balancing braces rather than with common/jscan.c, so that the tests of the
 * splice do not check the scanner with itself. The tests' strings hold no
 * braces.
 */
#ifndef VG_TEST_PROPS_TEXT_H
#define VG_TEST_PROPS_TEXT_H

#include <string.h>

#include "ingest.h"

/* The properties text of envelope i of out, or NULL when it has none. */
static const char *props_text(const struct vg_outbox *out, size_t i)
{
    static char buf[1024];
    const char *text = strstr(vg_outmsg_value(out, &out->msgs[i]), ",\"properties\":");
    if (!text)
        return NULL;
    text += strlen(",\"properties\":");
    int depth = 0;
    size_t n = 0;
    do {
        depth += text[n] == '{' ? 1 : text[n] == '}' ? -1 : 0;
        n++;
    } while (depth > 0 && text[n]);
    assert_true(n < sizeof(buf));
    memcpy(buf, text, n);
    buf[n] = '\0';
    return buf;
}

#endif
