/*
 * tls_test.c — the pure parts of src/tls: certificate-name matching (exact, one-label wildcard, any
 * case, trailing dot), SNI selection (exact beats wildcard, first match, default), days-left rounding,
 * and the session-ticket key ring (rotation period, previous key still decrypts, unknown names).
 * The ring is tested through tickets.c's own static functions (the file is included).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "tls/tickets.c"

static bool M(const char *pattern, const char *host)
{
	return sk_tls_name_match(pattern, host, strlen(host));
}

static void test_exact_names(void **state)
{
	(void)state;
	assert_true(M("a.example.com", "a.example.com"));
	assert_true(M("a.example.com", "A.Example.COM"));
	assert_true(M("A.EXAMPLE.com", "a.example.com"));
	assert_true(M("a.example.com", "a.example.com.")); /* a trailing dot on the host is ignored */
	assert_false(M("a.example.com", "b.example.com"));
	assert_false(M("a.example.com", "a.example.co"));
	assert_false(M("a.example.com", "xa.example.com"));
	assert_false(M("a.example.com", ""));
	assert_false(M("a.example.com", "."));
	assert_true(sk_tls_name_exact("a.example.com", "A.EXAMPLE.COM.", 14));
	assert_false(sk_tls_name_exact("*.example.com", "a.example.com", 13));
}

static void test_wildcards_cover_one_label(void **state)
{
	(void)state;
	assert_true(M("*.example.com", "a.example.com"));
	assert_true(M("*.example.com", "WWW.EXAMPLE.COM"));
	assert_true(M("*.Example.Com", "x-1.example.com."));
	assert_false(M("*.example.com", "example.com"));       /* no label */
	assert_false(M("*.example.com", ".example.com"));      /* an empty label */
	assert_false(M("*.example.com", "a.b.example.com"));   /* two labels */
	assert_false(M("*.example.com", "a.example.org"));
	assert_false(M("*.example.com", "aexample.com"));
	assert_false(M("*.example.com", "*.example.com"));     /* a host is never a pattern */
	/* Malformed or too broad patterns match nothing. */
	assert_false(M("*.com", "example.com"));
	assert_false(M("*", "example"));
	assert_false(M("a*.example.com", "ab.example.com"));
	assert_false(M("*a.example.com", "ba.example.com"));
	assert_false(M("a.*.example.com", "a.b.example.com"));
	assert_false(M("*.*.example.com", "a.b.example.com"));
	assert_false(M("**.example.com", "a.example.com"));
}

static void test_sni_pick(void **state)
{
	(void)state;
	const char *c0[] = { "b.test" };
	const char *c1[] = { "*.w.test", "w.test" };
	const char *c2[] = { "a.test", "x.w.test" };
	const char *const *names[] = { c0, c1, c2 };
	size_t n_names[] = { 1, 2, 2 };
	assert_int_equal(sk_tls_sni_pick(names, n_names, 3, "b.test"), 0);
	assert_int_equal(sk_tls_sni_pick(names, n_names, 3, "A.TEST"), 2);
	assert_int_equal(sk_tls_sni_pick(names, n_names, 3, "y.w.test"), 1);
	/* An exact name wins over a wildcard listed before it. */
	assert_int_equal(sk_tls_sni_pick(names, n_names, 3, "x.w.test"), 2);
	assert_int_equal(sk_tls_sni_pick(names, n_names, 3, "w.test"), 1);
	/* No match, no SNI, empty SNI: the first listed. */
	assert_int_equal(sk_tls_sni_pick(names, n_names, 3, "a.b.w.test"), 0);
	assert_int_equal(sk_tls_sni_pick(names, n_names, 3, "unknown"), 0);
	assert_int_equal(sk_tls_sni_pick(names, n_names, 3, NULL), 0);
	assert_int_equal(sk_tls_sni_pick(names, n_names, 3, ""), 0);
	/* The first of two certificates with the same name. */
	const char *const *twice[] = { c2, c2 };
	size_t n_twice[] = { 2, 2 };
	assert_int_equal(sk_tls_sni_pick(twice, n_twice, 2, "a.test"), 0);
}

static void test_days_left(void **state)
{
	(void)state;
	int64_t now = 1800000000;
	assert_int_equal(sk_tls_days_left(now + 30 * 86400, now), 30);
	assert_int_equal(sk_tls_days_left(now + 30 * 86400 - 1, now), 29);
	assert_int_equal(sk_tls_days_left(now, now), 0);
	assert_int_equal(sk_tls_days_left(now - 1, now), -1);
	assert_int_equal(sk_tls_days_left(now - 86400, now), -1);
	assert_int_equal(sk_tls_days_left(now - 86401, now), -2);
}

static void test_ticket_ring_rotation(void **state)
{
	(void)state;
	struct ticket_ring r = { 0 };
	struct ticket_key k;
	int64_t t0 = 1000000;
	assert_int_equal(ring_rotate(&r, t0, 100), 1); /* empty: filled at once */
	assert_true(r.cur.set);
	assert_false(r.prev.set);
	unsigned char first[16];
	memcpy(first, r.cur.name, 16);
	assert_int_equal(ring_find(&r, first, &k), 1);
	assert_int_equal(ring_rotate(&r, t0 + 99, 100), 0); /* not due */
	assert_memory_equal(r.cur.name, first, 16);
	assert_int_equal(ring_rotate(&r, t0 + 100, 100), 1);
	assert_memory_not_equal(r.cur.name, first, 16);
	assert_memory_equal(r.prev.name, first, 16);
	assert_int_equal(ring_find(&r, first, &k), 2); /* previous: still decrypts, ticket renewed */
	assert_memory_equal(k.aes, r.prev.aes, 32);
	unsigned char second[16];
	memcpy(second, r.cur.name, 16);
	assert_int_equal(ring_rotate(&r, t0 + 200, 100), 1);
	assert_int_equal(ring_find(&r, first, &k), 0); /* two periods later: gone */
	assert_int_equal(ring_find(&r, second, &k), 2);
	unsigned char unknown[16] = { 0 };
	assert_int_equal(ring_find(&r, unknown, &k), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exact_names),
		cmocka_unit_test(test_wildcards_cover_one_label),
		cmocka_unit_test(test_sni_pick),
		cmocka_unit_test(test_days_left),
		cmocka_unit_test(test_ticket_ring_rotation),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
