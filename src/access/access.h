/*
 * access.h — the access pipeline of DESIGN §3. Each behavior's `access` block compiles into an ordered
 * array of check stages, once per runtime snapshot. A stage returns NEXT, ALLOW, DENY (with a reason
 * from core/tbl/reasons.h) or AGAIN (waiting on the blocking pool; the request resumes at that stage).
 * Checks are plug-ins: struct sk_check_ops in the registry (registry.c), one check_<name>.c each.
 * Compiled pipelines are immutable and shared by all workers; per-request data lives in sk_access_req:
 * its inputs, the outputs later layers read, and one fixed workspace from which each stage of the
 * pipeline gets its own slice of scratch state (ops.scratch_size; see docs/internals/access.md).
 */
#ifndef SK_ACCESS_H
#define SK_ACCESS_H

#include <stdint.h>

#include "config/config.h"
#include "core/core.h"
#include "core/reason.h"
#include "http/msg.h"

enum sk_verdict { SK_V_NEXT = 0, SK_V_ALLOW, SK_V_DENY, SK_V_AGAIN };

struct sk_ipset;
struct sk_geo;
struct sk_users;
struct sk_user;
struct sk_apikeys;
struct sk_apikey;
struct sk_verifier;
struct sk_waiter;
struct sk_loop;
struct sk_store;
struct sk_guard_job;
struct sk_jwt_env;
struct sk_policy;

/* The policy documents attached to one identity (its own, then its groups'), without repeats. */
struct sk_policy_set {
	const struct sk_policy **docs;
	size_t n;
	bool country; /* one of them reads sk:Country: look the client's country up */
};

/* Resources shared by the checks of one snapshot. */
struct sk_access_env {
	const struct sk_config *cfg;
	uint64_t generation;       /* of the snapshot: verified-credential cache entries are per generation */
	struct sk_ipset **ip_sets; /* parallel to cfg->ip_sets */
	struct sk_geo *geo;        /* NULL when no geoip.database */
	struct sk_users *users;    /* NULL when no users file */
	struct sk_apikeys *apikeys; /* NULL when no API-key file */
	struct sk_jwt_env *jwt;    /* NULL when no jwt issuers */
	struct sk_store *store;    /* the process's state store (not owned), or NULL when nothing needs one */
	bool totp_ready;           /* totp_key holds totp.key_file's key */
	uint8_t totp_key[32];
	bool session_ready;        /* session_key holds session.key_file's key */
	uint8_t session_key[32];
	bool check_only;           /* built by check-config (sk_access_env_check): never serves, has no store */
	struct sk_policy **policies;         /* parallel to cfg->policies */
	struct sk_policy_set *user_policies; /* parallel to the users store; NULL when no policy is configured */
	struct sk_policy_set *key_policies;  /* parallel to the API-key store; NULL likewise */
	struct sk_policy_set *jwt_policies;  /* parallel to cfg->jwt.issuers: each issuer's own */
};

/* True when cfg uses anything kept in the state store: lockout, bans, a second factor, sessions. */
bool sk_access_needs_state(const struct sk_config *cfg);
/* With a local store (LMDB), state.path must be a directory or one that can be made: its parent exists.
 * Returns 0, or -1 with err at state.path. Called before the store is opened, and by check-config. */
int sk_access_check_state_path(const struct sk_config *cfg, struct sk_err *err);
/* The store for the snapshots to come (set by the server before building one). */
void sk_access_set_store(struct sk_store *st);

/* Loads what the checks need from cfg (IP sets, country database, users, API keys); the runtime
 * snapshot owns the result. Returns 0, or -1 with err filled. */
int sk_access_env_init(struct sk_access_env *env, const struct sk_config *cfg, uint64_t generation,
		       struct sk_err *err);
/* The same loads and checks for `check-config`: nothing is created (the session key, state.path) and no
 * store is set; what run would fail to create is refused here with the same message. */
int sk_access_env_check(struct sk_access_env *env, const struct sk_config *cfg, struct sk_err *err);
void sk_access_env_fini(struct sk_access_env *env);

