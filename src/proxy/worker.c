/*
 * worker.c — a worker thread: its epoll loop, its listening sockets, accept with the listener ACL,
 * per-thread buffer and request free lists, snapshot switching on reload, and draining on shutdown.
 *
 * Snapshot switching: the main thread publishes a new snapshot into next_rt and wakes the loop. The
 * worker re-registers its listening sockets for the new snapshot and uses it for new connections; each
 * connection keeps the snapshot it was accepted under (until its next request moves it to the newest,
 * conn.c), counted per worker in the snaps list (one node per
 * generation that still has connections here, however many) so that the hot path never touches a shared
 * reference count. When an old snapshot's last connection on this worker closes, the worker hands its
 * reference to the main thread (sk_runtime_release_later), which frees the snapshot if it was the last.
 *
 * Accept failures for lack of resources (EMFILE, ENFILE, ENOBUFS, ENOMEM) pause that listener on this
 * worker for ACCEPT_PAUSE_MS instead of retrying at once: the socket stays readable, so a level-triggered
 * listener would otherwise spin a core. The pending connections wait in the kernel's queue meanwhile.
 * The error is logged at most once per ACCEPT_LOG_MS for the whole process, with a count of the others.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "access/verify.h"
#include "core/log.h"
#include "obs/metrics.h"
#include "net/net.h"
#include "net/banlist.h"
#include "proxy/proxy.h"
#include "proxy/worker.h"
#include "proxy/exchange.h"

/* The worker's free lists (core/freelist.h): what a quiet worker keeps, the most it ever keeps, and how
 * often what the traffic did not need is released. 256 buffers are 8 MiB. */
#define BUFS_FLOOR 256
#define BUFS_CAP 4096
#define EXCHANGES_FLOOR 64
#define EXCHANGES_CAP 4096 /* also the HTTP/2 streams' list */
#define TRIM_MS 10000
#define DRAIN_MS 30000
#define ACCEPT_PAUSE_MS 500
#define ACCEPT_BATCH 64
#define ACCEPT_BATCH_TLS 1
#define ACCEPT_LOG_MS 5000

struct listen_io {
	struct sk_io io;
	struct sk_timer resume; /* armed while accepting is paused */
	struct sk_worker *w;
	uint16_t listener;
};

/* Process-wide: descriptor exhaustion hits every worker at once, one line per interval is enough. */
static atomic_uint_fast64_t accept_log_next_ms;
static atomic_uint accept_suppressed;

struct sk_buf *sk_buf_get(struct sk_worker *w)
{
	struct sk_buf *b = sk_freelist_get(&w->bufs);
	if (!b)
		b = sk_malloc(sizeof(*b));
	b->next = NULL;
	b->off = b->len = 0;
	return b;
}

void sk_buf_put(struct sk_worker *w, struct sk_buf *b)
{
	sk_freelist_put(&w->bufs, b);
}

static void on_resume(struct sk_timer *t)
{
	struct listen_io *li = SK_CONTAINER_OF(t, struct listen_io, resume);
	/* epoll_ctl can fail for memory too (logged by the loop): try again rather than stop accepting. */
	if (sk_loop_add_level(li->w->loop, &li->io, EPOLLIN) == -1)
		sk_timer_arm(li->w->loop, &li->resume, ACCEPT_PAUSE_MS);
}

/* A failed accept4 that is not about one connection: log (rate-limited) and pause this listener. */
static void accept_failed(struct listen_io *li, const char *listener, int err)
{
	struct sk_worker *w = li->w;
	uint64_t now = sk_loop_now(w->loop);
	uint_fast64_t next = atomic_load_explicit(&accept_log_next_ms, memory_order_relaxed);
	if (now >= next && atomic_compare_exchange_strong(&accept_log_next_ms, &next, now + ACCEPT_LOG_MS)) {
		unsigned n = atomic_exchange(&accept_suppressed, 0);
		if (n)
			sk_error("accept on %s: %s; pausing accepts for %d ms (%u more such errors in the last %d s)",
				 listener, strerror(err), ACCEPT_PAUSE_MS, n, ACCEPT_LOG_MS / 1000);
		else
			sk_error("accept on %s: %s; pausing accepts for %d ms", listener, strerror(err),
				 ACCEPT_PAUSE_MS);
	} else {
		atomic_fetch_add_explicit(&accept_suppressed, 1, memory_order_relaxed);
	}
	sk_loop_del(w->loop, &li->io);
	sk_timer_arm(w->loop, &li->resume, ACCEPT_PAUSE_MS);
}

