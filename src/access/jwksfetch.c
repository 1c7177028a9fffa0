/*
 * jwksfetch.c — key sets named by `jwks_url` (DESIGN §3 JWT): fetched off the event loops by one thread,
 * cached for 10 minutes, refetched when a token names a kid the set lacks (at most once a minute: bogus
 * kids must not turn sekisho into a flood toward the issuer), so a key rotation at the issuer is picked up
 * without a reload.
 *
 * A source is shared by every snapshot that names the same URL and CA (a reload keeps its keys and does not
 * refetch). Workers read the current set with one atomic load and use it for one synchronous verification;
 * a replaced set is kept for RETIRE_MS before it is freed, far longer than any verification holds it, so
 * the hot path takes no lock and no reference. Everything else (the list, the schedule) is under one mutex
 * that only the fetcher and snapshot builds take.
 */
#include "access/jwksfetch.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "core/log.h"
#include "http/fetch.h"

#define REFRESH_MS (10 * 60 * 1000)
#define RETRY_MS (30 * 1000)
#define POKE_MIN_MS (60 * 1000)
#define RETIRE_MS (60 * 1000)
#define FETCH_TIMEOUT_MS 5000
#define MAX_DOC (1u << 20)
#define N_RETIRED 4

struct sk_jwks_source {
	struct sk_jwks_source *next;
	char *url;
	char *ca;
	unsigned refs;                       /* snapshots, plus the fetcher while it fetches */
	_Atomic(struct sk_jwks *) keys;      /* NULL until the first fetch succeeds */
	atomic_bool poked;                   /* a token named an unknown kid */
	uint64_t next_ms;                    /* next scheduled fetch */
	uint64_t last_attempt_ms;
	uint64_t last_poke_ms;               /* the last fetch an unknown kid caused (0 = none yet) */
	bool failing;                        /* the last fetch failed (logged once per streak) */
	struct {
		struct sk_jwks *set;
		uint64_t at;
	} retired[N_RETIRED];
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static struct sk_jwks_source *sources;
static bool enabled, thread_started, stopping;
static pthread_t thread;

static bool same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static void source_free(struct sk_jwks_source *s)
{
	sk_jwks_free(atomic_load(&s->keys));
	for (size_t i = 0; i < N_RETIRED; i++)
		sk_jwks_free(s->retired[i].set);
	free(s->url);
	free(s->ca);
	free(s);
}

/* Drops a reference; mu held. */
static void unref_locked(struct sk_jwks_source *s)
{
	SK_ASSERT(s->refs > 0);
	if (--s->refs > 0)
		return;
	for (struct sk_jwks_source **p = &sources; *p; p = &(*p)->next) {
		if (*p == s) {
			*p = s->next;
			break;
		}
	}
	source_free(s);
}

/* Publishes a new set; the one it replaces is freed RETIRE_MS later. Returns false (set not taken) when
 * every retirement slot is still too young: the caller keeps serving the old set. mu held. */
static bool publish_locked(struct sk_jwks_source *s, struct sk_jwks *set, uint64_t now)
{
	size_t slot = N_RETIRED;
	for (size_t i = 0; i < N_RETIRED; i++) {
		if (s->retired[i].set && now - s->retired[i].at >= RETIRE_MS) {
			sk_jwks_free(s->retired[i].set);
			s->retired[i].set = NULL;
		}
		if (!s->retired[i].set && slot == N_RETIRED)
			slot = i;
	}
	if (slot == N_RETIRED)
		return false;
	struct sk_jwks *old = atomic_exchange_explicit(&s->keys, set, memory_order_acq_rel);
	s->retired[slot].set = old;
	s->retired[slot].at = now;
	return true;
}

static void fetch_one(struct sk_jwks_source *s)
{
	char why[300] = "";
	char *doc = NULL;
	size_t len = 0;
	struct sk_jwks *set = NULL;
	if (sk_http_fetch(s->url, s->ca, FETCH_TIMEOUT_MS, MAX_DOC, &doc, &len, why, sizeof(why)) == 0) {
		char pwhy[256];
		set = sk_jwks_parse(doc, len, false, pwhy, sizeof(pwhy));
		if (!set)
			snprintf(why, sizeof(why), "not a usable key set: %s", pwhy);
	}
	free(doc);
	uint64_t now = sk_now_ms();
	pthread_mutex_lock(&mu);
	s->last_attempt_ms = now;
	if (set && publish_locked(s, set, now)) {
		if (s->failing || sk_jwks_count(set) == 0)
			sk_info("jwks_url %s: %zu key(s) loaded", s->url, sk_jwks_count(set));
		s->failing = false;
		s->next_ms = now + REFRESH_MS;
	} else {
		if (set) {
			sk_jwks_free(set);
			snprintf(why, sizeof(why), "replaced too often; keeping the current keys");
		}
		if (!s->failing)
			sk_warn("jwks_url %s: %s (the keys fetched before stay in use; retrying every %d s)", s->url,
				why, RETRY_MS / 1000);
		s->failing = true;
		s->next_ms = now + RETRY_MS;
	}
	pthread_mutex_unlock(&mu);
}

static void *fetcher(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&mu);
	while (!stopping) {
		uint64_t now = sk_now_ms();
		struct sk_jwks_source *due = NULL;
		for (struct sk_jwks_source *s = sources; s && !due; s = s->next) {
			bool poked = atomic_exchange(&s->poked, false);
			if (poked && (s->last_poke_ms == 0 || now - s->last_poke_ms >= POKE_MIN_MS)) {
				s->last_poke_ms = now;
				due = s;
			} else if (now >= s->next_ms) {
				due = s;
			} else if (poked) { /* too soon: keep the request for later */
				atomic_store(&s->poked, true);
			}
		}
		if (!due) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 1; /* pokes are flags, not signals: look again every second */
			pthread_cond_timedwait(&cond, &mu, &ts);
			continue;
		}
		due->refs++;
		due->last_attempt_ms = now;
		pthread_mutex_unlock(&mu);
		fetch_one(due);
		pthread_mutex_lock(&mu);
		unref_locked(due);
	}
	pthread_mutex_unlock(&mu);
	return NULL;
}

