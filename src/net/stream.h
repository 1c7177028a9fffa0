/*
 * stream.h — connection I/O, plain or TLS (DESIGN §1): the same calls whether a socket carries TLS or
 * not. ssl NULL means plain: the calls are then the syscalls themselves. Results besides a byte count:
 * 0 = end of stream (reads), SK_IO_WAIT (not ready in this call's direction: wait for its edge),
 * SK_IO_WAIT_OTHER (TLS needs the other direction first: keep this direction's readiness and wait for
 * the other's edge), SK_IO_ERROR (close).
 */
#ifndef SK_STREAM_H
#define SK_STREAM_H

#include <stdbool.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "tls/tls.h"

enum {
	SK_IO_WAIT = SK_TLS_WAIT,
	SK_IO_ERROR = SK_TLS_ERROR,
	SK_IO_WAIT_OTHER = SK_TLS_WAIT_OTHER,
};

ssize_t sk_stream_read(int fd, struct ssl_st *ssl, void *buf, size_t n);
ssize_t sk_stream_writev(int fd, struct ssl_st *ssl, const struct iovec *iov, int iovcnt);
/* Plain only: the same as writev with MSG_MORE (the kernel holds a short tail for what follows). */
ssize_t sk_stream_writev_more(int fd, const struct iovec *iov, int iovcnt);
/* Ends our direction: close_notify over TLS, then a TCP half-close. 0, or -1 when the socket failed. */
int sk_stream_shutdown_write(int fd, struct ssl_st *ssl);

#endif
