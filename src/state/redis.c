/*
 * redis.c — the shared store: Redis through hiredis's synchronous API, for several instances.
 *
 * Calls come from the blocking pool's state lane (never from an event loop), so the blocking API is
 * fine there, and it brings what hiredis 0.14's async API lacks: connect and command timeouts. A dead
 * Redis therefore costs a call at most CONNECT_MS + COMMAND_MS, after which it fails closed (SK_ST_DOWN).
 * Connections are pooled (one per concurrent caller); a broken one is dropped and the next call
 * reconnects, at most once per RETRY_MS while Redis stays down, so an outage does not pile up connects.
 *
 * Keys are `sekisho:<key>`; a value is an 8-byte little-endian expiry followed by its bytes (the same
 * layout as LMDB, so expiry is judged by one clock), and the key also gets PXAT so Redis drops it itself.
 * update is optimistic: WATCH, GET, compute, MULTI/SET/EXEC, retried when another client won the race.
 */
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "state/store.h"

#define CONNECT_MS 500
#define COMMAND_MS 1000
#define RETRY_MS 250
#define UPDATE_TRIES 32
#define PREFIX "sekisho:"
/* Redis refuses a PXAT past its own range (a ban_time of 10^11 days gets there): such a key is written
 * without one, and the value's own expiry, which decode checks, still ends it. Year 10000. */
#define MAX_PXAT 253402300800000ULL

struct rconn {
	struct rconn *next;
	redisContext *c;
};

struct redis_store {
	struct sk_store base;
	char host[256];
	int port;
	int db;
	char password[256];
	pthread_mutex_t mu;
	struct rconn *idle;
	bool down;               /* under mu: the last attempt failed */
	uint64_t last_failure;   /* under mu: ms, monotonic */
};

static uint64_t rd64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static void wr64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++, v >>= 8)
		p[i] = (uint8_t)v;
}

static void set_state(struct redis_store *r, bool down, const char *why)
{
	pthread_mutex_lock(&r->mu);
	bool was = r->down;
	r->down = down;
	if (down)
		r->last_failure = sk_now_ms();
	pthread_mutex_unlock(&r->mu);
	if (down && !was)
		sk_error("state store: redis %s:%d unreachable (%s): authentication fails closed with 503 until it "
			 "is back", r->host, r->port, why);
	else if (!down && was)
		sk_info("state store: redis %s:%d reachable again", r->host, r->port);
}

static bool ok_reply(redisReply *rep)
{
	return rep && rep->type != REDIS_REPLY_ERROR;
}

static struct rconn *conn_get(struct redis_store *r)
{
	pthread_mutex_lock(&r->mu);
	struct rconn *rc = r->idle;
	if (rc) {
		r->idle = rc->next;
		pthread_mutex_unlock(&r->mu);
		return rc;
	}
	bool backoff = r->down && sk_now_ms() - r->last_failure < RETRY_MS;
	pthread_mutex_unlock(&r->mu);
	if (backoff)
		return NULL;
	struct timeval ct = { .tv_sec = 0, .tv_usec = CONNECT_MS * 1000 };
	redisContext *c = redisConnectWithTimeout(r->host, r->port, ct);
	if (!c || c->err) {
		set_state(r, true, c ? c->errstr : "out of memory");
		if (c)
			redisFree(c);
		return NULL;
	}
	struct timeval cmd = { .tv_sec = COMMAND_MS / 1000, .tv_usec = (COMMAND_MS % 1000) * 1000 };
	redisSetTimeout(c, cmd);
	redisReply *rep = NULL;
	if (r->password[0]) {
		rep = redisCommand(c, "AUTH %s", r->password);
		bool ok = ok_reply(rep);
		if (rep)
			freeReplyObject(rep);
		if (!ok) {
			set_state(r, true, "AUTH refused");
			redisFree(c);
			return NULL;
		}
	}
	if (r->db) {
		rep = redisCommand(c, "SELECT %d", r->db);
		bool ok = ok_reply(rep);
		if (rep)
			freeReplyObject(rep);
		if (!ok) {
			set_state(r, true, "SELECT refused");
			redisFree(c);
			return NULL;
		}
	}
	set_state(r, false, NULL);
	rc = sk_calloc(1, sizeof(*rc));
	rc->c = c;
	return rc;
}

