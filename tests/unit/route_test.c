/*
 * route_test.c — request-target splitting, the path normalisation table, glob patterns, Host
 * canonicalisation, and the Host → distribution table (exact over wildcard, longest wildcard, depth,
 * listener restriction) with path → behavior. Configs are built by hand: the loader is not used.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/route.h"

static struct sk_slice S(const char *s)
{
	return (struct sk_slice){ .ptr = s, .len = strlen(s) };
}

static bool slice_is(struct sk_slice s, const char *want)
{
	return s.len == strlen(want) && memcmp(s.ptr, want, s.len) == 0;
}

/* ---- request-target ---- */

static void test_target_split(void **state)
{
	(void)state;
	static const struct {
		const char *target;
		bool asterisk_ok;
		int rc;
		const char *authority, *path, *query;
	} cases[] = {
		{ "/", false, 0, "", "/", "" },
		{ "/a/b", false, 0, "", "/a/b", "" },
		{ "/a/b?x=1&y=2", false, 0, "", "/a/b", "?x=1&y=2" },
		{ "/a?", false, 0, "", "/a", "?" },
		{ "/a?b?c", false, 0, "", "/a", "?b?c" },
		{ "/?q", false, 0, "", "/", "?q" },
		{ "http://example.com/p?q", false, 0, "example.com", "/p", "?q" },
		{ "HTTP://Example.com:8080/p", false, 0, "Example.com:8080", "/p", "" },
		{ "https://[::1]:8443/x/y", false, 0, "[::1]:8443", "/x/y", "" },
		{ "http://example.com", false, 0, "example.com", "/", "" },
		{ "http://example.com?q=1", false, 0, "example.com", "/", "?q=1" },
		{ "hTtPs://h/", false, 0, "h", "/", "" },
		{ "*", true, 0, "", "*", "" },
		{ "*", false, -1, NULL, NULL, NULL },
		{ "", false, -1, NULL, NULL, NULL },
		{ "a/b", false, -1, NULL, NULL, NULL },
		{ "example.com:443", false, -1, NULL, NULL, NULL },
		{ "/a#frag", false, -1, NULL, NULL, NULL },
		{ "/a?q#frag", false, -1, NULL, NULL, NULL },
		{ "ftp://example.com/", false, -1, NULL, NULL, NULL },
		{ "http:///path", false, -1, NULL, NULL, NULL },
		{ "http://", false, -1, NULL, NULL, NULL },
		{ "http://user@example.com/", false, -1, NULL, NULL, NULL },
		{ "http:/example.com/", false, -1, NULL, NULL, NULL },
		{ "*/a", true, -1, NULL, NULL, NULL },
	};
	for (size_t i = 0; i < SK_ARRAY_LEN(cases); i++) {
		struct sk_slice a = { 0 }, p = { 0 }, q = { 0 };
		int rc = sk_target_split(S(cases[i].target), cases[i].asterisk_ok, &a, &p, &q);
		if (rc != cases[i].rc)
			fail_msg("target \"%s\": rc %d, want %d", cases[i].target, rc, cases[i].rc);
		if (rc != 0)
			continue;
		if (!slice_is(a, cases[i].authority) || !slice_is(p, cases[i].path) || !slice_is(q, cases[i].query))
			fail_msg("target \"%s\": got [%.*s] [%.*s] [%.*s]", cases[i].target, (int)a.len, a.ptr,
				 (int)p.len, p.ptr, (int)q.len, q.ptr);
	}
}

/* ---- path normalisation ---- */

