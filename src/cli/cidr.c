/*
 * cidr.c — `sekisho cidr replace --from CIDR --to CIDR [--dry-run] FILE...` (DESIGN §6): replaces one
 * network in IP sets, both in set files (one CIDR per line, `#` comments) and in the inline sets of a
 * config's `ip_sets:` mapping, and nowhere else (not trusted_proxies, not listener ACLs, not comments; a
 * `{ file: PATH }` set is not followed: the operator names set files explicitly).
 *
 * Invariants:
 * - Every byte outside a replaced token is kept: comments, layout, quotes, line endings, a BOM. The YAML
 *   is never re-serialised: libfyaml only says where each scalar under ip_sets starts and ends, and the
 *   new text is spliced into the original bytes (inside the quotes of a quoted scalar).
 * - Matching is semantic and sees the value as the config loader does (family, prefix and masked
 *   network; a bare address is /32 or /128); the new text is always the canonical form of --to.
 *   --from and --to themselves must be canonical networks: host bits are refused, not silently cleared.
 * - Every file is read and planned before any is written, so an unreadable or invalid file changes
 *   nothing. Each rewrite is atomic (FILE.tmp in the same directory, fsync, rename, fsync of the
 *   directory) and keeps the file's mode and, where allowed, its owner. A symlink's target is rewritten.
 * - Exit 0: at least one replacement (made, or to be made with --dry-run); 1: no occurrence; 2: usage, an
 *   invalid CIDR, or a file that cannot be read, parsed or written. Errors are printed once, here.
 */
#include "cli/cli.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libfyaml.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"
#include "core/file.h"
#include "config/yaml_quiet.h"
#include "core/core.h"

/* The config loader's own limit for set files (a config is capped lower, at 64 MiB). */
#define MAX_FILE_BYTES (256u << 20)
/* Longer than any CIDR's text ("ffff:...:255.255.255.255/128"): a longer value is not one. */
#define CIDR_TEXT_MAX 80
/* Frames below this depth cannot matter: root mapping → ip_sets mapping → one set's sequence. */
#define ROLE_DEPTH 3

static const char USAGE[] = "usage: sekisho cidr replace --from CIDR --to CIDR [--dry-run] FILE...\n";

/* What to replace, parsed and checked once. */
struct job {
	struct sk_cidr from, to;
	const char *from_arg;                 /* as typed, for the "no occurrence" message */
	char to_text[INET6_ADDRSTRLEN + 8];   /* canonical text written into files */
	bool dry_run;
};

/* One replacement: the byte range of a token's text (inside the quotes when quoted). */
struct edit {
	size_t start, end;
	int line;
	char old[CIDR_TEXT_MAX]; /* the value as the loader reads it, for the report */
};

/* One named file: its bytes as read and the edits planned for it. Owns path, buf and edits. */
struct plan {
	const char *arg;   /* as named on the command line (used in every message) */
	char *path;        /* realpath: the file actually read and rewritten */
	char *buf;
	size_t len;
	struct stat st;    /* at read time: mode and owner to keep, identity to re-check before writing */
	struct edit *edits;
	size_t n_edits, cap_edits;
	bool duplicate;    /* the same file was named earlier: planned and written only once */
};

/* Per set: enough to warn when the replacement leaves the same network twice in one set. */
struct set_tally {
	char name[72];     /* ip set name; empty for a set file */
	int first_line;    /* of the first replacement */
	size_t replaced;
	size_t holds_to;   /* entries already equal to --to */
};

enum match { M_NONE = 0, M_FROM, M_TO, M_INVALID };

/* Usage on stderr; returns the exit code of a usage error. */
static int usage(void)
{
	fputs(USAGE, stderr);
	return 2;
}

static bool cidr_eq(const struct sk_cidr *a, const struct sk_cidr *b)
{
	return a->family == b->family && a->prefix == b->prefix && memcmp(a->addr, b->addr, sizeof(a->addr)) == 0;
}

