/*
 * portal.h — sekisho's own pages under the reserved path /.sekisho/ (DESIGN §3 "Sessions", §7): the
 * login form, the second-factor form and logout, on every distribution. They work without JavaScript,
 * carry a signed double-submit CSRF token, and redirect only to a target on the distribution's own hosts.
 *
 *   GET  /.sekisho/login[?rd=T]   the form (username, password)
 *   POST /.sekisho/login          password checked off the loop (lockout and bans apply); then a session
 *                                 cookie and 303 to /.sekisho/totp (user with TOTP) or to T
 *   GET  /.sekisho/totp[?rd=T]    the code form (needs the password-level session)
 *   POST /.sekisho/totp           code checked and marked used; a new session id at the MFA level; 303 T
 *   GET  /.sekisho/logout         a form with one button;  POST: session deleted, cookie cleared
 *
 * The exchange reads the (small, capped) form body, then calls sk_portal_run until it has an answer; the
 * portal waits on the blocking pool through the request's sk_access_req like the access pipeline does.
 */
#ifndef SK_PORTAL_H
#define SK_PORTAL_H

#include <stdbool.h>
#include <stddef.h>

#include "access/access.h"
#include "proxy/proxy.h"
#include "proxy/reply.h"

#define SK_PORTAL_PREFIX "/.sekisho/"
#define SK_PORTAL_MAX_BODY 4096 /* a login form; larger is 413 */

struct sk_portal;

struct sk_portal_io {
	const struct sk_runtime *rt;
	const struct sk_distribution *dist;
	size_t listener;
	const struct sk_http_request *hreq;
	struct sk_slice path, query, body;
	bool post, tls;
	struct sk_access_req *areq; /* filled by the exchange: client, verifier, resume */
	struct sk_reply *reply;     /* where the page's response is described (its resp, fields; out is its buffer) */
};

struct sk_portal *sk_portal_new(void);
void sk_portal_free(struct sk_portal *p);

/*
 * Runs the page. SK_V_AGAIN: waiting on the pool (areq->resume will be called). Otherwise the response is
 * described in io->reply (its text in out[0..*n)), with *status and *reason (SK_R_NONE on success) for
 * the log.
 */
enum sk_verdict sk_portal_run(struct sk_portal *p, const struct sk_portal_io *io, char *out, size_t cap, size_t *n,
			      int *status, enum sk_reason *reason);

/*
 * A browser's request for a page of a session behavior was refused with reason (auth_required or
 * mfa_required): describes in r a 302 to the login (or code) page with the original path and query as
 * target (its text in out[0..cap)). Returns false when this request should get the plain error instead
 * (not a browser GET/HEAD, or the behavior does not take sessions).
 */
bool sk_portal_redirect(const struct sk_behavior *beh, const struct sk_http_request *hreq, enum sk_reason reason,
			struct sk_slice path, struct sk_slice query, struct sk_reply *r, char *out, size_t cap);

#endif
