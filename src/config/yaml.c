/*
 * yaml.c — YAML text → a small tree of struct sk_cnode in which every node, mapping and sequence
 * included, knows its line and column. libfyaml's document API only gives positions for scalars, so the
 * tree is built from the event stream.
 *
 * Invariants: libfyaml never prints (its diagnostics are collected and the first error becomes an
 * sk_err); mapping keys are scalars and unique; aliases are expanded into copies, and the total number
 * of nodes is capped so that nested aliases ("billion laughs") cannot exhaust memory.
 */
#include "config/config_int.h"
#include "config/yaml_quiet.h"

#include <libfyaml.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Far above any real configuration (100 000-entry sets belong in set files), far below trouble. */
#define MAX_NODES 1000000
/* The schema is a few levels deep; the cap keeps the recursive copy and free well inside the stack. */
#define MAX_DEPTH 64

#define SK_STR_(x) #x
#define SK_STR(x) SK_STR_(x)

struct anchor {
	char *name;
	struct sk_cnode *node; /* completed node; owned by the tree */
};

struct builder {
	const char *file;
	struct sk_err *err;
	struct sk_cnode *root;
	struct sk_cnode **stack; /* open collections, innermost last */
	char **stack_anchor;     /* anchor declared on each open collection, or NULL */
	size_t depth, stack_cap;
	struct anchor *anchors;
	size_t n_anchors, anchors_cap;
	size_t nodes;
	int last_line, last_col; /* position of the last node made, for values libfyaml gives none */
	int docs;
};

static struct sk_cnode *node_new(struct builder *b, enum sk_cnode_type type, const struct fy_mark *m)
{
	struct sk_cnode *n = sk_calloc(1, sizeof(*n));
	n->type = type;
	if (m && m->line >= 0) {
		n->line = m->line + 1;
		n->col = m->column + 1;
	} else {
		n->line = b->last_line;
		n->col = b->last_col;
	}
	b->last_line = n->line;
	b->last_col = n->col;
	b->nodes++;
	return n;
}

void sk_cfg_node_free(struct sk_cnode *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->n; i++)
		sk_cfg_node_free(n->kids[i]);
	free(n->kids);
	free(n->str);
	free(n);
}

static void add_kid(struct sk_cnode *parent, struct sk_cnode *kid)
{
	if (parent->n == parent->cap) {
		parent->cap = parent->cap ? parent->cap * 2 : 8;
		parent->kids = sk_realloc(parent->kids, parent->cap * sizeof(*parent->kids));
	}
	parent->kids[parent->n++] = kid;
}

static struct sk_cnode *copy_tree(struct builder *b, const struct sk_cnode *src, int *budget_left)
{
	if (--*budget_left < 0)
		return NULL;
	struct sk_cnode *n = sk_calloc(1, sizeof(*n));
	*n = (struct sk_cnode){ .type = src->type, .line = src->line, .col = src->col, .plain = src->plain };
	if (src->str)
		n->str = sk_strdup(src->str);
	b->nodes++;
	for (size_t i = 0; i < src->n; i++) {
		struct sk_cnode *k = copy_tree(b, src->kids[i], budget_left);
		if (!k) {
			sk_cfg_node_free(n);
			return NULL;
		}
		add_kid(n, k);
	}
	return n;
}

static int fail_at(struct builder *b, int line, int col, const char *fmt, const char *arg)
{
	return sk_err_set(b->err, b->file, line, col, fmt, arg);
}

/* Keys of one mapping must be unique: sort their indexes by text, then compare neighbours. */
static int cmp_keys(const void *pa, const void *pb, void *arg)
{
	const struct sk_cnode *map = arg;
	size_t a = *(const size_t *)pa, b = *(const size_t *)pb;
	int r = strcmp(map->kids[2 * a]->str, map->kids[2 * b]->str);
	if (r)
		return r;
	return a < b ? -1 : a > b;
}

