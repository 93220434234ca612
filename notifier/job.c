#include "job.h"

#include <stdio.h>
#include <stdlib.h>

enum vg_outcome vg_job_result(struct vg_job *j, CURLcode rc, long *status, char *why,
                              size_t why_size)
{
    long code = 0;
    curl_easy_getinfo(j->easy, CURLINFO_RESPONSE_CODE, &code);
    *status = code;
    enum vg_outcome o;
    if (j->dest->type == VG_NOTIFY_WEBHOOK) {
        o = vg_outcome_http(rc == CURLE_OK, code);
        if (rc == CURLE_OK)
            snprintf(why, why_size, "HTTP %ld", code);
    } else {
        o = rc == CURLE_OK ? VG_DELIVERED : vg_outcome_smtp(code > 0, code);
        if (rc == CURLE_OK)
            snprintf(why, why_size, "SMTP %ld", code ? code : 250L);
    }
    /* libcurl's words name the host at most, never the URL's credentials. */
    if (rc != CURLE_OK)
        snprintf(why, why_size, "%s%s%s", curl_easy_strerror(rc), j->error[0] ? ": " : "",
                 j->error);
    return o;
}

void vg_job_free(struct vg_job *j)
{
    if (!j)
        return;
    if (j->easy)
        curl_easy_cleanup(j->easy);
    curl_slist_free_all(j->list);
    vg_buf_free(&j->body);
    free(j->payload);
    free(j);
}
