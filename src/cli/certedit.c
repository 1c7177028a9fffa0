/*
 * certedit.c — adding and removing one entry of the `certificates:` mapping in a config file's text,
 * for `sekisho cert add|delete` (see certedit.h).
 *
 * The top-level `certificates:` entry is found with keyedit's libfyaml walk; inside it, the two styles
 * an operator writes are handled:
 *   flow   certificates: { site: { cert: a, key: b }, old: {...} }   → entries split at top-level commas
 *   block  certificates:\n  site: { cert: a, key: b }\n  old:\n    cert: ...  → entries are the lines at the
 *          children's indentation, with the deeper lines under them
 * Everything outside the edited entry is kept byte for byte (comments included).
 */
#include "cli/certedit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool blank_or_comment(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '#')
			return true;
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
			return false;
	}
	return true;
}

static size_t line_end(const char *buf, size_t len, size_t p)
{
	const char *nl = memchr(buf + p, '\n', len - p);
	return nl ? (size_t)(nl - buf) + 1 : len;
}

static size_t indent_of(const char *s, size_t n)
{
	size_t i = 0;
	while (i < n && s[i] == ' ')
		i++;
	return i;
}

/* True when s (n bytes, from an entry's start) is `name`, maybe quoted, followed by optional spaces and ':'. */
static bool key_is(const char *s, size_t n, const char *name)
{
	size_t k = strlen(name), i = 0;
	char q = 0;
	if (n > 0 && (s[0] == '"' || s[0] == '\'')) {
		q = s[0];
		i = 1;
	}
	if (n < i + k || memcmp(s + i, name, k) != 0)
		return false;
	i += k;
	if (q) {
		if (i >= n || s[i] != q)
			return false;
		i++;
	}
	while (i < n && (s[i] == ' ' || s[i] == '\t'))
		i++;
	return i < n && s[i] == ':';
}

static char *splice(const char *buf, size_t len, size_t from, size_t to, const char *ins, size_t *out_len)
{
	size_t k = strlen(ins);
	char *o = sk_malloc(len - (to - from) + k + 1);
	memcpy(o, buf, from);
	memcpy(o + from, ins, k);
	memcpy(o + from + k, buf + to, len - to);
	*out_len = len - (to - from) + k;
	o[*out_len] = '\0';
	return o;
}

/* Top-level entries of a flow mapping between open+1 and close: starts and ends (at the comma or close). */
static size_t flow_entries(const char *buf, size_t open, size_t close, size_t *starts, size_t *ends, size_t cap)
{
	size_t n = 0, depth = 0, s = open + 1;
	char q = 0;
	for (size_t i = open + 1; i <= close; i++) {
		char ch = buf[i];
		if (q) {
			if (ch == '\\' && q == '"' && i + 1 < close)
				i++;
			else if (ch == q)
				q = 0;
			continue;
		}
		if (ch == '"' || ch == '\'')
			q = ch;
		else if (ch == '{' || ch == '[')
			depth++;
		else if ((ch == '}' || ch == ']') && depth > 0)
			depth--;
		else if ((ch == ',' && depth == 0) || i == close) {
			while (s < i && (buf[s] == ' ' || buf[s] == '\t' || buf[s] == '\n' || buf[s] == '\r'))
				s++;
			if (s < i && n < cap) {
				starts[n] = s;
				ends[n] = i;
				n++;
			}
			s = i + 1;
		}
	}
	return n;
}

enum { MAX_ENTRIES = 1024 };

/* Where the certificates value is: sets *flow and *vpos (the '{' of a flow mapping, else the key's line
 * end). Returns 1 found, 0 absent, -1 with err. */
static int locate(const struct sk_kedit *f, struct sk_kedit_span *sp, bool *flow, size_t *vpos, struct sk_err *err)
{
	int indent;
	int found = sk_kedit_find_yaml(f, "certificates", sp, &indent, err);
	if (found <= 0)
		return found;
	const char *colon = memchr(f->buf + sp->start, ':', sp->end - sp->start);
	if (!colon)
		return sk_err_set(err, f->arg, sp->line, 0, "cannot find the ':' of 'certificates'");
	size_t v = (size_t)(colon - f->buf) + 1;
	while (v < f->len && (f->buf[v] == ' ' || f->buf[v] == '\t'))
		v++;
	if (v < f->len && f->buf[v] == '{') {
		*flow = true;
		*vpos = v;
		return 1;
	}
	if (v >= f->len || f->buf[v] == '\n' || f->buf[v] == '\r' || f->buf[v] == '#') {
		*flow = false;
		*vpos = line_end(f->buf, f->len, v);
		return 1;
	}
	return sk_err_set(err, f->arg, sp->line, 0,
			  "'certificates' is neither a block nor a flow mapping; edit it by hand");
}

