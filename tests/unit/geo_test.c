/*
 * geo_test.c — country lookups against databases written at test time by tests/data/make-mmdb
 * (MaxMind::DB::Writer, from libmaxmind-db-writer-perl), in both record layouts: IPv4, IPv6 and
 * v4-mapped addresses, addresses outside the database, values that are not a country code, an
 * IPv4-only database asked about IPv6, missing / empty / corrupt / truncated files, and lookups from
 * several threads on one database. When data/country.mmdb exists (scripts/fetch-geoip), a smoke test
 * checks that 8.8.8.8 is "US" in the real database; without it that test is reported as skipped.
 *
 * The source root (for tests/data/make-mmdb and data/country.mmdb) is $SK_SRCDIR, else found from
 * __FILE__ or the working directory (meson runs the test in tests/unit). Scratch files go into a
 * mkdtemp directory that is removed at the end.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "access/geo.h"

/* The records every generated database holds. Lower-case "us", "USA" and "1A" are there to be
 * upper-cased and refused respectively; 0.0.0.0/8 is left out on purpose (a miss). */
#define PAIRS                                                                                      \
	"127.0.0.0/8=JP 10.0.0.0/8=KP 2001:db8::/32=DE ::1/128=JP 192.0.2.0/24=us "                \
	"198.51.100.0/24=USA 203.0.113.0/24=1A"

static char srcdir[PATH_MAX];
static char tmpdir[] = "/tmp/sk-geo-test.XXXXXX";

/* Databases (NULL when they could not be made, so the tests fail loudly rather than crash). */
static struct sk_geo *iso;    /* {"country": {"iso_code"}}, IPv6 tree with MaxMind's aliases */
static struct sk_geo *code;   /* {"country_code"}, IPv6 tree without aliases (like the npm one) */
static struct sk_geo *v4only; /* {"country_code"}, IPv4 tree */

/* Sets dst to "dir/rel". */
static void join(char *dst, size_t cap, const char *dir, const char *rel)
{
	int n = snprintf(dst, cap, "%s/%s", dir, rel);
	if (n < 0 || (size_t)n >= cap)
		fail_msg("path too long: %s/%s", dir, rel);
}

static int has_script(const char *root)
{
	char p[PATH_MAX];
	join(p, sizeof(p), root, "tests/data/make-mmdb");
	return access(p, X_OK) == 0;
}

/* Finds the source root: $SK_SRCDIR, the root named by __FILE__ (absolute, or relative to a build
 * directory we run from), then the working directory (tests/unit under meson, or the root itself). */
static int find_srcdir(void)
{
	char cand[PATH_MAX];
	const char *env = getenv("SK_SRCDIR");
	if (env && has_script(env))
		return snprintf(srcdir, sizeof(srcdir), "%s", env) > 0;

	snprintf(cand, sizeof(cand), "%s", __FILE__);
	char *cut = strstr(cand, "tests/unit/geo_test.c");
	if (cut) {
		*cut = '\0';
		if (cand[0] == '\0')
			snprintf(cand, sizeof(cand), ".");
		if (has_script(cand))
			return realpath(cand, srcdir) != NULL;
	}
	static const char *const rel[] = { "../..", "." };
	for (size_t i = 0; i < SK_ARRAY_LEN(rel); i++)
		if (has_script(rel[i]))
			return realpath(rel[i], srcdir) != NULL;
	return 0;
}

/* Runs make-mmdb with env (e.g. "MAKE_MMDB_ALIAS=0", may be "") into tmpdir/name. 0 on success. */
static int make_db(const char *env, const char *name, const char *layout, const char *pairs)
{
	char cmd[2 * PATH_MAX + 512];
	snprintf(cmd, sizeof(cmd), "%s '%s/tests/data/make-mmdb' '%s/%s' %s %s", env, srcdir, tmpdir, name,
		 layout, pairs);
	int rc = system(cmd);
	if (rc != 0)
		fprintf(stderr, "geo_test: failed (%d): %s\n", rc, cmd);
	return rc == 0 ? 0 : -1;
}

