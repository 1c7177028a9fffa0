/*
 * idle_conns — open N keep-alive HTTP/1.1 connections, send one complete GET on each, read each
 * response completely, then keep all of them open and idle until told to stop.
 *
 *   idle_conns HOST PORT N [-k INFLIGHT] [-p PATH] [-H HOSTHEADER] [-t TIMEOUT_S] [-s 1]
 *
 * -s 1: speak TLS (any certificate accepted, SNI "localhost", ALPN http/1.1): each connection then holds
 * the proxy's TLS state too, which is what an idle HTTPS keep-alive connection costs. The client's own
 * SSL objects stay alive with their sockets (their memory is this process's, not the proxy's).
 *
 * Protocol with the caller (bench/compare), one line each on stdout:
 *   READY ok=<n> failed=<n> elapsed_ms=<n>      every connection has finished its exchange
 * Then commands on stdin, one per line:
 *   status   -> "ALIVE <n> CLOSED <n>": connections still open (no EOF, no error, no stray byte)
 *   (EOF)    -> close everything and exit 0
 *
 * A response counts as "ok" when it is HTTP/1.x 200, framed by Content-Length or chunked, has no
 * "Connection: close", and arrives within the timeout. At most INFLIGHT connections are connecting or
 * waiting for their response at once (default 256; bench/compare passes 16), so a listen backlog
 * is never flooded with SYNs.
 * Uses epoll; one small buffer per connection that is freed once its response is complete.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/ssl.h>

enum { ST_UNUSED, ST_CONNECTING, ST_HANDSHAKE, ST_SENDING, ST_READING, ST_IDLE, ST_FAILED, ST_CLOSED };

#define RBUF 16384

struct conn {
	int fd;
	int state;
	size_t sent;
	size_t rlen;
	char *rbuf;
	SSL *ssl;
};

static SSL_CTX *tls; /* NULL: plain HTTP */

/* send/recv, or their TLS equivalents: > 0 bytes, 0 EOF, -1 with errno (EAGAIN: try on the next event;
 * a TLS read or write that needs the other direction first is an EAGAIN too, as every event is watched) */
static ssize_t io_send(struct conn *c, const void *p, size_t n)
{
	if (!c->ssl)
		return send(c->fd, p, n, MSG_NOSIGNAL);
	int r = SSL_write(c->ssl, p, (int)n);
	if (r > 0)
		return r;
	int e = SSL_get_error(c->ssl, r);
	errno = (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) ? EAGAIN : EIO;
	return -1;
}

static ssize_t io_recv(struct conn *c, void *p, size_t n)
{
	if (!c->ssl)
		return recv(c->fd, p, n, 0);
	int r = SSL_read(c->ssl, p, (int)n);
	if (r > 0)
		return r;
	int e = SSL_get_error(c->ssl, r);
	if (e == SSL_ERROR_ZERO_RETURN)
		return 0;
	errno = (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) ? EAGAIN : EIO;
	return -1;
}

/* 1 = done, 0 = in progress (*events: what to wait for; the socket is writable at once, so waiting
 * on EPOLLOUT while the server thinks would spin), -1 = failed */
static int io_handshake(struct conn *c, uint32_t *events)
{
	int r = SSL_do_handshake(c->ssl);
	if (r == 1)
		return 1;
	int e = SSL_get_error(c->ssl, r);
	*events = (e == SSL_ERROR_WANT_WRITE ? EPOLLOUT : EPOLLIN) | EPOLLRDHUP;
	return (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) ? 0 : -1;
}

static struct conn *conns;
static char req[1024];
static size_t reqlen;

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

static void die(const char *m)
{
	perror(m);
	exit(2);
}

/* Case-insensitive search for a header line "name:" in head[0..hlen); returns the value start or NULL. */
static const char *find_header(const char *head, size_t hlen, const char *name)
{
	size_t nl = strlen(name);
	const char *p = memchr(head, '\n', hlen);
	const char *end = head + hlen;
	while (p && p + 1 < end) {
		p++;
		if ((size_t)(end - p) > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
			const char *v = p + nl + 1;
			while (v < end && (*v == ' ' || *v == '\t'))
				v++;
			return v;
		}
		p = memchr(p, '\n', end - p);
	}
	return NULL;
}

