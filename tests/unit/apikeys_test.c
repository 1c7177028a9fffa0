/*
 * apikeys_test.c — the API-key store (src/access/apikeys.c): key generation (format, alphabet,
 * uniqueness), SHA-256 digests, a create → lookup → revoke round trip through the library (the text the
 * CLI writes, parsed back), and errors with file:line:col that never quote a digest.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "access/apikeys.h"

/* SHA-256("test"), the example of DESIGN §7. */
#define TEST_SHA "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

static struct sk_apikeys *parse(const char *text, struct sk_err *err)
{
	memset(err, 0, sizeof(*err));
	return sk_apikeys_parse("keys.yaml", text, strlen(text), err);
}

static void generate(void **state)
{
	char a[SK_APIKEY_LEN + 1], b[SK_APIKEY_LEN + 1];
	assert_int_equal(SK_APIKEY_LEN, 43);
	assert_int_equal(sk_apikey_generate(a), 0);
	assert_int_equal(sk_apikey_generate(b), 0);
	assert_int_equal(strlen(a), 43);
	assert_memory_equal(a, "sk_", 3);
	for (size_t i = 3; i < SK_APIKEY_LEN; i++)
		assert_non_null(strchr("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", a[i]));
	assert_string_not_equal(a, b);
	/* Every base62 character turns up over a few thousand draws (a skewed mapping would miss some). */
	int seen[128] = { 0 };
	for (int k = 0; k < 200; k++) {
		assert_int_equal(sk_apikey_generate(a), 0);
		for (size_t i = 3; i < SK_APIKEY_LEN; i++)
			seen[(unsigned char)a[i]]++;
	}
	for (const char *c = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"; *c; c++)
		assert_true(seen[(unsigned char)*c] > 0);
}

static void digest(void **state)
{
	uint8_t d[32];
	char hex[65];
	sk_apikey_digest("test", 4, d);
	sk_apikey_hex(d, hex);
	assert_string_equal(hex, TEST_SHA);
}

static void load_and_find(void **state)
{
	const char *text = "# keys\n"
			   "ci-bot: { sha256: \"" TEST_SHA "\", groups: [deployers], created: 2026-11-20, owner: alice }\n"
			   "legacy:\n"
			   "  sha256: 9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A09\n";
	struct sk_err err;
	struct sk_apikeys *k = parse(text, &err);
	assert_non_null(k);
	assert_int_equal(sk_apikeys_count(k), 2);
	const struct sk_apikey *ci = sk_apikeys_find(k, "test", 4);
	assert_non_null(ci);
	assert_string_equal(ci->name, "ci-bot");
	assert_int_equal(ci->line, 2);
	assert_true(sk_apikey_in_group(ci, "deployers"));
	assert_false(sk_apikey_in_group(ci, "admins"));
	assert_int_equal(ci->created, 1795132800); /* 2026-11-20T00:00:00Z */
	assert_string_equal(ci->owner, "alice");
	assert_null(sk_apikeys_find(k, "tes", 3));
	assert_null(sk_apikeys_find(k, "test ", 5));
	assert_null(sk_apikeys_find(k, "", 0));
	const struct sk_apikey *lg = sk_apikeys_by_name(k, "legacy");
	assert_non_null(lg);
	assert_null(lg->owner);
	assert_int_equal(lg->created, 0);
	assert_int_equal(lg->sha256[31], 0x09);
	assert_null(sk_apikeys_by_name(k, "nope"));
	sk_apikeys_free(k);
}

/* What `sekisho apikey create` appends for a fresh key. */
static void entry_line(char *out, size_t cap, const char *name, const char *key)
{
	uint8_t d[32];
	char hex[65];
	sk_apikey_digest(key, strlen(key), d);
	sk_apikey_hex(d, hex);
	snprintf(out, cap, "%s: { sha256: \"%s\", groups: [deployers, ops], created: 2026-11-20 }\n", name, hex);
}

static void round_trip(void **state)
{
	char k1[SK_APIKEY_LEN + 1], k2[SK_APIKEY_LEN + 1], l1[256], l2[256], text[1024];
	assert_int_equal(sk_apikey_generate(k1), 0);
	assert_int_equal(sk_apikey_generate(k2), 0);
	entry_line(l1, sizeof(l1), "one", k1);
	entry_line(l2, sizeof(l2), "two", k2);
	snprintf(text, sizeof(text), "# comment\n%s%s", l1, l2);
	struct sk_err err;
	struct sk_apikeys *k = parse(text, &err);
	assert_non_null(k);
	assert_string_equal(sk_apikeys_find(k, k1, strlen(k1))->name, "one");
	assert_string_equal(sk_apikeys_find(k, k2, strlen(k2))->name, "two");
	assert_true(sk_apikey_in_group(sk_apikeys_find(k, k2, strlen(k2)), "ops"));
	/* The digest, not the key, is what the file holds: presenting the digest is no key. */
	const char *hexpos = strstr(l1, "sha256: \"") + 9;
	assert_null(sk_apikeys_find(k, hexpos, 64));
	sk_apikeys_free(k);
	/* Revoked: the line is gone, so is the key; the other one still works. */
	snprintf(text, sizeof(text), "# comment\n%s", l2);
	k = parse(text, &err);
	assert_non_null(k);
	assert_null(sk_apikeys_find(k, k1, strlen(k1)));
	assert_non_null(sk_apikeys_find(k, k2, strlen(k2)));
	sk_apikeys_free(k);
	/* Many keys: every one found through the table. */
	size_t n = 2000, cap = n * 160;
	char *big = malloc(cap), (*keys)[SK_APIKEY_LEN + 1] = malloc(n * sizeof(*keys));
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		char name[16], line[256];
		snprintf(name, sizeof(name), "k%zu", i);
		assert_int_equal(sk_apikey_generate(keys[i]), 0);
		entry_line(line, sizeof(line), name, keys[i]);
		o += (size_t)snprintf(big + o, cap - o, "%s", line);
	}
	k = sk_apikeys_parse("keys.yaml", big, o, &err);
	assert_non_null(k);
	for (size_t i = 0; i < n; i++)
		assert_ptr_equal(sk_apikeys_find(k, keys[i], SK_APIKEY_LEN), sk_apikeys_at(k, i));
	sk_apikeys_free(k);
	free(big);
	free(keys);
}

