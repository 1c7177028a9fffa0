/*
 * pipeline_test.c — the access pipeline with real configs: stage order and verdicts of the ip, auth and
 * groups checks, and the AGAIN → resume path of a Basic verification on the blocking pool.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "access/access.h"
#include "access/apikeys.h"
#include "access/hash.h"
#include "access/users.h"
#include "access/verify.h"
#include "loop/loop.h"

static char dir[] = "/tmp/sk-pipeline-XXXXXX";

static void write_file(const char *name, const char *text)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

struct fx {
	struct sk_config *cfg;
	struct sk_access_env env;
	struct sk_pipeline *p;
};

/* Loads a config whose only behavior has the given access block and compiles its pipeline. */
static void load(struct fx *fx, const char *access)
{
	char yaml[2048];
	snprintf(yaml, sizeof(yaml),
		 "users: { file: users.yaml }\n"
		 "api_keys: { file: keys.yaml }\n"
		 "ip_sets: { office: [203.0.113.0/24, \"2001:db8::/32\"], bad: [203.0.113.66] }\n"
		 "listeners: [ { name: web, listen: \"127.0.0.1:1\" } ]\n"
		 "origins: { app: { servers: [\"127.0.0.1:2\"] } }\n"
		 "distributions:\n"
		 "  - { name: d, aliases: [a.test], behaviors: [ { path: \"*\", origin: app, access: %s } ] }\n",
		 access);
	write_file("sekisho.yaml", yaml);
	char path[256];
	snprintf(path, sizeof(path), "%s/sekisho.yaml", dir);
	struct sk_err err = { 0 };
	fx->cfg = sk_config_load(path, &err);
	if (!fx->cfg)
		fail_msg("%s:%d:%d: %s", err.file, err.line, err.col, err.msg);
	assert_int_equal(sk_access_env_init(&fx->env, fx->cfg, 7, &err), 0);
	fx->p = sk_pipeline_compile(&fx->cfg->distributions[0].behaviors[0].access, &fx->env, &err);
	assert_non_null(fx->p);
}

static void unload(struct fx *fx)
{
	sk_pipeline_free(fx->p);
	sk_access_env_fini(&fx->env);
	sk_config_free(fx->cfg);
}

static struct sk_http_field hdrs[4];
static struct sk_http_request hreq;

static void request(const char *name, const char *value)
{
	memset(&hreq, 0, sizeof(hreq));
	hreq.headers = hdrs;
	if (name) {
		hdrs[0].name = (struct sk_slice){ .ptr = name, .len = strlen(name) };
		hdrs[0].value = (struct sk_slice){ .ptr = value, .len = strlen(value) };
		hreq.n_headers = 1;
	}
}

static enum sk_verdict run(struct fx *fx, const char *ip4, struct sk_access_req *out)
{
	static uint8_t addr[4];
	sscanf(ip4, "%hhu.%hhu.%hhu.%hhu", &addr[0], &addr[1], &addr[2], &addr[3]);
	*out = (struct sk_access_req){ .family = AF_INET, .addr = addr, .hreq = &hreq };
	unsigned stage = 0;
	return sk_pipeline_run(fx->p, &fx->env, out, &stage);
}

static void test_ip_allow_and_deny(void **state)
{
	struct fx fx;
	struct sk_access_req r;
	load(&fx, "{ ip: { allow: [office], deny: [bad] } }");
	request(NULL, NULL);
	assert_int_equal(run(&fx, "203.0.113.5", &r), SK_V_ALLOW);
	assert_int_equal(run(&fx, "198.51.100.5", &r), SK_V_DENY);
	assert_int_equal(r.reason, SK_R_IP_DENIED);
	assert_int_equal(run(&fx, "203.0.113.66", &r), SK_V_DENY); /* deny beats allow */
	unload(&fx);
}

static void test_api_key_and_groups(void **state)
{
	struct fx fx;
	struct sk_access_req r;
	load(&fx, "{ auth: [api_key], groups: [deployers] }");
	request(NULL, NULL);
	assert_int_equal(run(&fx, "10.0.0.1", &r), SK_V_DENY);
	assert_int_equal(r.reason, SK_R_AUTH_REQUIRED);
	request("X-Api-Key", "sk_wrong");
	assert_int_equal(run(&fx, "10.0.0.1", &r), SK_V_DENY);
	assert_int_equal(r.reason, SK_R_BAD_CREDENTIALS);
	request("Authorization", "Bearer sk_good_key_for_the_test");
	assert_int_equal(run(&fx, "10.0.0.1", &r), SK_V_ALLOW);
	assert_string_equal(r.method, "api_key");
	char groups[64];
	assert_string_equal(sk_access_identity(&r, groups, sizeof(groups)), "ci");
	assert_string_equal(groups, "deployers,ops");
	request("X-Api-Key", "sk_other_key_in_no_group");
	assert_int_equal(run(&fx, "10.0.0.1", &r), SK_V_DENY);
	assert_int_equal(r.reason, SK_R_FORBIDDEN_GROUP);
	unload(&fx);
}

static int resumed;
static void on_resume(struct sk_access_req *req)
{
	resumed++;
}

