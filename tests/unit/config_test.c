/*
 * config_test.c — the configuration schema (src/config/): the DESIGN §7 example, defaults, every class
 * of error with its exact line:column, durations, addresses and CIDRs, aliases, ${NAME} expansion, set
 * files, and the check-config subcommand. Each test writes its YAML into a fresh temporary directory,
 * so relative paths in the snippets resolve there.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "config/config.h"
#include "config/config_int.h"

static char tmpdir[256];
static int saved_stderr = -1; /* while a test captures stderr; teardown restores it if the test failed */
static char cfgpath[512];

static void write_file(const char *name, const char *text)
{
	char path[PATH_MAX * 2];
	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void make_dir(const char *name)
{
	char path[PATH_MAX * 2];
	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	assert_int_equal(mkdir(path, 0755), 0);
}

/* tmpdir + "/" + name, in a static buffer (one at a time). */
static const char *in_tmp(const char *name)
{
	static char path[1024];
	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	return path;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int setup(void **state)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/sk-config-test-XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	/* Work with the canonical name: root directories are realpath'd by the loader. */
	char *real = realpath(tmpdir, NULL);
	snprintf(tmpdir, sizeof(tmpdir), "%s", real);
	free(real);
	snprintf(cfgpath, sizeof(cfgpath), "%s/sekisho.yaml", tmpdir);
	return 0;
}

static void restore_stderr(void)
{
	if (saved_stderr < 0)
		return;
	fflush(stderr);
	dup2(saved_stderr, 2);
	close(saved_stderr);
	saved_stderr = -1;
}

static int teardown(void **state)
{
	restore_stderr();
	return nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static struct sk_config *load(const char *yaml, struct sk_err *err)
{
	write_file("sekisho.yaml", yaml);
	memset(err, 0, sizeof(*err));
	return sk_config_load(cfgpath, err);
}

static struct sk_config *load_ok_at(int tl, const char *yaml)
{
	struct sk_err err;
	struct sk_config *cfg = load(yaml, &err);
	if (!cfg)
		fail_msg("test line %d: load failed: %d:%d: %s", tl, err.line, err.col, err.msg);
	return cfg;
}
#define load_ok(yaml) load_ok_at(__LINE__, yaml)

static void expect_err_at(int tl, const char *yaml, int line, int col, const char *sub)
{
	struct sk_err err;
	struct sk_config *cfg = load(yaml, &err);
	if (cfg) {
		sk_config_free(cfg);
		fail_msg("test line %d: loaded, expected %d:%d: ...%s...", tl, line, col, sub);
	}
	if (err.line != line || err.col != col || !strstr(err.msg, sub)) {
		/* Show where the error landed, under the line of YAML it names. */
		const char *p = yaml;
		for (int i = 1; i < err.line && p; i++) {
			p = strchr(p, '\n');
			if (p)
				p++;
		}
		if (p && err.line > 0)
			print_message("   |%.*s\n   |%*s^\n", (int)strcspn(p, "\n"), p, err.col > 0 ? err.col - 1 : 0, "");
		fail_msg("test line %d: got %d:%d: %s\n   expected %d:%d: ...%s...", tl, err.line, err.col, err.msg, line,
			 col, sub);
	}
	assert_string_equal(err.file, cfgpath);
}
#define expect_err(yaml, line, col, sub) expect_err_at(__LINE__, yaml, line, col, sub)

static void assert_cidr(const struct sk_cidr *c, int family, const char *addr, int prefix)
{
	uint8_t want[16] = { 0 };
	assert_int_equal(c->family, family);
	assert_int_equal(inet_pton(family, addr, want), 1);
	assert_memory_equal(c->addr, want, family == AF_INET ? 4 : 16);
	assert_int_equal(c->prefix, prefix);
}

/* ---- the example of DESIGN §7 ---------------------------------------------------------------- */

static const char design_example[] =
	"workers: auto\n"
	"state: { path: ./var }               # or redis: redis://127.0.0.1:6379/0\n"
	"admin: { listen: 127.0.0.1:9901 }\n"
	"access_log: { path: \"-\" }\n"
	"flow_log: { path: ./var/flow.log, interval: 600s, account_id: \"000000000000\" }\n"
	"trusted_proxies: []\n"
	"geoip: { database: ./data/country.mmdb }\n"
	"users: { file: ./users.yaml, password_max_age: 0 }   # or htpasswd: ./htpasswd\n"
	"api_keys: { file: ./apikeys.yaml }\n"
	"totp: { issuer: sekisho, skew: 1, key_file: ./var/totp.key }\n"
	"session: { key_file: ./var/session.key, idle: 30m, absolute: 12h }\n"
	"lockout: { deny: 3, unlock_time: 15m }\n"
	"ban: { max_retry: 10, find_time: 10m, ban_time: 1h }\n"
	"certificates: { site: { cert: ./site.crt, key: ./site.key } }\n"
	"ip_sets: { office: [203.0.113.0/24, \"2001:db8::/32\"], blocked: { file: ./blocked.txt } }\n"
	"listeners:\n"
	"  - { name: web, listen: \"0.0.0.0:8443\", tls: { certificates: [site] },\n"
	"      acl: [ { rule: 100, cidr: 0.0.0.0/0, action: allow } ] }\n"
	"  - { name: db, listen: \"127.0.0.1:15432\", mode: tcp, origin: pg, idle_timeout: 1h }\n"
	"origins:\n"
	"  app:  { servers: [\"127.0.0.1:3000\"], host: app.internal, headers: { x-api-token: \"${API_TOKEN}\" },\n"
	"          tls: { ca: ./corp-ca.pem } }\n"
	"  site: { root: ./www }\n"
	"  pg:   { servers: [\"10.0.0.5:5432\"] }\n"
	"distributions:\n"
	"  - name: intranet\n"
	"    aliases: [intranet.example.com, \"*.intranet.example.com\"]\n"
	"    listeners: [web]                 # default: every HTTP listener\n"
	"    behaviors:\n"
	"      - path: /api/*\n"
	"        origin: app\n"
	"        forward_headers: [Authorization, User-Agent]\n"
	"        access: { ip: { allow: [office] }, auth: [api_key, basic], policy: true }\n"
	"      - path: \"*\"\n"
	"        origin: site\n"
	"        access: { auth: [session], mfa: required, geo: { deny: [KP] } }\n";

static void test_design_example(void **state)
{
	setenv("API_TOKEN", "s3cret-token", 1);
	make_dir("www");
	write_file("blocked.txt", "# blocked networks\n198.51.100.0/24\n\n192.0.2.7   # one host\n2001:db8:bad::/48\n");
	struct sk_config *cfg = load_ok(design_example);

	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	assert_int_equal(cfg->workers, cpus > 256 ? 256 : cpus);
	assert_string_equal(cfg->path, cfgpath);
	assert_string_equal(cfg->state.path, in_tmp("var"));
	assert_null(cfg->state.redis);
	assert_true(cfg->admin.present);
	assert_string_equal(cfg->admin.listen.text, "127.0.0.1:9901");
	/* Where admin.listen was written, for a bind error found at start (server.c). */
	assert_int_equal(cfg->admin.pos.line, 3);
	assert_int_equal(cfg->admin.pos.col, 18);
	assert_string_equal(cfg->access_log.path, "-");
	assert_string_equal(cfg->flow_log.path, in_tmp("var/flow.log"));
	assert_int_equal(cfg->flow_log.interval_ms, 600000);
	assert_string_equal(cfg->flow_log.account_id, "000000000000");
	assert_int_equal(cfg->trusted_proxies.n, 0);
	assert_string_equal(cfg->geoip.database, in_tmp("data/country.mmdb"));
	assert_string_equal(cfg->users.file, in_tmp("users.yaml"));
	assert_null(cfg->users.htpasswd);
	assert_int_equal(cfg->users.password_max_age_ms, 0);
	assert_string_equal(cfg->api_keys.file, in_tmp("apikeys.yaml"));
	assert_string_equal(cfg->totp.issuer, "sekisho");
	assert_int_equal(cfg->totp.skew, 1);
	assert_string_equal(cfg->totp.key_file, in_tmp("var/totp.key"));
	assert_string_equal(cfg->session.key_file, in_tmp("var/session.key"));
	assert_int_equal(cfg->session.idle_ms, 30 * 60 * 1000);
	assert_int_equal(cfg->session.absolute_ms, 12 * 3600 * 1000);
	assert_true(cfg->lockout.present);
	assert_int_equal(cfg->lockout.deny, 3);
	assert_int_equal(cfg->lockout.unlock_time_ms, 15 * 60 * 1000);
	assert_true(cfg->ban.present);
	assert_int_equal(cfg->ban.max_retry, 10);
	assert_int_equal(cfg->ban.find_time_ms, 10 * 60 * 1000);
	assert_int_equal(cfg->ban.ban_time_ms, 3600 * 1000);

	assert_int_equal(cfg->n_certificates, 1);
	const struct sk_certificate *ct = sk_config_certificate(cfg, "site");
	assert_non_null(ct);
	assert_string_equal(ct->cert, in_tmp("site.crt"));
	assert_string_equal(ct->key, in_tmp("site.key"));
	assert_null(ct->chain);
	assert_int_equal(ct->pos.line, 14);
	assert_int_equal(ct->pos.col, 17);

	assert_int_equal(cfg->n_ip_sets, 2);
	const struct sk_ip_set *office = sk_config_ip_set(cfg, "office");
	assert_non_null(office);
	assert_null(office->file);
	assert_int_equal(office->cidrs.n, 2);
	assert_cidr(&office->cidrs.items[0], AF_INET, "203.0.113.0", 24);
	assert_cidr(&office->cidrs.items[1], AF_INET6, "2001:db8::", 32);
	assert_int_equal(office->cidrs.pos[0].line, 15);
	assert_int_equal(office->cidrs.pos[0].col, 21);
	const struct sk_ip_set *blocked = sk_config_ip_set(cfg, "blocked");
	assert_non_null(blocked);
	assert_string_equal(blocked->file, in_tmp("blocked.txt"));
	assert_int_equal(blocked->cidrs.n, 3);
	assert_cidr(&blocked->cidrs.items[0], AF_INET, "198.51.100.0", 24);
	assert_cidr(&blocked->cidrs.items[1], AF_INET, "192.0.2.7", 32);
	assert_int_equal(blocked->cidrs.pos[1].line, 4);
	assert_cidr(&blocked->cidrs.items[2], AF_INET6, "2001:db8:bad::", 48);
	assert_null(sk_config_ip_set(cfg, "nope"));

	assert_int_equal(cfg->n_listeners, 2);
	const struct sk_listener *web = &cfg->listeners[0], *db = &cfg->listeners[1];
	assert_string_equal(web->name, "web");
	assert_int_equal(web->pos.line, 17);
	assert_int_equal(web->pos.col, 13);
	assert_string_equal(web->listen.text, "0.0.0.0:8443");
	assert_int_equal(web->listen.ss.ss_family, AF_INET);
	assert_int_equal(ntohs(((struct sockaddr_in *)&web->listen.ss)->sin_port), 8443);
	assert_int_equal(web->mode, SK_MODE_HTTP);
	assert_null(web->origin);
	assert_true(web->tls.present);
	assert_int_equal(web->tls.certificates.n, 1);
	assert_string_equal(web->tls.certificates.items[0], "site");
	assert_null(web->tls.ciphers);
	assert_null(web->tls.client_ca);
	assert_int_equal(web->n_acl, 1);
	assert_int_equal(web->acl[0].rule, 100);
	assert_cidr(&web->acl[0].cidr, AF_INET, "0.0.0.0", 0);
	assert_int_equal(web->acl[0].action, SK_ACL_ALLOW);
	assert_string_equal(db->name, "db");
	assert_int_equal(db->mode, SK_MODE_TCP);
	assert_string_equal(db->origin, "pg");
	assert_int_equal(db->idle_timeout_ms, 3600 * 1000);
	assert_false(db->tls.present);
	assert_int_equal(db->n_acl, 0);

	assert_int_equal(cfg->n_origins, 3);
	const struct sk_origin *app = sk_config_origin(cfg, "app");
	assert_non_null(app);
	assert_int_equal(app->n_servers, 1);
	assert_string_equal(app->servers[0].text, "127.0.0.1:3000");
	assert_string_equal(app->host, "app.internal");
	assert_int_equal(app->n_headers, 1);
	assert_string_equal(app->headers[0].name, "x-api-token");
	assert_string_equal(app->headers[0].value, "s3cret-token");
	assert_true(app->tls.present);
	assert_string_equal(app->tls.ca, in_tmp("corp-ca.pem"));
	assert_null(app->tls.server_name);
	assert_true(app->tls.verify);
	assert_null(app->root);
	assert_int_equal(app->connect_timeout_ms, 5000);
	assert_int_equal(app->fail_timeout_ms, 10000);
	assert_int_equal(app->response_timeout_ms, 60000);
	assert_int_equal(app->max_idle, 64);
	const struct sk_origin *site = sk_config_origin(cfg, "site");
	assert_non_null(site);
	assert_string_equal(site->root, in_tmp("www"));
	assert_int_equal(site->n_servers, 0);
	const struct sk_origin *pg = sk_config_origin(cfg, "pg");
	assert_non_null(pg);
	assert_string_equal(pg->host, "10.0.0.5:5432");
	assert_false(pg->tls.present);

	assert_int_equal(cfg->n_distributions, 1);
	const struct sk_distribution *d = &cfg->distributions[0];
	assert_string_equal(d->name, "intranet");
	assert_int_equal(d->aliases.n, 2);
	assert_string_equal(d->aliases.items[0], "intranet.example.com");
	assert_string_equal(d->aliases.items[1], "*.intranet.example.com");
	assert_int_equal(d->aliases.pos[1].line, 27);
	assert_int_equal(d->aliases.pos[1].col, 37);
	assert_int_equal(d->listeners.n, 1);
	assert_string_equal(d->listeners.items[0], "web");
	assert_int_equal(d->n_behaviors, 2);
	const struct sk_behavior *api = &d->behaviors[0], *any = &d->behaviors[1];
	assert_string_equal(api->path, "/api/*");
	assert_string_equal(api->origin, "app");
	assert_int_equal(api->pos.line, 30);
	assert_int_equal(api->pos.col, 9);
	assert_false(api->forward_host);
	assert_int_equal(api->forward_mode, SK_FWD_LIST);
	assert_int_equal(api->forward_headers.n, 2);
	assert_string_equal(api->forward_headers.items[0], "Authorization");
	assert_string_equal(api->forward_headers.items[1], "User-Agent");
	assert_int_equal(api->idle_timeout_ms, 3600 * 1000);
	assert_true(api->access.present);
	assert_int_equal(api->access.ip_allow.n, 1);
	assert_string_equal(api->access.ip_allow.items[0], "office");
	assert_int_equal(api->access.ip_deny.n, 0);
	assert_int_equal(api->access.n_auth, 2);
	assert_int_equal(api->access.auth[0], SK_AUTH_API_KEY);
	assert_int_equal(api->access.auth[1], SK_AUTH_BASIC);
	assert_int_equal(api->access.policy, SK_POLICY_ENFORCE);
	assert_false(api->access.has_geo);
	assert_int_equal(api->access.mfa, SK_MFA_OFF);
	assert_string_equal(api->access.realm, "sekisho");
	assert_string_equal(any->path, "*");
	assert_string_equal(any->origin, "site");
	assert_int_equal(any->forward_mode, SK_FWD_ALL);
	assert_int_equal(any->access.n_auth, 1);
	assert_int_equal(any->access.auth[0], SK_AUTH_SESSION);
	assert_int_equal(any->access.mfa, SK_MFA_REQUIRED);
	assert_true(any->access.has_geo);
	assert_int_equal(any->access.geo_deny.n, 1);
	assert_string_equal(any->access.geo_deny.items[0], "KP");
	assert_int_equal(any->access.geo_allow.n, 0);
	assert_int_equal(any->access.geo_unknown, SK_GEO_UNKNOWN_ALLOW);
	assert_false(any->access.policy);

	/* Defaults of what the example leaves out. */
	assert_int_equal(cfg->limits.request_line, 8192);
	assert_int_equal(cfg->timeouts.header_read_ms, 10000);
	sk_config_free(cfg);
}

/* ---- defaults -------------------------------------------------------------------------------- */

static void test_defaults_empty(void **state)
{
	static const char *const empties[] = { "", "# only a comment\n", "---\n", "{}\n", "~\n" };
	for (size_t i = 0; i < sizeof(empties) / sizeof(empties[0]); i++) {
		struct sk_config *cfg = load_ok(empties[i]);
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);
		assert_int_equal(cfg->workers, cpus > 256 ? 256 : cpus);
		assert_string_equal(cfg->state.path, in_tmp("var"));
		assert_null(cfg->state.redis);
		assert_false(cfg->admin.present);
		assert_string_equal(cfg->access_log.path, "-");
		assert_null(cfg->flow_log.path);
		assert_int_equal(cfg->flow_log.interval_ms, 600000);
		assert_string_equal(cfg->flow_log.account_id, "000000000000");
		assert_null(cfg->geoip.database);
		assert_null(cfg->users.file);
		assert_string_equal(cfg->totp.issuer, "sekisho");
		assert_int_equal(cfg->totp.skew, 1);
		assert_int_equal(cfg->session.idle_ms, 30 * 60000);
		assert_int_equal(cfg->session.absolute_ms, 12 * 3600000);
		assert_false(cfg->lockout.present);
		assert_false(cfg->ban.present);
		assert_int_equal(cfg->limits.request_line, 8192);
		assert_int_equal(cfg->limits.header_block, 16384);
		assert_int_equal(cfg->limits.header_fields, 100);
		assert_int_equal(cfg->limits.max_connections, 0); /* auto: sk_max_connections */
		assert_int_equal(cfg->timeouts.header_read_ms, 10000);
		assert_int_equal(cfg->timeouts.keepalive_ms, 60000);
		assert_int_equal(cfg->timeouts.send_ms, 60000);
		assert_int_equal(cfg->n_listeners + cfg->n_origins + cfg->n_distributions + cfg->n_ip_sets, 0);
		sk_config_free(cfg);
	}
}

static void test_defaults_sections(void **state)
{
	struct sk_config *cfg = load_ok("workers: 4\n"
					"lockout: {}\n"
					"ban: { max_retry: 5 }\n"
					"access_log: { path: off }\n"
					"flow_log: { path: flows.log }\n"
					"limits: { header_fields: 50 }\n"
					"timeouts: { keepalive: 5s }\n"
					"origins:\n"
					"  a: { servers: [\"[::1]:3000\", \"127.0.0.1:3001\"] }\n"
					"listeners: [ { name: w, listen: \":8080\" } ]\n"
					"distributions:\n"
					"  - name: d\n"
					"    aliases: [Example.COM.]\n"
					"    behaviors: [ { path: \"*\", origin: a, access: {} } ]\n");
	assert_int_equal(cfg->workers, 4);
	assert_true(cfg->lockout.present);
	assert_int_equal(cfg->lockout.deny, 3);
	assert_int_equal(cfg->lockout.unlock_time_ms, 15 * 60000);
	assert_true(cfg->ban.present);
	assert_int_equal(cfg->ban.max_retry, 5);
	assert_int_equal(cfg->ban.find_time_ms, 10 * 60000);
	assert_int_equal(cfg->ban.ban_time_ms, 3600000);
	assert_null(cfg->access_log.path);
	assert_string_equal(cfg->flow_log.path, in_tmp("flows.log"));
	assert_int_equal(cfg->limits.header_fields, 50);
	assert_int_equal(cfg->limits.request_line, 8192);
	assert_int_equal(cfg->timeouts.keepalive_ms, 5000);
	assert_int_equal(cfg->timeouts.header_read_ms, 10000);

	const struct sk_origin *a = sk_config_origin(cfg, "a");
	assert_string_equal(a->host, "[::1]:3000");
	assert_int_equal(a->n_servers, 2);
	assert_int_equal(a->servers[0].ss.ss_family, AF_INET6);
	assert_false(a->tls.present);
	assert_true(a->tls.verify);
	assert_int_equal(a->n_headers, 0);
	assert_int_equal(a->max_idle, 64);

	const struct sk_listener *l = &cfg->listeners[0];
	assert_int_equal(l->mode, SK_MODE_HTTP);
	assert_int_equal(l->idle_timeout_ms, 3600000);
	assert_false(l->tls.present);
	assert_int_equal(((struct sockaddr_in *)&l->listen.ss)->sin_addr.s_addr, htonl(INADDR_ANY));

	const struct sk_distribution *d = &cfg->distributions[0];
	assert_string_equal(d->aliases.items[0], "example.com");
	assert_int_equal(d->listeners.n, 0);
	const struct sk_behavior *b = &d->behaviors[0];
	assert_false(b->forward_host);
	assert_int_equal(b->forward_mode, SK_FWD_ALL);
	assert_int_equal(b->idle_timeout_ms, 3600000);
	assert_false(b->forward_credentials);
	assert_true(b->websocket);
	assert_false(b->allow_get_body);
	assert_false(l->underscores_forward);
	assert_true(b->access.present);
	assert_int_equal(b->access.n_auth, 0);
	assert_string_equal(b->access.realm, "sekisho");
	assert_int_equal(b->access.mfa, SK_MFA_OFF);
	assert_false(b->access.policy);
	sk_config_free(cfg);

	/* No access block at all: anonymous. */
	cfg = load_ok("origins: { a: { servers: [\"127.0.0.1:1\"] } }\n"
		      "distributions: [ { name: d, aliases: [x], behaviors: [ { path: /, origin: a } ] } ]\n");
	assert_false(cfg->distributions[0].behaviors[0].access.present);
	assert_string_equal(cfg->distributions[0].behaviors[0].access.realm, "sekisho");
	sk_config_free(cfg);
}

/* ---- error classes --------------------------------------------------------------------------- */

static void test_unknown_keys(void **state)
{
	expect_err("workers: 2\nfoo: 1\n", 2, 1, "unknown key 'foo' at the top level");
	expect_err("listeners:\n  - name: web\n    listen: 127.0.0.1:80\n    bogus: 1\n", 4, 5,
		   "unknown key 'bogus' in listener 'web'");
	expect_err("origins:\n  app: { servers: [\"127.0.0.1:1\"], hots: x }\n", 2, 36, "unknown key 'hots' in origin 'app'");
	expect_err("state: { path: ./v, size: 2 }\n", 1, 21, "unknown key 'size' in 'state'");
	expect_err("listeners:\n  - { name: w, listen: \"127.0.0.1:80\", tls: { certs: [a] } }\n", 2, 47,
		   "unknown key 'certs' in 'tls' of listener 'w'");
	expect_err("origins: { a: { servers: [\"127.0.0.1:1\"] } }\n"
		   "distributions:\n"
		   "  - name: d\n"
		   "    aliases: [x]\n"
		   "    behaviors:\n"
		   "      - path: /api/*\n"
		   "        origin: a\n"
		   "        access: { ip: { allow: [] }, mfa: off, autth: [basic] }\n",
		   8, 48, "unknown key 'autth' in 'access' of behavior '/api/*' of distribution 'd'");
	expect_err("certificates: { c: { cert: a, key: b, chian: c } }\n", 1, 39, "unknown key 'chian' in certificate 'c'");
	expect_err("limits: { request_lines: 10 }\n", 1, 11, "unknown key 'request_lines' in 'limits'");
}

static void test_wrong_types(void **state)
{
	expect_err("listeners: { name: web }\n", 1, 12, "'listeners' must be a list, not a mapping");
	expect_err("state: [a, b]\n", 1, 8, "'state' must be a mapping, not a list");
	expect_err("workers: abc\n", 1, 10, "'workers' must be 'auto' or a number from 1 to 256, not 'abc'");
	expect_err("workers: 0\n", 1, 10, "'workers' must be 'auto'");
	expect_err("workers: 257\n", 1, 10, "'workers' must be 'auto'");
	expect_err("lockout:\n  deny: abc\n", 2, 9, "'deny' must be a number from 1 to 1000000, not 'abc'");
	expect_err("lockout:\n  deny: -1\n", 2, 9, "'deny' must be a number");
	expect_err("totp: { skew: 11 }\n", 1, 15, "'skew' must be a number from 0 to 10");
	expect_err("session: { idle: 5 minutes }\n", 1, 18, "'idle' must be a duration such as 250ms");
	expect_err("session: { idle: [5m] }\n", 1, 18, "'idle' must be a duration, not a list");
	expect_err("origins:\n  a:\n    root: .\n    tls: { verify: yes }\n", 4, 5,
		   "'tls' does not apply to a static origin");
	expect_err("origins:\n  a:\n    servers: [\"127.0.0.1:1\"]\n    fail_timeout: 0s\n", 4, 19,
		   "'fail_timeout' must be more than 0");
	expect_err("origins:\n  a:\n    root: .\n    fail_timeout: 5s\n", 4, 5,
		   "'fail_timeout' does not apply to a static origin");
	expect_err("origins:\n  a:\n    servers: [\"127.0.0.1:1\"]\n    tls: { verify: yes }\n", 4, 20,
		   "'verify' must be true or false, not 'yes'");
	expect_err("origins:\n  a:\n    servers: [\"127.0.0.1:1\"]\n    tls: { verify: True }\n", 4, 20,
		   "'verify' must be true or false, not 'True'");
	expect_err("origins:\n  a: [x]\n", 2, 6, "origin 'a' must be a mapping, not a list");
	expect_err("listeners: [ web ]\n", 1, 14, "a listener must be a mapping, not 'web'");
	expect_err("listeners:\n  - name: [w]\n    listen: 127.0.0.1:1\n", 2, 11, "'name' must be a string, not a list");
	expect_err("listeners:\n  - name: w\n    listen: 127.0.0.1\n", 3, 13, "'listen' must be an address such as");
	expect_err("listeners:\n  - name: w\n    listen: 127.0.0.1:1\n    mode: udp\n", 4, 11,
		   "'mode' must be http or tcp, not 'udp'");
	expect_err("trusted_proxies: 10.0.0.0/8\n", 1, 18, "'trusted_proxies' must be a list");
	expect_err("trusted_proxies: [10.0.0.0/33]\n", 1, 19, "invalid CIDR '10.0.0.0/33'");
	expect_err("flow_log: { path: f, interval: 500ms }\n", 1, 32, "'interval' must be 60s or 600s");
	expect_err("flow_log: { path: f, interval: 5m }\n", 1, 32, "'interval' must be 60s or 600s");
	expect_err("flow_log: { account_id: \"1 2\" }\n", 1, 25, "'account_id' must be one word");
	expect_err("state: { redis: \"http://x\" }\n", 1, 17, "'redis' must be a URL such as redis://");
	expect_err("state: { path: ./v, redis: \"redis://127.0.0.1:6379/0\" }\n", 1, 21,
		   "'state' takes either 'path' or 'redis', not both");
	expect_err("users: { file: u.yaml, htpasswd: h }\n", 1, 24, "'users' takes either 'file' or 'htpasswd'");
	expect_err("admin: {}\n", 1, 8, "'admin' needs 'listen'");
	expect_err("admin: { listen: }\n", 1, 10, "'listen' needs a value");
	expect_err("- a\n- b\n", 1, 1, "the configuration must be a mapping, not a list");
	expect_err("just text\n", 1, 1, "the configuration must be a mapping, not 'just text'");
	expect_err("limits: { request_line: 0 }\n", 1, 25, "'request_line' must be a number from 1");
	/* Limits are capped by what the connection buffers hold: more is an error, not a silent clamp. */
	expect_err("limits: { request_line: 16385 }\n", 1, 25, "'request_line' must be a number from 1 to 16384");
	expect_err("limits: { header_block: 31745 }\n", 1, 25, "'header_block' must be a number from 1 to 31744");
	expect_err("limits: { header_fields: 129 }\n", 1, 26, "'header_fields' must be a number from 1 to 128");
	struct sk_config *most = load_ok("limits: { request_line: 16384, header_block: 31744, header_fields: 128 }\n");
	assert_int_equal(most->limits.request_line, SK_LIMIT_MAX_REQUEST_LINE);
	assert_int_equal(most->limits.header_block, SK_LIMIT_MAX_HEADER_BLOCK);
	assert_int_equal(most->limits.header_fields, SK_LIMIT_MAX_HEADER_FIELDS);
	sk_config_free(most);
}

static void test_yaml_errors(void **state)
{
	/* libfyaml's own errors come out as positions and messages, and nothing is printed. */
	fflush(stderr);
	saved_stderr = dup(2);
	char errpath[PATH_MAX * 2];
	snprintf(errpath, sizeof(errpath), "%s/stderr.txt", tmpdir);
	int fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	dup2(fd, 2);
	close(fd);

	expect_err("a: [1, 2\nb: c\n", 3, 1, "flow sequence without a closing bracket");
	expect_err("a: \"\\q\"\n", 1, 5, "invalid escape");
	expect_err("a: b: c\n", 1, 5, "");
	expect_err("workers: 1\nworkers: 2\n", 2, 1, "duplicate key 'workers' (first at line 1, column 1)");
	expect_err("origins:\n  a: { root: . }\n  b: { root: . }\n  a: { root: . }\n", 4, 3, "duplicate key 'a'");
	expect_err("---\nworkers: 1\n---\nworkers: 2\n", 3, 1, "only one YAML document is allowed");
	expect_err("? [a]\n: b\n", 1, 3, "mapping keys must be plain strings");
	expect_err("workers: *nope\n", 1, 10, "unknown alias '*nope'");
	expect_err("workers: \"a\\0b\"\n", 1, 10, "NUL character");
	expect_err("workers: 2\nstate: { path: \"v\xc3\xa9r\x8d\" }\n", 2, 20, "invalid UTF-8");
	expect_err("%YAML 1.2\n% x\xc5\n", 2, 4, "invalid UTF-8");
	char deep[256] = "a: ";
	for (int i = 0; i < 70; i++)
		strcat(deep, "[");
	expect_err(deep, 1, 67, "nesting deeper than 64 levels");

	restore_stderr();
	struct stat st;
	assert_int_equal(stat(errpath, &st), 0);
	assert_int_equal(st.st_size, 0);
}

static const char base_refs[] = "certificates: { c1: { cert: c.pem, key: k.pem } }\n"
				"ip_sets: { office: [10.0.0.0/8] }\n"
				"users: { file: users.yaml }\n"
				"api_keys: { file: keys.yaml }\n"
				"origins:\n"
				"  app: { servers: [\"127.0.0.1:3000\"] }\n"
				"  www: { root: . }\n"
				"listeners:\n"
				"  - { name: web, listen: \"127.0.0.1:8080\" }\n"
				"  - { name: db, listen: \"127.0.0.1:5433\", mode: tcp, origin: app }\n";
/* base_refs is 10 lines: snippets appended to it start on line 11. */

static void expect_err_with_base_at(int tl, const char *tail, int line, int col, const char *sub)
{
	char yaml[4096];
	snprintf(yaml, sizeof(yaml), "%s%s", base_refs, tail);
	expect_err_at(tl, yaml, line, col, sub);
}
#define expect_err_with_base(tail, line, col, sub) expect_err_with_base_at(__LINE__, tail, line, col, sub)

static void test_dangling_names(void **state)
{
	char yaml[4096];
	snprintf(yaml, sizeof(yaml), "%s", base_refs);
	struct sk_config *cfg = load_ok(yaml);
	sk_config_free(cfg);

	/* admin.access: read like a behavior's, after the IP sets it names; per-request credentials only. */
	snprintf(yaml, sizeof(yaml), "%sadmin: { listen: \"127.0.0.1:9901\", access: { ip: { allow: [office] }, auth: [basic] } }\n",
		 base_refs);
	cfg = load_ok(yaml);
	assert_true(cfg->admin.access.present);
	assert_int_equal(cfg->admin.access.ip_allow.n, 1);
	assert_int_equal(cfg->admin.access.n_auth, 1);
	assert_string_equal(cfg->admin.access.realm, "sekisho");
	sk_config_free(cfg);
	expect_err_with_base("admin: { listen: \"127.0.0.1:9901\", access: { ip: { allow: [nope] } } }\n", 11, 60,
			     "ip set 'nope' is not defined");
	expect_err_with_base("admin: { listen: \"127.0.0.1:9901\", access: { auth: [session] } }\n", 11, 52,
			     "the admin listener takes auth basic or api_key only");
	expect_err_with_base("admin: { listen: \"127.0.0.1:9901\", access: { auth: [basic], mfa: required } }\n", 11,
			     66, "'mfa' is not available on the admin listener");
	expect_err_with_base("admin: { listen: \"127.0.0.1:9901\", access: { bogus: 1 } }\n", 11, 46, "bogus");

	expect_err_with_base("distributions:\n"
			     "  - name: d\n"
			     "    aliases: [a.example]\n"
			     "    behaviors:\n"
			     "      - { path: /, origin: ap }\n",
			     15, 28, "origin 'ap' is not defined in 'origins'");
	expect_err_with_base("  - { name: t, listen: \"127.0.0.1:1\", mode: tcp, origin: nope }\n", 11, 58,
			     "origin 'nope' is not defined");
	expect_err_with_base("  - { name: t, listen: \"127.0.0.1:1\", mode: tcp }\n", 11, 5, "listener 't' needs 'origin'");
	expect_err_with_base("  - { name: t, listen: \"127.0.0.1:1\", mode: tcp, origin: www }\n", 11, 58,
			     "origin 'www' is a static origin");
	expect_err_with_base("  - { name: h, listen: \"127.0.0.1:1\", origin: app }\n", 11, 39,
			     "'origin' is only for tcp listeners");
	expect_err_with_base("  - { name: h, listen: \"127.0.0.1:1\", tls: { certificates: [c1, c2] } }\n", 11, 65,
			     "certificate 'c2' is not defined in 'certificates'");
	expect_err_with_base("  - { name: h, listen: \"127.0.0.1:1\", tls: { certificates: [] } }\n", 11, 60,
			     "'certificates' must not be empty");
	expect_err_with_base("distributions:\n"
			     "  - name: d\n"
			     "    aliases: [a.example]\n"
			     "    listeners: [web, nope]\n"
			     "    behaviors: [ { path: /, origin: app } ]\n",
			     14, 22, "listener 'nope' is not defined in 'listeners'");
	expect_err_with_base("distributions:\n"
			     "  - name: d\n"
			     "    aliases: [a.example]\n"
			     "    listeners: [db]\n"
			     "    behaviors: [ { path: /, origin: app } ]\n",
			     14, 17, "listener 'db' is a tcp listener");
	expect_err_with_base("distributions:\n"
			     "  - name: d\n"
			     "    aliases: [a.example]\n"
			     "    behaviors:\n"
			     "      - path: /\n"
			     "        origin: app\n"
			     "        access: { ip: { deny: [office, home] } }\n",
			     17, 40, "ip set 'home' is not defined in 'ip_sets'");
}

static void test_required_and_empty(void **state)
{
	expect_err_with_base("distributions:\n  - name: d\n    aliases: [a]\n    behaviors: []\n", 14, 16,
			     "'behaviors' must not be empty");
	expect_err_with_base("distributions:\n  - name: d\n    aliases: [a]\n", 12, 5, "distribution 'd' needs 'behaviors'");
	expect_err_with_base("distributions:\n  - name: d\n    behaviors: [ { path: /, origin: app } ]\n", 12, 5,
			     "distribution 'd' needs 'aliases'");
	expect_err_with_base("distributions:\n  - name: d\n    aliases: []\n    behaviors: [ { path: /, origin: app } ]\n",
			     13, 14, "'aliases' must not be empty");
	expect_err_with_base("distributions:\n  - name: d\n    aliases: [a]\n    behaviors: [ { origin: app } ]\n", 14, 18,
			     "behavior 1 of distribution 'd' needs 'path'");
	expect_err_with_base("distributions:\n  - name: d\n    aliases: [a]\n    behaviors: [ { path: / } ]\n", 14, 18,
			     "needs 'origin'");
	expect_err_with_base("distributions:\n  - name: d\n    aliases: [a]\n    behaviors: [ { path: api, origin: app } ]\n",
			     14, 26, "'path' must be a pattern starting with '/' or '*'");
	expect_err_with_base("distributions:\n  - aliases: [a]\n    behaviors: [ { path: /, origin: app } ]\n", 12, 5,
			     "a distribution needs 'name'");
	expect_err("listeners:\n  - listen: 127.0.0.1:1\n", 2, 5, "a listener needs 'name'");
	expect_err("listeners:\n  - name: w\n", 2, 5, "listener 'w' needs 'listen'");
	expect_err("listeners:\n  - name: \"a b\"\n    listen: 127.0.0.1:1\n", 2, 11, "invalid listener name 'a b'");
	expect_err("certificates: { c: { cert: a } }\n", 1, 20, "certificate 'c' needs 'key'");
	expect_err("certificates: { \"bad name\": { cert: a, key: b } }\n", 1, 17, "invalid certificate name 'bad name'");
	expect_err("listeners:\n  - { name: w, listen: \"127.0.0.1:1\", acl: [ { rule: 1, cidr: 0.0.0.0/0 } ] }\n", 2, 46,
		   "an acl rule needs 'action'");
}

static void test_origins(void **state)
{
	write_file("file.txt", "x");
	expect_err("origins:\n  a: { servers: [\"127.0.0.1:1\"], root: . }\n", 2, 34,
		   "origin 'a' has both 'servers' and 'root'");
	expect_err("origins:\n  a: { host: x }\n", 2, 6, "origin 'a' needs 'servers' (a list of host:port) or 'root'");
	expect_err("origins:\n  a:\n", 2, 3, "origin 'a' needs 'servers'");
	expect_err("origins:\n  a: { servers: [] }\n", 2, 17, "'servers' must not be empty");
	expect_err("origins:\n  a: { root: ./missing }\n", 2, 14, "root '");
	expect_err("origins:\n  a: { root: ./file.txt }\n", 2, 14, "is not a directory");
	expect_err("origins:\n  a: { servers: [\"local host:80\"] }\n", 2, 18, "invalid server address 'local host:80'");
	expect_err("origins:\n  a: { servers: [\"localhost\"] }\n", 2, 18, "invalid server address 'localhost'");
	expect_err("origins:\n  a: { servers: [\"localhost:0\"] }\n", 2, 18, "invalid server address 'localhost:0'");
	/* .invalid never resolves (RFC 6761). */
	expect_err("origins:\n  a: { servers: [\"127.0.0.1:1\", \"no-such-host.invalid:80\"] }\n", 2, 33,
		   "server 'no-such-host.invalid:80': the name does not resolve");
	expect_err("origins:\n  a: { servers: [\"0.0.0.0:80\"] }\n", 2, 18, "is a wildcard");
	expect_err("origins:\n  a: { servers: [\"127.0.0.1:1\"], headers: { \"bad name\": x } }\n", 2, 45,
		   "invalid header name 'bad name'");
	expect_err("origins:\n  a: { servers: [\"127.0.0.1:1\"], headers: { Host: x } }\n", 2, 45,
		   "header 'Host' is managed by sekisho");
	expect_err("origins:\n  a: { servers: [\"127.0.0.1:1\"], max_idle: many }\n", 2, 44, "'max_idle' must be a number");
	expect_err("origins:\n  \"a b\": { root: . }\n", 2, 3, "invalid origin name 'a b'");

	/* A name is resolved at load, as nginx does: each address it has becomes a server, written as the
	 * address; the Host sent by default is the name as written. */
	struct sk_config *named = load_ok("origins:\n  a: { servers: [\"localhost:3000\", \"10.0.0.1:3001\"] }\n");
	const struct sk_origin *na = sk_config_origin(named, "a");
	assert_string_equal(na->host, "localhost:3000");
	assert_true(na->n_servers >= 2);
	bool loopback = false;
	for (size_t i = 0; i + 1 < na->n_servers; i++) {
		const struct sk_addr *sa = &na->servers[i];
		if (sa->ss.ss_family == AF_INET) {
			const struct sockaddr_in *sin = (const struct sockaddr_in *)&sa->ss;
			assert_int_equal(ntohs(sin->sin_port), 3000);
			loopback |= sin->sin_addr.s_addr == htonl(INADDR_LOOPBACK);
			if (sin->sin_addr.s_addr == htonl(INADDR_LOOPBACK))
				assert_string_equal(sa->text, "127.0.0.1:3000");
		} else {
			assert_int_equal(sa->ss.ss_family, AF_INET6);
			assert_int_equal(ntohs(((const struct sockaddr_in6 *)&sa->ss)->sin6_port), 3000);
			assert_int_equal(sa->text[0], '[');
		}
	}
	assert_true(loopback || na->n_servers > 2); /* localhost is 127.0.0.1 and/or ::1 */
	assert_string_equal(na->servers[na->n_servers - 1].text, "10.0.0.1:3001");
	sk_config_free(named);

	/* root is realpath'd: a symbolic link and dot segments resolve to the real directory. */
	make_dir("real");
	assert_int_equal(symlink("real", in_tmp("link")), 0);
	struct sk_config *cfg = load_ok("origins:\n  s: { root: ./link/../real/. }\n  t: { root: link }\n");
	char want[PATH_MAX * 2];
	snprintf(want, sizeof(want), "%s", in_tmp("real"));
	assert_string_equal(sk_config_origin(cfg, "s")->root, want);
	assert_string_equal(sk_config_origin(cfg, "t")->root, want);
	assert_null(sk_config_origin(cfg, "u"));
	sk_config_free(cfg);

	cfg = load_ok("origins:\n"
		      "  a:\n"
		      "    servers: [\"127.0.0.1:1\"]\n"
		      "    host: a.internal\n"
		      "    connect_timeout: 250ms\n"
		      "    response_timeout: 2m\n"
		      "    max_idle: 0\n"
		      "    fail_timeout: 30s\n"
		      "    tls: { server_name: a.example, verify: false }\n");
	const struct sk_origin *a = sk_config_origin(cfg, "a");
	assert_int_equal(a->connect_timeout_ms, 250);
	assert_int_equal(a->fail_timeout_ms, 30000);
	assert_int_equal(a->response_timeout_ms, 120000);
	assert_int_equal(a->max_idle, 0);
	assert_true(a->tls.present);
	assert_null(a->tls.ca);
	assert_string_equal(a->tls.server_name, "a.example");
	assert_false(a->tls.verify);
	assert_string_equal(a->host, "a.internal");
	sk_config_free(cfg);
}

static void test_duplicate_names(void **state)
{
	expect_err("listeners:\n  - { name: w, listen: \"127.0.0.1:1\" }\n  - { name: w, listen: \"127.0.0.1:2\" }\n", 3, 13,
		   "duplicate listener name 'w' (first at line 2, column 13)");
	expect_err("listeners:\n  - { name: a, listen: \"127.0.0.1:1\" }\n  - { name: b, listen: \"127.0.0.1:1\" }\n", 3, 24,
		   "address 127.0.0.1:1 is already used by listener 'a'");
	expect_err("admin: { listen: \"127.0.0.1:9\" }\nlisteners:\n  - { name: a, listen: \"127.0.0.1:9\" }\n", 3, 24,
		   "already used by 'admin'");
	expect_err("origins: { a: { root: . } }\n"
		   "distributions:\n"
		   "  - { name: d, aliases: [x], behaviors: [ { path: /, origin: a } ] }\n"
		   "  - { name: d, aliases: [y], behaviors: [ { path: /, origin: a } ] }\n",
		   4, 13, "duplicate distribution name 'd' (first at line 3, column 13)");
	expect_err("ip_sets: { a: [10.0.0.0/8], a: [10.0.0.0/8] }\n", 1, 29, "duplicate key 'a'");
	expect_err("certificates: { a: { cert: x, key: y }, a: { cert: x, key: y } }\n", 1, 41, "duplicate key 'a'");
	expect_err("listeners:\n  - { name: w, listen: \"127.0.0.1:1\", acl: [ { rule: 10, cidr: 0.0.0.0/0, action: allow },\n"
		   "       { rule: 10, cidr: 10.0.0.0/8, action: deny } ] }\n",
		   3, 16, "acl rule number 10 is already used (line 2, column 54)");
}

/* ---- aliases --------------------------------------------------------------------------------- */

static void test_aliases(void **state)
{
	struct sk_config *cfg = load_ok("origins: { a: { root: . } }\n"
					"distributions:\n"
					"  - name: d\n"
					"    aliases: [WWW.Example.COM., \"*.Apps.example.com\", localhost, 127.0.0.1, my_host.lan]\n"
					"    behaviors: [ { path: \"*\", origin: a } ]\n");
	const struct sk_strlist *al = &cfg->distributions[0].aliases;
	assert_int_equal(al->n, 5);
	assert_string_equal(al->items[0], "www.example.com");
	assert_string_equal(al->items[1], "*.apps.example.com");
	assert_string_equal(al->items[2], "localhost");
	assert_string_equal(al->items[3], "127.0.0.1");
	assert_string_equal(al->items[4], "my_host.lan");
	sk_config_free(cfg);

	static const char *const bad[] = { "\"a.*.example.com\"", "\"*example.com\"", "\"*\"", "\"*.\"", "a..b",
					   "\"a b\"", "\"host:80\"", "\".\"", "\"..\"", "\"[::1]\"" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char yaml[512];
		snprintf(yaml, sizeof(yaml),
			 "origins: { a: { root: . } }\n"
			 "distributions: [ { name: d, aliases: [%s], behaviors: [ { path: /, origin: a } ] } ]\n",
			 bad[i]);
		expect_err(yaml, 2, 39, "invalid alias");
	}
}

static void test_duplicate_alias(void **state)
{
	char want[PATH_MAX * 2 + 128];
	snprintf(want, sizeof(want), "alias 'a.example.com' is already used by distribution 'x' at %s:4:15", cfgpath);
	expect_err("origins: { o: { root: . } }\n"
		   "distributions:\n"
		   "  - name: x\n"
		   "    aliases: [a.example.com, b.example.com]\n"
		   "    behaviors: [ { path: /, origin: o } ]\n"
		   "  - name: y\n"
		   "    aliases: [c.example.com, A.Example.COM.]\n"
		   "    behaviors: [ { path: /, origin: o } ]\n",
		   7, 30, want);

	/* Within one distribution too. */
	snprintf(want, sizeof(want), "alias '*.b.example' is already used by distribution 'x' at %s:4:15", cfgpath);
	expect_err("origins: { o: { root: . } }\n"
		   "distributions:\n"
		   "  - name: x\n"
		   "    aliases: [\"*.b.example\", \"*.B.example.\"]\n"
		   "    behaviors: [ { path: /, origin: o } ]\n",
		   4, 30, want);

	/* A wildcard and an exact name are different aliases. */
	struct sk_config *cfg = load_ok("origins: { o: { root: . } }\n"
					"distributions:\n"
					"  - { name: x, aliases: [b.example], behaviors: [ { path: /, origin: o } ] }\n"
					"  - { name: y, aliases: [\"*.b.example\"], behaviors: [ { path: /, origin: o } ] }\n");
	assert_int_equal(cfg->n_distributions, 2);
	sk_config_free(cfg);
}

/* ---- durations, addresses, CIDRs ------------------------------------------------------------- */

static void test_durations(void **state)
{
	struct sk_config *cfg = load_ok("session: { idle: 250ms, absolute: 360d }\n"
					"ban: { find_time: 15m, ban_time: 0 }\n"
					"lockout: { unlock_time: 0 }\n"
					"timeouts: { header_read: 10s, keepalive: 1h, send: 7 }\n"
					"users: { password_max_age: 90d }\n");
	assert_int_equal(cfg->session.idle_ms, 250);
	assert_int_equal(cfg->session.absolute_ms, 360ull * 86400 * 1000);
	assert_int_equal(cfg->ban.find_time_ms, 15 * 60000);
	assert_int_equal(cfg->ban.ban_time_ms, 0);
	assert_int_equal(cfg->lockout.unlock_time_ms, 0);
	assert_int_equal(cfg->timeouts.header_read_ms, 10000);
	assert_int_equal(cfg->timeouts.keepalive_ms, 3600000);
	assert_int_equal(cfg->timeouts.send_ms, 7000);
	assert_int_equal(cfg->users.password_max_age_ms, 90ull * 86400 * 1000);
	sk_config_free(cfg);

	static const char *const bad[] = { "10 s", "1.5s", "-1s", "10w", "s", "1hh", "99999999999999999999d" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char yaml[256];
		snprintf(yaml, sizeof(yaml), "timeouts:\n  send: \"%s\"\n", bad[i]);
		expect_err(yaml, 2, 9, "'send' must be a duration such as 250ms, 10s, 15m, 1h or 360d");
	}
}

/* state.max_size: the LMDB map, as a size with a binary unit; default 1 GiB; only with the embedded store. */
static void test_state_max_size(void **state)
{
	struct sk_config *cfg = load_ok("workers: 1\n");
	assert_int_equal(cfg->state.max_size, 1ull << 30);
	sk_config_free(cfg);
	static const struct {
		const char *text;
		uint64_t bytes;
	} good[] = { { "64MiB", 64ull << 20 }, { "1GiB", 1ull << 30 }, { "2g", 2ull << 30 }, { "512m", 512ull << 20 },
		     { "1TiB", 1ull << 40 }, { "1048576", 1ull << 20 }, { "4096KiB", 4ull << 20 } };
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		char yaml[128];
		snprintf(yaml, sizeof(yaml), "state: { path: ./v, max_size: %s }\n", good[i].text);
		cfg = load_ok(yaml);
		assert_int_equal(cfg->state.max_size, good[i].bytes);
		sk_config_free(cfg);
	}
	static const char *const bad[] = { "64MB", "1.5GiB", "-1GiB", "GiB", "1 GiB", "1023KiB", "2TiB",
					   "99999999999999999999", "16777216TiB" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char yaml[128];
		snprintf(yaml, sizeof(yaml), "state:\n  max_size: \"%s\"\n", bad[i]);
		expect_err(yaml, 2, 13, "'max_size' must be a size such as 64MiB or 1GiB");
	}
	expect_err("state:\n  max_size: [1]\n", 2, 13, "'max_size' must be a size");
	expect_err("state:\n  redis: redis://127.0.0.1:6379/0\n  max_size: 64MiB\n", 3, 3,
		   "'max_size' sizes the embedded store");
}

