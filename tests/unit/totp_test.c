/*
 * totp_test.c — the second factor's mechanics (src/access/totp.c): RFC 4648 base32 vectors and round
 * trips, RFC 4226 Appendix D (HOTP) and RFC 6238 Appendix B (TOTP, SHA-1) vectors, codes compared with
 * an independent implementation (oathtool), the skew window's edges and replay refusal, sealing (round
 * trip; altered nonce, ciphertext, tag or text, another user, another key all refused), the key file's
 * checks and creation, the otpauth:// URI and the QR drawings.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "access/totp.h"

/* The RFC 4226 / RFC 6238 SHA-1 test secret. */
static const uint8_t RFC_SECRET[] = "12345678901234567890";
#define RFC_LEN 20

static const uint8_t KEY[SK_TOTP_KEY_LEN] = "0123456789abcdef0123456789abcdef";

static void base32_vectors(void **state)
{
	/* RFC 4648 §10, without the padding our encoder leaves out. */
	static const char *const v[][3] = {
		{ "", "", "" },
		{ "f", "MY", "MY======" },
		{ "fo", "MZXQ", "MZXQ====" },
		{ "foo", "MZXW6", "MZXW6===" },
		{ "foob", "MZXW6YQ", "MZXW6YQ=" },
		{ "fooba", "MZXW6YTB", "MZXW6YTB" },
		{ "foobar", "MZXW6YTBOI", "MZXW6YTBOI======" },
	};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		char *e = sk_totp_base32_encode((const uint8_t *)v[i][0], strlen(v[i][0]));
		assert_string_equal(e, v[i][1]);
		free(e);
		uint8_t out[16];
		size_t n = 99;
		for (int k = 1; k <= 2; k++) {
			assert_int_equal(sk_totp_base32_decode(v[i][k], strlen(v[i][k]), out, sizeof(out), &n), 0);
			assert_int_equal(n, strlen(v[i][0]));
			assert_memory_equal(out, v[i][0], n);
		}
	}
	/* Either case; the RFC secret's usual form. */
	uint8_t out[32];
	size_t n;
	assert_int_equal(sk_totp_base32_decode("mzxw6ytboi", 10, out, sizeof(out), &n), 0);
	assert_memory_equal(out, "foobar", 6);
	const char *rfc = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
	assert_int_equal(sk_totp_base32_decode(rfc, strlen(rfc), out, sizeof(out), &n), 0);
	assert_int_equal(n, RFC_LEN);
	assert_memory_equal(out, RFC_SECRET, RFC_LEN);
	/* Refused: bad characters, impossible lengths, misplaced or wrong padding, non-zero spare bits,
	 * output larger than cap. */
	static const char *const bad[] = { "MZXW6YTB1", "MZXW6YT!", "M", "MZX", "MZXW6Y", "MY=", "MY=======",
					   "M=Y=====", "MZXQ===", "MZXW6YQ==", "========", "MZ", "MZXR", "MY ",
					   "MZXW6YTBOJ" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(sk_totp_base32_decode(bad[i], strlen(bad[i]), out, sizeof(out), &n), -1);
	assert_int_equal(sk_totp_base32_decode("MZXW6YTBOI", 10, out, 5, &n), -1);
}

static void base32_round_trips(void **state)
{
	uint8_t in[64], out[64];
	for (size_t len = 0; len <= sizeof(in); len++) {
		for (int k = 0; k < 8; k++) {
			for (size_t i = 0; i < len; i++)
				in[i] = (uint8_t)rand();
			char *e = sk_totp_base32_encode(in, len);
			assert_int_equal(strlen(e), (len * 8 + 4) / 5);
			size_t n = 0;
			assert_int_equal(sk_totp_base32_decode(e, strlen(e), out, sizeof(out), &n), 0);
			assert_int_equal(n, len);
			assert_memory_equal(in, out, len);
			free(e);
		}
	}
}

