/*
 * jwt_test.c — the strict JSON tokenizer (src/core/json.c), key sets (src/access/jwks.c) and tokens
 * (src/access/jwt.c). Known answers come from RFC 7515 Appendix A (HS256 A.1, ES256 A.3); tokens for the
 * other algorithms are signed here with OpenSSL's EVP API directly (key generation and signing share no
 * code with the verifier), and each refusal class of DESIGN §3 has its case.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rsa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access/jwt.h"
#include "core/core.h"
#include "core/json.h"

/* ---- json ---- */

static int parse(const char *s)
{
	struct sk_json_tok t[64];
	return sk_json_parse(s, strlen(s), t, 64);
}

static void test_json_accepts(void **state)
{
	(void)state;
	const char *ok[] = { "{}", "[]", "0", "-0.5e+3", "\"x\"", "true", " {\"a\": [1, {\"b\": null}], \"c\": false} ",
			     "\"\\u00e9\\ud83d\\ude00\\n\"", "\"caf\xc3\xa9\"", NULL };
	for (int i = 0; ok[i]; i++)
		assert_true(parse(ok[i]) > 0);
	struct sk_json_tok t[16];
	const char *doc = "{\"a\": [1, 2, 3], \"b\": \"x\\\"y\", \"n\": 1300819380.9}";
	assert_int_equal(sk_json_parse(doc, strlen(doc), t, 16), 10);
	assert_int_equal(t[0].size, 3);
	int a = sk_json_get(doc, t, 0, "a");
	assert_int_equal(t[a].type, SK_JSON_ARRAY);
	assert_int_equal(t[a].size, 3);
	char buf[16];
	assert_int_equal(sk_json_str(doc, &t[sk_json_get(doc, t, 0, "b")], buf, sizeof(buf)), 3);
	assert_string_equal(buf, "x\"y");
	int64_t n;
	assert_int_equal(sk_json_int(doc, &t[sk_json_get(doc, t, 0, "n")], &n), 0);
	assert_int_equal(n, 1300819380); /* a fraction is truncated */
	assert_int_equal(sk_json_get(doc, t, 0, "missing"), -1);
	const char *e = "\"\\u00e9\\ud83d\\ude00\"";
	assert_int_equal(sk_json_parse(e, strlen(e), t, 16), 1);
	assert_int_equal(sk_json_str(e, &t[0], buf, sizeof(buf)), 6);
	assert_memory_equal(buf, "\xc3\xa9\xf0\x9f\x98\x80", 6);
}

static void test_json_refuses(void **state)
{
	(void)state;
	const char *bad[] = { "", "{", "{\"a\" 1}", "{\"a\":1,}", "[1,]", "01", "1.", "-", "+1", ".5", "1e",
			      "\"\\x\"", "\"a\nb\"", "\"\xc0\xaf\"", "\"\xed\xa0\x80\"", "\"\xf4\x90\x80\x80\"",
			      "{} {}", "tru", "nul", "{\"a\":1,\"a\":2}", "{\"a\":1,\"\\u0061\":2}", "'x'",
			      "[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]", NULL };
	for (int i = 0; bad[i]; i++) {
		if (parse(bad[i]) != -1)
			fail_msg("accepted: %s", bad[i]);
	}
	/* A lone surrogate escape tokenizes (it is well-formed JSON) but never decodes. */
	const char *s = "\"\\ud800x\"";
	struct sk_json_tok t[2];
	char buf[16];
	assert_int_equal(sk_json_parse(s, strlen(s), t, 2), 1);
	assert_int_equal(sk_json_str(s, &t[0], buf, sizeof(buf)), -1);
	/* Too many tokens for the caller's array. */
	assert_int_equal(sk_json_parse("[1,2,3]", 7, t, 2), -1);
	/* Exponents are not integers. */
	const char *x = "1e3";
	int64_t n;
	assert_int_equal(sk_json_parse(x, 3, t, 2), 1);
	assert_int_equal(sk_json_int(x, &t[0], &n), -1);
	const char *big = "99999999999999999999";
	assert_int_equal(sk_json_parse(big, strlen(big), t, 2), 1);
	assert_int_equal(sk_json_int(big, &t[0], &n), -1);
}

/* ---- base64url ---- */

