/*
 * fuzz_path.c — libFuzzer target for sk_target_split and sk_path_normalize (src/proxy/route.c): the
 * `%2F`/`..` gate every request passes before routing.
 *
 * Input: byte 0 says whether "*" is allowed (bit 0, as for OPTIONS); the rest is the request-target.
 * The target is split as the request path does, then its path normalised. What must hold whatever the
 * bytes:
 *  - split: "*" is accepted only alone and only with asterisk_ok; origin-form keeps path + query == the
 *    target; absolute-form needs an http(s) scheme and a non-empty authority without '@', '/' or '?';
 *    anything else (authority-form, relative paths, a '#') is refused; the query is empty or starts with '?'
 *    and the path holds no '?';
 *  - normalise: accepted exactly when a reference walk accepts (no control byte, no malformed escape, no
 *    %00 or encoded '/', no ".." above the root, '.' decoded from %2E counting as '.'); an accepted output
 *    starts with '/', holds no "//", no "." or ".." segment, no %2F, no NUL, is never longer than its input,
 *    decodes to what the reference walk resolved, and normalises to itself (idempotent).
 * Target and output buffers are exact-size copies, so that ASan sees a read or write past either end.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "proxy/route.h"

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c))                                                                          \
			__builtin_trap();                                                          \
	} while (0)

static bool inside(struct sk_slice s, const char *buf, size_t len)
{
	return s.ptr >= buf && s.ptr + s.len <= buf + len;
}

static bool unreserved(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
	       c == '.' || c == '_' || c == '~';
}

static int hexv(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decodes every escape of s into out (s.len bytes); -1 on a malformed escape. */
static long decode_all(const char *s, size_t n, char *out)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] != '%') {
			out[o++] = s[i];
			continue;
		}
		if (i + 2 >= n)
			return -1;
		int hi = hexv((unsigned char)s[i + 1]), lo = hexv((unsigned char)s[i + 2]);
		if (hi < 0 || lo < 0)
			return -1;
		out[o++] = (char)(hi << 4 | lo);
		i += 2;
	}
	return (long)o;
}

/*
 * The reference: RFC 3986 remove_dot_segments over the decoded segments, written independently of
 * route.c. Fills ref (path.len + 1 bytes) with the fully decoded result; returns its length or -1 when
 * the path must be refused.
 */
static long reference(const char *p, size_t len, char *ref)
{
	if (len == 0 || p[0] != '/')
		return -1;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c < 0x21 || c == 0x7f)
			return -1;
	}
	/* stack of decoded segments, kept in ref as "/seg/seg" */
	size_t r = 0;
	bool trailing = false;
	size_t i = 1;
	char *seg = malloc(len);
	if (!seg)
		abort();
	long ret = -1;
	for (;;) {
		size_t e = i;
		while (e < len && p[e] != '/')
			e++;
		long n = decode_all(p + i, e - i, seg);
		if (n < 0)
			goto out;
		if (memchr(seg, '\0', (size_t)n) || memchr(seg, '/', (size_t)n))
			goto out;
		if (n == 0 || (n == 1 && seg[0] == '.')) {
			trailing = true;
		} else if (n == 2 && seg[0] == '.' && seg[1] == '.') {
			if (r == 0)
				goto out;
			while (ref[--r] != '/')
				;
			trailing = true;
		} else {
			ref[r++] = '/';
			memcpy(ref + r, seg, (size_t)n);
			r += (size_t)n;
			trailing = false;
		}
		if (e >= len)
			break;
		i = e + 1;
	}
	if (r == 0 || trailing)
		ref[r++] = '/';
	ret = (long)r;
out:
	free(seg);
	return ret;
}

static void check_normalized(const char *o, size_t n, size_t in_len)
{
	CHECK(n >= 1 && n <= in_len);
	CHECK(o[0] == '/');
	CHECK(!memchr(o, '\0', n));
	CHECK(!memmem(o, n, "//", 2));
	CHECK(!memmem(o, n, "%2F", 3) && !memmem(o, n, "%2f", 3));
	/* no "." or ".." segment anywhere, also not as the last one */
	size_t s = 1;
	for (size_t i = 1; i <= n; i++) {
		if (i < n && o[i] != '/')
			continue;
		size_t len = i - s;
		CHECK(!(len == 1 && o[s] == '.'));
		CHECK(!(len == 2 && o[s] == '.' && o[s + 1] == '.'));
		s = i + 1;
	}
	/* escapes that remain are well-formed, upper-case and never of an unreserved byte */
	for (size_t i = 0; i < n; i++) {
		if (o[i] != '%')
			continue;
		CHECK(i + 2 < n);
		int hi = hexv((unsigned char)o[i + 1]), lo = hexv((unsigned char)o[i + 2]);
		CHECK(hi >= 0 && lo >= 0);
		CHECK(!(o[i + 1] >= 'a' && o[i + 1] <= 'f') && !(o[i + 2] >= 'a' && o[i + 2] <= 'f'));
		CHECK(!unreserved((unsigned char)(hi << 4 | lo)));
	}
}

