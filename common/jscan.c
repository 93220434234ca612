#include "jscan.h"

#include <string.h>

static int blank(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static size_t skip_blanks(const char *s, size_t end, size_t p)
{
    while (p < end && blank(s[p]))
        p++;
    return p;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The string at *p (its opening quote): *p moves past the closing quote. */
static int scan_string(const char *s, size_t end, size_t *p)
{
    size_t i = *p + 1;
    while (i < end) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"') {
            *p = i + 1;
            return 0;
        }
        if (c < 0x20)
            return VG_EPARSE;
        if (c != '\\') {
            i++;
            continue;
        }
        if (++i >= end)
            return VG_EPARSE;
        if (s[i] == 'u') {
            if (end - i < 5)
                return VG_EPARSE;
            for (int k = 1; k <= 4; k++)
                if (hex_value(s[i + k]) < 0)
                    return VG_EPARSE;
            i += 5;
        } else if (s[i] && strchr("\"\\/bfnrt", s[i])) {
            i++;
        } else {
            return VG_EPARSE;
        }
    }
    return VG_EPARSE;
}

static size_t skip_digits(const char *s, size_t end, size_t p)
{
    while (p < end && s[p] >= '0' && s[p] <= '9')
        p++;
    return p;
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? at *p. */
static int scan_number(const char *s, size_t end, size_t *p)
{
    size_t i = *p, d;
    if (i < end && s[i] == '-')
        i++;
    if (i < end && s[i] == '0')
        i++;
    else if ((d = skip_digits(s, end, i)) > i)
        i = d;
    else
        return VG_EPARSE;
    if (i < end && s[i] == '.') {
        if ((d = skip_digits(s, end, i + 1)) == i + 1)
            return VG_EPARSE;
        i = d;
    }
    if (i < end && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < end && (s[i] == '+' || s[i] == '-'))
            i++;
        if ((d = skip_digits(s, end, i)) == i)
            return VG_EPARSE;
        i = d;
    }
    *p = i;
    return 0;
}

static int scan_literal(const char *s, size_t end, size_t *p)
{
    static const char *const words[] = {"true", "false", "null"};
    for (size_t k = 0; k < VG_ARRAY_LEN(words); k++) {
        size_t n = strlen(words[k]);
        if (end - *p >= n && !memcmp(s + *p, words[k], n)) {
            *p += n;
            return 0;
        }
    }
    return VG_EPARSE;
}

/* A member's name and its colon at *p (blanks first): *p moves past the
 * colon; *name is the name's span, quotes included. */
static int scan_name(const char *s, size_t end, size_t *p, struct vg_span *name)
{
    size_t i = skip_blanks(s, end, *p);
    if (i >= end || s[i] != '"')
        return VG_EPARSE;
    name->off = i;
    if (scan_string(s, end, &i))
        return VG_EPARSE;
    name->len = i - name->off;
    i = skip_blanks(s, end, i);
    if (i >= end || s[i] != ':')
        return VG_EPARSE;
    *p = i + 1;
    return 0;
}

/*
 * The value at *p (its first byte, no blank) within s[.. end - 1]: *p moves
 * past it. Containers are walked without recursion, the open ones kept on
 * a stack of their opening brackets.
 */
static int scan_value(const char *s, size_t end, size_t *p)
{
    char open[VG_JSCAN_MAX_DEPTH];
    size_t depth = 0, i = *p;
    struct vg_span name;
    for (;;) {
        /* a value starts at i */
        i = skip_blanks(s, end, i);
        if (i >= end)
            return VG_EPARSE;
        char c = s[i];
        int rc = 0;
        if (c == '{' || c == '[') {
            if (depth == VG_JSCAN_MAX_DEPTH)
                return VG_EPARSE;
            open[depth++] = c;
            i = skip_blanks(s, end, i + 1);
            if (i < end && s[i] == (c == '{' ? '}' : ']')) {
                depth--;
                i++;
            } else {
                if (c == '{' && scan_name(s, end, &i, &name))
                    return VG_EPARSE;
                continue;
            }
        } else if (c == '"') {
            rc = scan_string(s, end, &i);
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            rc = scan_number(s, end, &i);
        } else {
            rc = scan_literal(s, end, &i);
        }
        if (rc)
            return rc;
        /* a value ended at i: a comma, or the close of its container(s) */
        for (;;) {
            if (depth == 0) {
                *p = i;
                return 0;
            }
            i = skip_blanks(s, end, i);
            if (i >= end)
                return VG_EPARSE;
            char top = open[depth - 1];
            if (s[i] == ',') {
                i++;
                if (top == '{' && scan_name(s, end, &i, &name))
                    return VG_EPARSE;
                break;
            }
            if (s[i] != (top == '{' ? '}' : ']'))
                return VG_EPARSE;
            depth--;
            i++;
        }
    }
}

int vg_jscan_value(const char *s, size_t len, size_t pos, struct vg_span *out)
{
    size_t i = skip_blanks(s, len, pos);
    size_t start = i;
    if (scan_value(s, len, &i))
        return VG_EPARSE;
    out->off = start;
    out->len = i - start;
    return 0;
}

