/*
 * h1_server.c — the HTTP/1.1 viewer side of a connection: the TLS handshake, reading and parsing request
 * heads, the request body as the exchange pulls it (with "100 Continue"), writing the response the
 * exchange described (head through http/h1_write.c, then its body: sekisho's own bytes, a file through
 * sendfile, or an origin's body re-framed), keep-alive and pipelining, tunnels after a 101, and the
 * lingering close.
 *
 * Model: the socket is registered edge-triggered once; events only set readiness (net/endpoint.h) and
 * call sk_conn_run, which advances the connection until it must wait. Every phase has a deadline on the
 * connection's single timer (the exchange arms the same timer while it runs). Nothing more is read from a
 * sender while its output toward the receiver is pending: the backpressure of DESIGN §9. A keep-alive
 * connection between requests holds no buffer and no exchange.
 */
#include <errno.h>
#include <string.h>
#include <sys/sendfile.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "core/log.h"
#include "obs/metrics.h"
#include "proxy/exchange.h"

#define LINGER_MS 2000

enum step { STEP_AGAIN, STEP_WAIT, STEP_CLOSE };

static const char CRLF[] = "\r\n";
static const char LAST_CHUNK[] = "0\r\n\r\n";

static const struct sk_config *cfg_of(const struct sk_conn *c)
{
	return c->rt->cfg;
}

static void arm(struct sk_conn *c, uint64_t ms)
{
	sk_timer_arm(c->w->loop, &c->timer, ms);
}

/* The HTTP/1.1 state of the request in progress lives in its exchange's front area. */
static struct sk_h1s *h1s(const struct sk_conn *c)
{
	_Static_assert(sizeof(struct sk_h1s) <= SK_FRONT_STATE, "the HTTP/1.1 state fits the exchange's front area");
	return (struct sk_h1s *)c->ex->front_state;
}

void sk_h1s_release(struct sk_conn *c)
{
	if (!c->ex)
		return;
	struct sk_h1s *s = h1s(c);
	sk_tunnel_free(&s->tun, c->w);
	if (s->fbuf) {
		sk_buf_put(c->w, s->fbuf);
		s->fbuf = NULL;
	}
}

/* ---- the request body, as the exchange pulls it ---- */

static enum sk_body_step body_peek(struct sk_exchange *ex, struct sk_slice *out)
{
	struct sk_conn *c = ex->front_ctx;
	struct sk_h1s *s = h1s(c);
	for (;;) {
		if (s->req_body_done)
			return SK_BODY_END;
		struct sk_buf *b = c->rbuf;
		if (b && b->len > b->off) {
			char *p = b->data + b->off;
			size_t avail = b->len - b->off;
			if (s->req_body == SK_BODY_LENGTH) {
				*out = (struct sk_slice){ .ptr = p, .len = (size_t)SK_MIN((uint64_t)avail, s->req_remaining) };
				return SK_BODY_DATA;
			}
			if (s->dec_end > b->off) { /* decoded already, not yet consumed */
				*out = (struct sk_slice){ .ptr = p, .len = s->dec_end - b->off };
				return SK_BODY_DATA;
			}
			if (s->req_last) { /* what follows the body belongs to the next request */
				s->req_body_done = true;
				return SK_BODY_END;
			}
			/* chunked: decode in place (each byte once); the data moves down to p */
			size_t dlen = avail, rest = 0;
			enum sk_chunked_result cr = sk_h1_chunked_decode(&s->req_chunk, p, &dlen, &rest);
			if (cr == SK_CHUNKED_BAD)
				return SK_BODY_BAD;
			ex->bytes_in += avail - rest; /* the raw bytes of this body; rest belongs to the next request */
			b->len = b->off + (uint32_t)(dlen + rest);
			s->dec_end = b->off + (uint32_t)dlen;
			if (cr == SK_CHUNKED_DONE)
				s->req_last = true;
			if (dlen)
				continue;
			if (s->req_last) {
				s->req_body_done = true;
				return SK_BODY_END;
			}
			continue;
		}
		if (s->req_last) {
			s->req_body_done = true;
			return SK_BODY_END;
		}
		/* More is due and nothing is here: the viewer may be waiting for our go-ahead. */
		if ((ex->hreq.flags & SK_HF_EXPECT_CONTINUE) && !s->sent_continue && ex->hreq.version == SK_HTTP_11) {
			static const struct sk_http_response cont = { .status = 100 };
			static const struct sk_h1_wopts o = { .keep_alive = true, .framing = SK_BODY_NONE };
			ssize_t k = sk_h1_write_head(&cont, &o, s->interim, sizeof(s->interim));
			SK_ASSERT(k > 0);
			s->sent_continue = true;
			sk_out_set1(&s->vout, s->interim, (size_t)k);
		}
		if (s->vout.n) {
			int f = sk_endpoint_flush(&c->ep, &s->vout, &ex->bytes_out);
			if (f < 0)
				return SK_BODY_GONE;
			if (f == 0)
				return SK_BODY_WAIT;
		}
		if (!b)
			b = c->rbuf = sk_buf_get(c->w);
		if (b->len == sizeof(b->data)) {
			/* Full, and everything in it was taken: start over. The request head's slices go with it,
			 * so the exchange forgets them (it keeps its own copies of what it logs). */
			b->off = b->len = 0;
			s->dec_end = 0;
			ex->hreq.headers = NULL;
			ex->hreq.n_headers = 0;
			ex->hreq.method = (struct sk_slice){ .ptr = ex->method, .len = ex->method_len };
		}
		ssize_t n = sk_endpoint_read_more(&c->ep, b);
		if (n == -1)
			return SK_BODY_WAIT;
		if (n <= 0)
			return SK_BODY_GONE; /* the viewer went away mid-body */
		ex->last_io_ms = sk_loop_now(c->w->loop);
	}
}

