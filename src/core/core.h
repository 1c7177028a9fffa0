/*
 * core.h — the few types and helpers every module uses: slices into buffers, the error record that
 * config and CLI code fill (file:line:col + message), always-on asserts and allocation that aborts.
 * Nothing here knows about HTTP, sockets or configuration.
 */
#ifndef SK_CORE_H
#define SK_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* A view into memory owned by someone else (usually a connection's read buffer). Never NUL-terminated. */
struct sk_slice {
	const char *ptr;
	size_t len;
};

#define SK_SLICE(lit) ((struct sk_slice){ .ptr = (lit), .len = sizeof(lit) - 1 })
#define SK_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define SK_MIN(a, b) ((a) < (b) ? (a) : (b))
#define SK_MAX(a, b) ((a) > (b) ? (a) : (b))
#define SK_CONTAINER_OF(p, type, member) ((type *)((char *)(p) - offsetof(type, member)))

/* The first 12 bytes of an IPv4-mapped IPv6 address (::ffff:a.b.c.d), whose last 4 are the IPv4 one. */
static const uint8_t sk_v4mapped_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

static inline bool sk_ip6_is_v4mapped(const uint8_t a[16])
{
	return memcmp(a, sk_v4mapped_prefix, sizeof(sk_v4mapped_prefix)) == 0;
}

/* Writes a.b.c.d (what inet_ntop writes for AF_INET, without its sprintf: once per request for
 * X-Forwarded-For) and a NUL into out; returns the length. */
static inline size_t sk_ip4_text(const uint8_t a[4], char out[16])
{
	size_t o = 0;
	for (int i = 0; i < 4; i++) {
		unsigned v = a[i];
		if (v >= 100)
			out[o++] = (char)('0' + v / 100);
		if (v >= 10)
			out[o++] = (char)('0' + v / 10 % 10);
		out[o++] = (char)('0' + v % 10);
		out[o++] = i < 3 ? '.' : '\0';
	}
	return o - 1;
}

/* The value of a hex digit (either case), or -1. */
static inline int sk_hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* A DNS label that is a number in inet_aton's sense ("123", "0x7f", "0x"; the digits may still be invalid,
 * "08"): a name with one as its last label reads as an IPv4 address, never as a host name. */
static inline bool sk_label_numeric(const char *s, size_t n)
{
	if (n >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		for (size_t i = 2; i < n; i++)
			if (sk_hexval((unsigned char)s[i]) < 0)
				return false;
		return true;
	}
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/* Case-insensitive ASCII comparison of a slice with a NUL-terminated string. */
bool sk_slice_ieq(struct sk_slice s, const char *lit);
/* Inline: with a literal the length is known at compile time, and the compare is a few instructions
 * (HTTP/2's field callback makes several per field). */
static inline bool sk_slice_eq(struct sk_slice s, const char *lit)
{
	size_t n = strlen(lit);
	return n == s.len && memcmp(s.ptr, lit, n) == 0;
}

/* Copies a slice into a fresh NUL-terminated heap string (aborts on allocation failure). */
char *sk_slice_dup(struct sk_slice s);

/*
 * An error for the operator: where (file:line:col, any of them may be absent) and what.
 * Config and CLI code fill it and return -1; only the caller prints it, once.
 */
struct sk_err {
	char file[256];
	int line; /* 1-based; 0 = unknown */
	int col;  /* 1-based; 0 = unknown */
	char msg[512];
};

/* Fills err (printf-style) and returns -1 so callers can write `return sk_err_set(...)`. */
int sk_err_set(struct sk_err *err, const char *file, int line, int col, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
/* Formats "file:line:col: msg" (parts that are unknown are left out) into out. */
void sk_err_format(const struct sk_err *err, char *out, size_t cap);

/* Asserts stay on in release builds: a broken invariant is a bug worth a crash report, not silence. */
#define SK_ASSERT(cond)                                                                            \
	do {                                                                                       \
		if (__builtin_expect(!(cond), 0))                                                  \
			sk_panic(__FILE__, __LINE__, "assertion failed: " #cond);                  \
	} while (0)

_Noreturn void sk_panic(const char *file, int line, const char *msg);

/* Allocation that aborts with a message on failure (small allocations only). */
void *sk_malloc(size_t n);
void *sk_calloc(size_t n, size_t size);
void *sk_realloc(void *p, size_t n);
char *sk_strdup(const char *s);

/* Parses "250ms", "10s", "15m", "1h", "360d", or a bare number of seconds, into milliseconds. */
int sk_parse_duration_ms(const char *s, uint64_t *out_ms);

/* Parses a size in bytes: a bare number, or one followed by KiB, MiB, GiB or TiB (k, m, g, t as nginx
 * writes them mean the same: powers of 1024). Rejects anything else, and overflow. */
int sk_parse_size(const char *s, uint64_t *out);

/* Monotonic and wall-clock time in milliseconds. */
uint64_t sk_now_ms(void);
uint64_t sk_wall_ms(void);

/* Constant-time equality of n bytes: the time depends on n only, never on where a and b differ (no early
 * exit). For comparing secrets and their hashes; n itself is not hidden. */
bool sk_ct_eq(const void *a, const void *b, size_t n);

#endif
