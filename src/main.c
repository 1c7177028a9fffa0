/*
 * main.c — command dispatch only (DESIGN §6).
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static int usage(FILE *out)
{
	fprintf(out, "usage: sekisho run -c FILE            serve (also: sekisho -c FILE)\n"
		     "       sekisho check-config -c FILE   validate a configuration\n"
		     "       sekisho cidr replace --from CIDR --to CIDR [--dry-run] FILE...\n"
		     "       sekisho passwd -f USERS USER [--stdin] [--algo argon2id|bcrypt]\n"
		     "       sekisho apikey -f KEYS create NAME [--groups a,b] [--owner U] | list | revoke NAME\n"
		     "       sekisho totp -c FILE enroll USER   otpauth:// URI and QR code for an authenticator\n"
		     "       sekisho tally -c FILE [--user U] [--reset]   lockout failures per account\n"
		     "       sekisho ban -c FILE list | add IP [--for 1h] | remove IP\n"
		     "       sekisho cert -c FILE add NAME --cert F --key F [--chain F] | list | delete NAME\n"
		     "       sekisho policy simulate -c FILE (--user U [--groups a,b] | --key NAME) --method M --url URL\n"
		     "              [--ip IP] [--context k=v]...   which statement decides, and why\n"
		     "       sekisho policy check FILE      validate a policy document\n"
		     "       sekisho version\n");
	return out == stderr ? 2 : 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage(stderr);
	const char *cmd = argv[1];
	if (strcmp(cmd, "run") == 0)
		return sk_cli_run(argc - 2, argv + 2);
	if (strcmp(cmd, "-c") == 0 || strcmp(cmd, "--config") == 0)
		return sk_cli_run(argc - 1, argv + 1);
	if (strcmp(cmd, "check-config") == 0)
		return sk_cli_check_config(argc - 2, argv + 2);
	if (strcmp(cmd, "cidr") == 0)
		return sk_cli_cidr(argc - 2, argv + 2);
	if (strcmp(cmd, "passwd") == 0)
		return sk_cli_passwd(argc - 2, argv + 2);
	if (strcmp(cmd, "apikey") == 0)
		return sk_cli_apikey(argc - 2, argv + 2);
	if (strcmp(cmd, "totp") == 0)
		return sk_cli_totp(argc - 2, argv + 2);
	if (strcmp(cmd, "tally") == 0)
		return sk_cli_tally(argc - 2, argv + 2);
	if (strcmp(cmd, "ban") == 0)
		return sk_cli_ban(argc - 2, argv + 2);
	if (strcmp(cmd, "policy") == 0)
		return sk_cli_policy(argc - 2, argv + 2);
	if (strcmp(cmd, "cert") == 0)
		return sk_cli_cert(argc - 2, argv + 2);
	if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
		printf("sekisho 0.1.0\n");
		return 0;
	}
	if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0)
		return usage(stdout);
	fprintf(stderr, "sekisho: unknown command '%s'\n", cmd);
	return usage(stderr);
}