static void test_path_normalize(void **state)
{
	(void)state;
	/* want == NULL: rejected (400). */
	static const struct {
		const char *in, *want;
	} cases[] = {
		{ "/", "/" },
		{ "/a", "/a" },
		{ "/a/b", "/a/b" },
		{ "/a/b/", "/a/b/" },
		{ "//a///b", "/a/b" },
		{ "//", "/" },
		{ "///a//", "/a/" },
		{ "/a/./b/../c", "/a/c" },
		{ "/./a", "/a" },
		{ "/.", "/" },
		{ "/./", "/" },
		{ "/a/.", "/a/" },
		{ "/a/b/.", "/a/b/" },
		{ "/a/b/..", "/a/" },
		{ "/a/b/../", "/a/" },
		{ "/a/..", "/" },
		{ "/a/../", "/" },
		{ "/a/b/../../c", "/c" },
		{ "/a//..", "/" },
		{ "/a/.b", "/a/.b" },
		{ "/a/..b", "/a/..b" },
		{ "/a/b..", "/a/b.." },
		{ "/a/...", "/a/..." },
		{ "/..", NULL },
		{ "/../a", NULL },
		{ "/a/../..", NULL },
		{ "/a/../../b", NULL },
		{ "/./..", NULL },
		{ "/%2e%2e", NULL },
		{ "/a/%2e%2e/%2E%2e", NULL },
		{ "/a/%2e%2e/b", "/b" },
		{ "/a/.%2E/b", "/b" },
		{ "/a/%2e/b", "/a/b" },
		{ "/a/%2e", "/a/" },
		{ "/a%2Fb", NULL },
		{ "/a%2fb", NULL },
		{ "/a%00", NULL },
		{ "/%41%42c", "/ABc" },
		{ "/%7e%2D%5f%2e%30", "/~-_.0" },
		{ "/%3a", "/%3A" },
		{ "/a%3ab%3Ac", "/a%3Ab%3Ac" },
		{ "/%20x", "/%20x" },
		{ "/%c3%a9", "/%C3%A9" },
		{ "/%25", "/%25" },
		{ "/%2541", "/%2541" }, /* decoded once only */
		{ "/%zz", NULL },
		{ "/%4", NULL },
		{ "/%", NULL },
		{ "/a%4/", NULL },
		{ "/%%41", NULL },
		{ "/%/", NULL },
		{ "/a b", NULL },
		{ "/a\tb", NULL },
		{ "/a\x7f", NULL },
		{ "/a\x01", NULL },
		{ "/caf\xc3\xa9", "/caf\xc3\xa9" },
		{ "/a?b", "/a?b" }, /* the query was split off before; '?' is kept as a byte */
		{ "/a:b@c!$&'()*+,;=", "/a:b@c!$&'()*+,;=" },
		{ "/~user/./x", "/~user/x" },
		{ "/a/b/c/../../../d/", "/d/" },
		{ "a/b", NULL },
		{ "", NULL },
		{ "*", NULL },
	};
	for (size_t i = 0; i < SK_ARRAY_LEN(cases); i++) {
		size_t n = strlen(cases[i].in);
		char *out = malloc(n ? n : 1); /* exactly path.len bytes: ASan catches any overrun */
		size_t out_len = 999;
		int rc = sk_path_normalize((struct sk_slice){ .ptr = cases[i].in, .len = n }, out, &out_len);
		if (!cases[i].want) {
			if (rc != -1)
				fail_msg("\"%s\" should be rejected, got \"%.*s\"", cases[i].in, (int)out_len, out);
		} else {
			if (rc != 0)
				fail_msg("\"%s\" rejected, want \"%s\"", cases[i].in, cases[i].want);
			if (out_len != strlen(cases[i].want) || memcmp(out, cases[i].want, out_len) != 0)
				fail_msg("\"%s\" → \"%.*s\", want \"%s\"", cases[i].in, (int)out_len, out,
					 cases[i].want);
			assert_true(out_len <= n);
		}
		free(out);
	}
	print_message("%zu normalisation cases\n", SK_ARRAY_LEN(cases));
}

