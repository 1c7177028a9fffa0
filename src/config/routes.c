/*
 * routes.c — origins, listeners and distributions (aliases, behaviors, access blocks), and every
 * reference between them and to certificates and ip sets.
 *
 * Invariants: sections are read in dependency order (origins, then listeners, then distributions), so a
 * name is checked when it is met and a dangling one is reported at the reference itself; names are
 * unique within their kind; an alias belongs to one distribution only (lower-cased, one trailing dot
 * removed, a wildcard only as a leading "*." label); an origin has exactly one of `servers` or `root`.
 */
#include "config/config_int.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <arpa/inet.h>

/* ---- origins -------------------------------------------------------------------------------- */

/* Headers that sekisho itself manages toward the origin; setting them here would break framing. */
static const char *const managed_headers[] = {
	"host", "connection", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade", "content-length",
	"proxy-connection", NULL,
};

static int read_origin_headers(struct sk_cfg_ctx *c, const struct sk_cnode *m, struct sk_origin *o)
{
	const struct sk_cnode *h = sk_cfg_get(m, "headers");
	if (sk_cfg_want(c, h, SK_CN_MAP, "'headers'") == -1)
		return -1;
	if (!h || sk_cfg_is_null(h) || SK_CN_PAIRS(h) == 0)
		return 0;
	o->headers = sk_calloc(SK_CN_PAIRS(h), sizeof(*o->headers));
	for (size_t i = 0; i < SK_CN_PAIRS(h); i++) {
		const struct sk_cnode *k = SK_CN_KEY(h, i), *v = SK_CN_VAL(h, i);
		char d[64];
		if (!sk_cfg_token_ok(k->str))
			return sk_cfg_fail(c, k, "invalid header name %s", sk_cfg_describe(k, d, sizeof(d)));
		for (const char *const *p = managed_headers; *p; p++)
			if (strcasecmp(*p, k->str) == 0)
				return sk_cfg_fail(c, k, "header '%s' is managed by sekisho and cannot be set here", k->str);
		char what[96];
		snprintf(what, sizeof(what), "the value of header '%s'", k->str);
		if (!sk_cfg_scalar(c, v, what))
			return -1;
		char *value = sk_cfg_expand_env(c, v, v->str);
		if (!value)
			return -1;
		/* An environment value could smuggle a second header line: refuse controls (tab is fine). */
		for (const char *p = value; *p; p++)
			if (((unsigned char)*p < 0x20 && *p != '\t') || *p == 0x7f) {
				free(value);
				return sk_cfg_fail(c, v, "the value of header '%s' contains a control character", k->str);
			}
		o->headers[o->n_headers++] = (struct sk_kv){ .name = sk_strdup(k->str), .value = value };
	}
	return 0;
}

bool sk_cfg_resolve_names = true;

static int read_origin_servers(struct sk_cfg_ctx *c, const struct sk_cnode *v, struct sk_origin *o)
{
	if (sk_cfg_want(c, v, SK_CN_SEQ, "'servers'") == -1)
		return -1;
	if (sk_cfg_is_null(v) || v->n == 0)
		return sk_cfg_fail(c, v, "'servers' must not be empty");
	for (size_t i = 0; i < v->n; i++) {
		const struct sk_cnode *item = v->kids[i];
		if (!sk_cfg_scalar(c, item, "each item of 'servers'"))
			return -1;
		char d[64];
		size_t first = o->n_servers;
		const char *why = NULL;
		int added = -1;
		if (sk_cfg_resolve_names) {
			added = sk_addr_resolve(item->str, &o->servers, &o->n_servers, &why);
		} else {
			o->servers = sk_realloc(o->servers, (o->n_servers + 1) * sizeof(*o->servers));
			if (sk_addr_parse(item->str, &o->servers[o->n_servers]) == 0)
				added = 1, o->n_servers++;
		}
		if (added == -1 && why)
			return sk_cfg_fail(c, item, "server %s: the name does not resolve (%s)",
					   sk_cfg_describe(item, d, sizeof(d)), why);
		if (added == -1)
			return sk_cfg_fail(c, item,
					   "invalid server address %s: expected host:port such as 127.0.0.1:3000 or "
					   "app.internal:3000",
					   sk_cfg_describe(item, d, sizeof(d)));
		for (size_t k = first; k < o->n_servers; k++) {
			const struct sk_addr *a = &o->servers[k];
			bool any = (a->ss.ss_family == AF_INET &&
				    ((struct sockaddr_in *)&a->ss)->sin_addr.s_addr == htonl(INADDR_ANY)) ||
				   (a->ss.ss_family == AF_INET6 &&
				    IN6_IS_ADDR_UNSPECIFIED(&((struct sockaddr_in6 *)&a->ss)->sin6_addr));
			if (any)
				return sk_cfg_fail(c, item, "server address %s is a wildcard; name the server's address",
						   sk_cfg_describe(item, d, sizeof(d)));
		}
	}
	return 0;
}

static int read_origin_root(struct sk_cfg_ctx *c, const struct sk_cnode *v, struct sk_origin *o)
{
	if (!sk_cfg_scalar(c, v, "'root'"))
		return -1;
	if (!v->str[0])
		return sk_cfg_fail(c, v, "'root' must be a directory, not an empty string");
	char *path = sk_cfg_resolve(c, v->str);
	char *real = realpath(path, NULL);
	int rc = -1;
	struct stat st;
	if (!real)
		sk_cfg_fail(c, v, "root '%s': %s", path, strerror(errno));
	else if (stat(real, &st) == -1)
		sk_cfg_fail(c, v, "root '%s': %s", real, strerror(errno));
	else if (!S_ISDIR(st.st_mode))
		sk_cfg_fail(c, v, "root '%s' is not a directory", real);
	else {
		o->root = real;
		real = NULL;
		rc = 0;
	}
	free(real);
	free(path);
	return rc;
}

