/*
 * guardjob.h — state-store work for one request, run on the pool's state lane (DESIGN §9: no store call
 * on an event loop). The auth stage and the login pages hand a job its inputs (copies: the snapshot may
 * be gone by the time it runs), the job reads and updates the records of guard.h, and the request
 * resumes on its loop with the outcome.
 *
 * One job kind per moment of a request:
 *   LOCK     before a password is verified (with lockout): read the presented name's tally, known name
 *            or not (the same store read either way), so a locked account's password is never verified.
 *   AUTH     a password was verified (or not): on success, check the lock again (a failure may have
 *            landed since LOCK), the second factor, and reset the tally; on failure, count it toward the
 *            account's lockout (an unknown name pays the same write on a decoy record, so the answer's
 *            time does not tell accounts from invented names) and the client's ban.
 *   SESSION  look up a login session (and refresh its idle time).
 *   LOGIN    create or upgrade a session after the login or code page succeeded.
 *   LOGOUT   delete a session.
 */
#ifndef SK_GUARDJOB_H
#define SK_GUARDJOB_H

#include "access/access.h"
#include "access/guard.h"
#include "access/totp.h"

enum sk_guard_kind { SK_GJ_AUTH = 1, SK_GJ_SESSION, SK_GJ_LOGIN, SK_GJ_LOGOUT, SK_GJ_LOCK };

struct sk_guard_in {
	enum sk_guard_kind kind;
	char user[SK_GUARD_MAX_USER + 1]; /* the presented name ("" when unknown to the users file) */
	bool user_known;
	bool named;                    /* AUTH: a password for a name (Basic, the login form), known or not */
	bool password_ok;
	bool need_mfa;                 /* AUTH: the behavior (or login page) requires a second factor */
	bool have_code;
	char code[SK_TOTP_DIGITS + 1];
	char *totp_enc;                /* the user's sealed secret, or NULL (owned by the job) */
	char ip[48];                   /* the trusted client address */
	char session_id[65];           /* SESSION, LOGIN (upgrade), LOGOUT */
	uint8_t level;                 /* LOGIN: the level reached */
};

/* A job's outcome, written into the caller's scratch (which lives as long as the request) just before
 * req->resume runs; nothing is written once the request is detached (sk_guard_cancel). */
struct sk_guard_out {
	uint8_t reason; /* enum sk_reason, SK_R_NONE = the step passed */
	bool mfa;       /* AUTH: a code was verified; SESSION: the session is at the MFA level */
	uint8_t level;  /* SESSION: the session's level */
	bool locked;    /* LOCK: the account is locked: its password must not be verified */
	bool settled;   /* LOCK: no failure on record: a success needs no AUTH job */
};

/* SESSION and LOGIN also name the session (the other kinds leave this alone). */
struct sk_guard_session {
	char id[65];                      /* SESSION: the session found; LOGIN: the new one */
	char user[SK_GUARD_MAX_USER + 1]; /* SESSION: its user */
};

/*
 * Queues the job for req; req->resume runs on the loop thread with *out (and *ses when not NULL, for
 * SESSION and LOGIN) filled, and the job gone. Returns 0, or -1 when the lane's queue is full (nothing
 * queued; answer 503).
 */
int sk_guard_start(struct sk_access_req *req, const struct sk_access_env *env, struct sk_guard_in *in,
		   struct sk_guard_out *out, struct sk_guard_session *ses);
/* Fills in.user, user_known, totp_enc and ip from req and env. */
void sk_guard_in_init(struct sk_guard_in *in, enum sk_guard_kind kind, const struct sk_access_req *req,
		      const struct sk_user *u, const char *name, size_t name_len);
/* Detaches a request whose connection is closing (the job finishes and frees itself). */
void sk_guard_cancel(struct sk_access_req *req);

#endif
