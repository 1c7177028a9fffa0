/*
 * egress.c — the `egress:` entries of DESIGN §5a: forward-proxy listeners with a domain allow-list.
 *
 * Read after listeners, ip_sets and the admin block, so that a name or listen address already used there
 * is reported at the egress entry. An allow entry is checked here as the operator wrote it (a host name,
 * exact or "*." wildcard, with ports): URLs, paths, userinfo, brackets, IP literals, a wildcard anywhere
 * but the first label and non-ASCII names are errors with file:line:col, so that the runtime list
 * (src/egress/names.c) only ever holds lower-case ASCII names without a trailing dot.
 * Invariants: every entry has at least one port; DNS servers are numeric (a resolver that needs DNS to be
 * found would be circular); nothing here resolves or binds.
 */
#include "config/config_int.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_DNS_TIMEOUT_MS (5 * 1000)
#define MAX_DNS_TIMEOUT_MS (60 * 1000)

static bool label_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_';
}

static int cmp_port(const void *a, const void *b)
{
	return (int)*(const uint16_t *)a - (int)*(const uint16_t *)b;
}

/* "80,443" into e->ports (sorted, duplicates dropped). */
static int read_ports(struct sk_cfg_ctx *c, const struct sk_cnode *item, const char *s, struct sk_egress_allow *e)
{
	size_t cap = 1;
	for (const char *p = s; *p; p++)
		cap += *p == ',';
	e->ports = sk_calloc(cap, sizeof(*e->ports));
	for (const char *p = s;;) {
		size_t n = strcspn(p, ",");
		unsigned v = 0;
		bool ok = n > 0 && n <= 5;
		for (size_t i = 0; ok && i < n; i++) {
			ok = p[i] >= '0' && p[i] <= '9';
			v = v * 10 + (unsigned)(p[i] - '0');
		}
		if (!ok || v < 1 || v > 65535)
			return sk_cfg_fail(c, item, "allow entry '%s': ports must be numbers from 1 to 65535 separated by "
					   "commas, as in \"*.debian.org:80,443\"", item->str);
		e->ports[e->n_ports++] = (uint16_t)v;
		if (!p[n])
			break;
		p += n + 1;
	}
	qsort(e->ports, e->n_ports, sizeof(*e->ports), cmp_port);
	size_t k = 0;
	for (size_t i = 0; i < e->n_ports; i++)
		if (k == 0 || e->ports[k - 1] != e->ports[i])
			e->ports[k++] = e->ports[i];
	e->n_ports = k;
	return 0;
}

/* Checks the host part (already lower-cased, trailing dot removed) of an allow entry. */
static int check_allow_host(struct sk_cfg_ctx *c, const struct sk_cnode *item, const char *host)
{
	const char *name = host;
	if (strcmp(host, "*") == 0 || strcmp(host, "*.") == 0)
		return sk_cfg_fail(c, item, "allow entry '%s': a bare '*' would allow every destination; name the "
				   "domains (\"*.example.com\")", item->str);
	if (host[0] == '*') {
		if (host[1] != '.')
			return sk_cfg_fail(c, item, "allow entry '%s': a wildcard is only allowed as a whole leading "
					   "label, as in \"*.example.com\"", item->str);
		name = host + 2;
	}
	size_t len = strlen(name);
	if (len == 0 || len > 253)
		return sk_cfg_fail(c, item, "allow entry '%s': the host name must have 1 to 253 characters", item->str);
	const char *label = name;
	for (const char *p = name;; p++) {
		if (*p == '.' || *p == '\0') {
			size_t n = (size_t)(p - label);
			if (n == 0 || n > 63)
				return sk_cfg_fail(c, item, "allow entry '%s': each label of a host name has 1 to 63 "
						   "characters", item->str);
			if (*p == '\0') {
				if (sk_label_numeric(label, n))
					return sk_cfg_fail(c, item, "allow entry '%s' is an IP address: put addresses in "
							   "'allow_ips'", item->str);
				break;
			}
			label = p + 1;
			continue;
		}
		if (*p == '*')
			return sk_cfg_fail(c, item, "allow entry '%s': a wildcard is only allowed as a whole leading "
					   "label, as in \"*.example.com\"", item->str);
		if ((unsigned char)*p >= 0x80)
			return sk_cfg_fail(c, item, "allow entry '%s': non-ASCII host names must be written in punycode "
					   "(xn--...)", item->str);
		if (!label_char(*p))
			return sk_cfg_fail(c, item, "allow entry '%s': a host name has letters, digits, '-', '_' and "
					   "dots only", item->str);
	}
	return 0;
}

