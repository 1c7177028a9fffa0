/*
 * check_ip.c — `access.ip: {allow: [set…], deny: [set…]}`. A client in any deny set is refused; when
 * allow sets are given, a client in none of them is refused too (ip_denied). The address is the trusted
 * client address (DESIGN §1); v4-mapped IPv6 is matched as IPv4 by the sets themselves.
 */
#include <stdlib.h>

#include "access/access.h"
#include "net/ipset.h"

struct ip_state {
	const struct sk_ipset **allow;
	size_t n_allow;
	const struct sk_ipset **deny;
	size_t n_deny;
};

static const struct sk_ipset **resolve(const struct sk_strlist *names, const struct sk_access_env *env)
{
	const struct sk_ipset **sets = sk_calloc(names->n, sizeof(*sets));
	for (size_t i = 0; i < names->n; i++) {
		const struct sk_ip_set *s = sk_config_ip_set(env->cfg, names->items[i]);
		SK_ASSERT(s); /* the config loader refuses dangling set names */
		sets[i] = env->ip_sets[s - env->cfg->ip_sets];
	}
	return sets;
}

static int ip_compile(const struct sk_access *a, const struct sk_access_env *env, void **state,
		      struct sk_err *err)
{
	if (a->ip_allow.n == 0 && a->ip_deny.n == 0)
		return 0;
	struct ip_state *s = sk_calloc(1, sizeof(*s));
	s->allow = resolve(&a->ip_allow, env);
	s->n_allow = a->ip_allow.n;
	s->deny = resolve(&a->ip_deny, env);
	s->n_deny = a->ip_deny.n;
	*state = s;
	return 0;
}

static enum sk_verdict ip_run(const void *state, const struct sk_access_env *env, struct sk_access_req *req,
				void *scratch)
{
	const struct ip_state *s = state;
	for (size_t i = 0; i < s->n_deny; i++) {
		if (sk_ipset_contains(s->deny[i], req->family, req->addr)) {
			req->reason = SK_R_IP_DENIED;
			return SK_V_DENY;
		}
	}
	if (s->n_allow == 0)
		return SK_V_NEXT;
	for (size_t i = 0; i < s->n_allow; i++)
		if (sk_ipset_contains(s->allow[i], req->family, req->addr))
			return SK_V_NEXT;
	req->reason = SK_R_IP_DENIED;
	return SK_V_DENY;
}

static void ip_free(void *state)
{
	struct ip_state *s = state;
	free(s->allow);
	free(s->deny);
	free(s);
}

const struct sk_check_ops sk_check_ip = {
	.name = "ip",
	.compile = ip_compile,
	.run = ip_run,
	.free = ip_free,
};