/* Normalising is idempotent, and the output never outgrows the input, on generated paths. */
static void test_path_normalize_generated(void **state)
{
	(void)state;
	static const char *parts[] = { "/", "a", ".", "..", "%2e", "%2E%2e", "%41", "%3a", "//", "b/", "~" };
	uint32_t seed = 1;
	for (int k = 0; k < 20000; k++) {
		char in[128] = "/";
		size_t n = 1;
		int parts_n = 1 + (int)(seed % 12);
		for (int j = 0; j < parts_n; j++) {
			seed = seed * 1103515245u + 12345u;
			const char *p = parts[(seed >> 16) % SK_ARRAY_LEN(parts)];
			size_t l = strlen(p);
			memcpy(in + n, p, l);
			n += l;
		}
		char *out = malloc(n);
		size_t out_len;
		if (sk_path_normalize((struct sk_slice){ .ptr = in, .len = n }, out, &out_len) == 0) {
			assert_true(out_len >= 1 && out_len <= n && out[0] == '/');
			char *again = malloc(out_len);
			size_t again_len;
			assert_int_equal(sk_path_normalize((struct sk_slice){ .ptr = out, .len = out_len }, again,
							   &again_len),
					 0);
			if (again_len != out_len || memcmp(again, out, out_len) != 0)
				fail_msg("not idempotent: \"%.*s\"", (int)n, in);
			assert_null(memmem(out, out_len, "//", 2));
			assert_null(memmem(out, out_len, "/./", 3));
			assert_null(memmem(out, out_len, "/../", 4));
			free(again);
		}
		free(out);
	}
}

/* ---- patterns ---- */

static void test_pattern_match(void **state)
{
	(void)state;
	static const struct {
		const char *pat, *s;
		bool match;
	} cases[] = {
		{ "*", "", true },
		{ "*", "/anything/at/all", true },
		{ "", "", true },
		{ "", "/", false },
		{ "/api/*", "/api/", true },
		{ "/api/*", "/api/v1/users", true },
		{ "/api/*", "/api", false },
		{ "/api/*", "/API/x", false },
		{ "/api*", "/api", true },
		{ "/api*", "/apix/y", true },
		{ "/a?c", "/abc", true },
		{ "/a?c", "/ac", false },
		{ "/a?c", "/abbc", false },
		{ "/a?c", "/a/c", true },
		{ "*.png", "/img/x.png", true },
		{ "*.png", "/img/x.png/y", false },
		{ "/*/edit", "/a/b/edit", true },
		{ "/*/edit", "/edit", false },
		{ "/exact", "/exact", true },
		{ "/exact", "/exact/", false },
		{ "/exact", "/exac", false },
		{ "**", "abc", true },
		{ "a*b*c", "abc", true },
		{ "a*b*c", "aXbYc", true },
		{ "a*b*c", "aXcYb", false },
		{ "a*b", "abab", true },
		{ "a*b", "abac", false },
		{ "?", "", false },
		{ "*?", "", false },
		{ "*?", "x", true },
		{ "/files/*/v?/*.json", "/files/a/b/v2/c.json", true },
		{ "/files/*/v?/*.json", "/files/a/b/v22/c.json", false },
	};
	for (size_t i = 0; i < SK_ARRAY_LEN(cases); i++)
		if (sk_pattern_match(cases[i].pat, S(cases[i].s)) != cases[i].match)
			fail_msg("\"%s\" ~ \"%s\" should be %d", cases[i].pat, cases[i].s, cases[i].match);
	/* The slice need not be NUL-terminated. */
	assert_true(sk_pattern_match("/ab", (struct sk_slice){ .ptr = "/abc", .len = 3 }));
	assert_false(sk_pattern_match("/abc", (struct sk_slice){ .ptr = "/abc", .len = 3 }));
}

