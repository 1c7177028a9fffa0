/*
 * apikeys.h — the API-key store (DESIGN §3, §7 "The API-key file"): `NAME: { sha256: "<hex>", groups: [...],
 * created: YYYY-MM-DD, owner: U }`. Only the SHA-256 of a key is ever stored; a presented key
 * (Authorization: Bearer or X-Api-Key) is hashed and looked up by its digest. Immutable once loaded, so
 * readable from any thread without locks.
 *
 * Invariants: names are unique, 1-64 of [A-Za-z0-9_.-]; digests are unique; digests are compared with
 * sk_ct_eq; nothing here prints, and no message holds a key or a digest.
 */
#ifndef SK_APIKEYS_H
#define SK_APIKEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

/* "sk_" + 40 base62 characters. */
#define SK_APIKEY_PREFIX "sk_"
#define SK_APIKEY_RANDOM_CHARS 40
#define SK_APIKEY_LEN (sizeof(SK_APIKEY_PREFIX) - 1 + SK_APIKEY_RANDOM_CHARS)
/* Presented keys longer than this are not ours: refused without hashing. */
#define SK_APIKEY_PRESENTED_MAX 512

struct sk_apikey {
	char *name;
	uint8_t sha256[32];
	char **groups;
	size_t n_groups;
	int64_t created; /* unix seconds at UTC midnight, 0 = unknown */
	char *owner;     /* a user name, or NULL */
	char **policies; /* names in the config's `policies` (checked when the snapshot is built) */
	size_t n_policies;
	int line;        /* 1-based line of the entry */
};

struct sk_apikeys;

/* Loads the API-key file at path. Returns a store owned by the caller (sk_apikeys_free), or NULL with err
 * filled (file:line:col where known). */
struct sk_apikeys *sk_apikeys_load(const char *path, struct sk_err *err);
/* Same from memory; file names the source in messages only. */
struct sk_apikeys *sk_apikeys_parse(const char *file, const char *buf, size_t len, struct sk_err *err);
void sk_apikeys_free(struct sk_apikeys *k);

/* The key whose SHA-256 is that of key[0..len), or NULL. O(1); the digest comparison is constant-time. */
const struct sk_apikey *sk_apikeys_find(const struct sk_apikeys *k, const char *key, size_t len);
/* The entry named name, or NULL (a linear scan: for the CLI, not for requests). */
const struct sk_apikey *sk_apikeys_by_name(const struct sk_apikeys *k, const char *name);
size_t sk_apikeys_count(const struct sk_apikeys *k);
const struct sk_apikey *sk_apikeys_at(const struct sk_apikeys *k, size_t i);
/* The index of a key of this store (the inverse of sk_apikeys_at), for tables kept beside the store. */
size_t sk_apikeys_index(const struct sk_apikeys *k, const struct sk_apikey *key);

bool sk_apikey_in_group(const struct sk_apikey *key, const char *group);
/* True for 1-64 characters of [A-Za-z0-9_.-]. */
bool sk_apikey_name_ok(const char *name);

/* Makes a new key: "sk_" + 40 base62 characters drawn uniformly (rejection sampling) from getrandom
 * (about 238 bits). Writes SK_APIKEY_LEN characters and a NUL into out. Returns 0, or -1 (errno set)
 * when the kernel gives no randomness. */
int sk_apikey_generate(char out[SK_APIKEY_LEN + 1]);
/* SHA-256 of key[0..len). */
void sk_apikey_digest(const char *key, size_t len, uint8_t out[32]);
/* Lower-case hex of a digest (64 characters and a NUL). */
void sk_apikey_hex(const uint8_t digest[32], char out[65]);

#endif
