/*
 * egress_test.c — the forward proxy's pure rules (src/egress/names.c, guard.c): reading CONNECT and
 * absolute-form targets (case, trailing dot, userinfo, brackets, non-ASCII, numeric spellings of IPv4 as
 * inet_aton reads them, IPv6 literals), the allow-list (exact, "*." and ports), the Host check, and the
 * SSRF guard (every special-purpose range, IPv4 embedded in IPv6, allow_ips, sekisho's own sockets).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config_int.h"
#include "egress/egress.h"

/* ---- targets ---- */

static enum sk_egress_target_err connect_target(const char *s, struct sk_egress_target *t)
{
	return sk_egress_parse_connect(s, strlen(s), t);
}

static void expect_name(const char *in, const char *host, uint16_t port)
{
	struct sk_egress_target t;
	enum sk_egress_target_err e = connect_target(in, &t);
	if (e != SK_EGRESS_TARGET_OK)
		fail_msg("'%s': %s", in, sk_egress_target_err_text(e));
	assert_int_equal(t.kind, SK_EGRESS_HOST_NAME);
	assert_string_equal(t.host, host);
	assert_int_equal(t.host_len, strlen(host));
	assert_int_equal(t.port, port);
}

/* in read as IPv4 (or IPv6) address `addr` (canonical text). */
static void expect_ip(const char *in, enum sk_egress_host_kind kind, const char *addr, uint16_t port)
{
	struct sk_egress_target t;
	enum sk_egress_target_err e = connect_target(in, &t);
	if (e != SK_EGRESS_TARGET_OK)
		fail_msg("'%s': %s", in, sk_egress_target_err_text(e));
	if (t.kind != kind || strcmp(t.host, addr) != 0)
		fail_msg("'%s': read as kind %d '%s', expected %d '%s'", in, t.kind, t.host, kind, addr);
	uint8_t want[16];
	assert_int_equal(inet_pton(kind == SK_EGRESS_HOST_V4 ? AF_INET : AF_INET6, addr, want), 1);
	assert_memory_equal(t.addr, want, kind == SK_EGRESS_HOST_V4 ? 4 : 16);
	assert_int_equal(t.port, port);
}

static void expect_refused(const char *in, enum sk_egress_target_err want)
{
	struct sk_egress_target t;
	enum sk_egress_target_err e = connect_target(in, &t);
	if (e != want)
		fail_msg("'%s': got '%s', expected '%s'", in, sk_egress_target_err_text(e), sk_egress_target_err_text(want));
}