static void hotp_rfc4226(void **state)
{
	static const char *const d[] = { "755224", "287082", "359152", "969429", "338314",
					 "254676", "287922", "162583", "399871", "520489" };
	char code[9];
	for (uint64_t c = 0; c < 10; c++) {
		assert_int_equal(sk_totp_hotp(RFC_SECRET, RFC_LEN, c, 6, code), 0);
		assert_string_equal(code, d[c]);
	}
	assert_int_equal(sk_totp_hotp(RFC_SECRET, RFC_LEN, 0, 5, code), -1);
	assert_int_equal(sk_totp_hotp(RFC_SECRET, RFC_LEN, 0, 9, code), -1);
	assert_int_equal(sk_totp_hotp(RFC_SECRET, 0, 0, 6, code), -1);
}

static void totp_rfc6238(void **state)
{
	static const struct {
		int64_t t;
		const char *code;
	} v[] = {
		{ 59, "94287082" },         { 1111111109, "07081804" }, { 1111111111, "14050471" },
		{ 1234567890, "89005924" }, { 2000000000, "69279037" }, { 20000000000, "65353130" },
	};
	char code[9];
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		assert_int_equal(sk_totp_code(RFC_SECRET, RFC_LEN, v[i].t, 8, code), 0);
		assert_string_equal(code, v[i].code);
		/* The 6-digit code is the last six digits of the 8-digit one. */
		assert_int_equal(sk_totp_code(RFC_SECRET, RFC_LEN, v[i].t, 6, code), 0);
		assert_string_equal(code, v[i].code + 2);
	}
	assert_int_equal(sk_totp_step(0), 0);
	assert_int_equal(sk_totp_step(29), 0);
	assert_int_equal(sk_totp_step(30), 1);
	assert_int_equal(sk_totp_step(-1), -1);
	assert_int_equal(sk_totp_code(RFC_SECRET, RFC_LEN, -1, 6, code), -1);
}

/* oathtool's code for base32 secret b32 at time spec (anything -N takes), or "" when it cannot run. */
static void oathtool(const char *b32, const char *spec, char *out, size_t cap)
{
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "oathtool --totp -b -N '%s' %s 2>/dev/null", spec, b32);
	out[0] = '\0';
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	if (!fgets(out, (int)cap, p))
		out[0] = '\0';
	pclose(p);
	out[strcspn(out, "\n")] = '\0';
}

static void against_oathtool(void **state)
{
	if (system("oathtool --version >/dev/null 2>&1") != 0)
		skip();
	uint8_t secret[SK_TOTP_SECRET_LEN];
	for (int k = 0; k < 20; k++) {
		assert_int_equal(sk_totp_secret_new(secret), 0);
		char *b32 = sk_totp_base32_encode(secret, sizeof(secret));
		int64_t t = 1000000000 + (int64_t)(rand() % 1000000000);
		char spec[32], theirs[16], ours[9];
		snprintf(spec, sizeof(spec), "@%lld", (long long)t);
		oathtool(b32, spec, theirs, sizeof(theirs));
		assert_int_equal(sk_totp_code(secret, sizeof(secret), t, 6, ours), 0);
		assert_string_equal(ours, theirs);
		/* What an authenticator shows is accepted, once. */
		int64_t m = -1;
		assert_int_equal(sk_totp_verify(secret, sizeof(secret), theirs, 6, t, 1, -1, &m), 1);
		assert_int_equal(m, t / 30);
		assert_int_equal(sk_totp_verify(secret, sizeof(secret), theirs, 6, t, 1, m, &m), 0);
		free(b32);
	}
	/* A calendar time, as in oathtool's manual. */
	struct tm tm = { .tm_year = 2026 - 1900, .tm_mon = 10, .tm_mday = 23, .tm_hour = 12 };
	int64_t t = (int64_t)timegm(&tm);
	char theirs[16], ours[9];
	oathtool("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", "2026-11-23 12:00:00 UTC", theirs, sizeof(theirs));
	assert_int_equal(sk_totp_code(RFC_SECRET, RFC_LEN, t, 6, ours), 0);
	assert_string_equal(ours, theirs);
}

