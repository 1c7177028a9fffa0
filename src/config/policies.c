/*
 * policies.c — `policies: { name: FILE }` and `groups: { name: { policies: [...] } }` (DESIGN §3 "Policies",
 * §7). Only names and paths are read here: the documents themselves are parsed by src/policy when a
 * snapshot is built (so a reload reads them again), and users and API keys name their policies in their
 * own files, which src/access checks against these names.
 *
 * Invariants: policy and group names are config names (1-64 of [A-Za-z0-9_.-]); every policy a group
 * names exists; paths are absolute.
 */
#include "config/config_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check_policy_ref(struct sk_cfg_ctx *c, const struct sk_cnode *item, char **text)
{
	if (!sk_config_policy(c->cfg, item->str)) {
		char d[64];
		return sk_cfg_fail(c, item, "no policy named %s in 'policies'", sk_cfg_describe(item, d, sizeof(d)));
	}
	*text = sk_strdup(item->str);
	return 0;
}

static int read_policy_files(struct sk_cfg_ctx *c, const struct sk_cnode *root)
{
	const struct sk_cnode *m = sk_cfg_get(root, "policies");
	if (sk_cfg_want(c, m, SK_CN_MAP, "'policies'") == -1)
		return -1;
	if (!m || sk_cfg_is_null(m) || SK_CN_PAIRS(m) == 0)
		return 0;
	struct sk_config *cfg = c->cfg;
	cfg->policies = sk_calloc(SK_CN_PAIRS(m), sizeof(*cfg->policies));
	for (size_t i = 0; i < SK_CN_PAIRS(m); i++) {
		const struct sk_cnode *k = SK_CN_KEY(m, i), *v = SK_CN_VAL(m, i);
		char what[128];
		if (sk_cfg_check_name(c, k, "policy") == -1)
			return -1;
		snprintf(what, sizeof(what), "policy '%s'", k->str);
		const char *path = sk_cfg_scalar(c, v, what);
		if (!path)
			return -1;
		if (!path[0])
			return sk_cfg_fail(c, v, "%s needs a file name", what);
		struct sk_policy_file *pf = &cfg->policies[cfg->n_policies++];
		pf->name = sk_strdup(k->str);
		pf->pos = sk_cfg_pos(k);
		pf->file = sk_cfg_resolve(c, path);
	}
	return 0;
}

static int read_groups(struct sk_cfg_ctx *c, const struct sk_cnode *root)
{
	static const char *const keys[] = { "policies", NULL };
	const struct sk_cnode *m = sk_cfg_get(root, "groups");
	if (sk_cfg_want(c, m, SK_CN_MAP, "'groups'") == -1)
		return -1;
	if (!m || sk_cfg_is_null(m) || SK_CN_PAIRS(m) == 0)
		return 0;
	struct sk_config *cfg = c->cfg;
	cfg->groups = sk_calloc(SK_CN_PAIRS(m), sizeof(*cfg->groups));
	for (size_t i = 0; i < SK_CN_PAIRS(m); i++) {
		const struct sk_cnode *k = SK_CN_KEY(m, i), *v = SK_CN_VAL(m, i);
		char what[128], where[128];
		if (sk_cfg_check_name(c, k, "group") == -1)
			return -1;
		snprintf(what, sizeof(what), "group '%s'", k->str);
		snprintf(where, sizeof(where), "in group '%s'", k->str);
		if (sk_cfg_want(c, v, SK_CN_MAP, what) == -1 || sk_cfg_check_keys(c, v, keys, where) == -1)
			return -1;
		struct sk_group *g = &cfg->groups[cfg->n_groups++];
		g->name = sk_strdup(k->str);
		g->pos = sk_cfg_pos(k);
		if (sk_cfg_strlist(c, v, "policies", &g->policies, check_policy_ref) == -1)
			return -1;
	}
	return 0;
}

int sk_cfg_policies(struct sk_cfg_ctx *c, const struct sk_cnode *root)
{
	if (read_policy_files(c, root) == -1 || read_groups(c, root) == -1)
		return -1;
	return 0;
}
