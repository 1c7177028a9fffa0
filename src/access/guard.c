/*
 * guard.c — the brute-force records on top of the state store (see guard.h). Each change is one
 * sk_store_update, so it is atomic in every store (one LMDB write transaction; WATCH/MULTI in Redis).
 */
#include "access/guard.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int key_of(char *out, size_t cap, const char *kind, const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > SK_GUARD_MAX_USER)
		return -1;
	snprintf(out, cap, "%s:%s", kind, name);
	return 0;
}

/* ---- tallies ---- */

static bool tally_parse(const uint8_t *val, size_t len, struct sk_tally *t)
{
	char buf[SK_STORE_MAX_VALUE + 1];
	memcpy(buf, val, len);
	buf[len] = '\0';
	memset(t, 0, sizeof(*t));
	unsigned long long latest;
	int n = sscanf(buf, "%" SCNu32 " %llu %47s", &t->failures, &latest, t->from);
	t->latest = latest;
	return n >= 2;
}

enum sk_store_rc sk_tally_get(struct sk_store *st, const char *user, struct sk_tally *t)
{
	char key[SK_STORE_MAX_KEY];
	memset(t, 0, sizeof(*t));
	if (key_of(key, sizeof(key), "tally", user) == -1)
		return SK_ST_ABSENT;
	uint8_t val[SK_STORE_MAX_VALUE];
	size_t len;
	enum sk_store_rc rc = sk_store_get(st, key, val, &len, NULL);
	if (rc == SK_ST_OK && !tally_parse(val, len, t))
		return SK_ST_ABSENT;
	return rc;
}

struct tally_fail_arg {
	uint64_t now;
	const char *from;
	struct sk_tally out;
};

static long tally_fail_fn(void *arg, const uint8_t *val, size_t len, uint8_t *out, uint64_t *expires)
{
	struct tally_fail_arg *a = arg;
	struct sk_tally t = { 0 };
	if (val)
		tally_parse(val, len, &t);
	if (t.failures < UINT32_MAX)
		t.failures++;
	t.latest = a->now;
	snprintf(t.from, sizeof(t.from), "%s", a->from && *a->from ? a->from : "-");
	a->out = t;
	*expires = 0;
	return snprintf((char *)out, SK_STORE_MAX_VALUE, "%" PRIu32 " %" PRIu64 " %s", t.failures, t.latest, t.from);
}

enum sk_store_rc sk_tally_fail(struct sk_store *st, const char *user, uint64_t now, const char *from,
			       struct sk_tally *t)
{
	char key[SK_STORE_MAX_KEY];
	if (key_of(key, sizeof(key), "tally", user) == -1)
		return SK_ST_ABSENT;
	struct tally_fail_arg a = { .now = now, .from = from };
	enum sk_store_rc rc = sk_store_update(st, key, tally_fail_fn, &a);
	if (t)
		*t = a.out;
	return rc;
}

static long tally_reset_fn(void *arg, const uint8_t *val, size_t len, uint8_t *out, uint64_t *expires)
{
	struct sk_tally t = { 0 };
	if (val)
		tally_parse(val, len, &t);
	*(uint32_t *)arg = t.failures;
	return val ? -1 : -2;
}

enum sk_store_rc sk_tally_reset(struct sk_store *st, const char *user, uint32_t *cleared)
{
	char key[SK_STORE_MAX_KEY];
	uint32_t n = 0;
	enum sk_store_rc rc = SK_ST_OK;
	if (key_of(key, sizeof(key), "tally", user) == 0)
		rc = sk_store_update(st, key, tally_reset_fn, &n);
	if (cleared)
		*cleared = n;
	return rc;
}

bool sk_tally_locked(const struct sk_tally *t, unsigned deny, uint64_t unlock_ms, uint64_t now)
{
	if (deny == 0 || t->failures < deny)
		return false;
	return unlock_ms == 0 || now < t->latest + unlock_ms;
}

struct tally_list_arg {
	sk_tally_fn fn;
	void *arg;
};

