/*
 * names.c — reading a forward-proxy request's target and matching it against the allow-list (DESIGN §5a).
 *
 * The cases to beat are the published bypasses of forward proxies with deny or allow lists: a trailing dot
 * or another letter case slipping past a comparison, "[example.com]" read as a name by one layer and not
 * by another, userinfo ("allowed.com@evil.com"), numeric spellings of an address ("2130706433", "0x7f.1",
 * "0177.0.0.1") that the C library's resolver reads as IPv4 while a name check sees a name. So:
 * - a host whose last label is a number (decimal, or 0x-hex) is an IPv4 address spelt as inet_aton reads
 *   it, or malformed: never a name (the WHATWG URL standard's "ends in a number" rule);
 * - brackets hold an IPv6 address and nothing else; userinfo and non-ASCII bytes are refused outright;
 * - a name is lower-cased, one trailing dot removed, and must then be labels of [a-z0-9_-], 1-63 bytes
 *   each, 253 bytes in all: what reaches the allow-list and DNS is exactly what was compared.
 * Pure: no I/O, no allocation per request (the list is compiled once per snapshot).
 */
#include "egress/egress.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *sk_egress_target_err_text(enum sk_egress_target_err e)
{
	switch (e) {
	case SK_EGRESS_TARGET_OK:
		return "ok";
	case SK_EGRESS_TARGET_MALFORMED:
		return "malformed target";
	case SK_EGRESS_TARGET_USERINFO:
		return "userinfo in target";
	case SK_EGRESS_TARGET_BRACKETED_NAME:
		return "bracketed name";
	case SK_EGRESS_TARGET_NON_ASCII:
		return "non-ASCII name";
	case SK_EGRESS_TARGET_BAD_PORT:
		return "bad port";
	case SK_EGRESS_TARGET_SCHEME:
		return "scheme not http";
	case SK_EGRESS_TARGET_HOST_MISMATCH:
		return "Host differs from target";
	}
	return "?";
}

/* "0x1f" (any case), "017", "42": one part of an inet_aton spelling. Returns 0 with *v, or -1. */
static int aton_part(const char *s, size_t n, uint64_t *v)
{
	uint64_t x = 0;
	if (n == 0)
		return -1;
	if (n >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		/* "0x" alone is no number for inet_aton either. */
		if (n == 2)
			return -1;
		for (size_t i = 2; i < n; i++) {
			int h = sk_hexval((unsigned char)s[i]);
			if (h < 0 || x > 0xffffffffu)
				return -1;
			x = x * 16 + (unsigned)h;
		}
	} else if (s[0] == '0') {
		for (size_t i = 1; i < n; i++) {
			if (s[i] < '0' || s[i] > '7' || x > 0xffffffffu)
				return -1;
			x = x * 8 + (unsigned)(s[i] - '0');
		}
	} else {
		for (size_t i = 0; i < n; i++) {
			if (s[i] < '0' || s[i] > '9' || x > 0xffffffffu)
				return -1;
			x = x * 10 + (unsigned)(s[i] - '0');
		}
	}
	if (x > 0xffffffffu)
		return -1;
	*v = x;
	return 0;
}

/* inet_aton's reading of s (1 to 4 parts; the last fills the remaining bytes). Returns 0 or -1. */
static int parse_aton(const char *s, size_t n, uint8_t out[4])
{
	uint64_t parts[4];
	size_t np = 0, start = 0;
	for (size_t i = 0; i <= n; i++) {
		if (i < n && s[i] != '.')
			continue;
		if (np == 4 || aton_part(s + start, i - start, &parts[np]) == -1)
			return -1;
		np++;
		start = i + 1;
	}
	uint32_t v = 0;
	for (size_t i = 0; i + 1 < np; i++) {
		if (parts[i] > 255)
			return -1;
		v |= (uint32_t)parts[i] << (24 - 8 * i);
	}
	uint64_t room = np == 1 ? 0xffffffffu : (1ull << (8 * (5 - np))) - 1;
	if (parts[np - 1] > room)
		return -1;
	v |= (uint32_t)parts[np - 1];
	v = htonl(v);
	memcpy(out, &v, 4);
	return 0;
}

