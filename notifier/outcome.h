/*
 * outcome.h - what an attempt's answer means, and when to try again.
 *
 * The one place that decides transient versus permanent for deliveries
 * (DESIGN.md section 11): a 2xx is delivered; 408, 429, 5xx and network
 * errors are retried with exponential backoff and full jitter (a
 * Retry-After may ask for longer) until notifier.max_attempts or
 * notifier.max_age_s; any other answer is dead at once. For SMTP, a 2xx
 * reply is delivered, 4xx and network errors retried, 5xx dead.
 */
#ifndef VG_OUTCOME_H
#define VG_OUTCOME_H

#include <stdint.h>

enum vg_outcome { VG_DELIVERED, VG_RETRY, VG_DEAD };

/* The name used in metrics and logs: "delivered", "retry", "dead". */
const char *vg_outcome_name(enum vg_outcome o);

/* answered: the receiver sent a status (else a network error or timeout). */
enum vg_outcome vg_outcome_http(int answered, long status);

/* answered: the server replied with reply (an SMTP code) to the command that ended it. */
enum vg_outcome vg_outcome_smtp(int answered, long reply);

/*
 * The wait before attempt attempts+1: uniform in [0, min(cap_ms, base_ms *
 * 2^(attempts-1))] from rnd (full jitter), or retry_after_ms if that is
 * longer (-1: none).
 */
int64_t vg_outcome_delay_ms(int attempts, int64_t base_ms, int64_t cap_ms, int64_t retry_after_ms,
                            uint64_t rnd);

/* A Retry-After value, delta-seconds or an HTTP-date, as milliseconds from
 * now_s; -1 if absent or unreadable. */
int64_t vg_outcome_retry_after_ms(const char *value, int64_t now_s);

/*
 * A retry becomes dead when the attempts are spent or the next one would
 * come after created + max_age_s. Other outcomes pass through.
 */
enum vg_outcome vg_outcome_final(enum vg_outcome o, int attempts, int64_t max_attempts,
                                 int64_t created_us, int64_t max_age_s, int64_t now_us,
                                 int64_t delay_ms);

#endif
