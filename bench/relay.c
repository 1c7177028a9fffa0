/*
 * relay — the least a CONNECT proxy can do: the reference row of the egress scenario's tunnel
 * measurement (bench/compare, bench/README.md "egress"). It answers any CONNECT with 200 and relays bytes
 * between the client and one fixed origin, with nothing else: no parsing beyond the blank line, no name
 * lookup, no access check, no logging, no timeouts. Its throughput is what any proxy can reach on this
 * machine with the client, the origin and the proxy sharing its cores.
 *
 *   relay LISTEN_PORT ORIGIN_PORT [-w WORKERS] [-m splice|copy] [-p PIPE_BYTES] [-b BUF_BYTES]
 *         [-n NODELAY] [-r SO_RCVBUF] [-s SO_SNDBUF] [-l TCP_NOTSENT_LOWAT]
 *
 * -w: worker processes, each with its own epoll and SO_REUSEPORT listener (default 1).
 * -m splice: socket -> pipe -> socket per direction (default); copy: recv/send through a user buffer.
 * -n, -r, -s, -l: socket options on both of a tunnel's sockets (0: the kernel's default; TCP_NODELAY 1).
 * Each worker is single-threaded and edge-triggered; a direction moves bytes until the kernel says
 * "again", then waits. The CONNECT head is read and the origin connected blocking (loopback: microseconds).
 * Prints "READY" on stdout once listening; runs until killed.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static bool use_splice = true;
static int pipe_bytes = 256 * 1024;
static int buf_bytes = 256 * 1024;
static int nodelay = 1, rcvbuf, sndbuf, notsent_lowat;

struct dir {
	int src, dst;
	int rfd, wfd;   /* the pipe (splice) */
	char *buf;      /* the buffer (copy) */
	size_t off, len;
	bool eof, shut;
};

struct conn {
	int fd[2];
	struct dir d[2]; /* 0: client -> origin, 1: origin -> client */
	struct conn *next;
	bool dead;
};

static void die(const char *what)
{
	perror(what);
	exit(1);
}

/* Moves what it can; returns -1 on an error, else 0. */
static int pump(struct dir *d)
{
	for (;;) {
		if (d->len) {
			ssize_t n = use_splice ? splice(d->rfd, NULL, d->dst, NULL, d->len, SPLICE_F_MOVE | SPLICE_F_NONBLOCK)
					       : send(d->dst, d->buf + d->off, d->len, MSG_NOSIGNAL | MSG_DONTWAIT);
			if (n < 0)
				return errno == EAGAIN ? 0 : -1;
			d->len -= (size_t)n;
			d->off = d->len ? d->off + (size_t)n : 0;
			continue;
		}
		if (d->eof) {
			if (!d->shut)
				shutdown(d->dst, SHUT_WR);
			d->shut = true;
			return 0;
		}
		ssize_t n = use_splice ? splice(d->src, NULL, d->wfd, NULL, (size_t)pipe_bytes, SPLICE_F_MOVE | SPLICE_F_NONBLOCK)
				       : recv(d->src, d->buf, (size_t)buf_bytes, MSG_DONTWAIT);
		if (n < 0)
			return errno == EAGAIN ? 0 : -1;
		if (n == 0)
			d->eof = true;
		d->len = (size_t)n;
	}
}

static void conn_free(struct conn *c)
{
	for (int i = 0; i < 2; i++) {
		close(c->fd[i]);
		if (use_splice) {
			close(c->d[i].rfd);
			close(c->d[i].wfd);
		}
		free(c->d[i].buf);
	}
	free(c);
}