static void test_b64url(void **state)
{
	(void)state;
	uint8_t out[16];
	assert_int_equal(sk_b64url_decode("aGk", 3, out, sizeof(out)), 2);
	assert_memory_equal(out, "hi", 2);
	assert_int_equal(sk_b64url_decode("-_8", 3, out, sizeof(out)), 2);
	assert_int_equal(sk_b64url_decode("aGk=", 4, out, sizeof(out)), -1); /* no padding */
	assert_int_equal(sk_b64url_decode("aGl", 3, out, sizeof(out)), -1); /* stray bits */
	assert_int_equal(sk_b64url_decode("a+/A", 4, out, sizeof(out)), -1); /* base64, not base64url */
	assert_int_equal(sk_b64url_decode("a", 1, out, sizeof(out)), -1);
	assert_int_equal(sk_b64url_decode("aGVsbG8gd29ybGQ", 15, out, 4), -1); /* over cap */
}

static void b64url(const uint8_t *in, size_t n, char *out)
{
	static const char A[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t o = 0, i = 0;
	for (; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[o++] = A[v >> 18];
		out[o++] = A[v >> 12 & 63];
		out[o++] = A[v >> 6 & 63];
		out[o++] = A[v & 63];
	}
	if (n - i == 1) {
		out[o++] = A[in[i] >> 2];
		out[o++] = A[(in[i] & 3) << 4];
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)in[i] << 8 | in[i + 1];
		out[o++] = A[v >> 10];
		out[o++] = A[v >> 4 & 63];
		out[o++] = A[(v & 15) << 2];
	}
	out[o] = '\0';
}

/* ---- RFC 7515 known answers ---- */

/* RFC 7515 A.1 (HS256) and A.3 (ES256): the header/payload text of the RFC, CRLFs included. */
static const char RFC_HS256[] =
	"eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly"
	"9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
static const char RFC_HS256_JWKS[] =
	"{\"keys\":[{\"kty\":\"oct\",\"k\":\"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4"
	"hcgUuTwjAzZr1Z9CAow\"}]}";
static const char RFC_ES256[] =
	"eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19"
	"yb290Ijp0cnVlfQ.DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";
static const char RFC_ES256_JWKS[] =
	"{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
	"\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}]}";

static struct sk_jwks *jwks(const char *json, bool allow_oct)
{
	char why[256];
	struct sk_jwks *set = sk_jwks_parse(json, strlen(json), allow_oct, why, sizeof(why));
	if (!set)
		fail_msg("jwks refused: %s", why);
	return set;
}

static const char *const JOE_AUD[] = { "api" };

static struct sk_jwt_rules joe_rules(uint32_t algs)
{
	return (struct sk_jwt_rules){ .issuer = "joe", .audiences = JOE_AUD, .n_audiences = 1, .algs = algs,
				      .leeway_s = 60 };
}

static void test_rfc7515_vectors(void **state)
{
	(void)state;
	struct sk_jwt *t = malloc(sizeof(*t));
	struct sk_jwks *hs = jwks(RFC_HS256_JWKS, true), *es = jwks(RFC_ES256_JWKS, false);

	assert_int_equal(sk_jwt_decode(RFC_HS256, strlen(RFC_HS256), t), SK_JWT_OK);
	assert_int_equal(t->alg, SK_JWT_HS256);
	assert_int_equal(sk_jwks_check_signature(hs, t), SK_JWT_OK);
	char buf[64];
	assert_int_equal(sk_jwt_claim_text(t, "http://example.com/is_root", buf, sizeof(buf)), 4);
	assert_string_equal(buf, "true");
	assert_int_equal(sk_jwt_issuer(t, buf, sizeof(buf)), 3);
	/* The RFC's token has no aud: every claim rule before it passes at its own time. */
	struct sk_jwt_rules r = joe_rules(1u << SK_JWT_HS256);
	assert_int_equal(sk_jwt_verify(t, hs, &r, 1300819300), SK_JWT_BAD_AUDIENCE);
	assert_int_equal(sk_jwt_verify(t, hs, &r, 1300819380 + 61), SK_JWT_EXPIRED);
	/* The same signature checked against the EC key set: no key of the algorithm's type. */
	assert_int_equal(sk_jwks_check_signature(es, t), SK_JWT_NO_KEY);
	/* HS256 not in the issuer's list. */
	r.algs = 1u << SK_JWT_ES256;
	assert_int_equal(sk_jwt_verify(t, hs, &r, 1300819300), SK_JWT_BAD_ALG);

	assert_int_equal(sk_jwt_decode(RFC_ES256, strlen(RFC_ES256), t), SK_JWT_OK);
	assert_int_equal(t->alg, SK_JWT_ES256);
	assert_int_equal(sk_jwks_check_signature(es, t), SK_JWT_OK);
	t->sig[10] ^= 1;
	assert_int_equal(sk_jwks_check_signature(es, t), SK_JWT_BAD_SIGNATURE);

	/* A tampered payload: the RFC token with "joe" changed to "jof". */
	char tampered[sizeof(RFC_ES256)];
	memcpy(tampered, RFC_ES256, sizeof(RFC_ES256));
	char *p = strstr(tampered, ".eyJpc3MiOiJqb2Ui");
	p[12] = 'Z'; /* "Ijqb2Ui" → another issuer text, still base64url */
	assert_int_equal(sk_jwt_decode(tampered, strlen(tampered), t), SK_JWT_OK);
	assert_int_equal(sk_jwks_check_signature(es, t), SK_JWT_BAD_SIGNATURE);
	sk_jwks_free(hs);
	sk_jwks_free(es);
	free(t);
}

