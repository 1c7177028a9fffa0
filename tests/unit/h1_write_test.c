/*
 * h1_write_test.c — the one HTTP/1.1 response-head writer (src/http/h1_write.c) and the status table
 * (src/http/status.c): status lines, the framing of HEAD/204/304/1xx answers, chunked against
 * Content-Length, the connection fields for HTTP/1.0 and 1.1 viewers, for an origin's responses and for
 * sekisho's own.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/h1.h"

#define MAX_H 32

static struct sk_slice sl(const char *s)
{
	return (struct sk_slice){ .ptr = s, .len = strlen(s) };
}

struct resp_fx {
	struct sk_h1_response resp;
	struct sk_http_field h[MAX_H];
};

static void resp_init(struct resp_fx *fx, int status, const char *reason_phrase, ...)
{
	memset(fx, 0, sizeof(*fx));
	fx->resp.status = status;
	fx->resp.reason = sl(reason_phrase);
	fx->resp.minor_version = 1;
	fx->resp.headers = fx->h;
	va_list ap;
	va_start(ap, reason_phrase);
	const char *n;
	while ((n = va_arg(ap, const char *))) {
		const char *v = va_arg(ap, const char *);
		assert_true(fx->resp.n_headers < MAX_H);
		fx->h[fx->resp.n_headers++] = (struct sk_http_field){ .name = sl(n), .value = sl(v) };
	}
	va_end(ap);
}

/* ---------------------------------------------------------------------------------------------- */
/* Head inspection. */

#include "headcheck.h"

/* ---------------------------------------------------------------------------------------------- */
/* An origin's responses. */


/* An origin's response as the exchange describes it, with how the viewer gets it. */
struct sk_fwd_response {
	const struct sk_h1_response *resp;
	bool keep_alive;          /* keep the viewer connection open afterwards */
	bool viewer_http10;       /* the viewer spoke HTTP/1.0 */
	bool upgrade;             /* a 101 for a tunnel */
	enum sk_http_body body;   /* framing sent: NONE, LENGTH, CHUNKED or CLOSE */
	uint64_t content_length;
};

static ssize_t write_origin(const struct sk_fwd_response *f, char *out, size_t cap)
{
	struct sk_http_response r = {
		.status = f->resp->status,
		.reason = f->resp->reason,
		.fields = f->resp->headers,
		.n_fields = f->resp->n_headers,
		.from_origin = true,
		.upgrade = f->upgrade,
		.body = f->body,
		.length = f->content_length,
	};
	struct sk_h1_wopts o = { .keep_alive = f->keep_alive, .http10 = f->viewer_http10, .framing = f->body };
	return sk_h1_write_head(&r, &o, out, cap);
}

static ssize_t resp_head(const struct sk_fwd_response *f)
{
	memset(head, 0, sizeof(head));
	ssize_t n = write_origin(f, head, sizeof(head) - 1);
	if (n >= 0)
		assert_well_formed(head, n);
	return n;
}

static void test_response_basic(void **state)
{
	struct resp_fx fx;
	resp_init(&fx, 200, "Fine Thanks", "Content-Type", "text/plain", "content-length", "11",
		  "Set-Cookie", "a=1", "Server", "app", NULL);
	fx.resp.body = SK_BODY_LENGTH;
	fx.resp.content_length = 11;
	struct sk_fwd_response f = { .resp = &fx.resp, .keep_alive = true, .body = SK_BODY_LENGTH,
				     .content_length = 11 };
	assert_true(resp_head(&f) > 0);
	assert_memory_equal(head, "HTTP/1.1 200 Fine Thanks\r\n", 26);
	assert_true(has_line(head, "Content-Type: text/plain"));
	assert_true(has_line(head, "Set-Cookie: a=1"));
	assert_true(has_line(head, "Server: app"));
	assert_int_equal(count_line(head, "Content-Length: 11"), 1);
	assert_false(has_line(head, "content-length: 11"));
	assert_false(has_field(head, "Connection"));

	/* An empty reason keeps the space after the code (RFC 9112 §4). */
	resp_init(&fx, 404, "", NULL);
	f.body = SK_BODY_LENGTH;
	f.content_length = 0;
	assert_true(resp_head(&f) > 0);
	assert_memory_equal(head, "HTTP/1.1 404 \r\n", 15);
}