static void verify_window_and_replay(void **state)
{
	const int64_t now = 1700000015; /* step 56666667, 15 s into it */
	const int64_t step = now / 30;
	char c[9];
	int64_t m;
	/* Skew 1: steps step-1 .. step+1 are accepted, step±2 are not. */
	for (int64_t d = -3; d <= 3; d++) {
		assert_int_equal(sk_totp_hotp(RFC_SECRET, RFC_LEN, (uint64_t)(step + d), 6, c), 0);
		m = -7;
		int r = sk_totp_verify(RFC_SECRET, RFC_LEN, c, 6, now, 1, -1, &m);
		if (d >= -1 && d <= 1) {
			assert_int_equal(r, 1);
			assert_int_equal(m, step + d);
		} else {
			assert_int_equal(r, 0);
			assert_int_equal(m, -7);
		}
		/* Skew 0: the current step only; skew 3: all of them. */
		assert_int_equal(sk_totp_verify(RFC_SECRET, RFC_LEN, c, 6, now, 0, -1, &m), d == 0);
		assert_int_equal(sk_totp_verify(RFC_SECRET, RFC_LEN, c, 6, now, 3, -1, &m), 1);
	}
	/* The window edges in time: the code of step s is good from the start of s-1 to the end of s+1. */
	assert_int_equal(sk_totp_hotp(RFC_SECRET, RFC_LEN, (uint64_t)step, 6, c), 0);
	assert_int_equal(sk_totp_verify(RFC_SECRET, RFC_LEN, c, 6, (step - 1) * 30, 1, -1, &m), 1);
	assert_int_equal(sk_totp_verify(RFC_SECRET, RFC_LEN, c, 6, (step - 1) * 30 - 1, 1, -1, &m), 0);
	assert_int_equal(sk_totp_verify(RFC_SECRET, RFC_LEN, c, 6, (step + 2) * 30 - 1, 1, -1, &m), 1);
	assert_int_equal(sk_totp_verify(RFC_SECRET, RFC_LEN, c, 6, (step + 2) * 30, 1, -1, &m), 0);
	/* Replay: a step <= last_step is refused; a later one is still good. */
	assert_int_equal(sk_totp_verify(RFC_SECRET, RFC_LEN, c, 6, now, 1, step, &m), 0);
	assert_int_equal(sk_totp_verify(RFC_SECRET, RFC_LEN, c, 6, now, 1, step + 1, &m), 0);
	assert_int_equal(sk_totp_verify(RFC_SECRET, RFC_LEN, c, 6, now, 1, step - 1, &m), 1);
	assert_int_equal(m, step);
	char next[9];
	assert_int_equal(sk_totp_hotp(RFC_SECRET, RFC_LEN, (uint64_t)(step + 1), 6, next), 0);
	assert_int_equal(sk_totp_verify(RFC_SECRET, RFC_LEN, next, 6, now, 1, step, &m), 1);
	assert_int_equal(m, step + 1);
	/* Malformed codes: wrong length, non-digits, the 8-digit form. */
	assert_int_equal(sk_totp_verify(RFC_SECRET, RFC_LEN, c, 5, now, 1, -1, &m), 0);
	assert_int_equal(sk_totp_verify(RFC_SECRET, RFC_LEN, "12345a", 6, now, 1, -1, &m), 0);
	assert_int_equal(sk_totp_code(RFC_SECRET, RFC_LEN, now, 8, c), 0);
	assert_int_equal(sk_totp_verify(RFC_SECRET, RFC_LEN, c, 8, now, 1, -1, &m), 0);
	/* Near the epoch the window does not reach negative steps. */
	assert_int_equal(sk_totp_hotp(RFC_SECRET, RFC_LEN, 0, 6, c), 0);
	assert_int_equal(sk_totp_verify(RFC_SECRET, RFC_LEN, c, 6, 10, 2, -1, &m), 1);
	assert_int_equal(m, 0);
}

