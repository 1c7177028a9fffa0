/*
 * parse.c — a policy document (JSON, read by libfyaml in JSON mode into the config's positioned tree)
 * into its compiled form (policy_int.h).
 *
 * Strict, like the config: an unknown element, Effect, operator, condition key or key prefix is an error
 * with file:line:col, never ignored, because a policy that silently drops a Deny or a Condition grants
 * more than its author meant. Elements that only make sense in AWS resource policies (Principal,
 * NotPrincipal) are refused for the same reason.
 */
#include "policy/policy_int.h"
#include "core/file.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "config/config_int.h"

/* Bounds on what a document may hold, so that a policy cannot make evaluation slow. */
#define MAX_STATEMENTS 1000
#define MAX_VALUES 1000     /* per Action, Resource or condition key */
#define MAX_VARS 16         /* policy variables per value */
#define MAX_VALUE_LEN 4096

const char *const sk_policy_bucket_methods[SK_POLICY_BUCKETS - 1] = {
	"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE",
};

unsigned sk_policy_bucket(struct sk_slice method)
{
	for (unsigned i = 0; i < SK_POLICY_BUCKETS - 1; i++)
		if (sk_slice_ieq(method, sk_policy_bucket_methods[i]))
			return i;
	return SK_POLICY_BUCKETS - 1;
}

struct pctx {
	const char *file;
	struct sk_err *err;
	struct sk_policy *p;
};

