/*
 * read.c — typed readers over the YAML tree: strings, booleans (true/false only), bounded numbers,
 * durations, paths (resolved against the config file's directory), string and CIDR lists, unknown-key
 * checks and ${NAME} expansion.
 *
 * Invariants: a reader either stores a checked value or fills the error at the offending node (the key
 * for an unknown key, the value for a wrong value, the mapping for a missing key) and returns -1; an
 * absent or null optional value leaves the caller's default untouched. Nothing is printed.
 */
#include "config/config_int.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int sk_cfg_fail(struct sk_cfg_ctx *c, const struct sk_cnode *at, const char *fmt, ...)
{
	char msg[sizeof(c->err->msg)];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return sk_err_set(c->err, c->file, at ? at->line : 0, at ? at->col : 0, "%s", msg);
}

const char *sk_cfg_describe(const struct sk_cnode *n, char *buf, size_t cap)
{
	if (!n || sk_cfg_is_null(n))
		return "nothing";
	if (n->type == SK_CN_MAP)
		return "a mapping";
	if (n->type == SK_CN_SEQ)
		return "a list";
	/* Quote the text, shortened and with control characters masked: it ends up on a terminal. */
	size_t o = 0, max = cap > 8 ? SK_MIN(cap - 6, (size_t)48) : 0;
	if (cap < 8)
		return "a string";
	buf[o++] = '\'';
	const char *s = n->str;
	size_t i = 0;
	for (; s[i] && o < max; i++)
		buf[o++] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
	if (s[i]) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o++] = '\'';
	buf[o] = '\0';
	return buf;
}

bool sk_cfg_is_null(const struct sk_cnode *n)
{
	if (!n)
		return true;
	if (n->type != SK_CN_SCALAR || !n->plain)
		return false;
	const char *s = n->str;
	return !*s || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 || strcmp(s, "Null") == 0 ||
	       strcmp(s, "NULL") == 0;
}

static ssize_t find_key(const struct sk_cnode *map, const char *key)
{
	if (!map || map->type != SK_CN_MAP)
		return -1;
	for (size_t i = 0; i < SK_CN_PAIRS(map); i++)
		if (strcmp(SK_CN_KEY(map, i)->str, key) == 0)
			return (ssize_t)i;
	return -1;
}

struct sk_cnode *sk_cfg_get(const struct sk_cnode *map, const char *key)
{
	ssize_t i = find_key(map, key);
	return i < 0 ? NULL : SK_CN_VAL(map, (size_t)i);
}

struct sk_cnode *sk_cfg_get_key(const struct sk_cnode *map, const char *key)
{
	ssize_t i = find_key(map, key);
	return i < 0 ? NULL : SK_CN_KEY(map, (size_t)i);
}

int sk_cfg_check_keys(struct sk_cfg_ctx *c, const struct sk_cnode *map, const char *const *keys,
		      const char *where)
{
	if (!map || map->type != SK_CN_MAP)
		return 0;
	for (size_t i = 0; i < SK_CN_PAIRS(map); i++) {
		const struct sk_cnode *k = SK_CN_KEY(map, i);
		bool known = false;
		for (const char *const *p = keys; *p && !known; p++)
			known = strcmp(*p, k->str) == 0;
		if (!known) {
			char d[64];
			return sk_cfg_fail(c, k, "unknown key %s %s", sk_cfg_describe(k, d, sizeof(d)), where);
		}
	}
	return 0;
}

int sk_cfg_want(struct sk_cfg_ctx *c, const struct sk_cnode *n, enum sk_cnode_type type, const char *what)
{
	if (!n || sk_cfg_is_null(n) || n->type == type)
		return 0;
	char d[64];
	return sk_cfg_fail(c, n, "%s must be %s, not %s", what, type == SK_CN_MAP ? "a mapping" : "a list",
			   sk_cfg_describe(n, d, sizeof(d)));
}

