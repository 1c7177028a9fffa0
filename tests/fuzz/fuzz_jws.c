/*
 * fuzz_jws.c — hostile JWS compact tokens and key sets. The input is split at its first NUL: what comes
 * before is a token, what follows a JWKS document (when there is one). Invariants: decoding stays inside
 * its caps; a token verifies only against a key set (never without one); a JSON document the tokenizer
 * accepts has tokens inside the input and `next` links that move forward.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "access/jwt.h"
#include "core/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_json(const char *s, size_t n)
{
	struct sk_json_tok t[256];
	int nt = sk_json_parse(s, n, t, 256);
	for (int i = 0; i < nt; i++) {
		if ((size_t)t[i].start + t[i].len > n || t[i].next <= (uint32_t)i || t[i].next > (uint32_t)nt)
			abort();
		char buf[64];
		if (t[i].type == SK_JSON_STRING && sk_json_str(s, &t[i], buf, sizeof(buf)) >= (long)sizeof(buf))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, 0, size);
	size_t tlen = nul ? (size_t)(nul - data) : size;
	char *tok = malloc(tlen ? tlen : 1);
	memcpy(tok, data, tlen);
	struct sk_jwt *t = malloc(sizeof(*t));
	check_json(tok, tlen);

	struct sk_jwks *set = NULL;
	if (nul) {
		size_t jlen = size - tlen - 1;
		char *json = malloc(jlen ? jlen : 1);
		memcpy(json, nul + 1, jlen);
		char why[256];
		set = sk_jwks_parse(json, jlen, true, why, sizeof(why));
		check_json(json, jlen);
		free(json);
	}
	if (sk_jwt_decode(tok, tlen, t) == SK_JWT_OK) {
		if (t->payload_len > sizeof(t->payload) || t->sig_len > sizeof(t->sig) || t->signing_len >= tlen)
			abort();
		static const char *const aud[] = { "a" };
		struct sk_jwt_rules r = { .issuer = "i", .audiences = aud, .n_audiences = 1,
					  .algs = (1u << SK_JWT_N_ALGS) - 1, .leeway_s = 60, .max_lifetime_s = 3600 };
		enum sk_jwt_result res = sk_jwt_verify(t, set, &r, 1800000000);
		if (!set && res == SK_JWT_OK)
			abort();
		char buf[32];
		sk_jwt_claim_text(t, "sub", buf, sizeof(buf));
		sk_jwt_issuer(t, buf, sizeof(buf));
	}
	sk_jwks_free(set);
	free(t);
	free(tok);
	return 0;
}
