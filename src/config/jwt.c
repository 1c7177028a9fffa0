/*
 * jwt.c — the `jwt:` section of DESIGN §3: `jwt: { issuers: [ { issuer, audiences, jwks | jwks_url, ca,
 * algorithms, leeway, max_lifetime, user_claim, groups_claim, headers, forward_token, policies } ] }`.
 *
 * Invariants: every issuer has exactly one key source; a token is never accepted without an audience to
 * match, so `audiences` is required; algorithm names are checked here (the verifier in access/jwt.c
 * binds each one to a key type); `HS256` is refused with `jwks_url` (a shared secret is never fetched);
 * claim headers are valid header names, not ones sekisho sets itself. Key files are read when the runtime
 * is built (access/env.c), like the users file, so check-config and run refuse the same broken set.
 */
#include "config/config_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const ALGS[] = { "ES256", "ES384", "RS256", "PS256", "EdDSA", "HS256", NULL };

static int check_alg(struct sk_cfg_ctx *c, const struct sk_cnode *item, char **text)
{
	for (size_t i = 0; ALGS[i]; i++) {
		if (strcmp(item->str, ALGS[i]) == 0) {
			*text = sk_strdup(item->str);
			return 0;
		}
	}
	char d[64];
	return sk_cfg_fail(c, item, "unknown JWT algorithm %s (expected ES256, ES384, RS256, PS256, EdDSA or HS256; "
			   "'none' is never accepted)", sk_cfg_describe(item, d, sizeof(d)));
}

static int check_nonempty(struct sk_cfg_ctx *c, const struct sk_cnode *item, char **text)
{
	if (!item->str[0])
		return sk_cfg_fail(c, item, "an empty string is not allowed here");
	*text = sk_strdup(item->str);
	return 0;
}

/* Header names sekisho sets or strips itself may not carry claims. */
static bool reserved_header(const char *name)
{
	static const char *const managed_headers[] = { "x-auth-user", "x-auth-groups", "x-auth-method", "x-forwarded-for",
					 "x-forwarded-proto", "x-forwarded-host", "forwarded", "host", "authorization",
					 "cookie", "connection", "content-length", "transfer-encoding", NULL };
	for (size_t i = 0; managed_headers[i]; i++)
		if (strcasecmp(name, managed_headers[i]) == 0)
			return true;
	return false;
}

static int read_claim_headers(struct sk_cfg_ctx *c, const struct sk_cnode *m, struct sk_jwt_issuer *is)
{
	const struct sk_cnode *h = sk_cfg_get(m, "headers");
	if (sk_cfg_want(c, h, SK_CN_MAP, "'headers'") == -1)
		return -1;
	if (!h || sk_cfg_is_null(h))
		return 0;
	size_t n = SK_CN_PAIRS(h);
	is->claim_headers = sk_calloc(n ? n : 1, sizeof(*is->claim_headers));
	for (size_t i = 0; i < n; i++) {
		const struct sk_cnode *k = SK_CN_KEY(h, i), *v = SK_CN_VAL(h, i);
		if (!k->str[0])
			return sk_cfg_fail(c, k, "an empty claim name");
		if (!sk_cfg_scalar(c, v, "a claim's header"))
			return -1;
		if (!sk_cfg_token_ok(v->str))
			return sk_cfg_fail(c, v, "invalid header name '%s'", v->str);
		if (reserved_header(v->str) || strchr(v->str, '_'))
			return sk_cfg_fail(c, v, "header '%s' cannot carry a claim: sekisho sets or strips it itself",
					   v->str);
		struct sk_jwt_claim_header *ch = &is->claim_headers[is->n_claim_headers++];
		ch->claim = sk_strdup(k->str);
		ch->header = sk_strdup(v->str);
	}
	return 0;
}

