/*
 * sections.c — the global keys of DESIGN §7 (workers, state, admin, logs, trusted_proxies, geoip, users,
 * api_keys, totp, session, lockout, ban, limits, timeouts), `certificates` and `ip_sets`.
 *
 * Invariants: each section checks its own keys before reading values; defaults were filled before this
 * runs and stay when a key is absent; set files are read here (one CIDR per line, '#' comments) and
 * their errors name the set file and line; certificate files are not opened (TLS code does that).
 */
#include "config/config_int.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* A set file larger than this is not a list of networks. */
#define MAX_SET_FILE_BYTES (256u << 20)

/* Reads an optional section that must be a mapping with the given keys. Returns 1 present, 0 absent. */
static int section(struct sk_cfg_ctx *c, const struct sk_cnode *root, const char *key,
		   const char *const *keys, const struct sk_cnode **out)
{
	const struct sk_cnode *v = sk_cfg_get(root, key);
	char what[64], where[64];
	snprintf(what, sizeof(what), "'%s'", key);
	if (sk_cfg_want(c, v, SK_CN_MAP, what) == -1)
		return -1;
	snprintf(where, sizeof(where), "in '%s'", key);
	if (sk_cfg_check_keys(c, v, keys, where) == -1)
		return -1;
	*out = v;
	return v && !sk_cfg_is_null(v) ? 1 : 0;
}

/* Where map[key]'s value was written; line 0 when absent. */
static struct sk_pos pos_of(const struct sk_cnode *map, const char *key)
{
	const struct sk_cnode *v = sk_cfg_get(map, key);
	return v ? sk_cfg_pos(v) : (struct sk_pos){ 0 };
}

/* Two keys of which at most one may be given. */
static int either(struct sk_cfg_ctx *c, const struct sk_cnode *map, const char *a, const char *b,
		  const char *whose)
{
	const struct sk_cnode *kb = sk_cfg_get_key(map, b);
	if (sk_cfg_get_key(map, a) && kb)
		return sk_cfg_fail(c, kb, "%s takes either '%s' or '%s', not both", whose, a, b);
	return 0;
}

static bool printable_word(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if ((unsigned char)*s <= 0x20 || *s == 0x7f)
			return false;
	return true;
}

