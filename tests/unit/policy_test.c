/*
 * policy_test.c — the policy module (src/policy/): parsing with file:line:col errors, and the evaluator,
 * table-driven. The cases are written from the AWS IAM documentation, with its keys renamed to sekisho's
 * (aws:username → sk:username, s3:GetObject → http:GET, arn:aws:s3:::bucket/key → host/path):
 *   - "Policy evaluation logic" and "The difference between explicit and implicit denies":
 *     https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
 *     https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic_AccessPolicyLanguage_Interplay.html
 *   - "IAM JSON policy elements: Condition operators" (missing keys, negated operators, ...IfExists, Null,
 *     Bool, Numeric, Date, IpAddress):
 *     https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
 *   - "Multivalued context keys" (ForAnyValue / ForAllValues) and "Creating a condition with multiple keys
 *     or values" (AND between operators and keys, OR between values):
 *     https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html
 *     https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-logic-multiple-context-keys-or-values.html
 *   - "Action", "NotAction", "Resource", "NotResource" (wildcards, case rules) and "Policy variables"
 *     (Version 2012-10-17, defaults, ${*} ${?} ${$}, no wildcard effect of a substituted value):
 *     https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notaction.html
 *     https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html
 * Policies are written with ' for " (and ` for ') to keep the table readable.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "policy/policy.h"
#include "policy/policy_int.h"

/* ---- helpers ---- */

static char *unquote(const char *s)
{
	char *t = strdup(s);
	for (char *p = t; *p; p++)
		*p = *p == '\'' ? '"' : *p == '`' ? '\'' : *p;
	return t;
}

static struct sk_policy *parse(const char *text, struct sk_err *err)
{
	char *t = unquote(text);
	memset(err, 0, sizeof(*err));
	struct sk_policy *p = sk_policy_parse("t", "t.json", t, strlen(t), err);
	free(t);
	return p;
}

/* A request; NULL fields take the defaults of run_case (GET h.test/ by alice over basic). */
struct req {
	const char *method, *host, *path, *query;
	const char *user;    /* "-" = anonymous */
	const char *groups;  /* comma-separated */
	const char *ip, *country, *auth;
	bool mfa, secure;
	int64_t now;
	const char *headers; /* "Name: value\n"... */
	const char *extra;   /* "key=value;key=value" */
};

struct ecase {
	int line;
	const char *policy;  /* NULL = no policy attached */
	const char *policy2; /* a second attached document, or NULL */
	struct req r;
	enum sk_policy_decision want;
	const char *sid;
};

static bool header_cb(const void *arg, struct sk_slice name, struct sk_slice *value)
{
	const char *h = arg;
	while (h && *h) {
		const char *colon = strchr(h, ':'), *nl = strchr(h, '\n');
		if (!nl)
			nl = h + strlen(h);
		if ((size_t)(colon - h) == name.len && strncasecmp(h, name.ptr, name.len) == 0) {
			const char *v = colon + 1;
			while (*v == ' ')
				v++;
			*value = (struct sk_slice){ v, (size_t)(nl - v) };
			return true;
		}
		h = *nl ? nl + 1 : nl;
	}
	return false;
}

static enum sk_policy_decision run_req(struct sk_policy **docs, size_t n, const struct req *r, const char **sid)
{
	char *groups[16];
	size_t ng = 0;
	char gbuf[256] = "";
	if (r->groups) {
		snprintf(gbuf, sizeof(gbuf), "%s", r->groups);
		for (char *g = strtok(gbuf, ","); g && ng < 16; g = strtok(NULL, ","))
			groups[ng++] = g;
	}
	struct sk_policy_kv extra[8];
	size_t ne = 0;
	char ebuf[512] = "";
	if (r->extra) {
		snprintf(ebuf, sizeof(ebuf), "%s", r->extra);
		for (char *e = strtok(ebuf, ";"); e && ne < 8; e = strtok(NULL, ";")) {
			char *eq = strchr(e, '=');
			assert_non_null(eq);
			*eq = '\0';
			extra[ne++] = (struct sk_policy_kv){ e, eq + 1 };
		}
	}
	uint8_t addr[16];
	int family = 0;
	const char *ip = r->ip ? r->ip : "192.0.2.10";
	if (strcmp(ip, "-") != 0)
		family = inet_pton(AF_INET, ip, addr) == 1 ? AF_INET : inet_pton(AF_INET6, ip, addr) == 1 ? AF_INET6 : -1;
	assert_true(family >= 0);
	const char *method = r->method ? r->method : "GET";
	const char *host = r->host ? r->host : "h.test";
	const char *path = r->path ? r->path : "/";
	const char *query = r->query ? r->query : "";
	const char *user = r->user ? r->user : "alice";
	struct sk_policy_ctx ctx = {
		.method = { method, strlen(method) },
		.host = { host, strlen(host) },
		.path = { path, strlen(path) },
		.query = { query, strlen(query) },
		.header = header_cb,
		.header_arg = r->headers,
		.family = family,
		.addr = addr,
		.country = r->country,
		.username = strcmp(user, "-") == 0 ? NULL : user,
		.groups = (const char *const *)groups,
		.n_groups = ng,
		.auth_method = strcmp(user, "-") == 0 ? NULL : r->auth ? r->auth : "basic",
		.mfa = r->mfa,
		.secure = r->secure,
		.now = r->now ? r->now : 1764460800, /* 2025-11-30T00:00:00Z */
		.extra = extra,
		.n_extra = ne,
	};
	struct sk_policy_result res;
	sk_policy_eval((const struct sk_policy *const *)docs, n, &ctx, &res);
	*sid = res.sid;
	if (res.decision == SK_PD_IMPLICIT_DENY) {
		assert_null(res.policy);
		assert_int_equal(res.statement, -1);
	}
	return res.decision;
}

/* Statement shorthands: one-statement policies in the current grammar. */
#define V12 "{'Version':'2012-10-17','Statement':["
#define END "]}"
#define ALLOW_ALL "{'Sid':'All','Effect':'Allow','Action':'*','Resource':'*'}"
/* Allow everything when the condition holds. */
#define IF(cond) V12 "{'Sid':'C','Effect':'Allow','Action':'*','Resource':'*','Condition':{" cond "}}" END

#define A SK_PD_ALLOW
#define X SK_PD_EXPLICIT_DENY
#define I SK_PD_IMPLICIT_DENY

