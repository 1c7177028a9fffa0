/*
 * check_auth.c — `access.auth: [basic, api_key, session, client_cert, jwt]` (DESIGN §3): who the viewer is.
 *
 * A client certificate (verified by the listener against its tls.client_ca) names a user by its subject
 * CN, else by one of its SAN e-mails; it is looked at first. Presented but untrusted, or naming nobody:
 * bad_credentials, unless the behavior also takes Basic or API-key credentials and the request carries
 * some (then those decide).
 *
 * A bearer value that is a JWS goes to the token check (jwtauth.c: signature and claims on the loop, with
 * the worker's verified-credential cache in front); any other bearer value is an API key.
 *
 * API keys are looked up by SHA-256 at once (no slow hash is involved). Basic credentials are checked
 * against the cache of verified credentials first; otherwise the slow hash runs on the blocking pool
 * (verify.c) and the stage answers AGAIN, to be run again when the result is back. An unknown user is
 * verified against the stand-in hash (like the file's costliest; cheaper accounts' failures are padded to
 * it), so a wrong user name and a wrong password cost the same time and get the same answer
 * (bad_credentials). Password age is checked after a match.
 *
 * When the config keeps state (lockout, bans, a second factor), a verified or failed password goes on to
 * a state-store job (guardjob.c) before the answer: the code appended to the password or sent in X-OTP is
 * checked and marked used, and failures count toward lockout and bans. Login sessions (`auth: [session]`)
 * are read from the signed cookie and looked up in the store the same way.
 *
 * With lockout, the presented name's tally is read first (a LOCK job, the same read for any name): a
 * locked account's password is then neither looked up in the cache nor verified; a random decoy of its
 * length is verified against the account's hash instead, so the refusal costs and reads exactly like a
 * wrong password. A match is cached only once the account is known to be unlocked (DESIGN §3 "No oracle
 * through timing or caching"). That whole sequence (tally, verification, verdict, session lookup) is
 * login.c's, shared with the portal's sign-in pages; the stage's scratch is its struct sk_login.
 *
 * Where a method succeeds it records the credential fields it read (req->consumed), so that the origin
 * request can leave them out (DESIGN §1; forward_credentials keeps them).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "access/access.h"
#include "access/apikeys.h"
#include "access/credentials.h"
#include "access/jwtauth.h"
#include "access/login.h"
#include "access/session.h"
#include "access/users.h"
#include "core/log.h"

struct auth_state {
	bool basic;
	bool api_key;
	bool session;
	bool client_cert;
	bool jwt;
	struct sk_login_opts login; /* guard, lockout, need_mfa (the behavior requires a second factor) */
	uint64_t max_age_s; /* 0 = passwords never expire */
};

/* The stage's scratch: the sign-in in progress (login.c) is all the auth stage keeps across AGAIN. */
_Static_assert(sizeof(struct sk_login) <= SK_ACCESS_SCRATCH_MAX, "the auth stage's scratch fits the workspace");

static int auth_compile(const struct sk_access *a, const struct sk_access_env *env, void **state,
			struct sk_err *err)
{
	if (a->n_auth == 0)
		return 0;
	struct auth_state *s = sk_calloc(1, sizeof(*s));
	for (size_t i = 0; i < a->n_auth; i++) {
		switch (a->auth[i]) {
		case SK_AUTH_BASIC:
			s->basic = true;
			break;
		case SK_AUTH_API_KEY:
			s->api_key = true;
			break;
		case SK_AUTH_SESSION:
			s->session = true;
			break;
		case SK_AUTH_CLIENT_CERT:
			s->client_cert = true;
			break;
		case SK_AUTH_JWT:
			s->jwt = true;
			break;
		default:
			free(s);
			return sk_err_set(err, env->cfg->path, 0, 0,
					  "unknown auth method");
		}
	}
	if (s->session && (!env->session_ready || (!env->store && !env->check_only) || !env->users)) {
		free(s);
		return sk_err_set(err, env->cfg->path, 0, 0, "auth: [session] needs users, session.key_file and "
				  "the state store");
	}
	sk_login_opts_init(&s->login, env, a->mfa == SK_MFA_REQUIRED, false);
	SK_ASSERT(!(s->basic || s->client_cert) || env->users); /* the config loader requires users */
	SK_ASSERT(!s->api_key || env->apikeys); /* and api_keys for api_key */
	SK_ASSERT(!s->jwt || env->jwt);         /* and issuers for jwt */
	s->max_age_s = env->cfg->users.password_max_age_ms / 1000;
	*state = s;
	return 0;
}