static int read_allow_item(struct sk_cfg_ctx *c, const struct sk_cnode *item, struct sk_egress_allow *e)
{
	const char *s = item->str;
	e->pos = sk_cfg_pos(item);
	if (strstr(s, "://") || strchr(s, '/') || strchr(s, '?') || strchr(s, '#'))
		return sk_cfg_fail(c, item, "allow entry '%s': an entry names a host and ports, not a URL or a path",
				   s);
	if (strchr(s, '@'))
		return sk_cfg_fail(c, item, "allow entry '%s': an entry names a host and ports, without userinfo", s);
	if (strchr(s, '[') || strchr(s, ']') || strchr(s, ':') != strrchr(s, ':'))
		return sk_cfg_fail(c, item, "allow entry '%s' is an IP address: put addresses in 'allow_ips'", s);
	const char *colon = strchr(s, ':');
	size_t hl = colon ? (size_t)(colon - s) : strlen(s);
	char *host = sk_malloc(hl + 1);
	for (size_t i = 0; i < hl; i++)
		host[i] = (s[i] >= 'A' && s[i] <= 'Z') ? (char)(s[i] - 'A' + 'a') : s[i];
	host[hl] = '\0';
	if (hl > 1 && host[hl - 1] == '.')
		host[--hl] = '\0';
	e->host = host;
	if (check_allow_host(c, item, host) == -1)
		return -1;
	if (!colon) {
		e->ports = sk_calloc(1, sizeof(*e->ports));
		e->ports[0] = 443;
		e->n_ports = 1;
		return 0;
	}
	return read_ports(c, item, colon + 1, e);
}

static int read_allow(struct sk_cfg_ctx *c, const struct sk_cnode *m, struct sk_egress *e, const char *whose)
{
	const struct sk_cnode *v = sk_cfg_get(m, "allow");
	if (sk_cfg_require(c, m, "allow", whose) == -1 || sk_cfg_want(c, v, SK_CN_SEQ, "'allow'") == -1)
		return -1;
	if (v->n == 0)
		return sk_cfg_fail(c, v, "'allow' must name at least one host (an egress entry that allows nothing "
				   "serves nothing)");
	e->allow = sk_calloc(v->n, sizeof(*e->allow));
	for (size_t i = 0; i < v->n; i++) {
		if (!sk_cfg_scalar(c, v->kids[i], "each item of 'allow'"))
			return -1;
		e->n_allow++;
		if (read_allow_item(c, v->kids[i], &e->allow[i]) == -1)
			return -1;
	}
	return 0;
}

/* A DNS server: "ip:port", "[v6]:port", or a bare address (port 53). Numeric, not a wildcard. */
static int read_dns_server(struct sk_cfg_ctx *c, const struct sk_cnode *item, struct sk_addr *out)
{
	char d[64], buf[80];
	const char *s = item->str;
	struct in6_addr a6;
	struct in_addr a4;
	if (inet_pton(AF_INET6, s, &a6) == 1)
		snprintf(buf, sizeof(buf), "[%s]:53", s);
	else if (inet_pton(AF_INET, s, &a4) == 1 || (s[0] == '[' && s[strlen(s) - 1] == ']'))
		snprintf(buf, sizeof(buf), "%s:53", s);
	else
		snprintf(buf, sizeof(buf), "%s", s);
	bool any = false;
	if (strlen(s) < 64 && sk_addr_parse(buf, out) == 0) {
		any = (out->ss.ss_family == AF_INET &&
		       ((struct sockaddr_in *)&out->ss)->sin_addr.s_addr == htonl(INADDR_ANY)) ||
		      (out->ss.ss_family == AF_INET6 &&
		       IN6_IS_ADDR_UNSPECIFIED(&((struct sockaddr_in6 *)&out->ss)->sin6_addr));
		if (!any)
			return 0;
	}
	return sk_cfg_fail(c, item, "invalid DNS server %s: expected a numeric address with an optional port, such "
			   "as 127.0.0.1:53, 10.0.0.2 or [::1]:53", sk_cfg_describe(item, d, sizeof(d)));
}

