/*
 * config.h — the whole configuration schema of DESIGN §7 as plain typed structs.
 *
 * sk_config_load() turns a YAML file (libfyaml) into a struct sk_config, validating types, unknown keys,
 * dangling names (a behavior naming a missing origin, a listener naming a missing certificate...) and
 * duplicate aliases; every error is reported once through struct sk_err with file:line:col.
 * This module knows nothing about the modules that consume it: each builds its own runtime form.
 * A loaded config is immutable; everything in it is owned by the config and freed by sk_config_free().
 * Absent optional values hold the documented defaults after loading.
 */
#ifndef SK_CONFIG_H
#define SK_CONFIG_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/core.h"

/* Where a value was written, for errors found after loading (e.g. while building a runtime form). */
struct sk_pos {
	int line;
	int col;
};

/* A string list with the position of each item. */
struct sk_strlist {
	char **items;
	struct sk_pos *pos;
	size_t n;
};

/* "host:port" / "[v6]:port" / "*:port" resolved to a socket address (numeric only, no DNS). */
struct sk_addr {
	struct sockaddr_storage ss;
	socklen_t len;
	char text[64]; /* as written, for logs */
};

/* One header added toward an origin; ${NAME} already expanded from the environment. */
struct sk_kv {
	char *name;
	char *value;
};

/* A CIDR as parsed: family AF_INET or AF_INET6, address bytes in network order, prefix length. */
struct sk_cidr {
	int family;
	uint8_t addr[16];
	uint8_t prefix;
};

struct sk_cidrlist {
	struct sk_cidr *items;
	struct sk_pos *pos; /* per item: the line in the set file, or the YAML position */
	size_t n;
};

enum sk_listener_mode { SK_MODE_HTTP = 0, SK_MODE_TCP };
enum sk_acl_action { SK_ACL_ALLOW = 0, SK_ACL_DENY };

struct sk_acl_rule {
	uint32_t rule; /* rule number; evaluated in ascending order */
	struct sk_cidr cidr;
	enum sk_acl_action action;
};

struct sk_listener_tls {
	struct sk_strlist certificates; /* names in config->certificates; the first is the default */
	char *ciphers;                  /* NULL = built-in modern list */
	char *client_ca;                /* PEM file of CAs for client certificates, or NULL */
	struct sk_pos client_ca_pos;
	bool min_tls13;                 /* min_version: "1.3" (default "1.2") */
	bool present;
};

struct sk_listener {
	char *name;
	struct sk_pos pos;
	struct sk_addr listen;
	enum sk_listener_mode mode;
	char *origin;        /* tcp mode: origin name */
	uint64_t idle_timeout_ms; /* tcp mode tunnel idle; default 1h */
	struct sk_acl_rule *acl; /* sorted by rule number ascending */
	size_t n_acl;
	struct sk_listener_tls tls;
	bool underscores_forward;  /* underscores_in_headers: forward (default drop) */
	bool http2;                /* TLS listeners: ALPN offers h2 (default true; `http2: false`) */
	bool h2c;                  /* cleartext listeners: prior-knowledge HTTP/2 (default false; `h2c: true`) */
};

struct sk_origin_tls {
	bool present;
	char *ca;          /* PEM file; NULL = system trust store */
	struct sk_pos ca_pos;
	char *server_name; /* SNI and name to verify; NULL = origin host */
	bool verify;       /* default true */
};

struct sk_origin {
	char *name;
	struct sk_pos pos;
	struct sk_addr *servers; /* empty for a static origin */
	size_t n_servers;
	char *host;              /* Host sent when forward_host is false; default: first server's text */
	struct sk_kv *headers;   /* added toward this origin */
	size_t n_headers;
	char *root;              /* static origin directory (absolute, realpath'd at load), or NULL */
	struct sk_origin_tls tls;
	uint64_t connect_timeout_ms;  /* default 5s */
	uint64_t fail_timeout_ms;     /* default 10s: a failed server is skipped this long */
	uint64_t response_timeout_ms; /* default 60s: time to the response head */
	uint32_t max_idle;            /* idle keep-alive connections kept per server per worker; default 64 */
};

