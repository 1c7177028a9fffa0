/*
 * h2_server.c — the HTTP/2 viewer side of a connection (DESIGN §2 "HTTP/2"), beside h1_server.c: a
 * libnghttp2 server session over the connection's endpoint, one exchange per stream.
 *
 * Model: bytes read from the viewer go through nghttp2_session_mem_recv, whose callbacks only record
 * (a stream's decoded fields, its body bytes, resets); the streams that became runnable run after it
 * returns, never inside a callback, so that a stream reset in the same read never reaches an origin.
 * Output is pulled with nghttp2_session_mem_send into one buffer and written through the endpoint.
 *
 * A stream owns an exchange (exchange.h) with its own timer and a buffer for its decoded fields (nghttp2's
 * do not outlive the callback). Its request body lands in a ring that the exchange drains through
 * body_peek/consume; window is granted back (nghttp2_session_consume) only as the exchange consumes, so a
 * slow origin holds the viewer back instead of making sekisho buffer. The response is the exchange's
 * described one, written by http/h2_write.c and a data provider that pulls its body from memory, a file
 * (pread) or the origin (sk_exchange_body_peek/consume; NGHTTP2_ERR_DEFERRED until the origin wakes it).
 *
 * Abuse (DESIGN §2 "HTTP/2"): REFUSED_STREAM over max_concurrent_streams (nghttp2 refuses them), 431 over
 * max_header_list, GOAWAY ENHANCE_YOUR_CALM when a connection resets more than RESET_MAX streams before
 * their response in RESET_WINDOW_MS, when a header block has more than MAX_CONTINUATIONS CONTINUATION
 * frames, or when frames that carry nothing (SETTINGS, PING, PRIORITY, empty DATA) exceed FLOOD_MAX in
 * FLOOD_WINDOW_MS; nghttp2's own guards (outbound ACK queue, its reset and CONTINUATION limits when the
 * library has them) end the connection too. A graceful GOAWAY follows max_requests_per_connection.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <nghttp2/nghttp2.h>

#include "core/log.h"
#include "http/h2.h"
#include "obs/metrics.h"
#include "proxy/exchange.h"

#define RESET_MAX 100
#define RESET_WINDOW_MS 10000
#define MAX_CONTINUATIONS 8
#define FLOOD_MAX 1000
#define FLOOD_WINDOW_MS 10000
#define BODY_RING 65536 /* the default stream window: what a viewer may send before we grant more */
#define MAX_NV (SK_REPLY_FIELDS > SK_MAX_HEADERS ? SK_REPLY_FIELDS + 2 : SK_MAX_HEADERS + 2)