/* Patterns that make naive recursive globbing exponential finish at once (no timing assert). */
static void test_pattern_pathological(void **state)
{
	(void)state;
	char s[4097];
	memset(s, 'a', sizeof(s) - 1);
	s[sizeof(s) - 1] = '\0';
	assert_false(sk_pattern_match("*a*a*a*a*a*a*a*a*a*a*a*a*b", S(s)));
	assert_true(sk_pattern_match("*a*a*a*a*a*a*a*a*a*a*a*a*a", S(s)));
	s[sizeof(s) - 2] = 'b';
	assert_true(sk_pattern_match("*a*a*a*a*a*a*a*a*a*a*a*a*b", S(s)));
	assert_false(sk_pattern_match("*a*a*a*a*a*a*a*a*a*a*a*a*bb", S(s)));
}

/* ---- Host ---- */

static void test_host_canon(void **state)
{
	(void)state;
	static const struct {
		const char *in, *want; /* NULL: rejected */
	} cases[] = {
		{ "Example.COM.:8080", "example.com" },
		{ "example.com", "example.com" },
		{ "EXAMPLE.com.", "example.com" },
		{ "example.com:", "example.com" },
		{ "a-b_c.example.com:443", "a-b_c.example.com" },
		{ "127.0.0.1:80", "127.0.0.1" },
		{ "[::1]:80", "[::1]" },
		{ "[::1]", "[::1]" },
		{ "[2001:DB8::A]:8443", "[2001:db8::a]" },
		{ "[::ffff:1.2.3.4]", "[::ffff:1.2.3.4]" },
		{ "", NULL },
		{ ".", NULL },
		{ ":80", NULL },
		{ ".:80", NULL },
		{ ".example.com", NULL },
		{ "a..b", NULL },
		{ "example.com..", NULL },
		{ "exa mple.com", NULL },
		{ "example.com/x", NULL },
		{ "ex*ample.com", NULL },
		{ "user@example.com", NULL },
		{ "example.com:80x", NULL },
		{ "example.com:80:90", NULL },
		{ "example.com:123456", NULL },
		{ "[]", NULL },
		{ "[::1", NULL },
		{ "[::1]x", NULL },
		{ "[::1]:8x", NULL },
		{ "[fe80::1%eth0]", NULL },
		{ "[g::1]", NULL },
		{ "caf\xc3\xa9.example", NULL },
	};
	for (size_t i = 0; i < SK_ARRAY_LEN(cases); i++) {
		char out[64];
		memset(out, 'X', sizeof(out));
		int n = sk_host_canon(S(cases[i].in), out, sizeof(out));
		if (!cases[i].want) {
			if (n != -1)
				fail_msg("host \"%s\" should be rejected, got \"%.*s\"", cases[i].in, n, out);
			continue;
		}
		if (n < 0 || (size_t)n != strlen(cases[i].want) || memcmp(out, cases[i].want, (size_t)n) != 0)
			fail_msg("host \"%s\" → %d \"%.*s\", want \"%s\"", cases[i].in, n, n < 0 ? 0 : n, out,
				 cases[i].want);
		assert_int_equal(out[n], '\0');
	}
	/* Capacity: exactly fitting works (no NUL then), one byte short fails. */
	char small[11];
	memset(small, 'X', sizeof(small));
	assert_int_equal(sk_host_canon(S("Example.Com:1"), small, 11), 11);
	assert_memory_equal(small, "example.com", 11);
	assert_int_equal(sk_host_canon(S("example.com"), small, 10), -1);
}

/* ---- route table ---- */

/*
 * Listeners: 0 web (http), 1 internal (http), 2 db (tcp).
 * Distributions:
 *  0 site:     example.com, www.example.com, *.example.com        (every HTTP listener)
 *  1 api:      api.example.com, *.api.example.com                 (every HTTP listener)
 *  2 intra:    intranet.example.com, *.intranet.example.com       (listener "internal" only)
 *  3 deep:     *.b.c.example.org                                  (listener "web" only)
 *  4 org:      *.example.org                                      (every HTTP listener)
 *  5 v6:       [::1], 127.0.0.1
 */