/* A verified token's identity (auth method jwt), filled by jwtauth.c. */
struct sk_jwt_ident {
	const void *issuer;    /* the snapshot's issuer (jwtauth.c) */
	unsigned issuer_index; /* into cfg->jwt.issuers */
	uint64_t serial;       /* which decoding of this thread's scratch token it came from (claims) */
	const char *token;     /* the token itself, valid through the access pipeline's run (claims) */
	size_t token_len;
	char user[129];        /* the issuer's user_claim */
	char groups[512];      /* from groups_claim, comma-separated as in X-Auth-Groups */
	char headers[1024];    /* "Name: value\r\n" lines from the issuer's claim headers */
	uint16_t headers_len;
};

/* The viewer's TLS client certificate, as the listener judged it (listeners with tls.client_ca). */
enum sk_client_cert { SK_CC_NONE = 0, SK_CC_UNTRUSTED, SK_CC_VERIFIED };

/*
 * Credential fields the auth stage consumed, set by the method that succeeded: the origin request leaves
 * them out unless the behavior sets forward_credentials (DESIGN §1). A new method (JWT) sets its own.
 */
enum {
	SK_CONSUMED_AUTHORIZATION = 1 << 0, /* the Authorization field (Basic, or Bearer carrying an API key) */
	SK_CONSUMED_API_KEY = 1 << 1,       /* X-Api-Key */
	SK_CONSUMED_OTP = 1 << 2,           /* X-OTP */
	SK_CONSUMED_SESSION = 1 << 3,       /* the session cookie's pairs in Cookie fields */
};

/*
 * The workspace a request carries for its stages' scratch. The pipeline compile step lays the stages'
 * slices side by side (each SK_ACCESS_SCRATCH_ALIGN-aligned, never overlapping, so a later stage cannot
 * clobber what an earlier one left, such as the session id req->session_id points at) and refuses a
 * pipeline whose sum would exceed the cap; each check also asserts at build time that its own scratch fits.
 */
#define SK_ACCESS_SCRATCH_MAX 224 /* today: the auth stage's 216 (struct sk_login); raise it with a new stage's */
#define SK_ACCESS_SCRATCH_ALIGN 16

/*
 * One request as the checks see it. Zero it up to the workspace (sk_access_req_clear, or a compound
 * literal, which zeroes it all), then fill the inputs. The workspace itself needs no clearing: a stage's
 * slice is zeroed when that stage first runs for the request (scratch_ready).
 */
struct sk_access_req {
	/* inputs */
	int family;          /* of the client address (trusted, DESIGN §1) */
	const uint8_t *addr; /* 4 or 16 bytes */
	const struct sk_http_request *hreq;
	struct sk_verifier *verifier; /* the worker's (verify.c) */
	/* Called on the loop thread when a stage that answered AGAIN can run again. */
	void (*resume)(struct sk_access_req *req);
	struct sk_jwt_ident *jwt_buf; /* where a verified token's identity goes (kept out of this struct, which is
				       * zeroed per request, so it costs nothing unless a token is used); NULL
				       * = tokens cannot be taken */
	uint8_t client_cert;         /* enum sk_client_cert */
	const char *client_cert_ids; /* VERIFIED: identities (subject CN, then SAN e-mails), each NUL-terminated,
				      * ended by an empty one */
	struct sk_slice host;        /* the viewer's Host (as sent), the normalised path and the raw query: */
	struct sk_slice path;        /* what policies see of the request (sk_policy_ctx) */
	struct sk_slice query;
	bool secure;                 /* the viewer's connection is TLS (sk:SecureTransport) */
	/* outputs */
	enum sk_reason reason; /* set by a stage that denies */
	char country[3];       /* filled by the geo stage; "" = unknown */
	const struct sk_user *user;     /* authenticated user, or NULL */
	const struct sk_apikey *apikey; /* authenticated API key, or NULL */
	const struct sk_jwt_ident *jwt; /* verified token (== jwt_buf), or NULL */
	const char *method;             /* "basic" | "api_key" | "session" | "client_cert", or NULL */
	bool mfa;                       /* a second factor was verified for this request or its session */
	const char *session_id;         /* the valid session cookie's id (64 hex), or NULL; points into the
					 * auth stage's scratch */
	uint8_t consumed;               /* SK_CONSUMED_*: the credential fields the auth stage read */
	/* the policy stage's outcome, for the access log */
	uint8_t policy;           /* enum sk_access_policy_log */
	uint16_t scratch_ready;   /* bit i: stage i's scratch is zeroed and in use for this request */
	const char *policy_sid;   /* the deciding statement's Sid (belongs to the snapshot), or NULL */
	/* The one pool job the request waits on (a request waits on at most one): closing its connection
	 * detaches it (sk_access_req_cancel) and its deadline names the wait (timeout_reason). */
	struct sk_waiter *waiter;  /* a verification (verify.c) */
	struct sk_guard_job *gjob; /* a state-store job (guardjob.c) */
	/* the stages' scratch: each stage's slice, at the offset its pipeline gave it */
	_Alignas(SK_ACCESS_SCRATCH_ALIGN) unsigned char scratch[SK_ACCESS_SCRATCH_MAX];
};