static const struct ecase cases[] = {
	/* ---- evaluation logic: explicit deny > allow > implicit deny ---- */
	{ __LINE__, NULL, NULL, { 0 }, I, NULL },
	{ __LINE__, V12 ALLOW_ALL END, NULL, { 0 }, A, "All" },
	{ __LINE__, V12 ALLOW_ALL ",{'Sid':'D','Effect':'Deny','Action':'*','Resource':'*'}" END, NULL, { 0 }, X, "D" },
	{ __LINE__, V12 "{'Sid':'D','Effect':'Deny','Action':'*','Resource':'*'}" END, NULL, { 0 }, X, "D" },
	{ __LINE__, V12 "{'Sid':'P','Effect':'Allow','Action':'http:POST','Resource':'*'}" END, NULL, { 0 }, I, NULL },
	/* A Deny in any attached policy overrides an Allow in another. */
	{ __LINE__, V12 ALLOW_ALL END, V12 "{'Sid':'D2','Effect':'Deny','Action':'http:GET','Resource':'h.test/*'}" END,
	  { 0 }, X, "D2" },
	{ __LINE__, V12 "{'Sid':'N','Effect':'Allow','Action':'http:PUT','Resource':'*'}" END, V12 ALLOW_ALL END, { 0 },
	  A, "All" },
	/* A Deny that does not apply (condition false, other action) leaves the Allow. */
	{ __LINE__, V12 ALLOW_ALL ",{'Sid':'D','Effect':'Deny','Action':'*','Resource':'*','Condition':{'StringEquals':"
	  "{'sk:username':'bob'}}}" END, NULL, { 0 }, A, "All" },
	{ __LINE__, V12 ALLOW_ALL ",{'Sid':'D','Effect':'Deny','Action':'http:DELETE','Resource':'*'}" END, NULL, { 0 },
	  A, "All" },
	/* Statement may be one object instead of a list. */
	{ __LINE__, "{'Version':'2012-10-17','Statement':" ALLOW_ALL "}", NULL, { 0 }, A, "All" },
	/* The first Allow that applies is reported; a statement may have no Sid. */
	{ __LINE__, V12 "{'Sid':'One','Effect':'Allow','Action':'*','Resource':'h.test/*'}," ALLOW_ALL END, NULL, { 0 },
	  A, "One" },
	{ __LINE__, V12 "{'Effect':'Allow','Action':'*','Resource':'*'}" END, NULL, { 0 }, A, NULL },
	{ __LINE__, V12 "{'Effect':'Deny','Action':'*','Resource':'*'}," ALLOW_ALL END, NULL, { 0 }, X, NULL },

	/* ---- Action: the whole action matched case-insensitively, * and ? ---- */
	{ __LINE__, V12 "{'Sid':'G','Effect':'Allow','Action':'http:GET','Resource':'*'}" END, NULL, { 0 }, A, "G" },
	{ __LINE__, V12 "{'Sid':'G','Effect':'Allow','Action':'http:get','Resource':'*'}" END, NULL, { 0 }, A, "G" },
	{ __LINE__, V12 "{'Sid':'G','Effect':'Allow','Action':'HTTP:Get','Resource':'*'}" END, NULL, { 0 }, A, "G" },
	{ __LINE__, V12 "{'Sid':'G','Effect':'Allow','Action':'http:GET','Resource':'*'}" END, NULL, { .method = "get" },
	  A, "G" },
	{ __LINE__, V12 "{'Sid':'G','Effect':'Allow','Action':'http:GET','Resource':'*'}" END, NULL, { .method = "POST" },
	  I, NULL },
	{ __LINE__, V12 "{'Sid':'S','Effect':'Allow','Action':'http:*','Resource':'*'}" END, NULL,
	  { .method = "PROPFIND" }, A, "S" },
	{ __LINE__, V12 "{'Sid':'P','Effect':'Allow','Action':'http:P*','Resource':'*'}" END, NULL, { .method = "PATCH" },
	  A, "P" },
	{ __LINE__, V12 "{'Sid':'P','Effect':'Allow','Action':'http:P*','Resource':'*'}" END, NULL, { .method = "GET" },
	  I, NULL },
	{ __LINE__, V12 "{'Sid':'Q','Effect':'Allow','Action':'http:P?T','Resource':'*'}" END, NULL, { .method = "PUT" },
	  A, "Q" },
	{ __LINE__, V12 "{'Sid':'Q','Effect':'Allow','Action':'http:P?T','Resource':'*'}" END, NULL, { .method = "POST" },
	  I, NULL },
	{ __LINE__, V12 ALLOW_ALL END, NULL, { .method = "MKCOL" }, A, "All" },
	{ __LINE__, V12 "{'Sid':'L','Effect':'Allow','Action':['http:GET','http:HEAD'],'Resource':'*'}" END, NULL,
	  { .method = "HEAD" }, A, "L" },
	{ __LINE__, V12 "{'Sid':'U','Effect':'Allow','Action':'http:PURGE','Resource':'*'}" END, NULL,
	  { .method = "PURGE" }, A, "U" },
	{ __LINE__, V12 "{'Sid':'U','Effect':'Allow','Action':'http:PURGE','Resource':'*'}" END, NULL,
	  { .method = "PURGEX" }, I, NULL },
	/* A long method is still an action: '*' covers it, and a Deny on it cannot be escaped by length. */
	{ __LINE__, V12 "{'Sid':'NA','Effect':'Allow','NotAction':'http:DELETE','Resource':'*'},"
	  "{'Sid':'D','Effect':'Deny','Action':'*','Resource':'*'}" END, NULL,
	  { .method = "AVERYLONGMETHODNAMETHATGOESONANDONANDONFORMORETHANFORTYEIGHTCHARACTERS" }, X, "D" },
	{ __LINE__, V12 "{'Sid':'L','Effect':'Allow','Action':'http:AVERY*S','Resource':'*'}" END, NULL,
	  { .method = "AVERYLONGMETHODNAMETHATGOESONANDONANDONFORMORETHANFORTYEIGHTCHARACTERS" }, A, "L" },
	/* NotAction: with Allow it widens (all but the listed), with Deny it denies all but the listed. */
	{ __LINE__, V12 "{'Sid':'NA','Effect':'Allow','NotAction':'http:DELETE','Resource':'*'}" END, NULL, { 0 }, A,
	  "NA" },
	{ __LINE__, V12 "{'Sid':'NA','Effect':'Allow','NotAction':'http:DELETE','Resource':'*'}" END, NULL,
	  { .method = "DELETE" }, I, NULL },
	{ __LINE__, V12 "{'Sid':'NA','Effect':'Allow','NotAction':'http:DELETE','Resource':'*'}" END, NULL,
	  { .method = "LOCK" }, A, "NA" },
	{ __LINE__, V12 ALLOW_ALL ",{'Sid':'RO','Effect':'Deny','NotAction':['http:GET','http:HEAD'],'Resource':'*'}"
	  END, NULL, { .method = "POST" }, X, "RO" },
	{ __LINE__, V12 ALLOW_ALL ",{'Sid':'RO','Effect':'Deny','NotAction':['http:GET','http:HEAD'],'Resource':'*'}"
	  END, NULL, { .method = "GET" }, A, "All" },
	{ __LINE__, V12 "{'Sid':'NA','Effect':'Allow','NotAction':'http:*','Resource':'*'}" END, NULL,
	  { .method = "PROPFIND" }, I, NULL },

	/* ---- Resource: host + path, host lower-cased, path case-sensitive, * and ? cross '/' ---- */
	{ __LINE__, V12 "{'Sid':'R','Effect':'Allow','Action':'*','Resource':'h.test/a/*'}" END, NULL,
	  { .path = "/a/b/c" }, A, "R" },
	{ __LINE__, V12 "{'Sid':'R','Effect':'Allow','Action':'*','Resource':'h.test/a/*'}" END, NULL, { .path = "/a" },
	  I, NULL },
	{ __LINE__, V12 "{'Sid':'R','Effect':'Allow','Action':'*','Resource':'h.test/a/?'}" END, NULL, { .path = "/a/x" },
	  A, "R" },
	{ __LINE__, V12 "{'Sid':'R','Effect':'Allow','Action':'*','Resource':'h.test/a/?'}" END, NULL,
	  { .path = "/a/xy" }, I, NULL },
	{ __LINE__, V12 "{'Sid':'R','Effect':'Allow','Action':'*','Resource':'h.test/a?b'}" END, NULL, { .path = "/a/b" },
	  A, "R" },
	{ __LINE__, V12 "{'Sid':'R','Effect':'Allow','Action':'*','Resource':'h.test/A/*'}" END, NULL, { .path = "/a/x" },
	  I, NULL },
	{ __LINE__, V12 "{'Sid':'R','Effect':'Allow','Action':'*','Resource':'H.TEST/a/*'}" END, NULL, { .path = "/a/x" },
	  A, "R" },
	{ __LINE__, V12 "{'Sid':'R','Effect':'Allow','Action':'*','Resource':'*.test/x'}" END, NULL, { .path = "/x" }, A,
	  "R" },
	{ __LINE__, V12 "{'Sid':'R','Effect':'Allow','Action':'*','Resource':'h.test/a'}" END, NULL,
	  { .path = "/a", .query = "x=1" }, A, "R" },
	{ __LINE__, V12 "{'Sid':'R','Effect':'Allow','Action':'*','Resource':'h.test/'}" END, NULL, { .path = "/x" }, I,
	  NULL },
	{ __LINE__, V12 "{'Sid':'R','Effect':'Allow','Action':'*','Resource':['o.test/*','h.test/b/*']}" END, NULL,
	  { .path = "/b/1" }, A, "R" },
	{ __LINE__, V12 "{'Sid':'R','Effect':'Allow','Action':'*','Resource':'h.test/*'}" END, NULL,
	  { .host = "o.test", .path = "/x" }, I, NULL },
	{ __LINE__, V12 "{'Sid':'R','Effect':'Allow','Action':'*','Resource':'h.test/*'}" END, NULL,
	  { .host = "h.test.evil", .path = "/x" }, I, NULL },
	/* NotResource */
	{ __LINE__, V12 "{'Sid':'NR','Effect':'Allow','Action':'*','NotResource':'h.test/secret/*'}" END, NULL,
	  { .path = "/public" }, A, "NR" },
	{ __LINE__, V12 "{'Sid':'NR','Effect':'Allow','Action':'*','NotResource':'h.test/secret/*'}" END, NULL,
	  { .path = "/secret/x" }, I, NULL },
	{ __LINE__, V12 ALLOW_ALL ",{'Sid':'NR','Effect':'Deny','Action':'*','NotResource':'h.test/public/*'}" END,
	  NULL, { .path = "/private" }, X, "NR" },
	{ __LINE__, V12 ALLOW_ALL ",{'Sid':'NR','Effect':'Deny','Action':'*','NotResource':'h.test/public/*'}" END,
	  NULL, { .path = "/public/x" }, A, "All" },

	/* ---- String operators ---- */
	{ __LINE__, IF("'StringEquals':{'sk:username':'alice'}"), NULL, { 0 }, A, "C" },
	{ __LINE__, IF("'StringEquals':{'sk:username':'Alice'}"), NULL, { 0 }, I, NULL },
	{ __LINE__, IF("'StringEqualsIgnoreCase':{'sk:username':'ALICE'}"), NULL, { 0 }, A, "C" },
	{ __LINE__, IF("'StringNotEquals':{'sk:username':'bob'}"), NULL, { 0 }, A, "C" },
	{ __LINE__, IF("'StringNotEquals':{'sk:username':'alice'}"), NULL, { 0 }, I, NULL },
	{ __LINE__, IF("'StringNotEqualsIgnoreCase':{'sk:username':'ALICE'}"), NULL, { 0 }, I, NULL },
	{ __LINE__, IF("'StringLike':{'sk:Path':'/a/*'}"), NULL, { .path = "/a/b/c" }, A, "C" },
	{ __LINE__, IF("'StringLike':{'sk:Path':'/a/?'}"), NULL, { .path = "/a/bc" }, I, NULL },
	{ __LINE__, IF("'StringNotLike':{'sk:Path':'/admin*'}"), NULL, { .path = "/x" }, A, "C" },
	{ __LINE__, IF("'StringNotLike':{'sk:Path':'/admin*'}"), NULL, { .path = "/admin/y" }, I, NULL },
	/* Several values for one key are ORed, NORed for a negated operator. */
	{ __LINE__, IF("'StringEquals':{'sk:username':['bob','alice']}"), NULL, { 0 }, A, "C" },
	{ __LINE__, IF("'StringNotEquals':{'sk:username':['bob','alice']}"), NULL, { 0 }, I, NULL },
	{ __LINE__, IF("'StringNotEquals':{'sk:username':['bob','carol']}"), NULL, { 0 }, A, "C" },
	/* StringEquals has no wildcards. */
	{ __LINE__, IF("'StringEquals':{'sk:username':'al*'}"), NULL, { 0 }, I, NULL },
	{ __LINE__, IF("'StringEquals':{'sk:username':'al*'}"), NULL, { .user = "al*" }, A, "C" },
	/* Several keys under one operator, and several operators, are ANDed. */
	{ __LINE__, IF("'StringEquals':{'sk:username':'alice','sk:Method':'POST'}"), NULL, { 0 }, I, NULL },
	{ __LINE__, IF("'StringEquals':{'sk:username':'alice','sk:Method':'POST'}"), NULL, { .method = "POST" }, A, "C" },
	{ __LINE__, IF("'StringEquals':{'sk:username':'alice'},'StringLike':{'sk:Path':'/a/*'}"), NULL, { .path = "/b" },
	  I, NULL },
	{ __LINE__, IF("'StringEquals':{'sk:username':'alice'},'StringLike':{'sk:Path':'/a/*'}"), NULL,
	  { .path = "/a/1" }, A, "C" },
	/* Key names are case-insensitive, values case-sensitive; sk:Query/<name> is exact. */
	{ __LINE__, IF("'StringEquals':{'SK:USERNAME':'alice'}"), NULL, { 0 }, A, "C" },
	{ __LINE__, IF("'StringEquals':{'sk:Header/X-Team':'blue'}"), NULL, { .headers = "x-team: blue\n" }, A, "C" },
	{ __LINE__, IF("'StringEquals':{'sk:header/x-TEAM':'blue'}"), NULL, { .headers = "X-Team: blue\n" }, A, "C" },
	{ __LINE__, IF("'StringEquals':{'sk:Header/X-Team':'Blue'}"), NULL, { .headers = "x-team: blue\n" }, I, NULL },
	{ __LINE__, IF("'StringEquals':{'sk:Query/id':'7'}"), NULL, { .query = "a=1&id=7" }, A, "C" },
	{ __LINE__, IF("'StringEquals':{'sk:Query/ID':'7'}"), NULL, { .query = "id=7" }, I, NULL },
	{ __LINE__, IF("'StringEquals':{'sk:Query/q':'a b/c'}"), NULL, { .query = "q=a%20b%2Fc" }, A, "C" },
	{ __LINE__, IF("'StringEquals':{'sk:Host':'h.test','sk:Method':'GET','sk:Path':'/p'}"), NULL, { .path = "/p" }, A,
	  "C" },
	{ __LINE__, IF("'StringEquals':{'sk:AuthMethod':'api_key'}"), NULL, { .auth = "api_key" }, A, "C" },
	{ __LINE__, IF("'StringEquals':{'sk:AuthMethod':'api_key'}"), NULL, { 0 }, I, NULL },
	{ __LINE__, IF("'StringEquals':{'sk:Country':'JP'}"), NULL, { .country = "JP" }, A, "C" },
	{ __LINE__, IF("'StringEquals':{'sk:SourceIp':'192.0.2.10'}"), NULL, { 0 }, A, "C" },

	/* ---- a missing key: false, except negated operators, ...IfExists and Null ---- */
	{ __LINE__, IF("'StringEquals':{'sk:Country':'JP'}"), NULL, { 0 }, I, NULL },
	{ __LINE__, IF("'StringNotEquals':{'sk:Country':'JP'}"), NULL, { 0 }, A, "C" },
	{ __LINE__, IF("'StringEquals':{'sk:Header/X-A':'1'}"), NULL, { 0 }, I, NULL },
	{ __LINE__, IF("'StringNotEquals':{'sk:Header/X-A':'1'}"), NULL, { 0 }, A, "C" },
	{ __LINE__, IF("'StringNotLike':{'sk:Header/X-A':'1*'}"), NULL, { 0 }, A, "C" },
	{ __LINE__, IF("'StringEqualsIfExists':{'sk:Header/X-A':'1'}"), NULL, { 0 }, A, "C" },
	{ __LINE__, IF("'StringEqualsIfExists':{'sk:Header/X-A':'1'}"), NULL, { .headers = "X-A: 2\n" }, I, NULL },
	{ __LINE__, IF("'StringEqualsIfExists':{'sk:Header/X-A':'1'}"), NULL, { .headers = "X-A: 1\n" }, A, "C" },
	{ __LINE__, IF("'NumericLessThanIfExists':{'sk:Header/X-N':'5'}"), NULL, { 0 }, A, "C" },
	{ __LINE__, V12 ALLOW_ALL ",{'Sid':'D','Effect':'Deny','Action':'*','Resource':'*','Condition':"
	  "{'StringNotEqualsIfExists':{'sk:Header/X-A':'1'}}}" END, NULL, { .headers = "X-A: 2\n" }, X, "D" },
	{ __LINE__, V12 ALLOW_ALL ",{'Sid':'D','Effect':'Deny','Action':'*','Resource':'*','Condition':"
	  "{'StringNotEqualsIfExists':{'sk:Header/X-A':'1'}}}" END, NULL, { 0 }, X, "D" },
	{ __LINE__, IF("'StringEquals':{'jwt:sub':'alice'}"), NULL, { 0 }, I, NULL },
	{ __LINE__, IF("'StringEquals':{'sk:username':'alice'}"), NULL, { .user = "-" }, I, NULL },
	{ __LINE__, IF("'Null':{'sk:Header/X-A':'true'}"), NULL, { 0 }, A, "C" },
	{ __LINE__, IF("'Null':{'sk:Header/X-A':'true'}"), NULL, { .headers = "X-A: 1\n" }, I, NULL },
	{ __LINE__, IF("'Null':{'sk:Header/X-A':'false'}"), NULL, { .headers = "X-A: 1\n" }, A, "C" },
	{ __LINE__, IF("'Null':{'sk:Header/X-A':'false'}"), NULL, { 0 }, I, NULL },
	{ __LINE__, IF("'Null':{'sk:username':'true'}"), NULL, { .user = "-" }, A, "C" },
	/* sk:MultiFactorAuthPresent and sk:SecureTransport are always present. */
	{ __LINE__, IF("'Null':{'sk:MultiFactorAuthPresent':'true'}"), NULL, { 0 }, I, NULL },
	{ __LINE__, IF("'Null':{'sk:SecureTransport':'false'}"), NULL, { 0 }, A, "C" },

	/* ---- Bool ---- */
	{ __LINE__, IF("'Bool':{'sk:MultiFactorAuthPresent':'true'}"), NULL, { .mfa = true }, A, "C" },
	{ __LINE__, IF("'Bool':{'sk:MultiFactorAuthPresent':'true'}"), NULL, { 0 }, I, NULL },
	{ __LINE__, IF("'Bool':{'sk:MultiFactorAuthPresent':false}"), NULL, { 0 }, A, "C" },
	{ __LINE__, IF("'Bool':{'sk:MultiFactorAuthPresent':'TRUE'}"), NULL, { .mfa = true }, A, "C" },
	{ __LINE__, V12 ALLOW_ALL ",{'Sid':'TLS','Effect':'Deny','Action':'*','Resource':'*','Condition':"
	  "{'Bool':{'sk:SecureTransport':'false'}}}" END, NULL, { 0 }, X, "TLS" },
	{ __LINE__, V12 ALLOW_ALL ",{'Sid':'TLS','Effect':'Deny','Action':'*','Resource':'*','Condition':"
	  "{'Bool':{'sk:SecureTransport':'false'}}}" END, NULL, { .secure = true }, A, "All" },
	{ __LINE__, IF("'Bool':{'sk:Header/X-Flag':'true'}"), NULL, { .headers = "X-Flag: yes\n" }, I, NULL },

	/* ---- Numeric ---- */
	{ __LINE__, IF("'NumericLessThan':{'sk:Header/X-N':'10'}"), NULL, { .headers = "X-N: 9\n" }, A, "C" },
	{ __LINE__, IF("'NumericLessThan':{'sk:Header/X-N':'10'}"), NULL, { .headers = "X-N: 10\n" }, I, NULL },
	{ __LINE__, IF("'NumericLessThanEquals':{'sk:Header/X-N':10}"), NULL, { .headers = "X-N: 10\n" }, A, "C" },
	{ __LINE__, IF("'NumericGreaterThan':{'sk:Header/X-N':'1.5'}"), NULL, { .headers = "X-N: 2\n" }, A, "C" },
	{ __LINE__, IF("'NumericGreaterThanEquals':{'sk:Header/X-N':'2'}"), NULL, { .headers = "X-N: 1.99\n" }, I, NULL },
	{ __LINE__, IF("'NumericEquals':{'sk:Header/X-N':'3'}"), NULL, { .headers = "X-N: 3.0\n" }, A, "C" },
	{ __LINE__, IF("'NumericNotEquals':{'sk:Header/X-N':'3'}"), NULL, { .headers = "X-N: 4\n" }, A, "C" },
	{ __LINE__, IF("'NumericNotEquals':{'sk:Header/X-N':['3','4']}"), NULL, { .headers = "X-N: 4\n" }, I, NULL },
	{ __LINE__, IF("'NumericEquals':{'sk:Header/X-N':'3'}"), NULL, { .headers = "X-N: three\n" }, I, NULL },
	{ __LINE__, IF("'NumericNotEquals':{'sk:Header/X-N':'3'}"), NULL, { .headers = "X-N: three\n" }, A, "C" },
	{ __LINE__, IF("'NumericEquals':{'sk:Header/X-N':'3'}"), NULL, { 0 }, I, NULL },
	{ __LINE__, IF("'NumericNotEquals':{'sk:Header/X-N':'3'}"), NULL, { 0 }, A, "C" },
	{ __LINE__, IF("'NumericLessThan':{'sk:EpochTime':'1764460801'}"), NULL, { 0 }, A, "C" },

	/* ---- Date (ISO 8601 or Unix seconds, with zones) ---- */
	{ __LINE__, IF("'DateLessThan':{'sk:CurrentTime':'2030-01-01T00:00:00Z'}"), NULL, { 0 }, A, "C" },
	{ __LINE__, IF("'DateGreaterThan':{'sk:CurrentTime':'2030-01-01T00:00:00Z'}"), NULL, { 0 }, I, NULL },
	{ __LINE__, IF("'DateGreaterThanEquals':{'sk:EpochTime':'1764460800'}"), NULL, { 0 }, A, "C" },
	{ __LINE__, IF("'DateLessThan':{'sk:CurrentTime':'2025-11-30T09:00:00+09:00'}"), NULL, { .now = 1764460799 }, A,
	  "C" },
	{ __LINE__, IF("'DateLessThan':{'sk:CurrentTime':'2025-11-30T09:00:00+09:00'}"), NULL, { 0 }, I, NULL },
	{ __LINE__, IF("'DateEquals':{'sk:CurrentTime':'2025-11-30'}"), NULL, { 0 }, A, "C" },
	{ __LINE__, IF("'DateNotEquals':{'sk:CurrentTime':'2025-11-30'}"), NULL, { 0 }, I, NULL },
	{ __LINE__, IF("'DateLessThanEquals':{'sk:CurrentTime':'1764460800'}"), NULL, { 0 }, A, "C" },
	{ __LINE__, IF("'DateGreaterThan':{'sk:Header/X-Since':'2025-01-01T00:00:00Z'}"), NULL,
	  { .headers = "X-Since: 2025-06-01T12:00:00.5Z\n" }, A, "C" },

	/* ---- IpAddress / NotIpAddress: IPv4 and IPv6 in one list, a v4-mapped client is IPv4 ---- */
	{ __LINE__, IF("'IpAddress':{'sk:SourceIp':'203.0.113.0/24'}"), NULL, { .ip = "203.0.113.9" }, A, "C" },
	{ __LINE__, IF("'IpAddress':{'sk:SourceIp':'203.0.113.0/24'}"), NULL, { .ip = "198.51.100.1" }, I, NULL },
	{ __LINE__, IF("'IpAddress':{'sk:SourceIp':['203.0.113.0/24','2001:db8::/32']}"), NULL, { .ip = "2001:db8::1" }, A,
	  "C" },
	{ __LINE__, IF("'IpAddress':{'sk:SourceIp':['203.0.113.0/24','2001:db8::/32']}"), NULL, { .ip = "2001:db9::1" },
	  I, NULL },
	{ __LINE__, IF("'IpAddress':{'sk:SourceIp':['2001:db8::/32','203.0.113.0/24']}"), NULL,
	  { .ip = "::ffff:203.0.113.9" }, A, "C" },
	{ __LINE__, IF("'IpAddress':{'sk:SourceIp':'203.0.113.9'}"), NULL, { .ip = "203.0.113.9" }, A, "C" },
	{ __LINE__, IF("'IpAddress':{'sk:SourceIp':'203.0.113.0/25'}"), NULL, { .ip = "203.0.113.200" }, I, NULL },
	{ __LINE__, IF("'NotIpAddress':{'sk:SourceIp':'10.0.0.0/8'}"), NULL, { .ip = "203.0.113.9" }, A, "C" },
	{ __LINE__, IF("'NotIpAddress':{'sk:SourceIp':'10.0.0.0/8'}"), NULL, { .ip = "10.1.2.3" }, I, NULL },
	{ __LINE__, IF("'IpAddress':{'sk:SourceIp':'0.0.0.0/0'}"), NULL, { .ip = "-" }, I, NULL },
	{ __LINE__, IF("'NotIpAddress':{'sk:SourceIp':'10.0.0.0/8'}"), NULL, { .ip = "-" }, A, "C" },
	{ __LINE__, IF("'IpAddress':{'sk:SourceIp':'::/0'}"), NULL, { .ip = "192.0.2.1" }, I, NULL },

	/* ---- ForAnyValue / ForAllValues on the multi-valued sk:Groups ---- */
	{ __LINE__, IF("'ForAnyValue:StringEquals':{'sk:Groups':'admins'}"), NULL, { .groups = "staff,admins" }, A, "C" },
	{ __LINE__, IF("'ForAnyValue:StringEquals':{'sk:Groups':'admins'}"), NULL, { .groups = "staff" }, I, NULL },
	{ __LINE__, IF("'ForAllValues:StringEquals':{'sk:Groups':['staff','admins']}"), NULL, { .groups = "staff" }, A,
	  "C" },
	{ __LINE__, IF("'ForAllValues:StringEquals':{'sk:Groups':['staff','admins']}"), NULL, { .groups = "staff,ops" }, I,
	  NULL },
	{ __LINE__, IF("'ForAllValues:StringEquals':{'sk:Groups':'staff'}"), NULL, { 0 }, A, "C" },
	{ __LINE__, IF("'ForAnyValue:StringEquals':{'sk:Groups':'staff'}"), NULL, { 0 }, I, NULL },
	{ __LINE__, IF("'ForAnyValue:StringNotEquals':{'sk:Groups':'admins'}"), NULL, { .groups = "admins,staff" }, A,
	  "C" },
	{ __LINE__, IF("'ForAllValues:StringNotEquals':{'sk:Groups':'admins'}"), NULL, { .groups = "admins,staff" }, I,
	  NULL },
	{ __LINE__, IF("'ForAnyValue:StringLike':{'sk:Groups':'adm*'}"), NULL, { .groups = "staff,admins" }, A, "C" },
	{ __LINE__, IF("'ForAnyValue:StringEqualsIfExists':{'sk:Groups':'admins'}"), NULL, { 0 }, A, "C" },
	{ __LINE__, IF("'Null':{'sk:Groups':'true'}"), NULL, { 0 }, A, "C" },
	{ __LINE__, IF("'Null':{'sk:Groups':'true'}"), NULL, { .groups = "staff" }, I, NULL },
	/* A set operator on a single-valued key takes its one value as a set. */
	{ __LINE__, IF("'ForAnyValue:StringEquals':{'sk:username':['bob','alice']}"), NULL, { 0 }, A, "C" },

	/* ---- policy variables (Version 2012-10-17 only), defaults, no wildcard effect ---- */
	{ __LINE__, V12 "{'Sid':'H','Effect':'Allow','Action':'*','Resource':'h.test/home/${sk:username}/*'}" END, NULL,
	  { .path = "/home/alice/x" }, A, "H" },
	{ __LINE__, V12 "{'Sid':'H','Effect':'Allow','Action':'*','Resource':'h.test/home/${sk:username}/*'}" END, NULL,
	  { .path = "/home/bob/x" }, I, NULL },
	{ __LINE__, "{'Version':'2008-10-17','Statement':[{'Sid':'H','Effect':'Allow','Action':'*','Resource':"
	  "'h.test/home/${sk:username}/*'}]}", NULL, { .path = "/home/alice/x" }, I, NULL },
	{ __LINE__, "{'Version':'2008-10-17','Statement':[{'Sid':'H','Effect':'Allow','Action':'*','Resource':"
	  "'h.test/home/${sk:username}/*'}]}", NULL, { .path = "/home/${sk:username}/x" }, A, "H" },
	{ __LINE__, "{'Statement':[{'Sid':'H','Effect':'Allow','Action':'*','Resource':"
	  "'h.test/home/${sk:username}/*'}]}", NULL, { .path = "/home/alice/x" }, I, NULL },
	{ __LINE__, V12 "{'Sid':'H','Effect':'Allow','Action':'*','Resource':'h.test/home/${sk:username}/*'}" END, NULL,
	  { .user = "a*", .path = "/home/abc/x" }, I, NULL },
	{ __LINE__, V12 "{'Sid':'H','Effect':'Allow','Action':'*','Resource':'h.test/home/${sk:username}/*'}" END, NULL,
	  { .user = "a*", .path = "/home/a*/x" }, A, "H" },
	{ __LINE__, V12 "{'Sid':'H','Effect':'Allow','Action':'*','Resource':'h.test/home/${sk:username}x'}" END, NULL,
	  { .user = "?", .path = "/home/ax" }, I, NULL },
	{ __LINE__, V12 "{'Sid':'H','Effect':'Allow','Action':'*','Resource':'h.test/home/${sk:username}/*'}" END, NULL,
	  { .user = "-", .path = "/home//x" }, I, NULL },
	{ __LINE__, V12 "{'Sid':'T','Effect':'Allow','Action':'*','Resource':'h.test/team/${sk:Header/X-Team}/*'}" END,
	  NULL, { .path = "/team//x" }, I, NULL },
	{ __LINE__, V12 "{'Sid':'T','Effect':'Allow','Action':'*','Resource':'h.test/team/${sk:Header/X-Team, `none`}/*'}"
	  END, NULL, { .path = "/team/none/x" }, A, "T" },
	{ __LINE__, V12 "{'Sid':'T','Effect':'Allow','Action':'*','Resource':'h.test/team/${sk:Header/X-Team,`none`}/*'}"
	  END, NULL, { .path = "/team/red/x", .headers = "X-Team: red\n" }, A, "T" },
	{ __LINE__, V12 "{'Sid':'T','Effect':'Allow','Action':'*','Resource':'h.test/team/${sk:Header/X-Team,`none`}/*'}"
	  END, NULL, { .path = "/team/none/x", .headers = "X-Team: red\n" }, I, NULL },
	{ __LINE__, V12 "{'Sid':'S','Effect':'Allow','Action':'*','Resource':'h.test/a${*}'}" END, NULL, { .path = "/a*" },
	  A, "S" },
	{ __LINE__, V12 "{'Sid':'S','Effect':'Allow','Action':'*','Resource':'h.test/a${*}'}" END, NULL, { .path = "/ab" },
	  I, NULL },
	{ __LINE__, V12 "{'Sid':'S','Effect':'Allow','Action':'*','Resource':'h.test/${$}${?}'}" END, NULL,
	  { .path = "/$?" }, A, "S" },
	{ __LINE__, V12 "{'Sid':'S','Effect':'Allow','Action':'*','Resource':'h.test/${$}${?}'}" END, NULL,
	  { .path = "/$x" }, I, NULL },
	{ __LINE__, IF("'StringEquals':{'sk:Header/X-User':'${sk:username}'}"), NULL, { .headers = "X-User: alice\n" }, A,
	  "C" },
	{ __LINE__, IF("'StringEquals':{'sk:Header/X-User':'${sk:username}'}"), NULL, { .headers = "X-User: bob\n" }, I,
	  NULL },
	{ __LINE__, IF("'StringLike':{'sk:Header/X-User':'${sk:username}'}"), NULL,
	  { .user = "a*", .headers = "X-User: abc\n" }, I, NULL },
	{ __LINE__, IF("'StringLike':{'sk:Header/X-User':'${sk:username}'}"), NULL,
	  { .user = "a*", .headers = "X-User: a*\n" }, A, "C" },
	{ __LINE__, IF("'StringLike':{'sk:Path':'/u/${sk:username}/*'}"), NULL, { .path = "/u/alice/k/1" }, A, "C" },
	/* A Deny whose variable has no value matches nothing: the Allow stands. */
	{ __LINE__, V12 ALLOW_ALL ",{'Sid':'D','Effect':'Deny','Action':'*','Resource':'h.test/${sk:Header/X-Lock}'}"
	  END, NULL, { .path = "/" }, A, "All" },
	{ __LINE__, V12 ALLOW_ALL ",{'Sid':'D','Effect':'Deny','Action':'*','Resource':'h.test/${sk:Header/X-Lock}'}"
	  END, NULL, { .path = "/x", .headers = "X-Lock: x\n" }, X, "D" },

	/* ---- values set from outside (the simulator's --context) override the request's ---- */
	{ __LINE__, IF("'StringEquals':{'sk:Country':'JP'}"), NULL, { .extra = "sk:country=JP" }, A, "C" },
	{ __LINE__, IF("'StringEquals':{'sk:username':'bob'}"), NULL, { .extra = "sk:username=bob" }, A, "C" },
	{ __LINE__, IF("'ForAllValues:StringEquals':{'sk:Groups':['a','b']}"), NULL, { .extra = "sk:Groups=a;sk:Groups=c" },
	  I, NULL },
	{ __LINE__, IF("'Bool':{'sk:MultiFactorAuthPresent':'true'}"), NULL, { .extra = "sk:MultiFactorAuthPresent=true" },
	  A, "C" },
};