/* Writes the canonical text of c ("inet_ntop/prefix") into out (at least INET6_ADDRSTRLEN + 8 bytes). */
static void cidr_format(const struct sk_cidr *c, char *out, size_t cap)
{
	char addr[INET6_ADDRSTRLEN];
	if (!inet_ntop(c->family, c->addr, addr, sizeof(addr)))
		snprintf(addr, sizeof(addr), "?");
	snprintf(out, cap, "%s/%u", addr, (unsigned)c->prefix);
}

/*
 * Parses the CIDR given to option opt into out. sk_cidr_parse clears host bits silently, which is right
 * for a config but wrong for an operator's intent: "10.1.2.3/16" is refused with the network it names.
 * Returns 0, or -1 with err filled.
 */
static int parse_arg_cidr(const char *opt, const char *s, struct sk_cidr *out, struct sk_err *err)
{
	if (!*s || sk_cidr_parse(s, out) == -1)
		return sk_err_set(err, NULL, 0, 0,
				  "%s: invalid CIDR '%s' (expected ADDRESS[/PREFIX], e.g. 192.0.2.0/24 or 2001:db8::/32)",
				  opt, s);
	char addr[64];
	size_t al = strcspn(s, "/");
	SK_ASSERT(al < sizeof(addr)); /* sk_cidr_parse refused longer addresses */
	memcpy(addr, s, al);
	addr[al] = '\0';
	uint8_t raw[16] = { 0 };
	int ok = inet_pton(out->family, addr, raw);
	SK_ASSERT(ok == 1); /* sk_cidr_parse just accepted the same text */
	if (memcmp(raw, out->addr, sizeof(raw)) != 0) {
		char canon[INET6_ADDRSTRLEN + 8];
		cidr_format(out, canon, sizeof(canon));
		return sk_err_set(err, NULL, 0, 0, "%s: host bits set in %s (did you mean %s?)", opt, s, canon);
	}
	return 0;
}

/* Parses a value that is not NUL-terminated exactly as the loader would. Returns 0 or -1. */
static int parse_text(const char *s, size_t n, struct sk_cidr *out)
{
	char text[CIDR_TEXT_MAX];
	if (n == 0 || n >= sizeof(text) || memchr(s, '\0', n))
		return -1;
	memcpy(text, s, n);
	text[n] = '\0';
	return sk_cidr_parse(text, out);
}

/* Classifies a value against the job. */
static enum match classify(const struct job *j, const char *s, size_t n)
{
	struct sk_cidr c;
	if (parse_text(s, n, &c) == -1)
		return M_INVALID;
	if (cidr_eq(&c, &j->from))
		return M_FROM;
	if (cidr_eq(&c, &j->to))
		return M_TO;
	return M_NONE;
}

static void add_edit(struct plan *p, size_t start, size_t end, int line, const char *old, size_t old_len)
{
	SK_ASSERT(start <= end && end <= p->len);
	/* Edits arrive in file order and never overlap; the splice relies on it. */
	SK_ASSERT(p->n_edits == 0 || p->edits[p->n_edits - 1].end <= start);
	if (p->n_edits == p->cap_edits) {
		p->cap_edits = p->cap_edits ? p->cap_edits * 2 : 8;
		p->edits = sk_realloc(p->edits, p->cap_edits * sizeof(*p->edits));
	}
	struct edit *e = &p->edits[p->n_edits++];
	*e = (struct edit){ .start = start, .end = end, .line = line };
	snprintf(e->old, sizeof(e->old), "%.*s", (int)SK_MIN(old_len, sizeof(e->old) - 1), old);
}

/* Counts one entry of a set; the caller has just added an edit when m is M_FROM. */
static void tally_count(struct set_tally *t, enum match m, int line)
{
	if (m == M_TO)
		t->holds_to++;
	if (m != M_FROM)
		return;
	if (t->replaced++ == 0)
		t->first_line = line;
}

