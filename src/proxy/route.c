/*
 * route.c — request-target splitting, path normalisation, glob patterns, Host canonicalisation and the
 * Host → distribution table (DESIGN §1).
 *
 * The string functions are pure: they read their input, write only into the caller's buffer and never
 * allocate. The route table is built once from a validated config and then only read, from any thread:
 *  - exact aliases live in an open-addressing hash table (FNV-1a, linear probing, load ≤ 1/2);
 *  - wildcard aliases "*.example.com" live in a second such table keyed by the suffix "example.com";
 *    a Host is probed at each dot from the left, so the first hit is the longest suffix (O(labels));
 *  - per distribution, a bitset of the listener indexes it is reachable through.
 * The table points into the config's distributions: the config must outlive it (both belong to one
 * runtime snapshot).
 */
#include "proxy/route.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/core.h"

/* A DNS name is at most 253 characters; a bracketed IPv6 literal far fewer. */
#define HOST_MAX 256

/* ---- request-target ------------------------------------------------------------------------------- */

static bool slice_has_prefix_ci(struct sk_slice s, const char *lit)
{
	size_t n = strlen(lit);
	return s.len >= n && strncasecmp(s.ptr, lit, n) == 0;
}

/* Splits "path[?query]" at the first '?'. */
static void split_query(const char *p, size_t len, struct sk_slice *path, struct sk_slice *query)
{
	const char *q = memchr(p, '?', len);
	size_t plen = q ? (size_t)(q - p) : len;
	*path = (struct sk_slice){ .ptr = p, .len = plen };
	*query = (struct sk_slice){ .ptr = p + plen, .len = len - plen };
}

int sk_target_split(struct sk_slice target, bool asterisk_ok, struct sk_slice *authority,
		    struct sk_slice *path, struct sk_slice *query)
{
	*authority = (struct sk_slice){ .ptr = target.ptr, .len = 0 };
	if (target.len == 0 || memchr(target.ptr, '#', target.len))
		return -1;

	if (target.len == 1 && target.ptr[0] == '*') {
		if (!asterisk_ok)
			return -1;
		*path = target;
		*query = (struct sk_slice){ .ptr = target.ptr + 1, .len = 0 };
		return 0;
	}
	if (target.ptr[0] == '/') {
		split_query(target.ptr, target.len, path, query);
		return 0;
	}

	size_t skip;
	if (slice_has_prefix_ci(target, "http://"))
		skip = 7;
	else if (slice_has_prefix_ci(target, "https://"))
		skip = 8;
	else
		return -1; /* authority-form, relative path, other scheme */

	const char *a = target.ptr + skip, *end = target.ptr + target.len;
	const char *ae = a;
	while (ae < end && *ae != '/' && *ae != '?')
		ae++;
	/* Userinfo ("user@host") is deprecated for http(s) and a classic confusion vector: refuse it. */
	if (ae == a || memchr(a, '@', (size_t)(ae - a)))
		return -1;
	*authority = (struct sk_slice){ .ptr = a, .len = (size_t)(ae - a) };
	if (ae == end || *ae == '?') {
		*path = SK_SLICE("/");
		*query = (struct sk_slice){ .ptr = ae, .len = (size_t)(end - ae) };
		return 0;
	}
	split_query(ae, (size_t)(end - ae), path, query);
	return 0;
}

/* ---- path normalisation --------------------------------------------------------------------------- */

static bool is_unreserved(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
	       c == '.' || c == '_' || c == '~';
}

/*
 * One pass over the input, one segment at a time. Each segment is decoded straight into out after a
 * reserved '/' slot; it is then kept (the '/' is written), dropped (empty, "."), or pops the previous
 * segment (".."). Output never outgrows the input consumed so far: decoding only shrinks or keeps the
 * length, and the slot before a segment is paid for by the '/' that preceded it in the input.
 * `trailing` records whether the last segment seen ends the path in a directory ("", ".", ".."), which
 * keeps the trailing '/' of remove_dot_segments ("/a/b/." → "/a/b/").
 */