static void test_addr_parse(void **state)
{
	struct sk_addr a;
	assert_int_equal(sk_addr_parse("127.0.0.1:8080", &a), 0);
	assert_int_equal(a.ss.ss_family, AF_INET);
	assert_int_equal(a.len, sizeof(struct sockaddr_in));
	assert_int_equal(ntohs(((struct sockaddr_in *)&a.ss)->sin_port), 8080);
	assert_int_equal(((struct sockaddr_in *)&a.ss)->sin_addr.s_addr, htonl(0x7f000001));
	assert_string_equal(a.text, "127.0.0.1:8080");

	assert_int_equal(sk_addr_parse("[::1]:8080", &a), 0);
	assert_int_equal(a.ss.ss_family, AF_INET6);
	assert_int_equal(a.len, sizeof(struct sockaddr_in6));
	assert_int_equal(ntohs(((struct sockaddr_in6 *)&a.ss)->sin6_port), 8080);
	assert_true(IN6_IS_ADDR_LOOPBACK(&((struct sockaddr_in6 *)&a.ss)->sin6_addr));

	static const char *const any[] = { "0.0.0.0:80", "*:8080", ":8080" };
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(sk_addr_parse(any[i], &a), 0);
		assert_int_equal(a.ss.ss_family, AF_INET);
		assert_int_equal(((struct sockaddr_in *)&a.ss)->sin_addr.s_addr, htonl(INADDR_ANY));
		assert_string_equal(a.text, any[i]);
	}
	assert_int_equal(sk_addr_parse("[::]:443", &a), 0);
	assert_true(IN6_IS_ADDR_UNSPECIFIED(&((struct sockaddr_in6 *)&a.ss)->sin6_addr));
	assert_int_equal(sk_addr_parse("1.2.3.4:65535", &a), 0);
	assert_int_equal(sk_addr_parse("1.2.3.4:1", &a), 0);

	static const char *const bad[] = {
		"", "127.0.0.1", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:80a", "127.0.0.1:+80",
		"127.0.0.1:-1", "localhost:80", "::1:80", "[::1]", "[::1]80", "[::1:80", "[127.0.0.1]:80",
		"256.0.0.1:80", "1.2.3:80", ":", "*:", "1.2.3.4:123456",
		"[0000:0000:0000:0000:0000:0000:0000:0001]:80808080808080808080808080808080808080808080808080",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (sk_addr_parse(bad[i], &a) != -1)
			fail_msg("accepted '%s'", bad[i]);
}

