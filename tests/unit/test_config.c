/* Configuration: defaults, the file, the environment, and every way to get it wrong. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "util.h"

static char path[64];

static const char *write_conf(const char *text)
{
    snprintf(path, sizeof(path), "/tmp/vigil-test-config-%d.conf", (int)getpid());
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static int teardown(void **state)
{
    (void)state;
    unlink(path);
    unsetenv("VIGIL_PRODUCER_PORT");
    unsetenv("VIGIL_KAFKA_BROKERS");
    unsetenv("VIGIL_COMMAND_SECRET");
    unsetenv("VIGIL_TOKEN_SECRET");
    unsetenv("VIGIL_KAFKA_PROPERTIES");
    unsetenv("VIGIL_WORKER_IDLE_TX_TIMEOUT_MS");
    unsetenv("VIGIL_WORKER_KAFKA_ACK_TIMEOUT_MS");
    return 0;
}

#define GOOD_SECRET "5f0d8c2a9e4b7136a1c3e5f7092b4d6f8e1a3c5b7d9f0e2c4a6b8d0f1e3c5a79"

static void test_secrets_short_or_placeholder_are_refused_and_never_echoed(void **state)
{
    static const struct {
        const char *value;
        int rc;           /* of vg_config_check_secret */
        const char *word; /* in the error */
    } cases[] = {
        {NULL, VG_ENOTFOUND, "is required"},
        {"", VG_ENOTFOUND, "is required"},
        {"0123456789abcdef0123456789abcde", VG_EINVAL, "at least 32 bytes"},
        {"CHANGE-ME: openssl rand -hex 32", VG_EINVAL, "placeholder"},
        {"change-me-change-me-change-me-change-me", VG_EINVAL, "placeholder"},
        {"ChangeMe0123456789abcdef0123456789abcdef", VG_EINVAL, "placeholder"},
        {"replace_me_with_a_real_key_of_64_hex_digits", VG_EINVAL, "placeholder"},
        {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", VG_EINVAL, "placeholder"},
        {"abababababababababababababababababababab", VG_EINVAL, "placeholder"},
        {GOOD_SECRET, 0, NULL},
        {"dev-0f9e8d7c6b5a49382716a5b4c3d2e1f00f9e8d7c6b5a49382716a5b4c3d2e1f0", 0, NULL},
    };
    for (size_t i = 0; i < VG_ARRAY_LEN(cases); i++) {
        char err[512] = "";
        int rc = vg_config_check_secret("security.token_secret (VIGIL_TOKEN_SECRET)",
                                        cases[i].value, err, sizeof(err));
        if (rc != cases[i].rc)
            fail_msg("case %zu: rc %d, want %d (%s)", i, rc, cases[i].rc, err);
        if (cases[i].word && (!strstr(err, cases[i].word) || !strstr(err, "VIGIL_TOKEN_SECRET")))
            fail_msg("case %zu: error \"%s\" lacks \"%s\" or the variable", i, err,
                     cases[i].word);
        if (cases[i].value && *cases[i].value && strstr(err, cases[i].value))
            fail_msg("case %zu: the error echoes the secret: %s", i, err);
    }
}

static void test_a_set_bad_secret_fails_the_load_and_a_needed_one_must_be_set(void **state)
{
    struct vg_config *cfg = NULL;
    char err[512] = "";
    setenv("VIGIL_TOKEN_SECRET", "CHANGE-ME: openssl rand -hex 32", 1);
    assert_int_equal(vg_config_load(NULL, &cfg, err, sizeof(err)), VG_ECONFIG);
    assert_null(cfg);
    assert_non_null(strstr(err, "VIGIL_TOKEN_SECRET"));
    assert_null(strstr(err, "CHANGE-ME"));

    unsetenv("VIGIL_TOKEN_SECRET");
    assert_int_equal(vg_config_load(NULL, &cfg, err, sizeof(err)), 0);
    assert_int_equal(vg_config_require_secrets(cfg, 0, err, sizeof(err)), 0);
    assert_int_equal(vg_config_require_secrets(cfg, VG_NEED_TOKEN_SECRET, err, sizeof(err)),
                     VG_ECONFIG);
    assert_non_null(strstr(err, "security.token_secret"));
    assert_int_equal(vg_config_require_secrets(cfg, VG_NEED_COMMAND_SECRET, err, sizeof(err)),
                     VG_ECONFIG);
    assert_non_null(strstr(err, "VIGIL_COMMAND_SECRET"));
    vg_config_free(cfg);

    setenv("VIGIL_COMMAND_SECRET", GOOD_SECRET, 1);
    assert_int_equal(vg_config_load(NULL, &cfg, err, sizeof(err)), 0);
    assert_int_equal(vg_config_require_secrets(cfg, VG_NEED_COMMAND_SECRET, err, sizeof(err)), 0);
    vg_config_free(cfg);
}

