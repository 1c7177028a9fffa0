/*
 * config_int.h — internals shared by the files of src/config/ (and by the module's own unit test and
 * fuzz target): the YAML tree with positions (yaml.c), the loading context and the typed value readers
 * (read.c), and the schema sections (config.c, sections.c, routes.c).
 *
 * Invariants: every struct sk_cnode knows its 1-based line and column; a scalar's text is NUL-terminated
 * and holds no NUL; mapping keys are scalars and unique (checked while building the tree). The readers
 * fill ctx->err with file:line:col and return -1 on the first problem; nothing here prints.
 */
#ifndef SK_CONFIG_INT_H
#define SK_CONFIG_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "core/core.h"

/* ---- the YAML tree (yaml.c) -------------------------------------------------------------------- */

enum sk_cnode_type { SK_CN_SCALAR = 0, SK_CN_MAP, SK_CN_SEQ };

struct sk_cnode {
	enum sk_cnode_type type;
	int line; /* 1-based */
	int col;  /* 1-based */
	bool plain; /* a plain (unquoted) scalar: only those can mean null */
	char *str;  /* scalar text, NUL-terminated */
	/* Children: a sequence's items, or a mapping's key0, value0, key1, value1, ... */
	struct sk_cnode **kids;
	size_t n;
	size_t cap;
};

#define SK_CN_PAIRS(map) ((map)->n / 2)
#define SK_CN_KEY(map, i) ((map)->kids[2 * (i)])
#define SK_CN_VAL(map, i) ((map)->kids[2 * (i) + 1])

/*
 * Parses buf[0..len) as one YAML document into a tree. `file` is used for error messages only.
 * An empty document yields an empty mapping. Returns 0 with *out owned by the caller (free it with
 * sk_cfg_node_free), or -1 with err filled. Anchors and aliases are expanded into copies (bounded).
 */
int sk_cfg_yaml_parse(const char *file, const char *buf, size_t len, struct sk_cnode **out,
		      struct sk_err *err);
/* The same for a JSON document (libfyaml's JSON mode): policy documents (src/policy/) use this tree too,
 * so that their errors carry file:line:col like the config's. */
int sk_cfg_json_parse(const char *file, const char *buf, size_t len, struct sk_cnode **out,
		      struct sk_err *err);
void sk_cfg_node_free(struct sk_cnode *n);

/* ---- loading context and value readers (read.c) ----------------------------------------------- */

struct sk_cfg_ctx {
	const char *file; /* config file name as given, for messages */
	char *dir;        /* absolute directory of the config file: base of relative paths */
	struct sk_err *err;
	struct sk_config *cfg;
};

