/*
 * guard_test.c — the brute-force records (src/access/guard.c) over the memory and LMDB stores, with an
 * injected clock: pam_tally2 counting, locking and unlock_time, reset; fail2ban windows (failures that
 * age out of find_time do not count), the ban and its expiry, removal; TOTP replay marks; sessions with
 * idle and absolute expiry; LMDB durability across close and reopen. Then the bounds of issue 9: the
 * failure window at max_retry 100 stays within a store value whatever find_time is, damaged or hostile
 * values (overlong, garbage, huge numbers) read as absent, the sweep deletes what has expired, and the
 * LMDB map honours state.max_size (refused when too small for the file, full then freed by a sweep).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lmdb.h>

#include "access/guard.h"

static uint64_t fake_now = 1700000000000ULL;

static uint64_t clock_fn(void)
{
	return fake_now;
}

static char lmdb_dir[64];

static int open_memory(void **state)
{
	struct sk_store *st = sk_store_open_memory();
	st->now_ms = clock_fn;
	*state = st;
	return 0;
}

static int open_lmdb(void **state)
{
	snprintf(lmdb_dir, sizeof(lmdb_dir), "/tmp/sk-guard-XXXXXX");
	assert_non_null(mkdtemp(lmdb_dir));
	struct sk_err err = { 0 };
	struct sk_store *st = sk_store_open_lmdb(lmdb_dir, 0, &err);
	assert_non_null(st);
	st->now_ms = clock_fn;
	*state = st;
	return 0;
}

static int close_store(void **state)
{
	sk_store_close(*state);
	if (lmdb_dir[0]) {
		char cmd[128];
		snprintf(cmd, sizeof(cmd), "rm -rf %s", lmdb_dir);
		assert_int_equal(system(cmd), 0);
		lmdb_dir[0] = '\0';
	}
	return 0;
}

static void test_tally(void **state)
{
	struct sk_store *st = *state;
	struct sk_tally t;
	assert_int_equal(sk_tally_get(st, "alice", &t), SK_ST_ABSENT);
	assert_int_equal(t.failures, 0);
	uint64_t t0 = fake_now;
	for (unsigned i = 1; i <= 3; i++) {
		assert_int_equal(sk_tally_fail(st, "alice", t0 + i, "192.0.2.7", &t), SK_ST_OK);
		assert_int_equal(t.failures, i);
	}
	assert_int_equal(sk_tally_get(st, "alice", &t), SK_ST_OK);
	assert_int_equal(t.failures, 3);
	assert_int_equal(t.latest, t0 + 3);
	assert_string_equal(t.from, "192.0.2.7");
	/* deny 3, unlock 15 min: locked until 15 min after the latest failure, then open again */
	assert_false(sk_tally_locked(&t, 4, 900000, t0 + 10));
	assert_true(sk_tally_locked(&t, 3, 900000, t0 + 10));
	assert_true(sk_tally_locked(&t, 3, 900000, t0 + 3 + 899999));
	assert_false(sk_tally_locked(&t, 3, 900000, t0 + 3 + 900000));
	/* unlock_time 0: only an operator unlocks */
	assert_true(sk_tally_locked(&t, 3, 0, t0 + 365ULL * 86400000));
	/* another user is untouched */
	assert_int_equal(sk_tally_get(st, "bob", &t), SK_ST_ABSENT);
	uint32_t cleared = 99;
	assert_int_equal(sk_tally_reset(st, "alice", &cleared), SK_ST_OK);
	assert_int_equal(cleared, 3);
	assert_int_equal(sk_tally_get(st, "alice", &t), SK_ST_ABSENT);
	assert_int_equal(sk_tally_reset(st, "alice", &cleared), SK_ST_OK);
	assert_int_equal(cleared, 0);
	/* a name no users file can hold is never recorded */
	char longname[SK_GUARD_MAX_USER + 2];
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(sk_tally_fail(st, longname, t0, "x", NULL), SK_ST_ABSENT);
}

static int count_tallies(void *arg, const char *user, const struct sk_tally *t)
{
	(*(int *)arg)++;
	assert_true(strcmp(user, "u1") == 0 || strcmp(user, "u2") == 0);
	assert_true(t->failures >= 1);
	return 0;
}

