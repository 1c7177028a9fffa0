/*
 * msg.c — readers of parsed fields shared by every protocol (msg.h).
 */
#include <string.h>

#include "http/msg.h"
#include "http/text.h"


const struct sk_http_field *sk_http_find(const struct sk_http_field *headers, unsigned n, const char *name)
{
	size_t nl = strlen(name);
	for (unsigned i = 0; i < n; i++) {
		if (headers[i].name.len != nl)
			continue;
		const char *a = headers[i].name.ptr;
		size_t j = 0;
		while (j < nl && sk_ascii_lower((unsigned char)a[j]) == sk_ascii_lower((unsigned char)name[j]))
			j++;
		if (j == nl)
			return &headers[i];
	}
	return NULL;
}

/* True when the comma-separated list v holds the token name (case-insensitive, OWS around items). */
static bool list_has(struct sk_slice v, struct sk_slice name)
{
	const char *p = v.ptr, *end = v.ptr + v.len;
	struct sk_slice item;
	while (sk_list_next(&p, end, &item)) {
		if (item.len != name.len)
			continue;
		size_t j = 0;
		while (j < name.len && sk_ascii_lower((unsigned char)item.ptr[j]) == sk_ascii_lower((unsigned char)name.ptr[j]))
			j++;
		if (j == name.len)
			return true;
	}
	return false;
}

bool sk_http_is_hop_by_hop(struct sk_slice name, const struct sk_http_field *headers, unsigned n)
{
	if (name.len == 0)
		return false;
	if (name.len >= 6 && sk_ascii_ieq(name.ptr, "proxy-", 6))
		return true;
	if (SK_SLICE_IEQ(name, "connection") || SK_SLICE_IEQ(name, "keep-alive") || SK_SLICE_IEQ(name, "te") ||
	    SK_SLICE_IEQ(name, "trailer") || SK_SLICE_IEQ(name, "transfer-encoding") ||
	    SK_SLICE_IEQ(name, "upgrade"))
		return true;
	for (unsigned i = 0; i < n; i++)
		if (SK_SLICE_IEQ(headers[i].name, "connection") && list_has(headers[i].value, name))
			return true;
	return false;
}

/*
 * True when name reads as lit once lower-cased, with '_' read as '-' and runs of '-' merged (the way
 * CGI-style origins fold names). lit is lower case with single dashes.
 */
static bool reads_as(struct sk_slice name, const char *lit, size_t n)
{
	size_t j = 0;
	unsigned char prev = 0;
	for (size_t i = 0; i < name.len; i++) {
		unsigned char c = sk_ascii_lower((unsigned char)name.ptr[i]);
		if (c == '_')
			c = '-';
		if (c == '-' && prev == '-')
			continue;
		prev = c;
		if (j == n || c != (unsigned char)lit[j])
			return false;
		j++;
	}
	return j == n;
}

bool sk_http_framing_lookalike(struct sk_slice name)
{
	/* Only names of 14 bytes or more starting with c or t can read as one, which keeps this off most
	 * fields. */
	if (name.len < 14)
		return false;
	unsigned char c0 = sk_ascii_lower((unsigned char)name.ptr[0]);
	if (c0 != 'c' && c0 != 't')
		return false;
	if (SK_SLICE_IEQ(name, "content-length") || SK_SLICE_IEQ(name, "transfer-encoding"))
		return false;
	return reads_as(name, "content-length", 14) || reads_as(name, "transfer-encoding", 17);
}

unsigned sk_http_first_connection(const struct sk_http_field *h, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (SK_SLICE_IEQ(h[i].name, "connection"))
			return i;
	return n;
}

enum sk_http_rf sk_http_resp_field(const struct sk_http_response *r, unsigned i, unsigned conn0)
{
	struct sk_slice name = r->fields[i].name;
	if (SK_SLICE_IEQ(name, "content-length"))
		return SK_RF_CONTENT_LENGTH;
	if (SK_SLICE_IEQ(name, "upgrade"))
		return SK_RF_UPGRADE;
	/* Transfer-Encoding is on the fixed hop-by-hop list; the fields a Connection field names sit at or
	 * after the first one. */
	if (sk_http_is_hop_by_hop(name, r->fields + conn0, r->n_fields - conn0))
		return SK_RF_DROP;
	return SK_RF_KEEP;
}

const char *sk_http_version_name(uint8_t version)
{
	switch (version) {
	case SK_HTTP_10: return "HTTP/1.0";
	case SK_HTTP_2: return "HTTP/2";
	default: return "HTTP/1.1";
	}
}