static const char PREFACE[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

enum st_phase {
	ST_HEADERS = 0, /* the request's header block is being decoded */
	ST_READY,       /* decoded: waits in the run queue for sk_exchange_begin */
	ST_EXCHANGE,    /* the exchange runs (routing, access, the origin's response head) */
	ST_WRITE,       /* the response is submitted: nghttp2 pulls its body */
	ST_DONE,        /* the response ended (or the stream was refused): the exchange is gone */
};

struct sk_h2stream {
	struct sk_h2 *h2;
	struct sk_h2stream *prev, *next;   /* the connection's streams */
	struct sk_h2stream *qprev, *qnext; /* the run queue */
	bool queued;
	uint8_t phase;                     /* enum st_phase */
	int32_t id;
	struct sk_exchange *ex;
	struct sk_timer timer;             /* ex->timer */
	struct sk_buf *fields;             /* the decoded names and values ex->headers point into */
	uint32_t list_size;                /* RFC 9113 §6.5.2: name + value + 32 per field */
	uint16_t n_cookies;
	enum sk_reason refuse;             /* the head is refused (431 or 400) */
	bool have_cl;
	bool req_end;                      /* END_STREAM received */
	bool sent_continue;
	bool deferred;                     /* the data provider waits on the origin */
	char *ring;                        /* the request body not yet consumed (BODY_RING bytes, on first DATA) */
	uint32_t r_off, r_len;
	uint64_t mem_off;                  /* SK_SRC_MEM: bytes of the body handed to nghttp2 */
	uint64_t file_left;                /* SK_SRC_FILE */
	uint64_t last_io_ms;               /* the response's last progress (the send timeout is inactivity) */
};

struct sk_h2 {
	struct sk_conn *c;
	nghttp2_session *s;
	struct sk_h2stream *streams, *qhead, *qtail;
	uint32_t n_active;                 /* streams with an exchange */
	uint32_t requests;
	struct sk_buf *wbuf;               /* output being written */
	struct sk_out wout;
	const uint8_t *pend;               /* the rest of nghttp2's last chunk that did not fit in wbuf */
	size_t pend_len;
	uint8_t continuations;             /* CONTINUATION frames of the header block being read */
	uint32_t resets, floods;
	uint64_t reset_since, flood_since;
	bool draining;                     /* GOAWAY submitted: close once the streams have ended */
	int32_t last_id;                   /* the GOAWAY's last stream id */
	bool abuse;                        /* ended for abuse: counted once */
	bool followed;                     /* the connection moved to this worker's newest snapshot, or may not */
	bool idle_armed;                   /* the connection's timer holds the idle (or preface) deadline */
};

static const struct sk_config *cfg_of(const struct sk_h2 *h)
{
	return h->c->rt->cfg;
}

static uint64_t now_ms(const struct sk_h2 *h)
{
	return sk_loop_now(h->c->w->loop);
}

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
		h->c->listener == SK_ADMIN_LISTENER ? "admin" : cfg_of(h)->listeners[h->c->listener].name);
	sk_metrics_add(h->c->w->id, SK_M_H2_ABUSE, 1);
	nghttp2_session_terminate_session(h->s, NGHTTP2_ENHANCE_YOUR_CALM);
}

/* A graceful GOAWAY: streams up to last go on, later ones are refused; the connection closes when they
 * have ended. */
static void goaway(struct sk_h2 *h, int32_t last)
{
	if (h->draining)
		return;
	h->draining = true;
	h->last_id = last;
	nghttp2_submit_goaway(h->s, NGHTTP2_FLAG_NONE, last, NGHTTP2_NO_ERROR, NULL, 0);
}

/* ---- the run queue ---- */

static void enqueue(struct sk_h2stream *st)
{
	struct sk_h2 *h = st->h2;
	if (st->queued)
		return;
	st->queued = true;
	st->qnext = NULL;
	st->qprev = h->qtail;
	if (h->qtail)
		h->qtail->qnext = st;
	else
		h->qhead = st;
	h->qtail = st;
}

static void dequeue(struct sk_h2stream *st)
{
	struct sk_h2 *h = st->h2;
	if (!st->queued)
		return;
	st->queued = false;
	if (st->qprev)
		st->qprev->qnext = st->qnext;
	else
		h->qhead = st->qnext;
	if (st->qnext)
		st->qnext->qprev = st->qprev;
	else
		h->qtail = st->qprev;
}

/* ---- the request body, as the exchange pulls it ---- */

static enum sk_body_step body_peek(struct sk_exchange *ex, struct sk_slice *out)
{
	struct sk_h2stream *st = ex->front_ctx;
	if (st->r_len) {
		size_t run = SK_MIN((size_t)st->r_len, (size_t)(BODY_RING - st->r_off));
		*out = (struct sk_slice){ .ptr = st->ring + st->r_off, .len = run };
		return SK_BODY_DATA;
	}
	if (st->req_end)
		return SK_BODY_END;
	/* More is due and nothing is here: the viewer may be waiting for our go-ahead (RFC 9113 §8.1). */
	if ((ex->hreq.flags & SK_HF_EXPECT_CONTINUE) && !st->sent_continue) {
		st->sent_continue = true;
		static const nghttp2_nv cont[] = { { (uint8_t *)":status", (uint8_t *)"100", 7, 3, NGHTTP2_NV_FLAG_NONE } };
		nghttp2_submit_headers(st->h2->s, NGHTTP2_FLAG_NONE, st->id, NULL, cont, 1, NULL);
	}
	return SK_BODY_WAIT;
}

