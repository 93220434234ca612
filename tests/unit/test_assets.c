/* The producer's embedded files: found by path, ETags, the tracking page's template. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "assets.h"

static void test_the_sdk_files_are_found_by_their_path_only(void **state)
{
    const struct vg_asset *js = vg_assets_find("/sdk/vigil.js");
    const struct vg_asset *mjs = vg_assets_find("/sdk/vigil.mjs");
    assert_non_null(js);
    assert_non_null(mjs);
    assert_non_null(vg_assets_find("/sdk/demo.html"));
    assert_null(vg_assets_find("/sdk/vigil"));
    assert_null(vg_assets_find("/sdk/track.html")); /* a template, not a file to serve */
    assert_null(vg_assets_find(""));
    /* the module is the script and its exports */
    assert_true(mjs->len > js->len && !memcmp(mjs->data, js->data, js->len));
    assert_non_null(strstr((const char *)mjs->data + js->len, "export default Vigil;"));
    assert_non_null(strstr(js->content_type, "javascript"));
    /* strong ETags, one per content */
    assert_int_equal(js->etag[0], '"');
    assert_int_equal(strlen(js->etag), 18);
    assert_string_not_equal(js->etag, mjs->etag);
}

static void test_the_template_is_filled_and_escaped(void **state)
{
    struct vg_buf out = {0}, esc = {0};
    vg_assets_html_escape("https://e.com/?a=1&b=\"<x>'", &esc);
    assert_string_equal(esc.data, "https://e.com/?a=1&amp;b=&quot;&lt;x&gt;&#39;");
    static const char page[] = "<a href=\"{{to}}\">{{to}}</a>{{other}}{{heartbeat_s}}{{";
    struct vg_asset tpl = {.data = (const unsigned char *)page, .len = sizeof(page) - 1};
    static const char *const names[] = {"to", "heartbeat_s"};
    const char *values[] = {esc.data, "5"};
    vg_assets_render(&tpl, names, values, 2, &out);
    assert_string_equal(out.data, "<a href=\"https://e.com/?a=1&amp;b=&quot;&lt;x&gt;&#39;\">"
                                  "https://e.com/?a=1&amp;b=&quot;&lt;x&gt;&#39;</a>{{other}}5{{");
    vg_buf_free(&out);
    vg_buf_free(&esc);

    /* the real page names its three placeholders */
    const struct vg_asset *track = vg_assets_track_page();
    const char *t = (const char *)track->data;
    assert_non_null(strstr(t, "{{to}}"));
    assert_non_null(strstr(t, "{{link_token}}"));
    assert_non_null(strstr(t, "{{heartbeat_s}}"));
    assert_null(strstr(t, "http://"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_sdk_files_are_found_by_their_path_only),
        cmocka_unit_test(test_the_template_is_filled_and_escaped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
