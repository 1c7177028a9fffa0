/*
 * hash.c — password hash formats (see hash.h): recognise a stored hash by its prefix, verify a password
 * against it, make new hashes, and make cost-matched dummies for unknown users.
 *
 * Invariants:
 * - Thread-safe: crypt_rn works in a heap struct crypt_data owned by the call, libargon2 and OpenSSL's EVP
 *   digests keep no shared state. Nothing here logs, so no secret can reach a log line.
 * - Every final comparison goes through sk_ct_eq over the whole encoded string, after a length check
 *   (the length of a hash is public: it follows from its format). libargon2 compares in constant time itself.
 * - A computed hash whose length differs from the stored one means the stored one is malformed
 *   (truncated, extra characters): -1, never a silent 0.
 * - Copies of the password (NUL-terminated for crypt) and crypt's scratch space are wiped before return.
 */
#include "access/hash.h"

#include <argon2.h>
#include <crypt.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <openssl/evp.h>

#include "core/core.h"

/* New hashes: OWASP's argon2id minimum (19 MiB, 2 passes, 1 lane) and bcrypt cost 10. */
#define MAKE_ARGON2_M 19456
#define MAKE_ARGON2_T 2
#define MAKE_ARGON2_P 1
#define MAKE_SALT_LEN 16
#define MAKE_HASH_LEN 32
#define MAKE_BCRYPT_COST 10

/* bcrypt reads at most 72 bytes of the password; the rest is ignored by the algorithm itself. */
#define BCRYPT_MAX_PW 72

#define APR1_MAGIC "$apr1$"
#define APR1_SALT_MAX 8
#define APR1_HASH_CHARS 22
#define SHA1_PREFIX "{SHA}"

static const char itoa64[] = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

static bool has_prefix(const char *s, const char *p)
{
	return strncmp(s, p, strlen(p)) == 0;
}

enum sk_hash_kind sk_hash_kind(const char *hash)
{
	if (!hash)
		return SK_HASH_UNKNOWN;
	if (has_prefix(hash, "$argon2id$"))
		return SK_HASH_ARGON2ID;
	if (has_prefix(hash, "$2y$") || has_prefix(hash, "$2b$") || has_prefix(hash, "$2a$"))
		return SK_HASH_BCRYPT;
	if (has_prefix(hash, "$y$"))
		return SK_HASH_YESCRYPT;
	if (has_prefix(hash, "$6$"))
		return SK_HASH_SHA512CRYPT;
	if (has_prefix(hash, "$5$"))
		return SK_HASH_SHA256CRYPT;
	if (has_prefix(hash, APR1_MAGIC))
		return SK_HASH_APR1;
	if (has_prefix(hash, SHA1_PREFIX))
		return SK_HASH_SHA1;
	return SK_HASH_UNKNOWN;
}

const char *sk_hash_kind_name(enum sk_hash_kind k)
{
	switch (k) {
	case SK_HASH_ARGON2ID:
		return "argon2id";
	case SK_HASH_BCRYPT:
		return "bcrypt";
	case SK_HASH_YESCRYPT:
		return "yescrypt";
	case SK_HASH_SHA512CRYPT:
		return "sha512crypt";
	case SK_HASH_SHA256CRYPT:
		return "sha256crypt";
	case SK_HASH_APR1:
		return "apr1";
	case SK_HASH_SHA1:
		return "sha1";
	case SK_HASH_UNKNOWN:
		break;
	}
	return "unknown";
}

bool sk_hash_is_weak(enum sk_hash_kind k)
{
	return k == SK_HASH_APR1 || k == SK_HASH_SHA1;
}

/* Compares a computed encoding with the stored one: 1 equal, 0 different, -1 when the lengths differ
 * (the stored string cannot be a well-formed hash of its kind). */
static int compare_encoded(const char *computed, const char *stored)
{
	size_t n = strlen(computed);
	if (n != strlen(stored))
		return -1;
	return sk_ct_eq(computed, stored, n) ? 1 : 0;
}

