/*
 * exchange.c — one request and its response, whatever protocol carries them (exchange.h): routing, the
 * access pipeline, the choice of handler, and the log line.
 *
 * The handlers end in a described response (ex->resp): an origin's (h1_client.c), a static file's
 * (static.c), sekisho's own replies (errors and redirects here, the login pages in portal.c, the admin
 * endpoints in admin.c). The front that carries the exchange writes it with its own writer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "access/verify.h"
#include "core/log.h"
#include "net/banlist.h"
#include "obs/metrics.h"
#include "proxy/admin.h"
#include "proxy/exchange.h"
#include "proxy/forward.h"
#include "proxy/portal.h"
#include "proxy/reply.h"
#include "proxy/static.h"

/* ---- lifetime ---- */

struct sk_exchange *sk_exchange_get(struct sk_worker *w)
{
	struct sk_exchange *ex = sk_freelist_get(&w->exchanges);
	if (!ex)
		ex = sk_malloc(sizeof(*ex));
	/* Clear the fixed part only: the header arrays and path buffer are written before they are read. */
	memset(ex, 0, offsetof(struct sk_exchange, front_state));
	ex->client_addr.ip[0] = '\0';
	ex->path_len = 0; /* past the cleared part, and logged even for a head refused before it was read */
	ex->file_fd = -1;
	ex->w = w;
	return ex;
}

struct sk_exchange *sk_exchange_open(struct sk_conn *c, const struct sk_front_ops *front, void *front_ctx,
				     struct sk_timer *timer)
{
	struct sk_worker *w = c->w;
	struct sk_exchange *ex = sk_exchange_get(w);
	ex->front = front;
	ex->front_ctx = front_ctx;
	ex->rt = c->rt;
	ex->timer = timer;
	ex->peer = &c->peer;
	ex->ssl = c->ep.ssl;
	ex->listener = c->listener;
	ex->secure = c->tls;
	ex->start_ms = sk_loop_now(w->loop);
	ex->start_wall_ms = sk_wall_ms();
	return ex;
}

void sk_exchange_put(struct sk_exchange *ex)
{
	struct sk_worker *w = ex->w;
	if (ex->timer)
		sk_timer_cancel(w->loop, ex->timer);
	sk_access_req_cancel(&ex->areq);
	explicit_bzero(ex->auth_groups, sizeof(ex->auth_groups));
	sk_h1c_release(ex, false);
	if (ex->egress)
		sk_egress_put(ex);
	if (ex->portal)
		sk_portal_free(ex->portal);
	free(ex->form);
	free(ex->admin_body);
	if (ex->hbuf)
		sk_buf_put(w, ex->hbuf);
	if (ex->file_fd >= 0)
		close(ex->file_fd);
	sk_freelist_put(&w->exchanges, ex);
}

static const struct sk_config *cfg_of(const struct sk_exchange *ex)
{
	return ex->rt->cfg;
}

static bool method_is(const struct sk_exchange *ex, const char *m)
{
	return sk_slice_eq(ex->hreq.method, m);
}

static void arm(struct sk_exchange *ex, uint64_t ms)
{
	sk_timer_arm(ex->w->loop, ex->timer, ms);
}

/* ---- the log ---- */

/* The viewer as the access log names it. A request refused before its head was parsed has no client yet:
 * it is the peer, since no trusted X-Forwarded-For could be read. Slow path only. */
static void fill_client(struct sk_exchange *ex)
{
	if (!ex->client_addr.ip[0])
		sk_forward_client((const struct sockaddr *)ex->peer, NULL, NULL, &ex->client_addr);
}

/* Logs and counts the request, once it has been answered or abandoned. Every refusal is logged, the
 * parser's included (no method then): only a connection that never got an answer to anything stays out. */
