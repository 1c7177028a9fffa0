/*
 * egress.h — the forward proxy's own mechanisms (DESIGN §5a): reading a request's target, the allow-list,
 * the SSRF address guard and DNS off the event loop.
 *
 * names.c and guard.c are pure functions of their input (no I/O, no allocation per call), so that the
 * rules are unit-tested and fuzzed apart from the proxy. resolve.c runs lookups with c-ares on the
 * worker's own epoll loop. local.c reads the host's interface addresses once per snapshot for the guard.
 * Invariants: a target that names a host is lower-case ASCII without a trailing dot before anything
 * compares it; an IP literal, however spelt, is read as the address it denotes and never matches a name
 * entry; an address is checked by the guard before any connection is made to it, and the connection goes
 * to that very address (the resolver's answers are not looked up again).
 */
#ifndef SK_EGRESS_H
#define SK_EGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "config/config.h"

/* ---- targets and the allow-list (names.c) --------------------------------------------------------- */

enum sk_egress_host_kind { SK_EGRESS_HOST_NAME = 0, SK_EGRESS_HOST_V4, SK_EGRESS_HOST_V6 };

#define SK_EGRESS_HOST_MAX 253 /* a DNS name's longest text form; an address's text is shorter */

/* A request's target as the proxy reads it. */
struct sk_egress_target {
	enum sk_egress_host_kind kind;
	char host[SK_EGRESS_HOST_MAX + 1]; /* NAME: lower-case, no trailing dot; V4/V6: canonical address text */
	size_t host_len;
	uint16_t port;
	uint8_t addr[16]; /* V4: the first 4 bytes, V6: all 16 (network order) */
};

/* Why a target was refused before any lookup. Every value but OK answers 400 (DESIGN §5a). */
enum sk_egress_target_err {
	SK_EGRESS_TARGET_OK = 0,
	SK_EGRESS_TARGET_MALFORMED,      /* not [scheme://]host[:port], or a host with characters no name has */
	SK_EGRESS_TARGET_USERINFO,       /* user:pass@ in the authority */
	SK_EGRESS_TARGET_BRACKETED_NAME, /* [example.com]: brackets hold IPv6 addresses only */
	SK_EGRESS_TARGET_NON_ASCII,      /* names travel in punycode */
	SK_EGRESS_TARGET_BAD_PORT,       /* missing (CONNECT), not a number, 0 or above 65535 */
	SK_EGRESS_TARGET_SCHEME,         /* absolute form with a scheme other than http (https goes by CONNECT) */
	SK_EGRESS_TARGET_HOST_MISMATCH,  /* the Host header names another host or port than the authority */
};

/* A short text for logs ("userinfo", "bracketed name", ...). */
const char *sk_egress_target_err_text(enum sk_egress_target_err e);

/*
 * Reads an authority "host[:port]" (len bytes, not NUL-terminated). default_port is used when the port is
 * absent or empty; 0 makes the port required (CONNECT). Host names are lower-cased and one trailing dot
 * removed; numeric spellings are read as inet_aton reads them (2130706433, 0x7f.1, 0177.0.0.1, 127.1);
 * "[v6]" is an IPv6 literal (zone identifiers refused). Returns OK with *out filled, or why not.
 */
enum sk_egress_target_err sk_egress_parse_authority(const char *s, size_t len, uint16_t default_port,
						    struct sk_egress_target *out);
/* A CONNECT request target (authority-form, port required). */
enum sk_egress_target_err sk_egress_parse_connect(const char *s, size_t len, struct sk_egress_target *out);
/*
 * An absolute-form target "http://authority[/path][?query]" (scheme case-insensitive, port 80 by default).
 * *path_off is where the origin-form part starts in s: s[*path_off] is '/' or '?', or *path_off == len
 * when there is none (the request then goes out for "/").
 */
enum sk_egress_target_err sk_egress_parse_url(const char *s, size_t len, struct sk_egress_target *out,
					      size_t *path_off);
