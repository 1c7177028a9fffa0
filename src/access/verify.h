/*
 * verify.h — password verification off the event loop (DESIGN §3): one per worker thread.
 *
 * A verification runs on the blocking pool; its completion comes back to the worker's loop. Identical
 * concurrent credentials wait on one verification (coalescing, keyed by a keyed hash of user and
 * password). Successful verifications are cached under the same keyed hash for a short TTL, per
 * snapshot generation, so a reload (which reloads the users) flushes them. The number of verifications
 * queued is bounded per client address and, through the pool, globally.
 */
#ifndef SK_VERIFY_H
#define SK_VERIFY_H

#include <stdbool.h>
#include <stdint.h>

#include "access/access.h"

#define SK_VERIFY_TTL_MS 60000
#define SK_VERIFY_PER_CLIENT 4 /* verifications in flight per client address per worker */

struct sk_verifier *sk_verifier_new(struct sk_loop *loop);
void sk_verifier_free(struct sk_verifier *v);
/* Verifications queued or running for this worker (it drains them before exiting). */
unsigned sk_verifier_inflight(const struct sk_verifier *v);

/* The loop the verifier belongs to. */
struct sk_loop *sk_verifier_loop(const struct sk_verifier *v);
/* Counts other pool work of this worker (state-store jobs) in sk_verifier_inflight, so the worker drains
 * it too before its loop is freed. */
void sk_verifier_hold(struct sk_verifier *v, int delta);

/* The keyed hash of a credential (user NUL password) for generation gen. */
void sk_verify_key(uint64_t gen, const char *user, size_t ulen, const char *pw, size_t plen,
		   uint8_t out[32]);

/* True when key was verified successfully within the TTL for this generation. */
bool sk_verify_cached(struct sk_verifier *v, uint64_t gen, const uint8_t key[32]);

/* Remembers key as verified for generation gen, for the TTL (a match that sk_verify_start was told not to
 * remember, once the caller knows the account may sign in). Tokens have their own cache (jwtauth.c). */
void sk_verify_remember(struct sk_verifier *v, uint64_t gen, const uint8_t key[32]);

/*
 * Starts (or joins) the verification of pw against hash for req; req->resume is called later on the
 * loop thread with *result set (1 match, 0 mismatch; result lies in the caller's scratch, which lives as
 * long as req). Only a verification of the same key
 * against the same hash is joined. remember: cache a match at once; false when the caller must first
 * learn whether the account may sign in at all (lockout), and calls sk_verify_remember itself. pad_ns: a
 * mismatch takes at least that long (sk_users_pad_ns; 0 for none). Returns 0,
 * or -1 when the per-client or global bound is reached (nothing was queued: answer too_many_attempts).
 */
int sk_verify_start(struct sk_verifier *v, struct sk_access_req *req, uint64_t gen, const uint8_t key[32],
		    const char *hash, const char *pw, size_t plen, bool remember, uint64_t pad_ns, int8_t *result);
/*
 * For a locked account, whose presented password must not be verified: fills out (plen bytes) with a
 * decoy (out must not overlap pw) of the same length with NUL bytes where pw has them and random non-NUL bytes elsewhere, so that
 * verifying it against the account's own hash costs exactly what a wrong password costs, for every kind
 * (sha*crypt's work grows with the length, crypt refuses NUL bytes at once); and turns key into one that
 * no credential has, so that verification joins no other and is never found in the cache.
 */
void sk_verify_decoy(const char *pw, size_t plen, char *out, uint8_t key[32]);


#endif