static char *aliases_site[] = { "example.com", "www.example.com", "*.example.com" };
static char *aliases_api[] = { "api.example.com", "*.api.example.com" };
static char *aliases_intra[] = { "intranet.example.com", "*.intranet.example.com" };
static char *aliases_deep[] = { "*.b.c.example.org" };
static char *aliases_org[] = { "*.example.org" };
static char *aliases_lit[] = { "[::1]", "127.0.0.1" };
static char *only_internal[] = { "internal" };
static char *only_web[] = { "web" };

static struct sk_behavior behaviors_site[] = {
	{ .path = "/api/*", .origin = "app" },
	{ .path = "/static/*.css", .origin = "files" },
	{ .path = "/v?/*", .origin = "versioned" },
	{ .path = "*", .origin = "site" },
};
static struct sk_behavior behaviors_api[] = {
	{ .path = "/v1/*", .origin = "v1" },
};

static struct sk_listener listeners[] = {
	{ .name = "web", .mode = SK_MODE_HTTP },
	{ .name = "internal", .mode = SK_MODE_HTTP },
	{ .name = "db", .mode = SK_MODE_TCP, .origin = "pg" },
};

#define LIST(a) { .items = (a), .n = SK_ARRAY_LEN(a) }

static struct sk_distribution dists[] = {
	{ .name = "site", .aliases = LIST(aliases_site), .behaviors = behaviors_site,
	  .n_behaviors = SK_ARRAY_LEN(behaviors_site) },
	{ .name = "api", .aliases = LIST(aliases_api), .behaviors = behaviors_api,
	  .n_behaviors = SK_ARRAY_LEN(behaviors_api) },
	{ .name = "intra", .aliases = LIST(aliases_intra), .listeners = LIST(only_internal) },
	{ .name = "deep", .aliases = LIST(aliases_deep), .listeners = LIST(only_web) },
	{ .name = "org", .aliases = LIST(aliases_org) },
	{ .name = "literals", .aliases = LIST(aliases_lit) },
};

static struct sk_config cfg = {
	.listeners = listeners,
	.n_listeners = SK_ARRAY_LEN(listeners),
	.distributions = dists,
	.n_distributions = SK_ARRAY_LEN(dists),
};

/* The name of the distribution found, or "-" for none. */
static const char *find(const struct sk_routes *r, size_t listener, const char *host)
{
	const struct sk_distribution *d = sk_routes_find(r, listener, S(host));
	return d ? d->name : "-";
}

static void test_routes_find(void **state)
{
	(void)state;
	struct sk_routes *r = sk_routes_build(&cfg);
	static const struct {
		size_t listener;
		const char *host, *want;
	} cases[] = {
		/* exact, with case, port and trailing dot ignored */
		{ 0, "example.com", "site" },
		{ 0, "EXAMPLE.com", "site" },
		{ 0, "example.com.", "site" },
		{ 0, "Example.Com.:8443", "site" },
		{ 0, "www.example.com", "site" },
		{ 1, "www.example.com", "site" },
		/* exact beats the wildcard that also matches */
		{ 0, "api.example.com", "api" },
		{ 0, "API.Example.COM:80", "api" },
		/* wildcards, at any depth */
		{ 0, "foo.example.com", "site" },
		{ 0, "a.b.example.com", "site" },
		{ 0, "x.y.z.example.com.", "site" },
		/* the longest wildcard suffix wins */
		{ 0, "v2.api.example.com", "api" },
		{ 0, "a.b.api.example.com", "api" },
		{ 0, "x.intranet.example.com", "site" }, /* intra is not on listener 0 ... */
		{ 1, "x.intranet.example.com", "intra" }, /* ... but is on listener 1 */
		{ 1, "intranet.example.com", "intra" },
		{ 0, "intranet.example.com", "site" },   /* falls back to *.example.com on web */
		/* a wildcard does not match its bare suffix */
		{ 0, "example.org", "-" },
		{ 0, "x.example.org", "org" },
		{ 0, "b.c.example.org", "org" },
		{ 0, "a.b.c.example.org", "deep" },
		{ 0, "z.a.b.c.example.org", "deep" },
		{ 1, "a.b.c.example.org", "org" }, /* deep is web-only */
		/* no match */
		{ 0, "example.net", "-" },
		{ 0, "notexample.com", "-" },
		{ 0, "com", "-" },
		{ 0, "xexample.com", "-" },
		{ 0, "", "-" },
		{ 0, "exa mple.com", "-" },
		/* literals */
		{ 0, "[::1]:8080", "literals" },
		{ 0, "127.0.0.1:80", "literals" },
		{ 0, "[::2]", "-" },
		/* a tcp listener reaches no distribution unless one names it */
		{ 2, "example.com", "-" },
		{ 2, "a.example.com", "-" },
		/* out-of-range listener index */
		{ 3, "example.com", "-" },
		{ 99, "a.example.com", "-" },
	};
	for (size_t i = 0; i < SK_ARRAY_LEN(cases); i++) {
		const char *got = find(r, cases[i].listener, cases[i].host);
		if (strcmp(got, cases[i].want) != 0)
			fail_msg("listener %zu host \"%s\": got %s, want %s", cases[i].listener, cases[i].host, got,
				 cases[i].want);
	}
	sk_routes_free(r);
	sk_routes_free(NULL);
}

