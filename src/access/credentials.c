/*
 * credentials.c — Basic / Bearer / X-Api-Key reading (see credentials.h). Pure and bounded.
 */
#include "access/credentials.h"

#include <strings.h>

static int b64val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

ssize_t sk_base64_decode(const char *in, size_t len, char *out, size_t cap)
{
	if (len == 0 || len % 4 != 0)
		return -1;
	size_t o = 0;
	for (size_t i = 0; i < len; i += 4) {
		int v[4];
		int pad = 0;
		for (int k = 0; k < 4; k++) {
			unsigned char ch = (unsigned char)in[i + k];
			if (ch == '=' && i + 4 == len && k >= 2) {
				v[k] = 0;
				pad++;
				continue;
			}
			if (pad) /* data after padding */
				return -1;
			v[k] = b64val(ch);
			if (v[k] < 0)
				return -1;
		}
		if (pad == 1 && in[i + 2] == '=')
			return -1;
		uint32_t n = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
		size_t bytes = 3 - (size_t)pad;
		if (o + bytes > cap)
			return -1;
		out[o++] = (char)(n >> 16);
		if (bytes > 1)
			out[o++] = (char)(n >> 8 & 0xff);
		if (bytes > 2)
			out[o++] = (char)(n & 0xff);
	}
	return (ssize_t)o;
}

static bool has_ctl(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
			return true;
	return false;
}

static bool token_ok(struct sk_slice t)
{
	if (t.len == 0 || t.len > SK_CRED_TOKEN_MAX)
		return false;
	for (size_t i = 0; i < t.len; i++)
		if ((unsigned char)t.ptr[i] <= 0x20 || (unsigned char)t.ptr[i] >= 0x7f)
			return false;
	return true;
}

/* Splits "Scheme SP+ rest" (scheme compared case-insensitively). */
static bool scheme_is(struct sk_slice v, const char *scheme, struct sk_slice *rest)
{
	size_t n = strlen(scheme);
	if (v.len <= n || strncasecmp(v.ptr, scheme, n) != 0 || v.ptr[n] != ' ')
		return false;
	size_t i = n;
	while (i < v.len && v.ptr[i] == ' ')
		i++;
	*rest = (struct sk_slice){ .ptr = v.ptr + i, .len = v.len - i };
	return true;
}

void sk_cred_read(const struct sk_http_request *req, bool basic, bool token, struct sk_cred *out)
{
	out->kind = SK_CRED_NONE;
	out->bearer = false;
	const struct sk_http_field *auth = NULL;
	const struct sk_http_field *apikey = NULL;
	for (unsigned i = 0; i < req->n_headers; i++) {
		const struct sk_http_field *h = &req->headers[i];
		if (sk_slice_ieq(h->name, "authorization")) {
			if (auth) {
				out->kind = SK_CRED_MALFORMED;
				return;
			}
			auth = h;
		} else if (token && sk_slice_ieq(h->name, "x-api-key")) {
			if (apikey) {
				out->kind = SK_CRED_MALFORMED;
				return;
			}
			apikey = h;
		}
	}
	struct sk_slice rest;
	if (auth && basic && scheme_is(auth->value, "basic", &rest)) {
		ssize_t n = sk_base64_decode(rest.ptr, rest.len, out->buf, sizeof(out->buf));
		const char *colon = n > 0 ? memchr(out->buf, ':', (size_t)n) : NULL;
		if (!colon || colon == out->buf || has_ctl(out->buf, (size_t)n)) {
			out->kind = SK_CRED_MALFORMED;
			return;
		}
		out->user = (struct sk_slice){ .ptr = out->buf, .len = (size_t)(colon - out->buf) };
		out->password = (struct sk_slice){ .ptr = colon + 1, .len = (size_t)(out->buf + n - colon - 1) };
		out->kind = SK_CRED_BASIC;
		return;
	}
	if (auth && token && scheme_is(auth->value, "bearer", &rest)) {
		out->token = rest;
		out->bearer = true;
		out->kind = token_ok(rest) ? SK_CRED_TOKEN : SK_CRED_MALFORMED;
		return;
	}
	if (apikey) {
		out->token = apikey->value;
		out->kind = token_ok(apikey->value) ? SK_CRED_TOKEN : SK_CRED_MALFORMED;
		return;
	}
	if (auth && ((basic && scheme_is(auth->value, "bearer", &rest)) ||
		     (token && scheme_is(auth->value, "basic", &rest))))
		return; /* a kind this behavior does not accept: as if none were sent */
	if (auth && (basic || token))
		out->kind = SK_CRED_MALFORMED;
}
