/*
 * hash.h — password hash formats (DESIGN §3 "Basic auth and API keys"): recognise, verify, make.
 * Verification is slow on purpose (bcrypt cost 10 ≈ 64 ms): callers run it on the blocking pool, never on
 * an event-loop thread. All functions are thread-safe (crypt_rn with a caller-side buffer, libargon2).
 */
#ifndef SK_HASH_H
#define SK_HASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum sk_hash_kind {
	SK_HASH_UNKNOWN = 0,
	SK_HASH_ARGON2ID,    /* $argon2id$v=19$m=…,t=…,p=…$salt$hash (libargon2) */
	SK_HASH_BCRYPT,      /* $2y$ / $2b$ / $2a$ (libxcrypt) */
	SK_HASH_YESCRYPT,    /* $y$ (libxcrypt) */
	SK_HASH_SHA512CRYPT, /* $6$ (libxcrypt) */
	SK_HASH_SHA256CRYPT, /* $5$ (libxcrypt) */
	SK_HASH_APR1,        /* $apr1$ (Apache MD5; ours) — weak: loads with a warning */
	SK_HASH_SHA1,        /* {SHA}base64 (htpasswd -s) — weak: loads with a warning */
};

enum sk_hash_kind sk_hash_kind(const char *hash);
const char *sk_hash_kind_name(enum sk_hash_kind k); /* "argon2id", "bcrypt", ... */
/* True for formats that load only with a warning (apr1, {SHA}). */
bool sk_hash_is_weak(enum sk_hash_kind k);

/* Verifies password against hash. Returns 1 on a match, 0 on a mismatch, -1 when the hash is malformed or
 * of an unknown kind. The final comparison is constant-time for every format.
 * password may be NULL when password_len is 0. crypt-family hashes (bcrypt, yescrypt, sha*crypt) take a
 * NUL-terminated phrase, so a password with a NUL byte, or longer than 511 bytes, is a mismatch (0) for
 * them; bcrypt reads only the first 72 bytes, as it always has. */
int sk_hash_verify(const char *hash, const char *password, size_t password_len);

/* Makes a new hash: argon2id (m=19 MiB, t=2, p=1, 16-byte random salt) or bcrypt ($2y$, cost 10).
 * Returns a heap string, or NULL on failure (another kind; a NUL byte in a bcrypt password). */
char *sk_hash_make(enum sk_hash_kind kind, const char *password, size_t password_len);

/*
 * Makes a dummy hash of the same kind and cost parameters as like (for unknown users, so that a
 * wrong user name costs the same time as a wrong password). Falls back to bcrypt cost 10 for kinds that
 * have no cost (apr1, {SHA}, unknown). Kept: argon2id m/t/p; bcrypt variant and cost; yescrypt's whole
 * parameter field; sha*crypt rounds=. The password is random, never empty. Returns a heap string, never
 * NULL (aborts if not even a bcrypt hash can be made).
 */
char *sk_hash_dummy(const char *like);

/*
 * The hash among hashes[0..n) whose verification costs the most (kind and parameters), for the stand-in
 * of unknown users (DESIGN §3 "No oracle through timing or caching"). Within bcrypt and sha*crypt the
 * parameter decides (cost, rounds); each distinct argon2id or yescrypt parameter set, and the best of the
 * other kinds, is timed once or twice (the slowest wins; at most SK_HASH_COSTLIEST_TIMED of them, the
 * first found). Weak kinds (apr1, {SHA}) and malformed hashes are never chosen. Returns one of the
 * hashes, or NULL when none qualifies.
 */
#define SK_HASH_COSTLIEST_TIMED 8
const char *sk_hash_costliest(const char *const *hashes, size_t n);

/* True when a and b are of one kind with the same work parameters (bcrypt cost, sha*crypt rounds,
 * argon2id m/t/p, yescrypt's parameter field): verifying either costs the same. Never for weak kinds. */
bool sk_hash_same_work(const char *a, const char *b);
/* Wall time of one verification of a wrong password against hash, in ns: the fastest of runs runs. */
uint64_t sk_hash_time_ns(const char *hash, unsigned runs);

/* Apache's apr1 MD5-crypt: writes "$apr1$salt$hash" (at most 37 characters + NUL) into out. salt: up to 8
 * characters (stops at '$'; a leading "$apr1$" is skipped, so a stored hash can be passed). Returns 0 / -1. */
int sk_hash_apr1(const char *password, size_t password_len, const char *salt, char out[64]);

#endif
