/*
 * users.c — the immutable user store (see users.h): YAML users files and htpasswd files → an array of
 * users in file order, an open-addressing table over their names, the load warnings and a dummy hash.
 *
 * Invariants: the store is never changed after sk_users_parse returns; the table holds index + 1 of each
 * user (0 = empty slot), is at least twice as large as the user count and probes linearly; no message,
 * error or warning includes a hash.
 */
#include "access/users.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access/keyfile.h"

struct sk_users {
	enum sk_users_format format;
	struct sk_user *users;
	size_t n, cap;
	uint32_t *slots; /* index + 1 into users, 0 = empty */
	size_t mask;     /* slots - 1 (a power of two minus one) */
	uint64_t seed;
	char *dummy;
	uint64_t pad_ns; /* the stand-in's verification time, when some user's hash costs less (else 0) */
	char **warnings;
	size_t n_warnings;
};

/* Loading state: the store being built and where its text comes from. */
struct load {
	const char *file;
	struct sk_err *err;
	struct sk_users *u;
};

const char *sk_user_name_problem(const char *s, size_t len)
{
	if (len == 0)
		return "is empty";
	if (len > SK_USER_NAME_MAX)
		return "is longer than 128 bytes" /* SK_USER_NAME_MAX */;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == ':')
			return "holds ':' (Basic auth could not send it)";
		if (c < 0x20 || c == 0x7f)
			return "holds a control character";
	}
	return NULL;
}