static void test_basic_waits_on_the_pool_then_resumes(void **state)
{
	struct fx fx;
	load(&fx, "{ auth: [basic] }");
	struct sk_loop *loop = sk_loop_new();
	struct sk_verifier *v = sk_verifier_new(loop);
	assert_int_equal(sk_pool_start(1), 0);
	static uint8_t addr[4] = { 10, 0, 0, 1 };
	const char *cases[][2] = {
		{ "Basic YWxpY2U6cmlnaHQ=", "allow" },  /* alice:right */
		{ "Basic YWxpY2U6cmlnaHQ=", "cached" }, /* the same again: no pool round trip */
		{ "Basic YWxpY2U6d3Jvbmc=", "deny" },   /* alice:wrong */
		{ "Basic bWFsbG9yeTpyaWdodA==", "deny" }, /* mallory:right (dummy hash) */
	};
	for (size_t i = 0; i < SK_ARRAY_LEN(cases); i++) {
		request("Authorization", cases[i][0]);
		struct sk_access_req r = { .family = AF_INET, .addr = addr, .hreq = &hreq, .verifier = v,
					   .resume = on_resume };
		unsigned stage = 0;
		resumed = 0;
		enum sk_verdict vd = sk_pipeline_run(fx.p, &fx.env, &r, &stage);
		if (strcmp(cases[i][1], "cached") == 0) {
			assert_int_equal(vd, SK_V_ALLOW);
			continue;
		}
		assert_int_equal(vd, SK_V_AGAIN);
		assert_int_equal(sk_verifier_inflight(v), 1);
		while (!resumed)
			sk_loop_run_once(loop, 100);
		vd = sk_pipeline_run(fx.p, &fx.env, &r, &stage);
		if (strcmp(cases[i][1], "allow") == 0) {
			assert_int_equal(vd, SK_V_ALLOW);
			assert_string_equal(r.user->name, "alice");
		} else {
			assert_int_equal(vd, SK_V_DENY);
			assert_int_equal(r.reason, SK_R_BAD_CREDENTIALS);
			assert_null(r.user);
		}
	}
	/* Two identical requests in flight share one verification. */
	request("Authorization", "Basic Ym9iOmJvYnB3"); /* bob:bobpw */
	struct sk_access_req a = { .family = AF_INET, .addr = addr, .hreq = &hreq, .verifier = v, .resume = on_resume };
	struct sk_access_req b = a;
	unsigned sa = 0, sb = 0;
	resumed = 0;
	assert_int_equal(sk_pipeline_run(fx.p, &fx.env, &a, &sa), SK_V_AGAIN);
	assert_int_equal(sk_pipeline_run(fx.p, &fx.env, &b, &sb), SK_V_AGAIN);
	assert_int_equal(sk_verifier_inflight(v), 1);
	while (resumed < 2)
		sk_loop_run_once(loop, 100);
	assert_int_equal(sk_pipeline_run(fx.p, &fx.env, &a, &sa), SK_V_ALLOW);
	assert_int_equal(sk_pipeline_run(fx.p, &fx.env, &b, &sb), SK_V_ALLOW);
	sk_pool_stop();
	sk_verifier_free(v);
	sk_loop_free(loop);
	unload(&fx);
}

static int setup(void **state)
{
	assert_non_null(mkdtemp(dir));
	char *alice = sk_hash_make(SK_HASH_BCRYPT, "right", 5);
	char *bob = sk_hash_make(SK_HASH_BCRYPT, "bobpw", 5);
	char users[512];
	snprintf(users, sizeof(users), "alice: { password: \"%s\" }\nbob: { password: \"%s\" }\n", alice, bob);
	write_file("users.yaml", users);
	free(alice);
	free(bob);
	uint8_t d1[32], d2[32];
	char h1[65], h2[65], keys[512];
	sk_apikey_digest("sk_good_key_for_the_test", 24, d1);
	sk_apikey_digest("sk_other_key_in_no_group", 24, d2);
	sk_apikey_hex(d1, h1);
	sk_apikey_hex(d2, h2);
	snprintf(keys, sizeof(keys), "ci: { sha256: \"%s\", groups: [deployers, ops] }\nlone: { sha256: \"%s\" }\n", h1, h2);
	write_file("keys.yaml", keys);
	return 0;
}

static int teardown(void **state)
{
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* A locked account's decoy: the presented password's shape (length, NUL bytes), none of its content
 * needed, and a cache key no credential has. */
static void test_decoy_keeps_the_shape_not_the_password(void **state)
{
	(void)state;
	const char pw[] = { 'h', 'u', 'n', 't', 'e', 'r', '\0', '2' };
	char out[sizeof(pw)];
	uint8_t key[32], orig[32];
	sk_verify_key(7, "alice", 5, pw, sizeof(pw), key);
	memcpy(orig, key, sizeof(key));
	int same = 0;
	for (int round = 0; round < 8; round++) {
		memcpy(key, orig, sizeof(key));
		sk_verify_decoy(pw, sizeof(pw), out, key);
		assert_int_equal(out[6], '\0');
		for (size_t i = 0; i < sizeof(pw); i++)
			if (i != 6)
				assert_int_not_equal(out[i], '\0');
		same += memcmp(out, pw, sizeof(pw)) == 0;
		assert_memory_not_equal(key, orig, sizeof(key));
	}
	assert_int_equal(same, 0);
	sk_verify_decoy("", 0, out, key); /* an empty password: nothing to fill */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ip_allow_and_deny),
		cmocka_unit_test(test_api_key_and_groups),
		cmocka_unit_test(test_basic_waits_on_the_pool_then_resumes),
		cmocka_unit_test(test_decoy_keeps_the_shape_not_the_password),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
