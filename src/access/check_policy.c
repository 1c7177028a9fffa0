/*
 * check_policy.c — `access.policy: true | audit` (DESIGN §3 "Policies"): evaluates the policies attached
 * to the authenticated identity (its own, then its groups') with src/policy. true: an explicit or
 * implicit deny is policy_denied; audit: the request passes and the log says would_deny.
 * Runs last (after auth, mfa and groups), so every condition key about the identity is known. An
 * anonymous request has no policy, so it is denied (implicitly) like any identity without an Allow.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "access/access.h"
#include "access/apikeys.h"
#include "access/geo.h"
#include "access/jwtauth.h"
#include "access/users.h"
#include "policy/policy.h"

struct policy_stage {
	enum sk_policy_mode mode;
};

static const struct policy_stage enforce = { .mode = SK_POLICY_ENFORCE };
static const struct policy_stage audit = { .mode = SK_POLICY_AUDIT };

static int policy_compile(const struct sk_access *a, const struct sk_access_env *env, void **state,
			  struct sk_err *err)
{
	if (a->policy == SK_POLICY_OFF)
		return 0;
	*state = (void *)(a->policy == SK_POLICY_AUDIT ? &audit : &enforce);
	return 0;
}

/* sk:Header/<name>: the first field of that name. */
static bool find_header(const void *arg, struct sk_slice name, struct sk_slice *value)
{
	const struct sk_http_request *h = arg;
	for (unsigned i = 0; i < h->n_headers; i++)
		if (h->headers[i].name.len == name.len && strncasecmp(h->headers[i].name.ptr, name.ptr, name.len) == 0) {
			*value = h->headers[i].value;
			return true;
		}
	return false;
}

/* The host as policies see it: lower case, without port or trailing dot, in out (cap bytes). Returns its
 * length; one longer than cap is returned as is (and not written), so that the evaluator refuses it
 * rather than match a cut name. */
static size_t policy_host(struct sk_slice host, char *out, size_t cap)
{
	size_t n = host.len;
	if (n && host.ptr[0] == '[') {
		const char *close = memchr(host.ptr, ']', n);
		n = close ? (size_t)(close - host.ptr) + 1 : n;
	} else {
		const char *colon = memchr(host.ptr, ':', n);
		if (colon)
			n = (size_t)(colon - host.ptr);
	}
	if (n && host.ptr[n - 1] == '.')
		n--;
	if (n > cap)
		return n;
	for (size_t i = 0; i < n; i++) {
		char ch = host.ptr[i];
		out[i] = ch >= 'A' && ch <= 'Z' ? (char)(ch + 32) : ch;
	}
	return n;
}

static bool jwt_claim(const void *arg, struct sk_slice name, struct sk_slice *value)
{
	return sk_jwt_ident_claim(arg, name, value);
}

#define MAX_JWT_DOCS 64
#define MAX_JWT_GROUPS 32

/* A token's set: its issuer's policies, then those of each group its groups claim names (known only per
 * request, so built here, on the stack). Groups are split into names in gbuf. */
static void jwt_set(const struct sk_access_env *env, const struct sk_jwt_ident *id, struct sk_policy_set *set,
		    const struct sk_policy **docs, char *gbuf, size_t gcap, char **names, size_t *n_names)
{
	const struct sk_policy_set *own = &env->jwt_policies[id->issuer_index];
	size_t n = SK_MIN(own->n, (size_t)MAX_JWT_DOCS);
	memcpy(docs, own->docs, n * sizeof(*docs));
	bool country = own->country;
	snprintf(gbuf, gcap, "%s", id->groups);
	*n_names = 0;
	for (char *save = NULL, *g = strtok_r(gbuf, ",", &save); g && *n_names < MAX_JWT_GROUPS;
	     g = strtok_r(NULL, ",", &save)) {
		names[(*n_names)++] = g;
		const struct sk_group *gr = sk_config_group(env->cfg, g);
		for (size_t i = 0; gr && i < gr->policies.n && n < MAX_JWT_DOCS; i++) {
			const struct sk_policy_file *pf = sk_config_policy(env->cfg, gr->policies.items[i]);
			const struct sk_policy *doc = pf ? env->policies[pf - env->cfg->policies] : NULL;
			bool seen = !doc;
			for (size_t k = 0; k < n && !seen; k++)
				seen = docs[k] == doc;
			if (!seen) {
				docs[n++] = doc;
				country = country || sk_policy_reads_country(doc);
			}
		}
	}
	*set = (struct sk_policy_set){ .docs = docs, .n = n, .country = country };
}