/* ---- tokens made here ---- */

struct key {
	EVP_PKEY *pkey;
	enum sk_jwt_alg alg;
	char jwk[1200];
};

static void jwk_of(struct key *k, const char *kid)
{
	char x[700], y[100], kidm[160] = "";
	if (kid)
		snprintf(kidm, sizeof(kidm), "\"kid\":\"%s\",", kid);
	uint8_t buf[600];
	size_t len = 0;
	if (k->alg == SK_JWT_ES256 || k->alg == SK_JWT_ES384) {
		assert_int_equal(EVP_PKEY_get_octet_string_param(k->pkey, OSSL_PKEY_PARAM_PUB_KEY, buf, sizeof(buf), &len), 1);
		size_t c = (len - 1) / 2;
		b64url(buf + 1, c, x);
		b64url(buf + 1 + c, c, y);
		snprintf(k->jwk, sizeof(k->jwk), "{%s\"kty\":\"EC\",\"crv\":\"%s\",\"x\":\"%s\",\"y\":\"%s\"}", kidm,
			 k->alg == SK_JWT_ES256 ? "P-256" : "P-384", x, y);
	} else if (k->alg == SK_JWT_EDDSA) {
		len = 32;
		assert_int_equal(EVP_PKEY_get_raw_public_key(k->pkey, buf, &len), 1);
		b64url(buf, len, x);
		snprintf(k->jwk, sizeof(k->jwk), "{%s\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"%s\"}", kidm, x);
	} else {
		BIGNUM *n = NULL, *e = NULL;
		assert_int_equal(EVP_PKEY_get_bn_param(k->pkey, OSSL_PKEY_PARAM_RSA_N, &n), 1);
		assert_int_equal(EVP_PKEY_get_bn_param(k->pkey, OSSL_PKEY_PARAM_RSA_E, &e), 1);
		len = (size_t)BN_bn2bin(n, buf);
		b64url(buf, len, x);
		len = (size_t)BN_bn2bin(e, buf);
		b64url(buf, len, y);
		snprintf(k->jwk, sizeof(k->jwk), "{%s\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"%s\"}", kidm, x, y);
		BN_free(n);
		BN_free(e);
	}
}

static struct key *key_new(enum sk_jwt_alg alg, const char *kid)
{
	struct key *k = calloc(1, sizeof(*k));
	k->alg = alg;
	switch (alg) {
	case SK_JWT_ES256: k->pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"); break;
	case SK_JWT_ES384: k->pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384"); break;
	case SK_JWT_EDDSA: k->pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519"); break;
	default: k->pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048); break;
	}
	assert_non_null(k->pkey);
	jwk_of(k, kid);
	return k;
}

static void key_free(struct key *k)
{
	EVP_PKEY_free(k->pkey);
	free(k);
}

