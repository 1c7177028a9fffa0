/*
 * apikey.c — `sekisho apikey -f KEYS create NAME [--groups a,b] [--owner U] | list | revoke NAME`
 * (DESIGN §6): API keys for `Authorization: Bearer` and `X-Api-Key`.
 *
 * Invariants:
 * - A key is shown once, by create, alone on stdout (so `KEY=$(sekisho apikey ... create ci)` works),
 *   and only after the file holding its SHA-256 is safely written. The file never holds the key, and
 *   list never shows the digest.
 * - The file is loaded with the server's loader first: a file the server would refuse is reported and
 *   left alone. create appends one line; revoke removes the entry's lines; every other byte is kept,
 *   and each rewrite is atomic (keyedit.h).
 * - Exit 0: done; 1: refused (name taken, no such key, unreadable or invalid file); 2: usage.
 */
#include "cli/cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access/apikeys.h"
#include "access/keyfile.h"
#include "access/users.h"
#include "cli/keyedit.h"
#include "core/core.h"

static const char USAGE[] =
	"usage: sekisho apikey -f KEYS create NAME [--groups a,b] [--owner USER]\n"
	"       sekisho apikey -f KEYS list\n"
	"       sekisho apikey -f KEYS revoke NAME\n";

static int usage(void)
{
	fputs(USAGE, stderr);
	return 2;
}

/* Parsed command line. */
struct args {
	const char *file, *cmd, *name, *groups, *owner;
};

/* Splits "a,b" into the YAML flow list "[a, b]" on out; refuses empty items. Returns 0 or -1. */
static int write_groups(FILE *out, const char *groups, struct sk_err *err)
{
	fputs(", groups: [", out);
	const char *s = groups;
	for (int i = 0;; i++) {
		size_t n = strcspn(s, ",");
		if (n == 0)
			return sk_err_set(err, NULL, 0, 0, "--groups: empty group name in '%s'", groups);
		char *g = sk_slice_dup((struct sk_slice){ .ptr = s, .len = n });
		if (i)
			fputs(", ", out);
		sk_kedit_yaml_str(out, g);
		free(g);
		if (!s[n])
			break;
		s += n + 1;
	}
	fputc(']', out);
	return 0;
}

static int cmd_create(const struct args *a, struct sk_kedit *f, const struct sk_apikeys *keys, struct sk_err *err)
{
	int rc = -1;
	char *text = NULL;
	size_t text_len = 0;
	char key[SK_APIKEY_LEN + 1] = { 0 };
	if (!sk_apikey_name_ok(a->name))
		return sk_err_set(err, NULL, 0, 0, "API key name '%s' must be 1-64 of A-Z a-z 0-9 _ . -", a->name);
	const struct sk_apikey *old = sk_apikeys_by_name(keys, a->name);
	if (old)
		return sk_err_set(err, a->file, old->line, 0, "API key '%s' already exists (revoke it first)", a->name);
	if (a->owner && sk_user_name_problem(a->owner, strlen(a->owner)))
		return sk_err_set(err, NULL, 0, 0, "--owner: '%s' is not a user name", a->owner);
	int indent = 0;
	struct sk_kedit_span span;
	if (sk_kedit_find_yaml(f, a->name, &span, &indent, err) == -1)
		return -1;
	if (sk_apikey_generate(key) == -1)
		return sk_err_set(err, NULL, 0, 0, "getrandom: %s", strerror(errno));
	uint8_t d[32];
	char hex[65], today[11];
	sk_apikey_digest(key, SK_APIKEY_LEN, d);
	sk_apikey_hex(d, hex);
	sk_kedit_today(today);

	FILE *out = open_memstream(&text, &text_len);
	SK_ASSERT(out);
	fwrite(f->buf, 1, f->len, out);
	if (f->len && f->buf[f->len - 1] != '\n')
		fputc('\n', out);
	fprintf(out, "%*s%s: { sha256: ", indent, "", a->name);
	sk_kedit_yaml_quoted(out, hex);
	if (a->groups && write_groups(out, a->groups, err) == -1) {
		fclose(out);
		goto out;
	}
	fprintf(out, ", created: %s", today);
	if (a->owner) {
		fputs(", owner: ", out);
		sk_kedit_yaml_str(out, a->owner);
	}
	fputs(" }\n", out);
	if (fclose(out) != 0) {
		sk_err_set(err, a->file, 0, 0, "cannot build the new text");
		goto out;
	}
	/* What the server will read must load: check the new text with its loader before writing it. */
	struct sk_apikeys *check = sk_apikeys_parse(a->file, text, text_len, err);
	if (!check)
		goto out;
	bool found = sk_apikeys_find(check, key, SK_APIKEY_LEN) != NULL;
	sk_apikeys_free(check);
	SK_ASSERT(found);
	if (sk_kedit_write(f, text, text_len, err) == -1)
		goto out;
	printf("%s\n", key);
	fflush(stdout);
	rc = 0;
out:
	explicit_bzero(key, sizeof(key));
	free(text);
	return rc;
}

