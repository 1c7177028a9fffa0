/*
 * login.c — signing in with a password, a code or a session (see login.h), for the auth stage and the
 * portal alike.
 *
 * Invariants: the password is used only within sk_login_password (verified off the loop from the
 * verifier's own copy, or replaced by a decoy for a locked account) and never stored here; the code that
 * came with it stays in l->pw.otp only until its AUTH job copies it, and is wiped then or on any refusal.
 * Every state-store job writes its outcome into l (l->out, l->session) before the request resumes.
 */
#include "access/login.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access/credentials.h"
#include "access/users.h"
#include "access/verify.h"

enum {
	PH_NONE = 0,
	PH_LOCK,      /* waiting on the tally read */
	PH_LOCK_READ, /* the tally is read: the credentials come again */
	PH_VERIFY,    /* waiting on the password's verification */
	PH_GUARD,     /* waiting on the AUTH job (a password's or a code's verdict) */
	PH_SESSION,   /* waiting on a session lookup */
	PH_OPEN,      /* waiting on a session being opened */
	PH_CLOSE,     /* waiting on a session being deleted */
	PH_DONE,
};

void sk_login_opts_init(struct sk_login_opts *o, const struct sk_access_env *env, bool need_mfa, bool force_guard)
{
	const struct sk_config *cfg = env->cfg;
	o->need_mfa = need_mfa;
	o->guard = env->store && (force_guard || cfg->lockout.present || cfg->ban.present || need_mfa);
	o->lockout = o->guard && cfg->lockout.present && cfg->lockout.deny > 0;
}

static enum sk_login_rc fail(struct sk_login *l, enum sk_reason r)
{
	l->reason = (uint8_t)r;
	l->phase = PH_DONE;
	return SK_LOGIN_FAIL;
}

static enum sk_login_rc start(struct sk_login *l, const struct sk_access_env *env, struct sk_access_req *req,
			      struct sk_guard_in *in, uint8_t phase, struct sk_guard_session *ses)
{
	l->job = (uint8_t)in->kind;
	if (sk_guard_start(req, env, in, &l->out, ses) == -1) {
		free(in->totp_enc);
		return fail(l, SK_R_STATE_UNAVAILABLE);
	}
	l->phase = phase;
	return SK_LOGIN_AGAIN;
}

/* After the password (ok: it matched and the account is not locked): the verdict goes through the AUTH
 * job, which checks the lock again and the code, and counts a failure toward the lockout (named: a
 * password for a name, known or not) and the ban. */
static enum sk_login_rc after_verify(struct sk_login *l, const struct sk_login_opts *o,
				     const struct sk_access_env *env, struct sk_access_req *req, bool ok, bool named)
{
	if (!o->guard) {
		l->phase = PH_DONE;
		return ok ? SK_LOGIN_OK : fail(l, SK_R_BAD_CREDENTIALS);
	}
	if (ok && l->user && o->lockout && l->out.settled && !o->need_mfa) {
		/* LOCK saw no failure on record: nothing to reset (a failure since is the usual race of
		 * concurrent guesses, see access.md). */
		if (l->remember)
			sk_verify_remember(req->verifier, env->generation, l->pw.key);
		l->phase = PH_DONE;
		return SK_LOGIN_OK;
	}
	struct sk_guard_in in;
	sk_guard_in_init(&in, SK_GJ_AUTH, req, l->user, NULL, 0);
	in.password_ok = ok && l->user;
	in.named = named;
	in.need_mfa = o->need_mfa;
	if (named && l->pw.otp[0]) {
		in.have_code = true;
		memcpy(in.code, l->pw.otp, sizeof(in.code));
	}
	if (named)
		explicit_bzero(l->pw.otp, sizeof(l->pw.otp));
	return start(l, env, req, &in, PH_GUARD, NULL);
}