static bool no_controls(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

static int read_workers(struct sk_cfg_ctx *c, const struct sk_cnode *root)
{
	const struct sk_cnode *v = sk_cfg_get(root, "workers");
	if (!v || sk_cfg_is_null(v) || (v->type == SK_CN_SCALAR && strcmp(v->str, "auto") == 0))
		return 0; /* the default is already "auto" */
	uint64_t n = 0;
	bool ok = v->type == SK_CN_SCALAR && v->str[0];
	for (const char *p = ok ? v->str : ""; ok && *p; p++) {
		ok = *p >= '0' && *p <= '9' && n <= 1000;
		n = n * 10 + (uint64_t)(*p - '0');
	}
	if (!ok || n < 1 || n > 256) {
		char d[64];
		return sk_cfg_fail(c, v, "'workers' must be 'auto' or a number from 1 to 256, not %s",
				   sk_cfg_describe(v, d, sizeof(d)));
	}
	c->cfg->workers = (unsigned)n;
	return 0;
}

static int read_state(struct sk_cfg_ctx *c, const struct sk_cnode *root)
{
	static const char *const keys[] = { "path", "redis", "max_size", NULL };
	const struct sk_cnode *m;
	int r = section(c, root, "state", keys, &m);
	if (r <= 0)
		return r;
	if (either(c, m, "path", "redis", "'state'") == -1 || sk_cfg_path(c, m, "path", &c->cfg->state.path) == -1 ||
	    sk_cfg_str(c, m, "redis", &c->cfg->state.redis) == -1 ||
	    sk_cfg_size(c, m, "max_size", 1ULL << 20, 1ULL << 40, &c->cfg->state.max_size) == -1)
		return -1;
	c->cfg->state.path_pos = pos_of(m, "path");
	/* The map is LMDB's; a Redis server's limit is its own maxmemory, which sekisho cannot set. */
	if (c->cfg->state.redis && sk_cfg_get(m, "max_size") && !sk_cfg_is_null(sk_cfg_get(m, "max_size")))
		return sk_cfg_fail(c, sk_cfg_get_key(m, "max_size"),
				   "'max_size' sizes the embedded store (state.path); with 'redis' set Redis's maxmemory "
				   "instead");
	const char *url = c->cfg->state.redis;
	if (url && ((strncmp(url, "redis://", 8) != 0 && strncmp(url, "rediss://", 9) != 0) ||
		    !printable_word(url))) {
		char d[64];
		return sk_cfg_fail(c, sk_cfg_get(m, "redis"), "'redis' must be a URL such as redis://127.0.0.1:6379/0, not %s",
				   sk_cfg_describe(sk_cfg_get(m, "redis"), d, sizeof(d)));
	}
	return 0;
}

static int read_addr(struct sk_cfg_ctx *c, const struct sk_cnode *map, const char *key, struct sk_addr *out)
{
	const struct sk_cnode *v = sk_cfg_get(map, key);
	char what[64];
	snprintf(what, sizeof(what), "'%s'", key);
	if (!sk_cfg_scalar(c, v, what))
		return -1;
	if (sk_addr_parse(v->str, out) == -1) {
		char d[64];
		return sk_cfg_fail(c, v, "'%s' must be an address such as 127.0.0.1:8080 or [::1]:8080, not %s", key,
				   sk_cfg_describe(v, d, sizeof(d)));
	}
	return 0;
}

static int read_admin(struct sk_cfg_ctx *c, const struct sk_cnode *root)
{
	/* 'access' is read with the routes (sk_cfg_admin_access), once the IP sets it may name are known. */
	static const char *const keys[] = { "listen", "access", NULL };
	const struct sk_cnode *m;
	int r = section(c, root, "admin", keys, &m);
	if (r <= 0)
		return r;
	if (sk_cfg_require(c, m, "listen", "'admin'") == -1 || read_addr(c, m, "listen", &c->cfg->admin.listen) == -1)
		return -1;
	c->cfg->admin.pos = sk_cfg_pos(sk_cfg_get(m, "listen"));
	c->cfg->admin.present = true;
	return 0;
}

/* A log path: "off" disables it (NULL), "-" means stdout when allow_dash, else a resolved path. */
static int log_path(struct sk_cfg_ctx *c, const struct sk_cnode *m, bool allow_dash, char **out)
{
	const struct sk_cnode *v = sk_cfg_get(m, "path");
	if (!v || sk_cfg_is_null(v))
		return 0;
	if (!sk_cfg_scalar(c, v, "'path'"))
		return -1;
	free(*out);
	*out = NULL;
	if (strcmp(v->str, "off") == 0)
		return 0;
	if (!v->str[0] || (!allow_dash && strcmp(v->str, "-") == 0))
		return sk_cfg_fail(c, v, "'path' must be a file path%s or off", allow_dash ? ", -" : "");
	*out = strcmp(v->str, "-") == 0 ? sk_strdup("-") : sk_cfg_resolve(c, v->str);
	return 0;
}

static int read_logs(struct sk_cfg_ctx *c, const struct sk_cnode *root)
{
	static const char *const access_keys[] = { "path", NULL };
	static const char *const flow_keys[] = { "path", "interval", "account_id", NULL };
	const struct sk_cnode *m;
	int r = section(c, root, "access_log", access_keys, &m);
	if (r == -1 || (r == 1 && log_path(c, m, true, &c->cfg->access_log.path) == -1))
		return -1;

	r = section(c, root, "flow_log", flow_keys, &m);
	if (r <= 0)
		return r;
	if (log_path(c, m, false, &c->cfg->flow_log.path) == -1 ||
	    sk_cfg_duration(c, m, "interval", &c->cfg->flow_log.interval_ms) == -1 ||
	    sk_cfg_str(c, m, "account_id", &c->cfg->flow_log.account_id) == -1)
		return -1;
	/* The aggregation windows of VPC Flow Logs: one or ten minutes, aligned to the clock. */
	if (c->cfg->flow_log.interval_ms != 60 * 1000 && c->cfg->flow_log.interval_ms != 600 * 1000)
		return sk_cfg_fail(c, sk_cfg_get(m, "interval"), "'interval' must be 60s or 600s");
	/* The flow log is space separated: the account id must be one word. */
	if (!printable_word(c->cfg->flow_log.account_id))
		return sk_cfg_fail(c, sk_cfg_get(m, "account_id"), "'account_id' must be one word without spaces");
	return 0;
}

static int read_auth_sources(struct sk_cfg_ctx *c, const struct sk_cnode *root)
{
	static const char *const geo_keys[] = { "database", NULL };
	static const char *const users_keys[] = { "file", "htpasswd", "password_max_age", NULL };
	static const char *const keys_keys[] = { "file", NULL };
	struct sk_config *cfg = c->cfg;
	const struct sk_cnode *m;
	int r;

	if (sk_cfg_cidrlist(c, sk_cfg_get(root, "trusted_proxies"), "trusted_proxies", &cfg->trusted_proxies) == -1)
		return -1;
	if ((r = section(c, root, "geoip", geo_keys, &m)) == -1 ||
	    (r == 1 && sk_cfg_path(c, m, "database", &cfg->geoip.database) == -1))
		return -1;
	if (r == 1)
		cfg->geoip.database_pos = pos_of(m, "database");
	if ((r = section(c, root, "users", users_keys, &m)) == -1 ||
	    (r == 1 && (either(c, m, "file", "htpasswd", "'users'") == -1 ||
			sk_cfg_path(c, m, "file", &cfg->users.file) == -1 ||
			sk_cfg_path(c, m, "htpasswd", &cfg->users.htpasswd) == -1 ||
			sk_cfg_duration(c, m, "password_max_age", &cfg->users.password_max_age_ms) == -1)))
		return -1;
	if (r == 1)
		cfg->users.pos = pos_of(m, cfg->users.file ? "file" : "htpasswd");
	if ((r = section(c, root, "api_keys", keys_keys, &m)) == -1 ||
	    (r == 1 && sk_cfg_path(c, m, "file", &cfg->api_keys.file) == -1))
		return -1;
	if (r == 1)
		cfg->api_keys.file_pos = pos_of(m, "file");
	return 0;
}

static int read_second_factor(struct sk_cfg_ctx *c, const struct sk_cnode *root)
{
	static const char *const totp_keys[] = { "issuer", "skew", "key_file", NULL };
	static const char *const session_keys[] = { "key_file", "idle", "absolute", NULL };
	struct sk_config *cfg = c->cfg;
	const struct sk_cnode *m;
	int r;

	if ((r = section(c, root, "totp", totp_keys, &m)) == -1)
		return -1;
	if (r == 1) {
		uint64_t skew = cfg->totp.skew;
		if (sk_cfg_str(c, m, "issuer", &cfg->totp.issuer) == -1 || sk_cfg_uint(c, m, "skew", 0, 10, &skew) == -1 ||
		    sk_cfg_path(c, m, "key_file", &cfg->totp.key_file) == -1)
			return -1;
		cfg->totp.skew = (unsigned)skew;
		cfg->totp.key_file_pos = pos_of(m, "key_file");
		/* The issuer is a label of otpauth:// URIs, where ':' separates issuer and account. */
		if (!cfg->totp.issuer[0] || strchr(cfg->totp.issuer, ':') || !no_controls(cfg->totp.issuer))
			return sk_cfg_fail(c, sk_cfg_get(m, "issuer"), "'issuer' must be a non-empty name without ':'");
	}
	if ((r = section(c, root, "session", session_keys, &m)) == -1 ||
	    (r == 1 && (sk_cfg_path(c, m, "key_file", &cfg->session.key_file) == -1 ||
			sk_cfg_duration(c, m, "idle", &cfg->session.idle_ms) == -1 ||
			sk_cfg_duration(c, m, "absolute", &cfg->session.absolute_ms) == -1)))
		return -1;
	if (r == 1)
		cfg->session.key_file_pos = pos_of(m, "key_file");
	return 0;
}

static int read_lockout_ban(struct sk_cfg_ctx *c, const struct sk_cnode *root)
{
	static const char *const lockout_keys[] = { "deny", "unlock_time", NULL };
	static const char *const ban_keys[] = { "max_retry", "find_time", "ban_time", NULL };
	struct sk_config *cfg = c->cfg;
	const struct sk_cnode *m;
	int r;

	if ((r = section(c, root, "lockout", lockout_keys, &m)) == -1)
		return -1;
	if (r == 1) {
		uint64_t deny = cfg->lockout.deny;
		if (sk_cfg_uint(c, m, "deny", 1, 1000000, &deny) == -1 ||
		    sk_cfg_duration(c, m, "unlock_time", &cfg->lockout.unlock_time_ms) == -1)
			return -1;
		cfg->lockout.deny = (unsigned)deny;
		cfg->lockout.present = true;
	}
	if ((r = section(c, root, "ban", ban_keys, &m)) == -1)
		return -1;
	if (r == 1) {
		uint64_t max_retry = cfg->ban.max_retry;
		if (sk_cfg_uint(c, m, "max_retry", 1, 100, &max_retry) == -1 ||
		    sk_cfg_duration(c, m, "find_time", &cfg->ban.find_time_ms) == -1 ||
		    sk_cfg_duration(c, m, "ban_time", &cfg->ban.ban_time_ms) == -1)
			return -1;
		cfg->ban.max_retry = (unsigned)max_retry;
		cfg->ban.present = true;
	}
	return 0;
}

static int read_u32(struct sk_cfg_ctx *c, const struct sk_cnode *m, const char *key, uint64_t max, uint32_t *out)
{
	uint64_t v = *out;
	if (sk_cfg_uint(c, m, key, 1, max, &v) == -1)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

static int read_limits(struct sk_cfg_ctx *c, const struct sk_cnode *root)
{
	static const char *const limit_keys[] = { "request_line", "header_block", "header_fields", "max_connections",
						  "h2", NULL };
	static const char *const h2_keys[] = { "max_concurrent_streams", "max_header_list",
					       "max_requests_per_connection", NULL };
	static const char *const timeout_keys[] = { "header_read", "keepalive", "send", NULL };
	struct sk_config *cfg = c->cfg;
	const struct sk_cnode *m;
	int r;

	if ((r = section(c, root, "limits", limit_keys, &m)) == -1 ||
	    (r == 1 && (read_u32(c, m, "request_line", SK_LIMIT_MAX_REQUEST_LINE, &cfg->limits.request_line) == -1 ||
			read_u32(c, m, "header_block", SK_LIMIT_MAX_HEADER_BLOCK, &cfg->limits.header_block) == -1 ||
			read_u32(c, m, "header_fields", SK_LIMIT_MAX_HEADER_FIELDS, &cfg->limits.header_fields) == -1 ||
			read_u32(c, m, "max_connections", 10000000, &cfg->limits.max_connections) == -1)))
		return -1;
	const struct sk_cnode *h2;
	if (r == 1 && (r = section(c, m, "h2", h2_keys, &h2)) == -1)
		return -1;
	if (r == 1) {
		uint64_t hl = cfg->limits.h2.max_header_list;
		if (read_u32(c, h2, "max_concurrent_streams", 10000, &cfg->limits.h2.max_concurrent_streams) == -1 ||
		    sk_cfg_size(c, h2, "max_header_list", 1024, SK_LIMIT_MAX_H2_HEADER_LIST, &hl) == -1 ||
		    read_u32(c, h2, "max_requests_per_connection", 1000000000,
			     &cfg->limits.h2.max_requests_per_connection) == -1)
			return -1;
		cfg->limits.h2.max_header_list = (uint32_t)hl;
	}
	if ((r = section(c, root, "timeouts", timeout_keys, &m)) == -1 ||
	    (r == 1 && (sk_cfg_duration(c, m, "header_read", &cfg->timeouts.header_read_ms) == -1 ||
			sk_cfg_duration(c, m, "keepalive", &cfg->timeouts.keepalive_ms) == -1 ||
			sk_cfg_duration(c, m, "send", &cfg->timeouts.send_ms) == -1)))
		return -1;
	return 0;
}

int sk_cfg_globals(struct sk_cfg_ctx *c, const struct sk_cnode *root)
{
	if (read_workers(c, root) == -1 || read_state(c, root) == -1 || read_admin(c, root) == -1 ||
	    read_logs(c, root) == -1 || read_auth_sources(c, root) == -1 || read_second_factor(c, root) == -1 ||
	    read_lockout_ban(c, root) == -1 || read_limits(c, root) == -1)
		return -1;
	return 0;
}

int sk_cfg_certificates(struct sk_cfg_ctx *c, const struct sk_cnode *root)
{
	static const char *const keys[] = { "cert", "key", "chain", NULL };
	const struct sk_cnode *m = sk_cfg_get(root, "certificates");
	if (sk_cfg_want(c, m, SK_CN_MAP, "'certificates'") == -1)
		return -1;
	if (!m || sk_cfg_is_null(m) || SK_CN_PAIRS(m) == 0)
		return 0;
	struct sk_config *cfg = c->cfg;
	cfg->n_certificates = SK_CN_PAIRS(m);
	cfg->certificates = sk_calloc(cfg->n_certificates, sizeof(*cfg->certificates));
	for (size_t i = 0; i < SK_CN_PAIRS(m); i++) {
		const struct sk_cnode *k = SK_CN_KEY(m, i), *v = SK_CN_VAL(m, i);
		struct sk_certificate *ct = &cfg->certificates[i];
		char what[128], where[128];
		if (sk_cfg_check_name(c, k, "certificate") == -1)
			return -1;
		snprintf(what, sizeof(what), "certificate '%s'", k->str);
		snprintf(where, sizeof(where), "in certificate '%s'", k->str);
		if (sk_cfg_want(c, v, SK_CN_MAP, what) == -1 || sk_cfg_check_keys(c, v, keys, where) == -1)
			return -1;
		ct->name = sk_strdup(k->str);
		ct->pos = sk_cfg_pos(k);
		if (sk_cfg_is_null(v))
			return sk_cfg_fail(c, k, "%s needs 'cert' and 'key'", what);
		if (sk_cfg_require(c, v, "cert", what) == -1 || sk_cfg_require(c, v, "key", what) == -1 ||
		    sk_cfg_path(c, v, "cert", &ct->cert) == -1 || sk_cfg_path(c, v, "key", &ct->key) == -1 ||
		    sk_cfg_path(c, v, "chain", &ct->chain) == -1)
			return -1;
		ct->cert_pos = pos_of(v, "cert");
		ct->key_pos = pos_of(v, "key");
		ct->chain_pos = pos_of(v, "chain");
	}
	return 0;
}

/* Strips a '#' comment and surrounding blanks in place; returns the start of what is left. */
static char *trim_line(char *s)
{
	char *hash = strchr(s, '#');
	if (hash)
		*hash = '\0';
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
		s[--n] = '\0';
	return s;
}

int sk_cfg_read_set_file(struct sk_cfg_ctx *c, const struct sk_cnode *at, const char *path,
			 struct sk_cidrlist *out)
{
	int rc = -1;
	char *line = NULL;
	size_t cap = 0;
	FILE *f = fopen(path, "re");
	if (!f)
		return sk_cfg_fail(c, at, "cannot read set file '%s': %s", path, strerror(errno));
	struct stat st;
	if (fstat(fileno(f), &st) == -1) {
		sk_cfg_fail(c, at, "cannot read set file '%s': %s", path, strerror(errno));
		goto out;
	}
	/* Only regular files: a FIFO or a device could block or never end. */
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > MAX_SET_FILE_BYTES) {
		sk_cfg_fail(c, at, "set file '%s' is not a regular file of at most %u MiB", path,
			    MAX_SET_FILE_BYTES >> 20);
		goto out;
	}
	int lineno = 0;
	ssize_t n;
	while ((n = getline(&line, &cap, f)) != -1) {
		lineno++;
		if (strlen(line) != (size_t)n) {
			sk_err_set(c->err, path, lineno, 1, "NUL character in a set file");
			goto out;
		}
		char *text = trim_line(line);
		if (!*text)
			continue;
		struct sk_cidr cidr;
		if (sk_cidr_parse(text, &cidr) == -1) {
			sk_err_set(c->err, path, lineno, 1, "invalid CIDR '%.64s'", text);
			goto out;
		}
		sk_cfg_cidrlist_push(out, &cidr, (struct sk_pos){ .line = lineno, .col = 1 });
	}
	if (ferror(f)) {
		sk_cfg_fail(c, at, "cannot read set file '%s': %s", path, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	free(line);
	fclose(f);
	return rc;
}

int sk_cfg_ip_sets(struct sk_cfg_ctx *c, const struct sk_cnode *root)
{
	static const char *const keys[] = { "file", NULL };
	const struct sk_cnode *m = sk_cfg_get(root, "ip_sets");
	if (sk_cfg_want(c, m, SK_CN_MAP, "'ip_sets'") == -1)
		return -1;
	if (!m || sk_cfg_is_null(m) || SK_CN_PAIRS(m) == 0)
		return 0;
	struct sk_config *cfg = c->cfg;
	cfg->n_ip_sets = SK_CN_PAIRS(m);
	cfg->ip_sets = sk_calloc(cfg->n_ip_sets, sizeof(*cfg->ip_sets));
	for (size_t i = 0; i < SK_CN_PAIRS(m); i++) {
		const struct sk_cnode *k = SK_CN_KEY(m, i), *v = SK_CN_VAL(m, i);
		struct sk_ip_set *s = &cfg->ip_sets[i];
		if (sk_cfg_check_name(c, k, "ip set") == -1)
			return -1;
		s->name = sk_strdup(k->str);
		s->pos = sk_cfg_pos(k);
		if (v->type == SK_CN_SEQ || sk_cfg_is_null(v)) {
			char what[96];
			snprintf(what, sizeof(what), "ip set '%s'", k->str);
			if (sk_cfg_cidrlist(c, v, what, &s->cidrs) == -1)
				return -1;
			continue;
		}
		if (v->type != SK_CN_MAP) {
			char d[64];
			return sk_cfg_fail(c, v, "ip set '%s' must be a list of CIDRs or { file: PATH }, not %s", k->str,
					   sk_cfg_describe(v, d, sizeof(d)));
		}
		char where[96], whose[96];
		snprintf(where, sizeof(where), "in ip set '%s'", k->str);
		snprintf(whose, sizeof(whose), "ip set '%s'", k->str);
		if (sk_cfg_check_keys(c, v, keys, where) == -1 || sk_cfg_require(c, v, "file", whose) == -1 ||
		    sk_cfg_path(c, v, "file", &s->file) == -1 ||
		    sk_cfg_read_set_file(c, sk_cfg_get(v, "file"), s->file, &s->cidrs) == -1)
			return -1;
	}
	return 0;
}