/* At the end of a set: the loader accepts duplicates, but the operator probably did not mean one. */
static void tally_done(const struct job *j, const struct plan *p, const struct set_tally *t)
{
	if (t->replaced == 0 || t->replaced + t->holds_to < 2)
		return;
	if (t->name[0])
		fprintf(stderr, "sekisho: warning: %s:%d: ip set '%s' now holds %s %zu times\n", p->arg,
			t->first_line, t->name, j->to_text, t->replaced + t->holds_to);
	else
		fprintf(stderr, "sekisho: warning: %s:%d: the set now holds %s %zu times\n", p->arg, t->first_line,
			j->to_text, t->replaced + t->holds_to);
}

/*
 * Set files, the loader's way: a line holds one CIDR, or nothing once a '#' comment and the blanks
 * around are removed. Finds the next line from *pos; sets [*a, *e) to its content (empty when there is
 * none) and advances *pos. Returns false at the end of the buffer.
 */
static bool next_line(const char *buf, size_t len, size_t *pos, size_t *a, size_t *e)
{
	if (*pos >= len)
		return false;
	const char *s = buf + *pos;
	const char *nl = memchr(s, '\n', len - *pos);
	size_t ll = nl ? (size_t)(nl - s) : len - *pos;
	const char *hash = memchr(s, '#', ll);
	size_t b = 0, f = hash ? (size_t)(hash - s) : ll;
	while (b < f && (s[b] == ' ' || s[b] == '\t'))
		b++;
	while (f > b && (s[f - 1] == ' ' || s[f - 1] == '\t' || s[f - 1] == '\r'))
		f--;
	*a = *pos + b;
	*e = *pos + f;
	*pos += ll + 1;
	return true;
}

/* A set file is one whose first line with content parses as a CIDR (an empty file counts as one). */
static bool is_set_file(const struct plan *p)
{
	size_t pos = 0, a, e;
	while (next_line(p->buf, p->len, &pos, &a, &e)) {
		if (a == e)
			continue;
		struct sk_cidr c;
		return parse_text(p->buf + a, e - a, &c) == 0;
	}
	return true;
}

/* Plans the edits of a set file: every line whose CIDR is --from, in file order. */
static void plan_set_file(const struct job *j, struct plan *p)
{
	struct set_tally t = { 0 };
	size_t pos = 0, a, e;
	int line = 0;
	while (next_line(p->buf, p->len, &pos, &a, &e)) {
		line++;
		if (a == e)
			continue;
		enum match m = classify(j, p->buf + a, e - a);
		if (m == M_INVALID) {
			/* The loader refuses this file anyway; the replacement elsewhere in it is still wanted. */
			fprintf(stderr, "sekisho: warning: %s:%d: '%.*s' is not a CIDR; left as is\n", p->arg, line,
				(int)SK_MIN(e - a, (size_t)64), p->buf + a);
			continue;
		}
		if (m == M_FROM)
			add_edit(p, a, e, line, p->buf + a, e - a);
		tally_count(&t, m, line);
	}
	tally_done(j, p, &t);
}

/* Where the YAML walk is: one frame per open collection, only as deep as roles matter. */
enum role { R_OTHER = 0, R_ROOT, R_IP_SETS, R_SET, R_ITEM };

struct frame {
	enum role role;
	bool is_map;
	size_t items;   /* nodes seen so far (keys and values alike in a mapping) */
	char key[72];   /* the last key of a mapping, when a plain short string; else empty */
};

struct walk {
	const struct job *j;
	struct plan *p;
	struct frame f[ROLE_DEPTH];
	size_t depth;   /* open collections, including those deeper than ROLE_DEPTH */
	struct set_tally tally;
};

/*
 * Gives the role of a node about to be added to the innermost open collection, and remembers mapping
 * keys on the way (`value` is the scalar's token for a scalar, else NULL).
 */
