/*
 * guard.c — the SSRF guard of DESIGN §5a: may the proxy connect to this address and port?
 *
 * Order of the checks, and why:
 * 1. An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is the IPv4 address: connect() sends it there, so it
 *    is judged as that address in every later step.
 * 2. sekisho's own listening sockets are refused whatever allow_ips says (a proxy looping into itself, or
 *    into its admin listener). A local address is any interface address, 127/8, ::1, and the unspecified
 *    addresses (Linux connects 0.0.0.0 and :: to the host itself); a local address on a port sekisho
 *    listens on is refused even when the listen address is a specific one: more than DESIGN §5a asks
 *    (which names the listen address, or every local address for a wildcard), but an address of this host
 *    on one of its own ports is never an outside service.
 * 3. allow_ips lets an address through (the operator's word), before the special-purpose ranges.
 * 4. The special-purpose ranges: DESIGN §5a's list, plus a few IPv6 ranges that are just as internal or
 *    unroutable (IPv4-compatible ::/96, 64:ff9b:1::/48, 100::/64, 2001::/23 which holds Teredo, 2001:db8::/32,
 *    fec0::/10) and 192.88.99.0/24 (the 6to4 relay anycast). NAT64 (64:ff9b::/96) and 6to4 (2002::/16)
 *    addresses are judged by the IPv4 address they embed: refused if that one would be.
 * Pure: the guard's arrays are filled once per snapshot; a check allocates nothing.
 */
#include "egress/egress.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

struct range {
	uint8_t addr[16];
	uint8_t prefix;
};

#define V4(a, b, c, d, p) { .addr = { a, b, c, d }, .prefix = p }

static const struct range special_v4[] = {
	V4(0, 0, 0, 0, 8),       V4(10, 0, 0, 0, 8),      V4(100, 64, 0, 0, 10),   V4(127, 0, 0, 0, 8),
	V4(169, 254, 0, 0, 16),  V4(172, 16, 0, 0, 12),   V4(192, 0, 0, 0, 24),    V4(192, 0, 2, 0, 24),
	V4(192, 88, 99, 0, 24),  V4(192, 168, 0, 0, 16),  V4(198, 18, 0, 0, 15),   V4(198, 51, 100, 0, 24),
	V4(203, 0, 113, 0, 24),  V4(224, 0, 0, 0, 4),     V4(240, 0, 0, 0, 4),
};

static const struct range special_v6[] = {
	{ .addr = { 0 }, .prefix = 96 },                             /* ::/128, ::1 and IPv4-compatible ::/96 */
	{ .addr = { 0, 0x64, 0xff, 0x9b, 0, 1 }, .prefix = 48 },     /* 64:ff9b:1::/48 local-use NAT64 */
	{ .addr = { 1, 0 }, .prefix = 64 },                          /* 100::/64 discard-only */
	{ .addr = { 0x20, 0x01, 0 }, .prefix = 23 },                 /* 2001::/23 IETF protocols, Teredo */
	{ .addr = { 0x20, 0x01, 0x0d, 0xb8 }, .prefix = 32 },        /* 2001:db8::/32 documentation */
	{ .addr = { 0xfc }, .prefix = 7 },                           /* fc00::/7 unique local */
	{ .addr = { 0xfe, 0x80 }, .prefix = 10 },                    /* fe80::/10 link-local */
	{ .addr = { 0xfe, 0xc0 }, .prefix = 10 },                    /* fec0::/10 site-local (deprecated) */
	{ .addr = { 0xff }, .prefix = 8 },                           /* ff00::/8 multicast */
};

static const uint8_t nat64_prefix[12] = { 0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0 };

static bool prefix_eq(const uint8_t *a, const uint8_t *b, unsigned bits)
{
	unsigned bytes = bits / 8, rest = bits % 8;
	if (memcmp(a, b, bytes) != 0)
		return false;
	if (rest == 0)
		return true;
	uint8_t mask = (uint8_t)(0xff << (8 - rest));
	return (a[bytes] & mask) == (b[bytes] & mask);
}

static bool in_ranges(const struct range *r, size_t n, const uint8_t *addr)
{
	for (size_t i = 0; i < n; i++)
		if (prefix_eq(addr, r[i].addr, r[i].prefix))
			return true;
	return false;
}

static bool in_allow(const struct sk_egress_guard *g, int family, const uint8_t *addr)
{
	for (size_t i = 0; i < g->n_allow; i++)
		if (g->allow[i].family == family && prefix_eq(addr, g->allow[i].addr, g->allow[i].prefix))
			return true;
	return false;
}

/* Reduces an IPv4-mapped IPv6 address to its IPv4 (family and addr rewritten in place). */
static void unmap(int *family, uint8_t *addr)
{
	if (*family == AF_INET6 && memcmp(addr, sk_v4mapped_prefix, 12) == 0) {
		memmove(addr, addr + 12, 4);
		memset(addr + 4, 0, 12);
		*family = AF_INET;
	}
}