static void test_defaults_need_no_file(void **state)
{
    struct vg_config *cfg;
    char err[512] = "";
    assert_int_equal(vg_config_load(NULL, &cfg, err, sizeof(err)), 0);
    assert_string_equal(cfg->topic_events, "vigil.events");
    assert_string_equal(cfg->topic_dlq, "vigil.dlq");
    assert_int_equal(cfg->producer_port, 8080);
    assert_int_equal(cfg->partitions_events, 6);
    assert_int_equal(cfg->ntenants, 0);
    assert_true(strlen(cfg->worker_id) > 0);
    vg_config_free(cfg);
}

static void test_file_values_are_read(void **state)
{
    const char *p = write_conf("log = { level = \"debug\"; };\n"
                               "kafka = { brokers = \"10.0.0.1:9092\";\n"
                               "  properties = [ \"security.protocol=ssl\", \"linger.ms=7\" ]; };\n"
                               "worker = { batch = { max_messages = 1234; }; };\n");
    struct vg_config *cfg;
    char err[512] = "";
    assert_int_equal(vg_config_load(p, &cfg, err, sizeof(err)), 0);
    assert_string_equal(cfg->kafka_brokers, "10.0.0.1:9092");
    assert_int_equal(cfg->batch_max_messages, 1234);
    assert_int_equal(cfg->nkafka_props, 2);
    assert_string_equal(cfg->kafka_props[0].name, "security.protocol");
    assert_string_equal(cfg->kafka_props[1].value, "7");
    vg_config_free(cfg);
}

/* Table: a broken file and the words its error must contain. */
static const struct {
    const char *text;
    const char *expect[3];
} broken[] = {
    {"kafka = { brokers = \"x\" \n", {":2:", "syntax error", NULL}},
    {"kafka = {\n  brokerz = \"x\";\n};\n", {":2:", "kafka.brokerz", "unknown setting"}},
    {"nonsense = 1;\n", {":1:", "nonsense", "unknown setting"}},
    {"producer = {\n\n  port = \"eighty\";\n};\n", {":3:", "producer.port", "integer"}},
    {"producer = { port = 70000; };\n", {":1:", "producer.port", "65535"}},
    {"log = { level = \"loud\"; };\n", {":1:", "log.level", "debug"}},
    {"worker = { batch = 5; };\n", {":1:", "worker.batch", "unknown setting"}},
    {"producer = { tenants = ( { id = \"a\"; color = \"red\"; } ); };\n",
     {":1:", "producer.tenants.color", "unknown"}},
    {"producer = { tenants = ( { id = \"a\"; keys_sha256 = [\"abc\"]; } ); };\n",
     {":1:", "keys_sha256", "64 hex"}},
    {"producer = { tenants = ( { id = \"a\"; publishable_keys_sha256 = [\"abc\"]; } ); };\n",
     {":1:", "publishable_keys_sha256", "64 hex"}},
    {"producer = { tenants = ( { id = \"a\"; link_page = 1; } ); };\n",
     {":1:", "link_page", "true or false"}},
    {"producer = { tenants = ( { id = \"a\"; }, { id = \"a\"; } ); };\n",
     {"defined twice", NULL, NULL}},
    {"scheduler = { schedules = ( { name = \"x\"; cron = \"* * * * *\"; } ); };\n",
     {"scheduler.schedules", "command", NULL}},
    {"kafka = { properties = [ \"novalue\" ]; };\n", {"kafka.properties", "name=value", NULL}},
};

static void test_broken_files_name_file_line_and_setting(void **state)
{
    for (size_t i = 0; i < VG_ARRAY_LEN(broken); i++) {
        const char *p = write_conf(broken[i].text);
        struct vg_config *cfg = NULL;
        char err[512] = "";
        int rc = vg_config_load(p, &cfg, err, sizeof(err));
        if (rc != VG_ECONFIG)
            fail_msg("case %zu: expected VG_ECONFIG, got %d (%s)", i, rc, err);
        assert_null(cfg);
        if (strncmp(err, p, strlen(p)) != 0)
            fail_msg("case %zu: error does not start with the file name: %s", i, err);
        for (int k = 0; k < 3 && broken[i].expect[k]; k++)
            if (!strstr(err, broken[i].expect[k]))
                fail_msg("case %zu: error \"%s\" lacks \"%s\"", i, err, broken[i].expect[k]);
    }
}

