/*
 * ipset_test.c — IP sets: IPv4, IPv6, v4-mapped lookups both ways, overlapping and covering prefixes
 * in every insertion order, /0 /32 /128, the sockaddr helpers, and 100 000 random prefixes checked
 * against a linear reference. Correctness only: timing goals live in bench/.
 * The .c is included so the test can read the node arrays and report the memory a large set uses.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/ipset.c"

/* "a.b.c.d/n", "v6/n" or a bare address; the test's own parser (the config loader is not used). */
static struct sk_cidr cidr(const char *s)
{
	char buf[128];
	struct sk_cidr c = { 0 };
	snprintf(buf, sizeof(buf), "%s", s);
	char *slash = strchr(buf, '/');
	if (slash)
		*slash = '\0';
	if (inet_pton(AF_INET, buf, c.addr) == 1) {
		c.family = AF_INET;
		c.prefix = 32;
	} else if (inet_pton(AF_INET6, buf, c.addr) == 1) {
		c.family = AF_INET6;
		c.prefix = 128;
	} else {
		fail_msg("bad test CIDR %s", s);
	}
	if (slash)
		c.prefix = (uint8_t)atoi(slash + 1);
	return c;
}

static void add(struct sk_ipset *set, const char *s)
{
	struct sk_cidr c = cidr(s);
	sk_ipset_add(set, &c);
}

/* Looks up a textual address through the (family, bytes) entry point. */
static bool has(const struct sk_ipset *set, const char *ip)
{
	uint8_t a[16];
	if (inet_pton(AF_INET, ip, a) == 1)
		return sk_ipset_contains(set, AF_INET, a);
	if (inet_pton(AF_INET6, ip, a) == 1)
		return sk_ipset_contains(set, AF_INET6, a);
	fail_msg("bad test address %s", ip);
	return false;
}

/* Same through a sockaddr. */
static bool has_sa(const struct sk_ipset *set, const char *ip)
{
	struct sockaddr_storage ss = { 0 };
	if (strchr(ip, ':')) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
		in6->sin6_family = AF_INET6;
		assert_int_equal(inet_pton(AF_INET6, ip, &in6->sin6_addr), 1);
	} else {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;
		in->sin_family = AF_INET;
		assert_int_equal(inet_pton(AF_INET, ip, &in->sin_addr), 1);
	}
	return sk_ipset_contains_sa(set, (struct sockaddr *)&ss);
}

static void test_empty(void **state)
{
	(void)state;
	struct sk_ipset *set = sk_ipset_new();
	assert_false(has(set, "10.0.0.1"));
	assert_false(has(set, "::1"));
	assert_false(has(set, "::ffff:10.0.0.1"));
	assert_int_equal(sk_ipset_count(set), 0);
	sk_ipset_free(set);
	assert_false(sk_ipset_contains(NULL, AF_INET, (const uint8_t[4]){ 1, 2, 3, 4 }));
	assert_int_equal(sk_ipset_count(NULL), 0);
	sk_ipset_free(NULL);
}

static void test_v4(void **state)
{
	(void)state;
	struct sk_ipset *set = sk_ipset_new();
	add(set, "10.0.0.0/8");
	add(set, "192.168.1.0/24");
	add(set, "203.0.113.7/32");
	add(set, "172.16.5.9/12"); /* host bits are ignored: 172.16.0.0/12 */

	assert_true(has(set, "10.0.0.0"));
	assert_true(has(set, "10.255.255.255"));
	assert_false(has(set, "11.0.0.0"));
	assert_false(has(set, "9.255.255.255"));
	assert_true(has(set, "192.168.1.1"));
	assert_false(has(set, "192.168.2.1"));
	assert_true(has(set, "203.0.113.7"));
	assert_false(has(set, "203.0.113.6"));
	assert_false(has(set, "203.0.113.8"));
	assert_true(has(set, "172.16.0.1"));
	assert_true(has(set, "172.31.255.255"));
	assert_false(has(set, "172.32.0.0"));
	assert_false(has(set, "::a00:1")); /* ::10.0.0.1 (IPv4-compatible) is not IPv4 */
	assert_int_equal(sk_ipset_count(set), 4);

	assert_true(has_sa(set, "10.1.2.3"));
	assert_false(has_sa(set, "8.8.8.8"));
	sk_ipset_free(set);
}

