/*
 * core_test.c — the demand-following free list of core/freelist.h: objects come back in LIFO order, the
 * cap frees at once, a trim releases exactly what the interval did not take (down to the floor), and a
 * busy interval keeps everything. ASan (the test build) reports any object lost or freed twice.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lifo_and_cap),
		cmocka_unit_test(test_trim_releases_what_the_interval_did_not_need),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
