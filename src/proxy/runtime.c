/*
 * runtime.c — the immutable runtime snapshot built from a validated config: route table, trusted
 * proxies, static origin directories, clamped limits, certificates and TLS contexts. Reference counted;
 * the last unref frees it and its config. Listening sockets are not owned here (see server.c): they
 * outlive snapshots. Certificate files are read here, so every reload reads them again; a certificate
 * that does not load makes the whole build fail, and the previous snapshot keeps serving.
 *
 * Workers never free a snapshot: they hand their references to a lock-free queue (release_later) that the
 * main thread drains (reap), so tearing down tries, databases and TLS contexts never stalls a worker.
 */
#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <time.h>

#include "core/log.h"
#include "obs/metrics.h"
#include "proxy/proxy.h"

#define EXPIRY_WARN_DAYS 30

/* An error about a file (a CA bundle) that has no config position yet gets the config key's. Returns -1. */
static int at_config(struct sk_err *err, const struct sk_config *cfg, struct sk_pos pos)
{
	if (strcmp(err->file, cfg->path) == 0 && err->line > 0)
		return -1;
	char inner[sizeof(err->file) + sizeof(err->msg) + 32];
	sk_err_format(err, inner, sizeof(inner));
	return sk_err_set(err, cfg->path, pos.line, pos.col, "%s", inner);
}

/* References handed over by workers, newest first (a Treiber stack: many pushers, one taker). */
static _Atomic(struct sk_snapref *) release_queue;
static _Thread_local bool worker_thread;

/* Every `certificates:` entry, then the contexts of TLS listeners and TLS origins. */
static int build_tls(struct sk_runtime *rt, struct sk_err *err)
{
	const struct sk_config *cfg = rt->cfg;
	rt->certs = sk_calloc(cfg->n_certificates ? cfg->n_certificates : 1, sizeof(*rt->certs));
	for (size_t i = 0; i < cfg->n_certificates; i++) {
		const struct sk_certificate *ct = &cfg->certificates[i];
		struct sk_err e = { 0 };
		if (sk_tls_cert_load(&rt->certs[i], ct->name, ct->cert, ct->key, ct->chain, &e) == -1) {
			/* Point at the key that names the file that failed (the certificate's name otherwise). */
			struct sk_pos at = ct->pos;
			if (strcmp(e.file, ct->cert) == 0)
				at = ct->cert_pos;
			else if (strcmp(e.file, ct->key) == 0)
				at = ct->key_pos;
			else if (ct->chain && strcmp(e.file, ct->chain) == 0)
				at = ct->chain_pos;
			char inner[sizeof(e.file) + sizeof(e.msg) + 32];
			sk_err_format(&e, inner, sizeof(inner));
			return sk_err_set(err, cfg->path, at.line, at.col, "certificate '%s': %s", ct->name, inner);
		}
	}
	sk_runtime_warn_expiry(rt, (int64_t)time(NULL));
	for (size_t i = 0; i < cfg->n_listeners; i++) {
		if (!cfg->listeners[i].tls.present)
			continue;
		rt->listeners[i].tls = sk_tls_server_new(cfg, &cfg->listeners[i], rt->certs, err);
		if (!rt->listeners[i].tls)
			return at_config(err, cfg, cfg->listeners[i].tls.client_ca ? cfg->listeners[i].tls.client_ca_pos
										     : cfg->listeners[i].pos);
	}
	for (size_t i = 0; i < cfg->n_origins; i++) {
		if (!cfg->origins[i].tls.present || cfg->origins[i].root)
			continue;
		rt->origins[i].tls = sk_tls_client_new(cfg, &cfg->origins[i], err);
		if (!rt->origins[i].tls)
			return at_config(err, cfg, cfg->origins[i].tls.ca ? cfg->origins[i].tls.ca_pos : cfg->origins[i].pos);
	}
	return 0;
}

void sk_runtime_warn_expiry(const struct sk_runtime *rt, int64_t now)
{
	for (size_t i = 0; i < rt->cfg->n_certificates; i++) {
		const struct sk_tls_cert *c = &rt->certs[i];
		if (!c->leaf)
			continue;
		int64_t days = sk_tls_days_left(c->not_after, now);
		char when[40];
		sk_tls_format_time(c->not_after, when, sizeof(when));
		if (days < 0)
			sk_warn("certificate '%s' (%s) has expired: not after %s", c->name, c->subject, when);
		else if (days < EXPIRY_WARN_DAYS)
			sk_warn("certificate '%s' (%s) expires in %lld days: not after %s", c->name, c->subject,
				(long long)days, when);
	}
}