enum sk_fwd_mode { SK_FWD_ALL = 0, SK_FWD_NONE, SK_FWD_LIST };
enum sk_geo_unknown { SK_GEO_UNKNOWN_ALLOW = 0, SK_GEO_UNKNOWN_DENY };
enum sk_mfa { SK_MFA_OFF = 0, SK_MFA_REQUIRED };

/* access.policy (DESIGN §3 "Policies"): off, evaluate and enforce (true), or evaluate and only log (audit). */
enum sk_policy_mode { SK_POLICY_OFF = 0, SK_POLICY_ENFORCE, SK_POLICY_AUDIT };

/* Auth methods named in access.auth, in the order written. */
enum sk_auth_method { SK_AUTH_BASIC = 1, SK_AUTH_API_KEY, SK_AUTH_SESSION, SK_AUTH_CLIENT_CERT, SK_AUTH_JWT };

struct sk_access {
	bool present;              /* false = anonymous access */
	struct sk_strlist ip_allow; /* ip_set names */
	struct sk_strlist ip_deny;
	bool has_geo;
	struct sk_strlist geo_allow; /* ISO country codes, upper case */
	struct sk_strlist geo_deny;
	enum sk_geo_unknown geo_unknown;
	enum sk_auth_method *auth;
	size_t n_auth;
	char *realm;                /* default "sekisho" */
	struct sk_strlist groups;
	enum sk_mfa mfa;
	struct sk_pos mfa_pos; /* of the 'mfa' value, for errors found when the pipeline is built */
	enum sk_policy_mode policy;
};

struct sk_behavior {
	struct sk_pos pos;
	char *path;                 /* pattern; "*" default */
	char *origin;               /* origin name */
	bool forward_host;          /* default false */
	enum sk_fwd_mode forward_mode;
	struct sk_strlist forward_headers; /* when SK_FWD_LIST */
	uint64_t idle_timeout_ms;   /* upgraded tunnels; default 1h */
	bool forward_credentials;   /* keep the credentials sekisho consumed toward the origin; default false */
	bool websocket;             /* forward a WebSocket Upgrade; default true */
	bool allow_get_body;        /* a GET may carry a body; default false (HEAD never may) */
	struct sk_access access;
};

struct sk_distribution {
	char *name;
	struct sk_pos pos;
	struct sk_strlist aliases;   /* lower-cased, trailing dot removed */
	struct sk_strlist listeners; /* empty = every HTTP listener */
	struct sk_behavior *behaviors;
	size_t n_behaviors;
};

struct sk_ip_set {
	char *name;
	struct sk_pos pos;
	char *file;                /* NULL when inline */
	struct sk_cidrlist cidrs;  /* loaded (from the file when file != NULL) */
};

/* `policies: { name: FILE }`: a policy document (read by src/policy when the snapshot is built). */
struct sk_policy_file {
	char *name;
	struct sk_pos pos;
	char *file; /* absolute */
};

/* `groups: { name: { policies: [...] } }`: what a group carries besides its members (users and API keys
 * name their groups). Policy names are checked against `policies`. */
struct sk_group {
	char *name;
	struct sk_pos pos;
	struct sk_strlist policies;
};

struct sk_certificate {
	char *name;
	struct sk_pos pos;
	char *cert;
	char *key;
	char *chain; /* or NULL */
	struct sk_pos cert_pos, key_pos, chain_pos; /* of the values, for errors found when they are read */
};

/* A claim copied into a header toward the origin (`headers: { claim: X-Header }`). */
struct sk_jwt_claim_header {
	char *claim;
	char *header;
};

/* One trusted token issuer (DESIGN §3 JWT). */
struct sk_jwt_issuer {
	struct sk_pos pos;
	char *issuer;                 /* the exact `iss` */
	struct sk_strlist audiences;  /* at least one; `aud` must name one */
	char *jwks;                   /* key file (absolute), or NULL */
	char *jwks_url;               /* or a URL fetched at run time */
	struct sk_pos jwks_pos;       /* of whichever of the two is set */
	char *ca;                     /* CA file for an https jwks_url, or NULL (system store) */
	struct sk_strlist algorithms; /* names; default every public-key algorithm */
	uint64_t leeway_ms;           /* default 60s */
	uint64_t max_lifetime_ms;     /* default 24h */
	char *user_claim;             /* default "sub" */
	char *groups_claim;           /* or NULL */
	struct sk_jwt_claim_header *claim_headers;
	size_t n_claim_headers;
	bool forward_token;           /* default false: the token is removed before the origin */
	struct sk_strlist policies;
};