struct sk_jwks_source *sk_jwks_source_get(const char *url, const char *ca)
{
	pthread_mutex_lock(&mu);
	struct sk_jwks_source *s;
	for (s = sources; s; s = s->next)
		if (strcmp(s->url, url) == 0 && same(s->ca, ca))
			break;
	if (s) {
		s->refs++;
	} else {
		s = sk_calloc(1, sizeof(*s));
		s->url = sk_strdup(url);
		s->ca = ca ? sk_strdup(ca) : NULL;
		s->refs = 1;
		s->next = sources;
		sources = s; /* next_ms = 0: fetched at once */
		if (enabled && !thread_started && !stopping) {
			if (pthread_create(&thread, NULL, fetcher, NULL) != 0)
				sk_panic(__FILE__, __LINE__, "cannot start the jwks_url fetcher thread");
			thread_started = true;
		}
		pthread_cond_signal(&cond);
	}
	pthread_mutex_unlock(&mu);
	return s;
}

void sk_jwks_source_put(struct sk_jwks_source *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&mu);
	unref_locked(s);
	pthread_mutex_unlock(&mu);
}

const struct sk_jwks *sk_jwks_source_keys(const struct sk_jwks_source *s)
{
	return atomic_load_explicit(&((struct sk_jwks_source *)s)->keys, memory_order_acquire);
}

void sk_jwks_source_poke(struct sk_jwks_source *s)
{
	atomic_store_explicit(&s->poked, true, memory_order_relaxed);
}

const char *sk_jwks_source_url(const struct sk_jwks_source *s)
{
	return s->url;
}

void sk_jwks_sources_start(void)
{
	pthread_mutex_lock(&mu);
	enabled = true;
	if (sources && !thread_started && !stopping) {
		if (pthread_create(&thread, NULL, fetcher, NULL) != 0)
			sk_panic(__FILE__, __LINE__, "cannot start the jwks_url fetcher thread");
		thread_started = true;
	}
	pthread_mutex_unlock(&mu);
}

void sk_jwks_sources_shutdown(void)
{
	pthread_mutex_lock(&mu);
	stopping = true;
	bool join = thread_started;
	pthread_cond_signal(&cond);
	pthread_mutex_unlock(&mu);
	if (join)
		pthread_join(thread, NULL);
}