static enum sk_verdict deny(struct sk_access_req *req, enum sk_reason r)
{
	req->reason = r;
	return SK_V_DENY;
}

static enum sk_verdict user_verified(const struct auth_state *s, struct sk_access_req *req)
{
	const struct sk_user *u = req->user;
	if (!u) /* a dummy hash matched: cannot happen with a random dummy password, refuse anyway */
		return deny(req, SK_R_BAD_CREDENTIALS);
	if (s->max_age_s && u->password_changed > 0 &&
	    (uint64_t)(time(NULL) - u->password_changed) > s->max_age_s) {
		req->user = NULL;
		return deny(req, SK_R_PASSWORD_EXPIRED);
	}
	req->method = "basic";
	req->consumed |= SK_CONSUMED_AUTHORIZATION;
	return SK_V_NEXT;
}

/* client_cert: the user a verified certificate names, or NULL. */
static const struct sk_user *cert_user(const struct sk_access_env *env, const struct sk_access_req *req)
{
	if (req->client_cert != SK_CC_VERIFIED || !req->client_cert_ids)
		return NULL;
	for (const char *id = req->client_cert_ids; *id; id += strlen(id) + 1) {
		const struct sk_user *u = sk_users_find(env->users, id, strlen(id));
		if (u)
			return u;
	}
	return NULL;
}

/* Splits the second factor off Basic credentials when the behavior requires one: X-OTP wins (and is
 * then consumed), else the last 6 characters of the password when they are digits. */
static void split_code(struct sk_access_req *req, struct sk_cred *cred, char *otp)
{
	otp[0] = '\0';
	const struct sk_http_request *h = req->hreq;
	const struct sk_http_field *x = sk_http_find(h->headers, h->n_headers, "x-otp");
	if (x) {
		req->consumed |= SK_CONSUMED_OTP;
		if (x->value.len == SK_TOTP_DIGITS) {
			memcpy(otp, x->value.ptr, SK_TOTP_DIGITS);
			otp[SK_TOTP_DIGITS] = '\0';
		}
		return;
	}
	struct sk_slice pw = cred->password;
	if (pw.len <= SK_TOTP_DIGITS)
		return;
	for (size_t i = pw.len - SK_TOTP_DIGITS; i < pw.len; i++)
		if (pw.ptr[i] < '0' || pw.ptr[i] > '9')
			return;
	memcpy(otp, pw.ptr + pw.len - SK_TOTP_DIGITS, SK_TOTP_DIGITS);
	otp[SK_TOTP_DIGITS] = '\0';
	cred->password.len -= SK_TOTP_DIGITS;
}

/* A sign-in step's outcome (login.c) as the stage's verdict. */
static enum sk_verdict password_done(const struct auth_state *s, struct sk_access_req *req, struct sk_login *l,
				     enum sk_login_rc rc)
{
	if (rc == SK_LOGIN_AGAIN)
		return SK_V_AGAIN;
	if (rc == SK_LOGIN_FAIL) {
		req->user = NULL;
		return deny(req, (enum sk_reason)l->reason);
	}
	SK_ASSERT(rc == SK_LOGIN_OK);
	req->mfa = l->out.mfa;
	return user_verified(s, req);
}

static enum sk_verdict session_done(const struct auth_state *s, const struct sk_access_env *env,
				    struct sk_access_req *req, struct sk_login *l, enum sk_login_rc rc)
{
	if (rc == SK_LOGIN_AGAIN)
		return SK_V_AGAIN;
	if (rc == SK_LOGIN_FAIL)
		return deny(req, (enum sk_reason)l->reason);
	const struct sk_user *u = sk_users_find(env->users, l->session.user, strlen(l->session.user));
	if (!u) /* removed from the users file since: the session is worth nothing */
		return deny(req, SK_R_AUTH_REQUIRED);
	req->user = u;
	req->mfa = l->out.mfa;
	req->session_id = l->session.id;
	enum sk_verdict v = user_verified(s, req);
	if (v == SK_V_NEXT) {
		req->method = "session";
		req->consumed = SK_CONSUMED_SESSION;
	}
	return v;
}

/* A failure that is not a name's password (malformed, unknown API key, refused token). */
static enum sk_verdict refuse(const struct auth_state *s, const struct sk_access_env *env, struct sk_access_req *req,
			      struct sk_login *l)
{
	req->user = NULL;
	return password_done(s, req, l, sk_login_refuse(l, &s->login, env, req));
}

