/* Logging: every line is one JSON object, whatever the message holds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "log.h"

static char *capture;
static size_t capture_len;
static FILE *mem;

static int setup(void **state)
{
    (void)state;
    mem = open_memstream(&capture, &capture_len);
    vg_log_set_stream(mem);
    vg_log_init("test");
    vg_log_level = VG_LOG_INFO;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    vg_log_set_stream(NULL);
    fclose(mem);
    free(capture);
    capture = NULL;
    return 0;
}

static json_t *only_line(void)
{
    fflush(mem);
    assert_non_null(capture);
    const char *nl = strchr(capture, '\n');
    assert_non_null(nl);
    assert_int_equal(nl[1], '\0');
    json_error_t e;
    json_t *j = json_loadb(capture, (size_t)(nl - capture), 0, &e);
    if (!j)
        fail_msg("not JSON (%s): %s", e.text, capture);
    return j;
}

static void test_message_with_quotes_controls_and_unicode_is_valid_json(void **state)
{
    vg_info("say \"hi\"\\ \n\t\x01 caf\xc3\xa9 \xf0\x9f\x98\x80");
    json_t *j = only_line();
    assert_string_equal(json_string_value(json_object_get(j, "msg")),
                        "say \"hi\"\\ \n\t\x01 caf\xc3\xa9 \xf0\x9f\x98\x80");
    assert_string_equal(json_string_value(json_object_get(j, "level")), "info");
    assert_string_equal(json_string_value(json_object_get(j, "component")), "test");
    assert_non_null(json_object_get(j, "ts"));
    json_decref(j);
}

static void test_context_fields_are_written(void **state)
{
    struct vg_log_ctx ctx = VG_LOG_CTX_INIT;
    ctx.topic = "vigil.events";
    ctx.partition = 3;
    ctx.offset = 42;
    ctx.tenant = "acme\"";
    vg_logc(VG_LOG_WARN, &ctx, "moved");
    json_t *j = only_line();
    assert_string_equal(json_string_value(json_object_get(j, "topic")), "vigil.events");
    assert_int_equal(json_integer_value(json_object_get(j, "partition")), 3);
    assert_int_equal(json_integer_value(json_object_get(j, "offset")), 42);
    assert_string_equal(json_string_value(json_object_get(j, "tenant")), "acme\"");
    assert_null(json_object_get(j, "request_id"));
    json_decref(j);
}

static int formatted;
static const char *count_format(void)
{
    formatted++;
    return "x";
}

static void test_level_is_checked_before_formatting(void **state)
{
    formatted = 0;
    vg_debug("%s", count_format());
    assert_int_equal(formatted, 0);
    fflush(mem);
    assert_true(capture == NULL || capture[0] == '\0');
}

static void test_parse_level(void **state)
{
    int l;
    assert_int_equal(vg_log_parse_level("debug", &l), 0);
    assert_int_equal(l, VG_LOG_DEBUG);
    assert_int_not_equal(vg_log_parse_level("verbose", &l), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_message_with_quotes_controls_and_unicode_is_valid_json,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_context_fields_are_written, setup, teardown),
        cmocka_unit_test_setup_teardown(test_level_is_checked_before_formatting, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parse_level, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
