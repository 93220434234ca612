/* Tenant policy: keys, CORS origins, tracking-link redirect hosts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "crypto.h"
#include "policy.h"

static char *demo_origins[] = {"http://127.0.0.1:*", "http://localhost:*", "https://app.example.org"};
static char *demo_hosts[] = {"example.com", "*.lessons.example.net"};
static unsigned char demo_keys[2][VG_SHA256_LEN], acme_keys[1][VG_SHA256_LEN];
static unsigned char demo_pkeys[1][VG_SHA256_LEN];
static struct vg_tenant tenants[2];
static struct vg_config cfg;

static int setup(void **state)
{
    vg_sha256("demo-key", 8, demo_keys[0]);
    vg_sha256("demo-key-2", 10, demo_keys[1]);
    vg_sha256("acme-key", 8, acme_keys[0]);
    vg_sha256("demo-pk", 7, demo_pkeys[0]);
    tenants[0] = (struct vg_tenant){.id = "demo",
                                    .keys = demo_keys,
                                    .nkeys = 2,
                                    .pkeys = demo_pkeys,
                                    .npkeys = 1,
                                    .origins = demo_origins,
                                    .norigins = 3,
                                    .redirect_hosts = demo_hosts,
                                    .nredirect_hosts = 2};
    tenants[1] = (struct vg_tenant){.id = "acme", .keys = acme_keys, .nkeys = 1};
    cfg.tenants = tenants;
    cfg.ntenants = 2;
    return 0;
}

static void test_keys_map_to_tenants(void **state)
{
    assert_ptr_equal(vg_policy_tenant_by_key(&cfg, "demo-key", 8, NULL), &tenants[0]);
    assert_ptr_equal(vg_policy_tenant_by_key(&cfg, "demo-key-2", 10, NULL), &tenants[0]);
    assert_ptr_equal(vg_policy_tenant_by_key(&cfg, "acme-key", 8, NULL), &tenants[1]);
    assert_null(vg_policy_tenant_by_key(&cfg, "demo-key ", 9, NULL));
    assert_null(vg_policy_tenant_by_key(&cfg, "demo-ke", 7, NULL));
    assert_null(vg_policy_tenant_by_key(&cfg, "", 0, NULL));
}

/* A publishable key passes only where the caller asks for them, and says so. */
static void test_publishable_keys_only_when_asked(void **state)
{
    int pk = -1;
    assert_null(vg_policy_tenant_by_key(&cfg, "demo-pk", 7, NULL));
    assert_ptr_equal(vg_policy_tenant_by_key(&cfg, "demo-pk", 7, &pk), &tenants[0]);
    assert_int_equal(pk, 1);
    assert_ptr_equal(vg_policy_tenant_by_key(&cfg, "demo-key", 8, &pk), &tenants[0]);
    assert_int_equal(pk, 0);
    assert_null(vg_policy_tenant_by_key(&cfg, "demo-p", 6, &pk));
    assert_int_equal(pk, 0);
}

static const struct {
    const char *origin;
    int demo, acme;
} origins[] = {
    {"http://127.0.0.1:3000", 1, 0},
    {"http://127.0.0.1", 1, 0},
    {"http://LOCALHOST:8080", 1, 0},
    {"https://app.example.org", 1, 0},
    {"https://APP.example.org", 1, 0},
    {"https://app.example.org:8443", 0, 0},
    {"http://app.example.org", 0, 0},
    {"http://127.0.0.1:", 0, 0},
    {"http://127.0.0.1:80a", 0, 0},
    {"http://127.0.0.1:123456", 0, 0},
    {"http://127.0.0.10:80", 0, 0},
    {"http://127.0.0.1.evil.com", 0, 0},
    {"https://127.0.0.1:3000", 0, 0},
    {"null", 0, 0},
    {"", 0, 0},
};

static void test_cors_origins(void **state)
{
    for (size_t i = 0; i < sizeof(origins) / sizeof(origins[0]); i++) {
        int d = vg_policy_origin_allowed(&tenants[0], origins[i].origin);
        int a = vg_policy_origin_allowed(&tenants[1], origins[i].origin);
        int any = vg_policy_origin_any(&cfg, origins[i].origin);
        if (d != origins[i].demo || a != origins[i].acme || any != (origins[i].demo || origins[i].acme))
            fail_msg("%s: demo %d acme %d any %d, want demo %d acme %d", origins[i].origin, d, a,
                     any, origins[i].demo, origins[i].acme);
    }
    char *star[] = {"*"};
    struct vg_tenant open = {.id = "open", .origins = star, .norigins = 1};
    assert_true(vg_policy_origin_allowed(&open, "https://anything.test"));
    assert_false(vg_policy_origin_allowed(&open, "null"));
}

static const struct {
    const char *url;
    int ok;
} redirects[] = {
    {"https://example.com/lesson/1?x=y#z", 1},
    {"http://example.com", 1},
    {"HTTPS://EXAMPLE.COM/a", 1},
    {"https://example.com:8443/a", 1},
    {"https://a.lessons.example.net/x", 1},
    {"https://a.b.lessons.example.net/x", 1},
    {"https://lessons.example.net/x", 0},
    {"https://xlessons.example.net/x", 0},
    {"https://www.example.com/", 0},
    {"https://example.com.evil.com/", 0},
    {"https://evil.com/?example.com", 0},
    {"https://evil.com#@example.com", 0},
    {"https://example.com@evil.com/", 0},
    {"https://user:pw@example.com/", 0},
    {"https://evil.com\\@example.com/", 0},
    {"https:\\\\example.com", 0},
    {"//example.com/", 0},
    {"/relative", 0},
    {"javascript:alert(1)//example.com", 0},
    {"ftp://example.com/", 0},
    {"https://example.com:/", 0},
    {"https://example.com:99999999/", 0},
    {"https://example.com:80x/", 0},
    {"https:///example.com", 0},
    {"https://exa mple.com/", 0},
    {"https://example.com/\n", 0},
    {"https://ex\xc3\xa4mple.com/", 0},
    {"", 0},
};

static void test_redirect_hosts(void **state)
{
    for (size_t i = 0; i < sizeof(redirects) / sizeof(redirects[0]); i++) {
        int ok = vg_policy_redirect_allowed(&tenants[0], redirects[i].url);
        if (ok != redirects[i].ok)
            fail_msg("%s: %d, want %d", redirects[i].url, ok, redirects[i].ok);
    }
    /* a tenant without hosts allows none */
    assert_false(vg_policy_redirect_allowed(&tenants[1], "https://example.com/"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keys_map_to_tenants),
        cmocka_unit_test(test_publishable_keys_only_when_asked),
        cmocka_unit_test(test_cors_origins),
        cmocka_unit_test(test_redirect_hosts),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