static int read_origin_tls(struct sk_cfg_ctx *c, const struct sk_cnode *m, struct sk_origin *o, const char *name)
{
	static const char *const keys[] = { "ca", "server_name", "verify", NULL };
	const struct sk_cnode *t = sk_cfg_get(m, "tls");
	char where[128];
	snprintf(where, sizeof(where), "in 'tls' of origin '%s'", name);
	if (sk_cfg_want(c, t, SK_CN_MAP, "'tls'") == -1 || sk_cfg_check_keys(c, t, keys, where) == -1)
		return -1;
	if (!t)
		return 0;
	o->tls.present = true;
	if (sk_cfg_path(c, t, "ca", &o->tls.ca) == -1 || sk_cfg_str(c, t, "server_name", &o->tls.server_name) == -1 ||
	    sk_cfg_bool(c, t, "verify", &o->tls.verify) == -1)
		return -1;
	if (o->tls.ca)
		o->tls.ca_pos = sk_cfg_pos(sk_cfg_get(t, "ca"));
	if (o->tls.server_name && (!o->tls.server_name[0] || strpbrk(o->tls.server_name, " \t\r\n/")))
		return sk_cfg_fail(c, sk_cfg_get(t, "server_name"), "'server_name' must be a host name");
	return 0;
}

static int read_origin(struct sk_cfg_ctx *c, const struct sk_cnode *k, const struct sk_cnode *m, struct sk_origin *o)
{
	static const char *const keys[] = { "servers", "host", "headers", "root", "tls", "connect_timeout",
					    "response_timeout", "max_idle", "fail_timeout", NULL };
	/* Keys that only make sense toward an upstream server. */
	static const char *const upstream_only[] = { "host", "headers", "tls", "connect_timeout",
						     "response_timeout", "max_idle", "fail_timeout", NULL };
	char what[128], where[128];
	snprintf(what, sizeof(what), "origin '%s'", k->str);
	snprintf(where, sizeof(where), "in origin '%s'", k->str);
	if (!sk_cfg_name_ok(k->str)) {
		char d[64];
		return sk_cfg_fail(c, k, "invalid origin name %s: use 1 to 64 letters, digits, '_', '.' or '-'",
				   sk_cfg_describe(k, d, sizeof(d)));
	}
	o->name = sk_strdup(k->str);
	o->pos = sk_cfg_pos(k);
	o->tls.verify = true;
	o->connect_timeout_ms = 5 * 1000;
	o->fail_timeout_ms = 10 * 1000;
	o->response_timeout_ms = 60 * 1000;
	o->max_idle = 64;
	if (sk_cfg_want(c, m, SK_CN_MAP, what) == -1 || sk_cfg_check_keys(c, m, keys, where) == -1)
		return -1;

	const struct sk_cnode *servers = sk_cfg_get(m, "servers"), *root = sk_cfg_get(m, "root");
	if (servers && root)
		return sk_cfg_fail(c, sk_cfg_get_key(m, "root"),
				   "%s has both 'servers' and 'root': a static origin takes only 'root'", what);
	if (!servers && !root)
		return sk_cfg_fail(c, sk_cfg_is_null(m) ? k : m, "%s needs 'servers' (a list of host:port) or 'root' (a directory)",
				   what);
	if (root) {
		for (const char *const *p = upstream_only; *p; p++) {
			const struct sk_cnode *uk = sk_cfg_get_key(m, *p);
			if (uk)
				return sk_cfg_fail(c, uk, "'%s' does not apply to a static origin (one with 'root')", *p);
		}
		return read_origin_root(c, root, o);
	}

	if (read_origin_servers(c, servers, o) == -1 || sk_cfg_str(c, m, "host", &o->host) == -1 ||
	    read_origin_headers(c, m, o) == -1 || read_origin_tls(c, m, o, k->str) == -1 ||
	    sk_cfg_duration(c, m, "connect_timeout", &o->connect_timeout_ms) == -1 ||
	    sk_cfg_duration(c, m, "response_timeout", &o->response_timeout_ms) == -1 ||
	    sk_cfg_duration(c, m, "fail_timeout", &o->fail_timeout_ms) == -1)
		return -1;
	if (o->fail_timeout_ms == 0)
		return sk_cfg_fail(c, sk_cfg_get(m, "fail_timeout"), "'fail_timeout' must be more than 0");
	uint64_t max_idle = o->max_idle;
	if (sk_cfg_uint(c, m, "max_idle", 0, 100000, &max_idle) == -1)
		return -1;
	o->max_idle = (uint32_t)max_idle;
	if (o->host) {
		for (const char *p = o->host; *p; p++)
			if ((unsigned char)*p <= 0x20 || *p == 0x7f)
				return sk_cfg_fail(c, sk_cfg_get(m, "host"), "'host' must be a host name without spaces");
		if (!o->host[0])
			return sk_cfg_fail(c, sk_cfg_get(m, "host"), "'host' must not be empty");
	} else {
		/* As written, so a server given by name sends that name (its text is the numeric address). */
		o->host = sk_strdup(sk_cfg_get(m, "servers")->kids[0]->str);
	}
	return 0;
}

int sk_cfg_origins(struct sk_cfg_ctx *c, const struct sk_cnode *root)
{
	const struct sk_cnode *m = sk_cfg_get(root, "origins");
	if (sk_cfg_want(c, m, SK_CN_MAP, "'origins'") == -1)
		return -1;
	if (!m || sk_cfg_is_null(m) || SK_CN_PAIRS(m) == 0)
		return 0;
	struct sk_config *cfg = c->cfg;
	cfg->n_origins = SK_CN_PAIRS(m);
	cfg->origins = sk_calloc(cfg->n_origins, sizeof(*cfg->origins));
	for (size_t i = 0; i < SK_CN_PAIRS(m); i++)
		if (read_origin(c, SK_CN_KEY(m, i), SK_CN_VAL(m, i), &cfg->origins[i]) == -1)
			return -1;
	return 0;
}

/* ---- listeners ------------------------------------------------------------------------------ */

