/*
 * h1_write.c — the one place an HTTP/1.1 response head is written (DESIGN §9): from a response that a
 * handler described (struct sk_http_response), whoever made it: an origin, a static file, an error page,
 * the login pages, the admin endpoints. Pure: no I/O, no allocation.
 */
#include <string.h>

#include "http/h1.h"
#include "http/text.h"

ssize_t sk_h1_write_head(const struct sk_http_response *r, const struct sk_h1_wopts *o, char *out, size_t cap)
{
	struct sk_wbuf w = { .p = out, .end = out + cap };
	int st = r->status;
	if (st < 100 || st > 999)
		return -1;
	char sl[13] = { 'H', 'T', 'T', 'P', '/', '1', '.', '1', ' ', (char)('0' + st / 100),
			(char)('0' + st / 10 % 10), (char)('0' + st % 10), ' ' };
	struct sk_slice reason = r->reason;
	if (!r->from_origin) { /* an origin's reason is kept, even an empty one (RFC 9112 §4) */
		reason.ptr = sk_http_status_text(st);
		reason.len = strlen(reason.ptr);
	}
	if (!sk_wbuf_put(&w, sl, sizeof(sl)) || !sk_wbuf_put(&w, reason.ptr, reason.len) || !SK_WBUF_LIT(&w, "\r\n"))
		return -1;

	/* An origin's Content-Length is kept on a bodiless answer that still describes one (HEAD, 304). */
	bool keep_cl = o->framing == SK_BODY_NONE && st >= 200 && st != 204;
	struct sk_slice upgrade = { 0 };
	bool have_upgrade = false;
	if (r->from_origin) {
		unsigned conn0 = sk_http_first_connection(r->fields, r->n_fields);
		for (unsigned i = 0; i < r->n_fields; i++) {
			const struct sk_http_field *h = &r->fields[i];
			switch (sk_http_resp_field(r, i, conn0)) {
			case SK_RF_CONTENT_LENGTH:
				if (keep_cl && !sk_wbuf_slice_field(&w, h->name, h->value))
					return -1;
				break;
			case SK_RF_UPGRADE:
				if (!have_upgrade) {
					upgrade = h->value;
					have_upgrade = true;
				}
				break;
			case SK_RF_DROP:
				break;
			case SK_RF_KEEP:
				if (!sk_wbuf_slice_field(&w, h->name, h->value))
					return -1;
				break;
			}
		}
	} else {
		for (unsigned i = 0; i < r->n_fields; i++)
			if (!sk_wbuf_slice_field(&w, r->fields[i].name, r->fields[i].value))
				return -1;
	}

	if (o->framing == SK_BODY_CHUNKED) {
		if (!SK_WBUF_LIT(&w, "Transfer-Encoding: chunked\r\n"))
			return -1;
	} else if (o->framing == SK_BODY_LENGTH) {
		if (!SK_WBUF_LIT(&w, "Content-Length: ") || !sk_wbuf_u64(&w, r->length) || !SK_WBUF_LIT(&w, "\r\n"))
			return -1;
	}

	if (r->upgrade) {
		if (have_upgrade && !sk_wbuf_slice_field(&w, SK_SLICE("Upgrade"), upgrade))
			return -1;
		if (!SK_WBUF_LIT(&w, "Connection: upgrade\r\n"))
			return -1;
	} else if (r->tunnel) {
		/* RFC 9110 §9.3.6: a 2xx to CONNECT has no framing and the connection is the tunnel now. */
	} else if (!o->keep_alive) {
		if (!SK_WBUF_LIT(&w, "Connection: close\r\n"))
			return -1;
	} else if (o->http10) {
		if (!SK_WBUF_LIT(&w, "Connection: keep-alive\r\n"))
			return -1;
	}
	if (!SK_WBUF_LIT(&w, "\r\n"))
		return -1;
	return w.p - out;
}

enum sk_http_body sk_h1_framing(const struct sk_http_response *r, bool http10)
{
	switch (r->body) {
	case SK_BODY_NONE:
	case SK_BODY_LENGTH:
		return r->body;
	case SK_BODY_CHUNKED:
		return http10 ? SK_BODY_CLOSE : SK_BODY_CHUNKED;
	default:
		return SK_BODY_CLOSE;
	}
}

size_t sk_h1_chunk_line(char out[24], uint64_t n)
{
	static const char hex[] = "0123456789abcdef";
	char tmp[20];
	size_t k = 0;
	do {
		tmp[k++] = hex[n & 15];
		n >>= 4;
	} while (n);
	size_t o = 0;
	while (k)
		out[o++] = tmp[--k];
	out[o++] = '\r';
	out[o++] = '\n';
	return o;
}
