/*
 * login.h — signing in, once for the auth stage (check_auth.c) and the portal's pages (proxy/portal.c):
 * a password (tally → verification → the state-store verdict), a second factor for a session, a session
 * looked up, opened or closed. Every protection of DESIGN §3 ("Lockout", "Bans", "No oracle through
 * timing or caching") lives here and in the jobs it starts (verify.c, guardjob.c), not in the callers:
 *
 *   - with lockout, the presented name's tally is read first (LOCK, the same read for any name); a
 *     locked account's password is then neither looked up in the cache nor verified: a decoy of its shape
 *     is verified against the account's own hash, at exactly the cost of a wrong password;
 *   - an unknown name is verified against the stand-in hash (cheaper hashes' failures padded to it);
 *   - a match is cached only once the account is known to be unlocked;
 *   - every failure goes through an AUTH job (lockout tally, or the decoy write for an unknown name, and
 *     the client's ban) before its answer, when the caller keeps state (opts.guard).
 *
 * struct sk_login is the caller's scratch (the auth stage's slice of the request's workspace, or the
 * portal's own state), zeroed before the first call for a request; it holds no password, only the code
 * that came with one until its AUTH job takes it. A call returns AGAIN when it waits on the pool: the
 * request's resume runs later, and the caller then calls sk_login_resume.
 */
#ifndef SK_LOGIN_H
#define SK_LOGIN_H

#include "access/access.h"
#include "access/guardjob.h"

/* How failures and successes are recorded, from the snapshot's config (sk_login_opts). */
struct sk_login_opts {
	bool guard;    /* verdicts go through a state-store job (lockout, bans or a second factor) */
	bool lockout;  /* the presented name's tally is read before its password is verified */
	bool need_mfa; /* a password must come with a valid code (checked by the AUTH job) */
};

enum sk_login_rc {
	SK_LOGIN_AGAIN = 0, /* waiting on the pool: sk_login_resume once req->resume has run */
	SK_LOGIN_CRED,      /* the tally is read: call sk_login_password again with the same credentials */
	SK_LOGIN_OK,        /* the step passed */
	SK_LOGIN_FAIL,      /* refused with l->reason */
};

struct sk_login {
	const struct sk_user *user; /* the presented name's user (NULL when unknown), for the password flow */
	uint8_t phase;         /* internal: what the request waits on */
	uint8_t job;           /* enum sk_guard_kind of the latest state-store job (0 = none) */
	uint8_t reason;        /* SK_LOGIN_FAIL: enum sk_reason */
	int8_t verify_result;  /* 1 match, 0 mismatch (verify.c writes it) */
	bool remember;         /* with lockout: cache pw.key once the account is known to be unlocked */
	struct sk_guard_out out; /* the latest job's outcome (guardjob.c writes it); out.mfa after a password */
	union {
		struct {
			uint8_t key[32];               /* the credential's cache key (a keyed hash; no secret) */
			char otp[SK_TOTP_DIGITS + 2];  /* the code that came with the password ("" = none) */
		} pw;                                  /* the password flow */
		struct sk_guard_session session;       /* SESSION and LOGIN: the session and its user */
	};
};

/* opts for a behavior (need_mfa: it requires a second factor) or, need_mfa false and guard forced, the
 * portal's login form (which keeps state to open a session anyway). */
void sk_login_opts_init(struct sk_login_opts *o, const struct sk_access_env *env, bool need_mfa, bool force_guard);

/*
 * A name and password (not kept; the caller wipes its copy), with otp the code split off it or sent
 * beside it ("" or NULL = none; only read with opts.need_mfa). Sets req->user to the name's user (NULL
 * when unknown). OK: req->user signed in (l->out.mfa: with a code); FAIL: l->reason (bad_credentials,
 * account_locked, mfa_required, mfa_failed, too_many_attempts, state_unavailable; req->user left for the
 * caller to clear).
 */
enum sk_login_rc sk_login_password(struct sk_login *l, const struct sk_login_opts *o, const struct sk_access_env *env,
				   struct sk_access_req *req, struct sk_slice user, struct sk_slice pw, const char *otp);
/* A failure without a name's password (a malformed credential, an unknown API key, a refused token): it
 * counts toward the client's ban like any other. Never OK. */
enum sk_login_rc sk_login_refuse(struct sk_login *l, const struct sk_login_opts *o, const struct sk_access_env *env,
				 struct sk_access_req *req);
/* The second factor for user u, whose session vouches for the password: the code is checked and marked
 * used (a wrong one counts as a failure). OK: l->out.mfa; FAIL: mfa_required, mfa_failed, state_unavailable. */
enum sk_login_rc sk_login_code(struct sk_login *l, const struct sk_access_env *env, struct sk_access_req *req,
			       const struct sk_user *u, const char *code);
/* Looks the session id up (and refreshes its idle time). OK: l->session (id, user), l->out.level and mfa;
 * FAIL: auth_required (no such session), state_unavailable. */
enum sk_login_rc sk_login_session(struct sk_login *l, const struct sk_access_env *env, struct sk_access_req *req,
				  const char id[65]);
/* Opens a session for u at level (replacing old_id when not NULL). OK: l->session.id is the new id. */
enum sk_login_rc sk_login_open(struct sk_login *l, const struct sk_access_env *env, struct sk_access_req *req,
			       const struct sk_user *u, uint8_t level, const char *old_id);
/* Deletes the session id. */
enum sk_login_rc sk_login_close(struct sk_login *l, const struct sk_access_env *env, struct sk_access_req *req,
				const char id[65]);
/* True while a call answered AGAIN and its resume has not been taken (sk_login_resume is due). */
bool sk_login_waiting(const struct sk_login *l);
/* After req->resume: the step's next move, which may be AGAIN once more (a verified password's AUTH job). */
enum sk_login_rc sk_login_resume(struct sk_login *l, const struct sk_login_opts *o, const struct sk_access_env *env,
				 struct sk_access_req *req);

#endif
