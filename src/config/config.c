/*
 * config.c — loading entry points, defaults, freeing and name lookups of struct sk_config (config.h).
 *
 * A load reads the file, builds the positioned YAML tree (yaml.c), fills the documented defaults, then
 * reads the sections in dependency order (certificates and ip_sets, origins, listeners, distributions),
 * so that every reference is checked against sections already read. The first problem stops the load
 * and is returned as one sk_err; a half-built config is freed with the same sk_config_free.
 * Invariants: nothing is printed; relative paths are made absolute against the config file's
 * directory; the result does not change after loading.
 */
#include "config/config_int.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A config file (inline sets included) larger than this is a mistake, not a configuration. */
#define MAX_CONFIG_BYTES (64u << 20)

static const char *const top_keys[] = {
	"workers", "state", "admin", "access_log", "flow_log", "trusted_proxies", "geoip", "users",
	"api_keys", "jwt", "totp", "session", "lockout", "ban", "limits", "timeouts", "certificates", "ip_sets",
	"policies", "groups", "listeners", "origins", "distributions", "egress", NULL,
};

static void set_defaults(struct sk_cfg_ctx *c, struct sk_config *cfg)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	cfg->workers = cpus < 1 ? 1 : cpus > 256 ? 256 : (unsigned)cpus;
	cfg->state.path = sk_cfg_resolve(c, "./var");
	cfg->state.max_size = 1ULL << 30;
	cfg->access_log.path = sk_strdup("-");
	cfg->flow_log.interval_ms = 600 * 1000;
	cfg->flow_log.account_id = sk_strdup("000000000000");
	cfg->totp.issuer = sk_strdup("sekisho");
	cfg->totp.skew = 1;
	cfg->session.idle_ms = 30 * 60 * 1000;
	cfg->session.absolute_ms = 12 * 3600 * 1000;
	cfg->lockout.deny = 3;
	cfg->lockout.unlock_time_ms = 15 * 60 * 1000;
	cfg->ban.max_retry = 10;
	cfg->ban.find_time_ms = 10 * 60 * 1000;
	cfg->ban.ban_time_ms = 3600 * 1000;
	cfg->limits.request_line = 8192;
	cfg->limits.header_block = 16384;
	cfg->limits.header_fields = 100;
	cfg->limits.h2.max_concurrent_streams = 100;
	cfg->limits.h2.max_header_list = 16384;
	cfg->limits.h2.max_requests_per_connection = 1000;
	cfg->timeouts.header_read_ms = 10 * 1000;
	cfg->timeouts.keepalive_ms = 60 * 1000;
	cfg->timeouts.send_ms = 60 * 1000;
}

/* The absolute directory of the config file; the current directory when name has no directory part. */
static char *config_dir(const char *name)
{
	char *copy = sk_strdup(name);
	const char *d = strchr(name, '/') ? dirname(copy) : ".";
	char *abs = realpath(d, NULL);
	if (!abs) {
		/* The directory of a memory-only document may not exist: fall back to the current one. */
		abs = realpath(".", NULL);
		if (!abs)
			abs = sk_strdup("/");
	}
	free(copy);
	return abs;
}

struct sk_config *sk_config_load_buffer(const char *name, const char *buf, size_t len, struct sk_err *err)
{
	struct sk_config *cfg = sk_calloc(1, sizeof(*cfg));
	struct sk_cnode *root = NULL;
	struct sk_cfg_ctx c = { .file = name, .dir = config_dir(name), .err = err, .cfg = cfg };
	int rc = -1;

