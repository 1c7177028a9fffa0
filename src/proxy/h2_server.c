/*
 * h2_server.c — the HTTP/2 viewer side of a connection (DESIGN §2 "HTTP/2"), beside h1_server.c: a
 * libnghttp2 server session over the connection's endpoint, one exchange per stream.
 *
 * Model: bytes read from the viewer go through nghttp2_session_mem_recv, whose callbacks only record
 * (a stream's decoded fields, its body bytes, resets); the streams that became runnable run after it
 * returns, never inside a callback, so that a stream reset in the same read never reaches an origin.
 * Output is pulled with nghttp2_session_mem_send into one buffer and written through the endpoint. Streams
 * woken outside the viewer's own events (an origin socket, the blocking pool) run from a 0 ms timer after
 * the loop round, together, so that their frames leave in one write.
 *
 * The streams themselves (their exchanges, bodies and responses) are h2_stream.c's.
 *
 * Abuse (DESIGN §2 "HTTP/2"): REFUSED_STREAM over max_concurrent_streams (nghttp2 refuses them), 431 over
 * max_header_list, GOAWAY ENHANCE_YOUR_CALM when a connection resets more than SK_H2_RESET_MAX streams before
 * their response in SK_H2_RESET_WINDOW_MS, when a header block has more than SK_H2_MAX_CONTINUATIONS CONTINUATION
 * frames, or when frames that carry nothing (SETTINGS, PING, PRIORITY, empty DATA) exceed SK_H2_FLOOD_MAX in
 * SK_H2_FLOOD_WINDOW_MS; nghttp2's own guards (outbound ACK queue, its reset and CONTINUATION limits when the
 * library has them) end the connection too. A graceful GOAWAY follows max_requests_per_connection.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>

#include "core/log.h"
#include "obs/metrics.h"
#include "proxy/h2_int.h"

static const char PREFACE[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

static void client_ip(const struct sk_conn *c, char ip[INET6_ADDRSTRLEN])
{
	strcpy(ip, "?");
	if (c->peer.sin6_family == AF_INET6)
		inet_ntop(AF_INET6, &c->peer.sin6_addr, ip, INET6_ADDRSTRLEN);
	else
		inet_ntop(AF_INET, &((const struct sockaddr_in *)&c->peer)->sin_addr, ip, INET6_ADDRSTRLEN);
}

/* Ends the connection for abuse: GOAWAY ENHANCE_YOUR_CALM (nghttp2 then ignores what the viewer sends),
 * logged and counted once. */
static void abuse(struct sk_h2 *h, const char *what)
{
	if (h->abuse)
		return;
	h->abuse = true;
	char ip[INET6_ADDRSTRLEN];
	client_ip(h->c, ip);
	sk_info("client %s: HTTP/2 %s on listener '%s': GOAWAY ENHANCE_YOUR_CALM", ip, what,
		h->c->listener == SK_ADMIN_LISTENER || sk_listener_is_egress(h->c->listener)
			? "-"
			: sk_h2_cfg(h)->listeners[h->c->listener].name);
	sk_metrics_add(h->c->w->id, SK_M_H2_ABUSE, 1);
	nghttp2_session_terminate_session(h->s, NGHTTP2_ENHANCE_YOUR_CALM);
}

/* A graceful GOAWAY: streams up to last go on, later ones are refused; the connection closes when they
 * have ended. */
void sk_h2_goaway(struct sk_h2 *h, int32_t last)
{
	if (h->draining)
		return;
	h->draining = true;
	h->last_id = last;
	nghttp2_submit_goaway(h->s, NGHTTP2_FLAG_NONE, last, NGHTTP2_NO_ERROR, NULL, 0);
}

/* ---- nghttp2's callbacks: they record, the streams run after mem_recv returns ---- */

static struct sk_h2stream *stream_of(nghttp2_session *s, int32_t id)
{
	return nghttp2_session_get_stream_user_data(s, id);
}

