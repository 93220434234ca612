#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <string.h>

#include "err.h"
#include "util.h"

int vg_log_level = VG_LOG_INFO;

static char component[32] = "vigil";
static FILE *stream;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static const char *const level_names[] = {"error", "warn", "info", "debug"};

void vg_log_init(const char *name)
{
    snprintf(component, sizeof(component), "%s", name);
}

int vg_log_parse_level(const char *name, int *level)
{
    for (size_t i = 0; i < VG_ARRAY_LEN(level_names); i++) {
        if (strcmp(name, level_names[i]) == 0) {
            *level = (int)i;
            return 0;
        }
    }
    return VG_EINVAL;
}

void vg_log_set_stream(FILE *f)
{
    stream = f;
}

static void field_str(struct vg_buf *b, const char *key, const char *val)
{
    if (!val)
        return;
    vg_buf_printf(b, ",\"%s\":", key);
    vg_buf_json_str(b, val, strlen(val));
}

void vg__log(int level, const struct vg_log_ctx *ctx, const char *fmt, ...)
{
    char msg[2048], ts[VG_TS_LEN];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n < 0)
        msg[0] = '\0';

    vg_time_format(vg_now_us(), ts);
    struct vg_buf b = {0};
    vg_buf_printf(&b, "{\"ts\":\"%s\",\"level\":\"%s\",\"component\":", ts,
                  level_names[level < 0 ? 0 : level > VG_LOG_DEBUG ? VG_LOG_DEBUG : level]);
    vg_buf_json_str(&b, component, strlen(component));
    vg_buf_puts(&b, ",\"msg\":");
    vg_buf_json_str(&b, msg, strlen(msg));
    if (ctx) {
        field_str(&b, "topic", ctx->topic);
        if (ctx->partition >= 0)
            vg_buf_printf(&b, ",\"partition\":%d", (int)ctx->partition);
        if (ctx->offset >= 0)
            vg_buf_printf(&b, ",\"offset\":%lld", (long long)ctx->offset);
        field_str(&b, "tenant", ctx->tenant);
        field_str(&b, "request_id", ctx->request_id);
        field_str(&b, "session_id", ctx->session_id);
        field_str(&b, "error", ctx->error);
    }
    vg_buf_puts(&b, "}\n");

    pthread_mutex_lock(&lock);
    FILE *out = stream ? stream : stderr;
    fwrite(b.data, 1, b.len, out);
    fflush(out);
    pthread_mutex_unlock(&lock);
    vg_buf_free(&b);
}
