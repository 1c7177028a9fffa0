/*
 * login_test.c — the sign-in sequence of src/access/login.c that the auth stage and the portal share,
 * driven without a network over the memory state store and the real blocking pool: with lockout the
 * name's tally is read first, a right password on a clean tally is remembered, failures count toward the
 * account's lockout (an unknown name leaves no tally of its own) and the client's ban, a locked account's
 * right password is refused and never cached; refusals without a password count toward the ban; sessions
 * are opened, found, upgraded (a new id, the old one gone) and closed.
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

#include "access/guard.h"
#include "access/hash.h"
#include "access/login.h"
#include "access/users.h"
#include "access/verify.h"
#include "loop/loop.h"
#include "state/store.h"

static char dir[] = "/tmp/sk-login-XXXXXX";

static struct {
	struct sk_config *cfg;
	struct sk_access_env env;
	struct sk_store *store;
	struct sk_loop *loop;
	struct sk_verifier *v;
} fx;

static struct sk_http_request hreq;
static int resumed;

static void on_resume(struct sk_access_req *req)
{
	resumed++;
}

static void write_file(const char *name, const char *text)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
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
	char yaml[1024];
	snprintf(yaml, sizeof(yaml),
		 "users: { file: users.yaml }\n"
		 "state: { path: %s/var }\n"
		 "lockout: { deny: 2, unlock_time: 15m }\n"
		 "ban: { max_retry: 3, find_time: 10m, ban_time: 1h }\n"
		 "listeners: [ { name: web, listen: \"127.0.0.1:1\" } ]\n"
		 "origins: { app: { servers: [\"127.0.0.1:2\"] } }\n"
		 "distributions:\n"
		 "  - { name: d, aliases: [a.test], behaviors: [ { path: \"*\", origin: app, access: { auth: [basic] } } ] }\n",
		 dir);
	write_file("sekisho.yaml", yaml);
	char path[256];
	snprintf(path, sizeof(path), "%s/sekisho.yaml", dir);
	struct sk_err err = { 0 };
	fx.cfg = sk_config_load(path, &err);
	if (!fx.cfg)
		fail_msg("%s:%d:%d: %s", err.file, err.line, err.col, err.msg);
	fx.store = sk_store_open_memory();
	sk_access_set_store(fx.store);
	assert_int_equal(sk_access_env_init(&fx.env, fx.cfg, 3, &err), 0);
	assert_ptr_equal(fx.env.store, fx.store);
	fx.loop = sk_loop_new();
	fx.v = sk_verifier_new(fx.loop);
	assert_int_equal(sk_pool_start(1), 0);
	assert_int_equal(sk_pool_start_lane(SK_LANE_STATE, 1), 0);
	return 0;
}

static int teardown(void **state)
{
	sk_pool_stop();
	sk_verifier_free(fx.v);
	sk_loop_free(fx.loop);
	sk_access_env_fini(&fx.env);
	sk_access_set_store(NULL);
	sk_store_close(fx.store);
	sk_config_free(fx.cfg);
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* A request from addr (4 bytes, kept static by the caller) and a zeroed sign-in. */
static void fresh(struct sk_access_req *r, struct sk_login *l, const uint8_t *addr)
{
	sk_access_req_clear(r);
	r->family = AF_INET;
	r->addr = addr;
	r->hreq = &hreq;
	r->verifier = fx.v;
	r->resume = on_resume;
	memset(l, 0, sizeof(*l));
}

static void wait_resume(void)
{
	while (!resumed)
		sk_loop_run_once(fx.loop, 100);
	resumed = 0;
}

static struct sk_slice sl(const char *s)
{
	return (struct sk_slice){ .ptr = s, .len = strlen(s) };
}

/* Runs a password sign-in to its end; *tally_reads: how often the credentials were asked for again after
 * the tally read. */
