/*
 * egress.c — an egress listener's requests (DESIGN §5a): the forward proxy on the exchange.
 *
 * sk_egress_begin takes the place of routing: it reads the target (CONNECT's authority-form, or an
 * absolute-form http:// URL, through src/egress/names.c), checks the Host field against it, and starts
 * the entry's access checks with Proxy-Authorization standing in for Authorization. Once they allow the
 * request, sk_egress_continue applies the entry's rules in DESIGN §5a's order (src/egress/decide.c): the
 * allow-list before any lookup, a DNS lookup on the worker's loop (src/egress/resolve.c; the exchange
 * waits in SK_EX_EGRESS and is woken through its front), every resolved address through the guard, then
 * the HTTP/1.1 client toward the checked addresses in order (h1_client.c; a pool per destination). A
 * CONNECT answers 200 once connected and becomes a tunnel with the entry's idle timeout; an absolute-form
 * request is proxied with the reverse proxy's header policy (hop-by-hop and Proxy-* fields removed).
 * Invariants: a name not on the list is never looked up; the connection goes to an address the guard
 * judged, never to a second lookup's; the Authorization field the client meant for the target is
 * forwarded untouched, the proxy's credentials never.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "net/banlist.h"
#include "proxy/exchange.h"
#include "proxy/forward.h"

/* This worker's resolvers: one per egress entry of a snapshot (generation, entry). */
struct egress_resolver {
	uint64_t generation;
	size_t entry;
	struct sk_egress_resolver *r;
};

struct sk_egress_worker {
	struct egress_resolver *items;
	size_t n;
};

static const struct sk_egress_entry_rt *entry_of(const struct sk_exchange *ex)
{
	return &ex->rt->egress->entries[ex->listener - SK_EGRESS_LISTENER];
}

/* The resolver of ex's entry on this worker, made on first use. Resolvers of older snapshots are freed
 * once nothing waits on them. */
static struct sk_egress_resolver *resolver_of(struct sk_exchange *ex)
{
	struct sk_worker *w = ex->w;
	if (!w->egress)
		w->egress = sk_calloc(1, sizeof(*w->egress));
	struct sk_egress_worker *ew = w->egress;
	size_t idx = ex->listener - SK_EGRESS_LISTENER;
	for (size_t i = 0; i < ew->n; i++)
		if (ew->items[i].generation == ex->rt->generation && ew->items[i].entry == idx)
			return ew->items[i].r;
	for (size_t i = 0; i < ew->n;) {
		if (ew->items[i].generation != w->rt->generation && sk_egress_resolver_idle(ew->items[i].r)) {
			sk_egress_resolver_free(ew->items[i].r);
			ew->items[i] = ew->items[--ew->n];
		} else {
			i++;
		}
	}
	const char *why = "?";
	struct sk_egress_resolver *r = sk_egress_resolver_new(w->loop, entry_of(ex)->cfg, &why);
	if (!r) {
		sk_error("egress '%s': cannot start a DNS resolver: %s", entry_of(ex)->cfg->name, why);
		return NULL;
	}
	ew->items = sk_realloc(ew->items, (ew->n + 1) * sizeof(*ew->items));
	ew->items[ew->n++] = (struct egress_resolver){ .generation = ex->rt->generation, .entry = idx, .r = r };
	return r;
}

void sk_egress_worker_free(struct sk_worker *w)
{
	if (!w->egress)
		return;
	for (size_t i = 0; i < w->egress->n; i++)
		sk_egress_resolver_free(w->egress->items[i].r);
	free(w->egress->items);
	free(w->egress);
	w->egress = NULL;
}

void sk_egress_put(struct sk_exchange *ex)
{
	if (ex->elookup) {
		sk_egress_lookup_cancel(ex->elookup);
		ex->elookup = NULL;
	}
	if (ex->client.server) {
		sk_upstream_egress_unref(ex->client.server);
		ex->client.server = NULL;
	}
}

