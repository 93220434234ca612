/* Receipts: the wire format the producer writes and vigil-query reads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "crypto.h"
#include "receipt.h"

static void test_receipt_keeps_the_last_offset_per_partition(void **state)
{
    struct vg_receipt r = {0};
    assert_int_equal(vg_receipt_add(&r, "vigil.events", 3, 10), 0);
    assert_int_equal(vg_receipt_add(&r, "vigil.events", 3, 12), 0);
    assert_int_equal(vg_receipt_add(&r, "vigil.events", 3, 11), 0);
    assert_int_equal(vg_receipt_add(&r, "vigil.heartbeats", 3, 5), 0);
    assert_int_equal(r.n, 2);
    assert_int_equal(r.pos[0].offset, 12);
    assert_int_equal(r.pos[1].offset, 5);
}

static void test_receipt_round_trip_is_url_safe(void **state)
{
    struct vg_receipt r = {0}, back;
    char enc[VG_RECEIPT_MAX_LEN];
    assert_int_equal(vg_receipt_add(&r, "vigil.events", 0, 0), 0);
    assert_int_equal(vg_receipt_add(&r, "vigil.heartbeats", 5, INT64_MAX), 0);
    assert_int_equal(vg_receipt_encode(&r, enc, sizeof(enc)), 0);
    for (const char *p = enc; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '_'))
            fail_msg("receipt has '%c': %s", *p, enc);
    assert_int_equal(vg_receipt_decode(enc, strlen(enc), &back), 0);
    assert_int_equal(back.n, 2);
    assert_string_equal(back.pos[1].topic, "vigil.heartbeats");
    assert_int_equal(back.pos[1].partition, 5);
    assert_true(back.pos[1].offset == INT64_MAX);
}

static void test_receipt_is_bounded(void **state)
{
    struct vg_receipt r = {0};
    char enc[VG_RECEIPT_MAX_LEN];
    for (int i = 0; i < VG_RECEIPT_MAX_POSITIONS; i++)
        assert_int_equal(vg_receipt_add(&r, "vigil.events", i, i), 0);
    assert_int_equal(vg_receipt_add(&r, "vigil.events", 1000, 1), VG_EFULL);
    assert_int_equal(vg_receipt_encode(&r, enc, sizeof(enc)), 0);
    struct vg_receipt empty = {0};
    assert_int_equal(vg_receipt_encode(&empty, enc, sizeof(enc)), VG_EINVAL);
    assert_int_equal(vg_receipt_add(&r, "bad:topic", 1, 1), VG_EINVAL);
    assert_int_equal(vg_receipt_add(&r, "vigil.events", -1, 1), VG_EINVAL);
    assert_int_equal(vg_receipt_add(&r, "vigil.events", 1, -1), VG_EINVAL);
}

static void test_receipt_refuses_what_is_no_receipt(void **state)
{
    static const char *const plain[] = {
        "", "1", "1;", "2;vigil.events:0:1", "1;vigil.events:0", "1;vigil.events:x:1",
        "1;vigil.events:0:-1", "1;vigil.events:0:1x", "1;:0:1", "1;a b:0:1",
        "1;vigil.events:99999999999:1",
    };
    struct vg_receipt r;
    for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
        char enc[256];
        size_t n = vg_base64url_encode((const unsigned char *)plain[i], strlen(plain[i]), enc);
        if (vg_receipt_decode(enc, n, &r) != VG_EINVAL)
            fail_msg("accepted \"%s\"", plain[i]);
    }
    assert_int_equal(vg_receipt_decode("!!!", 3, &r), VG_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_receipt_keeps_the_last_offset_per_partition),
        cmocka_unit_test(test_receipt_round_trip_is_url_safe),
        cmocka_unit_test(test_receipt_is_bounded),
        cmocka_unit_test(test_receipt_refuses_what_is_no_receipt),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
