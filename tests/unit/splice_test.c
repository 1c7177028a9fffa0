/*
 * splice_test.c — the pipe pool and the splices of src/net/splice.c over real loopback TCP sockets: the
 * pool is bounded and reuses its pipes, a pipe put back with bytes in it is closed; splicing in clears
 * can_read only when an empty pipe got "again" (a full pipe is not a drained socket), reports EOF; splicing
 * out moves every byte in order, counts them, and clears can_write when the receiver is full; a tunnel's
 * tuned socket holds at most about SK_TUNNEL_NOTSENT_LOWAT bytes unsent toward a receiver that reads nothing.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/splice.h"

/* A connected loopback TCP pair, both ends non-blocking: fds[0] connects, fds[1] was accepted. */
static void tcp_pair(int fds[2])
{
	int l = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(l >= 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	assert_int_equal(bind(l, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(l, 1), 0);
	assert_int_equal(getsockname(l, (struct sockaddr *)&sa, &len), 0);
	fds[0] = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(connect(fds[0], (struct sockaddr *)&sa, sizeof(sa)), 0);
	fds[1] = accept(l, NULL, NULL);
	assert_true(fds[1] >= 0);
	close(l);
	for (int i = 0; i < 2; i++)
		assert_int_equal(fcntl(fds[i], F_SETFL, O_NONBLOCK), 0);
}

static struct sk_endpoint endpoint(int fd)
{
	return (struct sk_endpoint){ .io = { .fd = fd }, .can_read = true, .can_write = true };
}

static void fill(unsigned char *b, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (unsigned char)(i * 31 + seed + i / 4093);
}

static void test_pool_is_bounded_and_reuses(void **state)
{
	(void)state;
	struct sk_pipe_pool pool = { 0 };
	struct sk_pipe *p[SK_PIPES_PER_WORKER];
	for (int i = 0; i < SK_PIPES_PER_WORKER; i++) {
		p[i] = sk_pipe_get(&pool);
		assert_non_null(p[i]);
		assert_int_equal(p[i]->len, 0);
		assert_true(p[i]->cap >= 4096);
	}
	assert_int_equal(pool.open, SK_PIPES_PER_WORKER);
	assert_null(sk_pipe_get(&pool)); /* used up: the caller copies instead */
	sk_pipe_put(&pool, p[3]);
	assert_ptr_equal(sk_pipe_get(&pool), p[3]); /* reused, not made again */
	p[5]->len = 1; /* as if bytes were stranded in it */
	sk_pipe_put(&pool, p[5]);
	assert_int_equal(pool.open, SK_PIPES_PER_WORKER - 1); /* closed, not pooled */
	struct sk_pipe *again = sk_pipe_get(&pool);
	assert_non_null(again);
	p[5] = again;
	for (int i = 0; i < SK_PIPES_PER_WORKER; i++)
		sk_pipe_put(&pool, p[i]);
	sk_pipe_pool_free(&pool);
	assert_int_equal(pool.open, 0);
}

static void test_splice_through_in_order_with_eof(void **state)
{
	(void)state;
	int in[2], out[2];
	tcp_pair(in);
	tcp_pair(out);
	struct sk_pipe_pool pool = { 0 };
	struct sk_pipe *p = sk_pipe_get(&pool);
	assert_non_null(p);
	struct sk_endpoint src = endpoint(in[1]), dst = endpoint(out[0]);

	/* Nothing sent yet: "again" on an empty pipe clears can_read. */
	assert_int_equal(sk_endpoint_splice_in(&src, p), -1);
	assert_false(src.can_read);
	assert_int_equal(sk_endpoint_splice_in(&src, p), -1); /* and without can_read, no call at all */

	static unsigned char sent[100000], got[100000];
	fill(sent, sizeof(sent), 7);
	assert_int_equal(write(in[0], sent, sizeof(sent)), (ssize_t)sizeof(sent));
	shutdown(in[0], SHUT_WR);
	size_t have = 0;
	uint64_t count = 0;
	bool eof = false;
	src.can_read = true;
	while (!eof) {
		ssize_t n = sk_endpoint_splice_in(&src, p);
		if (n == -1) { /* on a loaded machine loopback bytes can lag the send by a moment */
			struct pollfd pf = { .fd = in[1], .events = POLLIN };
			assert_int_equal(poll(&pf, 1, 5000), 1);
			src.can_read = true;
			continue;
		}
		assert_true(n >= 0);
		if (n == 0)
			eof = true;
		assert_int_equal(sk_endpoint_splice_out(&dst, p, &count), 1);
		assert_int_equal(p->len, 0);
		for (;;) { /* the receiver reads as it goes, so dst never fills */
			ssize_t r = read(out[1], got + have, sizeof(got) - have);
			if (r <= 0)
				break;
			have += (size_t)r;
		}
	}
	assert_int_equal(count, sizeof(sent));
	while (have < count) { /* what is still on its way to the receiver */
		struct pollfd pf = { .fd = out[1], .events = POLLIN };
		assert_int_equal(poll(&pf, 1, 5000), 1);
		ssize_t r = read(out[1], got + have, sizeof(got) - have);
		assert_true(r > 0);
		have += (size_t)r;
	}
	assert_int_equal(have, sizeof(sent));
	assert_memory_equal(got, sent, sizeof(sent));
	sk_pipe_put(&pool, p);
	sk_pipe_pool_free(&pool);
	for (int i = 0; i < 2; i++) {
		close(in[i]);
		close(out[i]);
	}
}

static void test_full_pipe_and_full_receiver(void **state)
{
	(void)state;
	int in[2], out[2];
	tcp_pair(in);
	tcp_pair(out);
	struct sk_pipe_pool pool = { 0 };
	struct sk_pipe *p = sk_pipe_get(&pool);
	assert_non_null(p);
	struct sk_endpoint src = endpoint(in[1]), dst = endpoint(out[0]);
	/* A small pipe, so that loopback socket buffers hold several pipes' worth. */
	assert_true(fcntl(p->wfd, F_SETPIPE_SZ, 16384) >= 16384);
	p->cap = (uint32_t)fcntl(p->wfd, F_GETPIPE_SZ);

	/* More than the pipe holds: the pipe fills, and a full pipe is not a drained socket. */
	static unsigned char big[4 << 20];
	fill(big, sizeof(big), 3);
	size_t sent = 0;
	while (sent < sizeof(big)) {
		ssize_t w = write(in[0], big + sent, sizeof(big) - sent);
		if (w <= 0)
			break; /* the sockets are full */
		sent += (size_t)w;
	}
	assert_true(sent > 2 * (size_t)p->cap);
	while (p->len < p->cap)
		assert_true(sk_endpoint_splice_in(&src, p) > 0);
	assert_int_equal(sk_endpoint_splice_in(&src, p), -1);
	assert_true(src.can_read); /* still readable: the pipe was full, not the socket empty */

	/* A receiver that reads nothing: splicing out stops at its socket's room and clears can_write. */
	uint64_t count = 0;
	int r = 1;
	for (int i = 0; i < 100000 && r == 1; i++) {
		if (sent < sizeof(big)) { /* keep the sender ahead */
			ssize_t w = write(in[0], big + sent, sizeof(big) - sent);
			if (w > 0)
				sent += (size_t)w;
		}
		src.can_read = true;
		while (p->len < p->cap && sk_endpoint_splice_in(&src, p) > 0)
			;
		r = sk_endpoint_splice_out(&dst, p, &count);
	}
	assert_int_equal(r, 0);
	assert_false(dst.can_write);
	assert_true(p->len > 0);
	assert_true(count > 0);

	/* The bytes that reached the receiver are the first ones, in order. */
	static unsigned char got[4 << 20];
	size_t have = 0;
	while (have < count) {
		/* The sockets are non-blocking: on a loaded machine loopback bytes can lag the send by a moment. */
		struct pollfd pf = { .fd = out[1], .events = POLLIN };
		assert_int_equal(poll(&pf, 1, 5000), 1);
		ssize_t n = read(out[1], got + have, count - have);
		assert_true(n > 0);
		have += (size_t)n;
	}
	assert_memory_equal(got, big, count);
	sk_pipe_put(&pool, p); /* bytes still in it: closed */
	assert_int_equal(pool.open, 0);
	for (int i = 0; i < 2; i++) {
		close(in[i]);
		close(out[i]);
	}
}

/* Writes to fd until the kernel says "again"; returns the bytes it took. */
static size_t write_until_full(int fd)
{
	static unsigned char chunk[65536];
	size_t total = 0;
	for (;;) {
		ssize_t n = write(fd, chunk, sizeof(chunk));
		if (n < 0) {
			assert_int_equal(errno, EAGAIN);
			return total;
		}
		total += (size_t)n;
	}
}

static void test_tuned_socket_caps_unsent_bytes(void **state)
{
	(void)state;
	int fds[2];
	tcp_pair(fds);
	sk_tunnel_socket_tune(fds[0]);
	int v = 0;
	socklen_t len = sizeof(v);
	assert_int_equal(getsockopt(fds[0], IPPROTO_TCP, TCP_NOTSENT_LOWAT, &v, &len), 0);
	assert_int_equal(v, SK_TUNNEL_NOTSENT_LOWAT);
	/* The receiver reads nothing: once its window is full, the sender queues unsent bytes only up to the
	 * cap (plus the one write in progress when it was reached), not up to its send buffer. */
	size_t took = write_until_full(fds[0]);
	int unsent = -1;
	assert_int_equal(ioctl(fds[0], SIOCOUTQNSD, &unsent), 0);
	assert_true(unsent >= 0);
	assert_true((size_t)unsent <= SK_TUNNEL_NOTSENT_LOWAT + 65536);
	assert_true(took > (size_t)unsent); /* the rest went into the receiver's window */
	close(fds[0]);
	close(fds[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pool_is_bounded_and_reuses),
		cmocka_unit_test(test_splice_through_in_order_with_eof),
		cmocka_unit_test(test_full_pipe_and_full_receiver),
		cmocka_unit_test(test_tuned_socket_caps_unsent_bytes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
