/*
 * forward.c — the header policy toward origins (DESIGN §1 "Origin request"); the way back to viewers is the
 * response writer's (http/h1_write.c drops an origin's hop-by-hop fields).
 *
 * Pure functions of their input: they read parsed heads (slices into a connection's read buffer) and
 * write a complete HTTP/1.1 head into a caller's buffer, with no allocation and one pass over the fields.
 * This is the proxy's hot path, so fields are copied with memcpy and numbers formatted by hand.
 *
 * Invariants:
 * - Framing (Content-Length / Transfer-Encoding) is never copied: it is written from the framing the
 *   caller decided (enum sk_http_body), so a head we send always agrees with the body we send.
 * - Hop-by-hop fields (the fixed list and every name listed in a Connection field) never cross; Upgrade
 *   crosses only when the caller tunnels, and then with "Connection: upgrade" written by us.
 * - Whatever the viewer sends as X-Forwarded-* (any name with that prefix), Forwarded, or as one of our
 *   identity fields (X-Auth-User, X-Auth-Groups, X-Auth-Method) is removed: those fields are ours to set,
 *   and an origin must be able to trust X-Auth-User. Other X-Auth-* names are the viewer's and pass. The
 *   one exception is X-Forwarded-Proto from a trusted proxy, whose value is kept (it knows the viewer's
 *   real scheme).
 * - Names with '_' (or a run of '-') are dropped unless the listener forwards them, and even then never
 *   when they read as a field of ours: CGI/WSGI origins fold "X-Auth_User" into X-Auth-User (DESIGN §2).
 * - Credentials sekisho consumed (the caller's strip bits) do not reach the origin; the session cookie
 *   is cut out of Cookie fields, whose other pairs stay.
 * - Output functions return -1 rather than write a partial head.
 */
#include "proxy/forward.h"
#include "http/text.h"

#include "access/jwtauth.h"
#include "access/session.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------------- */
/* Small readers (the writers are http/text.h's). */

static inline bool ieq_str(struct sk_slice s, const char *str)
{
	size_t n = strlen(str);
	if (s.len != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (sk_ascii_lower((unsigned char)s.ptr[i]) != sk_ascii_lower((unsigned char)str[i]))
			return false;
	return true;
}



/* A value we compose (identity) must not smuggle a line break or other control byte into the head. */
static bool value_ok(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return false;
	}
	return true;
}

static struct sk_slice trim_ows(const char *p, size_t n)
{
	while (n && (*p == ' ' || *p == '\t')) {
		p++;
		n--;
	}
	while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
		n--;
	return (struct sk_slice){ .ptr = p, .len = n };
}

/* ---------------------------------------------------------------------------------------------- */
/* Client address. */

/* Writes the text of (family, addr) into out (64 bytes). */
static void addr_text(int family, const uint8_t *addr, char *out, size_t cap)
{
	if (family == AF_INET && cap >= 16) {
		sk_ip4_text(addr, out);
		return;
	}
	if (!inet_ntop(family, addr, out, (socklen_t)cap))
		out[0] = '\0';
}

/* A v4-mapped IPv6 address (::ffff:a.b.c.d) becomes IPv4 so ACLs and logs see one form. */
static int unmap(int family, uint8_t addr[16])
{
	if (family == AF_INET6 && sk_ip6_is_v4mapped(addr)) {
		memmove(addr, addr + 12, 4);
		memset(addr + 4, 0, 12);
		return AF_INET;
	}
	return family;
}

static bool port_ok(const char *p, size_t n)
{
	if (n == 0 || n > 5)
		return false;
	for (size_t i = 0; i < n; i++)
		if (p[i] < '0' || p[i] > '9')
			return false;
	return true;
}

/*
 * Parses one X-Forwarded-For entry (already trimmed): "1.2.3.4", "1.2.3.4:port", "2001:db8::1",
 * "[2001:db8::1]", "[2001:db8::1]:port". Anything else ("unknown", obfuscated identifiers, zone ids)
 * is invalid. Returns the family (v4-mapped converted to AF_INET) or -1.
 */