static void test_tally_list(void **state)
{
	struct sk_store *st = *state;
	assert_int_equal(sk_tally_fail(st, "u1", fake_now, "::1", NULL), SK_ST_OK);
	assert_int_equal(sk_tally_fail(st, "u2", fake_now, "::1", NULL), SK_ST_OK);
	assert_int_equal(sk_tally_fail(st, "u2", fake_now, "::1", NULL), SK_ST_OK);
	assert_int_equal(sk_ban_add(st, "192.0.2.1", 0), SK_ST_OK); /* not a tally: not listed */
	int n = 0;
	assert_int_equal(sk_tally_list(st, count_tallies, &n), SK_ST_OK);
	assert_int_equal(n, 2);
}

struct ban_seen {
	int n;
	char ip[64];
	uint64_t until;
};

static int collect_bans(void *arg, const char *ip, uint64_t until)
{
	struct ban_seen *s = arg;
	s->n++;
	snprintf(s->ip, sizeof(s->ip), "%s", ip);
	s->until = until;
	return 0;
}

static void test_ban_window(void **state)
{
	struct sk_store *st = *state;
	const uint64_t find = 600000, bantime = 3600000;
	uint64_t t0 = fake_now, until;
	bool banned;
	/* 2 failures, then 11 min pass: they leave the window, so 2 more do not reach max_retry 3 */
	assert_int_equal(sk_ban_fail(st, "198.51.100.9", t0, 3, find, bantime, &until, &banned), SK_ST_OK);
	assert_false(banned);
	assert_int_equal(sk_ban_fail(st, "198.51.100.9", t0 + 1000, 3, find, bantime, &until, &banned), SK_ST_OK);
	assert_false(banned);
	fake_now = t0 + 660000;
	assert_int_equal(sk_ban_fail(st, "198.51.100.9", fake_now, 3, find, bantime, &until, &banned), SK_ST_OK);
	assert_false(banned);
	assert_int_equal(sk_ban_fail(st, "198.51.100.9", fake_now + 1, 3, find, bantime, &until, &banned), SK_ST_OK);
	assert_false(banned);
	struct ban_seen seen = { 0 };
	assert_int_equal(sk_ban_list(st, collect_bans, &seen), SK_ST_OK);
	assert_int_equal(seen.n, 0);
	/* the third inside the window bans for ban_time */
	assert_int_equal(sk_ban_fail(st, "198.51.100.9", fake_now + 2, 3, find, bantime, &until, &banned), SK_ST_OK);
	assert_true(banned);
	assert_int_equal(until, fake_now + 2 + bantime);
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(sk_ban_list(st, collect_bans, &seen), SK_ST_OK);
	assert_int_equal(seen.n, 1);
	assert_string_equal(seen.ip, "198.51.100.9");
	assert_int_equal(seen.until, until);
	/* once ban_time has passed the ban is gone */
	fake_now = until;
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(sk_ban_list(st, collect_bans, &seen), SK_ST_OK);
	assert_int_equal(seen.n, 0);
	/* failures from another address never count toward this one */
	assert_int_equal(sk_ban_fail(st, "2001:db8::1", fake_now, 1, find, 0, &until, &banned), SK_ST_OK);
	assert_true(banned);
	assert_int_equal(until, 0); /* ban_time 0: until removed */
	fake_now += 100ULL * 86400000;
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(sk_ban_list(st, collect_bans, &seen), SK_ST_OK);
	assert_int_equal(seen.n, 1);
	assert_int_equal(sk_ban_remove(st, "2001:db8::1"), SK_ST_OK);
	assert_int_equal(sk_ban_remove(st, "2001:db8::1"), SK_ST_ABSENT);
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(sk_ban_list(st, collect_bans, &seen), SK_ST_OK);
	assert_int_equal(seen.n, 0);
	fake_now = t0;
}