static enum role slot(struct walk *w, enum fy_event_type type, struct fy_token *value)
{
	if (w->depth == 0)
		return type == FYET_MAPPING_START ? R_ROOT : R_OTHER;
	if (w->depth > ROLE_DEPTH)
		return R_OTHER;
	struct frame *pf = &w->f[w->depth - 1];
	size_t idx = pf->items++;
	if (pf->is_map && idx % 2 == 0) {
		pf->key[0] = '\0';
		size_t n = 0;
		const char *s = value ? fy_token_get_text(value, &n) : NULL;
		if (s && n < sizeof(pf->key) && !memchr(s, '\0', n)) {
			memcpy(pf->key, s, n);
			pf->key[n] = '\0';
		}
		return R_OTHER;
	}
	switch (pf->role) {
	case R_ROOT:
		return type == FYET_MAPPING_START && strcmp(pf->key, "ip_sets") == 0 ? R_IP_SETS : R_OTHER;
	case R_IP_SETS:
		/* A sequence is an inline set; a mapping is { file: PATH }, deliberately not followed. */
		return type == FYET_SEQUENCE_START ? R_SET : R_OTHER;
	case R_SET:
		return type == FYET_SCALAR ? R_ITEM : R_OTHER;
	default:
		return R_OTHER;
	}
}

/* A collection opens; a set's sequence starts a new tally named after its key. */
static void push(struct walk *w, enum role role, bool is_map)
{
	if (w->depth < ROLE_DEPTH) {
		w->f[w->depth] = (struct frame){ .role = role, .is_map = is_map };
		if (role == R_SET) {
			w->tally = (struct set_tally){ 0 };
			snprintf(w->tally.name, sizeof(w->tally.name), "%s", w->f[w->depth - 1].key);
		}
	}
	w->depth++;
}

/* A collection closes; the end of a set's sequence settles its tally. */
static void pop(struct walk *w)
{
	SK_ASSERT(w->depth > 0);
	w->depth--;
	if (w->depth < ROLE_DEPTH && w->f[w->depth].role == R_SET)
		tally_done(w->j, w->p, &w->tally);
}

/* One scalar of an inline set: replace it when it is --from. */
static void on_item(struct walk *w, struct fy_event *e)
{
	struct fy_token *tok = e->scalar.value;
	size_t n = 0;
	const char *s = fy_token_get_text(tok, &n);
	if (!s)
		return;
	enum match m = classify(w->j, s, n);
	const struct fy_mark *a = fy_token_start_mark(tok), *z = fy_token_end_mark(tok);
	int line = a ? a->line + 1 : 0;
	if (m != M_FROM) {
		tally_count(&w->tally, m, line);
		return;
	}
	enum fy_scalar_style style = fy_token_scalar_style(tok);
	if (!a || !z || (style != FYSS_PLAIN && style != FYSS_SINGLE_QUOTED && style != FYSS_DOUBLE_QUOTED)) {
		/* A block scalar (| or >) holding a CIDR: splicing would have to rebuild its indentation. */
		fprintf(stderr, "sekisho: warning: %s:%d: %.*s in ip set '%s' is a block scalar; left as is\n",
			w->p->arg, line, (int)SK_MIN(n, (size_t)64), s, w->tally.name);
		return;
	}
	add_edit(w->p, a->input_pos, z->input_pos, line, s, n);
	tally_count(&w->tally, m, line);
	if (e->scalar.anchor)
		fprintf(stderr, "sekisho: warning: %s:%d: this value has an anchor: its aliases change too\n",
			w->p->arg, line);
}

/* Follows one parser event: roles of new nodes, open and closed collections, set items. */
static void on_event(struct walk *w, struct fy_event *e)
{
	switch (e->type) {
	case FYET_SCALAR:
		if (slot(w, e->type, e->scalar.value) == R_ITEM)
			on_item(w, e);
		break;
	case FYET_ALIAS:
		/* An alias in a set stands for a node written elsewhere: it is replaced there, or not at all. */
		slot(w, e->type, NULL);
		break;
	case FYET_MAPPING_START:
		push(w, slot(w, e->type, NULL), true);
		break;
	case FYET_SEQUENCE_START: {
		enum role r = slot(w, e->type, NULL);
		push(w, r, false);
		if (r == R_SET && e->sequence_start.anchor)
			fprintf(stderr, "sekisho: warning: %s: ip set '%s' has an anchor: its aliases change too\n",
				w->p->arg, w->tally.name);
		break;
	}
	case FYET_MAPPING_END:
	case FYET_SEQUENCE_END:
		pop(w);
		break;
	default:
		break;
	}
}

