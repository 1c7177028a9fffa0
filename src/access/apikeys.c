/*
 * apikeys.c — the API-key store (see apikeys.h): the YAML file → entries in file order and an
 * open-addressing table keyed by the SHA-256 digest; key generation for the CLI.
 *
 * Invariants: the table holds index + 1 of each entry (0 = empty), is at least twice the entry count and
 * probes linearly from the digest's first 8 bytes (a digest is already uniform: no seed is needed, and
 * an attacker who could aim at one slot would have to invert SHA-256). Digests are compared whole with
 * sk_ct_eq. Errors name entries and keys, never a digest.
 */
#include "access/apikeys.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "access/keyfile.h"

struct sk_apikeys {
	struct sk_apikey *keys;
	size_t n, cap;
	uint32_t *slots;
	size_t mask;
};

bool sk_apikey_name_ok(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
		      c == '.' || c == '-'))
			return false;
	}
	return true;
}

void sk_apikey_digest(const char *key, size_t len, uint8_t out[32])
{
	unsigned int n = 0;
	int ok = EVP_Digest(key, len, out, &n, EVP_sha256(), NULL);
	/* SHA-256 of memory cannot fail short of a broken libcrypto: that is a bug worth a crash. */
	SK_ASSERT(ok == 1 && n == 32);
}

void sk_apikey_hex(const uint8_t digest[32], char out[65])
{
	static const char hex[] = "0123456789abcdef";
	for (int i = 0; i < 32; i++) {
		out[2 * i] = hex[digest[i] >> 4];
		out[2 * i + 1] = hex[digest[i] & 15];
	}
	out[64] = '\0';
}

int sk_apikey_generate(char out[SK_APIKEY_LEN + 1])
{
	static const char b62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
	/* 248 = 4 * 62: bytes below it map uniformly onto base62; the rest are drawn again. 64 bytes per
	 * round comfortably covers the ~3 % rejected. */
	unsigned char rnd[64];
	size_t o = sizeof(SK_APIKEY_PREFIX) - 1, used = sizeof(rnd);
	memcpy(out, SK_APIKEY_PREFIX, o);
	while (o < SK_APIKEY_LEN) {
		if (used == sizeof(rnd)) {
			ssize_t r;
			do
				r = getrandom(rnd, sizeof(rnd), 0);
			while (r == -1 && errno == EINTR);
			if (r != (ssize_t)sizeof(rnd)) {
				if (r >= 0)
					errno = EIO;
				return -1;
			}
			used = 0;
		}
		unsigned char b = rnd[used++];
		if (b < 248)
			out[o++] = b62[b % 62];
	}
	out[o] = '\0';
	explicit_bzero(rnd, sizeof(rnd));
	return 0;
}

static void free_key(struct sk_apikey *k)
{
	free(k->name);
	sk_keyfile_strlist_free(k->groups, k->n_groups);
	free(k->owner);
	sk_keyfile_strlist_free(k->policies, k->n_policies);
}

/* Reads one entry `name: { sha256, groups, created, owner }` into k. Returns 0 or -1. */
static int parse_entry(struct sk_keyfile *kf, struct fy_node *key, struct fy_node *val, struct sk_apikey *k)
{
	const char *name;
	size_t nlen;
	if (sk_keyfile_scalar(kf, key, "an API key name", &name, &nlen) == -1)
		return -1;
	k->name = sk_slice_dup((struct sk_slice){ .ptr = name, .len = nlen });
	int line, col;
	sk_keyfile_pos(key, &line, &col);
	k->line = line;
	if (!sk_apikey_name_ok(k->name))
		return sk_keyfile_fail(kf, key, "API key name '%.*s' must be 1-64 of A-Z a-z 0-9 _ . -",
				       (int)SK_MIN(nlen, 64u), name);
	char what[96];
	snprintf(what, sizeof(what), "API key '%s'", k->name);
	if (fy_node_is_alias(val))
		return sk_keyfile_fail(kf, key, "%s: aliases are not supported here", what);
	if (!val || !fy_node_is_mapping(val))
		return sk_keyfile_fail(kf, key, "%s must be a mapping { sha256: \"...\", groups: [...] }", what);
	bool have_digest = false;
	void *it = NULL;
	struct fy_node_pair *p;
	while ((p = fy_node_mapping_iterate(val, &it))) {
		struct fy_node *kn = fy_node_pair_key(p), *v = fy_node_pair_value(p);
		const char *ks;
		size_t kl;
		if (sk_keyfile_scalar(kf, kn, what, &ks, &kl) == -1)
			return -1;
		char field[160];
		snprintf(field, sizeof(field), "%s: '%.*s'", what, (int)SK_MIN(kl, 32u), ks);
#define IS(lit) (kl == sizeof(lit) - 1 && memcmp(ks, lit, kl) == 0)
		if (IS("sha256")) {
			const char *s;
			size_t sl;
			if (sk_keyfile_scalar(kf, v, field, &s, &sl) == -1)
				return -1;
			if (sl != 64)
				return sk_keyfile_fail(kf, v, "%s must be 64 hexadecimal digits", field);
			for (int i = 0; i < 32; i++) {
				int hi = sk_hexval((unsigned char)s[2 * i]), lo = sk_hexval((unsigned char)s[2 * i + 1]);
				if (hi < 0 || lo < 0)
					return sk_keyfile_fail(kf, v, "%s must be 64 hexadecimal digits", field);
				k->sha256[i] = (uint8_t)(hi << 4 | lo);
			}
			have_digest = true;
		} else if (IS("groups")) {
			if (sk_keyfile_strlist(kf, v, field, &k->groups, &k->n_groups) == -1)
				return -1;
		} else if (IS("created")) {
			if (!sk_keyfile_is_null(v) && sk_keyfile_date(kf, v, field, &k->created) == -1)
				return -1;
		} else if (IS("owner")) {
			if (!sk_keyfile_is_null(v) && sk_keyfile_string(kf, v, field, &k->owner) == -1)
				return -1;
		} else if (IS("policies")) {
			if (sk_keyfile_strlist(kf, v, field, &k->policies, &k->n_policies) == -1)
				return -1;
		} else {
			return sk_keyfile_fail(kf, kn, "%s: unknown key '%.*s' (expected sha256, groups, created, owner, policies)",
					       what, (int)SK_MIN(kl, 64u), ks);
		}
#undef IS
	}
	if (!have_digest)
		return sk_keyfile_fail(kf, key, "%s needs 'sha256' (create keys with sekisho apikey create)", what);
	return 0;
}

