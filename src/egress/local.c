/*
 * local.c — what the guard needs to know about this host: its interface addresses and the sockets
 * sekisho listens on (DESIGN §5a: "the addresses and ports sekisho itself listens on, every local address
 * for a wildcard listen").
 *
 * Read when a snapshot is built (start and reload), never per request: an address added to an interface
 * later is covered by the 127/8, ::1 and unspecified rules of guard.c, or by the next reload.
 */
#include "egress/egress.h"

#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

size_t sk_egress_local_addrs(struct sk_egress_local **out)
{
	struct ifaddrs *ifs = NULL;
	*out = NULL;
	if (getifaddrs(&ifs) == -1) {
		sk_error("getifaddrs: %s", strerror(errno));
		return 0;
	}
	size_t n = 0, cap = 0;
	for (struct ifaddrs *i = ifs; i; i = i->ifa_next) {
		const struct sockaddr *sa = i->ifa_addr;
		if (!sa || (sa->sa_family != AF_INET && sa->sa_family != AF_INET6))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 8;
			*out = sk_realloc(*out, cap * sizeof(**out));
		}
		struct sk_egress_local *l = &(*out)[n++];
		memset(l, 0, sizeof(*l));
		l->family = sa->sa_family;
		if (sa->sa_family == AF_INET)
			memcpy(l->addr, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		else
			memcpy(l->addr, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
	}
	freeifaddrs(ifs);
	return n;
}

static void push_self(struct sk_egress_self *out, size_t *n, const struct sk_addr *a)
{
	struct sk_egress_self *s = &out[(*n)++];
	memset(s, 0, sizeof(*s));
	s->family = a->ss.ss_family;
	if (s->family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)&a->ss;
		memcpy(s->addr, &in->sin_addr, 4);
		s->port = ntohs(in->sin_port);
	} else {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&a->ss;
		memcpy(s->addr, &in6->sin6_addr, 16);
		s->port = ntohs(in6->sin6_port);
	}
}

size_t sk_egress_self_addrs(const struct sk_config *cfg, struct sk_egress_self **out)
{
	size_t n = 0;
	*out = sk_calloc(cfg->n_listeners + cfg->n_egress + 1, sizeof(**out));
	for (size_t i = 0; i < cfg->n_listeners; i++)
		push_self(*out, &n, &cfg->listeners[i].listen);
	for (size_t i = 0; i < cfg->n_egress; i++)
		push_self(*out, &n, &cfg->egress[i].listen);
	if (cfg->admin.present)
		push_self(*out, &n, &cfg->admin.listen);
	return n;
}