/* Signs header.payload (JSON texts) with k under alg and writes the compact token into out. */
static void sign(const struct key *k, enum sk_jwt_alg alg, const char *header, const char *payload, char *out)
{
	char h[1400], p[1400];
	b64url((const uint8_t *)header, strlen(header), h);
	b64url((const uint8_t *)payload, strlen(payload), p);
	int n = sprintf(out, "%s.%s", h, p);
	uint8_t sig[600];
	size_t slen = sizeof(sig);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	const EVP_MD *md = alg == SK_JWT_EDDSA ? NULL : alg == SK_JWT_ES384 ? EVP_sha384() : EVP_sha256();
	assert_int_equal(EVP_DigestSignInit(ctx, &pctx, md, NULL, k->pkey), 1);
	if (alg == SK_JWT_PS256) {
		EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING);
		EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 32);
	}
	assert_int_equal(EVP_DigestSign(ctx, sig, &slen, (uint8_t *)out, (size_t)n), 1);
	EVP_MD_CTX_free(ctx);
	if (alg == SK_JWT_ES256 || alg == SK_JWT_ES384) { /* DER → r || s */
		size_t half = alg == SK_JWT_ES256 ? 32 : 48;
		const uint8_t *q = sig;
		ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &q, (long)slen);
		uint8_t rs[96];
		BN_bn2binpad(ECDSA_SIG_get0_r(es), rs, (int)half);
		BN_bn2binpad(ECDSA_SIG_get0_s(es), rs + half, (int)half);
		ECDSA_SIG_free(es);
		memcpy(sig, rs, 2 * half);
		slen = 2 * half;
	}
	out[n++] = '.';
	b64url(sig, slen, out + n);
}

static void hs_sign(const uint8_t *secret, size_t slen, const char *header, const char *payload, char *out)
{
	char h[1400], p[1400];
	b64url((const uint8_t *)header, strlen(header), h);
	b64url((const uint8_t *)payload, strlen(payload), p);
	int n = sprintf(out, "%s.%s", h, p);
	uint8_t mac[32];
	unsigned ml = 0;
	HMAC(EVP_sha256(), secret, (int)slen, (uint8_t *)out, (size_t)n, mac, &ml);
	out[n++] = '.';
	b64url(mac, ml, out + n);
}

#define NOW 1800000000LL

static enum sk_jwt_result check(const char *tok, const struct sk_jwks *set, const struct sk_jwt_rules *r)
{
	struct sk_jwt *t = malloc(sizeof(*t));
	enum sk_jwt_result res = sk_jwt_decode(tok, strlen(tok), t);
	if (res == SK_JWT_OK)
		res = sk_jwt_verify(t, set, r, NOW);
	free(t);
	return res;
}

static char *jwks_of(struct key **keys, size_t n)
{
	char *s = malloc(8192);
	size_t o = (size_t)sprintf(s, "{\"keys\":[");
	for (size_t i = 0; i < n; i++)
		o += (size_t)sprintf(s + o, "%s%s", i ? "," : "", keys[i]->jwk);
	sprintf(s + o, "]}");
	return s;
}

static const char *const AUDS[] = { "intranet", "other" };

static struct sk_jwt_rules rules_all(void)
{
	return (struct sk_jwt_rules){ .issuer = "https://idp.test", .audiences = AUDS, .n_audiences = 2,
				      .algs = (1u << SK_JWT_N_ALGS) - 1, .leeway_s = 60, .max_lifetime_s = 86400 };
}

static void payload(char *out, const char *extra)
{
	sprintf(out, "{\"iss\":\"https://idp.test\",\"aud\":\"intranet\",\"sub\":\"alice\",\"iat\":%lld,\"exp\":%lld%s}",
		NOW - 10, NOW + 600, extra);
}