static int parse_xff_entry(struct sk_slice e, uint8_t addr[16])
{
	char tmp[INET6_ADDRSTRLEN];
	const char *a = e.ptr;
	size_t alen = e.len;

	if (alen && a[0] == '[') {
		const char *rb = memchr(a, ']', alen);
		if (!rb)
			return -1;
		size_t rest = alen - (size_t)(rb - a) - 1;
		if (rest && (rb[1] != ':' || !port_ok(rb + 2, rest - 1)))
			return -1;
		a++;
		alen = (size_t)(rb - a);
		if (alen == 0 || alen >= sizeof(tmp))
			return -1;
		memcpy(tmp, a, alen);
		tmp[alen] = '\0';
		if (inet_pton(AF_INET6, tmp, addr) != 1)
			return -1;
		return unmap(AF_INET6, addr);
	}

	const char *colon = memchr(a, ':', alen);
	if (colon && !memchr(colon + 1, ':', alen - (size_t)(colon - a) - 1)) {
		/* Exactly one colon: IPv4 with a port. */
		if (!port_ok(colon + 1, alen - (size_t)(colon - a) - 1))
			return -1;
		alen = (size_t)(colon - a);
		colon = NULL;
	}
	if (alen == 0 || alen >= sizeof(tmp))
		return -1;
	memcpy(tmp, a, alen);
	tmp[alen] = '\0';
	if (!colon) {
		if (inet_pton(AF_INET, tmp, addr) != 1)
			return -1;
		memset(addr + 4, 0, 12);
		return AF_INET;
	}
	if (inet_pton(AF_INET6, tmp, addr) != 1)
		return -1;
	return unmap(AF_INET6, addr);
}

/*
 * Fills out from the peer and, when the peer is a trusted proxy, from the X-Forwarded-For list (see
 * forward.h). One right-to-left pass over the fields does both jobs: the walk for the client address
 * and the outgoing list, which is assembled backwards from the end of out->xff so that when it would
 * overflow the leftmost (oldest, least trustworthy) entries are the ones dropped, at an entry boundary.
 * Entries are copied trimmed and joined with ", "; empty list elements are skipped (RFC 9110 §5.6.1).
 */
void sk_forward_client(const struct sockaddr *peer, const struct sk_http_request *req,
		       const struct sk_ipset *trusted, struct sk_client *out)
{
	uint8_t paddr[16] = { 0 };
	int pfam = sk_sa_to_bytes(peer, paddr);
	char ptext[64];

	if (pfam == AF_INET || pfam == AF_INET6) {
		addr_text(pfam, paddr, ptext, sizeof(ptext));
	} else {
		pfam = 0;
		memcpy(ptext, "unknown", sizeof("unknown"));
	}

	out->family = pfam;
	memcpy(out->addr, paddr, 16);
	memcpy(out->ip, ptext, sizeof(ptext));
	out->peer_trusted = pfam && trusted && sk_ipset_contains_sa(trusted, peer);

	/* The list is built right-aligned in xff; pos is where it starts. */
	size_t cap = sizeof(out->xff) - 1;
	size_t plen = strlen(ptext);
	size_t pos = cap - plen;
	out->xff[cap] = '\0';
	memcpy(out->xff + pos, ptext, plen);

	if (out->peer_trusted && req) {
		bool walking = true;
		bool full = false;
		int cfam = pfam;
		uint8_t caddr[16];
		memcpy(caddr, paddr, 16);

		for (unsigned i = req->n_headers; i-- > 0 && (walking || !full);) {
			const struct sk_http_field *h = &req->headers[i];
			if (!SK_SLICE_IEQ(h->name, "x-forwarded-for"))
				continue;
			const char *v = h->value.ptr;
			size_t end = h->value.len;
			for (;;) {
				size_t start = end;
				while (start > 0 && v[start - 1] != ',')
					start--;
				struct sk_slice e = trim_ows(v + start, end - start);
				if (e.len) {
					if (!full) {
						if (e.len + 2 <= pos) {
							pos -= 2;
							memcpy(out->xff + pos, ", ", 2);
							pos -= e.len;
							memcpy(out->xff + pos, e.ptr, e.len);
						} else {
							full = true;
						}
					}
					if (walking) {
						uint8_t a[16];
						int fam = parse_xff_entry(e, a);
						if (fam < 0) {
							walking = false;
						} else {
							cfam = fam;
							memcpy(caddr, a, 16);
							if (!sk_ipset_contains(trusted, fam, a))
								walking = false;
						}
					}
				}
				if (start == 0 || (!walking && full))
					break;
				end = start - 1;
			}
		}
		if (cfam != pfam || memcmp(caddr, paddr, 16) != 0) {
			out->family = cfam;
			memcpy(out->addr, caddr, 16);
			addr_text(cfam, caddr, out->ip, sizeof(out->ip));
		}
	}
	if (pos)
		memmove(out->xff, out->xff + pos, cap - pos + 1);
}

/* ---------------------------------------------------------------------------------------------- */
/* Request head toward the origin. */

