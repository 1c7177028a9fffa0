/*
 * fuzz_fwd_head.c — libFuzzer target for sk_forward_request_head (src/proxy/forward.c): the head sent
 * toward an origin, built from whatever head the parser accepted.
 *
 * Input layout: three flag bytes, two bytes of a Content-Length, then a request head.
 *   byte 0  bit 0 forward_host, 1 underscores forwarded, 2 upgrade (tunnel), 3 viewer TLS,
 *           bits 4-5 forward_headers (all, none, a list, all), 6 origin without host, 7 origin headers;
 *   byte 1  bits 0-3 strip (SK_CONSUMED_*), bits 4-5 body framing (as the request's, none, a length,
 *           chunked), 6 identity set, 7 an identity value with a line break (must fail);
 *   byte 2  bit 0 claim headers, bit 1 peer is a trusted proxy, bits 2-7 a small output buffer's size.
 * The head is parsed with sk_h1_parse_request; when DONE, split and normalised as the request path does,
 * and struct sk_fwd_request filled as continue_request fills it (src/proxy/exchange.c since the issue 10
 * split). What must hold for the output:
 *  - it parses with sk_h1_parse_request as DONE, exactly its length, HTTP/1.1, the viewer's method and
 *    the normalised path plus query as the target;
 *  - exactly one Host, the viewer's or the origin's as forward_host says;
 *  - no hop-by-hop field (the fixed list, or one the viewer's Connection named) other than the
 *    "Upgrade: websocket" / "Connection: upgrade" pair of a tunnel and our Transfer-Encoding;
 *  - no name with '_' unless underscores are forwarded, and no name that folds ('_' as '-', runs of '-'
 *    merged) into a field of ours, framing, a hop-by-hop one or a credential;
 *  - X-Forwarded-For/-Proto/-Host once each, with our values, and no other X-Forwarded-*;
 *    X-Auth-User/-Groups/-Method only as the identity set them;
 *  - the framing field matches the framing asked for, and the reparse reads the same framing;
 *  - stripped credentials are absent; every other field is a viewer's field copied as it came (or the
 *    origin's, ours, a claim line), and none with forward_headers none;
 *  - with a small buffer: -1, or byte for byte the head a large buffer gets (never a partial head),
 *    and -1 only when the head is larger than that buffer.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "access/access.h"
#include "access/session.h"
#include "config/config.h"
#include "http/h1.h"
#include "net/ipset.h"
#include "proxy/forward.h"
#include "proxy/route.h"

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c))                                                                          \
			__builtin_trap();                                                          \
	} while (0)

#define MAXH 128
#define MAXOUT 512
#define BIG 32768 /* SK_BUF_SIZE: the buffer the request path builds the head in */

static unsigned char lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