/* libfyaml never prints: its first error is collected and reported once, by the caller. */
/*
 * Plans the edits of a YAML config from libfyaml's event stream (the same stream the loader builds its
 * tree from, so both agree on what is under ip_sets). Returns 0, or -1 with err filled when the text is
 * not YAML.
 */
static int plan_yaml(const struct job *j, struct plan *p, struct sk_err *err)
{
	int rc = -1;
	struct fy_parser *fyp = NULL;
	struct fy_diag *diag = sk_yaml_quiet_diag();
	if (!diag) {
		sk_err_set(err, p->arg, 0, 0, "cannot create the YAML diagnostics");
		goto out;
	}
	fyp = sk_yaml_quiet_parser(diag, p->buf, p->len);
	if (!fyp) {
		sk_err_set(err, p->arg, 0, 0, "cannot create the YAML parser");
		goto out;
	}
	struct walk w = { .j = j, .p = p };
	struct fy_event *e;
	while ((e = fy_parser_parse(fyp))) {
		on_event(&w, e);
		fy_parser_event_free(fyp, e);
	}
	if (fy_parser_get_stream_error(fyp) || fy_diag_got_error(diag)) {
		int line, col;
		const char *msg = sk_yaml_first_error(diag, &line, &col);
		sk_err_set(err, p->arg, line, col, "%s (not valid YAML, and not a set file: its first line is not a CIDR)",
			   msg);
		goto out;
	}
	rc = 0;
out:
	if (fyp)
		fy_parser_destroy(fyp);
	if (diag)
		fy_diag_destroy(diag);
	return rc;
}

