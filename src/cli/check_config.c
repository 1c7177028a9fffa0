/*
 * check_config.c — `sekisho check-config -c FILE`: loads the configuration exactly as `run` would and
 * reports the first problem as FILE:LINE:COL: message. The only place of the config path that prints.
 * Beyond the file itself it builds the runtime snapshot as `run` does (sk_runtime_check: the same code, so
 * the same refusals and messages): certificates, users, API keys, the country database, key files.
 * Invariants: nothing is started, bound, created or opened for writing; exit 0 OK, 1 invalid, 2 usage.
 */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

#include "config/config.h"
#include "core/core.h"
#include "proxy/proxy.h"

static int usage(void)
{
	fprintf(stderr, "usage: sekisho check-config -c FILE\n");
	return 2;
}

int sk_cli_check_config(int argc, char **argv)
{
	const char *file = NULL;
	/* argv holds the arguments after "check-config" (see cli.h); accept -c FILE, -cFILE, --config FILE
	 * and --config=FILE. */
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) {
			if (++i >= argc)
				return usage();
			file = argv[i];
		} else if (strncmp(a, "-c", 2) == 0 && a[2]) {
			file = a + 2;
		} else if (strncmp(a, "--config=", 9) == 0) {
			file = a + 9;
		} else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			printf("usage: sekisho check-config -c FILE\n");
			return 0;
		} else {
			return usage();
		}
	}
	if (!file || !*file)
		return usage();

	struct sk_err err = { 0 };
	struct sk_config *cfg = sk_config_load(file, &err);
	if (!cfg || sk_runtime_check(cfg, &err) == -1) {
		char line[sizeof(err.file) + sizeof(err.msg) + 32];
		sk_err_format(&err, line, sizeof(line));
		fprintf(stderr, "%s\n", line);
		return 1;
	}
	printf("configuration OK\n");
	return 0;
}
