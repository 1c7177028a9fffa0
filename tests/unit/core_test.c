/*
 * core_test.c — the demand-following free list of core/freelist.h: objects come back in LIFO order, the
 * cap frees at once, a trim releases exactly what the interval did not take (down to the floor), and a
 * busy interval keeps everything (ASan, in the test build, reports an object lost or freed twice). And
 * sk_ip4_text writes what inet_ntop writes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "core/freelist.h"

static void put_n(struct sk_freelist *fl, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		sk_freelist_put(fl, malloc(64));
}

static void test_lifo_and_cap(void **state)
{
	(void)state;
	struct sk_freelist fl = { .floor = 1, .cap = 3 };
	assert_null(sk_freelist_get(&fl));
	void *a = malloc(64), *b = malloc(64);
	sk_freelist_put(&fl, a);
	sk_freelist_put(&fl, b);
	assert_ptr_equal(sk_freelist_get(&fl), b);
	assert_ptr_equal(sk_freelist_get(&fl), a);
	assert_null(sk_freelist_get(&fl));
	assert_int_equal(fl.n, 0);
	free(a);
	free(b);
	put_n(&fl, 5); /* two over the cap: freed at once */
	assert_int_equal(fl.n, 3);
	sk_freelist_clear(&fl);
	assert_int_equal(fl.n, 0);
	assert_null(fl.head);
}

static void test_trim_releases_what_the_interval_did_not_need(void **state)
{
	(void)state;
	struct sk_freelist fl = { .floor = 2, .cap = 100 };
	put_n(&fl, 10);
	assert_int_equal(sk_freelist_trim(&fl), 0); /* the list grew this interval: low is still 0 */
	assert_int_equal(fl.n, 10);
	/* An interval that took 4 at most: 6 were never used, and go. */
	void *held[4];
	for (int i = 0; i < 4; i++)
		held[i] = sk_freelist_get(&fl);
	for (int i = 0; i < 4; i++)
		sk_freelist_put(&fl, held[i]);
	assert_int_equal(fl.low, 6);
	assert_int_equal(sk_freelist_trim(&fl), 6);
	assert_int_equal(fl.n, 4);
	/* A quiet interval: everything above the floor goes. */
	assert_int_equal(sk_freelist_trim(&fl), 2);
	assert_int_equal(fl.n, 2);
	assert_int_equal(sk_freelist_trim(&fl), 0);
	assert_int_equal(fl.n, 2);
	/* An interval that emptied the list keeps all it got back. */
	void *x = sk_freelist_get(&fl), *y = sk_freelist_get(&fl);
	sk_freelist_put(&fl, x);
	sk_freelist_put(&fl, y);
	put_n(&fl, 5);
	assert_int_equal(sk_freelist_trim(&fl), 0);
	assert_int_equal(fl.n, 7);
	sk_freelist_clear(&fl);
}

/* sk_ip4_text writes what inet_ntop writes: every value of each octet, in every position. */
static void test_ip4_text_matches_inet_ntop(void **state)
{
	(void)state;
	for (unsigned pos = 0; pos < 4; pos++) {
		for (unsigned v = 0; v < 256; v++) {
			uint8_t a[4] = { 10, 0, 200, 7 };
			a[pos] = (uint8_t)v;
			char want[INET_ADDRSTRLEN], got[16];
			memset(got, 'x', sizeof(got));
			assert_non_null(inet_ntop(AF_INET, a, want, sizeof(want)));
			assert_int_equal(sk_ip4_text(a, got), strlen(want));
			assert_string_equal(got, want);
		}
	}
	char got[16];
	assert_int_equal(sk_ip4_text((const uint8_t[4]){ 255, 255, 255, 255 }, got), 15);
	assert_string_equal(got, "255.255.255.255");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ip4_text_matches_inet_ntop),
		cmocka_unit_test(test_lifo_and_cap),
		cmocka_unit_test(test_trim_releases_what_the_interval_did_not_need),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