static int cmp_acl(const void *a, const void *b)
{
	const struct sk_acl_rule *x = a, *y = b;
	return x->rule < y->rule ? -1 : x->rule > y->rule;
}

static int read_acl(struct sk_cfg_ctx *c, const struct sk_cnode *m, struct sk_listener *l)
{
	static const char *const keys[] = { "rule", "cidr", "action", NULL };
	const struct sk_cnode *v = sk_cfg_get(m, "acl");
	if (sk_cfg_want(c, v, SK_CN_SEQ, "'acl'") == -1)
		return -1;
	if (!v || sk_cfg_is_null(v) || v->n == 0)
		return 0;
	l->acl = sk_calloc(v->n, sizeof(*l->acl));
	const struct sk_cnode **rule_nodes = sk_calloc(v->n, sizeof(*rule_nodes));
	int rc = -1;
	char where[128];
	snprintf(where, sizeof(where), "in an acl rule of listener '%s'", l->name);
	for (size_t i = 0; i < v->n; i++) {
		const struct sk_cnode *r = v->kids[i];
		struct sk_acl_rule *rule = &l->acl[i];
		if (sk_cfg_want(c, r, SK_CN_MAP, "an acl rule") == -1 || sk_cfg_check_keys(c, r, keys, where) == -1)
			goto out;
		if (sk_cfg_is_null(r)) {
			sk_cfg_fail(c, r, "an acl rule needs 'rule', 'cidr' and 'action'");
			goto out;
		}
		uint64_t num = 0;
		if (sk_cfg_require(c, r, "rule", "an acl rule") == -1 || sk_cfg_require(c, r, "cidr", "an acl rule") == -1 ||
		    sk_cfg_require(c, r, "action", "an acl rule") == -1 ||
		    sk_cfg_uint(c, r, "rule", 1, UINT32_MAX, &num) == -1)
			goto out;
		rule->rule = (uint32_t)num;
		rule_nodes[i] = sk_cfg_get(r, "rule");
		for (size_t j = 0; j < i; j++)
			if (l->acl[j].rule == rule->rule) {
				sk_cfg_fail(c, rule_nodes[i], "acl rule number %u is already used (line %d, column %d)",
					    rule->rule, rule_nodes[j]->line, rule_nodes[j]->col);
				goto out;
			}
		const struct sk_cnode *cidr = sk_cfg_get(r, "cidr"), *action = sk_cfg_get(r, "action");
		char d[64];
		if (!sk_cfg_scalar(c, cidr, "'cidr'") || !sk_cfg_scalar(c, action, "'action'"))
			goto out;
		if (sk_cidr_parse(cidr->str, &rule->cidr) == -1) {
			sk_cfg_fail(c, cidr, "invalid CIDR %s", sk_cfg_describe(cidr, d, sizeof(d)));
			goto out;
		}
		if (strcmp(action->str, "allow") == 0)
			rule->action = SK_ACL_ALLOW;
		else if (strcmp(action->str, "deny") == 0)
			rule->action = SK_ACL_DENY;
		else {
			sk_cfg_fail(c, action, "'action' must be allow or deny, not %s", sk_cfg_describe(action, d, sizeof(d)));
			goto out;
		}
		l->n_acl++;
	}
	qsort(l->acl, l->n_acl, sizeof(*l->acl), cmp_acl);
	rc = 0;
out:
	free(rule_nodes);
	return rc;
}

static int check_certificate(struct sk_cfg_ctx *c, const struct sk_cnode *item, char **text)
{
	if (!sk_config_certificate(c->cfg, item->str))
		return sk_cfg_fail(c, item, "certificate '%s' is not defined in 'certificates'", item->str);
	*text = sk_strdup(item->str);
	return 0;
}

static int read_listener_tls(struct sk_cfg_ctx *c, const struct sk_cnode *m, struct sk_listener *l)
{
	static const char *const keys[] = { "certificates", "ciphers", "client_ca", "min_version", NULL };
	const struct sk_cnode *t = sk_cfg_get(m, "tls");
	char where[128], whose[128];
	snprintf(where, sizeof(where), "in 'tls' of listener '%s'", l->name);
	snprintf(whose, sizeof(whose), "'tls' of listener '%s'", l->name);
	if (sk_cfg_want(c, t, SK_CN_MAP, "'tls'") == -1 || sk_cfg_check_keys(c, t, keys, where) == -1)
		return -1;
	if (!t)
		return 0;
	l->tls.present = true;
	if (sk_cfg_is_null(t))
		return sk_cfg_fail(c, t, "%s needs 'certificates'", whose);
	if (sk_cfg_require(c, t, "certificates", whose) == -1 ||
	    sk_cfg_strlist(c, t, "certificates", &l->tls.certificates, check_certificate) == -1 ||
	    sk_cfg_str(c, t, "ciphers", &l->tls.ciphers) == -1 || sk_cfg_path(c, t, "client_ca", &l->tls.client_ca) == -1)
		return -1;
	if (l->tls.client_ca)
		l->tls.client_ca_pos = sk_cfg_pos(sk_cfg_get(t, "client_ca"));
	if (l->tls.certificates.n == 0)
		return sk_cfg_fail(c, sk_cfg_get(t, "certificates"), "'certificates' must not be empty");
	if (l->tls.ciphers && !l->tls.ciphers[0])
		return sk_cfg_fail(c, sk_cfg_get(t, "ciphers"), "'ciphers' must not be empty");
	const struct sk_cnode *mv = sk_cfg_get(t, "min_version");
	if (mv && !sk_cfg_is_null(mv)) {
		char d[64];
		if (!sk_cfg_scalar(c, mv, "'min_version'"))
			return -1;
		if (strcmp(mv->str, "1.3") == 0)
			l->tls.min_tls13 = true;
		else if (strcmp(mv->str, "1.2") != 0)
			return sk_cfg_fail(c, mv, "'min_version' must be \"1.2\" or \"1.3\", not %s",
					   sk_cfg_describe(mv, d, sizeof(d)));
	}
	return 0;
}