static int check_duplicate_keys(struct builder *b, const struct sk_cnode *map)
{
	size_t pairs = SK_CN_PAIRS(map);
	if (pairs < 2)
		return 0;
	size_t *idx = sk_malloc(pairs * sizeof(*idx));
	for (size_t i = 0; i < pairs; i++)
		idx[i] = i;
	qsort_r(idx, pairs, sizeof(*idx), cmp_keys, (void *)map);
	int rc = 0;
	for (size_t i = 1; i < pairs; i++) {
		const struct sk_cnode *first = SK_CN_KEY(map, idx[i - 1]);
		const struct sk_cnode *again = SK_CN_KEY(map, idx[i]);
		if (strcmp(first->str, again->str) != 0)
			continue;
		/* Equal keys sort by their order in the text: report the later one, naming the earlier. */
		sk_err_set(b->err, b->file, again->line, again->col, "duplicate key '%s' (first at line %d, column %d)",
			   again->str, first->line, first->col);
		rc = -1;
		break;
	}
	free(idx);
	return rc;
}

static void remember_anchor(struct builder *b, const char *name, struct sk_cnode *node)
{
	if (b->n_anchors == b->anchors_cap) {
		b->anchors_cap = b->anchors_cap ? b->anchors_cap * 2 : 8;
		b->anchors = sk_realloc(b->anchors, b->anchors_cap * sizeof(*b->anchors));
	}
	b->anchors[b->n_anchors++] = (struct anchor){ .name = sk_strdup(name), .node = node };
}

static char *token_text(struct fy_token *t)
{
	size_t len = 0;
	const char *s = t ? fy_token_get_text(t, &len) : NULL;
	return s ? sk_slice_dup((struct sk_slice){ .ptr = s, .len = len }) : NULL;
}

/* Attaches a finished node to the open collection (or makes it the root). Takes ownership. */
static int attach(struct builder *b, struct sk_cnode *n)
{
	if (b->depth == 0) {
		if (b->root) {
			int line = n->line, col = n->col;
			sk_cfg_node_free(n);
			return fail_at(b, line, col, "%s", "only one YAML document is allowed");
		}
		b->root = n;
		return 0;
	}
	struct sk_cnode *parent = b->stack[b->depth - 1];
	if (parent->type == SK_CN_MAP && parent->n % 2 == 0 && n->type != SK_CN_SCALAR) {
		int line = n->line, col = n->col;
		sk_cfg_node_free(n);
		return fail_at(b, line, col, "%s", "mapping keys must be plain strings");
	}
	add_kid(parent, n);
	return 0;
}

static int push(struct builder *b, struct sk_cnode *n, struct fy_token *anchor)
{
	if (b->depth == b->stack_cap) {
		b->stack_cap = b->stack_cap ? b->stack_cap * 2 : 16;
		b->stack = sk_realloc(b->stack, b->stack_cap * sizeof(*b->stack));
		b->stack_anchor = sk_realloc(b->stack_anchor, b->stack_cap * sizeof(*b->stack_anchor));
	}
	/* Keys must be scalars: refuse a collection in key position before it is built. */
	if (b->depth > 0) {
		struct sk_cnode *parent = b->stack[b->depth - 1];
		if (parent->type == SK_CN_MAP && parent->n % 2 == 0) {
			int line = n->line, col = n->col;
			sk_cfg_node_free(n);
			return fail_at(b, line, col, "%s", "mapping keys must be plain strings");
		}
	}
	if (b->depth >= MAX_DEPTH) {
		int line = n->line, col = n->col;
		sk_cfg_node_free(n);
		return fail_at(b, line, col, "nesting deeper than %s levels", SK_STR(MAX_DEPTH));
	}
	b->stack[b->depth] = n;
	b->stack_anchor[b->depth] = token_text(anchor);
	b->depth++;
	return 0;
}

