/*
 * egress_resolve_test.c — DNS off the event loop (src/egress/resolve.c) against a small DNS server run by
 * the test on 127.0.0.1 at a free port: A and AAAA answers with the port asked for, NXDOMAIN and SERVFAIL
 * as failures, a server that never answers as a timeout within dns.timeout, answers capped at
 * SK_EGRESS_MAX_ADDRS, cancelled lookups never calling back, and a resolver freed with lookups in flight.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "core/core.h"
#include "egress/egress.h"
#include "loop/loop.h"

/* ---- the test's DNS server ---- */

static int dns_fd = -1;
static uint16_t dns_port;
static pthread_t dns_thread;
static atomic_bool dns_stop;
static atomic_int queries_slow, queries_ok, queries_nx, queries_zero;

static size_t put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
	return 2;
}

static uint16_t answer_ttl = 60;

/* One answer record (name: a pointer to the question) at p, with answer_ttl. */
static size_t answer(uint8_t *p, uint16_t type, const void *rdata, uint16_t len)
{
	size_t n = 0;
	n += put16(p + n, 0xc00c);
	n += put16(p + n, type);
	n += put16(p + n, 1);
	n += put16(p + n, 0);
	n += put16(p + n, answer_ttl);
	n += put16(p + n, len);
	memcpy(p + n, rdata, len);
	return n + len;
}

static void *dns_main(void *arg)
{
	uint8_t q[512], r[2048];
	while (!atomic_load(&dns_stop)) {
		struct sockaddr_storage from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(dns_fd, q, sizeof(q), 0, (struct sockaddr *)&from, &fl);
		if (n < 12)
			continue;
		/* The question: labels, then type and class. */
		char name[256];
		size_t off = 12, nl = 0;
		while (off < (size_t)n && q[off] != 0 && nl < 200) {
			size_t l = q[off++];
			if (nl)
				name[nl++] = '.';
			for (size_t i = 0; i < l && off < (size_t)n; i++)
				name[nl++] = (char)q[off++];
		}
		name[nl] = '\0';
		off++;
		if (off + 4 > (size_t)n)
			continue;
		uint16_t qtype = (uint16_t)(q[off] << 8 | q[off + 1]);
		off += 4;
		if (strcmp(name, "slow.test") == 0) {
			atomic_fetch_add(&queries_slow, 1);
			continue;
		}
		memcpy(r, q, off);
		uint16_t rcode = 0, count = 0;
		answer_ttl = 60;
		if (strcmp(name, "ok.test") == 0)
			atomic_fetch_add(&queries_ok, 1);
		if (strcmp(name, "nx.test") == 0)
			atomic_fetch_add(&queries_nx, 1);
		if (strcmp(name, "zero.test") == 0) {
			atomic_fetch_add(&queries_zero, 1);
			answer_ttl = 0;
			if (qtype == 1) {
				uint8_t z[4] = { 192, 0, 2, 9 };
				size_t l = answer(r + off, 1, z, 4);
				put16(r + 2, 0x8180);
				put16(r + 4, 1);
				put16(r + 6, 1);
				put16(r + 8, 0);
				put16(r + 10, 0);
				sendto(dns_fd, r, off + l, 0, (struct sockaddr *)&from, fl);
				continue;
			}
		}
		size_t len = off;
		uint8_t a[4], a6[16];
		if (strcmp(name, "ok.test") == 0 && qtype == 1) {
			inet_pton(AF_INET, "93.184.216.34", a);
			len += answer(r + len, 1, a, 4);
			inet_pton(AF_INET, "127.0.0.2", a);
			len += answer(r + len, 1, a, 4);
			count = 2;
		} else if (strcmp(name, "ok.test") == 0 && qtype == 28) {
			inet_pton(AF_INET6, "2001:db8::5", a6);
			len += answer(r + len, 28, a6, 16);
			count = 1;
		} else if (strcmp(name, "many.test") == 0 && qtype == 1) {
			for (int i = 0; i < 25; i++) { /* 25 records fit a 512-byte datagram */
				uint8_t b[4] = { 10, 0, 0, (uint8_t)(i + 1) };
				len += answer(r + len, 1, b, 4);
			}
			count = 25;
		} else if (strcmp(name, "fail.test") == 0) {
			rcode = 2;
		} else if (strcmp(name, "ok.test") != 0 && strcmp(name, "many.test") != 0 && strcmp(name, "zero.test") != 0) {
			rcode = 3;
		}
		put16(r + 2, (uint16_t)(0x8180 | rcode));
		put16(r + 4, 1);
		put16(r + 6, count);
		put16(r + 8, 0);
		put16(r + 10, 0);
		sendto(dns_fd, r, len, 0, (struct sockaddr *)&from, fl);
	}
	return NULL;
}

