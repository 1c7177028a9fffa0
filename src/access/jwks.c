/*
 * jwks.c — JSON Web Key Sets (RFC 7517/7518/8037) turned into OpenSSL public keys, and the signature check
 * of one key for one algorithm. A key knows the one family of algorithms it may verify; the token's `alg`
 * is checked against it here, so no caller can verify an HS256 token with an RSA public key's bytes or an
 * ES384 token with a P-256 key.
 */
#include "access/jwt.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

enum kty { KTY_EC256, KTY_EC384, KTY_RSA, KTY_ED25519, KTY_OCT };

struct jwk {
	enum kty kty;
	bool has_kid;
	char kid[128];
	int alg;                  /* the key's own `alg`, or -1 */
	EVP_PKEY *pkey;           /* public keys */
	uint8_t secret[128];      /* oct */
	size_t secret_len;
};

struct sk_jwks {
	struct jwk *keys;
	size_t n;
};

#define MAX_KEYS 64

static const char *const ALG_NAMES[SK_JWT_N_ALGS] = {
	[SK_JWT_HS256] = "HS256", [SK_JWT_RS256] = "RS256", [SK_JWT_PS256] = "PS256",
	[SK_JWT_ES256] = "ES256", [SK_JWT_ES384] = "ES384", [SK_JWT_EDDSA] = "EdDSA",
};

int sk_jwt_alg_parse(const char *name)
{
	for (int a = 0; a < SK_JWT_N_ALGS; a++)
		if (strcmp(name, ALG_NAMES[a]) == 0)
			return a;
	return -1;
}

const char *sk_jwt_alg_name(enum sk_jwt_alg alg)
{
	return (unsigned)alg < SK_JWT_N_ALGS ? ALG_NAMES[alg] : "?";
}

static enum kty kty_of_alg(enum sk_jwt_alg alg)
{
	switch (alg) {
	case SK_JWT_HS256: return KTY_OCT;
	case SK_JWT_RS256:
	case SK_JWT_PS256: return KTY_RSA;
	case SK_JWT_ES256: return KTY_EC256;
	case SK_JWT_ES384: return KTY_EC384;
	default: return KTY_ED25519;
	}
}

/* 1 + the value of each base64url symbol, 0 for any other byte (tokens are decoded on every request). */
const uint8_t sk_b64url_table[256] = {
	['A'] = 1, ['B'] = 2, ['C'] = 3, ['D'] = 4, ['E'] = 5, ['F'] = 6, ['G'] = 7, ['H'] = 8, ['I'] = 9,
	['J'] = 10, ['K'] = 11, ['L'] = 12, ['M'] = 13, ['N'] = 14, ['O'] = 15, ['P'] = 16, ['Q'] = 17, ['R'] = 18,
	['S'] = 19, ['T'] = 20, ['U'] = 21, ['V'] = 22, ['W'] = 23, ['X'] = 24, ['Y'] = 25, ['Z'] = 26, ['a'] = 27,
	['b'] = 28, ['c'] = 29, ['d'] = 30, ['e'] = 31, ['f'] = 32, ['g'] = 33, ['h'] = 34, ['i'] = 35, ['j'] = 36,
	['k'] = 37, ['l'] = 38, ['m'] = 39, ['n'] = 40, ['o'] = 41, ['p'] = 42, ['q'] = 43, ['r'] = 44, ['s'] = 45,
	['t'] = 46, ['u'] = 47, ['v'] = 48, ['w'] = 49, ['x'] = 50, ['y'] = 51, ['z'] = 52, ['0'] = 53, ['1'] = 54,
	['2'] = 55, ['3'] = 56, ['4'] = 57, ['5'] = 58, ['6'] = 59, ['7'] = 60, ['8'] = 61, ['9'] = 62, ['-'] = 63,
	['_'] = 64,
};

/* Strict unpadded base64url (RFC 7515 §2): no '=', no other alphabet, no stray bits in the last symbol. */
long sk_b64url_decode(const char *in, size_t len, uint8_t *out, size_t cap)
{
	if (len % 4 == 1)
		return -1;
	size_t o = 0;
	uint32_t acc = 0;
	unsigned bits = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned v = sk_b64url_table[(unsigned char)in[i]];
		if (v == 0)
			return -1;
		acc = (acc << 6) | (v - 1);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o >= cap)
				return -1;
			out[o++] = (uint8_t)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	if (acc != 0) /* non-zero padding bits: a second spelling of the same bytes */
		return -1;
	return (long)o;
}