static int cmd_list(const struct sk_apikeys *keys)
{
	size_t n = sk_apikeys_count(keys);
	int wn = 4, wg = 6;
	for (size_t i = 0; i < n; i++) {
		const struct sk_apikey *k = sk_apikeys_at(keys, i);
		int g = 0;
		for (size_t j = 0; j < k->n_groups; j++)
			g += (int)strlen(k->groups[j]) + (j ? 1 : 0);
		wn = SK_MAX(wn, (int)strlen(k->name));
		wg = SK_MAX(wg, g);
	}
	printf("%-*s  %-*s  %-10s  %s\n", wn, "NAME", wg, "GROUPS", "CREATED", "OWNER");
	for (size_t i = 0; i < n; i++) {
		const struct sk_apikey *k = sk_apikeys_at(keys, i);
		char groups[1024] = "", created[11] = "-";
		size_t o = 0;
		for (size_t j = 0; j < k->n_groups && o < sizeof(groups); j++)
			o += (size_t)snprintf(groups + o, sizeof(groups) - o, "%s%s", j ? "," : "", k->groups[j]);
		if (k->created)
			sk_keyfile_format_date(k->created, created);
		printf("%-*s  %-*s  %-10s  %s\n", wn, k->name, wg, k->n_groups ? groups : "-", created,
		       k->owner ? k->owner : "-");
	}
	return 0;
}

static int cmd_revoke(const struct args *a, struct sk_kedit *f, const struct sk_apikeys *keys, struct sk_err *err)
{
	if (!sk_apikeys_by_name(keys, a->name))
		return sk_err_set(err, a->file, 0, 0, "no API key named '%s'", a->name);
	struct sk_kedit_span span;
	int indent;
	int found = sk_kedit_find_yaml(f, a->name, &span, &indent, err);
	if (found == -1)
		return -1;
	if (found == 0)
		return sk_err_set(err, a->file, 0, 0, "cannot find API key '%s' in the text", a->name);
	size_t len = f->len - (span.line_end - span.line_start);
	char *text = sk_malloc(len + 1);
	memcpy(text, f->buf, span.line_start);
	memcpy(text + span.line_start, f->buf + span.line_end, f->len - span.line_end);
	int rc = sk_kedit_write(f, text, len, err);
	free(text);
	if (rc == 0)
		printf("revoked API key '%s'\n", a->name);
	return rc;
}

int sk_cli_apikey(int argc, char **argv)
{
	struct args a = { 0 };
	for (int i = 0; i < argc; i++) {
		const char *s = argv[i];
		const char **slot = NULL;
		if (strcmp(s, "-h") == 0 || strcmp(s, "--help") == 0 || strcmp(s, "help") == 0) {
			fputs(USAGE, stdout);
			return 0;
		}
		if (strcmp(s, "-f") == 0 || strcmp(s, "--file") == 0)
			slot = &a.file;
		else if (strcmp(s, "--groups") == 0)
			slot = &a.groups;
		else if (strcmp(s, "--owner") == 0)
			slot = &a.owner;
		if (slot) {
			if (i + 1 >= argc) {
				fprintf(stderr, "sekisho: apikey: %s needs a value\n", s);
				return usage();
			}
			*slot = argv[++i];
		} else if (s[0] == '-' && s[1]) {
			fprintf(stderr, "sekisho: apikey: unknown option '%s'\n", s);
			return usage();
		} else if (!a.cmd) {
			a.cmd = s;
		} else if (!a.name) {
			a.name = s;
		} else {
			fprintf(stderr, "sekisho: apikey: unexpected argument '%s'\n", s);
			return usage();
		}
	}
	if (!a.file || !a.cmd)
		return usage();
	bool create = strcmp(a.cmd, "create") == 0, list = strcmp(a.cmd, "list") == 0,
	     revoke = strcmp(a.cmd, "revoke") == 0;
	if (!create && !list && !revoke) {
		fprintf(stderr, "sekisho: apikey: unknown command '%s'\n", a.cmd);
		return usage();
	}
	if ((create || revoke) != (a.name != NULL) || ((a.groups || a.owner) && !create))
		return usage();

	int rc = 1;
	struct sk_err err = { 0 };
	struct sk_kedit f;
	struct sk_apikeys *keys = NULL;
	if (sk_kedit_read(&f, a.file, &err) == -1)
		goto out;
	if (!f.exists && !create) {
		sk_err_set(&err, a.file, 0, 0, "no such file");
		goto out;
	}
	keys = sk_apikeys_parse(a.file, f.buf, f.len, &err);
	if (!keys)
		goto out;
	if (create)
		rc = cmd_create(&a, &f, keys, &err) == 0 ? 0 : 1;
	else if (list)
		rc = cmd_list(keys);
	else
		rc = cmd_revoke(&a, &f, keys, &err) == 0 ? 0 : 1;
out:
	if (rc != 0)
		sk_kedit_report(&err);
	sk_apikeys_free(keys);
	sk_kedit_free(&f);
	return rc;
}