static void test_cidr_parse(void **state)
{
	struct sk_cidr c;
	assert_int_equal(sk_cidr_parse("10.0.0.0/8", &c), 0);
	assert_cidr(&c, AF_INET, "10.0.0.0", 8);
	assert_int_equal(sk_cidr_parse("192.0.2.7", &c), 0);
	assert_cidr(&c, AF_INET, "192.0.2.7", 32);
	assert_int_equal(sk_cidr_parse("0.0.0.0/0", &c), 0);
	assert_cidr(&c, AF_INET, "0.0.0.0", 0);
	/* Host bits are allowed and masked off. */
	assert_int_equal(sk_cidr_parse("10.1.2.3/8", &c), 0);
	assert_cidr(&c, AF_INET, "10.0.0.0", 8);
	assert_int_equal(sk_cidr_parse("192.168.1.255/23", &c), 0);
	assert_cidr(&c, AF_INET, "192.168.0.0", 23);
	assert_int_equal(sk_cidr_parse("2001:db8::/32", &c), 0);
	assert_cidr(&c, AF_INET6, "2001:db8::", 32);
	assert_int_equal(sk_cidr_parse("2001:db8:ffff::1/33", &c), 0);
	assert_cidr(&c, AF_INET6, "2001:db8:8000::", 33);
	assert_int_equal(sk_cidr_parse("::1", &c), 0);
	assert_cidr(&c, AF_INET6, "::1", 128);
	assert_int_equal(sk_cidr_parse("::/0", &c), 0);
	assert_cidr(&c, AF_INET6, "::", 0);
	assert_int_equal(sk_cidr_parse("::ffff:10.0.0.1/128", &c), 0);
	assert_int_equal(c.family, AF_INET6);

	static const char *const bad[] = { "", "/8", "10.0.0.0/", "10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/8/8",
					   "10.0.0.0/ 8", "10.0.0/8", "10.0.0.0.0/8", "2001:db8::/129", "2001:db8::/0x10",
					   "abc", "10.0.0.0/1000", "gggg::/16", " 10.0.0.0/8", "10.0.0.0/8 " };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (sk_cidr_parse(bad[i], &c) != -1)
			fail_msg("accepted '%s'", bad[i]);
}

