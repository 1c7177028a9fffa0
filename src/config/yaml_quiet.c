/*
 * yaml_quiet.c — quiet libfyaml set-up shared by the config loader, the users/API-key stores and the CLI
 * editors (see yaml_quiet.h).
 */
#include "config/yaml_quiet.h"

static void quiet_output(struct fy_diag *diag, void *user, const char *buf, size_t len)
{
	(void)diag;
	(void)user;
	(void)buf;
	(void)len;
}

struct fy_diag *sk_yaml_quiet_diag(void)
{
	struct fy_diag_cfg dcfg;
	fy_diag_cfg_default(&dcfg);
	dcfg.fp = NULL;
	dcfg.output_fn = quiet_output;
	dcfg.colorize = false;
	struct fy_diag *diag = fy_diag_create(&dcfg);
	if (diag)
		fy_diag_set_collect_errors(diag, true);
	return diag;
}

struct fy_parse_cfg sk_yaml_quiet_cfg(struct fy_diag *diag)
{
	return (struct fy_parse_cfg){ .flags = FYPCF_QUIET, .diag = diag };
}

struct fy_parser *sk_yaml_quiet_parser(struct fy_diag *diag, const char *buf, size_t len)
{
	struct fy_parse_cfg pcfg = sk_yaml_quiet_cfg(diag);
	struct fy_parser *fyp = fy_parser_create(&pcfg);
	if (fyp && fy_parser_set_string(fyp, len ? buf : "", len) != 0) {
		fy_parser_destroy(fyp);
		return NULL;
	}
	return fyp;
}

const char *sk_yaml_first_error(struct fy_diag *diag, int *line, int *col)
{
	void *it = NULL;
	struct fy_diag_error *de;
	while ((de = fy_diag_errors_iterate(diag, &it)))
		if (de->type >= FYET_ERROR)
			break;
	*line = de && de->line > 0 ? de->line : 0;
	*col = de && de->column > 0 ? de->column : 0;
	return de && de->msg ? de->msg : "invalid YAML";
}
