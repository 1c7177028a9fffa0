/*
 * upstream.c — per-worker pools of keep-alive connections to origin servers, round robin over an
 * origin's servers and passive failure marking.
 *
 * A pool belongs to one worker and one server address (origins naming the same address share it, and
 * pools outlive config reloads). TLS settings are part of a pool's key: a plain and a TLS origin on the
 * same address, or two with different CAs or names to check, never share connections. A TLS connection
 * keeps its SSL (and so the context it was made from) for its whole life, across reloads. Idle connections stay registered in epoll: any event on an idle one
 * means the origin closed it (or sent bytes nobody asked for), so it is closed at once.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "obs/metrics.h"
#include "proxy/exchange.h"

#define FAIL_MS 10000    /* a server that failed is skipped for this long (origins.X.fail_timeout), unless all have failed */
#define IDLE_UP_MS 50000 /* idle upstream connections are closed after this (below common 60 s) */

static void pool_unlink(struct sk_server_pool *p, struct sk_upconn *u)
{
	struct sk_upconn **pp = &p->idle;
	while (*pp && *pp != u)
		pp = &(*pp)->next;
	if (*pp) {
		*pp = u->next;
		p->n_idle--;
	}
	u->next = NULL;
}

static void on_up_event(struct sk_io *io, uint32_t ev)
{
	struct sk_upconn *u = SK_CONTAINER_OF(io, struct sk_upconn, ep.io);
	sk_endpoint_events(&u->ep, ev);
	if (u->owner) {
		sk_exchange_origin_event(u->owner);
		return;
	}
	if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
		pool_unlink(u->pool, u);
		sk_upstream_close(u);
	}
}

static void on_idle_timeout(struct sk_timer *t)
{
	struct sk_upconn *u = SK_CONTAINER_OF(t, struct sk_upconn, idle_timer);
	pool_unlink(u->pool, u);
	sk_upstream_close(u);
}

struct sk_server_pool *sk_upstream_pool(struct sk_worker *w, const struct sk_addr *addr, uint64_t tls_id,
				       uint32_t max_idle)
{
	for (size_t i = 0; i < w->n_pools; i++) {
		struct sk_server_pool *p = w->pools[i];
		if (p->tls_id == tls_id && p->addr.len == addr->len && memcmp(&p->addr.ss, &addr->ss, addr->len) == 0) {
			p->max_idle = max_idle;
			return p;
		}
	}
	struct sk_server_pool *p = sk_calloc(1, sizeof(*p));
	p->addr = *addr;
	p->tls_id = tls_id;
	p->max_idle = max_idle;
	p->w = w;
	p->mslot = sk_metrics_slot(SK_MK_SERVER, addr->text);
	w->pools = sk_realloc(w->pools, (w->n_pools + 1) * sizeof(*w->pools));
	w->pools[w->n_pools++] = p;
	return p;
}

struct sk_server_pool *sk_upstream_egress_pool(struct sk_worker *w, const struct sockaddr_storage *addr,
					       uint32_t max_idle)
{
	socklen_t len = addr->ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
	for (struct sk_server_pool *p = w->egress_pools; p; p = p->eg_next)
		if (p->addr.len == len && memcmp(&p->addr.ss, addr, len) == 0) {
			p->refs++;
			return p;
		}
	struct sk_server_pool *p = sk_calloc(1, sizeof(*p));
	memcpy(&p->addr.ss, addr, len);
	p->addr.len = len;
	char ip[INET6_ADDRSTRLEN] = "?";
	if (addr->ss_family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)addr)->sin_addr, ip, sizeof(ip));
		snprintf(p->addr.text, sizeof(p->addr.text), "%s:%u", ip, ntohs(((const struct sockaddr_in *)addr)->sin_port));
	} else {
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)addr)->sin6_addr, ip, sizeof(ip));
		snprintf(p->addr.text, sizeof(p->addr.text), "[%s]:%u", ip,
			 ntohs(((const struct sockaddr_in6 *)addr)->sin6_port));
	}
	p->max_idle = max_idle;
	p->w = w;
	p->egress = true;
	p->refs = 1;
	p->eg_next = w->egress_pools;
	if (w->egress_pools)
		w->egress_pools->eg_prev = p;
	w->egress_pools = p;
	return p;
}

void sk_upstream_egress_unref(struct sk_server_pool *p)
{
	SK_ASSERT(p->egress && p->refs > 0);
	if (--p->refs > 0)
		return;
	SK_ASSERT(!p->idle);
	if (p->eg_prev)
		p->eg_prev->eg_next = p->eg_next;
	else
		p->w->egress_pools = p->eg_next;
	if (p->eg_next)
		p->eg_next->eg_prev = p->eg_prev;
	free(p);
}