static int on_begin_frame(nghttp2_session *s, const nghttp2_frame_hd *hd, void *ud)
{
	struct sk_h2 *h = ud;
	bool empty = false;
	switch (hd->type) {
	case NGHTTP2_HEADERS:
		h->continuations = 0;
		break;
	case NGHTTP2_CONTINUATION:
		if (++h->continuations > SK_H2_MAX_CONTINUATIONS) {
			abuse(h, "CONTINUATION flood");
			return 0;
		}
		break;
	case NGHTTP2_SETTINGS:
	case NGHTTP2_PING:
		empty = !(hd->flags & NGHTTP2_FLAG_ACK);
		break;
	case NGHTTP2_PRIORITY:
		empty = true;
		break;
	case NGHTTP2_DATA:
		empty = hd->length == 0 && !(hd->flags & NGHTTP2_FLAG_END_STREAM);
		break;
	default:
		break;
	}
	if (empty) {
		uint64_t now = sk_h2_now(h);
		if (now - h->flood_since > SK_H2_FLOOD_WINDOW_MS) {
			h->flood_since = now;
			h->floods = 0;
		}
		if (++h->floods > SK_H2_FLOOD_MAX)
			abuse(h, "frame flood (SETTINGS, PING, PRIORITY or empty frames)");
	}
	return 0;
}

static int on_begin_headers(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
	struct sk_h2 *h = ud;
	if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	if (h->draining && f->hd.stream_id > h->last_id) {
		/* After our GOAWAY, before it left: refused, so that the viewer retries it elsewhere. */
		nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, f->hd.stream_id, NGHTTP2_REFUSED_STREAM);
		return 0;
	}
	struct sk_h2stream *st = sk_h2s_new(h, f->hd.stream_id);
	nghttp2_session_set_stream_user_data(s, st->id, st);
	uint32_t max = sk_h2_cfg(h)->limits.h2.max_requests_per_connection;
	if (++h->requests == max && !h->draining) {
		/* Like nginx's keepalive_requests: a graceful GOAWAY; the viewer opens a new connection. */
		sk_h2_goaway(h, st->id);
	}
	return 0;
}

static int on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t nlen,
		     const uint8_t *value, size_t vlen, uint8_t flags, void *ud)
{
	struct sk_h2 *h = ud;
	struct sk_h2stream *st = stream_of(s, f->hd.stream_id);
	/* Trailers (a second header block) are dropped: the origin gets the body alone. */
	if (!st || f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST || !st->ex)
		return 0;
	struct sk_exchange *ex = st->ex;
	struct sk_http_request *r = &ex->hreq;
	st->list_size += (uint32_t)SK_MIN(nlen + vlen + 32, (size_t)UINT32_MAX / 4);
	if (st->list_size > sk_h2_cfg(h)->limits.h2.max_header_list || r->n_headers >= SK_MAX_HEADERS ||
	    r->n_headers >= sk_h2_cfg(h)->limits.header_fields) {
		st->refuse = SK_R_HEADERS_TOO_LARGE;
		return 0; /* decoding goes on (the HPACK state is the connection's); nothing more is kept */
	}
	if (st->refuse != SK_R_NONE)
		return 0;
	/* The list size bounds what is copied (half a worker buffer at most: the rest stays for the joined
	 * cookies). */
	SK_ASSERT(st->flen + nlen + vlen <= SK_BUF_SIZE / 2);
	char *n = sk_h2s_field_room(st, nlen + vlen);
	memcpy(n, name, nlen);
	char *v = n + nlen;
	if (vlen)
		memcpy(v, value, vlen);
	st->flen += (uint32_t)(nlen + vlen);
	struct sk_slice ns = { .ptr = n, .len = nlen }, vs = { .ptr = v, .len = vlen };
	if (nlen && name[0] == ':') { /* nghttp2 checked their presence, order and values (RFC 9113 §8.3) */
		if (sk_slice_eq(ns, ":method"))
			r->method = vs;
		else if (sk_slice_eq(ns, ":path"))
			r->target = vs;
		else if (sk_slice_eq(ns, ":authority"))
			r->host = vs;
		return 0;
	}
	if (sk_http_framing_lookalike(ns)) /* DESIGN §2, as on HTTP/1.1 */
		st->refuse = SK_R_BAD_REQUEST;
	if (sk_slice_eq(ns, "cookie"))
		st->n_cookies++;
	else if (sk_slice_eq(ns, "content-length")) { /* nghttp2 checked it is one number, and the DATA against it */
		uint64_t cl = 0;
		for (size_t i = 0; i < vlen; i++)
			cl = cl * 10 + (uint64_t)(value[i] - '0');
		r->content_length = cl;
		st->have_cl = true;
	} else if (sk_slice_eq(ns, "expect") && vlen == 12 && strncasecmp((const char *)value, "100-continue", 12) == 0)
		r->flags |= SK_HF_EXPECT_CONTINUE;
	r->headers[r->n_headers++] = (struct sk_http_field){ .name = ns, .value = vs };
	return 0;
}