static int setup(void **state)
{
	dns_fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	if (dns_fd == -1 || bind(dns_fd, (struct sockaddr *)&sin, sizeof(sin)) == -1)
		return -1;
	socklen_t sl = sizeof(sin);
	getsockname(dns_fd, (struct sockaddr *)&sin, &sl);
	dns_port = ntohs(sin.sin_port);
	struct timeval tv = { .tv_usec = 50 * 1000 };
	setsockopt(dns_fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	atomic_store(&dns_stop, false);
	return pthread_create(&dns_thread, NULL, dns_main, NULL) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
	atomic_store(&dns_stop, true);
	pthread_join(dns_thread, NULL);
	close(dns_fd);
	return 0;
}

/* ---- helpers ---- */

struct result {
	int calls;
	enum sk_egress_dns status;
	struct sockaddr_storage addrs[SK_EGRESS_MAX_ADDRS];
	size_t n;
	uint64_t at;
};

static void on_resolved(void *arg, enum sk_egress_dns status, const struct sockaddr_storage *addrs, size_t n)
{
	struct result *res = arg;
	res->calls++;
	res->status = status;
	res->n = n;
	res->at = sk_now_ms();
	memcpy(res->addrs, addrs, n * sizeof(*addrs));
}

static struct sk_egress cfg_for(uint64_t timeout_ms, struct sk_addr *server)
{
	char text[64];
	snprintf(text, sizeof(text), "127.0.0.1:%u", dns_port);
	assert_int_equal(sk_addr_parse(text, server), 0);
	return (struct sk_egress){ .dns_servers = server, .n_dns_servers = 1, .dns_timeout_ms = timeout_ms };
}

static void run_until(struct sk_loop *loop, const struct result *res, int calls, uint64_t max_ms)
{
	uint64_t end = sk_now_ms() + max_ms;
	while ((res == NULL || res->calls < calls) && sk_now_ms() < end)
		sk_loop_run_once(loop, 20);
}

static bool has_addr(const struct result *res, const char *text, uint16_t port)
{
	for (size_t i = 0; i < res->n; i++) {
		char buf[64];
		const struct sockaddr_storage *ss = &res->addrs[i];
		if (ss->ss_family == AF_INET) {
			const struct sockaddr_in *in = (const void *)ss;
			inet_ntop(AF_INET, &in->sin_addr, buf, sizeof(buf));
			if (strcmp(buf, text) == 0 && ntohs(in->sin_port) == port)
				return true;
		} else {
			const struct sockaddr_in6 *in6 = (const void *)ss;
			inet_ntop(AF_INET6, &in6->sin6_addr, buf, sizeof(buf));
			if (strcmp(buf, text) == 0 && ntohs(in6->sin6_port) == port)
				return true;
		}
	}
	return false;
}

/* ---- tests ---- */

static void test_answers(void **state)
{
	struct sk_loop *loop = sk_loop_new();
	struct sk_addr server;
	struct sk_egress cfg = cfg_for(2000, &server);
	const char *why = NULL;
	struct sk_egress_resolver *r = sk_egress_resolver_new(loop, &cfg, &why);
	assert_non_null(r);

	struct result ok = { 0 }, many = { 0 }, nx = { 0 }, fail = { 0 };
	sk_egress_resolve(r, "ok.test", 443, on_resolved, &ok);
	sk_egress_resolve(r, "many.test", 80, on_resolved, &many);
	sk_egress_resolve(r, "nx.test", 80, on_resolved, &nx);
	sk_egress_resolve(r, "fail.test", 80, on_resolved, &fail);
	/* Never from inside sk_egress_resolve. */
	assert_int_equal(ok.calls + many.calls + nx.calls + fail.calls, 0);
	uint64_t start = sk_now_ms();
	run_until(loop, &ok, 1, 3000);
	run_until(loop, &many, 1, 3000);
	run_until(loop, &nx, 1, 3000);
	run_until(loop, &fail, 1, 3000);

	assert_int_equal(ok.calls, 1);
	assert_int_equal(ok.status, SK_EGRESS_DNS_OK);
	assert_int_equal(ok.n, 3);
	assert_true(has_addr(&ok, "93.184.216.34", 443));
	assert_true(has_addr(&ok, "127.0.0.2", 443));
	assert_true(has_addr(&ok, "2001:db8::5", 443));

	assert_int_equal(many.status, SK_EGRESS_DNS_OK);
	assert_int_equal(many.n, SK_EGRESS_MAX_ADDRS);
	assert_true(has_addr(&many, "10.0.0.1", 80));

	assert_int_equal(nx.calls, 1);
	assert_int_equal(nx.status, SK_EGRESS_DNS_FAILED);
	assert_int_equal(nx.n, 0);
	assert_int_equal(fail.calls, 1);
	assert_int_equal(fail.status, SK_EGRESS_DNS_FAILED);
	/* Answers, even negative ones, come without waiting for the timeout. */
	assert_true(nx.at - start < 1000);
	assert_true(fail.at - start < 1000);
	assert_int_equal(sk_egress_resolver_pending(r), 0);

	/* Each callback ran once. */
	run_until(loop, NULL, 0, 100);
	assert_int_equal(ok.calls + many.calls + nx.calls + fail.calls, 4);
	sk_egress_resolver_free(r);
	sk_loop_free(loop);
}

static void test_timeout(void **state)
{
	struct sk_loop *loop = sk_loop_new();
	struct sk_addr server;
	struct sk_egress cfg = cfg_for(400, &server);
	const char *why = NULL;
	struct sk_egress_resolver *r = sk_egress_resolver_new(loop, &cfg, &why);
	assert_non_null(r);
	struct result slow = { 0 };
	atomic_store(&queries_slow, 0);
	uint64_t start = sk_now_ms();
	sk_egress_resolve(r, "slow.test", 443, on_resolved, &slow);
	run_until(loop, &slow, 1, 3000);
	assert_int_equal(slow.calls, 1);
	assert_int_equal(slow.status, SK_EGRESS_DNS_TIMEOUT);
	assert_true(slow.at - start >= 390);
	assert_true(slow.at - start < 1000);
	/* c-ares retried within the budget, and the abandoned query ends on its own soon after. */
	run_until(loop, NULL, 0, 1000);
	assert_true(atomic_load(&queries_slow) >= 2);
	assert_int_equal(sk_egress_resolver_pending(r), 0);
	assert_int_equal(slow.calls, 1);
	sk_egress_resolver_free(r);

	/* A budget shorter than c-ares' smallest retry schedule (50 ms per try, twice): the lookup's own
	 * deadline answers, and the abandoned query is freed when c-ares gives up. */
	cfg = cfg_for(60, &server);
	r = sk_egress_resolver_new(loop, &cfg, &why);
	assert_non_null(r);
	struct result quick = { 0 };
	start = sk_now_ms();
	sk_egress_resolve(r, "slow.test", 443, on_resolved, &quick);
	run_until(loop, &quick, 1, 3000);
	assert_int_equal(quick.status, SK_EGRESS_DNS_TIMEOUT);
	assert_true(quick.at - start >= 55);
	assert_true(quick.at - start < 140);
	assert_int_equal(sk_egress_resolver_pending(r), 1);
	run_until(loop, NULL, 0, 500);
	assert_int_equal(sk_egress_resolver_pending(r), 0);
	assert_int_equal(quick.calls, 1);
	sk_egress_resolver_free(r);
	sk_loop_free(loop);
}

static void test_cancel_and_free(void **state)
{
	struct sk_loop *loop = sk_loop_new();
	struct sk_addr server;
	struct sk_egress cfg = cfg_for(400, &server);
	const char *why = NULL;
	struct sk_egress_resolver *r = sk_egress_resolver_new(loop, &cfg, &why);
	assert_non_null(r);
	struct result a = { 0 }, b = { 0 }, c = { 0 };
	struct sk_egress_lookup *la = sk_egress_resolve(r, "slow.test", 443, on_resolved, &a);
	struct sk_egress_lookup *lb = sk_egress_resolve(r, "ok.test", 443, on_resolved, &b);
	sk_egress_lookup_cancel(la);
	sk_egress_lookup_cancel(lb);
	run_until(loop, NULL, 0, 1200);
	assert_int_equal(a.calls, 0);
	assert_int_equal(b.calls, 0);
	assert_int_equal(sk_egress_resolver_pending(r), 0);
	/* Freed with a lookup in flight: no callback, nothing leaked (ASan watches). */
	sk_egress_resolve(r, "slow.test", 443, on_resolved, &c);
	run_until(loop, NULL, 0, 50);
	sk_egress_resolver_free(r);
	run_until(loop, NULL, 0, 600);
	assert_int_equal(c.calls, 0);
	sk_loop_free(loop);
}

/* Without dns.servers: resolv.conf and the hosts file. "localhost" is answered by the hosts file inside
 * c-ares' call: the owner still hears it from the loop, never from inside sk_egress_resolve; such a
 * lookup can be cancelled, or the resolver freed, before that. */
static void test_system_and_immediate(void **state)
{
	struct sk_loop *loop = sk_loop_new();
	struct sk_egress cfg = { .dns_timeout_ms = 1000 };
	const char *why = NULL;
	struct sk_egress_resolver *r = sk_egress_resolver_new(loop, &cfg, &why);
	assert_non_null(r);
	struct result a = { 0 }, b = { 0 }, c = { 0 };
	sk_egress_resolve(r, "localhost", 8080, on_resolved, &a);
	assert_int_equal(a.calls, 0);
	run_until(loop, &a, 1, 2000);
	assert_int_equal(a.calls, 1);
	assert_int_equal(a.status, SK_EGRESS_DNS_OK);
	assert_true(has_addr(&a, "127.0.0.1", 8080));
	struct sk_egress_lookup *lb = sk_egress_resolve(r, "localhost", 80, on_resolved, &b);
	sk_egress_lookup_cancel(lb);
	sk_egress_resolve(r, "localhost", 80, on_resolved, &c);
	sk_egress_resolver_free(r); /* c's answer is in hand, not yet delivered */
	run_until(loop, NULL, 0, 100);
	assert_int_equal(b.calls, 0);
	assert_int_equal(c.calls, 0);
	sk_loop_free(loop);
}

/* Positive answers are kept for their TTL: the second lookup of a name asks no server, and is still
 * answered from the loop; TTL 0 and negative answers are never kept. */
static void test_cache(void **state)
{
	struct sk_loop *loop = sk_loop_new();
	struct sk_addr server;
	struct sk_egress cfg = cfg_for(2000, &server);
	const char *why = NULL;
	struct sk_egress_resolver *r = sk_egress_resolver_new(loop, &cfg, &why);
	assert_non_null(r);
	atomic_store(&queries_ok, 0);
	atomic_store(&queries_nx, 0);
	atomic_store(&queries_zero, 0);
	struct result a = { 0 }, b = { 0 }, c = { 0 };
	sk_egress_resolve(r, "ok.test", 443, on_resolved, &a);
	run_until(loop, &a, 1, 3000);
	int asked = atomic_load(&queries_ok);
	assert_true(asked >= 2); /* A and AAAA */
	sk_egress_resolve(r, "ok.test", 8443, on_resolved, &b);
	assert_int_equal(b.calls, 0);
	run_until(loop, &b, 1, 3000);
	assert_int_equal(b.status, SK_EGRESS_DNS_OK);
	assert_int_equal(b.n, 3);
	assert_true(has_addr(&b, "93.184.216.34", 8443)); /* the port of this lookup */
	assert_true(has_addr(&b, "2001:db8::5", 8443));
	assert_int_equal(atomic_load(&queries_ok), asked);
	/* A cached answer cancelled before delivery: no call, nothing leaked. */
	struct sk_egress_lookup *lc = sk_egress_resolve(r, "ok.test", 80, on_resolved, &c);
	sk_egress_lookup_cancel(lc);
	for (int i = 0; i < 2; i++) {
		struct result z = { 0 }, n = { 0 };
		sk_egress_resolve(r, "zero.test", 80, on_resolved, &z);
		sk_egress_resolve(r, "nx.test", 80, on_resolved, &n);
		run_until(loop, &z, 1, 3000);
		run_until(loop, &n, 1, 3000);
		assert_int_equal(z.status, SK_EGRESS_DNS_OK);
		assert_int_equal(n.status, SK_EGRESS_DNS_FAILED);
	}
	assert_true(atomic_load(&queries_zero) >= 4);
	assert_true(atomic_load(&queries_nx) >= 4);
	run_until(loop, NULL, 0, 50);
	assert_int_equal(c.calls, 0);
	sk_egress_resolver_free(r);
	sk_loop_free(loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_answers),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_cancel_and_free),
		cmocka_unit_test(test_system_and_immediate),
		cmocka_unit_test(test_cache),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
