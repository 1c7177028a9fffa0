/*
 * eval.c — the evaluator (policy.h), following the AWS IAM policy evaluation logic for identity-based
 * policies: an explicit Deny in any statement wins; otherwise an Allow that matches allows; otherwise
 * the request is implicitly denied.
 *
 * Invariants: pure (no I/O, no allocation, no global state); the context's values are read on demand,
 * so a statement without conditions costs no key lookup; a substituted policy variable is literal text
 * (never a wildcard); a variable without value or default makes its whole value match nothing.
 */
#include "policy/policy_int.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>


/* A percent-decoded query value longer than this is compared as sent (undecoded). */
#define QUERY_DECODE_MAX 1024

static inline char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
}

/* ---- glob matching over pieces (pattern text where * and ? are wild, and literal text) ---- */

struct piece {
	const char *s;
	size_t len;
	bool wild;
};

struct cur {
	size_t p, off;
};

static void cur_norm(const struct piece *pc, size_t np, struct cur *c)
{
	while (c->p < np && c->off >= pc[c->p].len) {
		c->p++;
		c->off = 0;
	}
}

/* The text matched: a then b, so that "http:" + method needs no copy (a method has no length cap of its
 * own beyond the request line). */
struct subject {
	const char *a, *b;
	size_t na, nb;
};

static inline char subject_at(const struct subject *sj, size_t i)
{
	return i < sj->na ? sj->a[i] : sj->b[i - sj->na];
}

/* Classic wildcard matching with one backtrack point (linear in practice); '*' and '?' cross '/'. */
static bool glob2(const struct piece *pc, size_t np, const struct subject *sj, bool icase)
{
	size_t n = sj->na + sj->nb;
	struct cur c = { 0, 0 }, star = { 0, 0 };
	bool have_star = false;
	size_t i = 0, star_i = 0;
	for (;;) {
		cur_norm(pc, np, &c);
		if (c.p == np) {
			if (i == n)
				return true;
		} else {
			char ch = pc[c.p].s[c.off];
			bool wild = pc[c.p].wild;
			if (wild && ch == '*') {
				c.off++;
				star = c;
				star_i = i;
				have_star = true;
				continue;
			}
			char si = i < n ? subject_at(sj, i) : 0;
			if (i < n && ((wild && ch == '?') || (icase ? lower(ch) == lower(si) : ch == si))) {
				i++;
				c.off++;
				continue;
			}
		}
		if (!have_star || star_i >= n)
			return false;
		star_i++;
		i = star_i;
		c = star;
	}
}

static bool glob(const struct piece *pc, size_t np, const char *s, size_t n, bool icase)
{
	struct subject sj = { .a = s, .na = n, .b = "", .nb = 0 };
	return glob2(pc, np, &sj, icase);
}

bool sk_policy_action_match(const char *pattern, struct sk_slice method)
{
	/* The action is "http:" + method; the pattern is lower case and matched case-insensitively. */
	struct piece pc = { .s = pattern, .len = strlen(pattern), .wild = true };
	struct subject sj = { .a = "http:", .na = 5, .b = method.ptr, .nb = method.len };
	return glob2(&pc, 1, &sj, true);
}

/* ---- condition key values ---- */

/* Room for one value the evaluator has to write out (an address, a time, a decoded query value). */
struct vbuf {
	char s[QUERY_DECODE_MAX + 1];
};

static bool extra_is(const struct sk_policy_kv *kv, const struct sk_pkey *k)
{
	uint8_t id;
	const char *arg, *why;
	size_t alen;
	if (sk_pkey_parse(kv->key, strlen(kv->key), &id, &arg, &alen, &why) == -1 || id != k->id)
		return false;
	if (!k->arg)
		return true;
	if (alen != k->arg_len)
		return false;
	return k->id == PK_QUERY ? memcmp(arg, k->arg, alen) == 0 : strncasecmp(arg, k->arg, alen) == 0;
}