int sk_path_normalize(struct sk_slice path, char *out, size_t *out_len)
{
	const unsigned char *p = (const unsigned char *)path.ptr;
	size_t len = path.len, i = 0, o = 0;
	bool trailing = false;
	static const char hex[] = "0123456789ABCDEF";

	if (len == 0 || p[0] != '/')
		return -1;

	while (i < len) {
		i++; /* the '/' at p[i] */
		size_t w = o + 1;
		while (i < len && p[i] != '/') {
			unsigned char c = p[i];
			if (c < 0x21 || c == 0x7f)
				return -1;
			if (c != '%') {
				out[w++] = (char)c;
				i++;
				continue;
			}
			if (i + 2 >= len)
				return -1;
			int hi = sk_hexval((unsigned char)p[i + 1]), lo = sk_hexval((unsigned char)p[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			unsigned char v = (unsigned char)(hi << 4 | lo);
			if (v == 0 || v == '/')
				return -1;
			if (is_unreserved(v)) {
				out[w++] = (char)v;
			} else {
				out[w++] = '%';
				out[w++] = hex[v >> 4];
				out[w++] = hex[v & 15];
			}
			i += 3;
		}
		size_t seg = w - (o + 1);
		const char *s = out + o + 1;
		if (seg == 0 || (seg == 1 && s[0] == '.')) {
			trailing = true;
		} else if (seg == 2 && s[0] == '.' && s[1] == '.') {
			if (o == 0)
				return -1; /* climbs above the root */
			while (out[--o] != '/')
				;
			trailing = true;
		} else {
			out[o] = '/';
			o = w;
			trailing = false;
		}
	}
	if (o == 0 || trailing)
		out[o++] = '/';
	*out_len = o;
	return 0;
}

/* ---- patterns ------------------------------------------------------------------------------------- */

/*
 * Iterative glob: on a mismatch, only the most recent '*' is retried one character further. Earlier
 * stars never need revisiting (whatever they matched, the latest star can absorb), so the cost is
 * O(len(pat) × len(s)) at worst, with no exponential blow-up on "*a*a*a*b".
 */
bool sk_pattern_match(const char *pat, struct sk_slice s)
{
	if (!pat)
		pat = "*";
	size_t p = 0, i = 0, star_p = SIZE_MAX, star_i = 0;

	while (i < s.len) {
		if (pat[p] == '*') {
			star_p = p++;
			star_i = i;
		} else if (pat[p] != '\0' && (pat[p] == '?' || pat[p] == s.ptr[i])) {
			p++;
			i++;
		} else if (star_p != SIZE_MAX) {
			p = star_p + 1;
			i = ++star_i;
		} else {
			return false;
		}
	}
	while (pat[p] == '*')
		p++;
	return pat[p] == '\0';
}

/* ---- Host ----------------------------------------------------------------------------------------- */

static bool is_port(const char *p, size_t len)
{
	/* An empty port ("host:") is allowed by RFC 3986 and means the default one. */
	if (len > 5)
		return false;
	for (size_t i = 0; i < len; i++)
		if (p[i] < '0' || p[i] > '9')
			return false;
	return true;
}

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/*
 * Accepts a reg-name or IPv4 ("name[.][:port]", characters A-Z a-z 0-9 . - _, no empty label) or a
 * bracketed IPv6 literal ("[hex:...][:port]", hex digits, ':' and '.'); the brackets are kept. The port
 * must be digits (possibly none). The result is not NUL-terminated unless there is room left for the
 * NUL, which is then added. Returns -1 for an empty or malformed host, or when the result does not fit
 * in cap bytes.
 */
int sk_host_canon(struct sk_slice host, char *out, size_t cap)
{
	const char *h = host.ptr;
	size_t n = host.len, end;

	if (n == 0)
		return -1;
	if (h[0] == '[') {
		const char *rb = memchr(h, ']', n);
		if (!rb || rb == h + 1)
			return -1;
		end = (size_t)(rb - h) + 1;
		for (size_t i = 1; i + 1 < end; i++) {
			char c = h[i];
			if (sk_hexval((unsigned char)c) < 0 && c != ':' && c != '.')
				return -1;
		}
		if (end < n && (h[end] != ':' || !is_port(h + end + 1, n - end - 1)))
			return -1;
	} else {
		const char *colon = memchr(h, ':', n);
		end = colon ? (size_t)(colon - h) : n;
		if (colon && !is_port(colon + 1, n - end - 1))
			return -1;
		if (end > 0 && h[end - 1] == '.')
			end--;
		if (end == 0 || h[0] == '.' || h[end - 1] == '.')
			return -1; /* empty, or an empty first or last label */
		for (size_t i = 0; i < end; i++) {
			char c = h[i];
			if (c == '.' && h[i - 1] == '.')
				return -1; /* an empty label */
			if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			      c == '.' || c == '-' || c == '_'))
				return -1;
		}
	}
	if (end > cap || end > INT32_MAX)
		return -1;
	for (size_t i = 0; i < end; i++)
		out[i] = lower(h[i]);
	if (end < cap)
		out[end] = '\0';
	return (int)end;
}

