/*
 * policy.h — IAM-style policy documents (DESIGN §3 "Policies"): JSON documents read once per snapshot
 * into a compiled form, and a pure evaluator that follows the AWS IAM evaluation logic (explicit Deny
 * beats Allow; no Allow is an implicit deny).
 *
 * The evaluator takes a protocol-neutral request context (struct sk_policy_ctx: no HTTP parser type in
 * it) and does no I/O and no allocation. A compiled document keeps, per HTTP method, the statements
 * whose Action can match that method, deny statements apart from allow ones, and within a method those
 * confined to one literal host under that host, so a request only visits statements that can apply to
 * its method and host. Compiled documents are immutable: any number of threads may evaluate them at once.
 *
 * Attachment (users, groups, API keys; JWT issuers later) is the caller's business: it passes the list of
 * documents that apply to the identity.
 */
#ifndef SK_POLICY_H
#define SK_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

/* A policy file larger than this is not a policy (AWS caps managed policies at 6 KiB). */
#define SK_POLICY_MAX_BYTES (1u << 20)

struct sk_policy;

/* The longest host and path a resource is made of (a request line and a DNS name); a request with a
 * longer one is allowed by nothing (implicit deny). */
#define SK_POLICY_HOST_MAX 255
#define SK_POLICY_PATH_MAX 16384

/* A value the caller supplies for a condition key, overriding what the context says (the simulator's
 * --context k=v). Several entries with the same key make a multi-valued key. */
struct sk_policy_kv {
	const char *key;   /* as a policy writes it: "sk:Country", "sk:Header/X-Team", "sk:Query/id" */
	const char *value;
};

/* The request as policies see it. Zero it, then fill what is known; unknown values are missing keys. */
struct sk_policy_ctx {
	struct sk_slice method; /* "GET": the action is "http:" + method */
	struct sk_slice host;   /* lower case, without port or trailing dot */
	struct sk_slice path;   /* normalised; the resource is host + path */
	struct sk_slice query;  /* raw query string without '?', for sk:Query/<name> */
	/* sk:Header/<name>: the first field of that name (case-insensitive), or false. */
	bool (*header)(const void *arg, struct sk_slice name, struct sk_slice *value);
	const void *header_arg;
	/* jwt:<claim>: the identity's claim of that name (exact), or false. NULL until JWT identities exist:
	 * every jwt: key is then missing. */
	bool (*claim)(const void *arg, struct sk_slice name, struct sk_slice *value);
	const void *claim_arg;
	int family;             /* AF_INET / AF_INET6 of the client, 0 = unknown (sk:SourceIp missing) */
	const uint8_t *addr;    /* 4 or 16 bytes */
	const char *country;    /* ISO code; NULL or "" = unknown */
	const char *username;   /* NULL = anonymous */
	const char *const *groups;
	size_t n_groups;
	const char *auth_method; /* "basic", "api_key", "session", "client_cert"; NULL = none */
	bool mfa;               /* sk:MultiFactorAuthPresent */
	bool secure;            /* sk:SecureTransport */
	int64_t now;            /* Unix seconds: sk:CurrentTime, sk:EpochTime */
	const struct sk_policy_kv *extra;
	size_t n_extra;
};

enum sk_policy_decision { SK_PD_IMPLICIT_DENY = 0, SK_PD_ALLOW, SK_PD_EXPLICIT_DENY };

struct sk_policy_result {
	enum sk_policy_decision decision;
	const struct sk_policy *policy; /* the deciding statement's document (NULL for an implicit deny) */
	const char *sid;                /* its Sid, or NULL (implicit deny, or a statement without Sid) */
	int statement;                  /* its index in the document, -1 = none */
};

/*
 * Parses a policy document. name is the policy's config name (kept for messages and traces); file names
 * the source in errors. Returns the compiled document (sk_policy_free), or NULL with err filled at
 * file:line:col: invalid JSON, an unknown element, Effect, operator, condition key or key prefix, a
 * Version other than 2012-10-17 or 2008-10-17, a malformed value (number, date, CIDR, Bool).
 */
struct sk_policy *sk_policy_parse(const char *name, const char *file, const char *buf, size_t len,
				  struct sk_err *err);
/* The same from a file (at most SK_POLICY_MAX_BYTES). */
struct sk_policy *sk_policy_load(const char *name, const char *path, struct sk_err *err);
void sk_policy_free(struct sk_policy *p);
const char *sk_policy_name(const struct sk_policy *p);
/* Whether the document reads sk:Country: callers look the country up only for documents that do. */
bool sk_policy_reads_country(const struct sk_policy *p);
size_t sk_policy_statements(const struct sk_policy *p);

/* Whether key names a condition key ("sk:Country", "sk:Header/X-Team", "jwt:sub"); NULL, or why not. */
const char *sk_policy_key_problem(const char *key);

/* Evaluates the documents that apply to one identity. Pure: no I/O, no allocation. */
void sk_policy_eval(const struct sk_policy *const *docs, size_t n, const struct sk_policy_ctx *ctx,
		    struct sk_policy_result *out);

/* "allow", "explicit_deny", "implicit_deny". */
const char *sk_policy_decision_name(enum sk_policy_decision d);

/*
 * For the simulator: calls emit once per statement of doc with a line saying whether it matched and
 * which element decided it (action, resource, each condition with the key's value). res is the result
 * of sk_policy_eval over the documents doc belongs to: its deciding statement is marked. Pure: the
 * caller decides where the lines go.
 */
void sk_policy_explain(const struct sk_policy *doc, const struct sk_policy_ctx *ctx,
		       const struct sk_policy_result *res, void (*emit)(void *arg, const char *line), void *arg);

#endif