/* Decodes member name of key object k as base64url into out; exactly want bytes unless want == 0. */
static long member_b64(const char *s, const struct sk_json_tok *t, int k, const char *name, uint8_t *out,
		       size_t cap, size_t want)
{
	int v = sk_json_get(s, t, k, name);
	if (v < 0 || t[v].type != SK_JSON_STRING)
		return -1;
	long n = sk_b64url_decode(s + t[v].start, t[v].len, out, cap);
	if (n <= 0 || (want && (size_t)n != want))
		return -1;
	return n;
}

static EVP_PKEY *from_params(const char *type, OSSL_PARAM_BLD *bld)
{
	EVP_PKEY *pkey = NULL;
	OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
	if (params && ctx && EVP_PKEY_fromdata_init(ctx) == 1)
		if (EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
			pkey = NULL;
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	return pkey;
}

static EVP_PKEY *ec_key(const char *s, const struct sk_json_tok *t, int k, size_t coord, const char *group)
{
	uint8_t point[1 + 2 * 48];
	point[0] = 0x04; /* uncompressed */
	if (member_b64(s, t, k, "x", point + 1, coord, coord) < 0 ||
	    member_b64(s, t, k, "y", point + 1 + coord, coord, coord) < 0)
		return NULL;
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	EVP_PKEY *pkey = NULL;
	/* fromdata checks that the point is on the curve. */
	if (bld && OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0) == 1 &&
	    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, 1 + 2 * coord) == 1)
		pkey = from_params("EC", bld);
	OSSL_PARAM_BLD_free(bld);
	if (pkey) {
		EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
		if (!c || EVP_PKEY_public_check(c) != 1) {
			EVP_PKEY_free(pkey);
			pkey = NULL;
		}
		EVP_PKEY_CTX_free(c);
	}
	return pkey;
}

static EVP_PKEY *rsa_key(const char *s, const struct sk_json_tok *t, int k)
{
	uint8_t n[1024], e[16];
	long nl = member_b64(s, t, k, "n", n, sizeof(n), 0);
	long el = member_b64(s, t, k, "e", e, sizeof(e), 0);
	/* RFC 7518 §3.3: 2048 bits at least. Leading zero octets are not allowed in n, so the length counts. */
	if (nl < 256 || el <= 0 || n[0] == 0)
		return NULL;
	BIGNUM *bn = BN_bin2bn(n, (int)nl, NULL), *be = BN_bin2bn(e, (int)el, NULL);
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	EVP_PKEY *pkey = NULL;
	if (bn && be && bld && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) == 1 &&
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be) == 1)
		pkey = from_params("RSA", bld);
	OSSL_PARAM_BLD_free(bld);
	BN_free(bn);
	BN_free(be);
	return pkey;
}

static int parse_key(const char *s, const struct sk_json_tok *t, int k, bool allow_oct, struct jwk *out,
		     bool *skip, char *why, size_t why_cap)
{
	static const char *const PRIVATE[] = { "d", "p", "q", "dp", "dq", "qi", "oth", NULL };
	char kty[16] = "", crv[16] = "", buf[128];
	int v;
	*skip = false;
	memset(out, 0, sizeof(*out));
	out->alg = -1;
	if (t[k].type != SK_JSON_OBJECT)
		return snprintf(why, why_cap, "a key is not a JSON object"), -1;
	if ((v = sk_json_get(s, t, k, "kty")) < 0 || sk_json_str(s, &t[v], kty, sizeof(kty)) < 0)
		return snprintf(why, why_cap, "a key has no kty"), -1;
	if ((v = sk_json_get(s, t, k, "use")) >= 0 && !sk_json_str_eq(s, &t[v], "sig")) {
		*skip = true; /* an encryption key: not ours to use */
		return 0;
	}
	if ((v = sk_json_get(s, t, k, "kid")) >= 0) {
		if (sk_json_str(s, &t[v], out->kid, sizeof(out->kid)) < 0)
			return snprintf(why, why_cap, "a key's kid is not a string of at most 127 bytes"), -1;
		out->has_kid = true;
	}
	const char *name = out->has_kid ? out->kid : "(no kid)";
	if ((v = sk_json_get(s, t, k, "alg")) >= 0) {
		if (sk_json_str(s, &t[v], buf, sizeof(buf)) < 0 || (out->alg = sk_jwt_alg_parse(buf)) < 0) {
			*skip = true; /* meant for an algorithm we do not offer */
			return 0;
		}
	}
	for (size_t i = 0; PRIVATE[i]; i++)
		if (sk_json_get(s, t, k, PRIVATE[i]) >= 0)
			return snprintf(why, why_cap, "key %s holds private key material ('%s'): publish only the "
				   "public key", name, PRIVATE[i]), -1;
	if ((v = sk_json_get(s, t, k, "crv")) >= 0 && sk_json_str(s, &t[v], crv, sizeof(crv)) < 0)
		return snprintf(why, why_cap, "key %s: bad crv", name), -1;

	if (strcmp(kty, "EC") == 0) {
		if (strcmp(crv, "P-256") == 0) {
			out->kty = KTY_EC256;
			out->pkey = ec_key(s, t, k, 32, "prime256v1");
		} else if (strcmp(crv, "P-384") == 0) {
			out->kty = KTY_EC384;
			out->pkey = ec_key(s, t, k, 48, "secp384r1");
		} else {
			*skip = true;
			return 0;
		}
	} else if (strcmp(kty, "RSA") == 0) {
		out->kty = KTY_RSA;
		out->pkey = rsa_key(s, t, k);
	} else if (strcmp(kty, "OKP") == 0) {
		if (strcmp(crv, "Ed25519") != 0) {
			*skip = true;
			return 0;
		}
		uint8_t x[32];
		out->kty = KTY_ED25519;
		if (member_b64(s, t, k, "x", x, sizeof(x), sizeof(x)) == 32)
			out->pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, x, sizeof(x));
	} else if (strcmp(kty, "oct") == 0) {
		if (!allow_oct)
			return snprintf(why, why_cap, "key %s is a shared secret (oct): HS256 keys are read only from "
				   "a file (jwks:), never fetched", name), -1;
		out->kty = KTY_OCT;
		long n = member_b64(s, t, k, "k", out->secret, sizeof(out->secret), 0);
		if (n < 32) /* RFC 7518 §3.2: at least the hash's size */
			return snprintf(why, why_cap, "key %s: an HS256 secret must be 32 to 128 bytes", name), -1;
		out->secret_len = (size_t)n;
		return 0;
	} else {
		*skip = true;
		return 0;
	}
	if (!out->pkey)
		return snprintf(why, why_cap, "key %s (%s %s) is malformed", name, kty, crv), -1;
	if (out->alg >= 0 && kty_of_alg((enum sk_jwt_alg)out->alg) != out->kty) {
		EVP_PKEY_free(out->pkey);
		return snprintf(why, why_cap, "key %s: alg %s does not fit a %s key", name,
				sk_jwt_alg_name((enum sk_jwt_alg)out->alg), kty), -1;
	}
	return 0;
}