static void on_accept(struct sk_io *io, uint32_t ev)
{
	struct listen_io *li = SK_CONTAINER_OF(io, struct listen_io, io);
	struct sk_worker *w = li->w;
	if (sk_timer_armed(&li->resume))
		return; /* an event of the batch that paused it */
	const struct sk_config *cfg = w->rt->cfg;
	bool admin = li->listener == SK_ADMIN_LISTENER;
	const struct sk_listener admin_l = { .name = (char *)sk_runtime_listener_name(w->rt, li->listener) };
	/* The admin listener and egress entries have no accept-time ACL (egress has its access block). */
	const struct sk_listener *l = admin || sk_listener_is_egress(li->listener) ? &admin_l : &cfg->listeners[li->listener];
	/* TLS: one connection per readiness event, like nginx's default (multi_accept off). A batch of 64 new
	 * TLS connections is 64 handshake steps (~250 µs each) queued in one loop round ahead of the requests
	 * of connections already open: p99 under a reconnect storm was 2-3x nginx's. The rest wait in the
	 * kernel's queue; the listener is level-triggered, so the next round takes the next one. */
	int batch = l->tls.present ? ACCEPT_BATCH_TLS : ACCEPT_BATCH;
	for (int i = 0; i < batch; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		int fd = accept4(io->fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			/* Errors of one connection (accept(2): pending network errors are passed on). */
			if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO || errno == EPERM ||
			    errno == ENETDOWN || errno == ENOPROTOOPT || errno == EHOSTDOWN || errno == ENONET ||
			    errno == EHOSTUNREACH || errno == EOPNOTSUPP || errno == ENETUNREACH)
				continue;
			if (errno != EAGAIN)
				accept_failed(li, l->name, errno); /* EMFILE, ENFILE, ENOBUFS, ENOMEM, others */
			return;
		}
		/* Bans do not apply to the admin listener: the operator must not lock themselves out. */
		if (!sk_acl_allows(l, (struct sockaddr *)&ss) || w->n_conns >= w->rt->max_connections ||
		    (!admin && sk_bans_check(w->id, &w->bans, (struct sockaddr *)&ss))) {
			sk_metrics_add(w->id, SK_M_REJECTED, 1);
			sk_metrics_conn_open(w->id, sk_runtime_listener_mslot(w->rt, li->listener), false);
			sk_flow_reject(w, fd, &ss, li->listener);
			close(fd);
			continue;
		}
		sk_metrics_add(w->id, SK_M_CONNECTIONS, 1);
		sk_metrics_conn_open(w->id, sk_runtime_listener_mslot(w->rt, li->listener), true);
		/* No TCP_NODELAY here: Linux copies it from the listening socket (sk_listen_open sets it), and a
		 * setsockopt per connection is one system call in ~25 of a short-lived connection. */
		sk_conn_accept(w, fd, (struct sockaddr *)&ss, len, li->listener);
	}
}

static void unregister_listeners(struct sk_worker *w)
{
	struct listen_io *lis = (struct listen_io *)w->listen_io;
	for (size_t i = 0; i < w->n_listen_io; i++) {
		sk_timer_cancel(w->loop, &lis[i].resume);
		sk_loop_del(w->loop, &lis[i].io);
		lis[i].io.fd = -1; /* the socket belongs to the server's table: only forget it here */
	}
	if (lis)
		sk_loop_close_free(w->loop, &lis[0].io, lis);
	w->listen_io = NULL;
	w->n_listen_io = 0;
}

