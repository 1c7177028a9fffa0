/*
 * addr.c — the two textual address forms of the configuration: "host:port" listen/server addresses and
 * CIDRs. Numeric only (no DNS: a config load never blocks on the network).
 *
 * Invariants: a parse either fills the whole output or returns -1 leaving it unspecified; a CIDR's host
 * bits are always cleared, so two CIDRs of the same network compare equal byte for byte.
 */
#include "config/config.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

/* Decimal port 1-65535, digits only. */
static int parse_port(const char *s, uint16_t *out)
{
	unsigned v = 0;
	size_t n = strlen(s);
	if (n == 0 || n > 5)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v < 1 || v > 65535)
		return -1;
	*out = (uint16_t)v;
	return 0;
}

int sk_addr_parse(const char *s, struct sk_addr *out)
{
	size_t n = strlen(s);
	if (n == 0 || n >= sizeof(out->text))
		return -1;
	char host[64];
	const char *port;
	bool v6 = false;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (!close || close[1] != ':')
			return -1;
		size_t hl = (size_t)(close - s - 1);
		memcpy(host, s + 1, hl);
		host[hl] = '\0';
		port = close + 2;
		v6 = true;
	} else {
		const char *colon = strchr(s, ':');
		/* More than one colon without brackets is an unbracketed IPv6 address: ambiguous. */
		if (!colon || strchr(colon + 1, ':'))
			return -1;
		size_t hl = (size_t)(colon - s);
		memcpy(host, s, hl);
		host[hl] = '\0';
		port = colon + 1;
	}
	uint16_t p;
	if (parse_port(port, &p) == -1)
		return -1;

	struct sk_addr a = { 0 };
	if (v6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&a.ss;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(p);
		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
			return -1;
		a.len = sizeof(*sin6);
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)&a.ss;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(p);
		if (host[0] == '\0' || strcmp(host, "*") == 0)
			sin->sin_addr.s_addr = htonl(INADDR_ANY);
		else if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
			return -1;
		a.len = sizeof(*sin);
	}
	memcpy(a.text, s, n + 1);
	*out = a;
	return 0;
}

int sk_cidr_parse(const char *s, struct sk_cidr *out)
{
	char addr[64];
	const char *slash = strchr(s, '/');
	size_t al = slash ? (size_t)(slash - s) : strlen(s);
	if (al == 0 || al >= sizeof(addr))
		return -1;
	memcpy(addr, s, al);
	addr[al] = '\0';

	struct sk_cidr c = { 0 };
	unsigned max;
	if (strchr(addr, ':')) {
		if (inet_pton(AF_INET6, addr, c.addr) != 1)
			return -1;
		c.family = AF_INET6;
		max = 128;
	} else {
		if (inet_pton(AF_INET, addr, c.addr) != 1)
			return -1;
		c.family = AF_INET;
		max = 32;
	}
	unsigned prefix = max;
	if (slash) {
		const char *p = slash + 1;
		size_t pl = strlen(p);
		if (pl == 0 || pl > 3)
			return -1;
		prefix = 0;
		for (size_t i = 0; i < pl; i++) {
			if (p[i] < '0' || p[i] > '9')
				return -1;
			prefix = prefix * 10 + (unsigned)(p[i] - '0');
		}
		if (prefix > max)
			return -1;
	}
	c.prefix = (uint8_t)prefix;
	/* Host bits are allowed in the text (10.1.2.3/8) but cleared here. */
	for (unsigned bit = prefix; bit < max; bit++)
		c.addr[bit / 8] &= (uint8_t)~(0x80u >> (bit % 8));
	*out = c;
	return 0;
}
