/*
 * statesvc.c — the server's side of the state store: opened once, at the first configuration that needs
 * it (lockout, bans, a second factor, sessions); its pool lane; and the thread that keeps the accept
 * path's ban list (net/banlist.h) equal to the bans in the store, which other instances and
 * `sekisho ban add|remove` change too. The same thread sweeps expired records out of the store every
 * SWEEP_MS (LMDB has no expiry of its own; DESIGN §4 asks for at least every 5 s, never on a worker) and
 * publishes the store's use for /metrics.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "access/access.h"
#include "access/guard.h"
#include "core/log.h"
#include "loop/loop.h"
#include "net/banlist.h"
#include "obs/metrics.h"
#include "proxy/proxy.h"
#include "state/store.h"

#define SYNC_MS 1000
#define SWEEP_MS 2000
#define STATE_THREADS 4

static struct {
	struct sk_store *store;
	char *path, *redis; /* what it was opened with */
	uint64_t max_size;
	pthread_t sync;
	bool sync_running;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stopping;
} svc = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

struct collected {
	char **ips;
	uint64_t *until;
	size_t n, cap;
};

static int collect(void *arg, const char *ip, uint64_t until)
{
	struct collected *c = arg;
	if (c->n == c->cap) {
		c->cap = c->cap ? 2 * c->cap : 64;
		c->ips = realloc(c->ips, c->cap * sizeof(*c->ips));
		c->until = realloc(c->until, c->cap * sizeof(*c->until));
		SK_ASSERT(c->ips && c->until);
	}
	c->ips[c->n] = sk_strdup(ip);
	c->until[c->n++] = until;
	return 0;
}

static void sync_once(void)
{
	struct collected c = { 0 };
	if (sk_ban_list(svc.store, collect, &c) == SK_ST_OK)
		sk_bans_replace((const char *const *)c.ips, c.until, c.n);
	/* Store down: keep the bans we know; new ones cannot be made without the store either. */
	for (size_t i = 0; i < c.n; i++)
		free(c.ips[i]);
	free(c.ips);
	free(c.until);
}

/* Deletes what has expired, then publishes the store's use. A store that is down is tried again next time. */
static void sweep_once(void)
{
	uint64_t removed = 0;
	if (sk_store_sweep(svc.store, &removed) == SK_ST_OK && removed)
		sk_debug("state: swept %llu expired records", (unsigned long long)removed);
	struct sk_store_usage u;
	if (sk_store_usage(svc.store, &u) == 0)
		sk_metrics_set_state(u.records, u.bytes, u.max_bytes);
}

static void *sync_main(void *arg)
{
	(void)arg;
	uint64_t last_sweep = 0;
	pthread_mutex_lock(&svc.mu);
	while (!svc.stopping) {
		pthread_mutex_unlock(&svc.mu);
		uint64_t now = sk_now_ms();
		if (last_sweep == 0 || now - last_sweep >= SWEEP_MS) {
			sweep_once();
			last_sweep = now;
		}
		sync_once();
		pthread_mutex_lock(&svc.mu);
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += (long)(SYNC_MS % 1000) * 1000000L;
		ts.tv_sec += SYNC_MS / 1000 + ts.tv_nsec / 1000000000L;
		ts.tv_nsec %= 1000000000L;
		if (!svc.stopping)
			pthread_cond_timedwait(&svc.cv, &svc.mu, &ts);
	}
	pthread_mutex_unlock(&svc.mu);
	return NULL;
}

static bool same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

int sk_statesvc_prepare(const struct sk_config *cfg, struct sk_err *err)
{
	if (svc.store) {
		if (!same(svc.path, cfg->state.path) || !same(svc.redis, cfg->state.redis) ||
		    svc.max_size != cfg->state.max_size)
			sk_warn("state: changes to 'state' take effect at the next start (still using %s)",
				svc.redis ? "redis" : svc.path);
		return 0;
	}
	if (!sk_access_needs_state(cfg))
		return 0;
	if (sk_access_check_state_path(cfg, err) == -1)
		return -1;
	struct sk_store *st = sk_store_open(cfg->state.path, cfg->state.redis, cfg->state.max_size, err);
	if (!st)
		return -1;
	if (sk_pool_start_lane(SK_LANE_STATE, STATE_THREADS) == -1) {
		sk_store_close(st);
		return sk_err_set(err, NULL, 0, 0, "cannot start the state store's threads");
	}
	svc.store = st;
	svc.path = sk_strdup(cfg->state.path);
	svc.redis = cfg->state.redis ? sk_strdup(cfg->state.redis) : NULL;
	svc.max_size = cfg->state.max_size;
	sk_access_set_store(st);
	if (cfg->state.redis)
		sk_info("state: shared through redis");
	else
		sk_info("state: %s/state.mdb (lmdb, at most %llu MiB)", cfg->state.path,
			(unsigned long long)(cfg->state.max_size >> 20));
	sweep_once(); /* records that expired while sekisho was stopped */
	sync_once();  /* bans made before this start apply from the first accept */
	if (pthread_create(&svc.sync, NULL, sync_main, NULL) == 0)
		svc.sync_running = true;
	else
		sk_error("pthread_create (ban sync): bans from other instances will not apply");
	return 0;
}

/* After the pool has stopped (no job uses the store any more). */
void sk_statesvc_stop(void)
{
	if (svc.sync_running) {
		pthread_mutex_lock(&svc.mu);
		svc.stopping = true;
		pthread_cond_broadcast(&svc.cv);
		pthread_mutex_unlock(&svc.mu);
		pthread_join(svc.sync, NULL);
		svc.sync_running = false;
	}
	sk_access_set_store(NULL);
	sk_store_close(svc.store);
	svc.store = NULL;
	free(svc.path);
	free(svc.redis);
	svc.path = svc.redis = NULL;
	sk_bans_clear();
}
