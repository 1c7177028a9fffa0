/*
 * jwtauth.c — the issuers of a snapshot and the authentication of a bearer token (jwtauth.h).
 *
 * The decoded token lives in a per-thread scratch area (it is ~9 KiB and is needed only while one
 * authentication runs on that thread). A verified token is remembered in the worker's verified-credential
 * cache under a keyed hash of its bytes; a cache hit skips the signature check but not the claim rules,
 * which depend on the time. Claim values become header values only when they hold no control
 * characters: a token is signed by the issuer, not by us, and must never forge a second header line.
 */
#include "access/jwtauth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "access/jwksfetch.h"
#include "access/verify.h"
#include "core/file.h"
#include "core/log.h"

#define MAX_JWKS_FILE (1u << 20)

struct issuer_rt {
	const struct sk_jwt_issuer *cfg;
	struct sk_jwt_rules rules;
	const char **auds;
	struct sk_jwks *keys;          /* from a file */
	struct sk_jwks_source *source; /* from a URL */
};

struct sk_jwt_env {
	struct issuer_rt *issuers;
	size_t n;
};

static __thread struct sk_jwt scratch;
static __thread uint64_t scratch_serial; /* bumped at each decoding into scratch */

/*
 * The verified-token cache of this thread (a worker's): a token seen again within TOKEN_TTL_MS, in the
 * same generation, is neither decoded nor signature-checked; its identity is copied from the entry and only
 * its time rules are checked again. Keyed by the keyed hash of every byte of the token (verify.c), so a
 * different token never finds another's entry. Static storage, no allocation.
 */
#define TOKEN_SLOTS 64
#define TOKEN_TTL_MS 60000

struct token_entry {
	uint64_t gen;            /* 0 = empty */
	uint8_t key[32];
	uint64_t until_ms;
	const struct issuer_rt *rt;
	int64_t exp, nbf, iat;
	bool has_nbf, has_iat;
	struct sk_jwt_ident ident;
};

static __thread struct token_entry tokens[TOKEN_SLOTS];

int sk_jwt_env_new(const struct sk_config *cfg, struct sk_jwt_env **out, struct sk_err *err)
{
	*out = NULL;
	if (cfg->jwt.n_issuers == 0)
		return 0;
	struct sk_jwt_env *je = sk_calloc(1, sizeof(*je));
	je->issuers = sk_calloc(cfg->jwt.n_issuers, sizeof(*je->issuers));
	for (size_t i = 0; i < cfg->jwt.n_issuers; i++, je->n++) {
		const struct sk_jwt_issuer *is = &cfg->jwt.issuers[i];
		struct issuer_rt *rt = &je->issuers[i];
		rt->cfg = is;
		rt->auds = sk_calloc(is->audiences.n, sizeof(*rt->auds));
		for (size_t k = 0; k < is->audiences.n; k++)
			rt->auds[k] = is->audiences.items[k];
		rt->rules = (struct sk_jwt_rules){ .issuer = is->issuer, .audiences = rt->auds,
						   .n_audiences = is->audiences.n,
						   .leeway_s = (int64_t)(is->leeway_ms / 1000),
						   .max_lifetime_s = (int64_t)(is->max_lifetime_ms / 1000) };
		for (size_t k = 0; k < is->algorithms.n; k++) {
			int a = sk_jwt_alg_parse(is->algorithms.items[k]);
			SK_ASSERT(a >= 0); /* the config loader checked the names */
			rt->rules.algs |= 1u << a;
		}
		if (is->jwks_url) {
			rt->source = sk_jwks_source_get(is->jwks_url, is->ca);
			continue;
		}
		char *doc = NULL, why[300];
		size_t len = 0;
		if (sk_file_read(is->jwks, MAX_JWKS_FILE, &doc, &len, err) == -1) {
			sk_err_format(err, why, sizeof(why));
		} else {
			rt->keys = sk_jwks_parse(doc, len, true, why, sizeof(why));
			free(doc);
		}
		if (!rt->keys) {
			sk_err_set(err, cfg->path, is->jwks_pos.line, is->jwks_pos.col, "issuer '%s': key set %s: %s",
				   is->issuer, is->jwks, why);
			je->n++;
			sk_jwt_env_free(je);
			return -1;
		}
		if (sk_jwks_count(rt->keys) == 0)
			sk_warn("issuer '%s': key set %s has no signature key sekisho can use", is->issuer, is->jwks);
	}
	*out = je;
	return 0;
}

void sk_jwt_env_free(struct sk_jwt_env *je)
{
	if (!je)
		return;
	for (size_t i = 0; i < je->n; i++) {
		free(je->issuers[i].auds);
		sk_jwks_free(je->issuers[i].keys);
		sk_jwks_source_put(je->issuers[i].source);
	}
	free(je->issuers);
	free(je);
}

