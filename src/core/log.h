/*
 * log.h — operator log lines on stderr: "2026-11-23T18:41:00.123Z level message".
 * Safe from any thread (one write(2) per line). Never pass secrets here.
 */
#ifndef SK_LOG_H
#define SK_LOG_H

#include <stddef.h>
#include <stdint.h>

enum sk_log_level { SK_LOG_DEBUG = 0, SK_LOG_INFO, SK_LOG_WARN, SK_LOG_ERROR };

void sk_log_set_level(enum sk_log_level lvl);
void sk_log(enum sk_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define sk_debug(...) sk_log(SK_LOG_DEBUG, __VA_ARGS__)
#define sk_info(...) sk_log(SK_LOG_INFO, __VA_ARGS__)
#define sk_warn(...) sk_log(SK_LOG_WARN, __VA_ARGS__)
#define sk_error(...) sk_log(SK_LOG_ERROR, __VA_ARGS__)

/* Formats wall-clock milliseconds as RFC 3339 UTC with milliseconds into out (at least 25 bytes). */
void sk_time_rfc3339(uint64_t wall_ms, char *out, size_t cap);

#endif
