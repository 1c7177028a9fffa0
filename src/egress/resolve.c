/*
 * resolve.c — DNS for the egress proxy, off the event loop (DESIGN §5a, §9): c-ares on the worker's own
 * epoll loop.
 *
 * Why c-ares and not getaddrinfo on the blocking pool: dns.servers name servers with ports, which
 * getaddrinfo cannot be pointed at; dns.timeout must bound a whole lookup, which getaddrinfo cannot
 * (resolv.conf's timeout and attempts multiply over servers and search domains, and a blocked pool thread
 * cannot be given back); and lookups are many small waits, which c-ares multiplexes on a few sockets where
 * the pool would park one thread per lookup. With no dns.servers, c-ares reads resolv.conf itself, so
 * there is one code path. (nsswitch sources other than files and DNS, e.g. LDAP hosts, are not consulted.)
 *
 * Each resolver owns one c-ares channel. Its sockets are registered on the loop level-triggered, through
 * c-ares' socket-state callback; c-ares' own retransmission timer is one sk_timer re-armed after every
 * call into c-ares. A lookup has its own deadline (dns.timeout): when it passes, the owner is told
 * "timeout" at once and the lookup is left to c-ares to finish (a channel cannot cancel one query alone);
 * c-ares' per-try timeout is derived from dns.timeout, so abandoned lookups end soon after.
 * Invariants: a lookup's callback runs at most once, on the loop's thread, never from within
 * sk_egress_resolve; a lookup record is freed only by c-ares' completion callback (or the channel's
 * destruction), never while c-ares still refers to it; the channel has no search list (the allow-list
 * compared exactly this name, so no domain may be appended to it).
 */
#include "egress/egress.h"

#include <ares.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "core/log.h"
#include "loop/loop.h"

struct sock {
	struct sk_io io; /* first: the loop hands back &io */
	struct sk_egress_resolver *r;
	uint32_t events;
	struct sock *next;
};

/* A positive answer kept for its TTL (at most CACHE_MAX_TTL_S): direct-mapped, CACHE_SLOTS per resolver,
 * a newer name takes the slot. Only addresses are kept (no port): each use checks them again. */
#define CACHE_SLOTS 128
#define CACHE_MAX_TTL_S 300

struct cache_entry {
	uint64_t expires_ms; /* 0: empty */
	uint8_t n;
	uint8_t family[SK_EGRESS_MAX_ADDRS];
	uint8_t addr[SK_EGRESS_MAX_ADDRS][16];
	char name[SK_EGRESS_HOST_MAX + 1];
};

struct sk_egress_resolver {
	struct sk_loop *loop;
	struct cache_entry *cache; /* CACHE_SLOTS */
	ares_channel channel;
	uint64_t timeout_ms;
	struct sk_timer ares_timer; /* c-ares' retransmissions */
	struct sock *socks;
	struct sk_egress_lookup *immediate; /* answered inside ares_getaddrinfo, waiting for their 0 ms timer */
	size_t pending;
	bool destroying;
};

struct sk_egress_lookup {
	struct sk_egress_resolver *r;
	uint32_t slot; /* the name's cache slot */
	char name[SK_EGRESS_HOST_MAX + 1];
	sk_egress_resolved_fn fn;
	void *arg;
	uint16_t port;
	bool done;       /* the owner was answered or cancelled: c-ares' completion only frees */
	bool submitting; /* inside ares_getaddrinfo: a completion now must be delivered later */
	struct sk_timer deadline;
	struct sk_egress_lookup *imm_next, *imm_prev; /* on r->immediate */
	/* A result that came while submitting, delivered by the 0 ms deadline timer. */
	enum sk_egress_dns status;
	struct sockaddr_storage addrs[SK_EGRESS_MAX_ADDRS];
	size_t n;
};

static pthread_once_t lib_once = PTHREAD_ONCE_INIT;
static int lib_rc;

static void lib_init(void)
{
	lib_rc = ares_library_init(ARES_LIB_INIT_ALL);
}

static uint32_t name_slot(const char *name)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		h = (h ^ *p) * 16777619u;
	return h % CACHE_SLOTS;
}

/* Keeps a lookup's addresses for ttl seconds (nothing when ttl is 0). */
static void cache_put(struct sk_egress_resolver *r, uint32_t slot, const char *name, const struct sockaddr_storage *a,
		      size_t n, int ttl)
{
	if (ttl <= 0 || n == 0)
		return;
	if (!r->cache)
		r->cache = sk_calloc(CACHE_SLOTS, sizeof(*r->cache));
	struct cache_entry *e = &r->cache[slot];
	e->n = (uint8_t)n;
	for (size_t i = 0; i < n; i++) {
		e->family[i] = (uint8_t)a[i].ss_family;
		if (a[i].ss_family == AF_INET)
			memcpy(e->addr[i], &((const struct sockaddr_in *)&a[i])->sin_addr, 4);
		else
			memcpy(e->addr[i], &((const struct sockaddr_in6 *)&a[i])->sin6_addr, 16);
	}
	snprintf(e->name, sizeof(e->name), "%s", name);
	e->expires_ms = sk_loop_now(r->loop) + (uint64_t)SK_MIN(ttl, CACHE_MAX_TTL_S) * 1000;
}

