/*
 * h1_client.c — the HTTP/1.1 client side of an exchange (h1_client.h): connect, send the request head and
 * body, read the response head, hand out the response body decoded.
 *
 * The exchange's hbuf holds the request head (built by the exchange while the viewer's fields were valid).
 * The request body is pulled from the viewer's protocol (ex->front->body_peek), decoded, and framed here
 * for the origin; the response body is decoded here in place in ubuf and framed by the viewer's writer.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "core/log.h"
#include "obs/metrics.h"
#include "proxy/exchange.h"

/* A state finished its work and the next one can run at once (internal to sk_h1c_run). */
#define STEP_NEXT ((enum sk_ex_step)0x7f)

static const char CRLF[] = "\r\n";
static const char LAST_CHUNK[] = "0\r\n\r\n";

static bool method_idempotent(const struct sk_exchange *ex)
{
	struct sk_slice m = ex->hreq.method;
	return sk_slice_eq(m, "GET") || sk_slice_eq(m, "HEAD") || sk_slice_eq(m, "OPTIONS") ||
	       sk_slice_eq(m, "PUT") || sk_slice_eq(m, "DELETE") || sk_slice_eq(m, "TRACE");
}

static const struct sk_origin_rt *origin_rt(const struct sk_exchange *ex)
{
	return &ex->rt->origins[ex->origin - ex->rt->cfg->origins];
}

static void arm(struct sk_exchange *ex, uint64_t ms)
{
	sk_timer_arm(ex->w->loop, ex->timer, ms);
}

/* No server could be reached: a tcp listener's connection just closes, a request gets 502. */
static enum sk_ex_step unavailable(struct sk_exchange *ex)
{
	if (ex->tcp_mode)
		return SK_EXS_CLOSE;
	sk_exchange_reply_error(ex, SK_R_UPSTREAM_UNAVAILABLE);
	return SK_EXS_RESPOND;
}

/* Egress (DESIGN §5a): the checked addresses, in DNS order, each once; a pool per destination. */
static enum sk_ex_step egress_connect_next(struct sk_exchange *ex, bool fresh)
{
	struct sk_h1c *k = &ex->client;
	for (;;) {
		if (k->server) {
			sk_upstream_egress_unref(k->server);
			k->server = NULL;
		}
		if (ex->eaddr_next >= ex->n_eaddrs)
			return unavailable(ex);
		k->server = sk_upstream_egress_pool(ex->w, &ex->eaddrs[ex->eaddr_next++], SK_EGRESS_MAX_IDLE);
		snprintf(ex->eaddr_text, sizeof(ex->eaddr_text), "%s", k->server->addr.text);
		bool reused = false;
		k->up = sk_upstream_get(k->server, ex, fresh || ex->egress_connect, &reused, NULL);
		k->connect_attempts++;
		if (k->up) {
			k->up_reused = reused;
			k->up->uses++;
			k->state = SK_H1C_CONNECT;
			arm(ex, SK_EGRESS_CONNECT_MS);
			return STEP_NEXT;
		}
	}
}

static enum sk_ex_step connect_next(struct sk_exchange *ex, bool fresh)
{
	struct sk_h1c *k = &ex->client;
	if (ex->egress)
		return egress_connect_next(ex, fresh);
	const struct sk_origin *o = ex->origin;
	const struct sk_tls_client *tls = origin_rt(ex)->tls;
	k->server = sk_upstream_pick(ex->w, o, tls ? sk_tls_client_id(tls) : 0);
	bool reused = false;
	k->up = sk_upstream_get(k->server, ex, fresh, &reused, tls);
	k->connect_attempts++;
	if (!k->up) {
		sk_upstream_mark_failed(k->server);
		if (k->connect_attempts < o->n_servers)
			return connect_next(ex, true);
		return unavailable(ex);
	}
	k->up_reused = reused;
	k->up->uses++;
	k->state = SK_H1C_CONNECT;
	arm(ex, o->connect_timeout_ms);
	return STEP_NEXT;
}

enum sk_ex_step sk_h1c_start(struct sk_exchange *ex, enum sk_http_body body)
{
	ex->client.req_body = (uint8_t)body;
	ex->client.req_body_done = body == SK_BODY_NONE;
	enum sk_ex_step s = connect_next(ex, false);
	return s == STEP_NEXT ? sk_h1c_run(ex) : s;
}