static size_t query_value(struct sk_slice q, const struct sk_pkey *k, struct sk_slice *v, struct vbuf *b)
{
	const char *p = q.ptr, *end = q.ptr + q.len;
	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *pe = amp ? amp : end;
		const char *eq = memchr(p, '=', (size_t)(pe - p));
		const char *ne = eq ? eq : pe;
		if ((size_t)(ne - p) == k->arg_len && memcmp(p, k->arg, k->arg_len) == 0) {
			const char *vs = eq ? eq + 1 : pe;
			size_t vl = (size_t)(pe - vs), o = 0;
			if (vl > QUERY_DECODE_MAX) {
				*v = (struct sk_slice){ vs, vl };
				return 1;
			}
			for (size_t i = 0; i < vl; i++) {
				int hi, lo;
				if (vs[i] == '%' && i + 2 < vl && (hi = sk_hexval((unsigned char)vs[i + 1])) >= 0 &&
				    (lo = sk_hexval((unsigned char)vs[i + 2])) >= 0) {
					b->s[o++] = (char)(hi << 4 | lo);
					i += 2;
				} else {
					b->s[o++] = vs[i] == '+' ? ' ' : vs[i];
				}
			}
			*v = (struct sk_slice){ b->s, o };
			return 1;
		}
		p = amp ? amp + 1 : end;
	}
	return 0;
}

static struct sk_slice cstr(const char *s)
{
	return (struct sk_slice){ s, strlen(s) };
}

/*
 * The number of values key k has in ctx (0 = missing), and the i-th of them in *v when i is below it.
 * Values the evaluator formats go to b, which must live as long as *v is used.
 */
static size_t key_value(const struct sk_policy_ctx *ctx, const struct sk_pkey *k, size_t i, struct sk_slice *v,
			struct vbuf *b)
{
	size_t n = 0;
	for (size_t e = 0; e < ctx->n_extra; e++)
		if (extra_is(&ctx->extra[e], k)) {
			if (n == i)
				*v = cstr(ctx->extra[e].value);
			n++;
		}
	if (n)
		return n;
	switch ((enum sk_pkey_id)k->id) {
	case PK_SOURCE_IP:
		if (!ctx->family || !inet_ntop(ctx->family, ctx->addr, b->s, sizeof(b->s)))
			return 0;
		*v = cstr(b->s);
		return 1;
	case PK_COUNTRY:
		if (!ctx->country || !ctx->country[0])
			return 0;
		*v = cstr(ctx->country);
		return 1;
	case PK_USERNAME:
		if (!ctx->username)
			return 0;
		*v = cstr(ctx->username);
		return 1;
	case PK_GROUPS:
		if (i < ctx->n_groups)
			*v = cstr(ctx->groups[i]);
		return ctx->n_groups;
	case PK_AUTH_METHOD:
		if (!ctx->auth_method)
			return 0;
		*v = cstr(ctx->auth_method);
		return 1;
	case PK_MFA:
		*v = cstr(ctx->mfa ? "true" : "false");
		return 1;
	case PK_SECURE:
		*v = cstr(ctx->secure ? "true" : "false");
		return 1;
	case PK_CURRENT_TIME: {
		struct tm tm;
		time_t t = (time_t)ctx->now;
		gmtime_r(&t, &tm);
		strftime(b->s, sizeof(b->s), "%Y-%m-%dT%H:%M:%SZ", &tm);
		*v = cstr(b->s);
		return 1;
	}
	case PK_EPOCH_TIME:
		snprintf(b->s, sizeof(b->s), "%" PRId64, ctx->now);
		*v = cstr(b->s);
		return 1;
	case PK_METHOD:
		if (!ctx->method.len)
			return 0;
		*v = ctx->method;
		return 1;
	case PK_HOST:
		if (!ctx->host.len)
			return 0;
		*v = ctx->host;
		return 1;
	case PK_PATH:
		if (!ctx->path.len)
			return 0;
		*v = ctx->path;
		return 1;
	case PK_QUERY:
		return query_value(ctx->query, k, v, b);
	case PK_HEADER:
		if (!ctx->header)
			return 0;
		return ctx->header(ctx->header_arg, (struct sk_slice){ k->arg, k->arg_len }, v) ? 1 : 0;
	case PK_JWT:
		if (!ctx->claim)
			return 0;
		return ctx->claim(ctx->claim_arg, (struct sk_slice){ k->arg, k->arg_len }, v) ? 1 : 0;
	}
	return 0;
}

