/*
 * tally.c — `sekisho tally -c FILE [--user U] [--reset]` (DESIGN §6): the lockout tallies in the state
 * store, as pam_tally2 shows them, and the operator's way to unlock accounts.
 *
 * Without --user every account with failures is listed; with --user that account (0 when it has none).
 * --reset clears what was listed and says how many failures it cleared. It works on the store the config
 * names (LMDB under state.path, or Redis), also while the server runs: the next request reads the store.
 * Exit 0: done; 1: the config or the store failed; 2: usage.
 */
#include "cli/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "access/guard.h"
#include "config/config.h"
#include "state/store.h"

static const char USAGE[] = "usage: sekisho tally -c FILE [--user U] [--reset]\n";

struct row {
	char user[SK_GUARD_MAX_USER + 1];
	struct sk_tally t;
};

struct rows {
	struct row *v;
	size_t n, cap;
};

static int add_row(void *arg, const char *user, const struct sk_tally *t)
{
	struct rows *r = arg;
	if (r->n == r->cap) {
		r->cap = r->cap ? 2 * r->cap : 32;
		r->v = realloc(r->v, r->cap * sizeof(*r->v));
		SK_ASSERT(r->v);
	}
	snprintf(r->v[r->n].user, sizeof(r->v[r->n].user), "%s", user);
	r->v[r->n++].t = *t;
	return 0;
}

static int by_user(const void *a, const void *b)
{
	return strcmp(((const struct row *)a)->user, ((const struct row *)b)->user);
}

static void print_row(const struct row *r)
{
	char when[32] = "-";
	if (r->t.latest) {
		time_t s = (time_t)(r->t.latest / 1000);
		struct tm tm;
		gmtime_r(&s, &tm);
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%SZ", &tm);
	}
	printf("%-16s %8u  %-20s  %s\n", r->user, r->t.failures, when, r->t.failures ? r->t.from : "");
}

struct sk_store *sk_cli_open_store(const char *cfg_path, struct sk_config **cfg_out)
{
	struct sk_err err = { 0 };
	struct sk_config *cfg = sk_config_load(cfg_path, &err);
	if (!cfg) {
		char msg[1200];
		sk_err_format(&err, msg, sizeof(msg));
		fprintf(stderr, "%s\n", msg);
		return NULL;
	}
	struct sk_store *st = sk_store_open(cfg->state.path, cfg->state.redis, cfg->state.max_size, &err);
	if (!st) {
		char msg[1200];
		sk_err_format(&err, msg, sizeof(msg));
		fprintf(stderr, "sekisho: %s\n", msg);
		sk_config_free(cfg);
		return NULL;
	}
	*cfg_out = cfg;
	return st;
}

int sk_cli_tally(int argc, char **argv)
{
	const char *cfg_path = NULL, *user = NULL;
	bool reset = false;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			fputs(USAGE, stdout);
			return 0;
		} else if ((strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) && i + 1 < argc) {
			cfg_path = argv[++i];
		} else if ((strcmp(a, "--user") == 0 || strcmp(a, "-u") == 0) && i + 1 < argc) {
			user = argv[++i];
		} else if (strcmp(a, "--reset") == 0 || strcmp(a, "-r") == 0) {
			reset = true;
		} else {
			fprintf(stderr, "sekisho: tally: unexpected argument '%s'\n", a);
			fputs(USAGE, stderr);
			return 2;
		}
	}
	if (!cfg_path) {
		fputs(USAGE, stderr);
		return 2;
	}
	struct sk_config *cfg = NULL;
	struct sk_store *st = sk_cli_open_store(cfg_path, &cfg);
	if (!st)
		return 1;
	int rc = 1;
	struct rows rows = { 0 };
	enum sk_store_rc src;
	if (user) {
		struct row r = { 0 };
		snprintf(r.user, sizeof(r.user), "%s", user);
		src = sk_tally_get(st, user, &r.t);
		if (src != SK_ST_DOWN)
			add_row(&rows, r.user, &r.t);
	} else {
		src = sk_tally_list(st, add_row, &rows);
	}
	if (src == SK_ST_DOWN) {
		fprintf(stderr, "sekisho: tally: the state store is unreachable\n");
		goto out;
	}
	if (rows.n > 1)
		qsort(rows.v, rows.n, sizeof(*rows.v), by_user);
	printf("%-16s %8s  %-20s  %s\n", "Login", "Failures", "Latest failure", "From");
	for (size_t i = 0; i < rows.n; i++)
		print_row(&rows.v[i]);
	if (reset) {
		uint64_t total = 0;
		size_t accounts = 0;
		for (size_t i = 0; i < rows.n; i++) {
			uint32_t cleared = 0;
			if (sk_tally_reset(st, rows.v[i].user, &cleared) == SK_ST_DOWN) {
				fprintf(stderr, "sekisho: tally: the state store is unreachable\n");
				goto out;
			}
			total += cleared;
			accounts += cleared > 0;
		}
		if (user)
			printf("cleared %llu failures of '%s'\n", (unsigned long long)total, user);
		else
			printf("cleared %llu failures of %zu accounts\n", (unsigned long long)total, accounts);
	}
	rc = 0;
out:
	free(rows.v);
	sk_store_close(st);
	sk_config_free(cfg);
	return rc;
}
