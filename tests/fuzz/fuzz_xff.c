/*
 * fuzz_xff.c — libFuzzer target for sk_forward_client (src/proxy/forward.c): the client address behind
 * X-Forwarded-For and trusted_proxies.
 *
 * Input layout:
 *   byte 0            bits 0-2: number of trusted CIDRs (0..7); bits 3-4: peer kind (0: IPv4, 1: IPv6,
 *                     2: v4-mapped IPv6, 3: a Unix socket);
 *   per CIDR          one byte (bit 0: IPv6; the rest: prefix length, modulo the family's bits + 1) and
 *                     4 or 16 address bytes; built as text and read with sk_cidr_parse, then added with
 *                     sk_ipset_add, as runtime.c builds rt->trusted from config;
 *   peer              4 or 16 address bytes (none for a Unix socket);
 *   rest              X-Forwarded-For field values separated by '\n' (names vary in case), with an
 *                     X-Real-IP field first that must be ignored; any other control byte but HTAB ends
 *                     the run, as the parser never lets one into a value.
 * What must hold:
 *  - peer_trusted says whether one of the CIDRs contains the peer (checked with sk_cidr_contains, CIDR by
 *    CIDR, so the set's trie is checked too); an unknown peer family is never trusted;
 *  - an untrusted peer is the client, whatever the fields say, and X-Forwarded-For is just the peer;
 *  - a trusted peer gives the client an independent right-to-left walk finds: the peer, or an address
 *    that appears in an X-Forwarded-For field (bytes as inet_pton reads the entry);
 *  - the client's text parses back (inet_pton) to its bytes, and a v4-mapped address is shown as IPv4;
 *  - the outgoing X-Forwarded-For is the received entries, trimmed and joined with ", ", then the peer;
 *    cut at an entry boundary from the left when it would not fit.
 * Each field value is an exact-size heap copy, so that ASan sees a read beyond a field.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "config/config.h"
#include "net/ipset.h"
#include "proxy/forward.h"

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c))                                                                          \
			__builtin_trap();                                                          \
	} while (0)

#define MAXF 64

struct in {
	const uint8_t *p;
	size_t n;
};

static bool take(struct in *in, void *out, size_t k)
{
	if (in->n < k)
		return false;
	memcpy(out, in->p, k);
	in->p += k;
	in->n -= k;
	return true;
}

static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

static int unmap(int fam, uint8_t a[16])
{
	if (fam == AF_INET6 && memcmp(a, v4mapped, 12) == 0) {
		memmove(a, a + 12, 4);
		memset(a + 4, 0, 12);
		return AF_INET;
	}
	return fam;
}

static bool digits(const char *p, size_t n)
{
	if (n == 0 || n > 5)
		return false;
	for (size_t i = 0; i < n; i++)
		if (p[i] < '0' || p[i] > '9')
			return false;
	return true;
}

/* Reads one trimmed entry as DESIGN §1 allows: a, a:port, v6, [v6], [v6]:port. Family or -1. */
static int ref_entry(const char *e, size_t n, uint8_t a[16])
{
	char tmp[64];
	memset(a, 0, 16);
	if (n && e[0] == '[') {
		const char *rb = memchr(e, ']', n);
		if (!rb)
			return -1;
		size_t after = n - (size_t)(rb - e) - 1;
		if (after && (rb[1] != ':' || !digits(rb + 2, after - 1)))
			return -1;
		size_t l = (size_t)(rb - e) - 1;
		if (l == 0 || l >= sizeof(tmp))
			return -1;
		memcpy(tmp, e + 1, l);
		tmp[l] = '\0';
		return inet_pton(AF_INET6, tmp, a) == 1 ? unmap(AF_INET6, a) : -1;
	}
	size_t colons = 0, last = 0;
	for (size_t i = 0; i < n; i++)
		if (e[i] == ':') {
			colons++;
			last = i;
		}
	if (colons == 1) {
		if (!digits(e + last + 1, n - last - 1))
			return -1;
		n = last;
	}
	if (n == 0 || n >= sizeof(tmp))
		return -1;
	memcpy(tmp, e, n);
	tmp[n] = '\0';
	if (colons == 1 || colons == 0)
		return inet_pton(AF_INET, tmp, a) == 1 ? AF_INET : -1;
	return inet_pton(AF_INET6, tmp, a) == 1 ? unmap(AF_INET6, a) : -1;
}

