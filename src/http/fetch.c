/*
 * fetch.c — a small blocking HTTP/1.1 GET for documents sekisho reads at run time (a JWKS URL), over
 * plain TCP or TLS with certificate and host-name verification. It runs on a thread that may block (never
 * an event loop). Bounded everywhere: one deadline for the whole exchange, a cap on the body, the strict
 * response parser; only a 200 is a document. Redirects are not followed (a key set that moved is an
 * operator's change to make, not the network's).
 */
#include "http/fetch.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/core.h"
#include "http/h1.h"
#include "tls/tls.h"

struct url {
	bool tls;
	char host[256];
	char port[8];
	char path[1024];
};

static int parse_url(const char *u, struct url *out, char *why, size_t cap)
{
	const char *p;
	memset(out, 0, sizeof(*out));
	if (strncmp(u, "https://", 8) == 0) {
		out->tls = true;
		p = u + 8;
	} else if (strncmp(u, "http://", 7) == 0) {
		p = u + 7;
	} else {
		return snprintf(why, cap, "not an http:// or https:// URL"), -1;
	}
	size_t hl = strcspn(p, "/?#");
	const char *rest = p + hl;
	const char *colon = NULL;
	if (*p == '[') {
		const char *close = memchr(p, ']', hl);
		if (!close)
			return snprintf(why, cap, "bad IPv6 address in the URL"), -1;
		if (close + 1 < p + hl && close[1] == ':')
			colon = close + 1;
		snprintf(out->host, sizeof(out->host), "%.*s", (int)(close - p - 1), p + 1);
	} else {
		colon = memchr(p, ':', hl);
		size_t n = colon ? (size_t)(colon - p) : hl;
		if (n == 0 || n >= sizeof(out->host) || memchr(p, '@', hl))
			return snprintf(why, cap, "bad host in the URL"), -1;
		snprintf(out->host, sizeof(out->host), "%.*s", (int)n, p);
	}
	if (colon) {
		size_t n = (size_t)(p + hl - colon - 1);
		if (n == 0 || n >= sizeof(out->port) || strspn(colon + 1, "0123456789") < n)
			return snprintf(why, cap, "bad port in the URL"), -1;
		snprintf(out->port, sizeof(out->port), "%.*s", (int)n, colon + 1);
	} else {
		snprintf(out->port, sizeof(out->port), "%s", out->tls ? "443" : "80");
	}
	if (*rest != '/' && *rest)
		snprintf(out->path, sizeof(out->path), "/%s", rest);
	else
		snprintf(out->path, sizeof(out->path), "%s", *rest ? rest : "/");
	out->path[strcspn(out->path, "#")] = '\0';
	for (const char *c = out->path; *c; c++)
		if ((unsigned char)*c <= 0x20 || *c == 0x7f)
			return snprintf(why, cap, "bad path in the URL"), -1;
	return 0;
}

static int remaining_ms(uint64_t deadline)
{
	uint64_t now = sk_now_ms();
	return now >= deadline ? 0 : (int)SK_MIN(deadline - now, (uint64_t)60000);
}

/* Waits for fd to be ready for events before the deadline. 0 ready, -1 timed out or failed. */
static int wait_fd(int fd, short events, uint64_t deadline)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = events };
		int ms = remaining_ms(deadline);
		if (ms == 0)
			return -1;
		int n = poll(&p, 1, ms);
		if (n > 0)
			return 0;
		if (n == -1 && errno != EINTR)
			return -1;
	}
}

static int dial(const struct url *u, uint64_t deadline, char *why, size_t cap)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_ADDRCONFIG }, *res = NULL;
	int rc = getaddrinfo(u->host, u->port, &hints, &res);
	if (rc != 0)
		return snprintf(why, cap, "cannot resolve %s: %s", u->host, gai_strerror(rc)), -1;
	int fd = -1;
	for (struct addrinfo *a = res; a && fd == -1; a = a->ai_next) {
		fd = socket(a->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd == -1)
			continue;
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (connect(fd, a->ai_addr, a->ai_addrlen) == -1 && errno != EINPROGRESS) {
			snprintf(why, cap, "connect to %s:%s: %s", u->host, u->port, strerror(errno));
			close(fd);
			fd = -1;
			continue;
		}
		int err = 0;
		socklen_t el = sizeof(err);
		if (wait_fd(fd, POLLOUT, deadline) == -1 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) == -1 ||
		    err != 0) {
			snprintf(why, cap, "connect to %s:%s: %s", u->host, u->port, err ? strerror(err) : "timed out");
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	return fd;
}

struct conn {
	int fd;
	struct ssl_st *ssl;
	uint64_t deadline;
};

/* One read: bytes (> 0), 0 at the end, -1 on error or timeout. */
static ssize_t conn_read(struct conn *c, char *buf, size_t n)
{
	for (;;) {
		ssize_t r = c->ssl ? sk_tls_read(c->ssl, buf, n) : read(c->fd, buf, n);
		if (r >= 0)
			return r;
		bool want_write = c->ssl && r == SK_TLS_WAIT_OTHER;
		if (c->ssl ? (r != SK_TLS_WAIT && r != SK_TLS_WAIT_OTHER) : (errno != EAGAIN && errno != EINTR))
			return -1;
		if (wait_fd(c->fd, want_write ? POLLOUT : POLLIN, c->deadline) == -1)
			return -1;
	}
}

