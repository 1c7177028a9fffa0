/*
 * server.c — the main thread: loads the config, owns the listening sockets, starts the workers and
 * the blocking pool, then waits for signals: SIGHUP reloads (a bad file is refused and logged, the old
 * snapshot keeps serving), SIGTERM/SIGINT drain and exit, SIGUSR1 reopens log files. A change to the
 * users or API-key file (watch.c) rebuilds the snapshot from the configuration text in service, as a
 * reload would (a file that does not parse is refused and logged, the old snapshot keeps serving).
 *
 * Listening sockets outlive snapshots: a reload that keeps a listener's address keeps its sockets, so no
 * queued connection is lost. Sockets of removed listeners are closed once every worker has switched.
 * A new address is probed first (sk_listen_probe): joining a SO_REUSEPORT group that another process
 * already listens in would silently split the traffic with it.
 *
 * This thread also frees old snapshots: workers queue their references (sk_runtime_release_later) and
 * each turn of the signal loop drops them (sk_runtime_reap), so no worker ever runs a snapshot's teardown.
 */
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "access/jwksfetch.h"
#include "core/log.h"
#include "core/sdnotify.h"
#include "net/net.h"
#include "obs/metrics.h"
#include "obs/status.h"
#include "proxy/proxy.h"
#include "proxy/watch.h"
#include "proxy/worker.h"

struct sock_entry {
	struct sk_addr addr;
	int fds[SK_MAX_WORKERS];
	uint64_t used_by; /* last generation that uses it */
	bool open;
};

static struct {
	const char *path;
	unsigned n_workers;
	struct sk_worker *workers[SK_MAX_WORKERS];
	struct sk_runtime *rt;
	uint64_t generation;     /* the last one built (a refused build uses one up too) */
	uint64_t announced;      /* the last generation logged as serving on every worker */
	struct sock_entry *socks;
	size_t n_socks;
} srv;

static struct sock_entry *sock_find(const struct sk_addr *a)
{
	for (size_t i = 0; i < srv.n_socks; i++) {
		struct sock_entry *e = &srv.socks[i];
		if (e->open && e->addr.len == a->len && memcmp(&e->addr.ss, &a->ss, a->len) == 0)
			return e;
	}
	return NULL;
}

static uint16_t addr_port(const struct sk_addr *a)
{
	if (a->ss.ss_family == AF_INET6)
		return ((const struct sockaddr_in6 *)&a->ss)->sin6_port;
	return ((const struct sockaddr_in *)&a->ss)->sin_port;
}

/* Whether this process already listens on a's port (same family, any address). Binding a specific
 * address next to our own wildcard on that port (or the reverse) fails a plain probe, so the probe would
 * refuse a reload that only narrows or widens an address we hold ourselves. */
static bool own_port(const struct sk_addr *a)
{
	for (size_t i = 0; i < srv.n_socks; i++) {
		const struct sk_addr *o = &srv.socks[i].addr;
		if (srv.socks[i].open && o->ss.ss_family == a->ss.ss_family &&
		    addr_port(o) == addr_port(a))
			return true;
	}
	return false;
}

static void sock_close(struct sock_entry *e)
{
	for (unsigned w = 0; w < srv.n_workers; w++)
		close(e->fds[w]);
	e->open = false;
}

/* Attaches sockets to every listener of rt (and the admin listener), opening new ones where needed.
 * On failure, the sockets opened by this call are closed again and -1 is returned with err filled. */
