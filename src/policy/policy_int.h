/*
 * policy_int.h — the compiled form of a policy document, shared by parse.c (JSON → compiled form) and
 * eval.c (the evaluator), and by the module's unit test.
 *
 * Invariants: every string is NUL-terminated and owned by the document; Action patterns are lower case
 * (actions match case-insensitively); a Resource's host part (before the first '/') is lower case;
 * typed condition values (numbers, dates, CIDRs, booleans) were parsed at load, so evaluation never
 * meets a malformed policy value; the buckets hold statement indexes in document order.
 */
#ifndef SK_POLICY_INT_H
#define SK_POLICY_INT_H

#include "policy/policy.h"

/* Condition keys (DESIGN §3). */
enum sk_pkey_id {
	PK_SOURCE_IP = 0,
	PK_COUNTRY,
	PK_USERNAME,
	PK_GROUPS, /* the only multi-valued key */
	PK_AUTH_METHOD,
	PK_MFA,
	PK_SECURE,
	PK_CURRENT_TIME,
	PK_EPOCH_TIME,
	PK_METHOD,
	PK_HOST,
	PK_PATH,
	PK_QUERY,  /* arg: the parameter name, exact */
	PK_HEADER, /* arg: the field name, case-insensitive */
	PK_JWT,    /* arg: the claim; no identity carries claims yet, so always missing */
};

struct sk_pkey {
	uint8_t id;
	char *arg; /* PK_QUERY, PK_HEADER, PK_JWT */
	size_t arg_len;
	char *text; /* as written, for traces */
};

/* Parses a key name; on success *arg points into text. Returns 0, or -1 with *why set. */
int sk_pkey_parse(const char *text, size_t len, uint8_t *id, const char **arg, size_t *arg_len,
		  const char **why);

/* A string value of a policy: pieces of pattern text (where '*' and '?' are wildcards in StringLike and
 * Resource), literal text (from ${*} ${?} ${$}), and policy variables. */
enum { SK_PT_PATTERN = 0, SK_PT_LITERAL, SK_PT_VAR };

struct sk_ptok {
	uint8_t kind;
	bool has_default;
	char *s; /* PATTERN/LITERAL text; VAR default */
	size_t len;
	struct sk_pkey key; /* VAR */
};

/* Tokens per value (bounded at load, so that evaluation resolves them on the stack). */
#define SK_POLICY_MAX_TOKENS 40

struct sk_pat {
	struct sk_ptok *toks;
	size_t n;
	char *text; /* as written */
	size_t prefix; /* Resource: bytes of toks[0] before any wildcard, which a match must start with */
};

/* Condition operators. */
enum sk_op_kind {
	OP_STR_EQ = 0,
	OP_STR_EQ_IC,
	OP_STR_LIKE,
	OP_NUM_EQ,
	OP_NUM_LT,
	OP_NUM_LE,
	OP_NUM_GT,
	OP_NUM_GE,
	OP_DATE_EQ,
	OP_DATE_LT,
	OP_DATE_LE,
	OP_DATE_GT,
	OP_DATE_GE,
	OP_BOOL,
	OP_IP,
	OP_NULL,
};

enum { SK_SET_NONE = 0, SK_SET_ANY, SK_SET_ALL };

struct sk_pcidr {
	int family;
	uint8_t addr[16];
	uint8_t prefix;
};

/* The typed values of conditions (values.c). Each returns 0, or -1 when the text is not one. */
int sk_policy_parse_number(const char *s, double *out);
/* ISO 8601 (YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS[.fff]](Z|±HH:MM)) or Unix seconds. */
int sk_policy_parse_date(const char *s, size_t len, int64_t *out);
int sk_policy_parse_cidr(const char *s, size_t len, struct sk_pcidr *out);

struct sk_cond {
	uint8_t kind; /* enum sk_op_kind */
	bool negated;
	bool if_exists;
	uint8_t set; /* SK_SET_* */
	char *op_text;
	struct sk_pkey key;
	size_t n;
	struct sk_pat *pats;      /* string operators */
	double *nums;             /* numeric */
	int64_t *dates;           /* date */
	struct sk_pcidr *cidrs;   /* IpAddress / NotIpAddress */
	bool *bools;              /* Bool, Null */
};

struct sk_stmt {
	char *sid; /* or NULL */
	bool deny;
	bool not_action;
	char **actions; /* lower case */
	size_t n_actions;
	bool not_resource;
	struct sk_pat *res;
	size_t n_res;
	struct sk_cond *conds;
	size_t n_conds;
	int line;
	/* The hosts every Resource of the statement is confined to (each Resource starts with a literal
	 * "host/"): the statement cannot apply to another host. None = any host (a wildcard or a variable in
	 * the host, NotResource, "*"). */
	char **hosts;
	size_t n_hosts;
};

/* Methods with their own bucket; the last bucket is every other method. */
#define SK_POLICY_BUCKETS 10

/* The statements of one bucket confined to one host. */
struct sk_phost {
	char *host;
	size_t len;
	uint32_t *deny, *allow;
	size_t n_deny, n_allow;
};

struct sk_pbucket {
	uint32_t *deny, *allow; /* statements that may apply to any host */
	size_t n_deny, n_allow;
	struct sk_phost *hosts; /* sorted by (len, bytes) for a binary search */
	size_t n_hosts;
};

struct sk_policy {
	char *name;
	char *file;
	bool v2012; /* Version 2012-10-17: policy variables are substituted */
	bool reads_country; /* a condition or variable reads sk:Country */
	struct sk_stmt *st;
	size_t n;
	struct sk_pbucket b[SK_POLICY_BUCKETS];
};

/* The bucket of a method (case-insensitive); SK_POLICY_BUCKETS - 1 for any other. */
unsigned sk_policy_bucket(struct sk_slice method);
extern const char *const sk_policy_bucket_methods[SK_POLICY_BUCKETS - 1];
/* The statements of bucket b confined to host[0..len), or NULL. */
const struct sk_phost *sk_policy_host_find(const struct sk_pbucket *b, const char *host, size_t len);
/* Whether one action pattern (lower case) matches "http:" + method, case-insensitively. */
bool sk_policy_action_match(const char *pattern, struct sk_slice method);

#endif
