/*
 * memory.c — the in-process store, for unit tests: a list under one mutex. Not durable, not shared.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "state/store.h"

struct entry {
	struct entry *next;
	char *key;
	uint64_t expires;
	size_t len;
	uint8_t val[];
};

struct mem_store {
	struct sk_store base;
	pthread_mutex_t mu;
	struct entry *head;
};

static bool live(const struct mem_store *m, const struct entry *e)
{
	return e->expires == 0 || e->expires > m->base.now_ms();
}

static struct entry **find(struct mem_store *m, const char *key)
{
	struct entry **pp = &m->head;
	while (*pp && strcmp((*pp)->key, key) != 0)
		pp = &(*pp)->next;
	return pp;
}

static void unlink_free(struct entry **pp)
{
	struct entry *e = *pp;
	*pp = e->next;
	free(e->key);
	free(e);
}

static enum sk_store_rc mem_get(struct sk_store *st, const char *key, uint8_t *out, size_t *len, uint64_t *expires)
{
	struct mem_store *m = (struct mem_store *)st;
	enum sk_store_rc rc = SK_ST_ABSENT;
	pthread_mutex_lock(&m->mu);
	struct entry *e = *find(m, key);
	if (e && live(m, e)) {
		memcpy(out, e->val, e->len);
		*len = e->len;
		if (expires)
			*expires = e->expires;
		rc = SK_ST_OK;
	}
	pthread_mutex_unlock(&m->mu);
	return rc;
}

static enum sk_store_rc mem_update(struct sk_store *st, const char *key, sk_store_update_fn fn, void *arg)
{
	struct mem_store *m = (struct mem_store *)st;
	uint8_t out[SK_STORE_MAX_VALUE];
	pthread_mutex_lock(&m->mu);
	struct entry **pp = find(m, key);
	if (*pp && !live(m, *pp))
		unlink_free(pp);
	struct entry *e = *pp;
	uint64_t expires = e ? e->expires : 0;
	long n = fn(arg, e ? e->val : NULL, e ? e->len : 0, out, &expires);
	if (n == -1) {
		if (e)
			unlink_free(pp);
	} else if (n >= 0) {
		SK_ASSERT((size_t)n <= SK_STORE_MAX_VALUE);
		struct entry *ne = sk_malloc(sizeof(*ne) + (size_t)n);
		ne->key = sk_strdup(key);
		ne->expires = expires;
		ne->len = (size_t)n;
		memcpy(ne->val, out, (size_t)n);
		if (e)
			unlink_free(pp);
		ne->next = m->head;
		m->head = ne;
	}
	pthread_mutex_unlock(&m->mu);
	return SK_ST_OK;
}

static enum sk_store_rc mem_del(struct sk_store *st, const char *key)
{
	struct mem_store *m = (struct mem_store *)st;
	pthread_mutex_lock(&m->mu);
	struct entry **pp = find(m, key);
	bool had = *pp && live(m, *pp);
	if (*pp)
		unlink_free(pp);
	pthread_mutex_unlock(&m->mu);
	return had ? SK_ST_OK : SK_ST_ABSENT;
}

static enum sk_store_rc mem_scan(struct sk_store *st, const char *prefix, sk_store_scan_fn fn, void *arg)
{
	struct mem_store *m = (struct mem_store *)st;
	size_t plen = strlen(prefix);
	pthread_mutex_lock(&m->mu);
	for (struct entry *e = m->head; e; e = e->next) {
		if (strncmp(e->key, prefix, plen) == 0 && live(m, e) && fn(arg, e->key, e->val, e->len, e->expires) != 0)
			break;
	}
	pthread_mutex_unlock(&m->mu);
	return SK_ST_OK;
}

static enum sk_store_rc mem_sweep(struct sk_store *st, uint64_t *removed)
{
	struct mem_store *m = (struct mem_store *)st;
	uint64_t n = 0;
	pthread_mutex_lock(&m->mu);
	for (struct entry **pp = &m->head; *pp;) {
		if (live(m, *pp)) {
			pp = &(*pp)->next;
		} else {
			unlink_free(pp);
			n++;
		}
	}
	pthread_mutex_unlock(&m->mu);
	if (removed)
		*removed = n;
	return SK_ST_OK;
}

static int mem_usage(struct sk_store *st, struct sk_store_usage *u)
{
	struct mem_store *m = (struct mem_store *)st;
	memset(u, 0, sizeof(*u));
	pthread_mutex_lock(&m->mu);
	for (struct entry *e = m->head; e; e = e->next) {
		u->records++;
		u->bytes += e->len;
	}
	pthread_mutex_unlock(&m->mu);
	return 0;
}

static void mem_close(struct sk_store *st)
{
	struct mem_store *m = (struct mem_store *)st;
	while (m->head)
		unlink_free(&m->head);
	pthread_mutex_destroy(&m->mu);
	free(m);
}

static const struct sk_store_ops mem_ops = {
	.name = "memory",
	.get = mem_get,
	.update = mem_update,
	.del = mem_del,
	.scan = mem_scan,
	.sweep = mem_sweep,
	.usage = mem_usage,
	.close = mem_close,
};

struct sk_store *sk_store_open_memory(void)
{
	struct mem_store *m = sk_calloc(1, sizeof(*m));
	m->base.ops = &mem_ops;
	m->base.now_ms = sk_store_wall_ms;
	pthread_mutex_init(&m->mu, NULL);
	return &m->base;
}