enum req_class {
	RQ_PASS = 0, /* subject to forward_headers and the hop-by-hop check */
	RQ_DROP,     /* ours to set, or framing: never copied */
	RQ_XFP,      /* X-Forwarded-Proto: dropped, value kept aside */
	RQ_UPGRADE,  /* hop-by-hop, value kept aside for tunnels */
	RQ_AUTHORIZATION, /* credentials: passed unless sekisho consumed them (strip bits) */
	RQ_API_KEY,
	RQ_OTP,
	RQ_COOKIE,
};

/* Sorts a viewer field by name, looking at the length first so most names cost one comparison. */
static enum req_class classify_request(struct sk_slice n)
{
	switch (n.len) {
	case 4:
		return SK_SLICE_IEQ(n, "host") ? RQ_DROP : RQ_PASS;
	case 5:
		return SK_SLICE_IEQ(n, "x-otp") ? RQ_OTP : RQ_PASS;
	case 6:
		if (SK_SLICE_IEQ(n, "cookie"))
			return RQ_COOKIE;
		return SK_SLICE_IEQ(n, "expect") ? RQ_DROP : RQ_PASS;
	case 7:
		return SK_SLICE_IEQ(n, "upgrade") ? RQ_UPGRADE : RQ_PASS;
	case 9: /* RFC 7239 Forwarded: spoofable like X-Forwarded-For, and we do not vouch for it */
		if (SK_SLICE_IEQ(n, "x-api-key"))
			return RQ_API_KEY;
		return SK_SLICE_IEQ(n, "forwarded") ? RQ_DROP : RQ_PASS;
	case 11:
		return SK_SLICE_IEQ(n, "x-auth-user") ? RQ_DROP : RQ_PASS;
	/* 13 and 14 bytes: also the lengths of X-Forwarded-By and the like, so no early RQ_PASS */
	case 13:
		if (SK_SLICE_IEQ(n, "authorization"))
			return RQ_AUTHORIZATION;
		if (SK_SLICE_IEQ(n, "x-auth-groups") || SK_SLICE_IEQ(n, "x-auth-method"))
			return RQ_DROP;
		break;
	case 14:
		if (SK_SLICE_IEQ(n, "content-length"))
			return RQ_DROP;
		break;
	case 17:
		if (SK_SLICE_IEQ(n, "transfer-encoding"))
			return RQ_DROP;
		if (SK_SLICE_IEQ(n, "x-forwarded-proto"))
			return RQ_XFP;
		break;
	}
	if (n.len >= 12 && sk_slice_ieq_n((struct sk_slice){ .ptr = n.ptr, .len = 12 }, "x-forwarded-", 12))
		return RQ_DROP;
	return RQ_PASS;
}

static bool has_prefix(struct sk_slice s, const char *lit, size_t n)
{
	return s.len >= n && sk_slice_ieq_n((struct sk_slice){ .ptr = s.ptr, .len = n }, lit, n);
}

/*
 * A name a CGI/WSGI origin may fold into another one: it holds '_' (read as '-') or a run of '-'
 * (merged). memchr and memmem keep the common case, a plain name, to two fast scans.
 */
static bool folds(struct sk_slice n)
{
	return memchr(n.ptr, '_', n.len) || memmem(n.ptr, n.len, "--", 2);
}

/*
 * True when a folding name may cross: with '_' only when the listener forwards such names, and never
 * when, lower-cased with '_' read as '-' and runs of '-' merged, it reads as a field sekisho sets, strips
 * or consumes (identity, X-Forwarded-*, Forwarded, Host, framing, hop-by-hop, credentials).
 * Fields of ours are at most 17 bytes long, or recognised by a prefix, so 32 bytes of the folded
 * name are enough to judge.
 */
static bool fold_may_cross(struct sk_slice n, bool underscores)
{
	if (!underscores && memchr(n.ptr, '_', n.len))
		return false;
	char buf[32];
	size_t k = 0;
	bool whole = true;
	for (size_t i = 0; i < n.len; i++) {
		char c = (char)sk_ascii_lower((unsigned char)n.ptr[i]);
		if (c == '_')
			c = '-';
		if (c == '-' && k && buf[k - 1] == '-')
			continue;
		if (k == sizeof(buf)) {
			whole = false;
			break;
		}
		buf[k++] = c;
	}
	struct sk_slice f = { .ptr = buf, .len = k };
	if (has_prefix(f, "x-forwarded-", 12) || has_prefix(f, "x-auth-", 7) || has_prefix(f, "proxy-", 6))
		return false;
	if (!whole)
		return true;
	if (classify_request(f) != RQ_PASS)
		return false;
	return !(SK_SLICE_IEQ(f, "keep-alive") || SK_SLICE_IEQ(f, "connection") || SK_SLICE_IEQ(f, "te") || SK_SLICE_IEQ(f, "trailer"));
}

