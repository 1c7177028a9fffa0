/*
 * fuzz_session.c — what the login pages read from hostile input: the Cookie fields (session cookie and
 * CSRF cookie), the signed values themselves, and form/query decoding. The input is parsed as a request
 * head; what follows the head is used as the form body. Invariants: slices stay inside the input, a
 * cookie never verifies without the key's MAC (the fuzzer cannot forge HMAC-SHA-256), decoding never
 * writes past its buffer and its result length matches the NUL terminator's place or a kept NUL.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "access/session.h"
#include "http/h1.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t KEY[32] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
				 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32 };

static void check_slice(struct sk_slice v, const char *buf, size_t size)
{
	if (v.ptr && (v.ptr < buf || v.ptr + v.len > buf + size))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size ? size : 1);
	memcpy(buf, data, size);
	struct sk_http_field headers[100];
	struct sk_http_request req;
	struct sk_slice body = { .ptr = buf, .len = size };
	if (sk_h1_parse_request(buf, size, NULL, &req, headers, 100) == SK_H1_DONE) {
		struct sk_slice s = sk_cookie_find(&req, SK_SESSION_COOKIE);
		struct sk_slice c = sk_cookie_find(&req, SK_CSRF_COOKIE);
		check_slice(s, buf, size);
		check_slice(c, buf, size);
		char id[65];
		if (s.ptr && sk_session_cookie_check(KEY, s, id))
			abort(); /* a valid MAC out of random bytes: impossible */
		struct sk_slice all[SK_SESSION_COOKIE_TRIES];
		size_t n_all = sk_cookie_find_all(&req, SK_SESSION_COOKIE, all, SK_SESSION_COOKIE_TRIES);
		if (n_all > SK_SESSION_COOKIE_TRIES || (n_all > 0) != (s.ptr != NULL) || (n_all && all[0].ptr != s.ptr))
			abort(); /* the first of all is the one sk_cookie_find gives */
		for (size_t i = 0; i < n_all; i++)
			check_slice(all[i], buf, size);
		if (sk_session_cookie_find(KEY, &req, id))
			abort();
		body.ptr = buf + req.head_len;
		body.len = size - req.head_len;
		char form[SK_CSRF_LEN + 2];
		long n = sk_form_get(body, "csrf", form, sizeof(form));
		if (n >= 0) {
			struct sk_slice f = { .ptr = form, .len = (size_t)n };
			if (sk_csrf_check(KEY, f, c, 1795466826096ULL))
				abort();
		}
	}
	static const char *const names[] = { "username", "password", "code", "rd", "csrf" };
	for (size_t i = 0; i < 5; i++) {
		char out[64];
		long n = sk_form_get(body, names[i], out, sizeof(out));
		if (n >= (long)sizeof(out) || (n >= 0 && out[n] != '\0'))
			abort();
	}
	free(buf);
	return 0;
}
