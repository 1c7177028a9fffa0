/*
 * env.c — what the checks of one snapshot share: IP-set tries, the country database, the users and the
 * API keys, all loaded while building the snapshot (so a reload reloads them) and immutable afterwards.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <errno.h>

#include "access/access.h"
#include "access/apikeys.h"
#include "access/geo.h"
#include "access/totp.h"
#include "access/users.h"
#include "core/log.h"
#include "net/ipset.h"
#include "policy/policy.h"

static struct sk_store *the_store;

void sk_access_set_store(struct sk_store *st)
{
	the_store = st;
}

bool sk_access_needs_state(const struct sk_config *cfg)
{
	if (cfg->lockout.present || cfg->ban.present)
		return true;
	for (size_t d = 0; d < cfg->n_distributions; d++) {
		const struct sk_distribution *dist = &cfg->distributions[d];
		for (size_t b = 0; b < dist->n_behaviors; b++) {
			const struct sk_access *a = &dist->behaviors[b].access;
			if (a->mfa == SK_MFA_REQUIRED)
				return true;
			for (size_t i = 0; i < a->n_auth; i++)
				if (a->auth[i] == SK_AUTH_SESSION)
					return true;
		}
	}
	return false;
}

static bool uses_session(const struct sk_config *cfg)
{
	for (size_t d = 0; d < cfg->n_distributions; d++)
		for (size_t b = 0; b < cfg->distributions[d].n_behaviors; b++) {
			const struct sk_access *a = &cfg->distributions[d].behaviors[b].access;
			for (size_t i = 0; i < a->n_auth; i++)
				if (a->auth[i] == SK_AUTH_SESSION)
					return true;
		}
	return false;
}

/* Adds the documents named in names[0..n) to set, skipping repeats. Returns 0, or -1 with the name that
 * is not in the config's `policies` in *missing. */
static int add_docs(const struct sk_access_env *env, const struct sk_config *cfg, char *const *names, size_t n,
		    struct sk_policy_set *set, const char **missing)
{
	for (size_t i = 0; i < n; i++) {
		const struct sk_policy_file *pf = sk_config_policy(cfg, names[i]);
		if (!pf) {
			*missing = names[i];
			return -1;
		}
		const struct sk_policy *doc = env->policies[pf - cfg->policies];
		bool seen = false;
		for (size_t k = 0; k < set->n && !seen; k++)
			seen = set->docs[k] == doc;
		if (!seen) {
			set->docs = sk_realloc(set->docs, (set->n + 1) * sizeof(*set->docs));
			set->docs[set->n++] = doc;
			set->country = set->country || sk_policy_reads_country(doc);
		}
	}
	return 0;
}

/* An identity's set: its own policies, then those of each of its groups (groups without a `groups:`
 * entry carry none). */
static int identity_set(const struct sk_access_env *env, const struct sk_config *cfg, char *const *own,
			size_t n_own, char *const *groups, size_t n_groups, struct sk_policy_set *set,
			const char **missing)
{
	if (add_docs(env, cfg, own, n_own, set, missing) == -1)
		return -1;
	for (size_t g = 0; g < n_groups; g++) {
		const struct sk_group *gr = sk_config_group(cfg, groups[g]);
		if (gr && add_docs(env, cfg, gr->policies.items, gr->policies.n, set, missing) == -1)
			return -1;
	}
	return 0;
}

/* Reads the policy documents and gives every user and API key the list of those attached to it, so
 * that a request finds its identity's policies without any lookup by name. */
static int attach_policies(struct sk_access_env *env, const struct sk_config *cfg, struct sk_err *err)
{
	const char *missing = NULL;
	env->policies = sk_calloc(cfg->n_policies ? cfg->n_policies : 1, sizeof(*env->policies));
	for (size_t i = 0; i < cfg->n_policies; i++) {
		env->policies[i] = sk_policy_load(cfg->policies[i].name, cfg->policies[i].file, err);
		if (!env->policies[i])
			return -1;
	}
	size_t nu = env->users ? sk_users_count(env->users) : 0;
	env->user_policies = sk_calloc(nu ? nu : 1, sizeof(*env->user_policies));
	for (size_t i = 0; i < nu; i++) {
		const struct sk_user *u = sk_users_at(env->users, i);
		if (identity_set(env, cfg, u->policies, u->n_policies, u->groups, u->n_groups, &env->user_policies[i],
				 &missing) == -1)
			return sk_err_set(err, cfg->users.file, u->line, 0, "user '%s': no policy named '%s' in 'policies' "
					  "of %s", u->name, missing, cfg->path);
	}
	size_t nk = env->apikeys ? sk_apikeys_count(env->apikeys) : 0;
	env->key_policies = sk_calloc(nk ? nk : 1, sizeof(*env->key_policies));
	for (size_t i = 0; i < nk; i++) {
		const struct sk_apikey *k = sk_apikeys_at(env->apikeys, i);
		if (identity_set(env, cfg, k->policies, k->n_policies, k->groups, k->n_groups, &env->key_policies[i],
				 &missing) == -1)
			return sk_err_set(err, cfg->api_keys.file, k->line, 0, "API key '%s': no policy named '%s' in "
					  "'policies' of %s", k->name, missing, cfg->path);
	}
	return 0;
}