/* ---- environment, set files, paths ---------------------------------------------------------- */

static void test_env_expansion(void **state)
{
	setenv("SK_TEST_TOKEN", "tok-123", 1);
	setenv("SK_TEST_EMPTY", "", 1);
	unsetenv("SK_TEST_UNSET");
	struct sk_config *cfg = load_ok("origins:\n"
					"  a:\n"
					"    servers: [\"127.0.0.1:1\"]\n"
					"    headers:\n"
					"      x-one: \"${SK_TEST_TOKEN}\"\n"
					"      x-two: \"Bearer ${SK_TEST_TOKEN}/${SK_TEST_TOKEN}!\"\n"
					"      x-three: \"${SK_TEST_EMPTY}\"\n"
					"      x-four: \"cost $5 and $ {x} and $\"\n"
					"      x-five: 42\n");
	const struct sk_origin *a = sk_config_origin(cfg, "a");
	assert_int_equal(a->n_headers, 5);
	assert_string_equal(a->headers[0].value, "tok-123");
	assert_string_equal(a->headers[1].value, "Bearer tok-123/tok-123!");
	assert_string_equal(a->headers[2].value, "");
	assert_string_equal(a->headers[3].value, "cost $5 and $ {x} and $");
	assert_string_equal(a->headers[4].name, "x-five");
	assert_string_equal(a->headers[4].value, "42");
	sk_config_free(cfg);

	expect_err("origins:\n  a:\n    servers: [\"127.0.0.1:1\"]\n    headers:\n      x-t: \"pre ${SK_TEST_UNSET}\"\n", 5, 12,
		   "environment variable 'SK_TEST_UNSET' is not set");
	expect_err("origins:\n  a:\n    servers: [\"127.0.0.1:1\"]\n    headers:\n      x-t: \"${SK_TEST_TOKEN\"\n", 5, 12,
		   "'${' without a closing '}'");
	expect_err("origins:\n  a:\n    servers: [\"127.0.0.1:1\"]\n    headers:\n      x-t: \"${1BAD}\"\n", 5, 12,
		   "invalid environment variable name '1BAD'");
	expect_err("origins:\n  a:\n    servers: [\"127.0.0.1:1\"]\n    headers:\n      x-t: \"${}\"\n", 5, 12,
		   "invalid environment variable name ''");
	setenv("SK_TEST_CRLF", "a\r\nX-Injected: 1", 1);
	expect_err("origins:\n  a:\n    servers: [\"127.0.0.1:1\"]\n    headers:\n      x-t: \"${SK_TEST_CRLF}\"\n", 5, 12,
		   "contains a control character");
	expect_err("origins:\n  a:\n    servers: [\"127.0.0.1:1\"]\n    headers:\n      x-t: [a]\n", 5, 12,
		   "the value of header 'x-t' must be a string, not a list");
}