struct sk_jwks *sk_jwks_parse(const char *json, size_t len, bool allow_oct, char *why, size_t why_cap)
{
	enum { CAP = 4096 };
	struct sk_json_tok *t = sk_calloc(CAP, sizeof(*t));
	struct sk_jwks *set = NULL;
	int keys;
	if (sk_json_parse(json, len, t, CAP) < 0) {
		snprintf(why, why_cap, "not a JSON document (or too large)");
		goto out;
	}
	if ((keys = sk_json_get(json, t, 0, "keys")) < 0 || t[keys].type != SK_JSON_ARRAY) {
		snprintf(why, why_cap, "no \"keys\" array");
		goto out;
	}
	if (t[keys].size > MAX_KEYS) {
		snprintf(why, why_cap, "more than %d keys", MAX_KEYS);
		goto out;
	}
	set = sk_calloc(1, sizeof(*set));
	set->keys = sk_calloc(t[keys].size ? t[keys].size : 1, sizeof(*set->keys));
	for (int k = keys + 1, i = 0; i < (int)t[keys].size; k = (int)t[k].next, i++) {
		bool skip;
		struct jwk key;
		if (parse_key(json, t, k, allow_oct, &key, &skip, why, why_cap) == -1) {
			sk_jwks_free(set);
			set = NULL;
			goto out;
		}
		if (skip)
			continue;
		for (size_t j = 0; j < set->n; j++) {
			if (key.has_kid && set->keys[j].has_kid && strcmp(set->keys[j].kid, key.kid) == 0) {
				snprintf(why, why_cap, "two keys have kid '%s'", key.kid);
				EVP_PKEY_free(key.pkey);
				OPENSSL_cleanse(&key, sizeof(key));
				sk_jwks_free(set);
				set = NULL;
				goto out;
			}
		}
		set->keys[set->n++] = key;
	}
out:
	free(t);
	return set;
}

void sk_jwks_free(struct sk_jwks *set)
{
	if (!set)
		return;
	for (size_t i = 0; i < set->n; i++)
		EVP_PKEY_free(set->keys[i].pkey);
	OPENSSL_cleanse(set->keys, set->n * sizeof(*set->keys));
	free(set->keys);
	free(set);
}

size_t sk_jwks_count(const struct sk_jwks *set)
{
	return set ? set->n : 0;
}

bool sk_jwks_has_kid(const struct sk_jwks *set, const char *kid)
{
	for (size_t i = 0; set && i < set->n; i++)
		if (set->keys[i].has_kid && strcmp(set->keys[i].kid, kid) == 0)
			return true;
	return false;
}