/* Reads the file named p->arg (following symlinks) into p. Returns 0, or -1 with err filled. */
static int load(struct plan *p, struct sk_err *err)
{
	int rc = -1, fd = -1;
	p->path = realpath(p->arg, NULL);
	if (!p->path)
		return sk_err_set(err, p->arg, 0, 0, "cannot read: %s", strerror(errno));
	fd = open(p->path, O_RDONLY | O_CLOEXEC);
	if (fd == -1) {
		sk_err_set(err, p->arg, 0, 0, "cannot read: %s", strerror(errno));
		goto out;
	}
	if (fstat(fd, &p->st) == -1) {
		sk_err_set(err, p->arg, 0, 0, "fstat: %s", strerror(errno));
		goto out;
	}
	if (!S_ISREG(p->st.st_mode) || (uint64_t)p->st.st_size > MAX_FILE_BYTES) {
		sk_err_set(err, p->arg, 0, 0, "not a regular file of at most %u MiB", MAX_FILE_BYTES >> 20);
		goto out;
	}
	size_t cap = (size_t)p->st.st_size + 1;
	p->buf = sk_malloc(cap);
	p->len = 0;
	for (;;) {
		if (p->len == cap) {
			/* The file grew while being read; follow it up to the cap. */
			if (cap > MAX_FILE_BYTES) {
				sk_err_set(err, p->arg, 0, 0, "larger than %u MiB", MAX_FILE_BYTES >> 20);
				goto out;
			}
			cap *= 2;
			p->buf = sk_realloc(p->buf, cap);
		}
		ssize_t n = read(fd, p->buf + p->len, cap - p->len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			sk_err_set(err, p->arg, 0, 0, "read: %s", strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		p->len += (size_t)n;
	}
	/* Neither the loader nor this tool reads text past a NUL the same way: refuse, do not guess. */
	const char *nul = memchr(p->buf, '\0', p->len);
	if (nul) {
		int line = 1;
		for (const char *c = p->buf; c < nul; c++)
			line += *c == '\n';
		sk_err_set(err, p->arg, line, 0, "NUL byte: not a text file");
		goto out;
	}
	rc = 0;
out:
	if (fd != -1)
		close(fd);
	return rc;
}

/* Path of the temporary file next to p (caller frees). */
static char *tmp_path(const struct plan *p)
{
	size_t n = strlen(p->path) + sizeof(".tmp");
	char *t = sk_malloc(n);
	snprintf(t, n, "%s.tmp", p->path);
	return t;
}

/*
 * Rewrites p's file with its edits applied, atomically and keeping its mode and owner (sk_file_replace).
 * Returns 0, or -1 with err filled and FILE untouched.
 */
static int rewrite(const struct job *j, const struct plan *p, struct sk_err *err)
{
	size_t tl = strlen(j->to_text);

	size_t len = p->len;
	for (size_t i = 0; i < p->n_edits; i++)
		len = len - (p->edits[i].end - p->edits[i].start) + tl;
	char *out = sk_malloc(len + 1);
	size_t o = 0, from = 0;
	for (size_t i = 0; i < p->n_edits; i++) {
		const struct edit *e = &p->edits[i];
		memcpy(out + o, p->buf + from, e->start - from);
		o += e->start - from;
		memcpy(out + o, j->to_text, tl);
		o += tl;
		from = e->end;
	}
	memcpy(out + o, p->buf + from, p->len - from);
	o += p->len - from;
	SK_ASSERT(o == len);

	int rc = sk_file_replace(p->path, p->arg, &p->st, out, len, err);
	free(out);
	return rc;
}

/*
 * Reads argv (after "replace") into j and the file list (options and files may be mixed; "--" ends the
 * options). Returns 0 (with *help set when the usage was asked for and printed), or 2 after printing the
 * problem. *files is allocated even on failure.
 */
static int parse_args(int argc, char **argv, struct job *j, const char ***files, size_t *n_files, bool *help)
{
	const char *from = NULL, *to = NULL;
	bool opts = true;
	*files = sk_calloc((size_t)argc + 1, sizeof(**files));
	*n_files = 0;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		const char **slot_p = NULL;
		const char *val = NULL;
		if (opts && strcmp(a, "--") == 0) {
			opts = false;
			continue;
		}
		if (!opts || a[0] != '-' || a[1] == '\0') {
			(*files)[(*n_files)++] = a;
			continue;
		}
		if (strcmp(a, "--dry-run") == 0 || strcmp(a, "-n") == 0) {
			j->dry_run = true;
			continue;
		}
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			fputs(USAGE, stdout);
			*help = true;
			return 0;
		}
		if (strcmp(a, "--from") == 0 || strcmp(a, "--to") == 0) {
			if (i + 1 >= argc) {
				fprintf(stderr, "sekisho: %s needs a CIDR\n", a);
				return 2;
			}
			val = argv[++i];
			slot_p = a[2] == 'f' ? &from : &to;
		} else if (strncmp(a, "--from=", 7) == 0) {
			val = a + 7;
			slot_p = &from;
		} else if (strncmp(a, "--to=", 5) == 0) {
			val = a + 5;
			slot_p = &to;
		} else {
			fprintf(stderr, "sekisho: cidr replace: unknown option '%s'\n", a);
			return usage();
		}
		if (*slot_p) {
			fprintf(stderr, "sekisho: %s given twice\n", slot_p == &from ? "--from" : "--to");
			return 2;
		}
		*slot_p = val;
	}
	if (!from || !to || *n_files == 0) {
		fprintf(stderr, "sekisho: cidr replace needs --from, --to and at least one FILE\n");
		return usage();
	}
	struct sk_err err = { 0 };
	if (parse_arg_cidr("--from", from, &j->from, &err) == -1 || parse_arg_cidr("--to", to, &j->to, &err) == -1) {
		fprintf(stderr, "sekisho: %s\n", err.msg);
		return 2;
	}
	if (cidr_eq(&j->from, &j->to)) {
		fprintf(stderr, "sekisho: --from and --to are the same network (%s)\n", to);
		return 2;
	}
	j->from_arg = from;
	cidr_format(&j->to, j->to_text, sizeof(j->to_text));
	return 0;
}

