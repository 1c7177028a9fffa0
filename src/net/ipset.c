/*
 * ipset.c — IP sets (DESIGN §3): one path-compressed binary trie (a radix / PATRICIA trie) per family.
 *
 * Layout. The nodes of a trie live in one growable array of uint32_t words, `stride` words per node:
 *   [0] child for bit 0, [1] child for bit 1, [2] meta (prefix length in bits 0-7, TERM in bit 8),
 *   [3..] the node's key, `words` big-endian-ordered 32-bit words (1 for IPv4, 4 for IPv6),
 *   with every bit past the prefix length zero.
 * A node therefore costs 16 bytes in the IPv4 trie and 28 bytes in the IPv6 trie, and there are at
 * most 2n - 1 nodes for n prefixes. Node 0 is never used, so a child index of 0 means "no child".
 *
 * Invariants:
 *  - A node's prefix extends its parent's prefix; the bit right after the parent's prefix selects the
 *    child slot the node hangs from.
 *  - A TERM node is a prefix of the set. Since a set only answers membership, everything below a TERM
 *    node is redundant: inserting a prefix that is already covered is a no-op, and inserting a prefix
 *    that covers a subtree cuts that subtree off (its nodes stay in the array as garbage until free).
 *    Hence a TERM node has no children, and every non-TERM node is a branch with two children.
 *  - v4-mapped IPv6 (::ffff:0:0/96 and longer) goes into the IPv4 trie; an IPv6 prefix shorter than 96
 *    that covers ::ffff:0:0/96 (e.g. ::/0) also adds 0.0.0.0/0, so mapped and plain IPv4 addresses are
 *    answered by the IPv4 trie alone.
 * Lookups walk at most one node per address bit, allocate nothing and write nothing: once built, a set
 * may be read from any number of threads.
 */
#include "net/ipset.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

enum {
	N_CHILD = 0, /* two words: child[0], child[1] */
	N_META = 2,
	N_KEY = 3,
	META_LEN_MASK = 0xff,
	META_TERM = 0x100,
};

struct trie {
	uint32_t *w;     /* n_nodes * stride words */
	uint32_t n_nodes; /* including the unused node 0 */
	uint32_t cap;     /* nodes */
	uint32_t root;    /* 0 = empty */
	unsigned words;   /* key words: 1 (IPv4) or 4 (IPv6) */
	unsigned bits;    /* 32 or 128 */
	unsigned stride;  /* N_KEY + words */
};

struct sk_ipset {
	struct trie v4;
	struct trie v6;
	size_t count;
};


static uint32_t *node(const struct trie *t, uint32_t i)
{
	return t->w + (size_t)i * t->stride;
}

static unsigned bit_at(const uint32_t *key, unsigned i)
{
	return (key[i >> 5] >> (31 - (i & 31))) & 1;
}

/* Clears every bit of key past the first len. */
static void mask_key(uint32_t *key, unsigned words, unsigned len)
{
	for (unsigned j = 0; j < words; j++) {
		unsigned lo = j * 32;
		if (len <= lo)
			key[j] = 0;
		else if (len < lo + 32)
			key[j] &= ~(UINT32_MAX >> (len - lo));
	}
}

/* Bytes in network order → key words; bits past len cleared. */
static void key_from_bytes(uint32_t *key, const uint8_t *b, unsigned words, unsigned len)
{
	for (unsigned j = 0; j < words; j++)
		key[j] = (uint32_t)b[4 * j] << 24 | (uint32_t)b[4 * j + 1] << 16 | (uint32_t)b[4 * j + 2] << 8 |
			 (uint32_t)b[4 * j + 3];
	mask_key(key, words, len);
}

/*
 * Length of the common prefix of a and b, at most max bits. Bits before `from` are known to be equal
 * (the walk has checked them already), so comparison starts at from's word.
 */
static unsigned common_len(const uint32_t *a, const uint32_t *b, unsigned from, unsigned max)
{
	for (unsigned j = from >> 5; j * 32 < max; j++) {
		uint32_t x = a[j] ^ b[j];
		if (x) {
			unsigned r = j * 32 + (unsigned)__builtin_clz(x);
			return r < max ? r : max;
		}
	}
	return max;
}

static void trie_init(struct trie *t, unsigned words)
{
	*t = (struct trie){
		.words = words,
		.bits = words * 32,
		.stride = N_KEY + words,
		.n_nodes = 1, /* node 0 is the "no child" marker */
		.cap = 0,
	};
}

