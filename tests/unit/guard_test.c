/*
 * guard_test.c — the brute-force records (src/access/guard.c) over the memory and LMDB stores, with an
 * injected clock: pam_tally2 counting, locking and unlock_time, reset; fail2ban windows (failures that
 * age out of find_time do not count), the ban and its expiry, removal; TOTP replay marks; sessions with
 * idle and absolute expiry; LMDB durability across close and reopen.
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
	struct sk_store *st = sk_store_open_lmdb(lmdb_dir, &err);
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
	assert_int_equal(sk_session_put(st, SID, &s, absolute), SK_ST_OK);
	assert_int_equal(sk_session_get(st, SID, t0 + 1000, idle, absolute, &got), SK_ST_OK);
	assert_string_equal(got.user, "alice");
	assert_int_equal(got.level, SK_SESSION_MFA);
	/* idle expiry */
	assert_int_equal(sk_session_get(st, SID, t0 + idle, idle, absolute, &got), SK_ST_ABSENT);
	/* touched just in time, it lives on, up to the absolute limit */
	s.last = t0 + idle - 1;
	assert_int_equal(sk_session_put(st, SID, &s, absolute), SK_ST_OK);
	assert_int_equal(sk_session_get(st, SID, t0 + idle + 100, idle, absolute, &got), SK_ST_OK);
	s.last = t0 + absolute - 10;
	assert_int_equal(sk_session_put(st, SID, &s, absolute), SK_ST_OK);
	assert_int_equal(sk_session_get(st, SID, t0 + absolute - 5, idle, absolute, &got), SK_ST_OK);
	fake_now = t0 + absolute; /* the store's own expiry */
	assert_int_equal(sk_session_get(st, SID, t0 + absolute, idle, absolute, &got), SK_ST_ABSENT);
	fake_now = t0;
	assert_int_equal(sk_session_put(st, SID, &s, absolute), SK_ST_OK);
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
	st = sk_store_open_lmdb(lmdb_dir, &err);
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
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
