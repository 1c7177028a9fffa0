/*
 * stream.c — connection I/O, plain or TLS (see stream.h). Plain sockets retry EINTR here, so callers
 * see only data, end of stream, "wait" or an error.
 */
#include "net/stream.h"

#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

ssize_t sk_stream_read(int fd, struct ssl_st *ssl, void *buf, size_t n)
{
	if (ssl)
		return sk_tls_read(ssl, buf, n);
	for (;;) {
		ssize_t k = read(fd, buf, n);
		if (k >= 0)
			return k;
		if (errno == EINTR)
			continue;
		return errno == EAGAIN ? SK_IO_WAIT : SK_IO_ERROR;
	}
}

ssize_t sk_stream_writev(int fd, struct ssl_st *ssl, const struct iovec *iov, int iovcnt)
{
	if (ssl)
		return sk_tls_writev(ssl, iov, iovcnt);
	for (;;) {
		ssize_t k = writev(fd, iov, iovcnt);
		if (k >= 0)
			return k;
		if (errno == EINTR)
			continue;
		return errno == EAGAIN ? SK_IO_WAIT : SK_IO_ERROR;
	}
}

ssize_t sk_stream_writev_more(int fd, const struct iovec *iov, int iovcnt)
{
	struct msghdr m = { .msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)iovcnt };
	for (;;) {
		ssize_t k = sendmsg(fd, &m, MSG_MORE | MSG_NOSIGNAL);
		if (k >= 0)
			return k;
		if (errno == EINTR)
			continue;
		return errno == EAGAIN ? SK_IO_WAIT : SK_IO_ERROR;
	}
}

int sk_stream_shutdown_write(int fd, struct ssl_st *ssl)
{
	if (ssl)
		sk_tls_shutdown(ssl);
	return shutdown(fd, SHUT_WR);
}
