/*
 * access.c — an `access:` block (DESIGN §3) as behaviors, the admin listener and egress entries write it:
 * ip and geo rules, auth methods and their settings, groups, mfa, policies; every name it uses (ip sets,
 * groups, countries) checked where it is written.
 */
#include "config/config_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const struct {
	const char *name;
	enum sk_auth_method method;
} auth_methods[] = {
	{ .name = "basic", .method = SK_AUTH_BASIC },
	{ .name = "api_key", .method = SK_AUTH_API_KEY },
	{ .name = "session", .method = SK_AUTH_SESSION },
	{ .name = "client_cert", .method = SK_AUTH_CLIENT_CERT },
	{ .name = "jwt", .method = SK_AUTH_JWT },
};

static int check_ip_set_ref(struct sk_cfg_ctx *c, const struct sk_cnode *item, char **text)
{
	if (!sk_config_ip_set(c->cfg, item->str))
		return sk_cfg_fail(c, item, "ip set '%s' is not defined in 'ip_sets'", item->str);
	*text = sk_strdup(item->str);
	return 0;
}

static int check_country(struct sk_cfg_ctx *c, const struct sk_cnode *item, char **text)
{
	const char *s = item->str;
	if (!isalpha((unsigned char)s[0]) || !isalpha((unsigned char)s[1]) || s[2] != '\0') {
		char d[64];
		return sk_cfg_fail(c, item, "invalid country code %s: expected two letters such as DE",
				   sk_cfg_describe(item, d, sizeof(d)));
	}
	char *cc = sk_strdup(s);
	cc[0] = (char)toupper((unsigned char)cc[0]);
	cc[1] = (char)toupper((unsigned char)cc[1]);
	*text = cc;
	return 0;
}

static int check_group(struct sk_cfg_ctx *c, const struct sk_cnode *item, char **text)
{
	const char *s = item->str;
	bool ok = *s != '\0';
	for (; ok && *s; s++)
		ok = (unsigned char)*s > 0x20 && *s != 0x7f && *s != ',';
	if (!ok) {
		char d[64];
		return sk_cfg_fail(c, item, "invalid group name %s", sk_cfg_describe(item, d, sizeof(d)));
	}
	*text = sk_strdup(item->str);
	return 0;
}

static int read_auth(struct sk_cfg_ctx *c, const struct sk_cnode *m, struct sk_access *a)
{
	const struct sk_cnode *v = sk_cfg_get(m, "auth");
	if (sk_cfg_want(c, v, SK_CN_SEQ, "'auth'") == -1)
		return -1;
	if (!v || sk_cfg_is_null(v) || v->n == 0)
		return 0;
	a->auth = sk_calloc(v->n, sizeof(*a->auth));
	for (size_t i = 0; i < v->n; i++) {
		const struct sk_cnode *item = v->kids[i];
		char d[64];
		if (!sk_cfg_scalar(c, item, "each item of 'auth'"))
			return -1;
		size_t k = 0;
		while (k < SK_ARRAY_LEN(auth_methods) && strcmp(auth_methods[k].name, item->str) != 0)
			k++;
		if (k == SK_ARRAY_LEN(auth_methods))
			return sk_cfg_fail(c, item, "unknown auth method %s (expected basic, api_key, session, client_cert or jwt)",
					   sk_cfg_describe(item, d, sizeof(d)));
		for (size_t j = 0; j < a->n_auth; j++)
			if (a->auth[j] == auth_methods[k].method)
				return sk_cfg_fail(c, item, "auth method '%s' is listed twice", item->str);
		const struct sk_config *cfg = c->cfg;
		enum sk_auth_method meth = auth_methods[k].method;
		if ((meth == SK_AUTH_BASIC || meth == SK_AUTH_SESSION || meth == SK_AUTH_CLIENT_CERT) && !cfg->users.file &&
		    !cfg->users.htpasswd)
			return sk_cfg_fail(c, item, "auth method '%s' needs users: set 'users: { file: ... }' or 'users: { htpasswd: ... }'",
					   item->str);
		if (meth == SK_AUTH_API_KEY && !cfg->api_keys.file)
			return sk_cfg_fail(c, item, "auth method 'api_key' needs 'api_keys: { file: ... }'");
		if (meth == SK_AUTH_JWT && cfg->jwt.n_issuers == 0)
			return sk_cfg_fail(c, item, "auth method 'jwt' needs 'jwt: { issuers: [...] }'");
		a->auth[a->n_auth++] = meth;
	}
	return 0;
}