	cfg->path = sk_strdup(name);
	cfg->source = sk_malloc(len + 1);
	if (len)
		memcpy(cfg->source, buf, len);
	cfg->source[len] = '\0';
	cfg->source_len = len;
	set_defaults(&c, cfg);
	if (sk_cfg_yaml_parse(name, buf, len, &root, err) == -1)
		goto out;
	if (root->type != SK_CN_MAP) {
		char d[64];
		sk_cfg_fail(&c, root, "the configuration must be a mapping, not %s", sk_cfg_describe(root, d, sizeof(d)));
		goto out;
	}
	if (sk_cfg_check_keys(&c, root, top_keys, "at the top level") == -1)
		goto out;
	if (sk_cfg_globals(&c, root) == -1 || sk_cfg_jwt(&c, root) == -1 || sk_cfg_certificates(&c, root) == -1 || sk_cfg_ip_sets(&c, root) == -1 ||
	    sk_cfg_policies(&c, root) == -1 ||
	    sk_cfg_origins(&c, root) == -1 || sk_cfg_listeners(&c, root) == -1 ||
	    sk_cfg_distributions(&c, root) == -1 || sk_cfg_admin_access(&c, root) == -1 || sk_cfg_egress(&c, root) == -1)
		goto out;
	rc = 0;
out:
	sk_cfg_node_free(root);
	free(c.dir);
	if (rc == -1) {
		sk_config_free(cfg);
		return NULL;
	}
	return cfg;
}

