/* gzip bodies (producer/gunzip.c): what inflates, and the bound that makes a
 * decompression bomb cost no more memory than producer.max_body_bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include <cmocka.h>

#include "gunzip.h"

/* data (n bytes) gzip-compressed into a new buffer of *out_n bytes. */
static unsigned char *gz(const void *data, size_t n, size_t *out_n)
{
    z_stream z = {0};
    assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
    size_t cap = deflateBound(&z, n) + 64;
    unsigned char *out = malloc(cap);
    z.next_in = (unsigned char *)data;
    z.avail_in = (uInt)n;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    *out_n = cap - z.avail_out;
    deflateEnd(&z);
    return out;
}

static void test_a_gzip_body_inflates(void **state)
{
    (void)state;
    const char *text = "{\"type\":\"page.view\"}";
    size_t n;
    unsigned char *z = gz(text, strlen(text), &n);
    struct vg_buf out = {0};
    assert_int_equal(vg_gunzip(z, n, 1024, &out), 0);
    assert_int_equal(out.len, strlen(text));
    assert_string_equal(out.data, text);
    vg_buf_free(&out);

    /* Two members, one after the other (RFC 1952): both. */
    unsigned char *two = malloc(2 * n);
    memcpy(two, z, n);
    memcpy(two + n, z, n);
    assert_int_equal(vg_gunzip(two, 2 * n, 1024, &out), 0);
    assert_int_equal(out.len, 2 * strlen(text));
    vg_buf_free(&out);
    free(two);
    free(z);
}

static void test_a_body_of_exactly_the_limit_passes_and_one_byte_more_does_not(void **state)
{
    (void)state;
    enum { MAX = 100000 };
    char *data = malloc(MAX + 1);
    memset(data, 'a', MAX + 1);
    size_t n;
    unsigned char *z = gz(data, MAX, &n);
    struct vg_buf out = {0};
    assert_int_equal(vg_gunzip(z, n, MAX, &out), 0);
    assert_int_equal(out.len, MAX);
    vg_buf_free(&out);
    free(z);
    z = gz(data, MAX + 1, &n);
    assert_int_equal(vg_gunzip(z, n, MAX, &out), VG_ETOOBIG);
    vg_buf_free(&out);
    free(z);
    free(data);
}

static void test_a_bomb_is_refused_within_the_limit(void **state)
{
    (void)state;
    /* 64 MiB of zeros compress to about 64 KB. */
    size_t big = 64u << 20;
    char *zeros = calloc(1, big);
    size_t n;
    unsigned char *z = gz(zeros, big, &n);
    free(zeros);
    assert_true(n < 200000);
    struct vg_buf out = {0};
    assert_int_equal(vg_gunzip(z, n, 1 << 20, &out), VG_ETOOBIG);
    /* The memory it took: the limit, and the byte that told it was passed. */
    if (out.cap > (1u << 20) + 2)
        fail_msg("inflating reserved %zu bytes for a limit of %u", out.cap, 1u << 20);
    vg_buf_free(&out);
    free(z);
}

static void test_what_is_not_gzip_is_refused(void **state)
{
    (void)state;
    struct vg_buf out = {0};
    assert_int_equal(vg_gunzip("{\"type\":\"a\"}", 12, 1024, &out), VG_EPARSE);
    vg_buf_free(&out);
    assert_int_equal(vg_gunzip("", 0, 1024, &out), VG_EPARSE);
    vg_buf_free(&out);
    const char *text = "hello, hello, hello";
    size_t n;
    unsigned char *z = gz(text, strlen(text), &n);
    /* Cut short. */
    assert_int_equal(vg_gunzip(z, n - 4, 1024, &out), VG_EPARSE);
    vg_buf_free(&out);
    /* A flipped byte in the data: the CRC or the stream says so. */
    z[n / 2] ^= 0xff;
    assert_int_equal(vg_gunzip(z, n, 1024, &out), VG_EPARSE);
    vg_buf_free(&out);
    /* Garbage after a member. */
    z[n / 2] ^= 0xff;
    unsigned char *tail = malloc(n + 3);
    memcpy(tail, z, n);
    memcpy(tail + n, "xyz", 3);
    assert_int_equal(vg_gunzip(tail, n + 3, 1024, &out), VG_EPARSE);
    vg_buf_free(&out);
    free(tail);
    free(z);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_gzip_body_inflates),
        cmocka_unit_test(test_a_body_of_exactly_the_limit_passes_and_one_byte_more_does_not),
        cmocka_unit_test(test_a_bomb_is_refused_within_the_limit),
        cmocka_unit_test(test_what_is_not_gzip_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
