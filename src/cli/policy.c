/*
 * policy.c — `sekisho policy simulate` and `sekisho policy check` (DESIGN §6): the operator's answer to
 * "which statement applies to this request, and why".
 *
 * simulate loads the config's policies, users and API keys as a snapshot would, builds the request
 * context from the flags (the URL gives host, path, query and sk:SecureTransport; --context k=v sets or
 * overrides any condition key), evaluates with the same code as the access stage, and prints the
 * decision, then one line per statement of every attached policy. Exit 0 allow, 1 deny, 2 usage or
 * config error. check validates one document: "policy OK" (exit 0) or FILE:LINE:COL: message (exit 1).
 */
#include "cli/cli.h"

#include <arpa/inet.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "access/apikeys.h"
#include "access/users.h"
#include "config/config.h"
#include "core/core.h"
#include "policy/policy.h"
#include "proxy/route.h"

#define MAX_CONTEXT 64
#define MAX_GROUPS 64

static int usage(void)
{
	fprintf(stderr, "usage: sekisho policy simulate -c FILE (--user U [--groups a,b] | --key NAME) --method M "
			"--url URL [--ip IP] [--context k=v]...\n"
			"       sekisho policy check FILE\n");
	return 2;
}

static int print_err(const struct sk_err *err)
{
	char line[sizeof(err->file) + sizeof(err->msg) + 32];
	sk_err_format(err, line, sizeof(line));
	fprintf(stderr, "%s\n", line);
	return 2;
}

static int check(int argc, char **argv)
{
	if (argc != 1 || argv[0][0] == '-')
		return usage();
	struct sk_err err = { 0 };
	char *copy = sk_strdup(argv[0]);
	struct sk_policy *p = sk_policy_load(basename(copy), argv[0], &err);
	free(copy);
	if (!p) {
		print_err(&err);
		return 1;
	}
	size_t n = sk_policy_statements(p);
	printf("policy OK: %s (%zu statement%s)\n", argv[0], n, n == 1 ? "" : "s");
	sk_policy_free(p);
	return 0;
}

struct url {
	bool secure;
	char host[256];
	char *path; /* normalised, heap */
	size_t path_len;
	const char *query; /* into the argument, without '?' */
	size_t query_len;
};

/* http(s)://host[:port]/path?query */
static int parse_url(const char *s, struct url *u)
{
	const char *p;
	if (strncasecmp(s, "https://", 8) == 0) {
		u->secure = true;
		p = s + 8;
	} else if (strncasecmp(s, "http://", 7) == 0) {
		p = s + 7;
	} else {
		return -1;
	}
	size_t hl = strcspn(p, "/?#");
	const char *host_end = p + hl;
	if (hl == 0)
		return -1;
	/* The host as the access stage sees it: lower case, no port, no trailing dot. */
	size_t n = hl;
	if (p[0] == '[') {
		const char *close = memchr(p, ']', hl);
		if (!close)
			return -1;
		n = (size_t)(close - p) + 1;
	} else if (memchr(p, ':', hl)) {
		n = (size_t)((const char *)memchr(p, ':', hl) - p);
	}
	if (n && p[n - 1] == '.')
		n--;
	if (n == 0 || n >= sizeof(u->host))
		return -1;
	for (size_t i = 0; i < n; i++)
		u->host[i] = (char)((p[i] >= 'A' && p[i] <= 'Z') ? p[i] + 32 : p[i]);
	u->host[n] = '\0';
	if (*host_end == '#')
		return -1;
	const char *path = *host_end == '/' ? host_end : "/";
	size_t plen = *host_end == '/' ? strcspn(host_end, "?#") : 1;
	u->path = sk_malloc(plen + 1);
	if (sk_path_normalize((struct sk_slice){ path, plen }, u->path, &u->path_len) == -1)
		return -1;
	const char *q = strchr(host_end, '?');
	if (q) {
		u->query = q + 1;
		u->query_len = strcspn(q + 1, "#");
	}
	return 0;
}

static void print_line(void *arg, const char *line)
{
	(void)arg;
	printf("%s\n", line);
}

/* The identity's policies: its own, then those of its groups, without repeats. Returns the count, or -1
 * after printing the name that is missing from `policies`. */
