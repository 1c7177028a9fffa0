/*
 * users.h — the user store behind Basic auth and the login form (DESIGN §3 "Basic auth and API keys",
 * §7 "The users file"): loaded once from a YAML users file or an htpasswd file, then immutable, so any
 * number of threads may read it without locks. A reload builds a new store; the old one is freed when
 * nothing uses it any more.
 *
 * Invariants: every user has a hash of a known kind (sk_hash_kind != SK_HASH_UNKNOWN); names are unique,
 * non-empty, hold no ':' (Basic auth could not carry it) and no control character; a store always has a
 * dummy hash for unknown users. Nothing here prints, and no message ever holds a hash or a password.
 */
#ifndef SK_USERS_H
#define SK_USERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "access/hash.h"
#include "core/core.h"

/* Longest user name accepted (bytes). */
#define SK_USER_NAME_MAX 128

enum sk_users_format {
	SK_USERS_AUTO = 0, /* guessed from the content (see sk_users_detect) */
	SK_USERS_YAML,     /* alice: { password: "...", groups: [...], totp: "...", password_changed: DATE } */
	SK_USERS_HTPASSWD, /* user:hash lines, '#' comments, blank lines */
};

struct sk_user {
	char *name;               /* NUL-terminated; name_len bytes */
	size_t name_len;
	char *hash;               /* the stored password hash */
	enum sk_hash_kind kind;
	char **groups;            /* n_groups strings (none for htpasswd) */
	size_t n_groups;
	char *totp;               /* opaque encrypted TOTP secret ("enc:..."), or NULL */
	char **policies;          /* names in the config's `policies` (checked when the snapshot is built) */
	size_t n_policies;
	int64_t password_changed; /* unix seconds (UTC midnight of the date), 0 = unknown */
	int line;                 /* 1-based line of the user's entry, for messages */
	bool pad;                 /* its hash costs less than the stand-in: failures are padded (sk_users_pad_ns) */
};

struct sk_users;

/*
 * Loads the users file at path. format SK_USERS_AUTO guesses from the content. Returns a store owned by
 * the caller (sk_users_free), or NULL with err filled (file:line:col where known). Makes the dummy hash,
 * which costs one hash computation.
 */
struct sk_users *sk_users_load(const char *path, enum sk_users_format format, struct sk_err *err);
/* Same from memory: file names the source in messages only. buf need not be NUL-terminated. */
struct sk_users *sk_users_parse(const char *file, const char *buf, size_t len, enum sk_users_format format,
				struct sk_err *err);
void sk_users_free(struct sk_users *u);

/* Guesses the format of a users file from its first line with content (empty text: YAML). */
enum sk_users_format sk_users_detect(const char *buf, size_t len);
/* The format the store was loaded from (never SK_USERS_AUTO). */
enum sk_users_format sk_users_format(const struct sk_users *u);

/* The user named name[0..len), or NULL. O(1); the name need not be NUL-terminated. */
const struct sk_user *sk_users_find(const struct sk_users *u, const char *name, size_t len);
/* Users in file order: index 0 .. sk_users_count() - 1. */
size_t sk_users_count(const struct sk_users *u);
const struct sk_user *sk_users_at(const struct sk_users *u, size_t i);
/* The index of a user of this store (the inverse of sk_users_at), for tables kept beside the store. */
size_t sk_users_index(const struct sk_users *u, const struct sk_user *user);

/* A hash like the file's costliest (kind and parameters, sk_hash_costliest), made at load, to verify an
 * unknown user's password (and a locked account's) against: a wrong name then costs at least what any
 * wrong password costs. */
const char *sk_users_dummy_hash(const struct sk_users *u);

/* How long a failed verification of user's password must take at least (ns; 0: no padding): the
 * stand-in's verification time measured at load, for users whose hash costs less than the stand-in, so a
 * wrong password of theirs answers no faster than an unknown name. */
uint64_t sk_users_pad_ns(const struct sk_users *u, const struct sk_user *user);

/* Warnings found while loading (weak apr1 / {SHA} hashes), one line each, "FILE:LINE: ...". The array
 * and its strings belong to the store. */
const char *const *sk_users_warnings(const struct sk_users *u, size_t *n);

bool sk_user_in_group(const struct sk_user *user, const char *group);

/* NULL when name[0..len) is an acceptable user name, else why not ("holds ':' ..."), for a message. */
const char *sk_user_name_problem(const char *name, size_t len);

#endif
