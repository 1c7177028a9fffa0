/*
 * endpoint.c — reads, writes, handshakes and half-closes of one connection end (endpoint.h).
 */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "net/endpoint.h"

void sk_endpoint_events(struct sk_endpoint *e, uint32_t ev)
{
	if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		e->can_read = true;
	if (ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		e->hup = true;
	if (ev & (EPOLLOUT | EPOLLHUP | EPOLLERR))
		e->can_write = true;
}

int sk_endpoint_flush(struct sk_endpoint *e, struct sk_out *o, uint64_t *count)
{
	if (e->last_out && e->ssl && !e->corked && o->n) {
		int one = 1;
		setsockopt(e->io.fd, IPPROTO_TCP, TCP_CORK, &one, sizeof(one));
		e->corked = true;
	}
	while (o->n) {
		if (!e->can_write)
			return 0;
		ssize_t n = e->last_out && !e->ssl ? sk_stream_writev_more(e->io.fd, o->iov, o->n)
						    : sk_stream_writev(e->io.fd, e->ssl, o->iov, o->n);
		if (n < 0) {
			if (n == SK_IO_WAIT) {
				e->can_write = false;
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

ssize_t sk_endpoint_read_more(struct sk_endpoint *e, struct sk_buf *b)
{
	if (!e->can_read)
		return -1;
	size_t room = sizeof(b->data) - b->len;
	if (room == 0)
		return -1;
	ssize_t n = sk_stream_read(e->io.fd, e->ssl, b->data + b->len, room);
	if (n > 0) {
		b->len += (uint32_t)n;
		if ((size_t)n < room && !e->hup && !e->ssl)
			e->can_read = false;
		return n;
	}
	if (n == 0)
		return 0;
	if (n == SK_IO_WAIT) {
		e->can_read = false;
		return -1;
	}
	return n == SK_IO_WAIT_OTHER ? -1 : -2;
}

ssize_t sk_endpoint_read_into(struct sk_endpoint *e, struct sk_buf *b)
{
	if (!e->can_read)
		return -1;
	if (b->off == b->len)
		b->off = b->len = 0;
	return sk_endpoint_read_more(e, b);
}

enum sk_handshake sk_endpoint_handshake(struct sk_endpoint *e, char *why, size_t why_cap)
{
	if (!e->ssl || e->tls_ready)
		return SK_HS_DONE;
	int r = sk_tls_handshake(e->ssl, why, why_cap);
	if (r == SK_TLS_WAIT) {
		e->can_read = false;
		return SK_HS_WAIT;
	}
	if (r == SK_TLS_WAIT_OTHER) {
		e->can_write = false;
		return SK_HS_WAIT;
	}
	if (r == 0)
		return SK_HS_CLOSED;
	if (r != 1)
		return SK_HS_FAILED;
	e->tls_ready = true;
	return SK_HS_DONE;
}

int sk_endpoint_shutdown_write(struct sk_endpoint *e)
{
	return sk_stream_shutdown_write(e->io.fd, e->ssl);
}

enum sk_handshake sk_endpoint_discard(struct sk_endpoint *e)
{
	char sink[4096]; /* bytes to throw away need no buffer of the connection's */
	while (e->can_read) {
		/* Plain reads even over TLS: these bytes are thrown away, there is nothing to decrypt. */
		ssize_t n = sk_stream_read(e->io.fd, NULL, sink, sizeof(sink));
		if (n > 0)
			continue;
		if (n == SK_IO_WAIT) {
			e->can_read = false;
			return SK_HS_WAIT;
		}
		return SK_HS_CLOSED;
	}
	return SK_HS_WAIT;
}
