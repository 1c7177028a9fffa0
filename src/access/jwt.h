/*
 * jwt.h — JSON Web Tokens (RFC 7519) in JWS compact form (RFC 7515), verified with OpenSSL's EVP API
 * against a key set (RFC 7517), by the rules of DESIGN §3 "JWT". Pure: no I/O, no clock (the caller passes
 * the time), no global state; any thread may call.
 *
 * The token never chooses how it is checked: the algorithm must be one the issuer allows AND match the
 * type of the key it selects (RSA for RS/PS, EC on the named curve for ES, Ed25519 for EdDSA, an `oct`
 * secret for HS, and HS only with secrets from a file); `none` never verifies; a header naming a key
 * source (`jku`, `x5u`, `jwk`) or carrying `crit` is refused whatever else it holds.
 */
#ifndef SK_JWT_H
#define SK_JWT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/json.h"

enum sk_jwt_alg { SK_JWT_HS256, SK_JWT_RS256, SK_JWT_PS256, SK_JWT_ES256, SK_JWT_ES384, SK_JWT_EDDSA,
		  SK_JWT_N_ALGS };

/* The algorithm named name ("ES256"...), or -1. */
int sk_jwt_alg_parse(const char *name);
const char *sk_jwt_alg_name(enum sk_jwt_alg alg);

/* ---- key sets ---- */

struct sk_jwks;

/* Parses a JWKS document. Keys for signatures only (`use` absent or "sig"); a key of an unknown type is
 * skipped, a malformed key of a known type is an error, and so is any private member (d, p, q…: a key set
 * holding private keys is a mistake to stop, not to use). `oct` keys are accepted only when allow_oct
 * (key sets read from a file, never fetched). Returns the set, or NULL with why filled. */
struct sk_jwks *sk_jwks_parse(const char *json, size_t len, bool allow_oct, char *why, size_t why_cap);
void sk_jwks_free(struct sk_jwks *set);
size_t sk_jwks_count(const struct sk_jwks *set);
/* True when set holds a key whose kid is exactly kid. */
bool sk_jwks_has_kid(const struct sk_jwks *set, const char *kid);

/* Strict unpadded base64url (RFC 7515 §2): decodes in into out (cap bytes). Returns the length, or -1. */
long sk_b64url_decode(const char *in, size_t len, uint8_t *out, size_t cap);
/* 1 + the value of each base64url symbol, 0 for any other byte. */
extern const uint8_t sk_b64url_table[256];

/* ---- tokens ---- */

#define SK_JWT_MAX_TOKEN 8192
#define SK_JWT_MAX_HEADER 1024  /* decoded */
#define SK_JWT_MAX_PAYLOAD 4096 /* decoded */
#define SK_JWT_MAX_SIG 512      /* RSA 4096 */
#define SK_JWT_MAX_TOKS 160

enum sk_jwt_result {
	SK_JWT_OK,
	SK_JWT_MALFORMED,      /* not three base64url parts of JSON objects, or over a size cap */
	SK_JWT_BAD_HEADER,     /* alg none or missing, jku/x5u/jwk/crit present */
	SK_JWT_BAD_ALG,        /* not allowed for the issuer, or not the selected key's type */
	SK_JWT_NO_KEY,         /* no key with that kid (or, without kid, not exactly one candidate) */
	SK_JWT_BAD_SIGNATURE,
	SK_JWT_NO_EXP,
	SK_JWT_EXPIRED,
	SK_JWT_NOT_YET_VALID,  /* nbf in the future, or iat in the future beyond the leeway */
	SK_JWT_TOO_LONG_LIVED, /* exp − iat over max_lifetime */
	SK_JWT_BAD_ISSUER,
	SK_JWT_BAD_AUDIENCE,
	SK_JWT_NO_USER,        /* the issuer's user_claim is missing or not a usable name */
	SK_JWT_UNKNOWN_ISSUER, /* iss names no configured issuer */
	SK_JWT_N_RESULTS
};

/* A short text for the operator's log ("expired", "bad signature"...). */
const char *sk_jwt_result_text(enum sk_jwt_result r);

/* A decoded (not yet verified) token. Large: keep one per thread or per request, not on a small stack. */
struct sk_jwt {
	enum sk_jwt_alg alg;
	bool has_kid;
	char kid[128];
	const char *signing_input; /* into the caller's token: header "." payload */
	size_t signing_len;
	uint8_t sig[SK_JWT_MAX_SIG];
	size_t sig_len;
	char header[SK_JWT_MAX_HEADER];
	char payload[SK_JWT_MAX_PAYLOAD];
	size_t payload_len;
	struct sk_json_tok toks[SK_JWT_MAX_TOKS]; /* the payload's tokens; toks[0] is its object */
	int n_toks;
};

/* True when tok has the shape of a JWS: three non-empty base64url parts (a Bearer value that is not is
 * an API key, DESIGN §3). */
bool sk_jwt_is_jws(const char *tok, size_t len);

/* Decodes tok into out and applies the header rules that need no key: alg known and not none, no
 * jku/x5u/jwk/crit. The payload must be a JSON object. */
enum sk_jwt_result sk_jwt_decode(const char *tok, size_t len, struct sk_jwt *out);

/* The unverified `iss` of a decoded token, for choosing which issuer's rules apply (the choice is then
 * verified). Returns the length copied into out, or -1. */
long sk_jwt_issuer(const struct sk_jwt *t, char *out, size_t cap);

struct sk_jwt_rules {
	const char *issuer;
	const char *const *audiences;
	size_t n_audiences;
	uint32_t algs;          /* bit (1 << enum sk_jwt_alg) per allowed algorithm */
	int64_t leeway_s;
	int64_t max_lifetime_s; /* 0 = no cap */
};

/* Verifies a decoded token with keys under rules at now (Unix seconds): algorithm and key, signature,
 * then exp/nbf/iat/lifetime, iss and aud. */
enum sk_jwt_result sk_jwt_verify(const struct sk_jwt *t, const struct sk_jwks *keys,
				 const struct sk_jwt_rules *rules, int64_t now);

/* The signature check alone: selects the key (kid exact; without kid, the one key that fits), binds the
 * algorithm to its type, verifies. sk_jwt_verify calls it; tests call it to isolate the signature. */
enum sk_jwt_result sk_jwks_check_signature(const struct sk_jwks *set, const struct sk_jwt *t);

/* The claim rules alone (exp, nbf, iat, lifetime, iss, aud) for a token whose signature was verified
 * before (the verified-token cache): time moves on, so these are checked on every use. */
enum sk_jwt_result sk_jwt_check_claims(const struct sk_jwt *t, const struct sk_jwt_rules *rules, int64_t now);

/* A NumericDate claim: -1 absent, 0 read into *out, -2 present but not a number. */
int sk_jwt_date(const struct sk_jwt *t, const char *name, int64_t *out);

/* The payload token of claim name (a member of the payload object), or -1. */
int sk_jwt_claim(const struct sk_jwt *t, const char *name);

/* The claim's value as text: a string as it is, a number or boolean as written. Returns its length, or -1
 * (absent, an object/array/null, or too long for out). */
long sk_jwt_claim_text(const struct sk_jwt *t, const char *name, char *out, size_t cap);

#endif