static void test_evaluation_table(void **state)
{
	(void)state;
	size_t n = sizeof(cases) / sizeof(cases[0]);
	assert_true(n >= 100);
	for (size_t i = 0; i < n; i++) {
		const struct ecase *c = &cases[i];
		struct sk_policy *docs[2];
		size_t nd = 0;
		struct sk_err err;
		const char *texts[2] = { c->policy, c->policy2 };
		for (int k = 0; k < 2; k++) {
			if (!texts[k])
				continue;
			docs[nd] = parse(texts[k], &err);
			if (!docs[nd])
				fail_msg("case at line %d: parse: %d:%d: %s", c->line, err.line, err.col, err.msg);
			nd++;
		}
		const char *sid = NULL;
		enum sk_policy_decision got = run_req(docs, nd, &c->r, &sid);
		if (got != c->want || (sid == NULL) != (c->sid == NULL) || (sid && strcmp(sid, c->sid) != 0))
			fail_msg("case at line %d: got %s %s, want %s %s", c->line, sk_policy_decision_name(got),
				 sid ? sid : "-", sk_policy_decision_name(c->want), c->sid ? c->sid : "-");
		for (size_t k = 0; k < nd; k++)
			sk_policy_free(docs[k]);
	}
}

/* ---- load errors: unknown things are errors at file:line:col, never ignored ---- */