static void test_connect_names(void **state)
{
	expect_name("api.example.com:443", "api.example.com", 443);
	expect_name("API.Example.COM:443", "api.example.com", 443);
	expect_name("api.example.com.:8443", "api.example.com", 8443);
	expect_name("a-b_c.example:1", "a-b_c.example", 1);
	expect_name("localhost:65535", "localhost", 65535);
	expect_name("1.2.3.4.example:443", "1.2.3.4.example", 443); /* last label not a number: a name */
	expect_name("0x7f.example:443", "0x7f.example", 443);
	expect_name("example.0x7g:443", "example.0x7g", 443); /* not hex: a name */

	expect_refused("api.example.com", SK_EGRESS_TARGET_BAD_PORT); /* CONNECT needs a port */
	expect_refused("api.example.com:", SK_EGRESS_TARGET_BAD_PORT);
	expect_refused("api.example.com:0", SK_EGRESS_TARGET_BAD_PORT);
	expect_refused("api.example.com:65536", SK_EGRESS_TARGET_BAD_PORT);
	expect_refused("api.example.com:443x", SK_EGRESS_TARGET_BAD_PORT);
	expect_refused("api.example.com:000443", SK_EGRESS_TARGET_BAD_PORT);
	expect_refused("api.example.com:+443", SK_EGRESS_TARGET_BAD_PORT);
	expect_refused("api.example.com:443:1", SK_EGRESS_TARGET_BAD_PORT);
	expect_refused("user@api.example.com:443", SK_EGRESS_TARGET_USERINFO);
	expect_refused("api.example.com:443@evil.example:443", SK_EGRESS_TARGET_USERINFO);
	expect_refused("user:pw@api.example.com:443", SK_EGRESS_TARGET_USERINFO);
	expect_refused("[api.example.com]:443", SK_EGRESS_TARGET_BRACKETED_NAME);
	expect_refused("[127.0.0.1]:443", SK_EGRESS_TARGET_BRACKETED_NAME);
	expect_refused("b\xc3\xbc" "cher.example:443", SK_EGRESS_TARGET_NON_ASCII);
	expect_refused("xn--bcher-kva.example\xff:443", SK_EGRESS_TARGET_NON_ASCII);
	expect_refused("a..example:443", SK_EGRESS_TARGET_MALFORMED);
	expect_refused(".example:443", SK_EGRESS_TARGET_MALFORMED);
	expect_refused("example..:443", SK_EGRESS_TARGET_MALFORMED);
	expect_refused(".:443", SK_EGRESS_TARGET_MALFORMED);
	expect_refused(":443", SK_EGRESS_TARGET_MALFORMED);
	expect_refused("", SK_EGRESS_TARGET_MALFORMED);
	expect_refused("a%2eexample:443", SK_EGRESS_TARGET_MALFORMED);
	expect_refused("a example:443", SK_EGRESS_TARGET_MALFORMED);
	expect_refused("a\\example:443", SK_EGRESS_TARGET_MALFORMED);
	expect_refused("a/b:443", SK_EGRESS_TARGET_MALFORMED);
	expect_refused("ex]ample:443", SK_EGRESS_TARGET_MALFORMED);
	expect_refused("*.example:443", SK_EGRESS_TARGET_MALFORMED);

	char label[80];
	memset(label, 'a', 64);
	snprintf(label + 64, sizeof(label) - 64, ".example:443");
	expect_refused(label, SK_EGRESS_TARGET_MALFORMED); /* a 64-byte label */
	char longname[300];
	size_t n = 0;
	while (n < 250) {
		memcpy(longname + n, "abcdefghi.", 10);
		n += 10;
	}
	memcpy(longname + n, "abcd:443", 9); /* 254 bytes of name */
	expect_refused(longname, SK_EGRESS_TARGET_MALFORMED);
	memcpy(longname + n, "abc:443", 8); /* 253: the longest name */
	struct sk_egress_target t;
	assert_int_equal(connect_target(longname, &t), SK_EGRESS_TARGET_OK);
	assert_int_equal(t.host_len, 253);
}

/* Numeric spellings are the address inet_aton reads; checked against the C library itself too. */
static void test_numeric_spellings(void **state)
{
	static const struct {
		const char *in, *addr;
	} cases[] = {
		{ "127.0.0.1", "127.0.0.1" },   { "127.0.0.1.", "127.0.0.1" }, { "2130706433", "127.0.0.1" },
		{ "0x7f000001", "127.0.0.1" },  { "0X7F000001", "127.0.0.1" }, { "0x7f.1", "127.0.0.1" },
		{ "0177.0.0.1", "127.0.0.1" },  { "0177.1", "127.0.0.1" },     { "127.1", "127.0.0.1" },
		{ "127.0.1", "127.0.0.1" },     { "0", "0.0.0.0" },            { "0x0", "0.0.0.0" },
		{ "169.254.43518", "169.254.169.254" }, { "0xa9.0xfe.0xa9.0xfe", "169.254.169.254" },
		{ "2852039166", "169.254.169.254" },    { "00000000000000000000177.0.0.1", "127.0.0.1" },
		{ "10.0x00ffffff", "10.255.255.255" },  { "4294967295", "255.255.255.255" },
		{ "0xffffffff", "255.255.255.255" },    { "1.2.3.04", "1.2.3.4" },
	};
	for (size_t i = 0; i < SK_ARRAY_LEN(cases); i++) {
		char in[128];
		snprintf(in, sizeof(in), "%s:80", cases[i].in);
		expect_ip(in, SK_EGRESS_HOST_V4, cases[i].addr, 80);
		/* The C library agrees (without the one trailing dot it does not take). */
		char bare[64];
		snprintf(bare, sizeof(bare), "%s", cases[i].in);
		size_t bl = strlen(bare);
		if (bare[bl - 1] == '.')
			bare[bl - 1] = '\0';
		struct in_addr a;
		if (inet_aton(bare, &a) != 1)
			fail_msg("inet_aton refuses '%s'", bare);
		char text[INET_ADDRSTRLEN];
		inet_ntop(AF_INET, &a, text, sizeof(text));
		assert_string_equal(text, cases[i].addr);
	}
	/* Numbers that no address is: malformed, never a name that DNS would be asked about. */
	static const char *const bad[] = {
		"4294967296:80", "0x100000000:80", "256.0.0.1:80", "1.2.3.256:80", "1.2.65536:80", "1.16777216:80",
		"08.0.0.1:80", "0189:80", "1.2.3.4.5:80", "1..2:80", "0x7g.0x1:80", "99999999999999999999:80",
		"1.2.3.4..:80", "example.123:80", "example.0x1:80", "0x:80", "1.0x:80",
	};
	for (size_t i = 0; i < SK_ARRAY_LEN(bad); i++)
		expect_refused(bad[i], SK_EGRESS_TARGET_MALFORMED);
}