static void body_consume(struct sk_exchange *ex, size_t n)
{
	struct sk_h2stream *st = ex->front_ctx;
	SK_ASSERT(n <= st->r_len);
	st->r_off = (uint32_t)((st->r_off + n) % BODY_RING);
	st->r_len -= (uint32_t)n;
	/* The window comes back only as the exchange takes bytes: the viewer waits on a slow origin. */
	nghttp2_session_consume(st->h2->s, st->id, n);
}

static void stream_wake(struct sk_exchange *ex);

static const struct sk_front_ops h2_front = {
	.body_peek = body_peek,
	.body_consume = body_consume,
	.wake = stream_wake,
};

/* ---- streams ---- */

static void stream_on_timer(struct sk_timer *t);

static struct sk_h2stream *stream_new(struct sk_h2 *h, int32_t id)
{
	struct sk_conn *c = h->c;
	struct sk_worker *w = c->w;
	struct sk_h2stream *st = sk_calloc(1, sizeof(*st));
	st->h2 = h;
	st->id = id;
	st->timer.cb = stream_on_timer;
	st->next = h->streams;
	if (h->streams)
		h->streams->prev = st;
	h->streams = st;
	/* A connection moves to the worker's newest snapshot only while no other stream holds the old one. */
	if (h->n_active == 0 && !h->followed && c->rt != w->rt) {
		if (!sk_conn_follow_snapshot(c)) {
			h->followed = true; /* its listener changed: this connection ends after what is in flight */
			goaway(h, id);
		}
	}
	struct sk_exchange *ex = sk_exchange_get(w);
	ex->front = &h2_front;
	ex->front_ctx = st;
	ex->rt = c->rt;
	ex->timer = &st->timer;
	ex->peer = &c->peer;
	ex->ssl = c->ep.ssl;
	ex->listener = c->listener;
	ex->secure = c->tls;
	ex->start_ms = sk_loop_now(w->loop);
	ex->start_wall_ms = sk_wall_ms();
	ex->hreq.version = SK_HTTP_2;
	ex->hreq.headers = ex->headers;
	st->ex = ex;
	st->fields = sk_buf_get(w);
	h->n_active++;
	return st;
}

/* The exchange is over (answered: all, or abandoned): logged, counted, given back. */
static void stream_end_exchange(struct sk_h2stream *st, bool all)
{
	struct sk_h2 *h = st->h2;
	struct sk_exchange *ex = st->ex;
	if (!ex)
		return;
	sk_exchange_finish(ex, all);
	sk_exchange_put(ex); /* cancels st->timer */
	st->ex = NULL;
	st->phase = ST_DONE;
	h->n_active--;
	if (st->fields) {
		sk_buf_put(h->c->w, st->fields);
		st->fields = NULL;
	}
}

static void stream_free(struct sk_h2stream *st)
{
	struct sk_h2 *h = st->h2;
	dequeue(st);
	stream_end_exchange(st, false);
	sk_timer_cancel(h->c->w->loop, &st->timer);
	if (st->prev)
		st->prev->next = st->next;
	else
		h->streams = st->next;
	if (st->next)
		st->next->prev = st->prev;
	free(st->ring);
	free(st);
}

/* Gives the rest of the request body's window back: nobody will read it. */
static void stream_drop_body(struct sk_h2stream *st)
{
	if (st->r_len)
		nghttp2_session_consume(st->h2->s, st->id, st->r_len);
	st->r_len = 0;
	st->r_off = 0;
}

/* ---- the response ---- */