static uint32_t trie_new_node(struct trie *t, const uint32_t *key, unsigned len, bool term)
{
	if (t->n_nodes >= t->cap) {
		/* Grow by half: at 100 000 prefixes the slack stays under a third of the array. */
		uint32_t cap = t->cap < 64 ? 64 : t->cap + t->cap / 2;
		SK_ASSERT(cap > t->cap); /* no wrap-around of the uint32_t indexes */
		t->w = sk_realloc(t->w, (size_t)cap * t->stride * sizeof(uint32_t));
		t->cap = cap;
	}
	uint32_t i = t->n_nodes++;
	uint32_t *n = node(t, i);
	n[N_CHILD] = 0;
	n[N_CHILD + 1] = 0;
	n[N_META] = len | (term ? META_TERM : 0);
	memcpy(n + N_KEY, key, t->words * sizeof(uint32_t));
	return i;
}

/* The link that holds a node: parent 0 means the root pointer. Indexes, not pointers: the array moves. */
static void set_link(struct trie *t, uint32_t parent, unsigned dir, uint32_t child)
{
	if (parent == 0)
		t->root = child;
	else
		node(t, parent)[N_CHILD + dir] = child;
}

static uint32_t get_link(const struct trie *t, uint32_t parent, unsigned dir)
{
	return parent == 0 ? t->root : node(t, parent)[N_CHILD + dir];
}

/* Inserts key/len (key already masked to len bits). */
static void trie_insert(struct trie *t, const uint32_t *key, unsigned len)
{
	uint32_t parent = 0;
	unsigned dir = 0, checked = 0;

	for (;;) {
		uint32_t i = get_link(t, parent, dir);
		if (i == 0) {
			uint32_t leaf = trie_new_node(t, key, len, true);
			set_link(t, parent, dir, leaf);
			return;
		}
		uint32_t *n = node(t, i);
		unsigned nlen = n[N_META] & META_LEN_MASK;
		unsigned c = common_len(key, n + N_KEY, checked, SK_MIN(len, nlen));
		if (c == nlen) {
			/* n's prefix is a prefix of the new one (or equal to it). */
			if (n[N_META] & META_TERM)
				return; /* already covered */
			if (len == nlen) {
				/* A branch becomes a prefix of the set: its subtree is now redundant. */
				n[N_META] |= META_TERM;
				n[N_CHILD] = n[N_CHILD + 1] = 0;
				return;
			}
			parent = i;
			dir = bit_at(key, nlen);
			checked = nlen;
			continue;
		}
		if (c == len) {
			/* The new prefix covers n and everything below it: n becomes that leaf. */
			n[N_CHILD] = n[N_CHILD + 1] = 0;
			n[N_META] = len | META_TERM;
			memcpy(n + N_KEY, key, t->words * sizeof(uint32_t));
			return;
		}
		/* The two diverge at bit c: a branch node on their common prefix takes both. */
		unsigned ndir = bit_at(node(t, i) + N_KEY, c);
		uint32_t bkey[4];
		memcpy(bkey, key, t->words * sizeof(uint32_t));
		mask_key(bkey, t->words, c);
		uint32_t leaf = trie_new_node(t, key, len, true);
		uint32_t branch = trie_new_node(t, bkey, c, false);
		uint32_t *b = node(t, branch);
		b[N_CHILD + ndir] = i;
		b[N_CHILD + !ndir] = leaf;
		set_link(t, parent, dir, branch);
		return;
	}
}

/* key: the full address (t->bits bits). */
static bool trie_lookup(const struct trie *t, const uint32_t *key)
{
	uint32_t i = t->root;
	unsigned checked = 0;

	while (i != 0) {
		const uint32_t *n = node(t, i);
		unsigned len = n[N_META] & META_LEN_MASK;
		if (len > checked && common_len(key, n + N_KEY, checked, len) < len)
			return false;
		if (n[N_META] & META_TERM)
			return true;
		if (len >= t->bits)
			return false; /* cannot happen: full-length nodes are TERM */
		checked = len;
		i = n[N_CHILD + bit_at(key, len)];
	}
	return false;
}

/* True when the first `bits` bits of a and b are equal. */
static bool bytes_prefix_eq(const uint8_t *a, const uint8_t *b, unsigned bits)
{
	unsigned full = bits / 8, rest = bits % 8;
	if (memcmp(a, b, full) != 0)
		return false;
	if (rest == 0)
		return true;
	uint8_t mask = (uint8_t)(0xff << (8 - rest));
	return ((a[full] ^ b[full]) & mask) == 0;
}

/* An IPv6 prefix shorter than 96 bits that contains all of ::ffff:0:0/96. */
static bool covers_mapped(const uint8_t *addr16, unsigned prefix)
{
	return prefix < 96 && bytes_prefix_eq(addr16, sk_v4mapped_prefix, prefix);
}

struct sk_ipset *sk_ipset_new(void)
{
	struct sk_ipset *set = sk_calloc(1, sizeof(*set));
	trie_init(&set->v4, 1);
	trie_init(&set->v6, 4);
	return set;
}

