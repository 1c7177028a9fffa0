/*
 * passwd.c — `sekisho passwd -f USERS USER [--stdin] [--algo argon2id|bcrypt]` (DESIGN §6): sets a user's
 * password hash, in a YAML users file (with `password_changed: <today>`) or an htpasswd file, creating
 * the user, and the file, when absent.
 *
 * Invariants:
 * - The password is read twice without echo from /dev/tty, or once from stdin with --stdin; it is wiped
 *   from memory once hashed, and neither it nor the hash is ever printed.
 * - The file is loaded with the same loader as the server before anything is asked or written: a file
 *   the server would refuse is reported (file:line:col) and left alone.
 * - Only the user's own entry changes: a YAML entry (flow or block style) becomes one flow mapping line
 *   keeping its groups and totp; an htpasswd line is replaced; a new user is a line appended in line
 *   with the others. Everything else is kept byte for byte, and the rewrite is atomic (keyedit.h).
 * - Exit 0: set; 1: the file or the password was refused; 2: usage.
 */
#include "cli/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "access/hash.h"
#include "access/users.h"
#include "cli/keyedit.h"
#include "core/core.h"

static const char USAGE[] = "usage: sekisho passwd -f USERS USER [--stdin] [--algo argon2id|bcrypt]\n";

/* Longer than any password a person types or a manager generates; a longer line is a mistake. */
#define PASSWORD_MAX 1024

static int usage(void)
{
	fputs(USAGE, stderr);
	return 2;
}

/* Reads one line (without its "\n" or "\r\n") from fd into buf. Returns its length, or -1 on error or
 * when the line is longer than PASSWORD_MAX. Reads byte by byte: nothing after the line is consumed. */
static ssize_t read_line(int fd, char *buf, size_t cap)
{
	size_t n = 0;
	for (;;) {
		char c;
		ssize_t r = read(fd, &c, 1);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1)
			return -1;
		if (r == 0 || c == '\n')
			break;
		if (n + 1 >= cap) {
			errno = EMSGSIZE;
			return -1;
		}
		buf[n++] = c;
	}
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	buf[n] = '\0';
	return (ssize_t)n;
}

/* Prompts on the terminal with echo off; restores the terminal whatever happens. */
static ssize_t prompt(int tty, const char *text, char *buf, size_t cap)
{
	struct termios old, quiet;
	bool restore = false;
	if (tcgetattr(tty, &old) == 0) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
		quiet.c_lflag |= ICANON;
		restore = tcsetattr(tty, TCSAFLUSH, &quiet) == 0;
	}
	if (write(tty, text, strlen(text)) == -1) {
		/* The prompt is only a courtesy; reading still works. */
	}
	ssize_t n = read_line(tty, buf, cap);
	int saved = errno;
	if (restore)
		tcsetattr(tty, TCSAFLUSH, &old);
	if (write(tty, "\n", 1) == -1) {
		/* as above */
	}
	errno = saved;
	return n;
}

/*
 * Gets the new password into pw (PASSWORD_MAX + 1 bytes): from stdin, or twice from /dev/tty.
 * Returns its length, or -1 with err filled.
 */
static ssize_t get_password(bool from_stdin, char *pw, struct sk_err *err)
{
	ssize_t n;
	if (from_stdin) {
		n = read_line(STDIN_FILENO, pw, PASSWORD_MAX + 1);
		if (n == -1)
			return sk_err_set(err, NULL, 0, 0, errno == EMSGSIZE ? "password longer than %d bytes" :
					  "cannot read the password from stdin", PASSWORD_MAX);
	} else {
		int tty = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
		if (tty == -1)
			return sk_err_set(err, NULL, 0, 0, "no terminal to ask the password on (use --stdin)");
		char *again = sk_malloc(PASSWORD_MAX + 1);
		n = prompt(tty, "New password: ", pw, PASSWORD_MAX + 1);
		ssize_t m = n < 0 ? -1 : prompt(tty, "Retype new password: ", again, PASSWORD_MAX + 1);
		if (n == -1 || m == -1)
			n = sk_err_set(err, NULL, 0, 0, errno == EMSGSIZE ? "password longer than %d bytes" :
				       "cannot read the password from the terminal", PASSWORD_MAX);
		else if (m != n || !sk_ct_eq(pw, again, (size_t)n))
			n = sk_err_set(err, NULL, 0, 0, "the passwords do not match; nothing changed");
		explicit_bzero(again, PASSWORD_MAX + 1);
		free(again);
		close(tty);
		if (n == -1)
			return -1;
	}
	if (n == 0)
		return sk_err_set(err, NULL, 0, 0, "empty password refused");
	return n;
}


