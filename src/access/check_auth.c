/*
 * check_auth.c — `access.auth: [basic, api_key, client_cert]` (DESIGN §3): who the viewer is.
 *
 * A client certificate (verified by the listener against its tls.client_ca) names a user by its subject
 * CN, else by one of its SAN e-mails; it is looked at first. Presented but untrusted, or naming nobody:
 * bad_credentials, unless the behavior also takes Basic or API-key credentials and the request carries
 * some (then those decide).
 *
 * API keys are looked up by SHA-256 at once (no slow hash is involved). Basic credentials are checked
 * against the cache of verified credentials first; otherwise the slow hash runs on the blocking pool
 * (verify.c) and the stage answers AGAIN, to be run again when the result is back. An unknown user is
 * verified against a dummy hash of the same cost, so a wrong user name and a wrong password cost the
 * same time and get the same answer (bad_credentials). Password age is checked after a match.
 */
#include <stdlib.h>
#include <time.h>

#include "access/access.h"
#include "access/apikeys.h"
#include "access/credentials.h"
#include "access/users.h"
#include "access/verify.h"

struct auth_state {
	bool basic;
	bool api_key;
	bool client_cert;
	uint64_t max_age_s; /* 0 = passwords never expire */
};

enum { PHASE_START = 0, PHASE_WAITING, PHASE_VERIFIED };

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
		case SK_AUTH_CLIENT_CERT:
			s->client_cert = true;
			break;
		default:
			free(s);
			return sk_err_set(err, env->cfg->path, 0, 0,
					  "auth method 'session' is not available in this version yet (use basic, "
					  "api_key or client_cert)");
		}
	}
	SK_ASSERT(!(s->basic || s->client_cert) || env->users); /* the config loader requires users */
	SK_ASSERT(!s->api_key || env->apikeys); /* and api_keys for api_key */
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

static enum sk_verdict auth_run(const void *state, const struct sk_access_env *env, struct sk_access_req *req)
{
	const struct auth_state *s = state;
	if (s->client_cert && req->auth_phase == PHASE_START) {
		const struct sk_user *u = cert_user(env, req);
		if (u) {
			req->user = u;
			req->method = "client_cert";
			return SK_V_NEXT;
		}
		if (!s->basic && !s->api_key)
			return deny(req, req->client_cert == SK_CC_NONE ? SK_R_AUTH_REQUIRED : SK_R_BAD_CREDENTIALS);
	}
	if (req->auth_phase == PHASE_WAITING) {
		req->auth_phase = PHASE_VERIFIED;
		if (req->verify_result == 1)
			return user_verified(s, req);
		req->user = NULL;
		return deny(req, SK_R_BAD_CREDENTIALS);
	}
	struct sk_cred cred;
	sk_cred_read(req->hreq, s->basic, s->api_key, &cred);
	switch (cred.kind) {
	case SK_CRED_NONE:
		return deny(req, s->client_cert && req->client_cert != SK_CC_NONE ? SK_R_BAD_CREDENTIALS
										    : SK_R_AUTH_REQUIRED);
	case SK_CRED_MALFORMED:
		return deny(req, SK_R_BAD_CREDENTIALS);
	case SK_CRED_TOKEN: {
		const struct sk_apikey *k = sk_apikeys_find(env->apikeys, cred.token.ptr, cred.token.len);
		if (!k)
			return deny(req, SK_R_BAD_CREDENTIALS);
		req->apikey = k;
		req->method = "api_key";
		return SK_V_NEXT;
	}
	case SK_CRED_BASIC:
		break;
	}
	const struct sk_user *u = sk_users_find(env->users, cred.user.ptr, cred.user.len);
	req->user = u;
	uint8_t key[32];
	sk_verify_key(env->generation, cred.user.ptr, cred.user.len, cred.password.ptr, cred.password.len, key);
	if (u && sk_verify_cached(req->verifier, env->generation, key)) {
		explicit_bzero(cred.buf, sizeof(cred.buf));
		return user_verified(s, req);
	}
	const char *hash = u ? u->hash : sk_users_dummy_hash(env->users);
	int rc = sk_verify_start(req->verifier, req, env->generation, key, hash, cred.password.ptr,
				 cred.password.len);
	explicit_bzero(cred.buf, sizeof(cred.buf));
	if (rc == -1) {
		req->user = NULL;
		return deny(req, SK_R_TOO_MANY_ATTEMPTS);
	}
	req->auth_phase = PHASE_WAITING;
	return SK_V_AGAIN;
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
};