/* Appends the UTF-8 bytes of code point cp to u (room for 4); their count. */
static size_t utf8(unsigned long cp, unsigned char *u)
{
    if (cp < 0x80) {
        u[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        u[0] = (unsigned char)(0xc0 | (cp >> 6));
        u[1] = (unsigned char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        u[0] = (unsigned char)(0xe0 | (cp >> 12));
        u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
        u[2] = (unsigned char)(0x80 | (cp & 0x3f));
        return 3;
    }
    u[0] = (unsigned char)(0xf0 | (cp >> 18));
    u[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
    u[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
    u[3] = (unsigned char)(0x80 | (cp & 0x3f));
    return 4;
}

static unsigned long hex4(const char *s)
{
    unsigned long v = 0;
    for (int k = 0; k < 4; k++)
        v = v << 4 | (unsigned long)hex_value(s[k]);
    return v;
}

/* 1 if the string at name (quotes included, scanned already) unescapes to key. */
static int name_is(const char *s, struct vg_span name, const char *key)
{
    const char *p = s + name.off + 1, *end = s + name.off + name.len - 1;
    const unsigned char *k = (const unsigned char *)key;
    while (p < end) {
        unsigned char u[4];
        size_t n = 1;
        if (*p != '\\') {
            u[0] = (unsigned char)*p++;
        } else if (p[1] != 'u') {
            static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
            u[0] = (unsigned char)to[strchr(from, p[1]) - from];
            p += 2;
        } else {
            unsigned long cp = hex4(p + 2);
            p += 6;
            /* A surrogate pair is one code point; jansson refuses a lone one. */
            if (cp >= 0xd800 && cp < 0xdc00 && end - p >= 6 && p[0] == '\\' && p[1] == 'u') {
                unsigned long lo = hex4(p + 2);
                if (lo >= 0xdc00 && lo < 0xe000) {
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                    p += 6;
                }
            }
            n = utf8(cp, u);
        }
        for (size_t j = 0; j < n; j++, k++)
            if (*k == '\0' || *k != u[j])
                return 0;
    }
    return *k == '\0';
}

int vg_jscan_member(const char *s, struct vg_span obj, const char *key, struct vg_span *out)
{
    size_t end = obj.off + obj.len;
    size_t i = skip_blanks(s, end, obj.off);
    int found = 0;
    if (i >= end || s[i] != '{')
        return VG_EPARSE;
    i = skip_blanks(s, end, i + 1);
    if (i < end && s[i] == '}')
        return VG_ENOTFOUND;
    for (;;) {
        struct vg_span name, value;
        if (scan_name(s, end, &i, &name) || vg_jscan_value(s, end, i, &value))
            return VG_EPARSE;
        if (name_is(s, name, key)) {
            *out = value;
            found = 1;
        }
        i = skip_blanks(s, end, value.off + value.len);
        if (i >= end)
            return VG_EPARSE;
        if (s[i] == '}')
            return found ? 0 : VG_ENOTFOUND;
        if (s[i] != ',')
            return VG_EPARSE;
        i++;
    }
}

int vg_jscan_elements(const char *s, struct vg_span arr, struct vg_span *out, size_t max,
                      size_t *n)
{
    size_t end = arr.off + arr.len;
    size_t i = skip_blanks(s, end, arr.off);
    *n = 0;
    if (i >= end || s[i] != '[')
        return VG_EPARSE;
    i = skip_blanks(s, end, i + 1);
    if (i < end && s[i] == ']')
        return 0;
    for (;;) {
        struct vg_span value;
        if (*n == max || vg_jscan_value(s, end, i, &value))
            return VG_EPARSE;
        out[(*n)++] = value;
        i = skip_blanks(s, end, value.off + value.len);
        if (i >= end)
            return VG_EPARSE;
        if (s[i] == ']')
            return 0;
        if (s[i] != ',')
            return VG_EPARSE;
        i++;
    }
}

/*
 * Calls emit(s + a, b - a, ctx) for each run of bytes of the value at v that
 * lies outside blanks between tokens. Inside a string every byte is kept; a
 * backslash keeps the byte after it from closing the string.
 */
static void compact_runs(const char *s, struct vg_span v,
                         void (*emit)(const char *p, size_t n, void *ctx), void *ctx)
{
    size_t end = v.off + v.len, run = v.off;
    int in_string = 0;
    for (size_t i = v.off; i < end; i++) {
        char c = s[i];
        if (in_string) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_string = 0;
        } else if (c == '"') {
            in_string = 1;
        } else if (blank(c)) {
            if (i > run)
                emit(s + run, i - run, ctx);
            run = i + 1;
        }
    }
    if (end > run)
        emit(s + run, end - run, ctx);
}

static void count_run(const char *p, size_t n, void *ctx)
{
    (void)p;
    *(size_t *)ctx += n;
}

static void append_run(const char *p, size_t n, void *ctx)
{
    vg_buf_append(ctx, p, n);
}

size_t vg_jscan_compact_len(const char *s, struct vg_span v)
{
    size_t n = 0;
    compact_runs(s, v, count_run, &n);
    return n;
}

void vg_jscan_compact(const char *s, struct vg_span v, struct vg_buf *out)
{
    compact_runs(s, v, append_run, out);
}