static int pop(struct builder *b)
{
	SK_ASSERT(b->depth > 0);
	b->depth--;
	struct sk_cnode *n = b->stack[b->depth];
	char *anchor = b->stack_anchor[b->depth];
	int rc = 0;
	if (n->type == SK_CN_MAP)
		rc = check_duplicate_keys(b, n);
	if (rc == 0 && anchor)
		remember_anchor(b, anchor, n);
	free(anchor);
	if (rc == -1) {
		sk_cfg_node_free(n);
		return -1;
	}
	return attach(b, n);
}

static int on_event(struct builder *b, struct fy_event *e)
{
	const struct fy_mark *m = fy_event_start_mark(e);
	switch (e->type) {
	case FYET_DOCUMENT_START:
		if (++b->docs > 1)
			return fail_at(b, m ? m->line + 1 : 0, m ? m->column + 1 : 0, "%s",
				       "only one YAML document is allowed");
		return 0;
	case FYET_SCALAR: {
		struct sk_cnode *n = node_new(b, SK_CN_SCALAR, m);
		size_t len = 0;
		const char *s = fy_token_get_text(e->scalar.value, &len);
		n->str = sk_slice_dup((struct sk_slice){ .ptr = s ? s : "", .len = s ? len : 0 });
		enum fy_scalar_style style = fy_token_scalar_style(e->scalar.value);
		n->plain = style == FYSS_PLAIN;
		/* libfyaml marks a quoted scalar after its quote; operators expect the quote itself. */
		if ((style == FYSS_SINGLE_QUOTED || style == FYSS_DOUBLE_QUOTED) && n->col > 1 && m && m->line >= 0)
			n->col--;
		if (strlen(n->str) != len) {
			int line = n->line, col = n->col;
			sk_cfg_node_free(n);
			return fail_at(b, line, col, "%s", "a string may not contain a NUL character");
		}
		if (e->scalar.anchor) {
			char *a = token_text(e->scalar.anchor);
			remember_anchor(b, a, n);
			free(a);
		}
		return attach(b, n);
	}
	case FYET_MAPPING_START:
		return push(b, node_new(b, SK_CN_MAP, m), e->mapping_start.anchor);
	case FYET_SEQUENCE_START:
		return push(b, node_new(b, SK_CN_SEQ, m), e->sequence_start.anchor);
	case FYET_MAPPING_END:
	case FYET_SEQUENCE_END:
		return pop(b);
	case FYET_ALIAS: {
		char *name = token_text(e->alias.anchor);
		/* The mark is after the '*': point at the '*' itself. */
		int line = m ? m->line + 1 : b->last_line, col = m ? SK_MAX(m->column, 1) : b->last_col;
		const struct sk_cnode *target = NULL;
		for (size_t i = b->n_anchors; i-- > 0;)
			if (name && strcmp(b->anchors[i].name, name) == 0) {
				target = b->anchors[i].node;
				break;
			}
		if (!target) {
			int rc = fail_at(b, line, col, "unknown alias '*%s'", name ? name : "");
			free(name);
			return rc;
		}
		free(name);
		int budget = b->nodes < MAX_NODES ? (int)(MAX_NODES - b->nodes) : 0;
		struct sk_cnode *n = copy_tree(b, target, &budget);
		if (!n)
			return fail_at(b, line, col, "%s", "too many nodes once aliases are expanded");
		n->line = line;
		n->col = col;
		return attach(b, n);
	}
	default:
		return 0;
	}
}

/*
 * YAML text is Unicode; the file must be UTF-8. Checking it first also keeps libfyaml 0.7.12 out of a
 * loop it enters on a '%' directive followed by invalid UTF-8. Returns 0, or -1 with err at the byte.
 */