static void test_totp_mark(void **state)
{
	struct sk_store *st = *state;
	bool fresh;
	assert_int_equal(sk_totp_mark(st, "alice", 1000, fake_now, 120000, &fresh), SK_ST_OK);
	assert_true(fresh);
	assert_int_equal(sk_totp_mark(st, "alice", 1000, fake_now, 120000, &fresh), SK_ST_OK);
	assert_false(fresh); /* replay */
	assert_int_equal(sk_totp_mark(st, "alice", 999, fake_now, 120000, &fresh), SK_ST_OK);
	assert_false(fresh); /* an older step after a newer one */
	assert_int_equal(sk_totp_mark(st, "bob", 1000, fake_now, 120000, &fresh), SK_ST_OK);
	assert_true(fresh); /* per user */
	assert_int_equal(sk_totp_mark(st, "alice", 1001, fake_now, 120000, &fresh), SK_ST_OK);
	assert_true(fresh);
}

static const char SID[] = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

static void test_session(void **state)
{
	struct sk_store *st = *state;
	const uint64_t idle = 1800000, absolute = 43200000;
	uint64_t t0 = fake_now;
	struct sk_session s = { .level = SK_SESSION_MFA, .created = t0, .last = t0 }, got;
	strcpy(s.user, "alice");
	assert_int_equal(sk_session_put(st, SID, &s, idle, absolute), SK_ST_OK);
	assert_int_equal(sk_session_get(st, SID, t0 + 1000, idle, absolute, &got), SK_ST_OK);
	assert_string_equal(got.user, "alice");
	assert_int_equal(got.level, SK_SESSION_MFA);
	/* idle expiry */
	assert_int_equal(sk_session_get(st, SID, t0 + idle, idle, absolute, &got), SK_ST_ABSENT);
	/* touched just in time, it lives on, up to the absolute limit */
	s.last = t0 + idle - 1;
	assert_int_equal(sk_session_put(st, SID, &s, idle, absolute), SK_ST_OK);
	assert_int_equal(sk_session_get(st, SID, t0 + idle + 100, idle, absolute, &got), SK_ST_OK);
	s.last = t0 + absolute - 10;
	assert_int_equal(sk_session_put(st, SID, &s, idle, absolute), SK_ST_OK);
	assert_int_equal(sk_session_get(st, SID, t0 + absolute - 5, idle, absolute, &got), SK_ST_OK);
	fake_now = t0 + absolute; /* the store's own expiry */
	assert_int_equal(sk_session_get(st, SID, t0 + absolute, idle, absolute, &got), SK_ST_ABSENT);
	fake_now = t0;
	assert_int_equal(sk_session_put(st, SID, &s, idle, absolute), SK_ST_OK);
	assert_int_equal(sk_session_del(st, SID), SK_ST_OK);
	assert_int_equal(sk_session_get(st, SID, t0, idle, absolute, &got), SK_ST_ABSENT);
	/* ids that are not 64 hex characters never reach the store */
	assert_int_equal(sk_session_get(st, "../etc", t0, idle, absolute, &got), SK_ST_ABSENT);
	assert_int_equal(sk_session_get(st, "00112233445566778899AABBCCDDEEFF00112233445566778899aabbccddeeff", t0, idle,
					absolute, &got),
			 SK_ST_ABSENT);
}

static void test_lmdb_durable(void **state)
{
	struct sk_store *st = *state;
	assert_int_equal(sk_tally_fail(st, "carol", fake_now, "203.0.113.5", NULL), SK_ST_OK);
	assert_int_equal(sk_ban_add(st, "203.0.113.5", fake_now + 60000), SK_ST_OK);
	sk_store_close(st);
	struct sk_err err = { 0 };
	st = sk_store_open_lmdb(lmdb_dir, 0, &err);
	assert_non_null(st);
	st->now_ms = clock_fn;
	*state = st;
	struct sk_tally t;
	assert_int_equal(sk_tally_get(st, "carol", &t), SK_ST_OK);
	assert_int_equal(t.failures, 1);
	struct ban_seen seen = { 0 };
	assert_int_equal(sk_ban_list(st, collect_bans, &seen), SK_ST_OK);
	assert_int_equal(seen.n, 1);
	assert_string_equal(seen.ip, "203.0.113.5");
}

/* Reads a record's raw value (the tests look at the encoding itself). */
static size_t raw_len(struct sk_store *st, const char *key)
{
	uint8_t val[SK_STORE_MAX_VALUE];
	size_t len = 0;
	assert_int_equal(sk_store_get(st, key, val, &len, NULL), SK_ST_OK);
	return len;
}