static void test_ip_set_files(void **state)
{
	make_dir("sets");
	write_file("sets/good.txt", "# office\n10.0.0.0/8\r\n\t172.16.0.0/12  # comment\n\n   \n2001:db8::/32");
	write_file("sets/bad.txt", "10.0.0.0/8\n# fine\n\n10.0.0.300/24\n");
	write_file("sets/empty.txt", "");
	struct sk_config *cfg = load_ok("ip_sets:\n"
					"  good: { file: sets/good.txt }\n"
					"  empty: { file: ./sets/empty.txt }\n"
					"  inline: [\"10.1.2.3/8\", 192.0.2.1]\n"
					"  none: []\n");
	const struct sk_ip_set *g = sk_config_ip_set(cfg, "good");
	assert_string_equal(g->file, in_tmp("sets/good.txt"));
	assert_int_equal(g->cidrs.n, 3);
	assert_cidr(&g->cidrs.items[0], AF_INET, "10.0.0.0", 8);
	assert_int_equal(g->cidrs.pos[0].line, 2);
	assert_cidr(&g->cidrs.items[1], AF_INET, "172.16.0.0", 12);
	assert_int_equal(g->cidrs.pos[1].line, 3);
	assert_cidr(&g->cidrs.items[2], AF_INET6, "2001:db8::", 32);
	assert_int_equal(g->cidrs.pos[2].line, 6);
	assert_int_equal(sk_config_ip_set(cfg, "empty")->cidrs.n, 0);
	const struct sk_ip_set *in = sk_config_ip_set(cfg, "inline");
	assert_null(in->file);
	assert_cidr(&in->cidrs.items[0], AF_INET, "10.0.0.0", 8);
	assert_cidr(&in->cidrs.items[1], AF_INET, "192.0.2.1", 32);
	assert_int_equal(in->cidrs.pos[1].line, 4);
	assert_int_equal(in->cidrs.pos[1].col, 26);
	assert_int_equal(sk_config_ip_set(cfg, "none")->cidrs.n, 0);
	sk_config_free(cfg);

	/* A bad line is reported in the set file, at its line. */
	struct sk_err err;
	cfg = load("ip_sets:\n  bad: { file: sets/bad.txt }\n", &err);
	assert_null(cfg);
	assert_string_equal(err.file, in_tmp("sets/bad.txt"));
	assert_int_equal(err.line, 4);
	assert_int_equal(err.col, 1);
	assert_string_equal(err.msg, "invalid CIDR '10.0.0.300/24'");
	char line[2048], want[2048];
	sk_err_format(&err, line, sizeof(line));
	snprintf(want, sizeof(want), "%s:4:1: invalid CIDR '10.0.0.300/24'", in_tmp("sets/bad.txt"));
	assert_string_equal(line, want);

	expect_err("ip_sets:\n  x: { file: sets/missing.txt }\n", 2, 14, "cannot read set file");
	expect_err("ip_sets:\n  x: { file: sets }\n", 2, 14, "is not a regular file");
	expect_err("ip_sets:\n  x: { path: a }\n", 2, 8, "unknown key 'path' in ip set 'x'");
	expect_err("ip_sets:\n  x: 10.0.0.0/8\n", 2, 6, "ip set 'x' must be a list of CIDRs or { file: PATH }");
	expect_err("ip_sets:\n  x: [10.0.0.0/8, nope]\n", 2, 19, "invalid CIDR 'nope'");
}

static void test_relative_paths(void **state)
{
	/* Relative paths follow the config file, not the current directory. */
	make_dir("conf");
	make_dir("conf/www");
	write_file("conf/set.txt", "10.0.0.0/8\n");
	write_file("conf/sekisho.yaml", "state: { path: state }\n"
					 "access_log: { path: logs/access.log }\n"
					 "users: { htpasswd: ../htpasswd }\n"
					 "certificates: { c: { cert: /etc/c.pem, key: k.pem, chain: ./ch.pem } }\n"
					 "ip_sets: { s: { file: set.txt } }\n"
					 "origins: { w: { root: www } }\n"
					 "listeners: [ { name: l, listen: \"127.0.0.1:1\", tls: { certificates: [c], client_ca: ca.pem } } ]\n");
	char old[PATH_MAX];
	assert_non_null(getcwd(old, sizeof(old)));
	assert_int_equal(chdir("/"), 0);
	char rel[PATH_MAX * 2];
	snprintf(rel, sizeof(rel), "%s/conf/sekisho.yaml", tmpdir + 1); /* relative to "/" */
	struct sk_err err = { 0 };
	struct sk_config *cfg = sk_config_load(rel, &err);
	assert_int_equal(chdir(old), 0);
	if (!cfg)
		fail_msg("%d:%d: %s", err.line, err.col, err.msg);
	assert_string_equal(cfg->path, rel);
	assert_string_equal(cfg->state.path, in_tmp("conf/state"));
	assert_string_equal(cfg->access_log.path, in_tmp("conf/logs/access.log"));
	assert_string_equal(cfg->users.htpasswd, in_tmp("conf/../htpasswd"));
	const struct sk_certificate *c = sk_config_certificate(cfg, "c");
	assert_string_equal(c->cert, "/etc/c.pem");
	assert_string_equal(c->key, in_tmp("conf/k.pem"));
	assert_string_equal(c->chain, in_tmp("conf/ch.pem"));
	assert_string_equal(sk_config_ip_set(cfg, "s")->file, in_tmp("conf/set.txt"));
	assert_string_equal(sk_config_origin(cfg, "w")->root, in_tmp("conf/www"));
	assert_string_equal(cfg->listeners[0].tls.client_ca, in_tmp("conf/ca.pem"));
	assert_null(sk_config_certificate(cfg, "d"));
	sk_config_free(cfg);
}

/* ---- listeners and behaviors in detail -------------------------------------------------------- */

static void test_acl(void **state)
{
	struct sk_config *cfg = load_ok("listeners:\n"
					"  - name: w\n"
					"    listen: \"[::]:8443\"\n"
					"    acl:\n"
					"      - { rule: 200, cidr: 0.0.0.0/0, action: deny }\n"
					"      - { rule: 5, cidr: \"2001:db8::/32\", action: allow }\n"
					"      - { rule: 100, cidr: 10.1.0.0/16, action: allow }\n"
					"    tls: { certificates: [b, a], ciphers: \"ECDHE+AESGCM\" }\n"
					"certificates:\n"
					"  a: { cert: a.pem, key: a.key }\n"
					"  b: { cert: b.pem, key: b.key, chain: b-chain.pem }\n");
	const struct sk_listener *l = &cfg->listeners[0];
	assert_int_equal(l->n_acl, 3);
	assert_int_equal(l->acl[0].rule, 5);
	assert_int_equal(l->acl[0].action, SK_ACL_ALLOW);
	assert_cidr(&l->acl[0].cidr, AF_INET6, "2001:db8::", 32);
	assert_int_equal(l->acl[1].rule, 100);
	assert_int_equal(l->acl[2].rule, 200);
	assert_int_equal(l->acl[2].action, SK_ACL_DENY);
	assert_string_equal(l->tls.certificates.items[0], "b");
	assert_string_equal(l->tls.certificates.items[1], "a");
	assert_string_equal(l->tls.ciphers, "ECDHE+AESGCM");
	assert_string_equal(sk_config_certificate(cfg, "b")->chain, in_tmp("b-chain.pem"));
	sk_config_free(cfg);

	expect_err("listeners:\n  - { name: w, listen: \"127.0.0.1:1\", acl: [ { rule: 1, cidr: x, action: allow } ] }\n",
		   2, 63, "invalid CIDR 'x'");
	expect_err("listeners:\n  - { name: w, listen: \"127.0.0.1:1\", acl: [ { rule: 1, cidr: 0.0.0.0/0, action: permit } ] }\n",
		   2, 82, "'action' must be allow or deny, not 'permit'");
	expect_err("listeners:\n  - { name: w, listen: \"127.0.0.1:1\", acl: [ { rule: 0, cidr: 0.0.0.0/0, action: allow } ] }\n",
		   2, 54, "'rule' must be a number from 1 to 4294967295");
	expect_err("listeners:\n  - { name: w, listen: \"127.0.0.1:1\", acl: { rule: 1 } }\n", 2, 44,
		   "'acl' must be a list, not a mapping");
	expect_err("listeners:\n  - { name: w, listen: \"127.0.0.1:1\", idle_timeout: 5m }\n", 2, 39,
		   "'idle_timeout' is only for tcp listeners");

	/* underscores_in_headers: drop (default) | forward, on HTTP listeners */
	cfg = load_ok("listeners:\n  - { name: w, listen: \"127.0.0.1:1\", underscores_in_headers: forward }\n"
		      "  - { name: v, listen: \"127.0.0.1:2\", underscores_in_headers: drop }\n");
	assert_true(cfg->listeners[0].underscores_forward);
	assert_false(cfg->listeners[1].underscores_forward);
	sk_config_free(cfg);
	expect_err("listeners:\n  - { name: w, listen: \"127.0.0.1:1\", underscores_in_headers: keep }\n", 2, 63,
		   "'underscores_in_headers' must be drop or forward, not 'keep'");
	expect_err("origins: { pg: { servers: [\"127.0.0.1:5\"] } }\n"
		   "listeners:\n  - { name: t, listen: \"127.0.0.1:1\", mode: tcp, origin: pg, underscores_in_headers: forward }\n",
		   3, 62, "'underscores_in_headers' is only for HTTP listeners");

	/* tls.min_version: "1.2" (the default) or "1.3" */
	cfg = load_ok("certificates: { a: { cert: a.pem, key: a.key } }\n"
		      "listeners:\n  - { name: w, listen: \"127.0.0.1:1\", tls: { certificates: [a], min_version: 1.3 } }\n"
		      "  - { name: v, listen: \"127.0.0.1:2\", tls: { certificates: [a], min_version: \"1.2\" } }\n"
		      "  - { name: u, listen: \"127.0.0.1:3\", tls: { certificates: [a] } }\n");
	assert_true(cfg->listeners[0].tls.min_tls13);
	assert_false(cfg->listeners[1].tls.min_tls13);
	assert_false(cfg->listeners[2].tls.min_tls13);
	sk_config_free(cfg);
	expect_err("certificates: { a: { cert: a.pem, key: a.key } }\n"
		   "listeners:\n  - { name: w, listen: \"127.0.0.1:1\", tls: { certificates: [a], min_version: 1.1 } }\n",
		   3, 78, "'min_version' must be \"1.2\" or \"1.3\", not '1.1'");
}