static void register_listeners(struct sk_worker *w)
{
	const struct sk_config *cfg = w->rt->cfg;
	size_t n_plain = cfg->n_listeners + (cfg->admin.present ? 1 : 0);
	size_t n = n_plain + cfg->n_egress;
	struct listen_io *lis = sk_calloc(n ? n : 1, sizeof(*lis));
	for (size_t i = 0; i < n; i++) {
		bool admin = i == cfg->n_listeners && cfg->admin.present;
		bool egress = i >= n_plain;
		lis[i] = (struct listen_io){
			.io = { .fd = egress  ? w->rt->egress_l[i - n_plain].fds[w->id]
				      : admin ? w->rt->admin.fds[w->id]
					      : w->rt->listeners[i].fds[w->id],
				.cb = on_accept },
			.resume = { .cb = on_resume },
			.w = w,
			.listener = egress ? (uint16_t)(SK_EGRESS_LISTENER + (i - n_plain))
				 : admin  ? SK_ADMIN_LISTENER
					  : (uint16_t)i,
		};
		sk_loop_add_level(w->loop, &lis[i].io, EPOLLIN);
	}
	w->listen_io = (struct sk_io *)lis;
	w->n_listen_io = n;
}

static void open_access_log(struct sk_worker *w)
{
	sk_accesslog_close(w->access_log);
	if (sk_accesslog_open(w->access_log, w->rt->cfg->access_log.path) == -1)
		sk_error("access log %s: %s", w->rt->cfg->access_log.path, strerror(errno));
}

static void switch_snapshot(struct sk_worker *w, struct sk_runtime *nrt)
{
	unregister_listeners(w);
	struct sk_snapref *cur = w->snaps;
	SK_ASSERT(cur && cur->rt == w->rt);
	/* One node per generation: allocated on a reload, never per connection. The list has no cap: each
	 * node leaves it when its last connection closes, however long that takes. */
	struct sk_snapref *n = sk_calloc(1, sizeof(*n));
	n->rt = nrt;
	if (cur->conns == 0) {
		n->next = cur->next;
		sk_runtime_release_later(cur);
	} else {
		n->next = cur;
	}
	w->snaps = n;
	w->rt = nrt;
	register_listeners(w);
	open_access_log(w);
	sk_flow_arm(w);
	atomic_store(&w->acked_generation, nrt->generation);
	sk_metrics_set_generation(w->id, nrt->generation);
}

static void on_wake(void *arg)
{
	struct sk_worker *w = arg;
	struct sk_runtime *nrt = atomic_exchange(&w->next_rt, NULL);
	if (nrt)
		switch_snapshot(w, nrt);
	unsigned fr = atomic_load(&w->flow_req);
	if (fr != atomic_load(&w->flow_ack)) {
		sk_flow_flush(w);
		atomic_store(&w->flow_ack, fr);
	}
	if (atomic_load(&w->reopen_logs)) {
		atomic_store(&w->reopen_logs, false);
		open_access_log(w);
	}
	if (atomic_load(&w->stopping) && w->n_listen_io) {
		unregister_listeners(w);
		sk_conn_drain_all(w);
	}
}

static void after_round(void *arg)
{
	struct sk_worker *w = arg;
	if (w->access_log->len)
		sk_accesslog_flush(w->access_log);
	uint64_t now = sk_loop_now(w->loop);
	if (now >= w->trim_at_ms) {
		w->trim_at_ms = now + TRIM_MS;
		sk_freelist_trim(&w->bufs);
		sk_freelist_trim(&w->exchanges);
		sk_freelist_trim(&w->h2streams);
	}
}

struct sk_worker *sk_worker_new(unsigned id, struct sk_runtime *rt)
{
	struct sk_worker *w = sk_calloc(1, sizeof(*w));
	w->id = id;
	w->loop = sk_loop_new();
	if (!w->loop) {
		free(w);
		return NULL;
	}
	sk_runtime_ref(rt);
	w->rt = rt;
	w->bufs = (struct sk_freelist){ .floor = BUFS_FLOOR, .cap = BUFS_CAP };
	w->exchanges = (struct sk_freelist){ .floor = EXCHANGES_FLOOR, .cap = EXCHANGES_CAP };
	w->h2streams = (struct sk_freelist){ .floor = EXCHANGES_FLOOR, .cap = EXCHANGES_CAP };
	w->snaps = sk_calloc(1, sizeof(*w->snaps));
	w->snaps->rt = rt;
	atomic_init(&w->next_rt, NULL);
	atomic_store(&w->acked_generation, rt->generation);
	sk_metrics_set_generation(id, rt->generation);
	w->verifier = sk_verifier_new(w->loop);
	w->access_log = sk_calloc(1, sizeof(*w->access_log));
	w->access_log->fd = -1;
	sk_loop_set_on_wake(w->loop, on_wake, w);
	sk_loop_set_after(w->loop, after_round, w);
	return w;
}

