/*
 * fuzz_policy.c — policy documents (src/policy/) from hostile JSON. A document either parses or fails
 * with an error that names the file; one that parses is then evaluated against a few fixed requests
 * (several methods, so every bucket is walked, with headers and a query for the keys that read them), and
 * explained. Invariants: no crash or sanitizer report; a decision is one of the three; an allow or an
 * explicit deny names the document it came from.
 */
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

static void sink(void *arg, const char *line)
{
	size_t *n = arg;
	*n += strlen(line);
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
	for (size_t m = 0; m < sizeof(methods) / sizeof(methods[0]); m++) {
		struct sk_policy_ctx ctx = {
			.method = { methods[m], strlen(methods[m]) },
			.host = { "files.example.com", 17 },
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
		size_t n = 0;
		sk_policy_explain(p, &ctx, &res, sink, &n);
	}
	sk_policy_free(p);
	return 0;
}