static ssize_t read_body(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
			 nghttp2_data_source *src, void *ud)
{
	struct sk_h2stream *st = src->ptr;
	struct sk_exchange *ex = st->ex;
	if (!ex)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	size_t n = 0;
	switch (ex->resp_src) {
	case SK_SRC_MEM:
		n = (size_t)SK_MIN((uint64_t)len, ex->resp.length - st->mem_off);
		memcpy(buf, ex->body_mem + st->mem_off, n);
		st->mem_off += n;
		if (st->mem_off == ex->resp.length)
			*flags |= NGHTTP2_DATA_FLAG_EOF;
		break;
	case SK_SRC_FILE: {
		ssize_t k = pread(ex->file_fd, buf, (size_t)SK_MIN((uint64_t)len, st->file_left), ex->file_off);
		if (k <= 0)
			return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* the file shrank: the stream is reset */
		n = (size_t)k;
		ex->file_off += k;
		st->file_left -= n;
		if (st->file_left == 0)
			*flags |= NGHTTP2_DATA_FLAG_EOF;
		break;
	}
	case SK_SRC_ORIGIN: {
		struct sk_slice d;
		switch (sk_exchange_body_peek(ex, &d)) {
		case SK_BODY_DATA:
			n = SK_MIN(len, d.len);
			memcpy(buf, d.ptr, n);
			sk_exchange_body_consume(ex, n);
			break;
		case SK_BODY_END:
			*flags |= NGHTTP2_DATA_FLAG_EOF;
			break;
		case SK_BODY_WAIT:
			st->deferred = true; /* the origin's socket wakes the stream (stream_wake) */
			return NGHTTP2_ERR_DEFERRED;
		default: /* the origin failed mid-body: the stream is reset, the connection goes on */
			return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
		}
		break;
	}
	default:
		*flags |= NGHTTP2_DATA_FLAG_EOF;
		break;
	}
	st->last_io_ms = now_ms(st->h2);
	return (ssize_t)n;
}

/* ex->resp is described: its head goes out now, its body as nghttp2 pulls it. */
static void submit_response(struct sk_h2stream *st)
{
	struct sk_h2 *h = st->h2;
	struct sk_exchange *ex = st->ex;
	nghttp2_nv nv[MAX_NV];
	struct sk_buf *scratch = sk_buf_get(h->c->w);
	ssize_t n = sk_h2_write_head(&ex->resp, nv, SK_ARRAY_LEN(nv), scratch->data, sizeof(scratch->data));
	if (n < 0) {
		SK_ASSERT(ex->resp.from_origin); /* sekisho's own heads always fit */
		sk_buf_put(h->c->w, scratch);
		sk_warn("response head from %s does not fit an HTTP/2 head: 502", ex->client.server->addr.text);
		sk_exchange_reply_error(ex, SK_R_UPSTREAM_UNAVAILABLE);
		return submit_response(st);
	}
	bool body = !ex->head_method;
	switch (ex->resp_src) {
	case SK_SRC_MEM:
	case SK_SRC_FILE:
		body = body && ex->resp.length > 0;
		st->file_left = ex->resp.length;
		break;
	case SK_SRC_ORIGIN:
		body = body && ex->resp.body != SK_BODY_NONE && !(ex->resp.body == SK_BODY_LENGTH && ex->resp.length == 0);
		break;
	default:
		body = false;
		break;
	}
	nghttp2_data_provider dp = { .source.ptr = st, .read_callback = read_body };
	int rv = nghttp2_submit_response(h->s, st->id, nv, (size_t)n, body ? &dp : NULL);
	sk_buf_put(h->c->w, scratch); /* nghttp2 copied the names and values */
	st->phase = ST_WRITE;
	st->last_io_ms = now_ms(h);
	if (rv != 0) {
		nghttp2_submit_rst_stream(h->s, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_INTERNAL_ERROR);
		stream_end_exchange(st, false);
		return;
	}
	sk_timer_arm(h->c->w->loop, &st->timer, cfg_of(h)->timeouts.send_ms);
}