static void body_consume(struct sk_exchange *ex, size_t n)
{
	struct sk_conn *c = ex->front_ctx;
	struct sk_h1s *s = h1s(c);
	c->rbuf->off += (uint32_t)n;
	if (s->req_body == SK_BODY_LENGTH) {
		ex->bytes_in += n;
		s->req_remaining -= n;
		if (s->req_remaining == 0)
			s->req_body_done = true;
	} else if (s->req_last && c->rbuf->off == s->dec_end) {
		s->req_body_done = true;
	}
}

static void wake(struct sk_exchange *ex)
{
	sk_conn_run(ex->front_ctx);
}

static const struct sk_front_ops h1_front = {
	.body_peek = body_peek,
	.body_consume = body_consume,
	.wake = wake,
};

/* ---- the end of a request ---- */

static enum step start_linger(struct sk_conn *c);

static enum step finish_request(struct sk_conn *c, bool complete)
{
	struct sk_exchange *ex = c->ex;
	struct sk_h1s *s = h1s(c);
	sk_exchange_finish(ex, complete);
	sk_h1s_release(c);
	bool keep = complete && s->keep_alive && !c->w->stopping && s->req_body_done;
	/* The viewer asked to close, its request was read to the end and nothing came after it (no byte in
	 * rbuf, and the socket read short or to "again"): a client that asked to close sends nothing more
	 * (RFC 9112 §9.6), so no unread byte can turn our close into a reset that would destroy the
	 * response. Close at once, like nginx and HAProxy: the lingering close's shutdown, read and loop
	 * round are a third of a short-lived connection's system calls. Over TLS "nothing came after it"
	 * is OpenSSL's buffer holding no byte (read-ahead takes what the socket has), and the close_notify
	 * goes first; the viewer's own close_notify, if it sends one after reading ours, meets a closed
	 * socket once it has everything. */
	bool at_once = !keep && complete && s->viewer_closes && s->req_body_done &&
		       (c->ep.ssl ? !sk_tls_buffered(c->ep.ssl) : !c->ep.can_read) &&
		       !(c->rbuf && c->rbuf->len > c->rbuf->off);
	sk_exchange_put(ex);
	c->ex = NULL;
	if (at_once) {
		if (c->ep.ssl)
			sk_tls_shutdown(c->ep.ssl);
		return STEP_CLOSE;
	}
	if (!keep)
		return start_linger(c);
	struct sk_buf *b = c->rbuf;
	if (b && b->len > b->off) {
		c->phase = SK_CP_HEAD; /* a pipelined request is already here */
		arm(c, cfg_of(c)->timeouts.header_read_ms);
	} else {
		if (b) {
			sk_buf_put(c->w, b);
			c->rbuf = NULL;
		}
		c->phase = SK_CP_IDLE;
		arm(c, cfg_of(c)->timeouts.keepalive_ms);
	}
	return STEP_AGAIN;
}

