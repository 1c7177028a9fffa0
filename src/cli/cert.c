/*
 * cert.c — `sekisho cert -c FILE add NAME --cert F --key F [--chain F] | list | delete NAME` (DESIGN §6):
 * the certificate store.
 *
 * add    checks the certificate (the key matches the leaf, each chain certificate signed the one before,
 *        and whether the chain reaches a trusted root), copies the files into certs/NAME/ beside the
 *        config file (cert.pem, key.pem, chain.pem; mode 0600, directory 0700), adds `NAME: { cert,
 *        key, chain }` to `certificates:` and shows subject, names and not-after. A name in use is
 *        refused: rotation adds the new certificate under a new name, points the listener at it and
 *        reloads, then deletes the old one.
 * list   name, subject, names, days left and the listeners using each certificate.
 * delete refuses a certificate a listener uses ("certificate NAME is in use by listener L; point L at
 *        another certificate first", exit 1); otherwise removes the entry, and its files when they are
 *        in certs/NAME/ (files elsewhere are the operator's and are left alone).
 *
 * The config file is edited as text (certedit.c): comments and every other byte are kept, the rewrite
 * is atomic, and the result is loaded again before the command reports success (a failure restores
 * the previous text). Exit 0 done, 1 refused or failed, 2 usage.
 */
#include "cli/cli.h"

#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "access/keyfile.h"
#include "cli/certedit.h"
#include "cli/keyedit.h"
#include "config/config.h"
#include "core/file.h"
#include "tls/tls.h"

static const char USAGE[] = "usage: sekisho cert -c FILE add NAME --cert F --key F [--chain F]\n"
			    "       sekisho cert -c FILE list\n"
			    "       sekisho cert -c FILE delete NAME\n";

struct args {
	const char *config, *cmd, *name, *cert, *key, *chain;
};

static int usage(void)
{
	fputs(USAGE, stderr);
	return 2;
}

static bool name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 64)
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_' ||
		      *p == '.' || *p == '-'))
			return false;
	return strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

/* The directory of the config file (absolute). */
static char *config_dir(const char *config)
{
	char *real = realpath(config, NULL);
	if (!real)
		return NULL;
	char *d = sk_strdup(dirname(real));
	free(real);
	return d;
}

static void describe(const struct sk_tls_cert *c, const char *indent)
{
	char names[1024], when[40];
	sk_tls_cert_names(c, names, sizeof(names));
	sk_tls_format_time(c->not_after, when, sizeof(when));
	printf("%ssubject:   %s\n%snames:     %s\n%snot after: %s (%lld days left)\n", indent, c->subject, indent,
	       names[0] ? names : "-", indent, when, (long long)sk_tls_days_left(c->not_after, (int64_t)time(NULL)));
}

/* Listeners using certificate name, comma-separated into out; returns how many. */
static size_t users_of(const struct sk_config *cfg, const char *name, char *out, size_t cap)
{
	size_t n = 0, o = 0;
	out[0] = '\0';
	for (size_t i = 0; i < cfg->n_listeners; i++) {
		const struct sk_listener_tls *t = &cfg->listeners[i].tls;
		for (size_t k = 0; t->present && k < t->certificates.n; k++) {
			if (strcmp(t->certificates.items[k], name) != 0)
				continue;
			if (o < cap) {
				int w = snprintf(out + o, cap - o, "%s%s", n ? ", " : "", cfg->listeners[i].name);
				o += w > 0 ? (size_t)w : 0;
			}
			n++;
			break;
		}
	}
	return n;
}

/* Copies src into dst (created; refused when it exists). */
static int copy_file(const char *src, const char *dst, struct sk_err *err)
{
	char *buf = NULL;
	size_t len = 0;
	if (sk_keyfile_read(src, &buf, &len, err) == -1)
		return -1;
	int rc = sk_file_replace(dst, dst, NULL, buf, len, err);
	explicit_bzero(buf, len);
	free(buf);
	return rc;
}

static void remove_store(const char *dir)
{
	static const char *const files[] = { "cert.pem", "key.pem", "chain.pem" };
	char p[4200];
	for (size_t i = 0; i < SK_ARRAY_LEN(files); i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, files[i]);
		unlink(p);
	}
	rmdir(dir);
}

/* Writes text over the config and loads it again; on failure the previous text is put back. */
static int write_checked(struct sk_kedit *f, const char *text, size_t len, const char *must_have, bool present,
			 struct sk_err *err)
{
	if (sk_kedit_write(f, text, len, err) == -1)
		return -1;
	struct sk_config *cfg = sk_config_load(f->arg, err);
	bool ok = cfg && (sk_config_certificate(cfg, must_have) != NULL) == present;
	sk_config_free(cfg);
	if (ok)
		return 0;
	if (!err->msg[0])
		sk_err_set(err, f->arg, 0, 0, "the edited file does not read back as intended");
	struct stat st;
	if (stat(f->path, &st) == 0) {
		struct sk_err e2 = { 0 };
		if (sk_file_replace(f->path, f->arg, &st, f->buf, f->len, &e2) == -1)
			fprintf(stderr, "sekisho: could not restore %s: %s\n", f->arg, e2.msg);
	}
	return -1;
}