static struct sk_geo *open_tmp(const char *name)
{
	char p[PATH_MAX];
	struct sk_err err = { 0 };
	join(p, sizeof(p), tmpdir, name);
	struct sk_geo *g = sk_geo_open(p, &err);
	if (!g) {
		char msg[1024];
		sk_err_format(&err, msg, sizeof(msg));
		fprintf(stderr, "geo_test: %s\n", msg);
	}
	return g;
}

/* Writes n bytes (from fill, or a fixed pseudo-random sequence when fill is NULL) to tmpdir/name. */
static void write_tmp(const char *name, const void *fill, size_t n)
{
	char p[PATH_MAX];
	join(p, sizeof(p), tmpdir, name);
	FILE *f = fopen(p, "wb");
	assert_non_null(f);
	uint32_t x = 2463534242u;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13, x ^= x >> 17, x ^= x << 5; /* xorshift32: reproducible "random" bytes */
		fputc(fill ? ((const unsigned char *)fill)[i] : (int)(x & 0xff), f);
	}
	assert_int_equal(fclose(f), 0);
}

static int setup(void **state)
{
	if (!find_srcdir()) {
		fprintf(stderr, "geo_test: cannot find tests/data/make-mmdb (set SK_SRCDIR to the source root)\n");
		return -1;
	}
	if (!mkdtemp(tmpdir)) {
		perror("geo_test: mkdtemp");
		return -1;
	}
	if (make_db("", "iso.mmdb", "iso_code", PAIRS) == 0)
		iso = open_tmp("iso.mmdb");
	if (make_db("MAKE_MMDB_ALIAS=0", "code.mmdb", "country_code", PAIRS) == 0)
		code = open_tmp("code.mmdb");
	if (make_db("MAKE_MMDB_IP_VERSION=4", "v4.mmdb", "country_code", "10.0.0.0/8=KP") == 0)
		v4only = open_tmp("v4.mmdb");
	return 0;
}

static int teardown(void **state)
{
	sk_geo_close(iso);
	sk_geo_close(code);
	sk_geo_close(v4only);
	char cmd[PATH_MAX + 32];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (strncmp(tmpdir, "/tmp/sk-geo-test.", 17) == 0 && system(cmd) != 0)
		fprintf(stderr, "geo_test: could not remove %s\n", tmpdir);
	return 0;
}

/* Looks up a textual address; returns the code, or "-" for a miss (cc must then be ""). */
static const char *cc_of(const struct sk_geo *g, const char *ip)
{
	static char out[3];
	uint8_t a[16];
	int family = AF_UNSPEC;
	if (inet_pton(AF_INET, ip, a) == 1)
		family = AF_INET;
	else if (inet_pton(AF_INET6, ip, a) == 1)
		family = AF_INET6;
	else
		fail_msg("bad test address %s", ip);
	assert_non_null(g);
	memset(out, 'x', sizeof(out));
	if (!sk_geo_lookup(g, family, a, out)) {
		assert_string_equal(out, "");
		return "-";
	}
	assert_int_equal(strlen(out), 2);
	return out;
}

static void v4_lookups(void **state)
{
	const struct sk_geo *dbs[] = { iso, code };
	for (size_t i = 0; i < SK_ARRAY_LEN(dbs); i++) {
		assert_string_equal(cc_of(dbs[i], "127.0.0.1"), "JP");
		assert_string_equal(cc_of(dbs[i], "127.255.255.255"), "JP");
		assert_string_equal(cc_of(dbs[i], "10.0.0.0"), "KP");
		assert_string_equal(cc_of(dbs[i], "10.200.3.4"), "KP");
		assert_string_equal(cc_of(dbs[i], "192.0.2.77"), "US"); /* stored as "us" */
	}
}