/* ---- values with policy variables ---- */

#define MAX_PIECES SK_POLICY_MAX_TOKENS

/* Resolves a value's variables into pieces. Returns the number of pieces, or -1 when a variable has no
 * value and no default (the value then matches nothing). bufs holds the formatted variable values. */
static int resolve(const struct sk_policy_ctx *ctx, const struct sk_pat *p, struct piece *pc, struct vbuf *bufs)
{
	size_t np = 0, nv = 0;
	for (size_t t = 0; t < p->n && np < MAX_PIECES; t++) {
		const struct sk_ptok *tk = &p->toks[t];
		if (tk->kind != SK_PT_VAR) {
			pc[np++] = (struct piece){ tk->s, tk->len, tk->kind == SK_PT_PATTERN };
			continue;
		}
		struct sk_slice v;
		if (key_value(ctx, &tk->key, 0, &v, &bufs[nv]) > 0)
			pc[np++] = (struct piece){ v.ptr, v.len, false };
		else if (tk->has_default)
			pc[np++] = (struct piece){ tk->s, tk->len, false };
		else
			return -1;
		nv++;
	}
	return (int)np;
}

/* Resolved pieces live in a struct the caller keeps on its stack: evaluation allocates nothing. The
 * variable buffers are only needed for keys the evaluator formats, which are small, but a query value
 * may take QUERY_DECODE_MAX; 16 of them stay well inside a worker's stack. */
struct resolved {
	struct piece pc[MAX_PIECES];
	struct vbuf bufs[16];
};

static bool pat_match(const struct sk_policy_ctx *ctx, const struct sk_pat *p, struct sk_slice s, bool like,
		      bool icase, struct resolved *r)
{
	int np = resolve(ctx, p, r->pc, r->bufs);
	if (np < 0)
		return false;
	if (!like)
		for (int i = 0; i < np; i++)
			r->pc[i].wild = false;
	return glob(r->pc, (size_t)np, s.ptr, s.len, icase);
}

/* ---- conditions ---- */

static bool cidr_has(const struct sk_pcidr *c, const struct sk_pcidr *a)
{
	if (c->family != a->family)
		return false;
	unsigned full = c->prefix / 8, rest = c->prefix % 8;
	if (memcmp(c->addr, a->addr, full) != 0)
		return false;
	if (rest == 0)
		return true;
	uint8_t mask = (uint8_t)(0xff << (8 - rest));
	return (c->addr[full] & mask) == (a->addr[full] & mask);
}

static int parse_num_slice(struct sk_slice s, double *out)
{
	char buf[64];
	if (s.len == 0 || s.len >= sizeof(buf))
		return -1;
	memcpy(buf, s.ptr, s.len);
	buf[s.len] = '\0';
	char *end;
	const char *p = buf[0] == '-' || buf[0] == '+' ? buf + 1 : buf;
	if (*p < '0' || *p > '9')
		return -1;
	*out = strtod(buf, &end);
	return *end ? -1 : 0;
}

/* Whether the request value v matches the policy's j-th value (before negation). *typed is false when v
 * is not of the operator's type (a non-number for Numeric...): such a value matches no policy value. */