/* Half-closes and waits briefly for the viewer to close, so that a final response is not destroyed by
 * a reset caused by unread request bytes (the "lingering close" of Apache and nginx). */
static enum step start_linger(struct sk_conn *c)
{
	if (sk_endpoint_shutdown_write(&c->ep) == -1)
		return STEP_CLOSE;
	c->phase = SK_CP_LINGER;
	if (c->rbuf) { /* what is left in it (pipelined requests) is discarded with the rest */
		sk_buf_put(c->w, c->rbuf);
		c->rbuf = NULL;
	}
	arm(c, LINGER_MS);
	return STEP_WAIT;
}

static enum step do_linger(struct sk_conn *c)
{
	return sk_endpoint_discard(&c->ep) == SK_HS_CLOSED ? STEP_CLOSE : STEP_WAIT;
}

/* ---- tunnels (after a 101, and tcp listeners) ---- */

static enum step begin_tunnel(struct sk_conn *c)
{
	struct sk_exchange *ex = c->ex;
	sk_tunnel_start(&h1s(c)->tun, c->rbuf, ex->client.ubuf, &h1s(c)->vout);
	c->rbuf = NULL;
	ex->client.ubuf = NULL;
	h1s(c)->vout.n = 0;
	h1s(c)->keep_alive = false;
	c->phase = SK_CP_TUNNEL;
	h1s(c)->last_io_ms = sk_loop_now(c->w->loop);
	arm(c, ex->brt ? ex->brt->idle_timeout_ms : cfg_of(c)->listeners[c->listener].idle_timeout_ms);
	return STEP_AGAIN;
}

static enum step do_tunnel(struct sk_conn *c)
{
	struct sk_exchange *ex = c->ex;
	bool progress = false;
	int r = sk_tunnel_run(&h1s(c)->tun, c->w, &c->ep, &ex->client.up->ep, &ex->bytes_in, &ex->bytes_out, &progress);
	if (progress)
		h1s(c)->last_io_ms = sk_loop_now(c->w->loop);
	if (r != 0)
		return STEP_CLOSE;
	if (ex->hbuf && !h1s(c)->tun.a_out.n) { /* the heads of the upgrade: long sent */
		sk_buf_put(c->w, ex->hbuf);
		ex->hbuf = NULL;
	}
	return STEP_WAIT;
}

/* ---- writing the response ---- */

static enum step begin_write(struct sk_conn *c)
{
	struct sk_exchange *ex = c->ex;
	struct sk_h1s *s = h1s(c);
	if (ex->tcp_mode)
		return begin_tunnel(c);
	bool http10 = ex->hreq.version == SK_HTTP_10;
	s->resp_out = (uint8_t)sk_h1_framing(&ex->resp, http10);
	if (ex->close_after || c->w->stopping || s->resp_out == SK_BODY_CLOSE || !s->req_body_done)
		s->keep_alive = false;
	struct sk_h1_wopts o = { .keep_alive = s->keep_alive, .http10 = http10, .framing = s->resp_out };
	if (!ex->hbuf) /* an upload's head buffer went back once the head had left */
		ex->hbuf = sk_buf_get(c->w);
	char *head = ex->hbuf->data + ex->hbuf_used;
	ssize_t n = sk_h1_write_head(&ex->resp, &o, head, sizeof(ex->hbuf->data) - ex->hbuf_used);
	if (n < 0) {
		SK_ASSERT(ex->resp.from_origin); /* sekisho's own heads always fit */
		sk_warn("response head from %s does not fit: 502", ex->client.server->addr.text);
		sk_exchange_reply_error(ex, SK_R_UPSTREAM_UNAVAILABLE);
		return begin_write(c);
	}
	sk_out_set1(&s->vout, head, (size_t)n);
	s->last_io_ms = sk_loop_now(c->w->loop);
	if (ex->state == SK_EX_TUNNEL)
		return begin_tunnel(c);
	switch (ex->resp_src) {
	case SK_SRC_MEM:
		if (!ex->head_method)
			sk_out_push(&s->vout, ex->body_mem, ex->resp.length);
		s->resp_done = true;
		break;
	case SK_SRC_FILE:
		s->file_left = ex->head_method ? 0 : ex->resp.length;
		break;
	case SK_SRC_ORIGIN:
		s->resp_done = s->resp_out == SK_BODY_NONE;
		break;
	default:
		s->resp_done = true;
		break;
	}
	c->phase = SK_CP_WRITE;
	arm(c, cfg_of(c)->timeouts.send_ms);
	return STEP_AGAIN;
}