/* Returns the connection to the pool, or drops it after an I/O or protocol error. */
static void conn_put(struct redis_store *r, struct rconn *rc, bool broken)
{
	if (broken || rc->c->err) {
		set_state(r, true, rc->c->err ? rc->c->errstr : "protocol error");
		redisFree(rc->c);
		free(rc);
		return;
	}
	pthread_mutex_lock(&r->mu);
	rc->next = r->idle;
	r->idle = rc;
	bool was_down = r->down;
	r->down = false;
	pthread_mutex_unlock(&r->mu);
	/* A pooled connection can outlive an outage (a Redis that hung, then answered again). */
	if (was_down)
		sk_info("state store: redis %s:%d reachable again", r->host, r->port);
}

static void full_key(char *out, const char *key)
{
	snprintf(out, SK_STORE_MAX_KEY + sizeof(PREFIX), PREFIX "%s", key);
}

/* Decodes a GET reply: 1 live value, 0 absent or expired, -1 error. */
static int decode(struct redis_store *r, redisReply *rep, uint8_t *out, size_t *len, uint64_t *expires)
{
	if (!rep || rep->type == REDIS_REPLY_ERROR)
		return -1;
	if (rep->type == REDIS_REPLY_NIL)
		return 0;
	if (rep->type != REDIS_REPLY_STRING || rep->len < 8 || (size_t)rep->len - 8 > SK_STORE_MAX_VALUE)
		return 0; /* not ours: treat as absent */
	uint64_t e = rd64((uint8_t *)rep->str);
	if (e && e <= r->base.now_ms())
		return 0;
	*len = (size_t)rep->len - 8;
	if (out)
		memcpy(out, rep->str + 8, *len);
	if (expires)
		*expires = e;
	return 1;
}

static enum sk_store_rc r_get(struct sk_store *st, const char *key, uint8_t *out, size_t *len, uint64_t *expires)
{
	struct redis_store *r = (struct redis_store *)st;
	struct rconn *rc = conn_get(r);
	if (!rc)
		return SK_ST_DOWN;
	char k[SK_STORE_MAX_KEY + sizeof(PREFIX)];
	full_key(k, key);
	redisReply *rep = redisCommand(rc->c, "GET %s", k);
	int d = decode(r, rep, out, len, expires);
	if (rep)
		freeReplyObject(rep);
	conn_put(r, rc, d == -1);
	return d == -1 ? SK_ST_DOWN : d == 1 ? SK_ST_OK : SK_ST_ABSENT;
}

static redisReply *simple(struct rconn *rc, const char *cmd, const char *k)
{
	return redisCommand(rc->c, "%s %s", cmd, k);
}