enum sk_reason sk_egress_deny_reason(enum sk_reason reason)
{
	if (reason == SK_R_AUTH_REQUIRED)
		return SK_R_PROXY_AUTH_REQUIRED;
	if (reason == SK_R_BAD_CREDENTIALS)
		return SK_R_PROXY_BAD_CREDENTIALS;
	return reason;
}

static void set_address_text(struct sk_exchange *ex, const struct sockaddr_storage *ss)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
		snprintf(ex->eaddr_text, sizeof(ex->eaddr_text), "%s:%u", ip, ntohs(in->sin_port));
	} else {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
		inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
		snprintf(ex->eaddr_text, sizeof(ex->eaddr_text), "[%s]:%u", ip, ntohs(in6->sin6_port));
	}
}

/*
 * The access checks read credentials from Authorization; on an egress listener they come in
 * Proxy-Authorization (RFC 9110 §11.7.1). For the checks, the two fields trade names (names are slices:
 * the request's bytes are not touched); sk_egress_continue trades them back before anything is forwarded.
 */
static const char AUTHZ[] = "authorization";
static const char PROXY_AUTHZ[] = "proxy-authorization";

static void swap_auth_names(struct sk_exchange *ex, bool for_checks)
{
	struct sk_http_request *h = &ex->hreq;
	if (for_checks) {
		ex->auth_idx[0] = ex->auth_idx[1] = -1;
		for (unsigned i = 0; i < h->n_headers; i++) {
			struct sk_http_field *f = &ex->headers[i];
			if (sk_slice_ieq(f->name, PROXY_AUTHZ) && ex->auth_idx[0] < 0) {
				ex->auth_idx[0] = (int16_t)i;
				f->name = SK_SLICE(AUTHZ);
			} else if (sk_slice_ieq(f->name, AUTHZ) && ex->auth_idx[1] < 0) {
				ex->auth_idx[1] = (int16_t)i;
				f->name = SK_SLICE(PROXY_AUTHZ);
			}
		}
		return;
	}
	if (ex->auth_idx[0] >= 0)
		ex->headers[ex->auth_idx[0]].name = SK_SLICE(PROXY_AUTHZ);
	if (ex->auth_idx[1] >= 0)
		ex->headers[ex->auth_idx[1]].name = SK_SLICE(AUTHZ);
	ex->auth_idx[0] = ex->auth_idx[1] = -1;
}

static void bad_target(struct sk_exchange *ex, size_t idx, enum sk_egress_target_err e)
{
	sk_info("client %s: egress '%s': %s, answered 400", ex->client_addr.ip, ex->rt->cfg->egress[idx].name,
		sk_egress_target_err_text(e));
	sk_exchange_refuse_reason(ex, SK_R_BAD_REQUEST, true);
}