static void test_every_algorithm_verifies(void **state)
{
	(void)state;
	enum sk_jwt_alg algs[] = { SK_JWT_RS256, SK_JWT_PS256, SK_JWT_ES256, SK_JWT_ES384, SK_JWT_EDDSA };
	char tok[4096], pl[512], hdr[128];
	payload(pl, "");
	struct sk_jwt_rules r = rules_all();
	for (size_t i = 0; i < SK_ARRAY_LEN(algs); i++) {
		struct key *k = key_new(algs[i], "k1");
		char *set_json = jwks_of(&k, 1);
		struct sk_jwks *set = jwks(set_json, false);
		sprintf(hdr, "{\"alg\":\"%s\",\"kid\":\"k1\",\"typ\":\"JWT\"}", sk_jwt_alg_name(algs[i]));
		sign(k, algs[i], hdr, pl, tok);
		if (check(tok, set, &r) != SK_JWT_OK)
			fail_msg("%s did not verify", sk_jwt_alg_name(algs[i]));
		/* Not in the issuer's list. */
		struct sk_jwt_rules only = r;
		only.algs = (1u << SK_JWT_N_ALGS) - 1 - (1u << algs[i]);
		assert_int_equal(check(tok, set, &only), SK_JWT_BAD_ALG);
		/* Tampered signature. */
		char *last = strrchr(tok, '.') + 5;
		*last = *last == 'A' ? 'B' : 'A';
		assert_int_equal(check(tok, set, &r), SK_JWT_BAD_SIGNATURE);
		sk_jwks_free(set);
		free(set_json);
		key_free(k);
	}
	/* RS256 signed, announced as PS256 (and the reverse): the padding is part of the algorithm. */
	struct key *k = key_new(SK_JWT_RS256, "k1");
	char *set_json = jwks_of(&k, 1);
	struct sk_jwks *set = jwks(set_json, false);
	sign(k, SK_JWT_RS256, "{\"alg\":\"PS256\",\"kid\":\"k1\"}", pl, tok);
	assert_int_equal(check(tok, set, &r), SK_JWT_BAD_SIGNATURE);
	/* An EC token announced as RS256 against the RSA key. */
	struct key *ec = key_new(SK_JWT_ES256, "k1");
	sign(ec, SK_JWT_ES256, "{\"alg\":\"RS256\",\"kid\":\"k1\"}", pl, tok);
	assert_int_equal(check(tok, set, &r), SK_JWT_BAD_SIGNATURE);
	/* ES256 announced with the RSA key's kid: the kid's key is not of the algorithm's type. */
	sign(ec, SK_JWT_ES256, "{\"alg\":\"ES256\",\"kid\":\"k1\"}", pl, tok);
	assert_int_equal(check(tok, set, &r), SK_JWT_BAD_ALG);
	sk_jwks_free(set);
	free(set_json);
	key_free(k);
	key_free(ec);
}

static void test_hs256_with_a_public_key_is_refused(void **state)
{
	(void)state;
	/* The classic confusion: HMAC keyed with the RSA public key's bytes. Only oct keys verify HS256. */
	struct key *k = key_new(SK_JWT_RS256, "k1");
	char *set_json = jwks_of(&k, 1);
	struct sk_jwks *set = jwks(set_json, false);
	char tok[4096], pl[512];
	payload(pl, "");
	hs_sign((const uint8_t *)k->jwk, strlen(k->jwk), "{\"alg\":\"HS256\",\"kid\":\"k1\"}", pl, tok);
	struct sk_jwt_rules r = rules_all();
	assert_int_equal(check(tok, set, &r), SK_JWT_BAD_ALG);
	hs_sign((const uint8_t *)k->jwk, strlen(k->jwk), "{\"alg\":\"HS256\"}", pl, tok);
	assert_int_equal(check(tok, set, &r), SK_JWT_NO_KEY);
	sk_jwks_free(set);
	free(set_json);
	key_free(k);

	/* A real oct key from a file verifies; fetched key sets may not hold one. */
	uint8_t secret[32];
	memset(secret, 7, sizeof(secret));
	char k64[64], json[256];
	b64url(secret, sizeof(secret), k64);
	sprintf(json, "{\"keys\":[{\"kty\":\"oct\",\"kid\":\"s\",\"k\":\"%s\"}]}", k64);
	char why[256];
	assert_null(sk_jwks_parse(json, strlen(json), false, why, sizeof(why)));
	assert_non_null(strstr(why, "never fetched"));
	set = jwks(json, true);
	hs_sign(secret, sizeof(secret), "{\"alg\":\"HS256\",\"kid\":\"s\"}", pl, tok);
	assert_int_equal(check(tok, set, &r), SK_JWT_OK);
	sk_jwks_free(set);
	/* A short secret is refused at load. */
	b64url(secret, 16, k64);
	sprintf(json, "{\"keys\":[{\"kty\":\"oct\",\"k\":\"%s\"}]}", k64);
	assert_null(sk_jwks_parse(json, strlen(json), true, why, sizeof(why)));
}