/* DESIGN §2 "HTTP/2": http2 (TLS listeners, default true), h2c (cleartext, default false), limits.h2. */
static void test_http2_keys(void **state)
{
	struct sk_config *cfg = load_ok("certificates: { a: { cert: a.pem, key: a.key } }\n"
					"listeners:\n  - { name: w, listen: \"127.0.0.1:1\", tls: { certificates: [a] } }\n"
					"  - { name: v, listen: \"127.0.0.1:2\", tls: { certificates: [a] }, http2: false }\n"
					"  - { name: u, listen: \"127.0.0.1:3\", h2c: true }\n"
					"  - { name: t, listen: \"127.0.0.1:4\" }\n");
	assert_true(cfg->listeners[0].http2);
	assert_false(cfg->listeners[1].http2);
	assert_true(cfg->listeners[2].h2c);
	assert_false(cfg->listeners[3].h2c);
	assert_int_equal(cfg->limits.h2.max_concurrent_streams, 100);
	assert_int_equal(cfg->limits.h2.max_header_list, 16384);
	assert_int_equal(cfg->limits.h2.max_requests_per_connection, 1000);
	sk_config_free(cfg);
	cfg = load_ok("limits: { h2: { max_concurrent_streams: 10, max_header_list: 8KiB, max_requests_per_connection: 50 } }\n");
	assert_int_equal(cfg->limits.h2.max_concurrent_streams, 10);
	assert_int_equal(cfg->limits.h2.max_header_list, 8192);
	assert_int_equal(cfg->limits.h2.max_requests_per_connection, 50);
	sk_config_free(cfg);
	expect_err("listeners:\n  - { name: w, listen: \"127.0.0.1:1\", http2: true }\n", 2, 39,
		   "'http2' is for TLS listeners (ALPN); a cleartext listener takes 'h2c: true'");
	expect_err("certificates: { a: { cert: a.pem, key: a.key } }\n"
		   "listeners:\n  - { name: w, listen: \"127.0.0.1:1\", tls: { certificates: [a] }, h2c: true }\n", 3, 67,
		   "'h2c' is for cleartext listeners");
	expect_err("listeners:\n  - { name: w, listen: \"127.0.0.1:1\", h2c: maybe }\n", 2, 44, "h2c");
	expect_err("origins: { pg: { servers: [\"127.0.0.1:5\"] } }\n"
		   "listeners:\n  - { name: t, listen: \"127.0.0.1:1\", mode: tcp, origin: pg, h2c: true }\n", 3, 62,
		   "'h2c' is only for HTTP listeners");
	expect_err("limits: { h2: { max_streams: 5 } }\n", 1, 17, "unknown key 'max_streams' in 'h2'");
	expect_err("limits: { h2: { max_header_list: 64KiB } }\n", 1, 34, "'max_header_list' must be a size");
	expect_err("limits: { h2: { max_concurrent_streams: 0 } }\n", 1, 41, "max_concurrent_streams");
}