static int tally_scan(void *arg, const char *key, const uint8_t *val, size_t len, uint64_t expires)
{
	struct tally_list_arg *a = arg;
	struct sk_tally t;
	if (!tally_parse(val, len, &t))
		return 0;
	return a->fn(a->arg, key + strlen("tally:"), &t);
}

enum sk_store_rc sk_tally_list(struct sk_store *st, sk_tally_fn fn, void *arg)
{
	struct tally_list_arg a = { .fn = fn, .arg = arg };
	return sk_store_scan(st, "tally:", tally_scan, &a);
}

/* ---- failure windows and bans ---- */

struct ban_fail_arg {
	uint64_t now, find_ms, ban_ms;
	unsigned max_retry;
	bool banned;
};

static size_t parse_times(const uint8_t *val, size_t len, uint64_t *times, size_t cap)
{
	char buf[SK_STORE_MAX_VALUE + 1];
	memcpy(buf, val, len);
	buf[len] = '\0';
	size_t n = 0;
	char *p = buf, *end;
	while (n < cap) {
		unsigned long long v = strtoull(p, &end, 10);
		if (end == p)
			break;
		times[n++] = v;
		p = end;
	}
	return n;
}

static long ban_fail_fn(void *arg, const uint8_t *val, size_t len, uint8_t *out, uint64_t *expires)
{
	struct ban_fail_arg *a = arg;
	uint64_t times[SK_GUARD_MAX_RETRY + 1];
	size_t n = val ? parse_times(val, len, times, SK_GUARD_MAX_RETRY) : 0;
	/* Keep the failures still inside the window, then add this one; only the latest max_retry matter. */
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (times[i] + a->find_ms > a->now)
			times[k++] = times[i];
	times[k++] = a->now;
	size_t first = k > a->max_retry ? k - a->max_retry : 0;
	a->banned = k - first >= a->max_retry;
	if (a->banned)
		return -1; /* the ban record takes over; a new window starts after it */
	size_t o = 0;
	for (size_t i = first; i < k; i++)
		o += (size_t)snprintf((char *)out + o, SK_STORE_MAX_VALUE - o, i == first ? "%" PRIu64 : " %" PRIu64,
				      times[i]);
	*expires = a->now + a->find_ms;
	return (long)o;
}

enum sk_store_rc sk_ban_fail(struct sk_store *st, const char *ip, uint64_t now, unsigned max_retry, uint64_t find_ms,
			     uint64_t ban_ms, uint64_t *banned_until, bool *banned)
{
	SK_ASSERT(max_retry >= 1 && max_retry <= SK_GUARD_MAX_RETRY);
	char key[SK_STORE_MAX_KEY];
	*banned = false;
	*banned_until = 0;
	if (key_of(key, sizeof(key), "fails", ip) == -1)
		return SK_ST_ABSENT;
	struct ban_fail_arg a = { .now = now, .find_ms = find_ms, .ban_ms = ban_ms, .max_retry = max_retry };
	enum sk_store_rc rc = sk_store_update(st, key, ban_fail_fn, &a);
	if (rc != SK_ST_OK || !a.banned)
		return rc;
	*banned = true;
	*banned_until = ban_ms ? now + ban_ms : 0;
	return sk_ban_add(st, ip, *banned_until);
}

enum sk_store_rc sk_ban_add(struct sk_store *st, const char *ip, uint64_t until)
{
	char key[SK_STORE_MAX_KEY], val[32];
	if (key_of(key, sizeof(key), "ban", ip) == -1)
		return SK_ST_ABSENT;
	int n = snprintf(val, sizeof(val), "%" PRIu64, until);
	return sk_store_put(st, key, val, (size_t)n, until);
}

enum sk_store_rc sk_ban_remove(struct sk_store *st, const char *ip)
{
	char key[SK_STORE_MAX_KEY];
	if (key_of(key, sizeof(key), "fails", ip) == -1)
		return SK_ST_ABSENT;
	if (sk_store_del(st, key) == SK_ST_DOWN)
		return SK_ST_DOWN;
	key_of(key, sizeof(key), "ban", ip);
	return sk_store_del(st, key);
}