static void test_missing_file_is_an_error(void **state)
{
    struct vg_config *cfg = NULL;
    char err[512] = "";
    assert_int_equal(vg_config_load("/nonexistent/vigil.conf", &cfg, err, sizeof(err)),
                     VG_ECONFIG);
    assert_non_null(strstr(err, "/nonexistent/vigil.conf"));
}

static void test_environment_overrides_the_file(void **state)
{
    const char *p = write_conf("producer = { port = 8081; };\n");
    setenv("VIGIL_PRODUCER_PORT", "9000", 1);
    setenv("VIGIL_KAFKA_BROKERS", "broker:1", 1);
    setenv("VIGIL_COMMAND_SECRET", GOOD_SECRET, 1);
    setenv("VIGIL_KAFKA_PROPERTIES", "a.b=1;c.d=two", 1);
    struct vg_config *cfg;
    char err[512] = "";
    assert_int_equal(vg_config_load(p, &cfg, err, sizeof(err)), 0);
    assert_int_equal(cfg->producer_port, 9000);
    assert_string_equal(cfg->kafka_brokers, "broker:1");
    assert_string_equal(cfg->command_secret, GOOD_SECRET);
    assert_int_equal(cfg->nkafka_props, 2);
    assert_string_equal(cfg->kafka_props[1].name, "c.d");
    vg_config_free(cfg);
}

static void test_bad_environment_value_names_the_variable(void **state)
{
    setenv("VIGIL_PRODUCER_PORT", "http", 1);
    struct vg_config *cfg = NULL;
    char err[512] = "";
    assert_int_equal(vg_config_load(NULL, &cfg, err, sizeof(err)), VG_ECONFIG);
    assert_non_null(strstr(err, "VIGIL_PRODUCER_PORT"));
    assert_non_null(strstr(err, "producer.port"));
}

static void test_tenants_and_schedules_parse(void **state)
{
    const char *p = write_conf(
        "producer = { tenants = (\n"
        "  { id = \"demo\";\n"
        "    keys_sha256 = [ "
        "\"2f1a5e3b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f\" ];\n"
        "    rate_per_s = 50.5; burst = 100;\n"
        "    origins = [ \"http://127.0.0.1:*\" ]; redirect_hosts = [ \"example.com\" ];\n"
        "    publishable_keys_sha256 = [ "
        "\"a1a5e3b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f7\" ];\n"
        "    publishable_rate_per_s = 3; publishable_burst = 7; link_page = true; }\n"
        "); };\n"
        "scheduler = { schedules = (\n"
        "  { name = \"timeouts\"; cron = \"*/5 * * * *\"; command = \"timeout_sessions\";\n"
        "    params = { idle_seconds = 1800; batch_size = 500; }; dry_run = true; }\n"
        "); };\n");
    struct vg_config *cfg;
    char err[512] = "";
    assert_int_equal(vg_config_load(p, &cfg, err, sizeof(err)), 0);
    assert_int_equal(cfg->ntenants, 1);
    const struct vg_tenant *t = vg_config_tenant(cfg, "demo");
    assert_non_null(t);
    assert_int_equal(t->nkeys, 1);
    assert_int_equal(t->keys[0][0], 0x2f);
    assert_int_equal(t->keys[0][31], 0x8f);
    assert_true(t->rate_per_s > 50.4 && t->rate_per_s < 50.6);
    assert_int_equal(t->burst, 100);
    assert_string_equal(t->origins[0], "http://127.0.0.1:*");
    assert_string_equal(t->redirect_hosts[0], "example.com");
    assert_int_equal(t->npkeys, 1);
    assert_int_equal(t->pkeys[0][0], 0xa1);
    assert_int_equal(t->pkeys[0][31], 0xf7);
    assert_true(t->pk_rate_per_s > 2.9 && t->pk_rate_per_s < 3.1);
    assert_int_equal(t->pk_burst, 7);
    assert_true(t->link_page);
    assert_null(vg_config_tenant(cfg, "acme"));
    assert_int_equal(cfg->nschedules, 1);
    assert_string_equal(cfg->schedules[0].params_json,
                        "{\"batch_size\":500,\"idle_seconds\":1800}");
    assert_true(cfg->schedules[0].dry_run);
    vg_config_free(cfg);
}

/* The worker waits for Kafka inside its batch transaction: the wait must end
 * well before the database ends the transaction. */