/*
 * Whether a Host header value names the same host and port as the target (both read by
 * sk_egress_parse_authority, so letter case and a trailing dot do not matter; a Host without a port means
 * default_port).
 */
bool sk_egress_host_matches(const struct sk_egress_target *t, const char *host, size_t len, uint16_t default_port);

/* One compiled allow entry: exact name, or a domain and everything under it. */
struct sk_egress_rule {
	char *name; /* without the "*." */
	size_t len;
	bool wildcard;
	uint16_t *ports; /* ascending */
	size_t n_ports;
};

struct sk_egress_allowlist {
	struct sk_egress_rule *rules;
	size_t n;
};

/* Compiles an entry's allow list (config entries are checked and lower-cased already). */
void sk_egress_allowlist_build(const struct sk_egress *cfg, struct sk_egress_allowlist *out);
void sk_egress_allowlist_free(struct sk_egress_allowlist *l);
/* Whether a target is on the list: a NAME target whose name and port an entry allows. IP literals never
 * match (they are allowed by allow_ips alone). */
bool sk_egress_allowlist_match(const struct sk_egress_allowlist *l, const struct sk_egress_target *t);

/* ---- the SSRF guard (guard.c) ------------------------------------------------------------------- */

/* An address and port sekisho listens on; a wildcard address stands for every local address. */
struct sk_egress_self {
	int family; /* AF_INET or AF_INET6 */
	uint8_t addr[16];
	uint16_t port;
};

/* An address of this host (an interface address, from local.c). */
struct sk_egress_local {
	int family;
	uint8_t addr[16];
};

struct sk_egress_guard {
	struct sk_cidr *allow; /* allow_ips */
	size_t n_allow;
	struct sk_egress_self *self;
	size_t n_self;
	struct sk_egress_local *local;
	size_t n_local;
};

enum sk_egress_verdict {
	SK_EGRESS_ADDR_OK = 0,
	SK_EGRESS_ADDR_SPECIAL, /* a special-purpose range (or an address embedding one) not in allow_ips */
	SK_EGRESS_ADDR_SELF,    /* one of sekisho's own listening sockets: refused whatever allow_ips says */
};

/* Copies what it is given (the guard owns its arrays; free with sk_egress_guard_free). */
void sk_egress_guard_init(struct sk_egress_guard *g, const struct sk_cidrlist *allow_ips,
			  const struct sk_egress_self *self, size_t n_self, const struct sk_egress_local *local,
			  size_t n_local);
void sk_egress_guard_free(struct sk_egress_guard *g);
/* Judges a destination (AF_INET or AF_INET6 sockaddr, port included). */
enum sk_egress_verdict sk_egress_guard_check(const struct sk_egress_guard *g, const struct sockaddr *sa);
/* Whether an address is in allow_ips (an IPv4-mapped IPv6 address is judged by its IPv4): the only way an
 * IP-literal target is allowed. */
bool sk_egress_guard_ip_allowed(const struct sk_egress_guard *g, int family, const uint8_t *addr);

/* ---- this host's addresses (local.c) ------------------------------------------------------------ */

/* Every interface address (getifaddrs), for the guard's "every local address" of a wildcard listen.
 * Returns how many were stored in *out (owned by the caller, free()), or 0 when none could be read. */
size_t sk_egress_local_addrs(struct sk_egress_local **out);
/* The listening sockets of a config (listeners, egress entries, admin) as guard entries. Returns how many
 * were stored in *out (owned by the caller, free()). */
size_t sk_egress_self_addrs(const struct sk_config *cfg, struct sk_egress_self **out);

/* ---- one entry's compiled rules, and the order they are applied in (decide.c) ------------------- */

/* What a snapshot holds per egress entry: its config, its compiled allow-list and its guard. */
struct sk_egress_entry_rt {
	const struct sk_egress *cfg;
	struct sk_egress_allowlist allow;
	struct sk_egress_guard guard;
};

struct sk_egress_rt {
	struct sk_egress_entry_rt *entries; /* in config order */
	size_t n;
};

