/*
 * credentials.h — reading credentials from a request head (pure, no I/O, fuzzed):
 * `Authorization: Basic base64(user:password)` (RFC 7617), `Authorization: Bearer token` and
 * `X-Api-Key: token`. Scheme names are case-insensitive; every size is capped.
 */
#ifndef SK_CREDENTIALS_H
#define SK_CREDENTIALS_H

#include <stdbool.h>

#include "core/core.h"
#include <sys/types.h>

#include "http/msg.h"

#define SK_CRED_MAX 1024 /* decoded user:password bytes; longer is malformed */
#define SK_CRED_TOKEN_MAX 8192 /* a bearer token or API key: room for a signed JWT (RS256 with claims) */

enum sk_cred_kind {
	SK_CRED_NONE = 0,  /* no credentials of an accepted kind */
	SK_CRED_BASIC,     /* user and password set (decoded into buf) */
	SK_CRED_TOKEN,     /* token set (a slice of the header value) */
	SK_CRED_MALFORMED, /* credentials were sent but cannot be read */
};

struct sk_cred {
	enum sk_cred_kind kind;
	struct sk_slice user, password; /* into buf */
	struct sk_slice token;          /* into the request's header value */
	bool bearer;                    /* TOKEN: it came from Authorization (else from X-Api-Key) */
	char buf[SK_CRED_MAX];
};

/*
 * Looks for credentials of the kinds accepted: basic (Authorization: Basic), token (Authorization:
 * Bearer, X-Api-Key). Several Authorization fields are malformed. A Basic user-id must be non-empty; no
 * control characters are allowed in user or password (RFC 7617 §2); tokens are 1..SK_CRED_TOKEN_MAX visible
 * ASCII.
 */
void sk_cred_read(const struct sk_http_request *req, bool basic, bool token, struct sk_cred *out);

/* Strict base64 (RFC 4648 §4, padding required): decodes in into out (cap bytes). Returns the decoded
 * length, or -1 when malformed or too long. */
ssize_t sk_base64_decode(const char *in, size_t len, char *out, size_t cap);

#endif
