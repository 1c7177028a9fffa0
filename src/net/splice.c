/*
 * splice.c — the pipe pool and the splices of a plain socket through a pipe (splice.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/core.h"
#include "net/splice.h"

/* The capacity asked for with F_SETPIPE_SZ (kernel memory, filled only while a receiver is slow). */
#define PIPE_SIZE (256 * 1024)

struct sk_pipe *sk_pipe_get(struct sk_pipe_pool *pool)
{
	struct sk_pipe *p = pool->free;
	if (p) {
		pool->free = p->next;
		p->next = NULL;
		return p;
	}
	if (pool->open >= SK_PIPES_PER_WORKER)
		return NULL;
	int fds[2];
	if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) == -1)
		return NULL; /* EMFILE, ENFILE: the tunnel copies through a buffer instead */
	/* Refused above /proc/sys/fs/pipe-max-size or past the user's pipe pages: the default size serves. */
	(void)fcntl(fds[1], F_SETPIPE_SZ, PIPE_SIZE);
	int cap = fcntl(fds[1], F_GETPIPE_SZ);
	if (cap <= 0) {
		close(fds[0]);
		close(fds[1]);
		return NULL;
	}
	p = sk_malloc(sizeof(*p));
	*p = (struct sk_pipe){ .rfd = fds[0], .wfd = fds[1], .cap = (uint32_t)cap };
	pool->open++;
	return p;
}

static void pipe_close(struct sk_pipe_pool *pool, struct sk_pipe *p)
{
	close(p->rfd);
	close(p->wfd);
	free(p);
	pool->open--;
}

void sk_pipe_put(struct sk_pipe_pool *pool, struct sk_pipe *p)
{
	if (p->len) { /* its bytes have nowhere to go: draining them would be a read for nothing */
		pipe_close(pool, p);
		return;
	}
	p->next = pool->free;
	pool->free = p;
}

void sk_pipe_pool_free(struct sk_pipe_pool *pool)
{
	while (pool->free) {
		struct sk_pipe *p = pool->free;
		pool->free = p->next;
		pipe_close(pool, p);
	}
	SK_ASSERT(pool->open == 0);
}

ssize_t sk_endpoint_splice_in(struct sk_endpoint *e, struct sk_pipe *p)
{
	if (!e->can_read || p->len >= p->cap)
		return -1;
	for (;;) {
		ssize_t n = splice(e->io.fd, NULL, p->wfd, NULL, p->cap - p->len, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (n > 0) {
			p->len += (uint32_t)n;
			return n;
		}
		if (n == 0)
			return 0;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN) {
			if (p->len == 0) /* an empty pipe had room: the socket is drained */
				e->can_read = false;
			return -1;
		}
		return -2;
	}
}

int sk_endpoint_splice_out(struct sk_endpoint *e, struct sk_pipe *p, uint64_t *count)
{
	while (p->len) {
		if (!e->can_write)
			return 0;
		ssize_t n = splice(p->rfd, NULL, e->io.fd, NULL, p->len, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (n > 0) {
			p->len -= (uint32_t)n;
			if (count)
				*count += (uint64_t)n;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN) {
			e->can_write = false;
			return 0;
		}
		return -1; /* EPIPE, ECONNRESET (SIGPIPE is ignored by the server) */
	}
	return 1;
}

void sk_tunnel_socket_tune(int fd)
{
	int v = SK_TUNNEL_NOTSENT_LOWAT;
	/* Refused on a non-TCP socket (a unix-socket origin): such a socket keeps its queueing as it is. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &v, sizeof(v));
}
