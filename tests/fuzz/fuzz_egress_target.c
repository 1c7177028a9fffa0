/*
 * fuzz_egress_target.c — the forward proxy's target reading and allow-list (src/egress/names.c).
 * The first byte chooses the form: 0 the bytes are a host and ":443" is appended (CONNECT), 1 a CONNECT
 * target as it is, 2 an absolute-form URL, 3 an authority with port 80 by default. Properties checked on
 * every input (abort() when one fails):
 * - a name that parses is lower-case [a-z0-9_-] labels of 1-63 bytes, 253 in all, no trailing dot, and its
 *   last label is not a number (else it would have been read as an address);
 * - the canonical form (host:port, [v6]:port) reads back as the very same target, and the Host check
 *   accepts it;
 * - an address target never matches a name entry; a name that matches equals an entry or ends in
 *   ".entry" for a "*." one, with an allowed port;
 * - letter case and one trailing dot change nothing (form 0);
 * - for hosts of at most 253 bytes made only of digits, hex letters, 'x' and dots, the result is an IPv4
 *   address exactly when the C library's inet_aton reads one, and the same one (form 0).
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "egress/egress.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct sk_egress_allowlist list;

static void build_list(void)
{
	static uint16_t p443[] = { 443 }, p80_443[] = { 80, 443 }, p8080[] = { 8080 };
	static struct sk_egress_allow items[] = {
		{ .host = "example.com", .ports = p443, .n_ports = 1 },
		{ .host = "*.example.org", .ports = p80_443, .n_ports = 2 },
		{ .host = "localhost", .ports = p8080, .n_ports = 1 },
		{ .host = "*.a", .ports = p443, .n_ports = 1 },
	};
	struct sk_egress cfg = { .allow = items, .n_allow = SK_ARRAY_LEN(items) };
	if (!list.rules)
		sk_egress_allowlist_build(&cfg, &list);
}

static bool is_num_label(const char *s, size_t n)
{
	if (n >= 2 && s[0] == '0' && s[1] == 'x') {
		for (size_t i = 2; i < n; i++)
			if (sk_hexval((unsigned char)s[i]) < 0)
				return false;
		return true;
	}
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return n > 0;
}

static void check_name(const struct sk_egress_target *t)
{
	if (t->host_len == 0 || t->host_len > SK_EGRESS_HOST_MAX || t->host_len != strlen(t->host))
		abort();
	if (t->host[t->host_len - 1] == '.')
		abort();
	size_t label = 0;
	for (size_t i = 0; i <= t->host_len; i++) {
		char ch = t->host[i];
		if (ch == '.' || ch == '\0') {
			if (i == label || i - label > 63)
				abort();
			if (ch == '\0' && is_num_label(t->host + label, i - label))
				abort();
			label = i + 1;
		} else if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_')) {
			abort();
		}
	}
}

static void check_match(const struct sk_egress_target *t)
{
	bool m = sk_egress_allowlist_match(&list, t);
	if (t->kind != SK_EGRESS_HOST_NAME) {
		if (m)
			abort();
		return;
	}
	bool expect = false;
	for (size_t i = 0; i < list.n; i++) {
		const struct sk_egress_rule *r = &list.rules[i];
		bool port = false;
		for (size_t p = 0; p < r->n_ports; p++)
			port = port || r->ports[p] == t->port;
		bool exact = strcmp(t->host, r->name) == 0;
		size_t hl = t->host_len;
		bool under = r->wildcard && hl > r->len + 1 && strcmp(t->host + hl - r->len, r->name) == 0 &&
			     t->host[hl - r->len - 1] == '.';
		expect = expect || (port && (exact || under));
	}
	if (m != expect)
		abort();
}

/* The canonical form reads back as the same target, and the Host check takes it. */
static void check_round_trip(const struct sk_egress_target *t)
{
	char buf[SK_EGRESS_HOST_MAX + 16];
	int n = snprintf(buf, sizeof(buf), t->kind == SK_EGRESS_HOST_V6 ? "[%s]:%u" : "%s:%u", t->host, t->port);
	struct sk_egress_target again;
	if (sk_egress_parse_connect(buf, (size_t)n, &again) != SK_EGRESS_TARGET_OK)
		abort();
	if (again.kind != t->kind || again.port != t->port || again.host_len != t->host_len ||
	    strcmp(again.host, t->host) != 0 || memcmp(again.addr, t->addr, sizeof(t->addr)) != 0)
		abort();
	if (!sk_egress_host_matches(t, buf, (size_t)n, 1))
		abort();
}