static void log_exchange(struct sk_exchange *ex)
{
	struct sk_worker *w = ex->w;
	if ((ex->method_len == 0 && ex->status == 0) || ex->listener == SK_ADMIN_LISTENER)
		return;
	fill_client(ex);
	uint64_t now = sk_loop_now(w->loop);
	sk_metrics_request(w->id, ex->reason, ex->bytes_in, ex->bytes_out);
	sk_metrics_add(w->id, ex->hreq.version == SK_HTTP_2 ? SK_M_REQ_HTTP2 : SK_M_REQ_HTTP1, 1);
	sk_metrics_http(w->id, ex->dist ? ex->rt->dist_mslot[ex->dist - cfg_of(ex)->distributions] : 0, ex->status,
			now - ex->start_ms, ex->reason != SK_R_NONE);
	if (w->access_log->fd < 0)
		return;
	char upstream[64] = "";
	char groups[512];
	char target[SK_EGRESS_HOST_MAX + 16] = "";
	if (ex->egress && ex->etarget.port)
		snprintf(target, sizeof(target), ex->etarget.kind == SK_EGRESS_HOST_V6 ? "[%s]:%u" : "%s:%u",
			 ex->etarget.host, ex->etarget.port);
	if (ex->client.server)
		snprintf(upstream, sizeof(upstream), "%s", ex->client.server->addr.text);
	const struct sk_behavior *beh = ex->brt ? ex->brt->cfg : NULL;
	struct sk_access_entry e = {
		.start_wall_ms = ex->start_wall_ms,
		.duration_ms = now - ex->start_ms,
		.client = ex->client_addr.ip[0] ? ex->client_addr.ip : NULL,
		.listener = sk_runtime_listener_name(ex->rt, ex->listener),
		.distribution = ex->dist ? ex->dist->name : NULL,
		.behavior = beh && ex->dist ? (int)(beh - ex->dist->behaviors) : -1,
		.method = { .ptr = ex->method, .len = ex->method_len },
		.host = { .ptr = ex->host, .len = ex->host_len },
		.path = { .ptr = ex->path, .len = ex->path_len },
		.status = ex->status,
		.bytes_in = ex->bytes_in,
		.bytes_out = ex->bytes_out,
		.upstream = ex->client.server ? upstream : NULL,
		.user = ex->areq.user || ex->areq.apikey || ex->areq.jwt
				? sk_access_identity(&ex->areq, groups, sizeof(groups))
				: NULL,
		.auth = ex->areq.method,
		.reason = ex->reason != SK_R_NONE ? sk_reason_label(ex->reason) : NULL,
		/* A head refused unread (HTTP/1.1) has no version; an HTTP/2 stream always has one. */
		.protocol = ex->method_len || ex->hreq.version == SK_HTTP_2 ? sk_http_version_name(ex->hreq.version) : NULL,
		.policy = sk_access_policy_label(ex->areq.policy),
		.policy_sid = ex->areq.policy ? ex->areq.policy_sid : NULL,
		.target = ex->egress && ex->etarget.port ? target : NULL,
		.address = ex->egress && ex->eaddr_text[0] ? ex->eaddr_text : NULL,
	};
	sk_accesslog_write(w->access_log, &e);
}

void sk_exchange_finish(struct sk_exchange *ex, bool all)
{
	sk_h1c_release(ex, all);
	log_exchange(ex);
}

/* ---- sekisho's own replies ---- */

static bool wants_json(const struct sk_exchange *ex)
{
	if (!ex->hreq.headers)
		return false;
	const struct sk_http_field *h = sk_http_find(ex->hreq.headers, ex->hreq.n_headers, "Accept");
	if (!h)
		return false;
	/* "application/json" anywhere, but not when text/html is preferred first. */
	const char *v = h->value.ptr;
	size_t n = h->value.len;
	const char *json = memmem(v, n, "application/json", 16);
	const char *html = memmem(v, n, "text/html", 9);
	return json && (!html || json < html);
}

/* A reply builder over the exchange's hbuf. */
static void reply_init(struct sk_exchange *ex, struct sk_reply *rep, int status)
{
	if (!ex->hbuf)
		ex->hbuf = sk_buf_get(ex->w);
	sk_reply_init(rep, &ex->resp, ex->reply_fields, SK_REPLY_FIELDS, ex->hbuf->data, sizeof(ex->hbuf->data),
		      status);
}

/* The reply in rep is complete: the front writes it. */
static void reply_done(struct sk_exchange *ex, struct sk_reply *rep)
{
	SK_ASSERT(!rep->overflow);
	ex->hbuf_used = (uint32_t)rep->used;
	ex->body_mem = rep->body;
	ex->resp_src = rep->body && ex->resp.length ? SK_SRC_MEM : SK_SRC_NONE;
	ex->status = ex->resp.status;
	ex->state = SK_EX_RESPOND;
}

