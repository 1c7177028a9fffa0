/*
 * registry.c — every access check, in the order its stage runs: network checks (cheap, no secrets)
 * before credentials, so that a denied address never costs a hash.
 */
#include "access/access.h"

extern const struct sk_check_ops sk_check_ip;
extern const struct sk_check_ops sk_check_geo;
extern const struct sk_check_ops sk_check_auth;
extern const struct sk_check_ops sk_check_mfa;
extern const struct sk_check_ops sk_check_groups;
extern const struct sk_check_ops sk_check_policy;

const struct sk_check_ops *const sk_checks[] = {
	&sk_check_ip,
	&sk_check_geo,
	&sk_check_auth,
	&sk_check_mfa,
	&sk_check_groups,
	&sk_check_policy,
};

const size_t sk_n_checks = SK_ARRAY_LEN(sk_checks);
