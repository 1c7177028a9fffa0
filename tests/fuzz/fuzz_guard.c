/*
 * fuzz_guard.c — the state records' decoders (src/access/guard.c) on values a hostile Redis or a damaged
 * file could hold. The input's first 12 bytes choose max_retry (1..100), find_time and the clock; the rest
 * is stored, as it is, under every record kind, and each record's functions run on it. Invariants: no read
 * or write past a buffer (the sanitizers watch), the decoded fields stay within their types, and a failure
 * window written back after any input fits in a store value and still decodes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "access/guard.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t fake_now;

static uint64_t clock_fn(void)
{
	return fake_now;
}

static uint64_t rd(const uint8_t *p, size_t n)
{
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

static const char SID[] = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

static int on_tally(void *arg, const char *user, const struct sk_tally *t)
{
	if (strlen(t->from) >= sizeof(t->from) || strlen(user) > SK_GUARD_MAX_USER)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 12)
		return 0;
	unsigned max_retry = 1 + data[0] % SK_GUARD_MAX_RETRY;
	/* find_time from 0 to the whole 64-bit range, in steps that reach every digit count */
	uint64_t find_ms = rd(data + 1, 3) << (data[4] % 41);
	fake_now = 1700000000000ULL + rd(data + 5, 7);
	const uint8_t *val = data + 12;
	size_t len = SK_MIN(size - 12, (size_t)SK_STORE_MAX_VALUE);

	struct sk_store *st = sk_store_open_memory();
	st->now_ms = clock_fn;
	static const char *const keys[] = { "tally:alice", "fails:192.0.2.1", "ban:192.0.2.1", "totp:alice",
					    "sess:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff" };
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (sk_store_put(st, keys[i], val, len, 0) != SK_ST_OK)
			abort();

	struct sk_tally t;
	if (sk_tally_get(st, "alice", &t) == SK_ST_OK && strlen(t.from) >= sizeof(t.from))
		abort();
	sk_tally_list(st, on_tally, NULL);
	struct sk_session s;
	if (sk_session_get(st, SID, fake_now, UINT64_MAX, UINT64_MAX, &s) == SK_ST_OK &&
	    (strlen(s.user) == 0 || strlen(s.user) > SK_GUARD_MAX_USER))
		abort();
	bool fresh;
	sk_totp_mark(st, "alice", (int64_t)(fake_now / 30000), fake_now, 60000, &fresh);

	/* Two failures on top of whatever the window held: the record written back must fit and decode, so
	 * the second one sees the first (with max_retry 2 or less, one of them is the ban). */
	uint64_t until;
	bool banned1 = false, banned2 = false;
	if (sk_ban_fail(st, "192.0.2.1", fake_now, max_retry, find_ms, 1000, &until, &banned1) != SK_ST_OK)
		abort();
	if (sk_ban_fail(st, "192.0.2.1", fake_now, max_retry, find_ms, 1000, &until, &banned2) != SK_ST_OK)
		abort();
	if (max_retry == 2 && find_ms > 0 && !banned1 && !banned2)
		abort();
	uint8_t out[SK_STORE_MAX_VALUE];
	size_t olen;
	if (!banned2 && find_ms > 0) {
		if (sk_store_get(st, "fails:192.0.2.1", out, &olen, NULL) != SK_ST_OK || olen > SK_STORE_MAX_VALUE ||
		    olen < 2 || out[0] != 'w')
			abort();
	}
	sk_store_close(st);
	return 0;
}