static int attach_sockets(struct sk_runtime *rt, struct sk_err *err)
{
	const struct sk_config *cfg = rt->cfg;
	size_t first_new = srv.n_socks;
	size_t n_plain = cfg->n_listeners + (cfg->admin.present ? 1 : 0);
	size_t n = n_plain + cfg->n_egress;
	for (size_t i = 0; i < n; i++) {
		bool admin = i == cfg->n_listeners && cfg->admin.present;
		/* Egress entries come after the listeners and admin. */
		const struct sk_egress *eg = i >= n_plain ? &cfg->egress[i - n_plain] : NULL;
		const struct sk_listener admin_l = { .name = "admin", .listen = cfg->admin.listen,
						     .pos = cfg->admin.pos };
		const struct sk_listener egress_l = { .name = eg ? eg->name : NULL, .listen = eg ? eg->listen : admin_l.listen,
						      .pos = eg ? eg->pos : admin_l.pos };
		const struct sk_listener *l = eg ? &egress_l : admin ? &admin_l : &cfg->listeners[i];
		struct sock_entry *e = sock_find(&l->listen);
		if (!e) {
			srv.socks = sk_realloc(srv.socks, (srv.n_socks + 1) * sizeof(*srv.socks));
			e = &srv.socks[srv.n_socks];
			memset(e, 0, sizeof(*e));
			e->addr = l->listen;
			for (unsigned w = 0; w < srv.n_workers; w++) {
				if (w == 0 && !own_port(&l->listen) && sk_listen_probe(&l->listen, err) == -1)
					e->fds[w] = -1;
				else
					e->fds[w] = sk_listen_open(&l->listen, err);
				if (e->fds[w] == -1) {
					char where[600];
					snprintf(where, sizeof(where), "listener '%s': %s", l->name, err->msg);
					sk_err_set(err, cfg->path, l->pos.line, l->pos.col, "%s", where);
					for (unsigned k = 0; k < w; k++)
						close(e->fds[k]);
					for (size_t j = first_new; j < srv.n_socks; j++)
						sock_close(&srv.socks[j]);
					return -1;
				}
			}
			e->open = true;
			srv.n_socks++;
		}
		e->used_by = rt->generation;
		for (unsigned w = 0; w < srv.n_workers; w++)
			sk_listen_set_answers(e->fds[w], l->mode != SK_MODE_TCP);
		memcpy(eg ? rt->egress_l[i - n_plain].fds : admin ? rt->admin.fds : rt->listeners[i].fds, e->fds,
		       sizeof(e->fds));
	}
	return 0;
}