static void test_refused_headers(void **state)
{
	(void)state;
	struct key *k = key_new(SK_JWT_ES256, "k1");
	char *set_json = jwks_of(&k, 1);
	struct sk_jwks *set = jwks(set_json, false);
	struct sk_jwt_rules r = rules_all();
	char tok[4096], pl[512], hdr[1400];
	payload(pl, "");
	const char *extras[] = { ",\"jku\":\"https://evil.test/jwks\"", ",\"x5u\":\"https://evil.test/c.pem\"",
				 ",\"crit\":[\"exp\"]", NULL };
	for (int i = 0; extras[i]; i++) {
		sprintf(hdr, "{\"alg\":\"ES256\",\"kid\":\"k1\"%s}", extras[i]);
		sign(k, SK_JWT_ES256, hdr, pl, tok);
		assert_int_equal(check(tok, set, &r), SK_JWT_BAD_HEADER);
	}
	/* An embedded jwk, even the right one. */
	sprintf(hdr, "{\"alg\":\"ES256\",\"kid\":\"k1\",\"jwk\":%s}", k->jwk);
	sign(k, SK_JWT_ES256, hdr, pl, tok);
	assert_int_equal(check(tok, set, &r), SK_JWT_BAD_HEADER);
	/* alg none, with or without a signature part; alg missing; unknown alg. */
	char h[64], p[1400];
	b64url((const uint8_t *)"{\"alg\":\"none\"}", 14, h);
	b64url((const uint8_t *)pl, strlen(pl), p);
	sprintf(tok, "%s.%s.", h, p);
	assert_int_equal(check(tok, set, &r), SK_JWT_MALFORMED);
	sprintf(tok, "%s.%s.AAAA", h, p);
	assert_int_equal(check(tok, set, &r), SK_JWT_BAD_HEADER);
	sign(k, SK_JWT_ES256, "{\"kid\":\"k1\"}", pl, tok);
	assert_int_equal(check(tok, set, &r), SK_JWT_BAD_HEADER);
	sign(k, SK_JWT_ES256, "{\"alg\":\"ES512\",\"kid\":\"k1\"}", pl, tok);
	assert_int_equal(check(tok, set, &r), SK_JWT_BAD_HEADER);
	/* Duplicate alg members: refused as malformed JSON, not resolved either way. */
	sign(k, SK_JWT_ES256, "{\"alg\":\"HS256\",\"alg\":\"ES256\",\"kid\":\"k1\"}", pl, tok);
	assert_int_equal(check(tok, set, &r), SK_JWT_MALFORMED);
	sk_jwks_free(set);
	free(set_json);
	key_free(k);
}

static void test_kid_rules(void **state)
{
	(void)state;
	struct key *a = key_new(SK_JWT_ES256, "a"), *b = key_new(SK_JWT_ES256, "b");
	struct key *both[] = { a, b };
	char *json2 = jwks_of(both, 2), *json1 = jwks_of(&a, 1);
	struct sk_jwks *set2 = jwks(json2, false), *set1 = jwks(json1, false);
	struct sk_jwt_rules r = rules_all();
	char tok[4096], pl[512];
	payload(pl, "");
	sign(b, SK_JWT_ES256, "{\"alg\":\"ES256\",\"kid\":\"b\"}", pl, tok);
	assert_int_equal(check(tok, set2, &r), SK_JWT_OK);
	assert_int_equal(check(tok, set1, &r), SK_JWT_NO_KEY);   /* unknown kid */
	sign(b, SK_JWT_ES256, "{\"alg\":\"ES256\",\"kid\":\"B\"}", pl, tok);
	assert_int_equal(check(tok, set2, &r), SK_JWT_NO_KEY);   /* exact match only */
	sign(a, SK_JWT_ES256, "{\"alg\":\"ES256\",\"kid\":\"b\"}", pl, tok);
	assert_int_equal(check(tok, set2, &r), SK_JWT_BAD_SIGNATURE); /* a's signature under b's kid */
	sign(a, SK_JWT_ES256, "{\"alg\":\"ES256\"}", pl, tok);
	assert_int_equal(check(tok, set1, &r), SK_JWT_OK);       /* no kid, one candidate */
	assert_int_equal(check(tok, set2, &r), SK_JWT_NO_KEY);   /* no kid, two candidates */
	assert_true(sk_jwks_has_kid(set2, "b"));
	assert_false(sk_jwks_has_kid(set1, "b"));
	sk_jwks_free(set1);
	sk_jwks_free(set2);
	free(json1);
	free(json2);
	key_free(a);
	key_free(b);
}