struct ban_list_arg {
	sk_ban_fn fn;
	void *arg;
};

static int ban_scan(void *arg, const char *key, const uint8_t *val, size_t len, uint64_t expires)
{
	struct ban_list_arg *a = arg;
	return a->fn(a->arg, key + strlen("ban:"), expires);
}

enum sk_store_rc sk_ban_list(struct sk_store *st, sk_ban_fn fn, void *arg)
{
	struct ban_list_arg a = { .fn = fn, .arg = arg };
	return sk_store_scan(st, "ban:", ban_scan, &a);
}

/* ---- TOTP replay marks ---- */

struct mark_arg {
	int64_t step;
	uint64_t expires;
	bool fresh;
};

static long mark_fn(void *arg, const uint8_t *val, size_t len, uint8_t *out, uint64_t *expires)
{
	struct mark_arg *a = arg;
	if (val) {
		char buf[32];
		size_t n = SK_MIN(len, sizeof(buf) - 1);
		memcpy(buf, val, n);
		buf[n] = '\0';
		long long last = strtoll(buf, NULL, 10);
		if (a->step <= last) {
			a->fresh = false;
			return -2;
		}
	}
	a->fresh = true;
	*expires = a->expires;
	return snprintf((char *)out, SK_STORE_MAX_VALUE, "%" PRId64, a->step);
}

enum sk_store_rc sk_totp_mark(struct sk_store *st, const char *user, int64_t step, uint64_t now, uint64_t keep_ms,
			      bool *fresh)
{
	char key[SK_STORE_MAX_KEY];
	*fresh = false;
	if (key_of(key, sizeof(key), "totp", user) == -1)
		return SK_ST_ABSENT;
	struct mark_arg a = { .step = step, .expires = now + keep_ms };
	enum sk_store_rc rc = sk_store_update(st, key, mark_fn, &a);
	*fresh = rc == SK_ST_OK && a.fresh;
	return rc;
}

/* ---- sessions ---- */

static int session_key(char *out, size_t cap, const char *id)
{
	size_t n = strlen(id);
	if (n != 64 || strspn(id, "0123456789abcdef") != n)
		return -1;
	snprintf(out, cap, "sess:%s", id);
	return 0;
}

enum sk_store_rc sk_session_put(struct sk_store *st, const char *id, const struct sk_session *s, uint64_t absolute_ms)
{
	char key[SK_STORE_MAX_KEY], val[SK_STORE_MAX_VALUE];
	if (session_key(key, sizeof(key), id) == -1)
		return SK_ST_ABSENT;
	int n = snprintf(val, sizeof(val), "%u %" PRIu64 " %" PRIu64 " %s", s->level, s->created, s->last, s->user);
	return sk_store_put(st, key, val, (size_t)n, s->created + absolute_ms);
}

enum sk_store_rc sk_session_get(struct sk_store *st, const char *id, uint64_t now, uint64_t idle_ms,
				uint64_t absolute_ms, struct sk_session *s)
{
	char key[SK_STORE_MAX_KEY];
	memset(s, 0, sizeof(*s));
	if (session_key(key, sizeof(key), id) == -1)
		return SK_ST_ABSENT;
	uint8_t val[SK_STORE_MAX_VALUE + 1];
	size_t len;
	enum sk_store_rc rc = sk_store_get(st, key, val, &len, NULL);
	if (rc != SK_ST_OK)
		return rc;
	val[len] = '\0';
	unsigned level;
	unsigned long long created, last;
	if (sscanf((char *)val, "%u %llu %llu %128s", &level, &created, &last, s->user) != 4)
		return SK_ST_ABSENT;
	s->level = (uint8_t)level;
	s->created = created;
	s->last = last;
	if (now >= s->created + absolute_ms || now >= s->last + idle_ms)
		return SK_ST_ABSENT;
	return SK_ST_OK;
}

enum sk_store_rc sk_session_del(struct sk_store *st, const char *id)
{
	char key[SK_STORE_MAX_KEY];
	if (session_key(key, sizeof(key), id) == -1)
		return SK_ST_ABSENT;
	return sk_store_del(st, key);
}