static int check_utf8(const char *file, const unsigned char *s, size_t len, struct sk_err *err)
{
	int line = 1, col = 1;
	for (size_t i = 0; i < len;) {
		unsigned c = s[i];
		size_t n = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
		bool ok = n > 0 && i + n <= len;
		uint32_t cp = n == 1 ? c : n == 2 ? (c & 0x1f) : n == 3 ? (c & 0x0f) : (c & 0x07);
		for (size_t k = 1; ok && k < n; k++) {
			ok = (s[i + k] & 0xc0) == 0x80;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		/* No overlong forms, no surrogates, nothing above U+10FFFF. */
		ok = ok && !(n == 2 && cp < 0x80) && !(n == 3 && cp < 0x800) && !(n == 4 && cp < 0x10000) &&
		     !(cp >= 0xd800 && cp <= 0xdfff) && cp <= 0x10ffff;
		if (!ok)
			return sk_err_set(err, file, line, col, "invalid UTF-8 (a configuration file must be UTF-8 text)");
		if (c == '\n') {
			line++;
			col = 1;
		} else {
			col++;
		}
		i += n;
	}
	return 0;
}

/* json: libfyaml in JSON mode (FYPCF_JSON_FORCE), for policy documents; the tree is the same. */
static int tree_parse(const char *file, const char *buf, size_t len, bool json, struct sk_cnode **out,
		      struct sk_err *err)
{
	struct builder b = { .file = file, .err = err, .last_line = 1, .last_col = 1 };
	struct fy_diag *diag = NULL;
	struct fy_parser *fyp = NULL;
	int rc = -1;

	if (check_utf8(file, (const unsigned char *)buf, len, err) == -1)
		goto out;

	diag = sk_yaml_quiet_diag();
	if (!diag) {
		sk_err_set(err, file, 0, 0, "cannot create the YAML diagnostics");
		goto out;
	}
	if (json) {
		struct fy_parse_cfg pcfg = sk_yaml_quiet_cfg(diag);
		pcfg.flags |= FYPCF_JSON_FORCE;
		fyp = fy_parser_create(&pcfg);
		if (fyp && fy_parser_set_string(fyp, len ? buf : "", len) != 0) {
			fy_parser_destroy(fyp);
			fyp = NULL;
		}
	} else {
		fyp = sk_yaml_quiet_parser(diag, buf, len);
	}
	if (!fyp) {
		sk_err_set(err, file, 0, 0, "cannot create the YAML parser");
		goto out;
	}
	struct fy_event *e;
	while ((e = fy_parser_parse(fyp))) {
		int r = on_event(&b, e);
		fy_parser_event_free(fyp, e);
		if (r == -1)
			goto out;
		if (b.nodes > MAX_NODES) {
			sk_err_set(err, file, b.last_line, b.last_col, "too many YAML nodes");
			goto out;
		}
	}
	if (fy_parser_get_stream_error(fyp) || fy_diag_got_error(diag)) {
		int line, col;
		const char *msg = sk_yaml_first_error(diag, &line, &col);
		sk_err_set(err, file, line, col, "%s", msg);
		goto out;
	}
	SK_ASSERT(b.depth == 0);
	if (!b.root || (b.root->type == SK_CN_SCALAR && sk_cfg_is_null(b.root))) {
		sk_cfg_node_free(b.root);
		b.root = node_new(&b, SK_CN_MAP, NULL);
		b.root->line = 1;
		b.root->col = 1;
	}
	*out = b.root;
	b.root = NULL;
	rc = 0;
out:
	for (size_t i = 0; i < b.depth; i++) {
		sk_cfg_node_free(b.stack[i]);
		free(b.stack_anchor[i]);
	}
	free(b.stack);
	free(b.stack_anchor);
	for (size_t i = 0; i < b.n_anchors; i++)
		free(b.anchors[i].name);
	free(b.anchors);
	sk_cfg_node_free(b.root);
	if (fyp)
		fy_parser_destroy(fyp);
	if (diag)
		fy_diag_destroy(diag);
	return rc;
}

int sk_cfg_yaml_parse(const char *file, const char *buf, size_t len, struct sk_cnode **out,
		      struct sk_err *err)
{
	return tree_parse(file, buf, len, false, out, err);
}

int sk_cfg_json_parse(const char *file, const char *buf, size_t len, struct sk_cnode **out,
		      struct sk_err *err)
{
	return tree_parse(file, buf, len, true, out, err);
}