enum sk_login_rc sk_login_password(struct sk_login *l, const struct sk_login_opts *o, const struct sk_access_env *env,
				   struct sk_access_req *req, struct sk_slice user, struct sk_slice pw, const char *otp)
{
	SK_ASSERT(pw.len <= SK_CRED_MAX);
	if (o->lockout && l->phase != PH_LOCK_READ) {
		/* The name's tally first: a locked account's password is never verified nor cached. */
		struct sk_guard_in in;
		sk_guard_in_init(&in, SK_GJ_LOCK, req, NULL, user.ptr, user.len);
		return start(l, env, req, &in, PH_LOCK, NULL);
	}
	const struct sk_user *u = sk_users_find(env->users, user.ptr, user.len);
	req->user = u;
	l->user = u;
	l->pw.otp[0] = '\0';
	if (o->need_mfa && otp && strlen(otp) == SK_TOTP_DIGITS)
		memcpy(l->pw.otp, otp, SK_TOTP_DIGITS + 1);
	bool locked = o->lockout && l->out.locked;
	uint8_t key[32];
	sk_verify_key(env->generation, user.ptr, user.len, pw.ptr, pw.len, key);
	if (u && !locked && sk_verify_cached(req->verifier, env->generation, key)) {
		l->remember = false; /* already cached: a hit does not extend its life */
		return after_verify(l, o, env, req, true, true);
	}
	/* An unknown name is verified against the stand-in hash, at the cost of the file's costliest. */
	const char *hash = u ? u->hash : sk_users_dummy_hash(env->users);
	l->remember = o->lockout && u && !locked;
	memcpy(l->pw.key, key, sizeof(key));
	/* A locked account's password is not verified: a decoy of its shape is, against the account's own
	 * hash, at exactly the cost of a wrong password. */
	char decoy[SK_CRED_MAX];
	const char *p = pw.ptr;
	if (locked && u) {
		sk_verify_decoy(pw.ptr, pw.len, decoy, key);
		p = decoy;
	}
	int rc = sk_verify_start(req->verifier, req, env->generation, key, hash, p, pw.len, !o->lockout,
				 sk_users_pad_ns(env->users, u), &l->verify_result);
	if (rc == -1) {
		explicit_bzero(l->pw.otp, sizeof(l->pw.otp));
		return fail(l, SK_R_TOO_MANY_ATTEMPTS);
	}
	l->phase = PH_VERIFY;
	return SK_LOGIN_AGAIN;
}

enum sk_login_rc sk_login_refuse(struct sk_login *l, const struct sk_login_opts *o, const struct sk_access_env *env,
				 struct sk_access_req *req)
{
	l->user = NULL;
	return after_verify(l, o, env, req, false, false);
}

enum sk_login_rc sk_login_code(struct sk_login *l, const struct sk_access_env *env, struct sk_access_req *req,
			       const struct sk_user *u, const char *code)
{
	struct sk_guard_in in;
	sk_guard_in_init(&in, SK_GJ_AUTH, req, u, NULL, 0);
	in.password_ok = true; /* the session says so */
	in.need_mfa = true;
	if (code && code[0]) {
		in.have_code = true;
		snprintf(in.code, sizeof(in.code), "%s", code);
	}
	l->user = u;
	l->remember = false;
	return start(l, env, req, &in, PH_GUARD, NULL);
}

enum sk_login_rc sk_login_session(struct sk_login *l, const struct sk_access_env *env, struct sk_access_req *req,
				  const char id[65])
{
	struct sk_guard_in in;
	sk_guard_in_init(&in, SK_GJ_SESSION, req, NULL, NULL, 0);
	memcpy(in.session_id, id, sizeof(in.session_id));
	return start(l, env, req, &in, PH_SESSION, &l->session);
}

enum sk_login_rc sk_login_open(struct sk_login *l, const struct sk_access_env *env, struct sk_access_req *req,
			       const struct sk_user *u, uint8_t level, const char *old_id)
{
	struct sk_guard_in in;
	sk_guard_in_init(&in, SK_GJ_LOGIN, req, u, NULL, 0);
	in.level = level;
	if (old_id)
		snprintf(in.session_id, sizeof(in.session_id), "%s", old_id);
	return start(l, env, req, &in, PH_OPEN, &l->session);
}

enum sk_login_rc sk_login_close(struct sk_login *l, const struct sk_access_env *env, struct sk_access_req *req,
				const char id[65])
{
	struct sk_guard_in in;
	sk_guard_in_init(&in, SK_GJ_LOGOUT, req, NULL, NULL, 0);
	memcpy(in.session_id, id, sizeof(in.session_id));
	return start(l, env, req, &in, PH_CLOSE, NULL);
}

bool sk_login_waiting(const struct sk_login *l)
{
	return l->phase != PH_NONE && l->phase != PH_LOCK_READ && l->phase != PH_DONE;
}

enum sk_login_rc sk_login_resume(struct sk_login *l, const struct sk_login_opts *o, const struct sk_access_env *env,
				 struct sk_access_req *req)
{
	switch (l->phase) {
	case PH_LOCK:
		if (l->out.reason != SK_R_NONE)
			return fail(l, (enum sk_reason)l->out.reason);
		l->phase = PH_LOCK_READ; /* the credentials are read again, knowing the lock */
		return SK_LOGIN_CRED;
	case PH_VERIFY:
		return after_verify(l, o, env, req, l->verify_result == 1 && !(o->lockout && l->out.locked), true);
	case PH_GUARD:
		if (l->out.reason != SK_R_NONE)
			return fail(l, (enum sk_reason)l->out.reason);
		if (l->remember) /* the account is not locked: the match may be remembered now */
			sk_verify_remember(req->verifier, env->generation, l->pw.key);
		l->phase = PH_DONE;
		return SK_LOGIN_OK;
	case PH_SESSION:
	case PH_OPEN:
	case PH_CLOSE:
		if (l->out.reason != SK_R_NONE)
			return fail(l, (enum sk_reason)l->out.reason);
		l->phase = PH_DONE;
		return SK_LOGIN_OK;
	default:
		SK_ASSERT(!"login: resumed without a wait");
		return fail(l, SK_R_STATE_UNAVAILABLE);
	}
}
