/*
 * users_test.c — the user store (src/access/users.c): YAML and htpasswd files, format detection,
 * lookups (by slices that are not NUL-terminated too), groups, weak-hash warnings, the dummy hash's kind
 * and cost, and errors with file:line:col that never quote a hash.
 *
 * The hashes below were made with `htpasswd -nbB -C 5` (bcrypt at cost 5, fast enough for tests),
 * `htpasswd -nbm` (apr1) and `htpasswd -nbs` ({SHA}); the password of each is "<user>pw".
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "access/users.h"

#define ALICE_BCRYPT "$2y$05$2gb4aaC6JnTbxUX7GNqc4uSh9opduSYhqjLUu36qA86tizpIWIoRO"
#define BOB_APR1 "$apr1$Zy.uLyHV$QA9kOQyly/n7IgAfpLUF.1"
#define CARL_SHA "{SHA}0V4/FZJIDY0Oov2j6xkmwvgdQUg="

static struct sk_users *parse(const char *text, enum sk_users_format fmt, struct sk_err *err)
{
	memset(err, 0, sizeof(*err));
	return sk_users_parse("users.yaml", text, strlen(text), fmt, err);
}

static void yaml_users(void **state)
{
	const char *text = "# the team\n"
			   "alice: { password: \"" ALICE_BCRYPT "\", groups: [admins, ops], totp: \"enc:abc\",\n"
			   "         password_changed: 2026-11-01 }\n"
			   "\n"
			   "bob: { password: '" BOB_APR1 "' }   # legacy\n"
			   "carl:\n"
			   "  password: \"" CARL_SHA "\"\n"
			   "  groups: []\n";
	struct sk_err err;
	struct sk_users *u = parse(text, SK_USERS_AUTO, &err);
	assert_non_null(u);
	assert_int_equal(sk_users_format(u), SK_USERS_YAML);
	assert_int_equal(sk_users_count(u), 3);

	const struct sk_user *a = sk_users_find(u, "alice", 5);
	assert_non_null(a);
	assert_string_equal(a->name, "alice");
	assert_int_equal(a->kind, SK_HASH_BCRYPT);
	assert_int_equal(a->line, 2);
	assert_int_equal(a->n_groups, 2);
	assert_true(sk_user_in_group(a, "admins"));
	assert_true(sk_user_in_group(a, "ops"));
	assert_false(sk_user_in_group(a, "adm"));
	assert_string_equal(a->totp, "enc:abc");
	assert_int_equal(a->password_changed, 1793491200); /* 2026-11-01T00:00:00Z */
	assert_int_equal(sk_hash_verify(a->hash, "alicepw", 7), 1);
	assert_int_equal(sk_hash_verify(a->hash, "alicepx", 7), 0);

	/* Lookups take slices: a name inside a larger buffer, and near misses. */
	const char *hdr = "alice:secret";
	assert_ptr_equal(sk_users_find(u, hdr, 5), a);
	assert_null(sk_users_find(u, "alic", 4));
	assert_null(sk_users_find(u, "alicex", 6));
	assert_null(sk_users_find(u, "", 0));
	assert_null(sk_users_find(u, "dave", 4));

	const struct sk_user *b = sk_users_find(u, "bob", 3);
	assert_non_null(b);
	assert_int_equal(b->kind, SK_HASH_APR1);
	assert_null(b->totp);
	assert_int_equal(b->n_groups, 0);
	assert_int_equal(b->password_changed, 0);
	assert_int_equal(sk_hash_verify(b->hash, "bobpw", 5), 1);
	const struct sk_user *c = sk_users_find(u, "carl", 4);
	assert_non_null(c);
	assert_int_equal(c->kind, SK_HASH_SHA1);
	assert_int_equal(sk_hash_verify(c->hash, "carlpw", 6), 1);

	size_t n;
	const char *const *w = sk_users_warnings(u, &n);
	assert_int_equal(n, 2);
	assert_string_equal(w[0], "users.yaml:5: user 'bob' has a weak apr1 hash; re-set it with sekisho passwd");
	assert_string_equal(w[1], "users.yaml:7: user 'carl' has a weak {SHA} hash; re-set it with sekisho passwd");
	for (size_t i = 0; i < n; i++) {
		assert_null(strstr(w[i], "$apr1$"));
		assert_null(strstr(w[i], "0V4/"));
	}
	/* 1 bcrypt, 1 apr1, 1 {SHA}: the weak kinds cost nothing; the stand-in is like alice's bcrypt. */
	assert_int_equal(sk_hash_kind(sk_users_dummy_hash(u)), SK_HASH_BCRYPT);
	assert_memory_equal(sk_users_dummy_hash(u), "$2y$05$", 7);
	assert_int_equal(sk_hash_verify(sk_users_dummy_hash(u), "", 0), 0);
	sk_users_free(u);
}