static enum sk_egress_target_err parse_port(const char *s, size_t n, uint16_t default_port, uint16_t *out)
{
	if (n == 0) {
		if (default_port == 0)
			return SK_EGRESS_TARGET_BAD_PORT;
		*out = default_port;
		return SK_EGRESS_TARGET_OK;
	}
	if (n > 5)
		return SK_EGRESS_TARGET_BAD_PORT;
	unsigned v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return SK_EGRESS_TARGET_BAD_PORT;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v < 1 || v > 65535)
		return SK_EGRESS_TARGET_BAD_PORT;
	*out = (uint16_t)v;
	return SK_EGRESS_TARGET_OK;
}

/* "[v6]" (brackets included in s). */
static enum sk_egress_target_err parse_v6(const char *s, size_t n, struct sk_egress_target *out)
{
	char buf[64];
	const char *in = s + 1;
	size_t il = n - 2;
	if (!memchr(in, ':', il))
		return SK_EGRESS_TARGET_BRACKETED_NAME;
	if (il >= sizeof(buf))
		return SK_EGRESS_TARGET_MALFORMED;
	memcpy(buf, in, il);
	buf[il] = '\0';
	/* inet_pton refuses zone identifiers ("%eth0") too: a proxy has no business with link-local zones. */
	if (inet_pton(AF_INET6, buf, out->addr) != 1)
		return SK_EGRESS_TARGET_MALFORMED;
	out->kind = SK_EGRESS_HOST_V6;
	inet_ntop(AF_INET6, out->addr, out->host, sizeof(out->host));
	out->host_len = strlen(out->host);
	return SK_EGRESS_TARGET_OK;
}

/* A host that is not bracketed: a name or an IPv4 spelling. */
static enum sk_egress_target_err parse_host(const char *s, size_t n, struct sk_egress_target *out)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] >= 0x80)
			return SK_EGRESS_TARGET_NON_ASCII;
	if (n > 0 && s[n - 1] == '.')
		n--;
	if (n == 0 || n > SK_EGRESS_HOST_MAX)
		return SK_EGRESS_TARGET_MALFORMED;
	char *h = out->host;
	size_t label = 0;
	bool bad_label = false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		if (ch >= 'A' && ch <= 'Z')
			ch = (char)(ch - 'A' + 'a');
		if (ch == '.') {
			bad_label = bad_label || i == label || i - label > 63;
			label = i + 1;
		} else if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_')) {
			return SK_EGRESS_TARGET_MALFORMED;
		}
		h[i] = ch;
	}
	h[n] = '\0';
	/* A number as last label: an address as inet_aton reads it (whatever its parts' lengths), or nothing. */
	if (sk_label_numeric(h + label, n - label)) {
		if (parse_aton(h, n, out->addr) == -1)
			return SK_EGRESS_TARGET_MALFORMED;
		out->kind = SK_EGRESS_HOST_V4;
		inet_ntop(AF_INET, out->addr, out->host, sizeof(out->host));
		out->host_len = strlen(out->host);
		return SK_EGRESS_TARGET_OK;
	}
	if (bad_label || n - label == 0 || n - label > 63)
		return SK_EGRESS_TARGET_MALFORMED;
	out->kind = SK_EGRESS_HOST_NAME;
	out->host_len = n;
	return SK_EGRESS_TARGET_OK;
}

enum sk_egress_target_err sk_egress_parse_authority(const char *s, size_t len, uint16_t default_port,
						    struct sk_egress_target *out)
{
	memset(out, 0, sizeof(*out));
	if (len == 0)
		return SK_EGRESS_TARGET_MALFORMED;
	/* Userinfo first: "allowed.example@evil.example" must not be read as either host. */
	if (memchr(s, '@', len))
		return SK_EGRESS_TARGET_USERINFO;
	const char *host = s, *port = NULL;
	size_t hl = len, pl = 0;
	enum sk_egress_target_err e;
	if (s[0] == '[') {
		const char *close = memchr(s, ']', len);
		if (!close)
			return SK_EGRESS_TARGET_MALFORMED;
		hl = (size_t)(close - s) + 1;
		if (hl < len) {
			if (s[hl] != ':')
				return SK_EGRESS_TARGET_MALFORMED;
			port = s + hl + 1;
			pl = len - hl - 1;
		}
		e = parse_v6(host, hl, out);
	} else {
		const char *colon = memchr(s, ':', len);
		if (colon) {
			hl = (size_t)(colon - s);
			port = colon + 1;
			pl = len - hl - 1;
		}
		if (memchr(s, '[', len) || memchr(s, ']', len))
			return SK_EGRESS_TARGET_MALFORMED;
		e = parse_host(host, hl, out);
	}
	if (e != SK_EGRESS_TARGET_OK)
		return e;
	return parse_port(port ? port : "", pl, default_port, &out->port);
}

