/*
 * log.h - one JSON object per line on stderr.
 *
 *   {"ts":"...","level":"info","component":"worker","msg":"...", fields...}
 *
 * vg_log() checks the level before anything is formatted, so a disabled debug
 * line costs one comparison. vg_logc() adds the context of a message or a
 * request (topic, partition, offset, tenant, request id, session id). Never
 * pass a secret: nothing here redacts.
 */
#ifndef VG_LOG_H
#define VG_LOG_H

#include <stdint.h>
#include <stdio.h>

enum vg_log_level { VG_LOG_ERROR, VG_LOG_WARN, VG_LOG_INFO, VG_LOG_DEBUG };

/* Context fields; NULL strings and negative numbers are left out. */
struct vg_log_ctx {
    const char *topic;
    int32_t partition;
    int64_t offset;
    const char *tenant;
    const char *request_id;
    const char *session_id;
    const char *error;
};

#define VG_LOG_CTX_INIT {.partition = -1, .offset = -1}

extern int vg_log_level;

/* Sets the component name (copied) written on every line. */
void vg_log_init(const char *component);
/* Parses "error", "warn", "info", "debug". Returns 0 or VG_EINVAL. */
int vg_log_parse_level(const char *name, int *level);
/* Redirects output (tests); NULL restores stderr. */
void vg_log_set_stream(FILE *f);

void vg__log(int level, const struct vg_log_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define vg_log(level, ...)                                                                       \
    do {                                                                                         \
        if ((level) <= vg_log_level)                                                             \
            vg__log((level), NULL, __VA_ARGS__);                                                 \
    } while (0)

#define vg_logc(level, ctx, ...)                                                                 \
    do {                                                                                         \
        if ((level) <= vg_log_level)                                                             \
            vg__log((level), (ctx), __VA_ARGS__);                                                \
    } while (0)

#define vg_error(...) vg_log(VG_LOG_ERROR, __VA_ARGS__)
#define vg_warn(...) vg_log(VG_LOG_WARN, __VA_ARGS__)
#define vg_info(...) vg_log(VG_LOG_INFO, __VA_ARGS__)
#define vg_debug(...) vg_log(VG_LOG_DEBUG, __VA_ARGS__)

#endif