static int conn_write(struct conn *c, const char *buf, size_t n)
{
	while (n > 0) {
		struct iovec iov = { .iov_base = (void *)buf, .iov_len = n };
		ssize_t w = c->ssl ? sk_tls_writev(c->ssl, &iov, 1) : write(c->fd, buf, n);
		if (w > 0) {
			buf += w;
			n -= (size_t)w;
			continue;
		}
		bool want_read = c->ssl && w == SK_TLS_WAIT_OTHER;
		if (c->ssl ? (w != SK_TLS_WAIT && w != SK_TLS_WAIT_OTHER) : (w == -1 && errno != EAGAIN && errno != EINTR))
			return -1;
		if (wait_fd(c->fd, want_read ? POLLIN : POLLOUT, c->deadline) == -1)
			return -1;
	}
	return 0;
}

static int handshake(struct conn *c, char *why, size_t cap)
{
	for (;;) {
		int r = sk_tls_handshake(c->ssl, why, cap);
		if (r == 1)
			return 0;
		if (r != SK_TLS_WAIT && r != SK_TLS_WAIT_OTHER) {
			if (r == 0)
				snprintf(why, cap, "the server closed the connection during the TLS handshake");
			return -1;
		}
		if (wait_fd(c->fd, r == SK_TLS_WAIT ? POLLIN : POLLOUT, c->deadline) == -1)
			return snprintf(why, cap, "TLS handshake timed out"), -1;
	}
}

/* Reads the whole response into *buf (grown up to max + head) until the peer closes. */
static ssize_t read_all(struct conn *c, size_t max, char **out)
{
	size_t cap = 16384, len = 0, limit = max + SK_MAX_FETCH_HEAD;
	char *buf = sk_malloc(cap);
	for (;;) {
		if (len == cap) {
			if (cap >= limit) {
				free(buf);
				return -2;
			}
			cap = SK_MIN(cap * 2, limit);
			buf = sk_realloc(buf, cap);
		}
		ssize_t r = conn_read(c, buf + len, cap - len);
		if (r < 0) {
			free(buf);
			return -1;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	*out = buf;
	return (ssize_t)len;
}

int sk_http_fetch(const char *url, const char *ca, uint32_t timeout_ms, size_t max, char **body, size_t *body_len,
		  char *why, size_t cap)
{
	struct url u;
	struct conn c = { .fd = -1, .deadline = sk_now_ms() + timeout_ms };
	struct sk_tls_client *tls = NULL;
	char *raw = NULL;
	int rc = -1;
	*body = NULL;
	*body_len = 0;
	if (parse_url(url, &u, why, cap) == -1)
		return -1;
	if ((c.fd = dial(&u, c.deadline, why, cap)) == -1)
		goto out;
	if (u.tls) {
		/* The origin TLS client does the verification (CA, SNI and host name): a stand-in origin carries
		 * this URL's settings. */
		struct sk_config cfg = { .path = (char *)url };
		struct sk_origin o = { .name = (char *)url, .host = u.host,
				       .tls = { .present = true, .ca = (char *)ca, .verify = true } };
		struct sk_err err;
		if (!(tls = sk_tls_client_new(&cfg, &o, &err))) {
			snprintf(why, cap, "%s", err.msg);
			goto out;
		}
		c.ssl = sk_tls_client_ssl(tls, c.fd, NULL);
		if (!c.ssl || handshake(&c, why, cap) == -1)
			goto out;
	}
	char req[1400];
	int n = snprintf(req, sizeof(req),
			 "GET %s HTTP/1.1\r\nHost: %s%s%s\r\nAccept: application/json\r\nUser-Agent: sekisho\r\n"
			 "Connection: close\r\n\r\n",
			 u.path, u.host, strcmp(u.port, u.tls ? "443" : "80") ? ":" : "", strcmp(u.port, u.tls ? "443" : "80") ? u.port : "");
	if (n <= 0 || (size_t)n >= sizeof(req) || conn_write(&c, req, (size_t)n) == -1) {
		snprintf(why, cap, "cannot send the request");
		goto out;
	}
	ssize_t len = read_all(&c, max, &raw);
	if (len < 0) {
		snprintf(why, cap, len == -2 ? "the document is larger than %zu bytes" : "reading the response failed "
			 "or timed out", max);
		goto out;
	}
	struct sk_http_field headers[64];
	struct sk_h1_response resp;
	if (sk_h1_parse_response(raw, (size_t)len, NULL, false, &resp, headers, 64) != SK_H1_DONE) {
		snprintf(why, cap, "not an HTTP response");
		goto out;
	}
	if (resp.status != 200) {
		snprintf(why, cap, "HTTP status %d", resp.status);
		goto out;
	}
	char *b = raw + resp.head_len;
	size_t blen = (size_t)len - resp.head_len;
	if (resp.body == SK_BODY_CHUNKED) {
		struct sk_h1_chunked d;
		sk_h1_chunked_init(&d);
		if (sk_h1_chunked_decode(&d, b, &blen, NULL) != SK_CHUNKED_DONE) {
			snprintf(why, cap, "a truncated or malformed chunked body");
			goto out;
		}
	} else if (resp.body == SK_BODY_LENGTH) {
		if (blen < resp.content_length) {
			snprintf(why, cap, "a truncated body");
			goto out;
		}
		blen = resp.content_length;
	}
	if (blen > max) {
		snprintf(why, cap, "the document is larger than %zu bytes", max);
		goto out;
	}
	*body = sk_malloc(blen + 1);
	memcpy(*body, b, blen);
	(*body)[blen] = '\0';
	*body_len = blen;
	rc = 0;
out:
	free(raw);
	if (c.ssl)
		sk_tls_free(c.ssl);
	sk_tls_client_free(tls);
	if (c.fd != -1)
		close(c.fd);
	return rc;
}
