/*
 * h2_write_test.c — the one HTTP/2 response-head writer (src/http/h2_write.c): ":status" first, names
 * lower-cased, an origin's hop-by-hop fields dropped by the filter the HTTP/1.1 writer uses (msg.c), the
 * framing as content-length or nothing, and the bounds of the caller's arrays.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "http/h2.h"

static struct sk_http_field fields[16];
static nghttp2_nv nv[20];
static char scratch[4096];

static struct sk_http_response resp(int status, bool from_origin, enum sk_http_body body, uint64_t len, ...)
{
	struct sk_http_response r = { .status = status, .from_origin = from_origin, .body = body, .length = len,
				      .fields = fields };
	va_list ap;
	va_start(ap, len);
	const char *n;
	while ((n = va_arg(ap, const char *))) {
		const char *v = va_arg(ap, const char *);
		fields[r.n_fields++] = (struct sk_http_field){ .name = { n, strlen(n) }, .value = { v, strlen(v) } };
	}
	va_end(ap);
	return r;
}

/* The value of name in nv[0..n), or NULL; asserts it appears at most once. */
static const char *value_of(ssize_t n, const char *name)
{
	static char out[256];
	const char *found = NULL;
	for (ssize_t i = 0; i < n; i++) {
		if (nv[i].namelen == strlen(name) && memcmp(nv[i].name, name, nv[i].namelen) == 0) {
			assert_null(found);
			snprintf(out, sizeof(out), "%.*s", (int)nv[i].valuelen, (const char *)nv[i].value);
			found = out;
		}
	}
	return found;
}

static void test_origin_fields_filtered_and_lower_cased(void **state)
{
	struct sk_http_response r = resp(200, true, SK_BODY_CHUNKED, 0, "Content-Type", "text/plain", "Connection",
					 "close, X-Hop", "X-Hop", "1", "Keep-Alive", "timeout=5", "Transfer-Encoding",
					 "chunked", "Upgrade", "h2c", "Proxy-Authenticate", "Basic", "TE", "trailers",
					 "X-Kept", "yes", "Set-Cookie", "a=1", "Set-Cookie", "b=2", NULL);
	ssize_t n = sk_h2_write_head(&r, nv, 20, scratch, sizeof(scratch));
	assert_int_equal(n, 5);
	assert_int_equal(nv[0].namelen, 7);
	assert_memory_equal(nv[0].name, ":status", 7);
	assert_string_equal(value_of(n, ":status"), "200");
	assert_string_equal(value_of(n, "content-type"), "text/plain");
	assert_string_equal(value_of(n, "x-kept"), "yes");
	assert_memory_equal(nv[3].name, "set-cookie", 10);
	assert_memory_equal(nv[4].name, "set-cookie", 10);
	/* An unknown length needs no field: END_STREAM ends the body. */
	assert_null(value_of(n, "content-length"));
	for (ssize_t i = 0; i < n; i++)
		for (size_t k = 0; k < nv[i].namelen; k++)
			assert_false(nv[i].name[k] >= 'A' && nv[i].name[k] <= 'Z');
}

static void test_framing(void **state)
{
	/* A known length: content-length from the description, never the origin's own field. */
	struct sk_http_response r = resp(200, true, SK_BODY_LENGTH, 1234, "Content-Length", "99", NULL);
	ssize_t n = sk_h2_write_head(&r, nv, 20, scratch, sizeof(scratch));
	assert_int_equal(n, 2);
	assert_string_equal(value_of(n, "content-length"), "1234");
	/* A bodiless answer that describes a body (HEAD, 304) keeps the origin's. */
	r = resp(304, true, SK_BODY_NONE, 0, "Content-Length", "42", "ETag", "\"x\"", NULL);
	n = sk_h2_write_head(&r, nv, 20, scratch, sizeof(scratch));
	assert_string_equal(value_of(n, "content-length"), "42");
	assert_string_equal(value_of(n, ":status"), "304");
	/* 204 never. */
	r = resp(204, true, SK_BODY_NONE, 0, "Content-Length", "0", NULL);
	n = sk_h2_write_head(&r, nv, 20, scratch, sizeof(scratch));
	assert_int_equal(n, 1);
	/* sekisho's own answer: its length, and a zero is written. */
	r = resp(404, false, SK_BODY_LENGTH, 0, "Content-Type", "text/html", NULL);
	n = sk_h2_write_head(&r, nv, 20, scratch, sizeof(scratch));
	assert_string_equal(value_of(n, "content-length"), "0");
	assert_string_equal(value_of(n, "content-type"), "text/html");
}

static void test_bounds(void **state)
{
	struct sk_http_response r = resp(200, false, SK_BODY_LENGTH, 5, "A", "1", "B", "2", "C", "3", NULL);
	assert_int_equal(sk_h2_write_head(&r, nv, 5, scratch, sizeof(scratch)), 5);
	assert_int_equal(sk_h2_write_head(&r, nv, 4, scratch, sizeof(scratch)), -1); /* no room for content-length */
	assert_int_equal(sk_h2_write_head(&r, nv, 20, scratch, 10), -1);
	r.status = 1000;
	assert_int_equal(sk_h2_write_head(&r, nv, 20, scratch, sizeof(scratch)), -1);
	r.status = 99;
	assert_int_equal(sk_h2_write_head(&r, nv, 20, scratch, sizeof(scratch)), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_origin_fields_filtered_and_lower_cased),
		cmocka_unit_test(test_framing),
		cmocka_unit_test(test_bounds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