static void test_kafka_ack_timeout_must_stay_well_below_idle_tx_timeout(void **state)
{
    static const struct {
        const char *text;
        int ok;
    } cases[] = {
        {"worker = { idle_tx_timeout_ms = 20000; kafka_ack_timeout_ms = 10000; };\n", 1},
        {"worker = { idle_tx_timeout_ms = 5000; kafka_ack_timeout_ms = 2500; };\n", 1},
        {"worker = { idle_tx_timeout_ms = 15000; };\n", 0},
        {"worker = { kafka_ack_timeout_ms = 10001; };\n", 0},
        {"worker = { idle_tx_timeout_ms = 4000; kafka_ack_timeout_ms = 3900; };\n", 0},
    };
    for (size_t i = 0; i < VG_ARRAY_LEN(cases); i++) {
        const char *p = write_conf(cases[i].text);
        struct vg_config *cfg = NULL;
        char err[512] = "";
        int rc = vg_config_load(p, &cfg, err, sizeof(err));
        if (cases[i].ok) {
            if (rc)
                fail_msg("case %zu refused: %s", i, err);
            vg_config_free(cfg);
            continue;
        }
        if (rc != VG_ECONFIG)
            fail_msg("case %zu: expected VG_ECONFIG, got %d", i, rc);
        assert_null(cfg);
        const char *const words[] = {"worker.kafka_ack_timeout_ms", "worker.idle_tx_timeout_ms",
                                     "at most half", p};
        for (size_t k = 0; k < VG_ARRAY_LEN(words); k++)
            if (!strstr(err, words[k]))
                fail_msg("case %zu: error \"%s\" lacks \"%s\"", i, err, words[k]);
    }
    /* The environment counts as much as the file. */
    setenv("VIGIL_WORKER_IDLE_TX_TIMEOUT_MS", "8000", 1);
    struct vg_config *cfg = NULL;
    char err[512] = "";
    assert_int_equal(vg_config_load(NULL, &cfg, err, sizeof(err)), VG_ECONFIG);
    assert_non_null(strstr(err, "worker.kafka_ack_timeout_ms (10000)"));
    setenv("VIGIL_WORKER_KAFKA_ACK_TIMEOUT_MS", "4000", 1);
    assert_int_equal(vg_config_load(NULL, &cfg, err, sizeof(err)), 0);
    assert_int_equal(cfg->worker_kafka_ack_timeout_ms, 4000);
    vg_config_free(cfg);
}

/* The shipped config documents and loads: every setting of the table appears in it. */
static void test_shipped_config_loads_and_documents_every_setting(void **state)
{
    const char *src = getenv("VIGIL_SOURCE_DIR");
    char file[512];
    snprintf(file, sizeof(file), "%s/config/vigil.conf", src ? src : ".");
    struct vg_config *cfg;
    char err[512] = "";
    if (vg_config_load(file, &cfg, err, sizeof(err)))
        fail_msg("%s", err);
    assert_non_null(vg_config_tenant(cfg, "demo"));
    assert_non_null(vg_config_tenant(cfg, "acme"));
    vg_config_free(cfg);

    FILE *f = fopen(file, "r");
    assert_non_null(f);
    struct vg_buf text = {0};
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        vg_buf_append(&text, chunk, n);
    fclose(f);
    for (size_t i = 0; i < vg_config_setting_count(); i++) {
        const char *name = vg_config_setting_name(i);
        const char *leaf = strrchr(name, '.') + 1;
        if (!strstr(text.data, leaf))
            fail_msg("config/vigil.conf does not mention setting %s", name);
    }
    vg_buf_free(&text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_defaults_need_no_file, teardown),
        cmocka_unit_test_teardown(test_secrets_short_or_placeholder_are_refused_and_never_echoed,
                                  teardown),
        cmocka_unit_test_teardown(test_a_set_bad_secret_fails_the_load_and_a_needed_one_must_be_set,
                                  teardown),
        cmocka_unit_test_teardown(test_file_values_are_read, teardown),
        cmocka_unit_test_teardown(test_broken_files_name_file_line_and_setting, teardown),
        cmocka_unit_test_teardown(test_missing_file_is_an_error, teardown),
        cmocka_unit_test_teardown(test_environment_overrides_the_file, teardown),
        cmocka_unit_test_teardown(test_bad_environment_value_names_the_variable, teardown),
        cmocka_unit_test_teardown(test_tenants_and_schedules_parse, teardown),
        cmocka_unit_test_teardown(test_kafka_ack_timeout_must_stay_well_below_idle_tx_timeout,
                                  teardown),
        cmocka_unit_test_teardown(test_shipped_config_loads_and_documents_every_setting,
                                  teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
