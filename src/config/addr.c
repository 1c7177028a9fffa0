/*
 * addr.c — the two textual address forms of the configuration: "host:port" listen/server addresses and
 * CIDRs. Listen addresses and CIDRs are numeric only; an origin server may also be written "name:port",
 * resolved once at load (sk_addr_resolve, getaddrinfo as nginx does), never per request.
 *
 * Invariants: a parse either fills the whole output or returns -1 leaving it unspecified; a CIDR's host
 * bits are always cleared, so two CIDRs of the same network compare equal byte for byte.
 */
#include "config/config.h"

#include <arpa/inet.h>
#include <netdb.h>
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

/* A DNS name as a server address may spell it: letters, digits, '-', '.', '_' (no spaces, no '%'). */
static bool host_name_ok(const char *s, size_t n)
{
	if (n == 0 || n > 253)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
		      s[i] == '-' || s[i] == '.' || s[i] == '_'))
			return false;
	return true;
}

int sk_addr_resolve(const char *s, struct sk_addr **out, size_t *n, const char **why)
{
	*why = NULL;
	struct sk_addr one;
	if (sk_addr_parse(s, &one) == 0) {
		*out = sk_realloc(*out, (*n + 1) * sizeof(**out));
		(*out)[(*n)++] = one;
		return 1;
	}
	const char *colon = strrchr(s, ':');
	uint16_t port;
	if (!colon || colon == s || strchr(s, '[') || !host_name_ok(s, (size_t)(colon - s)) ||
	    parse_port(colon + 1, &port) == -1)
		return -1;
	char host[256];
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';

	/* AI_ADDRCONFIG: no IPv6 addresses on a host without IPv6, as nginx asks for. */
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_protocol = IPPROTO_TCP,
				  .ai_flags = AI_ADDRCONFIG | AI_NUMERICSERV };
	struct addrinfo *res = NULL;
	int rc = getaddrinfo(host, colon + 1, &hints, &res);
	if (rc != 0) {
		*why = rc == EAI_SYSTEM ? "the lookup failed" : gai_strerror(rc);
		return -1;
	}
	int added = 0;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) || ai->ai_addrlen > sizeof(one.ss))
			continue;
		struct sk_addr a = { 0 };
		memcpy(&a.ss, ai->ai_addr, ai->ai_addrlen);
		a.len = ai->ai_addrlen;
		/* The numeric form as text: logs and metric labels then tell the addresses of one name apart. */
		char ip[INET6_ADDRSTRLEN];
		const void *src = ai->ai_family == AF_INET ? (const void *)&((struct sockaddr_in *)&a.ss)->sin_addr
							   : (const void *)&((struct sockaddr_in6 *)&a.ss)->sin6_addr;
		inet_ntop(ai->ai_family, src, ip, sizeof(ip));
		snprintf(a.text, sizeof(a.text), ai->ai_family == AF_INET ? "%s:%u" : "[%s]:%u", ip, (unsigned)port);
		bool dup = false;
		for (size_t i = *n - (size_t)added; i < *n && !dup; i++)
			dup = (*out)[i].len == a.len && memcmp(&(*out)[i].ss, &a.ss, a.len) == 0;
		if (dup)
			continue;
		*out = sk_realloc(*out, (*n + 1) * sizeof(**out));
		(*out)[(*n)++] = a;
		added++;
	}
	freeaddrinfo(res);
	if (added == 0) {
		*why = "no IPv4 or IPv6 address";
		return -1;
	}
	return added;
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