/* 1 = complete and acceptable, 0 = need more bytes, -1 = bad response */
static int response_complete(struct conn *c)
{
	char *hend = memmem(c->rbuf, c->rlen, "\r\n\r\n", 4);
	if (!hend)
		return c->rlen >= RBUF ? -1 : 0;
	size_t hlen = hend - c->rbuf + 4;
	if (c->rlen < 12 || strncmp(c->rbuf, "HTTP/1.", 7) != 0 || strncmp(c->rbuf + 8, " 200", 4) != 0)
		return -1;
	const char *v = find_header(c->rbuf, hlen, "connection");
	if (v && strncasecmp(v, "close", 5) == 0)
		return -1;
	v = find_header(c->rbuf, hlen, "transfer-encoding");
	if (v && strncasecmp(v, "chunked", 7) == 0) {
		/* the test body is tiny: the message ends with the last-chunk and an empty trailer */
		if (c->rlen >= hlen + 5 && memcmp(c->rbuf + c->rlen - 5, "0\r\n\r\n", 5) == 0)
			return 1;
		return c->rlen >= RBUF ? -1 : 0;
	}
	v = find_header(c->rbuf, hlen, "content-length");
	if (!v)
		return -1; /* a keep-alive response needs framing */
	size_t cl = strtoul(v, NULL, 10);
	if (c->rlen > hlen + cl)
		return -1; /* stray bytes after the response */
	return c->rlen == hlen + cl ? 1 : 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: idle_conns HOST PORT N [-k INFLIGHT] [-p PATH] [-H HOSTHEADER] [-t TIMEOUT_S] "
	                "[-s 1]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	if (argc < 4)
		usage();
	const char *host = argv[1];
	int port = atoi(argv[2]);
	int n = atoi(argv[3]);
	int inflight_max = 256;
	const char *path = "/";
	const char *hosthdr = NULL;
	double timeout_s = 60;
	for (int i = 4; i < argc; i++) {
		if (i + 1 >= argc)
			usage();
		if (!strcmp(argv[i], "-k"))
			inflight_max = atoi(argv[++i]);
		else if (!strcmp(argv[i], "-p"))
			path = argv[++i];
		else if (!strcmp(argv[i], "-H"))
			hosthdr = argv[++i];
		else if (!strcmp(argv[i], "-t"))
			timeout_s = atof(argv[++i]);
		else if (!strcmp(argv[i], "-s") && atoi(argv[++i]))
			tls = SSL_CTX_new(TLS_client_method());
		else
			usage();
	}
	if (n <= 0 || port <= 0 || inflight_max <= 0)
		usage();
	if (tls)
		SSL_CTX_set_alpn_protos(tls, (const unsigned char *)"\x08http/1.1", 9);

	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if ((rlim_t)n + 16 > rl.rlim_cur) {
		fprintf(stderr, "idle_conns: open-file limit %lu too low for %d connections\n",
		        (unsigned long)rl.rlim_cur, n);
		return 2;
	}

	char hbuf[300];
	if (!hosthdr) {
		snprintf(hbuf, sizeof hbuf, "%s:%d", host, port);
		hosthdr = hbuf;
	}
	reqlen = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: idle_conns\r\n\r\n", path,
	                  hosthdr);

	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
		fprintf(stderr, "idle_conns: HOST must be an IPv4 address\n");
		return 2;
	}

	conns = calloc(n, sizeof *conns);
	int ep = epoll_create1(0);
	if (!conns || ep < 0)
		die("init");
	struct epoll_event *evs = calloc(1024, sizeof *evs);

	int next = 0, inflight = 0, ok = 0, failed = 0;
	double t0 = now_ms(), deadline = t0 + timeout_s * 1000;

	while (ok + failed < n) {
		while (inflight < inflight_max && next < n) {
			struct conn *c = &conns[next];
			c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
			if (c->fd < 0)
				die("socket");
			int one = 1;
			setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
			c->state = ST_CONNECTING;
			if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) < 0 && errno != EINPROGRESS) {
				perror("connect");
				close(c->fd);
				c->fd = -1;
				c->state = ST_FAILED;
				failed++;
				next++;
				continue;
			}
			struct epoll_event ev = { .events = EPOLLOUT | EPOLLIN | EPOLLRDHUP, .data.u32 = next };
			if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0)
				die("epoll_ctl");
			next++;
			inflight++;
		}
		int remain = (int)(deadline - now_ms());
		if (remain <= 0)
			break;
		int k = epoll_wait(ep, evs, 1024, remain < 1000 ? remain : 1000);
		if (k < 0 && errno != EINTR)
			die("epoll_wait");
		for (int i = 0; i < k; i++) {
			struct conn *c = &conns[evs[i].data.u32];
			int bad = 0;
			if (c->state == ST_CONNECTING) {
				int err = 0;
				socklen_t el = sizeof err;
				getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
				if (err) {
					bad = 1;
				} else {
					c->state = tls ? ST_HANDSHAKE : ST_SENDING;
					c->rbuf = malloc(RBUF);
					if (!c->rbuf)
						die("malloc");
					if (tls) {
						c->ssl = SSL_new(tls);
						if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1)
							die("SSL_new");
						SSL_set_tlsext_host_name(c->ssl, "localhost");
						SSL_set_connect_state(c->ssl);
					}
				}
			}
			if (!bad && c->state == ST_HANDSHAKE) {
				uint32_t want = 0;
				int h = io_handshake(c, &want);
				if (h < 0) {
					bad = 1;
				} else if (h == 1) {
					c->state = ST_SENDING;
				} else {
					struct epoll_event ev = { .events = want, .data.u32 = evs[i].data.u32 };
					epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
				}
			}
			if (!bad && c->state == ST_SENDING) {
				ssize_t w = io_send(c, req + c->sent, reqlen - c->sent);
				if (w > 0)
					c->sent += w;
				else if (w < 0 && errno != EAGAIN)
					bad = 1;
				if (!bad && c->sent == reqlen) {
					c->state = ST_READING;
					struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.u32 = evs[i].data.u32 };
					epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
				}
			}
			if (!bad && c->state == ST_READING && (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) {
				for (;;) {
					ssize_t r = io_recv(c, c->rbuf + c->rlen, RBUF - c->rlen);
					if (r > 0) {
						c->rlen += r;
						if (c->rlen == RBUF)
							break;
						continue;
					}
					if (r == 0 || errno != EAGAIN)
						bad = 1;
					break;
				}
				int rc = response_complete(c);
				if (rc == 1) {
					/* complete: keep the socket, watch it for a close by the peer while idle */
					free(c->rbuf);
					c->rbuf = NULL;
					c->state = ST_IDLE;
					ok++;
					inflight--;
					continue;
				}
				if (rc < 0)
					bad = 1;
			}
			if (bad) {
				epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
				close(c->fd);
				c->fd = -1;
				free(c->rbuf);
				c->rbuf = NULL;
				SSL_free(c->ssl);
				c->ssl = NULL;
				c->state = ST_FAILED;
				failed++;
				inflight--;
			}
		}
	}
	/* anything unfinished at the deadline is a failure */
	for (int i = 0; i < n; i++) {
		struct conn *c = &conns[i];
		if (c->state == ST_CONNECTING || c->state == ST_SENDING || c->state == ST_READING) {
			epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
			close(c->fd);
			free(c->rbuf);
			c->fd = -1;
			c->rbuf = NULL;
			c->state = ST_FAILED;
			failed++;
		} else if (c->state == ST_UNUSED) {
			c->state = ST_FAILED;
			failed++;
		}
	}
	printf("READY ok=%d failed=%d elapsed_ms=%.0f\n", ok, failed, now_ms() - t0);
	fflush(stdout);

	/* idle phase: any event on an idle connection means the peer closed it (or sent a stray byte) */
	struct epoll_event sev = { .events = EPOLLIN, .data.u32 = (uint32_t)-1 };
	if (epoll_ctl(ep, EPOLL_CTL_ADD, 0, &sev) < 0)
		die("epoll_ctl stdin");
	int closed = 0;
	char line[256];
	size_t llen = 0;
	for (;;) {
		int k = epoll_wait(ep, evs, 1024, -1);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			die("epoll_wait");
		}
		for (int i = 0; i < k; i++) {
			if (evs[i].data.u32 == (uint32_t)-1) {
				ssize_t r = read(0, line + llen, sizeof line - 1 - llen);
				if (r <= 0)
					return 0; /* caller is done: exit closes every socket */
				llen += r;
				char *nl;
				while ((nl = memchr(line, '\n', llen))) {
					*nl = 0;
					if (!strcmp(line, "status")) {
						printf("ALIVE %d CLOSED %d\n", ok - closed, closed);
						fflush(stdout);
					}
					size_t used = nl + 1 - line;
					memmove(line, nl + 1, llen - used);
					llen -= used;
				}
				if (llen == sizeof line - 1)
					llen = 0;
				continue;
			}
			struct conn *c = &conns[evs[i].data.u32];
			if (c->state == ST_IDLE) {
				epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
				close(c->fd);
				c->fd = -1;
				c->state = ST_CLOSED;
				closed++;
			}
		}
	}
}
