/*
 * h1_test.c — unit tests of the strict HTTP/1.1 parser, the chunked decoder, hop-by-hop rules and
 * HTTP dates (src/http/h1.h, DESIGN §2). One test per rule: each rejection, each limit at its exact
 * boundary, incomplete input at every split point, framing of responses.
 *
 * Every input is copied into a heap buffer of exactly its size, so that AddressSanitizer reports any
 * read past the end of what the parser was given.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http/h1.h"

#define MAXH 128

static struct sk_http_request R;
static struct sk_h1_response S;
static struct sk_http_field H[MAXH];
static char *heap; /* the last input, kept so that the parsed slices stay valid */

static const char *dup_input(const char *s, size_t n)
{
	free(heap);
	heap = malloc(n ? n : 1);
	assert_non_null(heap);
	memcpy(heap, s, n);
	return heap;
}

static enum sk_h1_result parse_req_lim(const char *s, size_t n, const struct sk_h1_limits *lim,
				       unsigned max_headers)
{
	const char *b = dup_input(s, n);
	return sk_h1_parse_request(b, n, lim, &R, H, max_headers);
}

static enum sk_h1_result parse_resp_lim(const char *s, size_t n, bool head, const struct sk_h1_limits *lim)
{
	const char *b = dup_input(s, n);
	return sk_h1_parse_response(b, n, lim, head, &S, H, MAXH);
}

static const struct sk_h1_limits DEF = { .request_line = 8192, .header_block = 16384, .header_fields = 100 };

/* Literal inputs may hold NUL bytes: their length comes from sizeof. */
#define REQ(lit) parse_req_lim((lit), sizeof(lit) - 1, &DEF, MAXH)
#define RESP(lit) parse_resp_lim((lit), sizeof(lit) - 1, false, &DEF)
#define RESP_HEAD(lit) parse_resp_lim((lit), sizeof(lit) - 1, true, &DEF)

static void assert_slice(struct sk_slice s, const char *want)
{
	size_t n = strlen(want);
	if (s.len != n || memcmp(s.ptr, want, n) != 0)
		fail_msg("slice \"%.*s\" != \"%s\"", (int)s.len, s.ptr, want);
}

/* ---- requests: what is accepted ------------------------------------------------------------------ */

static void req_simple_get(void **state)
{
	static const char in[] = "GET /index.html?q=1 HTTP/1.1\r\nHost: example.com\r\n"
				 "User-Agent: curl/8.0\r\nAccept: */*\r\n\r\n";
	assert_int_equal(REQ(in), SK_H1_DONE);
	assert_slice(R.method, "GET");
	assert_slice(R.target, "/index.html?q=1");
	assert_int_equal(R.version, SK_HTTP_11);
	assert_slice(R.host, "example.com");
	assert_int_equal(R.n_headers, 3);
	assert_ptr_equal(R.headers, H);
	assert_slice(H[0].name, "Host");
	assert_slice(H[1].name, "User-Agent");
	assert_slice(H[1].value, "curl/8.0");
	assert_slice(H[2].value, "*/*");
	assert_int_equal(R.body, SK_BODY_NONE);
	assert_int_equal(R.head_len, sizeof(in) - 1);
	assert_true(R.flags & SK_HF_HAS_HOST);
}

static void req_target_forms(void **state)
{
	assert_int_equal(REQ("GET http://a.example/x?y HTTP/1.1\r\nHost: a.example\r\n\r\n"), SK_H1_DONE);
	assert_slice(R.target, "http://a.example/x?y");
	assert_int_equal(REQ("CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n"), SK_H1_DONE);
	assert_slice(R.method, "CONNECT");
	assert_slice(R.target, "a.example:443");
	assert_int_equal(REQ("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"), SK_H1_DONE);
	assert_slice(R.target, "*");
	/* raw UTF-8 is left to the path normaliser */
	assert_int_equal(REQ("GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n"), SK_H1_DONE);
	/* a long target goes through the word-at-a-time scanner */
	assert_int_equal(REQ("GET /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/b?c=d&e=f HTTP/1.1\r\nHost: a\r\n\r\n"),
			 SK_H1_DONE);
	assert_slice(R.target, "/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/b?c=d&e=f");
}

static void req_methods_are_tokens(void **state)
{
	assert_int_equal(REQ("M-SEARCH * HTTP/1.1\r\nHost: a\r\n\r\n"), SK_H1_DONE);
	assert_int_equal(REQ("PROPFIND / HTTP/1.1\r\nHost: a\r\n\r\n"), SK_H1_DONE);
	assert_int_equal(REQ("x!#$%&'*+.^_`|~9 / HTTP/1.1\r\nHost: a\r\n\r\n"), SK_H1_DONE);
}

static void req_http10_without_host(void **state)
{
	assert_int_equal(REQ("GET / HTTP/1.0\r\n\r\n"), SK_H1_DONE);
	assert_int_equal(R.version, SK_HTTP_10);
	assert_int_equal(R.n_headers, 0);
	assert_int_equal(R.host.len, 0);
	assert_false(R.flags & SK_HF_HAS_HOST);
}

static void req_value_ows_trimmed(void **state)
{
	assert_int_equal(REQ("GET / HTTP/1.1\r\nHost:a\r\nX: \t v a l \t \r\nY:\r\nZ:   \r\n\r\n"), SK_H1_DONE);
	assert_slice(H[0].value, "a");
	assert_slice(H[1].value, "v a l");
	assert_slice(H[2].value, "");
	assert_slice(H[3].value, "");
}

static void req_value_htab_and_obs_text(void **state)
{
	assert_int_equal(REQ("GET / HTTP/1.1\r\nHost: a\r\nX: a\tb\xff\x80 c\r\n\r\n"), SK_H1_DONE);
	assert_slice(H[1].value, "a\tb\xff\x80 c");
}