static void test_claim_rules(void **state)
{
	(void)state;
	struct key *k = key_new(SK_JWT_EDDSA, "k");
	char *json = jwks_of(&k, 1);
	struct sk_jwks *set = jwks(json, false);
	struct sk_jwt_rules r = rules_all();
	struct {
		const char *payload;
		enum sk_jwt_result want;
	} cases[] = {
		{ "{\"iss\":\"https://idp.test\",\"aud\":\"intranet\",\"exp\":%lld}", SK_JWT_OK },
		{ "{\"iss\":\"https://idp.test\",\"aud\":\"intranet\"}", SK_JWT_NO_EXP },
		{ "{\"iss\":\"https://idp.test\",\"aud\":\"intranet\",\"exp\":\"soon\"}", SK_JWT_MALFORMED },
		{ "{\"iss\":\"https://idp.test\",\"aud\":[\"x\",\"other\"],\"exp\":%lld}", SK_JWT_OK },
		{ "{\"iss\":\"https://idp.test\",\"aud\":[\"x\",\"y\"],\"exp\":%lld}", SK_JWT_BAD_AUDIENCE },
		{ "{\"iss\":\"https://idp.test\",\"aud\":\"Intranet\",\"exp\":%lld}", SK_JWT_BAD_AUDIENCE },
		{ "{\"iss\":\"https://idp.test\",\"exp\":%lld}", SK_JWT_BAD_AUDIENCE },
		{ "{\"iss\":\"https://idp.test/\",\"aud\":\"intranet\",\"exp\":%lld}", SK_JWT_BAD_ISSUER },
		{ "{\"aud\":\"intranet\",\"exp\":%lld}", SK_JWT_BAD_ISSUER },
	};
	char tok[4096], pl[512];
	for (size_t i = 0; i < SK_ARRAY_LEN(cases); i++) {
		snprintf(pl, sizeof(pl), cases[i].payload, NOW + 600);
		sign(k, SK_JWT_EDDSA, "{\"alg\":\"EdDSA\",\"kid\":\"k\"}", pl, tok);
		if (check(tok, set, &r) != cases[i].want)
			fail_msg("case %zu: %s gave %s", i, pl, sk_jwt_result_text(check(tok, set, &r)));
	}
	/* Time rules, with a 60 s leeway. */
	struct {
		long long exp, nbf, iat; /* 0 = absent */
		enum sk_jwt_result want;
	} times[] = {
		{ NOW + 10, 0, 0, SK_JWT_OK },
		{ NOW - 59, 0, 0, SK_JWT_OK },              /* within the leeway */
		{ NOW - 61, 0, 0, SK_JWT_EXPIRED },
		{ NOW + 600, NOW + 59, 0, SK_JWT_OK },
		{ NOW + 600, NOW + 61, 0, SK_JWT_NOT_YET_VALID },
		{ NOW + 600, 0, NOW + 61, SK_JWT_NOT_YET_VALID }, /* issued in the future */
		{ NOW + 86400, 0, NOW - 1, SK_JWT_TOO_LONG_LIVED },
		{ NOW + 86000, 0, NOW - 400, SK_JWT_OK },
		{ NOW + 90000, 0, 0, SK_JWT_TOO_LONG_LIVED }, /* no iat: what is left of it counts */
		{ 9223372036854775807LL, 0, -9223372036854775807LL, SK_JWT_TOO_LONG_LIVED }, /* no overflow */
	};
	for (size_t i = 0; i < SK_ARRAY_LEN(times); i++) {
		int o = sprintf(pl, "{\"iss\":\"https://idp.test\",\"aud\":\"intranet\",\"exp\":%lld", times[i].exp);
		if (times[i].nbf)
			o += sprintf(pl + o, ",\"nbf\":%lld", times[i].nbf);
		if (times[i].iat)
			o += sprintf(pl + o, ",\"iat\":%lld", times[i].iat);
		sprintf(pl + o, "}");
		sign(k, SK_JWT_EDDSA, "{\"alg\":\"EdDSA\"}", pl, tok);
		if (check(tok, set, &r) != times[i].want)
			fail_msg("time case %zu: %s gave %s", i, pl, sk_jwt_result_text(check(tok, set, &r)));
	}
	sk_jwks_free(set);
	free(json);
	key_free(k);
}