static void test_v6(void **state)
{
	(void)state;
	struct sk_ipset *set = sk_ipset_new();
	add(set, "2001:db8::/32");
	add(set, "fe80::1/128");
	add(set, "2001:db9:ffff:ffff:8000::/65");

	assert_true(has(set, "2001:db8::"));
	assert_true(has(set, "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"));
	assert_false(has(set, "2001:db9::"));
	assert_false(has(set, "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff"));
	assert_true(has(set, "fe80::1"));
	assert_false(has(set, "fe80::2"));
	assert_false(has(set, "fe80::"));
	assert_true(has(set, "2001:db9:ffff:ffff:8000::1"));
	assert_true(has(set, "2001:db9:ffff:ffff:ffff::1"));
	assert_false(has(set, "2001:db9:ffff:ffff:7fff::1"));
	assert_false(has(set, "32.1.13.184")); /* the first bytes of 2001:db8:: as IPv4 */
	assert_true(has_sa(set, "2001:db8::42"));
	assert_false(has_sa(set, "2001:db80::42"));
	sk_ipset_free(set);
}

/* A v4-mapped CIDR is an IPv4 CIDR, and a v4-mapped address is looked up as IPv4. */
static void test_mapped(void **state)
{
	(void)state;
	struct sk_ipset *set = sk_ipset_new();
	add(set, "::ffff:10.0.0.0/104");     /* = 10.0.0.0/8 */
	add(set, "192.168.0.0/16");          /* plain IPv4 */
	add(set, "::ffff:203.0.113.5");      /* /128 = 203.0.113.5/32 */

	assert_true(has(set, "10.1.2.3"));
	assert_true(has(set, "::ffff:10.1.2.3"));
	assert_false(has(set, "11.1.2.3"));
	assert_false(has(set, "::ffff:11.1.2.3"));
	assert_true(has(set, "192.168.7.7"));
	assert_true(has(set, "::ffff:192.168.7.7"));
	assert_true(has(set, "203.0.113.5"));
	assert_true(has(set, "::ffff:203.0.113.5"));
	assert_false(has(set, "::ffff:203.0.113.6"));
	/* The same bits outside the mapped range are not matched. */
	assert_false(has(set, "::a01:203"));
	assert_false(has(set, "64:ff9b::a01:203"));
	assert_true(has_sa(set, "::ffff:10.9.9.9"));
	assert_false(has_sa(set, "::ffff:12.9.9.9"));
	assert_int_equal(sk_ipset_count(set), 3);
	sk_ipset_free(set);

	/* ::ffff:0:0/96 is all of IPv4 and nothing else. */
	set = sk_ipset_new();
	add(set, "::ffff:0:0/96");
	assert_true(has(set, "1.2.3.4"));
	assert_true(has(set, "255.255.255.255"));
	assert_true(has(set, "::ffff:0.0.0.0"));
	assert_false(has(set, "::1"));
	assert_false(has(set, "2001:db8::1"));
	assert_false(has(set, "::fffe:1.2.3.4"));
	sk_ipset_free(set);

	/* A mapped CIDR shorter than 96 (::ffff:0:0/95 includes ::fffe:0:0/96) still covers IPv4. */
	set = sk_ipset_new();
	add(set, "::fffe:0:0/95");
	assert_true(has(set, "1.2.3.4"));
	assert_true(has(set, "::fffe:1.2.3.4"));
	assert_false(has(set, "::fffd:1.2.3.4"));
	sk_ipset_free(set);
}