static void test_ipv6_literals(void **state)
{
	expect_ip("[::1]:443", SK_EGRESS_HOST_V6, "::1", 443);
	expect_ip("[0:0:0:0:0:0:0:1]:443", SK_EGRESS_HOST_V6, "::1", 443);
	expect_ip("[::FFFF:127.0.0.1]:443", SK_EGRESS_HOST_V6, "::ffff:127.0.0.1", 443);
	expect_ip("[2001:DB8::1]:8443", SK_EGRESS_HOST_V6, "2001:db8::1", 8443);
	expect_ip("[64:ff9b::a9fe:a9fe]:80", SK_EGRESS_HOST_V6, "64:ff9b::a9fe:a9fe", 80);
	expect_refused("[fe80::1%25eth0]:443", SK_EGRESS_TARGET_MALFORMED);
	expect_refused("[fe80::1%eth0]:443", SK_EGRESS_TARGET_MALFORMED);
	expect_refused("[::1:443", SK_EGRESS_TARGET_MALFORMED);
	expect_refused("[::1]443", SK_EGRESS_TARGET_MALFORMED);
	expect_refused("[::1]", SK_EGRESS_TARGET_BAD_PORT);
	expect_refused("::1:443", SK_EGRESS_TARGET_MALFORMED);
	expect_refused("[::g]:443", SK_EGRESS_TARGET_MALFORMED);
	expect_refused("[]:443", SK_EGRESS_TARGET_BRACKETED_NAME);
}

static void test_urls(void **state)
{
	struct sk_egress_target t;
	size_t off = 0;
	const char *u = "http://API.example.com./v1/x?y=1";
	assert_int_equal(sk_egress_parse_url(u, strlen(u), &t, &off), SK_EGRESS_TARGET_OK);
	assert_string_equal(t.host, "api.example.com");
	assert_int_equal(t.port, 80);
	assert_string_equal(u + off, "/v1/x?y=1");
	u = "HTTP://a.example:8080";
	assert_int_equal(sk_egress_parse_url(u, strlen(u), &t, &off), SK_EGRESS_TARGET_OK);
	assert_int_equal(t.port, 8080);
	assert_int_equal(off, strlen(u));
	u = "http://a.example:?q";
	assert_int_equal(sk_egress_parse_url(u, strlen(u), &t, &off), SK_EGRESS_TARGET_OK);
	assert_int_equal(t.port, 80);
	assert_string_equal(u + off, "?q");
	u = "http://a.example/@evil.example/";
	assert_int_equal(sk_egress_parse_url(u, strlen(u), &t, &off), SK_EGRESS_TARGET_OK);
	assert_string_equal(t.host, "a.example");
	u = "http://[::1]:81/";
	assert_int_equal(sk_egress_parse_url(u, strlen(u), &t, &off), SK_EGRESS_TARGET_OK);
	assert_int_equal(t.kind, SK_EGRESS_HOST_V6);
	assert_int_equal(t.port, 81);
	u = "http://0x7f.1/";
	assert_int_equal(sk_egress_parse_url(u, strlen(u), &t, &off), SK_EGRESS_TARGET_OK);
	assert_int_equal(t.kind, SK_EGRESS_HOST_V4);
	assert_string_equal(t.host, "127.0.0.1");

	static const struct {
		const char *url;
		enum sk_egress_target_err e;
	} bad[] = {
		{ "https://a.example/", SK_EGRESS_TARGET_SCHEME },
		{ "ftp://a.example/", SK_EGRESS_TARGET_SCHEME },
		{ "/relative", SK_EGRESS_TARGET_MALFORMED },
		{ "http:/a.example/", SK_EGRESS_TARGET_MALFORMED },
		{ "http://", SK_EGRESS_TARGET_MALFORMED },
		{ "http:///x", SK_EGRESS_TARGET_MALFORMED },
		{ "http://a.example#frag", SK_EGRESS_TARGET_MALFORMED },
		{ "http://allowed.example@evil.example/", SK_EGRESS_TARGET_USERINFO },
		{ "http://u:p@allowed.example/", SK_EGRESS_TARGET_USERINFO },
		{ "http://[allowed.example]/", SK_EGRESS_TARGET_BRACKETED_NAME },
		{ "http://allowed.example\\@evil.example/", SK_EGRESS_TARGET_USERINFO },
		{ "http://allowed.example\\.evil.example/", SK_EGRESS_TARGET_MALFORMED },
		{ "http://a.example:0/", SK_EGRESS_TARGET_BAD_PORT },
		{ "http://xn--bcher-kva.example\xc3\xbc/", SK_EGRESS_TARGET_NON_ASCII },
	};
	for (size_t i = 0; i < SK_ARRAY_LEN(bad); i++) {
		enum sk_egress_target_err e = sk_egress_parse_url(bad[i].url, strlen(bad[i].url), &t, &off);
		if (e != bad[i].e)
			fail_msg("'%s': got '%s', expected '%s'", bad[i].url, sk_egress_target_err_text(e),
				 sk_egress_target_err_text(bad[i].e));
	}
}

