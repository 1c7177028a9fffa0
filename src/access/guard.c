/*
 * guard.c — the brute-force records on top of the state store (see guard.h). Each change is one
 * sk_store_update, so it is atomic in every store (one LMDB write transaction; WATCH/MULTI in Redis).
 *
 * Invariants: every encoder writes through struct enc, which never passes SK_STORE_MAX_VALUE and says when
 * a record would not fit (the record is then left as it was, never truncated into something else); and
 * every decoder reads (val, len) in place, as bytes that may be hostile (a shared Redis, a damaged file):
 * anything that is not exactly the format below reads as absent. The failure window's worst case is
 * bounded by its format, whatever max_retry and find_time say (see WINDOW_WORST).
 */
#include "access/guard.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int key_of(char *out, size_t cap, const char *kind, const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > SK_GUARD_MAX_USER || strlen(kind) + 1 + n >= cap)
		return -1;
	snprintf(out, cap, "%s:%s", kind, name);
	return 0;
}

static uint64_t sat_add(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* ---- encoding and decoding ---- */

struct enc {
	char *p;
	size_t n, cap;
	bool over; /* something did not fit: the record must not be written */
};

static void enc_put(struct enc *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void enc_put(struct enc *e, const char *fmt, ...)
{
	if (e->over)
		return;
	va_list ap;
	va_start(ap, fmt);
	int k = vsnprintf(e->p + e->n, e->cap - e->n, fmt, ap);
	va_end(ap);
	/* vsnprintf's return is what it wanted to write, not what it wrote: never a length as such. */
	if (k < 0 || (size_t)k >= e->cap - e->n)
		e->over = true;
	else
		e->n += (size_t)k;
}

/* The update callback's return for an encoded record: its length, or -2 (leave the record as it was). */
static long enc_done(const struct enc *e)
{
	return e->over ? -2 : (long)e->n;
}

struct dec {
	const uint8_t *p, *end;
};

/* One unsigned decimal of at most 20 digits, no sign; false on anything else or overflow. */
static bool dec_u64(struct dec *d, uint64_t *out)
{
	uint64_t v = 0;
	const uint8_t *start = d->p;
	while (d->p < d->end && *d->p >= '0' && *d->p <= '9') {
		unsigned digit = (unsigned)(*d->p - '0');
		if (v > (UINT64_MAX - digit) / 10)
			return false;
		v = v * 10 + digit;
		d->p++;
	}
	*out = v;
	return d->p > start;
}

/* Exactly one space, then more to come. */
static bool dec_space(struct dec *d)
{
	if (d->p >= d->end || *d->p != ' ')
		return false;
	d->p++;
	return d->p < d->end;
}

static bool dec_end(const struct dec *d)
{
	return d->p == d->end;
}

/* The rest of the value as text of 1..cap-1 printable bytes (spaces allowed), NUL-terminated into out. */
static bool dec_rest(struct dec *d, char *out, size_t cap)
{
	size_t n = (size_t)(d->end - d->p);
	if (n == 0 || n >= cap)
		return false;
	for (size_t i = 0; i < n; i++)
		if (d->p[i] < 0x20 || d->p[i] == 0x7f)
			return false;
	memcpy(out, d->p, n);
	out[n] = '\0';
	d->p = d->end;
	return true;
}

/* ---- tallies ---- */

static bool tally_parse(const uint8_t *val, size_t len, struct sk_tally *t)
{
	struct dec d = { val, val + len };
	uint64_t failures, latest;
	memset(t, 0, sizeof(*t));
	bool ok = dec_u64(&d, &failures) && failures <= UINT32_MAX && dec_space(&d) && dec_u64(&d, &latest) &&
		  (dec_end(&d) || (dec_space(&d) && dec_rest(&d, t->from, sizeof(t->from)) && !strchr(t->from, ' ')));
	if (!ok) {
		memset(t, 0, sizeof(*t));
		return false;
	}
	t->failures = (uint32_t)failures;
	t->latest = latest;
	return true;
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
	/* The address is ours (inet_ntop), but a word without spaces is what the decoder takes back. */
	const char *from = a->from && *a->from && !strchr(a->from, ' ') ? a->from : "-";
	snprintf(t.from, sizeof(t.from), "%s", from);
	a->out = t;
	*expires = 0;
	struct enc e = { .p = (char *)out, .cap = SK_STORE_MAX_VALUE };
	enc_put(&e, "%" PRIu32 " %" PRIu64 " %s", t.failures, t.latest, t.from);
	return enc_done(&e);
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
	return unlock_ms == 0 || now < sat_add(t->latest, unlock_ms);
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

/* ---- failure windows and bans ----
 *
 * fail2ban bans an address once max_retry failures fall within any find_time: a sliding window. A count
 * and a window start would approximate it (max_retry - 1 failures at the end of one window and as many at
 * the start of the next would pass unbanned), so the window keeps the times themselves, bounded:
 *
 *   "w <unit> <t0> <d> <d> ..."   t0: the oldest failure still in the window (ms since the epoch);
 *                                 each later failure as (t - t0) / unit, in order
 *
 * At most max_retry - 1 <= 99 failures are ever kept (the max_retry-th is the ban, which clears the
 * window), each is within find_time of the latest, and unit is the smallest power of ten that keeps
 * find_time / unit below 10^8, so a delta has at most 8 digits. Times are exact to the millisecond for any
 * find_time below 27 hours; above, a failure may leave the window up to unit ms early (10 ms up to 11 days).
 */

#define WINDOW_DELTA_LIMIT 100000000ULL /* deltas < 10^8: at most 8 digits */
/* "w " + unit (at most 10^12: 13 digits) + " " + t0 (20 digits) + 98 × (" " + 8 digits) */
#define WINDOW_WORST (2 + 13 + 1 + 20 + (SK_GUARD_MAX_RETRY - 2) * 9)
_Static_assert(WINDOW_WORST <= SK_STORE_MAX_VALUE, "a full failure window must fit in a store value");

static uint64_t window_unit(uint64_t find_ms)
{
	uint64_t unit = 1;
	while (find_ms / unit >= WINDOW_DELTA_LIMIT)
		unit *= 10;
	return unit;
}

/* Decodes a window into times (at most cap of them); returns how many, 0 when it is not a window. */
static size_t window_parse(const uint8_t *val, size_t len, uint64_t *times, size_t cap)
{
	struct dec d = { val, val + len };
	uint64_t unit, t0;
	if (len < 2 || val[0] != 'w' || val[1] != ' ')
		return 0;
	d.p += 2;
	if (!dec_u64(&d, &unit) || unit == 0 || !dec_space(&d) || !dec_u64(&d, &t0))
		return 0;
	size_t n = 0;
	times[n++] = t0;
	while (!dec_end(&d)) {
		uint64_t delta;
		if (n == cap || !dec_space(&d) || !dec_u64(&d, &delta) || delta >= WINDOW_DELTA_LIMIT ||
		    (delta && unit > UINT64_MAX / delta))
			return 0;
		times[n++] = sat_add(t0, delta * unit);
	}
	return n;
}

struct ban_fail_arg {
	uint64_t now, find_ms, ban_ms;
	unsigned max_retry;
	bool banned;
};

static long ban_fail_fn(void *arg, const uint8_t *val, size_t len, uint8_t *out, uint64_t *expires)
{
	struct ban_fail_arg *a = arg;
	uint64_t times[SK_GUARD_MAX_RETRY + 1];
	size_t n = val ? window_parse(val, len, times, SK_GUARD_MAX_RETRY) : 0;
	/* Keep the failures still inside the window, then add this one; only the latest max_retry matter. A
	 * time ahead of now (the wall clock stepped back) counts as now: it stays a failure, and in bounds. */
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		uint64_t t = SK_MIN(times[i], a->now);
		if (a->now - t < a->find_ms)
			times[k++] = t;
	}
	times[k++] = a->now;
	size_t first = k > a->max_retry ? k - a->max_retry : 0;
	a->banned = k - first >= a->max_retry;
	if (a->banned)
		return -1; /* the ban record takes over; a new window starts after it */
	uint64_t t0 = times[first], unit = window_unit(a->find_ms);
	for (size_t i = first; i < k; i++)
		t0 = SK_MIN(t0, times[i]);
	struct enc e = { .p = (char *)out, .cap = SK_STORE_MAX_VALUE };
	enc_put(&e, "w %" PRIu64 " %" PRIu64, unit, t0);
	for (size_t i = first + 1; i < k; i++)
		enc_put(&e, " %" PRIu64, (times[i] - t0) / unit);
	*expires = sat_add(a->now, a->find_ms);
	return enc_done(&e);
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
	*banned_until = ban_ms ? sat_add(now, ban_ms) : 0;
	return sk_ban_add(st, ip, *banned_until);
}

enum sk_store_rc sk_ban_add(struct sk_store *st, const char *ip, uint64_t until)
{
	char key[SK_STORE_MAX_KEY], val[32];
	if (key_of(key, sizeof(key), "ban", ip) == -1)
		return SK_ST_ABSENT;
	struct enc e = { .p = val, .cap = sizeof(val) };
	enc_put(&e, "%" PRIu64, until);
	SK_ASSERT(!e.over); /* 20 digits at most */
	return sk_store_put(st, key, val, e.n, until);
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
	struct dec d = { val, val + len };
	uint64_t last;
	/* Steps are Unix time / 30: never negative. A mark that does not read is overwritten. */
	if (val && dec_u64(&d, &last) && dec_end(&d) && last <= INT64_MAX && a->step <= (int64_t)last) {
		a->fresh = false;
		return -2;
	}
	a->fresh = true;
	*expires = a->expires;
	struct enc e = { .p = (char *)out, .cap = SK_STORE_MAX_VALUE };
	enc_put(&e, "%" PRId64, a->step);
	return enc_done(&e);
}

enum sk_store_rc sk_totp_mark(struct sk_store *st, const char *user, int64_t step, uint64_t now, uint64_t keep_ms,
			      bool *fresh)
{
	char key[SK_STORE_MAX_KEY];
	*fresh = false;
	if (key_of(key, sizeof(key), "totp", user) == -1)
		return SK_ST_ABSENT;
	struct mark_arg a = { .step = step, .expires = sat_add(now, keep_ms) };
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

enum sk_store_rc sk_session_put(struct sk_store *st, const char *id, const struct sk_session *s, uint64_t idle_ms,
				uint64_t absolute_ms)
{
	char key[SK_STORE_MAX_KEY], val[SK_STORE_MAX_VALUE];
	if (session_key(key, sizeof(key), id) == -1)
		return SK_ST_ABSENT;
	struct enc e = { .p = val, .cap = sizeof(val) };
	enc_put(&e, "%u %" PRIu64 " %" PRIu64 " %s", s->level, s->created, s->last, s->user);
	if (e.over)
		return SK_ST_ABSENT; /* cannot happen: a user name is at most SK_GUARD_MAX_USER bytes */
	/* The record goes when the session can no longer be used: at its idle limit (moved on by each touch)
	 * or its absolute one, whichever comes first, so an abandoned session costs idle_ms, not absolute_ms. */
	uint64_t expires = SK_MIN(sat_add(s->created, absolute_ms), sat_add(s->last, idle_ms));
	return sk_store_put(st, key, val, e.n, expires);
}

enum sk_store_rc sk_session_get(struct sk_store *st, const char *id, uint64_t now, uint64_t idle_ms,
				uint64_t absolute_ms, struct sk_session *s)
{
	char key[SK_STORE_MAX_KEY];
	memset(s, 0, sizeof(*s));
	if (session_key(key, sizeof(key), id) == -1)
		return SK_ST_ABSENT;
	uint8_t val[SK_STORE_MAX_VALUE];
	size_t len;
	enum sk_store_rc rc = sk_store_get(st, key, val, &len, NULL);
	if (rc != SK_ST_OK)
		return rc;
	struct dec d = { val, val + len };
	uint64_t level, created, last;
	if (!dec_u64(&d, &level) || level > UINT8_MAX || !dec_space(&d) || !dec_u64(&d, &created) ||
	    !dec_space(&d) || !dec_u64(&d, &last) || !dec_space(&d) || !dec_rest(&d, s->user, sizeof(s->user))) {
		memset(s, 0, sizeof(*s));
		return SK_ST_ABSENT;
	}
	s->level = (uint8_t)level;
	s->created = created;
	s->last = last;
	if (now >= sat_add(s->created, absolute_ms) || now >= sat_add(s->last, idle_ms))
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

int sk_ban_canonical_ip(const char *ip, char *out)
{
	uint8_t a[16];
	if (inet_pton(AF_INET, ip, a) == 1)
		return inet_ntop(AF_INET, a, out, 64) ? 0 : -1;
	if (inet_pton(AF_INET6, ip, a) != 1)
		return -1;
	if (sk_ip6_is_v4mapped(a))
		return inet_ntop(AF_INET, a + 12, out, 64) ? 0 : -1;
	return inet_ntop(AF_INET6, a, out, 64) ? 0 : -1;
}