static void check_target(const struct sk_egress_target *t)
{
	if (t->port == 0)
		abort();
	if (t->kind == SK_EGRESS_HOST_NAME)
		check_name(t);
	check_match(t);
	check_round_trip(t);
}

/* Form 0: case, a trailing dot and inet_aton agreement. */
static void host_form(const uint8_t *data, size_t size)
{
	if (size > 300 || memchr(data, ':', size) || memchr(data, '\0', size))
		return;
	char in[320], alt[320];
	memcpy(in, data, size);
	memcpy(in + size, ":443", 5);
	struct sk_egress_target t, u;
	enum sk_egress_target_err e = sk_egress_parse_connect(in, size + 4, &t);
	if (e == SK_EGRESS_TARGET_OK)
		check_target(&t);

	/* Upper case: the same result. */
	for (size_t i = 0; i < size + 4; i++)
		alt[i] = (in[i] >= 'a' && in[i] <= 'z') ? (char)(in[i] - 'a' + 'A') : in[i];
	enum sk_egress_target_err e2 = sk_egress_parse_connect(alt, size + 4, &u);
	if (e2 != e || (e == SK_EGRESS_TARGET_OK && (strcmp(u.host, t.host) != 0 || u.kind != t.kind)))
		abort();
	/* One trailing dot more on a host that has none: the same result. */
	if (size > 0 && in[size - 1] != '.' && data[0] != '[') {
		memcpy(alt, data, size);
		memcpy(alt + size, ".:443", 6);
		e2 = sk_egress_parse_connect(alt, size + 5, &u);
		if (e2 != e && !(e == SK_EGRESS_TARGET_OK && size == SK_EGRESS_HOST_MAX))
			abort();
		if (e == SK_EGRESS_TARGET_OK && e2 == e && (strcmp(u.host, t.host) != 0 || u.kind != t.kind))
			abort();
	}

	/* Only digits, hex letters, x and dots: an address exactly when inet_aton reads one. */
	bool aton_chars = size > 0 && size - (data[size - 1] == '.') <= SK_EGRESS_HOST_MAX;
	for (size_t i = 0; i < size && aton_chars; i++)
		aton_chars = (data[i] >= '0' && data[i] <= '9') || sk_hexval(data[i]) >= 0 || data[i] == 'x' ||
			     data[i] == 'X' || data[i] == '.';
	if (!aton_chars)
		return;
	char bare[320];
	memcpy(bare, data, size);
	bare[size] = '\0';
	if (size > 1 && bare[size - 1] == '.')
		bare[size - 1] = '\0';
	struct in_addr a;
	bool libc = inet_aton(bare, &a) == 1;
	bool ours = e == SK_EGRESS_TARGET_OK && t.kind == SK_EGRESS_HOST_V4;
	if (libc != ours)
		abort();
	if (ours && memcmp(&a, t.addr, 4) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	build_list();
	if (size < 1)
		return 0;
	uint8_t form = data[0] % 4;
	data++;
	size--;
	if (size > 4096)
		return 0;
	struct sk_egress_target t;
	size_t off = 0;
	switch (form) {
	case 0:
		host_form(data, size);
		break;
	case 1:
		if (sk_egress_parse_connect((const char *)data, size, &t) == SK_EGRESS_TARGET_OK)
			check_target(&t);
		break;
	case 2:
		if (sk_egress_parse_url((const char *)data, size, &t, &off) == SK_EGRESS_TARGET_OK) {
			check_target(&t);
			if (off > size || (off < size && data[off] != '/' && data[off] != '?'))
				abort();
		}
		break;
	default:
		if (sk_egress_parse_authority((const char *)data, size, 80, &t) == SK_EGRESS_TARGET_OK)
			check_target(&t);
		break;
	}
	return 0;
}