static void test_host_header(void **state)
{
	struct sk_egress_target t;
	size_t off;
	const char *u = "http://api.example.com/";
	assert_int_equal(sk_egress_parse_url(u, strlen(u), &t, &off), SK_EGRESS_TARGET_OK);
	static const char *const same[] = { "api.example.com", "API.EXAMPLE.COM", "api.example.com.", "api.example.com:80" };
	for (size_t i = 0; i < SK_ARRAY_LEN(same); i++)
		assert_true(sk_egress_host_matches(&t, same[i], strlen(same[i]), 80));
	static const char *const other[] = { "evil.example", "api.example.com:8080", "api.example.com..", "",
					     "user@api.example.com", "[api.example.com]", "api.example.com:443" };
	for (size_t i = 0; i < SK_ARRAY_LEN(other); i++)
		assert_false(sk_egress_host_matches(&t, other[i], strlen(other[i]), 80));
	/* An address in the Host header is compared as an address, however spelt. */
	u = "http://127.0.0.1:8080/";
	assert_int_equal(sk_egress_parse_url(u, strlen(u), &t, &off), SK_EGRESS_TARGET_OK);
	assert_true(sk_egress_host_matches(&t, "2130706433:8080", 15, 80));
	assert_false(sk_egress_host_matches(&t, "127.0.0.2:8080", 14, 80));
}

/* ---- the allow-list ---- */

static struct sk_egress_allowlist allowlist(void)
{
	static uint16_t p443[] = { 443 }, p80_443[] = { 80, 443 }, p8080[] = { 8080 };
	static struct sk_egress_allow items[] = {
		{ .host = "api.example.com", .ports = p443, .n_ports = 1 },
		{ .host = "*.debian.org", .ports = p80_443, .n_ports = 2 },
		{ .host = "localhost", .ports = p8080, .n_ports = 1 },
	};
	struct sk_egress cfg = { .allow = items, .n_allow = SK_ARRAY_LEN(items) };
	struct sk_egress_allowlist l;
	sk_egress_allowlist_build(&cfg, &l);
	return l;
}

static bool allowed(const struct sk_egress_allowlist *l, const char *connect)
{
	struct sk_egress_target t;
	return connect_target(connect, &t) == SK_EGRESS_TARGET_OK && sk_egress_allowlist_match(l, &t);
}

static void test_allowlist(void **state)
{
	struct sk_egress_allowlist l = allowlist();
	assert_true(allowed(&l, "api.example.com:443"));
	assert_true(allowed(&l, "API.EXAMPLE.COM.:443"));
	assert_false(allowed(&l, "api.example.com:80"));
	assert_false(allowed(&l, "x.api.example.com:443")); /* exact means exact */
	assert_false(allowed(&l, "api.example.com.evil.example:443"));
	assert_false(allowed(&l, "evilapi.example.com:443"));
	assert_true(allowed(&l, "debian.org:80"));
	assert_true(allowed(&l, "deb.debian.org:443"));
	assert_true(allowed(&l, "a.b.debian.org:80"));
	assert_true(allowed(&l, "Security.Debian.Org.:80"));
	assert_false(allowed(&l, "deb.debian.org:8080"));
	assert_false(allowed(&l, "evildebian.org:80"));
	assert_false(allowed(&l, "debian.org.evil.example:80"));
	assert_false(allowed(&l, ".debian.org:80"));
	assert_false(allowed(&l, "org:80"));
	assert_true(allowed(&l, "localhost:8080"));
	/* Addresses never match a name entry, however spelt. */
	assert_false(allowed(&l, "127.0.0.1:8080"));
	assert_false(allowed(&l, "2130706433:8080"));
	assert_false(allowed(&l, "[::1]:8080"));
	assert_false(allowed(&l, "user@api.example.com:443"));
	assert_false(allowed(&l, "[api.example.com]:443"));
	sk_egress_allowlist_free(&l);
}

