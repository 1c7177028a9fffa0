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
#include "access/jwtauth.h"
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
	env->jwt_policies = sk_calloc(cfg->jwt.n_issuers ? cfg->jwt.n_issuers : 1, sizeof(*env->jwt_policies));
	for (size_t i = 0; i < cfg->jwt.n_issuers; i++) {
		const struct sk_jwt_issuer *is = &cfg->jwt.issuers[i];
		if (add_docs(env, cfg, is->policies.items, is->policies.n, &env->jwt_policies[i], &missing) == -1)
			return sk_err_set(err, cfg->path, is->pos.line, is->pos.col, "issuer '%s': no policy named '%s' in "
					  "'policies'", is->issuer, missing);
	}
	return 0;
}

/* Re-reports err, about a file the config names, at the config key that names it:
 * "CONFIG:LINE:COL: what: FILE[:LINE:COL]: message". Returns -1. */
static int at_key(struct sk_err *err, const struct sk_config *cfg, struct sk_pos pos, const char *what)
{
	char inner[sizeof(err->file) + sizeof(err->msg) + 32];
	sk_err_format(err, inner, sizeof(inner));
	return sk_err_set(err, cfg->path, pos.line, pos.col, "%s: %s", what, inner);
}

int sk_access_check_state_path(const struct sk_config *cfg, struct sk_err *err)
{
	if (!sk_access_needs_state(cfg) || cfg->state.redis)
		return 0;
	const struct sk_pos at = cfg->state.path_pos;
	struct stat st;
	int rc = stat(cfg->state.path, &st), why = errno;
	if (rc == 0)
		return S_ISDIR(st.st_mode) ? 0
					   : sk_err_set(err, cfg->path, at.line, at.col, "state.path: %s is not a directory",
							cfg->state.path);
	/* The store makes state.path itself (one level), as a missing var/ is normal at a first start. */
	char parent[4096];
	snprintf(parent, sizeof(parent), "%s", cfg->state.path);
	char *slash = strrchr(parent, '/');
	if (slash)
		*(slash == parent ? slash + 1 : slash) = '\0';
	if (why != ENOENT || !slash || stat(parent, &st) == -1 || !S_ISDIR(st.st_mode))
		return sk_err_set(err, cfg->path, at.line, at.col, "state.path: cannot create %s: the directory %s does "
				  "not exist", cfg->state.path, slash ? parent : ".");
	return 0;
}

/* The session key: session.key_file, or session.key in state.path. run makes it at the first start that
 * needs it (and state.path with it); check_only makes nothing, but refuses what run would fail to make. */
static int session_key(struct sk_access_env *env, const struct sk_config *cfg, bool check_only, struct sk_err *err)
{
	const bool named = cfg->session.key_file != NULL;
	const struct sk_pos at = named ? cfg->session.key_file_pos : cfg->state.path_pos;
	const char *what = named ? "session.key_file" : "state.path (the session key is kept there)";
	char path[4096], dir[4096];
	if (named)
		snprintf(path, sizeof(path), "%s", cfg->session.key_file);
	else
		snprintf(path, sizeof(path), "%s/session.key", cfg->state.path);
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash)
		*(slash == dir ? slash + 1 : slash) = '\0';
	else
		snprintf(dir, sizeof(dir), ".");

	struct stat st;
	if (stat(dir, &st) == -1 && errno == ENOENT && !named) {
		/* state.path itself is made when missing: its parent must exist. */
		char parent[4096];
		snprintf(parent, sizeof(parent), "%s", dir);
		char *ps = strrchr(parent, '/');
		if (ps)
			*(ps == parent ? ps + 1 : ps) = '\0';
		if (!ps || stat(parent, &st) == -1 || !S_ISDIR(st.st_mode))
			return sk_err_set(err, cfg->path, at.line, at.col, "%s: the directory %s does not exist", what,
					  ps ? parent : dir);
		if (check_only) {
			env->session_ready = true;
			return 0;
		}
		if (mkdir(dir, 0700) == -1 && errno != EEXIST)
			return sk_err_set(err, cfg->path, at.line, at.col, "%s: cannot create the directory %s: %s", what,
					  dir, strerror(errno));
	} else if (stat(dir, &st) == -1 || !S_ISDIR(st.st_mode)) {
		return sk_err_set(err, cfg->path, at.line, at.col, "%s: the directory %s does not exist", what, dir);
	}
	if (check_only) {
		/* An existing key must load; a missing one would be made by run in a directory that exists. */
		if (access(path, F_OK) == 0 && sk_totp_key_load(path, env->session_key, err) == -1)
			return at_key(err, cfg, at, what);
		env->session_ready = true;
		return 0;
	}
	bool created = false;
	if (sk_totp_key_create(path, env->session_key, &created, err) == -1)
		return at_key(err, cfg, at, what);
	if (created)
		sk_info("session: created the session key %s", path);
	env->session_ready = true;
	return 0;
}