static enum sk_verdict policy_run(const void *state, const struct sk_access_env *env, struct sk_access_req *req,
				void *scratch)
{
	const struct policy_stage *s = state;
	const struct sk_policy_set *set = NULL;
	char **groups = NULL;
	size_t n_groups = 0;
	if (req->user && env->user_policies) {
		set = &env->user_policies[sk_users_index(env->users, req->user)];
		groups = req->user->groups;
		n_groups = req->user->n_groups;
	} else if (req->apikey && env->key_policies) {
		set = &env->key_policies[sk_apikeys_index(env->apikeys, req->apikey)];
		groups = req->apikey->groups;
		n_groups = req->apikey->n_groups;
	}
	struct sk_policy_set token_set;
	const struct sk_policy *token_docs[MAX_JWT_DOCS];
	char gbuf[sizeof(((struct sk_jwt_ident *)0)->groups)];
	char *gnames[MAX_JWT_GROUPS];
	if (req->jwt && env->jwt_policies) {
		jwt_set(env, req->jwt, &token_set, token_docs, gbuf, sizeof(gbuf), gnames, &n_groups);
		set = &token_set;
		groups = gnames;
	}
	char host[SK_POLICY_HOST_MAX];
	char groups_text[1];
	const char *name = sk_access_identity(req, groups_text, sizeof(groups_text));
	/* The geo stage may have looked the country up already; otherwise only policies that read it pay. */
	if (set && set->country && !req->country[0] && env->geo && req->family)
		sk_geo_lookup(env->geo, req->family, req->addr, req->country);
	size_t host_len = policy_host(req->host, host, sizeof(host));
	struct sk_slice query = req->query; /* "?a=b" as split from the target, or empty */
	if (query.len && query.ptr[0] == '?') {
		query.ptr++;
		query.len--;
	}
	struct sk_policy_ctx ctx = {
		.method = req->hreq->method,
		.host = { .ptr = host_len > sizeof(host) ? req->host.ptr : host, .len = host_len },
		.path = req->path,
		.query = query,
		.header = find_header,
		.header_arg = req->hreq,
		.family = req->family,
		.addr = req->addr,
		.country = req->country,
		.username = name,
		.groups = (const char *const *)groups,
		.n_groups = n_groups,
		.auth_method = req->method,
		.mfa = req->mfa,
		.secure = req->secure,
		.claim = req->jwt ? jwt_claim : NULL,
		.claim_arg = req->jwt,
		.now = (int64_t)time(NULL),
	};
	struct sk_policy_result res;
	sk_policy_eval(set ? set->docs : NULL, set ? set->n : 0, &ctx, &res);
	req->policy_sid = res.sid;
	if (res.decision == SK_PD_ALLOW) {
		req->policy = SK_APOL_ALLOW;
		return SK_V_NEXT;
	}
	if (s->mode == SK_POLICY_AUDIT) {
		req->policy = SK_APOL_WOULD_DENY;
		return SK_V_NEXT;
	}
	req->policy = SK_APOL_DENY;
	req->reason = SK_R_POLICY_DENIED;
	return SK_V_DENY;
}

static void policy_free(void *state)
{
	(void)state;
}

const struct sk_check_ops sk_check_policy = {
	.name = "policy",
	.compile = policy_compile,
	.run = policy_run,
	.free = policy_free,
};

const char *sk_access_policy_label(uint8_t policy)
{
	switch ((enum sk_access_policy_log)policy) {
	case SK_APOL_ALLOW:
		return "allow";
	case SK_APOL_DENY:
		return "deny";
	case SK_APOL_WOULD_DENY:
		return "would_deny";
	case SK_APOL_NONE:
		break;
	}
	return NULL;
}
