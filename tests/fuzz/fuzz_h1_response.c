/*
 * fuzz_h1_response.c — libFuzzer target for sk_h1_parse_response (src/http/h1_parse.c).
 *
 * Parses the input as the answer to a GET and to a HEAD, under the default limits and tiny ones, and
 * checks what must hold whatever the bytes: a status in 100..599, slices inside the head, framing that
 * follows the status and the method (HEAD, 1xx, 204, 304 never have a body), a head that parses the same
 * alone and is INCOMPLETE one byte short, and prefixes that never disagree with the whole input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/h1.h"

#define MAXH 128

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c))                                                                          \
			__builtin_trap();                                                          \
	} while (0)

static bool inside(struct sk_slice s, const char *buf, size_t len)
{
	if (s.len == 0)
		return true;
	return s.ptr >= buf && s.ptr + s.len <= buf + len;
}

static enum sk_h1_result parse_copy(const uint8_t *data, size_t n, const struct sk_h1_limits *lim, bool head,
				    struct sk_h1_response *resp, struct sk_http_field *h)
{
	char *b = malloc(n ? n : 1);
	if (!b)
		abort();
	memcpy(b, data, n);
	enum sk_h1_result r = sk_h1_parse_response(b, n, lim, head, resp, h, MAXH);
	free(b);
	return r;
}

static void check(const uint8_t *data, size_t size, const struct sk_h1_limits *lim, bool head)
{
	struct sk_http_field h[MAXH];
	struct sk_h1_response resp;
	const char *buf = (const char *)data;
	enum sk_h1_result r = sk_h1_parse_response(buf, size, lim, head, &resp, h, MAXH);
	CHECK(r == SK_H1_DONE || r == SK_H1_INCOMPLETE || r == SK_H1_BAD || r == SK_H1_HEAD_TOO_LARGE);
	if (r == SK_H1_INCOMPLETE)
		CHECK(size < lim->header_block);
	if (r == SK_H1_DONE) {
		CHECK(resp.head_len >= 16 && resp.head_len <= size && resp.head_len <= lim->header_block);
		CHECK(resp.status >= 100 && resp.status <= 599);
		CHECK(resp.minor_version == 0 || resp.minor_version == 1);
		CHECK(resp.n_headers <= lim->header_fields);
		CHECK(inside(resp.reason, buf, resp.head_len));
		for (unsigned i = 0; i < resp.n_headers; i++) {
			CHECK(h[i].name.len > 0);
			CHECK(inside(h[i].name, buf, resp.head_len) && inside(h[i].value, buf, resp.head_len));
		}
		int s = resp.status;
		if (head || s < 200 || s == 204 || s == 304)
			CHECK(resp.body == SK_BODY_NONE);
		else
			CHECK(resp.body != SK_BODY_NONE);
		CHECK(resp.content_length <= (UINT64_C(1) << 62));

		struct sk_h1_response again;
		CHECK(parse_copy(data, resp.head_len, lim, head, &again, h) == SK_H1_DONE);
		CHECK(again.head_len == resp.head_len && again.status == resp.status &&
		      again.body == resp.body && again.content_length == resp.content_length &&
		      again.flags == resp.flags && again.n_headers == resp.n_headers);
		CHECK(parse_copy(data, resp.head_len - 1, lim, head, &again, h) == SK_H1_INCOMPLETE);
	}
	if (size > 0) {
		struct sk_h1_response p;
		size_t cuts[] = { size - 1, size / 2 };
		for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
			enum sk_h1_result pr = parse_copy(data, cuts[i], lim, head, &p, h);
			CHECK(pr == SK_H1_INCOMPLETE || pr == r);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct sk_h1_limits lims[] = {
		{ .request_line = 8192, .header_block = 16384, .header_fields = 100 },
		{ .request_line = 30, .header_block = 160, .header_fields = 3 },
	};
	for (size_t i = 0; i < sizeof(lims) / sizeof(lims[0]); i++) {
		check(data, size, &lims[i], false);
		check(data, size, &lims[i], true);
	}
	return 0;
}
