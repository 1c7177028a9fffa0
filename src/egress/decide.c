/*
 * decide.c — one egress entry's rules applied in DESIGN §5a's order, and the per-snapshot form they are
 * compiled into.
 *
 * Order: the allow-list before any lookup (a name not on it never reaches DNS); an IP literal only by
 * allow_ips, and then the guard all the same (sekisho's own sockets stay refused); after a lookup, every
 * address through the guard, and any refusal refuses the request (DNS answers mixing an outside address
 * with an inside one are how rebinding attacks start). Pure but for sk_egress_rt_build, which reads this
 * host's interface addresses once per snapshot.
 */
#include "egress/egress.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

struct sk_egress_rt *sk_egress_rt_build(const struct sk_config *cfg)
{
	struct sk_egress_rt *rt = sk_calloc(1, sizeof(*rt));
	rt->n = cfg->n_egress;
	rt->entries = sk_calloc(cfg->n_egress + 1, sizeof(*rt->entries));
	struct sk_egress_self *self = NULL;
	struct sk_egress_local *local = NULL;
	size_t n_self = sk_egress_self_addrs(cfg, &self);
	size_t n_local = cfg->n_egress ? sk_egress_local_addrs(&local) : 0;
	for (size_t i = 0; i < cfg->n_egress; i++) {
		struct sk_egress_entry_rt *e = &rt->entries[i];
		e->cfg = &cfg->egress[i];
		sk_egress_allowlist_build(e->cfg, &e->allow);
		sk_egress_guard_init(&e->guard, &e->cfg->allow_ips, self, n_self, local, n_local);
	}
	free(self);
	free(local);
	return rt;
}

void sk_egress_rt_free(struct sk_egress_rt *rt)
{
	if (!rt)
		return;
	for (size_t i = 0; i < rt->n; i++) {
		sk_egress_allowlist_free(&rt->entries[i].allow);
		sk_egress_guard_free(&rt->entries[i].guard);
	}
	free(rt->entries);
	free(rt);
}

enum sk_egress_decision sk_egress_decide_target(const struct sk_egress_entry_rt *e, const struct sk_egress_target *t,
						struct sockaddr_storage *addr)
{
	if (t->kind == SK_EGRESS_HOST_NAME)
		return sk_egress_allowlist_match(&e->allow, t) ? SK_EGRESS_RESOLVE : SK_EGRESS_DENIED;
	int family = t->kind == SK_EGRESS_HOST_V4 ? AF_INET : AF_INET6;
	if (!sk_egress_guard_ip_allowed(&e->guard, family, t->addr))
		return SK_EGRESS_DENIED;
	memset(addr, 0, sizeof(*addr));
	if (family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)addr;
		in->sin_family = AF_INET;
		in->sin_port = htons(t->port);
		memcpy(&in->sin_addr, t->addr, 4);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)addr;
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(t->port);
		memcpy(&in6->sin6_addr, t->addr, 16);
	}
	return sk_egress_guard_check(&e->guard, (const struct sockaddr *)addr) == SK_EGRESS_ADDR_OK
		       ? SK_EGRESS_CONNECT
		       : SK_EGRESS_ADDRESS_DENIED;
}

enum sk_egress_decision sk_egress_decide_addrs(const struct sk_egress_entry_rt *e, const struct sockaddr_storage *addrs,
					       size_t n, size_t *refused)
{
	if (n == 0) {
		*refused = 0;
		return SK_EGRESS_ADDRESS_DENIED;
	}
	for (size_t i = 0; i < n; i++)
		if (sk_egress_guard_check(&e->guard, (const struct sockaddr *)&addrs[i]) != SK_EGRESS_ADDR_OK) {
			*refused = i;
			return SK_EGRESS_ADDRESS_DENIED;
		}
	return SK_EGRESS_CONNECT;
}
