/*
 * h2_stream.c — one HTTP/2 stream of the viewer side (h2_server.c has the session): its exchange, the
 * request body the exchange pulls, and the response the exchange described.
 *
 * A stream owns an exchange (exchange.h) with its own timer and a buffer for its decoded fields (nghttp2's
 * do not outlive the callback). Its request body lands in a ring that the exchange drains through
 * body_peek/consume; window is granted back (nghttp2_session_consume) only as the exchange consumes, so a
 * slow origin holds the viewer back instead of making sekisho buffer. The response is the exchange's
 * described one, written by http/h2_write.c and a data provider that pulls its body from memory, a file
 * (pread) or the origin (sk_exchange_body_peek/consume; NGHTTP2_ERR_DEFERRED until the origin wakes it).
 * Streams run from a queue after nghttp2_session_mem_recv returns, never inside its callbacks.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "http/h2.h"
#include "proxy/h2_int.h"

/* ---- the run queue ---- */

void sk_h2s_enqueue(struct sk_h2stream *st)
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
		size_t run = SK_MIN((size_t)st->r_len, (size_t)(SK_H2_BODY_RING - st->r_off));
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
	st->r_off = (uint32_t)((st->r_off + n) % SK_H2_BODY_RING);
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

struct sk_h2stream *sk_h2s_new(struct sk_h2 *h, int32_t id)
{
	struct sk_conn *c = h->c;
	struct sk_worker *w = c->w;
	struct sk_h2stream *st = sk_freelist_get(&w->h2streams);
	if (!st)
		st = sk_malloc(sizeof(*st));
	memset(st, 0, offsetof(struct sk_h2stream, finline));
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
			sk_h2_goaway(h, id);
		}
	}
	struct sk_exchange *ex = sk_exchange_open(c, &h2_front, st, &st->timer);
	ex->hreq.version = SK_HTTP_2;
	ex->hreq.headers = ex->headers;
	st->ex = ex;
	st->fmem = st->finline;
	st->fcap = sizeof(st->finline);
	h->n_active++;
	return st;
}

/* The exchange is over (answered: all, or abandoned): logged, counted, given back. */
void sk_h2s_end(struct sk_h2stream *st, bool all)
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
	if (st->fbuf) {
		sk_buf_put(h->c->w, st->fbuf);
		st->fbuf = NULL;
	}
	st->fmem = NULL;
}

/* p, which points into [old, old + len] (len included: an empty value may point just past the last
 * byte), as it reads at `to`. */
static const char *moved(const char *p, uintptr_t old, char *to)
{
	return to + ((uintptr_t)p - old);
}

/* Moves the fields to a worker buffer: every slice of the request that points into them follows (a name
 * or value always does; :method, :path and the host may be absent, NULL). */
static void fields_grow(struct sk_h2stream *st)
{
	struct sk_http_request *r = &st->ex->hreq;
	struct sk_buf *b = sk_buf_get(st->h2->c->w);
	uintptr_t old = (uintptr_t)st->fmem, end = old + st->flen;
	memcpy(b->data, st->fmem, st->flen);
	struct sk_slice *slices[] = { &r->method, &r->target, &r->host };
	for (size_t i = 0; i < SK_ARRAY_LEN(slices); i++)
		if ((uintptr_t)slices[i]->ptr >= old && (uintptr_t)slices[i]->ptr <= end)
			slices[i]->ptr = moved(slices[i]->ptr, old, b->data);
	for (unsigned i = 0; i < r->n_headers; i++) {
		r->headers[i].name.ptr = moved(r->headers[i].name.ptr, old, b->data);
		r->headers[i].value.ptr = moved(r->headers[i].value.ptr, old, b->data);
	}
	st->fbuf = b;
	st->fmem = b->data;
	st->fcap = sizeof(b->data);
}

char *sk_h2s_field_room(struct sk_h2stream *st, size_t n)
{
	if (st->flen + n > st->fcap) {
		SK_ASSERT(!st->fbuf); /* the header list limit keeps a head within half a buffer (on_header) */
		fields_grow(st);
	}
	SK_ASSERT(st->flen + n <= st->fcap);
	return st->fmem + st->flen;
}

void sk_h2s_free(struct sk_h2stream *st)
{
	struct sk_h2 *h = st->h2;
	dequeue(st);
	sk_h2s_end(st, false);
	sk_timer_cancel(h->c->w->loop, &st->timer);
	if (st->prev)
		st->prev->next = st->next;
	else
		h->streams = st->next;
	if (st->next)
		st->next->prev = st->prev;
	free(st->ring);
	sk_freelist_put(&h->c->w->h2streams, st);
}