/* The certificate gauge of /metrics follows the snapshot in service. */
static void publish_certificates(const struct sk_runtime *rt)
{
	size_t n = rt->cfg->n_certificates;
	const char **names = sk_calloc(n ? n : 1, sizeof(*names));
	int64_t *not_after = sk_calloc(n ? n : 1, sizeof(*not_after));
	for (size_t i = 0; i < n; i++) {
		names[i] = rt->certs[i].name;
		not_after[i] = rt->certs[i].not_after;
	}
	sk_metrics_set_certificates(names, not_after, n);
	free(names);
	free(not_after);
	/* sekisho_upstream_up follows the same snapshot: its (origin, server) pairs. */
	const struct sk_config *cfg = rt->cfg;
	size_t m = 0;
	for (size_t i = 0; i < cfg->n_origins; i++)
		m += cfg->origins[i].n_servers;
	const char **on = sk_calloc(m ? m : 1, sizeof(*on));
	const char **sn = sk_calloc(m ? m : 1, sizeof(*sn));
	m = 0;
	for (size_t i = 0; i < cfg->n_origins; i++)
		for (size_t k = 0; k < cfg->origins[i].n_servers; k++) {
			on[m] = cfg->origins[i].name;
			sn[m++] = cfg->origins[i].servers[k].text;
		}
	sk_metrics_set_upstreams(on, sn, m);
	free(on);
	free(sn);
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Builds the next snapshot from cfg (taken over; NULL = the load failed, err says why). */
static struct sk_runtime *load(struct sk_config *cfg, struct sk_err *err)
{
	if (!cfg)
		return NULL;
	if (sk_statesvc_prepare(cfg, err) == -1) {
		sk_config_free(cfg);
		return NULL;
	}
	struct sk_runtime *rt = sk_runtime_build(cfg, ++srv.generation, err);
	if (!rt)
		return NULL;
	if (attach_sockets(rt, err) == -1) {
		sk_runtime_unref(rt);
		return NULL;
	}
	return rt;
}

/*
 * SIGHUP (files_only false) reads the config file again; a changed users or API-key file (files_only)
 * reads the text of the config in service again, so that edits to the config file still wait for SIGHUP.
 * Either way every file the config names is read afresh and the snapshot gets a new generation, which
 * also retires every verified-credential cache entry (they are keyed by generation).
 */
static void reload(bool files_only)
{
	struct sk_err err = { 0 };
	struct sk_watch_mark mark;
	struct sk_config *cfg;
	if (files_only) {
		sk_watch_note(srv.rt->cfg, &mark); /* the same text names the same files */
		cfg = sk_config_reread(srv.rt->cfg, &err);
	} else {
		cfg = sk_config_load(srv.path, &err);
		if (cfg)
			sk_watch_note(cfg, &mark);
	}
	struct sk_runtime *rt = load(cfg, &err);
	if (!rt) {
		char msg[1200];
		sk_err_format(&err, msg, sizeof(msg));
		sk_error("reload refused: %s; the previous configuration keeps serving", msg);
		sk_status_set_reload(0, false, msg);
		sk_metrics_reload(false);
		/* This version of the files is known now: the next change, not the next tick, tries again. */
		if (files_only)
			sk_watch_arm(srv.rt->cfg, &mark, now_ms());
		return;
	}
	if (sk_flowlog_open(rt->cfg->flow_log.path) == -1)
		sk_error("flow log %s: %s; the previous flow log file stays open", rt->cfg->flow_log.path, strerror(errno));
	if (rt->cfg->workers != srv.n_workers)
		sk_warn("reload: 'workers' changes take effect at the next start (running %u)", srv.n_workers);
	for (unsigned i = 0; i < srv.n_workers; i++)
		sk_worker_publish(srv.workers[i], rt);
	sk_runtime_unref(srv.rt);
	srv.rt = rt;
	publish_certificates(rt);
	sk_metrics_reload(true);
	sk_watch_arm(rt->cfg, &mark, now_ms());
	if (files_only)
		sk_info("users and API keys reloaded (generation %" PRIu64 ")", rt->generation);
	else
		sk_info("configuration reloaded from %s (generation %" PRIu64 ")", srv.path, rt->generation);
	sk_status_set_reload(rt->generation, true, NULL);
}

/* Says once per generation in service that it has reached every worker (from then on every new connection
 * and keep-alive request gets it: what an operator, or a test, waits for after a reload). */
static void announce_generation(void)
{
	uint64_t g = srv.rt->generation;
	if (srv.announced >= g)
		return;
	for (unsigned i = 0; i < srv.n_workers; i++)
		if (atomic_load(&srv.workers[i]->acked_generation) != g)
			return;
	sk_info("generation %" PRIu64 " serving on every worker", g);
	srv.announced = g;
}

/* Closes the sockets of listeners that the current snapshot no longer has, once every worker runs it. */
static void retire_sockets(void)
{
	for (unsigned i = 0; i < srv.n_workers; i++)
		if (atomic_load(&srv.workers[i]->acked_generation) != srv.generation)
			return;
	for (size_t i = 0; i < srv.n_socks; i++)
		if (srv.socks[i].open && srv.socks[i].used_by != srv.generation)
			sock_close(&srv.socks[i]);
}

/* SIGUSR1: every worker reports the open flow-log window, then the file is written and reopened. A worker
 * busy for more than a second is not waited for: its records follow at the next write. */
static void flush_flow_window(void)
{
	for (unsigned i = 0; i < srv.n_workers; i++)
		sk_worker_flow_flush(srv.workers[i]);
	uint64_t deadline = sk_now_ms() + 1000;
	for (unsigned i = 0; i < srv.n_workers; i++)
		while (!sk_worker_flow_flushed(srv.workers[i]) && sk_now_ms() < deadline) {
			struct timespec ts = { .tv_nsec = 2 * 1000 * 1000 };
			nanosleep(&ts, NULL);
		}
	sk_flowlog_reopen();
}

/*
 * Raises the open-file soft limit to the hard limit (the soft one is often 1024, far below what a proxy
 * needs) and warns when a configured max_connections cannot fit: each proxied connection holds two
 * descriptors (viewer and origin), plus the listening sockets and a margin for logs, epoll, eventfds and
 * the state store. Past the limit, accepts pause (worker.c) and connections to origins fail: the operator
 * should know now. Left unset, max_connections fits itself to the limit (sk_max_connections_auto).
 */
static void fit_open_files(const struct sk_config *cfg, unsigned workers)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == -1) {
		sk_warn("getrlimit(RLIMIT_NOFILE): %s", strerror(errno));
		return;
	}
	if (rl.rlim_cur < rl.rlim_max) {
		struct rlimit raised = { .rlim_cur = rl.rlim_max, .rlim_max = rl.rlim_max };
		if (setrlimit(RLIMIT_NOFILE, &raised) == -1)
			sk_warn("setrlimit(RLIMIT_NOFILE, %llu): %s", (unsigned long long)rl.rlim_max,
				strerror(errno));
		else
			rl = raised;
	}
	if (rl.rlim_cur == RLIM_INFINITY)
		return;
	if (!cfg->limits.max_connections) { /* auto: fitted to the limit, said once when it is lower */
		uint32_t n = sk_max_connections_auto(cfg, workers);
		if (n < SK_MAX_CONNECTIONS_AUTO)
			sk_info("limits.max_connections: %u per worker (what the open-file limit %llu holds for %u "
				"workers)", n, (unsigned long long)rl.rlim_cur, workers);
		return;
	}
	unsigned long long need = sk_open_files_needed(cfg, workers, cfg->limits.max_connections);
	if (need > rl.rlim_cur)
		sk_warn("open-file limit %llu cannot hold limits.max_connections %u x %u workers (each proxied "
			"connection needs 2 descriptors: %llu with listeners and margin); past the limit accepts "
			"pause. Raise the hard limit (ulimit -Hn, systemd LimitNOFILE=) or lower max_connections",
			(unsigned long long)rl.rlim_cur, cfg->limits.max_connections, workers, need);
}