bool sk_jwt_env_claim_header(const struct sk_jwt_env *je, struct sk_slice name)
{
	for (size_t i = 0; je && i < je->n; i++) {
		const struct sk_jwt_issuer *is = je->issuers[i].cfg;
		for (size_t k = 0; k < is->n_claim_headers; k++)
			if (sk_slice_ieq(name, is->claim_headers[k].header))
				return true;
	}
	return false;
}

static bool clean(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

/* Appends claim element k (a string, number or boolean) to out at *o, after a comma when *o > start.
 * Elements of a list may not hold a comma themselves (the list would read differently). */
static bool append(const struct sk_jwt *t, const struct sk_json_tok *k, char *out, size_t cap, size_t *o,
		   size_t start, bool in_list)
{
	char buf[512];
	long n = -1;
	if (k->type == SK_JSON_STRING) {
		n = sk_json_str(t->payload, k, buf, sizeof(buf));
	} else if (k->type == SK_JSON_NUMBER || k->type == SK_JSON_TRUE || k->type == SK_JSON_FALSE) {
		if (k->len < sizeof(buf)) {
			memcpy(buf, t->payload + k->start, k->len);
			n = (long)k->len;
		}
	}
	if (n <= 0 || !clean(buf, (size_t)n) || (in_list && memchr(buf, ',', (size_t)n)))
		return false;
	size_t need = (size_t)n + (*o > start ? 1 : 0);
	if (*o + need + 1 > cap)
		return false;
	if (*o > start)
		out[(*o)++] = ',';
	memcpy(out + *o, buf, (size_t)n);
	*o += (size_t)n;
	out[*o] = '\0';
	return true;
}

/* Groups from the groups claim: an array of names, or one string of space-separated names (OAuth scope
 * style). Names that cannot be carried in X-Auth-Groups (commas, control characters) are left out. */
static void read_groups(const struct sk_jwt *t, const char *claim, char *out, size_t cap)
{
	out[0] = '\0';
	int v = claim ? sk_jwt_claim(t, claim) : -1;
	if (v < 0)
		return;
	size_t o = 0;
	const struct sk_json_tok *k = &t->toks[v];
	if (k->type == SK_JSON_ARRAY) {
		const struct sk_json_tok *e = k + 1;
		for (uint32_t i = 0; i < k->size; i++, e = &t->toks[e->next])
			append(t, e, out, cap, &o, 0, true);
		return;
	}
	char buf[512];
	long n = sk_json_str(t->payload, k, buf, sizeof(buf));
	for (char *save = NULL, *w = n > 0 ? strtok_r(buf, " ", &save) : NULL; w; w = strtok_r(NULL, " ", &save)) {
		size_t wl = strlen(w);
		if (!clean(w, wl) || strchr(w, ',') || o + wl + 2 > cap)
			continue;
		if (o)
			out[o++] = ',';
		memcpy(out + o, w, wl);
		o += wl;
		out[o] = '\0';
	}
}

static void read_headers(const struct sk_jwt *t, const struct sk_jwt_issuer *is, struct sk_jwt_ident *id)
{
	size_t o = 0, cap = sizeof(id->headers);
	id->headers_len = 0;
	for (size_t i = 0; i < is->n_claim_headers; i++) {
		int v = sk_jwt_claim(t, is->claim_headers[i].claim);
		if (v < 0)
			continue;
		const char *name = is->claim_headers[i].header;
		size_t nl = strlen(name), mark = o;
		if (o + nl + 2 >= cap)
			break;
		memcpy(id->headers + o, name, nl);
		o += nl;
		memcpy(id->headers + o, ": ", 2);
		o += 2;
		size_t vstart = o;
		const struct sk_json_tok *k = &t->toks[v];
		bool ok = true;
		if (k->type == SK_JSON_ARRAY) {
			const struct sk_json_tok *e = k + 1;
			for (uint32_t j = 0; j < k->size && ok; j++, e = &t->toks[e->next])
				ok = append(t, e, id->headers, cap, &o, vstart, true);
		} else {
			ok = append(t, k, id->headers, cap, &o, vstart, false);
		}
		if (!ok || o == vstart || o + 2 >= cap) { /* a value we cannot carry cleanly: the header is left out */
			o = mark;
			continue;
		}
		memcpy(id->headers + o, "\r\n", 2);
		o += 2;
	}
	id->headers_len = (uint16_t)o;
}

/* The time rules of sk_jwt_check_claims, for a cached token (the rest of its claims cannot change). */
static enum sk_jwt_result cached_times(const struct token_entry *e, int64_t now)
{
	int64_t leeway = e->rt->rules.leeway_s;
	if (now - leeway > e->exp)
		return SK_JWT_EXPIRED;
	if ((e->has_nbf && e->nbf > now + leeway) || (e->has_iat && e->iat > now + leeway))
		return SK_JWT_NOT_YET_VALID;
	return SK_JWT_OK;
}

static void remember(struct token_entry *e, uint64_t gen, const uint8_t key[32], const struct issuer_rt *rt,
		     const struct sk_jwt *t, const struct sk_jwt_ident *id)
{
	if (sk_jwt_date(t, "exp", &e->exp) != 0) /* verified tokens have one: belt and braces */
		return;
	e->has_nbf = sk_jwt_date(t, "nbf", &e->nbf) == 0;
	e->has_iat = sk_jwt_date(t, "iat", &e->iat) == 0;
	memcpy(e->key, key, 32);
	e->gen = gen;
	e->until_ms = sk_now_ms() + TOKEN_TTL_MS;
	e->rt = rt;
	e->ident = *id;
}

enum sk_jwt_result sk_jwt_env_authenticate(const struct sk_jwt_env *je, uint64_t gen, const char *tok, size_t len,
					   int64_t now, struct sk_jwt_ident *out)
{
	uint8_t key[32];
	sk_verify_key(gen, "jwt", 3, tok, len, key);
	uint32_t h;
	memcpy(&h, key, sizeof(h));
	struct token_entry *e = &tokens[h % TOKEN_SLOTS];
	if (e->gen == gen && e->until_ms > sk_now_ms() && CRYPTO_memcmp(e->key, key, 32) == 0) {
		enum sk_jwt_result r = cached_times(e, now);
		if (r != SK_JWT_OK)
			return r;
		*out = e->ident;
		out->token = tok;
		out->token_len = len;
		out->serial = 0; /* not decoded: claims are read from the token if a policy asks */
		return SK_JWT_OK;
	}

	struct sk_jwt *t = &scratch;
	scratch_serial++;
	enum sk_jwt_result r = sk_jwt_decode(tok, len, t);
	if (r != SK_JWT_OK)
		return r;
	char iss[256];
	const struct issuer_rt *rt = NULL;
	if (sk_jwt_issuer(t, iss, sizeof(iss)) >= 0)
		for (size_t i = 0; je && i < je->n && !rt; i++)
			if (strcmp(je->issuers[i].cfg->issuer, iss) == 0)
				rt = &je->issuers[i];
	if (!rt)
		return SK_JWT_UNKNOWN_ISSUER;

	const struct sk_jwks *keys = rt->keys ? rt->keys : sk_jwks_source_keys(rt->source);
	r = sk_jwt_verify(t, keys, &rt->rules, now);
	if (r == SK_JWT_NO_KEY && rt->source) /* the issuer may have rotated its keys */
		sk_jwks_source_poke(rt->source);
	if (r != SK_JWT_OK)
		return r;

	long ul = sk_jwt_claim_text(t, rt->cfg->user_claim, out->user, sizeof(out->user));
	if (ul <= 0 || !clean(out->user, (size_t)ul))
		return SK_JWT_NO_USER;
	out->issuer = rt;
	out->issuer_index = (unsigned)(rt - je->issuers);
	out->serial = scratch_serial;
	out->token = tok;
	out->token_len = len;
	read_groups(t, rt->cfg->groups_claim, out->groups, sizeof(out->groups));
	read_headers(t, rt->cfg, out);
	remember(e, gen, key, rt, t, out);
	return SK_JWT_OK;
}

bool sk_jwt_ident_claim(const struct sk_jwt_ident *id, struct sk_slice name, struct sk_slice *value)
{
	/* Values stay valid through one evaluation: slices of the payload, or for an escaped string one of a
	 * few decoding buffers used in turn. */
	static __thread char bufs[4][512];
	static __thread unsigned next_buf;
	if (name.len == 0 || name.len >= 128)
		return false;
	/* The claims are the scratch token's, as long as nothing was decoded on this thread since; a token
	 * that came from the cache is decoded now (it was verified: decoding is all that is left). */
	if (id->serial != scratch_serial) {
		if (!id->token)
			return false;
		scratch_serial++;
		if (sk_jwt_decode(id->token, id->token_len, &scratch) != SK_JWT_OK)
			return false;
		((struct sk_jwt_ident *)id)->serial = scratch_serial;
	}
	char key[128];
	memcpy(key, name.ptr, name.len);
	key[name.len] = '\0';
	int v = sk_jwt_claim(&scratch, key);
	if (v < 0)
		return false;
	const struct sk_json_tok *k = &scratch.toks[v];
	if (k->type == SK_JSON_NUMBER || k->type == SK_JSON_TRUE || k->type == SK_JSON_FALSE ||
	    (k->type == SK_JSON_STRING && !memchr(scratch.payload + k->start, '\\', k->len))) {
		*value = (struct sk_slice){ .ptr = scratch.payload + k->start, .len = k->len };
		return true;
	}
	char *buf = bufs[next_buf++ % 4];
	long n = sk_json_str(scratch.payload, k, buf, sizeof(bufs[0]));
	if (n < 0)
		return false;
	*value = (struct sk_slice){ .ptr = buf, .len = (size_t)n };
	return true;
}

const char *sk_jwt_ident_issuer(const struct sk_jwt_ident *id)
{
	return ((const struct issuer_rt *)id->issuer)->cfg->issuer;
}

bool sk_jwt_ident_forward_token(const struct sk_jwt_ident *id)
{
	return ((const struct issuer_rt *)id->issuer)->cfg->forward_token;
}