/* A live cached answer for name, as socket addresses with port. Returns how many (0: none). */
static size_t cache_get(struct sk_egress_resolver *r, uint32_t slot, const char *name, uint16_t port,
			struct sockaddr_storage *out)
{
	if (!r->cache)
		return 0;
	struct cache_entry *e = &r->cache[slot];
	if (!e->expires_ms || e->expires_ms <= sk_loop_now(r->loop) || strcmp(e->name, name) != 0)
		return 0;
	for (size_t i = 0; i < e->n; i++) {
		memset(&out[i], 0, sizeof(out[i]));
		if (e->family[i] == AF_INET) {
			struct sockaddr_in *in = (struct sockaddr_in *)&out[i];
			in->sin_family = AF_INET;
			in->sin_port = htons(port);
			memcpy(&in->sin_addr, e->addr[i], 4);
		} else {
			struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&out[i];
			in6->sin6_family = AF_INET6;
			in6->sin6_port = htons(port);
			memcpy(&in6->sin6_addr, e->addr[i], 16);
		}
	}
	return e->n;
}

static void immediate_unlink(struct sk_egress_lookup *lk)
{
	if (lk->imm_prev)
		lk->imm_prev->imm_next = lk->imm_next;
	else
		lk->r->immediate = lk->imm_next;
	if (lk->imm_next)
		lk->imm_next->imm_prev = lk->imm_prev;
	lk->imm_next = lk->imm_prev = NULL;
}

static void rearm_ares_timer(struct sk_egress_resolver *r)
{
	struct timeval tv;
	if (r->destroying)
		return;
	if (ares_timeout(r->channel, NULL, &tv)) {
		uint64_t ms = (uint64_t)tv.tv_sec * 1000 + (uint64_t)(tv.tv_usec + 999) / 1000;
		sk_timer_arm(r->loop, &r->ares_timer, ms);
	} else if (sk_timer_armed(&r->ares_timer)) {
		sk_timer_cancel(r->loop, &r->ares_timer);
	}
}

static void ares_timer_cb(struct sk_timer *t)
{
	struct sk_egress_resolver *r = SK_CONTAINER_OF(t, struct sk_egress_resolver, ares_timer);
	ares_process_fd(r->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	rearm_ares_timer(r);
}

static void sock_io_cb(struct sk_io *io, uint32_t events)
{
	struct sock *s = (struct sock *)io;
	struct sk_egress_resolver *r = s->r;
	int fd = io->fd;
	ares_socket_t rd = (events & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP)) ? fd : ARES_SOCKET_BAD;
	ares_socket_t wr = (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) ? fd : ARES_SOCKET_BAD;
	ares_process_fd(r->channel, rd, wr);
	rearm_ares_timer(r);
}

/* c-ares opens, watches and closes its sockets itself; this mirrors its wishes on the loop. */
static void sock_state_cb(void *data, ares_socket_t fd, int readable, int writable)
{
	struct sk_egress_resolver *r = data;
	struct sock **pp = &r->socks, *s;
	while ((s = *pp) && s->io.fd != fd)
		pp = &s->next;
	uint32_t want = (readable ? EPOLLIN : 0) | (writable ? EPOLLOUT : 0);
	if (!want) {
		if (!s)
			return;
		*pp = s->next;
		sk_loop_del(r->loop, &s->io);
		/* c-ares closes the fd; the record outlives this dispatch round (events may still name it). */
		s->io.fd = -1;
		sk_loop_close_free(r->loop, &s->io, s);
		return;
	}
	if (!s) {
		s = sk_calloc(1, sizeof(*s));
		s->io = (struct sk_io){ .fd = fd, .cb = sock_io_cb };
		s->r = r;
		s->next = r->socks;
		r->socks = s;
	} else if (s->events == want) {
		return;
	} else {
		sk_loop_del(r->loop, &s->io);
	}
	/* Level-triggered: c-ares reads what it wants per call, and asks for writability only while a TCP
	 * connection or send is in progress. */
	if (sk_loop_add_level(r->loop, &s->io, want) == -1)
		sk_error("dns: cannot watch a c-ares socket");
	s->events = want;
}

static void deliver(struct sk_egress_lookup *lk)
{
	lk->done = true;
	if (sk_timer_armed(&lk->deadline))
		sk_timer_cancel(lk->r->loop, &lk->deadline);
	lk->fn(lk->arg, lk->status, lk->addrs, lk->n);
}