static int read_dns(struct sk_cfg_ctx *c, const struct sk_cnode *m, struct sk_egress *e, const char *name)
{
	static const char *const keys[] = { "servers", "timeout", NULL };
	const struct sk_cnode *dns = sk_cfg_get(m, "dns");
	char where[128];
	snprintf(where, sizeof(where), "in 'dns' of egress '%s'", name);
	if (sk_cfg_want(c, dns, SK_CN_MAP, "'dns'") == -1 || sk_cfg_check_keys(c, dns, keys, where) == -1)
		return -1;
	if (!dns || sk_cfg_is_null(dns))
		return 0;
	const struct sk_cnode *servers = sk_cfg_get(dns, "servers");
	if (sk_cfg_want(c, servers, SK_CN_SEQ, "'servers'") == -1)
		return -1;
	if (servers && !sk_cfg_is_null(servers) && servers->n > 0) {
		e->dns_servers = sk_calloc(servers->n, sizeof(*e->dns_servers));
		for (size_t i = 0; i < servers->n; i++) {
			if (!sk_cfg_scalar(c, servers->kids[i], "each item of 'servers'") ||
			    read_dns_server(c, servers->kids[i], &e->dns_servers[i]) == -1)
				return -1;
			e->n_dns_servers++;
		}
	}
	if (sk_cfg_duration(c, dns, "timeout", &e->dns_timeout_ms) == -1)
		return -1;
	if (e->dns_timeout_ms == 0 || e->dns_timeout_ms > MAX_DNS_TIMEOUT_MS)
		return sk_cfg_fail(c, sk_cfg_get(dns, "timeout"), "'timeout' of 'dns' must be from 1ms to 60s");
	return 0;
}

/* Egress access: checks on the client's address and Basic credentials sent as Proxy-Authorization. A
 * forward proxy has no pages (session, mfa) and no client certificate, and a policy would judge a URL the
 * allow-list already judges. */
static int read_egress_access(struct sk_cfg_ctx *c, const struct sk_cnode *m, struct sk_egress *e)
{
	const struct sk_cnode *am = sk_cfg_get(m, "access");
	char where[128];
	snprintf(where, sizeof(where), "egress '%s'", e->name);
	if (sk_cfg_access(c, am, &e->access, where) == -1)
		return -1;
	for (size_t i = 0; i < e->access.n_auth; i++)
		if (e->access.auth[i] != SK_AUTH_BASIC)
			return sk_cfg_fail(c, sk_cfg_get(am, "auth"), "an egress listener takes auth basic only "
					   "(credentials come in Proxy-Authorization)");
	if (e->access.mfa != SK_MFA_OFF)
		return sk_cfg_fail(c, sk_cfg_get_key(am, "mfa"), "'mfa' is not available on an egress listener");
	if (e->access.policy != SK_POLICY_OFF)
		return sk_cfg_fail(c, sk_cfg_get_key(am, "policy"), "'policy' is not available on an egress listener; "
				   "the allow-list says where it may go");
	return 0;
}

static bool same_addr(const struct sk_addr *a, const struct sk_addr *b)
{
	return a->len == b->len && memcmp(&a->ss, &b->ss, a->len) == 0;
}