static bool value_match(const struct sk_policy_ctx *ctx, const struct sk_cond *cd, size_t j, struct sk_slice v,
			struct resolved *r)
{
	switch ((enum sk_op_kind)cd->kind) {
	case OP_STR_EQ:
		return pat_match(ctx, &cd->pats[j], v, false, false, r);
	case OP_STR_EQ_IC:
		return pat_match(ctx, &cd->pats[j], v, false, true, r);
	case OP_STR_LIKE:
		return pat_match(ctx, &cd->pats[j], v, true, false, r);
	case OP_NUM_EQ:
	case OP_NUM_LT:
	case OP_NUM_LE:
	case OP_NUM_GT:
	case OP_NUM_GE: {
		double x, y = cd->nums[j];
		if (parse_num_slice(v, &x) == -1)
			return false;
		return cd->kind == OP_NUM_EQ ? x == y : cd->kind == OP_NUM_LT ? x < y : cd->kind == OP_NUM_LE ? x <= y
			: cd->kind == OP_NUM_GT ? x > y : x >= y;
	}
	case OP_DATE_EQ:
	case OP_DATE_LT:
	case OP_DATE_LE:
	case OP_DATE_GT:
	case OP_DATE_GE: {
		int64_t x, y = cd->dates[j];
		if (sk_policy_parse_date(v.ptr, v.len, &x) == -1)
			return false;
		return cd->kind == OP_DATE_EQ ? x == y : cd->kind == OP_DATE_LT ? x < y : cd->kind == OP_DATE_LE ? x <= y
			: cd->kind == OP_DATE_GT ? x > y : x >= y;
	}
	case OP_BOOL: {
		bool x;
		if (v.len == 4 && strncasecmp(v.ptr, "true", 4) == 0)
			x = true;
		else if (v.len == 5 && strncasecmp(v.ptr, "false", 5) == 0)
			x = false;
		else
			return false;
		return x == cd->bools[j];
	}
	case OP_IP: {
		struct sk_pcidr a;
		if (sk_policy_parse_cidr(v.ptr, v.len, &a) == -1 || a.prefix != (a.family == AF_INET ? 32 : 128))
			return false;
		return cidr_has(&cd->cidrs[j], &a);
	}
	case OP_NULL:
		break;
	}
	return false;
}

/* Whether one request value satisfies the operator: any policy value matches (OR), or for a negated
 * operator none does (NOR). */
static bool one_value(const struct sk_policy_ctx *ctx, const struct sk_cond *cd, struct sk_slice v,
		      struct resolved *r)
{
	bool any = false;
	for (size_t j = 0; j < cd->n && !any; j++)
		any = value_match(ctx, cd, j, v, r);
	return cd->negated ? !any : any;
}

static bool cond_eval(const struct sk_policy_ctx *ctx, const struct sk_cond *cd, struct resolved *r)
{
	struct vbuf b;
	struct sk_slice v = { 0 };
	size_t n = key_value(ctx, &cd->key, 0, &v, &b);
	if (cd->kind == OP_NULL) {
		bool any = false;
		for (size_t j = 0; j < cd->n && !any; j++)
			any = cd->bools[j] == (n == 0);
		return any;
	}
	if (n == 0) {
		if (cd->if_exists || cd->set == SK_SET_ALL)
			return true;
		if (cd->set == SK_SET_ANY)
			return false;
		return cd->negated;
	}
	if (cd->set == SK_SET_NONE && n == 1)
		return one_value(ctx, cd, v, r);
	/* A set operator (or several values supplied for a single-valued key): each request value on its own. */
	for (size_t i = 0; i < n; i++) {
		key_value(ctx, &cd->key, i, &v, &b);
		bool ok = one_value(ctx, cd, v, r);
		if (cd->set == SK_SET_ALL && !ok)
			return false;
		if (cd->set != SK_SET_ALL && ok)
			return true;
	}
	return cd->set == SK_SET_ALL;
}

/* ---- statements ---- */

static bool action_ok(const struct sk_stmt *st, struct sk_slice method)
{
	bool any = false;
	for (size_t i = 0; i < st->n_actions && !any; i++)
		any = sk_policy_action_match(st->actions[i], method);
	return st->not_action ? !any : any;
}

static bool resource_ok(const struct sk_policy_ctx *ctx, const struct sk_stmt *st, struct sk_slice res,
			struct resolved *r)
{
	bool any = false;
	for (size_t i = 0; i < st->n_res && !any; i++) {
		const struct sk_pat *p = &st->res[i];
		if (p->prefix && (res.len < p->prefix || memcmp(res.ptr, p->toks[0].s, p->prefix) != 0))
			continue; /* its literal start differs: no wildcard can make it match */
		any = pat_match(ctx, p, res, true, false, r);
	}
	return st->not_resource ? !any : any;
}