/* The `name:` of a listener or distribution: required and well-formed. Returns the value node or NULL. */
static const struct sk_cnode *read_name(struct sk_cfg_ctx *c, const struct sk_cnode *m, const char *kind)
{
	const struct sk_cnode *v = sk_cfg_get(m, "name");
	char d[64], whose[64];
	snprintf(whose, sizeof(whose), "a %s", kind);
	if (sk_cfg_require(c, m, "name", whose) == -1 || !sk_cfg_scalar(c, v, "'name'"))
		return NULL;
	if (!sk_cfg_name_ok(v->str)) {
		sk_cfg_fail(c, v, "invalid %s name %s: use 1 to 64 letters, digits, '_', '.' or '-'", kind,
			    sk_cfg_describe(v, d, sizeof(d)));
		return NULL;
	}
	return v;
}

static int duplicate_name(struct sk_cfg_ctx *c, const struct sk_cnode *v, const char *kind, struct sk_pos first)
{
	return sk_cfg_fail(c, v, "duplicate %s name '%s' (first at line %d, column %d)", kind, v->str, first.line,
			   first.col);
}

/* underscores_in_headers: drop (default) | forward; HTTP listeners only (DESIGN §2). */
static int read_underscores(struct sk_cfg_ctx *c, const struct sk_cnode *m, struct sk_listener *l)
{
	const struct sk_cnode *v = sk_cfg_get(m, "underscores_in_headers");
	char d[64];
	if (!v || sk_cfg_is_null(v))
		return 0;
	if (l->mode == SK_MODE_TCP)
		return sk_cfg_fail(c, sk_cfg_get_key(m, "underscores_in_headers"),
				   "'underscores_in_headers' is only for HTTP listeners");
	if (!sk_cfg_scalar(c, v, "'underscores_in_headers'"))
		return -1;
	if (strcmp(v->str, "forward") == 0)
		l->underscores_forward = true;
	else if (strcmp(v->str, "drop") != 0)
		return sk_cfg_fail(c, v, "'underscores_in_headers' must be drop or forward, not %s",
				   sk_cfg_describe(v, d, sizeof(d)));
	return 0;
}

static int read_listener(struct sk_cfg_ctx *c, const struct sk_cnode *m, size_t idx)
{
	static const char *const keys[] = { "name", "listen", "mode", "origin", "idle_timeout", "acl", "tls",
					    "underscores_in_headers", NULL };
	struct sk_config *cfg = c->cfg;
	struct sk_listener *l = &cfg->listeners[idx];
	l->idle_timeout_ms = 3600 * 1000;
	if (sk_cfg_want(c, m, SK_CN_MAP, "a listener") == -1)
		return -1;
	if (sk_cfg_is_null(m))
		return sk_cfg_fail(c, m, "a listener needs 'name' and 'listen'");

	/* Name first, so that the other messages can say which listener they are about. */
	const struct sk_cnode *name = sk_cfg_get(m, "name");
	char where[128], whose[128];
	snprintf(where, sizeof(where), "in listener '%s'",
		 name && name->type == SK_CN_SCALAR && !sk_cfg_is_null(name) ? name->str : "?");
	if (sk_cfg_check_keys(c, m, keys, where) == -1 || !(name = read_name(c, m, "listener")))
		return -1;
	for (size_t i = 0; i < idx; i++)
		if (strcmp(cfg->listeners[i].name, name->str) == 0)
			return duplicate_name(c, name, "listener", cfg->listeners[i].pos);
	l->name = sk_strdup(name->str);
	l->pos = sk_cfg_pos(name);
	snprintf(whose, sizeof(whose), "listener '%s'", l->name);

	if (sk_cfg_require(c, m, "listen", whose) == -1 || !sk_cfg_scalar(c, sk_cfg_get(m, "listen"), "'listen'"))
		return -1;
	const struct sk_cnode *lv = sk_cfg_get(m, "listen");
	char d[64];
	if (sk_addr_parse(lv->str, &l->listen) == -1)
		return sk_cfg_fail(c, lv, "'listen' must be an address such as 0.0.0.0:8443 or [::]:8443, not %s",
				   sk_cfg_describe(lv, d, sizeof(d)));
	for (size_t i = 0; i < idx; i++)
		if (cfg->listeners[i].listen.len == l->listen.len &&
		    memcmp(&cfg->listeners[i].listen.ss, &l->listen.ss, l->listen.len) == 0)
			return sk_cfg_fail(c, lv, "address %s is already used by listener '%s'", l->listen.text,
					   cfg->listeners[i].name);
	if (cfg->admin.present && cfg->admin.listen.len == l->listen.len &&
	    memcmp(&cfg->admin.listen.ss, &l->listen.ss, l->listen.len) == 0)
		return sk_cfg_fail(c, lv, "address %s is already used by 'admin'", l->listen.text);

	const struct sk_cnode *mode = sk_cfg_get(m, "mode");
	if (mode && !sk_cfg_is_null(mode)) {
		if (!sk_cfg_scalar(c, mode, "'mode'"))
			return -1;
		if (strcmp(mode->str, "http") == 0)
			l->mode = SK_MODE_HTTP;
		else if (strcmp(mode->str, "tcp") == 0)
			l->mode = SK_MODE_TCP;
		else
			return sk_cfg_fail(c, mode, "'mode' must be http or tcp, not %s", sk_cfg_describe(mode, d, sizeof(d)));
	}

	if (l->mode == SK_MODE_TCP) {
		if (sk_cfg_require(c, m, "origin", whose) == -1 || sk_cfg_str(c, m, "origin", &l->origin) == -1 ||
		    sk_cfg_duration(c, m, "idle_timeout", &l->idle_timeout_ms) == -1)
			return -1;
		const struct sk_cnode *ov = sk_cfg_get(m, "origin");
		const struct sk_origin *o = sk_config_origin(cfg, l->origin);
		if (!o)
			return sk_cfg_fail(c, ov, "origin '%s' is not defined in 'origins'", l->origin);
		if (o->root)
			return sk_cfg_fail(c, ov, "origin '%s' is a static origin; a tcp listener needs one with 'servers'",
					   l->origin);
	} else {
		const struct sk_cnode *k;
		if ((k = sk_cfg_get_key(m, "origin")))
			return sk_cfg_fail(c, k, "'origin' is only for tcp listeners; HTTP listeners route through distributions");
		if ((k = sk_cfg_get_key(m, "idle_timeout")))
			return sk_cfg_fail(c, k, "'idle_timeout' is only for tcp listeners; set it on a behavior");
	}
	if (read_underscores(c, m, l) == -1)
		return -1;
	return read_acl(c, m, l) == -1 || read_listener_tls(c, m, l) == -1 ? -1 : 0;
}