void sk_ipset_free(struct sk_ipset *set)
{
	if (!set)
		return;
	free(set->v4.w);
	free(set->v6.w);
	free(set);
}

static void add_v4(struct sk_ipset *set, const uint8_t *addr4, unsigned prefix)
{
	uint32_t key[1];
	key_from_bytes(key, addr4, 1, prefix);
	trie_insert(&set->v4, key, prefix);
}

/*
 * Adds a CIDR (family AF_INET with prefix ≤ 32, or AF_INET6 with prefix ≤ 128; anything else is a bug
 * in the caller, since the config parser validates CIDRs). Host bits past the prefix are ignored.
 */
void sk_ipset_add(struct sk_ipset *set, const struct sk_cidr *cidr)
{
	SK_ASSERT(set && cidr);
	if (cidr->family == AF_INET) {
		SK_ASSERT(cidr->prefix <= 32);
		add_v4(set, cidr->addr, cidr->prefix);
	} else {
		SK_ASSERT(cidr->family == AF_INET6 && cidr->prefix <= 128);
		if (cidr->prefix >= 96 && sk_ip6_is_v4mapped(cidr->addr)) {
			add_v4(set, cidr->addr + 12, cidr->prefix - 96u);
		} else {
			if (covers_mapped(cidr->addr, cidr->prefix))
				add_v4(set, (const uint8_t[4]){ 0 }, 0);
			uint32_t key[4];
			key_from_bytes(key, cidr->addr, 4, cidr->prefix);
			trie_insert(&set->v6, key, cidr->prefix);
		}
	}
	set->count++;
}

/* addr: 4 bytes for AF_INET, 16 for AF_INET6; any other family is not in the set. NULL set = empty. */
bool sk_ipset_contains(const struct sk_ipset *set, int family, const uint8_t *addr)
{
	if (!set)
		return false;
	uint32_t key[4];
	if (family == AF_INET6 && sk_ip6_is_v4mapped(addr)) {
		family = AF_INET;
		addr += 12;
	}
	if (family == AF_INET) {
		key_from_bytes(key, addr, 1, 32);
		return trie_lookup(&set->v4, key);
	}
	if (family == AF_INET6) {
		key_from_bytes(key, addr, 4, 128);
		return trie_lookup(&set->v6, key);
	}
	return false;
}

/* Other address families (AF_UNIX...) are never in a set. */
bool sk_ipset_contains_sa(const struct sk_ipset *set, const struct sockaddr *sa)
{
	uint8_t addr[16];
	int family = sk_sa_to_bytes(sa, addr);
	return family != -1 && sk_ipset_contains(set, family, addr);
}

/* Counts sk_ipset_add() calls, duplicates and covered prefixes included (what the operator wrote). */
size_t sk_ipset_count(const struct sk_ipset *set)
{
	return set ? set->count : 0;
}

bool sk_cidr_contains(const struct sk_cidr *cidr, int family, const uint8_t *addr)
{
	if (family == AF_INET6 && sk_ip6_is_v4mapped(addr)) {
		family = AF_INET;
		addr += 12;
	}
	if (family != AF_INET && family != AF_INET6)
		return false;

	int cfam = cidr->family;
	const uint8_t *caddr = cidr->addr;
	unsigned prefix = cidr->prefix;
	if (cfam == AF_INET6 && prefix >= 96 && sk_ip6_is_v4mapped(caddr)) {
		cfam = AF_INET;
		caddr += 12;
		prefix -= 96;
	}
	if (cfam == AF_INET6 && family == AF_INET)
		return covers_mapped(caddr, prefix);
	if (cfam != family)
		return false;
	if (prefix > (family == AF_INET ? 32u : 128u))
		return false;
	return bytes_prefix_eq(caddr, addr, prefix);
}

int sk_sa_to_bytes(const struct sockaddr *sa, uint8_t addr[16])
{
	if (!sa)
		return -1;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		memcpy(addr, &in->sin_addr, 4);
		return AF_INET;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		const uint8_t *b = in6->sin6_addr.s6_addr;
		if (sk_ip6_is_v4mapped(b)) {
			memcpy(addr, b + 12, 4);
			return AF_INET;
		}
		memcpy(addr, b, 16);
		return AF_INET6;
	}
	return -1;
}

/* Writes "?" for other families (or "" when even that does not fit); never fails. */
void sk_sa_to_text(const struct sockaddr *sa, char *out, size_t cap)
{
	if (cap == 0)
		return;
	uint8_t addr[16];
	int family = sk_sa_to_bytes(sa, addr);
	if (family == -1 || cap > (size_t)INT32_MAX || !inet_ntop(family, addr, out, (socklen_t)cap))
		snprintf(out, cap, "?");
}
