/*
 * run.c — `sekisho run -c FILE` (also `sekisho -c FILE`): serve until SIGTERM.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "proxy/proxy.h"

int sk_cli_run(int argc, char **argv)
{
	const char *path = NULL;
	for (int i = 0; i < argc; i++) {
		if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) && i + 1 < argc)
			path = argv[++i];
	}
	if (!path) {
		fprintf(stderr, "usage: sekisho run -c FILE\n");
		return 2;
	}
	return sk_server_run(path);
}