static enum sk_store_rc r_update(struct sk_store *st, const char *key, sk_store_update_fn fn, void *arg)
{
	struct redis_store *r = (struct redis_store *)st;
	struct rconn *rc = conn_get(r);
	if (!rc)
		return SK_ST_DOWN;
	char k[SK_STORE_MAX_KEY + sizeof(PREFIX)];
	full_key(k, key);
	uint8_t cur[SK_STORE_MAX_VALUE], buf[8 + SK_STORE_MAX_VALUE];
	for (int attempt = 0; attempt < UPDATE_TRIES; attempt++) {
		redisReply *rep = simple(rc, "WATCH", k);
		bool ok = ok_reply(rep);
		if (rep)
			freeReplyObject(rep);
		if (!ok)
			goto broken;
		rep = simple(rc, "GET", k);
		size_t len = 0;
		uint64_t expires = 0;
		int d = decode(r, rep, cur, &len, &expires);
		if (rep)
			freeReplyObject(rep);
		if (d == -1)
			goto broken;
		long n = fn(arg, d == 1 ? cur : NULL, len, buf + 8, &expires);
		if (n == -2 || (n == -1 && d == 0)) {
			rep = redisCommand(rc->c, "UNWATCH");
			ok = ok_reply(rep);
			if (rep)
				freeReplyObject(rep);
			if (!ok)
				goto broken;
			conn_put(r, rc, false);
			return SK_ST_OK;
		}
		redisAppendCommand(rc->c, "MULTI");
		if (n == -1) {
			redisAppendCommand(rc->c, "DEL %s", k);
		} else {
			SK_ASSERT((size_t)n <= SK_STORE_MAX_VALUE);
			wr64(buf, expires);
			if (expires && expires < MAX_PXAT)
				redisAppendCommand(rc->c, "SET %s %b PXAT %llu", k, buf, (size_t)n + 8,
						   (unsigned long long)expires);
			else
				redisAppendCommand(rc->c, "SET %s %b", k, buf, (size_t)n + 8);
		}
		redisAppendCommand(rc->c, "EXEC");
		redisReply *reps[3] = { 0 };
		ok = true;
		for (int i = 0; i < 3; i++) {
			if (redisGetReply(rc->c, (void **)&reps[i]) != REDIS_OK) {
				ok = false;
				break;
			}
		}
		bool committed = ok && reps[2] && reps[2]->type == REDIS_REPLY_ARRAY;
		bool raced = ok && reps[2] && reps[2]->type == REDIS_REPLY_NIL;
		/* EXEC answers an array even when the command inside failed (an error is then its element). */
		bool refused = committed && (reps[2]->elements != 1 || reps[2]->element[0]->type == REDIS_REPLY_ERROR);
		if (refused)
			sk_error("state store: redis refused the update of %s: %s", key,
				 reps[2]->elements == 1 ? reps[2]->element[0]->str : "unexpected reply");
		for (int i = 0; i < 3; i++)
			if (reps[i])
				freeReplyObject(reps[i]);
		if (refused) {
			conn_put(r, rc, false);
			return SK_ST_DOWN;
		}
		if (committed) {
			conn_put(r, rc, false);
			return SK_ST_OK;
		}
		if (!raced)
			goto broken;
	}
	sk_warn("state store: redis update of %s kept racing; giving up", key);
	conn_put(r, rc, false);
	return SK_ST_DOWN;
broken:
	conn_put(r, rc, true);
	return SK_ST_DOWN;
}

static enum sk_store_rc r_del(struct sk_store *st, const char *key)
{
	struct redis_store *r = (struct redis_store *)st;
	struct rconn *rc = conn_get(r);
	if (!rc)
		return SK_ST_DOWN;
	char k[SK_STORE_MAX_KEY + sizeof(PREFIX)];
	full_key(k, key);
	/* DEL cannot tell an expired-but-not-yet-dropped value from a live one: read it first. */
	uint8_t tmp[SK_STORE_MAX_VALUE];
	size_t len;
	redisReply *rep = simple(rc, "GET", k);
	int d = decode(r, rep, tmp, &len, NULL);
	if (rep)
		freeReplyObject(rep);
	if (d == -1)
		goto broken;
	rep = simple(rc, "DEL", k);
	if (!ok_reply(rep)) {
		if (rep)
			freeReplyObject(rep);
		goto broken;
	}
	freeReplyObject(rep);
	conn_put(r, rc, false);
	return d == 1 ? SK_ST_OK : SK_ST_ABSENT;
broken:
	conn_put(r, rc, true);
	return SK_ST_DOWN;
}

static enum sk_store_rc r_scan(struct sk_store *st, const char *prefix, sk_store_scan_fn fn, void *arg)
{
	struct redis_store *r = (struct redis_store *)st;
	struct rconn *rc = conn_get(r);
	if (!rc)
		return SK_ST_DOWN;
	char pattern[2 * SK_STORE_MAX_KEY + sizeof(PREFIX) + 2];
	size_t n = 0;
	for (const char *p = PREFIX; *p; p++)
		pattern[n++] = *p;
	for (const char *p = prefix; *p && n < sizeof(pattern) - 3; p++) {
		if (strchr("*?[]\\", *p))
			pattern[n++] = '\\';
		pattern[n++] = *p;
	}
	pattern[n++] = '*';
	pattern[n] = '\0';
	char cursor[32] = "0";
	bool stop = false;
	do {
		redisReply *rep = redisCommand(rc->c, "SCAN %s MATCH %s COUNT 500", cursor, pattern);
		if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
		    rep->element[0]->type != REDIS_REPLY_STRING || rep->element[1]->type != REDIS_REPLY_ARRAY) {
			if (rep)
				freeReplyObject(rep);
			goto broken;
		}
		snprintf(cursor, sizeof(cursor), "%s", rep->element[0]->str);
		redisReply *keys = rep->element[1];
		for (size_t i = 0; i < keys->elements && !stop; i++) {
			redisReply *kr = keys->element[i];
			if (kr->type != REDIS_REPLY_STRING || kr->len <= (int)strlen(PREFIX) ||
			    (size_t)kr->len - strlen(PREFIX) > SK_STORE_MAX_KEY)
				continue;
			redisReply *vr = redisCommand(rc->c, "GET %b", kr->str, (size_t)kr->len);
			uint8_t val[SK_STORE_MAX_VALUE];
			size_t len = 0;
			uint64_t expires = 0;
			int d = decode(r, vr, val, &len, &expires);
			if (vr)
				freeReplyObject(vr);
			if (d == -1) {
				freeReplyObject(rep);
				goto broken;
			}
			if (d == 1 && fn(arg, kr->str + strlen(PREFIX), val, len, expires) != 0)
				stop = true;
		}
		freeReplyObject(rep);
	} while (!stop && strcmp(cursor, "0") != 0);
	conn_put(r, rc, false);
	return SK_ST_OK;