/* Gives the rest of the request body's window back: nobody will read it. */
void sk_h2s_drop_body(struct sk_h2stream *st)
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
			if (sk_exchange_body_ended(ex)) /* END_STREAM on this frame, not on an empty one after it */
				*flags |= NGHTTP2_DATA_FLAG_EOF;
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
	st->last_io_ms = sk_h2_now(st->h2);
	return (ssize_t)n;
}

/* ex->resp is described: its head goes out now, its body as nghttp2 pulls it. */
static void submit_response(struct sk_h2stream *st)
{
	struct sk_h2 *h = st->h2;
	struct sk_exchange *ex = st->ex;
	nghttp2_nv nv[SK_H2_MAX_NV];
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
	st->last_io_ms = sk_h2_now(h);
	if (rv != 0) {
		nghttp2_submit_rst_stream(h->s, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_INTERNAL_ERROR);
		sk_h2s_end(st, false);
		return;
	}
	sk_timer_arm(h->c->w->loop, &st->timer, sk_h2_cfg(h)->timeouts.send_ms);
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
		sk_h2s_end(st, false);
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
		/* Unlike an HTTP/1.1 head that could not be parsed, the pseudo-headers are known: the log names
		 * the request (as sent, not normalised). */
		ex->method_len = (uint8_t)SK_MIN(r->method.len, sizeof(ex->method));
		ex->host_len = (uint8_t)SK_MIN(r->host.len, sizeof(ex->host));
		ex->path_len = (uint32_t)SK_MIN(r->target.len, sizeof(ex->path));
		if (ex->method_len) /* an absent field is an empty slice whose ptr is NULL */
			memcpy(ex->method, r->method.ptr, ex->method_len);
		if (ex->host_len)
			memcpy(ex->host, r->host.ptr, ex->host_len);
		if (ex->path_len)
			memcpy(ex->path, r->target.ptr, ex->path_len);
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
		size_t room = 0;
		for (unsigned i = 0; i < r->n_headers; i++)
			if (sk_slice_eq(r->headers[i].name, "cookie"))
				room += r->headers[i].value.len + 2;
		char *out = sk_h2s_field_room(st, room);
		size_t used = 0;
		unsigned first = r->n_headers, keep = 0;
		for (unsigned i = 0; i < r->n_headers; i++) {
			struct sk_http_field *f = &r->headers[i];
			if (!sk_slice_eq(f->name, "cookie")) {
				r->headers[keep++] = *f;
				continue;
			}
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
		st->flen += (uint32_t)used;
		r->headers[first].value = (struct sk_slice){ .ptr = out, .len = used };
		r->n_headers = keep;
	}
	/* Not req_end: DATA (and trailers) may have ended the request in the same read as its HEADERS. */
	if (st->no_body || (st->req_end && st->r_len == 0 && !st->have_cl))
		r->body = SK_BODY_NONE; /* also a GET ended by an empty DATA frame (ST_HOLD) */
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

void sk_h2s_run_queue(struct sk_h2 *h)
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
	if (st->phase == ST_HOLD) { /* nothing came after the HEADERS of a GET or HEAD: start it as it is */
		st->phase = ST_READY;
		sk_h2s_enqueue(st);
	} else if (st->phase == ST_EXCHANGE) {
		on_step(st, sk_exchange_timeout(st->ex));
	} else if (st->phase == ST_WRITE) {
		/* The send deadline measures inactivity: re-arm for what is left since the last byte moved. */
		uint64_t limit = sk_h2_cfg(h)->timeouts.send_ms, now = sk_h2_now(h);
		if (now - st->last_io_ms < limit) {
			sk_timer_arm(c->w->loop, &st->timer, limit - (now - st->last_io_ms));
			return;
		}
		nghttp2_submit_rst_stream(h->s, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_CANCEL);
		sk_h2s_end(st, false);
	}
	sk_conn_run(c);
}

/* Something the stream's exchange waited on is ready (the blocking pool, an origin socket). */
static void stream_wake(struct sk_exchange *ex)
{
	struct sk_h2stream *st = ex->front_ctx;
	struct sk_h2 *h = st->h2;
	sk_h2s_enqueue(st);
	/* Timers run after the round's I/O events: the streams this round woke run together, and their
	 * frames leave in one write instead of one per stream. */
	if (!sk_timer_armed(&h->flush))
		sk_timer_arm(h->c->w->loop, &h->flush, 0);
}