/* ---- route table ---------------------------------------------------------------------------------- */

struct slot {
	char *key; /* owned, canonical; NULL = empty slot */
	uint32_t len;
	uint32_t hash;
	uint32_t dist;
};

struct table {
	struct slot *slots;
	size_t mask; /* capacity - 1, capacity a power of two */
};

struct sk_routes {
	const struct sk_distribution *dists;
	size_t n_dists;
	size_t n_listeners;
	size_t words;   /* uint64_t words per distribution in reach */
	uint64_t *reach; /* n_dists * words: bit l set = reachable through listener l */
	struct table exact;
	struct table wild; /* "*.example.com" stored as "example.com" */
	size_t catch_all;  /* distribution with alias "*", or SIZE_MAX */
};

static uint32_t fnv1a(const char *s, size_t n)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 16777619u;
	}
	return h;
}

static void table_init(struct table *t, size_t n_keys)
{
	size_t cap = 8;
	while (cap < n_keys * 2)
		cap *= 2;
	t->slots = sk_calloc(cap, sizeof(*t->slots));
	t->mask = cap - 1;
}

/* A duplicate key (impossible in a validated config) keeps the first distribution. */
static void table_put(struct table *t, const char *key, size_t len, uint32_t dist)
{
	uint32_t h = fnv1a(key, len);
	for (size_t i = h & t->mask;; i = (i + 1) & t->mask) {
		struct slot *s = &t->slots[i];
		if (!s->key) {
			*s = (struct slot){ .key = sk_slice_dup((struct sk_slice){ .ptr = key, .len = len }),
					    .len = (uint32_t)len,
					    .hash = h,
					    .dist = dist };
			return;
		}
		if (s->hash == h && s->len == len && memcmp(s->key, key, len) == 0)
			return;
	}
}

/* The distribution index for key, or -1. The table is never full (load ≤ 1/2), so probing ends. */
static long table_get(const struct table *t, const char *key, size_t len)
{
	uint32_t h = fnv1a(key, len);
	for (size_t i = h & t->mask;; i = (i + 1) & t->mask) {
		const struct slot *s = &t->slots[i];
		if (!s->key)
			return -1;
		if (s->hash == h && s->len == len && memcmp(s->key, key, len) == 0)
			return (long)s->dist;
	}
}

static void table_free(struct table *t)
{
	if (!t->slots)
		return;
	for (size_t i = 0; i <= t->mask; i++)
		free(t->slots[i].key);
	free(t->slots);
}

static void reach_set(struct sk_routes *r, size_t d, size_t l)
{
	r->reach[d * r->words + l / 64] |= (uint64_t)1 << (l % 64);
}

static bool reachable(const struct sk_routes *r, size_t d, size_t l)
{
	return l < r->n_listeners && (r->reach[d * r->words + l / 64] >> (l % 64) & 1);
}

/*
 * Aliases are canonicalised again (lower case, no trailing dot) so that a hand-written config cannot
 * miss by case. "*.suffix" goes to the wildcard table; a lone "*" is a catch-all below every wildcard.
 * Listener names that match no listener (impossible once validated) are ignored.
 */
