/*
 * util.h - allocation, growable buffers, time and small string helpers.
 *
 * One out-of-memory policy for the whole project: the vg_x* allocators abort
 * with a message. Callers never check for NULL from them.
 */
#ifndef VG_UTIL_H
#define VG_UTIL_H

#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "err.h"

#define VG_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define VG_MIN(a, b) ((a) < (b) ? (a) : (b))
#define VG_MAX(a, b) ((a) > (b) ? (a) : (b))
/* The value of macro x as a string literal, for text built at compile time
 * (SQL): VG_STR(VG_COMMAND_SAMPLE_MAX) is "100". */
#define VG_STR(x)  VG_STR_(x)
#define VG_STR_(x) #x

void *vg_xmalloc(size_t n);
void *vg_xcalloc(size_t count, size_t size);
void *vg_xrealloc(void *p, size_t n);
char *vg_xstrdup(const char *s);
char *vg_xstrndup(const char *s, size_t n);
/* printf into a new string; never NULL. */
char *vg_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A growable byte buffer, always NUL-terminated. Zero-initialise to start. */
struct vg_buf {
    char *data;
    size_t len;
    size_t cap;
};

void vg_buf_reserve(struct vg_buf *b, size_t extra);
void vg_buf_append(struct vg_buf *b, const void *p, size_t n);
void vg_buf_puts(struct vg_buf *b, const char *s);
void vg_buf_putc(struct vg_buf *b, char c);
void vg_buf_printf(struct vg_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void vg_buf_vprintf(struct vg_buf *b, const char *fmt, va_list ap);
/* Appends s as a JSON string literal, quotes included. */
void vg_buf_json_str(struct vg_buf *b, const char *s, size_t n);
/* Empties the buffer but keeps its memory. */
void vg_buf_reset(struct vg_buf *b);
/* Frees the memory; the buffer may be reused after. Accepts an empty buffer. */
void vg_buf_free(struct vg_buf *b);

/* Wall clock in milliseconds / microseconds since the epoch. */
int64_t vg_now_ms(void);
int64_t vg_now_us(void);
/* Monotonic clock in milliseconds, for deadlines and durations. */
int64_t vg_mono_ms(void);

/* Initializes c to time its waits on the monotonic clock (vg_mono_ms()). */
void vg_cond_init_mono(pthread_cond_t *c);
/* Waits on c (from vg_cond_init_mono(), m held) until signalled or
 * deadline_ms on vg_mono_ms()'s clock; spurious wake-ups return too. */
void vg_cond_wait_until(pthread_cond_t *c, pthread_mutex_t *m, int64_t deadline_ms);

/* Formats epoch microseconds as RFC 3339 UTC with microseconds
 * ("2026-11-23T01:54:07.123456Z"); out needs VG_TS_LEN bytes. */
#define VG_TS_LEN 32
void vg_time_format(int64_t epoch_us, char out[VG_TS_LEN]);
/* Parses an RFC 3339 timestamp (offset or Z required, fraction optional) into
 * epoch microseconds. Returns 0 or VG_EPARSE. */
int vg_time_parse(const char *s, int64_t *epoch_us) VG_MUSTCHECK;

/* Lowercase hex of n bytes into out (2n+1 bytes). */
void vg_hex(const unsigned char *in, size_t n, char *out);

/* Fills buf with n cryptographically random bytes; aborts if the system has none. */
void vg_random_bytes(void *buf, size_t n);

/* Parses a whole decimal integer within [min, max]. Returns 0 or VG_EINVAL. */
int vg_parse_int64(const char *s, int64_t min, int64_t max, int64_t *out) VG_MUSTCHECK;

/* Sleeps ms milliseconds unless *stop becomes non-zero (checked every 50 ms). */
void vg_sleep_ms(int64_t ms, const volatile sig_atomic_t *stop);



/* Capped exponential backoff with full jitter. Zero-initialise with base and cap set. */
struct vg_backoff {
    int64_t base_ms;
    int64_t cap_ms;
    int attempt;
};

/* The next delay: uniform in [base, min(cap, base * 2^attempt)]; counts the attempt. */
int64_t vg_backoff_next(struct vg_backoff *b);
void vg_backoff_reset(struct vg_backoff *b);

#endif