struct sk_config *sk_config_load(const char *path, struct sk_err *err)
{
	struct sk_config *cfg = NULL;
	char *buf = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1) {
		sk_err_set(err, path, 0, 0, "cannot open: %s", strerror(errno));
		goto out;
	}
	struct stat st;
	if (fstat(fd, &st) == -1) {
		sk_err_set(err, path, 0, 0, "cannot stat: %s", strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		sk_err_set(err, path, 0, 0, "not a regular file");
		goto out;
	}
	if ((uint64_t)st.st_size > MAX_CONFIG_BYTES) {
		sk_err_set(err, path, 0, 0, "file too large (more than %u MiB)", MAX_CONFIG_BYTES >> 20);
		goto out;
	}
	size_t len = 0, cap = (size_t)st.st_size + 1;
	buf = sk_malloc(cap);
	for (;;) {
		if (len == cap) {
			if (cap > MAX_CONFIG_BYTES) {
				sk_err_set(err, path, 0, 0, "file too large (more than %u MiB)", MAX_CONFIG_BYTES >> 20);
				goto out;
			}
			cap *= 2;
			buf = sk_realloc(buf, cap);
		}
		ssize_t r = read(fd, buf + len, cap - len);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			sk_err_set(err, path, 0, 0, "cannot read: %s", strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	cfg = sk_config_load_buffer(path, buf, len, err);
out:
	if (fd != -1)
		close(fd);
	free(buf);
	return cfg;
}

int sk_config_check_serves(const struct sk_config *cfg, struct sk_err *err)
{
	if (cfg->n_listeners > 0 || cfg->n_egress > 0)
		return 0;
	return sk_err_set(err, cfg->path, 1, 1,
			  "nothing to serve: the configuration has no listeners (add one under 'listeners:')");
}

struct sk_config *sk_config_reread(const struct sk_config *cfg, struct sk_err *err)
{
	return sk_config_load_buffer(cfg->path, cfg->source, cfg->source_len, err);
}

static void free_access(struct sk_access *a)
{
	sk_cfg_strlist_free(&a->ip_allow);
	sk_cfg_strlist_free(&a->ip_deny);
	sk_cfg_strlist_free(&a->geo_allow);
	sk_cfg_strlist_free(&a->geo_deny);
	free(a->auth);
	free(a->realm);
	sk_cfg_strlist_free(&a->groups);
}

void sk_config_free(struct sk_config *cfg)
{
	if (!cfg)
		return;
	free(cfg->path);
	free(cfg->source);
	free(cfg->state.path);
	free(cfg->state.redis);
	free(cfg->access_log.path);
	free(cfg->flow_log.path);
	free(cfg->flow_log.account_id);
	free(cfg->trusted_proxies.items);
	free(cfg->trusted_proxies.pos);
	free(cfg->geoip.database);
	free(cfg->users.file);
	free(cfg->users.htpasswd);
	free(cfg->api_keys.file);
	sk_cfg_jwt_free(cfg);
	free(cfg->totp.issuer);
	free(cfg->totp.key_file);
	free(cfg->session.key_file);

	for (size_t i = 0; i < cfg->n_certificates; i++) {
		struct sk_certificate *ct = &cfg->certificates[i];
		free(ct->name);
		free(ct->cert);
		free(ct->key);
		free(ct->chain);
	}
	free(cfg->certificates);

	for (size_t i = 0; i < cfg->n_ip_sets; i++) {
		struct sk_ip_set *s = &cfg->ip_sets[i];
		free(s->name);
		free(s->file);
		free(s->cidrs.items);
		free(s->cidrs.pos);
	}
	free(cfg->ip_sets);

	for (size_t i = 0; i < cfg->n_policies; i++) {
		free(cfg->policies[i].name);
		free(cfg->policies[i].file);
	}
	free(cfg->policies);
	for (size_t i = 0; i < cfg->n_groups; i++) {
		free(cfg->groups[i].name);
		sk_cfg_strlist_free(&cfg->groups[i].policies);
	}
	free(cfg->groups);

	for (size_t i = 0; i < cfg->n_listeners; i++) {
		struct sk_listener *l = &cfg->listeners[i];
		free(l->name);
		free(l->origin);
		free(l->acl);
		sk_cfg_strlist_free(&l->tls.certificates);
		free(l->tls.ciphers);
		free(l->tls.client_ca);
	}
	free(cfg->listeners);

	for (size_t i = 0; i < cfg->n_origins; i++) {
		struct sk_origin *o = &cfg->origins[i];
		free(o->name);
		free(o->servers);
		free(o->host);
		for (size_t h = 0; h < o->n_headers; h++) {
			free(o->headers[h].name);
			free(o->headers[h].value);
		}
		free(o->headers);
		free(o->root);
		free(o->tls.ca);
		free(o->tls.server_name);
	}
	free(cfg->origins);

	for (size_t i = 0; i < cfg->n_distributions; i++) {
		struct sk_distribution *d = &cfg->distributions[i];
		free(d->name);
		sk_cfg_strlist_free(&d->aliases);
		sk_cfg_strlist_free(&d->listeners);
		for (size_t b = 0; b < d->n_behaviors; b++) {
			struct sk_behavior *bh = &d->behaviors[b];
			free(bh->path);
			free(bh->origin);
			sk_cfg_strlist_free(&bh->forward_headers);
			free_access(&bh->access);
		}
		free(d->behaviors);
	}
	free(cfg->distributions);
	free_access(&cfg->admin.access);
	sk_cfg_egress_free(cfg);
	free(cfg);
}

void sk_cfg_access_free(struct sk_access *a)
{
	free_access(a);
}

const struct sk_origin *sk_config_origin(const struct sk_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->n_origins; i++)
		if (cfg->origins[i].name && strcmp(cfg->origins[i].name, name) == 0)
			return &cfg->origins[i];
	return NULL;
}

const struct sk_ip_set *sk_config_ip_set(const struct sk_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->n_ip_sets; i++)
		if (cfg->ip_sets[i].name && strcmp(cfg->ip_sets[i].name, name) == 0)
			return &cfg->ip_sets[i];
	return NULL;
}

const struct sk_certificate *sk_config_certificate(const struct sk_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->n_certificates; i++)
		if (cfg->certificates[i].name && strcmp(cfg->certificates[i].name, name) == 0)
			return &cfg->certificates[i];
	return NULL;
}

const struct sk_policy_file *sk_config_policy(const struct sk_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->n_policies; i++)
		if (cfg->policies[i].name && strcmp(cfg->policies[i].name, name) == 0)
			return &cfg->policies[i];
	return NULL;
}

const struct sk_group *sk_config_group(const struct sk_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->n_groups; i++)
		if (cfg->groups[i].name && strcmp(cfg->groups[i].name, name) == 0)
			return &cfg->groups[i];
	return NULL;
}