static void test_response_hop_by_hop(void **state)
{
	struct resp_fx fx;
	resp_init(&fx, 200, "OK", "Connection", "keep-alive, X-Internal", "Keep-Alive", "timeout=5",
		  "X-Internal", "secret", "Transfer-Encoding", "chunked", "Trailer", "X-Sum",
		  "Proxy-Authenticate", "Basic", "Upgrade", "h2c", "X-Kept", "1", NULL);
	struct sk_fwd_response f = { .resp = &fx.resp, .keep_alive = true, .body = SK_BODY_CHUNKED };
	assert_true(resp_head(&f) > 0);
	const char *gone[] = { "Connection", "Keep-Alive", "X-Internal", "Trailer",
			       "Proxy-Authenticate", "Upgrade" };
	for (size_t i = 0; i < SK_ARRAY_LEN(gone); i++)
		assert_false(has_field(head, gone[i]));
	assert_int_equal(count_line(head, "Transfer-Encoding: chunked"), 1);
	assert_true(has_line(head, "X-Kept: 1"));
}

static void test_response_framing(void **state)
{
	struct resp_fx fx;
	struct sk_fwd_response f = { .resp = &fx.resp, .keep_alive = true };

	/* Chunked from the origin, rebuilt as a length (e.g. after buffering a small body). */
	resp_init(&fx, 200, "OK", "Transfer-Encoding", "chunked", NULL);
	f.body = SK_BODY_LENGTH;
	f.content_length = 7;
	assert_true(resp_head(&f) > 0);
	assert_true(has_line(head, "Content-Length: 7"));
	assert_false(has_field(head, "Transfer-Encoding"));

	/* A length from the origin, sent chunked. */
	resp_init(&fx, 200, "OK", "Content-Length", "7", NULL);
	f.body = SK_BODY_CHUNKED;
	assert_true(resp_head(&f) > 0);
	assert_true(has_line(head, "Transfer-Encoding: chunked"));
	assert_false(has_field(head, "Content-Length"));

	/* Read-until-close: no framing field, and the viewer connection closes. */
	resp_init(&fx, 200, "OK", NULL);
	f.body = SK_BODY_CLOSE;
	f.keep_alive = false;
	assert_true(resp_head(&f) > 0);
	assert_false(has_field(head, "Content-Length"));
	assert_false(has_field(head, "Transfer-Encoding"));
	assert_true(has_line(head, "Connection: close"));

	/* HEAD response: the origin's Content-Length describes the representation and passes as is. */
	resp_init(&fx, 200, "OK", "Content-Length", "123456", NULL);
	f.body = SK_BODY_NONE;
	f.keep_alive = true;
	assert_true(resp_head(&f) > 0);
	assert_int_equal(count_line(head, "Content-Length: 123456"), 1);

	/* 304: same. */
	resp_init(&fx, 304, "Not Modified", "Content-Length", "99", "ETag", "\"x\"", NULL);
	assert_true(resp_head(&f) > 0);
	assert_true(has_line(head, "Content-Length: 99"));
	assert_true(has_line(head, "ETag: \"x\""));

	/* 204 must not carry one. */
	resp_init(&fx, 204, "No Content", "Content-Length", "0", NULL);
	assert_true(resp_head(&f) > 0);
	assert_false(has_field(head, "Content-Length"));
	assert_false(has_field(head, "Transfer-Encoding"));

	/* Nor a 1xx. */
	resp_init(&fx, 103, "Early Hints", "Link", "</a.css>; rel=preload", "Content-Length", "0",
		  NULL);
	assert_true(resp_head(&f) > 0);
	assert_false(has_field(head, "Content-Length"));
	assert_true(has_line(head, "Link: </a.css>; rel=preload"));
}

static void test_response_connection(void **state)
{
	struct resp_fx fx;
	resp_init(&fx, 200, "OK", "Connection", "close", NULL);
	struct sk_fwd_response f = { .resp = &fx.resp, .keep_alive = true, .body = SK_BODY_LENGTH,
				     .content_length = 0 };
	assert_true(resp_head(&f) > 0);
	assert_false(has_field(head, "Connection"));

	f.keep_alive = false;
	assert_true(resp_head(&f) > 0);
	assert_int_equal(count_line(head, "Connection: close"), 1);

	f.keep_alive = false;
	f.viewer_http10 = true;
	assert_true(resp_head(&f) > 0);
	assert_true(has_line(head, "Connection: close"));

	f.keep_alive = true;
	assert_true(resp_head(&f) > 0);
	assert_int_equal(count_line(head, "Connection: keep-alive"), 1);
	assert_false(has_line(head, "Connection: close"));
}

