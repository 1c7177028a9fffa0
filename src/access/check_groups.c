/*
 * check_groups.c — `access.groups: [..]`: the authenticated user, API key or token must belong to one of them,
 * else forbidden_group. Runs after the auth stage (the config loader requires auth with groups).
 */
#include <stdlib.h>
#include <string.h>

#include "access/access.h"
#include "access/apikeys.h"
#include "access/users.h"

static int groups_compile(const struct sk_access *a, const struct sk_access_env *env, void **state,
			  struct sk_err *err)
{
	if (a->groups.n == 0)
		return 0;
	*state = (void *)&a->groups; /* the config outlives the pipeline (both belong to the snapshot) */
	return 0;
}

/* name is one of the comma-separated names of csv (a verified token's groups). */
static bool in_csv(const char *csv, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = csv; *p;) {
		size_t l = strcspn(p, ",");
		if (l == n && memcmp(p, name, n) == 0)
			return true;
		p += l + (p[l] == ',');
	}
	return false;
}

static enum sk_verdict groups_run(const void *state, const struct sk_access_env *env,
				  struct sk_access_req *req, void *scratch)
{
	const struct sk_strlist *groups = state;
	if (!req->user && !req->apikey && !req->jwt) {
		req->reason = SK_R_AUTH_REQUIRED;
		return SK_V_DENY;
	}
	for (size_t i = 0; i < groups->n; i++) {
		if (req->user && sk_user_in_group(req->user, groups->items[i]))
			return SK_V_NEXT;
		if (req->apikey && sk_apikey_in_group(req->apikey, groups->items[i]))
			return SK_V_NEXT;
		if (req->jwt && in_csv(req->jwt->groups, groups->items[i]))
			return SK_V_NEXT;
	}
	req->reason = SK_R_FORBIDDEN_GROUP;
	return SK_V_DENY;
}

static void groups_free(void *state)
{
	(void)state;
}

const struct sk_check_ops sk_check_groups = {
	.name = "groups",
	.compile = groups_compile,
	.run = groups_run,
	.free = groups_free,
};
