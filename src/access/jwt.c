/*
 * jwt.c — JWS compact tokens: decoding under size caps, the header rules, and the claim rules of DESIGN §3
 * (exp required; nbf and iat with the leeway; exp − iat within max_lifetime; iss exact; aud a string or an
 * array with one configured audience). The signature itself is jwks.c's.
 */
#include "access/jwt.h"

#include <stdio.h>
#include <string.h>

#include "core/core.h"

static const char *const RESULT_TEXT[SK_JWT_N_RESULTS] = {
	[SK_JWT_OK] = "ok",
	[SK_JWT_MALFORMED] = "malformed token",
	[SK_JWT_BAD_HEADER] = "refused header (alg none, jku, x5u, jwk or crit)",
	[SK_JWT_BAD_ALG] = "algorithm not allowed for this issuer or key",
	[SK_JWT_NO_KEY] = "no matching key",
	[SK_JWT_BAD_SIGNATURE] = "bad signature",
	[SK_JWT_NO_EXP] = "no exp claim",
	[SK_JWT_EXPIRED] = "expired",
	[SK_JWT_NOT_YET_VALID] = "not yet valid",
	[SK_JWT_TOO_LONG_LIVED] = "lifetime over max_lifetime",
	[SK_JWT_BAD_ISSUER] = "wrong issuer",
	[SK_JWT_BAD_AUDIENCE] = "wrong audience",
	[SK_JWT_NO_USER] = "no usable user claim",
	[SK_JWT_UNKNOWN_ISSUER] = "unknown issuer",
};

const char *sk_jwt_result_text(enum sk_jwt_result r)
{
	return (unsigned)r < SK_JWT_N_RESULTS ? RESULT_TEXT[r] : "?";
}

bool sk_jwt_is_jws(const char *tok, size_t len)
{
	size_t dots = 0, run = 0;
	for (size_t i = 0; i < len; i++) {
		if (tok[i] == '.') {
			if (run == 0 || ++dots > 2)
				return false;
			run = 0;
		} else if (sk_b64url_table[(unsigned char)tok[i]]) {
			run++;
		} else {
			return false;
		}
	}
	return dots == 2 && run > 0;
}

enum sk_jwt_result sk_jwt_decode(const char *tok, size_t len, struct sk_jwt *out)
{
	if (len > SK_JWT_MAX_TOKEN || !sk_jwt_is_jws(tok, len))
		return SK_JWT_MALFORMED;
	const char *d1 = memchr(tok, '.', len);
	const char *d2 = memchr(d1 + 1, '.', (size_t)(tok + len - d1 - 1));
	out->signing_input = tok;
	out->signing_len = (size_t)(d2 - tok);

	/* The header: its own small token array, then only alg and kid are kept. */
	long hl = sk_b64url_decode(tok, (size_t)(d1 - tok), (uint8_t *)out->header, sizeof(out->header));
	struct sk_json_tok ht[48];
	if (hl <= 0 || sk_json_parse(out->header, (size_t)hl, ht, SK_ARRAY_LEN(ht)) < 0 ||
	    ht[0].type != SK_JSON_OBJECT)
		return SK_JWT_MALFORMED;
	static const char *const REFUSED[] = { "jku", "x5u", "jwk", "crit", NULL };
	for (size_t i = 0; REFUSED[i]; i++)
		if (sk_json_get(out->header, ht, 0, REFUSED[i]) >= 0)
			return SK_JWT_BAD_HEADER;
	char alg[16];
	int v = sk_json_get(out->header, ht, 0, "alg");
	if (v < 0 || sk_json_str(out->header, &ht[v], alg, sizeof(alg)) < 0)
		return SK_JWT_BAD_HEADER;
	int a = sk_jwt_alg_parse(alg);
	if (a < 0) /* "none" and every algorithm we do not verify */
		return SK_JWT_BAD_HEADER;
	out->alg = (enum sk_jwt_alg)a;
	out->has_kid = false;
	if ((v = sk_json_get(out->header, ht, 0, "kid")) >= 0) {
		if (sk_json_str(out->header, &ht[v], out->kid, sizeof(out->kid)) < 0)
			return SK_JWT_MALFORMED;
		out->has_kid = true;
	}

	long pl = sk_b64url_decode(d1 + 1, (size_t)(d2 - d1 - 1), (uint8_t *)out->payload, sizeof(out->payload));
	if (pl <= 0)
		return SK_JWT_MALFORMED;
	out->payload_len = (size_t)pl;
	out->n_toks = sk_json_parse(out->payload, out->payload_len, out->toks, SK_JWT_MAX_TOKS);
	if (out->n_toks < 0 || out->toks[0].type != SK_JSON_OBJECT)
		return SK_JWT_MALFORMED;