/* Case-insensitive equality of a slice and a string. */
static bool ieq(struct sk_slice s, const char *lit)
{
	size_t n = strlen(lit);
	if (s.len != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (lower((unsigned char)s.ptr[i]) != lower((unsigned char)lit[i]))
			return false;
	return true;
}

static bool seq(struct sk_slice a, struct sk_slice b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static bool seq_str(struct sk_slice a, const char *s)
{
	return seq(a, (struct sk_slice){ .ptr = s, .len = strlen(s) });
}

/* Lower-cased, '_' read as '-', runs of '-' merged, cut at cap bytes. */
static size_t fold(struct sk_slice n, char *out, size_t cap)
{
	size_t k = 0;
	for (size_t i = 0; i < n.len && k < cap; i++) {
		char c = n.ptr[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c + 32);
		if (c == '_')
			c = '-';
		if (c == '-' && k && out[k - 1] == '-')
			continue;
		out[k++] = c;
	}
	return k;
}

static bool has_prefix(struct sk_slice s, const char *lit)
{
	size_t n = strlen(lit);
	return s.len >= n && ieq((struct sk_slice){ .ptr = s.ptr, .len = n }, lit);
}

/* A folded name that reaches a field sekisho sets, strips, consumes, or frames the message with. */
static bool guarded(struct sk_slice f)
{
	static const char *const names[] = { "host", "content-length", "transfer-encoding", "expect",
					     "forwarded", "connection", "keep-alive", "te", "trailer",
					     "upgrade", "authorization", "x-api-key", "x-otp", "cookie" };
	if (has_prefix(f, "x-forwarded-") || has_prefix(f, "x-auth-") || has_prefix(f, "proxy-"))
		return true;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (ieq(f, names[i]))
			return true;
	return false;
}

static unsigned count(const struct sk_http_field *h, unsigned n, const char *name)
{
	unsigned c = 0;
	for (unsigned i = 0; i < n; i++)
		c += ieq(h[i].name, name);
	return c;
}

static const struct sk_http_field *find(const struct sk_http_field *h, unsigned n, const char *name)
{
	for (unsigned i = 0; i < n; i++)
		if (ieq(h[i].name, name))
			return &h[i];
	return NULL;
}

/* The cookie pairs named exactly SK_SESSION_COOKIE once trimmed. */
static bool has_session_pair(struct sk_slice v)
{
	const char *p = v.ptr, *end = v.ptr + v.len;
	while (p < end) {
		const char *semi = memchr(p, ';', (size_t)(end - p));
		const char *pe = semi ? semi : end;
		const char *eq = memchr(p, '=', (size_t)(pe - p));
		const char *a = p, *z = eq ? eq : pe;
		while (a < z && (*a == ' ' || *a == '\t'))
			a++;
		while (z > a && (z[-1] == ' ' || z[-1] == '\t'))
			z--;
		if (seq((struct sk_slice){ .ptr = a, .len = (size_t)(z - a) }, SK_SLICE(SK_SESSION_COOKIE)))
			return true;
		p = semi ? semi + 1 : end;
	}
	return false;
}

static ssize_t build(const struct sk_fwd_request *f, size_t cap, char **out)
{
	*out = malloc(cap);
	if (!*out)
		abort();
	ssize_t n = sk_forward_request_head(f, *out, cap);
	CHECK(n == -1 || (n > 0 && (size_t)n <= cap));
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 5)
		return 0;
	uint8_t b0 = data[0], b1 = data[1], b2 = data[2];
	uint64_t cl_in = (uint64_t)data[3] << 8 | data[4];
	const char *head = (const char *)data + 5;
	size_t hlen = size - 5;

	struct sk_http_field vh[MAXH];
	struct sk_http_request req;
	if (sk_h1_parse_request(head, hlen, NULL, &req, vh, MAXH) != SK_H1_DONE)
		return 0;

	/* routing's part, as the request path does it */
	struct sk_slice authority, path, query;
	if (sk_target_split(req.target, ieq(req.method, "options"), &authority, &path, &query) == -1)
		return 0;
	struct sk_slice host = authority.len ? authority : req.host;
	char npath_buf[16384];
	size_t plen = 0;
	if (path.len == 1 && path.ptr[0] == '*') {
		npath_buf[0] = '*';
		plen = 1;
	} else if (path.len > sizeof(npath_buf) || sk_path_normalize(path, npath_buf, &plen) == -1) {
		return 0;
	}
	struct sk_slice npath = { .ptr = npath_buf, .len = plen };

	/* the client, from peer 10.0.0.1, trusted or not */
	struct sk_ipset *trusted = sk_ipset_new();
	struct sk_cidr ten;
	CHECK(sk_cidr_parse("10.0.0.0/8", &ten) == 0);
	if (b2 & 2)
		sk_ipset_add(trusted, &ten);
	struct sockaddr_in peer = { .sin_family = AF_INET };
	peer.sin_addr.s_addr = htonl(0x0a000001);
	struct sk_client client;
	sk_forward_client((const struct sockaddr *)&peer, &req, trusted, &client);

	char *list_items[] = { "Cookie", "authorization", "X-Keep", "connection", "Transfer-Encoding",
			       "X_Auth_User", "x-forwarded-for", "Upgrade" };
	struct sk_behavior beh = {
		.forward_host = b0 & 1,
		.forward_mode = ((b0 >> 4) & 3) == 1 ? SK_FWD_NONE : ((b0 >> 4) & 3) == 2 ? SK_FWD_LIST : SK_FWD_ALL,
		.forward_headers = { .items = list_items, .n = sizeof(list_items) / sizeof(list_items[0]) },
		.websocket = true,
	};
	struct sk_kv okv[] = { { "X-Origin-Token", "t0k3n" }, { "X-Origin-Name", "app" } };
	struct sk_origin origin = {
		.name = "app",
		.host = (b0 & 64) ? NULL : "app.internal:8080",
		.headers = (b0 & 128) ? okv : NULL,
		.n_headers = (b0 & 128) ? 2 : 0,
	};
	static const char claims[] = "X-Claim-Sub: bob\r\n";
	struct sk_fwd_request f = {
		.req = &req,
		.path = npath,
		.query = query,
		.viewer_host = host,
		.beh = &beh,
		.origin = &origin,
		.client = &client,
		.tls = b0 & 8,
		.upgrade = b0 & 4,
		.underscores = b0 & 2,
		.strip = b1 & 15,
		.body = req.body,
		.content_length = req.content_length,
		.auth_user = (b1 & 64) ? ((b1 & 128) ? "mallory\r\nX-Auth-User: root" : "alice") : NULL,
		.auth_groups = (b1 & 64) ? "admins,dev" : NULL,
		.auth_method = (b1 & 64) ? "basic" : NULL,
		.claim_headers = (b2 & 1) ? SK_SLICE(claims) : (struct sk_slice){ 0 },
	};
	switch ((b1 >> 4) & 3) {
	case 1:
		f.body = SK_BODY_NONE;
		f.content_length = 0;
		break;
	case 2:
		f.body = SK_BODY_LENGTH;
		f.content_length = cl_in;
		break;
	case 3:
		f.body = SK_BODY_CHUNKED;
		f.content_length = 0;
		break;
	}

	char *out = NULL, *small = NULL;
	ssize_t n = build(&f, BIG, &out);
	size_t scap = (size_t)(b2 >> 2) * 16 + 8;
	ssize_t sn = build(&f, scap, &small);
	/* never a partial head: the small buffer gets the same bytes, or -1 because they do not fit */
	if (sn >= 0)
		CHECK(sn == n && memcmp(small, out, (size_t)n) == 0);
	else
		CHECK(n == -1 || (size_t)n > scap);
	if ((b1 & 192) == 192) {
		CHECK(n == -1); /* an identity value with a line break is never sent */
		goto out;
	}
	/* the viewer's head fitted in 16 KiB; ours adds at most a few hundred bytes, the buffer is 32 */
	CHECK(n > 0);

	/* the output is an HTTP/1.1 request head of exactly n bytes */
	struct sk_http_field oh[MAXH + 16];
	struct sk_http_request o;
	const struct sk_h1_limits big = { .request_line = BIG, .header_block = BIG, .header_fields = MAXH + 16 };
	CHECK(sk_h1_parse_request(out, (size_t)n, &big, &o, oh, MAXH + 16) == SK_H1_DONE);
	CHECK(o.head_len == (size_t)n && o.version == SK_HTTP_11);
	CHECK(seq(o.method, req.method));
	CHECK(o.target.len == npath.len + query.len && memcmp(o.target.ptr, npath.ptr, npath.len) == 0 &&
	      (query.len == 0 || memcmp(o.target.ptr + npath.len, query.ptr, query.len) == 0));

	/* Host */
	CHECK(count(oh, o.n_headers, "host") == 1);
	const char *want_host = (beh.forward_host || !origin.host) ? NULL : origin.host;
	if (want_host)
		CHECK(seq_str(o.host, want_host));
	else
		CHECK(seq(o.host, host));

	/* ours, once each, with our values */
	CHECK(count(oh, o.n_headers, "x-forwarded-for") == 1);
	CHECK(seq_str(find(oh, o.n_headers, "x-forwarded-for")->value, client.xff));
	CHECK(count(oh, o.n_headers, "x-forwarded-proto") == 1);
	struct sk_slice xfp = find(oh, o.n_headers, "x-forwarded-proto")->value;
	if (!client.peer_trusted)
		CHECK(seq_str(xfp, f.tls ? "https" : "http"));
	CHECK(count(oh, o.n_headers, "x-forwarded-host") == 1);
	CHECK(seq(find(oh, o.n_headers, "x-forwarded-host")->value, host));
	unsigned ids = f.auth_user ? 1 : 0;
	CHECK(count(oh, o.n_headers, "x-auth-user") == ids && count(oh, o.n_headers, "x-auth-groups") == ids &&
	      count(oh, o.n_headers, "x-auth-method") == ids);
	if (ids)
		CHECK(seq_str(find(oh, o.n_headers, "x-auth-user")->value, "alice"));

	/* framing */
	unsigned te = count(oh, o.n_headers, "transfer-encoding"), cl = count(oh, o.n_headers, "content-length");
	CHECK(o.body == f.body);
	if (f.body == SK_BODY_CHUNKED)
		CHECK(te == 1 && cl == 0 && seq_str(find(oh, o.n_headers, "transfer-encoding")->value, "chunked"));
	else if (f.body == SK_BODY_LENGTH)
		CHECK(te == 0 && cl == 1 && o.content_length == f.content_length);
	else
		CHECK(te == 0 && cl == 0);

	/* tunnel */
	bool tunnel = f.upgrade && find(vh, req.n_headers, "upgrade");
	CHECK(count(oh, o.n_headers, "upgrade") == (tunnel ? 1u : 0u));
	CHECK(count(oh, o.n_headers, "connection") == (tunnel ? 1u : 0u));
	if (tunnel)
		CHECK(seq_str(find(oh, o.n_headers, "upgrade")->value, "websocket") &&
		      seq_str(find(oh, o.n_headers, "connection")->value, "upgrade"));

	unsigned conn0 = req.n_headers;
	for (unsigned i = 0; i < req.n_headers && conn0 == req.n_headers; i++)
		if (ieq(vh[i].name, "connection"))
			conn0 = i;
	unsigned viewer_copies = 0;
	for (unsigned i = 0; i < o.n_headers; i++) {
		struct sk_slice nm = oh[i].name, v = oh[i].value;
		if (!f.underscores)
			CHECK(!memchr(nm.ptr, '_', nm.len));
		/* a name that folds into a guarded one must be that name as written */
		char fb[40];
		size_t fl = fold(nm, fb, sizeof(fb));
		struct sk_slice fs = { .ptr = fb, .len = fl };
		if (guarded(fs))
			CHECK(!memchr(nm.ptr, '_', nm.len) && !memmem(nm.ptr, nm.len, "--", 2));
		CHECK(!has_prefix(nm, "proxy-"));
		if (ieq(nm, "x-auth-user") || ieq(nm, "x-auth-groups") || ieq(nm, "x-auth-method") ||
		    ieq(nm, "host") || ieq(nm, "x-forwarded-for") || ieq(nm, "x-forwarded-proto") ||
		    ieq(nm, "x-forwarded-host") || ieq(nm, "transfer-encoding") || ieq(nm, "content-length") ||
		    ieq(nm, "upgrade") || ieq(nm, "connection"))
			continue; /* counted and checked above */
		/* DESIGN §1 names the three identity fields, not every X-Auth-*: "X-Auth-Email" may cross */
		CHECK(!has_prefix(nm, "x-forwarded-") && !ieq(nm, "forwarded") &&
		      !ieq(nm, "expect") && !ieq(nm, "keep-alive") && !ieq(nm, "te") && !ieq(nm, "trailer"));
		if ((f.strip & SK_CONSUMED_AUTHORIZATION))
			CHECK(!ieq(nm, "authorization"));
		if ((f.strip & SK_CONSUMED_API_KEY))
			CHECK(!ieq(nm, "x-api-key"));
		if ((f.strip & SK_CONSUMED_OTP))
			CHECK(!ieq(nm, "x-otp"));
		if ((f.strip & SK_CONSUMED_SESSION) && ieq(nm, "cookie"))
			CHECK(!has_session_pair(v));
		if ((b2 & 1) && seq_str(nm, "X-Claim-Sub") && seq_str(v, "bob"))
			continue;
		bool of_origin = false;
		for (size_t k = 0; k < origin.n_headers; k++)
			of_origin |= seq_str(nm, okv[k].name) && seq_str(v, okv[k].value);
		if (of_origin)
			continue;
		/* the rest is a viewer field, copied as it came (a Cookie may have lost its session pairs) */
		bool from_viewer = false;
		for (unsigned k = 0; k < req.n_headers && !from_viewer; k++)
			from_viewer = seq(vh[k].name, nm) &&
				      (seq(vh[k].value, v) || ((f.strip & SK_CONSUMED_SESSION) && ieq(nm, "cookie")));
		CHECK(from_viewer);
		CHECK(!sk_http_is_hop_by_hop(nm, vh + conn0, req.n_headers - conn0));
		if (beh.forward_mode == SK_FWD_LIST) {
			bool listed = false;
			for (size_t k = 0; k < beh.forward_headers.n; k++)
				listed |= ieq(nm, list_items[k]);
			CHECK(listed);
		}
		viewer_copies++;
	}
	if (beh.forward_mode == SK_FWD_NONE)
		CHECK(viewer_copies == 0);
out:
	free(out);
	free(small);
	sk_ipset_free(trusted);
	return 0;
}
