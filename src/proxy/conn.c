/*
 * conn.c — a viewer connection, from accept to close: read a head, route it, proxy it to an upstream
 * server (or serve a static file, or answer an error), stream both bodies, then keep alive.
 *
 * Model: sockets are registered edge-triggered once; events only set can_read / can_write and call
 * conn_run(), which advances the state machine until it must wait. Every state has a deadline on the
 * connection's single timer. Each direction has one fixed buffer and one pending-output queue (struct
 * sk_out): nothing more is read from a sender while its output toward the receiver is pending, which is
 * the backpressure of DESIGN §9. A keep-alive connection between requests holds no buffer and no
 * request state (struct sk_req comes from a per-worker free list).
 *
 * Request bodies are sent before the response is read (like nginx); a response that an origin sends
 * early is read once the body is through, and an origin that closes early ends the exchange with 502.
 *
 * TLS (both sides) goes through net/stream.h: the same reads and writes, with one difference the code
 * below respects: a TLS read that returned less than asked does not mean the socket is drained (records
 * come one at a time, and the SSL may hold decrypted bytes), so only a "wait" clears can_read. The
 * viewer's handshake runs in the head-reading state under the header-read deadline; an origin's runs in
 * the connecting state under the connect timeout.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "access/verify.h"
#include "core/log.h"
#include "net/stream.h"
#include "obs/metrics.h"
#include "net/banlist.h"
#include "proxy/admin.h"
#include "proxy/forward.h"
#include "proxy/portal.h"
#include "proxy/proxy.h"
#include "proxy/static.h"

#define LINGER_MS 2000

enum step { STEP_AGAIN, STEP_WAIT, STEP_CLOSE };

struct sk_req {
	struct sk_req *next_free;
	struct sk_conn *conn;
	struct sk_http_request hreq;
	struct sk_h1_response hresp;
	struct sk_buf *hbuf; /* outgoing heads: the request head, then the response head or an error page */
	struct sk_buf *ubuf; /* bytes from the upstream */
	struct sk_out vout;  /* pending toward the viewer */
	struct sk_out uout;  /* pending toward the upstream */
	const struct sk_distribution *dist;
	const struct sk_behavior *beh;
	const struct sk_origin *origin;
	struct sk_server_pool *server;
	uint32_t head_out_len;     /* length of the request head in hbuf */
	uint32_t connect_attempts;
	/* request body, viewer → upstream */
	uint8_t req_body;          /* enum sk_http_body */
	uint64_t req_remaining;
	struct sk_h1_chunked req_chunk;
	/* response body, upstream → viewer */
	uint8_t resp_in, resp_out; /* enum sk_http_body */
	uint64_t resp_remaining;
	struct sk_h1_chunked resp_chunk;
	/* static file */
	int file_fd;
	off_t file_off;
	uint64_t file_left;
	/* flags */
	bool keep_alive;
	bool head_method;
	bool upgrade;
	bool tcp_mode;
	bool head_queued;
	bool req_body_done;
	bool req_last_chunk;  /* the final "0\r\n\r\n" is still to be queued upstream */
	bool resp_done;
	bool resp_last_chunk;
	bool resp_any;        /* a byte of the response arrived */
	bool up_reused;
	bool up_reusable;
	bool retried;
	bool sent_continue;
	bool v_eof, u_eof;    /* tunnel half-closes */
	bool v_shut, u_shut;
	/* access log */
	enum sk_reason reason;
	int status;
	uint64_t start_ms, start_wall_ms, last_io_ms;
	uint64_t bytes_in, bytes_out;
	uint8_t method_len;
	char method[16];
	uint8_t host_len;
	char host[255];
	char chunk_line[24];
	/* access pipeline */
	struct sk_access_req areq;
	struct sk_portal *portal;  /* a page under /.sekisho/ */
	char *admin_body;          /* an admin listener's answer (heap) */
	uint32_t portal_body;      /* its form's length */
	unsigned astage;
	bool access_ready;     /* the pipeline can run (again) */
	struct sk_slice query;       /* into rbuf, kept for the origin request */
	struct sk_slice viewer_host; /* into rbuf */
	const char *auth_user;
	char auth_groups[512];
	struct sk_client client;
	struct sk_jwt_ident jwt_ident; /* areq.jwt_buf: written only when a token is verified */
	struct sk_http_field headers[SK_MAX_HEADERS];
	struct sk_http_field resp_headers[SK_MAX_HEADERS];
	uint32_t path_len;
	char path[SK_MAX_LINE];
	char cert_ids[320]; /* the viewer's client-certificate identities (areq.client_cert_ids) */
};

static void conn_run(struct sk_conn *c);
static void conn_close(struct sk_conn *c);

static const char CRLF[] = "\r\n";
static const char LAST_CHUNK[] = "0\r\n\r\n";

/* ---- small helpers ---- */

static struct sk_req *req_get(struct sk_worker *w)
{
	struct sk_req *r = w->free_reqs;
	if (r) {
		w->free_reqs = r->next_free;
		w->n_free_reqs--;
	} else {
		r = sk_malloc(sizeof(*r));
	}
	/* Clear the fixed part only: the header arrays and path buffer are written before they are read. */
	memset(r, 0, offsetof(struct sk_req, client));
	r->client.ip[0] = '\0';
	r->file_fd = -1;
	return r;
}

static void req_put(struct sk_conn *c)
{
	struct sk_req *r = c->req;
	if (!r)
		return;
	struct sk_worker *w = c->w;
	sk_access_req_cancel(&r->areq);
	explicit_bzero(r->auth_groups, sizeof(r->auth_groups));
	if (r->portal) {
		sk_portal_free(r->portal);
		r->portal = NULL;
	}
	free(r->admin_body);
	r->admin_body = NULL;
	if (r->hbuf)
		sk_buf_put(w, r->hbuf);
	if (r->ubuf)
		sk_buf_put(w, r->ubuf);
	if (r->file_fd >= 0)
		close(r->file_fd);
	c->req = NULL;
	if (w->n_free_reqs < 64) {
		r->next_free = w->free_reqs;
		w->free_reqs = r;
		w->n_free_reqs++;
	} else {
		free(r);
	}
}

static void out_set1(struct sk_out *o, const void *p, size_t n)
{
	o->iov[0] = (struct iovec){ .iov_base = (void *)p, .iov_len = n };
	o->n = 1;
}

static void out_push(struct sk_out *o, const void *p, size_t n)
{
	SK_ASSERT(o->n < SK_ARRAY_LEN(o->iov));
	o->iov[o->n++] = (struct iovec){ .iov_base = (void *)p, .iov_len = n };
}

/* Writes pending output (ssl: over TLS). Returns 1 when all is written, 0 when the socket is full (or
 * TLS must read first), -1 on error. */
static int out_flush(int fd, struct ssl_st *ssl, struct sk_out *o, bool *can_write, uint64_t *count)
{
	while (o->n) {
		if (!*can_write)
			return 0;
		ssize_t n = sk_stream_writev(fd, ssl, o->iov, o->n);
		if (n < 0) {
			if (n == SK_IO_WAIT) {
				*can_write = false;
				return 0;
			}
			if (n == SK_IO_WAIT_OTHER)
				return 0;
			return -1;
		}
		if (count)
			*count += (uint64_t)n;
		size_t left = (size_t)n;
		unsigned i = 0;
		while (i < o->n && left >= o->iov[i].iov_len)
			left -= o->iov[i++].iov_len;
		if (i == o->n) {
			o->n = 0;
			return 1;
		}
		memmove(&o->iov[0], &o->iov[i], (o->n - i) * sizeof(o->iov[0]));
		o->n -= (uint8_t)i;
		o->iov[0].iov_base = (char *)o->iov[0].iov_base + left;
		o->iov[0].iov_len -= left;
	}
	return 1;
}

/*
 * Reads into b's free tail (ssl: over TLS). Returns bytes read, 0 on EOF, -1 when nothing is ready
 * (can_read cleared, unless TLS waits on the other direction), -2 on error.
 * A short plain read drains the socket, so can_read is cleared without paying for a read that would
 * return EAGAIN: edge-triggered epoll reports the next arrival anyway. Not so once the peer has
 * half-closed (hup): that edge has been reported already, so reading goes on until EOF. Nor over TLS.
 */
static ssize_t read_more(int fd, struct ssl_st *ssl, struct sk_buf *b, bool *can_read, bool hup);

static ssize_t read_into(int fd, struct ssl_st *ssl, struct sk_buf *b, bool *can_read, bool hup)
{
	if (!*can_read)
		return -1;
	if (b->off == b->len)
		b->off = b->len = 0;
	return read_more(fd, ssl, b, can_read, hup);
}

/* Same, but never moves what the buffer holds (the request head's slices may still point into it). */
static ssize_t read_more(int fd, struct ssl_st *ssl, struct sk_buf *b, bool *can_read, bool hup)
{
	if (!*can_read)
		return -1;
	size_t room = sizeof(b->data) - b->len;
	if (room == 0)
		return -1;
	ssize_t n = sk_stream_read(fd, ssl, b->data + b->len, room);
	if (n > 0) {
		b->len += (uint32_t)n;
		if ((size_t)n < room && !hup && !ssl)
			*can_read = false;
		return n;
	}
	if (n == 0)
		return 0;
	if (n == SK_IO_WAIT) {
		*can_read = false;
		return -1;
	}
	return n == SK_IO_WAIT_OTHER ? -1 : -2;
}