void sk_exchange_reply_error(struct sk_exchange *ex, enum sk_reason reason)
{
	sk_h1c_release(ex, false);
	int status = sk_reason_status(reason);
	ex->reason = reason;
	char body[256];
	int blen;
	const char *ctype;
	const char *label = sk_reason_label(reason);
	if (wants_json(ex)) {
		ctype = "application/json";
		blen = snprintf(body, sizeof(body), "{\"error\": \"%s\"}\n", label);
	} else {
		const char *text = sk_http_status_text(status);
		ctype = "text/html; charset=utf-8";
		blen = snprintf(body, sizeof(body),
				"<!doctype html><html><head><title>%d %s</title></head><body><h1>%d %s</h1>"
				"<p>%s</p></body></html>\n",
				status, text, status, text, label);
	}
	struct sk_reply rep;
	reply_init(ex, &rep, status);
	sk_reply_field_str(&rep, "Content-Type", ctype);
	sk_reply_field_str(&rep, "Cache-Control", "no-store");
	/* A 401 on a behavior that takes Basic credentials carries the challenge (compiled with it). */
	if (status == 401 && ex->brt && ex->brt->challenge[0])
		sk_reply_field_str(&rep, "WWW-Authenticate", ex->brt->challenge);
	/* An egress listener asks for Proxy-Authorization (RFC 9110 §11.7.1). */
	if (status == 407 && ex->brt && ex->brt->challenge[0])
		sk_reply_field_str(&rep, "Proxy-Authenticate", ex->brt->challenge);
	sk_reply_body(&rep, body, (size_t)blen);
	reply_done(ex, &rep);
}

void sk_exchange_refuse(struct sk_exchange *ex, enum sk_reason reason)
{
	ex->close_after = true;
	ex->hreq.headers = NULL; /* nothing of the head can be trusted */
	if (reason == SK_R_BAD_REQUEST) {
		fill_client(ex);
		sk_info("client %s: malformed request head, answered 400", ex->client_addr.ip);
	}
	sk_exchange_reply_error(ex, reason);
}

/* The admin listener's answers come from admin.c; they are answered from the worker, never proxied. The
 * body is the exchange's (freed with it), because it can outgrow a buffer (/metrics). */
static void serve_admin(struct sk_exchange *ex)
{
	struct sk_admin_reply a;
	sk_admin_handle(ex->rt, &ex->hreq, (struct sk_slice){ .ptr = ex->path, .len = ex->path_len }, &a);
	ex->admin_body = a.body;
	struct sk_reply rep;
	reply_init(ex, &rep, a.status);
	sk_reply_field_str(&rep, "Content-Type", a.ctype);
	sk_reply_field_str(&rep, "Cache-Control", "no-store");
	if (a.allow)
		sk_reply_field_str(&rep, "Allow", a.allow);
	reply_done(ex, &rep);
	ex->resp.length = a.len;
	ex->body_mem = a.body;
	ex->resp_src = a.len ? SK_SRC_MEM : SK_SRC_NONE;
}

/* ---- request start ---- */

static void on_access_resume(struct sk_access_req *ar)
{
	struct sk_exchange *ex = SK_CONTAINER_OF(ar, struct sk_exchange, areq);
	ex->access_ready = true;
	ex->front->wake(ex);
}

/* What the access pipeline learns of the viewer's TLS client certificate. */
static void set_client_cert(struct sk_exchange *ex)
{
	_Static_assert((int)SK_TLS_PEER_NONE == (int)SK_CC_NONE && (int)SK_TLS_PEER_UNTRUSTED == (int)SK_CC_UNTRUSTED &&
			       (int)SK_TLS_PEER_VERIFIED == (int)SK_CC_VERIFIED,
		       "the TLS and access views of a client certificate agree");
	ex->areq.client_cert = (uint8_t)sk_tls_peer_identity(ex->ssl, ex->cert_ids, sizeof(ex->cert_ids));
	ex->areq.client_cert_ids = ex->cert_ids;
}

static bool is_portal(struct sk_slice npath)
{
	return npath.len >= strlen(SK_PORTAL_PREFIX) && memcmp(npath.ptr, SK_PORTAL_PREFIX, strlen(SK_PORTAL_PREFIX)) == 0;
}

/*
 * DESIGN §2: a body on GET or HEAD (Content-Length > 0, or any Transfer-Encoding) is refused, because
 * origins disagree on whether it is there (a desync); a behavior may take one on GET (allow_get_body),
 * never on HEAD. beh NULL: a request answered by sekisho itself (admin, portal).
 */