/* Writes the user's YAML entry (without indentation or newline): name, new hash, kept groups and totp. */
static void yaml_entry(FILE *out, const char *name, const char *hash, const struct sk_user *old)
{
	char today[11];
	sk_kedit_today(today);
	sk_kedit_yaml_str(out, name);
	fputs(": { password: ", out);
	sk_kedit_yaml_quoted(out, hash);
	if (old && old->n_groups) {
		fputs(", groups: [", out);
		for (size_t i = 0; i < old->n_groups; i++) {
			if (i)
				fputs(", ", out);
			sk_kedit_yaml_str(out, old->groups[i]);
		}
		fputc(']', out);
	}
	if (old)
		sk_kedit_user_policies(out, old);
	if (old && old->totp) {
		fputs(", totp: ", out);
		sk_kedit_yaml_quoted(out, old->totp);
	}
	fprintf(out, ", password_changed: %s }", today);
}

/* The new text of a YAML users file. Returns 0 or -1 with err filled. */
static int edit_yaml(const struct sk_kedit *f, const char *name, const char *hash, const struct sk_user *old,
		     FILE *out, struct sk_err *err)
{
	struct sk_kedit_span span;
	int indent = 0;
	int found = sk_kedit_find_yaml(f, name, &span, &indent, err);
	if (found == -1)
		return -1;
	if (found != (old != NULL))
		return sk_err_set(err, f->arg, 0, 0, "cannot find user '%s' in the text (quoted differently?)", name);
	if (found) {
		fwrite(f->buf, 1, span.start, out);
		yaml_entry(out, name, hash, old);
		fwrite(f->buf + span.end, 1, f->len - span.end, out);
		return 0;
	}
	fwrite(f->buf, 1, f->len, out);
	if (f->len && f->buf[f->len - 1] != '\n')
		fputc('\n', out);
	fprintf(out, "%*s", indent, "");
	yaml_entry(out, name, hash, NULL);
	fputc('\n', out);
	return 0;
}

/* The new text of an htpasswd file: the user's line replaced (the loader's way of reading it), or one
 * appended. */
static void edit_htpasswd(const struct sk_kedit *f, const char *name, const char *hash, FILE *out)
{
	size_t nl_len = strlen(name), pos = 0;
	bool done = false;
	while (pos < f->len) {
		const char *s = f->buf + pos;
		const char *nl = memchr(s, '\n', f->len - pos);
		size_t ll = nl ? (size_t)(nl - s) : f->len - pos;
		size_t content = ll;
		while (content > 0 && (s[content - 1] == '\r' || s[content - 1] == ' ' || s[content - 1] == '\t'))
			content--;
		if (!done && content > nl_len && s[nl_len] == ':' && memcmp(s, name, nl_len) == 0) {
			fprintf(out, "%s:%s", name, hash);
			fwrite(s + content, 1, ll - content, out);
			done = true;
		} else {
			fwrite(s, 1, ll, out);
		}
		if (nl)
			fputc('\n', out);
		pos += ll + 1;
	}
	if (done)
		return;
	if (f->len && f->buf[f->len - 1] != '\n')
		fputc('\n', out);
	fprintf(out, "%s:%s\n", name, hash);
}