static void test_response_upgrade(void **state)
{
	struct resp_fx fx;
	resp_init(&fx, 101, "Switching Protocols", "Upgrade", "websocket", "Connection", "Upgrade",
		  "Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", NULL);
	struct sk_fwd_response f = { .resp = &fx.resp, .keep_alive = true, .upgrade = true,
				     .body = SK_BODY_NONE };
	assert_true(resp_head(&f) > 0);
	assert_memory_equal(head, "HTTP/1.1 101 Switching Protocols\r\n", 34);
	assert_int_equal(count_line(head, "Upgrade: websocket"), 1);
	assert_int_equal(count_line(head, "Connection: upgrade"), 1);
	assert_false(has_line(head, "Connection: Upgrade"));
	assert_true(has_line(head, "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
	assert_false(has_field(head, "Content-Length"));

	/* Without upgrade the same fields are hop-by-hop and go. */
	f.upgrade = false;
	assert_true(resp_head(&f) > 0);
	assert_false(has_field(head, "Upgrade"));
}

static void test_response_too_small(void **state)
{
	struct resp_fx fx;
	resp_init(&fx, 200, "OK", "Content-Type", "text/html", "X-A", "b", NULL);
	struct sk_fwd_response f = { .resp = &fx.resp, .keep_alive = false, .body = SK_BODY_LENGTH,
				     .content_length = 1000 };
	ssize_t full = resp_head(&f);
	assert_true(full > 0);
	for (size_t cap = 0; cap < (size_t)full; cap++) {
		char *buf = malloc(cap ? cap : 1);
		assert_int_equal(write_origin(&f, buf, cap), -1);
		free(buf);
	}
	char *buf = malloc((size_t)full);
	assert_int_equal(write_origin(&f, buf, (size_t)full), full);
	assert_memory_equal(buf, head, (size_t)full);
	free(buf);
}

/* ---------------------------------------------------------------------------------------------- */
/* sekisho's own responses. */

static struct sk_http_field own_fields[4];

/* A reply of status with a Content-Type and a body of blen bytes, written for the viewer. */
static ssize_t own_head(int status, enum sk_http_body body, uint64_t blen, bool keep_alive, bool http10)
{
	own_fields[0] = (struct sk_http_field){ .name = sl("Content-Type"), .value = sl("text/html; charset=utf-8") };
	own_fields[1] = (struct sk_http_field){ .name = sl("Cache-Control"), .value = sl("no-store") };
	/* A field an origin's response would lose (hop-by-hop): sekisho's own fields are written as they are. */
	own_fields[2] = (struct sk_http_field){ .name = sl("Proxy-Authenticate"), .value = sl("Basic realm=\"x\"") };
	struct sk_http_response r = { .status = status, .fields = own_fields, .n_fields = 3, .body = body, .length = blen };
	struct sk_h1_wopts o = { .keep_alive = keep_alive, .http10 = http10, .framing = sk_h1_framing(&r, http10) };
	memset(head, 0, sizeof(head));
	ssize_t n = sk_h1_write_head(&r, &o, head, sizeof(head) - 1);
	if (n >= 0)
		assert_well_formed(head, n);
	return n;
}

static void test_own_status_line_from_the_table(void **state)
{
	static const struct { int status; const char *line; } cases[] = {
		{ 200, "HTTP/1.1 200 OK" },
		{ 302, "HTTP/1.1 302 Found" },
		{ 400, "HTTP/1.1 400 Bad Request" },
		{ 401, "HTTP/1.1 401 Unauthorized" },
		{ 407, "HTTP/1.1 407 Proxy Authentication Required" },
		{ 413, "HTTP/1.1 413 Content Too Large" },
		{ 421, "HTTP/1.1 421 Misdirected Request" },
		{ 429, "HTTP/1.1 429 Too Many Requests" },
		{ 431, "HTTP/1.1 431 Request Header Fields Too Large" },
		{ 501, "HTTP/1.1 501 Not Implemented" },
		{ 504, "HTTP/1.1 504 Gateway Timeout" },
		{ 599, "HTTP/1.1 599 Error" },
	};
	for (size_t i = 0; i < SK_ARRAY_LEN(cases); i++) {
		assert_true(own_head(cases[i].status, SK_BODY_LENGTH, 5, true, false) > 0);
		assert_memory_equal(head, cases[i].line, strlen(cases[i].line));
		assert_memory_equal(head + strlen(cases[i].line), "\r\n", 2);
	}
	assert_int_equal(own_head(99, SK_BODY_NONE, 0, true, false), -1);
	assert_int_equal(own_head(1000, SK_BODY_NONE, 0, true, false), -1);
}

static void test_own_fields_and_framing(void **state)
{
	assert_true(own_head(403, SK_BODY_LENGTH, 57, true, false) > 0);
	assert_true(has_line(head, "Content-Type: text/html; charset=utf-8"));
	assert_true(has_line(head, "Cache-Control: no-store"));
	assert_true(has_line(head, "Proxy-Authenticate: Basic realm=\"x\""));
	assert_int_equal(count_line(head, "Content-Length: 57"), 1);
	assert_false(has_field(head, "Transfer-Encoding"));
	assert_false(has_field(head, "Connection"));

	/* A body of unknown length: chunked to HTTP/1.1, read-until-close to HTTP/1.0. */
	assert_true(own_head(200, SK_BODY_CHUNKED, 0, true, false) > 0);
	assert_int_equal(count_line(head, "Transfer-Encoding: chunked"), 1);
	assert_false(has_field(head, "Content-Length"));
	struct sk_http_response r = { .status = 200, .body = SK_BODY_CHUNKED };
	assert_int_equal(sk_h1_framing(&r, false), SK_BODY_CHUNKED);
	assert_int_equal(sk_h1_framing(&r, true), SK_BODY_CLOSE);
	r.body = SK_BODY_LENGTH;
	assert_int_equal(sk_h1_framing(&r, true), SK_BODY_LENGTH);
	r.body = SK_BODY_NONE;
	assert_int_equal(sk_h1_framing(&r, false), SK_BODY_NONE);
	r.body = SK_BODY_CLOSE;
	assert_int_equal(sk_h1_framing(&r, false), SK_BODY_CLOSE);

	/* A 304 or 204 of sekisho's carries no framing field. */
	assert_true(own_head(304, SK_BODY_NONE, 0, true, false) > 0);
	assert_false(has_field(head, "Content-Length"));
	assert_false(has_field(head, "Transfer-Encoding"));
	assert_true(own_head(204, SK_BODY_NONE, 0, true, false) > 0);
	assert_false(has_field(head, "Content-Length"));
}

static void test_own_connection_fields(void **state)
{
	/* HTTP/1.1: keep-alive is the default (nothing said); a close is announced. */
	assert_true(own_head(404, SK_BODY_LENGTH, 3, true, false) > 0);
	assert_false(has_field(head, "Connection"));
	assert_true(own_head(404, SK_BODY_LENGTH, 3, false, false) > 0);
	assert_int_equal(count_line(head, "Connection: close"), 1);
	/* HTTP/1.0: keep-alive must be said; a close is said too. */
	assert_true(own_head(404, SK_BODY_LENGTH, 3, true, true) > 0);
	assert_int_equal(count_line(head, "Connection: keep-alive"), 1);
	assert_true(own_head(404, SK_BODY_LENGTH, 3, false, true) > 0);
	assert_int_equal(count_line(head, "Connection: close"), 1);
	assert_false(has_line(head, "Connection: keep-alive"));
	/* The status line says HTTP/1.1 to both (RFC 9110 §2.5). */
	assert_memory_equal(head, "HTTP/1.1 404 Not Found\r\n", 24);
}

/* A 2xx to CONNECT (RFC 9110 §9.3.6): the status line and nothing else, whatever keep-alive says. */
static void test_connect_tunnel(void **state)
{
	for (int ka = 0; ka < 2; ka++) {
		struct sk_http_response r = { .status = 200, .body = SK_BODY_NONE, .tunnel = true };
		struct sk_h1_wopts o = { .keep_alive = ka, .framing = sk_h1_framing(&r, false) };
		memset(head, 0, sizeof(head));
		ssize_t n = sk_h1_write_head(&r, &o, head, sizeof(head) - 1);
		assert_int_equal(n, (ssize_t)strlen("HTTP/1.1 200 OK\r\n\r\n"));
		assert_string_equal(head, "HTTP/1.1 200 OK\r\n\r\n");
	}
}

static void test_chunk_line(void **state)
{
	char line[24];
	assert_int_equal(sk_h1_chunk_line(line, 0), 3);
	assert_memory_equal(line, "0\r\n", 3);
	assert_int_equal(sk_h1_chunk_line(line, 255), 4);
	assert_memory_equal(line, "ff\r\n", 4);
	assert_int_equal(sk_h1_chunk_line(line, UINT64_MAX), 18);
	assert_memory_equal(line, "ffffffffffffffff\r\n", 18);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_response_basic),
		cmocka_unit_test(test_connect_tunnel),
		cmocka_unit_test(test_response_hop_by_hop),
		cmocka_unit_test(test_response_framing),
		cmocka_unit_test(test_response_connection),
		cmocka_unit_test(test_response_upgrade),
		cmocka_unit_test(test_response_too_small),
		cmocka_unit_test(test_own_status_line_from_the_table),
		cmocka_unit_test(test_own_fields_and_framing),
		cmocka_unit_test(test_own_connection_fields),
		cmocka_unit_test(test_chunk_line),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