static void test_jwks_refusals(void **state)
{
	(void)state;
	char why[256];
	struct {
		const char *json;
		const char *why;
	} bad[] = {
		{ "[]", "no \"keys\"" },
		{ "{\"keys\":{}}", "no \"keys\"" },
		{ "{\"keys\":[{\"crv\":\"P-256\"}]}", "no kty" },
		{ "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AAAA\",\"y\":\"AAAA\"}]}", "malformed" },
		{ "{\"keys\":[{\"kty\":\"RSA\",\"n\":\"AQAB\",\"e\":\"AQAB\"}]}", "malformed" },
		{ "{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"AQAB\",\"d\":\"AQAB\"}]}", "private key" },
		{ "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
		  "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a1\"}]}", "malformed" }, /* off the curve */
		{ NULL, NULL },
	};
	for (int i = 0; bad[i].json; i++) {
		struct sk_jwks *s = sk_jwks_parse(bad[i].json, strlen(bad[i].json), true, why, sizeof(why));
		if (s || !strstr(why, bad[i].why))
			fail_msg("case %d: %s → %s", i, bad[i].json, s ? "accepted" : why);
	}
	/* Two keys with one kid. */
	struct key *a = key_new(SK_JWT_ES256, "same"), *b = key_new(SK_JWT_ES256, "same");
	struct key *both[] = { a, b };
	char *json = jwks_of(both, 2);
	assert_null(sk_jwks_parse(json, strlen(json), false, why, sizeof(why)));
	assert_non_null(strstr(why, "two keys"));
	free(json);
	/* A key whose own alg contradicts its type. */
	char j[1400];
	snprintf(j, sizeof(j), "{\"keys\":[%.*s,\"alg\":\"RS256\"}]}", (int)strlen(a->jwk) - 1, a->jwk);
	assert_null(sk_jwks_parse(j, strlen(j), false, why, sizeof(why)));
	/* Keys we do not use are skipped, not errors: encryption keys, other curves, other types. */
	snprintf(j, sizeof(j), "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-521\",\"x\":\"AA\",\"y\":\"AA\"},"
		 "{\"kty\":\"RSA\",\"use\":\"enc\",\"n\":\"AQAB\",\"e\":\"AQAB\"},{\"kty\":\"XYZ\"},%s]}", a->jwk);
	struct sk_jwks *s = jwks(j, false);
	assert_int_equal(sk_jwks_count(s), 1);
	sk_jwks_free(s);
	key_free(a);
	key_free(b);
}

static void test_shape_and_caps(void **state)
{
	(void)state;
	assert_true(sk_jwt_is_jws("a.b.c", 5));
	assert_false(sk_jwt_is_jws("a.b", 3));
	assert_false(sk_jwt_is_jws("a..c", 4));
	assert_false(sk_jwt_is_jws("a.b.c.d", 7));
	assert_false(sk_jwt_is_jws("a.b.", 4));
	assert_false(sk_jwt_is_jws("sk_live_abc", 11));
	assert_false(sk_jwt_is_jws("a.b=.c", 6));
	struct sk_jwt *t = malloc(sizeof(*t));
	char *big = malloc(SK_JWT_MAX_TOKEN + 10);
	memset(big, 'A', SK_JWT_MAX_TOKEN + 9);
	big[10] = '.';
	big[20] = '.';
	assert_int_equal(sk_jwt_decode(big, SK_JWT_MAX_TOKEN + 9, t), SK_JWT_MALFORMED);
	/* A payload that is not an object. */
	char h[64], tok[128];
	b64url((const uint8_t *)"{\"alg\":\"ES256\"}", 15, h);
	sprintf(tok, "%s.WzFd.AAAA", h); /* [1] */
	assert_int_equal(sk_jwt_decode(tok, strlen(tok), t), SK_JWT_MALFORMED);
	free(big);
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_accepts),
		cmocka_unit_test(test_json_refuses),
		cmocka_unit_test(test_b64url),
		cmocka_unit_test(test_rfc7515_vectors),
		cmocka_unit_test(test_every_algorithm_verifies),
		cmocka_unit_test(test_hs256_with_a_public_key_is_refused),
		cmocka_unit_test(test_refused_headers),
		cmocka_unit_test(test_kid_rules),
		cmocka_unit_test(test_claim_rules),
		cmocka_unit_test(test_jwks_refusals),
		cmocka_unit_test(test_shape_and_caps),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