static int env_init(struct sk_access_env *env, const struct sk_config *cfg, uint64_t generation, bool check_only,
		    struct sk_err *err)
{
	memset(env, 0, sizeof(*env));
	env->cfg = cfg;
	env->generation = generation;
	env->check_only = check_only;
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
			return at_key(err, cfg, cfg->geoip.database_pos, "geoip.database");
	}
	const char *users = cfg->users.file ? cfg->users.file : cfg->users.htpasswd;
	if (users) {
		env->users = sk_users_load(users, cfg->users.file ? SK_USERS_YAML : SK_USERS_HTPASSWD, err);
		if (!env->users)
			return at_key(err, cfg, cfg->users.pos, cfg->users.file ? "users.file" : "users.htpasswd");
		size_t n = 0;
		const char *const *warnings = sk_users_warnings(env->users, &n);
		for (size_t i = 0; i < n; i++)
			sk_warn("%s", warnings[i]);
	}
	if (cfg->api_keys.file) {
		env->apikeys = sk_apikeys_load(cfg->api_keys.file, err);
		if (!env->apikeys)
			return at_key(err, cfg, cfg->api_keys.file_pos, "api_keys.file");
	}
	/* run checked this before opening the store (sk_statesvc_prepare); check-config opens none. */
	if (check_only && sk_access_check_state_path(cfg, err) == -1)
		return -1;
	if (sk_jwt_env_new(cfg, &env->jwt, err) == -1)
		return -1;
	if (attach_policies(env, cfg, err) == -1)
		return -1;
	if (sk_access_needs_state(cfg))
		env->store = the_store;
	/* The TOTP key is made by `sekisho totp enroll`; until then no code can be checked. */
	if (cfg->totp.key_file && access(cfg->totp.key_file, F_OK) == 0) {
		if (sk_totp_key_load(cfg->totp.key_file, env->totp_key, err) == -1)
			return at_key(err, cfg, cfg->totp.key_file_pos, "totp.key_file");
		env->totp_ready = true;
	}
	if (uses_session(cfg) && session_key(env, cfg, check_only, err) == -1)
		return -1;
	return 0;
}

int sk_access_env_init(struct sk_access_env *env, const struct sk_config *cfg, uint64_t generation,
		       struct sk_err *err)
{
	return env_init(env, cfg, generation, false, err);
}

int sk_access_env_check(struct sk_access_env *env, const struct sk_config *cfg, struct sk_err *err)
{
	return env_init(env, cfg, 0, true, err);
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
	for (size_t i = 0; env->jwt_policies && i < env->cfg->jwt.n_issuers; i++)
		free(env->jwt_policies[i].docs);
	free(env->jwt_policies);
	for (size_t i = 0; env->policies && i < env->cfg->n_policies; i++)
		sk_policy_free(env->policies[i]);
	free(env->policies);
	if (env->users)
		sk_users_free(env->users);
	if (env->apikeys)
		sk_apikeys_free(env->apikeys);
	sk_jwt_env_free(env->jwt);
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
	} else if (req->jwt) {
		/* Already one comma-separated list, cut at whole names (jwtauth.c). */
		size_t gl = strlen(req->jwt->groups);
		gl = gl < cap ? gl : 0;
		memcpy(groups, req->jwt->groups, gl);
		groups[gl] = '\0';
		return req->jwt->user;
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