/* An empty config, a catch-all "*", listener names, and many aliases (table growth and probing). */
static void test_routes_misc(void **state)
{
	(void)state;
	struct sk_config empty = { 0 };
	struct sk_routes *r = sk_routes_build(&empty);
	assert_null(sk_routes_find(r, 0, S("example.com")));
	sk_routes_free(r);

	static char *a_default[] = { "*" };
	static char *a_one[] = { "one.test", "*.one.test" };
	static char *names[] = { "internal", "web" };
	struct sk_distribution d2[] = {
		{ .name = "one", .aliases = LIST(a_one), .listeners = LIST(names) },
		{ .name = "default", .aliases = LIST(a_default), .listeners = LIST(only_web) },
	};
	struct sk_config c2 = { .listeners = listeners, .n_listeners = 3, .distributions = d2,
				.n_distributions = 2 };
	r = sk_routes_build(&c2);
	assert_string_equal(find(r, 0, "one.test"), "one");
	assert_string_equal(find(r, 1, "x.one.test"), "one");
	assert_string_equal(find(r, 0, "other.test"), "default");
	assert_string_equal(find(r, 1, "other.test"), "-");
	assert_string_equal(find(r, 0, "bad host"), "-");
	sk_routes_free(r);

	/* 5 000 distributions with two aliases each. */
	enum { N = 5000 };
	struct sk_distribution *many = calloc(N, sizeof(*many));
	char **strs = calloc(2 * N, sizeof(*strs));
	char *names_buf = calloc(N, 16);
	for (size_t i = 0; i < N; i++) {
		char buf[64];
		snprintf(buf, sizeof(buf), "host%zu.example.net", i);
		strs[2 * i] = strdup(buf);
		snprintf(buf, sizeof(buf), "*.zone%zu.example.net", i);
		strs[2 * i + 1] = strdup(buf);
		snprintf(names_buf + 16 * i, 16, "d%zu", i);
		many[i] = (struct sk_distribution){ .name = names_buf + 16 * i,
						    .aliases = { .items = &strs[2 * i], .n = 2 } };
	}
	struct sk_config c3 = { .listeners = listeners, .n_listeners = 3, .distributions = many,
				.n_distributions = N };
	r = sk_routes_build(&c3);
	for (size_t i = 0; i < N; i++) {
		char host[64], want[16];
		snprintf(want, sizeof(want), "d%zu", i);
		snprintf(host, sizeof(host), "HOST%zu.example.net.", i);
		assert_string_equal(find(r, 0, host), want);
		snprintf(host, sizeof(host), "a.b.zone%zu.example.net:80", i);
		assert_string_equal(find(r, 1, host), want);
		snprintf(host, sizeof(host), "zone%zu.example.net", i);
		assert_string_equal(find(r, 0, host), "-");
	}
	assert_string_equal(find(r, 0, "host5000.example.net"), "-");
	sk_routes_free(r);
	for (size_t i = 0; i < 2 * N; i++)
		free(strs[i]);
	free(strs);
	free(names_buf);
	free(many);
}