/* ---- the guard ---- */

static struct sockaddr_storage sa_of(const char *addr, uint16_t port)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	struct sockaddr_in *in = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, addr, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons(port);
	} else {
		assert_int_equal(inet_pton(AF_INET6, addr, &in6->sin6_addr), 1);
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
	}
	return ss;
}

static enum sk_egress_verdict check(const struct sk_egress_guard *g, const char *addr, uint16_t port)
{
	struct sockaddr_storage ss = sa_of(addr, port);
	return sk_egress_guard_check(g, (struct sockaddr *)&ss);
}

static void expect_verdict(const struct sk_egress_guard *g, const char *addr, uint16_t port, enum sk_egress_verdict v)
{
	enum sk_egress_verdict got = check(g, addr, port);
	if (got != v)
		fail_msg("%s port %u: verdict %d, expected %d", addr, port, got, v);
}

static void test_guard_ranges(void **state)
{
	struct sk_egress_guard g;
	sk_egress_guard_init(&g, NULL, NULL, 0, NULL, 0);
	static const char *const refused[] = {
		/* DESIGN §5a, each range at its first, a middle and its last address */
		"0.0.0.0", "0.255.255.255", "10.0.0.0", "10.20.30.40", "10.255.255.255", "100.64.0.0", "100.127.255.255",
		"127.0.0.1", "127.255.255.255", "169.254.169.254", "169.254.0.0", "172.16.0.0", "172.31.255.255",
		"192.0.0.1", "192.0.0.255", "192.0.2.1", "192.168.0.1", "192.168.255.255", "198.18.0.0", "198.19.255.255",
		"198.51.100.7", "203.0.113.9", "224.0.0.1", "239.255.255.255", "240.0.0.1", "255.255.255.255",
		"::", "::1", "::ffff:127.0.0.1", "::ffff:169.254.169.254", "::ffff:10.0.0.1", "::ffff:0.0.0.0",
		"64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe", "64:ff9b::a00:1", "2002:7f00:1::", "2002:a9fe:a9fe:1234::1",
		"2002:c0a8:101::", "fc00::1", "fd12:3456::1", "fe80::1", "febf::1", "ff02::1", "ff00::",
		/* beyond the DESIGN list: internal or unroutable just the same */
		"::7f00:1", "::a9fe:a9fe", "64:ff9b:1::1", "100::1", "2001::1", "2001:0:4136:e378:8000:63bf:3fff:fdd2",
		"2001:db8::1", "fec0::1", "192.88.99.1",
	};
	for (size_t i = 0; i < SK_ARRAY_LEN(refused); i++)
		expect_verdict(&g, refused[i], 443, SK_EGRESS_ADDR_SPECIAL);
	static const char *const fine[] = {
		"1.1.1.1", "8.8.8.8", "9.255.255.255", "11.0.0.0", "100.63.255.255", "100.128.0.0", "126.255.255.255",
		"128.0.0.0", "169.253.255.255", "169.255.0.0", "172.15.255.255", "172.32.0.0", "192.0.1.0", "192.0.3.0",
		"192.167.255.255", "192.169.0.0", "198.17.255.255", "198.20.0.0", "198.51.99.1", "203.0.112.1",
		"223.255.255.255", "93.184.216.34", "::ffff:93.184.216.34", "64:ff9b::808:808", "2002:808:808::1",
		"2606:4700::1111", "2a00:1450:4001::1", "fbff::1", "fe7f::1", "2001:200::1", "2001:dc8::1",
	};
	for (size_t i = 0; i < SK_ARRAY_LEN(fine); i++)
		expect_verdict(&g, fine[i], 443, SK_EGRESS_ADDR_OK);
	sk_egress_guard_free(&g);
}