int sk_cli_passwd(int argc, char **argv)
{
	const char *file = NULL, *name = NULL, *algo = "argon2id";
	bool from_stdin = false;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			fputs(USAGE, stdout);
			return 0;
		} else if (strcmp(a, "--stdin") == 0) {
			from_stdin = true;
		} else if ((strcmp(a, "-f") == 0 || strcmp(a, "--file") == 0 || strcmp(a, "--algo") == 0) && i + 1 < argc) {
			*(a[2] == 'a' ? &algo : &file) = argv[++i];
		} else if (strncmp(a, "--algo=", 7) == 0) {
			algo = a + 7;
		} else if (a[0] == '-' && a[1]) {
			fprintf(stderr, "sekisho: passwd: unknown option or missing value '%s'\n", a);
			return usage();
		} else if (!name) {
			name = a;
		} else {
			fprintf(stderr, "sekisho: passwd: one USER at a time\n");
			return usage();
		}
	}
	if (!file || !name)
		return usage();
	enum sk_hash_kind kind;
	if (strcmp(algo, "argon2id") == 0)
		kind = SK_HASH_ARGON2ID;
	else if (strcmp(algo, "bcrypt") == 0)
		kind = SK_HASH_BCRYPT;
	else {
		fprintf(stderr, "sekisho: passwd: --algo must be argon2id or bcrypt, not '%s'\n", algo);
		return 2;
	}
	const char *why = sk_user_name_problem(name, strlen(name));
	if (why) {
		fprintf(stderr, "sekisho: passwd: user name %s\n", why);
		return 2;
	}

	int rc = 1;
	struct sk_err err = { 0 };
	struct sk_kedit f;
	struct sk_users *users = NULL;
	char pw[PASSWORD_MAX + 1];
	char *hash = NULL, *text = NULL;
	size_t text_len = 0;
	FILE *out = NULL;
	pw[0] = '\0';
	if (sk_kedit_read(&f, file, &err) == -1)
		goto out;
	enum sk_users_format fmt = f.exists ? sk_users_detect(f.buf, f.len) : SK_USERS_YAML;
	users = sk_users_parse(file, f.buf, f.len, fmt, &err);
	if (!users)
		goto out;
	const struct sk_user *old = sk_users_find(users, name, strlen(name));

	ssize_t n = get_password(from_stdin, pw, &err);
	if (n == -1)
		goto out;
	hash = sk_hash_make(kind, pw, (size_t)n);
	explicit_bzero(pw, sizeof(pw));
	if (!hash) {
		sk_err_set(&err, NULL, 0, 0, "cannot make the %s hash%s", sk_hash_kind_name(kind),
			   kind == SK_HASH_BCRYPT ? " (a bcrypt password cannot hold a NUL byte)" : "");
		goto out;
	}

	out = open_memstream(&text, &text_len);
	SK_ASSERT(out);
	if (fmt == SK_USERS_HTPASSWD)
		edit_htpasswd(&f, name, hash, out);
	else if (edit_yaml(&f, name, hash, old, out, &err) == -1)
		goto out;
	if (fclose(out) != 0) {
		out = NULL;
		sk_err_set(&err, file, 0, 0, "cannot build the new text");
		goto out;
	}
	out = NULL;
	if (sk_kedit_write(&f, text, text_len, &err) == -1)
		goto out;
	printf("%s password for '%s' in %s (%s)\n", old ? "changed" : "set", name, file, sk_hash_kind_name(kind));
	rc = 0;
out:
	if (rc != 0)
		sk_kedit_report(&err);
	if (out)
		fclose(out);
	explicit_bzero(pw, sizeof(pw));
	if (hash)
		explicit_bzero(hash, strlen(hash));
	free(hash);
	if (text)
		explicit_bzero(text, text_len);
	free(text);
	sk_users_free(users);
	sk_kedit_free(&f);
	return rc;
}