/* Fills buf with n bytes from getrandom(2). Returns 0 / -1. */
static int random_bytes(void *buf, size_t n)
{
	unsigned char *p = buf;
	while (n > 0) {
		ssize_t r = getrandom(p, n, 0);
		if (r == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

/* ---- libxcrypt (bcrypt, yescrypt, sha512crypt, sha256crypt) ---- */

/*
 * Runs crypt_rn(password, setting) and returns a heap copy of the result, or NULL when crypt refuses the
 * setting (or the password cannot be passed to crypt). Passwords are NUL-terminated for crypt, so one that
 * contains a NUL byte sets *unrepresentable and returns NULL: no crypt hash can have been made from it.
 */
static char *crypt_hash(const char *setting, const char *password, size_t password_len, bool *unrepresentable)
{
	char phrase[CRYPT_MAX_PASSPHRASE_SIZE];
	struct crypt_data *cd = NULL;
	char *result = NULL;

	*unrepresentable = false;
	if (password_len && memchr(password, '\0', password_len)) {
		*unrepresentable = true;
		goto out;
	}
	/* bcrypt ignores everything past byte 72, so cutting there changes nothing and lets longer input
	 * through crypt's passphrase limit. */
	if (has_prefix(setting, "$2") && password_len > BCRYPT_MAX_PW)
		password_len = BCRYPT_MAX_PW;
	if (password_len >= sizeof(phrase)) {
		*unrepresentable = true;
		goto out;
	}
	if (password_len)
		memcpy(phrase, password, password_len);
	phrase[password_len] = '\0';

	cd = sk_calloc(1, sizeof(*cd));
	const char *r = crypt_rn(phrase, setting, cd, (int)sizeof(*cd));
	if (r && r[0] != '*')
		result = sk_strdup(r);
out:
	explicit_bzero(phrase, sizeof(phrase));
	if (cd) {
		explicit_bzero(cd, sizeof(*cd));
		free(cd);
	}
	return result;
}

/*
 * A cheap shape check before the expensive part: the hash proper (after the last '$') has the length its
 * method always writes, in the crypt alphabet; bcrypt is exactly "$2x$NN$" + 53 characters. A truncated
 * or padded hash is refused here instead of costing a full computation to find the lengths differ.
 */
static bool crypt_well_formed(enum sk_hash_kind kind, const char *hash)
{
	size_t want;
	switch (kind) {
	case SK_HASH_BCRYPT:
		return strlen(hash) == 60 && hash[4] >= '0' && hash[4] <= '3' && hash[5] >= '0' && hash[5] <= '9' &&
		       hash[6] == '$' && strspn(hash + 7, itoa64) == 53;
	case SK_HASH_YESCRYPT:
	case SK_HASH_SHA256CRYPT:
		want = 43;
		break;
	case SK_HASH_SHA512CRYPT:
		want = 86;
		break;
	default:
		return false;
	}
	const char *last = strrchr(hash, '$');
	return last - hash >= 3 && strlen(last + 1) == want && strspn(last + 1, itoa64) == want;
}

static int verify_crypt(enum sk_hash_kind kind, const char *hash, const char *password, size_t password_len)
{
	if (!crypt_well_formed(kind, hash))
		return -1;
	bool unrepresentable;
	char *computed = crypt_hash(hash, password, password_len, &unrepresentable);
	if (!computed)
		return unrepresentable ? 0 : -1;
	int rc = compare_encoded(computed, hash);
	explicit_bzero(computed, strlen(computed));
	free(computed);
	return rc;
}

/* ---- argon2id (libargon2) ---- */

struct argon2_params {
	uint32_t m, t, p;
};

/* Reads an unsigned decimal at *s into *out and advances *s. Returns 0 / -1. */
static int parse_u32(const char **s, uint32_t *out)
{
	const char *p = *s;
	uint64_t v = 0;
	if (*p < '0' || *p > '9')
		return -1;
	while (*p >= '0' && *p <= '9') {
		v = v * 10 + (uint64_t)(*p++ - '0');
		if (v > UINT32_MAX)
			return -1;
	}
	*out = (uint32_t)v;
	*s = p;
	return 0;
}

/* Parses the version and cost parameters of "$argon2id$[v=N$]m=M,t=T,p=P$...". Returns 0 / -1. */
static int parse_argon2_params(const char *hash, struct argon2_params *out)
{
	const char *s = hash + strlen("$argon2id$");
	uint32_t v;
	if (has_prefix(s, "v=")) {
		s += 2;
		/* libargon2 would take any number here and simply compute a mismatch. */
		if (parse_u32(&s, &v) == -1 || (v != ARGON2_VERSION_10 && v != ARGON2_VERSION_13) || *s++ != '$')
			return -1;
	}
	if (!has_prefix(s, "m="))
		return -1;
	s += 2;
	if (parse_u32(&s, &out->m) == -1 || !has_prefix(s, ",t="))
		return -1;
	s += 3;
	if (parse_u32(&s, &out->t) == -1 || !has_prefix(s, ",p="))
		return -1;
	s += 3;
	if (parse_u32(&s, &out->p) == -1 || *s != '$')
		return -1;
	if (out->t < ARGON2_MIN_TIME || out->p < ARGON2_MIN_LANES || out->p > ARGON2_MAX_LANES ||
	    out->m < 8 * out->p)
		return -1;
	return 0;
}

static int verify_argon2id(const char *hash, const char *password, size_t password_len)
{
	struct argon2_params pa;
	if (parse_argon2_params(hash, &pa) == -1)
		return -1;
	if (password_len > ARGON2_MAX_PWD_LENGTH)
		return 0;
	/* libargon2 wants a non-NULL pointer even for an empty password. */
	int rc = argon2id_verify(hash, password_len ? password : "", password_len);
	if (rc == ARGON2_OK)
		return 1;
	if (rc == ARGON2_VERIFY_MISMATCH)
		return 0;
	return -1;
}

/* Makes "$argon2id$v=19$m=…,t=…,p=…$salt$hash" with a fresh 16-byte salt and a 32-byte hash. */
static char *make_argon2id(const struct argon2_params *pa, const void *password, size_t password_len)
{
	unsigned char salt[MAKE_SALT_LEN];
	char *encoded = NULL;

	if (password_len > ARGON2_MAX_PWD_LENGTH || random_bytes(salt, sizeof(salt)) == -1)
		goto out;
	size_t cap = argon2_encodedlen(pa->t, pa->m, pa->p, sizeof(salt), MAKE_HASH_LEN, Argon2_id) + 1;
	encoded = sk_malloc(cap);
	if (argon2id_hash_encoded(pa->t, pa->m, pa->p, password_len ? password : "", password_len, salt,
				  sizeof(salt), MAKE_HASH_LEN, encoded, cap) != ARGON2_OK) {
		free(encoded);
		encoded = NULL;
	}
out:
	explicit_bzero(salt, sizeof(salt));
	return encoded;
}

/* ---- apr1 (Apache MD5-crypt) ---- */

static void to64(char *s, unsigned long v, int n)
{
	while (n-- > 0) {
		*s++ = itoa64[v & 0x3f];
		v >>= 6;
	}
}

/* One MD5 step of md5crypt: ctx restarts, the caller feeds it, then digest_end writes 16 bytes. */
static int digest_begin(EVP_MD_CTX *ctx, const EVP_MD *md)
{
	return EVP_DigestInit_ex(ctx, md, NULL) == 1 ? 0 : -1;
}

static int digest_add(EVP_MD_CTX *ctx, const void *p, size_t n)
{
	return EVP_DigestUpdate(ctx, p, n) == 1 ? 0 : -1;
}

static int digest_end(EVP_MD_CTX *ctx, unsigned char out[16])
{
	return EVP_DigestFinal_ex(ctx, out, NULL) == 1 ? 0 : -1;
}

/*
 * The FreeBSD md5crypt (Poul-Henning Kamp) with Apache's magic "$apr1$", as apr_md5_encode() does it:
 * MD5(pw, magic, salt, …) mixed with MD5(pw, salt, pw), then 1000 rounds, then a permuted base-64.
 */
int sk_hash_apr1(const char *password, size_t password_len, const char *salt, char out[64])
{
	EVP_MD_CTX *ctx = NULL;
	unsigned char fin[16];
	int rc = -1;

	if (!password && password_len)
		return -1;
	if (!salt)
		return -1;
	if (!password)
		password = "";
	if (has_prefix(salt, APR1_MAGIC))
		salt += strlen(APR1_MAGIC);
	size_t sl = 0;
	while (sl < APR1_SALT_MAX && salt[sl] && salt[sl] != '$')
		sl++;

	const EVP_MD *md = EVP_md5();
	ctx = EVP_MD_CTX_new();
	if (!md || !ctx)
		goto out;

	/* The alternate sum: MD5(pw, salt, pw). */
	if (digest_begin(ctx, md) || digest_add(ctx, password, password_len) || digest_add(ctx, salt, sl) ||
	    digest_add(ctx, password, password_len) || digest_end(ctx, fin))
		goto out;

	if (digest_begin(ctx, md) || digest_add(ctx, password, password_len) ||
	    digest_add(ctx, APR1_MAGIC, strlen(APR1_MAGIC)) || digest_add(ctx, salt, sl))
		goto out;
	for (size_t pl = password_len; pl > 0; pl -= SK_MIN(pl, 16))
		if (digest_add(ctx, fin, SK_MIN(pl, 16)))
			goto out;
	/* The historical oddity: for each bit of the length, a NUL byte (bit set) or the first password
	 * character (bit clear). fin is zeroed first, so fin[0] is the NUL. */
	memset(fin, 0, sizeof(fin));
	for (size_t i = password_len; i; i >>= 1)
		if (digest_add(ctx, (i & 1) ? (const void *)fin : (const void *)password, 1))
			goto out;
	if (digest_end(ctx, fin))
		goto out;

	/* 1000 rounds to slow things down (by 1990s standards). */
	for (int i = 0; i < 1000; i++) {
		if (digest_begin(ctx, md))
			goto out;
		if ((i & 1) ? digest_add(ctx, password, password_len) : digest_add(ctx, fin, 16))
			goto out;
		if ((i % 3) && digest_add(ctx, salt, sl))
			goto out;
		if ((i % 7) && digest_add(ctx, password, password_len))
			goto out;
		if ((i & 1) ? digest_add(ctx, fin, 16) : digest_add(ctx, password, password_len))
			goto out;
		if (digest_end(ctx, fin))
			goto out;
	}

	char *p = out;
	memcpy(p, APR1_MAGIC, strlen(APR1_MAGIC));
	p += strlen(APR1_MAGIC);
	memcpy(p, salt, sl);
	p += sl;
	*p++ = '$';
	to64(p, ((unsigned long)fin[0] << 16) | ((unsigned long)fin[6] << 8) | fin[12], 4);
	to64(p + 4, ((unsigned long)fin[1] << 16) | ((unsigned long)fin[7] << 8) | fin[13], 4);
	to64(p + 8, ((unsigned long)fin[2] << 16) | ((unsigned long)fin[8] << 8) | fin[14], 4);
	to64(p + 12, ((unsigned long)fin[3] << 16) | ((unsigned long)fin[9] << 8) | fin[15], 4);
	to64(p + 16, ((unsigned long)fin[4] << 16) | ((unsigned long)fin[10] << 8) | fin[5], 4);
	to64(p + 20, fin[11], 2);
	p[APR1_HASH_CHARS] = '\0';
	rc = 0;
out:
	explicit_bzero(fin, sizeof(fin));
	EVP_MD_CTX_free(ctx);
	return rc;
}

/* "$apr1$" + up to 8 salt characters + '$' + exactly 22 characters of the md5crypt alphabet. */
static bool apr1_well_formed(const char *hash)
{
	const char *s = hash + strlen(APR1_MAGIC);
	const char *dollar = strchr(s, '$');
	if (!dollar || dollar - s > APR1_SALT_MAX)
		return false;
	const char *h = dollar + 1;
	if (strlen(h) != APR1_HASH_CHARS)
		return false;
	return strspn(h, itoa64) == APR1_HASH_CHARS;
}

static int verify_apr1(const char *hash, const char *password, size_t password_len)
{
	char computed[64];
	if (!apr1_well_formed(hash))
		return -1;
	if (sk_hash_apr1(password, password_len, hash, computed) == -1)
		return -1;
	int rc = compare_encoded(computed, hash);
	explicit_bzero(computed, sizeof(computed));
	return rc;
}

/* ---- {SHA} (htpasswd -s) ---- */

static int verify_sha1(const char *hash, const char *password, size_t password_len)
{
	unsigned char md[20];
	char computed[sizeof(SHA1_PREFIX) + 32];
	unsigned int mdlen = 0;
	int rc = -1;

	if (EVP_Digest(password_len ? password : "", password_len, md, &mdlen, EVP_sha1(), NULL) != 1 ||
	    mdlen != sizeof(md))
		goto out;
	memcpy(computed, SHA1_PREFIX, strlen(SHA1_PREFIX));
	EVP_EncodeBlock((unsigned char *)computed + strlen(SHA1_PREFIX), md, sizeof(md)); /* 28 + NUL */
	rc = compare_encoded(computed, hash);
out:
	explicit_bzero(md, sizeof(md));
	explicit_bzero(computed, sizeof(computed));
	return rc;
}

/* ---- the public face ---- */

int sk_hash_verify(const char *hash, const char *password, size_t password_len)
{
	if (!hash || (!password && password_len))
		return -1;
	if (!password)
		password = "";
	enum sk_hash_kind kind = sk_hash_kind(hash);
	switch (kind) {
	case SK_HASH_ARGON2ID:
		return verify_argon2id(hash, password, password_len);
	case SK_HASH_BCRYPT:
	case SK_HASH_YESCRYPT:
	case SK_HASH_SHA512CRYPT:
	case SK_HASH_SHA256CRYPT:
		return verify_crypt(kind, hash, password, password_len);
	case SK_HASH_APR1:
		return verify_apr1(hash, password, password_len);
	case SK_HASH_SHA1:
		return verify_sha1(hash, password, password_len);
	case SK_HASH_UNKNOWN:
		break;
	}
	return -1;
}

/* Makes a crypt hash from a gensalt prefix and count (count 0 = the method's default). */
static char *make_crypt(const char *prefix, unsigned long count, const char *password, size_t password_len)
{
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];
	bool unrepresentable;
	if (!crypt_gensalt_rn(prefix, count, NULL, 0, setting, (int)sizeof(setting)))
		return NULL;
	return crypt_hash(setting, password, password_len, &unrepresentable);
}

char *sk_hash_make(enum sk_hash_kind kind, const char *password, size_t password_len)
{
	if (!password && password_len)
		return NULL;
	if (!password)
		password = "";
	if (kind == SK_HASH_ARGON2ID) {
		struct argon2_params pa = { .m = MAKE_ARGON2_M, .t = MAKE_ARGON2_T, .p = MAKE_ARGON2_P };
		return make_argon2id(&pa, password, password_len);
	}
	if (kind == SK_HASH_BCRYPT)
		return make_crypt("$2y$", MAKE_BCRYPT_COST, password, password_len);
	return NULL;
}

/* A random password for a dummy hash: 32 hex characters (no NUL, fine for crypt). Never empty, so a dummy
 * can never match the empty password; 128 random bits, so it matches nothing else either. */
static void dummy_password(char out[33])
{
	unsigned char raw[16];
	if (random_bytes(raw, sizeof(raw)) == -1)
		sk_panic(__FILE__, __LINE__, "getrandom failed");
	for (size_t i = 0; i < sizeof(raw); i++) {
		out[2 * i] = "0123456789abcdef"[raw[i] >> 4];
		out[2 * i + 1] = "0123456789abcdef"[raw[i] & 15];
	}
	out[32] = '\0';
	explicit_bzero(raw, sizeof(raw));
}

/* bcrypt "$2x$NN$…": keeps the variant letter and the cost; anything unreadable gets cost 10. */
static char *dummy_bcrypt(const char *like, const char *pw)
{
	char prefix[5] = "$2y$";
	unsigned long cost = MAKE_BCRYPT_COST;
	if (like) {
		prefix[2] = like[2];
		if (like[4] >= '0' && like[4] <= '9' && like[5] >= '0' && like[5] <= '9' && like[6] == '$') {
			unsigned long c = (unsigned long)(like[4] - '0') * 10 + (unsigned long)(like[5] - '0');
			if (c >= 4 && c <= 31)
				cost = c;
		}
	}
	char *h = make_crypt(prefix, cost, pw, strlen(pw));
	return h ? h : make_crypt("$2y$", MAKE_BCRYPT_COST, pw, strlen(pw));
}

/*
 * yescrypt "$y$PARAMS$salt$hash": the parameter field (N, r, p and flags in yescrypt's own encoding) is
 * kept verbatim and only the salt is replaced, taken from a fresh crypt_gensalt_rn("$y$") setting (the
 * salt's encoding does not depend on the parameters). If libxcrypt refuses the spliced setting, the
 * default yescrypt parameters are used.
 */
static char *dummy_yescrypt(const char *like, const char *pw)
{
	char fresh[CRYPT_GENSALT_OUTPUT_SIZE], setting[CRYPT_OUTPUT_SIZE];
	bool unrepresentable;
	char *h = NULL;

	if (!crypt_gensalt_rn("$y$", 0, NULL, 0, fresh, (int)sizeof(fresh)))
		return NULL;
	const char *params = like + 3;
	size_t plen = strspn(params, itoa64);
	const char *fresh_salt = strchr(fresh + 3, '$');
	if (plen > 0 && params[plen] == '$' && fresh_salt &&
	    (size_t)snprintf(setting, sizeof(setting), "$y$%.*s%s", (int)plen, params, fresh_salt) <
		    sizeof(setting))
		h = crypt_hash(setting, pw, strlen(pw), &unrepresentable);
	return h ? h : crypt_hash(fresh, pw, strlen(pw), &unrepresentable);
}

/* sha512crypt / sha256crypt "$N$[rounds=R$]salt$hash": keeps rounds= when present. */
static char *dummy_shacrypt(const char *like, const char *pw)
{
	const char *prefix = like[1] == '6' ? "$6$" : "$5$";
	unsigned long rounds = 0; /* default (5000), written without rounds= */
	const char *s = like + 3;
	uint32_t r;
	if (has_prefix(s, "rounds=")) {
		s += strlen("rounds=");
		if (parse_u32(&s, &r) == 0 && *s == '$')
			rounds = r; /* libxcrypt clamps to [1000, 999999999] as crypt itself does */
	}
	char *h = make_crypt(prefix, rounds, pw, strlen(pw));
	return h ? h : make_crypt(prefix, 0, pw, strlen(pw));
}

char *sk_hash_dummy(const char *like)
{
	char pw[33];
	char *h = NULL;

	dummy_password(pw);
	switch (sk_hash_kind(like)) {
	case SK_HASH_ARGON2ID: {
		struct argon2_params pa;
		if (parse_argon2_params(like, &pa) == -1)
			pa = (struct argon2_params){ .m = MAKE_ARGON2_M, .t = MAKE_ARGON2_T, .p = MAKE_ARGON2_P };
		h = make_argon2id(&pa, pw, strlen(pw));
		break;
	}
	case SK_HASH_BCRYPT:
		h = dummy_bcrypt(like, pw);
		break;
	case SK_HASH_YESCRYPT:
		h = dummy_yescrypt(like, pw);
		break;
	case SK_HASH_SHA512CRYPT:
	case SK_HASH_SHA256CRYPT:
		h = dummy_shacrypt(like, pw);
		break;
	case SK_HASH_APR1:
	case SK_HASH_SHA1:
	case SK_HASH_UNKNOWN:
		break;
	}
	if (!h)
		h = dummy_bcrypt(NULL, pw);
	explicit_bzero(pw, sizeof(pw));
	if (!h)
		sk_panic(__FILE__, __LINE__, "cannot make a dummy password hash");
	return h;
}

/* ---- the costliest hash (the stand-in's model) ---- */

/* bcrypt's cost ("$2y$NN$"), or -1. */
static int bcrypt_cost(const char *h)
{
	if (h[4] < '0' || h[4] > '9' || h[5] < '0' || h[5] > '9' || h[6] != '$')
		return -1;
	return (h[4] - '0') * 10 + (h[5] - '0');
}

/* sha*crypt's rounds (5000 when not written), or 0 when unreadable. */
static uint32_t shacrypt_rounds(const char *h)
{
	const char *s = h + 3;
	uint32_t r = 5000;
	if (has_prefix(s, "rounds=")) {
		s += strlen("rounds=");
		if (parse_u32(&s, &r) == -1 || *s != '$')
			return 0;
	}
	return r;
}

/* The parameter field of an argon2id or yescrypt hash: everything before the salt. */
static size_t params_len(const char *h)
{
	const char *salt = strrchr(h, '$'); /* the digest follows the last '$' */
	if (!salt || salt == h)
		return 0;
	const char *end = salt;
	while (end > h && end[-1] != '$')
		end--; /* back over the salt */
	return (size_t)(end - h);
}

uint64_t sk_hash_time_ns(const char *hash, unsigned runs)
{
	uint64_t best = UINT64_MAX;
	for (unsigned i = 0; i < runs; i++) {
		struct timespec a, b;
		clock_gettime(CLOCK_MONOTONIC, &a);
		(void)sk_hash_verify(hash, "x", 1);
		clock_gettime(CLOCK_MONOTONIC, &b);
		uint64_t t = (uint64_t)(b.tv_sec - a.tv_sec) * 1000000000u + (uint64_t)b.tv_nsec - (uint64_t)a.tv_nsec;
		best = SK_MIN(best, t);
	}
	return runs ? best : 0;
}

bool sk_hash_same_work(const char *a, const char *b)
{
	enum sk_hash_kind k = sk_hash_kind(a);
	if (k != sk_hash_kind(b))
		return false;
	switch (k) {
	case SK_HASH_BCRYPT:
		return bcrypt_cost(a) == bcrypt_cost(b);
	case SK_HASH_SHA512CRYPT:
	case SK_HASH_SHA256CRYPT:
		return shacrypt_rounds(a) == shacrypt_rounds(b);
	case SK_HASH_ARGON2ID:
	case SK_HASH_YESCRYPT: {
		size_t la = params_len(a);
		if (la == 0 || la != params_len(b))
			return false;
		return memcmp(a, b, la) == 0;
	}
	default:
		return false;
	}
}

const char *sk_hash_costliest(const char *const *hashes, size_t n)
{
	const char *bcrypt = NULL, *sha512 = NULL, *sha256 = NULL;
	const char *timed[SK_HASH_COSTLIEST_TIMED + 3];
	size_t n_timed = 0, n_distinct = 0;
	for (size_t i = 0; i < n; i++) {
		const char *h = hashes[i];
		switch (sk_hash_kind(h)) {
		case SK_HASH_BCRYPT:
			if (bcrypt_cost(h) >= 4 && (!bcrypt || bcrypt_cost(h) > bcrypt_cost(bcrypt)))
				bcrypt = h;
			break;
		case SK_HASH_SHA512CRYPT:
			if (shacrypt_rounds(h) && (!sha512 || shacrypt_rounds(h) > shacrypt_rounds(sha512)))
				sha512 = h;
			break;
		case SK_HASH_SHA256CRYPT:
			if (shacrypt_rounds(h) && (!sha256 || shacrypt_rounds(h) > shacrypt_rounds(sha256)))
				sha256 = h;
			break;
		case SK_HASH_ARGON2ID:
		case SK_HASH_YESCRYPT: {
			/* Parameters of different meaning (argon2's lanes run in parallel; yescrypt's N and r are
			 * encoded): time each distinct set rather than guess an order. */
			size_t pl = params_len(h);
			if (pl == 0 || n_distinct >= SK_HASH_COSTLIEST_TIMED)
				break;
			bool seen = false;
			for (size_t k = 0; k < n_timed && !seen; k++)
				seen = params_len(timed[k]) == pl && memcmp(timed[k], h, pl) == 0;
			if (!seen) {
				timed[n_timed++] = h;
				n_distinct++;
			}
			break;
		}
		default:
			break;
		}
	}
	if (bcrypt)
		timed[n_timed++] = bcrypt;
	if (sha512)
		timed[n_timed++] = sha512;
	if (sha256)
		timed[n_timed++] = sha256;
	if (n_timed <= 1)
		return n_timed ? timed[0] : NULL;
	/* The faster of two runs: preemption only ever adds time. */
	const char *best = NULL;
	uint64_t best_ns = 0;
	for (size_t k = 0; k < n_timed; k++) {
		uint64_t t = sk_hash_time_ns(timed[k], 2);
		if (!best || t > best_ns) {
			best = timed[k];
			best_ns = t;
		}
	}
	return best;
}