static void seal_open(void **state)
{
	uint8_t secret[SK_TOTP_SECRET_LEN], back[SK_TOTP_SECRET_MAX];
	size_t n = 0;
	char *a = NULL, *b = NULL;
	assert_int_equal(sk_totp_secret_new(secret), 0);
	assert_int_equal(sk_totp_seal(KEY, "alice", secret, sizeof(secret), &a), 0);
	assert_int_equal(sk_totp_seal(KEY, "alice", secret, sizeof(secret), &b), 0);
	assert_memory_equal(a, "enc:", 4);
	assert_string_not_equal(a, b); /* a fresh nonce each time */
	assert_int_equal(strlen(a), 4 + 4 * ((12 + 20 + 16 + 2) / 3));
	assert_int_equal(sk_totp_open(KEY, "alice", a, back, sizeof(back), &n), 0);
	assert_int_equal(n, sizeof(secret));
	assert_memory_equal(back, secret, n);
	assert_int_equal(sk_totp_open(KEY, "alice", b, back, sizeof(back), &n), 0);
	assert_memory_equal(back, secret, n);

	/* Another user (the AAD), another key, a short buffer. */
	assert_int_equal(sk_totp_open(KEY, "bob", a, back, sizeof(back), &n), -1);
	assert_int_equal(sk_totp_open(KEY, "alice2", a, back, sizeof(back), &n), -1);
	assert_int_equal(sk_totp_open(KEY, "", a, back, sizeof(back), &n), -1);
	uint8_t other[SK_TOTP_KEY_LEN];
	memcpy(other, KEY, sizeof(other));
	other[31] ^= 1;
	assert_int_equal(sk_totp_open(other, "alice", a, back, sizeof(back), &n), -1);
	assert_int_equal(sk_totp_open(KEY, "alice", a, back, 19, &n), -1);

	/* Every single-bit change anywhere in nonce || ciphertext || tag is refused. */
	uint8_t raw[64];
	int rl = EVP_DecodeBlock(raw, (const unsigned char *)a + 4, (int)strlen(a + 4));
	assert_int_equal(rl, 48); /* 12 + 20 + 16, no padding */
	char *t = sk_malloc(strlen(a) + 1);
	for (int i = 0; i < rl * 8; i++) {
		raw[i / 8] ^= (uint8_t)(1 << (i % 8));
		memcpy(t, "enc:", 4);
		EVP_EncodeBlock((unsigned char *)t + 4, raw, rl);
		assert_int_equal(sk_totp_open(KEY, "alice", t, back, sizeof(back), &n), -1);
		raw[i / 8] ^= (uint8_t)(1 << (i % 8));
	}
	/* Dropping the tag's last bytes, or adding bytes, is refused too. */
	EVP_EncodeBlock((unsigned char *)t + 4, raw, rl - 3);
	assert_int_equal(sk_totp_open(KEY, "alice", t, back, sizeof(back), &n), -1);
	EVP_EncodeBlock((unsigned char *)t + 4, raw, rl);
	assert_int_equal(sk_totp_open(KEY, "alice", t, back, sizeof(back), &n), 0);
	free(t);

	/* The text itself: prefix, base64 shape, blanks, length. */
	char buf[512];
	snprintf(buf, sizeof(buf), "%s", a + 4);
	assert_int_equal(sk_totp_open(KEY, "alice", buf, back, sizeof(back), &n), -1);
	snprintf(buf, sizeof(buf), "ENC:%s", a + 4);
	assert_int_equal(sk_totp_open(KEY, "alice", buf, back, sizeof(back), &n), -1);
	snprintf(buf, sizeof(buf), "%s ", a);
	assert_int_equal(sk_totp_open(KEY, "alice", buf, back, sizeof(back), &n), -1);
	snprintf(buf, sizeof(buf), "%sAAAA", a);
	assert_int_equal(sk_totp_open(KEY, "alice", buf, back, sizeof(back), &n), -1);
	snprintf(buf, sizeof(buf), "%.*s", (int)strlen(a) - 4, a);
	assert_int_equal(sk_totp_open(KEY, "alice", buf, back, sizeof(back), &n), -1);
	snprintf(buf, sizeof(buf), "%s", a);
	buf[10] = buf[10] == '!' ? '?' : '!';
	assert_int_equal(sk_totp_open(KEY, "alice", buf, back, sizeof(back), &n), -1);
	assert_int_equal(sk_totp_open(KEY, "alice", "enc:", back, sizeof(back), &n), -1);
	assert_int_equal(sk_totp_open(KEY, "alice", "", back, sizeof(back), &n), -1);
	memset(buf, 'A', sizeof(buf) - 1);
	memcpy(buf, "enc:", 4);
	buf[sizeof(buf) - 1] = '\0';
	assert_int_equal(sk_totp_open(KEY, "alice", buf, back, sizeof(back), &n), -1);
	/* Lengths: 1 and SK_TOTP_SECRET_MAX bytes seal and open; 0 and more do not seal. */
	char *c = NULL;
	uint8_t big[SK_TOTP_SECRET_MAX + 1] = { 0 };
	assert_int_equal(sk_totp_seal(KEY, "a", big, 0, &c), -1);
	assert_int_equal(sk_totp_seal(KEY, "a", big, sizeof(big), &c), -1);
	assert_int_equal(sk_totp_seal(KEY, "a", big, SK_TOTP_SECRET_MAX, &c), 0);
	assert_int_equal(sk_totp_open(KEY, "a", c, back, sizeof(back), &n), 0);
	assert_int_equal(n, SK_TOTP_SECRET_MAX);
	free(c);
	assert_int_equal(sk_totp_seal(KEY, "a", big, 1, &c), 0);
	assert_int_equal(sk_totp_open(KEY, "a", c, back, sizeof(back), &n), 0);
	assert_int_equal(n, 1);
	free(c);
	free(a);
	free(b);
}