static void *worker_main(void *arg)
{
	struct sk_worker *w = arg;
	sk_runtime_on_worker_thread();
	open_access_log(w);
	register_listeners(w);
	sk_flow_arm(w);
	uint64_t drain_deadline = 0;
	for (;;) {
		sk_loop_run_once(w->loop, 1000);
		if (!atomic_load(&w->stopping))
			continue;
		if (w->n_conns == 0)
			break;
		uint64_t now = sk_now_ms();
		if (!drain_deadline)
			drain_deadline = now + DRAIN_MS;
		if (now >= drain_deadline) {
			sk_warn("worker %u: %u connections still open after the drain period; closing them", w->id,
				w->n_conns);
			break;
		}
	}
	/* Verifications still on the pool will post their completion to this loop: wait for them. */
	while (sk_verifier_inflight(w->verifier))
		sk_loop_run_once(w->loop, 100);
	sk_accesslog_close(w->access_log);
	return NULL;
}

int sk_worker_start(struct sk_worker *w)
{
	int rc = pthread_create(&w->thread, NULL, worker_main, w);
	if (rc != 0) {
		sk_error("pthread_create (worker): %s", strerror(rc));
		return -1;
	}
	return 0;
}

void sk_worker_publish(struct sk_worker *w, struct sk_runtime *rt)
{
	sk_runtime_ref(rt);
	struct sk_runtime *prev = atomic_exchange(&w->next_rt, rt);
	if (prev)
		sk_runtime_unref(prev); /* never picked up: superseded */
	sk_loop_wake(w->loop);
}

void sk_worker_stop(struct sk_worker *w)
{
	atomic_store(&w->stopping, true);
	sk_loop_wake(w->loop);
}

void sk_worker_flow_flush(struct sk_worker *w)
{
	atomic_fetch_add(&w->flow_req, 1);
	sk_loop_wake(w->loop);
}

bool sk_worker_flow_flushed(struct sk_worker *w)
{
	return atomic_load(&w->flow_ack) == atomic_load(&w->flow_req);
}

void sk_worker_reopen_logs(struct sk_worker *w)
{
	atomic_store(&w->reopen_logs, true);
	sk_loop_wake(w->loop);
}

/* Joins the thread and frees everything the worker owns. Connections still open are closed. */
void sk_worker_join_free(struct sk_worker *w)
{
	pthread_join(w->thread, NULL);
	while (w->conns)
		sk_conn_force_close(w->conns);
	/* The closes above (and those of the drain) reported the open window; the writer takes them now. */
	sk_flowlog_handoff(&w->flow);
	sk_flowlog_buf_free(&w->flow);
	unregister_listeners(w);
	for (size_t i = 0; i < w->n_pools; i++) {
		struct sk_server_pool *p = w->pools[i];
		while (p->idle) {
			struct sk_upconn *u = p->idle;
			p->idle = u->next;
			sk_upstream_close(u);
		}
		if (p->tls_session)
			sk_tls_session_free(p->tls_session);
		free(p);
	}
	free(w->pools);
	/* Egress destinations: each pool goes with its last idle connection. */
	while (w->egress_pools) {
		struct sk_server_pool *p = w->egress_pools;
		SK_ASSERT(p->idle); /* with no connection and no exchange left, nothing else holds it */
		struct sk_upconn *u = p->idle;
		p->idle = u->next;
		p->n_idle--;
		sk_upstream_close(u);
	}
	sk_egress_worker_free(w);
	sk_freelist_clear(&w->bufs);
	sk_pipe_pool_free(&w->pipes);
	sk_freelist_clear(&w->exchanges);
	sk_freelist_clear(&w->h2streams);
	struct sk_runtime *pending = atomic_exchange(&w->next_rt, NULL);
	if (pending)
		sk_runtime_unref(pending);
	while (w->snaps) {
		struct sk_snapref *s = w->snaps;
		w->snaps = s->next;
		sk_runtime_unref(s->rt);
		free(s);
	}
	free(w->access_log);
	sk_verifier_free(w->verifier);
	sk_bans_release(w->id, &w->bans);
	sk_loop_free(w->loop);
	free(w);
}
