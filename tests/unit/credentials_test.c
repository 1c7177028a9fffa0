/*
 * credentials_test.c — strict base64 and the reading of Basic / Bearer / X-Api-Key credentials.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "access/credentials.h"

static ssize_t dec(const char *in, char *out, size_t cap)
{
	return sk_base64_decode(in, strlen(in), out, cap);
}

static void test_base64(void **state)
{
	char out[16];
	assert_int_equal(dec("YWJj", out, sizeof(out)), 3);
	assert_memory_equal(out, "abc", 3);
	assert_int_equal(dec("YWI=", out, sizeof(out)), 2);
	assert_int_equal(dec("YQ==", out, sizeof(out)), 1);
	assert_int_equal(dec("", out, sizeof(out)), -1);      /* nothing */
	assert_int_equal(dec("YWJ", out, sizeof(out)), -1);   /* not a multiple of 4 */
	assert_int_equal(dec("Y===", out, sizeof(out)), -1);  /* too much padding */
	assert_int_equal(dec("YQ=a", out, sizeof(out)), -1);  /* data after padding */
	assert_int_equal(dec("YQ==YWJj", out, sizeof(out)), -1); /* padding in the middle */
	assert_int_equal(dec("YW!j", out, sizeof(out)), -1);  /* not the alphabet */
	assert_int_equal(dec("YWJjYWJj", out, 5), -1);        /* does not fit */
}

static struct sk_http_request req;
static struct sk_http_field hdrs[4];

static void one(const char *name, const char *value)
{
	hdrs[req.n_headers].name = (struct sk_slice){ .ptr = name, .len = strlen(name) };
	hdrs[req.n_headers].value = (struct sk_slice){ .ptr = value, .len = strlen(value) };
	req.n_headers++;
}

static void reset(void)
{
	memset(&req, 0, sizeof(req));
	req.headers = hdrs;
}

static void test_basic(void **state)
{
	struct sk_cred c;
	reset();
	one("authorization", "bAsIc   YWxpY2U6czNjcjp0IHB3"); /* alice:s3cr:t pw */
	sk_cred_read(&req, true, true, &c);
	assert_int_equal(c.kind, SK_CRED_BASIC);
	assert_true(sk_slice_eq(c.user, "alice"));
	assert_true(sk_slice_eq(c.password, "s3cr:t pw")); /* only the first colon splits */

	reset();
	one("Authorization", "Basic Ojp4"); /* "::x": empty user */
	sk_cred_read(&req, true, false, &c);
	assert_int_equal(c.kind, SK_CRED_MALFORMED);

	reset();
	one("Authorization", "Basic YQBiOmM="); /* "a\0b:c": a control byte */
	sk_cred_read(&req, true, false, &c);
	assert_int_equal(c.kind, SK_CRED_MALFORMED);

	reset();
	one("Authorization", "Basic YWxpY2U6");
	one("Authorization", "Basic YWxpY2U6");
	sk_cred_read(&req, true, false, &c);
	assert_int_equal(c.kind, SK_CRED_MALFORMED); /* several Authorization fields */
}

static void test_tokens_and_kinds(void **state)
{
	struct sk_cred c;
	reset();
	one("Authorization", "Bearer sk_abc");
	sk_cred_read(&req, true, true, &c);
	assert_int_equal(c.kind, SK_CRED_TOKEN);
	assert_true(sk_slice_eq(c.token, "sk_abc"));
	/* A Bearer token on a Basic-only behavior counts as no credentials (a 401 challenge follows). */
	sk_cred_read(&req, true, false, &c);
	assert_int_equal(c.kind, SK_CRED_NONE);

	reset();
	one("X-API-KEY", "sk_def");
	sk_cred_read(&req, false, true, &c);
	assert_int_equal(c.kind, SK_CRED_TOKEN);
	assert_true(sk_slice_eq(c.token, "sk_def"));

	reset();
	one("X-Api-Key", "has space");
	sk_cred_read(&req, false, true, &c);
	assert_int_equal(c.kind, SK_CRED_MALFORMED);

	reset();
	one("Authorization", "Digest username=\"a\"");
	sk_cred_read(&req, true, true, &c);
	assert_int_equal(c.kind, SK_CRED_MALFORMED);

	reset();
	sk_cred_read(&req, true, true, &c);
	assert_int_equal(c.kind, SK_CRED_NONE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_base64),
		cmocka_unit_test(test_basic),
		cmocka_unit_test(test_tokens_and_kinds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
