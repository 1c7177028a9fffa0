/*
 * totp.c — `sekisho totp -c FILE enroll USER` (DESIGN §3 "TOTP", §6): gives an existing user of the YAML
 * users file a new TOTP secret, stored encrypted in their entry, and shows it once as an otpauth:// URI
 * and a QR code for an authenticator app.
 *
 * Invariants:
 * - The configuration and the users file are loaded with the server's loaders first: a file the server
 *   would refuse is reported and left alone; an unknown user is refused (enroll never creates users).
 * - TOTP needs the YAML users file (`users: { file: ... }`): an htpasswd file has no room for a secret.
 * - The key file (`totp.key_file`) is created (0600, random) when missing, never replaced; one of the
 *   wrong size or mode is refused, as the server would refuse it.
 * - Only the user's entry changes: it becomes one flow mapping line keeping the password hash, groups
 *   and password_changed, with `totp: "enc:..."` (sealed with the user name as associated data); every
 *   other byte is kept and the rewrite is atomic (keyedit.h). The new text is checked with the loader,
 *   and the stored value is opened again, before anything is written.
 * - The secret is shown only after the file is safely written, on stdout only (the URI on one line, then
 *   the QR code), and wiped from memory afterwards. A re-enrollment replaces the old secret.
 * - Exit 0: enrolled; 1: refused (config, users file, unknown user, key file); 2: usage.
 */
#include "cli/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access/keyfile.h"
#include "access/totp.h"
#include "access/users.h"
#include "cli/keyedit.h"
#include "config/config.h"
#include "core/core.h"

static const char USAGE[] = "usage: sekisho totp -c FILE enroll USER\n";

static int usage(void)
{
	fputs(USAGE, stderr);
	return 2;
}


/* Writes the user's new YAML entry (without indentation or newline). */
static void yaml_entry(FILE *out, const struct sk_user *u, const char *sealed)
{
	sk_kedit_yaml_str(out, u->name);
	fputs(": { password: ", out);
	sk_kedit_yaml_quoted(out, u->hash);
	if (u->n_groups) {
		fputs(", groups: [", out);
		for (size_t i = 0; i < u->n_groups; i++) {
			if (i)
				fputs(", ", out);
			sk_kedit_yaml_str(out, u->groups[i]);
		}
		fputc(']', out);
	}
	sk_kedit_user_policies(out, u);
	fputs(", totp: ", out);
	sk_kedit_yaml_quoted(out, sealed);
	if (u->password_changed) {
		char date[11];
		sk_keyfile_format_date(u->password_changed, date);
		fprintf(out, ", password_changed: %s", date);
	}
	fputs(" }", out);
}

/* Writes a file's whole content, mode 0600 (it shows the secret). Returns 0 or -1 with err filled. */
static int write_file(const char *path, const char *s, struct sk_err *err)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd == -1)
		return sk_err_set(err, path, 0, 0, "cannot create: %s", strerror(errno));
	FILE *f = fdopen(fd, "w");
	SK_ASSERT(f);
	fputs(s, f);
	if (fclose(f) != 0)
		return sk_err_set(err, path, 0, 0, "cannot write: %s", strerror(errno));
	return 0;
}

/*
 * Enrolls name: everything after the arguments are parsed. qr_pbm (a hidden option for tests) also
 * writes the QR code as a PBM image there. Returns the exit code; err is filled on 1.
 */