/* IP sets, the country database and one compiled pipeline per behavior. */
static int build_access(struct sk_runtime *rt, bool check_only, struct sk_err *err)
{
	const struct sk_config *cfg = rt->cfg;
	if ((check_only ? sk_access_env_check(&rt->access, cfg, err)
			: sk_access_env_init(&rt->access, cfg, rt->generation, err)) == -1)
		return -1;
	rt->beh_base = sk_calloc(cfg->n_distributions, sizeof(*rt->beh_base));
	for (size_t d = 0; d < cfg->n_distributions; d++) {
		rt->beh_base[d] = rt->n_pipelines;
		rt->n_pipelines += cfg->distributions[d].n_behaviors;
	}
	rt->pipelines = sk_calloc(rt->n_pipelines, sizeof(*rt->pipelines));
	for (size_t d = 0; d < cfg->n_distributions; d++) {
		const struct sk_distribution *dist = &cfg->distributions[d];
		for (size_t b = 0; b < dist->n_behaviors; b++) {
			struct sk_pipeline *p = sk_pipeline_compile(&dist->behaviors[b].access, &rt->access, err);
			if (!p) {
				if (err->line == 0) {
					err->line = dist->behaviors[b].pos.line;
					err->col = dist->behaviors[b].pos.col;
				}
				return -1;
			}
			rt->pipelines[rt->beh_base[d] + b] = p;
		}
	}
	if (cfg->admin.present && cfg->admin.access.present) {
		rt->admin_pipeline = sk_pipeline_compile(&cfg->admin.access, &rt->access, err);
		if (!rt->admin_pipeline)
			return -1;
	}
	rt->egress_pipelines = sk_calloc(cfg->n_egress + 1, sizeof(*rt->egress_pipelines));
	for (size_t i = 0; i < cfg->n_egress; i++) {
		if (!cfg->egress[i].access.present)
			continue;
		rt->egress_pipelines[i] = sk_pipeline_compile(&cfg->egress[i].access, &rt->access, err);
		if (!rt->egress_pipelines[i]) {
			if (err->line == 0) {
				err->line = cfg->egress[i].pos.line;
				err->col = cfg->egress[i].pos.col;
			}
			return -1;
		}
	}
	return 0;
}

/* What a 401 under acc carries: the Basic challenge when Basic is taken (the config loader only accepts
 * realms that are safe inside a quoted string). */
static void set_challenge(char *out, size_t cap, const struct sk_access *acc)
{
	out[0] = '\0';
	for (size_t i = 0; i < acc->n_auth; i++)
		if (acc->auth[i] == SK_AUTH_BASIC)
			snprintf(out, cap, "Basic realm=\"%.256s\", charset=\"UTF-8\"", acc->realm);
}

/* Every behavior resolved once (DESIGN §9): pipeline, origin and its runtime, challenge, timeouts. */
static void build_behaviors(struct sk_runtime *rt)
{
	const struct sk_config *cfg = rt->cfg;
	rt->behaviors = sk_calloc(rt->n_pipelines ? rt->n_pipelines : 1, sizeof(*rt->behaviors));
	for (size_t d = 0; d < cfg->n_distributions; d++) {
		const struct sk_distribution *dist = &cfg->distributions[d];
		for (size_t b = 0; b < dist->n_behaviors; b++) {
			const struct sk_behavior *beh = &dist->behaviors[b];
			struct sk_behavior_rt *br = &rt->behaviors[rt->beh_base[d] + b];
			const struct sk_origin *o = sk_config_origin(cfg, beh->origin);
			SK_ASSERT(o);
			br->cfg = beh;
			br->dist = dist;
			br->pipeline = rt->pipelines[rt->beh_base[d] + b];
			br->origin = o;
			br->ort = &rt->origins[o - cfg->origins];
			br->dist_mslot = rt->dist_mslot[d];
			br->idle_timeout_ms = beh->idle_timeout_ms;
			for (size_t i = 0; i < beh->access.n_auth; i++)
				br->session |= beh->access.auth[i] == SK_AUTH_SESSION;
			set_challenge(br->challenge, sizeof(br->challenge), &beh->access);
		}
	}
	rt->admin_behavior.pipeline = rt->admin_pipeline;
	if (cfg->admin.present)
		set_challenge(rt->admin_behavior.challenge, sizeof(rt->admin_behavior.challenge), &cfg->admin.access);
	/* Egress entries: a behavior each, for the access pipeline, the 407 challenge, the tunnel idle
	 * timeout, and the header policy of absolute-form requests (every field forwarded, the target's Host
	 * kept, credentials consumed). */
	rt->egress_behaviors = sk_calloc(cfg->n_egress + 1, sizeof(*rt->egress_behaviors));
	rt->egress_beh_cfg = sk_calloc(cfg->n_egress + 1, sizeof(*rt->egress_beh_cfg));
	for (size_t i = 0; i < cfg->n_egress; i++) {
		struct sk_behavior *b = &rt->egress_beh_cfg[i];
		b->forward_host = true;
		b->forward_mode = SK_FWD_ALL;
		b->websocket = false;
		b->idle_timeout_ms = cfg->egress[i].idle_timeout_ms;
		struct sk_behavior_rt *br = &rt->egress_behaviors[i];
		br->cfg = b;
		br->pipeline = rt->egress_pipelines[i];
		br->idle_timeout_ms = cfg->egress[i].idle_timeout_ms;
		set_challenge(br->challenge, sizeof(br->challenge), &cfg->egress[i].access);
	}
	rt->egress = sk_egress_rt_build(cfg);
}