static void req_long_values(void **state)
{
	char in[4096];
	char big[2000];
	memset(big, 'v', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	int n = snprintf(in, sizeof(in), "GET / HTTP/1.1\r\nHost: a\r\nCookie: %s\r\n\r\n", big);
	assert_int_equal(parse_req_lim(in, (size_t)n, &DEF, MAXH), SK_H1_DONE);
	assert_int_equal(H[1].value.len, sizeof(big) - 1);
	/* a control byte deep inside a long value is still found */
	big[1500] = '\x01';
	n = snprintf(in, sizeof(in), "GET / HTTP/1.1\r\nHost: a\r\nCookie: %s\r\n\r\n", big);
	assert_int_equal(parse_req_lim(in, (size_t)n, &DEF, MAXH), SK_H1_BAD);
}

static void req_leading_crlf_skipped(void **state)
{
	static const char in[] = "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
	assert_int_equal(REQ(in), SK_H1_DONE);
	assert_slice(R.method, "GET");
	assert_int_equal(R.head_len, sizeof(in) - 1);
}

static void req_leading_bare_lf_bad(void **state)
{
	assert_int_equal(REQ("\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), SK_H1_BAD);
	assert_int_equal(REQ("\r\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), SK_H1_BAD);
}

static void req_content_length(void **state)
{
	assert_int_equal(REQ("POST /f HTTP/1.1\r\nHost: a\r\nContent-Length: 42\r\n\r\n"), SK_H1_DONE);
	assert_int_equal(R.body, SK_BODY_LENGTH);
	assert_int_equal(R.content_length, 42);
	assert_int_equal(REQ("POST /f HTTP/1.1\r\nHost: a\r\ncontent-length:0\r\n\r\n"), SK_H1_DONE);
	assert_int_equal(R.body, SK_BODY_LENGTH);
	assert_int_equal(R.content_length, 0);
	assert_int_equal(REQ("POST /f HTTP/1.1\r\nHost: a\r\nContent-Length: 007\r\n\r\n"), SK_H1_DONE);
	assert_int_equal(R.content_length, 7);
}

static void req_content_length_max(void **state)
{
	/* 2^62 is the largest accepted value; one more is BAD, and so is a 20-digit overflow */
	assert_int_equal(REQ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4611686018427387904\r\n\r\n"),
			 SK_H1_DONE);
	assert_int_equal(R.content_length, UINT64_C(1) << 62);
	assert_int_equal(REQ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4611686018427387905\r\n\r\n"),
			 SK_H1_BAD);
	assert_int_equal(REQ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551616\r\n\r\n"),
			 SK_H1_BAD);
	assert_int_equal(REQ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999999\r\n\r\n"),
			 SK_H1_BAD);
}

static void req_chunked(void **state)
{
	assert_int_equal(REQ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"), SK_H1_DONE);
	assert_int_equal(R.body, SK_BODY_CHUNKED);
	assert_int_equal(REQ("POST / HTTP/1.1\r\nHost: a\r\ntransfer-encoding:  CHunKeD \t\r\n\r\n"), SK_H1_DONE);
	assert_int_equal(R.body, SK_BODY_CHUNKED);
}

static void req_connection_flags(void **state)
{
	assert_int_equal(REQ("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"), SK_H1_DONE);
	assert_int_equal(R.flags & (SK_HF_CONN_CLOSE | SK_HF_CONN_KEEPALIVE | SK_HF_CONN_UPGRADE),
			 SK_HF_CONN_CLOSE);
	assert_int_equal(REQ("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"), SK_H1_DONE);
	assert_int_equal(R.flags & (SK_HF_CONN_CLOSE | SK_HF_CONN_KEEPALIVE), SK_HF_CONN_KEEPALIVE);
	assert_int_equal(REQ("GET / HTTP/1.1\r\nHost: a\r\nConnection: x-foo ,UPGRADE,\t,keep-alive\r\n"
			     "Connection: close\r\nUpgrade: websocket\r\n\r\n"),
			 SK_H1_DONE);
	assert_true(R.flags & SK_HF_CONN_UPGRADE);
	assert_true(R.flags & SK_HF_CONN_KEEPALIVE);
	assert_true(R.flags & SK_HF_CONN_CLOSE);
	assert_true(R.flags & SK_HF_HAS_UPGRADE);
	/* a token that merely contains "close" is not close */
	assert_int_equal(REQ("GET / HTTP/1.1\r\nHost: a\r\nConnection: closed, xclose\r\n\r\n"), SK_H1_DONE);
	assert_false(R.flags & SK_HF_CONN_CLOSE);
	assert_false(R.flags & SK_HF_HAS_UPGRADE);
}

static void req_expect_continue(void **state)
{
	assert_int_equal(REQ("PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n"),
			 SK_H1_DONE);
	assert_true(R.flags & SK_HF_EXPECT_CONTINUE);
	assert_int_equal(REQ("PUT / HTTP/1.1\r\nHost: a\r\nExpect: 101-continue\r\n\r\n"), SK_H1_DONE);
	assert_false(R.flags & SK_HF_EXPECT_CONTINUE);
}

static void req_pipelined(void **state)
{
	static const char in[] = "GET /1 HTTP/1.1\r\nHost: a\r\n\r\n"
				 "POST /2 HTTP/1.1\r\nHost: b\r\nContent-Length: 3\r\n\r\nabc"
				 "GET /3 HTTP/1.1\r\nHost: c\r\n\r\n";
	const char *b = dup_input(in, sizeof(in) - 1);
	size_t off = 0, n = sizeof(in) - 1;
	assert_int_equal(sk_h1_parse_request(b, n, &DEF, &R, H, MAXH), SK_H1_DONE);
	assert_int_equal(R.head_len, 28);
	assert_slice(R.target, "/1");
	off += R.head_len;
	assert_int_equal(sk_h1_parse_request(b + off, n - off, &DEF, &R, H, MAXH), SK_H1_DONE);
	assert_slice(R.target, "/2");
	assert_slice(R.host, "b");
	assert_int_equal(R.content_length, 3);
	off += R.head_len + R.content_length;
	assert_int_equal(sk_h1_parse_request(b + off, n - off, &DEF, &R, H, MAXH), SK_H1_DONE);
	assert_slice(R.target, "/3");
	assert_int_equal(off + R.head_len, n);
}

static const char *const split_requests[] = {
	"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
	("\r\nPOST /upload?x=1 HTTP/1.1\r\nHost: example.com\r\nContent-Length: 10\r\n"
	 "Connection: keep-alive\r\nX-Long: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\t b\r\n\r\n"),
	"PUT /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\nE:\r\n\r\n",
	"GET / HTTP/1.0\r\n\r\n",
};

static void req_incomplete_every_split(void **state)
{
	for (size_t k = 0; k < SK_ARRAY_LEN(split_requests); k++) {
		const char *in = split_requests[k];
		size_t n = strlen(in);
		for (size_t i = 0; i < n; i++) {
			if (parse_req_lim(in, i, &DEF, MAXH) != SK_H1_INCOMPLETE)
				fail_msg("request %zu, prefix of %zu bytes: not INCOMPLETE", k, i);
		}
		assert_int_equal(parse_req_lim(in, n, &DEF, MAXH), SK_H1_DONE);
		assert_int_equal(R.head_len, n);
	}
}

static void req_bad_found_while_incomplete(void **state)
{
	/* nothing after the bad byte is needed to know the head is wrong */
	assert_int_equal(REQ("GET / HTTP/1.1\r\nHost: a\r\nX: a\0"), SK_H1_BAD);
	assert_int_equal(REQ("GET / HTTP/1.1\r\nHost: a\r\n  folded"), SK_H1_BAD);
	assert_int_equal(REQ("GE(T"), SK_H1_BAD);
	assert_int_equal(REQ("GET / HTTP/2"), SK_H1_BAD);
	assert_int_equal(REQ("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n"),
			 SK_H1_BAD);
	assert_int_equal(REQ("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n"), SK_H1_BAD);
}

/* ---- requests: rejections, one rule per test ------------------------------------------------------ */

static void reject_cl_and_te(void **state)
{
	assert_int_equal(REQ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"),
			 SK_H1_BAD);
}

static void reject_te_and_cl(void **state)
{
	assert_int_equal(REQ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"),
			 SK_H1_BAD);
}

static void reject_two_cl_fields_equal(void **state)
{
	assert_int_equal(REQ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n"),
			 SK_H1_BAD);
}

static void reject_two_cl_fields_different(void **state)
{
	assert_int_equal(REQ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\ncontent-length: 6\r\n\r\n"),
			 SK_H1_BAD);
}

static void reject_cl_list(void **state)
{
	assert_int_equal(REQ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n"), SK_H1_BAD);
	assert_int_equal(REQ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5,5\r\n\r\n"), SK_H1_BAD);
}

static void reject_cl_empty(void **state)
{
	assert_int_equal(REQ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n"), SK_H1_BAD);
	assert_int_equal(REQ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length:   \r\n\r\n"), SK_H1_BAD);
}

static void reject_cl_signed(void **state)
{
	assert_int_equal(REQ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n"), SK_H1_BAD);
	assert_int_equal(REQ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n"), SK_H1_BAD);
}

static void reject_cl_non_digit(void **state)
{
	assert_int_equal(REQ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5a\r\n\r\n"), SK_H1_BAD);
	assert_int_equal(REQ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n"), SK_H1_BAD);
	assert_int_equal(REQ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 2\r\n\r\n"), SK_H1_BAD);
	assert_int_equal(REQ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1.0\r\n\r\n"), SK_H1_BAD);
}

/* RFC 9112 §6.1: a coding we do not implement is a 501, not a 400. */
static void reject_te_not_chunked(void **state)
{
	assert_int_equal(REQ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n"), SK_H1_NOT_IMPLEMENTED);
	assert_int_equal(REQ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n"),
			 SK_H1_NOT_IMPLEMENTED);
	assert_int_equal(REQ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n"),
			 SK_H1_NOT_IMPLEMENTED);
	/* Unreadable lists stay 400: a parameter, a quoted string. */
	assert_int_equal(REQ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;q=1\r\n\r\n"), SK_H1_BAD);
	assert_int_equal(REQ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \"chunked\"\r\n\r\n"), SK_H1_BAD);
}

static void reject_te_list(void **state)
{
	assert_int_equal(REQ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
			 SK_H1_NOT_IMPLEMENTED);
	assert_int_equal(REQ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip,chunked\r\n\r\n"),
			 SK_H1_NOT_IMPLEMENTED);
	/* chunked repeated, or not last: the length is unknown (RFC 9112 §6.3), 400 */
	assert_int_equal(REQ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n"),
			 SK_H1_BAD);
	assert_int_equal(REQ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"),
			 SK_H1_BAD);
	assert_int_equal(REQ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n"),
			 SK_H1_BAD);
	assert_int_equal(REQ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked,\r\n\r\n"), SK_H1_BAD);
	assert_int_equal(REQ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ,chunked\r\n\r\n"), SK_H1_BAD);
	/* a lone chunked is still fine, whatever its case */
	assert_int_equal(REQ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n"), SK_H1_DONE);
}

/* The 501 is decided when the field's line is complete, like the other field rules. */
static void reject_te_not_implemented_while_incomplete(void **state)
{
	assert_int_equal(REQ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\nX-A: b"),
			 SK_H1_NOT_IMPLEMENTED);
	assert_int_equal(REQ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked"), SK_H1_INCOMPLETE);
}

/* Names that CGI/WSGI origins would read as a framing field (DESIGN §2). */
static void reject_framing_lookalikes(void **state)
{
	static const char *const names[] = { "Transfer_Encoding", "transfer_encoding", "Content--Length",
					      "content_length", "Content-_Length", "CONTENT__LENGTH",
					      "Transfer-_-Encoding", "Content_Length" };
	char buf[256];
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		int n = snprintf(buf, sizeof(buf), "POST / HTTP/1.1\r\nHost: a\r\n%s: 5\r\n\r\n", names[i]);
		struct sk_http_request req;
		struct sk_http_field h[16];
		assert_int_equal(sk_h1_parse_request(buf, (size_t)n, NULL, &req, h, 16), SK_H1_BAD);
	}
	/* Near misses pass: another name, or the real one in any case. */
	assert_int_equal(REQ("GET / HTTP/1.1\r\nHost: a\r\nContent_Lengths: 5\r\n\r\n"), SK_H1_DONE);
	assert_int_equal(REQ("GET / HTTP/1.1\r\nHost: a\r\nX-Content_Length: 5\r\n\r\n"), SK_H1_DONE);
	assert_int_equal(REQ("GET / HTTP/1.1\r\nHost: a\r\nContent_Type: x\r\n\r\n"), SK_H1_DONE);
	assert_int_equal(REQ("POST / HTTP/1.1\r\nHost: a\r\nCONTENT-LENGTH: 0\r\n\r\n"), SK_H1_DONE);
	/* Responses are not judged by this rule (an origin's odd name is the viewer's concern). */
	assert_int_equal(RESP("HTTP/1.1 200 OK\r\nContent_Length: 5\r\nContent-Length: 0\r\n\r\n"), SK_H1_DONE);
}

static void reject_te_empty(void **state)
{
	assert_int_equal(REQ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n\r\n"), SK_H1_BAD);
}

static void reject_te_twice(void **state)
{
	assert_int_equal(REQ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
			     "Transfer-Encoding: chunked\r\n\r\n"),
			 SK_H1_BAD);
}

static void reject_te_http10(void **state)
{
	assert_int_equal(REQ("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"), SK_H1_BAD);
}

static void reject_obs_fold(void **state)
{
	assert_int_equal(REQ("GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n"), SK_H1_BAD);
	assert_int_equal(REQ("GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n\tb\r\n\r\n"), SK_H1_BAD);
}

static void reject_space_before_first_field(void **state)
{
	assert_int_equal(REQ("GET / HTTP/1.1\r\n Host: a\r\n\r\n"), SK_H1_BAD);
}

static void reject_bare_cr(void **state)
{
	assert_int_equal(REQ("GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n"), SK_H1_BAD);
	assert_int_equal(REQ("GET / HTTP/1.1\rHost: a\r\n\r\n"), SK_H1_BAD);
	assert_int_equal(REQ("GET / HTTP/1.1\r\nHost: a\r\n\rX"), SK_H1_BAD);
	assert_int_equal(REQ("GET /a\rb HTTP/1.1\r\nHost: a\r\n\r\n"), SK_H1_BAD);
}

static void reject_bare_lf(void **state)
{
	assert_int_equal(REQ("GET / HTTP/1.1\nHost: a\r\n\r\n"), SK_H1_BAD);
	assert_int_equal(REQ("GET / HTTP/1.1\r\nHost: a\n\r\n"), SK_H1_BAD);
	assert_int_equal(REQ("GET / HTTP/1.1\r\nHost: a\r\n\n"), SK_H1_BAD);
}

static void reject_nul_in_value(void **state)
{
	assert_int_equal(REQ("GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n"), SK_H1_BAD);
}

static void reject_nul_in_name(void **state)
{
	assert_int_equal(REQ("GET / HTTP/1.1\r\nHost: a\r\nX\0Y: a\r\n\r\n"), SK_H1_BAD);
}

static void reject_control_in_value(void **state)
{
	assert_int_equal(REQ("GET / HTTP/1.1\r\nHost: a\r\nX: a\x01z\r\n\r\n"), SK_H1_BAD);
	assert_int_equal(REQ("GET / HTTP/1.1\r\nHost: a\r\nX: a\x1bz\r\n\r\n"), SK_H1_BAD);
	assert_int_equal(REQ("GET / HTTP/1.1\r\nHost: a\r\nX: a\x7fz\r\n\r\n"), SK_H1_BAD);
	assert_int_equal(REQ("GET / HTTP/1.1\r\nHost: a\r\nX: aaaaaaaaaaaaaaaaaaaaaaaa\x7fz\r\n\r\n"), SK_H1_BAD);
}

static void reject_whitespace_before_colon(void **state)
{
	assert_int_equal(REQ("GET / HTTP/1.1\r\nHost : a\r\n\r\n"), SK_H1_BAD);
	assert_int_equal(REQ("GET / HTTP/1.1\r\nHost: a\r\nContent-Length\t: 5\r\n\r\n"), SK_H1_BAD);
}

static void reject_non_token_method(void **state)
{
	assert_int_equal(REQ("G(ET / HTTP/1.1\r\nHost: a\r\n\r\n"), SK_H1_BAD);
	assert_int_equal(REQ("GE\x80T / HTTP/1.1\r\nHost: a\r\n\r\n"), SK_H1_BAD);
	assert_int_equal(REQ("GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n"), SK_H1_BAD);
}

static void reject_empty_method(void **state)
{
	assert_int_equal(REQ(" / HTTP/1.1\r\nHost: a\r\n\r\n"), SK_H1_BAD);
}

static void reject_non_token_name(void **state)
{
	assert_int_equal(REQ("GET / HTTP/1.1\r\nHost: a\r\nX@Y: a\r\n\r\n"), SK_H1_BAD);
	assert_int_equal(REQ("GET / HTTP/1.1\r\nHost: a\r\nX/Y: a\r\n\r\n"), SK_H1_BAD);
	assert_int_equal(REQ("GET / HTTP/1.1\r\nHost: a\r\n\"X\": a\r\n\r\n"), SK_H1_BAD);
	assert_int_equal(REQ("GET / HTTP/1.1\r\nHost: a\r\nX\xc3\xa9: a\r\n\r\n"), SK_H1_BAD);
}

static void reject_empty_name(void **state)
{
	assert_int_equal(REQ("GET / HTTP/1.1\r\nHost: a\r\n: a\r\n\r\n"), SK_H1_BAD);
}

static void reject_field_without_colon(void **state)
{
	assert_int_equal(REQ("GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n"), SK_H1_BAD);
}

static void reject_target_control(void **state)
{
	assert_int_equal(REQ("GET /a\x01 HTTP/1.1\r\nHost: a\r\n\r\n"), SK_H1_BAD);
	assert_int_equal(REQ("GET /a\x7f HTTP/1.1\r\nHost: a\r\n\r\n"), SK_H1_BAD);
	assert_int_equal(REQ("GET /a\0 HTTP/1.1\r\nHost: a\r\n\r\n"), SK_H1_BAD);
	assert_int_equal(REQ("GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n"), SK_H1_BAD);
}

static void reject_target_space(void **state)
{
	/* "GET /a b HTTP/1.1": the version would be "b HTTP/1.1" */
	assert_int_equal(REQ("GET /a b HTTP/1.1\r\nHost: a\r\n\r\n"), SK_H1_BAD);
	assert_int_equal(REQ("GET  / HTTP/1.1\r\nHost: a\r\n\r\n"), SK_H1_BAD);
	assert_int_equal(REQ("GET /  HTTP/1.1\r\nHost: a\r\n\r\n"), SK_H1_BAD);
}

static void reject_no_version(void **state)
{
	assert_int_equal(REQ("GET /\r\n\r\n"), SK_H1_BAD);
	assert_int_equal(REQ("GET / \r\nHost: a\r\n\r\n"), SK_H1_BAD);
}

static void reject_bad_version(void **state)
{
	assert_int_equal(REQ("GET / HTTP/1.2\r\nHost: a\r\n\r\n"), SK_H1_BAD);
	assert_int_equal(REQ("GET / HTTP/2.0\r\nHost: a\r\n\r\n"), SK_H1_BAD);
	assert_int_equal(REQ("GET / HTTP/0.9\r\nHost: a\r\n\r\n"), SK_H1_BAD);
	assert_int_equal(REQ("GET / http/1.1\r\nHost: a\r\n\r\n"), SK_H1_BAD);
	assert_int_equal(REQ("GET / HTTP/1.10\r\nHost: a\r\n\r\n"), SK_H1_BAD);
	assert_int_equal(REQ("GET / HTTP/1.1 \r\nHost: a\r\n\r\n"), SK_H1_BAD);
	assert_int_equal(REQ("GET / HTTP/11\r\nHost: a\r\n\r\n"), SK_H1_BAD);
}

static void reject_missing_host_http11(void **state)
{
	assert_int_equal(REQ("GET / HTTP/1.1\r\nX: a\r\n\r\n"), SK_H1_BAD);
}

static void reject_two_hosts(void **state)
{
	assert_int_equal(REQ("GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n"), SK_H1_BAD);
	assert_int_equal(REQ("GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n"), SK_H1_BAD);
}

/* ---- limits at their exact boundary --------------------------------------------------------------- */

/* Builds "GET /aaa… HTTP/1.1" with a request line of exactly line_len bytes, then the given rest. */
static size_t build_req(char *out, size_t cap, size_t line_len, const char *rest)
{
	static const char pre[] = "GET /", post[] = " HTTP/1.1";
	size_t fixed = sizeof(pre) - 1 + sizeof(post) - 1;
	assert_true(line_len > fixed && line_len + strlen(rest) + 2 < cap);
	size_t n = 0;
	memcpy(out, pre, sizeof(pre) - 1);
	n += sizeof(pre) - 1;
	memset(out + n, 'a', line_len - fixed);
	n += line_len - fixed;
	memcpy(out + n, post, sizeof(post) - 1);
	n += sizeof(post) - 1;
	memcpy(out + n, "\r\n", 2);
	n += 2;
	memcpy(out + n, rest, strlen(rest));
	return n + strlen(rest);
}

static void limit_request_line_at_limit(void **state)
{
	static char in[20000];
	size_t n = build_req(in, sizeof(in), 8192, "Host: a\r\n\r\n");
	assert_int_equal(parse_req_lim(in, n, &DEF, MAXH), SK_H1_DONE);
	assert_int_equal(R.method.len + 1 + R.target.len + 9, 8192);
}

static void limit_request_line_over(void **state)
{
	static char in[20000];
	size_t n = build_req(in, sizeof(in), 8193, "Host: a\r\n\r\n");
	assert_int_equal(parse_req_lim(in, n, &DEF, MAXH), SK_H1_URI_TOO_LONG);
}

static void limit_request_line_over_while_incomplete(void **state)
{
	static char in[20000];
	memcpy(in, "GET /", 5);
	memset(in + 5, 'a', sizeof(in) - 5);
	/* 8192 bytes of line: it may still end with CRLF */
	assert_int_equal(parse_req_lim(in, 8192, &DEF, MAXH), SK_H1_INCOMPLETE);
	/* 8193 bytes without a CR: the line is already too long */
	assert_int_equal(parse_req_lim(in, 8193, &DEF, MAXH), SK_H1_URI_TOO_LONG);
	/* also for a line that is all method, and with a small configured limit */
	struct sk_h1_limits small = { .request_line = 16, .header_block = 1024, .header_fields = 10 };
	memset(in, 'G', 100);
	assert_int_equal(parse_req_lim(in, 16, &small, MAXH), SK_H1_INCOMPLETE);
	assert_int_equal(parse_req_lim(in, 17, &small, MAXH), SK_H1_URI_TOO_LONG);
	/* "GET /aaa HTTP/1.1" is 17 bytes: at a limit of 17 with its CR but not yet its LF */
	small.request_line = 17;
	assert_int_equal(parse_req_lim("GET /aaaa HTTP/1.1\r", 19, &small, MAXH), SK_H1_URI_TOO_LONG);
	assert_int_equal(parse_req_lim("GET /aaaa HTTP/1.1", 18, &small, MAXH), SK_H1_URI_TOO_LONG);
	assert_int_equal(parse_req_lim("GET /aaa HTTP/1.1\r", 18, &small, MAXH), SK_H1_INCOMPLETE);
	assert_int_equal(parse_req_lim("GET /aaa HTTP/1.1", 17, &small, MAXH), SK_H1_INCOMPLETE);
	assert_int_equal(parse_req_lim("GET /aaa HTTP/1.1\r\nHost: a\r\n\r\n", 30, &small, MAXH), SK_H1_DONE);
}

static void limit_request_line_leading_crlf_not_counted(void **state)
{
	struct sk_h1_limits small = { .request_line = 17, .header_block = 1024, .header_fields = 10 };
	static const char in[] = "\r\n\r\nGET /aaa HTTP/1.1\r\nHost: a\r\n\r\n";
	assert_int_equal(parse_req_lim(in, sizeof(in) - 1, &small, MAXH), SK_H1_DONE);
}

/* Builds a request whose whole head is exactly head_len bytes (padding in one field value). */
static size_t build_head(char *out, size_t head_len)
{
	static const char pre[] = "GET / HTTP/1.1\r\nHost: a\r\nX-Pad: ";
	size_t fixed = sizeof(pre) - 1 + 4;
	memcpy(out, pre, sizeof(pre) - 1);
	memset(out + sizeof(pre) - 1, 'p', head_len - fixed);
	memcpy(out + head_len - 4, "\r\n\r\n", 4);
	return head_len;
}

static void limit_header_block_at_limit(void **state)
{
	static char in[20000];
	size_t n = build_head(in, 16384);
	assert_int_equal(parse_req_lim(in, n, &DEF, MAXH), SK_H1_DONE);
	assert_int_equal(R.head_len, 16384);
}

static void limit_header_block_over(void **state)
{
	static char in[20000];
	size_t n = build_head(in, 16385);
	assert_int_equal(parse_req_lim(in, n, &DEF, MAXH), SK_H1_HEAD_TOO_LARGE);
}

static void limit_header_block_over_while_incomplete(void **state)
{
	static char in[20000];
	size_t n = build_head(in, 17000);
	/* one byte short of the limit: it may still end in time */
	assert_int_equal(parse_req_lim(in, 16383, &DEF, MAXH), SK_H1_INCOMPLETE);
	/* the limit is full and no end seen: one more byte at least, so too large */
	assert_int_equal(parse_req_lim(in, 16384, &DEF, MAXH), SK_H1_HEAD_TOO_LARGE);
	assert_int_equal(parse_req_lim(in, n - 10, &DEF, MAXH), SK_H1_HEAD_TOO_LARGE);
	/* a head of exactly the limit, its last LF missing, is incomplete */
	n = build_head(in, 16384);
	assert_int_equal(parse_req_lim(in, n - 1, &DEF, MAXH), SK_H1_INCOMPLETE);
}

static void limit_header_block_counts_leading_crlf(void **state)
{
	struct sk_h1_limits small = { .request_line = 100, .header_block = 30, .header_fields = 10 };
	/* 28 bytes of head */
	assert_int_equal(parse_req_lim("GET / HTTP/1.1\r\nHost: a\r\n\r\n", 28, &small, MAXH), SK_H1_DONE);
	assert_int_equal(parse_req_lim("\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 30, &small, MAXH), SK_H1_DONE);
	assert_int_equal(parse_req_lim("\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 32, &small, MAXH),
			 SK_H1_HEAD_TOO_LARGE);
}

/* A request with exactly `fields` fields (Host and X-N). */
static size_t build_fields(char *out, size_t cap, unsigned fields, bool complete)
{
	size_t n = (size_t)snprintf(out, cap, "GET / HTTP/1.1\r\nHost: a\r\n");
	for (unsigned i = 1; i < fields; i++)
		n += (size_t)snprintf(out + n, cap - n, "X-%u: v\r\n", i);
	if (complete)
		n += (size_t)snprintf(out + n, cap - n, "\r\n");
	return n;
}

static void limit_fields_at_limit(void **state)
{
	static char in[8000];
	size_t n = build_fields(in, sizeof(in), 100, true);
	assert_int_equal(parse_req_lim(in, n, &DEF, MAXH), SK_H1_DONE);
	assert_int_equal(R.n_headers, 100);
}

static void limit_fields_over(void **state)
{
	static char in[8000];
	size_t n = build_fields(in, sizeof(in), 101, true);
	assert_int_equal(parse_req_lim(in, n, &DEF, MAXH), SK_H1_HEAD_TOO_LARGE);
}

static void limit_fields_over_while_incomplete(void **state)
{
	static char in[8000];
	size_t n = build_fields(in, sizeof(in), 100, false);
	assert_int_equal(parse_req_lim(in, n, &DEF, MAXH), SK_H1_INCOMPLETE);
	/* the first byte of a 101st field is enough */
	in[n] = 'X';
	assert_int_equal(parse_req_lim(in, n + 1, &DEF, MAXH), SK_H1_HEAD_TOO_LARGE);
	/* while a CR may still be the end of the head */
	in[n] = '\r';
	assert_int_equal(parse_req_lim(in, n + 1, &DEF, MAXH), SK_H1_INCOMPLETE);
}

static void limit_fields_bounded_by_array(void **state)
{
	static char in[8000];
	size_t n = build_fields(in, sizeof(in), 8, true);
	assert_int_equal(parse_req_lim(in, n, &DEF, 8), SK_H1_DONE);
	assert_int_equal(parse_req_lim(in, n, &DEF, 7), SK_H1_HEAD_TOO_LARGE);
	struct sk_h1_limits small = { .request_line = 100, .header_block = 1000, .header_fields = 7 };
	assert_int_equal(parse_req_lim(in, n, &small, MAXH), SK_H1_HEAD_TOO_LARGE);
	small.header_fields = 8;
	assert_int_equal(parse_req_lim(in, n, &small, MAXH), SK_H1_DONE);
}

static void limit_defaults_when_null(void **state)
{
	static char in[20000];
	size_t n = build_req(in, sizeof(in), 8192, "Host: a\r\n\r\n");
	const char *b = dup_input(in, n);
	assert_int_equal(sk_h1_parse_request(b, n, NULL, &R, H, MAXH), SK_H1_DONE);
	n = build_req(in, sizeof(in), 8193, "Host: a\r\n\r\n");
	b = dup_input(in, n);
	assert_int_equal(sk_h1_parse_request(b, n, NULL, &R, H, MAXH), SK_H1_URI_TOO_LONG);
}

/* ---- responses ------------------------------------------------------------------------------------ */

static void resp_simple(void **state)
{
	static const char in[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nServer: x\r\n\r\nhello";
	assert_int_equal(RESP(in), SK_H1_DONE);
	assert_int_equal(S.status, 200);
	assert_slice(S.reason, "OK");
	assert_int_equal(S.minor_version, 1);
	assert_int_equal(S.n_headers, 2);
	assert_int_equal(S.body, SK_BODY_LENGTH);
	assert_int_equal(S.content_length, 5);
	assert_int_equal(S.head_len, sizeof(in) - 1 - 5);
}

static void resp_reason_forms(void **state)
{
	assert_int_equal(RESP("HTTP/1.1 404 Not Found Here\r\n\r\n"), SK_H1_DONE);
	assert_slice(S.reason, "Not Found Here");
	assert_int_equal(RESP("HTTP/1.1 200 \r\n\r\n"), SK_H1_DONE);
	assert_slice(S.reason, "");
	assert_int_equal(RESP("HTTP/1.1 200\r\n\r\n"), SK_H1_DONE);
	assert_slice(S.reason, "");
	assert_int_equal(RESP("HTTP/1.0 200 caf\xc3\xa9\tok\r\n\r\n"), SK_H1_DONE);
	assert_int_equal(S.minor_version, 0);
}

static void resp_reason_control_bad(void **state)
{
	assert_int_equal(RESP("HTTP/1.1 200 O\x01K\r\n\r\n"), SK_H1_BAD);
	assert_int_equal(RESP("HTTP/1.1 200 OK\rX\r\n\r\n"), SK_H1_BAD);
	assert_int_equal(RESP("HTTP/1.1 200 OK\n\r\n"), SK_H1_BAD);
}

static void resp_status_range(void **state)
{
	assert_int_equal(RESP("HTTP/1.1 100 Continue\r\n\r\n"), SK_H1_DONE);
	assert_int_equal(S.status, 100);
	assert_int_equal(RESP("HTTP/1.1 599 X\r\n\r\n"), SK_H1_DONE);
	assert_int_equal(S.status, 599);
	assert_int_equal(RESP("HTTP/1.1 099 X\r\n\r\n"), SK_H1_BAD);
	assert_int_equal(RESP("HTTP/1.1 600 X\r\n\r\n"), SK_H1_BAD);
	assert_int_equal(RESP("HTTP/1.1 20 X\r\n\r\n"), SK_H1_BAD);
	assert_int_equal(RESP("HTTP/1.1 2000 X\r\n\r\n"), SK_H1_BAD);
	assert_int_equal(RESP("HTTP/1.1 2x0 X\r\n\r\n"), SK_H1_BAD);
	assert_int_equal(RESP("HTTP/1.1  200 X\r\n\r\n"), SK_H1_BAD);
}

static void resp_bad_version(void **state)
{
	assert_int_equal(RESP("HTTP/2 200 OK\r\n\r\n"), SK_H1_BAD);
	assert_int_equal(RESP("HTTP/1.2 200 OK\r\n\r\n"), SK_H1_BAD);
	assert_int_equal(RESP("ICY 200 OK\r\n\r\n"), SK_H1_BAD);
	assert_int_equal(RESP("\r\nHTTP/1.1 200 OK\r\n\r\n"), SK_H1_BAD);
}

static void resp_chunked(void **state)
{
	assert_int_equal(RESP("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"), SK_H1_DONE);
	assert_int_equal(S.body, SK_BODY_CHUNKED);
}

static void resp_close_delimited(void **state)
{
	assert_int_equal(RESP("HTTP/1.1 200 OK\r\nServer: x\r\n\r\n"), SK_H1_DONE);
	assert_int_equal(S.body, SK_BODY_CLOSE);
	assert_int_equal(RESP("HTTP/1.0 200 OK\r\n\r\n"), SK_H1_DONE);
	assert_int_equal(S.body, SK_BODY_CLOSE);
}

static void resp_no_body_statuses(void **state)
{
	assert_int_equal(RESP("HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n"), SK_H1_DONE);
	assert_int_equal(S.body, SK_BODY_NONE);
	assert_int_equal(RESP("HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n"), SK_H1_DONE);
	assert_int_equal(S.body, SK_BODY_NONE);
	assert_int_equal(S.content_length, 10);
	assert_int_equal(RESP("HTTP/1.1 100 Continue\r\n\r\n"), SK_H1_DONE);
	assert_int_equal(S.body, SK_BODY_NONE);
	assert_int_equal(RESP("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"),
			 SK_H1_DONE);
	assert_int_equal(S.body, SK_BODY_NONE);
	assert_true(S.flags & SK_HF_HAS_UPGRADE);
	assert_true(S.flags & SK_HF_CONN_UPGRADE);
	assert_int_equal(RESP("HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n"), SK_H1_DONE);
	assert_int_equal(S.body, SK_BODY_NONE);
}

static void resp_head_request(void **state)
{
	assert_int_equal(RESP_HEAD("HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n"), SK_H1_DONE);
	assert_int_equal(S.body, SK_BODY_NONE);
	assert_int_equal(S.content_length, 1234);
	assert_int_equal(RESP_HEAD("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"), SK_H1_DONE);
	assert_int_equal(S.body, SK_BODY_NONE);
	assert_int_equal(RESP_HEAD("HTTP/1.1 200 OK\r\n\r\n"), SK_H1_DONE);
	assert_int_equal(S.body, SK_BODY_NONE);
}

static void resp_reject_cl_and_te(void **state)
{
	assert_int_equal(RESP("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"),
			 SK_H1_BAD);
	/* even where no body follows */
	assert_int_equal(RESP("HTTP/1.1 204 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"),
			 SK_H1_BAD);
	assert_int_equal(RESP_HEAD("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"),
			 SK_H1_BAD);
}

static void resp_reject_te_not_chunked(void **state)
{
	assert_int_equal(RESP("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n"), SK_H1_BAD);
	assert_int_equal(RESP("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"), SK_H1_BAD);
	assert_int_equal(RESP("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"),
			 SK_H1_BAD);
	assert_int_equal(RESP("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"), SK_H1_BAD);
}

static void resp_reject_bad_cl(void **state)
{
	assert_int_equal(RESP("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n"), SK_H1_BAD);
	assert_int_equal(RESP("HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n"), SK_H1_BAD);
	assert_int_equal(RESP("HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n"), SK_H1_BAD);
	assert_int_equal(RESP("HTTP/1.1 304 OK\r\nContent-Length: x\r\n\r\n"), SK_H1_BAD);
}

static void resp_reject_obs_fold_and_bare_cr(void **state)
{
	assert_int_equal(RESP("HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n"), SK_H1_BAD);
	assert_int_equal(RESP("HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n"), SK_H1_BAD);
	assert_int_equal(RESP("HTTP/1.1 200 OK\r\nX : a\r\n\r\n"), SK_H1_BAD);
	assert_int_equal(RESP("HTTP/1.1 200 OK\r\nX: \0\r\n\r\n"), SK_H1_BAD);
}

static void resp_host_not_special(void **state)
{
	assert_int_equal(RESP("HTTP/1.1 200 OK\r\nHost: a\r\nHost: b\r\n\r\n"), SK_H1_DONE);
}

static void resp_status_line_limit(void **state)
{
	struct sk_h1_limits small = { .request_line = 20, .header_block = 1000, .header_fields = 10 };
	/* "HTTP/1.1 200 abcdefg" is 20 bytes */
	assert_int_equal(parse_resp_lim("HTTP/1.1 200 abcdefg\r\n\r\n", 24, false, &small), SK_H1_DONE);
	assert_int_equal(parse_resp_lim("HTTP/1.1 200 abcdefgh\r\n\r\n", 25, false, &small),
			 SK_H1_HEAD_TOO_LARGE);
	assert_int_equal(parse_resp_lim("HTTP/1.1 200 abcdefgh", 21, false, &small), SK_H1_HEAD_TOO_LARGE);
	assert_int_equal(parse_resp_lim("HTTP/1.1 200 abcdefg", 20, false, &small), SK_H1_INCOMPLETE);
}

static void resp_head_limits(void **state)
{
	struct sk_h1_limits small = { .request_line = 100, .header_block = 40, .header_fields = 2 };
	/* 40 bytes exactly */
	static const char ok[] = "HTTP/1.1 200 OK\r\nA: 1\r\nB: 1234567890\r\n\r\n";
	assert_int_equal(sizeof(ok) - 1, 40);
	assert_int_equal(parse_resp_lim(ok, 40, false, &small), SK_H1_DONE);
	static const char big[] = "HTTP/1.1 200 OK\r\nA: 1\r\nB: 12345678901\r\n\r\n";
	assert_int_equal(parse_resp_lim(big, sizeof(big) - 1, false, &small), SK_H1_HEAD_TOO_LARGE);
	static const char many[] = "HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
	assert_int_equal(parse_resp_lim(many, sizeof(many) - 1, false, &small), SK_H1_HEAD_TOO_LARGE);
}

static void resp_incomplete_every_split(void **state)
{
	static const char in[] = "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-1/2\r\n"
				 "Content-Length: 2\r\nConnection: close\r\n\r\n";
	size_t n = sizeof(in) - 1;
	for (size_t i = 0; i < n; i++)
		if (parse_resp_lim(in, i, false, &DEF) != SK_H1_INCOMPLETE)
			fail_msg("prefix of %zu bytes: not INCOMPLETE", i);
	assert_int_equal(parse_resp_lim(in, n, false, &DEF), SK_H1_DONE);
	assert_int_equal(S.head_len, n);
	assert_true(S.flags & SK_HF_CONN_CLOSE);
}

/* ---- chunked decoder ------------------------------------------------------------------------------- */

struct dec_out {
	enum sk_chunked_result r;
	char data[4096];
	size_t data_len;
	char rest[256];
	size_t rest_len;
};

/*
 * Feeds in[0..n) in pieces of `step` bytes (0: all at once), each piece in its own exact-size heap
 * buffer, collecting decoded data and the bytes after the body.
 */
static void decode_in_steps(const char *in, size_t n, size_t step, struct dec_out *out)
{
	struct sk_h1_chunked d;
	sk_h1_chunked_init(&d);
	*out = (struct dec_out){ .r = SK_CHUNKED_MORE };
	size_t off = 0;
	if (step == 0)
		step = n ? n : 1;
	while (off < n) {
		size_t k = SK_MIN(step, n - off);
		char *b = malloc(k);
		assert_non_null(b);
		memcpy(b, in + off, k);
		size_t len = k, rest = 12345;
		enum sk_chunked_result r = sk_h1_chunked_decode(&d, b, &len, &rest);
		assert_true(len <= k);
		assert_true(out->data_len + len <= sizeof(out->data));
		memcpy(out->data + out->data_len, b, len);
		out->data_len += len;
		out->r = r;
		if (r == SK_CHUNKED_DONE) {
			assert_true(len + rest <= k);
			memcpy(out->rest, b + len, rest);
			out->rest_len = rest;
			/* what was not given yet follows */
			memcpy(out->rest + rest, in + off + k, n - off - k);
			out->rest_len += n - off - k;
			free(b);
			return;
		}
		assert_int_equal(rest, 0);
		free(b);
		if (r == SK_CHUNKED_BAD)
			return;
		off += k;
	}
}

#define DECODE(lit, step, out) decode_in_steps((lit), sizeof(lit) - 1, (step), (out))

static void assert_decoded(const struct dec_out *o, enum sk_chunked_result r, const char *data, const char *rest)
{
	assert_int_equal(o->r, r);
	assert_int_equal(o->data_len, strlen(data));
	assert_memory_equal(o->data, data, o->data_len);
	if (rest) {
		assert_int_equal(o->rest_len, strlen(rest));
		assert_memory_equal(o->rest, rest, o->rest_len);
	}
}

static void chunked_simple(void **state)
{
	struct dec_out o;
	DECODE("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", 0, &o);
	assert_decoded(&o, SK_CHUNKED_DONE, "hello world", "");
}

static const char chunked_sample[] = "4;name=value\r\nWiki\r\n5 ;a;b=\"q;\\\"x\"\r\npedia\r\n"
				     "E\r\n in\r\n\r\nchunks.\r\n0;last\r\nExpires: never\r\nX-T: 1\r\n\r\n"
				     "GET /next HTTP/1.1\r\n";

static void chunked_every_split(void **state)
{
	size_t n = sizeof(chunked_sample) - 1;
	for (size_t cut = 0; cut <= n; cut++) {
		struct sk_h1_chunked d;
		sk_h1_chunked_init(&d);
		char *a = malloc(cut ? cut : 1), *b = malloc(n - cut ? n - cut : 1);
		memcpy(a, chunked_sample, cut);
		memcpy(b, chunked_sample + cut, n - cut);
		char data[256];
		size_t dl = 0, len = cut, rest = 0;
		enum sk_chunked_result r = sk_h1_chunked_decode(&d, a, &len, &rest);
		memcpy(data, a, len);
		dl = len;
		size_t rest_total = 0;
		char rest_bytes[64];
		if (r == SK_CHUNKED_DONE) {
			memcpy(rest_bytes, a + len, rest);
			rest_total = rest;
			memcpy(rest_bytes + rest_total, b, n - cut);
			rest_total += n - cut;
		} else {
			assert_int_equal(r, SK_CHUNKED_MORE);
			len = n - cut;
			r = sk_h1_chunked_decode(&d, b, &len, &rest);
			memcpy(data + dl, b, len);
			dl += len;
			memcpy(rest_bytes, b + len, rest);
			rest_total = rest;
		}
		assert_int_equal(r, SK_CHUNKED_DONE);
		assert_int_equal(dl, 23);
		assert_memory_equal(data, "Wikipedia in\r\n\r\nchunks.", 23);
		assert_int_equal(rest_total, 20);
		assert_memory_equal(rest_bytes, "GET /next HTTP/1.1\r\n", 20);
		free(a);
		free(b);
	}
}

static void chunked_one_byte_at_a_time(void **state)
{
	struct dec_out o;
	DECODE(chunked_sample, 1, &o);
	assert_decoded(&o, SK_CHUNKED_DONE, "Wikipedia in\r\n\r\nchunks.", "GET /next HTTP/1.1\r\n");
	for (size_t step = 2; step < 16; step++) {
		DECODE(chunked_sample, step, &o);
		assert_decoded(&o, SK_CHUNKED_DONE, "Wikipedia in\r\n\r\nchunks.", "GET /next HTTP/1.1\r\n");
	}
}

static void chunked_extensions(void **state)
{
	struct dec_out o;
	DECODE("3;foo\r\nabc\r\n2;a=b;c=\"d e\"\r\nde\r\n1 ; x\r\nf\r\n0\r\n\r\n", 0, &o);
	assert_decoded(&o, SK_CHUNKED_DONE, "abcdef", "");
	DECODE("3\t;foo\r\nabc\r\n0\r\n\r\n", 0, &o);
	assert_decoded(&o, SK_CHUNKED_DONE, "abc", "");
}

static void chunked_extension_control_bad(void **state)
{
	struct dec_out o;
	DECODE("3;a\0b\r\nabc\r\n0\r\n\r\n", 0, &o);
	assert_int_equal(o.r, SK_CHUNKED_BAD);
	DECODE("3;a\nabc\r\n0\r\n\r\n", 0, &o);
	assert_int_equal(o.r, SK_CHUNKED_BAD);
	DECODE("3;a\rb\r\nabc\r\n0\r\n\r\n", 0, &o);
	assert_int_equal(o.r, SK_CHUNKED_BAD);
}

static void chunked_trailers(void **state)
{
	struct dec_out o;
	DECODE("2\r\nok\r\n0\r\nX-Sum: 1234\r\nY:\r\n\r\nrest", 0, &o);
	assert_decoded(&o, SK_CHUNKED_DONE, "ok", "rest");
}

static void chunked_trailer_obs_fold_bad(void **state)
{
	struct dec_out o;
	DECODE("0\r\nX: a\r\n b\r\n\r\n", 0, &o);
	assert_int_equal(o.r, SK_CHUNKED_BAD);
	DECODE("0\r\n: a\r\n\r\n", 0, &o);
	assert_int_equal(o.r, SK_CHUNKED_BAD);
	DECODE("0\r\nX a\r\n\r\n", 0, &o);
	assert_int_equal(o.r, SK_CHUNKED_BAD);
	DECODE("0\r\nX: a\n\r\n", 0, &o);
	assert_int_equal(o.r, SK_CHUNKED_BAD);
	DECODE("0\r\n\n", 0, &o);
	assert_int_equal(o.r, SK_CHUNKED_BAD);
}

static void chunked_trailers_limit(void **state)
{
	/* trailers of exactly 16 KiB (lines and the final CRLF) pass; one byte more fails */
	static char in[20000];
	size_t n = 0;
	memcpy(in, "0\r\nX: ", 6);
	n = 6;
	size_t pad = 16384 - 3 - 2 - 2; /* "X: " + CRLF + final CRLF */
	memset(in + n, 'v', pad);
	n += pad;
	memcpy(in + n, "\r\n\r\n", 4);
	n += 4;
	struct dec_out o;
	decode_in_steps(in, n, 0, &o);
	assert_int_equal(o.r, SK_CHUNKED_DONE);
	memcpy(in, "0\r\nX: ", 6);
	memset(in + 6, 'v', pad + 1);
	memcpy(in + 6 + pad + 1, "\r\n\r\n", 4);
	decode_in_steps(in, n + 1, 0, &o);
	assert_int_equal(o.r, SK_CHUNKED_BAD);
}

static void chunked_zero_size_only(void **state)
{
	struct dec_out o;
	DECODE("0\r\n\r\n", 0, &o);
	assert_decoded(&o, SK_CHUNKED_DONE, "", "");
	DECODE("000\r\n\r\n", 1, &o);
	assert_decoded(&o, SK_CHUNKED_DONE, "", "");
}

static void chunked_uppercase_hex(void **state)
{
	struct dec_out o;
	DECODE("A\r\n0123456789\r\nb\r\nabcdefghijk\r\n0\r\n\r\n", 0, &o);
	assert_decoded(&o, SK_CHUNKED_DONE, "0123456789abcdefghijk", "");
}

static void chunked_huge_size(void **state)
{
	/* 16 hex digits are accepted: the body simply goes on */
	struct sk_h1_chunked d;
	sk_h1_chunked_init(&d);
	char b[] = "ffffffffffffffff\r\nabc";
	size_t len = sizeof(b) - 1, rest;
	assert_int_equal(sk_h1_chunked_decode(&d, b, &len, &rest), SK_CHUNKED_MORE);
	assert_int_equal(len, 3);
	assert_memory_equal(b, "abc", 3);
	assert_true(d.remaining == UINT64_MAX - 3);
}

static void chunked_too_many_digits(void **state)
{
	struct dec_out o;
	DECODE("10000000000000000\r\n", 0, &o);
	assert_int_equal(o.r, SK_CHUNKED_BAD);
	/* leading zeros count too */
	DECODE("00000000000000001\r\na\r\n0\r\n\r\n", 0, &o);
	assert_int_equal(o.r, SK_CHUNKED_BAD);
	DECODE("0000000000000001\r\na\r\n0\r\n\r\n", 0, &o);
	assert_decoded(&o, SK_CHUNKED_DONE, "a", "");
}

static void chunked_no_digits(void **state)
{
	struct dec_out o;
	DECODE("\r\nabc\r\n0\r\n\r\n", 0, &o);
	assert_int_equal(o.r, SK_CHUNKED_BAD);
	DECODE(";ext\r\n", 0, &o);
	assert_int_equal(o.r, SK_CHUNKED_BAD);
	DECODE("x\r\n", 0, &o);
	assert_int_equal(o.r, SK_CHUNKED_BAD);
	DECODE(" 5\r\nhello\r\n0\r\n\r\n", 0, &o);
	assert_int_equal(o.r, SK_CHUNKED_BAD);
	DECODE("-5\r\nhello\r\n0\r\n\r\n", 0, &o);
	assert_int_equal(o.r, SK_CHUNKED_BAD);
	DECODE("0x5\r\nhello\r\n0\r\n\r\n", 0, &o);
	assert_int_equal(o.r, SK_CHUNKED_BAD);
}

static void chunked_bad_size_line_end(void **state)
{
	struct dec_out o;
	DECODE("5\nhello\r\n0\r\n\r\n", 0, &o);
	assert_int_equal(o.r, SK_CHUNKED_BAD);
	DECODE("5\rhello\r\n0\r\n\r\n", 0, &o);
	assert_int_equal(o.r, SK_CHUNKED_BAD);
	/* whitespace may only lead to an extension */
	DECODE("5 \r\nhello\r\n0\r\n\r\n", 0, &o);
	assert_int_equal(o.r, SK_CHUNKED_BAD);
	DECODE("5 5\r\nhello\r\n0\r\n\r\n", 0, &o);
	assert_int_equal(o.r, SK_CHUNKED_BAD);
}

static void chunked_missing_crlf_after_data(void **state)
{
	struct dec_out o;
	DECODE("5\r\nhelloX\r\n0\r\n\r\n", 0, &o);
	assert_int_equal(o.r, SK_CHUNKED_BAD);
	DECODE("5\r\nhello0\r\n\r\n", 0, &o);
	assert_int_equal(o.r, SK_CHUNKED_BAD);
	DECODE("5\r\nhello\r0\r\n\r\n", 0, &o);
	assert_int_equal(o.r, SK_CHUNKED_BAD);
}

static void chunked_bare_lf_after_data(void **state)
{
	struct dec_out o;
	DECODE("5\r\nhello\n0\r\n\r\n", 0, &o);
	assert_int_equal(o.r, SK_CHUNKED_BAD);
	DECODE("5\r\nhello\n0\r\n\r\n", 1, &o);
	assert_int_equal(o.r, SK_CHUNKED_BAD);
}

static void chunked_final_crlf_required(void **state)
{
	struct dec_out o;
	DECODE("0\r\n\rX", 0, &o);
	assert_int_equal(o.r, SK_CHUNKED_BAD);
	DECODE("0\r\n", 0, &o);
	assert_int_equal(o.r, SK_CHUNKED_MORE);
	DECODE("0\r\n\r", 0, &o);
	assert_int_equal(o.r, SK_CHUNKED_MORE);
}

static void chunked_size_line_limit(void **state)
{
	/* the size line without its CRLF may be 1024 bytes */
	static char in[4000];
	memcpy(in, "1;", 2);
	memset(in + 2, 'e', 1022);
	memcpy(in + 1024, "\r\nx\r\n0\r\n\r\n", 10);
	struct dec_out o;
	decode_in_steps(in, 1034, 0, &o);
	assert_decoded(&o, SK_CHUNKED_DONE, "x", "");
	decode_in_steps(in, 1034, 7, &o);
	assert_decoded(&o, SK_CHUNKED_DONE, "x", "");
	memset(in + 2, 'e', 1023);
	memcpy(in + 1025, "\r\nx\r\n0\r\n\r\n", 10);
	decode_in_steps(in, 1035, 0, &o);
	assert_int_equal(o.r, SK_CHUNKED_BAD);
	/* each size line has its own budget */
	size_t n = 0;
	for (int i = 0; i < 3; i++) {
		memcpy(in + n, "1;", 2);
		memset(in + n + 2, 'e', 1022);
		memcpy(in + n + 1024, "\r\nx\r\n", 5);
		n += 1029;
	}
	memcpy(in + n, "0\r\n\r\n", 5);
	decode_in_steps(in, n + 5, 0, &o);
	assert_decoded(&o, SK_CHUNKED_DONE, "xxx", "");
}

static void chunked_rest_bytes(void **state)
{
	struct sk_h1_chunked d;
	sk_h1_chunked_init(&d);
	char b[] = "3\r\nabc\r\n0\r\n\r\nNEXT";
	size_t len = sizeof(b) - 1, rest = 0;
	assert_int_equal(sk_h1_chunked_decode(&d, b, &len, &rest), SK_CHUNKED_DONE);
	assert_int_equal(len, 3);
	assert_int_equal(rest, 4);
	assert_memory_equal(b, "abcNEXT", 7);
	/* once done, every further byte is rest */
	char c[] = "more";
	len = 4;
	assert_int_equal(sk_h1_chunked_decode(&d, c, &len, &rest), SK_CHUNKED_DONE);
	assert_int_equal(len, 0);
	assert_int_equal(rest, 4);
}

static void chunked_bad_is_sticky(void **state)
{
	struct sk_h1_chunked d;
	sk_h1_chunked_init(&d);
	char b[] = "z\r\n";
	size_t len = 3, rest;
	assert_int_equal(sk_h1_chunked_decode(&d, b, &len, &rest), SK_CHUNKED_BAD);
	char c[] = "0\r\n\r\n";
	len = 5;
	assert_int_equal(sk_h1_chunked_decode(&d, c, &len, &rest), SK_CHUNKED_BAD);
	len = 0;
	assert_int_equal(sk_h1_chunked_decode(&d, c, &len, &rest), SK_CHUNKED_BAD);
}

static void chunked_empty_input(void **state)
{
	struct sk_h1_chunked d;
	sk_h1_chunked_init(&d);
	char b[1];
	size_t len = 0, rest = 9;
	assert_int_equal(sk_h1_chunked_decode(&d, b, &len, &rest), SK_CHUNKED_MORE);
	assert_int_equal(len, 0);
	assert_int_equal(rest, 0);
}

static void chunked_data_across_calls(void **state)
{
	/* a chunk larger than one read: data arrives in pieces with nothing to strip */
	struct sk_h1_chunked d;
	sk_h1_chunked_init(&d);
	char a[] = "10\r\n0123";
	size_t len = sizeof(a) - 1, rest;
	assert_int_equal(sk_h1_chunked_decode(&d, a, &len, &rest), SK_CHUNKED_MORE);
	assert_int_equal(len, 4);
	char b[] = "456789ab";
	len = 8;
	assert_int_equal(sk_h1_chunked_decode(&d, b, &len, &rest), SK_CHUNKED_MORE);
	assert_int_equal(len, 8);
	assert_memory_equal(b, "456789ab", 8);
	char c[] = "cdef\r\n0\r\n\r\n";
	len = sizeof(c) - 1;
	assert_int_equal(sk_h1_chunked_decode(&d, c, &len, &rest), SK_CHUNKED_DONE);
	assert_int_equal(len, 4);
	assert_int_equal(rest, 0);
}

/* ---- sk_h1_find and hop-by-hop ----------------------------------------------------------------------- */

static void find_case_insensitive(void **state)
{
	assert_int_equal(REQ("GET / HTTP/1.1\r\nHost: a\r\nX-One: 1\r\nx-one: 2\r\n\r\n"), SK_H1_DONE);
	const struct sk_http_field *h = sk_http_find(R.headers, R.n_headers, "X-ONE");
	assert_non_null(h);
	assert_slice(h->value, "1");
	assert_null(sk_http_find(R.headers, R.n_headers, "X-On"));
	assert_null(sk_http_find(R.headers, R.n_headers, "X-One-"));
	assert_null(sk_http_find(R.headers, 0, "Host"));
}

static bool hop(const char *name)
{
	return sk_http_is_hop_by_hop((struct sk_slice){ .ptr = name, .len = strlen(name) }, R.headers, R.n_headers);
}

static void hop_by_hop_fixed(void **state)
{
	R.n_headers = 0;
	assert_true(hop("Connection"));
	assert_true(hop("keep-alive"));
	assert_true(hop("PROXY-CONNECTION"));
	assert_true(hop("TE"));
	assert_true(hop("Trailer"));
	assert_true(hop("transfer-encoding"));
	assert_true(hop("Upgrade"));
	assert_false(hop("Host"));
	assert_false(hop("Content-Length"));
	assert_false(hop("Trailers"));
	assert_false(hop("Tee"));
	assert_false(hop(""));
}

static void hop_by_hop_proxy_prefix(void **state)
{
	R.n_headers = 0;
	assert_true(hop("Proxy-Authorization"));
	assert_true(hop("proxy-foo"));
	assert_false(hop("Proxy"));
	assert_false(hop("X-Proxy-Foo"));
}

static void hop_by_hop_connection_listed(void **state)
{
	assert_int_equal(REQ("GET / HTTP/1.1\r\nHost: a\r\nConnection: X-Secret ,  foo\r\n"
			     "connection: close, Bar\r\n\r\n"),
			 SK_H1_DONE);
	assert_true(hop("x-secret"));
	assert_true(hop("FOO"));
	assert_true(hop("bar"));
	assert_true(hop("close"));
	assert_false(hop("X-Secre"));
	assert_false(hop("X-Secret2"));
	assert_false(hop("Host"));
}

/* ---- dates ------------------------------------------------------------------------------------------- */

static void date_format_known(void **state)
{
	char out[30];
	sk_http_date(784111777, out);
	assert_string_equal(out, "Sun, 06 Nov 1994 08:49:37 GMT");
	sk_http_date(0, out);
	assert_string_equal(out, "Thu, 01 Jan 1970 00:00:00 GMT");
	sk_http_date(951782400, out);
	assert_string_equal(out, "Tue, 29 Feb 2000 00:00:00 GMT");
	sk_http_date(INT64_MAX, out);
	assert_string_equal(out, "Fri, 31 Dec 9999 23:59:59 GMT");
}

static int parse_date(const char *s, int64_t *secs)
{
	return sk_http_date_parse((struct sk_slice){ .ptr = s, .len = strlen(s) }, secs);
}

static void date_parse_known(void **state)
{
	int64_t t;
	assert_int_equal(parse_date("Sun, 06 Nov 1994 08:49:37 GMT", &t), 0);
	assert_int_equal(t, 784111777);
	assert_int_equal(parse_date("Sunday, 06-Nov-94 08:49:37 GMT", &t), 0);
	assert_int_equal(t, 784111777);
	assert_int_equal(parse_date("Sun Nov  6 08:49:37 1994", &t), 0);
	assert_int_equal(t, 784111777);
	assert_int_equal(parse_date("Wednesday, 01-Jan-25 00:00:00 GMT", &t), 0);
	assert_int_equal(t, 1735689600);
	assert_int_equal(parse_date("Tue, 29 Feb 2000 00:00:00 GMT", &t), 0);
	assert_int_equal(t, 951782400);
}

static void date_round_trip(void **state)
{
	char out[30];
	int64_t t;
	for (int64_t s = 0; s < INT64_C(253402300799); s = s * 3 + 86399 + 7) {
		sk_http_date(s, out);
		assert_int_equal(strlen(out), 29);
		assert_int_equal(parse_date(out, &t), 0);
		assert_int_equal(t, s);
	}
}

static void date_parse_rejects(void **state)
{
	int64_t t;
	assert_int_equal(parse_date("", &t), -1);
	assert_int_equal(parse_date("Sun, 06 Nov 1994 08:49:37 UTC", &t), -1);
	assert_int_equal(parse_date("Sun, 06 Nov 1994 08:49:37 GMTX", &t), -1);
	assert_int_equal(parse_date("Sun, 06 Nov 1994 08:49:37 GM", &t), -1);
	assert_int_equal(parse_date("Xyz, 06 Nov 1994 08:49:37 GMT", &t), -1);
	assert_int_equal(parse_date("Sun, 06 Foo 1994 08:49:37 GMT", &t), -1);
	assert_int_equal(parse_date("Sun, 30 Feb 1994 08:49:37 GMT", &t), -1);
	assert_int_equal(parse_date("Thu, 29 Feb 1900 00:00:00 GMT", &t), -1);
	assert_int_equal(parse_date("Sun, 00 Nov 1994 08:49:37 GMT", &t), -1);
	assert_int_equal(parse_date("Sun, 32 Nov 1994 08:49:37 GMT", &t), -1);
	assert_int_equal(parse_date("Sun, 06 Nov 1994 24:00:00 GMT", &t), -1);
	assert_int_equal(parse_date("Sun, 06 Nov 1994 08:60:00 GMT", &t), -1);
	assert_int_equal(parse_date("Sun, 06 Nov 1994 08:49:61 GMT", &t), -1);
	assert_int_equal(parse_date("Sun, 06 Nov 19a4 08:49:37 GMT", &t), -1);
	assert_int_equal(parse_date("Sun,06 Nov 1994 08:49:37 GMT ", &t), -1);
	assert_int_equal(parse_date("Sun, 06 Nov 1994 08-49-37 GMT", &t), -1);
	assert_int_equal(parse_date("Sunday, 06-Nov-94 08:49:37 UTC", &t), -1);
	assert_int_equal(parse_date("Sun Nov 31 08:49:37 1994", &t), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(req_simple_get),
		cmocka_unit_test(req_target_forms),
		cmocka_unit_test(req_methods_are_tokens),
		cmocka_unit_test(req_http10_without_host),
		cmocka_unit_test(req_value_ows_trimmed),
		cmocka_unit_test(req_value_htab_and_obs_text),
		cmocka_unit_test(req_long_values),
		cmocka_unit_test(req_leading_crlf_skipped),
		cmocka_unit_test(req_leading_bare_lf_bad),
		cmocka_unit_test(req_content_length),
		cmocka_unit_test(req_content_length_max),
		cmocka_unit_test(req_chunked),
		cmocka_unit_test(req_connection_flags),
		cmocka_unit_test(req_expect_continue),
		cmocka_unit_test(req_pipelined),
		cmocka_unit_test(req_incomplete_every_split),
		cmocka_unit_test(req_bad_found_while_incomplete),
		cmocka_unit_test(reject_cl_and_te),
		cmocka_unit_test(reject_te_and_cl),
		cmocka_unit_test(reject_two_cl_fields_equal),
		cmocka_unit_test(reject_two_cl_fields_different),
		cmocka_unit_test(reject_cl_list),
		cmocka_unit_test(reject_cl_empty),
		cmocka_unit_test(reject_cl_signed),
		cmocka_unit_test(reject_cl_non_digit),
		cmocka_unit_test(reject_te_not_chunked),
		cmocka_unit_test(reject_te_list),
		cmocka_unit_test(reject_te_not_implemented_while_incomplete),
		cmocka_unit_test(reject_framing_lookalikes),
		cmocka_unit_test(reject_te_empty),
		cmocka_unit_test(reject_te_twice),
		cmocka_unit_test(reject_te_http10),
		cmocka_unit_test(reject_obs_fold),
		cmocka_unit_test(reject_space_before_first_field),
		cmocka_unit_test(reject_bare_cr),
		cmocka_unit_test(reject_bare_lf),
		cmocka_unit_test(reject_nul_in_value),
		cmocka_unit_test(reject_nul_in_name),
		cmocka_unit_test(reject_control_in_value),
		cmocka_unit_test(reject_whitespace_before_colon),
		cmocka_unit_test(reject_non_token_method),
		cmocka_unit_test(reject_empty_method),
		cmocka_unit_test(reject_non_token_name),
		cmocka_unit_test(reject_empty_name),
		cmocka_unit_test(reject_field_without_colon),
		cmocka_unit_test(reject_target_control),
		cmocka_unit_test(reject_target_space),
		cmocka_unit_test(reject_no_version),
		cmocka_unit_test(reject_bad_version),
		cmocka_unit_test(reject_missing_host_http11),
		cmocka_unit_test(reject_two_hosts),
		cmocka_unit_test(limit_request_line_at_limit),
		cmocka_unit_test(limit_request_line_over),
		cmocka_unit_test(limit_request_line_over_while_incomplete),
		cmocka_unit_test(limit_request_line_leading_crlf_not_counted),
		cmocka_unit_test(limit_header_block_at_limit),
		cmocka_unit_test(limit_header_block_over),
		cmocka_unit_test(limit_header_block_over_while_incomplete),
		cmocka_unit_test(limit_header_block_counts_leading_crlf),
		cmocka_unit_test(limit_fields_at_limit),
		cmocka_unit_test(limit_fields_over),
		cmocka_unit_test(limit_fields_over_while_incomplete),
		cmocka_unit_test(limit_fields_bounded_by_array),
		cmocka_unit_test(limit_defaults_when_null),
		cmocka_unit_test(resp_simple),
		cmocka_unit_test(resp_reason_forms),
		cmocka_unit_test(resp_reason_control_bad),
		cmocka_unit_test(resp_status_range),
		cmocka_unit_test(resp_bad_version),
		cmocka_unit_test(resp_chunked),
		cmocka_unit_test(resp_close_delimited),
		cmocka_unit_test(resp_no_body_statuses),
		cmocka_unit_test(resp_head_request),
		cmocka_unit_test(resp_reject_cl_and_te),
		cmocka_unit_test(resp_reject_te_not_chunked),
		cmocka_unit_test(resp_reject_bad_cl),
		cmocka_unit_test(resp_reject_obs_fold_and_bare_cr),
		cmocka_unit_test(resp_host_not_special),
		cmocka_unit_test(resp_status_line_limit),
		cmocka_unit_test(resp_head_limits),
		cmocka_unit_test(resp_incomplete_every_split),
		cmocka_unit_test(chunked_simple),
		cmocka_unit_test(chunked_every_split),
		cmocka_unit_test(chunked_one_byte_at_a_time),
		cmocka_unit_test(chunked_extensions),
		cmocka_unit_test(chunked_extension_control_bad),
		cmocka_unit_test(chunked_trailers),
		cmocka_unit_test(chunked_trailer_obs_fold_bad),
		cmocka_unit_test(chunked_trailers_limit),
		cmocka_unit_test(chunked_zero_size_only),
		cmocka_unit_test(chunked_uppercase_hex),
		cmocka_unit_test(chunked_huge_size),
		cmocka_unit_test(chunked_too_many_digits),
		cmocka_unit_test(chunked_no_digits),
		cmocka_unit_test(chunked_bad_size_line_end),
		cmocka_unit_test(chunked_missing_crlf_after_data),
		cmocka_unit_test(chunked_bare_lf_after_data),
		cmocka_unit_test(chunked_final_crlf_required),
		cmocka_unit_test(chunked_size_line_limit),
		cmocka_unit_test(chunked_rest_bytes),
		cmocka_unit_test(chunked_bad_is_sticky),
		cmocka_unit_test(chunked_empty_input),
		cmocka_unit_test(chunked_data_across_calls),
		cmocka_unit_test(find_case_insensitive),
		cmocka_unit_test(hop_by_hop_fixed),
		cmocka_unit_test(hop_by_hop_proxy_prefix),
		cmocka_unit_test(hop_by_hop_connection_listed),
		cmocka_unit_test(date_format_known),
		cmocka_unit_test(date_parse_known),
		cmocka_unit_test(date_round_trip),
		cmocka_unit_test(date_parse_rejects),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	free(heap);
	return failed;
}