int sk_cfg_listeners(struct sk_cfg_ctx *c, const struct sk_cnode *root)
{
	const struct sk_cnode *v = sk_cfg_get(root, "listeners");
	if (sk_cfg_want(c, v, SK_CN_SEQ, "'listeners'") == -1)
		return -1;
	if (!v || sk_cfg_is_null(v) || v->n == 0)
		return 0;
	struct sk_config *cfg = c->cfg;
	cfg->n_listeners = v->n;
	cfg->listeners = sk_calloc(v->n, sizeof(*cfg->listeners));
	for (size_t i = 0; i < v->n; i++)
		if (read_listener(c, v->kids[i], i) == -1)
			return -1;
	return 0;
}

/* ---- distributions -------------------------------------------------------------------------- */

/* Where each alias was first written, to name both places of a duplicate. */
struct alias_seen {
	const char *alias; /* owned by the config */
	const char *distribution;
	struct sk_pos pos;
};

struct alias_table {
	struct alias_seen *items;
	size_t n, cap;
};

/* Lower-cases, drops one trailing dot, and checks host-name syntax with an optional leading "*.". */
static int check_alias(struct sk_cfg_ctx *c, const struct sk_cnode *item, char **text)
{
	char *a = sk_strdup(item->str);
	size_t n = strlen(a);
	for (size_t i = 0; i < n; i++)
		a[i] = (char)tolower((unsigned char)a[i]);
	if (n > 0 && a[n - 1] == '.')
		a[--n] = '\0';
	bool ok = n > 0 && n <= 253;
	const char *p = a;
	if (ok && p[0] == '*') {
		ok = p[1] == '.' && p[2] != '\0';
		p += 2;
	}
	/* Labels of letters, digits, '-' and '_', each 1 to 63 long. */
	size_t label = 0;
	for (; ok && *p; p++) {
		if (*p == '.') {
			ok = label > 0;
			label = 0;
		} else if (isalnum((unsigned char)*p) || *p == '-' || *p == '_') {
			ok = ++label <= 63;
		} else {
			ok = false;
		}
	}
	ok = ok && label > 0;
	if (!ok) {
		free(a);
		char d[64];
		return sk_cfg_fail(c, item,
				   "invalid alias %s: expected a host name such as www.example.com, or a leading wildcard such as *.example.com",
				   sk_cfg_describe(item, d, sizeof(d)));
	}
	*text = a;
	return 0;
}

static int check_listener_ref(struct sk_cfg_ctx *c, const struct sk_cnode *item, char **text)
{
	const struct sk_config *cfg = c->cfg;
	for (size_t i = 0; i < cfg->n_listeners; i++) {
		if (strcmp(cfg->listeners[i].name, item->str) != 0)
			continue;
		if (cfg->listeners[i].mode != SK_MODE_HTTP)
			return sk_cfg_fail(c, item, "listener '%s' is a tcp listener; distributions need HTTP listeners",
					   item->str);
		*text = sk_strdup(item->str);
		return 0;
	}
	return sk_cfg_fail(c, item, "listener '%s' is not defined in 'listeners'", item->str);
}

static int check_ip_set_ref(struct sk_cfg_ctx *c, const struct sk_cnode *item, char **text)
{
	if (!sk_config_ip_set(c->cfg, item->str))
		return sk_cfg_fail(c, item, "ip set '%s' is not defined in 'ip_sets'", item->str);
	*text = sk_strdup(item->str);
	return 0;
}

static int check_country(struct sk_cfg_ctx *c, const struct sk_cnode *item, char **text)
{
	const char *s = item->str;
	if (!isalpha((unsigned char)s[0]) || !isalpha((unsigned char)s[1]) || s[2] != '\0') {
		char d[64];
		return sk_cfg_fail(c, item, "invalid country code %s: expected two letters such as DE",
				   sk_cfg_describe(item, d, sizeof(d)));
	}
	char *cc = sk_strdup(s);
	cc[0] = (char)toupper((unsigned char)cc[0]);
	cc[1] = (char)toupper((unsigned char)cc[1]);
	*text = cc;
	return 0;
}

static int check_group(struct sk_cfg_ctx *c, const struct sk_cnode *item, char **text)
{
	const char *s = item->str;
	bool ok = *s != '\0';
	for (; ok && *s; s++)
		ok = (unsigned char)*s > 0x20 && *s != 0x7f && *s != ',';
	if (!ok) {
		char d[64];
		return sk_cfg_fail(c, item, "invalid group name %s", sk_cfg_describe(item, d, sizeof(d)));
	}
	*text = sk_strdup(item->str);
	return 0;
}

static int check_header_name(struct sk_cfg_ctx *c, const struct sk_cnode *item, char **text)
{
	if (!sk_cfg_token_ok(item->str)) {
		char d[64];
		return sk_cfg_fail(c, item, "invalid header name %s", sk_cfg_describe(item, d, sizeof(d)));
	}
	*text = sk_strdup(item->str);
	return 0;
}

