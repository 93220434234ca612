#include "itest_http.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "itest.h"

void itest_answer_free(struct itest_answer *a)
{
    json_decref(a->json);
    vg_http_resp_free(&a->resp);
    memset(a, 0, sizeof(*a));
}

struct itest_answer itest_call(struct vg_httpc *c, const char *method, const char *path,
                               const char *headers, const char *body)
{
    struct itest_answer a = {0};
    char err[512];
    if (vg_httpc_request(c, method, path, headers, body, body ? strlen(body) : 0, &a.resp, err,
                         sizeof(err)))
        fail_msg("%s %s: %s", method, path, err);
    a.status = a.resp.status;
    a.json = json_loadb(a.resp.body.data ? a.resp.body.data : "", a.resp.body.len, 0, NULL);
    return a;
}

int itest_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

void itest_child_init(struct itest_child *c, const char *name)
{
    snprintf(c->conf, sizeof(c->conf), "/tmp/vigil-test-%s-%d-XXXXXX", name, (int)getpid());
    int fd = mkstemp(c->conf);
    assert_true(fd >= 0);
    close(fd);
    snprintf(c->log, sizeof(c->log), "%s.log", c->conf);
    c->port = itest_free_port();
}

void itest_child_start(struct itest_child *c, const char *brokers, const char *const (*env)[2])
{
    char port[16], bin[512], url[64], err[256];
    snprintf(port, sizeof(port), "%d", c->port);
    snprintf(bin, sizeof(bin), "%s/vigil-producer", itest_env("VIGIL_BIN_DIR"));
    c->pid = fork();
    assert_true(c->pid >= 0);
    if (c->pid == 0) {
        setenv("VIGIL_KAFKA_BROKERS", brokers, 1);
        setenv("VIGIL_PRODUCER_PORT", port, 1);
        setenv("VIGIL_PRODUCER_THREADS", "2", 1);
        setenv("VIGIL_PRODUCER_METRICS_PORT", "0", 1); /* beside the stack's producer */
        for (; env && env[0][0]; env++)
            setenv(env[0][0], env[0][1], 1);
        int lfd = open(c->log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int nfd = open("/dev/null", O_RDONLY);
        if (lfd >= 0) {
            dup2(lfd, 1);
            dup2(lfd, 2);
            close(lfd);
        }
        if (nfd >= 0) {
            dup2(nfd, 0);
            close(nfd);
        }
        execl(bin, bin, "-c", c->conf, (char *)NULL);
        _exit(127);
    }
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", c->port);
    c->http = vg_httpc_new(url, 10000, err, sizeof(err));
    assert_non_null(c->http);
    struct vg_http_resp r = {0};
    int up = ITEST_WAIT(
        vg_httpc_request(c->http, "GET", "/healthz", NULL, NULL, 0, &r, err, sizeof(err)) == 0 &&
            r.status == 200,
        15000);
    vg_http_resp_free(&r);
    if (!up)
        fail_msg("our vigil-producer on port %d did not come up (log %s)", c->port, c->log);
}

int itest_child_stop(struct itest_child *c, int timeout_ms)
{
    if (!c->pid)
        return 0;
    vg_httpc_free(c->http);
    c->http = NULL;
    kill(c->pid, SIGTERM);
    int status = 0, done = ITEST_WAIT(waitpid(c->pid, &status, WNOHANG) == c->pid, timeout_ms);
    if (!done) {
        kill(c->pid, SIGKILL);
        waitpid(c->pid, &status, 0);
    }
    c->pid = 0;
    if (!done)
        return -1;
    unlink(c->conf);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        unlink(c->log);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int itest_child_teardown(struct itest_child *c)
{
    int rc = itest_child_stop(c, 15000);
    if (rc != 0)
        fprintf(stderr, "our vigil-producer exited %d (log %s)\n", rc, c->log);
    return rc != 0;
}
