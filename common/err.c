#include "err.h"

#include <stdarg.h>
#include <stdio.h>

const char *vg_strerror(int err)
{
    switch (err) {
    case VG_OK:
        return "ok";
#define VG__ERR_STR(name, msg)                                                                   \
    case VG_E##name:                                                                             \
        return msg;
        VG_ERRNO_MAP(VG__ERR_STR)
#undef VG__ERR_STR
    default:
        return "unknown error";
    }
}

const char *vg_errname(int err)
{
    switch (err) {
    case VG_OK:
        return "OK";
#define VG__ERR_NAME(name, msg)                                                                  \
    case VG_E##name:                                                                             \
        return #name;
        VG_ERRNO_MAP(VG__ERR_NAME)
#undef VG__ERR_NAME
    default:
        return "UNKNOWN";
    }
}

int vg_einval(char *errstr, size_t errstr_size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errstr, errstr_size, fmt, ap);
    va_end(ap);
    return VG_EINVAL;
}