/* An origin's body: pulled decoded from the exchange, framed for the viewer, written. */
static enum step write_origin(struct sk_conn *c)
{
	struct sk_exchange *ex = c->ex;
	struct sk_h1s *s = h1s(c);
	for (;;) {
		/* Fill only behind nothing or the head, so that a head and a small body leave in one writev. */
		if (!s->resp_done && (s->vout.n == 0 || (s->vout.n == 1 && !s->resp_any))) {
			if (s->resp_last_chunk) {
				s->resp_last_chunk = false;
				s->resp_done = true;
				sk_out_push(&s->vout, LAST_CHUNK, sizeof(LAST_CHUNK) - 1);
			} else {
				struct sk_slice d;
				switch (sk_exchange_body_peek(ex, &d)) {
				case SK_BODY_DATA:
					s->resp_any = true;
					if (s->resp_out == SK_BODY_CHUNKED) {
						size_t k = sk_h1_chunk_line(s->chunk_line, d.len);
						sk_out_push(&s->vout, s->chunk_line, k);
						sk_out_push(&s->vout, d.ptr, d.len);
						sk_out_push(&s->vout, CRLF, 2);
					} else {
						sk_out_push(&s->vout, d.ptr, d.len);
					}
					sk_exchange_body_consume(ex, d.len);
					if (sk_exchange_body_ended(ex)) {
						/* The end is known without another read: it leaves in this write (the
						 * last chunk with the data; on a closing connection the FIN too). */
						if (s->resp_out == SK_BODY_CHUNKED)
							sk_out_push(&s->vout, LAST_CHUNK, sizeof(LAST_CHUNK) - 1);
						s->resp_done = true;
					}
					break;
				case SK_BODY_END:
					if (s->resp_out == SK_BODY_CHUNKED)
						s->resp_last_chunk = true;
					else
						s->resp_done = true;
					continue;
				case SK_BODY_WAIT:
					if (s->vout.n == 0)
						return STEP_WAIT;
					break;
				default: /* the origin failed mid-body: the framing cannot be kept */
					s->keep_alive = false;
					return STEP_CLOSE;
				}
			}
		}
		if (s->vout.n) {
			/* The response's last bytes on a connection that closes after it: finish_request closes
			 * or half-closes right after this flush, and the FIN leaves with them. */
			c->ep.last_out = s->resp_done && !s->keep_alive;
			int f = sk_endpoint_flush(&c->ep, &s->vout, &ex->bytes_out);
			if (f < 0)
				return STEP_CLOSE;
			if (f == 0)
				return STEP_WAIT;
			s->resp_any = true;
			s->last_io_ms = sk_loop_now(c->w->loop);
			if (ex->hbuf) { /* the head has left: nothing points into its buffer through the body */
				sk_buf_put(c->w, ex->hbuf);
				ex->hbuf = NULL;
			}
			continue;
		}
		if (s->resp_done)
			return finish_request(c, true);
	}
}