static void check_path(struct sk_slice path)
{
	char *in = malloc(path.len ? path.len : 1);
	char *out = malloc(path.len ? path.len : 1);
	char *ref = malloc(path.len + 1);
	char *dec = malloc(path.len ? path.len : 1);
	if (!in || !out || !ref || !dec)
		abort();
	memcpy(in, path.ptr, path.len);
	size_t n = 0;
	int r = sk_path_normalize((struct sk_slice){ .ptr = in, .len = path.len }, out, &n);
	CHECK(r == 0 || r == -1);
	long want = reference(in, path.len, ref);
	CHECK((r == 0) == (want >= 0));
	if (r == 0) {
		check_normalized(out, n, path.len);
		/* same resource as the reference resolved: equal once every escape is decoded */
		long d = decode_all(out, n, dec);
		CHECK(d == want && memcmp(dec, ref, (size_t)d) == 0);
		/* idempotent, from an exact-size copy of the output */
		char *again_in = malloc(n), *again = malloc(n);
		if (!again_in || !again)
			abort();
		memcpy(again_in, out, n);
		size_t n2 = 0;
		CHECK(sk_path_normalize((struct sk_slice){ .ptr = again_in, .len = n }, again, &n2) == 0);
		CHECK(n2 == n && memcmp(again, out, n) == 0);
		free(again_in);
		free(again);
	}
	free(in);
	free(out);
	free(ref);
	free(dec);
}

static bool has_prefix_ci(const char *s, size_t n, const char *lit)
{
	size_t l = strlen(lit);
	if (n < l)
		return false;
	for (size_t i = 0; i < l; i++) {
		char c = s[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c + 32);
		if (c != lit[i])
			return false;
	}
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	bool asterisk_ok = data[0] & 1;
	size_t tlen = size - 1;
	char *t = malloc(tlen ? tlen : 1);
	if (!t)
		abort();
	memcpy(t, data + 1, tlen);
	struct sk_slice target = { .ptr = t, .len = tlen }, authority, path, query;
	int r = sk_target_split(target, asterisk_ok, &authority, &path, &query);
	CHECK(r == 0 || r == -1);

	bool origin_form = tlen > 0 && t[0] == '/';
	bool absolute = has_prefix_ci(t, tlen, "http://") || has_prefix_ci(t, tlen, "https://");
	bool star = tlen == 1 && t[0] == '*';
	if (tlen == 0 || memchr(t, '#', tlen) || !(origin_form || absolute || star))
		CHECK(r == -1); /* also authority-form "host:443" and relative paths */
	if (star)
		CHECK(r == (asterisk_ok ? 0 : -1));
	if (r == -1)
		goto out;

	CHECK(inside(path, t, tlen) || (path.len == 1 && path.ptr[0] == '/'));
	CHECK(inside(query, t, tlen) && (query.len == 0 || query.ptr[0] == '?'));
	CHECK(query.ptr + query.len == t + tlen);
	if (star) {
		CHECK(path.len == 1 && path.ptr[0] == '*' && query.len == 0 && authority.len == 0);
		goto out;
	}
	CHECK(path.len >= 1 && path.ptr[0] == '/' && !memchr(path.ptr, '?', path.len));
	if (origin_form) {
		CHECK(authority.len == 0);
		CHECK(path.ptr == t && path.len + query.len == tlen);
	} else {
		size_t skip = has_prefix_ci(t, tlen, "https://") ? 8 : 7;
		CHECK(authority.len > 0 && authority.ptr == t + skip);
		CHECK(!memchr(authority.ptr, '@', authority.len) && !memchr(authority.ptr, '/', authority.len) &&
		      !memchr(authority.ptr, '?', authority.len));
		/* the path follows the authority, or is "/" when the target has none */
		if (path.ptr != authority.ptr + authority.len)
			CHECK(path.len == 1 && query.ptr == authority.ptr + authority.len);
	}
	check_path(path);
out:
	free(t);
	return 0;
}
