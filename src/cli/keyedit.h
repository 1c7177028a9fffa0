/*
 * keyedit.h — text edits of the users file and the API-key file for `passwd` and `apikey` (DESIGN §6,
 * §7): find one top-level entry's bytes, replace, delete or append it, and write the file back
 * atomically. Internal to src/cli/.
 *
 * Invariants: the files are never re-serialised: every byte outside the edited entry is kept (comments,
 * blank lines, other entries, their quoting). A write goes to FILE.tmp (created exclusively), keeps the
 * mode and owner of FILE (0600 for a new file: it holds password hashes), is fsynced and renamed over
 * FILE; a file changed by someone else since it was read is refused, not overwritten.
 */
#ifndef SK_CLI_KEYEDIT_H
#define SK_CLI_KEYEDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/stat.h>

#include "core/core.h"

/* One file being edited. */
struct sk_kedit {
	const char *arg; /* as named on the command line: used in messages */
	char *path;      /* the file actually written (a symlink's target) */
	char *buf;       /* its text, NUL-terminated (empty when the file does not exist yet) */
	size_t len;
	bool exists;
	struct stat st;  /* at read time */
};

/* Where one top-level entry of a YAML file is. */
struct sk_kedit_span {
	size_t start;      /* first byte of the key */
	size_t end;        /* just past the value (a trailing comment stays after it) */
	size_t line_start; /* start of the key's line */
	size_t line_end;   /* just past the newline of the value's last line (or the end of the text) */
	int line;          /* 1-based line of the key */
};

/* Reads f->arg; a missing file is an empty one (exists = false). Returns 0 or -1 with err filled. */
int sk_kedit_read(struct sk_kedit *f, const char *arg, struct sk_err *err);
void sk_kedit_free(struct sk_kedit *f);

/*
 * Finds the top-level entry `name` of a YAML text. Returns 1 with *span filled, 0 when absent, -1 with
 * err filled when the file cannot be edited by lines (a flow-style root `{ ... }`). *indent receives the
 * column of the entries' keys (0 for an empty file), for appending a new entry in line with the others.
 */
int sk_kedit_find_yaml(const struct sk_kedit *f, const char *name, struct sk_kedit_span *span, int *indent,
		       struct sk_err *err);

/* Writes buf[0..len) over the file, atomically (see the invariants above). Returns 0 or -1 with err
 * filled; the file is then untouched. */
int sk_kedit_write(const struct sk_kedit *f, const char *buf, size_t len, struct sk_err *err);

/* Writes s as a YAML scalar: plain when that reads back as the same string, else double-quoted. */
void sk_kedit_yaml_str(FILE *out, const char *s);

struct sk_user;
/* Writes ", policies: [a, b]" for a user that has policies (nothing otherwise): rewrites of a users-file
 * entry keep them, since dropping them would take the user's policies away without a word. */
void sk_kedit_user_policies(FILE *out, const struct sk_user *u);
/* Writes s always double-quoted (hashes, digests: never left for a reader to reinterpret). */
void sk_kedit_yaml_quoted(FILE *out, const char *s);
/* Today's date (UTC) as YYYY-MM-DD. */
void sk_kedit_today(char out[11]);
/* Prints err once, as "sekisho: FILE:LINE:COL: message". */
void sk_kedit_report(const struct sk_err *err);

#endif