static int cmd_add(const struct args *a, struct sk_err *err)
{
	int rc = -1;
	struct sk_config *cfg = NULL;
	struct sk_tls_cert c = { 0 };
	struct sk_kedit f = { 0 };
	char *dir = NULL, *text = NULL;
	bool made_dir = false;
	char store[4096] = "";
	if (!name_ok(a->name)) {
		sk_err_set(err, "", 0, 0, "invalid certificate name '%s': use 1 to 64 letters, digits, '_', '.' or '-'",
			   a->name);
		goto out;
	}
	if (!(cfg = sk_config_load(a->config, err)))
		goto out;
	if (sk_config_certificate(cfg, a->name)) {
		sk_err_set(err, a->config, 0, 0,
			   "certificate '%s' exists already; add the new one under another name, point the listener "
			   "at it and reload, then delete the old one",
			   a->name);
		goto out;
	}
	if (sk_tls_cert_load(&c, a->name, a->cert, a->key, a->chain, err) == -1)
		goto out;
	char note[200];
	if (sk_tls_cert_check_chain(&c, note, sizeof(note), err) == -1) {
		snprintf(err->file, sizeof(err->file), "%s", a->chain ? a->chain : a->cert);
		goto out;
	}
	if (!(dir = config_dir(a->config))) {
		sk_err_set(err, a->config, 0, 0, "cannot resolve: %s", strerror(errno));
		goto out;
	}
	char certs[4096];
	snprintf(certs, sizeof(certs), "%s/certs", dir);
	snprintf(store, sizeof(store), "%s/certs/%s", dir, a->name);
	if ((mkdir(certs, 0700) == -1 && errno != EEXIST) || mkdir(store, 0700) == -1) {
		sk_err_set(err, store, 0, 0, "cannot create the certificate directory: %s%s", strerror(errno),
			   errno == EEXIST ? " (left over from an earlier certificate of that name? remove it)" : "");
		goto out;
	}
	made_dir = true;
	char p[4200];
	snprintf(p, sizeof(p), "%s/cert.pem", store);
	if (copy_file(a->cert, p, err) == -1)
		goto out;
	snprintf(p, sizeof(p), "%s/key.pem", store);
	if (copy_file(a->key, p, err) == -1)
		goto out;
	if (a->chain) {
		snprintf(p, sizeof(p), "%s/chain.pem", store);
		if (copy_file(a->chain, p, err) == -1)
			goto out;
	}
	/* Relative paths: the config and its certs/ move together. */
	char entry[600];
	snprintf(entry, sizeof(entry), "{ cert: \"certs/%s/cert.pem\", key: \"certs/%s/key.pem\"%s%s%s }", a->name,
		 a->name, a->chain ? ", chain: \"certs/" : "", a->chain ? a->name : "", a->chain ? "/chain.pem\"" : "");
	size_t len = 0;
	if (sk_kedit_read(&f, a->config, err) == -1 || !(text = sk_certedit_add(&f, a->name, entry, &len, err)) ||
	    write_checked(&f, text, len, a->name, true, err) == -1)
		goto out;
	printf("certificate %s added (files in %s)\n", a->name, store);
	describe(&c, "  ");
	printf("  chain:     %s\n", note);
	if (sk_tls_days_left(c.not_after, (int64_t)time(NULL)) < 0)
		printf("  warning: this certificate has expired\n");
	printf("Point a listener at it (tls.certificates) and reload (SIGHUP).\n");
	rc = 0;
out:
	if (rc == -1 && made_dir)
		remove_store(store);
	free(text);
	sk_kedit_free(&f);
	free(dir);
	sk_tls_cert_fini(&c);
	sk_config_free(cfg);
	return rc;
}