/* Prefixes shorter than 96 that cover ::ffff:0:0/96 also match IPv4; those that do not, do not. */
static void test_covering_v6(void **state)
{
	(void)state;
	static const struct {
		const char *cidr;
		bool v4;
	} cases[] = {
		{ "::/0", true },        { "::/1", true },         { "::/64", true },
		{ "::/80", true },       { "::ffff:0:0/81", true }, { "::/81", false },
		{ "::/96", false },      { "8000::/1", false },    { "2001:db8::/32", false },
		{ "::ffff:0:0/90", true }, { "0:0:0:0:1::/80", false },
	};
	for (size_t i = 0; i < SK_ARRAY_LEN(cases); i++) {
		struct sk_ipset *set = sk_ipset_new();
		add(set, cases[i].cidr);
		if (has(set, "198.51.100.1") != cases[i].v4 || has(set, "::ffff:198.51.100.1") != cases[i].v4)
			fail_msg("%s: IPv4 match should be %d", cases[i].cidr, cases[i].v4);
		struct sk_cidr c = cidr(cases[i].cidr);
		if (sk_cidr_contains(&c, AF_INET, (const uint8_t[4]){ 198, 51, 100, 1 }) != cases[i].v4)
			fail_msg("sk_cidr_contains(%s) should be %d", cases[i].cidr, cases[i].v4);
		sk_ipset_free(set);
	}

	struct sk_ipset *set = sk_ipset_new();
	add(set, "::/0");
	assert_true(has(set, "::"));
	assert_true(has(set, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
	assert_true(has(set, "0.0.0.0"));
	assert_true(has(set, "255.255.255.255"));
	sk_ipset_free(set);
}

static void test_zero_and_full(void **state)
{
	(void)state;
	struct sk_ipset *set = sk_ipset_new();
	add(set, "0.0.0.0/0");
	assert_true(has(set, "0.0.0.0"));
	assert_true(has(set, "255.255.255.255"));
	assert_true(has(set, "::ffff:1.1.1.1"));
	assert_false(has(set, "::1")); /* IPv4 /0 is not IPv6 */
	assert_false(has(set, "2001:db8::1"));
	sk_ipset_free(set);

	set = sk_ipset_new();
	add(set, "0.0.0.0/32");
	add(set, "255.255.255.255/32");
	add(set, "::/128");
	add(set, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128");
	assert_true(has(set, "0.0.0.0"));
	assert_false(has(set, "0.0.0.1"));
	assert_true(has(set, "255.255.255.255"));
	assert_false(has(set, "255.255.255.254"));
	assert_true(has(set, "::"));
	assert_false(has(set, "::1"));
	assert_true(has(set, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
	assert_false(has(set, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe"));
	sk_ipset_free(set);
}

/* Overlapping prefixes give the same answers whatever the insertion order. */
static void test_overlap_orders(void **state)
{
	(void)state;
	static const char *prefixes[] = { "10.0.0.0/8", "10.1.0.0/16", "10.1.2.0/24", "10.1.2.3/32",
					  "10.128.0.0/9", "10.1.2.3/32" /* duplicate */ };
	static const struct {
		const char *ip;
		bool in;
	} probes[] = { { "10.0.0.0", true },    { "10.1.2.3", true },     { "10.200.0.1", true },
		       { "10.255.255.255", true }, { "11.0.0.0", false }, { "9.255.255.255", false } };
	size_t n = SK_ARRAY_LEN(prefixes);
	/* Every rotation and its reverse. */
	for (size_t rot = 0; rot < n; rot++) {
		for (int rev = 0; rev < 2; rev++) {
			struct sk_ipset *set = sk_ipset_new();
			for (size_t k = 0; k < n; k++) {
				size_t j = (rot + (rev ? n - 1 - k : k)) % n;
				add(set, prefixes[j]);
			}
			for (size_t p = 0; p < SK_ARRAY_LEN(probes); p++)
				assert_int_equal(has(set, probes[p].ip), probes[p].in);
			assert_int_equal(sk_ipset_count(set), n);
			sk_ipset_free(set);
		}
	}

	/* Sibling prefixes, then the parent that covers them, then more children. */
	struct sk_ipset *set = sk_ipset_new();
	add(set, "10.1.2.0/25");
	add(set, "10.1.2.128/25");
	assert_true(has(set, "10.1.2.1"));
	assert_true(has(set, "10.1.2.200"));
	assert_false(has(set, "10.1.3.0"));
	add(set, "10.1.0.0/16");
	add(set, "10.1.7.0/24");
	assert_true(has(set, "10.1.3.0"));
	assert_true(has(set, "10.1.255.255"));
	assert_false(has(set, "10.2.0.0"));
	sk_ipset_free(set);

	/* A branch point that later becomes a prefix itself. */
	set = sk_ipset_new();
	add(set, "2001:db8:1::/48");
	add(set, "2001:db8:2::/48");  /* branch at a /46 */
	add(set, "2001:db8::/46");
	assert_true(has(set, "2001:db8:3::1"));
	assert_false(has(set, "2001:db8:4::1"));
	sk_ipset_free(set);
}

static void test_cidr_contains(void **state)
{
	(void)state;
	static const struct {
		const char *cidr;
		const char *ip;
		bool in;
	} cases[] = {
		{ "10.0.0.0/8", "10.2.3.4", true },
		{ "10.0.0.0/8", "11.2.3.4", false },
		{ "10.0.0.0/8", "::ffff:10.2.3.4", true },
		{ "10.0.0.0/8", "::a02:304", false },
		{ "0.0.0.0/0", "1.1.1.1", true },
		{ "0.0.0.0/0", "::1", false },
		{ "1.2.3.4/32", "1.2.3.4", true },
		{ "1.2.3.4/32", "1.2.3.5", false },
		{ "1.2.3.4/31", "1.2.3.5", true },
		{ "::ffff:10.0.0.0/104", "10.9.9.9", true },
		{ "::ffff:10.0.0.0/104", "::ffff:10.9.9.9", true },
		{ "::ffff:10.0.0.0/104", "12.9.9.9", false },
		{ "2001:db8::/32", "2001:db8::1", true },
		{ "2001:db8::/32", "2001:db9::1", false },
		{ "2001:db8::/32", "32.1.13.184", false },
		{ "::/0", "8.8.8.8", true },
		{ "::/0", "2001:db8::1", true },
		{ "::1/128", "::1", true },
		{ "::1/128", "::2", false },
		{ "fe80::/10", "febf::1", true },
		{ "fe80::/10", "fec0::1", false },
	};
	for (size_t i = 0; i < SK_ARRAY_LEN(cases); i++) {
		struct sk_cidr c = cidr(cases[i].cidr);
		uint8_t a[16];
		int fam = strchr(cases[i].ip, ':') ? AF_INET6 : AF_INET;
		assert_int_equal(inet_pton(fam, cases[i].ip, a), 1);
		if (sk_cidr_contains(&c, fam, a) != cases[i].in)
			fail_msg("sk_cidr_contains(%s, %s) should be %d", cases[i].cidr, cases[i].ip, cases[i].in);
	}
}

static void test_sa_helpers(void **state)
{
	(void)state;
	/* Storage-sized objects, as real callers hold (accept() fills a sockaddr_storage). */
	struct sockaddr_storage in_ss = { .ss_family = AF_INET }, in6_ss = { .ss_family = AF_INET6 };
	struct sockaddr_in *in = (struct sockaddr_in *)&in_ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&in6_ss;
	struct sockaddr_storage un_ss = { .ss_family = AF_UNIX };
	struct sockaddr *un = (struct sockaddr *)&un_ss;
	uint8_t a[16];
	char text[64];

	inet_pton(AF_INET, "192.0.2.33", &in->sin_addr);
	assert_int_equal(sk_sa_to_bytes((struct sockaddr *)in, a), AF_INET);
	assert_memory_equal(a, ((uint8_t[]){ 192, 0, 2, 33 }), 4);
	sk_sa_to_text((struct sockaddr *)in, text, sizeof(text));
	assert_string_equal(text, "192.0.2.33");

	inet_pton(AF_INET6, "::ffff:192.0.2.33", &in6->sin6_addr);
	assert_int_equal(sk_sa_to_bytes((struct sockaddr *)in6, a), AF_INET);
	assert_memory_equal(a, ((uint8_t[]){ 192, 0, 2, 33 }), 4);
	sk_sa_to_text((struct sockaddr *)in6, text, sizeof(text));
	assert_string_equal(text, "192.0.2.33");

	inet_pton(AF_INET6, "2001:db8::5", &in6->sin6_addr);
	assert_int_equal(sk_sa_to_bytes((struct sockaddr *)in6, a), AF_INET6);
	assert_memory_equal(a, in6->sin6_addr.s6_addr, 16);
	sk_sa_to_text((struct sockaddr *)in6, text, sizeof(text));
	assert_string_equal(text, "2001:db8::5");

	assert_int_equal(sk_sa_to_bytes(un, a), -1);
	sk_sa_to_text(un, text, sizeof(text));
	assert_string_equal(text, "?");
	sk_sa_to_text((struct sockaddr *)in, text, 4); /* too small: still terminated */
	assert_true(strlen(text) < 4);

	struct sk_ipset *set = sk_ipset_new();
	add(set, "::/0");
	assert_false(sk_ipset_contains_sa(set, un));
	sk_ipset_free(set);
}

/* ---- 100 000 random prefixes against a linear reference ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	/* xorshift64*: deterministic, so a failure reproduces. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ull;
}

struct ref4 {
	uint32_t net, mask;
};

static bool ref4_has(const struct ref4 *r, size_t n, uint32_t a)
{
	for (size_t i = 0; i < n; i++)
		if ((a & r[i].mask) == r[i].net)
			return true;
	return false;
}

static void be32(uint8_t *b, uint32_t v)
{
	b[0] = (uint8_t)(v >> 24);
	b[1] = (uint8_t)(v >> 16);
	b[2] = (uint8_t)(v >> 8);
	b[3] = (uint8_t)v;
}

/* Live nodes: those reachable from the root (the rest is garbage left by covering prefixes). */
static size_t live_nodes(const struct trie *t, uint32_t i)
{
	if (i == 0)
		return 0;
	const uint32_t *n = node(t, i);
	return 1 + live_nodes(t, n[N_CHILD]) + live_nodes(t, n[N_CHILD + 1]);
}

/*
 * Builds n random IPv4 prefixes, with lengths from min_len to 32, inside `base`/`base_len` so that
 * overlaps are frequent or rare, and checks `probes` addresses (half near inserted prefixes, half
 * random) against the reference, both as IPv4 and as v4-mapped IPv6. With `both`, the probes must have
 * met both answers (dense sets may cover everything).
 */
static struct sk_ipset *random_v4(size_t n, unsigned min_len, uint32_t base, unsigned base_len, size_t probes,
				  bool both)
{
	struct ref4 *ref = sk_calloc(n, sizeof(*ref));
	struct sk_ipset *set = sk_ipset_new();
	uint32_t base_mask = base_len ? UINT32_MAX << (32 - base_len) : 0;

	for (size_t i = 0; i < n; i++) {
		unsigned len = min_len + (unsigned)(rnd() % (33 - min_len));
		uint32_t a = (base & base_mask) | ((uint32_t)rnd() & ~base_mask);
		uint32_t mask = len ? UINT32_MAX << (32 - len) : 0;
		ref[i] = (struct ref4){ .net = a & mask, .mask = mask };
		struct sk_cidr c = { .family = AF_INET, .prefix = (uint8_t)len };
		be32(c.addr, a); /* host bits left set on purpose */
		sk_ipset_add(set, &c);
	}
	assert_int_equal(sk_ipset_count(set), n);

	size_t hits = 0;
	for (size_t k = 0; k < probes; k++) {
		uint32_t a;
		if (k % 2 == 0) {
			const struct ref4 *r = &ref[rnd() % n];
			a = r->net | ((uint32_t)rnd() & ~r->mask);
			if (k % 4 == 0)
				a ^= 1u << (rnd() % 32); /* a neighbour, inside or not */
		} else {
			a = (base & base_mask) | ((uint32_t)rnd() & ~base_mask);
		}
		bool want = ref4_has(ref, n, a);
		hits += want;
		uint8_t b[16] = { [10] = 0xff, [11] = 0xff };
		be32(b + 12, a);
		if (sk_ipset_contains(set, AF_INET, b + 12) != want ||
		    sk_ipset_contains(set, AF_INET6, b) != want)
			fail_msg("%u.%u.%u.%u: expected %d", b[12], b[13], b[14], b[15], want);
	}
	if (both)
		assert_true(hits > 0 && hits < probes); /* the probes exercised both answers */
	free(ref);
	return set;
}

static void test_random_v4_100k(void **state)
{
	(void)state;
	struct sk_ipset *set = random_v4(100000, 16, 0, 0, 2000, true);
	size_t nodes = set->v4.n_nodes - 1, live = live_nodes(&set->v4, set->v4.root);
	size_t used = (size_t)set->v4.n_nodes * set->v4.stride * 4;
	size_t alloc = (size_t)set->v4.cap * set->v4.stride * 4;
	print_message("100 000 random IPv4 prefixes (/16../32): %zu nodes (%zu live), %zu bytes used, "
		      "%zu bytes allocated (%.1f bytes/prefix)\n",
		      nodes, live, used, alloc, (double)alloc / 100000);
	assert_true(nodes < 2 * 100000);
	sk_ipset_free(set);

	/* The usual shape of a block list: /24s and /32s. */
	rng_state = 42;
	set = random_v4(100000, 24, 0, 0, 200, true);
	print_message("100 000 random IPv4 prefixes (/24../32): %u nodes, %zu bytes allocated\n",
		      set->v4.n_nodes - 1, (size_t)set->v4.cap * set->v4.stride * 4);
	sk_ipset_free(set);
}

/* Dense overlaps: many prefixes of every length inside one /16, probed thoroughly. */
static void test_random_v4_dense(void **state)
{
	(void)state;
	for (int round = 0; round < 20; round++) {
		struct sk_ipset *set = random_v4(300, 17 + (unsigned)round % 8, 0x0a000000, 16, 4000, false);
		sk_ipset_free(set);
	}
	/* Short prefixes anywhere, including /0 now and then. */
	for (int round = 0; round < 20; round++) {
		struct sk_ipset *set = random_v4(40, (unsigned)round, 0, 0, 2000, false);
		sk_ipset_free(set);
	}
}

static void rnd_bytes(uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)rnd();
}

static void test_random_v6_100k(void **state)
{
	(void)state;
	enum { N = 100000, PROBES = 600 };
	struct sk_cidr *ref = sk_calloc(N, sizeof(*ref));
	struct sk_ipset *set = sk_ipset_new();

	for (size_t i = 0; i < N; i++) {
		struct sk_cidr *c = &ref[i];
		c->family = AF_INET6;
		c->prefix = (uint8_t)(48 + rnd() % 81);
		rnd_bytes(c->addr, 16);
		/* Four /32 roots, so that prefixes share long paths and overlap now and then. */
		c->addr[0] = 0x20;
		c->addr[1] = 0x01;
		c->addr[2] = 0x0d;
		c->addr[3] = (uint8_t)(rnd() % 4);
		sk_ipset_add(set, c);
	}
	size_t hits = 0;
	for (size_t k = 0; k < PROBES; k++) {
		uint8_t a[16];
		if (k % 2 == 0) {
			const struct sk_cidr *c = &ref[rnd() % N];
			rnd_bytes(a, 16);
			unsigned full = c->prefix / 8, rest = c->prefix % 8;
			memcpy(a, c->addr, full);
			if (rest)
				a[full] = (uint8_t)((c->addr[full] & (0xff << (8 - rest))) |
						    (a[full] & (0xff >> rest)));
			if (k % 4 == 0)
				a[rnd() % 16] ^= (uint8_t)(1u << (rnd() % 8));
		} else {
			rnd_bytes(a, 16);
			a[0] = 0x20;
			a[1] = 0x01;
			a[2] = 0x0d;
			a[3] = (uint8_t)(rnd() % 8);
		}
		bool want = false;
		for (size_t i = 0; i < N && !want; i++)
			want = sk_cidr_contains(&ref[i], AF_INET6, a);
		hits += want;
		if (sk_ipset_contains(set, AF_INET6, a) != want) {
			char text[INET6_ADDRSTRLEN];
			inet_ntop(AF_INET6, a, text, sizeof(text));
			fail_msg("%s: expected %d", text, want);
		}
	}
	assert_true(hits > 0 && hits < PROBES);
	assert_false(has(set, "1.2.3.4"));
	print_message("100 000 random IPv6 prefixes: %u nodes, %zu bytes allocated\n", set->v6.n_nodes - 1,
		      (size_t)set->v6.cap * set->v6.stride * 4);
	free(ref);
	sk_ipset_free(set);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_v4),
		cmocka_unit_test(test_v6),
		cmocka_unit_test(test_mapped),
		cmocka_unit_test(test_covering_v6),
		cmocka_unit_test(test_zero_and_full),
		cmocka_unit_test(test_overlap_orders),
		cmocka_unit_test(test_cidr_contains),
		cmocka_unit_test(test_sa_helpers),
		cmocka_unit_test(test_random_v4_100k),
		cmocka_unit_test(test_random_v4_dense),
		cmocka_unit_test(test_random_v6_100k),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