static void v6_lookups(void **state)
{
	const struct sk_geo *dbs[] = { iso, code };
	for (size_t i = 0; i < SK_ARRAY_LEN(dbs); i++) {
		assert_string_equal(cc_of(dbs[i], "2001:db8::1"), "DE");
		assert_string_equal(cc_of(dbs[i], "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"), "DE");
		assert_string_equal(cc_of(dbs[i], "::1"), "JP");
		/* IPv4 lives at ::/96 of an IPv6 tree, so the IPv4-compatible form finds it too. */
		assert_string_equal(cc_of(dbs[i], "::10.1.2.3"), "KP");
	}
}

/* code.mmdb has no ::ffff:0:0/96 alias: only the reader's conversion to IPv4 can find these. */
static void v4_mapped_lookups(void **state)
{
	const struct sk_geo *dbs[] = { iso, code };
	for (size_t i = 0; i < SK_ARRAY_LEN(dbs); i++) {
		assert_string_equal(cc_of(dbs[i], "::ffff:127.0.0.1"), "JP");
		assert_string_equal(cc_of(dbs[i], "::ffff:10.9.8.7"), "KP");
		assert_string_equal(cc_of(dbs[i], "::ffff:192.0.2.1"), "US");
		assert_string_equal(cc_of(dbs[i], "::ffff:8.8.8.8"), "-");
	}
}

static void not_in_database(void **state)
{
	const struct sk_geo *dbs[] = { iso, code };
	for (size_t i = 0; i < SK_ARRAY_LEN(dbs); i++) {
		assert_string_equal(cc_of(dbs[i], "8.8.8.8"), "-");
		assert_string_equal(cc_of(dbs[i], "0.0.0.0"), "-");
		assert_string_equal(cc_of(dbs[i], "11.0.0.0"), "-");
		assert_string_equal(cc_of(dbs[i], "255.255.255.255"), "-");
		assert_string_equal(cc_of(dbs[i], "2001:db9::1"), "-");
		assert_string_equal(cc_of(dbs[i], "::2"), "-");
		assert_string_equal(cc_of(dbs[i], "ffff::1"), "-");
	}
}

/* "USA" and "1A" are in the database but are not country codes. */
static void not_a_country_code(void **state)
{
	const struct sk_geo *dbs[] = { iso, code };
	for (size_t i = 0; i < SK_ARRAY_LEN(dbs); i++) {
		assert_string_equal(cc_of(dbs[i], "198.51.100.1"), "-");
		assert_string_equal(cc_of(dbs[i], "203.0.113.1"), "-");
	}
}

/* The aliases MaxMind's writer adds (6to4 2002::/16) are found in iso.mmdb and not in code.mmdb. */
static void aliases_come_from_the_database(void **state)
{
	assert_string_equal(cc_of(iso, "2002:a00:1::"), "KP"); /* 6to4 of 10.0.0.1 */
	assert_string_equal(cc_of(code, "2002:a00:1::"), "-");
}

/* An IPv4-only database answers IPv4 and v4-mapped, and IPv6 is a miss (an MMDB error, not a crash). */
static void ipv4_only_database(void **state)
{
	assert_string_equal(cc_of(v4only, "10.1.1.1"), "KP");
	assert_string_equal(cc_of(v4only, "::ffff:10.1.1.1"), "KP");
	assert_string_equal(cc_of(v4only, "11.1.1.1"), "-");
	assert_string_equal(cc_of(v4only, "2001:db8::1"), "-");
}

static void missing_file(void **state)
{
	char p[PATH_MAX], msg[1024];
	struct sk_err err = { 0 };
	join(p, sizeof(p), tmpdir, "no-such.mmdb");
	assert_null(sk_geo_open(p, &err));
	sk_err_format(&err, msg, sizeof(msg));
	assert_string_equal(err.file, p);
	assert_non_null(strstr(msg, p));
	assert_non_null(strstr(msg, "cannot open"));
	assert_non_null(strstr(msg, "No such file"));
	/* A NULL err is allowed (the caller only wants to know whether it opened). */
	assert_null(sk_geo_open(p, NULL));
}