static void test_window_max_retry_100(void **state)
{
	struct sk_store *st = *state;
	const char *ip = "198.51.100.77";
	uint64_t until;
	bool banned;
	/* 250 failures 1 ms apart: banned at the 100th and the 200th, never a value over the limit */
	for (unsigned i = 1; i <= 250; i++) {
		assert_int_equal(sk_ban_fail(st, ip, fake_now + i, 100, 600000, 3600000, &until, &banned), SK_ST_OK);
		assert_int_equal(banned, i % 100 == 0);
		if (!banned)
			assert_true(raw_len(st, "fails:198.51.100.77") <= SK_STORE_MAX_VALUE);
	}
	/* the worst case: 99 failures spread over the longest find_time, with 13-digit times */
	const uint64_t finds[] = { 999, 99999999, 100000000, 86400000ULL * 365, UINT64_MAX / 2, UINT64_MAX };
	for (size_t f = 0; f < sizeof(finds) / sizeof(finds[0]); f++) {
		assert_int_equal(sk_ban_remove(st, ip), SK_ST_OK);
		uint64_t find = finds[f], step = find / 100 ? find / 100 : 1;
		uint64_t t = 9999999999999ULL; /* year 2286 */
		fake_now = t;
		for (unsigned i = 0; i < 99; i++) {
			assert_int_equal(sk_ban_fail(st, ip, t + i * step, 100, find, 0, &until, &banned), SK_ST_OK);
			assert_false(banned);
		}
		fake_now = t + 98 * step;
		size_t len = raw_len(st, "fails:198.51.100.77");
		assert_true(len <= SK_STORE_MAX_VALUE);
		assert_true(len >= 99 * 2); /* all 99 kept */
		/* and they still count: the 100th inside find_time bans */
		assert_int_equal(sk_ban_fail(st, ip, t + 98 * step, 100, find, 0, &until, &banned), SK_ST_OK);
		assert_true(banned);
	}
	assert_int_equal(sk_ban_remove(st, ip), SK_ST_OK);
	fake_now = 1700000000000ULL;
}

/* The window slides (fail2ban), it does not restart: 99 failures late in one find_time and 1 early in the
 * next are 100 within find_time of each other only if they really are. */
static void test_window_slides(void **state)
{
	struct sk_store *st = *state;
	const char *ip = "203.0.113.200";
	const uint64_t find = 10000;
	uint64_t t0 = fake_now, until;
	bool banned;
	/* 1 failure at t0, 98 at t0 + 9 s: 99 in the window */
	assert_int_equal(sk_ban_fail(st, ip, t0, 100, find, 60000, &until, &banned), SK_ST_OK);
	for (unsigned i = 0; i < 98; i++)
		assert_int_equal(sk_ban_fail(st, ip, t0 + 9000 + i, 100, find, 60000, &until, &banned), SK_ST_OK);
	assert_false(banned);
	/* at t0 + 10 s the first has left: 99 again, no ban */
	fake_now = t0 + 10000;
	assert_int_equal(sk_ban_fail(st, ip, t0 + 10000, 100, find, 60000, &until, &banned), SK_ST_OK);
	assert_false(banned);
	/* one more while the 98 are still within 10 s of it: the 100th */
	fake_now = t0 + 10001;
	assert_int_equal(sk_ban_fail(st, ip, t0 + 10001, 100, find, 60000, &until, &banned), SK_ST_OK);
	assert_true(banned);
	assert_int_equal(sk_ban_remove(st, ip), SK_ST_OK);
	fake_now = t0;
}

static void put_raw(struct sk_store *st, const char *key, const char *val, size_t len)
{
	assert_int_equal(sk_store_put(st, key, val, len, 0), SK_ST_OK);
}

/* Values the decoders must refuse without reading past them: garbage, numbers too big for their field,
 * fields too long for their buffer, a window with more entries than max_retry allows. */