static void test_guard_allow_ips(void **state)
{
	struct sk_cidr c[4];
	assert_int_equal(sk_cidr_parse("127.0.0.0/8", &c[0]), 0);
	assert_int_equal(sk_cidr_parse("169.254.169.0/24", &c[1]), 0);
	assert_int_equal(sk_cidr_parse("fd00::/8", &c[2]), 0);
	assert_int_equal(sk_cidr_parse("::ffff:10.1.0.0/112", &c[3]), 0);
	struct sk_cidrlist allow = { .items = c, .n = 4 };
	struct sk_egress_guard g;
	sk_egress_guard_init(&g, &allow, NULL, 0, NULL, 0);
	expect_verdict(&g, "127.0.0.2", 80, SK_EGRESS_ADDR_OK);
	expect_verdict(&g, "::ffff:127.0.0.3", 80, SK_EGRESS_ADDR_OK);
	expect_verdict(&g, "64:ff9b::7f00:2", 80, SK_EGRESS_ADDR_OK);
	expect_verdict(&g, "169.254.169.254", 80, SK_EGRESS_ADDR_OK);
	expect_verdict(&g, "169.254.170.1", 80, SK_EGRESS_ADDR_SPECIAL);
	expect_verdict(&g, "fd00::5", 80, SK_EGRESS_ADDR_OK);
	expect_verdict(&g, "fc00::5", 80, SK_EGRESS_ADDR_SPECIAL);
	expect_verdict(&g, "10.1.2.3", 80, SK_EGRESS_ADDR_OK); /* written as ::ffff:10.1.0.0/112 */
	expect_verdict(&g, "10.2.0.1", 80, SK_EGRESS_ADDR_SPECIAL);
	expect_verdict(&g, "8.8.8.8", 80, SK_EGRESS_ADDR_OK);

	uint8_t a[16];
	inet_pton(AF_INET, "127.0.0.2", a);
	assert_true(sk_egress_guard_ip_allowed(&g, AF_INET, a));
	inet_pton(AF_INET6, "::ffff:127.0.0.2", a);
	assert_true(sk_egress_guard_ip_allowed(&g, AF_INET6, a));
	inet_pton(AF_INET, "8.8.8.8", a); /* public, but a literal is allowed by allow_ips alone */
	assert_false(sk_egress_guard_ip_allowed(&g, AF_INET, a));
	inet_pton(AF_INET6, "::1", a);
	assert_false(sk_egress_guard_ip_allowed(&g, AF_INET6, a));
	sk_egress_guard_free(&g);
}

static void test_guard_self(void **state)
{
	/* sekisho on 127.0.0.1:3128 and on every address at 8443 (v4) and 9443 (v6); this host has 10.9.8.7. */
	struct sk_egress_self self[3] = { { .family = AF_INET, .port = 3128 }, { .family = AF_INET, .port = 8443 },
					  { .family = AF_INET6, .port = 9443 } };
	inet_pton(AF_INET, "127.0.0.1", self[0].addr);
	struct sk_egress_local local[2] = { { .family = AF_INET }, { .family = AF_INET6 } };
	inet_pton(AF_INET, "10.9.8.7", local[0].addr);
	inet_pton(AF_INET6, "2a00:1450::77", local[1].addr);
	struct sk_cidr all[2];
	assert_int_equal(sk_cidr_parse("0.0.0.0/0", &all[0]), 0);
	assert_int_equal(sk_cidr_parse("::/0", &all[1]), 0);
	struct sk_cidrlist allow = { .items = all, .n = 2 };
	struct sk_egress_guard g;
	/* allow_ips lets everything through: sekisho's own sockets stay refused. */
	sk_egress_guard_init(&g, &allow, self, 3, local, 2);
	expect_verdict(&g, "127.0.0.1", 3128, SK_EGRESS_ADDR_SELF);
	expect_verdict(&g, "::ffff:127.0.0.1", 3128, SK_EGRESS_ADDR_SELF);
	expect_verdict(&g, "127.0.0.2", 3128, SK_EGRESS_ADDR_SELF);
	expect_verdict(&g, "0.0.0.0", 3128, SK_EGRESS_ADDR_SELF);
	expect_verdict(&g, "::", 3128, SK_EGRESS_ADDR_SELF);
	expect_verdict(&g, "127.0.0.1", 3129, SK_EGRESS_ADDR_OK);
	expect_verdict(&g, "127.0.0.1", 8443, SK_EGRESS_ADDR_SELF);
	expect_verdict(&g, "10.9.8.7", 8443, SK_EGRESS_ADDR_SELF);
	expect_verdict(&g, "::ffff:10.9.8.7", 8443, SK_EGRESS_ADDR_SELF);
	expect_verdict(&g, "10.9.8.6", 8443, SK_EGRESS_ADDR_OK);
	expect_verdict(&g, "2a00:1450::77", 9443, SK_EGRESS_ADDR_SELF);
	expect_verdict(&g, "::1", 9443, SK_EGRESS_ADDR_SELF);
	expect_verdict(&g, "2a00:1450::78", 9443, SK_EGRESS_ADDR_OK);
	expect_verdict(&g, "8.8.8.8", 8443, SK_EGRESS_ADDR_OK);
	sk_egress_guard_free(&g);
}