static void htpasswd_users(void **state)
{
	const char *text = "# made by htpasswd\r\n"
			   "alice:" ALICE_BCRYPT "\r\n"
			   "\n"
			   "   # indented comment\n"
			   "bob:" BOB_APR1 "\n"
			   "carl:" CARL_SHA; /* no final newline */
	struct sk_err err;
	struct sk_users *u = parse(text, SK_USERS_AUTO, &err);
	assert_non_null(u);
	assert_int_equal(sk_users_format(u), SK_USERS_HTPASSWD);
	assert_int_equal(sk_users_count(u), 3);
	const struct sk_user *a = sk_users_find(u, "alice", 5);
	assert_non_null(a);
	assert_string_equal(a->hash, ALICE_BCRYPT); /* the "\r" is not part of the hash */
	assert_int_equal(a->n_groups, 0);
	assert_int_equal(a->line, 2);
	assert_int_equal(sk_hash_verify(a->hash, "alicepw", 7), 1);
	assert_int_equal(sk_users_find(u, "carl", 4)->kind, SK_HASH_SHA1);
	size_t n;
	const char *const *w = sk_users_warnings(u, &n);
	assert_int_equal(n, 2);
	assert_string_equal(w[0], "users.yaml:5: user 'bob' has a weak apr1 hash; re-set it with sekisho passwd");
	/* Two weak kinds outnumber one bcrypt, but a weak kind has no cost: the dummy is like alice's. */
	assert_int_equal(sk_hash_kind(sk_users_dummy_hash(u)), SK_HASH_BCRYPT);
	assert_memory_equal(sk_users_dummy_hash(u), "$2y$05$", 7);
	sk_users_free(u);
}

