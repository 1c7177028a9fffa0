/*
 * tunnel.c — bytes both ways between two endpoints: a WebSocket after its 101, a tcp listener's
 * connection, an egress CONNECT. Each direction has one buffer and one pending output: nothing more is
 * read from a sender while its bytes toward the receiver are pending (the backpressure of DESIGN §9).
 * When one side ends its direction, the other side's write direction is shut once everything before the
 * end was written; the tunnel is over when both directions have ended and nothing is pending.
 *
 * When both endpoints are plain TCP, a direction moves its bytes through a kernel pipe instead
 * (net/splice.h: socket → pipe → socket, no copy into user space): the pipe plays the buffer's part,
 * nothing more is spliced from the sender while the pipe holds bytes for the receiver. A direction
 * switches between buffer and pipe only while both are empty, so bytes keep their order: the bytes
 * already read before the tunnel began (after a 101) leave through the buffer first, and a direction
 * that finds the worker's pipe pool used up copies through a buffer until it next runs dry. Both plain
 * sockets get their unsent bytes capped once, at the first run (net/splice.h, SK_TUNNEL_NOTSENT_LOWAT), so
 * that sekisho sends what waits rather than the receiver's ACK processing.
 *
 * A waiting tunnel gives back every buffer and pipe that holds nothing still to be sent (DESIGN §9: a
 * silent tunnel holds none); sk_tunnel_run takes them again from the worker when bytes flow.
 */
#include "proxy/proxy.h"

void sk_tunnel_start(struct sk_tunnel *t, struct sk_buf *ab, struct sk_buf *ba, const struct sk_out *to_a)
{
	*t = (struct sk_tunnel){ .ab = ab, .ba = ba };
	if (to_a)
		t->a_out = *to_a;
}

/*
 * Moves bytes from src to dst through b and out. Returns -1 on a socket error, else 0; sets *eof when
 * src has ended (and then shuts dst's direction once everything before the end was written).
 */
static int pump(struct sk_endpoint *src, bool *eof, bool *shut, struct sk_buf *b, struct sk_endpoint *dst,
		struct sk_out *out, uint64_t *count, bool *progress)
{
	for (;;) {
		if (out->n) {
			int f = sk_endpoint_flush(dst, out, count);
			if (f < 0)
				return -1;
			if (f == 0)
				return 0;
			*progress = true;
		}
		if (b->len > b->off) {
			sk_out_set1(out, b->data + b->off, b->len - b->off);
			b->off = b->len;
			continue;
		}
		if (*eof) {
			if (!*shut) {
				sk_endpoint_shutdown_write(dst);
				*shut = true;
			}
			return 0;
		}
		ssize_t n = sk_endpoint_read_into(src, b);
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

/*
 * The same through a pipe (both endpoints plain): returns -1 on a socket error, 0 to wait, 1 when bytes
 * are ready but the pool has no pipe to give (the caller copies them instead).
 */
static int splice_pump(struct sk_pipe_pool *pool, struct sk_endpoint *src, bool *eof, bool *shut,
		       struct sk_pipe **pp, struct sk_endpoint *dst, uint64_t *count, bool *progress)
{
	for (;;) {
		struct sk_pipe *p = *pp;
		if (p && p->len) {
			uint32_t had = p->len;
			int f = sk_endpoint_splice_out(dst, p, count);
			if (p->len != had)
				*progress = true;
			if (f < 0)
				return -1;
			if (f == 0)
				return 0;
		}
		if (*eof) {
			if (!*shut) {
				sk_endpoint_shutdown_write(dst);
				*shut = true;
			}
			return 0;
		}
		if (!src->can_read)
			return 0;
		if (!p && !(p = *pp = sk_pipe_get(pool)))
			return 1;
		ssize_t n = sk_endpoint_splice_in(src, p);
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

/* One direction, through a pipe when both ends are plain and nothing waits in its buffer, else copied. */
static int move(struct sk_worker *w, bool plain, struct sk_endpoint *src, bool *eof, bool *shut,
		struct sk_buf **b, struct sk_pipe **p, struct sk_endpoint *dst, struct sk_out *out,
		uint64_t *count, bool *progress)
{
	if (plain && !out->n && (!*b || (*b)->off == (*b)->len)) {
		int r = splice_pump(&w->pipes, src, eof, shut, p, dst, count, progress);
		if (r != 1)
			return r;
	}
	if (!*b)
		*b = sk_buf_get(w);
	return pump(src, eof, shut, *b, dst, out, count, progress);
}

int sk_tunnel_run(struct sk_tunnel *t, struct sk_worker *w, struct sk_endpoint *a, struct sk_endpoint *b,
		  uint64_t *a_to_b, uint64_t *b_to_a, bool *progress)
{
	bool plain = !a->ssl && !b->ssl;
	if (plain && !t->tuned) { /* once: the tunnel's sockets carry nothing else afterwards */
		sk_tunnel_socket_tune(a->io.fd);
		sk_tunnel_socket_tune(b->io.fd);
		t->tuned = true;
	}
	/* b → a first: after a 101 the head (and anything behind it) is pending toward a already. */
	if (move(w, plain, b, &t->b_eof, &t->a_shut, &t->ba, &t->bap, a, &t->a_out, b_to_a, progress) < 0)
		return -1;
	if (move(w, plain, a, &t->a_eof, &t->b_shut, &t->ab, &t->abp, b, &t->b_out, a_to_b, progress) < 0)
		return -1;
	if (t->a_eof && t->b_eof && !t->a_out.n && !t->b_out.n && !(t->abp && t->abp->len) &&
	    !(t->bap && t->bap->len))
		return 1;
	sk_tunnel_release(t, w);
	return 0;
}

void sk_tunnel_release(struct sk_tunnel *t, struct sk_worker *w)
{
	if (t->abp && !t->abp->len) {
		sk_pipe_put(&w->pipes, t->abp);
		t->abp = NULL;
	}
	if (t->bap && !t->bap->len) {
		sk_pipe_put(&w->pipes, t->bap);
		t->bap = NULL;
	}
	if (t->a_out.n || t->b_out.n)
		return; /* an output still points into one of them: that is the backpressure */
	if (t->ab && t->ab->off == t->ab->len) {
		sk_buf_put(w, t->ab);
		t->ab = NULL;
	}
	if (t->ba && t->ba->off == t->ba->len) {
		sk_buf_put(w, t->ba);
		t->ba = NULL;
	}
}

void sk_tunnel_free(struct sk_tunnel *t, struct sk_worker *w)
{
	if (t->ab)
		sk_buf_put(w, t->ab);
	if (t->ba)
		sk_buf_put(w, t->ba);
	if (t->abp)
		sk_pipe_put(&w->pipes, t->abp);
	if (t->bap)
		sk_pipe_put(&w->pipes, t->bap);
	t->ab = t->ba = NULL;
	t->abp = t->bap = NULL;
	t->a_out.n = t->b_out.n = 0;
}