/* Builds every entry of cfg (reads this host's interface addresses once). Never fails. */
struct sk_egress_rt *sk_egress_rt_build(const struct sk_config *cfg);
void sk_egress_rt_free(struct sk_egress_rt *rt);

enum sk_egress_decision {
	SK_EGRESS_RESOLVE = 0,        /* a name on the list: look it up, then judge the addresses */
	SK_EGRESS_CONNECT,            /* an IP literal in allow_ips that the guard lets through: connect to it */
	SK_EGRESS_DENIED,             /* not on the list (or a literal not in allow_ips): 403 egress_denied */
	SK_EGRESS_ADDRESS_DENIED,     /* the guard refuses the address: 403 egress_address_denied */
};

/*
 * Judges a target before any lookup (DESIGN §5a: a name not on the list is never sent to DNS). For an IP
 * literal, *addr is filled with the socket address to connect to (the literal and the target's port).
 */
enum sk_egress_decision sk_egress_decide_target(const struct sk_egress_entry_rt *e, const struct sk_egress_target *t,
						struct sockaddr_storage *addr);
/*
 * Judges the addresses a name resolved to: SK_EGRESS_CONNECT when the guard lets every one through (the
 * caller then tries them in order), else SK_EGRESS_ADDRESS_DENIED with *refused the index of the first
 * refused one (for the log).
 */
enum sk_egress_decision sk_egress_decide_addrs(const struct sk_egress_entry_rt *e, const struct sockaddr_storage *addrs,
					       size_t n, size_t *refused);

/* ---- DNS off the event loop (resolve.c) ---------------------------------------------------------- */

struct sk_loop;

/* The most addresses one lookup keeps (in the order the server gave them); the rest are dropped, so that
 * an answer cannot make the proxy check and try without bound. */
#define SK_EGRESS_MAX_ADDRS 16

enum sk_egress_dns {
	SK_EGRESS_DNS_OK = 0,
	SK_EGRESS_DNS_FAILED,  /* NXDOMAIN, no address, a server error or refusal: 502 dns_failed */
	SK_EGRESS_DNS_TIMEOUT, /* dns.timeout passed: 504 dns_timeout */
};

/* Called on the loop's thread, never from inside sk_egress_resolve. addrs (n >= 1 when OK) carry the port
 * asked for and are valid during the call only. */
typedef void (*sk_egress_resolved_fn)(void *arg, enum sk_egress_dns status, const struct sockaddr_storage *addrs,
				      size_t n);

struct sk_egress_resolver;
struct sk_egress_lookup;

/*
 * A resolver for one egress entry on one worker loop: its dns.servers (UDP, TCP on truncation), or the
 * system's resolv.conf when there are none. Returns NULL with *why set when c-ares cannot start.
 */
struct sk_egress_resolver *sk_egress_resolver_new(struct sk_loop *loop, const struct sk_egress *cfg,
						  const char **why);
/* Ends every lookup without calling its callback (their owners are going away with the resolver). */
void sk_egress_resolver_free(struct sk_egress_resolver *r);
/*
 * Looks up name's A and AAAA records (the name as it is: no search domains). The callback runs
 * once, within dns.timeout. Returns a handle for sk_egress_lookup_cancel; it is no longer valid once the
 * callback has run.
 */
struct sk_egress_lookup *sk_egress_resolve(struct sk_egress_resolver *r, const char *name, uint16_t port,
					   sk_egress_resolved_fn fn, void *arg);
/* The callback will not run (the connection that asked is closing). */
void sk_egress_lookup_cancel(struct sk_egress_lookup *lk);
/* Lookups started and not yet ended (including abandoned ones that c-ares has not finished). */
size_t sk_egress_resolver_pending(const struct sk_egress_resolver *r);
/* No lookup refers to the resolver any more (it may be freed without cancelling anything). */
bool sk_egress_resolver_idle(const struct sk_egress_resolver *r);

#endif
