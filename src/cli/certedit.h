/*
 * certedit.h — text edits of the `certificates:` mapping of a config file, for `sekisho cert add` and
 * `delete` (DESIGN §6). Internal to src/cli/. The config file is never re-serialised: only the entry's
 * bytes change (see certedit.c for the two styles handled).
 */
#ifndef SK_CLI_CERTEDIT_H
#define SK_CLI_CERTEDIT_H

#include "cli/keyedit.h"

/* The text of f with `name: entry` added to `certificates:` (created at the end when absent). entry is a
 * YAML flow mapping. Returns a new string (*out_len bytes), or NULL with err filled. */
char *sk_certedit_add(const struct sk_kedit *f, const char *name, const char *entry, size_t *out_len,
		      struct sk_err *err);
/* The text of f without the certificate `name`. Returns a new string, or NULL with err filled. */
char *sk_certedit_delete(const struct sk_kedit *f, const char *name, size_t *out_len, struct sk_err *err);

#endif