static int enroll(const char *cfg_path, const char *name, const char *qr_pbm, struct sk_err *err)
{
	int rc = 1;
	struct sk_config *cfg = NULL;
	struct sk_users *users = NULL, *check = NULL;
	struct sk_kedit f = { 0 };
	uint8_t key[SK_TOTP_KEY_LEN], secret[SK_TOTP_SECRET_LEN], back[SK_TOTP_SECRET_MAX];
	size_t back_len = 0;
	char *sealed = NULL, *text = NULL, *uri = NULL, *qr = NULL, *pbm = NULL;
	size_t text_len = 0;
	bool created = false;

	cfg = sk_config_load(cfg_path, err);
	if (!cfg)
		goto out;
	if (!cfg->users.file) {
		sk_err_set(err, cfg_path, 0, 0, cfg->users.htpasswd ?
			   "TOTP needs the YAML users file ('users: { file: ... }'): an htpasswd file cannot hold a TOTP secret" :
			   "no users file: set 'users: { file: ... }'");
		goto out;
	}
	if (!cfg->totp.key_file) {
		sk_err_set(err, cfg_path, 0, 0, "no TOTP key file: set 'totp: { key_file: ... }'");
		goto out;
	}
	const char *file = cfg->users.file;
	if (sk_kedit_read(&f, file, err) == -1)
		goto out;
	if (!f.exists) {
		sk_err_set(err, file, 0, 0, "no such users file (create users with 'sekisho passwd -f %s USER')", file);
		goto out;
	}
	if (sk_users_detect(f.buf, f.len) == SK_USERS_HTPASSWD) {
		sk_err_set(err, file, 0, 0, "this looks like an htpasswd file: TOTP needs the YAML users file");
		goto out;
	}
	users = sk_users_parse(file, f.buf, f.len, SK_USERS_YAML, err);
	if (!users)
		goto out;
	const struct sk_user *u = sk_users_find(users, name, strlen(name));
	if (!u) {
		sk_err_set(err, file, 0, 0, "no user '%s' (create it first with 'sekisho passwd -f %s %s')", name, file,
			   name);
		goto out;
	}
	struct sk_kedit_span span;
	int indent = 0;
	int found = sk_kedit_find_yaml(&f, name, &span, &indent, err);
	if (found == -1)
		goto out;
	if (found == 0) {
		sk_err_set(err, file, u->line, 0, "cannot find user '%s' in the text (quoted differently?)", name);
		goto out;
	}

	if (sk_totp_key_create(cfg->totp.key_file, key, &created, err) == -1)
		goto out;
	if (sk_totp_secret_new(secret) == -1) {
		sk_err_set(err, NULL, 0, 0, "getrandom: %s", strerror(errno));
		goto out;
	}
	if (sk_totp_seal(key, u->name, secret, sizeof(secret), &sealed) == -1) {
		sk_err_set(err, NULL, 0, 0, "cannot encrypt the TOTP secret (OpenSSL failed)");
		goto out;
	}

	FILE *out = open_memstream(&text, &text_len);
	SK_ASSERT(out);
	fwrite(f.buf, 1, span.start, out);
	yaml_entry(out, u, sealed);
	fwrite(f.buf + span.end, 1, f.len - span.end, out);
	if (fclose(out) != 0) {
		sk_err_set(err, file, 0, 0, "cannot build the new text");
		goto out;
	}
	/* What the server will read must load and give back this secret: check before writing. */
	check = sk_users_parse(file, text, text_len, SK_USERS_YAML, err);
	if (!check)
		goto out;
	const struct sk_user *cu = sk_users_find(check, name, strlen(name));
	SK_ASSERT(cu && cu->totp && strcmp(cu->totp, sealed) == 0);
	int opened = sk_totp_open(key, cu->name, cu->totp, back, sizeof(back), &back_len);
	SK_ASSERT(opened == 0 && back_len == sizeof(secret) && memcmp(back, secret, back_len) == 0);

	uri = sk_totp_uri(cfg->totp.issuer, name, secret, sizeof(secret));
	qr = sk_totp_qr_utf8(uri);
	if (!qr) {
		sk_err_set(err, NULL, 0, 0, "the otpauth:// URI is too long for a QR code (shorten the user name or issuer)");
		goto out;
	}
	if (sk_kedit_write(&f, text, text_len, err) == -1)
		goto out;
	if (created)
		fprintf(stderr, "sekisho: created the TOTP key file %s (0600): back it up with the users file\n",
			cfg->totp.key_file);
	if (u->totp)
		fprintf(stderr, "sekisho: replaced the TOTP secret of '%s'\n", name);
	printf("%s\n%s", uri, qr);
	fflush(stdout);
	if (qr_pbm) {
		pbm = sk_totp_qr_pbm(uri, 8);
		if (write_file(qr_pbm, pbm, err) == -1)
			goto out;
	}
	rc = 0;
out:
	explicit_bzero(key, sizeof(key));
	explicit_bzero(secret, sizeof(secret));
	explicit_bzero(back, sizeof(back));
	if (uri)
		explicit_bzero(uri, strlen(uri));
	if (qr)
		explicit_bzero(qr, strlen(qr));
	if (pbm)
		explicit_bzero(pbm, strlen(pbm));
	free(uri);
	free(qr);
	free(pbm);
	free(sealed);
	free(text);
	sk_users_free(check);
	sk_users_free(users);
	sk_kedit_free(&f);
	sk_config_free(cfg);
	return rc;
}

int sk_cli_totp(int argc, char **argv)
{
	const char *cfg_path = NULL, *cmd = NULL, *name = NULL, *qr_pbm = NULL;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0 || strcmp(a, "help") == 0) {
			fputs(USAGE, stdout);
			return 0;
		} else if ((strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) && i + 1 < argc) {
			cfg_path = argv[++i];
		} else if (strcmp(a, "--qr-pbm") == 0 && i + 1 < argc) {
			/* Undocumented: the QR code as an image too, for tests that decode it with zbarimg. */
			qr_pbm = argv[++i];
		} else if (a[0] == '-' && a[1]) {
			fprintf(stderr, "sekisho: totp: unknown option or missing value '%s'\n", a);
			return usage();
		} else if (!cmd) {
			cmd = a;
		} else if (!name) {
			name = a;
		} else {
			fprintf(stderr, "sekisho: totp: one USER at a time\n");
			return usage();
		}
	}
	if (!cfg_path || !cmd || strcmp(cmd, "enroll") != 0 || !name)
		return usage();
	const char *why = sk_user_name_problem(name, strlen(name));
	if (why) {
		fprintf(stderr, "sekisho: totp: user name %s\n", why);
		return 2;
	}
	struct sk_err err = { 0 };
	int rc = enroll(cfg_path, name, qr_pbm, &err);
	if (rc != 0)
		sk_kedit_report(&err);
	return rc;
}
