/*
 * verify.c — password verification off the event loop (see verify.h).
 *
 * Invariants: everything here runs on the owning worker's thread except `work`, which only reads the
 * verification's own copies of the hash and password. A request waits on at most one verification
 * (req->waiter); a verification outlives its waiters (a closed connection just detaches), and the worker
 * drains in-flight verifications before its loop is freed. Passwords are wiped after use and never logged.
 */
#include "access/verify.h"

#include <errno.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>

#include "access/guardjob.h"
#include "access/hash.h"
#include "core/log.h"
#include "loop/loop.h"

#define CACHE_SLOTS 4096 /* direct-mapped; a collision only costs one more verification */
#define MAX_INFLIGHT 256 /* per worker; the pool's own bound applies across workers */

struct sk_waiter {
	struct sk_waiter *next;
	struct sk_access_req *req;
	int8_t *result; /* the waiting stage's scratch (1 match, 0 mismatch) */
	struct verification *ver;
};

struct verification {
	struct sk_job job;
	struct sk_verifier *v;
	struct verification *next; /* in-flight list */
	uint8_t key[32];
	uint64_t gen;
	int family;
	uint8_t client[16];
	const char *hash_src; /* the snapshot's hash this verifies against: only the same one is joined */
	bool remember;        /* cache a match (false while any waiter must first hear about a lockout) */
	uint64_t pad_ns;      /* a mismatch takes at least this long (a hash cheaper than the stand-in) */
	char *hash;
	char *pw;
	size_t plen;
	int result;
	struct sk_waiter *waiters;
};

struct cache_entry {
	uint8_t key[32];
	uint64_t gen;
	uint64_t expires;
};

struct sk_verifier {
	struct sk_loop *loop;
	struct verification *inflight;
	unsigned n_inflight;
	unsigned n_held; /* state-store jobs (guardjob.c) */
	struct cache_entry *cache;
};

static uint8_t secret[32];
static pthread_once_t secret_once = PTHREAD_ONCE_INIT;

static void secret_init(void)
{
	if (getrandom(secret, sizeof(secret), 0) != (ssize_t)sizeof(secret))
		sk_panic(__FILE__, __LINE__, "getrandom failed: cannot key the credential cache");
}

struct sk_verifier *sk_verifier_new(struct sk_loop *loop)
{
	pthread_once(&secret_once, secret_init);
	struct sk_verifier *v = sk_calloc(1, sizeof(*v));
	v->loop = loop;
	v->cache = sk_calloc(CACHE_SLOTS, sizeof(*v->cache));
	return v;
}

void sk_verifier_free(struct sk_verifier *v)
{
	if (!v)
		return;
	SK_ASSERT(v->n_inflight == 0 && v->n_held == 0);
	explicit_bzero(v->cache, CACHE_SLOTS * sizeof(*v->cache));
	free(v->cache);
	free(v);
}

unsigned sk_verifier_inflight(const struct sk_verifier *v)
{
	return v ? v->n_inflight + v->n_held : 0;
}

static EVP_MD *sha256;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void sha256_fetch(void)
{
	sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	if (!sha256)
		sk_panic(__FILE__, __LINE__, "no SHA-256 in OpenSSL");
}

void sk_verify_key(uint64_t gen, const char *user, size_t ulen, const char *pw, size_t plen, uint8_t out[32])
{
	/* SHA-256 over a secret prefix: the digest never leaves the process, so length extension does not
	 * matter, and it is several times cheaper than an HMAC context per request. Every byte of both values
	 * counts, with their lengths: a key that covered only a prefix of a long bearer token would let a
	 * different token with the same prefix pass as the one verified. The digest is fetched once (a
	 * one-shot SHA256() fetches it, under a lock, on every call in OpenSSL 3). */
	pthread_once(&sha256_once, sha256_fetch);
	uint64_t lens[3] = { gen, ulen, plen };
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned int olen = 0;
	if (!ctx || EVP_DigestInit_ex2(ctx, sha256, NULL) != 1 || EVP_DigestUpdate(ctx, secret, 32) != 1 ||
	    EVP_DigestUpdate(ctx, lens, sizeof(lens)) != 1 || EVP_DigestUpdate(ctx, user, ulen) != 1 ||
	    EVP_DigestUpdate(ctx, pw, plen) != 1 || EVP_DigestFinal_ex(ctx, out, &olen) != 1 || olen != 32)
		sk_panic(__FILE__, __LINE__, "SHA-256 failed");
	EVP_MD_CTX_free(ctx);
}

static struct cache_entry *slot(struct sk_verifier *v, const uint8_t key[32])
{
	uint32_t h;
	memcpy(&h, key, sizeof(h));
	return &v->cache[h % CACHE_SLOTS];
}

bool sk_verify_cached(struct sk_verifier *v, uint64_t gen, const uint8_t key[32])
{
	const struct cache_entry *e = slot(v, key);
	return e->gen == gen && e->expires > sk_loop_now(v->loop) && sk_ct_eq(e->key, key, 32);
}

void sk_verify_remember(struct sk_verifier *v, uint64_t gen, const uint8_t key[32])
{
	struct cache_entry *e = slot(v, key);
	memcpy(e->key, key, 32);
	e->gen = gen;
	e->expires = sk_loop_now(v->loop) + SK_VERIFY_TTL_MS;
}