/* A server failed to connect or handshake: mark it and try the next one. */
static enum sk_ex_step connect_failed(struct sk_exchange *ex)
{
	struct sk_h1c *k = &ex->client;
	sk_upstream_mark_failed(k->server);
	sk_upstream_close(k->up);
	k->up = NULL;
	if (ex->egress || k->connect_attempts < ex->origin->n_servers)
		return connect_next(ex, true);
	return unavailable(ex);
}

static enum sk_ex_step do_connect(struct sk_exchange *ex)
{
	struct sk_h1c *k = &ex->client;
	struct sk_upconn *u = k->up;
	if (!u->connected) {
		if (!u->ep.can_write && !u->ep.can_read)
			return SK_EXS_WAIT;
		int err = 0;
		socklen_t len = sizeof(err);
		if (getsockopt(u->ep.io.fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
			err = errno;
		if (err == 0 && !u->ep.can_write)
			return SK_EXS_WAIT;
		if (err != 0) {
			sk_warn("connect to %s: %s", k->server->addr.text, strerror(err));
			return connect_failed(ex);
		}
		u->connected = true;
	}
	char why[200] = "";
	switch (sk_endpoint_handshake(&u->ep, why, sizeof(why))) {
	case SK_HS_WAIT:
		return SK_EXS_WAIT;
	case SK_HS_CLOSED:
		snprintf(why, sizeof(why), "connection closed during the handshake");
		/* fall through */
	case SK_HS_FAILED:
		sk_warn("TLS to origin %s (%s): %s", k->server->addr.text, ex->origin ? ex->origin->name : "-", why);
		return connect_failed(ex);
	case SK_HS_DONE:
		break;
	}
	k->server->failed_until = 0;
	if (!k->server->egress)
		sk_metrics_server_ok(k->server->mslot);
	ex->last_io_ms = sk_loop_now(ex->w->loop);
	if (ex->egress)
		sk_flow_upstream_start(ex);
	if (ex->egress_connect) { /* CONNECT: 200, then the tunnel */
		k->state = SK_H1C_TUNNEL;
		sk_exchange_reply_tunnel(ex);
		return SK_EXS_RESPOND;
	}
	if (ex->tcp_mode) {
		k->state = SK_H1C_TUNNEL;
		ex->state = SK_EX_TUNNEL;
		return SK_EXS_RESPOND;
	}
	k->state = SK_H1C_SEND;
	arm(ex, ex->rt->cfg->timeouts.send_ms);
	return STEP_NEXT;
}

/*
 * The origin failed before any byte of the response: retry once on a fresh connection when that is safe
 * (a reused idle connection the origin had closed, an idempotent request without a body).
 */
static enum sk_ex_step upstream_failed(struct sk_exchange *ex, enum sk_reason reason)
{
	struct sk_h1c *k = &ex->client;
	bool can_retry = k->up_reused && !k->retried && !k->resp_any && k->req_body == SK_BODY_NONE &&
			 method_idempotent(ex) && reason == SK_R_UPSTREAM_UNAVAILABLE;
	if (k->up) {
		sk_upstream_close(k->up);
		k->up = NULL;
	}
	if (can_retry) {
		k->retried = true;
		k->head_queued = false;
		k->uout.n = 0;
		k->connect_attempts = 0;
		if (ex->egress && ex->eaddr_next > 0)
			ex->eaddr_next--; /* the same destination, on a fresh connection */
		return connect_next(ex, true);
	}
	if (reason == SK_R_UPSTREAM_UNAVAILABLE && !k->resp_any)
		sk_upstream_mark_failed(k->server);
	sk_exchange_reply_error(ex, reason);
	return SK_EXS_RESPOND;
}

/*
 * Queues request-body bytes from the viewer behind the head (when it is still queued), so that a head and
 * a small body leave in one writev. Returns SK_BODY_DATA when something was queued or the body is done,
 * else what the viewer's side said (WAIT, BAD, GONE).
 */
static enum sk_body_step req_fill(struct sk_exchange *ex)
{
	struct sk_h1c *k = &ex->client;
	if (k->req_last_chunk) {
		k->req_last_chunk = false;
		k->req_body_done = true;
		sk_out_push(&k->uout, LAST_CHUNK, sizeof(LAST_CHUNK) - 1);
		return SK_BODY_DATA;
	}
	struct sk_slice s;
	enum sk_body_step st = ex->front->body_peek(ex, &s);
	if (st == SK_BODY_END) {
		if (k->req_body == SK_BODY_CHUNKED) {
			k->req_last_chunk = true;
			return req_fill(ex);
		}
		k->req_body_done = true;
		return SK_BODY_DATA;
	}
	if (st != SK_BODY_DATA)
		return st;
	if (k->req_body == SK_BODY_CHUNKED) {
		size_t n = sk_h1_chunk_line(k->chunk_line, s.len);
		sk_out_push(&k->uout, k->chunk_line, n);
		sk_out_push(&k->uout, s.ptr, s.len);
		sk_out_push(&k->uout, CRLF, 2);
	} else {
		sk_out_push(&k->uout, s.ptr, s.len);
	}
	ex->front->body_consume(ex, s.len);
	return SK_BODY_DATA;
}

static enum sk_ex_step do_send(struct sk_exchange *ex)
{
	struct sk_h1c *k = &ex->client;
	struct sk_upconn *u = k->up;
	for (;;) {
		if (!k->head_queued) {
			sk_out_set1(&k->uout, ex->hbuf->data, k->head_out_len);
			k->head_queued = true;
		}
		if (!k->req_body_done &&
		    (k->uout.n == 0 || (k->uout.n == 1 && ex->hbuf && k->uout.iov[0].iov_base == ex->hbuf->data))) {
			enum sk_body_step st = req_fill(ex);
			if (st == SK_BODY_BAD) {
				if (k->up) {
					sk_upstream_close(k->up);
					k->up = NULL;
				}
				ex->close_after = true;
				sk_exchange_reply_error(ex, SK_R_BAD_REQUEST);
				return SK_EXS_RESPOND;
			}
			if (st == SK_BODY_GONE)
				return SK_EXS_CLOSE; /* the viewer went away mid-body */
			if (st == SK_BODY_WAIT && k->uout.n == 0)
				return SK_EXS_WAIT;
		}
		if (k->uout.n) {
			int f = sk_endpoint_flush(&u->ep, &k->uout, NULL);
			if (f < 0)
				return upstream_failed(ex, SK_R_UPSTREAM_UNAVAILABLE);
			if (f == 0)
				return SK_EXS_WAIT;
			ex->last_io_ms = sk_loop_now(ex->w->loop);
			/* The head has left. With a body there is no retry (which would send it again), so its buffer
			 * need not be held through an upload: the viewer's writer takes another for the response. */
			if (ex->hbuf && k->req_body != SK_BODY_NONE) {
				sk_buf_put(ex->w, ex->hbuf);
				ex->hbuf = NULL;
			}
			continue;
		}
		if (k->req_body_done) {
			k->state = SK_H1C_RESP_HEAD;
			arm(ex, ex->origin ? ex->origin->response_timeout_ms : SK_EGRESS_RESPONSE_MS);
			return STEP_NEXT;
		}
	}
}

/* The response head is in ubuf: describe the response for the viewer's writer. */
static enum sk_ex_step begin_response(struct sk_exchange *ex)
{
	struct sk_h1c *k = &ex->client;
	struct sk_h1_response *h = &k->hresp;
	k->ubuf->off += (uint32_t)h->head_len;
	if (ex->origin)
		sk_metrics_upstream_response(ex->w->id, origin_rt(ex)->mslot, h->status);

	/* A 101 the viewer did not ask for (or that we did not forward) would switch the viewer into a
	 * protocol it never offered: 502, before anything of it is sent. */
	if (h->status == 101 && !ex->upgrade) {
		sk_warn("origin %s answered 101 to a request that asked for no upgrade: 502", k->server->addr.text);
		return upstream_failed(ex, SK_R_UPSTREAM_UNAVAILABLE);
	}
	bool upgrade = h->status == 101;
	k->resp_in = (uint8_t)h->body;
	k->resp_remaining = h->content_length;
	if (h->body == SK_BODY_CHUNKED)
		sk_h1_chunked_init(&k->resp_chunk);
	k->up_reusable = !upgrade && h->body != SK_BODY_CLOSE && !(h->flags & SK_HF_CONN_CLOSE) &&
			 (h->minor_version == 1 || (h->flags & SK_HF_CONN_KEEPALIVE));
	k->resp_done = h->body == SK_BODY_NONE || (h->body == SK_BODY_LENGTH && h->content_length == 0);
	ex->resp = (struct sk_http_response){
		.status = h->status,
		.reason = h->reason,
		.fields = h->headers,
		.n_fields = h->n_headers,
		.from_origin = true,
		.upgrade = upgrade,
		.body = h->body,
		.length = h->content_length,
	};
	ex->status = h->status;
	ex->resp_src = SK_SRC_ORIGIN;
	if (upgrade) {
		k->state = SK_H1C_TUNNEL;
		k->up_reusable = false;
		ex->state = SK_EX_TUNNEL;
	} else {
		k->state = SK_H1C_RESP_BODY;
		ex->state = SK_EX_RESPOND;
	}
	return SK_EXS_RESPOND;
}

static enum sk_ex_step do_resp_head(struct sk_exchange *ex)
{
	struct sk_h1c *k = &ex->client;
	struct sk_upconn *u = k->up;
	if (!k->ubuf)
		k->ubuf = sk_buf_get(ex->w);
	struct sk_buf *b = k->ubuf;
	for (;;) {
		if (b->len > b->off) {
			enum sk_h1_result pr = sk_h1_parse_response(b->data + b->off, b->len - b->off, &ex->rt->limits,
								    ex->head_method, &k->hresp, ex->resp_headers,
								    SK_MAX_HEADERS);
			if (pr == SK_H1_DONE) {
				if (k->hresp.status >= 100 && k->hresp.status < 200 && k->hresp.status != 101) {
					b->off += (uint32_t)k->hresp.head_len; /* interim responses are dropped */
					continue;
				}
				return begin_response(ex);
			}
			if (pr != SK_H1_INCOMPLETE) {
				sk_warn("bad response head from %s", k->server->addr.text);
				k->resp_any = true;
				return upstream_failed(ex, SK_R_UPSTREAM_UNAVAILABLE);
			}
			if (b->off > 0 && b->len == sizeof(b->data)) {
				memmove(b->data, b->data + b->off, b->len - b->off);
				b->len -= b->off;
				b->off = 0;
			}
		}
		ssize_t n = sk_endpoint_read_into(&u->ep, b);
		if (n > 0) {
			k->resp_any = true;
			continue;
		}
		if (n == -1 && b->len < sizeof(b->data))
			return SK_EXS_WAIT;
		/* EOF, an error, or a head that does not fit the buffer */
		return upstream_failed(ex, SK_R_UPSTREAM_UNAVAILABLE);
	}
}

enum sk_ex_step sk_h1c_run(struct sk_exchange *ex)
{
	for (;;) {
		enum sk_ex_step s;
		switch (ex->client.state) {
		case SK_H1C_IDLE: s = connect_next(ex, true); break; /* a tcp listener's connection */
		case SK_H1C_CONNECT: s = do_connect(ex); break;
		case SK_H1C_SEND: s = do_send(ex); break;
		case SK_H1C_RESP_HEAD: s = do_resp_head(ex); break;
		default: SK_ASSERT(!"h1 client run in a state without work");
		}
		if (s != STEP_NEXT)
			return s;
	}
}

static enum sk_ex_step timeout(struct sk_exchange *ex);

enum sk_ex_step sk_h1c_timeout(struct sk_exchange *ex)
{
	enum sk_ex_step s = timeout(ex);
	return s == STEP_NEXT ? sk_h1c_run(ex) : s; /* a retry on a fresh connection */
}

static enum sk_ex_step timeout(struct sk_exchange *ex)
{
	struct sk_h1c *k = &ex->client;
	switch (k->state) {
	case SK_H1C_CONNECT:
		sk_warn("connect to %s: timed out", k->server->addr.text);
		sk_upstream_mark_failed(k->server);
		if (ex->tcp_mode)
			return SK_EXS_CLOSE;
		return upstream_failed(ex, SK_R_UPSTREAM_TIMEOUT);
	case SK_H1C_RESP_HEAD:
		sk_warn("origin %s: no response head in time", k->server->addr.text);
		return upstream_failed(ex, SK_R_UPSTREAM_TIMEOUT);
	case SK_H1C_SEND: {
		/* An inactivity deadline: re-arm for what is left since the last byte moved. */
		uint64_t now = sk_loop_now(ex->w->loop), limit = ex->rt->cfg->timeouts.send_ms;
		if (now - ex->last_io_ms < limit) {
			arm(ex, limit - (now - ex->last_io_ms));
			return SK_EXS_WAIT;
		}
		if (!k->resp_any)
			return upstream_failed(ex, SK_R_UPSTREAM_TIMEOUT);
		return SK_EXS_CLOSE;
	}
	default:
		return SK_EXS_CLOSE;
	}
}

int sk_h1c_body_peek(struct sk_exchange *ex, struct sk_slice *out)
{
	struct sk_h1c *k = &ex->client;
	struct sk_buf *b = k->ubuf;
	for (;;) {
		if (k->resp_done)
			return SK_BODY_END;
		size_t avail = b->len - b->off;
		if (avail) {
			char *p = b->data + b->off;
			if (k->resp_in == SK_BODY_LENGTH) {
				size_t take = (size_t)SK_MIN((uint64_t)avail, k->resp_remaining);
				*out = (struct sk_slice){ .ptr = p, .len = take };
				return SK_BODY_DATA;
			}
			if (k->resp_in != SK_BODY_CHUNKED) { /* close-delimited */
				*out = (struct sk_slice){ .ptr = p, .len = avail };
				return SK_BODY_DATA;
			}
			if (k->dec_end > b->off) { /* decoded already, not yet consumed */
				*out = (struct sk_slice){ .ptr = p, .len = k->dec_end - b->off };
				return SK_BODY_DATA;
			}
			/* Decode in place (each byte once): the data moves down to p, the framing is dropped. */
			size_t dlen = avail, rest = 0;
			enum sk_chunked_result cr = sk_h1_chunked_decode(&k->resp_chunk, p, &dlen, &rest);
			if (cr == SK_CHUNKED_BAD) {
				sk_warn("bad chunked body from %s", k->server->addr.text);
				k->up_reusable = false;
				return SK_BODY_BAD;
			}
			b->len = k->dec_end = b->off + (uint32_t)dlen;
			if (rest)
				k->up_reusable = false; /* bytes beyond the body: do not trust this connection */
			if (cr == SK_CHUNKED_DONE)
				k->resp_last = true;
			continue;
		}
		if (k->resp_last) {
			k->resp_done = true;
			continue;
		}
		k->dec_end = 0; /* everything decoded was taken: the buffer may rewind */
		ssize_t n = sk_endpoint_read_into(&k->up->ep, b);
		if (n > 0)
			continue;
		if (n == -1)
			return SK_BODY_WAIT;
		k->up_reusable = false;
		if (k->resp_in == SK_BODY_CLOSE) {
			k->resp_done = true;
			continue;
		}
		sk_warn("origin %s closed mid-response", k->server->addr.text);
		return SK_BODY_GONE;
	}
}

void sk_h1c_body_consume(struct sk_exchange *ex, size_t n)
{
	struct sk_h1c *k = &ex->client;
	struct sk_buf *b = k->ubuf;
	b->off += (uint32_t)n;
	if (k->resp_in == SK_BODY_LENGTH) {
		k->resp_remaining -= n;
		if (k->resp_remaining == 0) {
			k->resp_done = true;
			if (b->off != b->len)
				k->up_reusable = false; /* bytes beyond the body: do not trust this connection */
		}
	} else if (k->resp_last && b->off == b->len) {
		k->resp_done = true; /* the data before the last chunk has been taken */
	}
}

void sk_h1c_release(struct sk_exchange *ex, bool complete)
{
	struct sk_h1c *k = &ex->client;
	if (k->up && ex->egress)
		sk_flow_upstream(ex->w, ex, -1, -1); /* what it carried for this exchange, before it goes */
	if (k->up) {
		if (complete && k->up_reusable && k->resp_done && k->req_body_done)
			sk_upstream_release(k->up);
		else
			sk_upstream_close(k->up);
		k->up = NULL;
	}
	if (k->ubuf) {
		sk_buf_put(ex->w, k->ubuf);
		k->ubuf = NULL;
	}
	k->state = SK_H1C_IDLE;
}