/* A static file: sendfile on plain connections, read-and-write through TLS. */
static enum step write_file(struct sk_conn *c)
{
	struct sk_exchange *ex = c->ex;
	struct sk_h1s *s = h1s(c);
	for (;;) {
		if (s->vout.n) {
			c->ep.last_out = s->file_left == 0 && !s->keep_alive;
			int f = sk_endpoint_flush(&c->ep, &s->vout, &ex->bytes_out);
			if (f < 0)
				return STEP_CLOSE;
			if (f == 0)
				return STEP_WAIT;
		}
		if (s->file_left == 0)
			return finish_request(c, true);
		if (!c->ep.can_write)
			return STEP_WAIT;
		if (c->ep.ssl) { /* no sendfile through TLS: read a buffer's worth, then write it as records */
			if (!h1s(c)->fbuf)
				h1s(c)->fbuf = sk_buf_get(c->w);
			ssize_t k = pread(ex->file_fd, h1s(c)->fbuf->data,
					  (size_t)SK_MIN(s->file_left, (uint64_t)SK_BUF_SIZE), ex->file_off);
			if (k <= 0)
				return STEP_CLOSE; /* the file shrank or failed: the framing cannot be kept */
			ex->file_off += k;
			s->file_left -= (uint64_t)k;
			sk_out_set1(&s->vout, h1s(c)->fbuf->data, (size_t)k);
			continue;
		}
		ssize_t n = sendfile(c->ep.io.fd, ex->file_fd, &ex->file_off, (size_t)SK_MIN(s->file_left, 1u << 20));
		if (n > 0) {
			s->file_left -= (uint64_t)n;
			ex->bytes_out += (uint64_t)n;
			s->last_io_ms = sk_loop_now(c->w->loop);
			continue;
		}
		if (n == -1 && errno == EAGAIN) {
			c->ep.can_write = false;
			return STEP_WAIT;
		}
		if (n == -1 && errno == EINTR)
			continue;
		/* the file shrank, or the viewer went away: the framing cannot be kept */
		return STEP_CLOSE;
	}
}

static enum step do_write(struct sk_conn *c)
{
	struct sk_exchange *ex = c->ex;
	if (ex->resp_src == SK_SRC_ORIGIN)
		return write_origin(c);
	if (ex->resp_src == SK_SRC_FILE)
		return write_file(c);
	c->ep.last_out = !h1s(c)->keep_alive;
	int f = sk_endpoint_flush(&c->ep, &h1s(c)->vout, &ex->bytes_out);
	if (f < 0)
		return STEP_CLOSE;
	if (f == 0)
		return STEP_WAIT;
	return finish_request(c, true);
}

/* ---- the exchange ---- */

static enum step on_step(struct sk_conn *c, enum sk_ex_step s)
{
	if (s == SK_EXS_WAIT)
		return STEP_WAIT;
	if (s == SK_EXS_CLOSE)
		return STEP_CLOSE;
	return begin_write(c);
}

static enum step do_exchange(struct sk_conn *c)
{
	return on_step(c, sk_exchange_run(c->ex));
}

/* A complete head is in rbuf: settle what HTTP/1.1 decides (keep-alive, the body's framing) and start the
 * exchange. */
static enum step begin_request(struct sk_conn *c)
{
	struct sk_exchange *ex = c->ex;
	struct sk_http_request *h = &ex->hreq;
	struct sk_h1s *s = h1s(c);
	const bool moved = sk_conn_follow_snapshot(c);
	ex->rt = c->rt;
	ex->listener = c->listener;
	c->rbuf->off += (uint32_t)h->head_len;
	ex->bytes_in += h->head_len;
	s->keep_alive = h->version == SK_HTTP_11 ? !(h->flags & SK_HF_CONN_CLOSE) : (h->flags & SK_HF_CONN_KEEPALIVE) != 0;
	s->viewer_closes = !s->keep_alive;
	if (c->w->stopping || !moved)
		s->keep_alive = false;
	s->req_body = (uint8_t)h->body;
	s->req_remaining = h->content_length;
	s->req_body_done = h->body == SK_BODY_NONE || (h->body == SK_BODY_LENGTH && h->content_length == 0);
	if (h->body == SK_BODY_CHUNKED)
		sk_h1_chunked_init(&s->req_chunk);
	sk_exchange_begin(ex);
	c->phase = SK_CP_EXCHANGE;
	return STEP_AGAIN;
}

/* A request refused before its head could be parsed (or in time): answered, then the connection closes. */
static enum step refuse(struct sk_conn *c, enum sk_reason reason)
{
	sk_exchange_refuse(c->ex, reason); /* whatever follows was not read: it closes after the answer */
	return begin_write(c);
}

