/*
 * itest_http.h - integration-test helpers for the producer's HTTP surface:
 * one request and its answer (status, parsed JSON body), and producers a
 * test starts itself (a config file of its own, a free port, the binary of
 * this tree), stopped with SIGTERM.
 */
#ifndef VG_ITEST_HTTP_H
#define VG_ITEST_HTTP_H

#include <jansson.h>
#include <sys/types.h>

#include "http_client.h"

struct itest_answer {
    int status;
    json_t *json; /* the parsed body, or NULL */
    struct vg_http_resp resp;
};

void itest_answer_free(struct itest_answer *a);

/* Sends method path with headers (CRLF-terminated lines, or NULL) and body
 * (or NULL) on c; fails the test if no answer came. */
struct itest_answer itest_call(struct vg_httpc *c, const char *method, const char *path,
                               const char *headers, const char *body);

/* A TCP port on 127.0.0.1 that nothing listened on a moment ago. */
int itest_free_port(void);

/* A vigil-producer of this test's own. */
struct itest_child {
    pid_t pid;
    int port;
    char conf[64]; /* its config file */
    char log[80];  /* its stdout and stderr */
    struct vg_httpc *http;
};

/* Creates c's config file, empty (/tmp/vigil-test-NAME-PID-XXXXXX), names
 * its log and picks its port; the caller writes the config, then starts c. */
void itest_child_init(struct itest_child *c, const char *name);

/* Starts $VIGIL_BIN_DIR/vigil-producer on c's config and port, with brokers,
 * 2 threads and env: more settings as {NAME, VALUE} pairs, ended by {NULL}
 * (or env NULL). Waits for /healthz; fails the test if it does not come up. */
void itest_child_start(struct itest_child *c, const char *brokers, const char *const (*env)[2]);

/* SIGTERM, then the exit status within timeout_ms (-1 if it did not exit and
 * was killed). Removes the config once it exited, and the log if with 0. */
int itest_child_stop(struct itest_child *c, int timeout_ms);

/* A test group's teardown of c: stops it within 15 s; 0 if it exited 0,
 * else 1 after naming its log on stderr. */
int itest_child_teardown(struct itest_child *c);

#endif