static bool body_refused(const struct sk_exchange *ex, const struct sk_behavior *beh)
{
	const struct sk_http_request *h = &ex->hreq;
	if (h->body == SK_BODY_NONE || (h->body == SK_BODY_LENGTH && h->content_length == 0))
		return false;
	if (ex->head_method)
		return true;
	return method_is(ex, "GET") && !(beh && beh->allow_get_body);
}

/* The viewer asks for a WebSocket: Connection names upgrade and an Upgrade field lists "websocket". */
static bool wants_websocket(const struct sk_http_request *h)
{
	if (!(h->flags & SK_HF_CONN_UPGRADE) || !(h->flags & SK_HF_HAS_UPGRADE))
		return false;
	const struct sk_http_field *u = sk_http_find(h->headers, h->n_headers, "upgrade");
	if (!u)
		return false;
	const char *p = u->value.ptr, *end = p + u->value.len;
	while (p < end) {
		while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
			p++;
		const char *t = p;
		while (p < end && *p != ',' && *p != ' ' && *p != '\t')
			p++;
		if (p - t == 9 && strncasecmp(t, "websocket", 9) == 0)
			return true;
		while (p < end && *p != ',')
			p++;
	}
	return false;
}

static void refuse(struct sk_exchange *ex, enum sk_reason reason, bool close_after)
{
	if (close_after)
		ex->close_after = true;
	sk_exchange_reply_error(ex, reason);
}

static void start_access(struct sk_exchange *ex)
{
	ex->access_ready = true;
	ex->state = SK_EX_ACCESS;
}

static void begin_portal(struct sk_exchange *ex);

/* The pipeline's inputs every request has. ex->areq is zero already (sk_exchange_get clears it; a stage's
 * workspace is cleared by the pipeline when the stage first runs). */
static void access_inputs(struct sk_exchange *ex)
{
	ex->areq.family = ex->client_addr.family;
	ex->areq.addr = ex->client_addr.addr;
	ex->areq.hreq = &ex->hreq;
	ex->areq.verifier = ex->w->verifier;
	ex->areq.resume = on_access_resume;
}

void sk_exchange_begin(struct sk_exchange *ex)
{
	struct sk_http_request *h = &ex->hreq;
	struct sk_worker *w = ex->w;
	ex->method_len = (uint8_t)SK_MIN(h->method.len, sizeof(ex->method));
	memcpy(ex->method, h->method.ptr, ex->method_len);
	ex->head_method = method_is(ex, "HEAD");

	sk_forward_client((const struct sockaddr *)ex->peer, h, ex->rt->trusted, &ex->client_addr);
	if (sk_listener_is_egress(ex->listener))
		return sk_egress_begin(ex); /* a forward proxy: no routing (DESIGN §5a) */

	struct sk_slice authority = { 0 }, path, query;
	if (sk_target_split(h->target, method_is(ex, "OPTIONS"), &authority, &path, &query) == -1)
		return refuse(ex, SK_R_BAD_REQUEST, true);
	struct sk_slice host = authority.len ? authority : h->host;
	ex->host_len = (uint8_t)SK_MIN(host.len, sizeof(ex->host));
	if (ex->host_len) /* an HTTP/1.0 request may have no Host: an empty slice, whose ptr is NULL */
		memcpy(ex->host, host.ptr, ex->host_len);

	size_t plen = 0;
	if (path.len == 1 && path.ptr[0] == '*') {
		ex->path[0] = '*';
		plen = 1;
	} else if (path.len > sizeof(ex->path) || sk_path_normalize(path, ex->path, &plen) == -1) {
		ex->path_len = (uint32_t)SK_MIN(path.len, sizeof(ex->path));
		memcpy(ex->path, path.ptr, ex->path_len);
		return refuse(ex, SK_R_BAD_REQUEST, true);
	}
	ex->path_len = (uint32_t)plen;
	struct sk_slice npath = { .ptr = ex->path, .len = plen };

	bool admin = ex->listener == SK_ADMIN_LISTENER;
	if (body_refused(ex, NULL) && (admin || is_portal(npath)))
		return refuse(ex, SK_R_BAD_REQUEST, true);
	if (admin) {
		ex->brt = &ex->rt->admin_behavior;
		if (!ex->brt->pipeline)
			return serve_admin(ex);
		/* admin.access: the pipeline of a behavior, then serve_admin. */
		access_inputs(ex);
		return start_access(ex);
	}
	ex->dist = sk_routes_find(ex->rt->routes, ex->listener, host);
	if (!ex->dist)
		return refuse(ex, SK_R_UNKNOWN_HOST, false);
	/* Behind a trusted proxy the banned client is not the peer the accept check saw. */
	if (ex->client_addr.peer_trusted &&
	    sk_bans_check_addr(w->id, &w->bans, ex->client_addr.family, ex->client_addr.addr))
		return refuse(ex, SK_R_BANNED, true);
	access_inputs(ex);
	ex->areq.jwt_buf = &ex->jwt_ident;
	ex->areq.host = host;
	ex->areq.path = npath;
	ex->areq.query = query;
	ex->areq.secure = ex->secure;
	if (ex->ssl && cfg_of(ex)->listeners[ex->listener].tls.client_ca)
		set_client_cert(ex);
	ex->query = query;
	ex->viewer_host = host;
	if (is_portal(npath))
		return begin_portal(ex);
	ex->brt = sk_runtime_behavior(ex->rt, ex->dist, npath);
	if (!ex->brt)
		return refuse(ex, SK_R_NOT_FOUND, false);
	if (body_refused(ex, ex->brt->cfg))
		return refuse(ex, SK_R_BAD_REQUEST, true);
	ex->origin = ex->brt->origin;
	start_access(ex);
}