struct pcase {
	int tline;
	const char *policy;
	int line, col;
	const char *msg;
};

static const struct pcase perrs[] = {
	{ __LINE__, "{'Version':'2012-10-17','Statment':[]}", 1, 25, "unknown policy element 'Statment'" },
	{ __LINE__, "{'Version':'2012-10-18','Statement':[]}", 1, 12, "Version must be" },
	{ __LINE__, "{'Version':'2012-10-17'}", 1, 1, "a policy needs Statement" },
	{ __LINE__, "{'Version':'2012-10-17','Statement':[]}", 1, 37, "Statement must not be empty" },
	{ __LINE__, "[1]", 1, 1, "must be a JSON object" },
	{ __LINE__, "{'Statement':[{'Effect':'allow','Action':'*','Resource':'*'}]}", 1, 25, "Effect must be Allow or Deny" },
	{ __LINE__, "{'Statement':[{'Action':'*','Resource':'*'}]}", 1, 15, "a statement needs Effect" },
	{ __LINE__, "{'Statement':[{'Effect':'Allow','Resource':'*'}]}", 1, 15, "needs Action or NotAction" },
	{ __LINE__, "{'Statement':[{'Effect':'Allow','Action':'*'}]}", 1, 15, "needs Resource or NotResource" },
	{ __LINE__, "{'Statement':[{'Effect':'Allow','Action':'*','NotAction':'*','Resource':'*'}]}", 1, 46,
	  "either Action or NotAction" },
	{ __LINE__, "{'Statement':[{'Effect':'Allow','Action':'*','Resource':'*','NotResource':'*'}]}", 1, 61,
	  "either Resource or NotResource" },
	{ __LINE__, "{'Statement':[{'Effect':'Allow','Action':'*','Resource':'*','Principal':'*'}]}", 1, 61,
	  "'Principal' belongs to resource policies" },
	{ __LINE__, "{'Statement':[{'Effect':'Allow','Action':'*','Resource':'*','Conditon':{}}]}", 1, 61,
	  "unknown statement element 'Conditon'" },
	{ __LINE__, "{'Statement':[{'Effect':'Allow','Action':'s3:GetObject','Resource':'*'}]}", 1, 42,
	  "must be http:<METHOD>" },
	{ __LINE__, "{'Statement':[{'Effect':'Allow','Action':[],'Resource':'*'}]}", 1, 42, "must not be an empty list" },
	{ __LINE__, "{'Statement':[{'Effect':'Allow','Action':'*','Resource':'/x'}]}", 1, 57, "must start with the host" },
	{ __LINE__, "{'Statement':[{'Sid':'a b','Effect':'Allow','Action':'*','Resource':'*'}]}", 1, 22, "Sid must be" },
	{ __LINE__, "{'Statement':[{'Sid':'S','Effect':'Allow','Action':'*','Resource':'*'},"
		    "{'Sid':'S','Effect':'Deny','Action':'*','Resource':'*'}]}", 1, 72, "Sid 'S' is used twice" },
	{ __LINE__, "{'Statement':[{'Effect':'Allow','Action':'*','Resource':'*',\n'Condition':{'StringEqualz':{'sk:Path':'/'}}}]}",
	  2, 14, "unknown condition operator 'StringEqualz'" },
	{ __LINE__, "{'Statement':[{'Effect':'Allow','Action':'*','Resource':'*',\n'Condition':{'ForSomeValues:StringEquals':"
		    "{'sk:Path':'/'}}}]}", 2, 14, "unknown condition operator prefix" },
	{ __LINE__, "{'Statement':[{'Effect':'Allow','Action':'*','Resource':'*',\n'Condition':{'ArnLike':{'sk:Path':'/'}}}]}",
	  2, 14, "unknown condition operator 'ArnLike'" },
	{ __LINE__, "{'Statement':[{'Effect':'Allow','Action':'*','Resource':'*',\n'Condition':{'NullIfExists':{'sk:Path':'true'}}}]}",
	  2, 14, "Null takes neither IfExists" },
	{ __LINE__, "{'Statement':[{'Effect':'Allow','Action':'*','Resource':'*',\n'Condition':{'StringEquals':{'aws:username':'a'}}}]}",
	  2, 30, "unknown condition key prefix" },
	{ __LINE__, "{'Statement':[{'Effect':'Allow','Action':'*','Resource':'*',\n'Condition':{'StringEquals':{'sk:UserName2':'a'}}}]}",
	  2, 30, "unknown condition key" },
	{ __LINE__, "{'Statement':[{'Effect':'Allow','Action':'*','Resource':'*',\n'Condition':{'StringEquals':{'sk:Header/':'a'}}}]}",
	  2, 30, "sk:Header/ needs a field name" },
	{ __LINE__, "{'Statement':[{'Effect':'Allow','Action':'*','Resource':'*',\n'Condition':{'StringEquals':{'sk:Groups':'a'}}}]}",
	  2, 30, "sk:Groups is multi-valued" },
	{ __LINE__, "{'Statement':[{'Effect':'Allow','Action':'*','Resource':'*',\n'Condition':{'NumericLessThan':{'sk:Path':'ten'}}}]}",
	  2, 43, "needs a number" },
	{ __LINE__, "{'Statement':[{'Effect':'Allow','Action':'*','Resource':'*',\n'Condition':{'DateLessThan':{'sk:CurrentTime':'2026-02-30'}}}]}",
	  2, 47, "needs an ISO 8601 date" },
	{ __LINE__, "{'Statement':[{'Effect':'Allow','Action':'*','Resource':'*',\n'Condition':{'IpAddress':{'sk:SourceIp':'10.0.0.0/33'}}}]}",
	  2, 41, "needs an IPv4 or IPv6 CIDR" },
	{ __LINE__, "{'Statement':[{'Effect':'Allow','Action':'*','Resource':'*',\n'Condition':{'Bool':{'sk:SecureTransport':'yes'}}}]}",
	  2, 43, "needs true or false" },
	{ __LINE__, "{'Statement':[{'Effect':'Allow','Action':'*','Resource':'*',\n'Condition':{'StringEquals':{'sk:Path':[]}}}]}",
	  2, 40, "must not be an empty list" },
	{ __LINE__, "{'Statement':[{'Effect':'Allow','Action':'*','Resource':'*',\n'Condition':{'StringEquals':[]}}]}", 2, 29,
	  "needs an object" },
	{ __LINE__, "{'Version':'2012-10-17','Statement':[{'Effect':'Allow','Action':'*','Resource':'h/${sk:nope}'}]}", 1, 80,
	  "unknown condition key" },
	{ __LINE__, "{'Version':'2012-10-17','Statement':[{'Effect':'Allow','Action':'*','Resource':'h/${sk:username'}]}", 1,
	  80, "without a closing" },
	{ __LINE__, "{'Version':'2012-10-17','Statement':[{'Effect':'Allow','Action':'*','Resource':'h/${sk:Groups}'}]}", 1,
	  80, "cannot be a policy variable" },
	{ __LINE__, "{'Version':'2012-10-17','Statement':[{'Effect':'Allow','Action':'*','Resource':'h/${sk:username, x}'}]}",
	  1, 80, "${key, 'default'}" },
	{ __LINE__, "{'Statement':[{'Effect':'Allow','Effect':'Deny','Action':'*','Resource':'*'}]}", 1, 33, "duplicate" },
	{ __LINE__, "{'Statement':[{'Effect':'Allow',", 2, 1, "" },
};

