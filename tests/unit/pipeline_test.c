/*
 * pipeline_test.c — the access pipeline with real configs: stage order and verdicts of the ip, auth and
 * groups checks, and the AGAIN → resume path of a Basic verification on the blocking pool. Then the
 * stages' scratch (made-up stages through sk_pipeline_compile_checks): each stage's slice is its own,
 * aligned, never overlapping another's, zeroed on the stage's first run whatever the workspace held, kept
 * across AGAIN, and a stage that never runs costs nothing (its slice is not touched).
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

/* ---- the stages' scratch ---- */

struct fake {
	unsigned idx;
	unsigned char fill; /* what the stage writes over its scratch on its first run */
	bool deny;          /* the first run denies (else it answers AGAIN) */
};

static struct fake fakes[3] = { { .idx = 0, .fill = 0xa1 }, { .idx = 1 }, { .idx = 2, .fill = 0xb2 } };

static struct seen {
	unsigned char *ptr;
	int runs;
} seen[3];

static int compile_0(const struct sk_access *a, const struct sk_access_env *env, void **state, struct sk_err *err)
{
	*state = &fakes[0];
	return 0;
}

static int compile_1(const struct sk_access *a, const struct sk_access_env *env, void **state, struct sk_err *err)
{
	*state = &fakes[1];
	return 0;
}

static int compile_2(const struct sk_access *a, const struct sk_access_env *env, void **state, struct sk_err *err)
{
	*state = &fakes[2];
	return 0;
}

static void fake_free(void *state)
{
}

static const struct sk_check_ops *const *fake_ops;

/* First run: the slice must be all zero; fill it and answer AGAIN (or DENY). Later runs: the fill must
 * still be there. A stage without scratch gets NULL and passes. */
static enum sk_verdict fake_run(const void *state, const struct sk_access_env *env, struct sk_access_req *req,
				void *scratch)
{
	const struct fake *f = state;
	struct seen *s = &seen[f->idx];
	size_t size = fake_ops[f->idx]->scratch_size;
	s->runs++;
	s->ptr = scratch;
	if (size == 0) {
		assert_null(scratch);
		return SK_V_NEXT;
	}
	unsigned char *x = scratch;
	if (s->runs == 1) {
		for (size_t i = 0; i < size; i++)
			assert_int_equal(x[i], 0);
		memset(x, f->fill, size);
		if (f->deny) {
			req->reason = SK_R_FORBIDDEN_GROUP;
			return SK_V_DENY;
		}
		return SK_V_AGAIN;
	}
	for (size_t i = 0; i < size; i++)
		assert_int_equal(x[i], f->fill);
	return SK_V_NEXT;
}

static const struct sk_check_ops fake_a = { .name = "a", .compile = compile_0, .run = fake_run, .free = fake_free,
					    .scratch_size = 24 };
static const struct sk_check_ops fake_none = { .name = "none", .compile = compile_1, .run = fake_run,
					       .free = fake_free };
static const struct sk_check_ops fake_b = { .name = "b", .compile = compile_2, .run = fake_run, .free = fake_free,
					    .scratch_size = 40 };
static const struct sk_check_ops *const fake_checks[] = { &fake_a, &fake_none, &fake_b };

/* A request whose workspace holds garbage (as after an earlier request) and whose head is cleared. */
static void dirty_request(struct sk_access_req *r)
{
	memset(r, 0x5a, sizeof(*r));
	sk_access_req_clear(r);
	r->hreq = &hreq;
	memset(seen, 0, sizeof(seen));
}

static bool inside(const struct sk_access_req *r, const unsigned char *p, size_t n)
{
	return p >= r->scratch && p + n <= r->scratch + sizeof(r->scratch);
}

