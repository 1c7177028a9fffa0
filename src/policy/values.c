/*
 * values.c — the leaves of a policy document, pure functions of their text: condition key names and the
 * typed values conditions compare (numbers, dates, CIDRs). parse.c builds documents from them; eval.c
 * reads request values with the same rules.
 */
#include "policy/policy_int.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

/* ---- condition keys ---- */

static const struct {
	const char *name;
	uint8_t id;
} key_names[] = {
	{ "SourceIp", PK_SOURCE_IP },       { "Country", PK_COUNTRY },
	{ "username", PK_USERNAME },        { "Groups", PK_GROUPS },
	{ "AuthMethod", PK_AUTH_METHOD },   { "MultiFactorAuthPresent", PK_MFA },
	{ "SecureTransport", PK_SECURE },   { "CurrentTime", PK_CURRENT_TIME },
	{ "EpochTime", PK_EPOCH_TIME },     { "Method", PK_METHOD },
	{ "Host", PK_HOST },                { "Path", PK_PATH },
};

static bool prefix_ieq(const char *s, size_t len, const char *lit)
{
	size_t n = strlen(lit);
	return len >= n && strncasecmp(s, lit, n) == 0;
}

int sk_pkey_parse(const char *text, size_t len, uint8_t *id, const char **arg, size_t *arg_len,
		  const char **why)
{
	*arg = NULL;
	*arg_len = 0;
	if (prefix_ieq(text, len, "jwt:")) {
		if (len == 4) {
			*why = "a jwt: key needs a claim name";
			return -1;
		}
		*id = PK_JWT;
		*arg = text + 4;
		*arg_len = len - 4;
		return 0;
	}
	if (!prefix_ieq(text, len, "sk:")) {
		*why = "unknown condition key prefix (keys start with sk: or jwt:)";
		return -1;
	}
	const char *n = text + 3;
	size_t nl = len - 3;
	if (prefix_ieq(n, nl, "Query/") || prefix_ieq(n, nl, "Header/")) {
		bool q = prefix_ieq(n, nl, "Query/");
		size_t skip = q ? 6 : 7;
		if (nl == skip) {
			*why = q ? "sk:Query/ needs a parameter name" : "sk:Header/ needs a field name";
			return -1;
		}
		*id = q ? PK_QUERY : PK_HEADER;
		*arg = n + skip;
		*arg_len = nl - skip;
		return 0;
	}
	for (size_t i = 0; i < SK_ARRAY_LEN(key_names); i++)
		if (strlen(key_names[i].name) == nl && strncasecmp(n, key_names[i].name, nl) == 0) {
			*id = key_names[i].id;
			return 0;
		}
	*why = "unknown condition key";
	return -1;
}

const char *sk_policy_key_problem(const char *key)
{
	uint8_t id;
	const char *arg, *why = NULL;
	size_t alen;
	return sk_pkey_parse(key, strlen(key), &id, &arg, &alen, &why) == -1 ? why : NULL;
}

/* ---- typed values ---- */

int sk_policy_parse_number(const char *s, double *out)
{
	const char *p = s;
	if (*p == '-' || *p == '+')
		p++;
	if (!isdigit((unsigned char)*p))
		return -1;
	while (isdigit((unsigned char)*p))
		p++;
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p))
			return -1;
		while (isdigit((unsigned char)*p))
			p++;
	}
	if (*p)
		return -1;
	*out = strtod(s, NULL);
	return 0;
}

static int digits(const char *s, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

/* ISO 8601 (YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS[.fff]](Z|±HH:MM)) or Unix seconds. */
int sk_policy_parse_date(const char *s, size_t len, int64_t *out)
{
	char buf[64];
	if (len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	size_t i = 0;
	bool all_digits = true;
	for (i = 0; i < len; i++)
		if (!isdigit((unsigned char)buf[i]))
			all_digits = false;
	if (all_digits) {
		if (len > 12)
			return -1;
		*out = (int64_t)strtoll(buf, NULL, 10);
		return 0;
	}
	struct tm tm = { 0 };
	int y, mo, d, h = 0, mi = 0, sec = 0;
	if (len < 10 || digits(buf, 4, &y) || buf[4] != '-' || digits(buf + 5, 2, &mo) || buf[7] != '-' ||
	    digits(buf + 8, 2, &d))
		return -1;
	const char *p = buf + 10;
	int64_t off = 0;
	if (*p == 'T' || *p == 't') {
		p++;
		if (digits(p, 2, &h) || p[2] != ':' || digits(p + 3, 2, &mi))
			return -1;
		p += 5;
		if (*p == ':') {
			if (digits(p + 1, 2, &sec))
				return -1;
			p += 3;
			if (*p == '.') {
				p++;
				if (!isdigit((unsigned char)*p))
					return -1;
				while (isdigit((unsigned char)*p))
					p++;
			}
		}
		if (*p == 'Z' || *p == 'z') {
			p++;
		} else if (*p == '+' || *p == '-') {
			int oh, om;
			if (digits(p + 1, 2, &oh) || p[3] != ':' || digits(p + 4, 2, &om) || oh > 23 || om > 59)
				return -1;
			off = (int64_t)(oh * 3600 + om * 60) * (*p == '+' ? 1 : -1);
			p += 6;
		} else {
			return -1;
		}
	}
	if (*p || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
		return -1;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	time_t t = timegm(&tm);
	if (tm.tm_mday != d) /* timegm normalised 2026-02-30 into March */
		return -1;
	*out = (int64_t)t - off;
	return 0;
}

/* "a.b.c.d[/n]" or "v6[/n]"; a v4-mapped IPv6 address is taken as its IPv4. Exported through eval.c. */
int sk_policy_parse_cidr(const char *s, size_t len, struct sk_pcidr *out)
{
	char buf[64];
	if (len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	char *slash = strchr(buf, '/');
	int prefix = -1;
	if (slash) {
		*slash = '\0';
		if (!slash[1] || strlen(slash + 1) > 3 || digits(slash + 1, (int)strlen(slash + 1), &prefix))
			return -1;
	}
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, buf, out->addr) == 1) {
		out->family = AF_INET;
		if (prefix > 32)
			return -1;
		out->prefix = (uint8_t)(prefix < 0 ? 32 : prefix);
		return 0;
	}
	if (inet_pton(AF_INET6, buf, out->addr) != 1)
		return -1;
	if (prefix > 128)
		return -1;
	out->family = AF_INET6;
	out->prefix = (uint8_t)(prefix < 0 ? 128 : prefix);
	if (sk_ip6_is_v4mapped(out->addr) && out->prefix >= 96) {
		memmove(out->addr, out->addr + 12, 4);
		memset(out->addr + 4, 0, 12);
		out->family = AF_INET;
		out->prefix = (uint8_t)(out->prefix - 96);
	}
	return 0;
}

