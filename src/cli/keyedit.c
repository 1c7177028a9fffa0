/*
 * keyedit.c — finding, replacing and appending entries in the users and API-key files, and the atomic
 * rewrite (see keyedit.h).
 *
 * Invariants: the entry is located from libfyaml's event stream (the same parser the loaders use), so
 * both agree on where an entry starts and ends; only a block-style root mapping is edited, where every
 * key starts its own line and an entry's lines belong to it alone.
 */
#include "cli/keyedit.h"

#include <errno.h>
#include <fcntl.h>
#include <libfyaml.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "access/keyfile.h"
#include "access/users.h"
#include "config/yaml_quiet.h"
#include "core/file.h"

int sk_kedit_read(struct sk_kedit *f, const char *arg, struct sk_err *err)
{
	*f = (struct sk_kedit){ .arg = arg };
	struct stat st;
	if (lstat(arg, &st) == -1 && errno == ENOENT) {
		/* No such file: a new, empty one (a dangling symlink is refused below by realpath). */
		f->path = sk_strdup(arg);
		f->buf = sk_strdup("");
		return 0;
	}
	f->path = realpath(arg, NULL);
	if (!f->path)
		return sk_err_set(err, arg, 0, 0, "cannot resolve: %s", strerror(errno));
	if (sk_keyfile_read(f->path, &f->buf, &f->len, err) == -1) {
		snprintf(err->file, sizeof(err->file), "%s", arg);
		return -1;
	}
	if (stat(f->path, &f->st) == -1)
		return sk_err_set(err, arg, 0, 0, "stat: %s", strerror(errno));
	f->exists = true;
	return 0;
}

void sk_kedit_free(struct sk_kedit *f)
{
	free(f->path);
	free(f->buf);
	*f = (struct sk_kedit){ 0 };
}

/* Walk state: which entry of the root mapping, and how far its value reaches. */
struct find {
	const char *buf;   /* the text being parsed */
	size_t len;
	const char *name;
	size_t depth;      /* open collections; the root mapping is depth 1 */
	size_t items;      /* nodes seen at depth 1 (keys and values alike) */
	bool matched;      /* the current key is name */
	bool done;
	size_t start, end; /* of the matched entry */
	int line;
	int indent;        /* column of the first key, -1 before one is seen */
	bool flow_root;
	bool first_doc_done;
};

/* libfyaml's marks of a quoted scalar are inside the quotes: true when c closes or opens one. */
static bool is_quote_of(struct fy_event *e, char c)
{
	if (e->type != FYET_SCALAR)
		return false;
	enum fy_scalar_style st = fy_token_scalar_style(e->scalar.value);
	return (st == FYSS_DOUBLE_QUOTED && c == '"') || (st == FYSS_SINGLE_QUOTED && c == '\'');
}

/* Extends the matched entry's end to the end of this event (block ends carry no useful position). */
static void reach(struct find *w, struct fy_event *e)
{
	if (!w->matched || w->done)
		return;
	const struct fy_mark *m = fy_event_end_mark(e);
	if (!m)
		return;
	size_t end = m->input_pos;
	if (end < w->len && is_quote_of(e, w->buf[end]))
		end++;
	if (end > w->end)
		w->end = end;
}

/* The value of the current key is complete. */
static void value_done(struct find *w)
{
	if (w->matched)
		w->done = true;
	w->matched = false;
}

static void on_event(struct find *w, struct fy_event *e)
{
	switch (e->type) {
	case FYET_DOCUMENT_END:
		w->first_doc_done = true;
		return;
	case FYET_MAPPING_START:
	case FYET_SEQUENCE_START: {
		if (w->depth == 0 && e->type == FYET_MAPPING_START) {
			struct fy_token *t = e->mapping_start.mapping_start;
			w->flow_root = t && fy_token_get_type(t) == FYTT_FLOW_MAPPING_START;
		} else if (w->depth == 1) {
			w->items++;
		}
		if (w->depth >= 2)
			reach(w, e);
		w->depth++;
		return;
	}
	case FYET_MAPPING_END:
	case FYET_SEQUENCE_END: {
		struct fy_token *t = e->type == FYET_MAPPING_END ? e->mapping_end.mapping_end : e->sequence_end.sequence_end;
		if (w->depth >= 2 && t && fy_token_get_type(t) != FYTT_BLOCK_END)
			reach(w, e);
		w->depth--;
		if (w->depth == 1)
			value_done(w);
		return;
	}
	case FYET_SCALAR:
	case FYET_ALIAS:
		if (w->depth == 1 && w->items++ % 2 == 0) {
			/* A key of the root mapping. */
			const struct fy_mark *m = fy_event_start_mark(e);
			if (w->indent < 0 && m)
				w->indent = m->column - (m->input_pos > 0 && is_quote_of(e, w->buf[m->input_pos - 1]));
			size_t n = 0;
			const char *s = e->type == FYET_SCALAR ? fy_token_get_text(e->scalar.value, &n) : NULL;
			if (!w->done && s && m && n == strlen(w->name) && memcmp(s, w->name, n) == 0) {
				w->matched = true;
				w->start = w->end = m->input_pos;
				if (w->start > 0 && is_quote_of(e, w->buf[w->start - 1]))
					w->start--;
				w->line = m->line + 1;
				reach(w, e);
			}
			return;
		}
		if (w->depth >= 1)
			reach(w, e);
		if (w->depth == 1)
			value_done(w);
		return;
	default:
		return;
	}
}