/* Zeroes req's inputs and outputs, not its workspace (the per-request cost of a keep-alive request). */
void sk_access_req_clear(struct sk_access_req *req);

/* What the access log says of policies for one request. */
enum sk_access_policy_log { SK_APOL_NONE = 0, SK_APOL_ALLOW, SK_APOL_DENY, SK_APOL_WOULD_DENY };
/* "allow", "deny", "would_deny", or NULL when no policy was evaluated. */
const char *sk_access_policy_label(uint8_t policy);

/* Detaches a request that is waiting on a verification (its connection is closing). */
void sk_access_req_cancel(struct sk_access_req *req);
/* Why a request still waiting when its deadline passes is refused: too_many_attempts while it waits on
 * the hashing queue, state_unavailable while it waits on the state store (issue 10 item 4). */
enum sk_reason sk_access_req_timeout_reason(const struct sk_access_req *req);
/* The authenticated name and groups for identity headers and logs. groups: comma-separated. */
const char *sk_access_identity(const struct sk_access_req *req, char *groups, size_t cap);

struct sk_check_ops {
	const char *name;
	/* Builds the stage's state from the access block. Sets *state to NULL when the block does not
	 * use this check (the stage is left out). Returns 0, or -1 with err filled. */
	int (*compile)(const struct sk_access *a, const struct sk_access_env *env, void **state,
		       struct sk_err *err);
	/* scratch: the stage's own slice of req's workspace (scratch_size bytes, zeroed when the stage first
	 * runs for req, kept as it was left when the stage runs again after AGAIN); NULL when scratch_size is 0. */
	enum sk_verdict (*run)(const void *state, const struct sk_access_env *env, struct sk_access_req *req,
			       void *scratch);
	void (*free)(void *state);
	size_t scratch_size; /* per-request state of the stage (<= SK_ACCESS_SCRATCH_MAX, asserted in its file) */
};

/* registry.c: every check, in pipeline order (cheap network checks first). */
extern const struct sk_check_ops *const sk_checks[];
extern const size_t sk_n_checks;

struct sk_pipeline;

/* Compiles an access block; a block with no checks gives an empty pipeline (anonymous access).
 * pos_file/pos are used in errors. Returns NULL with err filled. */
struct sk_pipeline *sk_pipeline_compile(const struct sk_access *a, const struct sk_access_env *env,
					struct sk_err *err);
/* The same with the given checks instead of the registry's (n at most 16): a test's stages. */
struct sk_pipeline *sk_pipeline_compile_checks(const struct sk_check_ops *const *checks, size_t n,
					       const struct sk_access *a, const struct sk_access_env *env,
					       struct sk_err *err);
void sk_pipeline_free(struct sk_pipeline *p);
/* True when the pipeline has no stage: requests pass without any check. */
bool sk_pipeline_empty(const struct sk_pipeline *p);

/*
 * Runs the stages from *stage on. Returns SK_V_ALLOW when every stage said NEXT or one said ALLOW,
 * SK_V_DENY with req->reason set, or SK_V_AGAIN with *stage at the stage to resume.
 */
enum sk_verdict sk_pipeline_run(const struct sk_pipeline *p, const struct sk_access_env *env,
				struct sk_access_req *req, unsigned *stage);

#endif