/* One `allow:` entry of an egress listener (DESIGN §5a): a host name, lower-cased with any trailing dot
 * removed, either exact or "*.domain" (the domain and every name under it), and the ports it may be reached
 * on (443 when none is written). IP literals are not entries: they go in allow_ips. */
struct sk_egress_allow {
	char *host;      /* "api.example.com" or "*.debian.org" */
	uint16_t *ports; /* at least one, ascending, no duplicates */
	size_t n_ports;
	struct sk_pos pos;
};

/* An `egress:` entry: a forward-proxy listener (DESIGN §5a). */
struct sk_egress {
	char *name;
	struct sk_pos pos;
	struct sk_addr listen;
	struct sk_egress_allow *allow;
	size_t n_allow;
	struct sk_cidrlist allow_ips; /* addresses reachable despite the special-purpose ranges; no ports */
	struct sk_access access;      /* ip, geo, auth [basic] (from Proxy-Authorization), realm, groups */
	struct sk_addr *dns_servers;  /* numeric "ip[:port]" (53 when none is written); none = resolv.conf */
	size_t n_dns_servers;
	uint64_t dns_timeout_ms;      /* bounds a whole lookup; default 5s */
	uint64_t idle_timeout_ms;     /* CONNECT tunnels; default 1h */
};

struct sk_config {
	char *path; /* the file loaded */
	char *source;      /* the YAML text it was read from (sk_config_reread) */
	size_t source_len;
	unsigned workers; /* resolved: "auto" = CPU count */

	struct {
		char *path;       /* state.path, default "./var" */
		char *redis;      /* state.redis URL, or NULL */
		struct sk_pos path_pos; /* line 0 when not written */
		uint64_t max_size; /* state.max_size: the LMDB map in bytes, default 1 GiB */
	} state;
	struct {
		bool present;
		struct sk_addr listen;
		struct sk_pos pos; /* of admin.listen, for errors found when binding */
		struct sk_access access; /* like a behavior's; no session or mfa */
	} admin;
	struct {
		char *path; /* "-" = stdout (default); NULL = off ("off") */
	} access_log;
	struct {
		char *path; /* NULL = off */
		uint64_t interval_ms; /* default 600s */
		char *account_id;     /* default "000000000000" */
	} flow_log;
	struct sk_cidrlist trusted_proxies;
	struct {
		char *database; /* or NULL */
		struct sk_pos database_pos;
	} geoip;
	struct {
		char *file;
		char *htpasswd;
		uint64_t password_max_age_ms; /* 0 = never */
		struct sk_pos pos; /* of the 'file' or 'htpasswd' value */
	} users;
	struct {
		char *file;
		struct sk_pos file_pos;
	} api_keys;
	struct {
		struct sk_jwt_issuer *issuers; /* `jwt: { issuers: [...] }`; none when absent */
		size_t n_issuers;
	} jwt;
	struct {
		char *issuer; /* default "sekisho" */
		unsigned skew; /* default 1 */
		char *key_file;
		struct sk_pos key_file_pos;
	} totp;
	struct {
		char *key_file;
		struct sk_pos key_file_pos;
		uint64_t idle_ms;     /* default 30m */
		uint64_t absolute_ms; /* default 12h */
	} session;
	struct {
		bool present;
		unsigned deny;
		uint64_t unlock_time_ms; /* 0 = operator only */
	} lockout;
	struct {
		bool present;
		unsigned max_retry;
		uint64_t find_time_ms;
		uint64_t ban_time_ms;
	} ban;