/* A fresh temporary directory's path (static buffer). */
static const char *tmpdir(void)
{
	static char dir[64];
	snprintf(dir, sizeof(dir), "/tmp/totp_test.XXXXXX");
	assert_non_null(mkdtemp(dir));
	return dir;
}

static void write_bytes(const char *path, const void *p, size_t n, mode_t mode)
{
	unlink(path);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, n), (ssize_t)n);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static void key_file(void **state)
{
	const char *dir = tmpdir();
	char path[128];
	snprintf(path, sizeof(path), "%s/totp.key", dir);
	uint8_t k[SK_TOTP_KEY_LEN], k2[SK_TOTP_KEY_LEN];
	struct sk_err err = { 0 };

	/* Missing: load refuses, create makes a 0600 file of 32 bytes, and a second create reads it back. */
	assert_int_equal(sk_totp_key_load(path, k, &err), -1);
	assert_non_null(strstr(err.msg, "cannot open the TOTP key file"));
	assert_string_equal(err.file, path);
	bool created = false;
	assert_int_equal(sk_totp_key_create(path, k, &created, &err), 0);
	assert_true(created);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_size, SK_TOTP_KEY_LEN);
	assert_int_equal(sk_totp_key_create(path, k2, &created, &err), 0);
	assert_false(created);
	assert_memory_equal(k, k2, sizeof(k));
	assert_int_equal(sk_totp_key_load(path, k2, &err), 0);
	assert_memory_equal(k, k2, sizeof(k));

	/* Modes: 0400 is fine; anything wider than 0600 is refused, by load and by create (never replaced). */
	assert_int_equal(chmod(path, 0400), 0);
	assert_int_equal(sk_totp_key_load(path, k2, &err), 0);
	static const mode_t wide[] = { 0640, 0604, 0644, 0700, 0660, 0666 };
	for (size_t i = 0; i < sizeof(wide) / sizeof(wide[0]); i++) {
		assert_int_equal(chmod(path, wide[i]), 0);
		memset(&err, 0, sizeof(err));
		assert_int_equal(sk_totp_key_load(path, k2, &err), -1);
		assert_non_null(strstr(err.msg, "must be 0600 or stricter"));
		assert_int_equal(sk_totp_key_create(path, k2, &created, &err), -1);
		assert_false(created);
	}
	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(sk_totp_key_load(path, k2, &err), 0);
	assert_memory_equal(k, k2, sizeof(k));

	/* Sizes: 31 and 33 bytes, and an empty file, are refused. */
	write_bytes(path, KEY, 31, 0600);
	assert_int_equal(sk_totp_key_load(path, k2, &err), -1);
	assert_non_null(strstr(err.msg, "holds 31 bytes: it must hold exactly 32"));
	uint8_t more[33] = { 0 };
	write_bytes(path, more, 33, 0600);
	assert_int_equal(sk_totp_key_load(path, k2, &err), -1);
	write_bytes(path, more, 0, 0600);
	assert_int_equal(sk_totp_key_create(path, k2, &created, &err), -1);
	/* A directory is not a key file; the message never holds key bytes. */
	assert_int_equal(sk_totp_key_load(dir, k2, &err), -1);
	assert_non_null(strstr(err.msg, "not a regular file"));
	unlink(path);
	rmdir(dir);
}