static bool conds_ok(const struct sk_policy_ctx *ctx, const struct sk_stmt *st, struct resolved *r)
{
	for (size_t i = 0; i < st->n_conds; i++)
		if (!cond_eval(ctx, &st->conds[i], r))
			return false;
	return true;
}

/* The resource: host + path, in buf. Returns false when it does not fit: a cut resource could match a
 * pattern the whole one does not (an Allow on "*.txt"), so such a request is allowed by nothing. */
static bool resource_of(const struct sk_policy_ctx *ctx, char *buf, size_t cap, struct sk_slice *out)
{
	if (ctx->host.len > SK_POLICY_HOST_MAX || ctx->path.len > SK_POLICY_PATH_MAX ||
	    ctx->host.len + ctx->path.len > cap)
		return false;
	if (ctx->host.len)
		memcpy(buf, ctx->host.ptr, ctx->host.len);
	if (ctx->path.len)
		memcpy(buf + ctx->host.len, ctx->path.ptr, ctx->path.len);
	*out = (struct sk_slice){ buf, ctx->host.len + ctx->path.len };
	return true;
}

#define RESOURCE_MAX (SK_POLICY_HOST_MAX + SK_POLICY_PATH_MAX)

static bool stmt_match(const struct sk_policy_ctx *ctx, const struct sk_stmt *st, bool check_action,
		       struct sk_slice res, struct resolved *r)
{
	return (!check_action || action_ok(st, ctx->method)) && resource_ok(ctx, st, res, r) && conds_ok(ctx, st, r);
}

/* Walks two statement lists in document order (both are sorted): the first statement that applies, or
 * -1. Walking in order makes the reported Sid the first that applies, however the lists were split. */
static int first_match(const struct sk_policy *doc, const uint32_t *a, size_t na, const uint32_t *b, size_t nb,
		       const struct sk_policy_ctx *ctx, bool check_action, struct sk_slice res, struct resolved *r)
{
	size_t i = 0, j = 0;
	while (i < na || j < nb) {
		uint32_t s = j >= nb || (i < na && a[i] < b[j]) ? a[i++] : b[j++];
		if (stmt_match(ctx, &doc->st[s], check_action, res, r))
			return (int)s;
	}
	return -1;
}

void sk_policy_eval(const struct sk_policy *const *docs, size_t n, const struct sk_policy_ctx *ctx,
		    struct sk_policy_result *out)
{
	*out = (struct sk_policy_result){ .decision = SK_PD_IMPLICIT_DENY, .statement = -1 };
	char rbuf[RESOURCE_MAX];
	struct sk_slice res;
	if (!resource_of(ctx, rbuf, sizeof(rbuf), &res))
		return;
	/* The index key is the resource up to its first '/', as a Resource's literal host is (so the index
	 * can never disagree with the wildcard match, whatever the Host held). */
	const char *slash = memchr(res.ptr, '/', res.len);
	size_t hlen = slash ? (size_t)(slash - res.ptr) : res.len;
	struct resolved r;
	unsigned b = sk_policy_bucket(ctx->method);
	/* Statements of the method buckets already matched their Action at load; "other" checks it here. */
	bool check_action = b == SK_POLICY_BUCKETS - 1;
	const struct sk_policy *allow_doc = NULL;
	int allow_st = -1;
	for (size_t d = 0; d < n; d++) {
		const struct sk_pbucket *bk = &docs[d]->b[b];
		const struct sk_phost *h = bk->n_hosts ? sk_policy_host_find(bk, res.ptr, hlen) : NULL;
		int s = first_match(docs[d], bk->deny, bk->n_deny, h ? h->deny : NULL, h ? h->n_deny : 0, ctx,
				    check_action, res, &r);
		if (s >= 0) {
			*out = (struct sk_policy_result){ .decision = SK_PD_EXPLICIT_DENY, .policy = docs[d],
							  .sid = docs[d]->st[s].sid, .statement = s };
			return;
		}
		if (allow_doc)
			continue;
		s = first_match(docs[d], bk->allow, bk->n_allow, h ? h->allow : NULL, h ? h->n_allow : 0, ctx,
				check_action, res, &r);
		if (s >= 0) {
			allow_doc = docs[d];
			allow_st = s;
		}
	}
	if (allow_doc)
		*out = (struct sk_policy_result){ .decision = SK_PD_ALLOW, .policy = allow_doc,
						  .sid = allow_doc->st[allow_st].sid, .statement = allow_st };
}

