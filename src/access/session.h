/*
 * session.h — the login session's cookie and the login form's CSRF token (DESIGN §3 "Sessions"). Pure
 * functions of their inputs and the session key (session.key_file, 32 bytes); no I/O.
 *
 *   cookie   sekisho_session=<id>.<mac>   id: 64 hex characters (32 random bytes, the store's key);
 *            mac: base64url(HMAC-SHA-256(key, "session:" id)), 43 characters. A cookie whose mac does
 *            not verify (constant time) is ignored before any store lookup.
 *   CSRF     <nonce>.<ms>.<mac>: nonce 32 hex, ms the issue time, mac over "csrf:" nonce "." ms. The login
 *            page sets it as the cookie sekisho_csrf and as the hidden field csrf; a POST must carry both,
 *            equal, verifying, and younger than SK_CSRF_TTL_MS (double submit, signed).
 */
#ifndef SK_SESSION_H
#define SK_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"
#include "http/msg.h"

#define SK_SESSION_COOKIE "sekisho_session"
#define SK_CSRF_COOKIE "sekisho_csrf"
#define SK_SESSION_COOKIE_LEN (64 + 1 + 43)
#define SK_CSRF_LEN (32 + 1 + 13 + 1 + 43)
#define SK_CSRF_TTL_MS (3600 * 1000ULL)

/* out: SK_SESSION_COOKIE_LEN + 1 bytes. */
void sk_session_cookie_make(const uint8_t key[32], const char *id, char *out);
/* Finds the cookie named name in the request's Cookie fields: a slice of its value, or {NULL, 0}. */
struct sk_slice sk_cookie_find(const struct sk_http_request *req, const char *name);
/* Every cookie named name, in order, up to max: fills out and returns how many. */
size_t sk_cookie_find_all(const struct sk_http_request *req, const char *name, struct sk_slice *out, size_t max);
/* True when v is a well-formed session cookie value with a valid mac; id (65 bytes) receives the id. */
bool sk_session_cookie_check(const uint8_t key[32], struct sk_slice v, char *id);
/*
 * The first of the request's sekisho_session cookies (at most SK_SESSION_COOKIE_TRIES are looked at)
 * whose mac verifies; id (65 bytes) receives its id. A browser sends every cookie of that name that
 * matches (other paths, a sibling domain's), and a bogus one first must not sign the user out.
 */
#define SK_SESSION_COOKIE_TRIES 4
bool sk_session_cookie_find(const uint8_t key[32], const struct sk_http_request *req, char *id);

/* A new token issued at now (ms); out: SK_CSRF_LEN + 1 bytes. Returns 0, or -1 when getrandom fails. */
int sk_csrf_make(const uint8_t key[32], uint64_t now, char *out);
/* True when form and cookie are the same valid token, issued within SK_CSRF_TTL_MS before now. */
bool sk_csrf_check(const uint8_t key[32], struct sk_slice form, struct sk_slice cookie, uint64_t now);

/*
 * Finds name in an application/x-www-form-urlencoded string (a form body, or a query without its '?') and
 * decodes its value ('+' and %XX) into out (cap bytes, NUL-terminated). Returns the decoded length, or -1
 * when absent, malformed or longer than cap - 1. A decoded NUL is kept (callers compare lengths).
 */
long sk_form_get(struct sk_slice s, const char *name, char *out, size_t cap);

#endif