	/* HTTP limits and timeouts (DESIGN §2); keys `limits:` and `timeouts:` at the top level. Each limit
	 * is at most what the buffers hold (SK_LIMIT_MAX_*): a larger one is a load error. */
	struct {
		uint32_t request_line;  /* default 8192 (414 beyond) */
		uint32_t header_block;  /* default 16384 (431 beyond) */
		uint32_t header_fields; /* default 100 (431 beyond) */
		uint32_t max_connections; /* per worker; 0 (default) = auto: 20000, or what the open-file limit holds */
		struct {                  /* `limits.h2` (DESIGN §2 "HTTP/2") */
			uint32_t max_concurrent_streams;      /* default 100: REFUSED_STREAM beyond */
			uint32_t max_header_list;             /* default 16 KiB, as RFC 9113 counts it: 431 beyond */
			uint32_t max_requests_per_connection; /* default 1000: then a graceful GOAWAY */
		} h2;
	} limits;
	struct {
		uint64_t header_read_ms; /* default 10s (408) */
		uint64_t keepalive_ms;   /* default 60s */
		uint64_t send_ms;        /* default 60s: a write that makes no progress */
	} timeouts;

	struct sk_policy_file *policies;
	size_t n_policies;
	struct sk_group *groups;
	size_t n_groups;

	struct sk_certificate *certificates;
	size_t n_certificates;
	struct sk_ip_set *ip_sets;
	size_t n_ip_sets;
	struct sk_listener *listeners;
	size_t n_listeners;
	struct sk_origin *origins;
	size_t n_origins;
	struct sk_distribution *distributions;
	size_t n_distributions;
	struct sk_egress *egress;
	size_t n_egress;
};

/* The largest limits the connection buffers hold (src/proxy/proxy.h's sizes: runtime.c asserts that they
 * agree). The config module owns the numbers so that check-config refuses what run could not honour. */
#define SK_LIMIT_MAX_REQUEST_LINE 16384
#define SK_LIMIT_MAX_HEADER_BLOCK (32 * 1024 - 1024)
#define SK_LIMIT_MAX_HEADER_FIELDS 128
/* An HTTP/2 stream keeps its decoded fields in one buffer, cookies joined into a second copy. */
#define SK_LIMIT_MAX_H2_HEADER_LIST 16384

/* Loads and validates path. Returns a config or NULL with err filled (file:line:col: message). */
struct sk_config *sk_config_load(const char *path, struct sk_err *err);
void sk_config_free(struct sk_config *cfg);
/*
 * Reads cfg's own YAML text again, as it was when cfg was loaded: the files it names (users, keys, set
 * files...) are read afresh, while edits made to the config file since then wait for SIGHUP. Used when a
 * users or API-key file changes under a running server. Returns a new config, or NULL with err filled.
 */
struct sk_config *sk_config_reread(const struct sk_config *cfg, struct sk_err *err);
/*
 * What a config must hold to be served (run, reload, check-config), beyond what the CLI tools that only
 * read its paths need: something to serve, i.e. at least one listener or egress entry (DESIGN §5a: a
 * config with only `egress:` is valid). Returns 0, or -1 with err at line 1.
 */
int sk_config_check_serves(const struct sk_config *cfg, struct sk_err *err);

/* Lookups by name; NULL when absent. */
const struct sk_origin *sk_config_origin(const struct sk_config *cfg, const char *name);
const struct sk_ip_set *sk_config_ip_set(const struct sk_config *cfg, const char *name);
const struct sk_certificate *sk_config_certificate(const struct sk_config *cfg, const char *name);
const struct sk_policy_file *sk_config_policy(const struct sk_config *cfg, const char *name);
const struct sk_group *sk_config_group(const struct sk_config *cfg, const char *name);

/* Parses "a.b.c.d/n", "v6/n", or a bare address (full-length prefix). Returns 0 or -1. */
int sk_cidr_parse(const char *s, struct sk_cidr *out);
/* Parses "host:port", "[v6]:port", "*:port" or ":port" (numeric addresses only). Returns 0 or -1. */
int sk_addr_parse(const char *s, struct sk_addr *out);
/*
 * An origin server: a numeric address as sk_addr_parse reads it, or "name:port" resolved now with
 * getaddrinfo (this blocks: call it while loading, never on a worker). Every address found is appended to
 * *out (grown with sk_realloc; *n counts them), duplicates left out, each with its numeric form as text.
 * Returns how many were added (>= 1), or -1: not an address (*why NULL) or a name that did not resolve
 * (*why says why).
 */
int sk_addr_resolve(const char *s, struct sk_addr **out, size_t *n, const char **why);

#endif
