/*
 * assets.h - the files the producer serves from its own binary: the browser
 * SDK (/sdk/vigil.js, its ES module form /sdk/vigil.mjs, the demo page
 * /sdk/demo.html) and the template of the tracking page (DESIGN.md section 12). sdk/embed.cmake copies them from
 * sdk/ at build time.
 */
#ifndef VG_ASSETS_H
#define VG_ASSETS_H

#include <stddef.h>

#include "util.h"

struct vg_asset {
    const char *path;         /* "/sdk/vigil.js" */
    const char *content_type; /* with its charset */
    const unsigned char *data;
    size_t len;
    const char *etag; /* a strong ETag: the quoted start of the SHA-256 of data */
};

/* The asset served at path (exact match), or NULL. Thread-safe. */
const struct vg_asset *vg_assets_find(const char *path);

/* The tracking page's template: track.html, with {{NAME}} placeholders. */
const struct vg_asset *vg_assets_track_page(void);

/*
 * Appends tpl to out with each "{{names[i]}}" replaced by values[i] (n of
 * them), written as is: the caller escapes them for where they stand. An
 * unknown placeholder is copied untouched.
 */
void vg_assets_render(const struct vg_asset *tpl, const char *const *names,
                      const char *const *values, size_t n, struct vg_buf *out);

/* Appends s to out escaped for HTML text and double- or single-quoted attributes. */
void vg_assets_html_escape(const char *s, struct vg_buf *out);

#endif
