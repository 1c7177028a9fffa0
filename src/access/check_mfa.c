/*
 * check_mfa.c — `access.mfa: required` (DESIGN §3): the request passes only when a second factor was
 * verified, either with this request (a Basic password with the code appended, or X-OTP: the auth stage
 * checks it) or when its login session was opened with one. An API key is not a second factor.
 */
#include <stdlib.h>

#include "access/access.h"

static int mfa_compile(const struct sk_access *a, const struct sk_access_env *env, void **state,
		       struct sk_err *err)
{
	if (a->mfa != SK_MFA_REQUIRED)
		return 0;
	if (a->n_auth == 0)
		return sk_err_set(err, env->cfg->path, 0, 0, "mfa: required needs an auth method (basic or session)");
	const struct sk_config *cfg = env->cfg;
	if (!env->totp_ready && cfg->totp.key_file)
		return sk_err_set(err, cfg->path, cfg->totp.key_file_pos.line, cfg->totp.key_file_pos.col,
				  "mfa: required needs totp.key_file %s, which does not exist yet (create it by enrolling a "
				  "user: sekisho totp -c FILE enroll USER)",
				  cfg->totp.key_file);
	if (!env->totp_ready)
		return sk_err_set(err, env->cfg->path, a->mfa_pos.line, a->mfa_pos.col,
				  "mfa: required needs totp.key_file (create it by enrolling a user: sekisho totp -c "
				  "FILE enroll USER)");
	*state = (void *)1; /* no state: the stage only reads the request */
	return 0;
}

static enum sk_verdict mfa_run(const void *state, const struct sk_access_env *env, struct sk_access_req *req,
				void *scratch)
{
	if (req->mfa)
		return SK_V_NEXT;
	req->reason = SK_R_MFA_REQUIRED;
	return SK_V_DENY;
}

static void mfa_free(void *state)
{
}

const struct sk_check_ops sk_check_mfa = {
	.name = "mfa",
	.compile = mfa_compile,
	.run = mfa_run,
	.free = mfa_free,
};