char *sk_certedit_add(const struct sk_kedit *f, const char *name, const char *entry, size_t *out_len,
		      struct sk_err *err)
{
	struct sk_kedit_span sp;
	bool flow = false;
	size_t v = 0;
	int found = locate(f, &sp, &flow, &v, err);
	if (found < 0)
		return NULL;
	char ins[4096];
	if (found == 0) { /* no certificates yet: a new block at the end */
		bool nl = f->len == 0 || f->buf[f->len - 1] == '\n';
		snprintf(ins, sizeof(ins), "%scertificates:\n  %s: %s\n", nl ? "" : "\n", name, entry);
		return splice(f->buf, f->len, f->len, f->len, ins, out_len);
	}
	if (flow) {
		size_t close = sp.end - 1;
		if (f->buf[close] != '}')
			return sk_err_set(err, f->arg, sp.line, 0, "cannot find the end of 'certificates'"), NULL;
		size_t last = close;
		while (last > v + 1 && strchr(" \t\r\n", f->buf[last - 1]))
			last--;
		if (last == v + 1)
			snprintf(ins, sizeof(ins), " %s: %s ", name, entry);
		else
			snprintf(ins, sizeof(ins), ", %s: %s", name, entry);
		return splice(f->buf, f->len, last, last, ins, out_len);
	}
	/* Block: in line with the first child, after the mapping's last line. */
	size_t key_indent = indent_of(f->buf + sp.line_start, sp.end - sp.line_start);
	size_t child = key_indent + 2;
	for (size_t p = v; p < sp.line_end; p = line_end(f->buf, f->len, p)) {
		size_t e = line_end(f->buf, f->len, p);
		if (!blank_or_comment(f->buf + p, e - p)) {
			child = indent_of(f->buf + p, e - p);
			break;
		}
	}
	size_t at = sp.line_end;
	bool nl = at == 0 || f->buf[at - 1] == '\n';
	snprintf(ins, sizeof(ins), "%s%*s%s: %s\n", nl ? "" : "\n", (int)child, "", name, entry);
	return splice(f->buf, f->len, at, at, ins, out_len);
}

char *sk_certedit_delete(const struct sk_kedit *f, const char *name, size_t *out_len, struct sk_err *err)
{
	struct sk_kedit_span sp;
	bool flow = false;
	size_t v = 0;
	int found = locate(f, &sp, &flow, &v, err);
	if (found < 0)
		return NULL;
	if (found == 0)
		return sk_err_set(err, f->arg, 0, 0, "no 'certificates' in this file"), NULL;
	if (flow) {
		size_t close = sp.end - 1;
		size_t *starts = sk_calloc(MAX_ENTRIES, sizeof(size_t)), *ends = sk_calloc(MAX_ENTRIES, sizeof(size_t));
		size_t n = flow_entries(f->buf, v, close, starts, ends, MAX_ENTRIES);
		char *out = NULL;
		for (size_t i = 0; i < n && !out; i++) {
			if (!key_is(f->buf + starts[i], ends[i] - starts[i], name))
				continue;
			if (n == 1)
				out = splice(f->buf, f->len, v + 1, close, " ", out_len);
			else if (i > 0) /* from the comma before it to its end */
				out = splice(f->buf, f->len, ends[i - 1], ends[i], "", out_len);
			else /* the first: up to the next entry's start */
				out = splice(f->buf, f->len, starts[0], starts[1], "", out_len);
		}
		free(starts);
		free(ends);
		if (!out)
			sk_err_set(err, f->arg, sp.line, 0, "no certificate '%s' in 'certificates'", name);
		return out;
	}
	/* Block: the child line naming it, and the deeper lines under it. */
	size_t child = SIZE_MAX;
	for (size_t p = v; p < sp.line_end; p = line_end(f->buf, f->len, p)) {
		size_t e = line_end(f->buf, f->len, p);
		if (blank_or_comment(f->buf + p, e - p))
			continue;
		size_t ind = indent_of(f->buf + p, e - p);
		if (child == SIZE_MAX)
			child = ind;
		if (ind != child || !key_is(f->buf + p + ind, e - p - ind, name))
			continue;
		size_t q = e;
		while (q < sp.line_end) {
			size_t qe = line_end(f->buf, f->len, q);
			if (!blank_or_comment(f->buf + q, qe - q) && indent_of(f->buf + q, qe - q) <= child)
				break;
			q = qe;
		}
		return splice(f->buf, f->len, p, q, "", out_len);
	}
	return sk_err_set(err, f->arg, sp.line, 0, "no certificate '%s' in 'certificates'", name), NULL;
}