static void dummy_kind(void **state)
{
	struct sk_err err;
	/* The costliest hash wins, however few users have it: argon2id at m=19 MiB, t=2 (tens of ms) over
	 * bcrypt at cost 5 (about 2 ms). The most common kind would leave the argon2id user visible. */
	char *argon = sk_hash_make(SK_HASH_ARGON2ID, "x", 1);
	assert_non_null(argon);
	char text[1024];
	snprintf(text, sizeof(text), "a: { password: \"%s\" }\nb: { password: \"%s\" }\nc: { password: \"%s\" }\n",
		 ALICE_BCRYPT, ALICE_BCRYPT, argon);
	struct sk_users *u = parse(text, SK_USERS_YAML, &err);
	assert_non_null(u);
	assert_int_equal(sk_hash_kind(sk_users_dummy_hash(u)), SK_HASH_ARGON2ID);
	assert_memory_equal(sk_users_dummy_hash(u), "$argon2id$v=19$m=19456,t=2,p=1$", 31);
	/* The bcrypt accounts cost less than the stand-in: their failures are padded to its time (measured,
	 * so only its order is known here: well above a cost-5 bcrypt's ~2 ms would be machine-dependent). */
	const struct sk_user *ua = sk_users_find(u, "a", 1), *uc = sk_users_find(u, "c", 1);
	assert_true(ua->pad);
	assert_false(uc->pad);
	assert_true(sk_users_pad_ns(u, ua) > 0);
	assert_int_equal(sk_users_pad_ns(u, uc), 0);
	assert_int_equal(sk_users_pad_ns(u, NULL), 0); /* unknown names run the stand-in itself */
	sk_users_free(u);
	/* Within a kind, the parameters decide: the one bcrypt user at cost 7 over two at cost 5. */
	char *b7 = sk_hash_dummy("$2y$07$");
	assert_memory_equal(b7, "$2y$07$", 7);
	snprintf(text, sizeof(text), "a: { password: \"%s\" }\nb: { password: \"%s\" }\nc: { password: \"%s\" }\n",
		 ALICE_BCRYPT, b7, ALICE_BCRYPT);
	u = parse(text, SK_USERS_YAML, &err);
	assert_non_null(u);
	assert_memory_equal(sk_users_dummy_hash(u), "$2y$07$", 7);
	assert_true(sk_users_find(u, "a", 1)->pad);
	assert_false(sk_users_find(u, "b", 1)->pad);
	sk_users_free(u);
	free(b7);
	/* One cost for everybody: nobody is padded, and nothing was timed. */
	snprintf(text, sizeof(text), "a: { password: \"%s\" }\nb: { password: \"%s\" }\n", ALICE_BCRYPT, ALICE_BCRYPT);
	u = parse(text, SK_USERS_YAML, &err);
	assert_non_null(u);
	assert_false(sk_users_find(u, "a", 1)->pad);
	assert_int_equal(sk_users_pad_ns(u, sk_users_find(u, "b", 1)), 0);
	sk_users_free(u);
	/* sha512crypt: the most rounds (a bare $6$ is 5000). */
	char *r9 = sk_hash_dummy("$6$rounds=9000$x$");
	char *r5 = sk_hash_dummy("$6$x$");
	snprintf(text, sizeof(text), "a: { password: \"%s\" }\nb: { password: \"%s\" }\n", r5, r9);
	u = parse(text, SK_USERS_YAML, &err);
	assert_non_null(u);
	assert_memory_equal(sk_users_dummy_hash(u), "$6$rounds=9000$", 15);
	sk_users_free(u);
	free(r9);
	free(r5);
	free(argon);
	/* No user at all: still a dummy, and nobody is found. */
	u = parse("# nobody yet\n", SK_USERS_AUTO, &err);
	assert_non_null(u);
	assert_int_equal(sk_users_count(u), 0);
	assert_null(sk_users_find(u, "a", 1));
	assert_int_equal(sk_hash_kind(sk_users_dummy_hash(u)), SK_HASH_BCRYPT);
	sk_users_free(u);
	u = parse("", SK_USERS_HTPASSWD, &err);
	assert_non_null(u);
	assert_int_equal(sk_users_count(u), 0);
	sk_users_free(u);
}

static int failures;

/* Expects a load error at line:col whose message holds want and never the hash. */
static void expect_error(const char *text, enum sk_users_format fmt, int line, int col, const char *want)
{
	struct sk_err err;
	struct sk_users *u = parse(text, fmt, &err);
	if (u || err.line != line || err.col != col || !strstr(err.msg, want)) {
		print_error("text: %s\ngot %s at %d:%d: %s\n", text, u ? "success" : "error", err.line, err.col, err.msg);
		sk_users_free(u);
		failures++;
		return;
	}
	assert_string_equal(err.file, "users.yaml");
	assert_null(strstr(err.msg, "2gb4aaC6"));
	assert_null(strstr(err.msg, "plaintext"));
}

