/*
 * splice.h — moving a plain TCP stream's bytes through a kernel pipe (splice(2)): socket → pipe →
 * socket, without copying them into user space. A tunnel between two plain endpoints uses it per direction
 * (proxy/tunnel.c); TLS endpoints cannot, their bytes must be decrypted.
 *
 * Pipes come from a per-worker pool bounded at SK_PIPES_PER_WORKER (each is two descriptors, counted by
 * sk_open_files_needed): a direction takes one when bytes flow and gives it back as soon as it is empty, so
 * an idle tunnel holds none. With the pool used up (or pipe2 failing), the tunnel copies through a buffer
 * as before: a pipe is a speed-up, never a condition.
 */
#ifndef SK_SPLICE_H
#define SK_SPLICE_H

#include <stdint.h>
#include <sys/types.h>

#include "net/endpoint.h"

/* Open pipes per worker (free or in use): 2 descriptors each. A pipe is held only while a receiver is
 * slower than its sender (bytes wait in it), so this bounds the spliced directions that can wait at once. */
#define SK_PIPES_PER_WORKER 16

struct sk_pipe {
	struct sk_pipe *next; /* free-list link */
	int rfd, wfd;
	uint32_t len;         /* bytes in the pipe */
	uint32_t cap;         /* its capacity (F_GETPIPE_SZ): never more is spliced into it */
};

struct sk_pipe_pool {
	struct sk_pipe *free; /* empty pipes */
	unsigned open;        /* pipes open, free or in use (at most SK_PIPES_PER_WORKER) */
};

/* An empty pipe from the pool, or NULL when the pool is used up or a pipe cannot be made. */
struct sk_pipe *sk_pipe_get(struct sk_pipe_pool *pool);
/* Gives p back; a pipe that still holds bytes (a tunnel closed mid-flight) is closed instead. */
void sk_pipe_put(struct sk_pipe_pool *pool, struct sk_pipe *p);
/* Closes every free pipe (at worker exit; none may be in use). */
void sk_pipe_pool_free(struct sk_pipe_pool *pool);

/*
 * Splices what e has received into p, up to p's free room. Returns bytes moved, 0 on EOF, -1 when nothing
 * is ready (can_read cleared only when p was empty: with bytes in it, "again" may mean the pipe is full) or
 * p is full, -2 on error. Unlike a plain read, a short splice says nothing about the socket being drained
 * (the pipe may have run out of slots), so can_read stays set until the kernel says "again".
 */
ssize_t sk_endpoint_splice_in(struct sk_endpoint *e, struct sk_pipe *p);

/* Splices p's bytes to e. Returns 1 when p is empty, 0 when the socket is full, -1 on error; count grows
 * by the bytes written. */
int sk_endpoint_splice_out(struct sk_endpoint *e, struct sk_pipe *p, uint64_t *count);

/*
 * The most bytes a plain tunnel's socket holds written but not yet sent (TCP_NOTSENT_LOWAT); the socket
 * reports writable again once fewer than half of them are unsent. Without it a splice hands a whole pipe
 * (256 KiB) to the socket, and what the receiver's window cannot take yet is sent later from the ACK
 * processing of the *receiver's* recv (on loopback, in the receiver's process, in small pieces): on the
 * egress bench the client then spent 0.41 ms per MiB instead of 0.32, and the machine 0.91 ms per MiB in
 * all instead of 0.85 (docs/internals/connection.md, "Tunnels"). The bytes wait in the pipe instead,
 * which also bounds a slow receiver's kernel send queue.
 */
#define SK_TUNNEL_NOTSENT_LOWAT (64 * 1024)

/* Sets SK_TUNNEL_NOTSENT_LOWAT on fd (once per tunnel, on both of its plain sockets). */
void sk_tunnel_socket_tune(int fd);

#endif