int sk_cfg_require(struct sk_cfg_ctx *c, const struct sk_cnode *map, const char *key, const char *whose)
{
	const struct sk_cnode *v = sk_cfg_get(map, key);
	if (!v)
		return sk_cfg_fail(c, map, "%s needs '%s'", whose, key);
	if (sk_cfg_is_null(v))
		return sk_cfg_fail(c, v, "'%s' needs a value", key);
	return 0;
}

const char *sk_cfg_scalar(struct sk_cfg_ctx *c, const struct sk_cnode *n, const char *what)
{
	if (n && n->type == SK_CN_SCALAR && !sk_cfg_is_null(n))
		return n->str;
	char d[64];
	sk_cfg_fail(c, n, "%s must be a string, not %s", what, sk_cfg_describe(n, d, sizeof(d)));
	return NULL;
}

/* The value of an optional key as a scalar: 1 = present, 0 = absent or null, -1 = not a scalar. */
static int opt_scalar(struct sk_cfg_ctx *c, const struct sk_cnode *map, const char *key, const char *want,
		      const struct sk_cnode **out)
{
	const struct sk_cnode *v = sk_cfg_get(map, key);
	if (!v || sk_cfg_is_null(v))
		return 0;
	if (v->type != SK_CN_SCALAR) {
		char d[64];
		return sk_cfg_fail(c, v, "'%s' must be %s, not %s", key, want, sk_cfg_describe(v, d, sizeof(d)));
	}
	*out = v;
	return 1;
}

int sk_cfg_str(struct sk_cfg_ctx *c, const struct sk_cnode *map, const char *key, char **out)
{
	const struct sk_cnode *v = NULL;
	int r = opt_scalar(c, map, key, "a string", &v);
	if (r <= 0)
		return r;
	free(*out);
	*out = sk_strdup(v->str);
	return 0;
}

int sk_cfg_bool(struct sk_cfg_ctx *c, const struct sk_cnode *map, const char *key, bool *out)
{
	const struct sk_cnode *v = NULL;
	int r = opt_scalar(c, map, key, "true or false", &v);
	if (r <= 0)
		return r;
	if (strcmp(v->str, "true") == 0)
		*out = true;
	else if (strcmp(v->str, "false") == 0)
		*out = false;
	else {
		char d[64];
		return sk_cfg_fail(c, v, "'%s' must be true or false, not %s", key, sk_cfg_describe(v, d, sizeof(d)));
	}
	return 0;
}

/* Decimal digits only: no sign, no spaces, no hexadecimal. */
static int parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	if (!*s)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > (UINT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return 0;
}

int sk_cfg_uint(struct sk_cfg_ctx *c, const struct sk_cnode *map, const char *key, uint64_t min,
		uint64_t max, uint64_t *out)
{
	const struct sk_cnode *v = NULL;
	int r = opt_scalar(c, map, key, "a number", &v);
	if (r <= 0)
		return r;
	uint64_t n;
	if (parse_u64(v->str, &n) == -1 || n < min || n > max) {
		char d[64];
		return sk_cfg_fail(c, v, "'%s' must be a number from %" PRIu64 " to %" PRIu64 ", not %s", key, min,
				   max, sk_cfg_describe(v, d, sizeof(d)));
	}
	*out = n;
	return 0;
}

int sk_cfg_duration(struct sk_cfg_ctx *c, const struct sk_cnode *map, const char *key, uint64_t *out)
{
	const struct sk_cnode *v = NULL;
	int r = opt_scalar(c, map, key, "a duration", &v);
	if (r <= 0)
		return r;
	if (sk_parse_duration_ms(v->str, out) == -1) {
		char d[64];
		return sk_cfg_fail(c, v, "'%s' must be a duration such as 250ms, 10s, 15m, 1h or 360d, not %s", key,
				   sk_cfg_describe(v, d, sizeof(d)));
	}
	return 0;
}