static enum sk_login_rc sign_in(struct sk_login *l, const struct sk_login_opts *o, struct sk_access_req *r,
				const char *user, const char *pw, int *tally_reads)
{
	*tally_reads = 0;
	enum sk_login_rc rc = sk_login_password(l, o, &fx.env, r, sl(user), sl(pw), NULL);
	while (rc == SK_LOGIN_AGAIN || rc == SK_LOGIN_CRED) {
		if (rc == SK_LOGIN_CRED) {
			(*tally_reads)++;
			rc = sk_login_password(l, o, &fx.env, r, sl(user), sl(pw), NULL);
			continue;
		}
		assert_true(sk_login_waiting(l));
		wait_resume();
		rc = sk_login_resume(l, o, &fx.env, r);
	}
	assert_false(sk_login_waiting(l));
	return rc;
}

static enum sk_login_rc finish(struct sk_login *l, const struct sk_login_opts *o, struct sk_access_req *r,
			       enum sk_login_rc rc)
{
	while (rc == SK_LOGIN_AGAIN) {
		wait_resume();
		rc = sk_login_resume(l, o, &fx.env, r);
	}
	return rc;
}

static int find_ban(void *arg, const char *ip, uint64_t until)
{
	if (strcmp(ip, arg) == 0)
		*(char *)arg = '\0';
	return 0;
}

static bool banned(const char *ip)
{
	char want[64];
	snprintf(want, sizeof(want), "%s", ip);
	assert_int_equal(sk_ban_list(fx.store, find_ban, want), SK_ST_OK);
	return want[0] == '\0';
}

static bool cached(const char *user, const char *pw)
{
	uint8_t key[32];
	sk_verify_key(fx.env.generation, user, strlen(user), pw, strlen(pw), key);
	return sk_verify_cached(fx.v, fx.env.generation, key);
}

static void test_password_lockout_and_ban(void **state)
{
	struct sk_login_opts o;
	sk_login_opts_init(&o, &fx.env, false, false);
	assert_true(o.guard);
	assert_true(o.lockout);
	static struct sk_access_req r;
	static struct sk_login l;
	static const uint8_t addr[4] = { 192, 0, 2, 9 };
	int reads;

	/* The right password on a clean tally: signed in, and only now remembered. */
	fresh(&r, &l, addr);
	assert_false(cached("bob", "bobpw"));
	assert_int_equal(sign_in(&l, &o, &r, "bob", "bobpw", &reads), SK_LOGIN_OK);
	assert_int_equal(reads, 1);
	assert_string_equal(r.user->name, "bob");
	assert_true(cached("bob", "bobpw"));

	/* Two wrong passwords lock alice (deny: 2), and count toward this client's ban. */
	for (int i = 0; i < 2; i++) {
		fresh(&r, &l, addr);
		assert_int_equal(sign_in(&l, &o, &r, "alice", "wrong", &reads), SK_LOGIN_FAIL);
		assert_int_equal(l.reason, SK_R_BAD_CREDENTIALS);
	}
	struct sk_tally t;
	assert_int_equal(sk_tally_get(fx.store, "alice", &t), SK_ST_OK);
	assert_int_equal(t.failures, 2);
	assert_string_equal(t.from, "192.0.2.9");
	assert_false(banned("192.0.2.9"));

	/* Locked: her right password reads like a wrong one and is never cached. */
	fresh(&r, &l, addr);
	assert_int_equal(sign_in(&l, &o, &r, "alice", "right", &reads), SK_LOGIN_FAIL);
	assert_int_equal(l.reason, SK_R_BAD_CREDENTIALS);
	assert_false(cached("alice", "right"));
	assert_int_equal(sk_tally_get(fx.store, "alice", &t), SK_ST_OK);
	assert_int_equal(t.failures, 3); /* the refusal counts like any failure */
	/* The third failure within find_time bans the client (ban: max_retry 3). */
	assert_true(banned("192.0.2.9"));

	/* An unknown name: the same answer, and no tally of its own in the store. */
	static const uint8_t other[4] = { 192, 0, 2, 10 };
	fresh(&r, &l, other);
	assert_int_equal(sign_in(&l, &o, &r, "mallory", "right", &reads), SK_LOGIN_FAIL);
	assert_int_equal(l.reason, SK_R_BAD_CREDENTIALS);
	assert_null(r.user);
	assert_int_equal(reads, 1);
	assert_int_equal(sk_tally_get(fx.store, "mallory", &t), SK_ST_ABSENT);
}