/* IPv4 inside IPv6 is judged as that IPv4, for every spelling the guard knows: IPv4-mapped, NAT64 and 6to4
 * (a deterministic sample of the IPv4 space, with every special range's edges in it). */
static void test_guard_embedded_agree(void **state)
{
	struct sk_egress_self self = { .family = AF_INET, .port = 3128 };
	struct sk_egress_guard g;
	sk_egress_guard_init(&g, NULL, &self, 1, NULL, 0);
	uint32_t x = 2463534242u;
	for (int i = 0; i < 200000; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		uint32_t v4 = i < 256 ? (uint32_t)i << 24 : x; /* every /8 first */
		uint16_t port = (i & 1) ? 3128 : 443;
		struct sockaddr_in in = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(v4) };
		enum sk_egress_verdict want = sk_egress_guard_check(&g, (struct sockaddr *)&in);
		struct sockaddr_in6 m = { .sin6_family = AF_INET6, .sin6_port = htons(port) };
		uint8_t *a = m.sin6_addr.s6_addr;
		uint32_t be = htonl(v4);
		a[10] = a[11] = 0xff;
		memcpy(a + 12, &be, 4);
		assert_int_equal(sk_egress_guard_check(&g, (struct sockaddr *)&m), want);
		/* NAT64 and 6to4 go through a gateway: never "self", otherwise the IPv4's verdict. */
		enum sk_egress_verdict routed = want == SK_EGRESS_ADDR_SELF ? SK_EGRESS_ADDR_OK : want;
		if (want == SK_EGRESS_ADDR_SELF) {
			struct sockaddr_in other = in;
			other.sin_port = htons(443);
			routed = sk_egress_guard_check(&g, (struct sockaddr *)&other);
		}
		memset(a, 0, 16);
		a[1] = 0x64, a[2] = 0xff, a[3] = 0x9b;
		memcpy(a + 12, &be, 4);
		assert_int_equal(sk_egress_guard_check(&g, (struct sockaddr *)&m), routed);
		memset(a, 0, 16);
		a[0] = 0x20, a[1] = 0x02;
		memcpy(a + 2, &be, 4);
		a[15] = 1;
		assert_int_equal(sk_egress_guard_check(&g, (struct sockaddr *)&m), routed);
	}
	sk_egress_guard_free(&g);
}

/* ---- one entry's rules in order (decide.c), from a loaded config ---- */

static struct sockaddr_storage ss_list[4];

static size_t addrs_of(const char *const *texts, uint16_t port)
{
	size_t n = 0;
	for (; texts[n]; n++)
		ss_list[n] = sa_of(texts[n], port);
	return n;
}