/* A field nghttp2 found invalid (RFC 9113 §8.2.1: a name with characters outside the token set, upper
 * case, ...): the request is malformed, the stream reset (PROTOCOL_ERROR). */
static int on_invalid_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t nlen,
			     const uint8_t *value, size_t vlen, uint8_t flags, void *ud)
{
	struct sk_h2stream *st = stream_of(s, f->hd.stream_id);
	if (st && st->refuse == SK_R_NONE)
		st->refuse = SK_R_BAD_REQUEST;
	return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
}

static int on_invalid_frame(nghttp2_session *s, const nghttp2_frame *f, int lib_error, void *ud)
{
	struct sk_h2stream *st = f->hd.stream_id ? stream_of(s, f->hd.stream_id) : NULL;
	if (st && st->phase == ST_HEADERS && st->refuse == SK_R_NONE)
		st->refuse = SK_R_BAD_REQUEST;
	return 0;
}

static int on_data_chunk(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data, size_t len, void *ud)
{
	struct sk_h2stream *st = stream_of(s, id);
	if (!st || !st->ex || st->phase == ST_DONE) { /* nobody reads it: the window comes back at once */
		nghttp2_session_consume(s, id, len);
		return 0;
	}
	st->ex->bytes_in += len;
	if (!st->ring)
		st->ring = sk_malloc(SK_H2_BODY_RING);
	/* The stream's window (SK_H2_BODY_RING, granted back only as consumed) bounds what is held. */
	SK_ASSERT(st->r_len + len <= SK_H2_BODY_RING);
	uint32_t at = (st->r_off + st->r_len) % SK_H2_BODY_RING;
	size_t first = SK_MIN(len, (size_t)(SK_H2_BODY_RING - at));
	memcpy(st->ring + at, data, first);
	memcpy(st->ring, data + first, len - first);
	st->r_len += (uint32_t)len;
	if (st->phase == ST_EXCHANGE)
		sk_h2s_enqueue(st);
	return 0;
}

static bool bodiless_method(const struct sk_http_request *r)
{
	return sk_slice_eq(r->method, "GET") || sk_slice_eq(r->method, "HEAD");
}

static int on_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
	struct sk_h2 *h = ud;
	struct sk_h2stream *st = f->hd.stream_id ? stream_of(s, f->hd.stream_id) : NULL;
	if (!st)
		return 0;
	switch (f->hd.type) {
	case NGHTTP2_HEADERS:
		if (st->ex)
			st->ex->bytes_in += f->hd.length + 9;
		if (f->hd.flags & NGHTTP2_FLAG_END_STREAM)
			st->req_end = true;
		if (st->phase == ST_HEADERS && f->headers.cat == NGHTTP2_HCAT_REQUEST) {
			st->no_body = st->req_end;
			if (!st->req_end && !st->have_cl && st->ex && bodiless_method(&st->ex->hreq)) {
				/* A GET or HEAD not ended by its HEADERS: some clients end it with an empty DATA
				 * frame. Hold it until its first DATA (a body, refused as on HTTP/1.1) or its end. */
				st->phase = ST_HOLD;
				sk_timer_arm(h->c->w->loop, &st->timer, sk_h2_cfg(h)->timeouts.header_read_ms);
				break;
			}
			st->phase = ST_READY;
			sk_h2s_enqueue(st);
		} else if (st->req_end && st->phase == ST_EXCHANGE) {
			sk_h2s_enqueue(st); /* trailers ended the body */
		}
		break;
	case NGHTTP2_DATA:
		if (f->hd.flags & NGHTTP2_FLAG_END_STREAM)
			st->req_end = true;
		if (st->phase == ST_HOLD) {
			sk_timer_cancel(h->c->w->loop, &st->timer);
			st->phase = ST_READY;
			sk_h2s_enqueue(st);
		} else if (st->req_end && st->phase == ST_EXCHANGE) {
			sk_h2s_enqueue(st);
		}
		break;
	case NGHTTP2_RST_STREAM:
		if (st->phase == ST_DONE)
			break;
		/* Reset before its response ended: the rapid-reset guard (CVE-2023-44487) counts it. */
		sk_metrics_add(h->c->w->id, SK_M_H2_RESETS, 1);
		uint64_t now = sk_h2_now(h);
		if (now - h->reset_since > SK_H2_RESET_WINDOW_MS) {
			h->reset_since = now;
			h->resets = 0;
		}
		if (++h->resets > SK_H2_RESET_MAX)
			abuse(h, "rapid reset");
		break;
	default:
		break;
	}
	return 0;
}

