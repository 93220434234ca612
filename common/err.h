/*
 * err.h - the project's error codes.
 *
 * Fallible functions return 0 or one negative VG_E* code; vg_strerror() names
 * it. Where a person needs more detail the function also takes
 * `char *errstr, size_t errstr_size`.
 */
#ifndef VG_ERR_H
#define VG_ERR_H

#include <stddef.h>

#define VG_MUSTCHECK __attribute__((warn_unused_result))

/* X(name, message): one line per code, in one place. */
#define VG_ERRNO_MAP(X)                                                                          \
    X(NOMEM, "out of memory")                                                                    \
    X(INVAL, "invalid argument")                                                                 \
    X(CONFIG, "invalid configuration")                                                           \
    X(IO, "input/output error")                                                                  \
    X(PARSE, "malformed input")                                                                  \
    X(TOOBIG, "too large")                                                                       \
    X(AUTH, "not authorized")                                                                    \
    X(NOTFOUND, "not found")                                                                     \
    X(CONFLICT, "conflict with a concurrent writer")                                             \
    X(TIMEOUT, "timed out")                                                                      \
    X(FULL, "queue full")                                                                        \
    X(TRANSIENT, "temporary failure, retry later")                                               \
    X(DB, "value refused by the database")                                                       \
    X(SQL, "statement refused by the database")                                                  \
    X(KAFKA, "kafka error")                                                                      \
    X(HTTP, "http server error")

enum vg_err {
    VG_OK = 0,
#define VG__ERR_ENUM(name, msg) VG_E##name,
    VG__ERR_FIRST = -100,
    VG_ERRNO_MAP(VG__ERR_ENUM)
#undef VG__ERR_ENUM
};

/* Returns a static message for a VG_E* code (or "ok" for 0, "unknown error"). */
const char *vg_strerror(int err);

/* Returns the code's name without prefix ("TIMEOUT"), for logs and metrics. */
const char *vg_errname(int err);

/* Formats a message into errstr (errstr_size bytes, always terminated) and
 * returns VG_EINVAL: the one line of a validator that refuses its input. */
int vg_einval(char *errstr, size_t errstr_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