static const struct {
	const char *name;
	enum sk_auth_method method;
} auth_methods[] = {
	{ .name = "basic", .method = SK_AUTH_BASIC },
	{ .name = "api_key", .method = SK_AUTH_API_KEY },
	{ .name = "session", .method = SK_AUTH_SESSION },
	{ .name = "client_cert", .method = SK_AUTH_CLIENT_CERT },
	{ .name = "jwt", .method = SK_AUTH_JWT },
};

static int read_auth(struct sk_cfg_ctx *c, const struct sk_cnode *m, struct sk_access *a)
{
	const struct sk_cnode *v = sk_cfg_get(m, "auth");
	if (sk_cfg_want(c, v, SK_CN_SEQ, "'auth'") == -1)
		return -1;
	if (!v || sk_cfg_is_null(v) || v->n == 0)
		return 0;
	a->auth = sk_calloc(v->n, sizeof(*a->auth));
	for (size_t i = 0; i < v->n; i++) {
		const struct sk_cnode *item = v->kids[i];
		char d[64];
		if (!sk_cfg_scalar(c, item, "each item of 'auth'"))
			return -1;
		size_t k = 0;
		while (k < SK_ARRAY_LEN(auth_methods) && strcmp(auth_methods[k].name, item->str) != 0)
			k++;
		if (k == SK_ARRAY_LEN(auth_methods))
			return sk_cfg_fail(c, item, "unknown auth method %s (expected basic, api_key, session, client_cert or jwt)",
					   sk_cfg_describe(item, d, sizeof(d)));
		for (size_t j = 0; j < a->n_auth; j++)
			if (a->auth[j] == auth_methods[k].method)
				return sk_cfg_fail(c, item, "auth method '%s' is listed twice", item->str);
		const struct sk_config *cfg = c->cfg;
		enum sk_auth_method meth = auth_methods[k].method;
		if ((meth == SK_AUTH_BASIC || meth == SK_AUTH_SESSION || meth == SK_AUTH_CLIENT_CERT) && !cfg->users.file &&
		    !cfg->users.htpasswd)
			return sk_cfg_fail(c, item, "auth method '%s' needs users: set 'users: { file: ... }' or 'users: { htpasswd: ... }'",
					   item->str);
		if (meth == SK_AUTH_API_KEY && !cfg->api_keys.file)
			return sk_cfg_fail(c, item, "auth method 'api_key' needs 'api_keys: { file: ... }'");
		if (meth == SK_AUTH_JWT && cfg->jwt.n_issuers == 0)
			return sk_cfg_fail(c, item, "auth method 'jwt' needs 'jwt: { issuers: [...] }'");
		a->auth[a->n_auth++] = meth;
	}
	return 0;
}

static int read_access(struct sk_cfg_ctx *c, const struct sk_cnode *m, struct sk_access *a, const char *where)
{
	static const char *const keys[] = { "ip", "geo", "auth", "realm", "groups", "mfa", "policy", NULL };
	static const char *const ip_keys[] = { "allow", "deny", NULL };
	static const char *const geo_keys[] = { "allow", "deny", "unknown", NULL };
	char w[192];
	a->realm = sk_strdup("sekisho");
	if (sk_cfg_want(c, m, SK_CN_MAP, "'access'") == -1)
		return -1;
	if (!m || sk_cfg_is_null(m))
		return 0;
	snprintf(w, sizeof(w), "in 'access' of %s", where);
	if (sk_cfg_check_keys(c, m, keys, w) == -1)
		return -1;
	a->present = true;

	const struct sk_cnode *ip = sk_cfg_get(m, "ip");
	snprintf(w, sizeof(w), "in 'ip' of %s", where);
	if (sk_cfg_want(c, ip, SK_CN_MAP, "'ip'") == -1 || sk_cfg_check_keys(c, ip, ip_keys, w) == -1 ||
	    sk_cfg_strlist(c, ip, "allow", &a->ip_allow, check_ip_set_ref) == -1 ||
	    sk_cfg_strlist(c, ip, "deny", &a->ip_deny, check_ip_set_ref) == -1)
		return -1;

	const struct sk_cnode *geo = sk_cfg_get(m, "geo");
	snprintf(w, sizeof(w), "in 'geo' of %s", where);
	if (sk_cfg_want(c, geo, SK_CN_MAP, "'geo'") == -1 || sk_cfg_check_keys(c, geo, geo_keys, w) == -1)
		return -1;
	if (geo && !sk_cfg_is_null(geo)) {
		const struct sk_cnode *deny_key = sk_cfg_get_key(geo, "deny");
		if (sk_cfg_get_key(geo, "allow") && deny_key)
			return sk_cfg_fail(c, deny_key, "'geo' takes either 'allow' or 'deny', not both");
		if (!c->cfg->geoip.database)
			return sk_cfg_fail(c, geo, "'geo' rules need a country database: set 'geoip: { database: ... }'");
		if (sk_cfg_strlist(c, geo, "allow", &a->geo_allow, check_country) == -1 ||
		    sk_cfg_strlist(c, geo, "deny", &a->geo_deny, check_country) == -1)
			return -1;
		const struct sk_cnode *u = sk_cfg_get(geo, "unknown");
		if (u && !sk_cfg_is_null(u)) {
			char d[64];
			if (!sk_cfg_scalar(c, u, "'unknown'"))
				return -1;
			if (strcmp(u->str, "allow") == 0)
				a->geo_unknown = SK_GEO_UNKNOWN_ALLOW;
			else if (strcmp(u->str, "deny") == 0)
				a->geo_unknown = SK_GEO_UNKNOWN_DENY;
			else
				return sk_cfg_fail(c, u, "'unknown' must be allow or deny, not %s", sk_cfg_describe(u, d, sizeof(d)));
		}
		a->has_geo = true;
	}

	if (read_auth(c, m, a) == -1 || sk_cfg_str(c, m, "realm", &a->realm) == -1 ||
	    sk_cfg_strlist(c, m, "groups", &a->groups, check_group) == -1)
		return -1;
	const struct sk_cnode *pol = sk_cfg_get(m, "policy");
	if (pol && !sk_cfg_is_null(pol)) {
		char d[64];
		if (pol->type == SK_CN_SCALAR && strcmp(pol->str, "true") == 0)
			a->policy = SK_POLICY_ENFORCE;
		else if (pol->type == SK_CN_SCALAR && strcmp(pol->str, "audit") == 0)
			a->policy = SK_POLICY_AUDIT;
		else if (!(pol->type == SK_CN_SCALAR && strcmp(pol->str, "false") == 0))
			return sk_cfg_fail(c, pol, "'policy' must be true, audit or false, not %s",
					   sk_cfg_describe(pol, d, sizeof(d)));
		/* Policies are attached to identities: without auth there is nobody to evaluate them for. */
		if (a->policy != SK_POLICY_OFF && a->n_auth == 0)
			return sk_cfg_fail(c, sk_cfg_get_key(m, "policy"), "'policy' needs 'auth' (policies are "
					   "attached to users, groups and API keys)");
	}
	/* The realm is sent inside a quoted string of WWW-Authenticate. */
	for (const char *p = a->realm; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f || *p == '"' || *p == '\\')
			return sk_cfg_fail(c, sk_cfg_get(m, "realm"), "'realm' may not contain quotes, backslashes or control characters");

	const struct sk_cnode *mfa = sk_cfg_get(m, "mfa");
	if (mfa && !sk_cfg_is_null(mfa)) {
		char d[64];
		if (!sk_cfg_scalar(c, mfa, "'mfa'"))
			return -1;
		a->mfa_pos = sk_cfg_pos(mfa);
		if (strcmp(mfa->str, "required") == 0)
			a->mfa = SK_MFA_REQUIRED;
		else if (strcmp(mfa->str, "off") == 0)
			a->mfa = SK_MFA_OFF;
		else
			return sk_cfg_fail(c, mfa, "'mfa' must be required or off, not %s", sk_cfg_describe(mfa, d, sizeof(d)));
	}
	/* Groups and a second factor are properties of an authenticated user. */
	if (a->n_auth == 0 && a->groups.n > 0)
		return sk_cfg_fail(c, sk_cfg_get_key(m, "groups"), "'groups' needs 'auth' (who is in a group?)");
	if (a->n_auth == 0 && a->mfa == SK_MFA_REQUIRED)
		return sk_cfg_fail(c, sk_cfg_get_key(m, "mfa"), "'mfa: required' needs 'auth'");
	return 0;
}