int sk_cfg_size(struct sk_cfg_ctx *c, const struct sk_cnode *map, const char *key, uint64_t min, uint64_t max,
		uint64_t *out)
{
	const struct sk_cnode *v = NULL;
	int r = opt_scalar(c, map, key, "a size", &v);
	if (r <= 0)
		return r;
	uint64_t n;
	if (sk_parse_size(v->str, &n) == -1 || n < min || n > max) {
		char d[64];
		return sk_cfg_fail(c, v,
				   "'%s' must be a size such as 64MiB or 1GiB, from %" PRIu64 " KiB to %" PRIu64 " KiB, not %s",
				   key, min >> 10, max >> 10, sk_cfg_describe(v, d, sizeof(d)));
	}
	*out = n;
	return 0;
}

char *sk_cfg_resolve(const struct sk_cfg_ctx *c, const char *path)
{
	if (path[0] == '/')
		return sk_strdup(path);
	while (path[0] == '.' && path[1] == '/') {
		path += 2;
		while (*path == '/')
			path++;
	}
	if (!*path || strcmp(path, ".") == 0)
		return sk_strdup(c->dir);
	size_t n = strlen(c->dir) + 1 + strlen(path) + 1;
	char *out = sk_malloc(n);
	snprintf(out, n, "%s%s%s", c->dir, strcmp(c->dir, "/") == 0 ? "" : "/", path);
	return out;
}

int sk_cfg_path(struct sk_cfg_ctx *c, const struct sk_cnode *map, const char *key, char **out)
{
	const struct sk_cnode *v = NULL;
	int r = opt_scalar(c, map, key, "a file path", &v);
	if (r <= 0)
		return r;
	if (!v->str[0])
		return sk_cfg_fail(c, v, "'%s' must be a file path, not an empty string", key);
	free(*out);
	*out = sk_cfg_resolve(c, v->str);
	return 0;
}

void sk_cfg_strlist_push(struct sk_strlist *l, char *item, struct sk_pos pos)
{
	/* Grow by doubling: capacity is implied by n (powers of two from 4). */
	if (l->n == 0 || (l->n >= 4 && (l->n & (l->n - 1)) == 0)) {
		size_t cap = l->n < 4 ? 4 : l->n * 2;
		l->items = sk_realloc(l->items, cap * sizeof(*l->items));
		l->pos = sk_realloc(l->pos, cap * sizeof(*l->pos));
	}
	l->items[l->n] = item;
	l->pos[l->n] = pos;
	l->n++;
}

void sk_cfg_strlist_free(struct sk_strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->items[i]);
	free(l->items);
	free(l->pos);
	*l = (struct sk_strlist){ 0 };
}

struct sk_pos sk_cfg_pos(const struct sk_cnode *n)
{
	return (struct sk_pos){ .line = n ? n->line : 0, .col = n ? n->col : 0 };
}

int sk_cfg_strlist(struct sk_cfg_ctx *c, const struct sk_cnode *map, const char *key,
		   struct sk_strlist *out, sk_cfg_item_check_fn check)
{
	const struct sk_cnode *v = sk_cfg_get(map, key);
	if (!v || sk_cfg_is_null(v))
		return 0;
	char what[96];
	snprintf(what, sizeof(what), "'%s'", key);
	if (sk_cfg_want(c, v, SK_CN_SEQ, what) == -1)
		return -1;
	snprintf(what, sizeof(what), "each item of '%s'", key);
	for (size_t i = 0; i < v->n; i++) {
		const struct sk_cnode *item = v->kids[i];
		if (!sk_cfg_scalar(c, item, what))
			return -1;
		char *text = NULL;
		if (check) {
			if (check(c, item, &text) == -1)
				return -1;
		} else {
			text = sk_strdup(item->str);
		}
		sk_cfg_strlist_push(out, text, sk_cfg_pos(item));
	}
	return 0;
}