static void on_step(struct sk_h2stream *st, enum sk_ex_step s)
{
	switch (s) {
	case SK_EXS_WAIT:
		return;
	case SK_EXS_RESPOND:
		submit_response(st);
		return;
	default: /* the exchange gave up (the origin failed mid-way): this stream only */
		nghttp2_submit_rst_stream(st->h2->s, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_INTERNAL_ERROR);
		stream_end_exchange(st, false);
		return;
	}
}

/* A decoded request: settle what HTTP/2 decides (host, cookies, body framing) and start its exchange. */
static void stream_begin(struct sk_h2stream *st)
{
	struct sk_exchange *ex = st->ex;
	struct sk_http_request *r = &ex->hreq;
	st->phase = ST_EXCHANGE;
	if (st->refuse != SK_R_NONE) {
		sk_exchange_refuse(ex, st->refuse);
		ex->close_after = false; /* only this stream: HTTP/2 keeps the connection */
		return on_step(st, SK_EXS_RESPOND);
	}
	if (!r->host.len) {
		const struct sk_http_field *hf = sk_http_find(r->headers, r->n_headers, "host");
		if (hf)
			r->host = hf->value;
	}
	if (r->host.len)
		r->flags |= SK_HF_HAS_HOST;
	/* RFC 9113 §8.2.3: several cookie fields are joined with "; " before an HTTP/1.1 origin sees them. */
	if (st->n_cookies > 1) {
		struct sk_buf *b = st->fields;
		char *out = b->data + b->len;
		size_t used = 0;
		unsigned first = r->n_headers, keep = 0;
		for (unsigned i = 0; i < r->n_headers; i++) {
			struct sk_http_field *f = &r->headers[i];
			if (!sk_slice_eq(f->name, "cookie")) {
				r->headers[keep++] = *f;
				continue;
			}
			SK_ASSERT(b->len + used + f->value.len + 2 <= sizeof(b->data)); /* max_header_list bounds it */
			if (first == r->n_headers) {
				first = keep;
				r->headers[keep++] = *f;
			} else {
				memcpy(out + used, "; ", 2);
				used += 2;
			}
			memcpy(out + used, f->value.ptr, f->value.len);
			used += f->value.len;
		}
		b->len += (uint32_t)used;
		r->headers[first].value = (struct sk_slice){ .ptr = out, .len = used };
		r->n_headers = keep;
	}
	if (st->req_end)
		r->body = SK_BODY_NONE;
	else if (st->have_cl)
		r->body = SK_BODY_LENGTH;
	else
		r->body = SK_BODY_CHUNKED; /* a body of unannounced length: END_STREAM ends it */
	if (r->body == SK_BODY_NONE)
		r->content_length = 0;
	sk_exchange_begin(ex);
	on_step(st, sk_exchange_run(ex));
}

static void stream_run(struct sk_h2stream *st)
{
	switch (st->phase) {
	case ST_READY:
		stream_begin(st);
		break;
	case ST_EXCHANGE:
		on_step(st, sk_exchange_run(st->ex));
		break;
	case ST_WRITE:
		if (st->deferred) {
			st->deferred = false;
			nghttp2_session_resume_data(st->h2->s, st->id);
		}
		break;
	default:
		break;
	}
}

static void run_queue(struct sk_h2 *h)
{
	while (h->qhead) {
		struct sk_h2stream *st = h->qhead;
		dequeue(st);
		stream_run(st);
	}
}