static void deadline_cb(struct sk_timer *t)
{
	struct sk_egress_lookup *lk = SK_CONTAINER_OF(t, struct sk_egress_lookup, deadline);
	if (lk->done)
		return;
	if (lk->n > 0 || lk->status != SK_EGRESS_DNS_OK) {
		/* The result came while submitting: deliver it now. */
		immediate_unlink(lk);
		deliver(lk);
		free(lk);
		return;
	}
	lk->status = SK_EGRESS_DNS_TIMEOUT;
	deliver(lk); /* the record stays until c-ares completes the query */
}

static void finish(struct sk_egress_lookup *lk)
{
	lk->r->pending--;
	free(lk);
}

static void addrinfo_cb(void *arg, int status, int timeouts, struct ares_addrinfo *res)
{
	struct sk_egress_lookup *lk = arg;
	struct sk_egress_resolver *r = lk->r;
	if (lk->done || r->destroying || status == ARES_ECANCELLED || status == ARES_EDESTRUCTION) {
		if (res)
			ares_freeaddrinfo(res);
		if (!lk->done && sk_timer_armed(&lk->deadline))
			sk_timer_cancel(r->loop, &lk->deadline);
		finish(lk);
		return;
	}
	lk->n = 0;
	int ttl = CACHE_MAX_TTL_S;
	if (status == ARES_SUCCESS && res) {
		for (struct ares_addrinfo_node *a = res->nodes; a && lk->n < SK_EGRESS_MAX_ADDRS; a = a->ai_next) {
			ttl = SK_MIN(ttl, a->ai_ttl);
			struct sockaddr_storage *ss = &lk->addrs[lk->n];
			memset(ss, 0, sizeof(*ss));
			if (a->ai_family == AF_INET && a->ai_addrlen >= sizeof(struct sockaddr_in)) {
				memcpy(ss, a->ai_addr, sizeof(struct sockaddr_in));
				((struct sockaddr_in *)ss)->sin_port = htons(lk->port);
			} else if (a->ai_family == AF_INET6 && a->ai_addrlen >= sizeof(struct sockaddr_in6)) {
				memcpy(ss, a->ai_addr, sizeof(struct sockaddr_in6));
				((struct sockaddr_in6 *)ss)->sin6_port = htons(lk->port);
			} else {
				continue;
			}
			lk->n++;
		}
	}
	if (res)
		ares_freeaddrinfo(res);
	if (lk->n > 0)
		cache_put(r, lk->slot, lk->name, lk->addrs, lk->n, ttl);
	lk->status = lk->n > 0 ? SK_EGRESS_DNS_OK : status == ARES_ETIMEOUT ? SK_EGRESS_DNS_TIMEOUT : SK_EGRESS_DNS_FAILED;
	if (lk->submitting) {
		/* ares_getaddrinfo answered at once (an error, or a hosts-file entry): the owner hears it from
		 * the loop, never from inside sk_egress_resolve. The deadline timer carries it. */
		r->pending--;
		lk->imm_next = r->immediate;
		if (r->immediate)
			r->immediate->imm_prev = lk;
		r->immediate = lk;
		sk_timer_arm(r->loop, &lk->deadline, 0);
		return;
	}
	deliver(lk);
	finish(lk);
}

struct sk_egress_lookup *sk_egress_resolve(struct sk_egress_resolver *r, const char *name, uint16_t port,
					   sk_egress_resolved_fn fn, void *arg)
{
	struct sk_egress_lookup *lk = sk_calloc(1, sizeof(*lk));
	lk->r = r;
	lk->fn = fn;
	lk->arg = arg;
	lk->port = port;
	lk->deadline.cb = deadline_cb;
	lk->slot = name_slot(name);
	snprintf(lk->name, sizeof(lk->name), "%s", name);
	/* A cached answer: delivered from the loop like any other (never from inside this call). */
	lk->n = cache_get(r, lk->slot, name, port, lk->addrs);
	if (lk->n) {
		lk->status = SK_EGRESS_DNS_OK;
		lk->imm_next = r->immediate;
		if (r->immediate)
			r->immediate->imm_prev = lk;
		r->immediate = lk;
		sk_timer_arm(r->loop, &lk->deadline, 0);
		return lk;
	}
	struct ares_addrinfo_hints hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
					     .ai_protocol = IPPROTO_TCP, .ai_flags = ARES_AI_NOSORT };
	r->pending++;
	lk->submitting = true;
	ares_getaddrinfo(r->channel, name, NULL, &hints, addrinfo_cb, lk);
	/* When c-ares completed at once, addrinfo_cb armed the 0 ms delivery and dropped it from pending:
	 * the record is now the timer's (deadline_cb frees it). */
	bool immediate = sk_timer_armed(&lk->deadline);
	lk->submitting = false;
	if (!immediate)
		sk_timer_arm(r->loop, &lk->deadline, r->timeout_ms);
	rearm_ares_timer(r);
	return lk;
}