int sk_access_env_init(struct sk_access_env *env, const struct sk_config *cfg, uint64_t generation,
		       struct sk_err *err)
{
	memset(env, 0, sizeof(*env));
	env->cfg = cfg;
	env->generation = generation;
	env->ip_sets = sk_calloc(cfg->n_ip_sets, sizeof(*env->ip_sets));
	for (size_t i = 0; i < cfg->n_ip_sets; i++) {
		struct sk_ipset *set = sk_ipset_new();
		for (size_t k = 0; k < cfg->ip_sets[i].cidrs.n; k++)
			sk_ipset_add(set, &cfg->ip_sets[i].cidrs.items[k]);
		env->ip_sets[i] = set;
	}
	if (cfg->geoip.database) {
		env->geo = sk_geo_open(cfg->geoip.database, err);
		if (!env->geo)
			return -1;
	}
	const char *users = cfg->users.file ? cfg->users.file : cfg->users.htpasswd;
	if (users) {
		env->users = sk_users_load(users, cfg->users.file ? SK_USERS_YAML : SK_USERS_HTPASSWD, err);
		if (!env->users)
			return -1;
		size_t n = 0;
		const char *const *warnings = sk_users_warnings(env->users, &n);
		for (size_t i = 0; i < n; i++)
			sk_warn("%s", warnings[i]);
	}
	if (cfg->api_keys.file) {
		env->apikeys = sk_apikeys_load(cfg->api_keys.file, err);
		if (!env->apikeys)
			return -1;
	}
	if (attach_policies(env, cfg, err) == -1)
		return -1;
	if (sk_access_needs_state(cfg))
		env->store = the_store;
	/* The TOTP key is made by `sekisho totp enroll`; until then no code can be checked. */
	if (cfg->totp.key_file && access(cfg->totp.key_file, F_OK) == 0) {
		if (sk_totp_key_load(cfg->totp.key_file, env->totp_key, err) == -1)
			return -1;
		env->totp_ready = true;
	}
	/* The session key is the server's own: made at the first start that needs it. */
	if (uses_session(cfg)) {
		bool created = false;
		char path[4096];
		snprintf(path, sizeof(path), "%s", cfg->session.key_file ? cfg->session.key_file : "");
		if (!path[0])
			snprintf(path, sizeof(path), "%s/session.key", cfg->state.path);
		if (!cfg->session.key_file && mkdir(cfg->state.path, 0700) == -1 && errno != EEXIST)
			return sk_err_set(err, cfg->state.path, 0, 0, "cannot create the state directory: %s",
					  strerror(errno));
		if (sk_totp_key_create(path, env->session_key, &created, err) == -1)
			return -1;
		if (created)
			sk_info("session: created the session key %s", path);
		env->session_ready = true;
	}
	return 0;
}

void sk_access_env_fini(struct sk_access_env *env)
{
	for (size_t i = 0; env->ip_sets && i < env->cfg->n_ip_sets; i++)
		sk_ipset_free(env->ip_sets[i]);
	free(env->ip_sets);
	sk_geo_close(env->geo);
	for (size_t i = 0; env->user_policies && env->users && i < sk_users_count(env->users); i++)
		free(env->user_policies[i].docs);
	free(env->user_policies);
	for (size_t i = 0; env->key_policies && env->apikeys && i < sk_apikeys_count(env->apikeys); i++)
		free(env->key_policies[i].docs);
	free(env->key_policies);
	for (size_t i = 0; env->policies && i < env->cfg->n_policies; i++)
		sk_policy_free(env->policies[i]);
	free(env->policies);
	if (env->users)
		sk_users_free(env->users);
	if (env->apikeys)
		sk_apikeys_free(env->apikeys);
	explicit_bzero(env, sizeof(*env));
}

const char *sk_access_identity(const struct sk_access_req *req, char *groups, size_t cap)
{
	char **list = NULL;
	size_t n = 0;
	const char *name = NULL;
	if (req->user) {
		name = req->user->name;
		list = req->user->groups;
		n = req->user->n_groups;
	} else if (req->apikey) {
		name = req->apikey->name;
		list = req->apikey->groups;
		n = req->apikey->n_groups;
	}
	size_t o = 0;
	groups[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(list[i]);
		if (o + len + 2 > cap)
			break; /* the header is informative: a cut list loses whole names, never half of one */
		if (o)
			groups[o++] = ',';
		memcpy(groups + o, list[i], len);
		o += len;
		groups[o] = '\0';
	}
	return name;
}
