#include "assets.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "crypto.h"

/* sdk_files.c, written by sdk/embed.cmake: each array ends with a NUL past len. */
extern const unsigned char vg_sdk_vigil_js[], vg_sdk_vigil_mjs[], vg_sdk_track_html[],
    vg_sdk_demo_html[];
extern const size_t vg_sdk_vigil_js_len, vg_sdk_vigil_mjs_len, vg_sdk_track_html_len,
    vg_sdk_demo_html_len;

#define JS "text/javascript; charset=utf-8"
#define ETAG_HEX 16 /* 64 bits of the hash: enough to tell versions apart */

#define HTML "text/html; charset=utf-8"

enum { ASSET_JS, ASSET_MJS, ASSET_DEMO, ASSET_TRACK, ASSET_COUNT };

static char etags[ASSET_COUNT][ETAG_HEX + 3];
static struct vg_asset assets[ASSET_COUNT] = {
    [ASSET_JS] = {"/sdk/vigil.js", JS, NULL, 0, etags[ASSET_JS]},
    [ASSET_MJS] = {"/sdk/vigil.mjs", JS, NULL, 0, etags[ASSET_MJS]},
    [ASSET_DEMO] = {"/sdk/demo.html", HTML, NULL, 0, etags[ASSET_DEMO]},
    [ASSET_TRACK] = {NULL, HTML, NULL, 0, etags[ASSET_TRACK]},
};
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void init(void)
{
    assets[ASSET_JS].data = vg_sdk_vigil_js;
    assets[ASSET_JS].len = vg_sdk_vigil_js_len;
    assets[ASSET_MJS].data = vg_sdk_vigil_mjs;
    assets[ASSET_MJS].len = vg_sdk_vigil_mjs_len;
    assets[ASSET_DEMO].data = vg_sdk_demo_html;
    assets[ASSET_DEMO].len = vg_sdk_demo_html_len;
    assets[ASSET_TRACK].data = vg_sdk_track_html;
    assets[ASSET_TRACK].len = vg_sdk_track_html_len;
    for (size_t i = 0; i < ASSET_COUNT; i++) {
        unsigned char h[VG_SHA256_LEN];
        vg_sha256(assets[i].data, assets[i].len, h);
        char *e = etags[i];
        e[0] = '"';
        for (size_t b = 0; b < ETAG_HEX / 2; b++)
            snprintf(e + 1 + 2 * b, 3, "%02x", h[b]);
        e[ETAG_HEX + 1] = '"';
        e[ETAG_HEX + 2] = '\0';
    }
}

const struct vg_asset *vg_assets_find(const char *path)
{
    pthread_once(&once, init);
    for (size_t i = 0; i < ASSET_COUNT; i++)
        if (assets[i].path && !strcmp(assets[i].path, path))
            return &assets[i];
    return NULL;
}

const struct vg_asset *vg_assets_track_page(void)
{
    pthread_once(&once, init);
    return &assets[ASSET_TRACK];
}

void vg_assets_render(const struct vg_asset *tpl, const char *const *names,
                      const char *const *values, size_t n, struct vg_buf *out)
{
    const char *p = (const char *)tpl->data, *end = p + tpl->len;
    while (p < end) {
        const char *open = strstr(p, "{{");
        if (!open || open >= end) {
            vg_buf_append(out, p, (size_t)(end - p));
            return;
        }
        vg_buf_append(out, p, (size_t)(open - p));
        size_t i = 0;
        for (; i < n; i++) {
            size_t k = strlen(names[i]);
            if (!strncmp(open + 2, names[i], k) && !strncmp(open + 2 + k, "}}", 2))
                break;
        }
        if (i == n) {
            vg_buf_append(out, "{{", 2);
            p = open + 2;
            continue;
        }
        vg_buf_puts(out, values[i]);
        p = open + 2 + strlen(names[i]) + 2;
    }
}

void vg_assets_html_escape(const char *s, struct vg_buf *out)
{
    static const char *const entity[128] = {
        ['&'] = "&amp;", ['<'] = "&lt;", ['>'] = "&gt;", ['"'] = "&quot;", ['\''] = "&#39;"};
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 128 && entity[c])
            vg_buf_puts(out, entity[c]);
        else
            vg_buf_append(out, s, 1);
    }
}