void sk_egress_lookup_cancel(struct sk_egress_lookup *lk)
{
	if (lk->done)
		return;
	lk->done = true;
	if (sk_timer_armed(&lk->deadline))
		sk_timer_cancel(lk->r->loop, &lk->deadline);
	/* A result already in hand (immediate completion) has no c-ares query left to free the record. */
	if (lk->n > 0 || lk->status != SK_EGRESS_DNS_OK) {
		immediate_unlink(lk);
		free(lk);
	}
}

size_t sk_egress_resolver_pending(const struct sk_egress_resolver *r)
{
	return r->pending;
}

bool sk_egress_resolver_idle(const struct sk_egress_resolver *r)
{
	return r->pending == 0 && !r->immediate;
}

struct sk_egress_resolver *sk_egress_resolver_new(struct sk_loop *loop, const struct sk_egress *cfg,
						  const char **why)
{
	pthread_once(&lib_once, lib_init);
	if (lib_rc != ARES_SUCCESS) {
		*why = ares_strerror(lib_rc);
		return NULL;
	}
	struct sk_egress_resolver *r = sk_calloc(1, sizeof(*r));
	r->loop = loop;
	r->timeout_ms = cfg->dns_timeout_ms;
	r->ares_timer.cb = ares_timer_cb;

	/* Two tries per server within the budget: a lost datagram is sent again before the deadline. */
	struct ares_options o = { 0 };
	int mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES;
	o.sock_state_cb = sock_state_cb;
	o.sock_state_cb_data = r;
	size_t servers = cfg->n_dns_servers ? cfg->n_dns_servers : 1;
	uint64_t per_try = cfg->dns_timeout_ms / (3 * servers);
	o.timeout = (int)(per_try < 50 ? 50 : per_try);
	o.tries = 2;
	/* No search list: the allow-list judged this exact name, so no domain may be appended to it. */
	o.ndomains = 0;
	o.domains = NULL;
	mask |= ARES_OPT_DOMAINS;
	if (cfg->n_dns_servers) {
		/* The servers given are the whole truth: no hosts file. */
		o.lookups = (char *)"b";
		mask |= ARES_OPT_LOOKUPS;
	}
	int rc = ares_init_options(&r->channel, &o, mask);
	if (rc != ARES_SUCCESS) {
		*why = ares_strerror(rc);
		free(r);
		return NULL;
	}
	if (cfg->n_dns_servers) {
		struct ares_addr_port_node *nodes = sk_calloc(cfg->n_dns_servers, sizeof(*nodes));
		for (size_t i = 0; i < cfg->n_dns_servers; i++) {
			const struct sockaddr_storage *ss = &cfg->dns_servers[i].ss;
			struct ares_addr_port_node *n = &nodes[i];
			n->next = i + 1 < cfg->n_dns_servers ? &nodes[i + 1] : NULL;
			n->family = ss->ss_family;
			if (ss->ss_family == AF_INET) {
				n->addr.addr4 = ((const struct sockaddr_in *)ss)->sin_addr;
				n->udp_port = n->tcp_port = ntohs(((const struct sockaddr_in *)ss)->sin_port);
			} else {
				memcpy(&n->addr.addr6, &((const struct sockaddr_in6 *)ss)->sin6_addr, 16);
				n->udp_port = n->tcp_port = ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
			}
		}
		rc = ares_set_servers_ports(r->channel, nodes);
		free(nodes);
		if (rc != ARES_SUCCESS) {
			*why = ares_strerror(rc);
			ares_destroy(r->channel);
			free(r);
			return NULL;
		}
	}
	return r;
}

void sk_egress_resolver_free(struct sk_egress_resolver *r)
{
	if (!r)
		return;
	/* ares_destroy completes every query with ARES_EDESTRUCTION: addrinfo_cb frees their records without
	 * calling owners. Lookups answered at once and still waiting on their 0 ms timer are not c-ares' any
	 * more: freed here. */
	r->destroying = true;
	ares_destroy(r->channel);
	while (r->immediate) {
		struct sk_egress_lookup *lk = r->immediate;
		immediate_unlink(lk);
		if (sk_timer_armed(&lk->deadline))
			sk_timer_cancel(r->loop, &lk->deadline);
		free(lk);
	}
	if (sk_timer_armed(&r->ares_timer))
		sk_timer_cancel(r->loop, &r->ares_timer);
	while (r->socks) {
		struct sock *s = r->socks;
		r->socks = s->next;
		sk_loop_del(r->loop, &s->io);
		s->io.fd = -1;
		sk_loop_close_free(r->loop, &s->io, s);
	}
	free(r->cache);
	free(r);
}
