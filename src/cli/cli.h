/*
 * cli.h — one entry point per subcommand (DESIGN §6). Each takes the arguments after its name and
 * returns the process exit code.
 */
#ifndef SK_CLI_H
#define SK_CLI_H

int sk_cli_run(int argc, char **argv);
int sk_cli_check_config(int argc, char **argv);
int sk_cli_cidr(int argc, char **argv);
int sk_cli_passwd(int argc, char **argv);
int sk_cli_apikey(int argc, char **argv);
int sk_cli_totp(int argc, char **argv);
int sk_cli_cert(int argc, char **argv);
int sk_cli_tally(int argc, char **argv);
int sk_cli_ban(int argc, char **argv);
int sk_cli_policy(int argc, char **argv);

struct sk_config;
struct sk_store;
/* Loads the config and opens the state store it names (tally.c). NULL after printing why. */
struct sk_store *sk_cli_open_store(const char *cfg_path, struct sk_config **cfg_out);

#endif
