/*
 * endpoint.h — one end of a TCP connection as the event loop drives it, plain or TLS: the socket, its TLS
 * state, what epoll last said about it, and the reads, vectored writes, handshake and half-close over it.
 * The viewer's connection and every connection toward an origin (and, for the egress proxy, toward an
 * outside host) are endpoints; the protocols above (HTTP/1.1 server and client, tunnels) use nothing else.
 *
 * Readiness is edge-triggered: events only set can_read / can_write (sk_endpoint_events) and the owner's
 * state machine runs until a call reports "wait", which clears the flag of that direction. A TLS read
 * that returned less than asked does not mean the socket is drained (records come one at a time, and the
 * SSL may hold decrypted bytes), so over TLS only a "wait" clears can_read.
 */
#ifndef SK_ENDPOINT_H
#define SK_ENDPOINT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "core/buf.h"
#include "core/core.h"
#include "loop/loop.h"
#include "net/stream.h"

struct sk_endpoint {
	struct sk_io io;
	struct ssl_st *ssl; /* TLS, or NULL */
	bool can_read, can_write;
	bool hup;           /* the peer has half-closed or failed: read until EOF */
	bool tls_ready;     /* the TLS handshake is done (meaningless without ssl) */
	bool last_out;      /* what is flushed now ends our output: a close or half-close follows it */
	bool corked;        /* TLS: TCP_CORK set for last_out (the close sends what it holds) */
};

/* Pending output toward one endpoint: up to 6 slices (a head, a framed chunk, the last chunk) that must
 * stay valid until flushed. */
struct sk_out {
	struct iovec iov[6];
	uint8_t n;
};

static inline void sk_out_set1(struct sk_out *o, const void *p, size_t n)
{
	o->iov[0] = (struct iovec){ .iov_base = (void *)p, .iov_len = n };
	o->n = 1;
}

static inline void sk_out_push(struct sk_out *o, const void *p, size_t n)
{
	SK_ASSERT(o->n < SK_ARRAY_LEN(o->iov));
	o->iov[o->n++] = (struct iovec){ .iov_base = (void *)p, .iov_len = n };
}

/* Records epoll's event bits (EPOLLIN, EPOLLOUT, EPOLLRDHUP, EPOLLHUP, EPOLLERR) as readiness. */
void sk_endpoint_events(struct sk_endpoint *e, uint32_t ev);

/* Writes pending output. Returns 1 when all is written, 0 when the socket is full (or TLS must read
 * first), -1 on error. count (may be NULL) grows by the bytes written. With last_out set, the tail that
 * fills no whole segment stays in the kernel until the close or half-close that the caller owes right
 * after, which sends it with the FIN in one segment (plain: MSG_MORE; TLS: TCP_CORK, so the response,
 * the close_notify and the FIN leave together). */
int sk_endpoint_flush(struct sk_endpoint *e, struct sk_out *o, uint64_t *count);

/*
 * Reads into b's free tail without moving what it holds (slices may point into it). Returns bytes read,
 * 0 on EOF, -1 when nothing is ready (can_read cleared, unless TLS waits on the other direction) or the
 * buffer is full, -2 on error. A short plain read drains the socket, so can_read is cleared without paying
 * for a read that would return EAGAIN: edge-triggered epoll reports the next arrival anyway. Not so once
 * the peer has half-closed (hup): that edge has been reported already, so reading goes on until EOF.
 */
ssize_t sk_endpoint_read_more(struct sk_endpoint *e, struct sk_buf *b);

/* The same, after rewinding b when everything in it was consumed. */
ssize_t sk_endpoint_read_into(struct sk_endpoint *e, struct sk_buf *b);

enum sk_handshake { SK_HS_DONE = 0, SK_HS_WAIT, SK_HS_CLOSED, SK_HS_FAILED };

/* Advances the TLS handshake (a no-op when done or plain): SK_HS_DONE, SK_HS_WAIT (the direction it waits
 * on is cleared), SK_HS_CLOSED (the peer closed during it), SK_HS_FAILED (why says what failed). */
enum sk_handshake sk_endpoint_handshake(struct sk_endpoint *e, char *why, size_t why_cap);

/* Ends our direction (close_notify over TLS, then a TCP half-close). 0, or -1 when the socket failed. */
int sk_endpoint_shutdown_write(struct sk_endpoint *e);

/* Reads and throws away what the peer sends (a lingering close): SK_HS_WAIT while it may send more,
 * SK_HS_CLOSED once it has closed or failed. */
enum sk_handshake sk_endpoint_discard(struct sk_endpoint *e);

#endif