const struct sk_behavior_rt *sk_runtime_behavior(const struct sk_runtime *rt, const struct sk_distribution *d,
						 struct sk_slice path)
{
	const struct sk_behavior *b = sk_routes_behavior(d, path);
	if (!b)
		return NULL;
	return &rt->behaviors[rt->beh_base[d - rt->cfg->distributions] + (size_t)(b - d->behaviors)];
}

/* Metrics slots are per name and outlive snapshots: a reload keeps each name's counters. */
static void build_metric_slots(struct sk_runtime *rt)
{
	const struct sk_config *cfg = rt->cfg;
	rt->dist_mslot = sk_calloc(cfg->n_distributions ? cfg->n_distributions : 1, sizeof(*rt->dist_mslot));
	for (size_t i = 0; i < cfg->n_distributions; i++)
		rt->dist_mslot[i] = sk_metrics_slot(SK_MK_DIST, cfg->distributions[i].name);
	for (size_t i = 0; i < cfg->n_listeners; i++)
		rt->listeners[i].mslot = sk_metrics_slot(SK_MK_LISTENER, cfg->listeners[i].name);
	rt->admin.mslot = sk_metrics_slot(SK_MK_LISTENER, "admin");
	for (size_t i = 0; i < cfg->n_egress; i++)
		rt->egress_l[i].mslot = sk_metrics_slot(SK_MK_LISTENER, cfg->egress[i].name);
	for (size_t i = 0; i < cfg->n_origins; i++)
		rt->origins[i].mslot = sk_metrics_slot(SK_MK_ORIGIN, cfg->origins[i].name);
}

unsigned long long sk_open_files_needed(const struct sk_config *cfg, unsigned workers, uint32_t max_connections)
{
	unsigned long long n_listen = cfg->n_listeners + cfg->n_egress + (cfg->admin.present ? 1 : 0);
	/* Per worker: its listeners, 8 for its epoll, eventfds and logs, and the pipes of its tunnels. */
	return 2ULL * workers * max_connections + n_listen * workers + (8ULL + 2ULL * SK_PIPES_PER_WORKER) * workers + 64;
}

uint32_t sk_max_connections_auto(const struct sk_config *cfg, unsigned workers)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == -1 || rl.rlim_cur == RLIM_INFINITY)
		return SK_MAX_CONNECTIONS_AUTO;
	unsigned long long fixed = sk_open_files_needed(cfg, workers, 0);
	unsigned long long fit = rl.rlim_cur > fixed ? (rl.rlim_cur - fixed) / (2ULL * workers) : 0;
	return (uint32_t)SK_MAX(SK_MIN(fit, (unsigned long long)SK_MAX_CONNECTIONS_AUTO), 16ULL);
}

_Static_assert(SK_LIMIT_MAX_REQUEST_LINE <= SK_MAX_LINE && SK_LIMIT_MAX_HEADER_BLOCK <= SK_BUF_SIZE - 1024 &&
		       SK_LIMIT_MAX_HEADER_FIELDS <= SK_MAX_HEADERS,
	       "the config accepts limits that the buffers cannot hold");