static void uri(void **state)
{
	char *u = sk_totp_uri("sekisho", "alice", RFC_SECRET, RFC_LEN);
	assert_string_equal(u, "otpauth://totp/sekisho:alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=sekisho");
	free(u);
	u = sk_totp_uri("Acme Corp/IT", "bob@example.com", (const uint8_t *)"foo", 3);
	assert_string_equal(u, "otpauth://totp/Acme%20Corp%2FIT:bob%40example.com?secret=MZXW6&issuer=Acme%20Corp%2FIT");
	free(u);
	u = sk_totp_uri("\xc3\xa9~-._", "a&b=c?d#e%", (const uint8_t *)"f", 1);
	assert_string_equal(u, "otpauth://totp/%C3%A9~-._:a%26b%3Dc%3Fd%23e%25?secret=MY&issuer=%C3%A9~-._");
	free(u);
}

/* Runs a shell command and returns its whole stdout (heap), or NULL when it fails. */
static char *capture(const char *cmd)
{
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	size_t cap = 1 << 16, n = 0;
	char *out = sk_malloc(cap);
	size_t r;
	while ((r = fread(out + n, 1, cap - 1 - n, p)) > 0)
		n += r;
	out[n] = '\0';
	if (pclose(p) != 0) {
		free(out);
		return NULL;
	}
	return out;
}

static void qr(void **state)
{
	const char *text = "otpauth://totp/sekisho:alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=sekisho";
	char *u = sk_totp_qr_utf8(text);
	assert_non_null(u);
	/* Shape: every line has the same number of characters (modules + 2 * 2 quiet zone), and the first
	 * and last lines are blank (quiet zone). */
	size_t lines = 0;
	for (const char *p = u; *p; p++)
		lines += *p == '\n';
	assert_true(lines >= 13);
	assert_true(u[0] == ' ' && u[1] == ' ');
	/* Byte for byte what qrencode draws for the same text, level and margin, dark as foreground. */
	if (system("qrencode -V >/dev/null 2>&1") == 0) {
		char cmd[512];
		snprintf(cmd, sizeof(cmd), "qrencode -l M -m 2 -t UTF8i -o - '%s'", text);
		char *theirs = capture(cmd);
		assert_non_null(theirs);
		assert_string_equal(u, theirs);
		free(theirs);
	}
	free(u);

	/* The PBM image decodes back to the text. */
	char *pbm = sk_totp_qr_pbm(text, 4);
	assert_non_null(pbm);
	assert_memory_equal(pbm, "P1\n", 3);
	if (system("zbarimg --version >/dev/null 2>&1") == 0) {
		char path[] = "/tmp/totp_test_qr.XXXXXX";
		int fd = mkstemp(path);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, pbm, strlen(pbm)), (ssize_t)strlen(pbm));
		close(fd);
		char cmd[256];
		snprintf(cmd, sizeof(cmd), "zbarimg --raw -q 'PBM:%s' 2>/dev/null", path);
		char *decoded = capture(cmd);
		unlink(path);
		assert_non_null(decoded);
		decoded[strcspn(decoded, "\n")] = '\0';
		assert_string_equal(decoded, text);
		free(decoded);
	}
	free(pbm);

	/* Too long for any QR code: NULL, not a crash. */
	size_t big = 8000;
	char *huge = sk_malloc(big + 1);
	memset(huge, 'x', big);
	huge[big] = '\0';
	assert_null(sk_totp_qr_utf8(huge));
	assert_null(sk_totp_qr_pbm(huge, 2));
	free(huge);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(base32_vectors),
		cmocka_unit_test(base32_round_trips),
		cmocka_unit_test(hotp_rfc4226),
		cmocka_unit_test(totp_rfc6238),
		cmocka_unit_test(against_oathtool),
		cmocka_unit_test(verify_window_and_replay),
		cmocka_unit_test(seal_open),
		cmocka_unit_test(key_file),
		cmocka_unit_test(uri),
		cmocka_unit_test(qr),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
