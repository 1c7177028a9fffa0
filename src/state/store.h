/*
 * store.h — the state store of DESIGN §4: one small key-value interface, three stores.
 *
 *   lmdb    embedded, durable across restart and kill -9 (default, `state.path`)
 *   redis   shared by several instances (`state.redis: redis://host:port/db`)
 *   memory  for unit tests
 *
 * Every call blocks the calling thread (an LMDB commit fsyncs; a Redis call waits for the reply), so the
 * server makes them only from the blocking pool's state lane, never from an event loop; the command-line
 * tools call them directly. See docs/internals/state.md for why.
 *
 * Values are opaque bytes with an absolute expiry (ms since the epoch, 0 = never); an expired value reads
 * as absent, and sweep deletes it for good (Redis drops it by itself, through the key's PXAT). Keys are short ASCII strings; the records built on top (lockout tallies, ban windows, bans,
 * TOTP replay marks, sessions) are in src/access/guard.h. Every call returns SK_ST_OK, SK_ST_ABSENT where
 * noted, or SK_ST_DOWN when the store cannot be reached or failed (the caller fails closed).
 * A store is safe to use from several threads at once.
 */
#ifndef SK_STORE_H
#define SK_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

#define SK_STORE_MAX_KEY 200
#define SK_STORE_MAX_VALUE 1024
#define SK_STORE_DEFAULT_MAX_SIZE (1ULL << 30)

enum sk_store_rc { SK_ST_OK = 0, SK_ST_ABSENT = 1, SK_ST_DOWN = -1 };

struct sk_store;

/*
 * An update callback: reads the current value (val == NULL when absent or expired) and writes the new one
 * into out (cap SK_STORE_MAX_VALUE bytes). Returns the new length, or -1 to delete the key, or -2 to leave
 * it unchanged. *expires is the current expiry on entry and the new one on return. It may run more than
 * once for one call (Redis retries when another client changed the key meanwhile), so it must be pure.
 */
typedef long (*sk_store_update_fn)(void *arg, const uint8_t *val, size_t len, uint8_t *out, uint64_t *expires);

/* One key of a scan: the callback returns 0 to go on, -1 to stop. */
typedef int (*sk_store_scan_fn)(void *arg, const char *key, const uint8_t *val, size_t len, uint64_t expires);

/* What a store holds, for the gauges on /metrics. */
struct sk_store_usage {
	uint64_t records;   /* keys, live or expired but not yet swept */
	uint64_t bytes;     /* pages the records occupy */
	uint64_t max_bytes; /* the most it may hold (state.max_size) */
};

struct sk_store_ops {
	const char *name;
	enum sk_store_rc (*get)(struct sk_store *st, const char *key, uint8_t *out, size_t *len, uint64_t *expires);
	enum sk_store_rc (*update)(struct sk_store *st, const char *key, sk_store_update_fn fn, void *arg);
	enum sk_store_rc (*del)(struct sk_store *st, const char *key);
	/* Every live key starting with prefix, in no particular order. */
	enum sk_store_rc (*scan)(struct sk_store *st, const char *prefix, sk_store_scan_fn fn, void *arg);
	/* Deletes every expired record; *removed (may be NULL) receives how many. Blocks like the others. */
	enum sk_store_rc (*sweep)(struct sk_store *st, uint64_t *removed);
	/* -1 when the store cannot tell cheaply (Redis: its own INFO is the place to look). */
	int (*usage)(struct sk_store *st, struct sk_store_usage *u);
	void (*close)(struct sk_store *st);
};

struct sk_store {
	const struct sk_store_ops *ops;
	uint64_t (*now_ms)(void); /* the clock expiries are checked against (tests inject one) */
};

/* Opens the store the config names: Redis when url is set, else LMDB under dir (created 0700) with a map
 * of max_size bytes (state.max_size; 0 = SK_STORE_DEFAULT_MAX_SIZE). Returns NULL with err filled: a map
 * smaller than the data state.mdb already holds is an error, not a silent resize. Opening Redis does not
 * need the server to be up. */
struct sk_store *sk_store_open(const char *dir, const char *redis_url, uint64_t max_size, struct sk_err *err);
struct sk_store *sk_store_open_memory(void);
struct sk_store *sk_store_open_lmdb(const char *dir, uint64_t max_size, struct sk_err *err);
struct sk_store *sk_store_open_redis(const char *url, struct sk_err *err);

static inline void sk_store_close(struct sk_store *st)
{
	if (st)
		st->ops->close(st);
}

static inline enum sk_store_rc sk_store_get(struct sk_store *st, const char *key, uint8_t *out, size_t *len,
					    uint64_t *expires)
{
	return st->ops->get(st, key, out, len, expires);
}

static inline enum sk_store_rc sk_store_update(struct sk_store *st, const char *key, sk_store_update_fn fn,
					       void *arg)
{
	return st->ops->update(st, key, fn, arg);
}

static inline enum sk_store_rc sk_store_del(struct sk_store *st, const char *key)
{
	return st->ops->del(st, key);
}

static inline enum sk_store_rc sk_store_scan(struct sk_store *st, const char *prefix, sk_store_scan_fn fn,
					     void *arg)
{
	return st->ops->scan(st, prefix, fn, arg);
}

static inline enum sk_store_rc sk_store_sweep(struct sk_store *st, uint64_t *removed)
{
	return st->ops->sweep(st, removed);
}

static inline int sk_store_usage(struct sk_store *st, struct sk_store_usage *u)
{
	return st->ops->usage ? st->ops->usage(st, u) : -1;
}

/* Sets key to val (len bytes) with an expiry, through update. */
enum sk_store_rc sk_store_put(struct sk_store *st, const char *key, const void *val, size_t len, uint64_t expires);

/* The wall clock in ms since the epoch (the default now_ms). */
uint64_t sk_store_wall_ms(void);

#endif