/* Prints err once, as "sekisho: FILE:LINE:COL: message". */
static void report(const struct sk_err *err)
{
	char line[sizeof(err->file) + sizeof(err->msg) + 32];
	sk_err_format(err, line, sizeof(line));
	fprintf(stderr, "sekisho: %s\n", line);
}

/* `cidr replace`: plans every file, then writes them (or only prints, with --dry-run). Returns the exit code. */
static int cidr_replace(int argc, char **argv)
{
	struct job j = { 0 };
	const char **files = NULL;
	struct plan *plans = NULL;
	size_t n = 0, total = 0;
	struct sk_err err = { 0 };
	bool help = false;
	int rc = parse_args(argc, argv, &j, &files, &n, &help);
	if (rc != 0 || help)
		goto out;
	rc = 2;
	plans = sk_calloc(n, sizeof(*plans));

	/* Phase 1: read and plan every file; any problem stops everything before a byte is written. */
	for (size_t i = 0; i < n; i++) {
		struct plan *p = &plans[i];
		p->arg = files[i];
		if (load(p, &err) == -1) {
			report(&err);
			goto out;
		}
		for (size_t k = 0; k < i; k++)
			if (plans[k].st.st_dev == p->st.st_dev && plans[k].st.st_ino == p->st.st_ino)
				p->duplicate = true;
		if (p->duplicate)
			continue;
		if (is_set_file(p))
			plan_set_file(&j, p);
		else if (plan_yaml(&j, p, &err) == -1) {
			report(&err);
			goto out;
		}
		total += p->n_edits;
		if (p->n_edits && !j.dry_run) {
			char *tmp = tmp_path(p);
			struct stat ts;
			bool exists = lstat(tmp, &ts) == 0;
			if (exists)
				sk_err_set(&err, p->arg, 0, 0,
					   "%s already exists (another edit in progress, or a leftover to remove)", tmp);
			free(tmp);
			if (exists) {
				report(&err);
				goto out;
			}
		}
	}
	if (total == 0) {
		fprintf(stderr, "sekisho: no occurrence of %s in", j.from_arg);
		for (size_t i = 0; i < n; i++)
			fprintf(stderr, " %s", files[i]);
		fputc('\n', stderr);
		rc = 1;
		goto out;
	}

	/* Phase 2: write file by file; a file's lines are printed once it is safely in place. */
	for (size_t i = 0; i < n; i++) {
		const struct plan *p = &plans[i];
		if (p->duplicate || p->n_edits == 0)
			continue;
		if (!j.dry_run && rewrite(&j, p, &err) == -1) {
			report(&err);
			if (i + 1 < n)
				fprintf(stderr, "sekisho: the files after %s were left unchanged\n", p->arg);
			goto out;
		}
		for (size_t k = 0; k < p->n_edits; k++)
			printf("%s:%d: %s -> %s\n", p->arg, p->edits[k].line, p->edits[k].old, j.to_text);
		fflush(stdout);
	}
	rc = 0;
out:
	for (size_t i = 0; plans && i < n; i++) {
		free(plans[i].path);
		free(plans[i].buf);
		free(plans[i].edits);
	}
	free(plans);
	free(files);
	return rc;
}

int sk_cli_cidr(int argc, char **argv)
{
	if (argc < 1) {
		fputs(USAGE, stderr);
		return 2;
	}
	if (strcmp(argv[0], "replace") == 0)
		return cidr_replace(argc - 1, argv + 1);
	if (strcmp(argv[0], "-h") == 0 || strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "help") == 0) {
		fputs(USAGE, stdout);
		return 0;
	}
	fprintf(stderr, "sekisho: unknown cidr command '%s'\n", argv[0]);
	return usage();
}