static void test_corrupt_values(void **state)
{
	struct sk_store *st = *state;
	char big[SK_STORE_MAX_VALUE];
	struct sk_tally t;
	struct sk_session s;
	uint64_t until;
	bool banned, fresh;

	memset(big, '9', sizeof(big));
	put_raw(st, "tally:alice", big, sizeof(big));
	assert_int_equal(sk_tally_get(st, "alice", &t), SK_ST_ABSENT);
	memcpy(big, "3 1700000000000 ", 16); /* a from field of 1008 bytes */
	memset(big + 16, 'a', sizeof(big) - 16);
	put_raw(st, "tally:alice", big, sizeof(big));
	assert_int_equal(sk_tally_get(st, "alice", &t), SK_ST_ABSENT);
	put_raw(st, "tally:alice", "4294967296 1 x", 14); /* failures beyond 32 bits */
	assert_int_equal(sk_tally_get(st, "alice", &t), SK_ST_ABSENT);
	put_raw(st, "tally:alice", "2 5 192.0.2.1", 13);
	assert_int_equal(sk_tally_get(st, "alice", &t), SK_ST_OK);
	assert_int_equal(t.failures, 2);
	/* a damaged tally counts again from one */
	put_raw(st, "tally:alice", "x", 1);
	assert_int_equal(sk_tally_fail(st, "alice", fake_now, "192.0.2.1", &t), SK_ST_OK);
	assert_int_equal(t.failures, 1);

	/* a window of 1 KiB of digits, and one with 120 entries */
	memset(big, '7', sizeof(big));
	put_raw(st, "fails:192.0.2.9", big, sizeof(big));
	assert_int_equal(sk_ban_fail(st, "192.0.2.9", fake_now, 2, 60000, 0, &until, &banned), SK_ST_OK);
	assert_false(banned);
	size_t o = (size_t)snprintf(big, sizeof(big), "w 1 %llu", (unsigned long long)fake_now);
	for (int i = 0; i < 120 && o + 2 < sizeof(big); i++)
		big[o++] = ' ', big[o++] = '1';
	put_raw(st, "fails:192.0.2.9", big, o);
	assert_int_equal(sk_ban_fail(st, "192.0.2.9", fake_now, 100, 60000, 0, &until, &banned), SK_ST_OK);
	assert_false(banned); /* read as empty, not as 120 failures */
	put_raw(st, "fails:192.0.2.9", "w 0 5", 5);
	assert_int_equal(sk_ban_fail(st, "192.0.2.9", fake_now, 2, 60000, 0, &until, &banned), SK_ST_OK);
	assert_false(banned);
	o = (size_t)snprintf(big, sizeof(big), "w 18446744073709551615 %llu 99999999", (unsigned long long)fake_now);
	put_raw(st, "fails:192.0.2.9", big, o);
	assert_int_equal(sk_ban_fail(st, "192.0.2.9", fake_now, 2, 60000, 0, &until, &banned), SK_ST_OK);
	assert_false(banned);
	assert_int_equal(sk_ban_remove(st, "192.0.2.9"), SK_ST_ABSENT); /* windows only, never a ban */

	/* sessions: a user name longer than any users file holds, a level beyond 8 bits, no user */
	memcpy(big, "2 1700000000000 1700000000000 ", 30);
	memset(big + 30, 'u', sizeof(big) - 30);
	put_raw(st, "sess:" "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff", big, sizeof(big));
	assert_int_equal(sk_session_get(st, SID, fake_now, 60000, 60000, &s), SK_ST_ABSENT);
	put_raw(st, "sess:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff", "256 1 1 bob", 11);
	assert_int_equal(sk_session_get(st, SID, 1, 60000, 60000, &s), SK_ST_ABSENT);
	put_raw(st, "sess:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff", "2 1 1 ", 6);
	assert_int_equal(sk_session_get(st, SID, 1, 60000, 60000, &s), SK_ST_ABSENT);
	put_raw(st, "sess:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff", "2 1 1 bob smith", 15);
	assert_int_equal(sk_session_get(st, SID, 1, 60000, 60000, &s), SK_ST_OK);
	assert_string_equal(s.user, "bob smith");

	/* a TOTP mark that does not read is replaced, one that does still refuses a replay */
	memset(big, '9', sizeof(big));
	put_raw(st, "totp:alice", big, sizeof(big));
	assert_int_equal(sk_totp_mark(st, "alice", 5, fake_now, 1000, &fresh), SK_ST_OK);
	assert_true(fresh);
	assert_int_equal(sk_totp_mark(st, "alice", 5, fake_now, 1000, &fresh), SK_ST_OK);
	assert_false(fresh);
}