static int on_frame_send(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
	struct sk_h2 *h = ud;
	if (f->hd.type == NGHTTP2_RST_STREAM && f->rst_stream.error_code == NGHTTP2_REFUSED_STREAM)
		sk_metrics_add(h->c->w->id, SK_M_H2_REFUSED, 1);
	struct sk_h2stream *st = f->hd.stream_id ? stream_of(s, f->hd.stream_id) : NULL;
	if (!st || !st->ex)
		return 0;
	if (f->hd.type == NGHTTP2_DATA || f->hd.type == NGHTTP2_HEADERS) {
		st->ex->bytes_out += f->hd.length + 9;
		st->last_io_ms = sk_h2_now(h);
	}
	if (st->phase == ST_WRITE && (f->hd.type == NGHTTP2_DATA || f->hd.type == NGHTTP2_HEADERS) &&
	    (f->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
		sk_h2s_end(st, true);
		if (!st->req_end) /* RFC 9113 §8.1: the answer came before the request ended */
			nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_NO_ERROR);
		sk_h2s_drop_body(st);
	}
	return 0;
}

static int on_stream_close(nghttp2_session *s, int32_t id, uint32_t error_code, void *ud)
{
	struct sk_h2stream *st = stream_of(s, id);
	if (!st)
		return 0;
	sk_h2s_drop_body(st);
	if (st->ex && st->phase <= ST_READY && st->refuse == SK_R_BAD_REQUEST) {
		/* Malformed: nghttp2 reset it (PROTOCOL_ERROR). The log and the counters still see it. */
		st->ex->status = 400;
		st->ex->reason = SK_R_BAD_REQUEST;
		if (!st->ex->method_len)
			st->ex->method_len = (uint8_t)snprintf(st->ex->method, sizeof(st->ex->method), "-");
	}
	nghttp2_session_set_stream_user_data(s, id, NULL);
	sk_h2s_free(st);
	return 0;
}

/* ---- the session ---- */

/* The session copies the callbacks and options: they are made per connection and freed at once. */
static nghttp2_session_callbacks *callbacks(void)
{
	nghttp2_session_callbacks *cbs = NULL;
	nghttp2_session_callbacks_new(&cbs);
	SK_ASSERT(cbs);
	nghttp2_session_callbacks_set_on_begin_frame_callback(cbs, on_begin_frame);
	nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
	nghttp2_session_callbacks_set_on_invalid_header_callback(cbs, on_invalid_header);
	nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(cbs, on_invalid_frame);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
	nghttp2_session_callbacks_set_on_frame_send_callback(cbs, on_frame_send);
	nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
	return cbs;
}

static nghttp2_option *options(void)
{
	nghttp2_option *opt = NULL;
	nghttp2_option_new(&opt);
	SK_ASSERT(opt);
	/* Window is granted back as the exchange consumes (body_consume), never on receipt. */
	nghttp2_option_set_no_auto_window_update(opt, 1);
#ifdef SK_HAVE_NGHTTP2_OPTION_SET_STREAM_RESET_RATE_LIMIT
	/* The library's own guard, behind ours (SK_H2_RESET_MAX in SK_H2_RESET_WINDOW_MS): a burst, then 10 a second. */
	nghttp2_option_set_stream_reset_rate_limit(opt, 2 * SK_H2_RESET_MAX, SK_H2_RESET_MAX * 1000 / SK_H2_RESET_WINDOW_MS);
#endif
#ifdef SK_HAVE_NGHTTP2_OPTION_SET_MAX_CONTINUATIONS
	nghttp2_option_set_max_continuations(opt, SK_H2_MAX_CONTINUATIONS);
#endif
	return opt;
}

