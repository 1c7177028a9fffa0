/*
 * text.h — the small pieces of text handling every part of the HTTP code uses: ASCII case folding against
 * lower-case literals, and a bounded writer for heads ("name: value\r\n", decimal numbers). Static inline:
 * they sit on the per-request path (the parser, the header policy, the head writers). No allocation.
 */
#ifndef SK_HTTP_TEXT_H
#define SK_HTTP_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/core.h"

static inline unsigned char sk_ascii_lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + ('a' - 'A')) : c;
}

/* Case-insensitive comparison of n bytes of p with lit, which must be lower case. */
static inline bool sk_ascii_ieq(const char *p, const char *lit, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (sk_ascii_lower((unsigned char)p[i]) != (unsigned char)lit[i])
			return false;
	return true;
}

static inline bool sk_slice_ieq_n(struct sk_slice s, const char *lit, size_t n)
{
	return s.len == n && sk_ascii_ieq(s.ptr, lit, n);
}

/* s equals the lower-case string literal lit, ignoring ASCII case. */
#define SK_SLICE_IEQ(s, lit) sk_slice_ieq_n((s), (lit), sizeof(lit) - 1)

/*
 * The next item of a comma-separated list: *p walks [*p, end); the item is returned with its optional
 * whitespace (SP, HTAB) trimmed, possibly empty. False once the list is used up.
 */
static inline bool sk_list_next(const char **p, const char *end, struct sk_slice *item)
{
	if (*p >= end)
		return false;
	const char *s = *p;
	const char *comma = memchr(s, ',', (size_t)(end - s));
	const char *e = comma ? comma : end;
	while (s < e && (*s == ' ' || *s == '\t'))
		s++;
	const char *te = e;
	while (te > s && (te[-1] == ' ' || te[-1] == '\t'))
		te--;
	*item = (struct sk_slice){ .ptr = s, .len = (size_t)(te - s) };
	*p = comma ? comma + 1 : end;
	return true;
}

/* A head being written into [p, end): each call writes all of its bytes or none and says which. */
struct sk_wbuf {
	char *p, *end;
};

static inline bool sk_wbuf_put(struct sk_wbuf *w, const void *s, size_t n)
{
	if ((size_t)(w->end - w->p) < n)
		return false;
	if (n)
		memcpy(w->p, s, n);
	w->p += n;
	return true;
}

#define SK_WBUF_LIT(w, lit) sk_wbuf_put((w), (lit), sizeof(lit) - 1)

/* "name: value\r\n" with one bounds check. An empty value may come as a slice with a NULL ptr (an
 * HTTP/1.0 request without Host): it is never passed to memcpy. */
static inline bool sk_wbuf_field(struct sk_wbuf *w, const char *name, size_t nlen, const char *value, size_t vlen)
{
	if ((size_t)(w->end - w->p) < nlen + vlen + 4)
		return false;
	memcpy(w->p, name, nlen);
	w->p += nlen;
	*w->p++ = ':';
	*w->p++ = ' ';
	if (vlen)
		memcpy(w->p, value, vlen);
	w->p += vlen;
	*w->p++ = '\r';
	*w->p++ = '\n';
	return true;
}

static inline bool sk_wbuf_slice_field(struct sk_wbuf *w, struct sk_slice name, struct sk_slice value)
{
	return sk_wbuf_field(w, name.ptr, name.len, value.ptr, value.len);
}

/* Decimal digits of v. */
static inline bool sk_wbuf_u64(struct sk_wbuf *w, uint64_t v)
{
	char buf[20];
	char *q = buf + sizeof(buf);
	do {
		*--q = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	return sk_wbuf_put(w, q, (size_t)(buf + sizeof(buf) - q));
}

#endif
