/*
 * fuzz_h1_request.c — libFuzzer target for sk_h1_parse_request (src/http/h1_parse.c).
 *
 * Parses the input under the default limits and under tiny ones, and checks what must hold whatever the
 * bytes: a result from the enum; on DONE, every slice inside the head, head_len within the input and the
 * header block, a field count within the limits, framing consistent with content_length; any prefix of
 * the input parses as INCOMPLETE or as the whole input does; a DONE head cut by one byte is INCOMPLETE
 * and the head alone parses the same. Prefixes are parsed from exact-size copies so that ASan sees any
 * read past the end.
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

static enum sk_h1_result parse_copy(const uint8_t *data, size_t n, const struct sk_h1_limits *lim,
				    struct sk_http_request *req, struct sk_http_field *h)
{
	char *b = malloc(n ? n : 1);
	if (!b)
		abort();
	memcpy(b, data, n);
	enum sk_h1_result r = sk_h1_parse_request(b, n, lim, req, h, MAXH);
	free(b);
	return r;
}

static void check(const uint8_t *data, size_t size, const struct sk_h1_limits *lim)
{
	struct sk_http_field h[MAXH];
	struct sk_http_request req;
	const char *buf = (const char *)data;
	enum sk_h1_result r = sk_h1_parse_request(buf, size, lim, &req, h, MAXH);
	CHECK(r >= SK_H1_DONE && r <= SK_H1_NOT_IMPLEMENTED);
	if (r == SK_H1_INCOMPLETE)
		CHECK(size < lim->header_block);
	if (r == SK_H1_DONE) {
		CHECK(req.head_len >= 16 && req.head_len <= size && req.head_len <= lim->header_block);
		CHECK(req.n_headers <= lim->header_fields && req.n_headers <= MAXH);
		CHECK(req.headers == h);
		CHECK(req.version == SK_HTTP_10 || req.version == SK_HTTP_11);
		CHECK(req.method.len > 0 && req.target.len > 0);
		CHECK(req.method.len + req.target.len + 10 <= lim->request_line);
		CHECK(inside(req.method, buf, req.head_len) && inside(req.target, buf, req.head_len));
		CHECK(inside(req.host, buf, req.head_len));
		CHECK(req.version == SK_HTTP_10 || (req.flags & SK_HF_HAS_HOST));
		for (unsigned i = 0; i < req.n_headers; i++) {
			CHECK(h[i].name.len > 0);
			CHECK(inside(h[i].name, buf, req.head_len) && inside(h[i].value, buf, req.head_len));
		}
		CHECK(req.body == SK_BODY_NONE || req.body == SK_BODY_LENGTH || req.body == SK_BODY_CHUNKED);
		CHECK(req.body == SK_BODY_LENGTH || req.content_length == 0);
		CHECK(req.content_length <= (UINT64_C(1) << 62));
		CHECK(memcmp(buf + req.head_len - 4, "\r\n\r\n", 4) == 0);

		/* the head alone parses the same; one byte short is incomplete */
		struct sk_http_request again;
		CHECK(parse_copy(data, req.head_len, lim, &again, h) == SK_H1_DONE);
		CHECK(again.head_len == req.head_len && again.n_headers == req.n_headers &&
		      again.body == req.body && again.content_length == req.content_length &&
		      again.flags == req.flags);
		CHECK(parse_copy(data, req.head_len - 1, lim, &again, h) == SK_H1_INCOMPLETE);
	}
	/* a prefix knows less, never something else */
	if (size > 0) {
		struct sk_http_request p;
		size_t cuts[] = { size - 1, size / 2, size / 3 };
		for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
			enum sk_h1_result pr = parse_copy(data, cuts[i], lim, &p, h);
			CHECK(pr == SK_H1_INCOMPLETE || pr == r);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct sk_h1_limits lims[] = {
		{ .request_line = 8192, .header_block = 16384, .header_fields = 100 },
		{ .request_line = 40, .header_block = 200, .header_fields = 4 },
	};
	for (size_t i = 0; i < sizeof(lims) / sizeof(lims[0]); i++)
		check(data, size, &lims[i]);
	return 0;
}
