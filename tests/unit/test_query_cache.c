/* vigil-query's cache: the staleness bound, the bounded table, Redis down,
 * and SETs sent without waiting on a private redis-server when there is one. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "cache.h"
#include "qstats.h"
#include "util.h"

#define NEVER INT64_MAX /* no promise that nothing changed */

static int setup(void **state)
{
    vg_qstats_init();
    return 0;
}

static int teardown(void **state)
{
    vg_metrics_reset();
    return 0;
}

static void test_cache_serves_within_the_bound_only(void **state)
{
    char err[128];
    struct vg_cache *c = vg_cache_new(16, 500, "", 50, 1, err, sizeof(err));
    struct vg_buf out = {0};
    int64_t at;
    assert_non_null(c);
    assert_true(vg_cache_enabled(c));
    vg_cache_put(c, "k", "fresh", 5, vg_now_ms() - 100);
    assert_int_equal(vg_cache_get(c, "k", &out, &at, NEVER), 1);
    assert_int_equal(out.len, 5);
    assert_memory_equal(out.data, "fresh", 5);
    vg_buf_reset(&out);
    /* read from PostgreSQL 600 ms ago: past the bound, never served */
    vg_cache_put(c, "old", "stale", 5, vg_now_ms() - 600);
    assert_int_equal(vg_cache_get(c, "old", &out, &at, NEVER), 0);
    assert_int_equal(vg_cache_get(c, "missing", &out, &at, NEVER), 0);
    /* an older read never replaces a newer one */
    vg_cache_put(c, "k", "older", 5, vg_now_ms() - 300);
    assert_int_equal(vg_cache_get(c, "k", &out, &at, NEVER), 1);
    assert_memory_equal(out.data, "fresh", 5);
    vg_buf_free(&out);
    vg_cache_free(c);
}

static void test_cache_serves_an_unchanged_old_read(void **state)
{
    char err[128];
    struct vg_cache *c = vg_cache_new(16, 500, "", 50, 1, err, sizeof(err));
    struct vg_buf out = {0};
    int64_t at, read = vg_now_ms() - 5000;
    vg_cache_put(c, "k", "old", 3, read);
    /* older than the bound, but nothing changed since it was read */
    assert_int_equal(vg_cache_get(c, "k", &out, &at, read - 1), 1);
    assert_true(at == read);
    /* a change after the read, or no promise at all: not served */
    assert_int_equal(vg_cache_get(c, "k", &out, &at, read + 1), 0);
    assert_int_equal(vg_cache_get(c, "k", &out, &at, NEVER), 0);
    vg_buf_free(&out);
    vg_cache_free(c);
}

static void test_cache_is_bounded(void **state)
{
    char err[128], key[16];
    struct vg_cache *c = vg_cache_new(4, 500, "", 50, 1, err, sizeof(err));
    struct vg_buf out = {0};
    int64_t at;
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        vg_cache_put(c, key, "v", 1, vg_now_ms());
    }
    int hits = 0;
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        hits += vg_cache_get(c, key, &out, &at, NEVER);
    }
    assert_in_range(hits, 1, 4);
    vg_buf_free(&out);
    vg_cache_free(c);
}

static void test_cache_off(void **state)
{
    char err[128];
    struct vg_cache *c = vg_cache_new(16, 0, "", 50, 1, err, sizeof(err));
    struct vg_buf out = {0};
    int64_t at;
    assert_false(vg_cache_enabled(c));
    vg_cache_put(c, "k", "v", 1, vg_now_ms());
    assert_int_equal(vg_cache_get(c, "k", &out, &at, NEVER), 0);
    vg_cache_free(c);
}

static void test_cache_redis_down_is_a_miss_and_a_metric(void **state)
{
    char err[128];
    /* nothing listens on port 1 */
    struct vg_cache *c = vg_cache_new(0, 500, "redis://127.0.0.1:1/0", 50, 2, err, sizeof(err));
    struct vg_buf out = {0};
    int64_t at;
    assert_non_null(c);
    assert_true(vg_series_value(vg_qstats.redis_up) == 1);
    vg_cache_put(c, "k", "v", 1, vg_now_ms());
    assert_int_equal(vg_cache_get(c, "k", &out, &at, NEVER), 0);
    assert_true(vg_series_value(vg_qstats.redis_up) == 0);
    assert_true(vg_series_value(vg_qstats.redis_error) >= 1);
    vg_cache_free(c);
}