enum sk_egress_target_err sk_egress_parse_connect(const char *s, size_t len, struct sk_egress_target *out)
{
	return sk_egress_parse_authority(s, len, 0, out);
}

enum sk_egress_target_err sk_egress_parse_url(const char *s, size_t len, struct sk_egress_target *out,
					      size_t *path_off)
{
	static const char scheme[] = "http://";
	const size_t sl = sizeof(scheme) - 1;
	memset(out, 0, sizeof(*out));
	const char *colon = memchr(s, ':', len);
	if (!colon)
		return SK_EGRESS_TARGET_MALFORMED;
	if (len < sl || strncasecmp(s, scheme, sl) != 0) {
		/* A scheme of letters before "://" that is not http (https, ftp...) says what is wrong; anything
		 * else is not an absolute URL at all. */
		bool letters = colon > s;
		for (const char *p = s; p < colon; p++)
			letters = letters && ((*p | 0x20) >= 'a' && (*p | 0x20) <= 'z');
		return letters && (size_t)(colon - s) + 3 <= len && colon[1] == '/' && colon[2] == '/'
			       ? SK_EGRESS_TARGET_SCHEME
			       : SK_EGRESS_TARGET_MALFORMED;
	}
	size_t a = sl, end = sl;
	while (end < len && s[end] != '/' && s[end] != '?' && s[end] != '#')
		end++;
	if (end < len && s[end] == '#')
		return SK_EGRESS_TARGET_MALFORMED;
	/* Userinfo anywhere before the path, so that "http://a@b/" is refused as userinfo, not misread. */
	enum sk_egress_target_err e = sk_egress_parse_authority(s + a, end - a, 80, out);
	if (e != SK_EGRESS_TARGET_OK)
		return e;
	*path_off = end;
	return SK_EGRESS_TARGET_OK;
}

bool sk_egress_host_matches(const struct sk_egress_target *t, const char *host, size_t len, uint16_t default_port)
{
	struct sk_egress_target h;
	if (sk_egress_parse_authority(host, len, default_port, &h) != SK_EGRESS_TARGET_OK)
		return false;
	return h.kind == t->kind && h.port == t->port && h.host_len == t->host_len &&
	       memcmp(h.host, t->host, t->host_len) == 0;
}

void sk_egress_allowlist_build(const struct sk_egress *cfg, struct sk_egress_allowlist *out)
{
	out->n = cfg->n_allow;
	out->rules = sk_calloc(cfg->n_allow ? cfg->n_allow : 1, sizeof(*out->rules));
	for (size_t i = 0; i < cfg->n_allow; i++) {
		const struct sk_egress_allow *a = &cfg->allow[i];
		struct sk_egress_rule *r = &out->rules[i];
		r->wildcard = a->host[0] == '*';
		r->name = sk_strdup(a->host + (r->wildcard ? 2 : 0));
		r->len = strlen(r->name);
		r->n_ports = a->n_ports;
		r->ports = sk_calloc(a->n_ports, sizeof(*r->ports));
		memcpy(r->ports, a->ports, a->n_ports * sizeof(*r->ports));
	}
}

void sk_egress_allowlist_free(struct sk_egress_allowlist *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->rules[i].name);
		free(l->rules[i].ports);
	}
	free(l->rules);
	l->rules = NULL;
	l->n = 0;
}

static bool rule_has_port(const struct sk_egress_rule *r, uint16_t port)
{
	for (size_t i = 0; i < r->n_ports; i++)
		if (r->ports[i] == port)
			return true;
	return false;
}

bool sk_egress_allowlist_match(const struct sk_egress_allowlist *l, const struct sk_egress_target *t)
{
	if (t->kind != SK_EGRESS_HOST_NAME)
		return false;
	for (size_t i = 0; i < l->n; i++) {
		const struct sk_egress_rule *r = &l->rules[i];
		bool name_ok;
		if (t->host_len == r->len)
			name_ok = memcmp(t->host, r->name, r->len) == 0;
		else
			/* "*.debian.org" takes "ftp.debian.org" (a whole label more), never "evildebian.org". */
			name_ok = r->wildcard && t->host_len > r->len + 1 && t->host[t->host_len - r->len - 1] == '.' &&
				  memcmp(t->host + t->host_len - r->len, r->name, r->len) == 0;
		if (name_ok && rule_has_port(r, t->port))
			return true;
	}
	return false;
}
