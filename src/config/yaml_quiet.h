/*
 * yaml_quiet.h — libfyaml set up the way every YAML reader in sekisho wants it: nothing printed,
 * errors collected so that the caller reports the first one once, as file:line:col.
 */
#ifndef SK_YAML_QUIET_H
#define SK_YAML_QUIET_H

#include <libfyaml.h>
#include <stddef.h>

/* A diagnostic object that prints nothing and collects errors; NULL on allocation failure. */
struct fy_diag *sk_yaml_quiet_diag(void);
/* The parse configuration to pass to libfyaml with that diagnostic object. */
struct fy_parse_cfg sk_yaml_quiet_cfg(struct fy_diag *diag);
/* An event parser over buf[0..len) reporting into diag; NULL on failure. */
struct fy_parser *sk_yaml_quiet_parser(struct fy_diag *diag, const char *buf, size_t len);
/* The first error diag collected: sets *line and *col (1-based, 0 = unknown) and returns its message,
 * or "invalid YAML" when libfyaml gave none. */
const char *sk_yaml_first_error(struct fy_diag *diag, int *line, int *col);

#endif