void sk_egress_begin(struct sk_exchange *ex)
{
	struct sk_http_request *h = &ex->hreq;
	size_t idx = ex->listener - SK_EGRESS_LISTENER;
	ex->egress = true;
	ex->eaddr_text[0] = '\0';
	ex->auth_idx[0] = ex->auth_idx[1] = -1;
	ex->brt = &ex->rt->egress_behaviors[idx];
	ex->egress_connect = sk_slice_eq(h->method, "CONNECT");

	struct sk_egress_target *t = &ex->etarget;
	size_t path_off = 0;
	enum sk_egress_target_err e = ex->egress_connect
					      ? sk_egress_parse_connect(h->target.ptr, h->target.len, t)
					      : sk_egress_parse_url(h->target.ptr, h->target.len, t, &path_off);
	/* For the log: the target as read, and the path asked for (absolute form). */
	ex->host_len = (uint8_t)SK_MIN(t->host_len, sizeof(ex->host));
	memcpy(ex->host, t->host, ex->host_len);
	if (!ex->egress_connect && e == SK_EGRESS_TARGET_OK) {
		ex->path_len = (uint32_t)SK_MIN(h->target.len - path_off, sizeof(ex->path));
		memcpy(ex->path, h->target.ptr + path_off, ex->path_len);
	}
	if (e != SK_EGRESS_TARGET_OK) {
		t->port = 0; /* nothing to log as a target */
		return bad_target(ex, idx, e);
	}
	/* The Host field names the same host and port as the target, or the request is refused. */
	if (h->host.len && !sk_egress_host_matches(t, h->host.ptr, h->host.len, ex->egress_connect ? t->port : 80))
		return bad_target(ex, idx, SK_EGRESS_TARGET_HOST_MISMATCH);
	/* No body on CONNECT (the bytes after it are the tunnel's); GET and HEAD as the reverse proxy. */
	bool has_body = !(h->body == SK_BODY_NONE || (h->body == SK_BODY_LENGTH && h->content_length == 0));
	if (has_body && (ex->egress_connect || ex->head_method || sk_slice_eq(h->method, "GET")))
		return sk_exchange_refuse_reason(ex, SK_R_BAD_REQUEST, true);
	if (ex->client_addr.peer_trusted &&
	    sk_bans_check_addr(ex->w->id, &ex->w->bans, ex->client_addr.family, ex->client_addr.addr))
		return sk_exchange_refuse_reason(ex, SK_R_BANNED, true);
	if (!ex->brt->pipeline) {
		ex->state = SK_EX_EGRESS; /* sk_egress_run continues at once */
		return;
	}
	swap_auth_names(ex, true);
	sk_exchange_start_access(ex);
}

/* The origin-form head toward the target of an absolute-form request, with the header policy. */
static enum sk_ex_step start_http(struct sk_exchange *ex)
{
	struct sk_http_request *h = &ex->hreq;
	const struct sk_egress_target *t = &ex->etarget;
	struct sk_slice path = SK_SLICE("/"), query = { .ptr = "", .len = 0 };
	if (ex->path_len) {
		const char *p = ex->path, *q = memchr(p, '?', ex->path_len);
		if (p[0] == '/')
			path = (struct sk_slice){ .ptr = p, .len = q ? (size_t)(q - p) : ex->path_len };
		if (q)
			query = (struct sk_slice){ .ptr = q, .len = ex->path_len - (size_t)(q - p) };
	}
	char host[SK_EGRESS_HOST_MAX + 16];
	int hl = snprintf(host, sizeof(host), t->kind == SK_EGRESS_HOST_V6 ? "[%s]" : "%s", t->host);
	if (t->port != 80)
		hl += snprintf(host + hl, sizeof(host) - (size_t)hl, ":%u", t->port);
	ex->hbuf = sk_buf_get(ex->w);
	struct sk_fwd_request f = {
		.req = h,
		.path = path,
		.query = query,
		.viewer_host = { .ptr = host, .len = (size_t)hl },
		.beh = ex->brt->cfg,
		.origin = NULL,
		.client = &ex->client_addr,
		.body = h->body,
		.content_length = h->content_length,
	};
	ssize_t n = sk_forward_request_head(&f, ex->hbuf->data, sizeof(ex->hbuf->data));
	if (n < 0) {
		sk_exchange_refuse_reason(ex, SK_R_HEADERS_TOO_LARGE, true);
		return SK_EXS_RESPOND;
	}
	ex->client.head_out_len = (uint32_t)n;
	ex->state = SK_EX_ORIGIN;
	return sk_h1c_start(ex, h->body == SK_BODY_LENGTH && h->content_length == 0 ? SK_BODY_NONE : h->body);
}

/* The addresses are checked: connect to them in order. */
static enum sk_ex_step start_connect(struct sk_exchange *ex)
{
	set_address_text(ex, &ex->eaddrs[0]); /* h1_client.c names the one it connects to */
	ex->eaddr_next = 0;
	if (!ex->egress_connect)
		return start_http(ex);
	ex->state = SK_EX_ORIGIN;
	return sk_h1c_start(ex, SK_BODY_NONE);
}