broken:
	conn_put(r, rc, true);
	return SK_ST_DOWN;
}

/* Every record with an expiry was written with PXAT: Redis deletes it by itself, nothing to sweep here. */
static enum sk_store_rc r_sweep(struct sk_store *st, uint64_t *removed)
{
	(void)st;
	if (removed)
		*removed = 0;
	return SK_ST_OK;
}

static void r_close(struct sk_store *st)
{
	struct redis_store *r = (struct redis_store *)st;
	while (r->idle) {
		struct rconn *rc = r->idle;
		r->idle = rc->next;
		redisFree(rc->c);
		free(rc);
	}
	explicit_bzero(r->password, sizeof(r->password));
	pthread_mutex_destroy(&r->mu);
	free(r);
}

static const struct sk_store_ops redis_ops = {
	.name = "redis",
	.get = r_get,
	.update = r_update,
	.del = r_del,
	.scan = r_scan,
	.sweep = r_sweep,
	.close = r_close,
};

/* redis://[:password@]host[:port][/db] */
static int parse_url(struct redis_store *r, const char *url)
{
	const char *p = url;
	if (strncmp(p, "redis://", 8) != 0)
		return -1;
	p += 8;
	const char *at = strrchr(p, '@');
	if (at) {
		const char *colon = memchr(p, ':', (size_t)(at - p));
		const char *pw = colon ? colon + 1 : p;
		size_t n = (size_t)(at - pw);
		if (n >= sizeof(r->password))
			return -1;
		memcpy(r->password, pw, n);
		r->password[n] = '\0';
		p = at + 1;
	}
	size_t hl;
	if (*p == '[') {
		const char *e = strchr(p, ']');
		if (!e)
			return -1;
		hl = (size_t)(e - p - 1);
		if (hl == 0 || hl >= sizeof(r->host))
			return -1;
		memcpy(r->host, p + 1, hl);
		p = e + 1;
	} else {
		hl = strcspn(p, ":/");
		if (hl == 0 || hl >= sizeof(r->host))
			return -1;
		memcpy(r->host, p, hl);
		p += hl;
	}
	r->host[hl] = '\0';
	r->port = 6379;
	if (*p == ':') {
		char *end;
		long port = strtol(p + 1, &end, 10);
		if (end == p + 1 || port < 1 || port > 65535)
			return -1;
		r->port = (int)port;
		p = end;
	}
	if (*p == '/' && p[1]) {
		char *end;
		long db = strtol(p + 1, &end, 10);
		if (end == p + 1 || *end || db < 0 || db > 15)
			return -1;
		r->db = (int)db;
		p = end;
	} else if (*p == '/') {
		p++;
	}
	return *p == '\0' ? 0 : -1;
}

struct sk_store *sk_store_open_redis(const char *url, struct sk_err *err)
{
	struct redis_store *r = sk_calloc(1, sizeof(*r));
	if (parse_url(r, url) == -1) {
		free(r);
		/* The URL may hold a password: it is not repeated. */
		sk_err_set(err, NULL, 0, 0, "state.redis: expected redis://[:password@]host[:port][/db]");
		return NULL;
	}
	r->base.ops = &redis_ops;
	r->base.now_ms = sk_store_wall_ms;
	pthread_mutex_init(&r->mu, NULL);
	return &r->base;
}