static int cmd_list(const struct args *a, struct sk_err *err)
{
	struct sk_config *cfg = sk_config_load(a->config, err);
	if (!cfg)
		return -1;
	int rc = 0;
	printf("%-20s %-36s %-36s %9s  %s\n", "NAME", "SUBJECT", "NAMES", "DAYS LEFT", "LISTENERS");
	for (size_t i = 0; i < cfg->n_certificates; i++) {
		const struct sk_certificate *ct = &cfg->certificates[i];
		char used[512], names[1024];
		users_of(cfg, ct->name, used, sizeof(used));
		struct sk_tls_cert c;
		struct sk_err e = { 0 };
		if (sk_tls_cert_load(&c, ct->name, ct->cert, ct->key, ct->chain, &e) == -1) {
			printf("%-20s error: %s: %s\n", ct->name, e.file, e.msg);
			rc = -1;
			continue;
		}
		sk_tls_cert_names(&c, names, sizeof(names));
		printf("%-20s %-36s %-36s %9lld  %s\n", ct->name, c.subject, names,
		       (long long)sk_tls_days_left(c.not_after, (int64_t)time(NULL)), used[0] ? used : "-");
		sk_tls_cert_fini(&c);
	}
	sk_config_free(cfg);
	if (rc == -1)
		sk_err_set(err, a->config, 0, 0, "some certificates do not load (see above)");
	return rc;
}

static int cmd_delete(const struct args *a, struct sk_err *err)
{
	int rc = -1;
	struct sk_kedit f = { 0 };
	char *text = NULL, *dir = NULL;
	struct sk_config *cfg = sk_config_load(a->config, err);
	if (!cfg)
		goto out;
	const struct sk_certificate *ct = sk_config_certificate(cfg, a->name);
	if (!ct) {
		sk_err_set(err, a->config, 0, 0, "no certificate '%s' in 'certificates'", a->name);
		goto out;
	}
	char used[512];
	if (users_of(cfg, a->name, used, sizeof(used)) > 0) {
		/* The first user is enough to act on; the message names it as the operator must. */
		char *comma = strchr(used, ',');
		if (comma)
			*comma = '\0';
		fprintf(stderr, "certificate %s is in use by listener %s; point %s at another certificate first\n",
			a->name, used, used);
		err->msg[0] = '\0';
		goto out;
	}
	size_t len = 0;
	if (sk_kedit_read(&f, a->config, err) == -1 || !(text = sk_certedit_delete(&f, a->name, &len, err)) ||
	    write_checked(&f, text, len, a->name, false, err) == -1)
		goto out;
	/* Our copies go too; files the operator keeps elsewhere stay. */
	dir = config_dir(a->config);
	char store[4096];
	snprintf(store, sizeof(store), "%s/certs/%s", dir ? dir : ".", a->name);
	size_t sl = strlen(store);
	if (dir && strncmp(ct->cert, store, sl) == 0 && ct->cert[sl] == '/') {
		remove_store(store);
		printf("certificate %s deleted (and its files in %s)\n", a->name, store);
	} else {
		printf("certificate %s deleted from %s (its files were left where they are)\n", a->name, a->config);
	}
	rc = 0;
out:
	free(text);
	free(dir);
	sk_kedit_free(&f);
	sk_config_free(cfg);
	return rc;
}

int sk_cli_cert(int argc, char **argv)
{
	struct args a = { 0 };
	for (int i = 0; i < argc; i++) {
		const char *s = argv[i];
		const char **slot = NULL;
		if (strcmp(s, "-h") == 0 || strcmp(s, "--help") == 0 || strcmp(s, "help") == 0) {
			fputs(USAGE, stdout);
			return 0;
		}
		if (strcmp(s, "-c") == 0 || strcmp(s, "--config") == 0)
			slot = &a.config;
		else if (strcmp(s, "--cert") == 0)
			slot = &a.cert;
		else if (strcmp(s, "--key") == 0)
			slot = &a.key;
		else if (strcmp(s, "--chain") == 0)
			slot = &a.chain;
		if (slot) {
			if (i + 1 >= argc) {
				fprintf(stderr, "sekisho: cert: %s needs a value\n", s);
				return usage();
			}
			*slot = argv[++i];
		} else if (s[0] == '-' && s[1]) {
			fprintf(stderr, "sekisho: cert: unknown option '%s'\n", s);
			return usage();
		} else if (!a.cmd) {
			a.cmd = s;
		} else if (!a.name) {
			a.name = s;
		} else {
			fprintf(stderr, "sekisho: cert: unexpected argument '%s'\n", s);
			return usage();
		}
	}
	if (!a.config || !a.cmd)
		return usage();
	bool add = strcmp(a.cmd, "add") == 0, list = strcmp(a.cmd, "list") == 0, del = strcmp(a.cmd, "delete") == 0;
	if (!add && !list && !del) {
		fprintf(stderr, "sekisho: cert: unknown command '%s'\n", a.cmd);
		return usage();
	}
	if ((add || del) != (a.name != NULL) || (add != (a.cert && a.key)) || (!add && a.chain))
		return usage();
	struct sk_err err = { 0 };
	int rc = add ? cmd_add(&a, &err) : list ? cmd_list(&a, &err) : cmd_delete(&a, &err);
	if (rc == -1 && err.msg[0])
		sk_kedit_report(&err);
	return rc == 0 ? 0 : 1;
}
