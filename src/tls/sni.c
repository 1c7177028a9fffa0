/*
 * sni.c — which certificate answers a TLS client hello's server name (pure functions, no OpenSSL).
 *
 * Rules (those of RFC 6125 §6.4.3 as browsers apply them): names compare ignoring ASCII case; a
 * trailing dot on the requested host is ignored; a wildcard is allowed only as the whole leftmost
 * label ("*.example.com") and stands for exactly one non-empty label, so it covers "a.example.com" but
 * neither "example.com" nor "a.b.example.com". An exact name beats a wildcard, whatever the order of
 * the certificates; otherwise the first listed certificate that matches wins, and with no match (or no
 * SNI at all) the first listed one is the default.
 */
#include <strings.h>

#include "tls/tls.h"

static size_t strip_dot(const char *host, size_t len)
{
	return len > 0 && host[len - 1] == '.' ? len - 1 : len;
}

bool sk_tls_name_exact(const char *pattern, const char *host, size_t host_len)
{
	host_len = strip_dot(host, host_len);
	return host_len > 0 && strlen(pattern) == host_len && strchr(pattern, '*') == NULL &&
	       strncasecmp(pattern, host, host_len) == 0;
}

bool sk_tls_name_match(const char *pattern, const char *host, size_t host_len)
{
	host_len = strip_dot(host, host_len);
	if (host_len == 0 || memchr(host, '*', host_len))
		return false;
	if (pattern[0] != '*')
		return sk_tls_name_exact(pattern, host, host_len);
	/* "*.rest": the pattern must be exactly that shape, with at least two labels in rest. */
	const char *rest = pattern + 1;
	size_t rlen = strlen(rest);
	if (rest[0] != '.' || rlen < 4 || strchr(rest, '*') || !strchr(rest + 1, '.'))
		return false;
	const char *dot = memchr(host, '.', host_len);
	if (!dot || dot == host) /* the first label must not be empty */
		return false;
	size_t tail = host_len - (size_t)(dot - host);
	return tail == rlen && strncasecmp(dot, rest, rlen) == 0;
}

size_t sk_tls_sni_pick(const char *const *const *names, const size_t *n_names, size_t n, const char *host)
{
	if (!host || !host[0] || n == 0)
		return 0;
	size_t len = strlen(host);
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < n_names[i]; k++)
			if (sk_tls_name_exact(names[i][k], host, len))
				return i;
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < n_names[i]; k++)
			if (names[i][k][0] == '*' && sk_tls_name_match(names[i][k], host, len))
				return i;
	return 0;
}