static void errors(void **state)
{
	expect_error("alice: { password: \"" ALICE_BCRYPT "\" }\n"
		     "bob: { password: \"" ALICE_BCRYPT "\", grups: [a] }\n",
		     SK_USERS_YAML, 2, 82, "user 'bob': unknown key 'grups'");
	expect_error("alice: { password: \"plaintext\" }\n", SK_USERS_YAML, 1, 20,
		     "user 'alice': unrecognised password hash");
	expect_error("alice:plaintext\n", SK_USERS_HTPASSWD, 1, 7, "user 'alice': unrecognised password hash");
	expect_error("\n\nalice: { groups: [a] }\n", SK_USERS_YAML, 3, 1, "user 'alice' needs 'password'");
	expect_error("alice: { password: \"" ALICE_BCRYPT "\", password_changed: 2026-02-30 }\n", SK_USERS_YAML, 1,
		     102, "must be a date YYYY-MM-DD");
	expect_error("alice: { password: \"" ALICE_BCRYPT "\", groups: admins }\n", SK_USERS_YAML, 1, 92,
		     "must be a list of strings");
	expect_error("alice: { password: \"" ALICE_BCRYPT "\", groups: [\"\"] }\n", SK_USERS_YAML, 1, 93,
		     "must not be empty");
	expect_error("alice: \"" ALICE_BCRYPT "\"\n", SK_USERS_YAML, 1, 1, "user 'alice' must be a mapping");
	expect_error("\"al:ice\": { password: \"" ALICE_BCRYPT "\" }\n", SK_USERS_YAML, 1, 1, "holds ':'");
	expect_error("- alice\n", SK_USERS_YAML, 0, 0, "must be a mapping of names");
	expect_error("alice: { password: \"" ALICE_BCRYPT "\" }\nbob: { password: \"" ALICE_BCRYPT "\"\n",
		     SK_USERS_YAML, 3, 1, "");
	expect_error("alice: { password: \"" ALICE_BCRYPT "\" }\nalice: { password: \"" ALICE_BCRYPT "\" }\n",
		     SK_USERS_YAML, 2, 1, "duplicate key");
	expect_error("alice:" ALICE_BCRYPT "\nbob:" BOB_APR1 "\nalice:" ALICE_BCRYPT "\n", SK_USERS_HTPASSWD, 3, 0,
		     "user 'alice' again (first at line 1)");
	expect_error("alice: &a { password: \"" ALICE_BCRYPT "\" }\nbob: *a\n", SK_USERS_YAML, 2, 1,
		     "aliases are not supported");
	expect_error("# c\njust a line\n", SK_USERS_HTPASSWD, 2, 1, "expected 'user:hash'");
	assert_int_equal(failures, 0);
}

static void detect(void **state)
{
	assert_int_equal(sk_users_detect("", 0), SK_USERS_YAML);
	assert_int_equal(sk_users_detect("# x\n\n", 5), SK_USERS_YAML);
	const char *h = "# x\nalice:$2y$05$abc\n";
	assert_int_equal(sk_users_detect(h, strlen(h)), SK_USERS_HTPASSWD);
	const char *y = "# x\nalice: { password: x }\n";
	assert_int_equal(sk_users_detect(y, strlen(y)), SK_USERS_YAML);
	const char *b = "alice:\n  password: x\n";
	assert_int_equal(sk_users_detect(b, strlen(b)), SK_USERS_YAML);
	const char *q = "\"alice\": {}\n";
	assert_int_equal(sk_users_detect(q, strlen(q)), SK_USERS_YAML);
	const char *d = "---\nalice: {}\n";
	assert_int_equal(sk_users_detect(d, strlen(d)), SK_USERS_YAML);
}

static void many_users_and_files(void **state)
{
	char path[] = "/tmp/sk-users-test.XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	FILE *f = fdopen(fd, "w");
	assert_non_null(f);
	for (int i = 0; i < 3000; i++)
		fprintf(f, "user%d:%s\n", i, ALICE_BCRYPT);
	fclose(f);
	struct sk_err err = { 0 };
	struct sk_users *u = sk_users_load(path, SK_USERS_AUTO, &err);
	assert_non_null(u);
	assert_int_equal(sk_users_count(u), 3000);
	char name[32];
	for (int i = 0; i < 3000; i++) {
		int n = snprintf(name, sizeof(name), "user%d", i);
		const struct sk_user *r = sk_users_find(u, name, (size_t)n);
		assert_non_null(r);
		assert_ptr_equal(r, sk_users_at(u, (size_t)i));
	}
	assert_null(sk_users_find(u, "user3000", 8));
	sk_users_free(u);
	unlink(path);
	assert_null(sk_users_load(path, SK_USERS_AUTO, &err));
	assert_string_equal(err.file, path);
	assert_non_null(strstr(err.msg, "cannot read"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(yaml_users),
		cmocka_unit_test(htpasswd_users),
		cmocka_unit_test(dummy_kind),
		cmocka_unit_test(errors),
		cmocka_unit_test(detect),
		cmocka_unit_test(many_users_and_files),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