int sk_cfg_access(struct sk_cfg_ctx *c, const struct sk_cnode *m, struct sk_access *a, const char *where)
{
	static const char *const keys[] = { "ip", "geo", "auth", "realm", "groups", "mfa", "policy", NULL };
	static const char *const ip_keys[] = { "allow", "deny", NULL };
	static const char *const geo_keys[] = { "allow", "deny", "unknown", NULL };
	char w[192];
	a->realm = sk_strdup("sekisho");
	if (sk_cfg_want(c, m, SK_CN_MAP, "'access'") == -1)
		return -1;
	if (!m || sk_cfg_is_null(m))
		return 0;
	snprintf(w, sizeof(w), "in 'access' of %s", where);
	if (sk_cfg_check_keys(c, m, keys, w) == -1)
		return -1;
	a->present = true;

	const struct sk_cnode *ip = sk_cfg_get(m, "ip");
	snprintf(w, sizeof(w), "in 'ip' of %s", where);
	if (sk_cfg_want(c, ip, SK_CN_MAP, "'ip'") == -1 || sk_cfg_check_keys(c, ip, ip_keys, w) == -1 ||
	    sk_cfg_strlist(c, ip, "allow", &a->ip_allow, check_ip_set_ref) == -1 ||
	    sk_cfg_strlist(c, ip, "deny", &a->ip_deny, check_ip_set_ref) == -1)
		return -1;

	const struct sk_cnode *geo = sk_cfg_get(m, "geo");
	snprintf(w, sizeof(w), "in 'geo' of %s", where);
	if (sk_cfg_want(c, geo, SK_CN_MAP, "'geo'") == -1 || sk_cfg_check_keys(c, geo, geo_keys, w) == -1)
		return -1;
	if (geo && !sk_cfg_is_null(geo)) {
		const struct sk_cnode *deny_key = sk_cfg_get_key(geo, "deny");
		if (sk_cfg_get_key(geo, "allow") && deny_key)
			return sk_cfg_fail(c, deny_key, "'geo' takes either 'allow' or 'deny', not both");
		if (!c->cfg->geoip.database)
			return sk_cfg_fail(c, geo, "'geo' rules need a country database: set 'geoip: { database: ... }'");
		if (sk_cfg_strlist(c, geo, "allow", &a->geo_allow, check_country) == -1 ||
		    sk_cfg_strlist(c, geo, "deny", &a->geo_deny, check_country) == -1)
			return -1;
		const struct sk_cnode *u = sk_cfg_get(geo, "unknown");
		if (u && !sk_cfg_is_null(u)) {
			char d[64];
			if (!sk_cfg_scalar(c, u, "'unknown'"))
				return -1;
			if (strcmp(u->str, "allow") == 0)
				a->geo_unknown = SK_GEO_UNKNOWN_ALLOW;
			else if (strcmp(u->str, "deny") == 0)
				a->geo_unknown = SK_GEO_UNKNOWN_DENY;
			else
				return sk_cfg_fail(c, u, "'unknown' must be allow or deny, not %s", sk_cfg_describe(u, d, sizeof(d)));
		}
		a->has_geo = true;
	}

	if (read_auth(c, m, a) == -1 || sk_cfg_str(c, m, "realm", &a->realm) == -1 ||
	    sk_cfg_strlist(c, m, "groups", &a->groups, check_group) == -1)
		return -1;
	const struct sk_cnode *pol = sk_cfg_get(m, "policy");
	if (pol && !sk_cfg_is_null(pol)) {
		char d[64];
		if (pol->type == SK_CN_SCALAR && strcmp(pol->str, "true") == 0)
			a->policy = SK_POLICY_ENFORCE;
		else if (pol->type == SK_CN_SCALAR && strcmp(pol->str, "audit") == 0)
			a->policy = SK_POLICY_AUDIT;
		else if (!(pol->type == SK_CN_SCALAR && strcmp(pol->str, "false") == 0))
			return sk_cfg_fail(c, pol, "'policy' must be true, audit or false, not %s",
					   sk_cfg_describe(pol, d, sizeof(d)));
		/* Policies are attached to identities: without auth there is nobody to evaluate them for. */
		if (a->policy != SK_POLICY_OFF && a->n_auth == 0)
			return sk_cfg_fail(c, sk_cfg_get_key(m, "policy"), "'policy' needs 'auth' (policies are "
					   "attached to users, groups and API keys)");
	}
	/* The realm is sent inside a quoted string of WWW-Authenticate. */
	for (const char *p = a->realm; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f || *p == '"' || *p == '\\')
			return sk_cfg_fail(c, sk_cfg_get(m, "realm"), "'realm' may not contain quotes, backslashes or control characters");

	const struct sk_cnode *mfa = sk_cfg_get(m, "mfa");
	if (mfa && !sk_cfg_is_null(mfa)) {
		char d[64];
		if (!sk_cfg_scalar(c, mfa, "'mfa'"))
			return -1;
		a->mfa_pos = sk_cfg_pos(mfa);
		if (strcmp(mfa->str, "required") == 0)
			a->mfa = SK_MFA_REQUIRED;
		else if (strcmp(mfa->str, "off") == 0)
			a->mfa = SK_MFA_OFF;
		else
			return sk_cfg_fail(c, mfa, "'mfa' must be required or off, not %s", sk_cfg_describe(mfa, d, sizeof(d)));
	}
	/* Groups and a second factor are properties of an authenticated user. */
	if (a->n_auth == 0 && a->groups.n > 0)
		return sk_cfg_fail(c, sk_cfg_get_key(m, "groups"), "'groups' needs 'auth' (who is in a group?)");
	if (a->n_auth == 0 && a->mfa == SK_MFA_REQUIRED)
		return sk_cfg_fail(c, sk_cfg_get_key(m, "mfa"), "'mfa: required' needs 'auth'");
	return 0;
}

int sk_cfg_admin_access(struct sk_cfg_ctx *c, const struct sk_cnode *root)
{
	const struct sk_cnode *admin = sk_cfg_get(root, "admin");
	if (!c->cfg->admin.present)
		return 0;
	const struct sk_cnode *m = sk_cfg_get(admin, "access");
	struct sk_access *a = &c->cfg->admin.access;
	if (sk_cfg_access(c, m, a, "'admin'") == -1)
		return -1;
	/* The login pages and the second factor live on a distribution, and the admin listener speaks plain
	 * HTTP (no client certificate): only credentials sent with each request fit it. */
	for (size_t i = 0; i < a->n_auth; i++)
		if (a->auth[i] != SK_AUTH_BASIC && a->auth[i] != SK_AUTH_API_KEY)
			return sk_cfg_fail(c, sk_cfg_get(m, "auth"), "the admin listener takes auth basic or api_key only");
	if (a->mfa != SK_MFA_OFF)
		return sk_cfg_fail(c, sk_cfg_get(m, "mfa"), "'mfa' is not available on the admin listener");
	return 0;
}