static enum sk_verdict start_session(const struct auth_state *s, const struct sk_access_env *env,
				     struct sk_access_req *req, struct sk_login *l)
{
	char id[65];
	if (!sk_session_cookie_find(env->session_key, req->hreq, id))
		return deny(req, SK_R_AUTH_REQUIRED);
	return session_done(s, env, req, l, sk_login_session(l, env, req, id));
}

/* auth: [jwt]: a bearer JWS, checked on the loop (a signature check costs tens of microseconds, and the
 * worker's cache makes a repeated token a hash lookup). A failure counts like a wrong password. */
static enum sk_verdict jwt_run(const struct auth_state *s, const struct sk_access_env *env,
			       struct sk_access_req *req, struct sk_login *l, struct sk_slice tok)
{
	SK_ASSERT(req->jwt_buf);
	enum sk_jwt_result r = sk_jwt_env_authenticate(env->jwt, env->generation, tok.ptr, tok.len,
						       (int64_t)time(NULL), req->jwt_buf);
	if (r != SK_JWT_OK) {
		sk_info("bearer token refused: %s", sk_jwt_result_text(r));
		return refuse(s, env, req, l);
	}
	req->jwt = req->jwt_buf;
	req->method = "jwt";
	if (!sk_jwt_ident_forward_token(req->jwt))
		req->consumed |= SK_CONSUMED_AUTHORIZATION;
	return SK_V_NEXT;
}

static enum sk_verdict auth_run(const void *state, const struct sk_access_env *env, struct sk_access_req *req,
				void *scratch)
{
	const struct auth_state *s = state;
	struct sk_login *l = scratch;
	if (sk_login_waiting(l)) {
		enum sk_login_rc rc = sk_login_resume(l, &s->login, env, req);
		if (l->job == SK_GJ_SESSION)
			return session_done(s, env, req, l, rc);
		if (rc != SK_LOGIN_CRED)
			return password_done(s, req, l, rc);
		/* the tally is read: the credentials are read again, knowing the lock */
	}
	if (s->client_cert) {
		const struct sk_user *u = cert_user(env, req);
		if (u) {
			req->user = u;
			req->method = "client_cert";
			return SK_V_NEXT;
		}
		if (!s->basic && !s->api_key && !s->session)
			return deny(req, req->client_cert == SK_CC_NONE ? SK_R_AUTH_REQUIRED : SK_R_BAD_CREDENTIALS);
	}
	struct sk_cred cred;
	sk_cred_read(req->hreq, s->basic, s->api_key || s->jwt, &cred);
	if (cred.kind == SK_CRED_TOKEN && !s->api_key && !cred.bearer)
		cred.kind = SK_CRED_NONE; /* X-Api-Key where only tokens are taken: not a credential here */
	switch (cred.kind) {
	case SK_CRED_NONE:
		if (s->session)
			return start_session(s, env, req, l);
		return deny(req, s->client_cert && req->client_cert != SK_CC_NONE ? SK_R_BAD_CREDENTIALS
										    : SK_R_AUTH_REQUIRED);
	case SK_CRED_MALFORMED:
		/* A failure like any other: it counts toward the client's ban. */
		return refuse(s, env, req, l);
	case SK_CRED_TOKEN: {
		/* A bearer value of three base64url parts is a token; anything else is an API key (DESIGN §3). */
		if (s->jwt && cred.bearer && sk_jwt_is_jws(cred.token.ptr, cred.token.len))
			return jwt_run(s, env, req, l, cred.token);
		if (!s->api_key)
			return refuse(s, env, req, l);
		const struct sk_apikey *k = sk_apikeys_find(env->apikeys, cred.token.ptr, cred.token.len);
		if (!k)
			return refuse(s, env, req, l);
		req->apikey = k;
		req->method = "api_key";
		req->consumed |= cred.bearer ? SK_CONSUMED_AUTHORIZATION : SK_CONSUMED_API_KEY;
		return SK_V_NEXT;
	}
	case SK_CRED_BASIC:
		break;
	}
	/* The tally (with lockout), the password (or a locked account's decoy), then the verdict: login.c. */
	char otp[SK_TOTP_DIGITS + 1] = "";
	if (s->login.need_mfa)
		split_code(req, &cred, otp);
	enum sk_login_rc rc = sk_login_password(l, &s->login, env, req, cred.user, cred.password, otp);
	explicit_bzero(cred.buf, sizeof(cred.buf));
	explicit_bzero(otp, sizeof(otp));
	return password_done(s, req, l, rc);
}

static void auth_free(void *state)
{
	free(state);
}

const struct sk_check_ops sk_check_auth = {
	.name = "auth",
	.compile = auth_compile,
	.run = auth_run,
	.free = auth_free,
	.scratch_size = sizeof(struct sk_login),
};