static void on_resolved(void *arg, enum sk_egress_dns status, const struct sockaddr_storage *addrs, size_t n)
{
	struct sk_exchange *ex = arg;
	ex->elookup = NULL;
	ex->dns_done = true;
	ex->dns_status = (uint8_t)status;
	ex->n_eaddrs = (uint8_t)SK_MIN(n, (size_t)SK_EGRESS_MAX_ADDRS);
	memcpy(ex->eaddrs, addrs, ex->n_eaddrs * sizeof(*addrs));
	ex->front->wake(ex);
}

enum sk_ex_step sk_egress_continue(struct sk_exchange *ex)
{
	swap_auth_names(ex, false);
	ex->auth_user = sk_access_identity(&ex->areq, ex->auth_groups, sizeof(ex->auth_groups));
	const struct sk_egress_entry_rt *e = entry_of(ex);
	switch (sk_egress_decide_target(e, &ex->etarget, &ex->eaddrs[0])) {
	case SK_EGRESS_DENIED:
		sk_exchange_refuse_reason(ex, SK_R_EGRESS_DENIED, false);
		return SK_EXS_RESPOND;
	case SK_EGRESS_ADDRESS_DENIED:
		set_address_text(ex, &ex->eaddrs[0]);
		sk_exchange_refuse_reason(ex, SK_R_EGRESS_ADDRESS_DENIED, false);
		return SK_EXS_RESPOND;
	case SK_EGRESS_CONNECT:
		ex->n_eaddrs = 1;
		return start_connect(ex);
	case SK_EGRESS_RESOLVE:
		break;
	}
	struct sk_egress_resolver *r = resolver_of(ex);
	if (!r) {
		sk_exchange_refuse_reason(ex, SK_R_DNS_FAILED, false);
		return SK_EXS_RESPOND;
	}
	ex->state = SK_EX_EGRESS;
	ex->elookup = sk_egress_resolve(r, ex->etarget.host, ex->etarget.port, on_resolved, ex);
	/* The resolver answers within dns.timeout; this deadline only backs it up. */
	sk_timer_arm(ex->w->loop, ex->timer, e->cfg->dns_timeout_ms + 1000);
	return SK_EXS_WAIT;
}

enum sk_ex_step sk_egress_run(struct sk_exchange *ex)
{
	if (!ex->elookup && !ex->dns_done) /* no access checks: straight to the rules */
		return sk_egress_continue(ex);
	if (!ex->dns_done)
		return SK_EXS_WAIT;
	switch ((enum sk_egress_dns)ex->dns_status) {
	case SK_EGRESS_DNS_FAILED:
		sk_exchange_refuse_reason(ex, SK_R_DNS_FAILED, false);
		return SK_EXS_RESPOND;
	case SK_EGRESS_DNS_TIMEOUT:
		sk_exchange_refuse_reason(ex, SK_R_DNS_TIMEOUT, false);
		return SK_EXS_RESPOND;
	case SK_EGRESS_DNS_OK:
		break;
	}
	size_t refused = 0;
	if (sk_egress_decide_addrs(entry_of(ex), ex->eaddrs, ex->n_eaddrs, &refused) != SK_EGRESS_CONNECT) {
		if (ex->n_eaddrs)
			set_address_text(ex, &ex->eaddrs[refused]);
		sk_exchange_refuse_reason(ex, SK_R_EGRESS_ADDRESS_DENIED, false);
		return SK_EXS_RESPOND;
	}
	return start_connect(ex);
}

enum sk_ex_step sk_egress_timeout(struct sk_exchange *ex)
{
	if (ex->elookup) {
		sk_egress_lookup_cancel(ex->elookup);
		ex->elookup = NULL;
	}
	sk_exchange_refuse_reason(ex, SK_R_DNS_TIMEOUT, false);
	return SK_EXS_RESPOND;
}