static void test_load_errors(void **state)
{
	(void)state;
	int bad = 0;
	for (size_t i = 0; i < sizeof(perrs) / sizeof(perrs[0]); i++) {
		const struct pcase *c = &perrs[i];
		struct sk_err err;
		struct sk_policy *p = parse(c->policy, &err);
		if (p) {
			sk_policy_free(p);
			fail_msg("test line %d: parsed, expected %d:%d %s", c->tline, c->line, c->col, c->msg);
		}
		if (strcmp(err.file, "t.json") != 0 || err.line != c->line || (c->col && err.col != c->col) ||
		    !strstr(err.msg, c->msg))
		{
			print_error("test line %d: got %s:%d:%d: %s; want %d:%d ...%s...\n", c->tline, err.file, err.line,
				    err.col, err.msg, c->line, c->col, c->msg);
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

/* The compiled form: statements bucketed by the methods their Action can match, denies apart. */
static void test_method_buckets(void **state)
{
	(void)state;
	struct sk_err err;
	struct sk_policy *p = parse(V12 "{'Effect':'Allow','Action':'http:GET','Resource':'*'},"
				    "{'Effect':'Allow','Action':'http:P*','Resource':'*'},"
				    "{'Effect':'Deny','Action':'http:DELETE','Resource':'*'},"
				    "{'Effect':'Deny','NotAction':'http:GET','Resource':'*'},"
				    "{'Effect':'Allow','Action':'http:PURGE','Resource':'*'}" END,
				    &err);
	assert_non_null(p);
	unsigned get = sk_policy_bucket((struct sk_slice){ "GET", 3 });
	unsigned put = sk_policy_bucket((struct sk_slice){ "put", 3 });
	unsigned del = sk_policy_bucket((struct sk_slice){ "DELETE", 6 });
	unsigned other = sk_policy_bucket((struct sk_slice){ "PURGE", 5 });
	assert_int_equal(other, SK_POLICY_BUCKETS - 1);
	assert_int_equal(p->b[get].n_allow, 1);
	assert_int_equal(p->b[get].n_deny, 0);
	assert_int_equal(p->b[put].n_allow, 1);
	assert_int_equal(p->b[put].allow[0], 1);
	assert_int_equal(p->b[put].n_deny, 1);
	assert_int_equal(p->b[del].n_allow, 0);
	assert_int_equal(p->b[del].n_deny, 2);
	/* Other methods: every statement, the action checked at evaluation. */
	assert_int_equal(p->b[other].n_allow, 3);
	assert_int_equal(p->b[other].n_deny, 2);
	assert_int_equal(sk_policy_statements(p), 5);
	assert_false(sk_policy_reads_country(p));
	assert_string_equal(sk_policy_name(p), "t");
	sk_policy_free(p);
}

/* A policy with many statements that cannot apply to GET costs a GET nothing: they are not in its bucket. */
static void test_unrelated_statements_not_visited(void **state)
{
	(void)state;
	char *text = malloc(64 * 1024);
	size_t o = (size_t)snprintf(text, 64 * 1024, "{'Version':'2012-10-17','Statement':[");
	for (int i = 0; i < 200; i++)
		o += (size_t)snprintf(text + o, 64 * 1024 - o,
				      "{'Effect':'Allow','Action':'http:POST','Resource':'h.test/p%d/*'},", i);
	snprintf(text + o, 64 * 1024 - o, "{'Sid':'G','Effect':'Allow','Action':'http:GET','Resource':'*'}]}");
	struct sk_err err;
	struct sk_policy *p = parse(text, &err);
	free(text);
	assert_non_null(p);
	unsigned get = sk_policy_bucket((struct sk_slice){ "GET", 3 });
	assert_int_equal(p->b[get].n_allow, 1);
	const char *sid;
	struct req r = { 0 };
	assert_int_equal(run_req(&p, 1, &r, &sid), SK_PD_ALLOW);
	assert_string_equal(sid, "G");
	sk_policy_free(p);
}

struct lines {
	char l[4][2048];
	int n;
};

static void emit(void *arg, const char *line)
{
	struct lines *out = arg;
	assert_true(out->n < 4);
	snprintf(out->l[out->n++], sizeof(out->l[0]), "%s", line);
}

/* Statements confined to one host are listed under it: other hosts' requests never visit them. The
 * reported Sid stays the first in document order across the host list and the any-host list. */
static void test_host_index(void **state)
{
	(void)state;
	struct sk_err err;
	struct sk_policy *p = parse(V12 "{'Sid':'Any','Effect':'Allow','Action':'http:GET','Resource':'*.test/z/*'},"
				    "{'Sid':'F1','Effect':'Allow','Action':'http:GET','Resource':['F.test/a/*','f.test/b/*']},"
				    "{'Sid':'O','Effect':'Allow','Action':'*','Resource':'o.test/*'},"
				    "{'Sid':'FD','Effect':'Deny','Action':'*','Resource':'f.test/a/x'},"
				    "{'Sid':'F2','Effect':'Allow','Action':'*','Resource':'f.test/*'},"
				    "{'Sid':'V','Effect':'Allow','Action':'*','Resource':'${sk:username}.test/*'},"
				    "{'Sid':'NR','Effect':'Allow','Action':'*','NotResource':'o.test/*'}" END,
				    &err);
	assert_non_null(p);
	const struct sk_pbucket *get = &p->b[sk_policy_bucket((struct sk_slice){ "GET", 3 })];
	assert_int_equal(get->n_hosts, 2);
	const struct sk_phost *f = sk_policy_host_find(get, "f.test", 6);
	assert_non_null(f);
	assert_int_equal(f->n_allow, 2); /* F1 once (two resources on one host), F2 */
	assert_int_equal(f->allow[0], 1);
	assert_int_equal(f->allow[1], 4);
	assert_int_equal(f->n_deny, 1);
	assert_non_null(sk_policy_host_find(get, "o.test", 6));
	assert_null(sk_policy_host_find(get, "x.test", 6));
	assert_int_equal(get->n_allow, 3); /* Any, V, NR may apply to any host */
	const struct sk_pbucket *put = &p->b[sk_policy_bucket((struct sk_slice){ "PUT", 3 })];
	assert_int_equal(sk_policy_host_find(put, "f.test", 6)->n_allow, 1); /* F1 is GET only */

	static const struct {
		const char *host, *path, *method, *user;
		enum sk_policy_decision want;
		const char *sid;
	} rq[] = {
		{ "f.test", "/a/1", "GET", "alice", A, "F1" },
		{ "f.test", "/z/1", "GET", "alice", A, "Any" }, /* Any comes before F2 in the document */
		{ "f.test", "/a/x", "GET", "alice", X, "FD" },
		{ "f.test", "/c", "PUT", "alice", A, "F2" },
		{ "o.test", "/a/1", "GET", "alice", A, "O" },
		{ "x.test", "/a/1", "GET", "alice", A, "NR" },
		{ "x.test", "/a/1", "GET", "x", A, "V" },
		{ "o.test", "/", "DELETE", "alice", A, "O" },
	};
	for (size_t i = 0; i < sizeof(rq) / sizeof(rq[0]); i++) {
		struct req r = { .host = rq[i].host, .path = rq[i].path, .method = rq[i].method, .user = rq[i].user };
		const char *sid;
		enum sk_policy_decision got = run_req(&p, 1, &r, &sid);
		if (got != rq[i].want || !sid || strcmp(sid, rq[i].sid) != 0)
			fail_msg("request %zu: got %s %s", i, sk_policy_decision_name(got), sid ? sid : "-");
	}
	sk_policy_free(p);
}

/* A host and path that do not fit a resource are allowed by nothing (a cut one could match "*.txt"). */
static void test_oversized_resource(void **state)
{
	(void)state;
	struct sk_err err;
	struct sk_policy *p = parse(V12 "{'Sid':'T','Effect':'Allow','Action':'*','Resource':'h.test/*.txt'}" END, &err);
	assert_non_null(p);
	size_t cut = SK_POLICY_HOST_MAX + SK_POLICY_PATH_MAX - strlen("h.test"); /* path bytes that would fit */
	char *path = malloc(cut + 64);
	memset(path, 'a', cut + 32);
	path[0] = '/';
	memcpy(path + cut - 4, ".txt", 4); /* a cut resource would end here */
	strcpy(path + cut + 32, ".exe");
	const char *sid;
	struct req r = { .path = path };
	assert_int_equal(run_req(&p, 1, &r, &sid), SK_PD_IMPLICIT_DENY);
	strcpy(path + SK_POLICY_PATH_MAX - 200, ".txt"); /* short enough: matched whole */
	assert_int_equal(run_req(&p, 1, &r, &sid), SK_PD_ALLOW);
	/* A host longer than a DNS name is refused the same way, even with a short path. */
	struct sk_policy *any = parse(V12 ALLOW_ALL END, &err);
	char host[SK_POLICY_HOST_MAX + 2];
	memset(host, 'h', sizeof(host) - 1);
	host[sizeof(host) - 1] = '\0';
	struct req rh = { .host = host, .path = "/" };
	assert_int_equal(run_req(&any, 1, &rh, &sid), SK_PD_IMPLICIT_DENY);
	host[SK_POLICY_HOST_MAX] = '\0';
	assert_int_equal(run_req(&any, 1, &rh, &sid), SK_PD_ALLOW);
	sk_policy_free(any);
	free(path);
	sk_policy_free(p);
}

static void test_explain_lines(void **state)
{
	(void)state;
	struct sk_err err;
	struct sk_policy *p = parse(V12 "{'Sid':'A','Effect':'Allow','Action':'http:POST','Resource':'*'},"
				    "{'Sid':'B','Effect':'Allow','Action':'*','Resource':'h.test/b/*'},"
				    "{'Sid':'C','Effect':'Allow','Action':'*','Resource':'*','Condition':"
				    "{'StringEquals':{'sk:Country':'JP'}}},"
				    "{'Sid':'D','Effect':'Allow','Action':'*','Resource':'*'}" END,
				    &err);
	assert_non_null(p);
	struct sk_policy_ctx ctx = {
		.method = { "GET", 3 },
		.host = { "h.test", 6 },
		.path = { "/x", 2 },
	};
	struct sk_policy_result res;
	const struct sk_policy *docs[] = { p };
	sk_policy_eval(docs, 1, &ctx, &res);
	assert_int_equal(res.decision, SK_PD_ALLOW);
	assert_string_equal(res.sid, "D");
	struct lines out = { .n = 0 };
	sk_policy_explain(p, &ctx, &res, emit, &out);
	assert_int_equal(out.n, 4);
	assert_string_equal(out.l[0], "  policy t statement 1 A (Allow): not matched: Action does not cover http:GET");
	assert_string_equal(out.l[1],
			    "  policy t statement 2 B (Allow): not matched: Resource does not cover h.test/x");
	assert_string_equal(out.l[2], "  policy t statement 3 C (Allow): action and resource cover the request; "
					  "condition StringEquals sk:Country=(missing) is false => not matched: "
					  "condition StringEquals on sk:Country decided");
	assert_string_equal(out.l[3], "* policy t statement 4 D (Allow): action and resource cover the request "
					  "=> matched  <= decides");
	sk_policy_free(p);
}

static bool claim_cb(const void *arg, struct sk_slice name, struct sk_slice *value)
{
	(void)arg;
	if (name.len == 3 && memcmp(name.ptr, "sub", 3) == 0) {
		*value = (struct sk_slice){ "alice", 5 };
		return true;
	}
	return false;
}

/* jwt:<claim> keys read the identity's claims through the context (the place JWT identities plug in). */
static void test_jwt_claims(void **state)
{
	(void)state;
	struct sk_err err;
	struct sk_policy *p = parse(IF("'StringEquals':{'jwt:sub':'alice'},'Null':{'jwt:aud':'true'}"), &err);
	assert_non_null(p);
	struct sk_policy_ctx ctx = { .method = { "GET", 3 }, .host = { "h.test", 6 }, .path = { "/", 1 } };
	struct sk_policy_result res;
	const struct sk_policy *docs[] = { p };
	sk_policy_eval(docs, 1, &ctx, &res);
	assert_int_equal(res.decision, SK_PD_IMPLICIT_DENY); /* no claims: jwt:sub is missing */
	assert_false(sk_policy_reads_country(p));
	ctx.claim = claim_cb;
	sk_policy_eval(docs, 1, &ctx, &res);
	assert_int_equal(res.decision, SK_PD_ALLOW);
	sk_policy_free(p);
}

static void test_key_problem(void **state)
{
	(void)state;
	assert_null(sk_policy_key_problem("sk:Country"));
	struct sk_err err;
	struct sk_policy *p = parse(IF("'StringEquals':{'sk:country':'JP'}"), &err);
	assert_true(sk_policy_reads_country(p));
	sk_policy_free(p);
	p = parse(V12 "{'Effect':'Allow','Action':'*','Resource':'h.test/${sk:Country,`xx`}/*'}" END, &err);
	assert_true(sk_policy_reads_country(p));
	sk_policy_free(p);
	assert_null(sk_policy_key_problem("SK:header/X-A"));
	assert_null(sk_policy_key_problem("jwt:sub"));
	assert_non_null(sk_policy_key_problem("aws:username"));
	assert_non_null(sk_policy_key_problem("sk:Nope"));
	assert_non_null(sk_policy_key_problem("sk:Query/"));
	assert_string_equal(sk_policy_decision_name(SK_PD_EXPLICIT_DENY), "explicit_deny");
	assert_string_equal(sk_policy_decision_name(SK_PD_IMPLICIT_DENY), "implicit_deny");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_evaluation_table),
		cmocka_unit_test(test_load_errors),
		cmocka_unit_test(test_method_buckets),
		cmocka_unit_test(test_unrelated_statements_not_visited),
		cmocka_unit_test(test_host_index),
		cmocka_unit_test(test_oversized_resource),
		cmocka_unit_test(test_explain_lines),
		cmocka_unit_test(test_jwt_claims),
		cmocka_unit_test(test_key_problem),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