static void test_decide(void **state)
{
	static const char yaml[] = "listeners: [ { name: web, listen: \"0.0.0.0:18080\" } ]\n"
				   "egress:\n"
				   "  - { name: out, listen: \"127.0.0.1:13128\", allow: [\"*.allowed.test:80,13128\"],\n"
				   "      allow_ips: [127.0.0.0/8] }\n"
				   "  - { name: strict, listen: \"127.0.0.1:13129\", allow: [allowed.test] }\n";
	struct sk_err err = { 0 };
	struct sk_config *cfg = sk_config_load_buffer("decide.yaml", yaml, sizeof(yaml) - 1, &err);
	if (!cfg)
		fail_msg("%d:%d: %s", err.line, err.col, err.msg);
	struct sk_egress_rt *rt = sk_egress_rt_build(cfg);
	assert_int_equal(rt->n, 2);
	const struct sk_egress_entry_rt *out = &rt->entries[0], *strict = &rt->entries[1];
	struct sk_egress_target t;
	struct sockaddr_storage addr;
	size_t refused = 99;

	/* Names: the list first. */
	assert_int_equal(connect_target("www.allowed.test:80", &t), SK_EGRESS_TARGET_OK);
	assert_int_equal(sk_egress_decide_target(out, &t, &addr), SK_EGRESS_RESOLVE);
	assert_int_equal(sk_egress_decide_target(strict, &t, &addr), SK_EGRESS_DENIED);
	assert_int_equal(connect_target("www.allowed.test:443", &t), SK_EGRESS_TARGET_OK);
	assert_int_equal(sk_egress_decide_target(out, &t, &addr), SK_EGRESS_DENIED);
	assert_int_equal(connect_target("allowed.test:443", &t), SK_EGRESS_TARGET_OK);
	assert_int_equal(sk_egress_decide_target(strict, &t, &addr), SK_EGRESS_RESOLVE);

	/* Addresses: every one through the guard; one refused refuses all. */
	static const char *const outside[] = { "127.0.0.2", "127.0.0.3", NULL };
	static const char *const mixed[] = { "93.184.216.34", "127.0.0.1", NULL };
	static const char *const metadata[] = { "169.254.169.254", NULL };
	assert_int_equal(sk_egress_decide_addrs(out, ss_list, addrs_of(outside, 80), &refused), SK_EGRESS_CONNECT);
	assert_int_equal(sk_egress_decide_addrs(strict, ss_list, addrs_of(outside, 443), &refused),
			 SK_EGRESS_ADDRESS_DENIED);
	assert_int_equal(refused, 0);
	assert_int_equal(sk_egress_decide_addrs(strict, ss_list, addrs_of(mixed, 443), &refused),
			 SK_EGRESS_ADDRESS_DENIED);
	assert_int_equal(refused, 1);
	assert_int_equal(sk_egress_decide_addrs(out, ss_list, addrs_of(mixed, 443), &refused), SK_EGRESS_CONNECT);
	assert_int_equal(sk_egress_decide_addrs(out, ss_list, addrs_of(metadata, 80), &refused),
			 SK_EGRESS_ADDRESS_DENIED);
	/* An allowed name resolving to sekisho's own socket: refused even with 127/8 in allow_ips. */
	static const char *const self[] = { "127.0.0.2", "127.0.0.1", NULL };
	assert_int_equal(sk_egress_decide_addrs(out, ss_list, addrs_of(self, 13128), &refused),
			 SK_EGRESS_ADDRESS_DENIED);
	assert_int_equal(refused, 0); /* 127.0.0.2:13128 reaches the host's own 127/8 too */
	assert_int_equal(sk_egress_decide_addrs(out, ss_list, addrs_of(self, 18080), &refused),
			 SK_EGRESS_ADDRESS_DENIED); /* the wildcard listener */
	assert_int_equal(sk_egress_decide_addrs(out, ss_list, 0, &refused), SK_EGRESS_ADDRESS_DENIED);

	/* IP literals: allow_ips only, then the guard. */
	assert_int_equal(connect_target("2130706434:80", &t), SK_EGRESS_TARGET_OK); /* 127.0.0.2 */
	assert_int_equal(sk_egress_decide_target(out, &t, &addr), SK_EGRESS_CONNECT);
	assert_int_equal(addr.ss_family, AF_INET);
	assert_int_equal(ntohs(((struct sockaddr_in *)&addr)->sin_port), 80);
	assert_int_equal(((struct sockaddr_in *)&addr)->sin_addr.s_addr, htonl(0x7f000002));
	assert_int_equal(sk_egress_decide_target(strict, &t, &addr), SK_EGRESS_DENIED);
	assert_int_equal(connect_target("8.8.8.8:443", &t), SK_EGRESS_TARGET_OK);
	assert_int_equal(sk_egress_decide_target(out, &t, &addr), SK_EGRESS_DENIED);
	assert_int_equal(connect_target("[::ffff:127.0.0.2]:80", &t), SK_EGRESS_TARGET_OK);
	assert_int_equal(sk_egress_decide_target(out, &t, &addr), SK_EGRESS_CONNECT);
	assert_int_equal(connect_target("0x7f.1:13128", &t), SK_EGRESS_TARGET_OK);
	assert_int_equal(sk_egress_decide_target(out, &t, &addr), SK_EGRESS_ADDRESS_DENIED);
	assert_int_equal(connect_target("127.0.0.1:13129", &t), SK_EGRESS_TARGET_OK);
	assert_int_equal(sk_egress_decide_target(out, &t, &addr), SK_EGRESS_ADDRESS_DENIED);

	sk_egress_rt_free(rt);
	sk_config_free(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_connect_names),   cmocka_unit_test(test_numeric_spellings),
		cmocka_unit_test(test_ipv6_literals),   cmocka_unit_test(test_urls),
		cmocka_unit_test(test_host_header),     cmocka_unit_test(test_allowlist),
		cmocka_unit_test(test_guard_ranges),    cmocka_unit_test(test_guard_allow_ips),
		cmocka_unit_test(test_guard_self),      cmocka_unit_test(test_decide),
		cmocka_unit_test(test_guard_embedded_agree),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