/* Every kind of record with an expiry is gone after a sweep once it has expired; tallies and permanent
 * bans stay; the store's record count follows. */
static void test_sweep(void **state)
{
	struct sk_store *st = *state;
	uint64_t t0 = fake_now, until, removed = 99;
	bool banned, fresh;
	struct sk_store_usage u;
	assert_int_equal(sk_store_sweep(st, &removed), SK_ST_OK);
	assert_int_equal(removed, 0);
	char ip[32];
	for (int i = 0; i < 300; i++) {
		snprintf(ip, sizeof(ip), "127.0.%d.%d", i / 250, i % 250 + 1);
		assert_int_equal(sk_ban_fail(st, ip, t0, 5, 2000, 2000, &until, &banned), SK_ST_OK);
	}
	for (int i = 0; i < 5; i++)
		assert_int_equal(sk_ban_fail(st, "192.0.2.50", t0, 5, 2000, 2000, &until, &banned), SK_ST_OK);
	assert_true(banned);
	assert_int_equal(sk_ban_add(st, "192.0.2.51", 0), SK_ST_OK);
	assert_int_equal(sk_tally_fail(st, "alice", t0, "192.0.2.50", NULL), SK_ST_OK);
	assert_int_equal(sk_totp_mark(st, "alice", 100, t0, 2000, &fresh), SK_ST_OK);
	struct sk_session s = { .level = 1, .created = t0, .last = t0 };
	strcpy(s.user, "alice");
	assert_int_equal(sk_session_put(st, SID, &s, 2000, 43200000), SK_ST_OK);
	assert_int_equal(sk_store_usage(st, &u), 0);
	assert_int_equal(u.records, 300 + 1 + 1 + 1 + 1 + 1);
	uint64_t full_bytes = u.bytes;
	/* nothing has expired yet */
	fake_now = t0 + 1999;
	assert_int_equal(sk_store_sweep(st, &removed), SK_ST_OK);
	assert_int_equal(removed, 0);
	/* 2 s on: the windows, the 2 s ban, the mark and the idle session go; the tally and the permanent ban stay */
	fake_now = t0 + 2000;
	assert_int_equal(sk_store_sweep(st, &removed), SK_ST_OK);
	assert_int_equal(removed, 300 + 1 + 1 + 1);
	assert_int_equal(sk_store_usage(st, &u), 0);
	assert_int_equal(u.records, 2);
	assert_true(u.bytes < full_bytes);
	struct sk_tally t;
	assert_int_equal(sk_tally_get(st, "alice", &t), SK_ST_OK);
	struct ban_seen seen = { 0 };
	assert_int_equal(sk_ban_list(st, collect_bans, &seen), SK_ST_OK);
	assert_int_equal(seen.n, 1);
	assert_string_equal(seen.ip, "192.0.2.51");
	fake_now = t0;
}

/* LMDB: a map smaller than the file is refused at open; a full map fails writes (SK_ST_DOWN, the 503)
 * until a sweep deletes what expired, and then takes writes again. */
static void test_lmdb_max_size(void **state)
{
	struct sk_store *st = *state;
	sk_store_close(st);
	*state = NULL;
	struct sk_err err = { 0 };
	st = sk_store_open_lmdb(lmdb_dir, 256 << 10, &err);
	assert_non_null(st);
	st->now_ms = clock_fn;
	*state = st;
	struct sk_store_usage u;
	assert_int_equal(sk_store_usage(st, &u), 0);
	assert_int_equal(u.max_bytes, 256 << 10);
	/* sessions that expire in one minute until the map is full */
	char id[65];
	uint8_t val[900];
	memset(val, 'v', sizeof(val));
	int n = 0;
	enum sk_store_rc rc = SK_ST_OK;
	for (; n < 10000 && rc == SK_ST_OK; n++) {
		snprintf(id, sizeof(id), "k%08d", n);
		rc = sk_store_put(st, id, val, sizeof(val), fake_now + 60000);
	}
	assert_int_equal(rc, SK_ST_DOWN);
	assert_true(n > 50 && n < 10000);
	fake_now += 60000;
	uint64_t removed = 0;
	assert_int_equal(sk_store_sweep(st, &removed), SK_ST_OK);
	assert_true(removed >= (uint64_t)n - 2);
	assert_int_equal(sk_store_usage(st, &u), 0);
	assert_int_equal(u.records, 0);
	for (int i = 0; i < n / 2; i++) {
		snprintf(id, sizeof(id), "j%08d", i);
		assert_int_equal(sk_store_put(st, id, val, sizeof(val), fake_now + 60000), SK_ST_OK);
	}
	fake_now -= 60000;
	sk_store_close(st);
	*state = NULL;
	/* reopened with a map smaller than the data already written: a clear refusal */
	memset(&err, 0, sizeof(err));
	assert_null(sk_store_open_lmdb(lmdb_dir, 64 << 10, &err));
	assert_non_null(strstr(err.msg, "state.max_size"));
	st = sk_store_open_lmdb(lmdb_dir, 1 << 20, &err);
	assert_non_null(st);
	st->now_ms = clock_fn;
	*state = st;
}