int sk_server_run(const char *config_path)
{
	srv.path = config_path;
	struct sk_err err = { 0 };
	if (sk_tls_tickets_init() == -1) {
		fprintf(stderr, "sekisho: cannot set up the TLS session-ticket key (random bytes, AES-256-CBC)\n");
		return 1;
	}
	struct sk_config *cfg = sk_config_load(config_path, &err);
	if (!cfg)
		goto fail;
	srv.n_workers = SK_MIN(cfg->workers ? cfg->workers : 1, (unsigned)SK_MAX_WORKERS);
	fit_open_files(cfg, srv.n_workers);
	struct sk_watch_mark mark;
	sk_watch_note(cfg, &mark);
	if (sk_statesvc_prepare(cfg, &err) == -1) {
		sk_config_free(cfg);
		goto fail;
	}
	struct sk_runtime *rt = sk_runtime_build(cfg, ++srv.generation, &err);
	if (!rt)
		goto fail;
	if (attach_sockets(rt, &err) == -1) {
		sk_runtime_unref(rt);
		goto fail;
	}
	if (sk_flowlog_open(rt->cfg->flow_log.path) == -1) {
		sk_err_set(&err, NULL, 0, 0, "flow log %s: %s", rt->cfg->flow_log.path, strerror(errno));
		sk_runtime_unref(rt);
		goto fail;
	}
	srv.rt = rt;
	publish_certificates(rt);
	sk_watch_arm(rt->cfg, &mark, now_ms());
	sk_status_set_reload(rt->generation, true, NULL);

	/* Signals are taken synchronously by this thread only; workers inherit the blocked mask. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	sk_metrics_set_workers(srv.n_workers);
	if (sk_pool_start(2) == -1)
		return 1;
	sk_jwks_sources_start(); /* after the signal mask: the fetcher thread inherits it */
	for (unsigned i = 0; i < srv.n_workers; i++) {
		srv.workers[i] = sk_worker_new(i, rt);
		if (!srv.workers[i] || sk_worker_start(srv.workers[i]) == -1)
			return 1;
	}
	for (size_t i = 0; i < rt->cfg->n_listeners; i++)
		sk_info("listening on %s (%s)", rt->cfg->listeners[i].listen.text, rt->cfg->listeners[i].name);
	for (size_t i = 0; i < rt->cfg->n_egress; i++)
		sk_info("egress on %s (%s)", rt->cfg->egress[i].listen.text, rt->cfg->egress[i].name);
	if (rt->cfg->admin.present)
		sk_info("admin on %s (/metrics, /healthz)", rt->cfg->admin.listen.text);
	sk_info("sekisho started: %u workers, config %s", srv.n_workers, config_path);
	srv.announced = rt->generation; /* the start has its own line */
	sk_sd_notify("READY=1");
	int64_t last_expiry_check = (int64_t)time(NULL);

	for (;;) {
		struct timespec ts = { .tv_sec = 0, .tv_nsec = 200 * 1000 * 1000 };
		int sig = sigtimedwait(&set, NULL, &ts);
		sk_runtime_reap();
		if (sig == -1) {
			retire_sockets();
			announce_generation();
			sk_flowlog_write();
			sk_status_tick((int64_t)time(NULL));
			const char *changed = sk_watch_poll(now_ms());
			if (changed) {
				const char *keys = srv.rt->cfg->api_keys.file;
				sk_info("%s file changed: reloading (%s)",
					keys && strcmp(keys, changed) == 0 ? "API-key" : "users", changed);
				reload(true);
			}
			int64_t now = (int64_t)time(NULL);
			sk_tls_tickets_tick(now);
			if (now - last_expiry_check >= 86400) { /* a long-running process warns daily too */
				last_expiry_check = now;
				sk_runtime_warn_expiry(srv.rt, now);
			}
			continue;
		}
		if (sig == SIGHUP) {
			/* READY=1 follows whether the new configuration was taken or refused: either way the
			 * gateway serves. */
			sk_sd_notify_reloading();
			reload(false);
			sk_sd_notify("READY=1");
		} else if (sig == SIGUSR1) {
			for (unsigned i = 0; i < srv.n_workers; i++)
				sk_worker_reopen_logs(srv.workers[i]);
			flush_flow_window();
		} else {
			sk_info("%s received: draining connections", sig == SIGTERM ? "SIGTERM" : "SIGINT");
			sk_sd_notify("STOPPING=1");
			break;
		}
	}
	for (unsigned i = 0; i < srv.n_workers; i++)
		sk_worker_stop(srv.workers[i]);
	for (unsigned i = 0; i < srv.n_workers; i++)
		sk_worker_join_free(srv.workers[i]);
	sk_flowlog_close(); /* the workers' last closes reported the open window */
	sk_watch_stop();
	sk_runtime_reap();
	sk_pool_stop();
	sk_statesvc_stop();
	for (size_t i = 0; i < srv.n_socks; i++)
		if (srv.socks[i].open)
			sock_close(&srv.socks[i]);
	free(srv.socks);
	sk_runtime_unref(srv.rt);
	sk_jwks_sources_shutdown();
	/* Every connection is closed and every worker reference handed back: a snapshot left now is a lost
	 * reference (the release queue is static, so a leak checker would not see it). */
	SK_ASSERT(sk_metrics_snapshots() == 0);
	sk_info("sekisho stopped");
	return 0;

fail: {
	char msg[1200];
	sk_err_format(&err, msg, sizeof(msg));
	fprintf(stderr, "%s\n", msg);
	return 1;
}
}