int sk_kedit_find_yaml(const struct sk_kedit *f, const char *name, struct sk_kedit_span *span, int *indent,
		       struct sk_err *err)
{
	int rc = -1;
	struct fy_parser *fyp = NULL;
	struct fy_diag *diag = sk_yaml_quiet_diag();
	if (!diag) {
		sk_err_set(err, f->arg, 0, 0, "cannot create the YAML diagnostics");
		goto out;
	}
	fyp = sk_yaml_quiet_parser(diag, f->buf, f->len);
	if (!fyp) {
		sk_err_set(err, f->arg, 0, 0, "cannot create the YAML parser");
		goto out;
	}
	struct find w = { .buf = f->buf, .len = f->len, .name = name, .indent = -1 };
	struct fy_event *e;
	while (!w.first_doc_done && (e = fy_parser_parse(fyp))) {
		on_event(&w, e);
		fy_parser_event_free(fyp, e);
	}
	if (fy_parser_get_stream_error(fyp) || fy_diag_got_error(diag)) {
		/* The loader already accepted this text: only a parser that disagrees with itself gets here. */
		sk_err_set(err, f->arg, 0, 0, "not valid YAML");
		goto out;
	}
	if (w.flow_root) {
		sk_err_set(err, f->arg, 0, 0,
			   "the file is one flow mapping { ... }: write one entry per line (name: { ... }) to edit it");
		goto out;
	}
	*indent = w.indent < 0 ? 0 : w.indent;
	if (!w.done) {
		rc = 0;
		goto out;
	}
	span->start = w.start;
	span->end = w.end;
	span->line = w.line;
	size_t ls = w.start;
	while (ls > 0 && f->buf[ls - 1] != '\n')
		ls--;
	span->line_start = ls;
	const char *nl = memchr(f->buf + w.end, '\n', f->len - w.end);
	span->line_end = nl ? (size_t)(nl - f->buf) + 1 : f->len;
	rc = 1;
out:
	if (fyp)
		fy_parser_destroy(fyp);
	if (diag)
		fy_diag_destroy(diag);
	return rc;
}

int sk_kedit_write(const struct sk_kedit *f, const char *buf, size_t len, struct sk_err *err)
{
	return sk_file_replace(f->path, f->arg, f->exists ? &f->st : NULL, buf, len, err);
}

void sk_kedit_yaml_quoted(FILE *out, const char *s)
{
	fputc('"', out);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(out, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(out, "\\x%02x", *p);
		else
			fputc(*p, out);
	}
	fputc('"', out);
}

void sk_kedit_yaml_str(FILE *out, const char *s)
{
	/* Words a YAML 1.1 reader would take for a boolean or a null. */
	static const char *const special[] = { "y", "n", "yes", "no", "on", "off", "true", "false", "null", NULL };
	bool plain = (s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') || s[0] == '_';
	for (const char *p = s; plain && *p; p++)
		plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_' ||
			*p == '-' || *p == '.' || *p == '@';
	for (int i = 0; plain && special[i]; i++)
		plain = strcasecmp(s, special[i]) != 0;
	if (plain)
		fputs(s, out);
	else
		sk_kedit_yaml_quoted(out, s);
}

void sk_kedit_today(char out[11])
{
	sk_keyfile_format_date((int64_t)time(NULL), out);
}

void sk_kedit_report(const struct sk_err *err)
{
	char line[sizeof(err->file) + sizeof(err->msg) + 32];
	sk_err_format(err, line, sizeof(line));
	fprintf(stderr, "sekisho: %s\n", line);
}

void sk_kedit_user_policies(FILE *out, const struct sk_user *u)
{
	if (!u->n_policies)
		return;
	fputs(", policies: [", out);
	for (size_t i = 0; i < u->n_policies; i++) {
		if (i)
			fputs(", ", out);
		sk_kedit_yaml_str(out, u->policies[i]);
	}
	fputc(']', out);
}