static int read_entry(struct sk_cfg_ctx *c, const struct sk_cnode *m, size_t idx)
{
	static const char *const keys[] = { "name", "listen", "allow", "allow_ips", "access", "dns", "idle_timeout",
					    NULL };
	struct sk_config *cfg = c->cfg;
	struct sk_egress *e = &cfg->egress[idx];
	e->idle_timeout_ms = 3600 * 1000;
	e->dns_timeout_ms = DEFAULT_DNS_TIMEOUT_MS;
	if (sk_cfg_want(c, m, SK_CN_MAP, "an egress entry") == -1)
		return -1;
	if (sk_cfg_is_null(m))
		return sk_cfg_fail(c, m, "an egress entry needs 'name', 'listen' and 'allow'");
	const struct sk_cnode *name = sk_cfg_get(m, "name");
	char where[128], whose[128], d[64];
	snprintf(where, sizeof(where), "in egress '%s'",
		 name && name->type == SK_CN_SCALAR && !sk_cfg_is_null(name) ? name->str : "?");
	if (sk_cfg_check_keys(c, m, keys, where) == -1 || sk_cfg_require(c, m, "name", "an egress entry") == -1 ||
	    !sk_cfg_scalar(c, name, "'name'"))
		return -1;
	if (!sk_cfg_name_ok(name->str))
		return sk_cfg_fail(c, name, "invalid egress name %s: use 1 to 64 letters, digits, '_', '.' or '-'",
				   sk_cfg_describe(name, d, sizeof(d)));
	/* Metrics and logs name egress entries and listeners alike: one namespace for both. */
	for (size_t i = 0; i < idx; i++)
		if (strcmp(cfg->egress[i].name, name->str) == 0)
			return sk_cfg_fail(c, name, "duplicate egress name '%s' (first at line %d, column %d)", name->str,
					   cfg->egress[i].pos.line, cfg->egress[i].pos.col);
	for (size_t i = 0; i < cfg->n_listeners; i++)
		if (strcmp(cfg->listeners[i].name, name->str) == 0)
			return sk_cfg_fail(c, name, "egress name '%s' is already a listener's (line %d, column %d)",
					   name->str, cfg->listeners[i].pos.line, cfg->listeners[i].pos.col);
	e->name = sk_strdup(name->str);
	e->pos = sk_cfg_pos(name);
	snprintf(whose, sizeof(whose), "egress '%s'", e->name);

	if (sk_cfg_require(c, m, "listen", whose) == -1 || !sk_cfg_scalar(c, sk_cfg_get(m, "listen"), "'listen'"))
		return -1;
	const struct sk_cnode *lv = sk_cfg_get(m, "listen");
	if (sk_addr_parse(lv->str, &e->listen) == -1)
		return sk_cfg_fail(c, lv, "'listen' must be an address such as 10.0.0.2:3128 or [::]:3128, not %s",
				   sk_cfg_describe(lv, d, sizeof(d)));
	for (size_t i = 0; i < cfg->n_listeners; i++)
		if (same_addr(&cfg->listeners[i].listen, &e->listen))
			return sk_cfg_fail(c, lv, "address %s is already used by listener '%s'", e->listen.text,
					   cfg->listeners[i].name);
	for (size_t i = 0; i < idx; i++)
		if (same_addr(&cfg->egress[i].listen, &e->listen))
			return sk_cfg_fail(c, lv, "address %s is already used by egress '%s'", e->listen.text,
					   cfg->egress[i].name);
	if (cfg->admin.present && same_addr(&cfg->admin.listen, &e->listen))
		return sk_cfg_fail(c, lv, "address %s is already used by 'admin'", e->listen.text);

	if (read_allow(c, m, e, whose) == -1 || sk_cfg_cidrlist(c, sk_cfg_get(m, "allow_ips"), "allow_ips",
								 &e->allow_ips) == -1 ||
	    read_egress_access(c, m, e) == -1 || read_dns(c, m, e, e->name) == -1 ||
	    sk_cfg_duration(c, m, "idle_timeout", &e->idle_timeout_ms) == -1)
		return -1;
	if (e->idle_timeout_ms == 0)
		return sk_cfg_fail(c, sk_cfg_get(m, "idle_timeout"), "'idle_timeout' must be more than 0");
	return 0;
}

int sk_cfg_egress(struct sk_cfg_ctx *c, const struct sk_cnode *root)
{
	const struct sk_cnode *v = sk_cfg_get(root, "egress");
	if (sk_cfg_want(c, v, SK_CN_SEQ, "'egress'") == -1)
		return -1;
	if (!v || sk_cfg_is_null(v) || v->n == 0)
		return 0;
	struct sk_config *cfg = c->cfg;
	cfg->egress = sk_calloc(v->n, sizeof(*cfg->egress));
	for (size_t i = 0; i < v->n; i++) {
		cfg->n_egress++;
		if (read_entry(c, v->kids[i], i) == -1)
			return -1;
	}
	return 0;
}

void sk_cfg_egress_free(struct sk_config *cfg)
{
	for (size_t i = 0; i < cfg->n_egress; i++) {
		struct sk_egress *e = &cfg->egress[i];
		free(e->name);
		for (size_t a = 0; a < e->n_allow; a++) {
			free(e->allow[a].host);
			free(e->allow[a].ports);
		}
		free(e->allow);
		free(e->allow_ips.items);
		free(e->allow_ips.pos);
		sk_cfg_access_free(&e->access);
		free(e->dns_servers);
	}
	free(cfg->egress);
}