/*
 * Writes a Cookie field without its session-cookie pairs (a pair whose name, spaces trimmed, is
 * SK_SESSION_COOKIE), the others joined with "; "; nothing when no pair is left. False when it does not
 * fit. A field that does not mention the cookie is copied as it came.
 */
static bool put_cookie(struct sk_wbuf *w, struct sk_slice name, struct sk_slice v)
{
	static const char sess[] = SK_SESSION_COOKIE;
	if (!memmem(v.ptr, v.len, sess, sizeof(sess) - 1))
		return sk_wbuf_slice_field(w, name, v);
	const char *p = v.ptr, *end = v.ptr + v.len;
	bool any = false;
	while (p < end) {
		const char *pair = p;
		const char *semi = memchr(p, ';', (size_t)(end - p));
		p = semi ? semi + 1 : end;
		struct sk_slice pv = trim_ows(pair, (size_t)((semi ? semi : end) - pair));
		if (!pv.len)
			continue;
		const char *eq = memchr(pv.ptr, '=', pv.len);
		struct sk_slice pn = trim_ows(pv.ptr, eq ? (size_t)(eq - pv.ptr) : pv.len);
		if (pn.len == sizeof(sess) - 1 && memcmp(pn.ptr, sess, pn.len) == 0)
			continue;
		bool ok = any ? SK_WBUF_LIT(w, "; ") : (sk_wbuf_put(w, name.ptr, name.len) && SK_WBUF_LIT(w, ": "));
		if (!ok || !sk_wbuf_put(w, pv.ptr, pv.len))
			return false;
		any = true;
	}
	return !any || SK_WBUF_LIT(w, "\r\n");
}

static bool in_list(const struct sk_strlist *l, struct sk_slice name)
{
	for (size_t i = 0; i < l->n; i++)
		if (ieq_str(name, l->items[i]))
			return true;
	return false;
}

/* Writes an identity field when set; false when it does not fit or the value is unsafe. */
static bool put_identity(struct sk_wbuf *w, const char *name, size_t nlen, const char *value)
{
	if (!value)
		return true;
	size_t vlen = strlen(value);
	return value_ok(value, vlen) && sk_wbuf_field(w, name, nlen, value, vlen);
}

/*
 * See forward.h. Identity values containing control bytes make the call fail (-1) rather than be sent:
 * an origin trusts X-Auth-User, so it must never carry a second, forged header line.
 * The viewer's X-Forwarded-Proto kept from a trusted peer is its first list element (the scheme the
 * first proxy saw). When tunnelling, "Upgrade: websocket" is written whatever other tokens the viewer
 * offered (the caller only tunnels a WebSocket request); with upgrade set but no Upgrade field from the
 * viewer, neither Upgrade nor Connection is written.
 */