/* Reads the CONNECT head (up to its blank line), connects to the origin, answers 200. */
static struct conn *conn_open(int cfd, const struct sockaddr_in *origin)
{
	char head[4096];
	size_t got = 0;
	while (got < sizeof(head) - 1) {
		ssize_t n = recv(cfd, head + got, sizeof(head) - 1 - got, 0);
		if (n <= 0)
			goto fail;
		got += (size_t)n;
		head[got] = 0;
		if (strstr(head, "\r\n\r\n"))
			break;
	}
	if (strncmp(head, "CONNECT ", 8) != 0 || !strstr(head, "\r\n\r\n") || strstr(head, "\r\n\r\n")[4])
		goto fail; /* the client sends nothing before the 200 */
	int ofd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (ofd < 0)
		goto fail;
	if (connect(ofd, (const struct sockaddr *)origin, sizeof(*origin)) < 0) {
		close(ofd);
		goto fail;
	}
	static const char ok[] = "HTTP/1.1 200 Connection established\r\n\r\n";
	if (send(cfd, ok, sizeof(ok) - 1, MSG_NOSIGNAL) != (ssize_t)sizeof(ok) - 1) {
		close(ofd);
		goto fail;
	}
	for (int k = 0; k < 2; k++) {
		int fd = k ? ofd : cfd;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &nodelay, sizeof(nodelay));
		if (rcvbuf)
			setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
		if (sndbuf)
			setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
		if (notsent_lowat)
			setsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &notsent_lowat, sizeof(notsent_lowat));
	}
	fcntl(cfd, F_SETFL, O_NONBLOCK);
	fcntl(ofd, F_SETFL, O_NONBLOCK);
	struct conn *c = calloc(1, sizeof(*c));
	c->fd[0] = cfd;
	c->fd[1] = ofd;
	for (int i = 0; i < 2; i++) {
		struct dir *d = &c->d[i];
		d->src = c->fd[i];
		d->dst = c->fd[1 - i];
		if (use_splice) {
			int p[2];
			if (pipe2(p, O_NONBLOCK | O_CLOEXEC) < 0)
				die("pipe2");
			fcntl(p[1], F_SETPIPE_SZ, pipe_bytes);
			d->rfd = p[0];
			d->wfd = p[1];
		} else {
			d->buf = malloc((size_t)buf_bytes);
		}
	}
	return c;
fail:
	close(cfd);
	return NULL;
}

static void worker(int lfd, const struct sockaddr_in *origin)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlives the bench's relay process */
	if (getppid() == 1)
		_exit(0);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = { .events = EPOLLIN | EPOLLEXCLUSIVE, .data.ptr = NULL };
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	struct epoll_event evs[64];
	struct conn *dead = NULL;
	for (;;) {
		int n = epoll_wait(ep, evs, 64, -1);
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			if (!c) {
				int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC); /* a blocking socket until conn_open */
				if (cfd < 0 || !(c = conn_open(cfd, origin)))
					continue;
				for (int k = 0; k < 2; k++) {
					struct epoll_event e = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = c };
					epoll_ctl(ep, EPOLL_CTL_ADD, c->fd[k], &e);
				}
			}
			if (c->dead)
				continue;
			/* Both directions on any event: an event on one socket can unblock either. */
			if (pump(&c->d[1]) < 0 || pump(&c->d[0]) < 0 || (c->d[0].shut && c->d[1].shut)) {
				c->dead = true; /* freed after the batch, which may name it again */
				c->next = dead;
				dead = c;
			}
		}
		while (dead) {
			struct conn *c = dead;
			dead = c->next;
			conn_free(c); /* closing the descriptors takes them out of the epoll set */
		}
	}
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: relay LISTEN_PORT ORIGIN_PORT [-w WORKERS] [-m splice|copy] [-p PIPE_BYTES] "
				"[-b BUF_BYTES] [-n NODELAY] [-r SO_RCVBUF] [-s SO_SNDBUF] [-l TCP_NOTSENT_LOWAT]\n");
		return 2;
	}
	int port = atoi(argv[1]), workers = 1;
	struct sockaddr_in origin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2])) };
	origin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (int i = 3; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "-w"))
			workers = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "-m"))
			use_splice = strcmp(argv[i + 1], "copy") != 0;
		else if (!strcmp(argv[i], "-p"))
			pipe_bytes = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "-b"))
			buf_bytes = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "-n"))
			nodelay = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "-r"))
			rcvbuf = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "-s"))
			sndbuf = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "-l"))
			notsent_lowat = atoi(argv[i + 1]);
	}
	signal(SIGPIPE, SIG_IGN);
	/* One listener for every worker (each waits on it with EPOLLEXCLUSIVE): binding fails, rather
	 * than sharing the port, when anything else listens there. */
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), one = 1;
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(lfd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(lfd, 4096) < 0)
		die("listen");
	for (int i = 0; i < workers; i++) {
		pid_t p = fork();
		if (p < 0)
			die("fork");
		if (p == 0) {
			worker(lfd, &origin);
			_exit(0);
		}
	}
	usleep(100 * 1000);
	printf("READY\n");
	fflush(stdout);
	while (wait(NULL) > 0)
		;
	return 0;
}
