/*
 * jwtauth.h — `auth: [jwt]` (DESIGN §3 JWT) for a snapshot: the configured issuers with their key sets
 * (a file read when the snapshot is built, or a jwks_url source kept fresh in the background), and the
 * authentication of one bearer token, with the worker's verified-credential cache in front of the
 * signature check.
 */
#ifndef SK_JWTAUTH_H
#define SK_JWTAUTH_H

#include <stdint.h>

#include "access/access.h"
#include "access/jwt.h"

struct sk_jwt_env;

/* Builds the issuers of cfg (NULL when cfg has none). Key files are read and parsed now: an error names
 * the config key that points at the file. Returns 0, or -1 with err filled. */
int sk_jwt_env_new(const struct sk_config *cfg, struct sk_jwt_env **out, struct sk_err *err);
void sk_jwt_env_free(struct sk_jwt_env *je);

/* True when a viewer's header is one that an issuer fills from a claim (it is stripped from the request
 * like the identity headers). */
bool sk_jwt_env_claim_header(const struct sk_jwt_env *je, struct sk_slice name);

/*
 * Authenticates tok (a JWS) at now (Unix seconds): picks the issuer by its unverified iss, checks the
 * signature and claims, then fills out (user, groups, claim headers). A token this thread verified in this
 * generation within a minute comes from its cache instead: only its time rules are checked again. Returns
 * SK_JWT_OK or why it failed.
 */
enum sk_jwt_result sk_jwt_env_authenticate(const struct sk_jwt_env *je, uint64_t gen, const char *tok, size_t len,
					   int64_t now, struct sk_jwt_ident *out);

/* The claim name of the token an identity came from (a string's text, a number or boolean as written),
 * for policies' jwt:<claim> keys. Valid on the thread that authenticated it until the next token is
 * decoded there, which is the access pipeline's synchronous run; false afterwards, or when absent. */
bool sk_jwt_ident_claim(const struct sk_jwt_ident *id, struct sk_slice name, struct sk_slice *value);

/* The issuer's name and forward_token of an identity that sk_jwt_env_authenticate filled. */
const char *sk_jwt_ident_issuer(const struct sk_jwt_ident *id);
bool sk_jwt_ident_forward_token(const struct sk_jwt_ident *id);

#endif