const char *sk_policy_decision_name(enum sk_policy_decision d)
{
	switch (d) {
	case SK_PD_ALLOW:
		return "allow";
	case SK_PD_EXPLICIT_DENY:
		return "explicit_deny";
	case SK_PD_IMPLICIT_DENY:
		break;
	}
	return "implicit_deny";
}

/* ---- the simulator's explanation ---- */

struct line {
	char s[2048];
	size_t o;
};

static void add(struct line *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(struct line *l, const char *fmt, ...)
{
	if (l->o >= sizeof(l->s) - 1)
		return;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(l->s + l->o, sizeof(l->s) - l->o, fmt, ap);
	va_end(ap);
	if (n > 0)
		l->o = SK_MIN(l->o + (size_t)n, sizeof(l->s) - 1);
}

void sk_policy_explain(const struct sk_policy *doc, const struct sk_policy_ctx *ctx,
		       const struct sk_policy_result *res, void (*emit)(void *arg, const char *line), void *arg)
{
	char rbuf[RESOURCE_MAX];
	struct sk_slice rs;
	if (!resource_of(ctx, rbuf, sizeof(rbuf), &rs)) {
		emit(arg, "  the request's host and path are longer than a resource may be: nothing allows it");
		return;
	}
	struct resolved r;
	for (size_t i = 0; i < doc->n; i++) {
		const struct sk_stmt *st = &doc->st[i];
		struct line l = { .o = 0 };
		bool a = action_ok(st, ctx->method);
		bool rr = a && resource_ok(ctx, st, rs, &r);
		add(&l, "%s policy %s statement %zu%s%s (%s): ", res->policy == doc && res->statement == (int)i ? "*" : " ",
		    doc->name, i + 1, st->sid ? " " : "", st->sid ? st->sid : "", st->deny ? "Deny" : "Allow");
		if (!a) {
			add(&l, "not matched: %s does not cover http:%.*s", st->not_action ? "NotAction" : "Action",
			    (int)SK_MIN(ctx->method.len, 32u), ctx->method.ptr);
		} else if (!rr) {
			add(&l, "not matched: %s does not cover %.*s", st->not_resource ? "NotResource" : "Resource",
			    (int)SK_MIN(rs.len, 512u), rs.ptr);
		} else {
			add(&l, "action and resource cover the request");
			const struct sk_cond *failed = NULL;
			for (size_t c = 0; c < st->n_conds && !failed; c++) {
				const struct sk_cond *cd = &st->conds[c];
				bool ok = cond_eval(ctx, cd, &r);
				struct vbuf b;
				struct sk_slice v = { 0 };
				size_t nv = key_value(ctx, &cd->key, 0, &v, &b);
				add(&l, "; condition %s %s=", cd->op_text, cd->key.text);
				if (nv == 0)
					add(&l, "(missing)");
				for (size_t k = 0; k < nv && k < 8; k++) {
					key_value(ctx, &cd->key, k, &v, &b);
					add(&l, "%s\"%.*s\"", k ? "," : "", (int)SK_MIN(v.len, 128u), v.ptr);
				}
				add(&l, " is %s", ok ? "true" : "false");
				if (!ok)
					failed = cd;
			}
			if (failed)
				add(&l, " => not matched: condition %s on %s decided", failed->op_text, failed->key.text);
			else
				add(&l, " => matched");
		}
		if (res->policy == doc && res->statement == (int)i)
			add(&l, "  <= decides");
		emit(arg, l.s);
	}
}