struct sk_server_pool *sk_upstream_pick(struct sk_worker *w, const struct sk_origin *o, uint64_t tls_id)
{
	SK_ASSERT(o->n_servers > 0);
	uint64_t now = sk_loop_now(w->loop);
	uint32_t start = w->rr++;
	struct sk_server_pool *first = NULL;
	for (size_t k = 0; k < o->n_servers; k++) {
		const struct sk_addr *a = &o->servers[(start + k) % o->n_servers];
		struct sk_server_pool *p = sk_upstream_pool(w, a, tls_id, o->max_idle);
		p->fail_ms = o->fail_timeout_ms;
		if (!first)
			first = p;
		if (p->failed_until <= now)
			return p;
	}
	return first; /* every server is marked failed: try anyway rather than refuse */
}

void sk_upstream_mark_failed(struct sk_server_pool *p)
{
	if (p->egress) /* an egress destination is tried once per request, in DNS order: no passive health */
		return;
	uint64_t ms = p->fail_ms ? p->fail_ms : FAIL_MS;
	p->failed_until = sk_loop_now(p->w->loop) + ms;
	sk_metrics_server_failed(p->mslot, ms);
}

struct sk_upconn *sk_upstream_get(struct sk_server_pool *p, struct sk_exchange *owner, bool fresh, bool *reused,
				  const struct sk_tls_client *tls)
{
	SK_ASSERT(tls ? sk_tls_client_id(tls) == p->tls_id : p->tls_id == 0);
	struct sk_worker *w = p->w;
	if (!fresh && p->idle) {
		struct sk_upconn *u = p->idle;
		p->idle = u->next;
		p->n_idle--;
		u->next = NULL;
		sk_timer_cancel(w->loop, &u->idle_timer);
		u->owner = owner;
		*reused = true;
		return u;
	}
	*reused = false;
	int fd = socket(p->addr.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		sk_error("socket: %s", strerror(errno));
		return NULL;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	struct sk_upconn *u = sk_calloc(1, sizeof(*u));
	u->ep.io.fd = fd;
	u->ep.io.cb = on_up_event;
	u->idle_timer.cb = on_idle_timeout;
	u->pool = p;
	u->owner = owner;
	if (tls && !(u->ep.ssl = sk_tls_client_ssl(tls, fd, &p->tls_session))) {
		close(fd);
		free(u);
		return NULL;
	}
	if (connect(fd, (struct sockaddr *)&p->addr.ss, p->addr.len) == 0) {
		u->connected = true;
		u->ep.can_write = true;
	} else if (errno != EINPROGRESS) {
		sk_warn("connect to %s: %s", p->addr.text, strerror(errno));
		if (u->ep.ssl)
			sk_tls_free(u->ep.ssl);
		close(fd);
		free(u);
		return NULL;
	}
	if (sk_loop_add(w->loop, &u->ep.io, EPOLLIN | EPOLLOUT | EPOLLRDHUP) == -1) {
		if (u->ep.ssl)
			sk_tls_free(u->ep.ssl);
		close(fd);
		free(u);
		return NULL;
	}
	if (p->egress)
		p->refs++;
	return u;
}

void sk_upstream_release(struct sk_upconn *u)
{
	struct sk_server_pool *p = u->pool;
	u->owner = NULL;
	if (p->n_idle >= p->max_idle || p->w->stopping) {
		sk_upstream_close(u);
		return;
	}
	u->next = p->idle;
	p->idle = u;
	p->n_idle++;
	sk_timer_arm(p->w->loop, &u->idle_timer, IDLE_UP_MS);
	/* An event that arrived while it was owned (e.g. the origin's FIN) will not repeat: check now. */
	if (u->ep.hup || (u->ep.ssl && sk_tls_pending(u->ep.ssl))) {
		pool_unlink(p, u);
		sk_upstream_close(u);
	} else if (u->ep.can_read) {
		char b;
		ssize_t n = recv(u->ep.io.fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
		if (n == -1 && errno == EAGAIN) {
			u->ep.can_read = false;
		} else {
			pool_unlink(p, u);
			sk_upstream_close(u);
		}
	}
}

void sk_upstream_close(struct sk_upconn *u)
{
	struct sk_server_pool *p = u->pool;
	struct sk_worker *w = p->w;
	sk_timer_cancel(w->loop, &u->idle_timer);
	if (u->ep.ssl) {
		sk_tls_free(u->ep.ssl);
		u->ep.ssl = NULL;
	}
	sk_loop_close_free(w->loop, &u->ep.io, u);
	if (p->egress)
		sk_upstream_egress_unref(p);
}
