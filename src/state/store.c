/*
 * store.c — what the three stores share: choosing one from the config, put, the clock.
 */
#include "state/store.h"

#include <string.h>
#include <time.h>

uint64_t sk_store_wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct sk_store *sk_store_open(const char *dir, const char *redis_url, uint64_t max_size, struct sk_err *err)
{
	if (redis_url)
		return sk_store_open_redis(redis_url, err);
	return sk_store_open_lmdb(dir ? dir : "./var", max_size, err);
}

struct put_arg {
	const void *val;
	size_t len;
	uint64_t expires;
};

static long put_fn(void *arg, const uint8_t *val, size_t len, uint8_t *out, uint64_t *expires)
{
	const struct put_arg *p = arg;
	memcpy(out, p->val, p->len);
	*expires = p->expires;
	return (long)p->len;
}

enum sk_store_rc sk_store_put(struct sk_store *st, const char *key, const void *val, size_t len, uint64_t expires)
{
	SK_ASSERT(len <= SK_STORE_MAX_VALUE);
	struct put_arg p = { .val = val, .len = len, .expires = expires };
	return sk_store_update(st, key, put_fn, &p);
}