static int read_issuer(struct sk_cfg_ctx *c, const struct sk_cnode *m, struct sk_jwt_issuer *is)
{
	static const char *const keys[] = { "issuer", "audiences", "jwks", "jwks_url", "ca", "algorithms",
					    "leeway", "max_lifetime", "user_claim", "groups_claim", "headers",
					    "forward_token", "policies", NULL };
	if (sk_cfg_want(c, m, SK_CN_MAP, "each item of 'issuers'") == -1)
		return -1;
	if (sk_cfg_check_keys(c, m, keys, "in a JWT issuer") == -1)
		return -1;
	is->pos = sk_cfg_pos(m);
	is->leeway_ms = 60 * 1000;
	is->max_lifetime_ms = 24 * 3600 * 1000ULL;
	is->user_claim = sk_strdup("sub");
	if (sk_cfg_require(c, m, "issuer", "a JWT issuer") == -1 || sk_cfg_str(c, m, "issuer", &is->issuer) == -1)
		return -1;
	if (!is->issuer[0])
		return sk_cfg_fail(c, sk_cfg_get(m, "issuer"), "'issuer' must not be empty");
	if (sk_cfg_require(c, m, "audiences", "a JWT issuer") == -1 ||
	    sk_cfg_strlist(c, m, "audiences", &is->audiences, check_nonempty) == -1)
		return -1;
	if (is->audiences.n == 0)
		return sk_cfg_fail(c, sk_cfg_get(m, "audiences"), "'audiences' needs at least one audience: a token "
				   "is accepted only when its aud names one");
	const struct sk_cnode *kf = sk_cfg_get_key(m, "jwks"), *ku = sk_cfg_get_key(m, "jwks_url");
	if (!!kf == !!ku)
		return sk_cfg_fail(c, ku ? ku : m, "a JWT issuer takes exactly one of 'jwks' (a file) and 'jwks_url'");
	if (sk_cfg_path(c, m, "jwks", &is->jwks) == -1 || sk_cfg_str(c, m, "jwks_url", &is->jwks_url) == -1 ||
	    sk_cfg_path(c, m, "ca", &is->ca) == -1)
		return -1;
	if (kf)
		is->jwks_pos = sk_cfg_pos(sk_cfg_get(m, "jwks"));
	if (ku) {
		const struct sk_cnode *u = sk_cfg_get(m, "jwks_url");
		is->jwks_pos = sk_cfg_pos(u);
		if (strncmp(is->jwks_url, "http://", 7) != 0 && strncmp(is->jwks_url, "https://", 8) != 0)
			return sk_cfg_fail(c, u, "'jwks_url' must be an http:// or https:// URL");
	} else if (is->ca) {
		return sk_cfg_fail(c, sk_cfg_get_key(m, "ca"), "'ca' is for fetching 'jwks_url' over https");
	}
	const struct sk_cnode *algs = sk_cfg_get(m, "algorithms");
	if (sk_cfg_strlist(c, m, "algorithms", &is->algorithms, check_alg) == -1)
		return -1;
	if (algs && !sk_cfg_is_null(algs) && is->algorithms.n == 0)
		return sk_cfg_fail(c, algs, "'algorithms' must name at least one algorithm");
	if (is->algorithms.n == 0) /* the default: every public-key algorithm; HS256 only when named */
		for (size_t i = 0; ALGS[i]; i++)
			if (strcmp(ALGS[i], "HS256") != 0)
				sk_cfg_strlist_push(&is->algorithms, sk_strdup(ALGS[i]), is->pos);
	for (size_t i = 0; i < is->algorithms.n; i++)
		if (strcmp(is->algorithms.items[i], "HS256") == 0 && is->jwks_url)
			return sk_cfg_fail(c, algs, "HS256 needs a shared secret, which is read only from a file "
					   "('jwks'), never fetched from 'jwks_url'");
	if (sk_cfg_duration(c, m, "leeway", &is->leeway_ms) == -1 ||
	    sk_cfg_duration(c, m, "max_lifetime", &is->max_lifetime_ms) == -1 ||
	    sk_cfg_str(c, m, "user_claim", &is->user_claim) == -1 ||
	    sk_cfg_str(c, m, "groups_claim", &is->groups_claim) == -1 ||
	    sk_cfg_bool(c, m, "forward_token", &is->forward_token) == -1 ||
	    sk_cfg_strlist(c, m, "policies", &is->policies, check_nonempty) == -1 ||
	    read_claim_headers(c, m, is) == -1)
		return -1;
	if (is->leeway_ms > 3600 * 1000)
		return sk_cfg_fail(c, sk_cfg_get(m, "leeway"), "'leeway' over 1h would accept long-expired tokens");
	if (!is->user_claim[0])
		return sk_cfg_fail(c, sk_cfg_get(m, "user_claim"), "'user_claim' must not be empty");
	return 0;
}

int sk_cfg_jwt(struct sk_cfg_ctx *c, const struct sk_cnode *root)
{
	static const char *const keys[] = { "issuers", NULL };
	const struct sk_cnode *m = sk_cfg_get(root, "jwt");
	if (sk_cfg_want(c, m, SK_CN_MAP, "'jwt'") == -1 || sk_cfg_check_keys(c, m, keys, "in 'jwt'") == -1)
		return -1;
	if (!m || sk_cfg_is_null(m))
		return 0;
	const struct sk_cnode *list = sk_cfg_get(m, "issuers");
	if (sk_cfg_want(c, list, SK_CN_SEQ, "'issuers'") == -1)
		return -1;
	if (!list || sk_cfg_is_null(list) || list->n == 0)
		return sk_cfg_fail(c, m, "'jwt' needs at least one issuer in 'issuers'");
	struct sk_config *cfg = c->cfg;
	cfg->jwt.issuers = sk_calloc(list->n, sizeof(*cfg->jwt.issuers));
	for (size_t i = 0; i < list->n; i++) {
		struct sk_jwt_issuer *is = &cfg->jwt.issuers[cfg->jwt.n_issuers++];
		if (read_issuer(c, list->kids[i], is) == -1)
			return -1;
		for (size_t k = 0; k < i; k++)
			if (strcmp(cfg->jwt.issuers[k].issuer, is->issuer) == 0)
				return sk_cfg_fail(c, sk_cfg_get(list->kids[i], "issuer"),
						   "issuer '%s' is listed twice", is->issuer);
	}
	return 0;
}

void sk_cfg_jwt_free(struct sk_config *cfg)
{
	for (size_t i = 0; i < cfg->jwt.n_issuers; i++) {
		struct sk_jwt_issuer *is = &cfg->jwt.issuers[i];
		free(is->issuer);
		sk_cfg_strlist_free(&is->audiences);
		free(is->jwks);
		free(is->jwks_url);
		free(is->ca);
		sk_cfg_strlist_free(&is->algorithms);
		free(is->user_claim);
		free(is->groups_claim);
		for (size_t k = 0; k < is->n_claim_headers; k++) {
			free(is->claim_headers[k].claim);
			free(is->claim_headers[k].header);
		}
		free(is->claim_headers);
		sk_cfg_strlist_free(&is->policies);
	}
	free(cfg->jwt.issuers);
}
