/* Hashes, HMAC, ids and base64 against published vectors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "crypto.h"
#include "util.h"

static void test_sha256_of_abc(void **state)
{
    unsigned char d[VG_SHA256_LEN];
    char hex[65];
    vg_sha256("abc", 3, d);
    vg_hex(d, sizeof(d), hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

/* RFC 4231 test case 2. */
static void test_hmac_sha256_rfc4231(void **state)
{
    unsigned char d[VG_SHA256_LEN];
    char hex[65];
    vg_hmac_sha256("Jefe", 4, "what do ya want for nothing?", 28, d);
    vg_hex(d, sizeof(d), hex);
    assert_string_equal(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

static void test_md5_is_upper_hex(void **state)
{
    char out[33];
    vg_md5_hex_upper("DEMO", 4, out);
    assert_string_equal(out, "BD6DBD063F5AB7394879E3C08781CD72");
}

static void test_equal_ct(void **state)
{
    assert_true(vg_equal_ct("abcd", "abcd", 4));
    assert_false(vg_equal_ct("abcd", "abce", 4));
}

static void test_uuid_v7_layout(void **state)
{
    char a[VG_UUID_STR_LEN], b[VG_UUID_STR_LEN];
    vg_uuid_v7(0x0123456789ab, a);
    vg_uuid_v7(0x0123456789ab, b);
    assert_true(vg_uuid_valid(a));
    assert_memory_equal(a, "01234567-89ab-7", 15);
    assert_true(strchr("89ab", a[19]) != NULL);
    assert_string_not_equal(a, b);
    assert_false(vg_uuid_valid("01234567-89ab-7xyz-8000-000000000000"));
    assert_false(vg_uuid_valid("01234567-89ab-7000-8000-0000000000000"));
}

static void test_base64url_round_trip(void **state)
{
    const unsigned char in[] = {0xfb, 0xff, 0x00, 0x10, 0x83};
    for (size_t n = 0; n <= sizeof(in); n++) {
        char enc[16];
        unsigned char dec[16];
        size_t el = vg_base64url_encode(in, n, enc);
        assert_null(strpbrk(enc, "+/="));
        long dl = vg_base64url_decode(enc, el, dec, sizeof(dec));
        assert_int_equal(dl, (long)n);
        assert_memory_equal(dec, in, n);
    }
    unsigned char dec[8];
    assert_int_equal(vg_base64url_decode("a+b/", 4, dec, sizeof(dec)), -1);
    assert_int_equal(vg_base64url_decode("abcde", 5, dec, sizeof(dec)), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256_of_abc),       cmocka_unit_test(test_hmac_sha256_rfc4231),
        cmocka_unit_test(test_md5_is_upper_hex),    cmocka_unit_test(test_equal_ct),
        cmocka_unit_test(test_uuid_v7_layout),      cmocka_unit_test(test_base64url_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