static void test_refusals_count_toward_the_ban(void **state)
{
	struct sk_login_opts o;
	sk_login_opts_init(&o, &fx.env, false, false);
	static struct sk_access_req r;
	static struct sk_login l;
	static const uint8_t addr[4] = { 198, 51, 100, 4 };
	for (int i = 0; i < 3; i++) {
		assert_false(banned("198.51.100.4"));
		fresh(&r, &l, addr);
		assert_int_equal(finish(&l, &o, &r, sk_login_refuse(&l, &o, &fx.env, &r)), SK_LOGIN_FAIL);
		assert_int_equal(l.reason, SK_R_BAD_CREDENTIALS);
	}
	assert_true(banned("198.51.100.4"));
	/* Without state to keep, a refusal is answered at once. */
	struct sk_login_opts bare = { 0 };
	fresh(&r, &l, addr);
	assert_int_equal(sk_login_refuse(&l, &bare, &fx.env, &r), SK_LOGIN_FAIL);
	assert_int_equal(l.reason, SK_R_BAD_CREDENTIALS);
	assert_false(sk_login_waiting(&l));
}

static void test_sessions_open_find_upgrade_close(void **state)
{
	struct sk_login_opts o;
	sk_login_opts_init(&o, &fx.env, false, true);
	static struct sk_access_req r;
	static struct sk_login l;
	static const uint8_t addr[4] = { 203, 0, 113, 7 };
	const struct sk_user *bob = sk_users_find(fx.env.users, "bob", 3);
	assert_non_null(bob);

	fresh(&r, &l, addr);
	assert_int_equal(finish(&l, &o, &r, sk_login_open(&l, &fx.env, &r, bob, SK_SESSION_PASSWORD, NULL)), SK_LOGIN_OK);
	char first[65];
	memcpy(first, l.session.id, sizeof(first));
	assert_int_equal(strlen(first), 64);

	fresh(&r, &l, addr);
	assert_int_equal(finish(&l, &o, &r, sk_login_session(&l, &fx.env, &r, first)), SK_LOGIN_OK);
	assert_int_equal(l.job, SK_GJ_SESSION);
	assert_string_equal(l.session.user, "bob");
	assert_string_equal(l.session.id, first);
	assert_int_equal(l.out.level, SK_SESSION_PASSWORD);
	assert_false(l.out.mfa);

	/* The second factor's level: a new id, and the old one is worth nothing. */
	fresh(&r, &l, addr);
	assert_int_equal(finish(&l, &o, &r, sk_login_open(&l, &fx.env, &r, bob, SK_SESSION_MFA, first)), SK_LOGIN_OK);
	char second[65];
	memcpy(second, l.session.id, sizeof(second));
	assert_string_not_equal(second, first);
	fresh(&r, &l, addr);
	assert_int_equal(finish(&l, &o, &r, sk_login_session(&l, &fx.env, &r, first)), SK_LOGIN_FAIL);
	assert_int_equal(l.reason, SK_R_AUTH_REQUIRED);
	fresh(&r, &l, addr);
	assert_int_equal(finish(&l, &o, &r, sk_login_session(&l, &fx.env, &r, second)), SK_LOGIN_OK);
	assert_int_equal(l.out.level, SK_SESSION_MFA);
	assert_true(l.out.mfa);

	/* A code for a user without a second factor enrolled: not a pass. */
	fresh(&r, &l, addr);
	assert_int_equal(finish(&l, &o, &r, sk_login_code(&l, &fx.env, &r, bob, "123456")), SK_LOGIN_FAIL);
	assert_int_equal(l.reason, SK_R_MFA_REQUIRED);

	fresh(&r, &l, addr);
	assert_int_equal(finish(&l, &o, &r, sk_login_close(&l, &fx.env, &r, second)), SK_LOGIN_OK);
	fresh(&r, &l, addr);
	assert_int_equal(finish(&l, &o, &r, sk_login_session(&l, &fx.env, &r, second)), SK_LOGIN_FAIL);
	assert_int_equal(l.reason, SK_R_AUTH_REQUIRED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_password_lockout_and_ban),
		cmocka_unit_test(test_refusals_count_toward_the_ban),
		cmocka_unit_test(test_sessions_open_find_upgrade_close),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