/* ---- reading request heads ---- */

/* Advances the viewer's TLS handshake (under the header-read deadline armed at accept). */
static enum step tls_accept(struct sk_conn *c)
{
	char why[200] = "";
	enum sk_handshake hs = sk_endpoint_handshake(&c->ep, why, sizeof(why));
	c->ep.io.later = false; /* past the costly first step: from here a request may be waiting */
	switch (hs) {
	case SK_HS_WAIT:
		return STEP_WAIT;
	case SK_HS_CLOSED:
		return STEP_CLOSE;
	case SK_HS_FAILED: {
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
	case SK_HS_DONE:
		break;
	}
	/* The handshake reads whatever can_read says, and reading ahead it may have taken the request's
	 * records from the socket too: read on until WANT_READ, no edge will come for those bytes. */
	c->ep.can_read = true;
	sk_metrics_tls(c->w->id, sk_runtime_listener_mslot(c->rt, c->listener), true);
	if (sk_tls_resumed(c->ep.ssl))
		sk_metrics_add(c->w->id, SK_M_TLS_RESUMED, 1);
	if (sk_tls_alpn_h2(c->ep.ssl))
		sk_h2_start(c); /* the connection is HTTP/2's from here (h2_server.c) */
	return STEP_AGAIN;
}

/* A new exchange for the request whose first byte just arrived. */
static struct sk_exchange *new_exchange(struct sk_conn *c)
{
	struct sk_exchange *ex = sk_exchange_open(c, &h1_front, c, &c->timer);
	*(struct sk_h1s *)ex->front_state = (struct sk_h1s){ 0 };
	return ex;
}

static enum step do_head(struct sk_conn *c)
{
	struct sk_worker *w = c->w;
	if (c->ep.ssl && !c->ep.tls_ready) {
		enum step s = tls_accept(c);
		if (s != STEP_AGAIN)
			return s;
	}
	if (c->phase == SK_CP_H2) /* ALPN chose h2 */
		return STEP_AGAIN;
	for (;;) {
		struct sk_buf *b = c->rbuf;
		bool need = false;
		if (b && b->len > b->off && !c->ex && sk_h2_preface_start(c, b->data + b->off, b->len - b->off, &need)) {
			if (!need) { /* prior-knowledge h2c (`h2c: true`): rbuf's bytes are the session's first */
				sk_h2_start(c);
				return STEP_AGAIN;
			}
		} else if (b && b->len > b->off) {
			if (!c->ex)
				c->ex = new_exchange(c);
			struct sk_exchange *ex = c->ex;
			enum sk_h1_result pr = sk_h1_parse_request(b->data + b->off, b->len - b->off, &c->rt->limits,
								   &ex->hreq, ex->headers, SK_MAX_HEADERS);
			switch (pr) {
			case SK_H1_DONE: return begin_request(c);
			case SK_H1_INCOMPLETE: break;
			case SK_H1_URI_TOO_LONG: return refuse(c, SK_R_URI_TOO_LONG);
			case SK_H1_HEAD_TOO_LARGE: return refuse(c, SK_R_HEADERS_TOO_LARGE);
			case SK_H1_NOT_IMPLEMENTED: return refuse(c, SK_R_NOT_IMPLEMENTED);
			default: return refuse(c, SK_R_BAD_REQUEST);
			}
			if (b->off > 0) { /* make room at the end for the rest of the head */
				memmove(b->data, b->data + b->off, b->len - b->off);
				b->len -= b->off;
				b->off = 0;
			}
		}
		if (!c->ep.can_read)
			return STEP_WAIT;
		if (!b)
			b = c->rbuf = sk_buf_get(w);
		ssize_t n = sk_endpoint_read_into(&c->ep, b);
		if (n > 0) {
			if (c->phase == SK_CP_IDLE) {
				c->phase = SK_CP_HEAD;
				arm(c, cfg_of(c)->timeouts.header_read_ms);
			}
			continue;
		}
		if (n == -1) {
			if (c->phase == SK_CP_IDLE && b->len == b->off) {
				sk_buf_put(w, b); /* an idle keep-alive connection holds no buffer */
				c->rbuf = NULL;
			}
			return STEP_WAIT;
		}
		return STEP_CLOSE; /* EOF or error while waiting for a head */
	}
}

/* ---- driver ---- */

void sk_conn_run(struct sk_conn *c)
{
	for (;;) {
		enum step s;
		switch (c->phase) {
		case SK_CP_IDLE:
		case SK_CP_HEAD: s = do_head(c); break;
		case SK_CP_EXCHANGE: s = do_exchange(c); break;
		case SK_CP_WRITE: s = do_write(c); break;
		case SK_CP_TUNNEL: s = do_tunnel(c); break;
		case SK_CP_LINGER: s = do_linger(c); break;
		case SK_CP_H2: {
			int r = sk_h2_run(c);
			s = r == 0 ? STEP_WAIT : r > 0 ? start_linger(c) : STEP_CLOSE;
			break;
		}
		default: SK_ASSERT(!"unknown connection phase");
		}
		if (s == STEP_WAIT)
			return;
		if (s == STEP_CLOSE) {
			sk_conn_close(c);
			return;
		}
	}
}

void sk_h1s_on_io(struct sk_io *io, uint32_t ev)
{
	struct sk_conn *c = SK_CONTAINER_OF(io, struct sk_conn, ep.io);
	sk_endpoint_events(&c->ep, ev);
	sk_conn_run(c);
}

void sk_h1s_on_timer(struct sk_timer *t)
{
	struct sk_conn *c = SK_CONTAINER_OF(t, struct sk_conn, timer);
	uint64_t now = sk_loop_now(c->w->loop);
	enum step s = STEP_CLOSE;
	switch (c->phase) {
	case SK_CP_H2:
		sk_h2_on_timer(c);
		return;
	case SK_CP_HEAD:
		if (c->ex && c->rbuf && c->rbuf->len > c->rbuf->off)
			s = refuse(c, SK_R_REQUEST_TIMEOUT);
		break;
	case SK_CP_EXCHANGE:
		s = on_step(c, sk_exchange_timeout(c->ex));
		break;
	case SK_CP_WRITE:
	case SK_CP_TUNNEL: {
		/* These deadlines measure inactivity: re-arm for what is left since the last byte moved. */
		struct sk_exchange *ex = c->ex;
		uint64_t limit = c->phase == SK_CP_TUNNEL
					 ? (ex->brt ? ex->brt->idle_timeout_ms : cfg_of(c)->listeners[c->listener].idle_timeout_ms)
					 : cfg_of(c)->timeouts.send_ms;
		if (now - h1s(c)->last_io_ms < limit) {
			arm(c, limit - (now - h1s(c)->last_io_ms));
			return;
		}
		break;
	}
	default: /* idle keep-alive, lingering close */
		break;
	}
	if (s == STEP_CLOSE)
		sk_conn_close(c);
	else if (s == STEP_AGAIN)
		sk_conn_run(c);
}

void sk_h1s_start(struct sk_conn *c)
{
	const struct sk_listener *l = c->listener == SK_ADMIN_LISTENER || sk_listener_is_egress(c->listener)
					      ? NULL
					      : &cfg_of(c)->listeners[c->listener];
	if (l && l->mode == SK_MODE_TCP) {
		c->ex = new_exchange(c);
		sk_exchange_begin_tcp(c->ex, sk_config_origin(cfg_of(c), l->origin));
		c->phase = SK_CP_EXCHANGE;
		sk_conn_run(c);
		return;
	}
	c->phase = SK_CP_HEAD;
	arm(c, cfg_of(c)->timeouts.header_read_ms);
	/* Plain: clients send the request right after connecting: read it now instead of one event-loop
	 * round later, a round that under a reconnect storm carries every other connection's work (issue 15:
	 * p99 of new connections). Nothing there yet: EAGAIN, and the edge will come. TLS: not at accept. A
	 * ClientHello costs a handshake step (~250 µs): done inside the accept it runs ahead of every request
	 * already waiting in this round; from its own readiness event it takes its turn (bench/README.md,
	 * "TLS churn p99": p99 9.5 -> 3.7 ms with the batch of one, worker.c). */
	if (c->tls)
		return;
	c->ep.can_read = true;
	sk_conn_run(c);
}