ssize_t sk_forward_request_head(const struct sk_fwd_request *f, char *out, size_t cap)
{
	const struct sk_http_request *req = f->req;
	const struct sk_behavior *beh = f->beh;
	struct sk_wbuf w = { .p = out, .end = out + cap };
	struct sk_slice xfp = { 0 };
	bool have_xfp = false, have_upgrade = false;

	/* Request line. */
	struct sk_slice path = f->path.len ? f->path : SK_SLICE("/");
	size_t need = req->method.len + 1 + path.len + f->query.len + sizeof(" HTTP/1.1\r\n") - 1;
	if (need > cap)
		return -1;
	memcpy(w.p, req->method.ptr, req->method.len);
	w.p += req->method.len;
	*w.p++ = ' ';
	memcpy(w.p, path.ptr, path.len);
	w.p += path.len;
	if (f->query.len) {
		memcpy(w.p, f->query.ptr, f->query.len);
		w.p += f->query.len;
	}
	memcpy(w.p, " HTTP/1.1\r\n", sizeof(" HTTP/1.1\r\n") - 1);
	w.p += sizeof(" HTTP/1.1\r\n") - 1;

	/* Host. */
	if (beh->forward_host || !f->origin || !f->origin->host) {
		if (!sk_wbuf_field(&w, "Host", 4, f->viewer_host.ptr, f->viewer_host.len))
			return -1;
	} else {
		if (!sk_wbuf_field(&w, "Host", 4, f->origin->host, strlen(f->origin->host)))
			return -1;
	}

	/* The viewer's fields. */
	unsigned conn0 = sk_http_first_connection(req->headers, req->n_headers);
	const struct sk_http_field *conn_h = req->headers + conn0;
	unsigned conn_n = req->n_headers - conn0;
	for (unsigned i = 0; i < req->n_headers; i++) {
		const struct sk_http_field *h = &req->headers[i];
		if (folds(h->name) && !fold_may_cross(h->name, f->underscores))
			continue;
		enum req_class cls = classify_request(h->name);
		switch (cls) {
		case RQ_DROP:
			continue;
		case RQ_XFP:
			if (!have_xfp) {
				const char *comma = memchr(h->value.ptr, ',', h->value.len);
				size_t n = comma ? (size_t)(comma - h->value.ptr) : h->value.len;
				xfp = trim_ows(h->value.ptr, n);
				have_xfp = xfp.len > 0;
			}
			continue;
		case RQ_UPGRADE:
			have_upgrade = true;
			continue;
		case RQ_AUTHORIZATION:
			if (f->strip & SK_CONSUMED_AUTHORIZATION)
				continue;
			break;
		case RQ_API_KEY:
			if (f->strip & SK_CONSUMED_API_KEY)
				continue;
			break;
		case RQ_OTP:
			if (f->strip & SK_CONSUMED_OTP)
				continue;
			break;
		case RQ_COOKIE:
			break;
		case RQ_PASS:
			/* Headers an issuer fills from claims are ours, like the identity headers. */
			if (f->claim_names && sk_jwt_env_claim_header(f->claim_names, h->name))
				continue;
			break;
		}
		if (beh->forward_mode == SK_FWD_NONE)
			continue;
		if (beh->forward_mode == SK_FWD_LIST && !in_list(&beh->forward_headers, h->name))
			continue;
		if (sk_http_is_hop_by_hop(h->name, conn_h, conn_n))
			continue;
		if (cls == RQ_COOKIE && (f->strip & SK_CONSUMED_SESSION)) {
			if (!put_cookie(&w, h->name, h->value))
				return -1;
			continue;
		}
		if (!sk_wbuf_slice_field(&w, h->name, h->value))
			return -1;
	}

	/* The origin's own fields (configuration, e.g. an API token). */
	if (f->origin) {
		for (size_t i = 0; i < f->origin->n_headers; i++) {
			const struct sk_kv *kv = &f->origin->headers[i];
			if (!sk_wbuf_field(&w, kv->name, strlen(kv->name), kv->value, strlen(kv->value)))
				return -1;
		}
	}

	/* X-Forwarded-*. */
	if (f->client) {
		if (!sk_wbuf_field(&w, "X-Forwarded-For", 15, f->client->xff, strlen(f->client->xff)))
			return -1;
	}
	if (have_xfp && f->client && f->client->peer_trusted) {
		if (!sk_wbuf_slice_field(&w, SK_SLICE("X-Forwarded-Proto"), xfp))
			return -1;
	} else if (f->tls) {
		if (!SK_WBUF_LIT(&w, "X-Forwarded-Proto: https\r\n"))
			return -1;
	} else {
		if (!SK_WBUF_LIT(&w, "X-Forwarded-Proto: http\r\n"))
			return -1;
	}
	if (!sk_wbuf_slice_field(&w, SK_SLICE("X-Forwarded-Host"), f->viewer_host))
		return -1;

	/* Identity. */
	if (!put_identity(&w, "X-Auth-User", 11, f->auth_user) ||
	    !put_identity(&w, "X-Auth-Groups", 13, f->auth_groups) ||
	    !put_identity(&w, "X-Auth-Method", 13, f->auth_method))
		return -1;
	/* Claims the issuer vouches for (jwtauth.c wrote only clean lines of configured names). */
	if (f->claim_headers.len && !sk_wbuf_put(&w, f->claim_headers.ptr, f->claim_headers.len))
		return -1;

	/* Framing. */
	if (f->body == SK_BODY_CHUNKED) {
		if (!SK_WBUF_LIT(&w, "Transfer-Encoding: chunked\r\n"))
			return -1;
	} else if (f->body == SK_BODY_LENGTH) {
		if (!SK_WBUF_LIT(&w, "Content-Length: ") || !sk_wbuf_u64(&w, f->content_length) ||
		    !SK_WBUF_LIT(&w, "\r\n"))
			return -1;
	}

	/* Tunnel: the one protocol we carry is WebSocket, so that is the one token the origin may pick. */
	if (f->upgrade && have_upgrade) {
		if (!SK_WBUF_LIT(&w, "Upgrade: websocket\r\nConnection: upgrade\r\n"))
			return -1;
	}

	if (!SK_WBUF_LIT(&w, "\r\n"))
		return -1;
	return w.p - out;
}