static int failures;

static void expect_error(const char *text, int line, int col, const char *want)
{
	struct sk_err err;
	struct sk_apikeys *k = parse(text, &err);
	if (k || err.line != line || err.col != col || !strstr(err.msg, want)) {
		print_error("text: %s\ngot %s at %d:%d: %s\n", text, k ? "success" : "error", err.line, err.col, err.msg);
		sk_apikeys_free(k);
		failures++;
		return;
	}
	assert_null(strstr(err.msg, "9f86d0"));
}

static void errors(void **state)
{
	expect_error("a: { sha256: \"" TEST_SHA "\" }\nb: { sha256: \"" TEST_SHA "\", grops: [x] }\n", 2, 82,
		     "API key 'b': unknown key 'grops'");
	expect_error("a: { sha256: \"9f86\" }\n", 1, 14, "must be 64 hexadecimal digits");
	expect_error("a: { sha256: \"" TEST_SHA "\" }\nb: { sha256: \"" TEST_SHA "\" }\n", 2, 0,
		     "API key 'b' has the same sha256 as 'a' (line 1)");
	expect_error("a: { groups: [x] }\n", 1, 1, "API key 'a' needs 'sha256'");
	expect_error("\"a b\": { sha256: \"" TEST_SHA "\" }\n", 1, 1, "must be 1-64 of");
	expect_error("a: { sha256: \"" TEST_SHA "\", created: 20-11-2026 }\n", 1, 91, "must be a date");
	expect_error("a: { sha256: \"" TEST_SHA "\" }\na: { sha256: \"" TEST_SHA "\" }\n", 2, 1, "duplicate key");
	assert_int_equal(failures, 0);

	struct sk_err err;
	struct sk_apikeys *k = parse("", &err);
	assert_non_null(k);
	assert_int_equal(sk_apikeys_count(k), 0);
	assert_null(sk_apikeys_find(k, "test", 4));
	sk_apikeys_free(k);
	assert_null(sk_apikeys_load("/nonexistent/keys.yaml", &err));
	assert_non_null(strstr(err.msg, "cannot read"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(generate),
		cmocka_unit_test(digest),
		cmocka_unit_test(load_and_find),
		cmocka_unit_test(round_trip),
		cmocka_unit_test(errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
