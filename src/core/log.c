/*
 * log.c — operator log lines (see log.h). Each line is formatted into a stack buffer and written with
 * one write(2), so lines from several threads never interleave.
 */
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "core/core.h"

static enum sk_log_level min_level = SK_LOG_INFO;
static const char *const level_names[] = { "debug", "info", "warn", "error" };

void sk_log_set_level(enum sk_log_level lvl)
{
	min_level = lvl;
}

void sk_time_rfc3339(uint64_t wall_ms, char *out, size_t cap)
{
	time_t secs = (time_t)(wall_ms / 1000);
	struct tm tm;
	gmtime_r(&secs, &tm);
	snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned)(wall_ms % 1000));
}

void sk_log(enum sk_log_level lvl, const char *fmt, ...)
{
	if (lvl < min_level)
		return;
	char line[2048];
	char ts[32];
	sk_time_rfc3339(sk_wall_ms(), ts, sizeof(ts));
	int n = snprintf(line, sizeof(line), "%s %s ", ts, level_names[lvl]);
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	size_t len = (size_t)n + (m < 0 ? 0 : SK_MIN((size_t)m, sizeof(line) - (size_t)n - 2));
	line[len++] = '\n';
	ssize_t w = write(STDERR_FILENO, line, len);
	(void)w;
}