/* Sets the error at a node's position (or the file alone when at is NULL). Always returns -1. */
int sk_cfg_fail(struct sk_cfg_ctx *c, const struct sk_cnode *at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* "a mapping", "a list", "nothing" or the quoted scalar (shortened), for "must be X, not Y" messages. */
const char *sk_cfg_describe(const struct sk_cnode *n, char *buf, size_t cap);

bool sk_cfg_is_null(const struct sk_cnode *n);
/* The value (or key node) for key in map; NULL when absent. map may be NULL. */
struct sk_cnode *sk_cfg_get(const struct sk_cnode *map, const char *key);
struct sk_cnode *sk_cfg_get_key(const struct sk_cnode *map, const char *key);
/* Fails on the first key of map that is not in the NULL-terminated list; where = "in listener 'web'". */
int sk_cfg_check_keys(struct sk_cfg_ctx *c, const struct sk_cnode *map, const char *const *keys,
		      const char *where);
/* Fails unless n is of the given collection type (null is accepted as empty). what = "'tls'". */
int sk_cfg_want(struct sk_cfg_ctx *c, const struct sk_cnode *n, enum sk_cnode_type type, const char *what);
/* Fails when key is absent or null in map: "<whose> needs '<key>'". */
int sk_cfg_require(struct sk_cfg_ctx *c, const struct sk_cnode *map, const char *key, const char *whose);
/* A non-null scalar's text, or NULL with an error "<what> must be a string, not ..." */
const char *sk_cfg_scalar(struct sk_cfg_ctx *c, const struct sk_cnode *n, const char *what);

/*
 * Optional typed values of map[key]: when the key is absent or null, *out is left as it is (the
 * default); otherwise the value is checked and stored (strings replace and free the previous one).
 */
int sk_cfg_str(struct sk_cfg_ctx *c, const struct sk_cnode *map, const char *key, char **out);
int sk_cfg_bool(struct sk_cfg_ctx *c, const struct sk_cnode *map, const char *key, bool *out);
int sk_cfg_uint(struct sk_cfg_ctx *c, const struct sk_cnode *map, const char *key, uint64_t min,
		uint64_t max, uint64_t *out);
int sk_cfg_duration(struct sk_cfg_ctx *c, const struct sk_cnode *map, const char *key, uint64_t *out);
/* A size in bytes ("64MiB", "1GiB", a bare number of bytes) from min to max. */
int sk_cfg_size(struct sk_cfg_ctx *c, const struct sk_cnode *map, const char *key, uint64_t min, uint64_t max,
		uint64_t *out);
/* A file path, resolved against the config file's directory. */
int sk_cfg_path(struct sk_cfg_ctx *c, const struct sk_cnode *map, const char *key, char **out);
/* A list of strings; each item is checked with check (may be NULL) before it is kept. */
typedef int (*sk_cfg_item_check_fn)(struct sk_cfg_ctx *c, const struct sk_cnode *item, char **text);
int sk_cfg_strlist(struct sk_cfg_ctx *c, const struct sk_cnode *map, const char *key,
		   struct sk_strlist *out, sk_cfg_item_check_fn check);
/* A list of CIDRs written inline. */
int sk_cfg_cidrlist(struct sk_cfg_ctx *c, const struct sk_cnode *list, const char *what,
		    struct sk_cidrlist *out);

/* Absolute form of a path from the config: "/x" stays, "x" and "./x" become "<dir>/x". */
char *sk_cfg_resolve(const struct sk_cfg_ctx *c, const char *path);
/* Names of listeners, origins, sets...: 1-64 of [A-Za-z0-9_.-]. */
bool sk_cfg_name_ok(const char *s);
/* Fails unless the name written as mapping key k is sk_cfg_name_ok; kind names what it names ("policy"). */
int sk_cfg_check_name(struct sk_cfg_ctx *c, const struct sk_cnode *k, const char *kind);
bool sk_cfg_token_ok(const char *s); /* an HTTP token (header names) */
void sk_cfg_strlist_push(struct sk_strlist *l, char *item, struct sk_pos pos);
void sk_cfg_strlist_free(struct sk_strlist *l);
void sk_cfg_cidrlist_push(struct sk_cidrlist *l, const struct sk_cidr *cidr, struct sk_pos pos);
struct sk_pos sk_cfg_pos(const struct sk_cnode *n);

/* ---- schema sections ------------------------------------------------------------------------- */

/* sections.c: the global keys (workers ... timeouts), certificates and ip_sets. */
int sk_cfg_globals(struct sk_cfg_ctx *c, const struct sk_cnode *root);
int sk_cfg_certificates(struct sk_cfg_ctx *c, const struct sk_cnode *root);
int sk_cfg_ip_sets(struct sk_cfg_ctx *c, const struct sk_cnode *root);
/* policies.c: `policies: { name: FILE }` and `groups: { g: { policies: [...] } }`. */
int sk_cfg_policies(struct sk_cfg_ctx *c, const struct sk_cnode *root);
/* Reads a set file (one CIDR per line, '#' comments); errors name the set file and its line. */
/* admin.access, like a behavior's, less what needs a distribution's pages (session, mfa). */
int sk_cfg_admin_access(struct sk_cfg_ctx *c, const struct sk_cnode *root);
int sk_cfg_read_set_file(struct sk_cfg_ctx *c, const struct sk_cnode *at, const char *path,
			 struct sk_cidrlist *out);

/* jwt.c: the `jwt:` section (issuers), and freeing it. */
int sk_cfg_jwt(struct sk_cfg_ctx *c, const struct sk_cnode *root);
void sk_cfg_jwt_free(struct sk_config *cfg);

/* routes.c: listeners, origins, distributions, then every cross-reference between them. */
/* Origin servers written as names are resolved at load (default); the fuzz target turns this off so that
 * no input reaches DNS, and names are then refused like any other non-address. */
extern bool sk_cfg_resolve_names;
int sk_cfg_origins(struct sk_cfg_ctx *c, const struct sk_cnode *root);
int sk_cfg_listeners(struct sk_cfg_ctx *c, const struct sk_cnode *root);
int sk_cfg_distributions(struct sk_cfg_ctx *c, const struct sk_cnode *root);
/* access.c: an `access:` block at m (absent: an empty one) for a behavior, the admin listener or an egress
 * entry; where names its owner in messages ("egress 'out'"). */
int sk_cfg_access(struct sk_cfg_ctx *c, const struct sk_cnode *m, struct sk_access *a, const char *where);

/* egress.c: the `egress:` entries (after listeners and ip_sets, whose names and addresses they meet). */
int sk_cfg_egress(struct sk_cfg_ctx *c, const struct sk_cnode *root);
void sk_cfg_egress_free(struct sk_config *cfg);
/* The access block's fields freed (config.c), shared with egress.c. */
void sk_cfg_access_free(struct sk_access *a);

/* Expands ${NAME} from the environment. Returns a fresh string, or NULL with err set at n. */
char *sk_cfg_expand_env(struct sk_cfg_ctx *c, const struct sk_cnode *n, const char *s);

/*
 * Like sk_config_load() but reads the YAML from memory; `name` stands for the file in messages and its
 * directory is the base of relative paths (the current directory when it has none).
 */
struct sk_config *sk_config_load_buffer(const char *name, const char *buf, size_t len, struct sk_err *err);

#endif