static void test_stage_scratch_is_private_and_kept_across_again(void **state)
{
	struct sk_access a = { .present = true };
	struct sk_access_env env = { 0 };
	struct sk_err err = { 0 };
	fake_ops = fake_checks;
	fakes[0].deny = false;
	struct sk_pipeline *p = sk_pipeline_compile_checks(fake_checks, SK_ARRAY_LEN(fake_checks), &a, &env, &err);
	assert_non_null(p);
	request(NULL, NULL);
	static struct sk_access_req r; /* static: the workspace is a few hundred bytes */
	dirty_request(&r);
	unsigned stage = 0;
	assert_int_equal(sk_pipeline_run(p, &env, &r, &stage), SK_V_AGAIN); /* a: first run, zeroed, filled */
	assert_int_equal(stage, 0);
	assert_int_equal(sk_pipeline_run(p, &env, &r, &stage), SK_V_AGAIN); /* a finds its fill; b's first run */
	assert_int_equal(stage, 2);
	assert_int_equal(seen[0].runs, 2);
	assert_int_equal(seen[1].runs, 1);
	assert_int_equal(seen[2].runs, 1);
	/* b's first run zeroed only its own slice: a's fill is intact (fake_run checks it again below). */
	assert_int_equal(sk_pipeline_run(p, &env, &r, &stage), SK_V_ALLOW); /* b finds its fill */
	assert_int_equal(seen[2].runs, 2);
	for (size_t i = 0; i < 24; i++)
		assert_int_equal(seen[0].ptr[i], 0xa1);
	/* Both slices inside the workspace, aligned, apart. */
	assert_true(inside(&r, seen[0].ptr, 24));
	assert_true(inside(&r, seen[2].ptr, 40));
	assert_int_equal((uintptr_t)seen[0].ptr % SK_ACCESS_SCRATCH_ALIGN, 0);
	assert_int_equal((uintptr_t)seen[2].ptr % SK_ACCESS_SCRATCH_ALIGN, 0);
	assert_true(seen[0].ptr + 24 <= seen[2].ptr || seen[2].ptr + 40 <= seen[0].ptr);
	assert_null(seen[1].ptr);
	/* The next request on the same struct: each stage again finds its slice zeroed, not its old fill. */
	dirty_request(&r);
	stage = 0;
	assert_int_equal(sk_pipeline_run(p, &env, &r, &stage), SK_V_AGAIN);
	sk_pipeline_free(p);
}

static void test_a_stage_that_never_runs_costs_nothing(void **state)
{
	struct sk_access a = { .present = true };
	struct sk_access_env env = { 0 };
	struct sk_err err = { 0 };
	fake_ops = fake_checks;
	fakes[0].deny = true;
	struct sk_pipeline *p = sk_pipeline_compile_checks(fake_checks, SK_ARRAY_LEN(fake_checks), &a, &env, &err);
	assert_non_null(p);
	request(NULL, NULL);
	static struct sk_access_req r;
	dirty_request(&r);
	unsigned stage = 0;
	assert_int_equal(sk_pipeline_run(p, &env, &r, &stage), SK_V_DENY);
	assert_int_equal(r.reason, SK_R_FORBIDDEN_GROUP);
	assert_int_equal(seen[2].runs, 0);
	/* Only a's 24 bytes were written: the rest of the workspace still holds the earlier garbage. */
	size_t a_end = (size_t)(seen[0].ptr - r.scratch) + 24;
	for (size_t i = 0; i < sizeof(r.scratch); i++)
		if (i < (size_t)(seen[0].ptr - r.scratch) || i >= a_end)
			assert_int_equal(r.scratch[i], 0x5a);
	fakes[0].deny = false;
	sk_pipeline_free(p);
}

/* The real auth stage keeps its sign-in across AGAIN in its slice: a Basic verification resumes and
 * allows with a workspace that held garbage before the request. */
static void test_auth_stage_resumes_from_its_scratch(void **state)
{
	struct fx fx;
	load(&fx, "{ auth: [basic] }");
	struct sk_loop *loop = sk_loop_new();
	struct sk_verifier *v = sk_verifier_new(loop);
	assert_int_equal(sk_pool_start(1), 0);
	static uint8_t addr[4] = { 10, 0, 0, 2 };
	request("Authorization", "Basic Ym9iOmJvYnB3"); /* bob:bobpw */
	static struct sk_access_req r;
	dirty_request(&r);
	r.family = AF_INET;
	r.addr = addr;
	r.verifier = v;
	r.resume = on_resume;
	unsigned stage = 0;
	resumed = 0;
	assert_int_equal(sk_pipeline_run(fx.p, &fx.env, &r, &stage), SK_V_AGAIN);
	while (!resumed)
		sk_loop_run_once(loop, 100);
	assert_int_equal(sk_pipeline_run(fx.p, &fx.env, &r, &stage), SK_V_ALLOW);
	assert_string_equal(r.user->name, "bob");
	assert_string_equal(r.method, "basic");
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
		cmocka_unit_test(test_stage_scratch_is_private_and_kept_across_again),
		cmocka_unit_test(test_a_stage_that_never_runs_costs_nothing),
		cmocka_unit_test(test_auth_stage_resumes_from_its_scratch),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
