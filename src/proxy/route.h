/*
 * route.h — Host → distribution and path → behavior (DESIGN §1), plus the request-target and path
 * normalisation rules. Pure functions and an immutable table built from a validated config.
 */
#ifndef SK_ROUTE_H
#define SK_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"
#include "core/core.h"

/*
 * Splits a request-target. Origin-form "/p?q" → path "/p", query "?q" (query includes the '?', or is
 * empty). Absolute-form "http://host[:port]/p?q" (scheme http or https, case-insensitive) → authority
 * "host[:port]" (to be used instead of the Host field), path "/p" ("/" if empty), query. "*" is
 * accepted only when asterisk_ok (OPTIONS) and yields path "*". Anything else (authority-form, relative
 * paths, fragments '#') → -1 (400). Returns 0 on success.
 */
int sk_target_split(struct sk_slice target, bool asterisk_ok, struct sk_slice *authority,
		    struct sk_slice *path, struct sk_slice *query);

/*
 * Normalises a path (starting with '/'): percent-decodes unreserved characters (ALPHA DIGIT - . _ ~),
 * keeps other %XX escapes with upper-case hex, removes "." and ".." segments, merges runs of '/'.
 * A trailing '/' is kept. Rejects (-1 → 400): %2F/%2f, %00, a malformed escape, a ".." that climbs above
 * the root, control bytes, a path not starting with '/'. out must hold path.len bytes (the result is
 * never longer). Returns 0 and sets *out_len.
 */
int sk_path_normalize(struct sk_slice path, char *out, size_t *out_len);

/* Glob match: '*' any run of characters (also empty, also '/'), '?' exactly one; case-sensitive. */
bool sk_pattern_match(const char *pat, struct sk_slice s);

/* Canonical host for matching: strips a ":port" (also from "[v6]:port"), a trailing dot, lower-cases.
 * Writes into out (cap bytes) and returns the length, or -1 when it does not fit or is empty. */
int sk_host_canon(struct sk_slice host, char *out, size_t cap);

struct sk_routes;

/* Builds the lookup table from a validated config (aliases are unique there). Never fails. */
struct sk_routes *sk_routes_build(const struct sk_config *cfg);
void sk_routes_free(struct sk_routes *r);

/*
 * The distribution for a Host (any form: port, trailing dot and case are ignored) reachable through
 * listener listener_idx (an index into cfg->listeners; a distribution with an empty `listeners` list is
 * reachable through every HTTP listener). Exact aliases win over wildcards; among wildcards the longest
 * suffix wins; "*.example.com" matches any name ending in ".example.com" (any depth, like nginx) but not
 * "example.com" itself. NULL → 421.
 */
const struct sk_distribution *sk_routes_find(const struct sk_routes *r, size_t listener_idx,
					     struct sk_slice host);

/* The first behavior of d whose pattern matches the normalised path, or NULL (→ 404). */
const struct sk_behavior *sk_routes_behavior(const struct sk_distribution *d, struct sk_slice path);

#endif