static size_t put_hex_line(char *out, uint64_t n)
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

static const struct sk_config *cfg_of(const struct sk_conn *c)
{
	return c->rt->cfg;
}

static bool method_is(const struct sk_req *r, const char *m)
{
	return sk_slice_eq(r->hreq.method, m);
}

static bool method_idempotent(const struct sk_req *r)
{
	return method_is(r, "GET") || method_is(r, "HEAD") || method_is(r, "OPTIONS") ||
	       method_is(r, "PUT") || method_is(r, "DELETE") || method_is(r, "TRACE");
}

/* ---- access log ---- */

/* The viewer as the access log names it. A request refused before its head was parsed (400, 414, 431,
 * 408) has no client yet: it is the peer, since no trusted X-Forwarded-For could be read. Slow path only. */
static void fill_client(struct sk_conn *c)
{
	if (!c->req->client.ip[0])
		sk_forward_client((const struct sockaddr *)&c->peer, NULL, NULL, &c->req->client);
}

/* Logs and counts the request, once it has been answered or abandoned. Every refusal is logged, the parser's
 * included (no method then): only a connection that never got an answer to anything stays out. */
static void log_request(struct sk_conn *c)
{
	struct sk_req *r = c->req;
	struct sk_worker *w = c->w;
	if (!r || (r->method_len == 0 && r->status == 0) || c->listener == SK_ADMIN_LISTENER)
		return;
	fill_client(c);
	sk_metrics_request(w->id, r->reason, r->bytes_in, r->bytes_out);
	sk_metrics_http(w->id, r->dist ? c->rt->dist_mslot[r->dist - cfg_of(c)->distributions] : 0, r->status,
			sk_loop_now(w->loop) - r->start_ms, r->reason != SK_R_NONE);
	if (w->access_log->fd < 0)
		return;
	char upstream[64] = "";
	char groups[512];
	if (r->server)
		snprintf(upstream, sizeof(upstream), "%s", r->server->addr.text);
	const struct sk_config *cfg = cfg_of(c);
	struct sk_access_entry e = {
		.start_wall_ms = r->start_wall_ms,
		.duration_ms = sk_loop_now(w->loop) - r->start_ms,
		.client = r->client.ip[0] ? r->client.ip : NULL,
		.listener = cfg->listeners[c->listener].name,
		.distribution = r->dist ? r->dist->name : NULL,
		.behavior = r->beh ? (int)(r->beh - r->dist->behaviors) : -1,
		.method = { .ptr = r->method, .len = r->method_len },
		.host = { .ptr = r->host, .len = r->host_len },
		.path = { .ptr = r->path, .len = r->path_len },
		.status = r->status,
		.bytes_in = r->bytes_in,
		.bytes_out = r->bytes_out,
		.upstream = r->server ? upstream : NULL,
		.user = r->areq.user || r->areq.apikey || r->areq.jwt ? sk_access_identity(&r->areq, groups, sizeof(groups))
								      : NULL,
		.auth = r->areq.method,
		.reason = r->reason != SK_R_NONE ? sk_reason_label(r->reason) : NULL,
		.policy = sk_access_policy_label(r->areq.policy),
		.policy_sid = r->areq.policy ? r->areq.policy_sid : NULL,
	};
	sk_accesslog_write(w->access_log, &e);
}

/* ---- error replies ---- */

static bool wants_json(const struct sk_req *r)
{
	if (!r->hreq.headers)
		return false;
	const struct sk_http_field *h = sk_http_find(r->hreq.headers, r->hreq.n_headers, "Accept");
	if (!h)
		return false;
	/* "application/json" anywhere, but not when text/html is preferred first. */
	const char *v = h->value.ptr;
	size_t n = h->value.len;
	const char *json = memmem(v, n, "application/json", 16);
	const char *html = memmem(v, n, "text/html", 9);
	return json && (!html || json < html);
}

static const char *status_text(int status)
{
	switch (status) {
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 421: return "Misdirected Request";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default: return "Error";
	}
}

/*
 * Answers the viewer with a page made by sekisho for reason. close_after: close (after a lingering
 * half-close) instead of keeping alive — always so when the request body was not consumed.
 */
static enum step reply_error(struct sk_conn *c, enum sk_reason reason, bool close_after)
{
	struct sk_req *r = c->req;
	SK_ASSERT(r);
	if (c->up) {
		sk_upstream_close(c->up);
		c->up = NULL;
	}
	int status = sk_reason_status(reason);
	r->reason = reason;
	r->status = status;
	if (!r->req_body_done && r->req_body != SK_BODY_NONE)
		close_after = true;
	if (close_after || c->w->stopping)
		r->keep_alive = false;
	if (!r->hbuf)
		r->hbuf = sk_buf_get(c->w);
	char body[256];
	int blen;
	const char *ctype;
	const char *label = sk_reason_label(reason);
	if (wants_json(r)) {
		ctype = "application/json";
		blen = snprintf(body, sizeof(body), "{\"error\": \"%s\"}\n", label);
	} else {
		ctype = "text/html; charset=utf-8";
		blen = snprintf(body, sizeof(body),
				"<!doctype html><html><head><title>%d %s</title></head><body><h1>%d %s</h1>"
				"<p>%s</p></body></html>\n",
				status, status_text(status), status, status_text(status), label);
	}
	/* A 401 on a behavior that takes Basic credentials carries the challenge (the config loader only
	 * accepts realms that are safe inside a quoted string). */
	char challenge[320] = "";
	const struct sk_access *acc = r->beh ? &r->beh->access
				      : c->listener == SK_ADMIN_LISTENER ? &cfg_of(c)->admin.access : NULL;
	if (status == 401 && acc) {
		for (size_t i = 0; i < acc->n_auth; i++)
			if (acc->auth[i] == SK_AUTH_BASIC)
				snprintf(challenge, sizeof(challenge),
					 "WWW-Authenticate: Basic realm=\"%.256s\", charset=\"UTF-8\"\r\n",
					 acc->realm);
	}
	int n = snprintf(r->hbuf->data, sizeof(r->hbuf->data),
			 "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\nCache-Control: no-store\r\n"
			 "%s%s\r\n%s",
			 status, status_text(status), ctype, blen, challenge,
			 r->keep_alive ? (r->hreq.version == SK_HTTP_10 ? "Connection: keep-alive\r\n" : "")
				       : "Connection: close\r\n",
			 r->head_method ? "" : body);
	out_set1(&r->vout, r->hbuf->data, (size_t)n);
	r->resp_done = true;
	c->state = SK_CS_REPLY;
	sk_timer_arm(c->w->loop, &c->timer, cfg_of(c)->timeouts.send_ms);
	return STEP_AGAIN;
}

/* ---- the admin listener ---- */

/* The admin listener's answers come from admin.c; they are answered from the worker, never proxied. The
 * body is the request's (freed with it), because it can outgrow a buffer (/metrics). */
static enum step serve_admin(struct sk_conn *c, struct sk_slice path)
{
	struct sk_req *r = c->req;
	if (!r->req_body_done)
		r->keep_alive = false;
	struct sk_admin_reply a;
	sk_admin_handle(c->rt, &r->hreq, path, &a);
	r->admin_body = a.body;
	r->hbuf = sk_buf_get(c->w);
	int n = snprintf(r->hbuf->data, sizeof(r->hbuf->data),
			 "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nCache-Control: no-store\r\n"
			 "%s%s%s%s\r\n",
			 a.status, a.status == 200 ? "OK" : a.status == 202 ? "Accepted" : a.status == 409 ? "Conflict" : status_text(a.status), a.ctype,
			 a.len, a.allow ? "Allow: " : "", a.allow ? a.allow : "", a.allow ? "\r\n" : "",
			 r->keep_alive ? "" : "Connection: close\r\n");
	out_set1(&r->vout, r->hbuf->data, (size_t)n);
	if (!r->head_method)
		out_push(&r->vout, a.body, a.len);
	r->status = a.status;
	r->resp_done = true;
	c->state = SK_CS_REPLY;
	sk_timer_arm(c->w->loop, &c->timer, cfg_of(c)->timeouts.send_ms);
	return STEP_AGAIN;
}

/* ---- request start ---- */

static enum step start_proxy(struct sk_conn *c);
static enum step begin_portal(struct sk_conn *c);
static void on_access_resume(struct sk_access_req *ar);
static enum step start_static(struct sk_conn *c, int root_fd, struct sk_slice query);

static void copy_log_fields(struct sk_req *r)
{
	r->method_len = (uint8_t)SK_MIN(r->hreq.method.len, sizeof(r->method));
	memcpy(r->method, r->hreq.method.ptr, r->method_len);
}

/* What the access pipeline learns of the viewer's TLS client certificate. */
static void set_client_cert(struct sk_conn *c)
{
	_Static_assert((int)SK_TLS_PEER_NONE == (int)SK_CC_NONE && (int)SK_TLS_PEER_UNTRUSTED == (int)SK_CC_UNTRUSTED &&
			       (int)SK_TLS_PEER_VERIFIED == (int)SK_CC_VERIFIED,
		       "the TLS and access views of a client certificate agree");
	struct sk_req *r = c->req;
	r->areq.client_cert = (uint8_t)sk_tls_peer_identity(c->ssl, r->cert_ids, sizeof(r->cert_ids));
	r->areq.client_cert_ids = r->cert_ids;
}