/* The key a token names (kid exact), or without kid the one key that fits alg; NULL with *res set. */
static const struct jwk *select_key(const struct sk_jwks *set, const struct sk_jwt *t, enum sk_jwt_result *res)
{
	enum kty want = kty_of_alg(t->alg);
	if (t->has_kid) {
		for (size_t i = 0; set && i < set->n; i++) {
			const struct jwk *k = &set->keys[i];
			if (!k->has_kid || strcmp(k->kid, t->kid) != 0)
				continue;
			if (k->kty != want || (k->alg >= 0 && k->alg != (int)t->alg)) {
				*res = SK_JWT_BAD_ALG;
				return NULL;
			}
			return k;
		}
		*res = SK_JWT_NO_KEY;
		return NULL;
	}
	const struct jwk *found = NULL;
	size_t n = 0;
	for (size_t i = 0; set && i < set->n; i++) {
		const struct jwk *k = &set->keys[i];
		if (k->kty == want && (k->alg < 0 || k->alg == (int)t->alg)) {
			found = k;
			n++;
		}
	}
	if (n != 1) {
		*res = SK_JWT_NO_KEY;
		return NULL;
	}
	return found;
}

/* JWS ECDSA signatures are r || s (RFC 7518 §3.4); OpenSSL verifies DER. */
static int ecdsa_der(const uint8_t *sig, size_t half, uint8_t *der, size_t cap)
{
	ECDSA_SIG *es = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(sig, (int)half, NULL), *s = BN_bin2bn(sig + half, (int)half, NULL);
	int n = -1;
	if (es && r && s && ECDSA_SIG_set0(es, r, s) == 1) {
		r = s = NULL; /* owned by es now */
		int len = i2d_ECDSA_SIG(es, NULL);
		if (len > 0 && (size_t)len <= cap) {
			uint8_t *p = der;
			n = i2d_ECDSA_SIG(es, &p);
		}
	}
	BN_free(r);
	BN_free(s);
	ECDSA_SIG_free(es);
	return n;
}

static bool verify_pkey(const struct jwk *k, enum sk_jwt_alg alg, const struct sk_jwt *t)
{
	const uint8_t *sig = t->sig;
	size_t sig_len = t->sig_len;
	uint8_t der[128];
	const EVP_MD *md = NULL;
	switch (alg) {
	case SK_JWT_ES256:
	case SK_JWT_ES384: {
		size_t half = alg == SK_JWT_ES256 ? 32 : 48;
		if (t->sig_len != 2 * half)
			return false;
		int n = ecdsa_der(t->sig, half, der, sizeof(der));
		if (n <= 0)
			return false;
		sig = der;
		sig_len = (size_t)n;
		md = alg == SK_JWT_ES256 ? EVP_sha256() : EVP_sha384();
		break;
	}
	case SK_JWT_RS256:
	case SK_JWT_PS256:
		if ((int)sig_len != EVP_PKEY_get_size(k->pkey))
			return false;
		md = EVP_sha256();
		break;
	default: /* EdDSA: the message is signed whole, no digest */
		if (sig_len != 64)
			return false;
		break;
	}
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	bool ok = false;
	if (ctx && EVP_DigestVerifyInit(ctx, &pctx, md, NULL, k->pkey) == 1) {
		bool params = true;
		if (alg == SK_JWT_PS256) /* RFC 7518 §3.5: MGF1 with SHA-256, salt as long as the hash */
			params = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
				 EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) == 1 &&
				 EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 32) == 1;
		else if (alg == SK_JWT_RS256)
			params = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) == 1;
		ok = params && EVP_DigestVerify(ctx, sig, sig_len, (const uint8_t *)t->signing_input,
						t->signing_len) == 1;
	}
	EVP_MD_CTX_free(ctx);
	return ok;
}

enum sk_jwt_result sk_jwks_check_signature(const struct sk_jwks *set, const struct sk_jwt *t)
{
	enum sk_jwt_result res = SK_JWT_OK;
	const struct jwk *k = select_key(set, t, &res);
	if (!k)
		return res;
	if (k->kty == KTY_OCT) {
		uint8_t mac[EVP_MAX_MD_SIZE];
		unsigned mlen = 0;
		if (!HMAC(EVP_sha256(), k->secret, (int)k->secret_len, (const uint8_t *)t->signing_input,
			  t->signing_len, mac, &mlen) || t->sig_len != mlen ||
		    CRYPTO_memcmp(mac, t->sig, mlen) != 0)
			return SK_JWT_BAD_SIGNATURE;
		return SK_JWT_OK;
	}
	return verify_pkey(k, t->alg, t) ? SK_JWT_OK : SK_JWT_BAD_SIGNATURE;
}
