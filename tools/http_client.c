#include "http_client.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define HEAD_MAX (64 * 1024)
#define BODY_MAX (64 * 1024 * 1024)
/* RFC 9110: a client that sent Expect: 100-continue sends the body anyway
 * if no answer comes within a reasonable time. */
#define EXPECT_WAIT_MS 1000L

struct vg_httpc {
    CURL *curl; /* holds the kept-alive connection */
    char *base; /* the base URL, without a trailing '/' */
    char *cafile;
    long timeout_ms;
    struct vg_http_resp *resp; /* the answer being read */
    int too_large;             /* the answer passed HEAD_MAX or BODY_MAX */
    char err[CURL_ERROR_SIZE];
};

struct vg_httpc *vg_httpc_new(const char *base_url, int timeout_ms, char *errstr,
                              size_t errstr_size)
{
    if (strncasecmp(base_url, "http://", 7) && strncasecmp(base_url, "https://", 8)) {
        snprintf(errstr, errstr_size, "\"%s\" is not an http:// or https:// URL", base_url);
        return NULL;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURLU *u = curl_url();
    char *host = NULL;
    int bad = !u || curl_url_set(u, CURLUPART_URL, base_url, 0) ||
              curl_url_get(u, CURLUPART_HOST, &host, 0) || !*host;
    curl_free(host);
    curl_url_cleanup(u);
    if (bad) {
        snprintf(errstr, errstr_size,
                 "cannot parse the URL \"%s\" (http[s]://host[:port][/prefix])", base_url);
        curl_global_cleanup();
        return NULL;
    }
    struct vg_httpc *c = vg_xcalloc(1, sizeof(*c));
    c->base = vg_xstrdup(base_url);
    size_t l = strlen(c->base);
    if (c->base[l - 1] == '/')
        c->base[l - 1] = '\0';
    c->timeout_ms = timeout_ms;
    return c;
}

void vg_httpc_free(struct vg_httpc *c)
{
    if (!c)
        return;
    curl_easy_cleanup(c->curl);
    free(c->base);
    free(c->cafile);
    free(c);
    curl_global_cleanup();
}

void vg_httpc_set_cafile(struct vg_httpc *c, const char *path)
{
    free(c->cafile);
    c->cafile = vg_xstrdup(path);
}

void vg_httpc_reconnect(struct vg_httpc *c)
{
    curl_easy_cleanup(c->curl);
    c->curl = NULL;
}

/* -- one exchange -------------------------------------------------------- */

/* A header line of the answer, CRLF included; a status line starts the
 * block again (the headers of a 100 Continue are not the answer's). */
static size_t on_header(char *data, size_t size, size_t n, void *opaque)
{
    struct vg_httpc *c = opaque;
    struct vg_buf *head = &c->resp->head;
    size_t len = size * n;
    if (len >= 5 && !strncmp(data, "HTTP/", 5)) {
        vg_buf_reset(head);
        return len;
    }
    if (len <= 2 && (data[0] == '\r' || data[0] == '\n'))
        return len; /* the end of the block */
    if (head->len + len > HEAD_MAX) {
        c->too_large = 1;
        return 0;
    }
    vg_buf_append(head, data, len);
    return len;
}

static size_t on_body(char *data, size_t size, size_t n, void *opaque)
{
    struct vg_httpc *c = opaque;
    struct vg_buf *body = &c->resp->body;
    size_t len = size * n;
    if (body->len + len > BODY_MAX) {
        c->too_large = 1;
        return 0;
    }
    vg_buf_append(body, data, len);
    return len;
}

/* Out of memory inside libcurl: the project's policy, as vg_xmalloc(). */
static struct curl_slist *append(struct curl_slist *list, const char *line)
{
    struct curl_slist *l = curl_slist_append(list, line);
    if (!l) {
        fprintf(stderr, "{\"level\":\"fatal\",\"msg\":\"out of memory in libcurl\"}\n");
        abort();
    }
    return l;
}

/* The caller's header lines for libcurl, with libcurl's own headers that
 * the caller did not give switched off ("Name:" alone). */
static struct curl_slist *header_list(const char *headers)
{
    static const char *const own[] = {"Accept", "Content-Type", "Expect"};
    int given[VG_ARRAY_LEN(own)] = {0};
    struct curl_slist *list = NULL;
    for (const char *p = headers; p && *p; p += strspn(p, "\r\n")) {
        size_t n = strcspn(p, "\r\n");
        char *line = vg_xstrndup(p, n);
        for (size_t i = 0; i < VG_ARRAY_LEN(own); i++) {
            size_t k = strlen(own[i]);
            given[i] |= !strncasecmp(line, own[i], k) && line[k] == ':';
        }
        list = append(list, line);
        free(line);
        p += n;
    }
    char off[32];
    for (size_t i = 0; i < VG_ARRAY_LEN(own); i++) {
        if (given[i])
            continue;
        snprintf(off, sizeof(off), "%s:", own[i]);
        list = append(list, off);
    }
    return list;
}

static int classify(const struct vg_httpc *c, CURLcode rc)
{
    if (c->too_large || rc == CURLE_WEIRD_SERVER_REPLY || rc == CURLE_BAD_CONTENT_ENCODING)
        return VG_EPARSE;
    if (rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE)
        return VG_EAUTH;
    return rc == CURLE_OPERATION_TIMEDOUT ? VG_ETIMEOUT : VG_EIO;
}

int vg_httpc_request(struct vg_httpc *c, const char *method, const char *path,
                     const char *headers, const void *body, size_t len,
                     struct vg_http_resp *resp, char *errstr, size_t errstr_size)
{
    if (!c->curl && !(c->curl = curl_easy_init())) {
        snprintf(errstr, errstr_size, "%s: cannot start libcurl", c->base);
        return VG_EIO;
    }
    CURL *h = c->curl;
    struct vg_buf url = {0};
    vg_buf_printf(&url, "%s%s", c->base, path);
    struct curl_slist *list = header_list(headers);
    resp->status = 0;
    vg_buf_reset(&resp->head);
    vg_buf_reset(&resp->body);
    c->resp = resp;
    c->too_large = 0;
    c->err[0] = '\0';

    curl_easy_reset(h); /* options only: the connection stays */
    curl_easy_setopt(h, CURLOPT_URL, url.data);
    curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(h, CURLOPT_PROXY, "");
    curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, c);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->err);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->timeout_ms);
    /* Less than a byte a second for the whole timeout: the server is gone. */
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, (c->timeout_ms + 999) / 1000);
    curl_easy_setopt(h, CURLOPT_EXPECT_100_TIMEOUT_MS, EXPECT_WAIT_MS);
    if (c->cafile)
        curl_easy_setopt(h, CURLOPT_CAINFO, c->cafile);
    if (!strcmp(method, "HEAD")) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (len || !strcmp(method, "POST") || !strcmp(method, "PUT")) {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body ? body : "");
    }
    if (strcmp(method, "GET") && strcmp(method, "HEAD") && strcmp(method, "POST"))
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);

    CURLcode rc = curl_easy_perform(h);
    int ret = 0;
    if (rc == CURLE_OK) {
        long status = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        resp->status = (int)status;
    } else {
        ret = classify(c, rc);
        snprintf(errstr, errstr_size, "%s: %s", c->base,
                 c->too_large ? "the answer is too large"
                 : c->err[0]  ? c->err
                              : curl_easy_strerror(rc));
    }
    c->resp = NULL;
    curl_slist_free_all(list);
    vg_buf_free(&url);
    return ret;
}

/* -- answers ------------------------------------------------------------- */

const char *vg_http_resp_header(const struct vg_http_resp *r, const char *name, char *out,
                                size_t out_size)
{
    size_t nn = strlen(name);
    const char *p = r->head.data;
    while (p && *p) {
        const char *eol = strstr(p, "\r\n");
        size_t ln = eol ? (size_t)(eol - p) : strlen(p);
        if (ln > nn && p[nn] == ':' && !strncasecmp(p, name, nn)) {
            const char *v = p + nn + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            size_t vn = (size_t)(p + ln - v);
            if (vn >= out_size)
                vn = out_size - 1;
            memcpy(out, v, vn);
            out[vn] = '\0';
            return out;
        }
        p = eol ? eol + 2 : p + ln;
    }
    return NULL;
}

void vg_http_resp_free(struct vg_http_resp *r)
{
    vg_buf_free(&r->head);
    vg_buf_free(&r->body);
}