static void work(struct sk_job *job)
{
	struct verification *ver = SK_CONTAINER_OF(job, struct verification, job);
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ver->result = sk_hash_verify(ver->hash, ver->pw, ver->plen) == 1 ? 1 : 0;
	explicit_bzero(ver->pw, ver->plen);
	if (ver->result != 1 && ver->pad_ns) {
		/* Sleep, not spin: the time is what an unknown name's stand-in takes, the CPU is not needed. */
		uint64_t until = (uint64_t)t0.tv_sec * 1000000000u + (uint64_t)t0.tv_nsec + ver->pad_ns;
		struct timespec ts = { .tv_sec = (time_t)(until / 1000000000u), .tv_nsec = (long)(until % 1000000000u) };
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
			;
	}
}

static void done(struct sk_job *job)
{
	struct verification *ver = SK_CONTAINER_OF(job, struct verification, job);
	struct sk_verifier *v = ver->v;
	struct verification **pp = &v->inflight;
	while (*pp != ver)
		pp = &(*pp)->next;
	*pp = ver->next;
	v->n_inflight--;
	if (ver->result == 1 && ver->remember)
		sk_verify_remember(v, ver->gen, ver->key);
	/* Detach every waiter first: a resume may close its connection, which must not find the list. */
	struct sk_waiter *w = ver->waiters;
	ver->waiters = NULL;
	for (struct sk_waiter *x = w; x; x = x->next) {
		x->req->waiter = NULL;
		*x->result = (int8_t)ver->result;
	}
	while (w) {
		struct sk_waiter *next = w->next;
		struct sk_access_req *req = w->req;
		free(w);
		req->resume(req);
		w = next;
	}
	free(ver->hash);
	free(ver->pw);
	free(ver);
}

static void attach(struct verification *ver, struct sk_access_req *req, int8_t *result)
{
	struct sk_waiter *w = sk_calloc(1, sizeof(*w));
	w->req = req;
	w->result = result;
	w->ver = ver;
	w->next = ver->waiters;
	ver->waiters = w;
	req->waiter = w;
}

void sk_verify_decoy(const char *pw, size_t plen, char *out, uint8_t key[32])
{
	if (plen && getrandom(out, plen, 0) != (ssize_t)plen)
		sk_panic(__FILE__, __LINE__, "getrandom failed: cannot make a decoy password");
	for (size_t i = 0; i < plen; i++)
		if (pw[i] == '\0')
			out[i] = '\0';
		else if (out[i] == '\0')
			out[i] = 'x';
	for (size_t i = 0; i < 32; i++)
		key[i] ^= 0xa5;
}

int sk_verify_start(struct sk_verifier *v, struct sk_access_req *req, uint64_t gen, const uint8_t key[32],
		    const char *hash, const char *pw, size_t plen, bool remember, uint64_t pad_ns, int8_t *result)
{
	unsigned same_client = 0;
	for (struct verification *ver = v->inflight; ver; ver = ver->next) {
		/* The same hash too: a locked account's request, verified against the stand-in, must never
		 * share the outcome of its real password's verification. */
		if (ver->gen == gen && ver->hash_src == hash && sk_ct_eq(ver->key, key, 32)) {
			attach(ver, req, result); /* identical credentials: wait on the same verification */
			ver->remember = ver->remember && remember;
			return 0;
		}
		if (ver->family == req->family && memcmp(ver->client, req->addr, req->family == AF_INET ? 4 : 16) == 0)
			same_client++;
	}
	if (same_client >= SK_VERIFY_PER_CLIENT || v->n_inflight >= MAX_INFLIGHT)
		return -1;
	struct verification *ver = sk_calloc(1, sizeof(*ver));
	ver->v = v;
	memcpy(ver->key, key, 32);
	ver->gen = gen;
	ver->family = req->family;
	memcpy(ver->client, req->addr, req->family == AF_INET ? 4 : 16);
	ver->hash_src = hash;
	ver->remember = remember;
	ver->pad_ns = pad_ns;
	ver->hash = sk_strdup(hash);
	ver->pw = sk_malloc(plen + 1);
	memcpy(ver->pw, pw, plen);
	ver->pw[plen] = '\0';
	ver->plen = plen;
	ver->job.work = work;
	ver->job.done = done;
	if (sk_pool_submit(v->loop, &ver->job) == -1) {
		explicit_bzero(ver->pw, plen);
		free(ver->pw);
		free(ver->hash);
		free(ver);
		return -1;
	}
	ver->next = v->inflight;
	v->inflight = ver;
	v->n_inflight++;
	attach(ver, req, result);
	return 0;
}

struct sk_loop *sk_verifier_loop(const struct sk_verifier *v)
{
	return v->loop;
}

void sk_verifier_hold(struct sk_verifier *v, int delta)
{
	v->n_held = (unsigned)((int)v->n_held + delta);
}

void sk_access_req_cancel(struct sk_access_req *req)
{
	sk_guard_cancel(req);
	struct sk_waiter *w = req->waiter;
	if (!w)
		return;
	struct sk_waiter **pp = &w->ver->waiters;
	while (*pp != w)
		pp = &(*pp)->next;
	*pp = w->next;
	free(w);
	req->waiter = NULL;
}

enum sk_reason sk_access_req_timeout_reason(const struct sk_access_req *req)
{
	return req->waiter ? SK_R_TOO_MANY_ATTEMPTS : SK_R_STATE_UNAVAILABLE;
}