static void test_behaviors_and_access(void **state)
{
	struct sk_config *cfg = load_ok("geoip: { database: geo.mmdb }\n"
					"users: { htpasswd: htpasswd }\n"
					"ip_sets: { a: [10.0.0.0/8], b: [] }\n"
					"origins: { o: { servers: [\"127.0.0.1:1\"] } }\n"
					"distributions:\n"
					"  - name: d\n"
					"    aliases: [x.example]\n"
					"    behaviors:\n"
					"      - path: /none\n"
					"        origin: o\n"
					"        forward_headers: none\n"
					"        forward_host: true\n"
					"        idle_timeout: 30s\n"
					"        forward_credentials: true\n"
					"        websocket: false\n"
					"        allow_get_body: true\n"
					"      - path: /list\n"
					"        origin: o\n"
					"        forward_headers: []\n"
					"      - path: /all\n"
					"        origin: o\n"
					"        forward_headers: all\n"
					"        access:\n"
					"          ip: { allow: [a], deny: [b] }\n"
					"          geo: { allow: [de, Fr], unknown: deny }\n"
					"          auth: [basic, client_cert]\n"
					"          realm: \"Staff only\"\n"
					"          groups: [admins, ops]\n"
					"          mfa: off\n"
					"          policy: false\n");
	const struct sk_behavior *b = cfg->distributions[0].behaviors;
	assert_int_equal(b[0].forward_mode, SK_FWD_NONE);
	assert_true(b[0].forward_host);
	assert_int_equal(b[0].idle_timeout_ms, 30000);
	assert_true(b[0].forward_credentials);
	assert_false(b[0].websocket);
	assert_true(b[0].allow_get_body);
	assert_false(b[1].forward_credentials);
	assert_true(b[1].websocket);
	assert_false(b[1].allow_get_body);
	assert_int_equal(b[1].forward_mode, SK_FWD_LIST);
	assert_int_equal(b[1].forward_headers.n, 0);
	assert_int_equal(b[2].forward_mode, SK_FWD_ALL);
	const struct sk_access *a = &b[2].access;
	assert_true(a->present);
	assert_string_equal(a->ip_allow.items[0], "a");
	assert_string_equal(a->ip_deny.items[0], "b");
	assert_true(a->has_geo);
	assert_int_equal(a->geo_allow.n, 2);
	assert_string_equal(a->geo_allow.items[0], "DE");
	assert_string_equal(a->geo_allow.items[1], "FR");
	assert_int_equal(a->geo_unknown, SK_GEO_UNKNOWN_DENY);
	assert_int_equal(a->n_auth, 2);
	assert_int_equal(a->auth[0], SK_AUTH_BASIC);
	assert_int_equal(a->auth[1], SK_AUTH_CLIENT_CERT);
	assert_string_equal(a->realm, "Staff only");
	assert_int_equal(a->groups.n, 2);
	assert_string_equal(a->groups.items[1], "ops");
	assert_int_equal(a->mfa, SK_MFA_OFF);
	assert_false(a->policy);
	sk_config_free(cfg);

	const char *head = "geoip: { database: geo.mmdb }\n"
			   "users: { file: users.yaml }\n"
			   "origins: { o: { servers: [\"127.0.0.1:1\"] } }\n"
			   "distributions:\n"
			   "  - name: d\n"
			   "    aliases: [x.example]\n"
			   "    behaviors:\n"
			   "      - path: /\n"
			   "        origin: o\n";
	/* The snippets below start on line 10. */
	struct {
		const char *tail;
		int line, col;
		const char *msg;
	} cases[] = {
		{ "        forward_headers: some\n", 10, 26, "'forward_headers' must be all, none or a list of header names, not 'some'" },
		{ "        forward_headers: [\"Bad Header\"]\n", 10, 27, "invalid header name 'Bad Header'" },
		{ "        forward_host: 1\n", 10, 23, "'forward_host' must be true or false, not '1'" },
		{ "        access: { geo: { allow: [DE], deny: [FR] } }\n", 10, 39, "'geo' takes either 'allow' or 'deny'" },
		{ "        access: { geo: { allow: [DEU] } }\n", 10, 34, "invalid country code 'DEU'" },
		{ "        access: { geo: { allow: [\"1A\"] } }\n", 10, 34, "invalid country code '1A'" },
		{ "        access: { geo: { unknown: maybe } }\n", 10, 35, "'unknown' must be allow or deny, not 'maybe'" },
		{ "        access: { auth: [basic, basic] }\n", 10, 33, "auth method 'basic' is listed twice" },
		{ "        access: { auth: [password] }\n", 10, 26, "unknown auth method 'password'" },
		{ "        access: { auth: [api_key] }\n", 10, 26, "auth method 'api_key' needs 'api_keys: { file: ... }'" },
		{ "        access: { auth: basic }\n", 10, 25, "'auth' must be a list, not 'basic'" },
		{ "        access: { auth: [basic], mfa: yes }\n", 10, 39, "'mfa' must be required or off, not 'yes'" },
		{ "        access: { mfa: required }\n", 10, 19, "'mfa: required' needs 'auth'" },
		{ "        access: { groups: [admins] }\n", 10, 19, "'groups' needs 'auth'" },
		{ "        access: { auth: [basic], policy: yes }\n", 10, 42, "'policy' must be true, audit or false, not 'yes'" },
		{ "        access: { policy: true }\n", 10, 19, "'policy' needs 'auth'" },
		{ "        access: { ip: { allow: [] }, policy: audit }\n", 10, 38, "'policy' needs 'auth'" },
		{ "        access: { auth: [basic], realm: \"a\\\"b\" }\n", 10, 41, "'realm' may not contain quotes" },
		{ "        access: [basic]\n", 10, 17, "'access' must be a mapping, not a list" },
		{ "        access: { ip: [a] }\n", 10, 23, "'ip' must be a mapping, not a list" },
		{ "        access: { ip: { allow: a } }\n", 10, 32, "'allow' must be a list, not 'a'" },
		{ "        idle_timeout: forever\n", 10, 23, "'idle_timeout' must be a duration" },
		{ "        forward_credentials: yes\n", 10, 30, "'forward_credentials' must be true or false, not 'yes'" },
		{ "        websocket: off\n", 10, 20, "'websocket' must be true or false, not 'off'" },
		{ "        allow_get_body: 1\n", 10, 25, "'allow_get_body' must be true or false, not '1'" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char yaml[2048];
		snprintf(yaml, sizeof(yaml), "%s%s", head, cases[i].tail);
		expect_err_at((int)i, yaml, cases[i].line, cases[i].col, cases[i].msg);
	}
	/* geo without a database. */
	expect_err("origins: { o: { root: . } }\n"
		   "distributions: [ { name: d, aliases: [x], behaviors: [ { path: /, origin: o, access: { geo: { deny: [KP] } } } ] } ]\n",
		   2, 93, "'geo' rules need a country database");
	/* basic without users. */
	expect_err("origins: { o: { root: . } }\n"
		   "distributions: [ { name: d, aliases: [x], behaviors: [ { path: /, origin: o, access: { auth: [session] } } ] } ]\n",
		   2, 95, "auth method 'session' needs users");
}

static void test_yaml_aliases_expand(void **state)
{
	struct sk_config *cfg = load_ok("origins:\n"
					"  a: &srv { servers: [\"127.0.0.1:1\"], max_idle: 3 }\n"
					"  b: *srv\n"
					"ip_sets:\n"
					"  s: &nets [10.0.0.0/8]\n"
					"  t: *nets\n");
	assert_int_equal(sk_config_origin(cfg, "b")->max_idle, 3);
	assert_int_equal(sk_config_ip_set(cfg, "t")->cidrs.n, 1);
	sk_config_free(cfg);

	/* Nested aliases cannot blow up memory. */
	char yaml[4096] = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
	for (int i = 1; i < 9; i++) {
		char line[256];
		snprintf(line, sizeof(line), "a%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d]\n", i, i,
			 i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1);
		strcat(yaml, line);
	}
	struct sk_err err;
	cfg = load(yaml, &err);
	assert_null(cfg);
	assert_non_null(strstr(err.msg, "too many"));
}

static void test_load_failures(void **state)
{
	struct sk_err err = { 0 };
	assert_null(sk_config_load(in_tmp("missing.yaml"), &err));
	assert_string_equal(err.file, in_tmp("missing.yaml"));
	assert_int_equal(err.line, 0);
	assert_non_null(strstr(err.msg, "cannot open"));
	assert_null(sk_config_load(tmpdir, &err));
	assert_non_null(strstr(err.msg, "not a regular file"));

	/* The in-memory variant resolves against the name's directory, or the current one. */
	struct sk_config *cfg = sk_config_load_buffer("mem.yaml", "workers: 3\n", 11, &err);
	assert_non_null(cfg);
	assert_int_equal(cfg->workers, 3);
	char cwd[PATH_MAX], want[PATH_MAX + 8];
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	snprintf(want, sizeof(want), "%s/var", cwd);
	assert_string_equal(cfg->state.path, want);
	sk_config_free(cfg);
	sk_config_free(NULL);
}

/* ---- the check-config subcommand ------------------------------------------------------------- */

/* Runs sk_cli_check_config with stdout and stderr captured into files; returns its exit code. */
static int run_check(int argc, char **argv, char *out, size_t out_cap, char *errs, size_t err_cap)
{
	fflush(stdout);
	fflush(stderr);
	int so = dup(1), se = dup(2);
	char op[PATH_MAX * 2], ep[PATH_MAX * 2];
	snprintf(op, sizeof(op), "%s/out.txt", tmpdir);
	snprintf(ep, sizeof(ep), "%s/err.txt", tmpdir);
	int fo = open(op, O_WRONLY | O_CREAT | O_TRUNC, 0600), fe = open(ep, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	dup2(fo, 1);
	dup2(fe, 2);
	close(fo);
	close(fe);
	int rc = sk_cli_check_config(argc, argv);
	fflush(stdout);
	fflush(stderr);
	dup2(so, 1);
	dup2(se, 2);
	close(so);
	close(se);
	FILE *f = fopen(op, "r");
	size_t n = fread(out, 1, out_cap - 1, f);
	out[n] = '\0';
	fclose(f);
	f = fopen(ep, "r");
	n = fread(errs, 1, err_cap - 1, f);
	errs[n] = '\0';
	fclose(f);
	return rc;
}

static void test_jwt_issuers(void **state)
{
	struct sk_config *cfg = load_ok("jwt:\n"
					"  issuers:\n"
					"    - issuer: https://idp.test\n"
					"      audiences: [intranet]\n"
					"      jwks: ./idp.json\n"
					"      algorithms: [ES256, HS256]\n"
					"      leeway: 30s\n"
					"      max_lifetime: 1h\n"
					"      groups_claim: groups\n"
					"      headers: { email: X-User-Email }\n"
					"      policies: [p]\n"
					"    - { issuer: other, audiences: [a, b], jwks_url: \"https://idp.test/jwks\", forward_token: true }\n"
					"origins: { o: { servers: [\"127.0.0.1:1\"] } }\n"
					"distributions:\n"
					"  - { name: d, aliases: [x.example], behaviors: [ { path: \"*\", origin: o, access: { auth: [jwt] } } ] }\n");
	assert_int_equal(cfg->jwt.n_issuers, 2);
	const struct sk_jwt_issuer *a = &cfg->jwt.issuers[0], *b = &cfg->jwt.issuers[1];
	assert_string_equal(a->issuer, "https://idp.test");
	assert_non_null(strstr(a->jwks, "/idp.json"));
	assert_int_equal(a->jwks[0], '/');
	assert_int_equal(a->jwks_pos.line, 5);
	assert_int_equal(a->algorithms.n, 2);
	assert_int_equal(a->leeway_ms, 30000);
	assert_int_equal(a->max_lifetime_ms, 3600000);
	assert_string_equal(a->user_claim, "sub");
	assert_string_equal(a->groups_claim, "groups");
	assert_int_equal(a->n_claim_headers, 1);
	assert_string_equal(a->claim_headers[0].claim, "email");
	assert_string_equal(a->claim_headers[0].header, "X-User-Email");
	assert_false(a->forward_token);
	assert_null(b->jwks);
	assert_string_equal(b->jwks_url, "https://idp.test/jwks");
	assert_true(b->forward_token);
	assert_int_equal(b->leeway_ms, 60000);
	assert_int_equal(b->max_lifetime_ms, 24 * 3600000ULL);
	assert_int_equal(b->algorithms.n, 5); /* every public-key algorithm, not HS256 */
	for (size_t i = 0; i < b->algorithms.n; i++)
		assert_string_not_equal(b->algorithms.items[i], "HS256");
	assert_int_equal(cfg->distributions[0].behaviors[0].access.auth[0], SK_AUTH_JWT);
	sk_config_free(cfg);

	expect_err("jwt: { issuers: [ { issuer: i, audiences: [a] } ] }\n", 1, 19, "exactly one of 'jwks'");
	expect_err("jwt: { issuers: [ { issuer: i, audiences: [a], jwks: k, jwks_url: \"https://x/\" } ] }\n", 1, 57,
		   "exactly one of");
	expect_err("jwt: { issuers: [ { issuer: i, jwks: k } ] }\n", 1, 19, "needs 'audiences'");
	expect_err("jwt: { issuers: [ { issuer: i, audiences: [], jwks: k } ] }\n", 1, 43, "at least one audience");
	expect_err("jwt: { issuers: [ { issuer: i, audiences: [a], jwks: k, algorithms: [none] } ] }\n", 1, 70,
		   "'none' is never accepted");
	expect_err("jwt: { issuers: [ { issuer: i, audiences: [a], jwks_url: \"https://x/\", algorithms: [HS256] } ] }\n",
		   1, 84, "never fetched");
	expect_err("jwt: { issuers: [ { issuer: i, audiences: [a], jwks_url: \"ftp://x/\" } ] }\n", 1, 58,
		   "http:// or https://");
	expect_err("jwt: { issuers: [ { issuer: i, audiences: [a], jwks: k, headers: { sub: X-Auth-User } } ] }\n",
		   1, 73, "sets or strips");
	expect_err("jwt: { issuers: [ { issuer: i, audiences: [a], jwks: k, leeway: 2h } ] }\n", 1, 65, "over 1h");
	expect_err("jwt: { issuers: [ { issuer: i, audiences: [a], jwks: k }, { issuer: i, audiences: [a], jwks: k } ] }\n",
		   1, 69, "listed twice");
	expect_err("jwt: { issuers: [ { issuer: i, audiences: [a], jwks: k, jku: x } ] }\n", 1, 57, "jku");
	expect_err("jwt: { issuers: [] }\n", 1, 6, "at least one issuer");
	expect_err("origins: { o: { servers: [\"127.0.0.1:1\"] } }\n"
		   "distributions:\n"
		   "  - { name: d, aliases: [x.example], behaviors: [ { path: \"*\", origin: o, access: { auth: [jwt] } } ] }\n",
		   3, 92, "needs 'jwt: { issuers");
}

/* A config that serves nothing loads (the CLI tools read such files for their paths) but is not served. */
static void test_nothing_to_serve(void **state)
{
	struct sk_err err = { 0 };
	struct sk_config *cfg = load_ok("workers: 2\nadmin: { listen: \"127.0.0.1:9\" }\n");
	assert_int_equal(sk_config_check_serves(cfg, &err), -1);
	assert_string_equal(err.file, cfgpath);
	assert_int_equal(err.line, 1);
	assert_int_equal(err.col, 1);
	assert_non_null(strstr(err.msg, "nothing to serve: the configuration has no listeners"));
	sk_config_free(cfg);
	cfg = load_ok("listeners: [ { name: w, listen: \"127.0.0.1:1\" } ]\n");
	memset(&err, 0, sizeof(err));
	assert_int_equal(sk_config_check_serves(cfg, &err), 0);
	assert_int_equal(err.line, 0);
	sk_config_free(cfg);
}

/* A watched users file changed: the snapshot is rebuilt from the text in service, not the edited file. */
static void test_reread_uses_the_text_in_service(void **state)
{
	struct sk_config *cfg = load_ok("workers: 3\nusers: { file: ./users.yaml }\n");
	write_file("sekisho.yaml", "workers: 5\n"); /* edited, not yet applied with SIGHUP */
	struct sk_err err = { 0 };
	struct sk_config *again = sk_config_reread(cfg, &err);
	assert_non_null(again);
	assert_int_equal(again->workers, 3);
	assert_string_equal(again->users.file, in_tmp("users.yaml"));
	assert_int_equal(again->users.pos.line, 2);
	assert_int_equal(again->users.pos.col, 16);
	assert_string_equal(again->path, cfg->path);
	sk_config_free(again);
	sk_config_free(cfg);
}

static void test_check_config_cli(void **state)
{
	char out[4096], errs[4096], want[4096];
	static const char serving[] = "workers: 2\n"
				      "listeners: [ { name: w, listen: \"127.0.0.1:1\" } ]\n";
	write_file("sekisho.yaml", serving);
	char *ok_args[] = { "-c", cfgpath, NULL };
	assert_int_equal(run_check(2, ok_args, out, sizeof(out), errs, sizeof(errs)), 0);
	assert_string_equal(out, "configuration OK\n");
	assert_string_equal(errs, "");

	/* A config that serves nothing is read by the CLI tools, but refused by check-config (and run). */
	write_file("sekisho.yaml", "workers: 2\n");
	assert_int_equal(run_check(2, ok_args, out, sizeof(out), errs, sizeof(errs)), 1);
	snprintf(want, sizeof(want), "%s:1:1: nothing to serve: the configuration has no listeners (add one under "
		 "'listeners:')\n", cfgpath);
	assert_string_equal(errs, want);

	/* Files the config names are read as run reads them; the error points at the key that names them. */
	write_file("sekisho.yaml", "workers: 2\n"
				   "users:\n"
				   "  file: ./nobody.yaml\n"
				   "listeners: [ { name: w, listen: \"127.0.0.1:1\" } ]\n");
	assert_int_equal(run_check(2, ok_args, out, sizeof(out), errs, sizeof(errs)), 1);
	snprintf(want, sizeof(want), "%s:3:9: users.file: %s: cannot read: No such file or directory\n", cfgpath,
		 in_tmp("nobody.yaml"));
	assert_string_equal(errs, want);
	write_file("sekisho.yaml", "workers: 2\n"
				   "listeners: [ { name: w, listen: \"127.0.0.1:1\" } ]\n"
				   "api_keys: { file: keys.yaml }\n");
	assert_int_equal(run_check(2, ok_args, out, sizeof(out), errs, sizeof(errs)), 1);
	snprintf(want, sizeof(want), "%s:3:19: api_keys.file: %s: cannot read: No such file or directory\n", cfgpath,
		 in_tmp("keys.yaml"));
	assert_string_equal(errs, want);

	write_file("sekisho.yaml", "workers: 2\nlisteners:\n  - { name: w, listen: nowhere }\n");
	assert_int_equal(run_check(2, ok_args, out, sizeof(out), errs, sizeof(errs)), 1);
	assert_string_equal(out, "");
	snprintf(want, sizeof(want),
		 "%s:3:24: 'listen' must be an address such as 0.0.0.0:8443 or [::]:8443, not 'nowhere'\n", cfgpath);
	assert_string_equal(errs, want);

	write_file("sekisho.yaml", "a: [\n");
	assert_int_equal(run_check(2, ok_args, out, sizeof(out), errs, sizeof(errs)), 1);
	snprintf(want, sizeof(want), "%s:2:1: ", cfgpath);
	assert_memory_equal(errs, want, strlen(want));

	char eq[PATH_MAX * 2];
	snprintf(eq, sizeof(eq), "--config=%s", cfgpath);
	write_file("sekisho.yaml", serving);
	char *eq_args[] = { eq, NULL };
	assert_int_equal(run_check(1, eq_args, out, sizeof(out), errs, sizeof(errs)), 0);

	char *no_args[] = { NULL };
	assert_int_equal(run_check(0, no_args, out, sizeof(out), errs, sizeof(errs)), 2);
	assert_non_null(strstr(errs, "usage: sekisho check-config -c FILE"));
	char *dangling[] = { "-c", NULL };
	assert_int_equal(run_check(1, dangling, out, sizeof(out), errs, sizeof(errs)), 2);
	char *extra[] = { "-c", cfgpath, "--bogus", NULL };
	assert_int_equal(run_check(3, extra, out, sizeof(out), errs, sizeof(errs)), 2);

	char missing[1024];
	snprintf(missing, sizeof(missing), "%s/nope.yaml", tmpdir);
	char *missing_args[] = { "-c", missing, NULL };
	assert_int_equal(run_check(2, missing_args, out, sizeof(out), errs, sizeof(errs)), 1);
	snprintf(want, sizeof(want), "%s: cannot open: No such file or directory\n", missing);
	assert_string_equal(errs, want);
}

/* `policies: { name: FILE }`, `groups: { g: { policies: [...] } }` and `access.policy: true | audit`. */
static void test_policies_and_groups(void **state)
{
	(void)state;
	struct sk_config *cfg = load_ok("policies: { read: ./p/read.json, admin: /etc/sk/admin.json }\n"
					"groups: { admins: { policies: [admin, read] }, empty: {} }\n"
					"users: { file: users.yaml }\n"
					"origins: { app: { servers: [\"127.0.0.1:1\"] } }\n"
					"distributions:\n"
					"  - name: d\n"
					"    aliases: [a.test]\n"
					"    behaviors:\n"
					"      - { path: /a/*, origin: app, access: { auth: [basic], policy: true } }\n"
					"      - { path: /b/*, origin: app, access: { auth: [basic], policy: audit } }\n"
					"      - { path: \"*\", origin: app, access: { auth: [basic], policy: false } }\n");
	assert_int_equal(cfg->n_policies, 2);
	assert_string_equal(cfg->policies[0].name, "read");
	char want[4200];
	snprintf(want, sizeof(want), "%s/p/read.json", tmpdir);
	assert_string_equal(cfg->policies[0].file, want);
	assert_string_equal(cfg->policies[1].file, "/etc/sk/admin.json");
	assert_int_equal(cfg->policies[0].pos.line, 1);
	assert_int_equal(cfg->n_groups, 2);
	const struct sk_group *g = sk_config_group(cfg, "admins");
	assert_non_null(g);
	assert_int_equal(g->policies.n, 2);
	assert_string_equal(g->policies.items[0], "admin");
	assert_int_equal(sk_config_group(cfg, "empty")->policies.n, 0);
	assert_null(sk_config_group(cfg, "nobody"));
	assert_ptr_equal(sk_config_policy(cfg, "admin"), &cfg->policies[1]);
	const struct sk_behavior *b = cfg->distributions[0].behaviors;
	assert_int_equal(b[0].access.policy, SK_POLICY_ENFORCE);
	assert_int_equal(b[1].access.policy, SK_POLICY_AUDIT);
	assert_int_equal(b[2].access.policy, SK_POLICY_OFF);
	sk_config_free(cfg);

	expect_err("policies: { read: ./r.json }\ngroups: { g: { policies: [write] } }\n", 2, 27,
		   "no policy named 'write' in 'policies'");
	expect_err("policies: { \"bad name\": ./r.json }\n", 1, 13, "invalid policy name");
	expect_err("policies: { read: [a] }\n", 1, 19, "policy 'read' must be a string");
	expect_err("policies: [a]\n", 1, 11, "'policies' must be a mapping");
	expect_err("groups: { g: { policy: [a] } }\n", 1, 16, "unknown key 'policy' in group 'g'");
	expect_err("groups: { g: [a] }\n", 1, 14, "group 'g' must be a mapping");
}

/* DESIGN §5a: egress entries, their defaults, and a config that serves only egress. */
static void test_egress(void **state)
{
	struct sk_config *cfg = load_ok("ip_sets: { office: [10.1.0.0/16] }\n"
					"users: { file: ./users.yaml }\n"
					"egress:\n"
					"  - name: out\n"
					"    listen: \"127.0.0.1:3128\"\n"
					"    allow: [\"API.Example.COM.\", \"*.debian.org:80,443,80\", \"x_y.example.net:8080\"]\n"
					"    allow_ips: [127.0.0.0/8, \"2001:db8::/32\"]\n"
					"    access: { ip: { allow: [office] }, auth: [basic], realm: proxy }\n"
					"    dns: { servers: [\"127.0.0.1:5353\", 10.0.0.2, \"::1\", \"[::1]:54\"], timeout: 2s }\n"
					"    idle_timeout: 90s\n"
					"  - { name: two, listen: \"[::1]:3129\", allow: [a.example] }\n");
	assert_int_equal(cfg->n_listeners, 0);
	assert_int_equal(cfg->n_egress, 2);
	const struct sk_egress *e = &cfg->egress[0];
	assert_string_equal(e->name, "out");
	assert_int_equal(e->pos.line, 4);
	assert_string_equal(e->listen.text, "127.0.0.1:3128");
	assert_int_equal(e->n_allow, 3);
	assert_string_equal(e->allow[0].host, "api.example.com");
	assert_int_equal(e->allow[0].n_ports, 1);
	assert_int_equal(e->allow[0].ports[0], 443);
	assert_string_equal(e->allow[1].host, "*.debian.org");
	assert_int_equal(e->allow[1].n_ports, 2);
	assert_int_equal(e->allow[1].ports[0], 80);
	assert_int_equal(e->allow[1].ports[1], 443);
	assert_string_equal(e->allow[2].host, "x_y.example.net");
	assert_int_equal(e->allow[2].ports[0], 8080);
	assert_int_equal(e->allow_ips.n, 2);
	assert_cidr(&e->allow_ips.items[0], AF_INET, "127.0.0.0", 8);
	assert_cidr(&e->allow_ips.items[1], AF_INET6, "2001:db8::", 32);
	assert_true(e->access.present);
	assert_int_equal(e->access.n_auth, 1);
	assert_int_equal(e->access.auth[0], SK_AUTH_BASIC);
	assert_string_equal(e->access.realm, "proxy");
	assert_int_equal(e->access.ip_allow.n, 1);
	assert_int_equal(e->n_dns_servers, 4);
	assert_string_equal(e->dns_servers[0].text, "127.0.0.1:5353");
	assert_string_equal(e->dns_servers[1].text, "10.0.0.2:53");
	assert_string_equal(e->dns_servers[2].text, "[::1]:53");
	assert_int_equal(ntohs(((struct sockaddr_in6 *)&e->dns_servers[3].ss)->sin6_port), 54);
	assert_int_equal(e->dns_timeout_ms, 2000);
	assert_int_equal(e->idle_timeout_ms, 90000);
	e = &cfg->egress[1];
	assert_false(e->access.present);
	assert_int_equal(e->n_dns_servers, 0);
	assert_int_equal(e->dns_timeout_ms, 5000);
	assert_int_equal(e->idle_timeout_ms, 3600 * 1000);
	struct sk_err err = { 0 };
	assert_int_equal(sk_config_check_serves(cfg, &err), 0);
	sk_config_free(cfg);

	/* check-config: an egress-only config is OK; a bad entry is file:line:col. */
	char out[4096], errs[4096], want[4096];
	char *args[] = { "-c", cfgpath, NULL };
	write_file("sekisho.yaml", "egress: [ { name: out, listen: \"127.0.0.1:3128\", allow: [a.example] } ]\n");
	assert_int_equal(run_check(2, args, out, sizeof(out), errs, sizeof(errs)), 0);
	assert_string_equal(out, "configuration OK\n");
	write_file("sekisho.yaml", "egress:\n  - name: out\n    listen: \"127.0.0.1:3128\"\n    allow: [\"*.deb.*\"]\n");
	assert_int_equal(run_check(2, args, out, sizeof(out), errs, sizeof(errs)), 1);
	snprintf(want, sizeof(want), "%s:4:13: allow entry '*.deb.*': a wildcard is only allowed as a whole leading "
		 "label, as in \"*.example.com\"\n", cfgpath);
	assert_string_equal(errs, want);
}

/* The 1-based column of the first `tok` on line `line` of yaml (the test fails when it is not there). */
static int col_of(const char *yaml, int line, const char *tok)
{
	const char *p = yaml;
	for (int i = 1; i < line && p; i++) {
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	assert_non_null(p);
	const char *hit = strstr(p, tok);
	const char *eol = strchr(p, '\n');
	assert_true(hit && (!eol || hit < eol));
	return (int)(hit - p) + 1;
}
#define expect_err_tok(yaml, line, tok, sub) expect_err_at(__LINE__, yaml, line, col_of(yaml, line, tok), sub)

/* Every malformed egress entry is an error at the value that is wrong. */
static void test_egress_errors(void **state)
{
#define EG(line) "egress:\n  - { name: out, listen: \"127.0.0.1:3128\", " line " }\n"
	static const struct {
		const char *yaml, *tok, *sub;
	} cases[] = {
		{ EG("allow: [\"a.example:0\"]"), "\"a.example:0", "ports must be numbers from 1 to 65535" },
		{ EG("allow: [\"a.example:65536\"]"), "\"a.example", "ports must be numbers from 1 to 65535" },
		{ EG("allow: [\"a.example:80,\"]"), "\"a.example", "ports must be numbers" },
		{ EG("allow: [\"a.example:http\"]"), "\"a.example", "ports must be numbers" },
		{ EG("allow: [\"a.example/path\"]"), "\"a.example", "not a URL or a path" },
		{ EG("allow: [\"http://a.example\"]"), "\"http:", "not a URL or a path" },
		{ EG("allow: [\"user@a.example\"]"), "\"user@", "without userinfo" },
		{ EG("allow: [\"api.*.example\"]"), "\"api.", "a wildcard is only allowed as a whole leading label" },
		{ EG("allow: [\"*api.example\"]"), "\"*api", "a wildcard is only allowed as a whole leading label" },
		{ EG("allow: [\"a.example*\"]"), "\"a.example", "a wildcard is only allowed as a whole leading label" },
		{ EG("allow: [\"*\"]"), "\"*\"", "a bare '*' would allow every destination" },
		{ EG("allow: [\"*:443\"]"), "\"*:", "a bare '*' would allow every destination" },
		{ EG("allow: [\"127.0.0.1:80\"]"), "\"127.0.0.1:80", "is an IP address: put addresses in 'allow_ips'" },
		{ EG("allow: [\"0x7f.1\"]"), "\"0x7f", "is an IP address" },
		{ EG("allow: [\"2130706433:443\"]"), "\"2130706433", "is an IP address" },
		{ EG("allow: [\"[::1]:443\"]"), "\"[::1]", "is an IP address" },
		{ EG("allow: [\"[a.example]:443\"]"), "\"[a.", "is an IP address" },
		{ EG("allow: [\"b\xc3\xbc" "cher.example\"]"), "\"b", "punycode" },
		{ EG("allow: [\"a..example\"]"), "\"a..", "each label of a host name has 1 to 63 characters" },
		{ EG("allow: [\"a example\"]"), "\"a example", "letters, digits" },
		{ EG("allow: []"), "[]", "'allow' must name at least one host" },
		{ "egress:\n  - { name: out, listen: \"127.0.0.1:3128\" }\n", "{", "egress 'out' needs 'allow'" },
		{ EG("allow: [a.example], allow_ips: [10.0.0.0/33]"), "10.0.0.0/33", "invalid CIDR '10.0.0.0/33'" },
		{ EG("allow: [a.example], allow_ips: [\"10.0.0.x\"]"), "\"10.0.0.x", "invalid CIDR" },
		{ EG("allow: [a.example], dns: { servers: [\"dns.google:53\"] }"), "\"dns.google",
		  "invalid DNS server 'dns.google:53'" },
		{ EG("allow: [a.example], dns: { servers: [\"127.0.0.1:0\"] }"), "\"127.0.0.1:0", "invalid DNS server" },
		{ EG("allow: [a.example], dns: { servers: [\"0.0.0.0:53\"] }"), "\"0.0.0.0", "invalid DNS server" },
		{ EG("allow: [a.example], dns: { timeout: 0s }"), "0s", "'timeout' of 'dns' must be from 1ms to 60s" },
		{ EG("allow: [a.example], dns: { port: 53 }"), "port", "unknown key 'port'" },
		{ EG("allow: [a.example], idle_timeout: soon"), "soon", "'idle_timeout' must be a duration" },
		{ EG("allow: [a.example], idle_timeout: 0s"), "0s", "'idle_timeout' must be more than 0" },
		{ EG("allow: [a.example], path: /x"), "path", "unknown key 'path'" },
		{ EG("allow: [a.example], access: { auth: [session] }"), "session", "needs users" },
		{ EG("allow: [a.example], access: { ip: { allow: [nowhere] } }"), "nowhere", "nowhere" },
		{ "egress:\n  - { name: \"bad name\", listen: \"127.0.0.1:3128\", allow: [a.example] }\n", "\"bad",
		  "invalid egress name" },
		{ "egress:\n  - { name: out, listen: \"proxy:3128\", allow: [a.example] }\n", "\"proxy",
		  "'listen' must be an address" },
		{ "egress: { name: out }\n", "{", "'egress' must be a list" },
	};
	for (size_t i = 0; i < SK_ARRAY_LEN(cases); i++) {
		/* Each case is on line 2, but for the one that is not a list at all. */
		int line = strncmp(cases[i].yaml, "egress: {", 9) == 0 ? 1 : 2;
		print_message("case %zu\n", i);
		expect_err_at(__LINE__, cases[i].yaml, line, col_of(cases[i].yaml, line, cases[i].tok), cases[i].sub);
	}
	/* Errors that need a line before or after the entry. */
	const char *y;
	y = "users: { file: ./u.yaml }\n" EG("allow: [a.example], access: { auth: [session] }");
	expect_err_tok(y, 3, "[session", "an egress listener takes auth basic only");
	y = "users: { file: ./u.yaml }\n" EG("allow: [a.example], access: { auth: [basic], mfa: required }");
	expect_err_tok(y, 3, "mfa", "'mfa' is not available on an egress listener");
	y = "users: { file: ./u.yaml }\n" EG("allow: [a.example], access: { auth: [basic], policy: true }");
	expect_err_tok(y, 3, "policy", "'policy' is not available on an egress listener");
	y = "egress:\n  - { name: out, listen: \"127.0.0.1:3128\", allow: [a.example] }\n"
	    "  - { name: out, listen: \"127.0.0.1:3129\", allow: [a.example] }\n";
	expect_err_tok(y, 3, "out", "duplicate egress name 'out' (first at line 2, column 13)");
	y = "egress:\n  - { name: out, listen: \"127.0.0.1:3128\", allow: [a.example] }\n"
	    "  - { name: o2, listen: \"127.0.0.1:3128\", allow: [a.example] }\n";
	expect_err_tok(y, 3, "\"127", "address 127.0.0.1:3128 is already used by egress 'out'");
	y = "listeners: [ { name: web, listen: \"127.0.0.1:3128\" } ]\n"
	    "egress:\n  - { name: web, listen: \"127.0.0.1:3129\", allow: [a.example] }\n";
	expect_err_tok(y, 3, "web", "egress name 'web' is already a listener's");
	y = "listeners: [ { name: web, listen: \"127.0.0.1:3128\" } ]\n"
	    "egress:\n  - { name: out, listen: \"127.0.0.1:3128\", allow: [a.example] }\n";
	expect_err_tok(y, 3, "\"127", "address 127.0.0.1:3128 is already used by listener 'web'");
	y = "admin: { listen: \"127.0.0.1:9901\" }\n"
	    "egress:\n  - { name: out, listen: \"127.0.0.1:9901\", allow: [a.example] }\n";
	expect_err_tok(y, 3, "\"127", "already used by 'admin'");
#undef EG
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_design_example, setup, teardown),
		cmocka_unit_test_setup_teardown(test_defaults_empty, setup, teardown),
		cmocka_unit_test_setup_teardown(test_defaults_sections, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_keys, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_types, setup, teardown),
		cmocka_unit_test_setup_teardown(test_yaml_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dangling_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_required_and_empty, setup, teardown),
		cmocka_unit_test_setup_teardown(test_origins, setup, teardown),
		cmocka_unit_test_setup_teardown(test_duplicate_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_aliases, setup, teardown),
		cmocka_unit_test_setup_teardown(test_duplicate_alias, setup, teardown),
		cmocka_unit_test_setup_teardown(test_durations, setup, teardown),
		cmocka_unit_test(test_addr_parse),
		cmocka_unit_test(test_cidr_parse),
		cmocka_unit_test_setup_teardown(test_env_expansion, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ip_set_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_relative_paths, setup, teardown),
		cmocka_unit_test_setup_teardown(test_acl, setup, teardown),
		cmocka_unit_test_setup_teardown(test_state_max_size, setup, teardown),
		cmocka_unit_test_setup_teardown(test_behaviors_and_access, setup, teardown),
		cmocka_unit_test_setup_teardown(test_yaml_aliases_expand, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_failures, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nothing_to_serve, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reread_uses_the_text_in_service, setup, teardown),
		cmocka_unit_test_setup_teardown(test_check_config_cli, setup, teardown),
		cmocka_unit_test_setup_teardown(test_jwt_issuers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_policies_and_groups, setup, teardown),
		cmocka_unit_test_setup_teardown(test_http2_keys, setup, teardown),
		cmocka_unit_test_setup_teardown(test_egress, setup, teardown),
		cmocka_unit_test_setup_teardown(test_egress_errors, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