static struct sk_runtime *build(struct sk_config *cfg, uint64_t generation, bool check_only, struct sk_err *err)
{
	if (sk_config_check_serves(cfg, err) == -1) {
		sk_config_free(cfg);
		return NULL;
	}
	struct sk_runtime *rt = sk_calloc(1, sizeof(*rt));
	atomic_init(&rt->refs, 1);
	sk_metrics_add_snapshots(1);
	rt->cfg = cfg;
	rt->generation = generation;
	rt->max_connections = cfg->limits.max_connections
				      ? cfg->limits.max_connections
				      : sk_max_connections_auto(cfg, SK_MIN(SK_MAX(cfg->workers, 1u), (unsigned)SK_MAX_WORKERS));
	rt->origins = sk_calloc(cfg->n_origins, sizeof(*rt->origins));
	rt->listeners = sk_calloc(cfg->n_listeners, sizeof(*rt->listeners));
	rt->egress_l = sk_calloc(cfg->n_egress + 1, sizeof(*rt->egress_l));
	for (size_t i = 0; i < cfg->n_origins; i++) {
		rt->origins[i].root_fd = -1;
		if (!cfg->origins[i].root)
			continue;
		int fd = open(cfg->origins[i].root, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (fd == -1) {
			sk_err_set(err, cfg->path, cfg->origins[i].pos.line, cfg->origins[i].pos.col,
				   "origin '%s': cannot open root %s: %s", cfg->origins[i].name, cfg->origins[i].root,
				   strerror(errno));
			sk_runtime_unref(rt);
			return NULL;
		}
		rt->origins[i].root_fd = fd;
	}
	rt->trusted = sk_ipset_new();
	for (size_t i = 0; i < cfg->trusted_proxies.n; i++)
		sk_ipset_add(rt->trusted, &cfg->trusted_proxies.items[i]);
	rt->routes = sk_routes_build(cfg);
	build_metric_slots(rt);
	if (build_tls(rt, err) == -1 || build_access(rt, check_only, err) == -1) {
		sk_runtime_unref(rt);
		return NULL;
	}
	build_behaviors(rt);
	/* The config reader refuses limits above SK_LIMIT_MAX_* (so check-config does too). */
	SK_ASSERT(cfg->limits.request_line <= SK_MAX_LINE && cfg->limits.header_block <= SK_BUF_SIZE - 1024 &&
		  cfg->limits.header_fields <= SK_MAX_HEADERS);
	rt->limits = (struct sk_h1_limits){
		.request_line = cfg->limits.request_line,
		.header_block = cfg->limits.header_block,
		.header_fields = cfg->limits.header_fields,
	};
	return rt;
}

struct sk_runtime *sk_runtime_build(struct sk_config *cfg, uint64_t generation, struct sk_err *err)
{
	return build(cfg, generation, false, err);
}

int sk_runtime_check(struct sk_config *cfg, struct sk_err *err)
{
	struct sk_runtime *rt = build(cfg, 0, true, err);
	if (!rt)
		return -1;
	sk_runtime_unref(rt);
	return 0;
}

void sk_runtime_ref(struct sk_runtime *rt)
{
	atomic_fetch_add_explicit(&rt->refs, 1, memory_order_relaxed);
}

void sk_runtime_unref(struct sk_runtime *rt)
{
	if (!rt || atomic_fetch_sub_explicit(&rt->refs, 1, memory_order_acq_rel) != 1)
		return;
	SK_ASSERT(!worker_thread && "a snapshot freed on a worker thread");
	for (size_t i = 0; rt->origins && i < rt->cfg->n_origins; i++) {
		if (rt->origins[i].root_fd >= 0)
			close(rt->origins[i].root_fd);
		sk_tls_client_free(rt->origins[i].tls);
	}
	for (size_t i = 0; rt->listeners && i < rt->cfg->n_listeners; i++)
		sk_tls_server_free(rt->listeners[i].tls);
	for (size_t i = 0; rt->certs && i < rt->cfg->n_certificates; i++)
		sk_tls_cert_fini(&rt->certs[i]);
	free(rt->certs);
	free(rt->origins);
	free(rt->listeners);
	for (size_t i = 0; i < rt->n_pipelines; i++)
		sk_pipeline_free(rt->pipelines[i]);
	free(rt->pipelines);
	free(rt->behaviors);
	if (rt->admin_pipeline)
		sk_pipeline_free(rt->admin_pipeline);
	for (size_t i = 0; rt->egress_pipelines && i < rt->cfg->n_egress; i++)
		if (rt->egress_pipelines[i])
			sk_pipeline_free(rt->egress_pipelines[i]);
	free(rt->egress_pipelines);
	free(rt->egress_behaviors);
	free(rt->egress_beh_cfg);
	free(rt->egress_l);
	sk_egress_rt_free(rt->egress);
	free(rt->beh_base);
	free(rt->dist_mslot);
	if (rt->access.cfg)
		sk_access_env_fini(&rt->access);
	if (rt->routes)
		sk_routes_free(rt->routes);
	if (rt->trusted)
		sk_ipset_free(rt->trusted);
	sk_config_free(rt->cfg);
	free(rt);
	sk_metrics_add_snapshots(-1);
}

void sk_runtime_release_later(struct sk_snapref *ref)
{
	struct sk_snapref *head = atomic_load_explicit(&release_queue, memory_order_relaxed);
	do
		ref->next = head;
	while (!atomic_compare_exchange_weak_explicit(&release_queue, &head, ref, memory_order_release,
						      memory_order_relaxed));
}

void sk_runtime_reap(void)
{
	struct sk_snapref *r = atomic_exchange_explicit(&release_queue, NULL, memory_order_acquire);
	while (r) {
		struct sk_snapref *next = r->next;
		sk_runtime_unref(r->rt);
		free(r);
		r = next;
	}
}

void sk_runtime_on_worker_thread(void)
{
	worker_thread = true;
}