static int add_named(const struct sk_config *cfg, struct sk_policy **docs, char *const *names, size_t n,
		     const struct sk_policy **out, size_t *n_out)
{
	for (size_t i = 0; i < n; i++) {
		const struct sk_policy_file *pf = sk_config_policy(cfg, names[i]);
		if (!pf) {
			fprintf(stderr, "sekisho policy: no policy named '%s' in 'policies' of %s\n", names[i], cfg->path);
			return -1;
		}
		const struct sk_policy *d = docs[pf - cfg->policies];
		bool seen = false;
		for (size_t k = 0; k < *n_out && !seen; k++)
			seen = out[k] == d;
		if (!seen)
			out[(*n_out)++] = d;
	}
	return 0;
}

static int simulate(int argc, char **argv)
{
	const char *cfg_path = NULL, *user = NULL, *key = NULL, *method = NULL, *url_text = NULL, *ip = NULL;
	char *groups_arg = NULL;
	struct sk_policy_kv extra[MAX_CONTEXT];
	size_t n_extra = 0;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		const char **dst = NULL;
		if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0)
			dst = &cfg_path;
		else if (strcmp(a, "--user") == 0)
			dst = &user;
		else if (strcmp(a, "--key") == 0)
			dst = &key;
		else if (strcmp(a, "--method") == 0)
			dst = &method;
		else if (strcmp(a, "--url") == 0)
			dst = &url_text;
		else if (strcmp(a, "--ip") == 0)
			dst = &ip;
		if (dst) {
			if (++i >= argc)
				return usage();
			*dst = argv[i];
		} else if (strcmp(a, "--groups") == 0) {
			if (++i >= argc)
				return usage();
			groups_arg = argv[i];
		} else if (strcmp(a, "--context") == 0) {
			if (++i >= argc || n_extra == MAX_CONTEXT)
				return usage();
			char *eq = strchr(argv[i], '=');
			if (!eq) {
				fprintf(stderr, "sekisho policy: --context takes key=value, not '%s'\n", argv[i]);
				return 2;
			}
			*eq = '\0';
			const char *why = sk_policy_key_problem(argv[i]);
			if (why) {
				fprintf(stderr, "sekisho policy: --context %s: %s\n", argv[i], why);
				return 2;
			}
			extra[n_extra++] = (struct sk_policy_kv){ .key = argv[i], .value = eq + 1 };
		} else {
			return usage();
		}
	}
	if (!cfg_path || !method || !url_text || (!user && !key) || (user && key))
		return usage();
	struct url u = { 0 };
	if (parse_url(url_text, &u) == -1) {
		free(u.path);
		fprintf(stderr, "sekisho policy: --url must be http(s)://host[:port]/path[?query], not '%s'\n", url_text);
		return 2;
	}
	uint8_t addr[16];
	int family = 0;
	if (ip) {
		family = inet_pton(AF_INET, ip, addr) == 1 ? AF_INET : inet_pton(AF_INET6, ip, addr) == 1 ? AF_INET6 : 0;
		if (!family) {
			free(u.path);
			fprintf(stderr, "sekisho policy: --ip must be an IPv4 or IPv6 address, not '%s'\n", ip);
			return 2;
		}
	}

	int rc = 2;
	struct sk_err err = { 0 };
	struct sk_config *cfg = sk_config_load(cfg_path, &err);
	struct sk_users *users = NULL;
	struct sk_apikeys *keys = NULL;
	struct sk_policy **docs = NULL;
	const struct sk_policy **set = NULL;
	size_t n_set = 0;
	char *groups[MAX_GROUPS];
	size_t n_groups = 0;
	if (!cfg) {
		print_err(&err);
		goto out;
	}
	docs = sk_calloc(cfg->n_policies ? cfg->n_policies : 1, sizeof(*docs));
	for (size_t i = 0; i < cfg->n_policies; i++) {
		docs[i] = sk_policy_load(cfg->policies[i].name, cfg->policies[i].file, &err);
		if (!docs[i]) {
			print_err(&err);
			goto out;
		}
	}
	set = sk_calloc(cfg->n_policies ? cfg->n_policies : 1, sizeof(*set));
	char *const *own = NULL, *const *id_groups = NULL;
	size_t n_own = 0, n_id_groups = 0;
	const char *auth = NULL;
	if (user) {
		const char *ufile = cfg->users.file ? cfg->users.file : cfg->users.htpasswd;
		if (!ufile) {
			fprintf(stderr, "sekisho policy: %s has no users file\n", cfg_path);
			goto out;
		}
		users = sk_users_load(ufile, cfg->users.file ? SK_USERS_YAML : SK_USERS_HTPASSWD, &err);
		if (!users) {
			print_err(&err);
			goto out;
		}
		const struct sk_user *usr = sk_users_find(users, user, strlen(user));
		if (!usr) {
			fprintf(stderr, "sekisho policy: no user '%s' in %s\n", user, ufile);
			goto out;
		}
		own = usr->policies;
		n_own = usr->n_policies;
		id_groups = usr->groups;
		n_id_groups = usr->n_groups;
		auth = "basic";
	} else {
		if (!cfg->api_keys.file) {
			fprintf(stderr, "sekisho policy: %s has no API-key file\n", cfg_path);
			goto out;
		}
		keys = sk_apikeys_load(cfg->api_keys.file, &err);
		if (!keys) {
			print_err(&err);
			goto out;
		}
		const struct sk_apikey *k = sk_apikeys_by_name(keys, key);
		if (!k) {
			fprintf(stderr, "sekisho policy: no API key '%s' in %s\n", key, cfg->api_keys.file);
			goto out;
		}
		own = k->policies;
		n_own = k->n_policies;
		id_groups = k->groups;
		n_id_groups = k->n_groups;
		auth = "api_key";
	}
	/* --groups replaces the identity's groups: "what if alice joined admins?" */
	if (groups_arg) {
		for (char *g = strtok(groups_arg, ","); g && n_groups < MAX_GROUPS; g = strtok(NULL, ","))
			if (*g)
				groups[n_groups++] = g;
		id_groups = groups;
		n_id_groups = n_groups;
	}
	if (add_named(cfg, docs, own, n_own, set, &n_set) == -1)
		goto out;
	for (size_t g = 0; g < n_id_groups; g++) {
		const struct sk_group *gr = sk_config_group(cfg, id_groups[g]);
		if (gr && add_named(cfg, docs, gr->policies.items, gr->policies.n, set, &n_set) == -1)
			goto out;
	}
	struct sk_policy_ctx ctx = {
		.method = { method, strlen(method) },
		.host = { u.host, strlen(u.host) },
		.path = { u.path, u.path_len },
		.query = { u.query, u.query_len },
		.family = family,
		.addr = addr,
		.username = user ? user : key,
		.groups = (const char *const *)id_groups,
		.n_groups = n_id_groups,
		.auth_method = auth,
		.secure = u.secure,
		.now = (int64_t)time(NULL),
		.extra = extra,
		.n_extra = n_extra,
	};
	struct sk_policy_result res;
	sk_policy_eval(set, n_set, &ctx, &res);
	printf("decision: %s%s%s\n", sk_policy_decision_name(res.decision), res.sid ? " " : "", res.sid ? res.sid : "");
	if (n_set == 0)
		printf("  no policy is attached to %s '%s'\n", user ? "user" : "API key", user ? user : key);
	for (size_t i = 0; i < n_set; i++)
		sk_policy_explain(set[i], &ctx, &res, print_line, NULL);
	rc = res.decision == SK_PD_ALLOW ? 0 : 1;
out:
	free(u.path);
	free(set);
	for (size_t i = 0; docs && i < cfg->n_policies; i++)
		sk_policy_free(docs[i]);
	free(docs);
	if (users)
		sk_users_free(users);
	if (keys)
		sk_apikeys_free(keys);
	sk_config_free(cfg);
	return rc;
}

int sk_cli_policy(int argc, char **argv)
{
	if (argc < 1)
		return usage();
	if (strcmp(argv[0], "simulate") == 0)
		return simulate(argc - 1, argv + 1);
	if (strcmp(argv[0], "check") == 0)
		return check(argc - 1, argv + 1);
	if (strcmp(argv[0], "-h") == 0 || strcmp(argv[0], "--help") == 0) {
		usage();
		return 0;
	}
	return usage();
}
