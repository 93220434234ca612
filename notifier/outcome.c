#include "outcome.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

const char *vg_outcome_name(enum vg_outcome o)
{
    return o == VG_DELIVERED ? "delivered" : o == VG_RETRY ? "retry" : "dead";
}

enum vg_outcome vg_outcome_http(int answered, long status)
{
    if (!answered)
        return VG_RETRY;
    if (status >= 200 && status < 300)
        return VG_DELIVERED;
    if (status == 408 || status == 429 || (status >= 500 && status < 600))
        return VG_RETRY;
    return VG_DEAD;
}

enum vg_outcome vg_outcome_smtp(int answered, long reply)
{
    if (!answered || (reply >= 400 && reply < 500))
        return VG_RETRY;
    if (reply >= 200 && reply < 300)
        return VG_DELIVERED;
    return VG_DEAD;
}

int64_t vg_outcome_delay_ms(int attempts, int64_t base_ms, int64_t cap_ms, int64_t retry_after_ms,
                            uint64_t rnd)
{
    int64_t ceiling = base_ms;
    for (int i = 1; i < attempts && ceiling < cap_ms; i++)
        ceiling *= 2;
    ceiling = VG_MIN(ceiling, cap_ms);
    int64_t delay = (int64_t)(rnd % (uint64_t)(ceiling + 1));
    return VG_MAX(delay, retry_after_ms);
}

int64_t vg_outcome_retry_after_ms(const char *value, int64_t now_s)
{
    if (!value)
        return -1;
    while (*value == ' ' || *value == '\t')
        value++;
    if (*value >= '0' && *value <= '9') {
        char *end;
        long long s = strtoll(value, &end, 10);
        while (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n')
            end++;
        if (*end || s < 0)
            return -1;
        return VG_MIN(s, 86400LL) * 1000;
    }
    time_t t = curl_getdate(value, NULL);
    if (t < 0)
        return -1;
    return t <= now_s ? 0 : VG_MIN((int64_t)t - now_s, 86400) * 1000;
}

enum vg_outcome vg_outcome_final(enum vg_outcome o, int attempts, int64_t max_attempts,
                                 int64_t created_us, int64_t max_age_s, int64_t now_us,
                                 int64_t delay_ms)
{
    if (o != VG_RETRY)
        return o;
    if (attempts >= max_attempts)
        return VG_DEAD;
    if (now_us + delay_ms * 1000 > created_us + max_age_s * 1000000)
        return VG_DEAD;
    return VG_RETRY;
}