int sk_cfg_access(struct sk_cfg_ctx *c, const struct sk_cnode *m, struct sk_access *a, const char *where)
{
	return read_access(c, m, a, where);
}

static int read_forward_headers(struct sk_cfg_ctx *c, const struct sk_cnode *m, struct sk_behavior *b)
{
	const struct sk_cnode *v = sk_cfg_get(m, "forward_headers");
	if (!v || sk_cfg_is_null(v))
		return 0;
	if (v->type == SK_CN_SCALAR && strcmp(v->str, "all") == 0) {
		b->forward_mode = SK_FWD_ALL;
		return 0;
	}
	if (v->type == SK_CN_SCALAR && strcmp(v->str, "none") == 0) {
		b->forward_mode = SK_FWD_NONE;
		return 0;
	}
	if (v->type != SK_CN_SEQ) {
		char d[64];
		return sk_cfg_fail(c, v, "'forward_headers' must be all, none or a list of header names, not %s",
				   sk_cfg_describe(v, d, sizeof(d)));
	}
	b->forward_mode = SK_FWD_LIST;
	return sk_cfg_strlist(c, m, "forward_headers", &b->forward_headers, check_header_name);
}

static int read_behavior(struct sk_cfg_ctx *c, const struct sk_cnode *m, struct sk_behavior *b, size_t idx,
			 const char *dist)
{
	static const char *const keys[] = { "path", "origin", "forward_host", "forward_headers", "idle_timeout",
					    "access", "forward_credentials", "websocket", "allow_get_body", NULL };
	char what[160], where[192], whose[192], d[64];
	b->idle_timeout_ms = 3600 * 1000;
	b->websocket = true;
	b->pos = sk_cfg_pos(m);
	if (sk_cfg_want(c, m, SK_CN_MAP, "a behavior") == -1)
		return -1;
	if (sk_cfg_is_null(m))
		return sk_cfg_fail(c, m, "a behavior needs 'path' and 'origin'");
	const struct sk_cnode *path = sk_cfg_get(m, "path");
	if (path && path->type == SK_CN_SCALAR && !sk_cfg_is_null(path))
		snprintf(what, sizeof(what), "behavior '%.64s' of distribution '%s'", path->str, dist);
	else
		snprintf(what, sizeof(what), "behavior %zu of distribution '%s'", idx + 1, dist);
	snprintf(where, sizeof(where), "in %s", what);
	if (sk_cfg_check_keys(c, m, keys, where) == -1)
		return -1;
	snprintf(whose, sizeof(whose), "behavior %zu of distribution '%s'", idx + 1, dist);
	if (sk_cfg_require(c, m, "path", whose) == -1 || sk_cfg_require(c, m, "origin", whose) == -1 ||
	    !sk_cfg_scalar(c, path, "'path'"))
		return -1;

	bool ok = path->str[0] == '/' || path->str[0] == '*';
	for (const char *p = path->str; ok && *p; p++)
		ok = (unsigned char)*p > 0x20 && *p != 0x7f;
	if (!ok)
		return sk_cfg_fail(c, path, "'path' must be a pattern starting with '/' or '*' and without spaces, not %s",
				   sk_cfg_describe(path, d, sizeof(d)));
	b->path = sk_strdup(path->str);

	const struct sk_cnode *ov = sk_cfg_get(m, "origin");
	if (!sk_cfg_scalar(c, ov, "'origin'"))
		return -1;
	if (!sk_config_origin(c->cfg, ov->str))
		return sk_cfg_fail(c, ov, "origin '%s' is not defined in 'origins'", ov->str);
	b->origin = sk_strdup(ov->str);

	if (sk_cfg_bool(c, m, "forward_host", &b->forward_host) == -1 || read_forward_headers(c, m, b) == -1 ||
	    sk_cfg_duration(c, m, "idle_timeout", &b->idle_timeout_ms) == -1 ||
	    sk_cfg_bool(c, m, "forward_credentials", &b->forward_credentials) == -1 ||
	    sk_cfg_bool(c, m, "websocket", &b->websocket) == -1 ||
	    sk_cfg_bool(c, m, "allow_get_body", &b->allow_get_body) == -1)
		return -1;
	return read_access(c, sk_cfg_get(m, "access"), &b->access, what);
}

