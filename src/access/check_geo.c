/*
 * check_geo.c — `access.geo: {allow: [CC…]} | {deny: [CC…]}, unknown: allow|deny` against the
 * geoip.database (libmaxminddb, see geo.h). An address the database does not know is decided by
 * `unknown`. Geo rules without a database are a configuration error, not a silent pass.
 */
#include <stdlib.h>
#include <string.h>

#include "access/access.h"
#include "access/geo.h"

struct geo_state {
	char (*allow)[3];
	size_t n_allow;
	char (*deny)[3];
	size_t n_deny;
	bool unknown_allowed;
};

static char (*codes(const struct sk_strlist *l))[3]
{
	char(*c)[3] = sk_calloc(l->n ? l->n : 1, sizeof(*c));
	for (size_t i = 0; i < l->n; i++)
		memcpy(c[i], l->items[i], 2);
	return c;
}

static int geo_compile(const struct sk_access *a, const struct sk_access_env *env, void **state,
		       struct sk_err *err)
{
	if (!a->has_geo)
		return 0;
	if (!env->geo)
		return sk_err_set(err, env->cfg->path, 0, 0,
				  "access.geo rules need geoip.database (no country database is configured)");
	struct geo_state *s = sk_calloc(1, sizeof(*s));
	s->allow = codes(&a->geo_allow);
	s->n_allow = a->geo_allow.n;
	s->deny = codes(&a->geo_deny);
	s->n_deny = a->geo_deny.n;
	s->unknown_allowed = a->geo_unknown == SK_GEO_UNKNOWN_ALLOW;
	*state = s;
	return 0;
}

static bool in(char (*list)[3], size_t n, const char cc[3])
{
	for (size_t i = 0; i < n; i++)
		if (list[i][0] == cc[0] && list[i][1] == cc[1])
			return true;
	return false;
}

static enum sk_verdict geo_run(const void *state, const struct sk_access_env *env, struct sk_access_req *req,
				void *scratch)
{
	const struct geo_state *s = state;
	bool ok;
	if (!sk_geo_lookup(env->geo, req->family, req->addr, req->country))
		ok = s->unknown_allowed;
	else if (s->n_allow)
		ok = in(s->allow, s->n_allow, req->country);
	else
		ok = !in(s->deny, s->n_deny, req->country);
	if (ok)
		return SK_V_NEXT;
	req->reason = SK_R_GEO_DENIED;
	return SK_V_DENY;
}

static void geo_free(void *state)
{
	struct geo_state *s = state;
	free(s->allow);
	free(s->deny);
	free(s);
}

const struct sk_check_ops sk_check_geo = {
	.name = "geo",
	.compile = geo_compile,
	.run = geo_run,
	.free = geo_free,
};
