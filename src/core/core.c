/*
 * core.c — slices, error records, panics and aborting allocation (see core.h).
 */
#include "core/core.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

bool sk_slice_ieq(struct sk_slice s, const char *lit)
{
	size_t n = strlen(lit);
	if (n != s.len)
		return false;
	for (size_t i = 0; i < n; i++)
		if (tolower((unsigned char)s.ptr[i]) != tolower((unsigned char)lit[i]))
			return false;
	return true;
}

char *sk_slice_dup(struct sk_slice s)
{
	char *p = sk_malloc(s.len + 1);
	if (s.len)
		memcpy(p, s.ptr, s.len);
	p[s.len] = '\0';
	return p;
}

int sk_err_set(struct sk_err *err, const char *file, int line, int col, const char *fmt, ...)
{
	if (!err)
		return -1;
	snprintf(err->file, sizeof(err->file), "%s", file ? file : "");
	err->line = line;
	err->col = col;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return -1;
}

void sk_err_format(const struct sk_err *err, char *out, size_t cap)
{
	if (err->file[0] && err->line > 0 && err->col > 0)
		snprintf(out, cap, "%s:%d:%d: %s", err->file, err->line, err->col, err->msg);
	else if (err->file[0] && err->line > 0)
		snprintf(out, cap, "%s:%d: %s", err->file, err->line, err->msg);
	else if (err->file[0])
		snprintf(out, cap, "%s: %s", err->file, err->msg);
	else
		snprintf(out, cap, "%s", err->msg);
}

_Noreturn void sk_panic(const char *file, int line, const char *msg)
{
	fprintf(stderr, "sekisho: %s:%d: %s\n", file, line, msg);
	abort();
}

void *sk_malloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		sk_panic(__FILE__, __LINE__, "out of memory");
	return p;
}

void *sk_calloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		sk_panic(__FILE__, __LINE__, "out of memory");
	return p;
}

void *sk_realloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		sk_panic(__FILE__, __LINE__, "out of memory");
	return q;
}

char *sk_strdup(const char *s)
{
	return sk_slice_dup((struct sk_slice){ .ptr = s, .len = strlen(s) });
}

int sk_parse_duration_ms(const char *s, uint64_t *out_ms)
{
	if (!s || !*s)
		return -1;
	uint64_t v = 0;
	const char *p = s;
	if (!isdigit((unsigned char)*p))
		return -1;
	while (isdigit((unsigned char)*p)) {
		if (v > (UINT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*p++ - '0');
	}
	uint64_t mul;
	if (*p == '\0' || strcmp(p, "s") == 0)
		mul = 1000;
	else if (strcmp(p, "ms") == 0)
		mul = 1;
	else if (strcmp(p, "m") == 0)
		mul = 60 * 1000;
	else if (strcmp(p, "h") == 0)
		mul = 3600 * 1000;
	else if (strcmp(p, "d") == 0)
		mul = 86400 * 1000;
	else
		return -1;
	if (v > UINT64_MAX / mul)
		return -1;
	*out_ms = v * mul;
	return 0;
}

int sk_parse_size(const char *s, uint64_t *out)
{
	static const struct {
		const char *suffix;
		unsigned shift;
	} units[] = {
		{ "", 0 },	{ "B", 0 },	 { "KiB", 10 }, { "k", 10 }, { "K", 10 }, { "MiB", 20 }, { "m", 20 },
		{ "M", 20 },	{ "GiB", 30 }, { "g", 30 },	{ "G", 30 },  { "TiB", 40 }, { "t", 40 }, { "T", 40 },
	};
	if (!s || !isdigit((unsigned char)*s))
		return -1;
	uint64_t v = 0;
	const char *p = s;
	while (isdigit((unsigned char)*p)) {
		if (v > (UINT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*p++ - '0');
	}
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(p, units[i].suffix) != 0)
			continue;
		if (v > (UINT64_MAX >> units[i].shift))
			return -1;
		*out = v << units[i].shift;
		return 0;
	}
	return -1;
}

uint64_t sk_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t sk_wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- reasons (tbl/reasons.h) ---- */
#include "core/reason.h"

static const struct {
	const char *label;
	int status;
} reason_rows[] = {
#define SK_REASON(sym, l, s) [SK_R_##sym] = { .label = l, .status = s },
#include "core/tbl/reasons.h"
#undef SK_REASON
};

const char *sk_reason_label(enum sk_reason r)
{
	return reason_rows[r].label;
}

int sk_reason_status(enum sk_reason r)
{
	return reason_rows[r].status;
}

/* ---- constant-time comparison ---- */

bool sk_ct_eq(const void *a, const void *b, size_t n)
{
	/* volatile keeps the compiler from turning the loop into memcmp or stopping at the first difference. */
	const volatile unsigned char *x = a, *y = b;
	unsigned char d = 0;
	for (size_t i = 0; i < n; i++)
		d |= (unsigned char)(x[i] ^ y[i]);
	return d == 0;
}
