/*
 * h2_write.c — the one place an HTTP/2 response head is written (h2.h). The field filter is the HTTP/1.1
 * writer's (msg.c, sk_http_resp_field), so both protocols drop the same hop-by-hop fields.
 */
#include <string.h>

#include "http/h2.h"

struct scratch {
	char *p, *end;
};

/* A copy of s in scratch, lower-cased; NULL when it does not fit. */
static uint8_t *lower_copy(struct scratch *s, struct sk_slice name)
{
	if ((size_t)(s->end - s->p) < name.len)
		return NULL;
	uint8_t *out = (uint8_t *)s->p;
	for (size_t i = 0; i < name.len; i++) {
		unsigned char c = (unsigned char)name.ptr[i];
		out[i] = (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c;
	}
	s->p += name.len;
	return out;
}

static nghttp2_nv nv_of(const uint8_t *name, size_t nlen, const void *value, size_t vlen)
{
	return (nghttp2_nv){ .name = (uint8_t *)name, .namelen = nlen, .value = (uint8_t *)value, .valuelen = vlen,
			     .flags = NGHTTP2_NV_FLAG_NONE };
}

ssize_t sk_h2_write_head(const struct sk_http_response *r, nghttp2_nv *nv, size_t cap, char *scratch, size_t scap)
{
	struct scratch s = { .p = scratch, .end = scratch + scap };
	int st = r->status;
	if (st < 100 || st > 999 || cap < 2 || scap < 3 + 20)
		return -1;
	char *status = s.p;
	status[0] = (char)('0' + st / 100);
	status[1] = (char)('0' + st / 10 % 10);
	status[2] = (char)('0' + st % 10);
	s.p += 3;
	size_t n = 0;
	nv[n++] = nv_of((const uint8_t *)":status", 7, status, 3);

	bool keep_cl = r->from_origin && r->body == SK_BODY_NONE && st >= 200 && st != 204;
	unsigned conn0 = sk_http_first_connection(r->fields, r->n_fields);
	for (unsigned i = 0; i < r->n_fields; i++) {
		const struct sk_http_field *h = &r->fields[i];
		enum sk_http_rf what = sk_http_resp_field(r, i, conn0);
		if (what == SK_RF_DROP || what == SK_RF_UPGRADE || (what == SK_RF_CONTENT_LENGTH && !keep_cl))
			continue;
		if (h->name.len == 0)
			continue;
		if (n == cap - 1) /* one entry stays for content-length */
			return -1;
		uint8_t *name = lower_copy(&s, h->name);
		if (!name)
			return -1;
		nv[n++] = nv_of(name, h->name.len, h->value.ptr, h->value.len);
	}
	if (r->body == SK_BODY_LENGTH) {
		if ((size_t)(s.end - s.p) < 20)
			return -1;
		char tmp[20];
		size_t k = 0;
		uint64_t v = r->length;
		do {
			tmp[k++] = (char)('0' + v % 10);
			v /= 10;
		} while (v);
		char *len = s.p;
		for (size_t i = 0; i < k; i++)
			len[i] = tmp[k - 1 - i];
		s.p += k;
		nv[n++] = nv_of((const uint8_t *)"content-length", 14, len, k);
	}
	return (ssize_t)n;
}