void sk_exchange_refuse_reason(struct sk_exchange *ex, enum sk_reason reason, bool close_after)
{
	refuse(ex, reason, close_after);
}

void sk_exchange_start_access(struct sk_exchange *ex)
{
	access_inputs(ex);
	start_access(ex);
}

void sk_exchange_reply_tunnel(struct sk_exchange *ex)
{
	struct sk_reply rep;
	reply_init(ex, &rep, 200);
	reply_done(ex, &rep);
	ex->resp.tunnel = true;
	ex->resp.body = SK_BODY_NONE;
	ex->state = SK_EX_TUNNEL;
}

void sk_exchange_begin_tcp(struct sk_exchange *ex, const struct sk_origin *origin)
{
	ex->tcp_mode = true;
	ex->origin = origin;
	ex->state = SK_EX_ORIGIN;
	ex->client.req_body_done = true;
}

/* ---- handlers ---- */

static void start_static(struct sk_exchange *ex)
{
	struct sk_static_resp sr_buf, *sr = &sr_buf;
	struct sk_slice path = { .ptr = ex->path, .len = ex->path_len };
	if (sk_static_prepare(ex->brt->ort->root_fd, path, ex->query, &ex->hreq, sr) == -1)
		return refuse(ex, SK_R_BAD_REQUEST, true);
	/* The described fields point into sr: keep them in the exchange's reply area. */
	struct sk_reply rep;
	reply_init(ex, &rep, sr->status);
	for (unsigned i = 0; i < sr->resp.n_fields; i++)
		sk_reply_field(&rep, sr->fields[i].name.ptr, sr->fields[i].value.ptr, sr->fields[i].value.len);
	if (sr->body)
		sk_reply_body(&rep, sr->body, sr->resp.length);
	reply_done(ex, &rep);
	ex->resp.body = sr->resp.body;
	ex->resp.length = sr->resp.length;
	if (sr->status == 404)
		ex->reason = SK_R_NOT_FOUND;
	if (sr->fd >= 0) {
		ex->file_fd = sr->fd;
		ex->file_off = sr->offset;
		ex->resp_src = SK_SRC_FILE;
	}
}

/* The access pipeline allowed the request: serve it from a static origin or proxy it. */
static enum sk_ex_step continue_request(struct sk_exchange *ex)
{
	struct sk_http_request *h = &ex->hreq;
	const struct sk_behavior_rt *brt = ex->brt;
	const struct sk_behavior *beh = brt->cfg;
	ex->auth_user = sk_access_identity(&ex->areq, ex->auth_groups, sizeof(ex->auth_groups));

	/* Only WebSocket is tunnelled, and only where the behavior allows it (DESIGN §1); any other
	 * Upgrade (h2c…) is dropped with its Connection mention and the request proxied as a plain one. */
	ex->upgrade = beh->websocket && h->version != SK_HTTP_2 && wants_websocket(h);
	if (ex->origin->root) {
		start_static(ex);
		return SK_EXS_RESPOND;
	}