#define REDIS_SERVER "/usr/bin/redis-server"

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static int port_open(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    close(fd);
    return ok;
}

/* A private redis-server on a free port, nothing saved; -1 if none is installed. */
static pid_t redis_start(int *port)
{
    if (access(REDIS_SERVER, X_OK))
        return -1;
    *port = free_port();
    char ps[16];
    snprintf(ps, sizeof(ps), "%d", *port);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr))
            _exit(127);
        execl(REDIS_SERVER, "redis-server", "--port", ps, "--bind", "127.0.0.1", "--save", "",
              "--appendonly", "no", "--loglevel", "warning", (char *)NULL);
        _exit(127);
    }
    for (int64_t end = vg_mono_ms() + 10000; !port_open(*port);) {
        if (vg_mono_ms() > end)
            fail_msg("redis-server on %d never listened", *port);
        vg_sleep_ms(20, NULL);
    }
    return pid;
}

static void redis_kill(pid_t pid)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

/* A miss sends its SET without reading the reply: the replies left behind
 * are read in order before the next GET's, beyond PENDING_MAX too, and a
 * second replica (another cache) reads what the first stored. */
static void test_cache_redis_sets_without_waiting(void **state)
{
    int port;
    pid_t pid = redis_start(&port);
    if (pid < 0)
        skip();
    char url[64], err[128], key[32], val[32];
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d/0", port);
    struct vg_cache *a = vg_cache_new(0, 5000, url, 1000, 1, err, sizeof(err));
    struct vg_cache *b = vg_cache_new(0, 5000, url, 1000, 1, err, sizeof(err));
    assert_non_null(a);
    assert_non_null(b);
    struct vg_buf out = {0};
    int64_t at, now = vg_now_ms();
    for (int i = 0; i < 200; i++) {
        snprintf(key, sizeof(key), "vigil:t:%d", i);
        snprintf(val, sizeof(val), "value-%d", i);
        vg_cache_put(a, key, val, strlen(val), now);
    }
    for (int i = 199; i >= 0; i--) {
        snprintf(key, sizeof(key), "vigil:t:%d", i);
        snprintf(val, sizeof(val), "value-%d", i);
        for (int k = 0; k < 2; k++) {
            vg_buf_reset(&out);
            if (!vg_cache_get(k ? b : a, key, &out, &at, NEVER))
                fail_msg("%s missed in cache %c", key, k ? 'b' : 'a');
            assert_int_equal(out.len, strlen(val));
            assert_memory_equal(out.data, val, out.len);
            assert_true(at == now);
        }
    }
    assert_true(vg_series_value(vg_qstats.redis_up) == 1);
    /* Redis gone with a SET's reply still unread: a miss, and the metric says so. */
    vg_cache_put(a, "vigil:t:last", "v", 1, vg_now_ms());
    redis_kill(pid);
    vg_buf_reset(&out);
    assert_int_equal(vg_cache_get(a, "vigil:t:last", &out, &at, NEVER), 0);
    assert_true(vg_series_value(vg_qstats.redis_up) == 0);
    vg_buf_free(&out);
    vg_cache_free(a);
    vg_cache_free(b);
}

static void test_cache_refuses_a_bad_url(void **state)
{
    char err[128];
    static const char *const bad[] = {"http://x", "redis://", "redis://h:0", "redis://h:1/x",
                                      "redis://h/1/2"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (vg_cache_new(4, 500, bad[i], 50, 1, err, sizeof(err)))
            fail_msg("accepted %s", bad[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_cache_serves_within_the_bound_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cache_serves_an_unchanged_old_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cache_is_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cache_off, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cache_redis_down_is_a_miss_and_a_metric, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_cache_redis_sets_without_waiting, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cache_refuses_a_bad_url, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
