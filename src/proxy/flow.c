/*
 * flow.c — the proxy's side of the flow log (DESIGN §5, obs/flowlog.h): what each viewer connection
 * contributes to each aggregation window.
 *
 * Counts come from the kernel (TCP_INFO), never from the I/O path: a connection remembers the counters
 * it last reported, and a report writes the deltas — segs_in/bytes_received as the inbound record
 * (viewer → listener), segs_out/bytes_acked as the outbound one. Reports happen when a window ends (the
 * worker's window timer walks its connections), when a connection closes, and on SIGUSR1/SIGTERM (the
 * open window). A direction with no segment in the window gets no record, as in VPC Flow Logs.
 * start is the later of the window's start and the previous report (or the accept); end is the last data
 * the kernel saw in that direction (tcpi_last_data_recv/_sent), kept inside [start, window end].
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "obs/flowlog.h"
#include "proxy/exchange.h"
#include "proxy/proxy.h"

/* A socket address as text (v4-mapped IPv6 as IPv4) and its port. */
static void addr_text(const struct sockaddr_storage *ss, char *out, size_t cap, int *port)
{
	*port = -1;
	snprintf(out, cap, "-");
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &a->sin_addr, out, (socklen_t)cap);
		*port = ntohs(a->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
		if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr))
			inet_ntop(AF_INET, &a->sin6_addr.s6_addr[12], out, (socklen_t)cap);
		else
			inet_ntop(AF_INET6, &a->sin6_addr, out, (socklen_t)cap);
		*port = ntohs(a->sin6_port);
	}
}

static bool tcp_info(int fd, struct tcp_info *ti)
{
	socklen_t len = sizeof(*ti);
	memset(ti, 0, sizeof(*ti));
	return getsockopt(fd, IPPROTO_TCP, TCP_INFO, ti, &len) == 0 &&
	       len >= offsetof(struct tcp_info, tcpi_segs_in) + sizeof(ti->tcpi_segs_in);
}

static const char *listener_name(const struct sk_runtime *rt, uint16_t listener)
{
	return sk_runtime_listener_name(rt, listener);
}

static int64_t clamp(int64_t v, int64_t lo, int64_t hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

void sk_flow_accept(struct sk_conn *c)
{
	if (!c->rt->cfg->flow_log.path)
		return;
	c->flow = (struct sk_flowstate){ .enabled = true, .since_s = (int64_t)(sk_wall_ms() / 1000) };
}

/* One connection's records for the window: inbound (peer → this host) and outbound. */
static void report_fd(struct sk_worker *w, const struct sk_runtime *rt, uint16_t listener, int fd,
		      const struct sockaddr_storage *pss, struct sk_flowstate *f, int64_t win_start, int64_t win_end)
{
	const struct sk_config *cfg = rt->cfg;
	int64_t now_ms = (int64_t)sk_wall_ms();
	struct tcp_info ti;
	bool ok = tcp_info(fd, &ti);
	struct sockaddr_storage local = { 0 };
	socklen_t llen = sizeof(local);
	getsockname(fd, (struct sockaddr *)&local, &llen);
	char peer[INET6_ADDRSTRLEN], me[INET6_ADDRSTRLEN];
	int pport, mport;
	addr_text(pss, peer, sizeof(peer), &pport);
	addr_text(&local, me, sizeof(me), &mport);
	int64_t start = f->since_s > win_start ? f->since_s : win_start;
	if (start > win_end)
		start = win_end;
	struct sk_flow_rec in = {
		.account_id = cfg->flow_log.account_id,
		.interface = listener_name(rt, listener),
		.src = peer, .dst = me, .src_port = pport, .dst_port = mport,
		.start = start,
	};
	struct sk_flow_rec out = in;
	out.src = me;
	out.dst = peer;
	out.src_port = mport;
	out.dst_port = pport;
	if (!ok) {
		in.packets = in.bytes = out.packets = out.bytes = -1;
		in.end = out.end = win_end;
		sk_flowlog_append(&w->flow, &in);
		sk_flowlog_append(&w->flow, &out);
		goto out;
	}
	in.packets = (int64_t)(ti.tcpi_segs_in - f->segs_in);
	in.bytes = (int64_t)(ti.tcpi_bytes_received - f->bytes_in);
	in.end = clamp((now_ms - (int64_t)ti.tcpi_last_data_recv) / 1000, start, win_end);
	out.packets = (int64_t)(ti.tcpi_segs_out - f->segs_out);
	out.bytes = (int64_t)(ti.tcpi_bytes_acked - f->bytes_out);
	out.end = clamp((now_ms - (int64_t)ti.tcpi_last_data_sent) / 1000, start, win_end);
	if (in.packets > 0)
		sk_flowlog_append(&w->flow, &in);
	if (out.packets > 0)
		sk_flowlog_append(&w->flow, &out);
	f->segs_in = ti.tcpi_segs_in;
	f->segs_out = ti.tcpi_segs_out;
	f->bytes_in = ti.tcpi_bytes_received;
	f->bytes_out = ti.tcpi_bytes_acked;
out:
	f->since_s = now_ms / 1000;
}

void sk_flow_report(struct sk_worker *w, struct sk_conn *c, int64_t win_start, int64_t win_end)
{
	if (!c->flow.enabled)
		return;
	struct sockaddr_storage pss = { 0 };
	memcpy(&pss, &c->peer, sizeof(c->peer));
	report_fd(w, c->rt, c->listener, c->ep.io.fd, &pss, &c->flow, win_start, win_end);
	/* An egress flow's second connection, proxy → target (DESIGN §5a), while this connection holds it. */
	if (c->ex && c->ex->egress && c->ex->client.up)
		sk_flow_upstream(w, c->ex, win_start, win_end);
}

void sk_flow_upstream_start(struct sk_exchange *ex)
{
	struct sk_upconn *u = ex->client.up;
	if (u && !u->flow.enabled && ex->rt->cfg->flow_log.path)
		u->flow = (struct sk_flowstate){ .enabled = true, .since_s = (int64_t)(sk_wall_ms() / 1000) };
}

void sk_flow_upstream(struct sk_worker *w, struct sk_exchange *ex, int64_t win_start, int64_t win_end)
{
	struct sk_upconn *u = ex->client.up;
	if (!u || !u->flow.enabled || !w->rt->cfg->flow_log.path)
		return;
	if (win_start < 0) {
		int64_t now = (int64_t)(sk_wall_ms() / 1000);
		win_end = now;
		win_start = sk_flowlog_window(now, w->rt->cfg->flow_log.interval_ms);
	}
	report_fd(w, ex->rt, ex->listener, u->ep.io.fd, &u->pool->addr.ss, &u->flow, win_start, win_end);
}

void sk_flow_reject(struct sk_worker *w, int fd, const struct sockaddr_storage *peer, uint16_t listener)
{
	const struct sk_config *cfg = w->rt->cfg;
	if (!cfg->flow_log.path)
		return;
	struct tcp_info ti;
	bool ok = tcp_info(fd, &ti);
	struct sockaddr_storage local = { 0 };
	socklen_t llen = sizeof(local);
	getsockname(fd, (struct sockaddr *)&local, &llen);
	char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN];
	int sport, dport;
	addr_text(peer, src, sizeof(src), &sport);
	addr_text(&local, dst, sizeof(dst), &dport);
	int64_t now = (int64_t)(sk_wall_ms() / 1000);
	struct sk_flow_rec r = {
		.account_id = cfg->flow_log.account_id,
		.interface = listener_name(w->rt, listener),
		.src = src, .dst = dst, .src_port = sport, .dst_port = dport,
		.packets = ok ? (int64_t)ti.tcpi_segs_in : -1,
		.bytes = ok ? (int64_t)ti.tcpi_bytes_received : -1,
		.start = now, .end = now,
		.reject = true,
	};
	sk_flowlog_append(&w->flow, &r);
}