static int add_alias(struct sk_cfg_ctx *c, struct alias_table *t, const struct sk_distribution *d, size_t i)
{
	const char *alias = d->aliases.items[i];
	struct sk_pos pos = d->aliases.pos[i];
	for (size_t j = 0; j < t->n; j++)
		if (strcmp(t->items[j].alias, alias) == 0)
			return sk_err_set(c->err, c->file, pos.line, pos.col,
					  "alias '%s' is already used by distribution '%s' at %s:%d:%d", alias,
					  t->items[j].distribution, c->file, t->items[j].pos.line, t->items[j].pos.col);
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 16;
		t->items = sk_realloc(t->items, t->cap * sizeof(*t->items));
	}
	t->items[t->n++] = (struct alias_seen){ .alias = alias, .distribution = d->name, .pos = pos };
	return 0;
}

static int read_distribution(struct sk_cfg_ctx *c, const struct sk_cnode *m, size_t idx, struct alias_table *seen)
{
	static const char *const keys[] = { "name", "aliases", "listeners", "behaviors", NULL };
	struct sk_config *cfg = c->cfg;
	struct sk_distribution *d = &cfg->distributions[idx];
	if (sk_cfg_want(c, m, SK_CN_MAP, "a distribution") == -1)
		return -1;
	if (sk_cfg_is_null(m))
		return sk_cfg_fail(c, m, "a distribution needs 'name', 'aliases' and 'behaviors'");
	const struct sk_cnode *name = sk_cfg_get(m, "name");
	char where[128], whose[128];
	snprintf(where, sizeof(where), "in distribution '%s'",
		 name && name->type == SK_CN_SCALAR && !sk_cfg_is_null(name) ? name->str : "?");
	if (sk_cfg_check_keys(c, m, keys, where) == -1 || !(name = read_name(c, m, "distribution")))
		return -1;
	for (size_t i = 0; i < idx; i++)
		if (strcmp(cfg->distributions[i].name, name->str) == 0)
			return duplicate_name(c, name, "distribution", cfg->distributions[i].pos);
	d->name = sk_strdup(name->str);
	d->pos = sk_cfg_pos(name);
	snprintf(whose, sizeof(whose), "distribution '%s'", d->name);

	if (sk_cfg_require(c, m, "aliases", whose) == -1 || sk_cfg_strlist(c, m, "aliases", &d->aliases, check_alias) == -1)
		return -1;
	if (d->aliases.n == 0)
		return sk_cfg_fail(c, sk_cfg_get(m, "aliases"), "'aliases' must not be empty");
	for (size_t i = 0; i < d->aliases.n; i++)
		if (add_alias(c, seen, d, i) == -1)
			return -1;

	if (sk_cfg_strlist(c, m, "listeners", &d->listeners, check_listener_ref) == -1)
		return -1;

	const struct sk_cnode *bv = sk_cfg_get(m, "behaviors");
	if (sk_cfg_require(c, m, "behaviors", whose) == -1 || sk_cfg_want(c, bv, SK_CN_SEQ, "'behaviors'") == -1)
		return -1;
	if (bv->n == 0)
		return sk_cfg_fail(c, bv, "'behaviors' must not be empty");
	d->n_behaviors = bv->n;
	d->behaviors = sk_calloc(bv->n, sizeof(*d->behaviors));
	for (size_t i = 0; i < bv->n; i++)
		if (read_behavior(c, bv->kids[i], &d->behaviors[i], i, d->name) == -1)
			return -1;
	return 0;
}

int sk_cfg_admin_access(struct sk_cfg_ctx *c, const struct sk_cnode *root)
{
	const struct sk_cnode *admin = sk_cfg_get(root, "admin");
	if (!c->cfg->admin.present)
		return 0;
	const struct sk_cnode *m = sk_cfg_get(admin, "access");
	struct sk_access *a = &c->cfg->admin.access;
	if (read_access(c, m, a, "'admin'") == -1)
		return -1;
	/* The login pages and the second factor live on a distribution, and the admin listener speaks plain
	 * HTTP (no client certificate): only credentials sent with each request fit it. */
	for (size_t i = 0; i < a->n_auth; i++)
		if (a->auth[i] != SK_AUTH_BASIC && a->auth[i] != SK_AUTH_API_KEY)
			return sk_cfg_fail(c, sk_cfg_get(m, "auth"), "the admin listener takes auth basic or api_key only");
	if (a->mfa != SK_MFA_OFF)
		return sk_cfg_fail(c, sk_cfg_get(m, "mfa"), "'mfa' is not available on the admin listener");
	return 0;
}

int sk_cfg_distributions(struct sk_cfg_ctx *c, const struct sk_cnode *root)
{
	const struct sk_cnode *v = sk_cfg_get(root, "distributions");
	if (sk_cfg_want(c, v, SK_CN_SEQ, "'distributions'") == -1)
		return -1;
	if (!v || sk_cfg_is_null(v) || v->n == 0)
		return 0;
	struct sk_config *cfg = c->cfg;
	struct alias_table seen = { 0 };
	int rc = 0;
	cfg->n_distributions = v->n;
	cfg->distributions = sk_calloc(v->n, sizeof(*cfg->distributions));
	for (size_t i = 0; i < v->n && rc == 0; i++)
		rc = read_distribution(c, v->kids[i], i, &seen);
	free(seen.items);
	return rc;
}