static bool trusted_ref(const struct sk_cidr *c, size_t nc, int fam, const uint8_t *a)
{
	for (size_t i = 0; i < nc; i++)
		if (sk_cidr_contains(&c[i], fam, a))
			return true;
	return false;
}

struct entry {
	const char *p;
	size_t n;
};

static void check_text(const struct sk_client *cl)
{
	uint8_t back[16] = { 0 };
	CHECK(cl->family == AF_INET || cl->family == AF_INET6);
	CHECK(memchr(cl->ip, '\0', sizeof(cl->ip)));
	CHECK(inet_pton(cl->family, cl->ip, back) == 1);
	CHECK(memcmp(back, cl->addr, cl->family == AF_INET ? 4 : 16) == 0);
	if (cl->family == AF_INET6)
		CHECK(memcmp(cl->addr, v4mapped, 12) != 0);
	else
		for (int i = 4; i < 16; i++)
			CHECK(cl->addr[i] == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct in in = { data, size };
	char *vals[MAXF] = { 0 }; /* freed at out: declared before the first jump there */
	uint8_t b0;
	if (!take(&in, &b0, 1))
		return 0;

	struct sk_cidr cidrs[8];
	size_t nc = 0;
	struct sk_ipset *set = sk_ipset_new();
	for (unsigned i = 0; i < (b0 & 7u); i++) {
		uint8_t f, a[16] = { 0 };
		if (!take(&in, &f, 1))
			goto out;
		int fam = f & 1 ? AF_INET6 : AF_INET;
		unsigned bits = fam == AF_INET ? 32 : 128;
		if (!take(&in, a, fam == AF_INET ? 4 : 16))
			goto out;
		char txt[80], at[INET6_ADDRSTRLEN];
		CHECK(inet_ntop(fam, a, at, sizeof(at)));
		snprintf(txt, sizeof(txt), "%s/%u", at, (unsigned)(f >> 1) % (bits + 1));
		CHECK(sk_cidr_parse(txt, &cidrs[nc]) == 0);
		sk_ipset_add(set, &cidrs[nc]);
		nc++;
	}
	CHECK(sk_ipset_count(set) == nc);

	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	int pfam = 0;
	uint8_t paddr[16] = { 0 };
	switch ((b0 >> 3) & 3) {
	case 0: {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		s4->sin_family = AF_INET;
		if (!take(&in, &s4->sin_addr, 4))
			goto out;
		memcpy(paddr, &s4->sin_addr, 4);
		pfam = AF_INET;
		break;
	}
	case 1:
	case 2: {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = AF_INET6;
		if (((b0 >> 3) & 3) == 2) {
			memcpy(&s6->sin6_addr, v4mapped, 12);
			if (!take(&in, (uint8_t *)&s6->sin6_addr + 12, 4))
				goto out;
		} else if (!take(&in, &s6->sin6_addr, 16)) {
			goto out;
		}
		memcpy(paddr, &s6->sin6_addr, 16);
		pfam = unmap(AF_INET6, paddr);
		break;
	}
	default: {
		struct sockaddr_un *su = (struct sockaddr_un *)&ss;
		su->sun_family = AF_UNIX;
		break;
	}
	}

	/* Field values hold what the parser lets through: no control byte but HTAB (DESIGN §2). */
	for (size_t i = 0; i < in.n; i++)
		if ((in.p[i] < 0x20 && in.p[i] != '\t' && in.p[i] != '\n') || in.p[i] == 0x7f)
			goto out;

	/* the fields: X-Real-IP (ignored), then one X-Forwarded-For per line */
	struct sk_http_field h[MAXF];
	unsigned nh = 0;
	static const char *const names[] = { "X-Forwarded-For", "x-forwarded-for", "X-FORWARDED-FOR" };
	const char *rest = (const char *)in.p;
	size_t start = 0;
	h[nh++] = (struct sk_http_field){ .name = SK_SLICE("X-Real-IP"), .value = SK_SLICE("192.0.2.99") };
	while (nh < MAXF && start <= in.n) {
		const char *nl = memchr(rest + start, '\n', in.n - start);
		size_t end = nl ? (size_t)(nl - rest) : in.n;
		size_t l = end - start;
		vals[nh] = malloc(l ? l : 1);
		if (!vals[nh])
			abort();
		memcpy(vals[nh], rest + start, l);
		h[nh] = (struct sk_http_field){ .name = { .ptr = names[nh % 3], .len = 15 },
						.value = { .ptr = vals[nh], .len = l } };
		nh++;
		if (!nl)
			break;
		start = end + 1;
	}
	struct sk_http_request req = { .method = SK_SLICE("GET"), .target = SK_SLICE("/"), .headers = h,
				       .n_headers = nh, .version = SK_HTTP_11 };

	struct sk_client cl;
	memset(&cl, 0xa5, sizeof(cl));
	sk_forward_client((const struct sockaddr *)&ss, &req, set, &cl);

	CHECK(memchr(cl.xff, '\0', sizeof(cl.xff)));
	size_t xlen = strlen(cl.xff);
	if (pfam == 0) {
		CHECK(!cl.peer_trusted && cl.family == 0 && strcmp(cl.ip, "unknown") == 0);
		CHECK(strcmp(cl.xff, "unknown") == 0);
		goto out;
	}
	CHECK(cl.peer_trusted == trusted_ref(cidrs, nc, pfam, paddr));
	CHECK(cl.peer_trusted == sk_ipset_contains(set, pfam, paddr));
	check_text(&cl);
	char ptext[64];
	CHECK(inet_ntop(pfam, paddr, ptext, sizeof(ptext)));
	size_t plen = strlen(ptext);

	if (!cl.peer_trusted) {
		CHECK(cl.family == pfam && memcmp(cl.addr, paddr, 16) == 0 && strcmp(cl.ip, ptext) == 0);
		CHECK(strcmp(cl.xff, ptext) == 0);
		goto out;
	}

	/* every entry, in order, trimmed, empty ones skipped */
	struct entry *ent = malloc(sizeof(*ent) * (in.n + 1));
	if (!ent)
		abort();
	size_t ne = 0, total = 0;
	for (unsigned i = 1; i < nh; i++) {
		const char *v = h[i].value.ptr;
		size_t n = h[i].value.len, s = 0;
		for (;;) {
			size_t e = s;
			while (e < n && v[e] != ',')
				e++;
			size_t a = s, z = e;
			while (a < z && (v[a] == ' ' || v[a] == '\t'))
				a++;
			while (z > a && (v[z - 1] == ' ' || v[z - 1] == '\t'))
				z--;
			if (z > a) {
				ent[ne++] = (struct entry){ v + a, z - a };
				total += z - a + 2;
			}
			if (e >= n)
				break;
			s = e + 1;
		}
	}

	/* the walk, right to left */
	int cfam = pfam;
	uint8_t caddr[16];
	memcpy(caddr, paddr, 16);
	for (size_t i = ne; i-- > 0;) {
		uint8_t a[16];
		int fam = ref_entry(ent[i].p, ent[i].n, a);
		if (fam < 0)
			break;
		cfam = fam;
		memcpy(caddr, a, 16);
		if (!trusted_ref(cidrs, nc, fam, a))
			break;
	}
	CHECK(cl.family == cfam && memcmp(cl.addr, caddr, 16) == 0);

	/* the outgoing list: "e1, e2, ..., peer", the leftmost entries dropped when it does not fit */
	char *full = malloc(total + plen + 1);
	if (!full)
		abort();
	size_t fl = 0;
	for (size_t i = 0; i < ne; i++) {
		memcpy(full + fl, ent[i].p, ent[i].n);
		fl += ent[i].n;
		memcpy(full + fl, ", ", 2);
		fl += 2;
	}
	memcpy(full + fl, ptext, plen);
	fl += plen;
	CHECK(xlen <= sizeof(cl.xff) - 1 && xlen <= fl);
	CHECK(memcmp(cl.xff, full + fl - xlen, xlen) == 0);
	if (xlen < fl) {
		CHECK(fl - xlen >= 2 && memcmp(full + fl - xlen - 2, ", ", 2) == 0);
		/* cut only because the next entry to the left did not fit */
		size_t k = fl - xlen - 2, j = k;
		while (j >= 2 && memcmp(full + j - 2, ", ", 2) != 0)
			j--;
		CHECK(xlen + 2 + (k - (j >= 2 ? j : 0)) > sizeof(cl.xff) - 1);
	}
	free(full);
	free(ent);
out:
	for (unsigned i = 0; i < MAXF; i++)
		free(vals[i]);
	sk_ipset_free(set);
	return 0;
}