/* Reports every connection of w for the window [win_start, win_end] and hands the records over. */
void sk_flow_window(struct sk_worker *w, int64_t win_start, int64_t win_end)
{
	for (struct sk_conn *c = w->conns; c; c = c->next)
		sk_flow_report(w, c, win_start, win_end);
	sk_flowlog_handoff(&w->flow);
}

static void on_window(struct sk_timer *t);

/* Arms w's timer for a little after the boundary `next` (wall ms). */
static void arm_at(struct sk_worker *w, uint64_t next)
{
	uint64_t now = sk_wall_ms();
	w->flow_timer.cb = on_window;
	sk_timer_arm(w->loop, &w->flow_timer, (next > now ? next - now : 0) + 5);
}

static void on_window(struct sk_timer *t)
{
	struct sk_worker *w = SK_CONTAINER_OF(t, struct sk_worker, flow_timer);
	uint64_t iv = w->rt->cfg->flow_log.interval_ms;
	/* The timer aims just after a boundary, but the loop's clock is read once per round, so it may
	 * fire a little early or late: the window that ended is the one whose end is nearest. */
	uint64_t now = sk_wall_ms();
	uint64_t end_ms = (now + iv / 2) / iv * iv;
	int64_t end = (int64_t)(end_ms / 1000);
	sk_flow_window(w, end - (int64_t)(iv / 1000), end);
	arm_at(w, end_ms + iv);
}

void sk_flow_arm(struct sk_worker *w)
{
	const struct sk_config *cfg = w->rt->cfg;
	if (!cfg->flow_log.path) {
		sk_timer_cancel(w->loop, &w->flow_timer);
		return;
	}
	uint64_t iv = cfg->flow_log.interval_ms;
	arm_at(w, (sk_wall_ms() / iv + 1) * iv);
}

void sk_flow_flush(struct sk_worker *w)
{
	int64_t now = (int64_t)(sk_wall_ms() / 1000);
	if (w->rt->cfg->flow_log.path)
		sk_flow_window(w, sk_flowlog_window(now, w->rt->cfg->flow_log.interval_ms), now);
	else
		sk_flowlog_handoff(&w->flow);
}