static void test_routes_behavior(void **state)
{
	(void)state;
	const struct sk_distribution *site = &dists[0], *api = &dists[1];
	static const struct {
		const struct sk_distribution *d;
		const char *path, *origin; /* origin NULL: no behavior */
	} cases[] = {
		{ &dists[0], "/api/users", "app" },
		{ &dists[0], "/api/", "app" },
		{ &dists[0], "/api", "site" },
		{ &dists[0], "/static/a/b.css", "files" },
		{ &dists[0], "/static/a/b.js", "site" },
		{ &dists[0], "/v2/x", "versioned" },
		{ &dists[0], "/v22/x", "site" },
		{ &dists[0], "/", "site" },
		{ &dists[0], "/API/users", "site" }, /* case-sensitive */
		{ &dists[1], "/v1/x", "v1" },
		{ &dists[1], "/v2/x", NULL },
		{ &dists[1], "/", NULL },
	};
	for (size_t i = 0; i < SK_ARRAY_LEN(cases); i++) {
		const struct sk_behavior *b = sk_routes_behavior(cases[i].d, S(cases[i].path));
		const char *got = b ? b->origin : NULL;
		if ((got == NULL) != (cases[i].origin == NULL) || (got && strcmp(got, cases[i].origin) != 0))
			fail_msg("%s %s: got %s, want %s", cases[i].d->name, cases[i].path, got ? got : "none",
				 cases[i].origin ? cases[i].origin : "none");
	}
	/* First match wins, in order: the /api/ pattern comes before the catch-all. */
	assert_ptr_equal(sk_routes_behavior(site, S("/api/x")), &behaviors_site[0]);
	assert_ptr_equal(sk_routes_behavior(site, S("/other")), &behaviors_site[3]);
	assert_null(sk_routes_behavior(api, S("/")));
	assert_null(sk_routes_behavior(NULL, S("/")));
}

/* The pieces together, as the connection code uses them. */
static void test_request_flow(void **state)
{
	(void)state;
	struct sk_routes *r = sk_routes_build(&cfg);
	struct sk_slice authority, path, query;
	const char *target = "http://WWW.Example.com:8080/api/./v1//users/../me?x=%2F";
	assert_int_equal(sk_target_split(S(target), false, &authority, &path, &query), 0);
	char norm[128];
	size_t n;
	assert_int_equal(sk_path_normalize(path, norm, &n), 0);
	assert_true(slice_is((struct sk_slice){ .ptr = norm, .len = n }, "/api/v1/me"));
	assert_true(slice_is(query, "?x=%2F")); /* the query is not the path's business */
	const struct sk_distribution *d = sk_routes_find(r, 0, authority);
	assert_non_null(d);
	assert_string_equal(d->name, "site");
	const struct sk_behavior *b = sk_routes_behavior(d, (struct sk_slice){ .ptr = norm, .len = n });
	assert_non_null(b);
	assert_string_equal(b->origin, "app");
	sk_routes_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_target_split),
		cmocka_unit_test(test_path_normalize),
		cmocka_unit_test(test_path_normalize_generated),
		cmocka_unit_test(test_pattern_match),
		cmocka_unit_test(test_pattern_pathological),
		cmocka_unit_test(test_host_canon),
		cmocka_unit_test(test_routes_find),
		cmocka_unit_test(test_routes_misc),
		cmocka_unit_test(test_routes_behavior),
		cmocka_unit_test(test_request_flow),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
