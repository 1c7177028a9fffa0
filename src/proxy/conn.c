/*
 * conn.c — a viewer connection's lifetime: accept (TLS set up, the snapshot counted), the move to a newer
 * snapshot between requests, and close. What happens on the connection in between is the HTTP/1.1 server
 * side's (h1_server.c), which hands each request to an exchange (exchange.c).
 */
#include <string.h>
#include <sys/epoll.h>

#include "obs/metrics.h"
#include "proxy/exchange.h"

static void snap_count(struct sk_worker *w, struct sk_runtime *rt, int delta);

static bool same_str(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

/*
 * A keep-alive connection moves to the worker's newest snapshot when its next request begins, so that
 * a reload (a revoked API key or a changed password among them, see watch.c) applies to connections that
 * were open before it, not only to new ones. It moves only when its listener is the same in the new
 * snapshot (name, address, mode, TLS and client CAs: what accept and the TLS handshake settled; the TLS
 * session keeps its own SSL_CTX reference, and renegotiation is off). Otherwise this request is served
 * on the old snapshot and is the connection's last: returns false.
 */
bool sk_conn_follow_snapshot(struct sk_conn *c)
{
	struct sk_worker *w = c->w;
	struct sk_runtime *old = c->rt, *nrt = w->rt;
	if (old == nrt)
		return true;
	SK_ASSERT(w->snaps && w->snaps->rt == nrt); /* the worker's list starts with its current snapshot */
	size_t idx = SK_ADMIN_LISTENER;
	if (c->listener == SK_ADMIN_LISTENER) {
		if (!nrt->cfg->admin.present || strcmp(nrt->cfg->admin.listen.text, old->cfg->admin.listen.text) != 0)
			return false;
	} else if (sk_listener_is_egress(c->listener)) {
		/* An egress connection moves to the entry of the same name and address. */
		const struct sk_egress *e = &old->cfg->egress[c->listener - SK_EGRESS_LISTENER];
		size_t j;
		for (j = 0; j < nrt->cfg->n_egress; j++)
			if (strcmp(nrt->cfg->egress[j].name, e->name) == 0)
				break;
		if (j == nrt->cfg->n_egress || strcmp(nrt->cfg->egress[j].listen.text, e->listen.text) != 0)
			return false;
		idx = SK_EGRESS_LISTENER + j;
	} else {
		const struct sk_listener *l = &old->cfg->listeners[c->listener];
		for (idx = 0; idx < nrt->cfg->n_listeners; idx++)
			if (strcmp(nrt->cfg->listeners[idx].name, l->name) == 0)
				break;
		if (idx == nrt->cfg->n_listeners)
			return false;
		const struct sk_listener *nl = &nrt->cfg->listeners[idx];
		if (nl->mode != l->mode || strcmp(nl->listen.text, l->listen.text) != 0 ||
		    nl->tls.present != l->tls.present || !same_str(nl->tls.client_ca, l->tls.client_ca))
			return false;
	}
	snap_count(w, nrt, +1);
	c->rt = nrt;
	c->listener = (uint16_t)idx;
	snap_count(w, old, -1); /* may free the old snapshot: nothing of it is used after this */
	return true;
}

/* The worker's list has the current snapshot first, so accepting finds it at once; an old generation's
 * last close hands the worker's reference to the main thread, which frees it (DESIGN §9). */
static void snap_count(struct sk_worker *w, struct sk_runtime *rt, int delta)
{
	for (struct sk_snapref **p = &w->snaps; *p; p = &(*p)->next) {
		struct sk_snapref *s = *p;
		if (s->rt != rt)
			continue;
		s->conns = (uint32_t)((int)s->conns + delta);
		if (s->conns == 0 && rt != w->rt) {
			*p = s->next;
			sk_runtime_release_later(s);
		}
		return;
	}
	SK_ASSERT(!"connection snapshot not tracked by its worker");
}

void sk_conn_accept(struct sk_worker *w, int fd, const struct sockaddr *peer, socklen_t plen,
		    uint16_t listener)
{
	struct sk_conn *c = sk_calloc(1, sizeof(*c));
	c->ep.io.fd = fd;
	c->ep.io.cb = sk_h1s_on_io;
	c->timer.cb = sk_h1s_on_timer;
	c->w = w;
	c->rt = w->rt;
	c->listener = listener;
	memcpy(&c->peer, peer, SK_MIN((size_t)plen, sizeof(c->peer)));
	sk_flow_accept(c);
	snap_count(w, c->rt, +1);
	c->next = w->conns;
	if (w->conns)
		w->conns->prev = c;
	w->conns = c;
	w->n_conns++;
	if (sk_loop_add(w->loop, &c->ep.io, EPOLLIN | EPOLLOUT | EPOLLRDHUP) == -1) {
		sk_conn_close(c);
		return;
	}
	const struct sk_listener *l =
		listener == SK_ADMIN_LISTENER || sk_listener_is_egress(listener) ? NULL : &c->rt->cfg->listeners[listener];
	if (l && l->tls.present) {
		c->tls = true;
		c->ep.io.later = true; /* its first handshake step waits for the round's requests (loop.c) */
		c->ep.ssl = sk_tls_server_ssl(c->rt->listeners[listener].tls, fd);
		if (!c->ep.ssl) {
			sk_conn_close(c);
			return;
		}
	}
	sk_h1s_start(c); /* may close c */
}

void sk_conn_close(struct sk_conn *c)
{
	struct sk_worker *w = c->w;
	sk_timer_cancel(w->loop, &c->timer);
	sk_h2_free(c);
	if (c->ex) {
		sk_h1s_release(c);
		sk_exchange_finish(c->ex, false);
		sk_exchange_put(c->ex);
		c->ex = NULL;
	}
	if (c->flow.enabled) {
		int64_t now = (int64_t)(sk_wall_ms() / 1000);
		sk_flow_report(w, c, sk_flowlog_window(now, c->rt->cfg->flow_log.interval_ms), now);
	}
	if (c->rbuf)
		sk_buf_put(w, c->rbuf);
	if (c->ep.ssl) {
		sk_tls_free(c->ep.ssl);
		c->ep.ssl = NULL;
	}
	if (c->prev)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	w->n_conns--;
	sk_metrics_conn_closed(w->id, sk_runtime_listener_mslot(c->rt, c->listener));
	snap_count(w, c->rt, -1);
	sk_loop_close_free(w->loop, &c->ep.io, c);
}

void sk_conn_drain_all(struct sk_worker *w)
{
	struct sk_conn *c = w->conns;
	while (c) {
		struct sk_conn *next = c->next;
		if (c->phase == SK_CP_IDLE || (c->phase == SK_CP_HEAD && !c->ex))
			sk_conn_close(c);
		else if (c->phase == SK_CP_H2)
			sk_h2_drain(c); /* GOAWAY; closes once its streams have ended */
		c = next;
	}
}

void sk_conn_force_close(struct sk_conn *c)
{
	sk_conn_close(c);
}