	long sl = sk_b64url_decode(d2 + 1, (size_t)(tok + len - d2 - 1), out->sig, sizeof(out->sig));
	if (sl <= 0)
		return SK_JWT_MALFORMED;
	out->sig_len = (size_t)sl;
	return SK_JWT_OK;
}

int sk_jwt_claim(const struct sk_jwt *t, const char *name)
{
	return sk_json_get(t->payload, t->toks, 0, name);
}

long sk_jwt_claim_text(const struct sk_jwt *t, const char *name, char *out, size_t cap)
{
	int v = sk_jwt_claim(t, name);
	if (v < 0)
		return -1;
	const struct sk_json_tok *k = &t->toks[v];
	switch (k->type) {
	case SK_JSON_STRING:
		return sk_json_str(t->payload, k, out, cap);
	case SK_JSON_NUMBER:
	case SK_JSON_TRUE:
	case SK_JSON_FALSE:
		if (k->len >= cap)
			return -1;
		memcpy(out, t->payload + k->start, k->len);
		out[k->len] = '\0';
		return (long)k->len;
	default:
		return -1;
	}
}

long sk_jwt_issuer(const struct sk_jwt *t, char *out, size_t cap)
{
	int v = sk_jwt_claim(t, "iss");
	return v < 0 ? -1 : sk_json_str(t->payload, &t->toks[v], out, cap);
}

int sk_jwt_date(const struct sk_jwt *t, const char *name, int64_t *out)
{
	int v = sk_jwt_claim(t, name);
	if (v < 0)
		return -1;
	return sk_json_int(t->payload, &t->toks[v], out) == 0 ? 0 : -2;
}

static bool audience_ok(const struct sk_jwt *t, const struct sk_jwt_rules *rules)
{
	int v = sk_jwt_claim(t, "aud");
	if (v < 0)
		return false;
	const struct sk_json_tok *a = &t->toks[v];
	size_t n = 1;
	if (a->type == SK_JSON_ARRAY) {
		n = a->size;
		a++;
	}
	for (size_t i = 0; i < n; i++, a = &t->toks[a->next]) {
		if (a->type != SK_JSON_STRING)
			return false;
		for (size_t k = 0; k < rules->n_audiences; k++)
			if (sk_json_str_eq(t->payload, a, rules->audiences[k]))
				return true;
	}
	return false;
}

enum sk_jwt_result sk_jwt_verify(const struct sk_jwt *t, const struct sk_jwks *keys,
				 const struct sk_jwt_rules *rules, int64_t now)
{
	if (!(rules->algs & (1u << t->alg)))
		return SK_JWT_BAD_ALG;
	enum sk_jwt_result r = sk_jwks_check_signature(keys, t);
	if (r != SK_JWT_OK)
		return r;
	return sk_jwt_check_claims(t, rules, now);
}

enum sk_jwt_result sk_jwt_check_claims(const struct sk_jwt *t, const struct sk_jwt_rules *rules, int64_t now)
{
	int64_t exp, nbf, iat;
	int rc = sk_jwt_date(t, "exp", &exp);
	if (rc != 0)
		return rc == -1 ? SK_JWT_NO_EXP : SK_JWT_MALFORMED;
	if (now - rules->leeway_s > exp) /* RFC 7519 §4.1.4: not on or after exp */
		return SK_JWT_EXPIRED;
	if ((rc = sk_jwt_date(t, "nbf", &nbf)) == -2)
		return SK_JWT_MALFORMED;
	if (rc == 0 && nbf > now + rules->leeway_s)
		return SK_JWT_NOT_YET_VALID;
	if ((rc = sk_jwt_date(t, "iat", &iat)) == -2)
		return SK_JWT_MALFORMED;
	if (rc == 0 && iat > now + rules->leeway_s)
		return SK_JWT_NOT_YET_VALID;
	/* Without iat, the token's remaining life must fit the cap. */
	int64_t life;
	if (rules->max_lifetime_s > 0 &&
	    (__builtin_sub_overflow(exp, rc == 0 ? iat : now, &life) || life > rules->max_lifetime_s))
		return SK_JWT_TOO_LONG_LIVED;

	int v = sk_jwt_claim(t, "iss");
	if (!rules->issuer || v < 0 || !sk_json_str_eq(t->payload, &t->toks[v], rules->issuer))
		return SK_JWT_BAD_ISSUER;
	if (!audience_ok(t, rules))
		return SK_JWT_BAD_AUDIENCE;
	return SK_JWT_OK;
}
