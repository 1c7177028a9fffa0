/*
 * fuzz_policy.c — policy documents (src/policy/) from hostile JSON. A document either parses or fails
 * with an error that names the file; one that parses is then evaluated against a few fixed requests
 * (several methods, so every bucket is walked, with headers and a query for the keys that read them), and
 * explained. Invariants: no crash or sanitizer report; a decision is one of the three; an allow or an
 * explicit deny names the document it came from; the indexed evaluator agrees with the explanation, which
 * walks every statement.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "policy/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool header(const void *arg, struct sk_slice name, struct sk_slice *value)
{
	(void)arg;
	if (name.len == 6 && strncasecmp(name.ptr, "X-Team", 6) == 0) {
		*value = (struct sk_slice){ "blue", 4 };
		return true;
	}
	return false;
}

/* What the explanation (which looks at every statement, without the index) says applies. */
struct naive {
	long first_deny, first_allow; /* 1-based statement numbers, 0 = none */
};

static void sink(void *arg, const char *line)
{
	struct naive *nv = arg;
	const char *st = strstr(line, " statement ");
	if (!st)
		abort();
	char *end;
	long num = strtol(st + 11, &end, 10);
	/* Key names in the line come from the policy: read the effect at its place (the first '(' after the
	 * number; a Sid holds none) and the outcome at the end of the line. */
	const char *effect = strchr(end, '(');
	size_t len = strlen(line);
	static const char m1[] = "=> matched", m2[] = "=> matched  <= decides";
	bool matched = (len >= sizeof(m1) - 1 && strcmp(line + len - (sizeof(m1) - 1), m1) == 0) ||
		       (len >= sizeof(m2) - 1 && strcmp(line + len - (sizeof(m2) - 1), m2) == 0);
	if (!effect)
		abort();
	if (!matched)
		return;
	if (strncmp(effect, "(Deny): ", 8) == 0) {
		if (!nv->first_deny)
			nv->first_deny = num;
	} else if (!nv->first_allow) {
		nv->first_allow = num;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sk_err err = { 0 };
	struct sk_policy *p = sk_policy_parse("fuzz", "fuzz.json", (const char *)data, size, &err);
	if (!p) {
		if (strcmp(err.file, "fuzz.json") != 0 || !err.msg[0])
			abort();
		return 0;
	}
	static const char *const methods[] = { "GET", "put", "DELETE", "PROPFIND" };
	static const char *const groups[] = { "staff", "a*" };
	static const uint8_t v4[4] = { 203, 0, 113, 9 };
	static const char *const hosts[] = { "files.example.com", "other.example.com", "files.example.com", "" };
	for (size_t m = 0; m < sizeof(methods) / sizeof(methods[0]); m++) {
		struct sk_policy_ctx ctx = {
			.method = { methods[m], strlen(methods[m]) },
			.host = { hosts[m], strlen(hosts[m]) },
			.path = { "/path/to/dir/a*b?c", 18 },
			.query = { "id=7&q=a%20b&x", 14 },
			.header = header,
			.family = m & 1 ? AF_INET : 0,
			.addr = v4,
			.country = m & 2 ? "JP" : NULL,
			.username = m == 3 ? NULL : "alice",
			.groups = groups,
			.n_groups = m % 3,
			.auth_method = "basic",
			.mfa = m & 1,
			.secure = m & 2,
			.now = 1764460800,
		};
		const struct sk_policy *docs[] = { p };
		struct sk_policy_result res;
		sk_policy_eval(docs, 1, &ctx, &res);
		if (res.decision != SK_PD_IMPLICIT_DENY && res.policy != p)
			abort();
		if (res.decision != SK_PD_ALLOW && res.decision != SK_PD_EXPLICIT_DENY &&
		    res.decision != SK_PD_IMPLICIT_DENY)
			abort();
		/* The method and host index must never change the outcome: the evaluator decides exactly what a
		 * walk over every statement decides, and reports the same (first) statement. */
		struct naive nv = { 0 };
		sk_policy_explain(p, &ctx, &res, sink, &nv);
		if (nv.first_deny ? res.decision != SK_PD_EXPLICIT_DENY || res.statement != nv.first_deny - 1
		    : nv.first_allow ? res.decision != SK_PD_ALLOW || res.statement != nv.first_allow - 1
				     : res.decision != SK_PD_IMPLICIT_DENY)
			abort();
	}
	sk_policy_free(p);
	return 0;
}