static void bad_files(void **state)
{
	char p[PATH_MAX], msg[1024];
	struct sk_err err;

	write_tmp("random.mmdb", NULL, 65536);
	write_tmp("empty.mmdb", "", 0);

	/* Half of a real database: the metadata (at the end) is gone. */
	char full[PATH_MAX];
	join(full, sizeof(full), tmpdir, "iso.mmdb");
	FILE *f = fopen(full, "rb");
	assert_non_null(f);
	static unsigned char buf[1 << 16];
	size_t n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	assert_true(n > 64 && n < sizeof(buf));
	write_tmp("half.mmdb", buf, n / 2);

	static const char *const names[] = { "random.mmdb", "empty.mmdb", "half.mmdb", "." };
	for (size_t i = 0; i < SK_ARRAY_LEN(names); i++) {
		memset(&err, 0, sizeof(err));
		join(p, sizeof(p), tmpdir, names[i]); /* "." is the directory itself */
		assert_null(sk_geo_open(p, &err));
		sk_err_format(&err, msg, sizeof(msg));
		assert_non_null(strstr(msg, p));
		assert_non_null(strstr(msg, "cannot open"));
	}
	sk_geo_close(NULL); /* closing nothing is allowed, like free(NULL) */
}

#define THREADS 4
#define ROUNDS 20000

static void *lookup_worker(void *arg)
{
	const struct sk_geo *g = arg;
	uint8_t v4[4] = { 10, 0, 0, 0 };
	uint8_t v6[16] = { 0x20, 0x01, 0x0d, 0xb8 };
	for (int i = 0; i < ROUNDS; i++) {
		char cc[3];
		v4[1] = (uint8_t)i;
		v6[15] = (uint8_t)i;
		if (!sk_geo_lookup(g, AF_INET, v4, cc) || strcmp(cc, "KP") != 0)
			return (void *)1;
		if (!sk_geo_lookup(g, AF_INET6, v6, cc) || strcmp(cc, "DE") != 0)
			return (void *)1;
	}
	return NULL;
}

/* One open database, read from several threads at once with no lock. */
static void concurrent_lookups(void **state)
{
	pthread_t t[THREADS];
	assert_non_null(code);
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, lookup_worker, code), 0);
	for (int i = 0; i < THREADS; i++) {
		void *rc;
		assert_int_equal(pthread_join(t[i], &rc), 0);
		assert_null(rc);
	}
}

/* The real database from scripts/fetch-geoip, when present (it is not in git). */
static void real_database_smoke(void **state)
{
	char p[PATH_MAX], msg[1024];
	join(p, sizeof(p), srcdir, "data/country.mmdb");
	if (access(p, R_OK) != 0) {
		fprintf(stderr, "geo_test: %s is absent (run scripts/fetch-geoip); skipping the real-database "
				"smoke test\n", p);
		skip();
	}
	struct sk_err err = { 0 };
	struct sk_geo *g = sk_geo_open(p, &err);
	if (!g) {
		sk_err_format(&err, msg, sizeof(msg));
		fail_msg("%s", msg);
	}
	assert_string_equal(cc_of(g, "8.8.8.8"), "US");
	assert_string_equal(cc_of(g, "::ffff:8.8.8.8"), "US"); /* not aliased in this database */
	assert_string_equal(cc_of(g, "2001:4860:4860::8888"), "US");
	assert_string_equal(cc_of(g, "127.0.0.1"), "-");
	sk_geo_close(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(v4_lookups),
		cmocka_unit_test(v6_lookups),
		cmocka_unit_test(v4_mapped_lookups),
		cmocka_unit_test(not_in_database),
		cmocka_unit_test(not_a_country_code),
		cmocka_unit_test(aliases_come_from_the_database),
		cmocka_unit_test(ipv4_only_database),
		cmocka_unit_test(missing_file),
		cmocka_unit_test(bad_files),
		cmocka_unit_test(concurrent_lookups),
		cmocka_unit_test(real_database_smoke),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