static void snap_count(struct sk_worker *w, struct sk_runtime *rt, int delta);

static bool same_str(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

/*
 * A keep-alive connection moves to the worker's newest snapshot when its next request begins, so that
 * a reload (a revoked API key or a changed password among them, see watch.c) applies to connections that
 * were open before it, not only to new ones. It moves only when its listener is the same in the new
 * snapshot (name, address, mode, TLS and client CAs: what accept and the TLS handshake settled; the TLS
 * session keeps its own SSL_CTX reference, and renegotiation is off). Otherwise this request is served
 * on the old snapshot and is the connection's last: returns false.
 */
static bool follow_snapshot(struct sk_conn *c)
{
	struct sk_worker *w = c->w;
	struct sk_runtime *old = c->rt, *nrt = w->rt;
	if (old == nrt)
		return true;
	SK_ASSERT(w->snaps && w->snaps->rt == nrt); /* the worker's list starts with its current snapshot */
	size_t idx = SK_ADMIN_LISTENER;
	if (c->listener == SK_ADMIN_LISTENER) {
		if (!nrt->cfg->admin.present || strcmp(nrt->cfg->admin.listen.text, old->cfg->admin.listen.text) != 0)
			return false;
	} else {
		const struct sk_listener *l = &old->cfg->listeners[c->listener];
		for (idx = 0; idx < nrt->cfg->n_listeners; idx++)
			if (strcmp(nrt->cfg->listeners[idx].name, l->name) == 0)
				break;
		if (idx == nrt->cfg->n_listeners)
			return false;
		const struct sk_listener *nl = &nrt->cfg->listeners[idx];
		if (nl->mode != l->mode || strcmp(nl->listen.text, l->listen.text) != 0 ||
		    nl->tls.present != l->tls.present || !same_str(nl->tls.client_ca, l->tls.client_ca))
			return false;
	}
	snap_count(w, nrt, +1);
	c->rt = nrt;
	c->listener = (uint16_t)idx;
	snap_count(w, old, -1); /* may free the old snapshot: nothing of it is used after this */
	return true;
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
static bool body_refused(const struct sk_req *r, const struct sk_behavior *beh)
{
	const struct sk_http_request *h = &r->hreq;
	if (h->body == SK_BODY_NONE || (h->body == SK_BODY_LENGTH && h->content_length == 0))
		return false;
	if (r->head_method)
		return true;
	return method_is(r, "GET") && !(beh && beh->allow_get_body);
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

/* A complete head is in rbuf: route it and start the exchange. */
static enum step begin_request(struct sk_conn *c)
{
	struct sk_req *r = c->req;
	struct sk_http_request *h = &r->hreq;
	const bool moved = follow_snapshot(c);
	const struct sk_config *cfg = cfg_of(c);
	struct sk_worker *w = c->w;

	c->rbuf->off += (uint32_t)h->head_len;
	r->bytes_in += h->head_len;
	copy_log_fields(r);
	r->head_method = method_is(r, "HEAD");
	r->keep_alive = h->version == SK_HTTP_11 ? !(h->flags & SK_HF_CONN_CLOSE)
					      : (h->flags & SK_HF_CONN_KEEPALIVE) != 0;
	if (w->stopping || !moved)
		r->keep_alive = false;
	r->req_body = (uint8_t)h->body;
	r->req_remaining = h->content_length;
	r->req_body_done = h->body == SK_BODY_NONE || (h->body == SK_BODY_LENGTH && h->content_length == 0);
	if (h->body == SK_BODY_CHUNKED)
		sk_h1_chunked_init(&r->req_chunk);

	sk_forward_client((const struct sockaddr *)&c->peer, h, c->rt->trusted, &r->client);

	struct sk_slice authority = { 0 }, path, query;
	if (sk_target_split(h->target, method_is(r, "OPTIONS"), &authority, &path, &query) == -1)
		return reply_error(c, SK_R_BAD_REQUEST, true);
	struct sk_slice host = authority.len ? authority : h->host;
	r->host_len = (uint8_t)SK_MIN(host.len, sizeof(r->host));
	if (r->host_len) /* an HTTP/1.0 request may have no Host: an empty slice, whose ptr is NULL */
		memcpy(r->host, host.ptr, r->host_len);

	size_t plen = 0;
	if (path.len == 1 && path.ptr[0] == '*') {
		r->path[0] = '*';
		plen = 1;
	} else if (path.len > sizeof(r->path) || sk_path_normalize(path, r->path, &plen) == -1) {
		r->path_len = (uint32_t)SK_MIN(path.len, sizeof(r->path));
		memcpy(r->path, path.ptr, r->path_len);
		return reply_error(c, SK_R_BAD_REQUEST, true);
	}
	r->path_len = (uint32_t)plen;
	struct sk_slice npath = { .ptr = r->path, .len = plen };

	if (body_refused(r, NULL) && (c->listener == SK_ADMIN_LISTENER || is_portal(npath)))
		return reply_error(c, SK_R_BAD_REQUEST, true);
	if (c->listener == SK_ADMIN_LISTENER && !c->rt->admin_pipeline)
		return serve_admin(c, npath);
	if (c->listener == SK_ADMIN_LISTENER) {
		/* admin.access: the pipeline of a behavior, then serve_admin (r->beh stays NULL). */
		r->areq = (struct sk_access_req){ .family = r->client.family, .addr = r->client.addr, .hreq = h,
						  .verifier = w->verifier, .resume = on_access_resume };
		r->access_ready = true;
		c->state = SK_CS_ACCESS;
		return STEP_AGAIN;
	}
	r->dist = sk_routes_find(c->rt->routes, c->listener, host);
	if (!r->dist)
		return reply_error(c, SK_R_UNKNOWN_HOST, false);
	/* Behind a trusted proxy the banned client is not the peer the accept check saw. */
	if (r->client.peer_trusted && sk_bans_check_addr(w->id, &w->bans, r->client.family, r->client.addr))
		return reply_error(c, SK_R_BANNED, true);
	r->areq = (struct sk_access_req){
		.family = r->client.family,
		.addr = r->client.addr,
		.hreq = h,
		.verifier = w->verifier,
		.resume = on_access_resume,
		.jwt_buf = &r->jwt_ident,
		.host = host,
		.path = npath,
		.query = query,
		.secure = c->tls,
	};
	if (c->ssl && cfg->listeners[c->listener].tls.client_ca)
		set_client_cert(c);
	r->query = query;
	r->viewer_host = host;
	if (is_portal(npath))
		return begin_portal(c);
	r->beh = sk_routes_behavior(r->dist, npath);
	if (!r->beh)
		return reply_error(c, SK_R_NOT_FOUND, false);
	if (body_refused(r, r->beh))
		return reply_error(c, SK_R_BAD_REQUEST, true);
	r->origin = sk_config_origin(cfg, r->beh->origin);
	SK_ASSERT(r->origin);
	r->access_ready = true;
	c->state = SK_CS_ACCESS;
	return STEP_AGAIN;
}

/* The access pipeline allowed the request: serve it from a static origin or proxy it. */
static enum step continue_request(struct sk_conn *c)
{
	struct sk_req *r = c->req;
	struct sk_http_request *h = &r->hreq;
	const struct sk_config *cfg = cfg_of(c);
	struct sk_worker *w = c->w;
	struct sk_slice npath = { .ptr = r->path, .len = r->path_len };
	struct sk_slice query = r->query, host = r->viewer_host;
	r->auth_user = sk_access_identity(&r->areq, r->auth_groups, sizeof(r->auth_groups));

	/* Only WebSocket is tunnelled, and only where the behavior allows it (DESIGN §1); any other
	 * Upgrade (h2c…) is dropped with its Connection mention and the request proxied as a plain one. */
	r->upgrade = r->beh->websocket && wants_websocket(h);
	if (r->origin->root) {
		int idx = (int)(r->origin - cfg->origins);
		return start_static(c, c->rt->origins[idx].root_fd, query);
	}

	/* The head toward the origin is built now, while the viewer's header slices are still valid. */
	r->hbuf = sk_buf_get(w);
	struct sk_fwd_request f = {
		.req = h,
		.path = npath,
		.query = query,
		.viewer_host = host,
		.beh = r->beh,
		.origin = r->origin,
		.client = &r->client,
		.tls = c->tls,
		.upgrade = r->upgrade,
		.underscores = cfg->listeners[c->listener].underscores_forward,
		/* The session cookie is sekisho's whatever the behavior: an origin, even one behind an
		 * anonymous path, must not be able to replay it. */
		.strip = r->beh->forward_credentials ? 0u : (unsigned)(r->areq.consumed | SK_CONSUMED_SESSION),
		.body = r->req_body_done ? SK_BODY_NONE : h->body,
		.content_length = h->content_length,
		.auth_user = r->auth_user,
		.auth_groups = r->auth_user ? r->auth_groups : NULL,
		.auth_method = r->areq.method,
		.claim_names = c->rt->access.jwt,
		.claim_headers = r->areq.jwt ? (struct sk_slice){ .ptr = r->areq.jwt->headers,
								  .len = r->areq.jwt->headers_len }
					     : (struct sk_slice){ 0 },
	};
	if (h->body == SK_BODY_LENGTH && h->content_length == 0)
		f.body = SK_BODY_LENGTH;
	ssize_t n = sk_forward_request_head(&f, r->hbuf->data, sizeof(r->hbuf->data));
	if (n < 0)
		return reply_error(c, SK_R_HEADERS_TOO_LARGE, true);
	r->head_out_len = (uint32_t)n;
	return start_proxy(c);
}

/* ---- access pipeline ---- */

static void conn_run(struct sk_conn *c);

/* A refused request: browsers on a session behavior go to the login page, others get the error. */
static enum step deny_request(struct sk_conn *c, enum sk_reason reason)
{
	struct sk_req *r = c->req;
	size_t n;
	if (!r->req_body_done && r->req_body != SK_BODY_NONE)
		r->keep_alive = false;
	if (c->w->stopping)
		r->keep_alive = false;
	if (!r->hbuf)
		r->hbuf = sk_buf_get(c->w);
	struct sk_slice path = { .ptr = r->path, .len = r->path_len };
	if (!sk_portal_redirect(r->beh, &r->hreq, reason, path, r->query, r->keep_alive, r->hbuf->data,
				sizeof(r->hbuf->data), &n))
		return reply_error(c, reason, false);
	r->reason = reason;
	r->status = 302;
	out_set1(&r->vout, r->hbuf->data, n);
	r->resp_done = true;
	c->state = SK_CS_REPLY;
	sk_timer_arm(c->w->loop, &c->timer, cfg_of(c)->timeouts.send_ms);
	return STEP_AGAIN;
}

/* ---- the pages under /.sekisho/ ---- */

static enum step begin_portal(struct sk_conn *c)
{
	struct sk_req *r = c->req;
	struct sk_http_request *h = &r->hreq;
	bool post = method_is(r, "POST");
	if (!post && !method_is(r, "GET") && !r->head_method)
		return reply_error(c, SK_R_METHOD_NOT_ALLOWED, true);
	if (h->body == SK_BODY_CHUNKED || (h->body == SK_BODY_LENGTH && h->content_length > SK_PORTAL_MAX_BODY))
		return reply_error(c, SK_R_TOO_LARGE, true);
	r->portal_body = h->body == SK_BODY_LENGTH ? (uint32_t)h->content_length : 0;
	/* The form must fit in the read buffer behind the head (whose header slices stay in use). */
	if (c->rbuf->off + r->portal_body > sizeof(c->rbuf->data))
		return reply_error(c, SK_R_TOO_LARGE, true);
	r->portal = sk_portal_new();
	r->access_ready = true;
	c->state = SK_CS_PORTAL;
	sk_timer_arm(c->w->loop, &c->timer, cfg_of(c)->timeouts.header_read_ms);
	return STEP_AGAIN;
}

static enum step do_portal(struct sk_conn *c)
{
	struct sk_req *r = c->req;
	struct sk_buf *b = c->rbuf;
	while (b->len - b->off < r->portal_body) {
		if (!c->can_read)
			return STEP_WAIT;
		ssize_t n = read_more(c->io.fd, c->ssl, b, &c->can_read, c->hup);
		if (n == -1)
			return STEP_WAIT;
		if (n <= 0)
			return STEP_CLOSE;
	}
	if (!r->access_ready)
		return STEP_WAIT;
	r->access_ready = false;
	if (!r->hbuf)
		r->hbuf = sk_buf_get(c->w);
	struct sk_portal_io io = {
		.rt = c->rt,
		.dist = r->dist,
		.listener = c->listener,
		.hreq = &r->hreq,
		.path = { .ptr = r->path, .len = r->path_len },
		.query = r->query,
		.body = { .ptr = b->data + b->off, .len = r->portal_body },
		.post = method_is(r, "POST"),
		.head = r->head_method,
		.tls = c->tls,
		.keep_alive = r->keep_alive && !c->w->stopping,
		.areq = &r->areq,
	};
	size_t n = 0;
	int status = 0;
	enum sk_reason reason = SK_R_NONE;
	if (sk_portal_run(r->portal, &io, r->hbuf->data, sizeof(r->hbuf->data), &n, &status, &reason) == SK_V_AGAIN) {
		sk_timer_arm(c->w->loop, &c->timer, cfg_of(c)->timeouts.send_ms);
		return STEP_WAIT;
	}
	b->off += r->portal_body;
	r->bytes_in += r->portal_body;
	r->req_body_done = true;
	r->keep_alive = io.keep_alive;
	r->reason = reason;
	r->status = status;
	if (reason == SK_R_NONE && r->areq.user)
		r->auth_user = sk_access_identity(&r->areq, r->auth_groups, sizeof(r->auth_groups));
	out_set1(&r->vout, r->hbuf->data, n);
	r->resp_done = true;
	c->state = SK_CS_REPLY;
	return STEP_AGAIN;
}

/* A verification this request waited on is back (loop thread): run the pipeline again. */
static void on_access_resume(struct sk_access_req *ar)
{
	struct sk_req *r = SK_CONTAINER_OF(ar, struct sk_req, areq);
	struct sk_conn *c = r->conn;
	r->access_ready = true;
	conn_run(c);
}

static enum step do_access(struct sk_conn *c)
{
	struct sk_req *r = c->req;
	if (!r->access_ready)
		return STEP_WAIT;
	r->access_ready = false;
	bool admin = c->listener == SK_ADMIN_LISTENER;
	const struct sk_pipeline *pl = admin ? c->rt->admin_pipeline : sk_runtime_pipeline(c->rt, r->dist, r->beh);
	switch (sk_pipeline_run(pl, &c->rt->access, &r->areq, &r->astage)) {
	case SK_V_AGAIN:
		sk_timer_arm(c->w->loop, &c->timer, cfg_of(c)->timeouts.send_ms);
		return STEP_WAIT;
	case SK_V_DENY:
		return admin ? reply_error(c, r->areq.reason, false) : deny_request(c, r->areq.reason);
	default:
		return admin ? serve_admin(c, (struct sk_slice){ .ptr = r->path, .len = r->path_len })
			     : continue_request(c);
	}
}

/* ---- upstream connection ---- */

static enum step connect_next(struct sk_conn *c, bool fresh)
{
	struct sk_req *r = c->req;
	const struct sk_origin *o = r->origin;
	const struct sk_tls_client *tls = c->rt->origins[o - cfg_of(c)->origins].tls;
	r->server = sk_upstream_pick(c->w, o, tls ? sk_tls_client_id(tls) : 0);
	bool reused = false;
	c->up = sk_upstream_get(r->server, c, fresh, &reused, tls);
	r->connect_attempts++;
	if (!c->up) {
		sk_upstream_mark_failed(r->server);
		if (r->connect_attempts < o->n_servers)
			return connect_next(c, true);
		return r->tcp_mode ? STEP_CLOSE : reply_error(c, SK_R_UPSTREAM_UNAVAILABLE, false);
	}
	r->up_reused = reused;
	c->up->uses++;
	c->state = SK_CS_CONNECT;
	sk_timer_arm(c->w->loop, &c->timer, o->connect_timeout_ms);
	return STEP_AGAIN;
}

static enum step start_proxy(struct sk_conn *c)
{
	return connect_next(c, false);
}

static enum step do_connect(struct sk_conn *c)
{
	struct sk_req *r = c->req;
	struct sk_upconn *u = c->up;
	if (!u->connected) {
		if (!u->can_write && !u->can_read)
			return STEP_WAIT;
		int err = 0;
		socklen_t len = sizeof(err);
		if (getsockopt(u->io.fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
			err = errno;
		if (err == 0 && !u->can_write)
			return STEP_WAIT;
		if (err != 0) {
			sk_warn("connect to %s: %s", r->server->addr.text, strerror(err));
			sk_upstream_mark_failed(r->server);
			sk_upstream_close(u);
			c->up = NULL;
			if (r->connect_attempts < r->origin->n_servers)
				return connect_next(c, true);
			return r->tcp_mode ? STEP_CLOSE : reply_error(c, SK_R_UPSTREAM_UNAVAILABLE, false);
		}
		u->connected = true;
	}
	if (u->ssl && !u->tls_ready) {
		char why[200] = "";
		int hr = sk_tls_handshake(u->ssl, why, sizeof(why));
		if (hr == SK_TLS_WAIT) {
			u->can_read = false;
			return STEP_WAIT;
		}
		if (hr == SK_TLS_WAIT_OTHER) {
			u->can_write = false;
			return STEP_WAIT;
		}
		if (hr != 1) {
			if (hr == 0)
				snprintf(why, sizeof(why), "connection closed during the handshake");
			sk_warn("TLS to origin %s (%s): %s", r->server->addr.text, r->origin->name, why);
			sk_upstream_mark_failed(r->server);
			sk_upstream_close(u);
			c->up = NULL;
			if (r->connect_attempts < r->origin->n_servers)
				return connect_next(c, true);
			return r->tcp_mode ? STEP_CLOSE : reply_error(c, SK_R_UPSTREAM_UNAVAILABLE, false);
		}
		u->tls_ready = true;
	}
	r->server->failed_until = 0;
	sk_metrics_server_ok(r->server->mslot);
	c->state = r->tcp_mode ? SK_CS_TUNNEL : SK_CS_SEND;
	r->last_io_ms = sk_loop_now(c->w->loop);
	sk_timer_arm(c->w->loop, &c->timer,
		     r->tcp_mode ? cfg_of(c)->listeners[c->listener].idle_timeout_ms : cfg_of(c)->timeouts.send_ms);
	return STEP_AGAIN;
}

/* The upstream failed before any byte of the response: retry once on a fresh connection when that is
 * safe (a reused idle connection the origin had closed, an idempotent request without a body). */
static enum step upstream_failed(struct sk_conn *c, enum sk_reason reason)
{
	struct sk_req *r = c->req;
	bool can_retry = r->up_reused && !r->retried && !r->resp_any && r->req_body == SK_BODY_NONE &&
			 method_idempotent(r) && reason == SK_R_UPSTREAM_UNAVAILABLE;
	if (c->up) {
		sk_upstream_close(c->up);
		c->up = NULL;
	}
	if (can_retry) {
		r->retried = true;
		r->head_queued = false;
		r->uout.n = 0;
		r->connect_attempts = 0;
		return connect_next(c, true);
	}
	if (reason == SK_R_UPSTREAM_UNAVAILABLE && !r->resp_any)
		sk_upstream_mark_failed(r->server);
	if (r->resp_any && r->status) {
		/* The response head was already sent: all we can do is cut the connection. */
		r->keep_alive = false;
		return STEP_CLOSE;
	}
	return reply_error(c, reason, false);
}

/* ---- request head and body toward the upstream ---- */

/*
 * Appends the framing of decoded chunk data [p, p+dlen) to o: "<hex>\r\n", the data, "\r\n".
 * The caller made sure three slots are free.
 */
static void out_push_chunk(struct sk_out *o, char *line, const char *p, size_t dlen)
{
	size_t k = put_hex_line(line, dlen);
	out_push(o, line, k);
	out_push(o, p, dlen);
	out_push(o, CRLF, 2);
}

/*
 * Moves request-body bytes already in rbuf into uout (behind the head, when it is still queued), so
 * that a head and a small body leave in one writev. Returns -1 on a malformed chunked body.
 */
static int req_fill(struct sk_req *r, struct sk_buf *b)
{
	while (!r->req_body_done && (size_t)r->uout.n + 4 <= SK_ARRAY_LEN(r->uout.iov)) {
		if (r->req_last_chunk) {
			r->req_last_chunk = false;
			r->req_body_done = true;
			out_push(&r->uout, LAST_CHUNK, sizeof(LAST_CHUNK) - 1);
			break;
		}
		size_t avail = b->len - b->off;
		if (avail == 0)
			break;
		char *p = b->data + b->off;
		if (r->req_body == SK_BODY_LENGTH) {
			size_t take = (size_t)SK_MIN((uint64_t)avail, r->req_remaining);
			out_push(&r->uout, p, take);
			b->off += (uint32_t)take;
			r->bytes_in += take;
			r->req_remaining -= take;
			if (r->req_remaining == 0)
				r->req_body_done = true;
			break;
		}
		/* chunked: decode in place (each byte once), then frame the data as one chunk */
		size_t dlen = avail, rest = 0;
		enum sk_chunked_result cr = sk_h1_chunked_decode(&r->req_chunk, p, &dlen, &rest);
		if (cr == SK_CHUNKED_BAD)
			return -1;
		r->bytes_in += avail - rest; /* the raw bytes of this body; rest belongs to the next request */
		b->len = b->off + (uint32_t)(dlen + rest);
		if (dlen) {
			out_push_chunk(&r->uout, r->chunk_line, p, dlen);
			b->off += (uint32_t)dlen;
		}
		if (cr == SK_CHUNKED_DONE)
			r->req_last_chunk = true;
		else
			break; /* one chunk line buffer: the next chunk waits for this one to leave */
	}
	return 0;
}

static enum step do_send(struct sk_conn *c)
{
	struct sk_req *r = c->req;
	struct sk_upconn *u = c->up;
	struct sk_buf *b = c->rbuf;
	for (;;) {
		if (r->vout.n) { /* "100 Continue" toward the viewer */
			int f = out_flush(c->io.fd, c->ssl, &r->vout, &c->can_write, &r->bytes_out);
			if (f < 0)
				return STEP_CLOSE;
			if (f == 0)
				return STEP_WAIT;
		}
		if (!r->head_queued) {
			out_set1(&r->uout, r->hbuf->data, r->head_out_len);
			r->head_queued = true;
		}
		if (r->uout.n == 0 || (r->uout.n == 1 && r->uout.iov[0].iov_base == r->hbuf->data)) {
			if (req_fill(r, b) == -1) {
				if (c->up) {
					sk_upstream_close(c->up);
					c->up = NULL;
				}
				return reply_error(c, SK_R_BAD_REQUEST, true);
			}
		}
		if (r->uout.n) {
			int f = out_flush(u->io.fd, u->ssl, &r->uout, &u->can_write, NULL);
			if (f < 0)
				return upstream_failed(c, SK_R_UPSTREAM_UNAVAILABLE);
			if (f == 0)
				return STEP_WAIT;
			r->last_io_ms = sk_loop_now(c->w->loop);
			continue;
		}
		if (r->req_body_done) {
			c->state = SK_CS_RESP_HEAD;
			sk_timer_arm(c->w->loop, &c->timer, r->origin->response_timeout_ms);
			return STEP_AGAIN;
		}
		/* rbuf is empty and more body is due */
		if ((r->hreq.flags & SK_HF_EXPECT_CONTINUE) && !r->sent_continue && r->hreq.version == SK_HTTP_11) {
			static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
			r->sent_continue = true;
			out_set1(&r->vout, cont, sizeof(cont) - 1);
			continue;
		}
		ssize_t n = read_into(c->io.fd, c->ssl, b, &c->can_read, c->hup);
		if (n == -1)
			return STEP_WAIT;
		if (n <= 0)
			return STEP_CLOSE; /* the viewer went away mid-body */
		r->last_io_ms = sk_loop_now(c->w->loop);
	}
}

/* ---- response ---- */

static enum step begin_tunnel(struct sk_conn *c);

static enum step begin_response(struct sk_conn *c)
{
	struct sk_req *r = c->req;
	struct sk_h1_response *h = &r->hresp;
	struct sk_upconn *u = c->up;
	r->ubuf->off += (uint32_t)h->head_len;
	sk_metrics_upstream_response(c->w->id, c->rt->origins[r->origin - cfg_of(c)->origins].mslot, h->status);

	/* A 101 the viewer did not ask for (or that we did not forward) would switch the viewer into a
	 * protocol it never offered: 502, before anything of it is sent (so r->status is still 0). */
	if (h->status == 101 && !r->upgrade) {
		sk_warn("origin %s answered 101 to a request that asked for no upgrade: 502", r->server->addr.text);
		return upstream_failed(c, SK_R_UPSTREAM_UNAVAILABLE);
	}
	r->status = h->status;
	bool upgrade = h->status == 101;

	r->resp_in = (uint8_t)h->body;
	r->resp_remaining = h->content_length;
	if (h->body == SK_BODY_CHUNKED)
		sk_h1_chunked_init(&r->resp_chunk);
	switch (h->body) {
	case SK_BODY_NONE:
	case SK_BODY_LENGTH:
		r->resp_out = (uint8_t)h->body;
		break;
	case SK_BODY_CHUNKED:
		if (r->hreq.version == SK_HTTP_11) {
			r->resp_out = SK_BODY_CHUNKED;
		} else {
			r->resp_out = SK_BODY_CLOSE;
			r->keep_alive = false;
		}
		break;
	default:
		r->resp_out = SK_BODY_CLOSE;
		r->keep_alive = false;
		break;
	}
	r->up_reusable = !upgrade && h->body != SK_BODY_CLOSE && !(h->flags & SK_HF_CONN_CLOSE) &&
			 (h->minor_version == 1 || (h->flags & SK_HF_CONN_KEEPALIVE));
	(void)u;

	struct sk_fwd_response f = {
		.resp = h,
		.keep_alive = r->keep_alive,
		.viewer_http10 = r->hreq.version == SK_HTTP_10,
		.upgrade = upgrade,
		.body = r->resp_out,
		.content_length = h->content_length,
	};
	ssize_t n = sk_forward_response_head(&f, r->hbuf->data, sizeof(r->hbuf->data));
	if (n < 0)
		return upstream_failed(c, SK_R_UPSTREAM_UNAVAILABLE);
	out_set1(&r->vout, r->hbuf->data, (size_t)n);
	r->resp_done = r->resp_out == SK_BODY_NONE || (h->body == SK_BODY_LENGTH && h->content_length == 0);
	if (upgrade)
		return begin_tunnel(c);
	c->state = SK_CS_RESP_BODY;
	r->last_io_ms = sk_loop_now(c->w->loop);
	sk_timer_arm(c->w->loop, &c->timer, cfg_of(c)->timeouts.send_ms);
	return STEP_AGAIN;
}

static enum step do_resp_head(struct sk_conn *c)
{
	struct sk_req *r = c->req;
	struct sk_upconn *u = c->up;
	if (!r->ubuf)
		r->ubuf = sk_buf_get(c->w);
	struct sk_buf *b = r->ubuf;
	for (;;) {
		if (b->len > b->off) {
			enum sk_h1_result pr = sk_h1_parse_response(b->data + b->off, b->len - b->off, &c->rt->limits,
								    r->head_method, &r->hresp, r->resp_headers,
								    SK_MAX_HEADERS);
			if (pr == SK_H1_DONE) {
				if (r->hresp.status >= 100 && r->hresp.status < 200 && r->hresp.status != 101) {
					b->off += (uint32_t)r->hresp.head_len; /* interim responses are dropped */
					continue;
				}
				return begin_response(c);
			}
			if (pr != SK_H1_INCOMPLETE) {
				sk_warn("bad response head from %s", r->server->addr.text);
				r->resp_any = true;
				r->status = 0;
				return upstream_failed(c, SK_R_UPSTREAM_UNAVAILABLE);
			}
			if (b->off > 0 && b->len == sizeof(b->data)) {
				memmove(b->data, b->data + b->off, b->len - b->off);
				b->len -= b->off;
				b->off = 0;
			}
		}
		ssize_t n = read_into(u->io.fd, u->ssl, b, &u->can_read, u->hup);
		if (n > 0) {
			r->resp_any = true;
			continue;
		}
		if (n == -1 && b->len < sizeof(b->data))
			return STEP_WAIT;
		/* EOF, an error, or a head that does not fit the buffer */
		return upstream_failed(c, SK_R_UPSTREAM_UNAVAILABLE);
	}
}

static enum step finish_request(struct sk_conn *c);

/*
 * Moves response-body bytes from ubuf into vout (behind the head when it is still queued), re-framing
 * chunked bodies. Returns -1 on a malformed chunked body.
 */
static int resp_fill(struct sk_req *r, struct sk_buf *b)
{
	while (!r->resp_done && (size_t)r->vout.n + 4 <= SK_ARRAY_LEN(r->vout.iov)) {
		if (r->resp_last_chunk) {
			r->resp_last_chunk = false;
			r->resp_done = true;
			out_push(&r->vout, LAST_CHUNK, sizeof(LAST_CHUNK) - 1);
			break;
		}
		size_t avail = b->len - b->off;
		if (avail == 0)
			break;
		char *p = b->data + b->off;
		if (r->resp_in == SK_BODY_LENGTH) {
			size_t take = (size_t)SK_MIN((uint64_t)avail, r->resp_remaining);
			out_push(&r->vout, p, take);
			b->off += (uint32_t)take;
			r->resp_remaining -= take;
			if (r->resp_remaining == 0) {
				r->resp_done = true;
				if (b->off != b->len)
					r->up_reusable = false; /* bytes beyond the body: do not trust this connection */
			}
			break;
		}
		if (r->resp_in != SK_BODY_CHUNKED) { /* close-delimited */
			out_push(&r->vout, p, avail);
			b->off += (uint32_t)avail;
			break;
		}
		size_t dlen = avail, rest = 0;
		enum sk_chunked_result cr = sk_h1_chunked_decode(&r->resp_chunk, p, &dlen, &rest);
		if (cr == SK_CHUNKED_BAD)
			return -1;
		b->len = b->off + (uint32_t)dlen;
		if (rest)
			r->up_reusable = false;
		if (dlen) {
			if (r->resp_out == SK_BODY_CHUNKED)
				out_push_chunk(&r->vout, r->chunk_line, p, dlen);
			else
				out_push(&r->vout, p, dlen);
			b->off += (uint32_t)dlen;
		}
		if (cr != SK_CHUNKED_DONE)
			break;
		if (r->resp_out == SK_BODY_CHUNKED)
			r->resp_last_chunk = true;
		else
			r->resp_done = true;
	}
	return 0;
}

static enum step do_resp_body(struct sk_conn *c)
{
	struct sk_req *r = c->req;
	struct sk_upconn *u = c->up;
	struct sk_buf *b = r->ubuf;
	for (;;) {
		if (r->vout.n == 0 || (r->vout.n == 1 && r->vout.iov[0].iov_base == r->hbuf->data)) {
			if (resp_fill(r, b) == -1) {
				sk_warn("bad chunked body from %s", r->server->addr.text);
				r->up_reusable = false;
				r->keep_alive = false;
				return STEP_CLOSE;
			}
		}
		if (r->vout.n) {
			int f = out_flush(c->io.fd, c->ssl, &r->vout, &c->can_write, &r->bytes_out);
			if (f < 0) {
				r->up_reusable = false;
				return STEP_CLOSE;
			}
			if (f == 0)
				return STEP_WAIT;
			r->last_io_ms = sk_loop_now(c->w->loop);
			continue;
		}
		if (r->resp_done)
			return finish_request(c);
		ssize_t n = read_into(u->io.fd, u->ssl, b, &u->can_read, u->hup);
		if (n == -1)
			return STEP_WAIT;
		if (n <= 0) {
			r->up_reusable = false;
			if (r->resp_in == SK_BODY_CLOSE) {
				r->resp_done = true;
				continue;
			}
			sk_warn("origin %s closed mid-response", r->server->addr.text);
			r->keep_alive = false;
			return STEP_CLOSE;
		}
		r->last_io_ms = sk_loop_now(c->w->loop);
	}
}

/* ---- static files ---- */

static enum step start_static(struct sk_conn *c, int root_fd, struct sk_slice query)
{
	struct sk_req *r = c->req;
	if (!r->req_body_done) {
		/* Static origins take no bodies; the body is not read, so the connection closes after. */
		r->keep_alive = false;
	}
	r->hbuf = sk_buf_get(c->w);
	struct sk_static_resp *sr = (struct sk_static_resp *)r->hbuf->data;
	_Static_assert(sizeof(struct sk_static_resp) <= SK_BUF_SIZE, "static response fits a buffer");
	struct sk_slice path = { .ptr = r->path, .len = r->path_len };
	if (sk_static_prepare(root_fd, path, query, &r->hreq, r->keep_alive, sr) == -1)
		return reply_error(c, SK_R_BAD_REQUEST, true);
	r->status = sr->status;
	if (sr->status == 404)
		r->reason = SK_R_NOT_FOUND;
	r->file_fd = sr->fd;
	r->file_off = sr->offset;
	r->file_left = r->head_method ? 0 : sr->length;
	out_set1(&r->vout, sr->head, sr->head_len);
	c->state = SK_CS_STATIC;
	r->last_io_ms = sk_loop_now(c->w->loop);
	sk_timer_arm(c->w->loop, &c->timer, cfg_of(c)->timeouts.send_ms);
	return STEP_AGAIN;
}

static enum step do_static(struct sk_conn *c)
{
	struct sk_req *r = c->req;
	for (;;) {
		if (r->vout.n) {
			int f = out_flush(c->io.fd, c->ssl, &r->vout, &c->can_write, &r->bytes_out);
			if (f < 0)
				return STEP_CLOSE;
			if (f == 0)
				return STEP_WAIT;
		}
		if (r->file_left == 0) {
			r->resp_done = true;
			return finish_request(c);
		}
		if (!c->can_write)
			return STEP_WAIT;
		if (c->ssl) { /* no sendfile through TLS: read a buffer's worth, then write it as records */
			if (!r->ubuf)
				r->ubuf = sk_buf_get(c->w);
			ssize_t k = pread(r->file_fd, r->ubuf->data, (size_t)SK_MIN(r->file_left, (uint64_t)SK_BUF_SIZE),
					  r->file_off);
			if (k <= 0)
				return STEP_CLOSE; /* the file shrank or failed: the framing cannot be kept */
			r->file_off += k;
			r->file_left -= (uint64_t)k;
			out_set1(&r->vout, r->ubuf->data, (size_t)k);
			continue;
		}
		ssize_t n = sendfile(c->io.fd, r->file_fd, &r->file_off, (size_t)SK_MIN(r->file_left, 1u << 20));
		if (n > 0) {
			r->file_left -= (uint64_t)n;
			r->bytes_out += (uint64_t)n;
			r->last_io_ms = sk_loop_now(c->w->loop);
			continue;
		}
		if (n == -1 && errno == EAGAIN) {
			c->can_write = false;
			return STEP_WAIT;
		}
		if (n == -1 && errno == EINTR)
			continue;
		/* the file shrank, or the viewer went away: the framing cannot be kept */
		return STEP_CLOSE;
	}
}

/* ---- sekisho's own replies ---- */

static enum step start_linger(struct sk_conn *c);

static enum step do_reply(struct sk_conn *c)
{
	struct sk_req *r = c->req;
	int f = out_flush(c->io.fd, c->ssl, &r->vout, &c->can_write, &r->bytes_out);
	if (f < 0)
		return STEP_CLOSE;
	if (f == 0)
		return STEP_WAIT;
	return finish_request(c);
}

/* ---- tunnels (after 101, and tcp listeners) ---- */

/*
 * Moves bytes from src to dst through b and out. Returns -1 on a socket error, else 0; sets *eof when
 * src has ended (and then half-closes dst once everything before the end was written).
 */
static int pump(int src, struct ssl_st *src_ssl, bool *src_can_read, bool src_hup, bool *eof, bool *shut,
		struct sk_buf *b, int dst, struct ssl_st *dst_ssl, bool *dst_can_write, struct sk_out *out,
		uint64_t *count, bool *progress)
{
	for (;;) {
		if (out->n) {
			int f = out_flush(dst, dst_ssl, out, dst_can_write, count);
			if (f < 0)
				return -1;
			if (f == 0)
				return 0;
			*progress = true;
		}
		if (b->len > b->off) {
			out_set1(out, b->data + b->off, b->len - b->off);
			b->off = b->len;
			continue;
		}
		if (*eof) {
			if (!*shut) {
				sk_stream_shutdown_write(dst, dst_ssl);
				*shut = true;
			}
			return 0;
		}
		ssize_t n = read_into(src, src_ssl, b, src_can_read, src_hup);
		if (n == -1)
			return 0;
		if (n == -2)
			return -1;
		if (n == 0) {
			*eof = true;
			continue;
		}
		*progress = true;
	}
}

static enum step begin_tunnel(struct sk_conn *c)
{
	struct sk_req *r = c->req;
	if (!r->ubuf)
		r->ubuf = sk_buf_get(c->w);
	c->state = SK_CS_TUNNEL;
	r->up_reusable = false;
	r->keep_alive = false;
	r->last_io_ms = sk_loop_now(c->w->loop);
	sk_timer_arm(c->w->loop, &c->timer, r->beh ? r->beh->idle_timeout_ms
						   : cfg_of(c)->listeners[c->listener].idle_timeout_ms);
	return STEP_AGAIN;
}

/*
 * A waiting tunnel gives back every buffer that holds nothing still to be sent (DESIGN §9: a silent tunnel
 * holds none); do_tunnel takes them again from the worker's free list when bytes arrive. A buffer behind
 * pending output (a slow receiver) is kept: that is the backpressure. The request head's slices pointed
 * into the read buffer: they are forgotten with it (nothing reads them in a tunnel; the log has copies).
 */
static void tunnel_release(struct sk_conn *c)
{
	struct sk_req *r = c->req;
	struct sk_worker *w = c->w;
	if (r->vout.n || r->uout.n)
		return; /* an output still points into one of them */
	if (r->ubuf && r->ubuf->off == r->ubuf->len) {
		sk_buf_put(w, r->ubuf);
		r->ubuf = NULL;
	}
	if (c->rbuf && c->rbuf->off == c->rbuf->len) {
		sk_buf_put(w, c->rbuf);
		c->rbuf = NULL;
		r->hreq.headers = NULL;
		r->hreq.n_headers = 0;
	}
	if (r->hbuf) { /* the heads of the upgrade: long sent */
		sk_buf_put(w, r->hbuf);
		r->hbuf = NULL;
	}
}

static enum step do_tunnel(struct sk_conn *c)
{
	struct sk_req *r = c->req;
	struct sk_upconn *u = c->up;
	if (!r->ubuf)
		r->ubuf = sk_buf_get(c->w);
	if (!c->rbuf)
		c->rbuf = sk_buf_get(c->w);
	bool progress = false;
	/* The 101 head (and anything after it) goes first: it sits in vout / ubuf already. */
	if (pump(u->io.fd, u->ssl, &u->can_read, u->hup, &r->u_eof, &r->v_shut, r->ubuf, c->io.fd, c->ssl,
		 &c->can_write, &r->vout, &r->bytes_out, &progress) < 0)
		return STEP_CLOSE;
	if (pump(c->io.fd, c->ssl, &c->can_read, c->hup, &r->v_eof, &r->u_shut, c->rbuf, u->io.fd, u->ssl,
		 &u->can_write, &r->uout, &r->bytes_in, &progress) < 0)
		return STEP_CLOSE;
	if (progress)
		r->last_io_ms = sk_loop_now(c->w->loop);
	if (r->u_eof && r->v_eof && !r->vout.n && !r->uout.n)
		return STEP_CLOSE;
	tunnel_release(c);
	return STEP_WAIT;
}

/* ---- end of a request ---- */

static enum step finish_request(struct sk_conn *c)
{
	struct sk_req *r = c->req;
	log_request(c);
	if (c->up) {
		if (r->up_reusable && r->resp_done && r->req_body_done)
			sk_upstream_release(c->up);
		else
			sk_upstream_close(c->up);
		c->up = NULL;
	}
	bool keep = r->keep_alive && !c->w->stopping && (r->req_body_done || r->req_body == SK_BODY_NONE);
	req_put(c);
	if (!keep)
		return start_linger(c);
	struct sk_buf *b = c->rbuf;
	if (b && b->len > b->off) {
		c->state = SK_CS_HEAD; /* a pipelined request is already here */
		sk_timer_arm(c->w->loop, &c->timer, cfg_of(c)->timeouts.header_read_ms);
	} else {
		if (b) {
			sk_buf_put(c->w, b);
			c->rbuf = NULL;
		}
		c->state = SK_CS_IDLE;
		sk_timer_arm(c->w->loop, &c->timer, cfg_of(c)->timeouts.keepalive_ms);
	}
	return STEP_AGAIN;
}

/* Half-closes and waits briefly for the viewer to close, so that a final response is not destroyed by
 * a reset caused by unread request bytes (the "lingering close" of Apache and nginx). */
static enum step start_linger(struct sk_conn *c)
{
	if (sk_stream_shutdown_write(c->io.fd, c->ssl) == -1)
		return STEP_CLOSE;
	c->closing = true;
	if (c->rbuf) { /* what is left in it (pipelined requests) is discarded with the rest */
		sk_buf_put(c->w, c->rbuf);
		c->rbuf = NULL;
	}
	sk_timer_arm(c->w->loop, &c->timer, LINGER_MS);
	return STEP_WAIT;
}

static enum step do_linger(struct sk_conn *c)
{
	char sink[4096]; /* bytes to throw away need no buffer of the connection's */
	while (c->can_read) {
		/* Plain reads even over TLS: these bytes are thrown away, there is nothing to decrypt. */
		ssize_t n = sk_stream_read(c->io.fd, NULL, sink, sizeof(sink));
		if (n > 0)
			continue;
		if (n == SK_IO_WAIT) {
			c->can_read = false;
			return STEP_WAIT;
		}
		return STEP_CLOSE; /* the viewer closed (or failed): done */
	}
	return STEP_WAIT;
}

/* ---- reading request heads ---- */

/* Advances the viewer's TLS handshake (under the header-read deadline armed at accept). */
static enum step tls_accept(struct sk_conn *c)
{
	char why[200] = "";
	int r = sk_tls_handshake(c->ssl, why, sizeof(why));
	if (r == SK_TLS_WAIT) {
		c->can_read = false;
		return STEP_WAIT;
	}
	if (r == SK_TLS_WAIT_OTHER) {
		c->can_write = false;
		return STEP_WAIT;
	}
	if (r == 0)
		return STEP_CLOSE;
	if (r != 1) {
		sk_metrics_add(c->w->id, SK_M_TLS_FAILED, 1);
		sk_metrics_tls(c->w->id, sk_runtime_listener_mslot(c->rt, c->listener), false);
		char ip[INET6_ADDRSTRLEN] = "?";
		if (c->peer.sin6_family == AF_INET6)
			inet_ntop(AF_INET6, &c->peer.sin6_addr, ip, sizeof(ip));
		else
			inet_ntop(AF_INET, &((const struct sockaddr_in *)&c->peer)->sin_addr, ip, sizeof(ip));
		sk_info("client %s: TLS handshake failed on listener '%s': %s", ip, cfg_of(c)->listeners[c->listener].name,
			why);
		return STEP_CLOSE;
	}
	c->tls_ready = true;
	/* The handshake reads whatever can_read says, and reading ahead it may have taken the request's
	 * records from the socket too: read on until WANT_READ, no edge will come for those bytes. */
	c->can_read = true;
	sk_metrics_tls(c->w->id, sk_runtime_listener_mslot(c->rt, c->listener), true);
	if (sk_tls_resumed(c->ssl))
		sk_metrics_add(c->w->id, SK_M_TLS_RESUMED, 1);
	return STEP_AGAIN;
}

static enum step do_head(struct sk_conn *c)
{
	struct sk_worker *w = c->w;
	if (c->ssl && !c->tls_ready) {
		enum step s = tls_accept(c);
		if (s != STEP_AGAIN)
			return s;
	}
	for (;;) {
		struct sk_buf *b = c->rbuf;
		if (b && b->len > b->off) {
			if (!c->req) {
				c->req = req_get(w);
				c->req->conn = c;
				c->req->start_ms = sk_loop_now(w->loop);
				c->req->start_wall_ms = sk_wall_ms();
			}
			struct sk_req *r = c->req;
			enum sk_h1_result pr = sk_h1_parse_request(b->data + b->off, b->len - b->off, &c->rt->limits,
								   &r->hreq, r->headers, SK_MAX_HEADERS);
			switch (pr) {
			case SK_H1_DONE:
				return begin_request(c);
			case SK_H1_INCOMPLETE:
				break;
			case SK_H1_URI_TOO_LONG:
				r->hreq.headers = NULL;
				return reply_error(c, SK_R_URI_TOO_LONG, true);
			case SK_H1_HEAD_TOO_LARGE:
				r->hreq.headers = NULL;
				return reply_error(c, SK_R_HEADERS_TOO_LARGE, true);
			case SK_H1_NOT_IMPLEMENTED:
				r->hreq.headers = NULL;
				return reply_error(c, SK_R_NOT_IMPLEMENTED, true);
			default:
				r->hreq.headers = NULL;
				fill_client(c);
				sk_info("client %s: malformed request head, answered 400", r->client.ip);
				return reply_error(c, SK_R_BAD_REQUEST, true);
			}
			if (b->off > 0) { /* make room at the end for the rest of the head */
				memmove(b->data, b->data + b->off, b->len - b->off);
				b->len -= b->off;
				b->off = 0;
			}
		}
		if (!c->can_read)
			return STEP_WAIT;
		if (!b)
			b = c->rbuf = sk_buf_get(w);
		ssize_t n = read_into(c->io.fd, c->ssl, b, &c->can_read, c->hup);
		if (n > 0) {
			if (c->state == SK_CS_IDLE) {
				c->state = SK_CS_HEAD;
				sk_timer_arm(w->loop, &c->timer, cfg_of(c)->timeouts.header_read_ms);
			}
			continue;
		}
		if (n == -1) {
			if (c->state == SK_CS_IDLE && b->len == b->off) {
				sk_buf_put(w, b); /* an idle keep-alive connection holds no buffer */
				c->rbuf = NULL;
			}
			return STEP_WAIT;
		}
		return STEP_CLOSE; /* EOF or error while waiting for a head */
	}
}

/* ---- driver ---- */

static void conn_run(struct sk_conn *c)
{
	for (;;) {
		enum step s;
		if (c->closing) {
			s = do_linger(c);
		} else {
			switch (c->state) {
			case SK_CS_IDLE:
			case SK_CS_HEAD: s = do_head(c); break;
			case SK_CS_ACCESS: s = do_access(c); break;
			case SK_CS_CONNECT: s = do_connect(c); break;
			case SK_CS_SEND: s = do_send(c); break;
			case SK_CS_RESP_HEAD: s = do_resp_head(c); break;
			case SK_CS_RESP_BODY: s = do_resp_body(c); break;
			case SK_CS_STATIC: s = do_static(c); break;
			case SK_CS_REPLY: s = do_reply(c); break;
			case SK_CS_TUNNEL: s = do_tunnel(c); break;
			case SK_CS_PORTAL: s = do_portal(c); break;
			default: SK_ASSERT(!"unknown connection state");
			}
		}
		if (s == STEP_WAIT)
			return;
		if (s == STEP_CLOSE) {
			conn_close(c);
			return;
		}
	}
}

static void on_viewer(struct sk_io *io, uint32_t ev)
{
	struct sk_conn *c = SK_CONTAINER_OF(io, struct sk_conn, io);
	if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		c->can_read = true;
	if (ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		c->hup = true;
	if (ev & (EPOLLOUT | EPOLLHUP | EPOLLERR))
		c->can_write = true;
	conn_run(c);
}

void sk_conn_upstream_event(struct sk_conn *c)
{
	conn_run(c);
}

static void on_timer(struct sk_timer *t)
{
	struct sk_conn *c = SK_CONTAINER_OF(t, struct sk_conn, timer);
	struct sk_req *r = c->req;
	uint64_t now = sk_loop_now(c->w->loop);
	if (c->closing) {
		conn_close(c);
		return;
	}
	enum step s = STEP_CLOSE;
	switch (c->state) {
	case SK_CS_IDLE:
		break;
	case SK_CS_HEAD:
		if (r && c->rbuf && c->rbuf->len > c->rbuf->off) {
			r->hreq.headers = NULL;
			s = reply_error(c, SK_R_REQUEST_TIMEOUT, true);
		}
		break;
	case SK_CS_ACCESS: {
		enum sk_reason why = sk_access_req_timeout_reason(&r->areq);
		sk_access_req_cancel(&r->areq);
		s = reply_error(c, why, true);
		break;
	}
	case SK_CS_CONNECT:
		sk_warn("connect to %s: timed out", r->server->addr.text);
		sk_upstream_mark_failed(r->server);
		if (!r->tcp_mode)
			s = upstream_failed(c, SK_R_UPSTREAM_TIMEOUT);
		break;
	case SK_CS_RESP_HEAD:
		sk_warn("origin %s: no response head in time", r->server->addr.text);
		s = upstream_failed(c, SK_R_UPSTREAM_TIMEOUT);
		break;
	case SK_CS_SEND:
	case SK_CS_RESP_BODY:
	case SK_CS_STATIC:
	case SK_CS_TUNNEL: {
		/* These deadlines measure inactivity: re-arm for what is left since the last byte moved. */
		uint64_t limit = c->state == SK_CS_TUNNEL
					 ? (r->beh ? r->beh->idle_timeout_ms
						   : cfg_of(c)->listeners[c->listener].idle_timeout_ms)
					 : cfg_of(c)->timeouts.send_ms;
		if (now - r->last_io_ms < limit) {
			sk_timer_arm(c->w->loop, &c->timer, limit - (now - r->last_io_ms));
			return;
		}
		if (c->state == SK_CS_SEND && !r->resp_any)
			s = upstream_failed(c, SK_R_UPSTREAM_TIMEOUT);
		break;
	}
	default:
		break;
	}
	if (s == STEP_CLOSE)
		conn_close(c);
	else
		conn_run(c);
}

/* ---- lifetime ---- */

/* The worker's list has the current snapshot first, so accepting finds it at once; an old generation's
 * last close hands the worker's reference to the main thread, which frees it (DESIGN §9). */
static void snap_count(struct sk_worker *w, struct sk_runtime *rt, int delta)
{
	for (struct sk_snapref **p = &w->snaps; *p; p = &(*p)->next) {
		struct sk_snapref *s = *p;
		if (s->rt != rt)
			continue;
		s->conns = (uint32_t)((int)s->conns + delta);
		if (s->conns == 0 && rt != w->rt) {
			*p = s->next;
			sk_runtime_release_later(s);
		}
		return;
	}
	SK_ASSERT(!"connection snapshot not tracked by its worker");
}

void sk_conn_accept(struct sk_worker *w, int fd, const struct sockaddr *peer, socklen_t plen,
		    uint16_t listener)
{
	struct sk_conn *c = sk_calloc(1, sizeof(*c));
	c->io.fd = fd;
	c->io.cb = on_viewer;
	c->timer.cb = on_timer;
	c->w = w;
	c->rt = w->rt;
	c->listener = listener;
	memcpy(&c->peer, peer, SK_MIN((size_t)plen, sizeof(c->peer)));
	sk_flow_accept(c);
	snap_count(w, c->rt, +1);
	c->next = w->conns;
	if (w->conns)
		w->conns->prev = c;
	w->conns = c;
	w->n_conns++;
	if (sk_loop_add(w->loop, &c->io, EPOLLIN | EPOLLOUT | EPOLLRDHUP) == -1) {
		conn_close(c);
		return;
	}
	const struct sk_listener *l = listener == SK_ADMIN_LISTENER ? NULL : &c->rt->cfg->listeners[listener];
	if (l && l->tls.present) {
		c->tls = true;
		c->ssl = sk_tls_server_ssl(c->rt->listeners[listener].tls, fd);
		if (!c->ssl) {
			conn_close(c);
			return;
		}
	}
	if (l && l->mode == SK_MODE_TCP) {
		struct sk_req *r = c->req = req_get(w);
		r->conn = c;
		r->tcp_mode = true;
		r->origin = sk_config_origin(c->rt->cfg, l->origin);
		r->start_ms = sk_loop_now(w->loop);
		r->start_wall_ms = sk_wall_ms();
		c->rbuf = sk_buf_get(w);
		r->ubuf = sk_buf_get(w);
		enum step s = connect_next(c, true);
		if (s == STEP_CLOSE || c->state != SK_CS_CONNECT) {
			conn_close(c);
			return;
		}
		return; /* events drive the connect */
	}
	c->state = SK_CS_HEAD;
	sk_timer_arm(w->loop, &c->timer, c->rt->cfg->timeouts.header_read_ms);
	/* Clients send the request (or ClientHello) right after connecting: read it now instead of one
	 * event-loop round later, a round that under a reconnect storm carries every other connection's
	 * work (issue 15: p99 of new connections). Nothing there yet: EAGAIN, and the edge will come. */
	c->can_read = true;
	conn_run(c);
}

static void conn_close(struct sk_conn *c)
{
	struct sk_worker *w = c->w;
	sk_timer_cancel(w->loop, &c->timer);
	if (c->up) {
		sk_upstream_close(c->up);
		c->up = NULL;
	}
	if (c->req)
		log_request(c);
	if (c->flow.enabled) {
		int64_t now = (int64_t)(sk_wall_ms() / 1000);
		sk_flow_report(w, c, sk_flowlog_window(now, c->rt->cfg->flow_log.interval_ms), now);
	}
	req_put(c);
	if (c->rbuf)
		sk_buf_put(w, c->rbuf);
	if (c->ssl) {
		sk_tls_free(c->ssl);
		c->ssl = NULL;
	}
	if (c->prev)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	w->n_conns--;
	sk_metrics_conn_closed(w->id, sk_runtime_listener_mslot(c->rt, c->listener));
	snap_count(w, c->rt, -1);
	sk_loop_close_free(w->loop, &c->io, c);
}

void sk_conn_drain_all(struct sk_worker *w)
{
	struct sk_conn *c = w->conns;
	while (c) {
		struct sk_conn *next = c->next;
		if ((c->state == SK_CS_IDLE || (c->state == SK_CS_HEAD && !c->req)) && !c->closing)
			conn_close(c);
		c = next;
	}
}

void sk_conn_force_close(struct sk_conn *c)
{
	conn_close(c);
}

void sk_conn_free_reqs(struct sk_worker *w)
{
	while (w->free_reqs) {
		struct sk_req *r = w->free_reqs;
		w->free_reqs = r->next_free;
		free(r);
	}
	w->n_free_reqs = 0;
}