	/* The head toward the origin is built now, while the viewer's fields are still valid. */
	ex->hbuf = sk_buf_get(ex->w);
	struct sk_fwd_request f = {
		.req = h,
		.path = { .ptr = ex->path, .len = ex->path_len },
		.query = ex->query,
		.viewer_host = ex->viewer_host,
		.beh = beh,
		.origin = ex->origin,
		.client = &ex->client_addr,
		.tls = ex->secure,
		.upgrade = ex->upgrade,
		.underscores = cfg_of(ex)->listeners[ex->listener].underscores_forward,
		/* The session cookie is sekisho's whatever the behavior: an origin, even one behind an
		 * anonymous path, must not be able to replay it. */
		.strip = beh->forward_credentials ? 0u : (unsigned)(ex->areq.consumed | SK_CONSUMED_SESSION),
		.body = h->body,
		.content_length = h->content_length,
		.auth_user = ex->auth_user,
		.auth_groups = ex->auth_user ? ex->auth_groups : NULL,
		.auth_method = ex->areq.method,
		.claim_names = ex->rt->access.jwt,
		.claim_headers = ex->areq.jwt ? (struct sk_slice){ .ptr = ex->areq.jwt->headers,
								   .len = ex->areq.jwt->headers_len }
					      : (struct sk_slice){ 0 },
	};
	ssize_t n = sk_forward_request_head(&f, ex->hbuf->data, sizeof(ex->hbuf->data));
	if (n < 0) {
		refuse(ex, SK_R_HEADERS_TOO_LARGE, true);
		return SK_EXS_RESPOND;
	}
	ex->client.head_out_len = (uint32_t)n;
	ex->state = SK_EX_ORIGIN;
	/* A Content-Length of 0 is sent as such, but there is nothing to pull. */
	return sk_h1c_start(ex, h->body == SK_BODY_LENGTH && h->content_length == 0 ? SK_BODY_NONE : h->body);
}

/* A refused request: browsers on a session behavior go to the login page, others get the error. */
static void deny_request(struct sk_exchange *ex, enum sk_reason reason)
{
	if (!ex->brt->session)
		return sk_exchange_reply_error(ex, reason);
	struct sk_reply rep;
	reply_init(ex, &rep, 302);
	if (!sk_portal_redirect(ex->brt->cfg, &ex->hreq, reason, (struct sk_slice){ .ptr = ex->path, .len = ex->path_len },
				ex->query, &rep, ex->hbuf->data, sizeof(ex->hbuf->data)))
		return sk_exchange_reply_error(ex, reason);
	ex->reason = reason;
	reply_done(ex, &rep);
}

static enum sk_ex_step do_access(struct sk_exchange *ex)
{
	if (!ex->access_ready)
		return SK_EXS_WAIT;
	ex->access_ready = false;
	bool admin = ex->listener == SK_ADMIN_LISTENER;
	switch (sk_pipeline_run(ex->brt->pipeline, &ex->rt->access, &ex->areq, &ex->astage)) {
	case SK_V_AGAIN:
		arm(ex, cfg_of(ex)->timeouts.send_ms);
		return SK_EXS_WAIT;
	case SK_V_DENY:
		if (ex->egress)
			sk_exchange_reply_error(ex, sk_egress_deny_reason(ex->areq.reason));
		else if (admin)
			sk_exchange_reply_error(ex, ex->areq.reason);
		else
			deny_request(ex, ex->areq.reason);
		return SK_EXS_RESPOND;
	default:
		if (admin) {
			serve_admin(ex);
			return SK_EXS_RESPOND;
		}
		if (ex->egress)
			return sk_egress_continue(ex);
		return continue_request(ex);
	}
}

/* ---- the pages under /.sekisho/ ---- */

