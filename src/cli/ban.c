/*
 * ban.c — `sekisho ban -c FILE list | add IP [--for D] | remove IP` (DESIGN §6): the fail2ban side of
 * the state store. A running server (every instance sharing the store) applies a change at accept within
 * a second. `--for` takes a duration (default ban.ban_time); `--for 0` bans until removed.
 * Addresses are stored in their canonical text form (an IPv4-mapped IPv6 address as IPv4), the form the
 * server records, so `remove ::ffff:192.0.2.1` lifts the ban on 192.0.2.1.
 * Exit 0: done; 1: the config or the store failed, or remove found no ban; 2: usage.
 */
#include "cli/cli.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "access/guard.h"
#include "config/config.h"
#include "state/store.h"

static const char USAGE[] = "usage: sekisho ban -c FILE list | add IP [--for DURATION] | remove IP\n";

static int usage(void)
{
	fputs(USAGE, stderr);
	return 2;
}

struct entry {
	char ip[64];
	uint64_t until;
};

struct list {
	struct entry *v;
	size_t n, cap;
};

static int add(void *arg, const char *ip, uint64_t until)
{
	struct list *l = arg;
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 32;
		l->v = realloc(l->v, l->cap * sizeof(*l->v));
		SK_ASSERT(l->v);
	}
	snprintf(l->v[l->n].ip, sizeof(l->v[l->n].ip), "%s", ip);
	l->v[l->n++].until = until;
	return 0;
}

static int by_ip(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->ip, ((const struct entry *)b)->ip);
}

static void fmt_until(uint64_t until, char *out, size_t cap)
{
	if (!until) {
		snprintf(out, cap, "until removed");
		return;
	}
	time_t s = (time_t)(until / 1000);
	struct tm tm;
	gmtime_r(&s, &tm);
	strftime(out, cap, "%Y-%m-%d %H:%M:%SZ", &tm);
}

int sk_cli_ban(int argc, char **argv)
{
	const char *cfg_path = NULL, *cmd = NULL, *ip = NULL, *dur = NULL;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			fputs(USAGE, stdout);
			return 0;
		} else if ((strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) && i + 1 < argc) {
			cfg_path = argv[++i];
		} else if (strcmp(a, "--for") == 0 && i + 1 < argc) {
			dur = argv[++i];
		} else if (a[0] == '-' && a[1] && !strchr(a, ':')) {
			fprintf(stderr, "sekisho: ban: unknown option or missing value '%s'\n", a);
			return usage();
		} else if (!cmd) {
			cmd = a;
		} else if (!ip) {
			ip = a;
		} else {
			return usage();
		}
	}
	if (!cfg_path || !cmd)
		return usage();
	bool list = strcmp(cmd, "list") == 0, do_add = strcmp(cmd, "add") == 0, rm = strcmp(cmd, "remove") == 0;
	if (!(list || do_add || rm) || (list && ip) || (!list && !ip) || (dur && !do_add))
		return usage();
	char canon[64] = "";
	if (ip && sk_ban_canonical_ip(ip, canon) == -1) {
		fprintf(stderr, "sekisho: ban: '%s' is not an IP address\n", ip);
		return 2;
	}
	struct sk_config *cfg = NULL;
	struct sk_store *st = sk_cli_open_store(cfg_path, &cfg);
	if (!st)
		return 1;
	int rc = 1;
	uint64_t now = sk_store_wall_ms();
	if (list) {
		struct list l = { 0 };
		if (sk_ban_list(st, add, &l) == SK_ST_DOWN) {
			fprintf(stderr, "sekisho: ban: the state store is unreachable\n");
			free(l.v);
			goto out;
		}
		if (l.n > 1)
			qsort(l.v, l.n, sizeof(*l.v), by_ip);
		printf("%-40s %s\n", "IP", "Banned until");
		for (size_t i = 0; i < l.n; i++) {
			char when[40];
			fmt_until(l.v[i].until, when, sizeof(when));
			printf("%-40s %s\n", l.v[i].ip, when);
		}
		free(l.v);
		rc = 0;
	} else if (do_add) {
		uint64_t ms = cfg->ban.ban_time_ms;
		if (dur && sk_parse_duration_ms(dur, &ms) == -1) {
			fprintf(stderr, "sekisho: ban: --for takes a duration such as 30m, 1h or 7d (0: until removed)\n");
			rc = 2;
			goto out;
		}
		uint64_t until = ms ? (ms > UINT64_MAX - now ? UINT64_MAX : now + ms) : 0; /* no wrap into the past */
		if (sk_ban_add(st, canon, until) == SK_ST_DOWN) {
			fprintf(stderr, "sekisho: ban: the state store is unreachable\n");
			goto out;
		}
		char when[40];
		fmt_until(until, when, sizeof(when));
		printf("banned %s %s%s\n", canon, until ? "until " : "", when);
		rc = 0;
	} else {
		enum sk_store_rc r = sk_ban_remove(st, canon);
		if (r == SK_ST_DOWN) {
			fprintf(stderr, "sekisho: ban: the state store is unreachable\n");
		} else if (r == SK_ST_ABSENT) {
			fprintf(stderr, "sekisho: ban: %s is not banned\n", canon);
		} else {
			printf("unbanned %s\n", canon);
			rc = 0;
		}
	}
out:
	sk_store_close(st);
	sk_config_free(cfg);
	return rc;
}
