/*
 * session.c — session cookies and CSRF tokens (see session.h).
 */
#include "access/session.h"

#include <inttypes.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

static void mac_b64(const uint8_t key[32], const char *label, const char *msg, size_t len, char out[44])
{
	uint8_t buf[128 + 16];
	size_t ll = strlen(label);
	SK_ASSERT(ll + len <= sizeof(buf));
	memcpy(buf, label, ll);
	memcpy(buf + ll, msg, len);
	uint8_t mac[32];
	unsigned mlen = 0;
	HMAC(EVP_sha256(), key, 32, buf, ll + len, mac, &mlen);
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t o = 0;
	uint32_t acc = 0;
	int bits = 0;
	for (size_t i = 0; i < 32; i++) {
		acc = acc << 8 | mac[i];
		bits += 8;
		while (bits >= 6) {
			bits -= 6;
			out[o++] = b64[(acc >> bits) & 63];
		}
	}
	if (bits)
		out[o++] = b64[(acc << (6 - bits)) & 63];
	out[o] = '\0';
	SK_ASSERT(o == 43);
}

void sk_session_cookie_make(const uint8_t key[32], const char *id, char *out)
{
	char mac[44];
	mac_b64(key, "session:", id, 64, mac);
	snprintf(out, SK_SESSION_COOKIE_LEN + 1, "%.64s.%s", id, mac);
}

static bool is_hex_lower(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
			return false;
	return true;
}

size_t sk_cookie_find_all(const struct sk_http_request *req, const char *name, struct sk_slice *out, size_t max)
{
	size_t nl = strlen(name), n = 0;
	for (unsigned i = 0; i < req->n_headers && n < max; i++) {
		const struct sk_http_field *h = &req->headers[i];
		if (!sk_slice_ieq(h->name, "cookie"))
			continue;
		const char *p = h->value.ptr, *end = p + h->value.len;
		while (p < end && n < max) {
			while (p < end && (*p == ' ' || *p == ';'))
				p++;
			const char *pair = p;
			while (p < end && *p != ';')
				p++;
			size_t plen = (size_t)(p - pair);
			if (plen > nl && memcmp(pair, name, nl) == 0 && pair[nl] == '=') {
				struct sk_slice v = { .ptr = pair + nl + 1, .len = plen - nl - 1 };
				while (v.len && v.ptr[v.len - 1] == ' ')
					v.len--;
				out[n++] = v;
			}
		}
	}
	return n;
}

struct sk_slice sk_cookie_find(const struct sk_http_request *req, const char *name)
{
	struct sk_slice v = { 0 };
	sk_cookie_find_all(req, name, &v, 1);
	return v;
}

bool sk_session_cookie_find(const uint8_t key[32], const struct sk_http_request *req, char *id)
{
	struct sk_slice v[SK_SESSION_COOKIE_TRIES];
	size_t n = sk_cookie_find_all(req, SK_SESSION_COOKIE, v, SK_SESSION_COOKIE_TRIES);
	for (size_t i = 0; i < n; i++)
		if (sk_session_cookie_check(key, v[i], id))
			return true;
	return false;
}

bool sk_session_cookie_check(const uint8_t key[32], struct sk_slice v, char *id)
{
	if (v.len != SK_SESSION_COOKIE_LEN || v.ptr[64] != '.' || !is_hex_lower(v.ptr, 64))
		return false;
	char mac[44];
	mac_b64(key, "session:", v.ptr, 64, mac);
	if (!sk_ct_eq(mac, v.ptr + 65, 43))
		return false;
	memcpy(id, v.ptr, 64);
	id[64] = '\0';
	return true;
}

int sk_csrf_make(const uint8_t key[32], uint64_t now, char *out)
{
	uint8_t raw[16];
	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
		return -1;
	char msg[64];
	int n = 0;
	for (size_t i = 0; i < sizeof(raw); i++)
		n += snprintf(msg + n, sizeof(msg) - (size_t)n, "%02x", raw[i]);
	n += snprintf(msg + n, sizeof(msg) - (size_t)n, ".%013" PRIu64, now);
	char mac[44];
	mac_b64(key, "csrf:", msg, (size_t)n, mac);
	SK_ASSERT(n == 46);
	memcpy(out, msg, 46);
	out[46] = '.';
	memcpy(out + 47, mac, 44); /* with its NUL */
	return 0;
}

bool sk_csrf_check(const uint8_t key[32], struct sk_slice form, struct sk_slice cookie, uint64_t now)
{
	if (form.len != SK_CSRF_LEN || cookie.len != SK_CSRF_LEN || !sk_ct_eq(form.ptr, cookie.ptr, SK_CSRF_LEN))
		return false;
	const char *t = form.ptr;
	if (t[32] != '.' || t[46] != '.' || !is_hex_lower(t, 32))
		return false;
	uint64_t issued = 0;
	for (size_t i = 33; i < 46; i++) {
		if (t[i] < '0' || t[i] > '9')
			return false;
		issued = issued * 10 + (uint64_t)(t[i] - '0');
	}
	char mac[44];
	mac_b64(key, "csrf:", t, 46, mac);
	if (!sk_ct_eq(mac, t + 47, 43))
		return false;
	if (issued > now) /* clocks of several instances differ a little */
		return issued - now < 60000;
	return now - issued < SK_CSRF_TTL_MS;
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

long sk_form_get(struct sk_slice s, const char *name, char *out, size_t cap)
{
	size_t nl = strlen(name);
	const char *p = s.ptr, *end = s.ptr + s.len;
	while (p && p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *pe = amp ? amp : end;
		if ((size_t)(pe - p) > nl && memcmp(p, name, nl) == 0 && p[nl] == '=') {
			size_t o = 0;
			for (const char *q = p + nl + 1; q < pe; q++) {
				char c = *q;
				if (c == '+') {
					c = ' ';
				} else if (c == '%') {
					if (pe - q < 3 || hexval(q[1]) < 0 || hexval(q[2]) < 0)
						return -1;
					c = (char)(hexval(q[1]) << 4 | hexval(q[2]));
					q += 2;
				}
				if (o + 1 >= cap)
					return -1;
				out[o++] = c;
			}
			out[o] = '\0';
			return (long)o;
		}
		p = amp ? amp + 1 : NULL;
	}
	return -1;
}