static void begin_portal(struct sk_exchange *ex)
{
	struct sk_http_request *h = &ex->hreq;
	bool post = method_is(ex, "POST");
	if (!post && !method_is(ex, "GET") && !ex->head_method)
		return refuse(ex, SK_R_METHOD_NOT_ALLOWED, true);
	if (h->body == SK_BODY_CHUNKED || (h->body == SK_BODY_LENGTH && h->content_length > SK_PORTAL_MAX_BODY))
		return refuse(ex, SK_R_TOO_LARGE, true);
	ex->form_want = h->body == SK_BODY_LENGTH ? (uint32_t)h->content_length : 0;
	if (ex->form_want)
		ex->form = sk_malloc(ex->form_want);
	ex->portal = sk_portal_new();
	ex->access_ready = true;
	ex->state = SK_EX_PORTAL;
	arm(ex, cfg_of(ex)->timeouts.header_read_ms);
}

static enum sk_ex_step do_portal(struct sk_exchange *ex)
{
	while (ex->form_len < ex->form_want) {
		struct sk_slice s;
		enum sk_body_step st = ex->front->body_peek(ex, &s);
		if (st == SK_BODY_WAIT)
			return SK_EXS_WAIT;
		if (st != SK_BODY_DATA)
			return SK_EXS_CLOSE;
		size_t take = SK_MIN(s.len, (size_t)(ex->form_want - ex->form_len));
		memcpy(ex->form + ex->form_len, s.ptr, take);
		ex->form_len += (uint32_t)take;
		ex->front->body_consume(ex, take);
	}
	if (!ex->access_ready)
		return SK_EXS_WAIT;
	ex->access_ready = false;
	if (!ex->hbuf)
		ex->hbuf = sk_buf_get(ex->w);
	struct sk_reply rep;
	reply_init(ex, &rep, 200);
	struct sk_portal_io io = {
		.rt = ex->rt,
		.dist = ex->dist,
		.listener = ex->listener,
		.hreq = &ex->hreq,
		.path = { .ptr = ex->path, .len = ex->path_len },
		.query = ex->query,
		.body = { .ptr = ex->form, .len = ex->form_len },
		.post = method_is(ex, "POST"),
		.tls = ex->secure,
		.areq = &ex->areq,
		.reply = &rep,
	};
	size_t n = 0;
	int status = 0;
	enum sk_reason reason = SK_R_NONE;
	if (sk_portal_run(ex->portal, &io, ex->hbuf->data, sizeof(ex->hbuf->data), &n, &status, &reason) == SK_V_AGAIN) {
		arm(ex, cfg_of(ex)->timeouts.send_ms);
		return SK_EXS_WAIT;
	}
	ex->reason = reason;
	if (reason == SK_R_NONE && ex->areq.user)
		ex->auth_user = sk_access_identity(&ex->areq, ex->auth_groups, sizeof(ex->auth_groups));
	reply_done(ex, &rep);
	ex->status = status;
	return SK_EXS_RESPOND;
}

/* ---- driver ---- */

enum sk_ex_step sk_exchange_run(struct sk_exchange *ex)
{
	switch (ex->state) {
	case SK_EX_ACCESS: return do_access(ex);
	case SK_EX_PORTAL: return do_portal(ex);
	case SK_EX_ORIGIN: return sk_h1c_run(ex);
	case SK_EX_EGRESS: return sk_egress_run(ex);
	case SK_EX_RESPOND:
	case SK_EX_TUNNEL: return SK_EXS_RESPOND;
	default: SK_ASSERT(!"unknown exchange state");
	}
	return SK_EXS_CLOSE;
}

enum sk_ex_step sk_exchange_timeout(struct sk_exchange *ex)
{
	switch (ex->state) {
	case SK_EX_ACCESS:
	case SK_EX_PORTAL: {
		enum sk_reason why = sk_access_req_timeout_reason(&ex->areq);
		sk_access_req_cancel(&ex->areq);
		refuse(ex, why, true);
		return SK_EXS_RESPOND;
	}
	case SK_EX_ORIGIN:
		return sk_h1c_timeout(ex);
	case SK_EX_EGRESS:
		return sk_egress_timeout(ex);
	default:
		return SK_EXS_CLOSE;
	}
}

enum sk_body_step sk_exchange_body_peek(struct sk_exchange *ex, struct sk_slice *out)
{
	return (enum sk_body_step)sk_h1c_body_peek(ex, out);
}

void sk_exchange_body_consume(struct sk_exchange *ex, size_t n)
{
	sk_h1c_body_consume(ex, n);
}

bool sk_exchange_body_ended(const struct sk_exchange *ex)
{
	return ex->client.resp_done;
}

void sk_exchange_origin_event(struct sk_exchange *ex)
{
	ex->front->wake(ex);
}