static int fail(struct pctx *c, const struct sk_cnode *at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(struct pctx *c, const struct sk_cnode *at, const char *fmt, ...)
{
	char msg[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return sk_err_set(c->err, c->file, at ? at->line : 0, at ? at->col : 0, "%s", msg);
}

static int key_read(struct pctx *c, const struct sk_cnode *at, const char *text, size_t len, struct sk_pkey *k)
{
	const char *arg, *why = NULL;
	size_t alen;
	if (sk_pkey_parse(text, len, &k->id, &arg, &alen, &why) == -1)
		return fail(c, at, "%s: '%.*s'", why, (int)SK_MIN(len, 64u), text);
	k->text = sk_slice_dup((struct sk_slice){ .ptr = text, .len = len });
	if (k->id == PK_COUNTRY)
		c->p->reads_country = true;
	if (arg) {
		k->arg = sk_slice_dup((struct sk_slice){ .ptr = arg, .len = alen });
		k->arg_len = alen;
	}
	return 0;
}

/* ---- string values with policy variables ---- */

static void tok_push(struct sk_pat *p, struct sk_ptok t)
{
	p->toks = sk_realloc(p->toks, (p->n + 1) * sizeof(*p->toks));
	p->toks[p->n++] = t;
}

static void text_tok(struct sk_pat *p, uint8_t kind, const char *s, size_t len)
{
	if (len)
		tok_push(p, (struct sk_ptok){ .kind = kind, .s = sk_slice_dup((struct sk_slice){ s, len }), .len = len });
}

/*
 * Reads a string value. With variables (Version 2012-10-17), "${key}" and "${key, 'default'}" become
 * variables and ${*} ${?} ${$} literal characters; otherwise the text is taken as written.
 */
static int pat_read(struct pctx *c, const struct sk_cnode *at, const char *s, bool vars, struct sk_pat *p)
{
	size_t len = strlen(s);
	if (len > MAX_VALUE_LEN)
		return fail(c, at, "value longer than %u bytes", MAX_VALUE_LEN);
	p->text = sk_strdup(s);
	size_t start = 0, nvars = 0;
	for (size_t i = 0; vars && i + 1 < len;) {
		if (s[i] != '$' || s[i + 1] != '{') {
			i++;
			continue;
		}
		const char *close = memchr(s + i + 2, '}', len - i - 2);
		if (!close)
			return fail(c, at, "policy variable '${' without a closing '}' in '%.64s'", s);
		text_tok(p, SK_PT_PATTERN, s + start, i - start);
		const char *in = s + i + 2;
		size_t inl = (size_t)(close - in);
		if (inl == 1 && (*in == '*' || *in == '?' || *in == '$')) {
			text_tok(p, SK_PT_LITERAL, in, 1);
		} else {
			if (++nvars > MAX_VARS)
				return fail(c, at, "more than %d policy variables in one value", MAX_VARS);
			struct sk_ptok t = { .kind = SK_PT_VAR };
			const char *comma = memchr(in, ',', inl);
			size_t kl = comma ? (size_t)(comma - in) : inl;
			while (kl && in[kl - 1] == ' ')
				kl--;
			while (kl && *in == ' ') {
				in++;
				kl--;
				inl--;
			}
			if (comma) {
				const char *d = comma + 1;
				while (d < close && *d == ' ')
					d++;
				const char *de = close;
				while (de > d && de[-1] == ' ')
					de--;
				if (de - d < 2 || *d != '\'' || de[-1] != '\'')
					return fail(c, at, "a policy variable default is written ${key, 'default'}");
				t.has_default = true;
				t.s = sk_slice_dup((struct sk_slice){ d + 1, (size_t)(de - d - 2) });
				t.len = (size_t)(de - d - 2);
			}
			if (key_read(c, at, in, kl, &t.key) == -1) {
				free(t.s);
				return -1;
			}
			if (t.key.id == PK_GROUPS) {
				free(t.s);
				free(t.key.text);
				return fail(c, at, "sk:Groups is multi-valued and cannot be a policy variable");
			}
			tok_push(p, t);
		}
		i = (size_t)(close - s) + 1;
		start = i;
	}
	text_tok(p, SK_PT_PATTERN, s + start, len - start);
	if (p->n > SK_POLICY_MAX_TOKENS)
		return fail(c, at, "value with more than %d pieces of text and variables", SK_POLICY_MAX_TOKENS);
	return 0;
}

static void pat_free(struct sk_pat *p)
{
	for (size_t i = 0; i < p->n; i++) {
		free(p->toks[i].s);
		free(p->toks[i].key.text);
		free(p->toks[i].key.arg);
	}
	free(p->toks);
	free(p->text);
}

/* ---- elements ---- */

/* A string or a list of strings (non-empty), as the IAM grammar allows for Action, Resource and values. */
static int str_items(struct pctx *c, const struct sk_cnode *v, const char *what, const struct sk_cnode ***items,
		     size_t *n)
{
	if (v->type == SK_CN_SCALAR) {
		*items = sk_malloc(sizeof(**items));
		(*items)[0] = v;
		*n = 1;
		return 0;
	}
	if (v->type != SK_CN_SEQ)
		return fail(c, v, "%s must be a string or a list of strings", what);
	if (v->n == 0)
		return fail(c, v, "%s must not be an empty list", what);
	if (v->n > MAX_VALUES)
		return fail(c, v, "%s holds more than %d values", what, MAX_VALUES);
	for (size_t i = 0; i < v->n; i++)
		if (v->kids[i]->type != SK_CN_SCALAR)
			return fail(c, v->kids[i], "%s must be a string or a list of strings", what);
	*items = sk_malloc(v->n * sizeof(**items));
	for (size_t i = 0; i < v->n; i++)
		(*items)[i] = v->kids[i];
	*n = v->n;
	return 0;
}

static int read_actions(struct pctx *c, const struct sk_cnode *v, const char *elem, struct sk_stmt *st)
{
	const struct sk_cnode **items = NULL;
	size_t n = 0;
	if (str_items(c, v, elem, &items, &n) == -1)
		return -1;
	st->actions = sk_calloc(n, sizeof(*st->actions));
	st->n_actions = n;
	int rc = -1;
	for (size_t i = 0; i < n; i++) {
		const char *s = items[i]->str;
		if (!(strcmp(s, "*") == 0 || (strncasecmp(s, "http:", 5) == 0 && s[5]))) {
			fail(c, items[i], "%s '%.64s' must be http:<METHOD> (wildcards * and ? allowed) or *", elem, s);
			goto out;
		}
		for (const char *p = s; *p; p++)
			if ((unsigned char)*p <= 0x20 || *p == 0x7f) {
				fail(c, items[i], "%s '%.64s' holds a space or a control character", elem, s);
				goto out;
			}
		st->actions[i] = sk_strdup(s);
		for (char *p = st->actions[i]; *p; p++)
			*p = (char)tolower((unsigned char)*p);
	}
	rc = 0;
out:
	free(items);
	return rc;
}

/* The literal host a Resource starts with ("files.example.com/..."), or 0 when it has none: a wildcard
 * or a variable before the first '/', or no '/' at all. */
static size_t literal_host(const struct sk_pat *p)
{
	if (p->n == 0 || p->toks[0].kind != SK_PT_PATTERN)
		return 0;
	const struct sk_ptok *t = &p->toks[0];
	for (size_t k = 0; k < t->len; k++) {
		if (t->s[k] == '*' || t->s[k] == '?')
			return 0;
		if (t->s[k] == '/')
			return k;
	}
	return 0;
}

/* Fills st->hosts when every Resource names a literal host (a statement for other hosts is then never
 * visited by their requests); leaves it empty otherwise. */
static void confine_hosts(struct sk_stmt *st)
{
	for (size_t i = 0; i < st->n_res; i++)
		if (literal_host(&st->res[i]) == 0)
			return;
	st->hosts = sk_calloc(st->n_res, sizeof(*st->hosts));
	for (size_t i = 0; i < st->n_res; i++) {
		size_t len = literal_host(&st->res[i]);
		bool seen = false;
		for (size_t k = 0; k < st->n_hosts && !seen; k++)
			seen = strlen(st->hosts[k]) == len && memcmp(st->hosts[k], st->res[i].toks[0].s, len) == 0;
		if (!seen)
			st->hosts[st->n_hosts++] = sk_slice_dup((struct sk_slice){ st->res[i].toks[0].s, len });
	}
}

static int read_resources(struct pctx *c, const struct sk_cnode *v, const char *elem, struct sk_stmt *st)
{
	const struct sk_cnode **items = NULL;
	size_t n = 0;
	if (str_items(c, v, elem, &items, &n) == -1)
		return -1;
	st->res = sk_calloc(n, sizeof(*st->res));
	st->n_res = n;
	int rc = -1;
	for (size_t i = 0; i < n; i++) {
		const char *s = items[i]->str;
		if (!s[0]) {
			fail(c, items[i], "%s must not be empty (write * for every resource)", elem);
			goto out;
		}
		if (strcmp(s, "*") != 0 && s[0] == '/') {
			fail(c, items[i], "%s '%.64s' must start with the host (host/path, or *)", elem, s);
			goto out;
		}
		if (pat_read(c, items[i], s, c->p->v2012, &st->res[i]) == -1)
			goto out;
		/* Hosts match case-insensitively: lower-case the literal text before the first '/'. */
		bool in_host = true;
		for (size_t t = 0; t < st->res[i].n && in_host; t++) {
			struct sk_ptok *tk = &st->res[i].toks[t];
			if (tk->kind == SK_PT_VAR) {
				continue;
			}
			for (size_t k = 0; k < tk->len && in_host; k++) {
				if (tk->s[k] == '/')
					in_host = false;
				else
					tk->s[k] = (char)tolower((unsigned char)tk->s[k]);
			}
		}
	}
	/* The literal start of each Resource lets the evaluator reject most of them with one memcmp. */
	for (size_t i = 0; i < n; i++) {
		struct sk_pat *r = &st->res[i];
		if (r->n && r->toks[0].kind == SK_PT_PATTERN)
			r->prefix = strcspn(r->toks[0].s, "*?");
	}
	if (!st->not_resource)
		confine_hosts(st);
	rc = 0;
out:
	free(items);
	return rc;
}

static const struct {
	const char *name;
	uint8_t kind;
	bool negated;
} ops[] = {
	{ "StringEquals", OP_STR_EQ, false },
	{ "StringNotEquals", OP_STR_EQ, true },
	{ "StringEqualsIgnoreCase", OP_STR_EQ_IC, false },
	{ "StringNotEqualsIgnoreCase", OP_STR_EQ_IC, true },
	{ "StringLike", OP_STR_LIKE, false },
	{ "StringNotLike", OP_STR_LIKE, true },
	{ "NumericEquals", OP_NUM_EQ, false },
	{ "NumericNotEquals", OP_NUM_EQ, true },
	{ "NumericLessThan", OP_NUM_LT, false },
	{ "NumericLessThanEquals", OP_NUM_LE, false },
	{ "NumericGreaterThan", OP_NUM_GT, false },
	{ "NumericGreaterThanEquals", OP_NUM_GE, false },
	{ "DateEquals", OP_DATE_EQ, false },
	{ "DateNotEquals", OP_DATE_EQ, true },
	{ "DateLessThan", OP_DATE_LT, false },
	{ "DateLessThanEquals", OP_DATE_LE, false },
	{ "DateGreaterThan", OP_DATE_GT, false },
	{ "DateGreaterThanEquals", OP_DATE_GE, false },
	{ "Bool", OP_BOOL, false },
	{ "IpAddress", OP_IP, false },
	{ "NotIpAddress", OP_IP, true },
	{ "Null", OP_NULL, false },
};

static int read_op(struct pctx *c, const struct sk_cnode *at, const char *text, struct sk_cond *cd)
{
	const char *s = text;
	if (strncmp(s, "ForAnyValue:", 12) == 0) {
		cd->set = SK_SET_ANY;
		s += 12;
	} else if (strncmp(s, "ForAllValues:", 13) == 0) {
		cd->set = SK_SET_ALL;
		s += 13;
	} else if (strchr(s, ':')) {
		return fail(c, at, "unknown condition operator prefix in '%.64s' (ForAnyValue: or ForAllValues:)", text);
	}
	size_t len = strlen(s);
	if (len > 8 && strcmp(s + len - 8, "IfExists") == 0) {
		cd->if_exists = true;
		len -= 8;
	}
	for (size_t i = 0; i < SK_ARRAY_LEN(ops); i++)
		if (strlen(ops[i].name) == len && strncmp(s, ops[i].name, len) == 0) {
			cd->kind = ops[i].kind;
			cd->negated = ops[i].negated;
			if (cd->kind == OP_NULL && (cd->if_exists || cd->set != SK_SET_NONE))
				return fail(c, at, "Null takes neither IfExists nor ForAnyValue:/ForAllValues: "
					    "(it tests whether the key exists)");
			cd->op_text = sk_strdup(text);
			return 0;
		}
	return fail(c, at, "unknown condition operator '%.64s'", text);
}

static int bool_text(const char *s, bool *out)
{
	if (strcasecmp(s, "true") == 0)
		*out = true;
	else if (strcasecmp(s, "false") == 0)
		*out = false;
	else
		return -1;
	return 0;
}

static int read_cond_values(struct pctx *c, const struct sk_cnode *v, struct sk_cond *cd)
{
	const struct sk_cnode **items = NULL;
	size_t n = 0;
	if (str_items(c, v, "a condition value", &items, &n) == -1)
		return -1;
	int rc = -1;
	cd->n = n;
	switch (cd->kind) {
	case OP_STR_EQ:
	case OP_STR_EQ_IC:
	case OP_STR_LIKE:
		cd->pats = sk_calloc(n, sizeof(*cd->pats));
		for (size_t i = 0; i < n; i++)
			if (pat_read(c, items[i], items[i]->str, c->p->v2012, &cd->pats[i]) == -1)
				goto out;
		break;
	case OP_NUM_EQ:
	case OP_NUM_LT:
	case OP_NUM_LE:
	case OP_NUM_GT:
	case OP_NUM_GE:
		cd->nums = sk_calloc(n, sizeof(*cd->nums));
		for (size_t i = 0; i < n; i++)
			if (sk_policy_parse_number(items[i]->str, &cd->nums[i]) == -1) {
				fail(c, items[i], "%s needs a number, not '%.64s'", cd->op_text, items[i]->str);
				goto out;
			}
		break;
	case OP_DATE_EQ:
	case OP_DATE_LT:
	case OP_DATE_LE:
	case OP_DATE_GT:
	case OP_DATE_GE:
		cd->dates = sk_calloc(n, sizeof(*cd->dates));
		for (size_t i = 0; i < n; i++)
			if (sk_policy_parse_date(items[i]->str, strlen(items[i]->str), &cd->dates[i]) == -1) {
				fail(c, items[i], "%s needs an ISO 8601 date or Unix seconds, not '%.64s'", cd->op_text,
				     items[i]->str);
				goto out;
			}
		break;
	case OP_IP:
		cd->cidrs = sk_calloc(n, sizeof(*cd->cidrs));
		for (size_t i = 0; i < n; i++)
			if (sk_policy_parse_cidr(items[i]->str, strlen(items[i]->str), &cd->cidrs[i]) == -1) {
				fail(c, items[i], "%s needs an IPv4 or IPv6 CIDR, not '%.64s'", cd->op_text, items[i]->str);
				goto out;
			}
		break;
	case OP_BOOL:
	case OP_NULL:
		cd->bools = sk_calloc(n, sizeof(*cd->bools));
		for (size_t i = 0; i < n; i++)
			if (bool_text(items[i]->str, &cd->bools[i]) == -1) {
				fail(c, items[i], "%s needs true or false, not '%.64s'", cd->op_text, items[i]->str);
				goto out;
			}
		break;
	}
	rc = 0;
out:
	free(items);
	return rc;
}

static void cond_free(struct sk_cond *cd)
{
	free(cd->op_text);
	free(cd->key.text);
	free(cd->key.arg);
	for (size_t i = 0; cd->pats && i < cd->n; i++)
		pat_free(&cd->pats[i]);
	free(cd->pats);
	free(cd->nums);
	free(cd->dates);
	free(cd->cidrs);
	free(cd->bools);
}

static int read_condition(struct pctx *c, const struct sk_cnode *v, struct sk_stmt *st)
{
	if (v->type != SK_CN_MAP)
		return fail(c, v, "Condition must be an object { operator: { key: value } }");
	for (size_t i = 0; i < SK_CN_PAIRS(v); i++) {
		const struct sk_cnode *ok = SK_CN_KEY(v, i), *ov = SK_CN_VAL(v, i);
		if (ov->type != SK_CN_MAP || ov->n == 0)
			return fail(c, ov, "condition operator '%.64s' needs an object { key: value }", ok->str);
		for (size_t k = 0; k < SK_CN_PAIRS(ov); k++) {
			const struct sk_cnode *kk = SK_CN_KEY(ov, k), *kv = SK_CN_VAL(ov, k);
			st->conds = sk_realloc(st->conds, (st->n_conds + 1) * sizeof(*st->conds));
			struct sk_cond *cd = &st->conds[st->n_conds++];
			*cd = (struct sk_cond){ 0 };
			if (read_op(c, ok, ok->str, cd) == -1 || key_read(c, kk, kk->str, strlen(kk->str), &cd->key) == -1)
				return -1;
			if (cd->key.id == PK_GROUPS && cd->set == SK_SET_NONE && cd->kind != OP_NULL)
				return fail(c, kk, "sk:Groups is multi-valued: write ForAnyValue:%s or ForAllValues:%s",
					    cd->op_text, cd->op_text);
			if (read_cond_values(c, kv, cd) == -1)
				return -1;
		}
	}
	return 0;
}

static bool sid_ok(const char *s)
{
	if (!*s || strlen(s) > 128)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-')
			return false;
	return true;
}

static int read_statement(struct pctx *c, const struct sk_cnode *m, struct sk_stmt *st)
{
	static const char *const elems[] = { "Sid", "Effect", "Action", "NotAction", "Resource", "NotResource",
					     "Condition", NULL };
	if (m->type != SK_CN_MAP)
		return fail(c, m, "a Statement must be an object");
	st->line = m->line;
	const struct sk_cnode *effect = NULL, *act = NULL, *res = NULL;
	for (size_t i = 0; i < SK_CN_PAIRS(m); i++) {
		const struct sk_cnode *k = SK_CN_KEY(m, i), *v = SK_CN_VAL(m, i);
		bool known = false;
		for (size_t e = 0; elems[e]; e++)
			known = known || strcmp(k->str, elems[e]) == 0;
		if (!known) {
			if (strcmp(k->str, "Principal") == 0 || strcmp(k->str, "NotPrincipal") == 0)
				return fail(c, k, "'%s' belongs to resource policies; a sekisho policy is attached to an "
					    "identity", k->str);
			return fail(c, k, "unknown statement element '%.64s' (Sid, Effect, Action, NotAction, "
				    "Resource, NotResource, Condition)", k->str);
		}
		if (strcmp(k->str, "Sid") == 0) {
			if (v->type != SK_CN_SCALAR || !sid_ok(v->str))
				return fail(c, v, "Sid must be 1-128 of A-Z a-z 0-9 _ -");
			st->sid = sk_strdup(v->str);
		} else if (strcmp(k->str, "Effect") == 0) {
			effect = v;
		} else if (strcmp(k->str, "Action") == 0 || strcmp(k->str, "NotAction") == 0) {
			if (act)
				return fail(c, k, "a statement takes either Action or NotAction, not both");
			act = k;
			st->not_action = k->str[0] == 'N';
			if (read_actions(c, v, k->str, st) == -1)
				return -1;
		} else if (strcmp(k->str, "Resource") == 0 || strcmp(k->str, "NotResource") == 0) {
			if (res)
				return fail(c, k, "a statement takes either Resource or NotResource, not both");
			res = k;
			st->not_resource = k->str[0] == 'N';
			if (read_resources(c, v, k->str, st) == -1)
				return -1;
		} else if (read_condition(c, v, st) == -1) {
			return -1;
		}
	}
	if (!effect)
		return fail(c, m, "a statement needs Effect");
	if (effect->type != SK_CN_SCALAR || (strcmp(effect->str, "Allow") != 0 && strcmp(effect->str, "Deny") != 0))
		return fail(c, effect, "Effect must be Allow or Deny");
	st->deny = strcmp(effect->str, "Deny") == 0;
	if (!act)
		return fail(c, m, "a statement needs Action or NotAction");
	if (!res)
		return fail(c, m, "a statement needs Resource or NotResource");
	return 0;
}

static void stmt_free(struct sk_stmt *st)
{
	free(st->sid);
	for (size_t i = 0; st->actions && i < st->n_actions; i++)
		free(st->actions[i]);
	free(st->actions);
	for (size_t i = 0; st->res && i < st->n_res; i++)
		pat_free(&st->res[i]);
	free(st->res);
	for (size_t i = 0; i < st->n_conds; i++)
		cond_free(&st->conds[i]);
	free(st->conds);
	for (size_t i = 0; i < st->n_hosts; i++)
		free(st->hosts[i]);
	free(st->hosts);
}

/* Whether st's Action element can match a request whose method falls in bucket b. */
static bool stmt_in_bucket(const struct sk_stmt *st, unsigned b)
{
	if (b == SK_POLICY_BUCKETS - 1)
		return true; /* other methods: the evaluator checks the action itself */
	const char *m = sk_policy_bucket_methods[b];
	struct sk_slice ms = { .ptr = m, .len = strlen(m) };
	bool any = false;
	for (size_t i = 0; i < st->n_actions && !any; i++)
		any = sk_policy_action_match(st->actions[i], ms);
	return st->not_action ? !any : any;
}

static int host_cmp(const void *a, const void *b)
{
	const struct sk_phost *x = a, *y = b;
	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	return memcmp(x->host, y->host, x->len);
}

const struct sk_phost *sk_policy_host_find(const struct sk_pbucket *b, const char *host, size_t len)
{
	size_t lo = 0, hi = b->n_hosts;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct sk_phost *h = &b->hosts[mid];
		int c = h->len != len ? (h->len < len ? -1 : 1) : memcmp(h->host, host, len);
		if (c == 0)
			return h;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static void push_index(uint32_t **list, size_t *n, uint32_t i)
{
	*list = sk_realloc(*list, (*n + 1) * sizeof(**list));
	(*list)[(*n)++] = i;
}

/* Statements in document order go to their method buckets, then to their hosts' lists or to the list of
 * those that may apply to any host. */
static void build_buckets(struct sk_policy *p)
{
	for (unsigned b = 0; b < SK_POLICY_BUCKETS; b++) {
		struct sk_pbucket *bk = &p->b[b];
		for (size_t i = 0; i < p->n; i++) {
			const struct sk_stmt *st = &p->st[i];
			if (!stmt_in_bucket(st, b))
				continue;
			if (st->n_hosts == 0) {
				if (st->deny)
					push_index(&bk->deny, &bk->n_deny, (uint32_t)i);
				else
					push_index(&bk->allow, &bk->n_allow, (uint32_t)i);
				continue;
			}
			for (size_t k = 0; k < st->n_hosts; k++) {
				struct sk_phost *h = NULL;
				size_t len = strlen(st->hosts[k]);
				for (size_t j = 0; j < bk->n_hosts && !h; j++)
					if (bk->hosts[j].len == len && memcmp(bk->hosts[j].host, st->hosts[k], len) == 0)
						h = &bk->hosts[j];
				if (!h) {
					bk->hosts = sk_realloc(bk->hosts, (bk->n_hosts + 1) * sizeof(*bk->hosts));
					h = &bk->hosts[bk->n_hosts++];
					*h = (struct sk_phost){ .host = st->hosts[k], .len = len };
				}
				if (st->deny)
					push_index(&h->deny, &h->n_deny, (uint32_t)i);
				else
					push_index(&h->allow, &h->n_allow, (uint32_t)i);
			}
		}
		if (bk->n_hosts > 1)
			qsort(bk->hosts, bk->n_hosts, sizeof(*bk->hosts), host_cmp);
	}
}

static int read_document(struct pctx *c, const struct sk_cnode *root)
{
	struct sk_policy *p = c->p;
	if (root->type != SK_CN_MAP)
		return fail(c, root, "a policy document must be a JSON object");
	const struct sk_cnode *stmts = NULL;
	for (size_t i = 0; i < SK_CN_PAIRS(root); i++) {
		const struct sk_cnode *k = SK_CN_KEY(root, i), *v = SK_CN_VAL(root, i);
		if (strcmp(k->str, "Version") == 0) {
			if (v->type != SK_CN_SCALAR ||
			    (strcmp(v->str, "2012-10-17") != 0 && strcmp(v->str, "2008-10-17") != 0))
				return fail(c, v, "Version must be \"2012-10-17\" (or the older \"2008-10-17\")");
			p->v2012 = strcmp(v->str, "2012-10-17") == 0;
		} else if (strcmp(k->str, "Id") == 0) {
			if (v->type != SK_CN_SCALAR)
				return fail(c, v, "Id must be a string");
		} else if (strcmp(k->str, "Statement") == 0) {
			stmts = v;
		} else {
			return fail(c, k, "unknown policy element '%.64s' (Version, Id, Statement)", k->str);
		}
	}
	/* Version comes first in practice but JSON objects are unordered: read statements after it. */
	if (!stmts)
		return fail(c, root, "a policy needs Statement");
	size_t n = stmts->type == SK_CN_SEQ ? stmts->n : 1;
	if (stmts->type == SK_CN_SEQ && n == 0)
		return fail(c, stmts, "Statement must not be empty");
	if (n > MAX_STATEMENTS)
		return fail(c, stmts, "more than %d statements", MAX_STATEMENTS);
	p->st = sk_calloc(n, sizeof(*p->st));
	for (size_t i = 0; i < n; i++) {
		p->n = i + 1;
		const struct sk_cnode *m = stmts->type == SK_CN_SEQ ? stmts->kids[i] : stmts;
		if (read_statement(c, m, &p->st[i]) == -1)
			return -1;
		for (size_t j = 0; j < i && p->st[i].sid; j++)
			if (p->st[j].sid && strcmp(p->st[j].sid, p->st[i].sid) == 0)
				return fail(c, m, "Sid '%s' is used twice in this policy", p->st[i].sid);
	}
	build_buckets(p);
	return 0;
}

struct sk_policy *sk_policy_parse(const char *name, const char *file, const char *buf, size_t len,
				  struct sk_err *err)
{
	struct sk_policy *p = sk_calloc(1, sizeof(*p));
	p->name = sk_strdup(name);
	p->file = sk_strdup(file);
	struct pctx c = { .file = file, .err = err, .p = p };
	struct sk_cnode *root = NULL;
	int rc = -1;
	if (len > SK_POLICY_MAX_BYTES) {
		sk_err_set(err, file, 0, 0, "policy larger than %u KiB", SK_POLICY_MAX_BYTES >> 10);
		goto out;
	}
	if (sk_cfg_json_parse(file, buf, len, &root, err) == -1)
		goto out;
	rc = read_document(&c, root);
out:
	sk_cfg_node_free(root);
	if (rc == -1) {
		sk_policy_free(p);
		return NULL;
	}
	return p;
}

struct sk_policy *sk_policy_load(const char *name, const char *path, struct sk_err *err)
{
	char *buf = NULL;
	size_t len = 0;
	if (sk_file_read(path, SK_POLICY_MAX_BYTES, &buf, &len, err) == -1)
		return NULL;
	struct sk_policy *p = sk_policy_parse(name, path, buf, len, err);
	free(buf);
	return p;
}

void sk_policy_free(struct sk_policy *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++)
		stmt_free(&p->st[i]);
	free(p->st);
	for (unsigned b = 0; b < SK_POLICY_BUCKETS; b++) {
		free(p->b[b].deny);
		free(p->b[b].allow);
		for (size_t h = 0; h < p->b[b].n_hosts; h++) {
			free(p->b[b].hosts[h].deny); /* the host text belongs to the statement */
			free(p->b[b].hosts[h].allow);
		}
		free(p->b[b].hosts);
	}
	free(p->name);
	free(p->file);
	free(p);
}

const char *sk_policy_name(const struct sk_policy *p)
{
	return p->name;
}

bool sk_policy_reads_country(const struct sk_policy *p)
{
	return p->reads_country;
}

size_t sk_policy_statements(const struct sk_policy *p)
{
	return p->n;
}