struct sk_routes *sk_routes_build(const struct sk_config *cfg)
{
	struct sk_routes *r = sk_calloc(1, sizeof(*r));
	size_t n_exact = 0, n_wild = 0;

	r->dists = cfg->distributions;
	r->n_dists = cfg->n_distributions;
	r->n_listeners = cfg->n_listeners;
	r->words = (cfg->n_listeners + 63) / 64;
	r->reach = sk_calloc(r->n_dists * r->words + 1, sizeof(uint64_t));
	r->catch_all = SIZE_MAX;

	for (size_t d = 0; d < r->n_dists; d++) {
		const struct sk_distribution *dist = &cfg->distributions[d];
		for (size_t a = 0; a < dist->aliases.n; a++) {
			if (strncmp(dist->aliases.items[a], "*.", 2) == 0)
				n_wild++;
			else
				n_exact++;
		}
		if (dist->listeners.n == 0) {
			for (size_t l = 0; l < cfg->n_listeners; l++)
				if (cfg->listeners[l].mode == SK_MODE_HTTP)
					reach_set(r, d, l);
		}
		for (size_t k = 0; k < dist->listeners.n; k++)
			for (size_t l = 0; l < cfg->n_listeners; l++)
				if (strcmp(cfg->listeners[l].name, dist->listeners.items[k]) == 0)
					reach_set(r, d, l);
	}

	table_init(&r->exact, n_exact);
	table_init(&r->wild, n_wild);
	for (size_t d = 0; d < r->n_dists; d++) {
		const struct sk_distribution *dist = &cfg->distributions[d];
		for (size_t a = 0; a < dist->aliases.n; a++) {
			const char *alias = dist->aliases.items[a];
			char canon[HOST_MAX];
			if (strcmp(alias, "*") == 0) {
				if (r->catch_all == SIZE_MAX)
					r->catch_all = d;
				continue;
			}
			bool wild = strncmp(alias, "*.", 2) == 0;
			const char *name = wild ? alias + 2 : alias;
			size_t n = strlen(name);
			if (n >= sizeof(canon))
				continue; /* longer than any Host we would canonicalise: never matches */
			for (size_t i = 0; i < n; i++)
				canon[i] = lower(name[i]);
			if (n > 0 && canon[n - 1] == '.')
				n--;
			table_put(wild ? &r->wild : &r->exact, canon, n, (uint32_t)d);
		}
	}
	return r;
}

void sk_routes_free(struct sk_routes *r)
{
	if (!r)
		return;
	table_free(&r->exact);
	table_free(&r->wild);
	free(r->reach);
	free(r);
}

/*
 * Aliases reachable through another listener only are invisible here (as if each listener had its own
 * table, like nginx's server_name per listen socket): the search goes on to shorter wildcards.
 */
const struct sk_distribution *sk_routes_find(const struct sk_routes *r, size_t listener_idx,
					     struct sk_slice host)
{
	char h[HOST_MAX];
	int n = sk_host_canon(host, h, sizeof(h));
	if (n < 0)
		return NULL;

	long d = table_get(&r->exact, h, (size_t)n);
	if (d >= 0 && reachable(r, (size_t)d, listener_idx))
		return &r->dists[d];
	if (h[0] != '[') {
		for (int i = 0; i < n; i++) {
			if (h[i] != '.')
				continue;
			d = table_get(&r->wild, h + i + 1, (size_t)(n - i - 1));
			if (d >= 0 && reachable(r, (size_t)d, listener_idx))
				return &r->dists[d];
		}
	}
	if (r->catch_all != SIZE_MAX && reachable(r, r->catch_all, listener_idx))
		return &r->dists[r->catch_all];
	return NULL;
}

/* A behavior without a pattern counts as "*". */
const struct sk_behavior *sk_routes_behavior(const struct sk_distribution *d, struct sk_slice path)
{
	if (!d)
		return NULL;
	for (size_t i = 0; i < d->n_behaviors; i++)
		if (sk_pattern_match(d->behaviors[i].path, path))
			return &d->behaviors[i];
	return NULL;
}