bool sk_h2_preface_start(const struct sk_conn *c, const char *p, size_t len, bool *need)
{
	*need = false;
	if (c->listener == SK_ADMIN_LISTENER || sk_listener_is_egress(c->listener) || c->tls ||
	    !c->rt->cfg->listeners[c->listener].h2c)
		return false;
	size_t k = SK_MIN(len, sizeof(PREFACE) - 1);
	if (memcmp(p, PREFACE, k) != 0)
		return false;
	*need = k < sizeof(PREFACE) - 1;
	return true;
}

static void on_flush(struct sk_timer *t)
{
	struct sk_h2 *h = SK_CONTAINER_OF(t, struct sk_h2, flush);
	sk_conn_run(h->c);
}

void sk_h2_start(struct sk_conn *c)
{
	struct sk_h2 *h = sk_calloc(1, sizeof(*h));
	h->c = c;
	h->flush.cb = on_flush;
	c->h2 = h;
	c->phase = SK_CP_H2;
	const struct sk_config *cfg = c->rt->cfg;
	nghttp2_session_callbacks *cbs = callbacks();
	nghttp2_option *opt = options();
	int rv = nghttp2_session_server_new2(&h->s, cbs, h, opt);
	nghttp2_session_callbacks_del(cbs);
	nghttp2_option_del(opt);
	if (rv != 0) {
		h->s = NULL;
		return; /* sk_h2_run closes */
	}
	nghttp2_settings_entry iv[] = {
		{ NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, cfg->limits.h2.max_concurrent_streams },
		{ NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, SK_H2_BODY_RING - 1 },
		{ NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, cfg->limits.h2.max_header_list },
	};
	nghttp2_submit_settings(h->s, NGHTTP2_FLAG_NONE, iv, SK_ARRAY_LEN(iv));
	sk_metrics_add(c->w->id, SK_M_H2_CONNECTIONS, 1);
	/* The preface and first SETTINGS are due within the header-read deadline; then the idle one. */
	sk_timer_arm(c->w->loop, &c->timer, cfg->timeouts.header_read_ms);
	h->idle_armed = true;
}

/* Writes what nghttp2 has to send. 1: all written, 0: the socket is full, -1: failed. */
static int send_out(struct sk_h2 *h)
{
	struct sk_conn *c = h->c;
	for (;;) {
		if (h->wout.n) {
			int f = sk_endpoint_flush(&c->ep, &h->wout, NULL);
			if (f <= 0)
				return f;
			h->wbuf->len = 0;
		}
		if (!h->wbuf)
			h->wbuf = sk_buf_get(c->w);
		struct sk_buf *b = h->wbuf;
		while (b->len < sizeof(b->data)) {
			if (!h->pend_len) {
				ssize_t n = nghttp2_session_mem_send(h->s, &h->pend);
				if (n < 0)
					return -1;
				if (n == 0)
					break;
				h->pend_len = (size_t)n;
			}
			size_t k = SK_MIN(h->pend_len, sizeof(b->data) - b->len);
			memcpy(b->data + b->len, h->pend, k);
			b->len += (uint32_t)k;
			h->pend += k;
			h->pend_len -= k;
		}
		if (b->len == 0) { /* nothing to send: an idle connection holds no buffer */
			sk_buf_put(c->w, b);
			h->wbuf = NULL;
			return 1;
		}
		sk_out_set1(&h->wout, b->data, b->len);
	}
}

/* Feeds what the viewer sent to nghttp2. 0: wait for more, -1: close (EOF, error), -2: a fatal protocol
 * error (nghttp2 has queued its GOAWAY). */
