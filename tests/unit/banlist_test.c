/*
 * banlist_test.c — the accept path's copy of the bans (src/net/banlist.c): a ban added is seen by every
 * reader, including one that registers later; a full replace drops bans no longer in the store; an
 * expired ban no longer refuses; IPv4 and its v4-mapped IPv6 form are one address; readers run on their
 * own threads while the publisher changes the list (ASan/TSan-clean swaps).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "net/banlist.h"

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static struct sockaddr_in v4(const char *ip)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	assert_int_equal(inet_pton(AF_INET, ip, &sa.sin_addr), 1);
	return sa;
}

static struct sockaddr_in6 v6(const char *ip)
{
	struct sockaddr_in6 sa = { .sin6_family = AF_INET6 };
	assert_int_equal(inet_pton(AF_INET6, ip, &sa.sin6_addr), 1);
	return sa;
}

static void test_add_replace_expire(void **state)
{
	struct sk_banlist *r0 = NULL, *r1 = NULL;
	struct sockaddr_in a = v4("192.0.2.7"), b = v4("192.0.2.8");
	struct sockaddr_in6 a6 = v6("::ffff:192.0.2.7"), c6 = v6("2001:db8::1");
	assert_false(sk_bans_check(0, &r0, (struct sockaddr *)&a));
	sk_bans_add("192.0.2.7", 0);
	assert_true(sk_bans_check(0, &r0, (struct sockaddr *)&a));
	assert_true(sk_bans_check(0, &r0, (struct sockaddr *)&a6)); /* v4-mapped: the same address */
	assert_false(sk_bans_check(0, &r0, (struct sockaddr *)&b));
	/* a reader that starts later sees the bans made before it */
	assert_true(sk_bans_check(1, &r1, (struct sockaddr *)&a));
	sk_bans_add("2001:db8::1", now_ms() + 60000);
	assert_true(sk_bans_check(1, &r1, (struct sockaddr *)&c6));
	assert_true(sk_bans_check(0, &r0, (struct sockaddr *)&c6));
	/* an expired ban does not refuse, even before the next refresh drops it */
	sk_bans_add("192.0.2.8", now_ms() - 1);
	assert_false(sk_bans_check(0, &r0, (struct sockaddr *)&b));
	/* replace: what the store no longer holds is gone (ban removed by `sekisho ban remove`) */
	const char *ips[] = { "2001:db8::1", "not an address" };
	uint64_t until[] = { 0, 0 };
	sk_bans_replace(ips, until, 2);
	assert_false(sk_bans_check(0, &r0, (struct sockaddr *)&a));
	assert_true(sk_bans_check(0, &r0, (struct sockaddr *)&c6));
	assert_false(sk_bans_check(1, &r1, (struct sockaddr *)&a));
	sk_bans_replace(NULL, NULL, 0);
	assert_false(sk_bans_check(1, &r1, (struct sockaddr *)&c6));
	sk_bans_release(0, &r0);
	sk_bans_release(1, &r1);
	sk_bans_clear();
}

static atomic_bool stop;

static void *reader(void *arg)
{
	unsigned id = (unsigned)(uintptr_t)arg;
	struct sk_banlist *mine = NULL;
	struct sockaddr_in a = v4("198.51.100.1");
	unsigned long seen = 0;
	while (!atomic_load(&stop))
		seen += sk_bans_check(id, &mine, (struct sockaddr *)&a);
	sk_bans_release(id, &mine);
	return (void *)seen;
}

static void test_concurrent_readers(void **state)
{
	pthread_t t[3];
	for (uintptr_t i = 0; i < 3; i++)
		assert_int_equal(pthread_create(&t[i], NULL, reader, (void *)(i + 2)), 0);
	for (int i = 0; i < 2000; i++) {
		if (i % 2)
			sk_bans_add("198.51.100.1", 0);
		else
			sk_bans_replace(NULL, NULL, 0);
	}
	sk_bans_add("198.51.100.1", 0);
	struct timespec pause = { .tv_nsec = 20 * 1000 * 1000 };
	nanosleep(&pause, NULL);
	atomic_store(&stop, true);
	for (int i = 0; i < 3; i++) {
		void *seen;
		pthread_join(t[i], &seen);
		assert_true((uintptr_t)seen > 0); /* each reader saw the final ban */
	}
	sk_bans_clear();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_replace_expire),
		cmocka_unit_test(test_concurrent_readers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