static void stream_on_timer(struct sk_timer *t)
{
	struct sk_h2stream *st = SK_CONTAINER_OF(t, struct sk_h2stream, timer);
	struct sk_h2 *h = st->h2;
	struct sk_conn *c = h->c;
	if (st->phase == ST_EXCHANGE) {
		on_step(st, sk_exchange_timeout(st->ex));
	} else if (st->phase == ST_WRITE) {
		/* The send deadline measures inactivity: re-arm for what is left since the last byte moved. */
		uint64_t limit = cfg_of(h)->timeouts.send_ms, now = now_ms(h);
		if (now - st->last_io_ms < limit) {
			sk_timer_arm(c->w->loop, &st->timer, limit - (now - st->last_io_ms));
			return;
		}
		nghttp2_submit_rst_stream(h->s, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_CANCEL);
		stream_end_exchange(st, false);
	}
	sk_conn_run(c);
}

/* Something the stream's exchange waited on is ready (the blocking pool, an origin socket). */
static void stream_wake(struct sk_exchange *ex)
{
	struct sk_h2stream *st = ex->front_ctx;
	struct sk_conn *c = st->h2->c;
	enqueue(st);
	sk_conn_run(c);
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
		if (++h->continuations > MAX_CONTINUATIONS) {
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
		uint64_t now = now_ms(h);
		if (now - h->flood_since > FLOOD_WINDOW_MS) {
			h->flood_since = now;
			h->floods = 0;
		}
		if (++h->floods > FLOOD_MAX)
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
	struct sk_h2stream *st = stream_new(h, f->hd.stream_id);
	nghttp2_session_set_stream_user_data(s, st->id, st);
	uint32_t max = cfg_of(h)->limits.h2.max_requests_per_connection;
	if (++h->requests == max && !h->draining) {
		/* Like nginx's keepalive_requests: a graceful GOAWAY; the viewer opens a new connection. */
		goaway(h, st->id);
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
	if (st->list_size > cfg_of(h)->limits.h2.max_header_list || r->n_headers >= SK_MAX_HEADERS ||
	    r->n_headers >= cfg_of(h)->limits.header_fields) {
		st->refuse = SK_R_HEADERS_TOO_LARGE;
		return 0; /* decoding goes on (the HPACK state is the connection's); nothing more is kept */
	}
	if (st->refuse != SK_R_NONE)
		return 0;
	/* The list size bounds what is copied (a quarter of the buffer at most stays for the joined cookies). */
	struct sk_buf *b = st->fields;
	SK_ASSERT(b->len + nlen + vlen <= sizeof(b->data) / 2);
	char *n = b->data + b->len;
	memcpy(n, name, nlen);
	char *v = n + nlen;
	if (vlen)
		memcpy(v, value, vlen);
	b->len += (uint32_t)(nlen + vlen);
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
		st->ring = sk_malloc(BODY_RING);
	/* The stream's window (BODY_RING, granted back only as consumed) bounds what is held. */
	SK_ASSERT(st->r_len + len <= BODY_RING);
	uint32_t at = (st->r_off + st->r_len) % BODY_RING;
	size_t first = SK_MIN(len, (size_t)(BODY_RING - at));
	memcpy(st->ring + at, data, first);
	memcpy(st->ring, data + first, len - first);
	st->r_len += (uint32_t)len;
	if (st->phase == ST_EXCHANGE)
		enqueue(st);
	return 0;
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
			st->phase = ST_READY;
			enqueue(st);
		} else if (st->req_end && st->phase == ST_EXCHANGE) {
			enqueue(st); /* trailers ended the body */
		}
		break;
	case NGHTTP2_DATA:
		if (f->hd.flags & NGHTTP2_FLAG_END_STREAM) {
			st->req_end = true;
			if (st->phase == ST_EXCHANGE)
				enqueue(st);
		}
		break;
	case NGHTTP2_RST_STREAM:
		if (st->phase == ST_DONE)
			break;
		/* Reset before its response ended: the rapid-reset guard (CVE-2023-44487) counts it. */
		sk_metrics_add(h->c->w->id, SK_M_H2_RESETS, 1);
		uint64_t now = now_ms(h);
		if (now - h->reset_since > RESET_WINDOW_MS) {
			h->reset_since = now;
			h->resets = 0;
		}
		if (++h->resets > RESET_MAX)
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
		st->last_io_ms = now_ms(h);
	}
	if (st->phase == ST_WRITE && (f->hd.type == NGHTTP2_DATA || f->hd.type == NGHTTP2_HEADERS) &&
	    (f->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
		stream_end_exchange(st, true);
		if (!st->req_end) /* RFC 9113 §8.1: the answer came before the request ended */
			nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_NO_ERROR);
		stream_drop_body(st);
	}
	return 0;
}