static int recv_in(struct sk_h2 *h)
{
	struct sk_conn *c = h->c;
	for (;;) {
		struct sk_buf *b = c->rbuf;
		if (b && b->len > b->off) {
			ssize_t n = nghttp2_session_mem_recv(h->s, (const uint8_t *)b->data + b->off, b->len - b->off);
			if (n < 0) {
				if (n == NGHTTP2_ERR_FLOODED) {
					abuse(h, "flood (outbound queue)");
#ifdef SK_HAVE_NGHTTP2_OPTION_SET_MAX_CONTINUATIONS
				} else if (n == NGHTTP2_ERR_TOO_MANY_CONTINUATIONS) {
					abuse(h, "CONTINUATION flood");
#endif
				} else if (n != NGHTTP2_ERR_BAD_CLIENT_MAGIC) {
					char ip[INET6_ADDRSTRLEN];
					client_ip(c, ip);
					sk_info("client %s: HTTP/2 connection error: %s", ip, nghttp2_strerror((int)n));
				}
				return -2;
			}
			b->off = b->len;
			sk_h2s_run_queue(h);
		}
		if (!nghttp2_session_want_read(h->s))
			return 0;
		if (!c->ep.can_read) {
			if (b && b->off == b->len) { /* an idle connection holds no buffer */
				sk_buf_put(c->w, b);
				c->rbuf = NULL;
			}
			return 0;
		}
		if (!b)
			b = c->rbuf = sk_buf_get(c->w);
		ssize_t n = sk_endpoint_read_into(&c->ep, b);
		if (n > 0)
			continue;
		if (n == -1) { /* nothing more now (or TLS waits on the other direction) */
			if (b->off == b->len) {
				sk_buf_put(c->w, b);
				c->rbuf = NULL;
			}
			return 0;
		}
		return -1; /* EOF or error */
	}
}

int sk_h2_run(struct sk_conn *c)
{
	struct sk_h2 *h = c->h2;
	if (!h->s)
		return -1;
	int r = recv_in(h);
	if (r == -2) /* a fatal protocol error: nghttp2 queued a GOAWAY; write it, then linger */
		return send_out(h) < 0 ? -1 : 1;
	if (r < 0)
		return -1;
	sk_h2s_run_queue(h);
	int f = send_out(h);
	if (f < 0)
		return -1;
	/* Streams ended by what was just sent may have queued more (a reset after an early answer). */
	if (f == 1 && nghttp2_session_want_write(h->s) && send_out(h) < 0)
		return -1;
	if (!nghttp2_session_want_read(h->s) && !nghttp2_session_want_write(h->s) && !h->wout.n)
		return 1; /* GOAWAY sent or received and every stream ended: a lingering close */
	/* No stream: the idle deadline; streams have their own. */
	if (h->n_active == 0 && !h->idle_armed) {
		h->idle_armed = true;
		sk_timer_arm(c->w->loop, &c->timer, sk_h2_cfg(h)->timeouts.keepalive_ms);
	} else if (h->n_active > 0 && h->idle_armed) {
		h->idle_armed = false;
		sk_timer_cancel(c->w->loop, &c->timer);
	}
	return 0;
}

void sk_h2_on_timer(struct sk_conn *c)
{
	struct sk_h2 *h = c->h2;
	/* Idle (or the preface never came): a GOAWAY that says so, if the socket takes it, then close. */
	if (h->s && h->n_active == 0) {
		sk_h2_goaway(h, nghttp2_session_get_last_proc_stream_id(h->s));
		send_out(h);
		sk_conn_close(c);
		return;
	}
	sk_conn_run(c);
}

void sk_h2_drain(struct sk_conn *c)
{
	struct sk_h2 *h = c->h2;
	if (h->s && !h->draining)
		sk_h2_goaway(h, nghttp2_session_get_last_proc_stream_id(h->s));
	sk_conn_run(c);
}

void sk_h2_free(struct sk_conn *c)
{
	struct sk_h2 *h = c->h2;
	if (!h)
		return;
	c->h2 = NULL;
	sk_timer_cancel(c->w->loop, &h->flush);
	while (h->streams)
		sk_h2s_free(h->streams);
	if (h->s)
		nghttp2_session_del(h->s); /* closes no stream through our callbacks: they are gone above */
	if (h->wbuf)
		sk_buf_put(c->w, h->wbuf);
	free(h);
}