/* Builds the digest table; a repeated name or digest is an error at the later entry. */
static int build_table(struct sk_apikeys *t, const char *file, struct sk_err *err)
{
	size_t size = 16;
	while (size < t->n * 2)
		size *= 2;
	t->slots = sk_calloc(size, sizeof(*t->slots));
	t->mask = size - 1;
	for (size_t i = 0; i < t->n; i++) {
		const struct sk_apikey *k = &t->keys[i];
		for (size_t j = 0; j < i; j++)
			if (strcmp(t->keys[j].name, k->name) == 0)
				return sk_err_set(err, file, k->line, 0, "API key '%s' again (first at line %d)", k->name,
						  t->keys[j].line);
		uint64_t h;
		memcpy(&h, k->sha256, sizeof(h));
		size_t at = h & t->mask;
		while (t->slots[at]) {
			const struct sk_apikey *o = &t->keys[t->slots[at] - 1];
			if (memcmp(o->sha256, k->sha256, 32) == 0)
				return sk_err_set(err, file, k->line, 0, "API key '%s' has the same sha256 as '%s' (line %d)",
						  k->name, o->name, o->line);
			at = (at + 1) & t->mask;
		}
		t->slots[at] = (uint32_t)i + 1;
	}
	return 0;
}

struct sk_apikeys *sk_apikeys_parse(const char *file, const char *buf, size_t len, struct sk_err *err)
{
	struct sk_apikeys *t = sk_calloc(1, sizeof(*t));
	struct sk_keyfile kf;
	struct fy_node *root;
	int rc = -1;
	if (sk_keyfile_open(&kf, file, buf, len, &root, err) == -1)
		goto out;
	void *it = NULL;
	struct fy_node_pair *p;
	while (root && (p = fy_node_mapping_iterate(root, &it))) {
		if (t->n == t->cap) {
			t->cap = t->cap ? t->cap * 2 : 16;
			t->keys = sk_realloc(t->keys, t->cap * sizeof(*t->keys));
		}
		struct sk_apikey *k = &t->keys[t->n++];
		*k = (struct sk_apikey){ 0 };
		if (parse_entry(&kf, fy_node_pair_key(p), fy_node_pair_value(p), k) == -1)
			goto out;
	}
	if (t->n > UINT32_MAX / 4) {
		sk_err_set(err, file, 0, 0, "too many API keys");
		goto out;
	}
	rc = build_table(t, file, err);
out:
	sk_keyfile_close(&kf);
	if (rc == -1) {
		sk_apikeys_free(t);
		return NULL;
	}
	return t;
}

struct sk_apikeys *sk_apikeys_load(const char *path, struct sk_err *err)
{
	char *buf = NULL;
	size_t len = 0;
	if (sk_keyfile_read(path, &buf, &len, err) == -1)
		return NULL;
	struct sk_apikeys *t = sk_apikeys_parse(path, buf, len, err);
	free(buf);
	return t;
}

void sk_apikeys_free(struct sk_apikeys *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n; i++)
		free_key(&t->keys[i]);
	free(t->keys);
	free(t->slots);
	free(t);
}

const struct sk_apikey *sk_apikeys_find(const struct sk_apikeys *t, const char *key, size_t len)
{
	if (!t->slots || len == 0 || len > SK_APIKEY_PRESENTED_MAX)
		return NULL;
	uint8_t d[32];
	sk_apikey_digest(key, len, d);
	uint64_t h;
	memcpy(&h, d, sizeof(h));
	size_t at = h & t->mask;
	while (t->slots[at]) {
		const struct sk_apikey *k = &t->keys[t->slots[at] - 1];
		if (sk_ct_eq(k->sha256, d, sizeof(d)))
			return k;
		at = (at + 1) & t->mask;
	}
	return NULL;
}

const struct sk_apikey *sk_apikeys_by_name(const struct sk_apikeys *t, const char *name)
{
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->keys[i].name, name) == 0)
			return &t->keys[i];
	return NULL;
}

size_t sk_apikeys_count(const struct sk_apikeys *t)
{
	return t->n;
}

const struct sk_apikey *sk_apikeys_at(const struct sk_apikeys *t, size_t i)
{
	SK_ASSERT(i < t->n);
	return &t->keys[i];
}

size_t sk_apikeys_index(const struct sk_apikeys *t, const struct sk_apikey *key)
{
	SK_ASSERT(key >= t->keys && key < t->keys + t->n);
	return (size_t)(key - t->keys);
}

bool sk_apikey_in_group(const struct sk_apikey *key, const char *group)
{
	for (size_t i = 0; i < key->n_groups; i++)
		if (strcmp(key->groups[i], group) == 0)
			return true;
	return false;
}