static int on_stream_close(nghttp2_session *s, int32_t id, uint32_t error_code, void *ud)
{
	struct sk_h2stream *st = stream_of(s, id);
	if (!st)
		return 0;
	stream_drop_body(st);
	if (st->ex && (st->phase == ST_HEADERS || st->phase == ST_READY) && st->refuse == SK_R_BAD_REQUEST) {
		/* Malformed: nghttp2 reset it (PROTOCOL_ERROR). The log and the counters still see it. */
		st->ex->status = 400;
		st->ex->reason = SK_R_BAD_REQUEST;
		if (!st->ex->method_len)
			st->ex->method_len = (uint8_t)snprintf(st->ex->method, sizeof(st->ex->method), "-");
	}
	nghttp2_session_set_stream_user_data(s, id, NULL);
	stream_free(st);
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
	/* The library's own guard, behind ours (RESET_MAX in RESET_WINDOW_MS): a burst, then 10 a second. */
	nghttp2_option_set_stream_reset_rate_limit(opt, 2 * RESET_MAX, RESET_MAX * 1000 / RESET_WINDOW_MS);
#endif
#ifdef SK_HAVE_NGHTTP2_OPTION_SET_MAX_CONTINUATIONS
	nghttp2_option_set_max_continuations(opt, MAX_CONTINUATIONS);
#endif
	return opt;
}

bool sk_h2_preface_start(const struct sk_conn *c, const char *p, size_t len, bool *need)
{
	*need = false;
	if (c->listener == SK_ADMIN_LISTENER || c->tls || !c->rt->cfg->listeners[c->listener].h2c)
		return false;
	size_t k = SK_MIN(len, sizeof(PREFACE) - 1);
	if (memcmp(p, PREFACE, k) != 0)
		return false;
	*need = k < sizeof(PREFACE) - 1;
	return true;
}

void sk_h2_start(struct sk_conn *c)
{
	struct sk_h2 *h = sk_calloc(1, sizeof(*h));
	h->c = c;
	c->h2 = h;
	c->phase = SK_CP_H2;
	c->h1.keep_alive = false;
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
		{ NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, BODY_RING - 1 },
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
				} else if (n != NGHTTP2_ERR_BAD_CLIENT_MAGIC) {
					char ip[INET6_ADDRSTRLEN];
					client_ip(c, ip);
					sk_info("client %s: HTTP/2 connection error: %s", ip, nghttp2_strerror((int)n));
				}
				return -2;
			}
			b->off = b->len;
			run_queue(h);
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
	run_queue(h);
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
		sk_timer_arm(c->w->loop, &c->timer, cfg_of(h)->timeouts.keepalive_ms);
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
		goaway(h, nghttp2_session_get_last_proc_stream_id(h->s));
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
		goaway(h, nghttp2_session_get_last_proc_stream_id(h->s));
	sk_conn_run(c);
}

void sk_h2_free(struct sk_conn *c)
{
	struct sk_h2 *h = c->h2;
	if (!h)
		return;
	c->h2 = NULL;
	while (h->streams)
		stream_free(h->streams);
	if (h->s)
		nghttp2_session_del(h->s); /* closes no stream through our callbacks: they are gone above */
	if (h->wbuf)
		sk_buf_put(c->w, h->wbuf);
	free(h);
}