static void add_warning(struct sk_users *u, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add_warning(struct sk_users *u, const char *fmt, ...)
{
	char buf[768];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	u->warnings = sk_realloc(u->warnings, (u->n_warnings + 2) * sizeof(*u->warnings));
	u->warnings[u->n_warnings++] = sk_strdup(buf);
	u->warnings[u->n_warnings] = NULL;
}

/* Appends a zeroed user and returns it. */
static struct sk_user *new_user(struct sk_users *u)
{
	if (u->n == u->cap) {
		u->cap = u->cap ? u->cap * 2 : 16;
		u->users = sk_realloc(u->users, u->cap * sizeof(*u->users));
	}
	struct sk_user *r = &u->users[u->n++];
	*r = (struct sk_user){ 0 };
	return r;
}

static void free_user(struct sk_user *r)
{
	free(r->name);
	free(r->hash);
	sk_keyfile_strlist_free(r->groups, r->n_groups);
	free(r->totp);
	sk_keyfile_strlist_free(r->policies, r->n_policies);
}

/*
 * Classifies the hash of the user just read: unknown kinds are an error at (line, col); weak ones a
 * warning. Returns 0 or -1.
 */
static int check_hash(struct load *l, struct sk_user *r, int line, int col)
{
	r->kind = sk_hash_kind(r->hash);
	if (r->kind == SK_HASH_UNKNOWN)
		return sk_err_set(l->err, l->file, line, col,
				  "user '%s': unrecognised password hash (expected argon2id, bcrypt, yescrypt, "
				  "sha512crypt, sha256crypt, or the weak apr1 and {SHA}); set it with sekisho passwd",
				  r->name);
	if (sk_hash_is_weak(r->kind))
		add_warning(l->u, "%s:%d: user '%s' has a weak %s hash; re-set it with sekisho passwd", l->file, line,
			    r->name, r->kind == SK_HASH_SHA1 ? "{SHA}" : sk_hash_kind_name(r->kind));
	return 0;
}

/* The YAML form: a mapping of user name → { password, groups, totp, password_changed }. */
static int parse_yaml(struct load *l, const char *buf, size_t len)
{
	struct sk_keyfile kf;
	struct fy_node *root;
	int rc = -1;
	if (sk_keyfile_open(&kf, l->file, buf, len, &root, l->err) == -1)
		goto out;
	void *it = NULL;
	struct fy_node_pair *pair;
	while (root && (pair = fy_node_mapping_iterate(root, &it))) {
		struct fy_node *key = fy_node_pair_key(pair), *val = fy_node_pair_value(pair);
		const char *name;
		size_t nlen;
		if (sk_keyfile_scalar(&kf, key, "a user name", &name, &nlen) == -1)
			goto out;
		const char *why = sk_user_name_problem(name, nlen);
		if (why) {
			sk_keyfile_fail(&kf, key, "user name %s", why);
			goto out;
		}
		struct sk_user *r = new_user(l->u);
		r->name = sk_slice_dup((struct sk_slice){ .ptr = name, .len = nlen });
		r->name_len = nlen;
		int line, col;
		sk_keyfile_pos(key, &line, &col);
		r->line = line;
		char what[SK_USER_NAME_MAX + 64];
		snprintf(what, sizeof(what), "user '%s'", r->name);
		if (fy_node_is_alias(val)) {
			sk_keyfile_fail(&kf, key, "%s: aliases are not supported here", what);
			goto out;
		}
		if (!val || !fy_node_is_mapping(val)) {
			sk_keyfile_fail(&kf, key, "%s must be a mapping { password: \"...\", groups: [...] }", what);
			goto out;
		}
		struct fy_node *pw = NULL;
		void *it2 = NULL;
		struct fy_node_pair *p2;
		while ((p2 = fy_node_mapping_iterate(val, &it2))) {
			struct fy_node *k = fy_node_pair_key(p2), *v = fy_node_pair_value(p2);
			const char *ks;
			size_t kl;
			if (sk_keyfile_scalar(&kf, k, what, &ks, &kl) == -1)
				goto out;
			char field[SK_USER_NAME_MAX + 96];
			snprintf(field, sizeof(field), "%s: '%.*s'", what, (int)SK_MIN(kl, 32u), ks);
#define IS(lit) (kl == sizeof(lit) - 1 && memcmp(ks, lit, kl) == 0)
			if (IS("password")) {
				/* The message names the key, never the value: it is a hash. */
				if (sk_keyfile_string(&kf, v, field, &r->hash) == -1)
					goto out;
				pw = v;
			} else if (IS("groups")) {
				if (sk_keyfile_strlist(&kf, v, field, &r->groups, &r->n_groups) == -1)
					goto out;
			} else if (IS("totp")) {
				if (!sk_keyfile_is_null(v) && sk_keyfile_string(&kf, v, field, &r->totp) == -1)
					goto out;
			} else if (IS("policies")) {
				if (sk_keyfile_strlist(&kf, v, field, &r->policies, &r->n_policies) == -1)
					goto out;
			} else if (IS("password_changed")) {
				if (!sk_keyfile_is_null(v) && sk_keyfile_date(&kf, v, field, &r->password_changed) == -1)
					goto out;
			} else {
				sk_keyfile_fail(&kf, k, "%s: unknown key '%.*s' (expected password, groups, totp, "
					       "password_changed, policies)", what, (int)SK_MIN(kl, 64u), ks);
				goto out;
			}
#undef IS
		}
		if (!pw) {
			sk_keyfile_fail(&kf, key, "%s needs 'password' (set it with sekisho passwd)", what);
			goto out;
		}
		int pl, pc;
		sk_keyfile_pos(pw, &pl, &pc);
		if (check_hash(l, r, pl, pc) == -1)
			goto out;
	}
	rc = 0;
out:
	sk_keyfile_close(&kf);
	return rc;
}

/* The htpasswd form: "user:hash" lines, '#' comments and blank lines. */
static int parse_htpasswd(struct load *l, const char *buf, size_t len)
{
	size_t pos = 0;
	int line = 0;
	while (pos < len) {
		line++;
		const char *s = buf + pos;
		const char *nl = memchr(s, '\n', len - pos);
		size_t ll = nl ? (size_t)(nl - s) : len - pos;
		pos += ll + 1;
		while (ll > 0 && (s[ll - 1] == '\r' || s[ll - 1] == ' ' || s[ll - 1] == '\t'))
			ll--;
		size_t b = 0;
		while (b < ll && (s[b] == ' ' || s[b] == '\t'))
			b++;
		if (b == ll || s[b] == '#')
			continue;
		if (memchr(s, '\0', ll))
			return sk_err_set(l->err, l->file, line, 0, "NUL byte: not a text file");
		const char *colon = memchr(s, ':', ll);
		if (!colon)
			return sk_err_set(l->err, l->file, line, 1, "expected 'user:hash'");
		size_t nlen = (size_t)(colon - s);
		const char *why = sk_user_name_problem(s, nlen);
		if (why)
			return sk_err_set(l->err, l->file, line, 1, "user name %s", why);
		struct sk_user *r = new_user(l->u);
		r->name = sk_slice_dup((struct sk_slice){ .ptr = s, .len = nlen });
		r->name_len = nlen;
		r->line = line;
		r->hash = sk_slice_dup((struct sk_slice){ .ptr = colon + 1, .len = ll - nlen - 1 });
		if (check_hash(l, r, line, (int)nlen + 2) == -1)
			return -1;
	}
	return 0;
}

enum sk_users_format sk_users_detect(const char *buf, size_t len)
{
	size_t pos = 0;
	while (pos < len) {
		const char *s = buf + pos;
		const char *nl = memchr(s, '\n', len - pos);
		size_t ll = nl ? (size_t)(nl - s) : len - pos;
		pos += ll + 1;
		size_t b = 0;
		while (b < ll && (s[b] == ' ' || s[b] == '\t' || s[b] == '\r'))
			b++;
		if (b == ll || s[b] == '#')
			continue;
		/* YAML markers, quoted keys and flow roots are never htpasswd user names. */
		if (s[b] == '{' || s[b] == '"' || s[b] == '\'' || s[b] == '%' || (ll - b >= 3 && !memcmp(s + b, "---", 3)))
			return SK_USERS_YAML;
		const char *colon = memchr(s + b, ':', ll - b);
		if (!colon)
			return SK_USERS_YAML; /* neither: the YAML parser gives the better message */
		/* A YAML mapping key is followed by a blank or the end of the line; "user:$2y$..." is not. */
		size_t after = (size_t)(colon - s) + 1;
		if (after >= ll || s[after] == ' ' || s[after] == '\t' || s[after] == '\r')
			return SK_USERS_YAML;
		return SK_USERS_HTPASSWD;
	}
	return SK_USERS_YAML;
}

/* Builds the name table; a duplicate name (possible in htpasswd files) is an error at its line. */
static int build_table(struct load *l)
{
	struct sk_users *u = l->u;
	size_t size = 16;
	while (size < u->n * 2)
		size *= 2;
	u->slots = sk_calloc(size, sizeof(*u->slots));
	u->mask = size - 1;
	u->seed = sk_keyfile_seed();
	for (size_t i = 0; i < u->n; i++) {
		const struct sk_user *r = &u->users[i];
		size_t at = sk_keyfile_hash(u->seed, r->name, r->name_len) & u->mask;
		while (u->slots[at]) {
			const struct sk_user *o = &u->users[u->slots[at] - 1];
			if (o->name_len == r->name_len && memcmp(o->name, r->name, r->name_len) == 0)
				return sk_err_set(l->err, l->file, r->line, 0, "user '%s' again (first at line %d)", r->name,
						  o->line);
			at = (at + 1) & u->mask;
		}
		u->slots[at] = (uint32_t)i + 1;
	}
	return 0;
}

/* Makes the stand-in hash for unknown users: like the costliest hash of the file, kind and parameters
 * (DESIGN §3), so no account costs more to check than a name that is not one. */
static void make_dummy(struct sk_users *u)
{
	const char **hashes = sk_calloc(u->n ? u->n : 1, sizeof(*hashes));
	for (size_t i = 0; i < u->n; i++) {
		SK_ASSERT(u->users[i].kind > SK_HASH_UNKNOWN && u->users[i].kind <= SK_HASH_SHA1);
		hashes[i] = u->users[i].hash;
	}
	const char *like = sk_hash_costliest(hashes, u->n);
	free(hashes);
	/* No user, or only weak kinds: sk_hash_dummy's own fallback (bcrypt, cost 10). */
	u->dummy = sk_hash_dummy(like ? like : "");
	/* The other way round: an account whose hash costs less than the stand-in would answer a wrong
	 * password faster than an unknown name does. Its failures are padded to the stand-in's time. */
	bool any = false;
	for (size_t i = 0; i < u->n; i++) {
		u->users[i].pad = !sk_hash_same_work(u->users[i].hash, u->dummy);
		any = any || u->users[i].pad;
	}
	if (any)
		u->pad_ns = sk_hash_time_ns(u->dummy, 3);
}

struct sk_users *sk_users_parse(const char *file, const char *buf, size_t len, enum sk_users_format format,
				struct sk_err *err)
{
	struct sk_users *u = sk_calloc(1, sizeof(*u));
	struct load l = { .file = file, .err = err, .u = u };
	u->format = format == SK_USERS_AUTO ? sk_users_detect(buf, len) : format;
	int rc = u->format == SK_USERS_YAML ? parse_yaml(&l, buf, len) : parse_htpasswd(&l, buf, len);
	if (rc == 0 && u->n > UINT32_MAX / 4)
		rc = sk_err_set(err, file, 0, 0, "too many users");
	if (rc == 0)
		rc = build_table(&l);
	if (rc == -1) {
		sk_users_free(u);
		return NULL;
	}
	make_dummy(u);
	return u;
}

struct sk_users *sk_users_load(const char *path, enum sk_users_format format, struct sk_err *err)
{
	char *buf = NULL;
	size_t len = 0;
	if (sk_keyfile_read(path, &buf, &len, err) == -1)
		return NULL;
	struct sk_users *u = sk_users_parse(path, buf, len, format, err);
	free(buf);
	return u;
}

void sk_users_free(struct sk_users *u)
{
	if (!u)
		return;
	for (size_t i = 0; i < u->n; i++)
		free_user(&u->users[i]);
	free(u->users);
	free(u->slots);
	free(u->dummy);
	for (size_t i = 0; i < u->n_warnings; i++)
		free(u->warnings[i]);
	free(u->warnings);
	free(u);
}

enum sk_users_format sk_users_format(const struct sk_users *u)
{
	return u->format;
}

const struct sk_user *sk_users_find(const struct sk_users *u, const char *name, size_t len)
{
	if (!u->slots || len == 0 || len > SK_USER_NAME_MAX)
		return NULL;
	size_t at = sk_keyfile_hash(u->seed, name, len) & u->mask;
	while (u->slots[at]) {
		const struct sk_user *r = &u->users[u->slots[at] - 1];
		if (r->name_len == len && memcmp(r->name, name, len) == 0)
			return r;
		at = (at + 1) & u->mask;
	}
	return NULL;
}

size_t sk_users_count(const struct sk_users *u)
{
	return u->n;
}

const struct sk_user *sk_users_at(const struct sk_users *u, size_t i)
{
	SK_ASSERT(i < u->n);
	return &u->users[i];
}

size_t sk_users_index(const struct sk_users *u, const struct sk_user *user)
{
	SK_ASSERT(user >= u->users && user < u->users + u->n);
	return (size_t)(user - u->users);
}

const char *sk_users_dummy_hash(const struct sk_users *u)
{
	return u->dummy;
}

uint64_t sk_users_pad_ns(const struct sk_users *u, const struct sk_user *user)
{
	return user && user->pad ? u->pad_ns : 0;
}

const char *const *sk_users_warnings(const struct sk_users *u, size_t *n)
{
	*n = u->n_warnings;
	static const char *const none[] = { NULL };
	return u->warnings ? (const char *const *)u->warnings : none;
}

bool sk_user_in_group(const struct sk_user *user, const char *group)
{
	for (size_t i = 0; i < user->n_groups; i++)
		if (strcmp(user->groups[i], group) == 0)
			return true;
	return false;
}