static bool is_local(const struct sk_egress_guard *g, int family, const uint8_t *addr)
{
	static const uint8_t zero[16], one6[16] = { [15] = 1 };
	if (family == AF_INET && (addr[0] == 127 || memcmp(addr, zero, 4) == 0))
		return true;
	if (family == AF_INET6 && (memcmp(addr, zero, 16) == 0 || memcmp(addr, one6, 16) == 0))
		return true;
	for (size_t i = 0; i < g->n_local; i++) {
		int lf = g->local[i].family;
		uint8_t la[16];
		memcpy(la, g->local[i].addr, 16);
		unmap(&lf, la);
		if (lf == family && memcmp(la, addr, family == AF_INET ? 4 : 16) == 0)
			return true;
	}
	return false;
}

static bool is_self(const struct sk_egress_guard *g, int family, const uint8_t *addr, uint16_t port)
{
	bool local = is_local(g, family, addr);
	for (size_t i = 0; i < g->n_self; i++) {
		const struct sk_egress_self *s = &g->self[i];
		if (s->port != port)
			continue;
		int sf = s->family;
		uint8_t sa[16];
		memcpy(sa, s->addr, 16);
		unmap(&sf, sa);
		if (local || (sf == family && memcmp(sa, addr, family == AF_INET ? 4 : 16) == 0))
			return true;
	}
	return false;
}

/* Refused for being special (allow_ips already consulted for the address itself). */
static bool special(const struct sk_egress_guard *g, int family, const uint8_t *addr)
{
	if (family == AF_INET)
		return in_ranges(special_v4, SK_ARRAY_LEN(special_v4), addr);
	const uint8_t *embedded = NULL;
	if (memcmp(addr, nat64_prefix, 12) == 0)
		embedded = addr + 12;
	else if (addr[0] == 0x20 && addr[1] == 0x02)
		embedded = addr + 2;
	if (embedded)
		return !in_allow(g, AF_INET, embedded) && in_ranges(special_v4, SK_ARRAY_LEN(special_v4), embedded);
	return in_ranges(special_v6, SK_ARRAY_LEN(special_v6), addr);
}

enum sk_egress_verdict sk_egress_guard_check(const struct sk_egress_guard *g, const struct sockaddr *sa)
{
	int family = sa->sa_family;
	uint8_t addr[16] = { 0 };
	uint16_t port;
	if (family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		memcpy(addr, &in->sin_addr, 4);
		port = ntohs(in->sin_port);
	} else if (family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		memcpy(addr, &in6->sin6_addr, 16);
		port = ntohs(in6->sin6_port);
	} else {
		return SK_EGRESS_ADDR_SPECIAL;
	}
	unmap(&family, addr);
	if (is_self(g, family, addr, port))
		return SK_EGRESS_ADDR_SELF;
	if (in_allow(g, family, addr))
		return SK_EGRESS_ADDR_OK;
	return special(g, family, addr) ? SK_EGRESS_ADDR_SPECIAL : SK_EGRESS_ADDR_OK;
}

bool sk_egress_guard_ip_allowed(const struct sk_egress_guard *g, int family, const uint8_t *addr)
{
	uint8_t a[16] = { 0 };
	memcpy(a, addr, family == AF_INET ? 4 : 16);
	unmap(&family, a);
	return in_allow(g, family, a);
}

void sk_egress_guard_init(struct sk_egress_guard *g, const struct sk_cidrlist *allow_ips,
			  const struct sk_egress_self *self, size_t n_self, const struct sk_egress_local *local,
			  size_t n_local)
{
	memset(g, 0, sizeof(*g));
	g->n_allow = allow_ips ? allow_ips->n : 0;
	g->allow = sk_calloc(g->n_allow + 1, sizeof(*g->allow));
	for (size_t i = 0; i < g->n_allow; i++) {
		/* An allow_ips entry written as ::ffff:10.0.0.0/104 means the IPv4 network, as addresses do. */
		struct sk_cidr c = allow_ips->items[i];
		if (c.family == AF_INET6 && c.prefix >= 96 && memcmp(c.addr, sk_v4mapped_prefix, 12) == 0) {
			memmove(c.addr, c.addr + 12, 4);
			memset(c.addr + 4, 0, 12);
			c.family = AF_INET;
			c.prefix = (uint8_t)(c.prefix - 96);
		}
		g->allow[i] = c;
	}
	g->n_self = n_self;
	g->self = sk_calloc(n_self + 1, sizeof(*g->self));
	if (n_self)
		memcpy(g->self, self, n_self * sizeof(*self));
	g->n_local = n_local;
	g->local = sk_calloc(n_local + 1, sizeof(*g->local));
	if (n_local)
		memcpy(g->local, local, n_local * sizeof(*local));
}

void sk_egress_guard_free(struct sk_egress_guard *g)
{
	free(g->allow);
	free(g->self);
	free(g->local);
	memset(g, 0, sizeof(*g));
}
