/*
 * guard.h — the records the brute-force defences keep in the state store (DESIGN §3–4): lockout tallies
 * (pam_tally2), failure windows and bans (fail2ban), TOTP replay marks, login sessions.
 *
 * Every function blocks on the store (see state/store.h): the server calls them on the pool's state lane,
 * the command-line tools directly. `now` is ms since the epoch, passed in so tests control the clock.
 * Records are short text values, readable with redis-cli or mdb_dump, each bounded whatever the config
 * says (docs/internals/state.md has the worst cases):
 *
 *   tally:<user>  "<failures> <latest ms> <from ip>"       no expiry (pam_tally2 keeps it until reset);
 *                                                          only users of the users file get one
 *   fails:<ip>    "w <unit> <t0 ms> <delta> ..."  the failures still within find_time (at most
 *                                                 max_retry - 1); expires find_time after the latest
 *   ban:<ip>      "<until ms>"     expires at until (0 = until removed)
 *   totp:<user>   "<step>"         the last accepted time step; expires once no replay can match it
 *   sess:<id>     "<level> <created ms> <last ms> <user>"  expires at the idle or absolute limit, the sooner
 *
 * A value that does not decode (damaged, written by something else, too long) reads as absent.
 */
#ifndef SK_GUARD_H
#define SK_GUARD_H

#include <stdbool.h>
#include <stdint.h>

#include "state/store.h"

#define SK_GUARD_MAX_USER 128 /* longer names are never tallied (no such user can be in a users file) */
#define SK_GUARD_MAX_RETRY 100

struct sk_tally {
	uint32_t failures;
	uint64_t latest; /* ms */
	char from[48];   /* client address of the latest failure */
};

enum sk_store_rc sk_tally_get(struct sk_store *st, const char *user, struct sk_tally *t);
/* Counts one failure; t (may be NULL) receives the new tally. */
enum sk_store_rc sk_tally_fail(struct sk_store *st, const char *user, uint64_t now, const char *from,
			       struct sk_tally *t);
/* Clears the tally; *cleared (may be NULL) receives the failures it held. */
enum sk_store_rc sk_tally_reset(struct sk_store *st, const char *user, uint32_t *cleared);
/* pam_tally2: locked when failures >= deny, until unlock_ms after the latest failure (0: until reset). */
bool sk_tally_locked(const struct sk_tally *t, unsigned deny, uint64_t unlock_ms, uint64_t now);
typedef int (*sk_tally_fn)(void *arg, const char *user, const struct sk_tally *t);
enum sk_store_rc sk_tally_list(struct sk_store *st, sk_tally_fn fn, void *arg);

/*
 * Records a credential failure of client ip (text form) at now. When max_retry failures fall within
 * find_ms, the ip is banned until now + ban_ms (ban_ms 0: until removed), its window is cleared, and
 * *banned_until is set (else 0). max_retry is at most SK_GUARD_MAX_RETRY.
 */
enum sk_store_rc sk_ban_fail(struct sk_store *st, const char *ip, uint64_t now, unsigned max_retry, uint64_t find_ms,
			     uint64_t ban_ms, uint64_t *banned_until, bool *banned);
/* until: ms since the epoch, 0 = until removed. */
enum sk_store_rc sk_ban_add(struct sk_store *st, const char *ip, uint64_t until);
/* SK_ST_ABSENT when ip was not banned. Also clears its failure window. */
enum sk_store_rc sk_ban_remove(struct sk_store *st, const char *ip);
/* The text ban records use for an address (IPv4-mapped IPv6 as IPv4) into out[64]. Returns 0, or -1 when
 * ip is not an address. */
int sk_ban_canonical_ip(const char *ip, char *out);
typedef int (*sk_ban_fn)(void *arg, const char *ip, uint64_t until);
enum sk_store_rc sk_ban_list(struct sk_store *st, sk_ban_fn fn, void *arg);

/* Accepts time step for user only if it is later than the last accepted one: *fresh says which. The mark
 * lives for keep_ms (long enough that the step can no longer match). */
enum sk_store_rc sk_totp_mark(struct sk_store *st, const char *user, int64_t step, uint64_t now, uint64_t keep_ms,
			      bool *fresh);

enum sk_session_level { SK_SESSION_PASSWORD = 1, SK_SESSION_MFA = 2 };

struct sk_session {
	uint8_t level;   /* enum sk_session_level */
	uint64_t created;
	uint64_t last;   /* ms of the latest use (idle expiry) */
	char user[SK_GUARD_MAX_USER + 1];
};

/* id: the session id in hex (64 characters). The record expires at s->last + idle_ms or s->created +
 * absolute_ms, whichever is sooner. */
enum sk_store_rc sk_session_put(struct sk_store *st, const char *id, const struct sk_session *s, uint64_t idle_ms,
				uint64_t absolute_ms);
/* SK_ST_ABSENT when missing, expired by the store, or idle for longer than idle_ms / older than absolute_ms. */
enum sk_store_rc sk_session_get(struct sk_store *st, const char *id, uint64_t now, uint64_t idle_ms,
				uint64_t absolute_ms, struct sk_session *s);
enum sk_store_rc sk_session_del(struct sk_store *st, const char *id);

#endif