static void cidrlist_push(struct sk_cidrlist *l, const struct sk_cidr *cidr, struct sk_pos pos)
{
	if (l->n == 0 || (l->n >= 4 && (l->n & (l->n - 1)) == 0)) {
		size_t cap = l->n < 4 ? 4 : l->n * 2;
		l->items = sk_realloc(l->items, cap * sizeof(*l->items));
		l->pos = sk_realloc(l->pos, cap * sizeof(*l->pos));
	}
	l->items[l->n] = *cidr;
	l->pos[l->n] = pos;
	l->n++;
}

int sk_cfg_cidrlist(struct sk_cfg_ctx *c, const struct sk_cnode *list, const char *what,
		    struct sk_cidrlist *out)
{
	if (!list || sk_cfg_is_null(list))
		return 0;
	char w[96];
	snprintf(w, sizeof(w), "'%s'", what);
	if (sk_cfg_want(c, list, SK_CN_SEQ, w) == -1)
		return -1;
	snprintf(w, sizeof(w), "each item of '%s'", what);
	for (size_t i = 0; i < list->n; i++) {
		const struct sk_cnode *item = list->kids[i];
		if (!sk_cfg_scalar(c, item, w))
			return -1;
		struct sk_cidr cidr;
		if (sk_cidr_parse(item->str, &cidr) == -1) {
			char d[64];
			return sk_cfg_fail(c, item, "invalid CIDR %s", sk_cfg_describe(item, d, sizeof(d)));
		}
		cidrlist_push(out, &cidr, sk_cfg_pos(item));
	}
	return 0;
}

void sk_cfg_cidrlist_push(struct sk_cidrlist *l, const struct sk_cidr *cidr, struct sk_pos pos)
{
	cidrlist_push(l, cidr, pos);
}

int sk_cfg_check_name(struct sk_cfg_ctx *c, const struct sk_cnode *k, const char *kind)
{
	if (sk_cfg_name_ok(k->str))
		return 0;
	char d[64];
	return sk_cfg_fail(c, k, "invalid %s name %s: use 1 to 64 letters, digits, '_', '.' or '-'", kind,
			   sk_cfg_describe(k, d, sizeof(d)));
}

bool sk_cfg_name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '.' && s[i] != '-')
			return false;
	return true;
}

bool sk_cfg_token_ok(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("!#$%&'*+-.^_`|~", *s))
			return false;
	return true;
}

char *sk_cfg_expand_env(struct sk_cfg_ctx *c, const struct sk_cnode *n, const char *s)
{
	size_t cap = strlen(s) + 1, len = 0;
	char *out = sk_malloc(cap);
	while (*s) {
		const char *add = s;
		size_t add_len = 1;
		if (s[0] == '$' && s[1] == '{') {
			const char *name = s + 2;
			const char *end = strchr(name, '}');
			if (!end) {
				free(out);
				sk_cfg_fail(c, n, "'${' without a closing '}'");
				return NULL;
			}
			size_t nlen = (size_t)(end - name);
			bool ok = nlen > 0 && (isalpha((unsigned char)name[0]) || name[0] == '_');
			for (size_t i = 1; ok && i < nlen; i++)
				ok = isalnum((unsigned char)name[i]) || name[i] == '_';
			char *var = sk_slice_dup((struct sk_slice){ .ptr = name, .len = nlen });
			if (!ok) {
				sk_cfg_fail(c, n, "invalid environment variable name '%.64s' in '${...}'", var);
				free(var);
				free(out);
				return NULL;
			}
			add = getenv(var);
			if (!add) {
				sk_cfg_fail(c, n, "environment variable '%s' is not set", var);
				free(var);
				free(out);
				return NULL;
			}
			free(var);
			add_len = strlen(add);
			s = end + 1;
		} else {
			s++;
		}
		if (len + add_len + 1 > cap) {
			cap = (len + add_len + 1) * 2;
			out = sk_realloc(out, cap);
		}
		memcpy(out + len, add, add_len);
		len += add_len;
	}
	out[len] = '\0';
	return out;
}