/* A value longer than SK_STORE_MAX_VALUE in the file (written by anything but sekisho) reads as absent
 * and is swept, never copied into a caller's buffer. */
static void test_lmdb_overlong(void **state)
{
	sk_store_close(*state);
	*state = NULL;
	char path[128];
	snprintf(path, sizeof(path), "%s/state.mdb", lmdb_dir);
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_open(env, path, MDB_NOSUBDIR, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, NULL, 0, &dbi), 0);
	static uint8_t big[8 + 4096];
	memset(big, '1', sizeof(big));
	memset(big, 0, 8); /* no expiry */
	const char *keys[] = { "tally:alice", "fails:192.0.2.1",
			       "sess:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff", "ban:192.0.2.2",
			       "totp:alice" };
	for (size_t i = 0; i < 5; i++) {
		MDB_val k = { .mv_size = strlen(keys[i]), .mv_data = (void *)keys[i] };
		MDB_val v = { .mv_size = sizeof(big), .mv_data = big };
		assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
	}
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
	struct sk_err err = { 0 };
	struct sk_store *st = sk_store_open_lmdb(lmdb_dir, 0, &err);
	assert_non_null(st);
	st->now_ms = clock_fn;
	*state = st;
	struct sk_tally t;
	struct sk_session s;
	assert_int_equal(sk_tally_get(st, "alice", &t), SK_ST_ABSENT);
	int n = 0;
	assert_int_equal(sk_tally_list(st, count_tallies, &n), SK_ST_OK);
	assert_int_equal(n, 0);
	struct ban_seen seen = { 0 };
	assert_int_equal(sk_ban_list(st, collect_bans, &seen), SK_ST_OK);
	assert_int_equal(seen.n, 0);
	assert_int_equal(sk_session_get(st, SID, fake_now, 60000, 60000, &s), SK_ST_ABSENT);
	uint64_t until;
	bool banned, fresh;
	assert_int_equal(sk_ban_fail(st, "192.0.2.1", fake_now, 2, 60000, 0, &until, &banned), SK_ST_OK);
	assert_false(banned);
	assert_int_equal(sk_totp_mark(st, "alice", 5, fake_now, 1000, &fresh), SK_ST_OK);
	assert_true(fresh);
	uint64_t removed = 0;
	assert_int_equal(sk_store_sweep(st, &removed), SK_ST_OK);
	assert_int_equal(removed, 3); /* the tally, session and ban that nothing rewrote */
}

#define BOTH(fn)                                                                                                        \
	cmocka_unit_test_setup_teardown(fn, open_memory, close_store),                                              \
		cmocka_unit_test_setup_teardown(fn, open_lmdb, close_store)

int main(void)
{
	const struct CMUnitTest tests[] = {
		BOTH(test_tally),
		BOTH(test_tally_list),
		BOTH(test_ban_window),
		BOTH(test_totp_mark),
		BOTH(test_session),
		cmocka_unit_test_setup_teardown(test_lmdb_durable, open_lmdb, close_store),
		BOTH(test_window_max_retry_100),
		BOTH(test_window_slides),
		BOTH(test_corrupt_values),
		BOTH(test_sweep),
		cmocka_unit_test_setup_teardown(test_lmdb_max_size, open_lmdb, close_store),
		cmocka_unit_test_setup_teardown(test_lmdb_overlong, open_lmdb, close_store),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
